/*
 * test_debug_threads.c — debug mode catches a loop's object used from
 * another thread (coro/debug.c, the wrong-thread check).
 *
 * Each scene runs in a child process (fork), with its stderr on a pipe:
 * a loop makes an object, a task of it waits in the object, and a plain
 * thread (no loop) then calls into the object. With debug mode on, the
 * call must abort the child with a message that names the call, the
 * object, its loop and both threads, and points to the thread-safe way.
 * With debug mode off nothing is checked (the scene there is one whose
 * outcome is defined: the thread sets an event nobody waits for, and is
 * joined before the loop looks). And the legitimate way across threads,
 * call_soon_threadsafe, passes in debug mode.
 *
 * The child gives itself an alarm: a check that failed to fire would
 * leave the waiter hanging, and the alarm turns that into a failed test.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "os/thread.h"
#include "util.h"

#ifndef _WIN32

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum {
    EVENT_SET,          /* corio_event_set from a pthread, a task waiting */
    EVENT_SET_NOBODY,   /* the same with nobody waiting yet */
    SEM_RELEASE,
    QUEUE_PUT,
    FUTURE_SET,
    TASK_CANCEL,
    POST_THREADSAFE,    /* the right way: call_soon_threadsafe */
} scene_kind;

typedef struct scene {
    scene_kind kind;
    corio_loop *loop;
    corio_event ev;
    corio_sem sem;
    corio_queue q;
    corio_future *f;
    corio_task *waiter;
    int woke;
} scene;

static void set_on_loop(void *arg)
{
    scene *s = arg;
    corio_event_set(&s->ev);
}

/* The plain thread: no loop runs on it. */
static void foreign(void *arg)
{
    scene *s = arg;
    switch (s->kind) {
    case EVENT_SET:
    case EVENT_SET_NOBODY: corio_event_set(&s->ev); break;
    case SEM_RELEASE: corio_sem_release(&s->sem); break;
    case QUEUE_PUT: corio_queue_put_nowait(&s->q, s); break;
    case FUTURE_SET: corio_future_set_result(s->f, s); break;
    case TASK_CANCEL: corio_cancel(s->waiter); break;
    case POST_THREADSAFE: corio_call_soon_threadsafe(s->loop, set_on_loop, s); break;
    }
}

static void *waiter_main(void *arg)
{
    scene *s = arg;
    int64_t dl = corio_deadline_in(CORIO_SEC(10));
    void *item;
    int rc;
    switch (s->kind) {
    case SEM_RELEASE: rc = corio_sem_acquire_until(&s->sem, dl); break;
    case QUEUE_PUT: rc = corio_queue_get_until(&s->q, &item, dl); break;
    case FUTURE_SET: rc = corio_future_wait_until(s->f, &item, dl); break;
    case TASK_CANCEL: rc = corio_sleep_until(dl) == CORIO_ECANCELED ? 0 : -1; break;
    default: rc = corio_event_wait_until(&s->ev, dl); break;
    }
    s->woke = rc == 0;
    return NULL;
}

static void *scene_main(void *arg)
{
    scene *s = arg;
    s->loop = corio_loop_current();
    corio_event_init(&s->ev);
    corio_sem_init(&s->sem, 0);
    corio_queue_init(&s->q, CORIO_QUEUE_FIFO, 0);
    s->f = corio_future_new();
    if (s->kind != EVENT_SET_NOBODY) {
        s->waiter = corio_spawn(waiter_main, s, NULL);
        if (until_parked(s->waiter) != 0) _exit(3);
    }
    corio_os_thread *th = corio__os_thread_start(foreign, s);
    if (!th) _exit(4);
    if (s->waiter) {
        corio_join(s->waiter, NULL);
        corio__os_thread_join(th);
    } else {
        corio__os_thread_join(th); /* orders its write before our read */
        s->woke = corio_event_wait(&s->ev) == 0;
    }
    corio_future_free(s->f);
    corio_queue_destroy(&s->q);
    return NULL;
}

/* In the child: run the scene on a loop with debug mode `debug`. Exit 0
 * if the waiter woke, 1 if not. */
static _Noreturn void child(scene_kind kind, int debug)
{
    alarm(20);
    scene s = { .kind = kind };
    corio_config cfg = { .debug = debug };
    corio_loop *l = corio_loop_new(&cfg);
    if (!l) _exit(5);
    corio_task *m = corio_loop_spawn(l, scene_main, &s, NULL);
    corio_loop_run_until_complete(l, m, NULL);
    corio_loop_close(l);
    _exit(s.woke ? 0 : 1);
}

/* Fork a child for the scene; its wait status, and its stderr in err. */
static int run_child(scene_kind kind, int debug, char *err, size_t cap)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        child(kind, debug);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(p[0], err + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    err[n] = 0;
    close(p[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void expect_abort(scene_kind kind, const char *call, const char *kind_name)
{
    char err[4096], want[128];
    int st = run_child(kind, 1, err, sizeof err);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
              "the child was not aborted (status 0x%x); stderr:\n%s", st, err);
    snprintf(want, sizeof want, "corio: debug: %s() called on %s 0x", call, kind_name);
    cr_assert(strstr(err, want), "no \"%s\" in:\n%s", want, err);
    cr_assert(strstr(err, "from the wrong thread"), "%s", err);
    snprintf(want, sizeof want, "the %s belongs to loop 0x", kind_name);
    cr_assert(strstr(err, want), "no \"%s\" in:\n%s", want, err);
    cr_assert(strstr(err, ", run by thread "), "owner thread not named:\n%s", err);
    cr_assert(strstr(err, "the caller is thread "), "caller not named:\n%s", err);
    cr_assert(strstr(err, "which runs no loop"), "%s", err);
    cr_assert(strstr(err, "corio_call_soon_threadsafe(loop, fn, arg)"),
              "no pointer to the thread-safe way:\n%s", err);
}

Test(debug_threads, an_event_set_from_a_pthread_aborts_with_a_message, .timeout = 60)
{
    expect_abort(EVENT_SET, "corio_event_set", "event");
}

Test(debug_threads, an_event_made_in_a_loop_is_caught_with_nobody_waiting, .timeout = 60)
{
    expect_abort(EVENT_SET_NOBODY, "corio_event_set", "event");
}

Test(debug_threads, semaphore_queue_future_and_task_calls_are_caught, .timeout = 60)
{
    expect_abort(SEM_RELEASE, "corio_sem_release", "semaphore");
    expect_abort(QUEUE_PUT, "corio_queue_put_nowait", "queue");
    expect_abort(FUTURE_SET, "corio_future_set_result/_error/_cancel", "future");
    expect_abort(TASK_CANCEL, "corio_cancel", "task");
}

Test(debug_threads, with_debug_off_nothing_is_checked, .timeout = 60)
{
    char err[4096];
    int st = run_child(EVENT_SET_NOBODY, -1, err, sizeof err);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "status 0x%x; stderr:\n%s", st, err);
    cr_assert_null(strstr(err, "wrong thread"), "%s", err);
}

Test(debug_threads, call_soon_threadsafe_is_not_caught, .timeout = 60)
{
    char err[4096];
    int st = run_child(POST_THREADSAFE, 1, err, sizeof err);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "status 0x%x; stderr:\n%s", st, err);
    cr_assert_null(strstr(err, "wrong thread"), "%s", err);
}

#endif /* !_WIN32 */
