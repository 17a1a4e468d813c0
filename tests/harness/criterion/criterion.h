/*
 * criterion/criterion.h — a small stand-in for Criterion, for the targets
 * Criterion does not build on (Windows under wine, AArch64 under qemu).
 *
 * The Makefile compiles the tests with -Itests/harness for those targets,
 * so `#include <criterion/criterion.h>` lands here, and links
 * tests/harness/harness.c (the runner) into the test binary.
 *
 * It offers exactly the subset the project's tests may use:
 *
 *   Test(suite, name) { ... }
 *   Test(suite, name, .init = f, .fini = g, .timeout = seconds) { ... }
 *   cr_assert(cond, fmt, ...)        cr_expect(cond, fmt, ...)
 *   cr_assert_not(cond, ...)         cr_expect_not(cond, ...)
 *   cr_assert_eq / neq / lt / leq / gt / geq (a, b, ...)   and cr_expect_*
 *   cr_assert_null / not_null (p, ...)                     and cr_expect_*
 *   cr_assert_str_eq (a, b, ...)                           and cr_expect_*
 *   cr_assert_fail(...)   cr_expect_fail(...)   cr_fail(...)
 *   cr_skip_test(fmt, ...)   cr_log_info(fmt, ...)   cr_log_warn(fmt, ...)
 *
 * The message arguments are optional, and the format must be a string
 * literal (as it always is with Criterion).
 *
 * cr_assert* ends the test at once; cr_expect* records the failure and
 * lets the test go on. cr_fail is the non-fatal one, as in Criterion's new
 * API; but Criterion 2.4's classic header (what the native build uses)
 * does not accept cr_fail("..."): portable tests write cr_assert_fail or
 * cr_expect_fail.
 *
 * How tests find the runner: each Test() defines a descriptor and a
 * constructor function that adds it to a list before main() runs. That
 * works the same in ELF and PE (mingw-w64) executables, unlike collecting
 * descriptors in a named linker section.
 */
#ifndef CORIO_HARNESS_CRITERION_H
#define CORIO_HARNESS_CRITERION_H

/* Criterion's header brings these in too; tests may lean on that. */
#include <stddef.h>
#include <string.h>

/* What may follow the name in Test(suite, name, ...). The first member
 * only exists so that the initialiser `{ ._unused = 0, __VA_ARGS__ }` stays
 * valid when nothing follows. */
struct cr_harness_extra {
    int _unused;
    void (*init)(void);     /* run before the test */
    void (*fini)(void);     /* run after it, even if it failed */
    double timeout;         /* seconds; 0 = none (or --timeout) */
};

struct cr_harness_test {
    const char *suite, *name;
    const char *file;
    int line;
    void (*fn)(void);
    struct cr_harness_extra extra;
    struct cr_harness_test *next;   /* the registry's list, sorted by name */
};

void cr_harness_register(struct cr_harness_test *t);

#ifdef _WIN32
#define CR_HARNESS_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define CR_HARNESS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif

/* Report a failed check. `what` says what was false; `fmt` is the user's
 * message with a space in front (see CR_HARNESS_CHECK_). */
void cr_harness_report(const char *file, int line, const char *what,
                       const char *fmt, ...) CR_HARNESS_PRINTF(4, 5);
/* The same for cr_assert_str_eq, which also shows both strings. */
void cr_harness_report_str(const char *file, int line, const char *what,
                           const char *a, const char *b,
                           const char *fmt, ...) CR_HARNESS_PRINTF(6, 7);
/* End the running test now: switch back to the runner, whatever stack
 * (a task's, or the test's own) we are on. */
_Noreturn void cr_harness_abort_test(void);
_Noreturn void cr_harness_skip(const char *file, int line, const char *fmt,
                               ...) CR_HARNESS_PRINTF(3, 4);
void cr_harness_log(const char *level, const char *fmt, ...)
    CR_HARNESS_PRINTF(2, 3);
int cr_harness_str_equal(const char *a, const char *b);

/* ---------- Test(suite, name, ...) ---------- */

#define Test(suite, name, ...)                                              \
    static void cr_test_##suite##_##name(void);                             \
    static struct cr_harness_test cr_desc_##suite##_##name = {              \
        #suite, #name, __FILE__, __LINE__, cr_test_##suite##_##name,        \
        { ._unused = 0, __VA_ARGS__ }, NULL };                              \
    __attribute__((constructor))                                            \
    static void cr_register_##suite##_##name(void) {                        \
        cr_harness_register(&cr_desc_##suite##_##name);                     \
    }                                                                       \
    static void cr_test_##suite##_##name(void)

/* ---------- checks ----------
 *
 * The optional message is pasted behind a string holding one space,
 * `" " __VA_ARGS__`: with no message that leaves the format " " (a format
 * of length zero would trip -Wformat-zero-length), with one it leaves
 * " your text". The runner prints that space after its own colon, and
 * drops it when it stands alone. */
#define CR_HARNESS_CHECK_(fatal, cond, what, ...)                           \
    do {                                                                    \
        if (!(cond)) {                                                      \
            cr_harness_report(__FILE__, __LINE__, what, " " __VA_ARGS__);  \
            if (fatal) cr_harness_abort_test();                             \
        }                                                                   \
    } while (0)

#define CR_HARNESS_STR_EQ_(fatal, a, b, what, ...)                          \
    do {                                                                    \
        const char *cr_a_ = (a), *cr_b_ = (b);                              \
        if (!cr_harness_str_equal(cr_a_, cr_b_)) {                          \
            cr_harness_report_str(__FILE__, __LINE__, what, cr_a_, cr_b_,   \
                                  " " __VA_ARGS__);                         \
            if (fatal) cr_harness_abort_test();                             \
        }                                                                   \
    } while (0)

/* Each macro stringifies its own arguments (#a) before any macro inside
 * them is expanded, so a failure reads `n == CORIO_ETIMEDOUT is false`,
 * not `n == (-110) is false`. First argument: 1 = fatal (cr_assert),
 * 0 = go on (cr_expect). */
#define cr_assert(c, ...)     CR_HARNESS_CHECK_(1, c, #c " is false", __VA_ARGS__)
#define cr_expect(c, ...)     CR_HARNESS_CHECK_(0, c, #c " is false", __VA_ARGS__)
#define cr_assert_not(c, ...) CR_HARNESS_CHECK_(1, !(c), #c " is true", __VA_ARGS__)
#define cr_expect_not(c, ...) CR_HARNESS_CHECK_(0, !(c), #c " is true", __VA_ARGS__)

#define cr_assert_eq(a, b, ...)  CR_HARNESS_CHECK_(1, (a) == (b), #a " == " #b " is false", __VA_ARGS__)
#define cr_assert_neq(a, b, ...) CR_HARNESS_CHECK_(1, (a) != (b), #a " != " #b " is false", __VA_ARGS__)
#define cr_assert_lt(a, b, ...)  CR_HARNESS_CHECK_(1, (a) <  (b), #a " < "  #b " is false", __VA_ARGS__)
#define cr_assert_leq(a, b, ...) CR_HARNESS_CHECK_(1, (a) <= (b), #a " <= " #b " is false", __VA_ARGS__)
#define cr_assert_gt(a, b, ...)  CR_HARNESS_CHECK_(1, (a) >  (b), #a " > "  #b " is false", __VA_ARGS__)
#define cr_assert_geq(a, b, ...) CR_HARNESS_CHECK_(1, (a) >= (b), #a " >= " #b " is false", __VA_ARGS__)
#define cr_expect_eq(a, b, ...)  CR_HARNESS_CHECK_(0, (a) == (b), #a " == " #b " is false", __VA_ARGS__)
#define cr_expect_neq(a, b, ...) CR_HARNESS_CHECK_(0, (a) != (b), #a " != " #b " is false", __VA_ARGS__)
#define cr_expect_lt(a, b, ...)  CR_HARNESS_CHECK_(0, (a) <  (b), #a " < "  #b " is false", __VA_ARGS__)
#define cr_expect_leq(a, b, ...) CR_HARNESS_CHECK_(0, (a) <= (b), #a " <= " #b " is false", __VA_ARGS__)
#define cr_expect_gt(a, b, ...)  CR_HARNESS_CHECK_(0, (a) >  (b), #a " > "  #b " is false", __VA_ARGS__)
#define cr_expect_geq(a, b, ...) CR_HARNESS_CHECK_(0, (a) >= (b), #a " >= " #b " is false", __VA_ARGS__)

#define cr_assert_null(p, ...)     CR_HARNESS_CHECK_(1, (p) == NULL, #p " is not NULL", __VA_ARGS__)
#define cr_expect_null(p, ...)     CR_HARNESS_CHECK_(0, (p) == NULL, #p " is not NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) CR_HARNESS_CHECK_(1, (p) != NULL, #p " is NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) CR_HARNESS_CHECK_(0, (p) != NULL, #p " is NULL", __VA_ARGS__)

#define cr_assert_str_eq(a, b, ...) CR_HARNESS_STR_EQ_(1, a, b, #a " equals " #b " is false", __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) CR_HARNESS_STR_EQ_(0, a, b, #a " equals " #b " is false", __VA_ARGS__)

#define cr_assert_fail(...) CR_HARNESS_CHECK_(1, 0, "failed", __VA_ARGS__)
#define cr_expect_fail(...) CR_HARNESS_CHECK_(0, 0, "failed", __VA_ARGS__)
#define cr_fail(...)        CR_HARNESS_CHECK_(0, 0, "failed", __VA_ARGS__)

#define cr_skip_test(...) cr_harness_skip(__FILE__, __LINE__, " " __VA_ARGS__)

#define cr_log_info(...) cr_harness_log("info", __VA_ARGS__)
#define cr_log_warn(...) cr_harness_log("warn", __VA_ARGS__)

#endif
