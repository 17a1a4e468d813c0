/*
 * stats.c — corio_loop_get_stats: what a loop holds right now.
 *
 * Everything here is read from the loop's own bookkeeping; nothing on a
 * hot path counts for it. The descriptor count walks netpoll's table,
 * which is fine for a call made once a second, not once a message.
 *
 * The struct is versioned by its size (corio.h): a caller compiled with
 * an older, shorter struct gets the fields it knows and nothing written
 * beyond them.
 */
#include "sched.h"
#include "poller/netpoll.h"

#include <stddef.h>
#include <string.h>

int corio_loop_get_stats(corio_loop *loop, corio_loop_stats *out)
{
    if (!out || out->size < offsetof(corio_loop_stats, tasks_alive) + sizeof(size_t))
        return CORIO_EINVAL;
    corio_loop *l = loop ? loop : corio__tls_loop;
    if (!l) return CORIO_ENOLOOP;

    corio_loop_stats st;
    memset(&st, 0, sizeof st);
    st.size = out->size < sizeof st ? out->size : sizeof st;
    st.tasks_alive = l->alive;

    size_t pooled = 0, slab_stacks = 0;
    if (l->stacks) corio__stack_pool_counts(l->stacks, &pooled, &slab_stacks);
    /* A guarded stack is mapped while a task runs on it and while it waits
     * in the pool; a finished task's stack (the zombie's) until the next
     * switch returns it. Dense stacks stay mapped in their slabs. */
    size_t in_use = l->alive + (l->zombie && l->zombie->stack ? 1 : 0);
    st.stacks_pooled = pooled;
    st.stacks_mapped = slab_stacks ? slab_stacks : in_use + pooled;
    st.timers_armed = l->timers.len;
    st.fds_registered = l->netpoll ? corio__netpoll_registered(l->netpoll) : 0;

    /* Copy what the caller's struct has room for; zero the rest of it. */
    size_t keep = st.size;
    memcpy(out, &st, keep);
    return 0;
}
