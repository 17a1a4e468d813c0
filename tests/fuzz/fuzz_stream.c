/*
 * fuzz_stream.c — libFuzzer target: corio's stream reader (net/stream.c)
 * against a reference model of the same stream.
 *
 * One input decodes into (fuzz_input below, in this order):
 *
 *   flags        bit 0: a pipe instead of a Unix socket pair; bit 1: the
 *                stream ends with a peer reset instead of EOF (sockets
 *                only); bit 2: the end waits until the reader has taken
 *                every byte and parked (else it follows the last chunk
 *                at once)
 *   limit        2 bytes: 0 = the default (64 KiB), else 1 .. 2047
 *   ops          a count, then per operation a kind byte and a 16-bit
 *                size (readline / readuntil: the buffer's cap; readexactly
 *                / read: n); readuntil takes 1 to 4 separator bytes more.
 *                Bit 4 of the kind: the _until form with a deadline that
 *                has already passed
 *   chunks       a count, then one byte per chunk: its length (1..64, or
 *                16..1024 in steps of 16) and whether the writer first
 *                waits until the reader has drained the pipe and parked,
 *                which makes that boundary a real recv boundary
 *   data         the rest: the bytes of the stream
 *
 * The reader runs the operations on the real stream, fed by a writer task
 * over a real descriptor pair of the same loop, while the model computes
 * each answer from the whole stream alone. A blocking read's answer may not
 * depend on how the bytes were cut or when the end arrived: the model knows
 * no chunks. The exception is read(n), which returns "some bytes": the model
 * checks that it returned 1..n of the next bytes (0 only at the end).
 * After the operations the reader drains the stream with read() and the
 * model checks that every byte comes out once, in order, then the end: a
 * limit error or a reset lost nothing.
 *
 * The model's rules, from include/corio.h:
 *   lim = min(limit, cap - 1)
 *   readline   a line (up to '\n', or the last one at EOF) of at most lim
 *              bytes is returned; longer: CORIO_ELIMIT, nothing consumed;
 *              no '\n' and a reset: CORIO_ECONNRESET, nothing consumed
 *   readuntil  the same with the separator; no separator in the rest:
 *              CORIO_ELIMIT if the rest is already >= lim bytes (a record
 *              would be longer), else CORIO_EINCOMPLETE at EOF (nothing
 *              consumed: read() gets it) or CORIO_ECONNRESET
 *   readexactly  n bytes; fewer left: CORIO_EINCOMPLETE with all of them
 *              at EOF, CORIO_ECONNRESET with none consumed after a reset
 *   read       1..n of the next bytes; at the end 0 (EOF) or the reset
 *   with a deadline already past: that same answer, or CORIO_ETIMEDOUT
 *              with nothing consumed (what arrived stays buffered)
 * Any mismatch prints the operation and aborts, which libFuzzer reports as
 * a crash and saves.
 */
#include "corio.h"
#include "net/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_OPS 64
#define MAX_CHUNKS 64
#define MAX_DATA 8192
#define MAX_N 4096          /* largest cap / n an operation asks for */
#define DEFAULT_LIMIT 65536 /* corio_stream_opts.limit = 0 */

enum { OP_READLINE, OP_READUNTIL, OP_READEXACTLY, OP_READ, OP_KINDS };
static const char *const op_name[] = { "readline", "readuntil",
                                       "readexactly", "read" };

typedef struct op {
    int kind;
    int expired;             /* the _until form, with a deadline already past */
    size_t n;                /* cap for records, n for the others */
    unsigned char sep[4];
    size_t seplen;
} op;

typedef struct fuzz_input {
    int pipe, reset, end_waits;
    size_t limit;            /* 0 = default */
    op ops[MAX_OPS];
    size_t nops;
    size_t chunk[MAX_CHUNKS];
    int chunk_waits[MAX_CHUNKS];
    size_t nchunks;
    const unsigned char *data;
    size_t len;
} fuzz_input;

/* ---------- decoding: a cursor that reads zeros past the end ---------- */

typedef struct cursor {
    const uint8_t *p;
    size_t n;
} cursor;

static unsigned take(cursor *c)
{
    if (c->n == 0) return 0;
    c->n--;
    return *c->p++;
}

static void decode(const uint8_t *d, size_t size, fuzz_input *in)
{
    cursor c = { d, size };
    memset(in, 0, sizeof *in);
    unsigned flags = take(&c);
    in->pipe = flags & 1;
    in->reset = !in->pipe && (flags & 2);
    in->end_waits = (flags & 4) != 0;
    unsigned lo = take(&c), hi = take(&c);
    in->limit = lo ? lo + ((hi & 7u) << 8) : 0;

    in->nops = take(&c) % (MAX_OPS + 1);
    for (size_t i = 0; i < in->nops; i++) {
        op *o = &in->ops[i];
        unsigned k = take(&c);
        o->kind = (int)(k % OP_KINDS);
        o->expired = (k & 0x10) != 0;
        o->n = (take(&c) | (take(&c) << 8)) % MAX_N;
        if (o->kind == OP_READUNTIL) {
            o->seplen = ((k >> 2) & 3) + 1;
            for (size_t j = 0; j < o->seplen; j++)
                o->sep[j] = (unsigned char)take(&c);
        }
    }
    in->nchunks = take(&c) % (MAX_CHUNKS + 1);
    for (size_t i = 0; i < in->nchunks; i++) {
        unsigned b = take(&c);
        in->chunk[i] = ((b & 0x3f) + 1) << ((b & 0x40) ? 4 : 0);
        in->chunk_waits[i] = (b & 0x80) != 0;
    }
    in->data = c.p;
    in->len = c.n < MAX_DATA ? c.n : MAX_DATA;
}

/* ---------- the reference model ---------- */

typedef struct model {
    const unsigned char *d;
    size_t pos, len;
    int reset;
    size_t limit;
} model;

typedef struct expect {
    ptrdiff_t rc;     /* what the call returns */
    size_t take;      /* bytes it hands out (and consumes) */
} expect;

static ptrdiff_t find(const unsigned char *d, size_t len,
                      const unsigned char *sep, size_t seplen)
{
    for (size_t i = 0; i + seplen <= len; i++)
        if (memcmp(d + i, sep, seplen) == 0) return (ptrdiff_t)i;
    return -1;
}

static expect model_record(const model *m, const unsigned char *sep,
                           size_t seplen, size_t cap, int is_line)
{
    expect e = { 0, 0 };
    if (cap == 0) { e.rc = CORIO_EINVAL; return e; }
    size_t limit = m->limit ? m->limit : DEFAULT_LIMIT;
    size_t lim = limit < cap - 1 ? limit : cap - 1;
    const unsigned char *r = m->d + m->pos;
    size_t left = m->len - m->pos;
    ptrdiff_t at = find(r, left, sep, seplen);
    if (at >= 0) {
        size_t rec = (size_t)at + seplen;
        if (rec > lim) e.rc = CORIO_ELIMIT;
        else e.rc = (ptrdiff_t)rec, e.take = rec;
        return e;
    }
    if (is_line) {
        if (left > lim) e.rc = CORIO_ELIMIT;
        else if (m->reset) e.rc = CORIO_ECONNRESET;
        else e.rc = (ptrdiff_t)left, e.take = left; /* the last line */
    } else {
        if (left >= lim) e.rc = CORIO_ELIMIT;
        else e.rc = m->reset ? CORIO_ECONNRESET : CORIO_EINCOMPLETE;
    }
    return e;
}

static expect model_readexactly(const model *m, size_t n)
{
    expect e = { 0, n };
    size_t left = m->len - m->pos;
    if (left >= n) return e;
    if (m->reset) e.rc = CORIO_ECONNRESET, e.take = 0;
    else e.rc = CORIO_EINCOMPLETE, e.take = left;
    return e;
}

/* ---------- the run: a reader task, a writer task, one loop ---------- */

typedef struct run {
    const fuzz_input *in;
    corio_stream *s;
    int rfd, wfd;
    corio_task *reader;
    int reader_done;
    model m;
} run;

static unsigned char out[MAX_N + MAX_DATA + 16];

static void fail(const run *r, size_t i, const char *what, ptrdiff_t got,
                 ptrdiff_t want)
{
    const op *o = i < r->in->nops ? &r->in->ops[i] : NULL;
    fprintf(stderr,
            "fuzz_stream: MISMATCH at op %zu (%s%s n=%zu) pos=%zu/%zu limit=%zu "
            "%s %s: %s: got %td, model says %td\n",
            i, o ? op_name[o->kind] : "final drain",
            o && o->expired ? " past deadline" : "", o ? o->n : 0, r->m.pos,
            r->m.len, r->in->limit, r->in->pipe ? "pipe" : "socket",
            r->m.reset ? "reset" : "eof", what, got, want);
    abort();
}

static void check_bytes(run *r, size_t i, size_t n)
{
    if (memcmp(out, r->m.d + r->m.pos, n) != 0)
        fail(r, i, "bytes differ", (ptrdiff_t)n, (ptrdiff_t)n);
    r->m.pos += n;
}

/* A call with an expired deadline may time out instead, taking nothing. */
static int timed_out(const op *o, ptrdiff_t rc)
{
    return o->expired && rc == CORIO_ETIMEDOUT;
}

static void do_op(run *r, size_t i)
{
    const op *o = &r->in->ops[i];
    model *m = &r->m;
    size_t left = m->len - m->pos;
    int64_t dl = o->expired ? corio_now() - 1 : CORIO_NEVER;
    switch (o->kind) {
    case OP_READLINE:
    case OP_READUNTIL: {
        int line = o->kind == OP_READLINE;
        const unsigned char *sep = line ? (const unsigned char *)"\n" : o->sep;
        size_t seplen = line ? 1 : o->seplen;
        expect e = model_record(m, sep, seplen, o->n, line);
        memset(out, 0xA5, o->n + 1);
        ptrdiff_t rc = line
            ? corio_stream_readline_until(r->s, (char *)out, o->n, dl)
            : corio_stream_readuntil_until(r->s, sep, seplen, out, o->n, dl);
        if (timed_out(o, rc)) break;
        if (rc != e.rc) fail(r, i, "return code", rc, e.rc);
        if (rc >= 0) {
            if (out[rc] != 0) fail(r, i, "no NUL after the record", rc, rc);
            check_bytes(r, i, e.take);
        }
        break;
    }
    case OP_READEXACTLY: {
        expect e = model_readexactly(m, o->n);
        size_t got = (size_t)-1;
        int rc = corio_stream_readexactly_until(r->s, out, o->n, &got, dl);
        if (timed_out(o, rc)) {
            if (got != 0) fail(r, i, "*got after a timeout", (ptrdiff_t)got, 0);
            break;
        }
        if (rc != e.rc) fail(r, i, "return code", rc, e.rc);
        if (got != e.take) fail(r, i, "*got", (ptrdiff_t)got, (ptrdiff_t)e.take);
        check_bytes(r, i, got);
        break;
    }
    case OP_READ: {
        ptrdiff_t rc = corio_stream_read_until(r->s, out, o->n, dl);
        if (timed_out(o, rc)) break;
        if (o->n == 0 || left == 0) {
            ptrdiff_t want = o->n == 0 ? 0 : m->reset ? CORIO_ECONNRESET : 0;
            if (rc != want) fail(r, i, "return code", rc, want);
        } else {
            size_t most = o->n < left ? o->n : left;
            if (rc < 1 || (size_t)rc > most)
                fail(r, i, "read count outside 1..min(n, left)", rc,
                     (ptrdiff_t)most);
            check_bytes(r, i, (size_t)rc);
        }
        break;
    }
    }
    /* What the stream holds is never more than what the model has left. */
    if (corio_stream_buffered(r->s) > m->len - m->pos)
        fail(r, i, "buffered more than is left",
             (ptrdiff_t)corio_stream_buffered(r->s),
             (ptrdiff_t)(m->len - m->pos));
    if (corio_stream_at_eof(r->s) && (m->pos != m->len || m->reset))
        fail(r, i, "at_eof too early", 1, 0);
}

static void *reader_main(void *arg)
{
    run *r = arg;
    for (size_t i = 0; i < r->in->nops; i++) do_op(r, i);
    /* Everything not taken yet comes out now, once, in order. */
    for (;;) {
        ptrdiff_t rc = corio_stream_read(r->s, out, MAX_N);
        if (rc <= 0) {
            ptrdiff_t want = r->m.reset ? CORIO_ECONNRESET : 0;
            if (r->m.pos != r->m.len)
                fail(r, r->in->nops, "bytes lost", (ptrdiff_t)r->m.pos,
                     (ptrdiff_t)r->m.len);
            if (rc != want) fail(r, r->in->nops, "end of stream", rc, want);
            break;
        }
        if ((size_t)rc > r->m.len - r->m.pos)
            fail(r, r->in->nops, "more bytes than sent", rc,
                 (ptrdiff_t)(r->m.len - r->m.pos));
        check_bytes(r, r->in->nops, (size_t)rc);
    }
    r->reader_done = 1;
    return NULL;
}

/* Wait until the reader has taken every byte written so far and parked
 * in a receive (or finished): then the next write is a recv boundary. */
static void until_reader_parked(run *r)
{
    for (;;) {
        if (r->reader_done) return;
        int avail = 0;
        if (corio_task_state_of(r->reader) == CORIO_TASK_WAITING &&
            ioctl(r->rfd, FIONREAD, &avail) == 0 && avail == 0)
            return;
        corio_yield();
    }
}

static void write_all(run *r, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = r->in->pipe ? write(r->wfd, p, n)
                                : send(r->wfd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN) {
                perror("fuzz_stream: writer");
                abort();
            }
            corio_yield(); /* the reader makes room */
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    run *r = arg;
    const fuzz_input *in = r->in;
    size_t at = 0;
    for (size_t i = 0; i < in->nchunks && at < in->len; i++) {
        size_t n = in->chunk[i] < in->len - at ? in->chunk[i] : in->len - at;
        if (in->chunk_waits[i]) until_reader_parked(r);
        write_all(r, in->data + at, n);
        at += n;
    }
    if (at < in->len) write_all(r, in->data + at, in->len - at);
    if (in->end_waits) until_reader_parked(r);
    if (in->reset || in->pipe) {
        /* A reset: closing a Unix socket whose receive queue still holds
         * a byte (written at setup) gives the peer ECONNRESET after the
         * data. A pipe: closing the write end is its EOF. */
        close(r->wfd);
        r->wfd = -1;
    } else {
        shutdown(r->wfd, SHUT_WR);
    }
    return NULL;
}

static corio_loop *loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_input in;
    decode(data, size, &in);
    if (!loop) {
        corio_config cfg = { .stack_size = 128 * 1024 };
        loop = corio_loop_new(&cfg);
        if (!loop) abort();
    }

    int fds[2];
    if (in.pipe) {
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) abort();
    } else {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                       fds) != 0)
            abort();
        if (in.reset && write(fds[0], "x", 1) != 1) abort();
    }
    run r = { .in = &in, .rfd = fds[0], .wfd = fds[1],
              .m = { in.data, 0, in.len, in.reset, in.limit } };
    corio_stream_opts o = { .limit = in.limit };
    r.s = in.pipe ? corio__stream_open_pipe(fds[0], &o)
                  : corio_stream_open(fds[0], &o);
    if (!r.s) abort();

    r.reader = corio_loop_spawn(loop, reader_main, &r, NULL);
    corio_task *w = corio_loop_spawn(loop, writer_main, &r, NULL);
    if (!r.reader || !w) abort();
    if (corio_loop_run_until_complete(loop, r.reader, NULL) != 0) abort();
    if (corio_loop_run_until_complete(loop, w, NULL) != 0) abort();
    corio_stream_abort(r.s);
    if (r.wfd >= 0) close(r.wfd);
    return 0;
}
