/* leak.c: leaks. Two names copied by a wrapper and a record allocated
 * directly are never freed, nor is a cache that says it is meant to
 * outlive the program (linked: INTENTIONAL_LEAK_FOR_TESTING, listed
 * apart; preloaded, a block has no description, and it is one more
 * leak); one buffer is freed. */
#include "golden.h"

#include <string.h>

static char *xstrdup(const char *text)
{
    char *copy = G_MALLOC(strlen(text) + 1, "name");
    memcpy(copy, text, strlen(text) + 1);
    return copy;
}

void golden_leak(void)
{
    golden_opaque(xstrdup("alpha"));
    golden_opaque(xstrdup("beta"));
    golden_opaque(G_MALLOC(100, "record"));
    golden_opaque(G_MALLOC(8, "cache INTENTIONAL_LEAK_FOR_TESTING"));
    G_FREE(G_MALLOC(10, "buffer"));
    golden_opaque(NULL);
}

#ifdef GOLDEN_LINKED
/* Only a block meant to outlive the program: no leak, and the summary
 * says so (linked only: a plain block has no description). */
void golden_leak_intentional(void)
{
    golden_opaque(G_MALLOC(8, "cache INTENTIONAL_LEAK_FOR_TESTING"));
    golden_opaque(NULL);
}
#endif
