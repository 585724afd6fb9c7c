/* AR__ALLOCATOR__REALLOC of a void * is refused: the element type of the
 * old block must be visible (convert it to T * first if it really is one). */
/* expect: AR__ALLOCATOR__REALLOC needs ptr of type int * */
#include "ar_allocator.h"

int *bad_realloc_void_ptr(void *block);

int *bad_realloc_void_ptr(void *block)
{
    return AR__ALLOCATOR__REALLOC(int, block, 8, "block");
}
