/*
 * wordcount_common.h — what the two chapter-6 word counts share: a word ->
 * count hash table, the map (count one chunk) and the reduce (fold tables),
 * and a deterministic text to count. examples/wordcount.c runs the map on
 * the thread pool, examples/wordcount_loops.c on a loop group; everything
 * else is this file, so the two programs differ only where the runtime does.
 */
#ifndef WORDCOUNT_COMMON_H
#define WORDCOUNT_COMMON_H

#include "corio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* A word -> count hash table (open addressing, keys point into the    */
/* text, so nothing is copied)                                         */
/* ------------------------------------------------------------------ */

typedef struct entry {
    const char *word; /* NULL = empty slot */
    uint32_t len;
    uint32_t hash;
    uint64_t count;
} entry;

typedef struct table {
    entry *slots;
    size_t cap, used;
    uint64_t total; /* words counted */
} table;

static uint32_t hash_word(const char *w, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h;
}

static table *table_new(size_t cap)
{
    table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = cap;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

static void table_free(void *p)
{
    table *t = p;
    if (!t) return;
    free(t->slots);
    free(t);
}

static entry *table_find(table *t, const char *w, uint32_t len, uint32_t h)
{
    size_t i = h & (t->cap - 1);
    for (;;) {
        entry *e = &t->slots[i];
        if (!e->word ||
            (e->hash == h && e->len == len && memcmp(e->word, w, len) == 0))
            return e;
        i = (i + 1) & (t->cap - 1);
    }
}

static int table_grow(table *t)
{
    table bigger = { calloc(t->cap * 2, sizeof(entry)), t->cap * 2, 0, 0 };
    if (!bigger.slots) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        entry *e = &t->slots[i];
        if (e->word) *table_find(&bigger, e->word, e->len, e->hash) = *e;
    }
    free(t->slots);
    t->slots = bigger.slots;
    t->cap = bigger.cap;
    return 0;
}

static int table_add(table *t, const char *w, uint32_t len, uint32_t h,
                     uint64_t n)
{
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(t) != 0) return -1;
    entry *e = table_find(t, w, len, h);
    if (!e->word) {
        e->word = w;
        e->len = len;
        e->hash = h;
        t->used++;
    }
    e->count += n;
    t->total += n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Map and reduce                                                      */
/* ------------------------------------------------------------------ */

typedef struct chunk {
    const char *p;
    size_t len;
    corio_pool *pool; /* wordcount.c: the pool that counts it (unused on loops) */
} chunk;

/* Count the words of one chunk: on a pool worker (wordcount.c) or as a
 * task on the chunk's loop (wordcount_loops.c). It touches only its chunk
 * (read-only) and the table it returns, so no lock is needed. */
static void *map_chunk(void *arg)
{
    const chunk *c = arg;
    table *t = table_new(1024);
    if (!t) return NULL;
    size_t i = 0;
    while (i < c->len) {
        while (i < c->len && (c->p[i] == ' ' || c->p[i] == '\n')) i++;
        size_t start = i;
        while (i < c->len && c->p[i] != ' ' && c->p[i] != '\n') i++;
        if (i > start) {
            uint32_t len = (uint32_t)(i - start);
            if (table_add(t, c->p + start, len, hash_word(c->p + start, len),
                          1) != 0) {
                table_free(t);
                return NULL;
            }
        }
    }
    return t;
}

/* Fold table `from` into `into`. */
static int reduce_into(table *into, const table *from)
{
    for (size_t i = 0; i < from->cap; i++) {
        const entry *e = &from->slots[i];
        if (e->word && table_add(into, e->word, e->len, e->hash, e->count) != 0)
            return -1;
    }
    return 0;
}

static int tables_equal(table *a, table *b)
{
    if (a->used != b->used || a->total != b->total) return 0;
    for (size_t i = 0; i < a->cap; i++) {
        const entry *e = &a->slots[i];
        if (!e->word) continue;
        const entry *f = table_find(b, e->word, e->len, e->hash);
        if (!f->word || f->count != e->count) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* The text                                                            */
/* ------------------------------------------------------------------ */

#define VOCABULARY 5000

static uint64_t rng = 0x2545F4914F6CDD1Dull; /* fixed seed */

static uint32_t next_random(void)
{
    /* xorshift64*: fast, and the same sequence everywhere */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}

/* `bytes` of text: words from a made-up vocabulary, frequent ones far more
 * frequent than rare ones (roughly as in real text), a newline every few
 * words. */
static char *make_text(size_t bytes, size_t *len)
{
    static char vocab[VOCABULARY][12];
    for (int w = 0; w < VOCABULARY; w++) {
        int n = 2 + (int)(next_random() % 9);
        for (int i = 0; i < n; i++) vocab[w][i] = (char)('a' + next_random() % 26);
        vocab[w][n] = '\0';
    }
    char *text = malloc(bytes + 16);
    if (!text) return NULL;
    size_t n = 0;
    unsigned on_line = 0;
    while (n < bytes) {
        /* the product of two uniform draws favours small indices */
        uint32_t a = next_random() % VOCABULARY, b = next_random() % VOCABULARY;
        const char *w = vocab[(uint64_t)a * b / VOCABULARY];
        size_t wl = strlen(w);
        if (n + wl + 1 > bytes) break;
        memcpy(text + n, w, wl);
        n += wl;
        text[n++] = ++on_line % 12 ? ' ' : '\n';
    }
    *len = n;
    return text;
}


/* The reference: the whole text counted on this one thread, best of 3
 * runs (to smooth the noise of a shared machine); its time in *best_ns. */
static table *count_on_one_thread(const char *text, size_t len,
                                  int64_t *best_ns)
{
    *best_ns = INT64_MAX;
    table *reference = NULL;
    for (int run = 0; run < 3; run++) {
        chunk all = { text, len, NULL };
        int64_t t0 = corio_now();
        table *t = map_chunk(&all);
        int64_t dt = corio_now() - t0;
        if (!t) {
            table_free(reference);
            return NULL;
        }
        if (dt < *best_ns) *best_ns = dt;
        table_free(reference);
        reference = t;
    }
    return reference;
}

#endif
