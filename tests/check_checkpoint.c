/*
 * check_checkpoint.c: per-test leak checks (ar_heap__checkpoint and its
 * siblings, and the Check fixture of ar_heap_check.h).
 *
 * A mark counts the live blocks allocated after it, minus those allowed
 * to leak; freed blocks, blocks from before the mark and allowed blocks
 * never count. The listing names each block's size, description and
 * file:line; the text form fits any buffer. The last tests run a Check
 * suite inside a forked child, in fork and no-fork mode, and assert that a
 * test that leaks fails with a message naming the leaked block's line,
 * while a clean test passes.
 *
 * Tests that leave blocks behind on purpose run in a child, so that a
 * CK_FORK=no run (valgrind) keeps one clean process.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_heap_check.h"
#include "ar_test.h"

/* "name=<number>" printed by the child; SIZE_MAX when absent. */
static size_t child_number(const ar_test_child_t *child, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *at = strstr(child->output, key);
    return at != NULL ? (size_t)strtoull(at + strlen(key), NULL, 10) : SIZE_MAX;
}

/* ------------------------------------------------------------ marks */

START_TEST(a_mark_counts_only_blocks_allocated_after_it)
{
    char *before = AR__HEAP__MALLOC(8, "before the mark");
    ar_heap_mark_t mark = ar_heap__checkpoint();
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    char *a = AR__HEAP__MALLOC(8, "after 1");
    char *b = AR__HEAP__CALLOC(2, 8, "after 2");
    char *c = AR__HEAP__STRDUP("after", "after 3");
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 3);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    AR__HEAP__FREE(c);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    /* The block from before the mark is live, and a mark taken before it
     * does count it. */
    ck_assert_uint_eq(ar_heap__leaks_since(mark - 1, 0), 1);
    AR__HEAP__FREE(before);
    ck_assert_uint_eq(ar_heap__leaks_since(mark - 1, 0), 0);
}
END_TEST

START_TEST(freed_blocks_do_not_count_quarantined_or_not)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *held = AR__HEAP__MALLOC(32, "freed into the quarantine");
    char *kept = AR__HEAP__MALLOC(32, "kept");
    AR__HEAP__FREE(held);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 1);
    AR__HEAP__FREE(kept);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    ar_heap_stats_t stats;
    ar_heap__get_stats(&stats);
    ck_assert_uint_ge(stats.quarantine_blocks, 2); /* still held, not counted */
}
END_TEST

START_TEST(marks_nest)
{
    ar_heap_mark_t outer = ar_heap__checkpoint();
    char *x = AR__HEAP__MALLOC(4, "outer block");
    ar_heap_mark_t inner = ar_heap__checkpoint();
    ck_assert_uint_gt(inner, outer);
    char *y = AR__HEAP__MALLOC(4, "inner block");
    ck_assert_uint_eq(ar_heap__leaks_since(inner, 0), 1);
    ck_assert_uint_eq(ar_heap__leaks_since(outer, 0), 2);
    AR__HEAP__FREE(y);
    ck_assert_uint_eq(ar_heap__leaks_since(inner, 0), 0);
    ck_assert_uint_eq(ar_heap__leaks_since(outer, 0), 1);
    AR__HEAP__FREE(x);
    ck_assert_uint_eq(ar_heap__leaks_since(outer, 0), 0);
}
END_TEST

START_TEST(a_realloc_inside_the_window_counts_as_a_new_block)
{
    char *p = AR__HEAP__MALLOC(8, "allocated before the mark");
    ar_heap_mark_t mark = ar_heap__checkpoint();
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    p = AR__HEAP__REALLOC(p, 64, "moved after the mark");
    ck_assert_ptr_nonnull(p);
    /* Documented: the moved block is a new allocation, so it counts. */
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 1);
    AR__HEAP__FREE(p);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
}
END_TEST

START_TEST(a_mark_moves_with_each_allocation_and_not_with_frees)
{
    /* The mark is a sequence number: it moves with each allocation. */
    ar_heap_mark_t a = ar_heap__checkpoint();
    void *p = AR__HEAP__MALLOC(1, "one");
    ar_heap_mark_t b = ar_heap__checkpoint();
    ck_assert_uint_eq(b, a + 1);
    AR__HEAP__FREE(p);
    ck_assert_uint_eq(ar_heap__checkpoint(), b); /* a free allocates nothing */
}
END_TEST

/* ------------------------------------------------------------ allow_leak */

START_TEST(allow_leak_excludes_a_block_from_the_count)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *cache = AR__HEAP__MALLOC(16, "cache");
    char *other = AR__HEAP__MALLOC(16, "other");
    ck_assert_int_eq(ar_heap__allow_leak(cache), 1);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 1);
    ck_assert_int_eq(ar_heap__allow_leak(cache), 1); /* again: still live */
    AR__HEAP__FREE(other);
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    AR__HEAP__FREE(cache); /* an allowed block may still be freed */
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
}
END_TEST

static int a_global;

START_TEST(allow_leak_returns_0_for_what_is_not_a_live_block)
{
    ar_heap_stats_t before, after;
    ar_heap__get_stats(&before);
    int local = 0;
    char *live = AR__HEAP__MALLOC(16, "live");
    char *freed = AR__HEAP__MALLOC(16, "freed");
    AR__HEAP__FREE(freed);
    ck_assert_int_eq(ar_heap__allow_leak(NULL), 0);
    ck_assert_int_eq(ar_heap__allow_leak(&local), 0);
    ck_assert_int_eq(ar_heap__allow_leak(&a_global), 0);
    ck_assert_int_eq(ar_heap__allow_leak(freed), 0); /* in the quarantine */
    ck_assert_int_eq(ar_heap__allow_leak(live + 1), 0); /* interior */
    AR__HEAP__FREE(live);
    ck_assert_int_eq(ar_heap__allow_leak(live), 0);
    (void)ar_heap__set_options("quarantine_bytes=0");
    char *gone = AR__HEAP__MALLOC(16, "freed at once");
    AR__HEAP__FREE(gone);
    ck_assert_int_eq(ar_heap__allow_leak(gone), 0);
    (void)ar_heap__set_options("quarantine_bytes=16777216");
    ar_heap__get_stats(&after);
    ck_assert_uint_eq(after.errors_reported, before.errors_reported); /* no report */
}
END_TEST

START_TEST(the_intentional_marker_excludes_a_block)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *kept = AR__HEAP__MALLOC(16, "registry INTENTIONAL_LEAK_FOR_TESTING");
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    char text[256];
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 0);
    ck_assert_str_eq(text, "");
    AR__HEAP__FREE(kept);
}
END_TEST

/* The marker anywhere in a description, past the 63 bytes a description
 * keeps too (until stop 41 the cut took it off: a leak). */
START_TEST(the_intentional_marker_counts_past_the_kept_length)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *kept = AR__HEAP__MALLOC(16, "the registry of every agent alpha, beta and gamma, kept "
                                      "INTENTIONAL_LEAK_FOR_TESTING");
    char *lost = AR__HEAP__MALLOC(16, "the registry of every agent alpha, beta and gamma, kept "
                                      "INTENTIONAL_LEAK_FOR_TESTIN");
    ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 1);
    AR__HEAP__FREE(kept);
    AR__HEAP__FREE(lost);
}
END_TEST

/* No room for the message: the count, nothing written (msg may be NULL;
 * until stop 41 a NUL went into msg[0] whatever the size). */
START_TEST(leak_message_with_no_room_writes_nothing)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *lost = AR__HEAP__MALLOC(16, "counted, not written");
    char guard[2] = { 'x', 'y' };
    ck_assert_uint_eq(ar_heap_check__leak_message(mark, "here", 1, guard, 0), 1);
    ck_assert(guard[0] == 'x' && guard[1] == 'y');
    ck_assert_uint_eq(ar_heap_check__leak_message(mark, "here", 1, NULL, 0), 1);
    AR__HEAP__FREE(lost);
}
END_TEST

/* Allowed blocks at exit: intentional, not leaks, no leak_exitcode. */
static char exit_report_path[128];

static void body_exit_with_allowed(int also_leak)
{
    char opt[256];
    snprintf(exit_report_path, sizeof exit_report_path, "check_checkpoint.%ld.report.log",
             (long)getpid());
    snprintf(opt, sizeof opt, "leak_report=1:leak_exitcode=5:report_path=%s", exit_report_path);
    (void)ar_heap__set_options(opt);
    printf("report_file=%s\n", exit_report_path);
    ar_test__note("allowed", __LINE__ + 1);
    char *cache = AR__HEAP__MALLOC(40, "singleton cache");
    if (ar_heap__allow_leak(cache) != 1)
        puts("allow_leak refused a live block");
    if (also_leak) {
        ar_test__note("leak", __LINE__ + 1);
        char *lost = AR__HEAP__MALLOC(12, "lost buffer");
        (void)ar_test__opaque(lost);
    }
    exit(0);
}

static void body_exit_allowed_only(void)
{
    body_exit_with_allowed(0);
}

static void body_exit_allowed_and_leak(void)
{
    body_exit_with_allowed(1);
}

/* Read the child's report file (named in its output) and remove it. */
static void read_child_report(const ar_test_child_t *child, char *buf, size_t cap)
{
    const char *at = strstr(child->output, "report_file=");
    ck_assert_ptr_nonnull(at);
    char path[128];
    ck_assert_int_eq(sscanf(at, "report_file=%127s", path), 1);
    long n = ar_proc__read_file(path, buf, cap);
    ck_assert_msg(n > 0, "no report file %s", path);
    unlink(path);
}

START_TEST(allowed_blocks_are_intentional_in_the_exit_report_and_keep_the_status)
{
    ar_test_child_t child;
    ar_test__run_child(body_exit_allowed_only, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "leak_exitcode applied:\n%s",
                  child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: no leaks\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: also 1 intentional leak (expected)\n");
    ck_assert_msg(!ar_test__output_has(&child, "arheap: LEAK:"), "%s", child.output);

    static char report[16384];
    read_child_report(&child, report, sizeof report);
    ck_assert_msg(strstr(report, "leaks:                 0 blocks, 0 bytes from 0 sites\n"),
                  "%s", report);
    ck_assert_msg(strstr(report, "intentional leaks:     1 block, 40 bytes\n"), "%s", report);
    const char *section = strstr(report, "\nIntentional leaks (");
    ck_assert_msg(section != NULL, "%s", report);
    char site[128];
    ar_test__site(site, sizeof site, __FILE__, ar_test__note_value(&child, "allowed"));
    ck_assert_msg(strstr(section, site) != NULL && strstr(section, "\"singleton cache\""),
                  "the intentional section lacks %s:\n%s", site, report);
}
END_TEST

START_TEST(allowed_blocks_do_not_hide_a_real_leak_at_exit)
{
    ar_test_child_t child;
    ar_test__run_child(body_exit_allowed_and_leak, &child);
    ck_assert_msg(child.exited && child.exit_code == 5, "no leak_exitcode:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (12 bytes) not freed, from 1 site");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: also 1 intentional leak (expected)\n");
    AR_TEST_ASSERT_SITE(&child, "arheap:   ", "leak");
    static char report[16384];
    read_child_report(&child, report, sizeof report);
    ck_assert_msg(strstr(report, "intentional leaks:     1 block, 40 bytes\n"), "%s", report);
}
END_TEST

/* ------------------------------------------------------------ listings */

static void body_report_listing(void)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    printf("mark=%llu\n", mark);
    ar_test__note("first", __LINE__ + 1);
    char *first = AR__HEAP__MALLOC(24, "agent map");
    ar_test__note("second", __LINE__ + 1);
    char *second = AR__HEAP__STRDUP("", "empty name");
    char *freed = AR__HEAP__MALLOC(99, "freed, not listed");
    AR__HEAP__FREE(freed);
    fflush(stdout);
    printf("count=%zu\n", ar_heap__leaks_since(mark, 1));
    AR__HEAP__FREE(first);
    AR__HEAP__FREE(second);
}

START_TEST(leaks_since_with_report_lists_each_block_on_stderr)
{
    ar_test_child_t child;
    ar_test__run_child(body_report_listing, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    ck_assert_uint_eq(child_number(&child, "count"), 2);
    char line[128];
    snprintf(line, sizeof line, "arheap: blocks allocated since checkpoint %zu and still live:\n",
             child_number(&child, "mark"));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, line);
    AR_TEST_ASSERT_SITE(&child, "  24 bytes at 0x", "first");
    AR_TEST_ASSERT_SITE(&child, "  1 byte at 0x", "second");
    ck_assert(ar_test__output_line_has(&child, "  24 bytes at 0x", "  \"agent map\"  thread "));
    ck_assert(ar_test__output_line_has(&child, "  1 byte at 0x", "  \"empty name\"  thread "));
    ck_assert_msg(!ar_test__output_has(&child, "freed, not listed"), "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: 2 blocks (25 bytes) leaked since the checkpoint\n");
    ck_assert_int_eq(ar_test__output_count(&child, "  #"), 2);
}
END_TEST

START_TEST(leaks_since_text_fits_any_buffer_and_stays_terminated)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    char *a = AR__HEAP__MALLOC(10, "first of two");
    char *b = AR__HEAP__MALLOC(20, "second of two");
    char full[1024];
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, full, sizeof full), 2);
    size_t len = strlen(full);
    ck_assert_msg(len > 40 && full[len - 1] == '\n', "%s", full);
    ck_assert_ptr_nonnull(strstr(full, "\"first of two\""));
    ck_assert_ptr_nonnull(strstr(full, "  20 bytes at 0x"));

    char buf[1024];
    memset(buf, 'X', sizeof buf);
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, buf, 0), 2);
    ck_assert_int_eq(buf[0], 'X'); /* size 0: not a byte written */
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, NULL, 64), 2);

    static const size_t sizes[] = { 1, 2, 7, 33 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        memset(buf, 'X', sizeof buf);
        ck_assert_uint_eq(ar_heap__leaks_since_text(mark, buf, size), 2);
        ck_assert_msg(buf[size - 1] == '\0' && strlen(buf) == size - 1,
                      "size %zu: \"%s\"", size, buf);
        ck_assert_msg(strncmp(buf, full, size - 1) == 0, "size %zu: not a prefix", size);
        ck_assert_int_eq(buf[size], 'X'); /* nothing past the buffer */
    }
    /* Exactly the text's length: one byte short for the NUL; one more fits. */
    memset(buf, 'X', sizeof buf);
    (void)ar_heap__leaks_since_text(mark, buf, len);
    ck_assert_uint_eq(strlen(buf), len - 1);
    (void)ar_heap__leaks_since_text(mark, buf, len + 1);
    ck_assert_str_eq(buf, full);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

/* The list is in allocation order, whatever the addresses: a block that
 * takes back an older block's slot (lower address), one of another size
 * class, a huge one. Until stop 42 it came in the index's walk, by
 * address. */
START_TEST(the_list_is_in_allocation_order_not_address_order)
{
    ar_heap__set_options("quarantine_bytes=0");
    void *old = AR__HEAP__MALLOC(100, "older");
    ar_heap_mark_t mark = ar_heap__checkpoint();
    void *first = AR__HEAP__MALLOC(100, "order one");
    AR__HEAP__FREE(old); /* its slot comes back at once */
    void *second = AR__HEAP__MALLOC(100, "order two");
    void *third = AR__HEAP__MALLOC(5000, "order three");
    void *fourth = AR__HEAP__MALLOC(3u << 20, "order four");
    void *fifth = AR__HEAP__MALLOC(24, "order five");
    ck_assert_msg((uintptr_t)second < (uintptr_t)first, "the reused slot is not lower: %p %p",
                  second, first);
    char text[2048];
    ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 5);
    static const char *const names[] = { "\"order one\"", "\"order two\"", "\"order three\"",
                                         "\"order four\"", "\"order five\"" };
    const char *at = text;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *found = strstr(at, names[i]);
        ck_assert_msg(found != NULL, "%s not after the one before it:\n%s", names[i], text);
        at = found;
    }
    AR__HEAP__FREE(first);
    AR__HEAP__FREE(second);
    AR__HEAP__FREE(third);
    AR__HEAP__FREE(fourth);
    AR__HEAP__FREE(fifth);
}
END_TEST

/* ------------------------------------------------------------ threads */

enum { THREADS = 4, PER_THREAD = 250 };
static void *thread_blocks[THREADS][PER_THREAD];
static ar_heap_mark_t thread_mark;
static _Atomic int threads_done;

static void *allocating_thread(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < PER_THREAD; i++) {
        /* Churn a little too: freed blocks must never be counted. */
        void *tmp = AR__HEAP__MALLOC(8 + i % 64, "scratch");
        thread_blocks[t][i] = AR__HEAP__MALLOC(8 + i % 32, "kept by a thread");
        AR__HEAP__FREE(tmp);
    }
    threads_done++;
    return NULL;
}

START_TEST(blocks_from_other_threads_are_counted)
{
    pthread_t threads[THREADS];
    thread_mark = ar_heap__checkpoint();
    threads_done = 0;
    for (size_t t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&threads[t], NULL, allocating_thread,
                                        (void *)(uintptr_t)t), 0);
    /* Counting while the threads allocate: never above what exists.
     * (At least one count: the threads may all be done before this thread
     * runs again, as under Valgrind, which runs one thread at a time.) */
    size_t polls = 0;
    do {
        size_t n = ar_heap__leaks_since(thread_mark, 0);
        ck_assert_uint_le(n, 2 * THREADS * PER_THREAD);
        polls++;
    } while (threads_done < THREADS);
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    ck_assert_uint_gt(polls, 0);
    ck_assert_uint_eq(ar_heap__leaks_since(thread_mark, 0), THREADS * PER_THREAD);
    for (size_t t = 0; t < THREADS; t++)
        for (size_t i = 0; i < PER_THREAD; i++)
            AR__HEAP__FREE(thread_blocks[t][i]);
    ck_assert_uint_eq(ar_heap__leaks_since(thread_mark, 0), 0);
}
END_TEST

/* ------------------------------------------------- Check integration */

/* A nested Check run inside a child: the suite's tests use the checked
 * fixture; the child prints how many failed and each failure message. */
START_TEST(nested_leaks_one_block)
{
    ar_test__note("nested_leak", __LINE__ + 1);
    char *lost = AR__HEAP__MALLOC(48, "nested lost block");
    (void)ar_test__opaque(lost);
}
END_TEST

START_TEST(nested_frees_what_it_allocates)
{
    char *p = AR__HEAP__STRDUP("tidy", "nested tidy block");
    ck_assert_str_eq(p, "tidy");
    AR__HEAP__FREE(p);
}
END_TEST

START_TEST(nested_asserts_around_a_leak)
{
    ar_heap_mark_t mark = ar_heap__checkpoint();
    ar_test__note("inner_leak", __LINE__ + 1);
    char *lost = AR__HEAP__CALLOC(3, 4, "inner lost block");
    (void)ar_test__opaque(lost);
    ar_test__note("assert", __LINE__ + 1);
    AR__HEAP__ASSERT_NO_LEAKS(mark);
    puts("reached past the assertion");
}
END_TEST

enum { MANY = 200 };

START_TEST(nested_leaks_many_blocks)
{
    for (int i = 0; i < MANY; i++)
        (void)ar_test__opaque(AR__HEAP__MALLOC(8, "one of many"));
}
END_TEST

static enum fork_status nested_mode;
static const TTest *nested_tests[3];
static size_t nested_count;

static void run_nested(void)
{
    (void)ar_heap__set_options("leak_report=0");
    /* A suite-wide block from before the run: the fixture must not blame
     * any test for it. */
    char *suite_cache = AR__HEAP__MALLOC(64, "suite-wide cache");
    (void)ar_test__opaque(suite_cache);
    Suite *s = suite_create("nested");
    TCase *tc = tcase_create("checked");
    tcase_add_checked_fixture(tc, ar_heap_check__setup, ar_heap_check__teardown);
    for (size_t i = 0; i < nested_count; i++)
        tcase_add_test(tc, nested_tests[i]);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, nested_mode);
    srunner_run_all(sr, CK_SILENT);
    printf("run=%d failed=%d\n", srunner_ntests_run(sr), srunner_ntests_failed(sr));
    TestResult **failures = srunner_failures(sr);
    for (int i = 0; i < srunner_ntests_failed(sr); i++)
        printf("[failure %s] %s\n[end]\n[where %s:%d]\n", tr_tcname(failures[i]),
               tr_msg(failures[i]), tr_lfile(failures[i]), tr_lno(failures[i]));
    free(failures);
    srunner_free(sr);
}

static void run_nested_in_child(enum fork_status mode, ar_test_child_t *child, const TTest *a,
                                const TTest *b)
{
    nested_mode = mode;
    nested_tests[0] = a;
    nested_tests[1] = b;
    nested_count = b != NULL ? 2 : 1;
    ar_test__run_child(run_nested, child);
    ck_assert_msg(child->exited && child->exit_code == 0, "%s", child->output);
}

static const char *mode_name(int i)
{
    return i == 0 ? "CK_FORK" : "CK_NOFORK";
}

static enum fork_status mode_of(int i)
{
    return i == 0 ? CK_FORK : CK_NOFORK;
}

START_TEST(the_checked_fixture_fails_a_test_that_leaks_and_names_the_block)
{
    static ar_test_child_t child;
    run_nested_in_child(mode_of(_i), &child, nested_leaks_one_block, nested_frees_what_it_allocates);
    const char *label = mode_name(_i);
    ar_test__expect_has(&child, label, "run=2 failed=1\n");
    ar_test__expect_has(&child, label, "] arheap: the test: 1 block leaked:\n");
    AR_TEST_EXPECT_SITE(&child, label, "  48 bytes at 0x", "nested_leak");
    ck_assert_msg(ar_test__output_line_has(&child, "  48 bytes at 0x", "\"nested lost block\""),
                  "%s: %s", label, child.output);
    ck_assert_msg(!ar_test__output_has(&child, "suite-wide cache"), "%s: %s", label,
                  child.output);
    ck_assert_msg(!ar_test__output_has(&child, "nested tidy block"), "%s: %s", label,
                  child.output);
}
END_TEST

START_TEST(the_checked_fixture_passes_a_clean_test)
{
    static ar_test_child_t child;
    run_nested_in_child(mode_of(_i), &child, nested_frees_what_it_allocates, NULL);
    ar_test__expect_has(&child, mode_name(_i), "run=1 failed=0\n");
}
END_TEST

START_TEST(assert_no_leaks_names_its_own_line)
{
    static ar_test_child_t child;
    run_nested_in_child(mode_of(_i), &child, nested_asserts_around_a_leak, NULL);
    const char *label = mode_name(_i);
    ar_test__expect_has(&child, label, "run=1 failed=1\n");
    char expect[256], site[128];
    ar_test__site(site, sizeof site, __FILE__, ar_test__note_value(&child, "assert"));
    snprintf(expect, sizeof expect, "%s: 1 block leaked since the checkpoint:\n", site);
    ar_test__expect_has(&child, label, expect);
    /* Check records the failure at the assertion's line, not the header's. */
    snprintf(expect, sizeof expect, "%s]", site);
    ck_assert_msg(ar_test__output_line_has(&child, "[where ", expect),
                  "%s: Check records the failure elsewhere than %s:\n%s", label, site,
                  child.output);
    AR_TEST_EXPECT_SITE(&child, label, "  12 bytes at 0x", "inner_leak");
    ck_assert_msg(!ar_test__output_has(&child, "reached past the assertion"), "%s: %s", label,
                  child.output);
    /* The fixture's teardown, run after the failed test, must not add a
     * second failure message. */
    ck_assert_msg(ar_test__output_count(&child, "[failure ") == 1, "%s: %s", label,
                  child.output);
}
END_TEST

START_TEST(a_long_list_is_cut_to_the_message_size_but_the_count_is_whole)
{
    static ar_test_child_t child;
    run_nested_in_child(mode_of(_i), &child, nested_leaks_many_blocks, NULL);
    const char *label = mode_name(_i);
    ar_test__expect_has(&child, label, "run=1 failed=1\n");
    ar_test__expect_has(&child, label, "] arheap: the test: 200 blocks leaked:\n");
    const char *start = strstr(child.output, "[failure ");
    const char *end = strstr(child.output, "\n[end]");
    ck_assert(start != NULL && end != NULL);
    start = strchr(start, ']') + 2;
    size_t len = (size_t)(end - start);
    int lines = 0;
    for (const char *c = start; c < end; c++)
        lines += *c == '\n';
    /* The head line plus at most AR_HEAP_CHECK_MESSAGE_MAX - 1 bytes of
     * block lines, some of the 200. */
    ck_assert_msg(len < AR_HEAP_CHECK_MESSAGE_MAX + 64 && len > AR_HEAP_CHECK_MESSAGE_MAX - 256,
                  "%s: a message of %zu bytes", label, len);
    ck_assert_msg(lines > 10 && lines < MANY, "%s: %d lines", label, lines);
    printf("message: %zu bytes, %d block lines\n", len, lines);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");

    TCase *marks = tcase_create("marks");
    tcase_add_test(marks, a_mark_counts_only_blocks_allocated_after_it);
    tcase_add_test(marks, freed_blocks_do_not_count_quarantined_or_not);
    tcase_add_test(marks, marks_nest);
    tcase_add_test(marks, a_realloc_inside_the_window_counts_as_a_new_block);
    tcase_add_test(marks, a_mark_moves_with_each_allocation_and_not_with_frees);
    tcase_add_test(marks, blocks_from_other_threads_are_counted);
    suite_add_tcase(s, marks);

    TCase *allowed = tcase_create("allowed leaks");
    tcase_add_test(allowed, allow_leak_excludes_a_block_from_the_count);
    tcase_add_test(allowed, allow_leak_returns_0_for_what_is_not_a_live_block);
    tcase_add_test(allowed, the_intentional_marker_excludes_a_block);
    tcase_add_test(allowed, the_intentional_marker_counts_past_the_kept_length);
    tcase_add_test(allowed, leak_message_with_no_room_writes_nothing);
    tcase_add_test(allowed, allowed_blocks_are_intentional_in_the_exit_report_and_keep_the_status);
    tcase_add_test(allowed, allowed_blocks_do_not_hide_a_real_leak_at_exit);
    suite_add_tcase(s, allowed);

    TCase *lists = tcase_create("listings");
    tcase_add_test(lists, leaks_since_with_report_lists_each_block_on_stderr);
    tcase_add_test(lists, leaks_since_text_fits_any_buffer_and_stays_terminated);
    tcase_add_test(lists, the_list_is_in_allocation_order_not_address_order);
    suite_add_tcase(s, lists);

    TCase *fixture = tcase_create("Check fixture");
    tcase_set_timeout(fixture, 30);
    tcase_add_loop_test(fixture, the_checked_fixture_fails_a_test_that_leaks_and_names_the_block,
                        0, 2);
    tcase_add_loop_test(fixture, the_checked_fixture_passes_a_clean_test, 0, 2);
    tcase_add_loop_test(fixture, assert_no_leaks_names_its_own_line, 0, 2);
    tcase_add_loop_test(fixture, a_long_list_is_cut_to_the_message_size_but_the_count_is_whole,
                        0, 2);
    suite_add_tcase(s, fixture);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(checkpoint_suite(), 1);
}
