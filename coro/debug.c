/*
 * debug.c — debug mode: slow tasks, stack high-water marks, task listings.
 *
 * Everything here runs only when loop->debug is set, so the normal path
 * pays one predictable branch per switch and nothing else.
 *
 * The wrong-thread check (bottom of the file): every call on a loop's
 * object asks corio__debug_owner (park.h) whether the calling thread runs
 * the object's loop. Outside debug mode that is one load of a global
 * counter and a branch. In debug mode an object remembers its loop in its
 * wait queue's `owner` field: a TAG of the loop, made when the loop goes
 * into debug mode and never freed (a late call on an object of a closed
 * loop must still find readable memory; the tag then says "closed" and
 * the object simply learns its next loop). The tag is set when the object
 * is made inside a debug loop, or else at its first call from one; tasks
 * parked in the object name their loop too, which catches the case that
 * hangs (an event set from a pthread while a task waits in it).
 */
#include "park.h"
#include "alloc.h"
#include "os/thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAINT 0xC5u
#define DEFAULT_SLOW_NS (100 * 1000000LL)

typedef struct debug_state {
    int64_t slow_ns;
    size_t deepest;          /* largest high-water mark of a finished task */
    char deepest_name[CORIO_NAME_MAX];
} debug_state;

static debug_state *state(corio_loop *l)
{
    if (!l->debug_state) {
        debug_state *d = corio__calloc(1, sizeof *d);
        if (!d) return NULL;
        d->slow_ns = DEFAULT_SLOW_NS;
        l->debug_state = d;
    }
    return l->debug_state;
}

static void report(corio_loop *l, const char *msg)
{
    if (l->cfg.report) l->cfg.report(l->cfg.report_ctx, msg);
    else fprintf(stderr, "%s\n", msg);
}

int corio_debug_set(corio_loop *l, int on)
{
    if (!l && !(l = corio__loop())) return CORIO_ENOLOOP;
    if (on && !state(l)) return CORIO_ENOMEM;
    if (l->debug != (on != 0)) corio__debug_loop_mode(l, on != 0);
    l->debug = on != 0;
    return 0;
}

void corio_debug_slow_ns(corio_loop *l, int64_t ns)
{
    if (!l && !(l = corio__loop())) return;
    debug_state *d = state(l);
    if (d) d->slow_ns = ns;
}

/* Paint the unused stack so the high-water mark can be read later. The
 * canary word of a dense stack at lo is left alone. Painting touches every
 * page, which is why it happens only in debug mode. */
void corio__debug_on_spawn(corio_task *t)
{
    corio_stack *s = t->stack;
    size_t skip = s->dense ? sizeof(uint64_t) : 0;
    memset((char *)s->lo + skip, PAINT, s->size - skip - 128);
}

static size_t high_water(const corio_task *t)
{
    const corio_stack *s = t->stack;
    if (!s) return t->stack_hwm;
    const unsigned char *p = (const unsigned char *)s->lo + (s->dense ? 8 : 0);
    const unsigned char *end = (const unsigned char *)s->lo + s->size;
    while (p < end && *p == PAINT) p++;
    size_t used = (size_t)(end - p);
    return used > t->stack_hwm ? used : t->stack_hwm;
}

void corio__debug_on_switch_in(corio_task *t)
{
    t->run_since = corio__os_now_ns();
}

void corio__debug_on_switch_out(corio_task *t)
{
    corio_loop *l = t->loop;
    debug_state *d = state(l);
    if (!d) return;
    int64_t ran = corio__os_now_ns() - t->run_since;
    if (t->run_since && ran > d->slow_ns) {
        char msg[200];
        snprintf(msg, sizeof msg, "corio: task '%s' (id %llu) ran %.1f ms "
                 "without suspending", corio_task_name(t), (unsigned long long)t->id,
                 ran / 1e6);
        report(l, msg);
    }
    if (t->state == CORIO_TASK_DONE) { /* last switch-out: keep its mark */
        t->stack_hwm = high_water(t);
        if (t->stack_hwm > d->deepest) {
            d->deepest = t->stack_hwm;
            memcpy(d->deepest_name, corio_task_name(t), CORIO_NAME_MAX);
        }
    }
}

void corio__debug_on_close(corio_loop *l)
{
    debug_state *d = state(l);
    char msg[256];
    for (corio_task *t = l->all_head; t; t = t->all_next) {
        if (t->state == CORIO_TASK_DONE) continue;
        snprintf(msg, sizeof msg, "corio: debug: at close task '%s' (id %llu) "
                 "is %s%s%s, stack high-water %zu of %zu bytes", corio_task_name(t),
                 (unsigned long long)t->id, corio_task_state_name(t->state),
                 t->wait_what ? " in " : "", t->wait_what ? t->wait_what : "",
                 high_water(t), t->stack ? t->stack->size : 0);
        report(l, msg);
    }
    if (d && d->deepest) {
        snprintf(msg, sizeof msg, "corio: debug: deepest stack of a finished "
                 "task: %zu bytes ('%s')", d->deepest, d->deepest_name);
        report(l, msg);
    }
    corio__free(l->debug_state);
    l->debug_state = NULL;
}

size_t corio_all_tasks(corio_loop *l, corio_task_info *out, size_t max)
{
    if (!l && !(l = corio__loop())) return 0;
    size_t n = 0;
    for (corio_task *t = l->all_head; t; t = t->all_next, n++) {
        if (n >= max) continue;
        out[n] = (corio_task_info){
            .id = t->id, .name = corio_task_name(t), .state = t->state,
            .waiting_in = t->wait_what, .cancel_requested = t->cancel_pending,
            .stack_size = t->stack ? t->stack->size : 0,
            .stack_high_water = l->debug ? high_water(t) : 0,
        };
    }
    return n;
}

/* ---------- the wrong-thread check ---------- */

typedef struct loop_tag {
    _Atomic(corio_loop *) loop;   /* NULL once the loop is closed */
    uint64_t thread;              /* the OS id of the thread that runs it */
    struct loop_tag *next;        /* every tag ever made */
} loop_tag;

/* Tags are never freed (see the top); the list keeps them reachable, so
 * leak checkers do not count them. */
static _Atomic(loop_tag *) all_tags;

atomic_int corio__debug_loops;

void corio__debug_loop_mode(corio_loop *l, int on)
{
    if (on && !l->debug_tag) {
        loop_tag *t = corio__calloc(1, sizeof *t);
        if (t) { /* without one the check still works, naming no thread */
            atomic_init(&t->loop, l);
            t->thread = corio__os_thread_id();
            t->next = atomic_load(&all_tags);
            while (!atomic_compare_exchange_weak(&all_tags, &t->next, t)) {
            }
            l->debug_tag = t;
        }
    }
    atomic_fetch_add(&corio__debug_loops, on ? 1 : -1);
}

void corio__debug_loop_gone(corio_loop *l)
{
    loop_tag *t = l->debug_tag;
    if (t) atomic_store(&t->loop, NULL);
    if (l->debug) atomic_fetch_sub(&corio__debug_loops, 1);
    l->debug = 0;
}

static void describe_thread(char *buf, size_t n, const corio_loop *l)
{
    const loop_tag *t = l ? l->debug_tag : NULL;
    if (t) snprintf(buf, n, "thread %llu", (unsigned long long)t->thread);
    else snprintf(buf, n, "its thread (not in debug mode: no id kept)");
}

static __attribute__((noreturn, cold)) void
report_wrong_thread(corio_loop *owner, corio_loop *here, const char *call,
                    const char *kind, const void *obj)
{
    char owner_thread[64], caller[96];
    describe_thread(owner_thread, sizeof owner_thread, owner);
    if (here) snprintf(caller, sizeof caller, "which runs loop %p", (void *)here);
    else snprintf(caller, sizeof caller, "which runs no loop");
    fprintf(stderr,
            "corio: debug: %s() called on %s %p from the wrong thread.\n"
            "corio:   the %s belongs to loop %p, run by %s;\n"
            "corio:   the caller is thread %llu, %s.\n"
            "corio:   A loop's objects may be used only by its own tasks and "
            "callbacks. From another thread, hand the work to the loop: "
            "corio_call_soon_threadsafe(loop, fn, arg) runs fn on the loop's "
            "thread; from a pool worker, return the value (corio_to_thread "
            "delivers it on the loop's thread).\n",
            call, kind, obj, kind, (void *)owner, owner_thread,
            (unsigned long long)corio__os_thread_id(), caller);
    fflush(stderr);
    abort();
}

/* The reads of another loop's object below race with that loop by
 * nature: they happen only in debug mode, and only to catch a call that
 * is itself the race. */
void corio__debug_owner_slow(corio_waitq *q, corio_loop *owner,
                             const char *call, const char *kind,
                             const void *obj)
{
    corio_loop *here = corio__tls_loop;
    if (!owner && q) {
        loop_tag *t = q->owner;
        if (t) owner = atomic_load(&t->loop); /* NULL: that loop closed */
        if (!owner && q->head) owner = q->head->task->loop;
        if (!owner) { /* not known yet: it is this loop's from now on */
            if (here && here->debug_tag) q->owner = here->debug_tag;
            return;
        }
    }
    if (owner == here) return;
    if (!owner->debug && !(here && here->debug)) return; /* neither asked */
    report_wrong_thread(owner, here, call, kind, obj);
}
