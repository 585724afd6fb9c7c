/* AR__ALLOCATOR__FREE of an integer is refused. */
/* expect: AR__ALLOCATOR__FREE needs a pointer */
#include "ar_allocator.h"

void bad_free_int(int handle);

void bad_free_int(int handle)
{
    AR__ALLOCATOR__FREE(handle);
}
