/*
 * compose.c — waiting on several tasks or futures at once: gather, wait,
 * as_completed, and shield (asyncio.shield).
 *
 * All of them rest on one trick, "watching" a set:
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
 * A future is watched the same way: its wait queue is the one
 * corio_future_wait uses, and setting it wakes every waiter once. So the
 * `_futures` forms compose futures directly, with no task (and no stack)
 * per future: a `set` below is either an array of tasks or an array of
 * futures, and everything else is written once for both.
 *
 * Nothing here keeps its own list of finished work: a task's state (DONE)
 * or a future's `done` is the truth, and the watch only says "look again".
 */
#include "coro/future.h"
#include "coro/park.h"
#include "coro/alloc.h"

#include <stdlib.h>

/* ---------- a set: tasks or futures ---------- */

typedef struct set {
    corio_task *const *tasks;     /* one of the two is NULL */
    corio_future *const *futures;
    size_t n;
} set;

/* Is member i finished? A NULL task (consumed by gather) counts as not:
 * nobody looks at it again. */
static int set_done(const set *s, size_t i)
{
    if (s->futures) return s->futures[i]->done;
    return s->tasks[i] && corio__task_done(s->tasks[i]);
}

/* Its final status once done: 0, a corio_fail / set_error code, or
 * CORIO_ECANCELED. */
static int set_status(const set *s, size_t i)
{
    return s->futures ? s->futures[i]->error : corio__task_status(s->tasks[i]);
}

static corio_waitq *set_waitq(const set *s, size_t i)
{
    return s->futures ? &s->futures[i]->waiters
                      : corio__task_done_waiters(s->tasks[i]);
}

/* ---------- watching ---------- */

/* Put a waiter for the caller on every member still running, not skipped,
 * and not already watched. */
static void watch(const set *s, corio_waiter *w, const unsigned char *skip)
{
    for (size_t i = 0; i < s->n; i++) {
        if ((skip && skip[i]) || w[i].linked) continue;
        if (s->tasks && !s->tasks[i]) continue;
        if (set_done(s, i)) continue;
        corio__waitq_push(set_waitq(s, i), &w[i]);
    }
}

/* Take every waiter still linked back out. A finished task or a set
 * future already unlinked its own, so only pending members are touched. */
static void unwatch(const set *s, corio_waiter *w)
{
    for (size_t i = 0; i < s->n; i++)
        if (w[i].linked) corio__waitq_remove(set_waitq(s, i), &w[i]);
}

static corio_waiter *waiters_new(corio_task *self, size_t n)
{
    corio_waiter *w = corio__calloc(n ? n : 1, sizeof *w);
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

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return x < y ? -1 : x > y;
}

/* Does tasks[] name a task twice? gather would join it twice and
 * as_completed would hand it out twice to be joined twice: the second
 * join would touch a freed handle. (asyncio makes a set of its arguments;
 * a C handle is consumed once, so a duplicate is the caller's bug.)
 * 1 for yes, 0 for no, CORIO_ENOMEM. */
static int has_duplicates(corio_task *const *tasks, size_t n)
{
    if (n < 2) return 0;
    if (n <= 16) { /* the common case: no allocation */
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (tasks[i] == tasks[j]) return 1;
        return 0;
    }
    void **p = corio__malloc(n * sizeof *p);
    if (!p) return CORIO_ENOMEM;
    for (size_t i = 0; i < n; i++) p[i] = tasks[i];
    qsort(p, n, sizeof *p, cmp_ptr);
    int dup = 0;
    for (size_t i = 1; i < n && !dup; i++) dup = p[i] == p[i - 1];
    corio__free(p);
    return dup;
}

/* Check a task array for gather / as_completed: every handle valid and
 * none twice. 0 or CORIO_EINVAL / CORIO_ENOMEM. */
static int check_tasks(corio_task *const *tasks, size_t n,
                       const corio_task *self)
{
    if (n && !tasks) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!valid_handle(tasks[i], self)) return CORIO_EINVAL;
    int dup = has_duplicates(tasks, n);
    return dup < 0 ? dup : dup ? CORIO_EINVAL : 0;
}

/* A future array: no NULL. Futures belong to no loop and are not
 * consumed, so the same future twice is fine (each place gets its
 * outcome, as asyncio.gather(f, f) gives [r, r]). */
static int check_futures(corio_future *const *fs, size_t n)
{
    if (n && !fs) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i]) return CORIO_EINVAL;
    return 0;
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
    int bad = check_tasks(tasks, n, self);
    if (bad) return bad;
    if (!self) return CORIO_ENOLOOP;
    for (size_t i = 0; out && i < n; i++) {
        out[i].result = NULL;
        out[i].status = CORIO_EAGAIN; /* "still running": see corio.h */
    }
    corio_waiter *w = waiters_new(self, n);
    if (!w) return CORIO_ENOMEM;

    set s = { .tasks = tasks, .n = n };
    int return_errors = (flags & CORIO_GATHER_RETURN_ERRORS) != 0;
    size_t left = n;
    int first_error = 0, failures = 0, rc = 0;
    for (;;) {
        /* Harvest what finished, in array order. */
        for (size_t i = 0; i < n; i++) {
            if (!set_done(&s, i)) continue;
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
        watch(&s, w, NULL);
        rc = corio__park_on(deadline, "gather");
        if (rc != 0) break; /* cancelled, deadline or scope: give up */
    }
    unwatch(&s, w);
    corio__free(w);

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

/* Record the outcome of every future of fs[] that is done and not yet
 * taken; counts failures and the first error. Returns how many it took. */
static size_t harvest_futures(corio_future *const *fs, size_t n,
                              unsigned char *taken, corio_outcome *out,
                              int *first_error, int *failures)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        if (taken[i] || !fs[i]->done) continue;
        taken[i] = 1;
        got++;
        if (out) {
            out[i].result = fs[i]->value;
            out[i].status = fs[i]->error;
        }
        if (fs[i]->error != 0) {
            (*failures)++;
            if (!*first_error) *first_error = fs[i]->error;
        }
    }
    return got;
}

/* Cancel every future not taken yet (asyncio: a gather that is cancelled,
 * or whose child failed with cancel-on-error, cancels its children) and
 * record them: each is now done, as cancelled. */
static void cancel_futures(corio_future *const *fs, size_t n,
                           unsigned char *taken, corio_outcome *out)
{
    int fe = 0, nf = 0;
    for (size_t i = 0; i < n; i++)
        if (!taken[i]) corio_future_cancel(fs[i]); /* EALREADY for a dup */
    harvest_futures(fs, n, taken, out, &fe, &nf);
}

int corio_gather_futures_until(corio_future *const *fs, size_t n,
                               corio_outcome *out, int flags,
                               int64_t deadline)
{
    int bad = check_futures(fs, n);
    if (bad) return bad;
    for (size_t i = 0; out && i < n; i++) {
        out[i].result = NULL;
        out[i].status = CORIO_EAGAIN; /* still pending */
    }
    unsigned char *taken = corio__calloc(n ? n : 1, 1);
    if (!taken) return CORIO_ENOMEM;

    int return_errors = (flags & CORIO_GATHER_RETURN_ERRORS) != 0;
    int first_error = 0, failures = 0, rc = 0;
    size_t left = n - harvest_futures(fs, n, taken, out, &first_error, &failures);
    /* Done futures answer at once, as corio_future_wait: no park, so no
     * suspension point at which a pending cancel could be delivered. */
    if (left && !(first_error && !return_errors)) {
        corio_task *self = corio__self();
        corio_waiter *w = self ? waiters_new(self, n) : NULL;
        set s = { .futures = fs, .n = n };
        if (!self) rc = CORIO_ENOLOOP;
        else if (!w) rc = CORIO_ENOMEM;
        else {
            for (;;) {
                watch(&s, w, taken);
                rc = corio__park_on(deadline, "gather");
                if (rc != 0) break;
                left -= harvest_futures(fs, n, taken, out, &first_error,
                                        &failures);
                if (left == 0 || (first_error && !return_errors)) break;
            }
            /* A future freed while we waited (CORIO_ECLOSED) already
             * unlinked our waiter: unwatch only touches linked ones. */
            unwatch(&s, w);
        }
        corio__free(w);
    }
    if (rc == CORIO_ETIMEDOUT || rc == CORIO_ECANCELED)
        cancel_futures(fs, n, taken, out);
    else if (!rc && first_error && !return_errors &&
             (flags & CORIO_GATHER_CANCEL_ON_ERROR))
        cancel_futures(fs, n, taken, out);
    corio__free(taken);
    if (rc) return rc; /* ECLOSED: one was freed; the others are left as they are */
    return return_errors ? failures : first_error;
}

int corio_gather_futures(corio_future *const *fs, size_t n,
                         corio_outcome *out, int flags)
{
    return corio_gather_futures_until(fs, n, out, flags, CORIO_NEVER);
}

int corio_gather_calls_until(const corio_call *calls, size_t n,
                             corio_outcome *out, int flags, int64_t deadline)
{
    corio_task *self = corio__self();
    if (n && !calls) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!calls[i].fn) return CORIO_EINVAL;
    if (!self) return CORIO_ENOLOOP;
    corio_task **tasks = corio__calloc(n ? n : 1, sizeof *tasks);
    if (!tasks) return CORIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        tasks[i] = corio_spawn(calls[i].fn, calls[i].arg, NULL);
        if (!tasks[i]) {
            /* Out of tasks: the ones already spawned are cancelled and
             * joined. Each still runs to its first blocking call, which
             * returns CORIO_ECANCELED (every task runs its function). */
            cancel_and_take_all(tasks, i, out);
            corio__free(tasks);
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
    corio__free(tasks);
    return rc;
}

int corio_gather_calls(const corio_call *calls, size_t n, corio_outcome *out,
                       int flags)
{
    return corio_gather_calls_until(calls, n, out, flags, CORIO_NEVER);
}

/* ---------- wait ---------- */

/* Has `mode` been met? Counts the done members into *ndone. */
static int wait_met(const set *s, corio_wait_mode mode, size_t *ndone)
{
    size_t done = 0;
    int failed = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!set_done(s, i)) continue;
        done++;
        int st = set_status(s, i);
        if (st != 0 && st != CORIO_ECANCELED) failed = 1;
    }
    *ndone = done;
    switch (mode) {
    case CORIO_FIRST_COMPLETED: return done > 0 || s->n == 0;
    case CORIO_FIRST_EXCEPTION: return failed || done == s->n;
    case CORIO_ALL_COMPLETED: return done == s->n;
    }
    return 1;
}

/* wait for tasks or futures: the arguments are checked by the callers. */
static int wait_set(const set *s, corio_wait_mode mode, bool *done,
                    int64_t deadline)
{
    corio_task *self = corio__self();
    size_t ndone;
    int rc = 0;
    if (!wait_met(s, mode, &ndone)) {
        corio_waiter *w = self ? waiters_new(self, s->n) : NULL;
        if (!self) rc = CORIO_ENOLOOP;
        else if (!w) rc = CORIO_ENOMEM;
        else {
            while (!wait_met(s, mode, &ndone)) {
                watch(s, w, NULL);
                rc = corio__park_on(deadline, "wait");
                if (rc == 0) continue; /* something finished: look again */
                if (rc == CORIO_ETIMEDOUT &&
                    corio__task_deadline_is_own(self, deadline))
                    rc = 0; /* our own deadline: report the sets, no error */
                break;
            }
            unwatch(s, w);
            corio__free(w);
        }
        if (rc == CORIO_ECLOSED) return rc; /* a future was freed: don't look */
        wait_met(s, mode, &ndone);
    }
    for (size_t i = 0; done && i < s->n; i++) done[i] = set_done(s, i);
    return rc ? rc : (int)ndone;
}

static int wait_mode_ok(corio_wait_mode mode)
{
    return mode == CORIO_FIRST_COMPLETED || mode == CORIO_FIRST_EXCEPTION ||
           mode == CORIO_ALL_COMPLETED;
}

int corio_wait_until(corio_task *const *tasks, size_t n, corio_wait_mode mode,
                     bool *done, int64_t deadline)
{
    corio_task *self = corio__self();
    /* Waiting for none of nothing is a bug in the caller, as asyncio says
     * with ValueError (test_wait_errors); gather of nothing is fine. */
    if (n == 0 || !tasks || !wait_mode_ok(mode)) return CORIO_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!valid_handle(tasks[i], self)) return CORIO_EINVAL;
    set s = { .tasks = tasks, .n = n };
    return wait_set(&s, mode, done, deadline);
}

int corio_wait(corio_task *const *tasks, size_t n, corio_wait_mode mode,
               bool *done)
{
    return corio_wait_until(tasks, n, mode, done, CORIO_NEVER);
}

int corio_wait_futures_until(corio_future *const *fs, size_t n,
                             corio_wait_mode mode, bool *done,
                             int64_t deadline)
{
    if (n == 0 || !wait_mode_ok(mode) || check_futures(fs, n))
        return CORIO_EINVAL;
    set s = { .futures = fs, .n = n };
    return wait_set(&s, mode, done, deadline);
}

int corio_wait_futures(corio_future *const *fs, size_t n,
                       corio_wait_mode mode, bool *done)
{
    return corio_wait_futures_until(fs, n, mode, done, CORIO_NEVER);
}

/* ---------- as_completed ---------- */

static int as_completed_start(corio_as_completed *it,
                              corio_task *const *tasks,
                              corio_future *const *fs, size_t n)
{
    if (!it) return CORIO_EINVAL;
    it->given = NULL;
    it->waiters = NULL;
    it->error = CORIO_EINVAL;
    int bad = fs ? check_futures(fs, n)
                 : check_tasks(tasks, n, corio__self());
    if (!fs && n && !tasks) bad = CORIO_EINVAL;
    if (bad) {
        it->error = bad;
        return bad;
    }
    it->tasks = tasks;
    it->futures = fs;
    it->n = it->left = n;
    it->given = corio__calloc(n ? n : 1, 1);
    it->waiters = corio__calloc(n ? n : 1, sizeof(corio_waiter));
    if (!it->given || !it->waiters) {
        corio_as_completed_end(it);
        it->error = CORIO_ENOMEM;
        return CORIO_ENOMEM;
    }
    it->error = 0;
    return 0;
}

int corio_as_completed_init(corio_as_completed *it, corio_task *const *tasks,
                            size_t n)
{
    return as_completed_start(it, tasks, NULL, n);
}

int corio_as_completed_init_futures(corio_as_completed *it,
                                    corio_future *const *fs, size_t n)
{
    return as_completed_start(it, NULL, fs, n); /* NULL fs: as for tasks */
}

void corio_as_completed_end(corio_as_completed *it)
{
    if (!it) return;
    corio__free(it->given);
    corio__free(it->waiters);
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
    set s = { .tasks = it->tasks, .futures = it->futures, .n = it->n };
    for (;;) {
        /* A task already yielded may have been joined and freed by the
         * caller (a future, freed): `given` keeps us from ever looking at
         * it again. */
        for (size_t i = 0; i < it->n; i++) {
            if (it->given[i] || !set_done(&s, i)) continue;
            it->given[i] = 1;
            it->left--;
            if (index) *index = i;
            return 0;
        }
        if (!self) return as_completed_stop(it, CORIO_ENOLOOP);
        corio_waiter *w = it->waiters;
        for (size_t i = 0; i < it->n; i++) w[i].task = self;
        watch(&s, w, it->given);
        int rc = corio__park_on(deadline, "as_completed");
        unwatch(&s, w);
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
    corio__free(arg);
    void *r = NULL;
    corio_join(job.task, &r);
    if (job.discard) job.discard(r);
    return NULL;
}

static void hand_to_reaper(corio_task *t, corio_discard_fn discard)
{
    reaper_job *job = corio__malloc(sizeof *job);
    corio_task_opts o = { .name = "shield-reaper" };
    corio_task *r = job ? corio_loop_spawn(corio__task_loop(t), reaper_main, job, &o) : NULL;
    if (!r) { /* out of memory: let t run alone, its result is dropped */
        corio__free(job);
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

/* asyncio.shield(fut): wait for f without ever cancelling it. Unlike
 * corio_future_wait, the return value says only why WE stopped waiting
 * and out gets f's own outcome, so a future cancelled by somebody else
 * (out->status CORIO_ECANCELED, return 0) is never confused with our own
 * cancellation (return CORIO_ECANCELED). */
int corio_shield_future_until(corio_future *f, corio_outcome *out,
                              int64_t deadline)
{
    if (out) {
        out->result = NULL;
        out->status = CORIO_EAGAIN;
    }
    if (!f) return CORIO_EINVAL;
    if (!f->done) {
        corio_task *self = corio__self();
        if (!self) return CORIO_ENOLOOP;
        corio_waiter w = { .task = self };
        corio__waitq_push(&f->waiters, &w);
        int rc = corio__park_on(deadline, "shield");
        if (rc != 0) { /* f untouched, or freed (ECLOSED): it may be gone */
            if (w.linked) corio__waitq_remove(&f->waiters, &w);
            return rc;
        }
        /* The setter copied the outcome into our waiter (future.c), so f
         * may already be freed, as for corio_future_wait. */
        if (out) {
            out->result = w.data;
            out->status = (int)(intptr_t)w.n;
        }
        return 0;
    }
    if (out) {
        out->result = f->value;
        out->status = f->error;
    }
    return 0;
}

int corio_shield_future(corio_future *f, corio_outcome *out)
{
    return corio_shield_future_until(f, out, CORIO_NEVER);
}
