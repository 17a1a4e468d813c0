/*
 * driver.c — `make test-faults`: fail every system call of every scenario
 * in turn and check that corio copes.
 *
 *   1. Run a scenario once, clean, in a child: every wrapped call is
 *      counted at its call site (function, return address).
 *   2. For each site and each errno its function may return
 *      (fault_points[]), run the scenario again in a fresh child that
 *      fails that call once: at its first occurrence and, at a site hit
 *      four times or more, in the middle and at the last one as well.
 *   3. Judge each run: the child must end by itself before ALARM_S
 *      (else: a hang), ASan/UBSan/LSan must stay quiet (its exit status),
 *      the scenario's data must be whole, the descriptors open, corio's
 *      live mappings (task stacks) and the tasks left at loop close must
 *      be as after the clean run, and the first failed call must have
 *      returned a code that says what happened (see judge()).
 *
 * Each scenario drives all its sites, those shared with an earlier one
 * too (the same code, in another context); -d skips pairs an earlier
 * scenario drove. The summary counts the (site, errno) pairs and what
 * each fault class produced; the exit status is 1 if any run failed.
 *
 *   fault_driver [-s SCENARIO] [-v] [-d]   -v: one line per run
 */
#include "fault.h"
#include "scenarios.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ALARM_S 10          /* a run that takes longer hangs */
#define DEADLINE_S 4        /* every call of a scenario */

/* Sanitizer reports get their own exit status; LSan's stays 23. */
const char *__asan_default_options(void)
{
    return "exitcode=66:detect_stack_use_after_return=1";
}

/* What a child tells the driver. */
typedef struct run_result {
    int done;
    scen sc;
    int fds_before, fds_after;
    long maps_after;
    int tasks_reported;
    int64_t elapsed_ns;
} run_result;

int corio__error_from_errno(int err); /* os/error.h: the one mapping */

static fault_state *st;
static run_result *res;
static char stderr_path[64];
static int verbose, dedupe;

static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1) n++;
    return n;
}

static void count_report(void *ctx, const char *message)
{
    (void)message;
    ++*(int *)ctx;
}

/* The child: one run of scenario sc under the plan already in *st. */
static void child_run(const scenario *sc)
{
    setpgid(0, 0);
    int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) { dup2(fd, 2); close(fd); }
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE corio let through kills the run */
    alarm(ALARM_S);
    res->fds_before = count_open_fds();
    st->owner = getpid();
    int64_t t0 = corio_now();
    int reported = 0;
    corio_config cfg = { .report = count_report, .report_ctx = &reported };
    corio_loop *loop = corio_loop_new(&cfg);
    if (!loop) {
        /* corio_loop_new says only NULL; what the OS said is kept. */
        int os = corio_last_os_error();
        res->sc.first_err = !os ? CORIO_ENOMEM
                          : os == ENOSPC ? CORIO_ENOMEM /* epoll's watch limit */
                          : corio__error_from_errno(os);
        res->sc.first_os = os;
        snprintf(res->sc.where, sizeof res->sc.where, "loop_new");
        res->sc.errors = 1;
    } else {
        res->sc.deadline = corio_deadline_in(CORIO_SEC(DEADLINE_S));
        corio_task *m = corio_loop_spawn(loop, sc->main, &res->sc, NULL);
        if (!m) {
            res->sc.first_err = CORIO_ENOMEM;
            res->sc.first_os = corio_last_os_error();
            snprintf(res->sc.where, sizeof res->sc.where, "loop_spawn");
            res->sc.errors = 1;
        } else {
            corio_loop_run_until_complete(loop, m, NULL);
        }
        corio_loop_run(loop);
        reported += corio_loop_close(loop);
    }
    st->owner = 0; /* from here on, nothing is counted */
    /* A detached thread (the process waiter) may close its descriptor
     * just after the loop is gone: give it half a second to. */
    for (int64_t end = corio_now() + CORIO_MS(500);
         count_open_fds() > res->fds_before && corio_now() < end;)
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    res->elapsed_ns = corio_now() - t0;
    res->tasks_reported = reported;
    res->fds_after = count_open_fds();
    res->maps_after = st->live_maps;
    res->done = 1;
    exit(0); /* LSan checks for leaks here */
}

typedef struct outcome {
    int status;       /* waitpid's */
    int hung;
} outcome;

static outcome run_once(const scenario *sc, const fault_plan *plan)
{
    memset(st, 0, sizeof *st);
    atomic_flag_clear(&st->lock);
    if (plan) { st->plan = *plan; st->armed = 1; }
    memset(res, 0, sizeof *res);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) child_run(sc);
    outcome o = { 0, 0 };
    while (waitpid(pid, &o.status, 0) < 0) {
    }
    o.hung = WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGALRM;
    kill(-pid, SIGKILL); /* whatever the run left behind (a cat) */
    return o;
}

/* ---- names ---- */

static const char *err_name(int e)
{
    static char buf[16];
    switch (e) {
#define E(x) case x: return #x;
    E(EINTR) E(EAGAIN) E(ECONNRESET) E(EPIPE) E(EMFILE) E(ENFILE) E(ENOMEM)
    E(ENOBUFS) E(ENOSPC) E(ECONNABORTED) E(EPROTO) E(ECONNREFUSED) E(ETIMEDOUT)
    E(ENETUNREACH) E(EADDRNOTAVAIL) E(EADDRINUSE) E(EACCES) E(EIO) E(ENOSYS)
    E(ECHILD) E(ESRCH)
#undef E
    case FAULT_SHORT: return "short";
    }
    snprintf(buf, sizeof buf, "errno %d", e);
    return buf;
}

static const char *code_name(int c)
{
    static char buf[24];
    switch (c) {
#define C(x) case CORIO_##x: return #x;
    C(OK) C(ECANCELED) C(ETIMEDOUT) C(ENOMEM) C(EINVAL) C(EALREADY) C(ENOLOOP)
    C(ECLOSED) C(EPERM) C(EBUSY) C(EOF) C(ELIMIT) C(EINCOMPLETE) C(ECONNRESET)
    C(ECONNREFUSED) C(EPIPE) C(EADDRINUSE) C(EMFILE) C(ENOTSUP) C(EAGAIN)
    C(ENOTFOUND) C(ENOTCONN) C(EHOSTUNREACH) C(EIO) C(EADDRNOTAVAIL)
    C(ECONNABORTED) C(EACCES)
#undef C
    }
    snprintf(buf, sizeof buf, "code %d", c);
    return buf;
}

/* Symbols of this executable (linked -no-pie: addresses are as nm says). */
typedef struct sym { uintptr_t addr; char name[256]; } sym;
static sym *syms;
static int nsyms;

static void load_symbols(void)
{
    char cmd[4200], exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    snprintf(cmd, sizeof cmd, "nm -n --defined-only '%s'", exe);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    int cap = 0;
    char line[512], type, name[256];
    unsigned long a;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx %c %255s", &a, &type, name) == 3 &&
            (type == 't' || type == 'T')) {
            if (nsyms == cap) syms = realloc(syms, (size_t)(cap = cap ? 2 * cap : 4096) * sizeof *syms);
            syms[nsyms].addr = a;
            snprintf(syms[nsyms].name, sizeof syms[nsyms].name, "%s", name);
            nsyms++;
        }
    pclose(f);
}

/* "function+0xoff" of a return address. */
static const char *site_name(uintptr_t a)
{
    static char buf[300];
    int lo = 0, hi = nsyms - 1, best = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (syms[mid].addr <= a) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (best < 0) snprintf(buf, sizeof buf, "%#lx", (unsigned long)a);
    else snprintf(buf, sizeof buf, "%s+%#lx", syms[best].name, (unsigned long)(a - syms[best].addr));
    return buf;
}

/* ---- judging ---- */

/* What corio should say for an injected errno: the one mapping of
 * os/error_posix.c, and getaddrinfo's answers as os/addr.c gives them. */
static int expected_code(int fn, int e)
{
    if (fn == FN_getaddrinfo)
        return e == ENOMEM ? CORIO_ENOMEM : e == EMFILE ? CORIO_EMFILE : CORIO_ENOTFOUND;
    switch (e) {
    case EMFILE: case ENFILE: return CORIO_EMFILE;
    case ENOMEM: case ENOBUFS: case ENOSPC: return CORIO_ENOMEM;
    /* fork, pthread_create, mmap: EAGAIN is a process or memory limit */
    case EAGAIN: return (fn == FN_fork || fn == FN_pthread_create || fn == FN_mmap)
                        ? CORIO_ENOMEM : CORIO_EAGAIN;
    case ECONNRESET: return CORIO_ECONNRESET;
    case EPIPE: return CORIO_EPIPE;
    case ECONNABORTED: return CORIO_ECONNABORTED;
    case ECONNREFUSED: return CORIO_ECONNREFUSED;
    case ETIMEDOUT: return CORIO_ETIMEDOUT;
    case ENETUNREACH: return CORIO_EHOSTUNREACH;
    case EADDRNOTAVAIL: return CORIO_EADDRNOTAVAIL;
    case EADDRINUSE: return CORIO_EADDRINUSE;
    case EACCES: return CORIO_EACCES;
    case ENOSYS: return CORIO_ENOTSUP;
    default: return CORIO_EIO;
    }
}

/* Failures that come back as CORIO_ENOMEM with no OS error kept, as
 * corio.h allows: getaddrinfo's codes are not OS errors, an allocation
 * has no errno, and a task stack (mmap, mprotect) or a pool thread
 * (pthread_create) that cannot be had is "out of memory or stack
 * mappings" (corio_spawn says only NULL). */
static int cause_not_kept(int fn)
{
    return fn == FN_getaddrinfo || fn == FN_malloc || fn == FN_calloc ||
           fn == FN_realloc || fn == FN_mmap || fn == FN_mprotect ||
           fn == FN_pthread_create;
}

/* Codes the other side of a connection sees when this side gave up. */
static int is_consequence(int c)
{
    return c == CORIO_EOF || c == CORIO_EINCOMPLETE || c == CORIO_ECONNRESET ||
           c == CORIO_EPIPE;
}

enum verdict { V_RETRIED, V_ERROR, V_NOT_REACHED, V_FAILED };

/* The classes of the summary: one per injected errno. */
#define MAX_CLASSES 32
#define MAX_CODES 24
typedef struct klass {
    int err;
    int runs, retried, not_reached, failed;
    int codes[MAX_CODES], code_n[MAX_CODES], ncodes;
} klass;
static klass classes[MAX_CLASSES];
static int nclasses;

static klass *class_of(int e)
{
    for (int i = 0; i < nclasses; i++)
        if (classes[i].err == e) return &classes[i];
    classes[nclasses].err = e;
    return &classes[nclasses++];
}

static void count_code(klass *k, int c)
{
    for (int i = 0; i < k->ncodes; i++)
        if (k->codes[i] == c) { k->code_n[i]++; return; }
    if (k->ncodes < MAX_CODES) { k->codes[k->ncodes] = c; k->code_n[k->ncodes++] = 1; }
}

static void print_stderr_tail(void)
{
    FILE *f = fopen(stderr_path, "r");
    if (!f) return;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n++ < 30) fprintf(stderr, "      | %s", line);
    fclose(f);
}

typedef struct baseline { int fd_delta; long maps; int tasks; } baseline;

/* Judge one run; why (if it failed) goes into why[]. */
static enum verdict judge(const fault_plan *p, outcome o, const baseline *b,
                          char *why, size_t n)
{
    why[0] = 0;
    if (o.hung) { snprintf(why, n, "hung (no end within %d s)", ALARM_S); return V_FAILED; }
    if (!WIFEXITED(o.status)) { snprintf(why, n, "killed by signal %d", WTERMSIG(o.status)); return V_FAILED; }
    int ec = WEXITSTATUS(o.status);
    if (ec == 66) { snprintf(why, n, "ASan/UBSan report"); return V_FAILED; }
    if (ec == 23) { snprintf(why, n, "LSan: memory leaked"); return V_FAILED; }
    if (ec != 0 || !res->done) { snprintf(why, n, "exit status %d", ec); return V_FAILED; }
    if (res->sc.bad) { snprintf(why, n, "data: %s", res->sc.msg); return V_FAILED; }
    if (res->fds_after - res->fds_before != b->fd_delta) {
        snprintf(why, n, "descriptors: %d open after, %d before",
                 res->fds_after, res->fds_before);
        return V_FAILED;
    }
    if (res->maps_after != b->maps) {
        snprintf(why, n, "mappings: %ld of corio's left (clean run: %ld)", res->maps_after, b->maps);
        return V_FAILED;
    }
    if (res->tasks_reported != b->tasks) {
        snprintf(why, n, "loop close reported %d task(s)", res->tasks_reported);
        return V_FAILED;
    }
    if (!p) return res->sc.errors ? V_ERROR : V_RETRIED;
    if (!st->fired) return V_NOT_REACHED;
    if (res->sc.errors == 0) return V_RETRIED;
    int c = res->sc.first_err;
    if (c == CORIO_ETIMEDOUT && res->elapsed_ns >= CORIO_SEC(DEADLINE_S)) {
        snprintf(why, n, "%s waited until its deadline", res->sc.where);
        return V_FAILED;
    }
    if (p->err == FAULT_SHORT || p->err == EINTR) {
        snprintf(why, n, "%s: %s (a %s must be retried)", res->sc.where, code_name(c), err_name(p->err));
        return V_FAILED;
    }
    if (c != expected_code(p->fn, p->err) && !is_consequence(c)) {
        snprintf(why, n, "%s: %s, expected %s", res->sc.where, code_name(c),
                 code_name(expected_code(p->fn, p->err)));
        return V_FAILED;
    }
    /* The cause is kept: an OS failure on the loop's thread that came
     * back as its own code leaves the errno in corio_last_os_error()
     * (getaddrinfo's codes are not OS errors: corio.h). */
    if (c == expected_code(p->fn, p->err) && !is_consequence(c) && st->fired_on_main &&
        !cause_not_kept(p->fn) && res->sc.first_os != p->err) {
        snprintf(why, n, "%s: %s, but corio_last_os_error() is %d, not %s",
                 res->sc.where, code_name(c), res->sc.first_os, err_name(p->err));
        return V_FAILED;
    }
    return V_ERROR;
}

/* Answers the kernel never gives at a site, so not injected there: the
 * eventfd of the poller's wakeup is written 8 bytes at a time and read
 * whole (never short, never EPIPE), and its write says EAGAIN only when
 * the counter is full, i.e. a wakeup is pending anyway. */
static const struct { const char *in; int fn; int only; } site_rules[] = {
    { "corio__poller_wakeup", FN_write, EINTR },
    { "drain_wakeups", FN_read, EINTR },
};

static int allowed(uintptr_t site, int fn, int err)
{
    const char *name = site_name(site);
    for (size_t i = 0; i < sizeof site_rules / sizeof site_rules[0]; i++)
        if (site_rules[i].fn == fn && !strncmp(name, site_rules[i].in, strlen(site_rules[i].in)) &&
            name[strlen(site_rules[i].in)] == '+')
            return err == site_rules[i].only;
    return 1;
}

/* Pairs already driven, across scenarios. */
typedef struct pair { uintptr_t site; int fn, err; } pair;
static pair *driven;
static int ndriven, capdriven;

static int seen(uintptr_t site, int fn, int err)
{
    for (int i = 0; i < ndriven; i++)
        if (driven[i].site == site && driven[i].fn == fn && driven[i].err == err) return 1;
    if (ndriven == capdriven) driven = realloc(driven, (size_t)(capdriven = capdriven ? 2 * capdriven : 1024) * sizeof *driven);
    driven[ndriven++] = (pair){ site, fn, err };
    return 0;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "-d")) dedupe = 1;
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) only = argv[++i];
        else { fprintf(stderr, "usage: %s [-s scenario] [-v] [-d]\n", argv[0]); return 2; }
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(stderr_path, sizeof stderr_path, "/tmp/corio-faults-%d.err", (int)getpid());
    st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (st == MAP_FAILED || res == MAP_FAILED) { perror("mmap"); return 2; }
    fault_st = st;
    load_symbols();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int runs = 0, failures = 0, pairs = 0, sites_total = 0;
    static fault_site sites[FAULT_MAX_SITES];
    char why[256];
    for (int si = 0; si < nscenarios; si++) {
        const scenario *sc = &scenarios[si];
        if (only && strcmp(only, sc->name)) continue;
        outcome o = run_once(sc, NULL);
        baseline b = { res->fds_after - res->fds_before, res->maps_after, res->tasks_reported };
        baseline zero = { 0, 0, 0 };
        enum verdict v = judge(NULL, o, &zero, why, sizeof why);
        if (v != V_RETRIED) {
            printf("FAIL %s: the clean run failed: %s%s%s %s\n", sc->name, why,
                   res->sc.errors ? res->sc.where : "", res->sc.errors ? ":" : "",
                   res->sc.errors ? code_name(res->sc.first_err) : "");
            print_stderr_tail();
            failures++;
            continue;
        }
        if (verbose)
            printf("# %s clean: %d descriptors more after, %ld mappings, %d tasks reported\n",
                   sc->name, b.fd_delta, b.maps, b.tasks);
        int nsites = st->nsites;
        memcpy(sites, st->sites, sizeof sites);
        sites_total += nsites;
        int sc_pairs = 0, sc_runs = 0;
        for (int k = 0; k < nsites; k++) {
            const fault_site *fs = &sites[k];
            const fault_point *fp = &fault_points[fs->fn];
            for (int e = 0; e < FAULT_MAX_ERRS && fp->errs[e]; e++) {
                if (!allowed(fs->site, fs->fn, fp->errs[e])) continue;
                if (seen(fs->site, fs->fn, fp->errs[e]) && dedupe) continue;
                pairs++, sc_pairs++;
                /* The first call, and at a busy site one in the middle
                 * and the last one too. */
                long occ[3] = { 1, fs->count >= 4 ? fs->count / 2 + 1 : 0,
                                fs->count >= 4 ? fs->count : 0 };
                for (int r = 0; r < 3 && occ[r]; r++) {
                    fault_plan p = { fs->fn, fs->site, occ[r], fp->errs[e] };
                    o = run_once(sc, &p);
                    runs++, sc_runs++;
                    v = judge(&p, o, &b, why, sizeof why);
                    klass *kl = class_of(p.err);
                    kl->runs++;
                    if (v == V_RETRIED) kl->retried++;
                    else if (v == V_NOT_REACHED) kl->not_reached++;
                    else if (v == V_ERROR) count_code(kl, res->sc.first_err);
                    else kl->failed++;
                    if (v == V_FAILED || verbose) {
                        printf("%s %-8s %s(%s) #%ld at %s: %s\n",
                               v == V_FAILED ? "FAIL" : "ok  ", sc->name, fp->name,
                               err_name(p.err), p.nth, site_name(fs->site),
                               v == V_FAILED ? why
                               : v == V_RETRIED ? "absorbed"
                               : v == V_NOT_REACHED ? "not reached"
                               : code_name(res->sc.first_err));
                        if (v == V_FAILED) { print_stderr_tail(); failures++; }
                        fflush(stdout);
                    }
                }
            }
        }
        printf("# %-8s %3d call sites, %4d new (site, errno) pairs, %4d runs\n",
               sc->name, nsites, sc_pairs, sc_runs);
        fflush(stdout);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("\n# per fault class: runs = absorbed (the scenario succeeded: the call was"
           " retried, or\n# its failure did not matter) + error (a clear code came back)"
           " + not reached + FAILED\n");
    for (int i = 0; i < nclasses; i++) {
        klass *k = &classes[i];
        int errs = k->runs - k->retried - k->not_reached - k->failed;
        printf("%-13s runs=%-4d absorbed=%-4d error=%-4d not_reached=%-3d failed=%d",
               err_name(k->err), k->runs, k->retried, errs, k->not_reached, k->failed);
        for (int c = 0; c < k->ncodes; c++)
            printf("%s%s:%d", c ? " " : "  codes: ", code_name(k->codes[c]), k->code_n[c]);
        printf("\n");
    }
    printf("\nfault_pairs=%d\nfault_runs=%d\nfault_sites=%d\nfault_failures=%d\n"
           "fault_seconds=%.1f\n", pairs, runs, sites_total, failures,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    unlink(stderr_path);
    return failures ? 1 : 0;
}
