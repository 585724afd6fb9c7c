/*
 * inject.c: allocation failures on purpose (options fail_*), and the
 * sweep that fails each allocation of a piece of code in turn.
 *
 * Why: error paths that run only when malloc returns NULL are the least
 * tested code there is. Making the 1st, 2nd, 3rd ... allocation fail, and
 * checking each time that nothing leaked and nothing was reported, walks
 * every one of them (SQLite tests its own this way).
 *
 * What fails: a tracked allocation (MALLOC, CALLOC, REALLOC's new block,
 * STRDUP) returns NULL with errno ENOMEM, as libc's would, with no report;
 * a failed REALLOC leaves the old block as it was. Allocations are counted
 * from the last time a fail_* option was set (ar_heap__set_options or
 * AR_HEAP_OPTIONS at start): fail_nth=3 fails the third one after that.
 * Several fail_* options may be on; any of them failing fails the call.
 *
 * Cost when no fail_* option is on: one relaxed load of
 * ar_heap_inject_armed, inline in the allocator.
 */
#include "ar_heap_internal.h"

#include <errno.h>
#include <string.h>

_Atomic int ar_heap_inject_armed;

static struct {
    _Atomic size_t counted; /* allocations since the options were set */
    _Atomic size_t injected; /* failures injected, ever */
    _Atomic uint64_t random; /* the fail_random generator's state */
} inject;

/* splitmix64's output function: a bijection that spreads every bit. */
static uint64_t ar_heap_inject__mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ar_heap_inject__reset(void)
{
    atomic_store_explicit(&inject.counted, 0, memory_order_relaxed);
    /* The seed mixed before it starts the sequence: each step adds the
     * same constant, so seed * constant started seed 2's sequence one step
     * before seed 1's, and its failures were seed 1's, one allocation
     * earlier (until stop 41). */
    uint64_t seed = (uint64_t)ar_heap_options.fail_seed;
    atomic_store_explicit(&inject.random, ar_heap_inject__mix(seed + 0x9e3779b97f4a7c15ULL),
                          memory_order_relaxed);
    ar_heap_inject__rearm();
}

void ar_heap_inject__rearm(void)
{
    int armed = ar_heap_options.fail_nth != 0 || ar_heap_options.fail_every != 0 ||
                ar_heap_options.fail_random != 0 ||
                (ar_heap_options.fail_site_line != 0 && ar_heap_options.fail_site_file[0] != '\0');
    atomic_store_explicit(&ar_heap_inject_armed, armed, memory_order_release);
    ar_heap_life__options_changed();
}

size_t ar_heap_inject__count(void)
{
    return atomic_load_explicit(&inject.injected, memory_order_relaxed);
}

/* The next number of the fail_random sequence (splitmix64), shared by all
 * threads: with one thread, a seed gives the same failures every run. */
static uint64_t ar_heap_inject__next_random(void)
{
    return ar_heap_inject__mix(atomic_fetch_add_explicit(&inject.random, 0x9e3779b97f4a7c15ULL,
                                                        memory_order_relaxed));
}

/* Whether `file` names the same source as the option's file: equal, or
 * the site's path ends with "/" and the option's file. */
static int ar_heap_inject__same_file(const char *file)
{
    const char *want = ar_heap_options.fail_site_file;
    if (file == NULL)
        return 0;
    size_t have = strlen(file);
    size_t need = strlen(want);
    if (have == need)
        return strcmp(file, want) == 0;
    return have > need && file[have - need - 1] == '/' && strcmp(file + have - need, want) == 0;
}

int ar_heap_inject__should_fail_slow(const ar_heap_site_t *site)
{
    size_t n = atomic_fetch_add_explicit(&inject.counted, 1, memory_order_relaxed) + 1;
    int fail = 0;
    if (ar_heap_options.fail_nth != 0 && n == ar_heap_options.fail_nth)
        fail = 1;
    if (ar_heap_options.fail_every != 0 && n % ar_heap_options.fail_every == 0)
        fail = 1;
    if (ar_heap_options.fail_random != 0 &&
        ar_heap_inject__next_random() % 1000000u < ar_heap_options.fail_random)
        fail = 1;
    if (ar_heap_options.fail_site_line != 0 && site->line == ar_heap_options.fail_site_line &&
        ar_heap_options.fail_site_file[0] != '\0' && ar_heap_inject__same_file(site->file))
        fail = 1;
    if (fail)
        atomic_fetch_add_explicit(&inject.injected, 1, memory_order_relaxed);
    return fail;
}

size_t ar_heap__sweep_failures(void (*body)(void *arg), void *arg, ar_heap_sweep_t *out)
{
    ar_heap_sweep_t result = { 0, 0, 0 };
    ar_heap__ensure_init();
    /* Only the fail_* options are the sweep's: what the body sets of the
     * others stands after it (until stop 41 the whole set was put back,
     * and a body's on_error=continue was undone). */
    size_t saved_nth = ar_heap_options.fail_nth, saved_every = ar_heap_options.fail_every;
    size_t saved_random = ar_heap_options.fail_random;
    int saved_line = ar_heap_options.fail_site_line;
    for (size_t nth = 1;; nth++) {
        ar_heap_options.fail_nth = nth;
        ar_heap_options.fail_every = 0;
        ar_heap_options.fail_random = 0;
        ar_heap_options.fail_site_line = 0;
        ar_heap_inject__reset();
        size_t injected = ar_heap_inject__count();
        size_t errors = ar_heap_report__errors();
        ar_heap_mark_t mark = ar_heap__checkpoint();
        body(arg);
        int failed_one = ar_heap_inject__count() != injected;
        /* Nothing more to fail: this last run is the one without failures. */
        ar_heap_options.fail_nth = 0;
        ar_heap_inject__reset();
        result.runs++;
        size_t leaked = ar_heap__leaks_since(mark, 0);
        size_t reported = ar_heap_report__errors() - errors;
        if (leaked != 0 || reported != 0) {
            result.failing_runs++;
            if (result.first_failing == 0)
                result.first_failing = failed_one ? nth : SIZE_MAX;
            ar_heap_out_t o;
            ar_heap_out__init(&o, 2);
            ar_heap_out__str(&o, "arheap: sweep: ");
            if (failed_one) {
                ar_heap_out__str(&o, "with allocation #");
                ar_heap_out__dec(&o, nth);
                ar_heap_out__str(&o, " of the body failing, ");
            } else {
                ar_heap_out__str(&o, "with no allocation failing, ");
            }
            ar_heap_out__dec(&o, leaked);
            ar_heap_out__str(&o, leaked == 1 ? " block leaked and " : " blocks leaked and ");
            ar_heap_out__dec(&o, reported);
            ar_heap_out__str(&o, reported == 1 ? " error was reported\n" : " errors were reported\n");
            ar_heap_out__flush(&o);
            if (leaked != 0)
                (void)ar_heap__leaks_since(mark, 1);
        }
        if (!failed_one)
            break;
    }
    ar_heap_options.fail_nth = saved_nth;
    ar_heap_options.fail_every = saved_every;
    ar_heap_options.fail_random = saved_random;
    ar_heap_options.fail_site_line = saved_line;
    ar_heap_inject__reset();
    if (out != NULL)
        *out = result;
    return result.failing_runs;
}
