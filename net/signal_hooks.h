/*
 * signal_hooks.h — what tests/test_signal.c and net/server.c may see
 * inside net/signal.c.
 */
#ifndef CORIO_NET_SIGNAL_HOOKS_H
#define CORIO_NET_SIGNAL_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many (coalesced) deliveries of signum net/signal.c has been told
 * about so far. A test raises a signal, then waits until this moves, to
 * know the delivery has been handled. */
uint64_t corio__signal_deliveries(int signum);
/* Whether corio catches signum (some task has waited for it): the
 * program handles that signal through corio, and its default action
 * (SIGINT: end the process) no longer applies. */
bool corio__signal_caught(int signum);
/* How many tasks (of any loop) wait for signum right now. */
size_t corio__signal_waiters(int signum);

#endif
