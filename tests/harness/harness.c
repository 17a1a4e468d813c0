/*
 * harness.c — the runner behind tests/harness/criterion/criterion.h, used
 * where Criterion does not exist (TARGET=windows, TARGET=aarch64).
 *
 * It runs every registered Test() in this one process, one after another,
 * sorted by suite then name. It prints one line per failed check (file:line,
 * test, what was false, the message), and ends with exactly
 *
 *     N passed, N failed            or     N passed, N failed, N skipped
 *
 * exiting with status 1 when anything failed.
 *
 * Options (a subset of Criterion's):
 *     --filter PATTERN   run only the tests whose "suite/name" matches;
 *                        `*` matches any run of characters, `?` one.
 *     --timeout SECONDS  limit for tests that set no .timeout (default: none)
 *     --list, -l         print the tests' names and exit
 *     --verbose          print each test's name as it starts
 *     -jN, --jobs N      accepted for Criterion's sake; tests run one by one
 *
 * How one test runs:
 *
 *     main thread              test thread                phase contexts
 *     -----------              -----------                --------------
 *     start thread  ------->   run_phase(init)  --swap->  init()
 *     wait (timeout)           run_phase(test)  --swap->  test body, tasks...
 *                              run_phase(fini)  --swap->  fini()
 *     collect result  <-----   done
 *
 * Why a thread per test: corio keeps the thread's loop in a thread-local
 * variable. A test that dies half way leaves its loop behind; a new thread
 * gives the next test a clean one, as Criterion's process per test does.
 * It also lets the main thread stop waiting when a test hangs.
 *
 * Why a context per phase: a cr_assert can fail on any stack, and in this
 * project usually fails inside a task, on the task's own stack. longjmp
 * from there back to the runner's stack is not safe everywhere (on Windows
 * it leaves the thread's stack bounds pointing at the task's stack, and
 * mingw's longjmp unwinds through frames it cannot describe). corio's own
 * context switch handles exactly that case, so each phase runs on a
 * context of its own and a fatal failure simply switches back to the test
 * thread, abandoning the phase's stack and any task stacks above it.
 * Abandoned stacks are never freed: a loop or a worker thread may still
 * point into them. That leak only happens to a test that has failed.
 */
#include <criterion/criterion.h>

#include "coro/switch.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <pthread.h>
#include <time.h>
#endif

/* ThreadSanitizer (make test-tsan runs this harness natively, since
 * Criterion cannot start under TSan: Snaipe/Criterion#274) must hear of
 * each switch between the test thread's stack and a phase's, as corio's
 * scheduler tells it of each task switch (coro/sched.h). */
#if defined(__SANITIZE_THREAD__)
#define HARNESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HARNESS_TSAN 1
#endif
#endif
#ifdef HARNESS_TSAN
#include <sanitizer/tsan_interface.h>
#define TSAN_SWITCH(fiber) __tsan_switch_to_fiber((fiber), 0)
/* phase_entry returns after switching back: its own function exit must
 * not be counted on the test thread's shadow stack. */
#define NO_TSAN __attribute__((no_sanitize_thread))
#else
#define TSAN_SWITCH(fiber) ((void)(fiber))
#define NO_TSAN
#endif

/* Each phase's stack: as large as a usual main thread's. The memory is
 * only touched as deep as the test goes. */
#define PHASE_STACK_SIZE ((size_t)8 << 20)

/* ---------- the registry ---------- */

static struct cr_harness_test *registry;   /* sorted by suite, then name */

static int test_order(const struct cr_harness_test *a,
                      const struct cr_harness_test *b) {
    int c = strcmp(a->suite, b->suite);
    return c ? c : strcmp(a->name, b->name);
}

/* Called by each Test()'s constructor, before main. */
void cr_harness_register(struct cr_harness_test *t) {
    struct cr_harness_test **p = &registry;
    while (*p && test_order(*p, t) < 0)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
}

/* ---------- one test run ---------- */

enum outcome { PHASE_DONE, PHASE_ABORTED, PHASE_SKIPPED };

struct run {                       /* one test's run; leaked if it hangs */
    struct cr_harness_test *test;
    atomic_int failures;           /* failed checks so far */
    atomic_int skipped;            /* cr_skip_test was called */
    int done;                      /* the test thread finished (locked) */
};

struct phase {                     /* init, the test body, or fini */
    void (*fn)(void);
    corio_ctx self;                /* the phase's own context */
    corio_ctx back;                /* the test thread, waiting for it */
    enum outcome outcome;
    void *fiber, *back_fiber;      /* TSan's names for self and back */
};

/* The run the main thread is waiting for. Checks made on threads the
 * harness did not start (a thread pool worker, say) are counted here. */
static struct run *_Atomic current_run;
/* On a test thread: its run, and the phase now running (NULL between
 * phases). Tasks run on their loop's thread, so they see these too. */
static _Thread_local struct run *this_run;
static _Thread_local struct phase *this_phase;

/* ---------- output ---------- */

static int verbose;
static int passed, failed, skipped_count;
static int hung;                   /* test threads still running */

/* Print one whole line at once, so that lines from two threads never mix. */
CR_HARNESS_PRINTF(1, 2)
static void say(const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stdout, "%s\n", line);
    fflush(stdout);
}

/* The closing line, then exit. With a hung test thread still running, exit
 * without running atexit handlers under its feet. */
static _Noreturn void finish(void) {
    if (skipped_count)
        say("%d passed, %d failed, %d skipped", passed, failed, skipped_count);
    else
        say("%d passed, %d failed", passed, failed);
    int status = failed ? 1 : 0;
    if (hung)
        _Exit(status);
    exit(status);
}

static struct run *my_run(void) {
    return this_run ? this_run : atomic_load(&current_run);
}

/* The user's message arrives as " " followed by their format (see
 * criterion.h); a lone space means there is none. */
CR_HARNESS_PRINTF(3, 0)
static void format_message(char *buf, size_t cap, const char *fmt,
                           va_list ap) {
    vsnprintf(buf, cap, fmt, ap);
    if (buf[0] == ' ' && buf[1] == '\0')
        buf[0] = '\0';
}

static void report_line(const char *file, int line, const char *what,
                        const char *msg) {
    struct run *r = my_run();
    if (r)
        atomic_fetch_add(&r->failures, 1);
    const char *suite = r ? r->test->suite : "?";
    const char *name = r ? r->test->name : "?";
    /* msg is "" or " text" (its leading space is the separator). */
    say("%s:%d: %s/%s: %s%s%s", file, line, suite, name, what,
        msg[0] ? ":" : "", msg);
}

void cr_harness_report(const char *file, int line, const char *what,
                       const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    format_message(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report_line(file, line, what, msg);
}

void cr_harness_report_str(const char *file, int line, const char *what,
                           const char *a, const char *b, const char *fmt,
                           ...) {
    char msg[1024], full[1536];
    va_list ap;
    va_start(ap, fmt);
    format_message(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s (\"%s\" vs \"%s\")", what,
             a ? a : "(null)", b ? b : "(null)");
    report_line(file, line, full, msg);
}

int cr_harness_str_equal(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

void cr_harness_log(const char *level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct run *r = my_run();
    say("%s: %s/%s: %s", level, r ? r->test->suite : "?",
        r ? r->test->name : "?", msg);
}

/* ---------- ending a phase early ---------- */

static _Noreturn void end_phase(enum outcome outcome) {
    struct phase *ph = this_phase;
    if (!ph) {
        /* A thread of the test's own (not the test thread) cannot be
         * stopped from here, and going on past a failed assert is not
         * safe either: stop the whole run. */
        say("a fatal check failed outside the test's thread: "
            "the run stops here");
        failed++;
        hung++;
        finish();
    }
    ph->outcome = outcome;
    TSAN_SWITCH(ph->back_fiber);
    corio__ctx_swap(&ph->self, &ph->back);   /* never resumed */
    abort();
}

_Noreturn void cr_harness_abort_test(void) {
    end_phase(PHASE_ABORTED);
}

_Noreturn void cr_harness_skip(const char *file, int line, const char *fmt,
                               ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    format_message(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct run *r = my_run();
    if (r)
        atomic_store(&r->skipped, 1);
    say("%s:%d: %s/%s: skipped%s%s", file, line, r ? r->test->suite : "?",
        r ? r->test->name : "?", msg[0] ? ":" : "", msg);
    end_phase(PHASE_SKIPPED);
}

/* ---------- running phases on their own contexts ---------- */

NO_TSAN static corio_ctx *phase_entry(void *arg) {
    struct phase *ph = arg;
    ph->fn();
    ph->outcome = PHASE_DONE;
    TSAN_SWITCH(ph->back_fiber);
    return &ph->back;                       /* back to run_phase, for good */
}

static enum outcome run_phase(void (*fn)(void)) {
    struct phase ph = { .fn = fn, .outcome = PHASE_ABORTED };
    void *stack = malloc(PHASE_STACK_SIZE);
    if (!stack) {
        report_line(__FILE__, __LINE__, "no memory for the test's stack", "");
        return PHASE_ABORTED;
    }
    corio__ctx_make(&ph.self, stack, PHASE_STACK_SIZE, phase_entry, &ph);
    this_phase = &ph;
#ifdef HARNESS_TSAN
    ph.back_fiber = __tsan_get_current_fiber();
    ph.fiber = __tsan_create_fiber(0);
#endif
    TSAN_SWITCH(ph.fiber);
    corio__ctx_swap(&ph.back, &ph.self);     /* returns when it ends */
    this_phase = NULL;
#ifdef HARNESS_TSAN
    __tsan_destroy_fiber(ph.fiber);          /* we are off it, done or not */
#endif
    if (ph.outcome == PHASE_DONE)
        free(stack);            /* an abandoned stack is kept: see the top */
    return ph.outcome;
}

/* The body of a test thread: init, then the test, then fini. fini runs
 * whenever init completed, even after the test failed, as in Criterion. */
static void run_test_phases(struct run *r) {
    const struct cr_harness_extra *x = &r->test->extra;
    this_run = r;
    if (x->init && run_phase(x->init) != PHASE_DONE)
        return;
    run_phase(r->test->fn);
    if (x->fini)
        run_phase(x->fini);
}

/* ---------- the test thread: start it, wait for it (with a limit) ---------- */

#ifdef _WIN32

typedef HANDLE test_thread;

static DWORD WINAPI test_thread_main(LPVOID arg) {
    run_test_phases(arg);
    return 0;
}

static int start_test_thread(test_thread *t, struct run *r) {
    *t = CreateThread(NULL, 0, test_thread_main, r, 0, NULL);
    return *t != NULL;
}

/* 1 if the thread ended, 0 if `seconds` (> 0) passed first. */
static int wait_test_thread(test_thread t, struct run *r, double seconds) {
    (void)r;
    DWORD ms = seconds > 0 ? (DWORD)(seconds * 1000.0 + 0.5) : INFINITE;
    int ended = WaitForSingleObject(t, ms) == WAIT_OBJECT_0;
    CloseHandle(t);             /* does not stop a thread that is still running */
    return ended;
}

#else

typedef pthread_t test_thread;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond;    /* on CLOCK_MONOTONIC, set up in main */

static void *test_thread_main(void *arg) {
    struct run *r = arg;
    run_test_phases(r);
    pthread_mutex_lock(&done_lock);
    r->done = 1;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&done_lock);
    return NULL;
}

static int start_test_thread(test_thread *t, struct run *r) {
    return pthread_create(t, NULL, test_thread_main, r) == 0;
}

static int wait_test_thread(test_thread t, struct run *r, double seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double whole = (double)(long)seconds;
    deadline.tv_sec += (time_t)whole;
    deadline.tv_nsec += (long)((seconds - whole) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&done_lock);
    while (!r->done) {
        if (seconds <= 0)
            pthread_cond_wait(&done_cond, &done_lock);
        else if (pthread_cond_timedwait(&done_cond, &done_lock, &deadline)
                 == ETIMEDOUT)
            break;
    }
    int ended = r->done;
    pthread_mutex_unlock(&done_lock);
    if (ended)
        pthread_join(t, NULL);
    else
        pthread_detach(t);      /* it keeps running; we stop waiting */
    return ended;
}

static void init_done_cond(void) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&done_cond, &a);
    pthread_condattr_destroy(&a);
}

#endif

/* Run one test and count its result. */
static void run_test(struct cr_harness_test *t, double default_timeout) {
    struct run *r = calloc(1, sizeof *r);
    if (!r) {
        say("%s:%d: %s/%s: no memory to run it", t->file, t->line, t->suite,
            t->name);
        failed++;
        return;
    }
    r->test = t;
    double timeout = t->extra.timeout > 0 ? t->extra.timeout : default_timeout;
    if (verbose)
        say("run: %s/%s", t->suite, t->name);

    atomic_store(&current_run, r);
    test_thread th;
    if (!start_test_thread(&th, r)) {
        say("%s:%d: %s/%s: cannot start a thread for it", t->file, t->line,
            t->suite, t->name);
        failed++;
        free(r);
        return;
    }
    int ended = wait_test_thread(th, r, timeout);
    atomic_store(&current_run, NULL);

    if (!ended) {
        say("%s:%d: %s/%s: timed out after %g s", t->file, t->line, t->suite,
            t->name, timeout);
        failed++;
        hung++;                 /* r stays allocated: its thread still uses it */
        return;
    }
    if (atomic_load(&r->failures))
        failed++;
    else if (atomic_load(&r->skipped))
        skipped_count++;
    else
        passed++;
    free(r);
}

/* ---------- command line ---------- */

/* Glob match: `*` any run of characters (including none), `?` any one. */
static int glob_match(const char *p, const char *s) {
    if (*p == '\0')
        return *s == '\0';
    if (*p == '*')
        return glob_match(p + 1, s) || (*s && glob_match(p, s + 1));
    if (*s && (*p == '?' || *p == *s))
        return glob_match(p + 1, s + 1);
    return 0;
}

static int selected(const struct cr_harness_test *t, const char *filter) {
    char full[512];
    if (!filter)
        return 1;
    snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
    return glob_match(filter, full);
}

static void usage(const char *prog) {
    fprintf(stderr,
            "usage: %s [--filter PATTERN] [--timeout SECONDS] [--list] "
            "[--verbose]\n"
            "  PATTERN matches \"suite/name\"; * matches anything, ? one "
            "character\n", prog);
}

/* `--opt VALUE` or `--opt=VALUE`: the value, or NULL if argv[*i] is not opt. */
static const char *option_value(int argc, char **argv, int *i,
                                const char *opt) {
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int main(int argc, char **argv) {
    const char *filter = NULL, *v;
    double default_timeout = 0;
    int list = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((v = option_value(argc, argv, &i, "--filter")))
            filter = v;
        else if ((v = option_value(argc, argv, &i, "--timeout")))
            default_timeout = atof(v);
        else if (!strcmp(a, "--list") || !strcmp(a, "-l"))
            list = 1;
        else if (!strcmp(a, "--verbose"))
            verbose = 1;
        else if (!strcmp(a, "--jobs") && i + 1 < argc)
            i++;                /* Criterion's parallelism: ignored */
        else if (!strncmp(a, "-j", 2) || !strncmp(a, "--jobs=", 7))
            continue;
        else {
            usage(argv[0]);
            return 2;
        }
    }

    if (list) {
        for (struct cr_harness_test *t = registry; t; t = t->next)
            if (selected(t, filter))
                printf("%s/%s\n", t->suite, t->name);
        return 0;
    }

#ifndef _WIN32
    init_done_cond();
#endif
    int matched = 0;
    for (struct cr_harness_test *t = registry; t; t = t->next) {
        if (!selected(t, filter))
            continue;
        matched++;
        run_test(t, default_timeout);
    }
    if (filter && !matched)
        say("no test matches \"%s\"", filter);
    finish();
}
