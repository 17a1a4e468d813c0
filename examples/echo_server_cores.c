/*
 * echo_server_cores.c — the echo server of examples/echo_server.c on every
 * core: one loop per core, each accepting and echoing on its own.
 *
 *   make examples && build/examples/echo_server_cores 8000 [LOOPS]
 *   nc 127.0.0.1 8000            (as many clients as you like)
 *   Ctrl+C, or kill -TERM <pid>
 *
 * LOOPS: how many loops (threads); 0 or absent = one per online core, or
 * CORIO_LOOPS from the environment.
 *
 *   loop 0 (main)                      loops 0..n-1
 *   -------------                      ------------
 *   corio_start_server(EVERY_LOOP) ──> a listener per loop (SO_REUSEPORT,
 *   wait for SIGINT / SIGTERM           Linux) or loop 0 accepting and
 *   corio_server_shutdown:              handing out connections in turn
 *     stop accepting on every loop     echo(stream) on the loop that got
 *     let handlers finish (2 s)          the connection, as on one loop
 *     cancel the rest
 *   return: every loop ends, corio_run_loops returns
 *
 * The other loops' mains return at once: their loops keep serving the
 * tasks loop 0 started on them until every main has returned. Nothing is
 * shared between loops but the counters below (atomics): a connection's
 * stream, its task and its buffers all live on one loop.
 */
#include "corio.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define GRACE CORIO_SEC(2)
#define MAX_LOOPS 64

typedef struct stats {
    atomic_ulong connections[MAX_LOOPS], bytes;
} stats;

static void echo(corio_stream *s, void *arg)
{
    stats *st = arg;
    unsigned i = corio_loop_index();
    atomic_fetch_add_explicit(&st->connections[i % MAX_LOOPS], 1,
                              memory_order_relaxed);
    char buf[4096];
    ptrdiff_t n;
    while ((n = corio_stream_read(s, buf, sizeof buf)) > 0) {
        atomic_fetch_add_explicit(&st->bytes, (unsigned long)n,
                                  memory_order_relaxed);
        if (corio_stream_write(s, buf, (size_t)n) < 0) break;
        if (corio_stream_drain(s) < 0) break;
    }
}

static void *wait_signal(void *arg)
{
    int rc = corio_signal_wait((int)(intptr_t)arg);
    return rc == 0 ? arg : corio_fail(rc);
}

typedef struct args {
    int port;
    stats st;
} args;

static void *main_task(void *arg)
{
    args *a = arg;
    if (corio_loop_index() != 0) return NULL; /* serve what loop 0 starts */

    corio_server_opts o = { .flags = CORIO_SERVER_EVERY_LOOP };
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", a->port, echo, &a->st, &o, &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_server_cores: cannot listen on 127.0.0.1:%d: %s\n",
                a->port, corio_strerror(rc));
        return corio_fail(rc);
    }
    corio_task *waiters[2] = {
        corio_spawn(wait_signal, (void *)(intptr_t)SIGINT, NULL),
        corio_spawn(wait_signal, (void *)(intptr_t)SIGTERM, NULL),
    };
    corio_yield(); /* both waits (and so both handlers) in place */
    printf("echo server on 127.0.0.1:%d, %u loops (Ctrl+C or SIGTERM to stop)\n",
           corio_server_port(srv), corio_loop_count());
    fflush(stdout);

    bool done[2];
    corio_wait(waiters, 2, CORIO_FIRST_COMPLETED, done);
    for (int i = 0; i < 2; i++) {
        corio_cancel(waiters[i]);
        corio_join(waiters[i], NULL);
    }
    size_t in_flight = corio_server_connections(srv);
    printf("\n%s: shutting down %u loops, %zu handler(s) in flight\n",
           done[0] ? "SIGINT" : "SIGTERM", corio_loop_count(), in_flight);
    int cancelled = corio_server_shutdown_until(srv, corio_deadline_in(GRACE));
    printf("done: %d cancelled after the grace period; served", cancelled);
    for (unsigned i = 0; i < corio_loop_count() && i < MAX_LOOPS; i++)
        printf(" %lu", atomic_load(&a->st.connections[i]));
    printf(" connection(s) per loop, %lu bytes\n", atomic_load(&a->st.bytes));
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [LOOPS]   (LOOPS 0 = one per core)\n",
                argv[0]);
        return 2;
    }
    char *end, *end2 = "";
    long port = strtol(argv[1], &end, 10);
    long loops = argc == 3 ? strtol(argv[2], &end2, 10) : 0;
    if (*end || *end2 || !*argv[1] || port < 0 || port > 65535 || loops < 0 || loops > MAX_LOOPS) {
        fprintf(stderr, "%s: PORT must be 0..65535 and LOOPS 0..%d\n",
                argv[0], MAX_LOOPS);
        return 2;
    }
    static args a; /* atomics zeroed */
    a.port = (int)port;
    int rc = corio_run_loops((unsigned)loops, main_task, &a, NULL);
    if (rc < 0 && rc != CORIO_ECANCELED)
        fprintf(stderr, "echo_server_cores: %s\n", corio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
