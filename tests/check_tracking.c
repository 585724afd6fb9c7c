/*
 * check_tracking.c: the debug heap tracks every block it hands out.
 *
 * Each test states one behaviour of AR__HEAP__MALLOC, CALLOC, REALLOC,
 * STRDUP and FREE in debug mode, observed through the public statistics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

/* Hide a size from the compiler: alloc_size lets gcc refuse constant
 * sizes it can prove too large, and these tests need them at run time. */
static size_t opaque(size_t v)
{
    volatile size_t hidden = v;
    return hidden;
}

START_TEST(malloc_tracks_one_live_block_of_the_requested_size)
{
    ar_heap_stats_t before = ar_test__stats();
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    ck_assert_ptr_nonnull(p);
    memset(p, 'x', 13);
    ar_heap_stats_t during = ar_test__stats();
    ck_assert_uint_eq(during.live_blocks, before.live_blocks + 1);
    ck_assert_uint_eq(during.live_bytes, before.live_bytes + 13);
    AR__HEAP__FREE(p);
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.live_blocks, before.live_blocks);
    ck_assert_uint_eq(after.live_bytes, before.live_bytes);
}
END_TEST

START_TEST(calloc_returns_zeroed_memory)
{
    unsigned char *p = AR__HEAP__CALLOC(100, 7, "zeroed");
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < 700; i++)
        ck_assert_uint_eq(p[i], 0);
    ck_assert_uint_eq(ar_test__stats().live_bytes, 700);
    AR__HEAP__FREE(p);
}
END_TEST

START_TEST(calloc_overflow_returns_null_with_enomem_and_tracks_nothing)
{
    ar_heap_stats_t before = ar_test__stats();
    errno = 0;
    void *p = AR__HEAP__CALLOC(opaque(SIZE_MAX / 2), 3, "overflow");
    ck_assert_ptr_null(p);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(ar_test__stats().total_allocations, before.total_allocations);
}
END_TEST

START_TEST(malloc_near_size_max_returns_null_with_enomem)
{
    size_t sizes[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 64, (size_t)PTRDIFF_MAX + 1 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        void *p = AR__HEAP__MALLOC(opaque(sizes[i]), "huge");
        ck_assert_ptr_null(p);
        ck_assert_int_eq(errno, ENOMEM);
    }
    ck_assert_uint_eq(ar_test__stats().live_blocks, 0);
}
END_TEST

START_TEST(malloc_zero_returns_distinct_freeable_blocks)
{
    void *a = AR__HEAP__MALLOC(0, "empty a");
    void *b = AR__HEAP__MALLOC(0, "empty b");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ar_heap_stats_t s = ar_test__stats();
    ck_assert_uint_eq(s.live_blocks, 2);
    ck_assert_uint_eq(s.live_bytes, 0);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    ck_assert_uint_eq(ar_test__stats().live_blocks, 0);
}
END_TEST

START_TEST(blocks_are_aligned_for_max_align_t)
{
    void *blocks[64];
    for (size_t i = 0; i < 64; i++) {
        blocks[i] = AR__HEAP__MALLOC(i * 3 + 1, "aligned");
        ck_assert_ptr_nonnull(blocks[i]);
        ck_assert_uint_eq((uintptr_t)blocks[i] % _Alignof(max_align_t), 0);
    }
    for (size_t i = 0; i < 64; i++)
        AR__HEAP__FREE(blocks[i]);
}
END_TEST

START_TEST(realloc_of_null_allocates)
{
    char *p = AR__HEAP__REALLOC(NULL, 32, "from null");
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(ar_test__stats().live_bytes, 32);
    AR__HEAP__FREE(p);
}
END_TEST

START_TEST(realloc_grow_keeps_contents_and_moves_the_block)
{
    char *p = AR__HEAP__MALLOC(8, "small");
    memcpy(p, "abcdefg", 8);
    char *q = AR__HEAP__REALLOC(p, 4096, "grown");
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(p, q);
    ck_assert_str_eq(q, "abcdefg");
    ar_heap_stats_t s = ar_test__stats();
    ck_assert_uint_eq(s.live_blocks, 1);
    ck_assert_uint_eq(s.live_bytes, 4096);
    AR__HEAP__FREE(q);
}
END_TEST

START_TEST(realloc_shrink_keeps_the_prefix)
{
    char *p = AR__HEAP__MALLOC(100, "big");
    memset(p, 'q', 100);
    char *q = AR__HEAP__REALLOC(p, 10, "shrunk");
    ck_assert_ptr_nonnull(q);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(q[i], 'q');
    ck_assert_uint_eq(ar_test__stats().live_bytes, 10);
    AR__HEAP__FREE(q);
}
END_TEST

START_TEST(realloc_to_zero_frees_and_returns_null)
{
    char *p = AR__HEAP__MALLOC(50, "to be zeroed");
    ck_assert_ptr_null(AR__HEAP__REALLOC(p, 0, "zero"));
    ar_heap_stats_t s = ar_test__stats();
    ck_assert_uint_eq(s.live_blocks, 0);
    ck_assert_uint_eq(s.live_bytes, 0);
}
END_TEST

START_TEST(realloc_failure_leaves_the_old_block_live_and_intact)
{
    char *p = AR__HEAP__STRDUP("keep me", "kept");
    errno = 0;
    ck_assert_ptr_null(AR__HEAP__REALLOC(p, opaque(SIZE_MAX - 8), "too big"));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_str_eq(p, "keep me");
    ck_assert_uint_eq(ar_test__stats().live_blocks, 1);
    AR__HEAP__FREE(p);
}
END_TEST

START_TEST(strdup_copies_the_string_and_its_terminator)
{
    const char *original = "hello, agent";
    char *copy = AR__HEAP__STRDUP(original, "greeting");
    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_ne(copy, original);
    ck_assert_str_eq(copy, original);
    ck_assert_uint_eq(ar_test__stats().live_bytes, strlen(original) + 1);
    AR__HEAP__FREE(copy);
}
END_TEST

START_TEST(free_of_null_does_nothing)
{
    ar_heap_stats_t before = ar_test__stats();
    AR__HEAP__FREE(NULL);
    ar_heap__free(NULL);
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.live_blocks, before.live_blocks);
    ck_assert_uint_eq(after.total_allocations, before.total_allocations);
}
END_TEST

START_TEST(many_blocks_freed_in_any_order_leave_nothing_live)
{
    enum { N = 100000 };
    void **blocks = malloc(N * sizeof *blocks);
    ck_assert_ptr_nonnull(blocks);
    for (size_t i = 0; i < N; i++) {
        blocks[i] = AR__HEAP__MALLOC(1 + i % 97, "many");
        ck_assert_ptr_nonnull(blocks[i]);
    }
    ck_assert_uint_eq(ar_test__stats().live_blocks, N);
    /* Free in a scrambled order: stride coprime with N. */
    for (size_t i = 0, j = 0; i < N; i++, j = (j + 7919) % N)
        AR__HEAP__FREE(blocks[j]);
    ar_heap_stats_t s = ar_test__stats();
    ck_assert_uint_eq(s.live_blocks, 0);
    ck_assert_uint_eq(s.live_bytes, 0);
    free(blocks);
}
END_TEST

/* The process's resident memory, KiB (/proc/self/statm). */
static long resident_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A context (site, description, stack) is stored once however many a
 * program has: the depot's first entries hang from a small table of
 * chains and the rest from a large one (depot.c), and a context is found
 * again in either. 4000 descriptions, each a context of its own (they
 * lie in one buffer, so their text is compared), made 30 times over. The
 * first 10 rounds are not measured; stored again in each of the 20 after
 * them, the contexts would fill 20 x 4000 x 56 bytes or more (4.3 MiB) of
 * the depot. Then a block of an early context and one of a late one are
 * listed with their own descriptions. The resident memory is the
 * checker's and the program's only natively: Memcheck's and the
 * sanitizers' own tables grow with every access (ThreadSanitizer's by
 * about 4 MiB over these rounds, with the one-table depot as well). */
static void make_contexts(int count)
{
    char desc[32];
    for (int i = 0; i < count; i++) {
        snprintf(desc, sizeof desc, "context %d", i);
        AR__HEAP__FREE(AR__HEAP__MALLOC(8, desc));
    }
}

START_TEST(contexts_are_stored_once_however_many_there_are)
{
    enum { CONTEXTS = 4000, WARM = 10, MEASURED = 20 };
    char desc[32];
    static const char why[] = "the resident memory is not the program's alone";
    if (ar_test__skip_under_valgrind(__func__, why) || ar_test__skip_under_asan(__func__, why) ||
        ar_test__skip_under_tsan(__func__, why))
        return;
    ck_assert_int_eq(ar_heap__set_options("quarantine_bytes=0"), 0);
    for (int t = 0; t < WARM; t++)
        make_contexts(CONTEXTS);
    long before = resident_kib();
    for (int t = 0; t < MEASURED; t++)
        make_contexts(CONTEXTS);
    long grown = resident_kib() - before;
    ck_assert_msg(grown < 1024, "resident memory grew by %ld KiB", grown);

    ar_heap_mark_t mark = ar_heap__checkpoint();
    void *early = AR__HEAP__MALLOC(8, (snprintf(desc, sizeof desc, "context %d", 3), desc));
    void *late = AR__HEAP__MALLOC(8, (snprintf(desc, sizeof desc, "context %d", 3999), desc));
    char text[512];
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 2);
    ck_assert_msg(strstr(text, "\"context 3\"") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "\"context 3999\"") != NULL, "%s", text);
    AR__HEAP__FREE(early);
    AR__HEAP__FREE(late);
}
END_TEST

/* Past the thread's cache of contexts (256 entries), a thread that has
 * missed it 1024 times finds contexts again by their full hash, in a
 * table of its own (depot.c, "Recall"). 3000 descriptions in one buffer,
 * made three times over, then one block of each: every block must be
 * listed with its own description, whichever table answered. */
START_TEST(contexts_past_the_cache_are_recalled_as_themselves)
{
    enum { CONTEXTS = 3000 };
    char desc[32];
    char needle[40];
    ck_assert_int_eq(ar_heap__set_options("quarantine_bytes=0"), 0);
    for (int t = 0; t < 3; t++)
        make_contexts(CONTEXTS);
    ar_heap_mark_t mark = ar_heap__checkpoint();
    void **blocks = malloc(CONTEXTS * sizeof *blocks);
    ck_assert_ptr_nonnull(blocks);
    for (int i = 0; i < CONTEXTS; i++) {
        snprintf(desc, sizeof desc, "context %d", i);
        blocks[i] = AR__HEAP__MALLOC(8, desc);
    }
    size_t size = (size_t)CONTEXTS * 256;
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, size), CONTEXTS);
    ck_assert_msg(strlen(text) + 1 < size, "the listing was cut");
    for (int i = 0; i < CONTEXTS; i++) {
        snprintf(needle, sizeof needle, "\"context %d\"", i);
        ck_assert_msg(strstr(text, needle) != NULL, "block %d is not listed as %s", i, needle);
    }
    for (int i = 0; i < CONTEXTS; i++)
        AR__HEAP__FREE(blocks[i]);
    free(text);
    free(blocks);
}
END_TEST

/* The thread's cache holds contexts in pairs, the newest first
 * (ar_heap_depot__intern): two contexts that fall in one pair and take
 * turns are both answered from it, and three push the oldest out. 96
 * read-only descriptions (so the cache answers by their pointers alone),
 * taken in turn four times over, land in 128 pairs with some pairs
 * shared: every block must still be listed with its own description, in
 * the order it was made. */
START_TEST(contexts_taking_turns_keep_their_own_descriptions)
{
    enum { CONTEXTS = 96, ROUNDS = 4 };
    static const char descs[CONTEXTS][12] = {
#define AR_T8(n) "turn " #n "0", "turn " #n "1", "turn " #n "2", "turn " #n "3", \
                 "turn " #n "4", "turn " #n "5", "turn " #n "6", "turn " #n "7"
        AR_T8(0), AR_T8(1), AR_T8(2), AR_T8(3), AR_T8(4), AR_T8(5),
        AR_T8(6), AR_T8(7), AR_T8(8), AR_T8(9), AR_T8(a), AR_T8(b),
#undef AR_T8
    };
    ck_assert_int_eq(ar_heap__set_options("quarantine_bytes=0"), 0);
    ar_heap_mark_t mark = ar_heap__checkpoint();
    void *blocks[CONTEXTS * ROUNDS];
    for (int i = 0; i < CONTEXTS * ROUNDS; i++)
        blocks[i] = AR__HEAP__MALLOC(8, descs[i % CONTEXTS]);
    size_t size = (size_t)CONTEXTS * ROUNDS * 128;
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, size), CONTEXTS * ROUNDS);
    ck_assert_msg(strlen(text) + 1 < size, "the listing was cut");
    const char *line = text;
    for (int i = 0; i < CONTEXTS * ROUNDS; i++) {
        const char *quote = strchr(line, '"');
        ck_assert_msg(quote != NULL, "block %d is not listed", i);
        const char *want = descs[i % CONTEXTS];
        size_t len = strlen(want);
        ck_assert_msg(strncmp(quote + 1, want, len) == 0 && quote[1 + len] == '"',
                      "block %d is listed as %.14s, not \"%s\"", i, quote, want);
        line = strchr(quote + 1, '\n');
        ck_assert_ptr_nonnull(line);
    }
    for (int i = 0; i < CONTEXTS * ROUNDS; i++)
        AR__HEAP__FREE(blocks[i]);
    free(text);
}
END_TEST

/* Call-site objects (ar_heap.h, ar_heap_call_site_t): the object of a
 * call remembers the context of the first return address it is used
 * from; a call from another return address with the same object (a call
 * in an inline function used by several callers) finds its own context
 * and leaves the memo as it is. The two callers differ in what they do,
 * so that the compiler can not fold them into one function. */
static __attribute__((noinline)) void *call_site_first(ar_heap_call_site_t *site)
{
    return ar_heap__malloc_site(8, site);
}

static __attribute__((noinline)) void *call_site_second(ar_heap_call_site_t *site)
{
    return ar_heap__malloc_site(24, site);
}

START_TEST(a_call_site_object_remembers_its_first_caller_only)
{
    static ar_heap_call_site_t site = { __FILE__, 4242, "call site object", NULL, 0 };
    static ar_heap_call_site_t free_site = { __FILE__, 4343, NULL, NULL, 0 };
    ar_heap_mark_t mark = ar_heap__checkpoint();
    void *first = call_site_first(&site);
    ck_assert_ptr_nonnull(first);
    ck_assert_uint_ne(site.memo_id, 0);
    ck_assert_ptr_nonnull(site.memo_pc);
    const void *pc = site.memo_pc;
    unsigned id = site.memo_id;
    void *second = call_site_second(&site);
    void *again = call_site_first(&site);
    ck_assert_ptr_nonnull(second);
    ck_assert_ptr_nonnull(again);
    ck_assert_ptr_eq(site.memo_pc, pc);
    ck_assert_uint_eq(site.memo_id, id);
    char text[1024];
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 3);
    const char *at = text;
    for (int i = 0; i < 3; i++) {
        at = strstr(at, "\"call site object\"");
        ck_assert_msg(at != NULL, "block %d is not listed with its description: %s", i, text);
        at++;
    }
    at = text;
    for (int i = 0; i < 3; i++) {
        at = strstr(at, ":4242");
        ck_assert_msg(at != NULL, "block %d is not listed with the object's line: %s", i, text);
        at++;
    }
    ar_heap__free_site(first, &free_site);
    ck_assert_uint_ne(free_site.memo_id, 0);
    ar_heap__free_site(second, &free_site);
    ar_heap__free_site(again, &free_site);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
}
END_TEST

/* Threads that make their first calls through one object at once: the
 * memo is written once, whole (its id is that of the pc it names), and
 * every block is tracked and freed. Run under TSan by
 * make check-sanitize-tsan. */
enum { CALL_SITE_THREADS = 4, CALL_SITE_ROUNDS = 2000 };
static ar_heap_call_site_t shared_site = { __FILE__, 4444, "shared call site", NULL, 0 };
static ar_heap_call_site_t shared_free_site = { __FILE__, 4545, NULL, NULL, 0 };

static void *call_site_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < CALL_SITE_ROUNDS; i++) {
        unsigned char *p = ar_heap__malloc_site(16 + (size_t)(i % 7) * 8, &shared_site);
        if (p == NULL)
            return (void *)1;
        p[0] = (unsigned char)i;
        ar_heap__free_site(p, &shared_free_site);
    }
    return NULL;
}

START_TEST(threads_share_a_call_site_object)
{
    ar_heap_stats_t before = ar_test__stats();
    pthread_t threads[CALL_SITE_THREADS];
    for (int t = 0; t < CALL_SITE_THREADS; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, call_site_worker, NULL), 0);
    for (int t = 0; t < CALL_SITE_THREADS; t++) {
        void *failed = (void *)1;
        ck_assert_int_eq(pthread_join(threads[t], &failed), 0);
        ck_assert_ptr_null(failed);
    }
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.live_blocks, before.live_blocks);
    ck_assert_uint_eq(after.total_allocations,
                      before.total_allocations + CALL_SITE_THREADS * CALL_SITE_ROUNDS);
    ck_assert_uint_ne(shared_site.memo_id, 0);
    ck_assert_ptr_nonnull(shared_site.memo_pc);
    ck_assert_uint_ne(shared_free_site.memo_id, 0);
    ar_heap_mark_t mark = ar_heap__checkpoint();
    void *p = ar_heap__malloc_site(8, &shared_site);
    char text[512];
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 1);
    ck_assert_msg(strstr(text, "\"shared call site\"") != NULL && strstr(text, ":4444") != NULL,
                  "%s", text);
    ar_heap__free_site(p, &shared_free_site);
}
END_TEST

/* The macros evaluate each argument once, whichever function they call. */
static int desc_calls;
static const char *counted_desc(void)
{
    desc_calls++;
    return "counted";
}

START_TEST(macros_evaluate_each_argument_once)
{
    size_t n = 8;
    void *blocks[4];
    int i = 0;
    blocks[i++] = AR__HEAP__MALLOC(n++, "literal");
    blocks[i++] = AR__HEAP__MALLOC(n++, counted_desc());
    blocks[i++] = AR__HEAP__CALLOC(n++, 2, "literal");
    const char *str = i == 3 ? "three" : "other";
    blocks[i++] = AR__HEAP__STRDUP(str, counted_desc());
    ck_assert_int_eq(i, 4);
    ck_assert_uint_eq(n, 11);
    ck_assert_int_eq(desc_calls, 2);
    ck_assert_str_eq(blocks[3], "three");
    int j = 0;
    while (j < 4)
        AR__HEAP__FREE(blocks[j++]);
    ck_assert_int_eq(j, 4);
    ck_assert_uint_eq(ar_test__stats().live_blocks, 0);
}
END_TEST

START_TEST(ar_heap_free_without_site_frees_a_live_block)
{
    void *p = AR__HEAP__MALLOC(5, "via ar_heap__free");
    ar_heap__free(p);
    ck_assert_uint_eq(ar_test__stats().live_blocks, 0);
}
END_TEST

START_TEST(library_reports_that_it_tracks)
{
    ck_assert_int_eq(ar_heap__has_tracking(), 1);
    ck_assert_int_eq(AR_HEAP_TRACKING, 1);
}
END_TEST

static Suite *tracking_suite(void)
{
    Suite *s = suite_create("tracking");
    TCase *tc = tcase_create("blocks");
    tcase_add_test(tc, malloc_tracks_one_live_block_of_the_requested_size);
    tcase_add_test(tc, calloc_returns_zeroed_memory);
    tcase_add_test(tc, calloc_overflow_returns_null_with_enomem_and_tracks_nothing);
    tcase_add_test(tc, malloc_near_size_max_returns_null_with_enomem);
    tcase_add_test(tc, malloc_zero_returns_distinct_freeable_blocks);
    tcase_add_test(tc, blocks_are_aligned_for_max_align_t);
    tcase_add_test(tc, realloc_of_null_allocates);
    tcase_add_test(tc, realloc_grow_keeps_contents_and_moves_the_block);
    tcase_add_test(tc, realloc_shrink_keeps_the_prefix);
    tcase_add_test(tc, realloc_to_zero_frees_and_returns_null);
    tcase_add_test(tc, realloc_failure_leaves_the_old_block_live_and_intact);
    tcase_add_test(tc, strdup_copies_the_string_and_its_terminator);
    tcase_add_test(tc, free_of_null_does_nothing);
    tcase_add_test(tc, many_blocks_freed_in_any_order_leave_nothing_live);
    tcase_add_test(tc, ar_heap_free_without_site_frees_a_live_block);
    tcase_add_test(tc, library_reports_that_it_tracks);
    tcase_add_test(tc, contexts_are_stored_once_however_many_there_are);
    tcase_add_test(tc, contexts_past_the_cache_are_recalled_as_themselves);
    tcase_add_test(tc, contexts_taking_turns_keep_their_own_descriptions);
    tcase_add_test(tc, a_call_site_object_remembers_its_first_caller_only);
    tcase_add_test(tc, threads_share_a_call_site_object);
    tcase_add_test(tc, macros_evaluate_each_argument_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(tracking_suite(), 1);
}
