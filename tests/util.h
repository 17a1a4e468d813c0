/*
 * util.h — what several suites share: tallies for checks made inside
 * tasks, SIGPIPE handling, waiting for progress on the clock, the plan of
 * hand-off races, and running a body as the main task of a fresh loop
 * that must close with nothing leaked.
 *
 * corio_test_run_clean(fn, arg) runs fn(arg) as the main task, lets
 * whatever it left detached finish (corio_loop_run), closes the loop, and
 * asserts that the close reported nothing: no task left pending, none
 * finished but never joined. Returns the main task's status.
 */
#ifndef CORIO_TESTS_UTIL_H
#define CORIO_TESTS_UTIL_H

#include <criterion/criterion.h>
#include <corio.h>

#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>

/*
 * A tally: what the tasks of one test saw. Code inside tasks records a
 * failed check with NOTE(&t, cond, message...) and goes on (an assert
 * from deep inside a task would leave its loop half-run); the test checks
 * ASSERT_TALLY_CLEAN(t) after the loop is closed. The first failure keeps
 * its message for the report.
 */
typedef struct tally {
    int failures;
    char first[256];
} tally;

static inline void tally_fail(tally *t, int line, const char *fmt, ...)
{
    if (t->failures++ == 0) {
        int n = snprintf(t->first, sizeof t->first, "line %d: ", line);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first + n, sizeof t->first - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

#define NOTE(t, cond, ...) \
    do { if (!(cond)) tally_fail((t), __LINE__, __VA_ARGS__); } while (0)

#define ASSERT_TALLY_CLEAN(t) \
    cr_assert_eq((t).failures, 0, "%d failure(s), first: %s", \
                 (t).failures, (t).first)

/* Test runners may ignore SIGPIPE; the dead-peer tests put the fatal
 * default back so that a send raising it would kill the test (Windows has
 * no SIGPIPE). */
typedef void (*signal_handler)(int);
static inline signal_handler sigpipe_fatal(void)
{
#ifdef SIGPIPE
    return signal(SIGPIPE, SIG_DFL);
#else
    return SIG_DFL;
#endif
}
static inline void sigpipe_restore(signal_handler previous)
{
#ifdef SIGPIPE
    signal(SIGPIPE, previous);
#else
    (void)previous;
#endif
}

static void corio_test_count_report(void *ctx, const char *message)
{
    ++*(int *)ctx;
    cr_log_warn("loop close: %s", message);
}

/* ---- waiting for progress: an event or a clock deadline, never a count ---- */

/*
 * A test that must wait for something done elsewhere (by another task,
 * a pool thread, another loop, a child process or the kernel) yields
 * until it sees it happen, or until WAIT_LIMIT of clock time has passed,
 * and then fails with a message instead of hanging. Such a wait is never
 * bounded by a number of yields: a yield takes about a microsecond on an
 * idle machine, while the other side may need milliseconds on a busy one,
 * so a count that is plenty today makes the test flake under load.
 *
 * A fixed number of yields is right only where everything awaited happens
 * inside this loop, between tasks that need nothing but the CPU: the run
 * queue is FIFO, so k yields let a chain of k hand-offs finish whatever
 * the load. yield_n() below and the suites' settle() rely on that.
 */
#define WAIT_LIMIT CORIO_SEC(10)

/* WAIT_UNTIL(cond): yield until cond holds or WAIT_LIMIT has passed on
 * the monotonic clock. It is a statement; test cond after it to see which
 * of the two ended the wait. */
#define WAIT_UNTIL(cond)                                                  \
    for (int64_t wait_until_end_ = corio_deadline_in(WAIT_LIMIT);         \
         !(cond) && corio_now() < wait_until_end_;)                       \
        corio_yield()

/* Let other tasks run until t is parked in a blocking call (its state is
 * CORIO_TASK_WAITING). 0, or CORIO_ETIMEDOUT if it did not park within
 * WAIT_LIMIT. */
static inline int until_parked(corio_task *t)
{
    WAIT_UNTIL(corio_task_state_of(t) == CORIO_TASK_WAITING);
    return corio_task_state_of(t) == CORIO_TASK_WAITING ? 0 : CORIO_ETIMEDOUT;
}

/* ---- races between a hand-off and a cancel or timeout (sync suites) ---- */

static inline void yield_n(int n)
{
    for (int i = 0; i < n; i++) corio_yield();
}

/* One round of a race: how the hand-off and the cancel/timeout interleave. */
typedef struct race_plan {
    int give_yields;    /* yields before the giver hands over */
    int cancel_yields;  /* yields before the target is cancelled */
    bool by_timeout;    /* the target times out instead of being cancelled */
    int64_t timeout_ns; /* its deadline, relative to when it starts waiting */
} race_plan;

#define RACE_ROUNDS 3000

/* Even rounds cancel, odd rounds time out. Cancel rounds try every pair
 * of small yield counts (the order of events is what matters). Timeout
 * rounds let the giver yield up to 96 times: the loop checks timers every
 * 64 task switches, so deadlines of 0-2 us expire before, during or after
 * the hand-off. */
static inline race_plan plan_for(int round)
{
    race_plan p;
    int k = round / 2;
    p.by_timeout = round & 1;
    if (p.by_timeout) {
        p.give_yields = k % 97;
        p.cancel_yields = 0;
        p.timeout_ns = (k % 5) * 500;
    } else {
        p.give_yields = k % 9;
        p.cancel_yields = (k / 9) % 9;
        p.timeout_ns = 0;
    }
    return p;
}

static inline int64_t target_deadline(const race_plan *p)
{
    return p->by_timeout ? corio_deadline_in(p->timeout_ns) : CORIO_NEVER;
}

static inline int corio_test_run_clean(corio_fn fn, void *arg)
{
    int reported = 0;
    corio_config cfg = { .report = corio_test_count_report, .report_ctx = &reported };
    corio_loop *loop = corio_loop_new(&cfg);
    cr_assert_not_null(loop, "corio_loop_new failed");
    corio_task *main_task = corio_loop_spawn(loop, fn, arg, NULL);
    cr_assert_not_null(main_task, "spawn of the main task failed");
    int status = corio_loop_run_until_complete(loop, main_task, NULL);
    corio_loop_run(loop);
    int left = corio_loop_close(loop);
    cr_assert_eq(left, 0, "loop close reported %d task(s)", left);
    cr_assert_eq(reported, 0, "report callback called %d time(s)", reported);
    return status;
}

/*
 * Descriptors open in this process (POSIX; 0 on Windows), for tests that
 * check a scenario leaks none: count before, run, count after. A loop is
 * opened and closed first, so that what a backend frees lazily is freed
 * (the kqueue test double closes a kqueue's wakeup descriptor only when
 * the next kqueue is made, since it cannot see close()).
 */
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#endif
static inline int count_open_fds(void)
{
    corio_loop *l = corio_loop_new(NULL);
    if (l) corio_loop_close(l);
#ifdef _WIN32
    return 0;
#else
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) n++;
    return n;
#endif
}

/* A connected TCP pair over loopback, from inside a task: *a the
 * connecting end, *b the accepted one. 0 or the failing call's code. */
static inline int corio_test_tcp_pair(corio_fd *a, corio_fd *b)
{
    corio_addr at, bound;
    corio_fd lfd;
    int64_t dl = corio_deadline_in(WAIT_LIMIT);
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio_tcp_listen(&at, 4, 0, &lfd);
    if (rc < 0) return rc;
    rc = corio_sock_local_addr(lfd, &bound);
    if (rc == 0) rc = corio_tcp_connect_until(&bound, a, dl);
    if (rc == 0) {
        rc = corio_tcp_accept_until(lfd, b, NULL, dl);
        if (rc < 0) corio_fd_close(*a);
    }
    corio_fd_close(lfd);
    return rc;
}

#endif
