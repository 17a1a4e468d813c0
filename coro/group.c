/*
 * group.c — loop groups: n loops on n threads (corio_run_loops), and the
 * few things one loop may do to another: spawn a task there, join it,
 * cancel it, detach it.
 *
 * A group's life, on each member thread:
 *
 *   make the loop ── wait until every member has one (corio_loop_at works
 *   │                from the first line of main)
 *   run main ─────── a main that fails cancels the other mains
 *   keep running ─── until every main has returned: tasks other loops
 *   │                started here (servers, workers) go on serving
 *   cancel the rest, run until none is left
 *   keep running ─── until every loop has drained: a late join or cancel
 *   │                from another loop still finds this one open
 *   close the loop
 *
 * Cross-loop handles. corio_spawn_on allocates the task struct on the
 * SPAWNING thread and posts it to the target loop (adopt_cb), which gives
 * it a stack there; so the call never waits. Such a handle carries a
 * corio__remote: a small record under its own lock, the only state that
 * threads share. The target loop publishes "done, status, result" in it;
 * a joiner on another loop registers a wake node in it and parks on its
 * own loop; the finishing loop posts each node back to its joiner's loop
 * (wake_cb), which unparks the joiner there. Cancel, detach and the final
 * free are posted to the task's loop the same way: a task struct is only
 * ever touched by its own loop's thread. Every post goes through
 * corio_call_soon_threadsafe, whose wake-up of a sleeping loop happens on
 * the empty -> non-empty edge only, so a burst of posts costs one write.
 */
#include "park.h"
#include "alloc.h"
#include "os/thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOOPS 1024

/* ------------------------------------------------------------------ */
/* Cross-loop handles                                                  */
/* ------------------------------------------------------------------ */

/* One joiner waiting on another loop. Heap-allocated: the finishing loop
 * may post it after the joiner has stopped waiting (its deadline passed),
 * and then the post frees it. `taken` is under the remote's lock; `fired`
 * and `abandoned` are touched only on the joiner's thread (by the joiner
 * and by wake_cb), never at the same time since both run there. */
typedef struct rwake {
    corio_task *task;
    corio_loop *loop;
    struct rwake *next;
    int taken;      /* the finisher has it: a wake_cb is on its way */
    int fired;      /* wake_cb ran */
    int abandoned;  /* the joiner left: wake_cb frees it */
} rwake;

struct corio__remote {
    corio_os_mutex *lock;
    corio_task *task;      /* NULL once the handle is freed (its loop's thread) */
    int done, status;      /* published by the task's loop */
    void *result;
    int spent;             /* joined or detached by someone */
    int cancels;           /* cancel posts in flight (they read `task`) */
    const char *cancel_msg;
    rwake *waiters;
};

typedef struct adopt_req {
    corio_task *t;
    corio_fn fn;
    void *arg;
    size_t stack_size, stack_guard;
    int named;
    char name[CORIO_NAME_MAX];
} adopt_req;

static void remote_release(struct corio__remote *r)
{
    corio__os_mutex_free(r->lock);
    corio__free(r);
}

/* On the target loop: the request arrives; the task is born. */
static void adopt_cb(void *arg)
{
    adopt_req *q = arg;
    corio_task_opts o = { .name = q->named ? q->name : NULL,
                          .stack_size = q->stack_size,
                          .stack_guard = q->stack_guard };
    corio__task_adopt(corio__tls_loop, q->t, q->fn, q->arg, &o);
    corio__free(q);
}

corio_task *corio_spawn_on(corio_loop *loop, corio_fn fn, void *arg,
                           const corio_task_opts *opts)
{
    if (!loop || !fn) return NULL;
    struct corio__remote *r = corio__calloc(1, sizeof *r);
    if (r) r->lock = corio__os_mutex_new();
    if (!r || !r->lock) goto fail;
    if (loop == corio__tls_loop) {
        /* Our own loop: spawn now, but with the record all the same, so
         * that any loop may join or cancel the handle. */
        corio_task *t = corio_loop_spawn(loop, fn, arg, opts);
        if (!t) goto fail;
        t->remote = r;
        t->remote_h = 1;
        r->task = t;
        return t;
    }
    corio_task *t = corio__malloc(sizeof *t);
    adopt_req *q = corio__malloc(sizeof *q);
    if (!t || !q) {
        corio__free(t);
        corio__free(q);
        goto fail;
    }
    t->loop = loop;
    t->remote = r;
    t->remote_h = 1;
    r->task = t;
    q->t = t;
    q->fn = fn;
    q->arg = arg;
    q->stack_size = opts ? opts->stack_size : 0;
    q->stack_guard = opts ? opts->stack_guard : 0;
    q->named = opts && opts->name;
    if (q->named) {
        strncpy(q->name, opts->name, CORIO_NAME_MAX - 1);
        q->name[CORIO_NAME_MAX - 1] = 0;
    }
    if (corio_call_soon_threadsafe(loop, adopt_cb, q) == 0) return t;
    corio__free(t);
    corio__free(q);
fail:
    if (r) corio__os_mutex_free(r->lock);
    corio__free(r);
    return NULL;
}

/* On the joiner's loop. */
static void wake_cb(void *arg)
{
    rwake *w = arg;
    if (w->abandoned) {
        corio__free(w);
        return;
    }
    w->fired = 1;
    corio__unpark_if_waiting(w->task, 0);
}

/* On the task's loop, in task_finish (or adopt's failure). */
void corio__remote_finished(corio_task *t)
{
    struct corio__remote *r = t->remote;
    corio__os_mutex_lock(r->lock);
    r->done = 1;
    r->status = t->status;
    r->result = t->result;
    rwake *list = r->waiters;
    r->waiters = NULL;
    for (rwake *w = list; w; w = w->next) w->taken = 1;
    corio__os_mutex_unlock(r->lock);
    while (list) {
        rwake *next = list->next; /* the post may free it at once */
        /* Cannot fail for want of memory (the loop's spare node) nor for
         * a closed loop: a loop with a parked joiner is not closed. */
        corio_call_soon_threadsafe(list->loop, wake_cb, list);
        list = next;
    }
}

/* On the task's loop: the handle is gone (task.c's task_free). */
void corio__remote_free(corio_task *t)
{
    struct corio__remote *r = t->remote;
    t->remote = NULL;
    t->remote_h = 0;
    corio__os_mutex_lock(r->lock);
    r->task = NULL;
    int last = r->cancels == 0;
    corio__os_mutex_unlock(r->lock);
    if (last) remote_release(r); /* else the last cancel post does */
}

/* Park the calling task on its own loop until r is done. 0, or the park's
 * error (deadline, cancel), or CORIO_ENOMEM. */
static int remote_wait(struct corio__remote *r, corio_task *self,
                       int64_t deadline)
{
    for (;;) {
        rwake *w = corio__malloc(sizeof *w);
        corio__os_mutex_lock(r->lock);
        if (r->done) {
            corio__os_mutex_unlock(r->lock);
            corio__free(w);
            return 0;
        }
        if (!w) {
            corio__os_mutex_unlock(r->lock);
            return CORIO_ENOMEM;
        }
        *w = (rwake){ .task = self, .loop = self->loop, .next = r->waiters };
        r->waiters = w;
        corio__os_mutex_unlock(r->lock);

        int rc = corio__park_on(deadline, "join");

        corio__os_mutex_lock(r->lock);
        int taken = w->taken;
        if (!taken) /* still listed: take it out */
            for (rwake **p = &r->waiters; *p; p = &(*p)->next)
                if (*p == w) { *p = w->next; break; }
        corio__os_mutex_unlock(r->lock);
        if (!taken || w->fired) corio__free(w);
        else w->abandoned = 1; /* its wake_cb is on the way: it frees it */
        if (rc != 0) return rc;
    }
}

/* On the task's loop. */
static void free_cb(void *arg)
{
    corio__task_free(arg);
}

static void cancel_cb(void *arg)
{
    struct corio__remote *r = arg;
    corio__os_mutex_lock(r->lock);
    r->cancels--;
    corio_task *t = r->task;
    const char *msg = r->cancel_msg;
    int last = !t && r->cancels == 0;
    corio__os_mutex_unlock(r->lock);
    /* t cannot be freed while we run: frees happen on this thread. */
    if (t) corio_cancel_msg(t, msg);
    if (last) remote_release(r);
}

static void detach_cb(void *arg)
{
    corio_detach(arg);
}

int corio__remote_cancel(corio_task *t, const char *msg)
{
    struct corio__remote *r = t->remote;
    corio__os_mutex_lock(r->lock);
    int done = r->done;
    if (!done) {
        if (!r->cancel_msg) r->cancel_msg = msg;
        r->cancels++;
    }
    corio__os_mutex_unlock(r->lock);
    if (done) return CORIO_EALREADY;
    int rc = corio_call_soon_threadsafe(t->loop, cancel_cb, r);
    if (rc != 0) {
        corio__os_mutex_lock(r->lock);
        r->cancels--;
        corio__os_mutex_unlock(r->lock);
    }
    return rc;
}

/* Take the handle's one join-or-detach: CORIO_EALREADY if someone has. */
static int claim_handle(struct corio__remote *r)
{
    corio__os_mutex_lock(r->lock);
    int spent = r->spent;
    r->spent = 1;
    corio__os_mutex_unlock(r->lock);
    return spent ? CORIO_EALREADY : 0;
}

int corio__remote_detach(corio_task *t)
{
    struct corio__remote *r = t->remote;
    int claimed = claim_handle(r);
    if (claimed != 0) return claimed;
    return corio_call_soon_threadsafe(t->loop, detach_cb, t);
}

int corio__remote_join_until(corio_task *t, void **result, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    struct corio__remote *r = t->remote;
    int claimed = claim_handle(r);
    if (claimed != 0) return claimed;

    int rc = remote_wait(r, self, deadline);
    if (rc == CORIO_ETIMEDOUT && deadline != CORIO_NEVER &&
        corio__task_deadline_is_own(self, deadline)) {
        /* Our own deadline, as in task.c: stop waiting, leave t be. */
        corio__os_mutex_lock(r->lock);
        r->spent = 0;
        corio__os_mutex_unlock(r->lock);
        return CORIO_ETIMEDOUT;
    }
    if (rc != 0) {
        /* Cancelled (or a scope expired, or no memory): pass it on and
         * wait, shielded. A join never leaves its task running. */
        corio__remote_cancel(t, NULL);
        self->shield++;
        while (remote_wait(r, self, CORIO_NEVER) != 0) {
            /* only CORIO_ENOMEM gets here: try again after a turn */
            corio_yield();
        }
        self->shield--;
    }
    corio__os_mutex_lock(r->lock); /* pairs with remote_finished's */
    if (result) *result = r->result;
    int status = r->status;
    corio__os_mutex_unlock(r->lock);
    /* The handle is freed on its own loop; that loop is open, since the
     * group closes no loop before every loop has drained. */
    corio_call_soon_threadsafe(t->loop, free_cb, t);
    return status;
}

/* ------------------------------------------------------------------ */
/* The group                                                           */
/* ------------------------------------------------------------------ */

typedef struct group group;

typedef struct member {
    group *g;
    unsigned index;
    corio_loop *loop;
    corio_os_thread *thread;
    corio_task *main_task;      /* while main runs; this thread only */
    corio_event mains_done;     /* every main has returned */
    corio_event drained;        /* every loop has drained */
    int status;
    void *result;
} member;

struct group {
    unsigned n;
    corio_fn main;
    void *arg;
    corio_loops_opts opts;
    member *m;
    corio_os_mutex *lock;       /* start-up */
    corio_os_cond *cond;
    unsigned ready;
    int start_failed;
    atomic_uint mains_left, drain_left;
    atomic_int first_failure;   /* the status of the first main that failed */
};

static _Thread_local member *tls_member;

unsigned corio_loops_default(void)
{
    const char *e = getenv("CORIO_LOOPS");
    if (e && *e) {
        char *end;
        unsigned long v = strtoul(e, &end, 10);
        if (*end || v < 1 || v > MAX_LOOPS || *e == '-') return 0;
        return (unsigned)v;
    }
    int n = corio__os_cpu_count();
    return n > 0 ? (unsigned)n : 1;
}

unsigned corio_loop_index(void)
{
    return tls_member ? tls_member->index : 0;
}

unsigned corio_loop_count(void)
{
    if (tls_member) return tls_member->g->n;
    return corio__tls_loop ? 1 : 0;
}

corio_loop *corio_loop_at(unsigned i)
{
    if (tls_member) return i < tls_member->g->n ? tls_member->g->m[i].loop : NULL;
    return i == 0 ? corio__tls_loop : NULL;
}

static void set_event_cb(void *arg) { corio_event_set(arg); }

static void cancel_main_cb(void *arg)
{
    member *me = arg;
    if (me->main_task) corio_cancel(me->main_task);
}

/* Tell every member's loop, through its thread-safe path. */
static void post_all(group *g, size_t event_offset)
{
    for (unsigned i = 0; i < g->n; i++)
        corio_call_soon_threadsafe(g->m[i].loop, set_event_cb,
                                   (char *)&g->m[i] + event_offset);
}

/* Wait for the event, then cancel whatever else is alive on this loop. */
static void *keeper_main(void *arg)
{
    corio_event *e = arg;
    corio_shield_begin(); /* nobody but the event may end this wait */
    corio_event_wait(e);
    corio_shield_end();
    corio_loop *l = corio__tls_loop;
    for (corio_task *t = l->all_head; t; t = t->all_next)
        if (t != l->current && t->state != CORIO_TASK_DONE) corio_cancel(t);
    return NULL;
}

/* Run the loop until e is set and, after it, until no task is left. */
static void run_phase(corio_loop *l, corio_event *e)
{
    corio_task_opts o = { .name = "group-keeper" };
    corio_task *k = corio_loop_spawn(l, keeper_main, e, &o);
    if (k) corio_detach(k);
    else corio_event_set(e); /* no memory: do not wait, only drain */
    corio_loop_run(l);
}

static void member_main(void *arg)
{
    member *me = arg;
    group *g = me->g;
    if (g->opts.pin) corio__os_thread_pin((int)(me->index % (unsigned)corio__os_cpu_count()));
    corio_loop *l = corio_loop_new(g->opts.config);
    if (l) {
        corio_event_init(&me->mains_done);
        corio_event_init(&me->drained);
    }
    corio__os_mutex_lock(g->lock);
    me->loop = l;
    if (!l) g->start_failed = 1;
    g->ready++;
    corio__os_cond_broadcast(g->cond);
    while (g->ready < g->n) corio__os_cond_wait(g->cond, g->lock);
    int failed = g->start_failed;
    corio__os_mutex_unlock(g->lock);
    if (failed) {
        if (l) corio_loop_close(l);
        return;
    }
    tls_member = me;

    corio_task_opts o = { .name = "main" };
    corio_task *t = corio_loop_spawn(l, g->main, g->arg, &o);
    me->main_task = t;
    me->status = t ? corio_loop_run_until_complete(l, t, &me->result)
                   : CORIO_ENOMEM;
    me->main_task = NULL;
    if (me->status != 0) {
        int none = 0;
        if (atomic_compare_exchange_strong(&g->first_failure, &none, me->status))
            for (unsigned i = 0; i < g->n; i++)
                if (i != me->index)
                    corio_call_soon_threadsafe(g->m[i].loop, cancel_main_cb,
                                               &g->m[i]);
    }
    if (atomic_fetch_sub(&g->mains_left, 1) == 1)
        post_all(g, offsetof(member, mains_done));
    run_phase(l, &me->mains_done);
    if (atomic_fetch_sub(&g->drain_left, 1) == 1)
        post_all(g, offsetof(member, drained));
    run_phase(l, &me->drained);

    tls_member = NULL;
    corio_event_destroy(&me->mains_done);
    corio_event_destroy(&me->drained);
    corio_loop_close(l);
}

int corio_run_loops(unsigned n, corio_fn main, void *arg,
                    const corio_loops_opts *o)
{
    if (!main || corio__self()) return CORIO_EINVAL;
    if (n == 0 && (n = corio_loops_default()) == 0) {
        fputs("corio: CORIO_LOOPS must be a number from 1 to 1024\n", stderr);
        return CORIO_EINVAL;
    }
    if (n > MAX_LOOPS) return CORIO_EINVAL;
    group g = { .n = n, .main = main, .arg = arg };
    if (o) g.opts = *o;
    atomic_init(&g.mains_left, n);
    atomic_init(&g.drain_left, n);
    atomic_init(&g.first_failure, 0);
    g.m = corio__calloc(n, sizeof *g.m);
    g.lock = corio__os_mutex_new();
    g.cond = corio__os_cond_new();
    int rc = 0;
    if (!g.m || !g.lock || !g.cond) {
        rc = CORIO_ENOMEM;
        goto out;
    }
    unsigned started = 0;
    for (; started < n; started++) {
        g.m[started].g = &g;
        g.m[started].index = started;
        g.m[started].thread = corio__os_thread_start(member_main, &g.m[started]);
        if (!g.m[started].thread) break;
    }
    if (started < n) {
        /* The members already started wait for all n: release them. */
        corio__os_mutex_lock(g.lock);
        g.start_failed = 1;
        g.ready += n - started;
        corio__os_cond_broadcast(g.cond);
        corio__os_mutex_unlock(g.lock);
    }
    for (unsigned i = 0; i < started; i++) corio__os_thread_join(g.m[i].thread);
    if (g.start_failed) {
        rc = CORIO_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        if (g.opts.statuses) g.opts.statuses[i] = g.m[i].status;
        if (g.opts.results) g.opts.results[i] = g.m[i].result;
    }
    rc = atomic_load(&g.first_failure);
out:
    corio__os_cond_free(g.cond);
    corio__os_mutex_free(g.lock);
    corio__free(g.m);
    return rc;
}
