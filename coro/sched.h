/*
 * sched.h — the scheduler's inside: the task and loop structs, the run
 * queue and the switching calls. Only coro/ includes it (and park.h, whose
 * inline accessors need the structs); every other room sees the scheduler
 * through coro/park.h.
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

/* ThreadSanitizer must hear of every stack switch too: it keeps a shadow
 * call stack and a vector clock per "fiber", and a task's stack that it
 * does not know of looks like the thread's stack suddenly jumping (wrong
 * reports, or a crash in its unwinder). Each task gets a TSan fiber the
 * first time it is switched to (sched.c), the loop's own stack is the
 * thread's fiber, and each switch is announced right before it happens
 * with __tsan_switch_to_fiber(to, 0): flag 0 makes the switch a
 * happens-before edge, which is the truth (tasks of one loop run one
 * after another on one thread). Without -fsanitize=thread nothing of this
 * is compiled (not even the struct fields). */
#if defined(__SANITIZE_THREAD__)
#define CORIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_TSAN 1
#endif
#endif
#ifdef CORIO_TSAN
#include <sanitizer/tsan_interface.h>
/* The same for the code after a dying task's last notice: its function
 * exit would pop the NEXT fiber's shadow stack. */
#define CORIO_NO_TSAN __attribute__((no_sanitize_thread))
#else
#define CORIO_NO_TSAN
#endif

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
    unsigned char fresh;      /* never switched to: enter by corio__ctx_start */
    unsigned char dense;      /* its stack is dense: check it at switches */
    unsigned char remote_h;   /* made by corio_spawn_on: `remote` is set */
    corio_task *joiner;       /* the task parked in corio_join on us */
    struct corio_waitq done_waiters; /* other waiters: task_wait_until, wait, ... */
    struct corio_task *all_prev, *all_next; /* loop's list of live handles */
    uint64_t id;
    int64_t scope_deadline;   /* innermost timeout scope (CORIO_NEVER) */
    corio_timeout *scopes;    /* open timeout scopes, innermost first */
    void *locals;             /* task-local storage (coro/locals.c) */
    /* Cold: deadlines, debug and naming. */
    corio_timer timer;        /* the park deadline */
    struct corio_waiter *parked_on; /* informational: what we wait in */
    const char *wait_what;    /* informational: "sleep", "join", ... */
    size_t stack_hwm;         /* debug: stack high-water mark in bytes */
    int64_t run_since;        /* debug: when it was last switched in */
    char name[CORIO_NAME_MAX];
#ifdef CORIO_TSAN
    void *tsan_fiber;         /* made at its first switch-in (sched.c) */
#endif
    struct corio__remote *remote; /* if remote_h: the half that other
                                     loops share (group.c) */
};

/* ---------- the loop ---------- */

typedef struct corio__netpoll corio__netpoll;

/* A message to a loop from any thread (corio__loop_post, park.h): fn(p)
 * runs on the loop's thread at the top of its next turn. Intrusive: it
 * lives in whatever it wakes (a channel waiter, a pool mailbox, a task). */
typedef struct corio__post {
    struct corio__post *next;  /* written by the poster before its CAS */
    void (*fn)(struct corio__post *p);
} corio__post;

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
    corio__netpoll *netpoll;      /* the poller (poller/netpoll.h) */
    corio_stack_pool *stacks;
    corio_task *free_tasks;       /* recycled task structs */
    corio_task *all_head;         /* every task whose handle is live */
    size_t alive;                 /* tasks not yet DONE */
    corio_task *zombie;           /* finished task whose stack to release */
    corio_task *stop_task;        /* run_until_complete target */
    corio_cb_node *cb_head, *cb_tail;     /* call_soon */
    void *ts_lock;                        /* call_soon_threadsafe */
    corio_cb_node *ts_head, *ts_tail;
    _Atomic(corio_cb_node *) ts_spare;    /* used when malloc fails */
    atomic_int ts_pending;
    int closed;
    int in_turn;                  /* a run or a step is turning it */
    uint64_t next_id;
    int64_t last_poll;
    corio_config cfg;
    unsigned fork_gen;            /* corio__fork_gen when it was made */
    void *sched_stack_lo;         /* the thread's stack, for ASan */
    size_t sched_stack_size;
    int debug;
    void *debug_state;            /* coro/debug.c */
    void *debug_tag;              /* coro/debug.c: what its objects name */
    void *pool_state;             /* flow/pool.c (thread pool hook) */
    /* The cross-thread inbox (loop.c, corio__loop_post): a lock-free
     * LIFO pushed by any thread, taken whole by the loop's thread. */
    _Atomic(corio__post *) inbox;
    atomic_int sleeping;          /* 1 while the loop may block in the poller */
    int64_t post_seen;            /* when the inbox last had something */
#ifdef CORIO_TSAN
    void *tsan_fiber;             /* the thread's own fiber (sched.c) */
#endif
};

/* Bumped in the child of every fork(): a loop whose fork_gen differs
 * belongs to the parent (its epoll set is shared with the parent). */
extern unsigned corio__fork_gen;

/* The calling thread's loop. */
extern _Thread_local corio_loop *corio__tls_loop;

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

/* TSan: forget the fiber of a task whose stack is gone (its last switch
 * out is over). Compiled to nothing without TSan. */
static inline void corio__tsan_task_gone(corio_task *t) {
#ifdef CORIO_TSAN
    if (t->tsan_fiber) __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#else
    (void)t;
#endif
}

/* Parking and unparking: park.h. */

/* Debug mode (debug.c): called only when loop->debug is set. */
void corio__debug_on_spawn(corio_task *t);
void corio__debug_on_switch_in(corio_task *t);
void corio__debug_on_switch_out(corio_task *t);
void corio__debug_on_close(corio_loop *l);
/* Debug mode turned on or off for l (its own thread), and l closing
 * (whatever its mode): the wrong-thread check's bookkeeping. */
void corio__debug_loop_mode(corio_loop *l, int on);
void corio__debug_loop_gone(corio_loop *l);

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

/* Loop groups (group.c). A task made by corio_spawn_on for another loop
 * carries a corio__remote: the state its joiners, cancellers and detacher
 * on other loops share with it under a lock. task.c calls these hooks;
 * corio__task_adopt (task.c) turns a handle allocated on the spawning
 * thread into a task of l, on l's thread: 0, or CORIO_ENOMEM (no stack),
 * and then the handle is DONE with that status. */
int  corio__task_adopt(corio_loop *l, corio_task *t, corio_fn fn, void *arg,
                       const corio_task_opts *opts);
void corio__remote_finished(corio_task *t);   /* t is DONE: tell joiners */
void corio__remote_free(corio_task *t);       /* t's handle is freed */
int  corio__remote_join_until(corio_task *t, void **result, int64_t deadline);
int  corio__remote_cancel(corio_task *t, const char *msg);
int  corio__remote_detach(corio_task *t);

#endif
