/*
 * corio.h — the one public header of corio: Python's asyncio rebuilt in C on
 * stackful coroutines.
 *
 * A task is a plain C function running on its own stack. Calls that would
 * block (sleep, join, wait on a future, a lock, a queue, a socket) suspend
 * only the calling task; the event loop of that thread keeps every other task
 * running. One loop per thread.
 *
 * Conventions used everywhere in this header:
 *   - Every public name starts with corio_ / CORIO_.
 *   - Functions that can fail return an int: 0 on success, a negative
 *     CORIO_E* code on failure (corio_strerror() turns it into text). The
 *     codes are the same on every platform.
 *   - Time is int64_t nanoseconds on a monotonic clock (corio_now()).
 *     A *deadline* is an absolute time; CORIO_NEVER means "no deadline".
 *   - The deadline rule: every call that can block comes in two forms,
 *     a plain one that waits forever and NAME_until, which takes the same
 *     parameters plus `int64_t deadline` LAST and returns CORIO_ETIMEDOUT
 *     once it passes. No other call takes a deadline (the one exception is
 *     corio_timeout_begin, which opens a deadline scope and never blocks).
 *     tests/check_deadlines.sh checks this header against the rule.
 *   - Blocking calls may only be made from inside a task.
 */
#ifndef CORIO_H
#define CORIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How the header's two inline functions (corio_queue_put / _get) are
 * declared: C99 inline, with the one external definition in the library;
 * under gnu89 inline rules a private static copy instead. */
#if defined(__GNUC_GNU_INLINE__) && !defined(__cplusplus)
#define CORIO__INLINE static inline /* gnu89 rules: keep every copy local */
#else
#define CORIO__INLINE inline
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

enum {
    CORIO_OK = 0,
    CORIO_ECANCELED = -1,   /* the calling task was cancelled */
    CORIO_ETIMEDOUT = -2,   /* the deadline passed first */
    CORIO_ENOMEM = -3,      /* out of memory (or stack mappings) */
    CORIO_EINVAL = -4,      /* invalid argument */
    CORIO_EALREADY = -5,    /* already done / already set / already joined */
    CORIO_ENOLOOP = -6,     /* blocking call made outside a task */
    CORIO_ECLOSED = -7,     /* descriptor or object closed while waiting */
    CORIO_EPERM = -8,       /* not the owner (e.g. releasing a lock not held) */
    CORIO_EFULL = -9,       /* _nowait put on a full queue */
    CORIO_EEMPTY = -10,     /* _nowait get on an empty queue */
    CORIO_ESHUTDOWN = -11,  /* queue shut down */
    CORIO_EBROKEN = -12,    /* barrier broken or aborted */
    CORIO_EOVERFLOW = -13,  /* bounded semaphore released too often */
    CORIO_EBUSY = -14,      /* resource in use (e.g. two readers on one fd) */
    CORIO_EOF = -15,        /* end of stream */
    CORIO_ELIMIT = -16,     /* a line/record longer than the reader's limit */
    CORIO_EINCOMPLETE = -17,/* stream ended before the requested bytes */
    CORIO_ECONNRESET = -18, /* connection reset by peer */
    CORIO_ECONNREFUSED = -19,
    CORIO_EPIPE = -20,      /* write to a peer that is gone */
    CORIO_EADDRINUSE = -21,
    CORIO_EMFILE = -22,     /* descriptor table full */
    CORIO_ENOTSUP = -23,    /* not supported on this platform/backend */
    CORIO_EAGAIN = -24,     /* would block (non-blocking try) */
    CORIO_ENOTFOUND = -25,  /* no such file, directory, program or host name */
    CORIO_ENOTCONN = -26,
    CORIO_EHOSTUNREACH = -27, /* host or network unreachable */
    CORIO_EIO = -28,        /* any other operating-system error */
    CORIO_EADDRNOTAVAIL = -29, /* bind to an address this machine does not
                                  have, or no local port left to connect */
    CORIO_ECONNABORTED = -30, /* connection aborted on this side */
    CORIO_EACCES = -31,     /* the operating system denied permission */
    CORIO_ELAST_ = -32
};

/* A static English description of an error code; never NULL. */
const char *corio_strerror(int err);

/*
 * The operating system's own error value behind the latest failure that
 * corio mapped to a CORIO_E* code on the calling thread: an errno value on
 * POSIX, a GetLastError() / WSAGetLastError() value on Windows.
 *
 * It is set exactly when a corio call fails because an OS call failed
 * (socket, bind, connect, accept, send, recv, pipe, fork/exec or
 * CreateProcess, close, ...), whatever CORIO_E* code that became, even
 * CORIO_EIO. It is NOT changed by calls that succeed, nor by failures that
 * are corio's own (CORIO_ETIMEDOUT from a deadline, CORIO_ECANCELED,
 * CORIO_EINVAL for an argument corio checked, queue and lock errors), nor
 * by corio_resolve (getaddrinfo's codes are not OS errors). Like errno it
 * is per thread, and the tasks of a loop share its thread: read it right
 * after the failed call, before the task blocks again. 0 if nothing has
 * failed on this thread yet.
 */
int corio_last_os_error(void);

/* ------------------------------------------------------------------ */
/* Time                                                               */
/* ------------------------------------------------------------------ */

#define CORIO_NEVER INT64_MAX
#define CORIO_US(n) ((int64_t)(n) * 1000)
#define CORIO_MS(n) ((int64_t)(n) * 1000000)
#define CORIO_SEC(n) ((int64_t)(n) * 1000000000)

/* Monotonic time in nanoseconds. */
int64_t corio_now(void);
/* corio_now() + ns, saturating at CORIO_NEVER (ns < 0 counts as 0). */
int64_t corio_deadline_in(int64_t ns);

/* ------------------------------------------------------------------ */
/* Loop                                                               */
/* ------------------------------------------------------------------ */

typedef struct corio_loop corio_loop;
typedef struct corio_task corio_task;
typedef void *(*corio_fn)(void *arg);

typedef enum {
    CORIO_STACK_GUARDED = 0, /* mmap per stack with a PROT_NONE guard page */
    CORIO_STACK_DENSE = 1    /* stacks carved from slabs, no guard page:
                                canary and stack-pointer checks instead;
                                for hundreds of thousands of tasks */
} corio_stack_mode;

/* Called once per task that loop close finds never joined or detached. */
typedef void (*corio_report_fn)(void *ctx, const char *message);

typedef struct corio_config {
    size_t stack_size;           /* default per-task stack; 0 = 256 KiB */
    corio_stack_mode stack_mode; /* default CORIO_STACK_GUARDED */
    size_t stack_pool;           /* stacks kept for reuse; 0 = 1024 */
    corio_report_fn report;      /* NULL = print to stderr */
    void *report_ctx;
    int debug;                   /* 1 = debug mode; -1 = off even if
                                    CORIO_DEBUG=1 is set; 0 = from env.
                                    Debug mode also aborts with a message
                                    when a loop's object (event, lock,
                                    queue, future, task...) is used from
                                    another thread: see "Debug mode". */
    /* Guarded mode: bytes of PROT_NONE guard below each stack, rounded up
     * to pages; 0 = one page (AArch64: 64 KiB, the guard gcc's
     * -fstack-clash-protection assumes there; Windows: a 16 KiB zone at
     * least). A frame
     * larger than the guard can jump it (README, "Stack size and
     * guard"). The guard costs address space, no memory. */
    size_t stack_guard;
} corio_config;

/* Create a loop for the calling thread (at most one per thread).
 * cfg may be NULL for defaults. NULL on failure. */
corio_loop *corio_loop_new(const corio_config *cfg);

/* Run the loop until `main` finishes; returns main's status (see
 * corio_join) and stores its result in *result if non-NULL. main is
 * consumed (joined). Other tasks keep their state and run again on the
 * next call. May not be called from inside a task. */
int corio_loop_run_until_complete(corio_loop *loop, corio_task *main,
                                  void **result);

/* Run the loop until no task is runnable, sleeping or waiting. */
int corio_loop_run(corio_loop *loop);

/* Close the loop: every task still pending is reported ("destroyed but
 * pending") and its stack freed without running it further; every finished
 * task never joined or detached is reported too. Returns how many tasks
 * were reported (0 for a clean close). */
int corio_loop_close(corio_loop *loop);

/* The calling thread's loop, or NULL. */
corio_loop *corio_loop_current(void);

/* asyncio.run(): new loop, run main(arg) to completion, cancel and finish
 * whatever tasks remain, close the loop. Returns main's status. */
int corio_run(corio_fn main, void *arg, void **result);

/* Names of the compiled-in poller backend and context switch, e.g. "epoll"
 * and "asm-x86_64-sysv". */
const char *corio_backend_name(void);
const char *corio_switch_name(void);

/* ------------------------------------------------------------------ */
/* Tasks                                                              */
/* ------------------------------------------------------------------ */

typedef enum {
    CORIO_TASK_READY,    /* runnable, waiting for its turn */
    CORIO_TASK_RUNNING,  /* the current task */
    CORIO_TASK_WAITING,  /* suspended in a blocking call */
    CORIO_TASK_DONE      /* returned (result and status are final) */
} corio_task_state;

typedef struct corio_task_opts {
    const char *name;  /* copied; NULL = "task-<id>" */
    size_t stack_size; /* 0 = the loop's default */
    size_t stack_guard; /* 0 = the loop's default (corio_config) */
} corio_task_opts;

/* Spawn fn(arg) as a new task on the current loop (or on `loop` for
 * corio_loop_spawn, usable before the loop runs). The task starts at the
 * next scheduling point. Returns NULL if no stack could be had. The handle
 * stays valid until it is joined or detached. */
corio_task *corio_spawn(corio_fn fn, void *arg, const corio_task_opts *opts);
corio_task *corio_loop_spawn(corio_loop *loop, corio_fn fn, void *arg,
                             const corio_task_opts *opts);

/* Wait for t to finish and consume the handle. Returns t's status: 0, the
 * code it set with corio_fail(), or CORIO_ECANCELED if it was cancelled;
 * *result (if non-NULL) gets its return value.
 * If the joining task is cancelled while it waits, the cancellation is
 * passed on to t and join keeps waiting for t to finish (cancellation is
 * sticky, so t stops at its next blocking call): a join never leaks its
 * task. Returns CORIO_EALREADY if t was already joined or detached. */
int corio_join(corio_task *t, void **result);
/* The same until a deadline. When the deadline itself passes first,
 * returns CORIO_ETIMEDOUT and t is LEFT RUNNING and still joinable: the
 * caller stopped waiting, nothing else changed (asyncio's wait_for would
 * cancel t; that is corio_wait_for_task_until). A timeout scope that
 * passes first still cancels t and waits, as for corio_join. */
int corio_join_until(corio_task *t, void **result, int64_t deadline);

/* Wait for t to finish without consuming it. 0 when t is done,
 * CORIO_ETIMEDOUT, or CORIO_ECANCELED if the waiter was cancelled. */
int corio_task_wait(corio_task *t);
int corio_task_wait_until(corio_task *t, int64_t deadline);

/* Let t run on its own: its handle is freed when it finishes. */
int corio_detach(corio_task *t);

/* Request cancellation of t (see "Cancellation" below). 0, or
 * CORIO_EALREADY if t has already finished. */
int corio_cancel(corio_task *t);
/* asyncio's task.cancel(msg): the same, with a reason the task (or whoever
 * joins it) can read with corio_cancel_message. The string is not copied:
 * it must outlive the task (a literal, typically). The first reason given
 * is kept. corio_cancel_message: NULL if t was not cancelled or was
 * cancelled without one; usable until t's handle is consumed. */
int corio_cancel_msg(corio_task *t, const char *msg);
const char *corio_cancel_message(const corio_task *t);

corio_task *corio_current(void);            /* NULL outside a task */
corio_task_state corio_task_state_of(const corio_task *t);
bool corio_task_done(const corio_task *t);
bool corio_task_cancelled(const corio_task *t); /* cancel requested */
const char *corio_task_name(const corio_task *t);
uint64_t corio_task_id(const corio_task *t);
const char *corio_task_state_name(corio_task_state s);

/* Finish the current task with an error status: `return corio_fail(err);`
 * Always returns NULL. */
void *corio_fail(int err);

/* Give every other ready task a turn. Returns CORIO_ECANCELED if the task
 * is cancelled, CORIO_ETIMEDOUT if an enclosing timeout scope has expired
 * (it still yields in both cases, as asyncio's sleep(0) does), else 0.
 * corio_sleep(0) and a sleep to a past deadline are a yield. */
int corio_yield(void);
int corio_sleep(int64_t ns);
int corio_sleep_until(int64_t deadline);

/* ------------------------------------------------------------------ */
/* Loop groups: one loop per core (coro/group.c, docs/cores.md)       */
/* ------------------------------------------------------------------ */
/*
 * corio_run_loops starts n loops on n threads, each running main(arg) as
 * its main task, like n corio_run calls side by side. The loops share
 * nothing but what you hand them: a task lives on the loop that made it,
 * and so does every lock, queue, event, future, stream and descriptor.
 *
 * What one loop may do to another (from any of its tasks):
 *   - corio_spawn_on(loop, ...): start a task over there;
 *   - corio_join / corio_join_until, corio_cancel / corio_cancel_msg and
 *     corio_detach of a handle that corio_spawn_on returned: the joiner
 *     parks on its OWN loop, and the task's loop wakes it when it is done;
 *   - corio_call_soon_threadsafe(loop, ...).
 * Nothing else: the other queries of such a handle (state, name, done,
 * wait) and every sync object belong to the handle's own loop only.
 *
 * Ending: when a main fails (a status other than 0), the group cancels
 * the other loops' mains, as a task group does. Tasks still running once
 * every main has returned are cancelled and waited for, on every loop;
 * then every loop closes, and corio_run_loops returns.
 */
typedef struct corio_loops_opts {
    bool pin;                   /* pin loop i to CPU i (modulo the CPUs);
                                   no effect where the OS cannot pin */
    const corio_config *config; /* every loop's config; NULL = defaults */
    int *statuses;              /* NULL, or n slots: each main's status */
    void **results;             /* NULL, or n slots: each main's result */
} corio_loops_opts;

/* How many loops n = 0 asks for: CORIO_LOOPS=<1..1024> from the
 * environment, else the online CPUs; 0 if CORIO_LOOPS is set but is not
 * such a number. */
unsigned corio_loops_default(void);
/* Run main(arg) on n loops (0 = corio_loops_default()) and return when all
 * have finished: 0 if every main returned 0, else the status of the first
 * main that failed; CORIO_EINVAL (no main, n > 1024, a bad CORIO_LOOPS,
 * called from a task), CORIO_ENOMEM (a thread or a loop could not be had:
 * no main has run then). o may be NULL. */
int corio_run_loops(unsigned n, corio_fn main, void *arg,
                    const corio_loops_opts *o);
/* The calling thread's place: its loop's index in its group (0 for a
 * loop of its own), the group's size (1 for a loop of its own, 0 on a
 * thread without a loop), and loop i of the group (NULL past the end). */
unsigned corio_loop_index(void);
unsigned corio_loop_count(void);
corio_loop *corio_loop_at(unsigned i);
/* Spawn fn(arg) on `loop` (any loop, from any thread; on the calling
 * thread's own loop it is corio_loop_spawn). Never blocks: the task starts
 * once that loop has read the request (corio_call_soon_threadsafe's path,
 * whose wake-ups coalesce). Returns NULL on bad arguments, out of memory,
 * or a closed loop. If the other loop cannot give it a stack, the task
 * finishes at once with CORIO_ENOMEM. */
corio_task *corio_spawn_on(corio_loop *loop, corio_fn fn, void *arg,
                           const corio_task_opts *opts);

/* ------------------------------------------------------------------ */
/* Cancellation                                                       */
/* ------------------------------------------------------------------ */
/*
 * corio_cancel(t) is a request. It is delivered only at a suspension
 * point: the blocking call t is in (or the next one it makes) returns
 * CORIO_ECANCELED. Cancellation is STICKY: from then on every blocking call
 * of t returns CORIO_ECANCELED at once, so a task that ignores the code
 * still cannot block forever. Cleanup that must block (flush, goodbye
 * message) goes inside a shield: between corio_shield_begin() and
 * corio_shield_end() blocking calls work normally; on leaving the outermost
 * shield the pending cancellation is delivered again. A task whose
 * cancellation was requested finishes with status CORIO_ECANCELED unless it
 * called corio_fail() with another code.
 *
 * EVERY SPAWNED TASK RUNS ITS FUNCTION, even one cancelled before its first
 * turn: the cancel then reaches it at its first suspension point, like any
 * other. So a task's function may own what its argument holds (a
 * descriptor, a buffer, a slot) and always gets to give it back. (asyncio
 * never starts a coroutine cancelled before its first step; Trio, libdill
 * and Kotlin's ATOMIC start do as corio does: in C, nothing else would
 * release what the function owns.)
 */
void corio_shield_begin(void);
void corio_shield_end(void);
/* True if the current task has a cancellation pending (shield or not). */
bool corio_cancelled(void);

/* ------------------------------------------------------------------ */
/* Futures                                                            */
/* ------------------------------------------------------------------ */

typedef struct corio_future corio_future;

corio_future *corio_future_new(void);
/* Waiters still parked on it are woken with CORIO_ECLOSED. */
void corio_future_free(corio_future *f);
/* Set once; a second set returns CORIO_EALREADY. Wakes every waiter.
 * Only from the future's own loop (use corio_call_soon_threadsafe from
 * other threads). */
int corio_future_set_result(corio_future *f, void *value);
int corio_future_set_error(corio_future *f, int err);
bool corio_future_done(const corio_future *f);
/* asyncio's Future.cancel(): settle f as cancelled; its waiters (and any
 * later wait) get CORIO_ECANCELED. 0, or CORIO_EALREADY if already done.
 * corio_future_cancelled: done by cancel (or set_error(CORIO_ECANCELED)). */
int corio_future_cancel(corio_future *f);
bool corio_future_cancelled(const corio_future *f);
/* A task that waits for f and finishes with its outcome (result = the
 * value, status = 0 or the error f was set with), to put a future among
 * TASKS in corio_gather, corio_wait, corio_as_completed or
 * corio_shield_join. Futures alone compose without a task per future:
 * corio_gather_futures, corio_wait_futures, corio_as_completed_init_futures,
 * corio_shield_future (Composition, below). Cancelling the task while f is pending cancels f (a
 * cancelled gather cancels its futures). f must outlive the task. NULL if
 * f is NULL or no task could be spawned. */
corio_task *corio_future_task(corio_future *f, const corio_task_opts *opts);
/* Wait until set. Returns 0 (value in *value) or the error it was set
 * with; CORIO_ETIMEDOUT / CORIO_ECANCELED concern the waiter. A future
 * that is already done returns at once, even to a cancelled task. */
int corio_future_wait(corio_future *f, void **value);
int corio_future_wait_until(corio_future *f, void **value, int64_t deadline);

/* ------------------------------------------------------------------ */
/* Descriptors and the poller                                         */
/* ------------------------------------------------------------------ */

#ifdef _WIN32
typedef uintptr_t corio_fd; /* a SOCKET */
#else
typedef int corio_fd;
#endif

/*
 * Park the current task until fd is readable / writable. Works on any
 * pollable descriptor (pipe, socket, eventfd). The descriptor is attached
 * to the loop's poller on first use and stays attached: close it with
 * corio_fd_close(), or corio_fd_detach() it before closing it yourself.
 * Returns 0, CORIO_ETIMEDOUT, CORIO_ECANCELED, CORIO_EBUSY (another task
 * already waits in that direction) or CORIO_ECLOSED (another task closed
 * it through corio_fd_close while we waited).
 */
int corio_wait_readable(corio_fd fd);
int corio_wait_readable_until(corio_fd fd, int64_t deadline);
int corio_wait_writable(corio_fd fd);
int corio_wait_writable_until(corio_fd fd, int64_t deadline);
/* Forget fd: waiters are woken with CORIO_ECLOSED. Does not close it. */
int corio_fd_detach(corio_fd fd);
/* Close any descriptor corio made or waited on (socket, pipe end): tasks
 * waiting on it wake with CORIO_ECLOSED, it leaves the poller, then it is
 * closed (closesocket on Windows). A second close of the same number is
 * CORIO_ECLOSED and closes nothing, even if the number was reused by a
 * descriptor opened in between (POSIX; docs/net.md). */
int corio_fd_close(corio_fd fd);

/* ------------------------------------------------------------------ */
/* Callbacks                                                          */
/* ------------------------------------------------------------------ */

typedef void (*corio_callback)(void *arg);

/* Run cb(arg) on `loop` soon, from ANY thread; wakes the loop if it sleeps
 * in the poller. Callbacks run on the loop's own stack, in FIFO order, and
 * must not block (they may spawn tasks, set futures, cancel). Returns
 * CORIO_ENOMEM or CORIO_ECLOSED (loop closed). */
int corio_call_soon_threadsafe(corio_loop *loop, corio_callback cb, void *arg);
/* Same, from the loop's own thread, without locking. */
int corio_call_soon(corio_callback cb, void *arg);

/* ---- call_later / call_at: asyncio's TimerHandle ---- */
/*
 * Run cb(arg) on the current loop once `delay_ns` has passed (call_later)
 * or at the absolute `deadline` (call_at, on corio_now's clock), on the
 * loop's own stack like a call_soon callback: it must not block. No task
 * and no stack per timer, only a small node on the loop's timer heap, so
 * a program may keep millions pending. Callbacks due at the same time run
 * in the order they were scheduled. A pending callback does not keep
 * corio_loop_run going (no task is alive for it), and callbacks still
 * pending at loop close are dropped.
 * handle: NULL, and the loop frees the node after the callback ran; or
 * where to put a handle, which is then YOURS until corio_call_cancel
 * gives it back (whether the callback ran or not).
 * 0, CORIO_EINVAL, CORIO_ENOLOOP (outside the loop's thread), CORIO_ENOMEM.
 */
typedef struct corio_call_handle corio_call_handle;
int corio_call_later(int64_t delay_ns, corio_callback cb, void *arg,
                     corio_call_handle **handle);
int corio_call_at(int64_t when, corio_callback cb, void *arg,
                  corio_call_handle **handle);
/* Cancel the call if it has not run, and free the handle (asyncio's
 * TimerHandle.cancel). 0 if it was cancelled in time, CORIO_EALREADY if
 * it had run (or was dropped at loop close). From the loop's thread. */
int corio_call_cancel(corio_call_handle *h);
/* Not yet run (asyncio: not cancelled and not yet called). */
bool corio_call_pending(const corio_call_handle *h);
/* asyncio's TimerHandle.when(). */
int64_t corio_call_when(const corio_call_handle *h);

/* ------------------------------------------------------------------ */
/* Synchronisation primitives and queues (sync/)                      */
/* ------------------------------------------------------------------ */
/*
 * asyncio's Lock, Semaphore, BoundedSemaphore, Event, Condition, Barrier,
 * Queue, LifoQueue and PriorityQueue (docs/sync.md has the whole story).
 *
 * They are plain structs, so you can embed them in your own structs with
 * no malloc:      corio_lock l;  corio_lock_init(&l);  ...  corio_lock_destroy(&l);
 * or initialise them statically, as asyncio code makes them at module level:
 *                 static corio_lock l = CORIO_LOCK_INIT;
 * Every object below has such a CORIO_*_INIT, and an object made with it
 * is in exactly the state its _init function leaves (tests/test_static_init.c
 * checks each, field by field and by behaviour). It needs no _destroy unless
 * it was used (a queue that was put to holds a buffer).
 * Their fields are PRIVATE (read them through the functions), and an
 * initialised object must not be copied or moved: waiting tasks point at it.
 *
 * Rules shared by every object below:
 *   - It belongs to one loop: use it from that loop's tasks only. Calls
 *     that never block and need no owner (corio_sem_release, event set /
 *     clear, queue _nowait, task_done, shutdown, barrier abort / reset) may
 *     also be made from a callback on that loop's thread; a lock is
 *     released, and a condition notified, by the task holding the lock.
 *   - Waiters are served in FIFO order, and what a release gives away (the
 *     lock, a semaphore unit, a queue item, a free queue slot) is handed
 *     directly to the first waiter: no later arrival can barge in.
 *   - Every blocking call has an _until(..., deadline) form; the plain form
 *     waits forever. CORIO_ETIMEDOUT / CORIO_ECANCELED mean nothing was
 *     handed to the caller (whatever was on offer went to the next waiter);
 *     a call that returns 0 did get it, even if a cancellation arrived a
 *     moment later (that one is delivered at the next blocking call).
 *   - A call that can succeed without suspending does so even if the task
 *     has a cancellation pending, like asyncio, where an await that does not
 *     suspend cannot be interrupted.
 *   - _destroy wakes any task still waiting with CORIO_ECLOSED; destroy an
 *     object only once nobody uses it.
 */

struct corio_waiter; /* coro/park.h: one parked task, on its own stack */

/* Private: a FIFO of parked tasks (coro/park.h works on it). Public only
 * because the objects below embed one. */
typedef struct corio_waitq {
    struct corio_waiter *head, *tail;
    size_t len;
    void *owner;          /* debug mode: the object's loop (coro/debug.c) */
} corio_waitq;

/* ---- Lock: asyncio.Lock, fair, owned by the task that acquired it ---- */

typedef struct corio_lock {
    corio_task *owner;    /* holder, NULL when free */
    corio_waitq waiters;  /* tasks in acquire */
} corio_lock;

#define CORIO_WAITQ_INIT_ { NULL, NULL, 0, NULL } /* private: an empty corio_waitq */
#define CORIO_LOCK_INIT { NULL, CORIO_WAITQ_INIT_ }

void corio_lock_init(corio_lock *l);
void corio_lock_destroy(corio_lock *l);
/* 0 once the caller holds the lock; CORIO_EALREADY if it already holds it
 * (it would wait for itself forever); CORIO_ETIMEDOUT, CORIO_ECANCELED. */
int corio_lock_acquire(corio_lock *l);
int corio_lock_acquire_until(corio_lock *l, int64_t deadline);
/* 0, or CORIO_EAGAIN if the lock is held. */
int corio_lock_try_acquire(corio_lock *l);
/* Hand the lock to the first waiter, or free it. CORIO_EPERM if the
 * calling task does not hold it. */
int corio_lock_release(corio_lock *l);
bool corio_lock_locked(const corio_lock *l);
/* Tasks waiting in acquire (asyncio's repr "waiters:N"). */
size_t corio_lock_n_waiting(const corio_lock *l);

/* ---- Semaphore and BoundedSemaphore ---- */

typedef struct corio_sem {
    size_t value;         /* units available now */
    size_t bound;         /* bounded: the initial value, never exceeded */
    bool bounded;
    size_t handed;        /* units handed to woken waiters not yet run */
    corio_waitq waiters;  /* tasks in acquire */
} corio_sem;

/* Static forms of corio_sem_init / corio_bsem_init:
 *     static corio_sem s = CORIO_SEM_INIT(4);  */
#define CORIO_SEM_INIT(value) { (value), (value), false, 0, CORIO_WAITQ_INIT_ }
#define CORIO_BSEM_INIT(value) { (value), (value), true, 0, CORIO_WAITQ_INIT_ }

void corio_sem_init(corio_sem *s, size_t value);
/* A BoundedSemaphore: releasing it above `value` is CORIO_EOVERFLOW. */
void corio_bsem_init(corio_sem *s, size_t value);
void corio_sem_destroy(corio_sem *s);
/* Take one unit: 0, CORIO_ETIMEDOUT, CORIO_ECANCELED. FIFO with no
 * barging, as asyncio since 3.11.1 (gh-90155): while a waiter that was
 * handed a unit has not run yet, a newcomer waits even if value > 0. */
int corio_sem_acquire(corio_sem *s);
int corio_sem_acquire_until(corio_sem *s, int64_t deadline);
/* 0, or CORIO_EAGAIN if acquire would suspend (corio_sem_locked). */
int corio_sem_try_acquire(corio_sem *s);
/* Give one unit back (to the first waiter if there is one). Any task may
 * release. 0, or CORIO_EOVERFLOW for a bounded semaphore already full. */
int corio_sem_release(corio_sem *s);
size_t corio_sem_value(const corio_sem *s);
/* asyncio's locked(): true if acquire would suspend, that is if no unit
 * is free or a woken waiter has not taken its unit yet. */
bool corio_sem_locked(const corio_sem *s);
/* Tasks waiting in acquire. */
size_t corio_sem_n_waiting(const corio_sem *s);

/* ---- Event ---- */

typedef struct corio_event {
    bool is_set;
    corio_waitq waiters;  /* tasks in wait */
} corio_event;

#define CORIO_EVENT_INIT { false, CORIO_WAITQ_INIT_ }

void corio_event_init(corio_event *e);
void corio_event_destroy(corio_event *e);
/* Set the flag and wake every waiter (they return 0 even if the event is
 * cleared again before they run). */
void corio_event_set(corio_event *e);
void corio_event_clear(corio_event *e);
bool corio_event_is_set(const corio_event *e);
/* 0 once the event is set; CORIO_ETIMEDOUT, CORIO_ECANCELED. */
int corio_event_wait(corio_event *e);
int corio_event_wait_until(corio_event *e, int64_t deadline);
/* Tasks waiting for the event (a woken one no longer counts). */
size_t corio_event_n_waiting(const corio_event *e);

/* ---- Condition ---- */

typedef struct corio_cond {
    corio_lock *lock;     /* the lock it works with: own_lock or the caller's */
    corio_lock own_lock;
    corio_waitq waiters;  /* tasks in wait */
} corio_cond;

typedef bool (*corio_predicate)(void *arg);

/* Static forms. A condition with its own lock points at it, so the macro
 * needs the variable's name:
 *     static corio_cond c = CORIO_COND_INIT(c);            // Condition()
 *     static corio_cond d = CORIO_COND_INIT_LOCK(&l);      // Condition(l) */
#define CORIO_COND_INIT(self) \
    { &(self).own_lock, CORIO_LOCK_INIT, CORIO_WAITQ_INIT_ }
#define CORIO_COND_INIT_LOCK(lockp) \
    { (lockp), CORIO_LOCK_INIT, CORIO_WAITQ_INIT_ }

/* lock NULL: the condition makes its own (asyncio.Condition()). */
void corio_cond_init(corio_cond *c, corio_lock *lock);
void corio_cond_destroy(corio_cond *c);
corio_lock *corio_cond_lock(corio_cond *c);
/* The lock's acquire / release, for convenience. */
int corio_cond_acquire(corio_cond *c);
int corio_cond_acquire_until(corio_cond *c, int64_t deadline);
int corio_cond_release(corio_cond *c);
/*
 * Release the lock, wait for a notify, re-acquire the lock. The caller
 * must hold the lock (else CORIO_EPERM, and nothing happens). Returns 0
 * when notified, CORIO_ETIMEDOUT or CORIO_ECANCELED otherwise, and in
 * EVERY one of these cases returns holding the lock again (the re-acquire
 * is shielded from cancellation and deadlines, as in asyncio).
 */
int corio_cond_wait(corio_cond *c);
int corio_cond_wait_until(corio_cond *c, int64_t deadline);
/* Wait until pred(arg) is true (checked first, then after each wake-up
 * with the lock held). 0 once it is true; else the error of the last wait
 * (still holding the lock). A predicate true at the first check returns 0
 * even if the caller does not hold the lock (as asyncio); only a call that
 * would wait without the lock is CORIO_EPERM. */
int corio_cond_wait_for(corio_cond *c, corio_predicate pred, void *arg);
int corio_cond_wait_for_until(corio_cond *c, corio_predicate pred, void *arg,
                              int64_t deadline);
/* Wake up to n waiters, oldest first. The caller must hold the lock.
 * Returns how many were woken, or CORIO_EPERM. */
int corio_cond_notify(corio_cond *c, size_t n);
int corio_cond_notify_all(corio_cond *c);
/* asyncio's Condition.locked(): the lock is held (by any task). */
bool corio_cond_locked(const corio_cond *c);
/* Tasks waiting for a notify (not those re-acquiring the lock). */
size_t corio_cond_n_waiting(const corio_cond *c);

/* ---- Barrier ---- */

typedef struct corio_barrier {
    unsigned parties;
    bool broken;
    corio_waitq waiters;  /* tasks in wait, in arrival order */
    corio_waitq draining; /* let through (or broken), not yet left */
    corio_waitq blocked;  /* arrived while draining: the next group */
    size_t entering;      /* woken from `blocked`, not yet arrived again */
} corio_barrier;

/* Static form of corio_barrier_init; parties must be 1 .. INT_MAX (the
 * macro cannot refuse a bad count: use the function when it is computed).
 *     static corio_barrier b = CORIO_BARRIER_INIT(3);  */
#define CORIO_BARRIER_INIT(parties)                                      \
    { (parties), false, CORIO_WAITQ_INIT_, CORIO_WAITQ_INIT_,            \
      CORIO_WAITQ_INIT_, 0 }

/* 0, or CORIO_EINVAL if parties is 0 or above INT_MAX. */
int corio_barrier_init(corio_barrier *b, unsigned parties);
void corio_barrier_destroy(corio_barrier *b);
/*
 * Wait until `parties` tasks wait together, then let them all through.
 * Returns the caller's arrival index in its group, 0 .. parties-1 (the last
 * arrival gets parties-1), or a negative code: CORIO_EBROKEN (aborted or
 * reset), CORIO_ETIMEDOUT, CORIO_ECANCELED. A waiter that times out or is
 * cancelled withdraws without breaking the barrier, as in asyncio.
 * States as asyncio's: after a group is let through the barrier DRAINS
 * until each of its tasks has run; a task that arrives meanwhile waits for
 * the next group. A reset or abort breaks the tasks still waiting and
 * those let through that have not run yet (both get CORIO_EBROKEN).
 */
int corio_barrier_wait(corio_barrier *b);
int corio_barrier_wait_until(corio_barrier *b, int64_t deadline);
/* Break the barrier: every waiter and every later wait gets CORIO_EBROKEN
 * until corio_barrier_reset. */
void corio_barrier_abort(corio_barrier *b);
/* Wake every waiter with CORIO_EBROKEN and return to the empty state
 * (asyncio's "resetting" until the broken tasks have left). */
void corio_barrier_reset(corio_barrier *b);
unsigned corio_barrier_parties(const corio_barrier *b);
/* Tasks waiting in the group filling up (0 while draining, as asyncio). */
size_t corio_barrier_n_waiting(const corio_barrier *b);
bool corio_barrier_broken(const corio_barrier *b);
/* True while tasks let through (or broken by a reset) have not left yet:
 * asyncio's "draining" and "resetting" states. */
bool corio_barrier_draining(const corio_barrier *b);

/* ---- Queues: Queue (FIFO), LifoQueue, PriorityQueue ---- */

typedef enum {
    CORIO_QUEUE_FIFO,
    CORIO_QUEUE_LIFO,
    CORIO_QUEUE_PRIORITY  /* lowest priority first; FIFO among equals */
} corio_queue_kind;

/* Embeddable like the objects above; its fields (private) are laid out in
 * corio_inline.h, beside the inline put and get that read them. */
typedef struct corio_queue corio_queue;

/* maxsize 0 = unbounded. 0, or CORIO_ENOMEM. */
int corio_queue_init(corio_queue *q, corio_queue_kind kind, size_t maxsize);
/* Static form: the buffer is allocated by the first put (which can then
 * return CORIO_ENOMEM, the item still the caller's); destroy it as usual.
 *     static corio_queue q = CORIO_QUEUE_INIT(CORIO_QUEUE_FIFO, 16);  */
#define CORIO_QUEUE_INIT(kind, maxsize)                                  \
    { (kind), (maxsize), NULL, 0, 0, 0, 0, 0, false,                     \
      CORIO_WAITQ_INIT_, CORIO_WAITQ_INIT_, CORIO_WAITQ_INIT_ }
/* Frees the buffer; items still inside are the caller's to have drained. */
void corio_queue_destroy(corio_queue *q);

/* Put an item (priority 0). 0, CORIO_ESHUTDOWN, CORIO_ETIMEDOUT,
 * CORIO_ECANCELED, CORIO_ENOMEM (unbounded queue could not grow); on any
 * error the item was NOT queued and is still the caller's.
 * corio_queue_put is inline (corio_inline.h): its common case costs no
 * call. The library holds an ordinary definition too, so its address can
 * be taken like any function's. */
CORIO__INLINE int corio_queue_put(corio_queue *q, void *item);
int corio_queue_put_until(corio_queue *q, void *item, int64_t deadline);
/* CORIO_EFULL instead of waiting. */
int corio_queue_put_nowait(corio_queue *q, void *item);
/* The same with a priority (lower comes out first; ignored by FIFO/LIFO). */
int corio_queue_put_prio(corio_queue *q, void *item, int64_t prio);
int corio_queue_put_prio_until(corio_queue *q, void *item, int64_t prio,
                               int64_t deadline);
int corio_queue_put_prio_nowait(corio_queue *q, void *item, int64_t prio);

/* Take an item into *item. 0, CORIO_ESHUTDOWN (shut down and empty),
 * CORIO_ETIMEDOUT, CORIO_ECANCELED. corio_queue_get is inline too. */
CORIO__INLINE int corio_queue_get(corio_queue *q, void **item);
int corio_queue_get_until(corio_queue *q, void **item, int64_t deadline);
/* CORIO_EEMPTY instead of waiting. */
int corio_queue_get_nowait(corio_queue *q, void **item);

/* One item taken earlier is fully processed. CORIO_EINVAL if called more
 * times than items were put. */
int corio_queue_task_done(corio_queue *q);
/* Wait until every item put has been matched by task_done. */
int corio_queue_join(corio_queue *q);
int corio_queue_join_until(corio_queue *q, int64_t deadline);

/* Python 3.13's Queue.shutdown: later puts fail with CORIO_ESHUTDOWN, and
 * so do gets once the queue is empty; every blocked putter and getter is
 * woken with CORIO_ESHUTDOWN. immediate: the items still queued are
 * dropped (each counts as task_done) instead of being left for getters. */
void corio_queue_shutdown(corio_queue *q, bool immediate);
bool corio_queue_is_shutdown(const corio_queue *q);
size_t corio_queue_size(const corio_queue *q);
size_t corio_queue_maxsize(const corio_queue *q);
bool corio_queue_empty(const corio_queue *q);
bool corio_queue_full(const corio_queue *q);
/* Tasks blocked in get (the queue was empty) / in put (it was full). */
size_t corio_queue_n_getters(const corio_queue *q);
size_t corio_queue_n_putters(const corio_queue *q);

/* ------------------------------------------------------------------ */
/* Task-local values (asyncio's contextvars)                          */
/* ------------------------------------------------------------------ */
/*
 * A corio_local is a key, usually a static variable:
 *     static corio_local request_id = CORIO_LOCAL_INIT("request_id", NULL);
 * Each task sees its own value. A child task starts with a copy of its
 * parent's values at spawn time (later changes on either side are not
 * seen by the other), like asyncio's copy_context() at create_task.
 * Values are plain pointers: corio never frees them.
 */
typedef struct corio_local {
    const char *name;
    void *initial;  /* what get returns where nothing was set */
    int slot_;      /* private: assigned on first use */
} corio_local;
#define CORIO_LOCAL_INIT(name, initial) { (name), (initial), 0 }

void *corio_local_get(corio_local *key);
/* CORIO_ENOLOOP outside a task, CORIO_ENOMEM. */
int corio_local_set(corio_local *key, void *value);

/* ------------------------------------------------------------------ */
/* Debug mode                                                         */
/* ------------------------------------------------------------------ */
/*
 * On with CORIO_DEBUG=1 in the environment, corio_config.debug = 1, or
 * corio_debug_set(). In debug mode the loop
 *   - reports a task that ran more than 100 ms without suspending (name,
 *     time), like asyncio's slow-callback warning;
 *   - paints each new stack so it can tell each task's stack high-water
 *     mark (corio_all_tasks, and the deepest task at loop close);
 *   - lists the tasks still alive at loop close with their state;
 *   - catches a loop's object used from another thread: an event, lock,
 *     semaphore, condition, barrier, queue or future, or a task's join,
 *     cancel or detach, called from a thread that is not running the
 *     object's loop (a plain pthread, a pool worker, another loop's
 *     thread), prints what was called on which object, the object's loop
 *     and both threads, and aborts. Such a call is a data race, and an
 *     event set from a pthread, say, would leave its waiter hanging
 *     silently. An object learns its loop when it is made inside one, or
 *     else at its first use from a loop (or from the tasks parked in it).
 *     The thread-safe way in is corio_call_soon_threadsafe(loop, fn, arg)
 *     (fn then runs on the loop's thread), or the result of a pool call.
 *     Not checked: the inline fast path of corio_queue_put / _get, a wait
 *     on an event already set, an acquire that succeeds at once.
 * Reports go to corio_config.report (stderr by default); the wrong-thread
 * message always goes to stderr, just before the abort.
 */
int corio_debug_set(corio_loop *loop, int on);
/* The slow-task threshold, default 100 ms. */
void corio_debug_slow_ns(corio_loop *loop, int64_t ns);

typedef struct corio_task_info {
    uint64_t id;
    const char *name;         /* valid until the task is freed */
    corio_task_state state;
    const char *waiting_in;   /* "sleep", "join", "readable", ... or NULL */
    int cancel_requested;
    size_t stack_size;
    size_t stack_high_water;  /* bytes ever used; 0 unless debug mode */
} corio_task_info;

/* asyncio.all_tasks(): fills up to max entries for the live task handles
 * of loop (NULL = current) and returns how many there are in all. */
size_t corio_all_tasks(corio_loop *loop, corio_task_info *out, size_t max);

/* ------------------------------------------------------------------ */
/* Loop statistics                                                    */
/* ------------------------------------------------------------------ */
/*
 * What a loop holds right now, for monitoring and leak hunting (make soak
 * prints them once a second). The struct grows at its end in later
 * versions: the caller sets `size` to sizeof(corio_loop_stats) as it was
 * compiled, the library fills the fields that fit in that size and zeroes
 * the rest, so a program built against an older header keeps working.
 * Counts are of this moment, not totals. Call it on the loop's own thread.
 */
typedef struct corio_loop_stats {
    size_t size;            /* in: sizeof(corio_loop_stats) */
    size_t tasks_alive;     /* spawned and not yet finished */
    size_t stacks_pooled;   /* stacks in the free pool, ready for reuse */
    size_t stacks_mapped;   /* stacks that hold memory: in use + pooled
                               (dense mode: every stack the slabs hold) */
    size_t timers_armed;    /* deadlines and sleeps in the timer heap */
    size_t fds_registered;  /* descriptors attached to the poller */
    size_t reserved[10];    /* zero; room for the fields still to come */
} corio_loop_stats;

/* Fill *out for loop (NULL = the calling thread's). 0; CORIO_ENOLOOP (no
 * loop); CORIO_EINVAL (out NULL, or out->size smaller than the first two
 * fields). (Named _get_ because a C function cannot share the type's
 * name.) */
int corio_loop_get_stats(corio_loop *loop, corio_loop_stats *out);

/* ------------------------------------------------------------------ */
/* Composition: gather, wait, as_completed, timeouts, task groups, thread pool */
/* ------------------------------------------------------------------ */
/*
 * asyncio's chapter-4 tools and its executors (docs/compose.md shows each
 * beside its asyncio equivalent). Two small types recur:
 *
 *   corio_outcome  what a piece of work ended with: its return value and
 *                  its status (0, its corio_fail code, CORIO_ECANCELED).
 *                  Calls that run work for you report the WORK's outcome
 *                  there and THEIR OWN fate (timed out, cancelled) in
 *                  their return value, so the two never get mixed up.
 *   corio_discard_fn  called with a result nobody is left to receive
 *                  (`free` fits): the caller gave up waiting, the work
 *                  could not be stopped, and its result still arrives.
 *
 * Whenever a call below gives up because ITS CALLER was cancelled or its
 * deadline (or an enclosing timeout scope) passed, every child it spawned
 * or was handed is cancelled and waited for before it returns, unless the
 * description says the work is shielded. Nothing outlives the call
 * without somebody owning it.
 */

typedef struct corio_outcome {
    void *result;  /* the function's return value */
    int status;    /* 0, its corio_fail code, or CORIO_ECANCELED */
} corio_outcome;

typedef struct corio_call {
    corio_fn fn;
    void *arg;
} corio_call;

typedef void (*corio_discard_fn)(void *result);

/* ---- gather: asyncio.gather ---- */

/* Collect every outcome, errors included (asyncio's return_exceptions). */
#define CORIO_GATHER_RETURN_ERRORS 0x1
/* At the first error, cancel the others and wait for them before
 * returning (always the case for corio_gather_calls). */
#define CORIO_GATHER_CANCEL_ON_ERROR 0x2

/*
 * Wait for n tasks and put their outcomes in out[0..n) (out may be NULL),
 * in the order of tasks[], whatever order they finish in. Each task that
 * finishes is JOINED by gather: its handle is consumed and tasks[i] is set
 * to NULL.
 *
 * Default mode: returns 0 once all succeeded, or the status of the first
 * task to fail as soon as it fails. The tasks still running then KEEP
 * RUNNING, as in asyncio: their handles stay in tasks[] (out[i].status is
 * CORIO_EAGAIN for them) and belong to the caller, who must join, cancel
 * or detach them. With CORIO_GATHER_CANCEL_ON_ERROR they are cancelled and
 * joined instead, so tasks[] comes back all NULL.
 * CORIO_GATHER_RETURN_ERRORS: waits for all and returns how many failed
 * (>= 0); the statuses are in out[].
 * If the caller is cancelled, or the deadline or a timeout scope passes,
 * every task still running is cancelled and joined (out[] gets their
 * outcomes, tasks[] comes back all NULL) and gather returns
 * CORIO_ECANCELED / CORIO_ETIMEDOUT. CORIO_EINVAL for a NULL, joined or
 * detached handle, or one given twice (asyncio makes a set of its
 * arguments; a handle is joined once) (nothing is consumed then),
 * CORIO_ENOMEM.
 */
int corio_gather(corio_task **tasks, size_t n, corio_outcome *out, int flags);
int corio_gather_until(corio_task **tasks, size_t n, corio_outcome *out,
                       int flags, int64_t deadline);
/* Spawn calls[i].fn(calls[i].arg) as n tasks and gather them. The caller
 * never sees the handles, so nothing is left running on return: at the
 * first error (default mode) the rest are cancelled and joined, and out[]
 * receives every outcome, so no result is lost. */
int corio_gather_calls(const corio_call *calls, size_t n, corio_outcome *out,
                       int flags);
int corio_gather_calls_until(const corio_call *calls, size_t n,
                             corio_outcome *out, int flags, int64_t deadline);
/*
 * asyncio.gather over futures, with no task per future: out[i] gets
 * fs[i]'s value and its error (0, the set_error code, CORIO_ECANCELED)
 * once it is set. Flags and return values as corio_gather. Futures are not
 * consumed (the caller still frees them) and the same future may appear
 * twice. A future already set answers without suspending. What asyncio
 * does to its children, this does to the futures still pending: if the
 * caller is cancelled or the deadline or a timeout scope passes, and at
 * the first error with CORIO_GATHER_CANCEL_ON_ERROR, they are cancelled
 * (corio_future_cancel: every other waiter sees CORIO_ECANCELED too) and
 * out[] records them as cancelled; in the default mode the ones still
 * pending at the first error are left alone (out[i].status CORIO_EAGAIN).
 * The futures must stay allocated until the call returns (freeing one
 * meanwhile makes it return CORIO_ECLOSED, the others left as they are).
 * CORIO_EINVAL for a NULL future, CORIO_ENOLOOP, CORIO_ENOMEM.
 * Tasks and futures do not mix in one call: wrap the few of one kind with
 * corio_future_task (or set a future from a task) if you must.
 */
int corio_gather_futures(corio_future *const *fs, size_t n,
                         corio_outcome *out, int flags);
int corio_gather_futures_until(corio_future *const *fs, size_t n,
                               corio_outcome *out, int flags,
                               int64_t deadline);

/* ---- wait: asyncio.wait ---- */

typedef enum {
    CORIO_FIRST_COMPLETED, /* any task finished */
    CORIO_FIRST_EXCEPTION, /* any task failed (not counting cancelled
                              ones, as asyncio), or all finished */
    CORIO_ALL_COMPLETED
} corio_wait_mode;

/*
 * Wait until `mode` is met or the deadline passes. Neither consumes,
 * cancels nor changes any task: afterwards done[i] tells which tasks are
 * done (the done set) and which are not (the pending set); done may be
 * NULL. Returns the number of done tasks, which on a deadline may be
 * fewer than `mode` asked for (that is not an error, as in asyncio).
 * Errors: CORIO_ECANCELED (the caller was cancelled), CORIO_ETIMEDOUT
 * (an enclosing timeout scope passed; the deadline argument itself never
 * gives an error), CORIO_ENOMEM (done[] is filled in these cases too),
 * CORIO_EINVAL (a NULL, joined or detached handle, or n == 0 as asyncio's
 * ValueError for an empty set: nothing is filled).
 */
int corio_wait(corio_task *const *tasks, size_t n, corio_wait_mode mode,
               bool *done);
int corio_wait_until(corio_task *const *tasks, size_t n, corio_wait_mode mode,
                     bool *done, int64_t deadline);
/* asyncio.wait over futures, no task per future: the same contract (a
 * future counts as failed if set with an error other than
 * CORIO_ECANCELED); nothing is cancelled or changed. A future freed while
 * the call waits makes it return CORIO_ECLOSED (done[] is not filled). */
int corio_wait_futures(corio_future *const *fs, size_t n,
                       corio_wait_mode mode, bool *done);
int corio_wait_futures_until(corio_future *const *fs, size_t n,
                             corio_wait_mode mode, bool *done,
                             int64_t deadline);

/* ---- as_completed: asyncio.as_completed ---- */

/* An iterator over tasks in the order they finish. Fields are private. */
typedef struct corio_as_completed {
    corio_task *const *tasks;      /* one of the two is NULL */
    corio_future *const *futures;
    size_t n, left;
    int error;            /* sticky once set */
    unsigned char *given; /* tasks already yielded */
    void *waiters;
} corio_as_completed;

/* 0, CORIO_EINVAL or CORIO_ENOMEM. The array must stay valid. */
int corio_as_completed_init(corio_as_completed *it, corio_task *const *tasks,
                            size_t n);
/* The same iterator over futures (no task per future): next yields the
 * index of each future once it is set; read its outcome from the future.
 * The same task given twice is CORIO_EINVAL (it would be joined twice);
 * the same future twice is yielded at both places. */
int corio_as_completed_init_futures(corio_as_completed *it,
                                    corio_future *const *fs, size_t n);
/*
 * Wait for the next task to finish and put its index in *index: 0.
 * CORIO_EOF once every task was yielded; CORIO_ETIMEDOUT when the
 * deadline (or a timeout scope) passes and CORIO_ECANCELED when the
 * caller is cancelled (asyncio's as_completed(timeout=) bounds the whole
 * iteration: pass the same deadline to every call). The tasks are not
 * cancelled, joined nor consumed: join each one yielded (you may do so at
 * once; the iterator never looks at it again); the ones never yielded are
 * still yours after an error.
 * Tasks that finished while the iterator was not waiting are yielded in
 * array order. After any non-zero return the iterator is finished.
 */
int corio_as_completed_next(corio_as_completed *it, size_t *index);
int corio_as_completed_next_until(corio_as_completed *it, size_t *index,
                                  int64_t deadline);
/* Free the iterator's memory (needed only if you stop before
 * corio_as_completed_next returned non-zero; safe to call again). */
void corio_as_completed_end(corio_as_completed *it);

/* ---- timeouts: asyncio.timeout and asyncio.wait_for ---- */

/*
 * A timeout scope covers a block of the current task:
 *
 *     corio_timeout s;
 *     corio_timeout_begin(&s, corio_deadline_in(CORIO_MS(100)));
 *     rc = work();                         // blocking calls inside
 *     if (corio_timeout_end(&s) == CORIO_ETIMEDOUT) ... // it was ours
 *
 * While the scope is open every blocking call of the task is bounded by
 * the deadline; once it passes they all return CORIO_ETIMEDOUT (sticky
 * inside the scope; a corio_join passes it on to the joined task as a
 * cancellation). A shield cuts a task off from the scopes opened outside
 * it, but a scope opened INSIDE a shield bounds what is inside it, as in
 * asyncio, where the code inside shield() is a task with scopes of its own
 * (test_timeout_after_cancellation: a cancelled task can bound its
 * shielded cleanup). Scopes nest and must be
 * ended in reverse order: the struct keeps the enclosing deadline and end
 * restores it. An inner scope never extends an outer one.
 * corio_timeout_end returns CORIO_ETIMEDOUT only if THIS scope's deadline
 * has passed and was strictly earlier than every enclosing one (then it
 * was this scope that stopped the work); otherwise 0, and an expiry seen
 * inside belongs to an enclosing scope or to a call's own deadline.
 * Outside a task both are no-ops returning 0.
 */
typedef struct corio_timeout {
    corio_task *task;
    int64_t deadline; /* this scope's own */
    int64_t outer;    /* the enclosing scope's, restored by end */
    /* Private: the scopes of a task form a stack, innermost first. */
    struct corio_timeout *enclosing;
    int64_t bound;    /* the enclosing scopes' deadline that applies here */
    int shield;       /* the task's shield depth when it was opened */
} corio_timeout;

/* A scope that is not open (what corio_timeout_end leaves): end returns 0,
 * when is CORIO_NEVER, expired is false, reschedule is CORIO_EINVAL. For
 * code that opens a scope on one branch and ends it on every path.
 * corio_timeout_begin fills in every field itself. */
#define CORIO_TIMEOUT_INIT                                               \
    { NULL, CORIO_NEVER, CORIO_NEVER, NULL, CORIO_NEVER, 0 }

void corio_timeout_begin(corio_timeout *s, int64_t deadline);
int corio_timeout_end(corio_timeout *s);
/* Would end report CORIO_ETIMEDOUT now? */
bool corio_timeout_expired(const corio_timeout *s);
/* ---- asyncio.Timeout.when() / reschedule() ---- */
/* The scope's own deadline (CORIO_NEVER for none). */
int64_t corio_timeout_when(const corio_timeout *s);
/* Move an open scope's deadline, later or earlier (CORIO_NEVER: none):
 * from the next blocking call on, the task is bounded by the new value. Only
 * the task that opened the scope may move it (else CORIO_EPERM);
 * CORIO_EINVAL if the scope is not open. A deadline already past makes the
 * next blocking call (a yield included) return CORIO_ETIMEDOUT. */
int corio_timeout_reschedule(corio_timeout *s, int64_t deadline);

/*
 * asyncio.wait_for: wait for t (consuming it) until the deadline; if the
 * deadline or an enclosing scope passes first, or the caller is
 * cancelled, t is cancelled and waited for. Returns 0 when t finished in
 * time, CORIO_ETIMEDOUT, CORIO_ECANCELED. *out (may be NULL) ALWAYS gets
 * t's final outcome, so a result that arrived anyway can be freed, and a
 * CORIO_ETIMEDOUT of t's own (out->status) is never confused with ours
 * (the return value).
 */
int corio_wait_for_task_until(corio_task *t, corio_outcome *out,
                              int64_t deadline);
/* Without a deadline only the caller's cancellation or a timeout scope
 * stops t (then it is cancelled and waited for, as above). */
int corio_wait_for_task(corio_task *t, corio_outcome *out);
/* The same for fn(arg), spawned as a task; CORIO_ENOMEM if it cannot be. */
int corio_wait_for_until(corio_fn fn, void *arg, corio_outcome *out,
                         int64_t deadline);
int corio_wait_for(corio_fn fn, void *arg, corio_outcome *out);

/* ---- shield: asyncio.shield ---- */

/*
 * Wait for t without passing our cancellation on to it. If t finishes
 * first: t is joined, *out gets its outcome, returns 0. If the caller is
 * cancelled (CORIO_ECANCELED) or the deadline or a timeout scope passes
 * (CORIO_ETIMEDOUT) first, the caller stops waiting but t KEEPS RUNNING:
 * its handle is handed to a small detached "reaper" task that joins it
 * and passes its result to discard (if not NULL); out->status is then
 * CORIO_EAGAIN. Either way the handle is consumed. (If even the reaper
 * cannot be spawned, t is detached and its result dropped.)
 */
int corio_shield_join(corio_task *t, corio_outcome *out,
                      corio_discard_fn discard);
int corio_shield_join_until(corio_task *t, corio_outcome *out,
                            corio_discard_fn discard, int64_t deadline);
/* asyncio.shield(fut): wait for f without ever cancelling it (no task,
 * no reaper: a future has nothing to run). 0 once f is set, with its value
 * and error in *out (out->status CORIO_ECANCELED if someone cancelled f);
 * CORIO_ECANCELED / CORIO_ETIMEDOUT when the caller stops waiting first
 * (out->status CORIO_EAGAIN, f still pending and still the caller's);
 * CORIO_ECLOSED if f was freed meanwhile. A future already set answers at
 * once, even to a cancelled task. */
int corio_shield_future(corio_future *f, corio_outcome *out);
int corio_shield_future_until(corio_future *f, corio_outcome *out,
                              int64_t deadline);

/* ---- task groups: asyncio.TaskGroup (structured concurrency) ---- */

/*
 *     corio_taskgroup g;
 *     corio_taskgroup_init(&g);
 *     corio_taskgroup_spawn(&g, fetch, url1, NULL);   // child 0
 *     corio_taskgroup_spawn(&g, fetch, url2, NULL);   // child 1
 *     rc = corio_taskgroup_wait(&g);                  // leave the group
 *     ... corio_taskgroup_result(&g, 1, &r) ...
 *     corio_taskgroup_destroy(&g);
 *
 * - The first child to fail (status other than 0 and CORIO_ECANCELED)
 *   cancels every other child at once, and later spawns fail with
 *   CORIO_ESHUTDOWN.
 * - corio_taskgroup_wait waits for every child and joins it; no child
 *   outlives it. If the waiting task is cancelled or the deadline (or a
 *   timeout scope) passes, it cancels every child and still waits for
 *   them. Returns CORIO_ECANCELED / CORIO_ETIMEDOUT in that case (also
 *   when the caller has a cancel pending and the children were done
 *   anyway, as asyncio), else the status of the first child that failed,
 *   else 0.
 * - Every failure is kept: corio_taskgroup_error_count / _error list them
 *   in the order they happened (asyncio's ExceptionGroup).
 * - Unlike asyncio, a failing child does not cancel the task that runs
 *   the group (corio's cancellation is sticky and could not be taken back
 *   when the group ends); that task sees the failure at the wait. Cancel
 *   it yourself if its body must stop early.
 * Fields are private; the struct must not move while in use.
 */
typedef struct corio_taskgroup {
    corio_loop *loop;
    struct corio_tg_child **children; /* in spawn order */
    struct corio_tg_child **failed;   /* in failure order */
    size_t n, cap, nfailed;
    int state;                        /* open, aborting, closed */
    int wait_status;
} corio_taskgroup;

void corio_taskgroup_init(corio_taskgroup *g);
/* Spawn fn(arg) into the group, from any task of its loop. Returns the
 * child's index (0, 1, ... in spawn order), CORIO_ESHUTDOWN once the group
 * aborted or was waited for, CORIO_ENOLOOP, CORIO_ENOMEM. */
int corio_taskgroup_spawn(corio_taskgroup *g, corio_fn fn, void *arg,
                          const corio_task_opts *opts);
/* The child's handle (to cancel it, read its name or state) until the
 * wait returns; the group joins it: never join or detach it yourself. */
corio_task *corio_taskgroup_task(const corio_taskgroup *g, size_t child);
int corio_taskgroup_wait(corio_taskgroup *g);
int corio_taskgroup_wait_until(corio_taskgroup *g, int64_t deadline);
/* Abort the group from its body (asyncio: the body raises): cancel every
 * child, refuse later spawns (CORIO_ESHUTDOWN), and make the wait return
 * `err` (a negative code; anything else means CORIO_ECANCELED) unless the
 * waiting task is itself cancelled or times out. The children's own
 * failures are still listed by corio_taskgroup_error. The body must still
 * call the wait, which joins the children. 0, CORIO_EALREADY after the
 * wait. The first abort's reason is kept. */
int corio_taskgroup_abort(corio_taskgroup *g, int err);
size_t corio_taskgroup_size(const corio_taskgroup *g);
/* After the wait: child's status (0, its error, CORIO_ECANCELED) and its
 * result in *result; CORIO_EINVAL for a bad index, CORIO_EAGAIN before
 * the wait. */
int corio_taskgroup_result(const corio_taskgroup *g, size_t child,
                           void **result);
size_t corio_taskgroup_error_count(const corio_taskgroup *g);
/* The k-th failure: returns its status, *child (may be NULL) gets the
 * child's index. CORIO_EINVAL if k is out of range. */
int corio_taskgroup_error(const corio_taskgroup *g, size_t k, size_t *child);
/* Free the group: 0, or CORIO_EBUSY (nothing freed) while it has children
 * not yet waited for. */
int corio_taskgroup_destroy(corio_taskgroup *g);

/* ---- thread pool: run_in_executor / to_thread ---- */

/*
 * Run a blocking or CPU-bound fn(arg) on a worker thread while the calling
 * task parks; the result comes back through the loop's wakeup
 * (corio_call_soon_threadsafe), so the loop keeps running every other
 * task meanwhile. fn runs on a plain OS thread: it must not call corio's
 * task functions (it may call corio_call_soon_threadsafe).
 *
 * Returns 0 with fn's return value in *result (may be NULL), or:
 *   CORIO_ECANCELED / CORIO_ETIMEDOUT  the caller stopped waiting. A call
 *       still queued is withdrawn and never runs. A call already running
 *       cannot be interrupted: it finishes on its worker and its result is
 *       passed to discard (if not NULL) when it arrives, on the loop's
 *       thread (or on the worker's if the loop was closed meanwhile).
 *       If the result arrived before the caller looked, it is returned
 *       with 0 instead (the cancellation stays pending).
 *       The caller is not told which of the two happened, so after giving
 *       up it must not free what arg points to while fn may still use it:
 *       either fn never owns arg, or arg lives in a record both sides can
 *       settle (net/dns.c's registry of unclaimed jobs does that).
 *   CORIO_ECLOSED  the pool is shutting down; CORIO_ENOMEM; CORIO_ENOLOOP.
 */
typedef struct corio_pool corio_pool;

/* The number of processor cores online (at least 1): the size to give a
 * pool meant for CPU-bound work. */
unsigned corio_cpu_count(void);

/* A pool of up to `threads` workers, started on demand (0 = the default:
 * min(32, cores + 4), as Python's ThreadPoolExecutor, since its threads
 * mostly wait in blocking calls). A pool may serve several loops. */
corio_pool *corio_pool_new(unsigned threads);
/* Run the calls still queued, wait for the workers to end, free the pool.
 * Blocks the calling thread: call it when no task waits on the pool. */
void corio_pool_free(corio_pool *p);
unsigned corio_pool_max_threads(const corio_pool *p);

/* The loop's default pool (created on first use, shut down by
 * corio_loop_close: calls still queued are dropped, running ones are
 * waited for). Sets its thread count (0 = default); threads already
 * started are kept. From the loop's own thread; loop NULL = the current
 * loop. */
int corio_default_pool_threads(corio_loop *loop, unsigned threads);

/* pool NULL = the loop's default pool. */
int corio_run_in_executor(corio_pool *pool, corio_fn fn, void *arg,
                          void **result, corio_discard_fn discard);
int corio_run_in_executor_until(corio_pool *pool, corio_fn fn, void *arg,
                                void **result, corio_discard_fn discard,
                                int64_t deadline);
/* asyncio.to_thread: the default pool. */
int corio_to_thread(corio_fn fn, void *arg, void **result,
                    corio_discard_fn discard);
int corio_to_thread_until(corio_fn fn, void *arg, void **result,
                          corio_discard_fn discard, int64_t deadline);

/* ------------------------------------------------------------------ */
/* Networking: addresses, sockets, streams, servers, DNS, signals,    */
/* subprocesses (net/)                                                */
/* ------------------------------------------------------------------ */
/*
 * Everything here suspends only the calling task. A dead peer, a reset or
 * a half-close is an error code (CORIO_EPIPE, CORIO_ECONNRESET) or end of
 * stream, never SIGPIPE. TCP sockets made here have TCP_NODELAY set
 * (latency first, as asyncio does since 3.7; turn it off with
 * corio_tcp_nodelay(fd, 0)).
 */

/* Address families and socket types, our own numbers. */
enum { CORIO_AF_INET = 4, CORIO_AF_INET6 = 6, CORIO_AF_UNIX = 1 };
enum { CORIO_SOCK_STREAM = 1, CORIO_SOCK_DGRAM = 2 };

/* Big and aligned enough for any sockaddr (sockaddr_storage is 128). */
typedef struct corio_addr {
    union { unsigned char bytes[128]; int64_t align_; } u;
    int len; /* 0 = empty */
} corio_addr;

/* "127.0.0.1" / "::1" literal + port. CORIO_EINVAL if not a literal. */
int corio_addr_ip(corio_addr *a, const char *ip, int port);
/* A Unix-domain path (CORIO_ENOTSUP where the OS has none). */
int corio_addr_unix(corio_addr *a, const char *path);
int corio_addr_family(const corio_addr *a);          /* CORIO_AF_* */
int corio_addr_port(const corio_addr *a);            /* -1 for unix */
/* "127.0.0.1:80", "[::1]:80", "unix:/path". Returns chars written. */
int corio_addr_format(const corio_addr *a, char *buf, size_t n);


/* ---- DNS (net/dns.c): getaddrinfo on the thread pool ---- */

/* Resolve host ("localhost", "example.org", or a literal) for port into
 * up to max addresses (family 0 = any, CORIO_AF_INET, CORIO_AF_INET6).
 * Returns how many were found (>= 1), CORIO_ENOTFOUND, CORIO_ETIMEDOUT or
 * CORIO_ECANCELED. A cancelled or timed-out lookup's late answer is freed
 * when it arrives, never leaked. */
int corio_resolve(const char *host, int port, int family, corio_addr *out,
                  size_t max);
int corio_resolve_until(const char *host, int port, int family,
                        corio_addr *out, size_t max, int64_t deadline);

/* ---- sockets (net/socket.c) ---- */

/* Connect to one address. */
int corio_tcp_connect(const corio_addr *a, corio_fd *out);
int corio_tcp_connect_until(const corio_addr *a, corio_fd *out,
                            int64_t deadline);
/* Resolve host, then try each address in turn until one connects; the
 * deadline covers the whole attempt. */
int corio_tcp_connect_host(const char *host, int port, corio_fd *out);
int corio_tcp_connect_host_until(const char *host, int port, corio_fd *out,
                                 int64_t deadline);
#define CORIO_LISTEN_REUSEPORT 0x1  /* SO_REUSEPORT (SO_REUSEADDR is always on) */
/* Bind and listen (backlog <= 0: 128). Port 0 picks a free port:
 * corio_sock_local_addr tells which. */
int corio_tcp_listen(const corio_addr *a, int backlog, int flags, corio_fd *out);
/* Accept one connection; peer (may be NULL) gets its address. */
int corio_tcp_accept(corio_fd listener, corio_fd *out, corio_addr *peer);
int corio_tcp_accept_until(corio_fd listener, corio_fd *out, corio_addr *peer,
                           int64_t deadline);
int corio_tcp_nodelay(corio_fd fd, int on);
int corio_unix_listen(const char *path, int backlog, corio_fd *out);
int corio_unix_connect(const char *path, corio_fd *out);
int corio_unix_connect_until(const char *path, corio_fd *out,
                             int64_t deadline);
/* A UDP socket bound to a (port 0 = any free port). */
int corio_udp_bind(const corio_addr *a, corio_fd *out);
ptrdiff_t corio_udp_sendto(corio_fd fd, const void *buf, size_t len,
                           const corio_addr *to);
ptrdiff_t corio_udp_sendto_until(corio_fd fd, const void *buf, size_t len,
                                 const corio_addr *to, int64_t deadline);
ptrdiff_t corio_udp_recvfrom(corio_fd fd, void *buf, size_t len,
                             corio_addr *from);
ptrdiff_t corio_udp_recvfrom_until(corio_fd fd, void *buf, size_t len,
                                   corio_addr *from, int64_t deadline);
/* Raw socket I/O: some bytes, 0 = end of stream (recv). */
ptrdiff_t corio_sock_recv(corio_fd fd, void *buf, size_t len);
ptrdiff_t corio_sock_recv_until(corio_fd fd, void *buf, size_t len,
                                int64_t deadline);
ptrdiff_t corio_sock_send(corio_fd fd, const void *buf, size_t len);
ptrdiff_t corio_sock_send_until(corio_fd fd, const void *buf, size_t len,
                                int64_t deadline);
/* All of buf, or an error (bytes already sent are lost to the caller:
 * use a stream when that matters). */
int corio_sock_send_all(corio_fd fd, const void *buf, size_t len);
int corio_sock_send_all_until(corio_fd fd, const void *buf, size_t len,
                              int64_t deadline);
int corio_sock_local_addr(corio_fd fd, corio_addr *out);
int corio_sock_peer_addr(corio_fd fd, corio_addr *out);
int corio_sock_shutdown_write(corio_fd fd);
/* A socket is closed with corio_fd_close (above). */

/* ---- streams (net/stream.c): asyncio's StreamReader + StreamWriter ---- */

typedef struct corio_stream corio_stream;

typedef struct corio_stream_opts {
    size_t limit;       /* longest line/record readline/readuntil accept;
                           0 = 64 KiB (asyncio's default) */
    size_t high_water;  /* drain() waits while more than this is unsent;
                           0 = 64 KiB */
    size_t low_water;   /* ...until it is back at or below this; 0 = 16 KiB */
} corio_stream_opts;

/* Wrap a connected socket or pipe end (the stream owns it from now on). */
corio_stream *corio_stream_open(corio_fd fd, const corio_stream_opts *o);
/* asyncio.open_connection: connect by name, wrap. */
int corio_open_connection(const char *host, int port, corio_stream **out);
int corio_open_connection_until(const char *host, int port, corio_stream **out,
                                int64_t deadline);

/* Up to n bytes; 0 at end of stream. */
ptrdiff_t corio_stream_read(corio_stream *s, void *buf, size_t n);
ptrdiff_t corio_stream_read_until(corio_stream *s, void *buf, size_t n,
                                  int64_t deadline);
/* Exactly n bytes, or CORIO_EINCOMPLETE if the stream ended first: *got
 * (if non-NULL) says how many arrived, and they are in buf. */
int corio_stream_readexactly(corio_stream *s, void *buf, size_t n,
                             size_t *got);
int corio_stream_readexactly_until(corio_stream *s, void *buf, size_t n,
                                   size_t *got, int64_t deadline);
/* One line including its '\n' (the last line may lack it), copied into
 * buf (cap bytes) and NUL-terminated; returns its length, 0 at end of
 * stream. A line longer than the limit (or than cap - 1) returns
 * CORIO_ELIMIT and stays in the buffer: nothing is lost. */
ptrdiff_t corio_stream_readline(corio_stream *s, char *buf, size_t cap);
ptrdiff_t corio_stream_readline_until(corio_stream *s, char *buf, size_t cap,
                                      int64_t deadline);
/* Like readline with any separator; CORIO_EINCOMPLETE if the stream ends
 * before it (the partial data stays readable with corio_stream_read), or
 * CORIO_ELIMIT if that partial data already reaches the limit. */
ptrdiff_t corio_stream_readuntil(corio_stream *s, const void *sep,
                                 size_t seplen, void *buf, size_t cap);
ptrdiff_t corio_stream_readuntil_until(corio_stream *s, const void *sep,
                                       size_t seplen, void *buf, size_t cap,
                                       int64_t deadline);
bool corio_stream_at_eof(const corio_stream *s);
/* Queue bytes for sending; never blocks (asyncio's write). Sending goes
 * on in the background. CORIO_EPIPE / CORIO_ECONNRESET once the peer is
 * known to be gone. */
int corio_stream_write(corio_stream *s, const void *buf, size_t n);
/* Back-pressure: wait until the unsent bytes are at or below the low
 * water mark (at once if under the high water mark). */
int corio_stream_drain(corio_stream *s);
int corio_stream_drain_until(corio_stream *s, int64_t deadline);
/* Send what is queued, half-close (FIN), and wait for it to go. */
int corio_stream_write_eof(corio_stream *s);
int corio_stream_write_eof_until(corio_stream *s, int64_t deadline);
/* Graceful close: flush (until the deadline), then close. Frees s. */
int corio_stream_close(corio_stream *s);
int corio_stream_close_until(corio_stream *s, int64_t deadline);
/* Close at once, dropping unsent data. Frees s. */
void corio_stream_abort(corio_stream *s);
size_t corio_stream_buffered(const corio_stream *s); /* unread bytes held */
size_t corio_stream_unsent(const corio_stream *s);   /* queued, not yet sent */
corio_fd corio_stream_fd(const corio_stream *s);

/* ---- servers (net/server.c): asyncio.start_server ---- */

typedef struct corio_server corio_server;
/* Runs in its own task per connection; the server closes the stream
 * after the handler returns (the handler must not free it). */
typedef void (*corio_conn_handler)(corio_stream *s, void *arg);

/* Server flags (with CORIO_LISTEN_REUSEPORT). In a loop group
 * (corio_run_loops), EVERY_LOOP serves on every loop of the group: one
 * SO_REUSEPORT listener per loop on Linux, where the kernel spreads the
 * connections by a hash of their addresses; elsewhere (Windows included)
 * or with ROUND_ROBIN, the calling loop accepts and hands the connections
 * to the loops in turn (then max_connections must be 0: CORIO_EINVAL).
 * Each handler runs on the loop that got its connection. One server
 * handle for all: port, connections (the sum) and shutdown (of every
 * loop, from the loop that started it) work on the whole set. Outside a
 * group, or in a group of one, EVERY_LOOP changes nothing. */
#define CORIO_SERVER_EVERY_LOOP  0x100
#define CORIO_SERVER_ROUND_ROBIN 0x200

typedef struct corio_server_opts {
    int backlog;                /* 0 = 128 */
    int flags;                  /* CORIO_LISTEN_REUSEPORT, CORIO_SERVER_* */
    size_t max_connections;     /* 0 = unlimited; beyond it accept waits */
    size_t handler_stack_size;  /* 0 = the loop's default */
    corio_stream_opts stream;
} corio_server_opts;

/* Listen on host:port (host NULL = "127.0.0.1") and start accepting in a
 * background task. */
int corio_start_server(const char *host, int port, corio_conn_handler h,
                       void *arg, const corio_server_opts *o,
                       corio_server **out);
int corio_server_port(const corio_server *srv);
size_t corio_server_connections(const corio_server *srv); /* live handlers */
/* Graceful shutdown: stop accepting, let handlers finish until the
 * deadline (the plain form: until they all return), cancel the rest, wait
 * for them, close everything, free srv. Returns how many handlers had to
 * be cancelled. A SIGINT or SIGTERM that the program catches through
 * corio (corio_signal_wait), arriving during the grace, ends the grace at
 * once: asyncio.run's second Ctrl-C (docs/net.md). */
int corio_server_shutdown(corio_server *srv);
int corio_server_shutdown_until(corio_server *srv, int64_t deadline);

/* ---- signals (net/signal.c) ---- */

/* Wait until signum (SIGINT, SIGTERM, ...) is delivered to the process;
 * on Windows SIGINT/SIGBREAK come from console control events. The first
 * wait on a signal installs corio's handler for it. Several tasks may wait
 * for the same signal: all wake. */
int corio_signal_wait(int signum);
int corio_signal_wait_until(int signum, int64_t deadline);

/* ---- subprocesses (net/process.c): asyncio.create_subprocess_exec ---- */

typedef struct corio_process corio_process;

typedef enum {
    CORIO_STDIO_INHERIT = 0, /* the child shares ours */
    CORIO_STDIO_PIPE,        /* a stream we read / write */
    CORIO_STDIO_NULL,        /* /dev/null, NUL */
    CORIO_STDIO_STDOUT       /* stderr only: merged into stdout */
} corio_stdio;

typedef struct corio_process_opts {
    corio_stdio stdin_, stdout_, stderr_;
    const char *cwd;       /* NULL = ours */
    char *const *env;      /* NULL = ours; else a NULL-terminated list of
                              "NAME=value" (its PATH, if any, is the one
                              searched on Unix) */
} corio_process_opts;

/* Start argv[0] (searched in PATH unless it holds a '/'; on Windows as
 * CreateProcess searches) with argv; no shell. o NULL = inherit all.
 * 0, or CORIO_ENOTFOUND (no such program or cwd), CORIO_EACCES (not
 * executable), CORIO_EINVAL (empty argv, a bad mode), CORIO_EMFILE,
 * CORIO_ENOMEM: reported by spawn itself, not as an exit code later. */
int corio_process_spawn(const char *const *argv, const corio_process_opts *o,
                        corio_process **out);
/* The pipes, as streams owned by p (NULL unless that mode is PIPE). Close
 * stdin (corio_stream_write_eof) to send end of file. */
corio_stream *corio_process_stdin(corio_process *p);
corio_stream *corio_process_stdout(corio_process *p);
corio_stream *corio_process_stderr(corio_process *p);
long corio_process_pid(const corio_process *p);
/* Wait for exit without blocking the loop: *exit_code (may be NULL) gets
 * the exit status, or -signal if a signal ended it (on Windows -15 / -9
 * for a child ended by corio_process_terminate / _kill). Several tasks
 * may wait at once; later calls return the same code at once.
 * CORIO_ETIMEDOUT / CORIO_ECANCELED leave the child running. */
int corio_process_wait(corio_process *p, int *exit_code);
int corio_process_wait_until(corio_process *p, int *exit_code,
                             int64_t deadline);
/* Growable buffer for communicate's output; start it as { 0 }. */
typedef struct corio_buf { char *data; size_t len, cap; } corio_buf;
void corio_buf_free(corio_buf *b);
/* Write `in` to stdin and close it, while collecting stdout and stderr,
 * then wait for exit: no deadlock on full pipes. Output is appended to
 * out / err and kept NUL-terminated; a piped stream whose buffer is NULL
 * is read and dropped. inlen > 0 needs a piped stdin (else CORIO_EINVAL).
 * On an error (CORIO_ETIMEDOUT, CORIO_ECANCELED, ...) out / err hold what
 * arrived, stdin is closed, and the child keeps running. */
int corio_process_communicate(corio_process *p, const void *in, size_t inlen,
                              corio_buf *out, corio_buf *err, int *exit_code);
int corio_process_communicate_until(corio_process *p, const void *in,
                                    size_t inlen, corio_buf *out,
                                    corio_buf *err, int *exit_code,
                                    int64_t deadline);
/* SIGTERM / SIGKILL (TerminateProcess on Windows). 0, or CORIO_EALREADY
 * once wait has collected its exit. */
int corio_process_terminate(corio_process *p);
int corio_process_kill(corio_process *p);
/* Close the pipes and free p, once no task uses it. Never kills: a live
 * child is left running and reaped when it exits (no zombie). */
void corio_process_free(corio_process *p);

/* ------------------------------------------------------------------ */
/* Embedding: a host's loop drives corio's (docs/embedding.md)        */
/* ------------------------------------------------------------------ */
/*
 * A program whose thread already belongs to another loop (a GUI toolkit,
 * libuv, a game loop) turns corio's loop from it, libuv's UV_RUN_NOWAIT /
 * uv_backend_fd / uv_backend_timeout:
 *
 *     for (;;) {
 *         struct pollfd p = { corio_loop_backend_fd(l), POLLIN, 0 };
 *         poll(&p, 1, corio_loop_backend_timeout(l));  (+ the host's fds)
 *         if (corio_loop_run_nowait(l) == 0) break;     (nothing alive)
 *     }
 *
 * All three take the loop from the thread that created it (tasks find
 * their loop through the thread); other threads reach it only with
 * corio_call_soon_threadsafe, which wakes the host's poll through the
 * descriptor.
 */

/* One turn without blocking: run the queued callbacks, the due timers,
 * collect ready I/O with a zero-timeout poll, run the tasks that are
 * ready (until none is, or a dispatch budget is spent, so that a task
 * that keeps yielding cannot keep the step from returning). 1 if a task
 * is still alive or callbacks are queued (call the step again, after
 * waiting), 0 if nothing is (pending call_later timers do not count, as
 * for corio_loop_run). CORIO_EINVAL from inside a task or callback of the
 * loop (it would turn itself) or for a loop of a forked parent;
 * CORIO_EPERM from a thread other than the loop's. */
int corio_loop_run_nowait(corio_loop *loop);

/* The descriptor that becomes readable (poll() POLLIN) when the loop has
 * I/O or a cross-thread call to handle: the epoll fd on Linux, the kqueue
 * fd on the BSDs and macOS. It belongs to the loop: never read, close or
 * register it elsewhere except for readiness. CORIO_ENOTSUP on Windows,
 * where the IOCP port cannot be polled: call the step from the message
 * loop, waiting at most corio_loop_backend_timeout ms (and no longer than
 * the I/O latency you accept). CORIO_EINVAL for NULL. */
int corio_loop_backend_fd(corio_loop *loop);

/* How long the host may wait before the next step, in ms: 0 when
 * something is runnable now (tasks, callbacks), the time to the next timer
 * rounded up, or -1 when no timer is pending (wait for the descriptor
 * alone). Recompute it after every step. */
int corio_loop_backend_timeout(corio_loop *loop);

/* ---- the allocator: libuv's uv_replace_allocator ---- */
/*
 * Every heap block corio takes (loops, tasks' records, queues, streams'
 * buffers, DNS jobs, the thread pool's work) comes from these four, the C
 * library's by default. They must behave as the C functions do (realloc
 * of NULL allocates) and be callable from any thread (pool workers
 * allocate). Not from them: task stacks and the signal stack, which are
 * mapped (mmap, VirtualAlloc), and what the C library allocates inside
 * its own calls (getaddrinfo).
 * Call it before creating any loop (or once every loop is closed: closing
 * a loop gives back all it took). 0; CORIO_EINVAL if one is NULL;
 * CORIO_EBUSY while a loop exists (its blocks belong to the allocator in
 * place). Not safe against other threads using corio at the same time.
 */
typedef void *(*corio_malloc_func)(size_t size);
typedef void *(*corio_realloc_func)(void *ptr, size_t size);
typedef void *(*corio_calloc_func)(size_t count, size_t size);
typedef void (*corio_free_func)(void *ptr);
int corio_replace_allocator(corio_malloc_func malloc_fn, corio_realloc_func realloc_fn,
                            corio_calloc_func calloc_fn, corio_free_func free_fn);
/* Channels and select (chan/, docs/chan.md)                           */
/* ------------------------------------------------------------------ */
/*
 * A channel carries fixed-size elements (elem_size bytes, copied in and
 * out) between tasks of one loop, of different loops on different threads,
 * and plain threads (the try forms). capacity 0 is unbuffered: a send
 * waits until a receiver takes the element (rendezvous). Go's channels.
 *
 *   - A parked peer gets the element directly (no buffer round trip).
 *   - close: sends fail with CORIO_ECLOSED from then on (a sender parked
 *     at close wakes with CORIO_ECLOSED, its element NOT sent); receivers
 *     get every element still buffered, then CORIO_ECLOSED.
 *   - A send or receive that returns CORIO_ETIMEDOUT or CORIO_ECANCELED
 *     moved nothing; one that returns 0 moved exactly one element, even if
 *     a cancel arrived during the hand-off (delivered at the next wait).
 *   - The try forms never wait: CORIO_EFULL / CORIO_EEMPTY when they would.
 *   - Blocking forms from outside a task return CORIO_ENOLOOP when they
 *     would have to wait.
 * Free a channel only when no task or thread uses it any more.
 */
typedef struct corio_chan corio_chan;

/* NULL on bad arguments (elem_size > 65536) or out of memory. */
corio_chan *corio_chan_new(size_t elem_size, size_t capacity);
void corio_chan_free(corio_chan *c);
int corio_chan_send(corio_chan *c, const void *elem);
int corio_chan_send_until(corio_chan *c, const void *elem, int64_t deadline);
int corio_chan_try_send(corio_chan *c, const void *elem);
/* out may be NULL (the element is dropped). */
int corio_chan_recv(corio_chan *c, void *out);
int corio_chan_recv_until(corio_chan *c, void *out, int64_t deadline);
int corio_chan_try_recv(corio_chan *c, void *out);
/* CORIO_EALREADY if it was closed already. */
int corio_chan_close(corio_chan *c);
bool corio_chan_closed(corio_chan *c);
/* Elements buffered now (a snapshot when other threads use c). */
size_t corio_chan_len(corio_chan *c);
size_t corio_chan_cap(const corio_chan *c);

/*
 * corio_select: wait until exactly one of n cases can proceed, do it, and
 * return its index (cases[i].status holds its outcome). No other case
 * consumes or sends anything. Among cases ready at once, the one chosen is
 * uniformly random (Go's select, libdill's choose).
 *   SEND   obj = corio_chan *, elem = the element; status 0, or
 *          CORIO_ECLOSED (the channel is closed: fires, nothing sent)
 *   RECV   obj = corio_chan *, elem = where to copy (or NULL); status 0,
 *          or CORIO_ECLOSED once the channel is closed and drained
 *   FUTURE obj = corio_future * of this loop, elem = void ** for its
 *          value (or NULL); status = its error; never consumes
 *   TASK   obj = corio_task * of this loop: fires when it is done; status
 *          = its final status; does not join it
 * Returns a case index, or CORIO_ETIMEDOUT / CORIO_ECANCELED (nothing
 * happened), CORIO_EINVAL (n == 0 or > CORIO_SELECT_MAX, a NULL object),
 * CORIO_ENOLOOP outside a task. corio_select_try never waits:
 * CORIO_EAGAIN if no case is ready (Go's default case).
 */
#define CORIO_SELECT_MAX 64
typedef enum corio_case_kind {
    CORIO_CASE_SEND, CORIO_CASE_RECV, CORIO_CASE_FUTURE, CORIO_CASE_TASK
} corio_case_kind;
typedef struct corio_case {
    corio_case_kind kind;
    void *obj;
    void *elem;
    int status;   /* out: the outcome of the case that fired */
} corio_case;
int corio_select(corio_case *cases, size_t n);
int corio_select_until(corio_case *cases, size_t n, int64_t deadline);
int corio_select_try(corio_case *cases, size_t n);

/* ------------------------------------------------------------------ */
/* Not API: the layouts and inline fast paths the compiler needs      */
/* ------------------------------------------------------------------ */
#include "corio_inline.h"

#ifdef __cplusplus
}
#endif
#endif /* CORIO_H */
