/*
 * addr.c — corio_addr, the address box that crosses io.h without any OS
 * type, on both socket APIs. POSIX sockets and Winsock share these structs
 * and calls; the two differences are spelled out here: Winsock must be
 * started before inet_pton/inet_ntop, and Windows has no AF_UNIX here.
 */
#include "addr.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
static void sockets_ready(void) { corio_iocp_wsa_init(); }
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
