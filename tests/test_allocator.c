/*
 * test_allocator.c — corio_replace_allocator reaches every block corio
 * takes from the heap, and corio gives each one back to it.
 *
 * The allocator here tags each block with a header; its free checks the
 * tag. A block corio freed that the hook did not allocate (one taken with
 * the C library's malloc) fails the tag check; a block the hook allocated
 * but corio handed to the C library's free aborts in the C library, since
 * the pointer is 16 bytes into a chunk. After a scenario that exercises a
 * loop, tasks, a queue, a TCP stream, call_soon/call_later, the thread
 * pool and a DNS lookup, and after the loop is closed, the hook must have
 * seen allocations from each and as many frees as allocations.
 *
 * The allocator must be installed before corio allocates anything, so
 * the scenario runs in a fresh child process (fork) where there is one:
 * Criterion runs each test in a process of its own, but the harness of
 * the cross builds runs them all in one. Windows has no fork: there the
 * harness runs tests one after another and this one runs in place,
 * which is valid because no loop is left open by the tests before it
 * (the call would say CORIO_EBUSY).
 */
#include <criterion/criterion.h>
#include <corio.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>
#endif

#define TAG_LIVE 0x636f72696f4c4956ull /* "corioLIV" */
#define TAG_DEAD 0x636f72696f444541ull

typedef union {
    max_align_t align;
    struct { uint64_t tag; size_t size; } h;
} header;

static atomic_long n_alloc, n_free, n_foreign;

static void *t_malloc(size_t n)
{
    header *h = malloc(sizeof *h + n);
    if (!h) return NULL;
    h->h.tag = TAG_LIVE;
    h->h.size = n;
    atomic_fetch_add(&n_alloc, 1);
    return h + 1;
}

static void *t_calloc(size_t c, size_t n)
{
    if (n && c > SIZE_MAX / n) return NULL;
    void *p = t_malloc(c * n);
    if (p) memset(p, 0, c * n);
    return p;
}

static header *own(void *p)
{
    header *h = (header *)p - 1;
    if (h->h.tag == TAG_LIVE) return h;
    atomic_fetch_add(&n_foreign, 1);
    return NULL;
}

static void *t_realloc(void *p, size_t n)
{
    if (!p) return t_malloc(n);
    header *h = own(p);
    if (!h) return NULL;
    header *nh = realloc(h, sizeof *nh + n);
    if (!nh) return NULL;
    nh->h.size = n;
    return nh + 1;
}

static void t_free(void *p)
{
    if (!p) return;
    header *h = own(p);
    if (!h) return; /* not ours: leak it rather than corrupt the heap */
    h->h.tag = TAG_DEAD;
    atomic_fetch_add(&n_free, 1);
    free(h);
}

/* ---------- the scenario ---------- */

static long mark(void) { return atomic_load(&n_alloc); }

typedef struct {
    long after_loop, after_tasks, after_queue, after_stream, after_pool, after_dns;
    int failures;
    char why[160];
} seen;

#define CHECK(s, cond, ...) \
    do { if (!(cond) && (s)->failures++ == 0) snprintf((s)->why, sizeof (s)->why, __VA_ARGS__); } while (0)

static void *child_task(void *arg) { return arg; }
static void *on_thread(void *arg) { return (void *)((intptr_t)arg + 1); }
static void noop(void *arg) { (void)arg; }

static void *scenario(void *arg)
{
    seen *s = arg;
    long m = mark();
    corio_task *t[16];
    for (int i = 0; i < 16; i++) t[i] = corio_spawn(child_task, NULL, &(corio_task_opts){ .name = "child" });
    for (int i = 0; i < 16; i++) CHECK(s, t[i] && corio_join(t[i], NULL) == 0, "join %d", i);
    CHECK(s, corio_call_soon(noop, NULL) == 0, "call_soon");
    CHECK(s, corio_call_later(CORIO_MS(1), noop, NULL, NULL) == 0, "call_later");
    CHECK(s, corio_sleep(CORIO_MS(2)) == 0, "sleep");
    s->after_tasks = mark() - m;

    m = mark();
    corio_queue q;
    CHECK(s, corio_queue_init(&q, CORIO_QUEUE_FIFO, 0) == 0, "queue init");
    for (intptr_t i = 1; i <= 200; i++) CHECK(s, corio_queue_put(&q, (void *)i) == 0, "put");
    for (intptr_t i = 1; i <= 200; i++) {
        void *v = NULL;
        CHECK(s, corio_queue_get(&q, &v) == 0 && v == (void *)i, "get %d", (int)i);
    }
    corio_queue_destroy(&q);
    s->after_queue = mark() - m;

    m = mark();
    corio_addr at, bound;
    corio_fd lfd, a, b;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    corio_addr_ip(&at, "127.0.0.1", 0);
    int rc = corio_tcp_listen(&at, 4, 0, &lfd);
    if (rc == 0) rc = corio_sock_local_addr(lfd, &bound);
    if (rc == 0) rc = corio_tcp_connect_until(&bound, &a, dl);
    if (rc == 0) rc = corio_tcp_accept_until(lfd, &b, NULL, dl);
    CHECK(s, rc == 0, "tcp pair: %s", corio_strerror(rc));
    if (rc == 0) {
        corio_fd_close(lfd);
        corio_stream *sa = corio_stream_open(a, NULL), *sb = corio_stream_open(b, NULL);
        char buf[8] = { 0 };
        CHECK(s, sa && sb, "stream_open");
        CHECK(s, corio_stream_write(sa, "hello\n", 6) == 0, "write");
        CHECK(s, corio_stream_readline_until(sb, buf, sizeof buf, dl) == 6, "readline");
        CHECK(s, corio_stream_close_until(sa, dl) == 0, "close a");
        CHECK(s, corio_stream_close_until(sb, dl) == 0, "close b");
    }
    s->after_stream = mark() - m;

    m = mark();
    void *r = NULL;
    CHECK(s, corio_to_thread(on_thread, (void *)41, &r, NULL) == 0 && r == (void *)42, "to_thread");
    s->after_pool = mark() - m;

    m = mark();
    corio_addr out[4];
    rc = corio_resolve_until("localhost", 80, 0, out, 4, dl);
    CHECK(s, rc >= 1, "resolve localhost: %s", corio_strerror(rc));
    s->after_dns = mark() - m;
    return NULL;
}

/* Install the hook, run the scenario, close the loop, and say what the
 * hook saw: 0 when all is well, else a line on stderr and 1. */
static int run_with_hook(void)
{
    if (corio_replace_allocator(t_malloc, t_realloc, t_calloc, t_free) != 0) {
        fprintf(stderr, "allocator: replace refused\n");
        return 1;
    }
    seen s = { 0 };
    long m = mark();
    corio_loop *l = corio_loop_new(NULL);
    if (!l) { fprintf(stderr, "allocator: no loop\n"); return 1; }
    s.after_loop = mark() - m;
    /* A loop exists: the allocator may not change under it. */
    int busy = corio_replace_allocator(malloc, realloc, calloc, free);
    corio_task *main = corio_loop_spawn(l, scenario, &s, NULL);
    int rc = main ? corio_loop_run_until_complete(l, main, NULL) : CORIO_ENOMEM;
    corio_loop_run(l);
    int reported = corio_loop_close(l);
    long a = atomic_load(&n_alloc), f = atomic_load(&n_free), x = atomic_load(&n_foreign);
    /* The C library's allocator again, for what the process does next. */
    int back = corio_replace_allocator(malloc, realloc, calloc, free);
    int bad = 0;
#define FAIL(...) do { fprintf(stderr, "allocator: " __VA_ARGS__); fputc('\n', stderr); bad = 1; } while (0)
    if (busy != CORIO_EBUSY) FAIL("replace while a loop exists: %d, not CORIO_EBUSY", busy);
    if (back != 0) FAIL("replace after close: %d", back);
    if (rc != 0 || reported != 0) FAIL("main %d, close reported %d", rc, reported);
    if (s.failures) FAIL("%d failed checks, first: %s", s.failures, s.why);
    if (s.after_loop <= 0) FAIL("the loop took nothing from the hook");
    if (s.after_tasks <= 0) FAIL("tasks and callbacks took nothing from the hook");
    if (s.after_queue <= 0) FAIL("the queue took nothing from the hook");
    if (s.after_stream <= 0) FAIL("the streams took nothing from the hook");
    if (s.after_pool <= 0) FAIL("the thread pool took nothing from the hook");
    if (s.after_dns <= 0) FAIL("the DNS lookup took nothing from the hook");
    if (x != 0) FAIL("%ld blocks freed that the hook never allocated", x);
    if (a != f) FAIL("%ld allocations, %ld frees after the loop closed", a, f);
    if (!bad)
        fprintf(stderr, "allocator: %ld blocks (loop %ld, tasks %ld, queue %ld, streams %ld, "
               "pool %ld, dns %ld), all given back\n", a, s.after_loop, s.after_tasks,
               s.after_queue, s.after_stream, s.after_pool, s.after_dns);
    return bad;
}

Test(allocator, every_block_comes_from_the_hook_and_goes_back_to_it, .timeout = 60)
{
#ifdef _WIN32
    cr_assert_eq(run_with_hook(), 0, "see the lines above");
#else
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) _exit(run_with_hook());
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "the child died (signal %d): a hook block given to "
              "the C library's free aborts there", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert_eq(WEXITSTATUS(st), 0, "see the child's lines above");
#endif
}

Test(allocator, a_null_function_is_refused)
{
    cr_assert_eq(corio_replace_allocator(NULL, realloc, calloc, free), CORIO_EINVAL);
    cr_assert_eq(corio_replace_allocator(malloc, realloc, calloc, NULL), CORIO_EINVAL);
}
