/*
 * test_sync.c — sync/: Lock, Semaphore, BoundedSemaphore, Event, Condition,
 * Barrier (the queues are in test_queue.c).
 *
 * Every test runs its work in tasks on a fresh loop and closes the loop,
 * asserting that nothing was left pending (run_main). Assertions are made
 * on the test's own stack, never inside a task: tasks NOTE what they saw
 * into a tally, checked once the loop is closed.
 *
 * The *_race tests are the cancellation-safety proof (docs/design.md,
 * section 5, "Hand-off"). Each runs thousands of rounds; in every round a
 * "giver" hands something over (a release, a set, a notify) while a
 * "target" waiting for it is cancelled or times out, and a "bystander"
 * waits behind the target. The number of yields before the hand-off and
 * before the cancel, and the target's deadline, change from round to
 * round, so the cancel lands before, at and after the hand-off. Whatever
 * the order, counting proves that nothing was lost (the bystander always
 * gets what the target did not take) and nothing was duplicated.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Harness                                                            */
/* ------------------------------------------------------------------ */

static tally g_tally; /* reset by run_main; one test at a time */

static void run_main(corio_fn fn, void *arg)
{
    memset(&g_tally, 0, sizeof g_tally);
    int status = corio_test_run_clean(fn, arg);
    cr_assert_eq(status, 0, "main task status %d (%s)", status,
                 corio_strerror(status));
    cr_assert_eq(g_tally.failures, 0, "%d failure(s), first: %s",
                 g_tally.failures, g_tally.first);
}

/* Spawn with a small stack: some tests run a thousand tasks. */
static corio_task *go(corio_fn fn, void *arg)
{
    corio_task_opts opts = { .name = NULL, .stack_size = 64 * 1024 };
    corio_task *t = corio_spawn(fn, arg, &opts);
    NOTE(&g_tally, t != NULL, "spawn failed");
    return t;
}

static int join(corio_task *t)
{
    return t ? corio_join(t, NULL) : CORIO_EINVAL;
}





/* What happened to the targets over all rounds. */
typedef struct race_outcomes {
    int got;       /* received the hand-off */
    int cancelled;
    int timed_out;
} race_outcomes;

static void count_outcome(race_outcomes *o, int rc)
{
    if (rc == 0) o->got++;
    else if (rc == CORIO_ECANCELED) o->cancelled++;
    else if (rc == CORIO_ETIMEDOUT) o->timed_out++;
    else NOTE(&g_tally, 0, "target returned %d (%s)", rc, corio_strerror(rc));
}

static void log_outcomes(const char *what, const race_outcomes *o)
{
    cr_log_info("%s: target got it %d times, cancelled %d, timed out %d",
                what, o->got, o->cancelled, o->timed_out);
}

/* Both orders must really have happened, or the race tested nothing. */
static void assert_raced(const race_outcomes *o)
{
    cr_assert_gt(o->got, 0, "the hand-off never reached the target first");
    cr_assert_gt(o->cancelled, 0, "the cancel never came first");
}

/* The canceller of every race: yields, then cancels the target. */
typedef struct canceller_arg {
    corio_task *target;
    int yields;
} canceller_arg;

static void *canceller(void *arg)
{
    canceller_arg *c = arg;
    yield_n(c->yields);
    corio_cancel(c->target);
    return NULL;
}

/* Start the canceller of a cancel round (NULL in a timeout round). It must
 * be joined BEFORE the target: it holds the target's handle. */
static corio_task *start_canceller(canceller_arg *c, corio_task *target,
                                   const race_plan *p)
{
    if (p->by_timeout || !target) return NULL;
    c->target = target;
    c->yields = p->cancel_yields;
    return go(canceller, c);
}

/* ------------------------------------------------------------------ */
/* Lock                                                               */
/* ------------------------------------------------------------------ */

typedef struct lock_ctx {
    corio_lock lock;
    int try_rc, release_rc, acquire_rc;
    int order[8];
    int n;
} lock_ctx;

static void *lock_intruder(void *arg)
{
    lock_ctx *c = arg;
    c->try_rc = corio_lock_try_acquire(&c->lock);
    c->release_rc = corio_lock_release(&c->lock);
    return NULL;
}

static void *lock_basic_main(void *arg)
{
    (void)arg;
    lock_ctx c;
    corio_lock_init(&c.lock);
    NOTE(&g_tally, !corio_lock_locked(&c.lock), "a new lock is free");
    NOTE(&g_tally, corio_lock_release(&c.lock) == CORIO_EPERM, "release of a free lock");
    NOTE(&g_tally, corio_lock_acquire(&c.lock) == 0, "acquire of a free lock");
    NOTE(&g_tally, corio_lock_locked(&c.lock), "locked after acquire");
    NOTE(&g_tally, corio_lock_acquire(&c.lock) == CORIO_EALREADY, "second acquire");
    NOTE(&g_tally, corio_lock_try_acquire(&c.lock) == CORIO_EAGAIN, "try while held");

    join(go(lock_intruder, &c));
    NOTE(&g_tally, c.try_rc == CORIO_EAGAIN, "other task's try: %d", c.try_rc);
    NOTE(&g_tally, c.release_rc == CORIO_EPERM, "other task's release: %d", c.release_rc);
    NOTE(&g_tally, corio_lock_locked(&c.lock), "still ours after the intruder");

    NOTE(&g_tally, corio_lock_release(&c.lock) == 0, "owner's release");
    NOTE(&g_tally, !corio_lock_locked(&c.lock), "free after release");
    NOTE(&g_tally, corio_lock_try_acquire(&c.lock) == 0, "try on a free lock");
    NOTE(&g_tally, corio_lock_release(&c.lock) == 0, "release after try");
    corio_lock_destroy(&c.lock);

    corio_lock s = CORIO_LOCK_INIT; /* the static initialiser works too */
    NOTE(&g_tally, corio_lock_acquire(&s) == 0 && corio_lock_release(&s) == 0,
         "CORIO_LOCK_INIT lock");
    return NULL;
}

Test(sync_lock, basic_and_errors) { run_main(lock_basic_main, NULL); }

typedef struct fifo_worker {
    lock_ctx *c;
    int id;
} fifo_worker;

static void *lock_fifo_worker(void *arg)
{
    fifo_worker *w = arg;
    if (corio_lock_acquire(&w->c->lock) != 0) return NULL;
    w->c->order[w->c->n++] = w->id;
    corio_yield(); /* hold it a little: the others stay queued */
    corio_lock_release(&w->c->lock);
    return NULL;
}

static void *lock_fifo_main(void *arg)
{
    (void)arg;
    lock_ctx c;
    memset(&c, 0, sizeof c);
    corio_lock_init(&c.lock);
    corio_lock_acquire(&c.lock);
    fifo_worker w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (fifo_worker){ &c, i };
        t[i] = go(lock_fifo_worker, &w[i]);
    }
    corio_yield(); /* all five queue, in spawn order */
    NOTE(&g_tally, corio_lock_release(&c.lock) == 0, "release");
    /* Handed straight to worker 0: nobody, us included, can barge in. */
    NOTE(&g_tally, corio_lock_locked(&c.lock), "the release handed the lock over");
    NOTE(&g_tally, corio_lock_try_acquire(&c.lock) == CORIO_EAGAIN, "barging succeeded");
    for (int i = 0; i < 5; i++) join(t[i]);
    NOTE(&g_tally, c.n == 5, "%d workers got the lock", c.n);
    for (int i = 0; i < c.n; i++)
        NOTE(&g_tally, c.order[i] == i, "position %d went to worker %d", i, c.order[i]);
    NOTE(&g_tally, !corio_lock_locked(&c.lock), "free at the end");
    return NULL;
}

Test(sync_lock, fifo_handoff_no_barging) { run_main(lock_fifo_main, NULL); }

static void *lock_timed_waiter(void *arg)
{
    lock_ctx *c = arg;
    c->acquire_rc = corio_lock_acquire_until(&c->lock, corio_deadline_in(CORIO_MS(2)));
    return NULL;
}

static void *lock_timeout_cancel_main(void *arg)
{
    (void)arg;
    lock_ctx c;
    corio_lock_init(&c.lock);
    corio_lock_acquire(&c.lock);

    join(go(lock_timed_waiter, &c));
    NOTE(&g_tally, c.acquire_rc == CORIO_ETIMEDOUT, "timed acquire: %d", c.acquire_rc);

    corio_task *t = go(lock_timed_waiter, &c);
    corio_yield();
    corio_cancel(t);
    join(t);
    NOTE(&g_tally, c.acquire_rc == CORIO_ECANCELED, "cancelled acquire: %d", c.acquire_rc);

    NOTE(&g_tally, corio_lock_release(&c.lock) == 0, "still ours");
    NOTE(&g_tally, !corio_lock_locked(&c.lock), "nobody was handed the lock");
    return NULL;
}

Test(sync_lock, timeout_and_cancel) { run_main(lock_timeout_cancel_main, NULL); }

/* One round: holder releases after give_yields; target (cancelled or timed
 * out) and bystander wait in that order. */
typedef struct lock_race {
    corio_lock lock;
    race_plan p;
    int inside;        /* tasks in the critical section now */
    int overlaps;      /* times two were inside together */
    int acquired, released;
    int target_rc, bystander_rc;
} lock_race;

static void critical_section(lock_race *r)
{
    if (++r->inside != 1) r->overlaps++;
    r->acquired++;
    corio_yield(); /* a suspension inside: a cancel may be delivered here */
    r->inside--;
    if (corio_lock_release(&r->lock) == 0) r->released++;
}

static void *lock_race_holder(void *arg)
{
    lock_race *r = arg;
    if (corio_lock_acquire(&r->lock) != 0) return NULL;
    r->acquired++;
    r->inside++;
    yield_n(r->p.give_yields);
    r->inside--;
    if (corio_lock_release(&r->lock) == 0) r->released++;
    return NULL;
}

static void *lock_race_target(void *arg)
{
    lock_race *r = arg;
    r->target_rc = corio_lock_acquire_until(&r->lock, target_deadline(&r->p));
    if (r->target_rc == 0) critical_section(r);
    return NULL;
}

static void *lock_race_bystander(void *arg)
{
    lock_race *r = arg;
    r->bystander_rc = corio_lock_acquire(&r->lock);
    if (r->bystander_rc == 0) critical_section(r);
    return NULL;
}

static void *lock_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        lock_race r;
        memset(&r, 0, sizeof r);
        corio_lock_init(&r.lock);
        r.p = plan_for(round);
        canceller_arg ca;
        corio_task *holder = go(lock_race_holder, &r);
        corio_task *target = go(lock_race_target, &r);
        corio_task *bystander = go(lock_race_bystander, &r);
        corio_task *cancel = start_canceller(&ca, target, &r.p);
        join(cancel);
        join(holder);
        join(target);
        join(bystander);
        count_outcome(o, r.target_rc);
        NOTE(&g_tally, r.bystander_rc == 0, "round %d: bystander %d", round, r.bystander_rc);
        NOTE(&g_tally, r.overlaps == 0, "round %d: two holders at once", round);
        NOTE(&g_tally, r.acquired == 2 + (r.target_rc == 0), "round %d: %d acquires",
             round, r.acquired);
        NOTE(&g_tally, r.released == r.acquired, "round %d: %d acquires, %d releases",
             round, r.acquired, r.released);
        NOTE(&g_tally, !corio_lock_locked(&r.lock), "round %d: lock left held", round);
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_lock, cancel_and_timeout_race_handoff, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(lock_race_main, &o);
    log_outcomes("lock", &o);
    assert_raced(&o);
}

/* ------------------------------------------------------------------ */
/* Semaphore / BoundedSemaphore                                       */
/* ------------------------------------------------------------------ */

typedef struct sem_limit {
    corio_sem sem;
    int running, max_running, finished;
} sem_limit;

static void *sem_limited_worker(void *arg)
{
    sem_limit *s = arg;
    if (corio_sem_acquire(&s->sem) != 0) return NULL;
    s->running++;
    if (s->running > s->max_running) s->max_running = s->running;
    yield_n(1 + s->finished % 4); /* hold it for a varying while */
    s->running--;
    s->finished++;
    corio_sem_release(&s->sem);
    return NULL;
}

static void *sem_limit_main(void *arg)
{
    sem_limit *s = arg;
    corio_sem_init(&s->sem, 10);
    corio_task *t[100];
    for (int i = 0; i < 100; i++) t[i] = go(sem_limited_worker, s);
    for (int i = 0; i < 100; i++) join(t[i]);
    NOTE(&g_tally, corio_sem_value(&s->sem) == 10, "value %zu at the end",
         corio_sem_value(&s->sem));
    corio_sem_destroy(&s->sem);
    return NULL;
}

Test(sync_semaphore, limits_100_tasks_to_10)
{
    sem_limit s = { .running = 0, .max_running = 0, .finished = 0 };
    run_main(sem_limit_main, &s);
    cr_assert_eq(s.finished, 100);
    cr_assert_eq(s.max_running, 10, "observed maximum %d", s.max_running);
}

typedef struct sem_fifo {
    corio_sem sem;
    int order[8];
    int n;
} sem_fifo;

typedef struct sem_fifo_worker {
    sem_fifo *s;
    int id;
} sem_fifo_worker;

static void *sem_fifo_waiter(void *arg)
{
    sem_fifo_worker *w = arg;
    if (corio_sem_acquire(&w->s->sem) == 0) w->s->order[w->s->n++] = w->id;
    return NULL;
}

static void *sem_basic_main(void *arg)
{
    (void)arg;
    sem_fifo s;
    memset(&s, 0, sizeof s);
    corio_sem_init(&s.sem, 0);
    NOTE(&g_tally, corio_sem_locked(&s.sem), "a zero semaphore is locked");
    NOTE(&g_tally, corio_sem_try_acquire(&s.sem) == CORIO_EAGAIN, "try on zero");
    NOTE(&g_tally, corio_sem_acquire_until(&s.sem, corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "timed acquire on zero");

    sem_fifo_worker w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (sem_fifo_worker){ &s, i };
        t[i] = go(sem_fifo_waiter, &w[i]);
    }
    corio_yield();
    for (int i = 0; i < 5; i++) {
        NOTE(&g_tally, corio_sem_release(&s.sem) == 0, "release %d", i);
        /* The unit went to a waiter, not into the counter. */
        NOTE(&g_tally, corio_sem_value(&s.sem) == 0, "value after hand-off %d", i);
    }
    for (int i = 0; i < 5; i++) join(t[i]);
    NOTE(&g_tally, s.n == 5, "%d waiters served", s.n);
    for (int i = 0; i < s.n; i++)
        NOTE(&g_tally, s.order[i] == i, "unit %d went to waiter %d", i, s.order[i]);

    /* A plain semaphore may go above its initial value. */
    NOTE(&g_tally, corio_sem_release(&s.sem) == 0 && corio_sem_release(&s.sem) == 0,
         "plain release");
    NOTE(&g_tally, corio_sem_value(&s.sem) == 2, "value %zu", corio_sem_value(&s.sem));
    NOTE(&g_tally, corio_sem_try_acquire(&s.sem) == 0, "try with units");
    corio_sem_destroy(&s.sem);
    return NULL;
}

Test(sync_semaphore, fifo_try_timeout) { run_main(sem_basic_main, NULL); }

static void *bsem_main(void *arg)
{
    (void)arg;
    corio_sem b;
    corio_bsem_init(&b, 2);
    NOTE(&g_tally, corio_sem_release(&b) == CORIO_EOVERFLOW, "release of a full bounded");
    NOTE(&g_tally, corio_sem_value(&b) == 2, "value unchanged by the refused release");
    NOTE(&g_tally, corio_sem_acquire(&b) == 0 && corio_sem_acquire(&b) == 0, "acquire x2");
    NOTE(&g_tally, corio_sem_locked(&b), "locked at zero");
    NOTE(&g_tally, corio_sem_release(&b) == 0 && corio_sem_release(&b) == 0, "release x2");
    NOTE(&g_tally, corio_sem_release(&b) == CORIO_EOVERFLOW, "third release");
    NOTE(&g_tally, corio_sem_value(&b) == 2, "value %zu", corio_sem_value(&b));

    corio_sem zero;
    corio_bsem_init(&zero, 0);
    NOTE(&g_tally, corio_sem_release(&zero) == CORIO_EOVERFLOW, "bounded at zero");
    return NULL;
}

Test(sync_semaphore, bounded_over_release) { run_main(bsem_main, NULL); }

/* Two units are released while the target (cancelled or timed out) and
 * the bystander wait: every unit must end up acquired or in the counter. */
typedef struct sem_race {
    corio_sem sem;
    race_plan p;
    int target_rc, bystander_rc;
    corio_task *bystander;
} sem_race;

/* A unit may sit in the counter only while nobody live waits for one. */
static void check_no_idle_unit(sem_race *r)
{
    NOTE(&g_tally, corio_sem_value(&r->sem) == 0
         || corio_task_state_of(r->bystander) != CORIO_TASK_WAITING,
         "a unit is free while the bystander still waits");
}

static void *sem_race_giver(void *arg)
{
    sem_race *r = arg;
    yield_n(r->p.give_yields);
    corio_sem_release(&r->sem);
    check_no_idle_unit(r);
    corio_yield();
    corio_sem_release(&r->sem);
    check_no_idle_unit(r);
    return NULL;
}

static void *sem_race_target(void *arg)
{
    sem_race *r = arg;
    r->target_rc = corio_sem_acquire_until(&r->sem, target_deadline(&r->p));
    return NULL;
}

static void *sem_race_bystander(void *arg)
{
    sem_race *r = arg;
    r->bystander_rc = corio_sem_acquire(&r->sem);
    return NULL;
}

static void *sem_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        sem_race r;
        memset(&r, 0, sizeof r);
        corio_sem_init(&r.sem, 0);
        r.p = plan_for(round);
        canceller_arg ca;
        corio_task *target = go(sem_race_target, &r);
        corio_task *bystander = go(sem_race_bystander, &r);
        r.bystander = bystander;
        corio_task *giver = go(sem_race_giver, &r);
        corio_task *cancel = start_canceller(&ca, target, &r.p);
        join(cancel);
        join(giver);
        join(target);
        join(bystander);
        count_outcome(o, r.target_rc);
        int taken = (r.target_rc == 0) + (r.bystander_rc == 0);
        NOTE(&g_tally, r.bystander_rc == 0, "round %d: bystander %d", round, r.bystander_rc);
        NOTE(&g_tally, taken + (int)corio_sem_value(&r.sem) == 2,
             "round %d: 2 units released, %d taken, %zu left", round, taken,
             corio_sem_value(&r.sem));
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_semaphore, cancel_and_timeout_race_handoff, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(sem_race_main, &o);
    log_outcomes("semaphore", &o);
    assert_raced(&o);
}

/* ------------------------------------------------------------------ */
/* Event                                                              */
/* ------------------------------------------------------------------ */

#define EVENT_WAITERS 1000

typedef struct event_crowd {
    corio_event ev;
    int started, woken, bad;
} event_crowd;

static void *event_waiter(void *arg)
{
    event_crowd *c = arg;
    c->started++;
    int rc = corio_event_wait(&c->ev);
    if (rc == 0) c->woken++;
    else c->bad++;
    return NULL;
}

static void *event_crowd_main(void *arg)
{
    event_crowd *c = arg;
    corio_event_init(&c->ev);
    static corio_task *t[EVENT_WAITERS];
    for (int i = 0; i < EVENT_WAITERS; i++) t[i] = go(event_waiter, c);
    corio_yield(); /* every waiter runs once and parks */
    NOTE(&g_tally, c->started == EVENT_WAITERS, "%d started", c->started);
    NOTE(&g_tally, c->woken == 0, "%d woke before the set", c->woken);
    corio_event_set(&c->ev);
    for (int i = 0; i < EVENT_WAITERS; i++) join(t[i]);
    corio_event_destroy(&c->ev);
    return NULL;
}

Test(sync_event, set_wakes_1000_waiters, .timeout = 60)
{
    event_crowd c = { .started = 0, .woken = 0, .bad = 0 };
    run_main(event_crowd_main, &c);
    cr_assert_eq(c.woken, EVENT_WAITERS, "%d of %d woken", c.woken, EVENT_WAITERS);
    cr_assert_eq(c.bad, 0);
}

typedef struct event_ctx {
    corio_event ev;
    int rc;
} event_ctx;

static void *event_set_then_clear(void *arg)
{
    event_ctx *c = arg;
    corio_event_set(&c->ev);
    corio_event_clear(&c->ev); /* before the waiter runs */
    return NULL;
}

static void *event_wait_task(void *arg)
{
    event_ctx *c = arg;
    c->rc = corio_event_wait(&c->ev);
    return NULL;
}

static void *event_basic_main(void *arg)
{
    (void)arg;
    event_ctx c;
    corio_event_init(&c.ev);
    NOTE(&g_tally, !corio_event_is_set(&c.ev), "new event is clear");
    NOTE(&g_tally, corio_event_wait_until(&c.ev, corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "wait on a clear event times out");

    /* Woken by a set, the waiter returns 0 even if cleared since. */
    c.rc = 99;
    corio_task *w = go(event_wait_task, &c);
    corio_yield();
    join(go(event_set_then_clear, &c));
    join(w);
    NOTE(&g_tally, c.rc == 0, "waiter woken by a set then clear: %d", c.rc);
    NOTE(&g_tally, !corio_event_is_set(&c.ev), "cleared");

    corio_event_set(&c.ev);
    corio_event_set(&c.ev); /* setting twice is harmless */
    NOTE(&g_tally, corio_event_is_set(&c.ev), "set");
    NOTE(&g_tally, corio_event_wait(&c.ev) == 0, "wait on a set event");
    /* Does not suspend, so it succeeds even for a cancelled task. */
    corio_cancel(corio_current());
    NOTE(&g_tally, corio_event_wait(&c.ev) == 0, "cancelled task, set event");
    corio_event_clear(&c.ev);
    NOTE(&g_tally, corio_event_wait(&c.ev) == CORIO_ECANCELED, "cancelled task, clear event");
    corio_event_destroy(&c.ev);
    corio_event s = CORIO_EVENT_INIT;
    NOTE(&g_tally, !corio_event_is_set(&s), "CORIO_EVENT_INIT is clear");
    return NULL;
}

static void *event_basic_outer(void *arg)
{
    /* The inner main cancels itself: run it as a child and expect that. */
    int rc = join(go(event_basic_main, arg));
    NOTE(&g_tally, rc == CORIO_ECANCELED, "inner status %d", rc);
    return NULL;
}

Test(sync_event, set_clear_timeout) { run_main(event_basic_outer, NULL); }

typedef struct event_race {
    corio_event ev;
    race_plan p;
    int target_rc, bystander_rc;
} event_race;

static void *event_race_giver(void *arg)
{
    event_race *r = arg;
    yield_n(r->p.give_yields);
    corio_event_set(&r->ev);
    return NULL;
}

static void *event_race_target(void *arg)
{
    event_race *r = arg;
    r->target_rc = corio_event_wait_until(&r->ev, target_deadline(&r->p));
    return NULL;
}

static void *event_race_bystander(void *arg)
{
    event_race *r = arg;
    r->bystander_rc = corio_event_wait(&r->ev);
    return NULL;
}

static void *event_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        event_race r;
        memset(&r, 0, sizeof r);
        corio_event_init(&r.ev);
        r.p = plan_for(round);
        canceller_arg ca;
        corio_task *target = go(event_race_target, &r);
        corio_task *bystander = go(event_race_bystander, &r);
        corio_task *giver = go(event_race_giver, &r);
        corio_task *cancel = start_canceller(&ca, target, &r.p);
        join(cancel);
        join(giver);
        join(target);
        join(bystander);
        count_outcome(o, r.target_rc);
        NOTE(&g_tally, r.bystander_rc == 0, "round %d: bystander %d", round, r.bystander_rc);
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_event, cancel_and_timeout_race_set, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(event_race_main, &o);
    log_outcomes("event", &o);
    assert_raced(&o);
}

/* ------------------------------------------------------------------ */
/* Condition                                                          */
/* ------------------------------------------------------------------ */

typedef struct cond_ctx {
    corio_cond cond;
    int waiting;        /* tasks inside wait */
    int order[8];       /* who returned from wait, in order */
    int n;
    int not_holding;    /* returns from wait without the lock */
    int rc;
    int value;          /* the state a predicate looks at */
} cond_ctx;

typedef struct cond_worker {
    cond_ctx *c;
    int id;
} cond_worker;

static bool holds(corio_cond *c)
{
    /* The owner field is private; tests may look. */
    return corio_cond_lock(c)->owner == corio_current();
}

static void *cond_fifo_waiter(void *arg)
{
    cond_worker *w = arg;
    cond_ctx *c = w->c;
    corio_cond_acquire(&c->cond);
    c->waiting++;
    int rc = corio_cond_wait(&c->cond);
    c->waiting--;
    if (!holds(&c->cond)) c->not_holding++;
    if (rc == 0) c->order[c->n++] = w->id;
    corio_cond_release(&c->cond);
    return NULL;
}

static void *cond_notify2_main(void *arg)
{
    cond_ctx *c = arg;
    corio_cond_init(&c->cond, NULL);
    cond_worker w[5];
    corio_task *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (cond_worker){ c, i };
        t[i] = go(cond_fifo_waiter, &w[i]);
    }
    WAIT_UNTIL(c->waiting >= 5);
    NOTE(&g_tally, c->waiting == 5, "%d waiting", c->waiting);

    corio_cond_acquire(&c->cond);
    int woken = corio_cond_notify(&c->cond, 2);
    NOTE(&g_tally, woken == 2, "notify(2) woke %d", woken);
    corio_cond_release(&c->cond);
    /* Give the woken ones every chance to run, and anybody else to (wrongly)
     * wake too. Nothing here depends on time: it is all scheduling. */
    yield_n(20);
    NOTE(&g_tally, c->n == 2, "%d returned after notify(2)", c->n);
    NOTE(&g_tally, c->waiting == 3, "%d still waiting", c->waiting);

    corio_cond_acquire(&c->cond);
    woken = corio_cond_notify_all(&c->cond);
    NOTE(&g_tally, woken == 3, "notify_all woke %d", woken);
    corio_cond_release(&c->cond);
    for (int i = 0; i < 5; i++) join(t[i]);
    corio_cond_destroy(&c->cond);
    return NULL;
}

Test(sync_condition, notify_2_wakes_exactly_two_in_fifo_order)
{
    cond_ctx c;
    memset(&c, 0, sizeof c);
    run_main(cond_notify2_main, &c);
    cr_assert_eq(c.n, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(c.order[i], i, "wake %d went to waiter %d", i, c.order[i]);
    cr_assert_eq(c.not_holding, 0, "a waiter returned without the lock");
}

static void *cond_errors_main(void *arg)
{
    (void)arg;
    corio_lock mine;
    corio_lock_init(&mine);
    corio_cond c;
    corio_cond_init(&c, &mine);
    NOTE(&g_tally, corio_cond_lock(&c) == &mine, "uses the given lock");
    NOTE(&g_tally, corio_cond_wait(&c) == CORIO_EPERM, "wait without the lock");
    NOTE(&g_tally, corio_cond_notify(&c, 1) == CORIO_EPERM, "notify without the lock");
    NOTE(&g_tally, corio_cond_notify_all(&c) == CORIO_EPERM, "notify_all without the lock");
    NOTE(&g_tally, corio_lock_acquire(&mine) == 0, "acquire the shared lock");
    NOTE(&g_tally, corio_cond_notify(&c, 3) == 0, "notify with nobody waiting");

    /* Timeout: returns ETIMEDOUT, holding the lock. */
    NOTE(&g_tally, corio_cond_wait_until(&c, corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "timed wait");
    NOTE(&g_tally, holds(&c), "timed-out wait returned holding the lock");
    NOTE(&g_tally, corio_cond_release(&c) == 0, "release");
    corio_cond_destroy(&c);
    corio_lock_destroy(&mine);
    return NULL;
}

Test(sync_condition, errors_and_timeout_keep_the_lock)
{
    run_main(cond_errors_main, NULL);
}

static void *cond_cancel_victim(void *arg)
{
    cond_ctx *c = arg;
    corio_cond_acquire(&c->cond);
    c->waiting++;
    c->rc = corio_cond_wait(&c->cond);
    c->waiting--;
    if (!holds(&c->cond)) c->not_holding++;
    c->n = c->value; /* what it saw under the lock on return */
    corio_cond_release(&c->cond);
    return NULL;
}

static void *cond_cancel_main(void *arg)
{
    cond_ctx *c = arg;
    corio_cond_init(&c->cond, NULL);
    corio_task *v = go(cond_cancel_victim, c);
    WAIT_UNTIL(c->waiting >= 1);
    /* Cancel it while WE hold the lock: it must wait for us before it
     * returns, cancelled or not. */
    corio_cond_acquire(&c->cond);
    corio_cancel(v);
    yield_n(10);
    c->value = 42; /* it can only see this if it waited for the lock */
    corio_cond_release(&c->cond);
    join(v);
    corio_cond_destroy(&c->cond);
    return NULL;
}

Test(sync_condition, cancelled_wait_reacquires_the_lock)
{
    cond_ctx c;
    memset(&c, 0, sizeof c);
    run_main(cond_cancel_main, &c);
    cr_assert_eq(c.rc, CORIO_ECANCELED);
    cr_assert_eq(c.not_holding, 0, "returned without the lock");
    cr_assert_eq(c.n, 42, "returned before the lock was released to it");
}

static bool value_reached_3(void *arg) { return ((cond_ctx *)arg)->value >= 3; }

static void *cond_pred_waiter(void *arg)
{
    cond_ctx *c = arg;
    corio_cond_acquire(&c->cond);
    c->rc = corio_cond_wait_for(&c->cond, value_reached_3, c);
    c->n = c->value;
    if (!holds(&c->cond)) c->not_holding++;
    corio_cond_release(&c->cond);
    return NULL;
}

static void *cond_pred_main(void *arg)
{
    cond_ctx *c = arg;
    corio_cond_init(&c->cond, NULL);
    corio_task *w = go(cond_pred_waiter, c);
    for (int i = 1; i <= 5; i++) {
        corio_yield();
        corio_cond_acquire(&c->cond);
        c->value = i;
        corio_cond_notify_all(&c->cond);
        corio_cond_release(&c->cond);
    }
    join(w);
    /* Predicate already true: no wait at all. */
    corio_cond_acquire(&c->cond);
    NOTE(&g_tally, corio_cond_wait_for(&c->cond, value_reached_3, c) == 0, "true at once");
    /* Never true: times out, still holding the lock. */
    c->value = 0;
    NOTE(&g_tally, corio_cond_wait_for_until(&c->cond, value_reached_3, c,
                                   corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "predicate never true");
    NOTE(&g_tally, holds(&c->cond), "holding after wait_for timeout");
    corio_cond_release(&c->cond);
    corio_cond_destroy(&c->cond);
    return NULL;
}

Test(sync_condition, wait_for_predicate)
{
    cond_ctx c;
    memset(&c, 0, sizeof c);
    run_main(cond_pred_main, &c);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.n, 3, "woke for good at value %d, not 3", c.n);
    cr_assert_eq(c.not_holding, 0);
}

/* One round: target and bystander wait; the giver notifies ONE; the target
 * is cancelled or times out. A notification given to a target that no
 * longer waits would be lost: the bystander would stay asleep, and the
 * final notify_all would have to wake it. So: the waits that returned 0
 * must be exactly the one notify(1) plus what notify_all woke. */
typedef struct cond_race {
    corio_cond cond;
    race_plan p;
    int waiting;
    int zeros;          /* waits that returned 0 (notified) */
    int not_holding;
    int first_woke;     /* notify(1)'s return */
    int target_rc, bystander_rc;
} cond_race;

static int cond_race_wait(cond_race *r, int64_t deadline)
{
    corio_cond_acquire(&r->cond);
    r->waiting++;
    int rc = corio_cond_wait_until(&r->cond, deadline);
    r->waiting--;
    if (!holds(&r->cond)) r->not_holding++;
    if (rc == 0) r->zeros++;
    corio_cond_release(&r->cond);
    return rc;
}

static void *cond_race_target(void *arg)
{
    cond_race *r = arg;
    r->target_rc = cond_race_wait(r, target_deadline(&r->p));
    return NULL;
}

static void *cond_race_bystander(void *arg)
{
    cond_race *r = arg;
    r->bystander_rc = cond_race_wait(r, CORIO_NEVER);
    return NULL;
}

static void *cond_race_giver(void *arg)
{
    cond_race *r = arg;
    yield_n(r->p.give_yields);
    corio_cond_acquire(&r->cond);
    r->first_woke = corio_cond_notify(&r->cond, 1);
    corio_cond_release(&r->cond);
    return NULL;
}

static void *cond_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        cond_race r;
        memset(&r, 0, sizeof r);
        corio_cond_init(&r.cond, NULL);
        r.p = plan_for(round);
        canceller_arg ca;
        corio_task *target = go(cond_race_target, &r);
        corio_task *bystander = go(cond_race_bystander, &r);
        corio_task *giver = go(cond_race_giver, &r);
        corio_task *cancel = start_canceller(&ca, target, &r.p);
        join(cancel);
        join(giver);
        join(target);
        corio_cond_acquire(&r.cond);
        int second_woke = corio_cond_notify_all(&r.cond);
        corio_cond_release(&r.cond);
        join(bystander);
        count_outcome(o, r.target_rc);
        NOTE(&g_tally, r.first_woke == 1, "round %d: notify(1) woke %d", round, r.first_woke);
        NOTE(&g_tally, r.zeros == r.first_woke + second_woke,
             "round %d: %d notified returns for %d + %d notifications", round,
             r.zeros, r.first_woke, second_woke);
        NOTE(&g_tally, r.bystander_rc == 0, "round %d: bystander %d", round, r.bystander_rc);
        NOTE(&g_tally, r.not_holding == 0, "round %d: a wait returned without the lock", round);
        NOTE(&g_tally, !corio_lock_locked(corio_cond_lock(&r.cond)), "round %d: lock held", round);
        corio_cond_destroy(&r.cond);
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_condition, cancel_and_timeout_race_notify, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(cond_race_main, &o);
    log_outcomes("condition", &o);
    assert_raced(&o);
}

/* ------------------------------------------------------------------ */
/* Barrier                                                            */
/* ------------------------------------------------------------------ */

#define CYCLES 5

typedef struct barrier_ctx {
    corio_barrier b;
    int seen[CYCLES][3]; /* per cycle: how often each index came back */
    int errors;
    int rc[4];
} barrier_ctx;

static void *barrier_cycler(void *arg)
{
    barrier_ctx *c = arg;
    for (int cycle = 0; cycle < CYCLES; cycle++) {
        int idx = corio_barrier_wait(&c->b);
        if (idx < 0 || idx > 2) { c->errors++; continue; }
        c->seen[cycle][idx]++;
    }
    return NULL;
}

static void *barrier_cycles_main(void *arg)
{
    barrier_ctx *c = arg;
    NOTE(&g_tally, corio_barrier_init(&c->b, 0) == CORIO_EINVAL, "zero parties");
    NOTE(&g_tally, corio_barrier_init(&c->b, 3) == 0, "init");
    NOTE(&g_tally, corio_barrier_parties(&c->b) == 3, "parties");
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = go(barrier_cycler, c);
    for (int i = 0; i < 3; i++) join(t[i]);
    NOTE(&g_tally, corio_barrier_n_waiting(&c->b) == 0, "nobody left waiting");
    NOTE(&g_tally, !corio_barrier_broken(&c->b), "not broken");

    /* One party: passes at once, index 0. */
    corio_barrier one;
    corio_barrier_init(&one, 1);
    NOTE(&g_tally, corio_barrier_wait(&one) == 0, "one-party barrier");
    corio_barrier_destroy(&c->b);
    return NULL;
}

Test(sync_barrier, cycles_give_each_index_once)
{
    barrier_ctx c;
    memset(&c, 0, sizeof c);
    run_main(barrier_cycles_main, &c);
    cr_assert_eq(c.errors, 0);
    for (int cycle = 0; cycle < CYCLES; cycle++)
        for (int i = 0; i < 3; i++)
            cr_assert_eq(c.seen[cycle][i], 1, "cycle %d index %d seen %d times",
                         cycle, i, c.seen[cycle][i]);
}

typedef struct barrier_slot {
    barrier_ctx *c;
    int i;
    int64_t deadline;
} barrier_slot;

static void *barrier_waiter(void *arg)
{
    barrier_slot *s = arg;
    s->c->rc[s->i] = corio_barrier_wait_until(&s->c->b, s->deadline);
    return NULL;
}

static void *barrier_abort_main(void *arg)
{
    barrier_ctx *c = arg;
    corio_barrier_init(&c->b, 3);
    barrier_slot s[4];
    corio_task *t[4];

    /* Abort: both waiters and every later wait get EBROKEN. */
    for (int i = 0; i < 2; i++) {
        s[i] = (barrier_slot){ c, i, CORIO_NEVER };
        t[i] = go(barrier_waiter, &s[i]);
    }
    corio_yield();
    NOTE(&g_tally, corio_barrier_n_waiting(&c->b) == 2, "two waiting");
    corio_barrier_abort(&c->b);
    for (int i = 0; i < 2; i++) join(t[i]);
    NOTE(&g_tally, c->rc[0] == CORIO_EBROKEN && c->rc[1] == CORIO_EBROKEN,
         "waiters after abort: %d %d", c->rc[0], c->rc[1]);
    NOTE(&g_tally, corio_barrier_broken(&c->b), "broken");
    NOTE(&g_tally, corio_barrier_wait(&c->b) == CORIO_EBROKEN, "wait on a broken barrier");

    /* Reset: usable again. */
    corio_barrier_reset(&c->b);
    NOTE(&g_tally, !corio_barrier_broken(&c->b), "reset clears broken");
    for (int i = 0; i < 2; i++) {
        s[i] = (barrier_slot){ c, i, CORIO_NEVER };
        t[i] = go(barrier_waiter, &s[i]);
    }
    corio_yield();
    int mine = corio_barrier_wait(&c->b);
    for (int i = 0; i < 2; i++) join(t[i]);
    NOTE(&g_tally, mine == 2 && c->rc[0] == 0 && c->rc[1] == 1,
         "indexes after reset: %d %d %d", c->rc[0], c->rc[1], mine);

    /* Reset with waiters: they get EBROKEN, the barrier stays usable. */
    s[0] = (barrier_slot){ c, 0, CORIO_NEVER };
    t[0] = go(barrier_waiter, &s[0]);
    corio_yield();
    corio_barrier_reset(&c->b);
    join(t[0]);
    NOTE(&g_tally, c->rc[0] == CORIO_EBROKEN, "waiter during reset: %d", c->rc[0]);
    NOTE(&g_tally, !corio_barrier_broken(&c->b), "not broken after reset");

    /* A waiter that times out withdraws; the barrier is not broken and the
     * next group of three still forms. */
    s[3] = (barrier_slot){ c, 3, corio_deadline_in(CORIO_MS(1)) };
    join(go(barrier_waiter, &s[3]));
    NOTE(&g_tally, c->rc[3] == CORIO_ETIMEDOUT, "timed wait: %d", c->rc[3]);
    NOTE(&g_tally, corio_barrier_n_waiting(&c->b) == 0, "withdrawn");
    NOTE(&g_tally, !corio_barrier_broken(&c->b), "timeout does not break it");
    for (int i = 0; i < 3; i++) {
        s[i] = (barrier_slot){ c, i, CORIO_NEVER };
        t[i] = go(barrier_waiter, &s[i]);
    }
    for (int i = 0; i < 3; i++) join(t[i]);
    NOTE(&g_tally, c->rc[0] + c->rc[1] + c->rc[2] == 0 + 1 + 2, "group after a withdrawal:"
         " %d %d %d", c->rc[0], c->rc[1], c->rc[2]);
    corio_barrier_destroy(&c->b);
    return NULL;
}

Test(sync_barrier, abort_reset_timeout)
{
    barrier_ctx c;
    memset(&c, 0, sizeof c);
    run_main(barrier_abort_main, &c);
}

/* One round: four tasks arrive (after varying yields) at a barrier of three;
 * one of them is cancelled or times out. Exactly one group passes, with
 * indexes 0, 1, 2 once each; the fourth task is either the withdrawn
 * target or a waiter left alone, released by abort with EBROKEN. */
typedef struct barrier_race {
    corio_barrier b;
    race_plan p;
    int rc[4];
    int done;
} barrier_race;

typedef struct barrier_racer {
    barrier_race *r;
    int i;
} barrier_racer;

static void *barrier_race_task(void *arg)
{
    barrier_racer *me = arg;
    barrier_race *r = me->r;
    /* Task 3 arrives late by the giver's count: it is the "hand-off". */
    yield_n(me->i == 3 ? r->p.give_yields : me->i);
    int64_t deadline = me->i == 0 ? target_deadline(&r->p) : CORIO_NEVER;
    r->rc[me->i] = corio_barrier_wait_until(&r->b, deadline);
    r->done++;
    return NULL;
}

static void *barrier_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        barrier_race r;
        memset(&r, 0, sizeof r);
        corio_barrier_init(&r.b, 3);
        r.p = plan_for(round);
        barrier_racer me[4];
        corio_task *t[4];
        for (int i = 0; i < 4; i++) {
            me[i] = (barrier_racer){ &r, i };
            t[i] = go(barrier_race_task, &me[i]);
        }
        canceller_arg ca;
        corio_task *cancel = start_canceller(&ca, t[0], &r.p);
        join(cancel);
        /* Wait until everyone passed or parked. */
        WAIT_UNTIL(r.done + (int)corio_barrier_n_waiting(&r.b) == 4 && r.done >= 3);
        corio_barrier_abort(&r.b); /* releases a lone waiter, if any */
        for (int i = 0; i < 4; i++) join(t[i]);
        count_outcome(o, r.rc[0] >= 0 ? 0 : r.rc[0]);
        int seen[3] = { 0, 0, 0 }, broken = 0, withdrawn = 0;
        for (int i = 0; i < 4; i++) {
            if (r.rc[i] >= 0 && r.rc[i] < 3) seen[r.rc[i]]++;
            else if (r.rc[i] == CORIO_EBROKEN) broken++;
            else if (i == 0 && (r.rc[i] == CORIO_ECANCELED
                                || r.rc[i] == CORIO_ETIMEDOUT)) withdrawn++;
            else NOTE(&g_tally, 0, "round %d: task %d returned %d", round, i, r.rc[i]);
        }
        NOTE(&g_tally, seen[0] == 1 && seen[1] == 1 && seen[2] == 1,
             "round %d: indexes seen %d %d %d", round, seen[0], seen[1], seen[2]);
        NOTE(&g_tally, broken + withdrawn == 1, "round %d: %d broken, %d withdrawn",
             round, broken, withdrawn);
        corio_barrier_destroy(&r.b);
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_barrier, cancel_and_timeout_race_release, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(barrier_race_main, &o);
    log_outcomes("barrier", &o);
    assert_raced(&o);
}
