/*
 * test_signal.c — corio_signal_wait (net/signal.c over os/signal.h).
 *
 * On POSIX the tests raise() SIGUSR1 themselves: the handler writes the
 * self-pipe, the listener thread reads it, and the waiting tasks' loops
 * are told through corio_call_soon_threadsafe: the whole real path.
 * Windows has no SIGUSR1 and a process cannot send itself a console
 * event under wine, so there the console control handler is run through
 * the internal hook corio__signal_console_event, on a new thread, as the
 * system would run it.
 *
 * Tasks record what they saw; assertions are made on the loop's thread
 * once the loop is closed (a failed cr_assert must not unwind a task).
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "tests/util.h"
#include "net/signal_hooks.h"
#include "os/signal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <pthread.h>
#endif

/* Let other tasks (and other loops' threads) run until `n` tasks wait
 * for signum. Bounded on the clock, not in yields: the other loop may not
 * get the CPU for milliseconds on a busy machine. */
static int until_waiting(int signum, size_t n)
{
    WAIT_UNTIL(corio__signal_waiters(signum) >= n);
    return corio__signal_waiters(signum) >= n ? 0 : CORIO_ETIMEDOUT;
}

/* The signal the tests send, and how they send it. */
#ifdef _WIN32
#define TEST_SIGNAL SIGINT
static int send_test_signal(void)
{
    int claimed = corio__signal_console_event(CTRL_C_EVENT);
    return claimed == 1 ? 0 : CORIO_EIO;
}
#else
#define TEST_SIGNAL SIGUSR1
static int send_test_signal(void) { return raise(SIGUSR1) == 0 ? 0 : CORIO_EIO; }
#endif

/* A waiter task: waits until its deadline and returns what the wait said. */
typedef struct wait_job {
    int signum;
    int64_t deadline;
    int rc;
    int64_t took;
} wait_job;

static void *waiter(void *arg)
{
    wait_job *j = arg;
    int64_t t0 = corio_now();
    j->rc = corio_signal_wait_until(j->signum, j->deadline);
    j->took = corio_now() - t0;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* One waiter, several waiters                                          */
/* ------------------------------------------------------------------ */

typedef struct wake_case {
    size_t n;          /* waiters */
    wait_job jobs[4];
    int send_rc, park_rc;
} wake_case;

static void *wake_main(void *arg)
{
    wake_case *c = arg;
    corio_task *t[4];
    for (size_t i = 0; i < c->n; i++) {
        c->jobs[i] = (wait_job){ TEST_SIGNAL, corio_deadline_in(CORIO_SEC(10)),
                                 CORIO_EINVAL, 0 };
        t[i] = corio_spawn(waiter, &c->jobs[i], NULL);
    }
    c->park_rc = until_waiting(TEST_SIGNAL, c->n);
    c->send_rc = send_test_signal();
    for (size_t i = 0; i < c->n; i++) corio_join(t[i], NULL);
    return NULL;
}

Test(signal, a_waiter_wakes_when_the_signal_arrives, .timeout = 30)
{
    wake_case c = { .n = 1 };
    cr_assert_eq(corio_test_run_clean(wake_main, &c), 0);
    cr_assert_eq(c.park_rc, 0, "the waiter never parked");
    cr_assert_eq(c.send_rc, 0, "sending the signal failed");
    cr_assert_eq(c.jobs[0].rc, 0, "wait returned %s",
                 corio_strerror(c.jobs[0].rc));
    cr_assert_lt(c.jobs[0].took, CORIO_SEC(10), "woke only at its deadline");
    cr_assert_eq(corio__signal_waiters(TEST_SIGNAL), 0);
}

Test(signal, every_waiter_wakes, .timeout = 30)
{
    wake_case c = { .n = 3 };
    cr_assert_eq(corio_test_run_clean(wake_main, &c), 0);
    cr_assert_eq(c.park_rc, 0, "the waiters never parked");
    cr_assert_eq(c.send_rc, 0, "sending the signal failed");
    for (size_t i = 0; i < c.n; i++)
        cr_assert_eq(c.jobs[i].rc, 0, "waiter %zu: %s", i,
                     corio_strerror(c.jobs[i].rc));
}

/* ------------------------------------------------------------------ */
/* Deadline and cancellation                                            */
/* ------------------------------------------------------------------ */

static void *deadline_main(void *arg)
{
    wait_job *j = arg;
    j->signum = TEST_SIGNAL;
    j->deadline = corio_deadline_in(CORIO_MS(50));
    waiter(j);
    return NULL;
}

Test(signal, the_deadline_ends_the_wait, .timeout = 30)
{
    wait_job j;
    cr_assert_eq(corio_test_run_clean(deadline_main, &j), 0);
    cr_assert_eq(j.rc, CORIO_ETIMEDOUT, "wait returned %s", corio_strerror(j.rc));
    cr_assert_geq(j.took, CORIO_MS(50), "returned %lld ns early",
                  (long long)(CORIO_MS(50) - j.took));
    cr_assert_eq(corio__signal_waiters(TEST_SIGNAL), 0, "waiter left behind");
}

typedef struct cancel_case {
    wait_job job;
    int park_rc, status;
} cancel_case;

static void *cancel_main(void *arg)
{
    cancel_case *c = arg;
    c->job = (wait_job){ TEST_SIGNAL, CORIO_NEVER, CORIO_EINVAL, 0 };
    corio_task *t = corio_spawn(waiter, &c->job, NULL);
    c->park_rc = until_waiting(TEST_SIGNAL, 1);
    corio_cancel(t);
    c->status = corio_join(t, NULL);
    return NULL;
}

Test(signal, a_cancelled_waiter_leaves, .timeout = 30)
{
    cancel_case c;
    cr_assert_eq(corio_test_run_clean(cancel_main, &c), 0);
    cr_assert_eq(c.park_rc, 0, "the waiter never parked");
    cr_assert_eq(c.job.rc, CORIO_ECANCELED, "wait returned %s",
                 corio_strerror(c.job.rc));
    cr_assert_eq(c.status, CORIO_ECANCELED);
    cr_assert_eq(corio__signal_waiters(TEST_SIGNAL), 0, "waiter left behind");
}

/* ------------------------------------------------------------------ */
/* Nobody waiting: remembered once                                       */
/* ------------------------------------------------------------------ */

/* Send the signal and wait until net/signal.c has been told. */
static int send_and_settle(void)
{
    uint64_t before = corio__signal_deliveries(TEST_SIGNAL);
    int rc = send_test_signal();
    if (rc < 0) return rc;
    int64_t give_up = corio_deadline_in(CORIO_SEC(10));
    while (corio__signal_deliveries(TEST_SIGNAL) == before) {
        if (corio_now() > give_up) return CORIO_ETIMEDOUT;
        corio_sleep(CORIO_MS(1));
    }
    return 0;
}

typedef struct pending_case {
    int install_rc, send1_rc, send2_rc, first_rc, second_rc;
} pending_case;

static void *pending_main(void *arg)
{
    pending_case *c = arg;
    /* A wait whose deadline has passed installs the handler, then times
     * out: from now on the signal is caught, and nobody waits. */
    c->install_rc = corio_signal_wait_until(TEST_SIGNAL, corio_now());
    c->send1_rc = send_and_settle();
    c->send2_rc = send_and_settle();
    /* Deadline "now": a pending signal is the only way to get 0. */
    c->first_rc = corio_signal_wait_until(TEST_SIGNAL, corio_now());
    c->second_rc = corio_signal_wait_until(TEST_SIGNAL, corio_now());
    return NULL;
}

Test(signal, a_signal_nobody_waits_for_is_remembered_once, .timeout = 30)
{
    pending_case c;
    cr_assert_eq(corio_test_run_clean(pending_main, &c), 0);
    cr_assert_eq(c.install_rc, CORIO_ETIMEDOUT, "install wait: %s",
                 corio_strerror(c.install_rc));
    cr_assert_eq(c.send1_rc, 0, "first delivery never arrived");
    cr_assert_eq(c.send2_rc, 0, "second delivery never arrived");
    cr_assert_eq(c.first_rc, 0, "the pending signal was lost: %s",
                 corio_strerror(c.first_rc));
    cr_assert_eq(c.second_rc, CORIO_ETIMEDOUT,
                 "two signals left two wake-ups (%s): it must be one",
                 corio_strerror(c.second_rc));
}

/* ------------------------------------------------------------------ */
/* Bad arguments                                                         */
/* ------------------------------------------------------------------ */

typedef struct args_case { int zero, huge, fault; } args_case;

static void *args_main(void *arg)
{
    args_case *c = arg;
    c->zero = corio_signal_wait(0);
    c->huge = corio_signal_wait(100000);
    c->fault = corio_signal_wait(SIGSEGV);
    return NULL;
}

Test(signal, bad_signal_numbers_are_refused)
{
    args_case c;
    cr_assert_eq(corio_test_run_clean(args_main, &c), 0);
    cr_assert_eq(c.zero, CORIO_EINVAL);
    cr_assert_eq(c.huge, CORIO_EINVAL);
    /* SIGSEGV cannot be waited for (POSIX: a fault signal; Windows: not
     * a console event). */
    cr_assert(c.fault == CORIO_EINVAL || c.fault == CORIO_ENOTSUP,
              "SIGSEGV: %s", corio_strerror(c.fault));
    cr_assert_eq(corio_signal_wait(TEST_SIGNAL), CORIO_ENOLOOP,
                 "a wait outside a task must refuse");
}

/* ------------------------------------------------------------------ */
/* Platform specifics                                                    */
/* ------------------------------------------------------------------ */

#ifdef _WIN32

static void *break_main(void *arg)
{
    int *claimed = arg;
    /* Watch SIGINT only: Ctrl+Break (SIGBREAK) is then nobody's. */
    corio_signal_wait_until(SIGINT, corio_now());
    *claimed = corio__signal_console_event(CTRL_BREAK_EVENT);
    return NULL;
}

Test(signal, an_unwatched_console_event_is_left_to_windows)
{
    int claimed = -1;
    cr_assert_eq(corio_test_run_clean(break_main, &claimed), 0);
    cr_assert_eq(claimed, 0, "Ctrl+Break was claimed though nobody watches "
                 "SIGBREAK (the default handler would never see it)");
}

#else /* POSIX */

/* A second loop on its own thread waits too: both loops' waiters wake. */
typedef struct thread_case {
    wait_job job;
    int status;
} thread_case;

static void *other_loop_thread(void *arg)
{
    thread_case *c = arg;
    c->status = corio_run(waiter, &c->job, NULL);
    return NULL;
}

typedef struct two_loops_case {
    thread_case other;
    wait_job mine;
    int park_rc, send_rc;
} two_loops_case;

static void *two_loops_main(void *arg)
{
    two_loops_case *c = arg;
    c->mine = (wait_job){ SIGUSR1, corio_deadline_in(CORIO_SEC(10)), CORIO_EINVAL, 0 };
    corio_task *t = corio_spawn(waiter, &c->mine, NULL);
    c->park_rc = until_waiting(SIGUSR1, 2); /* ours and the other loop's */
    c->send_rc = send_test_signal();
    corio_join(t, NULL);
    return NULL;
}

Test(signal, waiters_in_two_loops_both_wake, .timeout = 30)
{
    two_loops_case c;
    memset(&c, 0, sizeof c);
    c.other.job = (wait_job){ SIGUSR1, corio_deadline_in(CORIO_SEC(10)),
                              CORIO_EINVAL, 0 };
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, other_loop_thread, &c.other), 0);
    int status = corio_test_run_clean(two_loops_main, &c);
    pthread_join(th, NULL);
    cr_assert_eq(status, 0);
    cr_assert_eq(c.park_rc, 0, "both waiters never parked");
    cr_assert_eq(c.send_rc, 0);
    cr_assert_eq(c.mine.rc, 0, "this loop's waiter: %s", corio_strerror(c.mine.rc));
    cr_assert_eq(c.other.job.rc, 0, "the other loop's waiter: %s",
                 corio_strerror(c.other.job.rc));
    cr_assert_eq(c.other.status, 0);
}

/* A handler the program installed before corio is still called. */
static volatile sig_atomic_t program_handler_ran;
static void program_handler(int signum) { (void)signum; program_handler_ran = 1; }

static void *chain_main(void *arg)
{
    wake_case *c = arg;
    c->jobs[0] = (wait_job){ SIGUSR2, corio_deadline_in(CORIO_SEC(10)), CORIO_EINVAL, 0 };
    corio_task *t = corio_spawn(waiter, &c->jobs[0], NULL);
    c->park_rc = until_waiting(SIGUSR2, 1);
    c->send_rc = raise(SIGUSR2) == 0 ? 0 : CORIO_EIO;
    corio_join(t, NULL);
    return NULL;
}

Test(signal, an_earlier_handler_is_chained, .timeout = 30)
{
    /* Under the one-process harness corio may already own SIGUSR2 from an
     * earlier run of this test; then there is nothing new to chain. */
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    if (now.sa_flags & SA_SIGINFO)
        cr_skip_test("SIGUSR2 already has a SA_SIGINFO handler (corio's?)");
    signal(SIGUSR2, program_handler);
    program_handler_ran = 0;
    wake_case c = { .n = 1 };
    cr_assert_eq(corio_test_run_clean(chain_main, &c), 0);
    cr_assert_eq(c.park_rc, 0);
    cr_assert_eq(c.send_rc, 0);
    cr_assert_eq(c.jobs[0].rc, 0, "wait returned %s", corio_strerror(c.jobs[0].rc));
    cr_assert_eq(program_handler_ran, 1, "the program's own handler was not called");
}

#endif
