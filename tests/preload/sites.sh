#!/bin/sh
# sites.sh: libarheap-preload.so holds none of the entry points that take
# a call's file and line or its call object (ar_heap__malloc and its
# siblings, ar_heap__malloc_site and its siblings); libarheap.so holds
# them all. In the preload library every site is one of its wrappers',
# with no file, line or call object, and the thread's depot cache there
# compares none of them (src/ar_heap_internal.h, AR_HEAP_SITE_SAME_PLACE):
# an entry point with a file in that library would make blocks of
# different files and lines share cache entries, and reports name the
# wrong site. life.c leaves them out of it (#if !AR_HEAP_PRELOAD).
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
entry_points="ar_heap__malloc ar_heap__calloc ar_heap__realloc ar_heap__strdup ar_heap__strndup
ar_heap__free_at ar_heap__malloc_site ar_heap__calloc_site ar_heap__realloc_site
ar_heap__strdup_site ar_heap__free_site"
# Every function symbol, local ones included (the libraries are built
# with hidden visibility, and a hidden function is still in .symtab).
functions() {
    "$nm" "$1" | awk '$2 ~ /^[Tt]$/ { print $3 }'
}
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
in_preload=$(functions "$preload")
in_linked=$(functions "$linked")
for name in $entry_points; do
    echo "$in_linked" | grep -qx "$name" || fail "libarheap.so has no $name (is the list out of date?)"
    ! echo "$in_preload" | grep -qx "$name" || fail "libarheap-preload.so has $name"
done
if [ "$failures" -ne 0 ]; then
    exit 1
fi
echo "sites: libarheap-preload.so has none of the 11 entry points that take a file, line or call object; libarheap.so has them all"
exit 0
