/*
 * uses.c: every ar_heap.h and ar_allocator.h macro, for tests/zero_overhead.sh.
 *
 * Built at -O2 in release mode (-DAR_HEAP_DISABLE) three ways:
 *   -DAR_ZERO_USE_MACROS   the functions use the macros;
 *   (nothing)              the same functions written by hand with libc;
 *   -DAR_ZERO_DIFFERENT    the hand version with one extra call, which the
 *                          comparison must tell apart (a check of the check).
 * The script requires the first two to disassemble to identical code, and
 * that no call to ar_zero_side_effect() (only ever used as a description)
 * and no ar_heap__ function appears in the macro build.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef AR_ZERO_USE_MACROS
#include "ar_allocator.h"
#endif

struct zero_point {
    int x;
    int y;
    double weight;
};

/* Defined nowhere: the object is never linked. A call to it in the macro
 * build would mean a description was evaluated. */
extern const char *ar_zero_side_effect(void);

void *zero_heap_malloc(size_t size);
void *zero_heap_calloc(size_t count, size_t size);
void *zero_heap_realloc(void *block, size_t size);
char *zero_heap_strdup(const char *text);
void zero_heap_free(void *block);
struct zero_point *zero_create(void);
struct zero_point *zero_alloc(size_t count);
char *zero_dupe_const(const char *text);
char *zero_dupe_plain(char *text);
char *zero_dupe_literal(void);
struct zero_point *zero_realloc(struct zero_point *points, size_t count);
double *zero_realloc_doubles(double *values, size_t count);
void zero_free(struct zero_point *point);
void zero_free_const(const char *text);
void *zero_desc_heap_malloc(size_t size);
void *zero_desc_heap_calloc(size_t count, size_t size);
void *zero_desc_heap_realloc(void *block, size_t size);
char *zero_desc_heap_strdup(const char *text);
struct zero_point *zero_desc_create(void);
struct zero_point *zero_desc_alloc(size_t count);
char *zero_desc_dupe(const char *text);
struct zero_point *zero_desc_realloc(struct zero_point *points, size_t count);

#ifdef AR_ZERO_USE_MACROS

void *zero_heap_malloc(size_t size)
{
    return AR__HEAP__MALLOC(size, "heap malloc");
}

void *zero_heap_calloc(size_t count, size_t size)
{
    return AR__HEAP__CALLOC(count, size, "heap calloc");
}

void *zero_heap_realloc(void *block, size_t size)
{
    return AR__HEAP__REALLOC(block, size, "heap realloc");
}

char *zero_heap_strdup(const char *text)
{
    return AR__HEAP__STRDUP(text, "heap strdup");
}

void zero_heap_free(void *block)
{
    AR__HEAP__FREE(block);
}

struct zero_point *zero_create(void)
{
    return AR__ALLOCATOR__CREATE(struct zero_point, "one point");
}

struct zero_point *zero_alloc(size_t count)
{
    return AR__ALLOCATOR__ALLOC(struct zero_point, count, "points");
}

char *zero_dupe_const(const char *text)
{
    return AR__ALLOCATOR__DUPE(text, "const text");
}

char *zero_dupe_plain(char *text)
{
    return AR__ALLOCATOR__DUPE(text, "text");
}

char *zero_dupe_literal(void)
{
    return AR__ALLOCATOR__DUPE("literal", "literal");
}

struct zero_point *zero_realloc(struct zero_point *points, size_t count)
{
    return AR__ALLOCATOR__REALLOC(struct zero_point, points, count, "points");
}

double *zero_realloc_doubles(double *values, size_t count)
{
    return AR__ALLOCATOR__REALLOC(double, values, count, "values");
}

void zero_free(struct zero_point *point)
{
    AR__ALLOCATOR__FREE(point);
}

void zero_free_const(const char *text)
{
    AR__ALLOCATOR__FREE(text);
}

/* Every macro that takes a description, given one that is a call: in
 * release mode none of these calls may be compiled. */
void *zero_desc_heap_malloc(size_t size)
{
    return AR__HEAP__MALLOC(size, ar_zero_side_effect());
}

void *zero_desc_heap_calloc(size_t count, size_t size)
{
    return AR__HEAP__CALLOC(count, size, ar_zero_side_effect());
}

void *zero_desc_heap_realloc(void *block, size_t size)
{
    return AR__HEAP__REALLOC(block, size, ar_zero_side_effect());
}

char *zero_desc_heap_strdup(const char *text)
{
    return AR__HEAP__STRDUP(text, ar_zero_side_effect());
}

struct zero_point *zero_desc_create(void)
{
    return AR__ALLOCATOR__CREATE(struct zero_point, ar_zero_side_effect());
}

struct zero_point *zero_desc_alloc(size_t count)
{
    return AR__ALLOCATOR__ALLOC(struct zero_point, count, ar_zero_side_effect());
}

char *zero_desc_dupe(const char *text)
{
    return AR__ALLOCATOR__DUPE(text, ar_zero_side_effect());
}

struct zero_point *zero_desc_realloc(struct zero_point *points, size_t count)
{
    return AR__ALLOCATOR__REALLOC(struct zero_point, points, count, ar_zero_side_effect());
}

#else /* the same functions written by hand */

void *zero_heap_malloc(size_t size)
{
    return malloc(size);
}

void *zero_heap_calloc(size_t count, size_t size)
{
    return calloc(count, size);
}

void *zero_heap_realloc(void *block, size_t size)
{
    return realloc(block, size);
}

char *zero_heap_strdup(const char *text)
{
    return strdup(text);
}

void zero_heap_free(void *block)
{
    free(block);
}

struct zero_point *zero_create(void)
{
#ifdef AR_ZERO_DIFFERENT
    (void)ar_zero_side_effect();
#endif
    return malloc(sizeof(struct zero_point));
}

struct zero_point *zero_alloc(size_t count)
{
    return calloc(count, sizeof(struct zero_point));
}

char *zero_dupe_const(const char *text)
{
    return strdup(text);
}

char *zero_dupe_plain(char *text)
{
    return strdup(text);
}

char *zero_dupe_literal(void)
{
    return strdup("literal");
}

struct zero_point *zero_realloc(struct zero_point *points, size_t count)
{
    if (count > SIZE_MAX / sizeof *points) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(points, count * sizeof *points);
}

double *zero_realloc_doubles(double *values, size_t count)
{
    if (count > SIZE_MAX / sizeof *values) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(values, count * sizeof *values);
}

void zero_free(struct zero_point *point)
{
    free(point);
}

void zero_free_const(const char *text)
{
    free((void *)text);
}

void *zero_desc_heap_malloc(size_t size)
{
    return malloc(size);
}

void *zero_desc_heap_calloc(size_t count, size_t size)
{
    return calloc(count, size);
}

void *zero_desc_heap_realloc(void *block, size_t size)
{
    return realloc(block, size);
}

char *zero_desc_heap_strdup(const char *text)
{
    return strdup(text);
}

struct zero_point *zero_desc_create(void)
{
    return malloc(sizeof(struct zero_point));
}

struct zero_point *zero_desc_alloc(size_t count)
{
    return calloc(count, sizeof(struct zero_point));
}

char *zero_desc_dupe(const char *text)
{
    return strdup(text);
}

struct zero_point *zero_desc_realloc(struct zero_point *points, size_t count)
{
    if (count > SIZE_MAX / sizeof *points) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(points, count * sizeof *points);
}

#endif /* AR_ZERO_USE_MACROS */
