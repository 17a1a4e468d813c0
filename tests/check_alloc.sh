#!/bin/sh
# check_alloc.sh — every heap call of the library goes through coro/alloc.h.
#
#   tests/check_alloc.sh            fail, naming each line, on a plain call
#   tests/check_alloc.sh --fix      rewrite the plain calls (and add the
#                                   #include) in place, then check
#   tests/check_alloc.sh --self-test   show the check catches a plain call
#
# corio_replace_allocator (coro/alloc.c) promises the program EVERY block
# corio takes from the heap. One plain malloc in a new file would break
# that silently (the block goes to the C library, and when corio__free
# gives it to the program's free, both heaps are corrupted), so `make
# test` runs this over every room: the directories holding the library's
# sources (the Makefile's ROOMS, passed as arguments; the default below).
# coro/alloc.c is the one file allowed to name the C library's functions.
#
# --fix is the mechanical rewrite of a whole room, safe to re-run: a call
# already spelt corio__free( or a member such as p->free( is left alone.
set -eu

rooms=${ROOMS:-"coro flow poller os sync net chan"}
calls='malloc|calloc|realloc|free|strdup'
others='strndup|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|wcsdup|_strdup|_wcsdup|_aligned_malloc|_aligned_free'
# A call: the name not preceded by a word character, '.' or '>', then '('.
pattern="(^|[^A-Za-z0-9_.>])($calls|$others)[[:space:]]*\\("

sources() {
    for r in $rooms; do
        [ -d "$r" ] && find "$r" -name '*.[ch]'
    done | grep -vxE 'coro/alloc\.[ch]' | sort
}

fix() {
    for f in $(sources); do
        grep -qE "$pattern" "$f" || continue
        perl -pi -e "s/(?<![\\w.>])($calls)(\\s*\\()/corio__\$1\$2/g" "$f"
        case $f in coro/*) inc='#include "alloc.h"' ;; *) inc='#include "coro/alloc.h"' ;; esac
        grep -qF "$inc" "$f" ||
            INC="$inc" perl -0pi -e 's/^(#include [^\n]*\n)/$1$ENV{INC}\n/m' "$f"
    done
}

check() {
    bad=$(for f in $(sources); do grep -nE "$pattern" "$f" | sed "s|^|$f:|"; done)
    if [ -n "$bad" ]; then
        echo "check_alloc: plain heap calls in the library (use corio__malloc," >&2
        echo "corio__calloc, corio__realloc, corio__free, corio__strdup from" >&2
        echo "coro/alloc.h, so that corio_replace_allocator sees them;" >&2
        echo "tests/check_alloc.sh --fix rewrites the first five):" >&2
        printf '  %s\n' "$bad" >&2
        return 1
    fi
    echo "check_alloc: $(sources | wc -l) library sources, every heap call through coro/alloc.h"
}

case ${1:-} in
--fix) fix; check ;;
--self-test)
    self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
    d=$(mktemp -d)
    trap 'rm -rf "$d"' EXIT
    mkdir -p "$d/room"
    printf '#include <stdlib.h>\nvoid *f(void) { return malloc(4); }\nvoid g(void *p) { corio__free(p); }\n' > "$d/room/a.c"
    if (cd "$d" && ROOMS=room "$self" >/dev/null 2>&1); then
        echo "check_alloc: self-test: a plain malloc was not caught" >&2; exit 1
    fi
    (cd "$d" && ROOMS=room "$self" --fix >/dev/null 2>&1) ||
        { echo "check_alloc: self-test: --fix did not repair it" >&2; exit 1; }
    grep -q 'corio__malloc(4)' "$d/room/a.c" && grep -q 'corio__free(p)' "$d/room/a.c" &&
        grep -q '^#include "coro/alloc.h"' "$d/room/a.c" ||
        { echo "check_alloc: self-test: --fix rewrote it wrong" >&2; exit 1; }
    echo "check_alloc: self-test: a plain call is caught, --fix repairs it"
    ;;
'') check ;;
*) echo "usage: $0 [--fix | --self-test]" >&2; exit 2 ;;
esac
