/*
 * stack.c — the portable half of task stacks: sizes, the reuse pool, dense
 * slabs and the overflow message. How memory is mapped and how a fault is
 * caught differ per OS and live in stack_posix.c (mmap, SIGSEGV on an
 * alternate stack) and stack_win.c (VirtualAlloc, a vectored handler).
 *
 * The pool keeps one free list per stack size. Guarded stacks beyond
 * `keep` per size are unmapped on return; dense stacks live in slabs and
 * always go back to their free list (their pages stay committed, which is
 * what makes the next spawn cheap).
 */
#include "stack.h"
#include "alloc.h"
#include "corio.h"

#include <stdlib.h>

/*
 * Valgrind tracks one stack per thread and takes a jump of the stack
 * pointer into another mapping for a huge stack frame, flooding the log
 * with "client switching stacks?" warnings and wrong reports. Registering
 * each task stack tells it these are stacks. The macros cost a few no-op
 * instructions when the program does not run under valgrind, and compile
 * to nothing where the header is missing.
 */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORIO_VALGRIND 1
#endif
#endif

/*
 * AddressSanitizer marks the redzones around a function's locals as it
 * enters, and clears them as it returns. A finished task's last frames
 * (task_finish -> leave_final -> the switch) never return, so their marks
 * stay in the shadow of the stack; a later task on the same stack would
 * trip over them (a false report, or an ASan CHECK failure inside
 * __asan_handle_no_return). A stack going back to the pool is clean.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CORIO_STACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_STACK_ASAN 1
#endif
#endif
#ifdef CORIO_STACK_ASAN
#include <sanitizer/asan_interface.h>
#endif

static void vg_register(corio_stack *s)
{
#ifdef CORIO_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + s->size);
#else
    (void)s;
#endif
}

static void vg_deregister(corio_stack *s)
{
#ifdef CORIO_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#else
    (void)s;
#endif
}

size_t corio__stack_round(size_t size)
{
    size_t ps = corio__page_size();
    if (size < 2 * ps) size = 2 * ps; /* room for the entry frame + a call */
    return (size + ps - 1) & ~(ps - 1);
}

typedef struct size_class {
    size_t size;
    corio_stack *free;
    size_t count;
    struct size_class *next;
} size_class;

typedef struct slab {
    void *mem;
    size_t len;
    corio_stack *descs; /* the descriptors of its stacks, one array */
    size_t count;       /* how many stacks it holds */
    struct slab *next;
} slab;

struct corio_stack_pool {
    int dense;
    size_t keep;          /* guarded stacks kept per size class */
    size_class *classes;
    slab *slabs;          /* dense mode: every slab ever mapped */
    /* The class of the last request, keyed by the size as asked (before
     * rounding): nearly every spawn asks for the loop's default size, and
     * this saves the rounding and the class search on that path. */
    size_t hot_asked;
    size_class *hot;
};

corio_stack_pool *corio__stack_pool_new(int dense, size_t keep)
{
    corio_stack_pool *p = corio__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->dense = dense;
    p->keep = keep;
    return p;
}

static size_class *class_for(corio_stack_pool *p, size_t size)
{
    for (size_class *c = p->classes; c; c = c->next)
        if (c->size == size) return c;
    size_class *c = corio__calloc(1, sizeof *c);
    if (!c) return NULL;
    c->size = size;
    c->next = p->classes;
    p->classes = c;
    return c;
}

void corio__stack_pool_free(corio_stack_pool *p)
{
    if (!p) return;
    for (size_class *c = p->classes, *cn; c; c = cn) {
        cn = c->next;
        for (corio_stack *s = c->free, *sn; s; s = sn) {
            sn = s->next_free;
            if (!s->dense) {
                vg_deregister(s);
                corio__stack_unmap_guarded(s);
            } /* dense: with its slab */
        }
        corio__free(c);
    }
    for (slab *sl = p->slabs, *sn; sl; sl = sn) {
        sn = sl->next;
        for (size_t i = 0; i < sl->count; i++) vg_deregister(&sl->descs[i]);
        corio__stack_unmap_slab(sl->mem, sl->len);
        corio__free(sl->descs);
        corio__free(sl);
    }
    corio__free(p);
}

/* Map a slab of dense stacks of one size and put them all on the free
 * list. Slabs hold about 4 MiB (at least 16 stacks) so that a million
 * tasks need a few hundred mappings, not a million. */
static int grow_dense(corio_stack_pool *p, size_class *c)
{
    size_t per = (4u << 20) / c->size;
    if (per < 16) per = 16;
    size_t len = corio__slab_lead + per * c->size;
    char *m = corio__stack_map_slab(len);
    if (!m) return CORIO_ENOMEM;
    slab *sl = corio__malloc(sizeof *sl);
    corio_stack *ss = corio__calloc(per, sizeof *ss);
    if (!sl || !ss) {
        corio__free(sl);
        corio__free(ss);
        corio__stack_unmap_slab(m, len);
        return CORIO_ENOMEM;
    }
    *sl = (slab){ .mem = m, .len = len, .descs = ss, .count = per, .next = p->slabs };
    p->slabs = sl;
    for (size_t i = per; i-- > 0;) {
        corio_stack *s = &ss[i];
        s->lo = m + corio__slab_lead + i * c->size;
        s->size = c->size;
        s->dense = 1;
        s->cls = c;
        vg_register(s);
        s->next_free = c->free;
        c->free = s;
        c->count++;
    }
    return 0;
}

/* The slow half of corio__stack_get: find (or make) the class, refill it.
 * Kept out of line so that the fast path needs no stack frame. */
static __attribute__((noinline)) corio_stack *stack_get_slow(corio_stack_pool *p, size_t asked)
{
    size_t size = corio__stack_round(asked);
    size_class *c = class_for(p, size);
    if (!c) return NULL;
    p->hot_asked = asked;
    p->hot = c;
    if (!c->free && p->dense && grow_dense(p, c) != 0) return NULL;
    corio_stack *s = c->free;
    if (s) {
        c->free = s->next_free;
        c->count--;
    } else {
        s = corio__stack_map_guarded(size);
        if (!s) return NULL;
        s->cls = c;
        vg_register(s);
    }
    s->next_free = NULL;
    if (s->dense) corio__stack_arm_canary(s);
    return s;
}

corio_stack *corio__stack_get(corio_stack_pool *p, size_t size)
{
    size_class *c = p->hot;
    corio_stack *s;
    /* The spawn path: a pooled stack of the size asked for last time. */
    if (size == p->hot_asked && c && (s = c->free)) {
        c->free = s->next_free;
        c->count--;
        s->next_free = NULL;
        if (s->dense) corio__stack_arm_canary(s);
        return s;
    }
    return stack_get_slow(p, size);
}

/* A guarded stack beyond what the pool keeps goes back to the OS. */
static __attribute__((noinline)) void stack_release(corio_stack *s)
{
    vg_deregister(s);
    corio__stack_unmap_guarded(s);
}

void corio__stack_put(corio_stack_pool *p, corio_stack *s)
{
#ifdef CORIO_STACK_ASAN
    __asan_unpoison_memory_region(s->lo, s->size);
#endif
    size_class *c = s->cls;
    if (!s->dense && c->count >= p->keep) {
        stack_release(s);
        return;
    }
    s->next_free = c->free;
    c->free = s;
    c->count++;
}

bool corio__stack_guard_range(const corio_stack *s, uintptr_t *lo, uintptr_t *hi)
{
    if (s->dense) return false;
    *lo = (uintptr_t)s->map;
    *hi = (uintptr_t)s->lo;
    return true;
}

/* ---------- the overflow message ---------- */

/* Async-signal-safe formatting: a signal handler may not call printf. */
static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap) b[at++] = *s++;
    return at;
}

static size_t put_u64(char *b, size_t at, size_t cap, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) && n < 23);
    while (n && at + 1 < cap) b[at++] = tmp[--n];
    return at;
}

size_t corio__stack_overflow_message(char *buf, size_t cap, const char *name,
                                     uint64_t id, size_t size)
{
    size_t at = 0;
    at = put_str(buf, at, cap, "corio: stack overflow in task '");
    if (name[0]) {
        at = put_str(buf, at, cap, name);
    } else { /* the default name, not yet formatted: see corio_task_name */
        at = put_str(buf, at, cap, "task-");
        at = put_u64(buf, at, cap, id);
    }
    at = put_str(buf, at, cap, "' (id ");
    at = put_u64(buf, at, cap, id);
    at = put_str(buf, at, cap, "): it had ");
    at = put_u64(buf, at, cap, size);
    at = put_str(buf, at, cap,
                 " bytes of stack; spawn it with a larger "
                 "corio_task_opts.stack_size\n");
    buf[at] = 0;
    return at;
}

/* For corio_loop_get_stats (coro/stats.c): the stacks waiting in the
 * pool's free lists, and (dense mode) how many stacks the slabs hold. */
void corio__stack_pool_counts(const corio_stack_pool *p, size_t *pooled,
                              size_t *slab_stacks)
{
    size_t n = 0, cap = 0;
    for (const size_class *c = p->classes; c; c = c->next) n += c->count;
    for (const slab *sl = p->slabs; sl; sl = sl->next) cap += sl->count;
    *pooled = n;
    *slab_stacks = cap;
}
