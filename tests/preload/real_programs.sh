#!/bin/sh
# real_programs.sh: ordinary programs from this machine, unmodified, under
# libarheap-preload.so, in default debug mode and in guard mode. Each must
# print exactly what it prints without the library and exit the same way,
# and arheap must say nothing. A program that is not installed is skipped;
# the test as a whole skips (77) only when none of them is.
#
# To show that the library really was in each program, every program is
# also run once as "PROGRAM --version" with AR_HEAP_OPTIONS=help=1: the
# option list must appear.
set -u

top=${top_builddir:-.}
# shellcheck source=tests/ar_test_lib.sh
. "${top_srcdir:-.}/tests/ar_test_lib.sh"
lib=$(cd "$top/src/.libs" 2>/dev/null && pwd)/libarheap-preload.so
if [ ! -f "$lib" ]; then
    echo "real_programs: no preload library at $lib" >&2
    exit 1
fi

if ar_sanitized "$lib"; then
    echo "real_programs: SKIP: the library is built with a sanitizer"
    exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/arheap-real.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

# Inputs: some lines of text, and a small directory tree for tar.
i=0
while [ $i -lt 400 ]; do
    echo "line $((i * 7919 % 1000)) of the input, field$((i % 13)) alpha beta"
    i=$((i + 1))
done > "$work/input.txt"
mkdir -p "$work/tree/sub"
cp "$work/input.txt" "$work/tree/a.txt"
echo "small" > "$work/tree/sub/b.txt"

# name|command (run by sh -c in $work; stdout is compared)
programs='sort|sort -t, -k1 input.txt
sed|sed -e "s/alpha/ALPHA/g" -e "/field3 /d" input.txt
grep|grep -n -E "line [0-9]*7 " input.txt
python3|python3 -c "import json, re, hashlib, collections; c = collections.Counter(re.findall(r\"field[0-9]+\", open(\"input.txt\").read())); print(json.dumps(sorted(c.items()))); print(hashlib.sha256(b\"arheap\").hexdigest())"
tar|tar --sort=name --mtime=2000-01-01 --owner=0 --group=0 --numeric-owner -cf - tree | tar -tvf -
gcc|gcc --version'

modes='debug|leak_report=0
guard|guard=1:leak_report=0'

passed=0
failed=0
present=0
n=0
echo "$programs" > "$work/programs"
while IFS='|' read -r name command; do
    program=${command%% *}
    if ! command -v "$program" >/dev/null 2>&1; then
        echo "ok - $name # SKIP not installed"
        continue
    fi
    present=$((present + 1))
    (cd "$work" && sh -c "$command") > "$work/expected.out" 2> "$work/expected.err"
    expected_status=$?
    echo "$modes" | while IFS='|' read -r mode options; do
        n=$((n + 1))
        (cd "$work" && LD_PRELOAD=$lib AR_HEAP_OPTIONS=$options sh -c "$command") \
            > "$work/got.out" 2> "$work/got.err"
        status=$?
        why=""
        [ "$status" -eq "$expected_status" ] || why="exit status $status, expected $expected_status"
        cmp -s "$work/expected.out" "$work/got.out" || why="${why:+$why; }output differs"
        cmp -s "$work/expected.err" "$work/got.err" || why="${why:+$why; }stderr differs"
        if [ -z "$why" ]; then
            echo "ok - $name in $mode mode"
            echo pass >> "$work/tally"
        else
            echo "not ok - $name in $mode mode: $why"
            diff "$work/expected.out" "$work/got.out" | head -20
            cat "$work/got.err" | head -40
            echo fail >> "$work/tally"
        fi
    done
    # Proof of presence: the library initialised inside the program itself
    # (not only in the shell around it).
    LD_PRELOAD=$lib AR_HEAP_OPTIONS=help=1 "$program" --version > /dev/null 2> "$work/help.err"
    if grep -q "^arheap options" "$work/help.err"; then
        echo "ok - $name ran with the library loaded"
        echo pass >> "$work/tally"
    else
        echo "not ok - $name: AR_HEAP_OPTIONS=help=1 printed no option list"
        echo fail >> "$work/tally"
    fi
done < "$work/programs"

if [ "$present" -eq 0 ]; then
    echo "real_programs: none of the programs is installed"
    exit 77
fi
passed=$(grep -c pass "$work/tally" 2>/dev/null || true)
failed=$(grep -c fail "$work/tally" 2>/dev/null || true)
# "N of M ... passed": the line tests/check-both-modes.sh counts cases by.
echo "${passed:-0} of $((${passed:-0} + ${failed:-0})) real-program checks passed"
[ "${failed:-0}" -eq 0 ]
