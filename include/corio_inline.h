/*
 * corio_inline.h — NOT API. What the compiler needs from corio beyond the
 * contract in corio.h: the layout of corio_queue and the inline fast path
 * of corio_queue_put / corio_queue_get. corio.h includes this file at its
 * end; include corio.h, never this file. Everything here may change
 * between versions without notice: read queues through the functions.
 *
 * Installed beside corio.h (make install) because every program that
 * calls the inline put and get compiles these lines.
 */
#ifndef CORIO_INLINE_H
#define CORIO_INLINE_H

#ifndef CORIO_H
#error "include <corio.h>, not <corio_inline.h>"
#endif

/* ---- the queue (sync/queue.c, sync/queue_buffer.c) ---- */

typedef struct corio_queue {
    corio_queue_kind kind;
    size_t maxsize;       /* 0 = unbounded */
    void *buf;            /* ring (FIFO), stack (LIFO) or heap (PRIORITY) */
    size_t cap, head, len;
    uint64_t seq;         /* insertion counter: FIFO among equal priorities */
    size_t unfinished;    /* puts not yet matched by task_done */
    bool is_shutdown;
    corio_waitq getters, putters, joiners;
} corio_queue;

/*
 * corio_queue_put and corio_queue_get, inline. The commonest put (a FIFO
 * queue with room and no getter waiting) and the commonest get (items and
 * no putter waiting) are a few loads and stores, less work than the call
 * itself: compiled into the caller, a producer or consumer loop keeps the
 * queue's counters in registers instead of sending them to memory and back
 * on every item. Everything else goes to the library.
 *
 * These follow C99 `inline`: the library also holds one ordinary
 * definition of each (sync/queue.c), so a program may take their address,
 * and a build without optimisation simply calls that. The corio__ names
 * are private: the fields they touch are not API.
 */

/* Every case but the fast one, in the library (sync/queue.c). */
int corio__queue_put_slow(corio_queue *q, void *item, int64_t prio,
                          int64_t deadline);
int corio__queue_get_slow(corio_queue *q, void **item, int64_t deadline);

/* The FIFO ring: items at buf[head], buf[head + 1], ..., wrapping at cap.
 * push needs room (len < cap), pop needs an item (len > 0). The library's
 * own buffer code (sync/queue_buffer.h) uses these two as well, so the
 * ring has one implementation. */
CORIO__INLINE void corio__queue_ring_push(corio_queue *q, void *item)
{
    size_t tail = q->head + q->len;
    if (tail >= q->cap) tail -= q->cap;
    ((void **)q->buf)[tail] = item;
    q->len++;
}

CORIO__INLINE void *corio__queue_ring_pop(corio_queue *q)
{
    void *item = ((void **)q->buf)[q->head];
    if (++q->head == q->cap) q->head = 0;
    q->len--;
    return item;
}

/* The fast cases, or false. len < cap also means "not full": a bounded
 * queue's buffer never grows past maxsize. A waiting getter means the
 * item must go to it; a waiting putter means its item goes in first. */
CORIO__INLINE bool corio__queue_try_put(corio_queue *q, void *item)
{
    if (q->kind != CORIO_QUEUE_FIFO || q->getters.head || q->is_shutdown ||
        q->len >= q->cap)
        return false;
    corio__queue_ring_push(q, item);
    q->unfinished++;
    return true;
}

CORIO__INLINE bool corio__queue_try_get(corio_queue *q, void **item)
{
    if (q->kind != CORIO_QUEUE_FIFO || q->len == 0 || q->putters.head)
        return false;
    void *got = corio__queue_ring_pop(q);
    if (item) *item = got;
    return true;
}

CORIO__INLINE int corio_queue_put(corio_queue *q, void *item)
{
    if (corio__queue_try_put(q, item)) return 0;
    return corio__queue_put_slow(q, item, 0, CORIO_NEVER);
}

CORIO__INLINE int corio_queue_get(corio_queue *q, void **item)
{
    if (corio__queue_try_get(q, item)) return 0;
    return corio__queue_get_slow(q, item, CORIO_NEVER);
}

#endif /* CORIO_INLINE_H */
