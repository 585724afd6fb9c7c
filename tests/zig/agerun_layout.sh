#!/bin/sh
# agerun_layout.sh: a mixed C and Zig program laid out as AgeRun's tree is,
# built as AgeRun builds, on arheap.
#
# tests/zig/agerun/modules/ holds an ar_heap.h of its own that includes
# <arheap/ar_heap.h>, an ar_allocator.zig of its own over the AR__HEAP__*
# macros (through @cImport of that ar_heap.h), a Zig module (ar_list.zig)
# used by a C module (ar_agent.c), and a test program. It is built as
# AgeRun's Makefile does: C with AgeRun's warning flags (-Werror,
# -Wpedantic, -Wconversion, -Wcast-qual ...) and -DDEBUG, Zig with
# zig build-obj -DDEBUG -D__ZIG__ -I./modules, linked by the C compiler
# with -larheap's library. Run in a bin folder with AGERUN_MEMORY_REPORT:
#
#   clean run     exits 0; the report counts 0 actual leaks and the
#                 INTENTIONAL_LEAK_FOR_TESTING block apart, and the leak
#                 rule of AgeRun's build script finds no leak
#   leak          a Zig block never freed: 1 actual leak, listed with its
#                 description at "zig:0" (the site macros' site), and the
#                 rule finds it; the program exits 23 (leak_exitcode)
#   double-free   in Zig code: reported as a double-free of the list
#
# In a release configuration the program is built and the clean run must
# exit 0 (there is no report).
#
# Environment (set by make check): ZIG, CC, top_srcdir, top_builddir,
# AR_HEAP_CONFIG_DEBUG. Prints one line per case and "N of M AgeRun
# layout checks passed"; exits 0 when all pass, 1 on any failure, 77
# (skip) without Zig 0.14.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
cc=${CC:-cc}

. "$top_srcdir/tests/ar_test_lib.sh"
scratch=$(mktemp -d) || exit 1
trap '[ -n "${AR_KEEP:-}" ] || rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
ar_find_zig
ar_library
inc=$scratch/include
ar_installed_headers "$inc"

# The tree, as AgeRun's: modules/ at the top, objects and programs in bin/.
tree=$scratch/agerun
mkdir -p "$tree/bin/obj" || exit 1
cp -R "$top_srcdir/tests/zig/agerun/modules" "$tree/" || exit 1
chmod -R u+w "$tree"

# AgeRun's CFLAGS and DEBUG_CFLAGS; arheap's headers as from an install.
agerun_cflags="-Wall -Wextra -Werror -Wpedantic -Wconversion -Wshadow -Wcast-qual \
-Wcast-align -Wstrict-prototypes -Wmissing-prototypes -Wstrict-aliasing=2 \
-Wnull-dereference -Wformat=2 -Wuninitialized -Wpointer-arith \
-Wunused -Wunused-parameter -Wwrite-strings -std=c11 -I./modules -D_GNU_SOURCE -I$inc"
debug_cflags="-g -O0 -DDEBUG"

build() {
    cd "$tree" || return 1
    for source in modules/ar_agent.c modules/ar_agent_tests.c; do
        object=bin/obj/$(basename "$source" .c).o
        echo "$cc ... -c $source"
        # shellcheck disable=SC2086 # flag lists are split on purpose
        $cc $agerun_cflags $debug_cflags -c "$source" -o "$object" || return 1
    done
    echo "zig build-obj ... modules/ar_list.zig"
    "$zig" build-obj -O Debug -DDEBUG -D__ZIG__ -target native -fno-stack-check -lc \
        -I./modules -I"$inc" modules/ar_list.zig -femit-bin=bin/obj/ar_list.o || return 1
    # shellcheck disable=SC2086 # library and libs are word lists
    $cc $debug_cflags -o bin/ar_agent_tests bin/obj/ar_agent_tests.o bin/obj/ar_agent.o \
        bin/obj/ar_list.o $library -lm -lc $libs
}

if (build) >"$scratch/build.log" 2>&1; then
    pass "builds with AgeRun's flags: C -Werror -Wpedantic -Wconversion ..., Zig -D__ZIG__"
else
    fail "does not build as AgeRun builds:"
    sed 's/^/    /' "$scratch/build.log"
    echo "$((cases - failures)) of $cases AgeRun layout checks passed"
    exit 1
fi

# run NAME [ARG]: run the test program in bin/ as AgeRun's make run-tests
# does, its report in bin/memory_report_NAME.log; status in $status,
# stderr in $scratch/NAME.err.
run() {
    (cd "$tree/bin" && AGERUN_MEMORY_REPORT="memory_report_$1.log" \
        AR_HEAP_OPTIONS=on_error=exit:error_exitcode=23 ./ar_agent_tests ${2:+"$2"} \
        >"$scratch/$1.out" 2>"$scratch/$1.err")
    status=$?
    report=$tree/bin/memory_report_$1.log
}

# agerun_leaks REPORT: "leak" or "clean" as AgeRun's build script decides:
# the figure of "Actual memory leaks: N" above 0, or neither that line nor
# "No memory leaks detected" in the report, is a leak.
agerun_leaks() {
    actual=$(grep -E '^Actual memory leaks: ([0-9]+)' "$1" 2>/dev/null | awk '{print $4}')
    if [ -n "$actual" ] && [ "$actual" -gt 0 ]; then
        echo leak
    elif [ -z "$actual" ] && ! grep -q "No memory leaks detected" "$1" 2>/dev/null; then
        echo leak
    else
        echo clean
    fi
}

has() {
    if grep -F -e "$2" "$1" >/dev/null 2>&1; then
        pass "$3"
    else
        fail "$3: no \"$2\" in $(basename "$1"):"
        sed 's/^/    /' "$1" 2>/dev/null
    fi
}

run clean
if [ "$status" -eq 0 ] && grep -q "All ar_agent tests passed" "$scratch/clean.out"; then
    pass "clean run: the test program passes"
else
    fail "clean run: exit $status; stderr:"
    sed 's/^/    /' "$scratch/clean.err"
fi

if [ "${AR_HEAP_CONFIG_DEBUG:-1}" = 0 ]; then
    echo "$((cases - failures)) of $cases AgeRun layout checks passed"
    [ "$failures" -eq 0 ]
    exit
fi

if grep -q "ERROR" "$scratch/clean.err"; then
    fail "clean run: an error report:"
    sed 's/^/    /' "$scratch/clean.err"
else
    pass "clean run: no error report"
fi
has "$report" "Actual memory leaks: 0 (0 bytes)" "clean run: 0 actual leaks"
has "$report" "Intentional test leaks: 1 (5 bytes)" "clean run: the intentional leak counted apart"
[ "$(agerun_leaks "$report")" = clean ] && pass "clean run: AgeRun's rule finds no leak" ||
    fail "clean run: AgeRun's rule finds a leak in $(basename "$report")"

run leak leak
[ "$status" -eq 23 ] && pass "leak: the program exits 23 (leak_exitcode's default)" ||
    fail "leak: exit $status"
has "$report" "Actual memory leaks: 1 (13 bytes)" "leak: 1 actual leak"
has "$report" "zig:0  \"forgotten list item\"" "leak: the Zig block, at the site macros' site"
[ "$(agerun_leaks "$report")" = leak ] && pass "leak: AgeRun's rule finds the leak" ||
    fail "leak: AgeRun's rule finds no leak in $(basename "$report")"

run double-free double-free
[ "$status" -eq 23 ] && pass "double-free: exits with error_exitcode" || fail "double-free: exit $status"
has "$scratch/double-free.err" "arheap: ERROR: double-free" "double-free: reported"
has "$scratch/double-free.err" "bytes \"list\" at " "double-free: the list block named"

echo "$((cases - failures)) of $cases AgeRun layout checks passed"
[ "$failures" -eq 0 ]
