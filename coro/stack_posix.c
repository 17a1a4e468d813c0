/*
 * stack_posix.c — task stacks on mmap, and the stack-overflow report.
 *
 * Guarded stack (one mapping each):
 *
 *     map                          lo                          lo + size
 *      | guard page (PROT_NONE)    | usable stack, grows  <--- |
 *
 * The kernel commits a page only when the task first touches it, so a
 * 256 KiB stack that only ever uses 3 KiB costs one page of memory.
 *
 * Dense stacks are carved side by side from slabs of many stacks, with no
 * guard page (each guard page splits a mapping, and Linux allows only
 * vm.max_map_count = 65530 of them). A canary word at lo catches an
 * overflow at the next switch; see sched.c.
 */
#include "stack.h"
#include "sched.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_STACK
#define MAP_STACK 0
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

size_t corio_stack_round(size_t size)
{
    size_t ps = page_size();
    if (size < 2 * ps) size = 2 * ps; /* room for the entry frame + a call */
    return (size + ps - 1) & ~(ps - 1);
}

/* ---------- the pool: free lists by size class ---------- */

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
    struct slab *next;
} slab;

struct corio_stack_pool {
    int dense;
    size_t keep;          /* guarded stacks kept per size class */
    size_class *classes;
    slab *slabs;          /* dense mode: every slab ever mapped */
};

corio_stack_pool *corio_stack_pool_new(int dense, size_t keep)
{
    corio_stack_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->dense = dense;
    p->keep = keep;
    return p;
}

static size_class *class_for(corio_stack_pool *p, size_t size)
{
    for (size_class *c = p->classes; c; c = c->next)
        if (c->size == size) return c;
    size_class *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->size = size;
    c->next = p->classes;
    p->classes = c;
    return c;
}

static void unmap_guarded(corio_stack *s)
{
    munmap(s->map, s->map_size);
    free(s);
}

void corio_stack_pool_free(corio_stack_pool *p)
{
    if (!p) return;
    for (size_class *c = p->classes, *cn; c; c = cn) {
        cn = c->next;
        for (corio_stack *s = c->free, *sn; s; s = sn) {
            sn = s->next_free;
            if (!s->dense) unmap_guarded(s); /* dense: freed with its slab */
        }
        free(c);
    }
    for (slab *sl = p->slabs, *sn; sl; sl = sn) {
        sn = sl->next;
        munmap(sl->mem, sl->len);
        free(sl->descs);
        free(sl);
    }
    free(p);
}

static corio_stack *new_guarded(size_t size)
{
    size_t guard = page_size();
    size_t len = size + guard;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED) return NULL;
    if (mprotect(m, guard, PROT_NONE) != 0) {
        munmap(m, len);
        return NULL;
    }
    corio_stack *s = calloc(1, sizeof *s);
    if (!s) {
        munmap(m, len);
        return NULL;
    }
    s->map = m;
    s->map_size = len;
    s->lo = (char *)m + guard;
    s->size = size;
    return s;
}

/* Map a slab of dense stacks of one size and put them all on the free
 * list. Slabs hold about 4 MiB (at least 16 stacks) so that a million
 * tasks need a few thousand mappings, not a million. */
static int grow_dense(corio_stack_pool *p, size_class *c)
{
    size_t per = (4u << 20) / c->size;
    if (per < 16) per = 16;
    size_t len = per * c->size;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED) return CORIO_ENOMEM;
    slab *sl = malloc(sizeof *sl);
    corio_stack *ss = calloc(per, sizeof *ss);
    if (!sl || !ss) {
        free(sl);
        free(ss);
        munmap(m, len);
        return CORIO_ENOMEM;
    }
    sl->mem = m;
    sl->len = len;
    sl->descs = ss;
    sl->next = p->slabs;
    p->slabs = sl;
    for (size_t i = per; i-- > 0;) {
        corio_stack *s = &ss[i];
        s->lo = (char *)m + i * c->size;
        s->size = c->size;
        s->dense = 1;
        s->next_free = c->free;
        c->free = s;
        c->count++;
    }
    return 0;
}

corio_stack *corio_stack_get(corio_stack_pool *p, size_t size)
{
    size = corio_stack_round(size);
    size_class *c = class_for(p, size);
    if (!c) return NULL;
    if (!c->free && p->dense && grow_dense(p, c) != 0) return NULL;
    corio_stack *s = c->free;
    if (s) {
        c->free = s->next_free;
        c->count--;
    } else {
        s = new_guarded(size);
        if (!s) return NULL;
    }
    s->next_free = NULL;
    if (s->dense) corio_stack_arm_canary(s);
    return s;
}

void corio_stack_put(corio_stack_pool *p, corio_stack *s)
{
    size_class *c = class_for(p, s->size);
    if (!s->dense && (!c || c->count >= p->keep)) {
        unmap_guarded(s);
        return;
    }
    /* Dense stacks always go back (they live in slabs); their pages stay
     * committed, which is what makes the next spawn cheap. */
    s->next_free = c->free;
    c->free = s;
    c->count++;
}

bool corio_stack_guard_range(const corio_stack *s, uintptr_t *lo, uintptr_t *hi)
{
    if (s->dense) return false;
    *lo = (uintptr_t)s->map;
    *hi = (uintptr_t)s->lo;
    return true;
}

/* ---------- the overflow report ---------- */

/*
 * A task that runs off the bottom of its stack touches the guard page and
 * gets SIGSEGV. The handler cannot run on the overflowed stack, so each
 * loop thread gets an alternate signal stack (sigaltstack). The handler
 * checks whether the faulting address lies in the current task's guard
 * page; if so it prints which task overflowed and how much stack it had,
 * and aborts. Any other fault is passed to the handler that was there
 * before us (ASan's, a debugger's, or the default crash).
 */
static struct sigaction previous_segv, previous_bus;

/* Async-signal-safe formatting: the handler may not call printf. */
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

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    corio_task *t = corio__self();
    uintptr_t lo, hi, a = (uintptr_t)si->si_addr;
    if (t && t->stack && corio_stack_guard_range(t->stack, &lo, &hi) &&
        a >= lo && a < hi) {
        char msg[256];
        size_t n = corio__stack_overflow_message(msg, sizeof msg, t->name,
                                                 t->id, t->stack->size);
        ssize_t w = write(STDERR_FILENO, msg, n);
        (void)w;
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    /* Not ours: hand over to whoever was installed before. */
    struct sigaction *prev = sig == SIGSEGV ? &previous_segv : &previous_bus;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uc);
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
    } else {
        /* Restore the default action and return: the faulting
         * instruction runs again and the process dies as it would have. */
        sigaction(sig, prev, NULL);
    }
}

static void install_handler_once(void)
{
    static int installed;
    if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
}

void corio_stack_overflow_guard_thread(void)
{
    static _Thread_local int done;
    install_handler_once();
    if (done) return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp) {
        done = 1; /* the thread already has one (ASan installs its own) */
        return;
    }
    /* Deliberately never freed: the thread may fault until it exits. */
    size_t sz = 64 * 1024;
    stack_t ss = { .ss_sp = malloc(sz), .ss_size = sz, .ss_flags = 0 };
    if (ss.ss_sp && sigaltstack(&ss, NULL) == 0) done = 1;
}
