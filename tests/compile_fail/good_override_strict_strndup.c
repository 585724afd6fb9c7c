/* A strict ISO C file (-std=c11 -pedantic, no feature macro) that calls
 * strndup through ar_heap_override.h: must compile with -Werror in both
 * modes. In debug strndup is the tracked macro; in release the header
 * declares libc's, which <string.h> does not in strict ISO C (until
 * stop 42 the release build refused the file the debug build took). */
#include "ar_heap_override.h"

#include <stdlib.h>
#include <string.h>

char *good_override_strict_strndup(const char *name);

char *good_override_strict_strndup(const char *name)
{
    char *part = strndup(name, 3);
    char *copy = strdup(name);
    free(part);
    return copy;
}
