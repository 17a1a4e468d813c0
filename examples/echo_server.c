/*
 * echo_server.c — the echo server of chapter 3 of "Python Concurrency with
 * asyncio", with its graceful shutdown on SIGINT / SIGTERM.
 *
 *   make examples && build/examples/echo_server 8000
 *   nc 127.0.0.1 8000          (in another terminal: type lines, they
 *                               come back; as many clients as you like)
 *   Ctrl+C, or kill -TERM <pid>
 *
 * The book builds it three times: blocking sockets (one client at a
 * time), selectors, then asyncio with a task per connection. With corio
 * the last version reads like the first one:
 *
 *   main task                         one task per connection
 *   ---------                         -----------------------
 *   corio_start_server ──accepts──>   echo(stream): read, write back,
 *   wait for SIGINT or SIGTERM          until the client hangs up
 *   corio_server_shutdown:
 *     stop accepting
 *     let handlers finish (2 s)
 *     cancel the rest
 *
 * The book's shutdown cancels the server task, then
 * gives the echo tasks a timeout with asyncio.wait_for(gather(...)).
 * corio_server_shutdown does the same in one call and says how many
 * handlers it had to cancel. A client that keeps its connection open
 * past the grace period is cut off; one that is mid-line finishes its
 * echo first. A second Ctrl+C during the grace cuts them all off at once,
 * as a second Ctrl+C does for asyncio.run.
 */
#include "corio.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRACE CORIO_SEC(2)

typedef struct stats {
    unsigned long connections, bytes;
} stats;

/* One connection: echo whatever arrives until the client hangs up (or
 * the server cancels us at shutdown). */
static void echo(corio_stream *s, void *arg)
{
    stats *st = arg;
    char peer[64] = "?";
    corio_addr a;
    if (corio_sock_peer_addr(corio_stream_fd(s), &a) == 0)
        corio_addr_format(&a, peer, sizeof peer);
    st->connections++;
    printf("%s connected\n", peer);

    char buf[4096];
    ptrdiff_t n;
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0) {
        st->bytes += (unsigned long)n;
        if (corio_stream_write(s, buf, (size_t)n) < 0) break;
        /* Back-pressure: a client that does not read its echoes makes us
         * wait here instead of queueing without end. */
        if (corio_stream_drain(s) < 0) break;
    }
    printf("%s %s\n", peer, n == CORIO_ECANCELED ? "cut off by shutdown"
                                                  : "disconnected");
}

/* Wait for one signal; the main task waits for whichever comes first. */
static void *wait_signal(void *arg)
{
    int signum = (int)(intptr_t)arg;
    int rc = corio_signal_wait(signum);
    return rc == 0 ? arg : corio_fail(rc);
}

static void *main_task(void *arg)
{
    int port = *(int *)arg;
    stats st = { 0, 0 };
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", port, echo, &st, NULL, &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_server: cannot listen on 127.0.0.1:%d: %s\n",
                port, corio_strerror(rc));
        return corio_fail(rc);
    }

    /* asyncio's loop.add_signal_handler(SIGINT, ...) and (SIGTERM, ...):
     * here, two tasks that each wait for one signal. Waiting installs the
     * handlers, so they are in place before we announce ourselves. */
    corio_task *waiters[2] = {
        corio_spawn(wait_signal, (void *)(intptr_t)SIGINT, NULL),
        corio_spawn(wait_signal, (void *)(intptr_t)SIGTERM, NULL),
    };
    corio_yield(); /* let both reach their wait */
    printf("echo server on 127.0.0.1:%d (Ctrl+C or SIGTERM to stop)\n",
           corio_server_port(srv));
    fflush(stdout);

    bool done[2];
    corio_wait(waiters, 2, CORIO_FIRST_COMPLETED, done);
    int which = done[0] ? SIGINT : SIGTERM;
    for (int i = 0; i < 2; i++) {
        corio_cancel(waiters[i]);
        corio_join(waiters[i], NULL);
    }

    size_t in_flight = corio_server_connections(srv);
    printf("\n%s: shutting down, %zu handler(s) in flight, %.0f s grace\n",
           which == SIGINT ? "SIGINT" : "SIGTERM", in_flight,
           (double)GRACE / 1e9);
    fflush(stdout);
    int cancelled = corio_server_shutdown_until(srv, corio_deadline_in(GRACE));
    printf("done: %zu finished in time, %d cancelled; served %lu "
           "connection(s), %lu bytes\n",
           in_flight - (size_t)cancelled, cancelled, st.connections, st.bytes);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    return corio_run(main_task, &port, NULL) == 0 ? 0 : 1;
}
