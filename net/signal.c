/*
 * signal.c — corio_signal_wait: a task waits until the process receives a
 * signal (asyncio's loop.add_signal_handler, turned into a blocking call).
 *
 * The OS half (os/signal.h) catches the signal and calls
 * on_delivery(signum) on an ordinary thread. From there:
 *
 *   on_delivery (OS-layer thread)          deliver_here (each loop, as a
 *   --------------------------------       callback on its own thread)
 *   lock the registry                      lock the registry
 *   deliveries[signum]++                   every waiter of THIS loop that
 *   nobody waits?  -> pending[signum]        started before the delivery:
 *   else post deliver_here to every          unlink it, unpark it with 0
 *     loop that has a waiter, with
 *     corio_call_soon_threadsafe
 *
 * The registry is process-wide (signals are) and lists waiters of every
 * loop; each waiter lives on its task's stack. It is guarded by a mutex,
 * because the OS-layer thread and the loops' threads all touch it.
 *
 * Semantics, decided here:
 *   - Every task waiting for the signal when it arrives wakes (returns 0),
 *     in whichever loop it waits.
 *   - A signal that arrives while NO task waits for it is remembered, ONCE,
 *     like the kernel's own pending flag: the next corio_signal_wait for
 *     it returns 0 at once. Two signals with nobody waiting still leave
 *     one. So a loop `while (corio_signal_wait(SIGHUP) == 0) reload();`
 *     never misses the signal that came during reload().
 *   - Signals before the first corio_signal_wait for that number are not
 *     caught at all (their default action applies: SIGINT ends the
 *     process); a program that must not miss one waits early (a task
 *     started first thing, or a wait with an expired deadline).
 *   - A waiter that times out or is cancelled after the signal arrived but
 *     before its loop got the news still returns 0: the signal was its.
 *     (A cancellation is then delivered at its next blocking call.)
 *   - Several deliveries before the loops run may merge into one wake-up.
 *
 * A loop must not be closed while one of its tasks waits here
 * (corio_run cancels its tasks first, which takes them out).
 */
#include "corio.h"
#include "os/thread.h"
#include "coro/park.h"
#include "net/signal_hooks.h"
#include "os/signal.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Signal numbers we keep state for; every OS's are below this. */
#define SIGNAL_SLOTS 128

/* One waiting task, on its own stack. The shared wait-queue link (park.h)
 * carries the task and the queue membership; w.data points back here. */
typedef struct sig_waiter {
    corio_waiter w;
    corio_loop *loop;
    uint64_t seen;              /* deliveries[signum] when it started */
    uint64_t posted;            /* the delivery its loop was told about */
} sig_waiter;

static sig_waiter *sig_waiter_of(corio_waiter *w) { return w->data; }

static struct {
    corio_waitq waiters[SIGNAL_SLOTS];    /* per signal, any loop, FIFO */
    uint64_t deliveries[SIGNAL_SLOTS];
    bool pending[SIGNAL_SLOTS];           /* arrived while nobody waited */
    bool caught[SIGNAL_SLOTS];            /* corio's handler is in place */
} reg;

/* Made on first use; a race between two first users is settled by a
 * compare-and-swap (the loser frees its mutex). Never freed: a delivery
 * may come at any time until the process ends. */
static _Atomic(corio_os_mutex *) reg_mutex;

static corio_os_mutex *reg_lock(void)
{
    corio_os_mutex *m = atomic_load(&reg_mutex);
    if (!m) {
        corio_os_mutex *fresh = corio__os_mutex_new();
        if (!fresh) return NULL;
        if (atomic_compare_exchange_strong(&reg_mutex, &m, fresh)) m = fresh;
        else corio__os_mutex_free(fresh); /* m now holds the winner's */
    }
    corio__os_mutex_lock(m);
    return m;
}

/* ------------------------------------------------------------------ */
/* Delivery                                                            */
/* ------------------------------------------------------------------ */

/* On the loop's own thread: wake this loop's waiters that were already
 * waiting when the signal arrived (a later one waits for the next). */
static void deliver_here(void *arg)
{
    int signum = (int)(intptr_t)arg;
    corio_loop *here = corio_loop_current();
    corio_os_mutex *m = reg_lock();
    if (!m) return; /* cannot happen: the mutex exists by now */
    corio_waitq *q = &reg.waiters[signum];
    corio_waiter *next;
    for (corio_waiter *w = q->head; w; w = next) {
        next = w->next;
        sig_waiter *sw = sig_waiter_of(w);
        if (sw->loop != here || sw->seen == reg.deliveries[signum]) continue;
        corio__waitq_remove(q, w);
        /* If its deadline or a cancel woke it already, it finds itself
         * unlinked when it runs and returns 0 all the same. */
        corio__unpark_if_waiting(w->task, 0);
    }
    corio__os_mutex_unlock(m);
}

/* On the OS layer's thread, once per (coalesced) delivery. */
static void on_delivery(int signum)
{
    corio_os_mutex *m = reg_lock();
    if (!m) return;
    uint64_t d = ++reg.deliveries[signum];
    if (!reg.waiters[signum].head) reg.pending[signum] = true;
    /* One callback per loop that has waiters: mark the first waiter of
     * each loop and all its loop-mates as told. Holding the lock keeps
     * every listed loop alive (its waiter cannot leave meanwhile). */
    for (corio_waiter *w = reg.waiters[signum].head; w; w = w->next) {
        sig_waiter *sw = sig_waiter_of(w);
        if (sw->posted == d) continue;
        for (corio_waiter *v = w; v; v = v->next)
            if (sig_waiter_of(v)->loop == sw->loop) sig_waiter_of(v)->posted = d;
        /* If this fails (out of memory), the waiters of that loop still
         * see the delivery when their deadline or a cancel wakes them. */
        (void)corio_call_soon_threadsafe(sw->loop, deliver_here,
                                         (void *)(intptr_t)signum);
    }
    corio__os_mutex_unlock(m);
}

uint64_t corio__signal_deliveries(int signum)
{
    if (signum <= 0 || signum >= SIGNAL_SLOTS) return 0;
    corio_os_mutex *m = reg_lock();
    if (!m) return 0;
    uint64_t d = reg.deliveries[signum];
    corio__os_mutex_unlock(m);
    return d;
}

bool corio__signal_caught(int signum)
{
    if (signum <= 0 || signum >= SIGNAL_SLOTS) return false;
    corio_os_mutex *m = reg_lock();
    if (!m) return false;
    bool c = reg.caught[signum];
    corio__os_mutex_unlock(m);
    return c;
}

size_t corio__signal_waiters(int signum)
{
    if (signum <= 0 || signum >= SIGNAL_SLOTS) return 0;
    corio_os_mutex *m = reg_lock();
    if (!m) return 0;
    size_t n = reg.waiters[signum].len;
    corio__os_mutex_unlock(m);
    return n;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */
/* ------------------------------------------------------------------ */

int corio_signal_wait_until(int signum, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (signum <= 0 || signum >= SIGNAL_SLOTS) return CORIO_EINVAL;

    /* Catch it first, then look for a pending one: a signal arriving in
     * between is either pending or counted in `seen`'s successor. */
    int rc = corio__signal_watch(signum, on_delivery);
    if (rc < 0) return rc;

    corio_os_mutex *m = reg_lock();
    if (!m) return CORIO_ENOMEM;
    reg.caught[signum] = true;
    if (reg.pending[signum]) {
        reg.pending[signum] = false;
        corio__os_mutex_unlock(m);
        return 0;
    }
    sig_waiter w = { .w = { .task = self, .data = &w },
                     .loop = corio__task_loop(self),
                     .seen = reg.deliveries[signum] };
    w.posted = w.seen;
    corio__waitq_push(&reg.waiters[signum], &w.w);
    corio__os_mutex_unlock(m);

    rc = corio__park_on(deadline, "signal");

    m = reg_lock(); /* exists: we made it above */
    if (!w.w.linked) {
        rc = 0; /* deliver_here took us out: the signal is ours */
    } else {
        corio__waitq_remove(&reg.waiters[signum], &w.w);
        if (reg.deliveries[signum] != w.seen) rc = 0; /* came meanwhile */
    }
    corio__os_mutex_unlock(m);
    return rc;
}

int corio_signal_wait(int signum)
{
    return corio_signal_wait_until(signum, CORIO_NEVER);
}
