/*
 * error_win.c — GetLastError / WSAGetLastError -> CORIO_E*, the one place
 * on Windows that knows both numbering schemes. Winsock's WSAE* values and
 * the Win32 ERROR_* values do not overlap, and an overlapped operation
 * reports either kind, so one function takes both. Several values share a
 * code when a caller could do nothing different between them;
 * corio_last_os_error() keeps the exact one.
 */
#include "error.h"

#include <winsock2.h>
#include <windows.h>

static int code_of(DWORD err)
{
    switch (err) {
    case 0:                           return 0;
    case WSAEWOULDBLOCK:              return CORIO_EAGAIN;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_DIRECTORY:             /* a process's cwd is not a directory */
    case ERROR_INVALID_NAME:
        return CORIO_ENOTFOUND;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return CORIO_EACCES;
    case WSAECONNRESET:
    case WSAENETRESET:
    case ERROR_NETNAME_DELETED:       /* the peer reset the connection */
        return CORIO_ECONNRESET;
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
        return CORIO_ECONNABORTED;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
    case ERROR_PORT_UNREACHABLE:
        return CORIO_ECONNREFUSED;
    /* Sending after our own shutdown, or after the peer is known gone:
     * what POSIX calls EPIPE (a dead peer never raises anything here:
     * Windows has no SIGPIPE). */
    case WSAESHUTDOWN:
    case ERROR_BROKEN_PIPE:
    case ERROR_NO_DATA:
    case ERROR_GRACEFUL_DISCONNECT:
        return CORIO_EPIPE;
    case WSAEADDRINUSE:
    case ERROR_ADDRESS_ALREADY_ASSOCIATED:
        return CORIO_EADDRINUSE;
    case WSAEADDRNOTAVAIL:
        return CORIO_EADDRNOTAVAIL;
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES:
        return CORIO_EMFILE;
    case WSAENOBUFS:
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
        return CORIO_ENOMEM;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:           /* a connect the network never answered */
    case ERROR_TIMEOUT:
        return CORIO_ETIMEDOUT;
    case WSAENOTCONN:
        return CORIO_ENOTCONN;
    case WSAEHOSTUNREACH:
    case WSAENETUNREACH:
    case WSAENETDOWN:
    case WSAEHOSTDOWN:
    case ERROR_HOST_UNREACHABLE:
    case ERROR_NETWORK_UNREACHABLE:
        return CORIO_EHOSTUNREACH;
    case WSAEALREADY:
    case WSAEINPROGRESS:
    case WSAEISCONN:
        return CORIO_EALREADY;
    case WSAEAFNOSUPPORT:
    case WSAEPROTONOSUPPORT:
    case WSAESOCKTNOSUPPORT:
    case WSAENOPROTOOPT:
    case WSAEOPNOTSUPP:
    case ERROR_NOT_SUPPORTED:
        return CORIO_ENOTSUP;
    /* The handle is no longer a socket: somebody closed it. (POSIX says
     * EBADF for the same situation.) */
    case WSAENOTSOCK:
    case ERROR_INVALID_HANDLE:
        return CORIO_ECLOSED;
    case WSAEINVAL:
    case WSAEFAULT:
    case WSAEDESTADDRREQ:
    case WSAEMSGSIZE:
    case WSAENAMETOOLONG:
    case ERROR_INVALID_PARAMETER:
    case ERROR_BAD_EXE_FORMAT:        /* CreateProcess of a non-program */
    case ERROR_EXE_MACHINE_TYPE_MISMATCH:
    case ERROR_FILENAME_EXCED_RANGE:  /* command line too long */
        return CORIO_EINVAL;
    case ERROR_OPERATION_ABORTED:
        return CORIO_ECANCELED;
    default:
        return CORIO_EIO;
    }
}

int corio__error_from_win(unsigned long err)
{
    if (err != 0) corio__os_error_record((int)err);
    return code_of((DWORD)err);
}
