/*
 * valgrind.h: the debug heap's blocks, told to Valgrind's Memcheck.
 *
 * Why: under Memcheck a tracked block is bytes of a span arheap mapped
 * itself, with the canaries next to them, so without help Memcheck sees a
 * write into a canary as a write into memory the program owns, and a
 * freed block as live. These hooks tell it where the program's bytes
 * really are, so that an overflow, an underflow or a use after free is
 * reported by Memcheck at the faulting instruction, before arheap's own
 * check finds the damage at the next free, reuse or check.
 *
 * Compiled in when configure finds <valgrind/memcheck.h> (--with-valgrind,
 * default auto: AR_HEAP_HAVE_VALGRIND); without it every hook is an empty
 * inline function. Outside Valgrind each hook is one branch on a flag read
 * at initialisation.
 *
 * What Memcheck is told:
 *   - A new block: its slot no-access but for its user bytes, a chunk of
 *     one memory pool, undefined (their 0xbe fill is a marker, not a
 *     value) unless written after (CALLOC's zeros, STRDUP's copy).
 *   - A freed block (quarantined or released): all of it no-access.
 *   - The checker reads and rewrites canaries and poison between open()
 *     (defined) and close() (no-access again): its own reads are never
 *     errors, and the program's still are.
 *
 * Memory pools (VALGRIND_CREATE_MEMPOOL, MEMPOOL_ALLOC/FREE); blocks with
 * canaries in one with a redzone of AR_HEAP_VALGRIND_REDZONE (16 bytes,
 * the head zone), blocks without in one with none: an
 * overflow of a 13-byte block reads "0 bytes after a block of size 13
 * client-defined", with the stack of the MEMPOOL_ALLOC request, which runs
 * inside the user's AR__HEAP__MALLOC and so names its file and line
 * (tests/valgrind_cross.sh checks this); a use after free reads "inside a
 * block of size N free'd" with the free's stack.
 *
 * Leaks: a record holds no pointer to its block (it is found by address
 * arithmetic), so under Valgrind life.c keeps each live block's address in
 * an array beside its span, where Memcheck's leak scan finds it: a leaked
 * tracked block is "still reachable" to Memcheck, never an error, and
 * arheap's leak report names it.
 */
#ifndef AR_HEAP_VALGRIND_H
#define AR_HEAP_VALGRIND_H

#include "ar_heap_internal.h"

#include <stddef.h>

#if defined(AR_HEAP_HAVE_VALGRIND)
#include <valgrind/memcheck.h>

/* Bytes before and after a pool chunk that Memcheck describes against it. */
#define AR_HEAP_VALGRIND_REDZONE 16

/* The pools' handles: addresses unique to arheap (Memcheck only uses them
 * as keys and never reads them). Blocks with canaries go to a pool whose
 * chunks have a 16-byte redzone, where the head canary lies; blocks
 * without canaries (canary=0) sit next to each other, so their pool has
 * none: a redzone there would mark the neighbour's last bytes no-access. */
#define AR_HEAP_VALGRIND_POOL ((const void *)&ar_heap_options)
#define AR_HEAP_VALGRIND_POOL_BARE ((const void *)&ar_heap_valgrind_on)
#define AR_HEAP_VALGRIND_POOL_OF(canary) \
    ((canary) ? AR_HEAP_VALGRIND_POOL : AR_HEAP_VALGRIND_POOL_BARE)

/* 1 when running under Valgrind: read once at initialisation, so that
 * outside Valgrind each hook is one predictable branch, not a client
 * request's dozen instructions. */
extern int ar_heap_valgrind_on;

/* Create the pool, at initialisation. Only when it does not exist yet:
 * a child forked while another thread was inside the heap's
 * initialisation runs it again (pthread_once restarts an initialiser
 * that fork interrupted), and Memcheck aborts on a second CREATE_MEMPOOL
 * of one pool ("duplicate pool creation", seen in check_bad_input's fork
 * test). */
static inline void ar_heap_valgrind__init(void)
{
    ar_heap_valgrind_on = RUNNING_ON_VALGRIND != 0;
    if (ar_heap_valgrind_on && !VALGRIND_MEMPOOL_EXISTS(AR_HEAP_VALGRIND_POOL))
        VALGRIND_CREATE_MEMPOOL(AR_HEAP_VALGRIND_POOL, AR_HEAP_VALGRIND_REDZONE, 0);
    if (ar_heap_valgrind_on && !VALGRIND_MEMPOOL_EXISTS(AR_HEAP_VALGRIND_POOL_BARE))
        VALGRIND_CREATE_MEMPOOL(AR_HEAP_VALGRIND_POOL_BARE, 0, 0);
}

/* 1 under Valgrind: the heap then reserves less address space (Memcheck
 * keeps state for every mapped range). */
static inline int ar_heap_valgrind__running(void)
{
    return ar_heap_valgrind_on;
}

/* A block is live: its zones [base, base + total) no-access, its user
 * bytes undefined. Called from the allocating entry point, so that
 * Memcheck's stack starts at the user's call. */
static inline void ar_heap_valgrind__allocated(const void *base, size_t total, uintptr_t user,
                                               size_t size, int canary)
{
    if (!ar_heap_valgrind_on)
        return;
    (void)VALGRIND_MAKE_MEM_NOACCESS(base, total);
    VALGRIND_MEMPOOL_ALLOC(AR_HEAP_VALGRIND_POOL_OF(canary), (void *)user, size);
}

/* A block is freed (its poison already written): all of it no-access. */
static inline void ar_heap_valgrind__freed(uintptr_t user, const void *base, size_t total,
                                           int canary)
{
    if (!ar_heap_valgrind_on)
        return;
    VALGRIND_MEMPOOL_FREE(AR_HEAP_VALGRIND_POOL_OF(canary), (void *)user);
    (void)VALGRIND_MAKE_MEM_NOACCESS(base, total);
}

/* The checker is about to read or write bytes the program may not touch. */
static inline void ar_heap_valgrind__open(const void *from, size_t len)
{
    if (ar_heap_valgrind_on)
        (void)VALGRIND_MAKE_MEM_DEFINED(from, len);
}

/* ... and is done with them: no-access again. */
static inline void ar_heap_valgrind__close(const void *from, size_t len)
{
    if (ar_heap_valgrind_on)
        (void)VALGRIND_MAKE_MEM_NOACCESS(from, len);
}

/* Bytes that hold a fill marker, not a value the program wrote. */
static inline void ar_heap_valgrind__undefined(const void *from, size_t len)
{
    if (ar_heap_valgrind_on)
        (void)VALGRIND_MAKE_MEM_UNDEFINED(from, len);
}

/* Bytes that hold a value (calloc's zeros). */
static inline void ar_heap_valgrind__defined(const void *from, size_t len)
{
    if (ar_heap_valgrind_on)
        (void)VALGRIND_MAKE_MEM_DEFINED(from, len);
}

/* A stack the calling thread now runs on (a clone's, made with mmap):
 * Memcheck walks call stacks only within stacks it knows. */
static inline void ar_heap_valgrind__stack(void *start, size_t len)
{
    if (ar_heap_valgrind_on)
        (void)VALGRIND_STACK_REGISTER(start, (char *)start + len);
}

/* Errors off (1) or on again (0) for the calling thread: the leak scan
 * (reach.c) reads uninitialised words on purpose. */
static inline void ar_heap_valgrind__quiet(int on)
{
    if (on)
        VALGRIND_DISABLE_ERROR_REPORTING;
    else
        VALGRIND_ENABLE_ERROR_REPORTING;
}

#else /* !AR_HEAP_HAVE_VALGRIND */

static inline void ar_heap_valgrind__init(void) {}
static inline void ar_heap_valgrind__quiet(int on) { (void)on; }
static inline void ar_heap_valgrind__stack(void *start, size_t len)
{
    (void)start;
    (void)len;
}
static inline int ar_heap_valgrind__running(void) { return 0; }
static inline void ar_heap_valgrind__allocated(const void *base, size_t total, uintptr_t user,
                                               size_t size, int canary)
{
    (void)base;
    (void)total;
    (void)user;
    (void)size;
    (void)canary;
}
static inline void ar_heap_valgrind__freed(uintptr_t user, const void *base, size_t total,
                                           int canary)
{
    (void)user;
    (void)base;
    (void)total;
    (void)canary;
}
static inline void ar_heap_valgrind__open(const void *from, size_t len) { (void)from; (void)len; }
static inline void ar_heap_valgrind__close(const void *from, size_t len) { (void)from; (void)len; }
static inline void ar_heap_valgrind__undefined(const void *from, size_t len)
{
    (void)from;
    (void)len;
}
static inline void ar_heap_valgrind__defined(const void *from, size_t len)
{
    (void)from;
    (void)len;
}

#endif /* AR_HEAP_HAVE_VALGRIND */

#endif /* AR_HEAP_VALGRIND_H */
