/*
 * fuzz_resolve.c — libFuzzer target: what corio makes of getaddrinfo's
 * answer (corio__io_resolve_blocking in os/addr.c, the body of
 * corio_resolve's worker).
 *
 * The answer of a resolver is outside input, so this target replaces
 * getaddrinfo / freeaddrinfo with its own (the definitions below win over
 * the C library's at link time) and answers with what the fuzzer says:
 * an error code, or a list of entries of any family and any address
 * length with any bytes. No name is ever looked up.
 *
 * Input: [error] [family argument] [max] [port lo] [port hi], then per
 * entry [family] [addrlen] and addrlen bytes. The model:
 *   - a family argument other than 0 / CORIO_AF_INET / CORIO_AF_INET6, a
 *     max of 0 or a port outside 0..65535: CORIO_EINVAL, and getaddrinfo
 *     is not called;
 *   - getaddrinfo is asked for one socket type with a numeric service
 *     (AI_NUMERICSERV, "<port>") and the family asked for;
 *   - an error maps as include/corio.h and os/addr.c say: no such name
 *     (and the resolver's temporary failure) -> CORIO_ENOTFOUND, memory ->
 *     CORIO_ENOMEM, bad flags/family/service -> CORIO_EINVAL, EAI_SYSTEM ->
 *     the errno's code, anything else -> CORIO_EIO;
 *   - a success gives the IPv4 and IPv6 entries, in order, at most max,
 *     each a byte copy (at most the 128 bytes a corio_addr holds); none of
 *     them: CORIO_ENOTFOUND. The list is freed exactly once.
 */
#include "corio.h"
#include "os/io.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_resolve: MISMATCH: " __VA_ARGS__);      \
            fprintf(stderr, "\n");                                        \
            abort();                                                      \
        }                                                                 \
    } while (0)

#define MAX_ENTRIES 16

static struct {
    int error, sys_errno, calls, frees;
    int want_family, port;
    struct addrinfo ai[MAX_ENTRIES];
    unsigned char bytes[MAX_ENTRIES][256];
    size_t n;
} fake;

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    fake.calls++;
    char want[8];
    snprintf(want, sizeof want, "%d", fake.port);
    CHECK(node && !strcmp(node, "name.invalid"), "node");
    CHECK(service && !strcmp(service, want), "service \"%s\"", service);
    CHECK(hints && hints->ai_socktype == SOCK_STREAM &&
              (hints->ai_flags & AI_NUMERICSERV) &&
              hints->ai_family == fake.want_family,
          "hints: type %d flags %#x family %d", hints ? hints->ai_socktype : -1,
          hints ? (unsigned)hints->ai_flags : 0, hints ? hints->ai_family : -1);
    if (fake.error) {
        errno = fake.sys_errno;
        return fake.error;
    }
    *res = fake.n ? &fake.ai[0] : NULL;
    return 0;
}

void freeaddrinfo(struct addrinfo *res)
{
    CHECK(res == (fake.n ? &fake.ai[0] : NULL), "freeaddrinfo of another list");
    fake.frees++;
}

typedef struct eai { int code, want; } eai;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
    if (size < 5) return 0;
    static const eai errors[] = {
        { 0, 0 },
        { EAI_NONAME, CORIO_ENOTFOUND },   { EAI_AGAIN, CORIO_ENOTFOUND },
        { EAI_FAIL, CORIO_ENOTFOUND },     { EAI_NODATA, CORIO_ENOTFOUND },
        { EAI_ADDRFAMILY, CORIO_ENOTFOUND }, { EAI_MEMORY, CORIO_ENOMEM },
        { EAI_FAMILY, CORIO_EINVAL },      { EAI_SERVICE, CORIO_EINVAL },
        { EAI_BADFLAGS, CORIO_EINVAL },    { EAI_SOCKTYPE, CORIO_EIO },
        { EAI_OVERFLOW, CORIO_EIO },       { -12345, CORIO_EIO },
        { EAI_SYSTEM, 1 /* from errno */ },
    };
    const eai *e = &errors[d[0] % (sizeof errors / sizeof errors[0])];
    static const int families[] = { 0, CORIO_AF_INET, CORIO_AF_INET6, 99 };
    int family = families[d[1] & 3];
    size_t max = d[2] % 9;
    int port = d[3] | d[4] << 8;
    if (port == 0xffff) port = -1;
    else if (port == 0xfffe) port = 65536;
    d += 5, size -= 5;

    memset(&fake, 0, sizeof fake);
    fake.error = e->code;
    fake.sys_errno = (e->code == EAI_SYSTEM) ? (int)(size ? d[0] % 40 : 0) : 0;
    fake.port = port;
    fake.want_family = family == CORIO_AF_INET ? AF_INET
                     : family == CORIO_AF_INET6 ? AF_INET6 : AF_UNSPEC;
    static const int entry_family[] = { AF_INET, AF_INET6, AF_UNIX, 0, 77 };
    while (size >= 2 && fake.n < MAX_ENTRIES) {
        struct addrinfo *ai = &fake.ai[fake.n];
        size_t len = d[1];
        ai->ai_family = entry_family[d[0] % 5];
        ai->ai_socktype = SOCK_STREAM;
        d += 2, size -= 2;
        size_t have = size < len ? size : len;
        memcpy(fake.bytes[fake.n], d, have);
        d += have, size -= have;
        ai->ai_addr = (struct sockaddr *)(void *)fake.bytes[fake.n];
        ai->ai_addrlen = (socklen_t)len;
        if (fake.n) fake.ai[fake.n - 1].ai_next = ai;
        fake.n++;
    }

    corio_addr out[9];
    memset(out, 0xee, sizeof out);
    int rc = corio__io_resolve_blocking("name.invalid", port, family, out, max);

    if (max == 0 || port < 0 || port > 65535 || family == 99) {
        CHECK(rc == CORIO_EINVAL && fake.calls == 0, "bad arguments: rc %d", rc);
        return 0;
    }
    CHECK(fake.calls == 1, "getaddrinfo called %d times", fake.calls);
    if (e->code != 0) {
        CHECK(fake.frees == 0, "a failed answer was freed");
        if (e->code == EAI_SYSTEM)
            CHECK(rc < 0 && rc > CORIO_ELAST_, "EAI_SYSTEM gave %d", rc);
        else
            CHECK(rc == e->want, "error %d gave %d, want %d", e->code, rc,
                  e->want);
        return 0;
    }
    CHECK(fake.frees == (fake.n ? 1 : 0) || (fake.n == 0 && fake.frees <= 1),
          "freed %d times", fake.frees);
    size_t k = 0;
    for (size_t i = 0; i < fake.n && k < max; i++) {
        const struct addrinfo *ai = &fake.ai[i];
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        size_t len = ai->ai_addrlen < 128 ? ai->ai_addrlen : 128;
        CHECK(rc > (int)k, "entry %zu missing (rc %d)", k, rc);
        CHECK(out[k].len == (int)len && !memcmp(out[k].u.bytes, ai->ai_addr, len),
              "entry %zu: len %d, want %zu", k, out[k].len, len);
        k++;
    }
    CHECK(k ? rc == (int)k : rc == CORIO_ENOTFOUND, "rc %d for %zu addresses",
          rc, k);
    return 0;
}
