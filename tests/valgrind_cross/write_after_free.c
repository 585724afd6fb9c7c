/* write_after_free: a write through a pointer kept after its block was
 * freed. */
#include "cross.h"

int main(void)
{
    int *counts = cross__launder(AR__HEAP__CALLOC(8, sizeof *counts, "counts")); /* ALLOC-SITE */
    counts[2] = 1;
    int *stale = cross__launder(counts); /* a pointer kept */
    AR__HEAP__FREE(counts);
    stale[2] = 5; /* BUG: write after free */
    return 0;
}
