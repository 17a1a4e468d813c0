/*
 * locals.c — task-local values, asyncio's contextvars.
 *
 * Each key gets a small integer slot the first time it is used; each task
 * holds an array indexed by slot. A child copies its parent's array at
 * spawn, which is what "inherited by child tasks" means: a snapshot.
 */
#include "park.h"
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct locals {
    size_t n;         /* slots allocated */
    void **val;
    unsigned char *set;
} locals;

static atomic_int next_slot; /* shared by all threads: keys are global */

static int slot_of(corio_local *key)
{
    int s = __atomic_load_n(&key->slot_, __ATOMIC_ACQUIRE);
    if (s) return s;
    int mine = atomic_fetch_add(&next_slot, 1) + 1;
    int expected = 0;
    if (__atomic_compare_exchange_n(&key->slot_, &expected, mine, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    return expected; /* another thread named it first */
}

static int grow(locals *ls, size_t need)
{
    if (need <= ls->n) return 0;
    size_t n = ls->n ? ls->n : 8;
    while (n < need) n *= 2;
    void **v = corio__realloc(ls->val, n * sizeof *v);
    if (!v) return CORIO_ENOMEM;
    ls->val = v;
    unsigned char *set = corio__realloc(ls->set, n);
    if (!set) return CORIO_ENOMEM;
    memset(set + ls->n, 0, n - ls->n);
    ls->set = set;
    ls->n = n;
    return 0;
}

void *corio_local_get(corio_local *key)
{
    corio_task *self = corio__self();
    locals *ls = self ? self->locals : NULL;
    int s = slot_of(key);
    if (ls && (size_t)s < ls->n && ls->set[s]) return ls->val[s];
    return key->initial;
}

int corio_local_set(corio_local *key, void *value)
{
    corio_task *self = corio__self();
    if (!self) return CORIO_ENOLOOP;
    locals *ls = self->locals;
    if (!ls && !(ls = self->locals = corio__calloc(1, sizeof *ls))) return CORIO_ENOMEM;
    int s = slot_of(key);
    if (grow(ls, (size_t)s + 1) != 0) return CORIO_ENOMEM;
    ls->val[s] = value;
    ls->set[s] = 1;
    return 0;
}

void corio__locals_inherit(corio_task *child, const corio_task *parent)
{
    const locals *p = parent->locals;
    locals *c = corio__calloc(1, sizeof *c);
    if (!c) return; /* the child then starts with initial values */
    if (grow(c, p->n) != 0) {
        corio__free(c->val);
        corio__free(c->set);
        corio__free(c);
        return;
    }
    memcpy(c->val, p->val, p->n * sizeof *c->val);
    memcpy(c->set, p->set, p->n);
    child->locals = c;
}

void corio__locals_free(corio_task *t)
{
    locals *ls = t->locals;
    corio__free(ls->val);
    corio__free(ls->set);
    corio__free(ls);
    t->locals = NULL;
}
