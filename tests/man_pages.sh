#!/bin/sh
# man_pages.sh: every public name of the installed headers has a man page.
#
# The public names are the identifiers of include/*.h that begin with
# ar_heap__, ar_heap_check__, AR__HEAP__ or AR__ALLOCATOR__ (functions and
# the macros in front of them), less the few helpers listed in `internal`
# below. (ar_allocator.h's AR_ALLOCATOR__* and ar_allocator__* helpers are
# marked Internal there and have other prefixes.) For each name NAME:
#
# - doc/NAME.3 exists and is in dist_man_MANS in Makefile.am, so that
#   `man NAME` finds it once installed;
# - it is the page documenting NAME, or a link page holding only
#   ".so man3/PAGE.3" to a page, itself installed and no link, that does;
# - that page's NAME section lists NAME.
#
# And the other way: every such name listed in a NAME section is still in
# the headers; every page in doc/ is installed and every installed page
# exists; a "#define NAME VALUE" in a synopsis matches the header's. When
# man(1) is installed, `man -w NAME` must also find each page in a copy of
# doc/ laid out as an installed man3 directory, and `man NAME` must render.
#
# A Zig module, include/NAME.zig, has its page doc/NAME.3, installed, whose
# SYNOPSIS shows each of its pub declarations (one case per module).
#
# Environment (set by make check): top_srcdir. Prints one line per failure
# and a last line "N of M man page checks passed" (one case per public
# name, three for the set of pages); exits 0 when everything holds, else 1.

top_srcdir=${top_srcdir:-.}
doc=$top_srcdir/doc

# Static inline helpers of the headers, public only in name.
internal='ar_heap_check__fixture_mark'

if [ ! -f "$top_srcdir/Makefile.am" ] || [ ! -d "$doc" ]; then
    echo "man_pages.sh: no Makefile.am or doc/ under top_srcdir='$top_srcdir'" >&2
    exit 1
fi

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

pattern='\b(ar_heap__|ar_heap_check__|AR__HEAP__|AR__ALLOCATOR__)[A-Za-z0-9_]*[A-Za-z0-9]'

# Public names, one a line.
names=$(grep -ohE "$pattern" "$top_srcdir"/include/*.h | sort -u)
for n in $internal; do
    echo "$names" | grep -qx "$n" || fail "'$n' is listed as internal but is in no header"
    names=$(echo "$names" | grep -vx "$n")
done

# Pages installed: the words of every dist_man_MANS assignment, continued
# lines joined.
installed=$(sed -e ':a' -e '/\\$/N' -e 's/\\\n/ /' -e 'ta' "$top_srcdir/Makefile.am" |
    sed -n 's/^dist_man_MANS[ 	]*+*=//p' | tr ' 	' '\n\n' | grep -v '^$' | sort -u)

is_installed() {
    echo "$installed" | grep -qx "doc/$1"
}

# The NAME section of a page: the lines between .SH NAME and the next .SH.
name_section() {
    sed -n '/^\.SH NAME/,/^\.SH/p' "$1" | sed '1d;$d'
}

# The page a link page points to ("PAGE.3"), or nothing.
link_target() {
    sed -n 's|^\.so man3/\(.*\.3\)$|\1|p' "$1"
}

# man(1) itself, on a copy of the pages laid out as installed.
scratch=
if command -v man >/dev/null 2>&1; then
    scratch=$(mktemp -d) || exit 1
    trap 'rm -rf "$scratch"' EXIT
    mkdir "$scratch/man3"
    cp "$doc"/*.3 "$scratch/man3/"
else
    echo "man_pages.sh: man(1) not installed: the pages are not looked up with it"
fi

# check_name NAME: the checks of one public name.
check_name() {
    n=$1
    page=$doc/$n.3
    if [ ! -f "$page" ]; then
        fail "$n: no doc/$n.3"
        return
    fi
    is_installed "$n.3" || fail "$n: doc/$n.3 is not in dist_man_MANS"
    target=$(link_target "$page")
    if [ -n "$target" ]; then
        if [ "$(grep -cv '^\.\\"' "$page")" -ne 1 ]; then
            fail "$n: doc/$n.3 has more than its .so line"
        fi
        if [ ! -f "$doc/$target" ]; then
            fail "$n: doc/$n.3 links to $target, which is not in doc/"
            return
        fi
        is_installed "$target" || fail "$n: $target (linked from doc/$n.3) is not in dist_man_MANS"
        if [ -n "$(link_target "$doc/$target")" ]; then
            fail "$n: $target is itself a link page"
            return
        fi
        page=$doc/$target
    fi
    name_section "$page" | grep -qE "(^|[ ,])$n(,|\$| )" ||
        fail "$n: the NAME section of $(basename "$page") does not list it"
    [ -n "$scratch" ] || return
    # man-db names the page a link leads to.
    found=$(MANPATH=$scratch man -w "$n" 2>/dev/null)
    case $found in
    "$scratch/man3/$n.3" | "$scratch/man3/${target:-$n.3}") ;;
    *) fail "man -w $n: '$found'" ;;
    esac
    MANPATH=$scratch MANWIDTH=80 man -P cat "$n" 2>/dev/null | grep -q "$n" ||
        fail "man $n does not render a page naming it"
}

# Cases: one per public name, and three for the whole set of pages.
cases=0
passed=0
case_done() {
    cases=$((cases + 1))
    [ "$failures" -eq "$1" ] && passed=$((passed + 1))
}

for n in $names; do
    before=$failures
    check_name "$n"
    case_done "$before"
done

# Names in NAME sections that the headers no longer have.
before=$failures
for page in "$doc"/*.3; do
    [ -n "$(link_target "$page")" ] && continue
    for n in $(name_section "$page" | grep -oE "$pattern"); do
        echo "$names" | grep -qx "$n" ||
            fail "$(basename "$page") lists $n in NAME, which no header declares"
    done
done
case_done "$before"

# Pages and dist_man_MANS agree.
before=$failures
for page in "$doc"/*.3; do
    is_installed "$(basename "$page")" || fail "doc/$(basename "$page") is not in dist_man_MANS"
done
for p in $installed; do
    [ -f "$top_srcdir/$p" ] || fail "dist_man_MANS names $p, which does not exist"
done
case_done "$before"

# A constant in a synopsis has the header's value.
before=$failures
for page in "$doc"/*.3; do
    sed -n 's/^\.B #define \([A-Za-z0-9_]*\) \(.*\)$/\1 \2/p' "$page" | while read -r macro value; do
        grep -qE "^#define $macro $value\$" "$top_srcdir"/include/*.h ||
            echo "FAIL: $(basename "$page"): '#define $macro $value' is not in the headers"
    done
done | grep . && failures=$((failures + 1))
case_done "$before"

# Zig modules: each include/NAME.zig has its page doc/NAME.3, installed,
# whose SYNOPSIS shows every pub declaration of the module.
for module in "$top_srcdir"/include/*.zig; do
    [ -f "$module" ] || continue
    before=$failures
    base=$(basename "$module")
    page=$doc/$base.3
    if [ ! -f "$page" ]; then
        fail "$base: no doc/$base.3"
    else
        is_installed "$base.3" || fail "$base: doc/$base.3 is not in dist_man_MANS"
        synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$page")
        for n in $(sed -n 's/^pub \(inline \)*\(fn\|const\|var\) \([A-Za-z_][A-Za-z0-9_]*\).*/\3/p' "$module"); do
            echo "$synopsis" | grep -qE "(fn|const|var) $n\b" ||
                fail "$base: pub $n is not in the SYNOPSIS of doc/$base.3"
        done
    fi
    case_done "$before"
done

echo "$passed of $cases man page checks passed"
[ "$passed" -eq "$cases" ] && [ "$failures" -eq 0 ]
