/*
 * select.c — corio_select, and through it every blocking channel call.
 *
 * Go's algorithm (runtime/select.go), with corio's parking:
 *
 *   1. lock every channel of the select, in address order (two selects
 *      over the same channels cannot deadlock);
 *   2. visit the cases from a random start; the first that can proceed
 *      now (try under the lock) fires: unlock, done. Nobody can claim us
 *      meanwhile: none of our waiters is queued yet;
 *   3. otherwise queue one waiter per channel case, all sharing one
 *      chan_sel, join the futures' and tasks' wait queues, unlock, park;
 *   4. on waking, decide: if a peer claimed us (sel.state >= 0) its case
 *      fired, else try to claim a ready future/task case ourselves, else
 *      (deadline, cancel) try to abandon. Both are CASes against the
 *      peers' (chan_impl.h), so exactly one outcome wins;
 *   5. a claim by a peer on another thread may still be on its way (the
 *      element being copied, the post not yet run): wait, shielded, until
 *      it is delivered. It is only a few instructions away: the peer holds
 *      the channel lock for a copy and then posts;
 *   6. lock the channels again and unlink every waiter (stale ones were
 *      already dropped by peers), leave the other wait queues.
 *
 * Nothing a losing case would have done has happened: a peer only moves
 * an element after winning the CAS, so there is never anything to put
 * back.
 */
#include "chan_impl.h"

#include <stdint.h>

/* A cheap per-thread generator for the random start (fairness only). */
static _Thread_local uint64_t rng_state;

static unsigned rnd(size_t n)
{
    uint64_t x = rng_state;
    if (!x) x = (uint64_t)(uintptr_t)&rng_state ^ (uint64_t)corio__os_now_ns() ^ 0x9e3779b97f4a7c15u;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (unsigned)((x >> 11) % n);
}

static int is_chan_case(const corio_case *k)
{
    return k->kind == CORIO_CASE_SEND || k->kind == CORIO_CASE_RECV;
}

/* The distinct channels of the cases, sorted by address. */
static size_t lock_order(corio_case *cs, size_t n, corio_chan **out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_chan_case(&cs[i])) continue;
        corio_chan *c = cs[i].obj;
        size_t j = m;
        while (j > 0 && (uintptr_t)out[j - 1] > (uintptr_t)c) j--;
        if (j > 0 && out[j - 1] == c) continue;
        memmove(out + j + 1, out + j, (m - j) * sizeof *out);
        out[j] = c;
        m++;
    }
    return m;
}

static void lock_all(corio_chan **cs, size_t m)
{
    for (size_t i = 0; i < m; i++) corio__chan_lock(cs[i]);
}

static void unlock_all(corio_chan **cs, size_t m)
{
    for (size_t i = m; i-- > 0;) corio__chan_unlock(cs[i]);
}

/* Case i, if it can proceed now (channels locked). 1 if it fired. */
static int try_case(corio_case *k)
{
    int rc;
    switch (k->kind) {
    case CORIO_CASE_SEND: rc = corio__chan_try_send_locked(k->obj, k->elem); break;
    case CORIO_CASE_RECV: rc = corio__chan_try_recv_locked(k->obj, k->elem); break;
    case CORIO_CASE_FUTURE:
        if (!corio_future_done(k->obj)) return 0;
        rc = corio_future_wait(k->obj, (void **)k->elem); /* done: no wait */
        break;
    case CORIO_CASE_TASK:
        if (!corio__task_done(k->obj)) return 0;
        rc = corio__task_status(k->obj);
        break;
    default: return 0;
    }
    if (rc == CORIO_EFULL || rc == CORIO_EEMPTY) return 0;
    k->status = rc;
    return 1;
}

/* A ready future or task case, from a random start, or -1. */
static long local_ready(corio_case *cs, size_t n)
{
    size_t start = n > 1 ? rnd(n) : 0;
    for (size_t j = 0; j < n; j++) {
        size_t i = start + j < n ? start + j : start + j - n;
        if ((cs[i].kind == CORIO_CASE_FUTURE && corio_future_done(cs[i].obj)) ||
            (cs[i].kind == CORIO_CASE_TASK && corio__task_done(cs[i].obj)))
            return (long)i;
    }
    return -1;
}

int corio__select(corio_case *cs, size_t n, int64_t deadline, int block)
{
    if (!cs || n == 0 || n > CORIO_SELECT_MAX) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!cs[i].obj || cs[i].kind > CORIO_CASE_TASK) return CORIO_EINVAL;
        if (cs[i].kind == CORIO_CASE_SEND && !cs[i].elem &&
            ((corio_chan *)cs[i].obj)->esize)
            return CORIO_EINVAL;
    }
    corio_chan *order[n];
    size_t m = lock_order(cs, n, order);

    lock_all(order, m);
    size_t start = n > 1 ? rnd(n) : 0;
    for (size_t j = 0; j < n; j++) {
        size_t i = start + j < n ? start + j : start + j - n;
        if (try_case(&cs[i])) {
            unlock_all(order, m);
            return (int)i;
        }
    }
    corio_task *self = corio__self();
    if (!block || !self) {
        unlock_all(order, m);
        return block ? CORIO_ENOLOOP : CORIO_EAGAIN;
    }
    /* A pending cancel fails the park at once: do not queue at all. */
    if (corio__cancel_due(self)) {
        unlock_all(order, m);
        return CORIO_ECANCELED;
    }

    chan_sel sel;
    atomic_init(&sel.state, SEL_WAITING);
    sel.task = self;
    sel.loop = corio__task_loop(self);
    sel.post.next = NULL;
    sel.post.fn = NULL;
    sel.status = 0;
    sel.delivered = 0;
    chan_waiter ws[n];
    corio_waiter ow[n]; /* future and task cases */
    for (size_t i = 0; i < n; i++) {
        ws[i].linked = 0;
        ow[i].linked = 0;
        if (!is_chan_case(&cs[i])) continue;
        corio_chan *c = cs[i].obj;
        ws[i].sel = &sel;
        ws[i].idx = (long)i;
        ws[i].elem = cs[i].elem;
        ws[i].single = 0;
        corio__chan_wq_push(cs[i].kind == CORIO_CASE_SEND ? &c->sendq : &c->recvq, &ws[i]);
    }
    unlock_all(order, m);
    for (size_t i = 0; i < n; i++) {
        if (is_chan_case(&cs[i])) continue;
        ow[i] = (corio_waiter){ .task = self };
        corio__waitq_push(cs[i].kind == CORIO_CASE_FUTURE
                              ? corio__future_waiters(cs[i].obj)
                              : corio__task_done_waiters(cs[i].obj), &ow[i]);
    }

    long st;
    int rc;
    for (;;) {
        rc = corio__park_on(deadline, n == 1 ? (cs[0].kind == CORIO_CASE_SEND
                                                ? "chan send" : "chan recv")
                                              : "select");
        st = atomic_load_explicit(&sel.state, memory_order_acquire);
        if (st != SEL_WAITING) break;           /* a peer claimed us */
        long want = local_ready(cs, n);
        if (want < 0) {
            if (rc == 0) continue;              /* a wake with nothing for us */
            want = SEL_ABANDONED;
        }
        if (atomic_compare_exchange_strong_explicit(&sel.state, &st, want,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            st = want;
            sel.delivered = 1;                  /* nobody else will touch sel */
        }
        break;                                  /* else st is the peer's claim */
    }
    if (!sel.delivered) {
        /* A peer won (maybe from another thread) and its delivery may be on
         * its way: wait for it, whatever our park said. Shielded, so that a
         * cancel cannot end this wait; the cancel stays pending. */
        corio_shield_begin();
        while (!sel.delivered) corio__park_on(CORIO_NEVER, "chan hand-off");
        corio_shield_end();
    }

    lock_all(order, m);
    for (size_t i = 0; i < n; i++) {
        if (!ws[i].linked) continue;
        corio_chan *c = cs[i].obj;
        corio__chan_wq_remove(cs[i].kind == CORIO_CASE_SEND ? &c->sendq : &c->recvq, &ws[i]);
    }
    unlock_all(order, m);
    for (size_t i = 0; i < n; i++) {
        if (!ow[i].linked) continue;
        corio__waitq_remove(cs[i].kind == CORIO_CASE_FUTURE
                                ? corio__future_waiters(cs[i].obj)
                                : corio__task_done_waiters(cs[i].obj), &ow[i]);
    }

    if (st == SEL_ABANDONED) return rc;
    if (is_chan_case(&cs[st])) cs[st].status = sel.status;
    else try_case(&cs[st]);                     /* done: fills status, value */
    return (int)st;
}

int corio_select_until(corio_case *cases, size_t n, int64_t deadline)
{
    return corio__select(cases, n, deadline, 1);
}

int corio_select(corio_case *cases, size_t n)
{
    return corio__select(cases, n, CORIO_NEVER, 1);
}

int corio_select_try(corio_case *cases, size_t n)
{
    return corio__select(cases, n, CORIO_NEVER, 0);
}
