/*
 * test_stack.c — stack overflow is reported, never silent; dense stacks
 * catch a trampled canary; stacks are reused.
 *
 * A crash cannot be tested in the test process itself, so each case runs in
 * a child process and the parent checks how it died and what it printed.
 */
#include <criterion/criterion.h>
#include <corio.h>
#include <stdint.h>
#include <string.h>

#ifndef _WIN32
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run fn in a child with stderr captured; returns the wait status. */
static int in_child(void (*fn)(void), char *err, size_t cap)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* The test framework's crash handlers are inherited; a crash in
         * this child must not be reported through them (it would talk on
         * the framework's channel), so restore the defaults. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        dup2(p[1], 2);
        close(p[0]);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(p[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    return status;
}

/* Recursion the compiler cannot see is endless (the limit is a volatile
 * read), so it neither warns nor turns it into a loop. */
static volatile int depth_limit = 1 << 30;
static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    if (n >= depth_limit) return 0;
    return recurse(n + 1) + pad[0];
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)recurse(0);
}

static void overflow_guarded(void)
{
    corio_loop *l = corio_loop_new(NULL);
    corio_task_opts o = { .name = "deep-recursion", .stack_size = 64 * 1024 };
    corio_task *t = corio_loop_spawn(l, overflow, NULL, &o);
    corio_loop_run_until_complete(l, t, NULL);
}

Test(stack, overflow_names_the_task_and_its_stack_size)
{
    char err[1024];
    int st = in_child(overflow_guarded, err, sizeof err);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
              "child should abort, status 0x%x, stderr: %s", st, err);
    cr_assert(strstr(err, "corio: stack overflow in task 'deep-recursion'"), "stderr: %s", err);
    cr_assert(strstr(err, "it had 65536 bytes of stack"), "stderr: %s", err);
}

/* Write one contiguous 18 KiB array on a 16 KiB dense stack (no guard
 * page: the writes run into the neighbouring stack of the slab), return,
 * and switch out: the canary check must catch it. One array, not deep
 * recursion, so that no word below the stack is skipped by frame padding. */
/* Not instrumented: with ASan's use-after-return detection the array
 * would live on ASan's fake stack (heap), not below the real one. */
static __attribute__((noinline, no_sanitize_address)) void write_18k(void)
{
    volatile char big[18 * 1024];
    for (size_t i = 0; i < sizeof big; i++) big[i] = 0x5A;
}

static void *trample(void *arg)
{
    (void)arg;
    write_18k();
    corio_yield();
    return NULL;
}

static void *trample_guard_stack(void *arg) { return arg; }

static void trample_dense(void)
{
    corio_config cfg = { .stack_mode = CORIO_STACK_DENSE, .stack_size = 16 * 1024 };
    corio_loop *l = corio_loop_new(&cfg);
    corio_task_opts o = { .name = "trampler" };
    /* Dense stacks are handed out from the slab's low end: a first task
     * takes the lowest one, so the trampler's overflow lands in mapped
     * memory (that first, idle stack) rather than below the slab. */
    corio_task *first = corio_loop_spawn(l, trample_guard_stack, NULL, NULL);
    corio_task *t = corio_loop_spawn(l, trample, NULL, &o);
    (void)first;
    corio_loop_run_until_complete(l, t, NULL);
}

Test(stack, dense_canary_catches_overflow_at_the_switch)
{
    char err[1024];
    int st = in_child(trample_dense, err, sizeof err);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status 0x%x, stderr: %s", st, err);
    cr_assert(strstr(err, "stack overflow in task 'trampler'"), "stderr: %s", err);
    cr_assert(strstr(err, "dense stack mode"), "stderr: %s", err);
}

/* ---- a frame larger than the guard ----
 *
 * The same 300 KiB local on a 64 KiB stack, built two ways: here without
 * stack-clash protection (the Makefile says -fno-stack-clash-protection
 * for this file), so one instruction moves the stack pointer ~240 KiB past
 * a one-page guard and the first store faults below the whole mapping; in
 * test_stack_clash.c with it, so the probes meet the guard page by page. */
void corio_test_big_frame_probed(void);

/* The default guard (coro/stack.h): 64 KiB on AArch64, where gcc's
 * stack-clash probes are 64 KiB apart; one page elsewhere. */
#if defined(__aarch64__)
#define DEFAULT_GUARD "65536"
#else
#define DEFAULT_GUARD "4096"
#endif

static __attribute__((noinline, no_sanitize_address)) void big_frame_plain(void)
{
    volatile char big[300 * 1024];
    big[0] = 1; /* the far (lowest) end first */
    big[sizeof big - 1] = big[0];
}

static size_t child_guard; /* the stack_guard the next child configures */
static void (*child_frame)(void);
static bool child_reserve; /* make sure nothing is mapped below the guard */

/*
 * An unprobed frame larger than the guard stores below the whole stack
 * mapping. If something is mapped there (under ASan, often), the store
 * lands in it and nothing faults: the silent case no handler can see, and
 * the reason for -fstack-clash-protection. To test the case the handler
 * CAN see, the task first reserves 512 KiB below its guard, inaccessible
 * (what an unmapped gap gives, made certain). If that space is taken, the
 * task parks holding its stack (so that the next one is mapped elsewhere:
 * the kernel fills the highest free gap first) and another is tried; after
 * MAX_TRIES the child says so and the test is skipped.
 */
#define RESERVE_BELOW ((size_t)512 << 10) /* the store lands ~240 KiB below */
#define MAX_TRIES 64
#define CHILD_SKIP 77

/* Does any mapping of /proc/self/maps overlap [a, b)? Sets *lo to the
 * start of the mapping that holds `at`. */
static bool mapped_between(uintptr_t at, uintptr_t *lo, uintptr_t a, uintptr_t b)
{
    bool overlap = false;
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long x, y;
        if (sscanf(line, "%lx-%lx", &x, &y) != 2) continue;
        if (at >= x && at < y) *lo = x;
        if (x < b && y > a) overlap = true;
    }
    if (f) fclose(f);
    return overlap;
}

static bool reserve_below_stack(void)
{
    /* The frame address, not a local's: under ASan's use-after-return
     * detection locals live on its fake stack, on the heap. */
    uintptr_t at = (uintptr_t)__builtin_frame_address(0), lo = 0;
    size_t guard = child_guard ? child_guard : (size_t)strtoul(DEFAULT_GUARD, NULL, 10);
    if (guard < (size_t)sysconf(_SC_PAGESIZE)) guard = (size_t)sysconf(_SC_PAGESIZE);
    (void)mapped_between(at, &lo, 0, 0);
    if (!lo) return false;
    uintptr_t want = lo - guard - RESERVE_BELOW;
    errno = 0;
    void *got = mmap((void *)want, RESERVE_BELOW, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == (void *)want) return true;
    if (got != MAP_FAILED) munmap(got, RESERVE_BELOW); /* taken as a hint */
    /* Where MAP_FIXED_NOREPLACE is not honoured (qemu-user, old kernels):
     * free by the maps, then MAP_FIXED (nothing else maps in this child). */
    if ((got == MAP_FAILED && errno == EEXIST) || mapped_between(at, &lo, want, lo - guard)) return false;
    got = mmap((void *)want, RESERVE_BELOW, PROT_NONE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return got == (void *)want;
}

static corio_event taken, never;

static void *run_big_frame(void *arg)
{
    void (*frame)(void) = (void (*)(void))(uintptr_t)arg;
    if (child_reserve && !reserve_below_stack()) {
        corio_event_set(&taken);
        corio_event_wait(&never); /* keep this stack mapped */
        return NULL;
    }
    frame();
    /* Still here: the store below the stack hit mapped memory. */
    fprintf(stderr, "the frame larger than the guard did not fault\n");
    _exit(3);
}

/* Spawn big-frame tasks until one has free space below its stack (its
 * frame then ends the process). */
static void *find_a_free_gap(void *arg)
{
    (void)arg;
    corio_event_init(&taken);
    corio_event_init(&never);
    for (int i = 0; i < MAX_TRIES; i++) {
        corio_event_clear(&taken);
        corio_task_opts o = { .name = "big-frame", .stack_size = 64 * 1024 };
        corio_task *t = corio_spawn(run_big_frame, (void *)(uintptr_t)child_frame, &o);
        if (!t) break;
        corio_detach(t);
        corio_event_wait(&taken);
    }
    fprintf(stderr, "skip: the space below every stack tried is taken\n");
    _exit(CHILD_SKIP);
}

static void big_frame_child(void)
{
    corio_config cfg = { .stack_guard = child_guard };
    corio_loop *l = corio_loop_new(&cfg);
    corio_task_opts o = { .name = "big-frame", .stack_size = 64 * 1024 };
    corio_task *t = child_reserve
        ? corio_loop_spawn(l, find_a_free_gap, NULL, NULL)
        : corio_loop_spawn(l, run_big_frame, (void *)(uintptr_t)child_frame, &o);
    corio_loop_run_until_complete(l, t, NULL);
}

static int big_frame_in_child(void (*frame)(void), size_t guard, bool reserve,
                              char *err, size_t cap)
{
    child_frame = frame;
    child_guard = guard;
    child_reserve = reserve;
    int st = in_child(big_frame_child, err, cap);
    if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_SKIP) cr_skip_test("%s", err);
    return st;
}

static void assert_reported(int st, const char *err)
{
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
              "child should abort with the report, status 0x%x, stderr: %s", st, err);
    cr_assert(strstr(err, "corio: stack overflow in task 'big-frame'"), "stderr: %s", err);
    cr_assert(strstr(err, "it had 65536 bytes of stack"), "stderr: %s", err);
    cr_assert(strstr(err, "-fstack-clash-protection"), "the fix is named: %s", err);
}

Test(stack, frame_larger_than_the_guard_is_reported_below_it)
{
    char err[2048];
    int st = big_frame_in_child(big_frame_plain, 0, true, err, sizeof err);
    assert_reported(st, err);
    cr_assert(strstr(err, "bytes below the " DEFAULT_GUARD "-byte guard: a stack frame larger"),
              "stderr: %s", err);
}

Test(stack, probed_frame_runs_into_the_guard)
{
    char err[2048];
    int st = big_frame_in_child(corio_test_big_frame_probed, 0, false, err, sizeof err);
    assert_reported(st, err);
    cr_assert(strstr(err, "it ran into the " DEFAULT_GUARD "-byte guard"), "stderr: %s", err);
}

Test(stack, larger_guard_catches_the_unprobed_frame_inside_it)
{
    char err[2048];
    int st = big_frame_in_child(big_frame_plain, 512 * 1024, false, err, sizeof err);
    assert_reported(st, err);
    cr_assert(strstr(err, "it ran into the 524288-byte guard"), "stderr: %s", err);
}

/* Per task: a guard asked for in corio_task_opts, beside the loop's. */
static void *big_frame_task_guard(void *arg)
{
    (void)arg;
    corio_task_opts o = { .name = "big-frame", .stack_size = 64 * 1024,
                          .stack_guard = 400 * 1024 };
    corio_task *t = corio_spawn(run_big_frame, (void *)(uintptr_t)big_frame_plain, &o);
    corio_join(t, NULL);
    return NULL;
}

static void task_guard_child(void)
{
    child_reserve = false;
    corio_run(big_frame_task_guard, NULL, NULL);
}

Test(stack, per_task_guard_is_honoured)
{
    char err[2048];
    int st = in_child(task_guard_child, err, sizeof err);
    assert_reported(st, err);
    cr_assert(strstr(err, "it ran into the 409600-byte guard"), "stderr: %s", err);
}

/* A fault that is not a stack overflow is not ours to report. */
static void *null_deref(void *arg)
{
    return (void *)(intptr_t)*(volatile int *)arg;
}

static void plain_segv(void)
{
    corio_loop *l = corio_loop_new(NULL);
    corio_task *t = corio_loop_spawn(l, null_deref, NULL, NULL);
    corio_loop_run_until_complete(l, t, NULL);
}

Test(stack, other_faults_crash_as_usual)
{
    char err[1024];
    int st = in_child(plain_segv, err, sizeof err);
    /* Killed by SIGSEGV, or (under ASan, which reports the fault itself)
     * exited with an error: either way it failed, and not as "ours". */
    cr_assert(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0), "status 0x%x", st);
    cr_assert_null(strstr(err, "stack overflow"), "stderr: %s", err);
}
#endif

/* Finished tasks give their stacks back: the same few stacks serve a long
 * sequence of tasks (observed through the address of a local). */
static void *where(void *arg)
{
    (void)arg;
    char c;
    return (void *)((uintptr_t)&c & ~(uintptr_t)0xFFFF);
}

static void *reuse_body(void *arg)
{
    (void)arg;
    void *first = NULL;
    int same = 0;
    for (int i = 0; i < 100; i++) {
        void *r;
        corio_join(corio_spawn(where, NULL, NULL), &r);
        if (!first) first = r;
        same += r == first;
    }
    cr_assert_eq(same, 100, "a pooled stack is reused");
    return NULL;
}

Test(stack, finished_stacks_are_reused)
{
    cr_assert_eq(corio_run(reuse_body, NULL, NULL), 0);
}
