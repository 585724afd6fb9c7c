#!/bin/sh
# match_test.sh: the golden matcher (tests/golden/match.sh) itself. Each
# case writes a golden and an output, runs the matcher, and checks its
# exit status (0 match, 1 mismatch, 2 bad usage) and, for a mismatch, the
# words of its diagnostic. Goldens that must fail, do: a report with one
# source line changed, a regex character taken literally, a line too many
# or too few.
#
# Environment: top_srcdir (set by make check).
set -u
top_srcdir=${top_srcdir:-.}
# shellcheck source=tests/ar_test_lib.sh
. "$top_srcdir/tests/ar_test_lib.sh"
match=$top_srcdir/tests/golden/match.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/arheap-match.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

# expect NAME STATUS [WORDS...]: match.sh on $work/golden and $work/actual
# exits STATUS, and its output holds each of WORDS.
expect() {
    name=$1
    want=$2
    shift 2
    sh "$match" "$work/golden" "$work/actual" >"$work/out" 2>&1
    got=$?
    if [ "$got" != "$want" ]; then
        fail "$name: exit status $got, not $want"
        sed 's/^/    /' "$work/out"
        return
    fi
    for words in "$@"; do
        if ! grep -qF -- "$words" "$work/out"; then
            fail "$name: the diagnostic lacks \"$words\""
            sed 's/^/    /' "$work/out"
            return
        fi
    done
    pass "$name"
}

golden() { cat >"$work/golden"; }
actual() { cat >"$work/actual"; }

# ---------------------------------------------------------------- matches
golden <<'EOF'
arheap: ERROR: double-free of 0x{{[0-9a-f]+}} (pid {{[0-9]+}})
  free at {{(.*/)?}}tests/golden/double_free.c:7 in thread {{[0-9]+}}
EOF
actual <<'EOF'
arheap: ERROR: double-free of 0x7f91f3fd0010 (pid 6912)
  free at ../../tests/golden/double_free.c:7 in thread 6912
EOF
expect "patterns match addresses, pids and paths" 0

actual <<'EOF'
arheap: ERROR: double-free of 0x7f91f3fd0010 (pid 6912)
  free at tests/golden/double_free.c:7 in thread 6912
EOF
expect "an optional pattern matches nothing" 0

golden <<'EOF'
## a comment: matches nothing
a.b [c] (d) e* f+ g? ^h $i \j {k} |l /m
EOF
actual <<'EOF'
a.b [c] (d) e* f+ g? ^h $i \j {k} |l /m
EOF
expect "regex characters outside {{ }} are literal" 0

golden <<'EOF'
first
{{...}}
last
EOF
actual <<'EOF'
first
last
EOF
expect "{{...}} stands for no line" 0

actual <<'EOF'
first
one
two
last
EOF
expect "{{...}} stands for several lines" 0

golden <<'EOF'
first
{{...}}
EOF
actual <<'EOF'
first
and the rest
of the output
EOF
expect "a last {{...}} takes the rest of the output" 0

golden <<'EOF'
{"site":{"file":"x.c","line":{{[0-9]+}},"thread":{{[0-9]+}}}}
EOF
actual <<'EOF'
{"site":{"file":"x.c","line":7,"thread":42}}
EOF
expect "a pattern ends at the first }} (JSON's braces after it)" 0

# ---------------------------------------------------------------- mismatches
golden <<'EOF'
a.b
EOF
actual <<'EOF'
axb
EOF
expect "a literal . does not match any character" 1 "expected: a.b" "actual line 1: axb"

golden <<'EOF'
block at 0x{{[0-9a-f]+}}
EOF
actual <<'EOF'
block at 0x12zz
EOF
expect "a pattern matches the whole line, not a prefix" 1 "actual line 1: block at 0x12zz"

golden <<'EOF'
one
two
three
EOF
actual <<'EOF'
one
two
four
EOF
expect "a changed line is named with both line numbers" 1 "golden:3: this expected line does not match" \
    "expected: three" "actual line 3: four" ">   3| four"

actual <<'EOF'
one
two
EOF
expect "an output too short fails" 1 "golden:3: the output ended before this expected line" \
    "the output ends after line 2"

actual <<'EOF'
one
two
three
four
EOF
expect "an output too long fails" 1 "the output goes on after the last expected line" \
    "actual line 4: four"

golden <<'EOF'
first
{{...}}
last
EOF
actual <<'EOF'
first
one
two
EOF
expect "{{...}} fails when no line matches the next expected one" 1 \
    "golden:3: no line from actual line 2 on matches" "expected: last"

# A real golden: it matches a real report, and no longer when the report
# names another line.
cp "$top_srcdir/tests/golden/expected/double-free.linked.txt" "$work/golden" || exit 1
actual <<'EOF'
=================================================================
arheap: ERROR: double-free of 0x7f91f3fd0010 (pid 6912)
  free at ../../tests/golden/double_free.c:7 in thread 6912
  block: 64 bytes "scratch buffer" at 0x7f91f3fd0010
  allocated at ../../tests/golden/double_free.c:12 (allocation #1, thread 6912)
  freed at ../../tests/golden/double_free.c:7 (thread 6912)
SUMMARY: arheap: double-free at ../../tests/golden/double_free.c:7
=================================================================
EOF
expect "the double-free golden matches its report" 0
sed 's/double_free.c:12/double_free.c:13/' "$work/actual" >"$work/changed" && mv "$work/changed" "$work/actual"
expect "the double-free golden fails on a report naming another line" 1 \
    "golden:5: this expected line does not match" \
    "actual line 5:   allocated at ../../tests/golden/double_free.c:13"

# ---------------------------------------------------------------- bad usage
golden <<'EOF'
an {{unterminated pattern
EOF
actual <<'EOF'
an unterminated pattern
EOF
expect "an unterminated {{ is bad usage" 2 "unterminated {{"

rm -f "$work/actual"
expect "a missing file is bad usage" 2 "cannot read"

echo "$((cases - failures)) of $cases matcher checks passed"
[ "$failures" -eq 0 ]
