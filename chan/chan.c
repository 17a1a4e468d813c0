/*
 * chan.c — the channel: a ring of fixed-size elements behind a spinlock,
 * with queues of parked senders and receivers (chan_impl.h says how a
 * parked task is claimed and woken, from this loop or another thread).
 *
 *   send, a receiver parked   -> the element goes straight into the
 *                                receiver's memory (the buffer is empty)
 *   send, room in the ring    -> copied into the ring
 *   recv, ring not empty      -> copied out; if a sender is parked (the
 *                                ring was full), its element fills the
 *                                freed slot at once and it is woken: a
 *                                later send cannot barge into that slot
 *   recv, unbuffered, a sender parked -> copied from the sender's memory
 *
 * As in sync/queue.c this keeps the invariant that a live receiver only
 * waits on an empty channel and a live sender on a full one, so the
 * order of elements is the order in which sends completed.
 *
 * The lock is held for a few loads, a CAS per waiter and one memcpy; it
 * spins, then yields the CPU (its holder may have been preempted: the
 * machines this runs on often have more threads than cores).
 */
#include "chan_impl.h"
#include "coro/cpu_relax.h"
#include "coro/alloc.h"

#include <stdlib.h>

#define CHAN_MAX_ELEM 65536

void corio__chan_lock(corio_chan *c)
{
    for (unsigned spins = 0;;) {
        if (!atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
            return;
        if (++spins < 100) corio__cpu_relax();
        else { corio__os_thread_yield(); spins = 0; }
    }
}

corio_chan *corio_chan_new(size_t elem_size, size_t capacity)
{
    if (elem_size > CHAN_MAX_ELEM) return NULL;
    if (capacity && elem_size && capacity > SIZE_MAX / elem_size) return NULL;
    corio_chan *c = corio__calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_flag_clear(&c->lock);
    c->esize = elem_size;
    c->cap = capacity;
    if (capacity) {
        size_t bytes = capacity * elem_size;
        c->buf = corio__malloc(bytes ? bytes : 1);
        if (!c->buf) { corio__free(c); return NULL; }
    }
    atomic_init(&c->len_snapshot, 0);
    return c;
}

void corio_chan_free(corio_chan *c)
{
    if (!c) return;
    corio__free(c->buf);
    corio__free(c);
}

/* Pop the first waiter of q whose select is still undecided and claim it
 * for its case; stale ones (decided elsewhere) are dropped on the way. The
 * acq_rel CAS orders our later writes into its memory after the claim
 * and makes the claim visible to the owner's failing CAS. */
static chan_waiter *pop_claim(chan_wq *q)
{
    chan_waiter *w;
    while ((w = q->head) != NULL) {
        corio__chan_wq_remove(q, w);
        if (w->single) return w;
        long expect = SEL_WAITING;
        if (atomic_compare_exchange_strong_explicit(&w->sel->state, &expect, w->idx,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            return w;
    }
    return NULL;
}

static void delivered_on_owner(corio__post *p)
{
    chan_sel *s = (chan_sel *)((char *)p - offsetof(chan_sel, post));
    s->delivered = 1;
    corio__unpark_if_waiting(s->task, 0);
}

/* The claimed waiter's element has been moved: tell its task. After this
 * call w and its select may be gone (the owner returns once delivered). */
static void deliver(chan_waiter *w, int status)
{
    chan_sel *s = w->sel;
    s->status = status;
    corio_loop *l = s->loop;
    if (l == corio__loop()) {
        s->delivered = 1;
        corio__unpark_if_waiting(s->task, 0);
    } else {
        s->post.fn = delivered_on_owner;
        corio__loop_post(l, &s->post); /* release: the copy happens-before */
    }
}

/* memcpy of a constant size is a move or two; the common sizes get one. */
static inline void copy(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, n);
    }
}

static inline unsigned char *slot(corio_chan *c, size_t i)
{
    size_t k = c->head + i;
    if (k >= c->cap) k -= c->cap;
    return c->buf + k * c->esize;
}

int corio__chan_try_send_locked(corio_chan *c, const void *elem)
{
    if (c->closed) return CORIO_ECLOSED;
    chan_waiter *r = pop_claim(&c->recvq);
    if (r) {
        if (r->elem) copy(r->elem, elem, c->esize);
        deliver(r, 0);
        return 0;
    }
    if (c->len < c->cap) {
        copy(slot(c, c->len), elem, c->esize);
        c->len++;
        atomic_store_explicit(&c->len_snapshot, c->len, memory_order_relaxed);
        return 0;
    }
    return CORIO_EFULL;
}

int corio__chan_try_recv_locked(corio_chan *c, void *out)
{
    if (c->len) {
        if (out) copy(out, slot(c, 0), c->esize);
        c->head = c->head + 1 == c->cap ? 0 : c->head + 1;
        c->len--;
        chan_waiter *s = pop_claim(&c->sendq);
        if (s) { /* the ring was full: its element takes the freed slot */
            copy(slot(c, c->len), s->elem, c->esize);
            c->len++;
            deliver(s, 0);
        }
        atomic_store_explicit(&c->len_snapshot, c->len, memory_order_relaxed);
        return 0;
    }
    chan_waiter *s = pop_claim(&c->sendq);
    if (s) { /* unbuffered: straight from the sender's memory */
        if (out) copy(out, s->elem, c->esize);
        deliver(s, 0);
        return 0;
    }
    return c->closed ? CORIO_ECLOSED : CORIO_EEMPTY;
}

int corio_chan_try_send(corio_chan *c, const void *elem)
{
    if (!c || (!elem && c->esize)) return CORIO_EINVAL;
    corio__chan_lock(c);
    int rc = corio__chan_try_send_locked(c, elem);
    corio__chan_unlock(c);
    return rc;
}

int corio_chan_try_recv(corio_chan *c, void *out)
{
    if (!c) return CORIO_EINVAL;
    corio__chan_lock(c);
    int rc = corio__chan_try_recv_locked(c, out);
    corio__chan_unlock(c);
    return rc;
}

/* One send or receive: select.c's algorithm for a single case, without
 * its general bookkeeping (lock order, random start, other kinds of
 * case). This is the path of every blocking call, so it is kept short:
 * one lock, one try, and only if that fails a waiter and a park. */
/* Before a task parks on a channel, if its loop has nothing else ready,
 * it retries for up to this long: a peer running on another core usually
 * makes room or brings an element within it, and then the hand-off costs
 * neither side a park, a post or a wakeup (an adaptive mutex's spin). */
#define CHAN_SPIN_NS 3000

static int try1(corio_chan *c, int send, void *elem)
{
    corio__chan_lock(c);
    int rc = send ? corio__chan_try_send_locked(c, elem)
                  : corio__chan_try_recv_locked(c, elem);
    return rc; /* locked */
}

static int spin_try(corio_chan *c, int send, void *elem)
{
    corio_loop *l = corio__loop();
    if (!l || corio__loop_has_ready(l)) return CORIO_EAGAIN;
    int64_t end = corio__os_now_ns() + CHAN_SPIN_NS;
    for (;;) {
        for (int i = 0; i < 32; i++) corio__cpu_relax();
        int rc = try1(c, send, elem);
        corio__chan_unlock(c);
        if (rc != CORIO_EFULL && rc != CORIO_EEMPTY) return rc;
        if (corio__os_now_ns() >= end) return CORIO_EAGAIN;
    }
}

static int op1(corio_chan *c, int send, void *elem, int64_t deadline)
{
    int rc = try1(c, send, elem);
    if (rc != CORIO_EFULL && rc != CORIO_EEMPTY) {
        corio__chan_unlock(c);
        return rc;
    }
    /* Not on an unbuffered channel: there only a PARKED peer can be met
     * (two spinning peers would never see each other). There the parked
     * task's loop spins on its inbox instead (coro/loop.c). */
    if (deadline == CORIO_NEVER && c->cap > 0) {
        corio__chan_unlock(c);
        rc = spin_try(c, send, elem);
        if (rc != CORIO_EAGAIN) return rc;
        rc = try1(c, send, elem);
        if (rc != CORIO_EFULL && rc != CORIO_EEMPTY) {
            corio__chan_unlock(c);
            return rc;
        }
    }
    corio_task *self = corio__self();
    if (!self || corio__cancel_due(self)) {
        corio__chan_unlock(c);
        return self ? CORIO_ECANCELED : CORIO_ENOLOOP;
    }
    chan_sel sel;
    sel.task = self;
    sel.loop = corio__task_loop(self);
    sel.status = 0;
    sel.delivered = 0;
    chan_waiter w = { .sel = &sel, .idx = 0, .elem = elem, .single = 1 };
    chan_wq *q = send ? &c->sendq : &c->recvq;
    corio__chan_wq_push(q, &w);
    corio__chan_unlock(c);

    /* Only a claimer's delivery unparks us with 0 (it set delivered
     * first, on our loop); anything else is a deadline or a cancel. */
    rc = corio__park_on(deadline, send ? "chan send" : "chan recv");
    if (!sel.delivered) {
        /* Still queued means nobody claimed us, and under the lock nobody
         * can now. Unlinked means a peer claimed us (it pops before it
         * moves the element) and its delivery may still be on its way
         * from another thread: wait for it, shielded (chan_impl.h). */
        corio__chan_lock(c);
        int queued = w.linked;
        corio__chan_wq_remove(q, &w);
        corio__chan_unlock(c);
        if (queued) return rc;
        corio_shield_begin();
        while (!sel.delivered) corio__park_on(CORIO_NEVER, "chan hand-off");
        corio_shield_end();
    }
    return sel.status;
}

int corio_chan_send_until(corio_chan *c, const void *elem, int64_t deadline)
{
    if (!c || (!elem && c->esize)) return CORIO_EINVAL;
    return op1(c, 1, (void *)elem, deadline);
}

int corio_chan_send(corio_chan *c, const void *elem)
{
    return corio_chan_send_until(c, elem, CORIO_NEVER);
}

int corio_chan_recv_until(corio_chan *c, void *out, int64_t deadline)
{
    if (!c) return CORIO_EINVAL;
    return op1(c, 0, out, deadline);
}

int corio_chan_recv(corio_chan *c, void *out)
{
    return corio_chan_recv_until(c, out, CORIO_NEVER);
}

int corio_chan_close(corio_chan *c)
{
    if (!c) return CORIO_EINVAL;
    corio__chan_lock(c);
    if (c->closed) {
        corio__chan_unlock(c);
        return CORIO_EALREADY;
    }
    c->closed = 1;
    /* A live receiver waits only on an empty channel: it gets the end. A
     * parked sender's element was never taken: it stays the sender's. */
    chan_waiter *w;
    while ((w = pop_claim(&c->recvq)) != NULL) deliver(w, CORIO_ECLOSED);
    while ((w = pop_claim(&c->sendq)) != NULL) deliver(w, CORIO_ECLOSED);
    corio__chan_unlock(c);
    return 0;
}

bool corio_chan_closed(corio_chan *c)
{
    if (!c) return true;
    corio__chan_lock(c);
    int closed = c->closed;
    corio__chan_unlock(c);
    return closed;
}

size_t corio_chan_len(corio_chan *c)
{
    return c ? atomic_load_explicit(&c->len_snapshot, memory_order_relaxed) : 0;
}

size_t corio_chan_cap(const corio_chan *c) { return c ? c->cap : 0; }
