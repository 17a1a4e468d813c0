/*
 * iocp.c — the Windows poller backend: an I/O completion port.
 *
 * epoll and kqueue say "this descriptor is ready, go and read"; a
 * completion port says "the read you started has finished, here are the
 * bytes". So on Windows the operation itself is started first (os/io_win.c:
 * WSARecv, AcceptEx, ConnectEx ... with an OVERLAPPED on the waiting
 * task's own stack, inside a corio_iocp_op), and this file's job is only to
 * report each completion packet back to the generic side:
 *
 *   os/io_win.c: corio__netpoll_op_start; WSARecv(s, buf, &op.ov);
 *                corio__netpoll_op_wait -> park
 *   loop:        corio__netpoll_poll -> corio__poller_wait
 *                -> GetQueuedCompletionStatusEx -> packet names &op.ov
 *                -> corio__netpoll_completed(op) -> unpark its task
 *   os/io_win.c: the result is in op.ov (GetOverlappedResult)
 *
 * A socket is attached to the port once (CreateIoCompletionPort) and can
 * never be detached from it; detaching only cancels its operations, so
 * that their tasks get their packets (and netpoll.c's generation check
 * tells them the socket was closed). No stale packet can ever arrive,
 * because no operation returns before its packet did (netpoll.h).
 *
 * Every operation handed to the kernel is on an in-flight list until its
 * packet is in: closing the port first cancels and collects them all.
 *
 * Wakeups from other threads post a packet with a reserved key; an atomic
 * flag makes a burst of wakeups cost one post.
 */
#include "iocp.h"
#include "coro/alloc.h"
#include "os/error.h"

#include <stddef.h>

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

/* ---------- open, close, wakeup ---------- */

int corio__poller_open(corio_poller **out)
{
    corio__iocp_wsa_init();
    corio_poller *p = corio__calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;
    /* Concurrency 1: only this loop's thread ever waits on the port. */
    p->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (!p->port) {
        corio__free(p);
        return CORIO_ENOMEM;
    }
    *out = p;
    return 0;
}

/* A completion port cannot be waited on by poll(), select() or
 * WaitForMultipleObjects: there is nothing for a host to poll. A Windows
 * host calls the step from its message loop with backend_timeout as the
 * wait (docs/embedding.md). */
int corio__poller_fd(const corio_poller *p) { (void)p; return CORIO_ENOTSUP; }
int corio__poller_pending(const corio_poller *p) { (void)p; return 0; }

/* The record around netpoll.c's part of an operation. */
static corio_iocp_op *record_of(corio__pollop *base)
{
    return (corio_iocp_op *)((char *)base - offsetof(corio_iocp_op, base));
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
        CancelIoEx((HANDLE)op->base.fd, &op->ov);
    for (int rounds = 0; p->inflight_count && rounds < 50; rounds++) {
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(p->port, p->entries, MAX_ENTRIES, &n,
                                         100, FALSE))
            continue;
        for (ULONG i = 0; i < n; i++) {
            OVERLAPPED *ov = p->entries[i].lpOverlapped;
            if (!ov || p->entries[i].lpCompletionKey == WAKE_KEY) continue;
            corio_iocp_op *op = CONTAINING_RECORD(ov, corio_iocp_op, ov);
            op->base.done = 1; /* its task is never resumed: no unpark */
            inflight_unlink(p, op);
        }
    }
    CloseHandle(p->port);
    corio__free(p);
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

int corio__poller_wait(corio_poller *p, int64_t timeout_ns, corio__netpoll *np)
{
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(p->port, p->entries, MAX_ENTRIES, &n,
                                     timeout_ms(timeout_ns), FALSE)) {
        DWORD e = GetLastError();
        return e == WAIT_TIMEOUT ? 0 : CORIO_EIO;
    }
    int reported = 0;
    for (ULONG i = 0; i < n; i++) {
        OVERLAPPED_ENTRY *e = &p->entries[i];
        if (e->lpCompletionKey == WAKE_KEY) {
            /* Clear the flag: the next wakeup posts again. */
            atomic_store(&p->wake_pending, 0);
            continue;
        }
        if (!e->lpOverlapped) continue; /* a post that is not ours */
        corio_iocp_op *op = CONTAINING_RECORD(e->lpOverlapped, corio_iocp_op, ov);
        inflight_unlink(p, op);
        corio__netpoll_completed(np, &op->base);
        reported++;
    }
    return reported;
}

/* ---------- descriptors and operations ---------- */

int corio__poller_attach(corio_poller *p, corio_fd fd, uint32_t gen)
{
    (void)gen; /* no stale packets to tell apart (see the top) */
    if (!CreateIoCompletionPort((HANDLE)fd, p->port, IO_KEY, 0)) {
        /* Already associated: a socket detached earlier and used again
         * (a handle can never leave its port). Anything else is a bad
         * handle. */
        DWORD e = GetLastError();
        if (e != ERROR_INVALID_PARAMETER) return corio__error_from_win(e);
    }
    return 0;
}

/* The socket stays associated with the port: that cannot be undone, which
 * is harmless once it is closed. Make the kernel finish every operation
 * still pending on it, so that their tasks get their packets. */
void corio__poller_detach(corio_poller *p, corio_fd fd)
{
    (void)p;
    CancelIoEx((HANDLE)fd, NULL);
}

void corio__poller_op_begin(corio_poller *p, corio__pollop *op)
{
    corio_iocp_op *r = record_of(op);
    ZeroMemory(&r->ov, sizeof r->ov);
    inflight_link(p, r);
}

void corio__poller_op_abandon(corio_poller *p, corio__pollop *op)
{
    inflight_unlink(p, record_of(op));
}

/* ERROR_NOT_FOUND means the operation already finished and its packet is
 * on the way: either way a packet comes. */
void corio__poller_op_cancel(corio_poller *p, corio__pollop *op)
{
    (void)p;
    CancelIoEx((HANDLE)op->fd, &record_of(op)->ov);
}
