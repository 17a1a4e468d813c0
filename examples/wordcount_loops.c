/*
 * wordcount_loops.c — chapter 6's map/reduce word count again, on a loop
 * group instead of the thread pool: one loop per core, a map task on each,
 * the reduce on loop 0.
 *
 *   make examples && build/examples/wordcount_loops [megabytes [loops]]
 *
 *   loop 0 (main)                                 loop i
 *   -------------                                 ------
 *   cut the text into chunks
 *   corio_spawn_on(loop i, map_chunk, chunk i) ─> map_chunk: count it
 *   corio_join each (parks on loop 0) <────────── returns its table
 *   reduce the tables, here
 *
 * The other mains return at once; their loops serve the map tasks loop 0
 * starts on them. A chunk is read by its own loop only, a table is built
 * by one loop and handed over by the join, which orders everything the
 * map task did before what loop 0 does with its result: nothing is locked.
 * (The pool version, examples/wordcount.c, runs the same map on worker
 * threads; a loop group is the choice when the map itself does I/O.)
 *
 * It checks the result against one thread's count and prints both times.
 */
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
    void *unused;     /* (the pool version's pool) */
} chunk;

/* Count the words of one chunk: a task on the chunk's loop. It touches
 * only its chunk (read-only) and the table it returns. */
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

/* ------------------------------------------------------------------ */
/* The program                                                         */
/* ------------------------------------------------------------------ */

typedef struct job {
    const char *text;
    size_t len;
    table *result;
    int rc;
} job;

static void *main_task(void *arg)
{
    job *j = arg;
    if (corio_loop_index() != 0) return NULL; /* serve loop 0's map tasks */
    size_t n = corio_loop_count();
    chunk *chunks = calloc(n, sizeof *chunks);
    corio_task **maps = calloc(n, sizeof *maps);
    if (!chunks || !maps) {
        j->rc = CORIO_ENOMEM;
        goto done;
    }
    /* Map: chunk k on loop k, all at once. */
    size_t start = 0;
    for (size_t k = 0; k < n; k++) {
        size_t end = k + 1 == n ? j->len : j->len / n * (k + 1);
        while (end < j->len && j->text[end] != ' ' && j->text[end] != '\n') end++;
        chunks[k] = (chunk){ j->text + start, end - start, NULL };
        start = end;
        maps[k] = corio_spawn_on(corio_loop_at((unsigned)k), map_chunk, &chunks[k], NULL);
        if (!maps[k]) j->rc = CORIO_ENOMEM;
    }
    /* Reduce, here, as each map finishes (in order). */
    j->result = table_new(1 << 14);
    if (!j->result) j->rc = CORIO_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        void *t = NULL;
        if (!maps[k]) continue;
        int rc = corio_join(maps[k], &t);
        if (rc != 0 || !t) j->rc = rc ? rc : CORIO_ENOMEM;
        if (j->rc == 0 && reduce_into(j->result, t) != 0) j->rc = CORIO_ENOMEM;
        table_free(t);
    }
done:
    free(chunks);
    free(maps);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 8;
    if (mb == 0 || mb > 1024) mb = 8;
    unsigned loops = argc > 2 ? (unsigned)atoi(argv[2]) : 0; /* 0: per core */
    size_t len;
    char *text = make_text(mb << 20, &len);
    if (!text) return 1;

    int64_t single = INT64_MAX;
    table *reference = NULL;
    for (int run = 0; run < 3; run++) {
        chunk all = { text, len, NULL };
        int64_t t0 = corio_now();
        table *t = map_chunk(&all);
        int64_t dt = corio_now() - t0;
        if (!t) return 1;
        if (dt < single) single = dt;
        table_free(reference);
        reference = t;
    }

    int64_t grouped = INT64_MAX;
    int same = 1;
    for (int run = 0; run < 3; run++) {
        job j = { text, len, NULL, 0 };
        int64_t t0 = corio_now();
        int rc = corio_run_loops(loops, main_task, &j, NULL);
        int64_t dt = corio_now() - t0;
        if (rc != 0 || j.rc != 0 || !j.result) {
            fprintf(stderr, "wordcount_loops: %s\n",
                    corio_strerror(rc ? rc : j.rc ? j.rc : CORIO_ENOMEM));
            return 1;
        }
        if (dt < grouped) grouped = dt;
        if (!tables_equal(reference, j.result)) same = 0;
        table_free(j.result);
    }

    printf("text_bytes=%zu\n", len);
    printf("words=%llu\n", (unsigned long long)reference->total);
    printf("loops=%u\n", loops ? loops : corio_loops_default());
    printf("one_thread_ms=%.1f\n", (double)single / 1e6);
    printf("loops_ms=%.1f (loops started and closed included)\n", (double)grouped / 1e6);
    printf("speedup=%.2f\n", (double)single / (double)grouped);
    printf("counts_match=%s\n", same ? "yes" : "NO");
    table_free(reference);
    free(text);
    return same ? 0 : 1;
}
