/*
 * barrier.c — asyncio.Barrier: `parties` tasks wait until all have arrived.
 *
 * asyncio's barrier has four states, and corio keeps all of them:
 *
 *   filling ──(last arrival)──> draining ──(last one left)──> filling
 *      │                            │
 *      └──reset──> resetting ───────┴──(last one left)──> filling
 *   any ──abort──> broken ──reset──> resetting / filling
 *
 * Three wait queues carry them. `waiters`: the group filling up, in
 * arrival order. `draining`: the tasks let through (or broken) that have
 * not run yet to leave; while it is not empty the barrier is draining
 * (or resetting), and a new arrival waits in `blocked` instead of joining
 * a group. When the last one leaves, it wakes the blocked tasks, and each
 * arrives again when it runs, in their order; `entering` counts those not
 * yet run, and a newcomer queues behind them, so nobody barges in. They
 * arrive when they RUN, not when the drain ends, exactly as in asyncio: a
 * reset made by the last task out, before they have run, does not break
 * them.
 *
 * Why draining matters (CPython's test_reset_barrier_while_tasks_draining):
 * without it the tasks of one group that come back for the next round
 * would start a new group while others of the old one are still leaving,
 * so a reset made by the last of them to leave would break the new group
 * it meant to spare, and a task could be left alone at the next wait.
 *
 * Each waiter gets its outcome in w->n: its index (0 for the oldest, the
 * completing arrival gets parties-1) or CORIO_EBROKEN. As in asyncio a
 * reset or abort also breaks the tasks let through that have not left
 * yet: their outcome is overwritten while they sit in `draining`.
 *
 * A waiter that times out or is cancelled simply withdraws from whichever
 * queue it waits in (asyncio's behaviour under wait_for). Stale waiters
 * (woken by a deadline or cancel but not yet run) never count towards a
 * group: they are swept out before a group is declared full.
 */
#include "waiters.h"

#include <limits.h>

int corio_barrier_init(corio_barrier *b, unsigned parties)
{
    if (parties == 0 || parties > INT_MAX) return CORIO_EINVAL;
    b->parties = parties;
    b->broken = false;
    b->waiters = (corio_waitq){ NULL, NULL, 0, NULL };
    b->draining = (corio_waitq){ NULL, NULL, 0, NULL };
    b->blocked = (corio_waitq){ NULL, NULL, 0, NULL };
    b->entering = 0;
    /* Made inside a loop (debug mode): it is that loop's from now on. */
    corio__debug_owner(&b->waiters, __func__, "barrier", b);
    return 0;
}

void corio_barrier_destroy(corio_barrier *b)
{
    corio__sync_wake_all(&b->waiters, CORIO_ECLOSED);
    corio__sync_wake_all(&b->blocked, CORIO_ECLOSED);
    /* The draining tasks are already READY: unlink them so that they
     * never touch the barrier again (they return CORIO_ECLOSED). */
    while (corio__waitq_pop(&b->draining) != NULL) {}
}

/* Unlink waiters whose task no longer waits (timed out or cancelled). */
static void sweep_stale(corio_waitq *q)
{
    corio_waiter *w = q->head;
    while (w) {
        corio_waiter *next = w->next;
        if (!corio__sync_live(w)) corio__waitq_remove(q, w);
        w = next;
    }
}

/* Let a parked waiter out with `outcome`: it moves to the draining queue
 * and leaves when it runs. */
static void let_out(corio_barrier *b, corio_waiter *w, int outcome)
{
    w->n = (uintptr_t)(intptr_t)outcome;
    w->data = &b->draining;
    corio__waitq_push(&b->draining, w);
    corio__unpark(w->task, 0);
}

/* The group is complete: let every waiter out with its index. Returns
 * how many there were (parties - 1 when the caller is the last). */
static int release_group(corio_barrier *b)
{
    int index = 0;
    corio_waiter *w;
    while ((w = corio__sync_pop_live(&b->waiters)) != NULL)
        let_out(b, w, index++);
    return index;
}

/* Break everyone: the group filling up, the tasks let through that have
 * not left, and (abort only) those blocked behind a drain. */
static void break_all(corio_barrier *b, bool blocked_too)
{
    for (corio_waiter *w = b->draining.head; w; w = w->next)
        w->n = (uintptr_t)(intptr_t)CORIO_EBROKEN;
    corio_waiter *w;
    while ((w = corio__sync_pop_live(&b->waiters)) != NULL)
        let_out(b, w, CORIO_EBROKEN);
    while (blocked_too && (w = corio__sync_pop_live(&b->blocked)) != NULL)
        let_out(b, w, CORIO_EBROKEN);
}

/* Wake the tasks blocked behind a drain: each joins the next group when
 * it runs, in their order (the run queue is FIFO). Until they all have, a
 * newcomer queues behind them (`entering`), as asyncio's newcomers queue
 * for the condition's lock behind the notified tasks. */
static void wake_blocked(corio_barrier *b)
{
    corio_waiter *w;
    while ((w = corio__sync_pop_live(&b->blocked)) != NULL) {
        w->data = NULL; /* in no queue: it will arrive again */
        b->entering++;
        corio__unpark(w->task, 0);
    }
}

/* Park in q until let out (0: the outcome is in w.n), woken to arrive
 * again (1), a deadline or a cancel (we withdraw), or destroy (unlinked:
 * CORIO_ECLOSED). */
static int park_in(corio_barrier *b, corio_waitq *q, int64_t deadline)
{
    corio_waiter w = { .task = corio__self(), .data = q };
    corio__waitq_push(q, &w);
    int status = corio__park_on(deadline, "barrier");
    if (status != 0) { /* withdrew; w.data says from which queue */
        corio__waitq_remove(w.data, &w);
        return status;
    }
    if (w.data == NULL) { /* the drain we waited behind is over */
        b->entering--;
        return 1;
    }
    if (!w.linked) return CORIO_ECLOSED; /* destroyed while draining */
    corio__waitq_remove(&b->draining, &w);
    /* The last task out ends the drain (or the reset). */
    if (b->draining.len == 0 && !b->broken) wake_blocked(b);
    return (int)(intptr_t)w.n;
}

int corio_barrier_wait_until(corio_barrier *b, int64_t deadline)
{
    corio__debug_owner(&b->waiters, __func__, "barrier", b);
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    bool woken = false; /* back from behind a drain: ahead of newcomers */
    for (;;) {
        if (b->broken) return CORIO_EBROKEN;
        /* Draining or resetting, or tasks woken from behind the last drain
         * still to arrive: wait behind them. */
        if (b->draining.len > 0 || (!woken && b->entering > 0)) {
            int rc = park_in(b, &b->blocked, deadline);
            if (rc != 1) return rc;
            woken = true;
            continue;
        }
        if (b->waiters.len + 1 >= b->parties) {
            sweep_stale(&b->waiters);
            if (b->waiters.len + 1 == b->parties) return release_group(b);
        }
        /* The last of the woken tasks to arrive lets in whoever queued
         * behind them (nobody is let in while a group drains). */
        if (woken && b->entering == 0) wake_blocked(b); /* they run after us */
        return park_in(b, &b->waiters, deadline);
    }
}

int corio_barrier_wait(corio_barrier *b)
{
    return corio_barrier_wait_until(b, CORIO_NEVER);
}

void corio_barrier_abort(corio_barrier *b)
{
    corio__debug_owner(&b->waiters, __func__, "barrier", b);
    b->broken = true;
    break_all(b, true);
}

void corio_barrier_reset(corio_barrier *b)
{
    corio__debug_owner(&b->waiters, __func__, "barrier", b);
    /* Resetting: whoever waits or has not left yet is broken; the tasks
     * blocked behind them join the next group once they have left. */
    break_all(b, false);
    b->broken = false;
}

unsigned corio_barrier_parties(const corio_barrier *b) { return b->parties; }

size_t corio_barrier_n_waiting(const corio_barrier *b)
{
    if (b->draining.len > 0) return 0; /* asyncio: only while filling */
    size_t n = 0;
    for (const corio_waiter *w = b->waiters.head; w; w = w->next)
        if (corio__sync_live(w)) n++;
    return n;
}

bool corio_barrier_broken(const corio_barrier *b) { return b->broken; }

bool corio_barrier_draining(const corio_barrier *b)
{
    return b->draining.len > 0;
}
