/*
 * iocp.h — the IOCP coupling that must stay: what the Windows OS files
 * (os/io_win.c, os/fd_win.c, os/process_win.c, os/addr.c) share with the
 * completion-port backend (iocp.c) beyond poller.h.
 *
 * A completion backend cannot hide the kernel's operation record: the OS
 * room hands &op.ov to WSARecv, and the packet that comes back names it.
 * So the record's layout is shared here. Its life, the same for every
 * operation (os/io_win.c writes it once):
 *
 *     corio_iocp_op op;                           // on the task's stack
 *     corio__netpoll_op_start(&op.base, s, -1);   // attach s, note task
 *     WSARecv(s, ..., &op.ov, NULL);              // the kernel owns op now
 *     corio__iocp_packet_due(its error)?
 *       no   -> corio__netpoll_op_abandon(&op.base): it failed at once
 *       yes  -> corio__netpoll_op_wait(&op.base, deadline, what), then
 *               GetOverlappedResult on op.ov for the bytes and the status
 *
 * corio__netpoll_op_wait parks until the backend reports the packet. On a
 * timeout or a cancel it has the backend CancelIoEx and then KEEPS
 * WAITING for the packet: until the packet is out of the port, the kernel
 * may still write into op and into the caller's buffer, both of which live
 * on this task's stack.
 *
 * Why no FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: with it, an operation that
 * succeeds at once queues no packet, which saves a trip through the loop,
 * but then every call site must tell "done now" from "done later", and a
 * mistake there leaves a packet pointing at a dead stack frame. Without it
 * every operation the kernel accepted ends in exactly one packet, the rule
 * above has no exception, and wine (our test bed) needs no special case.
 *
 * Also here, because this backend is the Winsock user that starts first:
 * Winsock start-up and the one Win32 error -> CORIO_E* mapping.
 */
#ifndef CORIO_IOCP_H
#define CORIO_IOCP_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <windows.h>

#include "netpoll.h"

typedef struct corio_iocp_op {
    corio__pollop base;   /* netpoll.c's part: task, generation, done */
    OVERLAPPED ov;        /* what the kernel fills and the packet names */
    struct corio_iocp_op *prev, *next; /* the backend's in-flight list */
} corio_iocp_op;

/* WSAStartup, once per process (idempotent, thread-safe). */
void corio__iocp_wsa_init(void);

/* Win32 / Winsock errors become CORIO_E* codes in os/error_win.c
 * (corio__error_from_win). */

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

/* A pipe for corio__io_pipe and for a child's stdio (io_win.c). Anonymous
 * pipes cannot do overlapped I/O, so this is a named pipe: *server is
 * created with FILE_FLAG_OVERLAPPED and never inherited; *client is its
 * other end, opened at once, overlapped or not (a child's stdio must not
 * be: programs do plain ReadFile on it), inheritable or not.
 * server_reads: the server end reads what the client writes; else the
 * other way round. 0, or a CORIO_E code with nothing left open. */
int corio__iocp_pipe(HANDLE *server, HANDLE *client, int server_reads,
                    int client_overlapped, int client_inherit);

#endif
