/*
 * taskgroup.c — structured concurrency, Python 3.11's asyncio.TaskGroup.
 *
 * Every child runs inside a small trampoline, child_main, that calls the
 * user's function and then, still on the child's own stack, looks at how
 * it ended. That is what lets the FIRST failure cancel the siblings at
 * once, even while the task that runs the group is busy elsewhere:
 *
 *     child_main ── fn(arg) returns ── failed? ──yes──> record it;
 *                                                      first? cancel all
 *
 * Leaving the group (corio_taskgroup_wait) waits for every child in spawn
 * order, then joins them all, so the group is the one owner of every
 * child handle and no child outlives it. A child cancelled before its
 * first turn still runs (task.c: every task runs its function), so it
 * passes through the trampoline like any other and can give back what
 * its argument owns.
 */
#include "coro/park.h"
#include "coro/alloc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { GROUP_OPEN, GROUP_ABORTING, GROUP_CLOSED };

struct corio_tg_child {
    corio_taskgroup *group;
    size_t index;
    corio_fn fn;
    void *arg;
    corio_task *task;  /* NULL once the group has joined it */
    void *result;
    int status;        /* final once joined; set earlier if it failed */
};

void corio_taskgroup_init(corio_taskgroup *g)
{
    memset(g, 0, sizeof *g);
    g->loop = corio__loop();
    g->state = GROUP_OPEN;
}

/* Cancel every child still running (cancel on a finished one is a no-op). */
static void cancel_children(corio_taskgroup *g)
{
    for (size_t i = 0; i < g->n; i++) {
        corio_task *t = g->children[i]->task;
        if (t && !corio__task_done(t)) corio_cancel(t);
    }
}

static void abort_group(corio_taskgroup *g)
{
    if (g->state != GROUP_OPEN) return;
    g->state = GROUP_ABORTING; /* no more spawns */
    cancel_children(g);
}

static void *child_main(void *arg)
{
    struct corio_tg_child *c = arg;
    void *r = c->fn(c->arg);
    /* The status task_finish is about to give this task: nothing can
     * change it between here and there, since we do not block again. */
    corio_task *self = corio__self();
    int st = corio__task_exit_status(self);
    if (st != 0 && st != CORIO_ECANCELED) {
        corio_taskgroup *g = c->group;
        c->status = st;
        g->failed[g->nfailed++] = c; /* room reserved at spawn */
        abort_group(g);              /* we are done: cancels only siblings */
    }
    return r;
}

/* Make room for one more child in both arrays, so that recording a
 * failure in child_main never needs memory. */
static int reserve(corio_taskgroup *g)
{
    if (g->n < g->cap) return 0;
    size_t cap = g->cap ? g->cap * 2 : 8;
    struct corio_tg_child **c = corio__realloc(g->children, cap * sizeof *c);
    if (!c) return CORIO_ENOMEM;
    g->children = c;
    struct corio_tg_child **f = corio__realloc(g->failed, cap * sizeof *f);
    if (!f) return CORIO_ENOMEM;
    g->failed = f;
    g->cap = cap;
    return 0;
}

int corio_taskgroup_spawn(corio_taskgroup *g, corio_fn fn, void *arg,
                          const corio_task_opts *opts)
{
    if (!g || !fn) return CORIO_EINVAL;
    if (g->state != GROUP_OPEN) return CORIO_ESHUTDOWN;
    corio_loop *l = corio__loop();
    if (!l) return CORIO_ENOLOOP;
    if (!g->loop) g->loop = l;      /* initialised outside the loop thread */
    if (g->loop != l) return CORIO_EINVAL;
    if (g->n >= INT_MAX || reserve(g) != 0) return CORIO_ENOMEM;
    struct corio_tg_child *c = corio__calloc(1, sizeof *c);
    if (!c) return CORIO_ENOMEM;
    c->group = g;
    c->index = g->n;
    c->fn = fn;
    c->arg = arg;
    c->task = corio_loop_spawn(l, child_main, c, opts);
    if (!c->task) {
        corio__free(c);
        return CORIO_ENOMEM;
    }
    g->children[g->n] = c;
    return (int)g->n++;
}

corio_task *corio_taskgroup_task(const corio_taskgroup *g, size_t child)
{
    return g && child < g->n ? g->children[child]->task : NULL;
}

int corio_taskgroup_abort(corio_taskgroup *g, int err)
{
    if (!g) return CORIO_EINVAL;
    if (g->state == GROUP_CLOSED) return CORIO_EALREADY;
    /* The body's reason, what the wait will return; wait_status is free
     * until the wait sets it. The first abort's reason is kept. */
    if (g->wait_status == 0) g->wait_status = err < 0 ? err : CORIO_ECANCELED;
    abort_group(g);
    return 0;
}

int corio_taskgroup_wait_until(corio_taskgroup *g, int64_t deadline)
{
    if (!g) return CORIO_EINVAL;
    if (g->state == GROUP_CLOSED) return CORIO_EALREADY;
    corio_task *self = corio__self();
    if (!self && g->n) return CORIO_ENOLOOP;
    for (size_t i = 0; i < g->n; i++) /* it would wait for itself */
        if (g->children[i]->task == self) return CORIO_EINVAL;

    /* Wait for each child in turn; g->n may grow meanwhile (children may
     * spawn siblings into the group while it is open). corio_task_wait
     * does not consume the handle and tells us why it stopped. */
    int own = 0; /* our own cancellation or deadline, once it happened */
    for (size_t i = 0; i < g->n; i++) {
        corio_task *t = g->children[i]->task;
        while (!corio__task_done(t)) {
            int rc = corio_task_wait_until(t, own ? CORIO_NEVER : deadline);
            if (rc == 0) break;
            /* The task that leaves the group was cancelled or its deadline
             * passed: cancel every child, then keep waiting, shielded, for
             * them to stop. A group never leaves a child behind. */
            own = rc;
            abort_group(g); /* (a no-op if a failure already did it) */
            corio_shield_begin();
        }
    }
    if (own) corio_shield_end();
    g->state = GROUP_CLOSED;

    for (size_t i = 0; i < g->n; i++) {
        struct corio_tg_child *c = g->children[i];
        c->status = corio_join(c->task, &c->result); /* done: no wait */
        c->task = NULL;
    }
    /* A caller cancelled while its children were finishing anyway (no
     * wait suspended) still leaves with its cancellation, as asyncio's
     * TaskGroup re-raises CancelledError (test_taskgroup_15). */
    int aborted = g->wait_status; /* corio_taskgroup_abort's reason */
    if (!own && !aborted && self && corio__cancel_due(self))
        own = CORIO_ECANCELED;
    g->wait_status = own ? own : aborted ? aborted
                   : g->nfailed ? g->failed[0]->status : 0;
    return g->wait_status;
}

int corio_taskgroup_wait(corio_taskgroup *g)
{
    return corio_taskgroup_wait_until(g, CORIO_NEVER);
}

size_t corio_taskgroup_size(const corio_taskgroup *g)
{
    return g ? g->n : 0;
}

int corio_taskgroup_result(const corio_taskgroup *g, size_t child,
                           void **result)
{
    if (!g || child >= g->n) return CORIO_EINVAL;
    if (g->state != GROUP_CLOSED) return CORIO_EAGAIN;
    const struct corio_tg_child *c = g->children[child];
    if (result) *result = c->result;
    return c->status;
}

size_t corio_taskgroup_error_count(const corio_taskgroup *g)
{
    return g ? g->nfailed : 0;
}

int corio_taskgroup_error(const corio_taskgroup *g, size_t k, size_t *child)
{
    if (!g || k >= g->nfailed) return CORIO_EINVAL;
    if (child) *child = g->failed[k]->index;
    return g->failed[k]->status;
}

int corio_taskgroup_destroy(corio_taskgroup *g)
{
    if (!g) return CORIO_EINVAL;
    if (g->n && g->state != GROUP_CLOSED) return CORIO_EBUSY;
    for (size_t i = 0; i < g->n; i++) corio__free(g->children[i]);
    corio__free(g->children);
    corio__free(g->failed);
    memset(g, 0, sizeof *g);
    g->state = GROUP_CLOSED;
    return 0;
}
