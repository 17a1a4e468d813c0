/*
 * bench_chan.c — channels and the cross-thread path, beside their peers.
 *
 * Prints name=value lines, each corio figure with its peer from the same
 * run and the target beside it (a benchmark never fails on a target):
 *   chan_pingpong_cross_loop_ns   two tasks on two loops on two threads,
 *                                 two unbuffered channels; per hand-off.
 *     go_chan_pingpong_ns         Go, the same, GOMAXPROCS=2 (bench/peers/
 *                                 chan_peer.go; only when `go` is installed)
 *   chan_stream_cross_loop_items_per_s   producer loop -> consumer loop,
 *                                 64 slots, ints
 *     go_chan_stream_items_per_s  Go chan int of 64, GOMAXPROCS=2
 *     pthread_ring_items_per_s    a mutex + two condvars ring of 64
 *   chan_pingpong_same_loop_ns    two tasks of one loop, unbuffered
 *     handoff_ns                  a bare park/unpark ping-pong (bench_core's)
 *   to_thread_roundtrip_ns        corio_to_thread, one call at a time
 *     pthread_roundtrip_ns        mutex + condvar hand-off to one worker
 *
 * ROUNDS rounds, the measurements interleaved within each round (so that
 * the machine's load hits corio and its peer alike); each figure is the
 * best round, with the range of all rounds. Every measurement is bounded
 * in count and in time.
 */
#include "corio.h"
#include "coro/park.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 5
#define TIME_LIMIT_NS CORIO_SEC(1)
#define PINGPONGS 200000L
#define STREAM_ITEMS 2000000L
#define SAME_LOOP 1000000L
#define ROUNDTRIPS 100000L

typedef struct fig { double v[ROUNDS]; int n; } fig;
static void fig_add(fig *f, double v) { if (v > 0) f->v[f->n++] = v; }
static double fig_min(const fig *f) { double m = 0; for (int i = 0; i < f->n; i++) if (!m || f->v[i] < m) m = f->v[i]; return m; }
static double fig_max(const fig *f) { double m = 0; for (int i = 0; i < f->n; i++) if (f->v[i] > m) m = f->v[i]; return m; }

/* ---------- loops on threads (until corio_run_loops) ---------- */

typedef struct duo {
    corio_chan *a, *b;
    long n;
    int64_t t0, t1;
    pthread_barrier_t start, end;
} duo;

typedef struct side { duo *d; corio_fn fn; } side;

static void *side_main(void *arg)
{
    side *s = arg;
    pthread_barrier_wait(&s->d->start);
    s->fn(s->d);
    /* keep this loop alive until the peer is done posting to it */
    pthread_barrier_wait(&s->d->end);
    return NULL;
}

static void *side_thread(void *arg)
{
    corio_run(side_main, arg, NULL);
    return NULL;
}

static void run_duo(duo *d, corio_fn f0, corio_fn f1)
{
    pthread_barrier_init(&d->start, NULL, 2);
    pthread_barrier_init(&d->end, NULL, 2);
    side s[2] = { { d, f0 }, { d, f1 } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, side_thread, &s[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&d->start);
    pthread_barrier_destroy(&d->end);
}

/* ---------- cross-loop ping-pong ---------- */

static void *ping(void *arg)
{
    duo *d = arg;
    long i;
    d->t0 = corio_now();
    for (i = 0; i < PINGPONGS; i++) {
        long v;
        if (corio_chan_send(d->a, &i) || corio_chan_recv(d->b, &v) || v != i) break;
        if ((i & 1023) == 0 && corio_now() - d->t0 > TIME_LIMIT_NS) { i++; break; }
    }
    d->t1 = corio_now();
    d->n = i;
    corio_chan_close(d->a);
    return NULL;
}

static void *pong(void *arg)
{
    duo *d = arg;
    long v;
    while (corio_chan_recv(d->a, &v) == 0) corio_chan_send(d->b, &v);
    return NULL;
}

static double pingpong_cross(void)
{
    duo d = { .a = corio_chan_new(sizeof(long), 0), .b = corio_chan_new(sizeof(long), 0) };
    run_duo(&d, ping, pong);
    corio_chan_free(d.a);
    corio_chan_free(d.b);
    return d.n ? (double)(d.t1 - d.t0) / (2.0 * d.n) : 0;
}

/* ---------- cross-loop stream ---------- */

static void *producer(void *arg)
{
    duo *d = arg;
    int64_t t0 = corio_now();
    for (long i = 0; i < STREAM_ITEMS; i++) {
        if (corio_chan_send(d->a, &i)) break;
        if ((i & 4095) == 0 && corio_now() - t0 > TIME_LIMIT_NS) break;
    }
    corio_chan_close(d->a);
    return NULL;
}

static void *consumer(void *arg)
{
    duo *d = arg;
    long v, n = 0;
    d->t0 = corio_now();
    while (corio_chan_recv(d->a, &v) == 0) n++;
    d->t1 = corio_now();
    d->n = n;
    return NULL;
}

static double stream_cross(void)
{
    duo d = { .a = corio_chan_new(sizeof(long), 64) };
    run_duo(&d, producer, consumer);
    corio_chan_free(d.a);
    return d.t1 > d.t0 ? d.n * 1e9 / (double)(d.t1 - d.t0) : 0;
}

/* ---------- the pthread ring ---------- */

typedef struct ring {
    pthread_mutex_t m;
    pthread_cond_t not_empty, not_full;
    long buf[64];
    int head, len, done;
} ring;

static void *ring_producer(void *arg)
{
    ring *r = arg;
    int64_t t0 = corio_now();
    for (long i = 0; i < STREAM_ITEMS; i++) {
        pthread_mutex_lock(&r->m);
        while (r->len == 64) pthread_cond_wait(&r->not_full, &r->m);
        r->buf[(r->head + r->len++) % 64] = i;
        pthread_cond_signal(&r->not_empty);
        pthread_mutex_unlock(&r->m);
        if ((i & 4095) == 0 && corio_now() - t0 > TIME_LIMIT_NS) break;
    }
    pthread_mutex_lock(&r->m);
    r->done = 1;
    pthread_cond_signal(&r->not_empty);
    pthread_mutex_unlock(&r->m);
    return NULL;
}

static double stream_pthread(void)
{
    ring r = { .m = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
               .not_full = PTHREAD_COND_INITIALIZER };
    pthread_t th;
    int64_t t0 = corio_now();
    pthread_create(&th, NULL, ring_producer, &r);
    long n = 0;
    for (;;) {
        pthread_mutex_lock(&r.m);
        while (r.len == 0 && !r.done) pthread_cond_wait(&r.not_empty, &r.m);
        if (r.len == 0) { pthread_mutex_unlock(&r.m); break; }
        r.head = (r.head + 1) % 64;
        r.len--;
        n++;
        pthread_cond_signal(&r.not_full);
        pthread_mutex_unlock(&r.m);
    }
    int64_t t1 = corio_now();
    pthread_join(th, NULL);
    return n * 1e9 / (double)(t1 - t0);
}

/* ---------- within one loop ---------- */

static corio_chan *sa, *sb;

static void *same_pong(void *arg)
{
    (void)arg;
    long v;
    while (corio_chan_recv(sa, &v) == 0) corio_chan_send(sb, &v);
    return NULL;
}

static void *same_loop_main(void *arg)
{
    double *out = arg;
    sa = corio_chan_new(sizeof(long), 0);
    sb = corio_chan_new(sizeof(long), 0);
    corio_task *p = corio_spawn(same_pong, NULL, NULL);
    long i, v;
    int64_t t0 = corio_now();
    for (i = 0; i < SAME_LOOP / 2; i++)
        if (corio_chan_send(sa, &i) || corio_chan_recv(sb, &v)) break;
    *out = (double)(corio_now() - t0) / (2.0 * i);
    corio_chan_close(sa);
    corio_join(p, NULL);
    corio_chan_free(sa);
    corio_chan_free(sb);
    return NULL;
}

static corio_task *ping_task, *pong_task;

static void *handoff_pong(void *arg)
{
    (void)arg;
    for (long i = 0; i < SAME_LOOP / 2; i++) {
        corio__park_on(CORIO_NEVER, "handoff");
        corio__unpark(ping_task, 0);
    }
    return NULL;
}

static void *handoff_main(void *arg)
{
    double *out = arg;
    ping_task = corio_current();
    pong_task = corio_spawn(handoff_pong, NULL, NULL);
    corio_yield();
    int64_t t0 = corio_now();
    for (long i = 0; i < SAME_LOOP / 2; i++) {
        corio__unpark(pong_task, 0);
        corio__park_on(CORIO_NEVER, "handoff");
    }
    *out = (double)(corio_now() - t0) / SAME_LOOP;
    corio_join(pong_task, NULL);
    return NULL;
}

/* ---------- to_thread and its pthread twin ---------- */

static void *identity(void *arg) { return arg; }

static void *to_thread_main(void *arg)
{
    double *out = arg;
    void *r;
    corio_to_thread(identity, NULL, &r, NULL); /* start the worker */
    int64_t t0 = corio_now();
    long i;
    for (i = 0; i < ROUNDTRIPS; i++) {
        if (corio_to_thread(identity, (void *)(intptr_t)i, &r, NULL) || (intptr_t)r != i) break;
        if ((i & 1023) == 0 && corio_now() - t0 > TIME_LIMIT_NS) { i++; break; }
    }
    *out = i ? (double)(corio_now() - t0) / i : 0;
    return NULL;
}

typedef struct twin {
    pthread_mutex_t m;
    pthread_cond_t job, done;
    long arg, result;
    int has_job, has_result, quit;
} twin;

static void *twin_worker(void *arg)
{
    twin *t = arg;
    pthread_mutex_lock(&t->m);
    for (;;) {
        while (!t->has_job && !t->quit) pthread_cond_wait(&t->job, &t->m);
        if (t->quit) break;
        t->has_job = 0;
        t->result = (long)(intptr_t)identity((void *)(intptr_t)t->arg);
        t->has_result = 1;
        pthread_cond_signal(&t->done);
    }
    pthread_mutex_unlock(&t->m);
    return NULL;
}

static double pthread_roundtrip(void)
{
    twin t = { .m = PTHREAD_MUTEX_INITIALIZER, .job = PTHREAD_COND_INITIALIZER,
               .done = PTHREAD_COND_INITIALIZER };
    pthread_t th;
    pthread_create(&th, NULL, twin_worker, &t);
    int64_t t0 = corio_now();
    long i;
    for (i = 0; i < ROUNDTRIPS; i++) {
        pthread_mutex_lock(&t.m);
        t.arg = i;
        t.has_job = 1;
        pthread_cond_signal(&t.job);
        while (!t.has_result) pthread_cond_wait(&t.done, &t.m);
        t.has_result = 0;
        pthread_mutex_unlock(&t.m);
        if ((i & 1023) == 0 && corio_now() - t0 > TIME_LIMIT_NS) { i++; break; }
    }
    double ns = (double)(corio_now() - t0) / i;
    pthread_mutex_lock(&t.m);
    t.quit = 1;
    pthread_cond_signal(&t.job);
    pthread_mutex_unlock(&t.m);
    pthread_join(th, NULL);
    return ns;
}

/* ---------- the Go peer ---------- */

static char go_peer[1024];

/* Build bench/peers/chan_peer.go beside this binary when `go` is there. */
static void build_go_peer(const char *argv0)
{
#if defined(__linux__) && defined(__x86_64__)
    if (system("go version >/dev/null 2>&1") != 0) {
        printf("# skipped: go peers: `go` is not installed (make bench installs golang-go)\n");
        return;
    }
    if (access("bench/peers/chan_peer.go", R_OK) != 0) {
        printf("# skipped: go peers: run from the repository (bench/peers/chan_peer.go)\n");
        return;
    }
    char dir[900];
    snprintf(dir, sizeof dir, "%s", argv0);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    char cmd[2400];
    snprintf(go_peer, sizeof go_peer, "%s/chan_peer_go", dir);
    snprintf(cmd, sizeof cmd, "%sgo build -o %s bench/peers/chan_peer.go >/dev/null 2>&1",
             getenv("HOME") ? "" : "GOCACHE=/tmp/corio-go-cache ", go_peer);
    if (system(cmd) != 0) {
        printf("# skipped: go peers: go build failed\n");
        go_peer[0] = 0;
    }
#else
    (void)argv0;
    printf("# skipped: go peers (x86-64 Linux only)\n");
#endif
}

static double run_go(const char *mode, long n)
{
    if (!go_peer[0]) return 0;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "GOMAXPROCS=2 timeout 30 %s %s %ld", go_peer, mode, n);
    FILE *f = popen(cmd, "r");
    if (!f) return 0;
    double v = 0;
    if (fscanf(f, "%lf", &v) != 1) v = 0;
    pclose(f);
    return v;
}

static void print_fig(const char *name, const fig *f)
{
    if (!f->n) { printf("# %s: no measurement\n", name); return; }
    printf("%s=%.1f\n", name, fig_min(f));
    printf("%s_range=%.1f..%.1f\n", name, fig_min(f), fig_max(f));
}

static void print_rate(const char *name, const fig *f)
{
    if (!f->n) { printf("# %s: no measurement\n", name); return; }
    printf("%s=%.0f\n", name, fig_max(f));
    printf("%s_range=%.0f..%.0f\n", name, fig_min(f), fig_max(f));
}

int main(int argc, char **argv)
{
    (void)argc;
    build_go_peer(argv[0]);
    fig pp = { 0 }, gpp = { 0 }, st = { 0 }, gst = { 0 }, ring_f = { 0 };
    fig same = { 0 }, hand = { 0 }, tt = { 0 }, ptt = { 0 };
    for (int r = 0; r < ROUNDS; r++) {
        double v;
        fig_add(&pp, pingpong_cross());
        fig_add(&gpp, run_go("pingpong", PINGPONGS));
        fig_add(&st, stream_cross());
        fig_add(&gst, run_go("stream", STREAM_ITEMS));
        fig_add(&ring_f, stream_pthread());
        v = 0; corio_run(same_loop_main, &v, NULL); fig_add(&same, v);
        v = 0; corio_run(handoff_main, &v, NULL); fig_add(&hand, v);
        v = 0; corio_run(to_thread_main, &v, NULL); fig_add(&tt, v);
        fig_add(&ptt, pthread_roundtrip());
    }
    printf("# bench_chan: best of %d interleaved rounds (range after)\n", ROUNDS);
    print_fig("chan_pingpong_cross_loop_ns", &pp);
    print_fig("go_chan_pingpong_ns", &gpp);
    if (gpp.n) printf("chan_pingpong_cross_loop_vs_go=%.2f  # target <= 1.0\n", fig_min(&pp) / fig_min(&gpp));
    print_rate("chan_stream_cross_loop_items_per_s", &st);
    print_rate("go_chan_stream_items_per_s", &gst);
    print_rate("pthread_ring_items_per_s", &ring_f);
    if (gst.n) printf("chan_stream_cross_loop_vs_go=%.2f  # target >= 1.0\n", fig_max(&st) / fig_max(&gst));
    printf("chan_stream_cross_loop_vs_pthread_ring=%.1f  # target >= 20\n", fig_max(&st) / fig_max(&ring_f));
    print_fig("chan_pingpong_same_loop_ns", &same);
    print_fig("handoff_ns", &hand);
    printf("chan_pingpong_same_loop_vs_handoff=%.2f  # target <= 1.2\n", fig_min(&same) / fig_min(&hand));
    print_fig("to_thread_roundtrip_ns", &tt);
    print_fig("pthread_roundtrip_ns", &ptt);
    printf("to_thread_roundtrip_vs_pthread=%.2f  # target <= 1.0\n", fig_min(&tt) / fig_min(&ptt));
    return 0;
}
