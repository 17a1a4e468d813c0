/*
 * fd_posix.c — the public readiness waits on any Unix descriptor.
 *
 * The backends are edge-triggered, which suits the library's own I/O (it
 * always reads until EAGAIN before parking). A user's descriptor carries no
 * such promise: it may already be readable, with no edge still to come. So
 * the public wait first asks poll() for the current state, and parks only
 * when the descriptor is not ready now. No event can slip in between the
 * poll() and the park: events are only handled when this thread's loop
 * runs the poller, which is after we have parked.
 */
#include "poller.h"
#include "coro/sched.h"

#include <poll.h>
#include <unistd.h>

static int wait_ready(corio_fd fd, int dir, int64_t deadline)
{
    corio_loop *l = corio__loop();
    if (!l || !l->current) return CORIO_ENOLOOP;
    if (fd < 0) return CORIO_EINVAL;
    if (corio__cancel_due(l->current)) return CORIO_ECANCELED;
    struct pollfd pfd = { .fd = fd, .events = dir == CORIO_DIR_READ ? POLLIN : POLLOUT };
    if (poll(&pfd, 1, 0) > 0) {
        if (pfd.revents & POLLNVAL) return CORIO_EINVAL;
        return 0;
    }
    return corio_poller_wait_fd(l->poller, fd, dir, deadline);
}

int corio_wait_readable(corio_fd fd, int64_t deadline)
{
    return wait_ready(fd, CORIO_DIR_READ, deadline);
}

int corio_wait_writable(corio_fd fd, int64_t deadline)
{
    return wait_ready(fd, CORIO_DIR_WRITE, deadline);
}

int corio_fd_detach(corio_fd fd)
{
    corio_loop *l = corio__loop();
    if (!l) return CORIO_ENOLOOP;
    return corio_poller_detach(l->poller, fd);
}

int corio_fd_close(corio_fd fd)
{
    corio_loop *l = corio__loop();
    if (l) corio_poller_detach(l->poller, fd); /* never attached is fine */
    return close(fd) == 0 ? 0 : CORIO_EINVAL;
}
