#!/bin/sh
# efence_symbols.sh: Electric Fence's globals are where doc/arheap.md
# "Electric Fence and DUMA users" says: libarheap-preload.so defines
# EF_PROTECT_BELOW and EF_ALIGNMENT (data, default visibility) and no other
# EF_ or DUMA_ symbol; the linked library libarheap.so defines none (a
# program linked with it and with libefence.a must not get two).
#
# Environment (set by make check): top_builddir. Exits 0 when all pass,
# 1 on a failure, 77 (skip) without nm or without the shared libraries.

top_builddir=${top_builddir:-.}
preload=$top_builddir/src/.libs/libarheap-preload.so
linked=$top_builddir/src/.libs/libarheap.so
nm=$(command -v nm 2>/dev/null || true)
if [ -z "$nm" ]; then
    echo "SKIP: nm not found"
    exit 77
fi
if [ ! -f "$preload" ] || [ ! -f "$linked" ]; then
    echo "SKIP: no $preload or $linked (a static-only build?)"
    exit 77
fi
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
exported=$("$nm" -D --defined-only "$preload" | awk '$3 ~ /^(EF_|DUMA_)/ { print $2, $3 }' | sort)
expected=$(printf 'D EF_ALIGNMENT\nD EF_PROTECT_BELOW\n')
[ "$exported" = "$expected" ] ||
    fail "libarheap-preload.so's EF_/DUMA_ symbols are not EF_ALIGNMENT and EF_PROTECT_BELOW (data): $(echo $exported)"
linked_ef=$("$nm" -D --defined-only "$linked" | awk '$3 ~ /^(EF_|DUMA_)/ { print $3 }')
[ -z "$linked_ef" ] || fail "libarheap.so defines $(echo $linked_ef)"
if [ "$failures" -ne 0 ]; then
    exit 1
fi
echo "efence_symbols: the preload library defines EF_PROTECT_BELOW and EF_ALIGNMENT; libarheap.so defines no EF_ symbol"
exit 0
