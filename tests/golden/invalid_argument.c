/* invalid_argument.c: invalid-argument, STRDUP(NULL) and strndup(NULL).
 * Linked only: a plain program's strdup(NULL) is libc's, and crashes in
 * it. */
#include "golden.h"

#ifdef GOLDEN_LINKED
void golden_invalid_argument(void)
{
    char *copy = G_STRDUP(golden_opaque(NULL), "agent name");
    G_FREE(copy);
}

void golden_invalid_argument_strndup(void)
{
    char *copy = ar_heap__strndup(golden_opaque(NULL), 4, __FILE__, __LINE__, "agent tag");
    G_FREE(copy);
}
#endif
