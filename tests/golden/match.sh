#!/bin/sh
# match.sh: compare a program's output with a golden file, line by line,
# in the spirit of LLVM's FileCheck.
#
#     match.sh EXPECTED ACTUAL
#
# EXPECTED holds one line for each line of ACTUAL, in order, and each must
# match its line whole:
#
#   - text is literal, except that {{RE}} is a POSIX extended regular
#     expression (awk's) for the variable part of the line: an address
#     0x{{[0-9a-f]+}}, a pid {{[0-9]+}}, a path {{.*}}. RE ends at the first
#     "}}" after "{{". Interval expressions (RE{n}) are not used: some awks
#     (mawk) do not know them;
#   - a line that is exactly {{...}} stands for any number of lines, none
#     included, up to the first line that matches the expected line after
#     it (or the end of the output, when it is the last);
#   - a line that starts with "##" is a comment, and matches nothing.
#
# The output must end where EXPECTED ends (unless its last line is
# {{...}}). On a mismatch match.sh writes the golden's file:line, the
# expected line, the actual line and its number, then the whole output
# numbered, and exits 1. It exits 0 on a match, 2 on bad usage (a missing
# file, an unterminated {{).
set -u

if [ $# -ne 2 ]; then
    echo "usage: match.sh EXPECTED ACTUAL" >&2
    exit 2
fi
for f in "$1" "$2"; do
    if [ ! -r "$f" ]; then
        echo "match.sh: cannot read '$f'" >&2
        exit 2
    fi
done

# The file names go in through the environment: awk -v would interpret
# backslashes in them.
GOLDEN_EXPECTED=$1 GOLDEN_ACTUAL=$2 exec awk '
# The regular expression of one expected line, anchored at both ends.
function pattern(line, where,    re, lb, rb, literal, i, c) {
    re = "^"
    for (;;) {
        lb = index(line, "{{")
        literal = lb > 0 ? substr(line, 1, lb - 1) : line
        for (i = 1; i <= length(literal); i++) {
            c = substr(literal, i, 1)
            if (c ~ /[A-Za-z0-9 ]/)
                re = re c
            else if (c == "\\")
                re = re "\\\\"
            else if (c == "^")
                re = re "\\^"
            else
                re = re "[" c "]"
        }
        if (lb == 0)
            break
        line = substr(line, lb + 2)
        rb = index(line, "}}")
        if (rb == 0) {
            printf "%s: unterminated {{ in the expected line\n", where > "/dev/stderr"
            exit 2
        }
        re = re "(" substr(line, 1, rb - 1) ")"
        line = substr(line, rb + 2)
    }
    return re "$"
}

function show_actual(mark,    i) {
    printf "--- the actual output (%s), %d lines:\n", actual_name, nact
    for (i = 1; i <= nact; i++)
        printf "%s%4d| %s\n", (i == mark ? ">" : " "), i, act[i]
    printf "---\n"
}

function mismatch(e, a, what) {
    printf "%s:%d: %s\n", expected_name, eline[e], what
    printf "  expected: %s\n", want[e]
    if (a <= nact)
        printf "  actual line %d: %s\n", a, act[a]
    else
        printf "  actual: the output ends after line %d\n", nact
    show_actual(a)
    exit 1
}

BEGIN {
    expected_name = ENVIRON["GOLDEN_EXPECTED"]
    actual_name = ENVIRON["GOLDEN_ACTUAL"]
    nexp = 0
    n = 0
    while ((r = (getline line < expected_name)) > 0) {
        n++
        if (substr(line, 1, 2) == "##")
            continue
        want[++nexp] = line
        eline[nexp] = n
        skip[nexp] = line == "{{...}}"
        if (!skip[nexp])
            rx[nexp] = pattern(line, expected_name ":" n)
    }
    if (r < 0) {
        printf "match.sh: cannot read %s\n", expected_name > "/dev/stderr"
        exit 2
    }
    nact = 0
    while ((r = (getline line < actual_name)) > 0)
        act[++nact] = line
    if (r < 0) {
        printf "match.sh: cannot read %s\n", actual_name > "/dev/stderr"
        exit 2
    }

    a = 1
    for (e = 1; e <= nexp; e++) {
        if (skip[e]) {
            if (e == nexp) {
                a = nact + 1
                break
            }
            # Lazily: up to the first line that matches the next one.
            e++
            if (skip[e])
                continue
            from = a
            while (a <= nact && act[a] !~ rx[e])
                a++
            if (a > nact) {
                printf "%s:%d: no line from actual line %d on matches\n", expected_name, eline[e], from
                printf "  expected: %s\n", want[e]
                show_actual(from)
                exit 1
            }
            a++
            continue
        }
        if (a > nact)
            mismatch(e, a, "the output ended before this expected line")
        if (act[a] !~ rx[e])
            mismatch(e, a, "this expected line does not match")
        a++
    }
    if (a <= nact) {
        printf "%s: the output goes on after the last expected line\n", expected_name
        printf "  actual line %d: %s\n", a, act[a]
        show_actual(a)
        exit 1
    }
    exit 0
}'
