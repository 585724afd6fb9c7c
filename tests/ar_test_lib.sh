# shellcheck shell=sh
# shellcheck disable=SC2154 # top_srcdir is set by the sourcing script
# ar_test_lib.sh: what the shell tests share. Sourced, not run.
#
#   ar_find_compilers WHAT   sets gcc_path, clang_path and compilers (the
#                            labels found: "gcc clang"); exits 77 (skip)
#                            when there is no C compiler at all
#   ar_scratch_headers DIR DEBUG
#                            DIR gets copies of the public headers and an
#                            ar_heap_config.h with AR_HEAP_CONFIG_DEBUG set to
#                            DEBUG (0 or 1), so that no config generated in
#                            the source tree can take precedence
#   pass TEXT / fail TEXT    count a case and print "ok TEXT" / "FAIL TEXT"

cases=0
failures=0

pass() {
    cases=$((cases + 1))
    echo "ok $*"
}

fail() {
    cases=$((cases + 1))
    failures=$((failures + 1))
    echo "FAIL $*"
}

ar_find_compilers() {
    gcc_path=${AR_GCC:-}
    clang_path=${AR_CLANG:-}
    if [ -z "$gcc_path" ] && [ -z "$clang_path" ]; then
        gcc_path=$(command -v gcc 2>/dev/null || true)
        clang_path=$(command -v clang 2>/dev/null || true)
    fi
    compilers=
    if [ -n "$gcc_path" ]; then
        compilers="gcc"
    else
        echo "note: gcc not found, its cases are skipped"
    fi
    if [ -n "$clang_path" ]; then
        compilers="$compilers clang"
    else
        echo "note: clang not found, its cases are skipped"
    fi
    if [ -z "$compilers" ]; then
        if [ -n "${CC:-}" ]; then
            gcc_path=$CC
            compilers="gcc"
            echo "note: neither gcc nor clang found; using CC='$CC' under the gcc label"
        else
            echo "SKIP: no C compiler for $1"
            exit 77
        fi
    fi
}

ar_scratch_headers() {
    mkdir -p "$1" || exit 1
    cp "$top_srcdir/include/ar_heap.h" "$top_srcdir/include/ar_allocator.h" \
        "$top_srcdir/include/ar_heap_check.h" "$top_srcdir/include/ar_heap_override.h" "$1/" || exit 1
    printf '#ifndef AR_HEAP_CONFIG_H\n#define AR_HEAP_CONFIG_H\n#define AR_HEAP_CONFIG_DEBUG %s\n#endif\n' \
        "$2" >"$1/ar_heap_config.h" || exit 1
}
