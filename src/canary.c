/*
 * canary.c: the bytes around each block, and the check that they are
 * still what was written.
 *
 * Why: a loop that writes one byte too many, or one before the start,
 * damages memory silently. A canary zone on each side of the user's bytes
 * turns that into a report at the next free, realloc or check, naming the
 * first damaged byte.
 *
 * The bytes are not a constant: each is derived from a per-process secret
 * mixed with its own address, so a program cannot write the expected value
 * by accident (say, a NUL terminator or a copied neighbour), and no byte is
 * ever zero, the value an off-by-one string copy writes most. The zones are
 * laid out in block.c:
 *
 *   base          user                 user + size            base + total
 *   | head canary | user bytes         | tail canary ........ |
 *     16 bytes                           16 bytes + alignment slack
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

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

/* The eight canary bytes of the 8-byte-aligned word at `word`. */
static uint64_t ar_heap_canary__word(uintptr_t word)
{
    uint64_t z = canary.secret ^ (uint64_t)word;
    z ^= z >> 33;
    z *= 0xff51afd7ed558ccdULL;
    z ^= z >> 33;
    z *= 0xc4ceb9fe1a85ec53ULL;
    z ^= z >> 33;
    return z;
}

/* The expected canary byte at address `addr`: never zero, and never one
 * of the fill bytes, so a zone can not be mistaken for fill. */
static unsigned char ar_heap_canary__byte_from(uint64_t word, uintptr_t addr)
{
    unsigned char b = (unsigned char)(word >> ((addr & 7) * 8));
    if (b == 0 || b == AR_HEAP_FILL_NEW || b == AR_HEAP_FILL_FREED)
        b = 0xa5;
    return b;
}

static void ar_heap_canary__fill(unsigned char *from, unsigned char *to)
{
    uintptr_t cached = 1; /* no aligned word is 1 */
    uint64_t word = 0;
    for (unsigned char *p = from; p < to; p++) {
        uintptr_t addr = (uintptr_t)p;
        if ((addr & ~(uintptr_t)7) != cached) {
            cached = addr & ~(uintptr_t)7;
            word = ar_heap_canary__word(cached);
        }
        *p = ar_heap_canary__byte_from(word, addr);
    }
}

void ar_heap_canary__write(const ar_heap_record_t *record)
{
    unsigned char *base = record->base;
    unsigned char *user = (unsigned char *)record->user;
    if (user == base)
        return; /* a block laid out without canaries */
    ar_heap_canary__fill(base, user);
    ar_heap_canary__fill(user + record->size, base + record->total);
}

/*
 * Compare [from, to) with its canary; on damage fill *out (offsets
 * relative to `user`) and return 1.
 */
static int ar_heap_canary__zone(const unsigned char *from, const unsigned char *to,
                                uintptr_t user, int kind, ar_heap_damage_t *out)
{
    uintptr_t cached = 1;
    uint64_t word = 0;
    const unsigned char *first = NULL;
    size_t damaged = 0;
    for (const unsigned char *p = from; p < to; p++) {
        uintptr_t addr = (uintptr_t)p;
        if ((addr & ~(uintptr_t)7) != cached) {
            cached = addr & ~(uintptr_t)7;
            word = ar_heap_canary__word(cached);
        }
        if (*p != ar_heap_canary__byte_from(word, addr)) {
            if (first == NULL)
                first = p;
            damaged++;
        }
    }
    if (first == NULL)
        return 0;
    out->kind = kind;
    out->offset = (long long)((uintptr_t)first - user);
    out->damaged = damaged;
    out->dump_offset = out->offset;
    out->dump_len = 0;
    cached = 1;
    for (const unsigned char *p = first; p < to && out->dump_len < sizeof out->found; p++) {
        uintptr_t addr = (uintptr_t)p;
        if ((addr & ~(uintptr_t)7) != cached) {
            cached = addr & ~(uintptr_t)7;
            word = ar_heap_canary__word(cached);
        }
        out->expected[out->dump_len] = ar_heap_canary__byte_from(word, addr);
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
    if (user == base)
        return 0; /* a block laid out without canaries */
    if (n < max && ar_heap_canary__zone(user + record->size, base + record->total, record->user,
                                        AR_HEAP_ERROR_OVERFLOW, &out[n]))
        n++;
    if (n < max && ar_heap_canary__zone(base, user, record->user, AR_HEAP_ERROR_UNDERFLOW, &out[n]))
        n++;
    return n;
}
