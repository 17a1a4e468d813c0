/*
 * util.h — what several suites share: run a body as the main task of a
 * fresh loop and check that nothing leaked.
 *
 * corio_test_run_clean(fn, arg) runs fn(arg) as the main task, lets
 * whatever it left detached finish (corio_loop_run), closes the loop, and
 * asserts that the close reported nothing: no task left pending, none
 * finished but never joined. Returns the main task's status.
 */
#ifndef CORIO_TESTS_UTIL_H
#define CORIO_TESTS_UTIL_H

#include <criterion/criterion.h>
#include <corio.h>

static void corio_test_count_report(void *ctx, const char *message)
{
    ++*(int *)ctx;
    cr_log_warn("loop close: %s", message);
}

static inline int corio_test_run_clean(corio_fn fn, void *arg)
{
    int reported = 0;
    corio_config cfg = { .report = corio_test_count_report, .report_ctx = &reported };
    corio_loop *loop = corio_loop_new(&cfg);
    cr_assert_not_null(loop, "corio_loop_new failed");
    corio_task *main_task = corio_loop_spawn(loop, fn, arg, NULL);
    cr_assert_not_null(main_task, "spawn of the main task failed");
    int status = corio_loop_run_until_complete(loop, main_task, NULL);
    corio_loop_run(loop);
    int left = corio_loop_close(loop);
    cr_assert_eq(left, 0, "loop close reported %d task(s)", left);
    cr_assert_eq(reported, 0, "report callback called %d time(s)", reported);
    return status;
}

#endif
