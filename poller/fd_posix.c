/*
 * fd_posix.c — "is this descriptor ready right now?" for fd.c, by poll()
 * with a zero timeout.
 */
#include "poller.h"

#include <poll.h>

int corio__fd_ready_now(corio_fd fd, int dir)
{
    if (fd < 0) return CORIO_EINVAL;
    struct pollfd pfd = { .fd = fd, .events = dir == CORIO_DIR_READ ? POLLIN : POLLOUT };
    if (poll(&pfd, 1, 0) <= 0) return 0;
    return (pfd.revents & POLLNVAL) ? CORIO_EINVAL : 1;
}
