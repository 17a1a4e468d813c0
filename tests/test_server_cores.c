/*
 * test_server_cores.c — a server on every loop of a group
 * (CORIO_SERVER_EVERY_LOOP): connections spread over the loops, the
 * group's graceful shutdown, a signal that stops it, a failing main.
 *
 * Every handler tells its client which loop serves it (one byte: its
 * corio_loop_index()). The clients run on loop 0; the test counts what
 * they were told. Nothing sleeps to order threads: the clients wait for
 * bytes, the shutdown is joined, progress is waited for on the clock.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

/* Handler: say which loop we are, then a request-reply: read "req\n",
 * wait for "go\n", answer "done\n". A client that only wants the loop
 * index closes after the byte. */
static void tell_loop(corio_stream *s, void *arg)
{
    (void)arg;
    char b = (char)('0' + corio_loop_index());
    if (corio_stream_write(s, &b, 1) < 0 || corio_stream_drain(s) < 0) return;
    char line[64];
    if (corio_stream_readline(s, line, sizeof line) <= 0) return; /* req */
    if (corio_stream_readline(s, line, sizeof line) <= 0) return; /* go */
    corio_stream_write(s, "done\n", 5);
}

/* Connect, read the loop's byte. -1 on failure. */
static int which_loop(int port, corio_fd *keep)
{
    corio_addr a;
    corio_addr_ip(&a, "127.0.0.1", port);
    corio_fd fd;
    if (corio_tcp_connect_until(&a, &fd, corio_deadline_in(CORIO_SEC(10))) < 0)
        return -1;
    char b = 0;
    ptrdiff_t n = corio_sock_recv_until(fd, &b, 1, corio_deadline_in(CORIO_SEC(10)));
    if (keep && n == 1) *keep = fd;
    else corio_fd_close(fd);
    return n == 1 ? b - '0' : -1;
}

typedef struct spread {
    int flags;
    int conns;
    int seen[8];       /* which loop served connection k (k < 64) */
    int order[64];
    tally t;
} spread;

static void *spread_main(void *arg)
{
    spread *sp = arg;
    if (corio_loop_index() != 0) return NULL;
    corio_server_opts o = { .flags = CORIO_SERVER_EVERY_LOOP | sp->flags };
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, tell_loop, NULL, &o, &srv);
    NOTE(&sp->t, rc == 0, "start: %s", corio_strerror(rc));
    if (rc) return NULL;
    for (int k = 0; k < sp->conns; k++) {
        int i = which_loop(corio_server_port(srv), NULL);
        NOTE(&sp->t, i >= 0 && i < (int)corio_loop_count(), "conn %d: %d", k, i);
        if (i >= 0 && i < 8) sp->seen[i]++;
        if (k < 64) sp->order[k] = i;
    }
    rc = corio_server_shutdown(srv);
    NOTE(&sp->t, rc >= 0, "shutdown %d", rc);
    return NULL;
}

/* The kernel's hash of 64 connections from as many source ports leaves
 * one of two listeners empty with a chance of 2^-63. (Elsewhere than
 * Linux this is the round-robin mode, which spreads them too.) */
Test(server_cores, connections_spread_over_the_loops, .timeout = 60)
{
    spread sp = { .conns = 64 };
    cr_assert_eq(corio_run_loops(2, spread_main, &sp, NULL), 0);
    ASSERT_TALLY_CLEAN(sp.t);
    cr_assert_gt(sp.seen[0], 0, "loop 0 served none of %d", sp.conns);
    cr_assert_gt(sp.seen[1], 0, "loop 1 served none of %d", sp.conns);
    cr_assert_eq(sp.seen[0] + sp.seen[1], sp.conns);
}

Test(server_cores, round_robin_hands_connections_in_turn, .timeout = 60)
{
    spread sp = { .conns = 30, .flags = CORIO_SERVER_ROUND_ROBIN };
    cr_assert_eq(corio_run_loops(3, spread_main, &sp, NULL), 0);
    ASSERT_TALLY_CLEAN(sp.t);
    for (int k = 0; k < sp.conns; k++)
        cr_assert_eq(sp.order[k], k % 3, "connection %d went to loop %d",
                     k, sp.order[k]);
}

static void *rr_limit_main(void *arg)
{
    int *rc = arg;
    if (corio_loop_index() != 0) return NULL;
    corio_server_opts o = { .flags = CORIO_SERVER_EVERY_LOOP |
                                     CORIO_SERVER_ROUND_ROBIN,
                            .max_connections = 4 };
    corio_server *srv = NULL;
    *rc = corio_start_server("127.0.0.1", 0, tell_loop, NULL, &o, &srv);
    if (*rc == 0) corio_server_shutdown(srv);
    return NULL;
}

Test(server_cores, round_robin_with_a_connection_limit_is_refused)
{
    int rc = 0;
    cr_assert_eq(corio_run_loops(2, rr_limit_main, &rc, NULL), 0);
    cr_assert_eq(rc, CORIO_EINVAL);
}

/* ---- graceful shutdown of the group ---- */

#define INFLIGHT 6

typedef struct stopper {
    corio_server *srv;
    int64_t grace;
    int cancelled;
} stopper;

static void *stop_task(void *arg)
{
    stopper *s = arg;
    s->cancelled = corio_server_shutdown_until(s->srv, corio_deadline_in(s->grace));
    return NULL;
}

typedef struct inflight {
    int flags;
    tally t;
    int replies, cancelled, loops_seen[4];
} inflight;

/* INFLIGHT requests in flight on every loop when the shutdown starts: all
 * of them finish; one more client that never says "go" is cut off at the
 * end of the grace period. */
static void *inflight_main(void *arg)
{
    inflight *f = arg;
    if (corio_loop_index() != 0) return NULL;
    corio_server_opts o = { .flags = CORIO_SERVER_EVERY_LOOP | f->flags };
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, tell_loop, NULL, &o, &srv);
    NOTE(&f->t, rc == 0, "start: %s", corio_strerror(rc));
    if (rc) return NULL;
    corio_fd c[INFLIGHT + 1];
    for (int k = 0; k <= INFLIGHT; k++) {
        int i = which_loop(corio_server_port(srv), &c[k]);
        NOTE(&f->t, i >= 0, "connect %d", k);
        if (i < 0) return NULL;
        f->loops_seen[i]++;
        NOTE(&f->t, corio_sock_send_all(c[k], "req\n", 4) == 0, "req %d", k);
    }
    WAIT_UNTIL(corio_server_connections(srv) == INFLIGHT + 1);
    NOTE(&f->t, corio_server_connections(srv) == INFLIGHT + 1, "%zu live",
         corio_server_connections(srv));
    stopper st = { srv, CORIO_SEC(2), -1 };
    corio_task *stop = corio_spawn(stop_task, &st, NULL);
    /* New connections are refused once the listeners are closed. */
    corio_addr a;
    corio_addr_ip(&a, "127.0.0.1", corio_server_port(srv));
    for (int k = 0; k < INFLIGHT; k++) {
        NOTE(&f->t, corio_sock_send_all(c[k], "go\n", 3) == 0, "go %d", k);
        char buf[8] = { 0 };
        size_t got = 0;
        int64_t end = corio_deadline_in(CORIO_SEC(10));
        while (got < 5) {
            ptrdiff_t n = corio_sock_recv_until(c[k], buf + got, 5 - got, end);
            if (n <= 0) break;
            got += (size_t)n;
        }
        if (got == 5 && memcmp(buf, "done\n", 5) == 0) f->replies++;
        corio_fd_close(c[k]);
    }
    corio_join(stop, NULL);
    f->cancelled = st.cancelled;
    corio_fd late;
    rc = corio_tcp_connect_until(&a, &late, corio_deadline_in(CORIO_SEC(5)));
    NOTE(&f->t, rc < 0, "a connection after shutdown was accepted");
    if (rc == 0) corio_fd_close(late);
    /* The cut-off client sees the end of its stream. */
    char b;
    ptrdiff_t n = corio_sock_recv_until(c[INFLIGHT], &b, 1,
                                        corio_deadline_in(CORIO_SEC(10)));
    NOTE(&f->t, n <= 0, "the cut-off client got %ld", (long)n);
    corio_fd_close(c[INFLIGHT]);
    return NULL;
}

static void check_inflight(int flags)
{
    inflight f = { .flags = flags };
    cr_assert_eq(corio_run_loops(2, inflight_main, &f, NULL), 0);
    ASSERT_TALLY_CLEAN(f.t);
    cr_assert_eq(f.replies, INFLIGHT, "in-flight requests answered");
    cr_assert_eq(f.cancelled, 1, "the idle client was cut off");
}

Test(server_cores, shutdown_finishes_in_flight_requests, .timeout = 60)
{
    check_inflight(0);
}

Test(server_cores, round_robin_shutdown_finishes_in_flight_requests,
     .timeout = 60)
{
    check_inflight(CORIO_SERVER_ROUND_ROBIN);
}

/* ---- SIGTERM stops the whole group ---- */

#ifndef _WIN32
typedef struct sig_case {
    tally t;
    int cancelled, served;
} sig_case;

static void *wait_term(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_signal_wait(SIGTERM);
}

static void *raise_term(void *arg)
{
    (void)arg;
    kill(getpid(), SIGTERM); /* from another loop's thread */
    return NULL;
}

static void *sig_main(void *arg)
{
    sig_case *sc = arg;
    if (corio_loop_index() != 0) return NULL;
    corio_server_opts o = { .flags = CORIO_SERVER_EVERY_LOOP };
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, tell_loop, NULL, &o, &srv);
    NOTE(&sc->t, rc == 0, "start");
    if (rc) return NULL;
    corio_task *w = corio_spawn(wait_term, NULL, NULL);
    NOTE(&sc->t, until_parked(w) == 0, "the signal waiter never parked");
    corio_fd c[4];
    for (int k = 0; k < 4; k++) {
        NOTE(&sc->t, which_loop(corio_server_port(srv), &c[k]) >= 0, "conn");
        corio_sock_send_all(c[k], "req\n", 4);
    }
    corio_join(corio_spawn_on(corio_loop_at(1), raise_term, NULL, NULL), NULL);
    void *r = NULL;
    corio_join(w, &r);
    NOTE(&sc->t, r == NULL, "signal wait returned %ld", (long)(intptr_t)r);
    /* The example's shutdown: a grace period, then the rest is cut off. */
    sc->cancelled = corio_server_shutdown_until(srv, corio_deadline_in(CORIO_MS(100)));
    for (int k = 0; k < 4; k++) corio_fd_close(c[k]);
    return NULL;
}

Test(server_cores, sigterm_shuts_every_loop_down, .timeout = 60)
{
    sig_case sc = { 0 };
    cr_assert_eq(corio_run_loops(2, sig_main, &sc, NULL), 0);
    ASSERT_TALLY_CLEAN(sc.t);
    cr_assert_eq(sc.cancelled, 4, "4 idle handlers cut off, got %d", sc.cancelled);
}
#endif

/* ---- one loop's main fails while the group serves ---- */

static void *failing_main(void *arg)
{
    tally *t = arg;
    if (corio_loop_index() == 1) {
        /* Fail once the server is up, so that the cancel reaches it. */
        return corio_fail(CORIO_EADDRINUSE);
    }
    corio_server_opts o = { .flags = CORIO_SERVER_EVERY_LOOP };
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, tell_loop, NULL, &o, &srv);
    NOTE(t, rc == 0 || rc == CORIO_ECANCELED, "start: %s", corio_strerror(rc));
    if (rc) return corio_fail(rc);
    rc = corio_sleep(CORIO_SEC(60)); /* until the group cancels us */
    NOTE(t, rc == CORIO_ECANCELED, "sleep %d", rc);
    corio_server_shutdown(srv); /* cancelled: no grace, still complete */
    return NULL;
}

Test(server_cores, a_failing_main_stops_the_serving_loops, .timeout = 60)
{
    tally t = { 0 };
    int st[2] = { 0, 0 };
    corio_loops_opts o = { .statuses = st };
    int64_t t0 = corio_now();
    cr_assert_eq(corio_run_loops(2, failing_main, &t, &o), CORIO_EADDRINUSE);
    ASSERT_TALLY_CLEAN(t);
    cr_assert_eq(st[1], CORIO_EADDRINUSE);
    cr_assert_eq(st[0], CORIO_ECANCELED);
    cr_assert_lt(corio_now() - t0, CORIO_SEC(30));
}
