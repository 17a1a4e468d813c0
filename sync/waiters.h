/*
 * waiters.h — the one pattern every primitive in sync/ repeats.
 *
 * A task that must wait puts a corio_waiter (on its own stack) at the tail
 * of the object's wait queue and parks. Whoever gives something away (a
 * lock, a unit, an item) pops the first waiter, writes what it gives into
 * the waiter or the object, and unparks the task with a hand-off status.
 * Because the giver chooses the receiver, nobody can barge in between:
 * that is what makes every primitive FIFO-fair.
 *
 * The subtle part is the STALE waiter. When a waiter's deadline passes or
 * its task is cancelled, the loop makes the task READY at once (park will
 * return CORIO_ETIMEDOUT / CORIO_ECANCELED), but the waiter stays linked
 * until that task runs again and unlinks itself. Until then it must be
 * skipped: a hand-off to it would be lost (its park does not return the
 * hand-off status), and unparking a task that is not WAITING aborts. So a
 * giver only ever hands to a LIVE waiter, one whose task still waits; if
 * the first waiter is stale, the gift goes to the next one.
 *
 * Conversely, a task whose park returned a hand-off status owns what it
 * was handed even if a cancellation arrives before it runs: the
 * cancellation stays pending and is delivered at its next suspension.
 * Between the two rules nothing is ever lost or handed twice.
 */
#ifndef CORIO_SYNC_WAITERS_H
#define CORIO_SYNC_WAITERS_H

#include "coro/park.h"

/* Does this waiter's task still wait on it (may it receive a hand-off)? */
static inline bool corio__sync_live(const corio_waiter *w)
{
    return corio__task_waiting(w->task);
}

/* Pop the first live waiter, dropping stale ones on the way (they unlink
 * themselves anyway when they run; unlinking twice is harmless). */
static inline corio_waiter *corio__sync_pop_live(corio_waitq *q)
{
    corio_waiter *w;
    while ((w = corio__waitq_pop(q)) != NULL)
        if (corio__sync_live(w)) return w;
    return NULL;
}

/* How many tasks still wait in q (the stale ones do not: they are leaving).
 * For the waiter counts asyncio shows in its reprs; O(n), never on a hot
 * path. */
static inline size_t corio_sync_count_live(const corio_waitq *q)
{
    size_t n = 0;
    for (const corio_waiter *w = q->head; w; w = w->next)
        if (corio__sync_live(w)) n++;
    return n;
}

/* Wake every live waiter with `status`; unlink the stale ones. */
static inline size_t corio__sync_wake_all(corio_waitq *q, int status)
{
    size_t n = 0;
    corio_waiter *w;
    while ((w = corio__sync_pop_live(q)) != NULL) {
        corio__unpark(w->task, status);
        n++;
    }
    return n;
}

/*
 * Queue w at the tail of q and park until a hand-off or the deadline.
 * Returns what park returned: a hand-off status chosen by the primitive,
 * or CORIO_ETIMEDOUT / CORIO_ECANCELED / CORIO_ENOMEM, in which case
 * nobody handed us anything. Either way w is unlinked on return: a giver
 * popped it, or we take it out ourselves. corio__waitq_remove does not
 * touch q when w is already unlinked, so this is safe even if the object
 * was destroyed while we waited (destroy unlinks every waiter).
 */
static inline int corio__sync_wait(corio_waitq *q, corio_waiter *w,
                                  int64_t deadline, const char *what)
{
    corio__waitq_push(q, w);
    int status = corio__park_on(deadline, what);
    corio__waitq_remove(q, w);
    return status;
}

#endif
