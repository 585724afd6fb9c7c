/*
 * options_fuzzer.c: libFuzzer target for ar_heap__set_options().
 *
 * Two kinds of input, by the first byte's low bit:
 *
 *   raw         the rest of the input, up to its first NUL, is the option
 *               string. The return value must lie between 0 and the
 *               number of non-empty ':'-separated pairs.
 *   structured  each byte picks a pair from a table of pairs whose
 *               validity is known (edge values, bad numbers, unknown and
 *               over-long keys, over-long paths, empty pairs); the pairs
 *               are joined with ':'. The return value must be exactly the
 *               number of bad pairs picked: a string of valid pairs only
 *               returns 0.
 *
 * After either, a small allocate, realloc, free and check cycle runs under
 * the options just set: it must report nothing and leave nothing live.
 * Then the defaults are restored (ar_heap_options__reset, then this
 * fuzzer's own options), which must give back exactly the options in
 * force before the input: nothing the parser wrote may survive.
 *
 * Run with -close_fd_mask=2: each bad pair writes a warning to stderr.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    { "freed_history=0", 1 },
    { "freed_history=18446744073709551615", 1 },
    { "freed_history=18446744073709551616", 0 },
    { "canary=1", 1 },
    { "canary=true", 1 },
    { "canary=yes", 1 },
    { "canary=false", 1 },
    { "canary=", 0 },
    { "canary=1 ", 0 },
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
    { "stack_depth=1000", 1 }, /* a valid size; the heap keeps at most 8 */
    { "guard=1", 1 },
    { "guard=1:guard_sample=3", 1 },
    { "guard_below=1", 1 },
    { "guard_align=1", 1 },
    { "guard_align=4096", 1 },
    { "guard_align=0", 0 },
    { "guard_align=4097", 0 },
    { "guard_min_size=100", 1 },
    { "guard_max_size=64", 1 },
    { "guard_max_live=100", 1 },
    { "guard_max_live=-1", 0 },
    { "help=0", 1 },
    { "nosuchoption=1", 0 },
    { "=1", 0 },
    { "=", 0 },
    { "canary==1", 0 },
    { "0123456789012345678901234567890123456789012345678901234567890123=1", 0 },
};

#define PAIR_COUNT (sizeof pairs / sizeof pairs[0])

static void fail(const char *what, long expected, long got, const char *text)
{
    dprintf(report_fd, "options_fuzzer: %s: expected %ld, got %ld, for \"%.300s\"%s\n", what,
            expected, got, text, strlen(text) > 300 ? " (cut)" : "");
    abort();
}

/* Pairs that are not empty: the most problems one string can have. */
static long count_pairs(const char *text)
{
    long n = 0;
    size_t len = 0;
    for (const char *c = text;; c++) {
        if (*c == ':' || *c == '\0') {
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

/* Every option back to its default (the library's own table, so options
 * added later are covered), then this fuzzer's own. */
static void restore_defaults(void)
{
    ar_heap_options__reset();
    if (ar_heap__set_options(own_options) != 0)
        abort();
}

/* A clean cycle under whatever options are set: no report, nothing left.
 * An allocation may fail (the fail_* options inject failures): that is
 * no report either, and the cycle goes on with what it has. */
static void cycle(uint8_t size, const char *text)
{
    ar_heap_stats_t before, after;
    ar_heap__get_stats(&before);
    unsigned char *p = AR__HEAP__MALLOC(size, "options cycle");
    if (p != NULL) {
        memset(p, 0x5a, size);
        unsigned char *q = AR__HEAP__REALLOC(p, (size_t)size + 8, "options cycle");
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
    if (s != NULL && strcmp(s, "options") != 0)
        fail("STRDUP copied wrongly", 0, 1, text);
    AR__HEAP__FREE(s);
    AR__HEAP__FREE(p);
    (void)ar_heap__check_all();
    ar_heap__get_stats(&after);
    if (after.errors_reported != before.errors_reported)
        fail("errors reported by a clean cycle", (long)before.errors_reported,
             (long)after.errors_reported, text);
    if (after.live_blocks != before.live_blocks)
        fail("live blocks after a clean cycle", (long)before.live_blocks, (long)after.live_blocks,
             text);
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
                continue;
            }
            const pair_t *pair = &pairs[pick % PAIR_COUNT];
            size_t n = strlen(pair->text);
            memcpy(text + len, pair->text, n);
            len += n;
            expected += !pair->valid;
        }
        text[len] = '\0';
    }
    int problems = ar_heap__set_options(text);
    if (problems < 0 || problems > count_pairs(text))
        fail("problems out of range (the most is the pair count)", count_pairs(text), problems,
             text);
    if (expected >= 0 && problems != expected)
        fail("problems", expected, problems, text);
    cycle(size > 1 ? data[1] : 0, text);
    restore_defaults();
    if (!same_options(&in_force, &ar_heap_options))
        fail("the defaults did not restore every option", 0, 1, text);
    /* Blocks held under the fuzzed options (guarded ones among them) go
     * back now, so that inputs do not pile them up. */
    (void)ar_heap__set_options("quarantine_bytes=0");
    AR__HEAP__FREE(AR__HEAP__MALLOC(1, "flush"));
    (void)ar_heap__set_options("quarantine_bytes=16777216");
    return 0;
}
