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

/* 65 blocks overflowed by one byte each, never freed: one check finds
 * them all (ar_heap__check_all() linked, the check at exit preloaded);
 * its reports hold 64, and a last line counts the one left. */
void golden_overflow_many(void)
{
    for (int i = 0; i < 65; i++) {
        char *name = golden_opaque(G_MALLOC(13, "one of many names"));
        name[13] = '\0';
    }
    golden_opaque(NULL);
    G_CHECK_ALL();
}
