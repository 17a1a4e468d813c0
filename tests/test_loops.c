/*
 * test_loops.c — loop groups (coro/group.c): corio_run_loops, each loop's
 * index, corio_spawn_on, and join / cancel / detach of a task that lives
 * on another loop.
 *
 * The tasks of different loops run on different threads, so what they
 * record goes into atomics or into one slot per loop, and the test reads
 * it after corio_run_loops has returned (the thread joins order it).
 * Nothing waits for another thread by sleeping: a cross-loop wait is a
 * join, and progress is waited for on the clock (WAIT_UNTIL).
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sched.h>
#endif

#define NLOOPS 3

/* ---- every loop knows its place ---- */

typedef struct places {
    unsigned index[NLOOPS], count[NLOOPS];
    corio_loop *self[NLOOPS], *at[NLOOPS][NLOOPS + 1];
    atomic_int entered;
} places;

static void *place_main(void *arg)
{
    places *p = arg;
    unsigned i = corio_loop_index();
    if (i >= NLOOPS) return corio_fail(CORIO_EINVAL);
    p->index[i] = i;
    p->count[i] = corio_loop_count();
    p->self[i] = corio_loop_current();
    for (unsigned j = 0; j <= NLOOPS; j++) p->at[i][j] = corio_loop_at(j);
    atomic_fetch_add(&p->entered, 1);
    return (void *)(uintptr_t)(i + 100);
}

Test(loops, every_loop_runs_main_and_knows_its_place, .timeout = 30)
{
    places p = { 0 };
    int statuses[NLOOPS] = { -99, -99, -99 };
    void *results[NLOOPS] = { 0 };
    corio_loops_opts o = { .statuses = statuses, .results = results };
    cr_assert_eq(corio_run_loops(NLOOPS, place_main, &p, &o), 0);
    cr_assert_eq(atomic_load(&p.entered), NLOOPS);
    for (unsigned i = 0; i < NLOOPS; i++) {
        cr_assert_eq(statuses[i], 0);
        cr_assert_eq((uintptr_t)results[i], i + 100);
        cr_assert_eq(p.count[i], NLOOPS);
        cr_assert_null(p.at[i][NLOOPS], "past the end is NULL");
        for (unsigned j = 0; j < NLOOPS; j++)
            cr_assert_eq(p.at[i][j], p.self[j], "loop %u sees loop %u", i, j);
        for (unsigned j = 0; j < i; j++)
            cr_assert_neq(p.self[i], p.self[j], "one loop per member");
    }
    /* Outside any group: no loop on this thread. */
    cr_assert_eq(corio_loop_count(), 0);
    cr_assert_null(corio_loop_at(0));
}

static void *lone_main(void *arg)
{
    (void)arg;
    if (corio_loop_count() != 1 || corio_loop_index() != 0 ||
        corio_loop_at(0) != corio_loop_current() || corio_loop_at(1))
        return corio_fail(CORIO_EINVAL);
    return NULL;
}

Test(loops, a_lone_loop_is_a_group_of_one)
{
    cr_assert_eq(corio_run(lone_main, NULL, NULL), 0);
}

static void set_env(const char *name, const char *value)
{
#ifdef _WIN32
    _putenv_s(name, value ? value : ""); /* "" removes it */
#else
    if (value) setenv(name, value, 1);
    else unsetenv(name);
#endif
}

Test(loops, count_from_the_environment_and_bad_values)
{
    set_env("CORIO_LOOPS", "2");
    cr_assert_eq(corio_loops_default(), 2);
    places p = { 0 };
    cr_assert_eq(corio_run_loops(0, place_main, &p, NULL), 0);
    cr_assert_eq(atomic_load(&p.entered), 2);
    const char *bad[] = { "0", "-1", "two", "2x", "5000" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        set_env("CORIO_LOOPS", bad[i]);
        cr_assert_eq(corio_loops_default(), 0, "CORIO_LOOPS=%s", bad[i]);
        cr_assert_eq(corio_run_loops(0, place_main, &p, NULL), CORIO_EINVAL);
    }
    set_env("CORIO_LOOPS", NULL);
    cr_assert_geq(corio_loops_default(), 1);
    cr_assert_eq(corio_run_loops(1, NULL, NULL, NULL), CORIO_EINVAL);
    cr_assert_eq(corio_run_loops(5000, place_main, &p, NULL), CORIO_EINVAL);
}

/* ---- spawn on another loop, join it there ---- */

#define ROUNDS 2000

static atomic_int ran;

static void *where_am_i(void *arg)
{
    atomic_fetch_add(&ran, 1);
    /* result: which loop ran it, and its argument back */
    return (void *)(uintptr_t)(corio_loop_index() * 100000 + (uintptr_t)arg);
}

static void *spawner_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() != 0) return NULL; /* the others only serve */
    for (int i = 0; i < ROUNDS; i++) {
        unsigned to = (unsigned)i % NLOOPS;
        corio_task *x = corio_spawn_on(corio_loop_at(to), where_am_i,
                                       (void *)(uintptr_t)i, NULL);
        NOTE(t, x, "spawn_on failed in round %d", i);
        if (!x) break;
        void *r = NULL;
        int rc = corio_join(x, &r);
        NOTE(t, rc == 0, "round %d: join %d", i, rc);
        NOTE(t, (uintptr_t)r == to * 100000 + (uintptr_t)i,
             "round %d: result %lu", i, (unsigned long)(uintptr_t)r);
    }
    return NULL;
}

Test(loops, spawn_on_runs_there_and_join_brings_the_result_back, .timeout = 60)
{
    tally t = { 0 };
    atomic_store(&ran, 0);
    cr_assert_eq(corio_run_loops(NLOOPS, spawner_main, &t, NULL), 0);
    ASSERT_TALLY_CLEAN(t);
    cr_assert_eq(atomic_load(&ran), ROUNDS);
}

/* Many spawns in flight at once, then all the joins. */
static void *fan_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() != 0) return NULL;
    enum { N = 300 };
    corio_task *x[N];
    for (int i = 0; i < N; i++)
        x[i] = corio_spawn_on(corio_loop_at(1 + (unsigned)i % (NLOOPS - 1)),
                              where_am_i, (void *)(uintptr_t)i, NULL);
    for (int i = 0; i < N; i++) {
        void *r = NULL;
        NOTE(t, x[i] && corio_join(x[i], &r) == 0, "join %d", i);
        NOTE(t, (uintptr_t)r % 100000 == (uintptr_t)i, "result %d", i);
    }
    return NULL;
}

Test(loops, many_spawns_in_flight, .timeout = 60)
{
    tally t = { 0 };
    atomic_store(&ran, 0);
    cr_assert_eq(corio_run_loops(NLOOPS, fan_main, &t, NULL), 0);
    ASSERT_TALLY_CLEAN(t);
    cr_assert_eq(atomic_load(&ran), 300);
}

/* ---- deadlines and cancellation across loops ---- */

static void *sleeper(void *arg)
{
    (void)arg;
    int rc = corio_sleep(CORIO_SEC(60));
    return (void *)(intptr_t)rc;
}

static void *cancel_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() != 0) return NULL;
    corio_task *x = corio_spawn_on(corio_loop_at(1), sleeper, NULL, NULL);
    NOTE(t, x, "spawn_on");
    if (!x) return NULL;
    int64_t t0 = corio_now();
    int rc = corio_join_until(x, NULL, corio_deadline_in(CORIO_MS(20)));
    NOTE(t, rc == CORIO_ETIMEDOUT, "join_until: %d", rc);
    NOTE(t, corio_now() - t0 >= CORIO_MS(20), "returned before its deadline");
    /* Still joinable: cancel it from here, then join it. */
    NOTE(t, corio_cancel_msg(x, "stop") == 0, "cancel");
    void *r = NULL;
    rc = corio_join(x, &r);
    NOTE(t, rc == CORIO_ECANCELED, "status %d", rc);
    NOTE(t, (intptr_t)r == CORIO_ECANCELED, "its sleep returned %ld",
         (long)(intptr_t)r);
    NOTE(t, corio_now() - t0 < CORIO_SEC(30), "the cancel did not reach it");
    return NULL;
}

Test(loops, join_until_times_out_then_cancel_and_join, .timeout = 60)
{
    tally t = { 0 };
    cr_assert_eq(corio_run_loops(2, cancel_main, &t, NULL), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* A joiner cancelled while it waits passes the cancel on, and waits. */
static void *joiner(void *arg)
{
    corio_task *x = arg;
    return (void *)(intptr_t)corio_join(x, NULL);
}

static void *cascade_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() != 0) return NULL;
    corio_task *x = corio_spawn_on(corio_loop_at(1), sleeper, NULL, NULL);
    corio_task *j = corio_spawn(joiner, x, NULL);
    NOTE(t, x && j, "spawn");
    if (!x || !j) return NULL;
    NOTE(t, until_parked(j) == 0, "the joiner never parked");
    corio_cancel(j);
    void *r = NULL;
    int rc = corio_join(j, &r);
    NOTE(t, rc == CORIO_ECANCELED, "joiner status %d", rc);
    NOTE(t, (intptr_t)r == CORIO_ECANCELED, "the remote task ended %ld",
         (long)(intptr_t)r);
    return NULL;
}

Test(loops, a_cancelled_joiner_cancels_the_remote_task, .timeout = 60)
{
    tally t = { 0 };
    cr_assert_eq(corio_run_loops(2, cascade_main, &t, NULL), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* Thousands of rounds of cancel and deadlines racing a remote task's end:
 * every function runs exactly once, every join ends with its result or
 * with CORIO_ECANCELED, nothing hangs, nothing is freed twice. */
static void *quick(void *arg)
{
    atomic_fetch_add(&ran, 1);
    for (uintptr_t k = 0; k < (uintptr_t)arg % 4; k++) corio_yield();
    return arg;
}

static void *race_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() != 0) return NULL;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        corio_task *x = corio_spawn_on(corio_loop_at(1), quick,
                                       (void *)(uintptr_t)(i + 1), NULL);
        NOTE(t, x, "spawn_on %d", i);
        if (!x) break;
        if (i % 3 == 0) corio_cancel(x);
        for (int k = 0; k < i % 4; k++) corio_yield();
        void *r = NULL;
        int rc = corio_join_until(x, &r, corio_deadline_in((i % 5) * 500));
        if (rc == CORIO_ETIMEDOUT) {
            if (i % 2) corio_cancel(x);
            rc = corio_join(x, &r);
        }
        NOTE(t, rc == 0 || rc == CORIO_ECANCELED, "round %d: %d", i, rc);
        NOTE(t, rc != 0 || (uintptr_t)r == (uintptr_t)(i + 1), "round %d: lost "
             "its result", i);
        NOTE(t, rc == 0 || i % 3 == 0 || i % 2, "round %d: cancelled unasked", i);
    }
    return NULL;
}

Test(loops, cancel_and_deadlines_race_a_remote_finish, .timeout = 120)
{
    tally t = { 0 };
    atomic_store(&ran, 0);
    cr_assert_eq(corio_run_loops(2, race_main, &t, NULL), 0);
    ASSERT_TALLY_CLEAN(t);
    cr_assert_eq(atomic_load(&ran), RACE_ROUNDS);
}

/* ---- detach across loops, leftovers at the end ---- */

static atomic_int reports;

static void count_report(void *ctx, const char *msg)
{
    (void)ctx;
    cr_log_warn("loop close: %s", msg);
    atomic_fetch_add(&reports, 1);
}

static void *leave_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() != 0) return NULL;
    /* One detached and finishing, one detached and sleeping for ever
     * (cancelled once every main has returned), one never touched. */
    corio_task *a = corio_spawn_on(corio_loop_at(1), quick, (void *)1, NULL);
    corio_task *b = corio_spawn_on(corio_loop_at(1), sleeper, NULL, NULL);
    NOTE(t, a && b, "spawn_on");
    NOTE(t, a && corio_detach(a) == 0, "detach a");
    NOTE(t, a && corio_detach(a) == CORIO_EALREADY, "detach a twice");
    NOTE(t, b && corio_detach(b) == 0, "detach b");
    return NULL;
}

Test(loops, detached_remote_tasks_end_with_the_group, .timeout = 60)
{
    tally t = { 0 };
    atomic_store(&reports, 0);
    corio_config cfg = { .report = count_report };
    corio_loops_opts o = { .config = &cfg };
    int64_t t0 = corio_now();
    cr_assert_eq(corio_run_loops(2, leave_main, &t, &o), 0);
    ASSERT_TALLY_CLEAN(t);
    cr_assert_eq(atomic_load(&reports), 0, "no loop reported a leak");
    cr_assert_lt(corio_now() - t0, CORIO_SEC(30), "the sleeper was not cancelled");
}

/* ---- a main that fails ---- */

static void *fail_main(void *arg)
{
    (void)arg;
    if (corio_loop_index() == 1) return corio_fail(CORIO_EIO);
    int rc = corio_sleep(CORIO_SEC(60)); /* ended by the group's cancel */
    return rc == CORIO_ECANCELED ? NULL : corio_fail(CORIO_EINVAL);
}

Test(loops, a_failing_main_cancels_the_others, .timeout = 60)
{
    int st[NLOOPS] = { 0 };
    corio_loops_opts o = { .statuses = st };
    int64_t t0 = corio_now();
    cr_assert_eq(corio_run_loops(NLOOPS, fail_main, NULL, &o), CORIO_EIO);
    cr_assert_lt(corio_now() - t0, CORIO_SEC(30));
    cr_assert_eq(st[1], CORIO_EIO);
    cr_assert_eq(st[0], CORIO_ECANCELED);
    cr_assert_eq(st[2], CORIO_ECANCELED);
}

/* ---- pinning ---- */

static void *pin_main(void *arg)
{
    int *cpu = arg;
#ifdef __linux__
    /* Pinned: exactly one CPU in the thread's mask. */
    cpu_set_t set;
    CPU_ZERO(&set);
    int one = -1;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) one = c;
    cpu[corio_loop_index()] = one;
#else
    cpu[corio_loop_index()] = (int)corio_loop_index();
#endif
    return NULL;
}

Test(loops, pinned_loops_run_on_their_cpu, .timeout = 30)
{
    int cpu[2] = { -1, -1 };
    corio_loops_opts o = { .pin = true };
    cr_assert_eq(corio_run_loops(2, pin_main, cpu, &o), 0);
    unsigned n = corio_cpu_count();
    cr_assert_eq(cpu[0], 0);
    cr_assert_eq(cpu[1], (int)(1 % n));
}
