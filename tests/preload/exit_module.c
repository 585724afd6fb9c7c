/*
 * exit_module.c: a library that frees in its destructor what its
 * constructor allocated, for the preload suite's exit-order tests
 * (victim library-destructor). Loaded with dlopen and never closed, it is
 * finalised at exit after the preload library is.
 */
#include <stdlib.h>

void *exit_module_block(void);

static void *block;

__attribute__((constructor)) static void exit_module_allocate(void)
{
    block = malloc(12345);
}

__attribute__((destructor)) static void exit_module_free(void)
{
    free(block);
}

/* The block, for the program to see that it is tracked. */
void *exit_module_block(void)
{
    return block;
}
