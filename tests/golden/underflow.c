/* underflow.c: heap-buffer-underflow, found in the head canary. A ring buffer of 8 ints gets
 * a 0 at index -1 (no canary byte is 0: all four count in every run); the free finds it. */
#include "golden.h"

static int *ring_create(void)
{
    return G_MALLOC(8 * sizeof(int), "ring buffer");
}

static void ring_put(int *ring, int index, int value)
{
    ((int *)golden_opaque(ring))[index] = value;
}

void golden_underflow(void)
{
    int *ring = ring_create();
    ring_put(ring, -1, 0);
    G_FREE(ring);
}
