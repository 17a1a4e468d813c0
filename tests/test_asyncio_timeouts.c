/*
 * test_asyncio_timeouts.c — CPython's Lib/test/test_asyncio/
 * test_timeouts.py, case by case, against corio's timeout scopes
 * (coro/timeout.c). `async with asyncio.timeout(d) as cm` is
 * corio_timeout_begin / corio_timeout_end; the TimeoutError the block
 * raises is end's CORIO_ETIMEDOUT, and the CancelledError seen inside is
 * the CORIO_ETIMEDOUT of the blocking call the scope interrupted.
 *
 * Two rules of corio's shape some cases (docs/asyncio-parity.md):
 * an expiry is sticky inside its scope (every later blocking call of the
 * block fails too, as a cancel does), and cancellation is sticky, so
 * cleanup that must block runs in a shield; a scope opened inside the
 * shield bounds it.
 */
#include "asyncio_util.h"

#define MS CORIO_MS

static void *timeout_basic_main(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(10)));
    CHECK_RC(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT);
    CHECK(corio_timeout_expired(&cm));
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_basic) { run_main(timeout_basic_main, NULL); }

static void *timeout_at_basic_main(void *arg)
{
    (void)arg;
    int64_t deadline = corio_now() + MS(10);
    corio_timeout cm;
    corio_timeout_begin(&cm, deadline);
    CHECK_RC(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    CHECK(corio_timeout_when(&cm) == deadline);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_at_basic)
{
    run_main(timeout_at_basic_main, NULL);
}

static void *nested_timeouts_main(void *arg)
{
    (void)arg;
    int64_t deadline = corio_now() + MS(10);
    corio_timeout cm1, cm2;
    corio_timeout_begin(&cm1, deadline);
    corio_timeout_begin(&cm2, deadline);
    CHECK_RC(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT); /* "cancelled" */
    /* Only the outermost of equal deadlines reports the expiry. asyncio
     * also says cm2.expired(); corio's expired() means "end reports it". */
    CHECK_RC(corio_timeout_end(&cm2), 0);
    CHECK(corio_timeout_expired(&cm1));
    CHECK_RC(corio_timeout_end(&cm1), CORIO_ETIMEDOUT);
    return NULL;
}

Test(asyncio_timeouts, test_nested_timeouts)
{
    run_main(nested_timeouts_main, NULL);
}

static void *waiter_cancelled_main(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(10)));
    bool cancelled = corio_sleep(CORIO_SEC(10)) == CORIO_ETIMEDOUT;
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    CHECK(cancelled);
    return NULL;
}

Test(asyncio_timeouts, test_waiter_cancelled)
{
    run_main(waiter_cancelled_main, NULL);
}

static void *timeout_not_called_main(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(CORIO_SEC(10)));
    CHECK_RC(corio_sleep(MS(10)), 0);
    CHECK_RC(corio_timeout_end(&cm), 0);
    int64_t t1 = corio_now();
    CHECK(!corio_timeout_expired(&cm));
    CHECK(t1 - t0 < CORIO_SEC(2));
    CHECK(corio_timeout_when(&cm) > t1);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_not_called)
{
    run_main(timeout_not_called_main, NULL);
}

static void *timeout_disabled_main(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, CORIO_NEVER); /* timeout(None) */
    CHECK_RC(corio_sleep(MS(10)), 0);
    CHECK_RC(corio_timeout_end(&cm), 0);
    CHECK(!corio_timeout_expired(&cm));
    CHECK(corio_timeout_when(&cm) == CORIO_NEVER);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_disabled)
{
    run_main(timeout_disabled_main, NULL);
}

/* timeout_at(None) is the same call in C. */
Test(asyncio_timeouts, test_timeout_at_disabled)
{
    run_main(timeout_disabled_main, NULL);
}

static void *timeout_zero_main(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(0));
    CHECK_RC(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    int64_t t1 = corio_now();
    CHECK(t1 - t0 < CORIO_SEC(2));
    CHECK(t0 <= corio_timeout_when(&cm) && corio_timeout_when(&cm) <= t1);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_zero) { run_main(timeout_zero_main, NULL); }

static void *timeout_zero_sleep_zero_main(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(0));
    /* sleep(0) is a suspension point: it reports the expired scope. */
    CHECK_RC(corio_sleep(0), CORIO_ETIMEDOUT);
    CHECK(corio_timeout_expired(&cm));
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    int64_t t1 = corio_now();
    CHECK(t1 - t0 < CORIO_SEC(2));
    CHECK(t0 <= corio_timeout_when(&cm) && corio_timeout_when(&cm) <= t1);

    /* And so is a plain yield: a loop that only yields sees its deadline
     * (the issue-11 case behind this one). */
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(MS(5)));
    int rc = 0;
    int64_t give_up = corio_deadline_in(WAIT_LIMIT);
    while (rc == 0 && corio_now() < give_up) rc = corio_yield();
    CHECK_RC(rc, CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&s), CORIO_ETIMEDOUT);
    /* Outside the scope a yield is a yield again. */
    CHECK_RC(corio_yield(), 0);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_zero_sleep_zero)
{
    run_main(timeout_zero_sleep_zero_main, NULL);
}

static void *timeout_in_the_past_sleep_zero_main(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    corio_timeout cm;
    corio_timeout_begin(&cm, t0 - CORIO_SEC(11));
    CHECK_RC(corio_sleep(0), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    int64_t t1 = corio_now();
    CHECK(t1 - t0 < CORIO_SEC(2));
    CHECK(t0 >= corio_timeout_when(&cm));
    return NULL;
}

Test(asyncio_timeouts, test_timeout_in_the_past_sleep_zero)
{
    run_main(timeout_in_the_past_sleep_zero_main, NULL);
}

static void *foreign_exception_passed_main(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(10)));
    int err = CORIO_EINVAL; /* raise KeyError */
    CHECK_RC(corio_timeout_end(&cm), 0);
    CHECK(err == CORIO_EINVAL);
    CHECK(!corio_timeout_expired(&cm));
    return NULL;
}

Test(asyncio_timeouts, test_foreign_exception_passed)
{
    run_main(foreign_exception_passed_main, NULL);
}

/* crash(): its sleep is interrupted, then its cleanup fails on its own. */
static int crash(void)
{
    int rc = corio_sleep(CORIO_SEC(1));
    (void)rc;
    return CORIO_EIO; /* 1/0 in the finally */
}

static void *foreign_exception_on_timeout_main(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(10)));
    int err = crash();
    int end = corio_timeout_end(&cm);
    /* The foreign error is not swallowed by the timeout: the caller sees
     * crash()'s own code, and the scope says it expired as well. */
    CHECK(err == CORIO_EIO);
    CHECK(end == CORIO_ETIMEDOUT);
    return NULL;
}

Test(asyncio_timeouts, test_foreign_exception_on_timeout)
{
    run_main(foreign_exception_on_timeout_main, NULL);
}

static void *foreign_cancel_body(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(CORIO_SEC(10)));
    corio_cancel(corio_current());
    int rc = corio_sleep(CORIO_SEC(10));
    NOTE(&g_tally, rc == CORIO_ECANCELED, "sleep = %d", rc);
    NOTE(&g_tally, corio_timeout_end(&cm) == 0, "end reported a timeout");
    NOTE(&g_tally, !corio_timeout_expired(&cm), "expired");
    return NULL;
}

static void *foreign_cancel_main(void *arg)
{
    (void)arg;
    CHECK_RC(join(go(foreign_cancel_body, NULL)), CORIO_ECANCELED);
    return NULL;
}

Test(asyncio_timeouts, test_foreign_cancel_doesnt_timeout_if_not_expired)
{
    run_main(foreign_cancel_main, NULL);
}

static void *outer_body(void *arg)
{
    (void)arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(1)));
    NOTE(&g_tally, corio_sleep(CORIO_SEC(10)) == CORIO_ETIMEDOUT, "sleep");
    NOTE(&g_tally, corio_timeout_end(&cm) == CORIO_ETIMEDOUT, "end");
    return NULL;
}

static void *outer_task_is_not_cancelled_main(void *arg)
{
    (void)arg;
    corio_task *task = go(outer_body, NULL);
    CHECK_RC(corio_task_wait_until(task, CORIO_NEVER), 0);
    CHECK(!corio_task_cancelled(task));
    CHECK(corio_task_done(task));
    CHECK_RC(join(task), 0);
    return NULL;
}

Test(asyncio_timeouts, test_outer_task_is_not_cancelled)
{
    run_main(outer_task_is_not_cancelled_main, NULL);
}

/* time.sleep(): keep the CPU (and the loop) busy for a while. */
static void busy_for(int64_t ns)
{
    int64_t end = corio_now() + ns;
    while (corio_now() < end) {}
}

static void *nested_timeouts_concurrent_main(void *arg)
{
    (void)arg;
    corio_timeout outer, inner;
    corio_timeout_begin(&outer, corio_deadline_in(MS(2)));
    corio_timeout_begin(&inner, corio_deadline_in(MS(100)));
    busy_for(MS(10));
    CHECK_RC(corio_sleep(CORIO_SEC(1)), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&inner), 0); /* the outer one expired */
    CHECK_RC(corio_timeout_end(&outer), CORIO_ETIMEDOUT);
    return NULL;
}

Test(asyncio_timeouts, test_nested_timeouts_concurrent)
{
    run_main(nested_timeouts_concurrent_main, NULL);
}

static void *nested_timeouts_loop_busy_main(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    corio_timeout outer, inner;
    corio_timeout_begin(&outer, corio_deadline_in(MS(100)));  /* (1) */
    corio_timeout_begin(&inner, corio_deadline_in(MS(10)));   /* (2) */
    busy_for(MS(100));
    CHECK_RC(corio_sleep(CORIO_SEC(1)), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&inner), CORIO_ETIMEDOUT);     /* caught by (2) */
    CHECK_RC(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT);    /* stopped by (1) */
    CHECK_RC(corio_timeout_end(&outer), CORIO_ETIMEDOUT);
    int64_t t1 = corio_now();
    CHECK(t0 <= t1 && t1 <= t0 + CORIO_SEC(1));
    return NULL;
}

Test(asyncio_timeouts, test_nested_timeouts_loop_busy)
{
    run_main(nested_timeouts_loop_busy_main, NULL);
}

static corio_future *g_fut;

static void *reschedule_f(void *arg)
{
    int64_t *d = arg;
    corio_timeout cm;
    corio_timeout_begin(&cm, d[0]);
    /* corio: only the owning task may move its scope (EPERM otherwise),
     * so the reschedules the CPython case makes from outside are made
     * here, and the main task checks what they did. */
    NOTE(&g_tally, corio_timeout_when(&cm) == d[0], "when != deadline1");
    NOTE(&g_tally, corio_timeout_reschedule(&cm, d[1]) == 0, "reschedule");
    NOTE(&g_tally, corio_timeout_when(&cm) == d[1], "when != deadline2");
    NOTE(&g_tally, corio_timeout_reschedule(&cm, CORIO_NEVER) == 0, "resched");
    NOTE(&g_tally, corio_timeout_when(&cm) == CORIO_NEVER, "when != None");
    corio_future_set_result(g_fut, &cm);
    int rc = corio_sleep(CORIO_SEC(50));
    NOTE(&g_tally, rc == CORIO_ECANCELED, "sleep = %d", rc);
    NOTE(&g_tally, !corio_timeout_expired(&cm), "expired");
    corio_timeout_end(&cm);
    return NULL;
}

static void *reschedule_main(void *arg)
{
    (void)arg;
    g_fut = corio_future_new();
    int64_t d[2];
    d[0] = corio_now() + CORIO_SEC(10);
    d[1] = d[0] + CORIO_SEC(20);
    corio_task *task = go(reschedule_f, d);
    void *cm = NULL;
    CHECK_RC(corio_future_wait(g_fut, &cm), 0);
    CHECK_RC(corio_timeout_reschedule(cm, d[1]), CORIO_EPERM);
    corio_cancel(task);
    CHECK_RC(join(task), CORIO_ECANCELED);
    corio_future_free(g_fut);
    return NULL;
}

Test(asyncio_timeouts, test_reschedule) { run_main(reschedule_main, NULL); }

static void *reschedule_earlier_main(void *arg)
{
    (void)arg;
    /* Moving a running scope's deadline into the past stops the block at
     * its next blocking call; moving it later lets the block run on. */
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(1)));
    CHECK_RC(corio_timeout_reschedule(&cm, corio_deadline_in(CORIO_SEC(10))), 0);
    CHECK_RC(corio_sleep(MS(5)), 0);
    CHECK_RC(corio_timeout_reschedule(&cm, corio_now() - 1), 0);
    CHECK_RC(corio_yield(), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&cm), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_reschedule(&cm, CORIO_NEVER), CORIO_EINVAL);
    return NULL;
}

Test(asyncio_timeouts, test_reschedule_earlier_and_later)
{
    run_main(reschedule_earlier_main, NULL);
}

static void *nested_timeout_in_finally_main(void *arg)
{
    (void)arg;
    corio_timeout outer, inner;
    corio_timeout_begin(&outer, corio_deadline_in(MS(10)));
    CHECK_RC(corio_sleep(CORIO_SEC(1)), CORIO_ETIMEDOUT);
    /* finally: asyncio's expiry is one-shot, corio's sticky inside its
     * scope, so the cleanup shields itself and bounds itself. */
    corio_shield_begin();
    corio_timeout_begin(&inner, corio_deadline_in(MS(10)));
    CHECK_RC(corio_sleep(CORIO_SEC(10)), CORIO_ETIMEDOUT);
    CHECK_RC(corio_timeout_end(&inner), CORIO_ETIMEDOUT);
    corio_shield_end();
    CHECK_RC(corio_timeout_end(&outer), CORIO_ETIMEDOUT);
    return NULL;
}

Test(asyncio_timeouts, test_nested_timeout_in_finally)
{
    run_main(nested_timeout_in_finally_main, NULL);
}

static void *after_cancellation_body(void *arg)
{
    (void)arg;
    corio_cancel(corio_current());
    int rc = corio_sleep(CORIO_SEC(1)); /* work which will be cancelled */
    NOTE(&g_tally, rc == CORIO_ECANCELED, "work = %d", rc);
    /* finally: the cleanup, shielded, bounded by a scope opened inside
     * the shield (before issue 11 the shield ignored it). */
    corio_shield_begin();
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(0));
    int64_t t0 = corio_now();
    rc = corio_sleep(CORIO_SEC(1)); /* some cleanup */
    NOTE(&g_tally, rc == CORIO_ETIMEDOUT, "cleanup = %d", rc);
    NOTE(&g_tally, corio_timeout_end(&cm) == CORIO_ETIMEDOUT, "end");
    NOTE(&g_tally, corio_now() - t0 < CORIO_MS(500), "cleanup ran its 1 s");
    corio_shield_end();
    return NULL;
}

static void *timeout_after_cancellation_main(void *arg)
{
    (void)arg;
    CHECK_RC(join(go(after_cancellation_body, NULL)), CORIO_ECANCELED);
    return NULL;
}

Test(asyncio_timeouts, test_timeout_after_cancellation)
{
    run_main(timeout_after_cancellation_main, NULL);
}

static void *cancel_in_timeout_body(void *arg)
{
    (void)arg;
    corio_cancel(corio_current());
    NOTE(&g_tally, corio_sleep(CORIO_SEC(1)) == CORIO_ECANCELED, "work");
    corio_shield_begin();
    corio_timeout cm;
    corio_timeout_begin(&cm, corio_deadline_in(MS(20)));
    corio_cancel(corio_current());
    /* asyncio: the second cancel interrupts the cleanup. corio: the
     * cleanup is shielded, so cancels wait for its end (cancellation is
     * sticky and would otherwise stop every later call too); what bounds
     * it is the scope. */
    int rc = corio_sleep(CORIO_SEC(2));
    NOTE(&g_tally, rc == CORIO_ETIMEDOUT, "cleanup = %d", rc);
    corio_timeout_end(&cm);
    corio_shield_end();
    NOTE(&g_tally, corio_sleep(0) == CORIO_ECANCELED, "cancel lost");
    return NULL;
}

static void *cancel_in_timeout_after_cancellation_main(void *arg)
{
    (void)arg;
    CHECK_RC(join(go(cancel_in_timeout_body, NULL)), CORIO_ECANCELED);
    return NULL;
}

Test(asyncio_timeouts, test_cancel_in_timeout_after_cancellation)
{
    run_main(cancel_in_timeout_after_cancellation_main, NULL);
}

/* A shield still cuts a task off from the scopes opened OUTSIDE it, and
 * corio's own shielded waits (a condition's re-acquire) ignore every scope
 * of the caller's, even one opened inside a shield. */
static corio_cond g_cond;

static void *holder(void *arg)
{
    (void)arg;
    corio_cond_acquire(&g_cond);
    corio_cond_notify_all(&g_cond);
    corio_sleep(MS(30)); /* keep the lock past the waiter's scope */
    corio_cond_release(&g_cond);
    return NULL;
}

static void *shield_scope_main(void *arg)
{
    (void)arg;
    corio_timeout outer;
    corio_timeout_begin(&outer, corio_deadline_in(MS(1)));
    corio_shield_begin();
    CHECK_RC(corio_sleep(MS(10)), 0); /* the outer scope does not reach in */
    corio_timeout inner;
    corio_timeout_begin(&inner, corio_deadline_in(MS(5)));
    corio_cond_init(&g_cond, NULL);
    CHECK_RC(corio_cond_acquire(&g_cond), 0);
    corio_task *h = go(holder, NULL);
    /* The wait itself is bounded by `inner`, the re-acquire is not: it
     * returns with the lock even though the holder keeps it 30 ms. */
    CHECK_RC(corio_cond_wait(&g_cond), 0);
    CHECK(corio_cond_locked(&g_cond));
    CHECK_RC(corio_cond_release(&g_cond), 0);
    CHECK_RC(join(h), 0);
    corio_timeout_end(&inner);
    corio_shield_end();
    CHECK_RC(corio_timeout_end(&outer), CORIO_ETIMEDOUT);
    return NULL;
}

Test(asyncio_timeouts, test_shield_cuts_off_outer_scopes_only)
{
    run_main(shield_scope_main, NULL);
}
