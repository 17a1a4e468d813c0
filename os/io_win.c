/*
 * io_win.c — socket operations that suspend only the calling task, for
 * Windows (completion port backend, iocp.c). The interface is io.h; the
 * Unix twin is io_posix.c, and both must behave the same.
 *
 * Every blocking operation has the same shape (compare io_until_done in
 * io_posix.c, which tries first and parks on EAGAIN):
 *
 *     corio_iocp_op op;                        // on this task's stack
 *     op_start(&op, s, -1);
 *     WSARecv(s, &buf, ..., &op.ov, NULL);     // start it; the kernel now
 *                                              // owns op and buf
 *     failed at once  -> op_abandon, return the error
 *     otherwise       -> op_finish: park until the completion packet
 *                        arrives (on timeout or cancel: CancelIoEx, then
 *                        still wait for the packet), return the result
 *
 * One recv, from the public call down to the kernel:
 *   corio__io_recv -> WSARecv (pending) -> op_finish
 *   -> corio__netpoll_op_wait (poller/netpoll.c) parks ... the loop calls
 *   corio__netpoll_poll -> corio__poller_wait (poller/iocp.c)
 *   -> GetQueuedCompletionStatusEx -> corio__netpoll_completed -> unpark
 *   -> back here with the byte count.
 *
 * Same semantics as io_posix.c, by construction:
 *   - data that is already there is returned even to a cancelled task or
 *     after the deadline (the operation completes at once; cancelling it
 *     then finds nothing to cancel), and CORIO_ECANCELED / ETIMEDOUT come
 *     only when it would have had to wait;
 *   - a task whose socket another task closes (corio__io_close) wakes with
 *     CORIO_ECLOSED;
 *   - a datagram longer than the buffer is truncated, not an error;
 *   - a dead peer is CORIO_ECONNRESET or CORIO_EPIPE, never a signal.
 * Differences, all forced by Windows:
 *   - Unix-domain addresses answer CORIO_ENOTSUP: Windows 10 has AF_UNIX,
 *     but without documented AcceptEx/ConnectEx support, and wine (where
 *     this is tested) has none.
 *   - Pipes (corio__io_pipe, a child's stdio) are named pipes: an
 *     anonymous pipe cannot be opened for overlapped I/O. corio__io_read /
 *     corio__io_write on a pipe handle are overlapped ReadFile / WriteFile
 *     with the same OVERLAPPED-on-the-stack rule as the socket calls; a
 *     read whose writer has gone (ERROR_BROKEN_PIPE) is end of stream, a
 *     write whose reader has gone is CORIO_EPIPE.
 *   - corio__io_set_reuseaddr is accepted and does nothing: on Windows
 *     SO_REUSEADDR lets a second socket steal a port that is in use (what
 *     POSIX's option is for, rebinding over TIME_WAIT, Windows allows by
 *     default). asyncio makes the same choice.
 */
#include "io.h"
#include "addr.h"
#include "poller/iocp.h"
#include "coro/park.h"
#include "error.h"

#include <ws2tcpip.h>
#include <mswsock.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* What one WSABUF can carry (its length is a ULONG); callers loop for the
 * rest, as they must anyway (io.h: "some bytes"). */
#define MAX_CHUNK ((size_t)INT_MAX)

/* ------------------------------------------------------------------ */
/* One overlapped operation (poller/iocp.h describes its life)         */
/* ------------------------------------------------------------------ */

/* Prepare op for one operation of the calling task on handle h (a socket
 * or a pipe end); dir >= 0: it is a readiness wait (corio__io_wait_ready). */
static int op_start(corio_iocp_op *op, SOCKET h, int dir)
{
    return corio__netpoll_op_start(&op->base, (corio_fd)h, dir);
}

/* The call handed op.ov failed at once: no packet will come. */
static void op_abandon(corio_iocp_op *op)
{
    corio__netpoll_op_abandon(&op->base);
}

/* Wait for op's packet, then read its outcome. 0 when the operation
 * succeeded (*bytes = bytes transferred; a datagram cut short to the
 * buffer counts as success), else a CORIO_E* code: the operation's own
 * error, or CORIO_ETIMEDOUT / CORIO_ECANCELED when we cancelled it, or
 * CORIO_ECLOSED when the socket was closed under it. */
static int op_finish(corio_iocp_op *op, int64_t deadline, const char *what,
                     DWORD *bytes)
{
    int why = corio__netpoll_op_wait(&op->base, deadline, what);
    DWORD n = 0;
    /* bWait = FALSE: only reads op->ov (the status the kernel left there)
     * and turns the NTSTATUS into a Win32 error; the handle, which may be
     * closed by now, is not touched. */
    DWORD err = GetOverlappedResult((HANDLE)op->base.fd, &op->ov, &n, FALSE)
              ? 0 : GetLastError();
    if (bytes) *bytes = n;
    /* A datagram longer than the buffer: POSIX truncates and succeeds. */
    if (err == 0 || err == ERROR_MORE_DATA) return 0;
    if (corio__netpoll_op_stale(&op->base)) return CORIO_ECLOSED; /* closed under us */
    if (err == ERROR_OPERATION_ABORTED)
        /* We cancelled it (why says why), or the socket was closed behind
         * corio's back with closesocket. */
        return why ? why : CORIO_ECLOSED;
    return corio__error_from_win(err);
}

static int wsa_error(void) { return corio__error_from_win((DWORD)WSAGetLastError()); }

/* ------------------------------------------------------------------ */
/* Sockets and options                                                 */
/* ------------------------------------------------------------------ */

/* An overlapped-capable socket that child processes do not inherit (the
 * Windows spelling of close-on-exec), in non-blocking mode so that a
 * program's own plain send()/recv() on it never blocks the loop (our
 * overlapped calls are unaffected by that mode). */
static SOCKET new_socket(int af, int type)
{
    corio__iocp_wsa_init();
    SOCKET s = WSASocketW(af, type, 0, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) return s;
    u_long on = 1;
    ioctlsocket(s, FIONBIO, &on);
    if (type == SOCK_DGRAM) {
        /* Windows reports an ICMP "port unreachable" for an earlier
         * sendto as an error on the NEXT receive of an unconnected UDP
         * socket; Unix does not. Turn that off, as libuv does. */
        BOOL off = FALSE;
        DWORD n;
        WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof off, NULL, 0, &n, NULL,
                 NULL);
    }
    return s;
}

int corio__io_socket(int family, int type, corio_fd *out)
{
    int af, st;
    if (!out) return CORIO_EINVAL;
    *out = (corio_fd)INVALID_SOCKET;
    switch (family) {
    case CORIO_AF_INET:  af = AF_INET; break;
    case CORIO_AF_INET6: af = AF_INET6; break;
    case CORIO_AF_UNIX:  return CORIO_ENOTSUP;
    default: return CORIO_EINVAL;
    }
    switch (type) {
    case CORIO_SOCK_STREAM: st = SOCK_STREAM; break;
    case CORIO_SOCK_DGRAM:  st = SOCK_DGRAM; break;
    default: return CORIO_EINVAL;
    }
    SOCKET s = new_socket(af, st);
    if (s == INVALID_SOCKET) return wsa_error();
    /* Attached to the loop's port lazily, by its first operation. */
    *out = (corio_fd)s;
    return 0;
}

static int set_int_option(corio_fd fd, int level, int name, int value)
{
    if (setsockopt((SOCKET)fd, level, name, (const char *)&value,
                   sizeof value) != 0)
        return wsa_error();
    return 0;
}

int corio__io_set_reuseaddr(corio_fd fd, int on)
{
    (void)fd; (void)on;
    return 0; /* see the top of this file */
}

int corio__io_set_reuseport(corio_fd fd, int on)
{
    (void)fd; (void)on;
    return CORIO_ENOTSUP;
}

int corio__io_set_nodelay(corio_fd fd, int on)
{
    return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on != 0);
}

int corio__io_get_nodelay(corio_fd fd)
{
    int value = 0, len = sizeof value;
    if (getsockopt((SOCKET)fd, IPPROTO_TCP, TCP_NODELAY, (char *)&value,
                   &len) != 0)
        return wsa_error();
    return value != 0;
}

int corio__io_bind(corio_fd fd, const corio_addr *a)
{
    if (!a || a->len <= 0) return CORIO_EINVAL;
    if (bind((SOCKET)fd, corio__addr_sa(a), a->len) != 0) return wsa_error();
    return 0;
}

int corio__io_listen(corio_fd fd, int backlog)
{
    if (listen((SOCKET)fd, backlog) != 0) return wsa_error();
    return 0;
}

int corio__io_local_addr(corio_fd fd, corio_addr *out)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (!out) return CORIO_EINVAL;
    memset(out, 0, sizeof *out);
    if (getsockname((SOCKET)fd, (struct sockaddr *)&ss, &len) != 0)
        return wsa_error();
    corio__addr_store(out, &ss, len);
    return 0;
}

int corio__io_peer_addr(corio_fd fd, corio_addr *out)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (!out) return CORIO_EINVAL;
    memset(out, 0, sizeof *out);
    if (getpeername((SOCKET)fd, (struct sockaddr *)&ss, &len) != 0)
        return wsa_error();
    corio__addr_store(out, &ss, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* accept / connect                                                    */
/* ------------------------------------------------------------------ */

/* AcceptEx and ConnectEx are Microsoft extensions that Winsock hands out
 * by GUID. The pointers are the same for every TCP socket of the process,
 * so they are fetched once; atomic because loops on several threads may
 * fetch them at the same time (they all store the same value). */
static _Atomic(LPFN_ACCEPTEX) accept_ex_ptr;
static _Atomic(LPFN_CONNECTEX) connect_ex_ptr;

static void *extension(SOCKET s, GUID id)
{
    void *fn = NULL;
    DWORD n;
    if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn,
                 sizeof fn, &n, NULL, NULL) != 0)
        return NULL;
    return fn;
}

static int socket_family(SOCKET s)
{
    WSAPROTOCOL_INFOW info;
    int len = sizeof info;
    if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0)
        return AF_UNSPEC;
    return info.iAddressFamily;
}

static int socket_type(SOCKET s)
{
    int type = 0, len = sizeof type;
    if (getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0) return -1;
    return type;
}

/* AcceptEx writes the two addresses into this buffer: each slot must be
 * 16 bytes larger than the largest address. */
#define ACCEPT_ADDR_SLOT (sizeof(struct sockaddr_storage) + 16)

int corio__io_accept(corio_fd lfd, corio_fd *out, corio_addr *peer,
                    int64_t deadline)
{
    SOCKET ls = (SOCKET)lfd;
    if (!out) return CORIO_EINVAL;
    *out = (corio_fd)INVALID_SOCKET;
    if (peer) memset(peer, 0, sizeof *peer);
    LPFN_ACCEPTEX accept_ex = atomic_load(&accept_ex_ptr);
    if (!accept_ex) {
        if (!(accept_ex = extension(ls, (GUID)WSAID_ACCEPTEX))) return wsa_error();
        atomic_store(&accept_ex_ptr, accept_ex);
    }
    int af = socket_family(ls);
    if (af == AF_UNSPEC) return wsa_error();

    for (;;) {
        /* AcceptEx wants the new connection's socket made beforehand. If
         * that fails for lack of descriptors, the pending connection stays
         * queued in the listener, as io.h promises. */
        SOCKET a = new_socket(af, SOCK_STREAM);
        if (a == INVALID_SOCKET) return wsa_error();

        corio_iocp_op op;
        int rc = op_start(&op, ls, -1);
        if (rc) { closesocket(a); return rc; }
        char addrs[2 * ACCEPT_ADDR_SLOT]; /* the kernel's, until the packet */
        DWORD got;
        if (!accept_ex(ls, a, addrs, 0, ACCEPT_ADDR_SLOT, ACCEPT_ADDR_SLOT,
                       &got, &op.ov)) {
            DWORD e = (DWORD)WSAGetLastError();
            if (!corio__iocp_packet_due(e)) {
                op_abandon(&op);
                closesocket(a);
                if (e == WSAECONNRESET) continue; /* the client gave up */
                return corio__error_from_win(e);
            }
        }
        rc = op_finish(&op, deadline, "accept", NULL);
        if (rc < 0) {
            closesocket(a);
            /* The client gave up between its SYN and our accept: that
             * connection is gone, the next one may be fine. */
            if (rc == CORIO_ECONNRESET || rc == CORIO_ECONNABORTED) continue;
            return rc;
        }
        /* Until this, the new socket knows nothing of its listener:
         * getpeername, shutdown and friends would fail on it. */
        setsockopt(a, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&ls,
                   sizeof ls);
        if (peer) {
            struct sockaddr_storage ss;
            int len = sizeof ss;
            if (getpeername(a, (struct sockaddr *)&ss, &len) == 0)
                corio__addr_store(peer, &ss, len);
        }
        *out = (corio_fd)a;
        return 0;
    }
}

/* ConnectEx only works on a bound socket: bind to the wildcard address
 * (any port) of the destination's family if the caller did not bind. */
static int bind_if_unbound(SOCKET s, int family)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &len) == 0) return 0;
    if (WSAGetLastError() != WSAEINVAL) return wsa_error();
    memset(&ss, 0, sizeof ss);
    ss.ss_family = (ADDRESS_FAMILY)family;
    len = family == AF_INET6 ? (int)sizeof(struct sockaddr_in6)
                             : (int)sizeof(struct sockaddr_in);
    if (bind(s, (struct sockaddr *)&ss, len) != 0) return wsa_error();
    return 0;
}

int corio__io_connect(corio_fd fd, const corio_addr *a, int64_t deadline)
{
    SOCKET s = (SOCKET)fd;
    struct sockaddr_storage to;
    if (corio__addr_load(a, &to) < 0) return CORIO_EINVAL;

    /* A datagram "connect" only records the peer: no handshake, no wait. */
    if (socket_type(s) == SOCK_DGRAM) {
        if (connect(s, corio__addr_sa(a), a->len) != 0) return wsa_error();
        return 0;
    }
    LPFN_CONNECTEX connect_ex = atomic_load(&connect_ex_ptr);
    if (!connect_ex) {
        if (!(connect_ex = extension(s, (GUID)WSAID_CONNECTEX))) return wsa_error();
        atomic_store(&connect_ex_ptr, connect_ex);
    }
    int rc = bind_if_unbound(s, to.ss_family);
    if (rc) return rc;

    corio_iocp_op op;
    rc = op_start(&op, s, -1);
    if (rc) return rc;
    if (!connect_ex(s, (const struct sockaddr *)&to, a->len, NULL, 0, NULL,
                    &op.ov)) {
        DWORD e = (DWORD)WSAGetLastError();
        if (!corio__iocp_packet_due(e)) {
            op_abandon(&op);
            return corio__error_from_win(e);
        }
    }
    rc = op_finish(&op, deadline, "connect", NULL);
    if (rc < 0) return rc;
    /* As with accept: make getpeername, shutdown ... know the peer. */
    setsockopt(s, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Data                                                                */
/* ------------------------------------------------------------------ */

/* The four data calls differ only in the Winsock function and its
 * arguments; this is everything one of them needs. */
typedef enum { OP_RECV, OP_SEND, OP_RECVFROM, OP_SENDTO } data_kind;

static ptrdiff_t data_op(data_kind kind, corio_fd fd, void *buf, size_t len,
                         const corio_addr *to, corio_addr *from,
                         int64_t deadline)
{
    SOCKET s = (SOCKET)fd;
    /* POSIX recv/send of 0 bytes return 0 at once; an overlapped
     * zero-byte receive would instead wait for data (the readiness
     * trick in corio__io_wait_ready, below). */
    if (len == 0) return 0;
    WSABUF wb = { (ULONG)(len > MAX_CHUNK ? MAX_CHUNK : len), buf };
    struct sockaddr_storage ss;      /* recvfrom: filled by the kernel */
    INT ss_len = sizeof ss;          /* ... and so is this */
    DWORD flags = 0, n = 0;

    corio_iocp_op op;
    int rc = op_start(&op, s, -1);
    if (rc) return rc;
    int r;
    const char *what;
    switch (kind) {
    case OP_RECV:
        r = WSARecv(s, &wb, 1, NULL, &flags, &op.ov, NULL);
        what = "recv";
        break;
    case OP_SEND:
        r = WSASend(s, &wb, 1, NULL, 0, &op.ov, NULL);
        what = "send";
        break;
    case OP_RECVFROM:
        r = WSARecvFrom(s, &wb, 1, NULL, &flags, (struct sockaddr *)&ss,
                        &ss_len, &op.ov, NULL);
        what = "recvfrom";
        break;
    default:
        r = WSASendTo(s, &wb, 1, NULL, 0, to ? corio__addr_sa(to) : NULL,
                      to ? to->len : 0, &op.ov, NULL);
        what = "sendto";
        break;
    }
    if (r != 0) {
        DWORD e = (DWORD)WSAGetLastError();
        if (!corio__iocp_packet_due(e)) {
            op_abandon(&op);
            return corio__error_from_win(e);
        }
    }
    rc = op_finish(&op, deadline, what, &n);
    if (rc < 0) return rc;
    if (kind == OP_RECVFROM && from) corio__addr_store(from, &ss, ss_len);
    return (ptrdiff_t)n;
}

ptrdiff_t corio__io_recv(corio_fd fd, void *buf, size_t len, int64_t deadline)
{
    return data_op(OP_RECV, fd, buf, len, NULL, NULL, deadline);
}

ptrdiff_t corio__io_send(corio_fd fd, const void *buf, size_t len,
                        int64_t deadline)
{
    return data_op(OP_SEND, fd, (void *)buf, len, NULL, NULL, deadline);
}

ptrdiff_t corio__io_recvfrom(corio_fd fd, void *buf, size_t len,
                            corio_addr *from, int64_t deadline)
{
    if (from) memset(from, 0, sizeof *from);
    return data_op(OP_RECVFROM, fd, buf, len, NULL, from, deadline);
}

ptrdiff_t corio__io_sendto(corio_fd fd, const void *buf, size_t len,
                          const corio_addr *to, int64_t deadline)
{
    if (to && to->len <= 0) return CORIO_EINVAL;
    return data_op(OP_SENDTO, fd, (void *)buf, len, to, NULL, deadline);
}

/* ------------------------------------------------------------------ */
/* Pipes: named pipe pairs, overlapped ReadFile / WriteFile            */
/* ------------------------------------------------------------------ */

/* What each side of our pipes buffers. Writes are cut to this size: an
 * overlapped WriteFile larger than the pipe's buffer completes only when
 * the reader has taken most of it, and a write cancelled half way (a
 * deadline) cannot say how much went through. */
#define PIPE_BUFFER ((DWORD)64 * 1024)

int corio__iocp_pipe(HANDLE *server, HANDLE *client, int server_reads,
                    int client_overlapped, int client_inherit)
{
    /* A name nobody else can have opened first: our process id, a
     * counter, and FILE_FLAG_FIRST_PIPE_INSTANCE, which fails if the name
     * exists already (then we take the next number). */
    static atomic_uint counter;
    *server = *client = INVALID_HANDLE_VALUE;
    wchar_t name[64];
    HANDLE s = INVALID_HANDLE_VALUE;
    for (int tries = 0; tries < 16 && s == INVALID_HANDLE_VALUE; tries++) {
        _snwprintf(name, sizeof name / sizeof name[0],
                   L"\\\\.\\pipe\\corio-%lu-%u", GetCurrentProcessId(),
                   atomic_fetch_add(&counter, 1));
        name[sizeof name / sizeof name[0] - 1] = L'\0';
        s = CreateNamedPipeW(name,
                             (server_reads ? PIPE_ACCESS_INBOUND
                                           : PIPE_ACCESS_OUTBOUND) |
                                 FILE_FLAG_OVERLAPPED |
                                 FILE_FLAG_FIRST_PIPE_INSTANCE,
                             PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                 PIPE_REJECT_REMOTE_CLIENTS,
                             1, PIPE_BUFFER, PIPE_BUFFER, 0, NULL);
        if (s == INVALID_HANDLE_VALUE && GetLastError() != ERROR_ACCESS_DENIED &&
            GetLastError() != ERROR_PIPE_BUSY)
            return corio__error_from_win(GetLastError());
    }
    if (s == INVALID_HANDLE_VALUE) return CORIO_EIO;

    SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, client_inherit ? TRUE : FALSE };
    /* FILE_WRITE_ATTRIBUTES / FILE_READ_ATTRIBUTES: what a reading (or
     * writing) client needs besides its direction to query and set the
     * pipe's state, as libuv opens it. */
    DWORD access = server_reads ? GENERIC_WRITE | FILE_READ_ATTRIBUTES
                                : GENERIC_READ | FILE_WRITE_ATTRIBUTES;
    HANDLE c = CreateFileW(name, access, 0, &sa, OPEN_EXISTING,
                           client_overlapped ? FILE_FLAG_OVERLAPPED : 0, NULL);
    if (c == INVALID_HANDLE_VALUE) {
        int rc = corio__error_from_win(GetLastError());
        CloseHandle(s);
        return rc;
    }
    /* The client opened the only instance, so the pipe is connected:
     * no ConnectNamedPipe needed. */
    *server = s;
    *client = c;
    return 0;
}

int corio__io_pipe(corio_fd fds[2])
{
    HANDLE rd, wr;
    int rc = corio__iocp_pipe(&rd, &wr, 1, 1, 0);
    if (rc) return rc;
    /* Attached to the loop's port lazily, by the first read or write. */
    fds[0] = (corio_fd)rd;
    fds[1] = (corio_fd)wr;
    return 0;
}

/* One overlapped ReadFile or WriteFile on a pipe handle: data_op's shape
 * with the file calls instead of Winsock's. */
static ptrdiff_t pipe_op(int writing, corio_fd fd, void *buf, size_t len,
                         int64_t deadline)
{
    HANDLE h = (HANDLE)fd;
    if (len == 0) return 0;
    DWORD want = (DWORD)(len > PIPE_BUFFER ? PIPE_BUFFER : len), n = 0;
    corio_iocp_op op;
    int rc = op_start(&op, (SOCKET)h, -1);
    if (rc) return rc;
    BOOL ok = writing ? WriteFile(h, buf, want, NULL, &op.ov)
                      : ReadFile(h, buf, want, NULL, &op.ov);
    DWORD e = ok ? 0 : GetLastError();
    if (!corio__iocp_packet_due(e)) {
        op_abandon(&op);
        /* Every writer closed: end of stream, as read(2) says. */
        if (!writing && (e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF))
            return 0;
        return corio__error_from_win(e);
    }
    rc = op_finish(&op, deadline, writing ? "write" : "read", &n);
    if (!writing && rc == CORIO_EPIPE) return 0; /* ERROR_BROKEN_PIPE */
    if (rc < 0) return rc;
    return (ptrdiff_t)n;
}

/* A socket goes to recv/send, anything else is taken for a pipe. */
ptrdiff_t corio__io_read(corio_fd fd, void *buf, size_t len, int64_t deadline)
{
    if (socket_type((SOCKET)fd) < 0) return pipe_op(0, fd, buf, len, deadline);
    return corio__io_recv(fd, buf, len, deadline);
}

ptrdiff_t corio__io_write(corio_fd fd, const void *buf, size_t len,
                         int64_t deadline)
{
    if (socket_type((SOCKET)fd) < 0)
        return pipe_op(1, fd, (void *)buf, len, deadline);
    return corio__io_send(fd, buf, len, deadline);
}

/* One attempt, no completion port: a plain send() on the socket, which
 * new_socket put in non-blocking mode, so a full send buffer answers
 * WSAEWOULDBLOCK (CORIO_EAGAIN). No packet is queued for a plain call.
 * The caller guarantees no overlapped send of its own is in flight on s,
 * or the bytes could overtake it. */
ptrdiff_t corio__io_send_nowait(corio_fd fd, const void *buf, size_t len)
{
    if (len == 0) return 0;
    int chunk = (int)(len > MAX_CHUNK ? MAX_CHUNK : len);
    int n = send((SOCKET)fd, buf, chunk, 0);
    if (n == SOCKET_ERROR) return wsa_error();
    return n;
}

/* Sockets only: an overlapped pipe handle has no "try without waiting",
 * so a pipe answers CORIO_ENOTSUP and streams queue its bytes for
 * corio__io_write (see io.h). */
ptrdiff_t corio__io_write_nowait(corio_fd fd, const void *buf, size_t len)
{
    if (socket_type((SOCKET)fd) < 0) return CORIO_ENOTSUP;
    return corio__io_send_nowait(fd, buf, len);
}

int corio__io_is_socket(corio_fd fd)
{
    return socket_type((SOCKET)fd) >= 0;
}

/* ------------------------------------------------------------------ */
/* Ending                                                              */
/* ------------------------------------------------------------------ */

int corio__io_shutdown_write(corio_fd fd)
{
    if (shutdown((SOCKET)fd, SD_SEND) != 0) return wsa_error();
    return 0;
}

/* POSIX marks closed numbers against a second close (io_posix.c);
 * Windows hands out SOCKET and HANDLE values that are not reused at
 * once, and keeps close as it is. */
void corio__io_fd_seen(corio_fd fd) { (void)fd; }
int corio__io_close_once(corio_fd fd) { return corio__io_close(fd); }

int corio__io_close(corio_fd fd)
{
    /* Detach first: tasks with an operation pending on this socket are
     * made to finish it (CancelIoEx) and will say CORIO_ECLOSED. Detach
     * answers CORIO_EINVAL for a socket that never did any I/O here. */
    int is_socket = socket_type((SOCKET)fd) >= 0;
    (void)corio__netpoll_detach(fd);
    if (!is_socket) /* a pipe end: a plain handle */
        return CloseHandle((HANDLE)fd) ? 0 : corio__error_from_win(GetLastError());
    if (closesocket((SOCKET)fd) != 0) return wsa_error();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Name resolution (blocking: runs on a worker thread)                 */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Readiness, emulated                                                 */
/* ------------------------------------------------------------------ */

/*
 * Readiness (corio__io_wait_ready, for corio_wait_readable/_writable) is
 * emulated with an operation that completes when the socket is ready:
 *   readable, connected or datagram socket: a zero-byte WSARecv (with
 *       MSG_PEEK for datagrams, or it would swallow one). It completes
 *       when data, a FIN or a reset arrives, and consumes nothing: the
 *       trick libuv and Go use.
 *   readable, listening socket, and writable: there is no documented
 *       overlapped call that waits for "a connection is pending" or "the
 *       send buffer has room" (a zero-byte WSASend completes at once). For
 *       those we issue IOCTL_AFD_POLL, the request of the Winsock kernel
 *       driver (AFD) that WSAPoll and select are built on. It is
 *       undocumented but stable for two decades; libuv, mio (Rust) and
 *       wepoll use it, and wine implements it (its WSAPoll uses it).
 */

/* The AFD poll request (see above). Layouts as used by
 * wepoll and libuv; the same on every Windows since NT 4. */
typedef struct afd_poll_handle {
    HANDLE handle;
    ULONG events;
    LONG status;
} afd_poll_handle;

typedef struct afd_poll_info {
    LARGE_INTEGER timeout;
    ULONG count;
    ULONG exclusive;
    afd_poll_handle handles[1];
} afd_poll_info;

#define IOCTL_AFD_POLL 0x00012024
#define AFD_POLL_RECEIVE 0x0001
#define AFD_POLL_SEND 0x0004
#define AFD_POLL_DISCONNECT 0x0008
#define AFD_POLL_ABORT 0x0010
#define AFD_POLL_LOCAL_CLOSE 0x0020
#define AFD_POLL_ACCEPT 0x0080
#define AFD_POLL_CONNECT_FAIL 0x0100

static int sock_int_option(SOCKET s, int name, int *value)
{
    int len = sizeof *value;
    *value = 0;
    return getsockopt(s, SOL_SOCKET, name, (char *)value, &len);
}

int corio__io_wait_ready(corio_fd fd, int dir, int64_t deadline)
{
    SOCKET s = (SOCKET)fd;
    if (!corio__self()) return CORIO_ENOLOOP;
    int type, listening;
    if (sock_int_option(s, SO_TYPE, &type) != 0)
        return CORIO_EINVAL; /* not a socket (poll() says POLLNVAL) */
    sock_int_option(s, SO_ACCEPTCONN, &listening);

    corio_iocp_op op;
    int rc = op_start(&op, s, dir); /* CORIO_EBUSY: one waiter per direction */
    if (rc) return rc;

    afd_poll_info poll; /* must outlive the request: it is on our stack */
    DWORD err = 0;
    if (dir == CORIO_DIR_READ && !listening) {
        WSABUF none = { 0, NULL };
        DWORD flags = type == SOCK_DGRAM ? MSG_PEEK : 0;
        if (WSARecv(s, &none, 1, NULL, &flags, &op.ov, NULL) != 0)
            err = (DWORD)WSAGetLastError();
    } else {
        ZeroMemory(&poll, sizeof poll);
        poll.timeout.QuadPart = INT64_MAX;
        poll.count = 1;
        poll.handles[0].handle = (HANDLE)s;
        /* Errors and hang-ups count as ready, as with epoll: the next
         * call on the socket reports them. */
        poll.handles[0].events = AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE |
            (dir == CORIO_DIR_READ ? AFD_POLL_ACCEPT | AFD_POLL_RECEIVE |
                                     AFD_POLL_DISCONNECT
                                   : AFD_POLL_SEND | AFD_POLL_CONNECT_FAIL);
        if (!DeviceIoControl((HANDLE)s, IOCTL_AFD_POLL, &poll, sizeof poll,
                             &poll, sizeof poll, NULL, &op.ov))
            err = GetLastError();
        if (err == ERROR_IO_PENDING) err = WSA_IO_PENDING;
    }
    if (!corio__iocp_packet_due(err)) {
        /* It failed at once, which for a zero-byte recv means "not
         * connected" or "reset": the socket has something to report, so
         * it is ready for the call that will report it. */
        op_abandon(&op);
        return dir == CORIO_DIR_READ && !listening ? 0 : corio__error_from_win(err);
    }
    rc = op_finish(&op, deadline, dir == CORIO_DIR_READ ? "readable" : "writable",
                   NULL);
    /* Any completion means "ready"; only our own reasons are errors. */
    if (rc == CORIO_ETIMEDOUT || rc == CORIO_ECANCELED || rc == CORIO_ECLOSED)
        return rc;
    return 0;
}
