#!/bin/sh
# tracking.sh: Zig code's blocks, tracked with the Zig caller's file:line.
#
# Builds tests/zig/track.zig (through ar_allocator.zig, in the mode of the
# configured library) with zig, links it with tests/zig/track_main.c and
# the library, and runs each scenario in a process of its own:
#
#   debug library
#     leaks        the leak report names the Zig line of each create,
#                  alloc, dupe and realloc whose block leaked, not the
#                  module's; the AgeRun lines count 4 actual leaks and the
#                  intentional one apart; freed blocks are not listed;
#                  the process exits 23 (leak_exitcode's default)
#     clean        blocks from Zig freed by C and from C freed by Zig:
#                  no report on stderr, "No memory leaks detected."
#     overflow     a byte written past a 13-byte block in Zig: reported
#                  as heap-buffer-overflow with the Zig lines of the alloc
#                  and the free; the process exits with error_exitcode
#     double-free  a Zig block freed twice: double-free, with the Zig
#                  lines of the allocation and of both frees
#   release library
#     leaks, clean run to exit 0, and track.o calls no ar_heap__ function
#
# Environment (set by make check): ZIG, CC, top_srcdir, top_builddir,
# AR_HEAP_CONFIG_DEBUG. Prints one line per case and "N of M Zig tracking
# checks passed"; exits 0 when all pass, 1 on any failure, 77 (skip)
# without Zig 0.14.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
here=$top_srcdir/tests/zig
cc=${CC:-cc}

. "$top_srcdir/tests/ar_test_lib.sh"
scratch=$(mktemp -d) || exit 1
trap '[ -n "${AR_KEEP:-}" ] || rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
ar_find_zig
ar_library
inc=$scratch/include
ar_installed_headers "$inc"

if ! "$zig" build-obj -O Debug -fno-stack-check -lc --dep ar_allocator -Mroot="$here/track.zig" \
    -I"$inc" -Mar_allocator="$inc/arheap/ar_allocator.zig" -femit-bin="$scratch/track.o" \
    >"$scratch/build.log" 2>&1 ||
    ! $cc -std=c11 -Wall -Wextra -Werror -g -I"$inc" -c "$here/track_main.c" \
        -o "$scratch/main.o" >>"$scratch/build.log" 2>&1 ||
    # shellcheck disable=SC2086 # library and libs are word lists
    ! $cc -o "$scratch/track" "$scratch/main.o" "$scratch/track.o" $library $libs \
        >>"$scratch/build.log" 2>&1; then
    fail "track.zig and track_main.c do not build:"
    sed 's/^/    /' "$scratch/build.log"
    echo "0 of 1 Zig tracking checks passed"
    exit 1
fi

# run NAME [OPTIONS]: run scenario NAME in $scratch with AR_HEAP_OPTIONS
# OPTIONS (the report in NAME.report); status in $status, stderr in
# $scratch/NAME.err.
run() {
    (cd "$scratch" && AR_HEAP_OPTIONS="report_path=$1.report${2:+:$2}" ./track "$1" \
        >"$1.out" 2>"$1.err")
    status=$?
}

# line MARK: the line of track.zig that carries "// site:MARK".
line() {
    grep -n "// site:$1\$" "$here/track.zig" | cut -d: -f1
}

# has FILE TEXT CASE: pass CASE when FILE holds TEXT, else fail showing FILE.
has() {
    if grep -F -e "$2" "$1" >/dev/null; then
        pass "$3"
    else
        fail "$3: no \"$2\" in $(basename "$1"):"
        sed 's/^/    /' "$1"
    fi
}

if [ "${AR_HEAP_CONFIG_DEBUG:-1}" = 0 ]; then
    for scenario in leaks clean; do
        run "$scenario"
        if [ "$status" -eq 0 ]; then
            pass "release: $scenario runs on libc"
        else
            fail "release: $scenario exits $status"
            cat "$scratch/$scenario.err"
        fi
    done
    if nm "$scratch/track.o" | grep ar_heap__ >/dev/null; then
        fail "release: track.o calls arheap:"
        nm "$scratch/track.o" | grep ar_heap__ | sed 's/^/    /'
    else
        pass "release: track.o calls no ar_heap__ function"
    fi
    echo "$((cases - failures)) of $cases Zig tracking checks passed"
    [ "$failures" -eq 0 ]
    exit
fi

run leaks
[ "$status" -eq 23 ] && pass "leaks: exits 23 (leak_exitcode's default)" ||
    fail "leaks: exit $status"
report=$scratch/leaks.report
has "$report" "track.zig:$(line create)  \"leaked agent\"" "leaks: create is listed at its Zig line"
has "$report" "track.zig:$(line alloc)  \"leaked scores\"" "leaks: alloc is listed at its Zig line"
has "$report" "track.zig:$(line dupe)  \"leaked name\"" "leaks: dupe is listed at its Zig line"
has "$report" "track.zig:$(line realloc)  \"leaked items\"" "leaks: realloc is listed at its Zig line"
has "$report" "Actual memory leaks: 4 (152 bytes)" "leaks: the AgeRun line counts the four leaks"
has "$report" "Intentional test leaks: 1 (5 bytes)" "leaks: the intentional leak is counted apart"
if grep -e '"freed agent"' -e 'ar_allocator.zig' "$report" >/dev/null; then
    fail "leaks: a freed block or the module's own line is listed:"
    sed 's/^/    /' "$report"
else
    pass "leaks: no freed block and no line of ar_allocator.zig is listed"
fi

run clean
if [ "$status" -eq 0 ] && [ ! -s "$scratch/clean.err" ]; then
    pass "clean: Zig and C free each other's blocks, nothing on stderr"
else
    fail "clean: exit $status, stderr:"
    sed 's/^/    /' "$scratch/clean.err"
fi
has "$scratch/clean.report" "No memory leaks detected." "clean: no leaks"
has "$scratch/clean.report" "Actual memory leaks: 0 (0 bytes)" "clean: 0 actual leaks for AgeRun"

run overflow on_error=exit:error_exitcode=23
[ "$status" -eq 23 ] && pass "overflow: exits with error_exitcode" || fail "overflow: exit $status"
err=$scratch/overflow.err
has "$err" "arheap: ERROR: heap-buffer-overflow" "overflow: reported as heap-buffer-overflow"
has "$err" "found by free at " "overflow: found by the free"
has "$err" "track.zig:$(line overflow-free) in thread" "overflow: the free's Zig line"
has "$err" "allocated at " "overflow: with the allocation"
has "$err" "track.zig:$(line overflow-alloc) (allocation #" "overflow: the alloc's Zig line"

run double-free on_error=exit:error_exitcode=23
[ "$status" -eq 23 ] && pass "double-free: exits with error_exitcode" || fail "double-free: exit $status"
err=$scratch/double-free.err
has "$err" "arheap: ERROR: double-free" "double-free: reported as double-free"
has "$err" "free at $(sed -n 's/^  free at \(.*track.zig\):.*/\1/p' "$err" | sed -n 1p):$(line double-second) in thread" \
    "double-free: the second free's Zig line"
has "$err" "track.zig:$(line double-first) (thread" "double-free: the first free's Zig line"
has "$err" "track.zig:$(line double-alloc) (allocation #" "double-free: the allocation's Zig line"
has "$err" "SUMMARY: arheap: double-free at " "double-free: one summary line"

echo "$((cases - failures)) of $cases Zig tracking checks passed"
[ "$failures" -eq 0 ]
