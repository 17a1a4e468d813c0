/*
 * barrier.c — asyncio.Barrier: `parties` tasks wait until all have arrived.
 *
 * Waiters queue in arrival order. The arrival that completes the group
 * pops every waiter, gives each its index (0 for the oldest) and wakes it,
 * then returns parties-1 itself. The queue is empty again at that moment,
 * so the next group can start filling at once: asyncio needs a "draining"
 * state because its waiters leave one by one; here they were all let
 * through by one call, and each carries its index on its own stack.
 *
 * A waiter that times out or is cancelled simply withdraws (asyncio's
 * behaviour under wait_for), which is why the index is given at release
 * rather than at arrival: indexes stay 0..parties-1 without gaps. Stale
 * waiters (woken by a deadline or cancel but not yet run) must not count
 * towards a group, so they are swept out before a group is declared full.
 */
#include "waiters.h"

#include <limits.h>

int corio_barrier_init(corio_barrier *b, unsigned parties)
{
    if (parties == 0 || parties > INT_MAX) return CORIO_EINVAL;
    b->parties = parties;
    b->broken = false;
    b->waiters = (corio_waitq){ NULL, NULL, 0 };
    return 0;
}

void corio_barrier_destroy(corio_barrier *b)
{
    corio__sync_wake_all(&b->waiters, CORIO_ECLOSED);
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

static int release_group(corio_barrier *b)
{
    uintptr_t index = 0;
    corio_waiter *w;
    while ((w = corio__waitq_pop(&b->waiters)) != NULL) {
        w->n = index++;
        corio__unpark(w->task, 0);
    }
    return (int)index; /* the caller is the last: parties - 1 */
}

int corio_barrier_wait_until(corio_barrier *b, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (b->broken) return CORIO_EBROKEN;
    if (b->waiters.len + 1 >= b->parties) {
        sweep_stale(&b->waiters);
        if (b->waiters.len + 1 == b->parties) return release_group(b);
    }
    corio_waiter w = { .task = self };
    int status = corio__sync_wait(&b->waiters, &w, deadline, "barrier");
    if (status == 0) return (int)w.n;
    return status; /* CORIO_EBROKEN, CORIO_ETIMEDOUT, CORIO_ECANCELED, ... */
}

int corio_barrier_wait(corio_barrier *b)
{
    return corio_barrier_wait_until(b, CORIO_NEVER);
}

void corio_barrier_abort(corio_barrier *b)
{
    b->broken = true;
    corio__sync_wake_all(&b->waiters, CORIO_EBROKEN);
}

void corio_barrier_reset(corio_barrier *b)
{
    corio__sync_wake_all(&b->waiters, CORIO_EBROKEN);
    b->broken = false;
}

unsigned corio_barrier_parties(const corio_barrier *b) { return b->parties; }

size_t corio_barrier_n_waiting(const corio_barrier *b)
{
    size_t n = 0;
    for (const corio_waiter *w = b->waiters.head; w; w = w->next)
        if (corio__sync_live(w)) n++;
    return n;
}

bool corio_barrier_broken(const corio_barrier *b) { return b->broken; }
