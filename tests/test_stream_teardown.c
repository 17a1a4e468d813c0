/*
 * test_stream_teardown.c — closing and aborting a stream whose writes are
 * still queued, with its background sender (the "flusher", net/stream.c)
 * in each state it can be in when the close comes:
 *
 *   NOT_STARTED  spawned by the write, has not run yet (the old hang: a
 *                task cancelled before its first turn never ran, so it
 *                never let go of the stream, and the teardown waited for
 *                it forever)
 *   PARKED       parked in a send: the peer does not read
 *   WOKEN        the peer read, the poller woke the sender, and it has
 *                not run since
 *   GONE         everything went out and the sender has ended
 *
 * on three transports: TCP over loopback, a Unix socket pair, a pipe.
 *
 * For every case: the abort returns, the loop closes with no task left
 * (corio_test_run_clean), the peer sees the end of the stream, what it
 * received is an exact prefix of what was written (nothing duplicated,
 * reordered or invented), and no descriptor is left open. Memory: the
 * sanitizer build (LeakSanitizer) fails on any queued chunk not freed.
 *
 * Waits are on events or on clock deadlines, never on counts of yields.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"
#include "net/stream.h" /* corio__stream_flusher, corio__stream_open_pipe */
#include "os/io.h"      /* corio__io_pipe */

#include <string.h>
#ifndef _WIN32
#include <sys/socket.h>
#include <unistd.h>
#endif

#define WRITE_PIECE ((size_t)64 * 1024)
#define WRITE_MAX ((size_t)64 * 1024 * 1024) /* give up queueing past this */

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 % 253); }

typedef enum { T_TCP, T_UNIX, T_PIPE } transport;
#ifdef _WIN32
#define WINDOWS_PIPE(kind) ((kind) == T_PIPE)
#else
#define WINDOWS_PIPE(kind) false
#endif
typedef enum { S_NOT_STARTED, S_PARKED, S_WOKEN, S_GONE } sender_state;
typedef enum { END_ABORT, END_CLOSE_TIMEOUT, END_CLOSE_FLUSHED } ending;

static const char *transport_name[] = { "tcp", "unix", "pipe" };
static const char *state_name[] = { "not started", "parked", "woken", "gone" };

typedef struct pair {
    corio_stream *s;    /* the stream under test */
    corio_fd peer;      /* the other end, read raw */
    bool peer_socket;
} pair;

typedef struct tcase {
    transport kind;
    sender_state state;
    ending end;
    tally t;
    size_t written;     /* bytes accepted by corio_stream_write */
    size_t received;    /* bytes the peer read, checked against pattern */
    bool reached;       /* the sender was seen in the wanted state */
} tcase;

/* ---- the two ends ---------------------------------------------------- */

static int make_pair(transport kind, pair *p)
{
    corio_fd fds[2];
    int rc;
    switch (kind) {
    case T_TCP:
        rc = corio_test_tcp_pair(&fds[0], &fds[1]);
        if (rc < 0) return rc;
        p->s = corio_stream_open(fds[0], NULL);
        p->peer = fds[1];
        p->peer_socket = true;
        break;
    case T_UNIX:
#ifdef _WIN32
        return CORIO_ENOTSUP;
#else
    {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       0, sv) != 0)
            return CORIO_EIO;
        p->s = corio_stream_open(sv[0], NULL);
        p->peer = sv[1];
        p->peer_socket = true;
        break;
    }
#endif
    case T_PIPE:
        rc = corio__io_pipe(fds); /* fds[0] reads what fds[1] writes */
        if (rc < 0) return rc;
        p->s = corio__stream_open_pipe(fds[1], NULL);
        p->peer = fds[0];
        p->peer_socket = false;
        break;
    }
    return p->s ? 0 : CORIO_ENOMEM;
}

static ptrdiff_t peer_read(pair *p, void *buf, size_t n, int64_t deadline)
{
    return p->peer_socket ? corio_sock_recv_until(p->peer, buf, n, deadline)
                          : corio__io_read(p->peer, buf, n, deadline);
}

static void peer_close(pair *p)
{
    if (p->peer_socket) corio_fd_close(p->peer);
    else corio__io_close(p->peer);
}

/* Check n bytes the peer just read against the pattern. */
static void peer_got(tcase *c, const unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern(c->received + i)) {
            NOTE(&c->t, false, "%s: byte %zu is %u, expected %u",
                 transport_name[c->kind], c->received + i, buf[i],
                 pattern(c->received + i));
            break;
        }
    c->received += n;
}

#ifndef _WIN32
/* Read what the kernel holds for the peer right now, never parking (the
 * peer descriptor is non-blocking). Returns the byte count. */
static size_t peer_take_available(tcase *c, pair *p)
{
    static unsigned char buf[WRITE_PIECE];
    size_t total = 0;
    for (;;) {
        ssize_t n = read((int)p->peer, buf, sizeof buf);
        if (n <= 0) break;
        peer_got(c, buf, (size_t)n);
        total += (size_t)n;
    }
    return total;
}
#endif

/* Write the pattern until some of it is queued in the stream (the kernel
 * took what it could), so that a flusher has been spawned. */
static void write_until_queued(tcase *c, corio_stream *s)
{
    static unsigned char piece[WRITE_PIECE];
    while (corio_stream_unsent(s) == 0 && c->written < WRITE_MAX) {
        for (size_t i = 0; i < WRITE_PIECE; i++)
            piece[i] = pattern(c->written + i);
        int rc = corio_stream_write(s, piece, WRITE_PIECE);
        NOTE(&c->t, rc == 0, "write: %s", corio_strerror(rc));
        if (rc < 0) return;
        c->written += WRITE_PIECE;
    }
    NOTE(&c->t, corio_stream_unsent(s) > 0, "%s: %zu bytes written and "
         "none queued", transport_name[c->kind], c->written);
}

/* Yield until the flusher is in `want` (or gone, for want = DONE), on a
 * clock deadline. */
static bool wait_flusher(corio_stream *s, corio_task_state want)
{
    int64_t until = corio_deadline_in(WAIT_LIMIT);
    for (;;) {
        corio_task *f = corio__stream_flusher(s);
        if (want == CORIO_TASK_DONE ? f == NULL
                                    : f && corio_task_state_of(f) == want)
            return true;
        if (corio_now() > until) return false;
        corio_yield();
    }
}

/* Bring the flusher into c->state. */
static void drive_sender(tcase *c, pair *p)
{
    corio_stream *s = p->s;
    switch (c->state) {
    case S_NOT_STARTED: {
        corio_task *f = corio__stream_flusher(s);
        c->reached = f && corio_task_state_of(f) == CORIO_TASK_READY;
        break;
    }
    case S_PARKED:
        c->reached = wait_flusher(s, CORIO_TASK_WAITING);
        break;
    case S_WOKEN: {
#ifndef _WIN32
        /* Parked; the peer takes what the kernel holds, so the poller
         * reports room and wakes the flusher. We yielded before that poll,
         * so we run before the flusher does and see it READY. If it got to
         * run first (and parked again), take more and look again. */
        int64_t until = corio_deadline_in(WAIT_LIMIT);
        while (!c->reached && corio_now() < until) {
            if (!wait_flusher(s, CORIO_TASK_WAITING)) break;
            peer_take_available(c, p);
            corio_task *f;
            do {
                corio_yield();
                f = corio__stream_flusher(s);
            } while (f && corio_task_state_of(f) == CORIO_TASK_WAITING &&
                     corio_now() < until);
            c->reached = f && corio_task_state_of(f) == CORIO_TASK_READY;
            if (!f) break; /* it sent everything: write more next time */
        }
#endif
        break;
    }
    case S_GONE: {
        /* The peer reads everything; the flusher ends by itself. */
        static unsigned char buf[WRITE_PIECE];
        while (c->received < c->written) {
            ptrdiff_t n = peer_read(p, buf, sizeof buf,
                                    corio_deadline_in(WAIT_LIMIT));
            NOTE(&c->t, n > 0, "peer read: %td", n);
            if (n <= 0) break;
            peer_got(c, buf, (size_t)n);
        }
        c->reached = wait_flusher(s, CORIO_TASK_DONE);
        break;
    }
    }
}

/* The peer reads until the end of the stream (or the reset that an abort
 * with unread bytes may cause), on a deadline. */
static void peer_drain_to_end(tcase *c, pair *p)
{
    static unsigned char buf[WRITE_PIECE];
    int64_t until = corio_deadline_in(WAIT_LIMIT);
    for (;;) {
        ptrdiff_t n = peer_read(p, buf, sizeof buf, until);
        if (n > 0) {
            peer_got(c, buf, (size_t)n);
            continue;
        }
        NOTE(&c->t, n == 0 || n == CORIO_ECONNRESET,
             "%s: the peer never saw the end: %s", transport_name[c->kind],
             corio_strerror((int)n));
        break;
    }
}

/* A reader for END_CLOSE_FLUSHED: takes everything while close waits. */
static void *peer_reader(void *arg)
{
    void **a = arg;
    peer_drain_to_end(a[0], a[1]);
    return NULL;
}

static void *run_case(void *arg)
{
    tcase *c = arg;
    pair p;
    int rc = make_pair(c->kind, &p);
    NOTE(&c->t, rc == 0, "%s pair: %s", transport_name[c->kind],
         corio_strerror(rc));
    if (rc < 0) return NULL;

    write_until_queued(c, p.s);
    drive_sender(c, &p);
    NOTE(&c->t, c->reached, "%s: the sender never reached state '%s'",
         transport_name[c->kind], state_name[c->state]);

    switch (c->end) {
    case END_ABORT:
        corio_stream_abort(p.s); /* the test is that this returns */
        break;
    case END_CLOSE_TIMEOUT:
        /* Nobody reads: the close gives up at its deadline, then tears
         * down (a GONE sender has nothing left, so it closes at once). */
        rc = corio_stream_close_until(p.s, corio_deadline_in(CORIO_MS(20)));
        /* (A woken sender may find room for all that is left. So may a
         * Windows pipe's: it has no non-blocking attempt, so its writes
         * are queued without asking whether the pipe has room.) */
        NOTE(&c->t, c->state == S_GONE ? rc == 0
                  : c->state == S_WOKEN || WINDOWS_PIPE(c->kind)
                      ? rc == 0 || rc == CORIO_ETIMEDOUT
                  : rc == CORIO_ETIMEDOUT,
             "%s/%s close: %s", transport_name[c->kind],
             state_name[c->state], corio_strerror(rc));
        break;
    case END_CLOSE_FLUSHED: {
        void *a[2] = { c, &p };
        corio_task *r = corio_spawn(peer_reader, a, NULL);
        rc = corio_stream_close_until(p.s, corio_deadline_in(WAIT_LIMIT));
        NOTE(&c->t, rc == 0, "%s/%s flushing close: %s",
             transport_name[c->kind], state_name[c->state], corio_strerror(rc));
        corio_join(r, NULL);
        NOTE(&c->t, c->received == c->written, "%s: %zu of %zu bytes "
             "arrived after a flushing close", transport_name[c->kind],
             c->received, c->written);
        peer_close(&p);
        return NULL;
    }
    }
    peer_drain_to_end(c, &p);
    NOTE(&c->t, c->received <= c->written, "peer read %zu, only %zu written",
         c->received, c->written);
    peer_close(&p);
    return NULL;
}


static void check(transport kind, sender_state state, ending end)
{
#ifdef _WIN32
    if (kind == T_UNIX || state == S_WOKEN) return; /* POSIX-only cases */
#endif
    signal_handler old = sigpipe_fatal();
    int fds_before = count_open_fds();
    tcase c = { .kind = kind, .state = state, .end = end };
    corio_test_run_clean(run_case, &c);
    sigpipe_restore(old);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(count_open_fds(), fds_before, "%s/%s: %d descriptor(s) leaked",
                 transport_name[kind], state_name[state],
                 count_open_fds() - fds_before);
}

static void check_all_states(transport kind, ending end)
{
    for (sender_state s = S_NOT_STARTED; s <= S_GONE; s++) check(kind, s, end);
}

/* The reproduction: a Unix socket pair, a write far beyond what
 * the kernel takes, then an abort before anything else runs. */
Test(stream_teardown, abort_right_after_a_queued_write_returns, .timeout = 30)
{
    check(T_UNIX, S_NOT_STARTED, END_ABORT);
}

Test(stream_teardown, abort_in_every_sender_state_tcp, .timeout = 60)
{
    check_all_states(T_TCP, END_ABORT);
}

Test(stream_teardown, abort_in_every_sender_state_unix, .timeout = 60)
{
    check_all_states(T_UNIX, END_ABORT);
}

Test(stream_teardown, abort_in_every_sender_state_pipe, .timeout = 60)
{
    check_all_states(T_PIPE, END_ABORT);
}

Test(stream_teardown, close_at_its_deadline_in_every_sender_state, .timeout = 60)
{
    for (transport k = T_TCP; k <= T_PIPE; k++)
        check_all_states(k, END_CLOSE_TIMEOUT);
}

Test(stream_teardown, flushing_close_delivers_every_byte, .timeout = 60)
{
    for (transport k = T_TCP; k <= T_PIPE; k++)
        check_all_states(k, END_CLOSE_FLUSHED);
}

/* ---- a woken task whose descriptor is closed before it runs ---------- */

#ifndef _WIN32
typedef struct woken_reader {
    corio_fd fd;
    ptrdiff_t rc;
    char got;
} woken_reader;

static void *read_one(void *arg)
{
    woken_reader *w = arg;
    w->rc = corio_sock_recv_until(w->fd, &w->got, 1, corio_deadline_in(WAIT_LIMIT));
    return NULL;
}

/* The stream's teardown closes the descriptor while its sender may have
 * been woken and not yet run. The woken task must not retry its system
 * call on the number: by the time it runs, the number may name another
 * socket (here it does: the lowest free number is reused). */
static void *closed_under_a_woken_reader(void *arg)
{
    tally *t = arg;
    int ab[2], cd[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ab))
        return NULL;
    woken_reader w = { .fd = ab[0], .rc = 1 };
    corio_task *r = corio_spawn(read_one, &w, NULL);
    NOTE(t, until_parked(r) == 0, "the reader never parked");
    NOTE(t, write(ab[1], "a", 1) == 1, "write");
    /* The poller wakes the reader; we yielded before that poll, so we run
     * first and see it READY. */
    WAIT_UNTIL(corio_task_state_of(r) != CORIO_TASK_WAITING);
    NOTE(t, corio_task_state_of(r) == CORIO_TASK_READY, "reader not READY");
    corio_fd_close(ab[0]);
    int rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0, cd);
    NOTE(t, rc == 0, "socketpair");
    NOTE(t, cd[0] == ab[0] || cd[1] == ab[0], "the number was not reused "
         "(%d, %d for %d): the check below proves less", cd[0], cd[1], ab[0]);
    NOTE(t, write(cd[0], "X", 1) == 1 && write(cd[1], "X", 1) == 1, "write");
    corio_join(r, NULL);
    NOTE(t, w.rc == CORIO_ECLOSED, "the woken reader got %td ('%c'), not "
         "CORIO_ECLOSED", w.rc, w.rc == 1 ? w.got : '?');
    char b;
    NOTE(t, read(cd[0], &b, 1) == 1 && read(cd[1], &b, 1) == 1,
         "a byte meant for the new socket was taken");
    corio_fd_close(cd[0]);
    corio_fd_close(cd[1]);
    close(ab[1]);
    return NULL;
}

Test(stream_teardown, a_woken_task_never_retries_on_a_closed_number)
{
    tally t = { 0 };
    corio_test_run_clean(closed_under_a_woken_reader, &t);
    ASSERT_TALLY_CLEAN(t);
}
#endif
