/*
 * ar_heap.h: the project's own heap header, as AgeRun has one: a name
 * that arheap's <ar_heap.h> would clash with. It takes arheap's header
 * by its other name, <arheap/ar_heap.h>. (tests/zig/agerun_layout.sh)
 */
#ifndef AR_LAYOUT_HEAP_H
#define AR_LAYOUT_HEAP_H

#include <arheap/ar_heap.h>

#endif /* AR_LAYOUT_HEAP_H */
