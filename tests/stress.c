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
 * Per-test leak checks and out-of-memory injection. A mode runs in three
 * phases of equal length; the workers meet at a barrier between them and
 * after the last, and while they wait one of them checks the heap against
 * the model: live_blocks, live_bytes, failures_injected, and for the mark
 * taken (ar_heap__checkpoint) at the start of each phase so far,
 * ar_heap__leaks_since and ar_heap__leaks_since_text must give exactly the
 * model's count of live blocks allocated in that phase or later (REALLOC's
 * new block counts as allocated when it is made), leaving out those
 * allowed to leak; the text must have one line a block. The middle phase
 * runs with fail_random=20000 (2% of the allocations fail, any thread):
 * there a NULL from MALLOC, CALLOC, STRDUP or REALLOC must come with errno
 * ENOMEM, a failed REALLOC must leave its block as it was, and the heap's
 * failures_injected must equal the NULLs the workers saw; outside it a
 * NULL fails the mode. Meanwhile, about one operation in 1024 takes a
 * checkpoint (marks never go back) and calls leaks_since on the phase's
 * mark while the other workers run, which must count at least the
 * worker's own blocks of the phase; five in 1024 call ar_heap__allow_leak
 * on an owned block (it must say yes; an interior pointer, no), which
 * takes the block out of every later count until it is reallocated or
 * freed. At the end, once everything is freed, leaks_since the first mark
 * must be 0.
 *
 * Guard pages cost system calls on every allocation and free, several
 * microseconds each: the guard mode is the slow one (see mode_table). The
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
#include "stress_common.h"

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


typedef struct mode_s {
    const char *name;
    const char *options;
    unsigned long long ops;       /* total for the mode, `make stress` */
    unsigned long long quick_ops; /* per thread, `make check` */
    int guarded;                  /* GUARD_*: which live blocks must be guarded */
} stress_mode_t;

/* With guard_sample=1 every live block is guarded (the workers hold a few
 * thousand, far below the mapping budget); with sampling, some. */
enum { GUARD_NONE, GUARD_ALL, GUARD_SOME };

/* Ten million operations in every mode. Every block of the guard mode
 * costs system calls (its pages are opened at allocation and closed at
 * free, under the kernel's address-space lock that the 8 threads share),
 * so that mode takes the longest; doc/testing.md has the times measured.
 * The quick run takes a few seconds. */
static const stress_mode_t mode_table[] = {
    { "tracking", "canary=0:fill=0:quarantine_bytes=0:guard=0", 10000000ULL, 20000, GUARD_NONE },
    { "debug", "guard=0", 10000000ULL, 20000, GUARD_NONE },
    { "guard", "guard=1:guard_sample=1", 10000000ULL, 20000, GUARD_ALL },
    { "sampled", "guard=1:guard_sample=16", 10000000ULL, 20000, GUARD_SOME },
};
#define MODE_COUNT (sizeof mode_table / sizeof mode_table[0])

typedef struct block_s {
    unsigned char *p;
    size_t size;
    uint64_t seed;
    unsigned phase; /* the phase that allocated it (REALLOC: its new block) */
    int allowed;    /* ar_heap__allow_leak said yes: leaks_since leaves it out */
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
    unsigned long long allocated_bytes; /* bytes asked for by those allocations */
    unsigned long long frees;
    unsigned long long cross_frees; /* frees of blocks another worker allocated */
    unsigned long long handed;      /* blocks posted to another worker */
    unsigned long long failed;      /* allocations that returned NULL: injected */
    unsigned long long allowed;     /* ar_heap__allow_leak calls that said yes */
    unsigned long long leak_checks; /* leaks_since calls while the others ran */
    unsigned phase;                 /* the phase now running */
    ar_heap_mark_t last_mark;       /* the last checkpoint this worker took */
    char text[STRESS_MAX_SIZE / 64 + 1];   /* source of STRDUP's strings */
} worker_t;

/* A mode runs in PHASES phases of equal length; the workers meet between
 * them (see between_phases). Phase INJECT_PHASE runs with fail_random on. */
enum { PHASES = 3, INJECT_PHASE = 1 };
#define INJECT_PER_MILLION 20000 /* 2% of the allocations fail */

static struct {
    size_t threads;
    int fill; /* the mode fills new bytes with 0xbe */
    worker_t *workers;
    mailbox_t boxes[THREADS_MAX];
    pthread_barrier_t barrier;
    int injecting;                  /* fail_random is on: NULL is no error */
    ar_heap_mark_t marks[PHASES];   /* ar_heap__checkpoint at each phase's start */
    size_t injected_before;         /* failures_injected when the mode began */
    unsigned long long exact_leak_checks; /* leaks_since checked against the model */
    char *leak_text;                /* leaks_since_text's buffer */
    size_t leak_text_size;
} stress;

/* Print why and leave: the parent sees the exit status. */
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

static void pattern_check(const block_t *b, size_t to, const char *when)
{
    pattern_verify(b->p, b->size, b->seed, to, when);
}

/* ---------------------------------------------------------------- owning */

static void own(worker_t *w, unsigned char *p, size_t size, uint64_t seed)
{
    block_t *b = &w->owned[w->owned_count++];
    b->p = p;
    b->size = size;
    b->seed = seed;
    b->phase = w->phase;
    b->allowed = 0;
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
            w->owned[w->owned_count++] = got[i];
        }
    }
}

/* ---------------------------------------------------------------- operations */

static void op_allocate(worker_t *w, unsigned kind)
{
    size_t size = random_size(&w->rng);
    uint64_t seed = next_random(&w->rng);
    unsigned char *p;
    errno = 0;
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
    if (p == NULL) {
        if (!stress.injecting)
            die("allocation of %zu bytes returned NULL", size);
        if (errno != ENOMEM)
            die("an injected failure left errno %d, not ENOMEM", errno);
        w->failed++;
        return;
    }
    w->allocations++;
    w->allocated_bytes += size;
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
        size = b->size + random_size(&w->rng) % (STRESS_MAX_SIZE - b->size + 1);
    else /* shrink */
        size = b->size == 0 ? 0 : (size_t)((r >> 8) % b->size);
    pattern_check(b, b->size, "before realloc");
    errno = 0;
    unsigned char *p = AR__HEAP__REALLOC(b->p, size, "stress realloc");
    w->ops++;
    if (size == 0) {
        if (p != NULL)
            die("REALLOC(p, 0) returned %p, not NULL", (void *)p);
        (void)disown(w, i);
        w->frees++;
        return;
    }
    if (p == NULL) {
        if (!stress.injecting)
            die("REALLOC to %zu bytes returned NULL", size);
        if (errno != ENOMEM)
            die("an injected failure left errno %d, not ENOMEM", errno);
        /* A failed REALLOC leaves the block as it was, allowed or not. */
        pattern_check(b, b->size, "after a failed realloc");
        w->failed++;
        return;
    }
    w->allocations++; /* the new block */
    w->allocated_bytes += size;
    w->frees++;       /* and the old one */
    size_t kept = b->size < size ? b->size : size;
    block_t moved = { p, size, b->seed, w->phase, 0 };
    pattern_check(&moved, kept, "after realloc");
    if (stress.fill)
        bytes_check(p, kept, size, 0xbe, "REALLOC growth fill");
    pattern_write(p, kept, size, b->seed);
    *b = moved;
}

/* ar_heap__allow_leak on an owned block: it must say yes, and the block
 * leaves leaks_since's count. An interior pointer must get a no. */
static void op_allow_leak(worker_t *w)
{
    block_t *b = &w->owned[(size_t)(next_random(&w->rng) % w->owned_count)];
    if (b->size > 1 && ar_heap__allow_leak(b->p + 1) != 0)
        die("ar_heap__allow_leak accepted an interior pointer of a %zu-byte block", b->size);
    if (ar_heap__allow_leak(b->p) != 1)
        die("ar_heap__allow_leak refused a live %zu-byte block", b->size);
    if (!b->allowed)
        w->allowed++;
    b->allowed = 1;
    w->ops++;
}

/* A checkpoint and a leaks_since while the other workers allocate and
 * free: the walk holds every shard lock. The marks only grow, and the
 * count can not be below this worker's own blocks of the phase (no other
 * thread can free them), which are live and not allowed. */
static void op_leak_check(worker_t *w)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    if (mark < w->last_mark || mark < stress.marks[w->phase])
        die("ar_heap__checkpoint went back: %llu after %llu", mark, w->last_mark);
    w->last_mark = mark;
    size_t mine = 0;
    for (size_t i = 0; i < w->owned_count; i++)
        mine += w->owned[i].phase == w->phase && !w->owned[i].allowed;
    size_t count = ar_heap__leaks_since(stress.marks[w->phase], 0);
    if (count < mine)
        die("leaks_since the phase's mark is %zu, below this worker's own %zu blocks", count,
            mine);
    w->leak_checks++;
    w->ops++;
}

static void between_phases(unsigned finished);

/* All workers meet; one of them checks and sets up the next phase while
 * the others wait. */
static void meet(unsigned finished)
{
    int r = pthread_barrier_wait(&stress.barrier);
    if (r == PTHREAD_BARRIER_SERIAL_THREAD)
        between_phases(finished);
    else if (r != 0)
        die("pthread_barrier_wait failed (%d)", r);
    r = pthread_barrier_wait(&stress.barrier);
    if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
        die("pthread_barrier_wait failed (%d)", r);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (size_t i = 0; i < sizeof w->text; i++)
        w->text[i] = (char)('a' + (w->index + i) % 26);
    for (unsigned phase = 0; phase < PHASES; phase++) {
        unsigned long long end = w->quota * (phase + 1) / PHASES;
        w->phase = phase;
        while (w->ops < end) {
            if (w->ops % DRAIN_EVERY == 0)
                drain(w);
            uint64_t x = next_random(&w->rng);
            if (w->owned_count > 0 && x % 1024 == 0) {
                op_leak_check(w);
                continue;
            }
            if (w->owned_count > 0 && x % 1024 < 5) {
                op_allow_leak(w);
                continue;
            }
            uint64_t r = (x >> 16) % 100;
            if (w->owned_count == 0 || (r < 45 && w->owned_count < OWNED_MAX)) {
                op_allocate(w, (unsigned)(r % 3));
            } else if (r < 65) {
                op_realloc(w);
            } else if (r < 90 || stress.threads == 1) {
                block_t b = disown(w, (size_t)(next_random(&w->rng) % w->owned_count));
                free_block(w, &b);
            } else { /* hand a block to another worker */
                size_t i = (size_t)(next_random(&w->rng) % w->owned_count);
                size_t to =
                    (w->index + 1 + (size_t)(next_random(&w->rng) % (stress.threads - 1))) %
                    stress.threads;
                pattern_check(&w->owned[i], w->owned[i].size, "handing over");
                if (post(to, &w->owned[i])) {
                    (void)disown(w, i);
                    w->handed++;
                }
            }
        }
        meet(phase);
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

/* The model's sums over the workers, their blocks and the mailboxes. */
typedef struct model_s {
    unsigned long long ops, allocations, allocated_bytes, frees, cross, handed, failed, allowed;
    unsigned long long leak_checks, live, bytes;
} model_t;

static model_t model_sums(void)
{
    model_t m;
    memset(&m, 0, sizeof m);
    for (size_t t = 0; t < stress.threads; t++) {
        const worker_t *w = &stress.workers[t];
        m.ops += w->ops;
        m.allocations += w->allocations;
        m.allocated_bytes += w->allocated_bytes;
        m.frees += w->frees;
        m.cross += w->cross_frees;
        m.handed += w->handed;
        m.failed += w->failed;
        m.allowed += w->allowed;
        m.leak_checks += w->leak_checks;
        for (size_t i = 0; i < w->owned_count; i++) {
            m.live++;
            m.bytes += w->owned[i].size;
        }
        for (size_t i = 0; i < stress.boxes[t].count; i++) {
            m.live++;
            m.bytes += stress.boxes[t].blocks[i].size;
        }
    }
    return m;
}

/* What ar_heap__leaks_since(marks[phase]) must say: the live blocks
 * (owned or waiting in a mailbox) allocated in that phase or a later one,
 * leaving out the allowed ones. */
static size_t model_leaks_since(unsigned phase)
{
    size_t n = 0;
    for (size_t t = 0; t < stress.threads; t++) {
        const worker_t *w = &stress.workers[t];
        for (size_t i = 0; i < w->owned_count; i++)
            n += w->owned[i].phase >= phase && !w->owned[i].allowed;
        for (size_t i = 0; i < stress.boxes[t].count; i++)
            n += stress.boxes[t].blocks[i].phase >= phase && !stress.boxes[t].blocks[i].allowed;
    }
    return n;
}

/* With every worker waiting: leaks_since and leaks_since_text of each
 * phase's mark so far must equal the model exactly; the text has one
 * line a block when it fits. */
static void check_leaks_exact(unsigned upto)
{
    for (unsigned j = 0; j <= upto; j++) {
        size_t want = model_leaks_since(j);
        expect("leaks_since a phase's mark", ar_heap__leaks_since(stress.marks[j], 0), want);
        expect("leaks_since_text a phase's mark",
               ar_heap__leaks_since_text(stress.marks[j], stress.leak_text,
                                         stress.leak_text_size),
               want);
        size_t len = strnlen(stress.leak_text, stress.leak_text_size);
        if (len == stress.leak_text_size)
            die("leaks_since_text left its buffer without a NUL");
        if (len < stress.leak_text_size - 1) { /* it all fitted */
            size_t lines = 0;
            for (size_t i = 0; i < len; i++)
                lines += stress.leak_text[i] == '\n';
            expect("leaks_since_text's lines", lines, want);
        }
        stress.exact_leak_checks += 2;
    }
}

static const char *mode_name;
static unsigned long long mode_ops;

/* Between two phases (and after the last), one worker runs this while
 * the others wait at the barrier: the heap must agree with the model
 * exactly, leaks_since included; then the next phase's options are set
 * (fail_random on for INJECT_PHASE, off after it) and its mark taken. */
static void between_phases(unsigned finished)
{
    model_t m = model_sums();
    ar_heap_stats_t now;
    ar_heap__get_stats(&now);
    expect("live_blocks between phases", now.live_blocks, m.live);
    expect("live_bytes between phases", now.live_bytes, m.bytes);
    expect("failures_injected between phases", now.failures_injected - stress.injected_before,
           m.failed);
    check_leaks_exact(finished);
    if (finished == INJECT_PHASE) {
        if (ar_heap__set_options("fail_random=0") != 0)
            die("fail_random=0 was refused");
        stress.injecting = 0;
        /* 2% of about a fifth of the phase's operations. */
        if (m.failed == 0 && mode_ops >= 30000)
            die("%s: fail_random injected no failure", mode_name);
    }
    if (finished + 1 < PHASES) {
        if (finished + 1 == INJECT_PHASE) {
            char options[64];
            snprintf(options, sizeof options, "fail_random=%d:fail_seed=%u", INJECT_PER_MILLION,
                     (unsigned)(mode_ops % 1000 + 1));
            if (ar_heap__set_options(options) != 0)
                die("\"%s\" was refused", options);
            stress.injecting = 1;
        }
        stress.marks[finished + 1] = ar_heap__checkpoint();
    }
}

/* The body of a mode's child. Exits 0 when every check held. */
static void run_mode(const stress_mode_t *mode, unsigned long long total_ops)
{
    char options[256];
    snprintf(options, sizeof options,
             "on_error=abort:leak_report=0:report_path=:fail_random=0:fail_nth=0:%s",
             mode->options);
    if (ar_heap__set_options(options) != 0)
        die("options \"%s\" were refused", options);
    mode_name = mode->name;
    mode_ops = total_ops;
    stress.fill = strstr(mode->options, "fill=0") == NULL;
    stress.workers = calloc(stress.threads, sizeof *stress.workers);
    stress.leak_text_size = (size_t)1 << 20;
    stress.leak_text = malloc(stress.leak_text_size);
    if (stress.workers == NULL || stress.leak_text == NULL)
        die("no memory for the workers");
    if (pthread_barrier_init(&stress.barrier, NULL, (unsigned)stress.threads) != 0)
        die("pthread_barrier_init failed");
    ar_heap_stats_t before;
    ar_heap__get_stats(&before);
    stress.injected_before = before.failures_injected;
    stress.marks[0] = ar_heap__checkpoint();

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
    model_t m = model_sums();
    ar_heap_stats_t after;
    ar_heap__get_stats(&after);
    expect("total_allocations", after.total_allocations - before.total_allocations,
           m.allocations);
    expect("total_bytes", after.total_bytes - before.total_bytes, m.allocated_bytes);
    expect("live_blocks", after.live_blocks, m.live);
    expect("live_bytes", after.live_bytes, m.bytes);
    expect("errors_reported", after.errors_reported, 0);
    expect("allocations - frees", after.live_blocks, m.allocations - m.frees);
    expect("failures_injected", after.failures_injected - before.failures_injected, m.failed);
    check_leaks_exact(PHASES - 1);
    if (m.ops < total_ops) /* a last drain may add a few */
        die("the workers did %llu operations, not %llu", m.ops, total_ops);
    if (mode->guarded == GUARD_ALL)
        expect("guarded_blocks (every live block)", after.guarded_blocks, m.live);
    else if (mode->guarded == GUARD_SOME && after.guarded_blocks == 0)
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
    expect("leaks_since the first mark at the end", ar_heap__leaks_since(stress.marks[0], 0), 0);

    printf("%-8s %2zu threads %10llu ops %8.2f s %11.0f ops/s  (%llu allocations, %llu "
           "cross-thread frees, %llu handed over, %llu live at the end, %zu guarded; "
           "%llu failures injected, %llu leak checks, %llu exact, %llu blocks allowed to "
           "leak)\n",
           mode->name, stress.threads, m.ops, elapsed, (double)m.ops / elapsed, m.allocations,
           m.cross, m.handed, m.live, guarded, m.failed, m.leak_checks, stress.exact_leak_checks,
           m.allowed);
    fflush(stdout);
    pthread_barrier_destroy(&stress.barrier);
    free(stress.leak_text);
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
