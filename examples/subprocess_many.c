/*
 * subprocess_many.c — many child processes at once, the idea of chapter 13
 * of "Python Concurrency with asyncio" in C.
 *
 *   1. Start N children (50 by default). Each one waits 100 ms and prints
 *      one line: "child <i> says hello". Every child is collected by its
 *      own task with corio_process_communicate (read its stdout until end
 *      of file, then wait for its exit), and corio_gather_calls runs the N
 *      tasks together:
 *
 *          main task ── gather_calls ──> task i ── spawn ──> child i
 *                                        communicate (parks on the pipe
 *                                        and on the child's exit)
 *
 *   2. Do the same again one child after another.
 *   3. Check every child's output and exit code, print both times.
 *      The exit status is 0 only if all of them are right.
 *
 * The children are this very program, started with "--child <i> <ms>"
 * (found through argv[0]), so the example runs the same on Linux and on
 * Windows: no `sleep` or `echo` program is needed. The child itself uses
 * corio for its 100 ms sleep, because it can.
 *
 *   make examples && build/examples/subprocess_many [children]
 */
#include "corio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHILD_MS "100"

/* ------------------------------------------------------------------ */
/* The child                                                           */
/* ------------------------------------------------------------------ */

static void *child_main(void *arg)
{
    char **argv = arg;
    corio_sleep(CORIO_MS(atoi(argv[3])));
    printf("child %s says hello\n", argv[2]);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

static const char *self;   /* argv[0]: how to start ourselves again */

typedef struct job {
    int index;
    int ok;                /* right output and exit code 0 */
    char complaint[160];   /* what was wrong, if not ok */
} job;

/* Start child i, collect its output, check it. */
static void *run_one(void *arg)
{
    job *j = arg;
    char index[16];
    snprintf(index, sizeof index, "%d", j->index);
    const char *argv[] = { self, "--child", index, CHILD_MS, NULL };

    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_NULL;   /* it reads nothing */
    o.stdout_ = CORIO_STDIO_PIPE;  /* we collect what it prints */
    o.stderr_ = CORIO_STDIO_INHERIT;

    corio_process *p;
    int rc = corio_process_spawn(argv, &o, &p);
    if (rc < 0) {
        snprintf(j->complaint, sizeof j->complaint, "spawn: %s",
                 corio_strerror(rc));
        return NULL;
    }
    corio_buf out = { 0 };
    int code = -1;
    rc = corio_process_communicate_until(p, NULL, 0, &out, NULL, &code,
                                         corio_deadline_in(CORIO_SEC(60)));
    corio_process_free(p);

    char want[64];
    snprintf(want, sizeof want, "child %d says hello\n", j->index);
    /* A Windows C runtime writes "\r\n" to a pipe in text mode. */
    if (out.len >= 2 && out.data[out.len - 2] == '\r') {
        out.data[out.len - 2] = '\n';
        out.data[--out.len] = '\0';
    }
    if (rc < 0)
        snprintf(j->complaint, sizeof j->complaint, "communicate: %s",
                 corio_strerror(rc));
    else if (code != 0)
        snprintf(j->complaint, sizeof j->complaint, "exit code %d", code);
    else if (!out.data || strcmp(out.data, want) != 0)
        snprintf(j->complaint, sizeof j->complaint, "said \"%.60s\"",
                 out.data ? out.data : "");
    else
        j->ok = 1;
    corio_buf_free(&out);
    return NULL;
}

typedef struct plan {
    int n;
    job *jobs;
    double concurrent_ms, sequential_ms;
    int rc;
} plan;

static double ms_since(int64_t t0) { return (double)(corio_now() - t0) / 1e6; }

static void *main_task(void *arg)
{
    plan *pl = arg;
    corio_call *calls = calloc((size_t)pl->n, sizeof *calls);
    if (!calls) return corio_fail(CORIO_ENOMEM);

    /* 1. All at once. */
    for (int i = 0; i < pl->n; i++) {
        pl->jobs[i] = (job){ .index = i };
        calls[i] = (corio_call){ run_one, &pl->jobs[i] };
    }
    int64_t t0 = corio_now();
    pl->rc = corio_gather_calls(calls, (size_t)pl->n, NULL, 0);
    pl->concurrent_ms = ms_since(t0);

    /* 2. One after another, for comparison (the same work). */
    int sequential_ok = 1;
    t0 = corio_now();
    for (int i = 0; i < pl->n; i++) {
        job j = { .index = i };
        run_one(&j);
        sequential_ok &= j.ok;
    }
    pl->sequential_ms = ms_since(t0);
    if (!sequential_ok && pl->rc == 0) pl->rc = CORIO_EIO;
    free(calls);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return corio_run(child_main, argv, NULL);

    self = argv[0];
    plan pl = { .n = argc > 1 ? atoi(argv[1]) : 50 };
    if (pl.n < 1 || pl.n > 10000) {
        fprintf(stderr, "usage: %s [children 1..10000]\n", argv[0]);
        return 2;
    }
    pl.jobs = calloc((size_t)pl.n, sizeof *pl.jobs);
    if (!pl.jobs) return 1;

    int rc = corio_run(main_task, &pl, NULL);
    int good = 0;
    for (int i = 0; i < pl.n; i++) {
        if (pl.jobs[i].ok) good++;
        else fprintf(stderr, "child %d: %s\n", i, pl.jobs[i].complaint);
    }
    printf("%d children, each sleeping %s ms, all collected with communicate:\n",
           pl.n, CHILD_MS);
    printf("  at once (gather):    %8.1f ms\n", pl.concurrent_ms);
    printf("  one after another:   %8.1f ms  (%.1fx longer)\n",
           pl.sequential_ms,
           pl.concurrent_ms > 0 ? pl.sequential_ms / pl.concurrent_ms : 0.0);
    printf("  outputs and exit codes right: %d of %d\n", good, pl.n);
    free(pl.jobs);
    return rc == 0 && pl.rc == 0 && good == pl.n ? 0 : 1;
}
