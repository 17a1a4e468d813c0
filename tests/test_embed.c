/*
 * test_embed.c — a host program's loop drives corio's (docs/embedding.md):
 * corio_loop_run_nowait, corio_loop_backend_fd, corio_loop_backend_timeout.
 *
 * The main test is a host written here on plain poll(): it waits on the
 * loop's descriptor and on a pipe of its own, with the loop's timeout,
 * and steps the loop, while tasks inside corio sleep, echo over TCP with a
 * peer thread and wait for a call_soon_threadsafe from another thread. A
 * task sleeping for 30 s is there the whole time: everything must finish
 * (and every step return) long before its deadline, so the host never
 * sleeps on a timeout it should not have, and no step blocks. That is a
 * bound on the clock, not a timing assertion: nothing here needs to be
 * fast, only not to wait for that sleeper.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include "os/thread.h"

#include <stdint.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
static void host_wait_ms(int ms) { Sleep(ms < 0 ? INFINITE : (DWORD)ms); }
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
static void host_wait_ms(int ms) { poll(NULL, 0, ms); }
#endif

#define LONG_SLEEP CORIO_SEC(30)

static void *long_sleeper(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_sleep(LONG_SLEEP);
}

/* ---------- what a step, the descriptor and the timeout say ---------- */

Test(embed, an_empty_loop_has_nothing_to_wait_for)
{
    corio_loop *l = corio_loop_new(NULL);
    cr_assert_not_null(l);
    cr_assert_eq(corio_loop_backend_timeout(l), -1);
    cr_assert_eq(corio_loop_run_nowait(l), 0);
#ifdef _WIN32
    cr_assert_eq(corio_loop_backend_fd(l), CORIO_ENOTSUP);
#else
    cr_assert_geq(corio_loop_backend_fd(l), 0);
#endif
    cr_assert_eq(corio_loop_run_nowait(NULL), CORIO_EINVAL);
    cr_assert_eq(corio_loop_backend_fd(NULL), CORIO_EINVAL);
    cr_assert_eq(corio_loop_close(l), 0);
}

/* A spawned task is runnable: timeout 0. Once it sleeps, the timeout is
 * the time to its deadline, rounded up, and the step returns before it. */
Test(embed, the_timeout_follows_the_tasks)
{
    corio_loop *l = corio_loop_new(NULL);
    corio_task *t = corio_loop_spawn(l, long_sleeper, NULL, NULL);
    cr_assert_not_null(t);
    cr_assert_eq(corio_loop_backend_timeout(l), 0);
    int64_t deadline = corio_now() + LONG_SLEEP;
    cr_assert_eq(corio_loop_run_nowait(l), 1); /* it starts its sleep */
    cr_assert(corio_now() < deadline, "the step waited for the sleeper");
    int ms = corio_loop_backend_timeout(l);
    cr_assert(ms > 0 && ms <= 30000, "timeout %d ms for a 30 s sleep", ms);
    cr_assert_eq(corio_task_state_of(t), CORIO_TASK_WAITING);
    /* Steps with nothing due do nothing and return at once. */
    for (int i = 0; i < 3; i++) cr_assert_eq(corio_loop_run_nowait(l), 1);
    cr_assert(corio_now() < deadline, "a step waited for the sleeper");
    /* A cancel from the host makes it runnable; it finishes on a step. */
    cr_assert_eq(corio_cancel(t), 0);
    cr_assert_eq(corio_loop_backend_timeout(l), 0);
    int64_t bound = corio_deadline_in(CORIO_SEC(10));
    while (corio_loop_run_nowait(l) == 1 && corio_now() < bound)
        host_wait_ms(corio_loop_backend_timeout(l));
    cr_assert(corio_task_done(t));
    cr_assert_eq(corio_loop_backend_timeout(l), -1);
    cr_assert_eq(corio_detach(t), 0);
    cr_assert_eq(corio_loop_close(l), 0);
}

static void *spinner(void *arg)
{
    volatile int *stop = arg;
    while (!*stop) corio_yield();
    return NULL;
}

/* A task that never waits, only yields, cannot keep a step from
 * returning: the dispatch budget sends it back to the host. (A step
 * that did not return would hang here until Criterion's timeout.) */
Test(embed, a_task_that_keeps_yielding_does_not_hold_the_step, .timeout = 30)
{
    corio_loop *l = corio_loop_new(NULL);
    volatile int stop = 0;
    corio_task *t = corio_loop_spawn(l, spinner, (void *)&stop, NULL);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(corio_loop_run_nowait(l), 1);
        cr_assert_eq(corio_loop_backend_timeout(l), 0, "a runnable task, yet the host may wait");
    }
    stop = 1;
    int64_t bound = corio_deadline_in(CORIO_SEC(10));
    while (corio_loop_run_nowait(l) == 1 && corio_now() < bound) {}
    cr_assert(corio_task_done(t));
    cr_assert_eq(corio_detach(t), 0);
    cr_assert_eq(corio_loop_close(l), 0);
}

/* ---------- refusals ---------- */

typedef struct { corio_loop *l; int rc; } step_try;

static void *step_from_task(void *arg)
{
    step_try *s = arg;
    s->rc = corio_loop_run_nowait(s->l);
    return NULL;
}

static void step_from_callback(void *arg)
{
    step_try *s = arg;
    s->rc = corio_loop_run_nowait(s->l);
}

static void step_from_thread(void *arg)
{
    step_try *s = arg;
    s->rc = corio_loop_run_nowait(s->l);
}

/* The step would turn the loop from inside itself (a task, whose stack is
 * above the loop's, or a callback the loop is running): refused. From
 * another thread: refused too (tasks find their loop through the thread). */
Test(embed, a_step_from_inside_or_from_another_thread_is_refused)
{
    corio_loop *l = corio_loop_new(NULL);
    step_try in_task = { l, 1 }, in_cb = { l, 1 }, other = { l, 1 };
    corio_task *t = corio_loop_spawn(l, step_from_task, &in_task, NULL);
    cr_assert_eq(corio_loop_run_until_complete(l, t, NULL), 0);
    cr_assert_eq(in_task.rc, CORIO_EINVAL);

    corio_os_thread *th = corio__os_thread_start(step_from_thread, &other);
    cr_assert_not_null(th);
    corio__os_thread_join(th);
    cr_assert_eq(other.rc, CORIO_EPERM);

    cr_assert_eq(corio_call_soon_threadsafe(l, step_from_callback, &in_cb), 0);
    cr_assert_eq(corio_loop_run_nowait(l), 0); /* runs the callback */
    cr_assert_eq(in_cb.rc, CORIO_EINVAL);
    cr_assert_eq(corio_loop_close(l), 0);
}

/* ---------- a host with no descriptor to poll (Windows' way) ---------- */

static void *three_sleeps(void *arg)
{
    int *done = arg;
    for (int i = 0; i < 3; i++)
        if (corio_sleep(CORIO_MS(5)) != 0) return NULL;
    *done = 1;
    return NULL;
}

/* Waiting only for the timeout, then stepping, drives timers to the end:
 * what a Windows message loop does (MsgWaitForMultipleObjects with the
 * timeout). */
Test(embed, a_host_waiting_on_the_timeout_alone_runs_timers)
{
    corio_loop *l = corio_loop_new(NULL);
    int done = 0;
    cr_assert_eq(corio_detach(corio_loop_spawn(l, three_sleeps, &done, NULL)), 0);
    int64_t bound = corio_deadline_in(CORIO_SEC(10));
    int alive;
    while ((alive = corio_loop_run_nowait(l)) == 1 && corio_now() < bound) {
        int ms = corio_loop_backend_timeout(l);
        cr_assert_geq(ms, 0, "a sleeping task but no timeout");
        host_wait_ms(ms);
    }
    cr_assert_eq(alive, 0);
    cr_assert(done);
    cr_assert_eq(corio_loop_close(l), 0);
}

#ifndef _WIN32
/* ---------- the host on poll() ---------- */

typedef struct {
    corio_loop *loop;
    int port;                  /* the echo peer's */
    int host_pipe[2];          /* the host's own descriptor: the thread writes */
    int go_pipe[2];            /* the host tells the thread to post */
    corio_future *posted;      /* set by the cross-thread callback */
    int sleeps_done, echo_done, posted_done, host_got;
    int echo_rc;
} scene;

static void *sleeps(void *arg)
{
    scene *s = arg;
    for (int64_t ms = 1; ms <= 16; ms *= 2)
        if (corio_sleep(CORIO_MS(ms)) != 0) return NULL;
    s->sleeps_done = 1;
    return NULL;
}

static void *echo_client(void *arg)
{
    scene *s = arg;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    corio_stream *st;
    int rc = corio_open_connection_until("127.0.0.1", s->port, &st, dl);
    if (rc == 0) {
        char buf[5];
        rc = corio_stream_write(st, "hello", 5);
        if (rc == 0) rc = corio_stream_readexactly_until(st, buf, 5, NULL, dl);
        if (rc == 0 && memcmp(buf, "hello", 5) != 0) rc = CORIO_EIO;
        int crc = corio_stream_close_until(st, dl);
        if (rc == 0) rc = crc;
    }
    s->echo_rc = rc;
    s->echo_done = rc == 0;
    return NULL;
}

static void *wait_posted(void *arg)
{
    scene *s = arg;
    void *v;
    if (corio_future_wait(s->posted, &v) == 0 && (intptr_t)v == 42)
        s->posted_done = 1;
    return NULL;
}

static void set_posted(void *arg)
{
    scene *s = arg;
    corio_future_set_result(s->posted, (void *)(intptr_t)42);
}

/* The other thread: once the host says go, a byte for the host's own
 * pipe, then a call into the loop, which must wake the host's poll. */
static void poster(void *arg)
{
    scene *s = arg;
    char c;
    if (read(s->go_pipe[0], &c, 1) != 1) return;
    if (write(s->host_pipe[1], "h", 1) != 1) return;
    corio_call_soon_threadsafe(s->loop, set_posted, s);
}

/* A blocking echo peer on a plain thread: one connection, echo, close. */
typedef struct { int lfd; } peer;

static void echo_peer(void *arg)
{
    peer *p = arg;
    int c = accept(p->lfd, NULL, NULL);
    if (c < 0) return;
    char buf[64];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
        if (write(c, buf, (size_t)n) != n) break;
    close(c);
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(fd, 4) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

Test(embed, a_poll_host_drives_sleeps_tcp_and_cross_thread_calls)
{
    scene s = { 0 };
    s.loop = corio_loop_new(NULL);
    cr_assert_not_null(s.loop);
    cr_assert_eq(pipe(s.host_pipe), 0);
    cr_assert_eq(pipe(s.go_pipe), 0);
    peer p = { listen_loopback(&s.port) };
    cr_assert_geq(p.lfd, 0);
    s.posted = corio_future_new();
    corio_os_thread *peer_th = corio__os_thread_start(echo_peer, &p);
    corio_os_thread *post_th = corio__os_thread_start(poster, &s);
    cr_assert(peer_th && post_th);

    corio_task *lazy = corio_loop_spawn(s.loop, long_sleeper, NULL, NULL);
    int64_t lazy_deadline = corio_now() + LONG_SLEEP;
    corio_fn bodies[] = { sleeps, echo_client, wait_posted };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(corio_detach(corio_loop_spawn(s.loop, bodies[i], &s, NULL)), 0);

    int efd = corio_loop_backend_fd(s.loop);
    cr_assert_geq(efd, 0);
    int go_sent = 0, steps_after_wake = 0;
    while (!(s.sleeps_done && s.echo_done && s.posted_done && s.host_got) &&
           corio_now() < lazy_deadline) {
        /* Once the sleeps and the echo are over, only the 30 s sleeper
         * and the waiter are left: the timeout is long, and the post
         * from the other thread is what must end the host's wait. */
        if (!go_sent && s.sleeps_done && s.echo_done) {
            cr_assert_eq(write(s.go_pipe[1], "g", 1), 1);
            go_sent = 1;
        }
        struct pollfd fds[2] = {
            { .fd = efd, .events = POLLIN },
            { .fd = s.host_pipe[0], .events = POLLIN },
        };
        int ms = corio_loop_backend_timeout(s.loop);
        cr_assert(ms >= -1);
        int n = poll(fds, 2, ms);
        cr_assert_geq(n, 0);
        if (fds[1].revents & POLLIN) {
            char c;
            cr_assert_eq(read(s.host_pipe[0], &c, 1), 1);
            s.host_got = c == 'h';
        }
        if (go_sent) steps_after_wake++;
        cr_assert_eq(corio_loop_run_nowait(s.loop), 1); /* lazy is alive */
    }
    cr_assert(corio_now() < lazy_deadline,
              "the host waited for the 30 s sleeper (sleeps %d, echo %d (%s), "
              "post %d, pipe %d)", s.sleeps_done, s.echo_done,
              corio_strerror(s.echo_rc), s.posted_done, s.host_got);
    cr_assert_eq(s.echo_rc, 0, "echo: %s", corio_strerror(s.echo_rc));

    /* The step never blocks: with only the sleeper left it returns at
     * once, long before the sleeper's deadline. */
    int64_t before = corio_now();
    cr_assert_eq(corio_loop_run_nowait(s.loop), 1);
    cr_assert(corio_now() < lazy_deadline && corio_now() >= before);
    cr_assert_gt(corio_loop_backend_timeout(s.loop), 0);

    cr_assert_eq(corio_cancel(lazy), 0);
    int64_t bound = corio_deadline_in(CORIO_SEC(10));
    while (corio_loop_run_nowait(s.loop) == 1 && corio_now() < bound) {
        struct pollfd fd = { .fd = efd, .events = POLLIN };
        poll(&fd, 1, corio_loop_backend_timeout(s.loop));
    }
    cr_assert(corio_task_done(lazy));
    cr_assert_eq(corio_detach(lazy), 0);
    corio__os_thread_join(post_th);
    corio__os_thread_join(peer_th);
    corio_future_free(s.posted);
    cr_assert_eq(corio_loop_close(s.loop), 0);
    close(p.lfd);
    for (int i = 0; i < 2; i++) {
        close(s.host_pipe[i]);
        close(s.go_pipe[i]);
    }
}
#endif
