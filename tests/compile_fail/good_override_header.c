/* ar_heap_override.h first, then ordinary libc calls: must compile with
 * -Werror under -std=c11 -pedantic in both modes, the calls going to the
 * tracked macros in debug and to libc in release. strndup is POSIX: a
 * strict ISO C file that calls it asks for it on the command line (with a
 * forced include, a #define in the file would come too late). */
/* cflags: -D_POSIX_C_SOURCE=200809L */
#include "ar_heap_override.h"

#include <stdlib.h>
#include <string.h>

char *good_override_header(const char *name);

char *good_override_header(const char *name)
{
    char *copy = strdup(name);
    char *part = strndup(name, 3);
    int *numbers = calloc(4, sizeof *numbers);
    numbers = realloc(numbers, 8 * sizeof *numbers);
    void *raw = malloc(16);
    free(raw);
    free(numbers);
    free(part);
    return copy;
}
