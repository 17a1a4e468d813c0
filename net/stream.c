/*
 * stream.c — asyncio's StreamReader and StreamWriter on one descriptor:
 * corio_stream_*.
 *
 * READING: a buffer the reader pulls into.
 *   Bytes come from the kernel only when a read call needs more than the
 *   buffer holds (fill), and always land in the stream's own buffer
 *   before they are handed out. So a read that is cancelled or times out
 *   while it waits loses nothing: what arrived stays buffered for the
 *   next call. readline / readuntil look for the separator in what is
 *   buffered, and fill only while it is absent; past the limit they
 *   return CORIO_ELIMIT and leave the data where it is. Pulling (instead
 *   of asyncio's pushing protocol) also gives flow control for free: a
 *   task that stops reading stops the recv calls, the kernel buffers
 *   fill, and TCP slows the sender down.
 *   One shortcut: corio_stream_read on an empty buffer receives straight
 *   into the caller's buffer (no copy). That is cancellation-safe too: a
 *   recv either returns bytes, which the caller gets, or returns none.
 *
 * WRITING: write() never blocks. The design (asyncio's transport does
 * the same inside its loop):
 *
 *     write(buf)
 *       nothing queued and no flusher?  -> one non-blocking send now
 *                                          (corio__io_send_nowait); the
 *                                          common case ends here, with no
 *                                          copy, no task, no wait
 *       bytes left over                  -> copy them to the queue (a list
 *                                          of chunks) and spawn the
 *                                          FLUSHER, a small task that
 *                                          sends the queue in the
 *                                          background and ends when it is
 *                                          empty
 *
 *   The flusher is the only task that ever parks in a send on this
 *   descriptor, so bytes cannot overtake one another, and drain /
 *   write_eof / close need no sending of their own: they wait on events
 *   the flusher keeps up to date (drained: unsent <= low water; flushed:
 *   nothing queued and no flusher). A flusher exists only while the
 *   kernel's send buffer is full, so a fast connection costs no task.
 *   The queue is a list of chunks rather than one growing array because
 *   on Windows the kernel reads an overlapped send's bytes while it is
 *   pending: bytes once queued never move until they are sent.
 *
 * CLOSING while other tasks still use the stream (a reader parked in
 * readline, a drain): `users` counts the tasks inside a blocking stream
 * call (the flusher included). close / abort mark the stream closing,
 * wake them all (they return CORIO_ECLOSED), and whoever leaves last
 * frees the memory, so no task ever wakes into a freed stream.
 *
 * Sockets and pipe ends differ only in four calls (recv/read,
 * send/write, the non-blocking send, and what write_eof does: a socket
 * half-closes, a pipe end is closed), chosen by s->is_socket.
 */
#include "corio.h"
#include "coro/alloc.h"
#include "os/io.h"
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT ((size_t)64 * 1024)  /* asyncio's _DEFAULT_LIMIT */
#define DEFAULT_HIGH ((size_t)64 * 1024)   /* asyncio's write buffer limits */
#define DEFAULT_LOW ((size_t)16 * 1024)
#define READ_FIRST ((size_t)4096)   /* first read buffer, allocated on need */
#define READ_ROOM ((size_t)1024)    /* least free space a fill reads into */
#define KEEP_READ ((size_t)64 * 1024) /* an emptied buffer above this is freed */
#define CHUNK_SIZE ((size_t)16 * 1024) /* write queue chunk */

/* A piece of the write queue: bytes data[start, end) are still unsent. */
typedef struct wchunk {
    struct wchunk *next;
    size_t start, end, cap;
    char data[];
} wchunk;

struct corio_stream {
    corio_fd fd;
    bool is_socket;    /* recv/send/shutdown, else read/write/close */
    bool fd_closed;    /* by write_eof on a pipe, or by close */
    bool closing;      /* close/abort called: freed when users reaches 0 */
    int users;         /* tasks inside a blocking call on s, flusher included */
    size_t limit, high, low;

    /* reader: buffered bytes are rbuf[rstart, rstart + rlen) */
    char *rbuf;
    size_t rstart, rlen, rcap;
    bool eof;          /* the peer finished sending */
    bool reading;      /* a task is parked receiving into s */
    int rerr;          /* sticky receive error (reset, ...) */

    /* writer */
    wchunk *whead, *wtail;
    size_t unsent;     /* bytes in the chunks */
    int werr;          /* sticky send error: the peer is gone */
    bool eof_wanted;   /* write_eof called: FIN once the queue is empty */
    bool eof_sent;
    corio_task *flusher; /* the background sender while it runs */
    corio_event drained; /* set <=> unsent <= low, or error, or closing */
    corio_event flushed; /* set <=> queue empty and no flusher, or error... */
    corio_event idle;    /* set <=> no flusher */
};

/* ------------------------------------------------------------------ */
/* Life and death                                                      */
/* ------------------------------------------------------------------ */

static void queue_drop(corio_stream *s)
{
    while (s->whead) {
        wchunk *c = s->whead;
        s->whead = c->next;
        corio__free(c);
    }
    s->wtail = NULL;
    s->unsent = 0;
}

static void stream_free(corio_stream *s)
{
    queue_drop(s);
    corio__free(s->rbuf);
    corio_event_destroy(&s->drained);
    corio_event_destroy(&s->flushed);
    corio_event_destroy(&s->idle);
    corio__free(s);
}

/* A task is done with s; the last one out of a closing stream frees it.
 * After leave() the caller must not touch s again. */
static void leave(corio_stream *s)
{
    if (--s->users == 0 && s->closing) stream_free(s);
}

static void event_to(corio_event *e, bool on)
{
    if (on && !corio_event_is_set(e)) corio_event_set(e);
    else if (!on && corio_event_is_set(e)) corio_event_clear(e);
}

/* Every change to unsent, werr, flusher or closing ends here, so the
 * events always say the truth and a waiter never spins on a stale one. */
static void update_events(corio_stream *s)
{
    bool over = s->werr != 0 || s->closing;
    event_to(&s->drained, over || s->unsent <= s->low);
    event_to(&s->flushed, over || (s->unsent == 0 && !s->flusher));
    event_to(&s->idle, !s->flusher);
}

static corio_stream *stream_new(corio_fd fd, const corio_stream_opts *o,
                                bool is_socket)
{
    corio_stream *s = corio__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = fd;
    s->is_socket = is_socket;
    s->limit = o && o->limit ? o->limit : DEFAULT_LIMIT;
    s->high = o && o->high_water ? o->high_water : DEFAULT_HIGH;
    s->low = o && o->low_water ? o->low_water : DEFAULT_LOW;
    if (s->low > s->high) s->low = s->high;
    corio_event_init(&s->drained);
    corio_event_init(&s->flushed);
    corio_event_init(&s->idle);
    update_events(s);
    return s;
}

corio_stream *corio_stream_open(corio_fd fd, const corio_stream_opts *o)
{
    int sock = corio__io_is_socket(fd);
    if (sock < 0) return NULL;
    return stream_new(fd, o, sock == 1);
}

corio_stream *corio__stream_open_pipe(corio_fd fd, const corio_stream_opts *o)
{
    return stream_new(fd, o, false);
}

int corio_open_connection_until(const char *host, int port, corio_stream **out,
                                int64_t deadline)
{
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_fd fd;
    int rc = corio_tcp_connect_host_until(host, port, &fd, deadline);
    if (rc < 0) return rc;
    corio_stream *s = stream_new(fd, NULL, true);
    if (!s) {
        corio__io_close(fd);
        return CORIO_ENOMEM;
    }
    *out = s;
    return 0;
}

int corio_open_connection(const char *host, int port, corio_stream **out)
{
    return corio_open_connection_until(host, port, out, CORIO_NEVER);
}

size_t corio_stream_buffered(const corio_stream *s) { return s ? s->rlen : 0; }
size_t corio_stream_unsent(const corio_stream *s) { return s ? s->unsent : 0; }
corio_fd corio_stream_fd(const corio_stream *s) { return s->fd; }
corio_task *corio__stream_flusher(const corio_stream *s) { return s->flusher; }

bool corio_stream_at_eof(const corio_stream *s)
{
    return s && s->eof && s->rlen == 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Errors that describe the connection (and so stay): not the ones that
 * describe one call (deadline, cancel, a second reader). */
static bool sticky(ptrdiff_t err)
{
    return err != CORIO_ETIMEDOUT && err != CORIO_ECANCELED &&
           err != CORIO_EBUSY && err != CORIO_ENOLOOP && err != CORIO_EAGAIN;
}

/* Every read call starts here. One reader at a time, as in asyncio: a
 * second one would move the buffer under the first one's pending recv. */
static int begin_read(const corio_stream *s)
{
    if (s->closing) return CORIO_ECLOSED;
    if (s->reading) return CORIO_EBUSY;
    return 0;
}

/* Receive once into dst, with s kept alive and marked busy meanwhile.
 * Returns the byte count, 0 at end of stream, or an error; CORIO_ECLOSED
 * (and s must not be touched) if the stream was closed meanwhile. */
static ptrdiff_t receive(corio_stream *s, void *dst, size_t len,
                         int64_t deadline)
{
    s->reading = true;
    s->users++;
    ptrdiff_t n = s->is_socket ? corio__io_recv(s->fd, dst, len, deadline)
                               : corio__io_read(s->fd, dst, len, deadline);
    s->reading = false;
    if (s->closing) {
        leave(s);
        return CORIO_ECLOSED;
    }
    s->users--;
    if (n == 0) s->eof = true;
    else if (n < 0 && sticky(n)) s->rerr = (int)n;
    return n;
}

/* Make room for at least `room` more bytes after the buffered ones. */
static int reserve(corio_stream *s, size_t room)
{
    if (s->rcap - s->rstart - s->rlen >= room) return 0;
    if (s->rstart > 0) { /* slide the unread bytes to the front */
        memmove(s->rbuf, s->rbuf + s->rstart, s->rlen);
        s->rstart = 0;
        if (s->rcap - s->rlen >= room) return 0;
    }
    if (room > SIZE_MAX / 2 - s->rlen) return CORIO_ENOMEM;
    size_t need = s->rlen + room;
    size_t cap = s->rcap ? s->rcap : READ_FIRST;
    while (cap < need) cap *= 2;
    char *p = corio__realloc(s->rbuf, cap);
    if (!p) return CORIO_ENOMEM;
    s->rbuf = p;
    s->rcap = cap;
    return 0;
}

/* Receive more bytes into the buffer (at least `room` of space is
 * offered). 0 when something arrived or the stream ended (s->eof), else
 * an error; what was buffered before stays buffered either way. */
static int fill(corio_stream *s, size_t room, int64_t deadline)
{
    if (s->rerr) return s->rerr;
    if (s->eof) return 0;
    if (room < READ_ROOM) room = READ_ROOM;
    if (reserve(s, room) < 0) return CORIO_ENOMEM;
    char *at = s->rbuf + s->rstart + s->rlen;
    ptrdiff_t n = receive(s, at, s->rcap - s->rstart - s->rlen, deadline);
    if (n < 0) return (int)n;
    s->rlen += (size_t)n;
    return 0;
}

/* The first buffered byte. (rbuf is NULL until the first fill, and C
 * allows no arithmetic on a null pointer, not even + 0.) */
static const char *rdata(const corio_stream *s)
{
    return s->rbuf ? s->rbuf + s->rstart : "";
}

/* Hand out the first n buffered bytes. */
static void consume(corio_stream *s, void *dst, size_t n)
{
    if (n == 0) return;
    memcpy(dst, rdata(s), n);
    s->rstart += n;
    s->rlen -= n;
    if (s->rlen == 0) {
        s->rstart = 0;
        if (s->rcap > KEEP_READ) { /* a burst is over: give the memory back */
            corio__free(s->rbuf);
            s->rbuf = NULL;
            s->rcap = 0;
        }
    }
}

ptrdiff_t corio_stream_read_until(corio_stream *s, void *buf, size_t n,
                                  int64_t deadline)
{
    if (!s || (!buf && n)) return CORIO_EINVAL;
    int rc = begin_read(s);
    if (rc < 0) return rc;
    if (n == 0) return 0;
    if (s->rlen > 0) {
        size_t m = n < s->rlen ? n : s->rlen;
        consume(s, buf, m);
        return (ptrdiff_t)m;
    }
    if (s->rerr) return s->rerr;
    if (s->eof) return 0;
    return receive(s, buf, n, deadline); /* straight in: see the top */
}

ptrdiff_t corio_stream_read(corio_stream *s, void *buf, size_t n)
{
    return corio_stream_read_until(s, buf, n, CORIO_NEVER);
}

int corio_stream_readexactly_until(corio_stream *s, void *buf, size_t n,
                                   size_t *got, int64_t deadline)
{
    if (got) *got = 0;
    if (!s || (!buf && n)) return CORIO_EINVAL;
    int rc = begin_read(s);
    if (rc < 0) return rc;
    while (s->rlen < n && !s->eof) {
        rc = fill(s, n - s->rlen, deadline);
        if (rc < 0) return rc; /* the bytes so far stay buffered */
    }
    size_t m = n < s->rlen ? n : s->rlen;
    consume(s, buf, m);
    if (got) *got = m;
    return m == n ? 0 : CORIO_EINCOMPLETE;
}

int corio_stream_readexactly(corio_stream *s, void *buf, size_t n, size_t *got)
{
    return corio_stream_readexactly_until(s, buf, n, got, CORIO_NEVER);
}

/* The first sep in data[from, len), or -1. */
static ptrdiff_t find_sep(const char *data, size_t len, const char *sep,
                          size_t seplen, size_t from)
{
    while (from + seplen <= len) {
        const char *p = memchr(data + from, sep[0], len - from - seplen + 1);
        if (!p) return -1;
        size_t at = (size_t)(p - data);
        if (memcmp(p, sep, seplen) == 0) return (ptrdiff_t)at;
        from = at + 1;
    }
    return -1;
}

/* Copy the first n buffered bytes out, NUL-terminated. */
static ptrdiff_t take_record(corio_stream *s, char *buf, size_t n)
{
    consume(s, buf, n);
    buf[n] = '\0';
    return (ptrdiff_t)n;
}

/* readline and readuntil. A record is everything up to and including
 * the separator; it must fit the limit and buf (with its NUL). */
static ptrdiff_t read_record(corio_stream *s, const char *sep, size_t seplen,
                             char *buf, size_t cap, bool is_line,
                             int64_t deadline)
{
    if (!s || !sep || seplen == 0 || !buf || cap == 0) return CORIO_EINVAL;
    int rc = begin_read(s);
    if (rc < 0) return rc;
    size_t lim = s->limit < cap - 1 ? s->limit : cap - 1;

    /* Where the search resumes: bytes already searched cannot hold the
     * start of a separator, except the last seplen - 1 of them. A peer
     * sending one byte at a time thus costs O(n), not O(n^2). */
    size_t searched = 0;
    for (;;) {
        size_t from = searched >= seplen ? searched - (seplen - 1) : 0;
        ptrdiff_t at = find_sep(rdata(s), s->rlen, sep, seplen, from);
        if (at >= 0) {
            size_t rec = (size_t)at + seplen;
            if (rec > lim) return CORIO_ELIMIT; /* it stays buffered */
            return take_record(s, buf, rec);
        }
        searched = s->rlen;
        if (s->eof) {
            if (!is_line) return CORIO_EINCOMPLETE; /* readable with read() */
            if (s->rlen > lim) return CORIO_ELIMIT;
            return take_record(s, buf, s->rlen); /* last line, maybe "" */
        }
        /* No separator in rlen bytes: the record is at least rlen + 1
         * long, which is already too long. */
        if (s->rlen >= lim) return CORIO_ELIMIT;
        rc = fill(s, 0, deadline);
        if (rc < 0) return rc;
    }
}

ptrdiff_t corio_stream_readline_until(corio_stream *s, char *buf, size_t cap,
                                      int64_t deadline)
{
    return read_record(s, "\n", 1, buf, cap, true, deadline);
}

ptrdiff_t corio_stream_readline(corio_stream *s, char *buf, size_t cap)
{
    return corio_stream_readline_until(s, buf, cap, CORIO_NEVER);
}

ptrdiff_t corio_stream_readuntil_until(corio_stream *s, const void *sep,
                                       size_t seplen, void *buf, size_t cap,
                                       int64_t deadline)
{
    return read_record(s, sep, seplen, buf, cap, false, deadline);
}

ptrdiff_t corio_stream_readuntil(corio_stream *s, const void *sep,
                                 size_t seplen, void *buf, size_t cap)
{
    return corio_stream_readuntil_until(s, sep, seplen, buf, cap, CORIO_NEVER);
}

/* ------------------------------------------------------------------ */
/* The write queue                                                     */
/* ------------------------------------------------------------------ */

/* Queue n bytes: into the free end of the last chunk, the rest into one
 * new chunk. All or nothing. */
static int queue_append(corio_stream *s, const char *p, size_t n)
{
    wchunk *t = s->wtail;
    size_t fits = t ? t->cap - t->end : 0;
    if (fits > n) fits = n;
    wchunk *c = NULL;
    if (n > fits) {
        size_t size = n - fits > CHUNK_SIZE ? n - fits : CHUNK_SIZE;
        c = corio__malloc(sizeof *c + size);
        if (!c) return CORIO_ENOMEM;
        c->next = NULL;
        c->start = c->end = 0;
        c->cap = size;
    }
    if (fits) {
        memcpy(t->data + t->end, p, fits);
        t->end += fits;
    }
    if (c) {
        memcpy(c->data, p + fits, n - fits);
        c->end = n - fits;
        if (t) t->next = c;
        else s->whead = c;
        s->wtail = c;
    }
    s->unsent += n;
    return 0;
}

/* n bytes of the head chunk went out. */
static void queue_sent(corio_stream *s, size_t n)
{
    wchunk *c = s->whead;
    c->start += n;
    s->unsent -= n;
    if (c->start == c->end) {
        s->whead = c->next;
        if (!s->whead) s->wtail = NULL;
        corio__free(c);
    }
}

/* ------------------------------------------------------------------ */
/* Writing: write, the flusher, drain, write_eof                       */
/* ------------------------------------------------------------------ */

/* FIN: a socket half-closes; a pipe end has no half, so it closes. */
static void send_eof(corio_stream *s)
{
    int rc;
    if (s->is_socket) {
        rc = corio__io_shutdown_write(s->fd);
    } else {
        rc = corio__io_close(s->fd);
        s->fd_closed = true;
    }
    s->eof_sent = true;
    if (rc < 0 && !s->werr) s->werr = rc;
}

/* The background sender (see the top of the file). */
static void *flusher_main(void *arg)
{
    corio_stream *s = arg;
    while (!s->closing && !s->werr && s->whead) {
        wchunk *c = s->whead;
        const char *p = c->data + c->start;
        size_t len = c->end - c->start;
        ptrdiff_t n = s->is_socket
                    ? corio__io_send(s->fd, p, len, CORIO_NEVER)
                    : corio__io_write(s->fd, p, len, CORIO_NEVER);
        if (n < 0) {
            /* Cancelled by close/abort: not an error of the connection.
             * Anything else (EPIPE, ECONNRESET, a cancel from elsewhere)
             * is final: what is queued can no longer be delivered. */
            if (!s->closing) {
                s->werr = (int)n;
                queue_drop(s);
            }
            break;
        }
        queue_sent(s, (size_t)n);
        update_events(s);
    }
    if (!s->closing && !s->werr && s->eof_wanted && !s->eof_sent &&
        s->unsent == 0)
        send_eof(s);
    s->flusher = NULL;
    update_events(s);
    leave(s);
    return NULL;
}

/* Start the flusher if bytes wait and none runs. CORIO_ENOMEM if no task
 * could be had: the bytes stay queued and the next drain, write_eof or
 * close tries again. */
static int start_flusher(corio_stream *s)
{
    if (s->flusher || !s->whead || s->closing || s->werr) return 0;
    corio_task *t = corio_spawn(flusher_main, s, NULL);
    if (!t) return CORIO_ENOMEM;
    corio_detach(t); /* it ends on its own; s->flusher is cleared first */
    s->flusher = t;
    s->users++;
    update_events(s);
    return 0;
}

int corio_stream_write(corio_stream *s, const void *buf, size_t n)
{
    if (!s || (!buf && n)) return CORIO_EINVAL;
    if (s->closing) return CORIO_ECLOSED;
    if (s->werr) return s->werr;
    if (s->eof_wanted) return CORIO_EPIPE; /* we already said goodbye */
    if (n == 0) return 0;

    const char *p = buf;
    if (!s->flusher && s->unsent == 0) {
        /* Nothing queued, nobody sending: try right now, no copy. */
        ptrdiff_t m = s->is_socket ? corio__io_send_nowait(s->fd, p, n)
                                   : corio__io_write_nowait(s->fd, p, n);
        /* CORIO_ENOTSUP: no such attempt for this descriptor (a pipe on
         * Windows): the flusher's blocking write does the job. */
        if (m == CORIO_ENOTSUP) m = CORIO_EAGAIN;
        if (m < 0 && m != CORIO_EAGAIN) {
            s->werr = (int)m;
            update_events(s);
            return (int)m;
        }
        if (m > 0) {
            p += m;
            n -= (size_t)m;
        }
        if (n == 0) return 0;
    }
    if (queue_append(s, p, n) < 0) return CORIO_ENOMEM;
    update_events(s);
    (void)start_flusher(s); /* if it fails, the next drain retries */
    return 0;
}

typedef bool (*writer_done)(const corio_stream *s);

static bool is_drained(const corio_stream *s) { return s->unsent <= s->low; }

static bool is_flushed(const corio_stream *s)
{
    return s->unsent == 0 && !s->flusher;
}

/* Park on ev until done(s), an error, closing, the deadline or a cancel.
 * Nothing is lost either way: the queue is the flusher's business. */
static int wait_writer(corio_stream *s, corio_event *ev, writer_done done,
                       int64_t deadline)
{
    int rc = 0;
    s->users++;
    while (!s->closing && !s->werr && !done(s)) {
        rc = corio_event_wait_until(ev, deadline);
        if (rc < 0) break;
    }
    if (rc == 0) rc = s->closing ? CORIO_ECLOSED : s->werr;
    leave(s);
    return rc;
}

int corio_stream_drain_until(corio_stream *s, int64_t deadline)
{
    if (!s) return CORIO_EINVAL;
    if (s->closing) return CORIO_ECLOSED;
    if (s->werr) return s->werr;
    if (s->unsent <= s->high) return 0;
    int rc = start_flusher(s);
    if (rc < 0) return rc;
    return wait_writer(s, &s->drained, is_drained, deadline);
}

int corio_stream_drain(corio_stream *s)
{
    return corio_stream_drain_until(s, CORIO_NEVER);
}

int corio_stream_write_eof_until(corio_stream *s, int64_t deadline)
{
    if (!s) return CORIO_EINVAL;
    if (s->closing) return CORIO_ECLOSED;
    if (s->werr) return s->werr;
    if (s->eof_sent) return 0;
    s->eof_wanted = true;
    if (is_flushed(s)) {
        send_eof(s);
        update_events(s);
        return s->werr;
    }
    /* The flusher sends the FIN when the queue runs dry, even if we stop
     * waiting for it here. */
    int rc = start_flusher(s);
    if (rc < 0) return rc;
    return wait_writer(s, &s->flushed, is_flushed, deadline);
}

int corio_stream_write_eof(corio_stream *s)
{
    return corio_stream_write_eof_until(s, CORIO_NEVER);
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

/* Stop everything now: wake every task waiting on s, stop the flusher,
 * close the descriptor; s is freed by whoever leaves it last. */
static void teardown(corio_stream *s)
{
    s->closing = true;
    s->users++; /* keep s while we wait below */
    update_events(s); /* drain / write_eof waiters return CORIO_ECLOSED */
    if (s->flusher) corio_cancel(s->flusher);
    /* Close before waiting for the flusher: closing ends every operation
     * still pending on the descriptor, on every backend. A cancel alone
     * is not enough on a completion backend: the flusher then waits for
     * its send's completion packet (the kernel owns its buffer until
     * then), and a cancelled send to a peer that does not read may not
     * complete until the socket is closed (seen under wine). Closing
     * also wakes a task parked reading s, with CORIO_ECLOSED. The
     * flusher touches the descriptor no more once it sees `closing`. */
    if (!s->fd_closed) {
        corio__io_close(s->fd);
        s->fd_closed = true;
    }
    /* Wait for the flusher to leave, so that no task of ours outlives the
     * stream (a loop closed right after would report it pending).
     * Shielded: a cancelled closer still has to wait for this, and it is
     * quick: the flusher's send has ended. It always ends: every task
     * runs its function, even one cancelled before its first turn
     * (coro/task.c). Outside a task we cannot wait; the flusher frees s
     * if it leaves last. */
    if (s->flusher && corio_current()) {
        corio_shield_begin();
        while (s->flusher && corio_event_wait(&s->idle) == 0) {
        }
        corio_shield_end();
    }
    leave(s);
}

int corio_stream_close_until(corio_stream *s, int64_t deadline)
{
    if (!s) return CORIO_EINVAL;
    if (s->closing) return CORIO_EALREADY;
    int rc = s->werr;
    if (rc == 0 && !is_flushed(s)) {
        rc = start_flusher(s);
        if (rc == 0) rc = wait_writer(s, &s->flushed, is_flushed, deadline);
    }
    teardown(s);
    return rc;
}

int corio_stream_close(corio_stream *s)
{
    return corio_stream_close_until(s, CORIO_NEVER);
}

void corio_stream_abort(corio_stream *s)
{
    if (!s || s->closing) return;
    teardown(s);
}
