/*
 * churn.c: allocation churn benchmark, glibc malloc/free against the
 * tracked heap (ar_heap__malloc / ar_heap__free_at) in two configurations,
 * side by side.
 *
 * The three allocators
 *   glibc     malloc / free.
 *   tracking  the tracked heap with canary=0:fill=0:quarantine_bytes=0,
 *             set with ar_heap__set_options() before each of its phases:
 *             records only (leak, double-free and invalid-free detection).
 *   debug     the tracked heap's default debug configuration,
 *             canary=1:fill=1:quarantine_bytes=16777216, set before each of
 *             its phases: canaries around every block, new bytes filled,
 *             freed blocks poisoned and held in a 16 MiB quarantine, their
 *             poison and canaries checked when they leave it.
 *
 * What it measures
 *   For each live-block count N (1e3, 1e4, 1e5, 1e6; --max-n caps it) one
 *   phase fills N slots with blocks of random sizes uniform in 8 B .. 4 KiB,
 *   then runs a churn loop: each op picks a random slot, frees its block and
 *   allocates a new block of a random size, writing the block's first byte
 *   so the allocation is real. One op is one free + one malloc; the figure
 *   reported is nanoseconds per op. Only the churn loop is timed
 *   (CLOCK_MONOTONIC); the fill and the final free of every block are not.
 *   For the debug allocator the table also gives the memory its quarantine
 *   holds (ar_heap_stats_t.quarantine_bytes, canaries included), read with
 *   ar_heap__get_stats() right after the timed loop, before the teardown:
 *   the median over the repeats, whatever --stat says.
 *
 * Why a fixed op count
 *   Every N runs the same number of ops (default 1,000,000; --ops or the
 *   environment variable AR_BENCH_OPS), so ns/op are comparable across N:
 *   a tracked heap whose lookups grow with the number of live blocks shows
 *   up as a rising "tracking vs N=1e3" column, not as a longer run. The
 *   default is 1e6 rather than the 2e6 of the two-allocator version so
 *   that `make bench` (two runs, three allocators, three repeats each)
 *   stays within about 2.5 minutes on a 2-core machine; a million ops is
 *   still over 100 times the ~8,000 frees that fill the debug quarantine,
 *   so the debug figure is the quarantine's steady state.
 *
 * Why side by side in one run
 *   The machines this runs on are small and noisy (2 cores, shared), so
 *   figures from separate runs are not comparable. For each N the phases
 *   alternate glibc, tracking, debug, glibc, tracking, debug, ... (--repeat
 *   R of each, 3 by default) and each allocator's figure is the median of
 *   its R runs (the mean of the middle two when R is even); --stat min
 *   reports the fastest run instead. All allocators see the same
 *   pseudo-random sequence (splitmix64, fixed seed, restarted for every
 *   phase), so they do the same work down to the byte.
 *
 * Why the quarantine is emptied between phases
 *   Freed blocks held by a debug phase would otherwise stay in the heap
 *   through the following glibc and tracking phases (quarantine_bytes=0
 *   stops new blocks going in, it does not release those held). After a
 *   debug phase's timed loop the benchmark sets quarantine_bytes=0, so
 *   every free of the (untimed) teardown evicts all its shard holds, then
 *   frees small batches until ar_heap__get_stats() shows an empty
 *   quarantine. Every phase thus starts with nothing held.
 *
 * The tracked heap runs with leak_report=0 so no report file is written.
 * The benchmark initialises the heap before its first phase, so
 * AR_HEAP_OPTIONS in the environment applies to every tracked phase except
 * for canary, fill and quarantine_bytes, which each phase sets itself.
 * After every tracked phase's teardown the benchmark checks that
 * ar_heap__get_stats() shows no live blocks (quarantined blocks are not
 * live). Against a release library both tracked columns measure the
 * release pass-through to libc, and the output says so.
 *
 * Output: the configuration, one table row per N, three target lines with
 * the measured figure and whether the target is met, a note on how much
 * glibc itself slows down with N (random access over up to ~2 GiB of blocks
 * costs cache and TLB misses whatever the allocator), peak RSS and wall
 * time. Exit 0 whether or not a target is met (the bench reports, it does
 * not judge); 1 on an internal error (allocation failure, blocks left live,
 * an option the heap refused, a quarantine that would not drain, clock
 * failure); 2 on a usage error.
 *
 * Usage: churn [--ops K] [--repeat R] [--max-n N] [--hot K] [--seed S]
 *              [--stat median|min] [--verbose] [--help]
 * Built and run by `make bench`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ar_heap.h"

#define BENCH_DEFAULT_OPS 1000000u
#define BENCH_DEFAULT_REPEAT 3u
#define BENCH_DEFAULT_SEED UINT64_C(0x5eed0fa11ca7ed00)
#define BENCH_MIN_SIZE 8u
#define BENCH_MAX_SIZE 4096u
#define BENCH_SIZE_SPAN (BENCH_MAX_SIZE - BENCH_MIN_SIZE + 1u)
#define BENCH_MAX_REPEAT 1000u
#define BENCH_MAX_OPS UINT64_C(100000000000)

/* The heap options of the two tracked allocators, set before each phase,
 * and the one that empties the quarantine between phases (a budget of one
 * byte gives every shard a share of 0, so a free evicts all its shard
 * holds, the block just freed included). */
#define TRACKING_OPTIONS "canary=0:fill=0:quarantine_bytes=0"
#define DEBUG_OPTIONS "canary=1:fill=1:quarantine_bytes=16777216"
#define DRAIN_OPTIONS "quarantine_bytes=0"
/* Draining: batches of small blocks (distinct addresses, so they hash to
 * many shards), at most this many batches. */
#define DRAIN_BATCH 256u
#define DRAIN_MAX_BATCHES 64u

/* Targets the tracked heap is designed to meet (reported, not enforced). */
#define TARGET_SCALING_N 1000000u
#define TARGET_SCALING_MAX 1.5
#define TARGET_OVERHEAD_N 100000u
#define TARGET_OVERHEAD_MAX 3.0

enum { EXIT_INTERNAL = 1, EXIT_USAGE = 2 };

enum allocator { ALLOC_GLIBC = 0, ALLOC_TRACKING = 1, ALLOC_DEBUG = 2, ALLOC_COUNT = 3 };

static const char *const allocator_names[ALLOC_COUNT] = {"glibc", "tracking", "debug"};

/* Heap options set before each phase of an allocator (NULL: not the heap). */
static const char *const allocator_options[ALLOC_COUNT] = {NULL, TRACKING_OPTIONS,
                                                           DEBUG_OPTIONS};

static const size_t bench_sizes[] = {1000u, 10000u, 100000u, 1000000u};
static const char *const bench_size_labels[] = {"1e3", "1e4", "1e5", "1e6"};
#define BENCH_SIZE_COUNT (sizeof bench_sizes / sizeof bench_sizes[0])

struct options {
    uint64_t ops;
    unsigned repeat;
    size_t max_n;
    uint64_t seed;
    int use_min; /* 0: median, 1: min */
    int verbose;
    size_t hot;  /* 0: churn over all N slots; else over the first `hot` */
};

/* What one phase measured. */
struct phase_result {
    double ns_per_op;
    double quarantine_mib; /* held right after the churn (tracked heap only) */
};

/* ------------------------------------------------------------ utilities */

/* splitmix64: fast, deterministic, good enough to spread slots and sizes. */
static inline uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Map 32 random bits onto [0, n) by multiply-shift (n < 2^32). */
static inline size_t random_below(uint32_t bits, size_t n)
{
    return (size_t)(((uint64_t)bits * (uint64_t)n) >> 32);
}

/* Slot from the low half of r, size (8 .. 4096) from the high half. */
static inline size_t slot_of(uint64_t r, size_t n)
{
    return random_below((uint32_t)r, n);
}

static inline size_t size_of(uint64_t r)
{
    return BENCH_MIN_SIZE + random_below((uint32_t)(r >> 32), BENCH_SIZE_SPAN);
}

/* Write the first byte so the block is really handed out and used. */
static inline void touch(void *p, size_t size)
{
    *(volatile unsigned char *)p = (unsigned char)size;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        fprintf(stderr, "churn: clock_gettime(CLOCK_MONOTONIC): %s\n", strerror(errno));
        exit(EXIT_INTERNAL);
    }
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median (mean of the middle two for an even count) or minimum; sorts v. */
static double summarize(double *v, unsigned count, int use_min)
{
    qsort(v, count, sizeof *v, compare_doubles);
    if (use_min) {
        return v[0];
    }
    if (count % 2u == 1u) {
        return v[count / 2u];
    }
    return (v[count / 2u - 1u] + v[count / 2u]) / 2.0;
}

static ar_heap_stats_t heap_stats(void)
{
    ar_heap_stats_t stats;
    memset(&stats, 0, sizeof stats);
    ar_heap__get_stats(&stats);
    return stats;
}

/* Apply heap options; the library has warned about any it refused. */
static int set_heap_options(const char *text)
{
    if (ar_heap__set_options(text) != 0) {
        fprintf(stderr, "churn: ar_heap__set_options(\"%s\") reported a problem\n", text);
        return -1;
    }
    return 0;
}

/* Empty the quarantine: with DRAIN_OPTIONS every free evicts what its
 * shard holds, so free batches of small blocks (spread over the shards)
 * until the statistics show nothing held. Untimed. Returns 0 or -1. */
static int drain_quarantine(void)
{
    void *batch[DRAIN_BATCH];
    ar_heap_stats_t stats = heap_stats();

    if (stats.quarantine_blocks == 0) {
        return 0;
    }
    if (set_heap_options(DRAIN_OPTIONS) != 0) {
        return -1;
    }
    for (unsigned round = 0; round < DRAIN_MAX_BATCHES && stats.quarantine_blocks != 0; round++) {
        for (unsigned i = 0; i < DRAIN_BATCH; i++) {
            batch[i] = ar_heap__malloc(1, __FILE__, __LINE__, "bench drain");
        }
        for (unsigned i = 0; i < DRAIN_BATCH; i++) {
            ar_heap__free_at(batch[i], __FILE__, __LINE__); /* NULL is a no-op */
        }
        stats = heap_stats();
    }
    if (stats.quarantine_blocks != 0) {
        fprintf(stderr, "churn: the quarantine still holds %zu blocks (%zu bytes) after %u batches "
                        "of frees with %s\n",
                stats.quarantine_blocks, stats.quarantine_bytes, DRAIN_MAX_BATCHES,
                DRAIN_OPTIONS);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------ untimed fill/teardown */

static void *alloc_block(enum allocator which, size_t size)
{
    if (which != ALLOC_GLIBC) {
        return ar_heap__malloc(size, __FILE__, __LINE__, "bench block");
    }
    return malloc(size);
}

static void free_block(enum allocator which, void *p)
{
    if (which != ALLOC_GLIBC) {
        ar_heap__free_at(p, __FILE__, __LINE__);
    } else {
        free(p);
    }
}

static int fill(enum allocator which, void **slots, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        size_t size = size_of(next_random(state));
        void *p = alloc_block(which, size);
        if (p == NULL) {
            fprintf(stderr, "churn: %s: allocation of %zu bytes failed while filling %zu slots\n",
                    allocator_names[which], size, n);
            return -1;
        }
        touch(p, size);
        slots[i] = p;
    }
    return 0;
}

static void teardown(enum allocator which, void **slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free_block(which, slots[i]); /* NULL (after a failure) is a no-op */
        slots[i] = NULL;
    }
}

/* ------------------------------------------------------ timed churn loops
 *
 * One hand-written loop per library, identical but for the two calls, so
 * the timed code has direct calls and no per-op dispatch. Keep them in
 * step. The tracking and debug allocators share churn_tracked: they differ
 * only in the heap options set before the loop. On failure the slot is
 * left NULL and the caller tears down the rest.
 */

static int churn_glibc(void **slots, size_t n, uint64_t ops, uint64_t *state)
{
    for (uint64_t k = 0; k < ops; k++) {
        uint64_t r = next_random(state);
        size_t slot = slot_of(r, n);
        size_t size = size_of(r);
        free(slots[slot]);
        void *p = malloc(size);
        slots[slot] = p;
        if (p == NULL) {
            return -1;
        }
        touch(p, size);
    }
    return 0;
}

static int churn_tracked(void **slots, size_t n, uint64_t ops, uint64_t *state)
{
    for (uint64_t k = 0; k < ops; k++) {
        uint64_t r = next_random(state);
        size_t slot = slot_of(r, n);
        size_t size = size_of(r);
        ar_heap__free_at(slots[slot], __FILE__, __LINE__);
        void *p = ar_heap__malloc(size, __FILE__, __LINE__, "bench block");
        slots[slot] = p;
        if (p == NULL) {
            return -1;
        }
        touch(p, size);
    }
    return 0;
}

/* One phase: set the allocator's heap options, fill, time the churn, read
 * the quarantine, free everything, check for live blocks and (debug) empty
 * the quarantine. Returns 0, or -1 on an internal error. */
static int run_phase(enum allocator which, void **slots, size_t n, const struct options *opt,
                     struct phase_result *out)
{
    uint64_t state = opt->seed;
    int tracked = which != ALLOC_GLIBC;

    if (tracked && set_heap_options(allocator_options[which]) != 0) {
        return -1;
    }
    if (fill(which, slots, n, &state) != 0) {
        teardown(which, slots, n);
        return -1;
    }

    /* With --hot K the churn touches only K slots while the other N - K
     * blocks stay live: the allocator's work per op no longer walks a
     * working set of N blocks, so what remains is how its cost depends
     * on the number of live blocks. */
    size_t churned = opt->hot != 0 && opt->hot < n ? opt->hot : n;
    uint64_t start = now_ns();
    int rc = tracked ? churn_tracked(slots, churned, opt->ops, &state)
                     : churn_glibc(slots, churned, opt->ops, &state);
    uint64_t end = now_ns();

    out->quarantine_mib = 0.0;
    if (tracked) {
        ar_heap_stats_t stats = heap_stats();
        out->quarantine_mib = (double)stats.quarantine_bytes / (1024.0 * 1024.0);
    }
    /* The debug teardown already evicts as it frees (see drain_quarantine). */
    if (which == ALLOC_DEBUG && set_heap_options(DRAIN_OPTIONS) != 0) {
        rc = -1;
    }
    teardown(which, slots, n);
    if (rc != 0) {
        fprintf(stderr, "churn: %s: churn failed at N=%zu\n", allocator_names[which], n);
        return -1;
    }
    out->ns_per_op = (double)(end - start) / (double)opt->ops;

    if (tracked) {
        ar_heap_stats_t stats = heap_stats();
        if (stats.live_blocks != 0) {
            fprintf(stderr,
                    "churn: %s: tracked heap reports %zu live blocks (%zu bytes) after "
                    "freeing every block at N=%zu; expected 0\n",
                    allocator_names[which], stats.live_blocks, stats.live_bytes, n);
            return -1;
        }
        if (drain_quarantine() != 0) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ arguments */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: churn [options]\n"
            "Churn benchmark: ns per (free + malloc) op, side by side, for three\n"
            "allocators at N = 1e3, 1e4, 1e5, 1e6 live blocks of 8..4096 bytes:\n"
            "  glibc     malloc/free\n"
            "  tracking  the tracked heap with " TRACKING_OPTIONS "\n"
            "            (records only: leak and double-free detection)\n"
            "  debug     the tracked heap with " DEBUG_OPTIONS "\n"
            "            (the default debug configuration: canaries, fill, quarantine)\n"
            "The table also gives the debug quarantine's memory after the churn.\n"
            "\n"
            "  --ops K             churn ops per phase, the same for every N\n"
            "                      (default %u, or the environment variable AR_BENCH_OPS)\n"
            "  --repeat R          phases per allocator and N, alternating glibc,\n"
            "                      tracking, debug (default %u)\n"
            "  --max-n N           largest live-block count to run, at least 1000\n"
            "                      (default 1000000)\n"
            "  --seed S            PRNG seed, decimal or 0x hex (default 0x%" PRIx64 ")\n"
            "  --stat median|min   statistic over the R phases (default median; the\n"
            "                      quarantine column is always the median)\n"
            "  --hot K             churn only the first K slots while all N stay live\n"
            "                      (default 0: churn over all N slots)\n"
            "  --verbose, -v       print every phase's figure on stderr\n"
            "  --help, -h          show this help\n"
            "\n"
            "AR_HEAP_OPTIONS applies to both tracked allocators, except canary, fill and\n"
            "quarantine_bytes, which each phase sets itself.\n"
            "Exit status: 0 when the benchmark ran (whether or not a target is met),\n"
            "1 on an internal error, 2 on a usage error.\n",
            BENCH_DEFAULT_OPS, BENCH_DEFAULT_REPEAT, BENCH_DEFAULT_SEED);
}

/* Parse an unsigned integer (base 10, or 16 with 0x) in [min, max]. */
static int parse_u64(const char *what, const char *text, uint64_t min, uint64_t max,
                     uint64_t *out)
{
    char *end = NULL;
    if (text == NULL || *text == '\0' || *text == '-' || *text == '+') {
        fprintf(stderr, "churn: %s: expected a number, got '%s'\n", what, text ? text : "");
        return -1;
    }
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0') {
        fprintf(stderr, "churn: %s: '%s' is not a number\n", what, text);
        return -1;
    }
    if ((uint64_t)value < min || (uint64_t)value > max) {
        fprintf(stderr, "churn: %s: %s is out of range (%" PRIu64 "..%" PRIu64 ")\n", what, text,
                min, max);
        return -1;
    }
    *out = (uint64_t)value;
    return 0;
}

/* Value of option `name` at argv[*i]: "--name=value" or "--name value". */
static const char *option_value(const char *name, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0) {
        return NULL;
    }
    if (arg[len] == '=') {
        return arg + len + 1;
    }
    if (arg[len] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "churn: %s needs a value\n", name);
        exit(EXIT_USAGE);
    }
    *i += 1;
    return argv[*i];
}

static void parse_args(int argc, char **argv, struct options *opt)
{
    uint64_t value = 0;
    const char *env_ops = getenv("AR_BENCH_OPS");

    opt->ops = BENCH_DEFAULT_OPS;
    opt->repeat = BENCH_DEFAULT_REPEAT;
    opt->max_n = bench_sizes[BENCH_SIZE_COUNT - 1];
    opt->seed = BENCH_DEFAULT_SEED;
    opt->use_min = 0;
    opt->verbose = 0;
    opt->hot = 0;

    if (env_ops != NULL && *env_ops != '\0') {
        if (parse_u64("AR_BENCH_OPS", env_ops, 1, BENCH_MAX_OPS, &value) != 0) {
            exit(EXIT_USAGE);
        }
        opt->ops = value;
    }

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            opt->verbose = 1;
        } else if ((v = option_value("--ops", argc, argv, &i)) != NULL) {
            if (parse_u64("--ops", v, 1, BENCH_MAX_OPS, &value) != 0) {
                exit(EXIT_USAGE);
            }
            opt->ops = value;
        } else if ((v = option_value("--repeat", argc, argv, &i)) != NULL) {
            if (parse_u64("--repeat", v, 1, BENCH_MAX_REPEAT, &value) != 0) {
                exit(EXIT_USAGE);
            }
            opt->repeat = (unsigned)value;
        } else if ((v = option_value("--max-n", argc, argv, &i)) != NULL) {
            if (parse_u64("--max-n", v, bench_sizes[0], UINT32_MAX, &value) != 0) {
                exit(EXIT_USAGE);
            }
            opt->max_n = (size_t)value;
        } else if ((v = option_value("--hot", argc, argv, &i)) != NULL) {
            if (parse_u64("--hot", v, 0, UINT32_MAX, &value) != 0) {
                exit(EXIT_USAGE);
            }
            opt->hot = (size_t)value;
        } else if ((v = option_value("--seed", argc, argv, &i)) != NULL) {
            if (parse_u64("--seed", v, 0, UINT64_MAX, &value) != 0) {
                exit(EXIT_USAGE);
            }
            opt->seed = value;
        } else if ((v = option_value("--stat", argc, argv, &i)) != NULL) {
            if (strcmp(v, "median") == 0) {
                opt->use_min = 0;
            } else if (strcmp(v, "min") == 0) {
                opt->use_min = 1;
            } else {
                fprintf(stderr, "churn: --stat: expected median or min, got '%s'\n", v);
                exit(EXIT_USAGE);
            }
        } else {
            fprintf(stderr, "churn: unknown argument '%s' (try --help)\n", argv[i]);
            exit(EXIT_USAGE);
        }
    }
}

/* ----------------------------------------------------------------- main */

static void print_target(const char *what, size_t n, size_t max_n, int measured, double ratio,
                         double limit)
{
    if (!measured) {
        printf("target: %s: not measured (--max-n %zu < %zu)\n", what, max_n, n);
    } else {
        printf("target: %s: %.2fx (%s)\n", what, ratio, ratio <= limit ? "met" : "not met");
    }
}

/* Initialise the tracked heap now, so that AR_HEAP_OPTIONS is read once,
 * before any phase, and the options each phase sets are not overridden by
 * it afterwards; then empty the quarantine of the block used to do so. */
static int init_heap(void)
{
    /* Before the first tracked allocation, so the option becomes a default. */
    if (ar_heap__set_options("leak_report=0") != 0) {
        fprintf(stderr, "churn: warning: ar_heap__set_options(\"leak_report=0\") reported a "
                        "problem; a leak report may still be written\n");
    }
    void *p = ar_heap__malloc(1, __FILE__, __LINE__, "bench init");
    if (p == NULL) {
        fprintf(stderr, "churn: the tracked heap could not allocate one byte\n");
        return -1;
    }
    ar_heap__free_at(p, __FILE__, __LINE__);
    return drain_quarantine();
}

int main(int argc, char **argv)
{
    struct options opt;
    uint64_t wall_start = now_ns();
    double result[BENCH_SIZE_COUNT][ALLOC_COUNT];
    double quarantine[BENCH_SIZE_COUNT];
    size_t count = 0;

    parse_args(argc, argv, &opt);
    while (count < BENCH_SIZE_COUNT && bench_sizes[count] <= opt.max_n) {
        count++;
    }

    if (init_heap() != 0) {
        return EXIT_INTERNAL;
    }
    int tracking = ar_heap__has_tracking();

    size_t slot_count = bench_sizes[count - 1];
    void **slots = calloc(slot_count, sizeof *slots);
    double *runs = calloc((size_t)opt.repeat * (ALLOC_COUNT + 1), sizeof *runs);
    if (slots == NULL || runs == NULL) {
        fprintf(stderr, "churn: cannot allocate the slot table (%zu slots)\n", slot_count);
        free(runs);
        free(slots);
        return EXIT_INTERNAL;
    }
    /* runs: R ns/op figures per allocator, then R quarantine figures. */
    double *quarantine_runs = runs + (size_t)ALLOC_COUNT * opt.repeat;

    printf("arheap churn benchmark: ops=%" PRIu64 " per phase (same for every N), repeat=%u per "
           "allocator (alternating glibc/tracking/debug), statistic=%s, seed=0x%" PRIx64 "\n",
           opt.ops, opt.repeat,
           opt.use_min ? "min" : (opt.repeat % 2u ? "median" : "median (mean of middle two)"),
           opt.seed);
    printf("one op = free + malloc of a random slot, sizes uniform %u..%u B, first byte written; "
           "only the churn is timed (CLOCK_MONOTONIC)\n",
           BENCH_MIN_SIZE, BENCH_MAX_SIZE);
    if (opt.hot != 0) {
        printf("hot set: ops churn the first %zu slots only; the other N - %zu blocks stay live\n",
               opt.hot, opt.hot);
    } else {
        printf("working set: ops churn all N slots (uniformly random)\n");
    }
    if (tracking) {
        printf("tracking = ar_heap__malloc/ar_heap__free_at with " TRACKING_OPTIONS
               " (records only)\n");
        printf("debug    = ar_heap__malloc/ar_heap__free_at with " DEBUG_OPTIONS
               " (canaries + fill + quarantine)\n");
        printf("both with leak_report=0; quarantine MiB = quarantine_bytes of ar_heap__get_stats() "
               "right after the debug churn (median over repeats); the quarantine is emptied "
               "after every debug phase\n");
    } else {
        printf("note: the library is a release build (ar_heap__has_tracking() == 0): the tracking "
               "and debug columns both measure the release pass-through to libc, not the debug "
               "heap, and the quarantine column is 0\n");
    }
    printf("\n%-6s %12s %15s %12s %15s %12s %18s %15s\n", "N", "glibc ns/op", "tracking ns/op",
           "debug ns/op", "tracking/glibc", "debug/glibc", "tracking vs N=1e3", "quarantine MiB");
    fflush(stdout);

    for (size_t s = 0; s < count; s++) {
        size_t n = bench_sizes[s];
        for (unsigned r = 0; r < opt.repeat; r++) {
            for (int a = 0; a < ALLOC_COUNT; a++) {
                struct phase_result phase = {0.0, 0.0};
                if (run_phase((enum allocator)a, slots, n, &opt, &phase) != 0) {
                    free(runs);
                    free(slots);
                    return EXIT_INTERNAL;
                }
                runs[(size_t)a * opt.repeat + r] = phase.ns_per_op;
                if (a == ALLOC_DEBUG) {
                    quarantine_runs[r] = phase.quarantine_mib;
                }
                if (opt.verbose) {
                    fprintf(stderr, "churn: N=%s run %u/%u %-8s %9.2f ns/op", bench_size_labels[s],
                            r + 1, opt.repeat, allocator_names[a], phase.ns_per_op);
                    if (a != ALLOC_GLIBC) {
                        fprintf(stderr, ", quarantine %.2f MiB after the churn",
                                phase.quarantine_mib);
                    }
                    fprintf(stderr, "\n");
                }
            }
        }
        for (int a = 0; a < ALLOC_COUNT; a++) {
            result[s][a] = summarize(runs + (size_t)a * opt.repeat, opt.repeat, opt.use_min);
        }
        quarantine[s] = summarize(quarantine_runs, opt.repeat, 0);
        printf("%-6s %12.2f %15.2f %12.2f %14.2fx %11.2fx %17.2fx %15.1f\n", bench_size_labels[s],
               result[s][ALLOC_GLIBC], result[s][ALLOC_TRACKING], result[s][ALLOC_DEBUG],
               result[s][ALLOC_TRACKING] / result[s][ALLOC_GLIBC],
               result[s][ALLOC_DEBUG] / result[s][ALLOC_GLIBC],
               result[s][ALLOC_TRACKING] / result[0][ALLOC_TRACKING], quarantine[s]);
        fflush(stdout);
    }
    printf("\n");

    /* Targets: indexes of N=1e6 and N=1e5 in bench_sizes. The first two
     * are the foundation issue's, for the tracking configuration. */
    size_t scaling = 3, overhead = 2;
    print_target("tracking ns/op at N=1e6 within 1.5x of N=1e3", TARGET_SCALING_N, opt.max_n,
                 count > scaling,
                 count > scaling ? result[scaling][ALLOC_TRACKING] / result[0][ALLOC_TRACKING]
                                 : 0.0,
                 TARGET_SCALING_MAX);
    print_target("tracking within 3x of glibc at N=1e5", TARGET_OVERHEAD_N, opt.max_n,
                 count > overhead,
                 count > overhead
                     ? result[overhead][ALLOC_TRACKING] / result[overhead][ALLOC_GLIBC]
                     : 0.0,
                 TARGET_OVERHEAD_MAX);
    print_target("debug (canaries + fill + quarantine) within 3x of glibc at N=1e5",
                 TARGET_OVERHEAD_N, opt.max_n, count > overhead,
                 count > overhead
                     ? result[overhead][ALLOC_DEBUG] / result[overhead][ALLOC_GLIBC]
                     : 0.0,
                 TARGET_OVERHEAD_MAX);
    if (count > 1) {
        /* glibc itself slows down with N (cache and TLB misses over a working
         * set of up to ~2 GiB); say how much, so the scaling target can be
         * read against it. */
        size_t last = count - 1;
        printf("note: over N=1e3..%s glibc alone slows %.2fx; tracking/glibc goes %.2fx -> %.2fx, "
               "debug/glibc %.2fx -> %.2fx\n",
               bench_size_labels[last], result[last][ALLOC_GLIBC] / result[0][ALLOC_GLIBC],
               result[0][ALLOC_TRACKING] / result[0][ALLOC_GLIBC],
               result[last][ALLOC_TRACKING] / result[last][ALLOC_GLIBC],
               result[0][ALLOC_DEBUG] / result[0][ALLOC_GLIBC],
               result[last][ALLOC_DEBUG] / result[last][ALLOC_GLIBC]);
    }

    struct rusage usage_now;
    if (getrusage(RUSAGE_SELF, &usage_now) == 0) {
        printf("peak RSS: %.1f MiB (getrusage ru_maxrss)\n",
               (double)usage_now.ru_maxrss / 1024.0);
    } else {
        printf("peak RSS: unavailable (getrusage: %s)\n", strerror(errno));
    }
    printf("wall time: %.1f s\n", (double)(now_ns() - wall_start) / 1e9);

    free(runs);
    free(slots);
    return 0;
}
