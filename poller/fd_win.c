/*
 * fd_win.c — the public readiness waits on a Windows socket. The twin of
 * fd_posix.c; the waiting itself is corio_poller_wait_fd in iocp.c (a
 * zero-byte receive or an AFD poll request that completes when the socket
 * is ready). On Windows a corio_fd is a SOCKET; other handles (pipes,
 * files) are not pollable and answer CORIO_EINVAL (not a socket).
 */
#include "iocp.h"
#include "coro/sched.h"

static int wait_ready(corio_fd fd, int dir, int64_t deadline)
{
    corio_loop *l = corio__loop();
    if (!l || !l->current) return CORIO_ENOLOOP;
    if ((SOCKET)fd == INVALID_SOCKET) return CORIO_EINVAL;
    /* Like fd_posix.c, a cancelled task is told so before anything else.
     * A socket that is ready now needs no separate check here: the
     * request issued below completes at once in that case. */
    if (corio__cancel_due(l->current)) return CORIO_ECANCELED;
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
    return closesocket((SOCKET)fd) == 0 ? 0 : CORIO_EINVAL;
}
