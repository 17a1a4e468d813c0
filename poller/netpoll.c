/*
 * netpoll.c — the generic half of the poller: park on a descriptor or an
 * operation, wake from what the backend reports.
 *
 * The backend (poller.h) knows the kernel and nothing of tasks; this file
 * knows tasks (through coro/park.h) and nothing of the kernel. A recv that
 * would block goes:
 *
 *   os/io_posix.c   recv -> EAGAIN -> corio__netpoll_wait_fd
 *   here            attach fd once (backend attach, with its generation),
 *                   put the task in fd's reader slot, corio__park_on
 *   the loop        corio__netpoll_poll -> backend wait (epoll_wait)
 *   backend         corio__netpoll_ready(fd, gen, readable)
 *   here            generation current? empty the slot, corio__unpark
 *
 * On IOCP the operation itself is what the task waits for: its record is
 * on the task's stack, the backend reports its completion, and a task that
 * stops waiting early (deadline, cancel, detach) cancels the operation and
 * still waits for the completion (see corio__netpoll_op_wait).
 */
#include "netpoll.h"
#include "coro/alloc.h"
#include "fdtable.h"
#include "coro/park.h"
#include "os/fd.h"

#include <stdlib.h>

struct corio__netpoll {
    corio_poller *backend;
    corio_fdtable fds;
};

/* The table index of a descriptor. Windows hands out socket handles as
 * small multiples of four, as dense as Unix descriptors once divided. */
static size_t slot_index(corio_fd fd)
{
#ifdef _WIN32
    return (size_t)fd / 4;
#else
    return (size_t)fd;
#endif
}

static int fd_valid(corio_fd fd)
{
#ifdef _WIN32
    return fd != (corio_fd)~(uintptr_t)0; /* INVALID_SOCKET */
#else
    return fd >= 0;
#endif
}

/* The calling thread's netpoll, or NULL outside a loop. */
static corio__netpoll *here(void)
{
    corio_loop *l = corio__loop();
    return l ? corio__loop_netpoll(l) : NULL;
}

/* ---------- the loop's side ---------- */

int corio__netpoll_open(corio__netpoll **out)
{
    corio__netpoll *np = corio__calloc(1, sizeof *np);
    if (!np) return CORIO_ENOMEM;
    int rc = corio__poller_open(&np->backend);
    if (rc) {
        corio__free(np);
        return rc;
    }
    *out = np;
    return 0;
}

void corio__netpoll_close(corio__netpoll *np)
{
    if (!np) return;
    corio__poller_close(np->backend);
    corio__fdtable_free(&np->fds);
    corio__free(np);
}

int corio__netpoll_poll(corio__netpoll *np, int64_t timeout_ns)
{
    return corio__poller_wait(np->backend, timeout_ns, np);
}

void corio__netpoll_wakeup(corio__netpoll *np)
{
    corio__poller_wakeup(np->backend);
}

int corio__netpoll_backend_fd(const corio__netpoll *np)
{
    return corio__poller_fd(np->backend);
}

int corio__netpoll_pending(const corio__netpoll *np)
{
    return corio__poller_pending(np->backend);
}

/* ---------- slots ---------- */

/* Empty the slot and wake its task, unless its deadline or a cancel woke
 * it already (it then retries or gives up on its own). */
static int wake(corio_fdslot *s, int dir, int status)
{
    corio_task *w = s->waiter[dir];
    if (!w) return 0;
    s->waiter[dir] = NULL;
    return corio__unpark_if_waiting(w, status);
}

/* fd's slot, attached to the backend (once per generation). */
static int attached_slot(corio__netpoll *np, corio_fd fd, corio_fdslot **out)
{
    if (!fd_valid(fd)) return CORIO_EINVAL;
    corio_fdslot *s = corio__fdtable_get(&np->fds, slot_index(fd));
    if (!s) return CORIO_ENOMEM;
    if (!s->attached) {
        int rc = corio__poller_attach(np->backend, fd, s->gen);
        if (rc) return rc;
        s->attached = 1;
        s->tcp = (uint8_t)corio__fd_is_tcp_socket(fd);
        s->drained = 0;
        s->eof = 0;
    }
    *out = s;
    return 0;
}

/* The calling task, its loop's netpoll and fd's attached slot: what
 * every wait and every operation starts from. 0, CORIO_ENOLOOP (not in a
 * task), or attached_slot's error. */
static int task_slot(corio_fd fd, corio_task **self, corio__netpoll **np,
                     corio_fdslot **s)
{
    *self = corio__self();
    if (!*self) return CORIO_ENOLOOP;
    *np = corio__loop_netpoll(corio__task_loop(*self));
    return attached_slot(*np, fd, s);
}

int corio__netpoll_ready(corio__netpoll *np, corio_fd fd, uint32_t gen,
                         int rd, int wr, int eof)
{
    corio_fdslot *s = corio__fdtable_find(&np->fds, slot_index(fd));
    if (!s || s->gen != gen) return 0; /* stale: detached since */
    if (rd) s->drained = 0;             /* new bytes, or end of stream */
    if (eof) s->eof = 1;
    int n = 0;
    if (rd) n += wake(s, CORIO_DIR_READ, 0);
    if (wr) n += wake(s, CORIO_DIR_WRITE, 0);
    return n;
}

int corio__netpoll_detach(corio_fd fd)
{
    corio__netpoll *np = here();
    if (!np) return CORIO_ENOLOOP;
    corio_fdslot *s = fd_valid(fd) ? corio__fdtable_find(&np->fds, slot_index(fd)) : NULL;
    if (!s || !s->attached) return CORIO_EINVAL;
    s->gen++;
    s->attached = 0;
    s->drained = 0;
    s->eof = 0;
    wake(s, CORIO_DIR_READ, CORIO_ECLOSED);
    wake(s, CORIO_DIR_WRITE, CORIO_ECLOSED);
    corio__poller_detach(np->backend, fd);
    return 0;
}

size_t corio__netpoll_registered(const corio__netpoll *np)
{
    size_t n = 0;
    for (size_t i = 0; i < np->fds.len; i++) n += np->fds.v[i].attached;
    return n;
}

/* ---------- readiness ---------- */

int corio__netpoll_wait_fd(corio_fd fd, int dir, int64_t deadline)
{
    corio_task *self;
    corio__netpoll *np;
    corio_fdslot *s;
    int rc = task_slot(fd, &self, &np, &s);
    if (rc) return rc;
    if (s->waiter[dir]) return CORIO_EBUSY;
    s->waiter[dir] = self;
    uint32_t gen = s->gen;
    rc = corio__park_on(deadline, dir == CORIO_DIR_READ ? "readable" : "writable");
    /* The table may have grown (moved) while we were parked: look again.
     * Whoever woke us by an event or a detach already emptied the slot. */
    s = corio__fdtable_find(&np->fds, slot_index(fd));
    if (s && s->waiter[dir] == self) s->waiter[dir] = NULL;
    /* Woken by an event, then the descriptor was closed before we ran:
     * its number may already name another file, so the caller must not
     * retry its system call on it. */
    if (rc == 0 && (!s || s->gen != gen)) rc = CORIO_ECLOSED;
    return rc;
}

int corio__netpoll_read_drained(corio_fd fd)
{
    corio__netpoll *np = corio__self() ? here() : NULL;
    return np && fd_valid(fd) && corio__fdtable_drained(&np->fds, slot_index(fd));
}

void corio__netpoll_short_read(corio_fd fd)
{
    corio__netpoll *np = corio__self() ? here() : NULL;
    if (np && fd_valid(fd)) corio__fdtable_short_read(&np->fds, slot_index(fd));
}

/* ---------- completions ---------- */

#if CORIO_POLLER_COMPLETION

int corio__netpoll_op_start(corio__pollop *op, corio_fd fd, int dir)
{
    corio_task *self;
    corio__netpoll *np;
    corio_fdslot *s;
    int rc = task_slot(fd, &self, &np, &s);
    if (rc) return rc;
    if (dir >= 0 && s->waiter[dir]) return CORIO_EBUSY; /* one per direction */
    op->task = self;
    op->backend = np->backend;
    op->fd = fd;
    op->gen = s->gen;
    op->dir = dir;
    op->parked = 0;
    op->done = 0;
    corio__poller_op_begin(np->backend, op);
    return 0;
}

void corio__netpoll_op_abandon(corio__pollop *op)
{
    corio__poller_op_abandon(op->backend, op);
}

int corio__netpoll_completed(corio__netpoll *np, corio__pollop *op)
{
    (void)np;
    op->done = 1;
    /* The task may already be runnable: its deadline or a cancel woke it
     * in this same loop turn. It will find op->done set. */
    return op->parked ? corio__unpark_if_waiting(op->task, 0) : 0;
}

int corio__netpoll_op_stale(const corio__pollop *op)
{
    corio__netpoll *np = corio__loop_netpoll(corio__task_loop(op->task));
    corio_fdslot *s = corio__fdtable_find(&np->fds, slot_index(op->fd));
    return !s || s->gen != op->gen;
}

/* Occupy or free op's slot (a readiness wait done by an operation). */
static void op_slot(corio__pollop *op, corio_task *who)
{
    if (op->dir < 0) return;
    corio__netpoll *np = corio__loop_netpoll(corio__task_loop(op->task));
    corio_fdslot *s = corio__fdtable_find(&np->fds, slot_index(op->fd));
    if (!s || s->gen != op->gen) return;
    if (who || s->waiter[op->dir] == op->task) s->waiter[op->dir] = who;
}

int corio__netpoll_op_wait(corio__pollop *op, int64_t deadline, const char *what)
{
    int why = 0;
    op_slot(op, op->task);
    while (!op->done) {
        op->parked = 1;
        int r = corio__park_on(deadline, what);
        op->parked = 0;
        if (op->done) break;       /* finished, even if a timer fired too */
        if (r == 0) continue;      /* not our completion's wake: wait on */
        why = r;                   /* ETIMEDOUT, ECANCELED, ECLOSED */
        break;
    }
    op_slot(op, NULL);
    if (op->done) return why;
    /* Ask the kernel to stop. The completion comes either way, and until
     * it does the kernel owns op and the buffer. So wait again, shielded
     * (cancellation cannot cut this wait short) and without a deadline: a
     * cancelled operation completes at once. */
    corio__poller_op_cancel(op->backend, op);
    corio_shield_begin(); /* we are op->task */
    while (!op->done) {
        op->parked = 1;
        corio__park_on(CORIO_NEVER, "cancelling I/O");
        op->parked = 0;
    }
    corio_shield_end();
    return why;
}

#endif /* CORIO_POLLER_COMPLETION */
