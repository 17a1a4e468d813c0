/*
 * queue_buffer.h — where a corio_queue keeps its items, by kind.
 *
 *   FIFO      a ring of void*: items[head], items[head+1], ... (wrapping)
 *   LIFO      a stack of void*: items[0 .. len-1], top at len-1
 *   PRIORITY  a binary min-heap of entries keyed by (prio, seq); seq is
 *             the insertion count, so equal priorities come out FIFO
 *
 * The struct's layout is in include/corio_inline.h (the inline put and get
 * read it). The buffer knows nothing about waiting: queue.c decides when a put may
 * store and when a get may take; the buffer only stores and takes.
 * A bounded queue's buffer never grows past maxsize; an unbounded one
 * doubles when full.
 */
#ifndef CORIO_SYNC_QUEUE_BUFFER_H
#define CORIO_SYNC_QUEUE_BUFFER_H

#include "corio.h"

typedef struct corio_queue_entry {
    int64_t prio;
    uint64_t seq;
    void *item;
} corio_queue_entry;

/* Allocate the first buffer. 0 or CORIO_ENOMEM. */
int corio__queue_buf_init(corio_queue *q);
void corio__queue_buf_free(corio_queue *q);

/* The out-of-line cases: a push that must grow the buffer, and the heap. */
int corio__queue_buf_push_slow(corio_queue *q, void *item, int64_t prio);
void *corio__queue_buf_pop_slow(corio_queue *q);

/*
 * Store one item (growing if needed). 0 or CORIO_ENOMEM. The caller has
 * checked that a bounded queue is not full.
 *
 * The FIFO and LIFO cases are a few instructions, inlined into put and get
 * (they are the hot path of every producer/consumer program); keeping the
 * heap and the growth out of line keeps them that small.
 */
/* The FIFO ring's push and pop are not here: they are
 * corio__queue_ring_push / _pop in include/corio_inline.h, because the
 * inline corio_queue_put / _get compile them into the user's program.
 * This file calls the same two, so there is one ring, and adds what only
 * the library needs: the LIFO stack, the heap and growth. */

static inline int corio__queue_buf_push(corio_queue *q, void *item, int64_t prio)
{
    void **items = q->buf;
    if (q->len < q->cap) {
        if (q->kind == CORIO_QUEUE_FIFO) {
            corio__queue_ring_push(q, item);
            return 0;
        }
        if (q->kind == CORIO_QUEUE_LIFO) {
            items[q->len++] = item;
            return 0;
        }
    }
    return corio__queue_buf_push_slow(q, item, prio);
}

/* Take the next item by the queue's kind. The queue must not be empty. */
static inline void *corio__queue_buf_pop(corio_queue *q)
{
    if (q->kind == CORIO_QUEUE_FIFO) return corio__queue_ring_pop(q);
    if (q->kind == CORIO_QUEUE_LIFO) return ((void **)q->buf)[--q->len];
    return corio__queue_buf_pop_slow(q);
}

#endif
