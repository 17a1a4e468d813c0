/*
 * process.c — subprocesses for tasks (the book's chapter 13): asyncio's
 * create_subprocess_exec, Process.wait, communicate, terminate and kill.
 *
 * The operating system's half (fork/exec or CreateProcess, the pipes,
 * noticing an exit without blocking the loop) is os/process.h. What is
 * left here is portable policy:
 *
 *   - The child's pipes are streams (net/stream.h), so a task reads its
 *     output with corio_stream_readline and friends and feeds its input
 *     with corio_stream_write + drain, exactly as for a socket.
 *
 *   - Several tasks may wait for the same child. The OS half allows one
 *     waiter; the first task to wait does that OS wait, the others park
 *     on an event ("turn"). Whoever leaves the OS wait, with the exit or
 *     without it (a deadline, a cancel), sets and clears the event: every
 *     parked waiter wakes, looks, and the first to find nobody doing the
 *     OS wait takes it over. Nobody is left waiting on a wait that no one
 *     is doing.
 *
 *   - communicate runs three tasks at once, one per pipe: one writes the
 *     input and closes stdin, two drain stdout and stderr. Doing them one
 *     after another deadlocks as soon as a pipe fills: the child blocks
 *     writing 64 KiB of stderr while we block writing its stdin, which it
 *     no longer reads. (corio_gather_calls runs them; at the first error,
 *     a deadline or a cancel, it cancels and joins the others, so no task
 *     outlives the call.) Then it waits for the exit.
 *
 *   - Freeing a process never kills it: a child still running is left
 *     running and reaped when it exits (by a thread on Unix; Windows has
 *     no zombies), as with asyncio, where dropping the Process object
 *     does not stop the program. Kill it first if it must stop.
 *
 * No #ifdef and no OS header here: see os/process.h.
 */
#include "corio.h"
#include "coro/alloc.h"
#include "net/stream.h"
#include "os/io.h"
#include "os/process.h"

#include <stdlib.h>
#include <string.h>

struct corio_process {
    corio_child *child;
    corio_stream *in, *out, *err;   /* NULL unless that stream is a PIPE */
    int exited;                     /* exit_code is final */
    int exit_code;
    int os_waiting;                 /* a task is inside corio__child_wait */
    corio_event turn;               /* the other waiters park here */
};

/* ------------------------------------------------------------------ */
/* Spawn, accessors, free                                              */
/* ------------------------------------------------------------------ */

int corio_process_spawn(const char *const *argv, const corio_process_opts *o,
                        corio_process **out)
{
    if (!out) return CORIO_EINVAL;
    *out = NULL;
    corio_process *p = corio__calloc(1, sizeof *p);
    if (!p) return CORIO_ENOMEM;

    corio_fd pipes[3];
    int rc = corio__child_spawn(argv, o, &p->child, pipes);
    if (rc < 0) {
        corio__free(p);
        return rc;
    }
    corio_event_init(&p->turn);

    corio_stream **slot[3] = { &p->in, &p->out, &p->err };
    for (int k = 0; k < 3; k++) {
        if (pipes[k] == CORIO_CHILD_NO_FD) continue;
        *slot[k] = corio__stream_open_pipe(pipes[k], NULL);
        if (!*slot[k]) {
            /* Out of memory half way: undo everything, including the
             * child, which nobody could talk to. */
            for (int j = k; j < 3; j++)
                if (pipes[j] != CORIO_CHILD_NO_FD) corio__io_close(pipes[j]);
            corio__child_signal(p->child, CORIO_CHILD_KILL);
            corio_process_free(p);
            return CORIO_ENOMEM;
        }
    }
    *out = p;
    return 0;
}

corio_stream *corio_process_stdin(corio_process *p) { return p->in; }
corio_stream *corio_process_stdout(corio_process *p) { return p->out; }
corio_stream *corio_process_stderr(corio_process *p) { return p->err; }
long corio_process_pid(const corio_process *p) { return corio__child_pid(p->child); }

int corio_process_terminate(corio_process *p)
{
    return corio__child_signal(p->child, CORIO_CHILD_TERMINATE);
}

int corio_process_kill(corio_process *p)
{
    return corio__child_signal(p->child, CORIO_CHILD_KILL);
}

void corio_process_free(corio_process *p)
{
    if (!p) return;
    /* Our pipe ends close at once: a child still writing gets EPIPE (or
     * SIGPIPE), one still reading gets end-of-file, as when a shell
     * pipeline's other side goes away. */
    if (p->in) corio_stream_abort(p->in);
    if (p->out) corio_stream_abort(p->out);
    if (p->err) corio_stream_abort(p->err);
    corio__child_free(p->child); /* a live child is reaped later */
    corio_event_destroy(&p->turn);
    corio__free(p);
}

/* ------------------------------------------------------------------ */
/* Wait                                                                */
/* ------------------------------------------------------------------ */

int corio_process_wait_until(corio_process *p, int *exit_code, int64_t deadline)
{
    for (;;) {
        if (p->exited) {
            if (exit_code) *exit_code = p->exit_code;
            return 0;
        }
        int rc;
        if (!p->os_waiting) {
            p->os_waiting = 1;
            rc = corio__child_wait(p->child, &p->exit_code, deadline);
            p->os_waiting = 0;
            if (rc == 0) p->exited = 1;
            /* Wake every other waiter, exit or not: if we leave without
             * it, one of them must take the OS wait over. (A set wakes all
             * current waiters even though we clear it at once.) */
            corio_event_set(&p->turn);
            corio_event_clear(&p->turn);
        } else {
            rc = corio_event_wait_until(&p->turn, deadline);
        }
        if (rc < 0) return rc;
    }
}

int corio_process_wait(corio_process *p, int *exit_code)
{
    return corio_process_wait_until(p, exit_code, CORIO_NEVER);
}

/* ------------------------------------------------------------------ */
/* Buffers                                                             */
/* ------------------------------------------------------------------ */

void corio_buf_free(corio_buf *b)
{
    if (!b) return;
    corio__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Make room for at least `more` bytes after len, plus a NUL (data is
 * always NUL-terminated, so text output can be printed as is). */
static int buf_reserve(corio_buf *b, size_t more)
{
    if (b->cap - b->len > more) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len <= more) {
        if (cap > SIZE_MAX / 2) return CORIO_ENOMEM;
        cap *= 2;
    }
    char *d = corio__realloc(b->data, cap);
    if (!d) return CORIO_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* ------------------------------------------------------------------ */
/* communicate: three tasks, one per pipe                              */
/* ------------------------------------------------------------------ */

/* What one of the three tasks works on. */
typedef struct pipe_job {
    corio_process *p;
    corio_stream *s;
    const char *in;      /* feed: the input */
    size_t inlen;
    corio_buf *buf;      /* drain: where to (NULL = read and drop) */
    int64_t deadline;
} pipe_job;

/* Written in slices of this size with a drain after each, so that a
 * 10 MiB input is never copied whole into the stream's buffer. */
#define FEED_SLICE ((size_t)64 * 1024)

static void *feed_stdin(void *arg)
{
    pipe_job *j = arg;
    int rc = 0;
    for (size_t done = 0; rc == 0 && done < j->inlen; ) {
        size_t n = j->inlen - done < FEED_SLICE ? j->inlen - done : FEED_SLICE;
        rc = corio_stream_write(j->s, j->in + done, n);
        if (rc == 0) rc = corio_stream_drain_until(j->s, j->deadline);
        done += n;
    }
    /* Close stdin whatever happened: end-of-file is how the child knows
     * the input is complete. The stream is gone from p from now on. */
    j->p->in = NULL;
    int crc = rc == 0 ? corio_stream_close_until(j->s, j->deadline) : 0;
    if (rc != 0) corio_stream_abort(j->s);
    else rc = crc;
    /* A child that exits without reading all its input is not an error
     * of communicate (asyncio ignores BrokenPipe and ConnectionReset the
     * same way): its exit code says what happened. */
    if (rc == CORIO_EPIPE || rc == CORIO_ECONNRESET) rc = 0;
    return rc ? corio_fail(rc) : NULL;
}

static void *drain_output(void *arg)
{
    pipe_job *j = arg;
    char scratch[4096]; /* output nobody asked for is read and dropped */
    for (;;) {
        char *to = scratch;
        size_t room = sizeof scratch;
        if (j->buf) {
            int rc = buf_reserve(j->buf, 16384);
            if (rc < 0) return corio_fail(rc);
            to = j->buf->data + j->buf->len;
            room = j->buf->cap - j->buf->len - 1;
        }
        ptrdiff_t n = corio_stream_read_until(j->s, to, room, j->deadline);
        if (n < 0) return corio_fail((int)n);
        if (n == 0) return NULL; /* end of stream: the child closed it */
        if (j->buf) {
            j->buf->len += (size_t)n;
            j->buf->data[j->buf->len] = '\0';
        }
    }
}

int corio_process_communicate_until(corio_process *p, const void *in,
                                    size_t inlen, corio_buf *out,
                                    corio_buf *err, int *exit_code,
                                    int64_t deadline)
{
    if (!p || (inlen > 0 && (!in || !p->in))) return CORIO_EINVAL;
    pipe_job jobs[3];
    corio_call calls[3];
    size_t n = 0;
    if (p->in) {
        jobs[n] = (pipe_job){ .p = p, .s = p->in, .in = in, .inlen = inlen,
                              .deadline = deadline };
        calls[n] = (corio_call){ feed_stdin, &jobs[n] };
        n++;
    }
    corio_stream *src[2] = { p->out, p->err };
    corio_buf *dst[2] = { out, err };
    for (int k = 0; k < 2; k++) {
        if (dst[k] && buf_reserve(dst[k], 0) < 0) return CORIO_ENOMEM;
        if (dst[k]) dst[k]->data[dst[k]->len] = '\0';
        if (!src[k]) continue;
        /* A stream already at its end needs no task. */
        if (corio_stream_at_eof(src[k]) && corio_stream_buffered(src[k]) == 0)
            continue;
        jobs[n] = (pipe_job){ .p = p, .s = src[k], .buf = dst[k],
                              .deadline = deadline };
        calls[n] = (corio_call){ drain_output, &jobs[n] };
        n++;
    }
    if (n > 0) {
        corio_outcome outcomes[3];
        int rc = corio_gather_calls_until(calls, n, outcomes, 0, deadline);
        if (rc < 0) return rc;
    }
    return corio_process_wait_until(p, exit_code, deadline);
}

int corio_process_communicate(corio_process *p, const void *in, size_t inlen,
                              corio_buf *out, corio_buf *err, int *exit_code)
{
    return corio_process_communicate_until(p, in, inlen, out, err, exit_code,
                                           CORIO_NEVER);
}
