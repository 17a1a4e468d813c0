/*
 * test_process.c — subprocesses (net/process.c over os/process.h):
 * spawn, pipes as streams, communicate, wait, terminate/kill, cancel.
 *
 * The children. Most tests run THIS test binary again as the child, with
 * "--corio-test-child MODE ..." as its arguments: a constructor below sees
 * that before Criterion (or the harness) starts, does what MODE says
 * (cat, print to stdout and stderr, exit with a code, sleep, ...) and
 * leaves with _exit. That gives the same well-known children on Linux and
 * on Windows under wine, where no `cat` or `sh` exists. A few tests also
 * run real Unix programs found through PATH (`cat`, `true`, `false`), as
 * asyncio's own tests do.
 *
 * As in test_io.c, assertions are made on the test's own stack after the
 * loop is closed; tasks write what they saw into a `tally`. No test sleeps
 * to make itself pass: a child that must still be running when we act
 * sleeps for 30 s and is killed by the test; loops that wait for
 * something are bounded in count and time.
 */
#include <criterion/criterion.h>

#include "corio.h"
#include "util.h"
#include "os/io.h"
#include "os/process.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#include <direct.h>
#include <fcntl.h>
#include <io.h>
#define getcwd _getcwd
#else
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#endif

/* ------------------------------------------------------------------ */
/* The child side: this binary, started with --corio-test-child        */
/* ------------------------------------------------------------------ */

#define CHILD_FLAG "--corio-test-child"

static char self_path[4096]; /* this binary, for argv[0] of the children */

static void child_write(int fd, const char *s, size_t n)
{
    while (n > 0) {
#ifdef _WIN32
        int w = _write(fd, s, (unsigned)(n > 65536 ? 65536 : n));
#else
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
#endif
        if (w <= 0) _exit(120);
        s += w;
        n -= (size_t)w;
    }
}

static void child_print(int fd, const char *s) { child_write(fd, s, strlen(s)); }

static void child_sleep_ms(long ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
#endif
}

/* MODE and its arguments; returns the exit code. */
static int child_main(int argc, char **argv)
{
    const char *mode = argv[2];
#ifdef _WIN32
    /* Bytes, not text: no "\n" -> "\r\n" and no ^Z as end of file. */
    _setmode(0, _O_BINARY);
    _setmode(1, _O_BINARY);
    _setmode(2, _O_BINARY);
#endif
    if (strcmp(mode, "cat") == 0) {               /* stdin -> stdout */
        static char buf[65536];
        for (;;) {
#ifdef _WIN32
            int n = _read(0, buf, sizeof buf);
#else
            ssize_t n = read(0, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
#endif
            if (n < 0) return 121;
            if (n == 0) return 0;
            child_write(1, buf, (size_t)n);
        }
    }
    if (strcmp(mode, "outerr") == 0) {            /* one line to each */
        child_print(1, "out\n");
        child_print(2, "err\n");
        return 0;
    }
    if (strcmp(mode, "flood") == 0 && argc > 3) { /* N bytes: stderr first */
        static char block[65536];
        memset(block, 'e', sizeof block);
        long n = atol(argv[3]);
        for (long left = n; left > 0; left -= (long)sizeof block)
            child_write(2, block, left < (long)sizeof block ? (size_t)left : sizeof block);
        memset(block, 'o', sizeof block);
        for (long left = n; left > 0; left -= (long)sizeof block)
            child_write(1, block, left < (long)sizeof block ? (size_t)left : sizeof block);
        return 0;
    }
    if (strcmp(mode, "exit") == 0 && argc > 3) return atoi(argv[3]);
    if (strcmp(mode, "sleep") == 0 && argc > 3) {
        child_sleep_ms(atol(argv[3]));
        return 0;
    }
    if (strcmp(mode, "echo-after") == 0 && argc > 4) {
        child_sleep_ms(atol(argv[3]));
        child_print(1, argv[4]);
        child_print(1, "\n");
        return 0;
    }
    if (strcmp(mode, "env") == 0 && argc > 3) {
        const char *v = getenv(argv[3]);
        child_print(1, v ? v : "(unset)");
        return 0;
    }
    if (strcmp(mode, "cwd") == 0) {
        char buf[1024];
        if (!getcwd(buf, sizeof buf)) return 122;
        child_print(1, buf);
        return 0;
    }
    if (strcmp(mode, "args") == 0) {              /* one argument a line */
        for (int i = 3; i < argc; i++) {
            child_print(1, "[");
            child_print(1, argv[i]);
            child_print(1, "]\n");
        }
        return 0;
    }
#ifndef _WIN32
    if (strcmp(mode, "open-fds") == 0) {          /* which of these are open */
        for (int i = 3; i < argc; i++) {
            child_print(1, argv[i]);
            child_print(1, fcntl(atoi(argv[i]), F_GETFD) >= 0 ? ":open\n"
                                                              : ":closed\n");
        }
        return 0;
    }
    if (strcmp(mode, "raise") == 0 && argc > 3) {
        raise(atoi(argv[3]));
        return 123;
    }
#endif
    return 124;
}

/* Runs before main, in the parent (to learn our own path) and in each
 * child (to be that child). glibc passes argc/argv to constructors;
 * mingw's CRT has them in __argc/__argv by the time constructors run. */
#ifdef _WIN32
__attribute__((constructor)) static void test_process_child_hook(void)
{
    if (__argc >= 3 && strcmp(__argv[1], CHILD_FLAG) == 0)
        _exit(child_main(__argc, __argv));
    GetModuleFileNameA(NULL, self_path, sizeof self_path);
}
#else
__attribute__((constructor)) static void test_process_child_hook(int argc,
                                                                 char **argv,
                                                                 char **envp)
{
    (void)envp;
    if (argc >= 3 && strcmp(argv[1], CHILD_FLAG) == 0)
        _exit(child_main(argc, argv));
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) self_path[n] = '\0';
    else if (argc > 0) snprintf(self_path, sizeof self_path, "%s", argv[0]);
}
#endif

/* argv for a child in MODE with up to CHILD_MAX_ARGS arguments
 * (NULL-terminated `args`): normally {self, flag, mode, args..., NULL},
 * under /bin/sh {sh, -c, script, $0, args..., NULL}. */
#define CHILD_MAX_ARGS 32
typedef struct child_argv {
    const char *v[4 + CHILD_MAX_ARGS + 1];
} child_argv;

#ifndef _WIN32
/* The same modes as POSIX shell scripts ($1, $2 are the arguments), for
 * where this binary cannot run itself: under qemu-user without
 * binfmt_misc (make test-aarch64) an AArch64 program cannot execve
 * another AArch64 program (ENOEXEC), but it can run the host's /bin/sh. */
static const char *shell_script(const char *mode)
{
    static const char *const table[][2] = {
        { "cat", "exec cat" },
        { "outerr", "echo out; echo err >&2" },
        { "flood", "head -c \"$1\" /dev/zero | tr '\\0' e >&2;"
                   " head -c \"$1\" /dev/zero | tr '\\0' o" },
        { "exit", "exit \"$1\"" },
        { "sleep", "exec sleep \"$(($1 / 1000)).$(printf %03d $(($1 % 1000)))\"" },
        { "echo-after", "sleep \"$(($1 / 1000)).$(printf %03d $(($1 % 1000)))\";"
                        " echo \"$2\"" },
        { "env", "eval \"printf %s \\\"\\${$1-(unset)}\\\"\"" },
        { "cwd", "printf %s \"$(pwd)\"" },
        { "args", "for a; do printf '[%s]\\n' \"$a\"; done" },
        { "raise", "kill -\"$1\" $$; sleep 5" },
        /* [ is the shell's own builtin: /proc/self is the shell. */
        { "open-fds", "for n; do if [ -e \"/proc/self/fd/$n\" ];"
                      " then echo \"$n:open\"; else echo \"$n:closed\"; fi; done" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i][0], mode) == 0) return table[i][1];
    return "exit 124";
}

/* Can this binary start itself? Asked once, from a task. */
static int self_exec_ok(void)
{
    static int known = -1;
    if (known < 0) {
        const char *argv[] = { self_path, CHILD_FLAG, "exit", "0", NULL };
        corio_process *p;
        int rc = corio_process_spawn(argv, NULL, &p);
        known = rc != CORIO_EINVAL; /* ENOEXEC: not a format this host runs */
        if (rc == 0) {
            corio_process_wait_until(p, NULL, corio_deadline_in(CORIO_SEC(30)));
            corio_process_free(p);
        } else if (!known) {
            cr_log_warn("this binary cannot execve itself here (%s): the "
                        "children are /bin/sh scripts instead",
                        corio_strerror(rc));
        }
    }
    return known;
}
#endif

static child_argv child_args(const char *mode, const char *const *args)
{
    child_argv c;
    memset(&c, 0, sizeof c);
    size_t k = 0;
#ifndef _WIN32
    if (!self_exec_ok()) {
        c.v[k++] = "/bin/sh";
        c.v[k++] = "-c";
        c.v[k++] = shell_script(mode);
        c.v[k++] = "sh"; /* $0 */
    } else
#endif
    {
        c.v[k++] = self_path;
        c.v[k++] = CHILD_FLAG;
        c.v[k++] = mode;
    }
    /* Never cut the list short: a check over the arguments (open-fds)
     * would pass on the ones it was never given. */
    for (size_t i = 0; args && args[i]; i++) {
        if (i == CHILD_MAX_ARGS) {
            fprintf(stderr, "child_args: more than %d arguments for %s\n",
                    CHILD_MAX_ARGS, mode);
            abort();
        }
        c.v[k++] = args[i];
    }
    return c;
}

static child_argv child(const char *mode, const char *a, const char *b)
{
    const char *args[3] = { a, a ? b : NULL, NULL };
    return child_args(mode, args);
}

/* ------------------------------------------------------------------ */

/* Criterion runs each test in a process marked by BXFI_MAP in its
 * environment, and its sandbox library (BoxFort), in ANY process that
 * inherits the variable, takes itself for a test instance and talks to
 * the runner ("Could not spawn test instance: Protocol error"). Our
 * children must not inherit the mark. Criterion has read it by the time a
 * test body runs; the harness never sets it. */
static void unmark_test_process(void)
{
#ifndef _WIN32
    unsetenv("BXFI_MAP");
#endif
}


/* fn(arg) as the main task of a new loop that must close clean; the
 * children it starts must not inherit Criterion's sandbox mark. */
static int run_task(corio_fn fn, void *arg)
{
    unmark_test_process();
    return corio_test_run_clean(fn, arg);
}

static int64_t in_s(int s) { return corio_deadline_in(CORIO_SEC(s)); }

static corio_process_opts pipes_opts(void)
{
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_PIPE;
    o.stdout_ = CORIO_STDIO_PIPE;
    o.stderr_ = CORIO_STDIO_PIPE;
    return o;
}

/* Spawn argv with o, communicate `in`, and record code, output, error. */
typedef struct run_result {
    int spawn_rc, comm_rc, code;
    corio_buf out, err;
} run_result;

static void run_child(const char *const *argv, const corio_process_opts *o,
                      const void *in, size_t inlen, run_result *r)
{
    corio_process *p;
    memset(r, 0, sizeof *r);
    r->code = -1000;
    r->spawn_rc = corio_process_spawn(argv, o, &p);
    if (r->spawn_rc < 0) return;
    r->comm_rc = corio_process_communicate_until(p, in, inlen, &r->out, &r->err,
                                                 &r->code, in_s(60));
    corio_process_free(p);
}

static void run_result_free(run_result *r)
{
    corio_buf_free(&r->out);
    corio_buf_free(&r->err);
}

/* The waiter-thread tests forbid pidfd; put it back whatever happens
 * (the harness runs every test in one process). */
static void allow_pidfd_again(void) { corio__child_allow_pidfd(1); }

/* ------------------------------------------------------------------ */
/* communicate: 10 MiB through cat, and through this binary's cat       */
/* ------------------------------------------------------------------ */

#define BIG ((size_t)10 << 20)

typedef struct big_case {
    const char *const *argv;
    unsigned char *data;
    run_result r;
} big_case;

static void *big_main(void *arg)
{
    big_case *c = arg;
    corio_process_opts o = pipes_opts();
    run_child(c->argv, &o, c->data, BIG, &c->r);
    return NULL;
}

static void check_big(const char *const *argv)
{
    big_case c;
    memset(&c, 0, sizeof c);
    c.argv = argv;
    c.data = malloc(BIG);
    cr_assert_not_null(c.data);
    for (size_t i = 0; i < BIG; i++) c.data[i] = (unsigned char)(i % 251);
    run_task(big_main, &c);
    int same = c.r.out.len == BIG && memcmp(c.r.out.data, c.data, BIG) == 0;
    size_t outlen = c.r.out.len;
    free(c.data);
    run_result_free(&c.r);
    cr_assert_eq(c.r.spawn_rc, 0, "spawn: %s", corio_strerror(c.r.spawn_rc));
    cr_assert_eq(c.r.comm_rc, 0, "communicate: %s", corio_strerror(c.r.comm_rc));
    cr_assert_eq(c.r.code, 0, "exit code %d", c.r.code);
    cr_assert(same, "10 MiB came back as %zu bytes, or different", outlen);
}

Test(process, communicate_10mib_through_cat, .timeout = 120)
{
#ifdef _WIN32
    cr_skip_test("no `cat` on Windows: process/communicate_10mib_through_self_cat "
                 "runs the same 10 MiB through this binary's cat mode");
#else
    const char *argv[] = { "cat", NULL }; /* found through PATH */
    check_big(argv);
#endif
}

Test(process, communicate_10mib_through_self_cat, .timeout = 120)
{
    child_argv a = child("cat", NULL, NULL);
    check_big(a.v);
}

/* ------------------------------------------------------------------ */
/* stdout and stderr: separate, merged, flooded                        */
/* ------------------------------------------------------------------ */

typedef struct outerr_case {
    corio_stdio err_mode;
    int stderr_is_null;
    run_result r;
} outerr_case;

static void *outerr_main(void *arg)
{
    outerr_case *c = arg;
    child_argv a = child("outerr", NULL, NULL);
    corio_process_opts o = pipes_opts();
    o.stdin_ = CORIO_STDIO_NULL;
    o.stderr_ = c->err_mode;
    corio_process *p;
    memset(&c->r, 0, sizeof c->r);
    c->r.spawn_rc = corio_process_spawn(a.v, &o, &p);
    if (c->r.spawn_rc < 0) return NULL;
    c->stderr_is_null = corio_process_stderr(p) == NULL &&
                        corio_process_stdin(p) == NULL;
    c->r.comm_rc = corio_process_communicate_until(p, NULL, 0, &c->r.out,
                                                   &c->r.err,
                                                   &c->r.code, in_s(60));
    corio_process_free(p);
    return NULL;
}

Test(process, stdout_and_stderr_separate, .timeout = 60)
{
    outerr_case c = { .err_mode = CORIO_STDIO_PIPE };
    run_task(outerr_main, &c);
    cr_assert_eq(c.r.comm_rc, 0, "%s", corio_strerror(c.r.comm_rc));
    cr_assert_eq(c.r.code, 0);
    cr_assert_str_eq(c.r.out.data, "out\n");
    cr_assert_str_eq(c.r.err.data, "err\n");
    run_result_free(&c.r);
}

Test(process, stderr_merged_into_stdout, .timeout = 60)
{
    outerr_case c = { .err_mode = CORIO_STDIO_STDOUT };
    run_task(outerr_main, &c);
    cr_assert_eq(c.r.comm_rc, 0, "%s", corio_strerror(c.r.comm_rc));
    cr_assert_eq(c.r.code, 0);
    cr_assert(c.stderr_is_null, "merged stderr and null stdin have no stream");
    cr_assert_str_eq(c.r.out.data, "out\nerr\n");
    cr_assert_eq(c.r.err.len, 0);
    run_result_free(&c.r);
}

/* The child fills its stderr pipe (1 MiB, many times a pipe buffer)
 * before it writes a byte of stdout: reading the two one after the other
 * would deadlock. */
typedef struct flood_case { run_result r; } flood_case;

static void *flood_main(void *arg)
{
    flood_case *c = arg;
    child_argv a = child("flood", "1048576", NULL);
    corio_process_opts o = pipes_opts();
    run_child(a.v, &o, NULL, 0, &c->r);
    return NULL;
}

Test(process, full_stderr_pipe_does_not_deadlock, .timeout = 60)
{
    flood_case c;
    run_task(flood_main, &c);
    cr_assert_eq(c.r.comm_rc, 0, "%s", corio_strerror(c.r.comm_rc));
    cr_assert_eq(c.r.code, 0);
    cr_assert_eq(c.r.err.len, 1048576);
    cr_assert_eq(c.r.out.len, 1048576);
    cr_assert_eq(c.r.err.data[0], 'e');
    cr_assert_eq(c.r.out.data[c.r.out.len - 1], 'o');
    run_result_free(&c.r);
}

/* ------------------------------------------------------------------ */
/* Streams: talk to a child line by line                               */
/* ------------------------------------------------------------------ */

typedef struct dialog_case {
    tally t;
    int code;
} dialog_case;

static void *dialog_main(void *arg)
{
    dialog_case *c = arg;
    child_argv a = child("cat", NULL, NULL);
    corio_process_opts o = pipes_opts();
    o.stderr_ = CORIO_STDIO_INHERIT;
    corio_process *p;
    int rc = corio_process_spawn(a.v, &o, &p);
    NOTE(&c->t, rc == 0, "spawn: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio_stream *in = corio_process_stdin(p), *out = corio_process_stdout(p);
    NOTE(&c->t, in && out && !corio_process_stderr(p), "streams");
    char line[64];
    for (int i = 0; i < 3; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "line %d\n", i);
        rc = corio_stream_write(in, msg, strlen(msg));
        if (rc == 0) rc = corio_stream_drain_until(in, in_s(30));
        NOTE(&c->t, rc == 0, "write: %s", corio_strerror(rc));
        ptrdiff_t n = corio_stream_readline_until(out, line, sizeof line,
                                                  in_s(30));
        NOTE(&c->t, n == (ptrdiff_t)strlen(msg) && strcmp(line, msg) == 0,
             "readline %d: %td '%s'", i, n, n > 0 ? line : "");
    }
    /* Closing stdin is end-of-file for cat, which then exits. */
    rc = corio_stream_write_eof_until(in, in_s(30));
    NOTE(&c->t, rc == 0, "write_eof: %s", corio_strerror(rc));
    ptrdiff_t n = corio_stream_readline_until(out, line, sizeof line, in_s(30));
    NOTE(&c->t, n == 0, "end of stream: %td", n);
    rc = corio_process_wait_until(p, &c->code, in_s(30));
    NOTE(&c->t, rc == 0, "wait: %s", corio_strerror(rc));
    corio_process_free(p);
    return NULL;
}

Test(process, line_dialog_over_streams, .timeout = 60)
{
    dialog_case c;
    memset(&c, 0, sizeof c);
    run_task(dialog_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.code, 0);
}

/* ------------------------------------------------------------------ */
/* Exit codes, signals, a program that does not exist                  */
/* ------------------------------------------------------------------ */

typedef struct codes_case {
    int self[3];        /* exit 0, 3, 255 */
    int path_true, path_false;
    int raised_term, raised_kill;
    int missing_rc, missing_path_rc, directory_rc;
    tally t;
} codes_case;

static int exit_code_of(const char *const *argv, tally *t)
{
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_NULL;
    o.stdout_ = CORIO_STDIO_NULL;
    corio_process *p;
    int rc = corio_process_spawn(argv, &o, &p);
    NOTE(t, rc == 0, "spawn %s: %s", argv[0], corio_strerror(rc));
    if (rc < 0) return -1000;
    int code = -1000;
    rc = corio_process_wait_until(p, &code, in_s(60));
    NOTE(t, rc == 0, "wait %s: %s", argv[0], corio_strerror(rc));
    corio_process_free(p);
    return code;
}

static void *codes_main(void *arg)
{
    codes_case *c = arg;
    const char *codes[3] = { "0", "3", "255" };
    for (int i = 0; i < 3; i++) {
        child_argv a = child("exit", codes[i], NULL);
        c->self[i] = exit_code_of(a.v, &c->t);
    }
#ifndef _WIN32
    const char *t[] = { "true", NULL }, *f[] = { "false", NULL };
    c->path_true = exit_code_of(t, &c->t);
    c->path_false = exit_code_of(f, &c->t);
    char sig[2][8];
    snprintf(sig[0], sizeof sig[0], "%d", SIGTERM);
    snprintf(sig[1], sizeof sig[1], "%d", SIGKILL);
    child_argv rt = child("raise", sig[0], NULL), rk = child("raise", sig[1], NULL);
    c->raised_term = exit_code_of(rt.v, &c->t);
    c->raised_kill = exit_code_of(rk.v, &c->t);
#endif
    corio_process *p = NULL;
    const char *missing[] = { "corio-no-such-program-7f3a", "x", NULL };
    c->missing_rc = corio_process_spawn(missing, NULL, &p);
    NOTE(&c->t, p == NULL, "no process on error");
#ifdef _WIN32
    const char *missing_path[] = { "C:\\corio\\no\\such\\program.exe", NULL };
#else
    const char *missing_path[] = { "/corio/no/such/program", NULL };
    const char *directory[] = { "/", NULL };
    c->directory_rc = corio_process_spawn(directory, NULL, &p);
#endif
    c->missing_path_rc = corio_process_spawn(missing_path, NULL, &p);
    return NULL;
}

Test(process, exit_codes_signals_and_missing_programs, .timeout = 60)
{
    codes_case c;
    memset(&c, 0, sizeof c);
    run_task(codes_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.self[0], 0);
    cr_assert_eq(c.self[1], 3);
    cr_assert_eq(c.self[2], 255);
    cr_assert_eq(c.missing_rc, CORIO_ENOTFOUND, "PATH search: %s",
                 corio_strerror(c.missing_rc));
    cr_assert_eq(c.missing_path_rc, CORIO_ENOTFOUND, "a path: %s",
                 corio_strerror(c.missing_path_rc));
#ifndef _WIN32
    cr_assert_eq(c.path_true, 0);
    cr_assert_eq(c.path_false, 1);
    cr_assert_eq(c.raised_term, -SIGTERM, "%d", c.raised_term);
    cr_assert_eq(c.raised_kill, -SIGKILL, "%d", c.raised_kill);
    cr_assert_eq(c.directory_rc, CORIO_EACCES, "a directory: %s",
                 corio_strerror(c.directory_rc));
#endif
}

/* ------------------------------------------------------------------ */
/* wait with a deadline, terminate, kill, several waiters              */
/* ------------------------------------------------------------------ */

typedef struct stop_case {
    int timed_out_rc, term_rc, term_code, kill_code, after_rc, again_rc;
    long pid;
    tally t;
} stop_case;

static corio_process *spawn_sleeper(tally *t)
{
    child_argv a = child("sleep", "30000", NULL);
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_NULL;
    corio_process *p = NULL;
    int rc = corio_process_spawn(a.v, &o, &p);
    NOTE(t, rc == 0, "spawn sleeper: %s", corio_strerror(rc));
    return rc == 0 ? p : NULL;
}

static void *stop_main(void *arg)
{
    stop_case *c = arg;
    corio_process *p = spawn_sleeper(&c->t);
    if (!p) return NULL;
    c->pid = corio_process_pid(p);
    int code = -1000;
    c->timed_out_rc = corio_process_wait_until(p, &code,
                                               corio_deadline_in(CORIO_MS(50)));
    c->term_rc = corio_process_terminate(p);
    int rc = corio_process_wait_until(p, &c->term_code, in_s(30));
    NOTE(&c->t, rc == 0, "wait after terminate: %s", corio_strerror(rc));
    /* Its exit is collected: signalling it now must not reach a process
     * that reused its id. */
    c->after_rc = corio_process_kill(p);
    rc = corio_process_wait(p, &code);
    c->again_rc = rc == 0 && code == c->term_code ? 0 : -1;
    corio_process_free(p);

    p = spawn_sleeper(&c->t);
    if (!p) return NULL;
    rc = corio_process_kill(p);
    NOTE(&c->t, rc == 0, "kill: %s", corio_strerror(rc));
    rc = corio_process_wait_until(p, &c->kill_code, in_s(30));
    NOTE(&c->t, rc == 0, "wait after kill: %s", corio_strerror(rc));
    corio_process_free(p);
    return NULL;
}

static void check_stop(void)
{
    stop_case c;
    memset(&c, 0, sizeof c);
    run_task(stop_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.timed_out_rc, CORIO_ETIMEDOUT, "%s",
                 corio_strerror(c.timed_out_rc));
    cr_assert_eq(c.term_rc, 0);
    /* -signal on Unix; on Windows too, for a child we terminated. */
    cr_assert_eq(c.term_code, -15, "terminated: %d", c.term_code);
    cr_assert_eq(c.kill_code, -9, "killed: %d", c.kill_code);
    cr_assert_eq(c.after_rc, CORIO_EALREADY);
    cr_assert_eq(c.again_rc, 0, "a second wait returns the same code");
}

Test(process, wait_deadline_terminate_kill, .timeout = 60)
{
    cr_log_info("exit watch: %s", corio__child_watch_name());
    check_stop();
}

Test(process, wait_deadline_terminate_kill_waiter_thread, .timeout = 60,
     .fini = allow_pidfd_again)
{
    corio__child_allow_pidfd(0);
    cr_log_info("exit watch: %s", corio__child_watch_name());
    check_stop();
}

/* Three tasks wait for one child; the one doing the OS wait gives up
 * early (its deadline), and another must take over. */
typedef struct waiters_case {
    corio_process *p;
    int rc[3], code[3];
    int64_t deadline[3];
    tally t;
} waiters_case;

typedef struct waiter_arg { waiters_case *c; int i; } waiter_arg;

static void *one_waiter(void *arg)
{
    waiter_arg *w = arg;
    w->c->code[w->i] = -1000;
    w->c->rc[w->i] = corio_process_wait_until(w->c->p, &w->c->code[w->i],
                                              w->c->deadline[w->i]);
    return NULL;
}

static void *waiters_main(void *arg)
{
    waiters_case *c = arg;
    child_argv a = child("echo-after", "300", "x");
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdout_ = CORIO_STDIO_NULL;
    int rc = corio_process_spawn(a.v, &o, &c->p);
    NOTE(&c->t, rc == 0, "spawn: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    c->deadline[0] = corio_deadline_in(CORIO_MS(30)); /* first: the OS wait */
    c->deadline[1] = in_s(30);
    c->deadline[2] = in_s(30);
    waiter_arg args[3];
    corio_task *t[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (waiter_arg){ c, i };
        t[i] = corio_spawn(one_waiter, &args[i], NULL);
        NOTE(&c->t, t[i] != NULL, "spawn task");
    }
    for (int i = 0; i < 3; i++) if (t[i]) corio_join(t[i], NULL);
    corio_process_free(c->p);
    return NULL;
}

Test(process, several_waiters_and_a_hand_over, .timeout = 60)
{
    waiters_case c;
    memset(&c, 0, sizeof c);
    run_task(waiters_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.rc[0], CORIO_ETIMEDOUT, "%s", corio_strerror(c.rc[0]));
    for (int i = 1; i < 3; i++) {
        cr_assert_eq(c.rc[i], 0, "waiter %d: %s", i, corio_strerror(c.rc[i]));
        cr_assert_eq(c.code[i], 0, "waiter %d: code %d", i, c.code[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Many children, and a loop that keeps running meanwhile               */
/* ------------------------------------------------------------------ */

#define MANY 50

typedef struct many_case {
    int rc[MANY], code[MANY];
    char out[MANY][16];
} many_case;

typedef struct many_arg { many_case *c; int i; } many_arg;

static void *many_one(void *arg)
{
    many_arg *m = arg;
    char num[16];
    snprintf(num, sizeof num, "%d", m->i);
    child_argv a = child("echo-after", "100", num);
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_NULL;
    o.stdout_ = CORIO_STDIO_PIPE;
    run_result r;
    run_child(a.v, &o, NULL, 0, &r);
    m->c->rc[m->i] = r.spawn_rc ? r.spawn_rc : r.comm_rc;
    m->c->code[m->i] = r.code;
    snprintf(m->c->out[m->i], sizeof m->c->out[m->i], "%s",
             r.out.data ? r.out.data : "");
    run_result_free(&r);
    return NULL;
}

static void *many_main(void *arg)
{
    many_case *c = arg;
    many_arg args[MANY];
    corio_call calls[MANY];
    for (int i = 0; i < MANY; i++) {
        args[i] = (many_arg){ c, i };
        calls[i] = (corio_call){ many_one, &args[i] };
    }
    corio_gather_calls(calls, MANY, NULL, 0);
    return NULL;
}

static void check_many(void)
{
    many_case *c = calloc(1, sizeof *c);
    cr_assert_not_null(c);
    run_task(many_main, c);
    for (int i = 0; i < MANY; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d\n", i);
        cr_assert_eq(c->rc[i], 0, "child %d: %s", i, corio_strerror(c->rc[i]));
        cr_assert_eq(c->code[i], 0, "child %d: code %d", i, c->code[i]);
        cr_assert_str_eq(c->out[i], want, "child %d", i);
    }
    free(c);
}

Test(process, fifty_children_at_once, .timeout = 120)
{
    check_many();
}

Test(process, fifty_children_at_once_waiter_thread, .timeout = 120,
     .fini = allow_pidfd_again)
{
    corio__child_allow_pidfd(0);
    check_many();
}

typedef struct progress_case {
    int running;
    long ticks;
    int64_t first_tick_at, wait_returned_at;
    int code, rc;
    tally t;
} progress_case;

static void *ticker(void *arg)
{
    progress_case *c = arg;
    /* Bounded: 60 s at most, whatever happens to the child. */
    int64_t give_up = corio_deadline_in(CORIO_SEC(60));
    while (c->running && corio_now() < give_up) {
        if (corio_sleep(CORIO_MS(1)) < 0) break;
        if (c->ticks++ == 0) c->first_tick_at = corio_now();
    }
    return NULL;
}

static void *progress_main(void *arg)
{
    progress_case *c = arg;
    child_argv a = child("sleep", "300", NULL);
    corio_process *p;
    int rc = corio_process_spawn(a.v, NULL, &p);
    NOTE(&c->t, rc == 0, "spawn: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    c->running = 1;
    corio_task *t = corio_spawn(ticker, c, NULL);
    c->rc = corio_process_wait_until(p, &c->code, in_s(60));
    c->wait_returned_at = corio_now();
    c->running = 0;
    if (t) corio_join(t, NULL);
    corio_process_free(p);
    return NULL;
}

Test(process, loop_runs_other_tasks_while_a_child_runs, .timeout = 60)
{
    progress_case c;
    memset(&c, 0, sizeof c);
    run_task(progress_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.rc, 0, "%s", corio_strerror(c.rc));
    cr_assert_eq(c.code, 0);
    /* The ticker ran while the wait was still going on. A loop blocked in
     * the wait would run it only afterwards, when `running` is already 0:
     * no tick at all. (How many ticks fit in 300 ms depends on the load
     * and the timer tick, so the test does not count them.) */
    cr_assert_geq(c.ticks, 1, "no tick while the child ran");
    cr_assert_lt(c.first_tick_at, c.wait_returned_at,
                 "the first tick came only after the wait returned");
}

/* ------------------------------------------------------------------ */
/* Cancellation: of wait and of communicate; the child is not leaked    */
/* ------------------------------------------------------------------ */

typedef struct cancel_case {
    corio_process *p;
    int which;          /* 0: wait, 1: communicate, 2: communicate deadline */
    int rc, kill_rc, code, wait_rc;
    long pid;
    tally t;
} cancel_case;

static void *cancel_victim(void *arg)
{
    cancel_case *c = arg;
    int code;
    corio_buf out = { 0 }, err = { 0 };
    const char input[] = "some input\n";
    if (c->which == 0)
        c->rc = corio_process_wait(c->p, &code);
    else
        c->rc = corio_process_communicate_until(c->p, input, sizeof input - 1,
                                                &out,
                                                &err, &code,
                                                c->which == 2
                                              ? corio_deadline_in(CORIO_MS(50))
                                              : CORIO_NEVER);
    corio_buf_free(&out);
    corio_buf_free(&err);
    return NULL;
}

static void *cancel_main(void *arg)
{
    cancel_case *c = arg;
    child_argv a = child("sleep", "30000", NULL);
    corio_process_opts o = pipes_opts();
    int rc = corio_process_spawn(a.v, &o, &c->p);
    NOTE(&c->t, rc == 0, "spawn: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    c->pid = corio_process_pid(c->p);
    corio_task *t = corio_spawn(cancel_victim, c, NULL);
    if (c->which != 2) {
        NOTE(&c->t, until_parked(t) == 0, "victim never parked");
        corio_cancel(t);
    }
    corio_join(t, NULL);
    /* The child is still ours: stop it and collect it. */
    c->kill_rc = corio_process_kill(c->p);
    c->wait_rc = corio_process_wait_until(c->p, &c->code, in_s(30));
    corio_process_free(c->p);
    return NULL;
}

static void check_cancel(int which, int want)
{
    cancel_case c;
    memset(&c, 0, sizeof c);
    c.which = which;
    run_task(cancel_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.rc, want, "got %s", corio_strerror(c.rc));
    cr_assert_eq(c.kill_rc, 0, "the child was still running: %s",
                 corio_strerror(c.kill_rc));
    cr_assert_eq(c.wait_rc, 0, "%s", corio_strerror(c.wait_rc));
    cr_assert_eq(c.code, -9, "code %d", c.code);
#ifndef _WIN32
    /* Collected: no zombie with that id is left. */
    cr_assert(kill((pid_t)c.pid, 0) != 0 && errno == ESRCH,
              "pid %ld still exists", c.pid);
#endif
}

Test(process, cancel_wait, .timeout = 60)
{
    check_cancel(0, CORIO_ECANCELED);
}

Test(process, cancel_communicate, .timeout = 60)
{
    check_cancel(1, CORIO_ECANCELED);
}

Test(process, communicate_deadline, .timeout = 60)
{
    check_cancel(2, CORIO_ETIMEDOUT);
}

/* Freeing a live child leaves it running; once it ends, it is reaped
 * (no zombie), by a thread of ours. */
#ifndef _WIN32
typedef struct orphan_case { long pid; tally t; } orphan_case;

static void *orphan_main(void *arg)
{
    orphan_case *c = arg;
    corio_process *p = spawn_sleeper(&c->t);
    if (!p) return NULL;
    c->pid = corio_process_pid(p);
    corio_process_free(p);
    NOTE(&c->t, kill((pid_t)c->pid, 0) == 0, "freeing must not stop the child");
    kill((pid_t)c->pid, SIGKILL);
    /* kill(pid, 0) succeeds on a zombie too: ESRCH means reaped. */
    int64_t end = corio_deadline_in(CORIO_SEC(20));
    while (kill((pid_t)c->pid, 0) == 0 && corio_now() < end)
        corio_sleep(CORIO_MS(2));
    NOTE(&c->t, kill((pid_t)c->pid, 0) != 0 && errno == ESRCH,
         "pid %ld was not reaped", c->pid);
    return NULL;
}
#endif

static void check_orphan(void)
{
#ifdef _WIN32
    cr_skip_test("Windows has no zombies: a freed child's handle is closed");
#else
    orphan_case c;
    memset(&c, 0, sizeof c);
    run_task(orphan_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
#endif
}

Test(process, freed_live_child_is_reaped_later, .timeout = 60)
{
    check_orphan();
}

Test(process, freed_live_child_is_reaped_later_waiter_thread, .timeout = 60,
     .fini = allow_pidfd_again)
{
    corio__child_allow_pidfd(0);
    check_orphan();
}

/* ------------------------------------------------------------------ */
/* stdin from the null device, cwd, env, awkward arguments              */
/* ------------------------------------------------------------------ */

typedef struct setup_case {
    run_result null_in, cwd, env, env_gap, args;
    char cwd_want[64];
} setup_case;

static const char *const awkward[] = {
    "plain", "two words", "", "say \"hi\"", "back\\slash", "trailing\\",
    "tab\there", "\\\"both\\\"", NULL
};

static void *setup_main(void *arg)
{
    setup_case *c = arg;
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdin_ = CORIO_STDIO_NULL;
    o.stdout_ = CORIO_STDIO_PIPE;

    child_argv a = child("cat", NULL, NULL);
    run_child(a.v, &o, NULL, 0, &c->null_in);

#ifdef _WIN32
    snprintf(c->cwd_want, sizeof c->cwd_want, "C:\\windows");
#else
    snprintf(c->cwd_want, sizeof c->cwd_want, "/");
#endif
    o.cwd = c->cwd_want;
    a = child("cwd", NULL, NULL);
    run_child(a.v, &o, NULL, 0, &c->cwd);
    o.cwd = NULL;

    /* A whole new environment. On Windows a program needs SystemRoot to
     * start at all, so that one is passed on. */
    char sysroot[512] = "SystemRoot=";
    const char *sr = getenv("SystemRoot");
    if (sr) snprintf(sysroot + 11, sizeof sysroot - 11, "%s", sr);
    char *env[] = { "CORIO_TEST_VAR=hello there", sr ? sysroot : NULL, NULL };
    o.env = env;
    a = child("env", "CORIO_TEST_VAR", NULL);
    run_child(a.v, &o, NULL, 0, &c->env);
    /* An empty entry loses nothing after it (on Windows it used to end
     * the environment block there: found by tests/fuzz/fuzz_cmdline). */
    char *gap[] = { "", "CORIO_TEST_VAR=after an empty entry",
                    sr ? sysroot : NULL, NULL };
    o.env = gap;
    a = child("env", "CORIO_TEST_VAR", NULL);
    run_child(a.v, &o, NULL, 0, &c->env_gap);
    o.env = NULL;

    a = child_args("args", awkward);
    run_child(a.v, &o, NULL, 0, &c->args);
    return NULL;
}

Test(process, null_stdin_cwd_env_and_quoting, .timeout = 60)
{
    setup_case c;
    memset(&c, 0, sizeof c);
    run_task(setup_main, &c);
    cr_assert_eq(c.null_in.comm_rc, 0, "%s", corio_strerror(c.null_in.comm_rc));
    cr_assert_eq(c.null_in.code, 0);
    cr_assert_eq(c.null_in.out.len, 0);

    cr_assert_eq(c.cwd.code, 0);
#ifdef _WIN32
    cr_assert(_stricmp(c.cwd.out.data, c.cwd_want) == 0, "cwd %s", c.cwd.out.data);
#else
    cr_assert_str_eq(c.cwd.out.data, c.cwd_want);
#endif
    cr_assert_eq(c.env.code, 0);
    cr_assert_str_eq(c.env.out.data, "hello there");
    cr_assert_eq(c.env_gap.code, 0);
    cr_assert_str_eq(c.env_gap.out.data, "after an empty entry");

    char want[512] = "";
    for (int i = 0; awkward[i]; i++) {
        strcat(want, "[");
        strcat(want, awkward[i]);
        strcat(want, "]\n");
    }
    cr_assert_eq(c.args.code, 0);
    cr_assert_str_eq(c.args.out.data, want);
    run_result_free(&c.null_in);
    run_result_free(&c.cwd);
    run_result_free(&c.env);
    run_result_free(&c.env_gap);
    run_result_free(&c.args);
}

/* ------------------------------------------------------------------ */
/* Fork hygiene: the child inherits none of corio's descriptors         */
/* ------------------------------------------------------------------ */

#ifdef __linux__
#define MAX_FDS 64

typedef struct hygiene_case {
    int before[MAX_FDS], nbefore; /* open before the loop existed */
    char fds[CHILD_MAX_ARGS][16]; /* opened since: corio's, as text */
    int n;
    run_result r;
    tally t;
} hygiene_case;

/* Our open descriptors (not counting the one that reads the list). */
static int list_fds(int *out, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != dirfd(d)) out[n++] = fd;
    }
    closedir(d);
    return n;
}

static void *hygiene_main(void *arg)
{
    hygiene_case *c = arg;
    /* Make corio open one of each kind: the loop's set and wakeup exist
     * already; a running child adds its pidfd (or waiter pipe), and
     * corio__io_pipe a pipe. */
    corio_process *sleeper = spawn_sleeper(&c->t);
    corio_fd pfd[2];
    int rc = corio__io_pipe(pfd);
    NOTE(&c->t, rc == 0, "pipe: %s", corio_strerror(rc));
    corio_sleep(CORIO_MS(1));

    int now[MAX_FDS], nnow = list_fds(now, MAX_FDS);
    for (int i = 0; i < nnow; i++) {
        int old = 0;
        for (int k = 0; k < c->nbefore; k++) old |= now[i] == c->before[k];
        if (old) continue;
        NOTE(&c->t, c->n < CHILD_MAX_ARGS, "more than %d new descriptors", CHILD_MAX_ARGS);
        if (c->n < CHILD_MAX_ARGS) snprintf(c->fds[c->n++], sizeof c->fds[0], "%d", now[i]);
    }
    const char *args[CHILD_MAX_ARGS + 1] = { 0 };
    for (int i = 0; i < c->n; i++) args[i] = c->fds[i];
    child_argv a = child_args("open-fds", args);
    corio_process_opts o;
    memset(&o, 0, sizeof o);
    o.stdout_ = CORIO_STDIO_PIPE;
    run_child(a.v, &o, NULL, 0, &c->r);
    if (rc == 0) {
        corio__io_close(pfd[0]);
        corio__io_close(pfd[1]);
    }
    if (sleeper) {
        corio_process_kill(sleeper);
        corio_process_wait_until(sleeper, NULL, in_s(30));
        corio_process_free(sleeper);
    }
    return NULL;
}
#endif

/* Every descriptor corio opened (the loop's epoll set and eventfd, a
 * child's pidfd, our pipes) is close-on-exec: a child has none of them. */
Test(process, child_inherits_no_corio_descriptor, .timeout = 60)
{
#ifndef __linux__
    cr_skip_test("lists descriptors through /proc/self/fd (Linux only)");
#else
    hygiene_case c;
    memset(&c, 0, sizeof c);
    c.nbefore = list_fds(c.before, MAX_FDS);
    run_task(hygiene_main, &c);
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.r.comm_rc, 0, "%s", corio_strerror(c.r.comm_rc));
    cr_assert_eq(c.r.code, 0, "%d", c.r.code);
    cr_assert_geq(c.n, 4, "found only %d new descriptors", c.n);
    for (int i = 0; i < c.n; i++) {
        char line[32];
        snprintf(line, sizeof line, "%s:closed\n", c.fds[i]);
        cr_assert(strstr(c.r.out.data, line) != NULL,
                  "descriptor %s reached the child:\n%s", c.fds[i], c.r.out.data);
    }
    run_result_free(&c.r);
#endif
}

/* ------------------------------------------------------------------ */
/* corio__io_pipe: the loop's own pipes                                  */
/* ------------------------------------------------------------------ */

typedef struct pipe_case {
    ptrdiff_t wrote, got, eof, epipe;
    char buf[16];
    tally t;
} pipe_case;

static void *pipe_main(void *arg)
{
    pipe_case *c = arg;
    corio_fd fds[2];
    int rc = corio__io_pipe(fds);
    NOTE(&c->t, rc == 0, "pipe: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    c->wrote = corio__io_write(fds[1], "hello", 5, in_s(10));
    c->got = corio__io_read(fds[0], c->buf, sizeof c->buf, in_s(10));
    corio__io_close(fds[1]);
    c->eof = corio__io_read(fds[0], c->buf + 8, 8, in_s(10));
    corio__io_close(fds[0]);

    rc = corio__io_pipe(fds);
    NOTE(&c->t, rc == 0, "pipe: %s", corio_strerror(rc));
    if (rc < 0) return NULL;
    corio__io_close(fds[0]);
    c->epipe = corio__io_write(fds[1], "x", 1, in_s(10));
    corio__io_close(fds[1]);
    return NULL;
}

Test(process, io_pipe_read_write_eof_epipe, .timeout = 30)
{
    pipe_case c;
    memset(&c, 0, sizeof c);
#ifdef SIGPIPE
    void (*previous)(int) = signal(SIGPIPE, SIG_DFL); /* must not fire */
#endif
    run_task(pipe_main, &c);
#ifdef SIGPIPE
    signal(SIGPIPE, previous);
#endif
    ASSERT_TALLY_CLEAN(c.t);
    cr_assert_eq(c.wrote, 5);
    cr_assert_eq(c.got, 5);
    cr_assert(memcmp(c.buf, "hello", 5) == 0);
    cr_assert_eq(c.eof, 0, "end of stream: %td", c.eof);
    cr_assert_eq(c.epipe, CORIO_EPIPE, "%td", c.epipe);
}
