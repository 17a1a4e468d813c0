/*
 * test_static_init.c — every CORIO_*_INIT gives the object exactly the
 * state its _init function gives it, and the object then behaves the same.
 *
 * asyncio code makes its locks and queues at module level; in C that is
 *     static corio_lock l = CORIO_LOCK_INIT;
 * For each primitive: the fields of a static object equal those of one made
 * by _init (including the fields the fairness and draining fixes added:
 * corio_sem.handed, the barrier's draining / blocked / entering), then one
 * scenario that exercises those fields runs on both and must record the
 * same, right order.
 */
#include "asyncio_util.h"

/* ---- the statically initialised objects under test ---- */

static corio_lock s_lock = CORIO_LOCK_INIT;
static corio_sem s_sem = CORIO_SEM_INIT(1);
static corio_sem s_bsem = CORIO_BSEM_INIT(2);
static corio_event s_event = CORIO_EVENT_INIT;
static corio_cond s_cond = CORIO_COND_INIT(s_cond);
static corio_lock s_cond_lock = CORIO_LOCK_INIT;
static corio_cond s_cond2 = CORIO_COND_INIT_LOCK(&s_cond_lock);
static corio_barrier s_barrier = CORIO_BARRIER_INIT(2);
static corio_queue s_fifo = CORIO_QUEUE_INIT(CORIO_QUEUE_FIFO, 2);
static corio_queue s_prio = CORIO_QUEUE_INIT(CORIO_QUEUE_PRIORITY, 0);
static corio_queue s_lifo = CORIO_QUEUE_INIT(CORIO_QUEUE_LIFO, 0);

static bool waitq_empty(const corio_waitq *q)
{
    return q->head == NULL && q->tail == NULL && q->len == 0;
}

/* ---- field by field ---- */

Test(static_init, fields_equal_those_of_init)
{
    corio_lock l;
    memset(&l, 0xAB, sizeof l);
    corio_lock_init(&l);
    cr_assert(s_lock.owner == l.owner);
    cr_assert(waitq_empty(&s_lock.waiters) && waitq_empty(&l.waiters));

    corio_sem s, b;
    memset(&s, 0xAB, sizeof s);
    memset(&b, 0xAB, sizeof b);
    corio_sem_init(&s, 1);
    corio_bsem_init(&b, 2);
    cr_assert(s_sem.value == s.value && s_sem.bound == s.bound &&
              s_sem.bounded == s.bounded && s_sem.handed == s.handed);
    cr_assert(s_bsem.value == b.value && s_bsem.bound == b.bound &&
              s_bsem.bounded == b.bounded && s_bsem.handed == b.handed);
    cr_assert(waitq_empty(&s_sem.waiters) && waitq_empty(&s.waiters));
    cr_assert(waitq_empty(&s_bsem.waiters));

    corio_event e;
    memset(&e, 0xAB, sizeof e);
    corio_event_init(&e);
    cr_assert(s_event.is_set == e.is_set && waitq_empty(&s_event.waiters));

    corio_cond c, c2;
    memset(&c, 0xAB, sizeof c);
    memset(&c2, 0xAB, sizeof c2);
    corio_cond_init(&c, NULL);
    corio_cond_init(&c2, &s_cond_lock);
    cr_assert(c.lock == &c.own_lock && s_cond.lock == &s_cond.own_lock);
    cr_assert(c2.lock == s_cond2.lock && s_cond2.lock == &s_cond_lock);
    cr_assert(s_cond.own_lock.owner == NULL && waitq_empty(&s_cond.waiters));
    cr_assert(waitq_empty(&s_cond.own_lock.waiters));

    corio_barrier br;
    memset(&br, 0xAB, sizeof br);
    cr_assert_eq(corio_barrier_init(&br, 2), 0);
    cr_assert(s_barrier.parties == br.parties && s_barrier.broken == br.broken);
    cr_assert(s_barrier.entering == br.entering);
    cr_assert(waitq_empty(&s_barrier.waiters) && waitq_empty(&br.waiters));
    cr_assert(waitq_empty(&s_barrier.draining) && waitq_empty(&br.draining));
    cr_assert(waitq_empty(&s_barrier.blocked) && waitq_empty(&br.blocked));

    /* A queue: everything but the buffer, which CORIO_QUEUE_INIT leaves
     * to the first put. */
    corio_queue q;
    memset(&q, 0xAB, sizeof q);
    cr_assert_eq(corio_queue_init(&q, CORIO_QUEUE_FIFO, 2), 0);
    cr_assert(s_fifo.kind == q.kind && s_fifo.maxsize == q.maxsize);
    cr_assert(s_fifo.head == q.head && s_fifo.len == q.len);
    cr_assert(s_fifo.seq == q.seq && s_fifo.unfinished == q.unfinished);
    cr_assert(s_fifo.is_shutdown == q.is_shutdown);
    cr_assert(waitq_empty(&s_fifo.getters) && waitq_empty(&s_fifo.putters) &&
              waitq_empty(&s_fifo.joiners));
    cr_assert(s_fifo.buf == NULL && s_fifo.cap == 0);
    cr_assert_eq(corio_queue_size(&s_fifo), 0);
    cr_assert_eq(corio_queue_maxsize(&s_fifo), 2);
    cr_assert(corio_queue_empty(&s_fifo) && !corio_queue_full(&s_fifo));
    corio_queue_destroy(&q);

    /* The not-open timeout scope is what end leaves behind. */
    corio_timeout t = CORIO_TIMEOUT_INIT;
    cr_assert(t.task == NULL && corio_timeout_when(&t) == CORIO_NEVER);
    cr_assert(!corio_timeout_expired(&t));
    cr_assert_eq(corio_timeout_end(&t), 0);
    cr_assert_eq(corio_timeout_reschedule(&t, 0), CORIO_EINVAL);
}

/* ---- the same behaviour ---- */

static corio_lock *g_lock;

static void *lock_user(void *arg)
{
    CHECK_RC(corio_lock_acquire(g_lock), 0);
    rec((int)(intptr_t)arg);
    corio_yield();
    CHECK_RC(corio_lock_release(g_lock), 0);
    return NULL;
}

static void lock_scenario(corio_lock *l)
{
    g_lock = l;
    g_norder = 0;
    CHECK(!corio_lock_locked(l));
    CHECK_RC(corio_lock_acquire(l), 0);
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = go(lock_user, (void *)(intptr_t)(i + 1));
    corio_yield();
    CHECK(corio_lock_n_waiting(l) == 3);
    CHECK_RC(corio_lock_release(l), 0);
    /* Handed to t1; we cannot barge in before it has run. */
    CHECK(corio_lock_locked(l));
    CHECK_RC(corio_lock_try_acquire(l), CORIO_EAGAIN);
    for (int i = 0; i < 3; i++) CHECK_RC(join(t[i]), 0);
    CHECK(order_is(3, 1, 2, 3));
    CHECK(!corio_lock_locked(l) && corio_lock_n_waiting(l) == 0);
}

static void *lock_main(void *arg)
{
    (void)arg;
    corio_lock d;
    corio_lock_init(&d);
    lock_scenario(&s_lock);
    lock_scenario(&d);
    corio_lock_destroy(&d);
    return NULL;
}

Test(static_init, lock_behaves_as_initialised) { run_main(lock_main, NULL); }

/* test_acquire_fifo_order_2 on each: it needs `handed` right. */
static corio_sem *g_sem;

static void *sem_rec(void *arg)
{
    CHECK_RC(corio_sem_acquire(g_sem), 0);
    rec((int)(intptr_t)arg);
    return NULL;
}

static void *sem_c2(void *arg)
{
    (void)arg;
    CHECK_RC(corio_sem_acquire(g_sem), 0);
    rec(2);
    corio_sem_release(g_sem);
    CHECK(corio_sem_locked(g_sem)); /* a woken waiter holds a hand-off */
    CHECK_RC(corio_sem_try_acquire(g_sem), CORIO_EAGAIN);
    CHECK_RC(corio_sem_acquire(g_sem), 0);
    rec(4);
    return NULL;
}

static void sem_scenario(corio_sem *s)
{
    g_sem = s;
    g_norder = 0;
    CHECK(corio_sem_value(s) == 1 && !corio_sem_locked(s));
    corio_task *t1 = go(sem_rec, (void *)1);
    corio_task *t2 = go(sem_c2, NULL);
    corio_task *t3 = go(sem_rec, (void *)3);
    corio_yield();
    CHECK(corio_sem_n_waiting(s) == 2); /* t1 took the unit at once */
    corio_sem_release(s);
    corio_sem_release(s);
    CHECK_RC(join(t1), 0);
    CHECK_RC(join(t2), 0);
    CHECK_RC(join(t3), 0);
    CHECK(order_is(4, 1, 2, 3, 4));
    /* t1, t3 and t2's second acquire kept their units; give them back:
     * the initial one plus our two releases. */
    for (int i = 0; i < 3; i++) corio_sem_release(s);
    CHECK(corio_sem_value(s) == 3 && s->handed == 0);
}

static void bsem_scenario(corio_sem *b)
{
    CHECK(corio_sem_value(b) == 2);
    CHECK_RC(corio_sem_release(b), CORIO_EOVERFLOW);
    CHECK_RC(corio_sem_acquire(b), 0);
    CHECK_RC(corio_sem_release(b), 0);
    CHECK_RC(corio_sem_release(b), CORIO_EOVERFLOW);
}

static void *sem_main(void *arg)
{
    (void)arg;
    corio_sem d, db;
    corio_sem_init(&d, 1);
    corio_bsem_init(&db, 2);
    sem_scenario(&s_sem);
    sem_scenario(&d);
    bsem_scenario(&s_bsem);
    bsem_scenario(&db);
    corio_sem_destroy(&d);
    corio_sem_destroy(&db);
    return NULL;
}

Test(static_init, semaphore_behaves_as_initialised) { run_main(sem_main, NULL); }

static corio_event *g_event;

static void *event_waiter(void *arg)
{
    CHECK_RC(corio_event_wait(g_event), 0);
    rec((int)(intptr_t)arg);
    return NULL;
}

static void event_scenario(corio_event *e)
{
    g_event = e;
    g_norder = 0;
    CHECK(!corio_event_is_set(e));
    corio_task *t1 = go(event_waiter, (void *)1);
    corio_task *t2 = go(event_waiter, (void *)2);
    corio_yield();
    CHECK(corio_event_n_waiting(e) == 2);
    corio_event_set(e);
    corio_event_clear(e); /* the woken still return 0 */
    CHECK_RC(join(t1), 0);
    CHECK_RC(join(t2), 0);
    CHECK(order_is(2, 1, 2));
    CHECK(corio_event_n_waiting(e) == 0);
}

static void *event_main(void *arg)
{
    (void)arg;
    corio_event d;
    corio_event_init(&d);
    event_scenario(&s_event);
    event_scenario(&d);
    corio_event_destroy(&d);
    return NULL;
}

Test(static_init, event_behaves_as_initialised) { run_main(event_main, NULL); }

static corio_cond *g_cond;

static void *cond_waiter(void *arg)
{
    CHECK_RC(corio_cond_acquire(g_cond), 0);
    CHECK_RC(corio_cond_wait(g_cond), 0);
    rec((int)(intptr_t)arg);
    CHECK_RC(corio_cond_release(g_cond), 0);
    return NULL;
}

static void cond_scenario(corio_cond *c)
{
    g_cond = c;
    g_norder = 0;
    CHECK(!corio_cond_locked(c));
    corio_task *t1 = go(cond_waiter, (void *)1);
    corio_task *t2 = go(cond_waiter, (void *)2);
    corio_yield();
    CHECK(corio_cond_n_waiting(c) == 2);
    CHECK_RC(corio_cond_notify(c, 1), CORIO_EPERM); /* not holding it */
    CHECK_RC(corio_cond_acquire(c), 0);
    CHECK(corio_cond_locked(c));
    CHECK_RC(corio_cond_notify_all(c), 2);
    CHECK_RC(corio_cond_release(c), 0);
    CHECK_RC(join(t1), 0);
    CHECK_RC(join(t2), 0);
    CHECK(order_is(2, 1, 2));
    CHECK(!corio_cond_locked(c));
}

static void *cond_main(void *arg)
{
    (void)arg;
    corio_cond d, d2;
    corio_lock l2;
    corio_lock_init(&l2);
    corio_cond_init(&d, NULL);
    corio_cond_init(&d2, &l2);
    cond_scenario(&s_cond);
    cond_scenario(&d);
    cond_scenario(&s_cond2);
    CHECK(corio_cond_lock(&s_cond2) == &s_cond_lock);
    cond_scenario(&d2);
    corio_cond_destroy(&d);
    corio_cond_destroy(&d2);
    corio_lock_destroy(&l2);
    return NULL;
}

Test(static_init, condition_behaves_as_initialised) { run_main(cond_main, NULL); }

/* Two rounds through a barrier of 2 with a reset while the first group
 * drains (test_reset_barrier_while_tasks_draining's shape): it needs the
 * draining / blocked / entering fields right. */
static corio_barrier *g_bar;

static void *bar_user(void *arg)
{
    int idx = corio_barrier_wait(g_bar);
    CHECK(idx == 0 || idx == 1);
    rec((int)(intptr_t)arg);
    return NULL;
}

/* Two rounds in a row: the second wait comes while the first group is
 * still draining, so it goes through `blocked` and `entering`. */
static void *bar_twice(void *arg)
{
    int tag = (int)(intptr_t)arg;
    for (int round = 1; round <= 2; round++) {
        int idx = corio_barrier_wait(g_bar);
        CHECK(idx == 0 || idx == 1);
        rec(tag * 10 + round);
    }
    return NULL;
}

/* Three tasks, two parties, six arrivals: whatever order this gives, a
 * static barrier must give the same. */
static int drain_scenario(corio_barrier *b, int *order)
{
    g_bar = b;
    g_norder = 0;
    corio_task *t[3];
    for (int i = 0; i < 3; i++) t[i] = go(bar_twice, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 3; i++) CHECK_RC(join(t[i]), 0);
    CHECK(!corio_barrier_draining(b) && corio_barrier_n_waiting(b) == 0);
    memcpy(order, g_order, sizeof g_order);
    return g_norder;
}

static void barrier_scenario(corio_barrier *b)
{
    g_bar = b;
    g_norder = 0;
    CHECK(corio_barrier_parties(b) == 2 && !corio_barrier_broken(b));
    corio_task *t1 = go(bar_user, (void *)1);
    corio_yield();
    CHECK(corio_barrier_n_waiting(b) == 1 && !corio_barrier_draining(b));
    /* We are the second: the group goes through; t1 has not left yet. */
    int idx = corio_barrier_wait(b);
    CHECK(idx == 1);
    CHECK(corio_barrier_draining(b));
    /* A task arriving now waits for the next group. */
    corio_task *t2 = go(bar_user, (void *)2);
    corio_task *t3 = go(bar_user, (void *)3);
    CHECK_RC(join(t1), 0);
    CHECK_RC(join(t2), 0);
    CHECK_RC(join(t3), 0);
    /* t1 leaves first; t2 waits, t3 completes the group and goes on
     * before t2 has run. */
    CHECK(order_is(3, 1, 3, 2));
    CHECK(!corio_barrier_draining(b) && corio_barrier_n_waiting(b) == 0);
    corio_barrier_abort(b);
    CHECK_RC(corio_barrier_wait(b), CORIO_EBROKEN);
    corio_barrier_reset(b);
    CHECK(!corio_barrier_broken(b));
}

static void *barrier_main(void *arg)
{
    (void)arg;
    corio_barrier d;
    CHECK_RC(corio_barrier_init(&d, 2), 0);
    barrier_scenario(&s_barrier);
    barrier_scenario(&d);
    corio_barrier_destroy(&d);

    static corio_barrier s2 = CORIO_BARRIER_INIT(2);
    corio_barrier d2;
    CHECK_RC(corio_barrier_init(&d2, 2), 0);
    int o1[64], o2[64];
    int n1 = drain_scenario(&s2, o1);
    int n2 = drain_scenario(&d2, o2);
    CHECK(n1 == 6 && n2 == 6);
    CHECK(memcmp(o1, o2, sizeof(int) * 6) == 0);
    corio_barrier_destroy(&d2);
    return NULL;
}

Test(static_init, barrier_behaves_as_initialised) { run_main(barrier_main, NULL); }

static corio_queue *g_q;

static void *q_putter(void *arg)
{
    CHECK_RC(corio_queue_put(g_q, arg), 0);
    rec((int)(intptr_t)arg);
    return NULL;
}

static void fifo_scenario(corio_queue *q)
{
    g_q = q;
    g_norder = 0;
    void *it = NULL;
    CHECK_RC(corio_queue_get_nowait(q, &it), CORIO_EEMPTY);
    CHECK_RC(corio_queue_put(q, (void *)1), 0); /* the first put allocates */
    CHECK_RC(corio_queue_put_nowait(q, (void *)2), 0);
    CHECK(corio_queue_full(q));
    CHECK_RC(corio_queue_put_nowait(q, (void *)3), CORIO_EFULL);
    corio_task *p = go(q_putter, (void *)3);
    corio_yield();
    CHECK(corio_queue_n_putters(q) == 1);
    for (intptr_t want = 1; want <= 3; want++) {
        CHECK_RC(corio_queue_get(q, &it), 0);
        CHECK(it == (void *)want);
        CHECK_RC(corio_queue_task_done(q), 0);
    }
    CHECK_RC(join(p), 0);
    CHECK_RC(corio_queue_join(q), 0);
    corio_queue_shutdown(q, true);
    CHECK_RC(corio_queue_put(q, (void *)4), CORIO_ESHUTDOWN);
    corio_queue_destroy(q);
}

static void prio_scenario(corio_queue *q)
{
    void *it = NULL;
    CHECK_RC(corio_queue_put_prio(q, (void *)3, 3), 0);
    CHECK_RC(corio_queue_put_prio(q, (void *)1, 1), 0);
    CHECK_RC(corio_queue_put_prio(q, (void *)2, 2), 0);
    for (intptr_t want = 1; want <= 3; want++) {
        CHECK_RC(corio_queue_get(q, &it), 0);
        CHECK(it == (void *)want);
    }
    corio_queue_destroy(q);
}

static void lifo_scenario(corio_queue *q)
{
    void *it = NULL;
    for (intptr_t i = 1; i <= 20; i++) CHECK_RC(corio_queue_put(q, (void *)i), 0);
    for (intptr_t want = 20; want >= 1; want--) {
        CHECK_RC(corio_queue_get(q, &it), 0);
        CHECK(it == (void *)want);
    }
    corio_queue_destroy(q);
}

static void *queue_main(void *arg)
{
    (void)arg;
    corio_queue d;
    CHECK_RC(corio_queue_init(&d, CORIO_QUEUE_FIFO, 2), 0);
    fifo_scenario(&s_fifo);
    fifo_scenario(&d);
    CHECK_RC(corio_queue_init(&d, CORIO_QUEUE_PRIORITY, 0), 0);
    prio_scenario(&s_prio);
    prio_scenario(&d);
    CHECK_RC(corio_queue_init(&d, CORIO_QUEUE_LIFO, 0), 0);
    lifo_scenario(&s_lifo);
    lifo_scenario(&d);
    /* A static queue that was never put to owns nothing; destroying it
     * anyway is fine. */
    corio_queue never = CORIO_QUEUE_INIT(CORIO_QUEUE_FIFO, 0);
    CHECK(corio_queue_empty(&never));
    corio_queue_destroy(&never);
    return NULL;
}

Test(static_init, queue_behaves_as_initialised) { run_main(queue_main, NULL); }

/* A not-open scope can be ended on every path, inside a task too. */
static void *timeout_main(void *arg)
{
    (void)arg;
    corio_timeout t = CORIO_TIMEOUT_INIT;
    if (arg) corio_timeout_begin(&t, corio_deadline_in(CORIO_MS(1)));
    CHECK_RC(corio_sleep(0), 0);
    CHECK_RC(corio_timeout_end(&t), 0);
    CHECK_RC(corio_sleep(0), 0);
    return NULL;
}

Test(static_init, timeout_scope_not_open) { run_main(timeout_main, NULL); }
