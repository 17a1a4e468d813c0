/*
 * thread.h — threads and what threads need: a monotonic clock, the CPU
 * count, a mutex and condition variable, a fork hook. The loop, the thread
 * pool and the signal room use them. thread_posix.c implements them with
 * clock_gettime and pthreads, thread_win.c with QueryPerformanceCounter,
 * SRWLOCK/CONDITION_VARIABLE and CreateThread. Nothing here knows about
 * tasks.
 */
#ifndef CORIO_OS_THREAD_H
#define CORIO_OS_THREAD_H

#include <stdint.h>
#include <stddef.h>

int64_t corio__os_now_ns(void);
int corio__os_cpu_count(void);

/* Call fn in the child after every fork() of this process (pthread_atfork;
 * Windows has no fork: a no-op). Registered once per process. */
void corio__os_on_fork_child(void (*fn)(void));

typedef struct corio_os_mutex corio_os_mutex;
typedef struct corio_os_cond corio_os_cond;
typedef struct corio_os_thread corio_os_thread;

corio_os_mutex *corio__os_mutex_new(void);
void corio__os_mutex_free(corio_os_mutex *m);
void corio__os_mutex_lock(corio_os_mutex *m);
void corio__os_mutex_unlock(corio_os_mutex *m);

corio_os_cond *corio__os_cond_new(void);
void corio__os_cond_free(corio_os_cond *c);
void corio__os_cond_wait(corio_os_cond *c, corio_os_mutex *m);
void corio__os_cond_signal(corio_os_cond *c);
void corio__os_cond_broadcast(corio_os_cond *c);

/* Pin the calling thread to CPU `cpu` (0-based; the loop groups' pin
 * option). 0, or -1 where the OS refuses or cannot pin. */
int corio__os_thread_pin(int cpu);

/* The calling thread's id as the OS shows it (gettid on Linux, what
 * debuggers and top print), for messages. */
uint64_t corio__os_thread_id(void);

/* Start fn(arg) on a new OS thread. NULL on failure. */
corio_os_thread *corio__os_thread_start(void (*fn)(void *), void *arg);
/* Wait for it to end and free it. */
void corio__os_thread_join(corio_os_thread *t);
/* Let another runnable thread have the CPU (sched_yield, SwitchToThread). */
void corio__os_thread_yield(void);

#endif
