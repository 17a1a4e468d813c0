/*
 * bench_sync.c — sync/ against pthreads, measured in the same run.
 *
 * Prints name=value lines:
 *   lock_handoff_ns / pthread_lock_handoff_ns
 *       two tasks (threads) strictly alternating on one lock, so that every
 *       release hands the lock to the other, which was waiting. The pthread
 *       twin takes turns with a mutex, a condition variable and a turn flag.
 *   queue_items_per_s / queue4x4_items_per_s / pthread_queue_items_per_s /
 *   pthread_queue4x4_items_per_s
 *       items through a bounded queue of 64: one producer and one consumer,
 *       then four of each. The pthread twin is a mutex + two condvars ring.
 *   event_broadcast_ns_per_waiter / pthread_event_broadcast_ns_per_waiter
 *       from set() (broadcast) until the last of 10,000 waiters has run.
 *   *_speedup lines: how many times faster corio is.
 *
 * Every measurement is bounded both in count and in time (TIME_LIMIT_NS),
 * and reports what it actually did. A benchmark never fails on a target.
 *
 * Each figure is the best of ROUNDS rounds, and the rounds are interleaved
 * (one of every measurement, then the next round), so that corio and its
 * pthread twin sample the shared host's quiet and busy seconds alike. The
 * pthread figures are best-of too: the baseline gets its best moment.
 */
#include "corio.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIME_LIMIT_NS CORIO_SEC(2)   /* per measurement */
#define CHECK_EVERY 1024             /* look at the clock this often */
#define ROUNDS 3

static int64_t now_ns(void) { return corio_now(); }

/* Spawn or die: a benchmark that cannot start has nothing to say. */
static corio_task *must_spawn(corio_fn fn, void *arg, size_t stack)
{
    corio_task_opts opts = { .name = NULL, .stack_size = stack };
    corio_task *t = corio_spawn(fn, arg, &opts);
    if (!t) {
        fprintf(stderr, "bench_sync: spawn failed\n");
        exit(1);
    }
    return t;
}

static void must_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
    if (pthread_create(th, NULL, fn, arg) != 0) {
        fprintf(stderr, "bench_sync: pthread_create failed\n");
        exit(1);
    }
}

/* ------------------------------------------------------------------ */
/* Lock hand-off                                                      */
/* ------------------------------------------------------------------ */

#define HANDOFF_ROUNDS 5000000L

typedef struct handoff {
    corio_lock lock;
    long handoffs;
    int64_t deadline;
    int stop;
} handoff;

/* Both tasks run this: hold, release (the other waiter gets it), ask
 * again (we now wait), get it back when the other releases. */
static void *handoff_task(void *arg)
{
    handoff *h = arg;
    corio_lock_acquire(&h->lock);
    for (long i = 0; i < HANDOFF_ROUNDS && !h->stop; i++) {
        corio_lock_release(&h->lock);
        corio_lock_acquire(&h->lock);
        h->handoffs++;
        if ((i & (CHECK_EVERY - 1)) == 0 && now_ns() > h->deadline) h->stop = 1;
    }
    corio_lock_release(&h->lock);
    return NULL;
}

static void *lock_handoff_main(void *arg)
{
    double *ns = arg;
    handoff h = { .handoffs = 0, .stop = 0 };
    corio_lock_init(&h.lock);
    h.deadline = now_ns() + TIME_LIMIT_NS;
    int64_t t0 = now_ns();
    corio_task *a = must_spawn(handoff_task, &h, 0);
    corio_task *b = must_spawn(handoff_task, &h, 0);
    corio_join(a, NULL);
    corio_join(b, NULL);
    int64_t t1 = now_ns();
    *ns = (double)(t1 - t0) / (double)h.handoffs;
    printf("# round: %ld lock hand-offs between tasks\n", h.handoffs);
    return NULL;
}

#define PTHREAD_HANDOFF_ROUNDS 200000L

typedef struct pt_handoff {
    pthread_mutex_t m;
    pthread_cond_t c;
    int turn;
    long handoffs;
    int64_t deadline;
    int stop;
} pt_handoff;

typedef struct pt_handoff_arg {
    pt_handoff *h;
    int me;
} pt_handoff_arg;

/* The same program with threads: wait for my turn, give the turn away. */
static void *pt_handoff_thread(void *arg)
{
    pt_handoff_arg *a = arg;
    pt_handoff *h = a->h;
    pthread_mutex_lock(&h->m);
    for (long i = 0; i < PTHREAD_HANDOFF_ROUNDS; i++) {
        while (h->turn != a->me && !h->stop) pthread_cond_wait(&h->c, &h->m);
        if (h->stop) break;
        h->turn = 1 - a->me;
        h->handoffs++;
        if ((i & 255) == 0 && now_ns() > h->deadline) h->stop = 1;
        pthread_cond_signal(&h->c);
    }
    h->stop = 1;
    pthread_cond_broadcast(&h->c);
    pthread_mutex_unlock(&h->m);
    return NULL;
}

static double pthread_lock_handoff_ns(void)
{
    pt_handoff h = { .turn = 0, .handoffs = 0, .stop = 0 };
    pthread_mutex_init(&h.m, NULL);
    pthread_cond_init(&h.c, NULL);
    h.deadline = now_ns() + TIME_LIMIT_NS;
    pt_handoff_arg a0 = { &h, 0 }, a1 = { &h, 1 };
    pthread_t t[2];
    int64_t t0 = now_ns();
    must_thread(&t[0], pt_handoff_thread, &a0);
    must_thread(&t[1], pt_handoff_thread, &a1);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    int64_t t1 = now_ns();
    pthread_mutex_destroy(&h.m);
    pthread_cond_destroy(&h.c);
    printf("# round: %ld lock hand-offs between threads\n", h.handoffs);
    return (double)(t1 - t0) / (double)h.handoffs;
}

/* ------------------------------------------------------------------ */
/* Bounded queue of 64                                                */
/* ------------------------------------------------------------------ */

#define QUEUE_SIZE 64
#define QUEUE_ITEMS 40000000L        /* corio, per run */
#define PTHREAD_QUEUE_ITEMS 2000000L /* pthreads, per run */
#define STOP_ITEM NULL               /* items are 1..n cast to void* */

typedef struct qrun {
    corio_queue q;
    int producers, consumers;
    long per_producer;
    long consumed;
    int64_t deadline;
} qrun;

static void *q_producer(void *arg)
{
    qrun *r = arg;
    for (long i = 1; i <= r->per_producer; i++) {
        corio_queue_put(&r->q, (void *)(uintptr_t)i);
        if ((i & (CHECK_EVERY - 1)) == 0 && now_ns() > r->deadline) break;
    }
    return NULL;
}

static void *q_consumer(void *arg)
{
    qrun *r = arg;
    void *item;
    long n = 0;
    while (corio_queue_get(&r->q, &item) == 0 && item != STOP_ITEM) n++;
    r->consumed += n;
    return NULL;
}

static void *queue_main(void *arg)
{
    qrun *r = arg;
    corio_queue_init(&r->q, CORIO_QUEUE_FIFO, QUEUE_SIZE);
    corio_task *p[4], *c[4];
    r->deadline = now_ns() + TIME_LIMIT_NS;
    int64_t t0 = now_ns();
    for (int i = 0; i < r->consumers; i++) c[i] = must_spawn(q_consumer, r, 0);
    for (int i = 0; i < r->producers; i++) p[i] = must_spawn(q_producer, r, 0);
    for (int i = 0; i < r->producers; i++) corio_join(p[i], NULL);
    for (int i = 0; i < r->consumers; i++) corio_queue_put(&r->q, STOP_ITEM);
    for (int i = 0; i < r->consumers; i++) corio_join(c[i], NULL);
    int64_t t1 = now_ns();
    corio_queue_destroy(&r->q);
    r->deadline = t1 - t0; /* reused: elapsed */
    return NULL;
}

static double corio_queue_rate(int pairs)
{
    qrun r;
    memset(&r, 0, sizeof r);
    r.producers = r.consumers = pairs;
    r.per_producer = QUEUE_ITEMS / pairs;
    corio_run(queue_main, &r, NULL);
    return (double)r.consumed * 1e9 / (double)r.deadline;
}

/* The textbook pthread bounded buffer. */
typedef struct pt_queue {
    pthread_mutex_t m;
    pthread_cond_t not_full, not_empty;
    void *ring[QUEUE_SIZE];
    size_t head, len;
    long per_producer;
    atomic_long consumed;
    int64_t deadline;
} pt_queue;

static void pt_put(pt_queue *q, void *item)
{
    pthread_mutex_lock(&q->m);
    while (q->len == QUEUE_SIZE) pthread_cond_wait(&q->not_full, &q->m);
    q->ring[(q->head + q->len) % QUEUE_SIZE] = item;
    q->len++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->m);
}

static void *pt_get(pt_queue *q)
{
    pthread_mutex_lock(&q->m);
    while (q->len == 0) pthread_cond_wait(&q->not_empty, &q->m);
    void *item = q->ring[q->head];
    q->head = (q->head + 1) % QUEUE_SIZE;
    q->len--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->m);
    return item;
}

static void *pt_producer(void *arg)
{
    pt_queue *q = arg;
    for (long i = 1; i <= q->per_producer; i++) {
        pt_put(q, (void *)(uintptr_t)i);
        if ((i & (CHECK_EVERY - 1)) == 0 && now_ns() > q->deadline) break;
    }
    return NULL;
}

static void *pt_consumer(void *arg)
{
    pt_queue *q = arg;
    long n = 0;
    while (pt_get(q) != STOP_ITEM) n++;
    atomic_fetch_add(&q->consumed, n);
    return NULL;
}

static double pthread_queue_rate(int pairs)
{
    pt_queue *q = calloc(1, sizeof *q);
    pthread_mutex_init(&q->m, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    q->per_producer = PTHREAD_QUEUE_ITEMS / pairs;
    atomic_init(&q->consumed, 0);
    q->deadline = now_ns() + TIME_LIMIT_NS;
    pthread_t p[4], c[4];
    int64_t t0 = now_ns();
    for (int i = 0; i < pairs; i++) must_thread(&c[i], pt_consumer, q);
    for (int i = 0; i < pairs; i++) must_thread(&p[i], pt_producer, q);
    for (int i = 0; i < pairs; i++) pthread_join(p[i], NULL);
    for (int i = 0; i < pairs; i++) pt_put(q, STOP_ITEM);
    for (int i = 0; i < pairs; i++) pthread_join(c[i], NULL);
    int64_t t1 = now_ns();
    double rate = (double)atomic_load(&q->consumed) * 1e9 / (double)(t1 - t0);
    pthread_mutex_destroy(&q->m);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    free(q);
    return rate;
}

/* ------------------------------------------------------------------ */
/* Event broadcast                                                    */
/* ------------------------------------------------------------------ */

#define WAITERS 10000
#define BROADCAST_ROUNDS 3

typedef struct bcast {
    corio_event ev[BROADCAST_ROUNDS + 1];
    int parked[BROADCAST_ROUNDS + 1]; /* waiters about to wait on ev[r] */
    int woken[BROADCAST_ROUNDS];
    int64_t last_woke[BROADCAST_ROUNDS];
} bcast;

static void *bcast_waiter(void *arg)
{
    bcast *b = arg;
    for (int r = 0; r <= BROADCAST_ROUNDS; r++) {
        b->parked[r]++;
        corio_event_wait(&b->ev[r]);
        if (r == BROADCAST_ROUNDS) break; /* the release to finish */
        if (++b->woken[r] == WAITERS) b->last_woke[r] = now_ns();
    }
    return NULL;
}

static void *bcast_main(void *arg)
{
    double *ns = arg;
    static bcast b;
    memset(&b, 0, sizeof b);
    for (int r = 0; r <= BROADCAST_ROUNDS; r++) corio_event_init(&b.ev[r]);
    static corio_task *t[WAITERS];
    for (int i = 0; i < WAITERS; i++) t[i] = must_spawn(bcast_waiter, &b, 16 * 1024);
    double best = 0;
    for (int r = 0; r < BROADCAST_ROUNDS; r++) {
        /* Let every waiter park (bounded: scheduling only). */
        for (int i = 0; i < 100 && b.parked[r] < WAITERS; i++) corio_yield();
        int64_t t0 = now_ns();
        corio_event_set(&b.ev[r]);
        for (int i = 0; i < 100 && b.woken[r] < WAITERS; i++) corio_yield();
        double per = (double)(b.last_woke[r] - t0) / WAITERS;
        if (r == 0 || per < best) best = per;
    }
    for (int i = 0; i < 100 && b.parked[BROADCAST_ROUNDS] < WAITERS; i++) corio_yield();
    corio_event_set(&b.ev[BROADCAST_ROUNDS]);
    for (int i = 0; i < WAITERS; i++) corio_join(t[i], NULL);
    *ns = best;
    return NULL;
}

typedef struct pt_bcast {
    pthread_mutex_t m;
    pthread_cond_t go, all_parked, all_woken;
    int set;
    int parked, woken, n;
    int64_t last_woke;
} pt_bcast;

static void *pt_bcast_waiter(void *arg)
{
    pt_bcast *b = arg;
    pthread_mutex_lock(&b->m);
    if (++b->parked == b->n) pthread_cond_signal(&b->all_parked);
    while (!b->set) pthread_cond_wait(&b->go, &b->m);
    if (++b->woken == b->n) {
        b->last_woke = now_ns();
        pthread_cond_signal(&b->all_woken);
    }
    pthread_mutex_unlock(&b->m);
    return NULL;
}

/* Returns ns per waiter; *made gets how many threads could be started. */
static double pthread_bcast_ns(int *made)
{
    static pthread_t th[WAITERS];
    pt_bcast b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.m, NULL);
    pthread_cond_init(&b.go, NULL);
    pthread_cond_init(&b.all_parked, NULL);
    pthread_cond_init(&b.all_woken, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int n = 0;
    /* n is read by waiters only under the mutex, after it is final. */
    pthread_mutex_lock(&b.m);
    b.n = WAITERS;
    pthread_mutex_unlock(&b.m);
    for (; n < WAITERS; n++)
        if (pthread_create(&th[n], &attr, pt_bcast_waiter, &b) != 0) break;
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&b.m);
    b.n = n;
    if (b.parked == n) pthread_cond_signal(&b.all_parked);
    while (b.parked < n) pthread_cond_wait(&b.all_parked, &b.m);
    int64_t t0 = now_ns();
    b.set = 1;
    pthread_cond_broadcast(&b.go);
    while (b.woken < n) pthread_cond_wait(&b.all_woken, &b.m);
    int64_t t1 = b.last_woke;
    pthread_mutex_unlock(&b.m);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&b.m);
    pthread_cond_destroy(&b.go);
    pthread_cond_destroy(&b.all_parked);
    pthread_cond_destroy(&b.all_woken);
    *made = n;
    return n ? (double)(t1 - t0) / n : 0;
}

/* ------------------------------------------------------------------ */

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("bench=sync\n");
    printf("switch=%s\n", corio_switch_name());

    /* Times: the least of the rounds; rates: the most. */
    double lock_ns = 1e18, pt_lock_ns = 1e18, ev_ns = 1e18, pt_ev_ns = 1e18;
    double q1 = 0, q4 = 0, pq1 = 0, pq4 = 0;
    int made = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double v = 0;
        corio_run(lock_handoff_main, &v, NULL);
        if (v < lock_ns) lock_ns = v;
        v = pthread_lock_handoff_ns();
        if (v < pt_lock_ns) pt_lock_ns = v;
        if ((v = corio_queue_rate(1)) > q1) q1 = v;
        if ((v = corio_queue_rate(4)) > q4) q4 = v;
        if ((v = pthread_queue_rate(1)) > pq1) pq1 = v;
        if ((v = pthread_queue_rate(4)) > pq4) pq4 = v;
        v = 0;
        corio_run(bcast_main, &v, NULL);
        if (v > 0 && v < ev_ns) ev_ns = v;
        v = pthread_bcast_ns(&made);
        if (v > 0 && v < pt_ev_ns) pt_ev_ns = v;
    }
    printf("# best of %d interleaved rounds\n", ROUNDS);
    printf("lock_handoff_ns=%.1f\n", lock_ns);
    printf("pthread_lock_handoff_ns=%.1f\n", pt_lock_ns);
    printf("lock_handoff_speedup=%.1f\n", pt_lock_ns / lock_ns);

    printf("queue_items_per_s=%.0f\n", q1);
    printf("queue4x4_items_per_s=%.0f\n", q4);
    printf("pthread_queue_items_per_s=%.0f\n", pq1);
    printf("pthread_queue4x4_items_per_s=%.0f\n", pq4);
    printf("queue_speedup=%.1f\n", q1 / pq1);
    printf("queue4x4_speedup=%.1f\n", q4 / pq4);

    printf("event_waiters=%d\n", WAITERS);
    printf("event_broadcast_ns_per_waiter=%.1f\n", ev_ns);
    printf("pthread_event_waiters=%d\n", made);
    printf("pthread_event_broadcast_ns_per_waiter=%.1f\n", pt_ev_ns);
    if (ev_ns > 0) printf("event_broadcast_speedup=%.1f\n", pt_ev_ns / ev_ns);
    return 0;
}
