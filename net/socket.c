/*
 * socket.c — TCP, Unix-domain and UDP sockets for tasks: the public
 * corio_tcp_*, corio_unix_*, corio_udp_* and corio_sock_* calls.
 *
 * This file is deliberately thin. Every operation that can wait is one
 * call to os/io.h (corio__io_connect, corio__io_accept, corio__io_recv,
 * ...), which suspends only the calling task and hides whether the OS
 * works by readiness (epoll, kqueue) or by completion (IOCP). What is
 * left here is the policy asyncio's create_connection / create_server
 * apply on top of raw sockets:
 *
 *   - TCP_NODELAY on every TCP socket we connect or accept. A request /
 *     response protocol otherwise waits for Nagle's algorithm to meet the
 *     peer's delayed ACK (40 ms on Linux). asyncio does the same since
 *     Python 3.7; corio_tcp_nodelay(fd, 0) turns it off.
 *   - SO_REUSEADDR on every listener, so a server restarted at once can
 *     bind its port again while old connections sit in TIME_WAIT.
 *   - connect_host tries each resolved address in turn, all within ONE
 *     deadline, as asyncio's create_connection does ("localhost" may
 *     resolve to ::1 first while the server only listens on 127.0.0.1).
 *   - A socket we made is closed again if a later step fails: a failing
 *     call never leaks a descriptor.
 *
 * No #ifdef and no OS header here: see os/io.h for why.
 */
#include "corio.h"
#include "os/io.h"

/* ------------------------------------------------------------------ */
/* TCP clients                                                         */
/* ------------------------------------------------------------------ */

/* Is this address one that TCP options apply to? (Unix-domain stream
 * sockets share the TCP calls but have no Nagle to switch off.) */
static int is_ip(const corio_addr *a)
{
    int f = corio_addr_family(a);
    return f == CORIO_AF_INET || f == CORIO_AF_INET6;
}

/* A stream socket for a's family, connected to a, or an error with
 * nothing left open. */
static int stream_connect(const corio_addr *a, int64_t deadline,
                          corio_fd *out)
{
    corio_fd fd;
    int family = corio_addr_family(a);
    if (family < 0) return family;
    int rc = corio__io_socket(family, CORIO_SOCK_STREAM, &fd);
    if (rc < 0) return rc;
    rc = corio__io_connect(fd, a, deadline);
    if (rc == 0 && is_ip(a)) rc = corio__io_set_nodelay(fd, 1);
    if (rc < 0) {
        corio__io_close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

int corio_tcp_connect_until(const corio_addr *a, corio_fd *out,
                            int64_t deadline)
{
    if (!a || !out || a->len <= 0) return CORIO_EINVAL;
    return stream_connect(a, deadline, out);
}

int corio_tcp_connect(const corio_addr *a, corio_fd *out)
{
    return corio_tcp_connect_until(a, out, CORIO_NEVER);
}

/* How many addresses of one name we are willing to try. */
#define CONNECT_MAX_ADDRS 16

int corio_tcp_connect_host_until(const char *host, int port, corio_fd *out,
                                 int64_t deadline)
{
    if (!host || !out) return CORIO_EINVAL;
    corio_addr addrs[CONNECT_MAX_ADDRS];
    int n = corio_resolve_until(host, port, 0, addrs, CONNECT_MAX_ADDRS,
                                deadline);
    if (n < 0) return n;

    /* Try each address in the resolver's order (RFC 6724 preference).
     * The first error is usually the telling one (a refusal on the
     * preferred address), so that is what we report if all fail, unless
     * the caller's own fate (deadline, cancel) ended the attempt. */
    int first_err = 0;
    for (int i = 0; i < n; i++) {
        int rc = stream_connect(&addrs[i], deadline, out);
        if (rc == 0) return 0;
        if (rc == CORIO_ETIMEDOUT || rc == CORIO_ECANCELED) return rc;
        if (first_err == 0) first_err = rc;
    }
    return first_err;
}

int corio_tcp_connect_host(const char *host, int port, corio_fd *out)
{
    return corio_tcp_connect_host_until(host, port, out, CORIO_NEVER);
}

/* ------------------------------------------------------------------ */
/* Listeners                                                           */
/* ------------------------------------------------------------------ */

int corio_tcp_listen(const corio_addr *a, int backlog, int flags,
                     corio_fd *out)
{
    if (!a || !out || a->len <= 0) return CORIO_EINVAL;
    int family = corio_addr_family(a);
    if (family < 0) return family;

    corio_fd fd;
    int rc = corio__io_socket(family, CORIO_SOCK_STREAM, &fd);
    if (rc < 0) return rc;
    /* Reuse options mean "ports": a Unix-domain path has none. */
    if (family != CORIO_AF_UNIX) {
        rc = corio__io_set_reuseaddr(fd, 1);
        if (rc == 0 && (flags & CORIO_LISTEN_REUSEPORT))
            rc = corio__io_set_reuseport(fd, 1);
    }
    if (rc == 0) rc = corio__io_bind(fd, a);
    if (rc == 0) rc = corio__io_listen(fd, backlog > 0 ? backlog : 128);
    if (rc < 0) {
        corio__io_close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

/* Serves Unix-domain listeners too (corio_unix_listen's sockets). */
int corio_tcp_accept_until(corio_fd listener, corio_fd *out, corio_addr *peer,
                           int64_t deadline)
{
    if (!out) return CORIO_EINVAL;
    corio_addr local_peer;
    corio_addr *who = peer ? peer : &local_peer;
    corio_fd fd;
    int rc = corio__io_accept(listener, &fd, who, deadline);
    if (rc < 0) return rc;
    /* The peer's family tells TCP from Unix-domain without asking the
     * OS again. An accepted socket whose option cannot be set is still a
     * good connection, so a failure here is not fatal. */
    if (is_ip(who)) (void)corio__io_set_nodelay(fd, 1);
    *out = fd;
    return 0;
}

int corio_tcp_accept(corio_fd listener, corio_fd *out, corio_addr *peer)
{
    return corio_tcp_accept_until(listener, out, peer, CORIO_NEVER);
}

int corio_tcp_nodelay(corio_fd fd, int on)
{
    return corio__io_set_nodelay(fd, on);
}

/* ------------------------------------------------------------------ */
/* Unix-domain sockets                                                 */
/* ------------------------------------------------------------------ */

/* The path must not exist yet (as with bind(2)): remove a stale socket
 * file before listening again. CORIO_ENOTSUP where the OS has none. */
int corio_unix_listen(const char *path, int backlog, corio_fd *out)
{
    corio_addr a;
    int rc = corio_addr_unix(&a, path);
    if (rc < 0) return rc;
    return corio_tcp_listen(&a, backlog, 0, out);
}

int corio_unix_connect_until(const char *path, corio_fd *out, int64_t deadline)
{
    corio_addr a;
    int rc = corio_addr_unix(&a, path);
    if (rc < 0) return rc;
    if (!out) return CORIO_EINVAL;
    return stream_connect(&a, deadline, out);
}

int corio_unix_connect(const char *path, corio_fd *out)
{
    return corio_unix_connect_until(path, out, CORIO_NEVER);
}

/* ------------------------------------------------------------------ */
/* UDP                                                                 */
/* ------------------------------------------------------------------ */

int corio_udp_bind(const corio_addr *a, corio_fd *out)
{
    if (!a || !out || a->len <= 0) return CORIO_EINVAL;
    int family = corio_addr_family(a);
    if (family < 0) return family;
    corio_fd fd;
    int rc = corio__io_socket(family, CORIO_SOCK_DGRAM, &fd);
    if (rc < 0) return rc;
    rc = corio__io_bind(fd, a);
    if (rc < 0) {
        corio__io_close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

ptrdiff_t corio_udp_sendto_until(corio_fd fd, const void *buf, size_t len,
                                 const corio_addr *to, int64_t deadline)
{
    if (!to) return CORIO_EINVAL;
    return corio__io_sendto(fd, buf, len, to, deadline);
}

ptrdiff_t corio_udp_sendto(corio_fd fd, const void *buf, size_t len,
                           const corio_addr *to)
{
    return corio_udp_sendto_until(fd, buf, len, to, CORIO_NEVER);
}

ptrdiff_t corio_udp_recvfrom_until(corio_fd fd, void *buf, size_t len,
                                   corio_addr *from, int64_t deadline)
{
    return corio__io_recvfrom(fd, buf, len, from, deadline);
}

ptrdiff_t corio_udp_recvfrom(corio_fd fd, void *buf, size_t len,
                             corio_addr *from)
{
    return corio_udp_recvfrom_until(fd, buf, len, from, CORIO_NEVER);
}

/* ------------------------------------------------------------------ */
/* Raw socket I/O                                                      */
/* ------------------------------------------------------------------ */

ptrdiff_t corio_sock_recv_until(corio_fd fd, void *buf, size_t len,
                                int64_t deadline)
{
    return corio__io_recv(fd, buf, len, deadline);
}

ptrdiff_t corio_sock_recv(corio_fd fd, void *buf, size_t len)
{
    return corio_sock_recv_until(fd, buf, len, CORIO_NEVER);
}

ptrdiff_t corio_sock_send_until(corio_fd fd, const void *buf, size_t len,
                                int64_t deadline)
{
    return corio__io_send(fd, buf, len, deadline);
}

ptrdiff_t corio_sock_send(corio_fd fd, const void *buf, size_t len)
{
    return corio_sock_send_until(fd, buf, len, CORIO_NEVER);
}

int corio_sock_send_all_until(corio_fd fd, const void *buf, size_t len,
                              int64_t deadline)
{
    const char *p = buf;
    while (len > 0) {
        ptrdiff_t n = corio__io_send(fd, p, len, deadline);
        if (n < 0) return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int corio_sock_send_all(corio_fd fd, const void *buf, size_t len)
{
    return corio_sock_send_all_until(fd, buf, len, CORIO_NEVER);
}

int corio_sock_local_addr(corio_fd fd, corio_addr *out)
{
    return corio__io_local_addr(fd, out);
}

int corio_sock_peer_addr(corio_fd fd, corio_addr *out)
{
    return corio__io_peer_addr(fd, out);
}

int corio_sock_shutdown_write(corio_fd fd)
{
    return corio__io_shutdown_write(fd);
}
