/*
 * queue.c — asyncio.Queue, LifoQueue and PriorityQueue (one type, a kind).
 *
 * Three wait queues: getters (the queue was empty), putters (it was full)
 * and joiners (waiting for task_done to catch up). Items are handed over
 * directly whenever somebody waits:
 *
 *   put with a getter parked  -> the item goes straight into the getter's
 *                                slot (it never touches the buffer): the
 *                                getter was first in line, so it gets the
 *                                first item, and the queue stays FIFO-fair.
 *   get with a putter parked  -> the get frees a slot and at once moves the
 *                                first putter's item into it, then wakes the
 *                                putter with "done": a later put cannot
 *                                steal the slot.
 *
 * Because of these two rules a live getter only ever waits on an empty
 * buffer, and a live putter only on a full one. For the one-producer /
 * one-consumer case this also means the consumer is woken once per
 * refill, not once per item.
 *
 * Cancellation safety follows waiters.h: a hand-off only goes to a live
 * waiter, and a waiter that got one (status 0) keeps it. A getter that
 * times out or is cancelled got no item; a putter that does still owns
 * its item (it was never queued).
 *
 * Shutdown is Python 3.13's: puts fail from then on; gets keep draining
 * the items left (unless `immediate` dropped them) and fail once empty;
 * everybody blocked in put or get is woken with CORIO_ESHUTDOWN.
 */
#include "waiters.h"
#include "queue_buffer.h"

/* The one ordinary (external) definition of each inline function of the
 * queue in corio_inline.h, for programs that take their address or build without
 * optimisation (C99 inline: these declarations make this file hold it). */
extern int corio_queue_put(corio_queue *q, void *item);
extern int corio_queue_get(corio_queue *q, void **item);
extern bool corio__queue_try_put(corio_queue *q, void *item);
extern bool corio__queue_try_get(corio_queue *q, void **item);
extern void corio__queue_ring_push(corio_queue *q, void *item);
extern void *corio__queue_ring_pop(corio_queue *q);

/* What a parked putter offers, kept on its own stack. */
typedef struct put_offer {
    void *item;
    int64_t prio;
} put_offer;

int corio_queue_init(corio_queue *q, corio_queue_kind kind, size_t maxsize)
{
    if (kind != CORIO_QUEUE_FIFO && kind != CORIO_QUEUE_LIFO
        && kind != CORIO_QUEUE_PRIORITY)
        return CORIO_EINVAL;
    q->kind = kind;
    q->maxsize = maxsize;
    q->seq = 0;
    q->unfinished = 0;
    q->is_shutdown = false;
    q->getters = q->putters = q->joiners = (corio_waitq){ NULL, NULL, 0, NULL };
    /* Made inside a loop (debug mode): it is that loop's from now on. The
     * queue's loop is kept in its getters' wait queue. */
    corio__debug_owner(&q->getters, __func__, "queue", q);
    return corio__queue_buf_init(q);
}

void corio_queue_destroy(corio_queue *q)
{
    corio__sync_wake_all(&q->getters, CORIO_ECLOSED);
    corio__sync_wake_all(&q->putters, CORIO_ECLOSED);
    corio__sync_wake_all(&q->joiners, CORIO_ECLOSED);
    corio__queue_buf_free(q);
}

bool corio_queue_full(const corio_queue *q)
{
    return q->maxsize != 0 && q->len >= q->maxsize;
}

/* ---------- put ---------- */

/* A getter waits, so the buffer is empty: hand it the item directly.
 * False if every getter in line was stale. Out of line: the rare case. */
static __attribute__((noinline)) bool hand_to_getter(corio_queue *q, void *item)
{
    corio_waiter *getter = corio__sync_pop_live(&q->getters);
    if (!getter) return false;
    *(void **)getter->data = item;
    q->unfinished++;
    corio__unpark(getter->task, 0);
    return true;
}

/* Everything a put can do without waiting; CORIO_EFULL if it must wait.
 * Small enough to be inlined: it is the whole of a put on the fast path. */
static inline int put_now(corio_queue *q, void *item, int64_t prio)
{
    if (q->is_shutdown) return CORIO_ESHUTDOWN;
    if (q->getters.head && hand_to_getter(q, item)) return 0;
    if (corio_queue_full(q)) return CORIO_EFULL;
    int rc = corio__queue_buf_push(q, item, prio);
    if (rc != 0) return rc;
    q->unfinished++;
    return 0;
}

/* The queue is full: wait in line with our item. Out of line, so that the
 * fast path does not pay for the waiter's stack frame. */
static __attribute__((noinline)) int put_wait(corio_queue *q, void *item,
                                              int64_t prio, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    put_offer offer = { item, prio };
    corio_waiter w = { .task = self, .data = &offer };
    /* 0: a get moved our item into the queue. CORIO_ESHUTDOWN and the
     * rest: it was never queued and is still ours. */
    return corio__sync_wait(&q->putters, &w, deadline, "queue put");
}

/* Every case of a blocking put but the commonest (corio__queue_try_put,
 * inline in corio_inline.h). Also what the inline corio_queue_put calls. */
static __attribute__((noinline)) int put_slow(corio_queue *q, void *item, int64_t prio,
                                                int64_t deadline)
{
    int rc = put_now(q, item, prio);
    return rc == CORIO_EFULL ? put_wait(q, item, prio, deadline) : rc;
}

/* Debug mode's twin (coro/park.h says why it is apart). */
static __attribute__((noinline, cold)) int put_checked(corio_queue *q, void *item,
                                                       int64_t prio, int64_t deadline)
{
    corio__debug_owner_slow(&q->getters, NULL, "corio_queue_put", "queue", q);
    return put_slow(q, item, prio, deadline);
}

__attribute__((noinline)) int corio__queue_put_slow(corio_queue *q, void *item,
                                                  int64_t prio, int64_t deadline)
{
    if (corio__debug_on()) return put_checked(q, item, prio, deadline);
    return put_slow(q, item, prio, deadline);
}

/* Every blocking put comes through here or through the inline
 * corio_queue_put: the fast case first, then the rest. */
int corio_queue_put_prio_until(corio_queue *q, void *item, int64_t prio,
                               int64_t deadline)
{
    if (corio__queue_try_put(q, item)) return 0;
    return corio__queue_put_slow(q, item, prio, deadline);
}

int corio_queue_put_prio(corio_queue *q, void *item, int64_t prio)
{
    return corio_queue_put_prio_until(q, item, prio, CORIO_NEVER);
}

int corio_queue_put_until(corio_queue *q, void *item, int64_t deadline)
{
    return corio_queue_put_prio_until(q, item, 0, deadline);
}

int corio_queue_put_prio_nowait(corio_queue *q, void *item, int64_t prio)
{
    corio__debug_owner(&q->getters, __func__, "queue", q);
    return put_now(q, item, prio);
}

int corio_queue_put_nowait(corio_queue *q, void *item)
{
    corio__debug_owner(&q->getters, __func__, "queue", q);
    return put_now(q, item, 0);
}

/* ---------- get ---------- */

/* A putter waits, so the buffer was full: the slot a get just freed is
 * the putter's, and its item goes in now (the push cannot fail: the buffer
 * had held maxsize items). Out of line: the rare case. */
static __attribute__((noinline)) void refill_from_putter(corio_queue *q)
{
    corio_waiter *putter = corio__sync_pop_live(&q->putters);
    if (!putter) return;
    put_offer *offer = putter->data;
    corio__queue_buf_push(q, offer->item, offer->prio);
    q->unfinished++;
    corio__unpark(putter->task, 0);
}

/* Everything a get can do without waiting; CORIO_EEMPTY if it must wait.
 * Inlined, like put_now. */
static inline int get_now(corio_queue *q, void **item)
{
    if (q->len == 0) return q->is_shutdown ? CORIO_ESHUTDOWN : CORIO_EEMPTY;
    void *got = corio__queue_buf_pop(q);
    if (item) *item = got;
    if (q->putters.head) refill_from_putter(q);
    return 0;
}

/* The queue is empty: wait in line for a put to hand us its item. */
static __attribute__((noinline)) int get_wait(corio_queue *q, void **item,
                                              int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    void *got = NULL;
    corio_waiter w = { .task = self, .data = &got };
    /* 0: a put wrote its item into `got` before waking us. */
    int rc = corio__sync_wait(&q->getters, &w, deadline, "queue get");
    if (rc == 0 && item) *item = got;
    return rc;
}

/* Every case of a blocking get but the commonest (corio__queue_try_get,
 * inline in corio_inline.h). Also what the inline corio_queue_get calls. */
static __attribute__((noinline)) int get_slow(corio_queue *q, void **item, int64_t deadline)
{
    int rc = get_now(q, item);
    return rc == CORIO_EEMPTY ? get_wait(q, item, deadline) : rc;
}

/* Debug mode's twin (coro/park.h says why it is apart). */
static __attribute__((noinline, cold)) int get_checked(corio_queue *q, void **item,
                                                       int64_t deadline)
{
    corio__debug_owner_slow(&q->getters, NULL, "corio_queue_get", "queue", q);
    return get_slow(q, item, deadline);
}

__attribute__((noinline)) int corio__queue_get_slow(corio_queue *q, void **item,
                                                  int64_t deadline)
{
    if (corio__debug_on()) return get_checked(q, item, deadline);
    return get_slow(q, item, deadline);
}

int corio_queue_get_until(corio_queue *q, void **item, int64_t deadline)
{
    if (corio__queue_try_get(q, item)) return 0;
    return corio__queue_get_slow(q, item, deadline);
}

int corio_queue_get_nowait(corio_queue *q, void **item)
{
    corio__debug_owner(&q->getters, __func__, "queue", q);
    return get_now(q, item);
}

/* ---------- task_done / join ---------- */

int corio_queue_task_done(corio_queue *q)
{
    corio__debug_owner(&q->getters, __func__, "queue", q);
    if (q->unfinished == 0) return CORIO_EINVAL;
    if (--q->unfinished == 0) corio__sync_wake_all(&q->joiners, 0);
    return 0;
}

int corio_queue_join_until(corio_queue *q, int64_t deadline)
{
    corio__debug_owner(&q->getters, __func__, "queue", q);
    if (q->unfinished == 0) return 0;
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    corio_waiter w = { .task = self };
    return corio__sync_wait(&q->joiners, &w, deadline, "queue join");
}

int corio_queue_join(corio_queue *q)
{
    return corio_queue_join_until(q, CORIO_NEVER);
}

/* ---------- shutdown ---------- */

void corio_queue_shutdown(corio_queue *q, bool immediate)
{
    corio__debug_owner(&q->getters, __func__, "queue", q);
    q->is_shutdown = true;
    if (immediate) {
        while (q->len > 0) {
            corio__queue_buf_pop(q);
            if (q->unfinished > 0) q->unfinished--;
        }
        if (q->unfinished == 0) corio__sync_wake_all(&q->joiners, 0);
    }
    /* A live getter only waits on an empty queue, so it can only fail. */
    corio__sync_wake_all(&q->getters, CORIO_ESHUTDOWN);
    corio__sync_wake_all(&q->putters, CORIO_ESHUTDOWN);
}

bool corio_queue_is_shutdown(const corio_queue *q) { return q->is_shutdown; }
size_t corio_queue_size(const corio_queue *q) { return q->len; }
size_t corio_queue_maxsize(const corio_queue *q) { return q->maxsize; }
bool corio_queue_empty(const corio_queue *q) { return q->len == 0; }

size_t corio_queue_n_getters(const corio_queue *q)
{
    return corio_sync_count_live(&q->getters);
}

size_t corio_queue_n_putters(const corio_queue *q)
{
    return corio_sync_count_live(&q->putters);
}
