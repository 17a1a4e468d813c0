/*
 * fdtable.c — the table of per-descriptor slots, grown on demand.
 */
#include "fdtable.h"
#include "coro/alloc.h"

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
        corio_fdslot *v = corio__realloc(t->v, len * sizeof *v);
        if (!v) return NULL;
        memset(v + t->len, 0, (len - t->len) * sizeof *v);
        t->v = v;
        t->len = len;
    }
    return &t->v[idx];
}

void corio__fdtable_free(corio_fdtable *t)
{
    corio__free(t->v);
    t->v = NULL;
    t->len = 0;
}
