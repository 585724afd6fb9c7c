/* The site macros of ar_heap.h: an includer without __FILE__ and __LINE__
 * (Zig's translate-c, a code generator) defines AR_HEAP_SITE_FILE (and
 * AR_HEAP_SITE_LINE) before including, and every tracked macro passes
 * them. Must compile with -Werror under -std=c11 -pedantic in both modes,
 * with ar_allocator.h on top. */
#define AR_HEAP_SITE_FILE "generated/agents.c"
#define AR_HEAP_SITE_LINE 12
#include "ar_allocator.h"

int good_site_macros(void);

int good_site_macros(void)
{
    char *name = AR__HEAP__STRDUP("agent", "agent name");
    int *scores = AR__HEAP__CALLOC(4, sizeof *scores, "scores");
    char *buffer = AR__HEAP__MALLOC(16, "buffer");
    char *grown = AR__HEAP__REALLOC(buffer, 32, "buffer");
    int *more = AR__ALLOCATOR__ALLOC(int, 8, "more scores");
    if (grown != NULL)
        buffer = grown;
    AR__ALLOCATOR__FREE(more);
    AR__HEAP__FREE(buffer);
    AR__HEAP__FREE(scores);
    AR__HEAP__FREE(name);
    return 0;
}
