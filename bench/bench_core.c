/*
 * bench_core.c — the machine room's figures, beside pthreads, in one run.
 *
 * Every figure is the best of several repetitions (the least disturbed by
 * the other core's noise), printed as name=value. Lines starting with '#'
 * say what was measured. The benchmark never fails on a target: it
 * reports.
 *
 * The repetitions are interleaved: one of every figure, then the next
 * round. The host is shared, and a disturbance lasts seconds: measured
 * back to back, all the repetitions of one figure could fall into the
 * same disturbed second; spread over the whole run, each figure gets a
 * quiet moment as often as the others.
 *
 *   switch_ns               raw corio__ctx_swap, one direction, between two
 *                           contexts running the same code (as tasks do)
 *   switch_asym_ns          the classic ping-pong between different code
 *   yield_ns                two tasks yielding to each other, per switch
 *   spawn_join_ns           spawn + join of an empty task (pooled stack)
 *   handoff_ns              one task wakes another through park/unpark
 *                           (the two tasks run different code, as a
 *                           producer and a consumer do)
 *   handoff_same_code_ns    the same with both tasks running one function:
 *                           the difference is the one return per handoff
 *                           that the CPU mispredicts when the code differs
 *                           (see switch_x86_64_sysv.S)
 *   parked_task_bytes       resident memory per parked task, 1,000,000
 *                           tasks, dense stacks of 16 KiB (RSS + page tables)
 *   pthread_create_join_ns  the same as spawn_join with threads
 *   pthread_handoff_ns      mutex + condvar hand-off between two threads
 */
#include <corio.h>
#include "coro/park.h"
#include "coro/switch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 7

static int64_t now_ns(void) { return corio_now(); }

static double best(double a, double b) { return a < b ? a : b; }

/* ---------- switch_ns: two raw contexts ping-ponging ----------
 *
 * switch_ns: two contexts run the SAME loop and switch to each other, as
 * two corio tasks running the same code do (their switches all happen in
 * dispatch() in sched.c). The CPU's return-stack buffer then predicts every
 * `ret` correctly, see switch_x86_64_sysv.S.
 * switch_asym_ns: the classic ping-pong between the bench's main loop and
 * another function, where the `ret` of each switch is mispredicted. */

static corio_ctx main_ctx, ctx_a, ctx_b;

typedef struct { corio_ctx *self, *other; long n; } side;

static corio_ctx *same_loop(void *arg)
{
    side *s = arg;
    for (long i = 0; i < s->n; i++) corio__ctx_swap(s->self, s->other);
    return &main_ctx; /* side A ends the run; side B never gets here */
}

static corio_ctx *other_loop(void *arg)
{
    (void)arg;
    for (;;) corio__ctx_swap(&ctx_b, &main_ctx);
    return NULL; /* never: main stops calling */
}

#define SWITCH_ROUNDS 2000000L
static char stack_a[64 * 1024] __attribute__((aligned(16)));
static char stack_b[64 * 1024] __attribute__((aligned(16)));

/* One repetition of each; the driver below keeps the best. */
static double bench_switch_symmetric(void)
{
    /* B makes one more switch than A so that A finishes its loop. */
    side a = { &ctx_a, &ctx_b, SWITCH_ROUNDS }, b = { &ctx_b, &ctx_a, SWITCH_ROUNDS + 1 };
    corio__ctx_make(&ctx_a, stack_a, sizeof stack_a, same_loop, &a);
    corio__ctx_make(&ctx_b, stack_b, sizeof stack_b, same_loop, &b);
    int64_t t0 = now_ns();
    corio__ctx_swap(&main_ctx, &ctx_a);
    return (double)(now_ns() - t0) / (2.0 * SWITCH_ROUNDS);
}

static double bench_switch_asymmetric(void)
{
    /* other_loop never ends: a fresh context each time, the old one is
     * simply abandoned (it holds nothing). */
    corio__ctx_make(&ctx_b, stack_b, sizeof stack_b, other_loop, NULL);
    int64_t t0 = now_ns();
    for (long i = 0; i < SWITCH_ROUNDS; i++) corio__ctx_swap(&main_ctx, &ctx_b);
    return (double)(now_ns() - t0) / (2.0 * SWITCH_ROUNDS);
}

/* ---------- yield_ns ---------- */

#define YIELDS 2000000

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < YIELDS; i++) corio_yield();
    return NULL;
}

static void *yield_main(void *arg)
{
    double *out = arg;
    corio_task *a = corio_spawn(yielder, NULL, NULL);
    corio_task *b = corio_spawn(yielder, NULL, NULL);
    int64_t t0 = now_ns();
    corio_join(a, NULL);
    corio_join(b, NULL);
    *out = (double)(now_ns() - t0) / (2.0 * YIELDS);
    return NULL;
}

/* ---------- spawn_join_ns ---------- */

#define SPAWNS 1000000

static void *empty(void *arg) { return arg; }

static void *spawn_main(void *arg)
{
    double *out = arg;
    corio_join(corio_spawn(empty, NULL, NULL), NULL); /* warm the pool */
    int64_t t0 = now_ns();
    for (int i = 0; i < SPAWNS; i++) corio_join(corio_spawn(empty, NULL, NULL), NULL);
    *out = (double)(now_ns() - t0) / SPAWNS;
    return NULL;
}

/* ---------- handoff_ns: park/unpark ping-pong ---------- */

#define HANDOFFS 2000000
static corio_task *ping_task, *pong_task;

static void *ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < HANDOFFS / 2; i++) {
        corio__park_on(CORIO_NEVER, "handoff");
        corio__unpark(ping_task, 0);
    }
    return NULL;
}

/* handoff_same_code_ns: two children run same_code_side; main starts the
 * ball and waits. Each parks, then wakes the other. */
static corio_task *same_code_tasks[2];
static int64_t same_code_end;

static void *same_code_side(void *arg)
{
    corio_task *other = same_code_tasks[(intptr_t)arg ^ 1];
    for (int i = 0; i < HANDOFFS / 2; i++) {
        if (corio__park_on(CORIO_NEVER, "handoff") != 0) return NULL;
        corio__unpark_if_waiting(other, 0); /* the last wake finds it done */
    }
    if (!same_code_end) same_code_end = now_ns();
    return NULL;
}

static void *handoff_same_code_main(void *arg)
{
    double *out = arg;
    for (intptr_t i = 0; i < 2; i++)
        same_code_tasks[i] = corio_spawn(same_code_side, (void *)i, NULL);
    corio_yield(); /* both park */
    same_code_end = 0;
    int64_t t0 = now_ns();
    corio__unpark(same_code_tasks[0], 0);
    corio_join(same_code_tasks[0], NULL);
    corio_cancel(same_code_tasks[1]); /* it parks once more, for nobody */
    corio_join(same_code_tasks[1], NULL);
    *out = (double)(same_code_end - t0) / HANDOFFS;
    return NULL;
}

static void *handoff_main(void *arg)
{
    double *out = arg;
    ping_task = corio_current();
    pong_task = corio_spawn(ponger, NULL, NULL);
    corio_yield(); /* pong parks */
    int64_t t0 = now_ns();
    for (int i = 0; i < HANDOFFS / 2; i++) {
        corio__unpark(pong_task, 0);
        corio__park_on(CORIO_NEVER, "handoff");
    }
    *out = (double)(now_ns() - t0) / HANDOFFS;
    corio_join(pong_task, NULL);
    return NULL;
}

/* ---------- parked_task_bytes ---------- */

#define PARKED 1000000

static void *park_forever(void *arg)
{
    (void)arg;
    corio_sleep(CORIO_SEC(3600));
    return NULL;
}

/* Resident set + page tables, in bytes, from /proc/self/status. */
static long memory_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long rss = -1, pte = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) rss = atol(line + 6) * 1024;
        if (!strncmp(line, "VmPTE:", 6)) pte = atol(line + 6) * 1024;
    }
    fclose(f);
    return rss < 0 ? -1 : rss + pte;
}

static long parked_before, parked_after;

static void *parked_main(void *arg)
{
    (void)arg;
    corio_task **t = malloc(sizeof *t * PARKED);
    parked_before = memory_bytes();
    for (int i = 0; i < PARKED; i++) {
        t[i] = corio_spawn(park_forever, NULL, NULL);
        if (!t[i]) {
            fprintf(stderr, "# spawn %d failed\n", i);
            exit(1);
        }
    }
    corio_sleep(CORIO_MS(1)); /* every task runs and parks */
    parked_after = memory_bytes();
    for (int i = 0; i < PARKED; i++) corio_cancel(t[i]);
    for (int i = 0; i < PARKED; i++) corio_join(t[i], NULL);
    free(t);
    return NULL;
}

/* ---------- pthread baselines ---------- */

static void *thread_empty(void *arg) { return arg; }

static double bench_pthread_create_join(void)
{
    int n = 20000;
    int64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        pthread_t th;
        pthread_create(&th, NULL, thread_empty, NULL);
        pthread_join(th, NULL);
    }
    return (double)(now_ns() - t0) / n;
}

static pthread_mutex_t hm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hc = PTHREAD_COND_INITIALIZER;
static int turn; /* whose turn: 0 or 1 */
static int thread_handoffs;

static void *thread_ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < thread_handoffs / 2; i++) {
        pthread_mutex_lock(&hm);
        while (turn != 1) pthread_cond_wait(&hc, &hm);
        turn = 0;
        pthread_cond_signal(&hc);
        pthread_mutex_unlock(&hm);
    }
    return NULL;
}

static double bench_pthread_handoff(void)
{
    thread_handoffs = 100000;
    turn = 0;
    pthread_t th;
    pthread_create(&th, NULL, thread_ponger, NULL);
    int64_t t0 = now_ns();
    for (int i = 0; i < thread_handoffs / 2; i++) {
        pthread_mutex_lock(&hm);
        turn = 1;
        pthread_cond_signal(&hc);
        while (turn != 0) pthread_cond_wait(&hc, &hm);
        pthread_mutex_unlock(&hm);
    }
    double r = (double)(now_ns() - t0) / thread_handoffs;
    pthread_join(th, NULL);
    return r;
}

/* ---------- driver ---------- */

/* One repetition of a figure measured inside a task. */
static double run_in_loop(corio_fn fn)
{
    double v = 0;
    corio_run(fn, &v, NULL);
    return v;
}

static double best_of_reps(double (*once)(void))
{
    double r = 1e18;
    for (int rep = 0; rep < REPS; rep++) r = best(r, once());
    return r;
}

/* `bench_core --switch-only` prints just this build's switch, named after
 * it (switch_ns_ucontext=…): make bench runs it for every other switch it
 * can build and run on this machine. */
static int switch_only(void)
{
    char name[64];
    snprintf(name, sizeof name, "%s", corio_switch_name());
    for (char *c = name; *c; c++)
        if (*c == '-') *c = '_';
    printf("switch_ns_%s=%.2f\n", name, best_of_reps(bench_switch_symmetric));
    printf("switch_asym_ns_%s=%.2f\n", name, best_of_reps(bench_switch_asymmetric));
    return 0;
}

int main(int argc, char **argv)
{
    /* Warm up the core (clock ramp, caches) before the first figure. */
    for (int64_t t0 = now_ns(); now_ns() - t0 < 300000000;) {
    }
    if (argc > 1 && strcmp(argv[1], "--switch-only") == 0) return switch_only();
    printf("# corio core benchmark: switch=%s backend=%s, best of %d interleaved "
           "rounds\n", corio_switch_name(), corio_backend_name(), REPS);
    double sw = 1e18, swa = 1e18, y = 1e18, sj = 1e18, h = 1e18, hs = 1e18;
    double pcj = 1e18, ph = 1e18;
    for (int rep = 0; rep < REPS; rep++) {
        sw = best(sw, bench_switch_symmetric());
        swa = best(swa, bench_switch_asymmetric());
        y = best(y, run_in_loop(yield_main));
        sj = best(sj, run_in_loop(spawn_main));
        h = best(h, run_in_loop(handoff_main));
        hs = best(hs, run_in_loop(handoff_same_code_main));
        pcj = best(pcj, bench_pthread_create_join());
        ph = best(ph, bench_pthread_handoff());
    }

    corio_config cfg = { .stack_mode = CORIO_STACK_DENSE, .stack_size = 16 * 1024 };
    corio_loop *l = corio_loop_new(&cfg);
    corio_task *m = corio_loop_spawn(l, parked_main, NULL, NULL);
    corio_loop_run_until_complete(l, m, NULL);
    corio_loop_close(l);
    double ptb = (double)(parked_after - parked_before) / PARKED;

    printf("switch_ns=%.2f\n", sw);
    printf("switch_asym_ns=%.2f\n", swa);
    printf("yield_ns=%.2f\n", y);
    printf("spawn_join_ns=%.2f\n", sj);
    printf("handoff_ns=%.2f\n", h);
    printf("handoff_same_code_ns=%.2f\n", hs);
    printf("parked_task_bytes=%.0f\n", ptb);
    printf("pthread_create_join_ns=%.0f\n", pcj);
    printf("pthread_handoff_ns=%.0f\n", ph);
    printf("spawn_join_speedup_vs_pthread=%.0f\n", pcj / sj);
    printf("handoff_speedup_vs_pthread=%.0f\n", ph / h);
    printf("# targets: switch_ns<=5 yield_ns<=10 spawn_join_ns<=40 handoff_ns<=20 "
           "parked_task_bytes<=4608 spawn_join_speedup_vs_pthread>=500\n");
    return 0;
}
