/*
 * switch_x86_64_sysv.S — the context switch for x86-64, System V ABI
 * (Linux, the BSDs, macOS).
 *
 * A suspended context is nothing but its stack pointer. Everything else the
 * ABI says a callee must preserve is pushed on the suspended stack itself:
 *
 *        higher addresses
 *      +------------------+
 *      | return address   |  <- where corio__ctx_swap returns to on resume
 *      +------------------+
 *      | rbp              |
 *      | rbx              |
 *      | r12              |
 *      | r13              |
 *      | r14              |
 *      | r15              |  <- ctx->sp points here
 *      +------------------+
 *        lower addresses
 *
 * corio__ctx_swap(from, to) reads to->sp, pushes the six callee-saved
 * registers (the call already pushed the return address), stores rsp into
 * from->sp, takes the other stack, pops its six registers and returns
 * into it.
 * Caller-saved registers need no saving: the compiler already assumes a
 * call clobbers them.
 *
 * Why `ret` and not `pop; jmp` (which Boost.Context uses): the CPU
 * predicts a `ret` from its return-stack buffer, i.e. "back to the caller
 * of the matching call". In corio every task suspends through the SAME
 * call site (dispatch() in sched.c), so the prediction names the right
 * address even though the stack is another one, and every later `ret` in
 * the resumed task stays predicted too. `pop; jmp` leaves the buffer one
 * entry off and makes those later returns mispredict. Measured here:
 * yield 7.4 ns with `ret` against 20 ns with `pop; jmp`; a ping-pong
 * between two DIFFERENT call sites is the opposite case (13.5 against
 * 4.3 ns). bench/bench_core.c reports both patterns.
 *
 * A new context (corio__ctx_make) is a frame of the same shape whose return
 * address is corio__ctx_trampoline, with the entry function in r12 and its
 * argument in r13:
 *
 *      +------------------+  <- top of the stack, 16-byte aligned
 *      | 0                |     two zero words: a fake, never-used
 *      | 0                |     return slot that keeps rsp aligned
 *      | trampoline       |  <- "return address" of the first swap
 *      | rbp = 0          |
 *      | rbx = 0          |
 *      | r12 = entry      |
 *      | r13 = arg        |
 *      | r14 = 0          |
 *      | r15 = 0          |  <- ctx->sp
 *      +------------------+
 *
 * MXCSR and the x87 control word are NOT saved. The ABI makes their
 * control bits callee-saved, and Boost.Context saves them, but every task
 * of a loop runs on one thread and none of corio changes the rounding mode
 * or exception masks; saving them costs stmxcsr/ldmxcsr + fnstcw/fldcw,
 * about 2-3 ns on a ~3 ns switch. A task that changes either must restore
 * it before it blocks. (libaco makes the same choice an option.)
 */

/*
 * Starting and finishing a task keep the return-stack buffer balanced too.
 * A task's life, seen from the CPU's return predictor:
 *
 *   parent:  call corio__ctx_start   push P (the parent's resume address)
 *   start:   pop; jmp trampoline    no ret: P stays on top
 *   trampoline: call entry          push T
 *   entry:   ... the task runs ...  (its own calls and rets pair up)
 *            ret                    pops T: predicted
 *   trampoline: switch to the next context, ret
 *                                   pops P: predicted whenever the next
 *                                   context is the one that started us
 *
 * which is exactly spawn + join. Entering a new context by `ret` instead
 * (corio__ctx_swap) costs two mispredicted returns per task: measured here,
 * spawn + join went from 62 to 25 ns in a standalone prototype.
 */

/*
 * Read to->sp (rsi) FIRST, before anything is pushed. Every pop of the
 * other context hangs on this one load, so it pays to issue it as early
 * as possible: here it runs in the shadow of the six pushes rather than
 * after them and the store of from->sp. Measured on this machine (a
 * prototype timing both orders in one process): a symmetric switch went
 * from 4.4 to 2.6 ns with nothing else changed.
 * The one case this reorder would break is from == to (the load would
 * take the stale sp); the scheduler never switches a task to itself.
 */
.macro LOAD_TARGET
    movq    (%rsi), %rax        /* rax = to->sp                */
.endm

/* Push the six callee-saved registers and park rsp in *from (rdi). */
.macro SAVE_CONTEXT
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    movq    %rsp, (%rdi)        /* from->sp = rsp             */
.endm

/* Take the stack whose pointer LOAD_TARGET put in rax and pop its six
 * registers. What follows decides how to enter it. */
.macro RESTORE_CONTEXT
    movq    %rax, %rsp          /* now on the other stack */
    popq    %r15
    .cfi_adjust_cfa_offset -8
    popq    %r14
    .cfi_adjust_cfa_offset -8
    popq    %r13
    .cfi_adjust_cfa_offset -8
    popq    %r12
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    popq    %rbp
    .cfi_adjust_cfa_offset -8
.endm

    .text
    .globl  corio__ctx_swap
    .type   corio__ctx_swap, @function
    .p2align 4
/* void corio__ctx_swap(corio_ctx *from  = rdi, corio_ctx *to = rsi) */
corio__ctx_swap:
    .cfi_startproc
    LOAD_TARGET
    SAVE_CONTEXT
.Lresume:                       /* the trampoline joins here, rax = to->sp */
    RESTORE_CONTEXT
    ret                         /* into the other context      */
    .cfi_endproc
    .size   corio__ctx_swap, .-corio__ctx_swap

    .globl  corio__ctx_start
    .type   corio__ctx_start, @function
    .p2align 4
/* void corio__ctx_start(corio_ctx *from = rdi, corio_ctx *to = rsi):
 * the same, for a context that has never run: its "return address" is
 * the trampoline, entered by a jump so that no return is spent on it. */
corio__ctx_start:
    .cfi_startproc
    LOAD_TARGET
    SAVE_CONTEXT
    RESTORE_CONTEXT
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    jmpq    *%rcx               /* corio__ctx_trampoline        */
    .cfi_endproc
    .size   corio__ctx_start, .-corio__ctx_start

/*
 * The first code a new context runs. The CFI says "there is no caller":
 * the return address is undefined, so gdb's backtrace inside a task stops
 * here instead of walking into garbage above the stack top.
 *
 * When entry returns, the context is finished: entry hands back the
 * context to resume, and this stack is abandoned without saving anything.
 */
    .globl  corio__ctx_trampoline
    .type   corio__ctx_trampoline, @function
    .p2align 4
corio__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi          /* to = entry(arg)                      */
    callq   *%r12
    /* Resume the context entry chose, through the second half of
     * corio__ctx_swap (whose `ret` then pops the return address of whoever
     * started us, as the picture above says). */
    movq    (%rax), %rax        /* rax = to->sp */
    jmp     .Lresume
    .cfi_endproc
    .size   corio__ctx_trampoline, .-corio__ctx_trampoline

    .globl  corio__ctx_make
    .type   corio__ctx_make, @function
    .p2align 4
/* void corio__ctx_make(corio_ctx *ctx = rdi, void *stack_lo = rsi,
 *                     size_t size = rdx, entry = rcx, void *arg = r8) */
corio__ctx_make:
    .cfi_startproc
    leaq    (%rsi,%rdx), %rax   /* top of the stack                    */
    andq    $-16, %rax          /* ABI: 16-byte alignment              */
    subq    $72, %rax           /* nine words, see the picture         */
    movq    $0, 0(%rax)         /* r15 */
    movq    $0, 8(%rax)         /* r14 */
    movq    %r8, 16(%rax)       /* r13 = arg   */
    movq    %rcx, 24(%rax)      /* r12 = entry */
    movq    $0, 32(%rax)        /* rbx */
    movq    $0, 40(%rax)        /* rbp = 0 also ends frame-pointer walks */
    leaq    corio__ctx_trampoline(%rip), %r9
    movq    %r9, 48(%rax)       /* "return address" */
    movq    $0, 56(%rax)
    movq    $0, 64(%rax)
    movq    %rax, (%rdi)        /* ctx->sp */
    ret
    .cfi_endproc
    .size   corio__ctx_make, .-corio__ctx_make

    .section .rodata
    .globl  corio__ctx_impl_name
    .type   corio__ctx_impl_name, @object
corio__ctx_impl_name:
    .asciz  "asm-x86_64-sysv"
    .size   corio__ctx_impl_name, .-corio__ctx_impl_name

    .section .note.GNU-stack,"",@progbits
