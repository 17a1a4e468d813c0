/*
 * switch_x86_64_win64.S — the context switch for x86-64, Microsoft x64 ABI
 * (Windows; built with mingw-w64, run natively or under wine).
 *
 * Same idea as switch_x86_64_sysv.S: a suspended context is only its stack
 * pointer, and everything the callee must preserve is saved on the
 * suspended stack itself. The Microsoft ABI preserves more than System V
 * (rdi, rsi and xmm6-xmm15 too), and Windows keeps a description of "the
 * current stack" in the thread's TIB (reached through %gs), which must
 * follow the stack we switch to:
 *
 *        higher addresses            offset from ctx->sp
 *      +------------------------+
 *      | return address         |  +248  where corio__ctx_swap returns on resume
 *      +------------------------+
 *      | rbp                    |  +240  pushed first
 *      | rbx                    |  +232
 *      | rdi                    |  +224
 *      | rsi                    |  +216
 *      | r12                    |  +208
 *      | r13                    |  +200
 *      | r14                    |  +192
 *      | r15                    |  +184
 *      +------------------------+
 *      | DeallocationStack      |  +176  TIB gs:0x1478
 *      | StackLimit             |  +168  TIB gs:0x10
 *      | StackBase              |  +160  TIB gs:0x08
 *      +------------------------+
 *      | xmm15                  |  +144  (16 bytes each, 16-byte aligned)
 *      | ...                    |
 *      | xmm6                   |  +0    <- ctx->sp points here
 *      +------------------------+
 *        lower addresses              256 bytes in all
 *
 * Why the TIB fields travel with the stack (they are per context, so they
 * live in the saved frame: corio_ctx holds only sp):
 *   StackBase / StackLimit  the exception dispatcher and RtlUnwindEx refuse
 *                           frames outside [StackLimit, StackBase] ("frame
 *                           not in stack limits"), and MSVC's __chkstk uses
 *                           StackLimit to decide which pages to probe.
 *   DeallocationStack       the bottom of the stack's reservation. The
 *                           kernel (and wine) use it to recognise a guard
 *                           page hit as "this stack overflowed" and to
 *                           decide whether an exception frame still fits;
 *                           without it a task's overflow could not be
 *                           reported (see stack_win.c).
 * NOT swapped:
 *   gs:0x20 FiberData       corio tasks are not Windows fibers. FiberData
 *                           belongs to the fiber (if any) that runs the
 *                           loop thread; leaving it alone keeps
 *                           GetCurrentFiber() and the host's fibers right
 *                           for the whole thread, and we have no per-task
 *                           value that could go there.
 *   gs:0x00 ExceptionList   unused on x64 (exceptions are table-driven).
 *   MXCSR, x87 control word the same decision as switch_x86_64_sysv.S:
 *                           not saved. Every task of a loop shares one
 *                           thread and corio never changes rounding modes
 *                           or exception masks; a task that does must
 *                           restore them before it blocks.
 *
 * A new context (corio__ctx_make) is a frame of the same shape whose return
 * address is corio__ctx_trampoline, with entry in r12 and arg in r13:
 *
 *      +------------------------+  <- top of the stack, 16-byte aligned
 *      | 0                      |     padding
 *      | 0                      |     the trampoline's "return address":
 *      |                        |     0 ends every backtrace here
 *      | corio__ctx_trampoline   |  <- "return address" of the first swap
 *      | rbp rbx rdi rsi = 0    |
 *      | r12 = entry, r13 = arg |
 *      | r14 r15 = 0            |
 *      | TIB: StackBase = top, StackLimit = stack_lo,
 *      |      DeallocationStack = stack_lo - CORIO_WIN_STACK_ZONE
 *      | xmm6..xmm15 (whatever the memory held: nobody reads them)
 *      +------------------------+  <- ctx->sp
 *
 * The contract with stack_win.c: [stack_lo, top) is committed read-write
 * memory, and the CORIO_WIN_STACK_ZONE (16 KiB) bytes below stack_lo are
 * the stack's overflow zone (guard pages above one hard, never-committed
 * page), part of the same reservation. For a dense stack or any other
 * buffer, the zone value is never looked at unless the stack overflows.
 *
 * Microsoft x64 calling convention: arguments in rcx, rdx, r8, r9, then on
 * the stack above 32 bytes of "shadow space" that every caller reserves.
 */

#define CORIO_WIN_STACK_ZONE 16384

    .text

/* void corio__ctx_swap(corio_ctx *from = rcx, corio_ctx *to = rdx)
 *
 * The .seh_ directives are Windows' equivalent of CFI: they describe the
 * prologue so that a debugger or the exception dispatcher can walk through
 * this frame. Both stacks have the same frame shape, so the description
 * holds on either side of the rsp exchange. */
    .globl  corio__ctx_swap
    .def    corio__ctx_swap; .scl 2; .type 32; .endef
    .p2align 4
    .seh_proc corio__ctx_swap
corio__ctx_swap:
    pushq   %rbp
    .seh_pushreg %rbp
    pushq   %rbx
    .seh_pushreg %rbx
    pushq   %rdi
    .seh_pushreg %rdi
    pushq   %rsi
    .seh_pushreg %rsi
    pushq   %r12
    .seh_pushreg %r12
    pushq   %r13
    .seh_pushreg %r13
    pushq   %r14
    .seh_pushreg %r14
    pushq   %r15
    .seh_pushreg %r15
    subq    $184, %rsp          /* 10 xmm + 3 TIB words; rsp now 16-aligned */
    .seh_stackalloc 184
    movaps  %xmm6,    0(%rsp)
    .seh_savexmm %xmm6, 0
    movaps  %xmm7,   16(%rsp)
    .seh_savexmm %xmm7, 16
    movaps  %xmm8,   32(%rsp)
    .seh_savexmm %xmm8, 32
    movaps  %xmm9,   48(%rsp)
    .seh_savexmm %xmm9, 48
    movaps  %xmm10,  64(%rsp)
    .seh_savexmm %xmm10, 64
    movaps  %xmm11,  80(%rsp)
    .seh_savexmm %xmm11, 80
    movaps  %xmm12,  96(%rsp)
    .seh_savexmm %xmm12, 96
    movaps  %xmm13, 112(%rsp)
    .seh_savexmm %xmm13, 112
    movaps  %xmm14, 128(%rsp)
    .seh_savexmm %xmm14, 128
    movaps  %xmm15, 144(%rsp)
    .seh_savexmm %xmm15, 144
    .seh_endprologue
    movq    (%rdx), %r11        /* r11 = to->sp, read early: see the
                                   System V file for why             */

    movq    %gs:0x08, %rax      /* this stack's description, from the TIB */
    movq    %rax, 160(%rsp)
    movq    %gs:0x10, %rax
    movq    %rax, 168(%rsp)
    movq    %gs:0x1478, %rax
    movq    %rax, 176(%rsp)

    movq    %rsp, (%rcx)        /* from->sp = rsp                        */
.Lresume:                       /* the trampoline joins here, r11 = to->sp */
    movq    %r11, %rsp          /* now on the other stack                */

    movq    160(%rsp), %rax     /* ... and the TIB describes it          */
    movq    %rax, %gs:0x08
    movq    168(%rsp), %rax
    movq    %rax, %gs:0x10
    movq    176(%rsp), %rax
    movq    %rax, %gs:0x1478

    movaps    0(%rsp), %xmm6
    movaps   16(%rsp), %xmm7
    movaps   32(%rsp), %xmm8
    movaps   48(%rsp), %xmm9
    movaps   64(%rsp), %xmm10
    movaps   80(%rsp), %xmm11
    movaps   96(%rsp), %xmm12
    movaps  112(%rsp), %xmm13
    movaps  128(%rsp), %xmm14
    movaps  144(%rsp), %xmm15
    /* A canonical epilogue (add rsp; pops; ret), which is what the Windows
     * unwinder recognises as "leaving the function". */
    addq    $184, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rsi
    popq    %rdi
    popq    %rbx
    popq    %rbp
    ret                         /* into the other context                */
    .seh_endproc

/*
 * The first code a new context runs. rsp is 16-byte aligned here (the
 * swap's ret popped the slot just below the two zero words), so reserving
 * the 32-byte shadow space keeps it aligned for the call. The unwind
 * description says "32 bytes, then the return address", which is the 0
 * above: backtraces and exception dispatch stop at the top of the task.
 */
    .globl  corio__ctx_trampoline
    .def    corio__ctx_trampoline; .scl 2; .type 32; .endef
    .p2align 4
    .seh_proc corio__ctx_trampoline
corio__ctx_trampoline:
    subq    $32, %rsp
    .seh_stackalloc 32
    .seh_endprologue
    movq    %r13, %rcx          /* to = entry(arg)                       */
    callq   *%r12
    /* The context is finished: resume the one entry chose, through the
     * second half of corio__ctx_swap. Nothing of this stack is saved. */
    movq    (%rax), %r11        /* r11 = to->sp                          */
    jmp     .Lresume
    .seh_endproc

/* corio__ctx_start: on Windows simply corio__ctx_swap (the return-predictor
 * tuning of the System V switch is measured on Linux only). */
    .globl  corio__ctx_start
    .set    corio__ctx_start, corio__ctx_swap

/* void corio__ctx_make(corio_ctx *ctx = rcx, void *stack_lo = rdx,
 *                     size_t size = r8, corio_ctx_entry entry = r9,
 *                     void *arg = 40(%rsp))   -- a leaf: no frame */
    .globl  corio__ctx_make
    .def    corio__ctx_make; .scl 2; .type 32; .endef
    .p2align 4
    .seh_proc corio__ctx_make
corio__ctx_make:
    .seh_endprologue
    movq    40(%rsp), %r10      /* arg (5th argument, above the shadow)  */
    leaq    (%rdx,%r8), %r11    /* the real top: the TIB's StackBase     */
    movq    %r11, %rax
    andq    $-16, %rax          /* ABI: 16-byte alignment                */
    subq    $272, %rax          /* see the picture: 256 + two zero words */
    movq    $0, 264(%rax)       /* padding                               */
    movq    $0, 256(%rax)       /* the trampoline's return address: none */
    leaq    corio__ctx_trampoline(%rip), %r8
    movq    %r8, 248(%rax)      /* "return address" of the first swap    */
    movq    $0, 240(%rax)       /* rbp = 0 also ends frame-pointer walks */
    movq    $0, 232(%rax)       /* rbx */
    movq    $0, 224(%rax)       /* rdi */
    movq    $0, 216(%rax)       /* rsi */
    movq    %r9, 208(%rax)      /* r12 = entry */
    movq    %r10, 200(%rax)     /* r13 = arg   */
    movq    $0, 192(%rax)       /* r14 */
    movq    $0, 184(%rax)       /* r15 */
    movq    %rdx, 168(%rax)     /* StackLimit: all of [lo, top) is committed */
    subq    $CORIO_WIN_STACK_ZONE, %rdx
    movq    %rdx, 176(%rax)     /* DeallocationStack: below the zone     */
    movq    %r11, 160(%rax)     /* StackBase                             */
    movq    %rax, (%rcx)        /* ctx->sp */
    ret
    .seh_endproc

    .section .rdata,"dr"
    .globl  corio__ctx_impl_name
corio__ctx_impl_name:
    .asciz  "asm-x86_64-win64"
