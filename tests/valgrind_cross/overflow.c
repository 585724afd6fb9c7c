/* overflow: "hello, world!" copied with its NUL into strlen() bytes, one
 * byte written past the end of a 13-byte block. */
#include <string.h>

#include "cross.h"

int main(void)
{
    const char *text = "hello, world!";
    char *p = cross__launder(AR__HEAP__MALLOC(strlen(text), "greeting")); /* ALLOC-SITE */
    memcpy(p, text, strlen(text));
    p[strlen(text)] = '\0'; /* BUG: one past the end */
    AR__HEAP__FREE(p);
    return 0;
}
