/* AR__ALLOCATOR__DUPE of an unsigned char * is refused (plain char only). */
/* expect: AR__ALLOCATOR__DUPE needs a char * or const char * string */
#include "ar_allocator.h"

char *bad_dupe_uchar_ptr(unsigned char *bytes);

char *bad_dupe_uchar_ptr(unsigned char *bytes)
{
    return AR__ALLOCATOR__DUPE(bytes, "bytes");
}
