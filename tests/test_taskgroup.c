/*
 * test_taskgroup.c — corio_taskgroup, Python 3.11's asyncio.TaskGroup
 * (flow/taskgroup.c).
 *
 * As in test_compose.c: children wait on gates (corio_event) that the test
 * opens in a chosen order, tasks only record what they saw, and the test
 * asserts once the loop is closed, including that the close reported no
 * leftover task.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdint.h>
#include <string.h>


/* A child that waits for its gate, then returns `value` or fails with
 * `fail`. If it is cancelled instead it returns, or fails with
 * `fail_on_cancel` (a cleanup that itself goes wrong). */
typedef struct gate {
    corio_event open;
    intptr_t value;
    int fail, fail_on_cancel;
    int saw, finished;
} gate;

static void gate_init(gate *g, intptr_t value, int fail, int fail_on_cancel)
{
    memset(g, 0, sizeof *g);
    corio_event_init(&g->open);
    g->value = value;
    g->fail = fail;
    g->fail_on_cancel = fail_on_cancel;
}

static void *gated(void *arg)
{
    gate *g = arg;
    g->saw = corio_event_wait(&g->open);
    g->finished = 1;
    if (g->saw) return g->fail_on_cancel ? corio_fail(g->fail_on_cancel) : NULL;
    if (g->fail) return corio_fail(g->fail);
    return (void *)g->value;
}

static void settle(int turns)
{
    for (int i = 0; i < turns; i++) corio_yield();
}

typedef struct tg_case {
    gate g[4];
    int idx[4];
    int rc, late_spawn, destroy_early, destroy_rc;
    int status[4];
    intptr_t result[4];
    int all_finished_at_wait;
    int siblings_cancelled_before_wait;
    size_t nerr, size;
    int err[4];
    size_t err_child[4];
    int owner_status;
} tg_case;

/* Copy what the group knows, after the wait. */
static void collect(tg_case *c, corio_taskgroup *g, int n)
{
    c->size = corio_taskgroup_size(g);
    c->all_finished_at_wait = 1;
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        c->status[i] = corio_taskgroup_result(g, (size_t)i, &r);
        c->result[i] = (intptr_t)r;
        if (!c->g[i].finished) c->all_finished_at_wait = 0;
    }
    c->nerr = corio_taskgroup_error_count(g);
    for (size_t k = 0; k < c->nerr && k < 4; k++)
        c->err[k] = corio_taskgroup_error(g, k, &c->err_child[k]);
}

static void *all_succeed_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    for (int i = 0; i < 3; i++) {
        gate_init(&c->g[i], 10 + i, 0, 0);
        c->idx[i] = corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    }
    c->destroy_early = corio_taskgroup_destroy(&g); /* children alive */
    corio_event_set(&c->g[2].open);
    corio_event_set(&c->g[0].open);
    corio_event_set(&c->g[1].open);
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 3);
    c->late_spawn = corio_taskgroup_spawn(&g, gated, &c->g[3], NULL);
    c->destroy_rc = corio_taskgroup_destroy(&g);
    return NULL;
}

Test(taskgroup, waits_for_every_child_and_keeps_their_results, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(all_succeed_body, &c);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.destroy_early, CORIO_EBUSY);
    cr_assert_eq(c.size, 3u);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(c.idx[i], i, "children are numbered in spawn order");
        cr_assert_eq(c.status[i], 0);
        cr_assert_eq(c.result[i], 10 + i);
    }
    cr_assert_eq(c.all_finished_at_wait, 1);
    cr_assert_eq(c.nerr, 0u);
    cr_assert_eq(c.late_spawn, CORIO_ESHUTDOWN, "no spawn after the wait");
    cr_assert_eq(c.destroy_rc, 0);
}

static void *first_failure_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    gate_init(&c->g[0], 0, 0, 0);
    gate_init(&c->g[1], 1, 0, 0);
    gate_init(&c->g[2], 2, CORIO_EIO, 0); /* fails when opened */
    for (int i = 0; i < 3; i++)
        corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    corio_event_set(&c->g[2].open);
    settle(3);
    /* We have not reached the wait: the siblings must be cancelled
     * already, by the failure itself. */
    c->siblings_cancelled_before_wait =
        c->g[0].saw == CORIO_ECANCELED && c->g[1].saw == CORIO_ECANCELED;
    c->late_spawn = corio_taskgroup_spawn(&g, gated, &c->g[3], NULL);
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 3);
    corio_taskgroup_destroy(&g);
    return NULL;
}

Test(taskgroup, first_failure_cancels_the_siblings_at_once, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(first_failure_body, &c);
    cr_assert_eq(c.siblings_cancelled_before_wait, 1);
    cr_assert_eq(c.late_spawn, CORIO_ESHUTDOWN);
    cr_assert_eq(c.rc, CORIO_EIO);
    cr_assert_eq(c.status[0], CORIO_ECANCELED);
    cr_assert_eq(c.status[1], CORIO_ECANCELED);
    cr_assert_eq(c.status[2], CORIO_EIO);
    cr_assert_eq(c.nerr, 1u, "cancelled children are not errors");
    cr_assert_eq(c.err[0], CORIO_EIO);
    cr_assert_eq(c.err_child[0], 2u);
}

static void *every_error_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    gate_init(&c->g[0], 0, 0, 0);              /* cancelled, cleanly */
    gate_init(&c->g[1], 1, 0, CORIO_EPIPE);    /* its cleanup fails */
    gate_init(&c->g[2], 2, CORIO_EIO, 0);      /* the first failure */
    gate_init(&c->g[3], 3, 0, CORIO_EPERM);    /* its cleanup fails */
    for (int i = 0; i < 4; i++)
        corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    settle(2);
    corio_event_set(&c->g[2].open);
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 4);
    corio_taskgroup_destroy(&g);
    return NULL;
}

Test(taskgroup, reports_every_error_in_the_order_they_happened, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(every_error_body, &c);
    cr_assert_eq(c.rc, CORIO_EIO, "the wait returns the first failure");
    cr_assert_eq(c.nerr, 3u);
    cr_assert_eq(c.err[0], CORIO_EIO);
    cr_assert_eq(c.err_child[0], 2u);
    /* the cancellations went out in spawn order: 1 then 3 */
    cr_assert_eq(c.err[1], CORIO_EPIPE);
    cr_assert_eq(c.err_child[1], 1u);
    cr_assert_eq(c.err[2], CORIO_EPERM);
    cr_assert_eq(c.err_child[2], 3u);
    cr_assert_eq(c.status[0], CORIO_ECANCELED);
    cr_assert_eq(c.all_finished_at_wait, 1);
}

/* The task that owns the group is cancelled while it waits. */
static void *owner_in_wait(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    for (int i = 0; i < 2; i++) {
        gate_init(&c->g[i], i, 0, 0);
        corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    }
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 2);
    corio_taskgroup_destroy(&g);
    return NULL;
}

/* ... or while it is still in the body, blocked elsewhere. */
static void *owner_in_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    for (int i = 0; i < 2; i++) {
        gate_init(&c->g[i], i, 0, 0);
        corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    }
    corio_event never;
    corio_event_init(&never);
    corio_event_wait(&never); /* cancelled here */
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 2);
    corio_taskgroup_destroy(&g);
    return NULL;
}

typedef struct owner_case {
    tg_case *c;
    corio_fn owner;
} owner_case;

static void *cancel_owner_body(void *arg)
{
    owner_case *a = arg;
    tg_case *c = a->c;
    corio_task *owner = corio_spawn(a->owner, c, NULL);
    settle(4);
    corio_cancel(owner);
    c->owner_status = corio_join(owner, NULL);
    return NULL;
}

static void check_owner_cancelled(tg_case *c)
{
    cr_assert_eq(c->rc, CORIO_ECANCELED);
    cr_assert_eq(c->owner_status, CORIO_ECANCELED);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(c->g[i].saw, CORIO_ECANCELED, "child %d", i);
        cr_assert_eq(c->status[i], CORIO_ECANCELED);
    }
    cr_assert_eq(c->all_finished_at_wait, 1, "no child outlives the group");
    cr_assert_eq(c->nerr, 0u);
}

Test(taskgroup, cancelling_the_owner_in_the_wait_cancels_the_children, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    owner_case a = { &c, owner_in_wait };
    corio_test_run_clean(cancel_owner_body, &a);
    check_owner_cancelled(&c);
}

Test(taskgroup, cancelling_the_owner_in_the_body_cancels_the_children, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    owner_case a = { &c, owner_in_body };
    corio_test_run_clean(cancel_owner_body, &a);
    check_owner_cancelled(&c);
}

static void *deadline_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    gate_init(&c->g[0], 5, 0, 0);
    gate_init(&c->g[1], 6, 0, 0); /* never opened */
    for (int i = 0; i < 2; i++)
        corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    corio_event_set(&c->g[0].open);
    c->rc = corio_taskgroup_wait_until(&g, corio_deadline_in(CORIO_MS(20)));
    collect(c, &g, 2);
    corio_taskgroup_destroy(&g);
    return NULL;
}

Test(taskgroup, deadline_cancels_the_children_still_running, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(deadline_body, &c);
    cr_assert_eq(c.rc, CORIO_ETIMEDOUT);
    cr_assert_eq(c.status[0], 0);
    cr_assert_eq(c.result[0], 5);
    cr_assert_eq(c.status[1], CORIO_ECANCELED);
    cr_assert_eq(c.all_finished_at_wait, 1);
}

/* A child spawns a sibling into the same group while the owner waits. */
static corio_taskgroup *nested_group;
static tg_case *nested_case;

static void *spawner(void *arg)
{
    (void)arg;
    settle(2); /* the owner is in the wait by now */
    nested_case->idx[1] =
        corio_taskgroup_spawn(nested_group, gated, &nested_case->g[1], NULL);
    corio_event_set(&nested_case->g[1].open);
    return (void *)(intptr_t)1;
}

static void *nested_spawn_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    nested_group = &g;
    nested_case = c;
    gate_init(&c->g[1], 22, 0, 0);
    c->g[0].finished = 1; /* child 0 is `spawner`, no gate */
    c->idx[0] = corio_taskgroup_spawn(&g, spawner, NULL, NULL);
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 2);
    corio_taskgroup_destroy(&g);
    return NULL;
}

Test(taskgroup, children_may_spawn_siblings_while_the_owner_waits, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(nested_spawn_body, &c);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.size, 2u);
    cr_assert_eq(c.idx[1], 1);
    cr_assert_eq(c.result[0], 1);
    cr_assert_eq(c.result[1], 22);
    cr_assert_eq(c.all_finished_at_wait, 1);
}

static void *cancel_one_body(void *arg)
{
    tg_case *c = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    for (int i = 0; i < 3; i++) {
        gate_init(&c->g[i], i, 0, 0);
        corio_taskgroup_spawn(&g, gated, &c->g[i], NULL);
    }
    settle(2);
    corio_cancel(corio_taskgroup_task(&g, 1)); /* not a failure */
    settle(2);
    corio_event_set(&c->g[0].open);
    corio_event_set(&c->g[2].open);
    c->rc = corio_taskgroup_wait(&g);
    collect(c, &g, 3);
    corio_taskgroup_destroy(&g);
    return NULL;
}

Test(taskgroup, cancelling_one_child_does_not_abort_the_group, .timeout = 60)
{
    tg_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(cancel_one_body, &c);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.status[0], 0);
    cr_assert_eq(c.status[1], CORIO_ECANCELED);
    cr_assert_eq(c.status[2], 0);
    cr_assert_eq(c.result[2], 2);
    cr_assert_eq(c.nerr, 0u);
}
