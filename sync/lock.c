/*
 * lock.c — asyncio.Lock: one holder at a time, waiters served in FIFO order.
 *
 * Release does not simply free the lock and wake someone to race for it:
 * it makes the first waiting task the owner and then wakes it (a direct
 * hand-off). A task that arrives in between finds the lock taken and
 * queues behind, so nobody barges and nobody starves.
 *
 * The lock remembers its owner (asyncio's does not) so that releasing a
 * lock you do not hold, waiting on a condition without its lock, and
 * acquiring a lock twice are errors instead of silent corruption or a
 * deadlock.
 */
#include "waiters.h"

void corio_lock_init(corio_lock *l)
{
    l->owner = NULL;
    l->waiters = (corio_waitq){ NULL, NULL, 0, NULL };
    /* Made inside a loop (debug mode): it is that loop's from now on. */
    corio__debug_owner(&l->waiters, __func__, "lock", l);
}

void corio_lock_destroy(corio_lock *l)
{
    corio__sync_wake_all(&l->waiters, CORIO_ECLOSED);
    l->owner = NULL;
}

static __attribute__((noinline)) int acquire(corio_lock *l, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (l->owner == NULL) { /* free: nobody can be waiting (see release) */
        l->owner = self;
        return 0;
    }
    if (l->owner == self) return CORIO_EALREADY;
    corio_waiter w = { .task = self };
    /* 0 means release already made us the owner. */
    return corio__sync_wait(&l->waiters, &w, deadline, "lock");
}

/* Debug mode's twins: check the caller's thread, then the same body
 * (coro/park.h says why they are apart). */
static __attribute__((noinline, cold)) int acquire_checked(corio_lock *l,
                                                           int64_t deadline)
{
    corio__debug_owner_slow(&l->waiters, NULL, "corio_lock_acquire", "lock", l);
    return acquire(l, deadline);
}

int corio_lock_acquire_until(corio_lock *l, int64_t deadline)
{
    if (corio__debug_on()) return acquire_checked(l, deadline);
    return acquire(l, deadline);
}

int corio_lock_acquire(corio_lock *l)
{
    return corio_lock_acquire_until(l, CORIO_NEVER);
}

int corio_lock_try_acquire(corio_lock *l)
{
    corio__debug_owner(&l->waiters, __func__, "lock", l);
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (l->owner != NULL) return CORIO_EAGAIN;
    l->owner = self;
    return 0;
}

static __attribute__((noinline)) int release(corio_lock *l)
{
    if (l->owner == NULL || l->owner != corio__self()) return CORIO_EPERM;
    corio_waiter *w = corio__sync_pop_live(&l->waiters);
    if (!w) {
        l->owner = NULL;
        return 0;
    }
    l->owner = w->task; /* the hand-off: it holds the lock from now on */
    corio__unpark(w->task, 0);
    return 0;
}

static __attribute__((noinline, cold)) int release_checked(corio_lock *l)
{
    corio__debug_owner_slow(&l->waiters, NULL, "corio_lock_release", "lock", l);
    return release(l);
}

int corio_lock_release(corio_lock *l)
{
    if (corio__debug_on()) return release_checked(l);
    return release(l);
}

bool corio_lock_locked(const corio_lock *l)
{
    return l->owner != NULL;
}

size_t corio_lock_n_waiting(const corio_lock *l)
{
    return corio_sync_count_live(&l->waiters);
}
