/*
 * echo_demo.c — the second half of `make demo`: an echo server on corio
 * under load from its own client, beside a thread-per-connection server
 * built from the same handler source.
 *
 *   1. The corio server runs on its own OS thread: one loop, one task per
 *      connection.
 *   2. The thread server runs one OS thread per connection, with blocking
 *      sockets.
 *
 * Both run echo_serve() below, written ONCE against a two-function
 * interface (recv, send). Plugged into corio's socket calls, a recv that
 * would block parks the task and the loop serves another connection;
 * plugged into the OS's blocking calls, it puts the thread to sleep in the
 * kernel. That is the whole difference between the two servers.
 *
 * Each server gets the same client for DEMO_NS: CONNS corio tasks on the
 * main thread, each sending a 64-byte message and waiting for its echo
 * before sending the next. The demo prints round trips per second for both.
 * On Linux every server thread is pinned to one core and the client to
 * another, so that 200 server threads cannot spread over both cores while
 * the corio server has one: each server gets exactly one core.
 * On a shared 2-core machine the figures move from run to run;
 * `make bench` (bench/bench_echo.c) measures this properly, with pinned
 * cores, a separate load process and 100 to 10,000 connections.
 */
#include <corio.h>

#include <stdio.h>

#ifdef _WIN32
int main(void)
{
    printf("echo demo: the thread server uses POSIX sockets; skipped on Windows\n");
    return 0;
}
#else

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

enum { CONNS = 200, MSG_BYTES = 64, STACK_BYTES = 64 * 1024 };
#define DEMO_NS CORIO_SEC(2)

/* The calling thread runs on cpu only (threads it creates inherit that).
 * False where that cannot be done (one core, not Linux). */
static bool pin_to_cpu(int cpu)
{
#ifdef __linux__
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2) return false;
    int seen = 0; /* the cpu-th cpu we may run on */
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &all) || seen++ != cpu) continue;
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        return sched_setaffinity(0, sizeof one, &one) == 0; /* 0: this thread */
    }
    return false;
#else
    (void)cpu;
    return false;
#endif
}
enum { SERVER_CPU = 0, CLIENT_CPU = 1 };

/* ---------- the echo handler, written once ---------- */

typedef struct echo_io {
    /* Some bytes into buf: > 0, 0 at end of stream, < 0 on error. */
    ptrdiff_t (*recv)(intptr_t conn, void *buf, size_t len);
    /* All of buf: 0, or < 0 on error. */
    int (*send)(intptr_t conn, const void *buf, size_t len);
} echo_io;

static void echo_serve(const echo_io *io, intptr_t conn)
{
    char buf[4096];
    for (;;) {
        ptrdiff_t n = io->recv(conn, buf, sizeof buf);
        if (n <= 0) return; /* the client left */
        if (io->send(conn, buf, (size_t)n) < 0) return;
    }
}

/* corio: waiting parks the task; the loop runs the others. */
static ptrdiff_t corio_conn_recv(intptr_t c, void *buf, size_t len)
{
    return corio_sock_recv((corio_fd)c, buf, len);
}
static int corio_conn_send(intptr_t c, const void *buf, size_t len)
{
    return corio_sock_send_all((corio_fd)c, buf, len);
}
static const echo_io corio_io = { corio_conn_recv, corio_conn_send };

/* threads: waiting puts the thread to sleep in the kernel. */
static ptrdiff_t blocking_recv(intptr_t c, void *buf, size_t len)
{
    return recv((int)c, buf, len, 0);
}
static int blocking_send(intptr_t c, const void *buf, size_t len)
{
    for (const char *p = buf; len > 0;) {
        ptrdiff_t n = send((int)c, p, len, MSG_NOSIGNAL);
        if (n < 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
static const echo_io blocking_io = { blocking_recv, blocking_send };

/* ---------- server 1: corio, one task per connection ---------- */

typedef struct corio_server {
    pthread_t thread;
    corio_loop *loop;        /* the server thread's loop */
    corio_task *acceptor;    /* its main task, cancelled to stop */
    int port;
    pthread_mutex_t mu;      /* guards port: the main thread waits for it */
    pthread_cond_t cv;
} corio_server;

static void *corio_conn(void *arg)
{
    corio_fd fd = (corio_fd)(intptr_t)arg;
    echo_serve(&corio_io, fd);
    corio_fd_close(fd);
    return NULL;
}

static void publish_port(corio_server *s, int port)
{
    pthread_mutex_lock(&s->mu);
    s->port = port;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *corio_acceptor(void *arg)
{
    corio_server *s = arg;
    corio_addr a;
    corio_fd lfd, cfd;
    corio_addr_ip(&a, "127.0.0.1", 0);
    if (corio_tcp_listen(&a, 1024, 0, &lfd) != 0) {
        publish_port(s, -1);
        return NULL;
    }
    corio_sock_local_addr(lfd, &a);
    s->loop = corio_loop_current();
    s->acceptor = corio_current();
    publish_port(s, corio_addr_port(&a));
    corio_task_opts opts = { .name = "echo", .stack_size = STACK_BYTES };
    /* Until stop_corio_server cancels us: then accept says CORIO_ECANCELED. */
    while (corio_tcp_accept(lfd, &cfd, NULL) == 0) {
        corio_task *t = corio_spawn(corio_conn, (void *)(intptr_t)cfd, &opts);
        if (t) corio_detach(t);
        else corio_fd_close(cfd);
    }
    corio_fd_close(lfd);
    return NULL;
}

static void *corio_server_thread(void *arg)
{
    pin_to_cpu(SERVER_CPU);
    corio_run(corio_acceptor, arg, NULL); /* returns once the acceptor is cancelled */
    return NULL;
}

/* Runs on the server's loop (posted from the main thread). */
static void cancel_acceptor(void *arg)
{
    corio_server *s = arg;
    corio_cancel(s->acceptor);
}

static int start_corio_server(corio_server *s)
{
    s->port = 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, corio_server_thread, s) != 0) return -1;
    pthread_mutex_lock(&s->mu);
    while (s->port == 0) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return s->port;
}

static void stop_corio_server(corio_server *s)
{
    if (s->port > 0) corio_call_soon_threadsafe(s->loop, cancel_acceptor, s);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

/* ---------- server 2: one thread per connection, same echo_serve ---------- */

typedef struct thread_server {
    pthread_t acceptor;
    int lfd, port;
    atomic_int live; /* connection threads still running */
} thread_server;

typedef struct { thread_server *s; int fd; } thread_conn_arg;

static void *thread_conn(void *arg)
{
    thread_conn_arg c = *(thread_conn_arg *)arg;
    free(arg);
    echo_serve(&blocking_io, c.fd);
    close(c.fd);
    atomic_fetch_sub(&c.s->live, 1);
    return NULL;
}

static void *thread_acceptor(void *arg)
{
    thread_server *s = arg;
    pin_to_cpu(SERVER_CPU); /* and every connection thread, by inheritance */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, STACK_BYTES); /* as small as the tasks' */
    int fd;
    /* Until stop_thread_server shuts the listener down. */
    while ((fd = accept(s->lfd, NULL, NULL)) >= 0) {
        int on = 1; /* as corio does on every TCP socket */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        thread_conn_arg *c = malloc(sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        *c = (thread_conn_arg){ s, fd };
        atomic_fetch_add(&s->live, 1);
        pthread_t th;
        if (pthread_create(&th, &attr, thread_conn, c) != 0) {
            atomic_fetch_sub(&s->live, 1);
            free(c);
            close(fd);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

static int start_thread_server(thread_server *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    atomic_init(&s->live, 0);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd, 1024) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &len) != 0 ||
        pthread_create(&s->acceptor, NULL, thread_acceptor, s) != 0)
        return -1;
    return s->port = ntohs(a.sin_port);
}

static void stop_thread_server(thread_server *s)
{
    shutdown(s->lfd, SHUT_RDWR); /* wakes the blocked accept() (Linux) */
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    /* The clients have closed: every connection thread sees end of stream. */
    for (int i = 0; i < 2000 && atomic_load(&s->live) > 0; i++) usleep(1000);
}

/* ---------- the client: CONNS corio tasks in a closed loop ---------- */

typedef struct client {
    int port;
    int connected;      /* tasks that got their connection */
    int failed;
    corio_event go;     /* set when every task is connected */
    bool stop;          /* set by the main task after DEMO_NS (all these
                           tasks share one thread: no atomics needed) */
    long round_trips;
    double rate;        /* round trips per second, -1 if a connect failed */
} client;

static void *client_conn(void *arg)
{
    client *c = arg;
    corio_addr a;
    corio_fd fd;
    corio_addr_ip(&a, "127.0.0.1", c->port);
    int err = corio_tcp_connect_until(&a, &fd, corio_deadline_in(CORIO_SEC(5)));
    if (err) c->failed++;
    else c->connected++;
    corio_event_wait(&c->go);
    if (err) return NULL;
    char msg[MSG_BYTES], back[MSG_BYTES];
    memset(msg, 'x', sizeof msg);
    while (!c->stop) {
        if (corio_sock_send_all(fd, msg, sizeof msg) != 0) break;
        size_t got = 0;
        while (got < sizeof back) {
            ptrdiff_t n = corio_sock_recv(fd, back + got, sizeof back - got);
            if (n <= 0) goto out;
            got += (size_t)n;
        }
        if (!c->stop) c->round_trips++;
    }
out:
    corio_fd_close(fd);
    return NULL;
}

static void *client_main(void *arg)
{
    client *c = arg;
    static corio_task *t[CONNS];
    for (int i = 0; i < CONNS; i++) t[i] = corio_spawn(client_conn, c, NULL);
    while (c->connected + c->failed < CONNS) corio_sleep(CORIO_MS(1));
    int64_t t0 = corio_now();
    corio_event_set(&c->go);
    corio_sleep(DEMO_NS);
    c->stop = true;
    double secs = (corio_now() - t0) / 1e9;
    for (int i = 0; i < CONNS; i++) corio_join(t[i], NULL);
    c->rate = c->failed ? -1 : c->round_trips / secs;
    return NULL;
}

/* Round trips per second against the server on port, or -1. */
static double drive(int port)
{
    client c = { .port = port, .rate = -1 };
    corio_event_init(&c.go);
    corio_run(client_main, &c, NULL);
    corio_event_destroy(&c.go);
    return c.rate;
}

int main(void)
{
    /* Server threads pin themselves to SERVER_CPU. */
    bool pinned = pin_to_cpu(CLIENT_CPU);
    printf("echo demo: %d connections on 127.0.0.1, %d-byte messages, closed loop, %.0f s per "
           "server%s\n", CONNS, MSG_BYTES, DEMO_NS / 1e9,
           pinned ? "; each server on one core, the client on the other" : "");

    corio_server cs;
    double corio_rate = -1;
    if (start_corio_server(&cs) > 0) corio_rate = drive(cs.port);
    stop_corio_server(&cs);

    thread_server ts;
    double thread_rate = -1;
    if (start_thread_server(&ts) > 0) {
        thread_rate = drive(ts.port);
        stop_thread_server(&ts);
    }

    if (corio_rate < 0 || thread_rate < 0) {
        printf("echo demo: a server could not be started or reached\n");
        return 1;
    }
    printf("  corio   (1 server thread, one task per connection):  %8.0f round trips/s\n",
           corio_rate);
    printf("  threads (one OS thread per connection, %d threads):  %8.0f round trips/s"
           "   corio/threads = %.2f\n", CONNS, thread_rate, corio_rate / thread_rate);
    printf("  Same echo handler source in both: a waiting corio task parks (a user-space "
           "switch; the loop serves the next ready socket), a waiting thread sleeps in the "
           "kernel and every message pays a scheduler wake-up.\n");
    return 0;
}

#endif /* _WIN32 */
