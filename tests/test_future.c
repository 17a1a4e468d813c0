/*
 * test_future.c — one-shot futures awaited by many tasks, with deadlines.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include <stdint.h>

typedef struct { corio_future *f; int rc; void *value; int order; } waiter_arg;
static int woken_order;

static void *waiter(void *arg)
{
    waiter_arg *w = arg;
    w->rc = corio_future_wait(w->f, &w->value);
    w->order = woken_order++;
    return NULL;
}

static void *many_waiters_body(void *arg)
{
    (void)arg;
    corio_future *f = corio_future_new();
    waiter_arg w[10];
    corio_task *t[10];
    woken_order = 0;
    for (int i = 0; i < 10; i++) {
        w[i] = (waiter_arg){ .f = f, .rc = 1 };
        t[i] = corio_spawn(waiter, &w[i], NULL);
    }
    corio_yield();
    cr_assert_not(corio_future_done(f));
    cr_assert_eq(corio_future_set_result(f, (void *)(intptr_t)5), 0);
    cr_assert_eq(corio_future_set_result(f, NULL), CORIO_EALREADY);
    cr_assert_eq(corio_future_set_error(f, CORIO_EIO), CORIO_EALREADY);
    /* The setter may free the future at once: waiters hold their copy. */
    corio_future_free(f);
    for (int i = 0; i < 10; i++) {
        corio_join(t[i], NULL);
        cr_assert_eq(w[i].rc, 0);
        cr_assert_eq((intptr_t)w[i].value, 5);
        cr_assert_eq(w[i].order, i, "waiters wake in FIFO order");
    }
    return NULL;
}

Test(future, wakes_every_waiter_in_order)
{
    cr_assert_eq(corio_run(many_waiters_body, NULL, NULL), 0);
}

static void *error_and_deadline_body(void *arg)
{
    (void)arg;
    corio_future *f = corio_future_new();
    void *v = (void *)1;
    cr_assert_eq(corio_future_wait_until(f, &v,
                                         corio_deadline_in(CORIO_MS(1))), CORIO_ETIMEDOUT);
    cr_assert_eq((intptr_t)v, 1, "value untouched on timeout");
    corio_future_set_error(f, CORIO_ECONNREFUSED);
    cr_assert(corio_future_done(f));
    cr_assert_eq(corio_future_wait(f, &v), CORIO_ECONNREFUSED);
    /* Already done: answers at once even to a cancelled task. */
    corio_cancel(corio_current());
    cr_assert_eq(corio_future_wait(f, NULL), CORIO_ECONNREFUSED);
    corio_future_free(f);
    return NULL;
}

Test(future, error_deadline_and_done_futures)
{
    cr_assert_eq(corio_run(error_and_deadline_body, NULL, NULL), CORIO_ECANCELED);
}

static void *freed_body(void *arg)
{
    (void)arg;
    corio_future *f = corio_future_new();
    waiter_arg w = { .f = f, .rc = 1 };
    corio_task *t = corio_spawn(waiter, &w, NULL);
    corio_yield();
    corio_future_free(f);
    corio_join(t, NULL);
    cr_assert_eq(w.rc, CORIO_ECLOSED);
    return NULL;
}

Test(future, freeing_wakes_waiters_with_closed)
{
    cr_assert_eq(corio_run(freed_body, NULL, NULL), 0);
}

/* Handoff through a future pair, many times: the park/unpark path. */
static void *ponger(void *arg)
{
    corio_future **f = arg;
    for (int i = 0; i < 1000; i++) {
        void *v;
        cr_assert_eq(corio_future_wait(f[0], &v), 0);
        cr_assert_eq((intptr_t)v, i);
        corio_future_free(f[0]);
        f[0] = corio_future_new();
        corio_future_set_result(f[1], v);
    }
    return NULL;
}

static void *pingpong_body(void *arg)
{
    (void)arg;
    corio_future *f[2] = { corio_future_new(), NULL };
    corio_task *t = corio_spawn(ponger, f, NULL);
    for (int i = 0; i < 1000; i++) {
        f[1] = corio_future_new();
        corio_future_set_result(f[0], (void *)(intptr_t)i);
        void *v;
        cr_assert_eq(corio_future_wait(f[1], &v), 0);
        cr_assert_eq((intptr_t)v, i);
        corio_future_free(f[1]);
    }
    corio_join(t, NULL);
    corio_future_free(f[0]);
    return NULL;
}

Test(future, ping_pong_thousand_times)
{
    cr_assert_eq(corio_run(pingpong_body, NULL, NULL), 0);
}

/* A waiter whose deadline fired is READY but still queued until it runs.
 * Setting the future in that window must pass it by (it reports the
 * timeout) instead of waking it twice. The interleaving is forced: B's
 * sleep ends just before A's deadline, main spins past both without
 * yielding, so both wake in one loop turn and B runs (and sets) first. */
typedef struct { corio_future *f; int64_t deadline; int rc; } timed_arg;

static void *timed_waiter(void *arg)
{
    timed_arg *a = arg;
    a->rc = corio_future_wait_until(a->f, NULL, a->deadline);
    return NULL;
}

static void *setter_after(void *arg)
{
    timed_arg *a = arg;
    corio_sleep_until(a->deadline - 1000);
    corio_future_set_result(a->f, NULL);
    return NULL;
}

static void *timeout_then_set_body(void *arg)
{
    (void)arg;
    timed_arg a = { .f = corio_future_new(), .deadline = corio_now() + CORIO_MS(2), .rc = 1 };
    corio_task *w = corio_spawn(timed_waiter, &a, NULL);
    corio_task *s = corio_spawn(setter_after, &a, NULL);
    corio_yield(); /* both park */
    while (corio_now() < a.deadline + CORIO_MS(1)) {
    }
    corio_join(s, NULL);
    corio_join(w, NULL);
    cr_assert_eq(a.rc, CORIO_ETIMEDOUT);
    corio_future_free(a.f);
    return NULL;
}

Test(future, set_while_a_timed_out_waiter_is_still_queued)
{
    cr_assert_eq(corio_run(timeout_then_set_body, NULL, NULL), 0);
}
