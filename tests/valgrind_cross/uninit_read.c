/* uninit_read: decisions on bytes nobody wrote, once in a new MALLOC
 * block and once in the bytes a REALLOC added. arheap does not see reads
 * (it gives such bytes the value 0xbe); Memcheck must still report both,
 * which it can only because arheap marks them undefined after the fill. */
#include <stdio.h>

#include "cross.h"

int main(void)
{
    char *p = cross__launder(AR__HEAP__MALLOC(8, "unwritten")); /* ALLOC-SITE */
    if (p[3] == 'x') /* UNINIT-1: MALLOC's bytes were never written */
        puts("an x in new bytes");
    p[0] = 'a';
    p = cross__launder(AR__HEAP__REALLOC(p, 16, "unwritten"));
    if (p[0] == 'a' && p[12] == 'y') /* UNINIT-2: the grown bytes were never written */
        puts("a y in grown bytes");
    AR__HEAP__FREE(p);
    return 0;
}
