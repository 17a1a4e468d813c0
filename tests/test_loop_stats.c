/*
 * test_loop_stats.c — corio_loop_get_stats: each count follows what the
 * loop holds (tasks, pooled stacks, timers, registered descriptors), and
 * the size field keeps an older, shorter struct working.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stddef.h>
#include <string.h>

static corio_loop_stats now_stats(void)
{
    corio_loop_stats st;
    memset(&st, 0xab, sizeof st);
    st.size = sizeof st;
    int rc = corio_loop_get_stats(NULL, &st);
    cr_assert_eq(rc, 0, "%s", corio_strerror(rc));
    return st;
}

static void *sleeper(void *arg)
{
    corio_sleep(*(int64_t *)arg);
    return NULL;
}

typedef struct stats_case {
    corio_loop_stats before, sleeping, after, attached, closed;
} stats_case;

static void *stats_main(void *arg)
{
    stats_case *c = arg;
    c->before = now_stats();

    int64_t ns = CORIO_SEC(30);
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = corio_spawn(sleeper, &ns, NULL);
    corio_yield(); /* they start, and each arms its sleep's timer */
    c->sleeping = now_stats();
    for (int i = 0; i < 3; i++) corio_cancel(t[i]);
    for (int i = 0; i < 3; i++) corio_join(t[i], NULL);
    c->after = now_stats();

    /* A descriptor is attached at its first wait. */
    corio_fd a, b;
    if (corio_test_tcp_pair(&a, &b) != 0) return NULL;
    char x;
    corio_sock_recv_until(a, &x, 1, corio_deadline_in(CORIO_MS(1)));
    c->attached = now_stats();
    corio_fd_close(a);
    corio_fd_close(b);
    c->closed = now_stats();
    return NULL;
}

Test(loop_stats, counts_follow_what_the_loop_holds)
{
    stats_case c;
    memset(&c, 0, sizeof c);
    corio_test_run_clean(stats_main, &c);

    cr_assert_eq(c.before.size, sizeof(corio_loop_stats));
    cr_assert_eq(c.before.tasks_alive, 1, "just the main task");
    cr_assert_eq(c.sleeping.tasks_alive, 4);
    cr_assert_eq(c.sleeping.timers_armed, c.before.timers_armed + 3, "one sleep each");
    cr_assert_geq(c.sleeping.stacks_mapped, 4);
    cr_assert_eq(c.after.tasks_alive, 1);
    cr_assert_eq(c.after.timers_armed, c.before.timers_armed);
    cr_assert_geq(c.after.stacks_pooled, c.before.stacks_pooled + 3,
                  "the three stacks went back to the pool");
    cr_assert_eq(c.after.stacks_mapped, c.after.stacks_pooled + 1,
                 "mapped: the main task's stack and the pooled ones");
    cr_assert_eq(c.attached.fds_registered, c.before.fds_registered + 1);
    cr_assert_eq(c.closed.fds_registered, c.before.fds_registered);
    for (size_t i = 0; i < sizeof c.before.reserved / sizeof c.before.reserved[0]; i++)
        cr_assert_eq(c.before.reserved[i], 0, "reserved fields are zero");
}

static void *short_struct_main(void *arg)
{
    /* A caller built when the struct had only size and tasks_alive. */
    struct { size_t size, tasks_alive, canary; } old;
    old.size = offsetof(corio_loop_stats, tasks_alive) + sizeof(size_t);
    old.tasks_alive = 0;
    old.canary = 0x5eed;
    int *rc = arg;
    rc[0] = corio_loop_get_stats(NULL, (corio_loop_stats *)&old);
    rc[1] = (int)old.tasks_alive;
    rc[2] = old.canary == 0x5eed;
    rc[3] = old.size == offsetof(corio_loop_stats, tasks_alive) + sizeof(size_t);

    corio_loop_stats tiny = { .size = sizeof(size_t) };
    rc[4] = corio_loop_get_stats(NULL, &tiny);
    rc[5] = corio_loop_get_stats(NULL, NULL);
    return NULL;
}

Test(loop_stats, size_field_versions_the_struct)
{
    int rc[6];
    corio_test_run_clean(short_struct_main, rc);
    cr_assert_eq(rc[0], 0);
    cr_assert_eq(rc[1], 1, "the field it knows is filled");
    cr_assert(rc[2], "nothing written beyond its size");
    cr_assert(rc[3], "size says how much was filled");
    cr_assert_eq(rc[4], CORIO_EINVAL, "too small to hold any count");
    cr_assert_eq(rc[5], CORIO_EINVAL);
}

Test(loop_stats, no_loop)
{
    corio_loop_stats st = { .size = sizeof st };
    cr_assert_eq(corio_loop_get_stats(NULL, &st), CORIO_ENOLOOP);
}
