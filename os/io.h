/*
 * io.h — socket operations that suspend only the calling task.
 *
 * This is the floor net/ stands on, and the reason net/ needs no #ifdef:
 * every OS difference lives below this line.
 *
 *   Unix (io_posix.c):  try the system call; on EAGAIN park in the
 *       descriptor's reader or writer slot (corio__netpoll_wait_fd); retry.
 *   Windows (io_win.c): issue the overlapped call (WSARecv, AcceptEx,
 *       ConnectEx ...) with its OVERLAPPED on the suspended task's own
 *       stack; park until the completion packet arrives. On timeout or
 *       cancel: CancelIoEx, then keep waiting for the packet (the kernel
 *       still owns that memory) before returning.
 *
 * All calls take an absolute deadline (CORIO_NEVER for none) and return
 * >= 0 on success or a negative CORIO_E* code: CORIO_ETIMEDOUT,
 * CORIO_ECANCELED, CORIO_ECLOSED (another task closed the socket while we
 * waited), CORIO_ECONNRESET, CORIO_EPIPE, ... A dead peer never raises
 * SIGPIPE. Sockets made here are non-blocking, close-on-exec, and attached
 * to the calling thread's loop.
 *
 * Addresses are carried in corio_addr so that no <sys/socket.h> or
 * <winsock2.h> type crosses this interface.
 */
#ifndef CORIO_IO_H
#define CORIO_IO_H

#include "corio.h"
#include <stddef.h>
#include <stdint.h>

/* corio_addr, CORIO_AF_* and CORIO_SOCK_* are public: see corio.h. */

/* A new socket, non-blocking, attached. */
int corio__io_socket(int family, int type, corio_fd *out);
/* Options: SO_REUSEADDR (on), SO_REUSEPORT (CORIO_ENOTSUP if absent),
 * TCP_NODELAY. */
int corio__io_set_reuseaddr(corio_fd fd, int on);
int corio__io_set_reuseport(corio_fd fd, int on);
int corio__io_set_nodelay(corio_fd fd, int on);
/* TCP_NODELAY's current value: 1, 0, or a CORIO_E* code. */
int corio__io_get_nodelay(corio_fd fd);
int corio__io_bind(corio_fd fd, const corio_addr *a);
int corio__io_listen(corio_fd fd, int backlog);
int corio__io_local_addr(corio_fd fd, corio_addr *out);
int corio__io_peer_addr(corio_fd fd, corio_addr *out);

/* Accept one connection: the new socket is non-blocking and attached.
 * peer may be NULL. At EMFILE/ENFILE returns CORIO_EMFILE (the pending
 * connection stays queued; the caller decides to back off or shed). */
int corio__io_accept(corio_fd lfd, corio_fd *out, corio_addr *peer,
                    int64_t deadline);
/* Connect; CORIO_ECONNREFUSED, CORIO_ETIMEDOUT, ... */
int corio__io_connect(corio_fd fd, const corio_addr *a, int64_t deadline);

/* Up to len bytes; 0 means end of stream. */
ptrdiff_t corio__io_recv(corio_fd fd, void *buf, size_t len, int64_t deadline);
/* Some bytes (>= 1 unless len == 0); callers loop for the rest. */
ptrdiff_t corio__io_send(corio_fd fd, const void *buf, size_t len,
                        int64_t deadline);
ptrdiff_t corio__io_recvfrom(corio_fd fd, void *buf, size_t len,
                            corio_addr *from, int64_t deadline);
ptrdiff_t corio__io_sendto(corio_fd fd, const void *buf, size_t len,
                          const corio_addr *to, int64_t deadline);
/* Half-close the sending side (FIN). */
int corio__io_shutdown_write(corio_fd fd);
/* Wake every task waiting on fd with CORIO_ECLOSED, detach, close. */
int corio__io_close(corio_fd fd);
/* corio_fd_close: like corio__io_close, but a second call for a number
 * already closed this way (and not handed out by corio since) answers
 * CORIO_ECLOSED and closes nothing (io_posix.c says why). */
int corio__io_close_once(corio_fd fd);
/* corio hands out fd, or meets it as the program's own: a later
 * corio__io_close_once of it closes it. */
void corio__io_fd_seen(corio_fd fd);

/* Park until fd (any socket, or on Unix any pollable descriptor) is ready
 * in direction dir (CORIO_DIR_READ / _WRITE), for the public readiness
 * waits (net/fd.c). Unix: the descriptor's reader or writer slot. Windows:
 * an operation that completes when the socket is ready (io_win.c). 0, or
 * CORIO_ETIMEDOUT, CORIO_ECANCELED, CORIO_ECLOSED, CORIO_EBUSY,
 * CORIO_EINVAL (not a socket), CORIO_ENOLOOP. */
int corio__io_wait_ready(corio_fd fd, int dir, int64_t deadline);

/* Pipes for subprocesses and self-pipes. corio__io_pipe: fds[0] reads
 * what fds[1] writes; both ends non-blocking (overlapped on Windows, where
 * it is a named pipe pair), close-on-exec (not inherited), usable with
 * corio__io_read / corio__io_write; close each with corio__io_close. */
int corio__io_pipe(corio_fd fds[2]);
/* Up to len bytes; 0 means end of stream (every writer closed). */
ptrdiff_t corio__io_read(corio_fd fd, void *buf, size_t len, int64_t deadline);
ptrdiff_t corio__io_write(corio_fd fd, const void *buf, size_t len,
                         int64_t deadline);

/* One attempt that never parks (asyncio's transport.write tries this
 * first): some bytes (>= 1 unless len == 0), CORIO_EAGAIN when the
 * kernel has no room right now, or another error. Streams use it only
 * while no blocking send of theirs is in flight on fd, so bytes never
 * overtake one another. write_nowait is for pipe ends; where a
 * descriptor has no non-blocking attempt (a Windows pipe) it answers
 * CORIO_ENOTSUP and the caller uses corio__io_write. */
ptrdiff_t corio__io_send_nowait(corio_fd fd, const void *buf, size_t len);
ptrdiff_t corio__io_write_nowait(corio_fd fd, const void *buf, size_t len);
/* 1 if fd is a socket, 0 if it is something else (a pipe), or a
 * CORIO_E* code if it is not open. */
int corio__io_is_socket(corio_fd fd);

/* Name resolution, BLOCKING (getaddrinfo): for a worker thread, never a
 * task (net/dns.c runs it on the thread pool). Fills up to max stream
 * addresses for host:port (family 0 = any, CORIO_AF_INET, CORIO_AF_INET6)
 * in the resolver's order, and returns how many (>= 1), or
 * CORIO_ENOTFOUND, CORIO_ENOMEM, CORIO_EINVAL, CORIO_EIO. Thread-safe;
 * needs no loop. */
int corio__io_resolve_blocking(const char *host, int port, int family,
                              corio_addr *out, size_t max);

#endif
