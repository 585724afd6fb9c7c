/*
 * check_options.c: AR_HEAP_OPTIONS and ar_heap__set_options().
 *
 * Options are read once, at the first use of the heap, so every test that
 * sets the environment runs in a fresh child (this suite needs Check's
 * fork mode, the default; under CK_FORK=no it skips those tests).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar_heap.h"
#include "ar_test.h"

static void double_free(void)
{
    char *p = AR__HEAP__MALLOC(8, "options probe");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

static void body_env_exit(void)
{
    setenv("AR_HEAP_OPTIONS", "on_error=exit:error_exitcode=41", 1);
    double_free();
    puts("survived");
}

START_TEST(ar_heap_options_is_read_at_first_use)
{
    ar_test_child_t child;
    ar_test__run_child(body_env_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 41, "output:\n%s", child.output);
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

static void body_env_overrides_code(void)
{
    (void)ar_heap__set_options("on_error=exit:error_exitcode=40");
    setenv("AR_HEAP_OPTIONS", "error_exitcode=44", 1);
    double_free();
}

START_TEST(the_environment_overrides_options_set_from_code_before_first_use)
{
    ar_test_child_t child;
    ar_test__run_child(body_env_overrides_code, &child);
    ck_assert_msg(child.exited && child.exit_code == 44, "output:\n%s", child.output);
}
END_TEST

static void body_code_after_init(void)
{
    void *p = AR__HEAP__MALLOC(1, "starts the heap");
    AR__HEAP__FREE(p);
    (void)ar_heap__set_options("on_error=exit:error_exitcode=45");
    double_free();
}

START_TEST(options_set_from_code_after_first_use_take_effect)
{
    ar_test_child_t child;
    ar_test__run_child(body_code_after_init, &child);
    ck_assert_msg(child.exited && child.exit_code == 45, "output:\n%s", child.output);
}
END_TEST

static void body_unknown_key(void)
{
    setenv("AR_HEAP_OPTIONS", "colour=blue:on_error=exit:error_exitcode=46", 1);
    double_free();
}

START_TEST(an_unknown_key_is_warned_about_by_name_and_the_rest_still_applies)
{
    ar_test_child_t child;
    ar_test__run_child(body_unknown_key, &child);
    AR_TEST_ASSERT_OUTPUT_HAS(&child,
                              "arheap: warning: AR_HEAP_OPTIONS: unknown option 'colour' ignored");
    ck_assert_msg(child.exited && child.exit_code == 46, "output:\n%s", child.output);
}
END_TEST

static void body_bad_value(void)
{
    setenv("AR_HEAP_OPTIONS", "on_error=explode", 1);
    double_free();
}

START_TEST(a_malformed_value_is_warned_about_and_the_default_kept)
{
    ar_test_child_t child;
    ar_test__run_child(body_bad_value, &child);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "option 'on_error' takes abort, exit or continue; got 'explode'");
    /* The default, abort, still holds. */
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free");
}
END_TEST

START_TEST(set_options_returns_the_number_of_problems)
{
    ck_assert_int_eq(ar_heap__set_options("leak_report=0"), 0);
    ck_assert_int_eq(ar_heap__set_options(""), 0);
    ck_assert_int_eq(ar_heap__set_options(NULL), 0);
    ck_assert_int_eq(ar_heap__set_options("nope=1:leak_report=0"), 1);
    ck_assert_int_eq(ar_heap__set_options("error_exitcode=0:error_exitcode=256"), 2);
    ck_assert_int_eq(ar_heap__set_options("leak_report"), 1);
    ck_assert_int_eq(ar_heap__set_options("freed_history=-1:freed_history=12x"), 2);
    ck_assert_int_eq(ar_heap__set_options("leak_exitcode=99999999999999999999999"), 1);
}
END_TEST

static void body_many_bad(void)
{
    /* Garbage of every shape: no crash, a warning each, then normal use. */
    (void)ar_heap__set_options("=:==:=x:a=:leak_report:leak_report=2:"
                               "report_path=:on_error=:error_exitcode=1e3::::");
    char key[200];
    memset(key, 'k', sizeof key - 3);
    strcpy(key + sizeof key - 3, "=1");
    (void)ar_heap__set_options(key);
    void *p = AR__HEAP__MALLOC(3, "after garbage");
    AR__HEAP__FREE(p);
    puts("still working");
}

START_TEST(malformed_option_strings_never_crash)
{
    ar_test_child_t child;
    ar_test__run_child(body_many_bad, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "still working\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "option 'leak_report' has no value");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "option 'leak_report' takes 0 or 1");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "unknown option (a key of more than 63 bytes)");
}
END_TEST

static void body_help(void)
{
    setenv("AR_HEAP_OPTIONS", "help=1", 1);
    void *p = AR__HEAP__MALLOC(1, "wakes the heap");
    AR__HEAP__FREE(p);
}

START_TEST(help_lists_every_option_with_its_default)
{
    ar_test_child_t child;
    ar_test__run_child(body_help, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap options (AR_HEAP_OPTIONS=");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  on_error (default: abort)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  error_exitcode (default: 23)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  leak_report (default: 1)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  leak_exitcode (default: 23)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  report_path (default: heap_memory_report.log)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  freed_history (default: 1)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  guard_max_live (default: 0)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  help (default: 0)\n");
}
END_TEST

static Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("parsing");
    tcase_add_test(tc, ar_heap_options_is_read_at_first_use);
    tcase_add_test(tc, the_environment_overrides_options_set_from_code_before_first_use);
    tcase_add_test(tc, options_set_from_code_after_first_use_take_effect);
    tcase_add_test(tc, an_unknown_key_is_warned_about_by_name_and_the_rest_still_applies);
    tcase_add_test(tc, a_malformed_value_is_warned_about_and_the_default_kept);
    tcase_add_test(tc, set_options_returns_the_number_of_problems);
    tcase_add_test(tc, malformed_option_strings_never_crash);
    tcase_add_test(tc, help_lists_every_option_with_its_default);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Nothing before the suite may touch the heap: children must start
     * uninitialised so they read their own AR_HEAP_OPTIONS. */
    unsetenv("AR_HEAP_OPTIONS");
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(options_suite(), 1);
}
