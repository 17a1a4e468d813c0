/*
 * future.c — a one-shot value that any number of tasks can wait for.
 *
 * Setting the future unparks every waiter with status 0; each then reads
 * the value or error from the future itself. A future that is already done
 * answers at once, without parking, even to a cancelled task (there is
 * nothing to wait for, so there is no suspension point to cancel).
 */
#include "future.h"
#include "alloc.h"

#include <stdlib.h>

corio_future *corio_future_new(void)
{
    corio_future *f = corio__calloc(1, sizeof(corio_future));
    if (f) corio__debug_owner(&f->waiters, __func__, "future", f); /* its loop */
    return f;
}

/* Each waiter gets its own copy of the outcome in its corio_waiter, so a
 * setter may free the future right after setting it. A waiter whose
 * deadline or cancel already woke it is only unlinked. */
static void wake_all(corio_future *f, int status)
{
    corio_waiter *w;
    while ((w = corio__waitq_pop(&f->waiters))) {
        w->data = f->value;
        w->n = (uintptr_t)(intptr_t)f->error;
        corio__unpark_if_waiting(w->task, status);
    }
}

void corio_future_free(corio_future *f)
{
    if (!f) return;
    wake_all(f, CORIO_ECLOSED);
    corio__free(f);
}

static int settle(corio_future *f, void *value, int error)
{
    if (!f) return CORIO_EINVAL;
    corio__debug_owner(&f->waiters, "corio_future_set_result/_error/_cancel",
                       "future", f);
    if (f->done) return CORIO_EALREADY;
    f->done = 1;
    f->value = value;
    f->error = error;
    wake_all(f, 0);
    return 0;
}

int corio_future_set_result(corio_future *f, void *value)
{
    return settle(f, value, 0);
}

int corio_future_set_error(corio_future *f, int err)
{
    return settle(f, NULL, err < 0 ? err : CORIO_EINVAL);
}

bool corio_future_done(const corio_future *f) { return f && f->done; }

/* asyncio's Future.cancel(): settle it as cancelled, so that every waiter
 * gets CORIO_ECANCELED (asyncio raises CancelledError in them). */
int corio_future_cancel(corio_future *f)
{
    return settle(f, NULL, CORIO_ECANCELED);
}

bool corio_future_cancelled(const corio_future *f)
{
    return f && f->done && f->error == CORIO_ECANCELED;
}

int corio_future_wait_until(corio_future *f, void **value, int64_t deadline)
{
    if (!f) return CORIO_EINVAL;
    corio__debug_owner(&f->waiters, __func__, "future", f);
    if (f->done) {
        if (value) *value = f->value;
        return f->error;
    }
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    corio_waiter w = { .task = self };
    corio__waitq_push(&f->waiters, &w);
    int rc = corio__park_on(deadline, "future");
    if (rc != 0) { /* timeout, cancel, or freed (ECLOSED): f may be gone */
        if (w.linked) corio__waitq_remove(&f->waiters, &w);
        return rc;
    }
    if (value) *value = w.data;
    return (int)(intptr_t)w.n;
}

int corio_future_wait(corio_future *f, void **value)
{
    return corio_future_wait_until(f, value, CORIO_NEVER);
}

/* ---------- a future as a task: gather / wait / as_completed / shield ---------- */

/*
 * The compositions take futures directly (flow/compose.c waits on a
 * future's wait queue as it waits on a task's done_waiters, see
 * future.h). This turns a future into a task that waits for it, for the
 * one thing they cannot do: mix futures and tasks in one call. A cancel
 * of the adapter while the future is pending cancels the future, as a
 * cancelled gather cancels the futures it waits for in asyncio. The cost
 * is a task (and a stack) per future.
 */
static void *future_task_main(void *arg)
{
    corio_future *f = arg;
    void *value = NULL;
    int rc = corio_future_wait(f, &value);
    if (rc == CORIO_ECANCELED && !f->done) corio_future_cancel(f);
    return rc == 0 ? value : corio_fail(rc);
}

corio_task *corio_future_task(corio_future *f, const corio_task_opts *opts)
{
    if (!f) return NULL;
    corio_task_opts o = { .name = "future" };
    return corio_spawn(future_task_main, f, opts ? opts : &o);
}

/* For corio_select (chan/select.c): the wait queue a select case joins. */
corio_waitq *corio__future_waiters(corio_future *f) { return &f->waiters; }
