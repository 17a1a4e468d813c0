/*
 * fdtable.c — reader/writer slots and generations, per descriptor.
 */
#include "fdtable.h"
#include "poller.h"
#include "coro/park.h"

#include <stdlib.h>
#include <string.h>

corio_fdslot *corio__fdtable_find(corio_fdtable *t, size_t idx)
{
    return idx < t->len ? &t->v[idx] : NULL;
}

corio_fdslot *corio__fdtable_get(corio_fdtable *t, size_t idx)
{
    if (idx >= (size_t)INT32_MAX) return NULL;
    if (idx >= t->len) {
        size_t len = t->len ? t->len : 64;
        while (len <= idx) len *= 2;
        corio_fdslot *v = realloc(t->v, len * sizeof *v);
        if (!v) return NULL;
        memset(v + t->len, 0, (len - t->len) * sizeof *v);
        t->v = v;
        t->len = len;
    }
    return &t->v[idx];
}

int corio__fdtable_park(corio_fdtable *t, size_t idx, int dir, int64_t deadline)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    corio_fdslot *s = corio__fdtable_find(t, idx);
    if (!s) return CORIO_EINVAL;
    if (s->waiter[dir]) return CORIO_EBUSY;
    s->waiter[dir] = self;
    int rc = corio__park_on(deadline, dir == CORIO_DIR_READ ? "readable" : "writable");
    /* The table may have grown (moved) while we were parked: look again.
     * Whoever woke us by an event or a detach already emptied the slot. */
    s = corio__fdtable_find(t, idx);
    if (s && s->waiter[dir] == self) s->waiter[dir] = NULL;
    return rc;
}

/* Empty the slot and wake its task, unless its deadline or a cancel woke
 * it already (it then retries or gives up on its own). */
static int wake(corio_fdslot *s, int dir, int status)
{
    corio_task *w = s->waiter[dir];
    if (!w) return 0;
    s->waiter[dir] = NULL;
    return corio__unpark_if_waiting(w, status);
}

int corio__fdtable_ready(corio_fdtable *t, size_t idx, uint32_t gen, int rd, int wr,
                        int eof)
{
    corio_fdslot *s = corio__fdtable_find(t, idx);
    if (!s || s->gen != gen) return 0; /* stale: detached since */
    if (rd) s->drained = 0;             /* new bytes, or end of stream */
    if (eof) s->eof = 1;
    int n = 0;
    if (rd) n += wake(s, CORIO_DIR_READ, 0);
    if (wr) n += wake(s, CORIO_DIR_WRITE, 0);
    return n;
}

void corio__fdtable_forget(corio_fdtable *t, size_t idx)
{
    corio_fdslot *s = corio__fdtable_find(t, idx);
    if (!s) return;
    s->gen++;
    s->attached = 0;
    s->drained = 0;
    s->eof = 0;
    wake(s, CORIO_DIR_READ, CORIO_ECLOSED);
    wake(s, CORIO_DIR_WRITE, CORIO_ECLOSED);
}

int corio__fdtable_wait(corio_fdtable *t, corio_poller *p, int fd, int dir,
                       int64_t deadline, corio_fd_attach_fn attach)
{
    if (fd < 0) return CORIO_EINVAL;
    corio_fdslot *s = corio__fdtable_get(t, (size_t)fd);
    if (!s) return CORIO_ENOMEM;
    if (!s->attached) {
        int rc = attach(p, fd, s);
        if (rc) return rc;
        s->tcp = (uint8_t)corio__fd_is_tcp_socket(fd);
        s->drained = 0;
        s->eof = 0;
    }
    return corio__fdtable_park(t, (size_t)fd, dir, deadline);
}

int corio__fdtable_detach(corio_fdtable *t, corio_poller *p, int fd,
                         corio_fd_unregister_fn unregister)
{
    corio_fdslot *s = fd < 0 ? NULL : corio__fdtable_find(t, (size_t)fd);
    if (!s || !s->attached) return CORIO_EINVAL;
    unregister(p, fd);
    corio__fdtable_forget(t, (size_t)fd);
    return 0;
}

void corio__fdtable_free(corio_fdtable *t)
{
    free(t->v);
    t->v = NULL;
    t->len = 0;
}
