/*
 * addr.h — between corio_addr (io.h's OS-free byte box) and the OS's
 * struct sockaddr, for the socket files of poller/ (addr.c, io_posix.c,
 * io_win.c). The bytes ARE the kernel's sockaddr; they are copied with
 * memcpy rather than cast, to respect the compiler's aliasing rules.
 */
#ifndef CORIO_ADDR_H
#define CORIO_ADDR_H

#include "corio.h"
#include <stddef.h>

#ifdef _WIN32
#include "poller/iocp.h" /* winsock2.h */
#include <ws2tcpip.h>
#define CORIO_HAVE_AF_UNIX 0
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#define CORIO_HAVE_AF_UNIX 1
#endif

const struct sockaddr *corio__addr_sa(const corio_addr *a);
void corio__addr_store(corio_addr *a, const void *sa, size_t len);
/* CORIO_EINVAL if a holds no address. */
int corio__addr_load(const corio_addr *a, struct sockaddr_storage *ss);

#endif
