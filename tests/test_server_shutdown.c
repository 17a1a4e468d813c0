/*
 * test_server_shutdown.c — a busy server stopped by SIGINT must finish.
 *
 * The failure this guards against: under load, examples/echo_server did
 * not return from its shutdown about once in ten. A handler woken with
 * data, then cancelled by the shutdown before it ran, still echoed what
 * it had read: the write found the kernel's buffer full, queued the rest
 * and spawned the stream's background sender; the handler returned, its
 * stream was aborted, and the abort waited for a sender that, cancelled
 * before its first turn, never ran. The shutdown then waited for that
 * handler forever.
 *
 * Each round is the echo server of the example (read, write back, drain)
 * with CLIENTS connections whose readers are slow: each sends pieces and
 * reads back only a little of its echo, so the server's writes queue and
 * its handlers sit in every state (parked in read, in drain, woken with
 * data) when the signal comes. The round raises SIGINT once every client
 * has traffic going; the task waiting for the signal shuts the server
 * down with no grace, and must be done within SHUTDOWN_LIMIT. ROUNDS
 * rounds in a row, each one a fresh loop that must close clean.
 *
 * One deterministic twin: a handler that is cancelled while its write
 * leaves bytes queued (what the race above produces by chance).
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Not under wine: there, with this load, a cancelled overlapped receive
 * of the server's completed only when its client closed the connection
 * (about 17 s later), so the shutdown waited for the clients' own end.
 * The deterministic twin at the end runs on Windows too. */
#ifndef _WIN32
#include <sys/socket.h>

/* Small kernel buffers, so that "the kernel's buffer is full" is the
 * common state of every connection and costs little memory. */
static void small_buffers(corio_fd fd)
{
    int size = 8192;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

#ifdef CORIO_HARNESS_CRITERION_H
#define ROUNDS 10   /* emulated (qemu): the same, fewer times */
#else
#define ROUNDS 100
#endif
#define CLIENTS 50
#define PIECE ((size_t)4 * 1024)
#define SHUTDOWN_LIMIT CORIO_SEC(3)
#define ROUND_LIMIT CORIO_SEC(20)

typedef struct round_state {
    tally t;
    corio_server *srv;
    int port;
    bool stopping;             /* the shutdown has begun */
    int clients_going;         /* clients that have had an echo back */
    corio_event all_going;     /* set when clients_going == CLIENTS */
    int64_t shutdown_ns;       /* how long corio_server_shutdown took */
    int cancelled;             /* handlers it had to cancel */
} round_state;

/* The example's handler (examples/echo_server.c). */
static void echo(corio_stream *s, void *arg)
{
    (void)arg;
    small_buffers(corio_stream_fd(s));
    char buf[4096];
    ptrdiff_t n;
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0) {
        if (corio_stream_write(s, buf, (size_t)n) < 0) break;
        if (corio_stream_drain(s) < 0) break;
    }
}

/* A slow reader: sends a piece, reads back at most 1 KiB, again and
 * again, until the server is gone. Sends and reads wait at most 1 ms, so
 * that a client whose send is blocked by its own unread echo still gets
 * to read. */
static void *client(void *arg)
{
    round_state *r = arg;
    corio_addr a;
    corio_fd fd;
    corio_addr_ip(&a, "127.0.0.1", r->port);
    int rc = corio_tcp_connect_until(&a, &fd, corio_deadline_in(CORIO_SEC(10)));
    NOTE(&r->t, rc == 0, "connect: %s", corio_strerror(rc));
    if (rc < 0) {
        if (++r->clients_going == CLIENTS) corio_event_set(&r->all_going);
        return NULL;
    }
    small_buffers(fd);
    static char piece[PIECE];
    static char back[16384]; /* all that came back, in one read */
    bool going = false;
    int64_t until = corio_deadline_in(ROUND_LIMIT);
    /* In bursts: a few pieces with no reading (the echo backs up, the
     * server's writes queue), then one read of all that came back (its
     * queue empties, and the next echo finds the kernel full again). */
    for (unsigned k = 0; corio_now() < until; k++) {
        ptrdiff_t n = corio_sock_send_until(fd, piece, sizeof piece,
                                            corio_deadline_in(CORIO_MS(1)));
        if (n < 0 && n != CORIO_ETIMEDOUT) break; /* the server is gone */
        if (k % 4 != 3) continue;
        n = corio_sock_recv_until(fd, back, sizeof back,
                                  corio_deadline_in(CORIO_MS(1)));
        if (n == 0 || (n < 0 && n != CORIO_ETIMEDOUT)) break;
        if (n > 0 && !going) {
            going = true;
            if (++r->clients_going == CLIENTS) corio_event_set(&r->all_going);
        }
    }
    NOTE(&r->t, r->stopping, "a client saw its connection end before shutdown, "
         "or ran out of time");
    if (!going && ++r->clients_going == CLIENTS) corio_event_set(&r->all_going);
    corio_fd_close(fd);
    return NULL;
}

/* What the example's main task does on SIGINT. */
static void *on_sigint(void *arg)
{
    round_state *r = arg;
    int rc = corio_signal_wait_until(SIGINT, corio_deadline_in(ROUND_LIMIT));
    NOTE(&r->t, rc == 0, "SIGINT wait: %s", corio_strerror(rc));
    r->stopping = true;
    int64_t t0 = corio_now();
    r->cancelled = corio_server_shutdown_until(r->srv, corio_now());
    r->shutdown_ns = corio_now() - t0;
    return NULL;
}

static void *round_main(void *arg)
{
    round_state *r = arg;
    int rc = corio_start_server("127.0.0.1", 0, echo, NULL, NULL, &r->srv);
    NOTE(&r->t, rc == 0, "start_server: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    r->port = corio_server_port(r->srv);
    corio_event_init(&r->all_going);

    corio_task *waiter = corio_spawn(on_sigint, r, NULL);
    corio_task *clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) clients[i] = corio_spawn(client, r, NULL);

    rc = corio_event_wait_until(&r->all_going, corio_deadline_in(ROUND_LIMIT));
    NOTE(&r->t, rc == 0, "the clients never all got going: %s",
         corio_strerror(rc));
    raise(SIGINT); /* the waiter's handler is in place: it is waiting */

    rc = corio_task_wait_until(waiter, corio_deadline_in(ROUND_LIMIT));
    NOTE(&r->t, rc == 0, "the shutdown never finished");
    corio_join(waiter, NULL);
    for (int i = 0; i < CLIENTS; i++) corio_join(clients[i], NULL);
    corio_event_destroy(&r->all_going);
    return NULL;
}

Test(server_shutdown, sigint_under_load_with_slow_readers, .timeout = 300)
{
    signal_handler old = sigpipe_fatal();
    int64_t slowest = 0;
    int cancelled = 0;
    for (int i = 0; i < ROUNDS; i++) {
        round_state r;
        memset(&r, 0, sizeof r);
        corio_test_run_clean(round_main, &r);
        cr_assert_eq(r.t.failures, 0, "round %d: %d failure(s), first: %s",
                     i, r.t.failures, r.t.first);
        cr_assert_lt(r.shutdown_ns, SHUTDOWN_LIMIT, "round %d: shutdown took "
                     "%.3f s", i, (double)r.shutdown_ns / 1e9);
        if (r.shutdown_ns > slowest) slowest = r.shutdown_ns;
        if (getenv("SHUTDOWN_VERBOSE")) cr_log_info("round %d: %.1f ms", i, (double)r.shutdown_ns / 1e6);
        cancelled += r.cancelled;
    }
    sigpipe_restore(old);
    /* Every round had its handlers busy, so every handler was cancelled. */
    cr_assert_eq(cancelled, ROUNDS * CLIENTS, "cancelled %d handlers in all",
                 cancelled);
    cr_log_info("%d rounds, slowest shutdown %.1f ms", ROUNDS,
                (double)slowest / 1e6);
}

#endif

/* ---- the deterministic twin ---- */

static void cancelled_mid_echo(corio_stream *s, void *arg)
{
    corio_event *ready = arg;
    /* What the race produces: the handler's cancel arrives, then it
     * writes more than the kernel takes (the client does not read), so
     * its stream has bytes queued and a sender not yet started. */
    corio_cancel(corio_current());
    static char big[8 << 20];
    (void)corio_stream_write(s, big, sizeof big);
    corio_event_set(ready);
}

static void *twin_main(void *arg)
{
    (void)arg;
    corio_event ready;
    corio_event_init(&ready);
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, cancelled_mid_echo, &ready,
                                NULL, &srv);
    cr_assert_eq(rc, 0);
    corio_addr a;
    corio_fd fd;
    corio_addr_ip(&a, "127.0.0.1", corio_server_port(srv));
    rc = corio_tcp_connect_until(&a, &fd, corio_deadline_in(CORIO_SEC(10)));
    cr_assert_eq(rc, 0);
    rc = corio_event_wait_until(&ready, corio_deadline_in(CORIO_SEC(10)));
    cr_assert_eq(rc, 0);
    /* The handler has returned and its stream is being aborted. */
    int cancelled = corio_server_shutdown_until(srv, corio_deadline_in(CORIO_SEC(5)));
    cr_assert_eq(cancelled, 0, "the handler had finished by itself");
    char b[4096];
    ptrdiff_t n;
    int64_t until = corio_deadline_in(CORIO_SEC(10));
    while ((n = corio_sock_recv_until(fd, b, sizeof b, until)) > 0) {
    }
    cr_assert(n == 0 || n == CORIO_ECONNRESET, "the client never saw the "
              "end: %s", corio_strerror((int)n));
    corio_fd_close(fd);
    corio_event_destroy(&ready);
    return NULL;
}

Test(server_shutdown, handler_cancelled_with_bytes_queued, .timeout = 30)
{
    corio_test_run_clean(twin_main, NULL);
}
