/*
 * stack_posix.c — the POSIX half of task stacks: mmap, and the
 * stack-overflow report. The pool and the message are in stack.c.
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
#include "alloc.h"
#include "park.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
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

/* Loops on several threads ask at once: a relaxed atomic, since a plain
 * static written by two threads is a data race even when both write the
 * same value (TSan, threads/ suite). */
size_t corio__page_size(void)
{
    static _Atomic size_t ps;
    size_t v = atomic_load_explicit(&ps, memory_order_relaxed);
    if (!v) {
        v = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&ps, v, memory_order_relaxed);
    }
    return v;
}

const size_t corio__slab_lead = 0;

static void *map_rw(size_t len)
{
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

corio_stack *corio__stack_map_guarded(size_t size)
{
    size_t guard = corio__page_size();
    size_t len = size + guard;
    char *m = map_rw(len);
    if (!m) return NULL;
    if (mprotect(m, guard, PROT_NONE) != 0) {
        munmap(m, len);
        return NULL;
    }
    corio_stack *s = corio__calloc(1, sizeof *s);
    if (!s) {
        munmap(m, len);
        return NULL;
    }
    s->map = m;
    s->map_size = len;
    s->lo = m + guard;
    s->size = size;
    return s;
}

void corio__stack_unmap_guarded(corio_stack *s)
{
    munmap(s->map, s->map_size);
    corio__free(s);
}

void *corio__stack_map_slab(size_t len) { return map_rw(len); }
void corio__stack_unmap_slab(void *mem, size_t len) { munmap(mem, len); }

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

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    corio_task *t = corio__self();
    uintptr_t lo, hi, a = (uintptr_t)si->si_addr;
    if (t && t->stack && corio__stack_guard_range(t->stack, &lo, &hi) &&
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

/* Install our handler unless it is already the one in place. Checking
 * the live disposition (not a "done" flag) means a program, or a forked
 * test child, that reset SIGSEGV after an earlier loop gets it back with
 * its next loop. The handler chains to whatever it replaced. */
static void install_one(int sig, struct sigaction *previous)
{
    struct sigaction cur, sa;
    sigaction(sig, NULL, &cur);
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_fault) return;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, previous);
}

static void install_handlers(void)
{
    static atomic_flag busy = ATOMIC_FLAG_INIT; /* loops on two threads */
    while (atomic_flag_test_and_set(&busy)) {
    }
    install_one(SIGSEGV, &previous_segv);
    install_one(SIGBUS, &previous_bus);
    atomic_flag_clear(&busy);
}

void corio__stack_overflow_guard_thread(void)
{
    static _Thread_local int done;
    install_handlers();
    if (done) return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp) {
        done = 1; /* the thread already has one (ASan installs its own) */
        return;
    }
    /* Deliberately never freed: the thread may fault until it exits. A
     * stack, so mapped like the task stacks and not taken from the heap:
     * an allocator installed with corio_replace_allocator (an arena the
     * program resets, say) must never hold the stack a signal runs on,
     * and it would see a block that is never given back. */
    size_t sz = 64 * 1024;
    void *sp = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss = { .ss_sp = sp == MAP_FAILED ? NULL : sp, .ss_size = sz, .ss_flags = 0 };
    if (ss.ss_sp && sigaltstack(&ss, NULL) == 0) done = 1;
}
