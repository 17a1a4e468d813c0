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
 *
 * A second Ctrl-C ends the grace at once, as it does for asyncio.run
 * (there the first SIGINT cancels the main task, which shuts down
 * gracefully; a second one raises KeyboardInterrupt at once). If the
 * program catches SIGINT or SIGTERM through corio (corio_signal_wait:
 * typically the first one is what started this shutdown), then for the
 * length of the grace a small task per caught signal waits for another
 * one; if it comes, that task cancels every handler still live right
 * away, instead of after the grace. A signal the program does not catch
 * through corio keeps its default action (SIGINT ends the process).
 *
 * On every loop of a group (CORIO_SERVER_EVERY_LOOP, corio_run_loops):
 * the server is a set of the per-loop servers above, subs[i] on loop i,
 * each with its own handlers, slots and shutdown. Connections reach them
 * one of two ways:
 *   - SO_REUSEPORT (Linux): every per-loop server listens on the same
 *     port, and the kernel spreads the connections over the listeners by
 *     a hash of the addresses. No hand-off, no shared state: the way
 *     nginx and Envoy run.
 *   - round-robin (elsewhere, where SO_REUSEPORT does not balance or does
 *     not exist, Windows included; or when asked): the per-loop server on
 *     the calling loop accepts, and hands each socket in turn to the next
 *     loop through its thread-safe callback queue; that loop starts the
 *     handler. A socket is not bound to a loop until its first operation
 *     (its first attach to that loop's poller or completion port), so it
 *     can move before it.
 * The group's shutdown stops the acceptors first (in round-robin mode the
 * one acceptor, whose last hand-offs are then already queued at their
 * loops), then runs the per-loop shutdown on every loop at once, each a
 * task of its own loop, and waits for all of them.
 */
#include "corio.h"
#include "coro/alloc.h"
#include "net/signal_hooks.h"

#include <stdatomic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Does the kernel spread connections over SO_REUSEPORT listeners? Linux
 * (3.9+) does; macOS and the BSDs give them all to one listener (FreeBSD
 * needs SO_REUSEPORT_LB), and Windows has no such option. */
#ifdef __linux__
#define REUSEPORT_BALANCES 1
#else
#define REUSEPORT_BALANCES 0
#endif

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
    bool cancelled;             /* by the shutdown (counted once) */
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
    atomic_size_t live;             /* read from other loops (group) */
    corio_event idle;               /* set while live == 0 */
    corio_task *last_finished;      /* the handler shutdown will join */
    int cancelled;                  /* handlers the shutdown cancelled */
    int64_t grace_deadline;         /* for the second-signal watchers */
    corio_loop *loop;               /* the loop it lives on */
    /* A group server: subs[i] is the per-loop server of loop i (the
     * fields above are unused but port). */
    corio_server **subs;
    unsigned nsubs;
    unsigned home;                  /* round-robin: the accepting loop */
    /* Round-robin acceptor: hand connections to rr[next++ % rr_n]. */
    corio_server **rr;
    unsigned rr_n, rr_next;
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
    if (atomic_fetch_add_explicit(&srv->live, 1, memory_order_relaxed) == 0)
        corio_event_clear(&srv->idle);
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
    if (atomic_fetch_sub_explicit(&srv->live, 1, memory_order_relaxed) == 1)
        corio_event_set(&srv->idle);
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
    corio_task_opts topts = { .name = "server-conn",
                              .stack_size = srv->opts.handler_stack_size };
    c->task = corio_spawn(conn_main, c, &topts);
    if (!c->task) {
        corio_stream_abort(s);
        corio__free(c);
        return CORIO_ENOMEM;
    }
    live_add(srv, c);
    return 0;
}

/* Round-robin: a socket on its way to another loop's server. */
typedef struct handoff {
    corio_server *to;
    corio_fd fd;
} handoff;

static void handoff_cb(void *arg) /* on the receiving loop */
{
    handoff *h = arg;
    start_handler(h->to, h->fd); /* closes fd if it cannot */
    corio__free(h);
}

static int hand_off(corio_server *to, corio_fd fd)
{
    handoff *h = corio__malloc(sizeof *h);
    int rc = h ? 0 : CORIO_ENOMEM;
    if (h) {
        h->to = to;
        h->fd = fd;
        rc = corio_call_soon_threadsafe(to->loop, handoff_cb, h);
    }
    if (rc != 0) {
        corio__free(h);
        corio_fd_close(fd);
        return CORIO_ENOMEM; /* that connection is lost; accept goes on */
    }
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
        if (rc == 0 && srv->rr) {
            corio_server *to = srv->rr[srv->rr_next++ % srv->rr_n];
            rc = to == srv ? start_handler(srv, fd) : hand_off(to, fd);
        } else if (rc == 0) {
            rc = start_handler(srv, fd);
        }
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

/* A per-loop server of the calling loop, without a listener yet. */
static corio_server *server_new(corio_conn_handler h, void *arg,
                                const corio_server_opts *o)
{
    corio_server *srv = corio__calloc(1, sizeof *srv);
    if (!srv) return NULL;
    if (o) srv->opts = *o;
    srv->handler = h;
    srv->arg = arg;
    srv->loop = corio_loop_current();
    srv->limited = srv->opts.max_connections > 0;
    if (srv->limited) corio_sem_init(&srv->slots, srv->opts.max_connections);
    corio_event_init(&srv->idle);
    corio_event_set(&srv->idle);
    return srv;
}

static void server_free(corio_server *srv)
{
    if (srv->limited) corio_sem_destroy(&srv->slots);
    corio_event_destroy(&srv->idle);
    corio__free(srv);
}

/* Listen on host:port and start the accept task. */
static int server_listen(corio_server *srv, const char *host, int port,
                         int flags)
{
    corio_addr at;
    int rc = server_address(host ? host : "127.0.0.1", port, &at);
    if (rc == 0)
        rc = corio_tcp_listen(&at, srv->opts.backlog,
                              flags & CORIO_LISTEN_REUSEPORT, &srv->listener);
    if (rc < 0) return rc;
    /* The port the kernel picked (port 0): without it corio_server_port
     * would say 0 and no client could find the server, so a failure here
     * fails the start. */
    corio_addr bound;
    rc = corio_sock_local_addr(srv->listener, &bound);
    if (rc == 0) {
        srv->port = corio_addr_port(&bound);
        corio_task_opts topts = { .name = "server-accept" };
        srv->accept_task = corio_spawn(accept_main, srv, &topts);
        if (!srv->accept_task) rc = CORIO_ENOMEM;
    }
    if (rc < 0) corio_fd_close(srv->listener);
    return rc;
}

static int start_one(const char *host, int port, corio_conn_handler h,
                     void *arg, const corio_server_opts *o, int flags,
                     corio_server **out)
{
    corio_server *srv = server_new(h, arg, o);
    if (!srv) return CORIO_ENOMEM;
    int rc = server_listen(srv, host, port, flags);
    if (rc < 0) {
        server_free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

/* ---- on every loop of a group ---- */

typedef struct remote_start {
    const char *host;
    int port, flags, rc;
    corio_conn_handler h;
    void *arg;
    const corio_server_opts *o;
    corio_server *srv;
} remote_start;

static void *start_there(void *arg) /* a task on the loop it starts on */
{
    remote_start *r = arg;
    r->rc = start_one(r->host, r->port, r->h, r->arg, r->o, r->flags, &r->srv);
    return NULL;
}

typedef struct remote_stop {
    corio_server *srv;
    int64_t deadline;
    int cancelled;
} remote_stop;

static void *stop_there(void *arg)
{
    remote_stop *r = arg;
    r->cancelled = corio_server_shutdown_until(r->srv, r->deadline);
    return NULL;
}

static void *stop_accepting_there(void *arg)
{
    corio_server *srv = arg;
    if (!srv->accept_task) return NULL;
    corio_cancel(srv->accept_task);
    corio_join(srv->accept_task, NULL);
    srv->accept_task = NULL;
    corio_fd_close(srv->listener);
    return NULL;
}

/* spawn_on fails only for want of memory: wait a little and retry, since
 * a shutdown that gave up would leave loops serving. */
static corio_task *spawn_there(corio_loop *l, corio_fn fn, void *arg)
{
    corio_task *t;
    while (!(t = corio_spawn_on(l, fn, arg, NULL))) corio_sleep(CORIO_MS(10));
    return t;
}

static int group_shutdown(corio_server *g, int64_t deadline)
{
    corio_server **subs = g->subs;
    unsigned n = g->nsubs;
    corio_shield_begin(); /* a cancel only ends the grace (stop_there's) */
    if (subs[g->home]->rr)
        corio_join(spawn_there(subs[g->home]->loop, stop_accepting_there,
                               subs[g->home]), NULL);
    corio_shield_end();
    remote_stop *stop = corio__calloc(n, sizeof *stop);
    corio_task **t = corio__calloc(n, sizeof *t);
    int cancelled = 0;
    if (!stop || !t) {
        /* No memory for the parallel form: one loop after the other. */
        for (unsigned i = 0; i < n; i++) {
            remote_stop one = { subs[i], deadline, 0 };
            corio_join(spawn_there(subs[i]->loop, stop_there, &one), NULL);
            cancelled += one.cancelled;
        }
    } else {
        for (unsigned i = 0; i < n; i++) {
            stop[i] = (remote_stop){ subs[i], deadline, 0 };
            t[i] = spawn_there(subs[i]->loop, stop_there, &stop[i]);
        }
        for (unsigned i = 0; i < n; i++) {
            corio_join(t[i], NULL); /* a join never leaves its task behind */
            cancelled += stop[i].cancelled;
        }
    }
    corio__free(stop);
    corio__free(t);
    corio__free(g->rr);
    corio__free(subs);
    corio__free(g);
    return cancelled;
}

static int start_group(const char *host, int port, corio_conn_handler h,
                       void *arg, const corio_server_opts *o, int flags,
                       corio_server **out)
{
    unsigned n = corio_loop_count(), me = corio_loop_index();
    int rr = (flags & CORIO_SERVER_ROUND_ROBIN) || !REUSEPORT_BALANCES;
    if (rr && o && o->max_connections) return CORIO_EINVAL;
    corio_server *g = corio__calloc(1, sizeof *g);
    corio_server **subs = corio__calloc(n, sizeof *subs);
    corio_server **ring = rr ? corio__calloc(n, sizeof *ring) : NULL;
    remote_start *st = rr ? NULL : corio__calloc(n, sizeof *st);
    corio_task **t = rr ? NULL : corio__calloc(n, sizeof *t);
    int rc = 0;
    if (!g || !subs || (rr ? !ring : !st || !t)) {
        rc = CORIO_ENOMEM;
        goto fail;
    }
    g->subs = subs;
    g->nsubs = n;
    g->home = me;
    g->loop = corio_loop_current();
    if (rr) {
        /* Handler-only servers, made here: plain memory until the loops
         * see them, through the hand-off queue. */
        for (unsigned i = 0; i < n && rc == 0; i++) {
            if (!(subs[i] = server_new(h, arg, o))) rc = CORIO_ENOMEM;
            else subs[i]->loop = corio_loop_at(i);
            ring[i] = subs[i];
        }
        if (rc == 0) {
            subs[me]->rr = ring;
            subs[me]->rr_n = n;
            rc = server_listen(subs[me], host, port, flags);
        }
        if (rc < 0) {
            for (unsigned i = 0; i < n; i++)
                if (subs[i]) server_free(subs[i]);
            goto fail; /* frees ring */
        }
        g->rr = ring; /* group_shutdown frees it */
        g->port = subs[me]->port;
    } else {
        /* Our own listener first: it picks the port (port 0) the others
         * then share. */
        flags |= CORIO_LISTEN_REUSEPORT;
        rc = start_one(host, port, h, arg, o, flags, &subs[me]);
        if (rc < 0) goto fail;
        g->port = subs[me]->port;
        for (unsigned i = 0; i < n; i++) {
            if (i == me) continue;
            st[i] = (remote_start){ host, g->port, flags, 0, h, arg, o, NULL };
            t[i] = corio_spawn_on(corio_loop_at(i), start_there, &st[i], NULL);
            if (!t[i]) st[i].rc = CORIO_ENOMEM;
        }
        corio_shield_begin(); /* st[] must outlive those tasks */
        for (unsigned i = 0; i < n; i++)
            if (t[i]) corio_join(t[i], NULL);
        corio_shield_end();
        for (unsigned i = 0; i < n; i++)
            if (i != me && st[i].rc < 0 && rc == 0) rc = st[i].rc;
        if (rc < 0) {
            /* Stop the ones that started: a group of those only. */
            unsigned k = 0;
            for (unsigned i = 0; i < n; i++)
                if (i == me || st[i].rc == 0) subs[k++] = i == me ? subs[me] : st[i].srv;
            g->nsubs = k;
            g->home = 0;
            corio__free(st);
            corio__free(t);
            group_shutdown(g, corio_now());
            return rc;
        }
        for (unsigned i = 0; i < n; i++)
            if (i != me) subs[i] = st[i].srv;
    }
    corio__free(st);
    corio__free(t);
    *out = g;
    return 0;
fail:
    corio__free(st);
    corio__free(t);
    corio__free(ring);
    corio__free(subs);
    corio__free(g);
    return rc;
}

/* ---- public calls ---- */

int corio_start_server(const char *host, int port, corio_conn_handler h,
                       void *arg, const corio_server_opts *o,
                       corio_server **out)
{
    if (!h || !out || port < 0 || port > 65535) return CORIO_EINVAL;
    if (!corio_loop_current()) return CORIO_ENOLOOP;
    int flags = o ? o->flags : 0;
    if ((flags & CORIO_SERVER_EVERY_LOOP) && corio_loop_count() > 1)
        return start_group(host, port, h, arg, o, flags, out);
    return start_one(host, port, h, arg, o, flags, out);
}

int corio_server_port(const corio_server *srv) { return srv ? srv->port : -1; }

size_t corio_server_connections(const corio_server *srv)
{
    if (!srv) return 0;
    if (!srv->subs)
        return atomic_load_explicit(&srv->live, memory_order_relaxed);
    size_t n = 0;
    for (unsigned i = 0; i < srv->nsubs; i++)
        n += atomic_load_explicit(&srv->subs[i]->live, memory_order_relaxed);
    return n;
}

/* Cancel every handler still live (their blocking calls return
 * CORIO_ECANCELED, sticky); each is counted once. */
static void cancel_live(corio_server *srv)
{
    for (conn *c = srv->live_list; c; c = c->next) {
        if (c->cancelled) continue;
        c->cancelled = true;
        corio_cancel(c->task);
        srv->cancelled++;
    }
}

/* The signals a second delivery of which cuts the grace short. */
static const int hurry_signals[] = {
    SIGINT,
#ifdef SIGTERM
    SIGTERM,
#endif
};
#define HURRY_N (sizeof hurry_signals / sizeof hurry_signals[0])

typedef struct hurry {
    corio_server *srv;
    int signum;
} hurry;

/* For the grace period: another delivery of a signal the program
 * catches means "stop now". Cancelled by the shutdown when the grace
 * ends. */
static void *hurry_main(void *arg)
{
    hurry *h = arg;
    if (corio_signal_wait_until(h->signum, h->srv->grace_deadline) == 0)
        cancel_live(h->srv);
    return NULL;
}

int corio_server_shutdown_until(corio_server *srv, int64_t grace_deadline)
{
    if (!srv) return CORIO_EINVAL;
    if (!corio_current()) return CORIO_ENOLOOP;
    if (srv->subs) return group_shutdown(srv, grace_deadline);

    /* 1. Stop accepting. A join never leaves its task behind, even if we
     *    are cancelled meanwhile. (A round-robin group stopped it first.) */
    if (srv->accept_task) {
        corio_cancel(srv->accept_task);
        corio_join(srv->accept_task, NULL);
        corio_fd_close(srv->listener);
    }

    /* 2. Grace: the handlers may finish on their own. A cancellation of
     *    the caller ends the grace period early; shutdown goes on. So
     *    does a second SIGINT / SIGTERM (see the top of the file): its
     *    watcher cancels the handlers, and they finish at once. */
    hurry hs[HURRY_N];
    corio_task *watchers[HURRY_N];
    size_t nw = 0;
    srv->grace_deadline = grace_deadline;
    if (srv->live > 0) {
        for (size_t i = 0; i < HURRY_N; i++) {
            if (!corio__signal_caught(hurry_signals[i])) continue;
            hs[nw] = (hurry){ srv, hurry_signals[i] };
            corio_task_opts wo = { .name = "server-hurry" };
            /* No task, no second-signal shortcut: the grace still ends. */
            if ((watchers[nw] = corio_spawn(hurry_main, &hs[nw], &wo))) nw++;
        }
    }
    (void)corio_event_wait_until(&srv->idle, grace_deadline);
    for (size_t i = 0; i < nw; i++) {
        corio_cancel(watchers[i]);
        corio_join(watchers[i], NULL);
    }

    /* 3. Cancel the rest and wait for every one of them. */
    cancel_live(srv);
    int cancelled = srv->cancelled;
    corio_shield_begin();
    while (atomic_load_explicit(&srv->live, memory_order_relaxed) > 0)
        corio_event_wait(&srv->idle);
    /* 4. The last handler has recorded itself; let it return. */
    if (srv->last_finished) corio_join(srv->last_finished, NULL);
    corio_shield_end();

    server_free(srv);
    return cancelled;
}

int corio_server_shutdown(corio_server *srv)
{
    return corio_server_shutdown_until(srv, CORIO_NEVER);
}
