/*
 * test_queue.c — sync/queue.c: Queue, LifoQueue, PriorityQueue.
 *
 * Same harness as test_sync.c: work runs in tasks on a fresh loop, tasks
 * NOTE what they saw, the test asserts once the loop is closed.
 *
 * Items are small integers cast to void* (never dereferenced), so a test
 * can count exactly which items came out, and how often.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
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


#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((int)(uintptr_t)(p))

/* Take one item without waiting; -1 if there is none. */
static int take(corio_queue *q)
{
    void *item = NULL;
    return corio_queue_get_nowait(q, &item) == 0 ? NUM(item) : -1;
}

/* ------------------------------------------------------------------ */
/* Ordering and the _nowait forms                                     */
/* ------------------------------------------------------------------ */

static void *order_main(void *arg)
{
    (void)arg;
    corio_queue q;

    NOTE(&g_tally, corio_queue_init(&q, CORIO_QUEUE_FIFO, 3) == 0, "init fifo");
    NOTE(&g_tally, corio_queue_empty(&q) && !corio_queue_full(&q), "new queue empty");
    NOTE(&g_tally, corio_queue_maxsize(&q) == 3, "maxsize");
    NOTE(&g_tally, take(&q) == -1, "get from empty");
    void *dummy;
    NOTE(&g_tally, corio_queue_get_nowait(&q, &dummy) == CORIO_EEMPTY, "EEMPTY");
    for (int i = 1; i <= 3; i++)
        NOTE(&g_tally, corio_queue_put_nowait(&q, ITEM(i)) == 0, "put %d", i);
    NOTE(&g_tally, corio_queue_full(&q) && corio_queue_size(&q) == 3, "full at 3");
    NOTE(&g_tally, corio_queue_put_nowait(&q, ITEM(4)) == CORIO_EFULL, "EFULL");
    NOTE(&g_tally, corio_queue_put_until(&q, ITEM(4), corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "timed put on a full queue");
    for (int i = 1; i <= 3; i++) NOTE(&g_tally, take(&q) == i, "fifo order at %d", i);
    NOTE(&g_tally, corio_queue_get_until(&q, &dummy, corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "timed get on an empty queue");
    corio_queue_destroy(&q);

    NOTE(&g_tally, corio_queue_init(&q, CORIO_QUEUE_LIFO, 0) == 0, "init lifo");
    for (int i = 1; i <= 5; i++) corio_queue_put_nowait(&q, ITEM(i));
    for (int i = 5; i >= 1; i--) NOTE(&g_tally, take(&q) == i, "lifo order at %d", i);
    corio_queue_destroy(&q);

    /* Priority: lower first; equal priorities in insertion order. */
    NOTE(&g_tally, corio_queue_init(&q, CORIO_QUEUE_PRIORITY, 0) == 0, "init priority");
    static const int prio[8] = { 5, 1, 5, 3, 1, 5, -2, 3 };
    static const int expect[8] = { 7, 2, 5, 4, 8, 1, 3, 6 }; /* item numbers */
    for (int i = 0; i < 8; i++)
        corio_queue_put_prio_nowait(&q, ITEM(i + 1), prio[i]);
    for (int i = 0; i < 8; i++)
        NOTE(&g_tally, take(&q) == expect[i], "priority position %d", i);
    corio_queue_destroy(&q);

    NOTE(&g_tally, corio_queue_init(&q, (corio_queue_kind)42, 0) == CORIO_EINVAL, "bad kind");
    return NULL;
}

Test(sync_queue, fifo_lifo_priority_order_and_nowait)
{
    run_main(order_main, NULL);
}

#define MANY 5000

static void *priority_many_main(void *arg)
{
    (void)arg;
    corio_queue q;
    corio_queue_init(&q, CORIO_QUEUE_PRIORITY, 0); /* grows from 16 */
    for (int i = 0; i < MANY; i++) {
        NOTE(&g_tally, corio_queue_put_prio(&q, ITEM(i), (i * 7919) % 13) == 0, "put %d", i);
    }
    NOTE(&g_tally, corio_queue_size(&q) == MANY, "size %zu", corio_queue_size(&q));
    int prev_prio = -1, prev_item = -1;
    for (int n = 0; n < MANY; n++) {
        int item = take(&q);
        int p = (item * 7919) % 13;
        NOTE(&g_tally, p > prev_prio || (p == prev_prio && item > prev_item),
             "item %d (priority %d) after item %d (priority %d)",
             item, p, prev_item, prev_prio);
        prev_prio = p;
        prev_item = item;
    }
    NOTE(&g_tally, corio_queue_empty(&q), "drained");
    corio_queue_destroy(&q);
    return NULL;
}

Test(sync_queue, priority_is_stable_over_5000_items)
{
    run_main(priority_many_main, NULL);
}

static void *fifo_grow_main(void *arg)
{
    (void)arg;
    corio_queue q;
    corio_queue_init(&q, CORIO_QUEUE_FIFO, 0);
    /* Keep the ring wrapped while it grows: put 3, take 2, repeatedly. */
    int next_put = 0, next_get = 0;
    for (int round = 0; round < 2000; round++) {
        for (int k = 0; k < 3; k++) corio_queue_put_nowait(&q, ITEM(next_put++));
        for (int k = 0; k < 2; k++) {
            int got = take(&q);
            NOTE(&g_tally, got == next_get, "got %d, expected %d", got, next_get);
            next_get++;
        }
        if (g_tally.failures) break;
    }
    while (!corio_queue_empty(&q)) {
        int got = take(&q);
        NOTE(&g_tally, got == next_get, "drain: got %d, expected %d", got, next_get);
        next_get++;
    }
    NOTE(&g_tally, next_get == next_put, "%d out, %d in", next_get, next_put);
    corio_queue_destroy(&q);
    return NULL;
}

Test(sync_queue, unbounded_fifo_grows_in_order) { run_main(fifo_grow_main, NULL); }

/* ------------------------------------------------------------------ */
/* Producers and consumers                                            */
/* ------------------------------------------------------------------ */

#define PRODUCERS 3
#define CONSUMERS 4
#define PER_PRODUCER 2000

typedef struct pc_ctx {
    corio_queue q;
    int seen[PRODUCERS * PER_PRODUCER];
    int per_consumer[CONSUMERS];
    int put_errors, done_errors, join_rc;
} pc_ctx;

typedef struct pc_role {
    pc_ctx *c;
    int id;
} pc_role;

static void *producer(void *arg)
{
    pc_role *r = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        if (corio_queue_put(&r->c->q, ITEM(r->id * PER_PRODUCER + i)) != 0)
            r->c->put_errors++;
        if (i % 7 == 0) corio_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    pc_role *r = arg;
    void *item;
    while (corio_queue_get(&r->c->q, &item) == 0) {
        int n = NUM(item);
        if (n >= 0 && n < PRODUCERS * PER_PRODUCER) r->c->seen[n]++;
        r->c->per_consumer[r->id]++;
        if (n % 3 == 0) corio_yield(); /* "work" */
        if (corio_queue_task_done(&r->c->q) != 0) r->c->done_errors++;
    }
    return NULL;
}

static void *pc_main(void *arg)
{
    pc_ctx *c = arg;
    corio_queue_init(&c->q, CORIO_QUEUE_FIFO, 5);
    pc_role roles[PRODUCERS + CONSUMERS];
    corio_task *t[PRODUCERS + CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        roles[i] = (pc_role){ c, i };
        t[i] = go(consumer, &roles[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        roles[CONSUMERS + i] = (pc_role){ c, i };
        t[CONSUMERS + i] = go(producer, &roles[CONSUMERS + i]);
    }
    for (int i = 0; i < PRODUCERS; i++) join(t[CONSUMERS + i]);
    c->join_rc = corio_queue_join(&c->q); /* every item processed */
    corio_queue_shutdown(&c->q, false);   /* consumers leave on ESHUTDOWN */
    for (int i = 0; i < CONSUMERS; i++) join(t[i]);
    corio_queue_destroy(&c->q);
    return NULL;
}

Test(sync_queue, producers_and_consumers_on_a_bounded_queue, .timeout = 60)
{
    static pc_ctx c;
    memset(&c, 0, sizeof c);
    run_main(pc_main, &c);
    cr_assert_eq(c.put_errors, 0);
    cr_assert_eq(c.done_errors, 0);
    cr_assert_eq(c.join_rc, 0);
    for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
        cr_assert_eq(c.seen[i], 1, "item %d seen %d times", i, c.seen[i]);
    for (int i = 0; i < CONSUMERS; i++)
        cr_assert_gt(c.per_consumer[i], 0, "consumer %d got nothing", i);
}

/* ------------------------------------------------------------------ */
/* Direct hand-off and FIFO among waiters                             */
/* ------------------------------------------------------------------ */

typedef struct waiter_ctx {
    corio_queue q;
    int got[4];
    int rc[4];
    int n;
} waiter_ctx;

typedef struct waiter_role {
    waiter_ctx *c;
    int id;
} waiter_role;

static void *getter(void *arg)
{
    waiter_role *r = arg;
    void *item = NULL;
    r->c->rc[r->id] = corio_queue_get(&r->c->q, &item);
    r->c->got[r->id] = NUM(item);
    return NULL;
}

static void *putter(void *arg)
{
    waiter_role *r = arg;
    r->c->rc[r->id] = corio_queue_put(&r->c->q, ITEM(100 + r->id));
    return NULL;
}

static void *handoff_main(void *arg)
{
    (void)arg;
    waiter_ctx c;
    memset(&c, 0, sizeof c);
    waiter_role roles[3];
    corio_task *t[3];

    /* Getters waiting: each put goes straight to the oldest getter. */
    corio_queue_init(&c.q, CORIO_QUEUE_PRIORITY, 2);
    for (int i = 0; i < 3; i++) {
        roles[i] = (waiter_role){ &c, i };
        t[i] = go(getter, &roles[i]);
    }
    corio_yield();
    for (int i = 0; i < 3; i++) {
        NOTE(&g_tally, corio_queue_put_prio_nowait(&c.q, ITEM(i + 1), 9 - i) == 0, "put");
        NOTE(&g_tally, corio_queue_size(&c.q) == 0, "handed over, not queued");
    }
    for (int i = 0; i < 3; i++) join(t[i]);
    for (int i = 0; i < 3; i++)
        NOTE(&g_tally, c.rc[i] == 0 && c.got[i] == i + 1, "getter %d: rc %d item %d",
             i, c.rc[i], c.got[i]);
    corio_queue_destroy(&c.q);

    /* Putters waiting on a full queue: each get moves the oldest putter's
     * item in, so a later put_nowait cannot take the slot. */
    corio_queue_init(&c.q, CORIO_QUEUE_FIFO, 1);
    corio_queue_put_nowait(&c.q, ITEM(1));
    for (int i = 0; i < 3; i++) {
        roles[i] = (waiter_role){ &c, i };
        t[i] = go(putter, &roles[i]);
    }
    corio_yield();
    NOTE(&g_tally, take(&c.q) == 1, "first item");
    NOTE(&g_tally, corio_queue_full(&c.q), "refilled by the first putter");
    NOTE(&g_tally, corio_queue_put_nowait(&c.q, ITEM(7)) == CORIO_EFULL, "barging put");
    for (int i = 0; i < 3; i++) NOTE(&g_tally, take(&c.q) == 100 + i, "putter %d's item", i);
    for (int i = 0; i < 3; i++) join(t[i]);
    for (int i = 0; i < 3; i++) NOTE(&g_tally, c.rc[i] == 0, "putter %d: %d", i, c.rc[i]);
    NOTE(&g_tally, corio_queue_empty(&c.q), "empty");
    corio_queue_destroy(&c.q);

    /* LIFO with a waiting putter: its item lands on top. */
    corio_queue_init(&c.q, CORIO_QUEUE_LIFO, 2);
    corio_queue_put_nowait(&c.q, ITEM(1));
    corio_queue_put_nowait(&c.q, ITEM(2));
    roles[0] = (waiter_role){ &c, 0 };
    t[0] = go(putter, &roles[0]);
    corio_yield();
    NOTE(&g_tally, take(&c.q) == 2, "lifo top");
    NOTE(&g_tally, take(&c.q) == 100, "the putter's item is the new top");
    NOTE(&g_tally, take(&c.q) == 1, "lifo bottom");
    join(t[0]);
    corio_queue_destroy(&c.q);
    return NULL;
}

Test(sync_queue, direct_handoff_fifo_waiters) { run_main(handoff_main, NULL); }

/* ------------------------------------------------------------------ */
/* The inline put and get (corio.h)                                   */
/* ------------------------------------------------------------------ */

/* corio_queue_put and corio_queue_get are compiled into the caller and
 * use the ring directly when they can: they must still never pass a
 * parked getter or putter, nor a shutdown, nor apply to LIFO or priority
 * queues. */

static int get_inline(corio_queue *q)
{
    void *item = NULL;
    int rc = corio_queue_get(q, &item);
    return rc == 0 ? NUM(item) : rc;
}

static void *getter_1ms(void *arg)
{
    waiter_role *r = arg;
    void *item = NULL;
    r->c->rc[r->id] = corio_queue_get_until(&r->c->q, &item,
                                            corio_deadline_in(CORIO_MS(1)));
    return NULL;
}

static void *inline_paths_main(void *arg)
{
    (void)arg;
    waiter_ctx c;
    memset(&c, 0, sizeof c);
    waiter_role role = { &c, 0 };
    corio_task *t;

    /* A getter parked on an empty queue: a put, with all the ring free,
     * must hand it the item rather than store it. */
    corio_queue_init(&c.q, CORIO_QUEUE_FIFO, 4);
    t = go(getter, &role);
    corio_yield(); /* it runs and parks */
    NOTE(&g_tally, corio_queue_put(&c.q, ITEM(1)) == 0, "put to the getter");
    NOTE(&g_tally, corio_queue_size(&c.q) == 0, "handed over, not queued");
    if (corio_queue_size(&c.q) != 0) { /* it would wait forever: end it */
        corio_cancel(t);
        get_inline(&c.q);
    }
    join(t);
    NOTE(&g_tally, c.rc[0] == 0 && c.got[0] == 1, "getter: rc %d item %d",
         c.rc[0], c.got[0]);
    NOTE(&g_tally, corio_queue_put(&c.q, ITEM(2)) == 0 && get_inline(&c.q) == 2,
         "put and get with nobody waiting");

    /* A getter that timed out got nothing and leaves nothing behind. */
    t = go(getter_1ms, &role);
    join(t);
    NOTE(&g_tally, c.rc[0] == CORIO_ETIMEDOUT, "timed-out getter: %d", c.rc[0]);
    NOTE(&g_tally, corio_queue_put(&c.q, ITEM(3)) == 0 && corio_queue_size(&c.q) == 1,
         "put after the timeout is queued");
    NOTE(&g_tally, get_inline(&c.q) == 3, "and comes out");

    /* A putter parked on a full queue: every get takes the oldest item,
     * and the putter's item moves in behind the rest. */
    for (int i = 5; i <= 8; i++)
        NOTE(&g_tally, corio_queue_put(&c.q, ITEM(i)) == 0, "fill %d", i);
    t = go(putter, &role);
    corio_yield(); /* it runs and parks */
    NOTE(&g_tally, corio_queue_full(&c.q), "full, putter parked");
    for (int want = 5; want <= 8; want++)
        NOTE(&g_tally, get_inline(&c.q) == want, "item %d in order", want);
    NOTE(&g_tally, get_inline(&c.q) == 100, "then the putter's item");
    join(t);
    NOTE(&g_tally, c.rc[0] == 0, "putter: %d", c.rc[0]);

    /* Shut down with room in the ring: the put must fail, not store. */
    corio_queue_shutdown(&c.q, false);
    NOTE(&g_tally, corio_queue_put(&c.q, ITEM(9)) == CORIO_ESHUTDOWN,
         "put after shutdown");
    NOTE(&g_tally, corio_queue_size(&c.q) == 0, "nothing stored");
    NOTE(&g_tally, get_inline(&c.q) == CORIO_ESHUTDOWN, "get after shutdown");
    corio_queue_destroy(&c.q);

    /* LIFO and priority queues never take the FIFO ring's path. */
    corio_queue_init(&c.q, CORIO_QUEUE_LIFO, 4);
    for (int i = 1; i <= 3; i++) corio_queue_put(&c.q, ITEM(i));
    for (int want = 3; want >= 1; want--)
        NOTE(&g_tally, get_inline(&c.q) == want, "lifo %d", want);
    corio_queue_destroy(&c.q);
    corio_queue_init(&c.q, CORIO_QUEUE_PRIORITY, 4);
    corio_queue_put_prio(&c.q, ITEM(1), 5);
    corio_queue_put(&c.q, ITEM(2)); /* priority 0: comes out first */
    NOTE(&g_tally, get_inline(&c.q) == 2 && get_inline(&c.q) == 1, "priority order");
    corio_queue_destroy(&c.q);
    return NULL;
}

/* The timeout: should a case above still leave a task parked for good. */
Test(sync_queue, inline_put_and_get_never_pass_a_waiter, .timeout = 30)
{
    run_main(inline_paths_main, NULL);
}

/* ------------------------------------------------------------------ */
/* task_done / join                                                   */
/* ------------------------------------------------------------------ */

typedef struct join_ctx {
    corio_queue q;
    int joined_rc;
    int processed;
} join_ctx;

static void *joiner(void *arg)
{
    join_ctx *c = arg;
    c->joined_rc = corio_queue_join(&c->q);
    return NULL;
}

static void *worker(void *arg)
{
    join_ctx *c = arg;
    void *item;
    while (corio_queue_get_nowait(&c->q, &item) == 0) {
        corio_yield();
        c->processed++;
        corio_queue_task_done(&c->q);
    }
    return NULL;
}

static void *join_main(void *arg)
{
    (void)arg;
    join_ctx c;
    memset(&c, 0, sizeof c);
    corio_queue_init(&c.q, CORIO_QUEUE_FIFO, 0);
    NOTE(&g_tally, corio_queue_task_done(&c.q) == CORIO_EINVAL, "task_done with nothing put");
    NOTE(&g_tally, corio_queue_join(&c.q) == 0, "join with nothing put");
    for (int i = 0; i < 10; i++) corio_queue_put_nowait(&c.q, ITEM(i));
    NOTE(&g_tally, corio_queue_join_until(&c.q, corio_deadline_in(CORIO_MS(1)))
         == CORIO_ETIMEDOUT, "join with 10 unfinished");
    c.joined_rc = 99;
    corio_task *j = go(joiner, &c);
    corio_task *w = go(worker, &c);
    join(w);
    join(j);
    NOTE(&g_tally, c.processed == 10, "processed %d", c.processed);
    NOTE(&g_tally, c.joined_rc == 0, "joiner: %d", c.joined_rc);
    NOTE(&g_tally, corio_queue_task_done(&c.q) == CORIO_EINVAL, "one task_done too many");
    corio_queue_destroy(&c.q);
    return NULL;
}

Test(sync_queue, task_done_and_join) { run_main(join_main, NULL); }

/* ------------------------------------------------------------------ */
/* Shutdown (Python 3.13)                                             */
/* ------------------------------------------------------------------ */

static void *shutdown_main(void *arg)
{
    (void)arg;
    waiter_ctx c;
    memset(&c, 0, sizeof c);
    waiter_role roles[3];
    corio_task *t[3];
    void *item;

    /* Graceful: blocked putters fail, items left can still be got. */
    corio_queue_init(&c.q, CORIO_QUEUE_FIFO, 2);
    corio_queue_put_nowait(&c.q, ITEM(1));
    corio_queue_put_nowait(&c.q, ITEM(2));
    for (int i = 0; i < 2; i++) {
        roles[i] = (waiter_role){ &c, i };
        t[i] = go(putter, &roles[i]);
    }
    corio_yield();
    corio_queue_shutdown(&c.q, false);
    for (int i = 0; i < 2; i++) join(t[i]);
    NOTE(&g_tally, c.rc[0] == CORIO_ESHUTDOWN && c.rc[1] == CORIO_ESHUTDOWN,
         "blocked putters: %d %d", c.rc[0], c.rc[1]);
    NOTE(&g_tally, corio_queue_is_shutdown(&c.q), "is_shutdown");
    NOTE(&g_tally, corio_queue_put_nowait(&c.q, ITEM(3)) == CORIO_ESHUTDOWN, "put after");
    NOTE(&g_tally, corio_queue_put(&c.q, ITEM(3)) == CORIO_ESHUTDOWN, "blocking put after");
    NOTE(&g_tally, take(&c.q) == 1 && take(&c.q) == 2, "items drain after shutdown");
    NOTE(&g_tally, corio_queue_get(&c.q, &item) == CORIO_ESHUTDOWN, "get once drained");
    NOTE(&g_tally, corio_queue_get_nowait(&c.q, &item) == CORIO_ESHUTDOWN, "nowait too");
    corio_queue_destroy(&c.q);

    /* Blocked getters are woken with ESHUTDOWN. */
    memset(&c, 0, sizeof c);
    corio_queue_init(&c.q, CORIO_QUEUE_FIFO, 0);
    for (int i = 0; i < 3; i++) {
        roles[i] = (waiter_role){ &c, i };
        t[i] = go(getter, &roles[i]);
    }
    corio_yield();
    corio_queue_shutdown(&c.q, false);
    for (int i = 0; i < 3; i++) join(t[i]);
    for (int i = 0; i < 3; i++)
        NOTE(&g_tally, c.rc[i] == CORIO_ESHUTDOWN, "blocked getter %d: %d", i, c.rc[i]);
    corio_queue_destroy(&c.q);

    /* Immediate: items dropped, counted as done, so join returns. */
    join_ctx j;
    memset(&j, 0, sizeof j);
    corio_queue_init(&j.q, CORIO_QUEUE_PRIORITY, 0);
    for (int i = 0; i < 5; i++) corio_queue_put_nowait(&j.q, ITEM(i));
    j.joined_rc = 99;
    corio_task *jt = go(joiner, &j);
    corio_yield();
    corio_queue_shutdown(&j.q, true);
    join(jt);
    NOTE(&g_tally, j.joined_rc == 0, "joiner after immediate shutdown: %d", j.joined_rc);
    NOTE(&g_tally, corio_queue_size(&j.q) == 0, "items dropped");
    NOTE(&g_tally, corio_queue_get_nowait(&j.q, &item) == CORIO_ESHUTDOWN, "get after");
    NOTE(&g_tally, corio_queue_task_done(&j.q) == CORIO_EINVAL, "nothing left to be done");
    corio_queue_destroy(&j.q);
    return NULL;
}

Test(sync_queue, shutdown_graceful_and_immediate) { run_main(shutdown_main, NULL); }

static void *destroy_main(void *arg)
{
    (void)arg;
    waiter_ctx c;
    memset(&c, 0, sizeof c);
    waiter_role r = { &c, 0 };
    corio_queue_init(&c.q, CORIO_QUEUE_FIFO, 1);
    corio_task *t = go(getter, &r);
    corio_yield();
    corio_queue_destroy(&c.q);
    join(t);
    NOTE(&g_tally, c.rc[0] == CORIO_ECLOSED, "getter of a destroyed queue: %d", c.rc[0]);
    return NULL;
}

Test(sync_queue, destroy_wakes_waiters) { run_main(destroy_main, NULL); }

/* ------------------------------------------------------------------ */
/* Cancellation and timeouts racing a hand-off                        */



typedef struct race_outcomes {
    int got, cancelled, timed_out;
} race_outcomes;

static void count_outcome(race_outcomes *o, int rc)
{
    if (rc == 0) o->got++;
    else if (rc == CORIO_ECANCELED) o->cancelled++;
    else if (rc == CORIO_ETIMEDOUT) o->timed_out++;
    else NOTE(&g_tally, 0, "target returned %d (%s)", rc, corio_strerror(rc));
}

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

static corio_task *start_canceller(canceller_arg *c, corio_task *target,
                                   const race_plan *p)
{
    if (p->by_timeout || !target) return NULL;
    c->target = target;
    c->yields = p->cancel_yields;
    return go(canceller, c);
}

/* Getters: a target and a bystander wait on an empty queue; the giver puts
 * items 1 and 2. Every item must come out exactly once: got by a getter
 * or still in the queue. */
typedef struct get_race {
    corio_queue q;
    race_plan p;
    int target_rc, bystander_rc;
    int target_item, bystander_item;
} get_race;

static void *get_race_target(void *arg)
{
    get_race *r = arg;
    void *item = ITEM(0);
    r->target_rc = corio_queue_get_until(&r->q, &item, target_deadline(&r->p));
    r->target_item = NUM(item);
    return NULL;
}

static void *get_race_bystander(void *arg)
{
    get_race *r = arg;
    void *item = ITEM(0);
    r->bystander_rc = corio_queue_get(&r->q, &item);
    r->bystander_item = NUM(item);
    return NULL;
}

static void *get_race_giver(void *arg)
{
    get_race *r = arg;
    yield_n(r->p.give_yields);
    corio_queue_put(&r->q, ITEM(1));
    corio_yield();
    corio_queue_put(&r->q, ITEM(2));
    return NULL;
}

static void *get_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        get_race r;
        memset(&r, 0, sizeof r);
        corio_queue_init(&r.q, CORIO_QUEUE_FIFO, 4);
        r.p = plan_for(round);
        canceller_arg ca;
        corio_task *target = go(get_race_target, &r);
        corio_task *bystander = go(get_race_bystander, &r);
        corio_task *giver = go(get_race_giver, &r);
        corio_task *cancel = start_canceller(&ca, target, &r.p);
        join(cancel);
        join(giver);
        join(target);
        join(bystander);
        count_outcome(o, r.target_rc);
        int seen[3] = { 0, 0, 0 };
        if (r.target_rc == 0 && r.target_item >= 1 && r.target_item <= 2)
            seen[r.target_item]++;
        if (r.bystander_rc == 0 && r.bystander_item >= 1 && r.bystander_item <= 2)
            seen[r.bystander_item]++;
        int left;
        while ((left = take(&r.q)) != -1)
            if (left >= 1 && left <= 2) seen[left]++;
        NOTE(&g_tally, r.bystander_rc == 0, "round %d: bystander %d", round, r.bystander_rc);
        NOTE(&g_tally, r.target_rc != 0 || r.target_item != 0, "round %d: 0 without item", round);
        NOTE(&g_tally, seen[1] == 1 && seen[2] == 1, "round %d: item 1 seen %d times, "
             "item 2 seen %d times", round, seen[1], seen[2]);
        corio_queue_destroy(&r.q);
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_queue, cancel_and_timeout_race_get, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(get_race_main, &o);
    cr_log_info("queue get: target got %d, cancelled %d, timed out %d",
                o.got, o.cancelled, o.timed_out);
    cr_assert_gt(o.got, 0, "the item never reached the target first");
    cr_assert_gt(o.cancelled, 0, "the cancel never came first");
}

/* Putters: the queue (size 1) holds item 1; target (item 2) and bystander
 * (item 3) block in put; the giver takes two items. Items come out exactly
 * once each: item 1, item 3, and item 2 if and only if the target's put
 * returned 0. */
typedef struct put_race {
    corio_queue q;
    race_plan p;
    int target_rc, bystander_rc;
    int taken[2];
} put_race;

static void *put_race_target(void *arg)
{
    put_race *r = arg;
    r->target_rc = corio_queue_put_until(&r->q, ITEM(2), target_deadline(&r->p));
    return NULL;
}

static void *put_race_bystander(void *arg)
{
    put_race *r = arg;
    r->bystander_rc = corio_queue_put(&r->q, ITEM(3));
    return NULL;
}

static void *put_race_giver(void *arg)
{
    put_race *r = arg;
    void *item = ITEM(0);
    yield_n(r->p.give_yields);
    corio_queue_get(&r->q, &item);
    r->taken[0] = NUM(item);
    corio_yield();
    item = ITEM(0);
    corio_queue_get(&r->q, &item);
    r->taken[1] = NUM(item);
    return NULL;
}

static void *put_race_main(void *arg)
{
    race_outcomes *o = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        put_race r;
        memset(&r, 0, sizeof r);
        corio_queue_init(&r.q, CORIO_QUEUE_FIFO, 1);
        corio_queue_put_nowait(&r.q, ITEM(1));
        r.p = plan_for(round);
        canceller_arg ca;
        corio_task *target = go(put_race_target, &r);
        corio_task *bystander = go(put_race_bystander, &r);
        corio_task *giver = go(put_race_giver, &r);
        corio_task *cancel = start_canceller(&ca, target, &r.p);
        join(cancel);
        join(giver);
        join(target);
        join(bystander);
        count_outcome(o, r.target_rc);
        int seen[4] = { 0, 0, 0, 0 };
        for (int i = 0; i < 2; i++)
            if (r.taken[i] >= 1 && r.taken[i] <= 3) seen[r.taken[i]]++;
        int left;
        while ((left = take(&r.q)) != -1)
            if (left >= 1 && left <= 3) seen[left]++;
        NOTE(&g_tally, r.bystander_rc == 0, "round %d: bystander %d", round, r.bystander_rc);
        NOTE(&g_tally, seen[1] == 1 && seen[3] == 1 && seen[2] == (r.target_rc == 0),
             "round %d: items seen %d %d %d, target put %d", round, seen[1],
             seen[2], seen[3], r.target_rc);
        corio_queue_destroy(&r.q);
        if (g_tally.failures) break;
    }
    return NULL;
}

Test(sync_queue, cancel_and_timeout_race_put, .timeout = 120)
{
    race_outcomes o = { 0, 0, 0 };
    run_main(put_race_main, &o);
    cr_log_info("queue put: target got in %d, cancelled %d, timed out %d",
                o.got, o.cancelled, o.timed_out);
    cr_assert_gt(o.got, 0, "the slot never reached the target first");
    cr_assert_gt(o.cancelled, 0, "the cancel never came first");
}
