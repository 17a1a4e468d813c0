/*
 * stack_win.c — task stacks on VirtualAlloc, and the stack-overflow report.
 * The twin of stack_posix.c; the pool, slabs and message are shared in
 * stack.c.
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
#include "alloc.h"
#include "park.h"

#include <windows.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CORIO_WIN_STACK_ZONE 16384

/* A relaxed atomic: loops on several threads ask at once (see
 * stack_posix.c). */
size_t corio__page_size(void)
{
    static _Atomic size_t ps;
    size_t v = atomic_load_explicit(&ps, memory_order_relaxed);
    if (!v) {
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        v = si.dwPageSize;
        atomic_store_explicit(&ps, v, memory_order_relaxed);
    }
    return v;
}

/* The first dense stack sits one zone above the slab's start so that its
 * DeallocationStack (lo - zone) still lies inside the slab. */
const size_t corio__slab_lead = CORIO_WIN_STACK_ZONE;

corio_stack *corio__stack_map_guarded(size_t size)
{
    size_t ps = corio__page_size();
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
    corio_stack *s = corio__calloc(1, sizeof *s);
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

void corio__stack_unmap_guarded(corio_stack *s)
{
    VirtualFree(s->map, 0, MEM_RELEASE); /* size 0: the whole reservation */
    corio__free(s);
}

void *corio__stack_map_slab(size_t len)
{
    return VirtualAlloc(NULL, len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}

void corio__stack_unmap_slab(void *mem, size_t len)
{
    (void)len;
    VirtualFree(mem, 0, MEM_RELEASE);
}

/* ---------- the overflow report ---------- */


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

static corio_ctx *report_and_exit(void *arg) /* never returns */
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
    return NULL;
}

static int in_guard(const corio_stack *s, uintptr_t a)
{
    uintptr_t lo, hi;
    return corio__stack_guard_range(s, &lo, &hi) && a >= lo && a < hi;
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
    corio__ctx_make(&emergency_ctx, emergency_stack + CORIO_WIN_STACK_ZONE,
                   EMERGENCY_STACK - CORIO_WIN_STACK_ZONE, report_and_exit, t);
    corio__ctx_swap(&abandoned_ctx, &emergency_ctx);
    return EXCEPTION_CONTINUE_SEARCH; /* not reached */
}

/* Called by every corio_loop_new. A vectored handler is process-wide and
 * needs no per-thread stack, so only the first call does anything. It is
 * installed first in line (1) so that a debugger-less crash handler or the
 * C runtime's signal emulation does not see our overflows first. */
void corio__stack_overflow_guard_thread(void)
{
    static volatile LONG installed;
    if (installed || InterlockedExchange(&installed, 1)) return;
    AddVectoredExceptionHandler(1, on_exception);
}
