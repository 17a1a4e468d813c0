/*
 * fuzz_path.c — libFuzzer target: the PATH search of os/process_posix.c
 * (which files execve tries for a program name), against a model.
 *
 * The search runs in the parent (the child may not call malloc), over the
 * PATH of the CHILD's environment when one is given: outside input. Its
 * section of process_posix.c ("PATH search, in the parent") is pure code;
 * the Makefile copies it verbatim into build/fuzz/path_posix.inc.
 *
 * Input, split at NUL bytes: the program name, then up to 16 environment
 * entries. The model, from POSIX execvp: a name with a '/' is tried as
 * is; otherwise PATH comes from the first "PATH=" entry (the default
 * "/usr/local/bin:/usr/bin:/bin" if there is none), is cut at every ':',
 * and each piece gives piece + "/" + name, an empty piece meaning ".".
 * The list must match exactly, in order; ASan watches the one-block
 * allocation the search sizes by hand.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The section of os/process_posix.c, verbatim (see the Makefile). */
#include "path_posix.inc"

#define MAX_ENV 16
#define MAX_TEXT 4096

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_path: MISMATCH: " __VA_ARGS__);         \
            fprintf(stderr, "\n");                                        \
            abort();                                                      \
        }                                                                 \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
    if (size > MAX_TEXT) return 0;
    static char text[MAX_TEXT + 1];
    memcpy(text, d, size);
    text[size] = '\0';
    char *strs[MAX_ENV + 1];
    size_t n = 0;
    for (char *p = text, *end = text + size; n < MAX_ENV + 1; p++) {
        strs[n++] = p;
        p += strlen(p);
        if (p >= end) break;
    }
    const char *name = strs[0];
    char *env[MAX_ENV + 1];
    for (size_t i = 1; i < n; i++) env[i - 1] = strs[i];
    env[n - 1] = NULL;

    char **got = exec_candidates(name, env);
    CHECK(got, "exec_candidates failed");
    size_t k = 0;
    if (strchr(name, '/')) {
        CHECK(got[0] && !strcmp(got[0], name) && !got[1],
              "a name with '/' is tried as is: \"%s\"", name);
    } else {
        const char *path = "/usr/local/bin:/usr/bin:/bin";
        for (size_t i = 0; env[i]; i++)
            if (!strncmp(env[i], "PATH=", 5)) { path = env[i] + 5; break; }
        char want[MAX_TEXT * 2];
        for (const char *s = path;; k++) {
            const char *colon = strchr(s, ':');
            size_t dlen = colon ? (size_t)(colon - s) : strlen(s);
            snprintf(want, sizeof want, "%.*s/%s", dlen ? (int)dlen : 1,
                     dlen ? s : ".", name);
            CHECK(got[k] && !strcmp(got[k], want),
                  "candidate %zu: \"%s\", model \"%s\" (PATH \"%s\")", k,
                  got[k] ? got[k] : "(end)", want, path);
            if (!colon) break;
            s = colon + 1;
        }
        CHECK(!got[k + 1], "more candidates than PATH has pieces");
    }
    free(got);
    return 0;
}
