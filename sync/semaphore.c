/*
 * semaphore.c — asyncio.Semaphore and BoundedSemaphore.
 *
 * A counter of free units and a FIFO of tasks waiting for one. Release
 * hands its unit straight to the first waiter instead of incrementing the
 * counter, so the counter is above zero only when nobody waits, and a
 * task arriving later cannot take a unit meant for an older waiter.
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
    s->waiters = (corio_waitq){ NULL, NULL, 0 };
}

void corio_sem_init(corio_sem *s, size_t value) { sem_init(s, value, false); }
void corio_bsem_init(corio_sem *s, size_t value) { sem_init(s, value, true); }

void corio_sem_destroy(corio_sem *s)
{
    corio__sync_wake_all(&s->waiters, CORIO_ECLOSED);
}

int corio_sem_acquire_until(corio_sem *s, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (s->value > 0) {
        s->value--;
        return 0;
    }
    corio_waiter w = { .task = self };
    /* 0 means a release handed its unit to us. */
    return corio__sync_wait(&s->waiters, &w, deadline, "semaphore");
}

int corio_sem_acquire(corio_sem *s)
{
    return corio_sem_acquire_until(s, CORIO_NEVER);
}

int corio_sem_try_acquire(corio_sem *s)
{
    if (s->value == 0) return CORIO_EAGAIN;
    s->value--;
    return 0;
}

int corio_sem_release(corio_sem *s)
{
    corio_waiter *w = corio__sync_pop_live(&s->waiters);
    if (w) { /* a live waiter means value == 0: the unit goes to it */
        corio__unpark(w->task, 0);
        return 0;
    }
    if (s->bounded && s->value >= s->bound) return CORIO_EOVERFLOW;
    s->value++;
    return 0;
}

size_t corio_sem_value(const corio_sem *s) { return s->value; }

bool corio_sem_locked(const corio_sem *s) { return s->value == 0; }
