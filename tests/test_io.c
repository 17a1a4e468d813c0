/*
 * test_io.c — os/io.h: sockets and pipes that suspend only the task.
 *
 * Every test runs its work inside corio tasks on a fresh loop and closes
 * that loop, asserting that nothing was left pending (run_task below).
 *
 * Assertions are made on the loop's thread stack, never inside a task: a
 * failed cr_assert unwinds out of the test, which must not happen from a
 * coroutine stack (and would leak the loop under the one-process
 * harness). Tasks write what they saw into a `tally`; the test asserts on
 * the tally once the loop is closed.
 *
 * Only corio_io_* calls are used for sockets, so the same source runs on
 * Windows (IOCP) under the project's harness. Everything binds 127.0.0.1
 * or ::1; no traffic leaves the machine.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"
#include "os/io.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
/* The pipe and descriptor-limit tests only: pipes have no corio_io_
 * maker, and only Unix lets a process lower its own descriptor limit. */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

/* ------------------------------------------------------------------ */
/* Harness: tallies, running a loop, small socket helpers              */
/* ------------------------------------------------------------------ */


/* Run fn(arg) as the main task of a new loop that must close clean;
 * returns the main task's status (tests/util.h). */
#define run_task corio_test_run_clean

/* A recognisable byte for position i of a test stream (period 251, so it
 * does not line up with any power-of-two buffer size). */
static unsigned char pattern(size_t i) { return (unsigned char)(i % 251); }

/* A listening socket on `at` (port 0 = any); *bound gets the real one. */
static int listen_on(const corio_addr *at, int backlog, corio_fd *lfd,
                     corio_addr *bound)
{
    int family = corio_addr_family(at);
    int rc = corio__io_socket(family, CORIO_SOCK_STREAM, lfd);
    if (rc < 0) return rc;
    if (family != CORIO_AF_UNIX) rc = corio__io_set_reuseaddr(*lfd, 1);
    if (rc == 0) rc = corio__io_bind(*lfd, at);
    if (rc == 0) rc = corio__io_listen(*lfd, backlog);
    if (rc == 0) rc = corio__io_local_addr(*lfd, bound);
    if (rc < 0) corio__io_close(*lfd);
    return rc;
}

static int listen_loopback(int backlog, corio_fd *lfd, corio_addr *bound)
{
    corio_addr at;
    int rc = corio_addr_ip(&at, "127.0.0.1", 0);
    return rc < 0 ? rc : listen_on(&at, backlog, lfd, bound);
}

static int dial(const corio_addr *to, corio_fd *fd, int64_t deadline)
{
    int rc = corio__io_socket(corio_addr_family(to), CORIO_SOCK_STREAM, fd);
    if (rc < 0) return rc;
    rc = corio__io_connect(*fd, to, deadline);
    if (rc < 0) corio__io_close(*fd);
    return rc;
}

/* A connected TCP pair on 127.0.0.1 made by one task: the kernel finishes
 * the handshake before anyone calls accept. */
static int tcp_pair(corio_fd *client, corio_fd *server, int64_t deadline)
{
    corio_fd lfd;
    corio_addr bound;
    int rc = listen_loopback(4, &lfd, &bound);
    if (rc < 0) return rc;
    rc = dial(&bound, client, deadline);
    if (rc == 0) {
        rc = corio__io_accept(lfd, server, NULL, deadline);
        if (rc < 0) corio__io_close(*client);
    }
    corio__io_close(lfd);
    return rc;
}

/* Send all len bytes (corio__io_send may send fewer). */
static ptrdiff_t send_all(corio_fd fd, const void *buf, size_t len,
                          int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ptrdiff_t n = corio__io_send(fd, (const char *)buf + done, len - done,
                                    deadline);
        if (n < 0) return n;
        done += (size_t)n;
    }
    return (ptrdiff_t)done;
}

/* Receive exactly len bytes, or fewer if the stream ends first. */
static ptrdiff_t recv_exact(corio_fd fd, void *buf, size_t len,
                            int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ptrdiff_t n = corio__io_recv(fd, (char *)buf + done, len - done,
                                    deadline);
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ptrdiff_t)done;
}

/* Echo everything until the peer half-closes, then close. */
typedef struct echo_conn {
    corio_fd fd;
    int64_t deadline;
    ptrdiff_t echoed; /* bytes sent back */
    int status;       /* 0, or the first error */
} echo_conn;

static void *echo_handler(void *arg)
{
    echo_conn *c = arg;
    char buf[16384];
    for (;;) {
        ptrdiff_t n = corio__io_recv(c->fd, buf, sizeof buf, c->deadline);
        if (n <= 0) { c->status = (int)n; break; }
        ptrdiff_t w = send_all(c->fd, buf, (size_t)n, c->deadline);
        if (w < 0) { c->status = (int)w; break; }
        c->echoed += w;
    }
    corio__io_close(c->fd);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Addresses (no loop needed)                                          */
/* ------------------------------------------------------------------ */

Test(io, address_literals)
{
    corio_addr a;
    char text[80];

    cr_assert_eq(corio_addr_ip(&a, "127.0.0.1", 8080), 0);
    cr_assert_eq(corio_addr_family(&a), CORIO_AF_INET);
    cr_assert_eq(corio_addr_port(&a), 8080);
    cr_assert_eq(corio_addr_format(&a, text, sizeof text), 14);
    cr_assert_str_eq(text, "127.0.0.1:8080");

    cr_assert_eq(corio_addr_ip(&a, "::1", 443), 0);
    cr_assert_eq(corio_addr_family(&a), CORIO_AF_INET6);
    cr_assert_eq(corio_addr_port(&a), 443);
    corio_addr_format(&a, text, sizeof text);
    cr_assert_str_eq(text, "[::1]:443");

    /* Literals only: names go through the resolver, not through here. */
    cr_assert_eq(corio_addr_ip(&a, "localhost", 80), CORIO_EINVAL);
    cr_assert_eq(corio_addr_ip(&a, "256.0.0.1", 80), CORIO_EINVAL);
    cr_assert_eq(corio_addr_ip(&a, "127.0.0.1", 65536), CORIO_EINVAL);
    cr_assert_eq(corio_addr_ip(&a, "127.0.0.1", -1), CORIO_EINVAL);

    /* "chars written": a short buffer gets a truncated, terminated text. */
    corio_addr_ip(&a, "127.0.0.1", 80);
    char small[5];
    cr_assert_eq(corio_addr_format(&a, small, sizeof small), 4);
    cr_assert_str_eq(small, "127.");

    int rc = corio_addr_unix(&a, "/tmp/corio.sock");
    if (rc == CORIO_ENOTSUP) return; /* no Unix-domain sockets here */
    cr_assert_eq(rc, 0);
    cr_assert_eq(corio_addr_family(&a), CORIO_AF_UNIX);
    cr_assert_eq(corio_addr_port(&a), -1);
    corio_addr_format(&a, text, sizeof text);
    cr_assert_str_eq(text, "unix:/tmp/corio.sock");
    char too_long[300];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    cr_assert_eq(corio_addr_unix(&a, too_long), CORIO_EINVAL);
}

/* A corio_addr is a public box a caller may fill by hand: one that claims
 * more bytes than sun_path holds shows sun_path and nothing beyond it
 * (format used to read past it, on the stack, up to the next NUL). Seen
 * while writing tests/fuzz/fuzz_addr.c; ASan does not flag that read. */
Test(io, address_format_stays_inside_sun_path)
{
#ifndef _WIN32
    corio_addr a;
    memset(&a, 0, sizeof a);
    a.u.bytes[0] = 1; /* AF_UNIX, little or big endian: see below */
    a.u.bytes[1] = 0;
    unsigned short fam;
    memcpy(&fam, a.u.bytes, sizeof fam);
    if (fam != 1) { a.u.bytes[0] = 0; a.u.bytes[1] = 1; }
    memset(a.u.bytes + 2, 'a', sizeof a.u.bytes - 2);
    a.len = (int)sizeof a.u.bytes;
    char text[256], want[256] = "unix:";
    memset(want + 5, 'a', 108);
    want[5 + 108] = '\0';
    cr_assert_eq(corio_addr_family(&a), CORIO_AF_UNIX);
    cr_assert_eq(corio_addr_format(&a, text, sizeof text), 5 + 108);
    cr_assert_str_eq(text, want);
#endif
}

/* ------------------------------------------------------------------ */
/* Stream echo over TCP / IPv6 / Unix                                  */
/* ------------------------------------------------------------------ */

/* One session: a server task echoes one connection; the client writes
 * `total` bytes from one task while reading the echo in another, so the
 * same descriptor has a parked reader and a parked writer at once. */
typedef struct session {
    corio_addr listen_at;
    size_t total;
    int skip_if_unavailable; /* ::1 may not exist on this machine */
    int skipped;
    char skip_reason[128];
    tally t;
    /* client state */
    corio_fd cfd;
    int64_t deadline;
    ptrdiff_t sent;
    ptrdiff_t received;
} session;

static void *session_writer(void *arg)
{
    session *s = arg;
    unsigned char chunk[8192];
    size_t off = 0;
    while (off < s->total) {
        size_t n = s->total - off < sizeof chunk ? s->total - off
                                                 : sizeof chunk;
        for (size_t i = 0; i < n; i++) chunk[i] = pattern(off + i);
        ptrdiff_t w = send_all(s->cfd, chunk, n, s->deadline);
        NOTE(&s->t, w == (ptrdiff_t)n, "send_all: %td (%s)", w,
             w < 0 ? corio_strerror((int)w) : "short");
        if (w != (ptrdiff_t)n) return NULL;
        off += n;
    }
    s->sent = (ptrdiff_t)off;
    /* FIN: the server's recv sees 0, echoes nothing more and closes. */
    NOTE(&s->t, corio__io_shutdown_write(s->cfd) == 0, "shutdown_write");
    return NULL;
}

static void *session_main(void *arg)
{
    session *s = arg;
    s->deadline = corio_deadline_in(CORIO_SEC(30));

    corio_fd lfd;
    corio_addr bound;
    int rc = listen_on(&s->listen_at, 8, &lfd, &bound);
    if (rc < 0 && s->skip_if_unavailable) {
        s->skipped = 1;
        snprintf(s->skip_reason, sizeof s->skip_reason, "listen: %s",
                 corio_strerror(rc));
        return NULL;
    }
    NOTE(&s->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    if (corio_addr_family(&bound) != CORIO_AF_UNIX)
        NOTE(&s->t, corio_addr_port(&bound) > 0, "bound port %d",
             corio_addr_port(&bound));

    rc = dial(&bound, &s->cfd, s->deadline);
    NOTE(&s->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc < 0) { corio__io_close(lfd); return NULL; }

    echo_conn server = { .deadline = s->deadline };
    corio_addr peer;
    rc = corio__io_accept(lfd, &server.fd, &peer, s->deadline);
    NOTE(&s->t, rc == 0, "accept: %s", corio_strerror(rc));
    corio__io_close(lfd);
    if (rc < 0) { corio__io_close(s->cfd); return NULL; }

    /* Both ends agree on who is who. */
    char a[96], b[96];
    corio_addr mine, theirs;
    NOTE(&s->t, corio__io_peer_addr(s->cfd, &theirs) == 0, "peer_addr");
    corio_addr_format(&theirs, a, sizeof a);
    corio_addr_format(&bound, b, sizeof b);
    NOTE(&s->t, strcmp(a, b) == 0, "client's peer %s != listener %s", a, b);
    if (corio_addr_family(&bound) != CORIO_AF_UNIX) {
        NOTE(&s->t, corio__io_local_addr(s->cfd, &mine) == 0, "local_addr");
        corio_addr_format(&mine, a, sizeof a);
        corio_addr_format(&peer, b, sizeof b);
        NOTE(&s->t, strcmp(a, b) == 0, "accept peer %s != client %s", b, a);
    }

    corio_task *srv = corio_spawn(echo_handler, &server, NULL);
    corio_task *wr = corio_spawn(session_writer, s, NULL);
    NOTE(&s->t, srv && wr, "spawn");

    /* Read the echo until EOF and check every byte. */
    unsigned char buf[10000];
    size_t got = 0;
    int bad = 0;
    for (;;) {
        ptrdiff_t n = corio__io_recv(s->cfd, buf, sizeof buf, s->deadline);
        if (n < 0) {
            NOTE(&s->t, 0, "client recv: %s", corio_strerror((int)n));
            break;
        }
        if (n == 0) break;
        for (ptrdiff_t i = 0; i < n && !bad; i++)
            if (buf[i] != pattern(got + (size_t)i)) {
                bad = 1;
                NOTE(&s->t, 0, "byte %zu: got %u want %u",
                     got + (size_t)i, buf[i], pattern(got + (size_t)i));
            }
        got += (size_t)n;
    }
    s->received = (ptrdiff_t)got;
    /* End of stream stays end of stream. */
    ptrdiff_t again = corio__io_recv(s->cfd, buf, sizeof buf, s->deadline);
    NOTE(&s->t, again == 0, "second recv after EOF: %td", again);

    if (wr) corio_join(wr, NULL);
    if (srv) corio_join(srv, NULL);
    NOTE(&s->t, server.status == 0, "server: %s",
         corio_strerror(server.status));
    NOTE(&s->t, server.echoed == (ptrdiff_t)s->total, "server echoed %td",
         server.echoed);
    corio__io_close(s->cfd);
    return NULL;
}

static void run_session(session *s)
{
    cr_assert_eq(run_task(session_main, s), 0);
    if (s->skipped) cr_skip_test("%s", s->skip_reason);
    ASSERT_TALLY_CLEAN(s->t);
    cr_assert_eq(s->sent, (ptrdiff_t)s->total);
    cr_assert_eq(s->received, (ptrdiff_t)s->total);
}

Test(io, tcp_echo_loopback, .timeout = 60)
{
    static session s; /* large-ish; not on the test's stack */
    memset(&s, 0, sizeof s);
    cr_assert_eq(corio_addr_ip(&s.listen_at, "127.0.0.1", 0), 0);
    /* 4 MiB: more than the socket buffers hold, so both the writer and
     * the echo server really park on EAGAIN and are woken again. */
    s.total = 4u << 20;
    run_session(&s);
}

Test(io, tcp_echo_ipv6_loopback, .timeout = 60)
{
    static session s;
    memset(&s, 0, sizeof s);
    cr_assert_eq(corio_addr_ip(&s.listen_at, "::1", 0), 0);
    s.total = 256u << 10;
    s.skip_if_unavailable = 1;
    run_session(&s);
}

Test(io, unix_domain_echo, .timeout = 60)
{
    static session s;
    memset(&s, 0, sizeof s);
    /* A fresh path per run: tests may run side by side. */
    char path[96];
    snprintf(path, sizeof path, "/tmp/corio-test-io-%lld.sock",
             (long long)corio_now());
    int rc = corio_addr_unix(&s.listen_at, path);
    if (rc == CORIO_ENOTSUP) cr_skip_test("no Unix-domain sockets here");
    cr_assert_eq(rc, 0);
    remove(path);
    s.total = 1u << 20;
    run_session(&s);
    remove(path);
}

/* ------------------------------------------------------------------ */
/* One loop serves 1,000 connections                                   */
/* ------------------------------------------------------------------ */

#define MANY 1000
#define MSG_LEN 100

typedef struct many {
    corio_addr bound;
    corio_fd lfd;
    int64_t deadline;
    int accepted;
    int clients_ok;
    echo_conn conns[MANY];
    corio_task *handlers[MANY];
    tally t;
} many;

typedef struct client_arg { many *m; int id; } client_arg;

static void *many_server(void *arg)
{
    many *m = arg;
    for (int i = 0; i < MANY; i++) {
        echo_conn *c = &m->conns[i];
        c->deadline = m->deadline;
        int rc = corio__io_accept(m->lfd, &c->fd, NULL, m->deadline);
        NOTE(&m->t, rc == 0, "accept #%d: %s", i, corio_strerror(rc));
        if (rc < 0) break;
        m->handlers[i] = corio_spawn(echo_handler, c, NULL);
        NOTE(&m->t, m->handlers[i] != NULL, "spawn handler #%d", i);
        if (!m->handlers[i]) { corio__io_close(c->fd); break; }
        m->accepted++;
    }
    for (int i = 0; i < m->accepted; i++) {
        corio_join(m->handlers[i], NULL);
        NOTE(&m->t, m->conns[i].status == 0 &&
                    m->conns[i].echoed == MSG_LEN,
             "handler #%d: status %s, echoed %td", i,
             corio_strerror(m->conns[i].status), m->conns[i].echoed);
    }
    return NULL;
}

static void *many_client(void *arg)
{
    client_arg *ca = arg;
    many *m = ca->m;
    unsigned char out[MSG_LEN], in[MSG_LEN];
    for (int i = 0; i < MSG_LEN; i++)
        out[i] = (unsigned char)(ca->id * 7 + i * 13);

    corio_fd fd;
    int rc = dial(&m->bound, &fd, m->deadline);
    NOTE(&m->t, rc == 0, "client %d connect: %s", ca->id,
         corio_strerror(rc));
    if (rc < 0) return NULL;
    ptrdiff_t w = send_all(fd, out, sizeof out, m->deadline);
    ptrdiff_t r = recv_exact(fd, in, sizeof in, m->deadline);
    NOTE(&m->t, w == MSG_LEN && r == MSG_LEN, "client %d: sent %td got %td",
         ca->id, w, r);
    if (r == MSG_LEN && memcmp(in, out, sizeof in) == 0) m->clients_ok++;
    else NOTE(&m->t, 0, "client %d: echo differs", ca->id);
    corio__io_close(fd); /* the handler sees EOF and finishes */
    return NULL;
}

static void *many_main(void *arg)
{
    many *m = arg;
    m->deadline = corio_deadline_in(CORIO_SEC(60));
    int rc = listen_loopback(MANY, &m->lfd, &m->bound);
    NOTE(&m->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    static client_arg args[MANY];
    static corio_task *clients[MANY];
    corio_task *server = corio_spawn(many_server, m, NULL);
    NOTE(&m->t, server != NULL, "spawn server");
    int spawned = 0;
    for (int i = 0; i < MANY; i++) {
        args[i].m = m;
        args[i].id = i;
        clients[i] = corio_spawn(many_client, &args[i], NULL);
        NOTE(&m->t, clients[i] != NULL, "spawn client %d", i);
        if (!clients[i]) break;
        spawned++;
    }
    for (int i = 0; i < spawned; i++) corio_join(clients[i], NULL);
    /* If a client never came, the server's accept would wait until the
     * deadline: cut it short instead (its handlers are still joined). */
    if (server && spawned < MANY) corio_cancel(server);
    if (server) corio_join(server, NULL);
    corio__io_close(m->lfd);
    return NULL;
}

Test(io, thousand_connections_one_loop, .timeout = 120)
{
    static many m;
    memset(&m, 0, sizeof m);
    cr_assert_eq(run_task(many_main, &m), 0);
    ASSERT_TALLY_CLEAN(m.t);
    cr_assert_eq(m.accepted, MANY);
    cr_assert_eq(m.clients_ok, MANY);
}

/* ------------------------------------------------------------------ */
/* UDP                                                                 */
/* ------------------------------------------------------------------ */

#define UDP_ROUNDS 200

typedef struct udp {
    corio_fd server, client;
    corio_addr server_addr, client_addr;
    int64_t deadline;
    int rounds_ok;
    tally t;
} udp;

static void *udp_server(void *arg)
{
    udp *u = arg;
    unsigned char buf[2048];
    for (int i = 0; i < UDP_ROUNDS; i++) {
        corio_addr from;
        ptrdiff_t n = corio__io_recvfrom(u->server, buf, sizeof buf, &from,
                                        u->deadline);
        NOTE(&u->t, n > 0, "server recvfrom: %td", n);
        if (n <= 0) return NULL;
        char a[96], b[96];
        corio_addr_format(&from, a, sizeof a);
        corio_addr_format(&u->client_addr, b, sizeof b);
        NOTE(&u->t, strcmp(a, b) == 0, "datagram from %s, not %s", a, b);
        /* Answer with each byte turned over, so an echo bug shows. */
        for (ptrdiff_t k = 0; k < n; k++) buf[k] = (unsigned char)~buf[k];
        ptrdiff_t w = corio__io_sendto(u->server, buf, (size_t)n, &from,
                                      u->deadline);
        NOTE(&u->t, w == n, "server sendto: %td", w);
    }
    return NULL;
}

static int udp_socket_on_loopback(corio_fd *fd, corio_addr *bound)
{
    corio_addr at;
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio__io_socket(CORIO_AF_INET, CORIO_SOCK_DGRAM, fd);
    if (rc < 0) return rc;
    rc = corio__io_bind(*fd, &at);
    if (rc == 0) rc = corio__io_local_addr(*fd, bound);
    if (rc < 0) corio__io_close(*fd);
    return rc;
}

static void *udp_main(void *arg)
{
    udp *u = arg;
    u->deadline = corio_deadline_in(CORIO_SEC(30));
    int rc = udp_socket_on_loopback(&u->server, &u->server_addr);
    NOTE(&u->t, rc == 0, "server socket: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    rc = udp_socket_on_loopback(&u->client, &u->client_addr);
    NOTE(&u->t, rc == 0, "client socket: %s", corio_strerror(rc));
    if (rc < 0) { corio__io_close(u->server); return NULL; }

    corio_task *srv = corio_spawn(udp_server, u, NULL);
    NOTE(&u->t, srv != NULL, "spawn");
    for (int i = 0; srv && i < UDP_ROUNDS; i++) {
        /* Sizes 1..1400: a datagram arrives whole or not at all. */
        size_t len = 1 + (size_t)(i * 37) % 1400;
        unsigned char out[1400], in[2048];
        for (size_t k = 0; k < len; k++) out[k] = pattern(k + (size_t)i);
        ptrdiff_t w = corio__io_sendto(u->client, out, len, &u->server_addr,
                                      u->deadline);
        NOTE(&u->t, w == (ptrdiff_t)len, "round %d sendto: %td", i, w);
        corio_addr from;
        ptrdiff_t n = corio__io_recvfrom(u->client, in, sizeof in, &from,
                                        u->deadline);
        NOTE(&u->t, n == (ptrdiff_t)len, "round %d: got %td of %zu", i, n,
             len);
        if (n != (ptrdiff_t)len) break;
        int same = corio_addr_port(&from) == corio_addr_port(&u->server_addr);
        for (size_t k = 0; k < len && same; k++)
            same = in[k] == (unsigned char)~out[k];
        NOTE(&u->t, same, "round %d: wrong reply", i);
        if (same) u->rounds_ok++;
    }
    if (srv) corio_join(srv, NULL);

    /* Nothing else was sent: a receive with a deadline times out. */
    unsigned char b;
    int64_t dl = corio_deadline_in(CORIO_MS(20));
    ptrdiff_t n = corio__io_recvfrom(u->client, &b, 1, NULL, dl);
    NOTE(&u->t, n == CORIO_ETIMEDOUT, "idle recvfrom: %td", n);
    NOTE(&u->t, corio_now() >= dl, "recvfrom returned before its deadline");

    corio__io_close(u->client);
    corio__io_close(u->server);
    return NULL;
}

Test(io, udp_round_trips, .timeout = 60)
{
    udp u;
    memset(&u, 0, sizeof u);
    cr_assert_eq(run_task(udp_main, &u), 0);
    ASSERT_TALLY_CLEAN(u.t);
    cr_assert_eq(u.rounds_ok, UDP_ROUNDS);
}

/* ------------------------------------------------------------------ */
/* connect: refused and timed out                                      */
/* ------------------------------------------------------------------ */

typedef struct connect_case {
    int refused_rc;
    int timed_out_rc;
    int connected_before_timeout; /* connections the backlog took */
    int deadline_respected;
    tally t;
} connect_case;

static void *connect_refused_main(void *arg)
{
    connect_case *c = arg;
    /* A port that is bound but not listening: ours, so nobody else can
     * start listening on it meanwhile, and the kernel answers a SYN with
     * a reset. */
    corio_addr at, bound;
    corio_fd holder, fd;
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio__io_socket(CORIO_AF_INET, CORIO_SOCK_STREAM, &holder);
    if (rc == 0) rc = corio__io_bind(holder, &at);
    if (rc == 0) rc = corio__io_local_addr(holder, &bound);
    NOTE(&c->t, rc == 0, "holder socket: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    rc = corio__io_socket(CORIO_AF_INET, CORIO_SOCK_STREAM, &fd);
    NOTE(&c->t, rc == 0, "socket: %s", corio_strerror(rc));
    if (rc == 0) {
        c->refused_rc = corio__io_connect(fd, &bound,
                                         corio_deadline_in(CORIO_SEC(10)));
        corio__io_close(fd);
    }
    corio__io_close(holder);
    return NULL;
}

Test(io, connect_refused, .timeout = 30)
{
    connect_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(connect_refused_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.refused_rc, CORIO_ECONNREFUSED, "connect: %s",
                 corio_strerror(c.refused_rc));
}

#define BACKLOG_PROBES 16

static void *connect_timeout_main(void *arg)
{
    connect_case *c = arg;
    /* A listener that never accepts, with the smallest backlog: once its
     * queue is full the kernel drops further SYNs (the client would
     * retransmit after a second), so a short deadline expires first. All
     * of it stays on 127.0.0.1. */
    corio_fd lfd, fds[BACKLOG_PROBES];
    corio_addr bound;
    int rc = listen_loopback(0, &lfd, &bound);
    NOTE(&c->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    int open = 0;
    c->timed_out_rc = 1; /* "never tried" */
    for (int i = 0; i < BACKLOG_PROBES; i++) {
        rc = corio__io_socket(CORIO_AF_INET, CORIO_SOCK_STREAM, &fds[open]);
        NOTE(&c->t, rc == 0, "socket: %s", corio_strerror(rc));
        if (rc < 0) break;
        int64_t dl = corio_deadline_in(CORIO_MS(100));
        rc = corio__io_connect(fds[open], &bound, dl);
        if (rc == 0) {
            c->connected_before_timeout++;
            open++;
            continue;
        }
        c->timed_out_rc = rc;
        c->deadline_respected = corio_now() >= dl;
        corio__io_close(fds[open]);
        break;
    }
    for (int i = 0; i < open; i++) corio__io_close(fds[i]);
    corio__io_close(lfd);
    return NULL;
}

Test(io, connect_deadline_expires, .timeout = 30)
{
    connect_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(connect_timeout_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_log_info("backlog took %d connection(s) first",
                c.connected_before_timeout);
    cr_assert_eq(c.timed_out_rc, CORIO_ETIMEDOUT, "connect: %s",
                 c.timed_out_rc == 1 ? "every probe connected"
                                     : corio_strerror(c.timed_out_rc));
    cr_assert(c.deadline_respected, "connect returned before its deadline");
}

/* ------------------------------------------------------------------ */
/* Deadlines on accept and recv                                        */
/* ------------------------------------------------------------------ */

typedef struct deadlines {
    int accept_rc, recv_rc;
    int accept_late_enough, recv_late_enough;
    tally t;
} deadlines;

static void *deadlines_main(void *arg)
{
    deadlines *d = arg;
    corio_fd lfd, c, s;
    corio_addr bound;
    int rc = listen_loopback(4, &lfd, &bound);
    NOTE(&d->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_fd unused;
    int64_t dl = corio_deadline_in(CORIO_MS(30));
    d->accept_rc = corio__io_accept(lfd, &unused, NULL, dl);
    d->accept_late_enough = corio_now() >= dl;
    if (d->accept_rc == 0) corio__io_close(unused);
    corio__io_close(lfd);

    rc = tcp_pair(&c, &s, corio_deadline_in(CORIO_SEC(10)));
    NOTE(&d->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    char b;
    dl = corio_deadline_in(CORIO_MS(30));
    d->recv_rc = (int)corio__io_recv(s, &b, 1, dl);
    d->recv_late_enough = corio_now() >= dl;
    /* A deadline already past still lets a ready operation through. */
    NOTE(&d->t, corio__io_send(c, "x", 1, 0) == 1, "send with past deadline");
    ptrdiff_t n = corio__io_recv(s, &b, 1, corio_deadline_in(CORIO_SEC(10)));
    NOTE(&d->t, n == 1 && b == 'x', "recv after timeout: %td", n);
    corio__io_close(c);
    corio__io_close(s);
    return NULL;
}

Test(io, accept_and_recv_deadlines, .timeout = 30)
{
    deadlines d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(run_task(deadlines_main, &d), 0);
    ASSERT_TALLY_CLEAN(d.t);
    cr_assert_eq(d.accept_rc, CORIO_ETIMEDOUT, "accept: %s",
                 corio_strerror(d.accept_rc));
    cr_assert_eq(d.recv_rc, CORIO_ETIMEDOUT, "recv: %s",
                 corio_strerror(d.recv_rc));
    cr_assert(d.accept_late_enough, "accept returned before its deadline");
    cr_assert(d.recv_late_enough, "recv returned before its deadline");
}

/* ------------------------------------------------------------------ */
/* Cancellation and close while a task waits                           */
/* ------------------------------------------------------------------ */

typedef struct waiter_arg {
    corio_fd fd;
    ptrdiff_t rc;      /* what the blocking call returned */
    ptrdiff_t sent;    /* writer: bytes accepted before it blocked */
    char got[16];
} waiter_arg;

static void *blocked_reader(void *arg)
{
    waiter_arg *w = arg;
    w->rc = corio__io_recv(w->fd, w->got, sizeof w->got - 1,
                          corio_deadline_in(CORIO_SEC(20)));
    return NULL;
}

/* Send until the socket buffers are full and the send parks; bounded by
 * count (the buffers hold a few MiB at most) and by the deadline. */
static void *blocked_writer(void *arg)
{
    waiter_arg *w = arg;
    static const char chunk[65536];
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    for (int i = 0; i < 100000; i++) {
        ptrdiff_t n = corio__io_send(w->fd, chunk, sizeof chunk, dl);
        if (n < 0) { w->rc = n; return NULL; }
        w->sent += n;
    }
    w->rc = 1; /* never blocked: the test reports it */
    return NULL;
}

typedef struct cancel_case {
    int reader_status;
    ptrdiff_t reader_rc;
    ptrdiff_t second_rc;
    char second_got[16];
    tally t;
} cancel_case;

static void *cancel_main(void *arg)
{
    cancel_case *cc = arg;
    corio_fd c, s;
    int rc = tcp_pair(&c, &s, corio_deadline_in(CORIO_SEC(10)));
    NOTE(&cc->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    waiter_arg first = { .fd = s, .rc = 99 };
    corio_task *r = corio_spawn(blocked_reader, &first, NULL);
    NOTE(&cc->t, r != NULL, "spawn");
    if (!r) goto out;
    NOTE(&cc->t, until_parked(r) == 0, "reader never parked");
    NOTE(&cc->t, corio_cancel(r) == 0, "cancel");
    cc->reader_status = corio_join(r, NULL);
    cc->reader_rc = first.rc;

    /* The socket is intact: a second reader gets what is sent next (its
     * reader slot was freed, or this would be CORIO_EBUSY). */
    waiter_arg second = { .fd = s, .rc = 99 };
    r = corio_spawn(blocked_reader, &second, NULL);
    NOTE(&cc->t, r != NULL, "spawn");
    if (!r) goto out;
    NOTE(&cc->t, until_parked(r) == 0, "second reader never parked");
    NOTE(&cc->t, send_all(c, "after", 5, corio_deadline_in(CORIO_SEC(10)))
                 == 5, "send");
    NOTE(&cc->t, corio_join(r, NULL) == 0, "second reader status");
    cc->second_rc = second.rc;
    memcpy(cc->second_got, second.got, sizeof second.got);
out:
    corio__io_close(c);
    corio__io_close(s);
    return NULL;
}

Test(io, cancel_blocked_recv, .timeout = 30)
{
    cancel_case cc;
    memset(&cc, 0, sizeof cc);
    cr_assert_eq(run_task(cancel_main, &cc), 0);
    ASSERT_TALLY_CLEAN(cc.t);
    cr_assert_eq(cc.reader_rc, CORIO_ECANCELED, "recv: %td", cc.reader_rc);
    cr_assert_eq(cc.reader_status, CORIO_ECANCELED);
    cr_assert_eq(cc.second_rc, 5, "second recv: %td", cc.second_rc);
    cr_assert_str_eq(cc.second_got, "after");
}

typedef struct close_case {
    ptrdiff_t reader_rc, writer_rc, writer_sent;
    tally t;
} close_case;

static void *close_main(void *arg)
{
    close_case *cc = arg;
    corio_fd c, s;
    int rc = tcp_pair(&c, &s, corio_deadline_in(CORIO_SEC(10)));
    NOTE(&cc->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    /* One task parked reading and one parked writing the same socket
     * (the peer never reads, so the writer fills the buffers). */
    waiter_arg rd = { .fd = c, .rc = 99 }, wr = { .fd = c, .rc = 99 };
    corio_task *tr = corio_spawn(blocked_reader, &rd, NULL);
    corio_task *tw = corio_spawn(blocked_writer, &wr, NULL);
    NOTE(&cc->t, tr && tw, "spawn");
    if (tr) NOTE(&cc->t, until_parked(tr) == 0, "reader never parked");
    if (tw) NOTE(&cc->t, until_parked(tw) == 0, "writer never parked");

    /* This task closes it under them: both wake with CORIO_ECLOSED. */
    NOTE(&cc->t, corio__io_close(c) == 0, "close");
    if (tr) corio_join(tr, NULL);
    if (tw) corio_join(tw, NULL);
    cc->reader_rc = rd.rc;
    cc->writer_rc = wr.rc;
    cc->writer_sent = wr.sent;
    corio__io_close(s);
    return NULL;
}

Test(io, close_while_waited_on, .timeout = 30)
{
    close_case cc;
    memset(&cc, 0, sizeof cc);
    cr_assert_eq(run_task(close_main, &cc), 0);
    ASSERT_TALLY_CLEAN(cc.t);
    cr_assert_eq(cc.reader_rc, CORIO_ECLOSED, "reader: %td", cc.reader_rc);
    cr_assert_eq(cc.writer_rc, CORIO_ECLOSED, "writer: %td (after %td bytes)",
                 cc.writer_rc, cc.writer_sent);
    cr_assert_gt(cc.writer_sent, 0);
}

/* ------------------------------------------------------------------ */
/* Peer gone, EOF                                                      */
/* ------------------------------------------------------------------ */

typedef struct vanish {
    corio_fd server;
    ptrdiff_t write_rc;
    ptrdiff_t again_rc; /* a send after the first failure */
    ptrdiff_t written;
    tally t;
} vanish;

/* Read a little, then close with unread data: the kernel answers with a
 * reset, and the writer's next sends fail. */
static void *vanishing_peer(void *arg)
{
    vanish *v = arg;
    char buf[1024];
    ptrdiff_t n = corio__io_recv(v->server, buf, sizeof buf,
                                corio_deadline_in(CORIO_SEC(10)));
    NOTE(&v->t, n > 0, "peer recv: %td", n);
    corio__io_close(v->server);
    return NULL;
}

static void *vanish_main(void *arg)
{
    vanish *v = arg;
    corio_fd c;
    int rc = tcp_pair(&c, &v->server, corio_deadline_in(CORIO_SEC(10)));
    NOTE(&v->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_task *peer = corio_spawn(vanishing_peer, v, NULL);
    NOTE(&v->t, peer != NULL, "spawn");

    /* Keep writing while the peer goes away. A SIGPIPE here would kill
     * the test process, which Criterion reports as a crash. */
    static const char chunk[16384];
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    v->write_rc = 1;
    for (int i = 0; i < 100000; i++) {
        ptrdiff_t n = corio__io_send(c, chunk, sizeof chunk, dl);
        if (n < 0) { v->write_rc = n; break; }
        v->written += n;
    }
    /* Linux reports the reset once (ECONNRESET); the sends after it are
     * the ones that would raise SIGPIPE without MSG_NOSIGNAL (EPIPE). */
    v->again_rc = corio__io_send(c, chunk, sizeof chunk, dl);
    if (peer) corio_join(peer, NULL);
    corio__io_close(c);
    return NULL;
}

Test(io, peer_vanishes_mid_write, .timeout = 30)
{
    vanish v;
    memset(&v, 0, sizeof v);
    signal_handler previous = sigpipe_fatal();
    int status = run_task(vanish_main, &v);
    sigpipe_restore(previous);
    cr_assert_eq(status, 0);
    ASSERT_TALLY_CLEAN(v.t);
    cr_assert(v.write_rc == CORIO_EPIPE || v.write_rc == CORIO_ECONNRESET,
              "send ended with %td (%s) after %td bytes", v.write_rc,
              v.write_rc < 0 ? corio_strerror((int)v.write_rc) : "no error",
              v.written);
    cr_assert(v.again_rc == CORIO_EPIPE || v.again_rc == CORIO_ECONNRESET,
              "next send: %td", v.again_rc);
}

typedef struct eof_case {
    ptrdiff_t server_first, server_again, client_after_close;
    tally t;
} eof_case;

static void *eof_main(void *arg)
{
    eof_case *e = arg;
    corio_fd c, s;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    int rc = tcp_pair(&c, &s, dl);
    NOTE(&e->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    char b[8];
    NOTE(&e->t, corio__io_shutdown_write(c) == 0, "shutdown_write");
    e->server_first = corio__io_recv(s, b, sizeof b, dl);
    e->server_again = corio__io_recv(s, b, sizeof b, dl);
    /* Half-closed is only half: the other direction still works. */
    NOTE(&e->t, send_all(s, "late", 4, dl) == 4, "send after peer's FIN");
    NOTE(&e->t, recv_exact(c, b, 4, dl) == 4 && memcmp(b, "late", 4) == 0,
         "recv after own shutdown_write");
    corio__io_close(s);
    e->client_after_close = corio__io_recv(c, b, sizeof b, dl);
    corio__io_close(c);
    return NULL;
}

Test(io, eof_returns_zero, .timeout = 30)
{
    eof_case e;
    memset(&e, 0, sizeof e);
    cr_assert_eq(run_task(eof_main, &e), 0);
    ASSERT_TALLY_CLEAN(e.t);
    cr_assert_eq(e.server_first, 0);
    cr_assert_eq(e.server_again, 0);
    cr_assert_eq(e.client_after_close, 0);
}

/*
 * A short read on a TCP socket lets the next recv park without asking the
 * kernel (the "drained" hint, poller/fdtable.h). These two cases are the
 * ones that hint must not break. Each would hang until its deadline (and
 * fail) if an edge were missed.
 */
typedef struct drained_case {
    ptrdiff_t first, second, third;
    char got[8];
    long exchanges;
    tally t;
} drained_case;

/* The reader parks first (so the socket is attached), then the peer sends
 * the last bytes and its FIN together: one event, and one short recv that
 * takes the bytes and consumes the FIN behind them. The next recv must
 * return 0 at once: no edge will ever come again. */
static void *fin_reader(void *arg)
{
    void **a = arg;
    drained_case *d = a[0];
    corio_fd s = *(corio_fd *)a[1];
    int64_t dl = corio_deadline_in(CORIO_SEC(5));
    d->first = corio__io_recv(s, d->got, sizeof d->got, dl);
    d->second = corio__io_recv(s, d->got + 3, sizeof d->got - 3, dl);
    d->third = corio__io_recv(s, d->got + 3, sizeof d->got - 3, dl);
    return NULL;
}

static void *drained_fin_main(void *arg)
{
    drained_case *d = arg;
    corio_fd c, s;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    int rc = tcp_pair(&c, &s, dl);
    NOTE(&d->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    void *a[2] = { d, &s };
    corio_task *r = corio_spawn(fin_reader, a, NULL);
    NOTE(&d->t, r && until_parked(r) == 0, "reader never parked");
    NOTE(&d->t, send_all(c, "abc", 3, dl) == 3, "send");
    NOTE(&d->t, corio__io_shutdown_write(c) == 0, "shutdown_write");
    if (r) corio_join(r, NULL);
    corio__io_close(s);
    corio__io_close(c);
    return NULL;
}

Test(io, short_read_with_fin_then_eof, .timeout = 30)
{
    drained_case d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(run_task(drained_fin_main, &d), 0);
    ASSERT_TALLY_CLEAN(d.t);
    cr_assert_eq(d.first, 3, "first recv: %td", d.first);
    cr_assert_eq(memcmp(d.got, "abc", 3), 0);
    cr_assert_eq(d.second, 0, "after the FIN: %td (%s)", d.second,
                 d.second < 0 ? corio_strerror((int)d.second) : "data?");
    cr_assert_eq(d.third, 0);
}

/* Request/response: every recv is short (4 bytes into 64), so every next
 * recv parks on the hint alone, and the next message's edge must wake it.
 * 2,000 exchanges, each side on its own task. */
#define EXCHANGES 2000

static void *pingpong_peer(void *arg)
{
    void **a = arg;
    drained_case *d = a[0];
    corio_fd c = *(corio_fd *)a[1];
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    char b[64];
    for (long i = 0; i < EXCHANGES; i++) {
        if (send_all(c, "ping", 4, dl) != 4) { NOTE(&d->t, 0, "peer send %ld", i); break; }
        ptrdiff_t n = corio__io_recv(c, b, sizeof b, dl);
        if (n != 4) { NOTE(&d->t, 0, "peer recv %ld: %td", i, n); break; }
    }
    corio__io_shutdown_write(c);
    return NULL;
}

static void *drained_pingpong_main(void *arg)
{
    drained_case *d = arg;
    corio_fd c, s;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    int rc = tcp_pair(&c, &s, dl);
    NOTE(&d->t, rc == 0, "tcp_pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    void *a[2] = { d, &c };
    corio_task *peer = corio_spawn(pingpong_peer, a, NULL);
    char b[64];
    for (;;) {
        ptrdiff_t n = corio__io_recv(s, b, sizeof b, dl);
        if (n == 0) break;
        if (n != 4) { NOTE(&d->t, 0, "recv: %td", n); break; }
        if (send_all(s, "pong", 4, dl) != 4) { NOTE(&d->t, 0, "send"); break; }
        d->exchanges++;
    }
    if (peer) corio_join(peer, NULL);
    corio__io_close(s);
    corio__io_close(c);
    return NULL;
}

Test(io, short_reads_request_response, .timeout = 60)
{
    drained_case d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(run_task(drained_pingpong_main, &d), 0);
    ASSERT_TALLY_CLEAN(d.t);
    cr_assert_eq(d.exchanges, EXCHANGES);
}

/* ------------------------------------------------------------------ */
/* Pipes (Unix only: the pipes a subprocess gets)                      */
/* ------------------------------------------------------------------ */

#ifndef _WIN32
typedef struct pipe_case {
    int fds[2];   /* read end, write end: the live pair */
    int dead[2];  /* a pair whose read end we close */
    ptrdiff_t idle_rc, data_rc, eof_rc, epipe_rc;
    char got[16];
    tally t;
} pipe_case;

static void *pipe_reader(void *arg)
{
    pipe_case *p = arg;
    p->data_rc = corio__io_read(p->fds[0], p->got, sizeof p->got - 1,
                               corio_deadline_in(CORIO_SEC(10)));
    return NULL;
}

static void *pipe_main(void *arg)
{
    pipe_case *p = arg;
    char b;
    p->idle_rc = corio__io_read(p->fds[0], &b, 1,
                               corio_deadline_in(CORIO_MS(20)));
    corio_task *r = corio_spawn(pipe_reader, p, NULL);
    NOTE(&p->t, r != NULL, "spawn");
    if (r) NOTE(&p->t, until_parked(r) == 0, "reader never parked");
    NOTE(&p->t, corio__io_write(p->fds[1], "hello", 5, CORIO_NEVER) == 5,
         "write");
    if (r) corio_join(r, NULL);
    corio__io_close(p->fds[1]);
    p->eof_rc = corio__io_read(p->fds[0], &b, 1,
                              corio_deadline_in(CORIO_SEC(10)));
    corio__io_close(p->fds[0]);

    corio__io_close(p->dead[0]);
    p->epipe_rc = corio__io_write(p->dead[1], "x", 1, CORIO_NEVER);
    corio__io_close(p->dead[1]);
    return NULL;
}

static void make_nonblocking_pipe(int fds[2])
{
    cr_assert_eq(pipe(fds), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(fcntl(fds[i], F_SETFL,
                           fcntl(fds[i], F_GETFL) | O_NONBLOCK), 0);
        cr_assert_eq(fcntl(fds[i], F_SETFD, FD_CLOEXEC), 0);
    }
}
#endif

Test(io, pipe_read_write, .timeout = 30)
{
#ifdef _WIN32
    cr_skip_test("pipes are Unix descriptors");
#else
    pipe_case p;
    memset(&p, 0, sizeof p);
    make_nonblocking_pipe(p.fds);
    make_nonblocking_pipe(p.dead);
    signal_handler previous = sigpipe_fatal();
    int status = run_task(pipe_main, &p);
    sigpipe_restore(previous);
    cr_assert_eq(status, 0);
    ASSERT_TALLY_CLEAN(p.t);
    cr_assert_eq(p.idle_rc, CORIO_ETIMEDOUT);
    cr_assert_eq(p.data_rc, 5);
    cr_assert_str_eq(p.got, "hello");
    cr_assert_eq(p.eof_rc, 0);
    /* The reader is gone: an error code, and the process is still here. */
    cr_assert_eq(p.epipe_rc, CORIO_EPIPE, "write: %td", p.epipe_rc);
#endif
}

/* ------------------------------------------------------------------ */
/* accept at the descriptor limit (Unix only: it needs setrlimit)       */
/* ------------------------------------------------------------------ */

#ifndef _WIN32
#define FD_LIMIT 256

typedef struct emfile_case {
    int fill_errno_was_emfile;
    int full_rc, still_full_rc, after_free_rc;
    tally t;
} emfile_case;

static void *emfile_main(void *arg)
{
    emfile_case *e = arg;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    corio_fd lfd, client, accepted;
    corio_addr bound;
    int rc = listen_loopback(4, &lfd, &bound);
    NOTE(&e->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    /* The kernel completes the handshake: a connection waits in the
     * listener's queue for an accept that cannot get a descriptor. */
    rc = dial(&bound, &client, dl);
    NOTE(&e->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc < 0) { corio__io_close(lfd); return NULL; }

    /* Use up every descriptor the (lowered) limit allows. */
    static int fillers[FD_LIMIT];
    int n = 0;
    while (n < FD_LIMIT) {
        int fd = dup(lfd);
        if (fd < 0) { e->fill_errno_was_emfile = errno == EMFILE; break; }
        fillers[n++] = fd;
    }

    /* Full: accept answers at once instead of parking or spinning, and
     * the connection stays queued for later. */
    e->full_rc = corio__io_accept(lfd, &accepted, NULL, dl);
    e->still_full_rc = corio__io_accept(lfd, &accepted, NULL, dl);
    if (e->full_rc == 0) corio__io_close(accepted);
    if (e->still_full_rc == 0) corio__io_close(accepted);

    if (n > 0) close(fillers[--n]); /* one descriptor free again */
    e->after_free_rc = corio__io_accept(lfd, &accepted, NULL, dl);
    if (e->after_free_rc == 0) corio__io_close(accepted);

    while (n > 0) close(fillers[--n]);
    corio__io_close(client);
    corio__io_close(lfd);
    return NULL;
}
#endif

Test(io, accept_at_descriptor_limit, .timeout = 30)
{
#ifdef _WIN32
    cr_skip_test("no per-process descriptor limit to lower");
#else
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < FD_LIMIT)
        cr_skip_test("descriptor limit is already below %d", FD_LIMIT);
    emfile_case e;
    memset(&e, 0, sizeof e);
    low = old;
    low.rlim_cur = FD_LIMIT; /* bounds the fill loop; restored below */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int status = run_task(emfile_main, &e);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(status, 0);
    ASSERT_TALLY_CLEAN(e.t);
    cr_assert(e.fill_errno_was_emfile, "the fill loop never hit EMFILE");
    cr_assert_eq(e.full_rc, CORIO_EMFILE, "accept: %s",
                 corio_strerror(e.full_rc));
    cr_assert_eq(e.still_full_rc, CORIO_EMFILE, "second accept: %s",
                 corio_strerror(e.still_full_rc));
    cr_assert_eq(e.after_free_rc, 0, "accept after freeing one: %s",
                 corio_strerror(e.after_free_rc));
#endif
}
