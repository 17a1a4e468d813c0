/*
 * signal_win.c — console control events as signals, for
 * corio_signal_wait on Windows (the interface is signal.h).
 *
 * Windows has no asynchronous signals to send between processes. What a
 * console program receives instead are console control events, and the
 * system delivers each one by starting a NEW THREAD in the process that
 * runs the handler given to SetConsoleCtrlHandler. That thread is an
 * ordinary one, so it can call notify(signum) directly (net/signal.c then
 * wakes the loops with corio_call_soon_threadsafe). The mapping follows
 * the C runtime's and Python's:
 *
 *   CTRL_C_EVENT                         -> SIGINT   (Ctrl+C)
 *   CTRL_BREAK_EVENT                     -> SIGBREAK (Ctrl+Break)
 *   CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT,
 *   CTRL_SHUTDOWN_EVENT                  -> SIGTERM  (window closed,
 *                                                     logoff, shutdown)
 *
 * The handler claims an event (returns TRUE) only for a signal somebody
 * watches; otherwise the next handler, finally the default one (which
 * ends the process), gets it, as if corio were not there.
 *
 * After a close, logoff or shutdown event the system ends the process as
 * soon as the handler returns (and after about 5 s in any case). So for
 * those the handler does not return: it parks its thread, leaving the
 * program's own graceful shutdown (woken by SIGTERM) the whole grace
 * time the system allows, as Go does.
 *
 * No other signal can reach a Windows program: watching one is
 * CORIO_ENOTSUP (raise() only runs the C runtime's own handlers, in the
 * calling thread).
 */
#include "signal.h"
#include "corio.h"

#include <signal.h>
#include <windows.h>

static SRWLOCK setup_lock = SRWLOCK_INIT;
static corio_signal_notify notify_fn;     /* set once, under setup_lock */
static BOOL handler_installed;            /* under setup_lock */
static volatile LONG watched[NSIG];       /* read by the handler thread */

static int signal_of_event(DWORD ctrl_type)
{
    switch (ctrl_type) {
    case CTRL_C_EVENT:        return SIGINT;
    case CTRL_BREAK_EVENT:    return SIGBREAK;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT: return SIGTERM;
    default:                  return 0;
    }
}

/* Runs on a thread the system starts for this one event. */
static BOOL WINAPI console_handler(DWORD ctrl_type)
{
    int signum = signal_of_event(ctrl_type);
    if (signum == 0 || !InterlockedCompareExchange(&watched[signum], 0, 0))
        return FALSE; /* not ours: the next handler decides */
    notify_fn(signum);
    if (ctrl_type != CTRL_C_EVENT && ctrl_type != CTRL_BREAK_EVENT)
        Sleep(INFINITE); /* returning would end the process at once */
    return TRUE;
}

int corio__signal_watch(int signum, corio_signal_notify notify)
{
    if (signum <= 0 || signum >= NSIG || !notify) return CORIO_EINVAL;
    if (signum != SIGINT && signum != SIGBREAK && signum != SIGTERM)
        return CORIO_ENOTSUP;

    int rc = 0;
    AcquireSRWLockExclusive(&setup_lock);
    if (!notify_fn) notify_fn = notify;
    if (!handler_installed) {
        if (SetConsoleCtrlHandler(console_handler, TRUE))
            handler_installed = TRUE;
        else
            rc = CORIO_EIO;
    }
    if (rc == 0) InterlockedExchange(&watched[signum], 1);
    ReleaseSRWLockExclusive(&setup_lock);
    return rc;
}

/* The test hook: what the system does for an event, minus the system. */
static DWORD WINAPI console_event_thread(LPVOID arg)
{
    return console_handler((DWORD)(uintptr_t)arg) ? 1 : 0;
}

int corio__signal_console_event(unsigned long ctrl_type)
{
    if (ctrl_type != CTRL_C_EVENT && ctrl_type != CTRL_BREAK_EVENT)
        return CORIO_EINVAL; /* the others never return (see above) */
    HANDLE t = CreateThread(NULL, 0, console_event_thread,
                            (LPVOID)(uintptr_t)ctrl_type, 0, NULL);
    if (!t) return CORIO_ENOMEM;
    WaitForSingleObject(t, INFINITE);
    DWORD claimed = 0;
    GetExitCodeThread(t, &claimed);
    CloseHandle(t);
    return (int)claimed;
}
