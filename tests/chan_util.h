/*
 * chan_util.h — loops on threads for the channel and select suites.
 *
 * xloops_run(n, fns, args) runs fns[i](args[i]) as the main task of a
 * fresh loop on thread i (until corio_run_loops exists, this is how a
 * program runs loops on several threads) and returns when all are done.
 * Every main ends at a barrier before its loop closes: a peer on another
 * loop may still be finishing a post to this loop (corio__loop_post
 * needs the target loop alive), and the barrier is the "loop group" that
 * keeps every loop until all have finished.
 */
#ifndef CORIO_TESTS_CHAN_UTIL_H
#define CORIO_TESTS_CHAN_UTIL_H

#include "util.h"
#include "os/thread.h"

#define XLOOPS_MAX 4

typedef struct xloops {
    corio_os_mutex *m;
    corio_os_cond *c;
    int arrived, n;
    corio_fn fns[XLOOPS_MAX];
    void *args[XLOOPS_MAX];
    int status[XLOOPS_MAX];
} xloops;

typedef struct xloop_slot { xloops *g; int i; } xloop_slot;

static void *xloop_main(void *arg)
{
    xloop_slot *s = arg;
    void *r = s->g->fns[s->i](s->g->args[s->i]);
    corio__os_mutex_lock(s->g->m);
    if (++s->g->arrived == s->g->n) corio__os_cond_broadcast(s->g->c);
    while (s->g->arrived < s->g->n) corio__os_cond_wait(s->g->c, s->g->m);
    corio__os_mutex_unlock(s->g->m);
    return r;
}

static void xloop_thread(void *arg)
{
    xloop_slot *s = arg;
    s->g->status[s->i] = corio_run(xloop_main, s, NULL);
}

static inline void xloops_run(int n, corio_fn *fns, void **args)
{
    xloops g = { .m = corio__os_mutex_new(), .c = corio__os_cond_new(), .n = n };
    xloop_slot slots[XLOOPS_MAX];
    corio_os_thread *th[XLOOPS_MAX];
    for (int i = 0; i < n; i++) {
        g.fns[i] = fns[i];
        g.args[i] = args[i];
        slots[i] = (xloop_slot){ &g, i };
    }
    for (int i = 0; i < n; i++) {
        th[i] = corio__os_thread_start(xloop_thread, &slots[i]);
        cr_assert_not_null(th[i], "thread start");
    }
    for (int i = 0; i < n; i++) corio__os_thread_join(th[i]);
    corio__os_cond_free(g.c);
    corio__os_mutex_free(g.m);
    for (int i = 0; i < n; i++) cr_assert_eq(g.status[i], 0, "loop %d status %d", i, g.status[i]);
}

#endif
