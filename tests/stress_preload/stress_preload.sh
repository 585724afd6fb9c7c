#!/bin/sh
# stress_preload.sh: tests/stress_preload/stress_preload, an ordinary
# multi-threaded program built without arheap, run under
# LD_PRELOAD=libarheap-preload.so twice: in the preload library's default
# (debug) mode and with AR_HEAP_OPTIONS=guard=1.
#
#     stress_preload.sh [OPS [GUARD_OPS [PROGRAM FLAGS...]]]
#
# `make stress` passes 4000000 and 1000000 (STRESS_PRELOAD_OPS,
# STRESS_PRELOAD_GUARD_OPS); `make check` runs it without arguments:
# 160000 and 40000 operations. The program gets --arheap, so it also checks
# that malloc is the preload library's and that the blocks behave as
# arheap's do (fill bytes, exact malloc_usable_size, realloc moves).
#
# A run passes when the program exits 0 (an arheap report would have
# aborted it: on_error=abort is the default), its last line is
# "stress_preload: PASS: ... under arheap", and arheap's leak report,
# written at exit to a file, exists and names no block allocated by the
# program itself: every block the program made was freed and seen freed.
# (glibc's own blocks that outlive main, the stdout buffer and thread
# bookkeeping, are listed there too, with sites in libc and ld.so.)
set -u

top=${top_builddir:-.}
ops=${1:-160000}
guard_ops=${2:-40000}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
flags="$*"

lib=$(cd "$top/src/.libs" 2>/dev/null && pwd)/libarheap-preload.so
prog=$top/tests/stress_preload/stress_preload
if [ ! -f "$lib" ]; then
    echo "stress_preload: no preload library at $lib" >&2
    exit 1
fi
if [ ! -x "$prog" ]; then
    echo "stress_preload: $prog is not built" >&2
    exit 1
fi
# A sanitizer's runtime must own malloc: a sanitized build's preload
# library can not go under a plain program.
if ldd "$lib" 2>/dev/null | grep -qE 'lib(asan|tsan|ubsan)'; then
    echo "stress_preload: SKIP: the library is built with a sanitizer"
    exit 77
fi

"$prog" --can-run
case $? in
0) ;;
77) exit 77 ;;
*) echo "stress_preload: $prog --can-run failed" >&2; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/arheap-stress-preload.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

start=$(date +%s)
failed=0

# run MODE OPS [OPTIONS]
run() {
    mode=$1
    n=$2
    options=${3:-}
    report=$work/$mode-leaks.log
    # shellcheck disable=SC2086 # $flags: words for the program
    LD_PRELOAD=$lib AR_HEAP_OPTIONS="leak_report=1:report_path=$report${options:+:$options}" \
        "$prog" --arheap --ops "$n" $flags > "$work/$mode.out" 2> "$work/$mode.err"
    status=$?
    why=""
    [ "$status" -eq 0 ] || why="exit status $status"
    tail -n 1 "$work/$mode.out" | grep -q '^stress_preload: PASS: .* under arheap$' ||
        why="${why:+$why; }no PASS line"
    if [ ! -f "$report" ] || ! grep -q '^live blocks:' "$report"; then
        why="${why:+$why; }arheap wrote no leak report at exit"
    elif grep -F "stress_preload+0x" "$report" > "$work/own-leaks"; then
        why="${why:+$why; }blocks the program allocated were live at exit"
    fi
    if [ -z "$why" ]; then
        printf '%-8s %s\n' "$mode" "$(tail -n 1 "$work/$mode.out")"
    else
        echo "stress_preload: $mode mode FAILED: $why"
        echo "--- stdout"
        tail -n 20 "$work/$mode.out"
        echo "--- stderr"
        tail -n 40 "$work/$mode.err"
        if [ -s "$work/own-leaks" ]; then
            echo "--- the program's blocks left live"
            head -n 20 "$work/own-leaks"
        fi
        failed=$((failed + 1))
    fi
}

run default "$ops"
run guard "$guard_ops" guard=1

end=$(date +%s)
if [ "$failed" -ne 0 ]; then
    echo "stress_preload: FAILED in $((end - start)) s"
    exit 1
fi
echo "stress_preload: both modes passed in $((end - start)) s"
exit 0
