/*
 * check_bad_free.c: frees of pointers that are not live blocks are caught.
 *
 * Each test runs the faulty code in a child process and asserts how the
 * child ended (abort by default, or the configured exit code) and what the
 * report says: the error kind, the block, its allocation and free sites.
 * None of these pointers may reach libc's free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

static void body_double_free(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "config path");
    ar_test__note("first", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("second", __LINE__ + 1);
    AR__HEAP__FREE(p);
    puts("survived");
}

START_TEST(double_free_aborts_naming_the_block_and_all_three_sites)
{
    ar_test_child_t child;
    ar_test__run_child(body_double_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"config path\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "first");
    AR_TEST_ASSERT_SITE(&child, "  free at ", "second");
    AR_TEST_ASSERT_SITE(&child, "SUMMARY: arheap: double-free at ", "second");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

/* The second free, in a thread of its own: the report names the thread
 * of each site (the operation's id is read as the report is written). */
static void *free_again(void *p)
{
    ar_test__note("second_tid", (int)syscall(SYS_gettid));
    ar_test__note("second", __LINE__ + 1);
    AR__HEAP__FREE(p);
    return NULL;
}

static void body_double_free_in_another_thread(void)
{
    ar_test__note("first_tid", (int)syscall(SYS_gettid));
    char *p = AR__HEAP__MALLOC(13, "shared");
    ar_test__note("first", __LINE__ + 1);
    AR__HEAP__FREE(p);
    pthread_t thread;
    pthread_create(&thread, NULL, free_again, p);
    pthread_join(thread, NULL);
    puts("survived");
}

START_TEST(double_free_in_another_thread_names_the_thread_of_each_free)
{
    ar_test_child_t child;
    char freed[64], again[64];
    ar_test__run_child(body_double_free_in_another_thread, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free of 0x");
    ck_assert_int_ne(ar_test__note_value(&child, "first_tid"),
                     ar_test__note_value(&child, "second_tid"));
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "first");
    AR_TEST_ASSERT_SITE(&child, "  free at ", "second");
    snprintf(freed, sizeof freed, " (thread %d)", ar_test__note_value(&child, "first_tid"));
    snprintf(again, sizeof again, " in thread %d", ar_test__note_value(&child, "second_tid"));
    ck_assert_msg(ar_test__output_line_has(&child, "  freed at ", freed),
                  "the first free's thread is not named:\n%s", child.output);
    ck_assert_msg(ar_test__output_line_has(&child, "  free at ", again),
                  "the second free's thread is not named:\n%s", child.output);
    /* the id ends the line: not a longer number that starts with it */
    strcat(again, "\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, again);
}
END_TEST

static void body_double_free_continue(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(8, "twice");
    char *other = AR__HEAP__MALLOC(8, "bystander");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("live=%zu\n", s.live_blocks);
    AR__HEAP__FREE(other);
    ar_heap__get_stats(&s);
    printf("after=%zu\n", s.live_blocks);
}

START_TEST(double_free_with_on_error_continue_reports_and_changes_nothing)
{
    ar_test_child_t child;
    ar_test__run_child(body_double_free_continue, &child);
    ck_assert(child.exited && child.exit_code == 0);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: double-free"), 1);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "live=1\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "after=0\n");
}
END_TEST

static void body_on_error_exit(void)
{
    (void)ar_heap__set_options("on_error=exit:error_exitcode=42");
    char *p = AR__HEAP__MALLOC(8, "exit code");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
    puts("survived");
}

START_TEST(on_error_exit_ends_the_process_with_error_exitcode)
{
    ar_test_child_t child;
    ar_test__run_child(body_on_error_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 42, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: double-free");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

static void body_interior_free(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(16, "sixteen");
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p + 4);
}

START_TEST(interior_pointer_free_names_the_offset_and_the_owning_block)
{
    ar_test_child_t child;
    ar_test__run_child(body_interior_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the pointer is 4 bytes inside a live block, not its start");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 16 bytes \"sixteen\"");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  free at ", "free");
}
END_TEST

static void body_interior_free_continue(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(16, "still live");
    AR__HEAP__FREE(p + 1);
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("live=%zu bytes=%zu\n", s.live_blocks, s.live_bytes);
    AR__HEAP__FREE(p);
}

START_TEST(interior_pointer_free_leaves_the_block_live)
{
    ar_test_child_t child;
    ar_test__run_child(body_interior_free_continue, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the pointer is 1 byte inside a live block");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "live=1 bytes=16\n");
}
END_TEST

/* A pointer into a live block's head zone, and one inside a freed block:
 * each named by where it lies and the block's sites (until stop 41 both
 * were "not a block arheap allocated"). */
static void body_near_blocks(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *live = AR__HEAP__MALLOC(32, "the live one");
    AR__HEAP__FREE(live - 8);
    char *gone = AR__HEAP__MALLOC(24, "the freed one");
    AR__HEAP__FREE(gone);
    AR__HEAP__FREE(gone + 8);
    AR__HEAP__FREE(live);
    puts("[survived]");
}

START_TEST(a_pointer_near_a_block_is_named_by_where_it_lies)
{
    ar_test_child_t child;
    ar_test__run_child(body_near_blocks, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  the pointer is 8 bytes before the start of a live block, "
                                      "in its head canary zone\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 32 bytes \"the live one\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  the pointer is 8 bytes inside a freed block, not its "
                                      "start\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 24 bytes \"the freed one\"");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: invalid-free"), 2);
    ck_assert(!ar_test__output_has(&child, "not a block arheap allocated"));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[survived]");
}
END_TEST

static void body_near_json(void)
{
    (void)ar_heap__set_options("on_error=continue:report_json=1");
    char *live = AR__HEAP__MALLOC(32, "json live");
    AR__HEAP__FREE(live - 8);
    AR__HEAP__FREE(live);
}

START_TEST(a_pointer_near_a_block_has_its_offset_in_json)
{
    ar_test_child_t child;
    ar_test__run_child(body_near_json, &child);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"detail\":\"the pointer is before the start of a live "
                                      "block, in its head canary zone\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"description\":\"json live\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"offset\":-8,");
}
END_TEST

static void body_stack_free(void)
{
    char on_stack[32];
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(on_stack);
}

START_TEST(stack_pointer_free_is_an_invalid_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_stack_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the pointer is not a block arheap allocated");
    AR_TEST_ASSERT_SITE(&child, "  free at ", "free");
}
END_TEST

static int a_global[4];

static void body_global_free(void)
{
    AR__HEAP__FREE(&a_global[1]);
}

START_TEST(global_pointer_free_is_an_invalid_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_global_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the pointer is not a block arheap allocated");
}
END_TEST

static void body_plain_malloc_free(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *plain = malloc(24);
    strcpy(plain, "untouched");
    AR__HEAP__FREE(plain);
    /* The block never reached libc's free: it is intact and freeable. */
    printf("content=%s\n", plain);
    free(plain);
}

START_TEST(free_of_a_plain_malloc_block_is_reported_and_never_reaches_libc)
{
    ar_test_child_t child;
    ar_test__run_child(body_plain_malloc_free, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: invalid-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "content=untouched\n");
}
END_TEST

static void body_evicted_double_free(void)
{
    (void)ar_heap__set_options("freed_history=0:quarantine_bytes=0");
    char *p = AR__HEAP__MALLOC(8, "forgotten");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(double_free_beyond_the_freed_history_is_still_an_invalid_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_evicted_double_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "freed so long ago that its record left the freed history");
}
END_TEST

static void body_realloc_of_freed(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(8, "gone");
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("realloc", __LINE__ + 1);
    char *q = AR__HEAP__REALLOC(p, 64, "regrown");
    (void)q;
}

START_TEST(realloc_of_a_freed_block_is_a_double_free_with_the_realloc_site)
{
    ar_test_child_t child;
    ar_test__run_child(body_realloc_of_freed, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 8 bytes \"gone\"");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "free");
    AR_TEST_ASSERT_SITE(&child, "  realloc at ", "realloc");
}
END_TEST

static void body_realloc_interior_continue(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(32, "realloc target");
    char *q = AR__HEAP__REALLOC(p + 8, 64, "bad");
    printf("result=%s\n", q == NULL ? "null" : "block");
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("live=%zu\n", s.live_blocks);
    AR__HEAP__FREE(p);
}

START_TEST(realloc_of_an_interior_pointer_is_reported_and_returns_null)
{
    ar_test_child_t child;
    ar_test__run_child(body_realloc_interior_continue, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: invalid-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the pointer is 8 bytes inside a live block");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "result=null\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "live=1\n");
}
END_TEST

static void body_free_without_site(void)
{
    char *p = AR__HEAP__MALLOC(4, "no site");
    ar_heap__free(p);
    ar_heap__free(p);
}

START_TEST(free_without_a_site_names_the_callers_address)
{
    ar_test_child_t child;
    ar_test__run_child(body_free_without_site, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free");
    /* No file:line: the return address into the caller, and its module. */
    ck_assert_msg(ar_test__output_line_has(&child, "  free at 0x", "check_bad_free+0x"),
                  "the free's site is not the caller's address:\n%s", child.output);
    ck_assert_msg(ar_test__output_line_has(&child, "  freed at 0x", "check_bad_free+0x"),
                  "the first free's site is not the caller's address:\n%s", child.output);
    ck_assert(!ar_test__output_has(&child, "unknown site"));
}
END_TEST

static void body_strdup_null(void)
{
    ar_test__note("call", __LINE__ + 1);
    char *p = AR__HEAP__STRDUP(NULL, "nothing");
    (void)p;
}

START_TEST(strdup_of_null_is_an_invalid_argument_error)
{
    ar_test_child_t child;
    ar_test__run_child(body_strdup_null, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-argument");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "STRDUP was given a NULL string");
    AR_TEST_ASSERT_SITE(&child, "  call at ", "call");
}
END_TEST

static void body_strdup_null_continue(void)
{
    (void)ar_heap__set_options("on_error=continue");
    errno = 0;
    char *p = AR__HEAP__STRDUP(NULL, "nothing");
    printf("result=%s errno=%s\n", p == NULL ? "null" : "block", errno == EINVAL ? "EINVAL" : "?");
}

START_TEST(strdup_of_null_with_continue_returns_null_and_einval)
{
    ar_test_child_t child;
    ar_test__run_child(body_strdup_null_continue, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "result=null errno=EINVAL\n");
}
END_TEST

static void body_desc_copied(void)
{
    char desc[32];
    strcpy(desc, "original text");
    char *p = AR__HEAP__MALLOC(3, desc);
    strcpy(desc, "overwritten!!");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(the_description_is_copied_at_allocation)
{
    ar_test_child_t child;
    ar_test__run_child(body_desc_copied, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "\"original text\"");
    ck_assert(!ar_test__output_has(&child, "overwritten"));
}
END_TEST

static void body_long_desc(void)
{
    char desc[200];
    memset(desc, 'd', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    char *p = AR__HEAP__MALLOC(3, desc);
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(a_long_description_is_cut_at_63_bytes)
{
    ar_test_child_t child;
    char expect[80];
    ar_test__run_child(body_long_desc, &child);
    memset(expect, 'd', 64);
    expect[0] = '"';
    expect[64] = '"';
    expect[65] = '\0';
    /* "ddd...d" with exactly 63 d's between the quotes. */
    AR_TEST_ASSERT_ABORTED_WITH(&child, expect);
    ck_assert(!ar_test__output_has(&child, "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"));
}
END_TEST

/* A user's Check test with a double free, run by its own SRunner in fork
 * mode: the error must fail that test, with the report in the output. */
START_TEST(inner_test_with_a_double_free)
{
    char *p = AR__HEAP__MALLOC(8, "inside a user's test");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}
END_TEST

static void body_inner_suite(void)
{
    Suite *suite = suite_create("user");
    TCase *tc = tcase_create("user");
    tcase_add_test(tc, inner_test_with_a_double_free);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    printf("inner failed=%d\n", srunner_ntests_failed(runner));
    srunner_free(runner);
}

START_TEST(an_error_in_a_forked_check_test_fails_that_test_with_the_report)
{
    ar_test_child_t child;
    ar_test__run_child(body_inner_suite, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: double-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "block: 8 bytes \"inside a user's test\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "inner_test_with_a_double_free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "signal 6");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "inner failed=1\n");
}
END_TEST

static Suite *bad_free_suite(void)
{
    Suite *s = suite_create("bad_free");
    TCase *tc = tcase_create("reports");
    tcase_add_test(tc, double_free_aborts_naming_the_block_and_all_three_sites);
    tcase_add_test(tc, double_free_with_on_error_continue_reports_and_changes_nothing);
    tcase_add_test(tc, double_free_in_another_thread_names_the_thread_of_each_free);
    tcase_add_test(tc, on_error_exit_ends_the_process_with_error_exitcode);
    tcase_add_test(tc, interior_pointer_free_names_the_offset_and_the_owning_block);
    tcase_add_test(tc, interior_pointer_free_leaves_the_block_live);
    tcase_add_test(tc, a_pointer_near_a_block_is_named_by_where_it_lies);
    tcase_add_test(tc, a_pointer_near_a_block_has_its_offset_in_json);
    tcase_add_test(tc, stack_pointer_free_is_an_invalid_free);
    tcase_add_test(tc, global_pointer_free_is_an_invalid_free);
    tcase_add_test(tc, free_of_a_plain_malloc_block_is_reported_and_never_reaches_libc);
    tcase_add_test(tc, double_free_beyond_the_freed_history_is_still_an_invalid_free);
    tcase_add_test(tc, realloc_of_a_freed_block_is_a_double_free_with_the_realloc_site);
    tcase_add_test(tc, realloc_of_an_interior_pointer_is_reported_and_returns_null);
    tcase_add_test(tc, free_without_a_site_names_the_callers_address);
    tcase_add_test(tc, strdup_of_null_is_an_invalid_argument_error);
    tcase_add_test(tc, strdup_of_null_with_continue_returns_null_and_einval);
    tcase_add_test(tc, the_description_is_copied_at_allocation);
    tcase_add_test(tc, a_long_description_is_cut_at_63_bytes);
    tcase_add_test(tc, an_error_in_a_forked_check_test_fails_that_test_with_the_report);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(bad_free_suite(), 1);
}
