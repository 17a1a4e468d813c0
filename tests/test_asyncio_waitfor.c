/*
 * test_asyncio_waitfor.c — CPython's Lib/test/test_asyncio/test_waitfor.py
 * against corio_wait_for / corio_wait_for_task (coro/timeout.c) and
 * futures with deadlines. asyncio.wait_for(coro, t) is corio_wait_for_until(fn,
       * arg, &out, deadline): the return value says whether the wait timed out
 * or was cancelled, out always holds the task's own outcome.
 *
 * Where the CPython case lets a coroutine "ignore" a cancel by catching
 * CancelledError and sleeping on, corio's sticky cancellation needs a
 * shield for the same effect (docs/asyncio-parity.md).
 */
#include "asyncio_util.h"

#define EPSILON CORIO_US(100)

static bool g_exited;

/* SlowTask.run: runs TASK_TIMEOUT whatever cancels arrive. */
#define TASK_TIMEOUT CORIO_MS(100)
static void *slow_run(void *arg)
{
    (void)arg;
    corio_shield_begin();
    corio_sleep(TASK_TIMEOUT);
    corio_shield_end();
    g_exited = true;
    return NULL;
}

static void *wait_for_slow(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    corio_outcome out;
    int rc = corio_wait_for_until(slow_run, NULL, &out, corio_deadline_in(timeout));
    return rc == 0 ? NULL : corio_fail(rc);
}

static void *wait_for_cancelled_main(void *arg)
{
    (void)arg;
    g_exited = false;
    int64_t timeout = TASK_TIMEOUT * 2;
    corio_task *w = go(wait_for_slow, &timeout);
    corio_yield();
    corio_cancel(w);
    CHECK_RC(join(w), CORIO_ECANCELED);
    CHECK(g_exited); /* wait_for waited for the task it cancelled */
    return NULL;
}

Test(asyncio_waitfor, test_asyncio_wait_for_cancelled)
{
    run_main(wait_for_cancelled_main, NULL);
}

static void *wait_for_timeout_main(void *arg)
{
    (void)arg;
    g_exited = false;
    corio_outcome out;
    CHECK_RC(corio_wait_for_until(slow_run, NULL, &out,
                                  corio_deadline_in(TASK_TIMEOUT / 2)), CORIO_ETIMEDOUT);
    CHECK(g_exited);
    return NULL;
}

Test(asyncio_waitfor, test_asyncio_wait_for_timeout)
{
    run_main(wait_for_timeout_main, NULL);
}

static void *future_done_main(void *arg)
{
    (void)arg;
    corio_future *fut = corio_future_new();
    corio_future_set_result(fut, "done");
    int64_t t0 = corio_now();
    void *ret = NULL;
    CHECK_RC(corio_future_wait_until(fut, &ret, corio_deadline_in(0)), 0);
    CHECK(ret && strcmp(ret, "done") == 0);
    CHECK(corio_future_done(fut));
    CHECK(corio_now() - t0 < CORIO_MS(100));
    corio_future_free(fut);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_timeout_less_then_0_or_0_future_done)
{
    run_main(future_done_main, NULL);
}

static bool g_foo_started;
static void *foo_start(void *arg)
{
    (void)arg;
    g_foo_started = true;
    return NULL;
}

static void *coroutine_do_not_started_main(void *arg)
{
    (void)arg;
    g_foo_started = false;
    int64_t t0 = corio_now();
    corio_outcome out;
    CHECK_RC(corio_wait_for_until(foo_start, NULL, &out, corio_deadline_in(0)),
             CORIO_ETIMEDOUT);
    /* Deliberate divergence: asyncio never starts the coroutine; corio
     * runs every spawned task's function (the cancel reaches it at its
     * first suspension point), so foo did start, and ran to its end. */
    CHECK(g_foo_started);
    CHECK(corio_now() - t0 < CORIO_MS(100));
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started)
{
    run_main(coroutine_do_not_started_main, NULL);
}

static int g_foo_running;
static corio_future *g_started;

static void *foo_sleep(void *arg)
{
    (void)arg;
    g_foo_running = 1;
    if (g_started) corio_future_set_result(g_started, NULL);
    int rc = corio_sleep(CORIO_SEC(10));
    g_foo_running = 0;
    return rc == 0 ? "done" : corio_fail(rc);
}

static void *less_then_0_or_0_main(void *arg)
{
    (void)arg;
    int64_t timeouts[2] = { 0, -CORIO_SEC(1) };
    for (int i = 0; i < 2; i++) {
        g_foo_running = -1;
        g_started = corio_future_new();
        corio_task *fut = go(foo_sleep, NULL);
        CHECK_RC(corio_future_wait(g_started, NULL), 0);
        int64_t t0 = corio_now();
        corio_outcome out;
        CHECK_RC(corio_wait_for_task_until(fut, &out, corio_now() + timeouts[i]),
                 CORIO_ETIMEDOUT);
        CHECK(out.status == CORIO_ECANCELED); /* cancelled by the timeout */
        CHECK(g_foo_running == 0);
        CHECK(corio_now() - t0 < CORIO_MS(100));
        corio_future_free(g_started);
        g_started = NULL;
    }
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_timeout_less_then_0_or_0)
{
    run_main(less_then_0_or_0_main, NULL);
}

static void *wait_for_main(void *arg)
{
    (void)arg;
    g_foo_running = -1;
    corio_task *fut = go(foo_sleep, NULL);
    int64_t t0 = corio_now();
    corio_outcome out;
    CHECK_RC(corio_wait_for_task_until(fut, &out, corio_deadline_in(CORIO_MS(20))),
             CORIO_ETIMEDOUT);
    CHECK(out.status == CORIO_ECANCELED);
    CHECK(corio_now() - t0 < CORIO_SEC(2));
    CHECK(g_foo_running == 0);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for) { run_main(wait_for_main, NULL); }

static void *coro_done(void *arg) { (void)arg; return "done"; }

static void *wait_for_blocking_main(void *arg)
{
    (void)arg;
    corio_outcome out;
    CHECK_RC(corio_wait_for(coro_done, NULL, &out), 0);
    CHECK(out.status == 0 && strcmp(out.result, "done") == 0);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_blocking)
{
    run_main(wait_for_blocking_main, NULL);
}

static corio_future *g_fut;
static void set_ok(void *arg) { corio_future_set_result(g_fut, arg); }

static void *wait_for_race_condition_main(void *arg)
{
    (void)arg;
    g_fut = corio_future_new();
    /* loop.call_later(0.1, fut.set_result, "ok"): a plain timer callback */
    CHECK_RC(corio_call_later(CORIO_MS(10), set_ok, "ok", NULL), 0);
    void *res = NULL;
    CHECK_RC(corio_future_wait_until(g_fut, &res, corio_deadline_in(CORIO_SEC(5))), 0);
    CHECK(res && strcmp(res, "ok") == 0);
    corio_future_free(g_fut);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_race_condition)
{
    run_main(wait_for_race_condition_main, NULL);
}

static void *inner_returns_1(void *arg)
{
    (void)arg;
    NOTE(&g_tally, corio_sleep(CORIO_SEC(1)) == CORIO_ECANCELED, "not cancelled");
    return (void *)1;
}

static void *cancellation_race_condition_main(void *arg)
{
    (void)arg;
    corio_outcome out;
    int rc = corio_wait_for_until(inner_returns_1, NULL, &out,
                                  corio_deadline_in(CORIO_MS(10)));
    /* asyncio returns the result of a task that swallowed the cancel;
     * corio reports the timeout and still hands over the result. */
    CHECK(rc == CORIO_ETIMEDOUT);
    CHECK(out.result == (void *)1);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_cancellation_race_condition)
{
    run_main(cancellation_race_condition_main, NULL);
}

static bool g_task_done;

static void *inner_cleanup(void *arg)
{
    (void)arg;
    int rc = corio_sleep(CORIO_SEC(10));
    if (rc == CORIO_ECANCELED) {
        corio_shield_begin(); /* except CancelledError: sleep, re-raise */
        corio_sleep(EPSILON);
        corio_shield_end();
    }
    g_task_done = true;
    return rc == 0 ? NULL : corio_fail(rc);
}

static void *waits_for_task_cancellation_main(void *arg)
{
    (void)arg;
    g_task_done = false;
    corio_task *inner = go(inner_cleanup, NULL);
    corio_outcome out;
    CHECK_RC(corio_wait_for_task_until(inner, &out, corio_deadline_in(EPSILON)),
             CORIO_ETIMEDOUT);
    CHECK(g_task_done);
    CHECK(out.status == CORIO_ECANCELED); /* the chained CancelledError */
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_waits_for_task_cancellation)
{
    run_main(waits_for_task_cancellation_main, NULL);
}

static void *waits_w_timeout_0_main(void *arg)
{
    (void)arg;
    g_task_done = false;
    corio_task *inner = go(inner_cleanup, NULL);
    corio_sleep(EPSILON);
    corio_outcome out;
    CHECK_RC(corio_wait_for_task_until(inner, &out, corio_deadline_in(0)),
             CORIO_ETIMEDOUT);
    CHECK(g_task_done);
    CHECK(out.status == CORIO_ECANCELED);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_waits_for_task_cancellation_w_timeout_0)
{
    run_main(waits_w_timeout_0_main, NULL);
}

static void *inner_raises(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_MS(200));
    return corio_fail(CORIO_EIO); /* finally: raise FooException */
}

static void *reraises_main(void *arg)
{
    (void)arg;
    corio_task *inner = go(inner_raises, NULL);
    corio_outcome out;
    CHECK_RC(corio_wait_for_task_until(inner, &out, corio_deadline_in(EPSILON)),
             CORIO_ETIMEDOUT);
    CHECK(out.status == CORIO_EIO); /* the task's own error is not lost */
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_reraises_exception_during_cancellation)
{
    run_main(reraises_main, NULL);
}

static void *inner_42(void *arg)
{
    (void)arg;
    if (corio_sleep(CORIO_MS(30)) == CORIO_ECANCELED) {
        corio_shield_begin(); /* holds up the cancellation, twice */
        corio_sleep(CORIO_MS(30));
        corio_sleep(CORIO_MS(30));
        corio_shield_end();
    }
    return (void *)42;
}

static corio_outcome g_out;

static void *wait_inner(void *arg)
{
    int rc = corio_wait_for_task_until(arg, &g_out, corio_deadline_in(CORIO_MS(10)));
    return corio_fail(rc ? rc : CORIO_EIO);
}

static void *self_cancellation_main(void *arg)
{
    (void)arg;
    corio_task *inner = go(inner_42, NULL);
    corio_task *task = go(wait_inner, inner);
    corio_sleep(CORIO_MS(20));
    corio_cancel(task);
    /* The wait ends (timed out first, then cancelled while it waited for
     * inner to stop); inner still ran to its 42. corio's wait_for always
     * waits for the task it cancelled, so inner is finished by now. */
    int st = join(task);
    CHECK(st == CORIO_ETIMEDOUT || st == CORIO_ECANCELED);
    CHECK(g_out.result == (void *)42);
    return NULL;
}

Test(asyncio_waitfor, test_wait_for_self_cancellation)
{
    run_main(self_cancellation_main, NULL);
}

static corio_future *g_never;

static void *blocking_coroutine(void *arg)
{
    (void)arg;
    int rc = corio_future_wait(g_never, NULL); /* never set */
    return corio_fail(rc);
}

static void *wait_task_fn(void *arg)
{
    int64_t deadline = *(int64_t *)arg;
    corio_task *t = go(blocking_coroutine, NULL);
    int rc = corio_wait_for_task_until(t, &g_out, deadline);
    return corio_fail(rc);
}

static void cb_cancel(void *t) { corio_cancel(t); }

static void cancel_wait_for(int64_t deadline)
{
    g_never = corio_future_new();
    memset(&g_out, 0, sizeof g_out);
    corio_task *wait = go(wait_task_fn, &deadline);
    corio_call_soon(cb_cancel, wait);
    CHECK_RC(join(wait), CORIO_ECANCELED);
    /* Python issue #23219: cancelling the wait also cancels the task. */
    CHECK(g_out.status == CORIO_ECANCELED);
    corio_future_free(g_never);
}

static void *cancel_blocking_main(void *arg)
{
    (void)arg;
    cancel_wait_for(CORIO_NEVER);
    return NULL;
}

static void *cancel_wait_for_main(void *arg)
{
    (void)arg;
    cancel_wait_for(corio_deadline_in(CORIO_SEC(60)));
    return NULL;
}

Test(asyncio_waitfor, test_cancel_blocking_wait_for)
{
    run_main(cancel_blocking_main, NULL);
}

Test(asyncio_waitfor, test_cancel_wait_for)
{
    run_main(cancel_wait_for_main, NULL);
}
