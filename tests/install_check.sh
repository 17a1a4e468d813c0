#!/bin/sh
# install_check.sh — `make install` into a scratch DESTDIR, then build and
# run a tiny program against the installed copy using only
# `pkg-config --cflags --libs corio`, as an embedder would.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=/opt/corio-check
make -s -C "$here" install PREFIX="$prefix" DESTDIR="$work/root" >/dev/null
for h in corio.h corio_inline.h; do
    [ -f "$work/root$prefix/include/$h" ] ||
        { echo "install check: include/$h was not installed" >&2; exit 1; }
done
# The .pc file names the final prefix; the sysroot variable maps it into
# the scratch tree without editing it.
export PKG_CONFIG_PATH="$work/root$prefix/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$work/root"
flags=$(pkg-config --cflags --libs corio)
cat > "$work/hello.c" <<'C'
#include <corio.h>
#include <stdio.h>
static void *twice(void *arg) { corio_sleep(CORIO_MS(1)); return (void *)((long)arg * 2); }
/* corio_queue_put / _get are inline (C99 inline, in corio_inline.h, which
 * corio.h includes: a missing copy fails this build): calling them
 * and taking the address of one must also reach the library's copy. */
static int queue_ok(void) {
    corio_queue q;
    if (corio_queue_init(&q, CORIO_QUEUE_FIFO, 4) != 0) return 0;
    int (*put)(corio_queue *, void *) = corio_queue_put;
    void *a = NULL, *b = NULL;
    int rc = corio_queue_put(&q, (void *)1) | put(&q, (void *)2) |
             corio_queue_get(&q, &a) | corio_queue_get(&q, &b);
    corio_queue_destroy(&q);
    return rc == 0 && (long)a == 1 && (long)b == 2;
}
static void *main_task(void *arg) {
    (void)arg;
    void *r;
    corio_join(corio_spawn(twice, (void *)21, NULL), &r);
    return queue_ok() ? r : NULL;
}
int main(void) {
    void *r;
    int st = corio_run(main_task, NULL, &r);
    printf("installed corio says %ld\n", (long)r);
    return st == 0 && (long)r == 42 ? 0 : 1;
}
C
# Optimised (the inline queue calls are compiled in) and not (they call
# the library's external definitions).
for opt in -O2 -O0; do
    ${CC:-cc} $opt "$work/hello.c" $flags -o "$work/hello"
    out=$("$work/hello")
    [ "$out" = "installed corio says 42" ] ||
        { echo "install check ($opt): got '$out'" >&2; exit 1; }
done
echo "install check: passed (pkg-config --cflags --libs corio -> $flags)"
