#!/bin/sh
# run.sh: the golden report tests. Every kind of report arheap writes
# (src/report.c, src/leaks.c) is made by a small program, linked (arheap's
# macros, tests/golden/golden_linked) and preloaded (an unmodified program
# of plain malloc and free under LD_PRELOAD=libarheap-preload.so,
# tests/golden/golden_plain), and its stderr is compared line by line with
# tests/golden/expected/CASE.MODE.txt by match.sh: addresses, pids and
# thread ids, canary bytes, build paths and libc's frames are patterns;
# every other character, the function names and source lines of the frames
# included, is the golden's. The exit status and an empty stdout are
# checked too (or matched with expected/CASE.MODE.stdout.txt where there
# is one), and for a leak case with expected/CASE.MODE.file.txt, the
# report file.
#
# Environment (set by make check): top_srcdir, top_builddir,
# AR_HEAP_CONFIG_DEBUG. GOLDEN_ACTUAL=DIR keeps each case's actual output
# in DIR (CASE.MODE.txt, CASE.MODE.file.txt), for updating a golden;
# GOLDEN_CASES="CASE.MODE ..." runs only those cases.
#
# Exits 0 when every case passes; 1 on a failure; 77 (skip) in a release
# configuration (no reports), in a sanitizer build (its runtime owns
# malloc and keeps the symbolizer off), or when cases were skipped: those
# that need symbols (function and file:line) when there is neither libdw
# in the library nor addr2line on PATH, the guard faults off x86-64.
set -u

srcdir=${top_srcdir:-.}/tests/golden
builddir=${top_builddir:-.}/tests/golden
if [ "${AR_HEAP_CONFIG_DEBUG:-1}" != 1 ]; then
    echo "SKIP: a release library writes no reports"
    exit 77
fi
lib=$(cd "${top_builddir:-.}/src/.libs" 2>/dev/null && pwd)/libarheap-preload.so
linked=$(cd "$builddir" 2>/dev/null && pwd)/golden_linked
plain=$(cd "$builddir" 2>/dev/null && pwd)/golden_plain
examples=$(cd "${top_builddir:-.}/examples" 2>/dev/null && pwd)
for f in "$lib" "$linked" "$plain" "$examples/leaky"; do
    if [ ! -f "$f" ]; then
        echo "run.sh: no $f (make check builds it)" >&2
        exit 1
    fi
done
if nm -D --undefined-only "$lib" 2>/dev/null | grep -qE '__(asan|tsan|ubsan)_' ||
    ldd "$lib" 2>/dev/null | grep -qE 'lib(asan|tsan|ubsan)'; then
    echo "SKIP: the library is built with a sanitizer"
    exit 77
fi
# Symbols: libdw in the library (its .la records -ldw), else addr2line.
symbols=no
if grep -q -- '-ldw' "${top_builddir:-.}/src/libarheap.la" 2>/dev/null ||
    addr2line --version >/dev/null 2>&1; then
    symbols=yes
fi

# A fault's READ or WRITE is the x86-64 CPU's word (elsewhere the report
# says ACCESS, and the stack walk differs): the guard goldens are x86-64's.
machine=$(uname -m 2>/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/arheap-golden.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
unset AR_HEAP_OPTIONS AGERUN_MEMORY_REPORT LD_PRELOAD

# CASE MODE KIND STATUS SYMBOLS OPTIONS
#   CASE.MODE names the golden; KIND is the program's argument (for MODE
#   example, the program of examples/: the README's demo); STATUS
#   the exit status (134: SIGABRT, on_error=abort; 139: SIGSEGV, a guard
#   fault; 23: leak_exitcode); SYMBOLS "s" when the golden names
#   functions and lines of the debug information, "-" when not;
#   OPTIONS the AR_HEAP_OPTIONS, "-" for none (the defaults).
cases='
overflow               linked overflow                   134 - -
overflow-stack         linked overflow                   134 s stack_depth=3
overflow-slack         linked overflow                   134 - guard=1
overflow-no-hint       linked overflow                   134 - guard=1:guard_align=1:guard_min_size=4096
overflow-json          linked overflow                   134 - report_json=1
overflow-warning       linked overflow                   134 - stak_depth=3
overflow-realloc       linked overflow-realloc           134 - -
overflow-many          linked overflow-many              134 - -
underflow              linked underflow                  134 - -
underflow-no-hint      linked underflow                  134 - guard=1:guard_below=1:guard_min_size=4096
use-after-free         linked use-after-free             134 - -
use-after-free-no-hint linked use-after-free             134 - guard=1:guard_min_size=4096
use-after-free-reuse   linked use-after-free-reuse       134 - quarantine_bytes=1
double-free            linked double-free                134 - -
double-free-json       linked double-free                134 - report_json=1
double-free-realloc    linked double-free-realloc        134 - -
invalid-free-interior  linked invalid-free-interior      134 - -
invalid-free-foreign   linked invalid-free-foreign       134 - -
invalid-free-json      linked invalid-free-interior      134 - report_json=1
invalid-argument       linked invalid-argument           134 - -
invalid-argument-strndup linked invalid-argument-strndup 134 - -
invalid-argument-json  linked invalid-argument           134 - report_json=1
guard-overflow-write   linked guard-overflow-write       139 s guard=1:guard_align=1
guard-overflow-read    linked guard-overflow-read        139 s guard=1:guard_align=1
guard-underflow-write  linked guard-underflow-write      139 s guard=1:guard_below=1
guard-use-after-free-write linked guard-use-after-free-write 139 s guard=1
guard-use-after-free-read linked guard-use-after-free-read 139 s guard=1
guard-json             linked guard-overflow-write       139 s guard=1:guard_align=1:report_json=1
leak                   linked leak                       23  - -
leak-stack             linked leak                       23  s stack_depth=2
leak-unwritable        linked leak                       23  - report_path=no/such/folder/report.log
leak-intentional       linked leak-intentional           0   - -
describe               linked describe                   0   - -
overflow               plain  overflow                   134 s -
overflow-json          plain  overflow                   134 s report_json=1
underflow              plain  underflow                  134 s -
use-after-free         plain  use-after-free             134 s -
use-after-free-reuse   plain  use-after-free-reuse       134 s quarantine_bytes=1
double-free            plain  double-free                134 s -
double-free-json       plain  double-free                134 s report_json=1
double-free-realloc    plain  double-free-realloc        134 s -
overflow-realloc       plain  overflow-realloc           134 s -
overflow-many          plain  overflow-many              134 - symbolize=0
invalid-free-interior  plain  invalid-free-interior      134 s -
invalid-free-foreign   plain  invalid-free-foreign       134 s -
guard-overflow-write   plain  guard-overflow-write       139 s guard=1:guard_align=1
guard-overflow-read    plain  guard-overflow-read        139 s guard=1:guard_align=1
guard-underflow-write  plain  guard-underflow-write      139 s guard=1:guard_below=1
guard-use-after-free-write plain guard-use-after-free-write 139 s guard=1
guard-use-after-free-read plain guard-use-after-free-read 139 s guard=1
guard-json             plain  guard-overflow-write       139 s guard=1:guard_align=1:report_json=1
leaky                  example leaky                     23  - -
leaky-json             example leaky                     23  - report_json=1
leak                   plain  leak                       0   s leak_report=1:report_path=heap_memory_report.log
leak-default           plain  leak                       0   s -
'

passed=0
failed=0
skipped=0
echo "$cases" > "$work/cases"
while read -r name mode kind status needs options; do
    [ -n "$name" ] || continue
    id=$name.$mode
    if [ -n "${GOLDEN_CASES:-}" ]; then
        case " $GOLDEN_CASES " in
        *" $id "*) ;;
        *) continue ;;
        esac
    fi
    golden=$srcdir/expected/$id.txt
    if [ "$needs" = s ] && [ "$symbols" = no ]; then
        echo "skip $id: no libdw in the library and no addr2line on PATH"
        skipped=$((skipped + 1))
        continue
    fi
    case $kind in
    guard-*)
        if [ "$machine" != x86_64 ]; then
            echo "skip $id: the guard goldens are x86-64's, this is $machine"
            skipped=$((skipped + 1))
            continue
        fi
        ;;
    esac
    dir=$work/$id
    mkdir "$dir" || exit 1
    # The shell's own word on a child killed by a signal ("Aborted") goes
    # to the group's stderr, not into the case's.
    {
        (
            cd "$dir" || exit 1
            [ "$options" = - ] || AR_HEAP_OPTIONS=$options
            [ "$options" = - ] || export AR_HEAP_OPTIONS
            if [ "$mode" = linked ]; then
                exec "$linked" "$kind" >stdout 2>stderr
            elif [ "$mode" = example ]; then
                exec "$examples/$kind" >stdout 2>stderr
            else
                LD_PRELOAD=$lib exec "$plain" "$kind" >stdout 2>stderr
            fi
        )
        echo $? >"$dir/status"
    } 2>/dev/null
    got=$(cat "$dir/status")
    problems=
    if [ "$got" != "$status" ]; then
        problems="$problems exit status $got, not $status;"
    fi
    if [ -f "$srcdir/expected/$id.stdout.txt" ]; then
        if ! sh "$srcdir/match.sh" "$srcdir/expected/$id.stdout.txt" "$dir/stdout" \
            >"$dir/match.stdout" 2>&1; then
            problems="$problems stdout does not match its golden;"
            cat "$dir/match.stdout" >>"$dir/match"
        fi
    elif [ -s "$dir/stdout" ]; then
        problems="$problems stdout not empty;"
    fi
    if [ -n "${GOLDEN_ACTUAL:-}" ]; then
        mkdir -p "$GOLDEN_ACTUAL" && cp "$dir/stderr" "$GOLDEN_ACTUAL/$id.txt"
        [ ! -s "$dir/stdout" ] || cp "$dir/stdout" "$GOLDEN_ACTUAL/$id.stdout.txt"
        [ ! -f "$dir/heap_memory_report.log" ] ||
            cp "$dir/heap_memory_report.log" "$GOLDEN_ACTUAL/$id.file.txt"
    fi
    if ! sh "$srcdir/match.sh" "$golden" "$dir/stderr" >"$dir/match" 2>&1; then
        problems="$problems stderr does not match its golden;"
    fi
    if [ -f "$srcdir/expected/$id.file.txt" ]; then
        if [ ! -f "$dir/heap_memory_report.log" ]; then
            problems="$problems no report file;"
        elif ! sh "$srcdir/match.sh" "$srcdir/expected/$id.file.txt" \
            "$dir/heap_memory_report.log" >>"$dir/match" 2>&1; then
            problems="$problems the report file does not match its golden;"
        fi
    fi
    if [ -z "$problems" ]; then
        echo "ok $id"
        passed=$((passed + 1))
    else
        echo "FAIL $id:$problems"
        echo "    (run: cd DIR; AR_HEAP_OPTIONS=$options $mode $kind)"
        sed 's/^/    /' "$dir/match"
        if [ -s "$dir/stdout" ]; then
            echo "    --- stdout:"
            sed 's/^/    /' "$dir/stdout"
        fi
        failed=$((failed + 1))
    fi
done < "$work/cases"

# The check of the check: the overflow's real report against its golden
# with one source line changed must fail (as match_test.sh shows for the
# matcher alone, here with a report of this build).
if [ -f "$work/overflow.linked/stderr" ]; then
    sed 's/overflow\.c:18 /overflow.c:19 /' "$srcdir/expected/overflow.linked.txt" >"$work/wrong.txt"
    if ! grep -q 'overflow\.c:19 ' "$work/wrong.txt"; then
        echo "FAIL control: overflow.linked.txt names no overflow.c:18 to change"
        failed=$((failed + 1))
    elif sh "$srcdir/match.sh" "$work/wrong.txt" "$work/overflow.linked/stderr" >/dev/null 2>&1; then
        echo "FAIL control: a golden naming overflow.c:19 matched a report of overflow.c:18"
        failed=$((failed + 1))
    else
        echo "ok control: a golden naming another line fails"
        passed=$((passed + 1))
    fi
fi

[ "$skipped" -eq 0 ] || echo "$skipped cases skipped"
echo "$passed of $((passed + failed)) golden report cases passed"
if [ "$failed" -ne 0 ]; then
    exit 1
fi
if [ "$skipped" -ne 0 ]; then
    exit 77
fi
exit 0
