#!/bin/sh
# check-both-modes.sh: the whole test suite, in both configurations.
#
# Builds arheap twice out of tree, under _build/debug (--enable-debug-heap)
# and _build/release (the default), runs `make check` in each, then
# `make distcheck` once, and ends with one line "N passed, N failed" that
# counts every Check test case, every case of the scripts that count their
# own ("N of M ... passed"), and every other test program as one.
#
# Usage: sh tests/check-both-modes.sh      (from the top of the source tree)
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
jobs=$(nproc 2>/dev/null || echo 2)

if [ ! -x ./configure ]; then
    echo "== bootstrap (autoreconf)"
    ./bootstrap || exit 2
fi
if [ -f ./config.status ]; then
    # Out-of-tree builds refuse a configured source tree.
    echo "== the source tree is configured in place: make distclean first"
    make distclean >/dev/null || exit 2
fi

passed=0
failed=0
status=0
began=$(date +%s)
stage_began=$began

# took STAGE: say how long STAGE took, and the whole run so far, so that
# CI's log shows where its time goes.
took() {
    now=$(date +%s)
    echo "== $1: $((now - stage_began)) s ($((now - began)) s in all)"
    stage_began=$now
}

# count DIR: add the results of the test logs under DIR/tests (and its
# subdirectories: tests/preload, tests/override, ...) to the totals.
count() {
    for trs in $(find "$1/tests" -name '*.trs' | sort); do
        log=${trs%.trs}.log
        checks=$(sed -n 's/^[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\)$/\1 \2 \3/p' "$log" | tail -n 1)
        if [ -n "$checks" ]; then
            # shellcheck disable=SC2086 # split "N F E" into three words
            set -- $checks
            passed=$((passed + $1 - $2 - $3))
            failed=$((failed + $2 + $3))
        elif cases=$(sed -n 's/^\([0-9]*\) of \([0-9]*\) .* passed$/\1 \2/p' "$log" | tail -n 1) &&
             [ -n "$cases" ]; then
            # A script that counts its own cases: "N of M ... passed".
            # shellcheck disable=SC2086 # split "N M" into two words
            set -- $cases
            passed=$((passed + $1))
            failed=$((failed + $2 - $1))
        else
            case $(sed -n 's/^:test-result: //p' "$trs") in
                PASS|XFAIL) passed=$((passed + 1)) ;;
                SKIP) ;;
                *) failed=$((failed + 1)) ;;
            esac
        fi
    done
}

for mode in debug release; do
    dir=_build/$mode
    flags=
    [ "$mode" = debug ] && flags=--enable-debug-heap
    echo "== $mode: configure $flags"
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! (cd "$dir" && "$top/configure" $flags >configure.out 2>&1); then
        cat "$dir/configure.out"
        echo "== $mode: configure failed"
        failed=$((failed + 1))
        status=1
        continue
    fi
    sed -n '/configuration summary/,$p' "$dir/configure.out"
    echo "== $mode: make check"
    if ! (cd "$dir" && make -j"$jobs" check); then
        status=1
        for log in $(find "$dir/tests" -name '*.log' ! -name test-suite.log | sort); do
            if grep -q '^FAIL\|^ERROR\|:F:\|:E:' "$log" 2>/dev/null; then
                echo "---- $log"
                cat "$log"
            fi
        done
    fi
    count "$dir"
    took "$mode: configure and make check"
done

echo "== debug: make check-valgrind"
(cd _build/debug && make check-valgrind) >_build/debug/check-valgrind.out 2>&1
v=$?
grep '^check-valgrind:\|^ok\|^not ok\|^skip\|^SKIP' _build/debug/check-valgrind.out
c=$(sed -n 's/^check-valgrind: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' _build/debug/check-valgrind.out)
if [ -n "$c" ]; then
    # shellcheck disable=SC2086 # split "P F" into two words
    set -- $c
    passed=$((passed + $1))
    failed=$((failed + $2))
else
    failed=$((failed + 1))
fi
if [ $v -ne 0 ]; then
    status=1
    tail -n 80 _build/debug/check-valgrind.out
fi
took "debug: make check-valgrind"

# The fuzzers' committed seeds, replayed (fuzz/fuzz.am, fuzz-replay):
# one test each. They need clang's libFuzzer; without it, skipped.
echo "== debug: make fuzz-replay"
probe=_build/debug/fuzz-probe
if printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
    clang -x c -fsanitize=fuzzer,address -o "$probe" - >/dev/null 2>&1; then
    if (cd _build/debug && make fuzz-replay) >_build/debug/fuzz-replay.out 2>&1; then
        grep '^Done [0-9]* runs' _build/debug/fuzz-replay.out
        passed=$((passed + 2))
    else
        tail -n 60 _build/debug/fuzz-replay.out
        echo "== make fuzz-replay failed"
        failed=$((failed + 1))
        status=1
    fi
else
    echo "skipped: clang can not link -fsanitize=fuzzer (libclang-rt-dev)"
fi
rm -f "$probe"
took "debug: make fuzz-replay"

echo "== debug: make distcheck"
if (cd _build/debug && make -j"$jobs" distcheck >distcheck.out 2>&1); then
    grep -A2 'archives ready for distribution' _build/debug/distcheck.out
    passed=$((passed + 1))
else
    tail -n 60 _build/debug/distcheck.out
    echo "== make distcheck failed"
    failed=$((failed + 1))
    status=1
fi
took "debug: make distcheck"

[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
