/*
 * ar_allocator.h: typed allocation macros over ar_heap.h.
 *
 * Why this header exists: the AR__HEAP__* macros in ar_heap.h are the libc
 * calls with a description added, so they keep libc's weak spots. Sizes are
 * computed by hand (malloc(sizeof(struct wrong_type))), the result is a
 * void * that converts silently to any object pointer, realloc(p, n * size)
 * overflows without a word, strdup accepts any pointer that converts to
 * const char *, and free accepts an integer where a pointer was meant.
 * These macros take the element type instead of a byte count, return a
 * pointer of that type, check n * sizeof(T) for overflow, and refuse at
 * compile time the misuses that ar_heap.h would let through:
 *
 *     agent_t *agent = AR__ALLOCATOR__CREATE(agent_t, "agent");
 *     int *scores = AR__ALLOCATOR__ALLOC(int, 10, "score history");
 *     char *name = AR__ALLOCATOR__DUPE(argv[1], "agent name");
 *     int *more = AR__ALLOCATOR__REALLOC(int, scores, 20, "score history");
 *     if (more != NULL)
 *         scores = more;
 *     AR__ALLOCATOR__FREE(scores);
 *     AR__ALLOCATOR__FREE(name);
 *     AR__ALLOCATOR__FREE(agent);
 *
 * They cost nothing over ar_heap.h: each macro evaluates each argument
 * exactly once, the checks live in unevaluated sizeof operands, and in a
 * release translation unit (AR_HEAP_TRACKING 0) the description is never
 * evaluated and the code compiled is exactly the libc call a careful
 * programmer would write (tests/zero_overhead.sh compares the machine code).
 * The mode is ar_heap.h's: the installed <ar_heap_config.h>, or release
 * when AR_HEAP_DISABLE is defined before the first include.
 *
 * Misuse is a compile error, not a warning, whose message names the macro
 * and what it wanted, e.g.
 *     static assertion failed: "AR__ALLOCATOR__DUPE needs a char * or
 *     const char * string"
 * The checks need C11 (_Static_assert, _Generic); AR__ALLOCATOR__FREE's
 * pointer check also needs __builtin_classify_type (gcc, clang) and is left
 * out on other compilers. Compiled as C++ the macros work without the
 * compile-time checks. See ar_allocator(3).
 */
#ifndef AR_ALLOCATOR_H
#define AR_ALLOCATOR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ar_heap.h"

#if !defined(__cplusplus) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L)
#error "ar_allocator.h needs C11 (_Static_assert and _Generic): compile with -std=c11 or later"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * AR_ALLOCATOR__CHECK(cond, msg): a compile-time assertion usable where an
 * expression is expected. C11 allows a static_assert-declaration as a
 * member declaration of a struct, so the assertion is placed in an unnamed
 * struct whose size is taken and discarded; sizeof does not evaluate its
 * operand, so nothing runs and no code is generated. cond must be an
 * integer constant expression and msg a string literal. Internal.
 */
#ifdef __cplusplus
#define AR_ALLOCATOR__CHECK(cond, msg) ((void)0)
#else
#define AR_ALLOCATOR__CHECK(cond, msg) \
    ((void)sizeof(struct { \
        _Static_assert((cond), msg); \
        int ar_allocator__check; \
    }))
#endif

/*
 * AR_ALLOCATOR__IS_STRING(str): 1 when str has type char * or const char *
 * after lvalue conversion (so char arrays, const char arrays and string
 * literals, which decay to these, count), else 0. str is not evaluated.
 * Internal.
 */
#define AR_ALLOCATOR__IS_STRING(str) \
    _Generic((str), char *: 1, const char *: 1, default: 0)

/*
 * AR_ALLOCATOR__IS_POINTER(x): 1 when x is a pointer (or an array or
 * function, which decay to one), 0 when it is an arithmetic, struct or
 * union value. Uses __builtin_classify_type, whose pointer class is 5 in
 * gcc and clang. Defined only where the builtin exists. Internal.
 */
#if !defined(__cplusplus)
#if defined(__has_builtin)
#if __has_builtin(__builtin_classify_type)
#define AR_ALLOCATOR__IS_POINTER(x) (__builtin_classify_type(x) == 5)
#endif
#endif
#if !defined(AR_ALLOCATOR__IS_POINTER) && defined(__GNUC__)
#define AR_ALLOCATOR__IS_POINTER(x) (__builtin_classify_type(x) == 5)
#endif
#endif

/*
 * AR__ALLOCATOR__CREATE(T, desc): allocate one uninitialised T.
 * Returns a T * (NULL with errno ENOMEM when memory is exhausted) to be
 * released with AR__ALLOCATOR__FREE. Same as
 * (T *)AR__HEAP__MALLOC(sizeof(T), desc). Assigning the result to a
 * pointer of another type draws the compiler's incompatible-pointer
 * diagnostic, which is an error only from gcc 14 on: gcc 12 and clang 14
 * merely warn, so build with -Werror=incompatible-pointer-types (or
 * -Werror) to make it one. The macro cannot check this itself: it does not
 * see the destination.
 */
#define AR__ALLOCATOR__CREATE(T, desc) ((T *)AR__HEAP__MALLOC(sizeof(T), (desc)))

/*
 * AR__ALLOCATOR__ALLOC(T, n, desc): allocate n zeroed T (an array).
 * Returns a T *. n * sizeof(T) overflowing size_t returns NULL with errno
 * ENOMEM (calloc checks the product itself), as does exhausted memory.
 * Same as (T *)AR__HEAP__CALLOC((n), sizeof(T), desc).
 */
#define AR__ALLOCATOR__ALLOC(T, n, desc) ((T *)AR__HEAP__CALLOC((n), sizeof(T), (desc)))

/*
 * AR__ALLOCATOR__DUPE(str, desc): copy a NUL-terminated string.
 * Returns a char * (NULL with errno ENOMEM when memory is exhausted).
 * str must be a char * or const char *; char arrays and string literals
 * decay to these and are accepted. Anything else (unsigned char *,
 * int *, an integer, a struct) is refused at compile time with
 * "AR__ALLOCATOR__DUPE needs a char * or const char * string".
 */
#define AR__ALLOCATOR__DUPE(str, desc) \
    (AR_ALLOCATOR__CHECK(AR_ALLOCATOR__IS_STRING(str), \
                         "AR__ALLOCATOR__DUPE needs a char * or const char * string"), \
     AR__HEAP__STRDUP((str), (desc)))

/*
 * AR__ALLOCATOR__REALLOC(T, ptr, n, desc): resize the array at ptr to n T.
 * Returns a T *: the resized block, or NULL on failure with the old block
 * untouched and still owned by the caller, so keep ptr until the result is
 * known:
 *     int *grown = AR__ALLOCATOR__REALLOC(int, scores, 2 * count, "scores");
 *     if (grown == NULL) { ... scores is still valid ... }
 * ptr must have type T * exactly (a T *const variable is fine); any other
 * pointer, void * and a bare NULL included, is refused at compile time with
 * "AR__ALLOCATOR__REALLOC needs ptr of type T *" (naming T). A null T *
 * allocates, as realloc does. n * sizeof(T) overflowing size_t returns
 * NULL with errno ENOMEM before anything is allocated or freed. n 0 with a
 * live block frees it and returns NULL, as ar_heap__realloc does.
 */
#define AR__ALLOCATOR__REALLOC(T, ptr, n, desc) \
    (AR_ALLOCATOR__CHECK(_Generic((ptr), T *: 1, default: 0), \
                         "AR__ALLOCATOR__REALLOC needs ptr of type " #T " *"), \
     (T *)AR_ALLOCATOR__REALLOC_ARRAY((ptr), (n), sizeof(T), (desc)))

/*
 * AR__ALLOCATOR__FREE(ptr): release a block from any of these macros (or
 * from the AR__HEAP__* macros). NULL is a no-op. ptr may be any object
 * pointer, const-qualified ones included (the const is cast away for the
 * free; -Wcast-qual, which is not in -Wall or -Wextra, warns about that
 * cast). A non-pointer (integer, floating value, struct) is refused at
 * compile time with "AR__ALLOCATOR__FREE needs a pointer" on gcc and clang.
 */
#ifdef AR_ALLOCATOR__IS_POINTER
#define AR__ALLOCATOR__FREE(ptr) \
    (AR_ALLOCATOR__CHECK(AR_ALLOCATOR__IS_POINTER(ptr), \
                         "AR__ALLOCATOR__FREE needs a pointer"), \
     AR__HEAP__FREE((void *)(ptr)))
#else
#define AR__ALLOCATOR__FREE(ptr) AR__HEAP__FREE((void *)(ptr))
#endif

/*
 * ar_allocator__realloc_array_at (tracking) and ar_allocator__realloc_array
 * (release): the body of AR__ALLOCATOR__REALLOC. Functions rather than
 * macro code so that ptr and n are evaluated exactly once. The
 * parameters are prefixed so that they shadow no user name. ar_max_n is
 * SIZE_MAX / size, computed by the macro as a constant: comparing n with a
 * constant is the test written by hand before a realloc, and it compiles to
 * the same code as that test (dividing by size here would let gcc turn the
 * test into an overflow-checked multiply and lay out the code differently).
 * AR_ALLOCATOR__REALLOC_ARRAY(ptr, n, size, desc) calls the helper of the
 * mode; size must be a constant sizeof, never 0 (ISO C has no empty
 * types). Internal.
 */
#if AR_HEAP_TRACKING

static inline void *ar_allocator__realloc_array_at(void *ar_ptr, size_t ar_n, size_t ar_size,
                                                   size_t ar_max_n, const char *ar_file,
                                                   int ar_line, const char *ar_desc)
{
    if (ar_n > ar_max_n) {
        errno = ENOMEM;
        return NULL;
    }
    return ar_heap__realloc(ar_ptr, ar_n * ar_size, ar_file, ar_line, ar_desc);
}

#define AR_ALLOCATOR__REALLOC_ARRAY(ptr, n, size, desc) \
    ar_allocator__realloc_array_at((ptr), (n), (size), SIZE_MAX / (size), __FILE__, __LINE__, \
                                   (desc))

#else /* release: desc is never evaluated */

static inline void *ar_allocator__realloc_array(void *ar_ptr, size_t ar_n, size_t ar_size,
                                                size_t ar_max_n)
{
    if (ar_n > ar_max_n) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ar_ptr, ar_n * ar_size);
}

#define AR_ALLOCATOR__REALLOC_ARRAY(ptr, n, size, desc) \
    ar_allocator__realloc_array((ptr), (n), (size), SIZE_MAX / (size))

#endif /* AR_HEAP_TRACKING */

#ifdef __cplusplus
}
#endif

#endif /* AR_ALLOCATOR_H */
