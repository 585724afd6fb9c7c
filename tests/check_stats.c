/*
 * check_stats.c: ar_heap__get_stats() counts what the program did.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ar_heap.h"
#include "ar_test.h"

START_TEST(total_allocations_counts_every_allocating_macro)
{
    ar_heap_stats_t before = ar_test__stats();
    void *a = AR__HEAP__MALLOC(10, "a");
    void *b = AR__HEAP__CALLOC(2, 10, "b");
    char *c = AR__HEAP__STRDUP("abc", "c");
    a = AR__HEAP__REALLOC(a, 30, "a grown");
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.total_allocations - before.total_allocations, 4);
    ck_assert_uint_eq(after.total_bytes - before.total_bytes, 10 + 20 + 4 + 30);
    ck_assert_uint_eq(after.live_blocks - before.live_blocks, 3);
    ck_assert_uint_eq(after.live_bytes - before.live_bytes, 30 + 20 + 4);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    AR__HEAP__FREE(c);
}
END_TEST

START_TEST(totals_do_not_drop_when_blocks_are_freed)
{
    ar_heap_stats_t before = ar_test__stats();
    void *a = AR__HEAP__MALLOC(100, "a");
    AR__HEAP__FREE(a);
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.total_allocations, before.total_allocations + 1);
    ck_assert_uint_eq(after.total_bytes, before.total_bytes + 100);
    ck_assert_uint_eq(after.live_bytes, before.live_bytes);
}
END_TEST

START_TEST(peak_live_bytes_keeps_the_highest_point)
{
    ar_heap_stats_t before = ar_test__stats();
    void *a = AR__HEAP__MALLOC(1000, "a");
    void *b = AR__HEAP__MALLOC(3000, "b");
    AR__HEAP__FREE(b);
    void *c = AR__HEAP__MALLOC(500, "c");
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.peak_live_bytes, before.live_bytes + 4000);
    ck_assert_uint_eq(after.live_bytes, before.live_bytes + 1500);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(c);
    ck_assert_uint_eq(ar_test__stats().peak_live_bytes, before.live_bytes + 4000);
}
END_TEST

/* With threads, the peak is the documented upper bound: at least the
 * true peak, above it by at most 64 KiB a thread. Eight threads take
 * turns, each with one 60 000-byte block live: the true peak is 60 000
 * (and one thread's own part never reaches the 64 KiB flush). */
enum { TURNS = 8, TURN_BYTES = 60000 };
static pthread_mutex_t turn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t turns_done;

static void *one_turn(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&turn_lock);
    char *p = AR__HEAP__MALLOC(TURN_BYTES, "a turn");
    p[0] = 1;
    AR__HEAP__FREE(p);
    pthread_mutex_unlock(&turn_lock);
    pthread_barrier_wait(&turns_done); /* alive while the figures are read */
    pthread_barrier_wait(&turns_done);
    return NULL;
}

START_TEST(with_threads_the_peak_is_an_upper_bound_within_64_kib_a_thread)
{
    ar_heap_stats_t before = ar_test__stats();
    pthread_t threads[TURNS];
    pthread_barrier_init(&turns_done, NULL, TURNS + 1);
    for (int i = 0; i < TURNS; i++)
        pthread_create(&threads[i], NULL, one_turn, NULL);
    pthread_barrier_wait(&turns_done);
    ar_heap_stats_t during = ar_test__stats();
    pthread_barrier_wait(&turns_done);
    for (int i = 0; i < TURNS; i++)
        pthread_join(threads[i], NULL);
    size_t peak = during.peak_live_bytes - before.live_bytes;
    ck_assert_msg(peak >= TURN_BYTES && peak <= TURN_BYTES + (size_t)TURNS * 65536,
                  "peak %zu for a true peak of %d", peak, TURN_BYTES);
}
END_TEST

START_TEST(peak_is_never_below_live_bytes)
{
    void *blocks[100];
    for (int i = 0; i < 100; i++) {
        blocks[i] = AR__HEAP__MALLOC((size_t)i * 10, "ramp");
        ar_heap_stats_t s = ar_test__stats();
        ck_assert_uint_ge(s.peak_live_bytes, s.live_bytes);
    }
    for (int i = 0; i < 100; i++)
        AR__HEAP__FREE(blocks[i]);
}
END_TEST

START_TEST(a_rejected_free_changes_no_counter_but_the_error_count)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(64, "p");
    ar_heap_stats_t before = ar_test__stats();
    AR__HEAP__FREE(p + 1);
    ar_heap_stats_t after = ar_test__stats();
    /* Only the count of error reports moves, by the one report. */
    ck_assert_uint_eq(after.errors_reported, before.errors_reported + 1);
    after.errors_reported = before.errors_reported;
    ck_assert_mem_eq(&before, &after, sizeof before);
    AR__HEAP__FREE(p);
}
END_TEST

/* Each report counts once, whichever path names it: a REALLOC of a
 * quarantined block, a FREE of a block already out of the quarantine. */
START_TEST(every_report_counts_once)
{
    (void)ar_heap__set_options("on_error=continue:quarantine_bytes=1048576");
    char *held = AR__HEAP__MALLOC(32, "held");
    AR__HEAP__FREE(held);
    size_t before = ar_test__stats().errors_reported;
    void *moved = AR__HEAP__REALLOC(held, 64, "realloc of a held block");
    ck_assert_ptr_null(moved);
    ck_assert_uint_eq(ar_test__stats().errors_reported, before + 1);

    (void)ar_heap__set_options("quarantine_bytes=0");
    char *gone = AR__HEAP__MALLOC(32, "gone");
    AR__HEAP__FREE(gone);
    before = ar_test__stats().errors_reported;
    AR__HEAP__FREE(gone);
    ck_assert_uint_eq(ar_test__stats().errors_reported, before + 1);
    (void)ar_heap__set_options("on_error=abort:quarantine_bytes=16777216");
}
END_TEST

START_TEST(get_stats_accepts_null)
{
    ar_heap__get_stats(NULL);
    ck_assert_uint_eq(ar_test__stats().live_blocks, 0);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("counters");
    tcase_add_test(tc, total_allocations_counts_every_allocating_macro);
    tcase_add_test(tc, totals_do_not_drop_when_blocks_are_freed);
    tcase_add_test(tc, peak_live_bytes_keeps_the_highest_point);
    tcase_add_test(tc, peak_is_never_below_live_bytes);
    tcase_add_test(tc, with_threads_the_peak_is_an_upper_bound_within_64_kib_a_thread);
    tcase_add_test(tc, a_rejected_free_changes_no_counter_but_the_error_count);
    tcase_add_test(tc, every_report_counts_once);
    tcase_add_test(tc, get_stats_accepts_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(stats_suite(), 1);
}
