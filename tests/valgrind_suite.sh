#!/bin/sh
# valgrind_suite.sh: one test program of make check-valgrind under
# Memcheck (tests/valgrind.am runs several of these at once).
#
# Usage: valgrind_suite.sh PROGRAM     (from the build directory)
#
# Environment, from the make rule: LIBTOOL, AR_VALGRIND (valgrind's path),
# AR_VALGRIND_FLAGS, AR_VALGRIND_LOGS (the logs' folder).
#
# Runs PROGRAM under Memcheck with AR_HEAP_TEST_VALGRIND=1, following the
# processes it forks, one Memcheck log per process. Writes two files for
# the rule to gather, in the order it chooses:
#   LOGS/NAME.result   "PASSED FAILED": a Check suite's test cases, or 1
#                      for any other program (0 0 when it skipped, exit
#                      77), plus one failure per process log that holds a
#                      Memcheck error
#   LOGS/NAME.summary  what to print: the suite's line, its skips, and on
#                      failure its failing cases and the offending logs
set -u
t=$1
logs=$AR_VALGRIND_LOGS
name=${t##*/}
summary=$logs/$name.summary

t0=$(date +%s)
# shellcheck disable=SC2086 # AR_VALGRIND_FLAGS is a list of flags
AR_HEAP_TEST_VALGRIND=1 CK_TIMEOUT_MULTIPLIER=20 \
    $LIBTOOL --mode=execute "$AR_VALGRIND" $AR_VALGRIND_FLAGS \
    --log-file="$logs/$name.%p.log" "./$t" >"$logs/$name.out" 2>&1
rc=$?
took=$(($(date +%s) - t0))

passed=0
failed=0
line=$(grep -E '^[0-9]+%: Checks: ' "$logs/$name.out" | tail -n 1)
checks=$(echo "$line" |
    sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\)$/\1 \2 \3/p')
if [ -n "$checks" ]; then
    # shellcheck disable=SC2086 # split "N F E" into three words
    set -- $checks
    passed=$(($1 - $2 - $3))
    failed=$(($2 + $3))
elif [ $rc -eq 0 ]; then
    passed=1
elif [ $rc -ne 77 ]; then
    failed=1
fi
bad=$(grep -l 'ERROR SUMMARY: [1-9]' "$logs/$name".[0-9]*.log 2>/dev/null)
processes=$(ls "$logs/$name".[0-9]*.log 2>/dev/null | wc -l)
{
    echo "check-valgrind: $name: ${line:-exit $rc}; $processes processes," \
        "$(echo $bad | wc -w) with Memcheck errors (${took}s)"
    grep -h '^SKIP under Valgrind: ' "$logs/$name.out" | sed 's/^/check-valgrind:   /'
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        grep -E ':[FE]:' "$logs/$name.out" | head -n 20
        [ -n "$checks" ] || tail -n 20 "$logs/$name.out"
    fi
    for log in $bad; do
        echo "---- $log"
        cat "$log"
        failed=$((failed + 1))
    done
    echo "$passed $failed" >"$logs/$name.result"
} >"$summary"
