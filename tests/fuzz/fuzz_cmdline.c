/*
 * fuzz_cmdline.c — libFuzzer target: the Windows command line and
 * environment block that os/process_win.c builds for CreateProcessW, run
 * on Linux.
 *
 * That part of process_win.c is pure code (the section "UTF-8 -> UTF-16,
 * and the command line"): the Makefile copies it verbatim into
 * build/fuzz/cmdline_win.inc, and it is included below over a small shim
 * (wchar_t strings as UTF-16 code units, MultiByteToWideChar as a UTF-8
 * decoder that turns each bad byte into U+FFFD, as Windows does without
 * MB_ERR_INVALID_CHARS). So the code under test is the real one; only the
 * UTF-8 decoding is the shim's, and it is shared with the model.
 *
 * Input: the first byte's low bit picks the command line or the
 * environment block; the rest is split at NUL bytes into strings.
 *
 *   command line  argv[0] .. argv[n-1] (at most 16) go through
 *                 command_line(), and a model of CommandLineToArgvW (the
 *                 rules the MSVC and mingw startup code also follow) splits
 *                 the result again: it must give back exactly the UTF-16 of
 *                 every argument. argv[0] follows the program-name rule (no
 *                 backslash escapes: quoted up to the next quote, else up to
 *                 a blank), so the target gives it no '"' and no trailing
 *                 '\', which no Windows program path has.
 *   environment   the strings go through environment_block(), which must be
 *                 "K=V\0K=V\0\0": split at NULs up to the empty string, it
 *                 gives back every non-empty entry, in order (an empty one
 *                 would end the block: it is skipped).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* ---------- the shim: what the section needs from <windows.h> ---------- */

#define CP_UTF8 65001

/* UTF-8 to UTF-16 code units; every byte that does not start a valid,
 * shortest-form sequence becomes U+FFFD. With len -1 the NUL is converted
 * too and counted. Returns the count of code units (written, if out). */
static int MultiByteToWideChar(unsigned cp, unsigned long flags,
                               const char *text, int len, wchar_t *out,
                               int outlen)
{
    (void)cp;
    (void)flags;
    const unsigned char *s = (const unsigned char *)text;
    size_t n = len < 0 ? strlen(text) + 1 : (size_t)len;
    int count = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4 : 0;
        uint32_t cp32 = 0xFFFD;
        if (k == 1) {
            cp32 = c;
        } else if (k > 1 && i + k <= n) {
            uint32_t v = c & (0x7Fu >> k);
            size_t j = 1;
            for (; j < k && (s[i + j] & 0xC0) == 0x80; j++)
                v = v << 6 | (s[i + j] & 0x3Fu);
            static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
            if (j == k && v >= least[k] && v <= 0x10FFFF &&
                !(v >= 0xD800 && v <= 0xDFFF))
                cp32 = v;
            else
                k = 1;
        } else {
            k = 1;
        }
        i += k;
        wchar_t units[2];
        int m = 1;
        if (cp32 >= 0x10000) {
            units[0] = (wchar_t)(0xD800 + ((cp32 - 0x10000) >> 10));
            units[1] = (wchar_t)(0xDC00 + ((cp32 - 0x10000) & 0x3FF));
            m = 2;
        } else {
            units[0] = (wchar_t)cp32;
        }
        for (int u = 0; u < m; u++, count++)
            if (out) {
                if (count >= outlen) return 0;
                out[count] = units[u];
            }
    }
    return count;
}

/* The section of os/process_win.c, verbatim (see the Makefile). */
#include "cmdline_win.inc"

/* ---------- the model ---------- */

#define MAX_ARGS 16
#define MAX_TEXT 4096

static wchar_t *utf16(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (!w) abort();
    MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_cmdline: MISMATCH: " __VA_ARGS__);      \
            fprintf(stderr, "\n");                                        \
            abort();                                                      \
        }                                                                 \
    } while (0)

static int blank(wchar_t c) { return c == L' ' || c == L'\t'; }

/* CommandLineToArgvW, as documented: argv[0] by the program-name rule,
 * then 2n backslashes + '"' -> n backslashes and a quote toggle, 2n+1 ->
 * n backslashes and a literal '"', other backslashes literal; blanks
 * outside quotes end an argument. Returns the count; args[i] malloc'd. */
static size_t split(const wchar_t *p, wchar_t **args, size_t max)
{
    size_t n = 0;
    size_t len = wcslen(p);
    wchar_t *cur = malloc((len + 1) * sizeof *cur);
    if (!cur) abort();
    size_t k = 0;
    if (*p == L'"') {
        for (p++; *p && *p != L'"'; p++) cur[k++] = *p;
        if (*p) p++;
    } else {
        for (; *p && !blank(*p); p++) cur[k++] = *p;
    }
    cur[k] = 0;
    args[n++] = wcsdup(cur);
    for (;;) {
        while (blank(*p)) p++;
        if (!*p) break;
        k = 0;
        int quoted = 0;
        while (*p && (quoted || !blank(*p))) {
            if (*p == L'\\') {
                size_t slashes = 0;
                while (*p == L'\\') slashes++, p++;
                if (*p == L'"') {
                    for (size_t i = 0; i < slashes / 2; i++) cur[k++] = L'\\';
                    if (slashes % 2) cur[k++] = L'"', p++;
                } else {
                    for (size_t i = 0; i < slashes; i++) cur[k++] = L'\\';
                }
            } else if (*p == L'"') {
                quoted = !quoted;
                p++;
            } else {
                cur[k++] = *p++;
            }
        }
        cur[k] = 0;
        if (n < max) args[n] = wcsdup(cur);
        n++;
    }
    free(cur);
    return n;
}

static void fuzz_argv(char **strs, size_t n)
{
    /* argv[0]: a program path has no quote and no trailing backslash. */
    char *a0 = strs[0], *w = a0;
    for (char *r = a0; *r; r++)
        if (*r != '"') *w++ = *r;
    while (w > a0 && w[-1] == '\\') w--;
    *w = '\0';

    const char *argv[MAX_ARGS + 1];
    for (size_t i = 0; i < n; i++) argv[i] = strs[i];
    argv[n] = NULL;
    wchar_t *cmd = command_line(argv);
    CHECK(cmd, "command_line failed");
    wchar_t *back[MAX_ARGS + 1];
    size_t m = split(cmd, back, MAX_ARGS + 1);
    /* An empty argv[0] is refused by spawn before this; its "" splits to "". */
    CHECK(m == n, "%zu arguments became %zu: \"%ls\"", n, m, cmd);
    for (size_t i = 0; i < n; i++) {
        wchar_t *want = utf16(argv[i]);
        CHECK(wcscmp(back[i], want) == 0,
              "argument %zu \"%s\" came back as \"%ls\" from \"%ls\"", i,
              argv[i], back[i], cmd);
        free(want);
    }
    for (size_t i = 0; i < m && i < MAX_ARGS + 1; i++) free(back[i]);
    free(cmd);
}

static void fuzz_env(char **strs, size_t n)
{
    char *env[MAX_ARGS + 1];
    for (size_t i = 0; i < n; i++) env[i] = strs[i];
    env[n] = NULL;
    wchar_t *block = environment_block(env);
    CHECK(block, "environment_block failed");
    /* Every non-empty entry comes back, in order; an empty one cannot be
     * in a block (it would end it) and is skipped. */
    const wchar_t *p = block;
    size_t i = 0;
    for (; *p; p += wcslen(p) + 1, i++) {
        while (i < n && !env[i][0]) i++;
        CHECK(i < n, "more entries than given");
        wchar_t *want = utf16(env[i]);
        CHECK(wcscmp(p, want) == 0, "entry %zu \"%s\" came back as \"%ls\"",
              i, env[i], p);
        free(want);
    }
    while (i < n && !env[i][0]) i++;
    CHECK(i == n, "entries after %zu of %zu were lost", i, n);
    free(block);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
    if (size < 1 || size > MAX_TEXT) return 0;
    int env = d[0] & 1;
    static char text[MAX_TEXT + 1];
    memcpy(text, d + 1, size - 1);
    text[size - 1] = '\0';
    char *strs[MAX_ARGS];
    size_t n = 0;
    for (char *p = text, *end = text + size - 1; n < MAX_ARGS; p++) {
        strs[n++] = p;
        p += strlen(p);
        if (p >= end) break;
    }
    if (env) fuzz_env(strs, n);
    else fuzz_argv(strs, n);
    return 0;
}
