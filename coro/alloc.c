/*
 * alloc.c — the allocator corio takes its heap memory from: the C
 * library's by default, the program's after corio_replace_allocator
 * (libuv's uv_replace_allocator). This is the one file of the library
 * that names malloc, calloc, realloc and free (tests/check_alloc.sh).
 *
 * When it may be replaced: before any loop is created, or once every loop
 * is closed. A block taken from one allocator and given back to another
 * would corrupt both, and a loop is what owns corio's blocks: while one
 * exists the call is refused (CORIO_EBUSY). Closing a loop gives back
 * everything it took (tests/test_allocator.c checks the balance). One
 * exception the count cannot see: a DNS lookup abandoned by its task may
 * still be running getaddrinfo on a worker thread after its loop closed,
 * and frees its record when it returns; replace the allocator at start-up
 * and that cannot happen.
 *
 * The four functions are read with relaxed atomics: a plain load on every
 * machine corio runs on, and no data race for a thread (a pool worker)
 * that allocates while another thread replaces them, which the rule above
 * forbids anyway.
 */
#include "alloc.h"
#include "corio.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(corio_malloc_func) use_malloc = malloc;
static _Atomic(corio_realloc_func) use_realloc = realloc;
static _Atomic(corio_calloc_func) use_calloc = calloc;
static _Atomic(corio_free_func) use_free = free;
static atomic_long loops_open;

#define GET(f) atomic_load_explicit(&(f), memory_order_relaxed)

int corio_replace_allocator(corio_malloc_func m, corio_realloc_func r,
                            corio_calloc_func c, corio_free_func f)
{
    if (!m || !r || !c || !f) return CORIO_EINVAL;
    if (atomic_load(&loops_open) != 0) return CORIO_EBUSY;
    atomic_store(&use_malloc, m);
    atomic_store(&use_realloc, r);
    atomic_store(&use_calloc, c);
    atomic_store(&use_free, f);
    return 0;
}

void corio__alloc_loop_opened(void) { atomic_fetch_add(&loops_open, 1); }
void corio__alloc_loop_closed(void) { atomic_fetch_sub(&loops_open, 1); }

void *corio__malloc(size_t size) { return GET(use_malloc)(size); }
void *corio__calloc(size_t count, size_t size) { return GET(use_calloc)(count, size); }
void *corio__realloc(void *ptr, size_t size) { return GET(use_realloc)(ptr, size); }

void corio__free(void *ptr)
{
    if (!ptr) return; /* the program's free need not accept NULL */
    /* Error paths free before they report errno (libuv keeps it too). */
    int saved = errno;
    GET(use_free)(ptr);
    errno = saved;
}

char *corio__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = corio__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
