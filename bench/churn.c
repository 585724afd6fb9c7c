/*
 * churn.c: allocation churn benchmark, glibc malloc/free against the
 * tracked heap (ar_heap__malloc / ar_heap__free_at) in four configurations,
 * side by side.
 *
 * The five allocators
 *   glibc     malloc / free.
 *   tracking  the tracked heap with canary=0:fill=0:quarantine_bytes=0,
 *             set with ar_heap__set_options() before each of its phases:
 *             records only (leak, double-free and invalid-free detection).
 *   debug     the tracked heap's default debug configuration,
 *             canary=1:fill=1:quarantine_bytes=16777216, set before each of
 *             its phases: canaries around every block, new bytes filled,
 *             freed blocks poisoned and held in a 16 MiB quarantine, their
 *             poison and canaries checked when they leave it.
 *   guard     debug plus guard=1:guard_sample=1 (src/guard.c): every block
 *             on its own page(s), ending against a PROT_NONE guard page;
 *             a freed block's pages are made PROT_NONE and given back while
 *             it sits in the quarantine (every guarded block counts one or
 *             more whole pages there, so 16 MiB holds at most 4096 of them).
 *             Every malloc makes an mprotect and every free an mmap system
 *             call, so this is by far the slowest column.
 *   sampled   debug plus guard=1:guard_sample=64: one block in 64 is
 *             guarded as above, the others get the debug treatment.
 *   tracking and debug set guard=0 as well, so AR_HEAP_OPTIONS can not
 *   turn guard pages on under them.
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
 *   the median over the repeats, whatever --stat says. A second table gives
 *   the guard and sampled figures against glibc and debug, a third the peak
 *   RSS of every allocator's phases (see "Peak memory").
 *
 * Why a fixed op count
 *   Every N runs the same number of ops (default 1,000,000; --ops or the
 *   environment variable AR_BENCH_OPS), so ns/op are comparable across N:
 *   a tracked heap whose lookups grow with the number of live blocks shows
 *   up as a rising "tracking vs N=1e3" column, not as a longer run. The
 *   default is 1e6 rather than the 2e6 of the two-allocator version so
 *   that `make bench` (two runs, five allocators, three repeats each, every
 *   phase in a child of its own, see "Peak memory") stays under 3 minutes
 *   on a 2-core machine (~170 s measured while other jobs shared it; the
 *   untimed fills of the N=1e6 phases, each in a fresh process, are about
 *   a quarter of that); a million ops is still over 100 times the ~8,000
 *   frees that fill the debug quarantine, so the debug figure is the
 *   quarantine's steady state.
 *   The guard and sampled allocators time fewer ops: 100,000 per phase
 *   (--guard-ops, never more than --ops), after 16,384 untimed warm-up ops.
 *   At 12-20 us per op a million guard ops would take ~15 s a phase, ~180 s
 *   for the 12 guard phases of `make bench`, and a million sampled ops
 *   (~1.2 times debug) another ~50 s; that would not fit in
 *   3 minutes. The warm-up frees at least 16,384 blocks, more than fill the
 *   quarantine (4096 guarded blocks, or ~8,000 debug ones with a few
 *   guarded), so the 100,000 timed ops all run in the quarantine's steady
 *   state, as over 99% of the others' million do: ns/op compare across
 *   columns. The warm-up uses the start of the same pseudo-random sequence,
 *   so the timed ops are a later stretch of it. The output says so.
 *
 * Guard pages and vm.max_map_count
 *   Every live guarded block splits its arena's mapping, two more kernel
 *   map entries, and the library guards at most about 7/16 of
 *   vm.max_map_count blocks live at once (src/guard.c: an eighth of the
 *   limit kept for the program, half of the rest; ~28,600 with the default
 *   65530). Past that new blocks get canaries only, with one warning on
 *   stderr. Hence:
 *   - the guard column runs for N <= 1e4 only and prints "-" beyond: at 1e5
 *     or 1e6 live blocks most of them could not be guarded, and the figure
 *     would be a mixture of guard and debug, not guard mode (1e6 guarded
 *     blocks would also need 1e6 pages, ~4 GiB);
 *   - sampled guards 1 in 64: the smallest power of two for which N=1e6
 *     live blocks mean fewer guarded ones (1e6 / 64 = 15,625) than that
 *     budget, so it really is 1 in 64 at every N; 1 in 32 (31,250) would
 *     not fit at 1e6;
 *   - the benchmark checks instead of assuming: how many blocks the
 *     library really guarded is not visible through ar_heap.h, but its
 *     warning is. Each phase's stderr goes to a temporary file that the
 *     parent copies to its own stderr after the phase; a figure from a
 *     phase in which the library wrote a "guard pages:" warning is marked
 *     "!" and a note says so, or the note says no phase ran out.
 *
 * Why side by side in one run
 *   The machines this runs on are small and noisy (2 cores, shared), so
 *   figures from separate runs are not comparable. For each N the phases
 *   alternate glibc, tracking, debug, guard, sampled, glibc, ... (--repeat
 *   R of each, 3 by default) and each allocator's figure is the median of
 *   its R runs (the mean of the middle two when R is even); --stat min
 *   reports the fastest run instead. All allocators see the same
 *   pseudo-random sequence (splitmix64, fixed seed, restarted for every
 *   phase), so they do the same work down to the byte.
 *
 * Peak memory
 *   ru_maxrss is per process and only grows, so in one process every
 *   figure after the largest phase would be that phase's. Every phase
 *   therefore runs in a child forked for it (slot table, fill, churn,
 *   teardown), which sends its ns/op and quarantine figure back through a
 *   pipe; the parent reads the child's ru_maxrss from the rusage of
 *   wait4(), i.e. that child's high-water resident set. It includes all
 *   that was resident in the child at its peak: the blocks with the
 *   allocator's own overhead (for the tracked heap: records, canaries,
 *   the quarantine's held blocks; for guard: the blocks' whole pages, not
 *   the PROT_NONE guard or quarantined pages, whose memory is given back),
 *   the slot table (8 B per slot, 7.6 MiB at N=1e6), and the parent's pages
 *   the child maps copy-on-write (the parent's own peak RSS, printed at the
 *   end, bounds that part; it is small since the parent never runs a
 *   phase). The table gives the largest over the repeats.
 *
 * The quarantine between phases
 *   Each phase runs in its own child, so nothing a phase holds reaches the
 *   next one. After a quarantining phase's timed loop the child still sets
 *   quarantine_bytes=0, so every free of the (untimed) teardown evicts all
 *   its shard holds, then frees small batches until ar_heap__get_stats()
 *   shows an empty quarantine: a check that the heap gives back everything
 *   it held.
 *
 * The tracked heap runs with leak_report=0 so no report file is written.
 * The benchmark initialises the heap before its first phase, so
 * AR_HEAP_OPTIONS in the environment applies to every tracked phase except
 * for canary, fill, quarantine_bytes, guard and guard_sample, which each
 * phase sets itself (guard_below, guard_align, guard_min_size and
 * guard_max_size from it do apply to the guard phases). After every
 * tracked phase's teardown the benchmark checks that ar_heap__get_stats()
 * shows no live blocks (quarantined blocks are not live). Against a
 * release library the four tracked columns measure the release
 * pass-through to libc, and the output says so.
 *
 * Output: the configuration (one line per allocator), one table row per N,
 * the guard table, the peak RSS table, three target lines with the
 * measured figure and whether the target is met, a note on how much glibc
 * itself slows down with N (random access over up to ~2 GiB of blocks
 * costs cache and TLB misses whatever the allocator), notes on the guard
 * budget, the parent's and the largest phase's peak RSS, and wall time.
 * Exit 0 whether or not a target is met (the bench reports, it does not
 * judge); 1 on an internal error (allocation failure, blocks left live, an
 * option the heap refused, a quarantine that would not drain, a phase's
 * child that failed or died, clock failure); 2 on a usage error.
 *
 * Usage: churn [--ops K] [--guard-ops K] [--repeat R] [--max-n N] [--hot K]
 *              [--seed S] [--stat median|min] [--verbose] [--help]
 * Built and run by `make bench`.
 */
#define _DEFAULT_SOURCE /* fork, pipe, wait4, fileno, ftruncate */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ar_heap.h"

#define BENCH_DEFAULT_OPS 1000000u
#define BENCH_DEFAULT_GUARD_OPS 100000u
#define BENCH_GUARD_WARMUP_OPS 16384u /* untimed, before the guard and sampled churns */
#define BENCH_DEFAULT_REPEAT 3u
#define BENCH_DEFAULT_SEED UINT64_C(0x5eed0fa11ca7ed00)
#define BENCH_MIN_SIZE 8u
#define BENCH_MAX_SIZE 4096u
#define BENCH_SIZE_SPAN (BENCH_MAX_SIZE - BENCH_MIN_SIZE + 1u)
#define BENCH_MAX_REPEAT 1000u
#define BENCH_MAX_OPS UINT64_C(100000000000)

/* The heap options of the tracked allocators, set before each phase,
 * and the one that empties the quarantine after a phase (a budget of one
 * byte gives every shard a share of 0, so a free evicts all its shard
 * holds, the block just freed included). */
#define TRACKING_OPTIONS "canary=0:fill=0:quarantine_bytes=0"
#define DEBUG_OPTIONS "canary=1:fill=1:quarantine_bytes=16777216"
#define GUARD_OPTIONS DEBUG_OPTIONS ":guard=1:guard_sample=1"
#define GUARD_SAMPLE 64ul /* see "Guard pages and vm.max_map_count" */
#define GUARD_SAMPLE_TEXT "64" /* the same, for the option strings */
#define SAMPLED_OPTIONS DEBUG_OPTIONS ":guard=1:guard_sample=" GUARD_SAMPLE_TEXT
#define GUARD_OFF_OPTIONS "guard=0:"
#define DRAIN_OPTIONS "quarantine_bytes=0"
/* Draining: batches of small blocks (distinct addresses, so they hash to
 * many shards), at most this many batches. */
#define DRAIN_BATCH 256u
#define DRAIN_MAX_BATCHES 64u

/* The guard column runs for N up to this only (see the header). */
#define GUARD_MAX_N 10000u
#define GUARD_MAX_N_LABEL "1e4"
/* What the library writes on stderr when guard pages run out. */
#define GUARD_WARNING "guard pages:"
/* The system's mapping limit, printed with the guard budget. */
#define MAX_MAP_COUNT_PATH "/proc/sys/vm/max_map_count"

/* Targets the tracked heap is designed to meet (reported, not enforced). */
#define TARGET_SCALING_N 1000000u
#define TARGET_SCALING_MAX 1.5
#define TARGET_OVERHEAD_N 100000u
#define TARGET_OVERHEAD_MAX 3.0

enum { EXIT_INTERNAL = 1, EXIT_USAGE = 2 };

enum allocator {
    ALLOC_GLIBC = 0,
    ALLOC_TRACKING = 1,
    ALLOC_DEBUG = 2,
    ALLOC_GUARD = 3,
    ALLOC_SAMPLED = 4,
    ALLOC_COUNT = 5
};

static const char *const allocator_names[ALLOC_COUNT] = {"glibc", "tracking", "debug", "guard",
                                                         "sampled"};

/* Heap options set before each phase of an allocator (NULL: not the heap). */
static const char *const allocator_options[ALLOC_COUNT] = {
    NULL, GUARD_OFF_OPTIONS TRACKING_OPTIONS, GUARD_OFF_OPTIONS DEBUG_OPTIONS, GUARD_OPTIONS,
    SAMPLED_OPTIONS};

static const size_t bench_sizes[] = {1000u, 10000u, 100000u, 1000000u};
static const char *const bench_size_labels[] = {"1e3", "1e4", "1e5", "1e6"};
#define BENCH_SIZE_COUNT (sizeof bench_sizes / sizeof bench_sizes[0])

struct options {
    uint64_t ops;
    uint64_t guard_ops; /* timed ops per guard and sampled phase: --guard-ops, at most ops */
    unsigned repeat;
    size_t max_n;
    uint64_t seed;
    int use_min; /* 0: median, 1: min */
    int verbose;
    size_t hot;  /* 0: churn over all N slots; else over the first `hot` */
};

/* What one phase measured: the child fills in the first two, the parent
 * the last two. */
struct phase_result {
    double ns_per_op;
    double quarantine_mib; /* held right after the churn (tracked heap only) */
    double peak_rss_mib;   /* the child's ru_maxrss */
    int degraded;          /* the library warned that guard pages ran out */
};

/* Whether an allocator's phases run at live-block count n. */
static int runs_at(enum allocator which, size_t n)
{
    return which != ALLOC_GUARD || n <= GUARD_MAX_N;
}

/* Whether an allocator quarantines freed blocks (to be drained). */
static int quarantines(enum allocator which)
{
    return which == ALLOC_DEBUG || which == ALLOC_GUARD || which == ALLOC_SAMPLED;
}

/* Whether an allocator puts blocks against guard pages (fewer ops). */
static int guarded(enum allocator which)
{
    return which == ALLOC_GUARD || which == ALLOC_SAMPLED;
}

/* Timed churn ops of a phase, and untimed ones before them. */
static uint64_t ops_of(enum allocator which, const struct options *opt)
{
    return guarded(which) ? opt->guard_ops : opt->ops;
}

static uint64_t warmup_of(enum allocator which)
{
    return guarded(which) ? BENCH_GUARD_WARMUP_OPS : 0u;
}

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
 * step. The four tracked allocators share churn_tracked: they differ
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

/* One phase, in the child: set the allocator's heap options, fill, warm
 * up (guard and sampled), time the churn, read the quarantine, free everything, check for live blocks
 * and (quarantining allocators) empty the quarantine. Returns 0, or -1 on
 * an internal error. */
static int run_phase(enum allocator which, void **slots, size_t n, const struct options *opt,
                     struct phase_result *out)
{
    uint64_t state = opt->seed;
    uint64_t ops = ops_of(which, opt);
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
    uint64_t warmup = warmup_of(which);
    int rc = warmup != 0 ? churn_tracked(slots, churned, warmup, &state) : 0;
    uint64_t start = now_ns();
    if (rc == 0) {
        rc = tracked ? churn_tracked(slots, churned, ops, &state)
                     : churn_glibc(slots, churned, ops, &state);
    }
    uint64_t end = now_ns();

    out->quarantine_mib = 0.0;
    if (tracked) {
        ar_heap_stats_t stats = heap_stats();
        out->quarantine_mib = (double)stats.quarantine_bytes / (1024.0 * 1024.0);
    }
    /* The teardown then evicts as it frees (see drain_quarantine). */
    if (quarantines(which) && set_heap_options(DRAIN_OPTIONS) != 0) {
        rc = -1;
    }
    teardown(which, slots, n);
    if (rc != 0) {
        fprintf(stderr, "churn: %s: churn failed at N=%zu\n", allocator_names[which], n);
        return -1;
    }
    out->ns_per_op = (double)(end - start) / (double)ops;

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

/* ------------------------------------------------- one phase, one child
 *
 * The child runs the phase with its stderr on `errlog` and writes a
 * child_report to a pipe; the parent reads it, takes the child's
 * ru_maxrss from wait4(), then copies errlog to its own stderr, looking
 * for the library's guard warning on the way.
 */

struct child_report {
    int rc;
    struct phase_result result;
};

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read exactly len bytes; -1 on an error or an early end of file. */
static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static _Noreturn void child_main(enum allocator which, size_t n,
                                   const struct options *opt, FILE *errlog,
                                   int report_fd)
{
    struct child_report report;
    memset(&report, 0, sizeof report);
    report.rc = -1;
    if (dup2(fileno(errlog), STDERR_FILENO) < 0) {
        _exit(EXIT_INTERNAL);
    }
    void **slots = calloc(n, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "churn: cannot allocate the slot table (%zu slots)\n", n);
    } else {
        report.rc = run_phase(which, slots, n, opt, &report.result);
    }
    /* _exit: no atexit handlers, no stdio buffers inherited from the parent. */
    if (write_all(report_fd, &report, sizeof report) != 0) {
        _exit(EXIT_INTERNAL);
    }
    _exit(report.rc == 0 ? 0 : EXIT_INTERNAL);
}

/* Copy what a phase's child wrote on stderr to ours; 1 if it holds the
 * library's guard warning. */
static int forward_child_stderr(FILE *errlog)
{
    char line[1024];
    int warned = 0;
    rewind(errlog);
    while (fgets(line, sizeof line, errlog) != NULL) {
        fputs(line, stderr);
        if (strstr(line, GUARD_WARNING) != NULL) {
            warned = 1;
        }
    }
    fflush(stderr);
    return warned;
}

/* Run one phase in a forked child. Returns 0, or -1 on an internal error
 * (reported). */
static int run_phase_in_child(enum allocator which, size_t n, const struct options *opt,
                              FILE *errlog, struct phase_result *out)
{
    int fds[2];
    struct child_report report;

    rewind(errlog);
    if (ftruncate(fileno(errlog), 0) != 0) {
        fprintf(stderr, "churn: cannot empty the temporary file for stderr: %s\n",
                strerror(errno));
        return -1;
    }
    if (pipe(fds) != 0) {
        fprintf(stderr, "churn: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "churn: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(which, n, opt, errlog, fds[1]);
    }
    close(fds[1]);
    int got = read_all(fds[0], &report, sizeof report) == 0;
    close(fds[0]);

    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "churn: wait4: %s\n", strerror(errno));
            return -1;
        }
    }
    int warned = forward_child_stderr(errlog);

    if (WIFSIGNALED(status)) {
        fprintf(stderr, "churn: %s: the phase at N=%zu died of signal %d\n",
                allocator_names[which], n, WTERMSIG(status));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !got || report.rc != 0) {
        fprintf(stderr, "churn: %s: the phase at N=%zu failed\n", allocator_names[which], n);
        return -1;
    }
    *out = report.result;
    out->peak_rss_mib = (double)usage.ru_maxrss / 1024.0; /* KiB on Linux */
    out->degraded = warned;
    return 0;
}

/* ------------------------------------------------------------ arguments */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: churn [options]\n"
            "Churn benchmark: ns per (free + malloc) op, side by side, for five\n"
            "allocators at N = 1e3, 1e4, 1e5, 1e6 live blocks of 8..4096 bytes:\n"
            "  glibc     malloc/free\n"
            "  tracking  the tracked heap with " TRACKING_OPTIONS "\n"
            "            (records only: leak and double-free detection)\n"
            "  debug     the tracked heap with " DEBUG_OPTIONS "\n"
            "            (the default debug configuration: canaries, fill, quarantine)\n"
            "  guard     the tracked heap with " GUARD_OPTIONS "\n"
            "            (debug, every block against a PROT_NONE guard page;\n"
            "            N <= " GUARD_MAX_N_LABEL " only: vm.max_map_count bounds the guarded blocks)\n"
            "  sampled   the tracked heap with " SAMPLED_OPTIONS "\n"
            "            (debug, one block in " GUARD_SAMPLE_TEXT " against a guard page)\n"
            "The tables also give the debug quarantine's memory after the churn and\n"
            "every allocator's peak RSS (each phase runs in a forked child).\n"
            "\n"
            "  --ops K             churn ops per phase, the same for every N\n"
            "                      (default %u, or the environment variable AR_BENCH_OPS)\n"
            "  --guard-ops K       timed churn ops per guard and sampled phase, after\n"
            "                      %u untimed ones (default %u; never more than --ops)\n"
            "  --repeat R          phases per allocator and N, alternating glibc,\n"
            "                      tracking, debug, guard, sampled (default %u)\n"
            "  --max-n N           largest live-block count to run, at least 1000\n"
            "                      (default 1000000)\n"
            "  --seed S            PRNG seed, decimal or 0x hex (default 0x%" PRIx64 ")\n"
            "  --stat median|min   statistic over the R phases (default median; the\n"
            "                      quarantine column is always the median, peak RSS\n"
            "                      the largest)\n"
            "  --hot K             churn only the first K slots while all N stay live\n"
            "                      (default 0: churn over all N slots)\n"
            "  --verbose, -v       print every phase's figure on stderr\n"
            "  --help, -h          show this help\n"
            "\n"
            "AR_HEAP_OPTIONS applies to all four tracked allocators, except canary, fill,\n"
            "quarantine_bytes, guard and guard_sample, which each phase sets itself.\n"
            "Exit status: 0 when the benchmark ran (whether or not a target is met),\n"
            "1 on an internal error, 2 on a usage error.\n",
            BENCH_DEFAULT_OPS, BENCH_GUARD_WARMUP_OPS, BENCH_DEFAULT_GUARD_OPS, BENCH_DEFAULT_REPEAT, BENCH_DEFAULT_SEED);
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

    uint64_t guard_ops = BENCH_DEFAULT_GUARD_OPS;

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
        } else if ((v = option_value("--guard-ops", argc, argv, &i)) != NULL) {
            if (parse_u64("--guard-ops", v, 1, BENCH_MAX_OPS, &value) != 0) {
                exit(EXIT_USAGE);
            }
            guard_ops = value;
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
    opt->guard_ops = guard_ops < opt->ops ? guard_ops : opt->ops;
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

/* The system's vm.max_map_count; 0 when it can not be read. */
static unsigned long read_max_map_count(void)
{
    unsigned long value = 0;
    FILE *f = fopen(MAX_MAP_COUNT_PATH, "r");
    if (f != NULL) {
        if (fscanf(f, "%lu", &value) != 1) {
            value = 0;
        }
        fclose(f);
    }
    return value;
}

/* One cell of the guard table: "-" when not measured, the figure
 * (followed by the suffix, e.g. "x") and "!" when degraded. */
static void print_cell(int width, int measured, double value, const char *suffix, int degraded)
{
    char text[64];
    if (!measured) {
        snprintf(text, sizeof text, "-");
    } else {
        snprintf(text, sizeof text, "%.2f%s%s", value, suffix, degraded ? "!" : "");
    }
    printf(" %*s", width, text);
}

int main(int argc, char **argv)
{
    struct options opt;
    uint64_t wall_start = now_ns();
    double result[BENCH_SIZE_COUNT][ALLOC_COUNT];
    double peak_rss[BENCH_SIZE_COUNT][ALLOC_COUNT];
    int degraded[BENCH_SIZE_COUNT][ALLOC_COUNT];
    double quarantine[BENCH_SIZE_COUNT];
    size_t count = 0;
    int any_degraded = 0;

    parse_args(argc, argv, &opt);
    while (count < BENCH_SIZE_COUNT && bench_sizes[count] <= opt.max_n) {
        count++;
    }

    if (init_heap() != 0) {
        return EXIT_INTERNAL;
    }
    int tracking = ar_heap__has_tracking();

    /* Each phase's child writes its stderr here (see forward_child_stderr). */
    FILE *errlog = tmpfile();
    double *runs = calloc((size_t)opt.repeat * (ALLOC_COUNT + 1), sizeof *runs);
    if (errlog == NULL || runs == NULL) {
        fprintf(stderr, "churn: cannot set up (temporary file for the phases' stderr: %s)\n",
                errlog == NULL ? strerror(errno) : "ok");
        free(runs);
        if (errlog != NULL) {
            fclose(errlog);
        }
        return EXIT_INTERNAL;
    }
    /* runs: R ns/op figures per allocator, then R quarantine figures. */
    double *quarantine_runs = runs + (size_t)ALLOC_COUNT * opt.repeat;

    printf("arheap churn benchmark: ops=%" PRIu64 " per phase (same for every N; guard and sampled: "
           "%" PRIu64 "), repeat=%u per allocator (alternating glibc/tracking/debug/guard/sampled), "
           "statistic=%s, seed=0x%" PRIx64 "\n",
           opt.ops, opt.guard_ops, opt.repeat,
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
        printf("guard    = ar_heap__malloc/ar_heap__free_at with " GUARD_OPTIONS
               " (debug + every block against a PROT_NONE guard page, an mprotect per malloc "
               "and an mmap per free; N <= " GUARD_MAX_N_LABEL " only)\n");
        printf("sampled  = ar_heap__malloc/ar_heap__free_at with " SAMPLED_OPTIONS
               " (debug + one block in " GUARD_SAMPLE_TEXT " against a guard page)\n");
        printf("guard and sampled phases time %" PRIu64 " ops%s after %u untimed ones, which "
               "fill the quarantine: every timed op is in its steady state, so ns/op compare with "
               "the other columns\n",
               opt.guard_ops,
               opt.guard_ops < opt.ops ? " (fewer than the others, to keep `make bench` short)"
                                       : "",
               BENCH_GUARD_WARMUP_OPS);
    } else {
        printf("note: the library is a release build (ar_heap__has_tracking() == 0): the tracking "
               "and debug columns both measure the release pass-through to libc, not the debug "
               "heap, and the quarantine column is 0\n");
        printf("note: so do the guard and sampled columns: no guard pages\n");
    }
    printf("peak RSS = ru_maxrss of the phase's own forked child, from wait4() (largest over "
           "repeats): its blocks, the allocator's overhead and quarantine, the slot table (8 B "
           "per slot), and the parent's pages it shares\n");
    printf("\n%-6s %12s %15s %12s %15s %12s %18s %15s\n", "N", "glibc ns/op", "tracking ns/op",
           "debug ns/op", "tracking/glibc", "debug/glibc", "tracking vs N=1e3", "quarantine MiB");
    fflush(stdout);

    for (size_t s = 0; s < count; s++) {
        size_t n = bench_sizes[s];
        for (int a = 0; a < ALLOC_COUNT; a++) {
            peak_rss[s][a] = 0.0;
            degraded[s][a] = 0;
        }
        for (unsigned r = 0; r < opt.repeat; r++) {
            for (int a = 0; a < ALLOC_COUNT; a++) {
                struct phase_result phase = {0.0, 0.0, 0.0, 0};
                if (!runs_at((enum allocator)a, n)) {
                    continue;
                }
                if (run_phase_in_child((enum allocator)a, n, &opt, errlog, &phase) != 0) {
                    free(runs);
                    fclose(errlog);
                    return EXIT_INTERNAL;
                }
                runs[(size_t)a * opt.repeat + r] = phase.ns_per_op;
                if (a == ALLOC_DEBUG) {
                    quarantine_runs[r] = phase.quarantine_mib;
                }
                if (phase.peak_rss_mib > peak_rss[s][a]) {
                    peak_rss[s][a] = phase.peak_rss_mib;
                }
                degraded[s][a] |= phase.degraded;
                any_degraded |= phase.degraded;
                if (opt.verbose) {
                    fprintf(stderr, "churn: N=%s run %u/%u %-8s %9.2f ns/op, peak RSS %.1f MiB",
                            bench_size_labels[s], r + 1, opt.repeat, allocator_names[a],
                            phase.ns_per_op, phase.peak_rss_mib);
                    if (a != ALLOC_GLIBC) {
                        fprintf(stderr, ", quarantine %.2f MiB after the churn",
                                phase.quarantine_mib);
                    }
                    if (phase.degraded) {
                        fprintf(stderr, ", guard pages ran out");
                    }
                    fprintf(stderr, "\n");
                }
            }
        }
        for (int a = 0; a < ALLOC_COUNT; a++) {
            result[s][a] = runs_at((enum allocator)a, n)
                               ? summarize(runs + (size_t)a * opt.repeat, opt.repeat, opt.use_min)
                               : 0.0;
        }
        quarantine[s] = summarize(quarantine_runs, opt.repeat, 0);
        printf("%-6s %12.2f %15.2f %12.2f %14.2fx %11.2fx %17.2fx %15.1f\n", bench_size_labels[s],
               result[s][ALLOC_GLIBC], result[s][ALLOC_TRACKING], result[s][ALLOC_DEBUG],
               result[s][ALLOC_TRACKING] / result[s][ALLOC_GLIBC],
               result[s][ALLOC_DEBUG] / result[s][ALLOC_GLIBC],
               result[s][ALLOC_TRACKING] / result[0][ALLOC_TRACKING], quarantine[s]);
        fflush(stdout);
    }

    /* The guard modes beside glibc and debug ("-": not run at that N). */
    printf("\n%-6s %12s %15s %12s %15s %12s %15s\n", "N", "guard ns/op", "sampled ns/op",
           "guard/glibc", "sampled/glibc", "guard/debug", "sampled/debug");
    for (size_t s = 0; s < count; s++) {
        int g = runs_at(ALLOC_GUARD, bench_sizes[s]);
        int gd = degraded[s][ALLOC_GUARD], sd = degraded[s][ALLOC_SAMPLED];
        printf("%-6s", bench_size_labels[s]);
        print_cell(12, g, result[s][ALLOC_GUARD], "", gd);
        print_cell(15, 1, result[s][ALLOC_SAMPLED], "", sd);
        print_cell(12, g, result[s][ALLOC_GUARD] / result[s][ALLOC_GLIBC], "x", gd);
        print_cell(15, 1, result[s][ALLOC_SAMPLED] / result[s][ALLOC_GLIBC], "x", sd);
        print_cell(12, g, result[s][ALLOC_GUARD] / result[s][ALLOC_DEBUG], "x", gd);
        print_cell(15, 1, result[s][ALLOC_SAMPLED] / result[s][ALLOC_DEBUG], "x", sd);
        printf("\n");
    }

    /* Peak RSS per allocator. */
    printf("\n%-6s %12s %15s %12s %12s %15s\n", "N", "glibc RSS", "tracking RSS", "debug RSS",
           "guard RSS", "sampled RSS");
    for (size_t s = 0; s < count; s++) {
        printf("%-6s", bench_size_labels[s]);
        for (int a = 0; a < ALLOC_COUNT; a++) {
            int width = a == ALLOC_TRACKING || a == ALLOC_SAMPLED ? 15 : 12;
            char text[32];
            if (runs_at((enum allocator)a, bench_sizes[s])) {
                snprintf(text, sizeof text, "%.1f MiB", peak_rss[s][a]);
            } else {
                snprintf(text, sizeof text, "-");
            }
            printf(" %*s", width, text);
        }
        printf("\n");
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
    if (tracking) {
        unsigned long max_map_count = read_max_map_count();
        char limit[96];
        if (max_map_count != 0) {
            snprintf(limit, sizeof limit, "vm.max_map_count=%lu: ~%lu", max_map_count,
                     (max_map_count - max_map_count / 8u) / 2u);
        } else {
            snprintf(limit, sizeof limit, "vm.max_map_count unreadable");
        }
        printf("note: guard budget: the library keeps at most ~7/16 of vm.max_map_count guarded "
               "blocks live (%s), then gives new blocks canaries only with one warning; so guard "
               "runs only at N <= " GUARD_MAX_N_LABEL " (\"-\" beyond: most of 1e5 or 1e6 blocks "
               "could not be guarded) and sampled guards 1 in " GUARD_SAMPLE_TEXT
               " (1e6/" GUARD_SAMPLE_TEXT " = %lu live guarded at N=1e6)\n",
               limit, 1000000ul / GUARD_SAMPLE);
        if (any_degraded) {
            printf("note: \"!\": the library warned \"" GUARD_WARNING
                   " ...\" in that phase (copied to stderr): guard pages ran out and some of its "
                   "blocks got canaries only, so the figure is not all guarded\n");
        } else {
            printf("note: no phase ran out of guard pages (the library wrote no \"" GUARD_WARNING
                   "\" warning): every block the options picked was guarded\n");
        }
    }

    struct rusage usage_now, usage_children;
    if (getrusage(RUSAGE_SELF, &usage_now) == 0 &&
        getrusage(RUSAGE_CHILDREN, &usage_children) == 0) {
        printf("peak RSS: %.1f MiB (getrusage ru_maxrss) of the largest phase (RUSAGE_CHILDREN); "
               "the parent itself, which runs no phase, %.1f MiB (RUSAGE_SELF)\n",
               (double)usage_children.ru_maxrss / 1024.0, (double)usage_now.ru_maxrss / 1024.0);
    } else {
        printf("peak RSS: unavailable (getrusage: %s)\n", strerror(errno));
    }
    printf("wall time: %.1f s\n", (double)(now_ns() - wall_start) / 1e9);

    free(runs);
    fclose(errlog);
    return 0;
}
