/*
 * error.h — operating-system errors in corio's terms (coro/error.c,
 * error_posix.c, error_win.c).
 *
 * Every OS error the library reports goes through exactly one of the two
 * mappers below: errno values on POSIX, GetLastError / WSAGetLastError
 * values on Windows. Each returns the CORIO_E* code for the value and
 * records the value itself for corio_last_os_error() on the calling
 * thread, so the code and its cause are never separated.
 */
#ifndef CORIO_ERROR_H
#define CORIO_ERROR_H

#include "corio.h"

#ifdef _WIN32
/* A GetLastError() or WSAGetLastError() value (DWORD): 0 gives 0. */
int corio__error_from_win(unsigned long err);
#else
/* An errno value: 0 gives 0. */
int corio__error_from_errno(int err);
#endif

/* Record raw as the calling thread's corio_last_os_error() (the mappers
 * call it; so does code that hands an OS error over from another
 * thread). */
void corio__os_error_record(int raw);

#endif
