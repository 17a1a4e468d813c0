/*
 * switch.h — the context switch, the lowest hop of the runtime.
 *
 * A context is the saved state of a suspended stack. With the assembly
 * switch it is just the stack pointer: the callee-saved registers and the
 * return address are pushed on the suspended stack itself (see the frame
 * picture at the top of each switch_*.S file). With the ucontext fallback
 * it is a ucontext_t.
 *
 * Which implementation is compiled is chosen by the Makefile (SWITCH=asm or
 * SWITCH=ucontext): exactly one switch_*.{S,c} file provides the functions
 * below. CORIO_SWITCH_UCONTEXT is defined for the fallback.
 */
#ifndef CORIO_SWITCH_H
#define CORIO_SWITCH_H

#include <stddef.h>

#ifdef CORIO_SWITCH_UCONTEXT
#include <ucontext.h>
typedef struct corio_ctx { ucontext_t uc; } corio_ctx;
#else
typedef struct corio_ctx { void *sp; } corio_ctx;
#endif

/* The function a new context starts in. When it returns, the context is
 * finished: it returns the context to resume next, and its own stack is
 * abandoned (nothing is saved; it must never be resumed). */
typedef struct corio_ctx *(*corio_ctx_entry)(void *arg);

/* Prepare ctx so that the first switch to it calls entry(arg) on the stack
 * [stack_lo, stack_lo + size). */
void corio__ctx_make(corio_ctx *ctx, void *stack_lo, size_t size,
                    corio_ctx_entry entry, void *arg);

/* Save the running context into *from and resume *to. Returns when some
 * other context switches back to *from. from and to must differ: the
 * assembly reads to->sp before it writes from->sp (see the .S files). */
void corio__ctx_swap(corio_ctx *from, corio_ctx *to);

/* The same as corio__ctx_swap, for a `to` made by corio__ctx_make that has
 * never run. It enters the new context by a jump rather than a return,
 * which keeps the CPU's return predictor in step (see the .S file); on
 * switches without that tuning it is corio__ctx_swap itself. */
void corio__ctx_start(corio_ctx *from, corio_ctx *to);

/* A short name for corio_switch_name(), e.g. "asm-x86_64-sysv". */
extern const char corio__ctx_impl_name[];

#endif
