/*
 * calltimer.c — loop.call_later / loop.call_at: a plain callback at a time.
 *
 * A sleeping task costs a stack (and with guard pages Linux stops near
 * 32,000 of them); a timer callback needs none. Each call is one small
 * malloc'd node that embeds a corio_timer, pushed on the loop's own timer
 * heap, the one every park deadline uses. When it is due the loop fires
 * it on its own stack, next to the call_soon callbacks, so the callback
 * obeys the same rule: it must not block (it may spawn a task, set a
 * future, cancel, call_later again).
 *
 * Who frees the node? If the caller asked for no handle, the loop frees it
 * after running the callback. If the caller took a handle, the handle is
 * the caller's until corio_call_cancel gives it back, whether the callback
 * ran or not: a handle never dangles. At loop close, pending callbacks are
 * dropped, like call_soon ones.
 */
#include "park.h"
#include "alloc.h"

#include <stdlib.h>

struct corio_call_handle {
    corio_timer timer;  /* first: the heap hands us back this pointer */
    corio_loop *loop;
    corio_callback cb;
    void *arg;
    unsigned char owned; /* the caller holds the handle */
    unsigned char done;  /* ran, or was dropped at loop close */
};

static void call_fired(corio_timer *tm)
{
    corio_call_handle *h = (corio_call_handle *)tm;
    bool owned = h->owned; /* read first: the callback may cancel h */
    h->done = 1;
    h->cb(h->arg);
    if (!owned) corio__free(h);
}

int corio_call_at(int64_t when, corio_callback cb, void *arg,
                  corio_call_handle **handle)
{
    if (handle) *handle = NULL;
    if (!cb) return CORIO_EINVAL;
    corio_loop *l = corio__loop();
    if (!l) return CORIO_ENOLOOP;
    corio_call_handle *h = corio__malloc(sizeof *h);
    if (!h) return CORIO_ENOMEM;
    corio__timer_init(&h->timer, call_fired);
    h->loop = l;
    h->cb = cb;
    h->arg = arg;
    h->owned = handle != NULL;
    h->done = 0;
    /* A time already past fires at the next turn of the loop. */
    if (corio__timer_heap_push(&l->timers, &h->timer, when) != 0) {
        corio__free(h);
        return CORIO_ENOMEM;
    }
    if (handle) *handle = h;
    return 0;
}

int corio_call_later(int64_t delay_ns, corio_callback cb, void *arg,
                     corio_call_handle **handle)
{
    return corio_call_at(corio_deadline_in(delay_ns), cb, arg, handle);
}

int corio_call_cancel(corio_call_handle *h)
{
    if (!h) return CORIO_EINVAL;
    int rc = h->done ? CORIO_EALREADY : 0;
    if (!h->done && corio__timer_active(&h->timer))
        corio__timer_heap_remove(&h->loop->timers, &h->timer);
    corio__free(h);
    return rc;
}

bool corio_call_pending(const corio_call_handle *h)
{
    return h && !h->done;
}

int64_t corio_call_when(const corio_call_handle *h)
{
    return h ? h->timer.deadline : CORIO_NEVER;
}

void corio__call_timers_on_close(corio_loop *l)
{
    for (size_t i = 0; i < l->timers.len; i++) {
        corio_timer *tm = l->timers.v[i];
        if (tm->fire != call_fired) continue;
        corio_call_handle *h = (corio_call_handle *)tm;
        tm->idx = CORIO_TIMER_IDLE;
        h->done = 1;            /* dropped: it never runs */
        if (!h->owned) corio__free(h); /* an owned one is freed by its cancel */
    }
}
