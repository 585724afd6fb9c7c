/*
 * canary.c: the bytes around each block, the poison inside freed ones,
 * and the checks that they are still what was written.
 *
 * Why: a loop that writes one byte too many, or one before the start,
 * damages memory silently. A canary zone on each side of the user's bytes
 * turns that into a report at the next free, realloc or check, naming the
 * first damaged byte. A freed block's bytes hold AR_HEAP_FILL_FREED until
 * its slot is reused; a changed byte is a write after free.
 *
 *   base          user                 user + size        base + extent
 *   | head canary | user bytes         | tail canary ...   |
 *     16 bytes                           16 to 31 bytes: to the next
 *     (an aligned block: more)           multiple of 16 past size + 16
 *
 * The canary bytes are not a constant: each block's are derived from a
 * per-process secret mixed with its base address, so a program cannot
 * write the expected value by accident (a NUL terminator, a copied
 * neighbour's canary). The canary byte at address a is byte (a mod 8) of
 * the block's key: a zone is written and compared eight bytes at a time,
 * a word at an unaligned address being the key rotated. No key byte is
 * zero (what an off-by-one string copy writes most) or a fill value.
 *
 * Reuse. A freed block's slot is checked when it is reused, in the same
 * visit that lays out the new block: each 64-byte chunk of the old user
 * bytes is compared with the poison and then, while it is in the cache,
 * overwritten with the new block's fill. One pass over the memory instead
 * of a check when the block leaves the quarantine and a fill when the
 * memory comes back. Blocks of up to a kilobyte, old and new, take two
 * short passes instead (the check, then the fill), each one loop: the
 * block is in the L1 cache after the first, and the fused pass's several
 * size-dependent loops cost more in mispredicted branches than the second
 * pass costs in loads.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

uint64_t ar_heap_canary_secret;

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
                 (uint64_t)(uintptr_t)&ar_heap_canary_secret;
    }
    ar_heap_canary_secret = secret | 1;
}

void ar_heap_canary__write(const ar_heap_layout_t *b)
{
    if (b->canary)
        ar_heap_canary__write_block(b->base, b->offset, b->size, b->extent, 0);
}

/* Describe the damage of [from, to), whose expected bytes expect(p) gives,
 * in *out (offsets relative to user). */
static void ar_heap_canary__describe(uintptr_t from, uintptr_t to, uintptr_t user, int kind,
                                     uint64_t key, int poison, ar_heap_damage_t *out)
{
    uintptr_t first = to;
    out->damaged = 0;
    for (uintptr_t p = from; p < to; p++) {
        unsigned char want = poison ? AR_HEAP_FILL_FREED : ar_heap_canary__byte(key, p);
        if (*(const unsigned char *)p != want) {
            if (first == to)
                first = p;
            out->damaged++;
        }
    }
    out->kind = kind;
    out->offset = (long long)first - (long long)user;
    out->dump_offset = out->offset;
    out->dump_len = 0;
    for (uintptr_t p = first; p < to && out->dump_len < sizeof out->found; p++) {
        out->expected[out->dump_len] = poison ? AR_HEAP_FILL_FREED : ar_heap_canary__byte(key, p);
        out->found[out->dump_len] = *(const unsigned char *)p;
        out->dump_len++;
    }
}

size_t ar_heap_canary__check(const ar_heap_layout_t *b, ar_heap_damage_t *out, size_t max)
{
    if (!b->canary || max == 0)
        return 0;
    uint64_t key = ar_heap_canary__key(b->base);
    uintptr_t user = b->base + b->offset;
    uintptr_t tail = user + b->size, end = b->base + b->extent;
    size_t n = 0;
    if (!ar_heap_canary__intact(tail, end, key))
        ar_heap_canary__describe(tail, end, user, AR_HEAP_ERROR_OVERFLOW, key, 0, &out[n++]);
    if (n < max && !ar_heap_canary__intact(b->base, user, key))
        ar_heap_canary__describe(b->base, user, user, AR_HEAP_ERROR_UNDERFLOW, key, 0, &out[n++]);
    return n;
}


/* Whether [from, to) holds the poison: eight bytes at a time, the last
 * eight (overlapping) for a length that is not a multiple of eight. (As
 * sixteen-byte vectors, like the check-and-fill below, it was no faster:
 * bench/workloads, 7 rounds, within the noise on every workload.) */
static int ar_heap_canary__poisoned(uintptr_t from, uintptr_t to)
{
    uint64_t diff = 0;
    uintptr_t p = from;
    if (to - from < 8) {
        for (; p < to; p++)
            diff |= *(const unsigned char *)p ^ 0xdfu;
        return diff == 0;
    }
    for (; p + 32 <= to; p += 32) {
        diff |= (ar_heap_canary__load(p) ^ AR_HEAP_POISON_WORD) |
                (ar_heap_canary__load(p + 8) ^ AR_HEAP_POISON_WORD) |
                (ar_heap_canary__load(p + 16) ^ AR_HEAP_POISON_WORD) |
                (ar_heap_canary__load(p + 24) ^ AR_HEAP_POISON_WORD);
        if (diff != 0)
            return 0;
    }
    for (; p + 8 <= to; p += 8)
        diff |= ar_heap_canary__load(p) ^ AR_HEAP_POISON_WORD;
    if (p < to)
        diff |= ar_heap_canary__load(to - 8) ^ AR_HEAP_POISON_WORD;
    return diff == 0;
}

int ar_heap_canary__check_poison(const ar_heap_layout_t *b, ar_heap_damage_t *out)
{
    uintptr_t user = b->base + b->offset;
    if (ar_heap_canary__poisoned(user, user + b->size))
        return 0;
    ar_heap_canary__describe(user, user + b->size, user, AR_HEAP_ERROR_WRITE_AFTER_FREE, 0, 1,
                             out);
    return 1;
}

/*
 * Check [from, to) for poison and overwrite it with `fill` (a byte, or -1
 * to leave it), 64 bytes at a time: a chunk is compared before it is
 * written, so damage is seen before it is overwritten. Returns the
 * address of the first chunk that is not poison, or `to` when all were.
 */
static uintptr_t ar_heap_canary__check_fill(uintptr_t from, uintptr_t to, int fill)
{
    uint64_t word = (uint64_t)(unsigned char)fill * 0x0101010101010101ULL;
    uintptr_t p = from;
#if defined(__GNUC__)
    const ar_heap_canary_v2 poison = { AR_HEAP_POISON_WORD, AR_HEAP_POISON_WORD };
    const ar_heap_canary_v2 fill16 = { word, word };
    for (; p + 64 <= to; p += 64) {
        ar_heap_canary_v2 diff = (ar_heap_canary__load16(p) ^ poison) |
                                 (ar_heap_canary__load16(p + 16) ^ poison) |
                                 (ar_heap_canary__load16(p + 32) ^ poison) |
                                 (ar_heap_canary__load16(p + 48) ^ poison);
        if ((diff[0] | diff[1]) != 0)
            return p;
        if (fill >= 0)
            for (unsigned i = 0; i < 64; i += 16)
                memcpy((void *)(p + i), &fill16, sizeof fill16);
    }
#else
    for (; p + 64 <= to; p += 64) {
        uint64_t diff = 0;
        for (unsigned i = 0; i < 64; i += 8)
            diff |= ar_heap_canary__load(p + i) ^ AR_HEAP_POISON_WORD;
        if (diff != 0)
            return p;
        if (fill >= 0)
            for (unsigned i = 0; i < 64; i += 8)
                ar_heap_canary__store(p + i, word);
    }
#endif
    if (!ar_heap_canary__poisoned(p, to))
        return p;
    if (fill >= 0)
        memset((void *)p, fill, to - p);
    return to;
}

size_t ar_heap_canary__reuse(const ar_heap_layout_t *old, const ar_heap_layout_t *fresh,
                             int fill, ar_heap_damage_t *out)
{
    size_t n = 0;
    uintptr_t old_user = old->base + old->offset, old_end = old_user + old->size;
    uintptr_t new_user = fresh->base + fresh->offset, new_end = new_user + fresh->size;
    uint64_t key = ar_heap_canary__key(old->base);

    /* The old block's zones, before anything is written over them. */
    int head_kept = 0;
    if (old->canary) {
        uintptr_t zone_end = old->base + old->extent;
        if (!ar_heap_canary__intact(old_end, zone_end, key))
            ar_heap_canary__describe(old_end, zone_end, old_user, AR_HEAP_ERROR_OVERFLOW, key, 0,
                                     &out[n++]);
        if (!ar_heap_canary__intact(old->base, old_user, key))
            ar_heap_canary__describe(old->base, old_user, old_user, AR_HEAP_ERROR_UNDERFLOW, key,
                                     0, &out[n++]);
        else
            head_kept = fresh->canary && fresh->offset == old->offset;
    }

    /* Its user bytes: checked, and filled where the new block's are. */
    uintptr_t both_from = old_user > new_user ? old_user : new_user;
    uintptr_t both_to = old_end < new_end ? old_end : new_end;
    /* Damage is described from the old bytes still in place: from the
     * first unchecked chunk when the fused pass stopped (the bytes before
     * it were poison, and are fill now). */
    uintptr_t damage_from = 0, damage_to = old_end;
    if (both_from < both_to) {
        int before_clean = ar_heap_canary__poisoned(old_user, both_from);
        uintptr_t stop = before_clean ? ar_heap_canary__check_fill(both_from, both_to, fill)
                                      : both_from;
        if (!before_clean) {
            /* Nothing written yet: every old byte is there to describe
             * (until stop 41 only those before the new block's start were,
             * and a reuse by a block with a longer head zone counted
             * fewer damaged bytes than there were). */
            damage_from = old_user;
        } else if (stop != both_to) {
            damage_from = stop;
        } else if (!ar_heap_canary__poisoned(both_to, old_end)) {
            damage_from = both_to;
        }
    } else if (!ar_heap_canary__poisoned(old_user, old_end)) {
        damage_from = old_user;
    }
    if (damage_from != 0) {
        /* Then the new block's bytes are laid out whole. */
        ar_heap_canary__describe(damage_from, damage_to, old_user, AR_HEAP_ERROR_WRITE_AFTER_FREE,
                                 0, 1, &out[n++]);
        if (fill >= 0)
            memset((void *)new_user, fill, fresh->size);
    } else if (fill >= 0) {
        if (new_user < both_from)
            memset((void *)new_user, fill, (both_from > new_end ? new_end : both_from) - new_user);
        uintptr_t rest = both_to > new_user ? both_to : new_user;
        if (rest < new_end)
            memset((void *)rest, fill, new_end - rest);
    }

    /* The new block's zones. */
    if (fresh->canary) {
        /* The same slot, so mostly the same key. */
        uint64_t fresh_key = fresh->base == old->base ? key : ar_heap_canary__key(fresh->base);
        if (!head_kept)
            ar_heap_canary__fill(fresh->base, new_user, fresh_key);
        ar_heap_canary__fill(new_end, fresh->base + fresh->extent, fresh_key);
    }
    return n;
}
