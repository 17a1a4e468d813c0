/*
 * fetch_many.c — many concurrent HTTP requests, the theme of chapter 4 of
 * "Python Concurrency with asyncio" (aiohttp + gather / as_completed /
 * a Semaphore), on corio streams.
 *
 *   make examples && build/examples/fetch_many [REQUESTS]
 *
 * The book fetches example.com. To keep the program self-contained (no
 * network, the same timings on every run) it starts its own tiny
 * HTTP/1.0 server IN THE SAME PROCESS, on 127.0.0.1 and a free port, as
 * one more set of tasks on the same loop: `make examples` builds one
 * program, and running it needs nothing else. The server answers
 *
 *   GET /delay/<ms>/<n>   200, after <ms> milliseconds (a slow backend)
 *   GET /status/<code>    that status, at once
 *
 * and counts how many requests it serves at the same time.
 *
 * What the program shows, each part with its time:
 *   1. ten requests one after another (the synchronous baseline);
 *   2. the same ten, plus a 404 and a refused connection, at once with
 *      corio_gather_calls (asyncio.gather(return_exceptions=True)):
 *      results come back in request order, errors included;
 *   3. requests of different lengths with corio_as_completed
 *      (asyncio.as_completed): printed in the order they finish;
 *   4. REQUESTS requests (default 100) at once, but at most 10 in
 *      flight, held back by a corio_sem (asyncio.Semaphore(10)), against
 *      what one-by-one would have cost.
 */
#include "corio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELAY_MS 100    /* parts 1 and 2 */
#define LIMIT 10        /* part 4: requests in flight at most */
#define LIMITED_DELAY_MS 50

/* ------------------------------------------------------------------ */
/* The tiny HTTP/1.0 server                                            */
/* ------------------------------------------------------------------ */

typedef struct server_stats {
    int in_flight, max_in_flight;
} server_stats;

static void reply(corio_stream *s, int status, const char *reason,
                  const char *body)
{
    char head[160];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n", status, reason, strlen(body));
    corio_stream_write(s, head, (size_t)n);
    corio_stream_write(s, body, strlen(body));
}

static void http_handler(corio_stream *s, void *arg)
{
    server_stats *st = arg;
    char line[512], method[8], path[256];
    int64_t deadline = corio_deadline_in(CORIO_SEC(10));
    if (corio_stream_readline_until(s, line, sizeof line,
                                    deadline) <= 0) return;
    if (sscanf(line, "%7s %255s", method, path) != 2) return;
    /* Skip the headers, up to the empty line. */
    ptrdiff_t n;
    while ((n = corio_stream_readline_until(s, line, sizeof line,
                                            deadline)) > 0 &&
           strcmp(line, "\r\n") != 0 && strcmp(line, "\n") != 0) {
    }
    if (n <= 0) return;

    if (++st->in_flight > st->max_in_flight) st->max_in_flight = st->in_flight;
    int ms, item, code;
    char body[64];
    if (sscanf(path, "/delay/%d/%d", &ms, &item) == 2) {
        corio_sleep(CORIO_MS(ms)); /* a slow backend: only this task waits */
        snprintf(body, sizeof body, "item %d after %d ms\n", item, ms);
        reply(s, 200, "OK", body);
    } else if (sscanf(path, "/status/%d", &code) == 1) {
        reply(s, code, code == 404 ? "Not Found" : "Whatever", "status\n");
    } else {
        reply(s, 404, "Not Found", "no such page\n");
    }
    st->in_flight--;
    /* HTTP/1.0: the server closes the connection after the response (the
     * server machinery flushes and closes the stream when we return). */
}

/* ------------------------------------------------------------------ */
/* The client: one GET                                                 */
/* ------------------------------------------------------------------ */

typedef struct request {
    int port;
    char path[64];
    int status;          /* HTTP status, or a CORIO_E* code */
    size_t bytes;        /* body length */
    int64_t took;        /* ns */
} request;

/* GET r->path: 0 with r->status and r->bytes filled, or a CORIO_E* code. */
static int fetch(request *r)
{
    int64_t t0 = corio_now();
    int64_t deadline = corio_deadline_in(CORIO_SEC(10));
    corio_stream *s;
    int rc = corio_open_connection_until("127.0.0.1", r->port, &s, deadline);
    if (rc < 0) return r->status = rc;

    char line[512];
    int n = snprintf(line, sizeof line,
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", r->path);
    corio_stream_write(s, line, (size_t)n);

    /* "HTTP/1.0 200 OK", then headers up to the empty line, then the body
     * until the server closes. */
    ptrdiff_t got = corio_stream_readline_until(s, line, sizeof line, deadline);
    if (got <= 0 || sscanf(line, "HTTP/%*d.%*d %d", &r->status) != 1) {
        corio_stream_abort(s);
        return r->status = got < 0 ? (int)got : CORIO_EIO;
    }
    while ((got = corio_stream_readline_until(s, line, sizeof line,
                                              deadline)) > 0 &&
           strcmp(line, "\r\n") != 0) {
    }
    r->bytes = 0;
    char body[1024];
    while ((got = corio_stream_read_until(s, body, sizeof body, deadline)) > 0)
        r->bytes += (size_t)got;
    corio_stream_close_until(s, deadline);
    r->took = corio_now() - t0;
    return got < 0 ? (r->status = (int)got) : 0;
}

/* fetch as a task: its status is the fetch's error, if any. */
static void *fetch_task(void *arg)
{
    int rc = fetch(arg);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void print_result(const char *prefix, const request *r)
{
    if (r->status < 0)
        printf("%sGET %-18s -> error: %s\n", prefix, r->path,
               corio_strerror(r->status));
    else
        printf("%sGET %-18s -> %d (%zu bytes) in %.0f ms\n", prefix, r->path,
               r->status, r->bytes, (double)r->took / 1e6);
}

static double ms_since(int64_t t0) { return (double)(corio_now() - t0) / 1e6; }

/* ------------------------------------------------------------------ */
/* The four parts                                                      */
/* ------------------------------------------------------------------ */

static double part_sequential(int port)
{
    printf("1. ten requests, one after another\n");
    int64_t t0 = corio_now();
    for (int i = 0; i < 10; i++) {
        request r = { .port = port };
        snprintf(r.path, sizeof r.path, "/delay/%d/%d", DELAY_MS, i);
        fetch(&r);
        print_result("   ", &r);
    }
    double took = ms_since(t0);
    printf("   total %.0f ms\n\n", took);
    return took;
}

static void part_gather(int port, int dead_port, double sequential_ms)
{
    enum { N = 12 };
    printf("2. the same ten, a 404 and a refused connection, at once (gather)\n");
    request reqs[N];
    corio_call calls[N];
    for (int i = 0; i < N; i++) {
        reqs[i] = (request){ .port = port };
        if (i < 10) snprintf(reqs[i].path, sizeof reqs[i].path, "/delay/%d/%d", DELAY_MS, i);
        else if (i == 10) strcpy(reqs[i].path, "/status/404");
        else { strcpy(reqs[i].path, "/delay/1/0"); reqs[i].port = dead_port; }
        calls[i] = (corio_call){ fetch_task, &reqs[i] };
    }
    corio_outcome out[N];
    int64_t t0 = corio_now();
    /* return_exceptions=True: wait for all, errors are results too. */
    int failed = corio_gather_calls(calls, N, out, CORIO_GATHER_RETURN_ERRORS);
    double took = ms_since(t0);
    for (int i = 0; i < N; i++) print_result("   ", &reqs[i]);
    printf("   total %.0f ms (%d failed) -- the ten alone took %.0f ms one by one\n\n",
           took, failed, sequential_ms);
}

static void part_as_completed(int port)
{
    enum { N = 6 };
    static const int delays[N] = { 400, 100, 300, 50, 200, 250 };
    printf("3. six requests of different lengths, printed as they finish (as_completed)\n");
    request reqs[N];
    corio_task *tasks[N];
    for (int i = 0; i < N; i++) {
        reqs[i] = (request){ .port = port };
        snprintf(reqs[i].path, sizeof reqs[i].path, "/delay/%d/%d", delays[i], i);
        tasks[i] = corio_spawn(fetch_task, &reqs[i], NULL);
    }
    int64_t t0 = corio_now();
    corio_as_completed it;
    corio_as_completed_init(&it, tasks, N);
    int64_t deadline = corio_deadline_in(CORIO_SEC(10));
    size_t i;
    while (corio_as_completed_next_until(&it, &i, deadline) == 0) {
        corio_join(tasks[i], NULL);
        tasks[i] = NULL;
        char when[32];
        snprintf(when, sizeof when, "   at %4.0f ms: ", ms_since(t0));
        print_result(when, &reqs[i]);
    }
    corio_as_completed_end(&it);
    for (i = 0; i < N; i++) /* only after a timeout: none here */
        if (tasks[i]) { corio_cancel(tasks[i]); corio_join(tasks[i], NULL); }
    printf("\n");
}

typedef struct limited {
    request r;
    corio_sem *sem;
} limited;

/* asyncio: `async with semaphore: await fetch(...)` */
static void *limited_fetch(void *arg)
{
    limited *l = arg;
    int rc = corio_sem_acquire(l->sem);
    if (rc < 0) return corio_fail(rc);
    rc = fetch(&l->r);
    corio_sem_release(l->sem);
    return rc < 0 ? corio_fail(rc) : NULL;
}

static void part_semaphore(int port, int n, server_stats *st)
{
    printf("4. %d requests at once, at most %d in flight (Semaphore(%d))\n",
           n, LIMIT, LIMIT);
    limited *ls = calloc((size_t)n, sizeof *ls);
    corio_call *calls = calloc((size_t)n, sizeof *calls);
    corio_outcome *out = calloc((size_t)n, sizeof *out);
    if (!ls || !calls || !out) {
        printf("   out of memory\n");
        free(ls); free(calls); free(out);
        return;
    }
    corio_sem sem;
    corio_sem_init(&sem, LIMIT);
    for (int i = 0; i < n; i++) {
        ls[i].r = (request){ .port = port };
        snprintf(ls[i].r.path, sizeof ls[i].r.path, "/delay/%d/%d", LIMITED_DELAY_MS, i);
        ls[i].sem = &sem;
        calls[i] = (corio_call){ limited_fetch, &ls[i] };
    }
    st->max_in_flight = 0;
    int64_t t0 = corio_now();
    int failed = corio_gather_calls(calls, (size_t)n, out, CORIO_GATHER_RETURN_ERRORS);
    double took = ms_since(t0);
    int ok = 0;
    for (int i = 0; i < n; i++) ok += ls[i].r.status == 200;
    /* Print the statuses compactly, ten to a row (not for thousands). */
    for (int i = 0; i < n && n <= 100; i++)
        printf("%s%d%s", i % 10 ? " " : "   ", ls[i].r.status,
               i % 10 == 9 || i == n - 1 ? "\n" : "");
    printf("   %d x 200, %d failed; at most %d served at once; total %.0f ms "
           "(one by one: about %d ms)\n", ok, failed, st->max_in_flight, took,
           n * LIMITED_DELAY_MS);
    corio_sem_destroy(&sem);
    free(ls); free(calls); free(out);
}

/* A port with nobody listening: bind one, note it, close it. */
static int unused_port(void)
{
    corio_addr a;
    corio_fd fd;
    if (corio_addr_ip(&a, "127.0.0.1", 0) < 0 || corio_tcp_listen(&a, 1, 0, &fd) < 0)
        return 1;
    corio_addr bound;
    int port = corio_sock_local_addr(fd, &bound) == 0 ? corio_addr_port(&bound) : 1;
    corio_fd_close(fd);
    return port;
}

static void *main_task(void *arg)
{
    int n = *(int *)arg;
    server_stats st = { 0, 0 };
    corio_server_opts o;
    memset(&o, 0, sizeof o);
    o.backlog = 1024;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, http_handler, &st, &o, &srv);
    if (rc < 0) {
        fprintf(stderr, "fetch_many: cannot start the HTTP server: %s\n",
                corio_strerror(rc));
        return corio_fail(rc);
    }
    int port = corio_server_port(srv);
    printf("HTTP/1.0 server on 127.0.0.1:%d (in this process, same loop)\n\n", port);

    double sequential_ms = part_sequential(port);
    part_gather(port, unused_port(), sequential_ms);
    part_as_completed(port);
    part_semaphore(port, n, &st);

    corio_server_shutdown_until(srv, corio_deadline_in(CORIO_SEC(1)));
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "usage: %s [REQUESTS (1..100000, default 100)]\n", argv[0]);
        return 2;
    }
    return corio_run(main_task, &n, NULL) == 0 ? 0 : 1;
}
