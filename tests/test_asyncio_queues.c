/*
 * test_asyncio_queues.c — CPython's Lib/test/test_asyncio/test_queues.py,
 * case by case, against sync/queue.c. Items are small integers cast to
 * pointers. QueueEmpty / QueueFull are CORIO_EEMPTY / CORIO_EFULL,
 * QueueShutDown is CORIO_ESHUTDOWN, task_done's ValueError CORIO_EINVAL.
 * The join and shutdown mixins of the CPython file run for all three
 * kinds, as its three subclasses do.
 */
#include "asyncio_util.h"

#define I(x) ((void *)(intptr_t)(x))
#define V(p) ((int)(intptr_t)(p))

static corio_queue g_q;
static const corio_queue_kind kinds[] = {
    CORIO_QUEUE_FIFO, CORIO_QUEUE_LIFO, CORIO_QUEUE_PRIORITY
};

static int get_int(void)
{
    void *item = NULL;
    int rc = corio_queue_get(&g_q, &item);
    return rc == 0 ? V(item) : rc * 1000;
}

/* ---- QueueBasicTests ---- */

static void *empty_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    CHECK(corio_queue_empty(&g_q));
    CHECK_RC(corio_queue_put(&g_q, I(1)), 0);
    CHECK(!corio_queue_empty(&g_q));
    CHECK(get_int() == 1);
    CHECK(corio_queue_empty(&g_q));
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_empty) { run_main(empty_main, NULL); }

static void *full_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    CHECK(!corio_queue_full(&g_q));
    corio_queue_destroy(&g_q);
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    CHECK_RC(corio_queue_put(&g_q, I(1)), 0);
    CHECK(corio_queue_full(&g_q));
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_full) { run_main(full_main, NULL); }

/* test_order of QueueBasicTests, LifoQueueTests and PriorityQueueTests. */
static void *order_main(void *arg)
{
    corio_queue_kind kind = (corio_queue_kind)(intptr_t)arg;
    corio_queue_init(&g_q, kind, 0);
    int in[3] = { 1, 3, 2 };
    for (int i = 0; i < 3; i++)
        CHECK_RC(corio_queue_put_prio(&g_q, I(in[i]), in[i]), 0);
    for (int i = 0; i < 3; i++) rec(get_int());
    if (kind == CORIO_QUEUE_FIFO) CHECK(order_is(3, 1, 3, 2));
    if (kind == CORIO_QUEUE_LIFO) CHECK(order_is(3, 2, 3, 1));
    if (kind == CORIO_QUEUE_PRIORITY) CHECK(order_is(3, 1, 2, 3));
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_order) { run_main(order_main, I(CORIO_QUEUE_FIFO)); }
Test(asyncio_queues, test_lifo_order) { run_main(order_main, I(CORIO_QUEUE_LIFO)); }
Test(asyncio_queues, test_priority_order)
{
    run_main(order_main, I(CORIO_QUEUE_PRIORITY));
}

static void *maxsize_putter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        NOTE(&g_tally, corio_queue_put(&g_q, I(i)) == 0, "put");
        rec(i);
    }
    return NULL;
}

static void *maxsize_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 2);
    CHECK(corio_queue_maxsize(&g_q) == 2);
    corio_task *t = go(maxsize_putter, NULL);
    corio_yield();
    corio_yield();
    CHECK(order_is(2, 0, 1)); /* blocked after putting two items */
    CHECK(get_int() == 0);
    corio_yield();
    CHECK(order_is(3, 0, 1, 2));
    CHECK(get_int() == 1);
    CHECK(get_int() == 2);
    CHECK(corio_task_done(t));
    CHECK_RC(join(t), 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_maxsize) { run_main(maxsize_main, NULL); }

/* ---- QueueGetTests ---- */

static void *blocking_get_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    CHECK_RC(corio_queue_put_nowait(&g_q, I(1)), 0);
    CHECK(get_int() == 1);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_blocking_get) { run_main(blocking_get_main, NULL); }

static corio_event g_started;
static bool g_finished;

static void *queue_get_task(void *arg)
{
    (void)arg;
    corio_event_set(&g_started);
    void *item = NULL;
    int rc = corio_queue_get(&g_q, &item);
    g_finished = true;
    return rc == 0 ? item : corio_fail(rc);
}

/* loop.call_later(0.01, q.put_nowait, 1), as a task. */
static void *put_later(void *arg)
{
    corio_sleep(CORIO_MS(10));
    corio_queue_put_nowait(&g_q, arg);
    return NULL;
}

static void *blocking_get_wait_main(void *arg)
{
    (void)arg;
    g_finished = false;
    corio_event_init(&g_started);
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_task *t = go(queue_get_task, NULL);
    CHECK_RC(corio_event_wait(&g_started), 0);
    CHECK(!g_finished);
    corio_task *later = go(put_later, I(1));
    void *res = NULL;
    CHECK_RC(corio_join(t, &res), 0);
    CHECK(g_finished);
    CHECK(V(res) == 1);
    join(later);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_blocking_get_wait)
{
    run_main(blocking_get_wait_main, NULL);
}

static void *nonblocking_get_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_queue_put_nowait(&g_q, I(1));
    void *item = NULL;
    CHECK_RC(corio_queue_get_nowait(&g_q, &item), 0);
    CHECK(V(item) == 1);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_nonblocking_get) { run_main(nonblocking_get_main, NULL); }

static void *nonblocking_get_exception_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    void *item = NULL;
    CHECK_RC(corio_queue_get_nowait(&g_q, &item), CORIO_EEMPTY);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_nonblocking_get_exception)
{
    run_main(nonblocking_get_exception_main, NULL);
}

static void *getter(void *arg)
{
    (void)arg;
    void *item = NULL;
    int rc = corio_queue_get(&g_q, &item);
    return rc == 0 ? item : corio_fail(rc);
}

static void *putter(void *arg)
{
    int rc = corio_queue_put(&g_q, arg);
    return rc == 0 ? NULL : corio_fail(rc);
}

static void *get_cancelled_race_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_task *t1 = go(getter, NULL);
    corio_task *t2 = go(getter, NULL);
    corio_yield();
    corio_cancel(t1);
    corio_yield();
    CHECK(corio_task_done(t1));
    CHECK_RC(corio_queue_put(&g_q, I('a')), 0);
    corio_yield();
    void *r = NULL;
    CHECK_RC(corio_join(t2, &r), 0);
    CHECK(V(r) == 'a');
    CHECK_RC(join(t1), CORIO_ECANCELED);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_get_cancelled_race)
{
    run_main(get_cancelled_race_main, NULL);
}

static void *get_with_waiting_putters_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_task *a = go(putter, I('a'));
    corio_task *b = go(putter, I('b'));
    CHECK(get_int() == 'a');
    CHECK(get_int() == 'b');
    join(a);
    join(b);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_get_with_waiting_putters)
{
    run_main(get_with_waiting_putters_main, NULL);
}

static void *producer(void *arg)
{
    for (int i = 0; i < V(arg); i++)
        NOTE(&g_tally, corio_queue_put(&g_q, I(i)) == 0, "put");
    return NULL;
}

static void *consumer(void *arg)
{
    for (int i = 0; i < V(arg); i++)
        NOTE(&g_tally, get_int() == i, "get");
    return NULL;
}

static void *why_are_getters_waiting_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_task *p = go(producer, I(5));
    corio_task *c = go(consumer, I(5));
    CHECK_RC(join(p), 0);
    CHECK_RC(join(c), 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_why_are_getters_waiting)
{
    run_main(why_are_getters_waiting_main, NULL);
}

static void *cancelled_getters_not_held_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 5);
    void *item;
    CHECK_RC(corio_queue_get_until(&g_q, &item, corio_deadline_in(CORIO_MS(20))),
             CORIO_ETIMEDOUT);
    CHECK(corio_queue_n_getters(&g_q) == 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_cancelled_getters_not_being_held_in_self_getters)
{
    run_main(cancelled_getters_not_held_main, NULL);
}

/* ---- QueuePutTests ---- */

static void *blocking_put_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    CHECK_RC(corio_queue_put(&g_q, I(1)), 0); /* no maxsize: no block */
    CHECK(get_int() == 1);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_blocking_put) { run_main(blocking_put_main, NULL); }

static void *queue_put_task(void *arg)
{
    (void)arg;
    corio_event_set(&g_started);
    NOTE(&g_tally, corio_queue_put(&g_q, I(1)) == 0, "put 1");
    NOTE(&g_tally, corio_queue_put(&g_q, I(2)) == 0, "put 2");
    g_finished = true;
    return NULL;
}

static void *get_later(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_MS(10));
    void *item;
    corio_queue_get_nowait(&g_q, &item);
    return NULL;
}

static void *blocking_put_wait_main(void *arg)
{
    (void)arg;
    g_finished = false;
    corio_event_init(&g_started);
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_task *later = go(get_later, NULL);
    corio_task *t = go(queue_put_task, NULL);
    CHECK_RC(corio_event_wait(&g_started), 0);
    CHECK(!g_finished);
    CHECK_RC(join(t), 0);
    CHECK(g_finished);
    join(later);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_blocking_put_wait)
{
    run_main(blocking_put_wait_main, NULL);
}

Test(asyncio_queues, test_nonblocking_put) { run_main(nonblocking_get_main, NULL); }

static void *get_cancel_drop_one_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_task *reader = go(getter, NULL);
    corio_yield();
    corio_queue_put_nowait(&g_q, I(1));
    corio_queue_put_nowait(&g_q, I(2));
    corio_cancel(reader);
    void *r = NULL;
    int st = corio_join(reader, &r);
    /* corio: the item handed over before the cancel is the reader's
     * (the task ends cancelled, with the item as its result); asyncio
     * either returns it or lets a second reader get it. Never 2. */
    if (st == CORIO_ECANCELED && r == NULL) {
        reader = go(getter, NULL);
        st = corio_join(reader, &r);
    }
    CHECK(V(r) == 1);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_get_cancel_drop_one_pending_reader)
{
    run_main(get_cancel_drop_one_main, NULL);
}

static void *get_cancel_drop_many_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_task *r1 = go(getter, NULL);
    corio_task *r2 = go(getter, NULL);
    corio_task *r3 = go(getter, NULL);
    corio_yield();
    corio_queue_put_nowait(&g_q, I(1));
    corio_queue_put_nowait(&g_q, I(2));
    corio_cancel(r1);
    void *v1 = NULL, *v2 = NULL, *v3 = NULL;
    int st1 = corio_join(r1, &v1);
    /* The first item went to r1 before its cancel (it keeps it); asyncio
     * drops the cancelled reader and passes 1 on. Either way no item is
     * lost: the three results hold 1 and 2, once each. */
    if (st1 == CORIO_ECANCELED && v1) {
        corio_queue_put_nowait(&g_q, I(3)); /* so that the third reader ends */
    }
    CHECK_RC(corio_join(r2, &v2), 0);
    CHECK_RC(corio_join(r3, &v3), 0);
    int got[4] = { 0 };
    void *vs[3] = { v1, v2, v3 };
    for (int i = 0; i < 3; i++)
        if (V(vs[i]) >= 1 && V(vs[i]) <= 3) got[V(vs[i])]++;
    CHECK(got[1] == 1 && got[2] == 1);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_get_cancel_drop_many_pending_readers)
{
    run_main(get_cancel_drop_many_main, NULL);
}

static void *put_cancel_drop_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_queue_put_nowait(&g_q, I(1));
    corio_task *writer = go(putter, I(2));
    corio_yield();
    void *v = NULL;
    CHECK_RC(corio_queue_get_nowait(&g_q, &v), 0);
    CHECK(V(v) == 1);
    corio_cancel(writer);
    if (join(writer) == CORIO_ECANCELED && corio_queue_size(&g_q) == 0) {
        writer = go(putter, I(2)); /* try again */
        join(writer);
    }
    CHECK_RC(corio_queue_get_nowait(&g_q, &v), 0);
    CHECK(V(v) == 2);
    CHECK(corio_queue_size(&g_q) == 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_put_cancel_drop) { run_main(put_cancel_drop_main, NULL); }

static void *nonblocking_put_exception_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    CHECK_RC(corio_queue_put_nowait(&g_q, I(1)), 0);
    CHECK_RC(corio_queue_put_nowait(&g_q, I(2)), CORIO_EFULL);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_nonblocking_put_exception)
{
    run_main(nonblocking_put_exception_main, NULL);
}

static void *put_cancelled_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_task *t = go(putter, I(1));
    CHECK(get_int() == 1);
    CHECK(corio_task_done(t));
    CHECK_RC(join(t), 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_put_cancelled) { run_main(put_cancelled_main, NULL); }

static void *put_cancelled_race_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_task *a = go(putter, I('a'));
    corio_task *b = go(putter, I('b'));
    corio_task *c = go(putter, I('X'));
    corio_yield();
    CHECK(corio_task_done(a));
    CHECK(!corio_task_done(b));
    corio_cancel(c);
    corio_yield();
    CHECK(corio_task_done(c));
    void *v;
    CHECK_RC(corio_queue_get_nowait(&g_q, &v), 0);
    CHECK(V(v) == 'a');
    corio_yield();
    CHECK_RC(corio_queue_get_nowait(&g_q, &v), 0);
    CHECK(V(v) == 'b');
    CHECK_RC(join(b), 0);
    CHECK_RC(join(a), 0);
    CHECK_RC(join(c), CORIO_ECANCELED);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_put_cancelled_race)
{
    run_main(put_cancelled_race_main, NULL);
}

static void *put_with_waiting_getters_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 0);
    corio_task *t = go(getter, NULL);
    corio_yield();
    CHECK_RC(corio_queue_put(&g_q, I('a')), 0);
    void *r = NULL;
    CHECK_RC(corio_join(t, &r), 0);
    CHECK(V(r) == 'a');
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_put_with_waiting_getters)
{
    run_main(put_with_waiting_getters_main, NULL);
}

static void *drain_getter(void *arg)
{
    (void)arg;
    corio_yield();
    size_t num = corio_queue_size(&g_q);
    void *v;
    for (size_t i = 0; i < num; i++) corio_queue_get_nowait(&g_q, &v);
    return NULL;
}

static void *why_are_putters_waiting_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 2);
    corio_task *t[5];
    t[0] = go(drain_getter, NULL);
    for (int i = 0; i < 4; i++) t[i + 1] = go(putter, I(i));
    for (int i = 0; i < 5; i++) CHECK_RC(join(t[i]), 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_why_are_putters_waiting)
{
    run_main(why_are_putters_waiting_main, NULL);
}

static void *cancelled_puts_not_held_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_queue_put_nowait(&g_q, I(1));
    corio_task *put_task = go(putter, I(1));
    corio_yield();
    CHECK(corio_queue_n_putters(&g_q) == 1);
    corio_cancel(put_task);
    CHECK_RC(join(put_task), CORIO_ECANCELED);
    CHECK(corio_queue_n_putters(&g_q) == 0);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_cancelled_puts_not_being_held_in_self_putters)
{
    run_main(cancelled_puts_not_held_main, NULL);
}

static void *cancelled_put_silence_main(void *arg)
{
    (void)arg;
    corio_queue_init(&g_q, CORIO_QUEUE_FIFO, 1);
    corio_queue_put_nowait(&g_q, I(1));
    corio_task *put_task = go(putter, I(1));
    corio_yield();
    void *v;
    /* get_nowait moves the putter's item in and wakes it; the cancel
     * that follows finds the put done: the task ends cancelled with its
     * item queued (asyncio: CancelledError, item queued too). */
    corio_queue_get_nowait(&g_q, &v);
    corio_cancel(put_task);
    CHECK_RC(join(put_task), CORIO_ECANCELED);
    CHECK(corio_queue_size(&g_q) == 1);
    corio_queue_destroy(&g_q);
    return NULL;
}

Test(asyncio_queues, test_cancelled_put_silence_value_error_exception)
{
    run_main(cancelled_put_silence_main, NULL);
}

/* ---- _QueueJoinTestMixin, for the three kinds ---- */

static void *task_done_underflow_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 0);
        CHECK_RC(corio_queue_task_done(&g_q), CORIO_EINVAL);
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_task_done_underflow)
{
    run_main(task_done_underflow_main, NULL);
}

static int g_accumulator;
static bool g_running;

static void *worker(void *arg)
{
    (void)arg;
    while (g_running) {
        void *item;
        if (corio_queue_get(&g_q, &item) != 0) break;
        g_accumulator += V(item);
        corio_queue_task_done(&g_q);
    }
    return NULL;
}

static void *task_done_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 0);
        for (int i = 0; i < 100; i++) corio_queue_put_prio_nowait(&g_q, I(i), i);
        g_accumulator = 0;
        g_running = true;
        corio_task *w[2] = { go(worker, NULL), go(worker, NULL) };
        CHECK_RC(corio_queue_join(&g_q), 0);
        CHECK(g_accumulator == 4950);
        g_running = false;
        for (int i = 0; i < 2; i++) corio_queue_put_nowait(&g_q, I(0));
        join(w[0]);
        join(w[1]);
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_task_done) { run_main(task_done_main, NULL); }

static void *join_empty_queue_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 0);
        CHECK_RC(corio_queue_join(&g_q), 0);
        CHECK_RC(corio_queue_join(&g_q), 0);
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_join_empty_queue) { run_main(join_empty_queue_main, NULL); }

/* ---- _QueueShutdownTestMixin (3.13), for the three kinds ---- */

static void *joiner(void *arg)
{
    (void)arg;
    int rc = corio_queue_join(&g_q);
    return rc == 0 ? NULL : corio_fail(rc);
}

static void check_all_shut(void)
{
    void *v;
    CHECK_RC(corio_queue_put(&g_q, I(9)), CORIO_ESHUTDOWN);
    CHECK_RC(corio_queue_put_nowait(&g_q, I(9)), CORIO_ESHUTDOWN);
    CHECK_RC(corio_queue_get(&g_q, &v), CORIO_ESHUTDOWN);
    CHECK_RC(corio_queue_get_nowait(&g_q, &v), CORIO_ESHUTDOWN);
}

static void *shutdown_empty_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 0);
        corio_task *get_task = go(getter, NULL);
        corio_yield();
        corio_queue_shutdown(&g_q, false);
        CHECK(corio_queue_size(&g_q) == 0);
        CHECK_RC(corio_queue_join(&g_q), 0);
        corio_yield();
        CHECK(corio_task_done(get_task));
        CHECK_RC(join(get_task), CORIO_ESHUTDOWN);
        check_all_shut();
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_shutdown_empty) { run_main(shutdown_empty_main, NULL); }

static void *shutdown_nonempty_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 1);
        corio_queue_put_nowait(&g_q, I(1));
        corio_task *join_task = go(joiner, NULL);
        corio_task *put_task = go(putter, I(2));
        corio_yield();
        CHECK(!corio_task_done(put_task));
        corio_queue_shutdown(&g_q, false);
        CHECK(corio_queue_size(&g_q) == 1);
        corio_yield();
        CHECK(corio_task_done(put_task));
        CHECK_RC(join(put_task), CORIO_ESHUTDOWN);
        CHECK(get_int() == 1); /* gets drain what is left */
        corio_yield();
        CHECK(!corio_task_done(join_task));
        check_all_shut();
        CHECK_RC(corio_queue_task_done(&g_q), 0);
        corio_yield();
        CHECK(corio_task_done(join_task));
        CHECK_RC(join(join_task), 0);
        CHECK_RC(corio_queue_task_done(&g_q), CORIO_EINVAL);
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_shutdown_nonempty)
{
    run_main(shutdown_nonempty_main, NULL);
}

static void *shutdown_immediate_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 0);
        corio_queue_put_nowait(&g_q, I(1));
        corio_task *join_task = go(joiner, NULL);
        corio_yield();
        corio_queue_shutdown(&g_q, true);
        CHECK(corio_queue_size(&g_q) == 0);
        corio_yield();
        CHECK(corio_task_done(join_task));
        CHECK_RC(join(join_task), 0);
        check_all_shut();
        CHECK_RC(corio_queue_task_done(&g_q), CORIO_EINVAL);
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_shutdown_immediate)
{
    run_main(shutdown_immediate_main, NULL);
}

static void *shutdown_immediate_with_unfinished_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 3; k++) {
        corio_queue_init(&g_q, kinds[k], 0);
        corio_queue_put_nowait(&g_q, I(1));
        corio_queue_put_nowait(&g_q, I(1));
        corio_task *join_task = go(joiner, NULL);
        CHECK(get_int() == 1);
        corio_queue_shutdown(&g_q, true); /* unfinished 2 -> 1 */
        CHECK(corio_queue_size(&g_q) == 0);
        corio_yield();
        CHECK(!corio_task_done(join_task));
        check_all_shut();
        CHECK_RC(corio_queue_task_done(&g_q), 0);
        CHECK_RC(corio_queue_task_done(&g_q), CORIO_EINVAL);
        corio_yield();
        CHECK(corio_task_done(join_task));
        CHECK_RC(join(join_task), 0);
        corio_queue_destroy(&g_q);
    }
    return NULL;
}

Test(asyncio_queues, test_shutdown_immediate_with_unfinished)
{
    run_main(shutdown_immediate_with_unfinished_main, NULL);
}
