/*
 * heap.c: the public entry points of the debug heap.
 *
 * Each allocation: obtain backend memory for the block (block.c), fill a
 * record with the block's address, size, sites and description, publish it
 * (tracking.c). Each free: remove the record of exactly that address; only
 * then is the block's memory touched or released. A pointer that is not a
 * live block goes to report.c and never reaches libc.
 *
 * Initialisation happens once, on first use from any entry point: defaults,
 * then options given from code, then AR_HEAP_OPTIONS. The exit check and
 * leak report run from an ELF destructor (ar_heap__exit_check, below).
 */
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    pthread_once_t defaults_once;
    pthread_once_t init_once;
    _Atomic int ready;
} heap = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, 0 };

static void ar_heap__load_defaults(void)
{
    ar_heap_options__reset();
}

/*
 * A fork while another thread is inside the initialiser makes glibc's
 * pthread_once run it again in the child. Everything in it may run twice
 * except registering the fork handlers, which would then run twice: that
 * is done at most once per process image, whoever runs the initialiser.
 */
static _Atomic int ar_heap_registered;

static void ar_heap__init_once(void)
{
    pthread_once(&heap.defaults_once, ar_heap__load_defaults);
    (void)ar_heap_options__parse(getenv("AR_HEAP_OPTIONS"), "AR_HEAP_OPTIONS");
    if (ar_heap_options.help)
        ar_heap_options__print_help();
    ar_heap_inject__reset();
    ar_heap_canary__init();
    ar_heap_quarantine__init();
    ar_heap_valgrind__init();
    ar_heap_stack__init();
    ar_heap_tracking__init();
    if (!atomic_exchange_explicit(&ar_heap_registered, 1, memory_order_acq_rel))
        ar_heap_tracking__register_fork_handlers();
    atomic_store_explicit(&heap.ready, 1, memory_order_release);
}

void ar_heap__ensure_init(void)
{
    if (!atomic_load_explicit(&heap.ready, memory_order_acquire))
        pthread_once(&heap.init_once, ar_heap__init_once);
}

/*
 * Exit. The whole-heap check and the leak report must come after the last
 * free the program makes, and programs free in atexit handlers (registered
 * before or after arheap's first use) and in ELF destructors; an atexit
 * handler of arheap's would run before the destructors, and before the
 * handlers registered ahead of it, and call their blocks leaks. glibc's
 * exit runs every atexit handler the program registered, then _dl_fini,
 * which runs the destructors of the program first and of each library
 * after every object that depends on it; stdio is flushed only after
 * that, and the reports are written with write(2) anyway.
 *
 * So the linked library runs the check from its own destructor: every
 * object that can call arheap depends on the library and is finalised
 * before it. Linked statically, the library's destructor is one entry of
 * the program's own list, run in reverse link order, which would put it
 * before the program's; priority 101 (the earliest a program may use:
 * destructors of lower priority run later) puts it after every destructor
 * of no or later priority. The preload library, on which nothing depends,
 * is finalised before the libraries loaded after it: it defers the check
 * further (preload.c).
 *
 * Blocks freed after the check are still tracked and freed as usual.
 * Nothing runs when the heap was never used.
 */
void ar_heap__exit_check(void)
{
    if (atomic_load_explicit(&heap.ready, memory_order_acquire))
        ar_heap_leaks__at_exit();
}

#if !AR_HEAP_PRELOAD
__attribute__((destructor(101))) static void ar_heap__finalize(void)
{
    ar_heap__exit_check();
}
#endif

int ar_heap__set_options(const char *options)
{
    pthread_once(&heap.defaults_once, ar_heap__load_defaults);
    int problems = ar_heap_options__parse(options, "ar_heap__set_options");
    if (ar_heap_options.help) {
        ar_heap_options__print_help();
        ar_heap_options.help = 0;
    }
    ar_heap_inject__reset();
    return problems;
}

int ar_heap__has_tracking(void)
{
    return 1;
}

/* The site of a call: file and line from the macro, the thread, and the
 * return address into the caller (where its call stack starts). */
static ar_heap_site_t ar_heap__site(const char *file, int line, const void *pc)
{
    ar_heap_site_t site = { file, line, ar_heap_os__thread_id(), pc };
    return site;
}

#define AR_HEAP_CALLER __builtin_return_address(0)

/* Every check_every operations, check the whole heap (0: never). */
static void ar_heap__count_operation(void)
{
    static _Atomic size_t operations;
    size_t every = ar_heap_options.check_every;
    if (every != 0 &&
        (atomic_fetch_add_explicit(&operations, 1, memory_order_relaxed) + 1) % every == 0)
        (void)ar_heap__check_all();
}

/* Allocate and track a block of `size` bytes, with canaries written. With
 * `fill`, the user bytes get AR_HEAP_FILL_NEW when the fill option is on. */
void *ar_heap__allocate_at(size_t size, size_t align, const ar_heap_site_t *site,
                           const char *desc, int fill)
{
    ar_heap__ensure_init();
    ar_heap__count_operation();
    if (ar_heap_inject__should_fail(site)) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_block_t block;
    if (!ar_heap_block__obtain(size, align, &block)) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_record_t record;
    record.next = NULL;
    record.qnext = NULL;
    record.base = block.base;
    record.user = block.user;
    record.size = size;
    record.total = block.total;
    record.flags = block.flags;
    record.seq = ar_heap_stats__next_seq();
    record.alloc_site = *site;
    record.free_site.file = NULL;
    record.free_site.line = 0;
    record.free_site.thread = 0;
    record.free_site.pc = NULL;
    record.state = AR_HEAP_STATE_LIVE;
    record.alloc_depth = 0;
    record.free_depth = 0;
    record.frames = NULL;
    ar_heap_stack_t stack;
    ar_heap_stack__capture(&stack, site->pc);
    if (desc == NULL)
        desc = "(no description)";
    size_t len = strnlen(desc, AR_HEAP_DESC_CAPACITY - 1);
    memcpy(record.desc, desc, len);
    record.desc[len] = '\0';
    ar_heap_canary__write(&record);
    if (fill && ar_heap_options.fill)
        memset((void *)record.user, AR_HEAP_FILL_NEW, size);
    if (!ar_heap_tracking__insert(&record, &stack)) {
        ar_heap_block__release(block.base, block.total, block.flags);
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_valgrind__allocated(&record);
    return (void *)record.user;
}

void *ar_heap__malloc(size_t size, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = ar_heap__site(file, line, AR_HEAP_CALLER);
    return ar_heap__allocate_at(size, 0, &site, desc, 1);
}

void *ar_heap__calloc(size_t count, size_t size, const char *file, int line, const char *desc)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_site_t site = ar_heap__site(file, line, AR_HEAP_CALLER);
    void *user = ar_heap__allocate_at(count * size, 0, &site, desc, 0);
    if (user != NULL)
        memset(user, 0, count * size);
    return user;
}

/* A tracked copy of the first `len` bytes of str, NUL-terminated. */
static char *ar_heap__copy_string(const char *str, size_t len, const ar_heap_site_t *site,
                                  const char *desc)
{
    char *copy = ar_heap__allocate_at(len + 1, 0, site, desc, 0);
    if (copy != NULL) {
        memcpy(copy, str, len);
        copy[len] = '\0';
    }
    return copy;
}

/* STRDUP(NULL) and STRNDUP(NULL, n): reported; NULL with EINVAL. */
static char *ar_heap__null_string(const char *what, const ar_heap_site_t *site)
{
    ar_heap__ensure_init();
    ar_heap_report__invalid_argument(what, site);
    errno = EINVAL;
    return NULL;
}

char *ar_heap__strdup(const char *str, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = ar_heap__site(file, line, AR_HEAP_CALLER);
    if (str == NULL)
        return ar_heap__null_string("STRDUP was given a NULL string", &site);
    return ar_heap__copy_string(str, strlen(str), &site, desc);
}

char *ar_heap__strndup(const char *str, size_t n, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = ar_heap__site(file, line, AR_HEAP_CALLER);
    if (str == NULL)
        return ar_heap__null_string("STRNDUP was given a NULL string", &site);
    const char *end = memchr(str, '\0', n);
    return ar_heap__copy_string(str, end != NULL ? (size_t)(end - str) : n, &site, desc);
}

/* Report what a free found, then apply the error action once. */
static void ar_heap__report_free(const ar_heap_free_result_t *result, const char *operation,
                                 const ar_heap_site_t *site)
{
    size_t shown = result->finding_count < AR_HEAP_FINDINGS_MAX ? result->finding_count
                                                                 : AR_HEAP_FINDINGS_MAX;
    for (size_t i = 0; i < shown; i++) {
        const ar_heap_finding_t *f = &result->findings[i];
        ar_heap_report__damage(f, f->evicted ? "quarantine eviction" : operation, site);
    }
    ar_heap_report__unshown(result->finding_count, shown);
    if (result->finding_count > 0)
        ar_heap_report__act();
}

/* Untrack and release the block at ptr; report when it is not live or is
 * damaged. Returns 1 when the block was freed. */
int ar_heap__release_at(void *ptr, const char *operation, const ar_heap_site_t *site)
{
    ar_heap_free_result_t result;
    ar_heap_stack_t stack;
    ar_heap__count_operation();
    ar_heap_stack__capture(&stack, site->pc);
    ar_heap_tracking__free((uintptr_t)ptr, site, &stack, &result);
    if (result.quarantined) {
        ar_heap_report__double_free(&result.previous, operation, site, &stack);
        return 0;
    }
    if (!result.freed) {
        ar_heap_report__bad_pointer(ptr, operation, site, &stack);
        return 0;
    }
    /* Report first: libc could abort on damage next to the block before
     * a word is written (tracking.c keeps a damaged block altogether). */
    ar_heap__report_free(&result, operation, site);
    if (result.release != NULL)
        ar_heap_block__release(result.release, result.release_total, result.release_flags);
    return 1;
}

void ar_heap__free_at(void *ptr, const char *file, int line)
{
    if (ptr == NULL)
        return;
    ar_heap__ensure_init();
    ar_heap_site_t site = ar_heap__site(file, line, AR_HEAP_CALLER);
    (void)ar_heap__release_at(ptr, "free", &site);
}

void ar_heap__free(void *ptr)
{
    if (ptr == NULL)
        return;
    ar_heap__ensure_init();
    ar_heap_site_t site = ar_heap__site(NULL, 0, AR_HEAP_CALLER);
    (void)ar_heap__release_at(ptr, "free", &site);
}

void *ar_heap__realloc(void *ptr, size_t size, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = ar_heap__site(file, line, AR_HEAP_CALLER);
    return ar_heap__realloc_at(ptr, size, &site, desc);
}

void *ar_heap__realloc_at(void *ptr, size_t size, const ar_heap_site_t *site, const char *desc)
{
    if (ptr == NULL)
        return ar_heap__allocate_at(size, 0, site, desc, 1);
    ar_heap__ensure_init();
    if (size == 0) {
        (void)ar_heap__release_at(ptr, "realloc", site);
        return NULL;
    }
    ar_heap_record_t old;
    if (!ar_heap_tracking__find_live((uintptr_t)ptr, &old)) {
        ar_heap_stack_t stack;
        ar_heap_stack__capture(&stack, site->pc);
        ar_heap_report__bad_pointer(ptr, "realloc", site, &stack);
        return NULL;
    }
    /* Always move: a stale pointer to the old block is then a pointer to
     * freed memory, which later checks can see. */
    void *fresh = ar_heap__allocate_at(size, 0, site, desc, 0);
    if (fresh == NULL)
        return NULL;
    memcpy(fresh, ptr, old.size < size ? old.size : size);
    if (size > old.size && ar_heap_options.fill) {
        memset((char *)fresh + old.size, AR_HEAP_FILL_NEW, size - old.size);
        ar_heap_valgrind__undefined((char *)fresh + old.size, size - old.size);
    }
    /* Should another thread have freed the old block meanwhile (a race in
     * the program), release reports it and the new block still stands. */
    (void)ar_heap__release_at(ptr, "realloc", site);
    return fresh;
}

static void ar_heap__report_finding(const ar_heap_finding_t *finding, void *arg)
{
    ar_heap_report__damage(finding, (const char *)arg, NULL);
}

/* Check everything; `how` names the occasion in the reports. */
size_t ar_heap__check_all_for(const char *how)
{
    ar_heap__ensure_init();
    size_t damaged = ar_heap_tracking__check_all(ar_heap__report_finding, (void *)how);
    if (damaged > 0) {
        /* At exit the program was ending normally: what it printed is
         * flushed before the error action ends it sooner. */
        if (strcmp(how, "exit") == 0)
            fflush(NULL);
        ar_heap_report__act();
    }
    return damaged;
}

size_t ar_heap__check_all(void)
{
    return ar_heap__check_all_for("check");
}
