/*
 * iocp.h — what the Windows I/O files (os/io_win.c, os/fd_win.c, os/process_win.c) need from the
 * completion-port backend (iocp.c). Internal: nothing here crosses io.h.
 *
 * Every overlapped operation has the same life, written once in iocp.c:
 *
 *     corio_iocp_op op;                  // on the calling task's stack
 *     corio__iocp_op_start(&op, s, &p);   // attach s, note task + generation
 *     WSARecv(s, ..., &op.ov, NULL);     // hand the OVERLAPPED to the kernel
 *     corio__iocp_packet_due(its error)?
 *       no   -> corio__iocp_op_abandon(p, &op): it failed at once
 *       yes  -> rc = corio__iocp_op_finish(p, &op, deadline, ...)
 *
 * corio__iocp_op_finish parks the task until the completion packet for
 * op.ov arrives (corio__poller_wait unparks it). On a timeout or a cancel
 * it calls CancelIoEx and then KEEPS WAITING for the packet: until the
 * packet is out of the port, the kernel may still write into op and into
 * the caller's buffer, both of which live on this task's stack.
 *
 * Why no FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: with it, an operation that
 * succeeds at once queues no packet, which saves a trip through the loop,
 * but then every call site must tell "done now" from "done later", and a
 * mistake there leaves a packet pointing at a dead stack frame. Without it
 * every operation the kernel accepted ends in exactly one packet, the rule
 * above has no exception, and wine (our test bed) needs no special case.
 */
#ifndef CORIO_IOCP_H
#define CORIO_IOCP_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <windows.h>

#include "poller.h"

typedef struct corio_iocp_op {
    OVERLAPPED ov;        /* what the kernel fills and the packet names */
    HANDLE handle;        /* the socket, for CancelIoEx */
    corio_task *task;     /* who waits for the packet */
    uint32_t gen;         /* the socket's generation when issued */
    int parked;           /* the task is parked waiting for this packet */
    int done;             /* the packet arrived */
    struct corio_iocp_op *prev, *next; /* the poller's in-flight list */
} corio_iocp_op;

/* WSAStartup, once per process (idempotent, thread-safe). */
void corio__iocp_wsa_init(void);

/* Win32 / Winsock error -> CORIO_E*: the only place that knows both. */
int corio__iocp_error(DWORD err);

/* Attach s to the current loop's port (once) and prepare op for one
 * operation of the calling task. *pp gets the loop's poller. 0, or
 * CORIO_ENOLOOP (not in a task), CORIO_ENOMEM, CORIO_EINVAL. */
int corio__iocp_op_start(corio_iocp_op *op, SOCKET s, corio_poller **pp);

/* A call that was handed op.ov returned err (0 for success): will its
 * completion packet still come? Yes when it is pending or succeeded, and
 * also for a WARNING status, which Winsock reports as an error even
 * though the kernel queues a packet for it: WSAEMSGSIZE (the NT status
 * STATUS_BUFFER_OVERFLOW: a datagram longer than the buffer). Waiting
 * for that packet is what keeps op alive; forgetting it leaves the
 * kernel writing into a dead stack frame. */
static inline int corio__iocp_packet_due(DWORD err)
{
    return err == 0 || err == WSA_IO_PENDING || err == WSAEMSGSIZE ||
           err == ERROR_MORE_DATA;
}

/* The operation failed at once and no packet will come for it. */
void corio__iocp_op_abandon(corio_poller *p, corio_iocp_op *op);

/* A pipe for corio__io_pipe and for a child's stdio (io_win.c). Anonymous
 * pipes cannot do overlapped I/O, so this is a named pipe: *server is
 * created with FILE_FLAG_OVERLAPPED and never inherited; *client is its
 * other end, opened at once, overlapped or not (a child's stdio must not
 * be: programs do plain ReadFile on it), inheritable or not.
 * server_reads: the server end reads what the client writes; else the
 * other way round. 0, or a CORIO_E code with nothing left open. */
int corio__iocp_pipe(HANDLE *server, HANDLE *client, int server_reads,
                    int client_overlapped, int client_inherit);

/* Wait for op's packet as described above. Returns 0 when the operation
 * succeeded (*bytes = bytes transferred; a datagram cut short to the
 * buffer counts as success), else a CORIO_E* code: the operation's own
 * error, or CORIO_ETIMEDOUT / CORIO_ECANCELED when we cancelled it, or
 * CORIO_ECLOSED when the socket was closed under it. */
int corio__iocp_op_finish(corio_poller *p, corio_iocp_op *op, int64_t deadline,
                         const char *what, DWORD *bytes);

#endif
