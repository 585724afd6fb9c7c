#!/bin/sh
# misuse.sh: ar_allocator.zig must refuse misuse at compile time.
#
# For both heap modes (a scratch installed include folder with
# AR_HEAP_CONFIG_DEBUG 1, then 0), every tests/zig/misuse/bad_*.zig must
# be refused by zig with output containing the text of its
# "// expect: TEXT" line, and every good_*.zig (the control) must compile.
# Semantic analysis only (-fno-emit-bin): no code is generated.
#
# Environment (set by make check): ZIG, top_srcdir. Prints one line per
# case and "N of M Zig misuse cases passed"; exits 0 when all pass, 1 on
# any failure, 77 (skip) without Zig 0.14.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
snippets=$top_srcdir/tests/zig/misuse

. "$top_srcdir/tests/ar_test_lib.sh"
scratch=$(mktemp -d) || exit 1
trap '[ -n "${AR_KEEP:-}" ] || rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
ar_find_zig

ar_installed_headers "$scratch/debug" 1
ar_installed_headers "$scratch/release" 0

# analyse MODE SNIPPET: zig's semantic analysis of SNIPPET importing the
# module of MODE's include folder; its output in $scratch/out.log.
analyse() {
    "$zig" build-obj -fno-emit-bin -lc --dep ar_allocator -Mroot="$2" \
        -I"$scratch/$1" -Mar_allocator="$scratch/$1/arheap/ar_allocator.zig" \
        >"$scratch/out.log" 2>&1
}

for mode in debug release; do
    for snippet in "$snippets"/good_*.zig "$snippets"/bad_*.zig; do
        [ -f "$snippet" ] || continue
        name=$(basename "$snippet" .zig)
        case $name in
        good_*)
            if analyse "$mode" "$snippet"; then
                pass "$mode ${name#good_} (compiles)"
            else
                fail "$mode ${name#good_}: correct use does not compile:"
                sed 's/^/    /' "$scratch/out.log"
            fi
            ;;
        bad_*)
            expect=$(sed -n 's|^// expect: \(.*\)$|\1|p' "$snippet" | sed -n 1p)
            if [ -z "$expect" ]; then
                fail "$mode ${name#bad_}: snippet has no // expect: line"
            elif analyse "$mode" "$snippet"; then
                fail "$mode ${name#bad_}: misuse compiled"
            elif grep -F -e "$expect" "$scratch/out.log" >/dev/null; then
                pass "$mode ${name#bad_}"
            else
                fail "$mode ${name#bad_}: refused, but without \"$expect\":"
                sed 's/^/    /' "$scratch/out.log"
            fi
            ;;
        esac
    done
done

echo "$((cases - failures)) of $cases Zig misuse cases passed"
[ "$failures" -eq 0 ]
