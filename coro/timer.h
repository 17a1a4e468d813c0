/*
 * timer.h — the loop's timers: a 4-ary min-heap keyed by (deadline, seq).
 *
 * The sequence number is taken when a timer is started, so timers with the
 * same deadline fire in the order they were started (FIFO). A 4-ary heap
 * is shallower than a binary one and its four children share a cache line
 * or two, which is why libuv-style loops and Go's runtime use it.
 */
#ifndef CORIO_TIMER_H
#define CORIO_TIMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct corio_timer {
    int64_t deadline;
    uint64_t seq;
    size_t idx;                         /* heap slot, or SIZE_MAX if idle */
    void (*fire)(struct corio_timer *); /* called when due */
} corio_timer;

typedef struct corio_timer_heap {
    corio_timer **v;
    size_t len, cap;
    uint64_t seq;
} corio_timer_heap;

#define CORIO_TIMER_IDLE SIZE_MAX

static inline void corio__timer_init(corio_timer *t, void (*fire)(corio_timer *)) {
    t->deadline = 0; t->seq = 0; t->idx = CORIO_TIMER_IDLE; t->fire = fire;
}
static inline int corio__timer_active(const corio_timer *t) {
    return t->idx != CORIO_TIMER_IDLE;
}

void corio__timer_heap_free(corio_timer_heap *h);
/* 0, or CORIO_ENOMEM. */
int corio__timer_heap_push(corio_timer_heap *h, corio_timer *t, int64_t deadline);
void corio__timer_heap_remove(corio_timer_heap *h, corio_timer *t);
static inline corio_timer *corio__timer_heap_min(const corio_timer_heap *h) {
    return h->len ? h->v[0] : NULL;
}
/* Pop and fire every timer with deadline <= now, in (deadline, seq) order.
 * Returns how many fired. */
size_t corio__timer_heap_run(corio_timer_heap *h, int64_t now);

#endif
