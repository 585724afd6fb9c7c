/*
 * options.c: AR_HEAP_OPTIONS, one string of key=value pairs.
 *
 *     AR_HEAP_OPTIONS="on_error=continue:leak_exitcode=3" ./test_binary
 *     AR_HEAP_OPTIONS="guard=1,guard_align=1 report_path='my report.log'"
 *
 * Pairs are separated as ASAN_OPTIONS's are: by colons, commas or white
 * space, in any mix; a value that holds one of those is quoted with
 * single or double quotes.
 *
 * The same text can be given from code with ar_heap__set_options(). Every
 * option is a row of one table: its name, its kind, its default and one
 * line of help; the parser and AR_HEAP_OPTIONS=help=1 both read the table,
 * so they can not disagree. Bad input is warned about, naming the key, and
 * skipped; the option keeps its previous value. Nothing here allocates.
 */
#include "ar_heap_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ar_heap_options_t ar_heap_options;

#define AR_HEAP_DEFAULT_REPORT_PATH "heap_memory_report.log"

typedef enum ar_heap_option_kind_e {
    AR_HEAP_OPTION_BOOL,   /* 0/1, also false/true, no/yes */
    AR_HEAP_OPTION_INT,    /* decimal between min and max */
    AR_HEAP_OPTION_SIZE,   /* decimal size_t */
    AR_HEAP_OPTION_ACTION, /* abort, exit, continue */
    AR_HEAP_OPTION_PATH,   /* any text up to AR_HEAP_PATH_CAPACITY - 1 bytes */
    AR_HEAP_OPTION_MECHANISM, /* auto, madvise, mprotect */
    AR_HEAP_OPTION_FILES   /* a path, repeatable: each one given is read (no field) */
} ar_heap_option_kind_t;

typedef struct ar_heap_option_s {
    const char *name;
    ar_heap_option_kind_t kind;
    size_t offset; /* of the field in ar_heap_options_t */
    long min, max; /* for INT */
    const char *default_text;
    const char *help;
} ar_heap_option_t;

#define AR_HEAP_FIELD(f) offsetof(ar_heap_options_t, f)

static const ar_heap_option_t ar_heap_option_table[] = {
    { "on_error", AR_HEAP_OPTION_ACTION, AR_HEAP_FIELD(on_error), 0, 0, "abort",
      "what to do after reporting an error: abort (SIGABRT), exit (with error_exitcode), "
      "continue (the bad call does nothing)" },
    { "error_exitcode", AR_HEAP_OPTION_INT, AR_HEAP_FIELD(error_exitcode), 1, 255, "23",
      "exit status used by on_error=exit" },
    { "leak_report", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(leak_report), 0, 0, "1",
      "write the leak report at exit (report file, and a summary on stderr when blocks leak)" },
    { "leak_exitcode", AR_HEAP_OPTION_INT, AR_HEAP_FIELD(leak_exitcode), 0, 255, "23",
      "a process that exits with leaked blocks (other than intentional ones) exits with this "
      "status instead of its own, as under LeakSanitizer; 0 leaves the status alone (a forked "
      "child counts only the blocks it allocated itself)" },
    { "leak_scan", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(leak_scan), 0, 0, "1",
      "classify live blocks at the leak report by reachability from the roots (globals, "
      "stacks, registers, TLS): definitely lost, indirectly lost, still reachable; 0 counts "
      "every live block as a leak" },
    { "leak_reachable", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(leak_reachable), 0, 0, "1",
      "list still-reachable blocks and count them as leaks (the preload library's default "
      "is 0: only unreachable blocks are leaks)" },
    { "report_path", AR_HEAP_OPTION_PATH, AR_HEAP_FIELD(report_path), 0, 0,
      AR_HEAP_DEFAULT_REPORT_PATH,
      "file for the full leak report; empty for none. Without this option the environment "
      "variable AGERUN_MEMORY_REPORT is used when set" },
    { "freed_history", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(freed_history), 0, 0, "1",
      "not 0: a freed block's record is kept until its memory is reused, to name a later free "
      "of the same address a double-free with both sites; 0 forgets it when the block leaves "
      "the quarantine" },
    { "canary", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(canary), 0, 0, "1",
      "surround each new block with canary bytes (16 before, 16 or more after, starting "
      "exactly at its end), checked at free, realloc, check_all and exit" },
    { "fill", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(fill), 0, 0, "1",
      "fill new MALLOC and REALLOC-growth bytes with 0xbe, so reads of uninitialised memory "
      "show (CALLOC stays zero)" },
    { "fill_max", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(fill_max), 0, 0, "1048576",
      "with fill=1, fill at most the first N bytes of a new block (and of REALLOC's "
      "growth below N); the rest keeps what the memory held: zero on fresh pages, 0xdf "
      "in a freed block's slot" },
    { "quarantine_bytes", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(quarantine_bytes), 0, 0, "16777216",
      "memory held by freed blocks, poisoned with 0xdf, before it is reused; "
      "writes after free and double frees of held blocks are caught; 0 disables" },
    { "check_every", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(check_every), 0, 0, "0",
      "check every block's canaries and poison every N heap operations; 0 never" },
    { "report_json", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(report_json), 0, 0, "0",
      "write each error as one JSON object on one line of stderr instead of the text report" },
    { "stack_depth", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(stack_depth), 0, 0, "0",
      "frames of call stack kept at allocation and at free (at most 16), printed in reports "
      "as module+offset for addr2line; 0 keeps none" },
    { "stack_exact", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(stack_exact), 0, 0, "0",
      "capture call stacks with glibc's backtrace() (DWARF unwinding: exact through code "
      "built without frame pointers, but microseconds a call) instead of the frame-pointer "
      "walk (tens of nanoseconds; it stops at the first frame without a frame pointer)" },
    { "symbolize", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(symbolize), 0, 0, "1",
      "name the function, file:line and inlined calls of each pc a report prints (stack "
      "frames, sites without file:line, a fault's instruction), read from the debug "
      "information in a child process; 0 prints module+offset only" },
    { "symbolizer", AR_HEAP_OPTION_PATH, AR_HEAP_FIELD(symbolizer), 0, 0, "",
      "external symbolizer to run instead of libdw: a path or a name on PATH of addr2line "
      "or llvm-symbolizer (llvm-addr2line too); empty: libdw when built with it, else "
      "addr2line" },
    { "guard", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(guard), 0, 0, "0",
      "place blocks against PROT_NONE guard pages: an overrun faults at the guilty instruction "
      "and is reported, and freed blocks' pages stay inaccessible while in quarantine" },
    { "guard_below", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(guard_below), 0, 0, "0",
      "with guard=1, put the guard page before each block instead of after it, to catch "
      "underruns" },
    { "guard_align", AR_HEAP_OPTION_INT, AR_HEAP_FIELD(guard_align), 1, 4096, "16",
      "with guard=1, alignment of a guarded block's end against its guard page (a power of "
      "two); 1 places it "
      "byte-exactly, so a one-byte overrun faults (16 keeps max_align_t alignment and leaves "
      "0 to 15 bytes of slack covered by the tail canary)" },
    { "guard_sample", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(guard_sample), 0, 0, "1",
      "with guard=1, guard one eligible block in N (the others get canaries); 0 or 1 guards "
      "every eligible block" },
    { "guard_min_size", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(guard_min_size), 0, 0, "0",
      "with guard=1, guard only blocks of at least this many bytes" },
    { "guard_max_size", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(guard_max_size), 0, 0, "0",
      "with guard=1, guard only blocks of at most this many bytes; 0 for no limit" },
    { "guard_max_live", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(guard_max_live), 0, 0, "0",
      "with guard=1, guard at most this many blocks live at once (the others get canaries, "
      "with one warning, until guarded blocks are freed); the mapping budget from "
      "vm.max_map_count applies too, whichever is lower; 0 for that budget alone" },
    { "guard_mechanism", AR_HEAP_OPTION_MECHANISM, AR_HEAP_FIELD(guard_mechanism), 0, 0, "auto",
      "with guard=1, how guard pages are made: madvise puts guard markers in one large mapping "
      "per arena (Linux 6.13 guard regions: no mapping per block, no vm.max_map_count limit); "
      "mprotect splits PROT_NONE arenas per block (any kernel; a mapping budget applies); auto "
      "picks madvise where the kernel has it. Fixed at the first guarded block" },
    { "fail_nth", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(fail_nth), 0, 0, "0",
      "make the Nth tracked allocation after the options were set fail (NULL, errno ENOMEM, "
      "no report); 0 never" },
    { "fail_every", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(fail_every), 0, 0, "0",
      "make every Nth tracked allocation fail; 0 never" },
    { "fail_random", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(fail_random), 0, 0, "0",
      "make each tracked allocation fail with a chance of N in a million (seeded by "
      "fail_seed: the same failures every run in a single thread); 0 never" },
    { "fail_seed", AR_HEAP_OPTION_SIZE, AR_HEAP_FIELD(fail_seed), 0, 0, "1",
      "seed of fail_random" },
    { "fail_file", AR_HEAP_OPTION_PATH, AR_HEAP_FIELD(fail_site_file), 0, 0, "",
      "with fail_line, make the allocations made at this source file and line fail (the "
      "file as the compiler named it, or its last path components)" },
    { "fail_line", AR_HEAP_OPTION_INT, AR_HEAP_FIELD(fail_site_line), 0, 2147483647, "0",
      "the line for fail_file; 0 never" },
    { "allow_malloc_0", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(allow_malloc_0), 0, 0, "1",
      "0: report an allocation of 0 bytes as an invalid-argument error, as Electric Fence "
      "does by default (EF_ALLOW_MALLOC_0=0); 1: a 0-byte block is an ordinary block" },
    { "suppressions", AR_HEAP_OPTION_FILES, 0, 0, 0, "",
      "a suppression file, read at once; repeatable (suppressions=a.supp:suppressions=b.supp "
      "reads both). One KIND:PATTERN a line (leak:libfoo.so, leak:parse_*, "
      "double-free:legacy_free): a finding whose frames match is not reported, and counted "
      "at exit" },
    { "help", AR_HEAP_OPTION_BOOL, AR_HEAP_FIELD(help), 0, 0, "0",
      "print this list of options on stderr" },
};

#define AR_HEAP_OPTION_COUNT (sizeof ar_heap_option_table / sizeof ar_heap_option_table[0])

/* Write "arheap: warning: <origin>: " and the parts (up to a NULL) as one
 * line. */
static void ar_heap_options__warn_parts(const char *origin, const char *const *parts)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, origin);
    ar_heap_out__str(&out, ": ");
    for (; *parts != NULL; parts++)
        ar_heap_out__str(&out, *parts);
    ar_heap_out__str(&out, "\n");
    ar_heap_out__flush(&out);
}

/* Write "arheap: warning: <origin>: <a><b><c><d>" as one line. */
static void ar_heap_options__warn(const char *origin, const char *a, const char *b,
                                  const char *c, const char *d)
{
    const char *const parts[] = { a, b, c, d, NULL };
    ar_heap_options__warn_parts(origin, parts);
}

/* "option 'NAME' EXPECTATION; got 'VALUE'" */
static void ar_heap_options__warn_value(const char *origin, const ar_heap_option_t *opt,
                                        const char *expectation, const char *value)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, origin);
    ar_heap_out__str(&out, ": option '");
    ar_heap_out__str(&out, opt->name);
    ar_heap_out__str(&out, "' ");
    if (opt->kind == AR_HEAP_OPTION_INT && expectation == NULL) {
        ar_heap_out__str(&out, "takes a whole number from ");
        ar_heap_out__signed(&out, opt->min);
        ar_heap_out__str(&out, " to ");
        ar_heap_out__signed(&out, opt->max);
    } else if (opt->kind == AR_HEAP_OPTION_SIZE && expectation == NULL) {
        ar_heap_out__str(&out, "takes a whole number from 0 to ");
        ar_heap_out__dec(&out, SIZE_MAX);
    } else {
        ar_heap_out__str(&out, expectation);
    }
    ar_heap_out__str(&out, "; got '");
    ar_heap_out__str(&out, value);
    ar_heap_out__str(&out, "' (ignored)\n");
    ar_heap_out__flush(&out);
}

/* "option 'NAME' is at most MAX (WHY); got 'VALUE', using MAX" */
static void ar_heap_options__warn_clamped(const char *origin, const ar_heap_option_t *opt,
                                          const char *value, uint64_t max, const char *why)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, origin);
    ar_heap_out__str(&out, ": option '");
    ar_heap_out__str(&out, opt->name);
    ar_heap_out__str(&out, "' is at most ");
    ar_heap_out__dec(&out, max);
    ar_heap_out__str(&out, " (");
    ar_heap_out__str(&out, why);
    ar_heap_out__str(&out, "); got '");
    ar_heap_out__str(&out, value);
    ar_heap_out__str(&out, "', using ");
    ar_heap_out__dec(&out, max);
    ar_heap_out__str(&out, "\n");
    ar_heap_out__flush(&out);
}

/* A whole number of at most MAX, as text: 1 and *value when it is one, 0
 * when the text is not a whole number, AR_HEAP_NUMBER_TOO_LARGE when it
 * is one past MAX (all digits), so that a caller can clamp it or name
 * the range. */
#define AR_HEAP_NUMBER_TOO_LARGE (-1)
static int ar_heap_options__parse_unsigned(const char *text, unsigned long long max,
                                           unsigned long long *value)
{
    unsigned long long v = 0;
    int too_large = 0;
    if (*text == '\0')
        return 0;
    for (; *text != '\0'; text++) {
        if (*text < '0' || *text > '9')
            return 0;
        unsigned digit = (unsigned)(*text - '0');
        if (too_large || v > (max - digit) / 10)
            too_large = 1;
        else
            v = v * 10 + digit;
    }
    if (too_large)
        return AR_HEAP_NUMBER_TOO_LARGE;
    *value = v;
    return 1;
}

/* Whether a directory of PATH holds an executable file `name` (a
 * component longer than the buffer is passed over). */
static int ar_heap_options__on_path(const char *name)
{
    const char *path = getenv("PATH");
    char file[AR_HEAP_PATH_CAPACITY + 64];
    size_t name_len = strlen(name);
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t dir_len = end != NULL ? (size_t)(end - path) : strlen(path);
        if (dir_len + 1 + name_len < sizeof file) {
            memcpy(file, dir_len > 0 ? path : ".", dir_len > 0 ? dir_len : 1);
            size_t at = dir_len > 0 ? dir_len : 1;
            file[at] = '/';
            memcpy(file + at + 1, name, name_len + 1);
            if (access(file, X_OK) == 0)
                return 1;
        }
        path = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

/* symbolizer=: empty, or a program whose name says addr2line or
 * llvm-symbolizer (their output is what symbol.c reads): given as a path,
 * an executable file; as a name, one on PATH (until stop 40 any name was
 * taken, and a report printed no function or line when it was not
 * there). */
static int ar_heap_options__valid_symbolizer(const char *value)
{
    if (value[0] == '\0')
        return 1;
    const char *base = strrchr(value, '/');
    base = base != NULL ? base + 1 : value;
    if (strstr(base, "addr2line") == NULL && strstr(base, "llvm-symbolizer") == NULL)
        return 0;
    return strchr(value, '/') == NULL ? ar_heap_options__on_path(value) : access(value, X_OK) == 0;
}

/* One of a list of words, and the value it stands for. */
typedef struct ar_heap_options_word_s {
    const char *word;
    int value;
} ar_heap_options_word_t;

/* `value` is one of `words` (a list ended by a NULL word): its value in
 * *out, 1. Else a warning that the option `expectation`, and 0. */
static int ar_heap_options__word(const char *origin, const ar_heap_option_t *opt,
                                 const char *value, const ar_heap_options_word_t *words,
                                 const char *expectation, int *out)
{
    for (const ar_heap_options_word_t *w = words; w->word != NULL; w++) {
        if (strcmp(value, w->word) == 0) {
            *out = w->value;
            return 1;
        }
    }
    ar_heap_options__warn_value(origin, opt, expectation, value);
    return 0;
}

/* Apply one value; returns 1 when it was valid. */
/* Set when a fail_* option is given: the count of allocations that the
 * fail_* options number restarts then, and only then (inject.c). */
static int ar_heap_options_fail_given;

int ar_heap_options__take_fail_given(void)
{
    int given = ar_heap_options_fail_given;
    ar_heap_options_fail_given = 0;
    return given;
}

static int ar_heap_options__apply(const ar_heap_option_t *opt, const char *value,
                                  const char *origin)
{
    char *field = (char *)&ar_heap_options + opt->offset;
    if (strncmp(opt->name, "fail_", 5) == 0)
        ar_heap_options_fail_given = 1;
    unsigned long long number;
    switch (opt->kind) {
    case AR_HEAP_OPTION_BOOL: {
        int on = strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0;
        if (!on && strcmp(value, "0") != 0 && strcmp(value, "false") != 0 &&
            strcmp(value, "no") != 0) {
            ar_heap_options__warn_value(origin, opt, "takes 0 or 1 (or true/false, yes/no)",
                                        value);
            return 0;
        }
        /* A guard the user gave stands over what EF_ and DUMA_ variables
         * imply (a value refused above gave nothing). */
        if (opt->offset == AR_HEAP_FIELD(guard) &&
            (strcmp(origin, "AR_HEAP_OPTIONS") == 0 || strcmp(origin, "ar_heap__set_options") == 0))
            ar_heap_options.guard_given = 1;
        *(int *)field = on;
        return 1;
    }
    case AR_HEAP_OPTION_INT:
        if (ar_heap_options__parse_unsigned(value, (unsigned long long)opt->max, &number) == 1 &&
            number >= (unsigned long long)opt->min) {
            if (opt->offset == AR_HEAP_FIELD(guard_align) && (number & (number - 1)) != 0) {
                /* An alignment: a block's end at a multiple of 96 would
                 * leave it aligned to 32 alone. */
                ar_heap_options__warn_value(origin, opt, "takes a power of two from 1 to 4096",
                                            value);
                return 0;
            }
            *(int *)field = (int)number;
            return 1;
        }
        ar_heap_options__warn_value(origin, opt, NULL, value);
        return 0;
    case AR_HEAP_OPTION_SIZE: {
        int parsed = ar_heap_options__parse_unsigned(value, SIZE_MAX, &number);
        if (parsed != 0 && opt->offset == AR_HEAP_FIELD(stack_depth) &&
            (parsed == AR_HEAP_NUMBER_TOO_LARGE || number > AR_HEAP_STACK_MAX)) {
            /* Applied, at the most a stack keeps: a warning, not a
             * problem, for 40 as for a number past SIZE_MAX (until stop 41
             * the latter was refused). */
            ar_heap_options__warn_clamped(origin, opt, value, AR_HEAP_STACK_MAX,
                                          "frames kept per stack");
            parsed = 1;
            number = AR_HEAP_STACK_MAX;
        }
        if (parsed == 1) {
            *(size_t *)field = (size_t)number;
            return 1;
        }
        ar_heap_options__warn_value(origin, opt, NULL, value);
        return 0;
    }
    case AR_HEAP_OPTION_ACTION: {
        static const ar_heap_options_word_t actions[] = {
            { "abort", AR_HEAP_ACTION_ABORT },
            { "exit", AR_HEAP_ACTION_EXIT },
            { "continue", AR_HEAP_ACTION_CONTINUE },
            { NULL, 0 },
        };
        int action;
        if (!ar_heap_options__word(origin, opt, value, actions, "takes abort, exit or continue",
                                   &action))
            return 0;
        ar_heap_options.on_error = (ar_heap_action_t)action;
        return 1;
    }
    case AR_HEAP_OPTION_MECHANISM: {
        static const ar_heap_options_word_t mechanisms[] = {
            { "auto", AR_HEAP_GUARD_MECH_AUTO },
            { "madvise", AR_HEAP_GUARD_MECH_MADVISE },
            { "mprotect", AR_HEAP_GUARD_MECH_MPROTECT },
            { NULL, 0 },
        };
        return ar_heap_options__word(origin, opt, value, mechanisms,
                                     "takes auto, madvise or mprotect",
                                     &ar_heap_options.guard_mechanism);
    }
    case AR_HEAP_OPTION_PATH:
        if (strlen(value) >= AR_HEAP_PATH_CAPACITY) {
            ar_heap_options__warn(origin, "option '", opt->name, "' is too long", "");
            return 0;
        }
        if (opt->offset == AR_HEAP_FIELD(symbolizer) &&
            !ar_heap_options__valid_symbolizer(value)) {
            ar_heap_options__warn_value(origin, opt,
                                        "names addr2line or llvm-symbolizer (a path to an "
                                        "executable file, or a name on PATH)",
                                        value);
            return 0;
        }
        strcpy(field, value);
        if (opt->offset == AR_HEAP_FIELD(report_path))
            ar_heap_options.report_path_set = 1;
        return 1;
    case AR_HEAP_OPTION_FILES:
        if (strlen(value) >= AR_HEAP_PATH_CAPACITY) {
            ar_heap_options__warn(origin, "option '", opt->name, "' is too long", "");
            return 0;
        }
        return ar_heap_suppress__load(value, origin) >= 0;
    }
    return 0;
}

/*
 * The option name nearest to an unknown key, for "did you mean": the
 * Levenshtein distance (insertions, deletions, substitutions, case
 * ignored), in two rows on the stack. A name is suggested when it is at
 * most 2 edits away (3 for keys of 8 bytes or more) and the key is not
 * shorter than those edits; NULL otherwise.
 */
static const char *ar_heap_options__nearest(const char *key)
{
    size_t key_len = strlen(key);
    const char *best = NULL;
    size_t best_distance = key_len >= 8 ? 3 : 2;
    if (key_len <= best_distance)
        return NULL;
    for (size_t i = 0; i < AR_HEAP_OPTION_COUNT; i++) {
        const char *name = ar_heap_option_table[i].name;
        size_t name_len = strlen(name);
        size_t row[64], next[64];
        if (name_len >= sizeof row / sizeof row[0])
            continue;
        for (size_t j = 0; j <= name_len; j++)
            row[j] = j;
        for (size_t k = 1; k <= key_len; k++) {
            char a = key[k - 1];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            next[0] = k;
            for (size_t j = 1; j <= name_len; j++) {
                size_t substitute = row[j - 1] + (a != name[j - 1]);
                size_t remove = row[j] + 1;
                size_t insert = next[j - 1] + 1;
                size_t d = substitute < remove ? substitute : remove;
                next[j] = d < insert ? d : insert;
            }
            memcpy(row, next, (name_len + 1) * sizeof row[0]);
        }
        if (row[name_len] <= best_distance && (best == NULL || row[name_len] < best_distance)) {
            best = name;
            best_distance = row[name_len];
        }
    }
    return best;
}

/* Apply one pair: `key_len` bytes of key, and `value_len` bytes of value
 * (value NULL when the pair had no '='). Returns 1 when applied. */
static int ar_heap_options__parse_pair(const char *key_text, size_t key_len, const char *value_text,
                                       size_t value_len, const char *origin)
{
    char key[64];
    char value[AR_HEAP_PATH_CAPACITY];
    if (key_len >= sizeof key) {
        ar_heap_options__warn(origin, "unknown option (a key of ", "more than 63 bytes", ")", "");
        return 0;
    }
    memcpy(key, key_text, key_len);
    key[key_len] = '\0';
    const ar_heap_option_t *opt = NULL;
    for (size_t i = 0; i < AR_HEAP_OPTION_COUNT; i++)
        if (strcmp(ar_heap_option_table[i].name, key) == 0)
            opt = &ar_heap_option_table[i];
    if (opt == NULL) {
        const char *nearest = ar_heap_options__nearest(key);
        if (nearest != NULL) {
            const char *const parts[] = { "unknown option '", key, "' ignored; did you mean '",
                                          nearest,
                                          "'? AR_HEAP_OPTIONS=help=1 lists the options",
                                          NULL };
            ar_heap_options__warn_parts(origin, parts);
        } else {
            ar_heap_options__warn(origin, "unknown option '", key,
                                  "' ignored; AR_HEAP_OPTIONS=help=1 lists the options", "");
        }
        return 0;
    }
    if (value_text == NULL) {
        ar_heap_options__warn(origin, "option '", key, "' has no value; write ",
                              "key=value");
        return 0;
    }
    if (value_len >= sizeof value) {
        ar_heap_options__warn(origin, "option '", key, "' has a value that is too long", "");
        return 0;
    }
    memcpy(value, value_text, value_len);
    value[value_len] = '\0';
    return ar_heap_options__apply(opt, value, origin);
}

/* Colons, commas and white space separate pairs, as in ASAN_OPTIONS. */
static int ar_heap_options__is_separator(char c)
{
    return c == ':' || c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           c == '\v' || c == '\f';
}

int ar_heap_options__parse(const char *text, const char *origin)
{
    int problems = 0;
    if (text == NULL)
        return 0;
    for (;;) {
        while (ar_heap_options__is_separator(*text))
            text++;
        if (*text == '\0')
            return problems;
        const char *key = text;
        while (*text != '\0' && *text != '=' && !ar_heap_options__is_separator(*text))
            text++;
        size_t key_len = (size_t)(text - key);
        const char *value = NULL;
        size_t value_len = 0;
        if (*text == '=') {
            text++;
            if (*text == '"' || *text == '\'') {
                /* A quoted value: any bytes up to the same quote. */
                char quote = *text++;
                value = text;
                const char *close = strchr(text, quote);
                if (close == NULL) {
                    char shown[64];
                    size_t n = key_len < sizeof shown - 1 ? key_len : sizeof shown - 1;
                    memcpy(shown, key, n);
                    shown[n] = '\0';
                    ar_heap_options__warn(origin, "option '", shown,
                                          "' has a quoted value without its closing quote", "");
                    return problems + 1;
                }
                value_len = (size_t)(close - value);
                text = close + 1;
                if (*text != '\0' && !ar_heap_options__is_separator(*text)) {
                    /* Text glued to the closing quote: the pair is bad. */
                    while (*text != '\0' && !ar_heap_options__is_separator(*text))
                        text++;
                    char shown[64];
                    size_t n = key_len < sizeof shown - 1 ? key_len : sizeof shown - 1;
                    memcpy(shown, key, n);
                    shown[n] = '\0';
                    ar_heap_options__warn(origin, "option '", shown,
                                          "' has text after its closing quote (ignored)", "");
                    problems++;
                    continue;
                }
            } else {
                value = text;
                while (*text != '\0' && !ar_heap_options__is_separator(*text))
                    text++;
                value_len = (size_t)(text - value);
            }
        }
        if (!ar_heap_options__parse_pair(key, key_len, value, value_len, origin))
            problems++;
    }
}

/*
 * The preload library's own defaults, over the table's: an unmodified
 * program gets no report file in its working directory; a leak report of
 * the blocks it can no longer reach only (leak_reachable=0: blocks still
 * reachable from its globals, stacks and TLS are not leaks, as under
 * LeakSanitizer), on stderr with call stacks, since its sites have no
 * file:line; no leak exit status (leak_exitcode=N asks for it).
 * doc/arheap.md "Preloading" and "The leak report" explain the choice.
 */
#define AR_HEAP_PRELOAD_DEFAULTS \
    "leak_reachable=0:leak_exitcode=0:report_path=:stack_depth=6"

void ar_heap_options__reset(void)
{
    memset(&ar_heap_options, 0, sizeof ar_heap_options);
    for (size_t i = 0; i < AR_HEAP_OPTION_COUNT; i++)
        (void)ar_heap_options__apply(&ar_heap_option_table[i],
                                     ar_heap_option_table[i].default_text, "defaults");
    if (AR_HEAP_PRELOAD)
        (void)ar_heap_options__parse(AR_HEAP_PRELOAD_DEFAULTS, "preload defaults");
    ar_heap_options.report_path_set = 0;
}

const char *ar_heap_options__report_path(void)
{
    if (ar_heap_options.report_path_set)
        return ar_heap_options.report_path;
    const char *env = ar_heap_os__getenv("AGERUN_MEMORY_REPORT");
    return env != NULL ? env : ar_heap_options.report_path;
}

void ar_heap_options__print_help(void)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap options (AR_HEAP_OPTIONS=\"key=value:key=value\", pairs "
                           "separated by ':', ',' or white space, values quoted with ' or \" "
                           "when they hold one; or ar_heap__set_options()):\n");
    for (size_t i = 0; i < AR_HEAP_OPTION_COUNT; i++) {
        const ar_heap_option_t *opt = &ar_heap_option_table[i];
        ar_heap_out__str(&out, "  ");
        ar_heap_out__str(&out, opt->name);
        ar_heap_out__str(&out, " (default: ");
        ar_heap_out__str(&out, opt->default_text);
        ar_heap_out__str(&out, ")\n      ");
        ar_heap_out__str(&out, opt->help);
        ar_heap_out__str(&out, "\n");
    }
    ar_heap_out__str(&out, "guard pages on this kernel: ");
    ar_heap_out__str(&out, ar_heap_guard__regions_supported()
                               ? "guard regions (madvise) available"
                               : "no guard regions (MADV_GUARD_INSTALL); mprotect only");
    ar_heap_out__str(&out, "; guard_mechanism as set now picks ");
    ar_heap_out__str(&out, ar_heap_guard__mechanism_name(ar_heap_guard__mechanism_chosen()));
    ar_heap_out__str(&out, "\n");
    if (AR_HEAP_PRELOAD)
        ar_heap_out__str(&out, "the preload library's defaults differ: " AR_HEAP_PRELOAD_DEFAULTS
                               "\nit also reads Electric Fence's and DUMA's variables (EF_*, "
                               "DUMA_*; any of them implies guard=1), under AR_HEAP_OPTIONS\n");
    ar_heap_out__flush(&out);
}

/* ------------------------------------------------------------ Electric Fence and DUMA */

/*
 * The preload library stands in for libefence.so and libduma.so: their
 * users' environment variables are read as options, before AR_HEAP_OPTIONS
 * (which therefore wins over them), DUMA_ ones first and EF_ ones after
 * (so EF_ wins when both name the same thing). Any of the names below
 * being set (to a non-empty value) implies guard=1: an Electric Fence user
 * expects guard pages without saying so; AR_HEAP_OPTIONS=guard=0 still
 * turns them off. Values are whole numbers, as those tools read them; a
 * value that is not one is warned about, naming the variable, and
 * ignored. doc/arheap.md "Electric Fence and DUMA users" has the table.
 */
typedef enum ar_heap_ef_kind_e {
    AR_HEAP_EF_PROTECT_BELOW, /* guard_below */
    AR_HEAP_EF_ALIGNMENT,     /* guard_align; 0 is byte-exact (1) */
    AR_HEAP_EF_PROTECT_FREE,  /* EF: not 0: freed memory never reused */
    AR_HEAP_DUMA_PROTECT_FREE, /* -1: never reused; N > 0: N KiB held; 0: the default */
    AR_HEAP_EF_ALLOW_MALLOC_0, /* allow_malloc_0 */
    AR_HEAP_DUMA_MALLOC_0,    /* DUMA_MALLOC_0_STRATEGY: 0 traps, 3 allows */
    AR_HEAP_EF_FILL,          /* -1: fill=0; 0 to 255: fill=1 (arheap's byte is 0xbe) */
    AR_HEAP_DUMA_CHECK_FREQ,  /* check_every */
    AR_HEAP_DUMA_ALL_LEAKS,   /* DUMA_REPORT_ALL_LEAKS: leak_report */
    AR_HEAP_EF_NO_EFFECT      /* recognised (it implies guard=1), nothing else */
} ar_heap_ef_kind_t;

static const struct {
    const char *name;
    ar_heap_ef_kind_t kind;
} ar_heap_ef_table[] = {
    { "DUMA_PROTECT_BELOW", AR_HEAP_EF_PROTECT_BELOW },
    { "DUMA_ALIGNMENT", AR_HEAP_EF_ALIGNMENT },
    { "DUMA_PROTECT_FREE", AR_HEAP_DUMA_PROTECT_FREE },
    { "DUMA_ALLOW_MALLOC_0", AR_HEAP_EF_ALLOW_MALLOC_0 },
    { "DUMA_MALLOC_0_STRATEGY", AR_HEAP_DUMA_MALLOC_0 },
    { "DUMA_FILL", AR_HEAP_EF_FILL },
    { "DUMA_CHECK_FREQ", AR_HEAP_DUMA_CHECK_FREQ },
    { "DUMA_REPORT_ALL_LEAKS", AR_HEAP_DUMA_ALL_LEAKS },
    { "DUMA_DISABLE_BANNER", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_SLACKFILL", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_MAX_ALLOC", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_FREE_ACCESS", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_SHOW_ALLOC", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_SUPPRESS_ATEXIT", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_SKIPCOUNT_INIT", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_MALLOC_FAILEXIT", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_NEW_0_STRATEGY", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_MEMCPY_OVERLAP", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_OUTPUT_STDOUT", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_OUTPUT_STDERR", AR_HEAP_EF_NO_EFFECT },
    { "DUMA_OUTPUT_FILE", AR_HEAP_EF_NO_EFFECT },
    { "EF_PROTECT_BELOW", AR_HEAP_EF_PROTECT_BELOW },
    { "EF_ALIGNMENT", AR_HEAP_EF_ALIGNMENT },
    { "EF_PROTECT_FREE", AR_HEAP_EF_PROTECT_FREE },
    { "EF_ALLOW_MALLOC_0", AR_HEAP_EF_ALLOW_MALLOC_0 },
    { "EF_FILL", AR_HEAP_EF_FILL },
    { "EF_DISABLE_BANNER", AR_HEAP_EF_NO_EFFECT },
};

#define AR_HEAP_EF_COUNT (sizeof ar_heap_ef_table / sizeof ar_heap_ef_table[0])

/* A whole number, optionally negative, as text, of magnitude at most
 * LONG_MAX: as ar_heap_options__parse_unsigned answers. */
static int ar_heap_options__parse_signed(const char *text, long *value)
{
    int negative = *text == '-';
    unsigned long long magnitude;
    int parsed = ar_heap_options__parse_unsigned(text + negative, (unsigned long long)LONG_MAX,
                                                 &magnitude);
    if (parsed != 1)
        return parsed;
    *value = negative ? -(long)magnitude : (long)magnitude;
    return 1;
}

/* "key=" and the decimal of n, into buf. */
static const char *ar_heap_options__pair(char *buf, size_t size, const char *key, size_t n)
{
    char digits[24];
    size_t len = 0;
    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    size_t at = strlen(key);
    if (at + len + 2 > size)
        return "";
    memcpy(buf, key, at);
    buf[at++] = '=';
    while (len > 0)
        buf[at++] = digits[--len];
    buf[at] = '\0';
    return buf;
}

/* Apply one variable's value; `name` is the origin of any warning. */
static void ar_heap_options__apply_ef(ar_heap_ef_kind_t kind, const char *name, long v)
{
    char buf[64];
    switch (kind) {
    case AR_HEAP_EF_PROTECT_BELOW:
        (void)ar_heap_options__parse(v != 0 ? "guard_below=1" : "guard_below=0", name);
        return;
    case AR_HEAP_EF_ALIGNMENT:
        if (v < 0) {
            ar_heap_options__warn(name, "takes 0 (byte-exact) or a positive alignment; got a ",
                                  "negative number (ignored)", "", "");
            return;
        }
        /* guard_align warns beyond its range, naming the variable. */
        (void)ar_heap_options__parse(
            ar_heap_options__pair(buf, sizeof buf, "guard_align", v == 0 ? 1 : (size_t)v), name);
        return;
    case AR_HEAP_EF_PROTECT_FREE:
        if (v != 0)
            (void)ar_heap_options__parse(
                ar_heap_options__pair(buf, sizeof buf, "quarantine_bytes", SIZE_MAX), name);
        return;
    case AR_HEAP_DUMA_PROTECT_FREE:
        if (v < 0)
            (void)ar_heap_options__parse(
                ar_heap_options__pair(buf, sizeof buf, "quarantine_bytes", SIZE_MAX), name);
        else if (v > 0)
            (void)ar_heap_options__parse(
                ar_heap_options__pair(buf, sizeof buf, "quarantine_bytes",
                                      (size_t)v > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)v * 1024),
                name);
        return;
    case AR_HEAP_EF_ALLOW_MALLOC_0:
        (void)ar_heap_options__parse(v != 0 ? "allow_malloc_0=1" : "allow_malloc_0=0", name);
        return;
    case AR_HEAP_DUMA_MALLOC_0:
        if (v == 0 || v == 3)
            (void)ar_heap_options__parse(v == 0 ? "allow_malloc_0=0" : "allow_malloc_0=1", name);
        else
            ar_heap_options__warn(name, "only strategies 0 (report) and 3 (a unique pointer) ",
                                  "are supported; a 0-byte allocation returns a unique "
                                  "pointer (ignored)", "", "");
        return;
    case AR_HEAP_EF_FILL:
        if (v == -1) {
            (void)ar_heap_options__parse("fill=0", name);
        } else {
            (void)ar_heap_options__parse("fill=1", name);
            if (v != 0xbe)
                ar_heap_options__warn(name, "arheap fills new blocks with 0xbe (190), ",
                                      "not another byte; -1 turns the fill off", "", "");
        }
        return;
    case AR_HEAP_DUMA_CHECK_FREQ:
        if (v >= 0)
            (void)ar_heap_options__parse(
                ar_heap_options__pair(buf, sizeof buf, "check_every", (size_t)v), name);
        else
            ar_heap_options__warn(name, "takes a whole number of at least 0; got a ",
                                  "negative number (ignored)", "", "");
        return;
    case AR_HEAP_DUMA_ALL_LEAKS:
        (void)ar_heap_options__parse(v != 0 ? "leak_report=1" : "leak_report=0", name);
        return;
    case AR_HEAP_EF_NO_EFFECT:
        return;
    }
}

/* "NAME: takes a whole number from -LONG_MAX to LONG_MAX; got 'VALUE'"
 * for an EF_ or DUMA_ variable past a long (until stop 41 it was told
 * only "takes a whole number"). */
static void ar_heap_options__warn_ef_range(const char *name, const char *value)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, name);
    ar_heap_out__str(&out, ": takes a whole number from ");
    ar_heap_out__signed(&out, -LONG_MAX);
    ar_heap_out__str(&out, " to ");
    ar_heap_out__signed(&out, LONG_MAX);
    ar_heap_out__str(&out, "; got '");
    ar_heap_out__str(&out, value);
    ar_heap_out__str(&out, "' (ignored)\n");
    ar_heap_out__flush(&out);
}

void ar_heap_options__from_efence(void)
{
    int any = 0;
    for (size_t i = 0; i < AR_HEAP_EF_COUNT; i++) {
        const char *name = ar_heap_ef_table[i].name;
        const char *value = ar_heap_os__getenv(name);
        if (value == NULL || value[0] == '\0')
            continue;
        if (!any)
            (void)ar_heap_options__parse("guard=1", name);
        any = 1;
        if (ar_heap_ef_table[i].kind == AR_HEAP_EF_NO_EFFECT)
            continue;
        long v;
        int parsed = ar_heap_options__parse_signed(value, &v);
        if (parsed == AR_HEAP_NUMBER_TOO_LARGE) {
            /* Named apart: "takes a whole number" would puzzle the user of
             * EF_ALIGNMENT=99999999999999999999. */
            ar_heap_options__warn_ef_range(name, value);
            continue;
        }
        if (parsed != 1) {
            ar_heap_options__warn(name, "takes a whole number; got '", value, "' (ignored)", "");
            continue;
        }
        ar_heap_options__apply_ef(ar_heap_ef_table[i].kind, name, v);
    }
}
