/*
 * asyncio_util.h — what the test_asyncio_*.c suites share: the ports of
 * CPython's Lib/test/test_asyncio cases, each Test() named after the case
 * it comes from. Tasks NOTE what they saw into g_tally (util.h); the test
 * checks it once the loop is closed. `await asyncio.sleep(0)` becomes
 * corio_yield(): the run queue is FIFO, so one yield lets every task
 * spawned before it run up to its first blocking call, as one turn of
 * asyncio's loop does.
 */
#ifndef CORIO_TESTS_ASYNCIO_UTIL_H
#define CORIO_TESTS_ASYNCIO_UTIL_H

#include "util.h"

#include <string.h>

static tally g_tally; /* one test at a time */

/* The order in which tasks did things (asyncio's `result` lists). */
static int g_order[64];
static int g_norder;

static inline void rec(int v)
{
    if (g_norder < 64) g_order[g_norder++] = v;
}

/* Does g_order hold exactly the n values given? */
static inline bool order_is(int n, ...)
{
    if (g_norder != n) return false;
    va_list ap;
    va_start(ap, n);
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (va_arg(ap, int) != g_order[i]) ok = false;
    va_end(ap);
    return ok;
}

/* Run fn as the main task of a clean loop; it must return 0 and every
 * NOTE must have held. */
static inline void run_main(corio_fn fn, void *arg)
{
    memset(&g_tally, 0, sizeof g_tally);
    g_norder = 0;
    int status = corio_test_run_clean(fn, arg);
    cr_assert_eq(status, 0, "main task status %d (%s)", status,
                 corio_strerror(status));
    ASSERT_TALLY_CLEAN(g_tally);
}

static inline corio_task *go(corio_fn fn, void *arg)
{
    corio_task_opts opts = { .name = NULL, .stack_size = 64 * 1024 };
    corio_task *t = corio_spawn(fn, arg, &opts);
    NOTE(&g_tally, t != NULL, "spawn failed");
    return t;
}

static inline int join(corio_task *t)
{
    return t ? corio_join(t, NULL) : CORIO_EINVAL;
}

#define CHECK(cond) NOTE(&g_tally, (cond), "%s", #cond)
#define CHECK_RC(expr, want)                                              \
    do {                                                                  \
        int rc_ = (expr);                                                 \
        NOTE(&g_tally, rc_ == (want), "%s = %d (%s), want %s", #expr, rc_, \
             corio_strerror(rc_), #want);                                 \
    } while (0)

#endif
