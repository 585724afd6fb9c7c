/* AR__ALLOCATOR__REALLOC of a double * as an array of int is refused. */
/* expect: AR__ALLOCATOR__REALLOC needs ptr of type int * */
#include "ar_allocator.h"

int *bad_realloc_wrong_type(double *values);

int *bad_realloc_wrong_type(double *values)
{
    return AR__ALLOCATOR__REALLOC(int, values, 8, "values");
}
