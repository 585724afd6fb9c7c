/* uses.c: each function makes one kind of macro call, for
 * tests/call_sites.sh, which reads from the object compiled in debug mode
 * which arheap function each one calls. A function named *_site_* must
 * call the _site function (a string literal or NULL as the description);
 * one named *_plain_* the function with file and line (a description
 * known only at run time). ar_allocator.h's macros go through the same. */
#include "ar_allocator.h"

struct point {
    int x, y;
};

void *use_site_malloc(size_t n);
void *use_site_malloc_null(size_t n);
void *use_plain_malloc(size_t n, const char *desc);
void *use_site_calloc(size_t n);
void *use_plain_calloc(size_t n, const char *desc);
void *use_site_realloc(void *p, size_t n);
void *use_plain_realloc(void *p, size_t n, const char *desc);
char *use_site_strdup(const char *s);
char *use_plain_strdup(const char *s, const char *desc);
void use_site_free(void *p);
struct point *use_site_create(void);
void *use_site_inline_twice(void);

void *use_site_malloc(size_t n)
{
    return AR__HEAP__MALLOC(n, "literal");
}

void *use_site_malloc_null(size_t n)
{
    return AR__HEAP__MALLOC(n, NULL);
}

void *use_plain_malloc(size_t n, const char *desc)
{
    return AR__HEAP__MALLOC(n, desc);
}

void *use_site_calloc(size_t n)
{
    return AR__HEAP__CALLOC(n, 4, "literal");
}

void *use_plain_calloc(size_t n, const char *desc)
{
    return AR__HEAP__CALLOC(n, 4, desc);
}

void *use_site_realloc(void *p, size_t n)
{
    return AR__HEAP__REALLOC(p, n, "literal");
}

void *use_plain_realloc(void *p, size_t n, const char *desc)
{
    return AR__HEAP__REALLOC(p, n, desc);
}

char *use_site_strdup(const char *s)
{
    return AR__HEAP__STRDUP(s, "literal");
}

char *use_plain_strdup(const char *s, const char *desc)
{
    return AR__HEAP__STRDUP(s, desc);
}

void use_site_free(void *p)
{
    AR__HEAP__FREE(p);
}

struct point *use_site_create(void)
{
    return AR__ALLOCATOR__CREATE(struct point, "point");
}

/* Nested calls (a statement expression inside another's arguments) and
 * an inline helper used twice must compile cleanly too (-Wshadow). */
static inline void *inline_helper(size_t n)
{
    return AR__HEAP__MALLOC(n, "from an inline helper");
}

void *use_site_inline_twice(void)
{
    void *a = inline_helper(8);
    AR__HEAP__FREE(AR__HEAP__STRDUP("nested", "nested copy"));
    AR__HEAP__FREE(a);
    return inline_helper(16);
}
