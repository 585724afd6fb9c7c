#!/bin/sh
# module_offset.sh: the MODULE+OFFSET a report prints (symbolize=0) is
# what addr2line takes.
#
# tests/module_offset/prog.c is built with the debug library twice:
# position-independent (-pie) and at a fixed address (-no-pie, whose text
# is at 0x401000 and file offset 0x1000), and with lld too when clang and
# ld.lld are there (its segments' addresses are not their file offsets).
# Each build runs a guard fault (frames named from /proc/self/maps, as in
# a signal handler) and a double free (frames named by dladdr). Every
# frame of the program is given to addr2line -f: each must name a
# function (not ??), and among them the functions that made the block
# and overran it. Until stop 42 both ways printed a file offset, which is
# the address only where a segment's address equals its offset: in the
# fixed-address build addr2line named nothing. And a program that
# removed its own file names it in a fault report without the kernel's
# " (deleted)".
#
# Environment (set by make check): CC, top_srcdir, top_builddir,
# AR_HEAP_CONFIG_DEBUG. Exits 0 when all pass, 1 on any failure, 77
# (skip) without addr2line or in a release or sanitizer build.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
cc=${CC:-cc}

. "$top_srcdir/tests/ar_test_lib.sh"
if ! command -v addr2line >/dev/null 2>&1; then
    echo "SKIP: no addr2line (binutils)"
    exit 77
fi
ar_debug_program_setup
ar_library
ar_scratch_headers "$scratch/include" 1

# check LABEL PROG MODE WANTED...: run PROG MODE; every "(PROG+0x...)" of
# its report must name a function, and WANTED each be among them.
check() {
    label=$1 prog=$2 mode=$3
    shift 3
    "$prog" "$mode" >"$scratch/out" 2>&1
    offsets=$(sed -n "s|.*(${prog}+\\(0x[0-9a-f]*\\)).*|\\1|p" "$scratch/out")
    if [ -z "$offsets" ]; then
        fail "$label $mode: no frame of the program printed as module+offset:"
        sed 's/^/    /' "$scratch/out"
        return
    fi
    # shellcheck disable=SC2086 # offsets is a word list
    addr2line -f -e "$prog" $offsets >"$scratch/names" 2>&1
    names=$(awk 'NR % 2 == 1' "$scratch/names")
    if echo "$names" | grep -q '^??$'; then
        fail "$label $mode: addr2line names nothing at some offsets ($offsets):"
        sed 's/^/    /' "$scratch/names" "$scratch/out"
        return
    fi
    for want in "$@"; do
        if ! echo "$names" | grep -q "^$want\$"; then
            fail "$label $mode: no frame names $want ($offsets):"
            sed 's/^/    /' "$scratch/names" "$scratch/out"
            return
        fi
    done
    pass "$label $mode: addr2line names every frame ($(echo "$names" | tr '\n' ' '))"
}

build() {
    label=$1
    shift
    # shellcheck disable=SC2086 # library and libs are word lists
    if ! $cc -std=c11 -g -O1 -fno-omit-frame-pointer "$@" -I"$scratch/include" \
        -o "$scratch/prog-$label" "$top_srcdir/tests/module_offset/prog.c" $library $libs \
        >"$scratch/build.log" 2>&1; then
        fail "$label: tests/module_offset/prog.c does not build:"
        sed 's/^/    /' "$scratch/build.log"
        return 1
    fi
}

for variant in pie nopie lld; do
    case $variant in
    pie) flags="-fPIE -pie" ;;
    nopie) flags="-fno-pie -no-pie" ;;
    lld)
        if ! command -v ld.lld >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
            echo "(no ld.lld and clang: the lld build is not made)"
            continue
        fi
        flags="-fPIE -pie -fuse-ld=lld"
        ;;
    esac
    saved_cc=$cc
    [ "$variant" = lld ] && cc=clang
    # shellcheck disable=SC2086 # flags is a word list
    if build "$variant" $flags; then
        prog="$scratch/prog-$variant"
        check "$variant" "$prog" fault overflow_here make_block main
        check "$variant" "$prog" free free_twice make_block main
    fi
    cc=$saved_cc
done
# A program whose file is removed while it runs: its path in the fault
# report is the path, without the " (deleted)" the kernel adds in
# /proc/self/maps (until stop 42 it was printed).
if [ -x "$scratch/prog-pie" ]; then
    cp "$scratch/prog-pie" "$scratch/prog-gone"
    "$scratch/prog-gone" fault-unlinked >"$scratch/out" 2>&1
    if grep -q "($scratch/prog-gone+0x" "$scratch/out" && ! grep -q ' (deleted)' "$scratch/out"; then
        pass "a removed program's frames name its path"
    else
        fail "a removed program's frames do not name its path:"
        sed 's/^/    /' "$scratch/out"
    fi
fi
# A program at a path of over 600 bytes: its fault report names the whole
# path (until stop 42 the maps line was cut at 511 bytes, the path with
# it).
if [ -x "$scratch/prog-pie" ]; then
    long="$scratch"
    for part in 1 2 3; do
        long="$long/$(printf '%0200d' "$part")"
    done
    mkdir -p "$long" && cp "$scratch/prog-pie" "$long/prog"
    "$long/prog" fault >"$scratch/out" 2>&1
    if grep -qF "($long/prog+0x" "$scratch/out"; then
        pass "a program at a path of ${#long} bytes and more is named whole"
    else
        fail "a program at a long path is not named whole:"
        sed 's/^/    /' "$scratch/out" | cut -c1-300
    fi
fi
ar_summary "module+offset cases"
