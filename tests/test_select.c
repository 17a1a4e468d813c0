/*
 * test_select.c — corio_select: one case fires, the others consume
 * nothing, ready cases are chosen fairly, deadlines and the try form,
 * futures and tasks as cases, and selects racing cross-loop peers.
 */
#include "chan_util.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static void *try_body(void *arg)
{
    tally *t = arg;
    corio_chan *a = corio_chan_new(sizeof(int), 1), *b = corio_chan_new(sizeof(int), 0);
    int x = 0, y = 5;
    corio_case cs[2] = { { CORIO_CASE_RECV, a, &x, 0 }, { CORIO_CASE_SEND, b, &y, 0 } };
    NOTE(t, corio_select_try(cs, 2) == CORIO_EAGAIN, "nothing ready");
    NOTE(t, corio_select_until(cs, 2, corio_deadline_in(CORIO_MS(1))) == CORIO_ETIMEDOUT,
         "deadline");
    /* The timed-out select left stale waiters nowhere: a send to a now
     * goes to the buffer, not to the departed select. */
    int v = 3;
    NOTE(t, corio_chan_try_send(a, &v) == 0 && corio_chan_len(a) == 1, "buffered");
    NOTE(t, corio_select_try(cs, 2) == 0 && cs[0].status == 0 && x == 3, "recv fired");
    corio_chan_close(b);
    NOTE(t, corio_select(cs, 2) == 1 && cs[1].status == CORIO_ECLOSED, "send on closed fires");
    NOTE(t, corio_select(NULL, 1) == CORIO_EINVAL, "NULL cases");
    NOTE(t, corio_select(cs, 0) == CORIO_EINVAL, "no cases");
    corio_case bad = { CORIO_CASE_RECV, NULL, NULL, 0 };
    NOTE(t, corio_select(&bad, 1) == CORIO_EINVAL, "NULL object");
    corio_chan_free(a);
    corio_chan_free(b);
    return NULL;
}

Test(select, try_deadline_and_bad_input)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(try_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* Two always-ready receives and a ready send: each fires a fair share, and
 * each select takes exactly one element from exactly one channel. */
#define FAIR_ROUNDS 30000

static void *fair_body(void *arg)
{
    tally *t = arg;
    corio_chan *a = corio_chan_new(sizeof(int), 1), *b = corio_chan_new(sizeof(int), 1);
    corio_chan *s = corio_chan_new(sizeof(int), 1);
    int one = 1, two = 2, out = 7, fired[3] = { 0 };
    corio_chan_send(a, &one);
    corio_chan_send(b, &two);
    for (int i = 0; i < FAIR_ROUNDS; i++) {
        int x = 0;
        corio_case cs[3] = { { CORIO_CASE_RECV, a, &x, 0 }, { CORIO_CASE_RECV, b, &x, 0 },
                             { CORIO_CASE_SEND, s, &out, 0 } };
        int k = corio_select(cs, 3);
        if (k < 0 || k > 2) { NOTE(t, 0, "select %d", k); break; }
        fired[k]++;
        /* exactly one moved */
        size_t la = corio_chan_len(a), lb = corio_chan_len(b), ls = corio_chan_len(s);
        NOTE(t, (1 - la) + (1 - lb) + ls == 1, "round %d: one case only (%zu %zu %zu)", i, la, lb, ls);
        if (k == 0) NOTE(t, x == 1, "a's value");
        if (k == 1) NOTE(t, x == 2, "b's value");
        if (k == 0) corio_chan_send(a, &one);
        if (k == 1) corio_chan_send(b, &two);
        if (k == 2) corio_chan_recv(s, NULL);
    }
    for (int k = 0; k < 3; k++)
        NOTE(t, fired[k] > FAIR_ROUNDS / 3 * 0.85 && fired[k] < FAIR_ROUNDS / 3 * 1.15,
             "case %d fired %d of %d", k, fired[k], FAIR_ROUNDS);
    corio_chan_free(a);
    corio_chan_free(b);
    corio_chan_free(s);
    return NULL;
}

Test(select, fair_among_ready_cases_and_losers_consume_nothing)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(fair_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* Parked on two channels; a sender on each arrives in the same turn: one
 * wins, the other's element stays with its sender (unbuffered) or in the
 * buffer. */
typedef struct two { corio_chan *a, *b; int fired, x; tally *t; } two;

static void *select_two(void *arg)
{
    two *w = arg;
    corio_case cs[2] = { { CORIO_CASE_RECV, w->a, &w->x, 0 }, { CORIO_CASE_RECV, w->b, &w->x, 0 } };
    w->fired = corio_select(cs, 2);
    return NULL;
}

static void *losers_body(void *arg)
{
    tally *t = arg;
    for (int round = 0; round < 2000; round++) {
        two w = { corio_chan_new(sizeof(int), round & 1), corio_chan_new(sizeof(int), round & 1),
                  -1, 0, t };
        corio_task *s = corio_spawn(select_two, &w, NULL);
        NOTE(t, until_parked(s) == 0, "parked");
        int va = 10, vb = 20;
        int ra = corio_chan_try_send(w.a, &va), rb = corio_chan_try_send(w.b, &vb);
        corio_join(s, NULL);
        NOTE(t, w.fired == 0 || w.fired == 1, "fired %d", w.fired);
        NOTE(t, w.x == (w.fired == 0 ? 10 : 20), "value %d", w.x);
        int left = 0, v;
        left += corio_chan_try_recv(w.a, &v) == 0;
        left += corio_chan_try_recv(w.b, &v) == 0;
        int sent = (ra == 0) + (rb == 0);
        NOTE(t, sent - left == 1, "round %d: sent %d, left %d: exactly one taken", round, sent, left);
        corio_chan_free(w.a);
        corio_chan_free(w.b);
    }
    return NULL;
}

Test(select, a_losing_case_takes_nothing)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(losers_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* Futures and tasks as cases. */
typedef struct ft { corio_future *f; corio_chan *c; } ft;

static void *set_later(void *arg)
{
    ft *x = arg;
    corio_yield();
    corio_future_set_result(x->f, (void *)(intptr_t)77);
    return NULL;
}

static void *quick(void *arg)
{
    (void)arg;
    corio_yield();
    corio_fail(CORIO_EIO);
    return NULL;
}

static void *future_task_body(void *arg)
{
    tally *t = arg;
    ft x = { corio_future_new(), corio_chan_new(sizeof(int), 0) };
    corio_task *setter = corio_spawn(set_later, &x, NULL);
    void *val = NULL;
    corio_case cs[2] = { { CORIO_CASE_RECV, x.c, NULL, 0 }, { CORIO_CASE_FUTURE, x.f, &val, 0 } };
    NOTE(t, corio_select(cs, 2) == 1 && cs[1].status == 0 && (intptr_t)val == 77, "future fired");
    corio_join(setter, NULL);
    corio_task *q = corio_spawn(quick, NULL, NULL);
    corio_case ct[2] = { { CORIO_CASE_RECV, x.c, NULL, 0 }, { CORIO_CASE_TASK, q, NULL, 0 } };
    NOTE(t, corio_select(ct, 2) == 1 && ct[1].status == CORIO_EIO, "task fired: %d", ct[1].status);
    NOTE(t, corio_join(q, NULL) == CORIO_EIO, "still joinable");
    int v = 1;
    NOTE(t, corio_chan_try_send(x.c, &v) == CORIO_EFULL, "no stale receiver left behind");
    corio_future_free(x.f);
    corio_chan_free(x.c);
    return NULL;
}

Test(select, futures_and_tasks)
{
    tally t = { 0 };
    cr_assert_eq(corio_test_run_clean(future_task_body, &t), 0);
    ASSERT_TALLY_CLEAN(t);
}

/* The classic race: two producer loops each hand to the same selecting
 * task on a third loop, through two unbuffered channels, while the select
 * also times out now and then. Every value a producer's send returned 0
 * for is received exactly once. A third phase sends from the select. */
#define XS_N 5000

typedef struct xsel {
    corio_chan *c[2], *back[2];
    unsigned char *got[2], *sent[2];
    tally t;
    _Atomic int who;
} xsel;

static void *xsel_producer(void *arg)
{
    xsel *x = arg;
    int me = atomic_fetch_add(&x->who, 1) & 1;
    for (int i = 0; i < XS_N;) {
        int rc = corio_chan_send_until(x->c[me], &i,
                                        i % 3 ? CORIO_NEVER : corio_deadline_in((i % 5) * 4000));
        if (rc == 0) { x->sent[me][i]++; i++; }
        else NOTE(&x->t, rc == CORIO_ETIMEDOUT, "send rc %d", rc);
    }
    corio_chan_close(x->c[me]);
    /* then receive what the selector offers back, until it closes */
    int v, n = 0, rc;
    while ((rc = corio_chan_recv(x->back[me], &v)) == 0) {
        NOTE(&x->t, v == n, "back %d: %d", n, v);
        n++;
    }
    NOTE(&x->t, rc == CORIO_ECLOSED, "back rc %d", rc);
    return (void *)(intptr_t)n;
}

static void *xsel_selector(void *arg)
{
    xsel *x = arg;
    int open = 2;
    for (unsigned round = 0; open > 0; round++) {
        int v = -1;
        corio_case cs[2] = { { CORIO_CASE_RECV, x->c[0], &v, 0 }, { CORIO_CASE_RECV, x->c[1], &v, 0 } };
        int k = corio_select_until(cs, 2, round % 3 ? CORIO_NEVER
                                                        : corio_deadline_in((round % 4) * 3000));
        if (k == CORIO_ETIMEDOUT) continue;
        if (k != 0 && k != 1) { NOTE(&x->t, 0, "select %d", k); break; }
        if (cs[k].status == CORIO_ECLOSED) {
            open--;
            cs[k].obj = NULL;
            /* keep selecting on the other only */
            if (open) {
                corio_chan *rest = x->c[1 - k];
                while (corio_chan_recv(rest, &v) == 0) x->got[1 - k][v]++;
                open = 0;
            }
            continue;
        }
        if (v < 0 || v >= XS_N) { NOTE(&x->t, 0, "bad %d", v); continue; }
        x->got[k][v]++;
    }
    /* sends from a select: each offer goes to exactly one of the two */
    int next[2] = { 0, 0 };
    for (int i = 0; i < XS_N; i++) {
        corio_case cs[2] = { { CORIO_CASE_SEND, x->back[0], &next[0], 0 },
                             { CORIO_CASE_SEND, x->back[1], &next[1], 0 } };
        int k = corio_select(cs, 2);
        if (k != 0 && k != 1) { NOTE(&x->t, 0, "send select %d", k); break; }
        next[k]++;
    }
    corio_chan_close(x->back[0]);
    corio_chan_close(x->back[1]);
    NOTE(&x->t, next[0] + next[1] == XS_N, "offers %d + %d", next[0], next[1]);
    return NULL;
}

Test(select, cross_loop_peers_race_for_one_select, .timeout = 300)
{
    xsel x = { { corio_chan_new(sizeof(int), 0), corio_chan_new(sizeof(int), 0) },
               { corio_chan_new(sizeof(int), 0), corio_chan_new(sizeof(int), 0) },
               { calloc(XS_N, 1), calloc(XS_N, 1) }, { calloc(XS_N, 1), calloc(XS_N, 1) },
               { 0 }, 0 };
    corio_fn fns[3] = { xsel_producer, xsel_producer, xsel_selector };
    void *args[3] = { &x, &x, &x };
    xloops_run(3, fns, args);
    ASSERT_TALLY_CLEAN(x.t);
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < XS_N; i++)
            cr_assert(x.sent[p][i] == 1 && x.got[p][i] == 1, "producer %d value %d: sent %d got %d",
                      p, i, x.sent[p][i], x.got[p][i]);
    for (int p = 0; p < 2; p++) {
        free(x.got[p]);
        free(x.sent[p]);
        corio_chan_free(x.c[p]);
        corio_chan_free(x.back[p]);
    }
}
