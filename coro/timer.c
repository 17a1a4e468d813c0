/*
 * timer.c — the 4-ary min-heap behind every deadline in the loop.
 *
 * Node i has children 4i+1 .. 4i+4 and parent (i-1)/4. Ordering is by
 * deadline, then by the sequence number taken at push time, so equal
 * deadlines fire first-in first-out.
 */
#include "timer.h"
#include "alloc.h"
#include "corio.h"

#include <stdlib.h>

static int before(const corio_timer *a, const corio_timer *b)
{
    return a->deadline < b->deadline ||
           (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(corio_timer_heap *h, size_t i, corio_timer *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void sift_up(corio_timer_heap *h, size_t i)
{
    corio_timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (!before(t, h->v[parent])) break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(corio_timer_heap *h, size_t i)
{
    corio_timer *t = h->v[i];
    for (;;) {
        size_t first = 4 * i + 1, best = i;
        corio_timer *best_t = t;
        for (size_t c = first; c < first + 4 && c < h->len; c++) {
            if (before(h->v[c], best_t)) {
                best = c;
                best_t = h->v[c];
            }
        }
        if (best == i) break;
        place(h, i, best_t);
        i = best;
    }
    place(h, i, t);
}

void corio__timer_heap_free(corio_timer_heap *h)
{
    corio__free(h->v);
    h->v = NULL;
    h->len = h->cap = 0;
}

int corio__timer_heap_push(corio_timer_heap *h, corio_timer *t, int64_t deadline)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        corio_timer **v = corio__realloc(h->v, cap * sizeof *v);
        if (!v) return CORIO_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    t->deadline = deadline;
    t->seq = h->seq++;
    place(h, h->len++, t);
    sift_up(h, t->idx);
    return 0;
}

void corio__timer_heap_remove(corio_timer_heap *h, corio_timer *t)
{
    size_t i = t->idx;
    if (i == CORIO_TIMER_IDLE) return;
    t->idx = CORIO_TIMER_IDLE;
    corio_timer *last = h->v[--h->len];
    if (i == h->len) return; /* it was the last slot */
    place(h, i, last);
    /* The moved timer may belong above or below its new slot. */
    if (i > 0 && before(last, h->v[(i - 1) / 4])) sift_up(h, i);
    else sift_down(h, i);
}

size_t corio__timer_heap_run(corio_timer_heap *h, int64_t now)
{
    size_t fired = 0;
    corio_timer *t;
    while ((t = corio__timer_heap_min(h)) && t->deadline <= now) {
        corio__timer_heap_remove(h, t);
        t->fire(t); /* may push new timers: the loop re-reads the min */
        fired++;
    }
    return fired;
}
