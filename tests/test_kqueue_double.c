/*
 * test_kqueue_double.c — the kqueue TEST DOUBLE (tests/kqueue_double/)
 * checked against the FreeBSD kqueue(2) manual page.
 *
 * poller/kqueue.c is verified on Linux by running it over the double, so
 * the double must behave like the manual where the backend depends on it:
 * EV_CLEAR reports once per readiness change, EV_EOF when the peer goes,
 * EV_ERROR entries for failed changes, EVFILT_USER triggers that wake a
 * blocked kevent(), timeouts that never end early, and close removing a
 * descriptor's kevents. Nothing here is specific to the double: on a BSD
 * these tests would run against the real kernel.
 *
 * Only the kqueue build links the double, so the whole file is empty
 * unless the Makefile passed -DCORIO_POLLER_kqueue.
 */
#ifdef CORIO_POLLER_kqueue

#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const struct timespec no_wait = { 0, 0 };
static const struct timespec five_sec = { 5, 0 };

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Apply one change, no eventlist: 0 or the errno kevent failed with. */
static int change(int kq, uintptr_t ident, short filter, unsigned short flags,
                  unsigned int fflags, void *udata)
{
    struct kevent kev;
    EV_SET(&kev, ident, filter, flags, fflags, 0, udata);
    return kevent(kq, &kev, 1, NULL, 0, NULL) == 0 ? 0 : errno;
}

/* Collect what is pending now, without waiting. */
static int poll_now(int kq, struct kevent *out, int max)
{
    int n = kevent(kq, NULL, 0, out, max, &no_wait);
    cr_assert_geq(n, 0, "kevent failed: errno %d", errno);
    return n;
}

static void write_bytes(int fd, size_t n)
{
    char buf[16] = "0123456789abcdef";
    cr_assert_leq(n, sizeof buf);
    cr_assert_eq(write(fd, buf, n), (ssize_t)n);
}

Test(kqueue_double, empty_queue_polls_zero_events)
{
    int kq = kqueue();
    cr_assert_geq(kq, 0);
    struct kevent ev[4];
    cr_assert_eq(poll_now(kq, ev, 4), 0);
    close(kq);
}

Test(kqueue_double, ev_clear_reports_once_per_edge)
{
    int kq = kqueue(), p[2];
    cr_assert_geq(kq, 0);
    cr_assert_eq(pipe(p), 0);
    int tag;
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, &tag), 0);

    struct kevent ev[4];
    cr_assert_eq(poll_now(kq, ev, 4), 0, "nothing written yet");

    write_bytes(p[1], 1);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].ident, (uintptr_t)p[0]);
    cr_assert_eq(ev[0].filter, EVFILT_READ);
    cr_assert_eq(ev[0].udata, (void *)&tag, "udata passes through unchanged");
    cr_assert_eq(ev[0].data, 1, "data is the byte count");
    cr_assert_eq(ev[0].flags & (EV_EOF | EV_ERROR), 0);

    /* The byte is still unread, but the state was reset on retrieval. */
    cr_assert_eq(poll_now(kq, ev, 4), 0, "EV_CLEAR: no second report");
    cr_assert_eq(poll_now(kq, ev, 4), 0);

    write_bytes(p[1], 2); /* a new change of state */
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].data, 3);
    cr_assert_eq(poll_now(kq, ev, 4), 0);

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, without_ev_clear_reports_while_condition_holds)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD, 0, NULL), 0);
    write_bytes(p[1], 4);

    struct kevent ev[4];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(poll_now(kq, ev, 4), 1, "level: reported at call %d", i);
        cr_assert_eq(ev[0].data, 4);
    }
    char buf[8];
    cr_assert_eq(read(p[0], buf, sizeof buf), 4);
    /* The filter runs again at retrieval: the condition is gone. */
    cr_assert_eq(poll_now(kq, ev, 4), 0);

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, registration_reports_a_condition_already_true)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    write_bytes(p[1], 5);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
    cr_assert_eq(change(kq, p[1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0);

    struct kevent ev[4];
    int n = poll_now(kq, ev, 4);
    cr_assert_eq(n, 2, "readable and writable at registration");
    int seen_rd = 0, seen_wr = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].filter == EVFILT_READ && ev[i].ident == (uintptr_t)p[0]) seen_rd++;
        if (ev[i].filter == EVFILT_WRITE && ev[i].ident == (uintptr_t)p[1]) seen_wr++;
    }
    cr_assert_eq(seen_rd, 1);
    cr_assert_eq(seen_wr, 1);
    cr_assert_eq(poll_now(kq, ev, 4), 0, "each reported once");

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, ev_eof_when_last_writer_closes_pipe)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
    write_bytes(p[1], 3);
    close(p[1]);

    struct kevent ev[4];
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert(ev[0].flags & EV_EOF, "EV_EOF once the last writer is gone");
    cr_assert_eq(ev[0].data, 3, "EOF may come with data still buffered");

    close(p[0]);
    close(kq);
}

Test(kqueue_double, ev_eof_on_both_filters_when_socket_peer_closes)
{
    int kq = kqueue(), sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(change(kq, sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
    cr_assert_eq(change(kq, sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0);

    struct kevent ev[4];
    int n = poll_now(kq, ev, 4);
    cr_assert_eq(n, 1, "only writable so far");
    cr_assert_eq(ev[0].filter, EVFILT_WRITE);
    cr_assert_eq(ev[0].flags & EV_EOF, 0);

    write_bytes(sv[1], 2);
    close(sv[1]);
    n = poll_now(kq, ev, 4);
    int rd_eof = 0, wr_eof = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ev[i].ident, (uintptr_t)sv[0]);
        if (ev[i].filter == EVFILT_READ && (ev[i].flags & EV_EOF)) {
            rd_eof++;
            cr_assert_eq(ev[i].data, 2);
        }
        if (ev[i].filter == EVFILT_WRITE && (ev[i].flags & EV_EOF)) wr_eof++;
    }
    cr_assert_eq(rd_eof, 1, "read side: EV_EOF");
    cr_assert_eq(wr_eof, 1, "write side: EV_EOF (the reader is gone)");

    close(sv[0]);
    close(kq);
}

Test(kqueue_double, delete_unknown_is_ev_error_enoent)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);

    struct kevent ch, ev[4];
    int cookie;
    EV_SET(&ch, p[0], EVFILT_READ, EV_DELETE, 0, 0, &cookie);
    int n = kevent(kq, &ch, 1, ev, 4, &no_wait);
    cr_assert_eq(n, 1, "the failed change comes back in the eventlist");
    cr_assert(ev[0].flags & EV_ERROR);
    cr_assert_eq(ev[0].data, ENOENT);
    cr_assert_eq(ev[0].ident, (uintptr_t)p[0], "a copy of the change");
    cr_assert_eq(ev[0].filter, EVFILT_READ);
    cr_assert_eq(ev[0].udata, (void *)&cookie);

    /* No room in the eventlist: -1 and errno instead. */
    errno = 0;
    cr_assert_eq(kevent(kq, &ch, 1, NULL, 0, NULL), -1);
    cr_assert_eq(errno, ENOENT);

    /* EV_ENABLE of something never added: ENOENT as well. */
    cr_assert_eq(change(kq, p[0], EVFILT_WRITE, EV_ENABLE, 0, NULL), ENOENT);

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, change_errors_are_returned_instead_of_events)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
    write_bytes(p[1], 1); /* an event is pending */

    struct kevent ch[2], ev[4];
    EV_SET(&ch[0], 12345, EVFILT_USER, EV_DELETE, 0, 0, NULL);     /* ENOENT */
    EV_SET(&ch[1], p[0], (short)-100, EV_ADD, 0, 0, NULL);         /* EINVAL */
    int n = kevent(kq, ch, 2, ev, 4, &no_wait);
    cr_assert_eq(n, 2, "only the two error entries");
    cr_assert_eq(ev[0].data, ENOENT);
    cr_assert_eq(ev[1].data, EINVAL);
    cr_assert(ev[0].flags & EV_ERROR);
    cr_assert(ev[1].flags & EV_ERROR);

    /* The pending event was not consumed by that call. */
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].ident, (uintptr_t)p[0]);

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, ev_receipt_answers_every_change)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    struct kevent ch[2], ev[2];
    EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, NULL);
    EV_SET(&ch[1], p[1], EVFILT_WRITE, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, NULL);
    cr_assert_eq(kevent(kq, ch, 2, ev, 2, &no_wait), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert(ev[i].flags & EV_ERROR);
        cr_assert_eq(ev[i].data, 0, "success is data 0");
    }
    /* The write end is writable: that event is still pending. */
    cr_assert_eq(poll_now(kq, ev, 2), 1);
    cr_assert_eq(ev[0].filter, EVFILT_WRITE);

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, disabled_event_is_held_until_enabled)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR | EV_DISABLE, 0, NULL), 0);
    write_bytes(p[1], 1);

    struct kevent ev[4];
    cr_assert_eq(poll_now(kq, ev, 4), 0, "disabled: not returned");
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ENABLE, 0, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1, "enabled: the held event comes out");
    cr_assert_eq(poll_now(kq, ev, 4), 0);

    write_bytes(p[1], 1); /* pending again */
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_DELETE, 0, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 0, "deleting drops the pending event");
    write_bytes(p[1], 1);
    cr_assert_eq(poll_now(kq, ev, 4), 0, "deleted: nothing more");

    close(p[0]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, user_event_trigger_and_clear)
{
    int kq = kqueue();
    int tag;
    cr_assert_eq(change(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR, 0, &tag), 0);

    struct kevent ev[4];
    cr_assert_eq(poll_now(kq, ev, 4), 0, "not triggered yet");

    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, &tag), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].ident, 7u);
    cr_assert_eq(ev[0].filter, EVFILT_USER);
    cr_assert_eq(ev[0].udata, (void *)&tag);
    cr_assert_eq(poll_now(kq, ev, 4), 0, "EV_CLEAR: one trigger, one report");

    /* Two triggers before a read are one report (events aggregate). */
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, NULL), 0);
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFNOP, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(poll_now(kq, ev, 4), 0);

    /* User flags: the low 24 bits, combined by NOTE_FFCOPY / NOTE_FFOR. */
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_FFCOPY | 0x5, NULL), 0);
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x8, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].fflags & NOTE_FFLAGSMASK, 0xdu);

    /* FreeBSD keeps the stored flags after an EV_CLEAR report: the next
     * trigger that does not touch them reports them again. */
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].fflags & NOTE_FFLAGSMASK, 0xdu, "stored fflags kept");
    /* A change carrying EV_CLEAR resets the trigger, not the flags. */
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, NULL), 0);
    cr_assert_eq(change(kq, 7, EVFILT_USER, EV_CLEAR, 0, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 0, "a change with EV_CLEAR untriggers");
    cr_assert_eq(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFAND | 0x4, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].fflags & NOTE_FFLAGSMASK, 0x4u);

    /* Triggering an ident never added is ENOENT. */
    cr_assert_eq(change(kq, 8, EVFILT_USER, 0, NOTE_TRIGGER, NULL), ENOENT);
    close(kq);
}

/* udata is copied by every change, not only by EV_ADD (FreeBSD and macOS;
 * EV_KEEPUDATA, where it exists, is how a change keeps the old one). */
Test(kqueue_double, every_change_replaces_udata)
{
    int kq = kqueue();
    int a, b;
    struct kevent ev[4];
    cr_assert_eq(change(kq, 3, EVFILT_USER, EV_ADD | EV_CLEAR, 0, &a), 0);
    cr_assert_eq(change(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER, &b), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].udata, (void *)&b, "the trigger's udata");
    cr_assert_eq(change(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER, NULL), 0);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_null(ev[0].udata, "a NULL udata replaces it too");

    /* The same for a descriptor's kevent, by EV_ENABLE (no EV_ADD). */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, &a), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ENABLE, 0, &b), 0);
    write_bytes(p[1], 1);
    cr_assert_eq(poll_now(kq, ev, 4), 1);
    cr_assert_eq(ev[0].udata, (void *)&b);
    close(p[0]);
    close(p[1]);
    close(kq);
}

/* The pipe refusals the double reproduces (FreeBSD's by default). */
Test(kqueue_double, write_filter_refused_on_a_pipe_whose_peer_is_gone)
{
    int kq = kqueue();
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[0]);
    cr_assert_eq(change(kq, p[1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), EPIPE,
                 "FreeBSD: the reader is gone");
    cr_assert_eq(change(kq, p[1], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0,
                 "the read filter is still taken");
    close(p[1]);

    cr_assert_eq(pipe(p), 0);
    close(p[1]);
    cr_assert_eq(change(kq, p[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0,
                 "FreeBSD takes the write filter on a read end");
    cr_assert_eq(change(kq, p[0], EVFILT_WRITE, EV_DELETE, 0, NULL), 0);
    int old = corio__kqdouble_pipe_refusals(CORIO_KQDOUBLE_NETBSD);
    cr_assert_eq(change(kq, p[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), EBADF,
                 "NetBSD: a read end whose writer is gone refuses it");
    corio__kqdouble_pipe_refusals(CORIO_KQDOUBLE_NONE);
    cr_assert_eq(change(kq, p[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0);
    corio__kqdouble_pipe_refusals(old);
    close(p[0]);
    close(kq);
}

static void *trigger_thread(void *arg)
{
    int kq = *(int *)arg;
    struct kevent kev;
    EV_SET(&kev, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    return kevent(kq, &kev, 1, NULL, 0, NULL) == 0 ? NULL : (void *)1;
}

Test(kqueue_double, user_trigger_from_another_thread_wakes_kevent, .timeout = 10)
{
    int kq = kqueue();
    cr_assert_eq(change(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL), 0);
    pthread_t th;
    int64_t t0 = mono_ns();
    cr_assert_eq(pthread_create(&th, NULL, trigger_thread, &kq), 0);

    struct kevent ev[2];
    int n = kevent(kq, NULL, 0, ev, 2, &five_sec);
    int64_t took = mono_ns() - t0;
    void *res;
    pthread_join(th, &res);
    cr_assert_null(res, "the trigger change failed");
    cr_assert_eq(n, 1, "the trigger ends the wait");
    cr_assert_eq(ev[0].filter, EVFILT_USER);
    cr_assert_lt(took, (int64_t)4000000000, "woken by the trigger, not the timeout");
    close(kq);
}

Test(kqueue_double, timeout_never_ends_early)
{
    int kq = kqueue();
    struct kevent ev[1];
    const struct timespec ts = { 0, 15 * 1000 * 1000 + 300 * 1000 }; /* 15.3 ms */
    int64_t t0 = mono_ns();
    cr_assert_eq(kevent(kq, NULL, 0, ev, 1, &ts), 0, "time limit: returns 0");
    int64_t took = mono_ns() - t0;
    cr_assert_geq(took, (int64_t)15300000, "returned after %lld ns", (long long)took);

    const struct timespec bad = { 0, 1000000000 };
    errno = 0;
    cr_assert_eq(kevent(kq, NULL, 0, ev, 1, &bad), -1);
    cr_assert_eq(errno, EINVAL, "tv_nsec out of range");
    close(kq);
}

Test(kqueue_double, close_removes_the_descriptors_kevents)
{
    int kq = kqueue(), p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
    write_bytes(p[1], 1);
    int num = p[0];
    close(p[0]);

    struct kevent ev[4];
    cr_assert_eq(poll_now(kq, ev, 4), 0, "no event for a closed descriptor");
    cr_assert_eq(change(kq, num, EVFILT_READ, EV_DELETE, 0, NULL), EBADF,
                 "the descriptor is not open");

    /* The lowest free number comes back: a new pipe reuses it. Its
     * descriptor has no kevents: close removed the old ones. */
    int q[2];
    cr_assert_eq(pipe(q), 0);
    cr_assert_eq(q[0], num, "expected the number to be reused");
    cr_assert_eq(change(kq, q[0], EVFILT_READ, EV_DELETE, 0, NULL), ENOENT);
    write_bytes(q[1], 1);
    cr_assert_eq(poll_now(kq, ev, 4), 0, "the new pipe is not watched");

    close(q[0]);
    close(q[1]);
    close(p[1]);
    close(kq);
}

Test(kqueue_double, bad_descriptor_and_bad_filter)
{
    int kq = kqueue();
    cr_assert_eq(change(kq, 100000, EVFILT_READ, EV_ADD, 0, NULL), EBADF);
    cr_assert_eq(change(kq, 0, (short)-100, EV_ADD, 0, NULL), EINVAL);
    errno = 0;
    struct kevent ev[1];
    cr_assert_eq(kevent(-1, NULL, 0, ev, 1, &no_wait), -1);
    cr_assert_eq(errno, EBADF, "not a kqueue");
    close(kq);
}

/* ------------------------------------------------------------------ */
/* poller/kqueue.c over the refusals                                    */
/* ------------------------------------------------------------------ */
/* The backend once asked for both filters in one change list and failed
 * the whole attach when either was refused: a task waiting to write to a
 * pipe whose reader had gone got CORIO_EIO (FreeBSD), and one waiting to
 * read the last bytes and the end of a pipe whose writer had gone got
 * CORIO_EINVAL (NetBSD). Now the direction that is left is watched and
 * the refused one reports itself over.
 *
 * The descriptor is attached at its first wait. In a program that wait
 * follows a call that said EAGAIN, and the peer leaves in between (a
 * child exits while its stdin pipe is full): a race. The tests make its
 * outcome certain by calling the library's internal wait, which parks at
 * once (the public corio_wait_* ask poll() first and would not attach). */

#include "corio.h"
#include "util.h"
#include "os/io.h"
#include "poller/poller.h"

#include <fcntl.h>
#include <signal.h>

typedef struct refusal_case {
    int wait_rc, write_rc, read_rc, eof_rc;
    char byte;
} refusal_case;

static void *writer_after_reader_left(void *arg)
{
    refusal_case *c = arg;
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return NULL;
    close(p[0]);
    /* The first wait attaches the descriptor: the write filter is refused. */
    c->wait_rc = corio__io_wait_ready(p[1], CORIO_DIR_WRITE, corio_deadline_in(CORIO_SEC(5)));
    corio_stream *s = corio_stream_open(p[1], NULL);
    c->write_rc = corio_stream_write(s, "x", 1);
    if (c->write_rc == 0) c->write_rc = corio_stream_drain_until(s, corio_deadline_in(CORIO_SEC(5)));
    corio_stream_abort(s);
    return NULL;
}

Test(kqueue_backend, wait_writable_on_a_pipe_whose_reader_is_gone, .timeout = 30)
{
    signal(SIGPIPE, SIG_IGN);
    refusal_case c = { -1, -1, -1, -1, 0 };
    corio_test_run_clean(writer_after_reader_left, &c);
    cr_assert_eq(c.wait_rc, 0, "wait: %s (the old attach said CORIO_EIO)",
                 corio_strerror(c.wait_rc));
    cr_assert_eq(c.write_rc, CORIO_EPIPE, "write: %s", corio_strerror(c.write_rc));
}

static void *reader_after_writer_left(void *arg)
{
    refusal_case *c = arg;
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return NULL;
    if (write(p[1], "y", 1) != 1) return NULL;
    close(p[1]);
    c->wait_rc = corio__io_wait_ready(p[0], CORIO_DIR_READ, corio_deadline_in(CORIO_SEC(5)));
    corio_stream *s = corio_stream_open(p[0], NULL);
    c->read_rc = (int)corio_stream_read_until(s, &c->byte, 1, corio_deadline_in(CORIO_SEC(5)));
    c->eof_rc = (int)corio_stream_read_until(s, &c->byte, 1, corio_deadline_in(CORIO_SEC(5)));
    corio_stream_abort(s);
    return NULL;
}

Test(kqueue_backend, read_end_whose_writer_is_gone_under_netbsd_refusals, .timeout = 30)
{
    int old = corio__kqdouble_pipe_refusals(CORIO_KQDOUBLE_NETBSD);
    refusal_case c = { -1, -1, -1, -1, 0 };
    corio_test_run_clean(reader_after_writer_left, &c);
    corio__kqdouble_pipe_refusals(old);
    cr_assert_eq(c.wait_rc, 0, "wait: %s (the old attach said CORIO_EINVAL)",
                 corio_strerror(c.wait_rc));
    cr_assert_eq(c.read_rc, 1, "read: %d", c.read_rc);
    cr_assert_eq(c.eof_rc, 0, "then end of stream: %d", c.eof_rc);
}

#else
/* Not the kqueue build: the double is not linked, nothing to test. */
typedef int corio_test_kqueue_double_not_built_;
#endif
