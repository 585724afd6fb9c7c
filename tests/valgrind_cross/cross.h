/*
 * cross.h: what the valgrind cross-check programs share.
 *
 * Each program has exactly one memory bug (or none) and is built twice
 * where tests/valgrind_cross.sh needs it: against the debug arheap, and
 * with -DAR_HEAP_DISABLE, where the AR__HEAP__* macros are libc.
 */
#ifndef AR_VALGRIND_CROSS_H
#define AR_VALGRIND_CROSS_H

#include <ar_heap.h>

/* Hide a pointer from the compiler, so that it neither warns about nor
 * drops the bug the program makes on purpose (-Warray-bounds,
 * -Wuse-after-free, -Wfree-nonheap-object): a store to and a load from a
 * volatile object must both happen. */
static void *volatile cross__hidden;

static inline void *cross__launder(void *p)
{
    cross__hidden = p;
    p = cross__hidden;
    cross__hidden = NULL; /* keeps nothing reachable: the leak stays a leak */
    return p;
}

#endif /* AR_VALGRIND_CROSS_H */
