/*
 * test_stack_clash.c — the probed half of the large-frame overflow tests
 * in test_stack.c (no tests of its own).
 *
 * The Makefile builds this one file with -fstack-clash-protection (where
 * the compiler has it) and test_stack.c without, because the flag cannot
 * be set reliably per function. The same 300 KiB frame, probed page by
 * page here, unprobed there.
 */
#include <stddef.h>

void corio_test_big_frame_probed(void);

/* A 300 KiB local, touched first at its far (lowest) end. Not
 * instrumented: ASan's use-after-return detection would move the array to
 * its fake stack on the heap, and nothing would overflow. */
__attribute__((noinline, no_sanitize_address)) void corio_test_big_frame_probed(void)
{
    volatile char big[300 * 1024];
    big[0] = 1;
    big[sizeof big - 1] = big[0];
}
