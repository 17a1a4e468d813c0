/*
 * epoll.c — the Linux poller backend.
 *
 * Every descriptor is registered once, edge-triggered, for both directions
 * (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET): no epoll_ctl on the hot path.
 * Edge-triggered means the kernel reports a change, not a state, so the
 * I/O code must read or write until EAGAIN before it parks; a wakeup that
 * finds nothing to do (spurious) is normal and the caller simply retries.
 *
 * Each registration carries (fd, generation) in epoll_data, and every event
 * is reported back with both (poller.h); netpoll.c drops an event whose
 * generation is stale: one queued for the old registration of a detached
 * descriptor, or for a new descriptor that got the same number.
 *
 * Wakeups from other threads go through an eventfd registered like any
 * other descriptor; an atomic flag makes a burst of wakeups cost one write.
 */
#include "poller.h"
#include "coro/alloc.h"
#include "os/error.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

const char corio__poller_name[] = "epoll";

#define MAX_EVENTS 256

/* Set once epoll_pwait2 answered ENOSYS (kernels before 5.11, qemu-user,
 * valgrind 3.19): the kernel does not change, so every loop of the
 * process then goes straight to epoll_wait. */
static atomic_int pwait2_missing;
#define WAKE_TOKEN UINT64_MAX

struct corio_poller {
    int epfd;
    int wakefd;
    atomic_int wake_pending;
    struct epoll_event events[MAX_EVENTS];
};

int corio__poller_open(corio_poller **out)
{
    corio_poller *p = corio__calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;
    p->wakefd = -1;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) goto fail;
    p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->wakefd < 0) goto fail;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = WAKE_TOKEN };
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) != 0) goto fail;
    *out = p;
    return 0;
fail:;
    /* EMFILE/ENFILE or ENOMEM, as the kernel said (and recorded for
     * corio_last_os_error), not always "descriptor table full". */
    int e = errno;
    int rc = corio__error_from_errno(e);
    if (e == ENOSPC) rc = CORIO_ENOMEM; /* the watch limit, as in attach */
    if (p->epfd >= 0) close(p->epfd);
    if (p->wakefd >= 0) close(p->wakefd);
    corio__free(p);
    return rc;
}

void corio__poller_close(corio_poller *p)
{
    if (!p) return;
    close(p->epfd);
    close(p->wakefd);
    corio__free(p);
}

/* The epoll fd is readable while its ready list is not empty; the eventfd
 * of wakeup() is in the set, so a wakeup makes it readable too. */
int corio__poller_fd(const corio_poller *p) { return p->epfd; }
int corio__poller_pending(const corio_poller *p) { (void)p; return 0; }

void corio__poller_wakeup(corio_poller *p)
{
    if (atomic_exchange(&p->wake_pending, 1)) return; /* already on its way */
    uint64_t one = 1;
    ssize_t n;
    do n = write(p->wakefd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is already non-zero: a wakeup is on its
     * way. Any other failure sent nothing: let the next call try again
     * rather than skip every later wakeup. */
    if (n < 0 && errno != EAGAIN) atomic_store(&p->wake_pending, 0);
}

static void drain_wakeups(corio_poller *p)
{
    /* Clear the flag first: a wakeup racing with us then writes again,
     * and that write makes a new edge for the next wait. */
    atomic_store(&p->wake_pending, 0);
    uint64_t v;
    ssize_t n = read(p->wakefd, &v, sizeof v);
    (void)n;
}

/* epoll_pwait2 takes a timespec (ns); epoll_wait only milliseconds, which
 * we round UP so that a 0.3 ms sleep waits ~1 ms instead of spinning. */
static int wait_kernel(corio_poller *p, int64_t timeout_ns)
{
    int n;
    if (!atomic_load_explicit(&pwait2_missing, memory_order_relaxed)) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns != CORIO_NEVER) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        n = epoll_pwait2(p->epfd, p->events, MAX_EVENTS, tsp, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        atomic_store(&pwait2_missing, 1); /* fall back from now on */
    }
    int ms = -1;
    if (timeout_ns != CORIO_NEVER) {
        int64_t m = (timeout_ns + 999999) / 1000000;
        ms = m > INT_MAX ? INT_MAX : (int)m;
    }
    return epoll_wait(p->epfd, p->events, MAX_EVENTS, ms);
}

int corio__poller_wait(corio_poller *p, int64_t timeout_ns, corio__netpoll *np)
{
    int n = wait_kernel(p, timeout_ns);
    if (n < 0) return errno == EINTR ? 0 : CORIO_EIO;
    int reported = 0;
    for (int i = 0; i < n; i++) {
        struct epoll_event *e = &p->events[i];
        if (e->data.u64 == WAKE_TOKEN) {
            drain_wakeups(p);
            continue;
        }
        int fd = (int)(uint32_t)e->data.u64;
        uint32_t gen = (uint32_t)(e->data.u64 >> 32);
        uint32_t r = e->events;
        /* An error or hang-up wakes both sides: their next call sees it. */
        int rd = (r & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
        int wr = (r & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
        int eof = (r & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
        corio__netpoll_ready(np, fd, gen, rd, wr, eof);
        reported++;
    }
    return reported;
}

int corio__poller_attach(corio_poller *p, corio_fd fd, uint32_t gen)
{
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = (uint64_t)(uint32_t)fd | ((uint64_t)gen << 32),
    };
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        /* EEXIST: the same open file is still registered under this
         * number (closed and reopened behind our back): take it over. */
        if (errno != EEXIST || epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) != 0) {
            if (errno == EBADF) return CORIO_EINVAL;
            if (errno == EPERM) return CORIO_ENOTSUP; /* regular files */
            /* ENOSPC: the max_user_watches limit, i.e. kernel memory
             * for registrations: out of memory, as ENOMEM is. */
            if (errno != ENOSPC) return corio__error_from_errno(errno);
            corio__os_error_record(ENOSPC);
            return CORIO_ENOMEM;
        }
    }
    return 0;
}

/* epoll_ctl(DEL) before close; ENOENT/EBADF mean it is already gone. */
void corio__poller_detach(corio_poller *p, corio_fd fd)
{
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}
