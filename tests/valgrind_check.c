/*
 * valgrind_check.c — run by `make test-valgrind` under valgrind's memcheck
 * with --error-exitcode=1. Without the stack registration in coro/stack.c,
 * valgrind takes every task switch for a wild stack-pointer jump and
 * reports thousands of errors; with it, this program must be clean.
 * It touches guarded and dense stacks, sleeps, futures and a cancel.
 */
#include <corio.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void *child(void *arg)
{
    char buf[2048]; /* real stack use, read back below */
    memset(buf, (int)(intptr_t)arg, sizeof buf);
    corio_sleep(CORIO_US(100));
    return (void *)(intptr_t)buf[100];
}

static void *waiter(void *arg)
{
    void *v = NULL;
    corio_future_wait(arg, &v);
    return v;
}

static void *sleeper(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)corio_sleep(CORIO_SEC(60));
}

static void *main_task(void *arg)
{
    (void)arg;
    long sum = 0;
    corio_task *t[50];
    for (int i = 0; i < 50; i++) t[i] = corio_spawn(child, (void *)(intptr_t)i, NULL);
    for (int i = 0; i < 50; i++) {
        void *r;
        corio_join(t[i], &r);
        sum += (intptr_t)r;
    }
    corio_future *f = corio_future_new();
    corio_task *w = corio_spawn(waiter, f, NULL);
    corio_yield();
    corio_future_set_result(f, (void *)7);
    void *v;
    corio_join(w, &v);
    corio_future_free(f);
    corio_task *s = corio_spawn(sleeper, NULL, NULL);
    corio_yield();
    corio_cancel(s);
    void *rc;
    corio_join(s, &rc);
    return (void *)(sum == 1225 && (intptr_t)v == 7 && (intptr_t)rc == CORIO_ECANCELED
                        ? (intptr_t)1 : (intptr_t)0);
}

int main(void)
{
    void *ok = NULL;
    corio_run(main_task, NULL, &ok); /* guarded stacks */
    corio_config cfg = { .stack_mode = CORIO_STACK_DENSE, .stack_size = 32 * 1024 };
    corio_loop *l = corio_loop_new(&cfg);
    corio_task *m = corio_loop_spawn(l, main_task, NULL, NULL);
    void *ok2 = NULL;
    corio_loop_run_until_complete(l, m, &ok2); /* dense stacks */
    corio_loop_close(l);
    printf("valgrind check: %s\n", ok && ok2 ? "ran correctly" : "WRONG RESULTS");
    return ok && ok2 ? 0 : 1;
}
