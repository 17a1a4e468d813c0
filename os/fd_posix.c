/*
 * fd_posix.c — "is this descriptor ready right now?" for net/fd.c, by poll()
 * with a zero timeout; and "is it a TCP socket?" for fdtable.c.
 */
#include "fd.h"
#include "poller/poller.h" /* CORIO_DIR_READ */

#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>

int corio__fd_is_tcp_socket(corio_fd fd)
{
#ifdef SO_PROTOCOL /* Linux, FreeBSD: one system call */
    int proto = 0;
    socklen_t len = sizeof proto;
    return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
           proto == IPPROTO_TCP;
#else              /* elsewhere: a stream socket of an IP family */
    int type = 0;
    socklen_t len = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
           getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
           (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
#endif
}

int corio__fd_ready_now(corio_fd fd, int dir)
{
    if (fd < 0) return CORIO_EINVAL;
    struct pollfd pfd = { .fd = fd, .events = dir == CORIO_DIR_READ ? POLLIN : POLLOUT };
    if (poll(&pfd, 1, 0) <= 0) return 0;
    return (pfd.revents & POLLNVAL) ? CORIO_EINVAL : 1;
}
