/*
 * check_describe.c: ar_heap__describe(addr), what arheap knows of an
 * address, as a debugger calls it.
 *
 * Each test runs the calls in a child and reads its stderr: a live block
 * at its start and inside, a block held in the quarantine, a freed block
 * out of the quarantine (on a free stack, on its way back from another
 * thread, in a span whose memory went back, huge, guarded), an address in a canary zone before and after the
 * block, a guarded block's guard page, and one arheap knows nothing of;
 * with call stacks; and while
 * other threads allocate and free.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ar_heap.h"
#include "ar_test.h"

/* "arheap: describe 0x<p+off>: " for a child's block. */
static char *block;

static void describe_at(long offset)
{
    ar_heap__describe(block + offset);
}

/* The header's address, as the child printed it ("[at 0x...]"). */
static void note_address(const void *p)
{
    printf("[at %p]\n", p);
    fflush(stdout);
}

/* The line the child printed "[at 0x...]" for, completed: "arheap:
 * describe 0x...: " + rest. */
static void expect_header(const ar_test_child_t *child, const char *rest)
{
    const char *at = strstr(child->output, "[at 0x");
    ck_assert_msg(at != NULL, "%s", child->output);
    char addr[40];
    ck_assert_int_eq(sscanf(at, "[at %39[0-9a-fx]]", addr), 1);
    char expect[512];
    snprintf(expect, sizeof expect, "arheap: describe %s: %s", addr, rest);
    AR_TEST_ASSERT_OUTPUT_HAS(child, expect);
}

static void body_live(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    block = AR__HEAP__MALLOC(13, "described block");
    note_address(block);
    describe_at(0);
}

START_TEST(a_live_block_at_its_start)
{
    ar_test_child_t child;
    ar_test__run_child(body_live, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "offset 0 inside a live block\n  block: 13 bytes \"described block\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    ck_assert(!ar_test__output_has(&child, "freed at"));
}
END_TEST

static void body_interior(void)
{
    block = AR__HEAP__MALLOC(40, "interior");
    note_address(block + 17);
    describe_at(17);
}

START_TEST(an_interior_address_is_given_its_offset)
{
    ar_test_child_t child;
    ar_test__run_child(body_interior, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "offset 17 inside a live block\n  block: 40 bytes \"interior\" at 0x");
}
END_TEST

static void body_quarantined(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    block = AR__HEAP__MALLOC(24, "held block");
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(block);
    note_address(block + 3);
    describe_at(3);
}

START_TEST(a_block_in_the_quarantine)
{
    ar_test_child_t child;
    ar_test__run_child(body_quarantined, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "offset 3 inside a freed block, held in the quarantine\n"
                          "  block: 24 bytes \"held block\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "free");
}
END_TEST

/* With `options` set, allocate `size` bytes, free them at once and
 * describe the block's first byte. */
static void free_and_describe(const char *options, size_t size, const char *desc)
{
    (void)ar_heap__set_options(options);
    block = AR__HEAP__MALLOC(size, desc);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(block);
    note_address(block);
    describe_at(0);
}

static void body_released(void)
{
    free_and_describe("quarantine_bytes=0", 24, "released block");
}

/* Run `body`, which describes offset 0 of a freed block out of the
 * quarantine: the header and the block line (`what`), and the free site. */
static void expect_released(void (*body)(void), const char *what)
{
    ar_test_child_t child;
    ar_test__run_child(body, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    char header[256];
    snprintf(header, sizeof header,
             "offset 0 inside a recently freed block, out of the quarantine and "
             "not yet reused (its record kept by freed_history)\n  block: %s at 0x",
             what);
    expect_header(&child, header);
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "free");
}

START_TEST(a_recently_freed_block_out_of_the_quarantine)
{
    expect_released(body_released, "24 bytes \"released block\"");
}
END_TEST

/* A block freed by another thread goes back to the thread that made it
 * in a chunk of such slots: while the freeing thread runs, in the chunk it
 * fills; after it ended, in the owner's inbox. Either way the block is out
 * of the quarantine and not yet reused. */
static pthread_barrier_t freer_barrier;
static int freer_waits; /* 1: the freeing thread waits while main describes */

static void *free_in_another_thread(void *arg)
{
    (void)arg;
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(block);
    if (freer_waits) {
        pthread_barrier_wait(&freer_barrier); /* freed */
        pthread_barrier_wait(&freer_barrier); /* described */
    }
    return NULL;
}

static void body_released_by_another_thread(void)
{
    (void)ar_heap__set_options("quarantine_bytes=0");
    block = AR__HEAP__MALLOC(24, "freed by another thread");
    pthread_t t;
    if (pthread_barrier_init(&freer_barrier, NULL, 2) != 0 ||
        pthread_create(&t, NULL, free_in_another_thread, NULL) != 0)
        _exit(3);
    if (freer_waits)
        pthread_barrier_wait(&freer_barrier);
    else if (pthread_join(t, NULL) != 0)
        _exit(3);
    note_address(block);
    describe_at(0);
    if (freer_waits) {
        pthread_barrier_wait(&freer_barrier);
        if (pthread_join(t, NULL) != 0)
            _exit(3);
    }
}

START_TEST(a_block_freed_by_another_thread_is_out_of_the_quarantine_on_its_way_back)
{
    freer_waits = _i;
    expect_released(body_released_by_another_thread, "24 bytes \"freed by another thread\"");
}
END_TEST

/* A block out of the quarantine whose slot is on no free stack: its span
 * emptied and its memory went back to the system (12 MiB of 1000-byte
 * blocks freed: the spans past the 4 MiB kept are let go, the first
 * ones first), or a huge block, whose span waits for the next huge one. */
#define EMPTIED_BLOCKS (12u * 1024u * 1024u / 1000u)

static void body_released_span_gone(void)
{
    (void)ar_heap__set_options("quarantine_bytes=0");
    static char *blocks[EMPTIED_BLOCKS];
    for (unsigned i = 0; i < EMPTIED_BLOCKS; i++) {
        blocks[i] = AR__HEAP__MALLOC(1000, "emptied");
        memset(blocks[i], 1, 1000);
    }
    ar_test__note("free", __LINE__ + 2);
    for (unsigned i = 0; i < EMPTIED_BLOCKS; i++)
        AR__HEAP__FREE(blocks[i]);
    block = blocks[0];
    note_address(block);
    describe_at(0);
}

START_TEST(a_freed_block_whose_spans_memory_went_back_is_out_of_the_quarantine)
{
    expect_released(body_released_span_gone, "1000 bytes \"emptied\"");
}
END_TEST

static void body_released_huge(void)
{
    free_and_describe("quarantine_bytes=0", 3u << 20, "huge");
}

START_TEST(a_freed_huge_block_is_out_of_the_quarantine)
{
    expect_released(body_released_huge, "3145728 bytes \"huge\"");
}
END_TEST

static void body_released_guarded(void)
{
    free_and_describe("guard=1:quarantine_bytes=0", 24, "guarded");
}

START_TEST(a_freed_guarded_block_is_out_of_the_quarantine)
{
    expect_released(body_released_guarded, "24 bytes \"guarded\"");
}
END_TEST

static void body_after_end(void)
{
    block = AR__HEAP__MALLOC(13, "thirteen");
    note_address(block + 13);
    describe_at(13);
}

START_TEST(an_address_in_the_tail_canary)
{
    ar_test_child_t child;
    ar_test__run_child(body_after_end, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "0 bytes after the end of a live block (offset 13, in its tail "
                          "canary)\n  block: 13 bytes \"thirteen\" at 0x");
}
END_TEST

static void body_before_start(void)
{
    block = AR__HEAP__MALLOC(8, "eight");
    note_address(block - 4);
    describe_at(-4);
}

START_TEST(an_address_in_the_head_canary)
{
    ar_test_child_t child;
    ar_test__run_child(body_before_start, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "4 bytes before the start of a live block (offset -4, in its head "
                          "canary)\n  block: 8 bytes \"eight\" at 0x");
}
END_TEST

/* A guarded block: past its end (guard_align=1) is its guard page, and a
 * freed one's closed pages are never read. */
static void body_guarded(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1");
    block = AR__HEAP__MALLOC(13, "guarded");
    note_address(block + 13);
    describe_at(13);
    AR__HEAP__FREE(block);
    describe_at(2);
}

START_TEST(an_address_in_a_guard_page)
{
    ar_test_child_t child;
    ar_test__run_child(body_guarded, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "0 bytes after the end of a live block (offset 13, in its guard "
                          "page)\n  block: 13 bytes \"guarded\" at 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, ": offset 2 inside a freed block, held in the quarantine\n");
}
END_TEST

static int a_global;

static void body_unknown(void)
{
    void *p = AR__HEAP__MALLOC(8, "starts the heap");
    note_address(&a_global);
    ar_heap__describe(&a_global);
    AR__HEAP__FREE(p);
}

START_TEST(an_address_arheap_knows_nothing_of)
{
    ar_test_child_t child;
    ar_test__run_child(body_unknown, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    expect_header(&child, "arheap knows nothing of this address");
    ck_assert(!ar_test__output_has(&child, "  block: "));
}
END_TEST

static void body_stacks(void)
{
    (void)ar_heap__set_options("stack_depth=3");
    block = AR__HEAP__MALLOC(8, "with stacks");
    AR__HEAP__FREE(block);
    note_address(block);
    describe_at(0);
}

START_TEST(the_allocation_and_free_stacks_are_printed)
{
    ar_test_child_t child;
    ar_test__run_child(body_stacks, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "      #0 0x"), 2);
}
END_TEST

/* The options in force at an allocation decide its stack (the capture
 * reads one word derived from them, ar_heap_stack_mode): a change made
 * after the heap started applies to the next block. stack_exact takes
 * glibc's backtrace(), exact in this test's frames as they are built
 * without frame pointers, so a depth of 2 gives frame #1 there, and the
 * inline walk stops at the first frame without one. */
static const char *depth_options;

static void body_depth(void)
{
    (void)ar_heap__set_options("stack_depth=3");
    void *first = AR__HEAP__MALLOC(8, "before the change");
    (void)ar_heap__set_options(depth_options);
    block = AR__HEAP__MALLOC(8, "after the change");
    note_address(block);
    describe_at(0);
    AR__HEAP__FREE(block);
    AR__HEAP__FREE(first);
}

static void run_depth(const char *options, ar_test_child_t *child)
{
    depth_options = options;
    ar_test__run_child(body_depth, child);
    ck_assert_msg(child->exited && child->exit_code == 0, "%s", child->output);
    expect_header(child, "offset 0 inside a live block\n  block: 8 bytes \"after the change\" at 0x");
}

START_TEST(a_changed_stack_depth_applies_to_the_next_block)
{
    ar_test_child_t child;
    run_depth("stack_depth=0", &child);
    ck_assert_msg(!ar_test__output_has(&child, "      #0 0x"), "%s", child.output);
    run_depth("stack_depth=1", &child);
    ck_assert_int_eq(ar_test__output_count(&child, "      #0 0x"), 1);
    ck_assert_msg(!ar_test__output_has(&child, "      #1 0x"), "%s", child.output);
    run_depth("stack_depth=2:stack_exact=1", &child);
    ck_assert_int_eq(ar_test__output_count(&child, "      #1 0x"), 1);
    ck_assert_msg(!ar_test__output_has(&child, "      #2 0x"), "%s", child.output);
    run_depth("stack_depth=0:stack_exact=1", &child);
    ck_assert_msg(!ar_test__output_has(&child, "      #0 0x"), "%s", child.output);
}
END_TEST

/* tests/start_cost: the checker takes the main thread's stack bounds
 * without glibc's heap, and walks every frame up to main within them.
 * Built with frame pointers; its allocation is three calls into main. */
static void body_exec_start_cost(void)
{
    ar_test__exec_built("tests/start_cost", "stack_depth=8:leak_report=0:report_path=");
}

/* Run it; its block is described with four frames at least: third,
 * second, first, and the function that called first. */
static void run_start_cost(void (*body)(void), ar_test_child_t *child)
{
    ar_test__run_child(body, child);
    ck_assert_msg(child->exited && child->exit_code == 0, "%s", child->output);
    AR_TEST_ASSERT_OUTPUT_HAS(child, "  block: 24 bytes \"three calls deep\" at 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(child, "      #3 0x");
}

START_TEST(starting_leaves_glibcs_heap_alone_and_the_stack_walk_reaches_main)
{
    ar_test_child_t child;
    run_start_cost(body_exec_start_cost, &child);
    /* A C library without mallinfo2 (glibc before 2.33, another libc)
     * can not say: the walk is still checked. Under Memcheck, which
     * replaces malloc, the line says 0 whatever the checker did: only a
     * native run tells. */
    if (!ar_test__output_has(&child, "[glibc heap: not known here]\n"))
        AR_TEST_ASSERT_OUTPUT_HAS(&child, "[glibc heap: 0 bytes]\n");
}
END_TEST

/* The same program, its block made in a child forked by a thread that
 * had not used the heap: that child's one thread has the process's id
 * but a stack glibc made, whose bounds glibc gives. Frame #3 is the
 * thread's start function. */
static void body_exec_start_cost_from_thread(void)
{
    setenv("AR_START_COST_FORK_FROM_THREAD", "1", 1);
    body_exec_start_cost();
}

START_TEST(a_child_forked_by_a_thread_walks_its_stack_to_the_threads_start)
{
    ar_test_child_t child;
    run_start_cost(body_exec_start_cost_from_thread, &child);
}
END_TEST

/* The same program under an address-space limit of 40 000 KiB, which
 * refuses some of the mappings the checker tries as it starts (the
 * largest first): its first, successful allocation keeps errno (until
 * stop 43 it left ENOMEM). */
static unsigned long limited_kib;
static void body_exec_start_cost_at_limit(void);

static void body_exec_start_cost_limited(void)
{
    limited_kib = 40000;
    body_exec_start_cost_at_limit();
}

START_TEST(the_first_allocation_keeps_errno_when_starting_met_refusals)
{
    if (ar_test__skip_under_valgrind(__func__, "an address-space limit is Valgrind's own too") ||
        ar_test__skip_under_asan(__func__, "AddressSanitizer's shadow does not fit the limit") ||
        ar_test__skip_under_tsan(__func__, "ThreadSanitizer's shadow does not fit the limit"))
        return;
    ar_test_child_t child;
    ar_test__run_child(body_exec_start_cost_limited, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[first allocation: errno kept]\n");
}
END_TEST

/* The same program under limits of 16 000 to 48 000 KiB, 1 000 a step:
 * somewhere in between the checker first fails, then works without its
 * depot of sites, then with it. At every limit a loss is said: a block
 * with no description comes with the depot's warning, and a failed
 * allocation with the heap's (until stop 43 neither was said, and the
 * depot's chains, kept when the depot failed, left the heap no room:
 * under `ulimit -v 25000` every allocation failed). */
static void body_exec_start_cost_at_limit(void)
{
    struct rlimit limit = { limited_kib * 1024UL, limited_kib * 1024UL };
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        _exit(3);
    setenv("AR_START_COST_ERRNO", "1", 1);
    body_exec_start_cost();
}

START_TEST(under_tight_limits_every_loss_is_said)
{
    if (ar_test__skip_under_valgrind(__func__, "an address-space limit is Valgrind's own too") ||
        ar_test__skip_under_asan(__func__, "AddressSanitizer's shadow does not fit the limits") ||
        ar_test__skip_under_tsan(__func__, "ThreadSanitizer's shadow does not fit the limits"))
        return;
    int failed = 0, without_depot = 0, whole = 0;
    for (limited_kib = 16000; limited_kib <= 48000; limited_kib += 1000) {
        ar_test_child_t child;
        ar_test__run_child(body_exec_start_cost_at_limit, &child);
        if (ar_test__output_has(&child, "[first allocation: errno 12]")) {
            failed++;
            ck_assert_msg(ar_test__output_has(&child, "every allocation will fail") ||
                              ar_test__output_has(&child, "allocations fail with ENOMEM"),
                          "%lu KiB: an allocation failed unsaid:\n%.3000s", limited_kib,
                          child.output);
        } else if (ar_test__output_has(&child, "\"(no description)\"")) {
            without_depot++;
            ck_assert_msg(ar_test__output_has(&child, "for the depot of sites"),
                          "%lu KiB: the description lost unsaid:\n%.3000s", limited_kib,
                          child.output);
        } else if (ar_test__output_has(&child, "\"three calls deep\"")) {
            whole++;
        }
    }
    ck_assert_msg(whole > 0, "no limit up to 48 000 KiB let the checker work whole");
}
END_TEST

/* Other threads free and reuse blocks while the main thread describes
 * its own and theirs: the world is stopped for each description. */
static _Atomic int churning;

static void *churn(void *arg)
{
    (void)arg;
    while (atomic_load(&churning)) {
        char *p = AR__HEAP__MALLOC(32, "churn");
        p[0] = 1;
        AR__HEAP__FREE(p);
    }
    return NULL;
}

static void body_concurrent(void)
{
    (void)ar_heap__set_options("quarantine_bytes=4096:report_path=");
    block = AR__HEAP__MALLOC(16, "steady");
    pthread_t threads[2];
    atomic_store(&churning, 1);
    for (int i = 0; i < 2; i++)
        if (pthread_create(&threads[i], NULL, churn, NULL) != 0)
            _exit(3);
    for (int i = 0; i < 200; i++)
        describe_at(5);
    atomic_store(&churning, 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    AR__HEAP__FREE(block);
}

START_TEST(describing_while_other_threads_free_is_safe)
{
    ar_test_child_t child;
    ar_test__run_child(body_concurrent, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "offset 5 inside a live block\n"), 200);
    ck_assert(!ar_test__output_has(&child, "ERROR"));
}
END_TEST

static Suite *describe_suite(void)
{
    Suite *s = suite_create("describe");
    TCase *tc = tcase_create("describe");
    tcase_add_test(tc, a_live_block_at_its_start);
    tcase_add_test(tc, an_interior_address_is_given_its_offset);
    tcase_add_test(tc, a_block_in_the_quarantine);
    tcase_add_test(tc, a_recently_freed_block_out_of_the_quarantine);
    /* 0: the freeing thread ended; 1: it still runs. */
    tcase_add_loop_test(
        tc, a_block_freed_by_another_thread_is_out_of_the_quarantine_on_its_way_back, 0, 2);
    tcase_add_test(tc, a_freed_block_whose_spans_memory_went_back_is_out_of_the_quarantine);
    tcase_add_test(tc, a_freed_huge_block_is_out_of_the_quarantine);
    tcase_add_test(tc, a_freed_guarded_block_is_out_of_the_quarantine);
    tcase_add_test(tc, an_address_in_the_tail_canary);
    tcase_add_test(tc, an_address_in_the_head_canary);
    tcase_add_test(tc, an_address_in_a_guard_page);
    tcase_add_test(tc, an_address_arheap_knows_nothing_of);
    tcase_add_test(tc, the_allocation_and_free_stacks_are_printed);
    tcase_add_test(tc, a_changed_stack_depth_applies_to_the_next_block);
    tcase_add_test(tc, starting_leaves_glibcs_heap_alone_and_the_stack_walk_reaches_main);
    tcase_add_test(tc, the_first_allocation_keeps_errno_when_starting_met_refusals);
    tcase_add_test(tc, under_tight_limits_every_loss_is_said);
    tcase_add_test(tc, a_child_forked_by_a_thread_walks_its_stack_to_the_threads_start);
    tcase_add_test(tc, describing_while_other_threads_free_is_safe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(describe_suite(), 1);
}
