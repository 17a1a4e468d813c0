/*
 * server.c — corio_start_server / corio_server_shutdown: asyncio's
 * start_server and Server.close() + wait_closed(), with a connection
 * limit and a grace period.
 *
 *   corio_start_server                  the accept task ("server-accept")
 *   ------------------                  ---------------------------------
 *   listen (SO_REUSEADDR, [REUSEPORT])  loop:
 *   spawn the accept task ───────────>    take a slot (max_connections)
 *   return                                accept
 *                                         wrap the socket in a stream
 *                                         spawn a handler task ──> h(stream, arg)
 *                                                                  close the stream
 *                                                                  give the slot back
 *
 * The connection limit is a semaphore of max_connections units: the
 * accept task takes one BEFORE it accepts, so beyond the limit it simply
 * stops accepting, and new connections wait in the kernel's backlog
 * instead of in our memory. A finishing handler gives its unit back.
 *
 * Handlers are NOT a task group: in a corio_taskgroup the first child to
 * fail cancels its siblings, and one broken connection must never cut the
 * others off. The server keeps its own list of live handlers instead,
 * which is all that shutdown needs (whom to cancel, how many are left).
 *
 * Who joins a handler task? Nobody waits for a handler while the server
 * runs, yet every task handle must be joined or detached, and shutdown
 * must not return before the last handler has truly finished (or a loop
 * closed right after it would find that task still pending). So each
 * finishing handler detaches the handler that finished BEFORE it and
 * leaves itself in srv->last_finished; shutdown joins that last one. The
 * one being detached has certainly returned: it recorded itself as its
 * very last step, with no blocking call after it, so it ran to its end
 * before any other task could run.
 *
 * Shutdown (corio_server_shutdown), in order:
 *   1. stop accepting: cancel and join the accept task, close the
 *      listener (new connections are refused from here on);
 *   2. grace: wait until no handler is left, or grace_deadline;
 *   3. cancel every handler still live (their blocking calls return
 *      CORIO_ECANCELED, sticky), and wait for all of them, shielded: the
 *      server's memory must outlive its handlers;
 *   4. join the last handler, free everything.
 */
#include "corio.h"
#include "coro/alloc.h"

#include <stdlib.h>

/* How long the accept task rests after an accept failed for lack of
 * descriptors (or memory). The connection stays queued in the kernel,
 * so accepting again at once would fail again at once: a busy spin that
 * starves every other task. asyncio rests 1 s (ACCEPT_RETRY_DELAY); we
 * retry sooner, since handlers on this loop free descriptors quickly. */
#define ACCEPT_BACKOFF CORIO_MS(100)

typedef struct conn {
    struct corio_server *srv;
    corio_stream *stream;
    corio_task *task;
    struct conn *prev, *next;   /* srv->live_list */
} conn;

struct corio_server {
    corio_fd listener;
    int port;
    corio_conn_handler handler;
    void *arg;
    corio_server_opts opts;
    corio_task *accept_task;
    bool limited;                   /* max_connections > 0 */
    corio_sem slots;                /* free connection slots */
    conn *live_list;                /* handlers not finished */
    size_t live;
    corio_event idle;               /* set while live == 0 */
    corio_task *last_finished;      /* the handler shutdown will join */
};

/* ------------------------------------------------------------------ */
/* One connection                                                      */
/* ------------------------------------------------------------------ */

static void live_add(corio_server *srv, conn *c)
{
    c->prev = NULL;
    c->next = srv->live_list;
    if (c->next) c->next->prev = c;
    srv->live_list = c;
    if (srv->live++ == 0) corio_event_clear(&srv->idle);
}

/* The handler's last step; it must not block (see the header comment). */
static void conn_finished(conn *c)
{
    corio_server *srv = c->srv;
    if (c->prev) c->prev->next = c->next; else srv->live_list = c->next;
    if (c->next) c->next->prev = c->prev;
    if (srv->last_finished) corio_detach(srv->last_finished);
    srv->last_finished = c->task;
    corio__free(c);
    if (srv->limited) corio_sem_release(&srv->slots);
    if (--srv->live == 0) corio_event_set(&srv->idle);
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    c->srv->handler(c->stream, c->srv->arg);
    /* A handler that was cancelled (shutdown) may not flush: its blocking
     * calls all fail now. Otherwise flush what it wrote, then close. A
     * peer that stops reading keeps us (and our slot) here until it reads
     * or shutdown cancels us, as asyncio's transport keeps its buffer. */
    if (corio_cancelled()) corio_stream_abort(c->stream);
    else corio_stream_close(c->stream);
    conn_finished(c);
    return NULL;
}

/* Wrap fd and start its handler; fd is closed on failure. */
static int start_handler(corio_server *srv, corio_fd fd)
{
    conn *c = corio__calloc(1, sizeof *c);
    corio_stream *s = c ? corio_stream_open(fd, &srv->opts.stream) : NULL;
    if (!s) {
        corio__free(c);
        corio_fd_close(fd);
        return CORIO_ENOMEM;
    }
    c->srv = srv;
    c->stream = s;
    corio_task_opts topts = { "server-conn", srv->opts.handler_stack_size };
    c->task = corio_spawn(conn_main, c, &topts);
    if (!c->task) {
        corio_stream_abort(s);
        corio__free(c);
        return CORIO_ENOMEM;
    }
    live_add(srv, c);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The accept task                                                     */
/* ------------------------------------------------------------------ */

static void *accept_main(void *arg)
{
    corio_server *srv = arg;
    for (;;) {
        if (srv->limited && corio_sem_acquire(&srv->slots) < 0)
            return NULL; /* cancelled: shutdown */
        corio_fd fd;
        int rc = corio_tcp_accept(srv->listener, &fd, NULL);
        if (rc == 0) rc = start_handler(srv, fd);
        if (rc == 0) continue; /* the handler owns the slot now */

        if (srv->limited) corio_sem_release(&srv->slots);
        switch (rc) {
        case CORIO_ECANCELED:
        case CORIO_ECLOSED:
            return NULL; /* shutdown */
        case CORIO_ECONNRESET:
        case CORIO_ECONNABORTED:
            continue; /* that peer gave up before we accepted: next one */
        default:
            /* CORIO_EMFILE (descriptor table full: the connection stays
             * queued, so an immediate retry fails again), CORIO_ENOMEM,
             * or an error we do not expect: rest instead of spinning. */
            if (corio_sleep(ACCEPT_BACKOFF) == CORIO_ECANCELED) return NULL;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Public calls                                                        */
/* ------------------------------------------------------------------ */

/* host as a literal, else through the resolver (first answer). */
static int server_address(const char *host, int port, corio_addr *a)
{
    if (corio_addr_ip(a, host, port) == 0) return 0;
    int n = corio_resolve(host, port, 0, a, 1);
    return n < 0 ? n : 0;
}

int corio_start_server(const char *host, int port, corio_conn_handler h,
                       void *arg, const corio_server_opts *o,
                       corio_server **out)
{
    if (!h || !out || port < 0 || port > 65535) return CORIO_EINVAL;
    if (!corio_loop_current()) return CORIO_ENOLOOP;
    corio_server *srv = corio__calloc(1, sizeof *srv);
    if (!srv) return CORIO_ENOMEM;
    if (o) srv->opts = *o;
    srv->handler = h;
    srv->arg = arg;

    corio_addr at;
    int rc = server_address(host ? host : "127.0.0.1", port, &at);
    if (rc == 0)
        rc = corio_tcp_listen(&at, srv->opts.backlog, srv->opts.flags,
                              &srv->listener);
    if (rc < 0) {
        corio__free(srv);
        return rc;
    }
    /* The port the kernel picked (port 0): without it corio_server_port
     * would say 0 and no client could find the server, so a failure here
     * fails the start. */
    corio_addr bound;
    rc = corio_sock_local_addr(srv->listener, &bound);
    if (rc < 0) {
        corio_fd_close(srv->listener);
        corio__free(srv);
        return rc;
    }
    srv->port = corio_addr_port(&bound);

    srv->limited = srv->opts.max_connections > 0;
    if (srv->limited) corio_sem_init(&srv->slots, srv->opts.max_connections);
    corio_event_init(&srv->idle);
    corio_event_set(&srv->idle);

    corio_task_opts topts = { "server-accept", 0 };
    srv->accept_task = corio_spawn(accept_main, srv, &topts);
    if (!srv->accept_task) {
        corio_fd_close(srv->listener);
        if (srv->limited) corio_sem_destroy(&srv->slots);
        corio_event_destroy(&srv->idle);
        corio__free(srv);
        return CORIO_ENOMEM;
    }
    *out = srv;
    return 0;
}

int corio_server_port(const corio_server *srv) { return srv ? srv->port : -1; }

size_t corio_server_connections(const corio_server *srv)
{
    return srv ? srv->live : 0;
}

int corio_server_shutdown_until(corio_server *srv, int64_t grace_deadline)
{
    if (!srv) return CORIO_EINVAL;
    if (!corio_current()) return CORIO_ENOLOOP;

    /* 1. Stop accepting. A join never leaves its task behind, even if we
     *    are cancelled meanwhile. */
    corio_cancel(srv->accept_task);
    corio_join(srv->accept_task, NULL);
    corio_fd_close(srv->listener);

    /* 2. Grace: the handlers may finish on their own. A cancellation of
     *    the caller ends the grace period early; shutdown goes on. */
    (void)corio_event_wait_until(&srv->idle, grace_deadline);

    /* 3. Cancel the rest and wait for every one of them. */
    int cancelled = 0;
    for (conn *c = srv->live_list; c; c = c->next) {
        corio_cancel(c->task);
        cancelled++;
    }
    corio_shield_begin();
    while (srv->live > 0) corio_event_wait(&srv->idle);
    /* 4. The last handler has recorded itself; let it return. */
    if (srv->last_finished) corio_join(srv->last_finished, NULL);
    corio_shield_end();

    if (srv->limited) corio_sem_destroy(&srv->slots);
    corio_event_destroy(&srv->idle);
    corio__free(srv);
    return cancelled;
}

int corio_server_shutdown(corio_server *srv)
{
    return corio_server_shutdown_until(srv, CORIO_NEVER);
}
