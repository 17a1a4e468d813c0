/*
 * debug.c — debug mode: slow tasks, stack high-water marks, task listings.
 *
 * Everything here runs only when loop->debug is set, so the normal path
 * pays one predictable branch per switch and nothing else.
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
