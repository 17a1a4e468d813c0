/*
 * addr.c — corio_addr, the address box that crosses io.h without any OS
 * type, and name resolution, on both socket APIs. POSIX sockets and Winsock
 * share these structs and calls; the differences are spelled out here:
 * Winsock must be started first, Windows has no AF_UNIX here, and
 * getaddrinfo's odd failures map differently.
 */
#include "addr.h"
#include "error.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef _WIN32
#include <netdb.h>
#endif

#ifdef _WIN32
static void sockets_ready(void) { corio__iocp_wsa_init(); }
#else
static void sockets_ready(void) {}
#endif

/* corio_addr is a plain byte box so that no OS type crosses io.h. We copy
 * in and out with memcpy instead of casting the bytes to a sockaddr_in:
 * that keeps the compiler's aliasing rules happy and shows a reader that
 * the bytes are simply the kernel's own sockaddr. */

const struct sockaddr *corio__addr_sa(const corio_addr *a)
{
    return (const struct sockaddr *)(const void *)a->u.bytes;
}

void corio__addr_store(corio_addr *a, const void *sa, size_t len)
{
    if (len > sizeof a->u.bytes) len = sizeof a->u.bytes;
    memset(a, 0, sizeof *a);
    memcpy(a->u.bytes, sa, len);
    a->len = (int)len;
}

int corio__addr_load(const corio_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (!a || a->len <= 0 || a->len > (int)sizeof *ss) return CORIO_EINVAL;
    memcpy(ss, a->u.bytes, (size_t)a->len);
    return 0;
}

int corio_addr_ip(corio_addr *a, const char *ip, int port)
{
    if (!a) return CORIO_EINVAL;
    memset(a, 0, sizeof *a);
    if (!ip || port < 0 || port > 65535) return CORIO_EINVAL;
    sockets_ready(); /* inet_pton is part of Winsock on Windows */

    struct sockaddr_in v4;
    memset(&v4, 0, sizeof v4);
    if (inet_pton(AF_INET, ip, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)port);
        corio__addr_store(a, &v4, sizeof v4);
        return 0;
    }

    /* Accept "[::1]" as well as "::1", so corio_addr_format's output can
     * be fed back in. */
    char text[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(ip);
    if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') {
        if (n - 2 >= sizeof text) return CORIO_EINVAL;
        memcpy(text, ip + 1, n - 2);
        text[n - 2] = '\0';
        ip = text;
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET6, ip, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)port);
        corio__addr_store(a, &v6, sizeof v6);
        return 0;
    }
    return CORIO_EINVAL;
}

int corio_addr_unix(corio_addr *a, const char *path)
{
#if CORIO_HAVE_AF_UNIX
    if (!a) return CORIO_EINVAL;
    memset(a, 0, sizeof *a);
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    /* sun_path must hold the path and its terminating NUL. */
    if (!path || path[0] == '\0' || strlen(path) >= sizeof un.sun_path)
        return CORIO_EINVAL;
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path, path, strlen(path) + 1);
    corio__addr_store(a, &un,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                           strlen(path) + 1));
    return 0;
#else
    (void)path;
    if (a) memset(a, 0, sizeof *a);
    return CORIO_ENOTSUP; /* wine has no AF_UNIX; Windows' is undocumented
                           * for AcceptEx/ConnectEx */
#endif
}

int corio_addr_family(const corio_addr *a)
{
    struct sockaddr_storage ss;
    if (corio__addr_load(a, &ss) < 0) return CORIO_EINVAL;
    switch (ss.ss_family) {
    case AF_INET:  return CORIO_AF_INET;
    case AF_INET6: return CORIO_AF_INET6;
#if CORIO_HAVE_AF_UNIX
    case AF_UNIX:  return CORIO_AF_UNIX;
#endif
    default:       return CORIO_ENOTSUP;
    }
}

int corio_addr_port(const corio_addr *a)
{
    struct sockaddr_storage ss;
    if (corio__addr_load(a, &ss) < 0) return -1;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in v4;
        memcpy(&v4, &ss, sizeof v4);
        return ntohs(v4.sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 v6;
        memcpy(&v6, &ss, sizeof v6);
        return ntohs(v6.sin6_port);
    }
    return -1;
}

int corio_addr_format(const corio_addr *a, char *buf, size_t n)
{
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN];
    int w;

    if (!buf || n == 0) return 0;
    sockets_ready();
    if (corio__addr_load(a, &ss) < 0) {
        w = snprintf(buf, n, "(none)");
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in v4;
        memcpy(&v4, &ss, sizeof v4);
        inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
        w = snprintf(buf, n, "%s:%d", host, ntohs(v4.sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 v6;
        memcpy(&v6, &ss, sizeof v6);
        inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
        w = snprintf(buf, n, "[%s]:%d", host, ntohs(v6.sin6_port));
#if CORIO_HAVE_AF_UNIX
    } else if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un un;
        memcpy(&un, &ss, sizeof un);
        size_t plen = (size_t)a->len > offsetof(struct sockaddr_un, sun_path)
                    ? (size_t)a->len - offsetof(struct sockaddr_un, sun_path)
                    : 0;
        /* A box filled by hand may claim more than sun_path holds. */
        if (plen > sizeof un.sun_path) plen = sizeof un.sun_path;
        if (plen > 0 && un.sun_path[0] == '\0') {
            /* Linux abstract namespace: a leading NUL, shown as '@'. */
            w = snprintf(buf, n, "unix:@%.*s", (int)(plen - 1),
                         un.sun_path + 1);
        } else {
            /* An unnamed socket (a connected client) has no path. */
            w = snprintf(buf, n, "unix:%.*s", (int)plen, un.sun_path);
        }
#endif
    } else {
        w = snprintf(buf, n, "(family %d)", (int)ss.ss_family);
    }
    /* "chars written": what landed in buf, not what would have. */
    if (w < 0) { buf[0] = '\0'; return 0; }
    return (size_t)w < n ? w : (int)(n - 1);
}

/* ---------- name resolution (blocking: net/dns.c runs it on the pool) ---------- */

/* getaddrinfo's failures in corio's terms. Both APIs share the EAI_
 * names (Winsock defines them as WSA error numbers); what else can come
 * back differs. "Temporary failure" (EAI_AGAIN) is what a name under a TLD
 * that cannot exist gets from a resolver with no reachable DNS server: it
 * found nothing too. */
static int resolve_error(int e)
{
    switch (e) {
    case EAI_NONAME:
    case EAI_AGAIN:
    case EAI_FAIL:
#ifdef _WIN32
    case WSANO_DATA:
#else
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
#endif
        return CORIO_ENOTFOUND;
    case EAI_MEMORY: return CORIO_ENOMEM;
    case EAI_FAMILY:
    case EAI_SERVICE:
    case EAI_BADFLAGS: return CORIO_EINVAL;
#ifdef _WIN32
    default:           return corio__error_from_win((unsigned long)e);
#else
#ifdef EAI_SYSTEM
    case EAI_SYSTEM: { /* errno says which; if it says nothing, still a failure */
        int rc = corio__error_from_errno(errno);
        return rc < 0 ? rc : CORIO_EIO;
    }
#endif
    default:           return CORIO_EIO;
#endif
    }
}

int corio__io_resolve_blocking(const char *host, int port, int family,
                              corio_addr *out, size_t max)
{
    if (!host || !out || max == 0 || port < 0 || port > 65535)
        return CORIO_EINVAL;
    sockets_ready(); /* getaddrinfo is part of Winsock on Windows */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    switch (family) {
    case 0:              hints.ai_family = AF_UNSPEC; break;
    case CORIO_AF_INET:  hints.ai_family = AF_INET; break;
    case CORIO_AF_INET6: hints.ai_family = AF_INET6; break;
    default: return CORIO_EINVAL;
    }
    /* One socket type, or every address comes back once per type. */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof service, "%d", port);

    int e = getaddrinfo(host, service, &hints, &res);
    if (e != 0) return resolve_error(e);
    size_t n = 0;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        corio__addr_store(&out[n++], ai->ai_addr, (size_t)ai->ai_addrlen);
    }
    freeaddrinfo(res);
    return n > 0 ? (int)n : CORIO_ENOTFOUND;
}
