/*
 * signal.h — the operating system's half of corio_signal_wait.
 *
 * A signal (or, on Windows, a console control event) arrives in a place
 * where almost nothing is allowed: a POSIX signal handler may only call
 * async-signal-safe functions (no malloc, no mutex, so no
 * corio_call_soon_threadsafe), and Windows runs a console control handler
 * on a thread of its own. This layer turns either into one ordinary call,
 *
 *     notify(signum)      on a plain OS thread, outside any handler,
 *
 * and net/signal.c, which is portable, takes it from there (it posts to
 * the loops whose tasks wait, with corio_call_soon_threadsafe).
 *
 *   signal_posix.c  sigaction handler -> self-pipe -> a listener thread
 *                   that reads the pipe and calls notify.
 *   signal_win.c    SetConsoleCtrlHandler: CTRL_C_EVENT -> SIGINT,
 *                   CTRL_BREAK_EVENT -> SIGBREAK, CTRL_CLOSE / LOGOFF /
 *                   SHUTDOWN_EVENT -> SIGTERM; the handler thread calls
 *                   notify itself.
 *
 * Deliveries coalesce: several deliveries of one signal before notify
 * runs may give one notify call, as the kernel itself merges standard
 * signals that are pending.
 */
#ifndef CORIO_OS_SIGNAL_H
#define CORIO_OS_SIGNAL_H

/* Called once per (coalesced) delivery, on a thread that is never a
 * loop's and never inside a signal handler. */
typedef void (*corio_signal_notify)(int signum);

/*
 * Catch signum from now on and report it to notify (the same function on
 * every call: the first call fixes it). Idempotent. Returns 0,
 * CORIO_EINVAL (not a signal number, or one that cannot be caught:
 * SIGKILL, SIGSTOP, and the fault signals SIGSEGV/SIGBUS/SIGFPE/SIGILL
 * whose handler must not return), CORIO_ENOTSUP (a signal this OS cannot
 * deliver to a program, e.g. SIGUSR1 on Windows), CORIO_ENOMEM/CORIO_EIO
 * (the pipe or the thread could not be made).
 */
int corio__signal_watch(int signum, corio_signal_notify notify);

/* Test hook, Windows only: run the console control handler for
 * ctrl_type (CTRL_C_EVENT, ...) on a new thread, as the system would, and
 * wait for it. Returns 1 if the handler claimed the event, 0 if not,
 * CORIO_ENOTSUP elsewhere. (Wine cannot send a real console event to
 * its own process group.) */
int corio__signal_console_event(unsigned long ctrl_type);

#endif
