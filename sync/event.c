/*
 * event.c — asyncio.Event: a flag that tasks can wait to see set.
 *
 * Setting it wakes every waiter at once. A woken waiter returns 0 even if
 * the flag is cleared again before it gets to run: it was set when the
 * waiter was woken, which is what asyncio promises too.
 */
#include "waiters.h"

void corio_event_init(corio_event *e)
{
    e->is_set = false;
    e->waiters = (corio_waitq){ NULL, NULL, 0, NULL };
    /* Made inside a loop (debug mode): it is that loop's from now on. */
    corio__debug_owner(&e->waiters, __func__, "event", e);
}

void corio_event_destroy(corio_event *e)
{
    corio__sync_wake_all(&e->waiters, CORIO_ECLOSED);
}

static __attribute__((noinline)) void set(corio_event *e)
{
    if (e->is_set) return;
    e->is_set = true;
    corio__sync_wake_all(&e->waiters, 0);
}

/* Debug mode's twin (coro/park.h says why it is apart). */
static __attribute__((noinline, cold)) void set_checked(corio_event *e)
{
    corio__debug_owner_slow(&e->waiters, NULL, "corio_event_set", "event", e);
    set(e);
}

void corio_event_set(corio_event *e)
{
    if (corio__debug_on()) set_checked(e);
    else set(e);
}

void corio_event_clear(corio_event *e)
{
    corio__debug_owner(&e->waiters, __func__, "event", e);
    e->is_set = false;
}

bool corio_event_is_set(const corio_event *e) { return e->is_set; }

int corio_event_wait_until(corio_event *e, int64_t deadline)
{
    if (e->is_set) return 0;
    /* Checked on the way to parking only, where a frame is set up anyway. */
    corio__debug_owner(&e->waiters, __func__, "event", e);
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    corio_waiter w = { .task = self };
    return corio__sync_wait(&e->waiters, &w, deadline, "event");
}

int corio_event_wait(corio_event *e)
{
    return corio_event_wait_until(e, CORIO_NEVER);
}

size_t corio_event_n_waiting(const corio_event *e)
{
    return corio_sync_count_live(&e->waiters);
}
