/* AR__ALLOCATOR__DUPE of an integer is refused. */
/* expect: AR__ALLOCATOR__DUPE needs a char * or const char * string */
#include "ar_allocator.h"

char *bad_dupe_int(int number);

char *bad_dupe_int(int number)
{
    return AR__ALLOCATOR__DUPE(number, "number");
}
