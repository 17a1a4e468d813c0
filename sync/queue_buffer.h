/*
 * queue_buffer.h — where a corio_queue keeps its items, by kind.
 *
 *   FIFO      a ring of void*: items[head], items[head+1], ... (wrapping)
 *   LIFO      a stack of void*: items[0 .. len-1], top at len-1
 *   PRIORITY  a binary min-heap of entries keyed by (prio, seq); seq is
 *             the insertion count, so equal priorities come out FIFO
 *
 * The buffer knows nothing about waiting: queue.c decides when a put may
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
int corio_queue_buf_init(corio_queue *q);
void corio_queue_buf_free(corio_queue *q);
/* Store one item (growing if needed). 0 or CORIO_ENOMEM. The caller has
 * checked that a bounded queue is not full. */
int corio_queue_buf_push(corio_queue *q, void *item, int64_t prio);
/* Take the next item by the queue's kind. The queue must not be empty. */
void *corio_queue_buf_pop(corio_queue *q);

#endif
