/*
 * test_timer.c — the timer heap (deadline order, FIFO ties, removal) and
 * timers seen through tasks.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include "coro/timer.h"
#include <stdint.h>
#include <stdlib.h>

#define N 2000

static int fired[N], nfired;
static corio_timer timers[N];

static void record(corio_timer *t)
{
    fired[nfired++] = (int)(t - timers);
}

Test(timer, heap_fires_in_deadline_order_with_fifo_ties)
{
    corio_timer_heap h = { 0 };
    srand(12345);
    int64_t deadline[N];
    for (int i = 0; i < N; i++) {
        corio__timer_init(&timers[i], record);
        deadline[i] = rand() % 50; /* many equal deadlines */
        cr_assert_eq(corio__timer_heap_push(&h, &timers[i], deadline[i]), 0);
    }
    /* Remove every seventh: they must never fire. */
    for (int i = 0; i < N; i += 7) corio__timer_heap_remove(&h, &timers[i]);
    nfired = 0;
    corio__timer_heap_run(&h, 24);
    corio__timer_heap_run(&h, 1000);
    int expected = N - (N + 6) / 7;
    cr_assert_eq(nfired, expected);
    for (int k = 1; k < nfired; k++) {
        int a = fired[k - 1], b = fired[k];
        cr_assert(deadline[a] < deadline[b] || (deadline[a] == deadline[b] && a < b),
                  "timer %d (deadline %lld) fired before %d (deadline %lld)", a,
                  (long long)deadline[a], b, (long long)deadline[b]);
        cr_assert_neq(b % 7, 0, "a removed timer fired");
    }
    cr_assert_null(corio__timer_heap_min(&h));
    corio__timer_heap_free(&h);
}

Test(timer, run_stops_at_now)
{
    corio_timer_heap h = { 0 };
    corio__timer_init(&timers[0], record);
    corio__timer_init(&timers[1], record);
    corio__timer_heap_push(&h, &timers[0], 10);
    corio__timer_heap_push(&h, &timers[1], 20);
    nfired = 0;
    cr_assert_eq(corio__timer_heap_run(&h, 15), 1);
    cr_assert_eq(fired[0], 0);
    cr_assert(corio__timer_active(&timers[1]));
    cr_assert_not(corio__timer_active(&timers[0]));
    corio__timer_heap_free(&h);
}

/* Through tasks: sleepers wake in deadline order, equal deadlines in the
 * order they went to sleep. */
static int wake_log[64], nwake;
static int64_t base;

static void *sleep_to(void *arg)
{
    int idx = (int)(intptr_t)arg;
    int64_t offset = (idx % 4) * CORIO_MS(3); /* 4 distinct deadlines */
    corio_sleep_until(base + offset);
    wake_log[nwake++] = idx;
    return NULL;
}

static void *tasks_body(void *arg)
{
    (void)arg;
    corio_task *t[32];
    nwake = 0;
    /* Every sleeper must have armed its timer before the first deadline
     * (a deadline already past is a yield, not a timer): the 32 spawns run
     * once we park in the first join, so leave room for a loaded machine. */
    base = corio_now() + CORIO_MS(100);
    for (int i = 0; i < 32; i++) t[i] = corio_spawn(sleep_to, (void *)(intptr_t)i, NULL);
    for (int i = 0; i < 32; i++) corio_join(t[i], NULL);
    return NULL;
}

Test(timer, sleeping_tasks_wake_in_deadline_then_fifo_order)
{
    cr_assert_eq(corio_run(tasks_body, NULL, NULL), 0);
    cr_assert_eq(nwake, 32);
    for (int k = 1; k < 32; k++) {
        int a = wake_log[k - 1], b = wake_log[k];
        cr_assert(a % 4 < b % 4 || (a % 4 == b % 4 && a < b),
                  "task %d woke before task %d", a, b);
    }
}
