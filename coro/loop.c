/*
 * loop.c — the event loop: one per thread, run on the thread's own stack.
 *
 * One turn of the loop (run_loop below):
 *
 *   1. release the stack of a task that just finished;
 *   2. stop if the task we run for is done (run_until_complete);
 *   3. run queued callbacks (call_soon, call_soon_threadsafe);
 *   4. fire due timers (sleeps and deadlines end here: corio__unpark);
 *   5. ask the poller for I/O: wait until the next timer if nothing is
 *      ready, or just look (timeout 0) if tasks are ready;
 *   6. switch into the first ready task. Tasks then switch among
 *      themselves (sched.c) and come back here when none is ready, after
 *      a budget of dispatches, or when one finishes.
 *
 * Steps 3-6 are loop_turn, shared by the blocking runs (corio_loop_run,
 * run_until_complete) and the step a host program calls from its own
 * loop (corio_loop_run_nowait, docs/embedding.md), which never waits in
 * the poller.
 */
#include "park.h"
#include "cpu_relax.h"
#include "alloc.h"
#include "os/thread.h"
#include "poller/netpoll.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often, at most, the poller is consulted while tasks are ready:
 * asyncio polls every iteration; we poll every 50 us of busy running. */
#define BUSY_POLL_INTERVAL_NS 50000

/*
 * fork(): the child gets a copy of the loop's memory but SHARES its epoll
 * (kqueue is not inherited at all), so a child that went on using it would
 * register its descriptors in the parent's set and steal its events. The
 * child therefore forgets the inherited loop (it may make its own with
 * corio_loop_new), and any explicit use of the old one fails with a clear
 * message. A child that only execs (subprocesses) never notices.
 */
unsigned corio__fork_gen;

static void after_fork_in_child(void)
{
    corio__fork_gen++;
    corio__tls_loop = NULL; /* the forking thread is the child's only one */
}

static int loop_usable(corio_loop *l)
{
    if (l->fork_gen == corio__fork_gen) return 1;
    fputs("corio: this loop belongs to the parent process (fork() shares its "
          "poller with the parent); create a new loop in the child\n", stderr);
    return 0;
}

static int env_debug(void)
{
    const char *e = getenv("CORIO_DEBUG");
    return e && *e && strcmp(e, "0") != 0;
}

static void thread_stack_bounds(corio_loop *l)
{
#ifdef __linux__
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &l->sched_stack_lo, &l->sched_stack_size);
        pthread_attr_destroy(&a);
    }
#else
    (void)l;
#endif
}

corio_loop *corio_loop_new(const corio_config *cfg)
{
    if (corio__tls_loop) return NULL; /* one loop per thread */
    corio_loop *l = corio__calloc(1, sizeof *l);
    if (!l) return NULL;
    if (cfg) l->cfg = *cfg;
    if (!l->cfg.stack_size) l->cfg.stack_size = 256 * 1024;
    if (!l->cfg.stack_pool) l->cfg.stack_pool = 1024;
    l->debug = l->cfg.debug > 0 || (l->cfg.debug == 0 && env_debug());
    l->stacks = corio__stack_pool_new(l->cfg.stack_mode == CORIO_STACK_DENSE,
                                     l->cfg.stack_pool);
    l->ts_lock = corio__os_mutex_new();
    atomic_init(&l->ts_spare, corio__malloc(sizeof(corio_cb_node)));
    if (!l->stacks || !l->ts_lock || !atomic_load(&l->ts_spare) ||
        corio__netpoll_open(&l->netpoll) != 0) {
        corio__free(atomic_load(&l->ts_spare));
        corio__stack_pool_free(l->stacks);
        corio__os_mutex_free(l->ts_lock);
        corio__free(l);
        return NULL;
    }
    thread_stack_bounds(l);
    corio__stack_overflow_guard_thread();
    static atomic_flag fork_hook = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&fork_hook)) corio__os_on_fork_child(after_fork_in_child);
    l->fork_gen = corio__fork_gen;
    l->last_poll = corio__os_now_ns();
    corio__tls_loop = l;
    corio__alloc_loop_opened();
    if (l->debug) corio__debug_loop_mode(l, 1);
    return l;
}

corio_loop *corio_loop_current(void) { return corio__tls_loop; }

const char *corio_backend_name(void) { return corio__poller_name; }
const char *corio_switch_name(void) { return corio__ctx_impl_name; }

/* ---------- callbacks ---------- */

static int push_cb(corio_cb_node **head, corio_cb_node **tail,
                   corio_callback cb, void *arg, _Atomic(corio_cb_node *) *spare)
{
    corio_cb_node *n = corio__malloc(sizeof *n);
    /* Out of memory on another thread: that thread often cannot report
     * it to anyone (a pool worker delivering a result), and a lost post
     * leaves a task waiting for ever. So the loop keeps one spare node
     * for such a post; the loop thread refills it (run_callbacks). */
    if (!n && spare) n = atomic_exchange(spare, NULL);
    if (!n) return CORIO_ENOMEM;
    n->cb = cb;
    n->arg = arg;
    n->next = NULL;
    if (*tail) (*tail)->next = n; else *head = n;
    *tail = n;
    return 0;
}

int corio_call_soon(corio_callback cb, void *arg)
{
    corio_loop *l = corio__tls_loop;
    if (!l) return CORIO_ENOLOOP;
    if (!cb) return CORIO_EINVAL;
    return push_cb(&l->cb_head, &l->cb_tail, cb, arg, NULL);
}

int corio_call_soon_threadsafe(corio_loop *l, corio_callback cb, void *arg)
{
    if (!l || !cb) return CORIO_EINVAL;
    corio__os_mutex_lock(l->ts_lock);
    int rc = l->closed ? CORIO_ECLOSED
                       : push_cb(&l->ts_head, &l->ts_tail, cb, arg, &l->ts_spare);
    corio__os_mutex_unlock(l->ts_lock);
    /* Wake the loop only on the empty -> non-empty edge: a burst of calls
     * from other threads costs one kernel write. */
    if (rc == 0 && !atomic_exchange(&l->ts_pending, 1))
        corio__netpoll_wakeup(l->netpoll);
    return rc;
}

/* Run the callbacks queued so far (not those they queue: next turn). */
static int run_callbacks(corio_loop *l)
{
    corio_cb_node *list = l->cb_head;
    l->cb_head = l->cb_tail = NULL;
    if (atomic_load_explicit(&l->ts_pending, memory_order_acquire) &&
        atomic_exchange(&l->ts_pending, 0)) {
        corio__os_mutex_lock(l->ts_lock);
        corio_cb_node *ts = l->ts_head;
        l->ts_head = l->ts_tail = NULL;
        corio__os_mutex_unlock(l->ts_lock);
        if (ts) { /* threadsafe ones after the local ones */
            corio_cb_node **end = &list;
            while (*end) end = &(*end)->next;
            *end = ts;
        }
    }
    int n = 0;
    while (list) {
        corio_cb_node *next = list->next;
        list->cb(list->arg);
        corio_cb_node *none = NULL;
        if (atomic_load_explicit(&l->ts_spare, memory_order_relaxed) ||
            !atomic_compare_exchange_strong(&l->ts_spare, &none, list))
            corio__free(list); /* else it is the spare again */
        list = next;
        n++;
    }
    return n;
}

/* ---------- the turn of the loop ---------- */

/* ---------- the cross-thread inbox ----------
 *
 *   thread X (any)                       the loop's thread
 *   --------------                       -----------------
 *   p->next = head                       top of every turn:
 *   CAS(inbox: head -> p)  [seq_cst]       list = XCHG(inbox, NULL) [acq]
 *   if LOAD(sleeping)      [seq_cst]       reverse it, run each p->fn(p)
 *       poller wakeup (coalesced)        before blocking in the poller:
 *                                          spin a little if posts came lately
 *                                          STORE(sleeping, 1)       [seq_cst]
 *                                          if LOAD(inbox) != NULL: don't block
 *                                          poll; STORE(sleeping, 0)
 *
 * Why no post is ever stranded: the poster does "store inbox, load
 * sleeping", the loop does "store sleeping, load inbox", all seq_cst, so in
 * the single total order of those four either the poster's CAS comes
 * before the loop's load (the loop sees the post and polls with timeout 0)
 * or the loop's store comes before the poster's load (the poster sees
 * sleeping == 1 and wakes the poller). It is Dekker's handshake; with
 * weaker orders (release/acquire only) both loads could read the old
 * values on a weakly ordered CPU (AArch64) and the loop would sleep on a
 * post. The poller's own flag (poller/ backends) makes a burst of wakeups cost
 * one write, and a wakeup that finds the loop already awake only makes one
 * later poll return early.
 *
 * The exchange takes the whole list, so the CAS loop of the posters has no
 * ABA problem (a node is never popped alone). p->next is a plain field:
 * it is written before the poster's CAS (release) and read after the
 * loop's exchange (acquire). After its CAS the poster must not touch p:
 * the loop may already have run p->fn, and p's owner freed it.
 */

void corio__loop_post(corio_loop *l, corio__post *p)
{
    corio__post *head = atomic_load_explicit(&l->inbox, memory_order_relaxed);
    do p->next = head;
    while (!atomic_compare_exchange_weak_explicit(&l->inbox, &head, p,
                                                  memory_order_seq_cst,
                                                  memory_order_relaxed));
    if (atomic_load_explicit(&l->sleeping, memory_order_seq_cst))
        corio__netpoll_wakeup(l->netpoll);
}

/* Run every post so far, oldest first. Returns how many. */
static int run_posts(corio_loop *l)
{
    if (!atomic_load_explicit(&l->inbox, memory_order_relaxed)) return 0;
    corio__post *p = atomic_exchange_explicit(&l->inbox, NULL, memory_order_acquire);
    corio__post *fifo = NULL;
    while (p) { /* the stack is newest first */
        corio__post *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    int n = 0;
    while (fifo) {
        corio__post *next = fifo->next; /* fn may end p's life */
        fifo->fn(fifo);
        fifo = next;
        n++;
    }
    return n;
}

/* How long an idle loop that got posts lately spins on its inbox before it
 * blocks in the poller: a peer loop answering a channel hand-off within
 * this time costs no system call on either side. A loop with no recent
 * cross-thread traffic blocks at once. The spin must outlast a peer's
 * wakeup from its poller (tens of us on a VM), or two loops that fell
 * asleep in turn never get back to the spinning steady state; it cannot
 * help when the peer thread has no CPU at all (a machine with more
 * runnable threads than cores), and then only burns: hence the bound. */
#define POST_SPIN_NS 50000
#define POST_RECENT_NS 2000000

/* Nothing to run: before blocking for up to `timeout` ns, spin a little
 * if the inbox was busy lately. Returns 1 if a post arrived meanwhile. */
static int spin_for_posts(corio_loop *l, int64_t now, int64_t timeout)
{
    if (now - l->post_seen > POST_RECENT_NS || timeout < POST_SPIN_NS) return 0;
    int64_t end = now + POST_SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&l->inbox, memory_order_relaxed)) return 1;
        corio__cpu_relax();
        if ((i & 63) == 0 && corio__os_now_ns() >= end) return 0;
    }
}

/*
 * One turn: steps 3 to 6 of the header comment. may_block says whether
 * the poller may wait for the next timer when nothing is runnable: the
 * blocking runs say yes; the host's step (corio_loop_run_nowait) says no,
 * and then the poller is asked every turn, with a zero timeout, so that
 * the events which made the host's poll() on our descriptor fire are
 * always collected (else that descriptor would stay readable and the host
 * would spin). Both ways of running are this one function.
 */
static void loop_turn(corio_loop *l, int may_block)
{
    /* Every visit runs the callbacks and the due timers, and polls at
     * least every BUSY_POLL_INTERVAL_NS. There is no shortcut back to
     * the next ready task: a task only comes back here when the run
     * queue is empty or its dispatch budget is spent (sched.c), and
     * the budget is spent precisely so that timers and I/O get their
     * turn. (An earlier shortcut after a task exit skipped them, and a
     * loop of spawning and exiting tasks could starve a sleeper for
     * good: tests/test_loop.c, busy_spawning_does_not_starve_timers.) */
    run_callbacks(l);
    int64_t now = corio__os_now_ns();
    if (run_posts(l)) l->post_seen = now;
    corio__timer_heap_run(&l->timers, now);

    int busy = l->runq_head || l->cb_head ||
               atomic_load_explicit(&l->ts_pending, memory_order_relaxed);
    if (!busy || !may_block || now - l->last_poll >= BUSY_POLL_INTERVAL_NS) {
        int64_t timeout = 0;
        if (!busy && may_block) {
            corio_timer *next = corio__timer_heap_min(&l->timers);
            timeout = next ? next->deadline - now : CORIO_NEVER;
            if (timeout < 0) timeout = 0;
        }
        /* Before blocking: the inbox handshake (see above). A post found
         * by spinning skips the poll (the busy-poll interval still lets
         * I/O in). */
        int spun = timeout && spin_for_posts(l, now, timeout);
        if (spun && now - l->last_poll < BUSY_POLL_INTERVAL_NS) {
            if (run_posts(l)) l->post_seen = now;
            corio_task *t = corio__runq_pop(l);
            if (t) corio__loop_enter_task(l, t);
            corio__reap(l);
            return;
        }
        if (spun) timeout = 0;
        if (timeout) {
            atomic_store_explicit(&l->sleeping, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&l->inbox, memory_order_seq_cst)) timeout = 0;
        }
        corio__netpoll_poll(l->netpoll, timeout);
        if (timeout) atomic_store_explicit(&l->sleeping, 0, memory_order_relaxed);
        l->last_poll = now = corio__os_now_ns();
        if (timeout) corio__timer_heap_run(&l->timers, now);
        if (run_posts(l)) l->post_seen = now;
    }
    corio_task *t = corio__runq_pop(l);
    if (t) corio__loop_enter_task(l, t);
    corio__reap(l);
}

/* Run until `stop` is done, or (stop == NULL) until no task is alive. */
static int run_loop(corio_loop *l, corio_task *stop)
{
    l->in_turn = 1;
    for (;;) {
        corio__reap(l);
        if (stop ? stop->state == CORIO_TASK_DONE : l->alive == 0) break;
        loop_turn(l, 1);
    }
    l->in_turn = 0;
    return 0;
}

/* Who may turn the loop now: not a task of it (the loop's stack is in
 * use below it), not a callback the loop is running (in_turn), not a
 * loop left over from before a fork. */
static int may_turn(corio_loop *l)
{
    return !l->current && !l->in_turn && loop_usable(l);
}

int corio_loop_run_until_complete(corio_loop *l, corio_task *main, void **result)
{
    if (!l || !main || main->loop != l) return CORIO_EINVAL;
    if (!may_turn(l)) return CORIO_EINVAL; /* not from a task */
    if (main->joined || main->detached) return CORIO_EALREADY;
    main->joined = 1;
    l->stop_task = main;
    run_loop(l, main);
    l->stop_task = NULL;
    if (result) *result = main->result;
    int status = main->status;
    corio__task_free(main);
    return status;
}

int corio_loop_run(corio_loop *l)
{
    if (!l) return CORIO_EINVAL;
    if (!may_turn(l)) return CORIO_EINVAL;
    return run_loop(l, NULL);
}

/* ---------- embedding: a host loop turns ours (docs/embedding.md) ---------- */

/* Something is queued to run at once: the host must not wait. */
static int runnable(corio_loop *l)
{
    return l->runq_head || l->cb_head || l->zombie ||
           atomic_load_explicit(&l->ts_pending, memory_order_relaxed) ||
           atomic_load_explicit(&l->inbox, memory_order_seq_cst) ||
           corio__netpoll_pending(l->netpoll);
}

int corio_loop_run_nowait(corio_loop *l)
{
    if (!l) return CORIO_EINVAL;
    if (!may_turn(l)) return CORIO_EINVAL;
    /* Tasks find their loop through the thread (corio__tls_loop): turned
     * from another thread they would see none. */
    if (corio__tls_loop != l) return CORIO_EPERM;
    l->in_turn = 1;
    corio__reap(l);
    loop_turn(l, 0);
    l->in_turn = 0;
    /* Between steps the host may block in its own poll on our descriptor:
     * for the inbox that is sleeping, so posts from now on wake the
     * poller (the handshake's store; runnable() below is its load). */
    atomic_store_explicit(&l->sleeping, 1, memory_order_seq_cst);
    /* Queued callbacks count as alive, so that a host which stops at 0
     * never drops one; pending call_later timers do not, as for
     * corio_loop_run. */
    return l->alive > 0 || runnable(l);
}

int corio_loop_backend_fd(corio_loop *l)
{
    if (!l) return CORIO_EINVAL;
    return corio__netpoll_backend_fd(l->netpoll);
}

int corio_loop_backend_timeout(corio_loop *l)
{
    if (!l || runnable(l)) return 0;
    corio_timer *next = corio__timer_heap_min(&l->timers);
    if (!next) return -1;
    int64_t left = next->deadline - corio__os_now_ns();
    if (left <= 0) return 0;
    /* Rounded up: a host that wakes a little before the deadline would
     * find nothing due and wait again for 0 ms, a spin. */
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---------- close ---------- */

static void report(corio_loop *l, const char *msg)
{
    if (l->cfg.report) l->cfg.report(l->cfg.report_ctx, msg);
    else fprintf(stderr, "%s\n", msg);
}

int corio_loop_close(corio_loop *l)
{
    if (!l) return CORIO_EINVAL;
    if (l->current) return CORIO_EINVAL;
    int reported = 0;
    char msg[256];
    /* Stacks of tasks destroyed while pending are held back until the
     * poller is closed: on Windows an overlapped operation may still name
     * an OVERLAPPED on such a stack, and closing the poller is what cancels
     * and drains it. */
    corio_stack *held = NULL;
    corio__os_mutex_lock(l->ts_lock);
    l->closed = 1;
    corio__os_mutex_unlock(l->ts_lock);
    corio__pool_on_loop_close(l);
    if (l->debug) corio__debug_on_close(l);
    corio__debug_loop_gone(l);
    while (l->all_head) {
        corio_task *t = l->all_head;
        if (t->state != CORIO_TASK_DONE) {
            snprintf(msg, sizeof msg, "corio: task '%s' (id %llu) was destroyed "
                     "but it is pending (%s%s%s)", corio_task_name(t),
                     (unsigned long long)t->id, corio_task_state_name(t->state),
                     t->wait_what ? " in " : "", t->wait_what ? t->wait_what : "");
            report(l, msg);
            reported++;
            /* Its stack is freed without running it further: whatever it
             * holds (memory, descriptors) leaks, as in asyncio. */
            t->stack->next_free = held;
            held = t->stack;
            t->stack = NULL;
            corio__tsan_task_gone(t);
        } else if (!t->detached) {
            snprintf(msg, sizeof msg, "corio: task '%s' (id %llu) finished "
                     "(status: %s) but was never joined or detached",
                     corio_task_name(t), (unsigned long long)t->id,
                     t->status ? corio_strerror(t->status) : "ok");
            report(l, msg);
            reported++;
        }
        corio__task_free(t);
    }
    /* Callbacks never run are dropped. */
    corio_cb_node *lists[2] = { l->cb_head, l->ts_head };
    for (int i = 0; i < 2; i++)
        for (corio_cb_node *n = lists[i], *nx; n; n = nx) {
            nx = n->next;
            corio__free(n);
        }
    corio__free(atomic_load(&l->ts_spare));
    corio__netpoll_close(l->netpoll);
    while (held) {
        corio_stack *s = held;
        held = s->next_free;
        corio__stack_put(l->stacks, s);
    }
    corio__call_timers_on_close(l); /* call_later callbacks never run */
    corio__timer_heap_free(&l->timers);
    corio__stack_pool_free(l->stacks);
    for (corio_task *t = l->free_tasks, *nx; t; t = nx) {
        nx = t->run_next;
        corio__free(t);
    }
    corio__os_mutex_free(l->ts_lock);
    if (corio__tls_loop == l) corio__tls_loop = NULL;
    corio__free(l);
    corio__alloc_loop_closed();
    return reported;
}

/* ---------- asyncio.run ---------- */

int corio_run(corio_fn main, void *arg, void **result)
{
    corio_loop *l = corio_loop_new(NULL);
    if (!l) return corio__tls_loop ? CORIO_EINVAL : CORIO_ENOMEM;
    corio_task_opts o = { .name = "main" };
    corio_task *t = corio_loop_spawn(l, main, arg, &o);
    if (!t) {
        corio_loop_close(l);
        return CORIO_ENOMEM;
    }
    int status = corio_loop_run_until_complete(l, t, result);
    /* Like asyncio.run: cancel what is left and let it finish. */
    for (corio_task *x = l->all_head; x; x = x->all_next)
        if (x->state != CORIO_TASK_DONE) corio_cancel(x);
    corio_loop_run(l);
    corio_loop_close(l);
    return status;
}
