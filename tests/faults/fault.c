/*
 * fault.c — the wrappers behind FAULT_POINTS (fault.h).
 *
 * corio's objects call __wrap_NAME instead of NAME (the Makefile renames
 * the references in a copy of the archive). Each wrapper asks
 * fault_check() whether this call is the one the plan fails; if not, it
 * calls the real NAME. Calls that create something (socket, pipe2, mmap,
 * malloc...) fail without creating it; close is the exception, since on
 * Linux a close that says EINTR or EIO has closed the descriptor anyway,
 * so the wrapper closes it and then reports the error.
 */
#include "fault.h"

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const fault_point fault_points[FN_COUNT] = {
#define FAULT_ROW(fname, ...) [FN_##fname] = { #fname, { __VA_ARGS__ } },
    FAULT_POINTS(FAULT_ROW)
#undef FAULT_ROW
};

fault_state *fault_st;

static void lock(fault_state *s)
{
    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) {
    }
}

static void unlock(fault_state *s)
{
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

/* Count this call at its site; 0 = go on, else the errno (or FAULT_SHORT)
 * to answer with. errno is left alone. */
static int fault_check(int fn, void *ret)
{
    fault_state *s = fault_st;
    if (!s || getpid() != s->owner) return 0;
    uintptr_t site = (uintptr_t)ret;
    int act = 0;
    lock(s);
    fault_site *fs = NULL;
    for (int i = 0; i < s->nsites; i++)
        if (s->sites[i].site == site && s->sites[i].fn == fn) {
            fs = &s->sites[i];
            break;
        }
    if (!fs && s->nsites < FAULT_MAX_SITES) {
        fs = &s->sites[s->nsites++];
        *fs = (fault_site){ .fn = fn, .site = site };
    } else if (!fs) {
        s->overflow = 1;
    }
    long nth = fs ? ++fs->count : 0;
    if (s->armed && !s->fired && s->plan.fn == fn &&
        (s->plan.site == 0 || s->plan.site == site) && s->plan.nth == nth) {
        s->fired = 1;
        s->fired_on_main = gettid() == s->owner;
        act = s->plan.err;
    }
    unlock(s);
    return act;
}

/*
 * An injected EAGAIN must keep the promise a real one makes: under
 * edge-triggered epoll the kernel reports an edge once the descriptor is
 * ready again, and corio parks for that edge. A descriptor that was never
 * full gets no new edge, so after a fake EAGAIN the next epoll wait first
 * re-arms the descriptor's registration (EPOLL_CTL_MOD with the event
 * corio registered), which makes the kernel report it again if it is
 * ready. The registrations are remembered here, per (epoll fd, fd).
 */
#define MAX_REGS 256
static struct reg { int ep, fd; struct epoll_event ev; } regs[MAX_REGS];
static int nregs;
static _Atomic int kick_fd = -1;

static void remember(int ep, int op, int fd, const struct epoll_event *ev)
{
    fault_state *s = fault_st;
    if (!s) return;
    lock(s);
    int i = 0;
    while (i < nregs && !(regs[i].ep == ep && regs[i].fd == fd)) i++;
    if (op == EPOLL_CTL_DEL) {
        if (i < nregs) regs[i] = regs[--nregs];
    } else if (ev && (i < nregs || nregs < MAX_REGS)) {
        if (i == nregs) nregs++;
        regs[i] = (struct reg){ ep, fd, *ev };
    }
    unlock(s);
}

static void kick(int ep)
{
    int fd = atomic_exchange(&kick_fd, -1);
    fault_state *s = fault_st;
    if (fd < 0 || !s) return;
    struct epoll_event ev;
    int found = 0;
    lock(s);
    for (int i = 0; i < nregs; i++)
        if (regs[i].ep == ep && regs[i].fd == fd) { ev = regs[i].ev; found = 1; }
    unlock(s);
    if (found) (void)epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Note a fake EAGAIN on fd (see kick). */
static int again(int a, int fd)
{
    if (a == EAGAIN) atomic_store(&kick_fd, fd);
    return a;
}

#define CHECK(name) fault_check(FN_##name, __builtin_return_address(0))
/* Fail with err (any action but a short count), as -1 + errno. */
#define FAIL_INT(a) do { if ((a) && (a) != FAULT_SHORT) { errno = (a); return -1; } } while (0)
/* A short count: ask the kernel for fewer bytes (at least one). */
static size_t shorter(size_t n) { return n > 1 ? n / 2 : n; }

/* ---- poller ---- */
int __wrap_epoll_create1(int flags)
{ int a = CHECK(epoll_create1); FAIL_INT(a); return epoll_create1(flags); }
int __wrap_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    int a = CHECK(epoll_ctl); FAIL_INT(a);
    int rc = epoll_ctl(ep, op, fd, ev);
    if (rc == 0) remember(ep, op, fd, ev);
    return rc;
}
int __wrap_epoll_wait(int ep, struct epoll_event *ev, int n, int ms)
{ int a = CHECK(epoll_wait); FAIL_INT(a); kick(ep); return epoll_wait(ep, ev, n, ms); }
int __wrap_epoll_pwait2(int ep, struct epoll_event *ev, int n,
                        const struct timespec *ts, const sigset_t *m)
{ int a = CHECK(epoll_pwait2); FAIL_INT(a); kick(ep); return epoll_pwait2(ep, ev, n, ts, m); }
int __wrap_eventfd(unsigned v, int flags)
{ int a = CHECK(eventfd); FAIL_INT(a); return eventfd(v, flags); }

/* ---- sockets ---- */
int __wrap_socket(int d, int t, int p)
{ int a = CHECK(socket); FAIL_INT(a); return socket(d, t, p); }
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *l, int fl)
{ int a = again(CHECK(accept4), fd); FAIL_INT(a); return accept4(fd, sa, l, fl); }
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t l)
{
    int a = CHECK(connect);
    /* EINTR: the handshake goes on in the kernel, as Linux does. */
    if (a == EINTR) { (void)connect(fd, sa, l); errno = EINTR; return -1; }
    FAIL_INT(a);
    return connect(fd, sa, l);
}
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t l)
{ int a = CHECK(bind); FAIL_INT(a); return bind(fd, sa, l); }
int __wrap_listen(int fd, int n)
{ int a = CHECK(listen); FAIL_INT(a); return listen(fd, n); }
int __wrap_setsockopt(int fd, int lv, int nm, const void *v, socklen_t l)
{ int a = CHECK(setsockopt); FAIL_INT(a); return setsockopt(fd, lv, nm, v, l); }
int __wrap_getsockopt(int fd, int lv, int nm, void *v, socklen_t *l)
{ int a = CHECK(getsockopt); FAIL_INT(a); return getsockopt(fd, lv, nm, v, l); }
int __wrap_getsockname(int fd, struct sockaddr *sa, socklen_t *l)
{ int a = CHECK(getsockname); FAIL_INT(a); return getsockname(fd, sa, l); }
int __wrap_getpeername(int fd, struct sockaddr *sa, socklen_t *l)
{ int a = CHECK(getpeername); FAIL_INT(a); return getpeername(fd, sa, l); }
int __wrap_shutdown(int fd, int how)
{ int a = CHECK(shutdown); FAIL_INT(a); return shutdown(fd, how); }

/* ---- data ---- */
ssize_t __wrap_recv(int fd, void *b, size_t n, int fl)
{
    int a = again(CHECK(recv), fd); FAIL_INT(a);
    return recv(fd, b, a ? shorter(n) : n, fl);
}
ssize_t __wrap_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *sa,
                        socklen_t *l)
{
    int a = again(CHECK(recvfrom), fd); FAIL_INT(a);
    return recvfrom(fd, b, a ? shorter(n) : n, fl, sa, l);
}
ssize_t __wrap_send(int fd, const void *b, size_t n, int fl)
{
    int a = again(CHECK(send), fd); FAIL_INT(a);
    return send(fd, b, a ? shorter(n) : n, fl);
}
ssize_t __wrap_sendto(int fd, const void *b, size_t n, int fl,
                      const struct sockaddr *sa, socklen_t l)
{
    int a = again(CHECK(sendto), fd); FAIL_INT(a);
    return sendto(fd, b, a ? shorter(n) : n, fl, sa, l);
}
ssize_t __wrap_read(int fd, void *b, size_t n)
{
    int a = again(CHECK(read), fd); FAIL_INT(a);
    return read(fd, b, a ? shorter(n) : n);
}
ssize_t __wrap_write(int fd, const void *b, size_t n)
{
    int a = again(CHECK(write), fd); FAIL_INT(a);
    return write(fd, b, a ? shorter(n) : n);
}

/* ---- descriptors ---- */
int __wrap_pipe(int p[2])
{ int a = CHECK(pipe); FAIL_INT(a); return pipe(p); }
int __wrap_pipe2(int p[2], int fl)
{ int a = CHECK(pipe2); FAIL_INT(a); return pipe2(p, fl); }
int __wrap_close(int fd)
{
    int a = CHECK(close);
    int rc = close(fd); /* Linux: the descriptor is gone either way */
    if (a && a != FAULT_SHORT) { errno = a; return -1; }
    return rc;
}
int __wrap_poll(struct pollfd *p, nfds_t n, int ms)
{ int a = CHECK(poll); FAIL_INT(a); return poll(p, n, ms); }
int __wrap_fstat(int fd, struct stat *st)
{ int a = CHECK(fstat); FAIL_INT(a); return fstat(fd, st); }

/* ---- memory: corio's live mappings are counted (stacks must not leak) */
void *__wrap_mmap(void *p, size_t n, int prot, int fl, int fd, off_t off)
{
    int a = CHECK(mmap);
    if (a) { errno = a; return MAP_FAILED; }
    void *m = mmap(p, n, prot, fl, fd, off);
    if (m != MAP_FAILED && fault_st) atomic_fetch_add((_Atomic long *)&fault_st->live_maps, 1);
    return m;
}
int __wrap_mprotect(void *p, size_t n, int prot)
{ int a = CHECK(mprotect); FAIL_INT(a); return mprotect(p, n, prot); }
int __wrap_munmap(void *p, size_t n)
{
    int rc = munmap(p, n);
    if (rc == 0 && fault_st) atomic_fetch_sub((_Atomic long *)&fault_st->live_maps, 1);
    return rc;
}
void *__wrap_malloc(size_t n)
{ if (CHECK(malloc)) { errno = ENOMEM; return NULL; } return malloc(n); }
void *__wrap_calloc(size_t k, size_t n)
{ if (CHECK(calloc)) { errno = ENOMEM; return NULL; } return calloc(k, n); }
void *__wrap_realloc(void *p, size_t n)
{ if (CHECK(realloc)) { errno = ENOMEM; return NULL; } return realloc(p, n); }

/* ---- threads and processes ---- */
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *at,
                          void *(*fn)(void *), void *arg)
{ int a = CHECK(pthread_create); if (a) return a; return pthread_create(t, at, fn, arg); }
pid_t __wrap_fork(void)
{ int a = CHECK(fork); FAIL_INT(a); return fork(); }
int __wrap_waitid(idtype_t t, id_t id, siginfo_t *i, int o)
{ int a = CHECK(waitid); FAIL_INT(a); return waitid(t, id, i, o); }
pid_t __wrap_waitpid(pid_t p, int *st, int o)
{ int a = CHECK(waitpid); FAIL_INT(a); return waitpid(p, st, o); }
int __wrap_kill(pid_t p, int sig)
{ int a = CHECK(kill); FAIL_INT(a); return kill(p, sig); }
/* corio calls syscall() for pidfd_open and pidfd_send_signal: integer
 * arguments only, so six longs pass any of them on. */
long __wrap_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long);
    va_end(ap);
    int a = CHECK(syscall); FAIL_INT(a);
    return syscall(nr, a1, a2, a3, a4, a5);
}
int __wrap_getaddrinfo(const char *h, const char *s, const struct addrinfo *hi,
                       struct addrinfo **res)
{
    switch (CHECK(getaddrinfo)) {
    case 0: return getaddrinfo(h, s, hi, res);
    case EAGAIN: return EAI_AGAIN;
    case ENOMEM: return EAI_MEMORY;
    case EIO: return EAI_FAIL;
    default: errno = EMFILE; return EAI_SYSTEM;
    }
}
