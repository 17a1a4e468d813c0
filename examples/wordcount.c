/*
 * wordcount.c — map/reduce word counting across the thread pool, the idea
 * of chapter 6 of "Python Concurrency with asyncio" in C.
 *
 *   1. Generate a deterministic text of several MB (a fixed seed: the same
 *      words on every run and every machine).
 *   2. Count every word's occurrences on ONE thread: the reference.
 *   3. Cut the text into chunks (on word boundaries) and count each chunk
 *      on a worker thread of a corio_pool with one worker per core (map);
 *      each chunk's counting is awaited by its own task:
 *
 *          main task ── gather_calls ──> task k ── run_in_executor ──> worker
 *                                        (parks)        map_chunk(chunk k)
 *
 *      then merge the per-chunk tables in the main task (reduce).
 *   4. Check that both counts are identical, print both times and the
 *      speedup. The exit status is 0 only if the counts match.
 *
 * The word counting is plain CPU work, so the pool has as many workers as
 * cores (Python would use a ProcessPoolExecutor here; C threads have no
 * GIL, so threads are enough).
 *
 *   make examples && build/examples/wordcount [megabytes]
 */
#include "corio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordcount_common.h"

/* ------------------------------------------------------------------ */
/* The program                                                         */
/* ------------------------------------------------------------------ */

typedef struct job {
    const char *text;
    size_t len;
    size_t nchunks;
    corio_pool *pool;
    table *result;
    int rc;
} job;

/* One task per chunk: it parks while a worker counts its chunk. If the
 * task were cancelled meanwhile, the table would still be built, and
 * table_free would free it when it arrives. */
static void *count_chunk_in_pool(void *arg)
{
    chunk *c = arg;
    void *t = NULL;
    int rc = corio_run_in_executor(c->pool, map_chunk, c, &t, table_free);
    if (rc != 0) return corio_fail(rc);
    return t ? t : corio_fail(CORIO_ENOMEM);
}

static void *main_task(void *arg)
{
    job *j = arg;
    /* Cut the text into chunks that end on a word boundary. */
    chunk *chunks = calloc(j->nchunks, sizeof *chunks);
    corio_call *calls = calloc(j->nchunks, sizeof *calls);
    corio_outcome *out = calloc(j->nchunks, sizeof *out);
    if (!chunks || !calls || !out) {
        j->rc = CORIO_ENOMEM;
        goto done;
    }
    size_t start = 0;
    for (size_t k = 0; k < j->nchunks; k++) {
        size_t end = k + 1 == j->nchunks ? j->len
                                          : j->len / j->nchunks * (k + 1);
        while (end < j->len && j->text[end] != ' ' && j->text[end] != '\n')
            end++;
        chunks[k].p = j->text + start;
        chunks[k].len = end - start;
        chunks[k].pool = j->pool;
        start = end;
        calls[k].fn = count_chunk_in_pool;
        calls[k].arg = &chunks[k];
    }
    /* Map: every chunk at once. */
    j->rc = corio_gather_calls(calls, j->nchunks, out, 0);
    /* Reduce: here, in the main task. */
    j->result = table_new(1 << 14);
    for (size_t k = 0; k < j->nchunks; k++) {
        if (j->rc == 0 && j->result && reduce_into(j->result, out[k].result))
            j->rc = CORIO_ENOMEM;
        table_free(out[k].result);
    }
done:
    free(chunks);
    free(calls);
    free(out);
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 8;
    if (mb == 0) mb = 8;
    size_t len;
    char *text = make_text(mb << 20, &len);
    if (!text) return 1;

    int64_t single;
    table *reference = count_on_one_thread(text, len, &single);
    if (!reference) return 1;

    /* The pool: one worker per core, several chunks per worker so that a
     * slow worker does not hold everybody up. */
    unsigned cores = corio_cpu_count();
    job j = { text, len, (size_t)cores * 4, corio_pool_new(cores), NULL, 0 };
    if (!j.pool) return 1;
    int64_t pooled = INT64_MAX;
    int same = 1;
    for (int run = 0; run < 3; run++) {
        int64_t t0 = corio_now();
        int rc = corio_run(main_task, &j, NULL);
        int64_t dt = corio_now() - t0;
        if (rc != 0 || j.rc != 0 || !j.result) {
            fprintf(stderr, "wordcount: pool run failed: %s\n",
                    corio_strerror(rc ? rc : j.rc ? j.rc : CORIO_ENOMEM));
            return 1;
        }
        if (dt < pooled) pooled = dt;
        if (!tables_equal(reference, j.result)) same = 0;
        table_free(j.result);
        j.result = NULL;
    }
    corio_pool_free(j.pool);

    printf("text_bytes=%zu\n", len);
    printf("words=%llu\n", (unsigned long long)reference->total);
    printf("distinct_words=%zu\n", reference->used);
    printf("workers=%u chunks=%zu\n", cores, j.nchunks);
    printf("one_thread_ms=%.1f\n", (double)single / 1e6);
    printf("pool_ms=%.1f\n", (double)pooled / 1e6);
    printf("speedup=%.2f\n", (double)single / (double)pooled);
    printf("counts_match=%s\n", same ? "yes" : "NO");
    table_free(reference);
    free(text);
    return same ? 0 : 1;
}
