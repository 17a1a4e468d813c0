/*
 * test_poller.c — parking on descriptors: a pipe ping-pong between two
 * tasks, deadlines, one waiter per direction, closing under a waiter.
 * Pipes are POSIX; the Windows build covers the same paths with sockets in
 * test_io.c.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include <stdint.h>

#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static void nonblocking_pipe(int p[2])
{
    cr_assert_eq(pipe(p), 0);
    for (int i = 0; i < 2; i++) fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
}

#define ROUNDS 10000

/* Read exactly one int, parking on EAGAIN. */
static int read_int(int fd, int *v)
{
    for (;;) {
        ssize_t n = read(fd, v, sizeof *v);
        if (n == (ssize_t)sizeof *v) return 0;
        if (n == 0) return CORIO_EOF;
        if (n < 0 && errno != EAGAIN) return CORIO_EIO;
        int rc = corio_wait_readable(fd);
        if (rc) return rc;
    }
}

static void *pong(void *arg)
{
    int *fds = arg; /* fds[0] read from ping, fds[1] write back */
    for (int i = 0; i < ROUNDS; i++) {
        int v;
        cr_assert_eq(read_int(fds[0], &v), 0);
        v++;
        cr_assert_eq(write(fds[1], &v, sizeof v), (ssize_t)sizeof v);
    }
    return NULL;
}

static void *pingpong_body(void *arg)
{
    (void)arg;
    int a[2], b[2];
    nonblocking_pipe(a);
    nonblocking_pipe(b);
    int pong_fds[2] = { a[0], b[1] };
    corio_task *t = corio_spawn(pong, pong_fds, NULL);
    int v = 0;
    for (int i = 0; i < ROUNDS; i++) {
        cr_assert_eq(write(a[1], &v, sizeof v), (ssize_t)sizeof v);
        cr_assert_eq(read_int(b[0], &v), 0);
        cr_assert_eq(v, 2 * i + 1);
        v++;
    }
    cr_assert_eq(corio_join(t, NULL), 0);
    for (int i = 0; i < 2; i++) {
        corio_fd_close(a[i]);
        corio_fd_close(b[i]);
    }
    return NULL;
}

Test(poller, pipe_ping_pong_between_two_tasks)
{
    cr_assert_eq(corio_run(pingpong_body, NULL, NULL), 0);
}

static void *wait_read(void *arg)
{
    return (void *)(intptr_t)corio_wait_readable((int)(intptr_t)arg);
}

static void *deadline_busy_close_body(void *arg)
{
    (void)arg;
    int p[2];
    nonblocking_pipe(p);
    /* Nothing to read: the deadline ends the wait. */
    int64_t t0 = corio_now();
    cr_assert_eq(corio_wait_readable_until(p[0],
                                           corio_deadline_in(CORIO_MS(3))), CORIO_ETIMEDOUT);
    cr_assert_geq(corio_now() - t0, CORIO_MS(3));
    /* An empty pipe is writable at once. */
    cr_assert_eq(corio_wait_writable_until(p[1],
                                           corio_deadline_in(CORIO_MS(100))), 0);
    /* One reader per descriptor; a second one is refused, not queued. */
    corio_task *r = corio_spawn(wait_read, (void *)(intptr_t)p[0], NULL);
    corio_yield();
    cr_assert_eq(corio_wait_readable(p[0]), CORIO_EBUSY);
    /* Closing it under the waiter wakes the waiter with CORIO_ECLOSED. */
    cr_assert_eq(corio_fd_close(p[0]), 0);
    void *rc;
    corio_join(r, &rc);
    cr_assert_eq((intptr_t)rc, CORIO_ECLOSED);
    corio_fd_close(p[1]);
    return NULL;
}

Test(poller, deadline_one_waiter_and_close_under_a_waiter)
{
    cr_assert_eq(corio_run(deadline_busy_close_body, NULL, NULL), 0);
}

/* Data written before anyone waits is seen (level check before parking),
 * and a reader that does not drain is woken again next time. */
static void *level_body(void *arg)
{
    (void)arg;
    int p[2];
    nonblocking_pipe(p);
    cr_assert_eq(write(p[1], "abcd", 4), 4);
    char c;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(corio_wait_readable_until(p[0],
                                               corio_deadline_in(CORIO_SEC(5))), 0);
        cr_assert_eq(read(p[0], &c, 1), 1);
        cr_assert_eq(c, "abcd"[i]);
    }
    cr_assert_eq(corio_wait_readable_until(p[0],
                                           corio_deadline_in(CORIO_MS(1))), CORIO_ETIMEDOUT);
    close(p[1]);
    cr_assert_eq(corio_wait_readable_until(p[0],
                                           corio_deadline_in(CORIO_SEC(5))), 0, "EOF is readable");
    cr_assert_eq(read(p[0], &c, 1), 0);
    corio_fd_close(p[0]);
    return NULL;
}

Test(poller, readiness_is_level_for_user_descriptors)
{
    cr_assert_eq(corio_run(level_body, NULL, NULL), 0);
}

static void *cancel_wait_body(void *arg)
{
    (void)arg;
    int p[2];
    nonblocking_pipe(p);
    corio_task *r = corio_spawn(wait_read, (void *)(intptr_t)p[0], NULL);
    corio_yield();
    corio_cancel(r);
    void *rc;
    corio_join(r, &rc);
    cr_assert_eq((intptr_t)rc, CORIO_ECANCELED);
    /* The reader slot is free again. */
    cr_assert_eq(write(p[1], "x", 1), 1);
    cr_assert_eq(corio_wait_readable(p[0]), 0);
    corio_fd_close(p[0]);
    corio_fd_close(p[1]);
    return NULL;
}

Test(poller, cancel_while_waiting_frees_the_slot)
{
    cr_assert_eq(corio_run(cancel_wait_body, NULL, NULL), 0);
}
#endif

#ifndef _WIN32
/* The reader's deadline fires and, in the same loop turn, the poller
 * reports its descriptor ready: the slot's task is already READY and must
 * be passed by. Main makes the data ready and spins past the deadline
 * without yielding, so both happen in one turn. */
typedef struct { int fd; int64_t deadline; int rc; } reader_arg;

static void *timed_reader(void *arg)
{
    reader_arg *a = arg;
    a->rc = corio_wait_readable_until(a->fd, a->deadline);
    return NULL;
}

static void *deadline_and_event_body(void *arg)
{
    (void)arg;
    int p[2];
    nonblocking_pipe(p);
    reader_arg a = { .fd = p[0], .deadline = corio_now() + CORIO_MS(2), .rc = 1 };
    corio_task *r = corio_spawn(timed_reader, &a, NULL);
    corio_yield(); /* it parks in the reader slot */
    cr_assert_eq(write(p[1], "x", 1), 1);
    while (corio_now() < a.deadline + CORIO_MS(1)) {
    }
    corio_join(r, NULL);
    cr_assert_eq(a.rc, CORIO_ETIMEDOUT);
    /* The slot is free and the byte still there. */
    cr_assert_eq(corio_wait_readable_until(p[0],
                                           corio_deadline_in(CORIO_SEC(5))), 0);
    corio_fd_close(p[0]);
    corio_fd_close(p[1]);
    return NULL;
}

Test(poller, deadline_and_readiness_in_the_same_turn)
{
    cr_assert_eq(corio_run(deadline_and_event_body, NULL, NULL), 0);
}
#endif
