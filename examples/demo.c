/*
 * demo.c — what `make demo` runs: many tasks sleeping and handing work to
 * each other, on one thread.
 *
 *   1. 10,000 tasks each sleep 100 ms. Run one after another that would be
 *      1,000 s; because a sleeping task only parks itself, they all sleep
 *      at once and the whole batch takes about 0.1 s.
 *   2. A pipeline: 4 producers put 100,000 numbers into a bounded queue of
 *      64; 8 workers take them, "work" (sleep 1 ms every 1,000 items) and
 *      put squares into a result queue; one collector adds them up. The
 *      queue's bound makes producers wait for workers (back-pressure), and
 *      the sum is checked against the formula.
 *   3. A relay race: 1,000 tasks pass a baton (a future each) down a chain;
 *      each hand-off is a park and an unpark.
 *
 * Everything runs on one OS thread: `threads=1` in the output is the
 * process's real thread count, read from /proc on Linux.
 */
#include <corio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double ms_since(int64_t t0) { return (corio_now() - t0) / 1e6; }

/* ---------- 1. ten thousand sleepers ---------- */

static void *sleeper(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_MS(100));
    return NULL;
}

static void sleepers(void)
{
    enum { N = 10000 };
    static corio_task *t[N];
    int64_t t0 = corio_now();
    for (int i = 0; i < N; i++) t[i] = corio_spawn(sleeper, NULL, NULL);
    for (int i = 0; i < N; i++) corio_join(t[i], NULL);
    printf("1. %d tasks each slept 100 ms: all done in %.1f ms "
           "(one after another: %d s)\n", N, ms_since(t0), N / 10);
}

/* ---------- 2. producers, workers, a collector ---------- */

enum { PRODUCERS = 4, WORKERS = 8, ITEMS = 100000 };

typedef struct {
    corio_queue jobs, results;
    int next_producer;
} pipeline;

static void *producer(void *arg)
{
    pipeline *p = arg;
    int me = p->next_producer++;
    for (intptr_t i = me; i < ITEMS; i += PRODUCERS)
        corio_queue_put(&p->jobs, (void *)(i + 1)); /* parks while full */
    return NULL;
}

static void *worker(void *arg)
{
    pipeline *p = arg;
    void *item;
    long done = 0;
    while (corio_queue_get(&p->jobs, &item) == 0) {
        intptr_t n = (intptr_t)item;
        if (++done % 1000 == 0) corio_sleep(CORIO_MS(1)); /* "slow work" */
        corio_queue_put(&p->results, (void *)(n * n % 1000003));
    }
    return (void *)done; /* how many this worker handled */
}

static void *collector(void *arg)
{
    pipeline *p = arg;
    uint64_t sum = 0;
    void *r;
    for (int i = 0; i < ITEMS; i++) {
        corio_queue_get(&p->results, &r);
        sum += (uintptr_t)r;
    }
    return (void *)(uintptr_t)sum;
}

static void pipeline_demo(void)
{
    pipeline p = { .next_producer = 0 };
    corio_queue_init(&p.jobs, CORIO_QUEUE_FIFO, 64);
    corio_queue_init(&p.results, CORIO_QUEUE_FIFO, 0);
    int64_t t0 = corio_now();
    corio_task *prod[PRODUCERS], *work[WORKERS];
    for (int i = 0; i < PRODUCERS; i++) prod[i] = corio_spawn(producer, &p, NULL);
    for (int i = 0; i < WORKERS; i++) work[i] = corio_spawn(worker, &p, NULL);
    corio_task *col = corio_spawn(collector, &p, NULL);
    for (int i = 0; i < PRODUCERS; i++) corio_join(prod[i], NULL);
    corio_queue_shutdown(&p.jobs, false); /* workers drain it, then stop */
    long per_worker[WORKERS], total = 0;
    for (int i = 0; i < WORKERS; i++) {
        void *r;
        corio_join(work[i], &r);
        per_worker[i] = (long)(intptr_t)r;
        total += per_worker[i];
    }
    void *sum;
    corio_join(col, &sum);
    uint64_t expect = 0;
    for (uint64_t n = 1; n <= ITEMS; n++) expect += n * n % 1000003;
    printf("2. %d producers -> queue(64) -> %d workers -> collector: %ld items "
           "in %.1f ms, sum %s\n", PRODUCERS, WORKERS, total, ms_since(t0),
           (uintptr_t)sum == expect ? "correct" : "WRONG");
    printf("   items per worker:");
    for (int i = 0; i < WORKERS; i++) printf(" %ld", per_worker[i]);
    printf("   (FIFO hand-off shares the work)\n");
    corio_queue_destroy(&p.jobs);
    corio_queue_destroy(&p.results);
}

/* ---------- 3. a relay race of futures ---------- */

enum { RUNNERS = 1000 };

typedef struct { corio_future *in, *out; } leg;

static void *runner(void *arg)
{
    leg *l = arg;
    void *baton;
    corio_future_wait(l->in, &baton);
    corio_future_set_result(l->out, (void *)((intptr_t)baton + 1));
    return NULL;
}

static void relay(void)
{
    static corio_future *f[RUNNERS + 1];
    static leg legs[RUNNERS];
    static corio_task *t[RUNNERS];
    for (int i = 0; i <= RUNNERS; i++) f[i] = corio_future_new();
    for (int i = 0; i < RUNNERS; i++) {
        legs[i] = (leg){ f[i], f[i + 1] };
        t[i] = corio_spawn(runner, &legs[i], NULL);
    }
    corio_yield(); /* everyone is now waiting for the baton */
    int64_t t0 = corio_now();
    corio_future_set_result(f[0], (void *)0);
    void *end;
    corio_future_wait(f[RUNNERS], &end);
    double us = (corio_now() - t0) / 1e3;
    for (int i = 0; i < RUNNERS; i++) corio_join(t[i], NULL);
    for (int i = 0; i <= RUNNERS; i++) corio_future_free(f[i]);
    printf("3. a baton passed through %ld tasks in %.0f us (%.0f ns per hand-off)\n",
           (long)(intptr_t)end, us, us * 1000 / RUNNERS);
}

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[128];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Threads:", 8)) n = atoi(line + 8);
    fclose(f);
    return n;
}

static void *demo_main(void *arg)
{
    (void)arg;
    printf("corio demo: switch=%s poller=%s\n", corio_switch_name(), corio_backend_name());
    sleepers();
    pipeline_demo();
    relay();
    int th = thread_count();
    if (th > 0) printf("threads=%d: all of the above ran on one OS thread\n", th);
    return NULL;
}

int main(void)
{
    return corio_run(demo_main, NULL, NULL) == 0 ? 0 : 1;
}
