/*
 * fd.h — two questions about a descriptor that only the OS can answer
 * (fd_posix.c, fd_win.c).
 */
#ifndef CORIO_OS_FD_H
#define CORIO_OS_FD_H

#include "corio.h"

/* 1 if fd is a TCP socket (stream, IPv4 or IPv6), else 0. Asked once per
 * descriptor, when netpoll.c attaches it, for the drained hint
 * (poller/fdtable.h); Windows keeps no hint and answers 0. */
int corio__fd_is_tcp_socket(corio_fd fd);

/* Is fd ready in direction dir (CORIO_DIR_READ / _WRITE) right now,
 * without waiting? 1 yes, 0 no (or "unknown: ask the poller"), or
 * CORIO_EINVAL. Used by the public readiness waits in net/fd.c. */
int corio__fd_ready_now(corio_fd fd, int dir);

#endif
