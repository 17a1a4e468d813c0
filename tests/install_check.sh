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
# The .pc file names the final prefix; the sysroot variable maps it into
# the scratch tree without editing it.
export PKG_CONFIG_PATH="$work/root$prefix/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$work/root"
flags=$(pkg-config --cflags --libs corio)
cat > "$work/hello.c" <<'C'
#include <corio.h>
#include <stdio.h>
static void *twice(void *arg) { corio_sleep(CORIO_MS(1)); return (void *)((long)arg * 2); }
static void *main_task(void *arg) {
    (void)arg;
    void *r;
    corio_join(corio_spawn(twice, (void *)21, NULL), &r);
    return r;
}
int main(void) {
    void *r;
    int st = corio_run(main_task, NULL, &r);
    printf("installed corio says %ld\n", (long)r);
    return st == 0 && (long)r == 42 ? 0 : 1;
}
C
${CC:-cc} "$work/hello.c" $flags -o "$work/hello"
out=$("$work/hello")
[ "$out" = "installed corio says 42" ] || { echo "install check: got '$out'" >&2; exit 1; }
echo "install check: passed (pkg-config --cflags --libs corio -> $flags)"
