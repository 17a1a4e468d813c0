/*
 * fd.c — the public readiness waits (corio_wait_readable / _writable) and
 * descriptor close/detach, on every backend.
 *
 * The backends are edge-triggered (or completion-based), which suits the
 * library's own I/O: it always tries the call first and parks only when
 * the call would block. A user's descriptor carries no such promise: it
 * may already be ready, with no edge still to come. So the wait first asks
 * the OS whether it is ready now (corio__fd_ready_now: poll() on POSIX; on
 * Windows the readiness request itself completes at once when the socket
 * is ready, so the answer there is "not known, ask the poller"), and parks
 * only when it is not. No event can slip in between: events are handled
 * only when this thread's loop runs the poller, after we have parked.
 */
#include "os/io.h"
#include "os/fd.h"
#include "poller/netpoll.h"
#include "coro/park.h"

static int wait_ready(corio_fd fd, int dir, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    /* A cancelled task is told so before anything else. */
    if (corio__cancel_due(self)) return CORIO_ECANCELED;
    int now = corio__fd_ready_now(fd, dir);
    if (now != 0) return now < 0 ? now : 0;
    return corio__io_wait_ready(fd, dir, deadline);
}

int corio_wait_readable_until(corio_fd fd, int64_t deadline)
{
    return wait_ready(fd, CORIO_DIR_READ, deadline);
}

int corio_wait_readable(corio_fd fd)
{
    return corio_wait_readable_until(fd, CORIO_NEVER);
}

int corio_wait_writable_until(corio_fd fd, int64_t deadline)
{
    return wait_ready(fd, CORIO_DIR_WRITE, deadline);
}

int corio_wait_writable(corio_fd fd)
{
    return corio_wait_writable_until(fd, CORIO_NEVER);
}

int corio_fd_detach(corio_fd fd)
{
    return corio__netpoll_detach(fd);
}

/* Waiters wake with CORIO_ECLOSED, then the descriptor is closed. A
 * second close of the same number is CORIO_ECLOSED and closes nothing,
 * even if the number was reused meanwhile (os/io_posix.c). */
int corio_fd_close(corio_fd fd)
{
    return corio__io_close_once(fd);
}
