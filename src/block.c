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
 * - With canaries (option canary=1, the default; record flag
 *   AR_HEAP_BLOCK_CANARY) the head zone is AR_HEAP_BLOCK_HEAD bytes of head canary, and the tail zone starts
 *   exactly at user + size, so that a one-byte overflow of a 13-byte block
 *   lands in it, and runs to the end: at least AR_HEAP_BLOCK_TAIL bytes plus
 *   the slack that rounds the block up to the alignment. All of it is
 *   canary (canary.c). Without canaries both zones are empty.
 * - The record keeps base, user, size and total, so a block's layout is
 *   its own: changing the option affects later blocks only.
 * - `total` is never 0 (a zero-byte block still has a unique address).
 *
 * Two backends: libc's malloc/free, and guard-page slots (guard.c, option
 * guard), whose layout is described there: the head zone then runs from
 * the start of the block's first page, the tail zone to its guard page or
 * to the end of its last page. Callers only see obtain/release and the
 * record's base, user, total and flags; canary.c reads the zones from
 * those, whatever their lengths.
 */
#include "ar_heap_internal.h"

#include <stdint.h>
#include <stdlib.h>

/*
 * The backend. Built into the preload library (AR_HEAP_PRELOAD), arheap
 * itself is malloc, so it takes its memory from glibc's allocator under
 * the names glibc exports for that purpose.
 */
#if AR_HEAP_PRELOAD
extern void *__libc_malloc(size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *ptr);
#define AR_HEAP_BACKEND_MALLOC(size) __libc_malloc(size)
#define AR_HEAP_BACKEND_MEMALIGN(align, size) __libc_memalign((align), (size))
#define AR_HEAP_BACKEND_FREE(ptr) __libc_free(ptr)
#else
#define AR_HEAP_BACKEND_MALLOC(size) malloc(size)
#define AR_HEAP_BACKEND_MEMALIGN(align, size) ar_heap_block__memalign((align), (size))
#define AR_HEAP_BACKEND_FREE(ptr) free(ptr)

static void *ar_heap_block__memalign(size_t align, size_t size)
{
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}
#endif

/* Bytes before the user's bytes, with canaries; a multiple of the alignment. */
#define AR_HEAP_BLOCK_HEAD ((size_t)16)
/* Minimum bytes of tail canary after the user's bytes. */
#define AR_HEAP_BLOCK_TAIL ((size_t)16)
#define AR_HEAP_BLOCK_ALIGN ((size_t)_Alignof(max_align_t))

_Static_assert(AR_HEAP_BLOCK_HEAD % _Alignof(max_align_t) == 0,
               "the head zone must keep user pointers aligned for max_align_t");

int ar_heap_block__obtain(size_t size, size_t align, ar_heap_block_t *out)
{
    /* Refuse what libc would refuse and what cannot be indexed by
     * ptrdiff_t, before any addition can wrap. */
    const size_t most = AR_HEAP_BLOCK_HEAD + AR_HEAP_BLOCK_TAIL + AR_HEAP_BLOCK_ALIGN + align;
    if (size > (size_t)PTRDIFF_MAX - most || align > (size_t)PTRDIFF_MAX / 2)
        return 0;
    /* An alignment asked for is kept even when guard_align=1 places
     * other blocks byte-exactly. */
    if (ar_heap_options.guard && ar_heap_guard__obtain(size, align, out))
        return 1;
    if (align <= AR_HEAP_BLOCK_ALIGN)
        align = 0;
    size_t head = 0;
    size_t total = size == 0 ? 1 : size;
    out->flags = 0;
    if (ar_heap_options.canary) {
        size_t tail_end = size + AR_HEAP_BLOCK_TAIL;
        tail_end = (tail_end + AR_HEAP_BLOCK_ALIGN - 1) & ~(AR_HEAP_BLOCK_ALIGN - 1);
        /* An over-aligned block's head zone is one alignment unit: the
         * user bytes then start on the boundary after it. */
        head = align > AR_HEAP_BLOCK_HEAD ? align : AR_HEAP_BLOCK_HEAD;
        total = head + tail_end;
        out->flags = AR_HEAP_BLOCK_CANARY;
    }
    out->base = align != 0 ? AR_HEAP_BACKEND_MEMALIGN(align, total) : AR_HEAP_BACKEND_MALLOC(total);
    if (out->base == NULL)
        return 0;
    out->user = (uintptr_t)out->base + head;
    out->total = total;
    return 1;
}

void ar_heap_block__release(void *base, size_t total, unsigned flags)
{
    if (flags & AR_HEAP_BLOCK_GUARDED)
        ar_heap_guard__release(base, total);
    else
        AR_HEAP_BACKEND_FREE(base);
}
