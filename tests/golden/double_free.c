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
