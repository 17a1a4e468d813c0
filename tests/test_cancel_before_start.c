/*
 * test_cancel_before_start.c — the rule "every spawned task runs its
 * function", in each place of the library that spawns a task which owns
 * something it must give back, cancelled before its first turn:
 *
 *   - a task group aborted by a failing sibling before the others started;
 *   - gather_calls and wait_for, cancelled or out of time at once;
 *   - the shield reaper and asyncio.run's final cancel-all (corio_run);
 *   - communicate's three pipe tasks, whose caller is cancelled at once;
 *   - a server's connection handlers, accepted but not yet started when
 *     the shutdown is called. (The shutdown parks while it stops the
 *     accept task, so they get their first turn before its cancel comes:
 *     this case passes under the old rule too. tests/test_server_shutdown.c
 *     has the handler that is cancelled with bytes queued.)
 *
 * Each owner here is a counter of things handed out and given back (a
 * "resource"), plus descriptors counted before and after, plus the loop's
 * close, which reports any task left pending or unjoined.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>


/* A resource handed to a task with its argument: the task must give it
 * back whatever happens. */
typedef struct owned {
    int *outstanding;
    int first_rc;       /* what the task's first blocking call answered */
    bool ran;
} owned;

static owned *hand_out(int *outstanding)
{
    owned *o = calloc(1, sizeof *o);
    cr_assert_not_null(o);
    o->outstanding = outstanding;
    o->first_rc = 1;
    ++*outstanding;
    return o;
}

static void give_back(owned *o)
{
    --*o->outstanding;
    free(o);
}

/* Blocks once (a long sleep), then gives back what it owns. */
static void *owner_main(void *arg)
{
    owned *o = arg;
    o->ran = true;
    o->first_rc = corio_sleep(CORIO_SEC(60));
    give_back(o);
    return NULL;
}

static void *failing_main(void *arg)
{
    (void)arg;
    return corio_fail(CORIO_EIO);
}

/* ---- task group ------------------------------------------------------ */

static void *group_body(void *arg)
{
    int *outstanding = arg;
    corio_taskgroup g;
    corio_taskgroup_init(&g);
    /* The failing child runs first and aborts the group before any owner
     * has had its first turn. */
    corio_taskgroup_spawn(&g, failing_main, NULL, NULL);
    for (int i = 0; i < 8; i++)
        corio_taskgroup_spawn(&g, owner_main, hand_out(outstanding), NULL);
    int rc = corio_taskgroup_wait(&g);
    cr_assert_eq(rc, CORIO_EIO, "the group reports its first failure");
    for (size_t i = 1; i < corio_taskgroup_size(&g); i++)
        cr_assert_eq(corio_taskgroup_result(&g, i, NULL), CORIO_ECANCELED);
    corio_taskgroup_destroy(&g);
    return NULL;
}

Test(cancel_before_start, taskgroup_children_release_what_they_own)
{
    int outstanding = 0;
    corio_test_run_clean(group_body, &outstanding);
    cr_assert_eq(outstanding, 0, "%d resource(s) never given back", outstanding);
}

/* ---- gather_calls, wait_for ------------------------------------------ */

static void *gather_body(void *arg)
{
    int *outstanding = arg;
    corio_call calls[4];
    owned *o[4];
    for (int i = 0; i < 4; i++) {
        o[i] = hand_out(outstanding);
        calls[i] = (corio_call){ owner_main, o[i] };
    }
    /* Already past its deadline: every call is cancelled before it ran. */
    corio_outcome out[4];
    int rc = corio_gather_calls_until(calls, 4, out, 0, corio_now() - 1);
    cr_assert_eq(rc, CORIO_ETIMEDOUT, "gather_calls: %s", corio_strerror(rc));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(out[i].status, CORIO_ECANCELED);

    /* wait_for: the same, one call. */
    owned *w = hand_out(outstanding);
    corio_outcome one;
    rc = corio_wait_for_until(owner_main, w, &one, corio_now() - 1);
    cr_assert_eq(rc, CORIO_ETIMEDOUT);
    cr_assert_eq(one.status, CORIO_ECANCELED);
    return NULL;
}

Test(cancel_before_start, gather_calls_and_wait_for_release_what_they_own)
{
    int outstanding = 0;
    corio_test_run_clean(gather_body, &outstanding);
    cr_assert_eq(outstanding, 0, "%d resource(s) never given back", outstanding);
}

/* ---- corio_run's cancel-all, and the shield reaper -------------------- */

static int discarded;
static void count_discard(void *result) { (void)result; discarded++; }

static void *left_behind_body(void *arg)
{
    int *outstanding = arg;
    /* Detached tasks that have not run when main returns: asyncio.run
     * cancels them, and here they still run and give back. */
    for (int i = 0; i < 4; i++)
        corio_detach(corio_spawn(owner_main, hand_out(outstanding), NULL));
    /* A shielded task whose waiter gives up at once: a reaper adopts it.
     * Neither has run when main returns. */
    corio_task *t = corio_spawn(owner_main, hand_out(outstanding), NULL);
    int rc = corio_shield_join_until(t, NULL, count_discard, corio_now() - 1);
    cr_assert_eq(rc, CORIO_ETIMEDOUT);
    return NULL;
}

Test(cancel_before_start, run_cancels_and_still_runs_what_is_left)
{
    int outstanding = 0;
    discarded = 0;
    cr_assert_eq(corio_run(left_behind_body, &outstanding, NULL), 0);
    cr_assert_eq(outstanding, 0, "%d resource(s) never given back", outstanding);
    cr_assert_eq(discarded, 1, "the reaper ran and passed the result on");
}

/* ---- communicate ------------------------------------------------------ */

#ifndef _WIN32
static void *communicate_body(void *arg)
{
    (void)arg;
    const char *argv[] = { "cat", NULL };
    corio_process_opts po = { CORIO_STDIO_PIPE, CORIO_STDIO_PIPE,
                              CORIO_STDIO_PIPE, NULL, NULL };
    corio_process *p;
    int rc = corio_process_spawn(argv, &po, &p);
    cr_assert_eq(rc, 0, "spawn cat: %s", corio_strerror(rc));
    static char big[1 << 20];
    memset(big, 'x', sizeof big);
    /* Cancelled before communicate starts: its three tasks are cancelled
     * before their first turn, and the one feeding stdin must still close
     * it (cat then ends). */
    corio_cancel(corio_current());
    corio_buf out = { 0 }, err = { 0 };
    rc = corio_process_communicate(p, big, sizeof big, &out, &err, NULL);
    cr_assert_eq(rc, CORIO_ECANCELED, "communicate: %s", corio_strerror(rc));
    cr_assert_null(corio_process_stdin(p), "stdin was closed by its task");
    corio_shield_begin();
    /* Take what cat echoed of the input that reached it. The feeding task
     * reaches its first suspension point only when a write finds the pipe
     * full, so while cat keeps up on the other core more than one pipe's
     * worth gets through; nobody reads cat's stdout after the cancel, and
     * cat would block writing it, never reaching stdin's end. End of
     * stream on stdout is cat closing it, at its exit. */
    int64_t until = corio_deadline_in(CORIO_SEC(10));
    static char sink[65536];
    ptrdiff_t n;
    while ((n = corio_stream_read_until(corio_process_stdout(p), sink,
                                        sizeof sink, until)) > 0) {
    }
    cr_assert_eq(n, 0, "cat's stdout never ended: %s", corio_strerror((int)n));
    int code = -1;
    rc = corio_process_wait_until(p, &code, until);
    corio_shield_end();
    cr_assert_eq(rc, 0, "cat never ended: %s", corio_strerror(rc));
    corio_buf_free(&out);
    corio_buf_free(&err);
    corio_process_free(p);
    return NULL;
}

Test(cancel_before_start, communicate_closes_stdin_and_leaks_no_descriptor,
     .timeout = 30)
{
    int before = count_open_fds();
    corio_test_run_clean(communicate_body, NULL);
    cr_assert_eq(count_open_fds(), before, "%d descriptor(s) leaked",
                 count_open_fds() - before);
}
#endif

/* ---- a server's handlers --------------------------------------------- */

typedef struct srv_case {
    int started, ended;
} srv_case;

static void handler(corio_stream *s, void *arg)
{
    srv_case *c = arg;
    c->started++;
    char buf[64];
    (void)corio_stream_read(s, buf, sizeof buf);
    c->ended++;
}

#define CONNS 32

static void *server_body(void *arg)
{
    srv_case *c = arg;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, handler, c, NULL, &srv);
    cr_assert_eq(rc, 0, "start_server: %s", corio_strerror(rc));
    corio_addr a;
    corio_addr_ip(&a, "127.0.0.1", corio_server_port(srv));
    corio_fd fds[CONNS];
    for (int i = 0; i < CONNS; i++) {
        rc = corio_tcp_connect_until(&a, &fds[i], corio_deadline_in(CORIO_SEC(10)));
        cr_assert_eq(rc, 0, "connect: %s", corio_strerror(rc));
    }
    /* Let the accept task take the connections; the handlers it spawns
     * are queued behind us and have not run. Wait, on the clock, until
     * every connection is live. */
    WAIT_UNTIL(corio_server_connections(srv) == CONNS);
    cr_assert_eq(corio_server_connections(srv), CONNS);
    int not_started = CONNS - c->started;
    /* Cancel them all, grace over at once. */
    int cancelled = corio_server_shutdown_until(srv, corio_now());
    cr_assert_eq(cancelled, CONNS, "shutdown cancelled %d", cancelled);
    cr_assert(not_started > 0, "no handler was still unstarted when the "
              "shutdown was called");
    cr_assert_eq(c->started, CONNS, "every handler ran");
    cr_assert_eq(c->ended, CONNS);
    /* Every accepted descriptor was closed: each client sees its end. */
    for (int i = 0; i < CONNS; i++) {
        char b;
        ptrdiff_t n = corio_sock_recv_until(fds[i], &b, 1,
                                            corio_deadline_in(CORIO_SEC(10)));
        cr_assert(n == 0 || n == CORIO_ECONNRESET, "client %d: %s", i,
                  corio_strerror((int)n));
        corio_fd_close(fds[i]);
    }
    return NULL;
}

Test(cancel_before_start, shutdown_called_before_handlers_ran_closes_all,
     .timeout = 30)
{
    int before = count_open_fds();
    srv_case c = { 0, 0 };
    corio_test_run_clean(server_body, &c);
    cr_assert_eq(count_open_fds(), before, "%d descriptor(s) leaked",
                 count_open_fds() - before);
}
