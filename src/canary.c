/*
 * canary.c: the bytes around each block, and the check that they are
 * still what was written.
 *
 * Why: a loop that writes one byte too many, or one before the start,
 * damages memory silently. A canary zone on each side of the user's bytes
 * turns that into a report at the next free, realloc or check, naming the
 * first damaged byte.
 *
 * The bytes are not a constant: each block's are derived from a
 * per-process secret mixed with the block's address, so a program cannot
 * write the expected value by accident (say, a NUL terminator or a copied
 * neighbour's canary), and no byte is ever zero, the value an off-by-one
 * string copy writes most. The zones are
 * laid out in block.c:
 *
 *   base          user                 user + size            base + total
 *   | head canary | user bytes         | tail canary ........ |
 *     16 bytes                           16 bytes + alignment slack
 *
 * (In a guard slot the zones are longer or shorter, see guard.c; the code
 * here reads their bounds from the record. The canaries of a guarded
 * block in quarantine are not read: its pages are PROT_NONE.)
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

static struct {
    uint64_t secret;
} canary;

void ar_heap_canary__init(void)
{
    uint64_t secret = 0;
#if defined(__linux__)
    if (getrandom(&secret, sizeof secret, GRND_NONBLOCK) != (ssize_t)sizeof secret)
        secret = 0;
#endif
    if (secret == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        secret = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16) ^
                 (uint64_t)(uintptr_t)&canary;
    }
    canary.secret = secret | 1;
}

/*
 * The block's key: eight canary bytes derived from the secret and the
 * block's base address. The canary byte at address a is byte (a mod 8) of
 * the key, so every aligned word of a zone holds the key itself and the
 * zones are written and compared a word at a time. No key byte is zero or
 * a fill value, so a zone can not be mistaken for fill.
 */
static uint64_t ar_heap_canary__key(const void *base)
{
    uint64_t z = canary.secret ^ (uint64_t)(uintptr_t)base;
    z ^= z >> 33;
    z *= 0xff51afd7ed558ccdULL;
    z ^= z >> 33;
    z *= 0xc4ceb9fe1a85ec53ULL;
    z ^= z >> 33;
    uint64_t key = 0;
    for (unsigned i = 0; i < 8; i++) {
        unsigned b = (unsigned)(z >> (i * 8)) & 0xff;
        if (b == 0 || b == AR_HEAP_FILL_NEW || b == AR_HEAP_FILL_FREED)
            b = 0xa5 ^ i;
        key |= (uint64_t)b << (i * 8);
    }
    return key;
}

static unsigned char ar_heap_canary__byte(uint64_t key, const unsigned char *p)
{
    return (unsigned char)(key >> (((uintptr_t)p & 7) * 8));
}

static void ar_heap_canary__fill(unsigned char *p, unsigned char *to, uint64_t key)
{
    while (p < to && ((uintptr_t)p & 7) != 0) {
        *p = ar_heap_canary__byte(key, p);
        p++;
    }
    while (p + 8 <= to) {
        memcpy(p, &key, 8);
        p += 8;
    }
    while (p < to) {
        *p = ar_heap_canary__byte(key, p);
        p++;
    }
}

void ar_heap_canary__write(const ar_heap_record_t *record)
{
    unsigned char *base = record->base;
    unsigned char *user = (unsigned char *)record->user;
    if (!(record->flags & AR_HEAP_BLOCK_CANARY))
        return;
    uint64_t key = ar_heap_canary__key(base);
    size_t head_len = (size_t)(user - base);
    size_t tail_len = record->total - record->size - head_len;
    /* The zones are no-access to Memcheck once the block is announced;
     * only they are opened, so the user bytes keep their state. */
    ar_heap_valgrind__open(base, head_len);
    ar_heap_valgrind__open(user + record->size, tail_len);
    ar_heap_canary__fill(base, user, key);
    ar_heap_canary__fill(user + record->size, base + record->total, key);
    ar_heap_valgrind__close(base, head_len);
    ar_heap_valgrind__close(user + record->size, tail_len);
}

/* The first byte of [p, to) that differs from the canary, or NULL. */
static const unsigned char *ar_heap_canary__first_bad(const unsigned char *p,
                                                      const unsigned char *to, uint64_t key)
{
    while (p < to && ((uintptr_t)p & 7) != 0) {
        if (*p != ar_heap_canary__byte(key, p))
            return p;
        p++;
    }
    while (p + 8 <= to) {
        uint64_t word;
        memcpy(&word, p, 8);
        if (word != key)
            break; /* the byte loop below finds which */
        p += 8;
    }
    for (; p < to; p++)
        if (*p != ar_heap_canary__byte(key, p))
            return p;
    return NULL;
}

/*
 * Compare [from, to) with its canary; on damage fill *out (offsets
 * relative to `user`) and return 1.
 */
static int ar_heap_canary__zone(const unsigned char *from, const unsigned char *to,
                                uintptr_t user, uint64_t key, int kind, ar_heap_damage_t *out)
{
    const unsigned char *first = ar_heap_canary__first_bad(from, to, key);
    if (first == NULL)
        return 0;
    out->kind = kind;
    out->offset = (long long)((uintptr_t)first - user);
    out->damaged = 0;
    for (const unsigned char *p = first; p < to; p++)
        if (*p != ar_heap_canary__byte(key, p))
            out->damaged++;
    out->dump_offset = out->offset;
    out->dump_len = 0;
    for (const unsigned char *p = first; p < to && out->dump_len < sizeof out->found; p++) {
        out->expected[out->dump_len] = ar_heap_canary__byte(key, p);
        out->found[out->dump_len] = *p;
        out->dump_len++;
    }
    return 1;
}

size_t ar_heap_canary__check(const ar_heap_record_t *record, ar_heap_damage_t *out, size_t max)
{
    const unsigned char *base = record->base;
    const unsigned char *user = (const unsigned char *)record->user;
    size_t n = 0;
    if (!(record->flags & AR_HEAP_BLOCK_CANARY) || !ar_heap_block__readable(record))
        return 0;
    uint64_t key = ar_heap_canary__key(base);
    const unsigned char *tail = user + record->size;
    size_t head_len = (size_t)(user - base);
    size_t tail_len = record->total - record->size - head_len;
    ar_heap_valgrind__open(tail, tail_len);
    if (n < max && ar_heap_canary__zone(tail, base + record->total, record->user, key,
                                        AR_HEAP_ERROR_OVERFLOW, &out[n]))
        n++;
    ar_heap_valgrind__close(tail, tail_len);
    ar_heap_valgrind__open(base, head_len);
    if (n < max &&
        ar_heap_canary__zone(base, user, record->user, key, AR_HEAP_ERROR_UNDERFLOW, &out[n]))
        n++;
    ar_heap_valgrind__close(base, head_len);
    return n;
}
