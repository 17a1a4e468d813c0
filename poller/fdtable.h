/*
 * fdtable.h — per-descriptor state, shared by every backend's generic side.
 *
 * The kernel tells a backend "descriptor 7, generation 3, readable";
 * netpoll.c looks 7 up here and wakes the task parked in its reader slot.
 * Plain data: no kernel and no scheduler. Indexed by descriptor number,
 * which Unix keeps small and dense (on Windows by socket handle / 4, which
 * Windows keeps dense the same way: netpoll.c).
 */
#ifndef CORIO_FDTABLE_H
#define CORIO_FDTABLE_H

#include "corio.h"
#include <stddef.h>
#include <stdint.h>

typedef struct corio_fdslot {
    struct corio_task *waiter[2]; /* [CORIO_DIR_READ], [CORIO_DIR_WRITE] */
    uint32_t gen;          /* bumped on detach: older events are stale */
    uint8_t attached;      /* registered with the kernel */
    uint8_t tcp;           /* a TCP socket: may get the drained hint below */
    uint8_t drained;       /* its last recv was short, no read edge since */
    uint8_t eof;           /* the kernel reported end of stream, hang-up or
                            * an error: never drained again (see below) */
} corio_fdslot;

typedef struct corio_fdtable {
    corio_fdslot *v;
    size_t len;
} corio_fdtable;

/* The slot of idx, growing the table; NULL if out of memory. */
corio_fdslot *corio__fdtable_get(corio_fdtable *t, size_t idx);
/* The slot of idx, or NULL if the table never grew that far. */
corio_fdslot *corio__fdtable_find(corio_fdtable *t, size_t idx);
/*
 * The drained hint (TCP sockets only). A recv on a TCP socket that
 * returns fewer bytes than asked has emptied the socket's receive queue
 * (the kernel copies until the queue is empty or the buffer is full), and
 * with an edge-triggered registration the next bytes to arrive raise a
 * new read edge. Until that edge, another recv could only say EAGAIN, so
 * the I/O layer parks at once instead of spending that system call: one
 * system call saved per message of a request/response protocol. (Tokio
 * clears its readiness on a short read for the same reason.)
 * Only TCP: a short datagram says nothing about the next one, a pipe's
 * wakeups have changed between kernel versions, and a Unix stream read
 * stops early at passed credentials or descriptors.
 * End of stream breaks the rule: a short read may have taken the last
 * bytes AND the FIN behind them, whose edge came before the read, and the
 * next recv returns 0 at once with no edge to come. So once the kernel
 * has reported a hang-up (EPOLLRDHUP, EPOLLHUP, EPOLLERR, EV_EOF) the
 * hint is never set again on that descriptor (Tokio keeps "read closed"
 * apart from "readable" for the same reason). The other TCP case is
 * urgent (out-of-band) data, where a read stops at the urgent mark;
 * corio does not support it (an urgent byte waits for the peer's next
 * bytes).
 */
static inline int corio__fdtable_drained(const corio_fdtable *t, size_t idx) {
    return idx < t->len && t->v[idx].drained;
}
static inline void corio__fdtable_short_read(corio_fdtable *t, size_t idx) {
    corio_fdslot *s = idx < t->len ? &t->v[idx] : NULL;
    if (s && s->attached && s->tcp && !s->eof) s->drained = 1;
}

void corio__fdtable_free(corio_fdtable *t);

#endif
