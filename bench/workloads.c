/*
 * workloads.c: the allocation workloads of `make bench` (bench/run.c runs
 * them), one source for every allocator the benchmark compares.
 *
 *     workloads small|strdup|realloc|large [--scale PCT] [--deadline-ms MS]
 *     workloads threads T [--scale PCT] [--deadline-ms MS] [--hand-every N]
 *
 * Each run does one workload and prints one line on stdout:
 *
 *     workload=small threads=1 layer=glibc tracking=0 preload=0 partial=0 ops=N ns=N checksum=HEX malloc=FILE
 *
 * ns is the elapsed time of the timed part (CLOCK_MONOTONIC), ops the heap
 * operations in it (each malloc, calloc, realloc, strdup and free counts
 * one), checksum a sum of bytes read back from the blocks, printed so the
 * compiler cannot drop the work that produced it. layer says which
 * allocation layer the binary was built with (below), tracking whether
 * the AR__HEAP__* macros track (1 against a debug library), preload
 * whether libarheap-preload.so is mapped in the process, partial whether
 * the timed part stopped early at --deadline-ms (below), malloc the file
 * name of the object whose code malloc is (libc.so.6, a preloaded
 * allocator, or "?"): bench/run checks with it that a preloaded reference
 * allocator was loaded. The work before
 * the timed part (word lists, populations of long-lived blocks) and after
 * it (freeing what is left) is not timed, but it is in the process's peak
 * RSS, which the driver measures from outside.
 *
 * The allocation layer
 *   The workloads allocate through BENCH_MALLOC, BENCH_CALLOC,
 *   BENCH_REALLOC, BENCH_STRDUP and BENCH_FREE only. They take the sizes
 *   a program knows anyway (the old size at realloc, the size at free,
 *   the length at strdup): the glibc and arheap layers ignore them, the
 *   floor layer needs them and so keeps no header of its own.
 *   - default: malloc, calloc, realloc, strdup, free (glibc; also the
 *     binary that runs under ASan's runtime or under LD_PRELOAD of
 *     libarheap-preload.so, since those replace glibc's malloc).
 *   - -DBENCH_ARHEAP: the AR__HEAP__* macros of <ar_heap.h>, each block
 *     with a description as a program gives it (linked with libarheap).
 *   - -DBENCH_FLOOR: the memory-pass floor. glibc, plus exactly the three
 *     memory passes of arheap's debug defaults and nothing else: the bytes
 *     of a new block from MALLOC and the bytes REALLOC adds are set to
 *     0xbe (CALLOC's stay zero; STRDUP is glibc's strdup, its bytes the
 *     copy, as arheap's are); a freed block is set to 0xdf and held in a
 *     FIFO ring under a byte budget of 16 MiB, arheap's default
 *     quarantine_bytes (each block counts its size); a block leaving the
 *     ring is checked to still hold 0xdf (memcmp against a page of 0xdf)
 *     and then given to glibc's free. REALLOC
 *     moves: a new block, the old bytes copied, the growth filled, the old
 *     block freed as above. That copy is not a pass of its own but what
 *     any quarantine asks of realloc: the old block must stay held (and
 *     poisoned) until it leaves the ring, so the new bytes cannot be where
 *     it is. No canaries, no records, no lock: the floor is single
 *     threaded and refuses the threads workload. Where arheap's debug
 *     defaults cost no more than this floor, what they cost is the design
 *     (every new byte filled, every freed byte poisoned and checked);
 *     what they cost beyond it is arheap's own overhead.
 *
 * The workloads (each really touches its memory, as a program would: it
 *   writes every byte it asks for and reads some back; every allocator
 *   sees the same sequence of operations, from a fixed-seed splitmix64)
 *   small    a population of 32768 long-lived blocks of 8 to 512 B (most
 *            of them small), one of them replaced every 16 steps, and a
 *            temporary per step, freed 8 steps later, as the intermediate
 *            results of a bignum library or a parser's nodes are; one
 *            temporary in 8 comes from CALLOC.
 *   strdup   a generated list of 4096 lines of 1 to 16 words (some much
 *            longer); each step duplicates a random line and frees the
 *            oldest of a window of 16384 copies, and every fourth step also
 *            duplicates a single word and frees it at once (a tokenizer).
 *   realloc  64 string builders at once, each appending chunks of 1 to
 *            64 bytes and growing by REALLOC (half of them doubling, half
 *            by 1.5x) from 16 to 64 B up to a final length of 64 B to
 *            32 KiB; a finished buffer joins a window of 512 results
 *            (the oldest freed).
 *   large    32 live blocks of 64 KiB to 1 MiB; each step frees a random
 *            one (reading some of its bytes back) and allocates a new one,
 *            written in full. The memory passes dominate here.
 *   threads  T threads, each with its own 4096 blocks of 16 to 256 B:
 *            each step frees a random one of its blocks and allocates a new
 *            one; one freed block in 64 is handed instead to the next
 *            thread (a lock-free mailbox per thread, emptied every 64
 *            steps), which frees it, while that thread has steps left
 *            (a thread that has made its steps waits for the others
 *            without emptying its mailbox: until stop 25 the blocks
 *            handed to it then piled up live, 40 000 and more at T=2
 *            when one thread ran far ahead, and the peak RSS measured
 *            how unequally the threads progressed). The total number of
 *            steps is fixed and divided among the threads, so the run's
 *            length does not grow with T; the figure is the total million heap operations
 *            per second, timed by the threads themselves from the first
 *            one to start its steps (every thread has its population
 *            then) to the last one's last step. --hand-every N
 *            hands one block in N (a power of two) instead of 64, and 0
 *            none: the same churn without cross-thread frees, which shows
 *            what the hand-overs cost (`make bench` always uses 64).
 *
 * The step counts are sized for 0.2 to 1 s per run under glibc on a
 * 2-core machine; --scale PCT runs PCT percent of them (the quick mode of
 * `make bench`). --deadline-ms MS stops the timed part after MS
 * milliseconds (looked at every few steps) and reports the operations
 * done until then with partial=1: the driver takes the rate of a very
 * slow allocator from such a run instead of waiting for the whole of it.
 * Every workload is in its steady state after its first few thousand
 * steps, so that rate stands for the whole run's. Exit status: 0, 1 on an
 * allocation failure or a damaged floor block, 2 on a usage error.
 */
#define _GNU_SOURCE /* strdup, pthread_barrier */

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

#define BENCH_SEED UINT64_C(0x5eed0fa11ca7ed00)

/* ------------------------------------------------------ allocation layer */

#if defined(BENCH_ARHEAP) && defined(BENCH_FLOOR)
#error "BENCH_ARHEAP and BENCH_FLOOR are two layers: define one at most"
#endif

#if defined(BENCH_ARHEAP)

#include "ar_heap.h"

#define BENCH_LAYER "arheap"
#define BENCH_THREADED 1
#define BENCH_MALLOC(n) AR__HEAP__MALLOC((n), "bench block")
#define BENCH_CALLOC(c, n) AR__HEAP__CALLOC((c), (n), "bench zeroed block")
#define BENCH_REALLOC(p, old, n) ((void)(old), AR__HEAP__REALLOC((p), (n), "bench buffer"))
#define BENCH_STRDUP(s, len) ((void)(len), AR__HEAP__STRDUP((s), "bench string"))
#define BENCH_FREE(p, n) ((void)(n), AR__HEAP__FREE(p))

static int bench_tracking(void)
{
    return AR_HEAP_TRACKING && ar_heap__has_tracking();
}

#elif defined(BENCH_FLOOR)

#define BENCH_LAYER "floor"
#define BENCH_THREADED 0
#define BENCH_MALLOC(n) floor_malloc(n)
#define BENCH_CALLOC(c, n) calloc((c), (n))
#define BENCH_REALLOC(p, old, n) floor_realloc((p), (old), (n))
#define BENCH_STRDUP(s, len) ((void)(len), strdup(s)) /* no fill: the bytes are the copy */
#define BENCH_FREE(p, n) floor_free((p), (n))

/* arheap's byte values and default quarantine budget (doc/arheap.md). */
#define FLOOR_FILL_NEW 0xbe
#define FLOOR_FILL_FREED 0xdf
#define FLOOR_BUDGET ((size_t)16 << 20)
/* The ring's first capacity, in entries; it doubles when full, so it
 * holds as many entries as the budget's blocks need and its memory
 * (16 B an entry) is the least a FIFO of them can take. */
#define FLOOR_FIRST_SLOTS 4096u
#define FLOOR_REF_BYTES 4096u

struct floor_entry {
    unsigned char *ptr;
    size_t size;
};

/* The ring of held blocks: slots entries, the oldest at head, count of
 * them used, bytes held. */
static struct {
    struct floor_entry *ring;
    size_t slots;
    size_t head;
    size_t count;
    size_t bytes;
    unsigned char freed_ref[FLOOR_REF_BYTES]; /* FLOOR_FILL_FREED, for memcmp */
} floor_q;

static void floor_init(void)
{
    memset(floor_q.freed_ref, FLOOR_FILL_FREED, sizeof floor_q.freed_ref);
    floor_q.slots = FLOOR_FIRST_SLOTS;
    floor_q.ring = calloc(floor_q.slots, sizeof *floor_q.ring);
    if (floor_q.ring == NULL) {
        fprintf(stderr, "workloads: floor: out of memory\n");
        exit(EXIT_FAILED);
    }
}

/* A full ring doubles, its entries copied oldest first. */
static void floor_grow(void)
{
    struct floor_entry *ring = calloc(floor_q.slots * 2u, sizeof *ring);
    if (ring == NULL) {
        fprintf(stderr, "workloads: floor: out of memory\n");
        exit(EXIT_FAILED);
    }
    for (size_t i = 0; i < floor_q.count; i++) {
        ring[i] = floor_q.ring[(floor_q.head + i) % floor_q.slots];
    }
    free(floor_q.ring);
    floor_q.ring = ring;
    floor_q.slots *= 2u;
    floor_q.head = 0;
}

/* The poison check of a block leaving the ring, then glibc's free. */
static void floor_release(unsigned char *p, size_t size)
{
    for (size_t at = 0; at < size; at += FLOOR_REF_BYTES) {
        size_t chunk = size - at < FLOOR_REF_BYTES ? size - at : FLOOR_REF_BYTES;
        if (memcmp(p + at, floor_q.freed_ref, chunk) != 0) {
            fprintf(stderr, "workloads: floor: a freed %zu-byte block was written to\n", size);
            exit(EXIT_FAILED);
        }
    }
    free(p);
}

static void floor_evict_oldest(void)
{
    struct floor_entry *e = &floor_q.ring[floor_q.head];
    floor_q.head = (floor_q.head + 1) % floor_q.slots;
    floor_q.count--;
    floor_q.bytes -= e->size;
    floor_release(e->ptr, e->size);
}

static void floor_free(void *ptr, size_t size)
{
    unsigned char *p = ptr;
    if (p == NULL) {
        return;
    }
    memset(p, FLOOR_FILL_FREED, size);
    if (size > FLOOR_BUDGET) {
        floor_release(p, size);
        return;
    }
    while (floor_q.count > 0 && floor_q.bytes + size > FLOOR_BUDGET) {
        floor_evict_oldest();
    }
    if (floor_q.count == floor_q.slots) {
        floor_grow();
    }
    floor_q.ring[(floor_q.head + floor_q.count) % floor_q.slots] = (struct floor_entry){p, size};
    floor_q.count++;
    floor_q.bytes += size;
}

static void *floor_malloc(size_t size)
{
    void *p = malloc(size);
    if (p != NULL) {
        memset(p, FLOOR_FILL_NEW, size);
    }
    return p;
}

static void *floor_realloc(void *ptr, size_t old, size_t size)
{
    unsigned char *fresh = malloc(size);
    if (fresh == NULL) {
        return NULL;
    }
    if (ptr != NULL) {
        memcpy(fresh, ptr, old < size ? old : size);
    }
    if (size > old) {
        memset(fresh + old, FLOOR_FILL_NEW, size - old);
    }
    floor_free(ptr, old);
    return fresh;
}

static int bench_tracking(void)
{
    return 0;
}

#else

#define BENCH_LAYER "glibc"
#define BENCH_THREADED 1
#define BENCH_MALLOC(n) malloc(n)
#define BENCH_CALLOC(c, n) calloc((c), (n))
#define BENCH_REALLOC(p, old, n) ((void)(old), realloc((p), (n)))
#define BENCH_STRDUP(s, len) ((void)(len), strdup(s))
#define BENCH_FREE(p, n) ((void)(n), free(p))

static int bench_tracking(void)
{
    return 0;
}

#endif

/* ------------------------------------------------------------ utilities */

/* splitmix64: fast and deterministic; one state per thread. */
static inline uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A value in [0, n) from 32 random bits, by multiply-shift. */
static inline size_t below(uint64_t bits32, size_t n)
{
    return (size_t)(((bits32 & UINT64_C(0xffffffff)) * (uint64_t)n) >> 32);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* --deadline-ms: the timed part stops at deadline_ns (0: never), set when
 * it starts; steps look at the clock every DEADLINE_EVERY steps. */
#define DEADLINE_EVERY 1024u
static uint64_t deadline_ms;
static uint64_t deadline_ns;

static uint64_t start_timing(void)
{
    uint64_t start = now_ns();
    deadline_ns = deadline_ms > 0 ? start + deadline_ms * UINT64_C(1000000) : 0;
    return start;
}

static inline int past_deadline(uint64_t step, unsigned every)
{
    return deadline_ns != 0 && step % every == every - 1u && now_ns() >= deadline_ns;
}

static void *checked(void *p, const char *what)
{
    if (p == NULL) {
        fprintf(stderr, "workloads: %s: out of memory\n", what);
        exit(EXIT_FAILED);
    }
    return p;
}

/* Untimed bookkeeping memory of the workloads themselves (tables, word
 * lists): plain malloc in every layer. */
static void *table(size_t count, size_t size)
{
    return checked(calloc(count, size), "table");
}

/* What a program does with a block it allocated and one it is done
 * with: write all its bytes; read a few back. The compiler is not told
 * where the block came from nor how large it can be, so that every build
 * writes it the same way, with a call to memset: gcc knew glibc's malloc
 * returns aligned memory and, from the sizes' ranges, wrote some
 * workloads' blocks in the glibc build (`threads` among them) with `rep
 * stosb`, slower for small blocks on this machine's processor, where the
 * arheap build called memset; the glibc and preloaded runs, which use the
 * glibc build, paid for it (doc/benchmark-history.md, "Stop 31"). */
static inline void write_block(void *p, size_t n, uint64_t step)
{
#if defined(__GNUC__)
    __asm__ volatile("" : "+r"(p), "+r"(n));
#endif
    memset(p, (int)(step & 0x7f) + 1, n);
}

static inline uint64_t read_block(const void *p, size_t n)
{
    const unsigned char *b = p;
    return (uint64_t)b[0] + b[n / 2] + b[n - 1];
}

/* A step count scaled by --scale (percent), at least 1. */
static uint64_t scaled(uint64_t steps, unsigned scale)
{
    uint64_t n = steps * scale / 100u;
    return n > 0 ? n : 1;
}

struct result {
    uint64_t ops;
    uint64_t ns;
    uint64_t checksum;
    int partial; /* stopped at the deadline */
};

/* ---------------------------------------------------------------- small */

#define SMALL_LIVE 32768u
#define SMALL_TEMPS 8u /* a temporary lives this many steps */
#define SMALL_REPLACE_EVERY 16u
#define SMALL_STEPS UINT64_C(3000000)

/* 8 to 512 B, most of them small: 62% up to 64 B, 31% to 256 B, the
 * rest to 512 B. */
static inline size_t small_size(uint64_t r)
{
    unsigned u = (unsigned)(r & 0xff);
    uint64_t rest = r >> 8;
    if (u < 160u) {
        return 8u + below(rest, 57u);
    }
    if (u < 240u) {
        return 65u + below(rest, 192u);
    }
    return 257u + below(rest, 256u);
}

static struct result run_small(unsigned scale)
{
    struct result res = {0, 0, 0, 0};
    uint64_t rng = BENCH_SEED;
    unsigned char **live = table(SMALL_LIVE, sizeof *live);
    size_t *live_size = table(SMALL_LIVE, sizeof *live_size);
    unsigned char *temp[SMALL_TEMPS] = {0};
    size_t temp_size[SMALL_TEMPS] = {0};
    uint64_t steps = scaled(SMALL_STEPS, scale);

    for (size_t i = 0; i < SMALL_LIVE; i++) {
        live_size[i] = small_size(next_random(&rng));
        live[i] = checked(BENCH_MALLOC(live_size[i]), "small");
        write_block(live[i], live_size[i], i);
    }

    uint64_t start = start_timing();
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t r = next_random(&rng);
        unsigned slot = (unsigned)(s % SMALL_TEMPS);
        size_t n = small_size(r);
        unsigned char *p;
        if ((r >> 40) % 8u == 0) {
            p = checked(BENCH_CALLOC(1, n), "small");
            p[n / 2] = (unsigned char)s; /* the zeroes stand; some digits set */
        } else {
            p = checked(BENCH_MALLOC(n), "small");
            write_block(p, n, s);
        }
        if (temp[slot] != NULL) {
            res.checksum += read_block(temp[slot], temp_size[slot]);
            BENCH_FREE(temp[slot], temp_size[slot]);
            res.ops++;
        }
        temp[slot] = p;
        temp_size[slot] = n;
        res.ops++;
        /* An operand computed a few steps ago. */
        unsigned char *older = temp[(slot + SMALL_TEMPS - 3u) % SMALL_TEMPS];
        if (older != NULL) {
            res.checksum += older[0];
        }
        if (s % SMALL_REPLACE_EVERY == 0) {
            size_t j = below(r >> 32, SMALL_LIVE);
            res.checksum += read_block(live[j], live_size[j]);
            BENCH_FREE(live[j], live_size[j]);
            live_size[j] = small_size(next_random(&rng));
            live[j] = checked(BENCH_MALLOC(live_size[j]), "small");
            write_block(live[j], live_size[j], s);
            res.ops += 2;
        }
        if (past_deadline(s, DEADLINE_EVERY)) {
            res.partial = 1;
            break;
        }
    }
    res.ns = now_ns() - start;

    for (unsigned i = 0; i < SMALL_TEMPS; i++) {
        BENCH_FREE(temp[i], temp_size[i]);
    }
    for (size_t i = 0; i < SMALL_LIVE; i++) {
        BENCH_FREE(live[i], live_size[i]);
    }
    free(live);
    free(live_size);
    return res;
}

/* --------------------------------------------------------------- strdup */

#define STRDUP_WORDS 2048u
#define STRDUP_LINES 4096u
#define STRDUP_WINDOW 16384u
#define STRDUP_STEPS UINT64_C(2000000)

struct text {
    char *buf;        /* every word, then every line, NUL-terminated */
    char **word;
    size_t *word_len;
    char **line;
    size_t *line_len;
};

/* Words of 1 to 12 letters; lines of 1 to 16 words, one line in 32 of 40
 * to 80 words (about 100 B on average, up to some 800 B). */
static struct text make_text(uint64_t *rng)
{
    struct text t;
    size_t cap = STRDUP_WORDS * 13u + STRDUP_LINES * 80u * 13u;
    size_t at = 0;
    t.buf = table(cap, 1);
    t.word = table(STRDUP_WORDS, sizeof *t.word);
    t.word_len = table(STRDUP_WORDS, sizeof *t.word_len);
    t.line = table(STRDUP_LINES, sizeof *t.line);
    t.line_len = table(STRDUP_LINES, sizeof *t.line_len);
    for (size_t w = 0; w < STRDUP_WORDS; w++) {
        uint64_t r = next_random(rng);
        size_t len = 1u + below(r, 12u);
        t.word[w] = t.buf + at;
        t.word_len[w] = len;
        for (size_t i = 0; i < len; i++) {
            t.buf[at++] = (char)('a' + below(next_random(rng), 26u));
        }
        t.buf[at++] = '\0';
    }
    for (size_t l = 0; l < STRDUP_LINES; l++) {
        uint64_t r = next_random(rng);
        size_t words = (r >> 40) % 32u == 0 ? 40u + below(r, 41u) : 1u + below(r, 16u);
        t.line[l] = t.buf + at;
        for (size_t i = 0; i < words; i++) {
            size_t w = below(next_random(rng), STRDUP_WORDS);
            if (i > 0) {
                t.buf[at++] = ' ';
            }
            memcpy(t.buf + at, t.word[w], t.word_len[w]);
            at += t.word_len[w];
        }
        t.buf[at++] = '\0';
        t.line_len[l] = (size_t)(t.buf + at - 1 - t.line[l]);
    }
    return t;
}

static struct result run_strdup(unsigned scale)
{
    struct result res = {0, 0, 0, 0};
    uint64_t rng = BENCH_SEED;
    struct text t = make_text(&rng);
    char **window = table(STRDUP_WINDOW, sizeof *window);
    size_t *window_len = table(STRDUP_WINDOW, sizeof *window_len);
    uint64_t steps = scaled(STRDUP_STEPS, scale);

    uint64_t start = start_timing();
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t r = next_random(&rng);
        size_t slot = (size_t)(s % STRDUP_WINDOW);
        size_t l = below(r, STRDUP_LINES);
        char *copy = checked(BENCH_STRDUP(t.line[l], t.line_len[l]), "strdup");
        res.checksum += (unsigned char)copy[0] + (unsigned char)copy[t.line_len[l] / 2];
        res.ops++;
        if (window[slot] != NULL) {
            res.checksum += (unsigned char)window[slot][window_len[slot] - 1];
            BENCH_FREE(window[slot], window_len[slot] + 1);
            res.ops++;
        }
        window[slot] = copy;
        window_len[slot] = t.line_len[l];
        if (s % 4u == 0) {
            size_t w = below(r >> 32, STRDUP_WORDS);
            char *token = checked(BENCH_STRDUP(t.word[w], t.word_len[w]), "strdup");
            res.checksum += (unsigned char)token[t.word_len[w] - 1];
            BENCH_FREE(token, t.word_len[w] + 1);
            res.ops += 2;
        }
        if (past_deadline(s, DEADLINE_EVERY)) {
            res.partial = 1;
            break;
        }
    }
    res.ns = now_ns() - start;

    for (size_t i = 0; i < STRDUP_WINDOW; i++) {
        BENCH_FREE(window[i], window_len[i] + 1);
    }
    free(window);
    free(window_len);
    free(t.buf);
    free(t.word);
    free(t.word_len);
    free(t.line);
    free(t.line_len);
    return res;
}

/* -------------------------------------------------------------- realloc */

#define REALLOC_BUILDERS 64u
#define REALLOC_RESULTS 512u
#define REALLOC_STEPS UINT64_C(4000000) /* appends */

struct builder {
    unsigned char *p;
    size_t len;
    size_t cap;
    size_t target;
    int doubling; /* 1: cap * 2; 0: cap * 1.5 */
};

/* A final length of 64 B to 32 KiB, log-uniform: 64 << k plus up to
 * as much again, capped. */
static void builder_start(struct builder *b, uint64_t r, struct result *res)
{
    size_t base = (size_t)64u << below(r, 9u);
    b->target = base + below(r >> 32, base);
    if (b->target > 32768u) {
        b->target = 32768u;
    }
    b->cap = 16u + below(r >> 16, 49u);
    b->len = 0;
    b->doubling = (int)((r >> 60) & 1u);
    b->p = checked(BENCH_MALLOC(b->cap), "realloc");
    res->ops++;
}

static struct result run_realloc(unsigned scale)
{
    struct result res = {0, 0, 0, 0};
    uint64_t rng = BENCH_SEED;
    struct builder builder[REALLOC_BUILDERS];
    unsigned char *done[REALLOC_RESULTS] = {0};
    size_t done_len[REALLOC_RESULTS] = {0};
    size_t done_next = 0;
    unsigned char chunk[64];
    uint64_t steps = scaled(REALLOC_STEPS, scale);

    for (size_t i = 0; i < sizeof chunk; i++) {
        chunk[i] = (unsigned char)('A' + i % 26u);
    }
    uint64_t start = start_timing();
    for (unsigned i = 0; i < REALLOC_BUILDERS; i++) {
        builder_start(&builder[i], next_random(&rng), &res);
    }
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t r = next_random(&rng);
        struct builder *b = &builder[below(r, REALLOC_BUILDERS)];
        size_t n = 1u + below(r >> 32, 64u);
        if (b->len + n > b->cap) {
            size_t cap = b->doubling ? b->cap * 2u : b->cap + b->cap / 2u;
            if (cap < b->len + n) {
                cap = b->len + n;
            }
            b->p = checked(BENCH_REALLOC(b->p, b->cap, cap), "realloc");
            b->cap = cap;
            res.ops++;
        }
        memcpy(b->p + b->len, chunk, n);
        b->len += n;
        if (b->len >= b->target) {
            res.checksum += read_block(b->p, b->len);
            if (done[done_next] != NULL) {
                res.checksum += done[done_next][0];
                BENCH_FREE(done[done_next], done_len[done_next]);
                res.ops++;
            }
            done[done_next] = b->p;
            done_len[done_next] = b->cap;
            done_next = (done_next + 1u) % REALLOC_RESULTS;
            builder_start(b, next_random(&rng), &res);
        }
        if (past_deadline(s, DEADLINE_EVERY)) {
            res.partial = 1;
            break;
        }
    }
    res.ns = now_ns() - start;

    for (unsigned i = 0; i < REALLOC_BUILDERS; i++) {
        BENCH_FREE(builder[i].p, builder[i].cap);
    }
    for (unsigned i = 0; i < REALLOC_RESULTS; i++) {
        BENCH_FREE(done[i], done_len[i]);
    }
    return res;
}

/* ---------------------------------------------------------------- large */

#define LARGE_LIVE 32u
#define LARGE_MIN ((size_t)64 << 10)
#define LARGE_MAX ((size_t)1 << 20)
#define LARGE_STEPS UINT64_C(2500)
#define LARGE_READ_STRIDE 4096u

static struct result run_large(unsigned scale)
{
    struct result res = {0, 0, 0, 0};
    uint64_t rng = BENCH_SEED;
    unsigned char *live[LARGE_LIVE];
    size_t live_size[LARGE_LIVE];
    uint64_t steps = scaled(LARGE_STEPS, scale);

    for (unsigned i = 0; i < LARGE_LIVE; i++) {
        live_size[i] = LARGE_MIN + below(next_random(&rng), LARGE_MAX - LARGE_MIN + 1u);
        live[i] = checked(BENCH_MALLOC(live_size[i]), "large");
        write_block(live[i], live_size[i], i);
    }
    uint64_t start = start_timing();
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t r = next_random(&rng);
        unsigned j = (unsigned)below(r, LARGE_LIVE);
        /* Read one byte a page, as a program that scans its data. */
        for (size_t at = 0; at < live_size[j]; at += LARGE_READ_STRIDE) {
            res.checksum += live[j][at];
        }
        BENCH_FREE(live[j], live_size[j]);
        live_size[j] = LARGE_MIN + below(r >> 32, LARGE_MAX - LARGE_MIN + 1u);
        live[j] = checked(BENCH_MALLOC(live_size[j]), "large");
        write_block(live[j], live_size[j], s);
        res.ops += 2;
        if (past_deadline(s, 8u)) {
            res.partial = 1;
            break;
        }
    }
    res.ns = now_ns() - start;
    for (unsigned i = 0; i < LARGE_LIVE; i++) {
        BENCH_FREE(live[i], live_size[i]);
    }
    return res;
}

/* -------------------------------------------------------------- threads */

#define THREAD_BLOCKS 4096u
#define THREAD_MIN 16u
#define THREAD_MAX 256u
#define THREAD_HAND_EVERY 64u  /* one freed block in this many changes thread (default) */
#define THREAD_DRAIN_EVERY 64u /* steps between looks at the mailbox */
#define THREAD_STEPS UINT64_C(12000000) /* in all, divided among the threads */
#define THREAD_MAX_COUNT 1024u

/* A block handed to another thread carries its link and size in its
 * first 16 bytes (every block here has at least 16). */
struct handed {
    struct handed *next;
    size_t size;
};

struct worker {
    _Alignas(64) _Atomic(struct handed *) mailbox; /* pushed by the previous thread */
    _Atomic int finished; /* made its steps: no more blocks are handed to it */
    _Alignas(64) pthread_t thread;
    unsigned index;
    unsigned count;
    uint64_t steps;
    uint64_t done; /* steps made: fewer than steps when stopped at the deadline */
    uint64_t checksum;
    uint64_t started, ended; /* its timed part: past the start barrier, to its last step */
    struct worker *all;
    pthread_barrier_t *barrier;
    _Atomic int *stop; /* set by the first thread past the deadline */
};

/* Free every block in this worker's mailbox. */
static uint64_t drain_mailbox(struct worker *w)
{
    uint64_t sum = 0;
    struct handed *h = atomic_exchange_explicit(&w->mailbox, NULL, memory_order_acquire);
    while (h != NULL) {
        struct handed *next = h->next;
        sum += h->size + ((unsigned char *)h)[h->size - 1];
        BENCH_FREE(h, h->size);
        h = next;
    }
    return sum;
}

/* --hand-every N: one freed block in N goes to the next thread; 0: none.
 * N is a power of two, so that the test is a mask, as with the constant. */
static unsigned hand_every = THREAD_HAND_EVERY;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct worker *peer = &w->all[(w->index + 1u) % w->count];
    uint64_t rng = BENCH_SEED + w->index * UINT64_C(0x1000193);
    unsigned char **block = table(THREAD_BLOCKS, sizeof *block);
    size_t *size = table(THREAD_BLOCKS, sizeof *size);
    uint64_t sum = 0;
    uint64_t done = 0;

    for (unsigned i = 0; i < THREAD_BLOCKS; i++) {
        size[i] = THREAD_MIN + below(next_random(&rng), THREAD_MAX - THREAD_MIN + 1u);
        block[i] = checked(BENCH_MALLOC(size[i]), "threads");
        write_block(block[i], size[i], i);
    }
    pthread_barrier_wait(w->barrier); /* start */
    w->started = now_ns();
    for (uint64_t s = 0; s < w->steps; s++) {
        uint64_t r = next_random(&rng);
        unsigned j = (unsigned)below(r, THREAD_BLOCKS);
        unsigned char *p = block[j];
        sum += read_block(p, size[j]);
        int hand = hand_every != 0 && ((r >> 32) & (hand_every - 1u)) == 0;
        if (hand && atomic_load_explicit(&peer->finished, memory_order_relaxed)) {
            /* The peer is done: freed here, counted as its drain would
             * (which reads the size it is handed with: a 16-byte block's
             * last byte is the size's top byte). */
            struct handed *h = (struct handed *)(void *)p;
            h->size = size[j];
            sum += h->size + p[size[j] - 1u];
            BENCH_FREE(p, size[j]);
        } else if (hand) {
            struct handed *h = (struct handed *)(void *)p;
            h->size = size[j];
            h->next = atomic_load_explicit(&peer->mailbox, memory_order_relaxed);
            while (!atomic_compare_exchange_weak_explicit(&peer->mailbox, &h->next, h,
                                                          memory_order_release,
                                                          memory_order_relaxed)) {
            }
        } else {
            BENCH_FREE(p, size[j]);
        }
        size[j] = THREAD_MIN + below(r >> 32, THREAD_MAX - THREAD_MIN + 1u);
        block[j] = checked(BENCH_MALLOC(size[j]), "threads");
        write_block(block[j], size[j], s);
        if (s % THREAD_DRAIN_EVERY == THREAD_DRAIN_EVERY - 1u) {
            sum += drain_mailbox(w);
        }
        done = s + 1u;
        if (s % DEADLINE_EVERY == DEADLINE_EVERY - 1u && deadline_ns != 0 &&
            (atomic_load_explicit(w->stop, memory_order_relaxed) || now_ns() >= deadline_ns)) {
            atomic_store_explicit(w->stop, 1, memory_order_relaxed);
            break;
        }
    }
    w->ended = now_ns();
    w->done = done;
    atomic_store_explicit(&w->finished, 1, memory_order_relaxed);
    pthread_barrier_wait(w->barrier); /* stop: no block is handed after it */
    sum += drain_mailbox(w);
    for (unsigned i = 0; i < THREAD_BLOCKS; i++) {
        BENCH_FREE(block[i], size[i]);
    }
    free(block);
    free(size);
    w->checksum = sum;
    return NULL;
}

static struct result run_threads(unsigned count, unsigned scale)
{
    struct result res = {0, 0, 0, 0};
    struct worker *all = checked(aligned_alloc(64, count * sizeof *all), "threads");
    pthread_barrier_t barrier;
    _Atomic int stop;
    uint64_t total = scaled(THREAD_STEPS, scale);

    atomic_init(&stop, 0);

    if (pthread_barrier_init(&barrier, NULL, count + 1u) != 0) {
        fprintf(stderr, "workloads: pthread_barrier_init failed\n");
        exit(EXIT_FAILED);
    }
    for (unsigned i = 0; i < count; i++) {
        memset(&all[i], 0, sizeof all[i]);
        atomic_init(&all[i].mailbox, NULL);
        atomic_init(&all[i].finished, 0);
        all[i].index = i;
        all[i].count = count;
        all[i].steps = total / count + (i < total % count ? 1u : 0u);
        all[i].all = all;
        all[i].barrier = &barrier;
        all[i].stop = &stop;
    }
    for (unsigned i = 0; i < count; i++) {
        if (pthread_create(&all[i].thread, NULL, worker_main, &all[i]) != 0) {
            fprintf(stderr, "workloads: pthread_create failed\n");
            exit(EXIT_FAILED);
        }
    }
    /* The deadline is set before the threads pass the start barrier. */
    deadline_ns = deadline_ms > 0 ? now_ns() + deadline_ms * UINT64_C(1000000) : 0;
    /* The timed part is the workers' own: from the first one past the
     * start barrier to the last one's last step, each read by the worker.
     * Until stop 42 the main thread read the clock as it came out of each
     * barrier: with as many workers as cores it waited for a CPU there,
     * and the figure missed the first milliseconds and took in the
     * workers' untimed clean-up (up to 10% at --scale 10, T=8). */
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    uint64_t first = UINT64_MAX, last = 0;
    for (unsigned i = 0; i < count; i++) {
        pthread_join(all[i].thread, NULL);
        first = all[i].started < first ? all[i].started : first;
        last = all[i].ended > last ? all[i].ended : last;
        res.checksum += all[i].checksum;
        /* A step frees (or hands over, to be freed) one block and allocates one. */
        res.ops += 2u * all[i].done;
        res.partial |= all[i].done < all[i].steps;
    }
    res.ns = last - first;
    pthread_barrier_destroy(&barrier);
    free(all);
    return res;
}

/* ----------------------------------------------------------------- main */

/* Whether libarheap-preload.so is mapped in this process. */
static int preloaded(void)
{
    char line[512];
    int found = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        return 0;
    }
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        found = strstr(line, "libarheap-preload") != NULL;
    }
    fclose(maps);
    return found;
}

/* The file name of the mapping that holds malloc's code, or "?". */
static void malloc_owner(char *name, size_t size)
{
    void *(*volatile fn)(size_t) = malloc; /* the address the program calls */
    uintptr_t at = (uintptr_t)fn;
    char line[512];
    snprintf(name, size, "?");
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        return;
    }
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long long lo, hi;
        int path = 0;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &lo, &hi, &path) == 2 && path > 0 &&
            at >= lo && at < hi) {
            line[strcspn(line, "\n")] = '\0';
            const char *file = strrchr(line + path, '/');
            snprintf(name, size, "%s", file != NULL ? file + 1 : line + path);
            break;
        }
    }
    fclose(maps);
}

static int usage(void)
{
    fprintf(stderr, "usage: workloads small|strdup|realloc|large [--scale PCT] [--deadline-ms MS]\n"
                    "       workloads threads T [--scale PCT] [--deadline-ms MS] "
                    "[--hand-every N]\n");
    return EXIT_USAGE;
}

static int parse_unsigned(const char *text, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v == 0 || v > max) {
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned threads = 1;
    unsigned scale = 100;
    int arg = 2;
    struct result res;

    if (argc < 2) {
        return usage();
    }
    const char *name = argv[1];
    if (strcmp(name, "threads") == 0) {
        if (argc < 3 || parse_unsigned(argv[2], THREAD_MAX_COUNT, &threads) != 0) {
            return usage();
        }
        arg = 3;
    }
    for (; arg < argc; arg++) {
        unsigned ms;
        if (strcmp(argv[arg], "--scale") == 0 && arg + 1 < argc &&
            parse_unsigned(argv[arg + 1], 10000u, &scale) == 0) {
            arg++;
        } else if (strcmp(argv[arg], "--hand-every") == 0 && arg + 1 < argc &&
                   (strcmp(argv[arg + 1], "0") == 0 ||
                    (parse_unsigned(argv[arg + 1], 1u << 20, &hand_every) == 0 &&
                     (hand_every & (hand_every - 1u)) == 0))) {
            if (strcmp(argv[arg + 1], "0") == 0) {
                hand_every = 0;
            }
            arg++;
        } else if (strcmp(argv[arg], "--deadline-ms") == 0 && arg + 1 < argc &&
                   parse_unsigned(argv[arg + 1], 3600000u, &ms) == 0) {
            deadline_ms = ms;
            arg++;
        } else {
            return usage();
        }
    }
#if defined(BENCH_FLOOR)
    floor_init();
#endif
    int preload = preloaded();

    if (strcmp(name, "small") == 0) {
        res = run_small(scale);
    } else if (strcmp(name, "strdup") == 0) {
        res = run_strdup(scale);
    } else if (strcmp(name, "realloc") == 0) {
        res = run_realloc(scale);
    } else if (strcmp(name, "large") == 0) {
        res = run_large(scale);
    } else if (strcmp(name, "threads") == 0) {
        if (!BENCH_THREADED) {
            fprintf(stderr, "workloads: the %s layer is single-threaded\n", BENCH_LAYER);
            return EXIT_USAGE;
        }
        res = run_threads(threads, scale);
    } else {
        return usage();
    }
    char owner[128];
    malloc_owner(owner, sizeof owner);
    printf("workload=%s threads=%u layer=%s tracking=%d preload=%d partial=%d ops=%" PRIu64
           " ns=%" PRIu64 " checksum=%" PRIx64 " malloc=%s\n",
           name, threads, BENCH_LAYER, bench_tracking(), preload, res.partial, res.ops, res.ns,
           res.checksum, owner[0] != '\0' ? owner : "?");
    return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}
