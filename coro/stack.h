/*
 * stack.h — task stacks: allocation, the reuse pool, overflow detection.
 *
 * Two modes (DESIGN §4):
 *   guarded: one mapping per stack with a PROT_NONE guard page below it;
 *            pages are committed lazily by the kernel as the task touches
 *            them. Each guard page splits a mapping, so Linux's
 *            vm.max_map_count (65530) caps this near 32k live stacks.
 *   dense:   stacks are carved from large slabs with no guard page; a
 *            canary word at the low end and a stack-pointer check at every
 *            switch-out catch an overflow after the fact (and abort with
 *            the task's name) instead of letting it corrupt silently.
 *
 * Implementations: stack_posix.c (mmap) and stack_win.c (VirtualAlloc).
 */
#ifndef CORIO_STACK_H
#define CORIO_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct corio_stack {
    void *lo;        /* lowest usable address (just above guard / canary) */
    size_t size;     /* usable bytes from lo upwards */
    void *map;       /* what to release (the mapping, or the slab slot) */
    size_t map_size;
    int dense;       /* 1 if carved from a dense slab */
    struct corio_stack *next_free; /* pool link */
} corio_stack;

/* Page-rounded usable size for a requested size (minimum one page + a
 * little headroom for the entry frame). */
size_t corio_stack_round(size_t size);

typedef struct corio_stack_pool corio_stack_pool;

corio_stack_pool *corio_stack_pool_new(int dense, size_t keep);
void corio_stack_pool_free(corio_stack_pool *p);
/* A stack of at least `size` usable bytes, from the pool or fresh.
 * NULL when the OS refuses (mapping limit, memory). */
corio_stack *corio_stack_get(corio_stack_pool *p, size_t size);
/* Return a stack for reuse (or release it if the pool is full). */
void corio_stack_put(corio_stack_pool *p, corio_stack *s);

/* Dense-mode canary: the lowest word of the stack must still be zero.
 * A fresh anonymous page reads as the kernel's shared zero page, which
 * costs no memory; writing a canary value there would commit a second page
 * per task and double the footprint of a million parked tasks. So the
 * canary is "never written": armed by clearing it only if a previous user
 * of a pooled stack left it non-zero (that page is then resident anyway),
 * checked by the scheduler when a task switches out. */
static inline void corio_stack_arm_canary(corio_stack *s) {
    if (*(volatile uint64_t *)s->lo != 0) *(volatile uint64_t *)s->lo = 0;
}
static inline bool corio_stack_canary_ok(const corio_stack *s) {
    return *(volatile const uint64_t *)s->lo == 0;
}

/* The lowest address that counts as "overflowed into" for fault-address
 * matching: the guard page(s) below lo. Returns false in dense mode. */
bool corio_stack_guard_range(const corio_stack *s, uintptr_t *lo,
                             uintptr_t *hi);

/* The overflow message, formatted without malloc or stdio so that a signal
 * handler may use it. Returns its length. */
size_t corio__stack_overflow_message(char *buf, size_t cap, const char *name,
                                     uint64_t id, size_t size);

/* Install (once per process) the fault handler that reports a stack
 * overflow, and give the calling thread an alternate signal stack.
 * Called by corio_loop_new. */
void corio_stack_overflow_guard_thread(void);

#endif
