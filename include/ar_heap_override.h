/*
 * ar_heap_override.h: route a source file's own calls of malloc, calloc,
 * realloc, strdup, strndup and free to the tracked heap, with file:line
 * sites, without editing the file:
 *
 *     cc -include ar_heap_override.h -c legacy.c
 *
 * or `#include <ar_heap_override.h>` before anything else in the file.
 * Each call becomes the AR__HEAP__* macro of the same name; the block's
 * description is the libc function's name ("malloc", "strdup", ...).
 *
 * Limits (those of any macro): only calls written in the including file
 * are routed, not calls inside other libraries; a use of the name without
 * a call (`fn = free;`) still means libc's function, and a block from the
 * tracked heap must not reach libc's free, nor a block from libc the
 * tracked FREE (which reports it as an invalid free and does not free it).
 * So a file whose blocks cross into code that frees with libc (or the
 * other way) must not use this header; the preload library covers whole
 * programs instead. In a release build (AR_HEAP_DISABLE or a library
 * built without the debug heap) nothing is redefined.
 *
 * The C library's headers that declare these functions are included
 * first, so that the macros below can not rewrite their declarations.
 * With glibc that includes <malloc.h>, whose other names (pvalloc,
 * memalign, mallinfo, ...) then clash with a file that declares one of
 * them for a function of its own (cfrac, a bignum program, has its own
 * pvalloc). Such a file, if it does not include <malloc.h> itself, is
 * compiled with -DAR_HEAP_OVERRIDE_NO_MALLOC_H: <malloc.h> is left out
 * (and an #include <malloc.h> after this header then fails to compile,
 * its declarations rewritten by the macros: loudly, never silently).
 */
#ifndef AR_HEAP_OVERRIDE_H
#define AR_HEAP_OVERRIDE_H

#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__) && !defined(AR_HEAP_OVERRIDE_NO_MALLOC_H)
#include <malloc.h>
#endif

#include "ar_heap.h"

#if AR_HEAP_TRACKING

#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef strndup
#undef free
#define malloc(size) AR__HEAP__MALLOC((size), "malloc")
#define calloc(count, size) AR__HEAP__CALLOC((count), (size), "calloc")
#define realloc(ptr, size) AR__HEAP__REALLOC((ptr), (size), "realloc")
#define strdup(str) AR__HEAP__STRDUP((str), "strdup")
#define strndup(str, n) ar_heap__strndup((str), (n), __FILE__, __LINE__, "strndup")
#define free(ptr) AR__HEAP__FREE(ptr)

#else /* release: the calls are libc's own */

/* strndup is POSIX (and C23). In a strict ISO C unit (-std=c11, no
 * feature macro) <string.h> declares none, where the debug build's
 * strndup is the macro above: declared here, with libc's type, the unit
 * compiles in both modes (until stop 42 only in the debug one). */
#if defined(__STRICT_ANSI__) && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && \
    !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE) && \
    !(defined(__STDC_VERSION__) && __STDC_VERSION__ > 201710L)
extern char *strndup(const char *ar_heap_str, size_t ar_heap_n);
#endif

#endif /* AR_HEAP_TRACKING */

#endif /* AR_HEAP_OVERRIDE_H */
