/*
 * error.c — one error convention for the whole library: negative CORIO_E*
 * codes, the same numbers on every platform, and their descriptions.
 */
#include "corio.h"

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
    case CORIO_ENOTFOUND: return "name not found";
    case CORIO_ENOTCONN: return "not connected";
    case CORIO_EHOSTUNREACH: return "host unreachable";
    case CORIO_EIO: return "input/output error";
    }
    return "unknown corio error";
}
