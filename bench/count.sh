#!/bin/sh
# count.sh: instructions per heap operation, counted, not timed
# (`make bench-count`).
#
#     bench/count.sh BUILDDIR [SCALE_A SCALE_B]
#
# BUILDDIR is a build configured with --enable-debug-heap and
# --without-valgrind, with bench/workloads, bench/workloads_arheap and
# src/.libs/libarheap-preload.so built in it (`make bench-count` makes one
# under _count). Without Valgrind's client requests the library keeps its
# fast paths under Valgrind; with them it announces every block to
# Memcheck and takes its general paths, whose count would say nothing of
# a run outside Valgrind. So a build with them is refused.
#
# Each workload of bench/workloads (small, strdup, realloc, large, and
# threads at T=1) runs under Valgrind's callgrind for each variant of
# `make bench` that Valgrind can run (glibc, tracking, defaults, preload;
# not ASan, which does not run under Valgrind; not the floor, a timing
# reference), at --scale SCALE_A and at --scale SCALE_B percent of its
# steps (default 10 and 20). A figure is the difference of the two runs'
# instructions over the difference of their operations: what one more
# operation of the timed part costs, without the setup, the untimed work
# and the check at exit, which are the same at both scales. Below a scale
# of 5 the workloads are not yet in their steady state (their spans still
# grow): `small`, tracking, counts 298 instructions an operation between
# scales 2 and 4, 230 between 5 and 10 and between 10 and 20.
#
# Why: a machine shared with others moves a timed run by a fifth or more
# from one run to the next (doc/benchmark-history.md, "Stop 33"), and a
# change of a few percent cannot be shown by time there. A count does not
# move, and says where the work is; it says nothing of cache misses' cost
# (what `make bench` times), so it complements `make bench` and does not
# replace it.
set -eu
usage() { echo "usage: count.sh BUILDDIR [SCALE_A SCALE_B]" >&2; exit 2; }
test $# -eq 1 || test $# -eq 3 || usage
build=$1
scale_a=${2:-10}
scale_b=${3:-20}
case $scale_a$scale_b in *[!0-9]*) usage ;; esac
test "$scale_a" -lt "$scale_b" || { echo "count.sh: SCALE_A must be below SCALE_B" >&2; exit 2; }
command -v valgrind >/dev/null 2>&1 ||
    { echo "count.sh: valgrind not found (Debian: apt-get install valgrind)" >&2; exit 1; }
for f in bench/workloads bench/workloads_arheap src/.libs/libarheap-preload.so Makefile; do
    test -f "$build/$f" || { echo "count.sh: $build/$f is missing (make bench-count builds it)" >&2; exit 1; }
done
if grep -q -e '-DAR_HEAP_HAVE_VALGRIND=1' "$build/Makefile"; then
    echo "count.sh: $build was configured with Valgrind's client requests; configure it --without-valgrind" >&2
    exit 1
fi
preload=$(cd "$build/src/.libs" && pwd)/libarheap-preload.so
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# count VARIANT SCALE WORKLOAD...: prints "INSTRUCTIONS OPS".
count() {
    variant=$1 scale=$2
    shift 2
    case $variant in
    glibc) set -- env "$build/bench/workloads" "$@" ;;
    tracking) set -- env AR_HEAP_OPTIONS=canary=0:fill=0:quarantine_bytes=0:leak_report=0 \
        "$build/bench/workloads_arheap" "$@" ;;
    defaults) set -- env AR_HEAP_OPTIONS=leak_report=0 "$build/bench/workloads_arheap" "$@" ;;
    preload) set -- env AR_HEAP_OPTIONS=leak_report=0 LD_PRELOAD="$preload" \
        "$build/bench/workloads" "$@" ;;
    esac
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$tmp/out.%p" \
        "$@" --scale "$scale" >"$tmp/stdout" 2>"$tmp/stderr" ||
        { echo "count.sh: $variant $* failed:" >&2; tail -n 20 "$tmp/stderr" >&2; exit 1; }
    refs=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/stderr" | tail -n 1)
    ops=$(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' "$tmp/stdout")
    test -n "$refs" && test -n "$ops" ||
        { echo "count.sh: no count from $variant $*" >&2; exit 1; }
    echo "$refs $ops"
}

# per_op VARIANT WORKLOAD...: instructions per operation, two decimals.
per_op() {
    variant=$1
    shift
    a=$(count "$variant" "$scale_a" "$@")
    b=$(count "$variant" "$scale_b" "$@")
    echo "$a $b" | awk '{ if ($4 == $2) exit 1; printf "%.2f\n", ($3 - $1) / ($4 - $2) }' ||
        { echo "count.sh: $variant $*: the same operations at both scales" >&2; exit 1; }
}

echo "Instructions per heap operation (callgrind; the difference between --scale $scale_a and"
echo "--scale $scale_b of each workload, so without its setup and exit), and as a ratio to glibc's"
echo
echo "| workload | glibc | tracking | defaults | preload | preload / defaults |"
echo "|---|---|---|---|---|---|"
for row in small strdup realloc large "threads 1"; do
    # shellcheck disable=SC2086 # a row is a workload and its arguments
    g=$(per_op glibc $row)
    t=$(per_op tracking $row)
    d=$(per_op defaults $row)
    p=$(per_op preload $row)
    echo "$row $g $t $d $p" | awk '{
        n = NF - 4; name = $1; for (i = 2; i <= n; i++) name = name " " $i
        g = $(n + 1); t = $(n + 2); d = $(n + 3); p = $(n + 4)
        printf "| %s | %.1f | %.1f (%.2fx) | %.1f (%.2fx) | %.1f (%.2fx) | %.3f |\n",
            name, g, t, t / g, d, d / g, p, p / g, p / d }'
done
