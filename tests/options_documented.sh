#!/bin/sh
# options_documented.sh: every option of src/options.c's table is in the
# README's options table, in doc/arheap.md's options table, and in a man
# page (ar_heap(3), or ar_heap__sweep_failures(3) for the fail_* options);
# every name in the README's table is an option; and the options fuzzer's
# table (fuzz/options_fuzzer.c) has a valid and a bad pair of each option,
# which the fuzzer itself requires at start-up: `make fuzz` needs clang
# and is not in CI, so a new option without pairs would go unseen there.
#
# The option names are read from the table rows of src/options.c
# ('{ "name", AR_HEAP_OPTION_'). A README table row starts with four
# spaces and the name; an arheap.md row with "| `name` |"; a man page
# names it in bold (".B name" or ".BR name", alone or in a list).
#
# Environment (set by make check): top_srcdir. Prints one line per failure
# and "N of M option documentation checks passed"; exits 0 when all pass.

top_srcdir=${top_srcdir:-.}
names=$(sed -n 's/^ *{ "\([a-z_]*\)", AR_HEAP_OPTION_.*/\1/p' "$top_srcdir/src/options.c")
cases=0
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
if [ -z "$names" ]; then
    echo "FAIL: no option names read from src/options.c"
    exit 1
fi
for name in $names; do
    cases=$((cases + 1))
    grep -q "^    $name " "$top_srcdir/README" ||
        fail "$name: not in the README's options table"
    grep -q "^| \`$name\` |" "$top_srcdir/doc/arheap.md" ||
        fail "$name: not in doc/arheap.md's options table"
    grep -Eq "^\\.(B|BR|BI) ([^ ]+ )*\"?$name( |\"|=|,|\$)" "$top_srcdir/doc/ar_heap.3" \
        "$top_srcdir/doc/ar_heap__sweep_failures.3" ||
        fail "$name: in no man page (ar_heap.3, ar_heap__sweep_failures.3)"
    # Pairs are '{ "name=value", 1 },' (valid) and '..., 0 },' (bad), or
    # a bad pair made at start-up by make_long_path_pair(..., "name=").
    fuzzer="$top_srcdir/fuzz/options_fuzzer.c"
    grep -q "{ \"$name=[^\"]*\", 1 }" "$fuzzer" ||
        fail "$name: no valid pair in fuzz/options_fuzzer.c"
    grep -q -e "{ \"$name=[^\"]*\", 0 }" -e "make_long_path_pair([a-z_]*, \"$name=\")" \
        "$fuzzer" || fail "$name: no bad pair in fuzz/options_fuzzer.c"
done
# The other way: README table rows name options only (rows are the lines
# between "ar_heap__set_options(\"leak_report=0\");" and "AR_HEAP_OPTIONS=help=1 prints").
rows=$(sed -n '/^    ar_heap__set_options("leak_report=0");/,/^AR_HEAP_OPTIONS=help=1 prints/p' \
    "$top_srcdir/README" | sed -n 's/^    \([a-z_][a-z_]*\)  .*/\1/p')
for row in $rows; do
    cases=$((cases + 1))
    echo "$names" | grep -qx "$row" || fail "README's options table names '$row', no option"
done
echo "$((cases - failures)) of $cases option documentation checks passed"
[ "$failures" -eq 0 ]
