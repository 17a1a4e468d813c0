/*
 * switch_ucontext.c — the portable context switch, on POSIX ucontext.
 *
 * Chosen with `make SWITCH=ucontext`. It works wherever getcontext /
 * makecontext / swapcontext exist, so it is the fallback for an
 * architecture without a switch_*.S file. It is slower than the assembly
 * switches because swapcontext also saves and restores the signal mask,
 * which is a system call (rt_sigprocmask) on every switch.
 */
#include "switch.h"

#include <stdint.h>
#include <stdlib.h>

const char corio__ctx_impl_name[] = "ucontext";

/* makecontext passes only int arguments, so a pointer travels as two
 * 32-bit halves and is put back together here. */
static void trampoline(unsigned hi, unsigned lo, unsigned ehi, unsigned elo)
{
    void *arg = (void *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    corio_ctx_entry entry =
        (corio_ctx_entry)(((uintptr_t)ehi << 32) | (uintptr_t)elo);
    corio_ctx *to = entry(arg);
    setcontext(&to->uc); /* finished: this context is never resumed */
    abort();
}

void corio__ctx_make(corio_ctx *ctx, void *stack_lo, size_t size,
                    corio_ctx_entry entry, void *arg)
{
    uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack_lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))trampoline, 4,
                (unsigned)(a >> 32), (unsigned)a,
                (unsigned)(e >> 32), (unsigned)e);
}

void corio__ctx_swap(corio_ctx *from, corio_ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

void corio__ctx_start(corio_ctx *from, corio_ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}
