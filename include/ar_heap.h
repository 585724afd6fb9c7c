/*
 * ar_heap.h: tracked heap allocation for C programs and their test binaries.
 *
 * Allocate through the AR__HEAP__* macros. Each macro takes a short
 * description of the block ("config path", "agent map") so that leak and
 * error reports say what a block is, not only where it came from.
 *
 *     char *copy = AR__HEAP__STRDUP(name, "agent name");
 *     int *scores = AR__HEAP__CALLOC(10, sizeof *scores, "score history");
 *     AR__HEAP__FREE(copy);
 *
 * Two modes, chosen when the library is configured:
 *
 *   debug heap (./configure --enable-debug-heap)
 *     The macros call ar_heap__malloc() and its siblings with __FILE__,
 *     __LINE__ and the description. Every live block is tracked; frees of
 *     pointers that are not live blocks (double, interior, never allocated)
 *     are reported and never reach libc; leaks are reported at exit.
 *
 *   release (the default)
 *     The macros expand to malloc, calloc, realloc, strdup and free. The
 *     description is never evaluated and no code is added.
 *
 * The mode comes from the installed <ar_heap_config.h>. Defining
 * AR_HEAP_DISABLE before including this header forces release macros in
 * one translation unit. A block must be freed in the mode it was allocated
 * in: a block from a release-mode unit handed to a tracked AR__HEAP__FREE is
 * reported as an invalid free, and a tracked block handed to libc's free()
 * is undefined behaviour. See ar_heap(3) for the whole contract.
 *
 * Everything this header declares exists in both library builds; in a
 * release library the functions are plain pass-throughs to libc and the
 * reports and statistics are empty.
 */
#ifndef AR_HEAP_H
#define AR_HEAP_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ar_heap_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AR_HEAP_TRACKING: 1 when the macros in this translation unit track. */
#if AR_HEAP_CONFIG_DEBUG && !defined(AR_HEAP_DISABLE)
#define AR_HEAP_TRACKING 1
#else
#define AR_HEAP_TRACKING 0
#endif

/* Attributes that tell compilers and static analysers what the allocation
 * functions promise. Each is used only where the compiler has it. */
#if defined(__has_attribute)
#if __has_attribute(malloc)
#define AR_HEAP_ATTR_MALLOC __attribute__((malloc))
#endif
#if __has_attribute(alloc_size)
#define AR_HEAP_ATTR_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#endif
#if __has_attribute(warn_unused_result)
#define AR_HEAP_ATTR_NODISCARD __attribute__((warn_unused_result))
#endif
#endif
#ifndef AR_HEAP_ATTR_MALLOC
#define AR_HEAP_ATTR_MALLOC
#endif
#ifndef AR_HEAP_ATTR_ALLOC_SIZE
#define AR_HEAP_ATTR_ALLOC_SIZE(...)
#endif
#ifndef AR_HEAP_ATTR_NODISCARD
#define AR_HEAP_ATTR_NODISCARD
#endif

/*
 * ar_heap__malloc: allocate `size` bytes, tracked with file, line and desc.
 * Returns NULL with errno ENOMEM when memory is exhausted or size is too
 * large (above PTRDIFF_MAX less the block's overhead, as glibc refuses). size 0 returns a unique non-NULL
 * zero-byte block that must be freed. `file` must outlive the block (the
 * macros pass __FILE__); `desc` is copied (first 63 bytes) and may be NULL.
 * Use AR__HEAP__MALLOC rather than calling this directly.
 */
AR_HEAP_ATTR_MALLOC AR_HEAP_ATTR_ALLOC_SIZE(1) AR_HEAP_ATTR_NODISCARD
void *ar_heap__malloc(size_t size, const char *file, int line, const char *desc);

/*
 * ar_heap__calloc: allocate `count` zeroed objects of `size` bytes.
 * count * size overflowing size_t returns NULL with errno ENOMEM.
 */
AR_HEAP_ATTR_MALLOC AR_HEAP_ATTR_ALLOC_SIZE(1, 2) AR_HEAP_ATTR_NODISCARD
void *ar_heap__calloc(size_t count, size_t size, const char *file, int line, const char *desc);

/*
 * ar_heap__realloc: resize a tracked block, as realloc does.
 * ptr NULL behaves as ar_heap__malloc. size 0 with a non-NULL ptr frees the
 * block and returns NULL (glibc's behaviour). A debug heap always moves the
 * block to a new address, so stale pointers to the old one are caught. On
 * failure NULL is returned and the old block is untouched. A ptr that is
 * not a live block is reported (double-free when it was freed recently,
 * else invalid-free) and NULL returned.
 */
AR_HEAP_ATTR_ALLOC_SIZE(2) AR_HEAP_ATTR_NODISCARD
void *ar_heap__realloc(void *ptr, size_t size, const char *file, int line, const char *desc);

/*
 * ar_heap__strdup: tracked copy of a NUL-terminated string.
 * In a debug library, str NULL is reported as an invalid-argument error
 * and returns NULL with errno EINVAL when the error action lets the
 * program go on. (A release library passes it to strdup: undefined.)
 */
AR_HEAP_ATTR_MALLOC AR_HEAP_ATTR_NODISCARD
char *ar_heap__strdup(const char *str, const char *file, int line, const char *desc);

/*
 * ar_heap__strndup: a tracked copy of at most `n` bytes of `str`, always
 * NUL-terminated (POSIX strndup). NULL str is reported as STRDUP's is.
 */
char *ar_heap__strndup(const char *str, size_t n, const char *file, int line, const char *desc);

/*
 * ar_heap__free_at: free a tracked block; file and line say where the free
 * is, for double-free reports. NULL is a no-op. A pointer that is not a live
 * tracked block is reported (double-free or invalid-free) and is never
 * passed to libc.
 */
void ar_heap__free_at(void *ptr, const char *file, int line);

/* ar_heap__free: ar_heap__free_at without a site (AgeRun's signature). */
void ar_heap__free(void *ptr);

/*
 * ar_heap_call_site_t: one call of an AR__HEAP__* macro in the source, as
 * the macros make it where the compiler lets them (GCC and Clang,
 * compiling C): a static object of the calling function holding the
 * call's file, line and description, and what arheap remembers there of
 * the call (memo_pc, memo_id: zero at first, written once by arheap, never
 * by the program). A tracked allocation needs the context it was made in
 * (site, description) as an id from arheap's store of contexts; with the
 * call's own object it finds it in one compare instead of a lookup.
 * desc must be a string literal or NULL: its text is the same at every
 * call.
 */
typedef struct ar_heap_call_site_s {
    const char *file;
    int line;
    const char *desc;
    const void *memo_pc;  /* arheap's: the return address the id is for */
    unsigned int memo_id; /* arheap's: 0 until then */
} ar_heap_call_site_t;

/*
 * ar_heap__malloc_site, ar_heap__calloc_site, ar_heap__realloc_site,
 * ar_heap__strdup_site, ar_heap__free_site: ar_heap__malloc,
 * ar_heap__calloc, ar_heap__realloc, ar_heap__strdup and ar_heap__free_at
 * with the call's file, line and description in `site`, which must live
 * as long as the program (the macros pass a static object) and be used by
 * one call of the source only. What they do, return and report is what
 * their siblings do. Called by the AR__HEAP__* macros, not directly.
 */
AR_HEAP_ATTR_MALLOC AR_HEAP_ATTR_ALLOC_SIZE(1) AR_HEAP_ATTR_NODISCARD
void *ar_heap__malloc_site(size_t size, ar_heap_call_site_t *site);
AR_HEAP_ATTR_MALLOC AR_HEAP_ATTR_ALLOC_SIZE(1, 2) AR_HEAP_ATTR_NODISCARD
void *ar_heap__calloc_site(size_t count, size_t size, ar_heap_call_site_t *site);
AR_HEAP_ATTR_ALLOC_SIZE(2) AR_HEAP_ATTR_NODISCARD
void *ar_heap__realloc_site(void *ptr, size_t size, ar_heap_call_site_t *site);
AR_HEAP_ATTR_MALLOC AR_HEAP_ATTR_NODISCARD
char *ar_heap__strdup_site(const char *str, ar_heap_call_site_t *site);
void ar_heap__free_site(void *ptr, ar_heap_call_site_t *site);

/*
 * ar_heap__memory_report: write the leak report now: the full report to
 * the report file (option report_path, else the environment variable
 * AGERUN_MEMORY_REPORT, else heap_memory_report.log) and a short summary to
 * stderr when blocks are live. Also runs at exit when option leak_report
 * is 1 (the default).
 */
void ar_heap__memory_report(void);

/*
 * ar_heap__set_options: apply options written as in AR_HEAP_OPTIONS
 * ("key=value:key=value"). Called before the first allocation, they become
 * the defaults that AR_HEAP_OPTIONS then overrides; called later, they take
 * effect for the operations that follow. Unknown keys and malformed values
 * are warned about on stderr, naming the key, and skipped. Returns the
 * number of problems (0 when every pair was applied).
 */
int ar_heap__set_options(const char *options);

/* ar_heap_stats_t: counters of the tracked heap (all zero in release). */
typedef struct ar_heap_stats_s {
    size_t total_allocations; /* blocks ever allocated (realloc counts one) */
    size_t live_blocks;       /* blocks allocated and not yet freed */
    size_t live_bytes;        /* bytes requested by the live blocks */
    size_t peak_live_bytes;   /* highest live_bytes seen so far: exact in one thread; with
                                 several, an upper bound, above the true peak by at most
                                 64 KiB for each thread (each counts its own part and adds
                                 it to the whole every 64 KiB of change) */
    size_t total_bytes;       /* bytes requested by every allocation */
    size_t quarantine_blocks; /* freed blocks held in the quarantine */
    size_t quarantine_bytes;  /* memory they cost: their slots, bookkeeping */
    size_t guarded_blocks;    /* live blocks placed against guard pages (option guard) */
    size_t errors_reported;   /* error reports written so far (leaks are not errors) */
    size_t failures_injected; /* allocations failed on purpose (options fail_*, sweeps) */
    /* How guard pages are made (option guard_mechanism): "madvise" (guard
     * markers), "mprotect" (PROT_NONE mappings), or "none" before the
     * first guarded block. A static string; never NULL. */
    const char *guard_mechanism;
} ar_heap_stats_t;

/* ar_heap__get_stats: copy a consistent snapshot of the counters to *out. */
void ar_heap__get_stats(ar_heap_stats_t *out);

/*
 * ar_heap__check_all: check every live block's canaries and every
 * quarantined block's canaries and poison now. Each damaged block is
 * reported (heap-buffer-overflow, heap-buffer-underflow, heap-use-after-free);
 * then, if any was, the error action applies. Returns the number of
 * damaged blocks (0 in a release library).
 */
size_t ar_heap__check_all(void);

/*
 * Per-test leak checks. A mark is a point in the sequence of allocations
 * (REALLOC counts as an allocation of its new block).
 *
 * ar_heap__checkpoint: the mark of "now" (0 in a release library).
 */
typedef unsigned long long ar_heap_mark_t;
ar_heap_mark_t ar_heap__checkpoint(void);

/*
 * ar_heap__leaks_since: the number of blocks allocated after `mark` that
 * are still live, leaving out blocks allowed to leak (ar_heap__allow_leak,
 * or a description containing INTENTIONAL_LEAK_FOR_TESTING). With `report`
 * not 0, each of them is also listed on stderr with its size, description
 * and allocation site. 0 in a release library.
 */
size_t ar_heap__leaks_since(ar_heap_mark_t mark, int report);

/*
 * ar_heap__leaks_since_text: as ar_heap__leaks_since, listing the blocks
 * in buf instead (one line each, as much as fits in `size` bytes, always
 * NUL-terminated when size is not 0), for a test's failure message.
 */
size_t ar_heap__leaks_since_text(ar_heap_mark_t mark, char *buf, size_t size);

/*
 * ar_heap__allow_leak: mark the live block at ptr as expected to outlive
 * the test (or the program): it is left out of ar_heap__leaks_since and
 * listed as intentional in the leak report. Returns 1 when ptr is a live
 * block, 0 otherwise (no report). 0 in a release library.
 */
int ar_heap__allow_leak(const void *ptr);

/*
 * Out-of-memory sweeps. ar_heap__sweep_failures runs body(arg) again and
 * again: the first time with the body's 1st tracked allocation failing
 * (NULL, errno ENOMEM), then its 2nd, its 3rd ... until a run in which no
 * allocation was failed (the body allocated fewer times than the number
 * to fail). After each run it checks that the body leaked no block and
 * caused no error report; each run that did is described on stderr with
 * the failed allocation's number and the leaked blocks. The body must be
 * runnable many times and must free what it allocates, on every path.
 * The fail_* options in force are suspended meanwhile and restored after.
 * Returns the number of runs that leaked or reported (0: every error path
 * is clean); fills *out unless it is NULL. In a release library the body
 * runs once and 0 is returned.
 */
typedef struct ar_heap_sweep_s {
    size_t runs;          /* runs made, the last one without a failure */
    size_t failing_runs;  /* runs after which blocks leaked or errors were reported */
    size_t first_failing; /* the allocation whose failure showed the first problem; 0 none;
                             SIZE_MAX: the run without a failure leaked or reported */
} ar_heap_sweep_t;
size_t ar_heap__sweep_failures(void (*body)(void *arg), void *arg, ar_heap_sweep_t *out);

/* ar_heap__has_tracking: 1 when the library was built with the debug heap. */
int ar_heap__has_tracking(void);

/*
 * ar_heap__describe: write to stderr what arheap knows of the address
 * `addr`, for use from a debugger (gdb: `call ar_heap__describe(p)`):
 * whether it lies in a live block, a freed block held in the quarantine,
 * or a recently freed one whose record is still kept (option
 * freed_history); at which offset inside it, or how many bytes before or
 * after it (in a canary zone); the block's size, description, allocation
 * and free sites and call stacks. Or that arheap knows nothing of it.
 * Other threads are held outside the heap meanwhile, and nothing is
 * allocated. A release library says that the heap is not tracked.
 */
void ar_heap__describe(const void *addr);

/*
 * Includers that have no __FILE__ and __LINE__: Zig's translate-c
 * (@cImport) refuses any macro that uses them, and keeps the first
 * definition of a macro, so the tracked macros below could never be
 * called from Zig. When __ZIG__ is defined (AgeRun's build passes
 * -D__ZIG__ to zig) or the includer defines AR_HEAP_SITE_FILE before
 * including this header, the tracked macros pass AR_HEAP_SITE_FILE and
 * AR_HEAP_SITE_LINE as the site instead, "zig" and 0 unless defined.
 * Zig code that wants each call's own file and line uses arheap's
 * ar_allocator.zig (see ar_allocator.zig(3)), which calls the functions
 * above directly. C includers that define neither macro get the
 * __FILE__ and __LINE__ macros below, unchanged.
 */
#if AR_HEAP_TRACKING && (defined(__ZIG__) || defined(AR_HEAP_SITE_FILE))

#ifndef AR_HEAP_SITE_FILE
#define AR_HEAP_SITE_FILE "zig"
#endif
#ifndef AR_HEAP_SITE_LINE
#define AR_HEAP_SITE_LINE 0
#endif

#define AR__HEAP__MALLOC(size, desc) \
    ar_heap__malloc((size), AR_HEAP_SITE_FILE, AR_HEAP_SITE_LINE, (desc))
#define AR__HEAP__CALLOC(count, size, desc) \
    ar_heap__calloc((count), (size), AR_HEAP_SITE_FILE, AR_HEAP_SITE_LINE, (desc))
#define AR__HEAP__REALLOC(ptr, size, desc) \
    ar_heap__realloc((ptr), (size), AR_HEAP_SITE_FILE, AR_HEAP_SITE_LINE, (desc))
#define AR__HEAP__STRDUP(str, desc) \
    ar_heap__strdup((str), AR_HEAP_SITE_FILE, AR_HEAP_SITE_LINE, (desc))
#define AR__HEAP__FREE(ptr) ar_heap__free_at((ptr), AR_HEAP_SITE_FILE, AR_HEAP_SITE_LINE)

#elif AR_HEAP_TRACKING && defined(__GNUC__) && !defined(__cplusplus) && \
    !defined(AR_HEAP_NO_CALL_SITES)

/*
 * GCC and Clang, compiling C: each call of a macro whose description is a
 * string literal or NULL (known when compiled) gets a static
 * ar_heap_call_site_t of its own and calls the _site function; any other
 * description is passed to ar_heap__malloc and its siblings as below, and
 * evaluated once. What a program sees and what reports say is the same
 * either way; the _site calls are faster (ar_heap_call_site_t). Defining
 * AR_HEAP_NO_CALL_SITES before including this header makes every call
 * take the functions with file and line.
 */
#define AR_HEAP_CALL_SITE(desc)                                                           \
    (__extension__({                                                                      \
        static ar_heap_call_site_t ar_heap_call_site_ = {                                 \
            __FILE__, __LINE__,                                                           \
            __builtin_choose_expr(__builtin_constant_p(desc), (desc), (const char *)0), 0, \
            0};                                                                           \
        &ar_heap_call_site_;                                                              \
    }))
#define AR__HEAP__MALLOC(size, desc)                                                \
    __builtin_choose_expr(__builtin_constant_p(desc),                               \
                          ar_heap__malloc_site((size), AR_HEAP_CALL_SITE(desc)),    \
                          ar_heap__malloc((size), __FILE__, __LINE__, (desc)))
#define AR__HEAP__CALLOC(count, size, desc)                                                  \
    __builtin_choose_expr(__builtin_constant_p(desc),                                        \
                          ar_heap__calloc_site((count), (size), AR_HEAP_CALL_SITE(desc)),    \
                          ar_heap__calloc((count), (size), __FILE__, __LINE__, (desc)))
#define AR__HEAP__REALLOC(ptr, size, desc)                                                 \
    __builtin_choose_expr(__builtin_constant_p(desc),                                      \
                          ar_heap__realloc_site((ptr), (size), AR_HEAP_CALL_SITE(desc)),   \
                          ar_heap__realloc((ptr), (size), __FILE__, __LINE__, (desc)))
#define AR__HEAP__STRDUP(str, desc)                                               \
    __builtin_choose_expr(__builtin_constant_p(desc),                             \
                          ar_heap__strdup_site((str), AR_HEAP_CALL_SITE(desc)),   \
                          ar_heap__strdup((str), __FILE__, __LINE__, (desc)))
#define AR__HEAP__FREE(ptr) ar_heap__free_site((ptr), AR_HEAP_CALL_SITE(NULL))

#elif AR_HEAP_TRACKING

#define AR__HEAP__MALLOC(size, desc) ar_heap__malloc((size), __FILE__, __LINE__, (desc))
#define AR__HEAP__CALLOC(count, size, desc) \
    ar_heap__calloc((count), (size), __FILE__, __LINE__, (desc))
#define AR__HEAP__REALLOC(ptr, size, desc) \
    ar_heap__realloc((ptr), (size), __FILE__, __LINE__, (desc))
#define AR__HEAP__STRDUP(str, desc) ar_heap__strdup((str), __FILE__, __LINE__, (desc))
#define AR__HEAP__FREE(ptr) ar_heap__free_at((ptr), __FILE__, __LINE__)

#else /* release: straight to libc, desc never evaluated */

/* strdup is POSIX (and C23). A strict ISO C unit (-std=c11, no feature
 * macro) gets no prototype from <string.h>; declare it there only, with
 * the same type as libc's, so other units see no redundant declaration. */
#if defined(__STRICT_ANSI__) && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && \
    !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE) && \
    !(defined(__STDC_VERSION__) && __STDC_VERSION__ > 201710L)
extern char *strdup(const char *ar_heap_str);
#endif

#define AR__HEAP__MALLOC(size, desc) malloc(size)
#define AR__HEAP__CALLOC(count, size, desc) calloc((count), (size))
#define AR__HEAP__REALLOC(ptr, size, desc) realloc((ptr), (size))
#define AR__HEAP__STRDUP(str, desc) strdup(str)
#define AR__HEAP__FREE(ptr) free(ptr)

#endif /* AR_HEAP_TRACKING */

#ifdef __cplusplus
}
#endif

#endif /* AR_HEAP_H */
