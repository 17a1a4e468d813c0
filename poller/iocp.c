/*
 * iocp.c — the Windows poller backend: an I/O completion port.
 *
 * epoll and kqueue say "this descriptor is ready, go and read"; a
 * completion port says "the read you started has finished, here are the
 * bytes". So on Windows the operation itself is started first (io_win.c:
 * WSARecv, AcceptEx, ConnectEx ... with an OVERLAPPED on the waiting
 * task's own stack), and this file's job is to turn each completion packet
 * back into "unpark the task that owns that OVERLAPPED":
 *
 *   io_win.c: WSARecv(s, buf, &op.ov) -> corio__iocp_op_finish -> park
 *   loop:     corio__poller_wait -> GetQueuedCompletionStatusEx
 *             -> packet names &op.ov -> op.done = 1 -> corio__unpark(task)
 *   io_win.c: back in corio__iocp_op_finish: the result is in op.ov
 *
 * A socket is attached to the port once (CreateIoCompletionPort) and can
 * never be detached from it; it is forgotten only when it is closed. Its
 * per-socket record (the shared fdtable, indexed by handle / 4: Windows
 * hands out handles as small multiples of four, like Unix descriptors)
 * holds a generation number: detaching bumps it, so an operation that
 * finishes after its socket was closed under it reports CORIO_ECLOSED.
 * No stale packet can ever arrive, because no operation returns before its
 * packet did (see iocp.h).
 *
 * Readiness (corio__poller_wait_fd, for corio_wait_readable/_writable) is
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
 *
 * Wakeups from other threads post a packet with a reserved key; an atomic
 * flag makes a burst of wakeups cost one post.
 */
#include "iocp.h"
#include "fdtable.h"
#include "coro/park.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>

const char corio__poller_name[] = "iocp";

#define MAX_ENTRIES 128
#define IO_KEY ((ULONG_PTR)0)
#define WAKE_KEY ((ULONG_PTR)1)

struct corio_poller {
    HANDLE port;
    atomic_int wake_pending;
    corio_fdtable socks;          /* per socket: generation, attached, waiters */
    corio_iocp_op *inflight;      /* every operation whose packet is due */
    size_t inflight_count;
    OVERLAPPED_ENTRY entries[MAX_ENTRIES];
};

/* ---------- Winsock start-up and errors ---------- */

static BOOL CALLBACK wsa_start(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once; (void)param; (void)ctx;
    WSADATA wd;
    /* Never cleaned up: the process's end does that, and a WSACleanup
     * while another thread still has sockets would break them. */
    return WSAStartup(MAKEWORD(2, 2), &wd) == 0;
}

void corio__iocp_wsa_init(void)
{
    static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
    InitOnceExecuteOnce(&once, wsa_start, NULL, NULL);
}

int corio__iocp_error(DWORD err)
{
    switch (err) {
    case 0:                           return 0;
    case WSAEWOULDBLOCK:              return CORIO_EAGAIN;
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAENETRESET:
    case ERROR_NETNAME_DELETED:       /* the peer reset the connection */
    case ERROR_CONNECTION_ABORTED:
        return CORIO_ECONNRESET;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
    case ERROR_PORT_UNREACHABLE:
        return CORIO_ECONNREFUSED;
    /* Sending after our own shutdown, or after the peer is known gone:
     * what POSIX calls EPIPE (a dead peer never raises anything here:
     * Windows has no SIGPIPE). */
    case WSAESHUTDOWN:
    case ERROR_BROKEN_PIPE:
    case ERROR_NO_DATA:
    case ERROR_GRACEFUL_DISCONNECT:
        return CORIO_EPIPE;
    case WSAEADDRINUSE:
    case WSAEADDRNOTAVAIL:
    case ERROR_ADDRESS_ALREADY_ASSOCIATED:
        return CORIO_EADDRINUSE;
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES:
        return CORIO_EMFILE;
    case WSAENOBUFS:
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
        return CORIO_ENOMEM;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:           /* a connect the network never answered */
    case ERROR_TIMEOUT:
        return CORIO_ETIMEDOUT;
    case WSAENOTCONN:
        return CORIO_ENOTCONN;
    case WSAEHOSTUNREACH:
    case WSAENETUNREACH:
    case WSAENETDOWN:
    case WSAEHOSTDOWN:
    case ERROR_HOST_UNREACHABLE:
    case ERROR_NETWORK_UNREACHABLE:
        return CORIO_EHOSTUNREACH;
    case WSAEALREADY:
    case WSAEINPROGRESS:
    case WSAEISCONN:
        return CORIO_EALREADY;
    case WSAEAFNOSUPPORT:
    case WSAEPROTONOSUPPORT:
    case WSAESOCKTNOSUPPORT:
    case WSAENOPROTOOPT:
    case WSAEOPNOTSUPP:
    case ERROR_NOT_SUPPORTED:
        return CORIO_ENOTSUP;
    /* The handle is no longer a socket: somebody closed it. (POSIX says
     * EBADF for the same situation.) */
    case WSAENOTSOCK:
    case ERROR_INVALID_HANDLE:
        return CORIO_ECLOSED;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return CORIO_EPERM;
    case WSAEINVAL:
    case WSAEFAULT:
    case WSAEDESTADDRREQ:
    case WSAEMSGSIZE:
    case WSAENAMETOOLONG:
    case ERROR_INVALID_PARAMETER:
        return CORIO_EINVAL;
    case ERROR_OPERATION_ABORTED:
        return CORIO_ECANCELED;
    default:
        return CORIO_EIO;
    }
}

/* ---------- open, close, wakeup ---------- */

int corio__poller_open(corio_poller **out)
{
    corio__iocp_wsa_init();
    corio_poller *p = calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;
    /* Concurrency 1: only this loop's thread ever waits on the port. */
    p->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (!p->port) {
        free(p);
        return CORIO_ENOMEM;
    }
    *out = p;
    return 0;
}

static void inflight_link(corio_poller *p, corio_iocp_op *op)
{
    op->prev = NULL;
    op->next = p->inflight;
    if (p->inflight) p->inflight->prev = op;
    p->inflight = op;
    p->inflight_count++;
}

static void inflight_unlink(corio_poller *p, corio_iocp_op *op)
{
    if (op->prev) op->prev->next = op->next; else p->inflight = op->next;
    if (op->next) op->next->prev = op->prev;
    op->prev = op->next = NULL;
    p->inflight_count--;
}

/*
 * The loop is closing. A task destroyed while its operation was pending
 * still has an OVERLAPPED (and a buffer) on its stack that the kernel may
 * write into: cancel every such operation and take its packet out of the
 * port before the port, and then the stacks, go away. Bounded: cancelled
 * socket I/O completes at once; if a driver never answers within a few
 * seconds we give up rather than hang the program.
 */
void corio__poller_close(corio_poller *p)
{
    if (!p) return;
    for (corio_iocp_op *op = p->inflight; op; op = op->next)
        CancelIoEx(op->handle, &op->ov);
    for (int rounds = 0; p->inflight_count && rounds < 50; rounds++) {
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(p->port, p->entries, MAX_ENTRIES, &n,
                                         100, FALSE))
            continue;
        for (ULONG i = 0; i < n; i++) {
            OVERLAPPED *ov = p->entries[i].lpOverlapped;
            if (!ov || p->entries[i].lpCompletionKey == WAKE_KEY) continue;
            corio_iocp_op *op = CONTAINING_RECORD(ov, corio_iocp_op, ov);
            op->done = 1;
            inflight_unlink(p, op);
        }
    }
    CloseHandle(p->port);
    corio__fdtable_free(&p->socks);
    free(p);
}

void corio__poller_wakeup(corio_poller *p)
{
    if (atomic_exchange(&p->wake_pending, 1)) return; /* already on its way */
    PostQueuedCompletionStatus(p->port, 0, WAKE_KEY, NULL);
}

/* ---------- wait ---------- */

/* The port's timeout is in milliseconds: round UP, so that a 0.3 ms
 * sleep waits ~1 ms instead of spinning with 0 ms waits. */
static DWORD timeout_ms(int64_t ns)
{
    if (ns == CORIO_NEVER) return INFINITE;
    if (ns <= 0) return 0;
    int64_t ms = (ns + 999999) / 1000000;
    return ms >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)ms;
}

int corio__poller_wait(corio_poller *p, int64_t timeout_ns)
{
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(p->port, p->entries, MAX_ENTRIES, &n,
                                     timeout_ms(timeout_ns), FALSE)) {
        DWORD e = GetLastError();
        return e == WAIT_TIMEOUT ? 0 : CORIO_EIO;
    }
    int woken = 0;
    for (ULONG i = 0; i < n; i++) {
        OVERLAPPED_ENTRY *e = &p->entries[i];
        if (e->lpCompletionKey == WAKE_KEY) {
            /* Clear the flag: the next wakeup posts again. */
            atomic_store(&p->wake_pending, 0);
            continue;
        }
        if (!e->lpOverlapped) continue; /* a post that is not ours */
        corio_iocp_op *op = CONTAINING_RECORD(e->lpOverlapped, corio_iocp_op, ov);
        op->done = 1;
        inflight_unlink(p, op);
        /* The task may already be runnable: its deadline or a cancel woke
         * it in this same loop turn. It will find op->done set. */
        if (op->parked) woken += corio__unpark_if_waiting(op->task, 0);
    }
    return woken;
}

/* ---------- operations ---------- */

static size_t slot_of(SOCKET s) { return (size_t)s / 4; }

static int attach(corio_poller *p, SOCKET s, corio_fdslot *slot)
{
    if (!CreateIoCompletionPort((HANDLE)s, p->port, IO_KEY, 0)) {
        /* Already associated: a socket detached earlier and used again
         * (a handle can never leave its port). Anything else is a bad
         * handle. */
        DWORD e = GetLastError();
        if (e != ERROR_INVALID_PARAMETER) return corio__iocp_error(e);
    }
    slot->attached = 1;
    return 0;
}

int corio__iocp_op_start(corio_iocp_op *op, SOCKET s, corio_poller **pp)
{
    corio_loop *l = corio__loop();
    corio_poller *p = l ? corio__loop_poller(l) : NULL;
    if (!corio__self() || !p) return CORIO_ENOLOOP;
    if (s == INVALID_SOCKET) return CORIO_EINVAL;
    corio_fdslot *slot = corio__fdtable_get(&p->socks, slot_of(s));
    if (!slot) return CORIO_ENOMEM;
    if (!slot->attached) {
        int rc = attach(p, s, slot);
        if (rc) return rc;
    }
    ZeroMemory(op, sizeof *op);
    op->handle = (HANDLE)s;
    op->task = corio__self();
    op->gen = slot->gen;
    inflight_link(p, op);
    *pp = p;
    return 0;
}

void corio__iocp_op_abandon(corio_poller *p, corio_iocp_op *op)
{
    inflight_unlink(p, op);
}

/* Park until op's packet is in; returns why we stopped waiting early
 * (0 if we did not). */
static int wait_packet(corio_iocp_op *op, int64_t deadline, const char *what)
{
    int why = 0;
    while (!op->done) {
        op->parked = 1;
        int r = corio__park_on(deadline, what);
        op->parked = 0;
        if (op->done) break;       /* finished, even if a timer fired too */
        if (r == 0) continue;      /* not our packet's wake: wait on */
        why = r;                   /* ETIMEDOUT, ECANCELED, ECLOSED */
        break;
    }
    if (op->done) return why;
    /* Ask the kernel to stop. ERROR_NOT_FOUND means the operation already
     * finished and its packet is on the way; either way a packet comes,
     * and until it does the kernel owns op and the buffer. So wait again,
     * shielded (cancellation cannot cut this wait short) and without a
     * deadline: a cancelled operation completes at once. */
    CancelIoEx(op->handle, &op->ov);
    corio_shield_begin(); /* we are op->task */
    while (!op->done) {
        op->parked = 1;
        corio__park_on(CORIO_NEVER, "cancelling I/O");
        op->parked = 0;
    }
    corio_shield_end();
    return why;
}

int corio__iocp_op_finish(corio_poller *p, corio_iocp_op *op, int64_t deadline,
                         const char *what, DWORD *bytes)
{
    int why = wait_packet(op, deadline, what);
    DWORD n = 0;
    /* bWait = FALSE: only reads op->ov (the status the kernel left there)
     * and turns the NTSTATUS into a Win32 error; the handle, which may be
     * closed by now, is not touched. */
    DWORD err = GetOverlappedResult(op->handle, &op->ov, &n, FALSE)
              ? 0 : GetLastError();
    if (bytes) *bytes = n;
    /* A datagram longer than the buffer: POSIX truncates and succeeds. */
    if (err == 0 || err == ERROR_MORE_DATA) return 0;
    corio_fdslot *slot = corio__fdtable_find(&p->socks, slot_of((SOCKET)op->handle));
    if (!slot || slot->gen != op->gen) return CORIO_ECLOSED; /* closed under us */
    if (err == ERROR_OPERATION_ABORTED)
        /* We cancelled it (why says why), or the socket was closed behind
         * corio's back with closesocket. */
        return why ? why : CORIO_ECLOSED;
    return corio__iocp_error(err);
}

/* ---------- readiness ---------- */

/* The AFD poll request (see the top of this file). Layouts as used by
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

int corio__poller_wait_fd(corio_poller *p, corio_fd fd, int dir, int64_t deadline)
{
    SOCKET s = (SOCKET)fd;
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    int type, listening;
    if (sock_int_option(s, SO_TYPE, &type) != 0)
        return CORIO_EINVAL; /* not a socket (poll() says POLLNVAL) */
    sock_int_option(s, SO_ACCEPTCONN, &listening);

    corio_fdslot *slot = corio__fdtable_get(&p->socks, slot_of(s));
    if (!slot) return CORIO_ENOMEM;
    if (slot->waiter[dir]) return CORIO_EBUSY; /* one waiter per direction */

    corio_iocp_op op;
    corio_poller *pp;
    int rc = corio__iocp_op_start(&op, s, &pp);
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
        corio__iocp_op_abandon(pp, &op);
        return dir == CORIO_DIR_READ && !listening ? 0 : corio__iocp_error(err);
    }
    slot = corio__fdtable_find(&p->socks, slot_of(s));
    slot->waiter[dir] = self;
    rc = corio__iocp_op_finish(pp, &op, deadline,
                              dir == CORIO_DIR_READ ? "readable" : "writable",
                              NULL);
    slot = corio__fdtable_find(&p->socks, slot_of(s));
    if (slot && slot->waiter[dir] == self) slot->waiter[dir] = NULL;
    /* Any completion means "ready"; only our own reasons are errors. */
    if (rc == CORIO_ETIMEDOUT || rc == CORIO_ECANCELED || rc == CORIO_ECLOSED)
        return rc;
    return 0;
}

/* IOCP completes operations instead of reporting readiness: no hint. */
int corio__poller_read_drained(corio_poller *p, corio_fd fd)
{
    (void)p;
    (void)fd;
    return 0;
}

void corio__poller_short_read(corio_poller *p, corio_fd fd)
{
    (void)p;
    (void)fd;
}

int corio__poller_detach(corio_poller *p, corio_fd fd)
{
    SOCKET s = (SOCKET)fd;
    corio_fdslot *slot = corio__fdtable_find(&p->socks, slot_of(s));
    if (!slot || !slot->attached) return CORIO_EINVAL;
    /* New generation (operations still in flight will say ECLOSED) and
     * wake the readiness waiters; then make the kernel finish every
     * operation still pending on the socket, so their tasks get their
     * packets. The socket stays associated with the port: that cannot be
     * undone, which is harmless once it is closed. */
    corio__fdtable_forget(&p->socks, slot_of(s));
    CancelIoEx((HANDLE)s, NULL);
    return 0;
}
