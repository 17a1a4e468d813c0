/*
 * task.c — the life of a task: spawn, run, finish, join or detach.
 *
 *   corio_spawn ──> READY ──(dispatch)──> RUNNING ──(park)──> WAITING
 *                     ^                      │  ^                │
 *                     └──────(yield)─────────┘  └────(unpark)────┘
 *                                            │
 *                                 fn returns ▼
 *                                          DONE ──> join / detach frees it
 *
 * The handle (struct corio_task) outlives the stack: the stack goes back to
 * the pool the moment the task finishes (the loop releases it, since a task
 * cannot free the stack it is running on), while the handle keeps the
 * result and status until the owner joins it, or is freed at once for a
 * detached task.
 */
#include "park.h"
#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- handles ---------- */

static corio_task *task_alloc(corio_loop *l)
{
    corio_task *t = l->free_tasks;
    if (t) {
        l->free_tasks = t->run_next;
        return t;
    }
    return corio__malloc(sizeof *t);
}

/* Every field, one by one: spawn is hot, and clearing the whole struct
 * (memset, a `rep stos`) cost more than the rest of spawn together. */
static void task_init(corio_task *t, corio_loop *l, corio_fn fn, void *arg)
{
    /* t->loop, t->remote_h and t->remote are set by the caller: a
     * corio_spawn_on handle already holds them, and its spawner may read
     * them now. */
    t->run_next = NULL;
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->state = CORIO_TASK_READY;
    t->wake_status = 0;
    t->status = 0;
    t->fail_code = 0;
    t->cancel_pending = 0;
    t->cancel_msg = NULL;
    t->shield = 0;
    t->detached = 0;
    t->joined = 0;
    t->fresh = 1;
    t->joiner = NULL;
    t->done_waiters = (corio_waitq){ 0 };
    t->all_prev = NULL;
    t->id = ++l->next_id;
    t->scope_deadline = CORIO_NEVER;
    t->scopes = NULL;
    t->locals = NULL;
    corio__timer_init(&t->timer, NULL);
    t->parked_on = NULL;
    t->wait_what = NULL;
    t->stack_hwm = 0;
    t->run_since = 0;
#ifdef CORIO_TSAN
    t->tsan_fiber = NULL;
#endif
    /* The default name "task-<id>" is written only when someone asks for
     * it (corio_task_name): formatting it here would cost more than the
     * rest of spawn together. */
    t->name[0] = 0;
}

/* Unlink from the loop's list of live handles and recycle. Inline in
 * corio_join, the common way a handle ends. */
static inline void task_free(corio_task *t)
{
    corio_loop *l = t->loop;
    if (t->all_prev) t->all_prev->all_next = t->all_next;
    else l->all_head = t->all_next;
    if (t->all_next) t->all_next->all_prev = t->all_prev;
    if (t->locals) corio__locals_free(t);
    if (__builtin_expect(t->remote_h, 0)) corio__remote_free(t);
    t->run_next = l->free_tasks;
    l->free_tasks = t;
}

void corio__task_free(corio_task *t)
{
    task_free(t);
}

static __attribute__((noinline, cold)) void report_no_stack(corio_loop *l,
                                                            size_t size)
{
    if (l->debug || !l->cfg.stack_mode)
        fprintf(stderr, "corio: cannot allocate a %zu-byte task stack "
                "(%s mode)%s\n", size,
                l->cfg.stack_mode == CORIO_STACK_DENSE ? "dense" : "guarded",
                l->cfg.stack_mode == CORIO_STACK_DENSE ? "" :
                ": each guarded stack costs two of vm.max_map_count's "
                "mappings; use CORIO_STACK_DENSE for more tasks");
}

/* Give t (t->loop == l) a stack and make it ready. 0, or CORIO_ENOMEM. */
static inline __attribute__((always_inline)) int
spawn_into(corio_loop *l, corio_task *t, corio_fn fn, void *arg,
           const corio_task_opts *opts)
{
    size_t size = opts && opts->stack_size ? opts->stack_size : l->cfg.stack_size;
    size_t guard = opts && opts->stack_guard ? opts->stack_guard : l->cfg.stack_guard;
    t->stack = corio__stack_get(l->stacks, size, guard);
    if (!t->stack) {
        report_no_stack(l, size);
        return CORIO_ENOMEM;
    }
    task_init(t, l, fn, arg);
    t->dense = (unsigned char)t->stack->dense;
    if (opts && opts->name) strncpy(t->name, opts->name, CORIO_NAME_MAX - 1);
    corio_task *parent = l->current;
    if (parent && parent->locals) corio__locals_inherit(t, parent);
    if (l->debug) corio__debug_on_spawn(t);
    corio__ctx_make(&t->ctx, t->stack->lo, t->stack->size, corio__task_entry, t);
    t->all_next = l->all_head;
    if (l->all_head) l->all_head->all_prev = t;
    l->all_head = t;
    l->alive++;
    corio__runq_push(l, t);
    return 0;
}

static inline __attribute__((always_inline)) corio_task *
spawn_on(corio_loop *l, corio_fn fn, void *arg,
         const corio_task_opts *opts)
{
    if (!l || !fn || l->closed) return NULL;
    corio_task *t = task_alloc(l);
    if (!t) return NULL;
    t->loop = l;
    t->remote_h = 0;
    if (spawn_into(l, t, fn, arg, opts) != 0) {
        t->run_next = l->free_tasks;
        l->free_tasks = t;
        return NULL;
    }
    return t;
}

int corio__task_adopt(corio_loop *l, corio_task *t, corio_fn fn, void *arg,
                      const corio_task_opts *opts)
{
    int rc = l->closed ? CORIO_ECLOSED : spawn_into(l, t, fn, arg, opts);
    if (rc == 0) return 0;
    /* No stack: the handle becomes a task that finished with rc, so that
     * its joiner on the other loop learns it and frees it as usual. */
    task_init(t, l, fn, arg);
    t->stack = NULL;
    t->state = CORIO_TASK_DONE;
    t->status = rc;
    t->all_next = l->all_head;
    if (l->all_head) l->all_head->all_prev = t;
    l->all_head = t;
    corio__remote_finished(t);
    return rc;
}

corio_task *corio_loop_spawn(corio_loop *l, corio_fn fn, void *arg,
                             const corio_task_opts *opts)
{
    return spawn_on(l, fn, arg, opts);
}

corio_task *corio_spawn(corio_fn fn, void *arg, const corio_task_opts *opts)
{
    return spawn_on(corio__tls_loop, fn, arg, opts);
}

/* ---------- running and finishing ---------- */

/* The task's function returned: record the result, wake the joiners.
 * Returns the context to resume (see corio__task_leave_final). */
static void task_finish(corio_task *t, void *result)
{
    corio_loop *l = t->loop;
    t->result = result;
    t->status = t->fail_code ? t->fail_code
              : t->cancel_pending ? CORIO_ECANCELED : 0;
    t->state = CORIO_TASK_DONE;
    l->alive--;
    /* A waiter whose task is no longer WAITING already woke (deadline,
     * cancel, or another task it watched finished first): pass it by. */
    if (t->joiner) corio__unpark_if_waiting(t->joiner, 0);
    corio_waiter *w;
    while ((w = corio__waitq_pop(&t->done_waiters)))
        corio__unpark_if_waiting(w->task, 0);
    if (__builtin_expect(t->remote_h, 0))
        corio__remote_finished(t); /* joiners on other loops */
}

/* Not instrumented by ASan: it runs on after the dying stack's fiber
 * notice (in corio__task_leave_final). Whoever runs next releases our
 * stack, once we are off it. */
CORIO_NO_ASAN CORIO_NO_TSAN corio_ctx *corio__task_entry(void *arg)
{
    corio_task *t = arg;
    corio__switch_landed();
    corio__reap(t->loop); /* we may have been switched to by a dying task */
    /* Every task runs its function, even one cancelled before its first
     * turn: the cancel reaches it at its first suspension point, like any
     * other (see "Cancellation" in corio.h). In C the function is often
     * the only code that can give back what its argument owns (an
     * accepted descriptor, a stream's queue, a slot): skipping it, as
     * asyncio skips a coroutine cancelled before it starts, leaked those
     * and hung whoever waited for the release (a stream's close waiting
     * for its sender, a server's shutdown waiting for its handlers). */
    task_finish(t, t->fn(t->arg));
    return corio__task_leave_final(t->loop, t);
}

void *corio_fail(int err)
{
    corio_task *self = corio__self();
    if (self && err < 0) self->fail_code = err;
    return NULL;
}

/* Called by the loop, on its own stack, after a task finished. */
void corio__task_release_zombie(corio_loop *l)
{
    corio_task *t = l->zombie;
    if (!t) return;
    l->zombie = NULL;
    corio__stack_put(l->stacks, t->stack);
    t->stack = NULL;
    corio__tsan_task_gone(t);
    if (t->detached) corio__task_free(t);
}

/* ---------- waiting for a task ---------- */

static int wait_done(corio_task *self, corio_task *t, int64_t deadline)
{
    while (t->state != CORIO_TASK_DONE) {
        corio_waiter w = { .task = self };
        corio__waitq_push(&t->done_waiters, &w);
        int rc = corio__park_on(deadline, "join");
        corio__waitq_remove(&t->done_waiters, &w);
        if (rc != 0) return rc;
    }
    return 0;
}

int corio_task_wait_until(corio_task *t, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!t) return CORIO_EINVAL;
    corio__debug_task_owner(t, "corio_task_wait");
    if (t->state == CORIO_TASK_DONE) return 0;
    if (!self) return CORIO_ENOLOOP;
    if (t == self) return CORIO_EINVAL;
    return wait_done(self, t, deadline);
}

int corio_task_wait(corio_task *t)
{
    return corio_task_wait_until(t, CORIO_NEVER);
}

/* The join's wait: one joiner per task (the handle's owner), so it needs
 * no queue, only the t->joiner slot. 0 once t is done, else the park's
 * error (cancelled, or a deadline: the call's own or a timeout scope's). */
static int join_wait(corio_task *self, corio_task *t, int64_t deadline)
{
    while (t->state != CORIO_TASK_DONE) {
        t->joiner = self;
        int rc = corio__park_on(deadline, "join");
        t->joiner = NULL;
        if (rc != 0) return rc;
    }
    return 0;
}

/* Both joins share this body; always_inline keeps the plain corio_join
 * (spawn + join is the benchmark's hot path) free of an extra call. */
static inline __attribute__((always_inline)) int
join_until(corio_task *t, void **result, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!t || t == self) return CORIO_EINVAL; /* joining oneself never ends */
    if (__builtin_expect(t->remote_h, 0) && t->loop != corio__tls_loop)
        return corio__remote_join_until(t, result, deadline); /* another loop's */
    corio__debug_task_owner(t, "corio_join");
    if (t->joined || t->detached) return CORIO_EALREADY;
    t->joined = 1;
    if (t->state != CORIO_TASK_DONE) {
        if (!self) {
            t->joined = 0;
            return CORIO_ENOLOOP;
        }
        int rc = join_wait(self, t, deadline);
        /* Without a deadline of its own (corio_join) the test folds away:
         * a timeout can then only be a scope's. */
        if (rc == CORIO_ETIMEDOUT && deadline != CORIO_NEVER &&
            corio__task_deadline_is_own(self, deadline)) {
            /* The caller's own deadline: stop waiting, not the task. t
             * keeps running and its handle can be joined again. */
            t->joined = 0;
            return CORIO_ETIMEDOUT;
        }
        if (rc != 0) {
            /* We were cancelled (or our timeout scope expired): pass the
             * cancellation on, then wait, shielded, for t to stop. A join
             * never leaves its task running behind it. */
            corio_cancel(t);
            self->shield++;
            join_wait(self, t, CORIO_NEVER);
            self->shield--;
        }
    }
    if (result) *result = t->result;
    int status = t->status;
    task_free(t);
    return status;
}

int corio_join(corio_task *t, void **result)
{
    return join_until(t, result, CORIO_NEVER);
}

int corio_join_until(corio_task *t, void **result, int64_t deadline)
{
    return join_until(t, result, deadline);
}

int corio_detach(corio_task *t)
{
    if (!t) return CORIO_EINVAL;
    if (t->remote_h && t->loop != corio__tls_loop) return corio__remote_detach(t);
    corio__debug_task_owner(t, __func__);
    if (t->joined || t->detached) return CORIO_EALREADY;
    t->detached = 1;
    if (t->state == CORIO_TASK_DONE && !t->stack) corio__task_free(t);
    return 0;
}

int corio_cancel(corio_task *t)
{
    return corio_cancel_msg(t, NULL);
}

int corio_cancel_msg(corio_task *t, const char *msg)
{
    if (!t) return CORIO_EINVAL;
    if (t->remote_h && t->loop != corio__tls_loop)
        return corio__remote_cancel(t, msg);
    corio__debug_task_owner(t, "corio_cancel");
    if (t->state == CORIO_TASK_DONE) return CORIO_EALREADY;
    /* The first reason given is kept, as the first cancel is the one a
     * sticky cancellation delivers. */
    if (!t->cancel_pending) t->cancel_msg = msg;
    t->cancel_pending = 1; /* sticky: stays set */
    if (t->state == CORIO_TASK_WAITING && t->shield == 0)
        corio__unpark(t, CORIO_ECANCELED);
    return 0;
}

/* ---------- queries ---------- */

corio_task *corio_current(void) { return corio__self(); }
corio_task_state corio_task_state_of(const corio_task *t) { return t->state; }
bool corio_task_done(const corio_task *t) { return t->state == CORIO_TASK_DONE; }
bool corio_task_cancelled(const corio_task *t) { return t->cancel_pending; }
const char *corio_cancel_message(const corio_task *t)
{
    return t && t->cancel_pending ? t->cancel_msg : NULL;
}
const char *corio_task_name(const corio_task *t)
{
    corio_task *m = (corio_task *)t; /* the lazy default name is a cache */
    if (!m->name[0])
        snprintf(m->name, CORIO_NAME_MAX, "task-%llu", (unsigned long long)m->id);
    return m->name;
}
uint64_t corio_task_id(const corio_task *t) { return t->id; }

const char *corio_task_state_name(corio_task_state s)
{
    switch (s) {
    case CORIO_TASK_READY: return "ready";
    case CORIO_TASK_RUNNING: return "running";
    case CORIO_TASK_WAITING: return "waiting";
    case CORIO_TASK_DONE: return "done";
    }
    return "?";
}
