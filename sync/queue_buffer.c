/*
 * queue_buffer.c — the item storage of a queue: ring, stack or heap.
 * See queue_buffer.h for the layout of each kind; the FIFO and LIFO fast
 * paths are inline there, the first allocation, growth and the priority
 * heap are here.
 */
#include "queue_buffer.h"
#include "coro/alloc.h"

#include <stdlib.h>
#include <string.h>

/* First allocation: all of a small bounded queue (the common case, and the
 * benchmark's), else a modest start that doubles on demand. */
#define FIRST_CAP_UNBOUNDED 16
#define FIRST_CAP_MAX 1024

static size_t elem_size(const corio_queue *q)
{
    return q->kind == CORIO_QUEUE_PRIORITY ? sizeof(corio_queue_entry)
                                           : sizeof(void *);
}

int corio__queue_buf_init(corio_queue *q)
{
    size_t cap = q->maxsize == 0 ? FIRST_CAP_UNBOUNDED
               : q->maxsize < FIRST_CAP_MAX ? q->maxsize : FIRST_CAP_MAX;
    q->buf = corio__malloc(cap * elem_size(q));
    if (!q->buf) return CORIO_ENOMEM;
    q->cap = cap;
    q->head = q->len = 0;
    return 0;
}

void corio__queue_buf_free(corio_queue *q)
{
    corio__free(q->buf);
    q->buf = NULL;
    q->cap = q->head = q->len = 0;
}

/* Double the capacity (up to maxsize), keeping the items in order: a
 * wrapped ring is straightened so that head is 0 again. */
static int grow(corio_queue *q)
{
    size_t es = elem_size(q);
    size_t cap = q->cap * 2;
    if (q->maxsize && cap > q->maxsize) cap = q->maxsize;
    if (cap <= q->cap || cap > SIZE_MAX / es) return CORIO_ENOMEM;
    char *nb = corio__malloc(cap * es);
    if (!nb) return CORIO_ENOMEM;
    char *ob = q->buf;
    size_t first = q->cap - q->head; /* items from head to the end */
    if (q->kind == CORIO_QUEUE_FIFO && first < q->len) {
        memcpy(nb, ob + q->head * es, first * es);
        memcpy(nb + first * es, ob, (q->len - first) * es);
    } else {
        memcpy(nb, ob + q->head * es, q->len * es);
    }
    corio__free(ob);
    q->buf = nb;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* ---------- the priority heap ---------- */

static bool before(const corio_queue_entry *a, const corio_queue_entry *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->seq < b->seq);
}

static void heap_push(corio_queue *q, void *item, int64_t prio)
{
    corio_queue_entry *h = q->buf;
    corio_queue_entry e = { prio, q->seq++, item };
    size_t i = q->len++;
    while (i > 0) { /* sift up: move parents down until e fits */
        size_t parent = (i - 1) / 2;
        if (!before(&e, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static void *heap_pop(corio_queue *q)
{
    corio_queue_entry *h = q->buf;
    void *top = h[0].item;
    corio_queue_entry last = h[--q->len];
    size_t n = q->len, i = 0;
    for (;;) { /* sift down: move the smaller child up until `last` fits */
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && before(&h[child + 1], &h[child])) child++;
        if (!before(&h[child], &last)) break;
        h[i] = h[child];
        i = child;
    }
    if (n > 0) h[i] = last;
    return top;
}

/* ---------- the out-of-line cases ---------- */

int corio__queue_buf_push_slow(corio_queue *q, void *item, int64_t prio)
{
    if (!q->buf) {
        /* A queue made with CORIO_QUEUE_INIT has no buffer until its
         * first push. Only this slow path gets here with cap 0: the
         * inline fast paths see len == cap and step aside. */
        int rc = corio__queue_buf_init(q);
        if (rc != 0) return rc;
    }
    if (q->len == q->cap) {
        int rc = grow(q);
        if (rc != 0) return rc;
    }
    if (q->kind == CORIO_QUEUE_PRIORITY) {
        heap_push(q, item, prio);
        return 0;
    }
    return corio__queue_buf_push(q, item, prio); /* room now: the inline path */
}

void *corio__queue_buf_pop_slow(corio_queue *q)
{
    return heap_pop(q); /* FIFO and LIFO never get here */
}
