/*
 * condition.c — asyncio.Condition: wait for a notify while giving up a lock.
 *
 *   wait:   [holding the lock] queue as a waiter, release the lock, park;
 *           woken by notify, a deadline or a cancel; re-acquire the lock;
 *           return [holding the lock again].
 *
 * The re-acquire is the delicate step. asyncio promises that wait() always
 * returns with the lock held, even when it was cancelled, so the caller's
 * `async with` block can release it. Here cancellation is sticky: once a
 * task is cancelled every park fails at once, so a plain acquire could not
 * succeed. The re-acquire therefore runs SHIELDED, which also ignores the
 * task's timeout scope (see corio__park_on): it waits in the lock's FIFO
 * like anybody else, and the pending cancellation is delivered at the
 * caller's next blocking call.
 *
 * Hand-off safety: notify only wakes live waiters (waiters.h), so a notify
 * never lands on a waiter that timed out or was cancelled; it goes to the
 * next one. A waiter that was notified and is cancelled afterwards returns
 * 0 (it was notified) and sees the cancellation at its next blocking call;
 * the notification is not lost.
 */
#include "waiters.h"

#include <limits.h>

void corio_cond_init(corio_cond *c, corio_lock *lock)
{
    corio_lock_init(&c->own_lock);
    c->lock = lock ? lock : &c->own_lock;
    c->waiters = (corio_waitq){ NULL, NULL, 0, NULL };
    /* Made inside a loop (debug mode): it is that loop's from now on. */
    corio__debug_owner(&c->waiters, __func__, "condition", c);
}

void corio_cond_destroy(corio_cond *c)
{
    corio__sync_wake_all(&c->waiters, CORIO_ECLOSED);
    corio_lock_destroy(&c->own_lock);
}

corio_lock *corio_cond_lock(corio_cond *c) { return c->lock; }

int corio_cond_acquire(corio_cond *c) { return corio_lock_acquire(c->lock); }

int corio_cond_acquire_until(corio_cond *c, int64_t deadline)
{
    return corio_lock_acquire_until(c->lock, deadline);
}

int corio_cond_release(corio_cond *c) { return corio_lock_release(c->lock); }

static bool held_by_caller(const corio_cond *c, const corio_task *self)
{
    return self != NULL && c->lock->owner == self;
}

int corio_cond_wait_until(corio_cond *c, int64_t deadline)
{
    corio__debug_owner(&c->waiters, __func__, "condition", c);
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (!held_by_caller(c, self)) return CORIO_EPERM;
    /* Would fail at once: skip the release / re-acquire round trip. */
    if (corio__cancel_due(self)) return CORIO_ECANCELED;

    corio_waiter w = { .task = self };
    corio__waitq_push(&c->waiters, &w);
    corio_lock_release(c->lock); /* hands it on; nothing runs until we park */
    int status = corio__park_on(deadline, "condition");
    corio__waitq_remove(&c->waiters, &w); /* no-op unless timed out / cancelled */
    if (status == CORIO_ECLOSED) return status; /* destroyed under us */

    corio_shield_begin();
    int rc = corio_lock_acquire_until(c->lock, CORIO_NEVER);
    corio_shield_end();
    /* Shielded with no deadline, the acquire can only fail if the lock is
     * destroyed while we wait for it. */
    if (rc != 0) return rc;
    return status;
}

int corio_cond_wait(corio_cond *c)
{
    return corio_cond_wait_until(c, CORIO_NEVER);
}

int corio_cond_wait_for_until(corio_cond *c, corio_predicate pred, void *arg,
                              int64_t deadline)
{
    corio__debug_owner(&c->waiters, __func__, "condition", c);
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    /* The predicate first, as asyncio does (test_wait_for_unacquired): a
     * predicate already true means there is nothing to wait for, so the
     * lock is not needed. Only a call that would wait must hold it. */
    if (pred(arg)) return 0;
    if (!held_by_caller(c, self)) return CORIO_EPERM;
    do {
        int rc = corio_cond_wait_until(c, deadline);
        if (rc == CORIO_ETIMEDOUT && pred(arg)) return 0; /* just in time */
        if (rc != 0) return rc;
    } while (!pred(arg));
    return 0;
}

int corio_cond_wait_for(corio_cond *c, corio_predicate pred, void *arg)
{
    return corio_cond_wait_for_until(c, pred, arg, CORIO_NEVER);
}

int corio_cond_notify(corio_cond *c, size_t n)
{
    corio__debug_owner(&c->waiters, __func__, "condition", c);
    if (!held_by_caller(c, corio__self())) return CORIO_EPERM;
    int woken = 0;
    corio_waiter *w;
    while ((size_t)woken < n && woken < INT_MAX
           && (w = corio__sync_pop_live(&c->waiters)) != NULL) {
        corio__unpark(w->task, 0);
        woken++;
    }
    return woken;
}

int corio_cond_notify_all(corio_cond *c)
{
    return corio_cond_notify(c, SIZE_MAX);
}

/* asyncio's Condition.locked(): is the condition's lock held (by anyone)? */
bool corio_cond_locked(const corio_cond *c)
{
    return corio_lock_locked(c->lock);
}

size_t corio_cond_n_waiting(const corio_cond *c)
{
    return corio_sync_count_live(&c->waiters);
}
