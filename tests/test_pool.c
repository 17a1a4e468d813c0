/*
 * test_pool.c — the thread pool: corio_to_thread / corio_run_in_executor
 * (flow/pool.c).
 *
 * The worker functions block for real, on a condition variable of
 * os/thread.h (portable: Windows has no pthreads) or, on POSIX, in read(2)
 * on a pipe. They are released by a task, and only after that task has
 * counted a number of turns of the loop: the count the worker reports back
 * proves that the loop kept running other tasks while a worker was
 * blocked. Nothing here measures time.
 *
 * Tasks only record; the test asserts after the loop is closed. Results
 * that are malloc'd are freed by the discard callbacks under test, so the
 * sanitizer build also proves that an abandoned result is never leaked.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"
#include "os/thread.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <unistd.h>
#endif

/* How many loop turns the "other" task counts while a worker is blocked. */
#define TURNS 100


/* ------------------------------------------------------------------ */
/* A blocking call released by the test                                */
/* ------------------------------------------------------------------ */

typedef struct blocker {
    corio_os_mutex *m;
    corio_os_cond *c;
    int entered;     /* the worker is inside the call */
    int released;    /* the test let it go */
    int count_seen;  /* the other task's count at release */
    int calls;       /* how many times the function ran */
    int malloc_result;
} blocker;

static void blocker_init(blocker *b)
{
    memset(b, 0, sizeof *b);
    b->m = corio__os_mutex_new();
    b->c = corio__os_cond_new();
}

static void blocker_free(blocker *b)
{
    corio__os_mutex_free(b->m);
    corio__os_cond_free(b->c);
}

/* Runs on a worker thread. */
static void *blocking_call(void *arg)
{
    blocker *b = arg;
    corio__os_mutex_lock(b->m);
    b->calls++;
    b->entered = 1;
    corio__os_cond_broadcast(b->c);
    while (!b->released) corio__os_cond_wait(b->c, b->m);
    int seen = b->count_seen;
    corio__os_mutex_unlock(b->m);
    if (b->malloc_result) {
        int *p = malloc(sizeof *p);
        *p = seen;
        return p;
    }
    return (void *)(intptr_t)seen;
}

static int blocker_entered(blocker *b)
{
    corio__os_mutex_lock(b->m);
    int e = b->entered;
    corio__os_mutex_unlock(b->m);
    return e;
}

static void blocker_release(blocker *b, int count)
{
    corio__os_mutex_lock(b->m);
    b->count_seen = count;
    b->released = 1;
    corio__os_cond_broadcast(b->c);
    corio__os_mutex_unlock(b->m);
}

/* Wait (in a task, bounded on the clock) until the worker is inside the
 * call. */
static int await_entered(blocker *b)
{
    WAIT_UNTIL(blocker_entered(b));
    return blocker_entered(b);
}

/* The "other" task: waits until the worker is blocked, counts TURNS turns
 * of the loop, then releases the worker with the count. */
typedef struct counter {
    blocker *b;
    int count;
    int saw_entered;
} counter;

static void *count_then_release(void *arg)
{
    counter *k = arg;
    k->saw_entered = await_entered(k->b);
    for (int i = 0; i < TURNS; i++) {
        k->count++;
        corio_yield();
    }
    blocker_release(k->b, k->count);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

static void *square(void *arg)
{
    intptr_t x = (intptr_t)arg;
    return (void *)(x * x);
}

typedef struct many_case {
    int rc[50];
    intptr_t r[50];
} many_case;

static many_case *the_many;

static void *square_in_thread(void *arg)
{
    intptr_t i = (intptr_t)arg;
    void *r = NULL;
    the_many->rc[i] = corio_to_thread(square, (void *)i, &r, NULL);
    the_many->r[i] = (intptr_t)r;
    return NULL;
}

static void *many_body(void *arg)
{
    (void)arg;
    corio_task *t[50];
    for (intptr_t i = 0; i < 50; i++)
        t[i] = corio_spawn(square_in_thread, (void *)i, NULL);
    corio_gather(t, 50, NULL, 0);
    return NULL;
}

Test(pool, fifty_tasks_get_their_own_results_back, .timeout = 60)
{
    many_case c;
    memset(&c, 0, sizeof c);
    the_many = &c;
    corio_test_run_clean(many_body, NULL);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(c.rc[i], 0);
        cr_assert_eq(c.r[i], (intptr_t)i * i);
    }
}

/* ------------------------------------------------------------------ */
/* A blocked worker does not block the loop                           */
/* ------------------------------------------------------------------ */

typedef struct progress_case {
    blocker b;
    counter k;
    int rc;
    intptr_t seen;
} progress_case;

static void *progress_body(void *arg)
{
    progress_case *c = arg;
    c->k.b = &c->b;
    corio_task *other = corio_spawn(count_then_release, &c->k, NULL);
    void *r = NULL;
    c->rc = corio_to_thread(blocking_call, &c->b, &r, NULL);
    c->seen = (intptr_t)r;
    corio_join(other, NULL);
    return NULL;
}

Test(pool, other_tasks_run_while_a_worker_blocks_on_a_condvar, .timeout = 60)
{
    progress_case c;
    memset(&c, 0, sizeof c);
    blocker_init(&c.b);
    corio_test_run_clean(progress_body, &c);
    blocker_free(&c.b);
    cr_assert_eq(c.k.saw_entered, 1);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.seen, TURNS, "the worker was released only after the "
                 "other task counted %d turns", TURNS);
    cr_assert_eq(c.k.count, TURNS);
}

#ifndef _WIN32
/* The same with a real blocking system call: read(2) on a pipe that a
 * task writes to after counting. */
typedef struct pipe_case {
    int fds[2];
    int count;
    int rc;
    intptr_t got;
} pipe_case;

static void *read_one_byte(void *arg)
{
    pipe_case *c = arg;
    unsigned char byte = 0;
    ssize_t n = read(c->fds[0], &byte, 1); /* blocks the worker */
    return (void *)(intptr_t)(n == 1 ? byte : -1);
}

static void *count_then_write(void *arg)
{
    pipe_case *c = arg;
    for (int i = 0; i < TURNS; i++) {
        c->count++;
        corio_yield();
    }
    unsigned char byte = (unsigned char)c->count;
    if (write(c->fds[1], &byte, 1) != 1) c->count = -1;
    return NULL;
}

static void *pipe_body(void *arg)
{
    pipe_case *c = arg;
    corio_task *w = corio_spawn(count_then_write, c, NULL);
    void *r = NULL;
    c->rc = corio_to_thread(read_one_byte, c, &r, NULL);
    c->got = (intptr_t)r;
    corio_join(w, NULL);
    return NULL;
}

Test(pool, other_tasks_run_while_a_worker_blocks_in_read, .timeout = 60)
{
    pipe_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(pipe(c.fds), 0);
    corio_test_run_clean(pipe_body, &c);
    close(c.fds[0]);
    close(c.fds[1]);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.got, TURNS, "read returned what was written after "
                 "%d turns", TURNS);
}
#endif

/* ------------------------------------------------------------------ */
/* Cancellation and deadlines                                          */
/* ------------------------------------------------------------------ */

typedef struct cancel_case {
    blocker b;
    int rc;
    int entered_at_return, released_at_return;
    int discarded;
    int discarded_in_loop; /* before the loop closed */
    int discarded_value;
    intptr_t deadline_ms; /* 0: cancel the waiter instead */
} cancel_case;

static cancel_case *the_cancel;

static void discard_int(void *result)
{
    the_cancel->discarded++;
    the_cancel->discarded_value = result ? *(int *)result : -1;
    free(result);
}

static void *waiter(void *arg)
{
    cancel_case *c = arg;
    void *r = NULL;
    int64_t dl = c->deadline_ms ? corio_deadline_in(CORIO_MS(c->deadline_ms))
                                : CORIO_NEVER;
    c->rc = corio_to_thread_until(blocking_call, &c->b, &r, discard_int, dl);
    corio__os_mutex_lock(c->b.m);
    c->entered_at_return = c->b.entered;
    c->released_at_return = c->b.released;
    corio__os_mutex_unlock(c->b.m);
    return NULL;
}

static void *cancel_running_body(void *arg)
{
    cancel_case *c = arg;
    corio_task *w = corio_spawn(waiter, c, NULL);
    await_entered(&c->b);
    if (!c->deadline_ms) corio_cancel(w);
    corio_join(w, NULL);
    /* The call is still blocked in its worker; let it finish now. Its
     * result must come back to the loop and go to the discard callback. */
    blocker_release(&c->b, 1234);
    WAIT_UNTIL(c->discarded);
    c->discarded_in_loop = c->discarded;
    return NULL;
}

static void check_abandoned(cancel_case *c, int expect_rc)
{
    cr_assert_eq(c->rc, expect_rc);
    cr_assert_eq(c->entered_at_return, 1);
    cr_assert_eq(c->released_at_return, 0,
                 "the caller returned while the worker was still blocked");
    cr_assert_eq(c->b.calls, 1);
    cr_assert_eq(c->discarded_in_loop, 1, "the late result reached discard "
                 "through the loop");
    cr_assert_eq(c->discarded, 1, "and only once");
    cr_assert_eq(c->discarded_value, 1234);
}

Test(pool, cancelled_caller_returns_at_once_and_the_result_is_discarded, .timeout = 60)
{
    cancel_case c;
    memset(&c, 0, sizeof c);
    the_cancel = &c;
    blocker_init(&c.b);
    c.b.malloc_result = 1;
    corio_test_run_clean(cancel_running_body, &c);
    blocker_free(&c.b);
    check_abandoned(&c, CORIO_ECANCELED);
}

Test(pool, deadline_returns_at_once_and_the_result_is_discarded, .timeout = 60)
{
    cancel_case c;
    memset(&c, 0, sizeof c);
    the_cancel = &c;
    blocker_init(&c.b);
    c.b.malloc_result = 1;
    c.deadline_ms = 20;
    corio_test_run_clean(cancel_running_body, &c);
    blocker_free(&c.b);
    check_abandoned(&c, CORIO_ETIMEDOUT);
}

/* A call still queued when its caller gives up never runs. */
typedef struct queued_case {
    blocker b;
    corio_pool *pool;
    int ran_second;
    int rc_first, rc_second, rc_third;
    int discarded;
} queued_case;

static queued_case *the_queued;

static void *mark_ran(void *arg)
{
    (void)arg;
    the_queued->ran_second = 1; /* a worker thread writes, read after */
    return NULL;
}

static void count_discard(void *r)
{
    (void)r;
    the_queued->discarded++;
}

static void *first_caller(void *arg)
{
    queued_case *c = arg;
    c->rc_first = corio_run_in_executor(c->pool, blocking_call, &c->b, NULL,
                                        NULL);
    return NULL;
}

static void *second_caller(void *arg)
{
    queued_case *c = arg;
    c->rc_second = corio_run_in_executor(c->pool, mark_ran, NULL, NULL,
                                         count_discard);
    return NULL;
}

static void *queued_body(void *arg)
{
    queued_case *c = arg;
    corio_task *a = corio_spawn(first_caller, c, NULL);
    await_entered(&c->b);             /* the only worker is now busy */
    corio_task *b = corio_spawn(second_caller, c, NULL);
    corio_yield();                    /* b queues its call and parks */
    corio_cancel(b);
    corio_join(b, NULL);
    blocker_release(&c->b, 0);
    corio_join(a, NULL);
    /* One worker, FIFO queue: had the second call stayed queued, it would
     * run before this one. */
    c->rc_third = corio_run_in_executor(c->pool, square, (void *)3, NULL, NULL);
    return NULL;
}

Test(pool, a_queued_call_whose_caller_gave_up_never_runs, .timeout = 60)
{
    queued_case c;
    memset(&c, 0, sizeof c);
    the_queued = &c;
    blocker_init(&c.b);
    c.pool = corio_pool_new(1);
    cr_assert_not_null(c.pool);
    cr_assert_eq(corio_pool_max_threads(c.pool), 1u);
    corio_test_run_clean(queued_body, &c);
    corio_pool_free(c.pool);
    blocker_free(&c.b);
    cr_assert_eq(c.rc_first, 0);
    cr_assert_eq(c.rc_second, CORIO_ECANCELED);
    cr_assert_eq(c.rc_third, 0);
    cr_assert_eq(c.ran_second, 0, "withdrawn before any worker took it");
    cr_assert_eq(c.discarded, 0, "nothing ran, nothing to discard");
}

/* A task already cancelled does not even start the call. */
static int ran_anyway;

static void *note_ran(void *arg)
{
    (void)arg;
    ran_anyway = 1;
    return NULL;
}

static void *precancelled_body(void *arg)
{
    int *rc = arg;
    corio_cancel(corio_current());
    rc[0] = corio_to_thread(note_ran, NULL, NULL, NULL);
    corio_shield_begin(); /* shielded, the same call works */
    rc[1] = corio_to_thread(note_ran, NULL, NULL, NULL);
    corio_shield_end();
    return NULL;
}

Test(pool, a_cancelled_task_does_not_start_a_call_unless_shielded, .timeout = 60)
{
    int rc[2] = { 1, 1 };
    ran_anyway = 0;
    corio_test_run_clean(precancelled_body, rc);
    cr_assert_eq(rc[0], CORIO_ECANCELED);
    cr_assert_eq(rc[1], 0);
    cr_assert_eq(ran_anyway, 1);
}

/* ------------------------------------------------------------------ */
/* Several workers really run at once                                  */
/* ------------------------------------------------------------------ */

/* Two calls that can only finish together: each waits until both have
 * arrived. With fewer than two workers at once this would hang (and the
 * test would fail by its timeout). */
typedef struct rendezvous {
    corio_os_mutex *m;
    corio_os_cond *c;
    int arrived;
} rendezvous;

static void *meet(void *arg)
{
    rendezvous *r = arg;
    corio__os_mutex_lock(r->m);
    r->arrived++;
    corio__os_cond_broadcast(r->c);
    while (r->arrived < 2) corio__os_cond_wait(r->c, r->m);
    corio__os_mutex_unlock(r->m);
    return (void *)(intptr_t)1;
}

static rendezvous *the_rdv;

static void *meet_in_thread(void *arg)
{
    (void)arg;
    void *r = NULL;
    int rc = corio_to_thread(meet, the_rdv, &r, NULL);
    return rc ? corio_fail(rc) : r;
}

static void *rendezvous_body(void *arg)
{
    int *rc = arg;
    corio_default_pool_threads(NULL, 2);
    corio_call calls[2] = { { meet_in_thread, NULL }, { meet_in_thread, NULL } };
    corio_outcome out[2];
    rc[0] = corio_gather_calls(calls, 2, out, 0);
    rc[1] = (int)((intptr_t)out[0].result + (intptr_t)out[1].result);
    return NULL;
}

Test(pool, two_workers_run_two_calls_at_the_same_time, .timeout = 30)
{
    rendezvous r;
    r.m = corio__os_mutex_new();
    r.c = corio__os_cond_new();
    r.arrived = 0;
    the_rdv = &r;
    int rc[2] = { 1, 0 };
    corio_test_run_clean(rendezvous_body, rc);
    corio__os_mutex_free(r.m);
    corio__os_cond_free(r.c);
    cr_assert_eq(rc[0], 0);
    cr_assert_eq(rc[1], 2);
}

/* ------------------------------------------------------------------ */
/* Loop close                                                          */
/* ------------------------------------------------------------------ */

/* main leaves a task waiting on a worker and returns; the loop is closed
 * with it pending. Close must wait for the worker and discard the result
 * (freed by discard_int: the sanitizer build checks nothing leaks). */
static void quiet(void *ctx, const char *message)
{
    (void)ctx;
    (void)message;
}

static void *nap(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_US(100));
    return NULL;
}

static void *left_waiting(void *arg)
{
    cancel_case *c = arg;
    void *r = NULL;
    c->rc = corio_to_thread(blocking_call, &c->b, &r, discard_int);
    return r;
}

Test(pool, loop_close_waits_for_the_worker_and_discards_the_result, .timeout = 60)
{
    cancel_case c;
    memset(&c, 0, sizeof c);
    the_cancel = &c;
    blocker_init(&c.b);
    c.b.malloc_result = 1;
    c.rc = 1;
    corio_config cfg = { .report = quiet };  /* the report is expected */
    corio_loop *l = corio_loop_new(&cfg);
    cr_assert_not_null(l);
    corio_task *w = corio_loop_spawn(l, left_waiting, &c, NULL);
    /* Run until the worker is inside the call, then release it without
     * letting the loop run again: the result arrives after the loop
     * stopped, and close must deal with it. */
    int64_t give_up = corio_deadline_in(WAIT_LIMIT);
    while (!blocker_entered(&c.b) && corio_now() < give_up) {
        corio_task *tick = corio_loop_spawn(l, nap, NULL, NULL);
        corio_loop_run_until_complete(l, tick, NULL);
    }
    cr_assert_eq(blocker_entered(&c.b), 1);
    blocker_release(&c.b, 99);
    int reported = corio_loop_close(l);
    (void)w;
    blocker_free(&c.b);
    cr_assert_eq(reported, 1, "the waiting task was destroyed pending");
    cr_assert_eq(c.rc, 1, "it never returned");
    cr_assert_eq(c.discarded, 1);
    cr_assert_eq(c.discarded_value, 99);
}

Test(pool, sizes, .timeout = 60)
{
    corio_pool *p = corio_pool_new(3);
    cr_assert_eq(corio_pool_max_threads(p), 3u);
    corio_pool_free(p);
    p = corio_pool_new(0);
    unsigned want = (unsigned)corio__os_cpu_count() + 4;
    if (want > 32) want = 32;
    cr_assert_eq(corio_pool_max_threads(p), want);
    corio_pool_free(p);
}
