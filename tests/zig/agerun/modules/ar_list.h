/* ar_list.h: a list of strings, written in Zig (ar_list.zig). */
#ifndef AR_LAYOUT_LIST_H
#define AR_LAYOUT_LIST_H

#include <stddef.h>

typedef struct ar_list_s ar_list_t;

ar_list_t *ar_list__create(void);
int ar_list__add(ar_list_t *list, const char *item);
size_t ar_list__count(const ar_list_t *list);
const char *ar_list__at(const ar_list_t *list, size_t index);
void ar_list__destroy(ar_list_t *list);
/* Planted bugs for the test: a copy never freed, a block freed twice. */
void ar_list__leak_one(const char *item);
void ar_list__free_twice(void);

#endif /* AR_LAYOUT_LIST_H */
