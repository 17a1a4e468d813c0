/*
 * poller.h — what a poller backend provides: the whole contract.
 *
 * A backend (epoll.c, kqueue.c, iocp.c; exactly one is compiled, chosen by
 * the Makefile's POLLER variable) only REPORTS: which descriptors became
 * ready, or which operations completed. It never parks or wakes a task and
 * includes no scheduler header. The generic side, netpoll.c, keeps the
 * descriptor table (fdtable.h: reader and writer slots, generations), parks
 * tasks and wakes them from the backend's reports. This is the split of
 * Go's runtime (netpoll.go beside netpoll_epoll.go, netpoll_kqueue.go,
 * netpoll_windows.go). A new backend is one file implementing this header.
 *
 * Return codes: 0 or a count on success, a negative CORIO_E* code on
 * failure, as listed per call.
 *
 * ---- every backend ----
 *
 *   open(&p)            make the kernel object and the wakeup channel.
 *                       0, CORIO_ENOMEM, CORIO_EMFILE.
 *   close(p)            release them. A completion backend first cancels
 *                       and collects every operation still in flight (the
 *                       kernel may write into a task's stack until then).
 *   attach(p, fd, gen)  register fd for its whole life, both directions,
 *                       edge-triggered (epoll EPOLLIN|EPOLLOUT|EPOLLRDHUP|
 *                       EPOLLET, kqueue EV_ADD|EV_CLEAR, IOCP
 *                       CreateIoCompletionPort); readiness backends carry
 *                       gen in the registration and report it back.
 *                       Called once per fd and generation, by netpoll.c.
 *                       0, CORIO_EINVAL (bad descriptor), CORIO_ENOTSUP
 *                       (cannot be polled, e.g. a regular file),
 *                       CORIO_ENOMEM, CORIO_EIO.
 *   detach(p, fd)       forget fd before it is closed: remove it from the
 *                       kernel set (a completion backend, which cannot,
 *                       cancels fd's operations instead). Cannot fail.
 *   wait(p, ns, np)     block up to ns (0: just look; CORIO_NEVER: until
 *                       something happens; rounded UP to the backend's
 *                       resolution) and hand every event to np: a
 *                       readiness event to corio__netpoll_ready, a
 *                       completion to corio__netpoll_completed. A wakeup()
 *                       also ends it. The number of events handed on
 *                       (EINTR counts as 0), or CORIO_EIO.
 *   wakeup(p)           from any thread: end the current or next wait().
 *                       Repeated calls before the wait ends coalesce into
 *                       one kernel write (an atomic flag).
 *   corio__poller_name  "epoll", "kqueue", "iocp".
 *
 * ---- for a host loop that embeds corio (docs/embedding.md) ----
 *
 *   fd(p)               the descriptor a host can poll() for POLLIN: it is
 *                       readable whenever wait(p, 0, ...) would report
 *                       something from the kernel, a wakeup() included
 *                       (the epoll fd, the kqueue fd). CORIO_ENOTSUP when
 *                       there is none (IOCP: a port is not pollable).
 *   pending(p)          nonzero when wait(p, 0, ...) has something to
 *                       report that the kernel does not know of, so that
 *                       fd(p) may not be readable (kqueue: the refused
 *                       directions attach queued). The host must then not
 *                       wait.
 *
 * ---- completion backends only (IOCP; io_uring next) ----
 *
 * The OS room starts an operation itself (WSARecv, AcceptEx, ...) with
 * its state on the issuing task's stack: a corio__pollop (netpoll.h)
 * inside the backend's operation record, whose layout the OS room shares
 * (iocp.h: the OVERLAPPED the kernel fills). Around it:
 *
 *   op_begin(p, op)     op is about to be handed to the kernel: keep it
 *                       in the in-flight set (close() collects it).
 *   op_abandon(p, op)   the call failed at once; no completion will come.
 *   op_cancel(p, op)    ask the kernel to finish op now (CancelIoEx). Its
 *                       completion still comes, and only then is op free.
 *
 * The backend reports op's completion (exactly once) to
 * corio__netpoll_completed; the result itself stays in the record, where
 * the OS room reads it.
 */
#ifndef CORIO_POLLER_H
#define CORIO_POLLER_H

#include "corio.h"
#include <stdint.h>

typedef struct corio_poller corio_poller;   /* the backend's state */
typedef struct corio__netpoll corio__netpoll; /* the generic side (netpoll.c) */
typedef struct corio__pollop corio__pollop;   /* one completion operation */

enum { CORIO_DIR_READ = 0, CORIO_DIR_WRITE = 1 };

/* ---- every backend ---- */
int  corio__poller_open(corio_poller **out);
void corio__poller_close(corio_poller *p);
int  corio__poller_attach(corio_poller *p, corio_fd fd, uint32_t gen);
void corio__poller_detach(corio_poller *p, corio_fd fd);
int  corio__poller_wait(corio_poller *p, int64_t timeout_ns, corio__netpoll *np);
void corio__poller_wakeup(corio_poller *p);
extern const char corio__poller_name[];
int  corio__poller_fd(const corio_poller *p);
int  corio__poller_pending(const corio_poller *p);

/* ---- completion backends only ---- */
/* Which kind this build's backend is (the Makefile defines
 * CORIO_POLLER_<name>); netpoll.c compiles its completion half only for
 * a completion backend. */
#if defined(CORIO_POLLER_iocp)
#define CORIO_POLLER_COMPLETION 1
#else
#define CORIO_POLLER_COMPLETION 0
#endif
void corio__poller_op_begin(corio_poller *p, corio__pollop *op);
void corio__poller_op_abandon(corio_poller *p, corio__pollop *op);
void corio__poller_op_cancel(corio_poller *p, corio__pollop *op);

/* ---- what a backend reports to (netpoll.c) ---- */

/* Readiness: fd (registered under gen) is readable and/or writable; eof:
 * the event also said end of stream, hang-up or error (EPOLLRDHUP,
 * EV_EOF, ...), which wakes both sides. An event whose gen is stale (fd
 * was detached since) is dropped. Returns the number of tasks woken. */
int corio__netpoll_ready(corio__netpoll *np, corio_fd fd, uint32_t gen,
                         int rd, int wr, int eof);
/* Completion: op's operation finished. Returns the number of tasks woken
 * (0 or 1). */
int corio__netpoll_completed(corio__netpoll *np, corio__pollop *op);

#endif
