/*
 * stress.c: many threads, millions of heap operations, in every mode of
 * the debug heap; the heap's statistics must agree exactly with what the
 * threads did.
 *
 *     tests/stress                      # make stress: 10 million ops a mode
 *                                       # (2 million with guard=1)
 *     tests/stress --ops 200000 --mode debug --threads 16
 *     tests/stress_quick                # make check: 8 threads x 20 000 ops a mode
 *
 * Each mode runs in a child process of its own, with its options set
 * before its first allocation:
 *
 *   tracking   canary=0:fill=0:quarantine_bytes=0   records only
 *   debug      the defaults: canaries, fill, a 16 MiB quarantine
 *   guard      guard=1: every block against a PROT_NONE guard page
 *   sampled    guard=1:guard_sample=16: one block in 16 guarded
 *
 * In a mode, THREADS workers share the mode's operation count. Each
 * operation is one call of AR__HEAP__MALLOC, CALLOC, REALLOC (growing or
 * shrinking, now and then to 0, which frees), STRDUP or FREE, on sizes
 * from 0 to 64 KiB, most of them small. Some blocks are handed to another
 * worker through its mailbox; the receiver checks them and then owns
 * them: it frees them at once or keeps them, to realloc or free later, so
 * blocks are freed and reallocated by threads that did not allocate them.
 *
 * Each worker keeps a model: the blocks it owns, their sizes, and a
 * pattern of bytes derived from a per-block seed that it writes into each
 * block and checks when the block is reallocated, handed over, received
 * or freed (MALLOC's fill and CALLOC's zeros are checked too). After the
 * workers end, with the blocks still live, the heap's counters must equal
 * the model's sums exactly: total_allocations (one per MALLOC, CALLOC,
 * STRDUP and REALLOC to a non-zero size), live_blocks, live_bytes, and
 * errors_reported must be 0. Then everything is freed, contents checked,
 * and live_blocks and live_bytes must be 0. The heap runs with
 * on_error=abort: any report ends the child with SIGABRT, failing the mode.
 *
 * Guard pages cost mprotect and madvise calls on every allocation and
 * free, several microseconds each; the guard mode runs fewer operations
 * by default (see mode_table) so that the whole run stays bounded. The
 * ops/s printed include the model's own work (writing and checking every
 * block's bytes), so they are lower than the heap's alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ar_heap.h"

#ifndef AR_STRESS_QUICK
#define AR_STRESS_QUICK 0
#endif

enum {
    THREADS_DEFAULT = 8,
    THREADS_MAX = 64,
    OWNED_MAX = 384, /* blocks a worker holds at most */
    MAILBOX = 256,   /* blocks waiting for one worker */
    DRAIN_EVERY = 64 /* operations between looks at the own mailbox */
};

#define MAX_SIZE ((size_t)64 * 1024)

typedef struct mode_s {
    const char *name;
    const char *options;
    unsigned long long ops;       /* total for the mode, `make stress` */
    unsigned long long quick_ops; /* per thread, `make check` */
    int guarded;                  /* 1: blocks must be found guarded */
} stress_mode_t;

/* Ten million operations in the tracking, debug and sampled modes; every
 * block of the guard mode costs mprotect and madvise calls, ~10 us an
 * operation here, and it runs two million. Measured on the 2-core
 * development machine, shared with other jobs: about 3, 10, 20 and 20 s,
 * a minute for `make stress`; the quick run takes about 3 s. */
static const stress_mode_t mode_table[] = {
    { "tracking", "canary=0:fill=0:quarantine_bytes=0:guard=0", 10000000ULL, 20000, 0 },
    { "debug", "guard=0", 10000000ULL, 20000, 0 },
    { "guard", "guard=1:guard_sample=1", 2000000ULL, 20000, 1 },
    { "sampled", "guard=1:guard_sample=16", 10000000ULL, 20000, 1 },
};
#define MODE_COUNT (sizeof mode_table / sizeof mode_table[0])

typedef struct block_s {
    unsigned char *p;
    size_t size;
    uint64_t seed;
} block_t;

typedef struct mailbox_s {
    pthread_mutex_t lock;
    size_t count;
    block_t blocks[MAILBOX];
} mailbox_t;

typedef struct worker_s {
    pthread_t thread;
    size_t index;
    unsigned long long quota; /* operations to do */
    uint64_t rng;
    size_t owned_count;
    block_t owned[OWNED_MAX];
    /* The model's counts. */
    unsigned long long ops;
    unsigned long long allocations;
    unsigned long long frees;
    unsigned long long cross_frees; /* frees of blocks another worker allocated */
    unsigned long long handed;      /* blocks posted to another worker */
    char text[MAX_SIZE / 64 + 1];   /* source of STRDUP's strings */
} worker_t;

static struct {
    size_t threads;
    int fill; /* the mode fills new bytes with 0xbe */
    worker_t *workers;
    mailbox_t boxes[THREADS_MAX];
} stress;

/* Print why and leave: the parent sees the exit status. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("stress: FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(1);
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A size from 0 to 64 KiB, most of them small: 70% under 64 bytes, 20%
 * up to 1 KiB, 8% up to 8 KiB, 2% up to 64 KiB. */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    unsigned bucket = (unsigned)(r % 100);
    r >>= 8;
    if (bucket < 70)
        return (size_t)(r % 64);
    if (bucket < 90)
        return 64 + (size_t)(r % (1024 - 64 + 1));
    if (bucket < 98)
        return 1024 + (size_t)(r % (8192 - 1024 + 1));
    return 8192 + (size_t)(r % (MAX_SIZE - 8192 + 1));
}

/* The pattern: 8-byte word i of a block is seed + i * K, so it depends on
 * the offset only and survives a realloc's copy. */
#define PATTERN_K 0x9e3779b97f4a7c15ULL

static void pattern_write(unsigned char *p, size_t from, size_t to, uint64_t seed)
{
    size_t word = from / 8;
    size_t at = word * 8;
    if (at < from) { /* a partial first word */
        uint64_t v = seed + word * PATTERN_K;
        size_t end = at + 8 < to ? at + 8 : to;
        memcpy(p + from, (const unsigned char *)&v + (from - at), end - from);
        at += 8;
        word++;
    }
    for (; at + 8 <= to; at += 8, word++) {
        uint64_t v = seed + word * PATTERN_K;
        memcpy(p + at, &v, 8);
    }
    if (at < to) {
        uint64_t v = seed + word * PATTERN_K;
        memcpy(p + at, &v, to - at);
    }
}

static void pattern_check(const block_t *b, size_t to, const char *when)
{
    size_t at = 0, word = 0;
    for (; at + 8 <= to; at += 8, word++) {
        uint64_t v = b->seed + word * PATTERN_K, got;
        memcpy(&got, b->p + at, 8);
        if (got != v)
            die("%s: %zu-byte block %p: word at offset %zu changed", when, b->size, (void *)b->p,
                at);
    }
    if (at < to) {
        uint64_t v = b->seed + word * PATTERN_K;
        if (memcmp(b->p + at, &v, to - at) != 0)
            die("%s: %zu-byte block %p: bytes from offset %zu changed", when, b->size,
                (void *)b->p, at);
    }
}

static void bytes_check(const unsigned char *p, size_t from, size_t to, unsigned char value,
                        const char *what)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != value)
            die("%s: byte %zu is 0x%02x, not 0x%02x", what, i, p[i], value);
}

/* ---------------------------------------------------------------- owning */

static void own(worker_t *w, unsigned char *p, size_t size, uint64_t seed)
{
    block_t *b = &w->owned[w->owned_count++];
    b->p = p;
    b->size = size;
    b->seed = seed;
}

/* Remove owned block i (order does not matter). */
static block_t disown(worker_t *w, size_t i)
{
    block_t b = w->owned[i];
    w->owned[i] = w->owned[--w->owned_count];
    return b;
}

static void free_block(worker_t *w, const block_t *b)
{
    pattern_check(b, b->size, "free");
    AR__HEAP__FREE(b->p);
    w->ops++;
    w->frees++;
}

/* ---------------------------------------------------------------- mailboxes */

static int post(size_t to, const block_t *b)
{
    mailbox_t *box = &stress.boxes[to];
    int posted = 0;
    pthread_mutex_lock(&box->lock);
    if (box->count < MAILBOX) {
        box->blocks[box->count++] = *b;
        posted = 1;
    }
    pthread_mutex_unlock(&box->lock);
    return posted;
}

/* Take the own mailbox's blocks: check each, then free it (a cross-thread
 * free) or keep it. */
static void drain(worker_t *w)
{
    block_t got[MAILBOX];
    mailbox_t *box = &stress.boxes[w->index];
    pthread_mutex_lock(&box->lock);
    size_t n = box->count;
    memcpy(got, box->blocks, n * sizeof got[0]);
    box->count = 0;
    pthread_mutex_unlock(&box->lock);
    for (size_t i = 0; i < n; i++) {
        pattern_check(&got[i], got[i].size, "received");
        if ((next_random(&w->rng) & 1) || w->owned_count == OWNED_MAX) {
            free_block(w, &got[i]);
            w->cross_frees++;
        } else {
            own(w, got[i].p, got[i].size, got[i].seed);
        }
    }
}

/* ---------------------------------------------------------------- operations */

static void op_allocate(worker_t *w, unsigned kind)
{
    size_t size = random_size(&w->rng);
    uint64_t seed = next_random(&w->rng);
    unsigned char *p;
    switch (kind) {
    case 0:
        p = AR__HEAP__MALLOC(size, "stress malloc");
        if (p != NULL && stress.fill)
            bytes_check(p, 0, size, 0xbe, "MALLOC fill");
        break;
    case 1: {
        size_t count = 1 + (size_t)(seed % 8);
        size = size / count;
        p = AR__HEAP__CALLOC(count, size, "stress calloc");
        size *= count;
        if (p != NULL)
            bytes_check(p, 0, size, 0, "CALLOC zeros");
        break;
    }
    default: {
        size_t len = size < sizeof w->text - 1 ? size : sizeof w->text - 1;
        char saved = w->text[len];
        w->text[len] = '\0';
        p = (unsigned char *)AR__HEAP__STRDUP(w->text, "stress strdup");
        if (p != NULL && memcmp(p, w->text, len + 1) != 0)
            die("STRDUP: the copy of a %zu-byte string differs", len);
        w->text[len] = saved;
        size = len + 1;
        break;
    }
    }
    w->ops++;
    if (p == NULL)
        die("allocation of %zu bytes returned NULL", size);
    w->allocations++;
    pattern_write(p, 0, size, seed);
    own(w, p, size, seed);
}

static void op_realloc(worker_t *w)
{
    size_t i = (size_t)(next_random(&w->rng) % w->owned_count);
    block_t *b = &w->owned[i];
    uint64_t r = next_random(&w->rng);
    size_t size;
    if (r % 64 == 0)
        size = 0; /* frees the block */
    else if (r & 64) /* grow */
        size = b->size + random_size(&w->rng) % (MAX_SIZE - b->size + 1);
    else /* shrink */
        size = b->size == 0 ? 0 : (size_t)((r >> 8) % b->size);
    pattern_check(b, b->size, "before realloc");
    unsigned char *p = AR__HEAP__REALLOC(b->p, size, "stress realloc");
    w->ops++;
    if (size == 0) {
        if (p != NULL)
            die("REALLOC(p, 0) returned %p, not NULL", (void *)p);
        (void)disown(w, i);
        w->frees++;
        return;
    }
    if (p == NULL)
        die("REALLOC to %zu bytes returned NULL", size);
    w->allocations++; /* the new block */
    w->frees++;       /* and the old one */
    size_t kept = b->size < size ? b->size : size;
    block_t moved = { p, size, b->seed };
    pattern_check(&moved, kept, "after realloc");
    if (stress.fill)
        bytes_check(p, kept, size, 0xbe, "REALLOC growth fill");
    pattern_write(p, kept, size, b->seed);
    *b = moved;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (size_t i = 0; i < sizeof w->text; i++)
        w->text[i] = (char)('a' + (w->index + i) % 26);
    while (w->ops < w->quota) {
        if (w->ops % DRAIN_EVERY == 0)
            drain(w);
        uint64_t r = next_random(&w->rng) % 100;
        if (w->owned_count == 0 || (r < 45 && w->owned_count < OWNED_MAX)) {
            op_allocate(w, (unsigned)(r % 3));
        } else if (r < 65) {
            op_realloc(w);
        } else if (r < 90 || stress.threads == 1) {
            block_t b = disown(w, (size_t)(next_random(&w->rng) % w->owned_count));
            free_block(w, &b);
        } else { /* hand a block to another worker */
            size_t i = (size_t)(next_random(&w->rng) % w->owned_count);
            size_t to = (w->index + 1 + (size_t)(next_random(&w->rng) % (stress.threads - 1))) %
                        stress.threads;
            pattern_check(&w->owned[i], w->owned[i].size, "handing over");
            if (post(to, &w->owned[i])) {
                (void)disown(w, i);
                w->handed++;
            }
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- one mode */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void expect(const char *what, size_t heap, unsigned long long model)
{
    if ((unsigned long long)heap != model)
        die("%s: the heap says %zu, the model %llu", what, heap, model);
}

/* The body of a mode's child. Exits 0 when every check held. */
static void run_mode(const stress_mode_t *mode, unsigned long long total_ops)
{
    char options[256];
    snprintf(options, sizeof options, "on_error=abort:leak_report=0:report_path=:%s",
             mode->options);
    if (ar_heap__set_options(options) != 0)
        die("options \"%s\" were refused", options);
    stress.fill = strstr(mode->options, "fill=0") == NULL;
    stress.workers = calloc(stress.threads, sizeof *stress.workers);
    if (stress.workers == NULL)
        die("no memory for the workers");
    ar_heap_stats_t before;
    ar_heap__get_stats(&before);

    /* Every mailbox exists before any worker starts: worker i hands
     * blocks to mailbox i + 1 from its first iteration. */
    for (size_t t = 0; t < stress.threads; t++)
        pthread_mutex_init(&stress.boxes[t].lock, NULL);
    double start = now_seconds();
    for (size_t t = 0; t < stress.threads; t++) {
        worker_t *w = &stress.workers[t];
        w->index = t;
        w->quota = total_ops / stress.threads + (t < total_ops % stress.threads);
        w->rng = 0x5eed0000ULL + t;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            die("pthread_create failed");
    }
    for (size_t t = 0; t < stress.threads; t++)
        pthread_join(stress.workers[t].thread, NULL);
    double elapsed = now_seconds() - start;

    /* The model: blocks owned and blocks waiting in mailboxes. */
    unsigned long long ops = 0, allocations = 0, frees = 0, cross = 0, handed = 0;
    unsigned long long live = 0, bytes = 0;
    for (size_t t = 0; t < stress.threads; t++) {
        const worker_t *w = &stress.workers[t];
        ops += w->ops;
        allocations += w->allocations;
        frees += w->frees;
        cross += w->cross_frees;
        handed += w->handed;
        for (size_t i = 0; i < w->owned_count; i++) {
            live++;
            bytes += w->owned[i].size;
        }
        for (size_t i = 0; i < stress.boxes[t].count; i++) {
            live++;
            bytes += stress.boxes[t].blocks[i].size;
        }
    }
    ar_heap_stats_t after;
    ar_heap__get_stats(&after);
    expect("total_allocations", after.total_allocations - before.total_allocations, allocations);
    expect("live_blocks", after.live_blocks, live);
    expect("live_bytes", after.live_bytes, bytes);
    expect("errors_reported", after.errors_reported, 0);
    expect("allocations - frees", after.live_blocks, allocations - frees);
    if (ops < total_ops) /* a last drain may add a few */
        die("the workers did %llu operations, not %llu", ops, total_ops);
    if (mode->guarded && after.guarded_blocks == 0)
        die("no block was guarded");
    size_t guarded = after.guarded_blocks;

    /* Free everything from this thread, checking every block. */
    for (size_t t = 0; t < stress.threads; t++) {
        worker_t *w = &stress.workers[t];
        while (w->owned_count > 0) {
            block_t b = disown(w, w->owned_count - 1);
            free_block(w, &b);
        }
        for (size_t i = 0; i < stress.boxes[t].count; i++)
            free_block(w, &stress.boxes[t].blocks[i]);
        stress.boxes[t].count = 0;
    }
    if (ar_heap__check_all() != 0)
        die("ar_heap__check_all found damage");
    ar_heap__get_stats(&after);
    expect("live_blocks after freeing everything", after.live_blocks, 0);
    expect("live_bytes after freeing everything", after.live_bytes, 0);
    expect("errors_reported at the end", after.errors_reported, 0);

    printf("%-8s %2zu threads %10llu ops %8.2f s %11.0f ops/s  (%llu allocations, %llu "
           "cross-thread frees, %llu handed over, %llu live at the end, %zu guarded)\n",
           mode->name, stress.threads, ops, elapsed, (double)ops / elapsed, allocations, cross,
           handed, live, guarded);
    fflush(stdout);
    free(stress.workers);
}

/* Run a mode in a child; 1 when it passed. */
static int run_child(const stress_mode_t *mode, unsigned long long total_ops)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("stress: fork");
        return 0;
    }
    if (pid == 0) {
        run_mode(mode, total_ops);
        exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("stress: waitpid");
            return 0;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        printf("%-8s FAILED: killed by signal %d\n", mode->name, WTERMSIG(status));
    else
        printf("%-8s FAILED: exit status %d\n", mode->name, WEXITSTATUS(status));
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: stress [--threads N] [--ops N] [--quick] [--mode NAME]...\n"
                    "  modes: tracking debug guard sampled (default: all)\n"
                    "  --ops N: operations per mode, shared by the threads\n"
                    "  --quick: 20000 operations per thread and mode\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int quick = AR_STRESS_QUICK;
    unsigned long long ops = 0;
    int selected[MODE_COUNT] = { 0 };
    int any_selected = 0;
    stress.threads = THREADS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            stress.threads = (size_t)strtoul(argv[++i], NULL, 10);
            if (stress.threads < 1 || stress.threads > THREADS_MAX)
                usage();
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            ops = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            size_t m = 0;
            while (m < MODE_COUNT && strcmp(mode_table[m].name, name) != 0)
                m++;
            if (m == MODE_COUNT)
                usage();
            selected[m] = 1;
            any_selected = 1;
        } else {
            usage();
        }
    }
    if (!ar_heap__has_tracking()) {
        printf("stress: SKIP: the library was built without the debug heap\n");
        return 77;
    }
    int failed = 0;
    double start = now_seconds();
    for (size_t m = 0; m < MODE_COUNT; m++) {
        if (any_selected && !selected[m])
            continue;
        unsigned long long n = ops != 0 ? ops
                               : quick  ? mode_table[m].quick_ops * stress.threads
                                        : mode_table[m].ops;
        if (!run_child(&mode_table[m], n))
            failed++;
    }
    printf("stress: %s in %.1f s\n", failed ? "FAILED" : "all modes passed",
           now_seconds() - start);
    return failed ? 1 : 0;
}
