/*
 * fd_win.c — "is this socket ready right now?" for net/fd.c. On Windows a
 * corio_fd is a SOCKET; the readiness request that corio__io_wait_ready
 * issues (a zero-byte receive, or an AFD poll request, see os/io_win.c)
 * completes at once when the socket is already ready, so no separate check
 * is needed: the answer is "ask the poller". Other handles (pipes, files)
 * are not pollable and fail there with CORIO_EINVAL.
 */
#include "fd.h"
#include "poller/iocp.h"

int corio__fd_is_tcp_socket(corio_fd fd)
{
    (void)fd;
    return 0; /* IOCP keeps no drained hint (iocp.c) */
}

int corio__fd_ready_now(corio_fd fd, int dir)
{
    (void)dir;
    return (SOCKET)fd == INVALID_SOCKET ? CORIO_EINVAL : 0;
}
