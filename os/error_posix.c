/*
 * error_posix.c — errno -> CORIO_E*, the one place on POSIX that knows
 * both numbering schemes. Several errno values share a code when a caller
 * could do nothing different between them; corio_last_os_error() keeps
 * the exact one.
 */
#include "error.h"

#include <errno.h>

static int code_of(int e)
{
    switch (e) {
    case 0:            return 0;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return CORIO_EAGAIN;
    case ENOENT:       /* a path, a program, a Unix socket's directory */
    case ENOTDIR:
    case ELOOP:        return CORIO_ENOTFOUND;
    case EACCES:
    case EPERM:        return CORIO_EACCES;
    case ECONNRESET:   return CORIO_ECONNRESET;
    case ECONNABORTED: return CORIO_ECONNABORTED;
    case ECONNREFUSED: return CORIO_ECONNREFUSED;
    case EPIPE:        return CORIO_EPIPE;
    case EADDRINUSE:   return CORIO_EADDRINUSE;
    /* A bind to an address this host does not own, or an ephemeral port
     * range that is used up. */
    case EADDRNOTAVAIL: return CORIO_EADDRNOTAVAIL;
    case EMFILE:       /* this process's descriptor table */
    case ENFILE:       return CORIO_EMFILE; /* the system's */
    case ENOMEM:
    case ENOBUFS:      return CORIO_ENOMEM;
    case ETIMEDOUT:    return CORIO_ETIMEDOUT;
    case ENOTCONN:     return CORIO_ENOTCONN;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:    return CORIO_EHOSTUNREACH;
    case EALREADY:
    case EINPROGRESS:
    case EISCONN:      return CORIO_EALREADY;
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
    case ESOCKTNOSUPPORT:
    case ENOPROTOOPT:
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
    case ENOTSUP:
#endif
    case EOPNOTSUPP:   return CORIO_ENOTSUP;
    /* The descriptor number is no longer open: someone closed it. */
    case EBADF:        return CORIO_ECLOSED;
    case ETXTBSY:      return CORIO_EBUSY; /* exec of a file open for writing */
    case EINVAL:
    case ENOTSOCK:
    case EFAULT:
    case EDESTADDRREQ:
    case EMSGSIZE:
    case ENAMETOOLONG:
    case ENOEXEC:      /* not a binary, and no #! line: no shell fallback */
    case E2BIG:        return CORIO_EINVAL;
    case ECANCELED:    return CORIO_ECANCELED;
    default:           return CORIO_EIO;
    }
}

int corio__error_from_errno(int err)
{
    if (err != 0) corio__os_error_record(err);
    return code_of(err);
}
