/*
 * compose.c — waiting on several tasks at once: gather, wait, as_completed,
 * and shield (asyncio.shield).
 *
 * All of them rest on one trick, "watching" a set of tasks:
 *
 *     caller ──waiter[0]──> tasks[0]->done_waiters
 *            ──waiter[1]──> tasks[1]->done_waiters      then park once
 *            ──waiter[2]──> tasks[2]->done_waiters
 *
 * Each waiter sits on the caller's heap and names the caller. The first
 * watched task to finish unparks the caller; any other that finishes before
 * the caller runs finds it no longer WAITING and only unlinks its waiter
 * (task.c). So the caller wakes exactly once, however many finish, and then
 * looks at which ones are done. A waiter is linked only while the caller is
 * parked here: between two calls the caller may block elsewhere, and a
 * finishing task must not wake it out of that other wait.
 *
 * Nothing here keeps its own list of finished tasks: a task's state (DONE)
 * is the truth, and the watch only says "look again".
 */
#include "coro/park.h"

#include <stdlib.h>

/* ---------- watching ---------- */

/* Put a waiter for the caller on every task of tasks[] that is still
 * running, not skipped, and not already watched. tasks[i] may be NULL
 * (consumed by gather). */
static void watch(corio_task *const *tasks, size_t n, corio_waiter *w,
                  const unsigned char *skip)
{
    for (size_t i = 0; i < n; i++) {
        corio_task *t = tasks[i];
        if (!t || (skip && skip[i]) || w[i].linked) continue;
        if (corio__task_done(t)) continue;
        corio__waitq_push(corio__task_done_waiters(t), &w[i]);
    }
}

/* Take every waiter still linked back out. A finished task already
 * unlinked its own, so only running tasks are touched. */
static void unwatch(corio_task *const *tasks, size_t n, corio_waiter *w)
{
    for (size_t i = 0; i < n; i++)
        if (w[i].linked) corio__waitq_remove(corio__task_done_waiters(tasks[i]), &w[i]);
}

static corio_waiter *waiters_new(corio_task *self, size_t n)
{
    corio_waiter *w = calloc(n ? n : 1, sizeof *w);
    if (w)
        for (size_t i = 0; i < n; i++) w[i].task = self;
    return w;
}

/* Can this handle be waited on by self? (Joined or detached handles may
 * already be freed: they are the caller's bug, caught where we can.) */
static int valid_handle(const corio_task *t, const corio_task *self)
{
    return t && !corio__task_handle_spent(t) && t != self &&
           (!self || corio__task_loop(t) == corio__task_loop(self));
}

/* The deadline a park of self would really use, to tell "my own deadline
 * passed" (not an error for wait) from "a timeout scope passed". */
static int own_deadline_expired(const corio_task *self, int64_t deadline)
{
    int64_t scope = corio__task_park_limit(self);
    return deadline <= scope;
}

/* ---------- gather ---------- */

/* Join tasks[i] (it is done, or we are shielded and will wait for it),
 * record its outcome and forget the handle. Returns its status. */
static int take(corio_task **tasks, size_t i, corio_outcome *out)
{
    void *r = NULL;
    int st = corio_join(tasks[i], &r);
    if (out) {
        out[i].result = r;
        out[i].status = st;
    }
    tasks[i] = NULL;
    return st;
}

/* Cancel every task still in tasks[] and join them all. Shielded, so that
 * a caller that is itself cancelled still waits: a task is never left
 * running without an owner. Cancellation is sticky, so each one stops at
 * its next blocking call. */
static void cancel_and_take_all(corio_task **tasks, size_t n,
                                corio_outcome *out)
{
    for (size_t i = 0; i < n; i++)
        if (tasks[i]) corio_cancel(tasks[i]);
    corio_shield_begin();
    for (size_t i = 0; i < n; i++)
        if (tasks[i]) take(tasks, i, out);
    corio_shield_end();
}

int corio_gather_until(corio_task **tasks, size_t n, corio_outcome *out,
                       int flags, int64_t deadline)
{
    corio_task *self = corio__self();
    if (n && !tasks) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!valid_handle(tasks[i], self)) return CORIO_EINVAL;
    if (!self) return CORIO_ENOLOOP;
    for (size_t i = 0; out && i < n; i++) {
        out[i].result = NULL;
        out[i].status = CORIO_EAGAIN; /* "still running": see corio.h */
    }
    corio_waiter *w = waiters_new(self, n);
    if (!w) return CORIO_ENOMEM;

    int return_errors = (flags & CORIO_GATHER_RETURN_ERRORS) != 0;
    size_t left = n;
    int first_error = 0, failures = 0, rc = 0;
    for (;;) {
        /* Harvest what finished, in array order. */
        for (size_t i = 0; i < n; i++) {
            if (!tasks[i] || !corio__task_done(tasks[i])) continue;
            int st = take(tasks, i, out);
            left--;
            if (st != 0) {
                failures++;
                if (!first_error) first_error = st;
            }
        }
        if (left == 0 || (first_error && !return_errors)) break;
        /* Waiters of tasks still running stay linked from one round to
         * the next: we go straight back to sleep, nothing else runs. */
        watch(tasks, n, w, NULL);
        rc = corio__park_on(deadline, "gather");
        if (rc != 0) break; /* cancelled, deadline or scope: give up */
    }
    unwatch(tasks, n, w);
    free(w);

    if (rc != 0) {
        cancel_and_take_all(tasks, n, out);
        return rc;
    }
    if (return_errors) return failures;
    if (first_error && (flags & CORIO_GATHER_CANCEL_ON_ERROR))
        cancel_and_take_all(tasks, n, out);
    return first_error;
}

int corio_gather(corio_task **tasks, size_t n, corio_outcome *out, int flags)
{
    return corio_gather_until(tasks, n, out, flags, CORIO_NEVER);
}

int corio_gather_calls_until(const corio_call *calls, size_t n,
                             corio_outcome *out, int flags, int64_t deadline)
{
    corio_task *self = corio__self();
    if (n && !calls) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!calls[i].fn) return CORIO_EINVAL;
    if (!self) return CORIO_ENOLOOP;
    corio_task **tasks = calloc(n ? n : 1, sizeof *tasks);
    if (!tasks) return CORIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        tasks[i] = corio_spawn(calls[i].fn, calls[i].arg, NULL);
        if (!tasks[i]) {
            /* Out of tasks: the ones already spawned are cancelled and
             * joined. Each still runs to its first blocking call, which
             * returns CORIO_ECANCELED (every task runs its function). */
            cancel_and_take_all(tasks, i, out);
            free(tasks);
            return CORIO_ENOMEM;
        }
    }
    /* The caller has no handles, so none may be left running. */
    int rc = corio_gather_until(tasks, n, out,
                                flags | CORIO_GATHER_CANCEL_ON_ERROR, deadline);
    /* gather_until can fail before it waited at all (no memory for its
     * waiters): the tasks it did not take may use the caller's frame, so
     * they must not outlive this call either. */
    cancel_and_take_all(tasks, n, out);
    free(tasks);
    return rc;
}

int corio_gather_calls(const corio_call *calls, size_t n, corio_outcome *out,
                       int flags)
{
    return corio_gather_calls_until(calls, n, out, flags, CORIO_NEVER);
}

/* ---------- wait ---------- */

/* Has `mode` been met? Counts the done tasks into *ndone. */
static int wait_met(corio_task *const *tasks, size_t n, corio_wait_mode mode,
                    size_t *ndone)
{
    size_t done = 0;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!corio__task_done(tasks[i])) continue;
        done++;
        int st = corio__task_status(tasks[i]);
        if (st != 0 && st != CORIO_ECANCELED) failed = 1;
    }
    *ndone = done;
    switch (mode) {
    case CORIO_FIRST_COMPLETED: return done > 0 || n == 0;
    case CORIO_FIRST_EXCEPTION: return failed || done == n;
    case CORIO_ALL_COMPLETED: return done == n;
    }
    return 1;
}

int corio_wait_until(corio_task *const *tasks, size_t n, corio_wait_mode mode,
                     bool *done, int64_t deadline)
{
    corio_task *self = corio__self();
    /* Waiting for none of nothing is a bug in the caller, as asyncio says
     * with ValueError (test_wait_errors); gather of nothing is fine. */
    if (n == 0 || !tasks) return CORIO_EINVAL;
    if (mode != CORIO_FIRST_COMPLETED && mode != CORIO_FIRST_EXCEPTION &&
        mode != CORIO_ALL_COMPLETED)
        return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!valid_handle(tasks[i], self)) return CORIO_EINVAL;

    size_t ndone;
    int rc = 0;
    if (!wait_met(tasks, n, mode, &ndone)) {
        corio_waiter *w = self ? waiters_new(self, n) : NULL;
        if (!self) rc = CORIO_ENOLOOP;
        else if (!w) rc = CORIO_ENOMEM;
        else {
            while (!wait_met(tasks, n, mode, &ndone)) {
                watch(tasks, n, w, NULL);
                rc = corio__park_on(deadline, "wait");
                if (rc == 0) continue; /* something finished: look again */
                if (rc == CORIO_ETIMEDOUT &&
                    own_deadline_expired(self, deadline))
                    rc = 0; /* our own deadline: report the sets, no error */
                break;
            }
            unwatch(tasks, n, w);
            free(w);
        }
        wait_met(tasks, n, mode, &ndone);
    }
    for (size_t i = 0; done && i < n; i++)
        done[i] = corio__task_done(tasks[i]);
    return rc ? rc : (int)ndone;
}

int corio_wait(corio_task *const *tasks, size_t n, corio_wait_mode mode,
               bool *done)
{
    return corio_wait_until(tasks, n, mode, done, CORIO_NEVER);
}

/* ---------- as_completed ---------- */

int corio_as_completed_init(corio_as_completed *it, corio_task *const *tasks,
                            size_t n)
{
    if (!it) return CORIO_EINVAL;
    it->given = NULL;
    it->waiters = NULL;
    it->error = CORIO_EINVAL;
    if (n && !tasks) return CORIO_EINVAL;
    corio_task *self = corio__self();
    for (size_t i = 0; i < n; i++)
        if (!valid_handle(tasks[i], self)) return CORIO_EINVAL;
    it->tasks = tasks;
    it->n = it->left = n;
    it->given = calloc(n ? n : 1, 1);
    it->waiters = calloc(n ? n : 1, sizeof(corio_waiter));
    if (!it->given || !it->waiters) {
        corio_as_completed_end(it);
        it->error = CORIO_ENOMEM;
        return CORIO_ENOMEM;
    }
    it->error = 0;
    return 0;
}

void corio_as_completed_end(corio_as_completed *it)
{
    if (!it) return;
    free(it->given);
    free(it->waiters);
    it->given = NULL;
    it->waiters = NULL;
    if (!it->error) it->error = CORIO_EOF;
}

/* Finish the iterator with `err` (sticky) and free its memory. */
static int as_completed_stop(corio_as_completed *it, int err)
{
    it->error = err;
    corio_as_completed_end(it);
    return err;
}

int corio_as_completed_next_until(corio_as_completed *it, size_t *index,
                                  int64_t deadline)
{
    if (!it) return CORIO_EINVAL;
    if (it->error) return it->error;
    if (it->left == 0) return as_completed_stop(it, CORIO_EOF);
    corio_task *self = corio__self();
    for (;;) {
        /* A task already yielded may have been joined and freed by the
         * caller: `given` keeps us from ever looking at it again. */
        for (size_t i = 0; i < it->n; i++) {
            if (it->given[i] || !corio__task_done(it->tasks[i]))
                continue;
            it->given[i] = 1;
            it->left--;
            if (index) *index = i;
            return 0;
        }
        if (!self) return as_completed_stop(it, CORIO_ENOLOOP);
        corio_waiter *w = it->waiters;
        for (size_t i = 0; i < it->n; i++) w[i].task = self;
        watch(it->tasks, it->n, w, it->given);
        int rc = corio__park_on(deadline, "as_completed");
        unwatch(it->tasks, it->n, w);
        if (rc != 0) return as_completed_stop(it, rc);
    }
}

int corio_as_completed_next(corio_as_completed *it, size_t *index)
{
    return corio_as_completed_next_until(it, index, CORIO_NEVER);
}

/* ---------- shield ---------- */

/* What a reaper needs: the task it now owns and what to do with its
 * result. */
typedef struct reaper_job {
    corio_task *task;
    corio_discard_fn discard;
} reaper_job;

/* A reaper adopts a shielded task whose waiter gave up: it joins it so
 * that the handle is freed and the result reaches `discard`. If the
 * reaper itself is cancelled (asyncio.run's final cancel-all), its join
 * passes that on, as for any other task. */
static void *reaper_main(void *arg)
{
    reaper_job job = *(reaper_job *)arg;
    free(arg);
    void *r = NULL;
    corio_join(job.task, &r);
    if (job.discard) job.discard(r);
    return NULL;
}

static void hand_to_reaper(corio_task *t, corio_discard_fn discard)
{
    reaper_job *job = malloc(sizeof *job);
    corio_task_opts o = { .name = "shield-reaper" };
    corio_task *r = job ? corio_loop_spawn(corio__task_loop(t), reaper_main, job, &o) : NULL;
    if (!r) { /* out of memory: let t run alone, its result is dropped */
        free(job);
        corio_detach(t);
        return;
    }
    job->task = t;
    job->discard = discard;
    corio_detach(r);
}

int corio_shield_join_until(corio_task *t, corio_outcome *out,
                            corio_discard_fn discard, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!valid_handle(t, self)) return CORIO_EINVAL;
    int rc = corio_task_wait_until(t, deadline); /* never cancels t */
    if (rc == CORIO_ENOLOOP) return rc;
    if (rc == 0) {
        void *r = NULL;
        int st = corio_join(t, &r);
        if (out) {
            out->result = r;
            out->status = st;
        }
        return 0;
    }
    hand_to_reaper(t, discard);
    if (out) {
        out->result = NULL;
        out->status = CORIO_EAGAIN;
    }
    return rc;
}

int corio_shield_join(corio_task *t, corio_outcome *out,
                      corio_discard_fn discard)
{
    return corio_shield_join_until(t, out, discard, CORIO_NEVER);
}
