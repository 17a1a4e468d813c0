/*
 * test_compose.c — gather, wait, as_completed, timeout scopes, wait_for and
 * shield (flow/compose.c, flow/timeout.c).
 *
 * Completion order is never left to timing: each worker task waits on its
 * own "gate" (a corio_event) and the test opens the gates in the order it
 * wants, so every ordering below is decided by the scheduler's FIFO rules,
 * not by the clock. Deadlines are used only where the test is ABOUT a
 * deadline, and then the other side waits forever, so the outcome cannot
 * depend on how fast the machine is.
 *
 * Tasks never assert: they write what they saw into the test's struct,
 * and the test asserts on the loop's own stack once the loop is closed
 * (a failed assertion must not unwind a coroutine stack). Every test also
 * asserts that closing its loop reported nothing: no task leaked.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */


/* A worker that waits for its gate, then returns `value` or fails with
 * `fail`. `saw` records what its wait returned (0 = the gate opened,
 * CORIO_ECANCELED = it was cancelled instead). */
typedef struct gate {
    corio_event open;
    intptr_t value;
    int fail;
    int started;
    int saw;
    int finished;
} gate;

static void gate_init(gate *g, intptr_t value, int fail)
{
    corio_event_init(&g->open);
    g->value = value;
    g->fail = fail;
    g->started = g->saw = g->finished = 0;
}

static void *gated(void *arg)
{
    gate *g = arg;
    g->started = 1;
    g->saw = corio_event_wait(&g->open);
    g->finished = 1;
    if (g->saw) return NULL; /* cancelled: status CORIO_ECANCELED */
    if (g->fail) return corio_fail(g->fail);
    return (void *)g->value;
}

/* Let every ready task run a few turns (FIFO: k yields are enough for a
 * chain of k hand-offs). */
static void settle(int turns)
{
    for (int i = 0; i < turns; i++) corio_yield();
}

/* ------------------------------------------------------------------ */
/* gather                                                              */
/* ------------------------------------------------------------------ */

typedef struct gather_case {
    gate g[4];
    corio_task *t[4];
    corio_outcome out[4];
    int rc;
    int b_done_after, b_cancelled_after;
    int b_join_status;
    intptr_t b_join_value;
} gather_case;

/* Opens the gates in the order given, one at a time, letting the others
 * run in between. */
typedef struct opener {
    gate *gates[4];
    int n;
} opener;

static void *open_in_order(void *arg)
{
    opener *o = arg;
    for (int i = 0; i < o->n; i++) {
        settle(3);
        corio_event_set(&o->gates[i]->open);
    }
    return NULL;
}

static void *gather_in_order_body(void *arg)
{
    gather_case *c = arg;
    for (int i = 0; i < 3; i++) {
        gate_init(&c->g[i], 10 + i, 0);
        c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    }
    /* finish in the order 2, 0, 1: results must still come in order */
    opener o = { { &c->g[2], &c->g[0], &c->g[1] }, 3 };
    corio_task *op = corio_spawn(open_in_order, &o, NULL);
    c->rc = corio_gather(c->t, 3, c->out, 0);
    corio_join(op, NULL);
    return NULL;
}

Test(gather, results_in_order_whatever_the_finish_order, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_in_order_body, &c);
    cr_assert_eq(c.rc, 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_null(c.t[i], "handle %d not consumed", i);
        cr_assert_eq(c.out[i].status, 0);
        cr_assert_eq((intptr_t)c.out[i].result, 10 + i);
    }
}

static void *gather_first_error_body(void *arg)
{
    gather_case *c = arg;
    gate_init(&c->g[0], 1, 0);
    gate_init(&c->g[1], 2, 0);              /* still running at the error */
    gate_init(&c->g[2], 3, CORIO_EIO);      /* fails */
    for (int i = 0; i < 3; i++) c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    opener o = { { &c->g[0], &c->g[2] }, 2 };
    corio_task *op = corio_spawn(open_in_order, &o, NULL);
    c->rc = corio_gather(c->t, 3, c->out, 0);
    /* gather returned at the error: task 1 must still be running, not
     * cancelled, and still ours */
    c->b_done_after = c->g[1].finished;
    c->b_cancelled_after = c->t[1] ? corio_task_cancelled(c->t[1]) : -1;
    corio_event_set(&c->g[1].open);
    void *r = NULL;
    c->b_join_status = c->t[1] ? corio_join(c->t[1], &r) : -100;
    c->b_join_value = (intptr_t)r;
    corio_join(op, NULL);
    return NULL;
}

Test(gather, default_mode_returns_first_error_and_leaves_the_rest_running, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_first_error_body, &c);
    cr_assert_eq(c.rc, CORIO_EIO);
    cr_assert_null(c.t[0]);
    cr_assert_null(c.t[2]);
    cr_assert_not_null(c.t[1], "the running task's handle stays with us");
    cr_assert_eq(c.out[0].status, 0);
    cr_assert_eq((intptr_t)c.out[0].result, 1);
    cr_assert_eq(c.out[2].status, CORIO_EIO);
    cr_assert_eq(c.out[1].status, CORIO_EAGAIN);
    cr_assert_eq(c.b_done_after, 0);
    cr_assert_eq(c.b_cancelled_after, 0);
    cr_assert_eq(c.b_join_status, 0, "it kept running to the end");
    cr_assert_eq(c.b_join_value, 2);
}

static void *gather_cancel_on_error_body(void *arg)
{
    gather_case *c = arg;
    gate_init(&c->g[0], 1, 0);
    gate_init(&c->g[1], 2, 0);
    gate_init(&c->g[2], 3, CORIO_EPIPE);
    for (int i = 0; i < 3; i++) c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    opener o = { { &c->g[2] }, 1 };
    corio_task *op = corio_spawn(open_in_order, &o, NULL);
    c->rc = corio_gather(c->t, 3, c->out, CORIO_GATHER_CANCEL_ON_ERROR);
    corio_join(op, NULL);
    return NULL;
}

Test(gather, cancel_on_error_cancels_and_joins_the_rest, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_cancel_on_error_body, &c);
    cr_assert_eq(c.rc, CORIO_EPIPE);
    for (int i = 0; i < 3; i++) cr_assert_null(c.t[i]);
    cr_assert_eq(c.out[2].status, CORIO_EPIPE);
    cr_assert_eq(c.out[0].status, CORIO_ECANCELED);
    cr_assert_eq(c.out[1].status, CORIO_ECANCELED);
    cr_assert_eq(c.g[0].saw, CORIO_ECANCELED);
    cr_assert_eq(c.g[1].saw, CORIO_ECANCELED);
}

static void *gather_return_errors_body(void *arg)
{
    gather_case *c = arg;
    gate_init(&c->g[0], 1, 0);
    gate_init(&c->g[1], 2, CORIO_EIO);
    gate_init(&c->g[2], 3, 0);
    gate_init(&c->g[3], 4, CORIO_EPERM);
    for (int i = 0; i < 4; i++) c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    opener o = { { &c->g[3], &c->g[1], &c->g[0], &c->g[2] }, 4 };
    corio_task *op = corio_spawn(open_in_order, &o, NULL);
    c->rc = corio_gather(c->t, 4, c->out, CORIO_GATHER_RETURN_ERRORS);
    corio_join(op, NULL);
    return NULL;
}

Test(gather, return_errors_collects_every_outcome, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_return_errors_body, &c);
    cr_assert_eq(c.rc, 2, "two children failed");
    for (int i = 0; i < 4; i++) cr_assert_null(c.t[i]);
    cr_assert_eq(c.out[0].status, 0);
    cr_assert_eq((intptr_t)c.out[0].result, 1);
    cr_assert_eq(c.out[1].status, CORIO_EIO);
    cr_assert_eq(c.out[2].status, 0);
    cr_assert_eq((intptr_t)c.out[2].result, 3);
    cr_assert_eq(c.out[3].status, CORIO_EPERM);
}

/* gather_calls: functions, spawned for us. */
static gate calls_gates[3];

static void *calls_body(void *arg)
{
    gather_case *c = arg;
    gate_init(&calls_gates[0], 5, 0);
    gate_init(&calls_gates[1], 6, CORIO_EIO);
    gate_init(&calls_gates[2], 7, 0);
    corio_call calls[3] = {
        { gated, &calls_gates[0] },
        { gated, &calls_gates[1] },
        { gated, &calls_gates[2] },
    };
    opener o = { { &calls_gates[0], &calls_gates[1] }, 2 };
    corio_task *op = corio_spawn(open_in_order, &o, NULL);
    c->rc = corio_gather_calls(calls, 3, c->out, 0);
    corio_join(op, NULL);
    return NULL;
}

Test(gather, calls_form_never_leaves_a_child_running, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(calls_body, &c);
    cr_assert_eq(c.rc, CORIO_EIO);
    cr_assert_eq(c.out[0].status, 0);
    cr_assert_eq((intptr_t)c.out[0].result, 5);
    cr_assert_eq(c.out[1].status, CORIO_EIO);
    cr_assert_eq(c.out[2].status, CORIO_ECANCELED);
    cr_assert_eq(calls_gates[2].saw, CORIO_ECANCELED);
}

static void *gather_deadline_body(void *arg)
{
    gather_case *c = arg;
    gate_init(&c->g[0], 1, 0);
    gate_init(&c->g[1], 2, 0); /* never opened */
    for (int i = 0; i < 2; i++) c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    corio_event_set(&c->g[0].open);
    c->rc = corio_gather_until(c->t, 2, c->out, 0,
                               corio_deadline_in(CORIO_MS(20)));
    return NULL;
}

Test(gather, deadline_cancels_and_joins_what_is_left, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_deadline_body, &c);
    cr_assert_eq(c.rc, CORIO_ETIMEDOUT);
    cr_assert_null(c.t[0]);
    cr_assert_null(c.t[1]);
    cr_assert_eq(c.out[0].status, 0);
    cr_assert_eq(c.out[1].status, CORIO_ECANCELED);
    cr_assert_eq(c.g[1].saw, CORIO_ECANCELED);
}

/* The task running gather is cancelled: its children go with it. */
static void *gatherer(void *arg)
{
    gather_case *c = arg;
    c->rc = corio_gather(c->t, 2, c->out, 0);
    return NULL;
}

static void *gather_cancelled_body(void *arg)
{
    gather_case *c = arg;
    for (int i = 0; i < 2; i++) {
        gate_init(&c->g[i], i, 0);
        c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    }
    corio_task *g = corio_spawn(gatherer, c, NULL);
    settle(3); /* everybody parked */
    corio_cancel(g);
    c->b_join_status = corio_join(g, NULL);
    return NULL;
}

Test(gather, cancelling_the_caller_cancels_the_children, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_cancelled_body, &c);
    cr_assert_eq(c.rc, CORIO_ECANCELED);
    cr_assert_eq(c.b_join_status, CORIO_ECANCELED);
    for (int i = 0; i < 2; i++) {
        cr_assert_null(c.t[i]);
        cr_assert_eq(c.out[i].status, CORIO_ECANCELED);
        cr_assert_eq(c.g[i].saw, CORIO_ECANCELED);
    }
}

static void *gather_invalid_body(void *arg)
{
    gather_case *c = arg;
    gate_init(&c->g[0], 1, 0);
    c->t[0] = corio_spawn(gated, &c->g[0], NULL);
    c->t[1] = NULL;
    c->rc = corio_gather(c->t, 2, c->out, 0);
    c->b_done_after = c->t[0] != NULL; /* nothing consumed */
    corio_event_set(&c->g[0].open);
    c->b_join_status = corio_join(c->t[0], NULL);
    return NULL;
}

Test(gather, invalid_handle_consumes_nothing, .timeout = 60)
{
    gather_case c;
    corio_test_run_clean(gather_invalid_body, &c);
    cr_assert_eq(c.rc, CORIO_EINVAL);
    cr_assert_eq(c.b_done_after, 1);
    cr_assert_eq(c.b_join_status, 0);
}

/* ------------------------------------------------------------------ */
/* wait                                                                */
/* ------------------------------------------------------------------ */

typedef struct wait_case {
    gate g[4];
    corio_task *t[4];
    bool done[4];
    int rc, rc2;
    int cancelled_any;
} wait_case;

static void spawn_gated(wait_case *c, int n)
{
    for (int i = 0; i < n; i++) c->t[i] = corio_spawn(gated, &c->g[i], NULL);
}

/* Open every gate and join every task: the clean-up of each case. */
static void release_and_join(wait_case *c, int n)
{
    for (int i = 0; i < n; i++) {
        if (corio_task_cancelled(c->t[i])) c->cancelled_any = 1;
        corio_event_set(&c->g[i].open);
    }
    for (int i = 0; i < n; i++) corio_join(c->t[i], NULL);
}

static void *wait_first_completed_body(void *arg)
{
    wait_case *c = arg;
    for (int i = 0; i < 3; i++) gate_init(&c->g[i], i, 0);
    spawn_gated(c, 3);
    opener o = { { &c->g[1] }, 1 };
    corio_task *op = corio_spawn(open_in_order, &o, NULL);
    c->rc = corio_wait(c->t, 3, CORIO_FIRST_COMPLETED, c->done);
    corio_join(op, NULL);
    release_and_join(c, 3);
    return NULL;
}

Test(wait, first_completed_returns_the_done_and_pending_sets, .timeout = 60)
{
    wait_case c = { 0 };
    corio_test_run_clean(wait_first_completed_body, &c);
    cr_assert_eq(c.rc, 1);
    cr_assert_not(c.done[0]);
    cr_assert(c.done[1]);
    cr_assert_not(c.done[2]);
    cr_assert_eq(c.cancelled_any, 0, "wait cancels nothing");
}

/* Two watched tasks finish in the same round, before the waiter runs:
 * the second finds the waiter already woken and must leave it alone. */
static void *wait_pair_body(void *arg)
{
    wait_case *c = arg;
    for (int i = 0; i < 2; i++) gate_init(&c->g[i], i, 0);
    spawn_gated(c, 2);
    settle(2);
    corio_event_set(&c->g[0].open); /* both finish before we run */
    corio_event_set(&c->g[1].open);
    c->rc = corio_wait(c->t, 2, CORIO_FIRST_COMPLETED, c->done);
    for (int i = 0; i < 2; i++) corio_join(c->t[i], NULL);
    return NULL;
}

Test(wait, tasks_finishing_in_one_round_wake_the_waiter_once, .timeout = 60)
{
    wait_case c = { 0 };
    corio_test_run_clean(wait_pair_body, &c);
    cr_assert_eq(c.rc, 2, "both were done when the waiter looked");
    cr_assert(c.done[0]);
    cr_assert(c.done[1]);
}

/* FIRST_EXCEPTION: a success and a cancellation do not end the wait, the
 * first failure does. */
static void *first_exception_driver(void *arg)
{
    wait_case *c = arg;
    settle(3);
    corio_event_set(&c->g[0].open);  /* success */
    settle(3);
    corio_cancel(c->t[2]);            /* cancelled: not an exception */
    settle(3);
    corio_event_set(&c->g[1].open);  /* failure */
    return NULL;
}

static void *wait_first_exception_body(void *arg)
{
    wait_case *c = arg;
    gate_init(&c->g[0], 0, 0);
    gate_init(&c->g[1], 1, CORIO_EIO);
    gate_init(&c->g[2], 2, 0);
    gate_init(&c->g[3], 3, 0);
    spawn_gated(c, 4);
    corio_task *d = corio_spawn(first_exception_driver, c, NULL);
    c->rc = corio_wait(c->t, 4, CORIO_FIRST_EXCEPTION, c->done);
    corio_join(d, NULL);
    for (int i = 0; i < 4; i++) corio_event_set(&c->g[i].open);
    for (int i = 0; i < 4; i++) corio_join(c->t[i], NULL);
    return NULL;
}

Test(wait, first_exception_ignores_successes_and_cancellations, .timeout = 60)
{
    wait_case c = { 0 };
    corio_test_run_clean(wait_first_exception_body, &c);
    cr_assert_eq(c.rc, 3, "returned at the failure, not before");
    cr_assert(c.done[0]);
    cr_assert(c.done[1]);
    cr_assert(c.done[2]);
    cr_assert_not(c.done[3]);
}

static void *wait_all_deadline_body(void *arg)
{
    wait_case *c = arg;
    for (int i = 0; i < 3; i++) gate_init(&c->g[i], i, 0);
    spawn_gated(c, 3);
    corio_event_set(&c->g[0].open);
    corio_event_set(&c->g[2].open);
    c->rc = corio_wait_until(c->t, 3, CORIO_ALL_COMPLETED,
                             c->done, corio_deadline_in(CORIO_MS(20)));
    release_and_join(c, 3);
    return NULL;
}

Test(wait, deadline_is_not_an_error_and_cancels_nothing, .timeout = 60)
{
    wait_case c = { 0 };
    corio_test_run_clean(wait_all_deadline_body, &c);
    cr_assert_eq(c.rc, 2);
    cr_assert(c.done[0]);
    cr_assert_not(c.done[1]);
    cr_assert(c.done[2]);
    cr_assert_eq(c.cancelled_any, 0);
    cr_assert_eq(c.g[1].saw, 0, "the pending task ran to its end later");
}

static void *wait_in_scope_body(void *arg)
{
    wait_case *c = arg;
    gate_init(&c->g[0], 0, 0);
    spawn_gated(c, 1);
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(20)));
    c->rc = corio_wait_until(c->t, 1, CORIO_ALL_COMPLETED,
                             c->done, corio_deadline_in(CORIO_SEC(60)));
    c->rc2 = corio_timeout_end(&s);
    release_and_join(c, 1);
    return NULL;
}

Test(wait, an_expired_scope_is_an_error, .timeout = 60)
{
    wait_case c = { 0 };
    corio_test_run_clean(wait_in_scope_body, &c);
    cr_assert_eq(c.rc, CORIO_ETIMEDOUT);
    cr_assert_eq(c.rc2, CORIO_ETIMEDOUT);
    cr_assert_not(c.done[0]);
    cr_assert_eq(c.cancelled_any, 0);
}

/* ------------------------------------------------------------------ */
/* as_completed                                                        */
/* ------------------------------------------------------------------ */

typedef struct asc_case {
    gate g[4];
    corio_task *t[4];
    size_t order[4];
    intptr_t values[4];
    int got, rc_end;
    int consumed; /* how many the consumer has handled so far */
} asc_case;

/* Opens gates 3, 1, 0, 2, each only after the consumer handled the
 * previous one: the completion order is exactly this. */
static void *asc_driver(void *arg)
{
    asc_case *c = arg;
    int order[4] = { 3, 1, 0, 2 };
    for (int k = 0; k < 4; k++) {
        WAIT_UNTIL(c->consumed >= k);
        corio_event_set(&c->g[order[k]].open);
    }
    return NULL;
}

static void *asc_order_body(void *arg)
{
    asc_case *c = arg;
    for (int i = 0; i < 4; i++) {
        gate_init(&c->g[i], 100 + i, 0);
        c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    }
    corio_task *d = corio_spawn(asc_driver, c, NULL);
    corio_as_completed it;
    corio_as_completed_init(&it, c->t, 4);
    size_t i;
    int rc;
    while ((rc = corio_as_completed_next(&it, &i)) == 0) {
        void *r = NULL;
        corio_join(c->t[i], &r); /* joined at once: allowed */
        c->order[c->got] = i;
        c->values[c->got++] = (intptr_t)r;
        c->consumed++;
    }
    c->rc_end = rc;
    corio_as_completed_end(&it);
    corio_join(d, NULL);
    return NULL;
}

Test(as_completed, yields_in_completion_order, .timeout = 60)
{
    asc_case c = { 0 };
    corio_test_run_clean(asc_order_body, &c);
    cr_assert_eq(c.got, 4);
    cr_assert_eq(c.rc_end, CORIO_EOF);
    size_t want[4] = { 3, 1, 0, 2 };
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(c.order[k], want[k], "position %d", k);
        cr_assert_eq(c.values[k], 100 + (intptr_t)want[k]);
    }
}

static void *asc_batch_body(void *arg)
{
    asc_case *c = arg;
    for (int i = 0; i < 3; i++) {
        gate_init(&c->g[i], i, 0);
        c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    }
    for (int i = 2; i >= 0; i--) corio_event_set(&c->g[i].open);
    settle(3); /* all three finish before we look */
    corio_as_completed it;
    corio_as_completed_init(&it, c->t, 3);
    size_t i;
    while (corio_as_completed_next(&it, &i) == 0) {
        c->order[c->got++] = i;
        corio_join(c->t[i], NULL);
    }
    corio_as_completed_end(&it);
    return NULL;
}

Test(as_completed, tasks_done_before_looking_come_in_array_order, .timeout = 60)
{
    asc_case c = { 0 };
    corio_test_run_clean(asc_batch_body, &c);
    cr_assert_eq(c.got, 3);
    for (int k = 0; k < 3; k++) cr_assert_eq(c.order[k], (size_t)k);
}

static void *asc_deadline_body(void *arg)
{
    asc_case *c = arg;
    for (int i = 0; i < 2; i++) {
        gate_init(&c->g[i], i, 0);
        c->t[i] = corio_spawn(gated, &c->g[i], NULL);
    }
    corio_event_set(&c->g[1].open);
    corio_as_completed it;
    corio_as_completed_init(&it, c->t, 2);
    int64_t deadline = corio_deadline_in(CORIO_MS(20));
    size_t i;
    int rc;
    while ((rc = corio_as_completed_next_until(&it, &i, deadline)) == 0)
        c->order[c->got++] = i;
    c->rc_end = rc;
    c->consumed = corio_as_completed_next(&it, &i); /* sticky */
    corio_as_completed_end(&it);
    c->values[0] = corio_task_cancelled(c->t[0]);
    corio_event_set(&c->g[0].open);
    corio_join(c->t[0], NULL);
    corio_join(c->t[1], NULL);
    return NULL;
}

Test(as_completed, deadline_ends_the_iteration_and_cancels_nothing, .timeout = 60)
{
    asc_case c = { 0 };
    corio_test_run_clean(asc_deadline_body, &c);
    cr_assert_eq(c.got, 1);
    cr_assert_eq(c.order[0], 1u);
    cr_assert_eq(c.rc_end, CORIO_ETIMEDOUT);
    cr_assert_eq(c.consumed, CORIO_ETIMEDOUT);
    cr_assert_eq(c.values[0], 0, "the pending task was not cancelled");
    cr_assert_eq(c.g[0].saw, 0);
}

/* ------------------------------------------------------------------ */
/* timeout scopes                                                      */
/* ------------------------------------------------------------------ */

typedef struct scope_case {
    int first, second, after;  /* what blocking calls returned */
    int inner_end, outer_end;
    int64_t elapsed;
    gate g;
} scope_case;

static void *scope_expiry_body(void *arg)
{
    scope_case *c = arg;
    corio_event never;
    corio_event_init(&never);
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(20)));
    c->first = corio_sleep(CORIO_SEC(60));
    c->second = corio_event_wait(&never);   /* sticky: fails at once */
    c->outer_end = corio_timeout_end(&s);
    c->after = corio_sleep(CORIO_MS(1));    /* deadline gone again */
    corio_event_destroy(&never);
    return NULL;
}

Test(timeout, scope_expiry_is_sticky_inside_and_gone_after, .timeout = 60)
{
    scope_case c = { 0 };
    corio_test_run_clean(scope_expiry_body, &c);
    cr_assert_eq(c.first, CORIO_ETIMEDOUT);
    cr_assert_eq(c.second, CORIO_ETIMEDOUT);
    cr_assert_eq(c.outer_end, CORIO_ETIMEDOUT);
    cr_assert_eq(c.after, 0);
}

static void *nested_inner_shorter_body(void *arg)
{
    scope_case *c = arg;
    corio_timeout outer, inner;
    corio_timeout_begin(&outer, corio_deadline_in(CORIO_SEC(60)));
    corio_timeout_begin(&inner, corio_deadline_in(CORIO_MS(20)));
    c->first = corio_sleep(CORIO_SEC(60));
    c->inner_end = corio_timeout_end(&inner);
    c->second = corio_sleep(CORIO_MS(1)); /* only the outer scope now */
    c->outer_end = corio_timeout_end(&outer);
    return NULL;
}

Test(timeout, inner_scope_expiry_belongs_to_the_inner_scope, .timeout = 60)
{
    scope_case c = { 0 };
    corio_test_run_clean(nested_inner_shorter_body, &c);
    cr_assert_eq(c.first, CORIO_ETIMEDOUT);
    cr_assert_eq(c.inner_end, CORIO_ETIMEDOUT);
    cr_assert_eq(c.second, 0);
    cr_assert_eq(c.outer_end, 0);
}

static void *nested_inner_longer_body(void *arg)
{
    scope_case *c = arg;
    corio_timeout outer, inner;
    int64_t t0 = corio_now();
    corio_timeout_begin(&outer, corio_deadline_in(CORIO_MS(20)));
    corio_timeout_begin(&inner, corio_deadline_in(CORIO_SEC(60)));
    c->first = corio_sleep(CORIO_SEC(120));
    c->elapsed = corio_now() - t0;
    c->inner_end = corio_timeout_end(&inner);
    c->outer_end = corio_timeout_end(&outer);
    return NULL;
}

Test(timeout, inner_scope_never_extends_the_outer_one, .timeout = 60)
{
    scope_case c = { 0 };
    corio_test_run_clean(nested_inner_longer_body, &c);
    cr_assert_eq(c.first, CORIO_ETIMEDOUT);
    cr_assert_lt(c.elapsed, CORIO_SEC(30), "stopped by the outer 20 ms");
    cr_assert_eq(c.inner_end, 0, "not the inner scope's expiry");
    cr_assert_eq(c.outer_end, CORIO_ETIMEDOUT);
}

static void *equal_deadlines_body(void *arg)
{
    scope_case *c = arg;
    int64_t d = corio_deadline_in(CORIO_MS(10));
    corio_timeout outer, inner;
    corio_timeout_begin(&outer, d);
    corio_timeout_begin(&inner, d);
    c->first = corio_sleep(CORIO_SEC(60));
    c->inner_end = corio_timeout_end(&inner);
    c->outer_end = corio_timeout_end(&outer);
    return NULL;
}

Test(timeout, equal_deadlines_belong_to_the_outer_scope, .timeout = 60)
{
    scope_case c = { 0 };
    corio_test_run_clean(equal_deadlines_body, &c);
    cr_assert_eq(c.first, CORIO_ETIMEDOUT);
    cr_assert_eq(c.inner_end, 0);
    cr_assert_eq(c.outer_end, CORIO_ETIMEDOUT);
}

static void *own_deadline_body(void *arg)
{
    scope_case *c = arg;
    corio_event never;
    corio_event_init(&never);
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_SEC(60)));
    c->first = corio_event_wait_until(&never, corio_deadline_in(CORIO_MS(10)));
    c->second = corio_sleep(CORIO_MS(1)); /* the scope is still fine */
    c->outer_end = corio_timeout_end(&s);
    corio_event_destroy(&never);
    return NULL;
}

Test(timeout, a_calls_own_deadline_is_not_the_scopes, .timeout = 60)
{
    scope_case c = { 0 };
    corio_test_run_clean(own_deadline_body, &c);
    cr_assert_eq(c.first, CORIO_ETIMEDOUT);
    cr_assert_eq(c.second, 0);
    cr_assert_eq(c.outer_end, 0);
}

static void *scope_join_body(void *arg)
{
    scope_case *c = arg;
    gate_init(&c->g, 1, 0); /* never opened */
    corio_task *t = corio_spawn(gated, &c->g, NULL);
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(20)));
    c->first = corio_join(t, NULL);
    c->outer_end = corio_timeout_end(&s);
    return NULL;
}

Test(timeout, expiry_cancels_the_work_being_joined, .timeout = 60)
{
    scope_case c = { 0 };
    corio_test_run_clean(scope_join_body, &c);
    cr_assert_eq(c.first, CORIO_ECANCELED, "the child was cancelled");
    cr_assert_eq(c.g.saw, CORIO_ECANCELED);
    cr_assert_eq(c.outer_end, CORIO_ETIMEDOUT);
}

/* ------------------------------------------------------------------ */
/* wait_for                                                            */
/* ------------------------------------------------------------------ */

typedef struct wf_case {
    gate g;
    corio_outcome out;
    int rc, scope_end;
    corio_task *waiter;
} wf_case;

static void *wait_for_expiry_body(void *arg)
{
    wf_case *c = arg;
    gate_init(&c->g, 1, 0); /* never opened */
    c->rc = corio_wait_for_until(gated, &c->g, &c->out,
                                 corio_deadline_in(CORIO_MS(20)));
    return NULL;
}

Test(wait_for, expiry_cancels_the_work_and_says_timed_out, .timeout = 60)
{
    wf_case c = { 0 };
    corio_test_run_clean(wait_for_expiry_body, &c);
    cr_assert_eq(c.rc, CORIO_ETIMEDOUT);
    cr_assert_eq(c.out.status, CORIO_ECANCELED);
    cr_assert_eq(c.g.saw, CORIO_ECANCELED);
    cr_assert_eq(c.g.finished, 1, "the work stopped before wait_for returned");
}

static void *wait_for_in_time_body(void *arg)
{
    wf_case *c = arg;
    gate_init(&c->g, 42, 0);
    corio_event_set(&c->g.open);
    c->rc = corio_wait_for_until(gated, &c->g, &c->out,
                                 corio_deadline_in(CORIO_SEC(60)));
    return NULL;
}

Test(wait_for, in_time_returns_the_outcome, .timeout = 60)
{
    wf_case c = { 0 };
    corio_test_run_clean(wait_for_in_time_body, &c);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.out.status, 0);
    cr_assert_eq((intptr_t)c.out.result, 42);
}

/* The callee times out on a deadline of its own: that is ITS status. */
static void *own_timeout_callee(void *arg)
{
    (void)arg;
    corio_event never;
    corio_event_init(&never);
    int rc = corio_event_wait_until(&never, corio_deadline_in(CORIO_MS(5)));
    corio_event_destroy(&never);
    return corio_fail(rc);
}

static void *wait_for_callee_deadline_body(void *arg)
{
    wf_case *c = arg;
    c->rc = corio_wait_for_until(own_timeout_callee, NULL,
                                 &c->out, corio_deadline_in(CORIO_SEC(60)));
    return NULL;
}

Test(wait_for, the_callees_own_timeout_is_not_ours, .timeout = 60)
{
    wf_case c = { 0 };
    corio_test_run_clean(wait_for_callee_deadline_body, &c);
    cr_assert_eq(c.rc, 0, "our deadline did not pass");
    cr_assert_eq(c.out.status, CORIO_ETIMEDOUT, "the callee's did");
}

static void *wait_for_outer_scope_body(void *arg)
{
    wf_case *c = arg;
    gate_init(&c->g, 1, 0);
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(20)));
    c->rc = corio_wait_for_until(gated, &c->g, &c->out,
                                 corio_deadline_in(CORIO_SEC(60)));
    c->scope_end = corio_timeout_end(&s);
    return NULL;
}

Test(wait_for, an_outer_scope_stops_it_too, .timeout = 60)
{
    wf_case c = { 0 };
    corio_test_run_clean(wait_for_outer_scope_body, &c);
    cr_assert_eq(c.rc, CORIO_ETIMEDOUT);
    cr_assert_eq(c.out.status, CORIO_ECANCELED);
    cr_assert_eq(c.scope_end, CORIO_ETIMEDOUT, "the scope's expiry");
}

static void *wait_for_caller(void *arg)
{
    wf_case *c = arg;
    c->rc = corio_wait_for(gated, &c->g, &c->out);
    return NULL;
}

static void *wait_for_cancelled_body(void *arg)
{
    wf_case *c = arg;
    gate_init(&c->g, 1, 0);
    corio_task *w = corio_spawn(wait_for_caller, c, NULL);
    settle(3);
    corio_cancel(w);
    corio_join(w, NULL);
    return NULL;
}

Test(wait_for, cancelling_the_caller_cancels_the_work, .timeout = 60)
{
    wf_case c = { 0 };
    corio_test_run_clean(wait_for_cancelled_body, &c);
    cr_assert_eq(c.rc, CORIO_ECANCELED);
    cr_assert_eq(c.out.status, CORIO_ECANCELED);
    cr_assert_eq(c.g.saw, CORIO_ECANCELED);
}

/* ------------------------------------------------------------------ */
/* shield                                                              */
/* ------------------------------------------------------------------ */

typedef struct shield_case {
    gate g;
    corio_task *t;
    corio_outcome out;
    int rc;
    int done_when_caller_returned;
    int cancelled_when_caller_returned;
    int discarded;
    intptr_t discarded_value;
} shield_case;

static shield_case *the_shield_case;

static void count_discard(void *result)
{
    the_shield_case->discarded++;
    the_shield_case->discarded_value = (intptr_t)result;
}

static void *shield_caller(void *arg)
{
    shield_case *c = arg;
    c->rc = corio_shield_join(c->t, &c->out, count_discard);
    /* The handle is no longer ours, but the task cannot be freed before it
     * finishes, and it has not (its gate is shut). */
    c->done_when_caller_returned = c->g.finished;
    return NULL;
}

static void *shield_cancel_body(void *arg)
{
    shield_case *c = arg;
    gate_init(&c->g, 77, 0);
    c->t = corio_spawn(gated, &c->g, NULL);
    corio_task *w = corio_spawn(shield_caller, c, NULL);
    settle(3);
    corio_cancel(w);
    corio_join(w, NULL);
    c->cancelled_when_caller_returned = corio_task_cancelled(c->t);
    corio_event_set(&c->g.open); /* now let the shielded task finish */
    WAIT_UNTIL(c->discarded);
    return NULL;
}

Test(shield, a_cancelled_caller_stops_waiting_the_task_runs_on, .timeout = 60)
{
    shield_case c = { 0 };
    the_shield_case = &c;
    corio_test_run_clean(shield_cancel_body, &c);
    cr_assert_eq(c.rc, CORIO_ECANCELED);
    cr_assert_eq(c.out.status, CORIO_EAGAIN);
    cr_assert_eq(c.done_when_caller_returned, 0);
    cr_assert_eq(c.cancelled_when_caller_returned, 0, "not passed on");
    cr_assert_eq(c.g.saw, 0, "the shielded task finished normally");
    cr_assert_eq(c.discarded, 1, "its result reached the discard callback");
    cr_assert_eq(c.discarded_value, 77);
}

static void *shield_in_time_body(void *arg)
{
    shield_case *c = arg;
    gate_init(&c->g, 5, 0);
    c->t = corio_spawn(gated, &c->g, NULL);
    corio_event_set(&c->g.open);
    c->rc = corio_shield_join(c->t, &c->out, count_discard);
    return NULL;
}

Test(shield, a_task_that_finishes_first_is_joined, .timeout = 60)
{
    shield_case c = { 0 };
    the_shield_case = &c;
    corio_test_run_clean(shield_in_time_body, &c);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.out.status, 0);
    cr_assert_eq((intptr_t)c.out.result, 5);
    cr_assert_eq(c.discarded, 0);
}

static void *shield_deadline_body(void *arg)
{
    shield_case *c = arg;
    gate_init(&c->g, 9, 0);
    c->t = corio_spawn(gated, &c->g, NULL);
    c->rc = corio_shield_join_until(c->t, &c->out, count_discard,
                                    corio_deadline_in(CORIO_MS(20)));
    c->cancelled_when_caller_returned = corio_task_cancelled(c->t);
    corio_event_set(&c->g.open);
    WAIT_UNTIL(c->discarded);
    return NULL;
}

Test(shield, a_deadline_stops_the_wait_not_the_task, .timeout = 60)
{
    shield_case c = { 0 };
    the_shield_case = &c;
    corio_test_run_clean(shield_deadline_body, &c);
    cr_assert_eq(c.rc, CORIO_ETIMEDOUT);
    cr_assert_eq(c.cancelled_when_caller_returned, 0);
    cr_assert_eq(c.g.saw, 0);
    cr_assert_eq(c.discarded, 1);
    cr_assert_eq(c.discarded_value, 9);
}
