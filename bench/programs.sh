#!/bin/sh
# programs.sh: two allocation-heavy programs of the public mimalloc-bench
# suite, cfrac (a bignum factoriser: many small blocks) and espresso (a
# logic minimiser), built three ways and timed side by side
# (`make bench-programs MIMALLOC_BENCH=DIR`).
#
#     bench/programs.sh MIMALLOC_BENCH BUILDDIR [ROUNDS]
#
# MIMALLOC_BENCH is a checkout of github.com/daanx/mimalloc-bench: only
# its bench/cfrac and bench/espresso sources are read; arheap neither
# ships nor fetches them. BUILDDIR is a build configured with
# --enable-debug-heap, its src/.libs/libarheap.so and
# libarheap-preload.so built. Each program is compiled from its own
# sources with $CC (default cc), -O2 -g, three times:
#   plain    as it is
#   asan     with -fsanitize=address (none where the compiler has none)
#   arheap   with -include ar_heap_override.h and
#            -DAR_HEAP_OVERRIDE_NO_MALLOC_H (cfrac has a pvalloc of its
#            own), linked with BUILDDIR's libarheap
# and run ROUNDS rounds (default 3), every variant in turn in a round:
#   glibc            plain
#   MALLOC_CHECK_=3  plain with glibc's checking malloc
#                    (libc_malloc_debug.so.0 preloaded, where there is one)
#   asan             asan, ASAN_OPTIONS=detect_leaks=0
#   tracking         arheap, canary=0:fill=0:quarantine_bytes=0
#   defaults         arheap, the debug defaults
#   preload          plain, libarheap-preload.so preloaded, the defaults
# (arheap's with leak_report=0: cfrac leaks a block on purpose, and the
# time of a leak report is not what is measured). Each run's output must
# be the plain run's. Prints per program the median wall time, its
# min-max, its ratio to glibc's median and the largest peak RSS
# (/usr/bin/time's %e and %M). Where no time is given, the machine's noise
# is the min-max: quote medians, and run it twice.
#
# AR_BENCH_OTHERS (`make bench-programs BENCH_OTHERS="..."`) adds the
# other checkers it names, where they are installed: memcheck (Valgrind,
# --leak-check=no, on plain), dmalloc (linked with -ldmalloc, with the
# options of `dmalloc -b low`), duma and efence (libduma.so.0 and
# libefence.so.0 preloaded on plain; Debian: valgrind, libdmalloc-dev,
# duma, electric-fence). Each of their runs stops at AR_BENCH_OTHERS_LIMIT
# seconds (default 60); a run that reaches it, dies or prints other
# output than plain is shown as such instead of a time.
set -eu
usage() { echo "usage: programs.sh MIMALLOC_BENCH BUILDDIR [ROUNDS]" >&2; exit 2; }
if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
mb=$1
build=$(cd "$2" && pwd)
rounds=${3:-3}
case $rounds in '' | *[!0-9]*) usage ;; esac
cc=${CC:-cc}
top=$(cd "$(dirname "$0")/.." && pwd)
lib=$build/src/.libs
for d in "$mb/bench/cfrac" "$mb/bench/espresso"; do
    test -d "$d" || { echo "programs.sh: no $d (a checkout of mimalloc-bench?)" >&2; exit 1; }
done
for f in "$lib/libarheap.so" "$lib/libarheap-preload.so"; do
    test -f "$f" || { echo "programs.sh: $f is missing (make in $build)" >&2; exit 1; }
done
test -x /usr/bin/time || { echo "programs.sh: /usr/bin/time is missing (Debian: apt-get install time)" >&2; exit 1; }
others=${AR_BENCH_OTHERS:-}
limit=${AR_BENCH_OTHERS_LIMIT:-60}
case $limit in '' | *[!0-9]*) echo "programs.sh: AR_BENCH_OTHERS_LIMIT: seconds, a number" >&2; exit 2 ;; esac
# preloaded_library NAME: the path of lib NAME, or nothing.
preloaded_library() {
    for f in /usr/lib/"$1" /usr/lib/*/"$1"; do
        test -f "$f" && echo "$f" && return
    done
}
debug_malloc=
for f in /usr/lib/*/libc_malloc_debug.so.0 /usr/lib/libc_malloc_debug.so.0; do
    test -f "$f" && debug_malloc=$f && break
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2034 # read through eval, in build
cfrac_sources="cfrac.c pops.c pconst.c pio.c pabs.c pneg.c pcmp.c podd.c phalf.c padd.c psub.c
    pmul.c pdivmod.c psqrt.c ppowmod.c atop.c ptoa.c itop.c utop.c ptou.c errorp.c pfloat.c
    pidiv.c pimod.c picmp.c primes.c pcfrac.c pgcd.c"
# shellcheck disable=SC2034
espresso_sources="cofactor.c cols.c compl.c contain.c cubestr.c cvrin.c cvrm.c cvrmisc.c
    cvrout.c dominate.c equiv.c espresso.c essen.c exact.c expand.c gasp.c getopt.c gimpel.c
    globals.c hack.c indep.c irred.c main.c map.c matrix.c mincov.c opo.c pair.c part.c primes.c
    reduce.c rows.c set.c setc.c sharp.c sminterf.c solution.c sparse.c unate.c utility.c
    verify.c"
# Their own build's flags: old C, warnings off.
old_c="-std=gnu89 -O2 -g -w"

# build PROGRAM VARIANT CFLAGS LIBS: $tmp/PROGRAM.VARIANT, or 1.
build() {
    program=$1 variant=$2 flags=$3 libs=$4
    eval "sources=\$${program}_sources"
    defines=
    test "$program" = cfrac && defines=-DNOMEMOPT=1
    # shellcheck disable=SC2086,SC2154 # lists split on purpose; sources: eval above
    (cd "$mb/bench/$program" && $cc $old_c $defines $flags $sources $libs -lm \
        -o "$tmp/$program.$variant") >"$tmp/build.log" 2>&1
}

# run PROGRAM VARIANT ARGS...: appends "VARIANT SECONDS KIB" to
# $tmp/PROGRAM.times; the output must be the plain run's (for another
# checker's run, "VARIANT - - WHY" when it is not or the run did not end).
run() {
    program=$1 variant=$2
    shift 2
    exe=$tmp/$program.arheap
    case $variant in
    glibc | MALLOC_CHECK_=3 | preload | memcheck | duma | efence) exe=$tmp/$program.plain ;;
    asan) exe=$tmp/$program.asan ;;
    dmalloc) exe=$tmp/$program.dmalloc ;;
    esac
    set -- "$exe" "$@"
    case $variant in
    glibc) ;;
    MALLOC_CHECK_=3) set -- env MALLOC_CHECK_=3 LD_PRELOAD="$debug_malloc" "$@" ;;
    asan) set -- env ASAN_OPTIONS=detect_leaks=0 "$@" ;;
    tracking) set -- env AR_HEAP_OPTIONS=canary=0:fill=0:quarantine_bytes=0:leak_report=0 "$@" ;;
    defaults) set -- env AR_HEAP_OPTIONS=leak_report=0 "$@" ;;
    preload) set -- env AR_HEAP_OPTIONS=leak_report=0 LD_PRELOAD="$lib/libarheap-preload.so" "$@" ;;
    memcheck) set -- timeout "$limit" valgrind -q --leak-check=no "$@" ;;
    dmalloc) set -- timeout "$limit" env DMALLOC_OPTIONS=debug=0x4e48503 "$@" ;;
    duma) set -- timeout "$limit" env LD_PRELOAD="$(preloaded_library libduma.so.0)" "$@" ;;
    efence) set -- timeout "$limit" env LD_PRELOAD="$(preloaded_library libefence.so.0)" "$@" ;;
    esac
    rm -f "$tmp/time"
    status=0
    (cd "$mb/bench/$program" && /usr/bin/time -f '%e %M' -o "$tmp/time" "$@") \
        >"$tmp/out" 2>"$tmp/err" || status=$?
    case $variant in
    memcheck | dmalloc | duma | efence)
        why=
        if [ "$status" -eq 124 ]; then
            why="still running at $limit s"
        elif grep -q 'terminated by signal' "$tmp/time" 2>/dev/null; then
            why="stopped by signal $(sed -n 's/.*terminated by signal \([0-9]*\).*/\1/p' "$tmp/time")"
        elif ! cmp -s "$tmp/out" "$tmp/$program.expected"; then
            why="other output than plain"
        fi
        if [ -n "$why" ]; then
            echo "$variant - - $why" >>"$tmp/$program.times"
            return
        fi
        ;;
    esac
    if ! cmp -s "$tmp/out" "$tmp/$program.expected"; then
        echo "programs.sh: $program under $variant printed other output than plain:" >&2
        tail -n 5 "$tmp/err" >&2
        exit 1
    fi
    echo "$variant $(tail -n 1 "$tmp/time")" >>"$tmp/$program.times"
}

for program in cfrac espresso; do
    if [ "$program" = cfrac ]; then
        args=41757646344123832613190542166099121
    else
        args=largest.espresso
    fi
    build "$program" plain "" "" || { cat "$tmp/build.log" >&2; exit 1; }
    variants=glibc
    test -n "$debug_malloc" && variants="$variants MALLOC_CHECK_=3"
    if build "$program" asan "-fsanitize=address -fno-omit-frame-pointer" -fsanitize=address; then
        variants="$variants asan"
    else
        echo "programs.sh: $cc -fsanitize=address failed: no asan row"
    fi
    build "$program" arheap \
        "-include ar_heap_override.h -DAR_HEAP_OVERRIDE_NO_MALLOC_H -I$top/include -I$build/include" \
        "-L$lib -Wl,-rpath,$lib -larheap" || { cat "$tmp/build.log" >&2; exit 1; }
    variants="$variants tracking defaults preload"
    for other in $others; do
        case $other in
        memcheck) command -v valgrind >/dev/null 2>&1 && variants="$variants memcheck" ;;
        dmalloc) build "$program" dmalloc "" -ldmalloc && variants="$variants dmalloc" ;;
        duma) test -n "$(preloaded_library libduma.so.0)" && variants="$variants duma" ;;
        efence) test -n "$(preloaded_library libefence.so.0)" && variants="$variants efence" ;;
        *) echo "programs.sh: AR_BENCH_OTHERS: no checker $other (memcheck dmalloc duma efence)" >&2
           exit 2 ;;
        esac || echo "programs.sh: $other is not installed: no $other row"
    done
    # shellcheck disable=SC2086 # args split on purpose
    (cd "$mb/bench/$program" && "$tmp/$program.plain" $args) >"$tmp/$program.expected" 2>/dev/null || true
    : >"$tmp/$program.times"
    r=0
    while [ "$r" -lt "$rounds" ]; do
        for v in $variants; do
            # shellcheck disable=SC2086
            run "$program" "$v" $args
        done
        r=$((r + 1))
    done
    echo
    echo "$program $args: rounds $rounds, every variant in turn; medians of the wall time"
    echo
    echo "| variant | median (s) | min-max (s) | ratio to glibc | peak RSS (MiB) |"
    echo "|---|---|---|---|---|"
    for v in $variants; do
        if awk -v v="$v" '$1 == v && $2 == "-" { found = 1 } END { exit !found }' \
            "$tmp/$program.times"; then
            awk -v v="$v" '$1 == v { n++; if ($2 == "-") { bad++; $1 = $2 = $3 = ""; why = $0 } }
                END { sub(/^ +/, "", why)
                      printf "| %s | did not finish (%d of %d runs; %s) | | | |\n", v, bad, n, why }' \
                "$tmp/$program.times"
            continue
        fi
        awk -v v="$v" '$1 == v { print $2, $3 }' "$tmp/$program.times" | sort -n >"$tmp/one"
        awk -v v="$v" -v g="$(awk '$1 == "glibc" { print $2 }' "$tmp/$program.times" |
            sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')" '
            { t[NR] = $1; if ($2 > m) m = $2 }
            END {
                med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
                printf "| %s | %.2f | %.2f-%.2f | %.2fx | %.1f |\n", v, med, t[1], t[NR], med / g, m / 1024
            }' "$tmp/one"
    done
    # The ratios issue 10's targets are written in, of the medians above.
    awk '{ n[$1]++; t[$1, n[$1]] = $2 }
        function med(v,   i, j, k, a) {
            k = n[v]
            for (i = 1; i <= k; i++) a[i] = t[v, i]
            for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                x = a[j]; a[j] = a[j - 1]; a[j - 1] = x }
            return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        END {
            g = med("glibc"); d = med("defaults")
            if (n["asan"] > 0)
                printf "\ndefaults at %.2f of ASan'"'"'s ratio; ", (d / g) / (med("asan") / g)
            else
                printf "\n"
            printf "tracking %.2fx glibc; preload %.2fx the linked defaults\n", med("tracking") / g, med("preload") / d
        }' "$tmp/$program.times"
done
