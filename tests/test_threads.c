/*
 * test_threads.c — several loops on several threads at once, talking to
 * each other only by the thread-safe paths: call_soon_threadsafe, a
 * thread pool shared by every loop, and DNS (getaddrinfo on the pools)
 * from every loop at the same time.
 *
 * These are the suites `make test-tsan` exists for: each test passes on
 * its own assertions, and under ThreadSanitizer it also proves that every
 * hand-over between threads is ordered (a missing lock or fence in the
 * loop, the pool or the resolver is a TSan report and a failed run).
 *
 * Each thread makes its own loop before a start gate opens, so every loop
 * exists before anyone posts to it. Every wait has a deadline on the
 * clock: a lost wakeup fails the test instead of hanging it.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "os/thread.h"
#include "util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define NLOOPS 4

/* ---------- a start gate: every thread waits until all are ready ---------- */

typedef struct gate {
    corio_os_mutex *m;
    corio_os_cond *c;
    int arrived, parties;
} gate;

static void gate_init(gate *g, int parties)
{
    g->m = corio__os_mutex_new();
    g->c = corio__os_cond_new();
    g->arrived = 0;
    g->parties = parties;
    cr_assert(g->m && g->c);
}

static void gate_pass(gate *g)
{
    corio__os_mutex_lock(g->m);
    if (++g->arrived == g->parties) corio__os_cond_broadcast(g->c);
    while (g->arrived < g->parties) corio__os_cond_wait(g->c, g->m);
    corio__os_mutex_unlock(g->m);
}

static void gate_free(gate *g)
{
    corio__os_mutex_free(g->m);
    corio__os_cond_free(g->c);
}

/* ---------- a ring of loops passing tokens with call_soon_threadsafe ---------- */

/*
 * NTOKENS tokens travel round a ring of NLOOPS loops, HOPS hops each. A
 * hop: the loop holding the token posts arrive() to the next loop with
 * call_soon_threadsafe; arrive() (on that loop's thread) puts the token
 * in the loop's inbox queue; one of the loop's WORKERS tasks takes it,
 * writes into it (plain memory, no lock: the post is what orders it) and
 * posts it on. The token that finishes last tells every loop to stop
 * (again by call_soon_threadsafe), which shuts its inbox down.
 */
#define NTOKENS 8
#define HOPS 300
#define WORKERS 3

typedef struct ring ring;

typedef struct node node;

typedef struct token {
    node *dest;               /* where it is being posted */
    int hops;
    int at;                   /* the node it was last handled by */
    long path;                /* sum of the nodes it went through */
    int out_of_order;         /* a hop that skipped a node */
} token;

struct node {
    ring *r;
    int idx;
    corio_loop *loop;
    corio_queue inbox;
    long handled;             /* this loop's thread only */
    tally t;
};

struct ring {
    node nodes[NLOOPS];
    token tokens[NTOKENS];
    gate start;
    atomic_int finished;      /* tokens that made all their hops */
};

static void stop_node(void *arg)
{
    node *n = arg;
    corio_queue_shutdown(&n->inbox, false);
}

static void post_or_note(node *from, corio_loop *to, corio_callback cb,
                         void *arg)
{
    int rc = corio_call_soon_threadsafe(to, cb, arg);
    NOTE(&from->t, rc == 0, "call_soon_threadsafe: %s", corio_strerror(rc));
}

/* On the destination loop's thread: into its inbox. */
static void arrive(void *arg)
{
    token *k = arg;
    node *n = k->dest;
    int rc = corio_queue_put_nowait(&n->inbox, k);
    NOTE(&n->t, rc == 0, "inbox put: %s", corio_strerror(rc));
}

static void *ring_worker(void *arg)
{
    node *n = arg;
    ring *r = n->r;
    for (;;) {
        void *item;
        int rc = corio_queue_get_until(&n->inbox, &item,
                                       corio_deadline_in(CORIO_SEC(60)));
        if (rc == CORIO_ESHUTDOWN) return NULL;
        NOTE(&n->t, rc == 0, "inbox get: %s", corio_strerror(rc));
        if (rc != 0) return NULL;
        token *k = item;
        if (k->at != (n->idx + NLOOPS - 1) % NLOOPS) k->out_of_order++;
        k->at = n->idx;
        k->path += n->idx;
        n->handled++;
        if (++k->hops == HOPS) {
            if (atomic_fetch_add(&r->finished, 1) + 1 == NTOKENS)
                for (int i = 0; i < NLOOPS; i++)
                    post_or_note(n, r->nodes[i].loop, stop_node, &r->nodes[i]);
            continue;
        }
        /* Let the others of this loop run between hops. */
        corio_yield();
        k->dest = &r->nodes[(n->idx + 1) % NLOOPS];
        post_or_note(n, k->dest->loop, arrive, k);
    }
}

static void *ring_main(void *arg)
{
    node *n = arg;
    corio_task *w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = corio_spawn(ring_worker, n, NULL);
        NOTE(&n->t, w[i] != NULL, "spawn");
    }
    /* Node 0 sends the tokens off, each as if it came from the last node. */
    if (n->idx == 0)
        for (int i = 0; i < NTOKENS; i++) {
            token *k = &n->r->tokens[i];
            k->at = NLOOPS - 1;
            k->dest = n;
            post_or_note(n, n->loop, arrive, k);
        }
    for (int i = 0; i < WORKERS; i++)
        if (w[i]) corio_join(w[i], NULL);
    return NULL;
}

static void ring_thread(void *arg)
{
    node *n = arg;
    corio_loop *l = corio_loop_new(NULL);
    n->loop = l;
    NOTE(&n->t, l != NULL, "loop_new");
    cr_assert_eq(corio_queue_init(&n->inbox, CORIO_QUEUE_FIFO, 0), 0);
    gate_pass(&n->r->start); /* every loop and inbox exists from here on */
    if (!l) return;
    corio_task *m = corio_loop_spawn(l, ring_main, n, NULL);
    NOTE(&n->t, m != NULL, "spawn main");
    if (m) corio_loop_run_until_complete(l, m, NULL);
    corio_loop_run(l);
    NOTE(&n->t, corio_loop_close(l) == 0, "loop close reported tasks");
    corio_queue_destroy(&n->inbox);
}

Test(threads, loops_on_four_threads_pass_tokens_with_call_soon_threadsafe,
     .timeout = 120)
{
    ring *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    gate_init(&r->start, NLOOPS);
    corio_os_thread *th[NLOOPS];
    for (int i = 0; i < NLOOPS; i++) {
        r->nodes[i].r = r;
        r->nodes[i].idx = i;
    }
    for (int i = 0; i < NLOOPS; i++) {
        th[i] = corio__os_thread_start(ring_thread, &r->nodes[i]);
        cr_assert_not_null(th[i]);
    }
    for (int i = 0; i < NLOOPS; i++) corio__os_thread_join(th[i]);

    long handled = 0;
    for (int i = 0; i < NLOOPS; i++) {
        ASSERT_TALLY_CLEAN(r->nodes[i].t);
        handled += r->nodes[i].handled;
        /* Every node saw its share: the ring really went round. */
        cr_assert_eq(r->nodes[i].handled, (long)NTOKENS * HOPS / NLOOPS,
                     "node %d handled %ld", i, r->nodes[i].handled);
    }
    cr_assert_eq(handled, (long)NTOKENS * HOPS);
    cr_assert_eq(atomic_load(&r->finished), NTOKENS);
    for (int i = 0; i < NTOKENS; i++) {
        token *k = &r->tokens[i];
        cr_assert_eq(k->hops, HOPS);
        cr_assert_eq(k->out_of_order, 0, "token %d skipped a node", i);
        /* HOPS / NLOOPS full rounds of 0 + 1 + ... + NLOOPS-1. */
        cr_assert_eq(k->path, (long)HOPS / NLOOPS * (NLOOPS * (NLOOPS - 1) / 2));
    }
    gate_free(&r->start);
    free(r);
}

/* ---------- one pool, several loops; DNS from several loops ---------- */

/*
 * Every loop's tasks call into ONE shared pool at the same time, half of
 * them with a deadline so short that some calls are abandoned while they
 * run (their results then go to the discard callback, on whichever
 * thread ends up holding them). What must hold once all loops are closed
 * and the pool is freed: every call that ran was either taken by its
 * caller or discarded, none both, none lost; and a call taken returned
 * its own argument's answer. The same loops resolve names at the same
 * time (net/dns.c: getaddrinfo on each loop's default pool).
 */
#define CALLERS 6
#define CALLS 20

typedef struct shared {
    corio_pool *pool;
    gate start;
    atomic_long ran, taken, discarded;
} shared;

typedef struct station {
    shared *s;
    int idx;
    int resolved;
    int used;                 /* slots of vals handed out */
    long vals[CALLERS * CALLS][2]; /* each call's argument and answer */
    tally t;
} station;

static void *plus_one(void *arg)
{
    long *v = arg;
    shared *s = (shared *)(intptr_t)v[1];
    atomic_fetch_add(&s->ran, 1);
    v[0]++;
    return v;
}

static _Atomic(shared *) discard_to;

static void count_discard(void *result)
{
    (void)result;
    atomic_fetch_add(&atomic_load(&discard_to)->discarded, 1);
}

static void *caller(void *arg)
{
    station *st = arg;
    shared *s = st->s;
    for (int i = 0; i < CALLS; i++) {
        /* In the station, which outlives the pool: an abandoned call
         * still writes into it. */
        long *v = st->vals[st->used++];
        v[0] = i;
        v[1] = (long)(intptr_t)s;
        int64_t dl = (i & 1) ? corio_deadline_in(CORIO_US(20 + i))
                             : corio_deadline_in(CORIO_SEC(60));
        void *got = NULL;
        int rc = corio_run_in_executor_until(s->pool, plus_one, v, &got,
                                             count_discard, dl);
        if (rc == 0) {
            atomic_fetch_add(&s->taken, 1);
            NOTE(&st->t, got == v && v[0] == i + 1, "wrong result");
        } else {
            NOTE(&st->t, rc == CORIO_ETIMEDOUT && (i & 1),
                 "call %d: %s", i, corio_strerror(rc));
        }
    }
    return NULL;
}

static void *resolver(void *arg)
{
    station *st = arg;
    for (int i = 0; i < 4; i++) {
        corio_addr a[8];
        int n = corio_resolve_until(i & 1 ? "localhost" : "127.0.0.1",
                                    1000 + st->idx, 0, a, 8,
                                    corio_deadline_in(CORIO_SEC(30)));
        NOTE(&st->t, n > 0, "resolve: %s", corio_strerror(n));
        if (n > 0) {
            NOTE(&st->t, corio_addr_port(&a[0]) == 1000 + st->idx, "port");
            st->resolved++;
        }
    }
    return NULL;
}

static void *station_main(void *arg)
{
    station *st = arg;
    corio_task *t[CALLERS + 2];
    int n = 0;
    for (int i = 0; i < CALLERS; i++) t[n++] = corio_spawn(caller, st, NULL);
    for (int i = 0; i < 2; i++) t[n++] = corio_spawn(resolver, st, NULL);
    for (int i = 0; i < n; i++) {
        NOTE(&st->t, t[i] != NULL, "spawn");
        if (t[i]) corio_join(t[i], NULL);
    }
    return NULL;
}

static void station_thread(void *arg)
{
    station *st = arg;
    gate_pass(&st->s->start); /* all loops start calling together */
    int reported = 0;
    corio_config cfg = { .report = corio_test_count_report, .report_ctx = &reported };
    corio_loop *l = corio_loop_new(&cfg);
    NOTE(&st->t, l != NULL, "loop_new");
    if (!l) return;
    corio_task *m = corio_loop_spawn(l, station_main, st, NULL);
    if (m) corio_loop_run_until_complete(l, m, NULL);
    corio_loop_run(l);
    NOTE(&st->t, corio_loop_close(l) == 0 && reported == 0, "loop close reported");
}

Test(threads, one_pool_and_dns_serve_four_loops_at_once, .timeout = 120)
{
    shared *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    s->pool = corio_pool_new(3);
    cr_assert_not_null(s->pool);
    atomic_store(&discard_to, s);
    gate_init(&s->start, NLOOPS);
    station *st = calloc(NLOOPS, sizeof *st);
    cr_assert_not_null(st);
    corio_os_thread *th[NLOOPS];
    for (int i = 0; i < NLOOPS; i++) {
        st[i].s = s;
        st[i].idx = i;
        th[i] = corio__os_thread_start(station_thread, &st[i]);
        cr_assert_not_null(th[i]);
    }
    for (int i = 0; i < NLOOPS; i++) corio__os_thread_join(th[i]);
    corio_pool_free(s->pool); /* runs or discards what is left */
    for (int i = 0; i < NLOOPS; i++) {
        ASSERT_TALLY_CLEAN(st[i].t);
        cr_assert_eq(st[i].resolved, 8);
    }
    long ran = atomic_load(&s->ran), taken = atomic_load(&s->taken),
         discarded = atomic_load(&s->discarded);
    cr_log_info("%ld calls ran: %ld taken, %ld discarded", ran, taken, discarded);
    /* Every even call (no deadline to speak of) was taken. */
    cr_assert_geq(taken, (long)NLOOPS * CALLERS * CALLS / 2);
    cr_assert_eq(ran, taken + discarded, "ran %ld, taken %ld, discarded %ld",
                 ran, taken, discarded);
    gate_free(&s->start);
    free(st);
    free(s);
}
