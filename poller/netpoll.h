/*
 * netpoll.h — the poller as the loop and the OS room use it.
 *
 * netpoll.c is the generic half of the poller (Go's netpoll.go): it owns
 * the backend (poller.h) and the descriptor table (fdtable.h), parks the
 * calling task on a descriptor or an operation, and turns the backend's
 * reports into unparks. Every call here works on the calling thread's
 * loop unless it takes a corio__netpoll.
 *
 * Readiness (epoll, kqueue): try the system call; on EAGAIN
 * corio__netpoll_wait_fd; retry. Completion (IOCP): corio__netpoll_op_start,
 * hand the operation to the kernel, corio__netpoll_op_wait.
 */
#ifndef CORIO_NETPOLL_H
#define CORIO_NETPOLL_H

#include "corio.h"
#include "poller.h"
#include <stdint.h>

/* ---- the loop's side (coro/loop.c) ---- */

/* Open the backend for the calling thread's loop. 0 or a CORIO_E code. */
int  corio__netpoll_open(corio__netpoll **out);
void corio__netpoll_close(corio__netpoll *np);
/* Wait for events up to timeout_ns (poller.h: wait) and unpark the tasks
 * they concern. The number of tasks woken, or a CORIO_E code. */
int  corio__netpoll_poll(corio__netpoll *np, int64_t timeout_ns);
/* From any thread: end the loop's current or next poll. */
void corio__netpoll_wakeup(corio__netpoll *np);
/* For a host loop (poller.h: fd, pending). */
int  corio__netpoll_backend_fd(const corio__netpoll *np);
int  corio__netpoll_pending(const corio__netpoll *np);

/* ---- descriptors (every backend) ---- */

/* Forget fd before it is closed: a new generation (events and operations
 * still on their way for the old one are stale), the backend's detach,
 * and the tasks parked on it wake with CORIO_ECLOSED. 0, CORIO_EINVAL if
 * fd was never attached, CORIO_ENOLOOP outside a loop. */
int corio__netpoll_detach(corio_fd fd);
/* How many descriptors are attached to the backend now (a walk of the
 * table: for corio_loop_get_stats, not for a hot path). */
size_t corio__netpoll_registered(const corio__netpoll *np);

/* ---- readiness backends (epoll, kqueue) ---- */

/* Park the current task until fd is ready in direction dir (or until the
 * deadline, a cancel, or a detach). Attaches fd on first use. A wakeup
 * may be spurious: the caller retries its call. 0, or CORIO_ETIMEDOUT,
 * CORIO_ECANCELED, CORIO_ECLOSED, CORIO_EBUSY (another task waits in that
 * direction), CORIO_ENOLOOP, or attach's codes (poller.h). */
int corio__netpoll_wait_fd(corio_fd fd, int dir, int64_t deadline);
/* The drained hint (fdtable.h explains it): is fd a TCP socket whose last
 * recv was short, with no read edge since? And: the recv just made on fd
 * was short. Both 0 / nothing outside a task and on IOCP. */
int  corio__netpoll_read_drained(corio_fd fd);
void corio__netpoll_short_read(corio_fd fd);

/* ---- completion backends (IOCP) ---- */

/* One operation, on the issuing task's stack, inside the backend's
 * record (iocp.h). Filled by op_start; the fields are netpoll.c's. */
struct corio__pollop {
    corio_task *task;       /* who waits for the completion */
    corio_poller *backend;  /* the loop's backend */
    corio_fd fd;            /* the descriptor it runs on */
    uint32_t gen;           /* fd's generation when it started */
    int dir;                /* the slot it occupies while waiting, or -1 */
    int parked;             /* the task is parked waiting for it */
    int done;               /* the completion arrived */
};

/* Attach fd to the current loop (once) and prepare op for one operation
 * of the calling task, which must then be handed to the kernel. dir >= 0
 * (CORIO_DIR_READ / _WRITE): the operation emulates a readiness wait and
 * occupies fd's reader or writer slot while it waits, so that a detach
 * ends it. 0, or CORIO_ENOLOOP (not in a task), CORIO_ENOMEM,
 * CORIO_EINVAL, CORIO_EBUSY (another task waits in that slot). */
int  corio__netpoll_op_start(corio__pollop *op, corio_fd fd, int dir);
/* The call that was handed op failed at once: no completion will come. */
void corio__netpoll_op_abandon(corio__pollop *op);
/* Park until op's completion has arrived. On a deadline, a cancel or a
 * detach, cancel the operation and KEEP WAITING, shielded, for the
 * completion: until it is in, the kernel owns op and the caller's buffer.
 * Returns 0 if the completion came first, else why the wait was cut
 * short: CORIO_ETIMEDOUT, CORIO_ECANCELED, CORIO_ECLOSED. */
int  corio__netpoll_op_wait(corio__pollop *op, int64_t deadline, const char *what);
/* Was op's descriptor detached (closed) since op started? */
int  corio__netpoll_op_stale(const corio__pollop *op);

#endif
