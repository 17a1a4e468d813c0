/*
 * sched.c — parking, unparking and choosing who runs next.
 *
 * The path of a task that blocks:
 *
 *   corio_sleep / corio_lock / corio_wait_readable ...
 *     -> corio__park_on(deadline, what)  mark WAITING, arm the deadline timer
 *       -> dispatch()                 pick the next ready task
 *         -> corio__ctx_swap()         (switch_*.S) jump to its stack
 *
 * and back: some other code calls corio__unpark(t, status), which puts t
 * at the tail of the run queue; when t's turn comes, dispatch() swaps to it
 * and corio__park_on returns `status`.
 *
 * Tasks switch DIRECTLY to one another: the loop's own stack (where the
 * poller and timers are checked) is visited only when the run queue is
 * empty, or once every 64 dispatches so that timers and I/O are never
 * starved by tasks that keep yielding. This is what makes a yield cost a
 * few nanoseconds instead of two switches and a system call.
 */
#include "park.h"
#include "os/thread.h"

#include <stdio.h>
#include <stdlib.h>

_Thread_local corio_loop *corio__tls_loop;

/* How many task-to-task dispatches may happen before the loop's own stack
 * gets a turn to run timers and poll. A power of two: the test is a mask. */
#define DISPATCH_BUDGET CORIO_DISPATCH_BUDGET

/* ---------- the switch, with what sanitizers must be told ---------- */

/*
 * ASan keeps "fake stacks" per real stack; it must be told before and
 * after every stack change, or it reports false stack-buffer errors.
 */
static inline void asan_leaving(void **fake, const void *to_lo, size_t to_size)
{
#ifdef CORIO_ASAN
    __sanitizer_start_switch_fiber(fake, to_lo, to_size);
#else
    (void)fake;
    (void)to_lo;
    (void)to_size;
#endif
}

static inline void asan_back(void *fake)
{
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)fake;
#endif
}

/* TSan (see sched.h): announce the switch to task t, or to the loop's
 * stack. A task's fiber is made at its first switch-in, so a task that
 * never runs costs TSan nothing; the thread's own fiber is read each time
 * the loop enters a task (the loop's stack is always the thread's).
 * The announcement is a macro, never a function of ours: corio__task_
 * leave_final switches for good, and an instrumented helper called there
 * would enter on the dying fiber and exit on the next one, whose shadow
 * stack would then underflow (TSan crashed exactly so). */
#ifdef CORIO_TSAN
static void *tsan_fiber_of(corio_task *t)
{
    if (!t->tsan_fiber) {
        t->tsan_fiber = __tsan_create_fiber(0);
        __tsan_set_fiber_name(t->tsan_fiber, corio_task_name(t));
    }
    return t->tsan_fiber;
}
#define tsan_to_task(t) __tsan_switch_to_fiber(tsan_fiber_of(t), 0)
#define tsan_to_loop(l) __tsan_switch_to_fiber((l)->tsan_fiber, 0)
#else
#define tsan_to_task(t) ((void)(t))
#define tsan_to_loop(l) ((void)(l))
#endif

/* Switch from `from` into task t: by corio__ctx_start the first time (see
 * switch_x86_64_sysv.S: it keeps the return predictor in step for the
 * task's whole life), by corio__ctx_swap after that. Returns when some
 * context switches back to `from`. */
static inline void swap_to_task(corio_ctx *from, corio_task *t)
{
    void *fake = NULL;
    asan_leaving(&fake, t->stack->lo, t->stack->size);
    tsan_to_task(t);
    if (t->fresh) {
        t->fresh = 0;
        corio__ctx_start(from, &t->ctx);
    } else {
        corio__ctx_swap(from, &t->ctx);
    }
    asan_back(fake);
}

/* Switch from `from` to the loop's own stack. */
static inline void swap_to_loop(corio_ctx *from, corio_loop *l)
{
    void *fake = NULL;
    asan_leaving(&fake, l->sched_stack_lo, l->sched_stack_size);
    tsan_to_loop(l);
    corio__ctx_swap(from, &l->sched_ctx);
    asan_back(fake);
}

/*
 * Dense stacks have no guard page: check, at every switch-out, that the
 * task did not write below its stack. Both checks are after the fact,
 * which is why dense mode is opt-in. The report is out of line: the check
 * itself is two compares on the switch path.
 */
static __attribute__((noinline, noreturn)) void report_dense_overflow(corio_task *t)
{
    char msg[256];
    size_t n = corio__stack_overflow_message(msg, sizeof msg, t->name, t->id,
                                             t->stack->size);
    fwrite(msg, 1, n, stderr);
    fputs("corio: (dense stack mode: detected by the stack canary at a "
          "switch; memory below the stack may be corrupted)\n", stderr);
    abort();
}

static inline void check_stack_on_leave(corio_task *t)
{
    char here;
    if (t->dense && ((uintptr_t)&here < (uintptr_t)t->stack->lo + 256 ||
                     !corio__stack_canary_ok(t->stack)))
        report_dense_overflow(t);
}

static inline void leave_task(corio_loop *l, corio_task *self)
{
    check_stack_on_leave(self);
    if (l->debug) corio__debug_on_switch_out(self);
}

static inline void enter_task(corio_loop *l, corio_task *t)
{
    l->current = t;
    t->state = CORIO_TASK_RUNNING;
    if (l->debug) corio__debug_on_switch_in(t);
}

/* Switch from the running task `self` to the next one, or to the loop.
 * Inlined into park and yield: it is the hot path of every switch. */
static inline __attribute__((always_inline)) void dispatch(corio_loop *l, corio_task *self)
{
    leave_task(l, self);
    corio_task *next = NULL;
    if ((++l->ticks & (DISPATCH_BUDGET - 1)) != 0) next = corio__runq_pop(l);
    if (next == self) { /* yielded with nobody else ready */
        enter_task(l, self);
        return;
    }
    if (next) {
        enter_task(l, next);
        swap_to_task(&self->ctx, next);
    } else {
        l->current = NULL;
        swap_to_loop(&self->ctx, l);
    }
    /* Resumed: whoever switched to us already made us current. */
    corio__reap(l);
}

void corio__loop_enter_task(corio_loop *l, corio_task *t)
{
    l->ticks = 0; /* a fresh dispatch budget */
#ifdef CORIO_TSAN
    l->tsan_fiber = __tsan_get_current_fiber();
#endif
    enter_task(l, t);
    swap_to_task(&l->sched_ctx, t);
}

/* No ASan instrumentation here: after __sanitizer_start_switch_fiber
 * with no save slot, ASan has dropped this stack's fake frames, so no
 * instrumented epilogue may run on it any more (see corio__task_entry). */
CORIO_NO_ASAN CORIO_NO_TSAN corio_ctx *corio__task_leave_final(corio_loop *l, corio_task *self)
{
    leave_task(l, self);
    l->zombie = self;
    corio_task *next = NULL;
    /* The loop must see its run_until_complete target finish. */
    if (self != l->stop_task && (++l->ticks & (DISPATCH_BUDGET - 1)) != 0)
        next = corio__runq_pop(l);
    if (next) {
        enter_task(l, next);
        /* Resumed by the trampoline's return, not by corio__ctx_start:
         * a fresh next starts through its frame's return address. */
        next->fresh = 0;
        asan_leaving(NULL, next->stack->lo, next->stack->size);
        tsan_to_task(next); /* our fiber is destroyed when we are reaped */
        return &next->ctx;
    }
    l->current = NULL;
    asan_leaving(NULL, l->sched_stack_lo, l->sched_stack_size);
    tsan_to_loop(l);
    return &l->sched_ctx;
}

/* ---------- park / unpark ---------- */

static void park_timer_fired(corio_timer *tm)
{
    corio_task *t = (corio_task *)((char *)tm - offsetof(corio_task, timer));
    corio__unpark(t, CORIO_ETIMEDOUT);
}

/* Arm the park's deadline: 0, or the status the park returns at once.
 * Out of line: most parks (a lock, a queue, a join) have no deadline. */
static __attribute__((noinline)) int arm_park_timer(corio_loop *l, corio_task *self,
                                                    int64_t deadline)
{
    if (deadline <= corio__os_now_ns()) return CORIO_ETIMEDOUT;
    if (self->timer.fire != park_timer_fired)
        corio__timer_init(&self->timer, park_timer_fired);
    if (corio__timer_heap_push(&l->timers, &self->timer, deadline) != 0)
        return CORIO_ENOMEM;
    return 0;
}

int corio__park_on(int64_t deadline, const char *what)
{
    corio_loop *l = corio__tls_loop;
    corio_task *self = l ? l->current : NULL;
    if (__builtin_expect(!self, 0)) return CORIO_ENOLOOP;
    if (__builtin_expect(self->shield == 0, 1)) {
        if (__builtin_expect(self->cancel_pending, 0)) return CORIO_ECANCELED;
        if (self->scope_deadline < deadline) deadline = self->scope_deadline;
    } else if (self->scopes) { /* a scope opened inside the shield? */
        int64_t scope = corio__task_park_limit(self);
        if (scope < deadline) deadline = scope;
    }
    if (__builtin_expect(deadline != CORIO_NEVER, 0)) {
        int rc = arm_park_timer(l, self, deadline);
        if (rc != 0) return rc;
    }
    self->state = CORIO_TASK_WAITING;
    self->wait_what = what;
    self->wake_status = 0;
    dispatch(l, self);
    self->wait_what = NULL;
    return self->wake_status;
}

void corio__unpark_not_waiting(const corio_task *t)
{
    fprintf(stderr, "corio: internal error: unpark of task '%s' that is "
            "%s, not waiting\n", corio_task_name(t), corio_task_state_name(t->state));
    abort();
}


/* ---------- the public suspension points of this file ---------- */

/* What a yield reports once it is back, when something may be due: a
 * cancel, or an open timeout scope. Out of line: the common yield has
 * neither and returns 0 after two loads. */
static __attribute__((noinline, cold)) int yield_status(corio_task *self)
{
    if (corio__cancel_due(self)) return CORIO_ECANCELED;
    /* A yield is a suspension point like any other: inside a timeout
     * scope that has expired it reports the expiry, as asyncio's sleep(0)
     * raises TimeoutError there (test_timeout_zero_sleep_zero). Otherwise
     * a loop that only yields would never see its deadline. The clock is
     * read only when a scope is open. */
    int64_t scope = corio__task_park_limit(self);
    if (scope != CORIO_NEVER && corio__os_now_ns() >= scope)
        return CORIO_ETIMEDOUT;
    return 0;
}

int corio_yield(void)
{
    corio_loop *l = corio__tls_loop;
    corio_task *self = l ? l->current : NULL;
    if (!self) return CORIO_ENOLOOP;
    self->state = CORIO_TASK_READY;
    corio__runq_push(l, self);
    dispatch(l, self);
    /* scopes is non-NULL exactly while a timeout scope is open. */
    if (__builtin_expect(self->cancel_pending || self->scopes, 0))
        return yield_status(self);
    return 0;
}

int corio_sleep_until(int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (deadline <= corio__os_now_ns()) return corio_yield(); /* sleep(0) */
    int64_t scope = corio__task_park_limit(self);
    int rc = corio__park_on(deadline, "sleep");
    /* Our own deadline passing is success; a timeout scope's is not. */
    if (rc == CORIO_ETIMEDOUT && deadline <= scope) rc = 0;
    return rc;
}

int corio_sleep(int64_t ns)
{
    return corio_sleep_until(corio_deadline_in(ns));
}

void corio_shield_begin(void)
{
    corio_task *self = corio__self();
    if (self) self->shield++;
}

void corio_shield_end(void)
{
    corio_task *self = corio__self();
    if (self && self->shield > 0) self->shield--;
}

bool corio_cancelled(void)
{
    corio_task *self = corio__self();
    return self && self->cancel_pending;
}

int64_t corio_now(void)
{
    return corio__os_now_ns();
}

int64_t corio_deadline_in(int64_t ns)
{
    int64_t now = corio__os_now_ns();
    if (ns <= 0) return now;
    if (ns >= CORIO_NEVER - now) return CORIO_NEVER;
    return now + ns;
}
