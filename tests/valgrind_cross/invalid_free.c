/* invalid_free: a pointer into the middle of a block handed to free. */
#include "cross.h"

int main(void)
{
    char *p = cross__launder(AR__HEAP__MALLOC(16, "record")); /* ALLOC-SITE */
    p[0] = 'x';
    AR__HEAP__FREE(cross__launder(p + 4)); /* BUG: not the block's start */
    AR__HEAP__FREE(p);
    return 0;
}
