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

#include "wordcount_common.h"

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

    int64_t single;
    table *reference = count_on_one_thread(text, len, &single);
    if (!reference) return 1;

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
