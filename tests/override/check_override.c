/*
 * check_override.c: ar_heap_override.h, the forced include.
 *
 * legacy.c calls malloc, calloc, realloc, strdup, strndup and free by
 * their libc names. Built with -include ar_heap_override.h against the
 * debug heap (tests/override/check_override), each call must reach the
 * tracked heap with legacy.c's own file:line, so its leaks and double
 * frees are reported there. Built with -DAR_HEAP_DISABLE as well
 * (tests/override/check_override_release, in both library builds), the
 * same file must be plain libc: arheap sees none of its blocks.
 *
 * This file is compiled with the same flags, so its own malloc family is
 * routed the same way.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar_heap.h"
#include "../ar_test.h"
#include "legacy.h"

#ifndef AR_HEAP_OVERRIDE_H
#error "check_override.c is built with -include ar_heap_override.h"
#endif

/* The list legacy.c builds works, whichever allocator is behind it. */
static void exercise_list(void)
{
    legacy_list_t *list = legacy_list_new();
    ck_assert_ptr_nonnull(list);
    ck_assert_uint_eq(list->count, 0); /* calloc zeroed it */
    ck_assert_int_eq(legacy_list_add(list, "alpha"), 1);
    ck_assert_int_eq(legacy_list_add(list, "beta"), 1);
    ck_assert_int_eq(legacy_list_add(list, "gamma"), 1); /* grows by realloc */
    ck_assert_int_eq(legacy_list_add_prefix(list, "deltas", 5), 1);
    ck_assert_int_eq(legacy_list_add_prefix(list, "ep", 10), 1);
    ck_assert_uint_eq(list->count, 5);
    ck_assert_uint_eq(list->capacity, 8);
    ck_assert_str_eq(list->names[0], "alpha");
    ck_assert_str_eq(list->names[2], "gamma");
    ck_assert_str_eq(list->names[3], "delta");
    ck_assert_str_eq(list->names[4], "ep");
    legacy_list_free(list);
}

#if AR_HEAP_TRACKING

/* ------------------------------------------------------------ debug */

/* The line of legacy.c that carries the comment "site: NAME". The source
 * is found through $top_srcdir (set by make check), else next to this
 * file as it was compiled. */
static int legacy_line(const char *name)
{
    static char source[16384];
    char path[1024], marker[64];
    const char *top = getenv("top_srcdir");
    if (top != NULL && *top != '\0') {
        snprintf(path, sizeof path, "%s/tests/override/legacy.c", top);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash != NULL ? (int)(slash - __FILE__ + 1) : 0;
        snprintf(path, sizeof path, "%.*slegacy.c", dir, __FILE__);
    }
    long n = ar_proc__read_file(path, source, sizeof source);
    ck_assert_msg(n > 0, "cannot read %s", path);
    snprintf(marker, sizeof marker, "/* site: %s */", name);
    const char *at = strstr(source, marker);
    ck_assert_msg(at != NULL, "no \"%s\" in %s", marker, path);
    int line = 1;
    for (const char *c = source; c < at; c++)
        line += *c == '\n';
    return line;
}

/* Assert a line with `prefix`, then "legacy.c:<line of site>" and `after`. */
static void expect_legacy_site(const ar_test_child_t *child, const char *prefix,
                               const char *site, const char *after)
{
    char needle[128];
    snprintf(needle, sizeof needle, "legacy.c:%d%s", legacy_line(site), after);
    ck_assert_msg(ar_test__output_line_has(child, prefix, needle),
                  "no line \"%s...%s\" in the output:\n%s", prefix, needle, child->output);
}

static void body_list_listing(void)
{
    ar_heap_stats_t before = ar_test__stats();
    ar_heap_mark_t mark = ar_heap__checkpoint();
    legacy_list_t *list = legacy_list_new();
    (void)legacy_list_add(list, "alpha");
    puts("== after one name");
    (void)ar_heap__leaks_since(mark, 1);
    (void)legacy_list_add(list, "beta");
    (void)legacy_list_add(list, "gamma");
    (void)legacy_list_add_prefix(list, "deltas", 5);
    puts("== after four names");
    fflush(stdout);
    printf("count=%zu\n", ar_heap__leaks_since(mark, 1));
    ar_heap_stats_t after = ar_test__stats();
    printf("allocations=%zu live=%zu\n", after.total_allocations - before.total_allocations,
           after.live_blocks - before.live_blocks);
    legacy_list_free(list);
    printf("after_free=%zu\n", ar_heap__leaks_since(mark, 0));
    exercise_list();
    printf("errors=%zu\n", ar_test__stats().errors_reported);
}

START_TEST(legacy_allocations_reach_the_tracked_heap_with_their_own_sites)
{
    ar_test_child_t child;
    ar_test__run_child(body_list_listing, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    /* calloc, malloc, realloc, 3 strdup, 1 strndup; realloc freed malloc's block. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "count=6\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "allocations=7 live=6\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "after_free=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "errors=0\n");
    expect_legacy_site(&child, "bytes at 0x", "calloc", "  \"calloc\"");
    expect_legacy_site(&child, "bytes at 0x", "malloc", "  \"malloc\"");
    expect_legacy_site(&child, "bytes at 0x", "realloc", "  \"realloc\"");
    expect_legacy_site(&child, "6 bytes at 0x", "strdup", "  \"strdup\"");
    expect_legacy_site(&child, "6 bytes at 0x", "strndup", "  \"strndup\""); /* "delta" */
    ck_assert_int_eq(ar_test__output_count(&child, "  \"strdup\""), 1 + 3);
}
END_TEST

static void body_legacy_leak(void)
{
    (void)ar_heap__set_options("leak_report=1:report_path=:leak_exitcode=3");
    char *copy = legacy_leak_a_copy("agent");
    free(copy); /* tracked free of a tracked block: fine */
    exit(0);
}

START_TEST(a_leak_in_legacy_code_is_reported_at_exit_with_its_line)
{
    ar_test_child_t child;
    ar_test__run_child(body_legacy_leak, &child);
    ck_assert_msg(child.exited && child.exit_code == 3, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (6 bytes) not freed, from 1 site");
    expect_legacy_site(&child, "arheap:   ", "leak", ": 6 bytes in 1 block (\"strdup\")");
}
END_TEST

static void body_legacy_double_free(void)
{
    legacy_double_free();
    puts("survived");
}

START_TEST(a_double_free_in_legacy_code_is_reported_with_its_lines)
{
    ar_test_child_t child;
    ar_test__run_child(body_legacy_double_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free of 0x");
    expect_legacy_site(&child, "  free at ", "second_free", " in thread ");
    expect_legacy_site(&child, "  allocated at ", "double_alloc", " (allocation #");
    expect_legacy_site(&child, "  freed at ", "first_free", " (thread ");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 32 bytes \"malloc\" at 0x");
    ck_assert_msg(!ar_test__output_has(&child, "survived"), "%s", child.output);
}
END_TEST

static void body_legacy_injected(void)
{
    char opt[256];
    snprintf(opt, sizeof opt, "fail_file=legacy.c:fail_line=%d", legacy_line("strdup"));
    (void)ar_heap__set_options(opt);
    ar_heap_mark_t mark = ar_heap__checkpoint();
    legacy_list_t *list = legacy_list_new();
    printf("add=%d prefix=%d\n", legacy_list_add(list, "alpha"),
           legacy_list_add_prefix(list, "beta", 2));
    legacy_list_free(list);
    printf("leaked=%zu injected=%zu\n", ar_heap__leaks_since(mark, 1),
           ar_test__stats().failures_injected);
}

START_TEST(fail_file_reaches_a_call_in_legacy_code)
{
    ar_test_child_t child;
    ar_test__run_child(body_legacy_injected, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "add=0 prefix=1\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "leaked=0 injected=1\n");
}
END_TEST

START_TEST(a_name_used_without_a_call_is_still_libc)
{
    /* Documented limit: only calls are rewritten. (free) and (malloc) are
     * the functions themselves, libc's. */
    void (*release)(void *) = free;
    ar_heap_stats_t before = ar_test__stats();
    char *p = (malloc)(16);
    ck_assert_ptr_nonnull(p);
    release(p);
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.total_allocations, before.total_allocations);
    ck_assert_uint_eq(after.errors_reported, before.errors_reported);
}
END_TEST

static void body_libc_block(void)
{
    (void)ar_heap__set_options("on_error=continue");
    /* realpath(path, NULL) allocates inside libc, with libc's malloc. */
    char *resolved = realpath(".", NULL);
    printf("resolved=%d\n", resolved != NULL);
    ar_test__note("free", __LINE__ + 1);
    free(resolved); /* the tracked FREE: refused, and not freed */
    printf("errors=%zu\n", ar_test__stats().errors_reported);
}

START_TEST(a_block_libc_allocated_is_refused_by_the_tracked_free)
{
    /* Documented limit: blocks from libc's own functions (realpath,
     * getline, asprintf ...) must not reach a routed free. */
    ar_test_child_t child;
    ar_test__run_child(body_libc_block, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "resolved=1\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: invalid-free of 0x");
    AR_TEST_ASSERT_SITE(&child, "  free at ", "free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "errors=1\n");
}
END_TEST

static Suite *override_suite(void)
{
    Suite *s = suite_create("override");
    TCase *tc = tcase_create("debug");
    tcase_add_test(tc, legacy_allocations_reach_the_tracked_heap_with_their_own_sites);
    tcase_add_test(tc, a_leak_in_legacy_code_is_reported_at_exit_with_its_line);
    tcase_add_test(tc, a_double_free_in_legacy_code_is_reported_with_its_lines);
    tcase_add_test(tc, fail_file_reaches_a_call_in_legacy_code);
    tcase_add_test(tc, a_name_used_without_a_call_is_still_libc);
    tcase_add_test(tc, a_block_libc_allocated_is_refused_by_the_tracked_free);
    suite_add_tcase(s, tc);
    return s;
}

#define NEEDS_TRACKING 1

#else /* !AR_HEAP_TRACKING */

/* ------------------------------------------------------------ release */

#if defined(malloc) || defined(calloc) || defined(realloc) || defined(strdup) || \
    defined(strndup) || defined(free)
#error "a release unit must see libc's names, not macros"
#endif

START_TEST(in_a_release_unit_legacy_code_is_plain_libc)
{
    ar_heap_stats_t before = ar_test__stats();
    ar_heap_mark_t mark = ar_heap__checkpoint();
    exercise_list();
    char *copy = strdup("agent"); /* this file's own calls too */
    ck_assert_str_eq(copy, "agent");
    free(copy);
    ar_heap_stats_t after = ar_test__stats();
    /* Not one block reached arheap, in a debug library or a release one. */
    ck_assert_uint_eq(after.total_allocations, before.total_allocations);
    ck_assert_uint_eq(after.live_blocks, before.live_blocks);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
}
END_TEST

static Suite *override_suite(void)
{
    Suite *s = suite_create("override (release)");
    TCase *tc = tcase_create("release");
    tcase_add_test(tc, in_a_release_unit_legacy_code_is_plain_libc);
    suite_add_tcase(s, tc);
    return s;
}

#define NEEDS_TRACKING 0

#endif /* AR_HEAP_TRACKING */

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(override_suite(), NEEDS_TRACKING);
}
