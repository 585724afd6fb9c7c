/* AR__ALLOCATOR__FREE of a floating value is refused. */
/* expect: AR__ALLOCATOR__FREE needs a pointer */
#include "ar_allocator.h"

void bad_free_double(double value);

void bad_free_double(double value)
{
    AR__ALLOCATOR__FREE(value);
}
