/* leak: a block whose only pointer is dropped. */
#include "cross.h"

static void load_config(void)
{
    char *path = AR__HEAP__STRDUP("/etc/agent.conf", "config path"); /* ALLOC-SITE */
    (void)cross__launder(path); /* BUG: never freed, pointer lost on return */
}

int main(void)
{
    load_config();
    return 0;
}
