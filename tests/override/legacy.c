/*
 * legacy.c: code written against libc's allocator, untouched for arheap.
 *
 * The tests build it with -include ar_heap_override.h. The comments
 * "site: NAME" mark the lines the tests expect reports to name (they read
 * this file to find them), so lines may move freely.
 */
#ifndef AR_HEAP_OVERRIDE_H
#error "legacy.c is built with -include ar_heap_override.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "legacy.h"

legacy_list_t *legacy_list_new(void)
{
    return calloc(1, sizeof(legacy_list_t)); /* site: calloc */
}

static int legacy_list_push(legacy_list_t *list, char *copy)
{
    if (copy == NULL)
        return 0;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity != 0 ? 2 * list->capacity : 2;
        char **names = list->names == NULL
                           ? malloc(capacity * sizeof *names) /* site: malloc */
                           : realloc(list->names, capacity * sizeof *names); /* site: realloc */
        if (names == NULL) {
            free(copy);
            return 0;
        }
        list->names = names;
        list->capacity = capacity;
    }
    list->names[list->count++] = copy;
    return 1;
}

int legacy_list_add(legacy_list_t *list, const char *name)
{
    return legacy_list_push(list, strdup(name)); /* site: strdup */
}

int legacy_list_add_prefix(legacy_list_t *list, const char *name, size_t n)
{
    return legacy_list_push(list, strndup(name, n)); /* site: strndup */
}

void legacy_list_free(legacy_list_t *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    free(list);
}

char *legacy_leak_a_copy(const char *name)
{
    char *twin = strdup(name); /* site: leak */
    if (twin != NULL)
        twin[0] = name[0];
    return strdup(name);
}

void legacy_double_free(void)
{
    char *buffer = malloc(32); /* site: double_alloc */
    char *volatile owner = buffer; /* a second owner the compiler cannot follow */
    if (buffer == NULL)
        return;
    memset(buffer, 0, 32);
    free(buffer); /* site: first_free */
    free(owner); /* site: second_free */
}
