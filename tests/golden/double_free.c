/* double_free.c: double-free. A scratch buffer is freed by its user and
 * again by the cleanup that should have owned it. */
#include "golden.h"

static void scratch_release(char *scratch)
{
    G_FREE(scratch);
}

void golden_double_free(void)
{
    char *scratch = G_MALLOC(64, "scratch buffer");
    scratch_release(scratch);
    scratch_release(scratch);
}

/* A realloc of a block already freed: the same report, "realloc at". */
void golden_double_free_realloc(void)
{
    char *scratch = G_MALLOC(64, "scratch buffer");
    G_FREE(golden_opaque(scratch));
    char *grown = G_REALLOC(golden_stale(), 128, "grown scratch");
    G_FREE(grown);
}
