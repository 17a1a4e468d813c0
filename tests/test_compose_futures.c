/*
 * test_compose_futures.c — gather, wait, as_completed and shield over
 * futures directly (corio_gather_futures, corio_wait_futures,
 * corio_as_completed_init_futures, corio_shield_future): the outcomes, the
 * modes, a future set before the call, the caller cancelled or out of
 * time, a future freed meanwhile, and that no task is spawned per future
 * (corio_all_tasks counts the loop's tasks while 20,000 futures are being
 * gathered).
 */
#include "asyncio_util.h"

#include <stdlib.h>

#define MS CORIO_MS

static void set_to_self(void *f) { corio_future_set_result(f, f); }
static void set_eio(void *f) { corio_future_set_error(f, CORIO_EIO); }
static void cancel_fut(void *f) { corio_future_cancel(f); }

static void mk(corio_future **f, int n)
{
    for (int i = 0; i < n; i++) {
        f[i] = corio_future_new();
        NOTE(&g_tally, f[i] != NULL, "future_new");
    }
}

static void rm(corio_future **f, int n)
{
    for (int i = 0; i < n; i++) corio_future_free(f[i]);
}

/* ---- gather ---- */

static void *gather_order_main(void *arg)
{
    (void)arg;
    corio_future *f[4];
    mk(f, 4);
    corio_future_set_result(f[3], (void *)3); /* done before the call */
    corio_call_later(MS(3), set_to_self, f[0], NULL);
    corio_call_later(MS(2), set_to_self, f[1], NULL);
    corio_call_later(MS(1), set_to_self, f[2], NULL);
    corio_future *fs[5] = { f[0], f[1], f[2], f[3], f[1] }; /* f[1] twice */
    corio_outcome out[5];
    CHECK_RC(corio_gather_futures(fs, 5, out, 0), 0);
    for (int i = 0; i < 3; i++) CHECK(out[i].status == 0 && out[i].result == f[i]);
    CHECK(out[3].status == 0 && out[3].result == (void *)3);
    CHECK(out[4].status == 0 && out[4].result == f[1]);
    /* all done: answers at once, even to a cancelled caller */
    corio_cancel(corio_current());
    CHECK_RC(corio_gather_futures(fs, 5, out, 0), 0);
    CHECK_RC(corio_gather_futures(NULL, 0, NULL, 0), 0);
    corio_future *bad[2] = { f[0], NULL };
    CHECK_RC(corio_gather_futures(bad, 2, out, 0), CORIO_EINVAL);
    rm(f, 4);
    return NULL;
}

static void *cancelled_runner(void *arg)
{
    corio_task *t = go((corio_fn)arg, NULL);
    CHECK_RC(join(t), CORIO_ECANCELED);
    return NULL;
}

Test(compose_futures, gather_in_order_with_done_and_duplicate_futures)
{
    run_main(cancelled_runner, (void *)gather_order_main);
}

static void *gather_modes_main(void *arg)
{
    (void)arg;
    corio_future *f[3];
    corio_outcome out[3];
    /* default: the first error returns at once, the rest stay pending */
    mk(f, 3);
    corio_call_later(MS(1), set_eio, f[1], NULL);
    CHECK_RC(corio_gather_futures(f, 3, out, 0), CORIO_EIO);
    CHECK(out[1].status == CORIO_EIO);
    CHECK(out[0].status == CORIO_EAGAIN && out[2].status == CORIO_EAGAIN);
    CHECK(!corio_future_done(f[0]) && !corio_future_done(f[2]));
    rm(f, 3);
    /* cancel on error: the rest are cancelled */
    mk(f, 3);
    corio_future_set_result(f[0], (void *)1);
    corio_call_later(MS(1), set_eio, f[1], NULL);
    CHECK_RC(corio_gather_futures(f, 3, out, CORIO_GATHER_CANCEL_ON_ERROR),
             CORIO_EIO);
    CHECK(out[0].status == 0 && out[0].result == (void *)1);
    CHECK(out[2].status == CORIO_ECANCELED && corio_future_cancelled(f[2]));
    rm(f, 3);
    /* return errors: waits for all, counts the failures */
    mk(f, 3);
    corio_call_later(MS(1), set_eio, f[0], NULL);
    corio_call_later(MS(2), cancel_fut, f[1], NULL);
    corio_call_later(MS(3), set_to_self, f[2], NULL);
    CHECK_RC(corio_gather_futures(f, 3, out, CORIO_GATHER_RETURN_ERRORS), 2);
    CHECK(out[0].status == CORIO_EIO && out[1].status == CORIO_ECANCELED);
    CHECK(out[2].status == 0 && out[2].result == f[2]);
    rm(f, 3);
    return NULL;
}

Test(compose_futures, gather_modes) { run_main(gather_modes_main, NULL); }

static corio_future *g_f[3];

static void *gather_victim(void *arg)
{
    (void)arg;
    corio_outcome out[3];
    int rc = corio_gather_futures(g_f, 3, out, 0);
    /* asyncio: cancelling the gather cancels its children */
    CHECK(out[0].status == 0 && out[0].result == g_f[0]);
    CHECK(out[1].status == CORIO_ECANCELED && out[2].status == CORIO_ECANCELED);
    return rc ? corio_fail(rc) : NULL;
}

static void *gather_cancel_main(void *arg)
{
    (void)arg;
    mk(g_f, 3);
    corio_future_set_result(g_f[0], g_f[0]);
    corio_task *t = go(gather_victim, NULL);
    corio_yield();
    CHECK(corio_task_state_of(t) == CORIO_TASK_WAITING);
    corio_cancel(t);
    CHECK_RC(join(t), CORIO_ECANCELED);
    CHECK(corio_future_cancelled(g_f[1]) && corio_future_cancelled(g_f[2]));
    rm(g_f, 3);
    /* the deadline does the same, with CORIO_ETIMEDOUT */
    mk(g_f, 2);
    corio_outcome out[2];
    CHECK_RC(corio_gather_futures_until(g_f, 2, out, 0, corio_deadline_in(MS(2))),
             CORIO_ETIMEDOUT);
    CHECK(corio_future_cancelled(g_f[0]) && corio_future_cancelled(g_f[1]));
    CHECK(out[0].status == CORIO_ECANCELED);
    rm(g_f, 2);
    return NULL;
}

Test(compose_futures, gather_caller_cancelled_or_late_cancels_the_pending)
{
    run_main(gather_cancel_main, NULL);
}

static void free_it(void *f) { corio_future_free(f); }

static void *gather_freed_main(void *arg)
{
    (void)arg;
    mk(g_f, 2);
    corio_call_later(MS(1), free_it, g_f[1], NULL);
    CHECK_RC(corio_gather_futures(g_f, 2, NULL, 0), CORIO_ECLOSED);
    CHECK(!corio_future_done(g_f[0])); /* left as it was */
    corio_future_free(g_f[0]);
    return NULL;
}

Test(compose_futures, gather_future_freed_meanwhile)
{
    run_main(gather_freed_main, NULL);
}

/* No task per future: while 20,000 futures are gathered the loop has the
 * same three tasks it had before (main, the gatherer, this checker). */
enum { MANY = 20000 };
static corio_future **g_many;
static size_t g_tasks_during;

static void *many_gatherer(void *arg)
{
    corio_outcome *out = arg;
    int rc = corio_gather_futures(g_many, MANY, out, 0);
    return rc ? corio_fail(rc) : NULL;
}

static void *many_setter(void *arg)
{
    (void)arg;
    g_tasks_during = corio_all_tasks(NULL, NULL, 0);
    for (size_t i = MANY; i-- > 0;) corio_future_set_result(g_many[i], (void *)i);
    return NULL;
}

static void *many_main(void *arg)
{
    (void)arg;
    g_many = calloc(MANY, sizeof *g_many);
    corio_outcome *out = calloc(MANY, sizeof *out);
    CHECK(g_many && out);
    if (!g_many || !out) return NULL;
    for (size_t i = 0; i < MANY; i++) g_many[i] = corio_future_new();
    size_t before = corio_all_tasks(NULL, NULL, 0); /* main alone */
    corio_task *g = go(many_gatherer, out);
    corio_yield(); /* the gatherer is parked on all of them */
    CHECK(corio_task_state_of(g) == CORIO_TASK_WAITING);
    corio_task *s = go(many_setter, NULL);
    CHECK_RC(join(s), 0);
    CHECK_RC(join(g), 0);
    NOTE(&g_tally, g_tasks_during == before + 2, "%zu tasks during, %zu before",
         g_tasks_during, before);
    size_t bad = 0;
    for (size_t i = 0; i < MANY; i++)
        if (out[i].status != 0 || out[i].result != (void *)i) bad++;
    CHECK(bad == 0);
    /* wait and as_completed over the same, already done: no task either */
    bool *done = calloc(MANY, sizeof *done);
    CHECK_RC(corio_wait_futures(g_many, MANY, CORIO_ALL_COMPLETED, done), MANY);
    CHECK(done && done[0] && done[MANY - 1]);
    free(done);
    for (size_t i = 0; i < MANY; i++) corio_future_free(g_many[i]);
    free(g_many);
    free(out);
    return NULL;
}

Test(compose_futures, no_task_per_future) { run_main(many_main, NULL); }

/* ---- wait ---- */

static void *wait_main(void *arg)
{
    (void)arg;
    corio_future *f[3];
    bool done[3];
    mk(f, 3);
    CHECK_RC(corio_wait_futures(f, 0, CORIO_ALL_COMPLETED, done), CORIO_EINVAL);
    CHECK_RC(corio_wait_futures(f, 3, (corio_wait_mode)7, done), CORIO_EINVAL);
    corio_call_later(MS(1), set_to_self, f[2], NULL);
    CHECK_RC(corio_wait_futures(f, 3, CORIO_FIRST_COMPLETED, done), 1);
    CHECK(!done[0] && !done[1] && done[2]);
    /* a cancelled future is not an exception (asyncio) */
    corio_call_later(MS(1), cancel_fut, f[0], NULL);
    corio_call_later(MS(3), set_eio, f[1], NULL);
    CHECK_RC(corio_wait_futures(f, 3, CORIO_FIRST_EXCEPTION, done), 3);
    rm(f, 3);
    mk(f, 3);
    corio_call_later(MS(1), set_eio, f[1], NULL);
    CHECK_RC(corio_wait_futures(f, 3, CORIO_FIRST_EXCEPTION, done), 1);
    CHECK(done[1] && !done[0] && !done[2]);
    /* our own deadline is not an error: the done set comes back */
    CHECK_RC(corio_wait_futures_until(f, 3, CORIO_ALL_COMPLETED, done,
                                      corio_deadline_in(MS(2))), 1);
    CHECK(!corio_future_done(f[0])); /* wait never cancels */
    rm(f, 3);
    return NULL;
}

Test(compose_futures, wait_modes_and_deadline) { run_main(wait_main, NULL); }

static void *wait_victim(void *arg)
{
    (void)arg;
    bool done[2];
    int rc = corio_wait_futures(g_f, 2, CORIO_ALL_COMPLETED, done);
    CHECK(!done[0] && !done[1]);
    return rc ? corio_fail(rc) : NULL;
}

static void *wait_cancel_main(void *arg)
{
    (void)arg;
    mk(g_f, 2);
    corio_task *t = go(wait_victim, NULL);
    corio_yield();
    corio_cancel(t);
    CHECK_RC(join(t), CORIO_ECANCELED);
    /* test_yield_wait_does_not_shield_cancel: the futures are untouched */
    CHECK(!corio_future_done(g_f[0]) && !corio_future_done(g_f[1]));
    rm(g_f, 2);
    return NULL;
}

Test(compose_futures, wait_caller_cancelled_leaves_futures)
{
    run_main(wait_cancel_main, NULL);
}

/* ---- as_completed ---- */

static void *as_completed_main(void *arg)
{
    (void)arg;
    corio_future *f[3];
    mk(f, 3);
    corio_future_set_result(f[1], NULL); /* done first, yielded first */
    corio_call_later(MS(1), set_to_self, f[2], NULL);
    corio_as_completed it;
    CHECK_RC(corio_as_completed_init_futures(&it, f, 3), 0);
    size_t idx = 99;
    CHECK_RC(corio_as_completed_next(&it, &idx), 0);
    CHECK(idx == 1);
    CHECK_RC(corio_as_completed_next(&it, &idx), 0);
    CHECK(idx == 2);
    corio_call_later(MS(1), set_to_self, f[0], NULL);
    CHECK_RC(corio_as_completed_next(&it, &idx), 0);
    CHECK(idx == 0);
    CHECK_RC(corio_as_completed_next(&it, &idx), CORIO_EOF);
    rm(f, 3);
    /* a deadline ends the iteration and changes nothing */
    mk(f, 2);
    CHECK_RC(corio_as_completed_init_futures(&it, f, 2), 0);
    CHECK_RC(corio_as_completed_next_until(&it, &idx, corio_deadline_in(MS(1))),
             CORIO_ETIMEDOUT);
    CHECK_RC(corio_as_completed_next(&it, &idx), CORIO_ETIMEDOUT); /* sticky */
    CHECK(!corio_future_done(f[0]));
    rm(f, 2);
    corio_future *bad[1] = { NULL };
    CHECK_RC(corio_as_completed_init_futures(&it, bad, 1), CORIO_EINVAL);
    CHECK_RC(corio_as_completed_next(&it, &idx), CORIO_EINVAL);
    return NULL;
}

Test(compose_futures, as_completed_order_and_deadline)
{
    run_main(as_completed_main, NULL);
}

/* ---- shield ---- */

static void *shield_main(void *arg)
{
    (void)arg;
    corio_future *f[1];
    corio_outcome out;
    /* result; error; cancelled by somebody else: all return 0 */
    mk(f, 1);
    corio_call_later(MS(1), set_to_self, f[0], NULL);
    CHECK_RC(corio_shield_future(f[0], &out), 0);
    CHECK(out.status == 0 && out.result == f[0]);
    rm(f, 1);
    mk(f, 1);
    corio_call_later(MS(1), set_eio, f[0], NULL);
    CHECK_RC(corio_shield_future(f[0], &out), 0);
    CHECK(out.status == CORIO_EIO);
    rm(f, 1);
    mk(f, 1);
    corio_call_later(MS(1), cancel_fut, f[0], NULL);
    CHECK_RC(corio_shield_future(f[0], &out), 0);
    CHECK(out.status == CORIO_ECANCELED); /* test_shield_cancel_inner */
    rm(f, 1);
    /* our deadline: we stop, f does not */
    mk(f, 1);
    CHECK_RC(corio_shield_future_until(f[0], &out, corio_deadline_in(MS(1))),
             CORIO_ETIMEDOUT);
    CHECK(out.status == CORIO_EAGAIN && !corio_future_done(f[0]));
    rm(f, 1);
    CHECK_RC(corio_shield_future(NULL, &out), CORIO_EINVAL);
    return NULL;
}

Test(compose_futures, shield_outcomes) { run_main(shield_main, NULL); }

static void *shield_victim(void *arg)
{
    (void)arg;
    corio_outcome out;
    int rc = corio_shield_future(g_f[0], &out);
    CHECK(out.status == CORIO_EAGAIN);
    /* already done: answers at once even though we are cancelled */
    CHECK_RC(corio_shield_future(g_f[1], &out), 0);
    CHECK(out.result == (void *)7);
    return rc ? corio_fail(rc) : NULL;
}

static void *shield_cancel_main(void *arg)
{
    (void)arg;
    mk(g_f, 2);
    corio_future_set_result(g_f[1], (void *)7);
    corio_task *t = go(shield_victim, NULL);
    corio_yield();
    corio_cancel(t);
    CHECK_RC(join(t), CORIO_ECANCELED);
    CHECK(!corio_future_done(g_f[0])); /* test_shield_effect */
    CHECK_RC(corio_future_set_result(g_f[0], NULL), 0);
    rm(g_f, 2);
    return NULL;
}

Test(compose_futures, shield_caller_cancelled_leaves_the_future)
{
    run_main(shield_cancel_main, NULL);
}

/* ---- a task given twice ---- */

static void *quick(void *arg) { return arg; }

static void *dup_tasks_main(void *arg)
{
    (void)arg;
    corio_task *t = go(quick, (void *)1);
    corio_task *u = go(quick, (void *)2);
    corio_task *ts[3] = { t, u, t };
    /* gather would join t twice: refused, nothing consumed */
    CHECK_RC(corio_gather(ts, 3, NULL, 0), CORIO_EINVAL);
    CHECK(ts[0] == t && ts[1] == u && ts[2] == t);
    corio_as_completed it;
    CHECK_RC(corio_as_completed_init(&it, ts, 3), CORIO_EINVAL);
    /* wait consumes nothing: a duplicate is harmless */
    bool done[3];
    CHECK_RC(corio_wait(ts, 3, CORIO_ALL_COMPLETED, done), 3);
    /* more than 16: the sorted check */
    corio_task *many[40];
    for (int i = 0; i < 39; i++) many[i] = go(quick, NULL);
    many[39] = many[5];
    CHECK_RC(corio_gather(many, 40, NULL, 0), CORIO_EINVAL);
    many[39] = go(quick, NULL);
    CHECK_RC(corio_gather(many, 40, NULL, 0), 0);
    CHECK_RC(join(t), 0);
    CHECK_RC(join(u), 0);
    return NULL;
}

Test(compose_futures, a_task_given_twice_is_refused)
{
    run_main(dup_tasks_main, NULL);
}
