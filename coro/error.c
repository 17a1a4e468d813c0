/*
 * error.c — one error convention for the whole library: negative CORIO_E*
 * codes, the same numbers on every platform, and their descriptions.
 */
#include "os/error.h"

/* The raw errno / GetLastError value behind the latest OS failure this
 * thread mapped (os/error_posix.c, os/error_win.c). Per thread, as errno
 * is: tasks of one loop share it, so a task reads it right after the call
 * that failed, before it blocks again. */
static _Thread_local int last_os_error;

void corio__os_error_record(int raw)
{
    last_os_error = raw;
}

int corio_last_os_error(void)
{
    return last_os_error;
}

const char *corio_strerror(int err)
{
    switch (err) {
    case CORIO_OK: return "success";
    case CORIO_ECANCELED: return "the task was cancelled";
    case CORIO_ETIMEDOUT: return "the deadline passed";
    case CORIO_ENOMEM: return "out of memory";
    case CORIO_EINVAL: return "invalid argument";
    case CORIO_EALREADY: return "already done (set, joined or detached)";
    case CORIO_ENOLOOP: return "blocking call outside a corio task";
    case CORIO_ECLOSED: return "closed while waiting";
    case CORIO_EPERM: return "not the owner";
    case CORIO_EFULL: return "queue is full";
    case CORIO_EEMPTY: return "queue is empty";
    case CORIO_ESHUTDOWN: return "queue was shut down";
    case CORIO_EBROKEN: return "barrier is broken";
    case CORIO_EOVERFLOW: return "bounded semaphore released too many times";
    case CORIO_EBUSY: return "another task is already waiting on it";
    case CORIO_EOF: return "end of stream";
    case CORIO_ELIMIT: return "line or record longer than the reader's limit";
    case CORIO_EINCOMPLETE: return "stream ended before the requested bytes";
    case CORIO_ECONNRESET: return "connection reset by peer";
    case CORIO_ECONNREFUSED: return "connection refused";
    case CORIO_EPIPE: return "the peer is gone (broken pipe)";
    case CORIO_EADDRINUSE: return "address already in use";
    case CORIO_EMFILE: return "too many open descriptors";
    case CORIO_ENOTSUP: return "not supported on this platform";
    case CORIO_EAGAIN: return "would block";
    case CORIO_ENOTFOUND: return "not found (no such file, directory, program or name)";
    case CORIO_ENOTCONN: return "not connected";
    case CORIO_EHOSTUNREACH: return "host unreachable";
    case CORIO_EIO: return "operating-system error (corio_last_os_error() tells which)";
    case CORIO_EADDRNOTAVAIL: return "address not available on this machine";
    case CORIO_ECONNABORTED: return "connection aborted";
    case CORIO_EACCES: return "permission denied";
    }
    return "unknown corio error";
}
