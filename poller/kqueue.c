/*
 * kqueue.c — the BSD and macOS poller backend.
 *
 * Every descriptor is registered once, edge-triggered, for both directions:
 * two kevents, EVFILT_READ and EVFILT_WRITE, each EV_ADD | EV_CLEAR, sent
 * in one kevent() call: no kevent change on the hot path. EV_CLEAR is
 * kqueue's edge trigger: after a report the kevent's state is reset, and it
 * is reported again only when the filter fires again. The kernel reports a
 * change, not a state, so the I/O code must read or write until EAGAIN
 * before it parks; a wakeup that finds nothing to do (spurious) is normal
 * and the caller simply retries.
 *
 * Each registration carries the descriptor in ident and its generation in
 * udata, and every event is reported back with both (poller.h); netpoll.c
 * drops an event whose generation is stale: one queued for the old
 * registration of a detached descriptor, or for a new descriptor that got
 * the same number. (udata is a pointer,
 * 32 bits on some BSDs: the generation alone fits, the descriptor is in
 * ident anyway.)
 *
 * A kernel may refuse one direction of a descriptor that has only one
 * left: FreeBSD refuses EVFILT_WRITE with EPIPE on a pipe whose reader is
 * gone; NetBSD refuses it (EBADF) on a pipe end whose peer is gone, read
 * ends included. The pair is sent with EV_RECEIPT, so each change gets its
 * own answer in the same kevent() call (no extra system call for the
 * common socket, which takes both). When one direction is refused and the
 * other is not, the descriptor stays registered for the one it has, and
 * the refused direction is reported once as ready with end of stream at
 * the next wait: a task waiting on it wakes, retries its call, and gets
 * that call's own error (write: CORIO_EPIPE), as epoll reports EPOLLERR
 * for such a pipe at once. Only when both are refused does attach fail.
 *
 * Wakeups from other threads go through an EVFILT_USER event, registered
 * EV_CLEAR so that one NOTE_TRIGGER is one report; where EVFILT_USER does
 * not exist (older NetBSD and OpenBSD) a self-pipe takes its place. An
 * atomic flag makes a burst of wakeups cost one kevent (or one write).
 *
 * On Linux there is no kqueue: `make test-kqueue` runs this file against
 * tests/kqueue_double/, a TEST DOUBLE of kqueue/kevent built on epoll.
 */
#include "poller.h"
#include "coro/alloc.h"
#include "os/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char corio__poller_name[] = "kqueue";

#define MAX_EVENTS 256

/* EVFILT_USER, unless the OS lacks it or the build asks for the pipe
 * (-DCORIO_KQUEUE_WAKE_PIPE tests the fallback on a system that has both). */
#if defined(EVFILT_USER) && !defined(CORIO_KQUEUE_WAKE_PIPE)
#define WAKE_BY_USER_EVENT 1
#define WAKE_IDENT 0 /* EVFILT_USER idents are their own namespace */
#else
#define WAKE_BY_USER_EVENT 0
#endif

/* Some BSDs silently cut (or refuse) longer kevent timeouts; a wait that
 * ends after 24 hours with nothing to do just makes the loop wait again. */
#define MAX_TIMEOUT_SEC 86400

/* A direction attach found refused, to report at the next wait. */
typedef struct refused {
    int fd;
    uint32_t gen;
    uint8_t rd, wr;
} refused;

struct corio_poller {
    int kq;
#if !WAKE_BY_USER_EVENT
    int wake_rd, wake_wr;     /* self-pipe: the loop watches wake_rd */
#endif
    atomic_int wake_pending;
    refused *refused;         /* reported (and emptied) by the next wait */
    size_t nrefused, caprefused;
    struct kevent events[MAX_EVENTS];
};

static int set_cloexec_nonblock(int fd, int nonblock)
{
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
    if (nonblock) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
    }
    return 0;
}

/* Register the wakeup channel. 0 or -1 (errno). */
static int open_wakeup(corio_poller *p)
{
    struct kevent kev;
#if WAKE_BY_USER_EVENT
    EV_SET(&kev, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
#else
    int fds[2];
    if (pipe(fds) != 0) return -1;
    p->wake_rd = fds[0];
    p->wake_wr = fds[1];
    if (set_cloexec_nonblock(p->wake_rd, 1) != 0 ||
        set_cloexec_nonblock(p->wake_wr, 1) != 0) return -1;
    EV_SET(&kev, p->wake_rd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
#endif
    return kevent(p->kq, &kev, 1, NULL, 0, NULL);
}

int corio__poller_open(corio_poller **out)
{
    corio_poller *p = corio__calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;
#if !WAKE_BY_USER_EVENT
    p->wake_rd = p->wake_wr = -1;
#endif
    /* A kqueue is not inherited by fork; close-on-exec covers exec too. */
    p->kq = kqueue();
    if (p->kq < 0 || set_cloexec_nonblock(p->kq, 0) != 0) goto fail;
    if (open_wakeup(p) != 0) goto fail;
    *out = p;
    return 0;
fail:;
    /* What the kernel said (EMFILE, ENFILE, ENOMEM), kept for
     * corio_last_os_error, as the epoll backend does. */
    int rc = corio__error_from_errno(errno);
    if (rc == 0) rc = CORIO_EMFILE;
    if (p->kq >= 0) close(p->kq);
#if !WAKE_BY_USER_EVENT
    if (p->wake_rd >= 0) close(p->wake_rd);
    if (p->wake_wr >= 0) close(p->wake_wr);
#endif
    corio__free(p);
    return rc;
}

/* A kqueue descriptor is readable while events are pending on it
 * (kqueue(2); select() and kevent(EVFILT_READ) on it work on every BSD
 * and macOS). The wakeup channel (EVFILT_USER or the self-pipe) is in
 * the set, so a wakeup makes it readable too. Refused directions never
 * reach the kernel: pending() tells of them. */
int corio__poller_fd(const corio_poller *p) { return p->kq; }
int corio__poller_pending(const corio_poller *p) { return p->nrefused != 0; }

void corio__poller_close(corio_poller *p)
{
    if (!p) return;
    close(p->kq);
#if !WAKE_BY_USER_EVENT
    close(p->wake_rd);
    close(p->wake_wr);
#endif
    corio__free(p->refused);
    corio__free(p);
}

void corio__poller_wakeup(corio_poller *p)
{
    if (atomic_exchange(&p->wake_pending, 1)) return; /* already on its way */
#if WAKE_BY_USER_EVENT
    /* No EV_CLEAR here: in a change, FreeBSD reads it as "reset the
     * trigger". The EV_CLEAR given at registration resets it after the
     * report, which is what we want. */
    struct kevent kev;
    EV_SET(&kev, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    kevent(p->kq, &kev, 1, NULL, 0, NULL);
#else
    char one = 1;
    ssize_t n = write(p->wake_wr, &one, 1);
    (void)n; /* EAGAIN means the pipe is full of wakeups already: fine */
#endif
}

static void drain_wakeups(corio_poller *p)
{
    /* Clear the flag first: a wakeup racing with us then triggers again,
     * and that trigger makes a new event for the next wait. */
    atomic_store(&p->wake_pending, 0);
#if !WAKE_BY_USER_EVENT
    char buf[64];
    while (read(p->wake_rd, buf, sizeof buf) > 0) {}
#endif
}

static int is_wakeup(const corio_poller *p, const struct kevent *e)
{
#if WAKE_BY_USER_EVENT
    (void)p;
    return e->filter == EVFILT_USER && e->ident == WAKE_IDENT;
#else
    return e->filter == EVFILT_READ && e->ident == (uintptr_t)p->wake_rd;
#endif
}

/* kevent takes a timespec: nanoseconds, no rounding needed, and the
 * kernel never ends a wait early. NULL waits forever. */
static int wait_kernel(corio_poller *p, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns != CORIO_NEVER) {
        if (timeout_ns < 0) timeout_ns = 0;
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        if (ts.tv_sec > MAX_TIMEOUT_SEC) { ts.tv_sec = MAX_TIMEOUT_SEC; ts.tv_nsec = 0; }
        tsp = &ts;
    }
    return kevent(p->kq, NULL, 0, p->events, MAX_EVENTS, tsp);
}

/* The refused directions attach queued: ready, with end of stream. A
 * descriptor detached since has a new generation, and netpoll drops it. */
static int report_refused(corio_poller *p, corio__netpoll *np)
{
    size_t n = p->nrefused;
    p->nrefused = 0;
    for (size_t i = 0; i < n; i++) {
        const refused *r = &p->refused[i];
        corio__netpoll_ready(np, r->fd, r->gen, r->rd, r->wr, 1);
    }
    return (int)n;
}

int corio__poller_wait(corio_poller *p, int64_t timeout_ns, corio__netpoll *np)
{
    /* Something to report already: just look at the kernel. */
    int n = wait_kernel(p, p->nrefused ? 0 : timeout_ns);
    if (n < 0) {
        if (errno != EINTR) return CORIO_EIO;
        n = 0;
    }
    int reported = report_refused(p, np);
    for (int i = 0; i < n; i++) {
        struct kevent *e = &p->events[i];
        if (is_wakeup(p, e)) {
            drain_wakeups(p);
            continue;
        }
        if (e->flags & EV_ERROR) continue; /* only answers changes; we sent none */
        int fd = (int)e->ident;
        uint32_t gen = (uint32_t)(uintptr_t)e->udata;
        /* EV_EOF (peer gone, read side shut, socket error) wakes both
         * sides: their next call sees it. */
        int eof = (e->flags & EV_EOF) != 0;
        int rd = e->filter == EVFILT_READ || eof;
        int wr = e->filter == EVFILT_WRITE || eof;
        corio__netpoll_ready(np, fd, gen, rd, wr, eof);
        reported++;
    }
    return reported;
}

/* Apply the two changes and answer each: err[0] for EVFILT_READ, err[1]
 * for EVFILT_WRITE (0 = applied). -1 if kevent() itself failed (errno). */
static int apply_pair(corio_poller *p, struct kevent ch[2], int err[2])
{
    err[0] = err[1] = 0;
#ifdef EV_RECEIPT
    /* EV_RECEIPT: every change is answered by an EV_ERROR entry (data 0
     * on success) and kevent() returns without collecting events. */
    struct kevent res[2];
    ch[0].flags |= EV_RECEIPT;
    ch[1].flags |= EV_RECEIPT;
    int n = kevent(p->kq, ch, 2, res, 2, NULL);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++)
        if ((res[i].flags & EV_ERROR) && res[i].data != 0)
            err[res[i].filter == EVFILT_WRITE] = (int)res[i].data;
#else
    /* No receipts (older OpenBSD): one change per call. */
    for (int i = 0; i < 2; i++)
        if (kevent(p->kq, &ch[i], 1, NULL, 0, NULL) != 0) err[i] = errno;
#endif
    return 0;
}

/* Remove both kevents of fd: one call, each change answered on its own,
 * so a direction that was never registered (ENOENT) or a descriptor
 * already closed (EBADF: close removed them) costs nothing more. */
void corio__poller_detach(corio_poller *p, corio_fd fd)
{
    struct kevent ch[2];
    int err[2];
    EV_SET(&ch[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&ch[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    (void)apply_pair(p, ch, err);
}

static int map_errno(int e)
{
    return e == EBADF ? CORIO_EINVAL
         : e == ENOMEM ? CORIO_ENOMEM
         : e == EPIPE ? CORIO_EPIPE
         : (e == EINVAL || e == EPERM) ? CORIO_ENOTSUP /* e.g. files */
         : CORIO_EIO;
}

static int queue_refused(corio_poller *p, corio_fd fd, uint32_t gen, int rd, int wr)
{
    if (p->nrefused == p->caprefused) {
        size_t cap = p->caprefused ? 2 * p->caprefused : 8;
        refused *v = corio__realloc(p->refused, cap * sizeof *v);
        if (!v) return CORIO_ENOMEM;
        p->refused = v;
        p->caprefused = cap;
    }
    p->refused[p->nrefused++] = (refused){ fd, gen, (uint8_t)rd, (uint8_t)wr };
    return 0;
}

int corio__poller_attach(corio_poller *p, corio_fd fd, uint32_t generation)
{
    /* Re-adding an existing kevent modifies it (new udata) rather than
     * failing, so a number reused behind our back needs no special case. */
    void *gen = (void *)(uintptr_t)generation;
    struct kevent ch[2];
    int err[2];
    EV_SET(&ch[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, gen);
    EV_SET(&ch[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, gen);
    if (apply_pair(p, ch, err) != 0) return map_errno(errno);
    if (!err[0] && !err[1]) return 0;
    /* One direction refused, the other registered (see the top): keep the
     * one, report the other as over. Out of memory is not a refusal. */
    int one_left = (!err[0] || !err[1]) && err[0] != ENOMEM && err[1] != ENOMEM;
    if (one_left && queue_refused(p, fd, generation, err[0] != 0, err[1] != 0) == 0)
        return 0;
    corio__poller_detach(p, fd); /* the other half may have gone in */
    return map_errno(err[0] ? err[0] : err[1]);
}
