/*
 * process_win.c — subprocesses on Windows: CreateProcessW, named pipes the
 * completion port can watch, and exit notification through the loop. The
 * interface is process.h; the Unix twin is process_posix.c.
 *
 * Starting a child (corio__child_spawn):
 *   - argv becomes ONE command line, quoted by the rules the Microsoft C
 *     runtime uses to split it again (quote_arg below), so that the
 *     child's argv is exactly ours, spaces, quotes and backslashes
 *     included. No shell is involved: cmd.exe's own ^ and % rules do not
 *     apply.
 *   - argv[0] is found the way CreateProcessW finds a program without an
 *     application name: the directory of our .exe, the current directory,
 *     the system directories, then PATH; ".exe" is added when the name has
 *     no extension. A program that is not there is ERROR_FILE_NOT_FOUND
 *     from CreateProcessW itself, hence CORIO_ENOTFOUND at spawn time.
 *   - A piped stream is a named pipe pair (io_win.c: corio__iocp_pipe): our
 *     end overlapped, so corio__io_read/write can run on the completion
 *     port; the child's end plain and inheritable, since programs do
 *     ordinary blocking ReadFile / WriteFile on their stdio.
 *   - Only the child's three handles are inherited: the handle list
 *     attribute (PROC_THREAD_ATTRIBUTE_HANDLE_LIST) says so, so that a
 *     child started at the same moment by another thread does not get a
 *     copy of our pipe ends and hold them open (its stdin would then never
 *     see end of file).
 *
 * Learning that it exited, without blocking the loop
 * (corio__child_wait): a process handle is not something a completion
 * port reports on, so RegisterWaitForSingleObject asks the system's
 * thread pool to wait for it. Its callback runs on a pool thread, where
 * no corio call but corio_call_soon_threadsafe is allowed; that call
 * posts to the loop's port, and the callback it queues unparks the task
 * on the loop's own thread:
 *
 *     task: RegisterWaitForSingleObject(process) -> park
 *     pool thread: exit -> on_exit_thread -> corio_call_soon_threadsafe
 *     loop: GetQueuedCompletionStatusEx wakes -> on_exit_loop -> unpark
 *     task: UnregisterWaitEx, GetExitCodeProcess
 *
 * The record both sides touch lives on the waiting task's stack, so the
 * same rule as for an OVERLAPPED applies (iocp.h): the task does not
 * leave before the callback it was promised has run, even when its
 * deadline or a cancel woke it first.
 *
 * Terminate and kill are both TerminateProcess (Windows has no gentler
 * request for a console program). As libuv does, we remember which one we
 * asked for, and report the child's exit as -15 / -9 when it ended that
 * way, so the same test of "we stopped it" works on both systems.
 *
 * A child left running by corio__child_free: closing our handle is all it
 * takes. Windows keeps no zombie; the process object goes away when the
 * last handle to it is closed.
 */
#include "process.h"
#include "coro/alloc.h"
#include "poller/iocp.h"
#include "coro/park.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* The exit code TerminateProcess gives the children we stop. */
#define TERMINATED_CODE 1

struct corio_child {
    HANDLE process;
    DWORD pid;
    int collected;        /* exit_code is final */
    int exit_code;
    int stopped_with;     /* CORIO_CHILD_TERMINATE / _KILL, 0 if not us */
    corio_task *waiting;  /* the one task in corio__child_wait */
};

const char *corio__child_watch_name(void) { return "wait registration"; }

void corio__child_allow_pidfd(int allow) { (void)allow; }

/* ------------------------------------------------------------------ */
/* UTF-8 -> UTF-16, and the command line                               */
/* ------------------------------------------------------------------ */

/* A growable wide string. */
typedef struct wbuf {
    wchar_t *s;
    size_t len, cap;
    int failed;
} wbuf;

static void wb_put(wbuf *b, const wchar_t *w, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        wchar_t *s = corio__realloc(b->s, cap * sizeof *s);
        if (!s) { b->failed = 1; return; }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, w, n * sizeof *w);
    b->len += n;
    b->s[b->len] = L'\0';
}

static void wb_char(wbuf *b, wchar_t c, size_t times)
{
    while (times--) wb_put(b, &c, 1);
}

/* Append UTF-8 text as UTF-16 (including any NUL it contains: none). */
static void wb_utf8(wbuf *b, const char *text)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, text, -1, NULL, 0);
    if (n <= 0) { b->failed = 1; return; }
    wchar_t *w = corio__malloc((size_t)n * sizeof *w);
    if (!w) { b->failed = 1; return; }
    MultiByteToWideChar(CP_UTF8, 0, text, -1, w, n);
    wb_put(b, w, (size_t)n - 1);
    corio__free(w);
}

/* A new UTF-16 copy of UTF-8 text, or NULL. */
static wchar_t *wide(const char *text)
{
    wbuf b = { 0 };
    wb_utf8(&b, text);
    if (b.failed) { corio__free(b.s); return NULL; }
    if (!b.s) wb_put(&b, L"", 0);
    return b.s;
}

/*
 * One argument, quoted so that the C runtime's command-line parser gives
 * it back unchanged (the rules of CommandLineToArgvW and of the MSVC and
 * mingw startup code):
 *   - no space, tab, newline or quote, and not empty: as it is;
 *   - otherwise in double quotes, where a quote is written \" and any
 *     backslashes right before a quote (or before the closing quote) are
 *     doubled; other backslashes stay single.
 * So  say "hi"  ->  "say \"hi\""   and  trailing\  ->  "trailing\\" .
 */
static void quote_arg(wbuf *b, const char *arg)
{
    wchar_t *w = wide(arg); /* quotes and backslashes are ASCII: 1 to 1 */
    if (!w) { b->failed = 1; return; }
    if (w[0] && !wcspbrk(w, L" \t\n\v\"")) {
        wb_put(b, w, wcslen(w));
        corio__free(w);
        return;
    }
    wb_char(b, L'"', 1);
    size_t slashes = 0;
    for (const wchar_t *p = w; *p; p++) {
        if (*p == L'\\') {
            slashes++;
            continue;
        }
        /* Backslashes before a quote are doubled, plus one for the quote. */
        wb_char(b, L'\\', *p == L'"' ? 2 * slashes + 1 : slashes);
        wb_put(b, p, 1);
        slashes = 0;
    }
    wb_char(b, L'\\', 2 * slashes); /* ... and before the closing quote */
    wb_char(b, L'"', 1);
    corio__free(w);
}

static wchar_t *command_line(const char *const *argv)
{
    wbuf b = { 0 };
    for (size_t i = 0; argv[i]; i++) {
        if (i) wb_char(&b, L' ', 1);
        quote_arg(&b, argv[i]);
    }
    if (b.failed) { corio__free(b.s); return NULL; }
    return b.s;
}

/* "K=V\0K=V\0\0" from a NULL-terminated list, for CREATE_UNICODE_ENVIRONMENT. */
static wchar_t *environment_block(char *const *env)
{
    wbuf b = { 0 };
    for (size_t i = 0; env[i]; i++) {
        wb_utf8(&b, env[i]);
        wb_char(&b, L'\0', 1);
    }
    wb_char(&b, L'\0', 1);
    if (b.failed) { corio__free(b.s); return NULL; }
    return b.s;
}

/* ------------------------------------------------------------------ */
/* Spawn                                                               */
/* ------------------------------------------------------------------ */

/* The child's end of one stdio stream, and ours if it is a pipe. */
typedef struct stdio_end {
    HANDLE child;   /* inheritable, closed by us after CreateProcessW */
    HANDLE ours;    /* our end of a pipe, or INVALID_HANDLE_VALUE */
} stdio_end;

static void close_handle(HANDLE *h)
{
    if (*h && *h != INVALID_HANDLE_VALUE) CloseHandle(*h);
    *h = INVALID_HANDLE_VALUE;
}

/* An inheritable copy of one of our own std handles (NULL if we have
 * none, e.g. a GUI program: the child then has none either). */
static HANDLE inherit_ours(DWORD which)
{
    HANDLE h = GetStdHandle(which), dup = NULL;
    if (!h || h == INVALID_HANDLE_VALUE) return NULL;
    if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0,
                         TRUE, DUPLICATE_SAME_ACCESS))
        return NULL;
    return dup;
}

static int stdio_setup(const corio_process_opts *o, stdio_end end[3])
{
    corio_stdio mode[3];
    corio__child_stdio_modes(o, mode);
    static const DWORD std_id[3] = { STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
                                     STD_ERROR_HANDLE };
    for (int k = 0; k < 3; k++)
        end[k].child = end[k].ours = INVALID_HANDLE_VALUE;
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++) {
        switch (mode[k]) {
        case CORIO_STDIO_INHERIT:
            end[k].child = inherit_ours(std_id[k]);
            break;
        case CORIO_STDIO_PIPE:
            /* stdin: we write, the child reads; stdout/stderr: reverse. */
            rc = corio__iocp_pipe(&end[k].ours, &end[k].child, k != 0, 0, 1);
            break;
        case CORIO_STDIO_NULL: {
            SECURITY_ATTRIBUTES sa = { sizeof sa, NULL, TRUE };
            end[k].child = CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE,
                                       FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                                       OPEN_EXISTING, 0, NULL);
            if (end[k].child == INVALID_HANDLE_VALUE)
                rc = corio__error_from_win(GetLastError());
            break;
        }
        case CORIO_STDIO_STDOUT:
            if (k != 2) { rc = CORIO_EINVAL; break; }
            /* The very handle the child's stdout gets (or a copy of ours). */
            if (end[1].child && end[1].child != INVALID_HANDLE_VALUE &&
                !DuplicateHandle(GetCurrentProcess(), end[1].child,
                                 GetCurrentProcess(), &end[2].child, 0, TRUE,
                                 DUPLICATE_SAME_ACCESS))
                rc = corio__error_from_win(GetLastError());
            break;
        default:
            rc = CORIO_EINVAL;
        }
    }
    if (rc) {
        for (int k = 0; k < 3; k++) {
            close_handle(&end[k].child);
            close_handle(&end[k].ours);
        }
    }
    return rc;
}

/* CreateProcessW with only the given handles inherited. */
static BOOL create_process(wchar_t *cmd, wchar_t *env, wchar_t *cwd,
                           stdio_end end[3], PROCESS_INFORMATION *pi)
{
    STARTUPINFOEXW si;
    ZeroMemory(&si, sizeof si);
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = end[0].child;
    si.StartupInfo.hStdOutput = end[1].child;
    si.StartupInfo.hStdError = end[2].child;

    HANDLE list[3];
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        HANDLE h = end[k].child;
        if (h && h != INVALID_HANDLE_VALUE) list[n++] = h;
    }
    DWORD flags = CREATE_UNICODE_ENVIRONMENT;
    SIZE_T size = 0;
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    if (n > 0 && size > 0 && (attrs = corio__malloc(size)) != NULL) {
        if (InitializeProcThreadAttributeList(attrs, 1, 0, &size) &&
            UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                      list, n * sizeof list[0], NULL, NULL)) {
            si.lpAttributeList = attrs;
            flags |= EXTENDED_STARTUPINFO_PRESENT;
        }
        /* else: no list, every inheritable handle is inherited: ours are
         * all made non-inheritable, so that is still just these three. */
    }
    BOOL ok = CreateProcessW(NULL, cmd, NULL, NULL, TRUE, flags, env, cwd,
                             &si.StartupInfo, pi);
    DWORD e = GetLastError();
    if (si.lpAttributeList) DeleteProcThreadAttributeList(attrs);
    corio__free(attrs);
    SetLastError(e);
    return ok;
}

int corio__child_spawn(const char *const *argv, const corio_process_opts *o,
                      corio_child **out, corio_fd pipes[3])
{
    for (int k = 0; k < 3; k++) pipes[k] = CORIO_CHILD_NO_FD;
    *out = NULL;
    if (!argv || !argv[0] || !argv[0][0]) return CORIO_EINVAL;

    int rc = CORIO_ENOMEM;
    wchar_t *cmd = command_line(argv), *env = NULL, *cwd = NULL;
    corio_child *c = corio__calloc(1, sizeof *c);
    if (!cmd || !c) goto out;
    if (o && o->env && !(env = environment_block(o->env))) goto out;
    if (o && o->cwd && !(cwd = wide(o->cwd))) goto out;

    stdio_end end[3];
    rc = stdio_setup(o, end);
    if (rc) goto out;

    PROCESS_INFORMATION pi;
    if (!create_process(cmd, env, cwd, end, &pi)) {
        rc = corio__error_from_win(GetLastError());
        for (int k = 0; k < 3; k++) close_handle(&end[k].ours);
    } else {
        CloseHandle(pi.hThread);
        c->process = pi.hProcess;
        c->pid = pi.dwProcessId;
        for (int k = 0; k < 3; k++)
            if (end[k].ours != INVALID_HANDLE_VALUE)
                pipes[k] = (corio_fd)end[k].ours;
        *out = c;
        c = NULL;
        rc = 0;
    }
    /* The child has its copies now (or never will): ours of its ends must
     * go, or its stdout would never reach end of file for us. */
    for (int k = 0; k < 3; k++) close_handle(&end[k].child);
out:
    corio__free(cmd);
    corio__free(env);
    corio__free(cwd);
    corio__free(c);
    return rc;
}

long corio__child_pid(const corio_child *c) { return (long)c->pid; }

/* ------------------------------------------------------------------ */
/* Wait                                                                */
/* ------------------------------------------------------------------ */

/* If the process has ended, take its exit code: 1, else 0. */
static int try_collect(corio_child *c)
{
    if (c->collected) return 1;
    if (WaitForSingleObject(c->process, 0) != WAIT_OBJECT_0) return 0;
    DWORD code = 0;
    if (!GetExitCodeProcess(c->process, &code)) code = (DWORD)CORIO_EIO;
    c->exit_code = (int)code;
    if (c->stopped_with && code == TERMINATED_CODE)
        c->exit_code = -c->stopped_with;
    c->collected = 1;
    return 1;
}

/* Shared by the waiting task and the two callbacks; on the task's stack. */
typedef struct exit_watch {
    corio_loop *loop;
    corio_task *task;
    volatile LONG fired;       /* on_exit_thread ran (pool thread) */
    volatile LONG post_failed; /* ... and could not reach the loop */
    int delivered;             /* on_exit_loop ran (loop thread) */
    int parked;                /* the task is parked waiting for it */
} exit_watch;

/* On the loop's thread, in a call_soon callback. */
static void on_exit_loop(void *arg)
{
    exit_watch *w = arg;
    w->delivered = 1;
    if (w->parked) corio__unpark_if_waiting(w->task, 0);
}

/* On a thread-pool thread, once the process has ended. After a
 * successful post it must not touch w again: the task may be gone. */
static VOID CALLBACK on_exit_thread(PVOID arg, BOOLEAN timed_out)
{
    exit_watch *w = arg;
    (void)timed_out; /* INFINITE: never */
    InterlockedExchange(&w->fired, 1);
    if (corio_call_soon_threadsafe(w->loop, on_exit_loop, w) != 0)
        InterlockedExchange(&w->post_failed, 1);
}

/* Park until the process ends, the deadline, or a cancel. */
static int park_until_exit(corio_child *c, int64_t deadline)
{
    corio_loop *l = corio__loop();
    corio_task *self = corio__self();
    exit_watch w;
    ZeroMemory(&w, sizeof w);
    w.loop = l;
    w.task = self;
    HANDLE reg;
    if (!RegisterWaitForSingleObject(&reg, c->process, on_exit_thread, &w,
                                     INFINITE, WT_EXECUTEONLYONCE))
        return corio__error_from_win(GetLastError());
    int why = 0;
    while (!w.delivered) {
        w.parked = 1;
        int r = corio__park_on(deadline, "process exit");
        w.parked = 0;
        if (w.delivered) break;
        if (r == 0) continue; /* not our wake-up: wait on */
        why = r;              /* ETIMEDOUT, ECANCELED */
        break;
    }
    /* INVALID_HANDLE_VALUE: return only once a callback that is running
     * has finished; none starts after this. */
    UnregisterWaitEx(reg, INVALID_HANDLE_VALUE);
    if (InterlockedCompareExchange(&w.fired, 0, 0) && !w.delivered &&
        !InterlockedCompareExchange(&w.post_failed, 0, 0)) {
        /* Its on_exit_loop is queued on our loop and points at w: wait
         * for it, shielded, as for an OVERLAPPED after CancelIoEx. */
        corio_shield_begin();
        while (!w.delivered) {
            w.parked = 1;
            corio__park_on(CORIO_NEVER, "process exit (late)");
            w.parked = 0;
        }
        corio_shield_end();
    }
    return why;
}

int corio__child_wait(corio_child *c, int *exit_code, int64_t deadline)
{
    for (;;) {
        if (try_collect(c)) {
            if (exit_code) *exit_code = c->exit_code;
            return 0;
        }
        if (!corio__self()) return CORIO_ENOLOOP;
        if (c->waiting) return CORIO_EBUSY;
        c->waiting = corio__self();
        int rc = park_until_exit(c, deadline);
        c->waiting = NULL;
        /* An exit that came together with the deadline still counts. */
        if (rc < 0 && !try_collect(c)) return rc;
    }
}

/* ------------------------------------------------------------------ */
/* Terminate, kill, free                                               */
/* ------------------------------------------------------------------ */

int corio__child_signal(corio_child *c, int how)
{
    if (c->collected) return CORIO_EALREADY;
    if (!TerminateProcess(c->process, TERMINATED_CODE)) {
        DWORD e = GetLastError();
        /* Already ended (ERROR_ACCESS_DENIED): nothing to stop, as kill()
         * on a Unix zombie. */
        if (WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0) return 0;
        return corio__error_from_win(e);
    }
    if (!c->stopped_with) c->stopped_with = how;
    return 0;
}

void corio__child_free(corio_child *c)
{
    if (!c) return;
    /* No zombies on Windows: the process lives on if it is running, and
     * its object goes when its last handle is closed. */
    CloseHandle(c->process);
    corio__free(c);
}
