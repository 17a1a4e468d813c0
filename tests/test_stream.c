/*
 * test_stream.c — net/stream.c: asyncio's StreamReader / StreamWriter.
 *
 * What is checked, each against a real loopback connection:
 *   - framing (readline, readuntil, readexactly) against a peer that
 *     sends ONE BYTE AT A TIME;
 *   - the limit: a line longer than it is CORIO_ELIMIT and stays buffered;
 *   - readexactly at end of stream: CORIO_EINCOMPLETE with the bytes;
 *   - back-pressure: a writer to a reader that stops reading parks in
 *     drain, and corio_stream_unsent stays bounded by the high water mark;
 *   - cancellation and deadlines of a blocked read and of a blocked drain
 *     lose no byte;
 *   - a peer that resets: write/drain answer CORIO_EPIPE/CORIO_ECONNRESET,
 *     never SIGPIPE;
 *   - write_eof, graceful close, open_connection, closing a stream while
 *     another task is parked reading it.
 *
 * As in test_io.c, tasks never assert: they note what they saw in a
 * tally, checked once the loop is closed. Only corio's API is used (plus
 * os/io.h for a pipe), so the suite runs under test-windows and
 * test-kqueue as well.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

/* Run fn(arg) as the main task of a new loop that must close clean. */
#define run_task corio_test_run_clean
#include "os/io.h" /* corio__io_pipe, for the pipe-end test */
#include "net/stream.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */



static unsigned char pattern(size_t i) { return (unsigned char)(i * 13 % 251); }

static int stream_and_peer(const corio_stream_opts *o, corio_stream **sp,
                           corio_fd *peer)
{
    corio_fd a;
    int rc = corio_test_tcp_pair(&a, peer);
    if (rc < 0) return rc;
    *sp = corio_stream_open(a, o);
    if (!*sp) {
        corio_fd_close(a);
        corio_fd_close(*peer);
        return CORIO_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Framing against a peer that sends one byte at a time                */
/* ------------------------------------------------------------------ */

static const char trickle_text[] =
    "line one\n"
    "line two\r\n"
    "a record<END>"
    "0123456789"      /* readexactly(10) */
    "x<E<EN<END>"     /* a separator whose prefix repeats */
    "tail";           /* the last line has no newline */

typedef struct trickle_case {
    corio_fd peer;
    char line1[32], line2[32], rec[32], exact[16], tricky[32], tail[32];
    ptrdiff_t n1, n2, nrec, ntricky, ntail, after;
    int exact_rc;
    bool at_eof;
    tally t;
} trickle_case;

static void *trickler(void *arg)
{
    trickle_case *c = arg;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    for (size_t i = 0; i < sizeof trickle_text - 1; i++) {
        int rc = corio_sock_send_all_until(c->peer, &trickle_text[i], 1, dl);
        NOTE(&c->t, rc == 0, "send byte %zu: %s", i, corio_strerror(rc));
        if (rc < 0) break;
        /* Give the reader a chance to wake on this very byte, so it sees
         * every partial record (TCP_NODELAY is on: one byte, one segment). */
        corio_sleep(CORIO_US(200));
    }
    corio_fd_close(c->peer);
    return NULL;
}

static void *trickle_main(void *arg)
{
    trickle_case *c = arg;
    corio_stream *s;
    int rc = stream_and_peer(NULL, &s, &c->peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_task *peer = corio_spawn(trickler, c, NULL);
    int64_t dl = corio_deadline_in(CORIO_SEC(20));

    c->n1 = corio_stream_readline_until(s, c->line1, sizeof c->line1, dl);
    c->n2 = corio_stream_readuntil_until(s, "\r\n", 2, c->line2,
                                         sizeof c->line2, dl);
    c->nrec = corio_stream_readuntil_until(s, "<END>", 5, c->rec,
                                           sizeof c->rec, dl);
    size_t got = 0;
    c->exact_rc = corio_stream_readexactly_until(s, c->exact, 10, &got, dl);
    NOTE(&c->t, got == 10, "readexactly got %zu", got);
    c->ntricky = corio_stream_readuntil_until(s, "<END>", 5, c->tricky,
                                              sizeof c->tricky, dl);
    c->ntail = corio_stream_readline_until(s, c->tail, sizeof c->tail, dl);
    char more[8];
    c->after = corio_stream_readline_until(s, more, sizeof more, dl);
    c->at_eof = corio_stream_at_eof(s);
    if (peer) corio_join(peer, NULL);
    corio_stream_close_until(s, dl);
    return NULL;
}

Test(stream, framing_one_byte_at_a_time, .timeout = 60)
{
    static trickle_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(trickle_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.n1, 9);
    cr_assert_str_eq(c.line1, "line one\n");
    cr_assert_eq(c.n2, 10);
    cr_assert_str_eq(c.line2, "line two\r\n");
    cr_assert_eq(c.nrec, 13);
    cr_assert_str_eq(c.rec, "a record<END>");
    cr_assert_eq(c.exact_rc, 0);
    cr_assert_eq(memcmp(c.exact, "0123456789", 10), 0);
    cr_assert_eq(c.ntricky, 11);
    cr_assert_str_eq(c.tricky, "x<E<EN<END>");
    cr_assert_eq(c.ntail, 4, "last line without newline: %td", c.ntail);
    cr_assert_str_eq(c.tail, "tail");
    cr_assert_eq(c.after, 0, "readline at end of stream: %td", c.after);
    cr_assert(c.at_eof);
}

/* ------------------------------------------------------------------ */
/* The limit                                                           */
/* ------------------------------------------------------------------ */

typedef struct limit_case {
    corio_fd peer;
    ptrdiff_t over_whole, over_trickled, small_cap, until_over;
    size_t buffered_after_over;
    int exact_rc;
    char long_line[64], next[32], retry[32];
    ptrdiff_t nnext, nretry;
    tally t;
} limit_case;

#define LONG_LINE "0123456789abcdefghij\n" /* 21 bytes, over a limit of 16 */

static void *limit_main(void *arg)
{
    limit_case *c = arg;
    corio_stream_opts o = { .limit = 16 };
    corio_stream *s;
    int rc = stream_and_peer(&o, &s, &c->peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    char buf[64];

    /* 1. The whole long line arrives at once: the newline is found, but
     *    past the limit. */
    NOTE(&c->t, corio_sock_send_all_until(c->peer, LONG_LINE "short\n", 27,
                                          dl) == 0,
         "send");
    /* One 27-byte send on loopback is one segment: the first receive
     * gets all of it. */
    size_t got;
    c->over_whole = corio_stream_readline_until(s, buf, sizeof buf, dl);
    c->buffered_after_over = corio_stream_buffered(s);
    /* Nothing lost: the long line is still there, byte for byte. */
    c->exact_rc = corio_stream_readexactly_until(s, c->long_line, 21, &got, dl);
    c->long_line[21] = '\0';
    /* A buffer too small for the line is the same error, and harmless. */
    c->small_cap = corio_stream_readline_until(s, buf, 4, dl);
    c->nnext = corio_stream_readline_until(s, c->next, sizeof c->next, dl);

    /* 2. The long line trickles in: the limit is hit before any newline. */
    for (size_t i = 0; i < 21; i++) {
        corio_sock_send_all_until(c->peer, &LONG_LINE[i], 1, dl);
        corio_sleep(CORIO_US(100));
    }
    c->over_trickled = corio_stream_readline_until(s, buf, sizeof buf, dl);
    c->until_over = corio_stream_readuntil_until(s, "\n", 1, buf, sizeof buf,
                                                 dl);
    rc = corio_stream_readexactly_until(s, buf, 21, &got, dl);
    NOTE(&c->t, rc == 0 && memcmp(buf, LONG_LINE, 21) == 0,
         "trickled long line intact: %s", corio_strerror(rc));
    NOTE(&c->t, corio_sock_send_all_until(c->peer, "ok\n", 3, dl) == 0, "send");
    c->nretry = corio_stream_readline_until(s, c->retry, sizeof c->retry, dl);

    corio_fd_close(c->peer);
    corio_stream_close_until(s, dl);
    return NULL;
}

Test(stream, line_limit_overflow_keeps_the_data, .timeout = 60)
{
    static limit_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(limit_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.over_whole, CORIO_ELIMIT, "readline: %td", c.over_whole);
    cr_assert_eq(c.buffered_after_over, 27, "buffered after ELIMIT: %zu",
                 c.buffered_after_over);
    cr_assert_eq(c.exact_rc, 0);
    cr_assert_str_eq(c.long_line, LONG_LINE);
    cr_assert_eq(c.small_cap, CORIO_ELIMIT, "cap 4 for \"short\\n\": %td",
                 c.small_cap);
    cr_assert_eq(c.nnext, 6);
    cr_assert_str_eq(c.next, "short\n");
    cr_assert_eq(c.over_trickled, CORIO_ELIMIT, "trickled: %td",
                 c.over_trickled);
    cr_assert_eq(c.until_over, CORIO_ELIMIT, "readuntil: %td", c.until_over);
    cr_assert_eq(c.nretry, 3);
    cr_assert_str_eq(c.retry, "ok\n");
}

/* ------------------------------------------------------------------ */
/* End of stream                                                       */
/* ------------------------------------------------------------------ */

typedef struct eof_case {
    int exact_rc;
    size_t got;
    char buf[16];
    ptrdiff_t until_rc, read_rest, read_eof;
    char rest[16];
    bool at_eof;
    tally t;
} eof_case;

static void *eof_main(void *arg)
{
    eof_case *c = arg;
    corio_stream *s;
    corio_fd peer;
    int rc = stream_and_peer(NULL, &s, &peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    corio_sock_send_all_until(peer, "hello", 5, dl);
    corio_fd_close(peer);

    memset(c->buf, 0, sizeof c->buf);
    c->exact_rc = corio_stream_readexactly_until(s, c->buf, 10, &c->got, dl);
    c->at_eof = corio_stream_at_eof(s);
    c->until_rc = corio_stream_readuntil_until(s, "\n", 1, c->rest,
                                               sizeof c->rest, dl);
    c->read_eof = corio_stream_read_until(s, c->rest, sizeof c->rest, dl);
    corio_stream_close_until(s, dl);

    /* readuntil at the end leaves the partial record for read(). */
    rc = stream_and_peer(NULL, &s, &peer);
    if (rc < 0) return NULL;
    corio_sock_send_all_until(peer, "abc", 3, dl);
    corio_fd_close(peer);
    ptrdiff_t u = corio_stream_readuntil_until(s, "\n", 1, c->rest,
                                               sizeof c->rest, dl);
    NOTE(&c->t, u == CORIO_EINCOMPLETE, "readuntil: %td", u);
    c->read_rest = corio_stream_read_until(s, c->rest, sizeof c->rest, dl);
    corio_stream_close_until(s, dl);

    /* A peer that sends nothing: read sees the end without ever filling
     * the buffer, and the record calls then answer from an empty one. */
    rc = stream_and_peer(NULL, &s, &peer);
    if (rc < 0) return NULL;
    corio_fd_close(peer);
    char tiny[4];
    size_t got = 9;
    NOTE(&c->t, corio_stream_read_until(s, tiny, sizeof tiny, dl) == 0,
         "read at end");
    NOTE(&c->t, corio_stream_readline_until(s, tiny, sizeof tiny, dl) == 0 &&
                tiny[0] == '\0', "readline at end");
    NOTE(&c->t, corio_stream_readuntil_until(s, "\n", 1, tiny, sizeof tiny,
                                             dl) ==
                CORIO_EINCOMPLETE, "readuntil at end");
    NOTE(&c->t, corio_stream_readexactly_until(s, tiny, 2, &got, dl) ==
                CORIO_EINCOMPLETE && got == 0, "readexactly at end");
    NOTE(&c->t, corio_stream_at_eof(s), "at_eof");
    corio_stream_close_until(s, dl);
    return NULL;
}

Test(stream, readexactly_at_eof_is_incomplete_with_the_bytes, .timeout = 30)
{
    eof_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(eof_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.exact_rc, CORIO_EINCOMPLETE, "readexactly: %s",
                 corio_strerror(c.exact_rc));
    cr_assert_eq(c.got, 5);
    cr_assert_eq(memcmp(c.buf, "hello", 5), 0);
    cr_assert(c.at_eof);
    cr_assert_eq(c.until_rc, CORIO_EINCOMPLETE);
    cr_assert_eq(c.read_eof, 0);
    cr_assert_eq(c.read_rest, 3);
    cr_assert_eq(memcmp(c.rest, "abc", 3), 0);
}

/* ------------------------------------------------------------------ */
/* Back-pressure                                                       */
/* ------------------------------------------------------------------ */

#define BP_HIGH ((size_t)32 * 1024)
#define BP_LOW ((size_t)8 * 1024)
#define BP_CHUNK ((size_t)4096)
#define BP_TOTAL ((size_t)256 << 20) /* far more than kernel buffers hold */

typedef struct bp_case {
    corio_stream *s;
    corio_fd peer;
    size_t written;       /* bytes handed to write() */
    size_t max_unsent;    /* ever, right after a write */
    size_t max_after_drain;
    int in_drain;
    int write_rc;
    bool stop;            /* the main task ends the writer */
    size_t written_when_parked, unsent_when_parked;
    int parked_in_drain;
    size_t received;
    tally t;
} bp_case;

static void *bp_writer(void *arg)
{
    bp_case *c = arg;
    static unsigned char chunk[BP_CHUNK];
    while (!c->stop && c->written < BP_TOTAL) {
        for (size_t i = 0; i < BP_CHUNK; i++) chunk[i] = pattern(c->written + i);
        int rc = corio_stream_write(c->s, chunk, BP_CHUNK);
        if (rc < 0) { c->write_rc = rc; break; }
        c->written += BP_CHUNK;
        size_t u = corio_stream_unsent(c->s);
        if (u > c->max_unsent) c->max_unsent = u;
        c->in_drain = 1;
        rc = corio_stream_drain_until(c->s, corio_deadline_in(CORIO_SEC(30)));
        c->in_drain = 0;
        if (rc < 0) { c->write_rc = rc; break; }
        u = corio_stream_unsent(c->s);
        if (u > c->max_after_drain) c->max_after_drain = u;
    }
    return NULL;
}

static void *bp_main(void *arg)
{
    bp_case *c = arg;
    corio_stream_opts o = { .high_water = BP_HIGH, .low_water = BP_LOW };
    int rc = stream_and_peer(&o, &c->s, &c->peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_task *w = corio_spawn(bp_writer, c, NULL);
    NOTE(&c->t, w != NULL, "spawn");
    if (!w) return NULL;

    /* The peer reads nothing. Wait (bounded: 30 s) until the writer has
     * stopped making progress: kernel buffers full, writer parked. */
    size_t last = (size_t)-1;
    int still = 0;
    int64_t give_up = corio_deadline_in(CORIO_SEC(30));
    while (still < 10 && corio_now() < give_up) {
        corio_sleep(CORIO_MS(10));
        if (c->written == last && corio_task_state_of(w) == CORIO_TASK_WAITING)
            still++;
        else
            still = 0;
        last = c->written;
    }
    c->parked_in_drain = still >= 10 && c->in_drain;
    c->written_when_parked = c->written;
    c->unsent_when_parked = corio_stream_unsent(c->s);

    /* Now read everything; the writer wakes and finishes a little more. */
    c->stop = true;
    static unsigned char buf[65536];
    int64_t dl = corio_deadline_in(CORIO_SEC(30));
    while (corio_task_state_of(w) != CORIO_TASK_DONE ||
           c->received < c->written) {
        ptrdiff_t n = corio_sock_recv_until(c->peer, buf, sizeof buf, dl);
        if (n <= 0) {
            NOTE(&c->t, 0, "peer recv: %td", n);
            break;
        }
        for (ptrdiff_t i = 0; i < n; i++) {
            if (buf[i] != pattern(c->received + (size_t)i)) {
                NOTE(&c->t, 0, "byte %zu differs", c->received + (size_t)i);
                break;
            }
        }
        c->received += (size_t)n;
    }
    corio_join(w, NULL);
    rc = corio_stream_close_until(c->s, dl);
    NOTE(&c->t, rc == 0, "close: %s", corio_strerror(rc));
    corio_fd_close(c->peer);
    return NULL;
}

Test(stream, backpressure_bounds_unsent_bytes, .timeout = 90)
{
    static bp_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(bp_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_log_info("writer parked after %zu bytes with %zu unsent",
                c.written_when_parked, c.unsent_when_parked);
    cr_assert_eq(c.write_rc, 0, "writer: %s", corio_strerror(c.write_rc));
    cr_assert(c.parked_in_drain, "the writer did not park in drain");
    cr_assert_lt(c.written_when_parked, BP_TOTAL,
                 "the writer never stopped: memory would grow");
    /* The bound: never more than the high water mark plus one write. */
    cr_assert_leq(c.max_unsent, BP_HIGH + BP_CHUNK, "max unsent %zu",
                  c.max_unsent);
    cr_assert_leq(c.max_after_drain, BP_HIGH, "unsent after drain %zu",
                  c.max_after_drain);
    cr_assert_leq(c.unsent_when_parked, BP_HIGH + BP_CHUNK);
    cr_assert_eq(c.received, c.written, "received %zu of %zu", c.received,
                 c.written);
}

/* ------------------------------------------------------------------ */
/* Cancelling a blocked read and a blocked drain                       */
/* ------------------------------------------------------------------ */

typedef struct cancel_case {
    corio_stream *s;
    corio_fd peer;
    ptrdiff_t read_rc;
    int exact_rc;
    size_t buffered_after_cancel, buffered_after_timeout;
    char line[64], exact[32];
    ptrdiff_t nline;
    int exact_again;
    tally t;
} cancel_case;

static void *blocked_readline(void *arg)
{
    cancel_case *c = arg;
    char buf[64];
    c->read_rc = corio_stream_readline(c->s, buf, sizeof buf);
    return NULL;
}

static void *cancel_read_main(void *arg)
{
    cancel_case *c = arg;
    int rc = stream_and_peer(NULL, &c->s, &c->peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));

    /* A reader waits for the rest of a line that has begun. */
    corio_task *r = corio_spawn(blocked_readline, c, NULL);
    corio_sock_send_all_until(c->peer, "partial", 7, dl);
    /* Bounded wait until those 7 bytes are in the reader's buffer and the
     * reader is parked for more. */
    WAIT_UNTIL(corio_stream_buffered(c->s) >= 7);
    NOTE(&c->t, r && until_parked(r) == 0, "reader parks");
    if (r) {
        corio_cancel(r);
        corio_join(r, NULL);
    }
    c->buffered_after_cancel = corio_stream_buffered(c->s);
    corio_sock_send_all_until(c->peer, " line\n", 6, dl);
    c->nline = corio_stream_readline_until(c->s, c->line, sizeof c->line, dl);

    /* readexactly with a deadline that passes half way. */
    corio_sock_send_all_until(c->peer, "01234", 5, dl);
    c->exact_rc = corio_stream_readexactly_until(c->s, c->exact, 20, NULL,
                                                 corio_deadline_in(CORIO_MS(100)));
    c->buffered_after_timeout = corio_stream_buffered(c->s);
    corio_sock_send_all_until(c->peer, "56789abcdefghij", 15, dl);
    c->exact_again = corio_stream_readexactly_until(c->s, c->exact, 20, NULL,
                                                    dl);

    corio_stream_close_until(c->s, dl);
    corio_fd_close(c->peer);
    return NULL;
}

Test(stream, cancelled_read_keeps_the_bytes, .timeout = 30)
{
    static cancel_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(cancel_read_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.read_rc, CORIO_ECANCELED, "readline: %td", c.read_rc);
    cr_assert_eq(c.buffered_after_cancel, 7);
    cr_assert_eq(c.nline, 13);
    cr_assert_str_eq(c.line, "partial line\n");
    cr_assert_eq(c.exact_rc, CORIO_ETIMEDOUT, "readexactly: %s",
                 corio_strerror(c.exact_rc));
    cr_assert_eq(c.buffered_after_timeout, 5);
    cr_assert_eq(c.exact_again, 0);
    cr_assert_eq(memcmp(c.exact, "0123456789abcdefghij", 20), 0);
}

typedef struct drain_case {
    corio_stream *s;
    corio_fd peer;
    size_t written;
    int drain_rc;
    size_t unsent_after_cancel;
    size_t received;
    int timed_rc;
    tally t;
} drain_case;

static void *drain_writer(void *arg)
{
    drain_case *c = arg;
    static unsigned char chunk[8192];
    for (int i = 0; i < 100000; i++) { /* bounded: 800 MB at most */
        for (size_t k = 0; k < sizeof chunk; k++)
            chunk[k] = pattern(c->written + k);
        int rc = corio_stream_write(c->s, chunk, sizeof chunk);
        if (rc < 0) { c->drain_rc = rc; return NULL; }
        c->written += sizeof chunk;
        rc = corio_stream_drain(c->s);
        if (rc < 0) { c->drain_rc = rc; return NULL; }
    }
    c->drain_rc = 1; /* never blocked */
    return NULL;
}

static void *cancel_drain_main(void *arg)
{
    drain_case *c = arg;
    corio_stream_opts o = { .high_water = 16384, .low_water = 4096 };
    int rc = stream_and_peer(&o, &c->s, &c->peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_task *w = corio_spawn(drain_writer, c, NULL);
    NOTE(&c->t, w != NULL, "spawn");
    if (!w) return NULL;
    /* Wait (bounded) until the writer is parked in drain with the kernel
     * buffers full. */
    size_t last = (size_t)-1;
    int still = 0;
    int64_t give_up = corio_deadline_in(CORIO_SEC(30));
    while (still < 10 && corio_now() < give_up) {
        corio_sleep(CORIO_MS(10));
        if (c->written == last && corio_task_state_of(w) == CORIO_TASK_WAITING)
            still++;
        else
            still = 0;
        last = c->written;
    }
    NOTE(&c->t, still >= 10, "writer parked");
    size_t unsent_before = corio_stream_unsent(c->s);
    corio_cancel(w);
    corio_join(w, NULL);
    c->unsent_after_cancel = corio_stream_unsent(c->s);
    NOTE(&c->t, c->unsent_after_cancel == unsent_before,
         "cancel changed unsent: %zu -> %zu", unsent_before,
         c->unsent_after_cancel);

    /* A drain with a deadline times out the same way. */
    c->timed_rc = corio_stream_drain_until(c->s,
                                           corio_deadline_in(CORIO_MS(50)));

    /* Everything queued still arrives once the peer reads. */
    int64_t dl = corio_deadline_in(CORIO_SEC(30));
    /* write_eof with a deadline already past: it cannot wait, but the
     * FIN is still sent once the queue runs dry. */
    rc = corio_stream_write_eof_until(c->s, corio_now());
    NOTE(&c->t, rc == CORIO_ETIMEDOUT, "write_eof: %s", corio_strerror(rc));
    static unsigned char buf[65536];
    for (;;) {
        ptrdiff_t n = corio_sock_recv_until(c->peer, buf, sizeof buf, dl);
        if (n < 0) { NOTE(&c->t, 0, "recv: %td", n); break; }
        if (n == 0) break;
        for (ptrdiff_t i = 0; i < n; i++) {
            if (buf[i] != pattern(c->received + (size_t)i)) {
                NOTE(&c->t, 0, "byte %zu differs", c->received + (size_t)i);
                break;
            }
        }
        c->received += (size_t)n;
    }
    rc = corio_stream_close_until(c->s, dl);
    NOTE(&c->t, rc == 0, "close: %s", corio_strerror(rc));
    corio_fd_close(c->peer);
    return NULL;
}

Test(stream, cancelled_drain_keeps_the_bytes, .timeout = 60)
{
    static drain_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(cancel_drain_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.drain_rc, CORIO_ECANCELED, "drain: %d", c.drain_rc);
    cr_assert_gt(c.unsent_after_cancel, 0);
    cr_assert_eq(c.timed_rc, CORIO_ETIMEDOUT, "drain with deadline: %s",
                 corio_strerror(c.timed_rc));
    cr_assert_eq(c.received, c.written, "received %zu of %zu written",
                 c.received, c.written);
}

/* ------------------------------------------------------------------ */
/* A peer that resets                                                  */
/* ------------------------------------------------------------------ */

typedef struct reset_case {
    int rc;
    size_t written;
    int again;
    tally t;
} reset_case;

static void *reset_main(void *arg)
{
    reset_case *c = arg;
    corio_stream *s;
    corio_fd peer;
    int rc = stream_and_peer(NULL, &s, &peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    /* The peer takes a little, then closes with data unread: a reset. */
    NOTE(&c->t, corio_stream_write(s, "hello", 5) == 0, "first write");
    char b[2];
    NOTE(&c->t, corio_sock_recv_until(peer, b, 2, dl) == 2, "peer recv");
    corio_fd_close(peer);

    static const char chunk[16384];
    c->rc = 1;
    for (int i = 0; i < 10000; i++) { /* bounded */
        rc = corio_stream_write(s, chunk, sizeof chunk);
        if (rc == 0) rc = corio_stream_drain_until(s, dl);
        if (rc < 0) { c->rc = rc; break; }
        c->written += sizeof chunk;
        corio_sleep(CORIO_MS(1)); /* let the reset come back */
    }
    c->again = corio_stream_write(s, chunk, sizeof chunk);
    corio_stream_abort(s);
    return NULL;
}

Test(stream, write_after_peer_reset_is_an_error, .timeout = 60)
{
    reset_case c;
    memset(&c, 0, sizeof c);
    signal_handler previous = sigpipe_fatal();
    int status = run_task(reset_main, &c);
    sigpipe_restore(previous);
    cr_assert_eq(status, 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert(c.rc == CORIO_EPIPE || c.rc == CORIO_ECONNRESET,
              "write/drain ended with %d (%s) after %zu bytes", c.rc,
              c.rc < 0 ? corio_strerror(c.rc) : "no error", c.written);
    cr_assert(c.again == CORIO_EPIPE || c.again == CORIO_ECONNRESET,
              "next write: %d", c.again);
}

/* ------------------------------------------------------------------ */
/* Both ends streams: open_connection, write_eof, close                */
/* ------------------------------------------------------------------ */

#define BULK ((size_t)1 << 20)

typedef struct bulk_case {
    corio_fd lfd;
    int port;
    size_t server_got;
    int server_ok;
    size_t client_got;
    char reply[16];
    ptrdiff_t reply_len, eof_after;
    int close_rc, eof_rc;
    tally t;
} bulk_case;

/* Server: read everything until EOF, check it, answer "got N\n", close. */
static void *bulk_server(void *arg)
{
    bulk_case *c = arg;
    corio_fd fd;
    int64_t dl = corio_deadline_in(CORIO_SEC(30));
    int rc = corio_tcp_accept_until(c->lfd, &fd, NULL, dl);
    NOTE(&c->t, rc == 0, "accept: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_stream *s = corio_stream_open(fd, NULL);
    NOTE(&c->t, s != NULL, "stream_open");
    if (!s) { corio_fd_close(fd); return NULL; }
    static unsigned char buf[10000];
    c->server_ok = 1;
    for (;;) {
        ptrdiff_t n = corio_stream_read_until(s, buf, sizeof buf, dl);
        if (n < 0) { NOTE(&c->t, 0, "server read: %td", n); break; }
        if (n == 0) break;
        for (ptrdiff_t i = 0; i < n; i++)
            if (buf[i] != pattern(c->server_got + (size_t)i)) c->server_ok = 0;
        c->server_got += (size_t)n;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "got %zu\n", c->server_got);
    corio_stream_write(s, line, (size_t)len);
    rc = corio_stream_close_until(s, dl);
    NOTE(&c->t, rc == 0, "server close: %s", corio_strerror(rc));
    return NULL;
}

static void *bulk_main(void *arg)
{
    bulk_case *c = arg;
    corio_addr at, bound;
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio_tcp_listen(&at, 4, 0, &c->lfd);
    NOTE(&c->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_sock_local_addr(c->lfd, &bound);
    corio_task *srv = corio_spawn(bulk_server, c, NULL);

    int64_t dl = corio_deadline_in(CORIO_SEC(30));
    corio_stream *s;
    rc = corio_open_connection_until("localhost", corio_addr_port(&bound), &s,
                                     dl);
    NOTE(&c->t, rc == 0, "open_connection: %s", corio_strerror(rc));
    if (rc == 0) {
        /* One big write: queued, sent by the flusher in the background. */
        unsigned char *data = malloc(BULK);
        for (size_t i = 0; i < BULK; i++) data[i] = pattern(i);
        rc = corio_stream_write(s, data, BULK);
        free(data); /* write copied what it could not send at once */
        NOTE(&c->t, rc == 0, "write: %s", corio_strerror(rc));
        c->eof_rc = corio_stream_write_eof_until(s, dl);
        NOTE(&c->t, corio_stream_unsent(s) == 0, "unsent after write_eof");
        NOTE(&c->t, corio_stream_write(s, "x", 1) == CORIO_EPIPE,
             "write after write_eof");
        c->reply_len = corio_stream_readline_until(s, c->reply,
                                                   sizeof c->reply, dl);
        char more[4];
        c->eof_after = corio_stream_readline_until(s, more, sizeof more, dl);
        c->close_rc = corio_stream_close_until(s, dl);
    }
    if (srv) corio_join(srv, NULL);
    corio_fd_close(c->lfd);
    return NULL;
}

Test(stream, bulk_write_eof_and_close, .timeout = 60)
{
    static bulk_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(bulk_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.eof_rc, 0, "write_eof: %s", corio_strerror(c.eof_rc));
    cr_assert_eq(c.server_got, BULK);
    cr_assert(c.server_ok, "the server saw different bytes");
    char want[32];
    snprintf(want, sizeof want, "got %zu\n", BULK);
    cr_assert_str_eq(c.reply, want);
    cr_assert_eq(c.eof_after, 0);
    cr_assert_eq(c.close_rc, 0, "close: %s", corio_strerror(c.close_rc));
}

/* ------------------------------------------------------------------ */
/* Closing a stream another task is reading                            */
/* ------------------------------------------------------------------ */

typedef struct closing_case {
    corio_stream *s;
    ptrdiff_t reader_rc;
    int drain_rc;
    tally t;
} closing_case;

static void *parked_reader(void *arg)
{
    closing_case *c = arg;
    char buf[32];
    c->reader_rc = corio_stream_readline(c->s, buf, sizeof buf);
    /* The stream may be gone now: do not touch c->s again. */
    return NULL;
}

static void *closing_main(void *arg)
{
    closing_case *c = arg;
    corio_fd peer;
    int rc = stream_and_peer(NULL, &c->s, &peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_task *r = corio_spawn(parked_reader, c, NULL);
    NOTE(&c->t, r && until_parked(r) == 0, "reader parks");
    /* A second reader is refused while the first waits. */
    char b[4];
    NOTE(&c->t, corio_stream_read_until(c->s, b, sizeof b, 0) == CORIO_EBUSY,
         "second reader");
    corio_stream_abort(c->s); /* freed when the reader has left */
    if (r) corio_join(r, NULL);
    corio_fd_close(peer);
    return NULL;
}

Test(stream, abort_wakes_a_parked_reader, .timeout = 30)
{
    closing_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(closing_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.reader_rc, CORIO_ECLOSED, "reader: %td", c.reader_rc);
}

/* ------------------------------------------------------------------ */
/* Pipe ends                                                           */
/* ------------------------------------------------------------------ */

typedef struct pipe_case {
    int unsupported;
    char line[32];
    ptrdiff_t n, eof;
    tally t;
} pipe_case;

static void *pipe_main(void *arg)
{
    pipe_case *c = arg;
    corio_fd fds[2];
    int rc = corio__io_pipe(fds);
    if (rc == CORIO_ENOTSUP) { c->unsupported = 1; return NULL; }
    NOTE(&c->t, rc == 0, "pipe: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    /* One end detected, the other declared. */
    corio_stream *r = corio_stream_open(fds[0], NULL);
    corio_stream *w = corio__stream_open_pipe(fds[1], NULL);
    NOTE(&c->t, r && w, "open");
    if (!r || !w) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    NOTE(&c->t, corio_stream_write(w, "through a pipe\n", 15) == 0, "write");
    /* write_eof on a pipe closes the write end: the reader sees EOF. */
    NOTE(&c->t, corio_stream_write_eof_until(w, dl) == 0, "write_eof");
    c->n = corio_stream_readline_until(r, c->line, sizeof c->line, dl);
    char more[4];
    c->eof = corio_stream_readline_until(r, more, sizeof more, dl);
    NOTE(&c->t, corio_stream_close_until(w, dl) == 0, "close w");
    NOTE(&c->t, corio_stream_close_until(r, dl) == 0, "close r");
    return NULL;
}

Test(stream, over_pipe_ends, .timeout = 30)
{
    pipe_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(pipe_main, &c), 0);
    if (c.unsupported) cr_skip_test("no corio__io_pipe on this platform yet");
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.n, 15);
    cr_assert_str_eq(c.line, "through a pipe\n");
    cr_assert_eq(c.eof, 0);
}

/* ------------------------------------------------------------------ */
/* Found by tests/fuzz/fuzz_stream: the answer depends on the bytes    */
/* only, never on whether the end of the stream had been seen yet      */
/* ------------------------------------------------------------------ */

/* A last line of exactly the limit (no '\n'), or the empty stream read
 * with cap 1, was CORIO_ELIMIT when the reader got the bytes before the
 * FIN, and the line itself when the FIN was already there. Now the reader
 * waits for what comes next: the end (the line) or one more byte (over
 * the limit). Each case runs with the FIN sent first and sent late. */
typedef struct end_case {
    size_t limit, cap;
    const char *text;
    bool fin_first;
    ptrdiff_t rc, next;
    char line[32];
    tally t;
} end_case;

typedef struct end_reader {
    corio_stream *s;
    end_case *c;
} end_reader;

static void *end_reader_main(void *arg)
{
    end_reader *r = arg;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    r->c->rc = corio_stream_readline_until(r->s, r->c->line, r->c->cap, dl);
    return NULL;
}

static void *end_case_main(void *arg)
{
    end_case *c = arg;
    corio_stream_opts o = { .limit = c->limit };
    corio_stream *s;
    corio_fd peer;
    int rc = stream_and_peer(&o, &s, &peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    size_t n = strlen(c->text);
    if (n) NOTE(&c->t, corio_sock_send_all(peer, c->text, n) == 0, "send");
    if (c->fin_first) corio_sock_shutdown_write(peer);
    end_reader r = { s, c };
    corio_task *t = corio_spawn(end_reader_main, &r, NULL);
    NOTE(&c->t, t != NULL, "spawn");
    if (!t) return NULL;
    if (!c->fin_first) {
        /* The FIN only once the reader holds every byte and waits (or
         * has answered without waiting: the old behaviour). */
        WAIT_UNTIL(corio_task_done(t) ||
                   (corio_task_state_of(t) == CORIO_TASK_WAITING &&
                    corio_stream_buffered(s) == n));
        corio_sock_shutdown_write(peer);
    }
    corio_join(t, NULL);
    char more[8];
    c->next = corio_stream_readline(s, more, sizeof more);
    corio_stream_close(s);
    corio_fd_close(peer);
    return NULL;
}

static void run_end_case(size_t limit, size_t cap, const char *text)
{
    for (int fin_first = 0; fin_first < 2; fin_first++) {
        end_case c;
        memset(&c, 0, sizeof c);
        c.limit = limit;
        c.cap = cap;
        c.text = text;
        c.fin_first = fin_first;
        cr_assert_eq(run_task(end_case_main, &c), 0);
        ASSERT_TALLY_CLEAN(c.t);
        cr_assert_eq(c.rc, (ptrdiff_t)strlen(text), "\"%s\" limit %zu cap %zu, "
                     "FIN %s: %td", text, limit, cap,
                     fin_first ? "first" : "late", c.rc);
        cr_assert_str_eq(c.line, text);
        cr_assert_eq(c.next, 0);
    }
}

Test(stream, last_line_of_exactly_the_limit, .timeout = 60)
{
    run_end_case(5, 100, "abcde");   /* the limit */
    run_end_case(0, 6, "abcde");     /* cap - 1 */
    run_end_case(0, 1, "");          /* cap 1: only "" fits */
}

/* readuntil with no separator and at least lim bytes left: CORIO_ELIMIT
 * (a record would be longer), whether or not the end was seen; it used
 * to be CORIO_EINCOMPLETE once an earlier call had met the end. The
 * bytes stay readable either way. */
typedef struct until_case {
    ptrdiff_t first, second, got;
    char rec[64], rest[64];
    tally t;
} until_case;

static void *until_case_main(void *arg)
{
    until_case *c = arg;
    corio_stream *s;
    corio_fd peer;
    int rc = stream_and_peer(NULL, &s, &peer);
    NOTE(&c->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    NOTE(&c->t, corio_sock_send_all(peer, "abcdef", 6) == 0, "send");
    corio_sock_shutdown_write(peer);
    c->first = corio_stream_readuntil(s, "--", 2, c->rec, sizeof c->rec);
    c->second = corio_stream_readuntil(s, "--", 2, c->rec, 4); /* lim 3 */
    c->got = corio_stream_read(s, c->rest, sizeof c->rest);
    corio_stream_close(s);
    corio_fd_close(peer);
    return NULL;
}

Test(stream, readuntil_limit_before_end, .timeout = 30)
{
    until_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(until_case_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.first, CORIO_EINCOMPLETE);
    cr_assert_eq(c.second, CORIO_ELIMIT);
    cr_assert_eq(c.got, 6);
    cr_assert(memcmp(c.rest, "abcdef", 6) == 0);
}
