/*
 * soak.c — `make soak`: thousands of churning connections for minutes,
 * watching for anything that grows.
 *
 * Two processes, forked before either has a loop or a thread:
 *   - the parent is the SERVER: a corio echo server on 127.0.0.1, plus DNS
 *     lookups (corio_resolve of "localhost" and numeric hosts) and
 *     subprocesses (spawn cat, communicate, wait) running beside it, and a
 *     monitor task that prints, once a second, the server process's open
 *     descriptors, RSS, and its loop's tasks alive and stacks pooled
 *     (corio_loop_get_stats), with the clients' connections open and
 *     exchanges done;
 *   - the child is the CLIENT: SOAK_CONNS sessions (default 10,000) on
 *     one corio loop, each: connect, 1 to 4 exchanges, then a graceful
 *     close, a half-close, or an abort with RST (SO_LINGER 0), and again,
 *     until the time is up. Odd sessions are slow readers: a small receive
 *     buffer, big messages, read back 1 KiB at a time with pauses, so the
 *     server's writes back up and its stream's flow control (drain) works.
 *     Every byte echoed is compared with what was sent (a pattern computed
 *     from the session, the exchange and the offset, so no copy is kept).
 * The counters the two share live in one MAP_SHARED page.
 *
 * Measuring only the server process keeps the figures about corio's
 * server side; the client is corio too, and its own errors are counted.
 *
 * At the end, as name=value lines: the growth of each figure between the
 * first and the last 10 seconds after the warm-up (a flat line is 0 up to
 * the noise of the churn), and, exact, what is left once every client has
 * gone and the server is idle again, against the same idle server before
 * the first client came (a leak shows there as a positive number).
 *
 *   SOAK_SECONDS=180 (default)  SOAK_CONNS=10000 (default)
 *
 * Exit status 1 if a byte mismatched, something is left over when idle,
 * or the DNS or subprocess traffic failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "corio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------- what the two processes share ---------- */

typedef struct shared {
    atomic_int port;              /* set by the server when it listens */
    atomic_int go;                /* the server's idle baseline is taken */
    atomic_int client_done;       /* every session has ended */
    atomic_long open;             /* client connections open now */
    atomic_long connects, exchanges, bytes_checked, mismatches;
    atomic_long closes, half_closes, aborts;
    atomic_long connect_errors, io_errors;
    atomic_long io_error_by_code[64];  /* io_errors by -CORIO_E* code */
    atomic_long stalls_with_data;      /* read deadline passed, bytes waiting */
} shared;

static shared *sh;
static int64_t t_end;            /* corio_now() at which traffic stops */
static long n_conns = 10000;
static long run_seconds = 180;

/* ---------- the pattern every byte is checked against ---------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static inline unsigned char pattern(uint64_t key, size_t i)
{
    return (unsigned char)(key + i * 131 + (i >> 7) * 7);
}

static uint64_t rng_next(uint64_t *s) { *s = mix(*s + 0x9e3779b97f4a7c15ULL); return *s; }

/* ================================================================== */
/* The client process                                                  */
/* ================================================================== */

static corio_addr server_addr;

static void set_linger_zero(corio_fd fd)
{
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* One exchange: send len bytes of the pattern for key, read them back
 * (slowly for a slow reader) and compare. 0, or the failing code. */
static int exchange(corio_stream *s, uint64_t key, size_t len, int slow)
{
    unsigned char buf[4096];
    for (size_t off = 0; off < len;) {
        size_t n = len - off < sizeof buf ? len - off : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern(key, off + i);
        int rc = corio_stream_write(s, buf, n);
        if (rc) return rc;
        off += n;
    }
    int64_t dl = corio_deadline_in(CORIO_SEC(60));
    size_t got = 0;
    long bad = 0;
    while (got < len) {
        size_t want = len - got;
        if (want > (slow ? 1024 : sizeof buf)) want = slow ? 1024 : sizeof buf;
        /* A slow reader reads the socket itself: the stream would pull
         * everything the kernel holds into its own buffer at once. */
        ptrdiff_t n = slow ? corio_sock_recv_until(corio_stream_fd(s), buf, want, dl)
                           : corio_stream_read_until(s, buf, want, dl);
        if (n <= 0) {
            /* A deadline that passes while the kernel holds bytes for us
             * is a lost wakeup (a bug), not a slow machine. */
            int waiting = 0;
            if (n == CORIO_ETIMEDOUT && corio_stream_buffered(s) == 0 &&
                ioctl(corio_stream_fd(s), FIONREAD, &waiting) == 0 && waiting > 0)
                atomic_fetch_add(&sh->stalls_with_data, 1);
            atomic_fetch_add(&sh->bytes_checked, (long)got);
            return n == 0 ? CORIO_EINCOMPLETE : (int)n;
        }
        for (ptrdiff_t i = 0; i < n; i++) bad += buf[i] != pattern(key, got + (size_t)i);
        got += (size_t)n;
        if (slow && (got & 8191) < (size_t)n) corio_sleep(CORIO_MS(2)); /* ~every 8 KiB */
    }
    atomic_fetch_add(&sh->bytes_checked, (long)got);
    if (bad) atomic_fetch_add(&sh->mismatches, bad);
    atomic_fetch_add(&sh->exchanges, 1);
    return 0;
}

static void count_io_error(int rc)
{
    atomic_fetch_add(&sh->io_errors, 1);
    if (rc < 0 && rc > -64) atomic_fetch_add(&sh->io_error_by_code[-rc], 1);
}

static void *session(void *arg)
{
    long id = (long)(intptr_t)arg;
    int slow = id & 1;
    uint64_t rng = mix((uint64_t)id + 1);
    uint64_t seq = 0;
    /* Spread the first connects over two seconds: 10,000 SYNs at once
     * only overflow the listen queue and wait for a retransmit. */
    corio_sleep(CORIO_MS(rng_next(&rng) % 2000));
    while (corio_now() < t_end) {
        corio_fd fd;
        int rc = corio_tcp_connect_until(&server_addr, &fd, corio_deadline_in(CORIO_SEC(30)));
        if (rc) {
            atomic_fetch_add(&sh->connect_errors, 1);
            corio_sleep(CORIO_MS(10 + rng_next(&rng) % 100));
            continue;
        }
        if (slow) {
            /* A small window: the server's echo fills its send buffer. */
            int sz = 8192;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        }
        corio_stream *s = corio_stream_open(fd, NULL);
        if (!s) { corio_fd_close(fd); atomic_fetch_add(&sh->io_errors, 1); continue; }
        atomic_fetch_add(&sh->connects, 1);
        atomic_fetch_add(&sh->open, 1);
        int k = 1 + (int)(rng_next(&rng) % 4);
        for (int j = 0; j < k && rc == 0; j++) {
            size_t len = slow ? 65536 + rng_next(&rng) % 131072
                              : 1 + rng_next(&rng) % 4096;
            rc = exchange(s, mix(((uint64_t)id << 32) ^ seq++), len, slow);
        }
        if (rc) {
            count_io_error(rc);
            corio_stream_abort(s);
        } else {
            switch (rng_next(&rng) % 3) {
            case 0: /* graceful */
                rc = corio_stream_close_until(s, corio_deadline_in(CORIO_SEC(30)));
                if (rc) count_io_error(rc);
                atomic_fetch_add(&sh->closes, 1);
                break;
            case 1: { /* half-close, then the server's end of stream */
                char c;
                rc = corio_stream_write_eof_until(s, corio_deadline_in(CORIO_SEC(30)));
                if (rc == 0) {
                    ptrdiff_t n = corio_stream_read_until(s, &c, 1, corio_deadline_in(CORIO_SEC(30)));
                    rc = n > 0 ? CORIO_EINVAL /* a byte after the echo */ : (int)n;
                }
                if (rc) count_io_error(rc);
                corio_stream_close_until(s, corio_deadline_in(CORIO_SEC(30)));
                atomic_fetch_add(&sh->half_closes, 1);
                break;
            }
            default: /* abort: RST instead of FIN */
                set_linger_zero(corio_stream_fd(s));
                corio_stream_abort(s);
                atomic_fetch_add(&sh->aborts, 1);
                break;
            }
        }
        atomic_fetch_sub(&sh->open, 1);
    }
    return NULL;
}

static void *client_main(void *arg)
{
    (void)arg;
    char port[16];
    snprintf(port, sizeof port, "%d", atomic_load(&sh->port));
    /* A numeric host: the resolver answers without DNS. */
    if (corio_resolve("127.0.0.1", atomic_load(&sh->port), CORIO_AF_INET, &server_addr, 1) < 1) {
        fprintf(stderr, "soak client: cannot resolve 127.0.0.1\n");
        return NULL;
    }
    corio_task **t = calloc((size_t)n_conns, sizeof *t);
    corio_task_opts o = { .name = "session", .stack_size = 0 };
    for (long i = 0; i < n_conns; i++) t[i] = corio_spawn(session, (void *)(intptr_t)i, &o);
    for (long i = 0; i < n_conns; i++) if (t[i]) corio_join(t[i], NULL);
    free(t);
    return NULL;
}

static int client_process(void)
{
    while (!atomic_load(&sh->go)) usleep(10000);
    corio_config cfg = { .stack_size = 64 * 1024 };
    corio_loop *l = corio_loop_new(&cfg);
    if (!l) { fprintf(stderr, "soak client: no loop\n"); return 1; }
    corio_task *m = corio_loop_spawn(l, client_main, NULL, NULL);
    corio_loop_run_until_complete(l, m, NULL);
    corio_loop_close(l);
    atomic_store(&sh->client_done, 1);
    return 0;
}

/* ================================================================== */
/* The server process                                                  */
/* ================================================================== */

static atomic_long backpressure_waits, server_errors;
static long dns_ok, dns_fail, proc_ok, proc_fail;

static void echo(corio_stream *s, void *arg)
{
    (void)arg;
    char buf[16384];
    /* Small kernel buffers, so that what a slow reader does not take
     * piles up in the stream and drain() has to wait. */
    int sz = 16384;
    setsockopt(corio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    for (;;) {
        ptrdiff_t n = corio_stream_read(s, buf, sizeof buf);
        if (n <= 0) {
            if (n < 0 && n != CORIO_ECONNRESET) atomic_fetch_add(&server_errors, 1);
            return;
        }
        if (corio_stream_write(s, buf, (size_t)n) != 0) return;
        /* Above the high water mark drain waits: the slow reader's
         * back-pressure reaching the server. */
        if (corio_stream_unsent(s) > 64 * 1024) atomic_fetch_add(&backpressure_waits, 1);
        if (corio_stream_drain(s) != 0) return;
    }
}

static void *dns_traffic(void *arg)
{
    (void)arg;
    static const char *hosts[] = { "localhost", "127.0.0.1", "::1", "localhost" };
    unsigned i = 0;
    while (corio_now() < t_end) {
        corio_addr a[4];
        int n = corio_resolve_until(hosts[i++ % 4], 80, 0, a, 4, corio_deadline_in(CORIO_SEC(10)));
        if (n >= 1) dns_ok++; else dns_fail++;
        corio_sleep(CORIO_MS(5));
    }
    return NULL;
}

/* Spawn cat, send it a line, read it back, wait for its exit. 1 if all
 * of that went right. */
static int process_once(unsigned long k)
{
    static const char *const argv[] = { "cat", NULL };
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_PIPE;
    o.stdout_ = CORIO_STDIO_PIPE;
    o.stderr_ = CORIO_STDIO_NULL;
    char in[64];
    int len = snprintf(in, sizeof in, "soak %lu\n", k);
    corio_process *p;
    if (corio_process_spawn(argv, &o, &p) != 0) return 0;
    corio_buf out = { 0 };
    int code = -1;
    int rc = corio_process_communicate(p, in, (size_t)len, &out, NULL, &code);
    int ok = rc == 0 && code == 0 && out.len == (size_t)len &&
             memcmp(out.data, in, (size_t)len) == 0;
    corio_buf_free(&out);
    corio_process_free(p);
    return ok;
}

static void *process_traffic(void *arg)
{
    unsigned long k = (unsigned long)(uintptr_t)arg << 32;
    while (corio_now() < t_end) {
        if (process_once(k++)) proc_ok++; else proc_fail++;
        corio_sleep(CORIO_MS(20));
    }
    return NULL;
}

/* ---------- the monitor ---------- */

typedef struct sample {
    long fds, rss_kib, heap_kib, tasks, stacks_pooled, stacks_mapped, timers, registered;
} sample;

/* Bytes malloc has handed out and not had back (glibc): unlike RSS, it
 * does not keep what free() returned to the allocator's free lists. */
static long heap_kib(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static sample take(void)
{
    corio_loop_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    corio_loop_get_stats(NULL, &st);
    sample s = { count_fds(), rss_kib(), heap_kib(), (long)st.tasks_alive, (long)st.stacks_pooled,
                 (long)st.stacks_mapped, (long)st.timers_armed, (long)st.fds_registered };
    return s;
}

static void print_sample(long t, const sample *s, corio_server *srv)
{
    printf("t=%4lds fds=%6ld rss=%7ld KiB heap=%7ld KiB tasks=%6ld stacks_pooled=%5ld stacks_mapped=%6ld "
           "timers=%5ld | server_conns=%5zu client_open=%5ld exchanges=%9ld backpressure=%ld\n",
           t, s->fds, s->rss_kib, s->heap_kib, s->tasks, s->stacks_pooled, s->stacks_mapped, s->timers,
           srv ? corio_server_connections(srv) : 0, atomic_load(&sh->open),
           atomic_load(&sh->exchanges), atomic_load(&backpressure_waits));
    fflush(stdout);
}

/* Mean of one field (at byte offset off in a sample) over v[from, to). */
static double mean(const sample *v, long from, long to, size_t off)
{
    double acc = 0;
    for (long i = from; i < to; i++) acc += *(const long *)((const char *)&v[i] + off);
    return to > from ? acc / (double)(to - from) : 0.0;
}

/* Last window's mean minus the first window's, after the warm-up. */
#define GROWTH(field) (mean(v, last - w, last, offsetof(sample, field)) - \
                       mean(v, warm, warm + w, offsetof(sample, field)))

static void *server_main(void *arg)
{
    pid_t child = *(pid_t *)arg;
    corio_server_opts so;
    memset(&so, 0, sizeof so);
    so.backlog = 4096;
    so.handler_stack_size = 64 * 1024;
    corio_server *srv;
    int rc = corio_start_server("127.0.0.1", 0, echo, NULL, &so, &srv);
    if (rc) { fprintf(stderr, "soak: start_server: %s\n", corio_strerror(rc)); return (void *)1; }

    /* One lookup and one child first, so that the resolver's threads and
     * the process machinery are in the idle baseline. */
    corio_addr a0[4];
    if (corio_resolve("localhost", 80, 0, a0, 4) < 1) dns_fail++;
    if (!process_once(0)) proc_fail++;
    corio_sleep(CORIO_MS(100));
    sample idle0 = take();

    t_end = corio_now() + CORIO_SEC(run_seconds);
    corio_task *dns = corio_spawn(dns_traffic, NULL, NULL);
    corio_task *proc[2] = { corio_spawn(process_traffic, (void *)1, NULL),
                            corio_spawn(process_traffic, (void *)2, NULL) };
    atomic_store(&sh->port, corio_server_port(srv));
    atomic_store(&sh->go, 1);

    long cap = run_seconds + 120;
    sample *v = calloc((size_t)cap, sizeof *v);
    long n = 0;
    int64_t t0 = corio_now(), next = t0;
    while ((corio_now() < t_end || !atomic_load(&sh->client_done)) && n < cap) {
        next += CORIO_SEC(1);
        corio_sleep_until(next);
        v[n] = take();
        print_sample(n + 1, &v[n], srv);
        n++;
    }
    corio_join(dns, NULL);
    corio_join(proc[0], NULL);
    corio_join(proc[1], NULL);

    /* Idle again: wait until the server has let every connection go. */
    int64_t quiet = corio_deadline_in(CORIO_SEC(30));
    while (corio_server_connections(srv) > 0 && corio_now() < quiet) corio_sleep(CORIO_MS(50));
    corio_sleep(CORIO_MS(200));
    sample idle1 = take();
    print_sample(n + 1, &idle1, srv);
    /* What of the idle RSS is only the allocator keeping freed memory:
     * give it back and look again. */
    malloc_trim(0);
    sample trimmed = take();

    /* The first and last 10 seconds after the warm-up. */
    long warm = run_seconds / 6 < 30 ? run_seconds / 6 : 30;
    long last = n < run_seconds ? n : run_seconds;  /* traffic samples only */
    long w = (last - warm) / 3 < 10 ? (last - warm) / 3 : 10;
    if (w < 1) w = 1;
    printf("soak_seconds=%ld\nsoak_connections=%ld\nsoak_warmup_seconds=%ld\n",
           run_seconds, n_conns, warm);
    printf("soak_fd_growth=%.1f\n", GROWTH(fds));
    printf("soak_rss_growth_kib=%.0f\n", GROWTH(rss_kib));
    printf("soak_heap_growth_kib=%.0f\n", GROWTH(heap_kib));
    printf("soak_tasks_growth=%.1f\n", GROWTH(tasks));
    printf("soak_stacks_growth=%.1f\n", GROWTH(stacks_mapped));
    long leak_fds = idle1.fds - idle0.fds, leak_tasks = idle1.tasks - idle0.tasks;
    long leak_timers = idle1.timers - idle0.timers, leak_reg = idle1.registered - idle0.registered;
    printf("soak_idle_fd_leak=%ld\nsoak_idle_tasks_leak=%ld\nsoak_idle_timers_leak=%ld\n"
           "soak_idle_registered_leak=%ld\nsoak_idle_rss_growth_kib=%ld\nsoak_idle_stacks_pooled=%ld\n",
           leak_fds, leak_tasks, leak_timers, leak_reg, idle1.rss_kib - idle0.rss_kib,
           idle1.stacks_pooled);
    printf("soak_idle_rss_growth_after_trim_kib=%ld\nsoak_idle_heap_growth_kib=%ld\n",
           trimmed.rss_kib - idle0.rss_kib, idle1.heap_kib - idle0.heap_kib);
    printf("soak_connects=%ld\nsoak_exchanges=%ld\nsoak_bytes_checked=%ld\nsoak_mismatches=%ld\n",
           atomic_load(&sh->connects), atomic_load(&sh->exchanges),
           atomic_load(&sh->bytes_checked), atomic_load(&sh->mismatches));
    printf("soak_closes=%ld\nsoak_half_closes=%ld\nsoak_aborts=%ld\n",
           atomic_load(&sh->closes), atomic_load(&sh->half_closes), atomic_load(&sh->aborts));
    printf("soak_client_connect_errors=%ld\nsoak_client_io_errors=%ld\nsoak_server_errors=%ld\n",
           atomic_load(&sh->connect_errors), atomic_load(&sh->io_errors),
           atomic_load(&server_errors));
    for (int i = 1; i < 64; i++)
        if (atomic_load(&sh->io_error_by_code[i]))
            printf("soak_client_io_errors_%d=%ld  # %s\n", -i,
                   atomic_load(&sh->io_error_by_code[i]), corio_strerror(-i));
    printf("soak_client_stalls_with_data_waiting=%ld\n", atomic_load(&sh->stalls_with_data));
    printf("soak_backpressure_waits=%ld\n", atomic_load(&backpressure_waits));
    printf("soak_dns_lookups=%ld\nsoak_dns_failures=%ld\nsoak_processes=%ld\nsoak_process_failures=%ld\n",
           dns_ok, dns_fail, proc_ok, proc_fail);
    free(v);
    corio_server_shutdown_until(srv, corio_deadline_in(CORIO_SEC(10)));

    int status = 0;
    waitpid(child, &status, 0);
    int fail = atomic_load(&sh->mismatches) != 0 || leak_fds > 0 || leak_tasks > 0 ||
               leak_timers > 0 || leak_reg > 0 || dns_fail || proc_fail ||
               !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    printf("soak_result=%s\n", fail ? "FAIL" : "ok");
    return (void *)(intptr_t)fail;
}

/* ---------- setup ---------- */

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0) {
        fprintf(stderr, "soak: %s=%s is not a positive number\n", name, s);
        exit(2);
    }
    return v;
}

/* Each process holds one descriptor per connection plus a few dozen of
 * its own; raise the soft limit to what that needs, up to the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t need = (rlim_t)n_conns + 256;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        /* Only a privileged process may raise the hard limit: try. */
        struct rlimit up = { need, need };
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
    }
    rlim_t want = need;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        long fit = (long)rl.rlim_cur - 256;
        fprintf(stderr, "soak: RLIMIT_NOFILE cannot be raised to %lu (hard limit %lu): "
                "running %ld connections instead of %ld\n",
                (unsigned long)need, (unsigned long)rl.rlim_max, fit, n_conns);
        n_conns = fit > 1 ? fit : 1;
    }
    printf("# RLIMIT_NOFILE soft=%lu hard=%lu (need %lu per process)\n",
           (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max, (unsigned long)need);
}

int main(void)
{
    run_seconds = env_long("SOAK_SECONDS", 180);
    n_conns = env_long("SOAK_CONNS", 10000);
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile();
    printf("# soak: %ld connections (half slow readers), %ld s, backend %s, switch %s\n",
           n_conns, run_seconds, corio_backend_name(), corio_switch_name());

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) { perror("mmap"); return 2; }
    memset(sh, 0, sizeof *sh);
    signal(SIGPIPE, SIG_IGN);

    pid_t child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child == 0) {
        /* The client's own clock: the same run length, from when it starts. */
        while (!atomic_load(&sh->go)) usleep(10000);
        t_end = corio_now() + CORIO_SEC(run_seconds);
        _exit(client_process());
    }
    corio_config cfg = { .stack_size = 64 * 1024 };
    corio_loop *l = corio_loop_new(&cfg);
    if (!l) { fprintf(stderr, "soak: no loop\n"); kill(child, SIGKILL); return 2; }
    void *fail = NULL;
    corio_task *m = corio_loop_spawn(l, server_main, &child, NULL);
    corio_loop_run_until_complete(l, m, &fail);
    corio_loop_close(l);
    return fail ? 1 : 0;
}
