/*
 * thread_posix.c — clock, mutex, condition variable and threads on POSIX.
 */
#ifdef __linux__
#include <sched.h> /* sched_setaffinity (_GNU_SOURCE: the Makefile) */
#endif
#include "thread.h"
#include "coro/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif
#include <time.h>
#include <unistd.h>

int64_t corio__os_now_ns(void)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC never jumps with the wall clock; on Linux it is read
     * through the vDSO, without a system call. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void corio__os_on_fork_child(void (*fn)(void))
{
    pthread_atfork(NULL, NULL, fn);
}

int corio__os_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int corio__os_thread_pin(int cpu)
{
#ifdef __linux__
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -1; /* 0: me */
#else
    (void)cpu; /* macOS and the BSDs have no portable call for it */
    return -1;
#endif
}

struct corio_os_mutex { pthread_mutex_t m; };
struct corio_os_cond { pthread_cond_t c; };
struct corio_os_thread { pthread_t t; void (*fn)(void *); void *arg; };

corio_os_mutex *corio__os_mutex_new(void)
{
    corio_os_mutex *m = corio__malloc(sizeof *m);
    if (m) pthread_mutex_init(&m->m, NULL);
    return m;
}
void corio__os_mutex_free(corio_os_mutex *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->m);
    corio__free(m);
}
void corio__os_mutex_lock(corio_os_mutex *m) { pthread_mutex_lock(&m->m); }
void corio__os_mutex_unlock(corio_os_mutex *m) { pthread_mutex_unlock(&m->m); }

corio_os_cond *corio__os_cond_new(void)
{
    corio_os_cond *c = corio__malloc(sizeof *c);
    if (c) pthread_cond_init(&c->c, NULL);
    return c;
}
void corio__os_cond_free(corio_os_cond *c)
{
    if (!c) return;
    pthread_cond_destroy(&c->c);
    corio__free(c);
}
void corio__os_cond_wait(corio_os_cond *c, corio_os_mutex *m)
{
    pthread_cond_wait(&c->c, &m->m);
}
void corio__os_cond_signal(corio_os_cond *c) { pthread_cond_signal(&c->c); }
void corio__os_cond_broadcast(corio_os_cond *c) { pthread_cond_broadcast(&c->c); }

uint64_t corio__os_thread_id(void)
{
#ifdef __linux__
    return (uint64_t)syscall(SYS_gettid);
#else
    return (uint64_t)(uintptr_t)pthread_self();
#endif
}

static void *thread_main(void *p)
{
    corio_os_thread *t = p;
    t->fn(t->arg);
    return NULL;
}

corio_os_thread *corio__os_thread_start(void (*fn)(void *), void *arg)
{
    corio_os_thread *t = corio__malloc(sizeof *t);
    if (!t) return NULL;
    t->fn = fn;
    t->arg = arg;
    if (pthread_create(&t->t, NULL, thread_main, t) != 0) {
        corio__free(t);
        return NULL;
    }
    return t;
}

void corio__os_thread_join(corio_os_thread *t)
{
    pthread_join(t->t, NULL);
    corio__free(t);
}

/* Give the CPU to another thread (a spinning lock holder's victim). */
void corio__os_thread_yield(void) { sched_yield(); }
