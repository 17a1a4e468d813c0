/*
 * bench_compose.c — composition and the thread pool, beside pthreads.
 *
 * Prints name=value lines:
 *   to_thread_roundtrip_ns / pthread_roundtrip_ns
 *       one call handed to a worker thread and its result brought back to
 *       the caller, one at a time. corio: corio_to_thread of a function
 *       that returns its argument (the task parks, the result comes back
 *       through the loop's wakeup). pthread twin: a mutex + two condition
 *       variables between the main thread and one worker.
 *   gather_ns_per_task / pthread_create_join_ns_per_thread
 *       corio_gather_calls of 1,000 trivial functions (spawn, run, join,
 *       outcomes in order), against creating and joining 1,000 threads.
 *   taskgroup_ns_per_child
 *       the same 1,000 functions in a corio_taskgroup (spawn, wait).
 *   *_speedup lines: how many times faster corio is.
 *
 * Every measurement is bounded in count and in time, and reports what it
 * actually did. A benchmark never fails on a target.
 */
#include "corio.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define TIME_LIMIT_NS CORIO_SEC(2) /* per measurement */
#define ROUNDTRIPS 200000L
#define FANOUT 1000
#define FANOUT_REPEAT 50

static void *identity(void *arg) { return arg; }

/* ------------------------------------------------------------------ */
/* Round trip to a worker thread                                       */
/* ------------------------------------------------------------------ */

typedef struct roundtrip {
    long done;
    int64_t elapsed;
} roundtrip;

static void *to_thread_loop(void *arg)
{
    roundtrip *r = arg;
    void *out = NULL;
    corio_to_thread(identity, NULL, &out, NULL); /* start the worker */
    int64_t t0 = corio_now();
    long i;
    for (i = 0; i < ROUNDTRIPS; i++) {
        if (corio_to_thread(identity, (void *)(intptr_t)i, &out, NULL) != 0 ||
            (intptr_t)out != i)
            break;
        if ((i & 1023) == 0 && corio_now() - t0 > TIME_LIMIT_NS) {
            i++;
            break;
        }
    }
    r->elapsed = corio_now() - t0;
    r->done = i;
    return NULL;
}

typedef struct pt_channel {
    pthread_mutex_t m;
    pthread_cond_t to_worker, to_main;
    long request, reply; /* -1 = empty */
    int stop;
} pt_channel;

static void *pt_worker(void *arg)
{
    pt_channel *c = arg;
    pthread_mutex_lock(&c->m);
    for (;;) {
        while (c->request < 0 && !c->stop)
            pthread_cond_wait(&c->to_worker, &c->m);
        if (c->stop) break;
        c->reply = c->request;
        c->request = -1;
        pthread_cond_signal(&c->to_main);
    }
    pthread_mutex_unlock(&c->m);
    return NULL;
}

static void pthread_roundtrip(roundtrip *r)
{
    pt_channel c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                     PTHREAD_COND_INITIALIZER, -1, -1, 0 };
    pthread_t th;
    if (pthread_create(&th, NULL, pt_worker, &c) != 0) return;
    int64_t t0 = corio_now();
    long i;
    for (i = 0; i < ROUNDTRIPS; i++) {
        pthread_mutex_lock(&c.m);
        c.request = i;
        pthread_cond_signal(&c.to_worker);
        while (c.reply < 0) pthread_cond_wait(&c.to_main, &c.m);
        c.reply = -1;
        pthread_mutex_unlock(&c.m);
        if ((i & 1023) == 0 && corio_now() - t0 > TIME_LIMIT_NS) {
            i++;
            break;
        }
    }
    r->elapsed = corio_now() - t0;
    r->done = i;
    pthread_mutex_lock(&c.m);
    c.stop = 1;
    pthread_cond_signal(&c.to_worker);
    pthread_mutex_unlock(&c.m);
    pthread_join(th, NULL);
}

/* ------------------------------------------------------------------ */
/* Fan-out: gather, task group, threads                                */
/* ------------------------------------------------------------------ */

typedef struct fanout {
    long tasks;
    int64_t elapsed;
    int ok;
} fanout;

static void *gather_loop(void *arg)
{
    fanout *f = arg;
    static corio_call calls[FANOUT];
    static corio_outcome out[FANOUT];
    for (int i = 0; i < FANOUT; i++) {
        calls[i].fn = identity;
        calls[i].arg = (void *)(intptr_t)i;
    }
    f->ok = 1;
    int64_t t0 = corio_now();
    for (int rep = 0; rep < FANOUT_REPEAT; rep++) {
        if (corio_gather_calls(calls, FANOUT, out, 0) != 0 ||
            (intptr_t)out[FANOUT - 1].result != FANOUT - 1)
            f->ok = 0;
        f->tasks += FANOUT;
        if (corio_now() - t0 > TIME_LIMIT_NS) break;
    }
    f->elapsed = corio_now() - t0;
    return NULL;
}

static void *taskgroup_loop(void *arg)
{
    fanout *f = arg;
    f->ok = 1;
    int64_t t0 = corio_now();
    for (int rep = 0; rep < FANOUT_REPEAT; rep++) {
        corio_taskgroup g;
        corio_taskgroup_init(&g);
        for (intptr_t i = 0; i < FANOUT; i++)
            if (corio_taskgroup_spawn(&g, identity, (void *)i, NULL) < 0)
                f->ok = 0;
        if (corio_taskgroup_wait(&g) != 0) f->ok = 0;
        corio_taskgroup_destroy(&g);
        f->tasks += FANOUT;
        if (corio_now() - t0 > TIME_LIMIT_NS) break;
    }
    f->elapsed = corio_now() - t0;
    return NULL;
}

static void pthread_fanout(fanout *f)
{
    static pthread_t th[FANOUT];
    f->ok = 1;
    int64_t t0 = corio_now();
    for (int rep = 0; rep < FANOUT_REPEAT; rep++) {
        int started = 0;
        for (intptr_t i = 0; i < FANOUT; i++, started++)
            if (pthread_create(&th[i], NULL, identity, (void *)i) != 0) {
                f->ok = 0;
                break;
            }
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        f->tasks += started;
        if (corio_now() - t0 > TIME_LIMIT_NS) break;
    }
    f->elapsed = corio_now() - t0;
}

static double per(int64_t ns, long n) { return n ? (double)ns / (double)n : 0; }

int main(void)
{
    roundtrip co = { 0, 0 }, pt = { 0, 0 };
    corio_run(to_thread_loop, &co, NULL);
    pthread_roundtrip(&pt);
    double co_rt = per(co.elapsed, co.done), pt_rt = per(pt.elapsed, pt.done);
    printf("to_thread_roundtrip_ns=%.0f\n", co_rt);
    printf("to_thread_roundtrips=%ld\n", co.done);
    printf("pthread_roundtrip_ns=%.0f\n", pt_rt);
    printf("to_thread_roundtrip_speedup=%.2f\n", co_rt ? pt_rt / co_rt : 0);

    fanout g = { 0, 0, 0 }, tg = { 0, 0, 0 }, th = { 0, 0, 0 };
    corio_run(gather_loop, &g, NULL);
    corio_run(taskgroup_loop, &tg, NULL);
    pthread_fanout(&th);
    double g_ns = per(g.elapsed, g.tasks), tg_ns = per(tg.elapsed, tg.tasks);
    double th_ns = per(th.elapsed, th.tasks);
    printf("gather_ns_per_task=%.0f%s\n", g_ns, g.ok ? "" : " (errors)");
    printf("taskgroup_ns_per_child=%.0f%s\n", tg_ns, tg.ok ? "" : " (errors)");
    printf("pthread_create_join_ns_per_thread=%.0f%s\n", th_ns,
           th.ok ? "" : " (errors)");
    printf("gather_speedup=%.2f\n", g_ns ? th_ns / g_ns : 0);
    return 0;
}
