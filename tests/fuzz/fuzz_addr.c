/*
 * fuzz_addr.c — libFuzzer target: corio's address calls (os/addr.c)
 * against the C library's own parsers.
 *
 * The first byte's low two bits pick what the rest is:
 *
 *   0  an IP literal for corio_addr_ip (the next two bytes are the port,
 *      the rest the text; 3: the same text with a port out of range). The references are independent of corio:
 *        - IPv4: a strict dotted quad checked here (four decimal parts,
 *          0..255, no leading zero): corio accepts exactly those, and
 *          getaddrinfo(AI_NUMERICHOST) agrees on the address. It accepts
 *          more (inet_aton's "127.1", "0x7f.1", "1.2.3.4 junk"): corio
 *          does not, on purpose (asyncio's inet_pton does not either).
 *        - IPv6, bare or in brackets: corio accepts exactly what
 *          getaddrinfo(AF_INET6, AI_NUMERICHOST) accepts without a scope
 *          id, with the same 16 bytes; a scope id ("fe80::1%lo") is not a
 *          literal corio_addr_ip takes (CORIO_EINVAL; corio_resolve
 *          hands such names to getaddrinfo).
 *        - a port outside 0..65535 is CORIO_EINVAL whatever the text.
 *      corio_resolve gives an accepted literal back at once (no lookup),
 *      in its own family only. Every accepted address also goes round
 *      corio_addr_format and back through corio_addr_ip to the same
 *      bytes, and formats the same way into buffers of every smaller size
 *      (a NUL-terminated prefix, and the count of what landed).
 *   1  a Unix socket path for corio_addr_unix: accepted iff 1..107 bytes
 *      (sun_path and its NUL), formatted as "unix:<path>", port -1.
 *   2  raw bytes for a corio_addr (the public box a caller may fill
 *      itself, or the kernel filled): len from the next byte (-2..137),
 *      the bytes from the rest. family, port and format must not read
 *      outside the box and must give a NUL-terminated string.
 */
#include "corio.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "fuzz_addr: MISMATCH: " __VA_ARGS__);         \
            fprintf(stderr, "\n");                                        \
            abort();                                                      \
        }                                                                 \
    } while (0)

/* The strict dotted quad: what inet_pton(AF_INET) is specified to take. */
static int dotted_quad(const char *s, unsigned char out[4])
{
    for (int part = 0; part < 4; part++) {
        if (part > 0 && *s++ != '.') return 0;
        if (*s < '0' || *s > '9') return 0;
        unsigned v = 0;
        int digits = 0;
        const char *start = s;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (unsigned)(*s++ - '0');
            if (++digits > 3) return 0;
        }
        if (v > 255 || (digits > 1 && *start == '0')) return 0;
        out[part] = (unsigned char)v;
    }
    return *s == '\0';
}

/* getaddrinfo with AI_NUMERICHOST for one family: 1 and the address bytes
 * (4 or 16) and the scope id, or 0. */
static int numeric(const char *s, int family, unsigned char *bytes,
                   uint32_t *scope)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(s, NULL, &hints, &res) != 0 || !res) return 0;
    if (family == AF_INET) {
        struct sockaddr_in v4;
        memcpy(&v4, res->ai_addr, sizeof v4);
        memcpy(bytes, &v4.sin_addr, 4);
    } else {
        struct sockaddr_in6 v6;
        memcpy(&v6, res->ai_addr, sizeof v6);
        memcpy(bytes, &v6.sin6_addr, 16);
        *scope = v6.sin6_scope_id;
    }
    freeaddrinfo(res);
    return 1;
}

/* format into every buffer size up to the full one: each a prefix. */
static void check_format(const corio_addr *a)
{
    char full[256], part[256];
    memset(full, 0x5a, sizeof full);
    int n = corio_addr_format(a, full, sizeof full);
    CHECK(n >= 0 && (size_t)n < sizeof full && full[n] == '\0' &&
              strlen(full) == (size_t)n,
          "format returned %d for \"%.*s\"", n, (int)sizeof full - 1, full);
    CHECK(corio_addr_format(a, part, 0) == 0, "format into 0 bytes");
    for (size_t cap = 1; cap <= (size_t)n + 1; cap++) {
        memset(part, 0x5a, sizeof part);
        int m = corio_addr_format(a, part, cap);
        size_t want = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
        CHECK(m == (int)want && part[m] == '\0' && memcmp(part, full, want) == 0,
              "format into %zu bytes: %d \"%s\" (full \"%s\")", cap, m, part,
              full);
        CHECK(part[cap] == 0x5a, "format wrote past %zu bytes", cap);
    }
}

static void fuzz_ip(const char *text, int port)
{
    corio_addr a;
    int rc = corio_addr_ip(&a, text, port);
    if (port < 0 || port > 65535) {
        CHECK(rc == CORIO_EINVAL && a.len == 0, "port %d accepted", port);
        return;
    }

    unsigned char want[16], got4[4];
    uint32_t scope = 0;
    int family = 0;
    if (dotted_quad(text, want)) {
        family = AF_INET;
        CHECK(numeric(text, AF_INET, got4, &scope) && !memcmp(got4, want, 4),
              "getaddrinfo disagrees on \"%s\"", text);
    } else {
        /* corio takes "[v6]" as well as "v6". */
        char bare[512];
        size_t n = strlen(text);
        const char *v6 = text;
        if (n >= 2 && text[0] == '[' && text[n - 1] == ']' && n - 2 < sizeof bare) {
            memcpy(bare, text + 1, n - 2);
            bare[n - 2] = '\0';
            v6 = bare;
        }
        if (!strchr(v6, '%') && numeric(v6, AF_INET6, want, &scope))
            family = AF_INET6;
    }

    if (family == 0) {
        CHECK(rc == CORIO_EINVAL && a.len == 0,
              "corio_addr_ip took \"%s\" (rc %d), the references do not",
              text, rc);
        return;
    }
    CHECK(rc == 0, "corio_addr_ip refused \"%s\" (rc %d), the references "
                   "take it", text, rc);
    CHECK(corio_addr_port(&a) == port, "port %d for %d",
          corio_addr_port(&a), port);
    if (family == AF_INET) {
        struct sockaddr_in v4;
        CHECK(a.len == (int)sizeof v4 && corio_addr_family(&a) == CORIO_AF_INET,
              "family/len of \"%s\"", text);
        memcpy(&v4, a.u.bytes, sizeof v4);
        CHECK(v4.sin_family == AF_INET && !memcmp(&v4.sin_addr, want, 4),
              "address of \"%s\"", text);
    } else {
        struct sockaddr_in6 v6;
        CHECK(a.len == (int)sizeof v6 && corio_addr_family(&a) == CORIO_AF_INET6,
              "family/len of \"%s\"", text);
        memcpy(&v6, a.u.bytes, sizeof v6);
        CHECK(v6.sin6_family == AF_INET6 && !memcmp(&v6.sin6_addr, want, 16) &&
                  v6.sin6_scope_id == 0 && v6.sin6_flowinfo == 0,
              "address of \"%s\"", text);
    }

    /* corio_resolve takes a literal without any lookup (net/dns.c), and
     * filters it by family. Only accepted literals get here, so no name
     * is ever sent to a resolver. */
    corio_addr r[2];
    int mine = family == AF_INET ? CORIO_AF_INET : CORIO_AF_INET6;
    int other = family == AF_INET ? CORIO_AF_INET6 : CORIO_AF_INET;
    CHECK(corio_resolve(text, port, 0, r, 2) == 1 && r[0].len == a.len &&
              !memcmp(r[0].u.bytes, a.u.bytes, (size_t)a.len),
          "corio_resolve of the literal \"%s\"", text);
    CHECK(corio_resolve(text, port, mine, r, 2) == 1,
          "corio_resolve of \"%s\" in its own family", text);
    CHECK(corio_resolve(text, port, other, r, 2) == CORIO_ENOTFOUND,
          "corio_resolve of \"%s\" in the other family", text);

    /* Round trip: "host:port" / "[host]:port" back into corio_addr_ip. */
    check_format(&a);
    char shown[128];
    corio_addr_format(&a, shown, sizeof shown);
    char *colon = strrchr(shown, ':');
    CHECK(colon && atoi(colon + 1) == port, "format \"%s\"", shown);
    *colon = '\0';
    corio_addr b;
    CHECK(corio_addr_ip(&b, shown, port) == 0 && b.len == a.len &&
              !memcmp(b.u.bytes, a.u.bytes, (size_t)a.len),
          "\"%s\" formatted as \"%s\" does not parse back", text, shown);
}

static void fuzz_unix(const char *path)
{
    corio_addr a;
    int rc = corio_addr_unix(&a, path);
    size_t n = strlen(path);
    struct sockaddr_un un;
    if (n == 0 || n >= sizeof un.sun_path) {
        CHECK(rc == CORIO_EINVAL && a.len == 0, "path of %zu bytes: rc %d", n,
              rc);
        return;
    }
    CHECK(rc == 0, "path of %zu bytes refused: %d", n, rc);
    CHECK(corio_addr_family(&a) == CORIO_AF_UNIX && corio_addr_port(&a) == -1,
          "family/port of a unix address");
    check_format(&a);
    char shown[256];
    corio_addr_format(&a, shown, sizeof shown);
    CHECK(!strncmp(shown, "unix:", 5) && !strcmp(shown + 5, path),
          "\"%s\" formatted as \"%s\"", path, shown);
}

static void fuzz_raw(const uint8_t *d, size_t size)
{
    corio_addr a;
    memset(&a, 0, sizeof a);
    a.len = size ? (int)d[0] % 140 - 2 : 0;
    if (size) d++, size--;
    memcpy(a.u.bytes, d, size < sizeof a.u.bytes ? size : sizeof a.u.bytes);
    int fam = corio_addr_family(&a);
    (void)corio_addr_port(&a);
    CHECK(fam == CORIO_AF_INET || fam == CORIO_AF_INET6 ||
              fam == CORIO_AF_UNIX || fam == CORIO_ENOTSUP || fam == CORIO_EINVAL,
          "family %d", fam);
    check_format(&a);
    if (fam == CORIO_AF_UNIX) {
        /* The path shown comes from sun_path and nowhere else. */
        char shown[256];
        struct sockaddr_un un;
        int n = corio_addr_format(&a, shown, sizeof shown);
        CHECK(n >= 5 && (size_t)n <= 5 + sizeof un.sun_path,
              "unix address shown in %d chars", n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = d[0] & 3, high = d[0] >> 2;
    d++, size--;
    if (mode == 2) {
        fuzz_raw(d, size);
        return 0;
    }
    int port = 80;
    if (mode == 3) { /* an IP literal with a port out of range */
        mode = 0;
        port = high & 1 ? -1 : 65536 + (int)high;
    } else if (mode == 0 && size >= 2) {
        port = d[0] | d[1] << 8;
        d += 2, size -= 2;
    }
    char text[512];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, d, n);
    text[n] = '\0';
    if (mode == 0) fuzz_ip(text, port);
    else fuzz_unix(text);
    return 0;
}
