#!/bin/sh
# handover.sh: what a hand-over costs (`make bench-handover`).
#
#     bench/handover.sh BINDIR NOSYNC_SO [ROUNDS]
#
# Runs the threads workload (bench/workloads threads T) at T=1 and T=2,
# with one freed block in 64 handed to the other thread (`make bench`'s
# setting) and with none (--hand-every 0), under:
#   glibc      bench/workloads
#   nosync     the same binary with NOSYNC_SO preloaded (bench/nosync.c: no
#              lock, no atomic, no owner; a hand-over costs only the
#              workload's mailbox and the block's own lines)
#   mimalloc   the same with libmimalloc.so.2 preloaded, where it loads
#   tracking   bench/workloads_arheap, canary=0:fill=0:quarantine_bytes=0
#   defaults   bench/workloads_arheap, the debug defaults
# ROUNDS rounds (default 5), the variants in turn within each, medians.
# Prints million operations a second at T=1 and T=2, the speedup with
# and without hand-overs, and the time a hand-over adds: the T=2 run's
# time with hand-overs less its time without, over the hand-overs each
# thread makes (its 6 million steps / 64).
set -eu
bindir=${1:?usage: handover.sh BINDIR NOSYNC_SO [ROUNDS]}
nosync=${2:?usage: handover.sh BINDIR NOSYNC_SO [ROUNDS]}
rounds=${3:-5}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

variants="glibc nosync tracking defaults"
if env LD_PRELOAD=libmimalloc.so.2 "$bindir/workloads" threads 1 --scale 1 2>/dev/null |
    grep -q 'malloc=libmimalloc'; then
    variants="glibc nosync mimalloc tracking defaults"
else
    echo "handover: libmimalloc.so.2 does not load (Debian: libmimalloc2.0): no mimalloc row"
fi

run() { # variant T hand
    case $1 in
    glibc) "$bindir/workloads" threads "$2" --hand-every "$3" ;;
    nosync) env LD_PRELOAD="$nosync" "$bindir/workloads" threads "$2" --hand-every "$3" ;;
    mimalloc) env LD_PRELOAD=libmimalloc.so.2 "$bindir/workloads" threads "$2" --hand-every "$3" ;;
    tracking) env AR_HEAP_OPTIONS=canary=0:fill=0:quarantine_bytes=0:leak_report=0 \
        "$bindir/workloads_arheap" threads "$2" --hand-every "$3" ;;
    defaults) env AR_HEAP_OPTIONS=leak_report=0 \
        "$bindir/workloads_arheap" threads "$2" --hand-every "$3" ;;
    esac
}

r=0
while [ "$r" -lt "$rounds" ]; do
    for v in $variants; do
        for cell in "1 64" "2 64" "1 0" "2 0"; do
            set -- $cell
            line=$(run "$v" "$1" "$2")
            ns=$(printf '%s\n' "$line" | sed -n 's/.* ns=\([0-9]*\).*/\1/p')
            ops=$(printf '%s\n' "$line" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
            [ -n "$ns" ] && [ -n "$ops" ] || { echo "handover: $v T=$1 hand $2: no figure"; exit 1; }
            echo "$v $1 $2 $ns $ops" >>"$out"
        done
    done
    r=$((r + 1))
done

echo "What a hand-over costs: the threads workload, $rounds rounds in turn, medians ($(nproc) cores)"
echo
echo "| allocator | T=1 | T=2 | speedup | without hand-overs: T=1 | T=2 | speedup | a hand-over adds (us a thread) |"
echo "|---|---|---|---|---|---|---|---|"
for v in $variants; do
    awk -v v="$v" '
        function median(key,   n, i, j, t, a) {
            n = split(vals[key], a, " ")
            for (i = 1; i <= n; i++)
                for (j = i + 1; j <= n; j++)
                    if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == v { vals[$2 " " $3] = vals[$2 " " $3] " " $4; ops[$2 " " $3] = $5 }
        END {
            m1 = ops["1 64"] / median("1 64") * 1000; m2 = ops["2 64"] / median("2 64") * 1000
            z1 = ops["1 0"] / median("1 0") * 1000; z2 = ops["2 0"] / median("2 0") * 1000
            handed = 6000000 / 64
            cost = (median("2 64") - median("2 0")) / handed / 1000
            printf "| %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.2f |\n", v, m1, m2, m2 / m1, z1, z2, z2 / z1, cost
        }' "$out"
done
echo
echo "Million heap operations a second. The hand-over's time assumes each thread hands 1 in 64 of"
echo "its 6 million steps: a thread that finishes first stops receiving, so it is an estimate."
