/*
 * stress_common.h: what the two stress programs share, tests/stress.c (the
 * tracked heap through AR__HEAP__*) and tests/stress_preload/stress_preload.c
 * (plain libc calls under the preload library): the random numbers, the
 * size mix, and the pattern each block carries and has checked.
 *
 * A header of static functions, not a library: stress_preload must stay an
 * ordinary program, built without arheap. The including file defines
 * die() (print why, then _exit(1)), declared here.
 */
#ifndef AR_STRESS_COMMON_H
#define AR_STRESS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STRESS_MAX_SIZE ((size_t)64 * 1024)

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* splitmix64: a seeded, reproducible stream per worker. */
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
    return 8192 + (size_t)(r % (STRESS_MAX_SIZE - 8192 + 1));
}

/* The pattern: 8-byte word i of a block is seed + i * K, so it depends on
 * the offset only and survives a realloc's copy. */
#define PATTERN_K 0x9e3779b97f4a7c15ULL

/* Write the pattern over bytes [from, to) of p. */
static void pattern_write(unsigned char *p, size_t from, size_t to, uint64_t seed)
{
    size_t at = from;
    for (; at < to && at % 8 != 0; at++) { /* up to the first whole word */
        uint64_t v = seed + (at / 8) * PATTERN_K;
        p[at] = ((const unsigned char *)&v)[at % 8];
    }
    for (; at + 8 <= to; at += 8) {
        uint64_t v = seed + (at / 8) * PATTERN_K;
        memcpy(p + at, &v, 8);
    }
    if (at < to) {
        uint64_t v = seed + (at / 8) * PATTERN_K;
        memcpy(p + at, &v, to - at);
    }
}

/* Bytes [0, to) of the size-byte block p must hold its pattern. */
static void pattern_verify(const unsigned char *p, size_t size, uint64_t seed, size_t to,
                           const char *when)
{
    size_t at = 0;
    for (; at + 8 <= to; at += 8) {
        uint64_t v = seed + (at / 8) * PATTERN_K, got;
        memcpy(&got, p + at, 8);
        if (got != v)
            die("%s: %zu-byte block %p: word at offset %zu changed", when, size, (const void *)p,
                at);
    }
    if (at < to) {
        uint64_t v = seed + (at / 8) * PATTERN_K;
        if (memcmp(p + at, &v, to - at) != 0)
            die("%s: %zu-byte block %p: bytes from offset %zu changed", when, size,
                (const void *)p, at);
    }
}

/* Bytes [from, to) of p must all be value. */
static void bytes_check(const unsigned char *p, size_t from, size_t to, unsigned char value,
                        const char *what)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != value)
            die("%s: byte %zu is 0x%02x, not 0x%02x", what, i, p[i], value);
}

#endif
