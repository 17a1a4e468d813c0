/*
 * timeout.c — timeout scopes (asyncio.timeout) and wait_for.
 *
 * A scope is nothing but the task's `scope_deadline`, which corio__park_on
 * already honours: every park of an unshielded task uses
 * min(its own deadline, scope_deadline). Opening a scope lowers it,
 * closing the scope puts the old value back:
 *
 *     task->scope_deadline   NEVER ──begin(10s)──> 10s ──begin(2s)──> 2s
 *                            NEVER <──end─────────  10s <──end───────  2s
 *
 * The struct on the caller's stack remembers the enclosing value, so scopes
 * nest without any allocation, and taking the minimum means an inner scope
 * can only shorten, never extend, an outer one.
 *
 * Which scope expired? The one whose own deadline passed and was strictly
 * earlier than every enclosing one: with equal deadlines the outer scope
 * owns the expiry (the inner one added nothing). A call's own deadline
 * never makes a scope expire.
 */
#include "coro/park.h"

#include <stdio.h>
#include <stdlib.h>

void corio_timeout_begin(corio_timeout *s, int64_t deadline)
{
    corio_task *self = corio__self();
    s->task = self;
    s->deadline = deadline;
    s->outer = self ? corio__task_scope_deadline(self) : CORIO_NEVER;
    if (self && deadline < corio__task_scope_deadline(self))
        corio__task_set_scope_deadline(self, deadline);
}

bool corio_timeout_expired(const corio_timeout *s)
{
    return s->task && s->deadline < s->outer && corio_now() >= s->deadline;
}

int corio_timeout_end(corio_timeout *s)
{
    corio_task *self = s->task;
    if (!self) return 0; /* opened outside a task, or already ended */
    int64_t mine = s->deadline < s->outer ? s->deadline : s->outer;
    if (self != corio__self() || corio__task_scope_deadline(self) != mine) {
        /* Restoring now would silently give some other scope the wrong
         * deadline: a bug in the caller that must not go unseen. */
        fprintf(stderr, "corio: timeout scope ended %s in task '%s'\n",
                self != corio__self() ? "by another task" : "out of order",
                corio_task_name(self));
        abort();
    }
    int expired = corio_timeout_expired(s);
    corio__task_set_scope_deadline(self, s->outer);
    s->task = NULL;
    return expired ? CORIO_ETIMEDOUT : 0;
}

/* ---------- wait_for ---------- */

int corio_wait_for_task_until(corio_task *t, corio_outcome *out,
                              int64_t deadline)
{
    corio_task *self = corio__self();
    if (!t || corio__task_handle_spent(t) || t == self) return CORIO_EINVAL;
    /* Wait without consuming t, so that we learn WHY the wait ended
     * (corio_join would hide it): 0, CORIO_ETIMEDOUT (our deadline or an
     * enclosing scope), CORIO_ECANCELED (we were cancelled). */
    int rc = corio_task_wait_until(t, deadline);
    if (rc == CORIO_ENOLOOP || rc == CORIO_EINVAL) return rc;
    if (rc != 0) corio_cancel(t);
    /* Shielded: even a cancelled caller waits for t to stop, so t never
     * outlives the call (it stops at its next blocking call). */
    void *r = NULL;
    corio_shield_begin();
    int st = corio_join(t, &r);
    corio_shield_end();
    if (out) {
        out->result = r;
        out->status = st;
    }
    return rc;
}

int corio_wait_for_task(corio_task *t, corio_outcome *out)
{
    return corio_wait_for_task_until(t, out, CORIO_NEVER);
}

int corio_wait_for_until(corio_fn fn, void *arg, corio_outcome *out,
                         int64_t deadline)
{
    if (!fn) return CORIO_EINVAL;
    if (!corio__self()) return CORIO_ENOLOOP;
    corio_task_opts o = { .name = "wait_for" };
    corio_task *t = corio_spawn(fn, arg, &o);
    if (!t) return CORIO_ENOMEM;
    return corio_wait_for_task_until(t, out, deadline);
}

int corio_wait_for(corio_fn fn, void *arg, corio_outcome *out)
{
    return corio_wait_for_until(fn, arg, out, CORIO_NEVER);
}
