/*
 * block.c: the layout of a tracked block, and where its memory comes from.
 *
 * A block is one backend allocation. The checker's record of it lives
 * elsewhere (tracking.c), so nothing the program writes through a bad
 * pointer can reach the bookkeeping.
 *
 *   base                      user                      user + size       base + total
 *   |                         |                         |                 |
 *   v                         v                         v                 v
 *   +-------------------------+-------------------------+-----------------+
 *   | head zone               | user bytes              | tail zone       |
 *   | AR_HEAP_BLOCK_HEAD      | `size`, as requested    | from user+size  |
 *   | bytes (a multiple of    |                         | to the end:     |
 *   | max_align_t's alignment)|                         | tail bytes plus |
 *   |                         |                         | alignment slack |
 *   +-------------------------+-------------------------+-----------------+
 *
 * - `user` keeps the alignment of max_align_t: base comes from the backend
 *   with that alignment and the head zone is a multiple of it.
 * - The head and tail zones are where canaries go; the tail zone starts
 *   exactly at user + size so that a one-byte overflow lands in it. With
 *   tracking only (this build), both zones are empty: head 0, tail 0.
 * - `total` is never 0 (a zero-byte block still has a unique address).
 *
 * The backend is libc's malloc/free. Guard-page slots will be a second
 * backend; callers only see obtain/release and the record's base/total.
 */
#include "ar_heap_internal.h"

#include <stdint.h>
#include <stdlib.h>

/* Bytes before the user's bytes; a multiple of _Alignof(max_align_t). */
#define AR_HEAP_BLOCK_HEAD ((size_t)0)
/* Minimum bytes after the user's bytes. */
#define AR_HEAP_BLOCK_TAIL ((size_t)0)

_Static_assert(AR_HEAP_BLOCK_HEAD % _Alignof(max_align_t) == 0,
               "the head zone must keep user pointers aligned for max_align_t");

size_t ar_heap_block__total_size(size_t size)
{
    /* Refuse what libc would refuse and what cannot be indexed by
     * ptrdiff_t, before any addition can wrap. */
    const size_t overhead = AR_HEAP_BLOCK_HEAD + AR_HEAP_BLOCK_TAIL;
    if (size > (size_t)PTRDIFF_MAX - overhead)
        return 0;
    size_t total = size + overhead;
    return total == 0 ? 1 : total;
}

void *ar_heap_block__user(void *base)
{
    return (char *)base + AR_HEAP_BLOCK_HEAD;
}

void *ar_heap_block__obtain(size_t total)
{
    return malloc(total);
}

void ar_heap_block__release(void *base)
{
    free(base);
}
