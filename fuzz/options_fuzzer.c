/*
 * options_fuzzer.c: libFuzzer target for ar_heap__set_options().
 *
 * Two kinds of input, by the first byte's low bit:
 *
 *   raw         the rest of the input, up to its first NUL, is the option
 *               string. The return value must lie between 0 and the
 *               number of non-empty pairs separated by ':', ',' or
 *               white space.
 *   structured  each byte picks a pair from a table of pairs whose
 *               validity is known (edge values, bad numbers, unknown and
 *               over-long keys, over-long paths, empty pairs); the pairs
 *               are joined with ':'. The return value must be exactly the
 *               number of bad pairs picked: a string of valid pairs only
 *               returns 0. Every option of src/options.c has a valid and
 *               a bad pair there: at start-up the fuzzer reads the
 *               library's option list (help) and stops when one lacks
 *               either, so a new option can not be forgotten.
 *
 * Then the options in force must be what the input asked for: the fuzzer
 * keeps its own model of every option's field (values read with strtoull
 * and compared with words here, not with the library's parser), applies
 * to it each valid pair of a structured input, in order, or every pair of
 * a raw input that set_options accepted whole (0 problems), and compares
 * it with ar_heap_options, field by field and then whole (a value written
 * to the wrong field). Until stop 43 nothing looked at the values: a
 * parser that ignored a number or read "yes" as 0 passed, since the fail_*
 * checks below ask ar_heap_options what was set.
 *
 * After either, a small allocate, realloc, strdup, free and check cycle
 * runs under the options just set: it must report nothing and leave
 * nothing live. The fail_* options (fail_nth, fail_every, fail_random,
 * fail_seed, and fail_file with fail_line, which can name this file and
 * the line of the cycle's MALLOC) make its allocations fail: each must
 * return NULL with ENOMEM exactly when the options in force say (any may
 * with fail_random), and failures_injected must count those NULLs. Two
 * options are also checked by what they do, so that a value parsed right
 * and then not used is caught: with fill=1 the MALLOC's first fill_max
 * bytes hold 0xbe, and after the cycle's frees the quarantine holds a
 * block exactly when quarantine_bytes is not 0.
 * Then the defaults are restored (ar_heap_options__reset, then this
 * fuzzer's own options), which must give back exactly the options in
 * force before the input: nothing the parser wrote may survive, fail_*
 * injection is disarmed, and the flush that empties the quarantine
 * allocates without an injected failure or a report.
 *
 * Run with -close_fd_mask=2: each bad pair writes a warning to stderr.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_heap_internal.h"

/* This fuzzer's own options on top of the defaults: errors do not stop
 * it, no leak report, no report file. */
static const char own_options[] = "on_error=continue:leak_report=0:report_path=";

static ar_heap_options_t in_force; /* after restore_defaults(), to compare with */
static int report_fd = 2;

typedef struct pair_s {
    const char *text;
    int valid;
} pair_t;

/* Pairs made at start-up: fail_line naming the line of the cycle's MALLOC
 * (with fail_file naming this file, that allocation fails), and paths one
 * byte too long. */
static char fail_line_pair[32];
static char long_fail_file_pair[16 + AR_HEAP_PATH_CAPACITY];
static char long_report_path_pair[16 + AR_HEAP_PATH_CAPACITY];

static void make_long_path_pair(char *pair, const char *key)
{
    size_t n = strlen(key);
    memcpy(pair, key, n);
    memset(pair + n, 'p', AR_HEAP_PATH_CAPACITY);
    pair[n + AR_HEAP_PATH_CAPACITY] = '\0';
}

static const pair_t pairs[] = {
    { "", 1 }, /* an empty pair is skipped, not a problem */
    { "on_error=continue", 1 },
    { "on_error=abort", 1 },
    { "on_error=exit", 1 },
    { "on_error=Continue", 0 },
    { "on_error=", 0 },
    { "error_exitcode=1", 1 },
    { "error_exitcode=255", 1 },
    { "error_exitcode=0", 0 },
    { "error_exitcode=256", 0 },
    { "error_exitcode=-1", 0 },
    { "error_exitcode=99999999999999999999999", 0 },
    { "leak_exitcode=0", 1 },
    { "leak_exitcode=255", 1 },
    { "leak_exitcode=256", 0 },
    { "leak_report=0", 1 },
    { "leak_report=no", 1 },
    { "leak_report=2", 0 },
    { "report_path=", 1 },
    { "report_path=/dev/null", 1 },
    { long_report_path_pair, 0 },
    { "freed_history=0", 1 },
    { "freed_history=18446744073709551615", 1 },
    { "freed_history=18446744073709551616", 0 },
    { "canary=1", 1 },
    { "canary=true", 1 },
    { "canary=yes", 1 },
    { "canary=false", 1 },
    { "canary=", 0 },
    { "canary=1 ", 1 }, /* white space separates pairs */
    { "canary='1'", 1 },
    { "canary", 0 },
    { "Canary=1", 0 },
    { "fill=0", 1 },
    { "fill=TRUE", 0 },
    { "quarantine_bytes=0", 1 },
    { "quarantine_bytes=4096", 1 },
    { "quarantine_bytes=+1", 0 },
    { "quarantine_bytes=1e6", 0 },
    { "check_every=1", 1 },
    { "check_every=3", 1 },
    { "check_every=0x10", 0 },
    { "report_json=1", 1 },
    { "stack_depth=2", 1 },
    { "stack_depth=8", 1 },
    { "stack_depth=1000", 1 }, /* a valid size; the heap keeps at most 16 */
    { "guard=1", 1 },
    { "guard=1:guard_sample=3", 1 },
    { "guard_below=1", 1 },
    { "guard_align=1", 1 },
    { "guard_align=4096", 1 },
    { "guard_align=0", 0 },
    { "guard_align=4097", 0 },
    { "guard_min_size=100", 1 },
    { "guard_max_size=64", 1 },
    { "guard_sample=0", 1 },
    { "guard_sample=3", 1 },
    { "guard_sample=-3", 0 },
    { "guard_min_size=1k", 0 },
    { "guard_max_size=0", 1 },
    { "guard_max_size=", 0 },
    { "guard_below=2", 0 },
    { "guard=on", 0 },
    { "freed_history=4096", 1 },
    { "freed_history=-1", 0 },
    { "leak_exitcode=-1", 0 },
    { "report_json=0", 1 },
    { "report_json=json", 0 },
    { "stack_depth=0", 1 },
    { "stack_depth=deep", 0 },
    { "stack_exact=1", 1 }, /* glibc's backtrace() instead of the frame walk */
    { "stack_exact=0", 1 },
    { "stack_exact=exact", 0 },
    { "check_every=0", 1 },
    { "fill_max=4096", 1 }, /* the 0xbe mark on the first 4 KiB of a block only */
    { "fill_max=all", 0 },
    /* Symbols in reports (src/symbol.c). symbolizer= names addr2line or
     * llvm-symbolizer, by name or by a path to an executable. */
    { "leak_scan=0", 1 },
    { "leak_scan=maybe", 0 },
    { "leak_reachable=0", 1 },
    { "leak_reachable=all", 0 },
    { "guard_mechanism=mprotect", 1 },
    { "guard_mechanism=auto", 1 },
    { "guard_mechanism=brk", 0 },
    { "allow_malloc_0=1", 1 },
    { "allow_malloc_0=2", 0 },
    { "suppressions=", 1 }, /* no file: nothing read */
    { "suppressions=no-such-file.supp", 0 },
    { "symbolize=0", 1 },
    { "symbolize=1", 1 },
    { "symbolize=on", 0 },
    { "symbolizer=", 1 },
    { "symbolizer=addr2line", 1 },
    { "symbolizer=llvm-symbolizer", 1 },
    { "symbolizer=ls", 0 },
    { "symbolizer=/nonexistent/addr2line", 0 },
    /* Injected failures (src/inject.c). They make the cycle's allocations
     * fail, which cycle() predicts. */
    { "fail_nth=0", 1 },
    { "fail_nth=1", 1 },
    { "fail_nth=2", 1 },
    { "fail_nth=3", 1 },
    { "fail_nth=18446744073709551615", 1 },
    { "fail_nth=18446744073709551616", 0 },
    { "fail_nth=-1", 0 },
    { "fail_nth=", 0 },
    { "fail_every=0", 1 },
    { "fail_every=1", 1 },
    { "fail_every=2", 1 },
    { "fail_every=3", 1 },
    { "fail_every=two", 0 },
    { "fail_random=0", 1 },
    { "fail_random=500000", 1 },
    { "fail_random=1000000", 1 },
    { "fail_random=2000000", 1 }, /* more than a million: every allocation */
    { "fail_random=0.5", 0 },
    { "fail_seed=0", 1 },
    { "fail_seed=1", 1 },
    { "fail_seed=18446744073709551615", 1 },
    { "fail_seed=18446744073709551616", 0 },
    { "fail_seed=x", 0 },
    { "fail_file=", 1 },
    { "fail_file=options_fuzzer.c", 1 },
    { "fail_file=fuzz/options_fuzzer.c", 1 },
    { "fail_file=s_fuzzer.c", 1 }, /* not a whole path component: never matches */
    { "fail_file=other.c", 1 },
    { long_fail_file_pair, 0 },
    { "fail_line=0", 1 },
    { "fail_line=1", 1 },
    { fail_line_pair, 1 },
    { "fail_line=2147483647", 1 },
    { "fail_line=2147483648", 0 },
    { "fail_line=-1", 0 },
    { "fail_line=", 0 },
    { "guard_max_live=100", 1 },
    { "guard_max_live=-1", 0 },
    { "help=0", 1 },
    { "help=1", 1 }, /* prints the options; the flag does not stay set */
    { "help=maybe", 0 },
    { "nosuchoption=1", 0 },
    { "=1", 0 },
    { "=", 0 },
    { "canary==1", 0 },
    { "0123456789012345678901234567890123456789012345678901234567890123=1", 0 },
};

#define PAIR_COUNT (sizeof pairs / sizeof pairs[0])

/*
 * The model of the options' values: each option's field and how its value
 * reads, as doc/arheap.md and the help text describe them (booleans 1,
 * true, yes or 0, false, no; decimal numbers; words; paths as given;
 * stack_depth at most 16 frames). Only valid pairs are applied to it.
 * suppressions has no field (a file read), and help is cleared once
 * printed: both leave the model as it was.
 */
typedef enum model_kind_e {
    MODEL_BOOL,
    MODEL_INT,
    MODEL_SIZE,
    MODEL_ACTION,
    MODEL_MECHANISM,
    MODEL_PATH,
    MODEL_NONE
} model_kind_t;

typedef struct model_field_s {
    const char *name;
    model_kind_t kind;
    size_t offset;
} model_field_t;

#define MODEL_FIELD(name, kind, field) { name, kind, offsetof(ar_heap_options_t, field) }

static const model_field_t model_fields[] = {
    MODEL_FIELD("on_error", MODEL_ACTION, on_error),
    MODEL_FIELD("error_exitcode", MODEL_INT, error_exitcode),
    MODEL_FIELD("leak_report", MODEL_BOOL, leak_report),
    MODEL_FIELD("leak_exitcode", MODEL_INT, leak_exitcode),
    MODEL_FIELD("leak_scan", MODEL_BOOL, leak_scan),
    MODEL_FIELD("leak_reachable", MODEL_BOOL, leak_reachable),
    MODEL_FIELD("report_path", MODEL_PATH, report_path),
    MODEL_FIELD("freed_history", MODEL_SIZE, freed_history),
    MODEL_FIELD("canary", MODEL_BOOL, canary),
    MODEL_FIELD("fill", MODEL_BOOL, fill),
    MODEL_FIELD("fill_max", MODEL_SIZE, fill_max),
    MODEL_FIELD("quarantine_bytes", MODEL_SIZE, quarantine_bytes),
    MODEL_FIELD("check_every", MODEL_SIZE, check_every),
    MODEL_FIELD("report_json", MODEL_BOOL, report_json),
    MODEL_FIELD("stack_depth", MODEL_SIZE, stack_depth),
    MODEL_FIELD("stack_exact", MODEL_BOOL, stack_exact),
    MODEL_FIELD("symbolize", MODEL_BOOL, symbolize),
    MODEL_FIELD("symbolizer", MODEL_PATH, symbolizer),
    MODEL_FIELD("guard", MODEL_BOOL, guard),
    MODEL_FIELD("guard_below", MODEL_BOOL, guard_below),
    MODEL_FIELD("guard_align", MODEL_INT, guard_align),
    MODEL_FIELD("guard_sample", MODEL_SIZE, guard_sample),
    MODEL_FIELD("guard_min_size", MODEL_SIZE, guard_min_size),
    MODEL_FIELD("guard_max_size", MODEL_SIZE, guard_max_size),
    MODEL_FIELD("guard_max_live", MODEL_SIZE, guard_max_live),
    MODEL_FIELD("guard_mechanism", MODEL_MECHANISM, guard_mechanism),
    MODEL_FIELD("fail_nth", MODEL_SIZE, fail_nth),
    MODEL_FIELD("fail_every", MODEL_SIZE, fail_every),
    MODEL_FIELD("fail_random", MODEL_SIZE, fail_random),
    MODEL_FIELD("fail_seed", MODEL_SIZE, fail_seed),
    MODEL_FIELD("fail_file", MODEL_PATH, fail_site_file),
    MODEL_FIELD("fail_line", MODEL_INT, fail_site_line),
    MODEL_FIELD("allow_malloc_0", MODEL_BOOL, allow_malloc_0),
    { "suppressions", MODEL_NONE, 0 },
    { "help", MODEL_NONE, 0 },
};

#define MODEL_FIELD_COUNT (sizeof model_fields / sizeof model_fields[0])

static const model_field_t *model_field(const char *name, size_t len)
{
    for (size_t i = 0; i < MODEL_FIELD_COUNT; i++)
        if (strlen(model_fields[i].name) == len && strncmp(model_fields[i].name, name, len) == 0)
            return &model_fields[i];
    return NULL;
}

static int model_separator(char c)
{
    return c == ':' || c == ',' || c == ' ' || (c >= '\t' && c <= '\r');
}

/* One valid pair's value, as the documentation reads it, into *m. */
static void model_set(ar_heap_options_t *m, const model_field_t *f, const char *value)
{
    char *field = (char *)m + f->offset;
    switch (f->kind) {
    case MODEL_BOOL:
        *(int *)field =
            strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0;
        if (f->offset == offsetof(ar_heap_options_t, guard))
            m->guard_given = 1;
        break;
    case MODEL_INT:
        *(int *)field = (int)strtol(value, NULL, 10);
        break;
    case MODEL_SIZE: {
        /* Past ULLONG_MAX strtoull gives ULLONG_MAX: only stack_depth
         * takes such a number (clamped), the others refuse it. */
        unsigned long long v = strtoull(value, NULL, 10);
        if (f->offset == offsetof(ar_heap_options_t, stack_depth) && v > AR_HEAP_STACK_MAX)
            v = AR_HEAP_STACK_MAX;
        *(size_t *)field = (size_t)v;
        break;
    }
    case MODEL_ACTION:
        m->on_error = strcmp(value, "abort") == 0  ? AR_HEAP_ACTION_ABORT
                      : strcmp(value, "exit") == 0 ? AR_HEAP_ACTION_EXIT
                                                   : AR_HEAP_ACTION_CONTINUE;
        break;
    case MODEL_MECHANISM:
        m->guard_mechanism = strcmp(value, "mprotect") == 0  ? AR_HEAP_GUARD_MECH_MPROTECT
                             : strcmp(value, "madvise") == 0 ? AR_HEAP_GUARD_MECH_MADVISE
                                                             : AR_HEAP_GUARD_MECH_AUTO;
        break;
    case MODEL_PATH:
        snprintf(field, AR_HEAP_PATH_CAPACITY, "%s", value);
        if (f->offset == offsetof(ar_heap_options_t, report_path))
            m->report_path_set = 1;
        break;
    case MODEL_NONE:
        break;
    }
}

/*
 * Apply the pairs of `text`, every one of them valid, to *m: split as
 * doc/arheap.md says (':', ',' or white space between pairs; a value in
 * single or double quotes runs to the same quote). Returns 0 when a pair
 * is not one the model can read (no '=', an unknown key, an unclosed
 * quote), which set_options must then have counted as a problem.
 */
static int model_apply(ar_heap_options_t *m, const char *text)
{
    static char value[AR_HEAP_PATH_CAPACITY];
    for (;;) {
        while (model_separator(*text))
            text++;
        if (*text == '\0')
            return 1;
        const char *key = text;
        while (*text != '\0' && *text != '=' && !model_separator(*text))
            text++;
        const model_field_t *f = model_field(key, (size_t)(text - key));
        if (f == NULL || *text != '=')
            return 0;
        text++;
        const char *from = text;
        if (*text == '"' || *text == '\'') {
            const char *close = strchr(text + 1, *text);
            if (close == NULL)
                return 0;
            from = text + 1;
            text = close;
        } else {
            while (*text != '\0' && !model_separator(*text))
                text++;
        }
        size_t len = (size_t)(text - from);
        if (len >= sizeof value)
            return 0;
        memcpy(value, from, len);
        value[len] = '\0';
        if (*text == '"' || *text == '\'')
            text++;
        model_set(m, f, value);
    }
}

static void fail(const char *what, long expected, long got, const char *text)
{
    dprintf(report_fd, "options_fuzzer: %s: expected %ld, got %ld, for \"%.300s\"%s\n", what,
            expected, got, text, strlen(text) > 300 ? " (cut)" : "");
    abort();
}

/* Pairs that are not empty, split at every separator (':', ',', white
 * space; a quoted value only joins pieces): the most problems one string
 * can have. */
static long count_pairs(const char *text)
{
    long n = 0;
    size_t len = 0;
    for (const char *c = text;; c++) {
        if (*c == ':' || *c == ',' || *c == ' ' || (*c >= '\t' && *c <= '\r') || *c == '\0') {
            n += len > 0;
            len = 0;
            if (*c == '\0')
                return n;
        } else {
            len++;
        }
    }
}

/* Options equal field by field; the report path as a string (bytes past
 * its NUL are what a longer path left there). */
static int same_options(const ar_heap_options_t *a, const ar_heap_options_t *b)
{
    ar_heap_options_t x = *a, y = *b;
    if (strcmp(x.report_path, y.report_path) != 0)
        return 0;
    memset(x.report_path, 0, sizeof x.report_path);
    memset(y.report_path, 0, sizeof y.report_path);
    return memcmp(&x, &y, sizeof x) == 0;
}

/* The options in force must be the model's: each field named first, for
 * the diagnostic, then the whole structure (a value written to a field
 * that no pair named). */
static void check_model(const ar_heap_options_t *m, const char *text)
{
    const ar_heap_options_t *o = &ar_heap_options;
    for (size_t i = 0; i < MODEL_FIELD_COUNT; i++) {
        const model_field_t *f = &model_fields[i];
        const char *want = (const char *)m + f->offset, *got = (const char *)o + f->offset;
        long long w = 0, g = 0;
        switch (f->kind) {
        case MODEL_BOOL:
        case MODEL_INT:
        case MODEL_ACTION:
        case MODEL_MECHANISM:
            w = *(const int *)want;
            g = *(const int *)got;
            break;
        case MODEL_SIZE:
            w = (long long)*(const size_t *)want;
            g = (long long)*(const size_t *)got;
            break;
        case MODEL_PATH:
            w = (long long)strlen(want);
            g = strcmp(want, got) == 0 ? w : -1;
            break;
        case MODEL_NONE:
            continue;
        }
        if (w != g) {
            dprintf(report_fd, "options_fuzzer: option '%s' did not take the value set%s\n",
                    f->name, f->kind == MODEL_PATH ? " (its length; -1: other bytes)" : "");
            fail("an option's value (the model's, then the heap's)", (long)w, (long)g, text);
        }
    }
    if (o->guard_given != m->guard_given || o->report_path_set != m->report_path_set)
        fail("guard_given, report_path_set (as bits, the model's then the heap's)",
             m->guard_given | m->report_path_set << 1, o->guard_given | o->report_path_set << 1,
             text);
    if (!same_options(m, o))
        fail("the options in force, whole (a field no pair named changed)", 0, 1, text);
}

/* Every option back to its default (the library's own table, so options
 * added later are covered), then this fuzzer's own. */
static void restore_defaults(void)
{
    ar_heap_options__reset();
    if (ar_heap__set_options(own_options) != 0)
        abort();
}

/* The cycle's first allocation, at a line of its own that fail_line can
 * name (CYCLE_MALLOC_LINE: the line of the MALLOC below). */
enum { CYCLE_MALLOC_LINE = __LINE__ + 3 };
static unsigned char *cycle_malloc(uint8_t size)
{
    return AR__HEAP__MALLOC(size, "options cycle");
}

/* Whether the site's file, as the compiler named this file, is the one
 * fail_file names: equal, or a path ending in "/" and that name (the
 * option's documented rule, src/inject.c). */
static int fail_file_matches(void)
{
    const char *want = ar_heap_options.fail_site_file;
    const char *file = __FILE__;
    size_t have = strlen(file), need = strlen(want);
    if (need == 0)
        return 0;
    if (have == need)
        return strcmp(file, want) == 0;
    return have > need && file[have - need - 1] == '/' && strcmp(&file[have - need], want) == 0;
}

/* Whether the options in force make the nth tracked allocation since they
 * were set, made at `line` of this file, fail (fail_random aside). */
static int must_fail(size_t n, int line)
{
    const ar_heap_options_t *o = &ar_heap_options;
    return (o->fail_nth != 0 && n == o->fail_nth) || (o->fail_every != 0 && n % o->fail_every == 0) ||
           (o->fail_site_line != 0 && line == o->fail_site_line && fail_file_matches());
}

/* The cycle's nth allocation, made at `line`, returned p: NULL with
 * ENOMEM exactly when the fail_* options say (any may fail with
 * fail_random on). Counts the failures in *nulls. */
static void check_allocation(const void *p, size_t n, int line, size_t *nulls, const char *text)
{
    int want = must_fail(n, line);
    if (p == NULL) {
        if (errno != ENOMEM)
            fail("errno of a failed allocation (ENOMEM, then errno)", ENOMEM, errno, text);
        if (!want && ar_heap_options.fail_random == 0)
            fail("an allocation failed that no fail_* option names (its number)", 0, (long)n,
                 text);
        ++*nulls;
    } else if (want) {
        fail("an allocation that a fail_* option names succeeded (its number)", 0, (long)n, text);
    }
}

/* A clean cycle under whatever options are set: no report, nothing left.
 * An allocation fails exactly when the fail_* options say: that is no
 * report either, and the cycle goes on with what it has. */
static void cycle(uint8_t size, const char *text)
{
    ar_heap_stats_t before, after;
    size_t n = 0, nulls = 0;
    ar_heap__get_stats(&before);
    unsigned char *p = cycle_malloc(size);
    check_allocation(p, ++n, CYCLE_MALLOC_LINE, &nulls, text);
    if (p != NULL) {
        /* fill=1: the 0xbe mark on the first fill_max bytes (what lies
         * past them is whatever the slot held). */
        size_t filled = ar_heap_options.fill ? size : 0;
        if (filled > ar_heap_options.fill_max)
            filled = ar_heap_options.fill_max;
        for (size_t i = 0; i < filled; i++)
            if (p[i] != 0xbe)
                fail("fill=1: a new block's byte is not 0xbe (offset)", 0, (long)i, text);
        memset(p, 0x5a, size);
        unsigned char *q = AR__HEAP__REALLOC(p, (size_t)size + 8, "options cycle");
        check_allocation(q, ++n, __LINE__ - 1, &nulls, text);
        if (q != NULL) {
            for (size_t i = 0; i < size; i++)
                if (q[i] != 0x5a)
                    fail("REALLOC lost a byte at offset", 0, (long)i, text);
            p = q;
        }
        for (size_t i = 0; i < size; i++)
            if (p[i] != 0x5a)
                fail("a byte changed at offset", 0, (long)i, text);
    }
    char *s = AR__HEAP__STRDUP("options", "options cycle");
    check_allocation(s, ++n, __LINE__ - 1, &nulls, text);
    if (s != NULL && strcmp(s, "options") != 0)
        fail("STRDUP copied wrongly", 0, 1, text);
    int freed = s != NULL || p != NULL;
    AR__HEAP__FREE(s);
    AR__HEAP__FREE(p);
    (void)ar_heap__check_all();
    ar_heap__get_stats(&after);
    /* quarantine_bytes: a budget keeps at least the newest freed block (the
     * quarantine lets its oldest go first, never the last one in); 0 lets
     * every block go at its free. The quarantine was empty before. */
    if (freed && (after.quarantine_blocks != 0) != (ar_heap_options.quarantine_bytes != 0))
        fail("quarantine_blocks after the cycle's frees (quarantine_bytes not 0, then held)",
             ar_heap_options.quarantine_bytes != 0, (long)after.quarantine_blocks, text);
    if (after.errors_reported != before.errors_reported)
        fail("errors reported by a clean cycle", (long)before.errors_reported,
             (long)after.errors_reported, text);
    if (after.live_blocks != before.live_blocks)
        fail("live blocks after a clean cycle", (long)before.live_blocks, (long)after.live_blocks,
             text);
    if (after.failures_injected - before.failures_injected != nulls)
        fail("failures_injected by the cycle (its NULLs, then counted)", (long)nulls,
             (long)(after.failures_injected - before.failures_injected), text);
}

/*
 * Every option of the library's table (as AR_HEAP_OPTIONS=help=1 lists
 * it) must have a valid and a bad pair in pairs[], so that an option added
 * to src/options.c and not here stops the fuzzer at start-up.
 */
static void check_table_covers_options(void)
{
    static char help[65536];
    int fd = memfd_create("options_fuzzer-help", MFD_CLOEXEC);
    int saved = dup(2);
    if (fd < 0 || saved < 0 || dup2(fd, 2) != 2)
        abort();
    ar_heap_options__print_help();
    (void)dup2(saved, 2);
    close(saved);
    ssize_t len = pread(fd, help, sizeof help - 1, 0);
    close(fd);
    if (len <= 0)
        abort();
    help[len] = '\0';
    int missing = 0;
    for (char *line = strstr(help, "\n  "); line != NULL; line = strstr(line + 1, "\n  ")) {
        const char *name = line + 3;
        const char *end = strstr(name, " (default: ");
        if (name[0] == ' ' || end == NULL)
            continue; /* an option's help text */
        int valid = 0, bad = 0;
        for (size_t i = 0; i < PAIR_COUNT; i++) {
            size_t n = (size_t)(end - name);
            if (strncmp(pairs[i].text, name, n) == 0 && pairs[i].text[n] == '=') {
                valid += pairs[i].valid;
                bad += !pairs[i].valid;
            }
        }
        if (model_field(name, (size_t)(end - name)) == NULL) {
            dprintf(report_fd, "options_fuzzer: option '%.*s' needs a field in model_fields[]\n",
                    (int)(end - name), name);
            missing++;
        }
        if (valid == 0 || bad == 0) {
            dprintf(report_fd, "options_fuzzer: option '%.*s' needs a valid and a bad pair in "
                               "pairs[] (has %d valid, %d bad)\n",
                    (int)(end - name), name, valid, bad);
            missing++;
        }
    }
    if (missing > 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    report_fd = dup(2); /* before -close_fd_mask=2 silences fd 2 */
    if (report_fd < 0)
        report_fd = 2;
    snprintf(fail_line_pair, sizeof fail_line_pair, "fail_line=%d", (int)CYCLE_MALLOC_LINE);
    make_long_path_pair(long_fail_file_pair, "fail_file=");
    make_long_path_pair(long_report_path_pair, "report_path=");
    check_table_covers_options();
    restore_defaults();
    ar_heap__ensure_init();
    in_force = ar_heap_options;
    return 0;
}

/* Room for the longest structured string: every pair may be a long path. */
#define TEXT_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[TEXT_MAX];
    if (size == 0)
        return 0;
    long expected = -1;
    /* What the options must be after the text: in_force (restored after
     * every input) with each valid pair applied; `modelled` 0 for a raw
     * input until set_options says that it took every pair. */
    static ar_heap_options_t model;
    model = in_force;
    int modelled = 1;
    if (data[0] & 1) {
        size_t len = size - 1 < TEXT_MAX - 1 ? size - 1 : TEXT_MAX - 1;
        memcpy(text, data + 1, len);
        text[len] = '\0';
    } else {
        size_t len = 0;
        expected = 0;
        for (size_t i = 1; i < size && len < TEXT_MAX - 2048; i++) {
            if (i > 1)
                text[len++] = ':';
            uint8_t pick = data[i];
            if (pick >= 0xf0) {
                /* A path of 1020..1027 bytes: at most 1023 fit. */
                size_t path = 1020 + (pick & 7);
                memcpy(text + len, "report_path=", 12);
                len += 12;
                memset(text + len, 'p', path);
                len += path;
                expected += path > AR_HEAP_PATH_CAPACITY - 1;
                if (path <= AR_HEAP_PATH_CAPACITY - 1) {
                    memset(model.report_path, 'p', path);
                    model.report_path[path] = '\0';
                    model.report_path_set = 1;
                }
                continue;
            }
            const pair_t *pair = &pairs[pick % PAIR_COUNT];
            size_t n = strlen(pair->text);
            memcpy(text + len, pair->text, n);
            len += n;
            expected += !pair->valid;
            if (pair->valid && !model_apply(&model, pair->text))
                fail("a valid pair the model can not read (pick)", 0, pick, pair->text);
        }
        text[len] = '\0';
    }
    int problems = ar_heap__set_options(text);
    if (problems < 0 || problems > count_pairs(text))
        fail("problems out of range (the most is the pair count)", count_pairs(text), problems,
             text);
    if (expected >= 0 && problems != expected)
        fail("problems", expected, problems, text);
    if (expected < 0) {
        /* Raw: the model follows only a text whose every pair was taken. */
        modelled = problems == 0;
        if (modelled && !model_apply(&model, text))
            fail("a text taken whole that the model can not read (problems)", 0, problems, text);
    }
    if (modelled)
        check_model(&model, text);
    cycle(size > 1 ? data[1] : 0, text);
    restore_defaults();
    if (!same_options(&in_force, &ar_heap_options))
        fail("the defaults did not restore every option", 0, 1, text);
    if (atomic_load(&ar_heap_inject_armed))
        fail("fail_* injection still armed after the defaults came back", 0, 1, text);
    /* Blocks held under the fuzzed options (guarded ones among them) go
     * back now, so that inputs do not pile them up; with every fail_*
     * option off, the flush's allocation can not fail. */
    ar_heap_stats_t before, after;
    ar_heap__get_stats(&before);
    (void)ar_heap__set_options("quarantine_bytes=0");
    void *flush = AR__HEAP__MALLOC(1, "flush");
    if (flush == NULL)
        fail("the flush's allocation failed after the defaults came back", 1, 0, text);
    AR__HEAP__FREE(flush);
    (void)ar_heap__set_options("quarantine_bytes=16777216");
    ar_heap__get_stats(&after);
    if (after.failures_injected != before.failures_injected || after.quarantine_blocks != 0 ||
        after.errors_reported != before.errors_reported)
        fail("the flush injected a failure, left blocks held or reported (held)", 0,
             (long)after.quarantine_blocks, text);
    return 0;
}
