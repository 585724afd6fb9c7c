/* A file that declares, for a function of its own, a name that glibc's
 * <malloc.h> declares too (here pvalloc, as the bignum program cfrac
 * does), compiled with ar_heap_override.h and the switch that leaves
 * <malloc.h> out: must compile with -Werror in both modes. Without the
 * switch, glibc's declaration of pvalloc clashes with this one. */
/* cflags: -DAR_HEAP_OVERRIDE_NO_MALLOC_H */
#include "ar_heap_override.h"

#include <stdlib.h>

typedef unsigned short *pvector;

pvector pvalloc(unsigned size);

pvector pvalloc(unsigned size)
{
    return malloc(size * sizeof(unsigned short));
}

void release_pvector(pvector p);

void release_pvector(pvector p)
{
    free(p);
}
