/*
 * nosync.c: an allocator with no synchronisation at all, preloaded under
 * the threads workload by `make bench-handover` (bench/handover.sh) to
 * show what a hand-over costs when the allocator adds nothing to it.
 *
 * Each thread bump-allocates from its own 64 MiB mappings and keeps its
 * own LIFO list of free blocks per 16-byte size class. A block freed by
 * another thread joins that thread's list, not its allocator's: no lock,
 * no atomic, no owner, no line written for the hand-over but the block's
 * own. Each block starts on a cache line and fills whole lines (a 16-byte
 * header, then the user's bytes), so blocks that change thread share no
 * line with their neighbours.
 *
 * Not an allocator to use: it never gives memory back, and a thread that
 * frees more than it allocates keeps what it freed. Blocks it did not
 * make (the dynamic linker's first ones) are recognised by the header's
 * mark and never reused. Build with -fno-builtin: the compiler would
 * otherwise turn calloc's malloc and memset into a call to calloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOSYNC_CLASSES 4096u           /* 16-byte classes up to 64 KiB */
#define NOSYNC_CHUNK ((size_t)64 << 20) /* a thread's mapping */
#define NOSYNC_MARK UINT64_C(0xa11c)   /* low 16 bits of a block's header */
#define NOSYNC_TLS __thread __attribute__((tls_model("initial-exec")))

static NOSYNC_TLS void *free_list[NOSYNC_CLASSES];
static NOSYNC_TLS char *bump;
static NOSYNC_TLS char *bump_end;

static size_t nosync_class(size_t n)
{
    return (n == 0 ? 1 : n + 15) / 16;
}

/* The header of a block of ours: its class and the mark; 0 for others. */
static uint64_t *nosync_header(void *p)
{
    return (uint64_t *)(void *)((char *)p - 16);
}

void *malloc(size_t n)
{
    if (n > (size_t)1 << 40) {
        errno = ENOMEM;
        return NULL;
    }
    size_t c = nosync_class(n);
    if (c < NOSYNC_CLASSES && free_list[c] != NULL) {
        void **p = free_list[c];
        free_list[c] = *p;
        return p;
    }
    size_t total = (c * 16 + 16 + 63) / 64 * 64;
    if (bump == NULL || total > (size_t)(bump_end - bump)) {
        size_t size = total > NOSYNC_CHUNK ? total : NOSYNC_CHUNK;
        char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            errno = ENOMEM;
            return NULL;
        }
        bump = m;
        bump_end = m + size;
    }
    char *b = bump;
    bump += total;
    *(uint64_t *)(void *)b = ((uint64_t)c << 16) | NOSYNC_MARK;
    return b + 16;
}

void free(void *p)
{
    if (p == NULL || (*nosync_header(p) & 0xffffu) != NOSYNC_MARK)
        return;
    size_t c = (size_t)(*nosync_header(p) >> 16);
    if (c < NOSYNC_CLASSES) {
        *(void **)p = free_list[c];
        free_list[c] = p;
    }
}

void *calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = malloc(count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    uint64_t h = *nosync_header(p);
    size_t have = (h & 0xffffu) == NOSYNC_MARK ? (size_t)(h >> 16) * 16 : 0;
    if (have != 0 && n <= have)
        return p;
    void *q = malloc(n);
    if (q != NULL) {
        /* A block not ours: its size is unknown; these are the dynamic
         * linker's few, small ones, and n bytes of it are readable. */
        memcpy(q, p, have != 0 ? have : n);
        free(p);
    }
    return q;
}

/* Aligned blocks (the workload's table of threads): a larger block with
 * an unmarked header in front of the aligned address, never reused. */
void *aligned_alloc(size_t align, size_t n)
{
    if (align <= 16)
        return malloc(n);
    char *p = malloc(n + align + 16);
    if (p == NULL)
        return NULL;
    char *q = (char *)(((uintptr_t)p + 16 + align - 1) & ~(uintptr_t)(align - 1));
    *nosync_header(q) = 0;
    return q;
}

void *memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = aligned_alloc(align, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}
