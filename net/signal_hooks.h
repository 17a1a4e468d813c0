/*
 * signal_hooks.h — what tests/test_signal.c may see inside net/signal.c.
 */
#ifndef CORIO_NET_SIGNAL_HOOKS_H
#define CORIO_NET_SIGNAL_HOOKS_H

#include <stddef.h>
#include <stdint.h>

/* How many (coalesced) deliveries of signum net/signal.c has been told
 * about so far. A test raises a signal, then waits until this moves, to
 * know the delivery has been handled. */
uint64_t corio__signal_deliveries(int signum);
/* How many tasks (of any loop) wait for signum right now. */
size_t corio__signal_waiters(int signum);

#endif
