/*
 * test_chan.c — corio_chan: within a loop, across loops on threads, and
 * from plain threads; buffered and unbuffered; close; deadlines, cancels
 * and their races with hand-offs (nothing lost, nothing duplicated).
 */
#include "chan_util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct big { uint64_t a, b, c; } big;

/* ---------- within one loop ---------- */

static void *buffered_body(void *arg)
{
    tally *t = arg;
    corio_chan *c = corio_chan_new(sizeof(big), 4);
    NOTE(t, c && corio_chan_cap(c) == 4, "new");
    for (uint64_t i = 0; i < 4; i++) {
        big b = { i, i * 2, i * 3 };
        NOTE(t, corio_chan_try_send(c, &b) == 0, "try_send %d", (int)i);
    }
    big x = { 9, 9, 9 };
    NOTE(t, corio_chan_try_send(c, &x) == CORIO_EFULL, "full");
    NOTE(t, corio_chan_len(c) == 4, "len");
    for (uint64_t i = 0; i < 4; i++) {
        big b;
        NOTE(t, corio_chan_recv(c, &b) == 0 && b.a == i && b.b == 2 * i && b.c == 3 * i,
             "fifo %d", (int)i);
    }
    NOTE(t, corio_chan_try_recv(c, &x) == CORIO_EEMPTY, "empty");
    NOTE(t, corio_chan_recv_until(c, &x, corio_deadline_in(CORIO_MS(1))) == CORIO_ETIMEDOUT,
         "recv timeout");
    for (int i = 0; i < 4; i++) corio_chan_try_send(c, &x);
    NOTE(t, corio_chan_send_until(c, &x, corio_deadline_in(CORIO_MS(1))) == CORIO_ETIMEDOUT,
         "send timeout");
    NOTE(t, corio_chan_len(c) == 4, "a timed-out send left nothing behind");
    corio_chan_free(c);
    NOTE(t, corio_chan_new(1u << 20, 1) == NULL, "huge elements refused");
    NOTE(t, corio_chan_try_send(NULL, &x) == CORIO_EINVAL, "NULL chan");
    return NULL;
}

Test(chan, buffered_fifo_try_and_deadlines)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(buffered_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

typedef struct rv { corio_chan *c; tally *t; int got; int sent_done; } rv;

static void *rv_sender(void *arg)
{
    rv *r = arg;
    big b = { 1, 2, 3 };
    NOTE(r->t, corio_chan_send(r->c, &b) == 0, "send");
    r->sent_done = 1;
    return NULL;
}

static void *unbuffered_body(void *arg)
{
    tally *t = arg;
    rv r = { corio_chan_new(sizeof(big), 0), t, 0, 0 };
    big b;
    NOTE(t, corio_chan_try_send(r.c, &b) == CORIO_EFULL, "no receiver: try_send fails");
    corio_task *s = corio_spawn(rv_sender, &r, NULL);
    NOTE(t, until_parked(s) == 0, "the sender waits for a receiver");
    NOTE(t, !r.sent_done && corio_chan_len(r.c) == 0, "rendezvous: nothing buffered");
    NOTE(t, corio_chan_recv(r.c, &b) == 0 && b.a == 1 && b.b == 2 && b.c == 3, "recv");
    corio_join(s, NULL);
    NOTE(t, r.sent_done, "sender done");
    corio_chan_free(r.c);
    return NULL;
}

Test(chan, unbuffered_rendezvous)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(unbuffered_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

static void *parked_recv(void *arg)
{
    rv *r = arg;
    int v;
    r->got = corio_chan_recv(r->c, &v);
    return NULL;
}

static void *parked_send(void *arg)
{
    rv *r = arg;
    int v = 42;
    r->got = corio_chan_send(r->c, &v);
    return NULL;
}

static void *close_body(void *arg)
{
    tally *t = arg;
    corio_chan *c = corio_chan_new(sizeof(int), 8);
    for (int i = 0; i < 3; i++) corio_chan_send(c, &i);
    NOTE(t, corio_chan_close(c) == 0, "close");
    NOTE(t, corio_chan_close(c) == CORIO_EALREADY, "close twice");
    NOTE(t, corio_chan_closed(c), "closed");
    int v = 7;
    NOTE(t, corio_chan_send(c, &v) == CORIO_ECLOSED, "send after close");
    NOTE(t, corio_chan_try_send(c, &v) == CORIO_ECLOSED, "try_send after close");
    for (int i = 0; i < 3; i++)
        NOTE(t, corio_chan_recv(c, &v) == 0 && v == i, "drained %d", i);
    NOTE(t, corio_chan_recv(c, &v) == CORIO_ECLOSED, "then closed");
    NOTE(t, corio_chan_try_recv(c, &v) == CORIO_ECLOSED, "try: closed");
    corio_chan_free(c);

    /* Parked at close: a receiver gets the end, a sender an error (its
     * element is not sent). */
    rv r1 = { corio_chan_new(sizeof(int), 0), t, 99, 0 };
    corio_task *a = corio_spawn(parked_recv, &r1, NULL);
    NOTE(t, until_parked(a) == 0, "parked recv");
    corio_chan_close(r1.c);
    corio_join(a, NULL);
    NOTE(t, r1.got == CORIO_ECLOSED, "parked receiver: %d", r1.got);
    corio_chan_free(r1.c);
    rv r2 = { corio_chan_new(sizeof(int), 0), t, 99, 0 };
    corio_task *b = corio_spawn(parked_send, &r2, NULL);
    NOTE(t, until_parked(b) == 0, "parked send");
    corio_chan_close(r2.c);
    corio_join(b, NULL);
    NOTE(t, r2.got == CORIO_ECLOSED, "parked sender: %d", r2.got);
    NOTE(t, corio_chan_try_recv(r2.c, &v) == CORIO_ECLOSED, "its element was not sent");
    corio_chan_free(r2.c);
    return NULL;
}

Test(chan, close_drains_then_ends)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(close_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* A full channel, a parked sender: a receive frees a slot and the parked
 * sender's element takes it at once (a newcomer cannot barge in). */
static void *refill_body(void *arg)
{
    tally *t = arg;
    rv r = { corio_chan_new(sizeof(int), 1), t, 99, 0 };
    int v = 1;
    corio_chan_send(r.c, &v);
    corio_task *s = corio_spawn(parked_send, &r, NULL);
    NOTE(t, until_parked(s) == 0, "sender parked on a full channel");
    NOTE(t, corio_chan_recv(r.c, &v) == 0 && v == 1, "first");
    v = 5;
    NOTE(t, corio_chan_try_send(r.c, &v) == CORIO_EFULL, "the slot went to the parked sender");
    NOTE(t, corio_chan_recv(r.c, &v) == 0 && v == 42, "second is the parked one");
    corio_join(s, NULL);
    NOTE(t, r.got == 0, "sender ok");
    corio_chan_free(r.c);
    return NULL;
}

Test(chan, parked_sender_refills_the_freed_slot)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(refill_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* Cancel or timeout racing a hand-off in one loop (util.h's race plan):
 * the target either got the element (0) or it is still in the channel. */
typedef struct race { corio_chan *c; race_plan p; int rc; int v; } race;

static void *race_target(void *arg)
{
    race *r = arg;
    yield_n(0);
    r->rc = corio_chan_recv_until(r->c, &r->v, target_deadline(&r->p));
    return NULL;
}

static void *race_body(void *arg)
{
    tally *t = arg;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        race r = { corio_chan_new(sizeof(int), round % 3 == 0 ? 0 : 1), plan_for(round), 99, -1 };
        corio_task *x = corio_spawn(race_target, &r, NULL);
        corio_yield();
        int sent = 0;
        for (int i = 0; i < r.p.give_yields || (i == 0 && !sent); i++) {
            if (i == r.p.cancel_yields && !r.p.by_timeout) corio_cancel(x);
            corio_yield();
        }
        if (!r.p.by_timeout && r.p.cancel_yields >= r.p.give_yields) corio_cancel(x);
        int v = round;
        sent = corio_chan_try_send(r.c, &v) == 0;
        corio_join(x, NULL);
        int left = -1;
        int still = corio_chan_try_recv(r.c, &left) == 0;
        if (r.rc == 0) NOTE(t, r.v == round && sent && !still, "round %d: got it", round);
        else NOTE(t, (r.rc == CORIO_ECANCELED || r.rc == CORIO_ETIMEDOUT) &&
                     (!sent || (still && left == round)),
                  "round %d: rc %d sent %d still %d", round, r.rc, sent, still);
        corio_chan_free(r.c);
    }
    return NULL;
}

Test(chan, cancel_and_timeout_race_a_hand_off)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(race_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* ---------- across loops on threads ---------- */

/* Each element of an unbuffered stream is a cross-thread hand-off; when
 * the threads cannot both be on a core (qemu on a loaded 2-core machine)
 * each costs a poller wakeup, up to a millisecond there: 2 x 20,000 keeps
 * the worst case under a minute. */
#define STREAM_N 20000

typedef struct stream {
    corio_chan *c;
    tally t;
    int producers;
    uint64_t sum;
    int in_order;
} stream;

static void *stream_producer(void *arg)
{
    stream *s = arg;
    static _Atomic int who;
    int me = atomic_fetch_add(&who, 1) & 1;
    for (uint32_t i = 0; i < STREAM_N; i++) {
        uint64_t v = ((uint64_t)me << 32) | i;
        NOTE(&s->t, corio_chan_send(s->c, &v) == 0, "send %u", i);
    }
    return NULL;
}

static void *stream_consumer(void *arg)
{
    stream *s = arg;
    uint32_t next[2] = { 0, 0 };
    uint64_t v;
    for (int n = 0; n < s->producers * STREAM_N; n++) {
        if (corio_chan_recv(s->c, &v) != 0) { NOTE(&s->t, 0, "recv %d", n); break; }
        int who = (int)(v >> 32);
        if ((uint32_t)v != next[who]) s->in_order = 0;
        next[who] = (uint32_t)v + 1;
        s->sum += (uint32_t)v;
    }
    NOTE(&s->t, corio_chan_try_recv(s->c, &v) == CORIO_EEMPTY, "nothing extra");
    return NULL;
}

static void stream_run(size_t cap)
{
    stream s = { corio_chan_new(sizeof(uint64_t), cap), { 0 }, 2, 0, 1 };
    corio_fn fns[3] = { stream_producer, stream_producer, stream_consumer };
    void *args[3] = { &s, &s, &s };
    xloops_run(3, fns, args);
    ASSERT_TALLY_CLEAN(s.t);
    cr_assert(s.in_order, "each producer's elements arrive in its order");
    cr_assert_eq(s.sum, 2 * (uint64_t)STREAM_N * (STREAM_N - 1) / 2);
    corio_chan_free(s.c);
}

Test(chan, cross_loop_stream_buffered) { stream_run(64); }
Test(chan, cross_loop_stream_unbuffered) { stream_run(0); }

/* Cancel and timeout racing cross-loop hand-offs, on both sides. The
 * producer loop sends 0..N-1 with tiny deadlines (retrying a value until
 * its send returns 0); the consumer loop receives with tiny deadlines and
 * through child tasks it cancels at varying points. Every value whose
 * send returned 0 must be received exactly once, and no other. */
#define XRACE_N 10000

typedef struct xrace {
    corio_chan *c;
    tally t;
    unsigned char *sent, *got;
    _Atomic int done;
} xrace;

static void *xrace_producer(void *arg)
{
    xrace *x = arg;
    for (int i = 0; i < XRACE_N;) {
        int rc = corio_chan_send_until(x->c, &i,
                                       i % 3 ? CORIO_NEVER : corio_deadline_in((i % 7) * 5000));
        if (rc == 0) { x->sent[i]++; i++; }
        else NOTE(&x->t, rc == CORIO_ETIMEDOUT, "send rc %d", rc);
    }
    corio_chan_close(x->c);
    return NULL;
}

typedef struct xchild { xrace *x; int rc, v; } xchild;

static void *xrace_child(void *arg)
{
    xchild *k = arg;
    k->rc = corio_chan_recv(k->x->c, &k->v);
    return NULL;
}

static void note_got(xrace *x, int v)
{
    if (v < 0 || v >= XRACE_N) { NOTE(&x->t, 0, "bad value %d", v); return; }
    x->got[v]++;
}

static void *xrace_consumer(void *arg)
{
    xrace *x = arg;
    for (unsigned round = 0;; round++) {
        int v = -1, rc;
        if (round & 1) {
            rc = corio_chan_recv_until(x->c, &v, corio_deadline_in((round % 5) * 3000));
        } else {
            xchild k = { x, 99, -1 };
            corio_task *t = corio_spawn(xrace_child, &k, NULL);
            yield_n((int)(round % 4));
            corio_cancel(t);
            corio_join(t, NULL);
            rc = k.rc;
            v = k.v;
        }
        if (rc == 0) note_got(x, v);
        else if (rc == CORIO_ECLOSED) break;
        else NOTE(&x->t, rc == CORIO_ETIMEDOUT || rc == CORIO_ECANCELED, "recv rc %d", rc);
    }
    return NULL;
}

static void xrace_run(size_t cap)
{
    xrace x = { corio_chan_new(sizeof(int), cap), { 0 }, calloc(XRACE_N, 1),
                calloc(XRACE_N, 1), 0 };
    corio_fn fns[2] = { xrace_producer, xrace_consumer };
    void *args[2] = { &x, &x };
    xloops_run(2, fns, args);
    ASSERT_TALLY_CLEAN(x.t);
    for (int i = 0; i < XRACE_N; i++)
        cr_assert(x.sent[i] == 1 && x.got[i] == 1, "value %d: sent %d got %d", i,
                  x.sent[i], x.got[i]);
    free(x.sent);
    free(x.got);
    corio_chan_free(x.c);
}

Test(chan, cross_loop_cancel_timeout_race_unbuffered, .timeout = 300) { xrace_run(0); }
Test(chan, cross_loop_cancel_timeout_race_buffered, .timeout = 300) { xrace_run(2); }

/* A plain thread (no loop) hands elements to a task whose loop sleeps in
 * its poller: the post must wake it. */
typedef struct plain { corio_chan *c; int n; } plain;

static void plain_sender(void *arg)
{
    plain *p = arg;
    /* The deadline only bounds a hang (qemu on a loaded machine is slow). */
    int64_t end = corio_now() + CORIO_SEC(60);
    for (int i = 0; i < p->n && corio_now() < end;) {
        if (corio_chan_try_send(p->c, &i) == 0) i++;
        else corio__os_thread_yield(); /* let the loop's thread park */
    }
    corio_chan_close(p->c);
}

static void *plain_body(void *arg)
{
    tally *t = arg;
    plain p = { corio_chan_new(sizeof(int), 0), 300 };
    corio_os_thread *th = corio__os_thread_start(plain_sender, &p);
    int v, n = 0, rc;
    while ((rc = corio_chan_recv(p.c, &v)) == 0) {
        NOTE(t, v == n, "value %d, expected %d", v, n);
        n++;
    }
    NOTE(t, rc == CORIO_ECLOSED && n == p.n, "rc %d n %d", rc, n);
    corio__os_thread_join(th);
    corio_chan_free(p.c);
    return NULL;
}

Test(chan, plain_thread_wakes_a_sleeping_loop)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(plain_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* A loop that sends and shuts down (its thread ends, its loop is closed)
 * while the channel still holds its elements: another loop drains them
 * afterwards; the elements outlive their sender's loop. */
static void *fill_and_quit(void *arg)
{
    corio_chan *c = arg;
    for (int i = 0; i < 10; i++) corio_chan_send(c, &i);
    return NULL;
}

static void *drain_after(void *arg)
{
    corio_chan *c = arg;
    int v, n = 0;
    while (corio_chan_try_recv(c, &v) == 0) {
        if (v != n) return (void *)1;
        n++;
    }
    return n == 10 ? NULL : (void *)2;
}

Test(chan, elements_outlive_the_loop_that_sent_them)
{
    corio_chan *c = corio_chan_new(sizeof(int), 16);
    corio_fn f1[1] = { fill_and_quit };
    void *a[1] = { c };
    xloops_run(1, f1, a);
    cr_assert_eq(corio_chan_len(c), 10);
    void *res = (void *)9;
    cr_assert_eq(corio_run(drain_after, c, &res), 0);
    cr_assert_null(res, "drained in order: %p", res);
    corio_chan_close(c);
    int v;
    cr_assert_eq(corio_chan_try_recv(c, &v), CORIO_ECLOSED);
    corio_chan_free(c);
}
