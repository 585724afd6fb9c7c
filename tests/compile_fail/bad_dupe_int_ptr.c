/* AR__ALLOCATOR__DUPE of an int * is refused. */
/* expect: AR__ALLOCATOR__DUPE needs a char * or const char * string */
#include "ar_allocator.h"

char *bad_dupe_int_ptr(int *numbers);

char *bad_dupe_int_ptr(int *numbers)
{
    return AR__ALLOCATOR__DUPE(numbers, "numbers");
}
