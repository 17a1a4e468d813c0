/*
 * test_server.c — corio_start_server and corio_server_shutdown
 * (net/server.c): echo round trips, graceful shutdown with handlers in
 * flight, the connection limit, accept at the descriptor limit, and
 * 10,000 concurrent connections served by one loop.
 *
 * Clients are corio tasks using streams (corio_open_connection), on the
 * same loop as the server, except in the 10,000-connection test on POSIX,
 * where they run in a forked child process (see there why).
 *
 * Tasks record what they saw in plain structs; assertions are made on the
 * loop's thread once the loop is closed (a failed cr_assert must not
 * unwind a task's stack). Everything binds 127.0.0.1.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif

/* ------------------------------------------------------------------ */
/* Harness                                                              */

/* Yield and sleep until *counter reaches want, at most 10 s. */
static int until_count(const size_t *counter, size_t want)
{
    int64_t give_up = corio_deadline_in(CORIO_SEC(10));
    while (*counter < want) {
        if (corio_now() > give_up) return CORIO_ETIMEDOUT;
        corio_sleep(CORIO_MS(1));
    }
    return 0;
}

/* How many of the server's own tasks (accept, handlers) are still alive:
 * after corio_server_shutdown there must be none. */
static size_t server_tasks_alive(void)
{
    corio_task_info info[64];
    size_t n = corio_all_tasks(NULL, info, 64), alive = 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (strncmp(info[i].name, "server-", 7) == 0 &&
            info[i].state != CORIO_TASK_DONE)
            alive++;
    return alive;
}

/* Spawn n copies of fn(args[i]) and join them all. */
static void spawn_and_join(corio_fn fn, void *args, size_t size, size_t n)
{
    corio_task **t = calloc(n, sizeof *t);
    for (size_t i = 0; i < n; i++)
        t[i] = corio_spawn(fn, (char *)args + i * size, NULL);
    for (size_t i = 0; i < n; i++)
        if (t[i]) corio_join(t[i], NULL);
    free(t);
}

/* ------------------------------------------------------------------ */
/* Echo                                                                 */
/* ------------------------------------------------------------------ */

/* Line by line, until end of stream (or an error). */
static void echo_handler(corio_stream *s, void *arg)
{
    (void)arg;
    char line[1024];
    ptrdiff_t n;
    while ((n = corio_stream_readline(s, line, sizeof line)) > 0) {
        if (corio_stream_write(s, line, (size_t)n) < 0) return;
        if (corio_stream_drain(s) < 0) return;
    }
}

typedef struct echo_client {
    int port, id;
    tally *t;
} echo_client;

static void *echo_client_main(void *arg)
{
    echo_client *c = arg;
    corio_stream *s;
    int64_t deadline = corio_deadline_in(CORIO_SEC(10));
    int rc = corio_open_connection_until("127.0.0.1", c->port, &s, deadline);
    NOTE(c->t, rc == 0, "client %d: connect: %s", c->id, corio_strerror(rc));
    if (rc < 0) return NULL;
    for (int i = 0; i < 20; i++) {
        char out[64], in[128];
        int len = snprintf(out, sizeof out, "client %d line %d\n", c->id, i);
        rc = corio_stream_write(s, out, (size_t)len);
        NOTE(c->t, rc == 0, "client %d: write: %s", c->id, corio_strerror(rc));
        ptrdiff_t n = corio_stream_readline_until(s, in, sizeof in, deadline);
        NOTE(c->t, n == len && strcmp(in, out) == 0,
             "client %d line %d: got %td bytes '%s'", c->id, i, n,
             n > 0 ? in : "");
        if (n <= 0) break;
    }
    corio_stream_close_until(s, deadline);
    return NULL;
}

typedef struct echo_case {
    tally t;
    int start_rc, cancelled, after_close;
} echo_case;

static void *echo_main(void *arg)
{
    echo_case *e = arg;
    corio_server *srv;
    e->start_rc = corio_start_server(NULL, 0, echo_handler, NULL, NULL, &srv);
    if (e->start_rc < 0) return NULL;
    echo_client clients[8];
    for (int i = 0; i < 8; i++)
        clients[i] = (echo_client){ corio_server_port(srv), i, &e->t };
    spawn_and_join(echo_client_main, clients, sizeof clients[0], 8);
    e->cancelled = corio_server_shutdown_until(srv,
                                               corio_deadline_in(CORIO_SEC(10)));
    NOTE(&e->t, server_tasks_alive() == 0, "server tasks outlived shutdown");

    /* The listener is closed: nobody answers on that port now. */
    corio_fd fd;
    e->after_close = corio_tcp_connect_host_until("127.0.0.1", clients[0].port,
                                                  &fd, corio_deadline_in(CORIO_SEC(5)));
    if (e->after_close == 0) corio_fd_close(fd);
    return NULL;
}

Test(server, echo_round_trips_through_a_started_server, .timeout = 60)
{
    echo_case e;
    memset(&e, 0, sizeof e);
    cr_assert_eq(corio_test_run_clean(echo_main, &e), 0);
    cr_assert_eq(e.start_rc, 0, "start_server: %s", corio_strerror(e.start_rc));
    ASSERT_TALLY_CLEAN(e.t);
    cr_assert_eq(e.cancelled, 0, "%d handler(s) were cancelled though every "
                 "client had hung up", e.cancelled);
    cr_assert_neq(e.after_close, 0, "a connection was accepted after shutdown");
}

/* ------------------------------------------------------------------ */
/* Graceful shutdown with handlers in flight                             */
/* ------------------------------------------------------------------ */

typedef struct shutdown_case {
    size_t in_flight;          /* handlers that read their request */
    int handlers_cancelled;    /* stuck handlers that saw CORIO_ECANCELED */
    int handlers_replied;      /* quick handlers that wrote their reply */
    corio_event go;            /* set just before shutdown starts */
    tally t;
    int wait_rc, cancelled;
    int64_t shutdown_took;
} shutdown_case;

/* "quick": finish a little after shutdown started, within the grace.
 * "stuck": wait for a second line that never comes: cancelled. */
static void shutdown_handler(corio_stream *s, void *arg)
{
    shutdown_case *c = arg;
    char line[64];
    ptrdiff_t n = corio_stream_readline(s, line, sizeof line);
    if (n <= 0) return;
    c->in_flight++;
    if (strcmp(line, "quick\n") == 0) {
        corio_event_wait(&c->go);
        corio_sleep(CORIO_MS(20));
        if (corio_stream_write(s, "done\n", 5) == 0 &&
            corio_stream_drain(s) == 0)
            c->handlers_replied++;
    } else {
        n = corio_stream_readline(s, line, sizeof line);
        if (n == CORIO_ECANCELED) c->handlers_cancelled++;
    }
}

typedef struct shutdown_client {
    int port;
    const char *request;
    tally *t;
    ptrdiff_t got;             /* reply length, 0 at end of stream, or error */
    char reply[64];
} shutdown_client;

static void *shutdown_client_main(void *arg)
{
    shutdown_client *c = arg;
    corio_stream *s;
    int64_t deadline = corio_deadline_in(CORIO_SEC(20));
    int rc = corio_open_connection_until("127.0.0.1", c->port, &s, deadline);
    NOTE(c->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_stream_write(s, c->request, strlen(c->request));
    c->got = corio_stream_readline_until(s, c->reply, sizeof c->reply,
                                         deadline);
    corio_stream_abort(s);
    return NULL;
}

enum { QUICK = 3, STUCK = 2 };

static void *shutdown_main(void *arg)
{
    shutdown_case *c = arg;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, shutdown_handler, c, NULL, &srv);
    NOTE(&c->t, rc == 0, "start_server: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    shutdown_client clients[QUICK + STUCK];
    corio_task *t[QUICK + STUCK];
    for (int i = 0; i < QUICK + STUCK; i++) {
        clients[i] = (shutdown_client){ corio_server_port(srv),
                                        i < QUICK ? "quick\n" : "stuck\n",
                                        &c->t, -100, "" };
        t[i] = corio_spawn(shutdown_client_main, &clients[i], NULL);
    }
    c->wait_rc = until_count(&c->in_flight, QUICK + STUCK);

    corio_event_set(&c->go);
    int64_t t0 = corio_now();
    c->cancelled = corio_server_shutdown_until(srv,
                                               corio_deadline_in(CORIO_MS(500)));
    c->shutdown_took = corio_now() - t0;
    NOTE(&c->t, server_tasks_alive() == 0, "server tasks outlived shutdown");

    for (int i = 0; i < QUICK + STUCK; i++) corio_join(t[i], NULL);
    for (int i = 0; i < QUICK; i++)
        NOTE(&c->t, clients[i].got == 5 && strcmp(clients[i].reply, "done\n") == 0,
             "quick client %d got %td '%s' instead of its reply", i,
             clients[i].got, clients[i].reply);
    for (int i = QUICK; i < QUICK + STUCK; i++)
        NOTE(&c->t, clients[i].got == 0 || clients[i].got == CORIO_ECONNRESET,
             "stuck client %d: the server should have closed the connection, "
             "got %td", i, clients[i].got);
    return NULL;
}

Test(server, graceful_shutdown_lets_some_finish_and_cancels_the_rest,
     .timeout = 60)
{
    shutdown_case c;
    memset(&c, 0, sizeof c);
    corio_event_init(&c.go);
    cr_assert_eq(corio_test_run_clean(shutdown_main, &c), 0);
    corio_event_destroy(&c.go);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.wait_rc, 0, "only %zu of %d handlers got their request",
                 c.in_flight, QUICK + STUCK);
    cr_assert_eq(c.cancelled, STUCK, "shutdown says %d cancelled", c.cancelled);
    cr_assert_eq(c.handlers_replied, QUICK, "%d quick handlers replied",
                 c.handlers_replied);
    cr_assert_eq(c.handlers_cancelled, STUCK,
                 "%d stuck handlers saw CORIO_ECANCELED", c.handlers_cancelled);
    cr_assert_geq(c.shutdown_took, CORIO_MS(500),
                  "shutdown cancelled before the grace deadline");
}

/* ------------------------------------------------------------------ */
/* The connection limit                                                  */
/* ------------------------------------------------------------------ */

enum { LIMIT = 4, LIMIT_CLIENTS = 12 };

typedef struct limit_case {
    size_t live, max_live, served;
    corio_event release;        /* handlers hold their slot until set */
    tally t;
    int wait_rc;
    size_t connections_at_peak;
} limit_case;

static void limit_handler(corio_stream *s, void *arg)
{
    limit_case *c = arg;
    if (++c->live > c->max_live) c->max_live = c->live;
    corio_event_wait_until(&c->release, corio_deadline_in(CORIO_SEC(20)));
    c->live--;
    if (corio_stream_write(s, "ok\n", 3) == 0) c->served++;
}

typedef struct limit_client {
    int port;
    tally *t;
} limit_client;

static void *limit_client_main(void *arg)
{
    limit_client *c = arg;
    corio_stream *s;
    int64_t deadline = corio_deadline_in(CORIO_SEC(30));
    int rc = corio_open_connection_until("127.0.0.1", c->port, &s, deadline);
    NOTE(c->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    char line[16];
    ptrdiff_t n = corio_stream_readline_until(s, line, sizeof line, deadline);
    NOTE(c->t, n == 3 && strcmp(line, "ok\n") == 0,
         "client got %td instead of its turn", n);
    corio_stream_close_until(s, deadline);
    return NULL;
}

static void *limit_main(void *arg)
{
    limit_case *c = arg;
    corio_server_opts o;
    memset(&o, 0, sizeof o);
    o.max_connections = LIMIT;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, limit_handler, c, &o, &srv);
    NOTE(&c->t, rc == 0, "start_server: %s", corio_strerror(rc));
    if (rc < 0) return NULL;

    limit_client clients[LIMIT_CLIENTS];
    corio_task *t[LIMIT_CLIENTS];
    for (int i = 0; i < LIMIT_CLIENTS; i++) {
        clients[i] = (limit_client){ corio_server_port(srv), &c->t };
        t[i] = corio_spawn(limit_client_main, &clients[i], NULL);
    }
    /* Every client is connected (the kernel completes the handshake
     * without accept) once LIMIT handlers hold their slots; give the
     * accept task every chance to take one more if the limit leaked. */
    c->wait_rc = until_count(&c->live, LIMIT);
    for (int i = 0; i < 20; i++) corio_sleep(CORIO_MS(2));
    c->connections_at_peak = corio_server_connections(srv);

    corio_event_set(&c->release);
    for (int i = 0; i < LIMIT_CLIENTS; i++) corio_join(t[i], NULL);
    int cancelled = corio_server_shutdown_until(srv,
                                                corio_deadline_in(CORIO_SEC(10)));
    NOTE(&c->t, cancelled == 0, "%d handlers cancelled", cancelled);
    NOTE(&c->t, server_tasks_alive() == 0, "server tasks outlived shutdown");
    return NULL;
}

Test(server, the_connection_limit_holds, .timeout = 60)
{
    limit_case c;
    memset(&c, 0, sizeof c);
    corio_event_init(&c.release);
    cr_assert_eq(corio_test_run_clean(limit_main, &c), 0);
    corio_event_destroy(&c.release);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.wait_rc, 0, "the limit was never reached (%zu live)", c.live);
    cr_assert_eq(c.max_live, (size_t)LIMIT, "at most %zu handlers ran at once, "
                 "the limit is %d", c.max_live, LIMIT);
    cr_assert_eq(c.connections_at_peak, (size_t)LIMIT);
    cr_assert_eq(c.served, (size_t)LIMIT_CLIENTS, "%zu of %d clients served",
                 c.served, LIMIT_CLIENTS);
}

/* ------------------------------------------------------------------ */
/* Accept at the descriptor limit backs off instead of spinning (POSIX) */
/* ------------------------------------------------------------------ */

#ifndef _WIN32

typedef struct emfile_case {
    tally t;
    int ticks;                  /* 1 ms sleeps another task got meanwhile */
    double cpu_ms;              /* CPU time the process used meanwhile */
    ptrdiff_t echoed;
    char reply[16];
} emfile_case;

static void *emfile_main(void *arg)
{
    emfile_case *c = arg;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, echo_handler, NULL, NULL, &srv);
    NOTE(&c->t, rc == 0, "start_server: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    /* Leave exactly one descriptor free, for the client: hold one number
     * (spare), find the lowest free one above it and make that the
     * limit, then give the spare back. The client's socket takes it, and
     * the server's accept has nothing left. */
    struct rlimit saved, tight;
    getrlimit(RLIMIT_NOFILE, &saved);
    int spare = dup(2);
    int lowest_free = dup(2);
    NOTE(&c->t, spare >= 0 && lowest_free >= 0, "dup: %s", strerror(errno));
    close(lowest_free);
    tight = saved;
    tight.rlim_cur = (rlim_t)lowest_free;
    setrlimit(RLIMIT_NOFILE, &tight);
    close(spare);

    corio_fd client;
    rc = corio_tcp_connect_host_until("127.0.0.1", corio_server_port(srv),
                                      &client, corio_deadline_in(CORIO_SEC(5)));
    NOTE(&c->t, rc == 0, "connect: %s", corio_strerror(rc));

    /* The accept task now fails with CORIO_EMFILE. Spinning without a
     * pause would starve this task (the test would time out); spinning
     * through yields would burn the CPU, which clock() sees. */
    clock_t cpu0 = clock();
    int64_t until = corio_deadline_in(CORIO_MS(300));
    while (corio_now() < until) {
        corio_sleep(CORIO_MS(1));
        c->ticks++;
    }
    c->cpu_ms = (double)(clock() - cpu0) * 1000.0 / CLOCKS_PER_SEC;
    NOTE(&c->t, corio_server_connections(srv) == 0,
         "a connection was accepted at the descriptor limit");
    setrlimit(RLIMIT_NOFILE, &saved);

    /* After the back-off the queued connection is accepted and served. */
    if (rc == 0) {
        corio_sock_send_all_until(client, "ping\n", 5,
                                  corio_deadline_in(CORIO_SEC(5)));
        size_t got = 0;
        while (got < 5) {
            ptrdiff_t n = corio_sock_recv_until(client, c->reply + got,
                                                sizeof c->reply - 1 - got,
                                                corio_deadline_in(CORIO_SEC(5)));
            if (n <= 0) { c->echoed = n; break; }
            got += (size_t)n;
            c->echoed = (ptrdiff_t)got;
        }
        corio_fd_close(client);
    }
    corio_server_shutdown_until(srv, corio_deadline_in(CORIO_SEC(5)));
    return NULL;
}

Test(server, accept_at_the_descriptor_limit_backs_off, .timeout = 60)
{
    emfile_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(corio_test_run_clean(emfile_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_geq(c.ticks, 20, "other tasks got only %d turns in 300 ms while "
                  "accept failed", c.ticks);
    cr_assert_lt(c.cpu_ms, 150.0, "the process burnt %.0f ms of CPU in 300 ms "
                 "while accept failed: it retried without backing off", c.cpu_ms);
    cr_assert_eq(c.echoed, 5, "the queued connection was not served after "
                 "the limit was lifted (%td)", c.echoed);
    cr_assert_str_eq(c.reply, "ping\n");
}

#endif

/* ------------------------------------------------------------------ */
/* 10,000 concurrent connections, one loop                               */
/* ------------------------------------------------------------------ */
/*
 * Every handler reads its client's hello, then waits until ALL handlers
 * are live at once, and only then answers: the test proves that one loop
 * held every connection concurrently.
 *
 * Both ends of 10,000 connections in one process need 20,000 descriptors
 * and more, and this machine's hard limit is 20,000. So on POSIX the
 * clients run in a forked child (created before any loop exists, so it
 * shares nothing with ours), and each process needs 10,000 plus a few.
 * Windows (wine, one process, no fork) runs a smaller count.
 */

#ifdef _WIN32
enum { MANY = 2000 };
#else
enum { MANY = 10000 };
#endif

typedef struct many_server {
    size_t live, max_live, replied;
    corio_event all_in;
    tally t;
    int port;
    int all_in_rc, cancelled;
} many_server;

static void many_handler(corio_stream *s, void *arg)
{
    many_server *m = arg;
    char line[16];
    ptrdiff_t n = corio_stream_readline_until(s, line, sizeof line,
                                              corio_deadline_in(CORIO_SEC(120)));
    if (n <= 0) return;
    if (++m->live > m->max_live) m->max_live = m->live;
    if (m->live == MANY) corio_event_set(&m->all_in);
    int rc = corio_event_wait_until(&m->all_in, corio_deadline_in(CORIO_SEC(120)));
    m->live--;
    if (rc == 0 && corio_stream_write(s, "bye\n", 4) == 0 &&
        corio_stream_drain(s) == 0)
        m->replied++;
}

typedef struct many_clients {
    int port;
    size_t ok, started, retried;
    int first_error;
    const char *first_stage;
} many_clients;

/* One exchange: connect, "hello", expect "bye". Returns 0, or the error
 * and (in *stage) which step failed. */
static int many_exchange(int port, int64_t deadline, const char **stage)
{
    corio_stream *s;
    *stage = "connect";
    int rc = corio_open_connection_until("127.0.0.1", port, &s, deadline);
    if (rc != 0) return rc;
    *stage = "write";
    rc = corio_stream_write(s, "hello\n", 6);
    if (rc == 0) {
        char line[16];
        *stage = "readline";
        ptrdiff_t n = corio_stream_readline_until(s, line, sizeof line,
                                                  deadline);
        rc = n == 4 && strcmp(line, "bye\n") == 0 ? 0 : n < 0 ? (int)n : CORIO_EIO;
    }
    corio_stream_close_until(s, deadline);
    return rc;
}

/* Every failure is printed by the client process, with the step that
 * failed: CI once saw a client fail here quickly (not a hang) and the cause
 * could not be reproduced. Only a failed connect is retried (up to 3
 * tries): the server has not counted that client yet, so the property
 * under test (all handlers live at once on one loop, each replied to
 * once) is unchanged; a later failure fails the test. */
static void *many_client_main(void *arg)
{
    many_clients *m = arg;
    int64_t deadline = corio_deadline_in(CORIO_SEC(150));
    for (int attempt = 0; attempt < 3; attempt++) {
        const char *stage;
        int rc = many_exchange(m->port, deadline, &stage);
        if (rc == 0) {
            m->ok++;
            return NULL;
        }
        if (!m->first_error) {
            m->first_error = rc;
            m->first_stage = stage;
        }
        m->retried++;
        fprintf(stderr, "client: %s failed: %s (attempt %d)\n", stage,
                corio_strerror(rc), attempt + 1);
        if (strcmp(stage, "connect") != 0 || rc == CORIO_ETIMEDOUT) break;
    }
    return NULL;
}

static void *many_clients_main(void *arg)
{
    many_clients *m = arg;
    corio_task **t = calloc(MANY, sizeof *t);
    if (!t) return corio_fail(CORIO_ENOMEM);
    for (size_t i = 0; i < MANY; i++) {
        t[i] = corio_spawn(many_client_main, m, NULL);
        if (t[i]) m->started++;
    }
    for (size_t i = 0; i < MANY; i++)
        if (t[i]) corio_join(t[i], NULL);
    free(t);
    return NULL;
}

/* The server side; with in_process, the clients too. */
typedef struct many_case {
    many_server srv;
    many_clients clients;
    bool in_process;
    int port_pipe;              /* POSIX: where the child learns the port */
} many_case;

static void *many_server_main(void *arg)
{
    many_case *c = arg;
    many_server *m = &c->srv;
    corio_server_opts o;
    memset(&o, 0, sizeof o);
    o.backlog = 4096;
    o.handler_stack_size = 64 * 1024;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, many_handler, m, &o, &srv);
    NOTE(&m->t, rc == 0, "start_server: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    m->port = corio_server_port(srv);

    corio_task *clients = NULL;
    if (c->in_process) {
        c->clients.port = m->port;
        clients = corio_spawn(many_clients_main, &c->clients, NULL);
    }
#ifndef _WIN32
    else {
        ssize_t w = write(c->port_pipe, &m->port, sizeof m->port);
        NOTE(&m->t, w == (ssize_t)sizeof m->port, "could not tell the child the port");
    }
#endif
    m->all_in_rc = corio_event_wait_until(&m->all_in, corio_deadline_in(CORIO_SEC(150)));
    until_count(&m->replied, MANY);
    if (clients) corio_join(clients, NULL);
    m->cancelled = corio_server_shutdown_until(srv,
                                               corio_deadline_in(CORIO_SEC(30)));
    return NULL;
}

Test(server, ten_thousand_concurrent_connections_on_one_loop, .timeout = 300)
{
    many_case c;
    memset(&c, 0, sizeof c);
    corio_event_init(&c.srv.all_in);
#ifdef _WIN32
    cr_log_info("Windows: %d connections in one process (no fork under wine; "
                "POSIX runs 10,000)", MANY);
    c.in_process = true;
    cr_assert_eq(corio_test_run_clean(many_server_main, &c), 0);
    cr_assert_eq(c.clients.started, (size_t)MANY);
    cr_assert_eq(c.clients.ok, (size_t)MANY, "%zu clients got their reply; "
                 "first error: %s", c.clients.ok,
                 corio_strerror(c.clients.first_error));
#else
    /* Each process needs MANY descriptors plus a few for itself. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)MANY + 256;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        cr_skip_test("the descriptor hard limit (%llu) is below the %llu this "
                     "test needs per process; raise it (ulimit -Hn) to run it",
                     (unsigned long long)rl.rlim_max, (unsigned long long)need);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < need) {
        rl.rlim_cur = need;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s",
                     strerror(errno));
    }

    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_neq(child, -1, "fork: %s", strerror(errno));
    if (child == 0) {
        /* The clients' process: learn the port, then run the clients on
         * a loop of its own. Exit status 0 only if every one got "bye". */
        close(fds[1]);
        int port = 0;
        if (read(fds[0], &port, sizeof port) != (ssize_t)sizeof port) _exit(2);
        c.clients.port = port;
        int status = corio_run(many_clients_main, &c.clients, NULL);
        if (status != 0 || c.clients.ok != MANY)
            fprintf(stderr, "client process: %zu of %d clients got their reply; "
                    "first error: %s in %s\n", c.clients.ok, MANY,
                    corio_strerror(c.clients.first_error),
                    c.clients.first_stage ? c.clients.first_stage : "-");
        _exit(status == 0 && c.clients.ok == MANY ? 0 : 1);
    }
    close(fds[0]);
    c.port_pipe = fds[1];
    int status = corio_test_run_clean(many_server_main, &c);
    close(fds[1]);
    if (c.srv.t.failures || c.srv.all_in_rc != 0) kill(child, SIGKILL);
    int child_status = 0;
    waitpid(child, &child_status, 0);
    cr_assert_eq(status, 0);
    cr_assert(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0,
              "the client process failed (status 0x%x): not every client got "
              "its reply", child_status);
#endif
    corio_event_destroy(&c.srv.all_in);
    ASSERT_TALLY_CLEAN(c.srv.t);
    cr_assert_eq(c.srv.all_in_rc, 0, "all %d handlers were never live at once "
                 "(at most %zu)", MANY, c.srv.max_live);
    cr_assert_eq(c.srv.max_live, (size_t)MANY);
    cr_assert_eq(c.srv.replied, (size_t)MANY);
    cr_assert_eq(c.srv.cancelled, 0);
}
