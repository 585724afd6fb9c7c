/* AR__ALLOCATOR__CREATE(double, ...) assigned to an int *. The macro cannot
 * see the destination, so the diagnostic is the compiler's own
 * incompatible-pointer one, which gcc 12 and clang 14 only warn about by
 * default (gcc 14 makes it an error): this snippet is compiled with
 * -Werror=incompatible-pointer-types, as projects using arheap should be. */
/* cflags: -Werror=incompatible-pointer-types */
/* expect: incompatible pointer type */
#include "ar_allocator.h"

int *bad_create_wrong_type(void);

int *bad_create_wrong_type(void)
{
    int *number = AR__ALLOCATOR__CREATE(double, "number");
    return number;
}
