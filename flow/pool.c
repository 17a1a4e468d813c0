/*
 * pool.c — the thread pool: asyncio's run_in_executor and to_thread.
 *
 * The journey of one call, corio_to_thread(fn, arg):
 *
 *   task (loop thread)           worker thread             loop thread
 *   ------------------           -------------             -----------
 *   job = {fn, arg}
 *   queue it in the pool ──────> take it off the queue
 *   park                          result = fn(arg)
 *                                 put job in the loop's
 *                                 MAILBOX, and if it was
 *                                 empty post it to the loop ─────> box_drain:
 *                                 (one wakeup for a burst)      job->done = 1
 *   park returns 0 <────────────────────────────────────────── unpark(task)
 *   *result = job->result; corio__free(job)
 *
 * Only the pool's queue and the mailbox are shared between threads, each
 * behind its own mutex (os/thread.h: no pthreads here, so Windows works the
 * same). Everything about the waiting task happens on the loop's thread.
 *
 * A worker's call cannot be interrupted, so when the waiting task is
 * cancelled or times out:
 *   - a job still QUEUED is taken off the queue: it never runs;
 *   - a job already RUNNING is marked abandoned; when its result reaches
 *     the loop, box_drain hands it to the job's discard callback (e.g.
 *     free) and frees the job.
 *
 * The mailbox outlives its loop if it must: it is reference-counted (the
 * loop holds one reference, each job in flight another). When the loop
 * closes, the mailbox is marked closed; a worker that finishes a job for a
 * closed mailbox discards the result itself, on the worker thread, and a
 * worker that picks up a queued job for it skips the call. So a pool may
 * serve several loops and outlive any of them.
 */
#include "coro/park.h"
#include "coro/alloc.h"
#include "os/thread.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

/* How long a worker that just finished a job looks for the next one
 * before it sleeps on the condition variable: a task calling to_thread in
 * a loop submits its next call within a few microseconds, and a worker
 * found awake costs the submitter no futex wake. */
#define WORKER_SPIN_NS 20000

typedef struct mailbox mailbox;
typedef struct pool_job pool_job;

struct pool_job {
    corio_fn fn;
    void *arg;
    void *result;
    corio_discard_fn discard;
    mailbox *box;         /* where the result goes */
    pool_job *next;       /* pool queue, then mailbox list */
    /* pool lock: */
    int queued;           /* 1 while in the pool's queue */
    /* worker only, until delivered: */
    int ran;              /* fn was called */
    /* loop thread only: */
    corio_task *task;     /* the waiting task */
    int done;             /* result delivered, task may take it */
    int abandoned;        /* the task stopped waiting: discard on arrival */
    pool_job *dprev, *dnext; /* mailbox's delivered list */
};

struct mailbox {
    corio_os_mutex *lock;
    corio_loop *loop;
    pool_job *head, *tail; /* results not yet seen by the loop */
    int posted;            /* a box_drain callback is on its way */
    int closed;            /* the loop is closing or gone */
    unsigned refs;         /* the loop's + one per job in flight */
    pool_job *delivered;   /* loop thread only: done, not yet taken */
    corio__post post;      /* the drain, posted to the loop's inbox */
};

struct corio_pool {
    corio_os_mutex *lock;
    corio_os_cond *work;   /* a job was queued, or shutdown */
    pool_job *head, *tail;
    size_t queued;
    atomic_int has_work;   /* a hint for spinning workers: queued or shutdown */
    unsigned max, started, idle;
    corio_os_thread **threads;
    int shutdown;
};

/* What a loop keeps in its pool slot (corio__loop_pool_slot). */
typedef struct loop_pools {
    mailbox *box;
    corio_pool *default_pool;
    unsigned default_threads; /* 0 = the default */
} loop_pools;

/* ---------- the mailbox ---------- */

static void box_unref(mailbox *b)
{
    corio__os_mutex_lock(b->lock);
    int last = --b->refs == 0;
    corio__os_mutex_unlock(b->lock);
    if (last) {
        corio__os_mutex_free(b->lock);
        corio__free(b);
    }
}

static void box_ref(mailbox *b)
{
    corio__os_mutex_lock(b->lock);
    b->refs++;
    corio__os_mutex_unlock(b->lock);
}

static void job_free(pool_job *j)
{
    mailbox *b = j->box;
    corio__free(j);
    box_unref(b);
}

/* A result nobody will take: give it to the discard callback. */
static void job_discard(pool_job *j)
{
    if (j->ran && j->discard) j->discard(j->result);
    job_free(j);
}

/* On the loop's thread: every result the workers delivered since the
 * last drain. */
static void box_drain(corio__post *post)
{
    mailbox *b = (mailbox *)((char *)post - offsetof(mailbox, post));
    corio__os_mutex_lock(b->lock);
    pool_job *j = b->head;
    b->head = b->tail = NULL;
    b->posted = 0;
    corio__os_mutex_unlock(b->lock);
    while (j) {
        pool_job *next = j->next;
        if (j->abandoned) {
            job_discard(j);
        } else {
            j->done = 1;
            /* Kept on a list until the task takes it, so that a loop closed
             * before that frees it too. */
            j->dprev = NULL;
            j->dnext = b->delivered;
            if (b->delivered) b->delivered->dprev = j;
            b->delivered = j;
            /* Not WAITING means its park already ended (cancel, deadline)
             * and it has not run yet: it will find done set. */
            corio__unpark_if_waiting(j->task, 0);
        }
        j = next;
    }
}

static void box_take_delivered(mailbox *b, pool_job *j)
{
    if (j->dprev) j->dprev->dnext = j->dnext; else b->delivered = j->dnext;
    if (j->dnext) j->dnext->dprev = j->dprev;
}

/* On a worker: hand the finished job to its loop. */
static void deliver(pool_job *j)
{
    mailbox *b = j->box;
    corio__os_mutex_lock(b->lock);
    if (b->closed) {
        corio__os_mutex_unlock(b->lock);
        job_discard(j); /* the loop is gone: on this thread */
        return;
    }
    j->next = NULL;
    if (b->tail) b->tail->next = j; else b->head = j;
    b->tail = j;
    /* One post per burst: later results ride along with the first. The
     * loop cannot be freed while we hold the lock with closed == 0 (its
     * close marks the box closed under this lock first), so the post
     * reaches a live loop. The post never allocates: it is a CAS on the
     * loop's inbox, plus the poller's wakeup only if that loop sleeps
     * (coro/loop.c). b->post is reused only after box_drain ran. */
    if (!b->posted) {
        b->posted = 1;
        b->post.fn = box_drain;
        corio__loop_post(b->loop, &b->post);
    }
    corio__os_mutex_unlock(b->lock);
}

/* ---------- workers ---------- */

static void worker_main(void *arg)
{
    corio_pool *p = arg;
    corio__os_mutex_lock(p->lock);
    for (;;) {
        p->idle++;
        if (!p->head && !p->shutdown) { /* spin a little, unlocked */
            corio__os_mutex_unlock(p->lock);
            int64_t end = corio__os_now_ns() + WORKER_SPIN_NS;
            for (unsigned i = 1; !atomic_load_explicit(&p->has_work, memory_order_relaxed); i++)
                if ((i & 31) == 0 && corio__os_now_ns() >= end) break;
            corio__os_mutex_lock(p->lock);
        }
        while (!p->head && !p->shutdown) corio__os_cond_wait(p->work, p->lock);
        p->idle--;
        pool_job *j = p->head;
        if (!j) break; /* shut down and nothing left to run */
        p->head = j->next;
        if (!p->head) p->tail = NULL;
        p->queued--;
        atomic_store_explicit(&p->has_work, p->queued != 0, memory_order_relaxed);
        j->queued = 0;
        corio__os_mutex_unlock(p->lock);

        corio__os_mutex_lock(j->box->lock);
        int skip = j->box->closed; /* nobody is left to want the result */
        corio__os_mutex_unlock(j->box->lock);
        if (!skip) {
            j->result = j->fn(j->arg);
            j->ran = 1;
        }
        deliver(j);

        corio__os_mutex_lock(p->lock);
    }
    corio__os_mutex_unlock(p->lock);
}

/* Queue a job; start a worker if every started one is busy. Called with
 * the pool unlocked. */
static int pool_submit(corio_pool *p, pool_job *j)
{
    int rc = 0;
    corio__os_mutex_lock(p->lock);
    if (p->shutdown) {
        rc = CORIO_ECLOSED;
        goto out;
    }
    j->next = NULL;
    j->queued = 1;
    if (p->tail) p->tail->next = j; else p->head = j;
    p->tail = j;
    p->queued++;
    atomic_store_explicit(&p->has_work, 1, memory_order_relaxed);
    if (p->queued > p->idle && p->started < p->max) {
        corio_os_thread *t = corio__os_thread_start(worker_main, p);
        if (t) {
            p->threads[p->started++] = t;
        } else if (p->started == 0) {
            /* Nobody could ever run it: take it back. */
            p->head = p->tail = NULL;
            p->queued = 0;
            j->queued = 0;
            rc = CORIO_ENOMEM;
            goto out;
        }
    }
    corio__os_cond_signal(p->work);
out:
    corio__os_mutex_unlock(p->lock);
    return rc;
}

/* Take a job back off the queue if no worker has it yet. */
static int pool_withdraw(corio_pool *p, pool_job *j)
{
    int withdrawn = 0;
    corio__os_mutex_lock(p->lock);
    if (j->queued) {
        pool_job **pp = &p->head, *prev = NULL;
        while (*pp != j) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = j->next;
        if (p->tail == j) p->tail = prev;
        p->queued--;
        j->queued = 0;
        withdrawn = 1;
    }
    corio__os_mutex_unlock(p->lock);
    return withdrawn;
}

unsigned corio_cpu_count(void)
{
    int n = corio__os_cpu_count();
    return n > 0 ? (unsigned)n : 1;
}

static unsigned default_threads(void)
{
    int n = corio__os_cpu_count() + 4;
    return n > 32 ? 32 : (unsigned)n;
}

corio_pool *corio_pool_new(unsigned threads)
{
    corio_pool *p = corio__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->max = threads ? threads : default_threads();
    p->threads = corio__calloc(p->max, sizeof *p->threads);
    p->lock = corio__os_mutex_new();
    p->work = corio__os_cond_new();
    if (!p->threads || !p->lock || !p->work) {
        corio__free(p->threads);
        corio__os_mutex_free(p->lock);
        corio__os_cond_free(p->work);
        corio__free(p);
        return NULL;
    }
    return p;
}

void corio_pool_free(corio_pool *p)
{
    if (!p) return;
    corio__os_mutex_lock(p->lock);
    p->shutdown = 1;
    atomic_store_explicit(&p->has_work, 1, memory_order_relaxed);
    unsigned started = p->started;
    corio__os_cond_broadcast(p->work);
    corio__os_mutex_unlock(p->lock);
    /* Workers run what is still queued, then end. */
    for (unsigned i = 0; i < started; i++) corio__os_thread_join(p->threads[i]);
    corio__free(p->threads);
    corio__os_mutex_free(p->lock);
    corio__os_cond_free(p->work);
    corio__free(p);
}

unsigned corio_pool_max_threads(const corio_pool *p)
{
    return p ? p->max : 0;
}

/* ---------- the loop's side ---------- */

static loop_pools *loop_pools_of(corio_loop *l)
{
    void **slot = corio__loop_pool_slot(l);
    if (*slot) return *slot;
    loop_pools *lp = corio__calloc(1, sizeof *lp);
    mailbox *b = corio__calloc(1, sizeof *b);
    corio_os_mutex *m = corio__os_mutex_new();
    if (!lp || !b || !m) {
        corio__free(lp);
        corio__free(b);
        corio__os_mutex_free(m);
        return NULL;
    }
    b->lock = m;
    b->loop = l;
    b->refs = 1; /* the loop's */
    lp->box = b;
    *slot = lp;
    return lp;
}

int corio_default_pool_threads(corio_loop *l, unsigned threads)
{
    if (!l && !(l = corio__loop())) return CORIO_ENOLOOP;
    loop_pools *lp = loop_pools_of(l);
    if (!lp) return CORIO_ENOMEM;
    lp->default_threads = threads;
    corio_pool *p = lp->default_pool;
    if (p) {
        unsigned want = threads ? threads : default_threads();
        corio__os_mutex_lock(p->lock);
        if (want > p->max) {
            corio_os_thread **t = corio__realloc(p->threads, want * sizeof *t);
            if (t) {
                p->threads = t;
                p->max = want;
            }
        } else {
            /* Threads already started are kept (they are joined at
             * shutdown), so the pool never counts fewer than those. */
            p->max = want > p->started ? want : p->started;
        }
        corio__os_mutex_unlock(p->lock);
    }
    return 0;
}

/* Called by corio_loop_close (after it refuses new callbacks): shut the
 * default pool down and free every result that can no longer reach a
 * task. */
void corio__pool_on_loop_close(corio_loop *l)
{
    void **slot = corio__loop_pool_slot(l);
    loop_pools *lp = *slot;
    if (!lp) return;
    *slot = NULL;
    mailbox *b = lp->box;
    corio__os_mutex_lock(b->lock);
    b->closed = 1; /* workers now discard instead of delivering */
    pool_job *j = b->head;
    b->head = b->tail = NULL;
    corio__os_mutex_unlock(b->lock);
    while (j) { /* delivered to the mailbox, never drained */
        pool_job *next = j->next;
        job_discard(j);
        j = next;
    }
    while (b->delivered) { /* drained, but the task never took it */
        pool_job *d = b->delivered;
        box_take_delivered(b, d);
        job_discard(d);
    }
    /* Queued calls are skipped (their mailbox is closed); running ones
     * are waited for: a worker must not outlive the pool it belongs to. */
    corio_pool_free(lp->default_pool);
    box_unref(b);
    corio__free(lp);
}

/* ---------- run_in_executor ---------- */

int corio_run_in_executor_until(corio_pool *pool, corio_fn fn, void *arg,
                                void **result, corio_discard_fn discard,
                                int64_t deadline)
{
    corio_loop *l = corio__loop();
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    if (!fn) return CORIO_EINVAL;
    /* Nothing to do can succeed without suspending, so a task that could
     * not suspend does not even start the call. */
    if (corio__cancel_due(self)) return CORIO_ECANCELED;
    int64_t limit = deadline;
    if (corio__task_park_limit(self) < limit)
        limit = corio__task_park_limit(self);
    if (limit != CORIO_NEVER && limit <= corio_now()) return CORIO_ETIMEDOUT;

    loop_pools *lp = loop_pools_of(l);
    if (!lp) return CORIO_ENOMEM;
    if (!pool) {
        if (!lp->default_pool)
            lp->default_pool = corio_pool_new(lp->default_threads);
        if (!(pool = lp->default_pool)) return CORIO_ENOMEM;
    }
    pool_job *j = corio__calloc(1, sizeof *j);
    if (!j) return CORIO_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->discard = discard;
    j->task = self;
    j->box = lp->box;
    box_ref(j->box);
    int rc = pool_submit(pool, j);
    if (rc != 0) {
        job_free(j);
        return rc;
    }

    do rc = corio__park_on(deadline, "to_thread");
    while (rc == 0 && !j->done); /* only box_drain unparks us with 0 */

    if (j->done) { /* even if our park ended for another reason */
        if (result) *result = j->result;
        box_take_delivered(j->box, j);
        job_free(j);
        return 0;
    }
    if (pool_withdraw(pool, j)) {
        job_free(j); /* never ran */
    } else {
        j->abandoned = 1; /* running: box_drain will discard it */
    }
    return rc;
}

int corio_run_in_executor(corio_pool *pool, corio_fn fn, void *arg,
                          void **result, corio_discard_fn discard)
{
    return corio_run_in_executor_until(pool, fn, arg, result, discard,
                                       CORIO_NEVER);
}

int corio_to_thread_until(corio_fn fn, void *arg, void **result,
                          corio_discard_fn discard, int64_t deadline)
{
    return corio_run_in_executor_until(NULL, fn, arg, result, discard,
                                       deadline);
}

int corio_to_thread(corio_fn fn, void *arg, void **result,
                    corio_discard_fn discard)
{
    return corio_run_in_executor(NULL, fn, arg, result, discard);
}
