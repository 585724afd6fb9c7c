#!/bin/sh
# describe_gdb.sh: ar_heap__describe() called from gdb, as documented
# (`call ar_heap__describe(p)`), in tests/describe_target stopped at a
# breakpoint while another thread allocates and frees: a live block at an
# offset, a freed block in the quarantine, an unknown address; then the
# program runs to its end.
#
# Environment (set by make check): top_builddir, AR_HEAP_CONFIG_DEBUG.
# Exits 0 when every check passes, 1 on a failure, 77 (skip) without gdb,
# in a release configuration, or where gdb may not trace (ptrace refused).

top_builddir=${top_builddir:-.}
if [ "${AR_HEAP_CONFIG_DEBUG:-1}" != 1 ]; then
    echo "SKIP: a release library has nothing to describe"
    exit 77
fi
if ! command -v gdb >/dev/null 2>&1; then
    echo "SKIP: gdb not found"
    exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$top_builddir/libtool" --mode=execute gdb -nx -batch \
    -ex 'set pagination off' \
    -ex 'break describe_target_stop' -ex run \
    -ex 'call ar_heap__describe(p + 4)' \
    -ex 'call ar_heap__describe(f + 1)' \
    -ex 'call ar_heap__describe(other)' \
    -ex continue \
    "$top_builddir/tests/describe_target" >"$out" 2>&1
if grep -q 'ptrace: Operation not permitted\|Could not trace\|Cannot access memory at address 0x0' "$out" &&
    ! grep -q 'arheap: describe' "$out"; then
    echo "SKIP: gdb can not trace here"
    cat "$out"
    exit 77
fi
cases=0
failures=0
has() {
    cases=$((cases + 1))
    if grep -q -- "$1" "$out"; then
        echo "ok $2"
    else
        echo "FAIL $2 (no \"$1\")"
        failures=$((failures + 1))
    fi
}
has ': offset 4 inside a live block$' "a live block at offset 4"
has '  block: 13 bytes "greeting" at 0x' "the live block's line"
has 'describe_target.c:[0-9]*' "its allocation site"
has ': offset 1 inside a freed block, held in the quarantine$' "a freed block"
has '  freed at .*describe_target.c:[0-9]*' "its free site"
has ': arheap knows nothing of this address' "an unknown address"
has '^\[done\]$' "the program runs to its end"
if [ "$failures" -ne 0 ]; then
    echo "--- gdb output:"
    cat "$out"
fi
echo "$((cases - failures)) of $cases gdb describe checks passed"
[ "$failures" -eq 0 ]
