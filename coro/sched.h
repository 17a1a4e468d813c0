/*
 * sched.h — the scheduler's inside, shared by coro/, sync/ and poller/.
 *
 * Everything above the context switch rests on two calls:
 *
 *     int  corio__park_on(int64_t deadline, const char *what); // suspend me
 *     void corio__unpark(corio_task *t, int status);           // make t ready
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
 */
#ifndef CORIO_SCHED_H
#define CORIO_SCHED_H

#include "corio.h"
#include "switch.h"
#include "stack.h"
#include "timer.h"

#include <stdatomic.h>

/* AddressSanitizer must hear of every stack switch (sched.c). CORIO_NO_ASAN
 * marks the code that runs after a dying task's last notice, when ASan has
 * dropped that stack's fake frames (task.c, sched.c). */
#if defined(__SANITIZE_ADDRESS__)
#define CORIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_ASAN 1
#endif
#endif
#ifdef CORIO_ASAN
#include <sanitizer/common_interface_defs.h>
#define CORIO_NO_ASAN __attribute__((no_sanitize_address))
#else
#define CORIO_NO_ASAN
#endif

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

static inline void corio_waitq_push(corio_waitq *q, corio_waiter *w) {
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) q->tail->next = w; else q->head = w;
    q->tail = w;
    w->linked = 1;
    q->len++;
}
static inline void corio_waitq_remove(corio_waitq *q, corio_waiter *w) {
    if (!w->linked) return;
    if (w->prev) w->prev->next = w->next; else q->head = w->next;
    if (w->next) w->next->prev = w->prev; else q->tail = w->prev;
    w->prev = w->next = NULL;
    w->linked = 0;
    q->len--;
}
static inline corio_waiter *corio_waitq_pop(corio_waitq *q) {
    corio_waiter *w = q->head;
    if (w) corio_waitq_remove(q, w);
    return w;
}

/* ---------- tasks ---------- */

#define CORIO_NAME_MAX 32

struct corio_task {
    /* Hot: what every spawn, switch and join touches, first. */
    corio_ctx ctx;            /* saved registers while not running */
    corio_loop *loop;
    corio_task *run_next;     /* run queue link (free list link when free) */
    corio_stack *stack;       /* NULL once finished */
    corio_fn fn;
    void *arg;
    void *result;
    corio_task_state state;
    int wake_status;          /* what the park returns */
    int status;               /* final status once DONE */
    int fail_code;            /* set by corio_fail */
    int cancel_pending;       /* sticky cancellation requested */
    const char *cancel_msg;   /* corio_cancel_msg's reason, or NULL */
    int shield;               /* shield nesting depth */
    unsigned char detached, joined; /* handle ownership */
    unsigned char fresh;      /* never switched to: enter by corio_ctx_start */
    unsigned char dense;      /* its stack is dense: check it at switches */
    corio_task *joiner;       /* the task parked in corio_join on us */
    corio_waitq done_waiters; /* other waiters: task_wait_until, wait, ... */
    struct corio_task *all_prev, *all_next; /* loop's list of live handles */
    uint64_t id;
    int64_t scope_deadline;   /* innermost timeout scope (CORIO_NEVER) */
    corio_timeout *scopes;    /* open timeout scopes, innermost first */
    void *locals;             /* task-local storage (coro/locals.c) */
    /* Cold: deadlines, debug and naming. */
    corio_timer timer;        /* the park deadline */
    corio_waiter *parked_on;  /* informational: what we wait in */
    const char *wait_what;    /* informational: "sleep", "join", ... */
    size_t stack_hwm;         /* debug: stack high-water mark in bytes */
    int64_t run_since;        /* debug: when it was last switched in */
    char name[CORIO_NAME_MAX];
};

/* ---------- the loop ---------- */

typedef struct corio_poller corio_poller;

typedef struct corio_cb_node {
    corio_callback cb;
    void *arg;
    struct corio_cb_node *next;
} corio_cb_node;

struct corio_loop {
    corio_task *current;          /* running task, NULL on the loop stack */
    corio_ctx sched_ctx;          /* the thread's own stack */
    corio_task *runq_head, *runq_tail;
    unsigned ticks;               /* dispatches since the last loop visit */
    corio_timer_heap timers;
    corio_poller *poller;
    corio_stack_pool *stacks;
    corio_task *free_tasks;       /* recycled task structs */
    corio_task *all_head;         /* every task whose handle is live */
    size_t alive;                 /* tasks not yet DONE */
    corio_task *zombie;           /* finished task whose stack to release */
    corio_task *stop_task;        /* run_until_complete target */
    corio_cb_node *cb_head, *cb_tail;     /* call_soon */
    void *ts_lock;                        /* call_soon_threadsafe */
    corio_cb_node *ts_head, *ts_tail;
    atomic_int ts_pending;
    int closed;
    uint64_t next_id;
    int64_t last_poll;
    corio_config cfg;
    unsigned fork_gen;            /* corio__fork_gen when it was made */
    void *sched_stack_lo;         /* the thread's stack, for ASan */
    size_t sched_stack_size;
    int debug;
    void *debug_state;            /* coro/debug.c */
    void *pool_state;             /* coro/pool.c (thread pool hook) */
};

/* Bumped in the child of every fork(): a loop whose fork_gen differs
 * belongs to the parent (its epoll set is shared with the parent). */
extern unsigned corio__fork_gen;

/* The calling thread's loop. */
extern _Thread_local corio_loop *corio__tls_loop;

static inline corio_loop *corio__loop(void) { return corio__tls_loop; }
static inline corio_task *corio__self(void) {
    corio_loop *l = corio__tls_loop;
    return l ? l->current : NULL;
}

/* Task-to-task dispatches between two visits of the loop's own stack
 * (timers, poller). A power of two. */
#define CORIO_DISPATCH_BUDGET 64

/* ---------- the run queue (FIFO, intrusive) ---------- */

static inline void corio__runq_push(corio_loop *l, corio_task *t) {
    t->run_next = NULL;
    if (l->runq_tail) l->runq_tail->run_next = t; else l->runq_head = t;
    l->runq_tail = t;
}
static inline corio_task *corio__runq_pop(corio_loop *l) {
    corio_task *t = l->runq_head;
    if (t) {
        l->runq_head = t->run_next;
        if (!l->runq_head) l->runq_tail = NULL;
    }
    return t;
}

/* ---------- switching (sched.c) ---------- */

void corio__task_release_zombie(corio_loop *l); /* task.c */

/* Switch from the loop's own stack into task t, with a fresh dispatch
 * budget; returns when some task switches back to the loop. */
void corio__loop_enter_task(corio_loop *l, corio_task *t);
/* Leave a finished task for good: returns the context to resume, the
 * next ready task when there is one (the loop is not needed), else the
 * loop's stack; corio__task_entry returns it to the trampoline, which
 * switches. The dead task is left in l->zombie; whoever runs next
 * releases its stack. */
corio_ctx *corio__task_leave_final(corio_loop *l, corio_task *self);
/* Release the stack of a task that just finished, if any. Called by every
 * context right after it is switched in. */
static inline void corio__reap(corio_loop *l) {
    if (l->zombie) corio__task_release_zombie(l);
}
/* The first code of every task, on its new stack (task.c); returns the
 * context to resume once the task is finished. */
corio_ctx *corio__task_entry(void *arg);
/* Called first thing on a new stack (tells ASan the switch finished). */
static inline void corio__switch_landed(void) {
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

/* Suspend the current task until unparked or until `deadline` (further
 * limited by the task's timeout scope). Returns the unpark status,
 * CORIO_ETIMEDOUT or CORIO_ECANCELED. If a cancellation is pending and the
 * task is not shielded, returns CORIO_ECANCELED without suspending.
 * Must be called from a task (returns CORIO_ENOLOOP otherwise). `what`
 * names the wait for debug listings ("sleep", "join", ...). */
int corio__park_on(int64_t deadline, const char *what);
/* Make a WAITING task ready; its park returns `status`. Inline: it is
 * half of every hand-off. */
_Noreturn void corio__unpark_not_waiting(const corio_task *t);
static inline void corio__unpark(corio_task *t, int status)
{
    if (t->state != CORIO_TASK_WAITING) corio__unpark_not_waiting(t);
    if (corio_timer_active(&t->timer))
        corio_timer_heap_remove(&t->loop->timers, &t->timer);
    t->wake_status = status;
    t->state = CORIO_TASK_READY;
    corio__runq_push(t->loop, t);
}
/* Wake t only if it is still parked. A task whose deadline or cancel
 * already woke it is READY but still sits in the queues it waited in until
 * it runs and unlinks itself; a waker that finds it there must pass it by
 * (nothing was handed to it). Returns 1 if t was woken. */
static inline int corio__unpark_if_waiting(corio_task *t, int status) {
    if (t->state != CORIO_TASK_WAITING) return 0;
    corio__unpark(t, status);
    return 1;
}
/* The timeout-scope deadline that bounds a park of t now. Unshielded:
 * every open scope (scope_deadline, their minimum). Shielded: only the
 * scopes opened inside the innermost shield, which are on top of the
 * stack with its depth (coro/timeout.c); the shield cuts off the rest. */
static inline int64_t corio__scope_deadline(const corio_task *t) {
    if (t->shield == 0) return t->scope_deadline;
    const corio_timeout *s = t->scopes;
    if (s && s->shield == t->shield)
        return s->deadline < s->bound ? s->deadline : s->bound;
    return CORIO_NEVER;
}
/* Would a park fail at once with CORIO_ECANCELED? */
static inline int corio__cancel_due(const corio_task *t) {
    return t->cancel_pending && t->shield == 0;
}

/* Debug mode (debug.c): called only when loop->debug is set. */
void corio__debug_on_spawn(corio_task *t);
void corio__debug_on_switch_in(corio_task *t);
void corio__debug_on_switch_out(corio_task *t);
void corio__debug_on_close(corio_loop *l);

/* call_later / call_at (calltimer.c): at loop close, drop the callbacks
 * still pending (free those whose handle nobody holds). */
void corio__call_timers_on_close(corio_loop *l);

/* Thread pool (pool.c): at loop close, shut the default pool down and
 * free results that can no longer reach their task. */
void corio__pool_on_loop_close(corio_loop *l);

/* Task-local storage (locals.c). */
void corio__locals_inherit(corio_task *child, const corio_task *parent);
void corio__locals_free(corio_task *t);

/* Handle bookkeeping (task.c). */
void corio__task_free(corio_task *t);

#endif
