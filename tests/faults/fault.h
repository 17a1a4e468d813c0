/*
 * fault.h — the fault points of `make test-faults` (tests/faults/).
 *
 * The library is built as usual (with ASan + UBSan), then a copy of its
 * archive is rewritten so that each system call it makes goes to a
 * wrapper here instead: `recv` in corio's objects becomes `__wrap_recv`
 * (objcopy --redefine-sym, the same renaming `ld --wrap` does, but applied
 * to corio's objects only, so neither the harness nor ASan's own calls go
 * through it). The release archive is untouched: no cost there.
 *
 * Every wrapper asks fault_check() what to do: pass the call on (and
 * count it), fail it with an errno, or shorten it (read/write families:
 * fewer bytes than asked). FAULT_POINTS below is the one table: the
 * wrapped functions and the errno values each may really return (their
 * man pages), which the driver injects in turn.
 */
#ifndef CORIO_TESTS_FAULT_H
#define CORIO_TESTS_FAULT_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* A pseudo errno: "return a short count" (fewer bytes than asked). */
#define FAULT_SHORT 100000

/* X(name, errno values...): the wrapped functions, each with what it may
 * answer. getaddrinfo's values stand for its EAI_* codes (fault.c).
 * munmap and free are wrapped only to count corio's live mappings. */
#define FAULT_POINTS(X)                                                     \
    X(epoll_create1, EMFILE, ENFILE, ENOMEM)                               \
    X(epoll_ctl, ENOMEM, ENOSPC)                                           \
    X(epoll_wait, EINTR)                                                   \
    X(epoll_pwait2, EINTR, ENOSYS)                                         \
    X(eventfd, EMFILE, ENFILE, ENOMEM)                                     \
    X(socket, EMFILE, ENFILE, ENOBUFS, ENOMEM)                             \
    X(accept4, EAGAIN, EINTR, ECONNABORTED, EMFILE, ENFILE, ENOBUFS,        \
      ENOMEM, EPROTO)                                                      \
    X(connect, EINTR, ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EADDRNOTAVAIL) \
    X(bind, EADDRINUSE, EACCES, ENOMEM)                                    \
    X(listen, EADDRINUSE)                                                  \
    X(setsockopt, ENOMEM, ENOBUFS)                                         \
    X(getsockopt, ENOBUFS)                                                 \
    X(getsockname, ENOBUFS)                                                \
    X(getpeername, ENOBUFS)                                                \
    X(shutdown, ENOBUFS)                                                   \
    X(recv, EINTR, EAGAIN, ECONNRESET, ENOMEM, FAULT_SHORT)                \
    X(recvfrom, EINTR, EAGAIN, ECONNRESET, ENOMEM, FAULT_SHORT)            \
    X(send, EINTR, EAGAIN, ECONNRESET, EPIPE, ENOBUFS, ENOMEM, FAULT_SHORT)\
    X(sendto, EINTR, EAGAIN, ECONNRESET, EPIPE, ENOBUFS, ENOMEM,           \
      FAULT_SHORT)                                                         \
    X(read, EINTR, EAGAIN, EIO, FAULT_SHORT)                               \
    X(write, EINTR, EAGAIN, EPIPE, FAULT_SHORT)                            \
    X(pipe, EMFILE, ENFILE)                                                \
    X(pipe2, EMFILE, ENFILE)                                               \
    X(close, EINTR, EIO)                                                   \
    X(poll, EINTR, ENOMEM)                                                 \
    X(fstat, ENOMEM)                                                       \
    X(mmap, ENOMEM, EAGAIN)                                                \
    X(mprotect, ENOMEM)                                                    \
    X(munmap, 0)                                                           \
    X(pthread_create, EAGAIN)                                              \
    X(fork, EAGAIN, ENOMEM)                                                \
    X(waitid, EINTR, ECHILD)                                               \
    X(waitpid, EINTR, ECHILD)                                              \
    X(kill, ESRCH)                                                         \
    X(syscall, ENOSYS, EMFILE, ENOMEM)                                     \
    X(getaddrinfo, EAGAIN, ENOMEM, EIO, EMFILE)                            \
    X(malloc, ENOMEM)                                                      \
    X(calloc, ENOMEM)                                                      \
    X(realloc, ENOMEM)

enum fault_fn {
#define FAULT_ENUM(name, ...) FN_##name,
    FAULT_POINTS(FAULT_ENUM)
#undef FAULT_ENUM
    FN_COUNT
};

#define FAULT_MAX_ERRS 9
typedef struct fault_point {
    const char *name;
    int errs[FAULT_MAX_ERRS]; /* 0-terminated */
} fault_point;
extern const fault_point fault_points[FN_COUNT];

/* One call site: a function called from one return address. */
#define FAULT_MAX_SITES 1024
typedef struct fault_site {
    int fn;
    uintptr_t site;
    long count; /* calls seen in this run */
} fault_site;

/* What to do in this run: fail the nth call (1-based) of fn from site
 * (0 = from anywhere) with err (an errno, or FAULT_SHORT). */
typedef struct fault_plan {
    int fn;
    uintptr_t site;
    long nth;
    int err;
} fault_plan;

/* The state of one run, in memory shared with the driver. */
typedef struct fault_state {
    pid_t owner;          /* only this process injects and records: a
                             child between fork and exec passes through */
    atomic_flag lock;
    fault_plan plan;
    int armed;            /* plan in force */
    int fired;            /* the plan's call was failed */
    int fired_on_main;    /* ... on the owner's main thread (the loop's) */
    long live_maps;       /* corio's mmaps not yet munmapped */
    int nsites;
    int overflow;         /* more sites than FAULT_MAX_SITES */
    fault_site sites[FAULT_MAX_SITES];
} fault_state;

/* Set by the driver before a run (NULL: every wrapper passes through). */
extern fault_state *fault_st;

#endif
