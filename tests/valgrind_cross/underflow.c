/* underflow: a write one byte before the start of a block, as a loop that
 * counts down to -1 makes. */
#include "cross.h"

int main(void)
{
    char *p = cross__launder(AR__HEAP__MALLOC(24, "ring buffer")); /* ALLOC-SITE */
    for (int i = 23; i >= -1; i--)
        p[i] = (char)(i + 1); /* BUG: i == -1 writes before the block */
    AR__HEAP__FREE(p);
    return 0;
}
