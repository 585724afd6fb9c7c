#!/bin/sh
# zero_overhead.sh: in release mode the heap and allocator macros must cost
# nothing over the libc calls a careful programmer writes by hand.
#
# tests/zero_overhead/uses.c is compiled at -O2 in release mode
# (-DAR_HEAP_DISABLE and a scratch ar_heap_config.h with
# AR_HEAP_CONFIG_DEBUG 0) twice: with -DAR_ZERO_USE_MACROS (functions use
# every AR__HEAP__* and AR__ALLOCATOR__* macro) and without (the same
# functions written by hand with malloc, calloc, realloc, strdup, free and a
# hand-written overflow check). For each of gcc and clang that is available:
#   - the normalised `objdump -dr --no-show-raw-insn` output of the two
#     objects must be identical (a diff is printed when not);
#   - the macro object must not reference ar_zero_side_effect(), the call
#     used as every description: release mode never evaluates desc;
#   - the macro object must not reference ar_heap__* or ar_allocator__*
#     (no tracking call, the realloc helper always inlined);
#   - a check of the check: the hand version built with -DAR_ZERO_DIFFERENT
#     (one extra call) must be reported as different, and the extra call
#     must be found by the same grep that looks for evaluated descriptions.
#
# Environment (set by make check): AR_GCC, AR_CLANG (paths or empty), CC,
# AR_OBJDUMP, top_srcdir, top_builddir. Exits 0 when all pass, 1 on any
# failure, 77 (skip) without objdump or without any compiler.

top_srcdir=${top_srcdir:-.}
source=$top_srcdir/tests/zero_overhead/uses.c
cflags='-std=c11 -pedantic -Wall -Wextra -Werror -O2 -DAR_HEAP_DISABLE'

if [ ! -f "$source" ] || [ ! -f "$top_srcdir/include/ar_allocator.h" ]; then
    echo "zero_overhead.sh: no tests/zero_overhead/uses.c or include/ar_allocator.h under top_srcdir='$top_srcdir'" >&2
    exit 1
fi

. "$top_srcdir/tests/ar_test_lib.sh"
ar_find_objdump "compare machine code"
ar_find_compilers "the zero-overhead test"

scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM

# Release-mode include directory: config header plus copies of the public
# headers, so a config generated in the source tree cannot take precedence.
ar_scratch_headers "$scratch/include" 0




# build CC NAME FLAGS...: compile uses.c to NAME.o and write its normalised
# disassembly to NAME.dis: no file-name/format header, no blank lines,
# whitespace runs squeezed to one space. Addresses are kept: the code is
# expected to be byte-identical.
build() {
    build_cc=$1
    build_name=$2
    shift 2
    # shellcheck disable=SC2086 # the flag list is split on purpose
    if ! "$build_cc" $cflags "$@" -I"$scratch/include" -c "$source" \
        -o "$scratch/$build_name.o" >"$scratch/$build_name.log" 2>&1; then
        sed 's/^/    /' "$scratch/$build_name.log"
        return 1
    fi
    "$objdump" -dr --no-show-raw-insn "$scratch/$build_name.o" >"$scratch/$build_name.raw" || return 1
    grep -v -e 'file format' -e '^[[:space:]]*$' "$scratch/$build_name.raw" |
        tr -s ' \t' '  ' | sed 's/^ //; s/ $//' >"$scratch/$build_name.dis"
}

# same A B: 0 when A.dis and B.dis are identical; the diff is left in
# $scratch/last.diff.
same() {
    diff -u "$scratch/$1.dis" "$scratch/$2.dis" >"$scratch/last.diff"
}

for label in $compilers; do
    if [ "$label" = gcc ]; then cc=$gcc_path; else cc=$clang_path; fi
    macros=$label-macros
    hand=$label-hand
    different=$label-different
    if ! build "$cc" "$macros" -DAR_ZERO_USE_MACROS; then
        fail "$label: the macro version does not compile cleanly"
        continue
    fi
    if ! build "$cc" "$hand"; then
        fail "$label: the hand-written version does not compile cleanly"
        continue
    fi

    if same "$macros" "$hand"; then
        pass "$label release macros compile to the hand-written libc calls"
    else
        fail "$label release macros differ from the hand-written libc calls (- macros, + hand):"
        sed 's/^/    /' "$scratch/last.diff"
    fi

    if grep -e 'ar_zero_side_effect' "$scratch/$macros.dis" >/dev/null; then
        fail "$label release macros evaluate desc (ar_zero_side_effect is called):"
        grep -e 'ar_zero_side_effect' "$scratch/$macros.dis" | sed 's/^/    /'
    else
        pass "$label release macros never evaluate desc"
    fi

    if grep -e 'ar_heap__' -e 'ar_allocator__' "$scratch/$macros.dis" >/dev/null; then
        fail "$label release macros leave arheap calls or helpers in the code:"
        grep -e 'ar_heap__' -e 'ar_allocator__' "$scratch/$macros.dis" | sed 's/^/    /'
    else
        pass "$label release macros leave no arheap call or helper"
    fi

    # Check of the check: a hand version with one extra call must be told
    # apart, and its call to ar_zero_side_effect must be seen by the grep.
    if ! build "$cc" "$different" -DAR_ZERO_DIFFERENT; then
        fail "$label: the deliberately different version does not compile cleanly"
        continue
    fi
    if same "$macros" "$different"; then
        fail "$label comparator missed a deliberate difference (-DAR_ZERO_DIFFERENT)"
    else
        pass "$label comparator reports a deliberate difference"
    fi
    if grep -e 'ar_zero_side_effect' "$scratch/$different.dis" >/dev/null; then
        pass "$label desc check sees a call to ar_zero_side_effect when there is one"
    else
        fail "$label desc check cannot see the deliberate call to ar_zero_side_effect"
    fi
done

ar_summary "zero-overhead checks"
