/*
 * main.c: the program of the golden report tests, run by run.sh.
 *
 *     golden_linked KIND    arheap's macros, linked with libarheap
 *     golden_plain KIND     plain libc calls, for LD_PRELOAD
 *
 * KIND names one deliberate memory bug (see golden.h); the program makes
 * it and returns 0, unless arheap stops it first. The goldens
 * (KIND.MODE.txt) name lines of these files: a line moved here is a
 * golden to update (run.sh shows the actual output of a mismatch).
 */
#include "golden.h"

#include <stdio.h>
#include <string.h>

static void *volatile golden_escape;

void *golden_opaque(void *ptr)
{
    golden_escape = ptr;
    return golden_escape;
}

void *golden_stale(void)
{
    return golden_escape;
}

static const struct {
    const char *name;
    void (*run)(void);
} golden_kinds[] = {
    { "overflow", golden_overflow },
    { "overflow-realloc", golden_overflow_realloc },
    { "underflow", golden_underflow },
    { "use-after-free", golden_use_after_free },
    { "use-after-free-reuse", golden_use_after_free_reuse },
    { "double-free", golden_double_free },
    { "double-free-realloc", golden_double_free_realloc },
    { "invalid-free-interior", golden_invalid_free_interior },
    { "invalid-free-foreign", golden_invalid_free_foreign },
    { "guard-overflow-write", golden_guard_overflow_write },
    { "guard-overflow-read", golden_guard_overflow_read },
    { "guard-underflow-write", golden_guard_underflow_write },
    { "guard-use-after-free-write", golden_guard_use_after_free_write },
    { "guard-use-after-free-read", golden_guard_use_after_free_read },
    { "leak", golden_leak },
#ifdef GOLDEN_LINKED
    /* arheap's own calls: no plain program makes them. */
    { "invalid-argument", golden_invalid_argument },
    { "invalid-argument-strndup", golden_invalid_argument_strndup },
    { "describe", golden_describe },
#endif
};

int main(int argc, char **argv)
{
    size_t n = sizeof golden_kinds / sizeof golden_kinds[0];
    for (size_t i = 0; argc == 2 && i < n; i++) {
        if (strcmp(argv[1], golden_kinds[i].name) == 0) {
            golden_kinds[i].run();
            return 0;
        }
    }
    fprintf(stderr, "usage: %s KIND, one of:", argv[0]);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %s", golden_kinds[i].name);
    fprintf(stderr, "\n");
    return 2;
}
