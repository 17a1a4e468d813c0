/*
 * process_posix.c — subprocesses on Unix: fork + execve, pipes the loop
 * watches, and exit notification that never blocks the loop. The
 * interface is process.h; the Windows twin is process_win.c.
 *
 * Starting a child (corio__child_spawn):
 *
 *     parent                                   child (a copy of the parent)
 *     ------                                   -----
 *     make the pipes, find the program in
 *     PATH (malloc is allowed here)
 *     block every signal, fork() ---------->   reset signal handlers, set an
 *                                              empty signal mask, dup2 the
 *                                              pipe ends onto 0 1 2, chdir,
 *                                              execve each PATH candidate
 *     read the error pipe  <----- errno ----   (only if every execve failed)
 *       0 bytes: exec succeeded                _exit(127)
 *       4 bytes: it failed: reap the child,
 *                return CORIO_ENOTFOUND ...
 *
 * Between fork and exec the child is a copy of a possibly multi-threaded
 * process with only one thread: another thread may have held the malloc
 * lock at the moment of the fork. So the child calls only
 * async-signal-safe functions (sigaction, dup2, fcntl, chdir, execve,
 * write, _exit), everything it needs was prepared by the parent, and it
 * never returns into corio: on failure it leaves with _exit, which runs no
 * atexit handler and flushes no stdio buffer of the parent's.
 *
 * The error pipe is close-on-exec: a successful execve closes it, so the
 * parent's read() sees end-of-file; a failed one writes errno first. That
 * is how "no such program" becomes an error of spawn itself rather than a
 * mysterious exit code 127 later.
 *
 * Fork hygiene: every descriptor corio makes (epoll, eventfd, sockets,
 * pipes, the kqueue double's) is close-on-exec, so the program run by the
 * child inherits none of them: it cannot steal our epoll registrations,
 * and our pipes see end-of-file when they should.
 *
 * Learning that the child exited, without blocking the loop:
 *
 *   pidfd (Linux >= 5.3): pidfd_open(pid) gives a descriptor that turns
 *       readable when the child exits. The poller watches it like a
 *       socket; corio__child_wait parks in its reader slot, then collects
 *       the status with waitpid(WNOHANG).
 *   waiter thread (every other Unix, or pidfd_open refused, e.g. by a
 *       sandbox): a small thread blocks in waitid(WNOWAIT) for this one
 *       child and then writes a byte into a pipe the loop watches. WNOWAIT
 *       leaves the child unreaped, so only the owner ever reaps it and
 *       kill() can never hit a recycled process id.
 *
 * Why not SIGCHLD and a self-pipe, as libuv does: a SIGCHLD handler is
 * process-wide state a library would take from its program, and one
 * handler must then serve every loop of every thread. Why not waitpid in
 * the thread pool: a long-lived child would hold one of its few workers
 * for its whole life and starve DNS and to_thread. A waiter thread per
 * child costs a small stack and is used only where pidfd is missing.
 *
 * A child left running by corio__child_free is reaped later by a waiter
 * thread (started then, with a pidfd; already there, without one), so it
 * never stays a zombie, even after its loop is closed.
 */
#include "process.h"
#include "coro/alloc.h"
#include "poller/netpoll.h"
#include "coro/park.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The thread that waits for one child where there is no pidfd. Shared by
 * the thread and the child's owner, under `mu`. */
typedef struct waiter {
    pthread_mutex_t mu;
    pid_t pid;
    int notify_fd;    /* write end of the pipe the loop watches; -1: none */
    int exited;       /* waitid saw the exit (the child is not reaped) */
    int wait_failed;  /* waitid failed: somebody else reaped it */
    int thread_reaps; /* the owner is gone without reaping: we reap */
    int refs;         /* the thread, and the owner while it lives */
} waiter;

struct corio_child {
    pid_t pid;
    int exit_fd;          /* readable once the child has exited: its pidfd,
                             or the read end of its waiter's pipe */
    int has_pidfd;
    waiter *w;            /* NULL with a pidfd */
    int reaped;           /* status collected: the pid is not ours now */
    int exit_code;        /* valid once reaped */
    corio_task *waiting;  /* the one task parked in corio__child_wait */
};

static atomic_int pidfd_allowed = 1;
/* Does pidfd_open work here? -1 not asked yet, 0 no, 1 yes. A kernel
 * older than 5.3, a seccomp filter or an emulator may say ENOSYS. */
static atomic_int pidfd_works = -1;

void corio__child_allow_pidfd(int allow) { atomic_store(&pidfd_allowed, allow != 0); }

static int pidfd_usable(void)
{
#ifdef SYS_pidfd_open
    if (!atomic_load(&pidfd_allowed)) return 0;
    int works = atomic_load(&pidfd_works);
    if (works < 0) {
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
        if (fd < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
            return 0; /* EMFILE, ENOMEM...: no answer yet, ask next time */
        works = fd >= 0;
        if (fd >= 0) close(fd);
        atomic_store(&pidfd_works, works);
    }
    return works;
#else
    return 0;
#endif
}

const char *corio__child_watch_name(void)
{
    return pidfd_usable() ? "pidfd" : "waiter thread";
}

/* ------------------------------------------------------------------ */
/* errno -> CORIO_E*                                                   */
/* ------------------------------------------------------------------ */

/* What a failed pipe, fork, execve (or chdir before it) means to the
 * caller: the library's one mapping (os/error_posix.c: ENOENT is
 * CORIO_ENOTFOUND, EACCES CORIO_EACCES, ...), except that fork's EAGAIN
 * is a process or memory limit, not "would block". */
static int spawn_error(int e)
{
    int rc = corio__error_from_errno(e);
    return e == EAGAIN ? CORIO_ENOMEM : rc;
}

/* ------------------------------------------------------------------ */
/* PATH search, in the parent                                          */
/* ------------------------------------------------------------------ */

/* PATH as the child will see it: from the child's environment when one
 * is given (what Python's subprocess does), else ours. */
static const char *search_path(char *const *envp)
{
    const char *path = NULL;
    if (envp) {
        for (char *const *e = envp; *e; e++)
            if (strncmp(*e, "PATH=", 5) == 0) { path = *e + 5; break; }
    } else {
        path = getenv("PATH");
    }
    return path ? path : "/usr/local/bin:/usr/bin:/bin";
}

/* The file names execve will try, in order: execvp's search, done here
 * because the child may not call malloc. A name with a '/' is used as is.
 * One allocation: the pointer array, then the strings. */
static char **exec_candidates(const char *name, char *const *envp)
{
    size_t nlen = strlen(name);
    if (strchr(name, '/')) {
        char **v = corio__malloc(2 * sizeof *v + nlen + 1);
        if (!v) return NULL;
        v[0] = memcpy((char *)(v + 2), name, nlen + 1);
        v[1] = NULL;
        return v;
    }
    const char *path = search_path(envp);
    size_t entries = 1, plen = strlen(path);
    for (const char *s = path; *s; s++) entries += *s == ':';
    /* Each entry: dir + '/' + name + NUL; an empty dir means "." */
    char **v = corio__malloc((entries + 1) * sizeof *v + plen + entries * (nlen + 3));
    if (!v) return NULL;
    char *out = (char *)(v + entries + 1);
    size_t k = 0;
    for (const char *s = path;; ) {
        const char *end = strchr(s, ':');
        size_t dlen = end ? (size_t)(end - s) : strlen(s);
        v[k++] = out;
        if (dlen == 0) *out++ = '.';
        memcpy(out, s, dlen);
        out += dlen;
        *out++ = '/';
        memcpy(out, name, nlen + 1);
        out += nlen + 1;
        if (!end) break;
        s = end + 1;
    }
    v[k] = NULL;
    return v;
}

/* ------------------------------------------------------------------ */
/* The child, between fork and exec: async-signal-safe calls only       */
/* ------------------------------------------------------------------ */

typedef struct exec_plan {
    int fd[3];            /* what becomes 0, 1, 2; -1 = leave ours */
    int merge_stderr;     /* 2 = a copy of 1 */
    const char *cwd;
    char **candidates;
    char *const *argv;
    char *const *envp;
    int err_fd;           /* write end of the error pipe */
} exec_plan;

static _Noreturn void child_fail(const exec_plan *p, int err)
{
    ssize_t n;
    do n = write(p->err_fd, &err, sizeof err);
    while (n < 0 && errno == EINTR);
    _exit(127);
}

static _Noreturn void child_exec(exec_plan *p)
{
    /* 1. No handler of the parent's may run in the child: put every
     * caught signal back to its default. Ignored ones stay ignored (that
     * is inherited across exec, as a shell would do), except SIGPIPE,
     * which a program using sockets often ignores and which the child's
     * own pipes need (`yes | head` ends by SIGPIPE). Then unblock
     * everything: a thread that waits for signals through a signalfd
     * blocks them, and a child that inherited that mask could not be
     * terminated with SIGTERM. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction cur;
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (sigaction(sig, NULL, &cur) != 0) continue; /* reserved ones */
        if (cur.sa_handler != SIG_DFL &&
            (cur.sa_handler != SIG_IGN || sig == SIGPIPE))
            sigaction(sig, &dfl, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* 2. stdio. First lift every source above 2, so that no dup2 below
     * overwrites a source another one still needs (a parent started with
     * stdout closed gets its pipes at 1...). dup2 then clears the target's
     * close-on-exec flag. */
    for (int k = 0; k < 3; k++) {
        if (p->fd[k] >= 0 && p->fd[k] < 3) {
            p->fd[k] = fcntl(p->fd[k], F_DUPFD_CLOEXEC, 3);
            if (p->fd[k] < 0) child_fail(p, errno);
        }
    }
    for (int k = 0; k < 3; k++)
        if (p->fd[k] >= 0 && dup2(p->fd[k], k) < 0) child_fail(p, errno);
    if (p->merge_stderr && dup2(1, 2) < 0) child_fail(p, errno);

    /* 3. Working directory. */
    if (p->cwd && chdir(p->cwd) != 0) child_fail(p, errno);

    /* 4. execve each candidate, as execvp would: a name not found in one
     * directory is looked for in the next; "permission denied" is kept in
     * case nothing better turns up. */
    int err = ENOENT, denied = 0;
    for (char **c = p->candidates; *c; c++) {
        execve(*c, p->argv, p->envp);
        err = errno;
        if (err == EACCES) { denied = 1; continue; }
        if (err == ENOENT || err == ENOTDIR || err == ELOOP ||
            err == ENAMETOOLONG || err == ESTALE || err == ENODEV ||
            err == ETIMEDOUT)
            continue;
        child_fail(p, err); /* a real answer: exec format, memory, ... */
    }
    child_fail(p, denied ? EACCES : err);
}

/* ------------------------------------------------------------------ */
/* Pipes and /dev/null, in the parent                                  */
/* ------------------------------------------------------------------ */

static void close_if_open(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* A pipe whose ends are both close-on-exec; ours is non-blocking too.
 * The child's end stays blocking: programs expect blocking stdio. */
static int make_pipe(int fds[2], int our_end)
{
#ifndef __APPLE__ /* macOS has no pipe2 */
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
#else
    if (pipe(fds) != 0) return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
    int fl = fcntl(fds[our_end], F_GETFL);
    fcntl(fds[our_end], F_SETFL, fl | O_NONBLOCK);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The waiter thread                                                   */
/* ------------------------------------------------------------------ */

static void waiter_unref(waiter *w)
{
    pthread_mutex_lock(&w->mu);
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) {
        pthread_mutex_destroy(&w->mu);
        corio__free(w);
    }
}

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    siginfo_t info;
    int rc;
    /* WNOWAIT: see the exit, leave the child a zombie for its owner. */
    do rc = waitid(P_PID, (id_t)w->pid, &info, WEXITED | WNOWAIT);
    while (rc != 0 && errno == EINTR);

    pthread_mutex_lock(&w->mu);
    w->exited = 1;
    w->wait_failed = rc != 0;
    int reap = w->thread_reaps && rc == 0;
    pthread_mutex_unlock(&w->mu);

    if (reap) {
        /* Nobody will ask for this status any more. */
        while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    } else if (w->notify_fd >= 0) {
        /* If the owner closed its end meanwhile this is EPIPE; SIGPIPE
         * is blocked in this thread, so that is just an error code. */
        char one = 1;
        ssize_t n;
        do n = write(w->notify_fd, &one, 1);
        while (n < 0 && errno == EINTR);
    }
    if (w->notify_fd >= 0) close(w->notify_fd);
    waiter_unref(w);
    return NULL;
}

/* Start a waiter thread for pid. notify_fd (may be -1) is the thread's
 * to close. thread_reaps: the owner is already gone. NULL on failure
 * (then notify_fd is closed). */
static waiter *waiter_start(pid_t pid, int notify_fd, int thread_reaps)
{
    waiter *w = corio__calloc(1, sizeof *w);
    if (!w) {
        if (notify_fd >= 0) close(notify_fd);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    w->pid = pid;
    w->notify_fd = notify_fd;
    w->thread_reaps = thread_reaps;
    w->refs = thread_reaps ? 1 : 2;

    /* The thread blocks every signal (it inherits the mask it is created
     * with): process-directed signals such as SIGINT must go to the
     * program's own threads, and a SIGPIPE from its write must stay an
     * error code. It waits in one system call, so a small stack will do. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &attr, waiter_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        if (notify_fd >= 0) close(notify_fd);
        pthread_mutex_destroy(&w->mu);
        corio__free(w);
        return NULL;
    }
    return w;
}

/* ------------------------------------------------------------------ */
/* Spawn                                                               */
/* ------------------------------------------------------------------ */

/* pidfd_open(2), if this system has it and allows it; -1 otherwise. */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    if (!pidfd_usable()) return -1;
    /* The pidfd is close-on-exec from birth. Until we reap the child,
     * its pid cannot be reused, so this names our child for sure. */
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

/* Set up how the child gets its descriptors. Fills plan->fd[] and
 * pipes[] (our ends), or cleans up and returns an error. */
static int stdio_setup(const corio_process_opts *o, exec_plan *plan,
                       int ours[3], int *devnull)
{
    corio_stdio mode[3];
    corio__child_stdio_modes(o, mode);
    for (int k = 0; k < 3; k++) {
        plan->fd[k] = -1;
        ours[k] = -1;
    }
    *devnull = -1;
    plan->merge_stderr = 0;

    for (int k = 0; k < 3; k++) {
        switch (mode[k]) {
        case CORIO_STDIO_INHERIT:
            break;
        case CORIO_STDIO_PIPE: {
            int fds[2];
            /* stdin: the child reads fds[0], we write fds[1]. */
            int our_end = k == 0 ? 1 : 0;
            if (make_pipe(fds, our_end) != 0) goto fail;
            ours[k] = fds[our_end];
            plan->fd[k] = fds[1 - our_end];
            break;
        }
        case CORIO_STDIO_NULL:
            if (*devnull < 0) {
                *devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (*devnull < 0) goto fail;
            }
            plan->fd[k] = *devnull;
            break;
        case CORIO_STDIO_STDOUT:
            if (k != 2) { errno = EINVAL; goto fail; }
            plan->merge_stderr = 1;
            break;
        default:
            errno = EINVAL;
            goto fail;
        }
    }
    return 0;
fail:;
    int e = errno;
    for (int k = 0; k < 3; k++) {
        close_if_open(&ours[k]);
        if (plan->fd[k] != *devnull) close_if_open(&plan->fd[k]);
    }
    close_if_open(devnull);
    return e == EINVAL ? CORIO_EINVAL : spawn_error(e);
}

int corio__child_spawn(const char *const *argv, const corio_process_opts *o,
                      corio_child **out, corio_fd pipes[3])
{
    for (int k = 0; k < 3; k++) pipes[k] = CORIO_CHILD_NO_FD;
    *out = NULL;
    if (!argv || !argv[0] || !argv[0][0]) return CORIO_EINVAL;

    corio_child *c = corio__calloc(1, sizeof *c);
    if (!c) return CORIO_ENOMEM;
    exec_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.argv = (char *const *)argv;
    plan.envp = o && o->env ? o->env : environ;
    plan.cwd = o ? o->cwd : NULL;
    plan.candidates = exec_candidates(argv[0], o ? o->env : NULL);
    if (!plan.candidates) {
        corio__free(c);
        return CORIO_ENOMEM;
    }

    int ours[3], devnull, errpipe[2] = { -1, -1 }, notify[2] = { -1, -1 };
    int rc = stdio_setup(o, &plan, ours, &devnull);
    if (rc) goto out_plan;
    if (make_pipe(errpipe, 0) != 0) {
        rc = spawn_error(errno);
        goto out_fds;
    }
    /* The error pipe's write end must close at exec: blocking is fine,
     * the child writes 4 bytes at most. */
    fcntl(errpipe[0], F_SETFL, fcntl(errpipe[0], F_GETFL) & ~O_NONBLOCK);
    plan.err_fd = errpipe[1];

    /* Block every signal across fork: the child must not run one of our
     * handlers before it has put them back to default. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) child_exec(&plan); /* never returns */
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close_if_open(&errpipe[1]);
    if (pid < 0) {
        rc = spawn_error(fork_errno);
        goto out_fds;
    }

    /* Wait for the child's exec: EOF means it succeeded. This blocks the
     * loop for the time of one execve, well under a millisecond: the
     * price of reporting a missing program at spawn time. */
    int child_err = 0;
    ssize_t n;
    do n = read(errpipe[0], &child_err, sizeof child_err);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        /* It never ran the program: take its status now (it is exiting). */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        rc = spawn_error(child_err);
        goto out_fds;
    }

    /* Learn of its exit: a pidfd, or a waiter thread and its pipe. */
    c->pid = pid;
    c->exit_fd = open_pidfd(pid);
    c->has_pidfd = c->exit_fd >= 0;
    if (!c->has_pidfd) {
        if (make_pipe(notify, 0) != 0 ||
            !(c->w = waiter_start(pid, notify[1], 0))) {
            /* Without a way to see its exit we cannot own it. */
            close_if_open(&notify[0]);
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
            rc = CORIO_ENOMEM;
            goto out_fds;
        }
        c->exit_fd = notify[0];
    }
    for (int k = 0; k < 3; k++) {
        pipes[k] = ours[k] >= 0 ? (corio_fd)ours[k] : CORIO_CHILD_NO_FD;
        ours[k] = -1; /* the caller's now */
    }
    *out = c;
    c = NULL;
    rc = 0;

out_fds:
    close_if_open(&errpipe[0]);
    for (int k = 0; k < 3; k++) {
        close_if_open(&ours[k]);
        if (plan.fd[k] != devnull) close_if_open(&plan.fd[k]); /* child's ends */
    }
    close_if_open(&devnull);
out_plan:
    corio__free(plan.candidates);
    corio__free(c);
    return rc;
}

long corio__child_pid(const corio_child *c) { return (long)c->pid; }

/* ------------------------------------------------------------------ */
/* Wait, signal, free                                                  */
/* ------------------------------------------------------------------ */

static int decode_status(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return -WTERMSIG(st);
    return CORIO_EIO; /* stopped or continued: we never ask for those */
}

/* Collect the status if the child has exited: 1 done, 0 still running,
 * or a CORIO_E code. */
static int try_reap(corio_child *c)
{
    int st;
    pid_t r;
    do r = waitpid(c->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    c->reaped = 1; /* either way the pid is no longer ours to signal */
    if (r < 0) {
        /* ECHILD: somebody else reaped it (a waitpid(-1) elsewhere in
         * the program, or SIGCHLD set to SIG_IGN): the code is lost. */
        (void)corio__error_from_errno(errno); /* kept for corio_last_os_error */
        c->exit_code = CORIO_EIO;
        return CORIO_EIO;
    }
    c->exit_code = decode_status(st);
    return 1;
}

int corio__child_wait(corio_child *c, int *exit_code, int64_t deadline)
{
    for (;;) {
        if (!c->reaped) {
            int rc = try_reap(c);
            if (rc < 0) return rc;
        }
        if (c->reaped) {
            if (c->exit_code == CORIO_EIO) return CORIO_EIO;
            if (exit_code) *exit_code = c->exit_code;
            return 0;
        }
        /* Still running: park until its exit descriptor turns readable.
         * Trying waitpid BEFORE every park is what makes the
         * edge-triggered poller safe here: an exit that happened while
         * nobody was parked is found by the next try. */
        if (!corio__self()) return CORIO_ENOLOOP;
        if (c->waiting) return CORIO_EBUSY;
        c->waiting = corio__self();
        int rc = corio__netpoll_wait_fd(c->exit_fd, CORIO_DIR_READ, deadline);
        c->waiting = NULL;
        if (rc < 0) return rc;
    }
}

int corio__child_signal(corio_child *c, int how)
{
    if (c->reaped) return CORIO_EALREADY;
    /* Not reaped yet, so the pid is still our child's (a zombie at
     * worst, and kill on a zombie succeeds and does nothing). */
    if (kill(c->pid, how == CORIO_CHILD_KILL ? SIGKILL : SIGTERM) != 0)
        return errno == ESRCH ? 0 : CORIO_EPERM;
    return 0;
}

void corio__child_free(corio_child *c)
{
    if (!c) return;
    if (!c->reaped) (void)try_reap(c);

    if (c->w) {
        /* Tell the waiter thread who reaps. If it already saw the exit,
         * the child is a zombie and we take it now; otherwise the thread
         * takes it when it comes. */
        waiter *w = c->w;
        pthread_mutex_lock(&w->mu);
        if (!c->reaped) {
            if (w->exited && !w->wait_failed) {
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
                }
            } else {
                w->thread_reaps = 1;
            }
        }
        pthread_mutex_unlock(&w->mu);
        waiter_unref(w);
    } else if (!c->reaped) {
        /* A pidfd, and the child is still running: hand it to a thread
         * that waits for it. If not even that can be had, it stays a
         * zombie after it exits until our process ends. */
        (void)waiter_start(c->pid, -1, 1);
    }

    if (c->exit_fd >= 0) {
        (void)corio__netpoll_detach(c->exit_fd);
        close(c->exit_fd);
    }
    corio__free(c);
}
