/*
 * heap.c: the debug heap's initialisation, options and check at exit.
 *
 * The allocation entry points (ar_heap__malloc and its siblings) are in
 * life.c, beside the block's life they start, so that the tracking-only
 * leaf paths are compiled into them (life.c, "The public entry points").
 *
 * Initialisation happens once, on first use from any entry point: defaults,
 * then options given from code, then (preload library) Electric Fence's and
 * DUMA's variables, then AR_HEAP_OPTIONS. The exit check and
 * leak report run from an ELF destructor (ar_heap__exit_check, below).
 */
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
    pthread_once_t defaults_once;
    pthread_once_t init_once;
} heap = { PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT };

/* 1 once initialised (ar_heap__ensure_init reads it inline). */
_Atomic int ar_heap_ready;

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
    /* The reservations tried from the largest down fail under an
     * address-space limit: the first call's errno is the caller's (until
     * stop 43 a successful first malloc left ENOMEM). */
    int saved_errno = errno;
    pthread_once(&heap.defaults_once, ar_heap__load_defaults);
    if (AR_HEAP_PRELOAD)
        ar_heap_options__from_efence(); /* under AR_HEAP_OPTIONS: read first */
    if (ar_heap_os__secure() &&
        (getenv("AR_HEAP_OPTIONS") != NULL || getenv("AGERUN_MEMORY_REPORT") != NULL))
        ar_heap_report__warning("a set-user-ID or set-group-ID program: AR_HEAP_OPTIONS and "
                                "AGERUN_MEMORY_REPORT are ignored, and reports go to stderr");
    (void)ar_heap_options__parse(ar_heap_os__getenv("AR_HEAP_OPTIONS"), "AR_HEAP_OPTIONS");
    if (ar_heap_options.help)
        ar_heap_options__print_help();
    ar_heap_inject__reset();
    ar_heap_canary__init();
    ar_heap_valgrind__init();
    ar_heap_stack__init();
    ar_heap_span__init(ar_heap_valgrind__running());
    ar_heap_depot__init(ar_heap_valgrind__running());
    ar_heap_os__note_readonly();
    if (!atomic_exchange_explicit(&ar_heap_registered, 1, memory_order_acq_rel))
        ar_heap_thread__init();
    ar_heap_life__options_changed(); /* Valgrind is known now */
    atomic_store_explicit(&ar_heap_ready, 1, memory_order_release);
    errno = saved_errno;
}

void ar_heap__init(void)
{
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
    if (atomic_load_explicit(&ar_heap_ready, memory_order_acquire))
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
    size_t budget = ar_heap_options.quarantine_bytes;
    int problems = ar_heap_options__parse(options, "ar_heap__set_options");
    if (ar_heap_options.quarantine_bytes < budget)
        ar_heap_quarantine__lowered();
    if (ar_heap_options.help) {
        ar_heap_options__print_help();
        ar_heap_options.help = 0;
    }
    /* The fail_* count restarts when a fail_* option is given, not at
     * every call: until stop 41 a NULL or empty string, or any other
     * option, restarted it too, and a sweep's body that set an option
     * made the sweep skip allocations. */
    if (ar_heap_options__take_fail_given())
        ar_heap_inject__reset();
    else
        ar_heap_inject__rearm();
    return problems;
}

int ar_heap__has_tracking(void)
{
    return 1;
}

#if defined(AR_HEAP_HAVE_VALGRIND)
int ar_heap_valgrind_on;
#endif

size_t ar_heap__check_all(void)
{
    size_t damaged = ar_heap_life__check_all("check");
    pthread_testcancel(); /* as ar_heap__memory_report: only here */
    return damaged;
}
