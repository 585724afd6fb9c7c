/*
 * golden.h: what the programs of the golden report tests share
 * (tests/golden/run.sh runs them; README there).
 *
 * Each source is built twice: with GOLDEN_LINKED, its allocations are
 * arheap's macros and the program is linked with libarheap
 * (golden_linked); without, they are the plain libc calls of any
 * unmodified program, and the program knows nothing of arheap
 * (golden_plain, run under LD_PRELOAD=libarheap-preload.so). The calls are
 * on the same lines in both, so both modes' goldens name the same lines.
 */
#ifndef GOLDEN_H
#define GOLDEN_H

#include <stddef.h>

#ifdef GOLDEN_LINKED
#include <ar_heap.h>
#define G_MALLOC(size, desc) AR__HEAP__MALLOC((size), (desc))
#define G_REALLOC(ptr, size, desc) AR__HEAP__REALLOC((ptr), (size), (desc))
#define G_STRDUP(str, desc) AR__HEAP__STRDUP((str), (desc))
#define G_FREE(ptr) AR__HEAP__FREE(ptr)
/* Not in the plain program: there the check at exit finds the damage. */
#define G_CHECK_ALL() ((void)ar_heap__check_all())
#else
#include <stdlib.h>
#include <string.h>
#define G_MALLOC(size, desc) malloc(size)
#define G_REALLOC(ptr, size, desc) realloc((ptr), (size))
#define G_STRDUP(str, desc) strdup(str)
#define G_FREE(ptr) free(ptr)
#define G_CHECK_ALL() ((void)0)
#endif

/* The pointer back, through a volatile: the compiler can not see that an
 * access through it is out of bounds or after a free, and neither warns
 * nor drops it. */
void *golden_opaque(void *ptr);
/* The last pointer given to golden_opaque(). */
void *golden_stale(void);

/* One function for each kind of report (main.c runs the one named). */
void golden_overflow(void);
void golden_overflow_realloc(void);
void golden_overflow_many(void);
void golden_underflow(void);
void golden_use_after_free(void);
void golden_use_after_free_reuse(void);
void golden_double_free(void);
void golden_double_free_realloc(void);
void golden_invalid_free_interior(void);
void golden_invalid_free_foreign(void);
void golden_invalid_argument(void);
void golden_invalid_argument_strndup(void);
void golden_guard_overflow_write(void);
void golden_guard_overflow_read(void);
void golden_guard_underflow_write(void);
void golden_guard_use_after_free_write(void);
void golden_guard_use_after_free_read(void);
void golden_leak(void);
void golden_leak_intentional(void);
void golden_describe(void);

#endif
