/*
 * check_tracking_only.c: the tracking-only configuration (canary=0,
 * fill=0, quarantine_bytes=0, stack_depth=0) keeps every record and every
 * report of the others.
 *
 * In that configuration allocation and free take leaf paths of their own
 * (life.c, "tracking only"), which hand every case they do not finish to
 * the common case untouched. Each test here states something those paths
 * must get right, or must hand over: the counters past the point where a
 * thread's part is published, allocation numbers past a thread's range,
 * the sites a report names, a double free, a pointer that is not a
 * block's, a block of another thread, and blocks made before the options
 * changed (with canaries, or poisoned in the quarantine).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

#define TRACKING_ONLY "canary=0:fill=0:quarantine_bytes=0:stack_depth=0"

static void tracking_only(void)
{
    ck_assert_int_eq(ar_heap__set_options(TRACKING_ONLY), 0);
}

/* The leaf free puts a slot back only on a stack that holds slots
 * already, and never a span's last block in use: a few blocks of the
 * size, half of them freed, let it take a test's blocks of that size. */
static void ballast(size_t size)
{
    char *freed[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(AR__HEAP__MALLOC(size, "ballast")); /* kept */
        freed[i] = AR__HEAP__MALLOC(size, "ballast");
    }
    for (int i = 0; i < 4; i++)
        AR__HEAP__FREE(freed[i]);
}

/* A loop's count the compiler can not see: a loop of two rounds, unrolled,
 * would give each round's calls return addresses of their own, and the
 * second round would meet its sites for the first time. */
static int rounds(int n)
{
    volatile int hidden = n;
    return hidden;
}

/*
 * The leaf paths pop a slot only from the top of the current span's free
 * stack, and know a context only from the thread's depot cache: a slot
 * never used, or a site met for the first time, goes to the common case.
 * So each test below runs its operations twice, at the same sites (in a
 * loop the compiler does not unroll): the first round fills the stack and
 * the cache, the second round is the one the leaf paths take.
 * doc/testing.md lists which test fails when each check of the leaf paths
 * is taken out.
 */

/* More bytes than a thread counts on its own before publishing its part
 * (64 KiB) several times over, each way. */
#define MANY 300
#define EACH 1000

START_TEST(counters_stay_exact_past_the_point_a_thread_publishes_its_part)
{
    static char *blocks[MANY];
    for (int round = 0; round < rounds(2); round++) {
        ar_heap_stats_t before = ar_test__stats();
        for (int i = 0; i < MANY; i++) {
            blocks[i] = AR__HEAP__MALLOC(EACH, "counted");
            ck_assert_ptr_nonnull(blocks[i]);
        }
        ar_heap_stats_t during = ar_test__stats();
        ck_assert_uint_eq(during.total_allocations, before.total_allocations + MANY);
        ck_assert_uint_eq(during.live_blocks, before.live_blocks + MANY);
        ck_assert_uint_eq(during.live_bytes, before.live_bytes + (size_t)MANY * EACH);
        ck_assert_uint_eq(during.total_bytes, before.total_bytes + (size_t)MANY * EACH);
        size_t high = before.live_bytes + (size_t)MANY * EACH;
        ck_assert_uint_eq(during.peak_live_bytes,
                          high > before.peak_live_bytes ? high : before.peak_live_bytes);
        for (int i = 0; i < MANY; i++)
            AR__HEAP__FREE(blocks[i]);
        ar_heap_stats_t after = ar_test__stats();
        ck_assert_uint_eq(after.live_blocks, before.live_blocks);
        ck_assert_uint_eq(after.live_bytes, before.live_bytes);
    }
}
END_TEST

/* Peak live bytes: exact in one thread, within 64 KiB a thread otherwise
 * (ar_heap.3). Two threads take turns, each making and freeing MANY
 * blocks twice while the other waits with its own part unpublished: the
 * peak is one turn's bytes, and each thread's part must be published as
 * it passes 64 KiB either way for the figure to stay within the bound. */
static pthread_barrier_t turns;

static void churn_twice(void)
{
    static char *blocks[MANY];
    for (int round = 0; round < rounds(2); round++) {
        for (int i = 0; i < MANY; i++)
            blocks[i] = AR__HEAP__MALLOC(EACH, "turn");
        for (int i = 0; i < MANY; i++)
            AR__HEAP__FREE(blocks[i]);
    }
}

static void *second_thread(void *arg)
{
    (void)arg;
    tracking_only();
    pthread_barrier_wait(&turns); /* the first thread's turn */
    pthread_barrier_wait(&turns);
    churn_twice();
    pthread_barrier_wait(&turns); /* stay alive, part unpublished, while the peak is read */
    pthread_barrier_wait(&turns);
    return NULL;
}

START_TEST(the_peak_of_two_threads_taking_turns_is_within_64_kib_a_thread)
{
    ar_heap_stats_t before = ar_test__stats();
    ck_assert_int_eq(pthread_barrier_init(&turns, NULL, 2), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, second_thread, NULL), 0);
    pthread_barrier_wait(&turns);
    churn_twice();
    pthread_barrier_wait(&turns);
    pthread_barrier_wait(&turns);
    ar_heap_stats_t after = ar_test__stats();
    pthread_barrier_wait(&turns);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    size_t turn = (size_t)MANY * EACH;
    size_t reached = after.peak_live_bytes - before.live_bytes;
    ck_assert_uint_ge(reached, turn);
    ck_assert_msg(reached <= turn + 2 * 65536, "peak %zu bytes over the start, one turn is %zu",
                  reached, turn);
}
END_TEST

/* A mark taken in another thread is above every number handed out before
 * it and below every one after: the caller's thread must leave its range
 * when the generation moves. */
static ar_heap_mark_t taken;

static void *take_mark(void *arg)
{
    (void)arg;
    taken = ar_heap__checkpoint();
    return NULL;
}

START_TEST(a_mark_taken_in_another_thread_splits_this_threads_allocations)
{
    enum { N = 2500 };
    static char *blocks[N];
    for (int round = 0; round < rounds(2); round++) {
        if (round == 1) {
            pthread_t t;
            ck_assert_int_eq(pthread_create(&t, NULL, take_mark, NULL), 0);
            ck_assert_int_eq(pthread_join(t, NULL), 0);
        }
        for (int i = 0; i < N; i++)
            blocks[i] = AR__HEAP__MALLOC(24, "numbered");
        if (round == 1)
            ck_assert_uint_eq(ar_heap__leaks_since(taken, 0), N);
        for (int i = 0; i < N; i++)
            AR__HEAP__FREE(blocks[i]);
    }
    ck_assert_uint_eq(ar_heap__leaks_since(taken, 0), 0);
}
END_TEST

/* One thread's numbers past its range of 1024: a mark between two
 * allocations of one site splits them exactly. */
START_TEST(a_checkpoint_splits_allocations_exactly_across_number_ranges)
{
    enum { BEFORE = 2500, AFTER = 2100 };
    static char *blocks[BEFORE + AFTER];
    ar_heap_mark_t mark = 0;
    for (int round = 0; round < rounds(2); round++) {
        for (int i = 0; i < BEFORE + AFTER; i++) {
            if (i == BEFORE)
                mark = ar_heap__checkpoint();
            blocks[i] = AR__HEAP__MALLOC(24, "around the mark");
        }
        ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), AFTER);
        for (int i = 0; i < BEFORE + AFTER; i++)
            AR__HEAP__FREE(blocks[i]);
        ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    }
}
END_TEST

START_TEST(a_leak_is_listed_with_its_description_and_site)
{
    for (int round = 0; round < rounds(2); round++) {
        ar_heap_mark_t mark = ar_heap__checkpoint();
        int line = __LINE__ + 1;
        char *p = AR__HEAP__MALLOC(40, "tracked only");
        char text[512], site[64];
        ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 1);
        ck_assert_msg(strstr(text, "40 bytes") != NULL, "%s", text);
        ck_assert_msg(strstr(text, "\"tracked only\"") != NULL, "%s", text);
        ck_assert_msg(strstr(text, ar_test__site(site, sizeof site, __FILE__, line)) != NULL, "%s",
                      text);
        AR__HEAP__FREE(p);
        ck_assert_uint_eq(ar_heap__leaks_since(mark, 0), 0);
    }
}
END_TEST

/* An allocator of the program's own that passes its callers' sites on:
 * every block comes from the same call instruction (one return address)
 * with the site and description it is given. */
__attribute__((noinline)) static void *forwarding_alloc(size_t size, const char *file, int line,
                                                        const char *desc)
{
    return ar_heap__malloc(size, file, line, desc);
}

/* More contexts than the thread's depot cache has pairs of entries (256):
 * some pairs meet two or more of them, all of one return address. */
#define FORWARDED 600

/* The depot's cache picks an entry by the return address; the entry must
 * still be the site's. Every context is met in the first round; in the
 * second, a context's pair may hold it, or others of the same address. */
START_TEST(one_call_instruction_with_many_sites_is_many_contexts)
{
    for (int round = 0; round < rounds(2); round++) {
        for (int i = 0; i < FORWARDED; i++) {
            ar_heap_mark_t mark = ar_heap__checkpoint();
            char *p = forwarding_alloc(24, "forwarded.c", 1000 + i, "forwarded");
            char text[1024], site[64];
            ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 1);
            ck_assert_msg(strstr(text, ar_test__site(site, sizeof site, "forwarded.c", 1000 + i)) !=
                              NULL,
                          "round %d, context %d: %s", round, i, text);
            AR__HEAP__FREE(p);
        }
    }
}
END_TEST

/* A description in writable memory may say something else at the next
 * allocation from the same site: its text is read again each time (the
 * depot's cache answers by the pointer only for read-only text). */
START_TEST(a_writable_description_is_read_again_at_each_allocation)
{
    char desc[32];
    for (int round = 0; round < rounds(3); round++) {
        snprintf(desc, sizeof desc, "written text %d", round);
        ar_heap_mark_t mark = ar_heap__checkpoint();
        char *p = AR__HEAP__MALLOC(24, desc);
        char text[1024];
        ck_assert_uint_eq(ar_heap__leaks_since_text(mark, text, sizeof text), 1);
        ck_assert_msg(strstr(text, desc) != NULL, "round %d: %s", round, text);
        AR__HEAP__FREE(p);
    }
}
END_TEST

/* ------------------------------------------------------------ reports */

/* Round 0 frees a second block at the second free's site; round 1 frees
 * the first block there again. */
static void body_double_free(void)
{
    tracking_only();
    ballast(13);
    for (int round = 0; round < rounds(2); round++) {
        ar_test__note("alloc", __LINE__ + 1);
        char *p = AR__HEAP__MALLOC(13, "freed twice");
        char *again = round == 0 ? AR__HEAP__MALLOC(13, "warm") : p;
        ar_test__note("first", __LINE__ + 1);
        AR__HEAP__FREE(p);
        ar_test__note("second", __LINE__ + 1);
        AR__HEAP__FREE(again);
    }
    puts("survived");
}

START_TEST(a_double_free_names_the_block_and_all_three_sites)
{
    ar_test_child_t child;
    ar_test__run_child(body_double_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"freed twice\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "first");
    AR_TEST_ASSERT_SITE(&child, "  free at ", "second");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

static void body_interior(void)
{
    tracking_only();
    ballast(48);
    for (int round = 0; round < rounds(2); round++) {
        char *p = AR__HEAP__MALLOC(48, "pointed into");
        AR__HEAP__FREE(round == 0 ? p : ar_test__opaque(p) + 16);
    }
    puts("survived");
}

START_TEST(a_pointer_into_a_block_is_an_invalid_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_interior, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the pointer is 16 bytes inside a live block, not its start");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 48 bytes \"pointed into\"");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

static void body_describe_freed(void)
{
    tracking_only();
    ballast(24);
    char *p = NULL;
    for (int round = 0; round < rounds(2); round++) {
        ar_test__note("alloc", __LINE__ + 1);
        p = AR__HEAP__MALLOC(24, "described");
        ar_test__note("free", __LINE__ + 1);
        AR__HEAP__FREE(p);
    }
    ar_heap__describe(p);
}

START_TEST(a_freed_block_is_described_with_both_sites)
{
    ar_test_child_t child;
    ar_test__run_child(body_describe_freed, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 24 bytes \"described\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "free");
}
END_TEST

/* ------------------------------------------------------------ handed over */

/* Another thread frees the blocks: first its own, at the same site, so
 * that its leaf free meets the handed blocks with the context known and
 * must turn them down for belonging to another thread's span. */
static int handed[2], done[2];

static void release(char *p)
{
    AR__HEAP__FREE(p);
}

static void *free_handed(void *arg)
{
    (void)arg;
    tracking_only();
    ballast(32);
    for (int i = 0; i < rounds(2); i++)
        release(AR__HEAP__MALLOC(32, "its own"));
    char ready = 1;
    if (write(done[1], &ready, 1) != 1)
        return NULL;
    char *p;
    while (read(handed[0], &p, sizeof p) == (ssize_t)sizeof p && p != NULL) {
        release(p);
        char ok = 1;
        if (write(done[1], &ok, 1) != 1)
            break;
    }
    return NULL;
}

START_TEST(a_block_freed_by_another_thread_is_counted)
{
    ck_assert_int_eq(pipe(handed), 0);
    ck_assert_int_eq(pipe(done), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, free_handed, NULL), 0);
    char ok;
    ck_assert_int_eq(read(done[0], &ok, 1), 1); /* its own blocks made and freed */
    ar_heap_stats_t before = ar_test__stats();
    for (int round = 0; round < 200; round++) {
        char *p = AR__HEAP__MALLOC(32, "handed over");
        ck_assert_ptr_nonnull(p);
        memset(p, 'h', 32);
        ck_assert_int_eq(write(handed[1], &p, sizeof p), (ssize_t)sizeof p);
        ck_assert_int_eq(read(done[0], &ok, 1), 1);
    }
    ar_heap_stats_t after = ar_test__stats();
    char *end = NULL;
    ck_assert_int_eq(write(handed[1], &end, sizeof end), (ssize_t)sizeof end);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(after.live_blocks, before.live_blocks);
    ck_assert_uint_eq(after.live_bytes, before.live_bytes);
    ck_assert_uint_eq(after.total_allocations, before.total_allocations + 200);
    ck_assert_uint_eq(after.errors_reported, before.errors_reported);
}
END_TEST

/* A block made with canaries (offset 16 in its slot), freed after they
 * were turned off, through the slot's first byte: not the block. */
static void body_slot_start_of_a_canaried_block(void)
{
    ck_assert_int_eq(ar_heap__set_options("quarantine_bytes=0"), 0);
    ballast(32); /* with canaries: slots of 64 bytes */
    char *canaried = AR__HEAP__MALLOC(32, "with canaries");
    tracking_only();
    ballast(32);
    for (int round = 0; round < rounds(2); round++)
        AR__HEAP__FREE(round == 0 ? AR__HEAP__MALLOC(32, "warm") : ar_test__opaque(canaried) - 16);
    puts("survived");
}

START_TEST(the_first_byte_of_a_canaried_blocks_slot_is_an_invalid_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_slot_start_of_a_canaried_block, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: invalid-free of 0x");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

static void body_overflow_then_tracking_only(void)
{
    ck_assert_int_eq(ar_heap__set_options("quarantine_bytes=0"), 0);
    ballast(32);
    char *overflowed = AR__HEAP__MALLOC(32, "overflowed");
    ar_test__opaque(overflowed)[32] = 'x';
    tracking_only();
    ballast(32);
    for (int round = 0; round < rounds(2); round++)
        AR__HEAP__FREE(round == 0 ? AR__HEAP__MALLOC(32, "warm") : overflowed);
    puts("survived");
}

START_TEST(a_block_made_with_canaries_has_them_checked_when_freed_after_the_switch)
{
    ar_test_child_t child;
    ar_test__run_child(body_overflow_then_tracking_only, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"overflowed\"");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

/* A block freed into the quarantine and written to there; the quarantine
 * is then turned off, and blocks of its slot's size are made and freed:
 * the first free hands back what the quarantine holds, poisoned, and the
 * next allocation takes that slot. The write is found then. (40 bytes
 * with canaries take a slot of 80 bytes: 16 ahead, 40 rounded up to 48
 * with its tail canary, 16 more.) */
static void body_written_in_the_quarantine(void)
{
    char *p = AR__HEAP__MALLOC(40, "written after free");
    AR__HEAP__FREE(p);
    ar_test__opaque(p)[3] = 'w';
    tracking_only();
    for (int i = 0; i < 8; i++)
        AR__HEAP__FREE(AR__HEAP__MALLOC(80, "reuser"));
    puts("survived");
}

START_TEST(a_write_in_the_quarantine_is_found_when_the_slot_is_reused_after_the_switch)
{
    ar_test_child_t child;
    ar_test__run_child(body_written_in_the_quarantine, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-use-after-free on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the first at offset 3\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"written after free\"");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

/* A quarantine turned off is emptied at the thread's next free. */
START_TEST(the_next_free_empties_a_quarantine_turned_off)
{
    ballast(40);
    for (int round = 0; round < rounds(3); round++) {
        if (round == 1)
            ck_assert_int_eq(ar_heap__set_options("quarantine_bytes=1048576"), 0);
        if (round == 2)
            tracking_only();
        char *p = AR__HEAP__MALLOC(40, "held");
        AR__HEAP__FREE(p);
        ck_assert_uint_eq(ar_test__stats().quarantine_blocks, round == 1 ? 1 : 0);
    }
}
END_TEST

/* Blocks over several spans, all freed, then as many made again, round
 * after round: after the first round no new memory is needed. A span
 * whose stack was empty goes on its class's list when a slot comes back,
 * and only then can the slot be found again. */
static int address_order(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(freed_slots_of_every_span_are_used_again)
{
    enum { N = 3000 };
    static char *blocks[N];
    static uintptr_t seen[N];
    for (int round = 0; round < rounds(4); round++) {
        for (int i = 0; i < N; i++)
            blocks[i] = AR__HEAP__MALLOC(200, "respun");
        if (round == 0) {
            for (int i = 0; i < N; i++)
                seen[i] = (uintptr_t)blocks[i];
            qsort(seen, N, sizeof seen[0], address_order);
        } else {
            for (int i = 0; i < N; i++) {
                uintptr_t at = (uintptr_t)blocks[i];
                ck_assert_msg(bsearch(&at, seen, N, sizeof seen[0], address_order) != NULL,
                              "round %d: block %d at a new address", round, i);
            }
        }
        for (int i = 0; i < N; i++)
            AR__HEAP__FREE(blocks[i]);
    }
}
END_TEST

/* A span whose last block in use is freed empties: it joins the thread's
 * emptied spans, and past 4 MiB of those their memory goes back to the
 * system (span.c, Emptied spans). The leaf free hands that free to the
 * common case. 12 MiB of 1000-byte blocks, written, then freed, in each
 * round: most of their pages are no longer resident (mincore). */
START_TEST(the_memory_of_spans_emptied_by_frees_goes_back)
{
    enum { SIZE = 1000, COUNT = (12 << 20) / SIZE };
    static char *blocks[COUNT];
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int round = 0; round < rounds(2); round++) {
        for (int i = 0; i < COUNT; i++) {
            blocks[i] = AR__HEAP__MALLOC(SIZE, "emptied");
            ck_assert_ptr_nonnull(blocks[i]);
            memset(blocks[i], 1, SIZE);
        }
        for (int i = 0; i < COUNT; i++)
            AR__HEAP__FREE(blocks[i]);
        int resident = 0;
        for (int i = 0; i < COUNT; i++) {
            unsigned char in_core = 0;
            uintptr_t at = (uintptr_t)blocks[i] & ~(page - 1);
            ck_assert_int_eq(mincore((void *)at, (size_t)page, &in_core), 0);
            resident += in_core & 1u;
        }
        ck_assert_msg(resident < COUNT / 2, "round %d: the pages of %d of %d blocks are resident",
                      round, resident, (int)COUNT);
    }
}
END_TEST

/* A calloc goes to the common case, which zeroes the block before it is
 * live: one that takes the slot of a block the program wrote over reads
 * zero. */
START_TEST(a_calloc_that_reuses_a_written_slot_reads_zero)
{
    enum { SIZE = 200 };
    ballast(SIZE);
    for (int round = 0; round < rounds(2); round++) {
        unsigned char *old = AR__HEAP__MALLOC(SIZE, "written");
        ck_assert_ptr_nonnull(old);
        memset(old, 0xaa, SIZE);
        AR__HEAP__FREE(old);
        unsigned char *fresh = AR__HEAP__CALLOC(1, SIZE, "zeroed");
        ck_assert_ptr_eq(fresh, old); /* the slot just released comes first */
        for (int i = 0; i < SIZE; i++)
            ck_assert_msg(fresh[i] == 0, "round %d: byte %d reads 0x%02x", round, i, fresh[i]);
        AR__HEAP__FREE(fresh);
    }
}
END_TEST

/* When a class's current span runs out, the leaf allocation takes the
 * first span of the class's partial list, as the refill would, but only
 * while no slots came back from other threads: those the refill takes
 * first. The main thread makes 1000 blocks at one site (its context is
 * known from the second on), frees 10 of the first span's (which joins the
 * partial list), and another thread frees 300 others (they come back in
 * chunks); the next block takes one of those 300. */
enum { BACK_SIZE = 200, BACK_N = 1000, BACK_OWN = 10, BACK_FROM = 400, BACK_REMOTE = 300 };
static char *back_blocks[BACK_N];

/* Every block of the test comes from one call site: not inlined, and not
 * a tail call (whose return address would be the caller's). */
__attribute__((noinline)) static char *make_back(void)
{
    char *p = AR__HEAP__MALLOC(BACK_SIZE, "comes back");
    ck_assert_ptr_nonnull(p);
    return p;
}

static void *free_remote_share(void *arg)
{
    (void)arg;
    tracking_only();
    for (int i = BACK_FROM; i < BACK_FROM + BACK_REMOTE; i++)
        AR__HEAP__FREE(back_blocks[i]);
    return NULL;
}

START_TEST(slots_other_threads_returned_come_before_the_partial_list)
{
    for (int i = 0; i < BACK_N; i++)
        back_blocks[i] = make_back();
    for (int i = 0; i < BACK_OWN; i++)
        AR__HEAP__FREE(back_blocks[i]);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, free_remote_share, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    char *next = make_back();
    int remote = 0, own = 0;
    for (int i = BACK_FROM; i < BACK_FROM + BACK_REMOTE; i++)
        remote += back_blocks[i] == next;
    for (int i = 0; i < BACK_OWN; i++)
        own += back_blocks[i] == next;
    ck_assert_msg(remote == 1, "the next block took %s",
                  own ? "a slot of the partial list" : "another slot");
    AR__HEAP__FREE(next);
    for (int i = BACK_OWN; i < BACK_N; i++)
        if (i < BACK_FROM || i >= BACK_FROM + BACK_REMOTE)
            AR__HEAP__FREE(back_blocks[i]);
}
END_TEST

/* Blocks made in tracking-only mode, freed with the defaults back. */
START_TEST(blocks_made_tracking_only_are_freed_under_the_defaults)
{
    ar_heap_stats_t before = ar_test__stats();
    char *blocks[64];
    for (int round = 0; round < rounds(2); round++) {
        for (int i = 0; i < 64; i++) {
            blocks[i] = AR__HEAP__MALLOC((size_t)i * 8, "made lean");
            memset(blocks[i], 'm', (size_t)i * 8);
        }
        if (round == 1)
            ck_assert_int_eq(ar_heap__set_options("canary=1:fill=1:quarantine_bytes=1048576"), 0);
        for (int i = 0; i < 64; i++)
            AR__HEAP__FREE(blocks[i]);
    }
    ck_assert_uint_eq(ar_heap__check_all(), 0);
    ar_heap_stats_t after = ar_test__stats();
    ck_assert_uint_eq(after.live_blocks, before.live_blocks);
    ck_assert_uint_eq(after.errors_reported, before.errors_reported);
}
END_TEST

static Suite *tracking_only_suite(void)
{
    Suite *s = suite_create("tracking only");
    TCase *tc = tcase_create("records");
    tcase_add_checked_fixture(tc, tracking_only, NULL);
    tcase_add_test(tc, counters_stay_exact_past_the_point_a_thread_publishes_its_part);
    tcase_add_test(tc, the_peak_of_two_threads_taking_turns_is_within_64_kib_a_thread);
    tcase_add_test(tc, a_mark_taken_in_another_thread_splits_this_threads_allocations);
    tcase_add_test(tc, a_checkpoint_splits_allocations_exactly_across_number_ranges);
    tcase_add_test(tc, a_leak_is_listed_with_its_description_and_site);
    tcase_add_test(tc, one_call_instruction_with_many_sites_is_many_contexts);
    tcase_add_test(tc, a_writable_description_is_read_again_at_each_allocation);
    tcase_add_test(tc, a_block_freed_by_another_thread_is_counted);
    tcase_add_test(tc, blocks_made_tracking_only_are_freed_under_the_defaults);
    tcase_add_test(tc, the_next_free_empties_a_quarantine_turned_off);
    tcase_add_test(tc, freed_slots_of_every_span_are_used_again);
    tcase_add_test(tc, the_memory_of_spans_emptied_by_frees_goes_back);
    tcase_add_test(tc, a_calloc_that_reuses_a_written_slot_reads_zero);
    tcase_add_test(tc, slots_other_threads_returned_come_before_the_partial_list);
    suite_add_tcase(s, tc);
    tc = tcase_create("reports");
    tcase_add_test(tc, a_double_free_names_the_block_and_all_three_sites);
    tcase_add_test(tc, a_pointer_into_a_block_is_an_invalid_free);
    tcase_add_test(tc, a_freed_block_is_described_with_both_sites);
    tcase_add_test(tc, the_first_byte_of_a_canaried_blocks_slot_is_an_invalid_free);
    tcase_add_test(tc, a_block_made_with_canaries_has_them_checked_when_freed_after_the_switch);
    tcase_add_test(tc, a_write_in_the_quarantine_is_found_when_the_slot_is_reused_after_the_switch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(tracking_only_suite(), 1);
}
