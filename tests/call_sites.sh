#!/bin/sh
# call_sites.sh: which function each debug macro call reaches.
#
# With GCC and Clang a debug macro whose description is a string literal
# or NULL calls the _site function with a static ar_heap_call_site_t of
# its own; any other description goes to the function with file and line
# (ar_heap.h, "Call-site objects"). tests/call_sites/uses.c has one
# function per kind of call; for gcc and clang (whichever are available)
# it is compiled at -O2 in debug mode against scratch copies of the
# headers, with -std=c11 -pedantic -Wall -Wextra -Wshadow -Werror, and its
# disassembly read function by function:
#   - use_site_*: references an ar_heap__*_site function and no arheap
#     function with file and line (ar_heap__malloc, ar_heap__free_at ...);
#   - use_plain_*: references the function with file and line and no
#     _site function;
#   - with -DAR_HEAP_NO_CALL_SITES the whole object references no _site
#     function and every use_ function an arheap function;
#   - a check of the check: the same reader must find the _site call in
#     use_site_malloc, so a reader that finds nothing cannot pass.
#
# Environment (set by make check): AR_GCC, AR_CLANG, CC, AR_OBJDUMP,
# top_srcdir. Exits 0 when all pass, 1 on any failure, 77 (skip) without
# objdump or a compiler.

top_srcdir=${top_srcdir:-.}
source=$top_srcdir/tests/call_sites/uses.c
cflags='-std=c11 -pedantic -Wall -Wextra -Wshadow -Werror -O2 -c'

if [ ! -f "$source" ]; then
    echo "call_sites.sh: no tests/call_sites/uses.c under top_srcdir='$top_srcdir'" >&2
    exit 1
fi
. "$top_srcdir/tests/ar_test_lib.sh"
ar_find_objdump "read the calls"
ar_find_compilers "the call-site tests"

scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
ar_scratch_headers "$scratch/debug" 1

# calls OBJECT: "FUNCTION SYMBOL" for each arheap function each function
# of OBJECT references (calls and tail calls alike, read from the
# relocations of the disassembly).
calls() {
    "$objdump" -dr --no-show-raw-insn "$1" | awk '
        /^[0-9a-f]+ <[^>]+>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
        /R_[A-Z0-9_]+[ \t]+ar_heap__/ {
            for (i = 1; i <= NF; i++)
                if ($i ~ /^ar_heap__/) { s = $i; sub(/[-+].*$/, "", s); print fn, s }
        }' | sort -u
}

for label in $compilers; do
    if [ "$label" = gcc ]; then cc=$gcc_path; else cc=$clang_path; fi
    obj=$scratch/uses.$label.o
    # shellcheck disable=SC2086 # flag lists are split on purpose
    if ! "$cc" $cflags -I"$scratch/debug" "$source" -o "$obj" >"$scratch/log" 2>&1; then
        fail "$label: uses.c does not compile cleanly:"
        sed 's/^/    /' "$scratch/log"
        continue
    fi
    calls "$obj" >"$scratch/calls"
    grep -q '^use_site_malloc ar_heap__malloc_site$' "$scratch/calls" &&
        pass "$label: the reader finds use_site_malloc's call of ar_heap__malloc_site" ||
        fail "$label: the reader does not find use_site_malloc's call of ar_heap__malloc_site"
    for fn in $(sed -n 's/^[a-z ]*\*\{0,1\}\(use_[a-z_]*\)(.*/\1/p' "$source" | sort -u); do
        mine=$(grep "^$fn " "$scratch/calls" | cut -d' ' -f2 | tr '\n' ' ')
        case $fn in
        use_site_*)
            if echo "$mine" | grep -q '_site' && ! echo "$mine" | grep -qE 'ar_heap__(malloc|calloc|realloc|strdup|free_at)( |$)'; then
                pass "$label: $fn calls $mine"
            else
                fail "$label: $fn should call only _site functions, calls: ${mine:-nothing}"
            fi
            ;;
        use_plain_*)
            if [ -n "$mine" ] && ! echo "$mine" | grep -q '_site'; then
                pass "$label: $fn calls $mine"
            else
                fail "$label: $fn should call the function with file and line, calls: ${mine:-nothing}"
            fi
            ;;
        esac
    done
    # The opt-out: no _site function anywhere.
    # shellcheck disable=SC2086
    if "$cc" $cflags -DAR_HEAP_NO_CALL_SITES -I"$scratch/debug" "$source" -o "$obj" >"$scratch/log" 2>&1; then
        calls "$obj" >"$scratch/calls"
        users=$(cut -d' ' -f1 "$scratch/calls" | sort -u | grep -c '^use_')
        if grep -q '_site$' "$scratch/calls"; then
            fail "$label: AR_HEAP_NO_CALL_SITES still calls: $(grep '_site$' "$scratch/calls" | tr '\n' ' ')"
        elif [ "$users" -lt 12 ]; then
            fail "$label: AR_HEAP_NO_CALL_SITES: only $users of the 12 use_ functions call arheap"
        else
            pass "$label: AR_HEAP_NO_CALL_SITES calls the functions with file and line only"
        fi
    else
        fail "$label: uses.c does not compile cleanly with AR_HEAP_NO_CALL_SITES:"
        sed 's/^/    /' "$scratch/log"
    fi
done

ar_summary "call-site cases"
