#!/bin/sh
# sites.sh: libarheap-preload.so holds none of the entry points that take
# a call's file and line or its call object (ar_heap__malloc and its
# siblings, ar_heap__malloc_site and its siblings); libarheap.so holds
# them all. In the preload library every site is one of its wrappers',
# with no file, line or call object, and the thread's depot cache there
# compares none of them (src/ar_heap_internal.h, AR_HEAP_SITE_SAME_PLACE):
# an entry point with a file in that library would make blocks of
# different files and lines share cache entries, and reports name the
# wrong site. life.c leaves them out of it (#if !AR_HEAP_PRELOAD), and
# depot.c stops a process whose preload library made such a site anyway
# (checked here with a library built to make them).
#
# Environment (set by make check): top_srcdir, top_builddir. Exits 0 when all pass,
# 1 on a failure, 77 (skip) without nm or without the shared libraries.

top_srcdir=${top_srcdir:-.}
# shellcheck source=tests/ar_test_lib.sh
. "$top_srcdir/tests/ar_test_lib.sh"
ar_find_libraries
entry_points="ar_heap__malloc ar_heap__calloc ar_heap__realloc ar_heap__strdup ar_heap__strndup
ar_heap__free_at ar_heap__malloc_site ar_heap__calloc_site ar_heap__realloc_site
ar_heap__strdup_site ar_heap__free_site"
# Every function symbol, local ones included (the libraries are built
# with hidden visibility, and a hidden function is still in .symtab).
functions() {
    "$nm" "$1" | awk '$2 ~ /^[Tt]$/ { print $3 }'
}
in_preload=$(functions "$preload")
in_linked=$(functions "$linked")
for name in $entry_points; do
    if echo "$in_linked" | grep -qx "$name"; then
        pass "libarheap.so has $name"
    else
        fail "libarheap.so has no $name (is the list out of date?)"
    fi
    if echo "$in_preload" | grep -qx "$name"; then
        fail "libarheap-preload.so has $name"
    else
        pass "libarheap-preload.so has no $name"
    fi
done

# The check behind it at run time (src/depot.c, ar_heap_depot__intern_slow):
# a site with a file and a line reaches the depot's slow path on its first
# lookup, which stops the process. tests/preload/filesite.so is the
# preload library built with such sites; the victim's stress runs under it
# and under the real one.
victim=${top_builddir:-.}/tests/preload/victim
filesite=${top_builddir:-.}/tests/preload/.libs/filesite.so
refused="internal error: a site of the preload library has a file"
if ar_sanitized "$preload"; then
    echo "a sanitizer build: its runtime must own malloc, so nothing is preloaded"
elif [ ! -x "$victim" ] || [ ! -f "$filesite" ]; then
    fail "no $victim or $filesite to run"
else
    out=$(LD_PRELOAD="$filesite" AR_HEAP_OPTIONS=leak_report=0 "$victim" stress 10 100 2>&1)
    status=$?
    if [ "$status" -ne 0 ] && echo "$out" | grep -qF "$refused"; then
        pass "a site with a file is refused (status $status)"
    else
        fail "a site with a file was not refused (status $status): $out"
    fi
    out=$(LD_PRELOAD="$preload" AR_HEAP_OPTIONS=leak_report=0 "$victim" stress 10 100 2>&1)
    status=$?
    if [ "$status" -eq 0 ] && ! echo "$out" | grep -qF "internal error"; then
        pass "the wrappers' sites are accepted"
    else
        fail "the real library stopped (status $status): $out"
    fi
fi
ar_summary "entry point checks"
