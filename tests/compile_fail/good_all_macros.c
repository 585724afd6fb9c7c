/* Every ar_allocator.h macro used correctly: must compile with -Werror. */
#include <stddef.h>

#include "ar_allocator.h"

struct point {
    int x;
    int y;
};

int good_all_macros(const char *const_name, char *name);

int good_all_macros(const char *const_name, char *name)
{
    char array[16] = "array";
    const char const_array[] = "const array";

    struct point *point = AR__ALLOCATOR__CREATE(struct point, "point");
    int *ints = AR__ALLOCATOR__ALLOC(int, 4, "ints");

    char *from_const = AR__ALLOCATOR__DUPE(const_name, "const char *");
    char *from_plain = AR__ALLOCATOR__DUPE(name, "char *");
    char *from_literal = AR__ALLOCATOR__DUPE("literal", "string literal");
    char *from_array = AR__ALLOCATOR__DUPE(array, "char array");
    char *from_const_array = AR__ALLOCATOR__DUPE(const_array, "const char array");

    int *null_ints = NULL;
    int *fresh = AR__ALLOCATOR__REALLOC(int, null_ints, 3, "from a null int *");
    int *const fixed = ints;
    int *grown = AR__ALLOCATOR__REALLOC(int, fixed, 8, "grown ints");
    if (grown != NULL)
        ints = grown;

    const char *read_only = from_const;
    AR__ALLOCATOR__FREE(read_only);
    AR__ALLOCATOR__FREE(from_plain);
    AR__ALLOCATOR__FREE(from_literal);
    AR__ALLOCATOR__FREE(from_array);
    AR__ALLOCATOR__FREE(from_const_array);
    AR__ALLOCATOR__FREE(fresh);
    AR__ALLOCATOR__FREE(ints);
    AR__ALLOCATOR__FREE(point);

    void *untyped = NULL;
    AR__ALLOCATOR__FREE(untyped);
    AR__ALLOCATOR__FREE(NULL);
    return 0;
}
