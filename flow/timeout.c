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
 *
 * Shields. A shield cuts the task off from every scope opened outside it
 * (that is what lets a cancelled or timed-out task finish its cleanup),
 * but a scope opened inside the shield must still bound what is inside
 * it: in asyncio the shielded code is another task, with scopes of its
 * own, and CPython's test_timeout_after_cancellation bounds a cancelled
 * task's cleanup that way. So each scope also records the task's shield
 * depth when it was opened and `bound`, the deadline of the enclosing
 * scopes opened at that same depth. The task keeps its open scopes as a
 * stack (innermost first, linked through the structs on the callers'
 * stacks); corio__scope_deadline (sched.h) uses the top one when the task
 * is shielded and its depth matches. Shielded calls inside corio itself
 * (a condition's re-acquire, wait_for's join) raise the depth without a
 * scope, so no scope of the caller's ever bounds them.
 */
#include "coro/park.h"

#include <stdio.h>
#include <stdlib.h>

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* What the enclosing scopes impose on a scope opened at `shield` depth
 * with `enclosing` below it: only scopes of the same shield depth count. */
static int64_t bound_of(const corio_timeout *enclosing, int shield)
{
    if (!enclosing || enclosing->shield != shield) return CORIO_NEVER;
    return min64(enclosing->deadline, enclosing->bound);
}

void corio_timeout_begin(corio_timeout *s, int64_t deadline)
{
    corio_task *self = corio__self();
    s->task = self;
    s->deadline = deadline;
    s->outer = self ? corio__task_scope_deadline(self) : CORIO_NEVER;
    s->enclosing = self ? corio__task_scopes(self) : NULL;
    s->shield = self ? corio__task_shield_depth(self) : 0;
    s->bound = bound_of(s->enclosing, s->shield);
    if (!self) return;
    corio__task_set_scopes(self, s);
    if (deadline < corio__task_scope_deadline(self))
        corio__task_set_scope_deadline(self, deadline);
}

bool corio_timeout_expired(const corio_timeout *s)
{
    return s->task && s->deadline < s->bound && corio_now() >= s->deadline;
}

int64_t corio_timeout_when(const corio_timeout *s)
{
    return s->deadline;
}

/* Recompute the derived values of every open scope of t, outermost
 * first, after one of them moved its deadline. Returns the minimum of
 * their deadlines (the task's scope_deadline). */
static int64_t recompute(corio_timeout *s)
{
    if (!s) return CORIO_NEVER;
    int64_t below = recompute(s->enclosing);
    s->outer = below;
    s->bound = bound_of(s->enclosing, s->shield);
    return min64(below, s->deadline);
}

int corio_timeout_reschedule(corio_timeout *s, int64_t deadline)
{
    corio_task *self = s->task;
    if (!self) return CORIO_EINVAL; /* not open (asyncio: RuntimeError) */
    if (self != corio__self()) return CORIO_EPERM;
    s->deadline = deadline;
    corio__task_set_scope_deadline(self, recompute(corio__task_scopes(self)));
    /* A park already armed with the old deadline keeps it until it wakes;
     * only the owning task can reschedule, and it is running, not parked,
     * so there is no such park. */
    return 0;
}

int corio_timeout_end(corio_timeout *s)
{
    corio_task *self = s->task;
    if (!self) return 0; /* opened outside a task, or already ended */
    if (self != corio__self() || corio__task_scopes(self) != s) {
        /* Restoring now would silently give some other scope the wrong
         * deadline: a bug in the caller that must not go unseen. */
        fprintf(stderr, "corio: timeout scope ended %s in task '%s'\n",
                self != corio__self() ? "by another task" : "out of order",
                corio_task_name(self));
        abort();
    }
    int expired = corio_timeout_expired(s);
    corio__task_set_scope_deadline(self, s->outer);
    corio__task_set_scopes(self, s->enclosing);
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
