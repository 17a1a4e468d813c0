/*
 * test_dns.c — net/dns.c: corio_resolve, getaddrinfo on the thread pool.
 *
 * Only names that never leave the machine: "localhost", literals, and a
 * name under ".invalid", the top-level domain reserved never to exist
 * (RFC 6761). The resolver may still ask the configured DNS server about
 * that one; the answer is "no such name" either way.
 *
 * Cancellation and deadlines: to stop a lookup while it is still QUEUED,
 * the loop's pool is cut to one worker and that worker is kept busy by a
 * call that waits for the test's say-so. To stop lookups while they RUN
 * or after their answer is on its way, many lookups are cancelled after
 * varying numbers of turns. Under `make test-sanitize` LeakSanitizer then
 * proves that every abandoned answer was freed (and ASan that nothing
 * was used after it).
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"

/* Run fn(arg) as the main task of a new loop that must close clean. */
#define run_task corio_test_run_clean

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>




/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

#define MAXA 16

typedef struct answer_case {
    int n, n4, n6_literal_as_v4, lit;
    corio_addr any[MAXA], v4[MAXA], litv[2];
    int invalid, bad_family, bad_port;
    tally t;
} answer_case;

static void *answer_main(void *arg)
{
    answer_case *c = arg;
    int64_t dl = corio_deadline_in(CORIO_SEC(20));
    c->n = corio_resolve_until("localhost", 8080, 0, c->any, MAXA, dl);
    c->n4 = corio_resolve_until("localhost", 80, CORIO_AF_INET, c->v4, MAXA,
                                dl);
    c->lit = corio_resolve_until("::1", 443, 0, c->litv, 2, dl);
    c->n6_literal_as_v4 = corio_resolve_until("::1", 443, CORIO_AF_INET,
                                              c->litv + 1,
                                              1, dl);
    c->invalid = corio_resolve_until("no-such-host.invalid", 80, 0,
                                     c->any + MAXA / 2,
                                     MAXA / 2, dl);
    c->bad_family = corio_resolve_until("localhost", 80, 99, c->v4, 1, dl);
    c->bad_port = corio_resolve_until("localhost", 70000, 0, c->v4, 1, dl);
    return NULL;
}

Test(dns, resolve_localhost_and_literals, .timeout = 60)
{
    static answer_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(answer_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);

    cr_assert_geq(c.n, 1, "localhost: %s", c.n < 0 ? corio_strerror(c.n) : "0");
    int loopback = 0;
    for (int i = 0; i < c.n && i < MAXA / 2; i++) {
        char text[80];
        int f = corio_addr_family(&c.any[i]);
        cr_assert(f == CORIO_AF_INET || f == CORIO_AF_INET6, "family %d", f);
        cr_assert_eq(corio_addr_port(&c.any[i]), 8080, "port set");
        corio_addr_format(&c.any[i], text, sizeof text);
        cr_log_info("localhost -> %s", text);
        if (strncmp(text, "127.", 4) == 0 || strncmp(text, "[::1]", 5) == 0)
            loopback++;
    }
    cr_assert_geq(loopback, 1, "no loopback address for localhost");

    cr_assert_geq(c.n4, 1, "localhost v4: %d", c.n4);
    for (int i = 0; i < c.n4; i++) {
        cr_assert_eq(corio_addr_family(&c.v4[i]), CORIO_AF_INET);
        cr_assert_eq(corio_addr_port(&c.v4[i]), 80);
    }

    cr_assert_eq(c.lit, 1);
    char text[80];
    corio_addr_format(&c.litv[0], text, sizeof text);
    cr_assert_str_eq(text, "[::1]:443");
    cr_assert_eq(c.n6_literal_as_v4, CORIO_ENOTFOUND);

    cr_assert_eq(c.invalid, CORIO_ENOTFOUND, ".invalid: %s",
                 corio_strerror(c.invalid));
    cr_assert_eq(c.bad_family, CORIO_EINVAL);
    cr_assert_eq(c.bad_port, CORIO_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Stopping a lookup that waits in the pool's queue                    */
/* ------------------------------------------------------------------ */

typedef struct queued_case {
    atomic_int release;     /* the blocker may return */
    atomic_int blocking;    /* the blocker runs */
    corio_task *lookup;
    int timed_rc, cancel_rc, after_rc;
    tally t;
} queued_case;

/* Occupies the pool's only worker until told to stop (bounded: 20 s). */
static void *blocker(void *arg)
{
    queued_case *c = arg;
    atomic_store(&c->blocking, 1);
    int64_t limit = corio_deadline_in(CORIO_SEC(20));
    while (!atomic_load(&c->release) && corio_now() < limit) {
    }
    return NULL;
}

static void *blocker_task(void *arg)
{
    queued_case *c = arg;
    int rc = corio_to_thread(blocker, c, NULL, NULL);
    NOTE(&c->t, rc == 0, "blocker: %s", corio_strerror(rc));
    return NULL;
}

static void *cancelled_lookup(void *arg)
{
    queued_case *c = arg;
    corio_addr out[4];
    c->cancel_rc = corio_resolve("localhost", 1, 0, out, 4);
    return NULL;
}

static void *queued_main(void *arg)
{
    queued_case *c = arg;
    NOTE(&c->t, corio_default_pool_threads(NULL, 1) == 0, "pool size");
    corio_task *b = corio_spawn(blocker_task, c, NULL);
    WAIT_UNTIL(atomic_load(&c->blocking)); /* the worker starts */
    NOTE(&c->t, atomic_load(&c->blocking), "blocker never started");

    /* A deadline passes while the lookup is queued behind the blocker. */
    corio_addr out[4];
    int64_t dl = corio_deadline_in(CORIO_MS(50));
    c->timed_rc = corio_resolve_until("localhost", 1, 0, out, 4, dl);
    NOTE(&c->t, corio_now() >= dl, "returned before the deadline");

    /* A cancel arrives while it is queued. */
    corio_task *l = corio_spawn(cancelled_lookup, c, NULL);
    if (l) NOTE(&c->t, until_parked(l) == 0, "queued lookup never parked");
    if (l) {
        corio_cancel(l);
        corio_join(l, NULL);
    }

    atomic_store(&c->release, 1);
    if (b) corio_join(b, NULL);
    /* The pool works on: the withdrawn jobs left nothing behind. */
    c->after_rc = corio_resolve_until("localhost", 1, 0, out, 4,
                                      corio_deadline_in(CORIO_SEC(20)));
    return NULL;
}

Test(dns, deadline_and_cancel_while_queued, .timeout = 60)
{
    static queued_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(queued_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.timed_rc, CORIO_ETIMEDOUT, "deadline: %s",
                 corio_strerror(c.timed_rc));
    cr_assert_eq(c.cancel_rc, CORIO_ECANCELED, "cancel: %s",
                 corio_strerror(c.cancel_rc));
    cr_assert_geq(c.after_rc, 1, "lookup after: %s",
                  c.after_rc < 0 ? corio_strerror(c.after_rc) : "0");
}

/* ------------------------------------------------------------------ */
/* Stopping lookups at every stage: queued, running, answered          */
/* ------------------------------------------------------------------ */

#define RACERS 128
#define NOT_SET 1000000 /* race_lookup always runs and overwrites it */

typedef struct race_case {
    int rc[RACERS];
    int answered, cancelled, other;
    tally t;
} race_case;

typedef struct racer {
    race_case *c;
    int i;
} racer;

static void *race_lookup(void *arg)
{
    racer *r = arg;
    corio_addr out[4];
    r->c->rc[r->i] = corio_resolve("localhost", 1, 0, out, 4);
    return NULL;
}

static void *race_main(void *arg)
{
    race_case *c = arg;
    static racer rs[RACERS];
    /* One lookup at a time: start it, let it reach the pool, then hold
     * the loop's thread for a growing while (the worker runs meanwhile on
     * its own thread) and cancel. Early ones are stopped queued, later
     * ones while getaddrinfo runs, the last ones with their answer
     * already on its way back. */
    for (int i = 0; i < RACERS; i++) {
        c->rc[i] = NOT_SET;
        rs[i].c = c;
        rs[i].i = i;
        corio_task *t = corio_spawn(race_lookup, &rs[i], NULL);
        NOTE(&c->t, t != NULL, "spawn");
        if (!t) continue;
        NOTE(&c->t, until_parked(t) == 0, "lookup %d never parked", i);
        int64_t until = corio_now() + CORIO_US(3) * i;
        while (corio_now() < until) {
        }
        corio_cancel(t);
        int status = corio_join(t, NULL);
        (void)status; /* every task runs: its own rc says how it ended */
        if (c->rc[i] >= 1 && c->rc[i] != NOT_SET) c->answered++;
        else if (c->rc[i] == CORIO_ECANCELED) c->cancelled++;
        else c->other++;
    }
    return NULL;
}

Test(dns, cancel_at_every_stage_leaks_nothing, .timeout = 60)
{
    static race_case c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(run_task(race_main, &c), 0);
    ASSERT_TALLY_CLEAN(c.t);
    cr_log_info("%d answered, %d cancelled", c.answered, c.cancelled);
    cr_assert_eq(c.other, 0, "a lookup ended neither answered nor cancelled");
    cr_assert_eq(c.answered + c.cancelled, RACERS);
    cr_assert_geq(c.cancelled, 1, "no lookup was stopped");
}

/* ------------------------------------------------------------------ */
/* Found by tests/fuzz/fuzz_resolve: EAI_SYSTEM with errno 0            */
/* ------------------------------------------------------------------ */

/* getaddrinfo's EAI_SYSTEM says "see errno"; with errno 0 that became
 * 0, i.e. "0 addresses found", which corio_resolve handed on as a
 * success with nothing in out[]. It is an error (CORIO_EIO) now.
 * The check wraps getaddrinfo for this binary: every other call goes
 * through to the C library's (dlsym RTLD_NEXT). Only where that works:
 * the dynamically linked Criterion build on Linux, and not under TSan,
 * whose own getaddrinfo interceptor must stay in place. */
#if defined(__linux__) && !defined(CORIO_HARNESS_CRITERION_H) && \
    !defined(__SANITIZE_THREAD__)
#include "os/io.h"
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>

static int fake_system_error; /* 1: the next call fails, errno 0 */

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    if (fake_system_error) {
        fake_system_error = 0;
        errno = 0;
        return EAI_SYSTEM;
    }
    typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                          struct addrinfo **);
    gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (!real) return EAI_FAIL;
    return real(node, service, hints, res);
}
#define HAVE_FAKE_GAI 1
#endif

Test(dns, system_error_without_errno_is_an_error)
{
#ifdef HAVE_FAKE_GAI
    corio_addr out[2];
    fake_system_error = 1;
    int rc = corio__io_resolve_blocking("name.invalid", 80, 0, out, 2);
    cr_assert_eq(rc, CORIO_EIO, "%d", rc);
    /* and the wrapper passes everything else through */
    rc = corio__io_resolve_blocking("localhost", 80, 0, out, 2);
    cr_assert(rc >= 1, "localhost: %d", rc);
#else
    cr_skip_test("getaddrinfo cannot be wrapped in this build");
#endif
}
