/*
 * check_release.c: release macros are plain libc.
 *
 * Built with -DAR_HEAP_DISABLE, so these are the macros a release build
 * (or a unit that opts out) sees, whatever the library's mode. They must
 * allocate and free through libc, track nothing, and never evaluate the
 * description. The last tests check the library itself as built: in a
 * release library the functions are pass-throughs with empty statistics.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "ar_heap.h"
#include "ar_test.h"

#if AR_HEAP_TRACKING
#error "check_release.c must be built with AR_HEAP_DISABLE"
#endif

static int desc_evaluations;

static const char *counted_desc(void)
{
    desc_evaluations++;
    return "counted";
}

START_TEST(release_macros_never_evaluate_the_description)
{
    desc_evaluations = 0;
    char *a = AR__HEAP__MALLOC(8, counted_desc());
    char *b = AR__HEAP__CALLOC(2, 8, counted_desc());
    char *c = AR__HEAP__STRDUP("text", counted_desc());
    a = AR__HEAP__REALLOC(a, 64, counted_desc());
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    AR__HEAP__FREE(c);
    ck_assert_int_eq(desc_evaluations, 0);
    /* The counter itself works: a real call counts. */
    ck_assert_str_eq(counted_desc(), "counted");
    ck_assert_int_eq(desc_evaluations, 1);
}
END_TEST

START_TEST(release_macros_evaluate_each_other_argument_once)
{
    size_t n = 3;
    char *blocks[4];
    size_t i = 0;
    blocks[i++] = AR__HEAP__MALLOC(n++, "m");
    blocks[i++] = AR__HEAP__CALLOC(n++, 1, "c");
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(i, 2);
    char **slot = blocks;
    AR__HEAP__FREE(*slot++);
    AR__HEAP__FREE(*slot++);
    ck_assert_ptr_eq(slot, blocks + 2);
}
END_TEST

START_TEST(release_blocks_are_not_tracked)
{
    ar_heap_stats_t before = ar_test__stats();
    char *p = AR__HEAP__MALLOC(100, "untracked");
    ck_assert_ptr_nonnull(p);
    memset(p, 1, 100);
    ar_heap_stats_t during = ar_test__stats();
    ck_assert_mem_eq(&before, &during, sizeof before);
    /* A libc block: libc's free takes it. */
    free(p);
}
END_TEST

START_TEST(release_macros_behave_as_libc)
{
    int *zeros = AR__HEAP__CALLOC(16, sizeof *zeros, "zeros");
    ck_assert_ptr_nonnull(zeros);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(zeros[i], 0);
    char *s = AR__HEAP__STRDUP("release", "copy");
    ck_assert_str_eq(s, "release");
    s = AR__HEAP__REALLOC(s, 100, "grown");
    ck_assert_str_eq(s, "release");
    AR__HEAP__FREE(s);
    AR__HEAP__FREE(zeros);
    AR__HEAP__FREE(NULL);
}
END_TEST

START_TEST(a_release_library_has_pass_through_functions_and_empty_statistics)
{
    if (ar_heap__has_tracking())
        return; /* debug library: covered by the tracking suites */
    ck_assert_int_eq(AR_HEAP_CONFIG_DEBUG, 0);
    char *p = ar_heap__malloc(10, __FILE__, __LINE__, "direct");
    ck_assert_ptr_nonnull(p);
    char *q = ar_heap__strdup("x", __FILE__, __LINE__, "direct");
    ck_assert_str_eq(q, "x");
    p = ar_heap__realloc(p, 20, __FILE__, __LINE__, "direct");
    void *z = ar_heap__calloc(3, 3, __FILE__, __LINE__, "direct");
    ck_assert_ptr_nonnull(z);
    ar_heap_stats_t s = ar_test__stats();
    ck_assert_uint_eq(s.total_allocations, 0);
    ck_assert_uint_eq(s.live_blocks, 0);
    ck_assert_int_eq(ar_heap__set_options("anything=at all"), 0);
    ar_heap__memory_report();
    ar_heap__free_at(p, __FILE__, __LINE__);
    ar_heap__free(q);
    ar_heap__free(z);
}
END_TEST

static void body_describe(void)
{
    static int x;
    ar_heap__describe(&x);
}

START_TEST(a_release_library_describes_nothing_and_says_why)
{
    if (ar_heap__has_tracking())
        return; /* debug library: check_describe */
    ar_test_child_t child;
    ar_test__run_child(body_describe, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: describe: the heap is not tracked (arheap was "
                                      "built without --enable-debug-heap); nothing is known "
                                      "of 0x");
}
END_TEST

START_TEST(the_config_header_matches_the_library)
{
    ck_assert_int_eq(AR_HEAP_CONFIG_DEBUG, ar_heap__has_tracking());
}
END_TEST

static Suite *release_suite(void)
{
    Suite *s = suite_create("release");
    TCase *tc = tcase_create("macros");
    tcase_add_test(tc, release_macros_never_evaluate_the_description);
    tcase_add_test(tc, release_macros_evaluate_each_other_argument_once);
    tcase_add_test(tc, release_blocks_are_not_tracked);
    tcase_add_test(tc, release_macros_behave_as_libc);
    tcase_add_test(tc, a_release_library_has_pass_through_functions_and_empty_statistics);
    tcase_add_test(tc, a_release_library_describes_nothing_and_says_why);
    tcase_add_test(tc, the_config_header_matches_the_library);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(release_suite(), 0);
}
