/*
 * io_posix.c — socket and pipe operations that suspend only the calling
 * task, for Unix (epoll and kqueue backends). The interface is io.h.
 *
 * Every blocking operation has the same shape, written once in
 * io_until_done():
 *
 *     for (;;) {
 *         try the system call;            // non-blocking descriptor
 *         success or a real error?  -> return it
 *         EAGAIN?  -> park in the descriptor's reader or writer slot
 *                     (corio__netpoll_wait_fd) until the poller says
 *                     "ready", then go round again
 *     }
 *
 * The poller is edge-triggered, so we only park after the kernel told us
 * EAGAIN: an edge that happened before we parked is not lost (the first
 * attach reports the current state, and later edges only fire after an
 * EAGAIN). A wake without data (a "spurious wake") is normal: the retry
 * simply gets EAGAIN again and parks again.
 *
 * One recv, from the public call down to epoll_wait:
 *   corio__io_recv -> io_until_done -> recv() says EAGAIN
 *   -> corio__netpoll_wait_fd (poller/netpoll.c: attach on first use,
 *      then the task goes into the descriptor's reader slot)
 *   -> corio__park_on (coro/: switch to the next task or the loop)
 *   ... the loop calls corio__netpoll_poll -> corio__poller_wait
 *   -> epoll_wait (poller/epoll.c) -> corio__netpoll_ready -> corio__unpark
 *   -> back in io_until_done -> recv() again.
 *
 * Errors are turned into CORIO_E* codes by one function, corio__error_from_errno().
 */
#include "io.h"
#include "addr.h"
#include "error.h"
#include "poller/netpoll.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* try, park on EAGAIN, retry                                          */
/* ------------------------------------------------------------------ */

/* What one attempt needs; each operation uses the fields it cares about. */
typedef struct io_op {
    void *buf;              /* recv/read: where to; send/write: from */
    size_t len;
    const corio_addr *to;   /* sendto */
    corio_addr *from;       /* recvfrom, accept (may be NULL) */
    corio_fd *accepted;     /* accept */
} io_op;

/* One non-blocking attempt: >= 0 on success, -1 with errno set. */
typedef ptrdiff_t (*io_attempt)(corio_fd fd, io_op *op);

/* Park the current task until fd is ready in `dir`. 0, or CORIO_ETIMEDOUT,
 * CORIO_ECANCELED, CORIO_ECLOSED, CORIO_EBUSY, CORIO_ENOLOOP. */
static int io_park(corio_fd fd, int dir, int64_t deadline)
{
    return corio__netpoll_wait_fd(fd, dir, deadline);
}

int corio__io_wait_ready(corio_fd fd, int dir, int64_t deadline)
{
    return io_park(fd, dir, deadline);
}

/* The one loop every blocking operation runs. We try BEFORE parking, so
 * an operation that can complete at once never suspends; this is also
 * why a cancelled task still gets data that is already there (like a
 * future that is already done), and gets CORIO_ECANCELED only when it
 * would have to wait. */
static ptrdiff_t io_until_done(corio_fd fd, int dir, int64_t deadline,
                               io_attempt attempt, io_op *op)
{
    corio__io_fd_seen(fd); /* in use through corio: see close_marks */
    for (;;) {
        ptrdiff_t n = attempt(fd, op);
        if (n >= 0) return n;
        int e = errno;
        if (e == EINTR) continue; /* a signal handler ran: just retry */
        if (e != EAGAIN && e != EWOULDBLOCK) return corio__error_from_errno(e);
        int rc = io_park(fd, dir, deadline);
        if (rc < 0) return rc;
    }
}

/* ------------------------------------------------------------------ */
/* Sockets and options                                                 */
/* ------------------------------------------------------------------ */

#ifndef SOCK_NONBLOCK
/* Sockets made by accept/socket on systems without SOCK_NONBLOCK
 * (macOS) get their flags afterwards; the brief window in between only
 * matters if another thread forks, which corio does not do. */
static int fd_make_nonblocking_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    int fdf = fcntl(fd, F_GETFD);
    if (fdf < 0 || fcntl(fd, F_SETFD, fdf | FD_CLOEXEC) < 0) return -1;
    return 0;
}
#endif

/* Where SO_NOSIGPIPE exists (BSD, macOS) a dead peer is made an error
 * per socket; on Linux MSG_NOSIGNAL on each send does the same job. */
static void fd_no_sigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
    (void)fd;
#endif
}

#ifdef MSG_NOSIGNAL
#define IO_SEND_FLAGS MSG_NOSIGNAL
#else
#define IO_SEND_FLAGS 0
#endif

int corio__io_socket(int family, int type, corio_fd *out)
{
    int af, st;
    if (!out) return CORIO_EINVAL;
    *out = -1;
    switch (family) {
    case CORIO_AF_INET:  af = AF_INET; break;
    case CORIO_AF_INET6: af = AF_INET6; break;
    case CORIO_AF_UNIX:  af = AF_UNIX; break;
    default: return CORIO_EINVAL;
    }
    switch (type) {
    case CORIO_SOCK_STREAM: st = SOCK_STREAM; break;
    case CORIO_SOCK_DGRAM:  st = SOCK_DGRAM; break;
    default: return CORIO_EINVAL;
    }
#ifdef SOCK_NONBLOCK
    int fd = socket(af, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return corio__error_from_errno(errno);
#else
    int fd = socket(af, st, 0);
    if (fd < 0) return corio__error_from_errno(errno);
    if (fd_make_nonblocking_cloexec(fd) < 0) {
        int e = errno;
        close(fd);
        return corio__error_from_errno(e);
    }
#endif
    fd_no_sigpipe(fd);
    corio__io_fd_seen(fd);
    /* "Attached" happens lazily: the poller attaches a descriptor the
     * first time a task waits on it (corio__netpoll_wait_fd), which saves a
     * system call for sockets that never block. */
    *out = fd;
    return 0;
}

static int set_int_option(corio_fd fd, int level, int name, int value)
{
    if (setsockopt(fd, level, name, &value, sizeof value) < 0)
        return corio__error_from_errno(errno);
    return 0;
}

int corio__io_set_reuseaddr(corio_fd fd, int on)
{
    return set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, on != 0);
}

int corio__io_set_reuseport(corio_fd fd, int on)
{
#ifdef SO_REUSEPORT
    return set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, on != 0);
#else
    (void)fd; (void)on;
    return CORIO_ENOTSUP;
#endif
}

int corio__io_set_nodelay(corio_fd fd, int on)
{
    return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on != 0);
}

int corio__io_get_nodelay(corio_fd fd)
{
    int value = 0;
    socklen_t len = sizeof value;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len) < 0)
        return corio__error_from_errno(errno);
    return value != 0;
}

int corio__io_bind(corio_fd fd, const corio_addr *a)
{
    if (!a || a->len <= 0) return CORIO_EINVAL;
    if (bind(fd, corio__addr_sa(a), (socklen_t)a->len) < 0) return corio__error_from_errno(errno);
    return 0;
}

int corio__io_listen(corio_fd fd, int backlog)
{
    if (listen(fd, backlog) < 0) return corio__error_from_errno(errno);
    return 0;
}

int corio__io_local_addr(corio_fd fd, corio_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!out) return CORIO_EINVAL;
    memset(out, 0, sizeof *out);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return corio__error_from_errno(errno);
    corio__addr_store(out, &ss, len);
    return 0;
}

int corio__io_peer_addr(corio_fd fd, corio_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!out) return CORIO_EINVAL;
    memset(out, 0, sizeof *out);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return corio__error_from_errno(errno);
    corio__addr_store(out, &ss, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* accept / connect                                                    */
/* ------------------------------------------------------------------ */

static ptrdiff_t attempt_accept(corio_fd lfd, io_op *op)
{
    struct sockaddr_storage ss;
    for (;;) {
        socklen_t len = sizeof ss;
#ifdef SOCK_NONBLOCK
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        int fd = accept(lfd, (struct sockaddr *)&ss, &len);
        if (fd >= 0 && fd_make_nonblocking_cloexec(fd) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
#endif
        if (fd < 0) {
            /* The client gave up between its SYN and our accept: that
             * connection is gone, the next one may be fine. Retrying at
             * once cannot spin, since each retry dequeues one entry. */
            if (errno == ECONNABORTED || errno == EPROTO) continue;
            /* EMFILE/ENFILE fall through to io_error -> CORIO_EMFILE and
             * are returned, never retried here: the pending connection
             * stays queued, and looping on it would spin at 100% CPU. */
            return -1;
        }
        fd_no_sigpipe(fd);
        corio__io_fd_seen(fd);
        *op->accepted = fd;
        if (op->from) corio__addr_store(op->from, &ss, len);
        return 0;
    }
}

int corio__io_accept(corio_fd lfd, corio_fd *out, corio_addr *peer,
                    int64_t deadline)
{
    if (!out) return CORIO_EINVAL;
    *out = -1;
    if (peer) memset(peer, 0, sizeof *peer);
    io_op op = { .accepted = out, .from = peer };
    return (int)io_until_done(lfd, CORIO_DIR_READ, deadline, attempt_accept,
                              &op);
}

int corio__io_connect(corio_fd fd, const corio_addr *a, int64_t deadline)
{
    if (!a || a->len <= 0) return CORIO_EINVAL;

    int rc = connect(fd, corio__addr_sa(a), (socklen_t)a->len);
    if (rc == 0) return 0; /* loopback and Unix sockets often finish here */
    /* EINTR on connect does not abort it: the handshake goes on in the
     * kernel, exactly as with EINPROGRESS. (A Unix-domain connect to a
     * full backlog says EAGAIN instead: that connect did NOT start, so it
     * is returned as CORIO_EAGAIN for the caller to retry or give up.) */
    if (errno != EINPROGRESS && errno != EINTR) return corio__error_from_errno(errno);

    /* The handshake is under way: the socket turns writable when it ends,
     * either way. SO_ERROR tells which way. */
    for (;;) {
        rc = io_park(fd, CORIO_DIR_WRITE, deadline);
        if (rc < 0) return rc;

        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return corio__error_from_errno(errno);
        if (err != 0) return corio__error_from_errno(err);

        /* No error yet: connected, or a spurious wake before the
         * handshake ended. Having a peer is what "connected" means. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) return 0;
        if (errno != ENOTCONN) return corio__error_from_errno(errno);
    }
}

/* ------------------------------------------------------------------ */
/* Data                                                                */
/* ------------------------------------------------------------------ */

static ptrdiff_t attempt_recv(corio_fd fd, io_op *op)
{
    return recv(fd, op->buf, op->len, 0);
}

static ptrdiff_t attempt_send(corio_fd fd, io_op *op)
{
    return send(fd, op->buf, op->len, IO_SEND_FLAGS);
}

static ptrdiff_t attempt_recvfrom(corio_fd fd, io_op *op)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ptrdiff_t n = recvfrom(fd, op->buf, op->len, 0,
                           (struct sockaddr *)&ss, &len);
    if (n >= 0 && op->from) corio__addr_store(op->from, &ss, len);
    return n;
}

static ptrdiff_t attempt_sendto(corio_fd fd, io_op *op)
{
    const struct sockaddr *sa = op->to ? corio__addr_sa(op->to) : NULL;
    socklen_t len = op->to ? (socklen_t)op->to->len : 0;
    return sendto(fd, op->buf, op->len, IO_SEND_FLAGS, sa, len);
}

static ptrdiff_t attempt_read(corio_fd fd, io_op *op)
{
    return read(fd, op->buf, op->len);
}

/* write(2) has no MSG_NOSIGNAL, and a pipe whose reader is gone raises
 * SIGPIPE, which kills the process by default. A library must not change
 * the process-wide disposition behind the program's back, so we block
 * SIGPIPE for this thread around the write; if the write raised it, we
 * take the (thread-directed) signal off the pending set before unblocking,
 * unless one was already pending before us (then it is not ours). */
static ptrdiff_t attempt_write(corio_fd fd, io_op *op)
{
#if defined(F_SETNOSIGPIPE)
    /* macOS has no sigtimedwait but can switch SIGPIPE off per pipe. */
    (void)fcntl(fd, F_SETNOSIGPIPE, 1);
    return write(fd, op->buf, op->len);
#else
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);

    ptrdiff_t n = write(fd, op->buf, op->len);
    int e = errno;

    if (n < 0 && e == EPIPE && !was_pending) {
        const struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
#endif
}

ptrdiff_t corio__io_recv(corio_fd fd, void *buf, size_t len, int64_t deadline)
{
    io_op op = { .buf = buf, .len = len };
    /* The drained hint (fdtable.h): this stream socket's last recv was
     * short and no bytes have arrived since, so a recv now could only say
     * EAGAIN. Wait for the edge first and save that system call. */
    if (corio__netpoll_read_drained(fd)) {
        int rc = io_park(fd, CORIO_DIR_READ, deadline);
        if (rc < 0) return rc;
    }
    ptrdiff_t n = io_until_done(fd, CORIO_DIR_READ, deadline, attempt_recv, &op);
    if (n > 0 && (size_t)n < len) corio__netpoll_short_read(fd);
    return n;
}

ptrdiff_t corio__io_send(corio_fd fd, const void *buf, size_t len,
                        int64_t deadline)
{
    io_op op = { .buf = (void *)buf, .len = len };
    return io_until_done(fd, CORIO_DIR_WRITE, deadline, attempt_send, &op);
}

ptrdiff_t corio__io_recvfrom(corio_fd fd, void *buf, size_t len,
                            corio_addr *from, int64_t deadline)
{
    if (from) memset(from, 0, sizeof *from);
    io_op op = { .buf = buf, .len = len, .from = from };
    return io_until_done(fd, CORIO_DIR_READ, deadline, attempt_recvfrom, &op);
}

ptrdiff_t corio__io_sendto(corio_fd fd, const void *buf, size_t len,
                          const corio_addr *to, int64_t deadline)
{
    if (to && to->len <= 0) return CORIO_EINVAL;
    io_op op = { .buf = (void *)buf, .len = len, .to = to };
    return io_until_done(fd, CORIO_DIR_WRITE, deadline, attempt_sendto, &op);
}

int corio__io_pipe(corio_fd fds[2])
{
    int p[2];
#ifdef SOCK_NONBLOCK /* the systems with SOCK_NONBLOCK have pipe2 too */
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return corio__error_from_errno(errno);
#else
    if (pipe(p) != 0) return corio__error_from_errno(errno);
    if (fd_make_nonblocking_cloexec(p[0]) < 0 ||
        fd_make_nonblocking_cloexec(p[1]) < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return corio__error_from_errno(e);
    }
#endif
    /* Attached lazily, like sockets: on the first wait. */
    corio__io_fd_seen(p[0]);
    corio__io_fd_seen(p[1]);
    fds[0] = p[0];
    fds[1] = p[1];
    return 0;
}

ptrdiff_t corio__io_read(corio_fd fd, void *buf, size_t len, int64_t deadline)
{
    io_op op = { .buf = buf, .len = len };
    return io_until_done(fd, CORIO_DIR_READ, deadline, attempt_read, &op);
}

ptrdiff_t corio__io_write(corio_fd fd, const void *buf, size_t len,
                         int64_t deadline)
{
    io_op op = { .buf = (void *)buf, .len = len };
    return io_until_done(fd, CORIO_DIR_WRITE, deadline, attempt_write, &op);
}

/* One attempt, no parking: the same attempts as above, minus the
 * io_until_done loop. */
static ptrdiff_t attempt_once(corio_fd fd, io_attempt attempt, io_op *op)
{
    corio__io_fd_seen(fd);
    for (;;) {
        ptrdiff_t n = attempt(fd, op);
        if (n >= 0) return n;
        if (errno != EINTR) return corio__error_from_errno(errno);
    }
}

ptrdiff_t corio__io_send_nowait(corio_fd fd, const void *buf, size_t len)
{
    io_op op = { .buf = (void *)buf, .len = len };
    return attempt_once(fd, attempt_send, &op);
}

ptrdiff_t corio__io_write_nowait(corio_fd fd, const void *buf, size_t len)
{
    io_op op = { .buf = (void *)buf, .len = len };
    return attempt_once(fd, attempt_write, &op);
}

int corio__io_is_socket(corio_fd fd)
{
    corio__io_fd_seen(fd); /* corio_stream_open: the stream's now */
    struct stat st;
    if (fstat(fd, &st) < 0) return corio__error_from_errno(errno);
    return S_ISSOCK(st.st_mode) ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Ending                                                              */
/* ------------------------------------------------------------------ */

int corio__io_shutdown_write(corio_fd fd)
{
    if (shutdown(fd, SHUT_WR) < 0) return corio__error_from_errno(errno);
    return 0;
}

/*
 * A second corio_fd_close of one descriptor. A descriptor is a number,
 * and the kernel gives a closed number to the very next open: a second
 * close(fd) closes whatever was opened in between, someone else's file.
 * So corio_fd_close marks each number it closes, and a second
 * corio_fd_close of a marked number answers CORIO_ECLOSED and closes
 * nothing. The mark goes when corio hands that number out again (socket,
 * accept, pipe) or meets it as the program's own descriptor (a wait on
 * it, any I/O through corio, corio_stream_open). So the one descriptor
 * corio_fd_close refuses that close(2) would close is one the program
 * made itself, corio never touched, and whose number corio_fd_close
 * closed before: close that one with close(2). A number is marked BEFORE it
 * is closed, so that another thread's socket() that reuses it at once
 * clears the mark after it was set, never before. Numbers from
 * CLOSE_MARKS up are not tracked, and close as close(2) does.
 */
#define CLOSE_MARKS 65536
static _Atomic uint32_t close_marks[CLOSE_MARKS / 32];

void corio__io_fd_seen(corio_fd fd)
{
    if (fd < 0 || fd >= CLOSE_MARKS) return;
    uint32_t bit = UINT32_C(1) << (fd % 32);
    /* A plain load first: the mark is almost never there. */
    if (atomic_load_explicit(&close_marks[fd / 32], memory_order_relaxed) & bit)
        atomic_fetch_and(&close_marks[fd / 32], ~bit);
}

int corio__io_close_once(corio_fd fd)
{
    if (fd >= 0 && fd < CLOSE_MARKS) {
        uint32_t bit = UINT32_C(1) << (fd % 32);
        if (atomic_fetch_or(&close_marks[fd / 32], bit) & bit) return CORIO_ECLOSED;
    }
    return corio__io_close(fd);
}

int corio__io_close(corio_fd fd)
{
    /* Detach FIRST: epoll registrations belong to the open file
     * description, not the number, and a task parked on this fd must be
     * woken (with CORIO_ECLOSED) before the number can be reused by the
     * next socket. Detach answers CORIO_EINVAL for a descriptor that never
     * waited (it was never attached): nothing to undo then. */
    (void)corio__netpoll_detach(fd);

    /* No retry on EINTR: on Linux the descriptor is already gone, and a
     * second close could close someone else's new descriptor. */
    if (close(fd) < 0 && errno != EINTR) return corio__error_from_errno(errno);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Name resolution (blocking: runs on a worker thread)                 */
/* ------------------------------------------------------------------ */


