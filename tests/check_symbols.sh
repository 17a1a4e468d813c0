#!/bin/sh
# check_symbols.sh — the prefix rule, checked on the built library.
#
#   tests/check_symbols.sh LIB NM CPP
#
# A static library puts every global symbol it defines into the user's
# program, so the names are part of the contract: `corio_` is public and
# must be declared in include/, everything else is `static` or `corio__`
# (libuv's uv_ / uv__ rule). This lists the global symbols LIB defines
# (NM: the target's nm) and fails, naming each offender, on any that is
# neither declared in the public headers nor corio__-prefixed.
#
# "Declared" is read from the headers as the compiler sees them (CPP: the
# target's preprocessor command, so comments are gone and the target's
# #ifdefs are applied), not from their prose.
set -eu

lib=$1
nm=$2
cpp=$3

[ -f "$lib" ] || { echo "check_symbols: no $lib" >&2; exit 2; }

# corio.h is the one header a program includes (it pulls in
# corio_inline.h itself, which refuses to be included alone).
public=$($cpp -P -Iinclude include/corio.h |
         grep -o 'corio_[A-Za-z0-9_]*' | sort -u)

# Global defined symbols; the toolchain's own decorations go: mingw's
# .refptr.* stubs and the __emutls_v. prefix of _Thread_local variables,
# ASan's __odr_asan. indicator beside every global variable, Mach-O's
# leading underscore.
defined=$($nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' |
          grep -v '^\.' | sed -e 's/^__emutls_[vt]\.//' -e 's/^__odr_asan[._]//' -e 's/^_corio/corio/' |
          sort -u)

bad=$(printf '%s\n' "$defined" | grep -v '^corio__' |
      grep -vxF "$public" || true)

if [ -n "$bad" ]; then
    echo "check_symbols: $lib defines global symbols that are neither declared" >&2
    echo "in include/ nor corio__-prefixed (make them static or rename them):" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
echo "check_symbols: $(printf '%s\n' "$defined" | wc -l) global symbols in $lib, all public or corio__"
