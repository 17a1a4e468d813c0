/*
 * test_cancel.c — cancellation: delivered only at suspension points, as
 * CORIO_ECANCELED, sticky, with shields for cleanup.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include <stdint.h>

static void *sleep_long(void *arg)
{
    int *rc = arg;
    *rc = corio_sleep(CORIO_SEC(30));
    return NULL;
}

static void *cancel_sleeping_body(void *arg)
{
    (void)arg;
    int rc = 1;
    corio_task *t = corio_spawn(sleep_long, &rc, NULL);
    corio_yield(); /* let it start sleeping */
    cr_assert_eq(corio_task_state_of(t), CORIO_TASK_WAITING);
    cr_assert_eq(corio_cancel(t), 0);
    cr_assert(corio_task_cancelled(t));
    int64_t t0 = corio_now();
    cr_assert_eq(corio_join(t, NULL), CORIO_ECANCELED);
    cr_assert_eq(rc, CORIO_ECANCELED);
    cr_assert_lt(corio_now() - t0, CORIO_SEC(5), "cancel did not cut the sleep short");
    return NULL;
}

Test(cancel, while_sleeping)
{
    cr_assert_eq(corio_run(cancel_sleeping_body, NULL, NULL), 0);
}

/* Cancellation is sticky: a task that ignores the code cannot block again. */
static void *ignores_cancel(void *arg)
{
    int *calls = arg;
    for (int i = 0; i < 5; i++) {
        int rc = corio_sleep(CORIO_SEC(30));
        cr_assert_eq(rc, CORIO_ECANCELED);
        (*calls)++;
    }
    return (void *)(intptr_t)123;
}

static void *sticky_body(void *arg)
{
    (void)arg;
    int calls = 0;
    corio_task *t = corio_spawn(ignores_cancel, &calls, NULL);
    corio_yield();
    corio_cancel(t);
    void *r;
    cr_assert_eq(corio_join(t, &r), CORIO_ECANCELED);
    cr_assert_eq(calls, 5);
    cr_assert_eq((intptr_t)r, 123, "the result is kept even when cancelled");
    return NULL;
}

Test(cancel, is_sticky_so_ignoring_it_cannot_block)
{
    cr_assert_eq(corio_run(sticky_body, NULL, NULL), 0);
}

/* Cancelling a task that joins another passes the cancel on: join never
 * leaves its child running. */
static void *joiner(void *arg)
{
    corio_task *child = corio_spawn(sleep_long, arg, NULL);
    return (void *)(intptr_t)corio_join(child, NULL);
}

static void *cancel_joining_body(void *arg)
{
    (void)arg;
    int child_rc = 1;
    corio_task *j = corio_spawn(joiner, &child_rc, NULL);
    corio_yield();
    corio_yield();
    corio_cancel(j);
    void *r;
    cr_assert_eq(corio_join(j, &r), CORIO_ECANCELED);
    cr_assert_eq((intptr_t)r, CORIO_ECANCELED, "the child's join status");
    cr_assert_eq(child_rc, CORIO_ECANCELED, "the child was cancelled too");
    return NULL;
}

Test(cancel, while_joining_is_passed_to_the_child)
{
    cr_assert_eq(corio_run(cancel_joining_body, NULL, NULL), 0);
}

static void *wait_future(void *arg)
{
    return (void *)(intptr_t)corio_future_wait(arg, NULL);
}

static void *cancel_future_body(void *arg)
{
    (void)arg;
    corio_future *f = corio_future_new();
    corio_task *a = corio_spawn(wait_future, f, NULL);
    corio_task *b = corio_spawn(wait_future, f, NULL);
    corio_yield();
    corio_cancel(a);
    void *r;
    cr_assert_eq(corio_join(a, &r), CORIO_ECANCELED);
    cr_assert_eq((intptr_t)r, CORIO_ECANCELED);
    /* b still waits, and gets the value. */
    cr_assert_eq(corio_task_state_of(b), CORIO_TASK_WAITING);
    corio_future_set_result(f, NULL);
    cr_assert_eq(corio_join(b, &r), 0);
    cr_assert_eq((intptr_t)r, 0);
    corio_future_free(f);
    return NULL;
}

Test(cancel, while_waiting_on_a_future)
{
    cr_assert_eq(corio_run(cancel_future_body, NULL, NULL), 0);
}

static int ran;
static void *mark_ran(void *arg)
{
    (void)arg;
    ran = 1;
    return NULL;
}

/* Records what its first blocking call answered, then gives back what
 * it was handed: the owner of *arg is the function, always. */
static void *first_call_and_release(void *arg)
{
    int *cell = arg;
    ran = 1;
    cell[0] = corio_sleep(CORIO_SEC(60));
    cell[1] = corio_yield();
    cell[2] = 1; /* "released" */
    return NULL;
}

static void *yield_twice(void *arg)
{
    int *rc = arg;
    rc[0] = corio_yield();
    rc[1] = corio_yield();
    return NULL;
}

static void *cancel_ready_body(void *arg)
{
    (void)arg;
    /* Never started: unlike asyncio, its function still runs (so that it
     * can give back what it owns), and the cancel reaches it at its first
     * suspension point: the 60 s sleep returns at once. */
    ran = 0;
    int cell[3] = { 1, 1, 0 };
    corio_task *t = corio_spawn(first_call_and_release, cell, NULL);
    cr_assert_eq(corio_task_state_of(t), CORIO_TASK_READY);
    cr_assert_eq(corio_cancel(t), 0);
    cr_assert_eq(corio_join(t, NULL), CORIO_ECANCELED);
    cr_assert_eq(ran, 1, "a task cancelled before its first turn still runs");
    cr_assert_eq(cell[0], CORIO_ECANCELED);
    cr_assert_eq(cell[1], CORIO_ECANCELED, "the cancel is sticky");
    cr_assert_eq(cell[2], 1, "it got to release what it owned");
    /* One that never blocks runs to its end, and its status says it was
     * cancelled. */
    ran = 0;
    t = corio_spawn(mark_ran, NULL, NULL);
    corio_cancel(t);
    cr_assert_eq(corio_join(t, NULL), CORIO_ECANCELED);
    cr_assert_eq(ran, 1);
    /* Started, now ready in the run queue: its yield reports the cancel. */
    int rc[2] = { 1, 1 };
    corio_task *y = corio_spawn(yield_twice, rc, NULL);
    corio_yield(); /* y runs up to its first yield and is ready again */
    cr_assert_eq(corio_task_state_of(y), CORIO_TASK_READY);
    corio_cancel(y);
    cr_assert_eq(corio_join(y, NULL), CORIO_ECANCELED);
    cr_assert_eq(rc[0], CORIO_ECANCELED);
    cr_assert_eq(rc[1], CORIO_ECANCELED);
    return NULL;
}

Test(cancel, ready_but_not_running)
{
    cr_assert_eq(corio_run(cancel_ready_body, NULL, NULL), 0);
}

static void *self_cancel(void *arg)
{
    int *rc = arg;
    corio_cancel(corio_current());
    rc[0] = corio_cancelled();          /* requested... */
    rc[1] = corio_sleep(CORIO_SEC(10)); /* ...and delivered at the next wait */
    return NULL;
}

static void *self_cancel_body(void *arg)
{
    (void)arg;
    int rc[2] = { 0, 0 };
    corio_task *t = corio_spawn(self_cancel, rc, NULL);
    cr_assert_eq(corio_join(t, NULL), CORIO_ECANCELED);
    cr_assert_eq(rc[0], 1);
    cr_assert_eq(rc[1], CORIO_ECANCELED);
    return NULL;
}

Test(cancel, self_cancel)
{
    cr_assert_eq(corio_run(self_cancel_body, NULL, NULL), 0);
}

static void *finished_body(void *arg)
{
    (void)arg;
    corio_task *t = corio_spawn(mark_ran, NULL, NULL);
    corio_task_wait_until(t, CORIO_NEVER);
    cr_assert_eq(corio_cancel(t), CORIO_EALREADY);
    cr_assert_eq(corio_join(t, NULL), 0, "a finished task stays un-cancelled");
    return NULL;
}

Test(cancel, of_a_finished_task)
{
    cr_assert_eq(corio_run(finished_body, NULL, NULL), 0);
}

/* A task cleaning up inside a shield blocks normally; the cancellation
 * comes back at its first blocking call after the shield. */
static void *cleaner(void *arg)
{
    int *rc = arg;
    rc[0] = corio_sleep(CORIO_SEC(30)); /* cancelled here */
    corio_shield_begin();
    rc[1] = corio_sleep(CORIO_MS(2));   /* cleanup that must block */
    rc[2] = corio_yield();
    corio_shield_end();
    rc[3] = corio_sleep(CORIO_MS(1));   /* delivered again */
    return NULL;
}

static void *cleanup_body(void *arg)
{
    (void)arg;
    int rc[4] = { 1, 1, 1, 1 };
    corio_task *t = corio_spawn(cleaner, rc, NULL);
    corio_yield();
    corio_cancel(t);
    cr_assert_eq(corio_join(t, NULL), CORIO_ECANCELED);
    cr_assert_eq(rc[0], CORIO_ECANCELED);
    cr_assert_eq(rc[1], 0, "a shielded sleep completes");
    cr_assert_eq(rc[2], 0);
    cr_assert_eq(rc[3], CORIO_ECANCELED);
    return NULL;
}

Test(cancel, of_a_task_that_is_cleaning_up)
{
    cr_assert_eq(corio_run(cleanup_body, NULL, NULL), 0);
}

/* Cancelled while already shielded and sleeping: the sleep is not cut. */
static void *shielded_sleeper(void *arg)
{
    int *rc = arg;
    corio_shield_begin();
    int64_t t0 = corio_now();
    rc[0] = corio_sleep(CORIO_MS(5));
    rc[1] = corio_now() - t0 >= CORIO_MS(5);
    corio_shield_end();
    return NULL;
}

static void *cancel_in_shield_body(void *arg)
{
    (void)arg;
    int rc[2] = { 1, 0 };
    corio_task *t = corio_spawn(shielded_sleeper, rc, NULL);
    corio_yield();
    corio_cancel(t);
    cr_assert_eq(corio_join(t, NULL), CORIO_ECANCELED);
    cr_assert_eq(rc[0], 0);
    cr_assert_eq(rc[1], 1);
    return NULL;
}

Test(cancel, arriving_inside_a_shield_waits_for_its_end)
{
    cr_assert_eq(corio_run(cancel_in_shield_body, NULL, NULL), 0);
}

/* corio_run cancels what main left behind and lets it finish. */
static int leftover_rc;
static void *leftover(void *arg)
{
    (void)arg;
    leftover_rc = corio_sleep(CORIO_SEC(30));
    return NULL;
}

static void *leave_behind(void *arg)
{
    (void)arg;
    corio_detach(corio_spawn(leftover, NULL, NULL));
    corio_yield();
    return NULL;
}

Test(cancel, run_cancels_leftover_tasks)
{
    leftover_rc = 1;
    cr_assert_eq(corio_run(leave_behind, NULL, NULL), 0);
    cr_assert_eq(leftover_rc, CORIO_ECANCELED);
}
