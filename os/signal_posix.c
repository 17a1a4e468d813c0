/*
 * signal_posix.c — catching Unix signals for corio_signal_wait (the
 * interface is signal.h).
 *
 *   kernel ──> on_signal()           (any thread, signal-handler context:
 *                                     only async-signal-safe calls)
 *                set caught[signum]
 *                write one byte to the self-pipe
 *   listener thread, blocked in read(pipe):
 *                wakes, takes every caught[] flag, calls notify(signum)
 *   notify (net/signal.c)  ──corio_call_soon_threadsafe──>  the loops
 *
 * Why a listener thread and not the loop itself: the handler may run on
 * any thread, while tasks waiting for the signal may sit in several
 * loops; the thread is one reader for the one pipe, and it hands the
 * news to each loop through the same door other threads use
 * (corio_call_soon_threadsafe). Windows (signal_win.c) gets its console
 * events on a thread of the system's anyway, so both OSes meet at the
 * same notify call.
 *
 * Why not signalfd (Linux): it only sees signals that are BLOCKED in
 * every thread of the process, and a library cannot block signals in
 * threads it does not own (the program's, the thread pool's ...). The
 * self-pipe needs nothing from other threads.
 *
 * Details the handler must get right:
 *   - errno is saved and restored: the handler interrupts arbitrary code.
 *   - the pipe's write end is non-blocking: a full pipe (the listener is
 *     behind) drops the byte, which is fine, because the flag is already
 *     set and the bytes still in the pipe will wake the listener.
 *   - a handler the program had installed before us is still called
 *     afterwards (chained), unless it was SIG_DFL or SIG_IGN.
 *   - after fork() the child shares the parent's pipe but not its
 *     listener thread: the handler only writes to the pipe in the process
 *     that made it, and a later watch in the child makes its own pipe and
 *     listener.
 */
#include "signal.h"
#include "corio.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#ifndef NSIG
#define NSIG 65
#endif

static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static corio_signal_notify notify_fn;        /* set once, under setup_lock */
static bool watched[NSIG];                   /* under setup_lock */
static struct sigaction previous[NSIG];      /* what we chain to */

/* Shared with the handler: lock-free atomics only. */
static atomic_int caught[NSIG];              /* delivered, not yet notified */
static atomic_int pipe_write_end = -1;
static atomic_long pipe_owner_pid = -1;      /* the process that made it */
static int pipe_read_end = -1;               /* the listener's */

/* ------------------------------------------------------------------ */
/* The handler: async-signal-safe only                                 */
/* ------------------------------------------------------------------ */

static void on_signal(int signum, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    atomic_store(&caught[signum], 1);
    if (atomic_load(&pipe_owner_pid) == (long)getpid()) {
        unsigned char byte = (unsigned char)signum;
        ssize_t n = write(atomic_load(&pipe_write_end), &byte, 1);
        (void)n; /* full pipe: the listener is already due to wake */
    }
    errno = saved_errno;

    const struct sigaction *old = &previous[signum];
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) old->sa_sigaction(signum, info, context);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(signum);
    }
}

/* ------------------------------------------------------------------ */
/* The listener thread                                                 */
/* ------------------------------------------------------------------ */

/* Report every flag that is set. Also run once at start, so a signal
 * caught while no listener existed (just after a fork) is not lost. */
static void report_caught(void)
{
    for (int s = 1; s < NSIG; s++)
        if (atomic_load(&caught[s]) && atomic_exchange(&caught[s], 0))
            notify_fn(s);
}

static void *listener_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char bytes[64];
    report_caught();
    for (;;) {
        ssize_t n = read(fd, bytes, sizeof bytes);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return NULL; /* the pipe is gone (never, in practice) */
        report_caught();
    }
}

static int set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* Make the pipe and start its listener, in this process. Under
 * setup_lock. */
static int start_listener(void)
{
    int fds[2];
    if (pipe(fds) < 0) return corio__error_from_errno(errno);
    int flags = fcntl(fds[1], F_GETFL);
    if (set_cloexec(fds[0]) < 0 || set_cloexec(fds[1]) < 0 || flags < 0 ||
        fcntl(fds[1], F_SETFL, flags | O_NONBLOCK) < 0) {
        close(fds[0]);
        close(fds[1]);
        return CORIO_EIO;
    }

    /* The new thread starts with every signal blocked (it inherits the
     * mask of its creator at creation), so no handler ever runs on it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, listener_main,
                            (void *)(intptr_t)fds[0]);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(fds[0]);
        close(fds[1]);
        return rc == EAGAIN ? CORIO_ENOMEM : CORIO_EIO;
    }

    /* A pipe inherited from the parent across fork: this process's
     * copies of its ends are not ours to keep. (The parent's listener
     * still reads the parent's pipe; we never write to it from here.) */
    int inherited_write = atomic_load(&pipe_write_end);
    if (pipe_read_end >= 0) close(pipe_read_end);
    if (inherited_write >= 0) close(inherited_write);

    pipe_read_end = fds[0];
    atomic_store(&pipe_write_end, fds[1]);
    atomic_store(&pipe_owner_pid, (long)getpid());
    return 0;
}

/* ------------------------------------------------------------------ */
/* The interface                                                       */
/* ------------------------------------------------------------------ */

static bool catchable(int signum)
{
    switch (signum) {
    case SIGKILL: case SIGSTOP:                 /* the kernel forbids it */
    case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL:
        /* A fault signal's handler must not return (the faulting
         * instruction runs again); corio's stack overflow report owns
         * SIGSEGV/SIGBUS. */
        return false;
    default:
        return true;
    }
}

int corio__signal_watch(int signum, corio_signal_notify notify)
{
    if (signum <= 0 || signum >= NSIG || !notify || !catchable(signum))
        return CORIO_EINVAL;

    pthread_mutex_lock(&setup_lock);
    int rc = 0;
    if (!notify_fn) notify_fn = notify;
    if (atomic_load(&pipe_owner_pid) != (long)getpid()) rc = start_listener();
    if (rc == 0 && !watched[signum]) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask); /* one handler at a time */
        /* Remember the old action first: our handler chains to it from
         * the moment sigaction installs it. */
        if (sigaction(signum, NULL, &previous[signum]) < 0 ||
            sigaction(signum, &sa, NULL) < 0)
            rc = CORIO_EINVAL;
        else
            watched[signum] = true;
    }
    pthread_mutex_unlock(&setup_lock);
    return rc;
}

int corio__signal_console_event(unsigned long ctrl_type)
{
    (void)ctrl_type;
    return CORIO_ENOTSUP;
}
