/*
 * bench_echo.c — an echo server on corio under load, beside a
 * thread-per-connection server built from the same sources, a hand-written
 * single-thread epoll loop, and Go's goroutine-per-connection server, all
 * measured in the same run by the same load generator.
 *
 * Prints name=value lines, for every server and N = 100, 1000, 10000:
 *   echo_rps_<server>_<N>     round trips per second, N connections
 *   echo_p99_us_<server>_<N>  99th percentile round-trip time, microseconds
 * then the ratios the issue sets targets for:
 *   echo_rps_corio_over_epoll_<N>    target >= 0.90 (within 10% of the limit)
 *   echo_rps_corio_over_go_<N>       target > 1
 *   echo_p99_threads_over_corio_<N>  target >= 4 at N = 10000
 * Lines starting with '#' say what was measured, or why a point was skipped.
 * A benchmark never fails on a target: it reports.
 *
 * The servers (<server> in the names):
 *   corio    one task per connection on one corio loop (corio_tcp_accept,
 *            corio_sock_recv / corio_sock_send_all);
 *   threads  one pthread per connection with blocking sockets, running THE
 *            SAME HANDLER SOURCE as corio (echo_serve below, written once
 *            against a two-function recv/send interface: "built from the
 *            same sources"). Thread stacks are 64 KiB (pthread_attr_
 *            setstacksize), so 10,000 threads fit; corio tasks get 64 KiB
 *            stacks too;
 *   epoll    a hand-written single-thread level-triggered epoll loop: the
 *            practical limit for one core;
 *   go       bench/peers/echo_server.go, goroutine per connection,
 *            GOMAXPROCS=1. Built with `go build` when `go` is on PATH
 *            (`make bench` installs golang-go on Debian); skipped otherwise.
 *
 * How it is measured (docs/benchmarks.md has the whole story):
 *   - Each server runs in its own process, pinned to one core; the load
 *     generator is another process (this binary, exec'ed with --load),
 *     pinned to a different core. Both raise RLIMIT_NOFILE to the hard
 *     limit; a point that needs more descriptors is skipped with a reason.
 *   - The load generator is one epoll thread in C. Every connection sends a
 *     64-byte message and waits for its whole echo before sending the next
 *     (a closed loop: N messages in flight). It connects everything (at
 *     most 256 connects in flight), waits until every connection has had
 *     one echo, warms up for 0.5 s, then measures WINDOWS windows of 1 s.
 *     The best window (highest rate, the least disturbed by other work on
 *     a shared machine) is kept with its own p99.
 *   - ROUNDS rounds: every server runs once per round at a size, in an
 *     order that rotates between rounds. A figure is the median over the
 *     rounds; a ratio is the median of the per-round ratios, each dividing
 *     two figures measured seconds apart (the machine's noise moves whole
 *     minutes, so pairing is what makes a ratio mean something).
 *   - p99 counts what a starved server leaves unanswered: a message sent
 *     before a window and still without echo at its end enters that
 *     window's histogram at its age then (a lower bound of its round
 *     trip). A server that answers everything within a window adds nothing
 *     this way; a thread server that leaves connections unserved for
 *     seconds is no longer measured on only the clients it did serve. A
 *     server that has not echoed every connection 30 s after connecting is
 *     measured anyway, with the same rule.
 *   - Each point also prints how busy the server and the load generator
 *     were during that window: a load generator near 100% means the figure
 *     is a floor for that server, not its limit.
 *   - Every point has a time budget and the whole run a hard cap
 *     (TOTAL_CAP_NS); a point that would not fit is skipped, not waited for.
 *
 * Two cores (`bench_echo cores`, also run after the above): the servers
 * get two cores and NOTHING is pinned (servers and load generator share
 * the machine), at N = 1000 and 10000:
 *   corio_loops2  corio_start_server(CORIO_SERVER_EVERY_LOOP) in a group
 *                 of two loops (corio_run_loops): a SO_REUSEPORT listener
 *                 and a task per connection on each loop, echo_serve again;
 *   epoll2        the epoll loop above on two threads, each with its own
 *                 SO_REUSEPORT listener on the same port;
 *   go2           the Go peer with GOMAXPROCS=2;
 *   threads_unpinned  the thread-per-connection server, unpinned.
 * CORES_ROUNDS interleaved rounds (the order rotates); each figure is the
 * best round, with the range over the rounds beside it, and so are the
 * paired ratios corio_loops2/go2 and corio_loops2/epoll2. Targets (printed
 * beside the figures): >= 1.0x go2 and >= 0.9x epoll2.
 *
 * Linux only (epoll, fork/exec, sched_setaffinity): elsewhere it prints one
 * `# skipped` line.
 *
 * Modes of this one binary:
 *   bench_echo [KIND [N]]     the benchmark (or only those points)
 *   bench_echo cores [N]      only the two-core part (or one of its KINDs)
 *   bench_echo --serve KIND   a server; prints its port on stdout
 *   bench_echo --load PORT N PID   the load generator; prints one result line
 *   bench_echo --ping         exits 0: can this binary exec itself? (not
 *                             under qemu-user without binfmt, for one)
 */
#include <corio.h>

#include <stdio.h>

#ifndef __linux__
int main(void)
{
    printf("# skipped: bench_echo needs Linux (epoll, fork/exec, sched_setaffinity)\n");
    return 0;
}
#else

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MSG_BYTES 64                 /* the message size */
#define ECHO_BUF 4096                /* what every server reads at once */
#define BACKLOG 4096                 /* capped by net.core.somaxconn */
#define STACK_BYTES (64 * 1024)      /* per task and per thread */
#define CONNECTS_IN_FLIGHT 256       /* the load generator's connect window */
#define FD_SPARE 64                  /* descriptors beyond the connections */

#define CONNECT_CAP_NS CORIO_SEC(30) /* all connected and echoed once */
#define WARM_NS CORIO_MS(500)
#define WINDOW_NS CORIO_SEC(1)
#define WINDOWS 2
#define ROUNDS 3                     /* every server, every size, this often */
#define POINT_BUDGET_NS (CONNECT_CAP_NS + WARM_NS + WINDOWS * WINDOW_NS + CORIO_SEC(5))
#define TOTAL_CAP_NS CORIO_SEC(420)  /* the whole benchmark, go build included */

static const int sizes[] = { 100, 1000, 10000 };
enum { NSIZES = sizeof sizes / sizeof sizes[0] };
static const char *const kinds[] = { "corio", "threads", "epoll", "go" };
enum { KIND_CORIO, KIND_THREADS, KIND_EPOLL, KIND_GO, NKINDS };

static int64_t now_ns(void) { return corio_now(); }

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "bench_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Raise the soft descriptor limit to the hard one; returns the new limit. */
static long raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)r.rlim_cur;
}

static void pin_to_cpu(int cpu)
{
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void set_nodelay(int fd)
{
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* A listening socket on 127.0.0.1, any free port (the threads and epoll
 * servers; corio's server listens with corio_tcp_listen). */
static int listen_loopback(int flags, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0) die("socket");
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
    if (listen(fd, BACKLOG) != 0) die("listen");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The same with SO_REUSEPORT, on *port (0: any free port, then set). */
static int listen_loopback_shared(int flags, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0) die("socket");
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
    if (listen(fd, BACKLOG) != 0) die("listen");
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* The port goes to whoever started us, on stdout (a pipe). */
static void announce_port(int port)
{
    printf("%d\n", port);
    fflush(stdout);
}

/* ================================================================== */
/* The echo handler, written ONCE                                     */
/* ================================================================== */
/*
 * "A thread-per-connection server built from the same sources": echo_serve
 * is the whole per-connection logic, and it only knows a connection through
 * this two-function interface. corio_echo_io below plugs in corio's socket
 * calls (a call that would block parks the task); blocking_echo_io plugs
 * in the plain blocking recv/send of the OS (a call that would block puts
 * the thread to sleep in the kernel). Because echo_serve is static inline
 * and each table is a constant, the compiler builds one copy of it for each
 * table, with the calls made directly: the two servers differ only in what
 * "block" means.
 */
typedef struct echo_io {
    /* Some bytes into buf: > 0, 0 at end of stream, < 0 on error. */
    ptrdiff_t (*recv)(intptr_t conn, void *buf, size_t len);
    /* All of buf: 0, or < 0 on error. */
    int (*send)(intptr_t conn, const void *buf, size_t len);
} echo_io;

static inline void echo_serve(const echo_io *io, intptr_t conn)
{
    char buf[ECHO_BUF];
    for (;;) {
        ptrdiff_t n = io->recv(conn, buf, sizeof buf);
        if (n <= 0) return; /* end of stream, reset, or any error */
        if (io->send(conn, buf, (size_t)n) < 0) return;
    }
}

/* ---- echo_io on corio: the task parks, the loop runs others ---- */

static ptrdiff_t corio_conn_recv(intptr_t conn, void *buf, size_t len)
{
    return corio_sock_recv((corio_fd)conn, buf, len);
}

static int corio_conn_send(intptr_t conn, const void *buf, size_t len)
{
    return corio_sock_send_all((corio_fd)conn, buf, len);
}

static const echo_io corio_echo_io = { corio_conn_recv, corio_conn_send };

/* ---- echo_io on blocking sockets: the thread sleeps in the kernel ---- */

static ptrdiff_t blocking_recv(intptr_t conn, void *buf, size_t len)
{
    ptrdiff_t n;
    do n = recv((int)conn, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

static int blocking_send(intptr_t conn, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ptrdiff_t n = send((int)conn, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const echo_io blocking_echo_io = { blocking_recv, blocking_send };

/* ================================================================== */
/* Server: corio, one task per connection                             */
/* ================================================================== */

static void *corio_conn_task(void *arg)
{
    corio_fd fd = (corio_fd)(intptr_t)arg;
    echo_serve(&corio_echo_io, (intptr_t)fd);
    corio_fd_close(fd);
    return NULL;
}

static void *corio_server_main(void *arg)
{
    (void)arg;
    corio_addr a, local;
    corio_fd lfd, cfd;
    int err = corio_addr_ip(&a, "127.0.0.1", 0);
    if (!err) err = corio_tcp_listen(&a, BACKLOG, 0, &lfd);
    if (!err) err = corio_sock_local_addr(lfd, &local);
    if (err) {
        fprintf(stderr, "bench_echo: corio listen: %s\n", corio_strerror(err));
        exit(1);
    }
    announce_port(corio_addr_port(&local));
    corio_task_opts opts = { .name = "echo", .stack_size = STACK_BYTES };
    for (;;) {
        err = corio_tcp_accept(lfd, &cfd, NULL);
        if (err == CORIO_EMFILE) { /* out of descriptors: back off */
            corio_sleep(CORIO_MS(1));
            continue;
        }
        if (err) {
            fprintf(stderr, "bench_echo: corio accept: %s\n", corio_strerror(err));
            exit(1);
        }
        corio_task *t = corio_spawn(corio_conn_task, (void *)(intptr_t)cfd, &opts);
        if (!t) {
            fprintf(stderr, "bench_echo: corio spawn failed\n");
            corio_fd_close(cfd);
            continue;
        }
        corio_detach(t);
    }
    return NULL;
}

static int serve_corio(void)
{
    corio_config cfg = { .debug = -1 }; /* no debug bookkeeping, whatever the env */
    corio_loop *l = corio_loop_new(&cfg);
    if (!l) die("corio_loop_new");
    corio_task *m = corio_loop_spawn(l, corio_server_main, NULL, NULL);
    corio_loop_run_until_complete(l, m, NULL); /* runs until we are killed */
    return 1;
}

/* ---- corio on two loops: the server of every loop (corio_run_loops) ---- */

static void corio_stream_echo(corio_stream *s, void *arg)
{
    (void)arg; /* the raw socket: echo_serve does its own buffering */
    echo_serve(&corio_echo_io, (intptr_t)corio_stream_fd(s));
}

static void *corio_loops_main(void *arg)
{
    (void)arg;
    if (corio_loop_index() != 0) return NULL; /* loop 0 starts them all */
    corio_server_opts o = { .backlog = BACKLOG, .flags = CORIO_SERVER_EVERY_LOOP,
                            .handler_stack_size = STACK_BYTES };
    corio_server *srv;
    int err = corio_start_server("127.0.0.1", 0, corio_stream_echo, NULL, &o, &srv);
    if (err) {
        fprintf(stderr, "bench_echo: corio server: %s\n", corio_strerror(err));
        exit(1);
    }
    announce_port(corio_server_port(srv));
    corio_sleep_until(CORIO_NEVER); /* until we are killed */
    return NULL;
}

static int serve_corio_loops(unsigned n)
{
    corio_config cfg = { .debug = -1 };
    corio_loops_opts o = { .config = &cfg };
    corio_run_loops(n, corio_loops_main, NULL, &o);
    return 1;
}

/* ================================================================== */
/* Server: one thread per connection, the same echo_serve             */
/* ================================================================== */

static void *thread_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    echo_serve(&blocking_echo_io, fd);
    close(fd);
    return NULL;
}

__attribute__((noreturn)) static void serve_threads(void)
{
    int port, lfd = listen_loopback(0, &port);
    announce_port(port);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* 64 KiB instead of glibc's 8 MiB default: 10,000 threads then reserve
     * 640 MiB of address space instead of 80 GiB. echo_serve needs ~5 KiB. */
    pthread_attr_setstacksize(&attr, STACK_BYTES);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) usleep(1000);
            else if (errno != EINTR && errno != ECONNABORTED) die("accept");
            continue;
        }
        set_nodelay(fd);
        pthread_t th;
        int e = pthread_create(&th, &attr, thread_conn, (void *)(intptr_t)fd);
        if (e != 0) {
            fprintf(stderr, "bench_echo: pthread_create: %s\n", strerror(e));
            close(fd);
        }
    }
}

/* ================================================================== */
/* Server: a hand-written single-thread epoll loop                    */
/* ================================================================== */
/*
 * What one writes for speed on one core: level-triggered epoll, one recv
 * and one send per readable event, no buffering unless the send comes up
 * short (then the rest waits in `pending` for EPOLLOUT and reading from
 * that connection stops until it is gone, which is back-pressure).
 */
typedef struct pending {
    char *data;
    size_t len;
} pending;

static void epoll_drop(int ep, pending *p, int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(p[fd].data);
    p[fd] = (pending){ NULL, 0 };
}

static void epoll_watch(int ep, int fd, uint32_t events, int op)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    epoll_ctl(ep, op, fd, &ev);
}

/* One epoll loop on listener lfd (a thread's own: buffers on its stack). */
__attribute__((noreturn)) static void epoll_loop(int lfd, long nofile, int port)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    pending *pend = calloc((size_t)nofile, sizeof *pend);
    if (!pend) die("calloc");
    epoll_watch(ep, lfd, EPOLLIN, EPOLL_CTL_ADD);
    if (port) announce_port(port);
    struct epoll_event evs[1024];
    char buf[ECHO_BUF];
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    set_nodelay(c);
                    epoll_watch(ep, c, EPOLLIN, EPOLL_CTL_ADD);
                }
                if (errno == EMFILE || errno == ENFILE) usleep(1000);
                continue;
            }
            if (pend[fd].len > 0) { /* EPOLLOUT: finish the short send */
                ssize_t s = send(fd, pend[fd].data, pend[fd].len, MSG_NOSIGNAL);
                if (s < 0 && errno != EAGAIN) { epoll_drop(ep, pend, fd); continue; }
                if (s < 0) continue;
                memmove(pend[fd].data, pend[fd].data + s, pend[fd].len - (size_t)s);
                pend[fd].len -= (size_t)s;
                if (pend[fd].len == 0) epoll_watch(ep, fd, EPOLLIN, EPOLL_CTL_MOD);
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN)) { epoll_drop(ep, pend, fd); continue; }
            if (r < 0) continue;
            ssize_t s = send(fd, buf, (size_t)r, MSG_NOSIGNAL);
            if (s < 0 && errno != EAGAIN) { epoll_drop(ep, pend, fd); continue; }
            if (s < 0) s = 0;
            if (s < r) { /* rare: the socket's send buffer is full */
                pend[fd].data = realloc(pend[fd].data, (size_t)(r - s));
                if (!pend[fd].data) die("realloc");
                memcpy(pend[fd].data, buf + s, (size_t)(r - s));
                pend[fd].len = (size_t)(r - s);
                epoll_watch(ep, fd, EPOLLOUT, EPOLL_CTL_MOD);
            }
        }
    }
}

__attribute__((noreturn)) static void serve_epoll(long nofile)
{
    int port, lfd = listen_loopback(SOCK_NONBLOCK, &port);
    epoll_loop(lfd, nofile, port);
}

/* Two threads, each the loop above on its own SO_REUSEPORT listener. */
typedef struct epoll_thread_arg { int lfd; long nofile; } epoll_thread_arg;

static void *epoll_thread(void *arg)
{
    epoll_thread_arg *a = arg;
    epoll_loop(a->lfd, a->nofile, 0);
}

__attribute__((noreturn)) static void serve_epoll2(long nofile)
{
    int port = 0;
    int l1 = listen_loopback_shared(SOCK_NONBLOCK, &port);
    static epoll_thread_arg second;
    second.lfd = listen_loopback_shared(SOCK_NONBLOCK, &port);
    second.nofile = nofile;
    pthread_t th;
    if (pthread_create(&th, NULL, epoll_thread, &second) != 0) die("pthread_create");
    epoll_loop(l1, nofile, port);
}

/* ================================================================== */
/* Latency histogram (log-linear, ~1.6% resolution)                   */
/* ================================================================== */
/*
 * Values below 128 ns have a bucket each; above, every power of two is cut
 * into 64 buckets, as HdrHistogram does. Recording is one clz and one
 * increment, so the load generator stays cheap.
 */
#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define HIST_BUCKETS (SUB * 40) /* up to 2^40 ns, about 18 minutes */

typedef struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t total;
} hist;

static int hist_bucket(uint64_t v)
{
    if (v < 2 * SUB) return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - SUB_BITS;
    int b = (shift + 1) * SUB + (int)((v >> shift) - SUB);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* The middle of bucket b, in ns. */
static double hist_value(int b)
{
    if (b < 2 * SUB) return b;
    int shift = b / SUB - 1;
    uint64_t lo = (uint64_t)(b % SUB + SUB) << shift;
    return (double)lo + (double)((uint64_t)1 << shift) / 2;
}

static void hist_add(hist *h, int64_t ns)
{
    h->count[hist_bucket(ns < 0 ? 0 : (uint64_t)ns)]++;
    h->total++;
}

static double hist_percentile(const hist *h, double pct)
{
    uint64_t want = (uint64_t)((double)h->total * pct / 100.0 + 0.999999);
    uint64_t seen = 0;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= want && h->count[b]) return hist_value(b);
    }
    return 0;
}

/* ================================================================== */
/* The load generator: one epoll thread, N connections, closed loop   */
/* ================================================================== */

typedef struct client_conn {
    int fd;
    bool connecting;    /* connect() in progress */
    bool echoed_once;   /* its first echo came back: the server serves it */
    int got;            /* bytes of the current echo received so far */
    int64_t sent_at;
} client_conn;

/* What load_run waits for. */
typedef enum { UNTIL_CONNECTED, UNTIL_ECHOED, UNTIL_TIME } load_goal;

typedef struct load {
    client_conn *c;
    int n;
    int ep;
    int opened, connecting, connected, echoed;
    bool measuring;
    uint64_t round_trips;  /* completed in the current window */
    uint64_t censored;     /* unanswered for the whole window (see load_main) */
    hist *h;               /* latencies of the current window */
} load;

static char message[MSG_BYTES];

/* Cumulative CPU time of a process in ns, from /proc/PID/stat. */
static int64_t proc_cpu_ns(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t len = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[len] = 0;
    char *p = strrchr(line, ')'); /* the command name may contain spaces */
    if (!p) return -1;
    unsigned long long utime, stime;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return -1;
    return (int64_t)((utime + stime) * (1000000000.0 / sysconf(_SC_CLK_TCK)));
}

/* The point cannot be measured: say why on the result line, and stop. */
__attribute__((format(printf, 1, 2), noreturn))
static void load_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("fail ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(0);
}

static void client_send(client_conn *c, int64_t now)
{
    ssize_t s = send(c->fd, message, MSG_BYTES, MSG_NOSIGNAL);
    if (s != MSG_BYTES) /* 64 bytes into an empty send buffer: all or error */
        load_fail("send on a connection: %s", s < 0 ? strerror(errno) : "short send");
    c->sent_at = now;
    c->got = 0;
}

static void client_open(load *L, const struct sockaddr_in *to)
{
    int i = L->opened++;
    client_conn *c = &L->c[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) load_fail("socket: %s", strerror(errno));
    set_nodelay(c->fd);
    /* Close with a reset, not a FIN: no TIME_WAIT left behind, so tens of
     * thousands of connections over the run do not exhaust the ports. */
    struct linger lg = { 1, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    struct epoll_event ev = { .data.u32 = (uint32_t)i };
    if (connect(c->fd, (const struct sockaddr *)to, sizeof *to) == 0) {
        L->connected++;
        ev.events = EPOLLIN;
    } else if (errno == EINPROGRESS) {
        c->connecting = true;
        L->connecting++;
        ev.events = EPOLLOUT;
    } else {
        load_fail("connect: %s", strerror(errno));
    }
    epoll_ctl(L->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void client_event(load *L, client_conn *c)
{
    if (c->connecting) { /* EPOLLOUT: the handshake is over */
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) load_fail("connect: %s", strerror(err));
        c->connecting = false;
        L->connecting--;
        L->connected++;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(c - L->c) };
        epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    char buf[MSG_BYTES];
    ssize_t r = recv(c->fd, buf, (size_t)(MSG_BYTES - c->got), 0);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0)
        load_fail("the server closed a connection (%s)",
                  r == 0 ? "end of stream" : strerror(errno));
    c->got += (int)r;
    if (c->got < MSG_BYTES) return;
    int64_t now = now_ns();
    if (!c->echoed_once) {
        c->echoed_once = true;
        L->echoed++;
    }
    if (L->measuring) {
        hist_add(L->h, now - c->sent_at);
        L->round_trips++;
    }
    client_send(c, now);
}

/* Run the event loop until the goal is reached or the time is up. */
static void load_run(load *L, const struct sockaddr_in *to, load_goal goal, int64_t until)
{
    static struct epoll_event evs[1024];
    while (now_ns() < until) {
        while (L->opened < L->n && L->connecting < CONNECTS_IN_FLIGHT) client_open(L, to);
        if (goal == UNTIL_CONNECTED && L->connected == L->n) return;
        if (goal == UNTIL_ECHOED && L->echoed == L->n) return;
        int k = epoll_wait(L->ep, evs, 1024, 10);
        if (k < 0 && errno != EINTR) load_fail("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < k; i++) client_event(L, &L->c[evs[i].data.u32]);
    }
}

static int load_main(int port, int n, long server_pid)
{
    long nofile = raise_nofile();
    if (nofile < n + FD_SPARE)
        load_fail("RLIMIT_NOFILE of the load generator is %ld", nofile);
    memset(message, 'x', sizeof message);
    load L = { .n = n };
    L.c = calloc((size_t)n, sizeof *L.c);
    L.h = malloc(sizeof *L.h);
    L.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!L.c || !L.h || L.ep < 0) load_fail("%s", "out of memory");
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* Connect everything first, then start every closed loop: the server
     * accepts without echo traffic competing with its accept loop (the
     * thread server's acceptor would otherwise starve among its threads). */
    int64_t t0 = now_ns(), cap = t0 + CONNECT_CAP_NS;
    load_run(&L, &to, UNTIL_CONNECTED, cap);
    if (L.connected < n)
        load_fail("only %d of %d connections were made within %d s", L.connected, n,
                  (int)(CONNECT_CAP_NS / 1000000000));
    int64_t now = now_ns();
    for (int i = 0; i < n; i++) client_send(&L.c[i], now);
    load_run(&L, &to, UNTIL_ECHOED, cap);
    /* A server that has not answered every connection by now is measured
     * anyway: the unanswered messages count in its p99 (below). */
    int unechoed = n - L.echoed;
    double connect_ms = (double)(now_ns() - t0) / 1e6;
    load_run(&L, &to, UNTIL_TIME, now_ns() + WARM_NS);

    double best_rps = -1, best_p99 = 0, best_cbusy = 0, best_sbusy = 0;
    uint64_t best_censored = 0;
    double rps[WINDOWS];
    for (int w = 0; w < WINDOWS; w++) {
        memset(L.h, 0, sizeof *L.h);
        L.round_trips = 0;
        L.censored = 0;
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        int64_t s0 = proc_cpu_ns(server_pid);
        int64_t w0 = now_ns();
        L.measuring = true;
        load_run(&L, &to, UNTIL_TIME, w0 + WINDOW_NS);
        L.measuring = false;
        int64_t w1 = now_ns();
        /* A message sent before the window and still unanswered at its end
         * waited longer than the window: its round trip is at least its age
         * now. Counting that age makes the p99 a lower bound instead of
         * leaving out exactly the clients a starved server never served.
         * A server that answers within a window adds nothing here. */
        for (int i = 0; i < n; i++)
            if (L.c[i].sent_at < w0) {
                hist_add(L.h, w1 - L.c[i].sent_at);
                L.censored++;
            }
        int64_t s1 = proc_cpu_ns(server_pid);
        getrusage(RUSAGE_SELF, &ru1);
        double wall = (double)(w1 - w0);
        double ccpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                       ru0.ru_stime.tv_sec) * 1e9 +
                      (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                       ru0.ru_stime.tv_usec) * 1e3;
        rps[w] = (double)L.round_trips * 1e9 / wall;
        if (rps[w] > best_rps) {
            best_rps = rps[w];
            best_p99 = hist_percentile(L.h, 99.0) / 1e3;
            best_cbusy = 100.0 * ccpu / wall;
            best_sbusy = s0 >= 0 && s1 >= 0 ? 100.0 * (double)(s1 - s0) / wall : -1;
            best_censored = L.censored;
        }
    }
    printf("ok %.0f %.1f %.0f %.0f %.0f %d %llu", best_rps, best_p99, best_cbusy,
           best_sbusy, connect_ms, unechoed, (unsigned long long)best_censored);
    for (int w = 0; w < WINDOWS; w++) printf(" %.0f", rps[w]);
    printf("\n");
    fflush(stdout);
    return 0; /* exit closes every socket, with a reset (SO_LINGER 0) */
}

/* ================================================================== */
/* The orchestrator                                                   */
/* ================================================================== */

static char self_exe[1024];
static char go_server[2048]; /* the built Go peer, "" if none */
static int server_cpu = -1, load_cpu = -1;

/* Start argv with its stdout on a pipe (returned in *out), pinned to cpu,
 * optionally with one extra environment variable. */
static pid_t spawn(char *const argv[], int cpu, int *out, const char *env)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) die("pipe2");
    fflush(stdout); /* or the child's exit would print our buffer twice */
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        dup2(p[1], 1); /* dup2 clears close-on-exec on the copy */
        pin_to_cpu(cpu);
        if (env) putenv((char *)env);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* Read stdout of a child until end or deadline; returns bytes read. */
static size_t read_until(int fd, char *buf, size_t cap, int64_t deadline, bool one_line)
{
    size_t len = 0;
    while (len + 1 < cap) {
        int64_t left = deadline - now_ns();
        if (left <= 0) break;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r = poll(&pfd, 1, (int)(left / 1000000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        ssize_t k = read(fd, buf + len, cap - 1 - len);
        if (k <= 0) break;
        len += (size_t)k;
        if (one_line && memchr(buf, '\n', len)) break;
    }
    buf[len] = 0;
    return len;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

typedef struct result {
    bool ok;
    double rps, p99_us;
} result;

/* Every round of every point; the figures printed are medians over rounds. */
static result results[NKINDS][NSIZES][ROUNDS];

/* One point: start the server (argv, pinned to scpu, env), the load
 * generator (pinned to lcpu) with n connections; fills *out. */
static void measure(char *const serve_argv[], const char *env, int scpu, int lcpu,
                    const char *name, int n, int round, result *out)
{
    int sfd;
    pid_t server = spawn(serve_argv, scpu, &sfd, env);
    char line[256];
    read_until(sfd, line, sizeof line, now_ns() + CORIO_SEC(10), true);
    int port = atoi(line);
    if (port <= 0) {
        printf("# skipped: echo %s %d: the server did not start\n", name, n);
        close(sfd);
        stop(server);
        return;
    }

    char sport[16], sn[16], spid[24];
    snprintf(sport, sizeof sport, "%d", port);
    snprintf(sn, sizeof sn, "%d", n);
    snprintf(spid, sizeof spid, "%ld", (long)server);
    char *load_argv[] = { self_exe, "--load", sport, sn, spid, NULL };
    int lfd;
    pid_t loader = spawn(load_argv, lcpu, &lfd, NULL);
    read_until(lfd, line, sizeof line, now_ns() + POINT_BUDGET_NS, false);
    close(lfd);
    stop(loader); /* already gone unless it overran its budget */
    stop(server);
    close(sfd);

    double rps, p99, cbusy, sbusy, conn_ms, w[WINDOWS] = { 0 };
    int unechoed;
    unsigned long long censored;
    if (strncmp(line, "ok ", 3) == 0 &&
        sscanf(line + 3, "%lf %lf %lf %lf %lf %d %llu %lf %lf", &rps, &p99, &cbusy,
               &sbusy, &conn_ms, &unechoed, &censored, &w[0], &w[1]) >= 7) {
        *out = (result){ true, rps, p99 };
        printf("# round %d: %s %d: %.0f rps, p99 %.1f us; windows", round + 1, name, n,
               rps, p99);
        for (int i = 0; i < WINDOWS; i++) printf(" %.0f", w[i]);
        printf(" rps; best window: server busy %.0f%%, load generator busy %.0f%%; "
               "connected in %.0f ms\n", sbusy, cbusy, conn_ms);
        if (unechoed > 0 || censored > 0)
            printf("# %s %d: %d connections had no echo %d s after connecting; in the "
                   "best window %llu messages stayed unanswered all window long and count "
                   "in the p99 at their age (so it is a lower bound)\n", name, n, unechoed,
                   (int)(CONNECT_CAP_NS / 1000000000), censored);
        if (cbusy >= 90)
            printf("# %s %d: the load generator was near saturation: a floor for this "
                   "server, not its limit\n", name, n);
        else if (lcpu >= 0 && sbusy >= 0 && sbusy < 70)
            printf("# %s %d: neither side kept its core busy: other work held the cores "
                   "(a disturbed figure)\n", name, n);
    } else {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        printf("# skipped: echo %s %d (round %d): %s\n", name, n, round + 1,
               strncmp(line, "fail ", 5) == 0 ? line + 5
               : line[0] ? line : "the load generator gave no result in time");
    }
    fflush(stdout);
}

static void run_point(int kind, int si, int round, int64_t run_deadline)
{
    int n = sizes[si];
    const char *name = kinds[kind];
    if (now_ns() + POINT_BUDGET_NS > run_deadline) {
        printf("# skipped: echo %s %d: the run's %d s cap would be exceeded\n", name, n,
               (int)(TOTAL_CAP_NS / 1000000000));
        return;
    }
    char *serve_argv[] = { self_exe, "--serve", (char *)name, NULL };
    char *go_argv[] = { go_server, NULL };
    measure(kind == KIND_GO ? go_argv : serve_argv, kind == KIND_GO ? "GOMAXPROCS=1" : NULL,
            server_cpu, load_cpu, name, n, round, &results[kind][si][round]);
}

/* Wait for a child until deadline; its exit status, or -1 (killed). */
static int wait_child(pid_t pid, int64_t deadline)
{
    int st;
    while (now_ns() < deadline) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        usleep(20000);
    }
    stop(pid);
    return -1;
}

static int run_quiet(char *const argv[], const char *env, int64_t deadline)
{
    int fd;
    pid_t pid = spawn(argv, -1, &fd, env);
    int st = wait_child(pid, deadline);
    close(fd);
    return st;
}

/* Build bench/peers/echo_server.go next to this binary when `go` is there
 * and the binary is missing or older than the source. */
static void build_go_peer(int64_t deadline)
{
    char dir[1024], src[2048] = "";
    snprintf(dir, sizeof dir, "%s", self_exe);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    /* make bench runs from the repository; else find it from build/.../bench/ */
    const char *cands[] = { "bench/peers/echo_server.go", "../../bench/peers/echo_server.go",
                            "../../../bench/peers/echo_server.go" };
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !src[0]; i++) {
        char p[2048];
        snprintf(p, sizeof p, "%s%s%s", i ? dir : "", i ? "/" : "", cands[i]);
        if (access(p, R_OK) == 0) snprintf(src, sizeof src, "%s", p);
    }
    if (!src[0]) {
        printf("# skipped: echo go: bench/peers/echo_server.go not found\n");
        return;
    }
    char *version_argv[] = { "go", "version", NULL };
    if (run_quiet(version_argv, NULL, deadline) != 0) {
        printf("# skipped: echo go: `go` is not installed (make bench installs golang-go)\n");
        return;
    }
    char out[2048];
    snprintf(out, sizeof out, "%s/echo_server_go", dir);
    struct stat ss, so;
    if (stat(out, &so) != 0 || stat(src, &ss) != 0 || so.st_mtime < ss.st_mtime) {
        /* A writable cache when there is no HOME (e.g. a bare CI shell). */
        static char cache[2048];
        snprintf(cache, sizeof cache, "GOCACHE=%s/go-cache", dir);
        char *build_argv[] = { "go", "build", "-o", out, src, NULL };
        if (run_quiet(build_argv, getenv("HOME") ? NULL : cache, deadline) != 0) {
            printf("# skipped: echo go: `go build %s` failed\n", src);
            return;
        }
    }
    snprintf(go_server, sizeof go_server, "%s", out);
}

/* The first two CPUs we may run on: one for the servers, one for the load. */
static void choose_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        if (server_cpu < 0) server_cpu = c;
        else if (load_cpu < 0) load_cpu = c;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of the rounds that produced a figure; false if none did. */
static bool median(double *v, int k, double *out)
{
    if (k == 0) return false;
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    *out = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    return true;
}

/* A server's figures at one size: medians over its rounds. */
static void print_point(int kind, int si)
{
    double rps[ROUNDS], p99[ROUNDS], m;
    int k = 0;
    for (int r = 0; r < ROUNDS; r++)
        if (results[kind][si][r].ok) {
            rps[k] = results[kind][si][r].rps;
            p99[k++] = results[kind][si][r].p99_us;
        }
    if (median(rps, k, &m)) printf("echo_rps_%s_%d=%.0f\n", kinds[kind], sizes[si], m);
    if (median(p99, k, &m)) printf("echo_p99_us_%s_%d=%.1f\n", kinds[kind], sizes[si], m);
}

/* a/b per round, where both servers ran in that round (seconds apart),
 * then the median of those paired ratios. */
static void print_ratio(const char *name, int ka, int kb, int si, bool p99)
{
    double v[ROUNDS], m;
    int k = 0;
    char each[ROUNDS * 16] = "";
    for (int r = 0; r < ROUNDS; r++) {
        const result *a = &results[ka][si][r], *b = &results[kb][si][r];
        if (!a->ok || !b->ok) continue;
        v[k] = p99 ? a->p99_us / b->p99_us : a->rps / b->rps;
        snprintf(each + strlen(each), sizeof each - strlen(each), " %.2f", v[k++]);
    }
    if (!median(v, k, &m)) return;
    printf("%s_%d=%.2f\n", name, sizes[si], m);
    printf("# %s_%d per round:%s\n", name, sizes[si], each);
}

/* ---- two cores, nothing pinned ---- */

#define CORES_ROUNDS 3
#define CORES_CAP_NS CORIO_SEC(240) /* 24 points of ~5 s each, with room */
static const int cores_sizes[] = { 1000, 10000 };
enum { NCSIZES = sizeof cores_sizes / sizeof cores_sizes[0] };
/* Figure names; the threads server is the one above, unpinned here. */
static const char *const cores_kinds[] = { "corio_loops2", "epoll2", "go2",
                                           "threads_unpinned" };
static const char *const cores_serve[] = { "corio_loops2", "epoll2", NULL, "threads" };
enum { C_CORIO, C_EPOLL, C_GO, C_THREADS, NCKINDS };
static result cores_results[NCKINDS][NCSIZES][CORES_ROUNDS];

/* Best round and range of one figure; false if no round produced it. */
static bool best_range(const result *r, double *best, double *lo)
{
    bool any = false;
    for (int i = 0; i < CORES_ROUNDS; i++) {
        if (!r[i].ok) continue;
        if (!any || r[i].rps > *best) *best = r[i].rps;
        if (!any || r[i].rps < *lo) *lo = r[i].rps;
        any = true;
    }
    return any;
}

/* The paired ratio a/b per round: best and range. */
static void cores_ratio(int ka, int kb, int si, double target)
{
    double v[CORES_ROUNDS], best = 0, lo = 0;
    int k = 0;
    for (int r = 0; r < CORES_ROUNDS; r++) {
        const result *a = &cores_results[ka][si][r], *b = &cores_results[kb][si][r];
        if (a->ok && b->ok) v[k++] = a->rps / b->rps;
    }
    for (int i = 0; i < k; i++) {
        if (i == 0 || v[i] > best) best = v[i];
        if (i == 0 || v[i] < lo) lo = v[i];
    }
    if (!k) return;
    printf("echo_rps_%s_over_%s_%d=%.2f\n", cores_kinds[ka], cores_kinds[kb],
           cores_sizes[si], best);
    printf("# echo_rps_%s_over_%s_%d: best of %d paired rounds, range %.2f..%.2f; "
           "target >= %.2f\n", cores_kinds[ka], cores_kinds[kb], cores_sizes[si], k, lo,
           best, target);
}

static void bench_cores(const char *only_kind, int only_n)
{
    int64_t deadline = now_ns() + CORES_CAP_NS;
    printf("# echo on two cores: servers with two threads or loops, nothing pinned (the "
           "load generator shares the machine); %d interleaved rounds, best round and "
           "range\n", CORES_ROUNDS);
    fflush(stdout);
    for (int si = 0; si < NCSIZES; si++) {
        int n = cores_sizes[si];
        if (only_n && n != only_n) continue;
        for (int r = 0; r < CORES_ROUNDS; r++)
            for (int j = 0; j < NCKINDS; j++) {
                int k = (j + r) % NCKINDS;
                const char *name = cores_kinds[k];
                if (only_kind && strcmp(only_kind, "cores") != 0 &&
                    strcmp(only_kind, name) != 0)
                    continue;
                if (k == C_GO && !go_server[0]) continue;
                if (now_ns() + POINT_BUDGET_NS > deadline) {
                    printf("# skipped: echo %s %d: the %d s cap of the two-core part\n",
                           name, n, (int)(CORES_CAP_NS / 1000000000));
                    continue;
                }
                char *serve_argv[] = { self_exe, "--serve", (char *)cores_serve[k], NULL };
                char *go_argv[] = { go_server, NULL };
                measure(k == C_GO ? go_argv : serve_argv,
                        k == C_GO ? "GOMAXPROCS=2" : NULL, -1, -1, name, n, r,
                        &cores_results[k][si][r]);
            }
        for (int k = 0; k < NCKINDS; k++) {
            double best = 0, lo = 0;
            if (!best_range(cores_results[k][si], &best, &lo)) continue;
            printf("echo_rps_%s_%d=%.0f\n", cores_kinds[k], n, best);
            printf("# echo_rps_%s_%d: best round, range %.0f..%.0f\n", cores_kinds[k], n,
                   lo, best);
        }
        cores_ratio(C_CORIO, C_GO, si, 1.0);
        cores_ratio(C_CORIO, C_EPOLL, si, 0.9);
        fflush(stdout);
    }
    printf("# targets: echo_rps_corio_loops2_N >= 1.0x echo_rps_go2_N and >= 0.9x "
           "echo_rps_epoll2_N (N = 1000, 10000)\n");
}

/* Find ourselves, check that we can exec ourselves; 0 if not. */
static bool exec_ok;
static int setup_self(void)
{
    ssize_t len = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (len <= 0) die("readlink /proc/self/exe");
    self_exe[len] = 0;
    char *ping_argv[] = { self_exe, "--ping", NULL };
    if (run_quiet(ping_argv, NULL, now_ns() + CORIO_SEC(10)) != 0) {
        printf("# skipped: bench_echo cannot exec itself here (emulated?): no echo figures\n");
        return 0;
    }
    exec_ok = true;
    return 1;
}

static int bench(const char *only_kind, int only_n)
{
    int64_t t0 = now_ns(), run_deadline = t0 + TOTAL_CAP_NS;
    if (!setup_self()) return 0;
    choose_cpus();
    long nofile = raise_nofile();
    printf("# corio echo benchmark: loopback 127.0.0.1, %d-byte messages, closed loop "
           "(one message in flight per connection)\n", MSG_BYTES);
    if (load_cpu >= 0)
        printf("# servers pinned to cpu %d, load generator (one epoll thread, its own "
               "process) pinned to cpu %d\n", server_cpu, load_cpu);
    else
        printf("# only one cpu: server and load generator share it (not pinned)\n");
    printf("# per point: connect, warm up %.1f s, %d windows of %.0f s; the best window "
           "is kept with its own p99. %d rounds, every server once per round at each size "
           "(in a rotating order); figures are medians over rounds, ratios medians of the "
           "per-round ratios. RLIMIT_NOFILE hard limit %ld\n",
           WARM_NS / 1e9, WINDOWS, WINDOW_NS / 1e9, ROUNDS, nofile);
    printf("# thread server and corio tasks: %d KiB stacks; both run the same echo_serve()\n",
           STACK_BYTES / 1024);
    double load1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la && fscanf(la, "%lf", &load1) == 1)
        printf("# load average at start: %.2f (other work on the machine makes figures "
               "noisy)\n", load1);
    if (la) fclose(la);
    build_go_peer(run_deadline);
    if (go_server[0]) printf("# go peer: %s, GOMAXPROCS=1\n", go_server);
    fflush(stdout);

    /* Every server at one size, round after round, before the next size:
     * a ratio divides figures taken seconds apart, in the same round. The
     * order rotates so that no server always runs first (or last). */
    for (int si = 0; si < NSIZES; si++) {
        int n = sizes[si];
        if (only_n && n != only_n) continue;
        if (n + FD_SPARE > nofile) {
            printf("# skipped: echo * %d: needs %d descriptors per process, RLIMIT_NOFILE "
                   "hard limit is %ld\n", n, n + FD_SPARE, nofile);
            continue;
        }
        for (int r = 0; r < ROUNDS; r++)
            for (int j = 0; j < NKINDS; j++) {
                int k = (j + r) % NKINDS;
                if (only_kind && strcmp(only_kind, kinds[k]) != 0) continue;
                if (k == KIND_GO && !go_server[0]) continue;
                run_point(k, si, r, run_deadline);
            }
        for (int k = 0; k < NKINDS; k++) print_point(k, si);
        fflush(stdout);
    }

    for (int si = 0; si < NSIZES; si++) {
        print_ratio("echo_rps_corio_over_epoll", KIND_CORIO, KIND_EPOLL, si, false);
        print_ratio("echo_rps_corio_over_go", KIND_CORIO, KIND_GO, si, false);
        print_ratio("echo_rps_corio_over_threads", KIND_CORIO, KIND_THREADS, si, false);
        print_ratio("echo_p99_threads_over_corio", KIND_THREADS, KIND_CORIO, si, true);
    }
    printf("# targets: echo_rps_corio_over_epoll>=0.90 and echo_rps_corio_over_go>1 at "
           "every size; echo_p99_threads_over_corio_10000>=4\n");
    printf("# bench_echo ran %.0f s\n", (now_ns() - t0) / 1e9);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "--ping") == 0) return 0;
    if (argc >= 3 && strcmp(argv[1], "--serve") == 0) {
        long nofile = raise_nofile();
        if (strcmp(argv[2], "corio") == 0) return serve_corio();
        if (strcmp(argv[2], "threads") == 0) serve_threads();
        if (strcmp(argv[2], "epoll") == 0) serve_epoll(nofile);
        if (strcmp(argv[2], "epoll2") == 0) serve_epoll2(nofile);
        if (strcmp(argv[2], "corio_loops2") == 0) return serve_corio_loops(2);
        fprintf(stderr, "bench_echo: unknown server %s\n", argv[2]);
        return 2;
    }
    if (argc >= 5 && strcmp(argv[1], "--load") == 0)
        return load_main(atoi(argv[2]), atoi(argv[3]), atol(argv[4]));
    /* `bench_echo [KIND [N]]` runs only those points (to look at one);
     * `bench_echo cores [N]` only the two-core part. */
    const char *kind = argc >= 2 ? argv[1] : NULL;
    int n = argc >= 3 ? atoi(argv[2]) : 0;
    bool cores_kind = kind && (strcmp(kind, "cores") == 0 || strcmp(kind, "corio_loops2") == 0 ||
                               strcmp(kind, "epoll2") == 0 || strcmp(kind, "go2") == 0 ||
                               strcmp(kind, "threads_unpinned") == 0);
    if (cores_kind) {
        if (!setup_self()) return 0;
        build_go_peer(now_ns() + CORIO_SEC(120));
        raise_nofile();
        bench_cores(kind, n);
        return 0;
    }
    int rc = bench(kind, n);
    if (rc == 0 && !kind && exec_ok) bench_cores(NULL, n);
    return rc;
}

#endif /* __linux__ */
