/*
 * thread_win.c — clock, mutex, condition variable and threads on Windows.
 *
 * The twin of thread_posix.c, on the Win32 API directly (mingw-w64's "win32"
 * thread model has no pthreads, and corio needs none):
 *   clock      QueryPerformanceCounter
 *   mutex      SRWLOCK (a pointer-sized lock that never allocates)
 *   condvar    CONDITION_VARIABLE, which sleeps on an SRWLOCK
 *   threads    CreateThread
 */
#include "thread.h"
#include "coro/alloc.h"

#include <windows.h>
#include <mmsystem.h> /* timeBeginPeriod (winmm) */
#include <stdlib.h>

/* ---------- clock ---------- */

/*
 * Windows' scheduler wakes sleepers on its clock tick, which is 15.625 ms
 * unless some process asks for a finer one. Without this, every timed wait
 * of the loop (GetQueuedCompletionStatusEx with a 1 ms timeout, a 2 ms
 * corio_sleep) would last up to 15.6 ms. timeBeginPeriod(1) asks for a
 * 1 ms tick for the life of the process; it costs a little power, which is
 * why it is done once, lazily, when the first clock read shows that corio
 * is in use (and never undone: the process's end releases it).
 */
static void want_fine_timer(void)
{
    static volatile LONG done;
    if (done || InterlockedExchange(&done, 1)) return;
    timeBeginPeriod(1);
}

int64_t corio__os_now_ns(void)
{
    /* The counter's frequency is fixed at boot: read it once. It is
     * typically 10 MHz, so one tick is 100 ns and the conversion below
     * splits seconds from the remainder to avoid overflowing int64. */
    static LARGE_INTEGER freq;
    LARGE_INTEGER c;
    if (!freq.QuadPart) {
        QueryPerformanceFrequency(&freq);
        want_fine_timer();
    }
    QueryPerformanceCounter(&c);
    int64_t f = freq.QuadPart;
    int64_t s = c.QuadPart / f, r = c.QuadPart % f;
    return s * 1000000000 + r * 1000000000 / f;
}

void corio__os_on_fork_child(void (*fn)(void))
{
    (void)fn; /* no fork() on Windows */
}

int corio__os_cpu_count(void)
{
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwNumberOfProcessors > 0 ? (int)si.dwNumberOfProcessors : 1;
}

int corio__os_thread_pin(int cpu)
{
    if (cpu < 0 || cpu >= (int)(8 * sizeof(DWORD_PTR))) return -1;
    return SetThreadAffinityMask(GetCurrentThread(), (DWORD_PTR)1 << cpu) ? 0 : -1;
}

/* ---------- mutex and condition variable ---------- */

struct corio_os_mutex { SRWLOCK l; };
struct corio_os_cond { CONDITION_VARIABLE c; };

corio_os_mutex *corio__os_mutex_new(void)
{
    corio_os_mutex *m = corio__malloc(sizeof *m);
    if (m) InitializeSRWLock(&m->l);
    return m;
}
/* An SRWLOCK holds no kernel object: there is nothing to destroy. */
void corio__os_mutex_free(corio_os_mutex *m) { corio__free(m); }
void corio__os_mutex_lock(corio_os_mutex *m) { AcquireSRWLockExclusive(&m->l); }
void corio__os_mutex_unlock(corio_os_mutex *m) { ReleaseSRWLockExclusive(&m->l); }

corio_os_cond *corio__os_cond_new(void)
{
    corio_os_cond *c = corio__malloc(sizeof *c);
    if (c) InitializeConditionVariable(&c->c);
    return c;
}
void corio__os_cond_free(corio_os_cond *c) { corio__free(c); }
void corio__os_cond_wait(corio_os_cond *c, corio_os_mutex *m)
{
    /* Like pthread_cond_wait, it may wake spuriously: callers loop. */
    SleepConditionVariableSRW(&c->c, &m->l, INFINITE, 0);
}
void corio__os_cond_signal(corio_os_cond *c) { WakeConditionVariable(&c->c); }
void corio__os_cond_broadcast(corio_os_cond *c) { WakeAllConditionVariable(&c->c); }

/* ---------- threads ---------- */

struct corio_os_thread { HANDLE h; void (*fn)(void *); void *arg; };

static DWORD WINAPI thread_main(LPVOID p)
{
    corio_os_thread *t = p;
    t->fn(t->arg);
    return 0;
}

uint64_t corio__os_thread_id(void) { return GetCurrentThreadId(); }

corio_os_thread *corio__os_thread_start(void (*fn)(void *), void *arg)
{
    corio_os_thread *t = corio__malloc(sizeof *t);
    if (!t) return NULL;
    t->fn = fn;
    t->arg = arg;
    /* CreateThread, not _beginthreadex: the static mingw-w64 CRT sets up
     * its per-thread state on first use, so either works; this one is the
     * plain Win32 call a reader can look up. */
    t->h = CreateThread(NULL, 0, thread_main, t, 0, NULL);
    if (!t->h) {
        corio__free(t);
        return NULL;
    }
    return t;
}

void corio__os_thread_join(corio_os_thread *t)
{
    WaitForSingleObject(t->h, INFINITE);
    CloseHandle(t->h);
    corio__free(t);
}

/* Give the CPU to another thread (a spinning lock holder's victim). */
void corio__os_thread_yield(void) { SwitchToThread(); }
