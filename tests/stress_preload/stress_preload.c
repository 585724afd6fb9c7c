/*
 * stress_preload.c: many threads, millions of plain libc allocation calls,
 * for `make stress` to run under LD_PRELOAD=libarheap-preload.so.
 *
 *     stress_preload [--threads N] [--ops N] [--arheap]
 *     stress_preload --can-run    # exit 77 when built with a sanitizer
 *
 * An ordinary program: it is built without arheap's headers or library,
 * and every allocation is a call of the C library's names: malloc, calloc,
 * realloc (growing, shrinking, from NULL, to 0), reallocarray (and its
 * overflow), posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * strdup, free and malloc_usable_size, with the invalid arguments that
 * must fail (posix_memalign's bad alignments, calloc's and reallocarray's
 * overflows, sizes no heap can give). Sizes go from 0 to 64 KiB, most of
 * them small; alignments from 8 to 8192.
 *
 * THREADS workers (8 by default) share the operation count. Some blocks
 * are handed to another worker through its mailbox; the receiver checks
 * them and then owns them, so blocks are reallocated and freed by threads
 * that did not allocate them. Every block gets a pattern of bytes derived
 * from a per-block seed; the pattern is checked at every realloc, hand-over,
 * receipt and free, and each block's alignment (16, max_align_t's, or the
 * one asked for; a page for valloc and pvalloc) is checked when it is made
 * and again when it is received. calloc's zeros and strdup's copies are
 * checked too. At the end every block is freed from the main thread.
 *
 * --arheap says the heap must be arheap's (make stress passes it): then
 * malloc must come from libarheap-preload.so (dlsym and dladdr), new
 * malloc-family bytes and realloc's growth must hold the fill byte 0xbe
 * (AR_HEAP_OPTIONS' fill=1, the default), malloc_usable_size must be
 * exactly the size asked for, and realloc to a non-zero size must always
 * move the block. Without it the program is a plain libc stress test, to
 * compare with glibc's malloc.
 *
 * The heap under test reports any bad free or damaged block with
 * on_error=abort (the default) and checks every block at exit: a report
 * ends the program with SIGABRT. The last line on stdout is
 * "stress_preload: PASS ..." and the exit status 0 when every check held;
 * a failed check prints "stress_preload: FAILED: why" and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../stress_common.h"

/* A sanitizer's runtime replaces malloc itself and must be loaded first:
 * a sanitized build can not run under the preload library. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

enum {
    THREADS_DEFAULT = 8,
    THREADS_MAX = 64,
    OWNED_MAX = 384, /* blocks a worker holds at most */
    MAILBOX = 256,   /* blocks waiting for one worker */
    DRAIN_EVERY = 64 /* operations between looks at the own mailbox */
};

#define OPS_DEFAULT 1000000ULL
#define MAX_ALIGN_T_ALIGN _Alignof(max_align_t)
#define FILL_NEW 0xbe

typedef struct block_s {
    unsigned char *p;
    size_t size;
    size_t align; /* the alignment p must have */
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
    unsigned long long quota;
    uint64_t rng;
    size_t owned_count;
    block_t owned[OWNED_MAX];
    unsigned long long ops;
    unsigned long long allocations;
    unsigned long long aligned; /* posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
    unsigned long long reallocs;
    unsigned long long frees;
    unsigned long long cross_frees;
    unsigned long long handed;
    unsigned long long refused; /* invalid calls that failed as they must */
    char text[STRESS_MAX_SIZE / 64 + 1];
} worker_t;

static struct {
    size_t threads;
    int arheap; /* --arheap: fill, exact usable sizes, realloc moves */
    size_t page;
    worker_t *workers;
    mailbox_t boxes[THREADS_MAX];
} stress;

static void die(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(line, sizeof line, "stress_preload: FAILED: ");
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "%s\n", line);
    _exit(1);
}

static void pattern_check(const block_t *b, size_t to, const char *when)
{
    pattern_verify(b->p, b->size, b->seed, to, when);
}

static void align_check(const block_t *b, const char *what)
{
    if ((uintptr_t)b->p % b->align != 0)
        die("%s: %zu-byte block %p is not aligned to %zu", what, b->size, (void *)b->p,
            b->align);
}

static void usable_check(const block_t *b, const char *what)
{
    size_t usable = malloc_usable_size(b->p);
    if (stress.arheap ? usable != b->size : usable < b->size)
        die("%s: malloc_usable_size of a %zu-byte block is %zu", what, b->size, usable);
}

/* ---------------------------------------------------------------- owning */

static void own(worker_t *w, const block_t *b)
{
    w->owned[w->owned_count++] = *b;
}

static block_t disown(worker_t *w, size_t i)
{
    block_t b = w->owned[i];
    w->owned[i] = w->owned[--w->owned_count];
    return b;
}

static void free_block(worker_t *w, const block_t *b)
{
    pattern_check(b, b->size, "free");
    usable_check(b, "free");
    free(b->p);
    w->ops++;
    w->frees++;
}

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
        align_check(&got[i], "received");
        if ((next_random(&w->rng) & 1) || w->owned_count == OWNED_MAX) {
            free_block(w, &got[i]);
            w->cross_frees++;
        } else {
            own(w, &got[i]);
        }
    }
}

/* ---------------------------------------------------------------- operations */

/* A power of two from 8 to 8192, mostly small. */
static size_t random_align(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    unsigned shift = 3 + (unsigned)(r % 8);     /* 8 .. 1024 */
    if ((r >> 8) % 16 == 0)
        shift = 11 + (unsigned)((r >> 12) % 3); /* 2048 .. 8192 */
    return (size_t)1 << shift;
}

static void op_allocate(worker_t *w)
{
    uint64_t r = next_random(&w->rng);
    block_t b = { NULL, random_size(&w->rng), MAX_ALIGN_T_ALIGN, next_random(&w->rng) };
    int filled = 1; /* new bytes hold the fill byte under arheap */
    const char *what;
    switch (r % 20) {
    case 0: case 1: case 2: case 3: case 4: case 5:
        what = "malloc";
        b.p = malloc(b.size);
        break;
    case 6: case 7: case 8: {
        what = "calloc";
        size_t count = 1 + (size_t)((r >> 8) % 8);
        b.size /= count;
        b.p = calloc(count, b.size);
        b.size *= count;
        filled = 0;
        if (b.p != NULL)
            bytes_check(b.p, 0, b.size, 0, "calloc's zeros");
        break;
    }
    case 9: case 10: {
        what = "posix_memalign";
        b.align = random_align(&w->rng);
        void *p = &b; /* must be overwritten */
        int err = posix_memalign(&p, b.align, b.size);
        if (err != 0)
            die("posix_memalign(%zu, %zu) failed with %d", b.align, b.size, err);
        b.p = p;
        w->aligned++;
        break;
    }
    case 11: case 12:
        what = "aligned_alloc";
        b.align = random_align(&w->rng);
        b.p = aligned_alloc(b.align, b.size);
        w->aligned++;
        break;
    case 13:
        what = "memalign";
        b.align = random_align(&w->rng);
        if ((r >> 8) % 4 == 0) { /* not a power of two: rounded up to one */
            b.p = memalign(b.align - 1 - (b.align > 8 ? (r >> 16) % (b.align / 2 - 1) : 0),
                           b.size);
        } else {
            b.p = memalign(b.align, b.size);
        }
        w->aligned++;
        break;
    case 14:
        what = (r >> 8) % 2 ? "valloc" : "pvalloc";
        b.align = stress.page;
        b.size %= 2 * stress.page;
        if ((r >> 8) % 2) {
            b.p = valloc(b.size);
        } else {
            b.p = pvalloc(b.size);
            /* Rounded up to whole pages; 0 is one page for arheap, while
             * glibc's pvalloc(0) is a minimal block. */
            if (b.size != 0 || stress.arheap)
                b.size = b.size == 0 ? stress.page
                                     : (b.size + stress.page - 1) / stress.page * stress.page;
        }
        w->aligned++;
        break;
    case 15: case 16: {
        what = "strdup";
        size_t len = b.size < sizeof w->text - 1 ? b.size : sizeof w->text - 1;
        char saved = w->text[len];
        w->text[len] = '\0';
        b.p = (unsigned char *)strdup(w->text);
        if (b.p != NULL && memcmp(b.p, w->text, len + 1) != 0)
            die("strdup: the copy of a %zu-byte string differs", len);
        w->text[len] = saved;
        b.size = len + 1;
        filled = 0;
        break;
    }
    case 17: case 18:
        what = "realloc(NULL, n)";
        b.p = realloc(NULL, b.size);
        break;
    default: {
        what = "reallocarray(NULL, n, m)";
        size_t each = 1 + (size_t)((r >> 8) % 16);
        b.size /= each;
        b.p = reallocarray(NULL, b.size, each);
        b.size *= each;
        break;
    }
    }
    w->ops++;
    if (b.p == NULL)
        die("%s of %zu bytes returned NULL (errno %d)", what, b.size, errno);
    align_check(&b, what);
    usable_check(&b, what);
    if (filled && stress.arheap)
        bytes_check(b.p, 0, b.size, FILL_NEW, what);
    w->allocations++;
    pattern_write(b.p, 0, b.size, b.seed);
    own(w, &b);
}

static void op_realloc(worker_t *w)
{
    size_t i = (size_t)(next_random(&w->rng) % w->owned_count);
    block_t *b = &w->owned[i];
    uint64_t r = next_random(&w->rng);
    size_t size;
    if (r % 64 == 0)
        size = 0; /* realloc frees the block and returns NULL, as glibc's does */
    else if (r & 64)
        size = b->size + random_size(&w->rng) % (STRESS_MAX_SIZE - b->size + 1);
    else
        size = b->size == 0 ? 0 : (size_t)((r >> 8) % b->size);
    pattern_check(b, b->size, "before realloc");
    unsigned char *p;
    int array = (r >> 16) % 4 == 0 && size != 0;
    if (array) {
        /* reallocarray(p, count, each) with count * each == size. */
        size_t each = 1;
        while (each < 64 && size % (each * 2) == 0)
            each *= 2;
        p = reallocarray(b->p, size / each, each);
    } else {
        p = realloc(b->p, size);
    }
    w->ops++;
    if (size == 0) {
        if (p != NULL)
            die("realloc(p, 0) returned %p, not NULL", (void *)p);
        (void)disown(w, i);
        w->frees++;
        return;
    }
    if (p == NULL)
        die("%s to %zu bytes returned NULL", array ? "reallocarray" : "realloc", size);
    if (stress.arheap && p == b->p)
        die("realloc did not move a %zu-byte block", b->size);
    w->reallocs++;
    size_t kept = b->size < size ? b->size : size;
    block_t moved = { p, size, MAX_ALIGN_T_ALIGN, b->seed };
    pattern_check(&moved, kept, "after realloc");
    align_check(&moved, "realloc");
    usable_check(&moved, "realloc");
    if (stress.arheap)
        bytes_check(p, kept, size, FILL_NEW, "realloc's growth");
    pattern_write(p, kept, size, b->seed);
    *b = moved;
}

/* SIZE_MAX where the compiler can not see it: it would reject the calls
 * below at compile time, and the point is to make them. */
static volatile size_t size_max = SIZE_MAX;

/* Calls that must fail, and leave everything as it was. */
static void op_refused(worker_t *w)
{
    size_t huge = size_max;
    uint64_t r = next_random(&w->rng);
    void *p = &r;
    errno = 0;
    switch (r % 6) {
    case 0: { /* not a power of two, or below sizeof(void *) */
        size_t bad = (r >> 8) % 2 ? 24 + 8 * ((r >> 9) % 8) : sizeof(void *) / 2;
        if (bad == 32 || bad == 64)
            bad += 8;
        int err = posix_memalign(&p, bad, 16);
        if (err != EINVAL || p != &r)
            die("posix_memalign(%zu) returned %d, not EINVAL, or changed *memptr", bad, err);
        break;
    }
    case 1:
        p = calloc(huge / 2 + 1 + ((r >> 8) % 64), 2);
        if (p != NULL || errno != ENOMEM)
            die("an overflowing calloc returned %p (errno %d)", p, errno);
        break;
    case 2:
        p = malloc(huge - (r >> 8) % 4096);
        if (p != NULL || errno != ENOMEM)
            die("malloc(SIZE_MAX) returned %p (errno %d)", p, errno);
        break;
    case 3: /* an overflowing reallocarray leaves the block alone */
        if (w->owned_count == 0)
            return;
        {
            const block_t *b = &w->owned[(r >> 8) % w->owned_count];
            p = reallocarray(b->p, huge / 4 + 1, 8);
            if (p != NULL || errno != ENOMEM)
                die("an overflowing reallocarray returned %p (errno %d)", p, errno);
            pattern_check(b, b->size, "after a failed reallocarray");
        }
        break;
    case 4:
        free(NULL);
        if (malloc_usable_size(NULL) != 0)
            die("malloc_usable_size(NULL) is not 0");
        break;
    default:
        if (!stress.arheap) /* glibc before 2.38 rounds the alignment up */
            return;
        p = aligned_alloc(huge / huge * 48, 96);
        if (p != NULL || errno != EINVAL)
            die("aligned_alloc(48) returned %p (errno %d)", p, errno);
        break;
    }
    w->ops++;
    w->refused++;
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
        if (w->owned_count == 0 || (r < 42 && w->owned_count < OWNED_MAX)) {
            op_allocate(w);
        } else if (r < 62) {
            op_realloc(w);
        } else if (r < 64) {
            op_refused(w);
        } else if (r < 90 || stress.threads == 1) {
            block_t b = disown(w, (size_t)(next_random(&w->rng) % w->owned_count));
            free_block(w, &b);
        } else {
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

/* ---------------------------------------------------------------- main */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With --arheap: malloc as the dynamic linker resolves it must be the
 * preload library's. */
static void check_interposed(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
        die("can not tell where malloc comes from");
    if (strstr(info.dli_fname, "libarheap-preload") == NULL)
        die("malloc comes from %s, not libarheap-preload.so (is LD_PRELOAD set?)",
            info.dli_fname);
}

static void usage(void)
{
    fprintf(stderr, "usage: stress_preload [--threads N] [--ops N] [--arheap] | --can-run\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned long long total = OPS_DEFAULT;
    stress.threads = THREADS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--can-run") == 0) {
#ifdef SANITIZED
            printf("stress_preload: SKIP: a sanitizer build: its runtime, not arheap, must own "
                   "malloc\n");
            return 77;
#else
            return 0;
#endif
        } else if (strcmp(argv[i], "--arheap") == 0) {
            stress.arheap = 1;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            stress.threads = (size_t)strtoul(argv[++i], NULL, 10);
            if (stress.threads < 1 || stress.threads > THREADS_MAX)
                usage();
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
            total = strtoull(argv[++i], NULL, 10);
        } else {
            usage();
        }
    }
    long page = sysconf(_SC_PAGESIZE);
    stress.page = page > 0 ? (size_t)page : 4096;
    if (stress.arheap)
        check_interposed();
    stress.workers = calloc(stress.threads, sizeof *stress.workers);
    if (stress.workers == NULL)
        die("no memory for the workers");
    for (size_t t = 0; t < stress.threads; t++)
        pthread_mutex_init(&stress.boxes[t].lock, NULL);

    double start = now_seconds();
    for (size_t t = 0; t < stress.threads; t++) {
        worker_t *w = &stress.workers[t];
        w->index = t;
        w->quota = total / stress.threads + (t < total % stress.threads);
        w->rng = 0x9e10ad00ULL + t;
        int err = pthread_create(&w->thread, NULL, worker_main, w);
        if (err != 0)
            die("pthread_create failed (%d)", err);
    }
    for (size_t t = 0; t < stress.threads; t++)
        pthread_join(stress.workers[t].thread, NULL);
    double elapsed = now_seconds() - start;

    unsigned long long ops = 0, allocations = 0, aligned = 0, reallocs = 0, frees = 0;
    unsigned long long cross = 0, handed = 0, refused = 0, live = 0;
    for (size_t t = 0; t < stress.threads; t++) {
        const worker_t *w = &stress.workers[t];
        ops += w->ops;
        allocations += w->allocations;
        aligned += w->aligned;
        reallocs += w->reallocs;
        frees += w->frees;
        cross += w->cross_frees;
        handed += w->handed;
        refused += w->refused;
        live += w->owned_count + stress.boxes[t].count;
    }
    if (ops < total)
        die("the workers did %llu operations, not %llu", ops, total);
    if (allocations != frees + live)
        die("%llu allocations, %llu frees, %llu blocks left: the counts disagree", allocations,
            frees, live);

    /* Free everything from the main thread, checking every block. */
    for (size_t t = 0; t < stress.threads; t++) {
        worker_t *w = &stress.workers[t];
        while (w->owned_count > 0) {
            block_t b = disown(w, w->owned_count - 1);
            free_block(w, &b);
        }
        for (size_t i = 0; i < stress.boxes[t].count; i++) {
            align_check(&stress.boxes[t].blocks[i], "at the end");
            free_block(w, &stress.boxes[t].blocks[i]);
        }
        stress.boxes[t].count = 0;
        pthread_mutex_destroy(&stress.boxes[t].lock);
    }
    free(stress.workers);

    printf("stress_preload: PASS: %zu threads, %llu ops in %.2f s, %.0f ops/s (%llu "
           "allocations, %llu aligned, %llu reallocs, %llu cross-thread frees, %llu handed "
           "over, %llu refused as they must be, %llu live at the end)%s\n",
           stress.threads, ops, elapsed, (double)ops / elapsed, allocations, aligned, reallocs,
           cross, handed, refused, live, stress.arheap ? " under arheap" : "");
    return 0;
}
