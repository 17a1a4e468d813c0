/*
 * test_loop.c — the loop: explicit create/run/close, the report of tasks
 * never joined, callbacks (also from another thread), task-locals and
 * debug mode.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include "os/thread.h"
#include <stdint.h>
#include <string.h>

typedef struct { char msg[8][256]; int n; } reports;

static void collect(void *ctx, const char *m)
{
    reports *r = ctx;
    if (r->n < 8) strncpy(r->msg[r->n], m, 255);
    r->n++;
}

static void *quick(void *arg) { return arg; }
static void *forever(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_SEC(3600));
    return NULL;
}

static void *leaky_main(void *arg)
{
    (void)arg;
    corio_task_opts a = { .name = "finished-unjoined" }, b = { .name = "still-sleeping" };
    corio_spawn(quick, NULL, &a);
    corio_spawn(forever, NULL, &b);
    corio_detach(corio_spawn(quick, NULL, NULL)); /* detached: not reported */
    corio_yield();
    corio_yield();
    return NULL;
}

Test(loop, close_reports_tasks_never_joined_and_pending)
{
    reports r = { .n = 0 };
    corio_config cfg = { .report = collect, .report_ctx = &r, .debug = -1 };
    corio_loop *l = corio_loop_new(&cfg);
    cr_assert_not_null(l);
    cr_assert_eq(corio_loop_current(), l);
    cr_assert_null(corio_loop_new(NULL), "one loop per thread");
    corio_task *m = corio_loop_spawn(l, leaky_main, NULL, NULL);
    cr_assert_eq(corio_loop_run_until_complete(l, m, NULL), 0);
    cr_assert_eq(corio_loop_close(l), 2);
    cr_assert_eq(r.n, 2);
    int seen_pending = 0, seen_unjoined = 0;
    for (int i = 0; i < 2; i++) {
        if (strstr(r.msg[i], "'still-sleeping'") && strstr(r.msg[i], "destroyed but it is pending")
            && strstr(r.msg[i], "sleep"))
            seen_pending = 1;
        if (strstr(r.msg[i], "'finished-unjoined'") && strstr(r.msg[i], "never joined or detached"))
            seen_unjoined = 1;
    }
    cr_assert(seen_pending, "got: %s | %s", r.msg[0], r.msg[1]);
    cr_assert(seen_unjoined, "got: %s | %s", r.msg[0], r.msg[1]);
    cr_assert_null(corio_loop_current());
}

static void *count_up(void *arg)
{
    int *n = arg;
    (*n)++;
    return NULL;
}

Test(loop, run_until_complete_twice_and_run_until_idle)
{
    corio_loop *l = corio_loop_new(NULL);
    int n = 0;
    corio_task *a = corio_loop_spawn(l, count_up, &n, NULL);
    corio_task *b = corio_loop_spawn(l, count_up, &n, NULL);
    corio_detach(b);
    cr_assert_eq(corio_loop_run_until_complete(l, a, NULL), 0);
    corio_detach(corio_loop_spawn(l, count_up, &n, NULL));
    cr_assert_eq(corio_loop_run(l), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(corio_loop_close(l), 0);
}

static int order[8], norder;
static void note(void *arg) { order[norder++] = (int)(intptr_t)arg; }

static void *call_soon_body(void *arg)
{
    (void)arg;
    norder = 0;
    for (int i = 0; i < 5; i++) corio_call_soon(note, (void *)(intptr_t)i);
    cr_assert_eq(norder, 0, "callbacks run later, on the loop");
    corio_sleep(CORIO_MS(1));
    cr_assert_eq(norder, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(order[i], i);
    return NULL;
}

Test(loop, call_soon_runs_callbacks_in_order)
{
    cr_assert_eq(corio_run(call_soon_body, NULL, NULL), 0);
}

/* Another thread wakes a loop that is blocked in the poller with nothing
 * else to do: the only way out is the cross-thread wakeup. */
typedef struct { corio_loop *loop; corio_future *f; int calls; } xthread;

static void set_from_loop(void *arg)
{
    xthread *x = arg;
    if (++x->calls == 100) corio_future_set_result(x->f, (void *)(intptr_t)77);
}

static void other_thread(void *arg)
{
    xthread *x = arg;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(corio_call_soon_threadsafe(x->loop, set_from_loop, x), 0);
}

static void *xthread_body(void *arg)
{
    xthread *x = arg;
    x->loop = corio_loop_current();
    x->f = corio_future_new();
    corio_os_thread *th = corio__os_thread_start(other_thread, x);
    cr_assert_not_null(th);
    void *v;
    cr_assert_eq(corio_future_wait(x->f, &v), 0);
    cr_assert_eq((intptr_t)v, 77);
    corio__os_thread_join(th);
    corio_future_free(x->f);
    return NULL;
}

Test(loop, cross_thread_wakeup)
{
    xthread x = { 0 };
    cr_assert_eq(corio_run(xthread_body, &x, NULL), 0);
    cr_assert_eq(x.calls, 100);
}

/* A loop kept busy by tasks that are spawned and finish at once must still
 * fire timers and run callbacks posted from another thread. Each round
 * spawns K detached tasks and yields, so the dispatch budget (64) runs
 * out on a different kind of switch for each K: 62, 65 and 128 once made
 * the budget always run out on a task's exit, where a shortcut skipped
 * the timers and the poller, and a 1 ms sleeper never woke. The bound
 * (5 s per K) only ends a failing run; a passing one ends when the
 * sleeper and the callback have both come through (about 1 ms). */
typedef struct {
    corio_loop *loop;
    volatile int slept, called;
} busy_probe;

static void *empty_task(void *arg) { return arg; }

static void *sleep_1ms(void *arg)
{
    busy_probe *p = arg;
    if (corio_sleep(CORIO_MS(1)) == 0) p->slept = 1;
    return NULL;
}

static void mark_called(void *arg) { ((busy_probe *)arg)->called = 1; }

static void post_from_thread(void *arg)
{
    busy_probe *p = arg;
    corio_call_soon_threadsafe(p->loop, mark_called, p);
}

static void *busy_spawning_body(void *arg)
{
    int k = (int)(intptr_t)arg;
    busy_probe p = { corio_loop_current(), 0, 0 };
    corio_task *sleeper = corio_spawn(sleep_1ms, &p, NULL);
    corio_yield(); /* it starts its sleep */
    corio_os_thread *th = corio__os_thread_start(post_from_thread, &p);
    cr_assert_not_null(th);
    int64_t bound = corio_deadline_in(CORIO_SEC(5));
    long rounds = 0;
    while (!(p.slept && p.called) && corio_now() < bound) {
        for (int i = 0; i < k; i++) corio_detach(corio_spawn(empty_task, NULL, NULL));
        corio_yield();
        rounds++;
    }
    corio__os_thread_join(th);
    cr_expect(p.slept, "K=%d: the 1 ms sleeper did not wake in %ld rounds", k, rounds);
    cr_expect(p.called, "K=%d: the cross-thread callback did not run in %ld rounds",
              k, rounds);
    corio_cancel(sleeper);
    corio_join(sleeper, NULL);
    return NULL;
}

Test(loop, busy_spawning_does_not_starve_timers, .timeout = 60)
{
    static const int ks[] = { 1, 62, 63, 64, 65, 127, 128 };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        cr_assert_eq(corio_run(busy_spawning_body, (void *)(intptr_t)ks[i], NULL), 0);
}

Test(loop, reports_backend_and_switch)
{
    const char *b = corio_backend_name(), *s = corio_switch_name();
    cr_assert(strcmp(b, "epoll") == 0 || strcmp(b, "kqueue") == 0 || strcmp(b, "iocp") == 0, "%s", b);
    cr_assert(strncmp(s, "asm-", 4) == 0 || strcmp(s, "ucontext") == 0, "%s", s);
}

/* ---- task-locals ---- */

static corio_local request_id = CORIO_LOCAL_INIT("request_id", (void *)(intptr_t)-1);

static void *read_local(void *arg)
{
    (void)arg;
    void *before = corio_local_get(&request_id);
    corio_local_set(&request_id, (void *)(intptr_t)500); /* own copy */
    corio_yield();
    return before;
}

static void *locals_body(void *arg)
{
    (void)arg;
    cr_assert_eq((intptr_t)corio_local_get(&request_id), -1, "initial value");
    corio_task *unrelated = corio_spawn(read_local, NULL, NULL); /* before set */
    corio_local_set(&request_id, (void *)(intptr_t)42);
    corio_task *child = corio_spawn(read_local, NULL, NULL);
    void *r;
    corio_join(child, &r);
    cr_assert_eq((intptr_t)r, 42, "inherited at spawn");
    corio_join(unrelated, &r);
    cr_assert_eq((intptr_t)r, -1, "a task spawned before the set does not see it");
    cr_assert_eq((intptr_t)corio_local_get(&request_id), 42, "children's sets stay theirs");
    return NULL;
}

Test(loop, task_locals_inherited_and_isolated)
{
    cr_assert_eq(corio_run(locals_body, NULL, NULL), 0);
    cr_assert_eq(corio_local_set(&request_id, NULL), CORIO_ENOLOOP);
}

/* ---- debug mode ---- */

static void *busy_5ms(void *arg)
{
    (void)arg;
    int64_t t0 = corio_now();
    while (corio_now() - t0 < CORIO_MS(5)) {
    }
    return NULL;
}

static void *deep_stack(void *arg)
{
    (void)arg;
    volatile char buf[40 * 1024];
    memset((char *)buf, 7, sizeof buf);
    corio_sleep(CORIO_SEC(3600));
    return (void *)(intptr_t)buf[100];
}

static void *debug_body(void *arg)
{
    (void)arg;
    corio_debug_slow_ns(NULL, CORIO_MS(1));
    corio_task_opts o = { .name = "hog" }, d = { .name = "deep" };
    corio_join(corio_spawn(busy_5ms, NULL, &o), NULL);
    corio_task *t = corio_spawn(deep_stack, NULL, &d);
    corio_yield();
    corio_task_info info[4];
    size_t n = corio_all_tasks(NULL, info, 4);
    cr_assert_eq(n, 2);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(info[i].name, "deep") == 0) {
            found = 1;
            cr_assert_eq(info[i].state, CORIO_TASK_WAITING);
            cr_assert_str_eq(info[i].waiting_in, "sleep");
            cr_assert_geq(info[i].stack_high_water, 40 * 1024);
            cr_assert_lt(info[i].stack_high_water, info[i].stack_size);
        }
    }
    cr_assert(found);
    corio_cancel(t);
    corio_join(t, NULL);
    return NULL;
}

Test(loop, debug_mode_reports_slow_tasks_and_stack_use)
{
    reports r = { .n = 0 };
    corio_config cfg = { .report = collect, .report_ctx = &r, .debug = 1 };
    corio_loop *l = corio_loop_new(&cfg);
    corio_task *m = corio_loop_spawn(l, debug_body, NULL, NULL);
    cr_assert_eq(corio_loop_run_until_complete(l, m, NULL), 0);
    corio_loop_close(l);
    int slow = 0, deepest = 0;
    for (int i = 0; i < r.n && i < 8; i++) {
        if (strstr(r.msg[i], "'hog'") && strstr(r.msg[i], "without suspending")) slow = 1;
        if (strstr(r.msg[i], "deepest stack") && strstr(r.msg[i], "'deep'")) deepest = 1;
    }
    cr_assert(slow, "no slow-task report (%d reports, first: %s)", r.n, r.msg[0]);
    cr_assert(deepest, "no high-water report");
}

#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>

static void *nap(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_sleep(CORIO_MS(1));
}

/* After fork() the child shares the parent's epoll set. It must not use
 * the inherited loop silently: it sees no current loop, can make its own
 * (with its own poller), and running the parent's fails with a message. */
Test(loop, a_forked_child_gets_its_own_loop)
{
    corio_loop *parent = corio_loop_new(NULL);
    cr_assert_not_null(parent);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int ok = corio_loop_current() == NULL;
        ok = ok && corio_loop_run(parent) == CORIO_EINVAL;
        corio_loop *mine = corio_loop_new(NULL);
        ok = ok && mine != NULL;
        if (mine) {
            corio_task *t = corio_loop_spawn(mine, nap, NULL, NULL);
            void *r = (void *)1;
            ok = ok && corio_loop_run_until_complete(mine, t, &r) == 0 && r == NULL;
            corio_loop_close(mine);
        }
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
    cr_assert_eq(corio_loop_current(), parent, "the parent keeps its loop");
    cr_assert_eq(corio_loop_close(parent), 0);
}
#endif
