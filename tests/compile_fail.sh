#!/bin/sh
# compile_fail.sh: ar_allocator.h must refuse misuse at compile time.
#
# For gcc and clang (whichever are available) and for both heap modes, every
# tests/compile_fail/bad_*.c snippet must be refused by the compiler, as a
# hard error (no -Werror), with output containing the text of the snippet's
# "/* expect: TEXT */" line; every good_*.c snippet must compile with
# -Werror. A snippet's "/* cflags: FLAGS */" line adds FLAGS to its compile.
#
# The two modes use scratch copies of the public headers next to a scratch
# ar_heap_config.h (AR_HEAP_CONFIG_DEBUG 0 plus -DAR_HEAP_DISABLE for
# release, 1 for debug), so both are tested whatever the build was
# configured with. The good snippets are also compiled against the
# configured headers ($top_builddir/include, $top_srcdir/include).
#
# Environment (set by make check): AR_GCC, AR_CLANG (paths or empty), CC,
# top_srcdir, top_builddir. Prints one line per case; exits 0 when all pass,
# 1 on any failure, 77 (skip) when there is no compiler.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
snippets=$top_srcdir/tests/compile_fail
cflags='-std=c11 -pedantic -Wall -Wextra -fsyntax-only'

if [ ! -f "$top_srcdir/include/ar_allocator.h" ] || [ ! -d "$snippets" ]; then
    echo "compile_fail.sh: no include/ar_allocator.h or tests/compile_fail under top_srcdir='$top_srcdir'" >&2
    exit 1
fi

# Compilers: "label path" lines. Fall back to PATH when run by hand.
. "$top_srcdir/tests/ar_test_lib.sh"
ar_find_compilers "the compile-fail tests"

scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM

# Scratch include directory per mode: config header plus copies of the
# public headers, so ar_heap.h's #include "ar_heap_config.h" finds the
# scratch config and not one configured in the source tree.
ar_scratch_headers "$scratch/release" 0
ar_scratch_headers "$scratch/debug" 1




# snippet_field FILE KEY: the TEXT of FILE's first "/* KEY: TEXT */" line.
snippet_field() {
    sed -n "s|^/\\* $2: \\(.*\\) \\*/\$|\\1|p" "$1" | sed -n 1p
}

for label in $compilers; do
    if [ "$label" = gcc ]; then cc=$gcc_path; else cc=$clang_path; fi
    for mode in release debug; do
        if [ "$mode" = release ]; then modeflags=-DAR_HEAP_DISABLE; else modeflags=; fi
        for snippet in "$snippets"/good_*.c "$snippets"/bad_*.c; do
            [ -f "$snippet" ] || continue
            base=$(basename "$snippet" .c)
            extra=$(snippet_field "$snippet" cflags)
            log=$scratch/out.log
            case $base in
            good_*)
                name=${base#good_}
                # shellcheck disable=SC2086 # flag lists are split on purpose
                if "$cc" $cflags -Werror $modeflags $extra -I"$scratch/$mode" "$snippet" >"$log" 2>&1; then
                    pass "$label $mode $name (compiles with -Werror)"
                else
                    fail "$label $mode $name: correct use does not compile cleanly:"
                    sed 's/^/    /' "$log"
                fi
                ;;
            bad_*)
                name=${base#bad_}
                expect=$(snippet_field "$snippet" expect)
                if [ -z "$expect" ]; then
                    fail "$label $mode $name: snippet has no /* expect: ... */ line"
                    continue
                fi
                # shellcheck disable=SC2086 # flag lists are split on purpose
                if "$cc" $cflags $modeflags $extra -I"$scratch/$mode" "$snippet" >"$log" 2>&1; then
                    fail "$label $mode $name: misuse compiled; output:"
                    sed 's/^/    /' "$log"
                elif grep -F -e "$expect" "$log" >/dev/null; then
                    pass "$label $mode $name"
                else
                    fail "$label $mode $name: refused, but without \"$expect\":"
                    sed 's/^/    /' "$log"
                fi
                ;;
            esac
        done
    done

    # Correct use against the headers the build was configured with.
    if [ -f "$top_builddir/include/ar_heap_config.h" ]; then
        for snippet in "$snippets"/good_*.c; do
            [ -f "$snippet" ] || continue
            name=$(basename "$snippet" .c)
            name=${name#good_}
            extra=$(snippet_field "$snippet" cflags)
            # shellcheck disable=SC2086 # flag lists are split on purpose
            if "$cc" $cflags $extra -Werror -I"$top_builddir/include" -I"$top_srcdir/include" \
                "$snippet" >"$scratch/out.log" 2>&1; then
                pass "$label configured $name (compiles with -Werror)"
            else
                fail "$label configured $name: correct use does not compile cleanly:"
                sed 's/^/    /' "$scratch/out.log"
            fi
        done
    fi
done

[ "$cases" -gt 0 ] || echo "FAIL: no snippets found in $snippets"
ar_summary "compile-fail cases"
