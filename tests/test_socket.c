/*
 * test_socket.c — net/socket.c: the public TCP, Unix-domain and UDP calls.
 *
 * os/io.h's own suite (test_io.c) checks the raw operations; this one
 * checks what net/socket.c adds on top: listeners with their options,
 * TCP_NODELAY on connected and accepted sockets, connect-by-name trying
 * each address, deadlines and cancellation through the public calls, and
 * dead peers that end in an error code (never SIGPIPE).
 *
 * As in test_io.c, tasks never assert: they note what they saw in a
 * `tally`, and the test asserts once the loop is closed (a failed
 * cr_assert must not unwind a coroutine stack). Everything binds 127.0.0.1
 * or ::1. Only corio's API is used, so the suite also runs under
 * `make test-windows` (Unix-domain cases skip where corio_addr_unix says
 * CORIO_ENOTSUP) and `make test-kqueue`.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

/* Run fn(arg) as the main task of a new loop that must close clean. */
#define run_task corio_test_run_clean
#include "os/io.h" /* corio__io_get_nodelay: read the option back */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */



static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 % 251); }

/* Listen on ip:0 and say which address the kernel picked. */
static int listen_ip(const char *ip, int backlog, corio_fd *lfd,
                     corio_addr *bound)
{
    corio_addr at;
    int rc = corio_addr_ip(&at, ip, 0);
    if (rc < 0) return rc;
    rc = corio_tcp_listen(&at, backlog, 0, lfd);
    if (rc < 0) return rc;
    rc = corio_sock_local_addr(*lfd, bound);
    if (rc < 0) corio_fd_close(*lfd);
    return rc;
}

/* Receive exactly len bytes (fewer if the stream ends). */
static ptrdiff_t recv_exact(corio_fd fd, void *buf, size_t len,
                            int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ptrdiff_t n = corio_sock_recv_until(fd, (char *)buf + done, len - done,
                                            deadline);
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ptrdiff_t)done;
}

/* ------------------------------------------------------------------ */
/* Echo over TCP v4, v6 and Unix-domain sockets                        */
/* ------------------------------------------------------------------ */

#define ECHO_ROUNDS 20
#define ECHO_MSG 3000

typedef struct echo_case {
    const char *ip;        /* NULL: Unix-domain at `path` */
    char path[128];
    int unavailable;       /* the family cannot listen here: skip */
    corio_fd lfd;
    corio_addr server_saw; /* the accepted peer's address */
    corio_addr client_local;
    int server_status;
    tally t;
} echo_case;

static void *echo_server(void *arg)
{
    echo_case *e = arg;
    corio_fd fd;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    int rc = corio_tcp_accept_until(e->lfd, &fd, &e->server_saw, dl);
    e->server_status = rc;
    if (rc < 0) return NULL;
    char buf[4096];
    for (;;) {
        ptrdiff_t n = corio_sock_recv_until(fd, buf, sizeof buf, dl);
        if (n <= 0) { e->server_status = (int)n; break; }
        rc = corio_sock_send_all_until(fd, buf, (size_t)n, dl);
        if (rc < 0) { e->server_status = rc; break; }
    }
    corio_fd_close(fd);
    return NULL;
}

static void *echo_main(void *arg)
{
    echo_case *e = arg;
    corio_addr bound;
    int rc;
    if (e->ip) {
        rc = listen_ip(e->ip, 8, &e->lfd, &bound);
    } else {
        rc = corio_unix_listen(e->path, 8, &e->lfd);
        if (rc == 0) rc = corio_addr_unix(&bound, e->path);
    }
    if (rc == CORIO_ENOTSUP || (e->ip && rc == CORIO_EADDRNOTAVAIL)) {
        e->unavailable = 1; /* e.g. no IPv6 on this host */
        return NULL;
    }
    NOTE(&e->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    corio_task *server = corio_spawn(echo_server, e, NULL);
    NOTE(&e->t, server != NULL, "spawn");
    corio_fd c;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    rc = e->ip ? corio_tcp_connect_until(&bound, &c, dl)
               : corio_unix_connect_until(e->path, &c, dl);
    NOTE(&e->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc == 0) {
        corio_sock_local_addr(c, &e->client_local);
        static unsigned char out[ECHO_MSG], in[ECHO_MSG];
        for (int r = 0; r < ECHO_ROUNDS && e->t.failures == 0; r++) {
            for (size_t i = 0; i < ECHO_MSG; i++) out[i] = pattern(i + (size_t)r);
            rc = corio_sock_send_all_until(c, out, sizeof out, dl);
            NOTE(&e->t, rc == 0, "send_all: %s", corio_strerror(rc));
            ptrdiff_t n = recv_exact(c, in, sizeof in, dl);
            NOTE(&e->t, n == ECHO_MSG && memcmp(in, out, sizeof in) == 0,
                 "round %d: echo of %td bytes differs", r, n);
        }
        NOTE(&e->t, corio_sock_shutdown_write(c) == 0, "shutdown_write");
        char b;
        ptrdiff_t n = corio_sock_recv_until(c, &b, 1, dl);
        NOTE(&e->t, n == 0, "after our FIN the server closes: %td", n);
        corio_fd_close(c);
    }
    if (server) corio_join(server, NULL);
    corio_fd_close(e->lfd);
    return NULL;
}

static void check_echo(echo_case *e, int family)
{
    cr_assert_eq(run_task(echo_main, e), 0);
    if (e->unavailable) cr_skip_test("cannot listen on this family here");
    ASSERT_TALLY_CLEAN(e->t);
    cr_assert_eq(e->server_status, 0, "server ended with %s",
                 corio_strerror(e->server_status));
    cr_assert_eq(corio_addr_family(&e->server_saw), family);
    if (family != CORIO_AF_UNIX) {
        /* The server's view of the peer is the client's own address. */
        char a[80], b[80];
        corio_addr_format(&e->server_saw, a, sizeof a);
        corio_addr_format(&e->client_local, b, sizeof b);
        cr_assert_str_eq(a, b);
    }
}

Test(socket, tcp_echo_ipv4, .timeout = 60)
{
    static echo_case e;
    memset(&e, 0, sizeof e);
    e.ip = "127.0.0.1";
    check_echo(&e, CORIO_AF_INET);
}

Test(socket, tcp_echo_ipv6, .timeout = 60)
{
    static echo_case e;
    memset(&e, 0, sizeof e);
    e.ip = "::1";
    check_echo(&e, CORIO_AF_INET6);
}

Test(socket, unix_echo, .timeout = 60)
{
    static echo_case e;
    memset(&e, 0, sizeof e);
    snprintf(e.path, sizeof e.path, "/tmp/corio-test-socket-%lld.sock",
             (long long)corio_now());
    corio_addr probe;
    if (corio_addr_unix(&probe, e.path) == CORIO_ENOTSUP)
        cr_skip_test("no Unix-domain sockets on this platform");
    remove(e.path);
    check_echo(&e, CORIO_AF_UNIX);
    remove(e.path);
}

/* ------------------------------------------------------------------ */
/* UDP                                                                 */
/* ------------------------------------------------------------------ */

typedef struct udp_case {
    ptrdiff_t got;
    char text[64];
    char from[80], sender[80];
    ptrdiff_t reply;
    tally t;
} udp_case;

static void *udp_main(void *arg)
{
    udp_case *u = arg;
    corio_addr any, a_addr, b_addr, from;
    corio_fd a, b;
    corio_addr_ip(&any, "127.0.0.1", 0);
    int rc = corio_udp_bind(&any, &a);
    NOTE(&u->t, rc == 0, "bind a: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    rc = corio_udp_bind(&any, &b);
    NOTE(&u->t, rc == 0, "bind b: %s", corio_strerror(rc));
    if (rc < 0) { corio_fd_close(a); return NULL; }
    corio_sock_local_addr(a, &a_addr);
    corio_sock_local_addr(b, &b_addr);
    NOTE(&u->t, corio_addr_port(&b_addr) > 0, "port 0 picked a port");

    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    ptrdiff_t n = corio_udp_sendto_until(a, "ping", 4, &b_addr, dl);
    NOTE(&u->t, n == 4, "sendto: %td", n);
    u->got = corio_udp_recvfrom_until(b, u->text, sizeof u->text - 1, &from,
                                      dl);
    if (u->got >= 0) u->text[u->got] = '\0';
    corio_addr_format(&from, u->from, sizeof u->from);
    corio_addr_format(&a_addr, u->sender, sizeof u->sender);
    /* Reply to whoever it came from. */
    n = corio_udp_sendto_until(b, "pong", 4, &from, dl);
    NOTE(&u->t, n == 4, "reply sendto: %td", n);
    char back[8];
    u->reply = corio_udp_recvfrom_until(a, back, sizeof back, NULL, dl);
    NOTE(&u->t, u->reply == 4 && memcmp(back, "pong", 4) == 0, "pong");
    corio_fd_close(a);
    corio_fd_close(b);
    return NULL;
}

Test(socket, udp_roundtrip, .timeout = 30)
{
    udp_case u;
    memset(&u, 0, sizeof u);
    cr_assert_eq(run_task(udp_main, &u), 0);
    ASSERT_TALLY_CLEAN(u.t);
    cr_assert_eq(u.got, 4);
    cr_assert_str_eq(u.text, "ping");
    cr_assert_str_eq(u.from, u.sender, "recvfrom names the sender");
}

/* ------------------------------------------------------------------ */
/* Connect by name                                                     */
/* ------------------------------------------------------------------ */

typedef struct byname_case {
    int connect_rc, accept_rc;
    int port_seen, port_wanted;
    tally t;
} byname_case;

static void *byname_main(void *arg)
{
    byname_case *b = arg;
    corio_fd lfd, c, s;
    corio_addr bound;
    /* Only on 127.0.0.1: if "localhost" resolves to ::1 first, that
     * attempt is refused and connect_host must go on to the next. */
    int rc = listen_ip("127.0.0.1", 8, &lfd, &bound);
    NOTE(&b->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    b->port_wanted = corio_addr_port(&bound);
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    b->connect_rc = corio_tcp_connect_host_until("localhost", b->port_wanted,
                                                 &c, dl);
    if (b->connect_rc == 0) {
        corio_addr peer;
        b->accept_rc = corio_tcp_accept_until(lfd, &s, NULL, dl);
        corio_sock_peer_addr(c, &peer);
        b->port_seen = corio_addr_port(&peer);
        if (b->accept_rc == 0) corio_fd_close(s);
        corio_fd_close(c);
    }
    /* A literal goes straight through, no resolver. */
    rc = corio_tcp_connect_host_until("127.0.0.1", b->port_wanted, &c, dl);
    NOTE(&b->t, rc == 0, "connect_host literal: %s", corio_strerror(rc));
    if (rc == 0) {
        rc = corio_tcp_accept_until(lfd, &s, NULL, dl);
        if (rc == 0) corio_fd_close(s);
        corio_fd_close(c);
    }
    corio_fd_close(lfd);
    return NULL;
}

Test(socket, connect_host_localhost, .timeout = 60)
{
    byname_case b;
    memset(&b, 0, sizeof b);
    cr_assert_eq(run_task(byname_main, &b), 0);
    ASSERT_TALLY_CLEAN(b.t);
    cr_assert_eq(b.connect_rc, 0, "connect_host: %s",
                 corio_strerror(b.connect_rc));
    cr_assert_eq(b.accept_rc, 0);
    cr_assert_eq(b.port_seen, b.port_wanted);
}

typedef struct refused_case {
    int rc_addr, rc_host;
} refused_case;

static void *refused_main(void *arg)
{
    refused_case *r = arg;
    corio_fd lfd, c;
    corio_addr bound;
    if (listen_ip("127.0.0.1", 1, &lfd, &bound) < 0) return NULL;
    corio_fd_close(lfd); /* the port is now (almost surely) closed */
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    r->rc_addr = corio_tcp_connect_until(&bound, &c, dl);
    if (r->rc_addr == 0) corio_fd_close(c);
    r->rc_host = corio_tcp_connect_host_until("127.0.0.1",
                                              corio_addr_port(&bound),
                                              &c, dl);
    if (r->rc_host == 0) corio_fd_close(c);
    return NULL;
}

Test(socket, connect_refused, .timeout = 30)
{
    refused_case r = { 1, 1 };
    cr_assert_eq(run_task(refused_main, &r), 0);
    cr_assert_eq(r.rc_addr, CORIO_ECONNREFUSED, "connect: %s",
                 corio_strerror(r.rc_addr));
    cr_assert_eq(r.rc_host, CORIO_ECONNREFUSED, "connect_host: %s",
                 corio_strerror(r.rc_host));
}

/* ------------------------------------------------------------------ */
/* Deadlines and cancellation                                          */
/* ------------------------------------------------------------------ */

#define BACKLOG_PROBES 16

typedef struct deadline_case {
    int connect_rc, connected_first, connect_late_enough;
    int host_rc, host_late_enough;
    int accept_rc, accept_late_enough;
    tally t;
} deadline_case;

static void *deadline_main(void *arg)
{
    deadline_case *d = arg;
    /* A listener that never accepts, with the smallest backlog: once its
     * queue is full the kernel drops further SYNs, so the next connect
     * waits for a retransmission that a short deadline beats. */
    corio_fd lfd, fds[BACKLOG_PROBES];
    corio_addr bound;
    int rc = listen_ip("127.0.0.1", 1, &lfd, &bound);
    NOTE(&d->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int open = 0;
    d->connect_rc = 1; /* every probe connected */
    for (int i = 0; i < BACKLOG_PROBES; i++) {
        int64_t dl = corio_deadline_in(CORIO_MS(150));
        rc = corio_tcp_connect_until(&bound, &fds[open], dl);
        if (rc == 0) {
            open++;
            d->connected_first++;
            continue;
        }
        d->connect_rc = rc;
        d->connect_late_enough = corio_now() >= dl;
        break;
    }
    /* The same through connect_host: one deadline for the whole try. */
    if (d->connect_rc == CORIO_ETIMEDOUT) {
        int64_t dl = corio_deadline_in(CORIO_MS(150));
        corio_fd c;
        d->host_rc = corio_tcp_connect_host_until("127.0.0.1",
                                                  corio_addr_port(&bound), &c, dl);
        d->host_late_enough = corio_now() >= dl;
        if (d->host_rc == 0) corio_fd_close(c);
    }
    for (int i = 0; i < open; i++) corio_fd_close(fds[i]);
    corio_fd_close(lfd);

    /* accept with nobody knocking. */
    rc = listen_ip("127.0.0.1", 4, &lfd, &bound);
    NOTE(&d->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_fd s;
    int64_t dl = corio_deadline_in(CORIO_MS(50));
    d->accept_rc = corio_tcp_accept_until(lfd, &s, NULL, dl);
    d->accept_late_enough = corio_now() >= dl;
    if (d->accept_rc == 0) corio_fd_close(s);
    corio_fd_close(lfd);
    return NULL;
}

Test(socket, connect_and_accept_deadlines, .timeout = 30)
{
    deadline_case d;
    memset(&d, 0, sizeof d);
    cr_assert_eq(run_task(deadline_main, &d), 0);
    ASSERT_TALLY_CLEAN(d.t);
    cr_log_info("the backlog took %d connection(s)", d.connected_first);
    cr_assert_eq(d.connect_rc, CORIO_ETIMEDOUT, "connect: %s",
                 d.connect_rc == 1 ? "every probe connected"
                                   : corio_strerror(d.connect_rc));
    cr_assert(d.connect_late_enough, "connect returned before its deadline");
    cr_assert_eq(d.host_rc, CORIO_ETIMEDOUT, "connect_host: %s",
                 corio_strerror(d.host_rc));
    cr_assert(d.host_late_enough, "connect_host returned before its deadline");
    cr_assert_eq(d.accept_rc, CORIO_ETIMEDOUT, "accept: %s",
                 corio_strerror(d.accept_rc));
    cr_assert(d.accept_late_enough, "accept returned before its deadline");
}

typedef struct cancel_case {
    corio_fd lfd, conn;
    int accept_rc;
    ptrdiff_t recv_rc;
    ptrdiff_t recv_after;
    tally t;
} cancel_case;

static void *blocked_accept(void *arg)
{
    cancel_case *c = arg;
    corio_fd s;
    c->accept_rc = corio_tcp_accept(c->lfd, &s, NULL);
    if (c->accept_rc == 0) corio_fd_close(s);
    return NULL;
}

static void *blocked_recv(void *arg)
{
    cancel_case *c = arg;
    char b;
    c->recv_rc = corio_sock_recv(c->conn, &b, 1);
    return NULL;
}

static void *cancel_main(void *arg)
{
    cancel_case *c = arg;
    corio_addr bound;
    int rc = listen_ip("127.0.0.1", 4, &c->lfd, &bound);
    NOTE(&c->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    corio_task *t = corio_spawn(blocked_accept, c, NULL);
    NOTE(&c->t, t && until_parked(t) == 0, "accept task parks");
    if (t) {
        corio_cancel(t);
        NOTE(&c->t, corio_join(t, NULL) == CORIO_ECANCELED, "join status");
    }

    /* The listener still works after a cancelled accept. */
    corio_fd cl;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    rc = corio_tcp_connect_until(&bound, &cl, dl);
    NOTE(&c->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc < 0) { corio_fd_close(c->lfd); return NULL; }
    rc = corio_tcp_accept_until(c->lfd, &c->conn, NULL, dl);
    NOTE(&c->t, rc == 0, "accept: %s", corio_strerror(rc));
    if (rc == 0) {
        t = corio_spawn(blocked_recv, c, NULL);
        NOTE(&c->t, t && until_parked(t) == 0, "recv task parks");
        if (t) {
            corio_cancel(t);
            corio_join(t, NULL);
        }
        /* Nothing was lost: a byte sent now is the next one received. */
        corio_sock_send_all_until(cl, "z", 1, dl);
        char b = 0;
        c->recv_after = corio_sock_recv_until(c->conn, &b, 1, dl);
        NOTE(&c->t, b == 'z', "byte after cancel: %d", b);
        corio_fd_close(c->conn);
    }
    corio_fd_close(cl);
    corio_fd_close(c->lfd);
    return NULL;
}

Test(socket, cancel_blocked_accept_and_recv, .timeout = 30)
{
    cancel_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(cancel_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.accept_rc, CORIO_ECANCELED, "accept: %s",
                 corio_strerror(c.accept_rc));
    cr_assert_eq(c.recv_rc, CORIO_ECANCELED, "recv: %td", c.recv_rc);
    cr_assert_eq(c.recv_after, 1);
}

typedef struct cancel2_case {
    corio_addr full;       /* a listener whose backlog is full */
    corio_fd udp;
    int connect_rc, connected_first;
    ptrdiff_t recvfrom_rc;
    tally t;
} cancel2_case;

static void *blocked_connect(void *arg)
{
    cancel2_case *c = arg;
    corio_fd fd;
    c->connect_rc = corio_tcp_connect(&c->full, &fd);
    if (c->connect_rc == 0) corio_fd_close(fd);
    return NULL;
}

static void *blocked_recvfrom(void *arg)
{
    cancel2_case *c = arg;
    char b[8];
    c->recvfrom_rc = corio_udp_recvfrom(c->udp, b, sizeof b, NULL);
    return NULL;
}

static void *cancel2_main(void *arg)
{
    cancel2_case *c = arg;
    corio_fd lfd, fds[BACKLOG_PROBES];
    int rc = listen_ip("127.0.0.1", 1, &lfd, &c->full);
    NOTE(&c->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    /* Fill the backlog (see deadline_main), then one more connect parks
     * for good: cancel it. */
    int open = 0;
    for (int i = 0; i < BACKLOG_PROBES; i++) {
        rc = corio_tcp_connect_until(&c->full, &fds[open],
                                     corio_deadline_in(CORIO_MS(150)));
        if (rc != 0) break;
        open++;
    }
    c->connected_first = open;
    corio_task *t = corio_spawn(blocked_connect, c, NULL);
    NOTE(&c->t, t && until_parked(t) == 0, "connect parks");
    if (t) {
        corio_cancel(t);
        corio_join(t, NULL);
    }
    for (int i = 0; i < open; i++) corio_fd_close(fds[i]);
    corio_fd_close(lfd);

    corio_addr any;
    corio_addr_ip(&any, "127.0.0.1", 0);
    rc = corio_udp_bind(&any, &c->udp);
    NOTE(&c->t, rc == 0, "udp bind: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    t = corio_spawn(blocked_recvfrom, c, NULL);
    NOTE(&c->t, t && until_parked(t) == 0, "recvfrom parks");
    if (t) {
        corio_cancel(t);
        corio_join(t, NULL);
    }
    corio_fd_close(c->udp);
    return NULL;
}

Test(socket, cancel_blocked_connect_and_recvfrom, .timeout = 30)
{
    cancel2_case c;
    memset(&c, 0, sizeof c);
    c.connect_rc = 1;
    c.recvfrom_rc = 1;
    cr_assert_eq(run_task(cancel2_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.connect_rc, CORIO_ECANCELED, "connect: %s",
                 c.connect_rc == 1 ? "(not run)" : corio_strerror(c.connect_rc));
    cr_assert_eq(c.recvfrom_rc, CORIO_ECANCELED, "recvfrom: %td",
                 c.recvfrom_rc);
}

/* ------------------------------------------------------------------ */
/* TCP_NODELAY                                                         */
/* ------------------------------------------------------------------ */

typedef struct nodelay_case {
    int client, server, client_off, byname;
    tally t;
} nodelay_case;

static void *nodelay_main(void *arg)
{
    nodelay_case *n = arg;
    corio_fd lfd, c, s, c2, s2;
    corio_addr bound;
    int rc = listen_ip("127.0.0.1", 4, &lfd, &bound);
    NOTE(&n->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    rc = corio_tcp_connect_until(&bound, &c, dl);
    if (rc == 0) rc = corio_tcp_accept_until(lfd, &s, NULL, dl);
    NOTE(&n->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc == 0) {
        n->client = corio__io_get_nodelay(c);
        n->server = corio__io_get_nodelay(s);
        NOTE(&n->t, corio_tcp_nodelay(c, 0) == 0, "nodelay off");
        n->client_off = corio__io_get_nodelay(c);
        corio_fd_close(c);
        corio_fd_close(s);
    }
    rc = corio_tcp_connect_host_until("127.0.0.1", corio_addr_port(&bound),
                                      &c2, dl);
    if (rc == 0) rc = corio_tcp_accept_until(lfd, &s2, NULL, dl);
    NOTE(&n->t, rc == 0, "pair by name: %s", corio_strerror(rc));
    if (rc == 0) {
        n->byname = corio__io_get_nodelay(c2);
        corio_fd_close(c2);
        corio_fd_close(s2);
    }
    corio_fd_close(lfd);
    return NULL;
}

Test(socket, tcp_nodelay_is_set, .timeout = 30)
{
    nodelay_case n;
    memset(&n, 0, sizeof n);
    cr_assert_eq(run_task(nodelay_main, &n), 0);
    ASSERT_TALLY_CLEAN(n.t);
    cr_assert_eq(n.client, 1, "connected socket: %d", n.client);
    cr_assert_eq(n.server, 1, "accepted socket: %d", n.server);
    cr_assert_eq(n.client_off, 0, "after corio_tcp_nodelay(fd, 0): %d",
                 n.client_off);
    cr_assert_eq(n.byname, 1, "connect_host socket: %d", n.byname);
}

/* ------------------------------------------------------------------ */
/* Dead peers and half-close                                           */
/* ------------------------------------------------------------------ */

typedef struct vanish_case {
    corio_fd server;
    ptrdiff_t written;
    int write_rc, again_rc;
    tally t;
} vanish_case;

/* Read a little, then close with data still unread: the kernel answers
 * the writer with a reset. */
static void *vanishing_peer(void *arg)
{
    vanish_case *v = arg;
    char buf[512];
    ptrdiff_t n = corio_sock_recv_until(v->server, buf, sizeof buf,
                                        corio_deadline_in(CORIO_SEC(10)));
    NOTE(&v->t, n > 0, "peer recv: %td", n);
    corio_fd_close(v->server);
    return NULL;
}

static void *vanish_main(void *arg)
{
    vanish_case *v = arg;
    corio_fd lfd, c;
    corio_addr bound;
    int rc = listen_ip("127.0.0.1", 4, &lfd, &bound);
    NOTE(&v->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    rc = corio_tcp_connect_until(&bound, &c, dl);
    if (rc == 0) rc = corio_tcp_accept_until(lfd, &v->server, NULL, dl);
    corio_fd_close(lfd);
    NOTE(&v->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_task *peer = corio_spawn(vanishing_peer, v, NULL);
    static const char chunk[16384];
    v->write_rc = 1;
    for (int i = 0; i < 100000; i++) { /* bounded: ~1.6 GB at most */
        rc = corio_sock_send_all_until(c, chunk, sizeof chunk, dl);
        if (rc < 0) { v->write_rc = rc; break; }
        v->written += (ptrdiff_t)sizeof chunk;
    }
    v->again_rc = corio_sock_send_all_until(c, chunk, sizeof chunk, dl);
    if (peer) corio_join(peer, NULL);
    corio_fd_close(c);
    return NULL;
}

Test(socket, peer_dies_mid_write, .timeout = 30)
{
    vanish_case v;
    memset(&v, 0, sizeof v);
    signal_handler previous = sigpipe_fatal();
    int status = run_task(vanish_main, &v);
    sigpipe_restore(previous);
    cr_assert_eq(status, 0);
    ASSERT_TALLY_CLEAN(v.t);
    cr_assert(v.write_rc == CORIO_EPIPE || v.write_rc == CORIO_ECONNRESET,
              "send ended with %d (%s) after %td bytes", v.write_rc,
              v.write_rc < 0 ? corio_strerror(v.write_rc) : "no error",
              v.written);
    cr_assert(v.again_rc == CORIO_EPIPE || v.again_rc == CORIO_ECONNRESET,
              "next send: %d", v.again_rc);
}

typedef struct half_case {
    ptrdiff_t got, eof, reply, client_eof;
    char data[16];
    tally t;
} half_case;

static void *half_main(void *arg)
{
    half_case *h = arg;
    corio_fd lfd, c, s;
    corio_addr bound;
    int rc = listen_ip("127.0.0.1", 4, &lfd, &bound);
    NOTE(&h->t, rc == 0, "listen: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    rc = corio_tcp_connect_until(&bound, &c, dl);
    if (rc == 0) rc = corio_tcp_accept_until(lfd, &s, NULL, dl);
    corio_fd_close(lfd);
    NOTE(&h->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    NOTE(&h->t, corio_sock_send_all_until(c, "hello", 5, dl) == 0, "send");
    NOTE(&h->t, corio_sock_shutdown_write(c) == 0, "shutdown_write");
    h->got = recv_exact(s, h->data, 5, dl);
    h->eof = corio_sock_recv_until(s, h->data + 5, 1, dl);
    /* The other direction still works after the client's FIN. */
    NOTE(&h->t, corio_sock_send_all_until(s, "bye", 3, dl) == 0, "reply");
    corio_fd_close(s);
    char back[8];
    h->reply = recv_exact(c, back, 3, dl);
    NOTE(&h->t, h->reply == 3 && memcmp(back, "bye", 3) == 0, "bye");
    h->client_eof = corio_sock_recv_until(c, back, sizeof back, dl);
    corio_fd_close(c);
    return NULL;
}

Test(socket, half_close_gives_eof, .timeout = 30)
{
    half_case h;
    memset(&h, 0, sizeof h);
    cr_assert_eq(run_task(half_main, &h), 0);
    ASSERT_TALLY_CLEAN(h.t);
    cr_assert_eq(h.got, 5);
    cr_assert_eq(memcmp(h.data, "hello", 5), 0);
    cr_assert_eq(h.eof, 0, "recv after the peer's FIN: %td", h.eof);
    cr_assert_eq(h.reply, 3);
    cr_assert_eq(h.client_eof, 0, "recv after the server closed: %td",
                 h.client_eof);
}

/* ------------------------------------------------------------------ */
/* Listener options                                                    */
/* ------------------------------------------------------------------ */

typedef struct reuse_case {
    int first, again, reuseport, busy;
    tally t;
} reuse_case;

static void *reuse_main(void *arg)
{
    reuse_case *r = arg;
    corio_addr at, bound;
    corio_fd a, b, c, s;
    corio_addr_ip(&at, "127.0.0.1", 0);
    r->first = corio_tcp_listen(&at, 0, 0, &a);
    if (r->first < 0) return NULL;
    corio_sock_local_addr(a, &bound);

    /* Leave a connection behind in TIME_WAIT on the server side (the
     * side that closes first), then listen on the same port again:
     * SO_REUSEADDR makes that work. */
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    int rc = corio_tcp_connect_until(&bound, &c, dl);
    if (rc == 0) rc = corio_tcp_accept_until(a, &s, NULL, dl);
    NOTE(&r->t, rc == 0, "pair: %s", corio_strerror(rc));
    if (rc == 0) {
        corio_fd_close(s);
        char x;
        corio_sock_recv_until(c, &x, 1, dl); /* the server's FIN */
        corio_fd_close(c);
    }
    corio_fd_close(a);
    r->again = corio_tcp_listen(&bound, 0, 0, &b);
    /* Two listeners on one port: refused without SO_REUSEPORT. */
    if (r->again == 0) {
        r->busy = corio_tcp_listen(&bound, 0, 0, &a);
        if (r->busy == 0) corio_fd_close(a);
        corio_fd_close(b);
    }
    /* With it, both may listen where the OS has the option. */
    r->reuseport = corio_tcp_listen(&at, 0, CORIO_LISTEN_REUSEPORT, &a);
    if (r->reuseport == 0) {
        corio_sock_local_addr(a, &bound);
        rc = corio_tcp_listen(&bound, 0, CORIO_LISTEN_REUSEPORT, &b);
        NOTE(&r->t, rc == 0, "second REUSEPORT listener: %s",
             corio_strerror(rc));
        if (rc == 0) corio_fd_close(b);
        corio_fd_close(a);
    }
    return NULL;
}

Test(socket, listen_reuse_options, .timeout = 30)
{
    reuse_case r;
    memset(&r, 0, sizeof r);
    cr_assert_eq(run_task(reuse_main, &r), 0);
    ASSERT_TALLY_CLEAN(r.t);
    cr_assert_eq(r.first, 0, "listen: %s", corio_strerror(r.first));
    cr_assert_eq(r.again, 0, "listen again on the port: %s",
                 corio_strerror(r.again));
    cr_assert_eq(r.busy, CORIO_EADDRINUSE, "second listener: %s",
                 corio_strerror(r.busy));
    cr_assert(r.reuseport == 0 || r.reuseport == CORIO_ENOTSUP,
              "REUSEPORT: %s", corio_strerror(r.reuseport));
}
