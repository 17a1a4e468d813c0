/*
 * semaphore.c — asyncio.Semaphore and BoundedSemaphore.
 *
 * A counter of free units and a FIFO of tasks waiting for one. Release
 * hands its unit straight to the first waiter instead of incrementing the
 * counter, so a task arriving later cannot take a unit meant for an older
 * waiter.
 *
 * That alone still lets a task barge past a waiter that was handed a unit
 * but has not run yet: if the task that woke it releases and re-acquires
 * at once, nobody live waits, so the release raises the counter and the
 * re-acquire takes it back, ahead of the woken waiter (CPython's
 * test_acquire_fifo_order_2 gives [1,2,4,3]). asyncio closed the same hole
 * in 3.11.1 (gh-90155): no acquire takes a unit while a woken waiter has
 * not run. corio counts those waiters in `handed`; while it is non-zero a
 * newcomer queues even if value > 0, and each woken waiter, when it runs,
 * passes the free units on to the waiters that queued behind it. The fast
 * path pays one more compare.
 *
 * A bounded semaphore refuses a release that would raise the count above
 * its initial value: that release matches no acquire, a bug worth an
 * error code (asyncio raises ValueError).
 */
#include "waiters.h"

static void sem_init(corio_sem *s, size_t value, bool bounded)
{
    s->value = value;
    s->bound = value;
    s->bounded = bounded;
    s->handed = 0;
    s->waiters = (corio_waitq){ NULL, NULL, 0, NULL };
    /* Made inside a loop (debug mode): it is that loop's from now on. */
    corio__debug_owner(&s->waiters, "corio_sem_init", "semaphore", s);
}

void corio_sem_init(corio_sem *s, size_t value) { sem_init(s, value, false); }
void corio_bsem_init(corio_sem *s, size_t value) { sem_init(s, value, true); }

void corio_sem_destroy(corio_sem *s)
{
    corio__sync_wake_all(&s->waiters, CORIO_ECLOSED);
}

/* Hand one unit to the first live waiter, if any: it counts as handed
 * until it runs. */
static bool hand_to_waiter(corio_sem *s)
{
    corio_waiter *w = corio__sync_pop_live(&s->waiters);
    if (!w) return false;
    s->handed++;
    corio__unpark(w->task, 0);
    return true;
}

static __attribute__((noinline)) int acquire(corio_sem *s, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (s->value > 0 && s->handed == 0) {
        s->value--;
        return 0;
    }
    corio_waiter w = { .task = self };
    /* 0 means a release handed its unit to us. */
    int rc = corio__sync_wait(&s->waiters, &w, deadline, "semaphore");
    if (rc == 0) s->handed--;
    if (rc != CORIO_ECLOSED) {
        /* Units freed while woken waiters were pending went to nobody
         * (newcomers had to queue): pass them on now, in FIFO order, as
         * asyncio's acquire does on its way out. */
        while (s->value > 0 && hand_to_waiter(s))
            s->value--;
    }
    return rc;
}

/* Debug mode's twins (coro/park.h says why they are apart). */
static __attribute__((noinline, cold)) int acquire_checked(corio_sem *s,
                                                           int64_t deadline)
{
    corio__debug_owner_slow(&s->waiters, NULL, "corio_sem_acquire", "semaphore", s);
    return acquire(s, deadline);
}

int corio_sem_acquire_until(corio_sem *s, int64_t deadline)
{
    if (corio__debug_on()) return acquire_checked(s, deadline);
    return acquire(s, deadline);
}

int corio_sem_acquire(corio_sem *s)
{
    return corio_sem_acquire_until(s, CORIO_NEVER);
}

int corio_sem_try_acquire(corio_sem *s)
{
    corio__debug_owner(&s->waiters, __func__, "semaphore", s);
    if (s->value == 0 || s->handed != 0) return CORIO_EAGAIN;
    s->value--;
    return 0;
}

static __attribute__((noinline)) int release(corio_sem *s)
{
    /* A live waiter means no unit was free for it (value == 0, or a woken
     * waiter was pending): the unit goes to it. */
    if (hand_to_waiter(s)) return 0;
    if (s->bounded && s->value >= s->bound) return CORIO_EOVERFLOW;
    s->value++;
    return 0;
}

static __attribute__((noinline, cold)) int release_checked(corio_sem *s)
{
    corio__debug_owner_slow(&s->waiters, NULL, "corio_sem_release", "semaphore", s);
    return release(s);
}

int corio_sem_release(corio_sem *s)
{
    if (corio__debug_on()) return release_checked(s);
    return release(s);
}

size_t corio_sem_value(const corio_sem *s) { return s->value; }

bool corio_sem_locked(const corio_sem *s)
{
    return s->value == 0 || s->handed != 0;
}

size_t corio_sem_n_waiting(const corio_sem *s)
{
    return corio_sync_count_live(&s->waiters);
}
