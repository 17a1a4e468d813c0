/*
 * test_asyncio_tasks.c — cases of CPython's Lib/test/test_asyncio/
 * test_tasks.py (and of the asyncio calls issue 11 added: cancel with a
 * message, Future.cancel, call_later / call_at) against corio's tasks,
 * futures, wait and shield. Only part of test_tasks.py is ported so far;
 * docs/asyncio-parity.md says which part.
 */
#include "asyncio_util.h"

#define MS CORIO_MS

static void *sleeper(void *arg)
{
    int rc = corio_sleep(MS((intptr_t)arg));
    return rc == 0 ? arg : corio_fail(rc);
}

static void *failer(void *arg)
{
    int rc = corio_sleep(MS((intptr_t)arg));
    return corio_fail(rc ? rc : CORIO_EIO);
}

/* ---- asyncio.wait ---- */

static void *wait_errors_main(void *arg)
{
    (void)arg;
    /* asyncio.wait(set()) is ValueError: waiting on nothing is a bug. */
    bool done[1];
    CHECK_RC(corio_wait(NULL, 0, CORIO_ALL_COMPLETED, done), CORIO_EINVAL);
    corio_task *t = go(sleeper, (void *)1);
    CHECK_RC(corio_wait(&t, 0, CORIO_FIRST_COMPLETED, done), CORIO_EINVAL);
    /* a bad return_when */
    CHECK_RC(corio_wait(&t, 1, (corio_wait_mode)42, done), CORIO_EINVAL);
    CHECK_RC(join(t), 0);
    return NULL;
}

Test(asyncio_tasks, test_wait_errors) { run_main(wait_errors_main, NULL); }

static void *wait_first_completed_main(void *arg)
{
    (void)arg;
    corio_task *t[2] = { go(sleeper, (void *)1000), go(sleeper, (void *)5) };
    bool done[2];
    CHECK_RC(corio_wait(t, 2, CORIO_FIRST_COMPLETED, done), 1);
    CHECK(!done[0] && done[1]);
    CHECK(!corio_task_done(t[0]) && corio_task_done(t[1]));
    corio_cancel(t[0]);
    CHECK_RC(join(t[0]), CORIO_ECANCELED);
    CHECK_RC(join(t[1]), 0);
    return NULL;
}

Test(asyncio_tasks, test_wait_first_completed)
{
    run_main(wait_first_completed_main, NULL);
}

static void *wait_first_exception_main(void *arg)
{
    (void)arg;
    corio_task *t[2] = { go(sleeper, (void *)1000), go(failer, (void *)0) };
    bool done[2];
    CHECK_RC(corio_wait(t, 2, CORIO_FIRST_EXCEPTION, done), 1);
    CHECK(!done[0] && done[1]);
    corio_cancel(t[0]);
    CHECK_RC(join(t[0]), CORIO_ECANCELED);
    CHECK_RC(join(t[1]), CORIO_EIO);
    return NULL;
}

Test(asyncio_tasks, test_wait_first_exception)
{
    run_main(wait_first_exception_main, NULL);
}

static void *wait_with_timeout_main(void *arg)
{
    (void)arg;
    corio_task *t[2] = { go(sleeper, (void *)1), go(sleeper, (void *)1000) };
    bool done[2];
    CHECK_RC(corio_wait_until(t, 2, CORIO_ALL_COMPLETED,
                              done, corio_deadline_in(MS(20))), 1);
    CHECK(done[0] && !done[1]);
    corio_cancel(t[1]);
    join(t[0]);
    join(t[1]);
    return NULL;
}

Test(asyncio_tasks, test_wait_with_timeout)
{
    run_main(wait_with_timeout_main, NULL);
}

/* ---- cancel ---- */

static void *cancel_current_task_body(void *arg)
{
    (void)arg;
    corio_cancel(corio_current());
    /* Not delivered until a suspension point. */
    NOTE(&g_tally, corio_cancelled(), "not pending");
    int rc = corio_sleep(0);
    NOTE(&g_tally, rc == CORIO_ECANCELED, "sleep(0) = %d", rc);
    return NULL;
}

static void *cancel_current_task_main(void *arg)
{
    (void)arg;
    CHECK_RC(join(go(cancel_current_task_body, NULL)), CORIO_ECANCELED);
    return NULL;
}

Test(asyncio_tasks, test_cancel_current_task)
{
    run_main(cancel_current_task_main, NULL);
}

static void *cancel_msg_body(void *arg)
{
    (void)arg;
    int rc = corio_sleep(CORIO_SEC(10));
    NOTE(&g_tally, rc == CORIO_ECANCELED, "sleep = %d", rc);
    const char *m = corio_cancel_message(corio_current());
    NOTE(&g_tally, m && strcmp(m, "my message") == 0, "message %s", m ? m : "(null)");
    return NULL;
}

static void *task_cancel_message_getter_main(void *arg)
{
    (void)arg;
    corio_task *t = go(cancel_msg_body, NULL);
    corio_yield();
    CHECK(corio_cancel_message(t) == NULL);
    CHECK_RC(corio_cancel_msg(t, "my message"), 0);
    CHECK_RC(corio_cancel_msg(t, "second"), 0); /* the first reason stays */
    CHECK_RC(corio_task_wait_until(t, CORIO_NEVER), 0);
    CHECK(strcmp(corio_cancel_message(t), "my message") == 0);
    CHECK_RC(join(t), CORIO_ECANCELED);
    corio_task *u = go(sleeper, (void *)1);
    corio_cancel(u);
    CHECK(corio_cancel_message(u) == NULL); /* cancelled without one */
    join(u);
    return NULL;
}

Test(asyncio_tasks, test_task_cancel_message_getter)
{
    run_main(task_cancel_message_getter_main, NULL);
}

/* ---- shield ---- */

static void *shield_cancel_outer_main(void *arg)
{
    (void)arg;
    corio_task *inner = go(sleeper, (void *)20);
    corio_task *self = corio_current();
    /* Cancel ourselves: the shielded wait stops, the inner task does not. */
    corio_cancel(self);
    corio_outcome out;
    CHECK_RC(corio_shield_join(inner, &out, NULL), CORIO_ECANCELED);
    CHECK(out.status == CORIO_EAGAIN); /* still running, handed to a reaper */
    return NULL;
}

static void *shield_cancel_outer_runner(void *arg)
{
    (void)arg;
    corio_task *t = go(shield_cancel_outer_main, NULL);
    NOTE(&g_tally, join(t) == CORIO_ECANCELED, "status");
    return NULL;
}

Test(asyncio_tasks, test_shield_cancel_outer)
{
    run_main(shield_cancel_outer_runner, NULL);
}

static void *shield_result_main(void *arg)
{
    (void)arg;
    corio_task *inner = go(sleeper, (void *)1);
    corio_outcome out;
    CHECK_RC(corio_shield_join(inner, &out, NULL), 0);
    CHECK(out.status == 0 && out.result == (void *)1);
    return NULL;
}

Test(asyncio_tasks, test_shield_result) { run_main(shield_result_main, NULL); }

/* ---- Future.cancel / cancelled (asyncio's Future API) ---- */

static corio_future *g_fut;

static void *fut_waiter(void *arg)
{
    (void)arg;
    int rc = corio_future_wait(g_fut, NULL);
    return rc == 0 ? NULL : corio_fail(rc);
}

static void *future_cancel_main(void *arg)
{
    (void)arg;
    g_fut = corio_future_new();
    corio_task *w = go(fut_waiter, NULL);
    corio_yield();
    CHECK(!corio_future_cancelled(g_fut));
    CHECK_RC(corio_future_cancel(g_fut), 0);
    CHECK(corio_future_done(g_fut));
    CHECK(corio_future_cancelled(g_fut));
    CHECK_RC(corio_future_cancel(g_fut), CORIO_EALREADY);
    CHECK_RC(corio_future_set_result(g_fut, NULL), CORIO_EALREADY);
    CHECK_RC(join(w), CORIO_ECANCELED);
    CHECK_RC(corio_future_wait(g_fut, NULL), CORIO_ECANCELED);
    corio_future_free(g_fut);

    g_fut = corio_future_new();
    corio_future_set_result(g_fut, (void *)1);
    CHECK_RC(corio_future_cancel(g_fut), CORIO_EALREADY);
    CHECK(!corio_future_cancelled(g_fut));
    corio_future_free(g_fut);
    return NULL;
}

Test(asyncio_tasks, test_future_cancel) { run_main(future_cancel_main, NULL); }

/* ---- call_later / call_at ---- */

static void note_order(void *arg) { rec((int)(intptr_t)arg); }

static void *call_later_main(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    int64_t at = t0 + MS(5);
    /* Same deadline: the order of scheduling. Earlier deadline first. */
    CHECK_RC(corio_call_at(at, note_order, (void *)2, NULL), 0);
    CHECK_RC(corio_call_at(at, note_order, (void *)3, NULL), 0);
    CHECK_RC(corio_call_later(MS(1), note_order, (void *)1, NULL), 0);
    corio_call_handle *h = NULL;
    CHECK_RC(corio_call_later(MS(2), note_order, (void *)99, &h), 0);
    CHECK(corio_call_pending(h));
    CHECK(corio_call_when(h) >= t0 + MS(2));
    CHECK_RC(corio_call_cancel(h), 0); /* cancelled in time: never runs */
    corio_call_handle *kept = NULL;
    CHECK_RC(corio_call_later(0, note_order, (void *)4, &kept), 0);
    CHECK_RC(corio_sleep(MS(20)), 0);
    /* 4 was due at once, then 1, then 2 and 3 in scheduling order. */
    CHECK(order_is(4, 4, 1, 2, 3));
    CHECK(!corio_call_pending(kept));
    CHECK_RC(corio_call_cancel(kept), CORIO_EALREADY); /* it ran; freed now */
    CHECK(corio_now() - t0 >= MS(5));
    CHECK_RC(corio_call_later(0, NULL, NULL, NULL), CORIO_EINVAL);
    return NULL;
}

Test(asyncio_tasks, test_call_later_and_call_at)
{
    run_main(call_later_main, NULL);
}

static void self_cancel(void *arg)
{
    corio_call_handle **h = arg;
    rec(1);
    /* A callback may give back its own handle. */
    NOTE(&g_tally, corio_call_cancel(*h) == CORIO_EALREADY, "cancel in cb");
}

static void *call_later_many_main(void *arg)
{
    (void)arg;
    /* No task and no stack per timer: 100,000 pending timers. */
    enum { N = 100000 };
    for (int i = 0; i < N; i++)
        CHECK_RC(corio_call_later(MS(1) + i, note_order, (void *)0, NULL), 0);
    corio_call_handle *h = NULL;
    CHECK_RC(corio_call_later(MS(2), self_cancel, &h, &h), 0);
    int64_t give_up = corio_deadline_in(WAIT_LIMIT);
    while (g_norder < 64 && corio_now() < give_up) corio_sleep(MS(1));
    CHECK_RC(corio_sleep(MS(10)), 0);
    CHECK(g_norder == 64); /* rec() stops counting at 64 */
    return NULL;
}

Test(asyncio_tasks, test_call_later_many_timers_no_stacks)
{
    run_main(call_later_many_main, NULL);
}

static void never(void *arg)
{
    (void)arg;
    cr_assert_fail("a callback dropped at loop close ran");
}

static void *leave_pending(void *arg)
{
    corio_call_handle **h = arg;
    corio_call_later(CORIO_SEC(60), never, NULL, NULL); /* loop frees it */
    corio_call_later(CORIO_SEC(60), never, NULL, h);    /* we free it */
    return NULL;
}

Test(asyncio_tasks, test_call_later_pending_at_loop_close)
{
    corio_call_handle *h = NULL;
    corio_loop *loop = corio_loop_new(NULL);
    cr_assert_not_null(loop);
    corio_task *t = corio_loop_spawn(loop, leave_pending, &h, NULL);
    cr_assert_eq(corio_loop_run_until_complete(loop, t, NULL), 0);
    corio_loop_close(loop);
    cr_assert_not_null(h);
    cr_assert_eq(corio_call_pending(h), false);
    cr_assert_eq(corio_call_cancel(h), CORIO_EALREADY);
}

/* ---- gather / wait / as_completed / shield over futures ---- */

static corio_future *g_f[3];
static void set_f(void *arg) { corio_future_set_result(arg, arg); }
static void fail_f(void *arg) { corio_future_set_error(arg, CORIO_EIO); }

static void *gather_futures_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) g_f[i] = corio_future_new();
    /* finish in reverse order; gather still gives them in order */
    corio_call_later(MS(3), set_f, g_f[0], NULL);
    corio_call_later(MS(2), set_f, g_f[1], NULL);
    corio_call_later(MS(1), set_f, g_f[2], NULL);
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = corio_future_task(g_f[i], NULL);
    corio_outcome out[3];
    CHECK_RC(corio_gather(t, 3, out, 0), 0);
    for (int i = 0; i < 3; i++) CHECK(out[i].status == 0 && out[i].result == g_f[i]);
    for (int i = 0; i < 3; i++) corio_future_free(g_f[i]);
    return NULL;
}

Test(asyncio_tasks, test_gather_futures) { run_main(gather_futures_main, NULL); }

static void *gather_cancel_futures_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) g_f[i] = corio_future_new();
    corio_call_later(MS(1), fail_f, g_f[0], NULL);
    corio_task *t[2] = { corio_future_task(g_f[0], NULL),
                         corio_future_task(g_f[1], NULL) };
    corio_outcome out[2];
    /* The first failure cancels the rest: the pending future is cancelled
     * too, as a cancelled gather cancels its futures in asyncio. */
    CHECK_RC(corio_gather(t, 2, out, CORIO_GATHER_CANCEL_ON_ERROR), CORIO_EIO);
    CHECK(out[1].status == CORIO_ECANCELED);
    CHECK(corio_future_cancelled(g_f[1]));
    for (int i = 0; i < 2; i++) corio_future_free(g_f[i]);
    return NULL;
}

Test(asyncio_tasks, test_gather_cancel_cancels_futures)
{
    run_main(gather_cancel_futures_main, NULL);
}

static void *wait_as_completed_futures_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) g_f[i] = corio_future_new();
    corio_task *t[2] = { corio_future_task(g_f[0], NULL),
                         corio_future_task(g_f[1], NULL) };
    corio_call_later(MS(1), set_f, g_f[1], NULL);
    bool done[2];
    CHECK_RC(corio_wait(t, 2, CORIO_FIRST_COMPLETED, done), 1);
    CHECK(!done[0] && done[1]);
    corio_call_later(MS(1), set_f, g_f[0], NULL);
    corio_as_completed it;
    CHECK_RC(corio_as_completed_init(&it, t, 2), 0);
    size_t idx;
    CHECK_RC(corio_as_completed_next(&it, &idx), 0);
    CHECK(idx == 1); /* already done: first */
    CHECK_RC(corio_as_completed_next(&it, &idx), 0);
    CHECK(idx == 0);
    CHECK_RC(corio_as_completed_next(&it, &idx), CORIO_EOF);
    corio_as_completed_end(&it);
    void *r;
    CHECK_RC(corio_join(t[0], &r), 0);
    CHECK(r == g_f[0]);
    CHECK_RC(join(t[1]), 0);
    /* shield over a future: the caller's timeout does not cancel it */
    g_f[2] = corio_future_new();
    corio_outcome out;
    CHECK_RC(corio_shield_join_until(corio_future_task(g_f[2], NULL),
                                     &out, NULL, corio_deadline_in(MS(1))),
             CORIO_ETIMEDOUT);
    CHECK(!corio_future_done(g_f[2]));
    corio_future_set_result(g_f[2], NULL); /* the reaper's task ends */
    for (int i = 0; i < 3; i++) corio_future_free(g_f[i]); /* safe once set */
    return NULL;
}

Test(asyncio_tasks, test_wait_and_as_completed_futures)
{
    run_main(wait_as_completed_futures_main, NULL);
}
