/*
 * switch_aarch64_aapcs.S — the context switch for AArch64, AAPCS64 (Linux, ELF).
 *
 * A suspended context is one pointer: its stack pointer. Everything else
 * the AAPCS64 asks a callee to preserve is pushed on the suspended stack
 * itself, in this 0xa0-byte frame (sp = corio_ctx.sp points at its bottom):
 *
 *      sp + 0xa0 ->  (the suspended code's own frames, higher addresses)
 *                 +-------------+-------------+
 *      sp + 0x90  |     x29     |  x30 (lr)   |  frame pointer, return address
 *                 +-------------+-------------+
 *      sp + 0x80  |     x27     |     x28     |
 *      sp + 0x70  |     x25     |     x26     |
 *      sp + 0x60  |     x23     |     x24     |  general callee-saved
 *      sp + 0x50  |     x21     |     x22     |
 *      sp + 0x40  |     x19     |     x20     |  (new context: entry, arg)
 *                 +-------------+-------------+
 *      sp + 0x30  |     d14     |     d15     |
 *      sp + 0x20  |     d12     |     d13     |  low 64 bits of v8-v15,
 *      sp + 0x10  |     d10     |     d11     |  the only FP/SIMD state
 *      sp + 0x00  |     d8      |     d9      |  a callee must keep
 *                 +-------------+-------------+
 *                     +0x0          +0x8
 *
 * Why nothing else is saved:
 *  - x0-x18 and v0-v7, v16-v31 (and the upper halves of v8-v15) are
 *    caller-saved: corio__ctx_swap is an ordinary call, so the compiler
 *    already assumes they are clobbered. x18 (the platform register) is a
 *    plain temporary on Linux.
 *  - sp is the context itself, and the program counter is x30: resuming is
 *    a `ret` into whatever called corio__ctx_swap.
 *  - FPCR (rounding mode, flush-to-zero, default-NaN) is NOT saved. The
 *    AAPCS64 treats those fields as state of the thread, which a routine
 *    leaves unchanged unless it exists to change them (fesetround,
 *    fesetenv). Tasks of one loop share one thread, so they share its
 *    floating-point environment, exactly as functions called in turn would.
 *    Saving it would also cost an `mrs`/`msr fpcr` pair per switch, and a
 *    write to FPCR is slow (it may synchronise the FP pipeline) on many
 *    cores. Boost.Context's arm64 switch makes the same choice. FPSR holds
 *    only sticky exception flags: also per thread, also left alone.
 *
 * A new context (corio__ctx_make) gets this same frame, built by hand at the
 * top of its stack, with x30 = corio__ctx_trampoline, x19 = entry, x20 = arg and
 * x29 = 0. Its first swap "returns" into corio__ctx_trampoline, which calls
 * entry(arg) and aborts if entry ever returns.
 *
 * Unwinding: corio__ctx_trampoline marks its return address undefined in its
 * CFI, so gdb's `bt` and the libgcc unwinder stop there instead of walking
 * off into whatever happens to lie above the task's stack.
 */

    .text

/* ---------------------------------------------------------------------
 * void corio__ctx_swap(corio_ctx *from /x0/, corio_ctx *to /x1/)
 *
 * The CFI below stays true even after `mov sp`: the frame on the incoming
 * stack has the same shape, so an unwinder stopped anywhere in here sees a
 * consistent picture (of the outgoing context before the switch of sp, of
 * the incoming one after it).
 * --------------------------------------------------------------------- */
    .globl  corio__ctx_swap
    .type   corio__ctx_swap, %function
    .p2align 4
corio__ctx_swap:
    .cfi_startproc
    ldr     x10, [x1]       /* x10 = to->sp, read early: see the x86-64
                               System V file for why */
    sub     sp, sp, #0xa0
    .cfi_def_cfa_offset 0xa0

    stp     d8,  d9,  [sp, #0x00]
    stp     d10, d11, [sp, #0x10]
    stp     d12, d13, [sp, #0x20]
    stp     d14, d15, [sp, #0x30]
    stp     x19, x20, [sp, #0x40]
    stp     x21, x22, [sp, #0x50]
    stp     x23, x24, [sp, #0x60]
    stp     x25, x26, [sp, #0x70]
    stp     x27, x28, [sp, #0x80]
    stp     x29, x30, [sp, #0x90]
    /* Offsets from the CFA (sp + 0xa0) of every saved register. */
    .cfi_offset d8,  -0xa0
    .cfi_offset d9,  -0x98
    .cfi_offset d10, -0x90
    .cfi_offset d11, -0x88
    .cfi_offset d12, -0x80
    .cfi_offset d13, -0x78
    .cfi_offset d14, -0x70
    .cfi_offset d15, -0x68
    .cfi_offset x19, -0x60
    .cfi_offset x20, -0x58
    .cfi_offset x21, -0x50
    .cfi_offset x22, -0x48
    .cfi_offset x23, -0x40
    .cfi_offset x24, -0x38
    .cfi_offset x25, -0x30
    .cfi_offset x26, -0x28
    .cfi_offset x27, -0x20
    .cfi_offset x28, -0x18
    .cfi_offset x29, -0x10
    .cfi_offset x30, -0x08

    /* The switch itself: park our sp in *from, take the one read from *to
     * at the top.
     * (sp cannot be the operand of ldr/str, hence x9.) */
    mov     x9, sp
    str     x9, [x0]
.Lresume:                   /* the trampoline joins here, x10 = to->sp */
    mov     sp, x10

    ldp     d8,  d9,  [sp, #0x00]
    ldp     d10, d11, [sp, #0x10]
    ldp     d12, d13, [sp, #0x20]
    ldp     d14, d15, [sp, #0x30]
    ldp     x19, x20, [sp, #0x40]
    ldp     x21, x22, [sp, #0x50]
    ldp     x23, x24, [sp, #0x60]
    ldp     x25, x26, [sp, #0x70]
    ldp     x27, x28, [sp, #0x80]
    ldp     x29, x30, [sp, #0x90]
    add     sp, sp, #0xa0
    .cfi_def_cfa_offset 0
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    ret                     /* to x30: the caller of the other swap,
                               or corio__ctx_trampoline the first time */
    .cfi_endproc
    .size   corio__ctx_swap, . - corio__ctx_swap

/* ---------------------------------------------------------------------
 * corio__ctx_trampoline — where a new context's first swap lands.
 *
 * Entered by `ret`, not by a call: there is no caller to return to, and
 * the CFI says so (return address undefined), which is what makes a
 * debugger's backtrace end here. sp is the 16-byte-aligned top of the
 * stack. Global, like its x86-64 twin, so that a debugger or a test can
 * name the frame where every task's backtrace ends.
 * --------------------------------------------------------------------- */
    .globl  corio__ctx_trampoline
    .type   corio__ctx_trampoline, %function
    .p2align 4
corio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20                 /* to = entry(arg) */
    blr     x19
    /* The context is finished: resume the one entry chose, through the
     * second half of corio__ctx_swap. Nothing of this stack is saved. */
    ldr     x10, [x0]               /* x10 = to->sp */
    b       .Lresume
    .cfi_endproc
    .size   corio__ctx_trampoline, . - corio__ctx_trampoline

/* corio__ctx_start: on AArch64 simply corio__ctx_swap. (The x86-64 switch
 * enters new contexts by a jump to keep its return predictor in step;
 * AArch64 runs here under qemu only, where that cannot be measured.) */
    .globl  corio__ctx_start
    .type   corio__ctx_start, %function
    .set    corio__ctx_start, corio__ctx_swap

/* ---------------------------------------------------------------------
 * void corio__ctx_make(corio_ctx *ctx /x0/, void *stack_lo /x1/,
 *                     size_t size /x2/, corio_ctx_entry entry /x3/,
 *                     void *arg /x4/)
 *
 * Builds the frame of the picture at the top of the stack, as if the new
 * context had called corio__ctx_swap from the first instruction of
 * corio__ctx_trampoline. Every slot is written, so a new context starts with
 * zeroes, not with whatever the stack held before (pooled stacks are
 * reused).
 * --------------------------------------------------------------------- */
    .globl  corio__ctx_make
    .type   corio__ctx_make, %function
    .p2align 4
corio__ctx_make:
    .cfi_startproc
    add     x9, x1, x2              /* the stack grows down from its end */
    and     x9, x9, #~15            /* AAPCS64: sp is 16-byte aligned */
    sub     x9, x9, #0xa0           /* room for one saved frame */

    stp     xzr, xzr, [x9, #0x00]   /* d8,  d9  */
    stp     xzr, xzr, [x9, #0x10]   /* d10, d11 */
    stp     xzr, xzr, [x9, #0x20]   /* d12, d13 */
    stp     xzr, xzr, [x9, #0x30]   /* d14, d15 */
    stp     x3,  x4,  [x9, #0x40]   /* x19 = entry, x20 = arg */
    stp     xzr, xzr, [x9, #0x50]   /* x21, x22 */
    stp     xzr, xzr, [x9, #0x60]   /* x23, x24 */
    stp     xzr, xzr, [x9, #0x70]   /* x25, x26 */
    stp     xzr, xzr, [x9, #0x80]   /* x27, x28 */
    adr     x10, corio__ctx_trampoline
    stp     xzr, x10, [x9, #0x90]   /* x29 = 0 ends the frame-pointer
                                       chain; x30 = where to "return" */
    str     x9, [x0]                /* ctx->sp */
    ret
    .cfi_endproc
    .size   corio__ctx_make, . - corio__ctx_make

/* ---------------------------------------------------------------------
 * const char corio__ctx_impl_name[]
 * --------------------------------------------------------------------- */
    .section .rodata
    .globl  corio__ctx_impl_name
    .type   corio__ctx_impl_name, %object
corio__ctx_impl_name:
    .asciz  "asm-aarch64-aapcs"
    .size   corio__ctx_impl_name, . - corio__ctx_impl_name

/* This object needs no executable stack. */
    .section .note.GNU-stack, "", %progbits
