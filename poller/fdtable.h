/*
 * fdtable.h — per-descriptor state shared by every readiness backend.
 *
 * The kernel tells a backend "descriptor 7, generation 3, readable"; this
 * table turns that into "wake the task parked in 7's reader slot". It is
 * OS-free: epoll.c and kqueue.c both keep one, indexed by descriptor
 * number (which Unix keeps small and dense).
 */
#ifndef CORIO_FDTABLE_H
#define CORIO_FDTABLE_H

#include "corio.h"
#include "poller.h"
#include <stddef.h>
#include <stdint.h>

typedef struct corio_fdslot {
    corio_task *waiter[2]; /* [CORIO_DIR_READ], [CORIO_DIR_WRITE] */
    uint32_t gen;          /* bumped on detach: older events are stale */
    uint8_t attached;      /* registered with the kernel */
} corio_fdslot;

typedef struct corio_fdtable {
    corio_fdslot *v;
    size_t len;
} corio_fdtable;

/* The slot of idx, growing the table; NULL if out of memory. */
corio_fdslot *corio_fdtable_get(corio_fdtable *t, size_t idx);
/* The slot of idx, or NULL if the table never grew that far. */
corio_fdslot *corio_fdtable_find(corio_fdtable *t, size_t idx);
/* Park the current task in idx's slot for direction dir. CORIO_EBUSY if
 * another task already waits there. The slot is empty again on return. */
int corio_fdtable_park(corio_fdtable *t, size_t idx, int dir, int64_t deadline);
/* A kernel event: wake the parked reader and/or writer if gen is current.
 * Returns how many tasks were woken. */
int corio_fdtable_ready(corio_fdtable *t, size_t idx, uint32_t gen, int rd, int wr);
/* The readiness backends' corio_poller_wait_fd: register fd with the
 * kernel on first use (the backend's attach), then park in its slot. */
typedef int (*corio_fd_attach_fn)(corio_poller *p, int fd, corio_fdslot *s);
typedef void (*corio_fd_unregister_fn)(corio_poller *p, int fd);
int corio_fdtable_wait(corio_fdtable *t, corio_poller *p, int fd, int dir,
                       int64_t deadline, corio_fd_attach_fn attach);
/* ...and corio_poller_detach: drop the kernel registration, then forget
 * the slot (waiters get CORIO_ECLOSED). CORIO_EINVAL if never attached. */
int corio_fdtable_detach(corio_fdtable *t, corio_poller *p, int fd,
                         corio_fd_unregister_fn unregister);
/* Detach: new generation, not attached, parked tasks get CORIO_ECLOSED. */
void corio_fdtable_forget(corio_fdtable *t, size_t idx);
void corio_fdtable_free(corio_fdtable *t);

#endif
