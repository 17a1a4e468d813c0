/*
 * test_task.c — tasks: spawn, join, detach, names, states, yield, sleep,
 * and 100,000 tasks in one run.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *return_arg(void *arg) { return arg; }

static void *spawn_join_body(void *arg)
{
    (void)arg;
    corio_task *t = corio_spawn(return_arg, (void *)(intptr_t)7, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(corio_task_state_of(t), CORIO_TASK_READY);
    void *r = NULL;
    cr_assert_eq(corio_join(t, &r), 0);
    cr_assert_eq((intptr_t)r, 7);
    return (void *)(intptr_t)99;
}

Test(task, spawn_join_returns_result_and_main_result)
{
    void *r = NULL;
    cr_assert_eq(corio_run(spawn_join_body, NULL, &r), 0);
    cr_assert_eq((intptr_t)r, 99);
}

static void *fail_with_timeout(void *arg)
{
    (void)arg;
    return corio_fail(CORIO_ETIMEDOUT);
}

static void *join_status_body(void *arg)
{
    (void)arg;
    corio_task *t = corio_spawn(fail_with_timeout, NULL, NULL);
    cr_assert_eq(corio_join(t, NULL), CORIO_ETIMEDOUT);
    return NULL;
}

Test(task, fail_sets_the_join_status)
{
    cr_assert_eq(corio_run(join_status_body, NULL, NULL), 0);
}

static void *names_body(void *arg)
{
    (void)arg;
    corio_task_opts o = { .name = "worker-with-a-name" };
    corio_task *a = corio_spawn(return_arg, NULL, &o);
    corio_task *b = corio_spawn(return_arg, NULL, NULL);
    cr_assert_str_eq(corio_task_name(a), "worker-with-a-name");
    char expect[32];
    snprintf(expect, sizeof expect, "task-%llu", (unsigned long long)corio_task_id(b));
    cr_assert_str_eq(corio_task_name(b), expect);
    cr_assert_str_eq(corio_task_name(corio_current()), "main");
    cr_assert_eq(corio_task_state_of(corio_current()), CORIO_TASK_RUNNING);
    corio_join(a, NULL);
    corio_join(b, NULL);
    return NULL;
}

Test(task, names_ids_and_states)
{
    cr_assert_eq(corio_run(names_body, NULL, NULL), 0);
}

static void *double_join_body(void *arg)
{
    (void)arg;
    corio_task *t = corio_spawn(return_arg, NULL, NULL);
    corio_task *d = corio_spawn(return_arg, NULL, NULL);
    cr_assert_eq(corio_detach(d), 0);
    cr_assert_eq(corio_detach(d), CORIO_EALREADY);
    cr_assert_eq(corio_join(d, NULL), CORIO_EALREADY);
    cr_assert_eq(corio_join(corio_current(), NULL), CORIO_EINVAL);
    cr_assert_eq(corio_join(t, NULL), 0);
    return NULL;
}

Test(task, detach_and_join_misuse_are_errors)
{
    cr_assert_eq(corio_run(double_join_body, NULL, NULL), 0);
}

/* Each task appends its number, yields, appends again: with FIFO
 * scheduling the trace interleaves as 0 1 2 0 1 2. */
static int trace[16], ntrace;
static void *yielder(void *arg)
{
    trace[ntrace++] = (int)(intptr_t)arg;
    corio_yield();
    trace[ntrace++] = (int)(intptr_t)arg;
    return NULL;
}

static void *yield_body(void *arg)
{
    (void)arg;
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = corio_spawn(yielder, (void *)(intptr_t)i, NULL);
    for (int i = 0; i < 3; i++) corio_join(t[i], NULL);
    return NULL;
}

Test(task, yield_is_fifo_round_robin)
{
    ntrace = 0;
    cr_assert_eq(corio_run(yield_body, NULL, NULL), 0);
    int expect[] = { 0, 1, 2, 0, 1, 2 };
    cr_assert_eq(ntrace, 6);
    for (int i = 0; i < 6; i++) cr_assert_eq(trace[i], expect[i], "at %d", i);
}

static void *noop(void *arg) { return arg; }

static void *many_body(void *arg)
{
    int n = (int)(intptr_t)arg;
    corio_task **t = malloc(sizeof *t * (size_t)n);
    cr_assert_not_null(t);
    for (int i = 0; i < n; i++) {
        t[i] = corio_spawn(noop, (void *)(intptr_t)i, NULL);
        cr_assert_not_null(t[i], "spawn %d failed", i);
    }
    long sum = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        cr_assert_eq(corio_join(t[i], &r), 0);
        sum += (intptr_t)r;
    }
    free(t);
    cr_assert_eq(sum, (long)n * (n - 1) / 2);
    return NULL;
}

/* All 100,000 alive at once: dense stacks (guarded ones stop near 32k
 * because every guard page costs a kernel mapping). */
Test(task, hundred_thousand_tasks_alive_at_once_dense)
{
    corio_config cfg = { .stack_mode = CORIO_STACK_DENSE, .stack_size = 16 * 1024 };
    corio_loop *l = corio_loop_new(&cfg);
    cr_assert_not_null(l);
    corio_task *m = corio_loop_spawn(l, many_body, (void *)(intptr_t)100000, NULL);
    cr_assert_eq(corio_loop_run_until_complete(l, m, NULL), 0);
    cr_assert_eq(corio_loop_close(l), 0);
}

static void *waves_body(void *arg)
{
    (void)arg;
    for (int w = 0; w < 100; w++) many_body((void *)(intptr_t)1000);
    return NULL;
}

/* 100,000 guarded tasks in waves of 1,000: stacks come back to the pool. */
Test(task, hundred_thousand_guarded_tasks_in_waves)
{
    cr_assert_eq(corio_run(waves_body, NULL, NULL), 0);
}

static void *sleeper(void *arg)
{
    int64_t ns = (int64_t)(intptr_t)arg;
    int64_t t0 = corio_now();
    cr_assert_eq(corio_sleep(ns), 0);
    return (void *)(intptr_t)(corio_now() - t0);
}

static void *short_sleep_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        corio_task *t = corio_spawn(sleeper, (void *)(intptr_t)CORIO_US(300), NULL);
        void *r;
        corio_join(t, &r);
        cr_assert_geq((intptr_t)r, CORIO_US(300), "a 0.3 ms sleep returned early");
    }
    return NULL;
}

#ifndef _WIN32
#include <time.h>
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif

/* A 0.3 ms sleep never returns early, and the loop does not spin while it
 * waits: the process uses far less CPU than the wall time slept. */
Test(task, short_sleep_is_not_early_and_does_not_spin)
{
#ifndef _WIN32
    int64_t c0 = cpu_ns(), w0 = corio_now();
#endif
    cr_assert_eq(corio_run(short_sleep_body, NULL, NULL), 0);
#ifndef _WIN32
    int64_t cpu = cpu_ns() - c0, wall = corio_now() - w0;
    cr_assert_lt(cpu, wall * 6 / 10, "cpu %lld ns for %lld ns of sleeping",
                 (long long)cpu, (long long)wall);
#endif
}

static void *sleep_until_body(void *arg)
{
    (void)arg;
    int64_t d = corio_now() + CORIO_MS(2);
    cr_assert_eq(corio_sleep_until(d), 0);
    cr_assert_geq(corio_now(), d);
    /* A deadline in the past is a yield. */
    cr_assert_eq(corio_sleep_until(d - CORIO_SEC(1)), 0);
    cr_assert_eq(corio_sleep(0), 0);
    return NULL;
}

Test(task, sleep_until_absolute_deadline)
{
    cr_assert_eq(corio_run(sleep_until_body, NULL, NULL), 0);
}

Test(task, blocking_calls_outside_a_task_fail_cleanly)
{
    cr_assert_eq(corio_sleep(1), CORIO_ENOLOOP);
    cr_assert_eq(corio_yield(), CORIO_ENOLOOP);
    cr_assert_null(corio_current());
    cr_assert_null(corio_spawn(noop, NULL, NULL));
    cr_assert_str_eq(corio_strerror(CORIO_ENOLOOP), "blocking call outside a corio task");
}

static void *wait_until_body(void *arg)
{
    (void)arg;
    corio_task *t = corio_spawn(sleeper, (void *)(intptr_t)CORIO_MS(50), NULL);
    cr_assert_eq(corio_task_wait_until(t, corio_deadline_in(CORIO_MS(1))), CORIO_ETIMEDOUT);
    cr_assert_not(corio_task_done(t));
    cr_assert_eq(corio_task_wait(t), 0);
    cr_assert(corio_task_done(t));
    cr_assert_eq(corio_join(t, NULL), 0);
    return NULL;
}

Test(task, wait_until_does_not_consume_the_handle)
{
    cr_assert_eq(corio_run(wait_until_body, NULL, NULL), 0);
}

/* A child that finishes only once its gate is set, returning 5. */
static void *gated_five(void *arg)
{
    int rc = corio_event_wait((corio_event *)arg);
    return rc == 0 ? (void *)(intptr_t)5 : corio_fail(rc);
}

static void *join_until_body(void *arg)
{
    (void)arg;
    corio_event gate;
    corio_event_init(&gate);
    corio_task *t = corio_spawn(gated_five, &gate, NULL);
    void *r = NULL;
    /* Our own deadline: we stop waiting; the child is untouched. */
    cr_assert_eq(corio_join_until(t, &r, corio_deadline_in(CORIO_MS(1))),
                 CORIO_ETIMEDOUT);
    cr_assert_not(corio_task_done(t));
    cr_assert_not(corio_task_cancelled(t));
    /* ...and its handle can still be joined. */
    corio_event_set(&gate);
    cr_assert_eq(corio_join_until(t, &r, corio_deadline_in(CORIO_SEC(60))), 0);
    cr_assert_eq((intptr_t)r, 5);
    corio_event_destroy(&gate);
    return NULL;
}

Test(task, join_until_times_out_and_leaves_the_task_joinable)
{
    cr_assert_eq(corio_run(join_until_body, NULL, NULL), 0);
}

static void *join_until_scope_body(void *arg)
{
    (void)arg;
    corio_event gate;
    corio_event_init(&gate);
    corio_task *t = corio_spawn(gated_five, &gate, NULL);
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(1)));
    /* The scope passes first: that is not the join's own deadline, so the
     * child is cancelled and waited for, as corio_join does. */
    int rc = corio_join_until(t, NULL, corio_deadline_in(CORIO_SEC(60)));
    cr_assert_eq(corio_timeout_end(&s), CORIO_ETIMEDOUT);
    cr_assert_eq(rc, CORIO_ECANCELED);
    corio_event_destroy(&gate);
    return NULL;
}

Test(task, join_until_under_an_earlier_scope_cancels_the_task)
{
    cr_assert_eq(corio_run(join_until_scope_body, NULL, NULL), 0);
}

static void *stack_size_body(void *arg)
{
    (void)arg;
    /* A 1 MiB stack really holds a 700 KiB local array. */
    volatile char big[700 * 1024];
    memset((char *)big, 1, sizeof big);
    return (void *)(intptr_t)big[12345];
}

Test(task, per_task_stack_size)
{
    corio_loop *l = corio_loop_new(NULL);
    corio_task_opts o = { .name = "big", .stack_size = 1024 * 1024 };
    corio_task *t = corio_loop_spawn(l, stack_size_body, NULL, &o);
    void *r;
    cr_assert_eq(corio_loop_run_until_complete(l, t, &r), 0);
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(corio_loop_close(l), 0);
}

#ifndef _WIN32
#include <unwind.h>
/* The switch's CFI marks the trampoline as the outermost frame: an unwinder
 * (gdb's backtrace, C++ exceptions, profilers) walking up from inside a
 * task must stop there, cleanly, instead of running into the stack's
 * garbage. libgcc's unwinder reads the same CFI that gdb does. */
#ifndef CORIO_SWITCH_UCONTEXT
extern char corio__ctx_trampoline[]; /* (ucontext: glibc's __start_context) */
#endif

typedef struct { uintptr_t ip[64]; int n; } frames;

static _Unwind_Reason_Code one_frame(struct _Unwind_Context *ctx, void *arg)
{
    frames *f = arg;
    if (f->n < 64) f->ip[f->n++] = (uintptr_t)_Unwind_GetIP(ctx);
    return _URC_NO_REASON;
}

static void *unwind_body(void *arg)
{
    frames *f = arg;
    return (void *)(intptr_t)_Unwind_Backtrace(one_frame, f);
}

static void *unwind_main(void *arg)
{
    void *rc;
    corio_join(corio_spawn(unwind_body, arg, NULL), &rc);
    return rc;
}

Test(task, unwinding_stops_cleanly_at_the_task_entry)
{
    frames f = { .n = 0 };
    void *rc;
    cr_assert_eq(corio_run(unwind_main, &f, &rc), 0);
    cr_assert_eq((intptr_t)rc, _URC_END_OF_STACK, "the walk must end, not fail");
    cr_assert_lt(f.n, 16, "%d frames: the walk ran past the task's entry", f.n);
    /* libgcc reports the trampoline's caller, whose return address the CFI
     * marks undefined, as one last frame with IP 0: skip it. */
    int n = f.n;
    while (n > 0 && f.ip[n - 1] == 0) n--;
    cr_assert_gt(n, 0);
#ifndef CORIO_SWITCH_UCONTEXT
    uintptr_t last = f.ip[n - 1], t = (uintptr_t)corio__ctx_trampoline;
    cr_assert(last > t && last < t + 64,
              "outermost frame %#lx is not in corio__ctx_trampoline (%#lx)",
              (unsigned long)last, (unsigned long)t);
#endif
}
#endif

/* Inside a shield, a timeout scope opened in it bounds what is inside
 * (issue 11). A join_until whose park ends on that scope, not on its own
 * later deadline, must treat it as the scope's timeout: cancel the task
 * and wait for it, as outside a shield, not leave it running. (join used
 * to ask "shielded? then no scope counts", older than that rule.) */
static void *sleeps_long(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_SEC(60));
    return NULL;
}

static void *join_under_inner_scope(void *arg)
{
    (void)arg;
    corio_task *t = corio_spawn(sleeps_long, NULL, NULL);
    corio_shield_begin();
    corio_timeout s;
    corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(20)));
    int rc = corio_join_until(t, NULL, corio_deadline_in(CORIO_SEC(30)));
    int end = corio_timeout_end(&s);
    corio_shield_end();
    cr_expect_eq(end, CORIO_ETIMEDOUT, "the scope, not the join, expired");
    /* As outside a shield (join_until_under_an_earlier_scope_cancels_the_
     * task): the child was cancelled and waited for, so the join returns
     * its status. CORIO_ETIMEDOUT would mean it was taken for the join's
     * own deadline and the child left running (its 60 s sleep). */
    cr_expect_eq(rc, CORIO_ECANCELED, "the join left the task running: %s",
                 corio_strerror(rc));
    return NULL;
}

Test(task, join_until_ended_by_a_scope_inside_a_shield_cancels_the_task)
{
    cr_assert_eq(corio_run(join_under_inner_scope, NULL, NULL), 0);
}
