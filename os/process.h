/*
 * process.h — the operating-system half of subprocesses: start a child,
 * learn that it exited without blocking the loop, signal it, let it go.
 *
 * net/process.c is the portable half (streams over the pipes, wait with
 * several waiters, communicate). Everything that differs between Unix and
 * Windows is below this line, in process_posix.c and process_win.c:
 *
 *                      Unix (process_posix.c)       Windows (process_win.c)
 *   start              fork + execve, argv as is,   CreateProcessW, argv quoted
 *                      PATH searched in the parent  by the MSVC rules
 *   exec failure       errno sent back through a    CreateProcessW's own error
 *                      close-on-exec pipe
 *   our pipe ends      pipe2, non-blocking          named pipes, overlapped
 *   "it exited"        a pidfd the poller watches   RegisterWaitForSingleObject
 *                      (or a waiter thread's pipe)  -> call_soon_threadsafe
 *   terminate / kill   SIGTERM / SIGKILL            TerminateProcess
 *   left running       reaped later by a thread     nothing to do: no zombies
 *
 * Exit codes are reported the same way on both: the code the program
 * exited with, or -signal when a signal ended it. Windows has no signals,
 * but a child ended by corio__child_signal is reported as -SIGTERM / -SIGKILL
 * there too (libuv's rule), so code that checks for "terminated by us"
 * is portable.
 */
#ifndef CORIO_PROCESS_H
#define CORIO_PROCESS_H

#include "corio.h"

/* "No descriptor here": -1 on Unix, INVALID_HANDLE_VALUE on Windows. */
#define CORIO_CHILD_NO_FD ((corio_fd)-1)

/* One running (or exited, not yet freed) child. Private to the OS file. */
typedef struct corio_child corio_child;

enum { CORIO_CHILD_TERMINATE = 15, CORIO_CHILD_KILL = 9 };

/*
 * Start argv[0] with argv, as opts says (NULL = inherit everything).
 * pipes[0..2] get OUR ends of the child's stdin, stdout and stderr for each
 * stream whose mode is CORIO_STDIO_PIPE (CORIO_CHILD_NO_FD otherwise): the
 * stdin end is for writing, the others for reading; all are non-blocking
 * (overlapped on Windows), close-on-exec and usable with corio__io_read /
 * corio__io_write / corio__io_close. The caller owns them.
 * Returns 0, or CORIO_ENOTFOUND (no such program, or no such cwd),
 * CORIO_EACCES (not executable), CORIO_EINVAL (empty argv, a bad mode),
 * CORIO_EMFILE, CORIO_ENOMEM, CORIO_EIO. On error nothing is left open and
 * no child is left behind.
 */
int corio__child_spawn(const char *const *argv, const corio_process_opts *o,
                      corio_child **out, corio_fd pipes[3]);

/* The mode opts asks for the child's stdin, stdout and stderr (inherit
 * all three when opts is NULL): how both OS halves read the options. */
static inline void corio__child_stdio_modes(const corio_process_opts *o,
                                           corio_stdio mode[3])
{
    mode[0] = o ? o->stdin_ : CORIO_STDIO_INHERIT;
    mode[1] = o ? o->stdout_ : CORIO_STDIO_INHERIT;
    mode[2] = o ? o->stderr_ : CORIO_STDIO_INHERIT;
}

long corio__child_pid(const corio_child *c);

/*
 * Park the calling task until the child has exited (0, with the code in
 * *exit_code), or until the deadline (CORIO_ETIMEDOUT) or a cancel
 * (CORIO_ECANCELED). Once it has returned 0 it returns 0 at once with the
 * same code. ONE waiting task at a time (CORIO_EBUSY otherwise):
 * net/process.c lets several tasks wait on top of this.
 */
int corio__child_wait(corio_child *c, int *exit_code, int64_t deadline);

/* CORIO_CHILD_TERMINATE (SIGTERM; TerminateProcess) or CORIO_CHILD_KILL
 * (SIGKILL; TerminateProcess). 0, or CORIO_EALREADY once its exit was
 * collected (the id may belong to another process by then). */
int corio__child_signal(corio_child *c, int how);

/* Free c. A child still running is left running, and is reaped when it
 * exits (no zombie), even after the loop is closed. */
void corio__child_free(corio_child *c);

/* How this build learns that a child exited: "pidfd", "waiter thread"
 * (Unix without pidfd_open), "wait registration" (Windows). */
const char *corio__child_watch_name(void);

/* Tests: allow (1, the default) or forbid (0) the pidfd path, so that the
 * waiter-thread path every other Unix takes is tested on Linux too.
 * A no-op on Windows. */
void corio__child_allow_pidfd(int allow);

#endif
