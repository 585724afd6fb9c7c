/*
 * leaky.c: a small program with two real bugs, for arheap to catch.
 *
 *   1. It forgets to free the copy of its configuration path (a leak).
 *   2. It frees its scratch buffer twice (a double free).
 *
 * Built against a debug-heap arheap, the double free is reported with the
 * block's allocation site and both free sites, and (because this example
 * asks for on_error=continue, so the run goes on) the leak is reported at
 * exit with its file:line, and the program exits with status 23 although
 * main returns 0: a leaking program fails by default (leak_exitcode=0
 * keeps its own status). Against a release build the bugs are silent,
 * which is what arheap exists to prevent.
 */
#include <stdio.h>
#include <string.h>

#include "ar_heap.h"

static char *load_config_path(const char *home)
{
    char *path = AR__HEAP__MALLOC(strlen(home) + sizeof "/.agerun", "config path");
    if (path != NULL) {
        strcpy(path, home);
        strcat(path, "/.agerun");
    }
    return path;
}

/* The configuration's path, kept for the program's life in a global. */
char *config_path;

int main(void)
{
    (void)ar_heap__set_options("on_error=continue"); /* report both bugs */
    config_path = load_config_path("/home/agent");
    if (config_path != NULL)
        printf("config: %s\n", config_path);
    /* Bug 1: config_path is never freed. */

    char *scratch = AR__HEAP__CALLOC(64, 1, "scratch buffer");
    AR__HEAP__FREE(scratch);
    AR__HEAP__FREE(scratch); /* Bug 2: double free. */

    return 0;
}
