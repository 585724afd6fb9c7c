#!/bin/sh
# efence_symbols.sh: Electric Fence's globals are where doc/arheap.md
# "Electric Fence and DUMA users" says: libarheap-preload.so defines
# EF_PROTECT_BELOW and EF_ALIGNMENT (data, default visibility) and no other
# EF_ or DUMA_ symbol; the linked library libarheap.so defines none (a
# program linked with it and with libefence.a must not get two).
#
# Environment (set by make check): top_srcdir, top_builddir. Exits 0 when all pass,
# 1 on a failure, 77 (skip) without nm or without the shared libraries.

top_srcdir=${top_srcdir:-.}
# shellcheck source=tests/ar_test_lib.sh
. "$top_srcdir/tests/ar_test_lib.sh"
ar_find_libraries
exported=$("$nm" -D --defined-only "$preload" | awk '$3 ~ /^(EF_|DUMA_)/ { print $2, $3 }' | sort)
expected=$(printf 'D EF_ALIGNMENT\nD EF_PROTECT_BELOW\n')
if [ "$exported" = "$expected" ]; then
    pass "libarheap-preload.so defines EF_PROTECT_BELOW and EF_ALIGNMENT (data), no other EF_ or DUMA_ symbol"
else
    fail "libarheap-preload.so's EF_/DUMA_ symbols are not EF_ALIGNMENT and EF_PROTECT_BELOW (data): $(echo $exported)"
fi
linked_ef=$("$nm" -D --defined-only "$linked" | awk '$3 ~ /^(EF_|DUMA_)/ { print $3 }')
if [ -z "$linked_ef" ]; then
    pass "libarheap.so defines no EF_ or DUMA_ symbol"
else
    fail "libarheap.so defines $(echo $linked_ef)"
fi
ar_summary "Electric Fence symbol checks"
