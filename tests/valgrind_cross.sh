#!/bin/sh
# tests/valgrind_cross.sh: arheap and Valgrind's Memcheck must agree.
#
# Each program in tests/valgrind_cross/ has one memory bug, or none. It is
# run twice:
#   (a) directly, built against the debug arheap: the class of arheap's
#       first report ("arheap: ERROR: <kind>", or "arheap: LEAK:");
#   (b) under Memcheck: the class of Memcheck's first error (or its
#       "definitely lost" record), from its log file.
# Both must name the class the program was written to have ("clean" when
# neither says anything), and Memcheck's report must name the program's
# allocation site (the line marked ALLOC-SITE) as where the block came from.
#
# Which binary Memcheck runs, per class:
#   - overflow, underflow, read and write after free: the debug build, with
#     the client requests of src/valgrind.h. This is the comparison that
#     means something: without them Memcheck sees a write into a canary as
#     a write into memory the program owns (the libc block holds the
#     canaries) and a quarantined block as live, and would say nothing.
#     read_after_free runs with guard=1 on both sides: arheap sees reads
#     only through guard pages (a canary or the poison can not change
#     when read).
#   - double free, invalid free, leak: the same source built with
#     -DAR_HEAP_DISABLE, straight libc. In the debug build such a free never
#     reaches libc (arheap reports it and stops), and a leaked block stays
#     reachable from arheap's records, so Memcheck has nothing to see there
#     by design; what is compared is arheap's verdict with Memcheck's on
#     the program's own malloc/free.
#   - clean programs: the debug build, with client requests: heavy
#     realloc/strdup/calloc, and four threads freeing each other's blocks,
#     must give no Memcheck error and no arheap report.
#
# Every case also fails when any Memcheck error has a frame in arheap's
# own code (a function ar_heap_*) on its stack: the checker must never be
# the one making a bad access, whatever the program does.
#
# Then double free, invalid free and leak once more, the DEBUG build under
# Memcheck (with on_error=continue, so that the program and arheap's exit
# checks run to the end under Memcheck too). Asserted:
#   - arheap reports the bug, under Memcheck, with its own text: the class
#     ("arheap: ERROR: double-free", "invalid-free", "arheap: LEAK:") and
#     the program's line (the BUG line for a free, ALLOC-SITE for a leak);
#   - Memcheck either names the same class or is silent ("ERROR SUMMARY:
#     0 errors"), and it is silent here: arheap intercepted the free
#     before libc saw it, and the leaked block is still reachable from
#     arheap's records ("still reachable", no error);
#   - no Memcheck error at all in arheap's frames (above).
# So the two tools agree on the libc build, and on the debug build
# Memcheck sees nothing wrong in arheap while arheap does the reporting.
#
# One more case is not a comparison: uninit_read decides on bytes nobody
# wrote (after MALLOC, and after a REALLOC grew the block). arheap can not
# see reads and fills such bytes with 0xbe, so it must stay silent, while
# Memcheck must report both decisions at their lines: proof that the fill
# does not hide them (src/valgrind.h marks filled bytes undefined).
#
# Environment (set by make check-valgrind): LIBTOOL, AR_VALGRIND,
# top_builddir, AR_VALGRIND_LOGS, AR_HEAP_CONFIG_DEBUG (1: debug library)
# and AR_HEAP_CLIENT_REQUESTS (yes: built with <valgrind/memcheck.h>;
# without them the four cases that need them are skipped, saying so).
# Exit 77 (skip) without valgrind or with a release library; 0 when every
# case agrees. Prints one "ok N - ..." or "not ok N - ..." line a case and
# ends with "N of M valgrind cross-check cases passed" (13 cases; skipped
# ones are not counted). Takes about 15 s.
set -u

AR_VALGRIND=${AR_VALGRIND:-$(command -v valgrind 2>/dev/null)}
if [ -z "$AR_VALGRIND" ] || [ ! -x "$AR_VALGRIND" ]; then
    echo "SKIP: valgrind not found"
    exit 77
fi
if [ "${AR_HEAP_CONFIG_DEBUG:-1}" != 1 ]; then
    echo "SKIP: release library: the AR__HEAP__* macros are libc, there is no arheap report to compare"
    exit 77
fi
requests=${AR_HEAP_CLIENT_REQUESTS:-yes}
top_builddir=${top_builddir:-.}
LIBTOOL=${LIBTOOL:-$top_builddir/libtool}
logs=${AR_VALGRIND_LOGS:-tests/valgrind-logs}
mkdir -p "$logs" || exit 2
bin=$top_builddir/tests/valgrind_cross
src=$(cd "$(dirname "$0")" && pwd)/valgrind_cross
work=$(mktemp -d "${TMPDIR:-/tmp}/arheap-cross.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
# The buggy programs abort: no core files (dash and bash have ulimit -c).
# shellcheck disable=SC3045
ulimit -c 0 2>/dev/null
run_limit() {
    if command -v timeout >/dev/null 2>&1; then timeout 300 "$@"; else "$@"; fi
}

# arheap_class FILE STATUS: the class of arheap's first report in FILE.
arheap_class() {
    first=$(grep -m 1 -E '^arheap: (ERROR: [a-z-]+|LEAK:)' "$1")
    case $first in
        *"ERROR: heap-buffer-overflow"*) echo overflow ;;
        *"ERROR: heap-buffer-underflow"*) echo underflow ;;
        *"ERROR: heap-use-after-free"*)
            if grep -q 'written after the block was freed' "$1"; then echo write-after-free
            elif grep -q '^  READ at' "$1"; then echo read-after-free
            elif grep -q '^  WRITE at' "$1"; then echo write-after-free
            else echo use-after-free; fi ;;
        *"ERROR: double-free"*) echo double-free ;;
        *"ERROR: invalid-free"*) echo invalid-free ;;
        *"LEAK:"*) echo leak ;;
        "") if [ "$2" -eq 0 ]; then echo clean; else echo "exit-$2"; fi ;;
        *) echo "other(${first#arheap: })" ;;
    esac
}

# memcheck_class LOG: the class of Memcheck's first error in LOG; its
# header and address lines go to $work/first.
memcheck_class() {
    sed 's/^==[0-9]*== //' "$1" >"$work/log"
    awk 'done { next }
         /^(Invalid (read|write) of size|Invalid free\(\)|Mismatched free|Conditional jump|Use of uninitialised|Syscall param)/ {
             on = 1 }
         on && $0 == "" { done = 1; next }
         on { print }' "$work/log" >"$work/first"
    head=$(sed -n 1p "$work/first")
    addr=$(grep -m 1 '^ *Address 0x' "$work/first")
    case $head in
        "Invalid write of size"*|"Invalid read of size"*)
            case $head in *write*) op="write" ;; *) op="read" ;; esac
            case $addr in
                *"after a block"*) [ $op = write ] && echo overflow || echo overflow-read ;;
                *"before a block"*) [ $op = write ] && echo underflow || echo underflow-read ;;
                *"free'd"*|*"recently re-allocated block"*) echo "$op-after-free" ;;
                *) echo "invalid-$op" ;;
            esac ;;
        "Invalid free()"*)
            case $addr in *"free'd"*) echo double-free ;; *) echo invalid-free ;; esac ;;
        "") if grep -q 'definitely lost in loss record' "$work/log"; then echo leak
            elif grep -q 'ERROR SUMMARY: 0 errors' "$work/log"; then echo clean
            else echo no-summary; fi ;;
        *) echo "other($head)" ;;
    esac
}

# arheap_frames: Memcheck errors in $work/log (the log without its ==pid==
# prefixes) with a frame in arheap's own code on the error's stack (the
# lines after the error's header, up to its "Address" line or a blank
# line): one "header: frame" line each.
arheap_frames() {
    awk '/^(Invalid (read|write) of size|Invalid free\(\)|Mismatched free|Conditional jump|Use of uninitialised|Syscall param|Source and destination overlap|Argument .* of function|Invalid alignment|Memcheck: )/ {
             header = $0; on = 1; next }
         on && ($0 == "" || $0 ~ /^ *Address 0x/ || $0 ~ /^ *Uninitialised value was created/) {
             on = 0; next }
         on && $0 ~ /^ *(at|by) 0x[0-9A-Fa-f]*: ar_heap_/ { print header ": " $0; on = 0 }' "$work/log"
}

total=0
passed=0
# check NAME CLASS OPTIONS MEMCHECK_BINARY: run one case, both ways.
check() {
    name=$1 want=$2 options=$3 vgbin=$4
    if [ "$requests" != yes ] && [ "$vgbin" = "$name" ] && [ "$want" != clean ]; then
        echo "skip - $name: arheap built without Valgrind client requests (configure --with-valgrind)"
        return
    fi
    total=$((total + 1))
    t0=$(date +%s)
    site=$(grep -n 'ALLOC-SITE' "$src/$name.c" | cut -d: -f1)
    AR_HEAP_OPTIONS="report_path=:$options" run_limit "$bin/$name" \
        >"$logs/cross-$name.arheap" 2>&1
    status=$?
    got_arheap=$(arheap_class "$logs/cross-$name.arheap" "$status")
    log=$logs/cross-$name.memcheck.log
    # shellcheck disable=SC2086 # LIBTOOL is "$(SHELL) .../libtool"
    AR_HEAP_OPTIONS="report_path=:$options" \
        run_limit $LIBTOOL --mode=execute "$AR_VALGRIND" --tool=memcheck --num-callers=24 \
        --leak-check=full --log-file="$log" "$bin/$vgbin" \
        >"$logs/cross-$name.memcheck.out" 2>&1
    got_memcheck=$(memcheck_class "$log")
    why=
    [ "$got_arheap" = "$want" ] || why="$why arheap said $got_arheap;"
    [ "$got_memcheck" = "$want" ] || why="$why Memcheck said $got_memcheck;"
    # Memcheck names the allocation at the program's own line.
    if [ "$want" = leak ]; then
        grep -A 12 'definitely lost' "$work/log" | grep -q "$name.c:$site" ||
            why="$why Memcheck's leak record lacks $name.c:$site;"
    elif [ "$want" != clean ]; then
        grep -q "$name.c:$site" "$work/first" ||
            why="$why Memcheck's report lacks the allocation at $name.c:$site;"
    fi
    internal=$(arheap_frames)
    [ -z "$internal" ] || why="$why Memcheck found errors in arheap's own code: $internal;"
    described=$(grep -m 1 '^ *Address 0x' "$work/first" | sed 's/^ *Address 0x[0-9a-f]* is //')
    [ -n "$described" ] && described=" ($described)"
    secs=$(($(date +%s) - t0))
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        echo "ok $total - $name: arheap $got_arheap, Memcheck $got_memcheck$described [$vgbin, ${secs}s]"
    else
        echo "not ok $total - $name: expected $want:$why [$vgbin, ${secs}s]"
        echo "---- arheap ($logs/cross-$name.arheap):"
        cat "$logs/cross-$name.arheap"
        echo "---- Memcheck ($log):"
        cat "$log"
    fi
}

check overflow overflow "" overflow
check underflow underflow "" underflow
check read_after_free read-after-free "guard=1" read_after_free
check write_after_free write-after-free "" write_after_free
check double_free double-free "" double_free_libc
check invalid_free invalid-free "" invalid_free_libc
check leak leak "" leak_libc
check clean_realloc clean "" clean_realloc
check clean_threads clean "" clean_threads

# check_debug NAME CLASS MARK: the debug build of NAME under Memcheck, with
# on_error=continue. arheap must report CLASS with the program's line
# marked MARK (BUG or ALLOC-SITE) in its text; Memcheck must name CLASS
# too or be silent, and find nothing in arheap's own frames.
check_debug() {
    name=$1 want=$2 mark=$3
    total=$((total + 1))
    t0=$(date +%s)
    line=$(grep -n "$mark" "$src/$name.c" | head -n 1 | cut -d: -f1)
    log=$logs/cross-$name-debug.memcheck.log
    out=$logs/cross-$name-debug.memcheck.out
    # shellcheck disable=SC2086 # LIBTOOL is "$(SHELL) .../libtool"
    AR_HEAP_OPTIONS="report_path=:on_error=continue" \
        run_limit $LIBTOOL --mode=execute "$AR_VALGRIND" --tool=memcheck --num-callers=24 \
        --leak-check=full --log-file="$log" "$bin/$name" >"$out" 2>&1
    status=$?
    got_arheap=$(arheap_class "$out" "$status")
    got_memcheck=$(memcheck_class "$log")
    why=
    # on_error=continue: the run ends normally; a leak makes it exit 23
    # (leak_exitcode's default).
    want_status=0
    [ "$want" = leak ] && want_status=23
    [ "$status" -eq "$want_status" ] ||
        why="$why exit $status, not $want_status (on_error=continue);"
    [ "$got_arheap" = "$want" ] || why="$why arheap said $got_arheap under Memcheck;"
    grep -q "$name.c:$line" "$out" || why="$why arheap's report lacks $name.c:$line ($mark);"
    case $got_memcheck in
        "$want") verdict="Memcheck $want too" ;;
        clean) verdict="Memcheck silent (0 errors)" ;;
        *) why="$why Memcheck said $got_memcheck (neither $want nor silent);" ;;
    esac
    internal=$(arheap_frames)
    [ -z "$internal" ] || why="$why Memcheck found errors in arheap's own code: $internal;"
    reachable=
    [ "$want" = leak ] && grep -q 'still reachable: [1-9]' "$work/log" &&
        reachable=", the block still reachable from arheap's records"
    secs=$(($(date +%s) - t0))
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        echo "ok $total - $name (debug build under Memcheck): arheap $got_arheap at $name.c:$line, $verdict$reachable, none in arheap's frames [$name, ${secs}s]"
    else
        echo "not ok $total - $name (debug build under Memcheck): expected $want:$why [$name, ${secs}s]"
        echo "---- arheap under Memcheck ($out):"
        cat "$out"
        echo "---- Memcheck ($log):"
        cat "$log"
    fi
}
check_debug double_free double-free BUG
check_debug invalid_free invalid-free BUG
check_debug leak leak ALLOC-SITE

# uninit_read: arheap clean; Memcheck's first two errors are decisions on
# uninitialised bytes at the lines marked UNINIT-1 and UNINIT-2.
uninit_read() {
    name=uninit_read
    if [ "$requests" != yes ]; then
        echo "skip - $name: arheap built without Valgrind client requests (configure --with-valgrind)"
        return
    fi
    total=$((total + 1))
    t0=$(date +%s)
    AR_HEAP_OPTIONS="report_path=" run_limit "$bin/$name" >"$logs/cross-$name.arheap" 2>&1
    got_arheap=$(arheap_class "$logs/cross-$name.arheap" $?)
    log=$logs/cross-$name.memcheck.log
    # shellcheck disable=SC2086 # LIBTOOL is "$(SHELL) .../libtool"
    AR_HEAP_OPTIONS="report_path=" run_limit $LIBTOOL --mode=execute "$AR_VALGRIND" \
        --tool=memcheck --num-callers=24 --log-file="$log" "$bin/$name" \
        >"$logs/cross-$name.memcheck.out" 2>&1
    why=
    [ "$got_arheap" = clean ] || why="$why arheap said $got_arheap;"
    for mark in UNINIT-1 UNINIT-2; do
        line=$(grep -n "$mark" "$src/$name.c" | cut -d: -f1)
        grep -A 1 'Conditional jump or move depends on uninitialised value' "$log" |
            grep -q "($name.c:$line)" || why="$why Memcheck did not report $name.c:$line ($mark);"
    done
    secs=$(($(date +%s) - t0))
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        echo "ok $total - $name: arheap clean (reads are not its to see), Memcheck reports both decisions on unwritten bytes [${secs}s]"
    else
        echo "not ok $total - $name:$why"
        cat "$logs/cross-$name.arheap" "$log"
    fi
}
uninit_read

echo "$passed of $total valgrind cross-check cases passed"
[ "$passed" -eq "$total" ]
