/*
 * suppress_lib.c: a stand-in for a third-party shared library that leaks
 * and frees twice, built by tests/preload/suppress.sh as libthird.so with
 * -g, and called by suppress_prog.c. It knows nothing of arheap.
 */
#include <stdlib.h>
#include <string.h>

void *vendor_keep;

/* A cache the library never frees: 100 bytes a call. */
__attribute__((noinline)) char *vendor_cache_alloc(size_t size)
{
    char *p = malloc(size);
    if (p != NULL)
        memset(p, 'v', size);
    vendor_keep = p;
    return p;
}

void vendor_init(void)
{
    (void)vendor_cache_alloc(100);
    vendor_keep = NULL;
}

/* A legacy release path that frees its buffer twice. */
__attribute__((noinline)) void vendor_legacy_release(void)
{
    char *p = malloc(16);
    vendor_keep = p;
    free(p);
    free(vendor_keep);
    vendor_keep = NULL;
}
