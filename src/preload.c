/*
 * preload.c: arheap as the malloc of an unmodified program.
 *
 *     LD_PRELOAD=/usr/local/lib/libarheap-preload.so AR_HEAP_OPTIONS=guard=1 prog
 *
 * Built only into libarheap-preload.so (AR_HEAP_PRELOAD=1, every other
 * symbol hidden), this file defines the C library's allocation functions;
 * the dynamic linker then binds every call to them, the program's and
 * glibc's own (strdup, getline, asprintf, fopen, thread stacks' TLS...),
 * which glibc routes through malloc precisely so that it can be replaced.
 *
 * Sites: the call carries no file:line, so a block's site is the return
 * address of its malloc call, printed as "0xPC in fn (module+0xoffset)",
 * with a call stack (stack_depth is 6 by default here).
 *
 * Where interposers break, and what this one does:
 * - Recursion. arheap's own work may call back into malloc: the first
 *   backtrace() loads libgcc's unwinder with dlopen, __cxa_atexit and
 *   pthread_atfork may grow their tables. A per-thread depth counter sees
 *   such a call coming from inside arheap and serves it from a static
 *   bootstrap arena instead (never freed, never tracked; a free of it is
 *   ignored). The backend is arheap's own (span.c), on mmap: it never
 *   calls back here.
 * - Calls before constructors run, and from the dynamic linker: the heap
 *   initialises itself on the first call, whichever that is; nothing here
 *   depends on a constructor.
 * - No dlsym: nothing of libc's allocator is used, so dlsym's own calloc
 *   can not recurse before it has answered.
 * - fork: the heap's fork handlers (thread.c) stop the world across the
 *   fork, so the child's heap is consistent; threads created before or
 *   after the first allocation are alike to it.
 * - Alignment: every entry point keeps its contract (below); the user
 *   bytes of an aligned block start on the boundary after a head canary
 *   of one alignment unit.
 * - malloc_usable_size is the size asked for: writing up to it is legal,
 *   and a byte more is the overflow the tail canary is there for.
 * - Exit: the check and the leak report must follow the program's last
 *   free, and programs and libraries free in atexit handlers and in ELF
 *   destructors. glibc's exit runs the atexit handlers, then _dl_fini,
 *   which finalises the program, then this library (nothing depends on
 *   it), then the libraries loaded after it (the program's own, dlopened
 *   ones) and libc. So this library's destructor registers the check as
 *   an exit handler of no object (__cxa_atexit with a null handle): glibc
 *   runs a handler registered while the handlers run once _dl_fini has
 *   returned, after every destructor, and before stdio's final flush.
 *   Blocks freed after the check are still tracked and freed as usual.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AR_PRELOAD_EXPORT __attribute__((visibility("default")))

/* This thread's state of the wrappers, in one initial-exec block (one
 * address for all; reading it calls nothing):
 *   depth        calls into arheap now in progress: above 0, a malloc is
 *                arheap's own;
 *   errno_saved  errno when the outermost call came in, put back when it
 *                returns (so the wrapper keeps no register across the
 *                call; a call made inside arheap neither saves nor puts
 *                back: the outermost one does). A signal handler's
 *                malloc may interrupt the outermost one anywhere, so
 *                depth is 1 before errno_saved is written and until
 *                errno is put back (ar_preload__step_in, _step_out): a
 *                handler that sees depth 0 finds errno_saved unused;
 *   errno_at     errno's address, once a wrapper asked (the C library's
 *                __errno_location was a call on every malloc and free);
 *   deferred     frees made while depth is above 0: by a signal handler
 *                that interrupted a call, whose thread state is then half
 *                updated (its quarantine batch, its FIFO and that FIFO's
 *                lock), or by the C library inside arheap's own calls.
 *                They are done when the outermost call returns
 *                (ar_preload__step_out), in the order made. Until stop 41
 *                they were done at once, on that half-updated state: a
 *                handler's free that interrupted a free crashed or hung
 *                the process. Past AR_PRELOAD_DEFERRED pending, a block
 *                is not freed (it stays live, and the leak report lists
 *                it). */
#define AR_PRELOAD_DEFERRED 16
__attribute__((tls_model("initial-exec"))) static _Thread_local struct {
    int depth;
    int errno_saved;
    int *errno_at;
    unsigned deferred_count;
    void *deferred[AR_PRELOAD_DEFERRED];
    const void *deferred_pc[AR_PRELOAD_DEFERRED];
} ar_preload_tls;

static void ar_preload__drain(void);

static inline int *ar_preload__errno(void)
{
    int *at = ar_preload_tls.errno_at;
    if (AR_HEAP_UNLIKELY(at == NULL))
        ar_preload_tls.errno_at = at = &errno;
    return at;
}

/* The outermost call comes in: depth first, then errno kept. (Written the
 * other way round, a handler's malloc between the two stores saw depth 0
 * and overwrote errno_saved with the handler's errno, which the
 * interrupted malloc then left behind: 104 of 3 million mallocs, a
 * handler that sets errno and mallocs on a signal sent in a loop.) */
static inline void ar_preload__step_in(void)
{
    ar_preload_tls.depth = 1;
    atomic_signal_fence(memory_order_seq_cst);
    ar_preload_tls.errno_saved = *ar_preload__errno();
}

/* It returns: errno put back (`restore`), then depth 0, then the frees
 * deferred meanwhile. A handler that comes after depth is 0 frees at
 * once; one that came before has counted its free by then. */
static inline void ar_preload__step_out(int restore)
{
    if (restore)
        *ar_preload_tls.errno_at = ar_preload_tls.errno_saved;
    atomic_signal_fence(memory_order_seq_cst);
    ar_preload_tls.depth = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (AR_HEAP_UNLIKELY(ar_preload_tls.deferred_count != 0))
        ar_preload__drain();
}

/* ------------------------------------------------------------ bootstrap arena */

/* Memory for allocations made from inside arheap. Each chunk has a
 * 16-byte header holding its size, so realloc can copy it out. */
#define AR_PRELOAD_ARENA_BYTES ((size_t)1 << 20)
#define AR_PRELOAD_ARENA_HEADER ((size_t)16)

static struct {
    _Alignas(4096) unsigned char bytes[AR_PRELOAD_ARENA_BYTES];
    _Atomic size_t used;
} ar_preload_arena;

static int ar_preload__in_arena(const void *ptr)
{
    return (uintptr_t)ptr - (uintptr_t)ar_preload_arena.bytes < AR_PRELOAD_ARENA_BYTES;
}

/* Zeroed memory (the arena is never reused); NULL with ENOMEM when full. */
static void *ar_preload__arena_alloc(size_t size, size_t align)
{
    if (align < AR_PRELOAD_ARENA_HEADER)
        align = AR_PRELOAD_ARENA_HEADER;
    if (size > AR_PRELOAD_ARENA_BYTES || align > AR_PRELOAD_ARENA_BYTES / 2) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t start = (uintptr_t)ar_preload_arena.bytes;
    size_t used = atomic_load_explicit(&ar_preload_arena.used, memory_order_relaxed);
    for (;;) {
        uintptr_t user = (start + used + AR_PRELOAD_ARENA_HEADER + align - 1) & ~(uintptr_t)(align - 1);
        size_t end = (size_t)(user - start) + size;
        if (end > AR_PRELOAD_ARENA_BYTES) {
            errno = ENOMEM;
            return NULL;
        }
        end = (end + AR_PRELOAD_ARENA_HEADER - 1) & ~(AR_PRELOAD_ARENA_HEADER - 1);
        if (atomic_compare_exchange_weak_explicit(&ar_preload_arena.used, &used, end,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            memcpy((void *)(user - sizeof(size_t)), &size, sizeof size);
            return (void *)user;
        }
    }
}

static size_t ar_preload__arena_size(const void *ptr)
{
    size_t size;
    memcpy(&size, (const char *)ptr - sizeof size, sizeof size);
    return size;
}

/* ------------------------------------------------------------ private heap */

/*
 * The symbolizer's child (symbol.c) reads debug information with libdw,
 * which allocates with malloc: here, arheap. The child is a copy of the
 * process whose heap may be mid-operation, with locks held, so it must
 * not use it: ar_heap_preload__use_private_heap switches every allocation
 * of the child to chunks of its own, mapped fresh, never given back (the
 * child lives for one report), and makes free do nothing. Each chunk has
 * a 16-byte header with its size, for realloc.
 *
 * The switch is the depth: the child's one thread is raised to
 * AR_PRELOAD_DEPTH_PRIVATE, which no call brings back to 0 (nested calls
 * count up from it and back; the child ends with _exit), so the wrappers
 * ask whether the heap is private only where they already know the depth
 * is not 0: no test of their own in the parent's calls.
 */
#define AR_PRELOAD_DEPTH_PRIVATE (1 << 20)

static int ar_preload__private(void)
{
    return ar_preload_tls.depth >= AR_PRELOAD_DEPTH_PRIVATE;
}

#define AR_PRELOAD_PRIVATE_CHUNKS 256

static struct {
    unsigned char *next;
    size_t left;
    size_t chunks;
    uintptr_t start[AR_PRELOAD_PRIVATE_CHUNKS];
    size_t size[AR_PRELOAD_PRIVATE_CHUNKS];
} ar_preload_private_heap;

static int ar_preload__in_private(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    for (size_t i = 0; i < ar_preload_private_heap.chunks; i++)
        if (p >= ar_preload_private_heap.start[i] &&
            p - ar_preload_private_heap.start[i] < ar_preload_private_heap.size[i])
            return 1;
    return 0;
}

void ar_heap_preload__use_private_heap(void)
{
    ar_preload_tls.depth = AR_PRELOAD_DEPTH_PRIVATE;
}

static void *ar_preload__private_alloc(size_t size, size_t align)
{
    if (align < AR_PRELOAD_ARENA_HEADER)
        align = AR_PRELOAD_ARENA_HEADER;
    if (size > SIZE_MAX / 2 || align > SIZE_MAX / 4) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = size + AR_PRELOAD_ARENA_HEADER + align;
    if (ar_preload_private_heap.left < need) {
        size_t chunk = need > ((size_t)4 << 20) ? need : ((size_t)4 << 20);
        void *fresh = ar_heap_os__map(chunk);
        if (fresh == NULL || ar_preload_private_heap.chunks == AR_PRELOAD_PRIVATE_CHUNKS) {
            errno = ENOMEM;
            return NULL;
        }
        ar_preload_private_heap.start[ar_preload_private_heap.chunks] = (uintptr_t)fresh;
        ar_preload_private_heap.size[ar_preload_private_heap.chunks++] = chunk;
        ar_preload_private_heap.next = fresh;
        ar_preload_private_heap.left = chunk;
    }
    uintptr_t start = (uintptr_t)ar_preload_private_heap.next;
    uintptr_t user = (start + AR_PRELOAD_ARENA_HEADER + align - 1) & ~(uintptr_t)(align - 1);
    size_t used = (size_t)(user - start) + size;
    used = (used + AR_PRELOAD_ARENA_HEADER - 1) & ~(AR_PRELOAD_ARENA_HEADER - 1);
    ar_preload_private_heap.next += used;
    ar_preload_private_heap.left -= used;
    memcpy((void *)(user - sizeof(size_t)), &size, sizeof size);
    return (void *)user; /* fresh mapped memory: zero */
}

/* realloc in the private heap; a block from before the switch (its size
 * unknown without the checked heap) can not be grown: NULL, ENOMEM. */
static void *ar_preload__private_realloc(void *ptr, size_t size)
{
    if (ptr == NULL)
        return ar_preload__private_alloc(size, 0);
    if (!ar_preload__in_arena(ptr) && !ar_preload__in_private(ptr)) {
        errno = ENOMEM;
        return NULL;
    }
    void *fresh = ar_preload__private_alloc(size, 0);
    if (fresh != NULL) {
        size_t old = ar_preload__arena_size(ptr);
        memcpy(fresh, ptr, old < size ? old : size);
    }
    return fresh;
}

/* ------------------------------------------------------------ Electric Fence's globals */

/*
 * Electric Fence's own switches, as its users set them from code (its
 * confidence test guards above, then below, in one process) or from a
 * debugger: extern int EF_PROTECT_BELOW, EF_ALIGNMENT. -1, their value
 * until the program assigns one, means "not set by the program": the
 * options (AR_HEAP_OPTIONS, the EF_ and DUMA_ variables) decide. Any other
 * value decides the placement of each guarded block allocated while it
 * holds, as it does under libefence: EF_PROTECT_BELOW not 0 puts the guard
 * page below the block, EF_ALIGNMENT 0 places it byte-exactly and N
 * (at most a page) aligns its end to N. A program that assigns either
 * turns guard pages on at its next allocation, unless AR_HEAP_OPTIONS
 * named guard (guard=0 wins). Only the preload library defines them: a
 * program linked with libarheap uses the options.
 */
AR_PRELOAD_EXPORT int EF_PROTECT_BELOW = -1;
AR_PRELOAD_EXPORT int EF_ALIGNMENT = -1;

/* 1 once the program was seen to assign one of them (read on every
 * allocation; written once). */
static _Atomic int ar_preload_ef_assigned;

static int ar_preload__ef_read(const int *global)
{
    return *(const volatile int *)global; /* the program may assign it at any time */
}

void ar_heap_preload__guard_placement(int *below, size_t *align)
{
    int b = ar_preload__ef_read(&EF_PROTECT_BELOW);
    int a = ar_preload__ef_read(&EF_ALIGNMENT);
    if (b >= 0)
        *below = b != 0;
    if (a == 0)
        *align = 1;
    else if (a > 0 && a <= 4096)
        *align = (size_t)a;
}

/* Whether the program has just assigned a global: the two globals' loads
 * (their AND is -1 only while both are), then, once one was assigned, the
 * flag's; no write, no lock. */
static inline int ar_preload__ef_newly_assigned(void)
{
    return (ar_preload__ef_read(&EF_PROTECT_BELOW) & ar_preload__ef_read(&EF_ALIGNMENT)) != -1 &&
           !atomic_load_explicit(&ar_preload_ef_assigned, memory_order_relaxed);
}

/* The program assigned a global: guard pages on, unless AR_HEAP_OPTIONS
 * said otherwise. Called inside arheap (the depth counter raised). */
static void ar_preload__ef_turn_on(void)
{
    ar_heap__ensure_init();
    atomic_store_explicit(&ar_preload_ef_assigned, 1, memory_order_relaxed);
    if (!ar_heap_options.guard_given && !ar_heap_options.guard) {
        ar_heap_options.guard = 1;
        ar_heap_life__options_changed();
    }
}

/* ------------------------------------------------------------ tracked calls */

/* A site without file:line: the return address into the caller and the
 * entry point's frame, where the call stack starts. Built with
 * AR_PRELOAD_TEST_FILE_SITE (tests/preload/preload.am, for sites.sh only)
 * the sites carry this file and line instead, which depot.c must refuse. */
#ifdef AR_PRELOAD_TEST_FILE_SITE
#define AR_PRELOAD_SITE_PLACE __FILE__, __LINE__
#else
#define AR_PRELOAD_SITE_PLACE NULL, 0
#endif
#define AR_PRELOAD_SITE \
    { AR_PRELOAD_SITE_PLACE, 0, __builtin_return_address(0), __builtin_frame_address(0), NULL }

/*
 * A block of `size` bytes aligned to `align` (0: default), its bytes as
 * `fill` says (AR_HEAP_FILL_MARK as MALLOC's, _ZERO, or _NONE for a copy
 * written at once). errno is kept on success, as glibc's malloc keeps
 * it; ENOMEM on failure.
 */
__attribute__((always_inline)) static inline void *
ar_preload__allocate(size_t size, size_t align, int fill, const char *what,
                     const ar_heap_site_t *site)
{
    if (AR_HEAP_UNLIKELY(ar_preload_tls.depth != 0))
        return ar_preload__private() ? ar_preload__private_alloc(size, align)
                                  : ar_preload__arena_alloc(size, align);
    ar_preload__step_in();
    if (AR_HEAP_UNLIKELY(ar_preload__ef_newly_assigned()))
        ar_preload__ef_turn_on();
    void *user = ar_heap_life__allocate(size, align, site, what, fill);
    ar_preload__step_out(user != NULL);
    return user;
}

static void ar_preload__free(void *ptr, const ar_heap_site_t *site)
{
    if (ptr == NULL || ar_preload__in_arena(ptr))
        return;
    if (AR_HEAP_UNLIKELY(ar_preload_tls.depth != 0)) {
        if (ar_preload__private())
            return; /* the child frees nothing */
        /* Inside a call (a handler that interrupted one): deferred (see
         * ar_preload_tls). A nested handler's free between the two
         * stores takes the same entry: one of the two stays live. */
        unsigned n = ar_preload_tls.deferred_count;
        if (n < AR_PRELOAD_DEFERRED) {
            ar_preload_tls.deferred[n] = ptr;
            ar_preload_tls.deferred_pc[n] = site->pc;
            atomic_signal_fence(memory_order_seq_cst);
            ar_preload_tls.deferred_count = n + 1;
        }
        return;
    }
    ar_preload__step_in();
    (void)ar_heap_life__free(ptr, "free", site);
    ar_preload__step_out(1);
}

/* The deferred frees, with signals blocked while the list is taken (a
 * handler's free then adds to an empty list), each a free of its own,
 * named by the pc of the free that was deferred. errno is kept. */
__attribute__((noinline)) static void ar_preload__drain(void)
{
    int saved = *ar_preload__errno();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    unsigned n = ar_preload_tls.deferred_count;
    void *ptrs[AR_PRELOAD_DEFERRED];
    const void *pcs[AR_PRELOAD_DEFERRED];
    for (unsigned i = 0; i < n; i++) {
        ptrs[i] = ar_preload_tls.deferred[i];
        pcs[i] = ar_preload_tls.deferred_pc[i];
    }
    ar_preload_tls.deferred_count = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (unsigned i = 0; i < n; i++) {
        ar_heap_site_t site = { AR_PRELOAD_SITE_PLACE, 0, pcs[i], __builtin_frame_address(0),
                                NULL };
        ar_preload__free(ptrs[i], &site);
    }
    *ar_preload__errno() = saved;
}

static void *ar_preload__realloc(void *ptr, size_t size, const ar_heap_site_t *site)
{
    if (AR_HEAP_UNLIKELY(ar_preload__private()))
        return ar_preload__private_realloc(ptr, size);
    if (ptr != NULL && ar_preload__in_arena(ptr)) {
        /* Out of the arena: into a tracked block, or another arena chunk
         * when arheap itself is asking. */
        void *fresh = ar_preload__allocate(size, 0, AR_HEAP_FILL_MARK, "realloc", site);
        if (fresh != NULL) {
            size_t old = ar_preload__arena_size(ptr);
            memcpy(fresh, ptr, old < size ? old : size);
        }
        return fresh;
    }
    if (ar_preload_tls.depth > 0) {
        /* arheap's own realloc of a tracked block: does not happen, but a
         * copy into the arena is still correct. */
        if (ptr == NULL)
            return ar_preload__arena_alloc(size, 0);
        errno = ENOMEM;
        return NULL;
    }
    ar_preload__step_in();
    void *fresh = ar_heap_life__realloc(ptr, size, site, "realloc");
    ar_preload__step_out(fresh != NULL);
    return fresh;
}

static int ar_preload__power_of_two(size_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

static size_t ar_preload__page(void)
{
    static _Atomic size_t page;
    size_t p = atomic_load_explicit(&page, memory_order_relaxed);
    if (p == 0) {
        long got = sysconf(_SC_PAGESIZE);
        p = got > 0 ? (size_t)got : 4096;
        atomic_store_explicit(&page, p, memory_order_relaxed);
    }
    return p;
}

/* ------------------------------------------------------------ the C library's names */

AR_PRELOAD_EXPORT void *malloc(size_t size)
{
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__allocate(size, 0, AR_HEAP_FILL_MARK, "malloc", &site);
}

AR_PRELOAD_EXPORT void free(void *ptr)
{
    ar_heap_site_t site = AR_PRELOAD_SITE;
    ar_preload__free(ptr, &site);
}

AR_PRELOAD_EXPORT void *calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__allocate(count * size, 0, AR_HEAP_FILL_ZERO, "calloc", &site);
}

AR_PRELOAD_EXPORT void *realloc(void *ptr, size_t size)
{
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__realloc(ptr, size, &site);
}

AR_PRELOAD_EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__realloc(ptr, count * size, &site);
}

/*
 * strdup and strndup: a copy's bytes are all written at once, so its block
 * is not filled first (AR__HEAP__STRDUP's is not either: glibc's strdup
 * had every new block filled with 0xbe and then copied over, a second
 * pass), and the block's site is the program's call, not strdup's call of
 * malloc inside libc. glibc's own functions call their internal strdup,
 * which allocates through malloc above. A NULL string is reported as an
 * invalid argument (glibc's strdup faults reading it); then NULL, EINVAL.
 */
static char *ar_preload__copy(const char *str, size_t len, const char *what,
                              const ar_heap_site_t *site)
{
    char *copy = ar_preload__allocate(len + 1, 0, AR_HEAP_FILL_NONE, what, site);
    return ar_heap_life__copy_into(copy, str, len);
}

static char *ar_preload__null_string(const char *what, const ar_heap_site_t *site)
{
    if (ar_preload_tls.depth == 0) {
        ar_preload_tls.depth++;
        ar_heap__ensure_init();
        ar_heap_report__invalid_argument(what, site);
        ar_preload_tls.depth--;
    }
    errno = EINVAL;
    return NULL;
}

/* <string.h> declares the string nonnull, which would let the compiler
 * drop the test: the empty asm hides where the pointer came from. */
static inline int ar_preload__is_null(const char *str)
{
    __asm__("" : "+r"(str));
    return str == NULL;
}

AR_PRELOAD_EXPORT char *strdup(const char *str)
{
    ar_heap_site_t site = AR_PRELOAD_SITE;
    if (ar_preload__is_null(str))
        return ar_preload__null_string("strdup was given a NULL string", &site);
    return ar_preload__copy(str, strlen(str), "strdup", &site);
}

AR_PRELOAD_EXPORT char *strndup(const char *str, size_t n)
{
    ar_heap_site_t site = AR_PRELOAD_SITE;
    if (ar_preload__is_null(str))
        return ar_preload__null_string("strndup was given a NULL string", &site);
    return ar_preload__copy(str, strnlen(str, n), "strndup", &site);
}

/* POSIX: EINVAL unless align is a power of two multiple of sizeof(void *);
 * ENOMEM when out of memory; *memptr is left alone on failure; errno is
 * not touched. */
AR_PRELOAD_EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
    if (!ar_preload__power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    ar_heap_site_t site = AR_PRELOAD_SITE;
    void *p = ar_preload__allocate(size, align, AR_HEAP_FILL_MARK, "posix_memalign", &site);
    errno = saved;
    if (p == NULL)
        return ENOMEM;
    *memptr = p;
    return 0;
}

/* C11: the alignment must be one the implementation supports; here, as in
 * glibc 2.38 and later, any power of two (else NULL with EINVAL). */
AR_PRELOAD_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    if (!ar_preload__power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__allocate(size, align, AR_HEAP_FILL_MARK, "aligned_alloc", &site);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up
 * to the next one; one too large to round fails with EINVAL. */
AR_PRELOAD_EXPORT void *memalign(size_t align, size_t size)
{
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    size_t rounded = 1;
    while (rounded < align)
        rounded <<= 1;
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__allocate(size, rounded, AR_HEAP_FILL_MARK, "memalign", &site);
}

AR_PRELOAD_EXPORT void *valloc(size_t size)
{
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__allocate(size, ar_preload__page(), AR_HEAP_FILL_MARK, "valloc", &site);
}

/* Page-aligned, its size rounded up to whole pages (0 bytes: one page). */
AR_PRELOAD_EXPORT void *pvalloc(size_t size)
{
    size_t page = ar_preload__page();
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = size == 0 ? page : (size + page - 1) / page * page;
    ar_heap_site_t site = AR_PRELOAD_SITE;
    return ar_preload__allocate(rounded, page, AR_HEAP_FILL_MARK, "pvalloc", &site);
}

/* The size the program asked for (0 for NULL). A pointer that is no live
 * block is reported, as free would report it, and gets 0. */
AR_PRELOAD_EXPORT size_t malloc_usable_size(void *ptr)
{
    if (ptr == NULL)
        return 0;
    if (ar_preload__in_arena(ptr) || (ar_preload__private() && ar_preload__in_private(ptr)))
        return ar_preload__arena_size(ptr);
    if (ar_preload__private())
        return 0;
    int saved = errno;
    ar_preload_tls.depth++;
    ar_heap__ensure_init();
    ar_heap_view_t block;
    size_t size = 0;
    if (ar_heap_life__find_live(ptr, &block)) {
        size = block.size;
    } else {
        ar_heap_site_t site = AR_PRELOAD_SITE;
        ar_heap_life__bad_pointer(ptr, "malloc_usable_size", &site);
    }
    ar_preload_tls.depth--;
    errno = saved;
    return size;
}

/* ------------------------------------------------------------ exit */

/* glibc's registration of an exit handler, for objects (<cxxabi.h>'s). */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso_handle);

static void ar_preload__exit_check(void *unused)
{
    (void)unused;
    ar_heap__exit_check();
}

/*
 * This library's destructor: every destructor of the program has run,
 * those of the libraries loaded after this one have not. The check waits
 * for them as an exit handler of no object, which glibc runs once _dl_fini
 * returns (registered with this library's handle, as atexit would do it,
 * __cxa_finalize would run it right away). Should the registration fail,
 * the check runs now. A table the registration grows comes from the
 * arena: a tracked block there would be listed as a leak.
 */
__attribute__((destructor)) static void ar_preload__finalize(void)
{
    ar_preload_tls.depth++;
    int registered = __cxa_atexit(ar_preload__exit_check, NULL, NULL) == 0;
    ar_preload_tls.depth--;
    if (!registered)
        ar_heap__exit_check();
}
