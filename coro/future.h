/*
 * future.h — the layout of a corio_future, for flow/compose.c only.
 *
 * The compositions (gather, wait, as_completed) wait on futures the way
 * they wait on tasks: a waiter of the caller goes on each pending
 * future's wait queue, and the first one to be set wakes the caller. They
 * need to see `waiters`, `done` and the outcome for that, so the struct
 * lives here instead of inside future.c. Nobody else includes this file.
 */
#ifndef CORIO_FUTURE_H
#define CORIO_FUTURE_H

#include "park.h"

struct corio_future {
    corio_waitq waiters; /* parked tasks: future waits and compositions */
    void *value;
    int error;           /* 0, the set_error code, or CORIO_ECANCELED */
    int done;
};

#endif
