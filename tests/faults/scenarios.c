/*
 * scenarios.c — the six scenarios of `make test-faults`: an echo exchange
 * over TCP, a stream read line by line, a server's accept loop, a
 * subprocess fed and read by communicate, a DNS lookup of "localhost"
 * through the pool, and calls on the thread pools. Each checks every byte
 * it gets back, and on any failed call closes what it holds so that the
 * other side ends too (a peer left waiting would be a hang of the
 * scenario, not of corio).
 */
#include "scenarios.h"
#include "fault.h"

#include <stdio.h>
#include <string.h>

static void note_err(scen *s, const char *what, long rc)
{
    if (s->errors++ == 0) {
        s->first_err = (int)rc;
        s->first_os = corio_last_os_error();
        snprintf(s->where, sizeof s->where, "%s", what);
    }
}

static void note_bad(scen *s, const char *fmt, long a, long b)
{
    if (!s->bad++) snprintf(s->msg, sizeof s->msg, fmt, a, b);
}

/* rc < 0 is a failed call: note it and say so. */
#define FAILED(s, what, rc) ((rc) < 0 ? (note_err((s), (what), (long)(rc)), 1) : 0)

/* A byte pattern with no short period, so a lost or repeated chunk shows. */
static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

/* A connected TCP pair over loopback. */
static int tcp_pair(scen *s, corio_fd *a, corio_fd *b)
{
    corio_addr at, bound;
    corio_fd lfd;
    *a = *b = -1;
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio_tcp_listen(&at, 4, 0, &lfd);
    if (FAILED(s, "tcp_listen", rc)) return rc;
    rc = corio_sock_local_addr(lfd, &bound);
    if (!FAILED(s, "sock_local_addr", rc)) {
        rc = corio_tcp_connect_until(&bound, a, s->deadline);
        if (!FAILED(s, "tcp_connect", rc)) {
            rc = corio_tcp_accept_until(lfd, b, NULL, s->deadline);
            if (FAILED(s, "tcp_accept", rc)) {
                corio_fd_close(*a);
                *a = -1;
            }
        }
    }
    int crc = corio_fd_close(lfd);
    FAILED(s, "close listener", crc);
    return rc;
}

/* ---- echo: raw socket calls, the server echoes until end of stream ---- */

#define ECHO_TOTAL (96 * 1024)

typedef struct { scen *s; corio_fd fd; } side;

static void *echo_server(void *arg)
{
    side *sd = arg;
    char buf[4096];
    for (;;) {
        ptrdiff_t n = corio_sock_recv_until(sd->fd, buf, sizeof buf, sd->s->deadline);
        if (FAILED(sd->s, "echo server recv", n) || n == 0) break;
        int rc = corio_sock_send_all_until(sd->fd, buf, (size_t)n, sd->s->deadline);
        if (FAILED(sd->s, "echo server send_all", rc)) break;
    }
    int rc = corio_fd_close(sd->fd); /* the client sees the end (or a reset) */
    FAILED(sd->s, "echo server close", rc);
    return NULL;
}

static void *echo_writer(void *arg)
{
    side *sd = arg;
    unsigned char buf[3000]; /* not a power of two: chunks straddle */
    for (size_t off = 0; off < ECHO_TOTAL;) {
        size_t n = ECHO_TOTAL - off < sizeof buf ? ECHO_TOTAL - off : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(off + i);
        int rc = corio_sock_send_all_until(sd->fd, buf, n, sd->s->deadline);
        if (FAILED(sd->s, "echo client send_all", rc)) break;
        off += n;
    }
    /* Done or failed: the server sees the end of what it will get. */
    int rc = corio_sock_shutdown_write(sd->fd);
    FAILED(sd->s, "echo client shutdown_write", rc);
    return NULL;
}

static void *scen_echo(void *arg)
{
    scen *s = arg;
    corio_fd a, b;
    if (tcp_pair(s, &a, &b) < 0) return NULL;
    side srv = { s, b }, cli = { s, a };
    corio_task *ts = corio_spawn(echo_server, &srv, NULL);
    if (!ts) { note_err(s, "spawn", CORIO_ENOMEM); corio_fd_close(b); corio_fd_close(a); return NULL; }
    corio_task *tw = corio_spawn(echo_writer, &cli, NULL);
    if (!tw) note_err(s, "spawn", CORIO_ENOMEM), corio_sock_shutdown_write(a);
    size_t got = 0;
    unsigned char buf[5000];
    for (;;) {
        ptrdiff_t n = corio_sock_recv_until(a, buf, sizeof buf, s->deadline);
        if (FAILED(s, "echo client recv", n) || n == 0) break;
        for (ptrdiff_t i = 0; i < n; i++)
            if (buf[i] != pattern(got + (size_t)i)) {
                note_bad(s, "echo: byte %ld differs (got %ld)", (long)(got + (size_t)i), buf[i]);
                break;
            }
        got += (size_t)n;
        if (got > ECHO_TOTAL) { note_bad(s, "echo: %ld bytes back of %ld sent", (long)got, ECHO_TOTAL); break; }
    }
    if (tw) corio_join(tw, NULL);
    corio_join(ts, NULL);
    int rc = corio_fd_close(a);
    FAILED(s, "echo client close", rc);
    if (s->errors == 0 && got != ECHO_TOTAL)
        note_bad(s, "echo: %ld bytes back of %ld, and no call failed", (long)got, ECHO_TOTAL);
    return NULL;
}

/* ---- stream readline: numbered lines through a stream pair ---- */

#define LINES 300

typedef struct { scen *s; corio_stream *st; } sside;

static void *line_writer(void *arg)
{
    sside *sd = arg;
    char line[80];
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(line, sizeof line, "line %05d %.*s\n", i, i % 50,
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
        int rc = corio_stream_write(sd->st, line, (size_t)n);
        if (FAILED(sd->s, "stream_write", rc)) break;
        if (i % 64 == 63) {
            rc = corio_stream_drain_until(sd->st, sd->s->deadline);
            if (FAILED(sd->s, "stream_drain", rc)) break;
        }
    }
    int rc = corio_stream_close_until(sd->st, sd->s->deadline);
    FAILED(sd->s, "writer stream_close", rc);
    return NULL;
}

static void *scen_readline(void *arg)
{
    scen *s = arg;
    corio_fd a, b;
    if (tcp_pair(s, &a, &b) < 0) return NULL;
    corio_stream *w = corio_stream_open(a, NULL);
    corio_stream *r = corio_stream_open(b, NULL);
    if (!w || !r) {
        note_err(s, "stream_open", CORIO_ENOMEM);
        if (w) corio_stream_abort(w); else corio_fd_close(a);
        if (r) corio_stream_abort(r); else corio_fd_close(b);
        return NULL;
    }
    sside sw = { s, w };
    corio_task *tw = corio_spawn(line_writer, &sw, NULL);
    if (!tw) { note_err(s, "spawn", CORIO_ENOMEM); corio_stream_abort(w); }
    int next = 0;
    char line[128], want[80];
    for (;;) {
        ptrdiff_t n = corio_stream_readline_until(r, line, sizeof line, s->deadline);
        if (FAILED(s, "stream_readline", n) || n == 0) break;
        int m = snprintf(want, sizeof want, "line %05d %.*s\n", next, next % 50,
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
        if (n != m || memcmp(line, want, (size_t)m) != 0) {
            note_bad(s, "readline: line %ld is not the one expected (%ld bytes)", next, (long)n);
            break;
        }
        next++;
    }
    if (tw) corio_join(tw, NULL);
    corio_stream_abort(r);
    if (s->errors == 0 && next != LINES)
        note_bad(s, "readline: %ld lines of %ld, and no call failed", next, LINES);
    return NULL;
}

/* ---- server: start_server, three clients one after another ---- */

static void echo_handler(corio_stream *st, void *arg)
{
    scen *s = arg;
    char line[256];
    for (;;) {
        ptrdiff_t n = corio_stream_readline_until(st, line, sizeof line, s->deadline);
        if (FAILED(s, "handler readline", n) || n == 0) return;
        int rc = corio_stream_write(st, line, (size_t)n);
        if (!FAILED(s, "handler write", rc))
            rc = corio_stream_drain_until(st, s->deadline);
        if (FAILED(s, "handler drain", rc)) return;
    }
}

static void *scen_server(void *arg)
{
    scen *s = arg;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, echo_handler, s, NULL, &srv);
    if (FAILED(s, "start_server", rc)) return NULL;
    int port = corio_server_port(srv);
    int answered = 0;
    for (int c = 0; c < 3; c++) {
        corio_stream *st;
        rc = corio_open_connection_until("127.0.0.1", port, &st, s->deadline);
        if (FAILED(s, "open_connection", rc)) continue;
        char msg[64], back[64];
        for (int i = 0; i < 4; i++) {
            int n = snprintf(msg, sizeof msg, "hello %d from client %d\n", i, c);
            rc = corio_stream_write(st, msg, (size_t)n);
            if (FAILED(s, "client write", rc)) break;
            ptrdiff_t m = corio_stream_readline_until(st, back, sizeof back, s->deadline);
            if (FAILED(s, "client readline", m)) break;
            if (m == 0) { note_err(s, "client readline (early end)", CORIO_EOF); break; }
            if (m != n || memcmp(back, msg, (size_t)n) != 0) {
                note_bad(s, "server: reply %ld of client %ld differs", i, c);
                break;
            }
            answered++;
        }
        rc = corio_stream_close_until(st, s->deadline);
        FAILED(s, "client stream_close", rc);
    }
    rc = corio_server_shutdown_until(srv, s->deadline);
    FAILED(s, "server_shutdown", rc);
    if (s->errors == 0 && answered != 12)
        note_bad(s, "server: %ld replies of %ld, and no call failed", answered, 12);
    return NULL;
}

/* ---- subprocess: cat fed 40 KiB by communicate ---- */

#define CAT_TOTAL (40 * 1024)

static void *scen_process(void *arg)
{
    scen *s = arg;
    static char in[CAT_TOTAL];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (char)pattern(i);
    const char *argv[] = { "cat", NULL };
    corio_process_opts o = { .stdin_ = CORIO_STDIO_PIPE, .stdout_ = CORIO_STDIO_PIPE,
                             .stderr_ = CORIO_STDIO_INHERIT };
    corio_process *p;
    int rc = corio_process_spawn(argv, &o, &p);
    if (FAILED(s, "process_spawn", rc)) return NULL;
    corio_buf out = { 0 };
    int code = -1;
    rc = corio_process_communicate_until(p, in, sizeof in, &out, NULL, &code, s->deadline);
    if (!FAILED(s, "process_communicate", rc)) {
        if (code != 0) note_bad(s, "process: cat exited with %ld (%ld)", code, 0);
        /* EPIPE on cat's stdin says cat has gone; communicate ignores
         * it, as asyncio does, so less comes back, but in order. */
        int broken = fault_st && fault_st->fired && fault_st->plan.err == EPIPE;
        if (out.len > sizeof in || (!broken && out.len != sizeof in))
            note_bad(s, "process: %ld bytes back of %ld", (long)out.len, (long)sizeof in);
        else if (memcmp(out.data, in, out.len) != 0) note_bad(s, "process: output differs%ld%ld", 0, 0);
    } else {
        /* communicate left the child running: end it, and wait so that
         * nothing is left behind. */
        (void)corio_process_kill(p);
        rc = corio_process_wait_until(p, &code, s->deadline);
        FAILED(s, "process_wait after kill", rc);
        for (size_t i = 0; i < out.len && i < sizeof in; i++)
            if (out.data[i] != in[i]) { note_bad(s, "process: byte %ld differs%ld", (long)i, 0); break; }
    }
    corio_buf_free(&out);
    corio_process_free(p);
    return NULL;
}

/* ---- DNS: "localhost" through the pool, then connect by that name ---- */

static void *scen_dns(void *arg)
{
    scen *s = arg;
    corio_addr addrs[4];
    int n = corio_resolve_until("localhost", 8080, CORIO_AF_INET, addrs, 4, s->deadline);
    if (!FAILED(s, "resolve localhost", n)) {
        char text[64];
        corio_addr_format(&addrs[0], text, sizeof text);
        if (strcmp(text, "127.0.0.1:8080") != 0) note_bad(s, "dns: localhost is not 127.0.0.1 (%ld answers)%ld", n, 0);
    }
    corio_addr at, bound;
    corio_fd lfd, c, d;
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio_tcp_listen(&at, 4, 0, &lfd);
    if (FAILED(s, "tcp_listen", rc)) return NULL;
    rc = corio_sock_local_addr(lfd, &bound);
    if (!FAILED(s, "sock_local_addr", rc)) {
        rc = corio_tcp_connect_host_until("localhost", corio_addr_port(&bound), &c, s->deadline);
        if (!FAILED(s, "tcp_connect_host", rc)) {
            rc = corio_tcp_accept_until(lfd, &d, NULL, s->deadline);
            if (!FAILED(s, "tcp_accept", rc)) {
                rc = corio_sock_send_all_until(c, "ping", 4, s->deadline);
                char b[8];
                ptrdiff_t m = FAILED(s, "send_all", rc) ? 0
                            : corio_sock_recv_until(d, b, sizeof b, s->deadline);
                if (!FAILED(s, "recv", m) && rc == 0 && (m < 1 || memcmp(b, "ping", (size_t)m) != 0))
                    note_bad(s, "dns: %ld bytes of ping arrived%ld", (long)m, 0);
                corio_fd_close(d);
            }
            corio_fd_close(c);
        }
    }
    corio_fd_close(lfd);
    return NULL;
}

/* ---- pool: to_thread on the default pool and a pool of our own ---- */

typedef struct { scen *s; corio_pool *pool; long n; } job;

static void *sum_to(void *arg)
{
    long n = *(long *)arg, t = 0;
    for (long i = 1; i <= n; i++) t += i;
    return (void *)t;
}

static void *pool_caller(void *arg)
{
    job *j = arg;
    void *res = NULL;
    int rc = j->pool ? corio_run_in_executor_until(j->pool, sum_to, &j->n, &res, NULL, j->s->deadline)
                     : corio_to_thread_until(sum_to, &j->n, &res, NULL, j->s->deadline);
    if (!FAILED(j->s, j->pool ? "run_in_executor" : "to_thread", rc) &&
        (long)res != j->n * (j->n + 1) / 2)
        note_bad(j->s, "pool: sum to %ld came back as %ld", j->n, (long)res);
    return NULL;
}

static void *scen_pool(void *arg)
{
    scen *s = arg;
    corio_pool *own = corio_pool_new(2);
    if (!own) note_err(s, "pool_new", CORIO_ENOMEM);
    job jobs[6];
    corio_task *t[6];
    for (int i = 0; i < 6; i++) {
        jobs[i] = (job){ s, i % 2 ? own : NULL, 1000 + i };
        t[i] = (i % 2 && !own) ? NULL : corio_spawn(pool_caller, &jobs[i], NULL);
        if (!t[i] && !(i % 2 && !own)) note_err(s, "spawn", CORIO_ENOMEM);
    }
    for (int i = 0; i < 6; i++)
        if (t[i]) corio_join(t[i], NULL);
    if (own) corio_pool_free(own);
    return NULL;
}

const scenario scenarios[] = {
    { "echo", scen_echo },
    { "readline", scen_readline },
    { "server", scen_server },
    { "process", scen_process },
    { "dns", scen_dns },
    { "pool", scen_pool },
};
const int nscenarios = (int)(sizeof scenarios / sizeof scenarios[0]);
