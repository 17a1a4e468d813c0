/*
 * test_errors.c — errors keep their cause: each OS failure the tests can
 * provoke comes back as its own CORIO_E* code, and corio_last_os_error()
 * gives the errno / GetLastError value behind it.
 *
 * Provoked here: not found (a Unix socket in a missing directory, a
 * missing program), permission denied (exec of a directory: refused even
 * to root), address not available (bind to 192.0.2.1, TEST-NET-1, which
 * no host is given), address in use, connection refused (a closed
 * loopback port), too many open files (a lowered RLIMIT_NOFILE), broken
 * pipe / reset (a peer that vanished), and timeouts (corio's own: they
 * leave corio_last_os_error() alone).
 *
 * Not provoked: permission denied on a file mode or a privileged port
 * (the suites run as root, who passes both checks), connection aborted
 * (Linux's accept() retries it inside the library, and loopback never
 * aborts an established connection), out of memory (no way to make the
 * kernel refuse a socket buffer without starving the test runner).
 */
#include <criterion/criterion.h>
#include "corio.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif

/* ---- every code has its own words ---- */

Test(errors, every_code_has_a_distinct_message)
{
    for (int e = CORIO_ECANCELED; e > CORIO_ELAST_; e--) {
        const char *m = corio_strerror(e);
        cr_assert(strcmp(m, "unknown corio error") != 0, "code %d has no message", e);
        for (int f = CORIO_ECANCELED; f > e; f--)
            cr_assert(strcmp(m, corio_strerror(f)) != 0, "codes %d and %d read alike",
                      e, f);
    }
    cr_assert_str_eq(corio_strerror(CORIO_ELAST_), "unknown corio error");
}

/* ---- one run collects what each provoked failure returned ---- */

typedef struct seen {
    int rc;
    int os;  /* corio_last_os_error() right after */
} seen;

static void *wait_for_gate(void *arg)
{
    corio_event_wait(arg);
    return NULL;
}

static seen after(int rc)
{
    seen s = { rc, corio_last_os_error() };
    return s;
}

typedef struct cases {
    seen unix_missing_dir, bind_foreign, bind_local, bind_in_use, refused,
         timed_out, spawn_missing, spawn_directory;
    int bind_local_closed;
} cases;

static void *provoke(void *arg)
{
    cases *c = arg;
    corio_addr a;
    corio_fd fd, lfd;

    int rc = corio_unix_listen("/corio-no-such-dir/sock", 4, &fd);
    c->unix_missing_dir = after(rc);
    if (rc == 0) corio_fd_close(fd);

    corio_addr_ip(&a, "192.0.2.1", 0);
    rc = corio_tcp_listen(&a, 4, 0, &fd);
    c->bind_foreign = after(rc);
    if (rc == 0) corio_fd_close(fd);

    /* 127.0.0.1 is always this machine's: the same call succeeds. */
    corio_addr_ip(&a, "127.0.0.1", 0);
    rc = corio_tcp_listen(&a, 4, 0, &lfd);
    c->bind_local = after(rc);
    if (rc != 0) return NULL;

    /* The same port again, without SO_REUSEPORT: in use. */
    corio_addr bound;
    corio_sock_local_addr(lfd, &bound);
    rc = corio_tcp_listen(&bound, 4, 0, &fd);
    c->bind_in_use = after(rc);
    if (rc == 0) corio_fd_close(fd);

    /* Close the listener: nobody listens on that loopback port now. */
    c->bind_local_closed = corio_fd_close(lfd);
    rc = corio_tcp_connect_until(&bound, &fd, corio_deadline_in(CORIO_SEC(20)));
    c->refused = after(rc);
    if (rc == 0) corio_fd_close(fd);

    /* corio's own failure, a deadline: the OS error seen before stays. */
    corio_event gate;
    corio_event_init(&gate);
    corio_task *t = corio_spawn(wait_for_gate, &gate, NULL);
    c->timed_out = after(corio_join_until(t, NULL, corio_now()));
    corio_event_set(&gate);
    corio_join(t, NULL);
    corio_event_destroy(&gate);

#ifndef _WIN32
    corio_process *p;
    const char *missing[] = { "/corio/no/such/program", NULL };
    rc = corio_process_spawn(missing, NULL, &p);
    c->spawn_missing = after(rc);
    if (rc == 0) corio_process_free(p);
    /* execve needs an execute bit even for root, and a directory has no
     * program in it: EACCES. */
    const char *directory[] = { "/", NULL };
    rc = corio_process_spawn(directory, NULL, &p);
    c->spawn_directory = after(rc);
    if (rc == 0) corio_process_free(p);
#endif
    return NULL;
}

/* On Windows the values are WSA / Win32 numbers; the code must match
 * and a value must be there. */
#ifdef _WIN32
#define OS_IS(seen, posix_value) cr_assert_neq((seen).os, 0)
#else
#define OS_IS(seen, posix_value) \
    cr_assert_eq((seen).os, (posix_value), "os error %d (%s)", (seen).os, \
                 strerror((seen).os))
#endif

Test(errors, each_failure_keeps_its_cause, .timeout = 60)
{
    cases c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(corio_test_run_clean(provoke, &c), 0);

    if (c.unix_missing_dir.rc != CORIO_ENOTSUP) { /* Windows without AF_UNIX */
        cr_assert_eq(c.unix_missing_dir.rc, CORIO_ENOTFOUND, "unix listen: %s",
                     corio_strerror(c.unix_missing_dir.rc));
        OS_IS(c.unix_missing_dir, ENOENT);
    }
    cr_assert_eq(c.bind_foreign.rc, CORIO_EADDRNOTAVAIL, "bind 192.0.2.1: %s",
                 corio_strerror(c.bind_foreign.rc));
    OS_IS(c.bind_foreign, EADDRNOTAVAIL);
    cr_assert_eq(c.bind_local.rc, 0, "bind 127.0.0.1: %s",
                 corio_strerror(c.bind_local.rc));
    cr_assert_eq(c.bind_in_use.rc, CORIO_EADDRINUSE, "second bind: %s",
                 corio_strerror(c.bind_in_use.rc));
    OS_IS(c.bind_in_use, EADDRINUSE);
    cr_assert_eq(c.bind_local_closed, 0);
    cr_assert_eq(c.refused.rc, CORIO_ECONNREFUSED, "connect: %s",
                 corio_strerror(c.refused.rc));
    OS_IS(c.refused, ECONNREFUSED);
    cr_assert_eq(c.timed_out.rc, CORIO_ETIMEDOUT);
    cr_assert_eq(c.timed_out.os, c.refused.os,
                 "a deadline is not an OS error: the last one stays");
#ifndef _WIN32
    cr_assert_eq(c.spawn_missing.rc, CORIO_ENOTFOUND);
    OS_IS(c.spawn_missing, ENOENT);
    cr_assert_eq(c.spawn_directory.rc, CORIO_EACCES, "exec of /: %s",
                 corio_strerror(c.spawn_directory.rc));
    OS_IS(c.spawn_directory, EACCES);
#endif
}

/* ---- a peer that vanished: reset, then broken pipe ---- */

typedef struct vanish_case {
    int setup;      /* 0, or the step that failed */
    seen send_after_reset;
} vanish_case;

static void *vanish(void *arg)
{
    vanish_case *v = arg;
    corio_addr a, bound;
    corio_fd lfd, client, peer;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    corio_addr_ip(&a, "127.0.0.1", 0);
    if (corio_tcp_listen(&a, 4, 0, &lfd) != 0) { v->setup = 1; return NULL; }
    corio_sock_local_addr(lfd, &bound);
    if (corio_tcp_connect_until(&bound, &client, dl) != 0 ||
        corio_tcp_accept_until(lfd, &peer, NULL, dl) != 0) {
        v->setup = 2;
        return NULL;
    }
    corio_fd_close(lfd);
    /* The peer closes with our byte unread: its kernel answers with a
     * reset, which makes our end readable. Wait for that event. */
    if (corio_sock_send_all_until(client, "x", 1, dl) != 0 ||
        corio_wait_readable_until(peer, dl) != 0) {
        v->setup = 3;
        return NULL;
    }
    corio_fd_close(peer);
    if (corio_wait_readable_until(client, dl) != 0) { v->setup = 4; return NULL; }
    v->send_after_reset = after((int)corio_sock_send_until(client, "y", 1, dl));
    corio_fd_close(client);
    return NULL;
}

Test(errors, vanished_peer_is_a_reset_or_a_broken_pipe, .timeout = 60)
{
    signal_handler old = sigpipe_fatal(); /* a SIGPIPE would kill the test */
    vanish_case v;
    memset(&v, 0, sizeof v);
    cr_assert_eq(corio_test_run_clean(vanish, &v), 0);
    sigpipe_restore(old);
    cr_assert_eq(v.setup, 0, "setup step %d failed", v.setup);
    seen s = v.send_after_reset;
    cr_assert(s.rc == CORIO_ECONNRESET || s.rc == CORIO_EPIPE,
              "send after reset: %s", corio_strerror(s.rc));
#ifndef _WIN32
    cr_assert_eq(s.os, s.rc == CORIO_EPIPE ? EPIPE : ECONNRESET,
                 "os error %d (%s)", s.os, strerror(s.os));
#else
    cr_assert_neq(s.os, 0);
#endif
}

/* ---- too many open files ---- */

#ifndef _WIN32
#define MAX_SOCKETS 256

typedef struct emfile_case {
    int lowered;
    size_t opened;
    seen failure;
} emfile_case;

static void *exhaust(void *arg)
{
    emfile_case *e = arg;
    struct rlimit old, low;
    if (getrlimit(RLIMIT_NOFILE, &old) != 0) return NULL;
    /* Each test runs in its own process: the limit is ours alone. 64 is
     * above what the loop and the runner hold, far below MAX_SOCKETS. */
    low = old;
    low.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) return NULL;
    e->lowered = 1;
    corio_fd fds[MAX_SOCKETS];
    corio_addr a;
    corio_addr_ip(&a, "127.0.0.1", 0);
    e->failure.rc = 0;
    while (e->opened < MAX_SOCKETS) {
        int rc = corio_udp_bind(&a, &fds[e->opened]);
        if (rc != 0) {
            e->failure = after(rc);
            break;
        }
        e->opened++;
    }
    for (size_t i = 0; i < e->opened; i++) corio_fd_close(fds[i]);
    setrlimit(RLIMIT_NOFILE, &old);
    return NULL;
}

Test(errors, descriptor_table_full_is_emfile, .timeout = 60)
{
    emfile_case e;
    memset(&e, 0, sizeof e);
    cr_assert_eq(corio_test_run_clean(exhaust, &e), 0);
    cr_assert(e.lowered, "could not lower RLIMIT_NOFILE");
    cr_assert_lt(e.opened, MAX_SOCKETS, "the limit never bit");
    cr_assert_eq(e.failure.rc, CORIO_EMFILE, "after %zu sockets: %s", e.opened,
                 corio_strerror(e.failure.rc));
    cr_assert_eq(e.failure.os, EMFILE, "os error %d", e.failure.os);
}

/* A loop that cannot get its epoll descriptor says NULL, and the reason
 * is kept: EMFILE here (found by make test-faults: the poller used to
 * return CORIO_EMFILE for any failure without recording the errno, so
 * corio_last_os_error() had nothing, and ENOMEM read as EMFILE). */
Test(errors, loop_new_keeps_the_os_error, .timeout = 60)
{
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0); /* the lowest free descriptor number */
    cr_assert_geq(lowest, 0);
    close(lowest);
    low = old;
    low.rlim_cur = (rlim_t)lowest; /* no new descriptor fits now */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    corio_loop *l = corio_loop_new(NULL);
    int os = corio_last_os_error();
    setrlimit(RLIMIT_NOFILE, &old);
    if (l) corio_loop_close(l);
    cr_assert_null(l, "a loop was made without a descriptor");
    cr_assert_eq(os, EMFILE, "os error %d", os);
}
#endif
