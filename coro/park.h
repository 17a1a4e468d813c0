/*
 * park.h — the scheduler as every other room sees it.
 *
 * flow/, sync/, poller/, os/ and net/ talk to the machine room through
 * this header only. Everything above the context switch rests on two
 * calls:
 *
 *     int  corio__park_on(deadline, what);          // suspend me
 *     void corio__unpark(corio_task *t, int status); // make t ready
 *
 * A blocking primitive puts a corio_waiter (on the waiting task's own stack)
 * into a corio_waitq, parks, and looks at the status park returns:
 *   - the value another task passed to corio__unpark (a hand-off: the lock,
 *     the item, the unit is now ours, even if a cancel arrives later — it
 *     is delivered at the next suspension point, so nothing is lost);
 *   - CORIO_ETIMEDOUT (the deadline passed) or CORIO_ECANCELED: nobody
 *     handed us anything, and we must take our waiter out of the queue.
 * A task is unparked at most once per park: unpark on a task that is not
 * WAITING is a bug and aborts.
 *
 * Besides park and unpark: wait queues, the current task and loop, and
 * the few facts about a task or a loop that other rooms need, each behind
 * an accessor below. This header includes sched.h (the task and loop
 * structs) only so that these calls can be inline: park/unpark and the
 * queue hand-off are the hot paths of every primitive, and a call there
 * would cost. Outside coro/, use the names in this file, never a field of
 * corio_task or corio_loop.
 */
#ifndef CORIO_PARK_H
#define CORIO_PARK_H

#include "corio.h"
#include "sched.h"

/* ---------- the current task and loop ---------- */

/* The calling thread's loop, or NULL. */
static inline corio_loop *corio__loop(void) { return corio__tls_loop; }
/* The running task, or NULL outside a task. */
static inline corio_task *corio__self(void) {
    corio_loop *l = corio__tls_loop;
    return l ? l->current : NULL;
}

/* ---------- debug mode: is this the object's loop's thread? ---------- */

/* How many loops are in debug mode, process-wide (coro/debug.c). While it
 * is 0 -- always, outside debug mode -- every check below is one relaxed
 * load (a plain mov) and a branch predicted not taken. */
extern atomic_int corio__debug_loops;
void corio__debug_owner_slow(corio_waitq *q, corio_loop *owner,
                             const char *call, const char *kind,
                             const void *obj);
/* Is any loop in debug mode? The one branch the hot calls pay (below). */
static inline int corio__debug_on(void)
{
    return __builtin_expect(atomic_load_explicit(&corio__debug_loops,
                                                 memory_order_relaxed) != 0, 0);
}
/* At every call on a loop's object (sync/, future): abort with a message
 * if the caller's thread does not run the object's loop. q is the
 * object's wait queue (its owner field is where the object remembers its
 * loop); kind names the object ("event", "lock", ...). */
static inline void corio__debug_owner(corio_waitq *q, const char *call,
                                      const char *kind, const void *obj)
{
    if (corio__debug_on()) corio__debug_owner_slow(q, NULL, call, kind, obj);
}
/* The hot calls (lock, semaphore, event, queue hand-offs) do not call the
 * check inline: a call in the function, even a cold one, made gcc set up
 * the stack frame before anything else, and the fast path paid for it
 * (lock release: two pushes and two pops more). They are a dispatcher
 * instead, with no frame at all: one load, one branch, one tail jump to
 * the body (out of line) or to a cold twin that checks, then runs it:
 *
 *     int corio_lock_release(corio_lock *l) {
 *         if (corio__debug_on()) return release_checked(l);
 *         return release(l);               // noinline: the old body
 *     }
 */
/* The same for a task handle: its loop is always known. */
static inline void corio__debug_task_owner(corio_task *t, const char *call)
{
    if (corio__debug_on() && t)
        corio__debug_owner_slow(NULL, t->loop, call, "task", t);
}

/* ---------- parking ---------- */

/* Suspend the current task until unparked or until `deadline` (further
 * limited by the task's timeout scope). Returns the unpark status,
 * CORIO_ETIMEDOUT or CORIO_ECANCELED. If a cancellation is pending and the
 * task is not shielded, returns CORIO_ECANCELED without suspending.
 * Must be called from a task (returns CORIO_ENOLOOP otherwise). `what`
 * names the wait for debug listings ("sleep", "join", ...). sched.c. */
int corio__park_on(int64_t deadline, const char *what);
/* Make a WAITING task ready; its park returns `status`. Inline: it is
 * half of every hand-off. */
_Noreturn void corio__unpark_not_waiting(const corio_task *t);
static inline void corio__unpark(corio_task *t, int status)
{
    if (t->state != CORIO_TASK_WAITING) corio__unpark_not_waiting(t);
    if (corio__timer_active(&t->timer))
        corio__timer_heap_remove(&t->loop->timers, &t->timer);
    t->wake_status = status;
    t->state = CORIO_TASK_READY;
    corio__runq_push(t->loop, t);
}
/* Is t parked, so that an unpark would reach it? A task whose deadline
 * or cancel already woke it is READY but still sits in the queues it
 * waited in until it runs and unlinks itself; a waker that finds it there
 * must pass it by (nothing can be handed to it). */
static inline int corio__task_waiting(const corio_task *t) {
    return t->state == CORIO_TASK_WAITING;
}
/* Wake t only if it is still parked. Returns 1 if t was woken. */
static inline int corio__unpark_if_waiting(corio_task *t, int status) {
    if (!corio__task_waiting(t)) return 0;
    corio__unpark(t, status);
    return 1;
}
/* Would a park fail at once with CORIO_ECANCELED? */
static inline int corio__cancel_due(const corio_task *t) {
    return t->cancel_pending && t->shield == 0;
}

/* ---------- wait queues ---------- */

typedef struct corio_waiter {
    corio_task *task;
    struct corio_waiter *prev, *next;
    void *data;   /* per-primitive: the item slot of a queue get, ... */
    uintptr_t n;  /* per-primitive: units asked for, priority, ... */
    int linked;   /* 1 while in a queue */
} corio_waiter;

/* struct corio_waitq { head, tail, len } is defined in corio.h: the public
 * sync objects (corio_lock, corio_queue, ...) embed one. */
typedef struct corio_waitq corio_waitq;

static inline void corio__waitq_push(corio_waitq *q, corio_waiter *w) {
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) q->tail->next = w; else q->head = w;
    q->tail = w;
    w->linked = 1;
    q->len++;
}
static inline void corio__waitq_remove(corio_waitq *q, corio_waiter *w) {
    if (!w->linked) return;
    if (w->prev) w->prev->next = w->next; else q->head = w->next;
    if (w->next) w->next->prev = w->prev; else q->tail = w->prev;
    w->prev = w->next = NULL;
    w->linked = 0;
    q->len--;
}
static inline corio_waiter *corio__waitq_pop(corio_waitq *q) {
    corio_waiter *w = q->head;
    if (w) corio__waitq_remove(q, w);
    return w;
}

/* ---------- what other rooms may know of a task ---------- */

/* The loop t belongs to. */
static inline corio_loop *corio__task_loop(const corio_task *t) {
    return t->loop;
}
/* Tasks waiting for t to finish (not its joiner): unparked with status 0
 * when t is DONE. The composition calls (flow/compose.c) wait here. */
static inline corio_waitq *corio__task_done_waiters(corio_task *t) {
    return &t->done_waiters;
}
/* Has t finished (its function returned)? */
static inline int corio__task_done(const corio_task *t) {
    return t->state == CORIO_TASK_DONE;
}
/* t's final status once it is DONE (0, its corio_fail code, ECANCELED). */
static inline int corio__task_status(const corio_task *t) {
    return t->status;
}
/* The status t would finish with if it returned now: its corio_fail code,
 * else CORIO_ECANCELED if a cancel is pending, else 0 (task.c decides the
 * same way when the task's function returns). */
static inline int corio__task_exit_status(const corio_task *t) {
    return t->fail_code ? t->fail_code : t->cancel_pending ? CORIO_ECANCELED : 0;
}
/* Has t's handle been given away (joined or detached)? */
static inline int corio__task_handle_spent(const corio_task *t) {
    return t->joined || t->detached;
}
/* The innermost timeout scope of t (CORIO_NEVER if none). Scopes are set
 * and restored by flow/timeout.c; every park is cut to it. */
static inline int64_t corio__task_scope_deadline(const corio_task *t) {
    return t->scope_deadline;
}
static inline void corio__task_set_scope_deadline(corio_task *t, int64_t d) {
    t->scope_deadline = d;
}
/* t's open timeout scopes, innermost first (flow/timeout.c keeps the
 * stack, linked through the corio_timeout structs on the callers' stacks). */
static inline corio_timeout *corio__task_scopes(const corio_task *t) {
    return t->scopes;
}
static inline void corio__task_set_scopes(corio_task *t, corio_timeout *s) {
    t->scopes = s;
}
/* How deep t is inside corio_shield_begin/end. */
static inline int corio__task_shield_depth(const corio_task *t) {
    return t->shield;
}
/* The timeout-scope deadline that limits t's parks right now. Unshielded:
 * every open scope (scope_deadline, their minimum). Shielded: only the
 * scopes opened inside the innermost shield, which are on top of the
 * stack with its depth (flow/timeout.c); the shield cuts off the rest, as
 * it cuts off cancels. */
static inline int64_t corio__task_park_limit(const corio_task *t) {
    if (t->shield == 0) return t->scope_deadline;
    const corio_timeout *s = t->scopes;
    if (s && s->shield == t->shield)
        return s->deadline < s->bound ? s->deadline : s->bound;
    return CORIO_NEVER;
}
/* A park of t that took `deadline` returned CORIO_ETIMEDOUT: did it end on
 * that deadline itself, rather than on a timeout scope's? A tie counts as
 * the call's own, as corio_timeout_end sees it. join, wait and the
 * cross-loop join all ask this one question. */
static inline int corio__task_deadline_is_own(const corio_task *t,
                                              int64_t deadline) {
    return deadline <= corio__task_park_limit(t);
}

/* ---------- what other rooms may know of a loop ---------- */

/* Has l a task ready to run besides the current one? (A primitive that
 * would spin before parking must not, or it holds that task up.) */
static inline int corio__loop_has_ready(const corio_loop *l) {
    return l->runq_head != NULL;
}
/* The loop's poller, generic side (poller/netpoll.h). */
static inline corio__netpoll *corio__loop_netpoll(const corio_loop *l) {
    return l->netpoll;
}
/* The thread pool's per-loop state (flow/pool.c owns what it points to;
 * the loop calls corio__pool_on_loop_close to free it). */
static inline void **corio__loop_pool_slot(corio_loop *l) {
    return &l->pool_state;
}

/* A future's waiters (future.c): corio_select waits there beside other
 * cases. Woken with corio__unpark_if_waiting, so a waiter whose task is
 * not parked is only unlinked. */
corio_waitq *corio__future_waiters(corio_future *f);

/* ---------- the cross-thread inbox (loop.c) ---------- */

/* From ANY thread: have p->fn(p) run on l's thread at the top of its next
 * turn (or before it next sleeps). Costs one CAS while l is running or
 * spinning; only when l sleeps in its poller does it add the poller's
 * wakeup, and a burst of posts to a sleeping loop wakes it once. Lock-free,
 * never allocates, never fails: p belongs to the caller until fn runs, and
 * must not be posted again before that. l must outlive the call. */
void corio__loop_post(corio_loop *l, corio__post *p);

#endif
