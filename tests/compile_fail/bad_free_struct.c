/* AR__ALLOCATOR__FREE of a struct value is refused. */
/* expect: AR__ALLOCATOR__FREE needs a pointer */
#include "ar_allocator.h"

struct point {
    int x;
    int y;
};

void bad_free_struct(struct point point);

void bad_free_struct(struct point point)
{
    AR__ALLOCATOR__FREE(point);
}
