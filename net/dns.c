/*
 * dns.c — corio_resolve: getaddrinfo on the thread pool, as asyncio's
 * loop.getaddrinfo runs it in the default executor.
 *
 * getaddrinfo blocks (it may read /etc/hosts, ask a DNS server and wait
 * seconds for it) and has no way to be interrupted. So:
 *
 *   task                                 worker thread
 *   ----                                 -------------
 *   literal "127.0.0.1"? answer at once (no thread)
 *   job = {host, port, family, room for the answer}
 *   corio_to_thread_until(lookup, job) ─> lookup(job):
 *   (parks; other tasks run)                corio__io_resolve_blocking
 *   <──────────────────────────────────── returns job (the answer inside)
 *   copy the addresses out, free job
 *
 * The hard part is a caller that stops waiting (cancelled, deadline): it
 * must return at once, and the job must still be freed exactly once,
 * whatever the worker is doing. corio_to_thread tells the caller only
 * "I gave up"; the job was then either withdrawn before any worker took
 * it (lookup never runs), or taken by a worker (lookup runs, or is about
 * to, or already returned and its answer is on its way to the loop).
 * The caller cannot tell "withdrawn" from "taken, not started yet", so it
 * may not free the job, and lookup may not touch a job the caller freed.
 *
 * The fix is a small registry of jobs no worker has claimed yet, behind a
 * lock that both sides take (job_claim, job_give_up):
 *
 *   state        who frees the job
 *   QUEUED       the caller, if it gives up (it also unlists the job, so
 *                a worker that takes it later finds nothing and returns)
 *   RUNNING      lookup, when it ends, if the caller gave up meanwhile
 *                (the caller marks it ABANDONED)
 *   ANSWERED     the caller when it gets the answer; if it gave up, the
 *                pool passes the answer to our discard callback, which
 *                frees it ("a late answer is freed, not leaked")
 *
 * The lock is a spin lock on a C11 atomic_flag: it needs no set-up (so
 * no "first use" race), works on every OS without #ifdef, and guards a
 * few pointer moves only, never a system call.
 */
#include "corio.h"
#include "coro/alloc.h"
#include "os/io.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Enough for every address a real host name has; more are dropped. */
#define DNS_MAX_ANSWERS 32

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_ABANDONED, JOB_ANSWERED } job_state;

typedef struct dns_job {
    struct dns_job *prev, *next;   /* the registry, while QUEUED */
    uintptr_t ticket;              /* what the worker is handed (lookup) */
    job_state state;               /* under registry_lock */
    int port, family;
    int count;                     /* the answer: >= 1 or a CORIO_E* code */
    corio_addr addrs[DNS_MAX_ANSWERS];
    char host[];                   /* a copy: the caller's may be gone */
} dns_job;

/* ------------------------------------------------------------------ */
/* The registry of unclaimed jobs                                      */
/* ------------------------------------------------------------------ */

static atomic_flag registry_lock = ATOMIC_FLAG_INIT;
static dns_job *registry; /* jobs in state QUEUED */

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&registry_lock,
                                             memory_order_acquire)) {
    }
}

static void unlock(void)
{
    atomic_flag_clear_explicit(&registry_lock, memory_order_release);
}

static void registry_add(dns_job *j)
{
    j->prev = NULL;
    j->next = registry;
    if (registry) registry->prev = j;
    registry = j;
}

static void registry_remove(dns_job *j)
{
    if (j->prev) j->prev->next = j->next;
    else registry = j->next;
    if (j->next) j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

/* The listed job with this ticket, or NULL. The worker is handed a
 * ticket, never the job's address: a caller who gave up frees its job,
 * and the next lookup's malloc may return the same address, so a stale
 * pointer could find (and steal) SOMEONE ELSE's job in the registry --
 * the worker then answered the wrong caller, whose discard freed a job
 * its own caller still read. Tickets are never reused (64-bit counter;
 * a 32-bit one would need 4 billion lookups in flight to wrap). */
static atomic_uintptr_t next_ticket;

static dns_job *registry_find(uintptr_t ticket)
{
    for (dns_job *k = registry; k; k = k->next)
        if (k->ticket == ticket) return k;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The worker's side                                                   */
/* ------------------------------------------------------------------ */

/* Runs on a pool thread. Returns the job with its answer, or NULL when
 * there is nobody to answer (the job is then already freed). */
static void *lookup(void *arg)
{
    lock(); /* claim: QUEUED -> RUNNING, unless the caller already left */
    dns_job *j = registry_find((uintptr_t)arg);
    if (!j) {
        unlock();
        return NULL; /* freed by a caller who gave up: nothing to touch */
    }
    registry_remove(j);
    j->state = JOB_RUNNING;
    unlock();

    j->count = corio__io_resolve_blocking(j->host, j->port, j->family,
                                         j->addrs, DNS_MAX_ANSWERS);

    lock();
    int abandoned = j->state == JOB_ABANDONED;
    if (!abandoned) j->state = JOB_ANSWERED;
    unlock();
    if (abandoned) {
        corio__free(j);
        return NULL;
    }
    return j;
}

/* The pool's discard callback: an answer whose caller gave up. */
static void discard_answer(void *result)
{
    corio__free(result); /* NULL when lookup already freed it */
}

/* ------------------------------------------------------------------ */
/* The caller's side                                                   */
/* ------------------------------------------------------------------ */

/* The caller stopped waiting: free the job now if no worker has it, or
 * leave it to whoever holds it (see the table at the top). */
static void job_give_up(dns_job *j)
{
    int free_now = 0;
    lock();
    switch (j->state) {
    case JOB_QUEUED:
        registry_remove(j);
        free_now = 1;
        break;
    case JOB_RUNNING:
        j->state = JOB_ABANDONED; /* lookup frees it */
        break;
    default:
        break; /* ANSWERED: the pool hands it to discard_answer */
    }
    unlock();
    if (free_now) corio__free(j);
}

int corio_resolve_until(const char *host, int port, int family, corio_addr *out,
                        size_t max, int64_t deadline)
{
    if (!host || !out || max == 0 || port < 0 || port > 65535)
        return CORIO_EINVAL;
    if (family != 0 && family != CORIO_AF_INET && family != CORIO_AF_INET6)
        return CORIO_EINVAL;

    /* A literal needs no resolver and no thread (asyncio skips
     * getaddrinfo for literals too). */
    corio_addr lit;
    if (corio_addr_ip(&lit, host, port) == 0) {
        if (family != 0 && corio_addr_family(&lit) != family)
            return CORIO_ENOTFOUND;
        out[0] = lit;
        return 1;
    }

    size_t hlen = strlen(host);
    dns_job *j = corio__malloc(sizeof *j + hlen + 1);
    if (!j) return CORIO_ENOMEM;
    memset(j, 0, sizeof *j);
    memcpy(j->host, host, hlen + 1);
    j->port = port;
    j->family = family;
    j->state = JOB_QUEUED;
    j->ticket = atomic_fetch_add(&next_ticket, 1) + 1;
    lock();
    registry_add(j);
    unlock();

    void *answer = NULL;
    int rc = corio_to_thread_until(lookup, (void *)j->ticket, &answer,
                                   discard_answer, deadline);
    if (rc < 0) {
        job_give_up(j);
        return rc;
    }
    /* rc == 0: lookup ran for us and returned j (it returns NULL only to
     * a caller who had already given up, which we have not; and only our
     * own ticket finds j). */
    int n = j->count;
    if (n > 0) {
        if ((size_t)n > max) n = (int)max;
        memcpy(out, j->addrs, (size_t)n * sizeof *out);
    }
    corio__free(j);
    return n;
}

int corio_resolve(const char *host, int port, int family, corio_addr *out,
                  size_t max)
{
    return corio_resolve_until(host, port, family, out, max, CORIO_NEVER);
}
