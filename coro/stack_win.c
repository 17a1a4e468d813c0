/*
 * stack_win.c — task stacks on VirtualAlloc, and the stack-overflow report.
 * The twin of stack_posix.c: same pool, same modes, same message.
 *
 * A guarded stack is one reservation laid out the way Windows lays out a
 * thread's own stack, so that the kernel (and wine) recognise an overflow
 * and raise EXCEPTION_STACK_OVERFLOW while there is still room to handle it:
 *
 *   map = DeallocationStack                  lo                    lo + size
 *    | hard page | guarantee zone (3 pages)  | usable stack  <--- grows |
 *    | reserved  | committed, PAGE_GUARD     | committed, read-write    |
 *    |<------ CORIO_WIN_STACK_ZONE = 16 KiB ->|                         |
 *
 * The first touch of a PAGE_GUARD page inside the TIB's stack range is a
 * stack fault: the kernel sees it lies within the guaranteed space at the
 * bottom, makes those pages ordinary read-write memory and raises
 * EXCEPTION_STACK_OVERFLOW on them, with a few KiB left for the exception
 * frame. The vectored handler below then reports the task and ends the
 * process. The hard page is never committed: nothing may run into it.
 *
 * Why the usable part is committed up front (Boost.Context's
 * protected_fixedsize_stack does the same), instead of growing page by page
 * like a thread stack: the TIB's StackLimit must name the lowest committed
 * byte exactly (too high and the exception dispatcher rejects the task's
 * frames; too low and MSVC's __chkstk skips the guard page), and the switch
 * sets it when it makes a context, from [lo, lo + size) alone. Committing
 * only reserves page-file credit: Windows, like Linux, gives a page real
 * memory the first time it is touched, so a 256 KiB stack that uses 3 KiB
 * still costs one page of RAM.
 *
 * CORIO_WIN_STACK_ZONE is part of the contract with switch_x86_64_win64.S,
 * which sets DeallocationStack = lo - CORIO_WIN_STACK_ZONE.
 *
 * Dense stacks are carved side by side from committed slabs with no guard
 * (VirtualAlloc reserves in 64 KiB units, so small stacks one by one would
 * waste address space); the canary at lo catches an overflow at the next
 * switch, as on POSIX (sched.c).
 */
#include "stack.h"
#include "sched.h"

#include <windows.h>
#include <stdlib.h>
#include <string.h>

#define CORIO_WIN_STACK_ZONE 16384

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        ps = si.dwPageSize;
    }
    return ps;
}

size_t corio_stack_round(size_t size)
{
    size_t ps = page_size();
    if (size < 2 * ps) size = 2 * ps; /* room for the entry frame + a call */
    return (size + ps - 1) & ~(ps - 1);
}

/* ---------- the pool: free lists by size class (as in stack_posix.c) ---------- */

typedef struct size_class {
    size_t size;
    corio_stack *free;
    size_t count;
    struct size_class *next;
} size_class;

typedef struct slab {
    void *mem;
    corio_stack *descs; /* the descriptors of its stacks, one array */
    struct slab *next;
} slab;

struct corio_stack_pool {
    int dense;
    size_t keep;          /* guarded stacks kept per size class */
    size_class *classes;
    slab *slabs;          /* dense mode: every slab ever allocated */
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

static void release_guarded(corio_stack *s)
{
    VirtualFree(s->map, 0, MEM_RELEASE); /* size 0: the whole reservation */
    free(s);
}

void corio_stack_pool_free(corio_stack_pool *p)
{
    if (!p) return;
    for (size_class *c = p->classes, *cn; c; c = cn) {
        cn = c->next;
        for (corio_stack *s = c->free, *sn; s; s = sn) {
            sn = s->next_free;
            if (!s->dense) release_guarded(s); /* dense: freed with its slab */
        }
        free(c);
    }
    for (slab *sl = p->slabs, *sn; sl; sl = sn) {
        sn = sl->next;
        VirtualFree(sl->mem, 0, MEM_RELEASE);
        free(sl->descs);
        free(sl);
    }
    free(p);
}

static corio_stack *new_guarded(size_t size)
{
    size_t ps = page_size();
    size_t len = size + CORIO_WIN_STACK_ZONE;
    /* Reserved read-write (not PAGE_NOACCESS), like a thread stack: the
     * kernel commits guard pages with the reservation's protection. */
    char *m = VirtualAlloc(NULL, len, MEM_RESERVE, PAGE_READWRITE);
    if (!m) return NULL;
    char *lo = m + CORIO_WIN_STACK_ZONE;
    if (!VirtualAlloc(lo, size, MEM_COMMIT, PAGE_READWRITE) ||
        !VirtualAlloc(m + ps, CORIO_WIN_STACK_ZONE - ps, MEM_COMMIT,
                      PAGE_READWRITE | PAGE_GUARD)) {
        VirtualFree(m, 0, MEM_RELEASE);
        return NULL;
    }
    corio_stack *s = calloc(1, sizeof *s);
    if (!s) {
        VirtualFree(m, 0, MEM_RELEASE);
        return NULL;
    }
    s->map = m;
    s->map_size = len;
    s->lo = lo;
    s->size = size;
    return s;
}

/* A slab of dense stacks of one size, all put on the free list. Slabs hold
 * about 4 MiB (at least 16 stacks). The first stack sits one zone above the
 * slab's start so that its DeallocationStack (lo - zone) still lies inside
 * the slab. */
static int grow_dense(corio_stack_pool *p, size_class *c)
{
    size_t per = (4u << 20) / c->size;
    if (per < 16) per = 16;
    size_t len = CORIO_WIN_STACK_ZONE + per * c->size;
    char *m = VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (!m) return CORIO_ENOMEM;
    slab *sl = malloc(sizeof *sl);
    corio_stack *ss = calloc(per, sizeof *ss);
    if (!sl || !ss) {
        free(sl);
        free(ss);
        VirtualFree(m, 0, MEM_RELEASE);
        return CORIO_ENOMEM;
    }
    sl->mem = m;
    sl->descs = ss;
    sl->next = p->slabs;
    p->slabs = sl;
    for (size_t i = per; i-- > 0;) {
        corio_stack *s = &ss[i];
        s->lo = m + CORIO_WIN_STACK_ZONE + i * c->size;
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
        release_guarded(s);
        return;
    }
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

/* The message text must stay identical to stack_posix.c's. */
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

/*
 * Windows has no sigaltstack: a vectored exception handler runs on the
 * stack that faulted, in the few KiB the guarantee zone left. That is
 * enough to recognise the fault, but formatting and writing a message
 * through the console or a pipe may need more, so the handler switches
 * (with our own context switch) onto a static emergency stack and reports
 * from there. The process ends there, so one emergency stack serves every
 * thread: the first thread to overflow takes it, any other waits for the
 * end.
 */
#define EMERGENCY_STACK (64 * 1024)
static _Alignas(16) char emergency_stack[EMERGENCY_STACK];
static volatile LONG emergency_taken;
static corio_ctx emergency_ctx, abandoned_ctx;

static void report_and_exit(void *arg)
{
    corio_task *t = arg;
    char msg[256];
    size_t n = corio__stack_overflow_message(msg, sizeof msg, t->name, t->id,
                                             t->stack->size);
    DWORD w;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), msg, (DWORD)n, &w, NULL);
    /* POSIX aborts (SIGABRT); 3 is the exit status abort() gives on
     * Windows. TerminateProcess, because nothing on the overflowed stack
     * may run again (no atexit handlers, no DLL detach). */
    TerminateProcess(GetCurrentProcess(), 3);
    for (;;) Sleep(INFINITE);
}

static int in_guard(const corio_stack *s, uintptr_t a)
{
    uintptr_t lo, hi;
    return corio_stack_guard_range(s, &lo, &hi) && a >= lo && a < hi;
}

static LONG CALLBACK on_exception(EXCEPTION_POINTERS *ep)
{
    const EXCEPTION_RECORD *r = ep->ExceptionRecord;
    DWORD code = r->ExceptionCode;
    if (code != EXCEPTION_STACK_OVERFLOW && code != EXCEPTION_ACCESS_VIOLATION &&
        code != EXCEPTION_GUARD_PAGE)
        return EXCEPTION_CONTINUE_SEARCH;
    corio_task *t = corio__self();
    if (!t || !t->stack || t->stack->dense) return EXCEPTION_CONTINUE_SEARCH;
    uintptr_t addr = r->NumberParameters >= 2 ? r->ExceptionInformation[1] : 0;
    uintptr_t sp = (uintptr_t)ep->ContextRecord->Rsp;
    int ours = in_guard(t->stack, addr) ||
               (code == EXCEPTION_STACK_OVERFLOW && in_guard(t->stack, sp));
    if (!ours) return EXCEPTION_CONTINUE_SEARCH; /* someone else's fault */
    if (InterlockedExchange(&emergency_taken, 1)) {
        for (;;) Sleep(INFINITE); /* another thread is already reporting */
    }
    /* The emergency stack also keeps a zone below it, so that the TIB the
     * switch describes for it stays inside this array. */
    corio_ctx_make(&emergency_ctx, emergency_stack + CORIO_WIN_STACK_ZONE,
                   EMERGENCY_STACK - CORIO_WIN_STACK_ZONE, report_and_exit, t);
    corio_ctx_swap(&abandoned_ctx, &emergency_ctx);
    return EXCEPTION_CONTINUE_SEARCH; /* not reached */
}

/* Called by every corio_loop_new. A vectored handler is process-wide and
 * needs no per-thread stack, so only the first call does anything. It is
 * installed first in line (1) so that a debugger-less crash handler or the
 * C runtime's signal emulation does not see our overflows first. */
void corio_stack_overflow_guard_thread(void)
{
    static volatile LONG installed;
    if (installed || InterlockedExchange(&installed, 1)) return;
    AddVectoredExceptionHandler(1, on_exception);
}
