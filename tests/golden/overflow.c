/* overflow.c: heap-buffer-overflow, found in the tail canary. A helper
 * copies a string into strlen() bytes: the NUL lands one byte past the
 * end, and the free finds it. */
#include "golden.h"

#include <string.h>

static char *copy_name(const char *name)
{
    char *copy = G_MALLOC(strlen(name), "name copy");
    strcpy(golden_opaque(copy), name);
    return copy;
}

void golden_overflow(void)
{
    char *name = copy_name("hello, world!");
    G_FREE(name);
}

/* The same overflow, found by the realloc that grows the copy. */
void golden_overflow_realloc(void)
{
    char *name = copy_name("hello, world!");
    name = G_REALLOC(name, 64, "name copy");
    G_FREE(name);
}
