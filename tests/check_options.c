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
#include <unistd.h>

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

/* Pairs separated as ASAN_OPTIONS's: ':' ',' and white space, mixed. */
static void body_separators(void)
{
    setenv("AR_HEAP_OPTIONS", " on_error=exit,error_exitcode=47\tcanary=1 \n fill=1:,", 1);
    double_free();
}

START_TEST(commas_and_white_space_separate_pairs_as_colons_do)
{
    ar_test_child_t child;
    ar_test__run_child(body_separators, &child);
    ck_assert_msg(child.exited && child.exit_code == 47, "output:\n%s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "warning"), "output:\n%s", child.output);
}
END_TEST

START_TEST(each_separator_ends_a_pair_and_counts_its_problem)
{
    ck_assert_int_eq(ar_heap__set_options("leak_report=0,canary=1 fill=1\tcheck_every=0"), 0);
    ck_assert_int_eq(ar_heap__set_options("nope=1,nix=2 leak_report=0"), 2);
    ck_assert_int_eq(ar_heap__set_options("leak_report=0 1"), 1); /* "1": a key */
    ck_assert_int_eq(ar_heap__set_options(" , : \t\n"), 0);
}
END_TEST

/* A value that holds a separator is quoted, with ' or ". */
static void body_quoted(void)
{
    (void)ar_heap__set_options("report_path='a b,c:d.log' leak_report=0");
    ar_heap__memory_report();
    printf("[file=%d]\n", access("a b,c:d.log", F_OK) == 0);
    unlink("a b,c:d.log");
    (void)ar_heap__set_options("report_json=\" 1\"");
    (void)ar_heap__set_options("fail_file=\"x y\"z fail_line=3");
    printf("[unterminated=%d]\n", ar_heap__set_options("report_path='open fill=1"));
    printf("[quoted ok=%d]\n", ar_heap__set_options("report_path=\"with space.log\",fill=1"));
    fflush(stdout);
}

START_TEST(quoted_values_keep_their_separators)
{
    ar_test_child_t child;
    ar_test__run_child(body_quoted, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    /* The quoted bytes are the value, spaces and all. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "option 'report_json' takes 0 or 1 (or true/false, "
                                      "yes/no); got ' 1' (ignored)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "option 'fail_file' has text after its closing quote "
                                      "(ignored)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "option 'report_path' has a quoted value without its "
                                      "closing quote\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[file=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[unterminated=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[quoted ok=0]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: warning:"), 3);
}
END_TEST

/* A misspelled key: the nearest option's name. */
static void body_misspelled(void)
{
    setenv("AR_HEAP_OPTIONS",
           "stak_depth=4:Guard_Below=1:quarantine_byte=0:leakexitcode=0:fail_sed=2:zzzz=1", 1);
    void *p = AR__HEAP__MALLOC(1, "starts the heap");
    AR__HEAP__FREE(p);
}

START_TEST(a_misspelled_key_gets_did_you_mean)
{
    ar_test_child_t child;
    ar_test__run_child(body_misspelled, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: AR_HEAP_OPTIONS: unknown option "
                                      "'stak_depth' ignored; did you mean 'stack_depth'? "
                                      "AR_HEAP_OPTIONS=help=1 lists the options\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "'Guard_Below' ignored; did you mean 'guard_below'?");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "'quarantine_byte' ignored; did you mean "
                                      "'quarantine_bytes'?");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "'leakexitcode' ignored; did you mean 'leak_exitcode'?");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "'fail_sed' ignored; did you mean 'fail_seed'?");
    /* Nothing near: no guess. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "unknown option 'zzzz' ignored; AR_HEAP_OPTIONS=help=1");
    ck_assert_int_eq(ar_test__output_count(&child, "did you mean"), 5);
}
END_TEST

/* stack_depth above the 16 frames a stack keeps: a warning, and 16; a
 * number past SIZE_MAX too (it was refused, where 40 was clamped). */
static void body_deep_stacks(void)
{
    printf("[problems=%d]\n", ar_heap__set_options("stack_depth=40"));
    printf("[problems=%d]\n", ar_heap__set_options("stack_depth=0"));
    printf("[problems=%d]\n", ar_heap__set_options("stack_depth=999999999999999999999999"));
    fflush(stdout);
    double_free();
}

START_TEST(stack_depth_above_16_is_warned_about_and_clamped)
{
    ar_test_child_t child;
    ar_test__run_child(body_deep_stacks, &child);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: ar_heap__set_options: option "
                                      "'stack_depth' is at most 16 (frames kept per stack); got "
                                      "'40', using 16\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: ar_heap__set_options: option "
                                      "'stack_depth' is at most 16 (frames kept per stack); got "
                                      "'999999999999999999999999', using 16\n");
    ck_assert_int_eq(ar_test__output_count(&child, "[problems=0]\n"), 3);
    /* Applied, not ignored: the report has stacks (the last call's 16,
     * not the 0 before it). */
    AR_TEST_ASSERT_ABORTED_WITH(&child, "      #0 0x");
    ck_assert(!ar_test__output_has(&child, "      #16 "));
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
    tcase_add_test(tc, commas_and_white_space_separate_pairs_as_colons_do);
    tcase_add_test(tc, each_separator_ends_a_pair_and_counts_its_problem);
    tcase_add_test(tc, quoted_values_keep_their_separators);
    tcase_add_test(tc, a_misspelled_key_gets_did_you_mean);
    tcase_add_test(tc, stack_depth_above_16_is_warned_about_and_clamped);
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
