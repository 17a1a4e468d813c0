/*
 * chan_impl.h — what chan.c and select.c share: the channel, its waiters
 * and the select state every wait goes through.
 *
 * A select puts one chan_waiter per case in the channels' queues, all
 * pointing at ONE chan_sel on its stack, and parks. (A plain send or
 * receive is the one-case special: its waiter is `single`, it sits in one
 * queue only, so the channel's lock alone decides who has it and no CAS
 * is needed: chan.c, op1.) Whoever completes a case with it (a
 * peer on any thread, holding that channel's lock) first CLAIMS the select
 * with a CAS of sel->state from SEL_WAITING to the case index; the task
 * itself, woken by its deadline, a cancel or a future, tries the same CAS
 * to SEL_ABANDONED (or its own case). Exactly one CAS wins, so exactly one
 * case happens, and a waiter whose select is decided is STALE: peers drop
 * it and try the next (docs/chan.md, "one winner").
 *
 * After a peer's claim it copies the element, then DELIVERS: on the
 * task's own loop it sets sel->delivered and unparks the task; from any
 * other thread it posts sel->post to the task's loop (corio__loop_post),
 * whose fn does the same on that loop. The task reads the element only
 * once delivered is set, and never returns (ending its stack, where the
 * waiters and sel live) before that, so the peer's last write cannot land
 * in freed memory.
 */
#ifndef CORIO_CHAN_IMPL_H
#define CORIO_CHAN_IMPL_H

#include "coro/park.h"
#include "os/thread.h"

#include <stdatomic.h>
#include <string.h>

enum { SEL_WAITING = -1, SEL_ABANDONED = -2 };

typedef struct chan_sel {
    atomic_long state;    /* SEL_WAITING, SEL_ABANDONED or the case fired */
    corio_task *task;
    corio_loop *loop;     /* the task's loop */
    corio__post post;     /* cross-thread delivery (first: container) */
    int status;           /* the fired case's status, set by the claimer */
    int delivered;        /* owner loop only: the claimer is done with us */
} chan_sel;

typedef struct chan_waiter {
    struct chan_waiter *prev, *next;
    int linked;
    chan_sel *sel;
    long idx;             /* which case of the select */
    void *elem;           /* send: the element; recv: where it goes */
    int single;           /* a plain send/recv: waits in this channel only,
                             so the channel lock alone decides its fate
                             (popped = claimed, no CAS; chan.c, op1) */
} chan_waiter;

typedef struct chan_wq { chan_waiter *head, *tail; } chan_wq;

struct corio_chan {
    atomic_flag lock;     /* a spinlock: every critical section is a copy */
    size_t esize, cap;
    size_t head, len;     /* the ring */
    unsigned char *buf;
    int closed;
    atomic_size_t len_snapshot; /* corio_chan_len from any thread */
    chan_wq recvq, sendq; /* live receivers only wait on an empty channel,
                             live senders on a full one */
};

void corio__chan_lock(corio_chan *c);
static inline void corio__chan_unlock(corio_chan *c)
{
    atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

static inline void corio__chan_wq_push(chan_wq *q, chan_waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) q->tail->next = w; else q->head = w;
    q->tail = w;
    w->linked = 1;
}
static inline void corio__chan_wq_remove(chan_wq *q, chan_waiter *w)
{
    if (!w->linked) return;
    if (w->prev) w->prev->next = w->next; else q->head = w->next;
    if (w->next) w->next->prev = w->prev; else q->tail = w->prev;
    w->prev = w->next = NULL;
    w->linked = 0;
}

/* Under c's lock: the cases' one-step attempts. 0 or CORIO_ECLOSED: the
 * case happened (fired); CORIO_EFULL / CORIO_EEMPTY: it would wait. */
int corio__chan_try_send_locked(corio_chan *c, const void *elem);
int corio__chan_try_recv_locked(corio_chan *c, void *out);

/* The select engine (select.c); block = 0 for the try form. */
int corio__select(corio_case *cases, size_t n, int64_t deadline, int block);

#endif
