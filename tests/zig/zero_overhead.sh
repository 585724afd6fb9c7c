#!/bin/sh
# zero_overhead.sh: in release, ar_allocator.zig costs nothing over the
# libc calls written by hand (tests/zero_overhead.sh proves it for C).
#
# tests/zig/uses_module.zig (every function of the module) and
# tests/zig/uses_libc.zig (the same functions with malloc, calloc, strdup,
# strndup, realloc, free and a hand-written overflow check) are compiled
# against a release include folder (AR_HEAP_CONFIG_DEBUG 0) at ReleaseFast
# and ReleaseSmall, each function in a section of its own. For each:
#   - the normalised `objdump -dr --no-show-raw-insn` of the functions
#     zero_* of the two objects must be identical (a diff is printed when
#     not); the rest of an object is Zig's runtime, not the module's code;
#   - the module's object must call no ar_heap__ function;
#   - a check of the check: uses_libc.zig built with -DAR_ZERO_DIFFERENT
#     (one extra call) must be reported as different.
# And the same with a debug include folder but -DAR_HEAP_DISABLE, the
# per-unit release switch.
#
# Environment (set by make check): ZIG, AR_OBJDUMP, top_srcdir. Prints one
# line per case and "N of M Zig zero-overhead checks passed"; exits 0 when
# all pass, 1 on any failure, 77 (skip) without objdump or Zig 0.14.

top_srcdir=${top_srcdir:-.}
here=$top_srcdir/tests/zig

. "$top_srcdir/tests/ar_test_lib.sh"
ar_find_objdump "compare machine code"
scratch=$(mktemp -d) || exit 1
trap '[ -n "${AR_KEEP:-}" ] || rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
ar_find_zig
ar_installed_headers "$scratch/release" 0
ar_installed_headers "$scratch/debug" 1

# build NAME SOURCE INCLUDE OPTIMIZE [FLAGS...]: compile SOURCE to NAME.o
# and write the normalised disassembly of its zero_* functions to
# NAME.dis: whitespace runs squeezed, numbered anonymous constants
# (__anon_123) unnumbered.
build() {
    build_name=$1
    build_source=$2
    build_include=$scratch/$3
    build_mode=$4
    shift 4
    if ! "$zig" build-obj -O "$build_mode" -ffunction-sections -fno-stack-check -lc "$@" --dep ar_allocator \
        -Mroot="$build_source" -I"$build_include" "$@" \
        -Mar_allocator="$build_include/arheap/ar_allocator.zig" \
        -femit-bin="$scratch/$build_name.o" >"$scratch/$build_name.log" 2>&1; then
        sed 's/^/    /' "$scratch/$build_name.log"
        return 1
    fi
    "$objdump" -dr --no-show-raw-insn "$scratch/$build_name.o" >"$scratch/$build_name.raw" || return 1
    awk '/^[0-9a-f]+ <[^>]*>:$/ { keep = ($2 ~ /^<zero_/) } keep' "$scratch/$build_name.raw" |
        grep -v -e '^[[:space:]]*$' | tr -s ' \t' '  ' |
        sed 's/^ //; s/ $//; s/__anon_[0-9][0-9]*/__anon_N/g' >"$scratch/$build_name.dis"
    [ -s "$scratch/$build_name.dis" ] || { echo "    no zero_* function in $build_name.o"; return 1; }
}

# compare LABEL INCLUDE OPTIMIZE [FLAGS...]
compare() {
    label=$1
    include=$2
    mode=$3
    shift 3
    if ! build "$label-module" "$here/uses_module.zig" "$include" "$mode" "$@"; then
        fail "$label: uses_module.zig does not compile"
        return
    fi
    if ! build "$label-libc" "$here/uses_libc.zig" "$include" "$mode" "$@"; then
        fail "$label: uses_libc.zig does not compile"
        return
    fi
    if diff -u "$scratch/$label-module.dis" "$scratch/$label-libc.dis" >"$scratch/last.diff"; then
        pass "$label: ar_allocator.zig compiles to the hand-written libc calls"
    else
        fail "$label: ar_allocator.zig differs from the libc calls (- module, + libc):"
        sed 's/^/    /' "$scratch/last.diff"
    fi
    if grep -e 'ar_heap__' "$scratch/$label-module.dis" >/dev/null; then
        fail "$label: the module's code calls arheap:"
        grep -e 'ar_heap__' "$scratch/$label-module.dis" | sed 's/^/    /'
    else
        pass "$label: no arheap call"
    fi
    if ! build "$label-different" "$here/uses_libc.zig" "$include" "$mode" -DAR_ZERO_DIFFERENT "$@"; then
        fail "$label: the deliberately different version does not compile"
    elif diff "$scratch/$label-module.dis" "$scratch/$label-different.dis" >/dev/null; then
        fail "$label: the comparison missed a deliberate difference (-DAR_ZERO_DIFFERENT)"
    else
        pass "$label: the comparison sees a deliberate difference"
    fi
}

for mode in ReleaseFast ReleaseSmall; do
    compare "$mode" release "$mode"
done
compare "ReleaseFast AR_HEAP_DISABLE" debug ReleaseFast -DAR_HEAP_DISABLE

ar_summary "Zig zero-overhead checks"
