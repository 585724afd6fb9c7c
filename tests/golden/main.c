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

/* The function of the kind named, or NULL; the list of kinds (below main,
 * so that a new kind moves no line of main, which every stack names). */
typedef void golden_fn(void);
static golden_fn *golden_find(const char *name);
static void golden_list(void);

int main(int argc, char **argv)
{
    golden_fn *run = argc == 2 ? golden_find(argv[1]) : NULL;
    if (run != NULL) {
        run();
        return 0;
    }
    fprintf(stderr, "usage: %s KIND, one of:", argv[0]);
    golden_list();
    return 2;
}

static const struct {
    const char *name;
    golden_fn *run;
} golden_kinds[] = {
    { "overflow", golden_overflow },
    { "overflow-realloc", golden_overflow_realloc },
    { "overflow-many", golden_overflow_many },
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
    /* arheap's own calls and descriptions: no plain program makes them. */
    { "leak-intentional", golden_leak_intentional },
    { "invalid-argument", golden_invalid_argument },
    { "invalid-argument-strndup", golden_invalid_argument_strndup },
    { "describe", golden_describe },
#endif
};

static golden_fn *golden_find(const char *name)
{
    for (size_t i = 0; i < sizeof golden_kinds / sizeof golden_kinds[0]; i++)
        if (strcmp(name, golden_kinds[i].name) == 0)
            return golden_kinds[i].run;
    return NULL;
}

static void golden_list(void)
{
    for (size_t i = 0; i < sizeof golden_kinds / sizeof golden_kinds[0]; i++)
        fprintf(stderr, " %s", golden_kinds[i].name);
    fprintf(stderr, "\n");
}
