/* invalid_free.c: invalid-free of a pointer 4 bytes inside a live block,
 * and of a pointer arheap never allocated (a global). */
#include "golden.h"

static int golden_table_static[4];

void golden_invalid_free_interior(void)
{
    int *table = G_MALLOC(4 * sizeof(int), "agent table");
    G_FREE(golden_opaque(table + 1));
}

void golden_invalid_free_foreign(void)
{
    G_FREE(golden_opaque(golden_table_static));
}
