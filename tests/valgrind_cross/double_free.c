/* double_free: the same block freed twice. */
#include "cross.h"

int main(void)
{
    char *p = cross__launder(AR__HEAP__MALLOC(16, "scratch")); /* ALLOC-SITE */
    char *again = cross__launder(p); /* the same pointer, kept */
    p[0] = 'x';
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(again); /* BUG: second free */
    return 0;
}
