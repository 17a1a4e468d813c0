/*
 * ======================================================================
 *  TEST DOUBLE — NOT A KQUEUE IMPLEMENTATION.
 * ======================================================================
 *
 * kqueue_double.c — kqueue() and kevent() for Linux, built on epoll and
 * poll, so that poller/kqueue.c runs (and is tested) on a machine with no
 * BSD kernel. It is linked into libcorio.a only for `make POLLER=kqueue`
 * on Linux. It was written from the FreeBSD kqueue(2) manual page, with
 * the behaviour of real users (Go's netpoll, libuv) in mind; it is meant
 * to be exactly as strict as the manual where the backend depends on it,
 * and says below where it is not.
 *
 * The model. A *knote* is one (ident, filter) pair registered in one
 * kqueue. It is *active* once its filter has fired and *queued* while it
 * waits, enabled, to be returned. kevent() first applies every change,
 * then takes knotes off the queue, re-runs each one's filter (the manual:
 * "if the condition no longer holds, the kevent is removed from the kqueue
 * and is not returned"), and copies out those that still hold:
 *   - EV_CLEAR: the knote goes inactive after it is returned and is queued
 *     again only when its filter fires again — one report per readiness
 *     change, the edge-triggered mode the backend uses;
 *   - without EV_CLEAR: it stays queued and is returned at every call
 *     while the condition holds (level-triggered);
 *   - EV_ONESHOT deletes it after one report, EV_DISPATCH disables it.
 *
 * Where the "filter fires" comes from:
 *   - EVFILT_READ / EVFILT_WRITE: every descriptor with at least one knote
 *     is in the double's epoll set, always with EPOLLIN|EPOLLOUT|EPOLLRDHUP|
 *     EPOLLET. Edge-triggered epoll wakes us once per change of state
 *     (new data, new buffer space, hang-up) — the same moments at which a
 *     BSD socket or pipe calls its knotes. Registering both directions
 *     whatever the knotes are means the epoll entry is never modified, so
 *     adding one filter never re-fires the other. The condition itself is
 *     then read with poll(2) on the single descriptor:
 *       READ  holds on POLLIN, POLLRDHUP, POLLHUP or POLLERR; EV_EOF on
 *             POLLRDHUP or POLLHUP (read side shut, last writer gone);
 *             data = FIONREAD bytes (0 where FIONREAD does not apply,
 *             e.g. a listening socket, where FreeBSD gives the backlog).
 *       WRITE holds on POLLOUT, POLLHUP or POLLERR; EV_EOF on POLLHUP, and
 *             on POLLERR for a pipe (Linux's way to say "no reader left");
 *             data = 0 (FreeBSD gives the free buffer space).
 *     The filter also runs when a knote is added, so a condition that
 *     already holds is reported (the manual: "the filter is executed upon
 *     the initial registration").
 *   - EVFILT_USER, as FreeBSD's filt_userattach / filt_usertouch
 *     (sys/kern/kern_event.c): the change that adds the knote stores its
 *     fflags and data as given; a later change's NOTE_TRIGGER fires it, its
 *     low 24 bits of fflags combine with the stored ones by NOTE_FFNOP /
 *     FFAND / FFOR / FFCOPY, and its data replaces the stored data. A
 *     report returns the stored fflags and data; with EV_CLEAR it resets
 *     only the trigger, and the stored fflags and data stay (the next
 *     trigger reports them again unless a change alters them). A change
 *     carrying EV_CLEAR also resets just the trigger. One difference: an
 *     EV_ADD that carries NOTE_TRIGGER fires at once here, as on macOS and
 *     DragonFly; FreeBSD's attach tests the trigger in a field it has just
 *     zeroed, so it does not (corio never adds with NOTE_TRIGGER). A
 *     trigger from another thread wakes a kevent() blocked in this kqueue
 *     through an eventfd.
 *   - udata: every change that is not EV_DELETE stores the change's udata,
 *     on an existing knote too (kqueue_register copies it before the
 *     filter's touch; that is why FreeBSD 12 added EV_KEEPUDATA). A
 *     modifying change keeps the knote's EV_CLEAR / EV_ONESHOT /
 *     EV_DISPATCH from when it was added, as FreeBSD does.
 *
 * kevent() itself: changes are applied in order before anything is read.
 * A change that fails is answered in the eventlist as a copy of the change
 * with flags = EV_ERROR and data = errno (ENOENT: EV_DELETE, EV_ENABLE...
 * of an unknown knote; EBADF: a descriptor that is not open; EINVAL: an
 * unknown filter), and then — like FreeBSD — kevent() returns the number of
 * such entries without collecting events. With no room (nevents == 0) it
 * returns -1 with errno set instead, at the first failing change. With
 * EV_RECEIPT every change is answered (data 0 on success). nevents == 0
 * returns at once. timeout NULL waits forever; {0, 0} polls; otherwise the
 * double never returns 0 before the full interval has passed (the epoll
 * millisecond timeout is rounded up and re-armed if woken early). A signal
 * gives -1/EINTR after the changes were applied, as the manual says.
 *
 * Closing a descriptor. The manual: "Calling close() on a file descriptor
 * will remove any kevents that reference the descriptor." The double
 * cannot see close(), so it approximates:
 *   1. epoll drops a closed descriptor itself once its open file
 *      description is gone, so no readiness arrives for it;
 *   2. every change that names a descriptor fstat()s it first: not open
 *      → its knotes are dropped and the change fails with EBADF; open but
 *      a different (device, inode) than when it was added → the number was
 *      closed and reused, so the old knotes are dropped (as close would
 *      have done) before the change is applied;
 *   3. every report re-runs the filter with poll(); POLLNVAL means the
 *      descriptor is closed: its knotes are dropped, nothing is reported;
 *   4. each epoll entry carries a generation number, so readiness from an
 *      entry that outlived its knotes (a file description still open
 *      through a dup or a fork) is ignored.
 *   Not caught: a number closed and reused by an object with the same
 *   identity (a dup of the same file; eventfds, which share one anonymous
 *   inode) with no change in between — the old knotes survive and watch
 *   the new object. corio's backend EV_DELETEs before it closes, so it
 *   never relies on close semantics.
 *
 * Refusals (corio__kqdouble_pipe_refusals in sys/event.h): adding
 * EVFILT_WRITE on a pipe whose other end is gone fails as the chosen
 * kernel's pipe_kqfilter does, EPIPE (FreeBSD, the default: the write end,
 * reader gone; Linux poll says POLLERR) or EBADF (NetBSD: either end, peer
 * gone; POLLERR or POLLHUP). FreeBSD's quiet acceptance of a filter in a
 * direction the descriptor was not opened for (it never fires) is not
 * modelled: Linux pipe ends are one-way, FreeBSD's are two-way.
 *
 * Not modelled: other filters (VNODE, PROC, SIGNAL, TIMER, AIO: EINVAL);
 * regular files (epoll refuses them: EPERM); NOTE_LOWAT; the socket error
 * in fflags with EV_EOF (Linux can read it only by clearing it, which would
 * change what the next recv sees, so fflags is 0); fork (a FreeBSD kqueue
 * is not inherited; the double's epoll set is); closing the kqueue itself
 * is noticed only when its number is reused or at the next kqueue() call,
 * which frees the double's bookkeeping for kqueues no longer open; a TCP
 * socket that was never connected polls as hung up on Linux, so it reads
 * as readable and writable with EV_EOF where FreeBSD reports nothing.
 */
#include <sys/event.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct knote knote;
typedef struct fdnote fdnote;
typedef struct dkqueue dkqueue;

/* One (ident, filter) registration. */
struct knote {
    uintptr_t ident;
    short filter;
    unsigned short kflags; /* EV_CLEAR / EV_ONESHOT / EV_DISPATCH as added */
    void *udata;
    bool disabled;         /* EV_DISABLE: kept, never returned */
    bool active;           /* the filter fired since the last report */
    bool queued;           /* on the kqueue's queue, waiting to be returned */
    unsigned pass;         /* the collect() pass that last re-queued it */
    knote *qprev, *qnext;  /* queue links */
    fdnote *fdn;           /* READ/WRITE: the descriptor's record */
    /* EVFILT_USER state */
    bool triggered;
    unsigned int sfflags;  /* stored user flags (as FreeBSD stores them) */
    intptr_t sdata;
    knote *unext;          /* the kqueue's list of user knotes */
};

/* The double's record of one descriptor: its epoll entry and its two
 * knotes. The generation goes into the epoll entry's data so that an event
 * from an entry this record no longer owns can be told apart. */
struct fdnote {
    int fd;
    uint32_t gen;
    dev_t dev;             /* identity when added, to notice reuse */
    ino_t ino;
    bool is_fifo;
    knote *rd, *wr;
};

struct dkqueue {
    int epfd;              /* the descriptor kqueue() returned */
    int wakefd;            /* eventfd: ends a blocked epoll_wait */
    pthread_mutex_t mu;
    fdnote **fds;          /* indexed by descriptor number */
    size_t nfds;
    knote *users;          /* EVFILT_USER knotes */
    knote *qhead, *qtail;  /* active, enabled knotes waiting to be returned */
    uint32_t next_gen;
    unsigned pass;         /* collect() passes, to stamp re-queued knotes */
};

/* The wakeup eventfd's epoll data: no descriptor entry can be all ones,
 * since descriptor numbers fit in 31 bits. */
#define WAKE_TAG UINT64_MAX

/* ---------- the table of kqueues, by descriptor number ---------- */

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static dkqueue **table;
static size_t table_len;

static void knote_delete(dkqueue *kq, knote *kn);

static void dkqueue_free(dkqueue *kq) {
    for (size_t i = 0; i < kq->nfds; i++) {
        fdnote *fdn = kq->fds[i];
        if (!fdn) continue;
        free(fdn->rd);
        free(fdn->wr);
        free(fdn);
    }
    while (kq->users) {
        knote *kn = kq->users;
        kq->users = kn->unext;
        free(kn);
    }
    free(kq->fds);
    close(kq->wakefd);
    pthread_mutex_destroy(&kq->mu);
    free(kq);
}

/* Called with table_mu held: free the records of kqueues whose descriptor
 * is no longer open (the program closed them; the double could not see). */
static void table_sweep(void) {
    for (size_t i = 0; i < table_len; i++)
        if (table[i] && fcntl((int)i, F_GETFD) < 0 && errno == EBADF) {
            dkqueue_free(table[i]);
            table[i] = NULL;
        }
}

static dkqueue *table_get(int kqfd) {
    dkqueue *kq = NULL;
    pthread_mutex_lock(&table_mu);
    if (kqfd >= 0 && (size_t)kqfd < table_len) kq = table[kqfd];
    pthread_mutex_unlock(&table_mu);
    return kq;
}

int corio__kqdouble_kqueue(void) {
    dkqueue *kq = calloc(1, sizeof *kq);
    if (!kq) { errno = ENOMEM; return -1; }
    kq->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (kq->epfd < 0) { int e = errno; free(kq); errno = e; return -1; }
    kq->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ee = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
    if (kq->wakefd < 0 || epoll_ctl(kq->epfd, EPOLL_CTL_ADD, kq->wakefd, &ee) < 0) {
        int e = errno;
        if (kq->wakefd >= 0) close(kq->wakefd);
        close(kq->epfd);
        free(kq);
        errno = e;
        return -1;
    }
    pthread_mutex_init(&kq->mu, NULL);

    pthread_mutex_lock(&table_mu);
    table_sweep();
    size_t fd = (size_t)kq->epfd;
    if (fd >= table_len) {
        size_t n = table_len ? table_len : 16;
        while (n <= fd) n *= 2;
        dkqueue **t = realloc(table, n * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&table_mu);
            close(kq->epfd);
            kq->epfd = -1;
            dkqueue_free(kq);
            errno = ENOMEM;
            return -1;
        }
        memset(t + table_len, 0, (n - table_len) * sizeof *t);
        table = t;
        table_len = n;
    }
    /* epoll_create1 returned this number, so whatever kqueue had it before
     * was closed: its record is stale. */
    if (table[fd]) dkqueue_free(table[fd]);
    table[fd] = kq;
    pthread_mutex_unlock(&table_mu);
    return kq->epfd;
}

/* ---------- the queue of knotes to return ---------- */

static void poke(dkqueue *kq) {
    uint64_t one = 1;
    ssize_t r = write(kq->wakefd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, a wake is pending */
}

static void enqueue(dkqueue *kq, knote *kn) {
    if (kn->queued) return;
    kn->queued = true;
    kn->qnext = NULL;
    kn->qprev = kq->qtail;
    if (kq->qtail) kq->qtail->qnext = kn; else kq->qhead = kn;
    kq->qtail = kn;
    /* A knote queued from here (a trigger, a registration that found the
     * condition true) must end a sleep on this kqueue: another thread's in
     * epoll_wait, and equally a poll() on the kqueue's own descriptor,
     * which on a BSD polls readable while an event is pending (a host loop
     * that embeds corio waits exactly so: docs/embedding.md). So poke
     * whether or not a kevent() sleeps; a spare poke costs one empty turn. */
    poke(kq);
}

static void dequeue(dkqueue *kq, knote *kn) {
    if (!kn->queued) return;
    if (kn->qprev) kn->qprev->qnext = kn->qnext; else kq->qhead = kn->qnext;
    if (kn->qnext) kn->qnext->qprev = kn->qprev; else kq->qtail = kn->qprev;
    kn->qprev = kn->qnext = NULL;
    kn->queued = false;
}

/* The filter fired: remember it, and queue the knote unless disabled (a
 * disabled knote keeps the activation for when it is enabled again). */
static void activate(dkqueue *kq, knote *kn) {
    kn->active = true;
    if (!kn->disabled) enqueue(kq, kn);
}

/* ---------- descriptors ---------- */

static void fdnote_drop(dkqueue *kq, fdnote *fdn) {
    /* Best effort: if the descriptor was closed, or now names another
     * file, epoll answers EBADF / ENOENT and the generation check ignores
     * whatever the old entry may still deliver. */
    epoll_ctl(kq->epfd, EPOLL_CTL_DEL, fdn->fd, NULL);
    kq->fds[fdn->fd] = NULL;
    if (fdn->rd) { dequeue(kq, fdn->rd); free(fdn->rd); }
    if (fdn->wr) { dequeue(kq, fdn->wr); free(fdn->wr); }
    free(fdn);
}

/* The record for fd after checking it against the descriptor as it is now
 * (close semantics, points 2 above). Returns 0 or an errno; *out is the
 * record, or NULL if the descriptor has none. */
static int fdnote_check(dkqueue *kq, int fd, struct stat *st, fdnote **out) {
    fdnote *fdn = (size_t)fd < kq->nfds ? kq->fds[fd] : NULL;
    *out = NULL;
    if (fstat(fd, st) < 0) {
        int e = errno;
        if (fdn) fdnote_drop(kq, fdn);
        return e;
    }
    if (fdn && (fdn->dev != st->st_dev || fdn->ino != st->st_ino)) {
        fdnote_drop(kq, fdn);
        fdn = NULL;
    }
    *out = fdn;
    return 0;
}

static int fdnote_new(dkqueue *kq, int fd, const struct stat *st, fdnote **out) {
    if ((size_t)fd >= kq->nfds) {
        size_t n = kq->nfds ? kq->nfds : 64;
        while (n <= (size_t)fd) n *= 2;
        fdnote **t = realloc(kq->fds, n * sizeof *t);
        if (!t) return ENOMEM;
        memset(t + kq->nfds, 0, (n - kq->nfds) * sizeof *t);
        kq->fds = t;
        kq->nfds = n;
    }
    fdnote *fdn = calloc(1, sizeof *fdn);
    if (!fdn) return ENOMEM;
    fdn->fd = fd;
    fdn->gen = ++kq->next_gen;
    fdn->dev = st->st_dev;
    fdn->ino = st->st_ino;
    fdn->is_fifo = S_ISFIFO(st->st_mode);
    struct epoll_event ee = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = ((uint64_t)fdn->gen << 32) | (uint32_t)fd,
    };
    if (epoll_ctl(kq->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
        int e = errno;
        free(fdn);
        return e;
    }
    kq->fds[fd] = fdn;
    *out = fdn;
    return 0;
}

/* ---------- filters ---------- */

/* Run kn's filter now. 1: the condition holds and *ev is the event to
 * return; 0: it does not; -1: the descriptor is closed and kn is gone. */
static int filter_run(dkqueue *kq, knote *kn, struct kevent *ev) {
    ev->ident = kn->ident;
    ev->filter = kn->filter;
    ev->flags = kn->kflags;
    ev->fflags = 0;
    ev->data = 0;
    ev->udata = kn->udata;

    if (kn->filter == EVFILT_USER) {
        if (!kn->triggered) return 0;
        ev->fflags = kn->sfflags;
        ev->data = kn->sdata;
        return 1;
    }

    fdnote *fdn = kn->fdn;
    bool rd = kn->filter == EVFILT_READ;
    struct pollfd p = { .fd = fdn->fd,
                        .events = rd ? (POLLIN | POLLRDHUP) : POLLOUT };
    if (poll(&p, 1, 0) < 0) return 0;
    if (p.revents & POLLNVAL) {     /* closed behind our back (point 3) */
        fdnote_drop(kq, fdn);
        return -1;
    }
    if (rd) {
        if (!(p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))) return 0;
        if (p.revents & (POLLRDHUP | POLLHUP)) ev->flags |= EV_EOF;
        int n = 0;
        if (ioctl(fdn->fd, FIONREAD, &n) == 0 && n > 0) ev->data = n;
    } else {
        if (!(p.revents & (POLLOUT | POLLHUP | POLLERR))) return 0;
        if ((p.revents & POLLHUP) || (fdn->is_fifo && (p.revents & POLLERR)))
            ev->flags |= EV_EOF;
    }
    return 1;
}

/* A report or a change with EV_CLEAR: FreeBSD resets the trigger and the
 * knote's pending fflags/data, not the stored ones a report returns. */
static void user_clear(knote *kn) {
    kn->triggered = false;
}

/* A change to an existing user knote (filt_usertouch, EVENT_REGISTER):
 * NOTE_FF* combine the change's low 24 bits with the stored ones. */
static void user_touch(knote *kn, const struct kevent *kev) {
    unsigned int f = kev->fflags & NOTE_FFLAGSMASK;
    switch (kev->fflags & NOTE_FFCTRLMASK) {
    case NOTE_FFAND: kn->sfflags &= f; break;
    case NOTE_FFOR: kn->sfflags |= f; break;
    case NOTE_FFCOPY: kn->sfflags = f; break;
    default: break; /* NOTE_FFNOP */
    }
    kn->sdata = kev->data;
    if (kev->fflags & NOTE_TRIGGER) kn->triggered = true;
}

/* ---------- applying one change ---------- */

static void knote_delete(dkqueue *kq, knote *kn) {
    dequeue(kq, kn);
    if (kn->filter == EVFILT_USER) {
        knote **pp = &kq->users;
        while (*pp != kn) pp = &(*pp)->unext;
        *pp = kn->unext;
        free(kn);
        return;
    }
    fdnote *fdn = kn->fdn;
    if (fdn->rd == kn) fdn->rd = NULL; else fdn->wr = NULL;
    free(kn);
    if (!fdn->rd && !fdn->wr) {
        epoll_ctl(kq->epfd, EPOLL_CTL_DEL, fdn->fd, NULL);
        kq->fds[fdn->fd] = NULL;
        free(fdn);
    }
}

static int pipe_refusals = CORIO_KQDOUBLE_FREEBSD;

int corio__kqdouble_pipe_refusals(int mode) {
    int old = pipe_refusals;
    pipe_refusals = mode;
    return old;
}

/* Would the chosen kernel refuse EVFILT_WRITE on fd, a FIFO? 0 or errno. */
static int pipe_write_refusal(int fd) {
    if (pipe_refusals == CORIO_KQDOUBLE_NONE) return 0;
    int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
    struct pollfd p = { .fd = fd, .events = acc == O_RDONLY ? POLLIN : POLLOUT };
    if (poll(&p, 1, 0) < 0) return 0;
    if (pipe_refusals == CORIO_KQDOUBLE_FREEBSD)
        return acc != O_RDONLY && (p.revents & POLLERR) ? EPIPE : 0;
    return p.revents & (POLLERR | POLLHUP) ? EBADF : 0;
}

static int change_apply(dkqueue *kq, const struct kevent *kev) {
    knote *kn = NULL, **slot = NULL;
    fdnote *fdn = NULL;
    struct stat st;
    bool fresh = false;

    switch (kev->filter) {
    case EVFILT_READ:
    case EVFILT_WRITE: {
        if (kev->ident > INT_MAX) return EBADF;
        int fd = (int)kev->ident;
        int e = fdnote_check(kq, fd, &st, &fdn);
        if (e) return e;
        if (fdn) kn = kev->filter == EVFILT_READ ? fdn->rd : fdn->wr;
        break;
    }
    case EVFILT_USER:
        for (kn = kq->users; kn && kn->ident != kev->ident; kn = kn->unext) {}
        break;
    default:
        return EINVAL;
    }

    if (kev->flags & EV_DELETE) {
        if (!kn) return ENOENT;
        knote_delete(kq, kn);
        return 0;
    }
    if (!kn) {
        if (!(kev->flags & EV_ADD)) return ENOENT;
        if (kev->filter == EVFILT_WRITE && S_ISFIFO(st.st_mode)) {
            int e = pipe_write_refusal((int)kev->ident);
            if (e) return e;
        }
        if (kev->filter != EVFILT_USER && !fdn) {
            int e = fdnote_new(kq, (int)kev->ident, &st, &fdn);
            if (e) return e;
        }
        kn = calloc(1, sizeof *kn);
        if (!kn) {
            if (fdn && !fdn->rd && !fdn->wr) {
                epoll_ctl(kq->epfd, EPOLL_CTL_DEL, fdn->fd, NULL);
                kq->fds[fdn->fd] = NULL;
                free(fdn);
            }
            return ENOMEM;
        }
        kn->ident = kev->ident;
        kn->filter = kev->filter;
        if (kev->filter == EVFILT_USER) {
            kn->unext = kq->users;
            kq->users = kn;
        } else {
            kn->fdn = fdn;
            slot = kev->filter == EVFILT_READ ? &fdn->rd : &fdn->wr;
            *slot = kn;
        }
        fresh = true;
    }

    kn->udata = kev->udata; /* on every change (no EV_KEEPUDATA here) */
    if (fresh) kn->kflags = kev->flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH);
    if (kev->filter == EVFILT_USER) {
        if (fresh) {
            kn->sfflags = kev->fflags; /* stored as given */
            kn->sdata = kev->data;
            kn->triggered = (kev->fflags & NOTE_TRIGGER) != 0; /* see the top */
        } else {
            user_touch(kn, kev);
            if (kev->flags & EV_CLEAR) user_clear(kn);
        }
    }

    if (kev->flags & EV_DISABLE) {
        kn->disabled = true;
        dequeue(kq, kn);
    } else if (kev->flags & EV_ENABLE) {
        kn->disabled = false;
        if (kn->active) enqueue(kq, kn);
    }

    /* Run the filter on registration (and on a modifying EV_ADD or a
     * trigger), so a condition that already holds is reported. */
    if (kev->filter == EVFILT_USER) {
        if (kn->triggered) activate(kq, kn);
    } else if (kev->flags & EV_ADD) {
        struct kevent ev;
        if (filter_run(kq, kn, &ev) == 1) activate(kq, kn);
    }
    return 0;
}

/* ---------- collecting events ---------- */

/* Turn epoll's edges into knote activations. */
static void absorb(dkqueue *kq, const struct epoll_event *evs, int n) {
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag == WAKE_TAG) {
            uint64_t v;
            ssize_t r = read(kq->wakefd, &v, sizeof v);
            (void)r;
            continue;
        }
        size_t fd = (uint32_t)tag;
        uint32_t gen = (uint32_t)(tag >> 32);
        fdnote *fdn = fd < kq->nfds ? kq->fds[fd] : NULL;
        if (!fdn || fdn->gen != gen) continue; /* stale entry (point 4) */
        uint32_t e = evs[i].events;
        if (fdn->rd && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            activate(kq, fdn->rd);
        if (fdn->wr && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
            activate(kq, fdn->wr);
    }
}

static void absorb_pending(dkqueue *kq) {
    struct epoll_event evs[64];
    int n;
    do {
        n = epoll_wait(kq->epfd, evs, 64, 0);
        if (n > 0) absorb(kq, evs, n);
    } while (n == 64);
}

/* Take up to max events off the queue. A level-triggered knote that
 * still holds goes back to the tail, stamped with this pass, and the pass
 * ends when it meets one: otherwise one such knote could fill the list. */
static int collect(dkqueue *kq, struct kevent *out, int max) {
    int n = 0;
    unsigned pass = ++kq->pass;
    while (n < max && kq->qhead && kq->qhead->pass != pass) {
        knote *kn = kq->qhead;
        dequeue(kq, kn);
        struct kevent ev;
        int r = filter_run(kq, kn, &ev);
        if (r < 0) continue;          /* closed: kn is gone */
        if (r == 0) { kn->active = false; continue; }
        out[n++] = ev;
        if (kn->kflags & EV_ONESHOT) { knote_delete(kq, kn); continue; }
        if (kn->kflags & EV_DISPATCH) kn->disabled = true;
        if (kn->kflags & EV_CLEAR) {
            kn->active = false;
            if (kn->filter == EVFILT_USER) user_clear(kn);
        } else if (!kn->disabled) {
            kn->pass = pass;          /* still active: next call looks again */
            enqueue(kq, kn);
        }
    }
    return n;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int corio__kqdouble_kevent(int kqfd, const struct kevent *changelist,
                          int nchanges, struct kevent *eventlist,
                          int nevents, const struct timespec *timeout) {
    dkqueue *kq = table_get(kqfd);
    if (!kq || kq->epfd != kqfd) { errno = EBADF; return -1; }
    if (nchanges < 0 || nevents < 0 ||
        (nchanges > 0 && !changelist) || (nevents > 0 && !eventlist) ||
        (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                     timeout->tv_nsec >= 1000000000))) {
        errno = EINVAL;
        return -1;
    }

    pthread_mutex_lock(&kq->mu);
    int nerrors = 0;
    for (int i = 0; i < nchanges; i++) {
        /* Copy first: the manual allows eventlist == changelist, and an
         * error entry may overwrite a change already applied. */
        struct kevent kev = changelist[i];
        kev.flags &= (unsigned short)~EV_SYSFLAGS;
        int e = change_apply(kq, &kev);
        if (e || (kev.flags & EV_RECEIPT)) {
            if (nevents == 0) {
                if (!e) continue;
                pthread_mutex_unlock(&kq->mu);
                errno = e;
                return -1;
            }
            kev.flags = EV_ERROR;
            kev.data = e;
            eventlist[nerrors++] = kev;
            nevents--;
        }
    }
    if (nerrors > 0 || nevents == 0) {
        pthread_mutex_unlock(&kq->mu);
        return nerrors;
    }

    int64_t deadline = INT64_MAX;
    if (timeout) {
        /* Beyond ~146 years: as good as forever, and no overflow. */
        int64_t ns = INT64_MAX / 2;
        if (timeout->tv_sec < INT64_MAX / 2 / 1000000000)
            ns = (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec;
        deadline = mono_ns() + ns;
    }
    for (;;) {
        absorb_pending(kq);
        int n = collect(kq, eventlist, nevents);
        if (n > 0) { pthread_mutex_unlock(&kq->mu); return n; }

        int ms = -1;
        if (timeout) {
            int64_t left = deadline - mono_ns();
            if (left <= 0) { pthread_mutex_unlock(&kq->mu); return 0; }
            int64_t m = (left + 999999) / 1000000; /* up: never early */
            ms = m > INT_MAX ? INT_MAX : (int)m;
        }
        struct epoll_event evs[64];
        pthread_mutex_unlock(&kq->mu);
        int r = epoll_wait(kq->epfd, evs, 64, ms);
        int e = errno;
        pthread_mutex_lock(&kq->mu);
        if (r < 0) {
            pthread_mutex_unlock(&kq->mu);
            errno = e;
            return -1; /* EINTR: the changes stay applied */
        }
        absorb(kq, evs, r);
    }
}
