/*
 * poller.h — the one interface behind which epoll, kqueue and IOCP live.
 *
 * Go's netpoll model (DESIGN §3): a descriptor is attached once for its
 * whole life (edge-triggered); it has a reader slot and a writer slot, each
 * holding at most one parked task; wait() turns kernel events into
 * corio__unpark() calls; events carry a generation number so that an event
 * for a descriptor that was detached (and perhaps reused) is dropped.
 *
 * Backends: epoll.c, kqueue.c, iocp.c — exactly one is compiled, chosen by
 * the Makefile's POLLER variable.
 */
#ifndef CORIO_POLLER_H
#define CORIO_POLLER_H

#include "corio.h"
#include <stdint.h>

typedef struct corio_poller corio_poller;

enum { CORIO_DIR_READ = 0, CORIO_DIR_WRITE = 1 };

/* Open the backend for the calling thread's loop. 0 or a CORIO_E code. */
int corio__poller_open(corio_poller **out);
void corio__poller_close(corio_poller *p);

/* Block up to timeout_ns (0: just look; CORIO_NEVER: until something
 * happens) and unpark the tasks whose descriptors became ready. Returns
 * the number of tasks woken, or a CORIO_E code. A wakeup() also ends the
 * wait. Timeouts are rounded UP to the backend's resolution. */
int corio__poller_wait(corio_poller *p, int64_t timeout_ns);

/* End a wait() from any thread. Repeated calls before the loop wakes
 * coalesce into one kernel write. */
void corio__poller_wakeup(corio_poller *p);

/* Park the current task until fd is ready in direction dir (or until the
 * deadline, a cancel, or a detach). Attaches fd on first use. */
int corio__poller_wait_fd(corio_poller *p, corio_fd fd, int dir,
                         int64_t deadline);

/* Forget fd: bump its generation, remove it from the kernel set, wake its
 * parked tasks with CORIO_ECLOSED. 0, or CORIO_EINVAL if never attached. */
int corio__poller_detach(corio_poller *p, corio_fd fd);

/* The drained hint of the readiness backends (poller/fdtable.h explains
 * it): is fd a stream socket whose last recv was short, with no read edge
 * since? And: the recv just made on fd was short. IOCP keeps no hint
 * (0 / nothing). */
int corio__poller_read_drained(corio_poller *p, corio_fd fd);
void corio__poller_short_read(corio_poller *p, corio_fd fd);

/* 1 if fd is a TCP socket (stream, IPv4 or IPv6), else 0. os/fd_posix.c;
 * asked once per descriptor, when a readiness backend attaches it. */
int corio__fd_is_tcp_socket(corio_fd fd);

/* Is fd ready in direction dir right now, without waiting? 1 yes, 0 no
 * (or "unknown: ask the poller"), or CORIO_EINVAL. os/fd_posix.c / os/fd_win.c;
 * used by the public readiness waits in net/fd.c. */
int corio__fd_ready_now(corio_fd fd, int dir);

/* Name of the backend ("epoll", "kqueue", "iocp"). */
extern const char corio__poller_name[];

#endif
