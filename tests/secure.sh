#!/bin/sh
# secure.sh: a set-user-ID program linked with arheap takes nothing from
# its caller's environment.
#
# tests/secure/suid.c is linked with the debug library, installed in a
# scratch folder as root with mode 4755, and run as nobody (setpriv), its
# working directory one nobody owns, with AR_HEAP_OPTIONS naming a
# root-only file as the report file and AGERUN_MEMORY_REPORT another.
# The program leaks a block, so the exit report has something to write:
#   - the root-only file is unchanged and the other is not created;
#   - no report file is created in the working directory either;
#   - stderr has the warning that the variables are ignored, and the
#     report itself (it goes there).
#
# Environment (set by make check): CC, top_srcdir, top_builddir,
# AR_HEAP_CONFIG_DEBUG. Exits 0 when all pass, 1 on any failure, 77 (skip)
# when not root, without setpriv, in a release or sanitizer build, or
# where the scratch folder's file system ignores set-user-ID bits.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
cc=${CC:-cc}

. "$top_srcdir/tests/ar_test_lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1; then
    echo "SKIP: installing a set-user-ID program needs root and setpriv"
    exit 77
fi
ar_debug_program_setup
chmod 755 "$scratch"
ar_library
ar_scratch_headers "$scratch/include" 1
# shellcheck disable=SC2086 # library and libs are word lists
if ! $cc -std=c11 -Wall -Wextra -Werror -I"$scratch/include" -o "$scratch/suid" \
    "$top_srcdir/tests/secure/suid.c" $library $libs >"$scratch/build.log" 2>&1; then
    echo "FAIL: tests/secure/suid.c does not build:"
    sed 's/^/    /' "$scratch/build.log"
    exit 1
fi
chown 0:0 "$scratch/suid" && chmod 4755 "$scratch/suid" || exit 1
echo secret >"$scratch/rootfile" && chmod 600 "$scratch/rootfile" || exit 1
mkdir "$scratch/work" && chown 65534 "$scratch/work" || exit 1

(cd "$scratch/work" &&
    setpriv --reuid=65534 --regid=65534 --clear-groups env \
        AR_HEAP_OPTIONS="report_path=$scratch/rootfile:leak_exitcode=0" \
        AGERUN_MEMORY_REPORT="$scratch/created" "$scratch/suid" \
        >"$scratch/out" 2>"$scratch/err")
status=$?
if ! grep -q '^\[secure=1\]$' "$scratch/out"; then
    echo "SKIP: the program did not run set-user-ID (a nosuid file system?):"
    sed 's/^/    /' "$scratch/out" "$scratch/err"
    exit 77
fi

if [ "$(cat "$scratch/rootfile")" = secret ]; then
    pass "the root-only file AR_HEAP_OPTIONS named is unchanged"
else
    fail "the root-only file AR_HEAP_OPTIONS named was written:"
    sed 's/^/    /' "$scratch/rootfile"
fi
if [ ! -e "$scratch/created" ]; then
    pass "the file AGERUN_MEMORY_REPORT named is not created"
else
    fail "the file AGERUN_MEMORY_REPORT named was created"
fi
if [ -z "$(ls -A "$scratch/work")" ]; then
    pass "no report file in the working directory"
else
    fail "files in the working directory: $(ls -A "$scratch/work")"
fi
if grep -q 'arheap: warning: a set-user-ID or set-group-ID program: AR_HEAP_OPTIONS and AGERUN_MEMORY_REPORT are ignored' "$scratch/err"; then
    pass "the warning says the variables are ignored"
else
    fail "no warning on stderr:"
    sed 's/^/    /' "$scratch/err"
fi
if grep -q '"leaked by the set-user-ID program"' "$scratch/err"; then
    pass "the report goes to stderr"
else
    fail "no report on stderr:"
    sed 's/^/    /' "$scratch/err"
fi
# leak_exitcode=0 was ignored with the rest: the default status, 23.
if [ "$status" = 23 ]; then
    pass "leak_exitcode from the environment is ignored (status 23)"
else
    fail "exit status $status, not the default leak status 23"
fi
ar_summary "set-user-ID cases"
