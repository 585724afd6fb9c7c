/*
 * release.c: the library as built without --enable-debug-heap.
 *
 * The AR__HEAP__* macros of a release build never call into the library;
 * these functions exist so that the same programs link against either
 * build (a unit compiled against a debug header, or a direct caller of
 * ar_heap__malloc). Each is a plain pass-through to libc: nothing is
 * tracked, nothing is reported, the statistics are zero.
 */
#define _GNU_SOURCE
#include "ar_heap.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

void *ar_heap__malloc(size_t size, const char *file, int line, const char *desc)
{
    (void)file, (void)line, (void)desc;
    return malloc(size);
}

void *ar_heap__calloc(size_t count, size_t size, const char *file, int line, const char *desc)
{
    (void)file, (void)line, (void)desc;
    return calloc(count, size);
}

void *ar_heap__realloc(void *ptr, size_t size, const char *file, int line, const char *desc)
{
    (void)file, (void)line, (void)desc;
    return realloc(ptr, size);
}

char *ar_heap__strdup(const char *str, const char *file, int line, const char *desc)
{
    (void)file, (void)line, (void)desc;
    return strdup(str);
}

char *ar_heap__strndup(const char *str, size_t n, const char *file, int line, const char *desc)
{
    (void)file, (void)line, (void)desc;
    return strndup(str, n);
}

void ar_heap__free_at(void *ptr, const char *file, int line)
{
    (void)file, (void)line;
    free(ptr);
}

void ar_heap__free(void *ptr)
{
    free(ptr);
}

void *ar_heap__malloc_site(size_t size, ar_heap_call_site_t *site)
{
    (void)site;
    return malloc(size);
}

void *ar_heap__calloc_site(size_t count, size_t size, ar_heap_call_site_t *site)
{
    (void)site;
    return calloc(count, size);
}

void *ar_heap__realloc_site(void *ptr, size_t size, ar_heap_call_site_t *site)
{
    (void)site;
    return realloc(ptr, size);
}

char *ar_heap__strdup_site(const char *str, ar_heap_call_site_t *site)
{
    (void)site;
    return strdup(str);
}

void ar_heap__free_site(void *ptr, ar_heap_call_site_t *site)
{
    (void)site;
    free(ptr);
}

void ar_heap__memory_report(void)
{
}

int ar_heap__set_options(const char *options)
{
    (void)options;
    return 0;
}

void ar_heap__get_stats(ar_heap_stats_t *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof *out);
        out->guard_mechanism = "none";
    }
}

int ar_heap__has_tracking(void)
{
    return 0;
}

size_t ar_heap__check_all(void)
{
    return 0;
}

ar_heap_mark_t ar_heap__checkpoint(void)
{
    return 0;
}

size_t ar_heap__leaks_since(ar_heap_mark_t mark, int report)
{
    (void)mark, (void)report;
    return 0;
}

size_t ar_heap__leaks_since_text(ar_heap_mark_t mark, char *buf, size_t size)
{
    (void)mark;
    if (buf != NULL && size > 0)
        buf[0] = '\0';
    return 0;
}

int ar_heap__allow_leak(const void *ptr)
{
    (void)ptr;
    return 0;
}

size_t ar_heap__sweep_failures(void (*body)(void *arg), void *arg, ar_heap_sweep_t *out)
{
    body(arg);
    if (out != NULL) {
        out->runs = 1;
        out->failing_runs = 0;
        out->first_failing = 0;
    }
    return 0;
}

/* No heap is tracked: say so, on stderr as the debug library would. */
void ar_heap__describe(const void *addr)
{
    static const char text[] = "arheap: describe: the heap is not tracked (arheap was built "
                               "without --enable-debug-heap); nothing is known of ";
    char hex[2 + 2 * sizeof(uintptr_t) + 1];
    uintptr_t v = (uintptr_t)addr;
    size_t i = sizeof hex;
    hex[--i] = '\n';
    do {
        hex[--i] = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v != 0);
    hex[--i] = 'x';
    hex[--i] = '0';
    (void)!write(2, text, sizeof text - 1);
    (void)!write(2, hex + i, sizeof hex - i);
}
