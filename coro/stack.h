/*
 * stack.h — task stacks: allocation, the reuse pool, overflow detection.
 *
 * Two modes (docs/design.md, section 4, "Stacks"):
 *   guarded: one mapping per stack with a PROT_NONE guard page below it;
 *            pages are committed lazily by the kernel as the task touches
 *            them. Each guard page splits a mapping, so Linux's
 *            vm.max_map_count (65530) caps this near 32k live stacks.
 *   dense:   stacks are carved from large slabs with no guard page; a
 *            canary word at the low end and a stack-pointer check at every
 *            switch-out catch an overflow after the fact (and abort with
 *            the task's name) instead of letting it corrupt silently.
 *
 * The pool, slabs and message are portable (stack.c); mapping memory and
 * catching the fault are per OS: stack_posix.c (mmap, SIGSEGV) and
 * stack_win.c (VirtualAlloc, a vectored exception handler).
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
    size_t guard;    /* bytes of guard below lo (0 for dense stacks) */
    int dense;       /* 1 if carved from a dense slab */
    unsigned vg_id;  /* valgrind's id for this stack (0 when not built in) */
    struct corio_stack *next_free; /* pool link */
    void *cls;       /* the pool's size class it returns to (stack.c) */
} corio_stack;

/* Page-rounded usable size for a requested size (minimum one page + a
 * little headroom for the entry frame). */
size_t corio__stack_round(size_t size);

/* The guard a guarded stack gets when neither the loop nor the task asks
 * (stack_guard 0): one page, except on AArch64, where gcc's
 * -fstack-clash-protection assumes a 64 KiB guard (its default
 * stack-clash-protection-guard-size) and probes only every 64 KiB, so a
 * smaller guard would let even probed frames jump it. Address space only:
 * the guard is never committed. */
#if defined(__aarch64__)
#define CORIO__STACK_GUARD_DEFAULT ((size_t)64 * 1024)
#else
#define CORIO__STACK_GUARD_DEFAULT ((size_t)0) /* one page */
#endif

typedef struct corio_stack_pool corio_stack_pool;

corio_stack_pool *corio__stack_pool_new(int dense, size_t keep);
void corio__stack_pool_free(corio_stack_pool *p);
/* A stack of at least `size` usable bytes with a guard of at least
 * `guard` bytes below it (page-rounded; ignored by dense pools), from the
 * pool or fresh. NULL when the OS refuses (mapping limit, memory). */
corio_stack *corio__stack_get(corio_stack_pool *p, size_t size, size_t guard);
/* Return a stack for reuse (or release it if the pool is full). */
void corio__stack_put(corio_stack_pool *p, corio_stack *s);
/* Stacks in the free lists, and stacks carved in dense slabs (0 when
 * guarded): for corio_loop_get_stats. */
void corio__stack_pool_counts(const corio_stack_pool *p, size_t *pooled,
                              size_t *slab_stacks);

/* Dense-mode canary: the lowest word of the stack must still be zero.
 * A fresh anonymous page reads as the kernel's shared zero page, which
 * costs no memory; writing a canary value there would commit a second page
 * per task and double the footprint of a million parked tasks. So the
 * canary is "never written": armed by clearing it only if a previous user
 * of a pooled stack left it non-zero (that page is then resident anyway),
 * checked by the scheduler when a task switches out. */
static inline void corio__stack_arm_canary(corio_stack *s) {
    if (*(volatile uint64_t *)s->lo != 0) *(volatile uint64_t *)s->lo = 0;
}
static inline bool corio__stack_canary_ok(const corio_stack *s) {
    return *(volatile const uint64_t *)s->lo == 0;
}

/* The lowest address that counts as "overflowed into" for fault-address
 * matching: the guard page(s) below lo. Returns false in dense mode. */
bool corio__stack_guard_range(const corio_stack *s, uintptr_t *lo,
                             uintptr_t *hi);

/* How far below a guarded stack's guard a fault (or the stack pointer at
 * a fault) still counts as that stack's overflow: a frame larger than the
 * guard moves the stack pointer past it in one instruction, and the first
 * store lands below the mapping. Beyond this reach we cannot tell such a
 * store from a wild pointer, and say nothing. */
#define CORIO_STACK_OVERFLOW_REACH ((uintptr_t)4 << 20)

/* Is a fault at address `addr`, with the stack pointer at `sp` (0 when
 * the OS does not tell), an overflow of guarded stack s? Sets *below to
 * how far below the guard it landed (0 inside the guard). */
bool corio__stack_fault_is_overflow(const corio_stack *s, uintptr_t addr,
                                    uintptr_t sp, uintptr_t *below);

/* The overflow message, formatted without malloc or stdio so that a signal
 * handler may use it. Returns its length. */
size_t corio__stack_overflow_message(char *buf, size_t cap, const char *name,
                                     uint64_t id, size_t size);
/* The second line a guard fault adds: the guard size, how far below it
 * the fault was, and the three fixes. Same rules as above. */
size_t corio__stack_guard_hint(char *buf, size_t cap, size_t guard,
                               uintptr_t below);

/* ---------- the OS half: stack_posix.c / stack_win.c ---------- */

size_t corio__page_size(void);
/* A guarded stack of `size` usable bytes (page-rounded) above a guard of
 * at least `guard` bytes (page-rounded), descriptor included, or NULL. */
corio_stack *corio__stack_map_guarded(size_t size, size_t guard);
void corio__stack_unmap_guarded(corio_stack *s); /* frees the descriptor */
/* Plain read-write memory for a slab of dense stacks. */
void *corio__stack_map_slab(size_t len);
void corio__stack_unmap_slab(void *mem, size_t len);
/* Bytes a slab keeps before its first stack (Windows needs room there for
 * the first stack's DeallocationStack; 0 on POSIX). */
extern const size_t corio__slab_lead;

/* Install (once per process) the fault handler that reports a stack
 * overflow, and give the calling thread an alternate signal stack.
 * Called by corio_loop_new. */
void corio__stack_overflow_guard_thread(void);

#endif
