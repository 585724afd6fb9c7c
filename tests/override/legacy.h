/*
 * legacy.h: a small piece of "legacy" code that allocates with libc's
 * names (malloc, calloc, realloc, strdup, strndup, free) and was never
 * edited for arheap. The tests compile legacy.c with
 * -include ar_heap_override.h and check where its blocks go.
 */
#ifndef LEGACY_H
#define LEGACY_H

#include <stddef.h>

/* A list of names: calloc for the header, malloc and realloc for the
 * array, strdup and strndup for the names. */
typedef struct legacy_list_s {
    char **names;
    size_t count;
    size_t capacity;
} legacy_list_t;

legacy_list_t *legacy_list_new(void);
/* Append a copy of name; returns 0 when memory ran out. */
int legacy_list_add(legacy_list_t *list, const char *name);
/* Append a copy of at most n bytes of name. */
int legacy_list_add_prefix(legacy_list_t *list, const char *name, size_t n);
void legacy_list_free(legacy_list_t *list);

/* Bugs, one per function. */
char *legacy_leak_a_copy(const char *name); /* returns a copy it also leaks a twin of */
void legacy_double_free(void);

#endif /* LEGACY_H */
