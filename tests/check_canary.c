/*
 * check_canary.c: writes just outside a block are caught by its canaries.
 *
 * Every block has a head canary (16 bytes before it) and a tail canary
 * that starts exactly at its end and runs to the end of its memory (16
 * bytes plus the slack that rounds the block up to max_align_t). A write
 * into either is reported when the block is freed or reallocated, by
 * ar_heap__check_all(), by check_every and by the check at exit, naming
 * the block, its allocation site and the first damaged offset.
 *
 * The table tests run one child per block size and allocator, so that a
 * failure names the combination. The faulty writes go through ar_test__opaque(),
 * so the compiler neither warns about nor removes them.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

/* Under AddressSanitizer two tests cannot run: canary=0 writes one byte
 * past a canary-less block, which ASan rightly reports (libc's slack is
 * ASan's redzone), and ASan's allocator never hands two processes forked
 * one after the other the same first address (its quarantine delays the
 * reuse of what the parent freed in between). */
#if defined(__SANITIZE_ADDRESS__)
#define AR_CANARY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AR_CANARY_ASAN 1
#endif
#endif
#ifndef AR_CANARY_ASAN
#define AR_CANARY_ASAN 0
#endif


#define ALIGNMENT ((size_t)_Alignof(max_align_t))
#define HEAD_BYTES ((size_t)16)
#define TAIL_MIN_BYTES ((size_t)16)

/* Offset, from the user pointer, of the end of a block's tail canary:
 * the block's bytes plus 16, rounded up to the alignment (src/block.c). */
static size_t tail_end(size_t size)
{
    return (size + TAIL_MIN_BYTES + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
}

/* Flip every bit of a byte that matters: the result always differs. */
static void damage(char *p, long offset)
{
    char *w = ar_test__opaque(p);
    w[offset] = (char)(w[offset] ^ 0x5a);
}

/* ---------------------------------------------------------- assertions */


static void expect_aborted(const ar_test_child_t *child, const char *label)
{
    ck_assert_msg(child->signaled && child->signal == 6,
                  "%s: child did not abort (exited=%d code=%d signaled=%d signal=%d); output:\n%s",
                  label, child->exited, child->exit_code, child->signaled, child->signal,
                  child->output);
}


/* "  block: N bytes \"desc\" at 0x" (one byte: "1 byte"). */
static const char *block_line(char *buf, size_t cap, size_t size, const char *desc)
{
    snprintf(buf, cap, "  block: %zu %s \"%s\" at 0x", size, size == 1 ? "byte" : "bytes", desc);
    return buf;
}

/* ------------------------------------------------- the allocation table */

typedef enum via_e {
    VIA_MALLOC,
    VIA_CALLOC,
    VIA_REALLOC_GROWN,
    VIA_REALLOC_SHRUNK,
    VIA_STRDUP,
    VIA_COUNT
} via_t;

static const char *const via_desc[VIA_COUNT] = {
    "via MALLOC", "via CALLOC", "via REALLOC grown", "via REALLOC shrunk", "via STRDUP",
};

static const size_t table_sizes[] = { 1, 13, 16, 4096, 1048576 };
#define SIZE_COUNT (sizeof table_sizes / sizeof table_sizes[0])
#define TABLE_CASES ((int)(SIZE_COUNT * VIA_COUNT))

/* The case a child runs; set by the parent before the fork. */
static struct {
    size_t size;
    via_t via;
    long offset; /* of the byte to damage, relative to the user pointer */
    char label[96];
} the_case;

static void choose_case(int i, const char *what)
{
    the_case.size = table_sizes[(size_t)i / VIA_COUNT];
    the_case.via = (via_t)(i % VIA_COUNT);
    snprintf(the_case.label, sizeof the_case.label, "%s, %zu-byte block %s", what,
             the_case.size, via_desc[the_case.via]);
}

static char strdup_source[1048576];

/* Allocate the case's block of the_case.size bytes, noting the line of
 * the call that made it ("alloc"). */
static char *allocate_case(void)
{
    size_t size = the_case.size;
    const char *desc = via_desc[the_case.via];
    char *p = NULL;
    switch (the_case.via) {
    case VIA_MALLOC:
        ar_test__note("alloc", __LINE__ + 1);
        p = AR__HEAP__MALLOC(size, desc);
        break;
    case VIA_CALLOC:
        ar_test__note("alloc", __LINE__ + 1);
        p = AR__HEAP__CALLOC(1, size, desc);
        break;
    case VIA_REALLOC_GROWN: {
        char *small = AR__HEAP__MALLOC(size / 2, "before growing");
        ar_test__note("alloc", __LINE__ + 1);
        p = AR__HEAP__REALLOC(small, size, desc);
        break;
    }
    case VIA_REALLOC_SHRUNK: {
        char *large = AR__HEAP__MALLOC(size + 64, "before shrinking");
        ar_test__note("alloc", __LINE__ + 1);
        p = AR__HEAP__REALLOC(large, size, desc);
        break;
    }
    case VIA_STRDUP:
        memset(strdup_source, 'x', size - 1);
        strdup_source[size - 1] = '\0';
        ar_test__note("alloc", __LINE__ + 1);
        p = AR__HEAP__STRDUP(strdup_source, desc);
        break;
    case VIA_COUNT:
        break;
    }
    return p;
}

/* Allocate, damage one canary byte, free. Notes the canary byte's value
 * before and after, and the line of the free. */
static void body_damage_then_free(void)
{
    char *p = allocate_case();
    if (p == NULL) {
        puts("allocation failed");
        return;
    }
    unsigned char before = (unsigned char)ar_test__opaque(p)[the_case.offset];
    damage(p, the_case.offset);
    ar_test__note("expected", before);
    ar_test__note("found", (unsigned char)ar_test__opaque(p)[the_case.offset]);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    puts("survived");
}

/* What every table case's report must say. */
static void expect_damage_report(const ar_test_child_t *child, const char *kind)
{
    const char *label = the_case.label;
    const char *desc = via_desc[the_case.via];
    size_t size = the_case.size;
    char buf[256];
    expect_aborted(child, label);
    snprintf(buf, sizeof buf, "arheap: ERROR: %s on block 0x", kind);
    ar_test__expect_has(child, label, buf);
    ck_assert_msg(ar_test__output_count(child, "arheap: ERROR:") == 1,
                  "%s: expected exactly one report:\n%s", label, child->output);
    if (the_case.offset < 0)
        snprintf(buf, sizeof buf,
                 "  1 byte damaged before the start of the block; the first at offset %ld\n",
                 the_case.offset);
    else
        snprintf(buf, sizeof buf,
                 "  1 byte damaged after the end of the block; the first at offset %ld "
                 "(its bytes are at offsets 0 to %zu)\n",
                 the_case.offset, size - 1);
    ar_test__expect_has(child, label, buf);
    ar_test__expect_has(child, label, block_line(buf, sizeof buf, size, desc));
    AR_TEST_EXPECT_SITE(child, label, "  allocated at ", "alloc");
    AR_TEST_EXPECT_SITE(child, label, "  found by free at ", "free");
    snprintf(buf, sizeof buf, "  bytes from offset %ld:\n", the_case.offset);
    ar_test__expect_has(child, label, buf);
    snprintf(buf, sizeof buf, "    expected %02x", ar_test__note_value(child, "expected"));
    ar_test__expect_has(child, label, buf);
    snprintf(buf, sizeof buf, "    found    %02x", ar_test__note_value(child, "found"));
    ar_test__expect_has(child, label, buf);
    snprintf(buf, sizeof buf, "SUMMARY: arheap: %s on a %zu-byte block \"%s\" allocated at ", kind,
             size, desc);
    ar_test__expect_has(child, label, buf);
    AR_TEST_EXPECT_SITE(child, label, "SUMMARY: arheap: ", "alloc");
    ck_assert_msg(!ar_test__output_has(child, "survived"), "%s: the child went on:\n%s", label,
                  child->output);
    ck_assert_msg(!ar_test__output_has(child, "freed at"), "%s: a live block has no free site:\n%s",
                  label, child->output);
}

START_TEST(one_byte_past_the_end_is_an_overflow_caught_at_free)
{
    ar_test_child_t child;
    choose_case(_i, "p[size] written");
    the_case.offset = (long)the_case.size;
    ar_test__run_child(body_damage_then_free, &child);
    expect_damage_report(&child, "heap-buffer-overflow");
}
END_TEST

START_TEST(one_byte_before_the_start_is_an_underflow_caught_at_free)
{
    ar_test_child_t child;
    choose_case(_i, "p[-1] written");
    the_case.offset = -1;
    ar_test__run_child(body_damage_then_free, &child);
    expect_damage_report(&child, "heap-buffer-underflow");
}
END_TEST

/* Every byte of the 13-byte block's tail zone, slack included. */
START_TEST(a_write_anywhere_in_the_tail_zone_is_an_overflow_at_that_offset)
{
    ar_test_child_t child;
    choose_case(1 * VIA_COUNT + VIA_MALLOC, "tail zone byte written");
    the_case.offset = (long)the_case.size + _i;
    snprintf(the_case.label + strlen(the_case.label),
             sizeof the_case.label - strlen(the_case.label), ", offset %ld", the_case.offset);
    ar_test__run_child(body_damage_then_free, &child);
    expect_damage_report(&child, "heap-buffer-overflow");
}
END_TEST

START_TEST(a_write_anywhere_in_the_head_zone_is_an_underflow_at_that_offset)
{
    ar_test_child_t child;
    choose_case(1 * VIA_COUNT + VIA_MALLOC, "head zone byte written");
    the_case.offset = -1 - _i;
    snprintf(the_case.label + strlen(the_case.label),
             sizeof the_case.label - strlen(the_case.label), ", offset %ld", the_case.offset);
    ar_test__run_child(body_damage_then_free, &child);
    expect_damage_report(&child, "heap-buffer-underflow");
}
END_TEST

/* ------------------------------------------------------- single cases */

static void body_overflow_then_realloc(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "to be regrown");
    damage(p, 13);
    ar_test__note("realloc", __LINE__ + 1);
    char *q = AR__HEAP__REALLOC(p, 64, "regrown");
    puts("survived");
    AR__HEAP__FREE(q);
}

START_TEST(an_overflow_is_caught_at_realloc_naming_the_realloc_site)
{
    ar_test_child_t child;
    ar_test__run_child(body_overflow_then_realloc, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the first at offset 13 (its bytes are at offsets 0 to 12)");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"to be regrown\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  found by realloc at ", "realloc");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

static void body_terminator_off_by_one(void)
{
    const char *name = "thirteen char";
    size_t len = strlen(name);
    ar_test__note("alloc", __LINE__ + 1);
    char *copy = AR__HEAP__MALLOC(len, "name copy"); /* the bug: no room for the NUL */
    memcpy(ar_test__opaque(copy), name, len + 1);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(copy);
}

START_TEST(a_string_terminator_written_one_past_the_end_is_caught)
{
    ar_test_child_t child;
    ar_test__run_child(body_terminator_off_by_one, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  1 byte damaged after the end of the block; "
                                      "the first at offset 13 (its bytes are at offsets 0 to 12)");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "    found    00");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  found by free at ", "free");
}
END_TEST

static void body_zero_byte_block(void)
{
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(0, "empty");
    damage(p, 0);
    AR__HEAP__FREE(p);
}

START_TEST(any_write_to_a_zero_byte_block_is_an_overflow)
{
    ar_test_child_t child;
    ar_test__run_child(body_zero_byte_block, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "the first at offset 0 (the block has no bytes)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 0 bytes \"empty\" at 0x");
}
END_TEST

static void body_run_of_bytes(void)
{
    char *p = AR__HEAP__MALLOC(13, "run");
    memset(ar_test__opaque(p) + 13, 0, 5);
    AR__HEAP__FREE(p);
}

START_TEST(the_report_counts_every_damaged_byte_of_a_zone)
{
    ar_test_child_t child;
    ar_test__run_child(body_run_of_bytes, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "  5 bytes damaged after the end of the block; "
                                        "the first at offset 13");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "    found    00 00 00 00 00 ");
}
END_TEST

static void body_both_ends(void)
{
    char *p = AR__HEAP__MALLOC(13, "both ends");
    damage(p, 13);
    damage(p, -1);
    AR__HEAP__FREE(p);
    puts("survived");
}

START_TEST(damage_at_both_ends_is_reported_as_an_overflow_and_an_underflow)
{
    ar_test_child_t child;
    ar_test__run_child(body_both_ends, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-buffer-underflow on block 0x");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 2);
    ck_assert(!ar_test__output_has(&child, "survived"));
}
END_TEST

/* ------------------------------------------------------ check_all */

static void body_check_all_counts(void)
{
    (void)ar_heap__set_options("on_error=continue");
    static const size_t sizes[5] = { 8, 13, 16, 24, 100 };
    static const char *const descs[5] = { "block 0", "block 1", "block 2", "block 3",
                                          "block 4" };
    char *blocks[5];
    for (int i = 0; i < 5; i++) {
        if (i == 1)
            ar_test__note("alloc1", __LINE__ + 1);
        blocks[i] = AR__HEAP__MALLOC(sizes[i], descs[i]);
    }
    damage(blocks[1], 13);
    damage(blocks[3], -1);
    printf("damaged=%zu\n", ar_heap__check_all());
    for (int i = 0; i < 5; i++)
        AR__HEAP__FREE(blocks[i]);
}

START_TEST(check_all_returns_the_number_of_damaged_blocks_and_reports_each)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_all_counts, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "damaged=2\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 2);
    ck_assert_int_eq(ar_test__output_count(&child, "  found by ar_heap__check_all()\n"), 2);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"block 1\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "SUMMARY: arheap: heap-buffer-overflow on a 13-byte block "
                                      "\"block 1\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 24 bytes \"block 3\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "SUMMARY: arheap: heap-buffer-underflow on a 24-byte block "
                                      "\"block 3\"");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc1");
    ck_assert(!ar_test__output_has(&child, "\"block 0\""));
    ck_assert(!ar_test__output_has(&child, "\"block 2\""));
    ck_assert(!ar_test__output_has(&child, "\"block 4\""));
}
END_TEST

static void body_both_ends_check_all(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(13, "both ends");
    damage(p, 13);
    damage(p, -1);
    printf("damaged=%zu\n", ar_heap__check_all());
    AR__HEAP__FREE(p);
}

START_TEST(check_all_counts_a_block_damaged_at_both_ends_once)
{
    ar_test_child_t child;
    ar_test__run_child(body_both_ends_check_all, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "damaged=1\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-buffer-overflow");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-buffer-underflow");
}
END_TEST

static void body_reported_once(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(13, "once");
    damage(p, 13);
    size_t first = ar_heap__check_all();
    size_t second = ar_heap__check_all();
    AR__HEAP__FREE(p);
    printf("first=%zu second=%zu\n", first, second);
    exit(0); /* the check at exit must not report it again either */
}

START_TEST(damage_is_reported_once)
{
    ar_test_child_t child;
    ar_test__run_child(body_reported_once, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "first=1 second=0\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 1);
}
END_TEST

static void body_check_all_clean(void)
{
    char *a = AR__HEAP__MALLOC(13, "clean");
    char *b = AR__HEAP__CALLOC(4, 4, "clean too");
    memset(a, 'a', 13);
    printf("damaged=%zu\n", ar_heap__check_all());
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
}

START_TEST(check_all_of_an_undamaged_heap_returns_0_and_prints_nothing)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_all_clean, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "damaged=0\n");
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "output:\n%s", child.output);
}
END_TEST

/* ----------------------------------------------- check_every and exit */

enum { CHECK_EVERY = 10 };

static void body_check_every(void)
{
    (void)ar_heap__set_options("on_error=exit:error_exitcode=9");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "never freed");
    damage(p, 13);
    char every[32];
    snprintf(every, sizeof every, "check_every=%d", CHECK_EVERY);
    (void)ar_heap__set_options(every);
    /* CHECK_EVERY operations that do not touch the damaged block; the
     * check runs at the start of the last one. */
    char *other = NULL;
    for (int op = 1; op <= CHECK_EVERY; op++) {
        if (op == CHECK_EVERY)
            ar_test__note("last", op);
        if (op % 2 == 1) {
            other = AR__HEAP__MALLOC(8, "bystander");
        } else {
            AR__HEAP__FREE(other);
        }
    }
    puts("not caught");
    fflush(stdout);
    _exit(0);
}

START_TEST(check_every_n_operations_catches_damage_without_a_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_every, &child);
    ck_assert_msg(child.exited && child.exit_code == 9, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  found by ar_heap__check_all()\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"never freed\"");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    ck_assert_msg(ar_test__note_value(&child, "last") == CHECK_EVERY,
                  "the check ran before operation %d:\n%s", CHECK_EVERY, child.output);
    ck_assert(!ar_test__output_has(&child, "not caught"));
}
END_TEST

/* A REALLOC is two operations, its allocation and its free: with
 * check_every=2, the first REALLOC after the option checks, in its free
 * (until stop 41 it counted once, and the check came later). */
static void body_check_every_realloc(void)
{
    (void)ar_heap__set_options("on_error=exit:error_exitcode=9");
    char *p = AR__HEAP__MALLOC(13, "damaged before the realloc");
    damage(p, 13);
    char *q = AR__HEAP__MALLOC(8, "reallocated");
    (void)ar_heap__set_options("check_every=2");
    q = AR__HEAP__REALLOC(q, 16, "reallocated");
    puts("after the realloc");
    fflush(stdout);
    AR__HEAP__FREE(q);
    _exit(0);
}

START_TEST(check_every_counts_a_realloc_as_two_operations)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_every_realloc, &child);
    ck_assert_msg(child.exited && child.exit_code == 9, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  found by ar_heap__check_all()\n");
    ck_assert_msg(!ar_test__output_has(&child, "after the realloc"), "%s", child.output);
}
END_TEST

static void body_check_at_exit(void)
{
    (void)ar_heap__set_options("on_error=exit:error_exitcode=7");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "left behind");
    damage(p, 13);
    puts("exiting");
    exit(0);
}

START_TEST(the_check_at_exit_catches_damage_to_a_block_never_freed)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_at_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 7, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  found by the check at exit\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"left behind\"");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
}
END_TEST

/* The program wrote "exiting" to a pipe (fully buffered) and called
 * exit(): the line is still in stdio's buffer when the check at exit
 * reports and ends the process with error_exitcode. It must not be lost,
 * as it is not with leak_exitcode (leaks.c flushes before _exit). */
START_TEST(the_check_at_exit_keeps_the_programs_buffered_output)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_at_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 7, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "exiting\n");
}
END_TEST

/* ------------------------------------------------------ canary=0 */

static void body_no_canary(void)
{
    (void)ar_heap__set_options("canary=0");
    char *p = AR__HEAP__MALLOC(13, "bare");
    /* Without canaries the block is libc's malloc(13), whose usable size
     * is at least 24 bytes on glibc: p[13] is slack, harmless to write. */
    damage(p, 13);
    printf("damaged=%zu\n", ar_heap__check_all());
    AR__HEAP__FREE(p);
    exit(0);
}

START_TEST(canary_0_leaves_blocks_without_canaries)
{
    ar_test_child_t child;
    ar_test__run_child(body_no_canary, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "damaged=0\n");
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "output:\n%s", child.output);
}
END_TEST

static void body_layout_is_kept(void)
{
    char *p = AR__HEAP__MALLOC(13, "allocated with canaries");
    (void)ar_heap__set_options("canary=0");
    damage(p, 13);
    AR__HEAP__FREE(p);
    puts("survived");
}

START_TEST(a_block_keeps_its_canaries_when_the_option_is_turned_off_later)
{
    ar_test_child_t child;
    ar_test__run_child(body_layout_is_kept, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"allocated with canaries\"");
}
END_TEST

/* ---------------------------------------------------- canary values */

START_TEST(two_blocks_of_the_same_size_have_different_tail_canaries)
{
    char *a = AR__HEAP__MALLOC(13, "first");
    char *b = AR__HEAP__MALLOC(13, "second");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(memcmp(ar_test__opaque(a) + 13, ar_test__opaque(b) + 13, TAIL_MIN_BYTES) != 0,
                  "the two tail canaries are equal");
    ck_assert_msg(memcmp(ar_test__opaque(a) - HEAD_BYTES, ar_test__opaque(b) - HEAD_BYTES, HEAD_BYTES) != 0,
                  "the two head canaries are equal");
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
}
END_TEST

START_TEST(a_tail_canary_is_not_one_repeated_byte)
{
    char *p = AR__HEAP__MALLOC(13, "varied");
    const unsigned char *tail = (const unsigned char *)ar_test__opaque(p) + 13;
    int differs = 0;
    for (size_t i = 1; i < TAIL_MIN_BYTES; i++)
        differs |= tail[i] != tail[0];
    ck_assert_msg(differs, "all 16 tail canary bytes are %02x", tail[0]);
    AR__HEAP__FREE(p);
}
END_TEST

/* Across 256 blocks (over 10 000 canary bytes) no byte is 0, the value an
 * off-by-one string copy writes, nor one of the fill bytes. */
START_TEST(no_canary_byte_is_zero_or_a_fill_byte)
{
    enum { BLOCKS = 256 };
    char *blocks[BLOCKS];
    for (size_t size = 0; size < BLOCKS; size++) {
        blocks[size] = AR__HEAP__MALLOC(size, "canary sample");
        ck_assert_ptr_nonnull(blocks[size]);
        const unsigned char *user = (const unsigned char *)ar_test__opaque(blocks[size]);
        for (long off = -(long)HEAD_BYTES; off < (long)tail_end(size); off++) {
            if (off >= 0 && (size_t)off < size)
                continue;
            unsigned char b = user[off];
            ck_assert_msg(b != 0 && b != 0xbe && b != 0xdf,
                          "canary byte at offset %ld of a %zu-byte block is %02x", off, size, b);
        }
    }
    for (size_t i = 0; i < BLOCKS; i++)
        AR__HEAP__FREE(blocks[i]);
}
END_TEST

static void body_print_first_canary(void)
{
    char *p = AR__HEAP__MALLOC(13, "first block");
    const unsigned char *tail = (const unsigned char *)ar_test__opaque(p) + 13;
    printf("at=%p tail=", (void *)p);
    for (size_t i = 0; i < TAIL_MIN_BYTES; i++)
        printf("%02x", tail[i]);
    printf("\n");
    AR__HEAP__FREE(p);
}

START_TEST(canaries_differ_between_processes_at_the_same_address)
{
    if (ar_test__skip_under_valgrind(__func__, "Memcheck holds freed memory back (its freed-blocks "
                                               "queue), so two children do not get their first "
                                               "block at the same address: the precondition can "
                                               "not be arranged"))
        return;
    ar_test_child_t one, two;
    char at_one[64], at_two[64], tail_one[64], tail_two[64];
    ar_test__run_child(body_print_first_canary, &one);
    ar_test__run_child(body_print_first_canary, &two);
    ck_assert_msg(one.exited && one.exit_code == 0, "output:\n%s", one.output);
    ck_assert_msg(two.exited && two.exit_code == 0, "output:\n%s", two.output);
    ck_assert_int_eq(sscanf(one.output, "at=%63s tail=%63s", at_one, tail_one), 2);
    ck_assert_int_eq(sscanf(two.output, "at=%63s tail=%63s", at_two, tail_two), 2);
    /* Two children forked from one parent get the same address for their
     * first block; the canary secret must still differ. (The secret is
     * chosen when a process first uses the heap; in Check's fork mode, the
     * default, this test's process never does.) */
    ck_assert_msg(strcmp(at_one, at_two) == 0, "precondition: same address (%s, %s)", at_one,
                  at_two);
    ck_assert_msg(strcmp(tail_one, tail_two) != 0, "same canary %s in two processes", tail_one);
}
END_TEST

/* ------------------------------------------------------- alignment */

START_TEST(every_allocator_returns_pointers_aligned_for_max_align_t)
{
    static char text[101];
    for (size_t size = 0; size <= 100; size++) {
        char *m = AR__HEAP__MALLOC(size, "aligned malloc");
        char *c = AR__HEAP__CALLOC(1, size, "aligned calloc");
        char *r = AR__HEAP__REALLOC(AR__HEAP__MALLOC(1, "seed"), size + 1, "aligned realloc");
        memset(text, 'a', size);
        text[size] = '\0';
        char *s = AR__HEAP__STRDUP(text, "aligned strdup");
        ck_assert_msg((uintptr_t)m % ALIGNMENT == 0, "MALLOC(%zu) = %p", size, (void *)m);
        ck_assert_msg((uintptr_t)c % ALIGNMENT == 0, "CALLOC(1, %zu) = %p", size, (void *)c);
        ck_assert_msg((uintptr_t)r % ALIGNMENT == 0, "REALLOC(_, %zu) = %p", size + 1, (void *)r);
        ck_assert_msg((uintptr_t)s % ALIGNMENT == 0, "STRDUP of %zu chars = %p", size, (void *)s);
        AR__HEAP__FREE(m);
        AR__HEAP__FREE(c);
        AR__HEAP__FREE(r);
        AR__HEAP__FREE(s);
    }
}
END_TEST

/* ------------------------------------------------------------ fill */

static size_t count_bytes(const unsigned char *p, size_t n, unsigned char value)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += p[i] == value;
    return count;
}

START_TEST(malloc_fills_new_bytes_with_0xbe)
{
    static const size_t sizes[] = { 1, 13, 4096, 1048576 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = AR__HEAP__MALLOC(sizes[i], "filled");
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(count_bytes(p, sizes[i], 0xbe), sizes[i]);
        AR__HEAP__FREE(p);
    }
}
END_TEST

START_TEST(realloc_fills_the_grown_bytes_with_0xbe_and_keeps_the_old_ones)
{
    unsigned char *p = AR__HEAP__MALLOC(10, "to grow");
    memset(p, 'a', 10);
    unsigned char *q = AR__HEAP__REALLOC(p, 100, "grown");
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(count_bytes(q, 10, 'a'), 10);
    ck_assert_uint_eq(count_bytes(q + 10, 90, 0xbe), 90);
    AR__HEAP__FREE(q);
}
END_TEST

/* fill_max bounds the 0xbe mark: the first N bytes of a new block get it,
 * the rest of a huge block reads zero (fresh pages, never written); the
 * growth of a REALLOC likewise up to N; CALLOC's zero is whole. */
static void body_fill_max(void)
{
    (void)ar_heap__set_options("fill_max=4096");
    size_t huge = (size_t)3 << 20;
    unsigned char *p = AR__HEAP__MALLOC(huge, "huge");
    printf("huge: marked=%zu zero=%zu\n", count_bytes(p, 4096, 0xbe),
           count_bytes(p + 4096, huge - 4096, 0));
    unsigned char *q = AR__HEAP__MALLOC(1000, "small");
    q[0] = 'a';
    unsigned char *r = AR__HEAP__REALLOC(q, 3000, "grown past nothing");
    printf("grown: marked=%zu\n", count_bytes(r + 1, 2999, 0xbe));
    unsigned char *g = AR__HEAP__REALLOC(r, 8192, "grown past fill_max");
    printf("grown far: marked=%zu\n", count_bytes(g + 3000, 8192 - 3000, 0xbe));
    unsigned char *c = AR__HEAP__CALLOC(1, huge, "zeroed");
    printf("calloc: zero=%zu\n", count_bytes(c, huge, 0));
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(g);
    AR__HEAP__FREE(c);
}

START_TEST(fill_max_bounds_the_mark_of_a_new_block)
{
    ar_test_child_t child;
    char expect[96];
    size_t huge = (size_t)3 << 20;
    ar_test__run_child(body_fill_max, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    snprintf(expect, sizeof expect, "huge: marked=4096 zero=%zu\n", huge - 4096);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "grown: marked=2999\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "grown far: marked=1096\n");
    snprintf(expect, sizeof expect, "calloc: zero=%zu\n", huge);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
}
END_TEST

static void body_calloc_reused(void)
{
    (void)ar_heap__set_options("quarantine_bytes=0");
    int zero = 1;
    for (int round = 0; round < 8; round++) {
        unsigned char *m = AR__HEAP__MALLOC(256, "filled, then freed");
        AR__HEAP__FREE(m);
        unsigned char *c = AR__HEAP__CALLOC(16, 16, "zeroed");
        zero &= count_bytes(c, 256, 0) == 256;
        AR__HEAP__FREE(c);
    }
    printf("zero=%d\n", zero);
}

START_TEST(calloc_is_zero_even_in_memory_that_held_filled_bytes)
{
    ar_test_child_t child;
    ar_test__run_child(body_calloc_reused, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "zero=1\n");
}
END_TEST

static void body_no_fill(void)
{
    (void)ar_heap__set_options("fill=0");
    unsigned char *m = AR__HEAP__MALLOC(4096, "unfilled");
    printf("malloc_filled=%d\n", count_bytes(m, 4096, 0xbe) == 4096);
    unsigned char *r = AR__HEAP__REALLOC(AR__HEAP__MALLOC(1, "seed"), 4096, "unfilled growth");
    printf("realloc_filled=%d\n", count_bytes(r + 1, 4095, 0xbe) == 4095);
    AR__HEAP__FREE(m);
    AR__HEAP__FREE(r);
}

START_TEST(fill_0_leaves_new_bytes_as_libc_gave_them)
{
    ar_test_child_t child;
    ar_test__run_child(body_no_fill, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "malloc_filled=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "realloc_filled=0\n");
}
END_TEST

/* ------------------------------------------------------------ suite */

/* ---------------------------------------------------------- rerun hints */

/*
 * Damage found after the fact ends with the options that would stop at the
 * faulting instruction, unless they are in force already (the block then
 * fell back to canaries: here guard_min_size keeps a 13-byte block out).
 */
typedef enum hint_bug_e { HINT_OVERFLOW, HINT_UNDERFLOW, HINT_AFTER_FREE } hint_bug_t;

typedef struct hint_case_s {
    const char *label;
    hint_bug_t bug;
    const char *options;
    const char *hint; /* the whole line, or NULL for none */
} hint_case_t;

#define HINT_OVER "hint: rerun with AR_HEAP_OPTIONS=guard=1:guard_align=1 to stop at the " \
                  "overflowing instruction\n"
#define HINT_UNDER "hint: rerun with AR_HEAP_OPTIONS=guard=1:guard_below=1 to stop at the " \
                   "underflowing instruction\n"
#define HINT_UAF "hint: rerun with AR_HEAP_OPTIONS=guard=1 to stop at the instruction that " \
                 "writes to the freed block\n"

static const hint_case_t hint_cases[] = {
    { "overflow", HINT_OVERFLOW, "", HINT_OVER },
    { "underflow", HINT_UNDERFLOW, "", HINT_UNDER },
    { "after free", HINT_AFTER_FREE, "", HINT_UAF },
    /* guard on, but not byte-exact: the canary in the slack caught it. */
    { "overflow, guard_align=16", HINT_OVERFLOW, "guard=1", HINT_OVER },
    /* guard on, the guard page after: an underflow still needs guard_below. */
    { "underflow, guard after", HINT_UNDERFLOW, "guard=1:guard_min_size=1000", HINT_UNDER },
    /* Already in the suggested form: no hint. */
    { "overflow, in force", HINT_OVERFLOW, "guard=1:guard_align=1:guard_min_size=1000", NULL },
    { "underflow, in force", HINT_UNDERFLOW, "guard=1:guard_below=1:guard_min_size=1000", NULL },
    { "after free, in force", HINT_AFTER_FREE, "guard=1:guard_min_size=1000", NULL },
};

static const hint_case_t *hint_case;

static void body_hint(void)
{
    if (ar_heap__set_options(hint_case->options) != 0)
        _exit(3);
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "hinted"));
    if (hint_case->bug == HINT_OVERFLOW) {
        p[13] = 0;
        AR__HEAP__FREE(p);
    } else if (hint_case->bug == HINT_UNDERFLOW) {
        p[-1] = 0;
        AR__HEAP__FREE(p);
    } else {
        AR__HEAP__FREE(p);
        p[2] = 'x';
        (void)ar_heap__check_all();
    }
}

START_TEST(damage_found_after_the_fact_ends_with_a_rerun_hint)
{
    ar_test_child_t child;
    hint_case = &hint_cases[_i];
    ar_test__run_child(body_hint, &child);
    expect_aborted(&child, hint_case->label);
    ar_test__expect_has(&child, hint_case->label, "SUMMARY: arheap: ");
    if (hint_case->hint != NULL) {
        /* The report's last line, between its SUMMARY and its rule. */
        char expect[512];
        snprintf(expect, sizeof expect, "\n%s=====", hint_case->hint);
        ar_test__expect_has(&child, hint_case->label, expect);
        ck_assert_msg(ar_test__output_count(&child, "hint: ") == 1, "%s: %s", hint_case->label,
                      child.output);
    } else {
        ck_assert_msg(!ar_test__output_has(&child, "hint: "), "%s: a hint although the "
                      "options are in force:\n%s", hint_case->label, child.output);
    }
}
END_TEST

static void body_hint_json(void)
{
    hint_case = &hint_cases[0];
    (void)ar_heap__set_options("report_json=1:on_error=continue");
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "hinted"));
    p[13] = 0;
    AR__HEAP__FREE(p);
    (void)ar_heap__set_options("guard=1:guard_align=1:guard_min_size=1000");
    p = ar_test__opaque(AR__HEAP__MALLOC(13, "in force"));
    p[13] = 0;
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p); /* a double free: no hint */
}

START_TEST(json_reports_carry_the_hint_as_options)
{
    ar_test_child_t child;
    ar_test__run_child(body_hint_json, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, ",\"hint\":\"guard=1:guard_align=1\"}\n");
    ck_assert_int_eq(ar_test__output_count(&child, ",\"hint\":null}\n"), 2);
    ck_assert(!ar_test__output_has(&child, "hint: rerun"));
}
END_TEST

static Suite *canary_suite(void)
{
    Suite *s = suite_create("canary");

    TCase *table = tcase_create("sizes by allocators");
    tcase_set_timeout(table, 30);
    tcase_add_loop_test(table, one_byte_past_the_end_is_an_overflow_caught_at_free, 0,
                        TABLE_CASES);
    tcase_add_loop_test(table, one_byte_before_the_start_is_an_underflow_caught_at_free, 0,
                        TABLE_CASES);
    tcase_add_loop_test(table, a_write_anywhere_in_the_tail_zone_is_an_overflow_at_that_offset,
                        0, (int)(tail_end(13) - 13));
    tcase_add_loop_test(table, a_write_anywhere_in_the_head_zone_is_an_underflow_at_that_offset,
                        0, (int)HEAD_BYTES);
    suite_add_tcase(s, table);

    TCase *detect = tcase_create("detection");
    tcase_add_test(detect, an_overflow_is_caught_at_realloc_naming_the_realloc_site);
    tcase_add_test(detect, a_string_terminator_written_one_past_the_end_is_caught);
    tcase_add_test(detect, any_write_to_a_zero_byte_block_is_an_overflow);
    tcase_add_test(detect, the_report_counts_every_damaged_byte_of_a_zone);
    tcase_add_test(detect, damage_at_both_ends_is_reported_as_an_overflow_and_an_underflow);
    tcase_add_test(detect, check_all_returns_the_number_of_damaged_blocks_and_reports_each);
    tcase_add_test(detect, check_all_counts_a_block_damaged_at_both_ends_once);
    tcase_add_test(detect, damage_is_reported_once);
    tcase_add_test(detect, check_all_of_an_undamaged_heap_returns_0_and_prints_nothing);
    tcase_add_test(detect, check_every_n_operations_catches_damage_without_a_free);
    tcase_add_test(detect, check_every_counts_a_realloc_as_two_operations);
    tcase_add_test(detect, the_check_at_exit_catches_damage_to_a_block_never_freed);
    tcase_add_test(detect, the_check_at_exit_keeps_the_programs_buffered_output);
#if !AR_CANARY_ASAN
    tcase_add_test(detect, canary_0_leaves_blocks_without_canaries);
#else
    (void)canary_0_leaves_blocks_without_canaries;
#endif
    tcase_add_test(detect, a_block_keeps_its_canaries_when_the_option_is_turned_off_later);
    suite_add_tcase(s, detect);

    TCase *bytes = tcase_create("canary and fill bytes");
    tcase_add_test(bytes, two_blocks_of_the_same_size_have_different_tail_canaries);
    tcase_add_test(bytes, a_tail_canary_is_not_one_repeated_byte);
    tcase_add_test(bytes, no_canary_byte_is_zero_or_a_fill_byte);
#if !AR_CANARY_ASAN
    tcase_add_test(bytes, canaries_differ_between_processes_at_the_same_address);
#else
    (void)canaries_differ_between_processes_at_the_same_address;
#endif
    tcase_add_test(bytes, every_allocator_returns_pointers_aligned_for_max_align_t);
    tcase_add_test(bytes, malloc_fills_new_bytes_with_0xbe);
    tcase_add_test(bytes, realloc_fills_the_grown_bytes_with_0xbe_and_keeps_the_old_ones);
    tcase_add_test(bytes, fill_max_bounds_the_mark_of_a_new_block);
    tcase_add_test(bytes, calloc_is_zero_even_in_memory_that_held_filled_bytes);
    tcase_add_test(bytes, fill_0_leaves_new_bytes_as_libc_gave_them);
    suite_add_tcase(s, bytes);

    TCase *hints = tcase_create("rerun hints");
    tcase_add_loop_test(hints, damage_found_after_the_fact_ends_with_a_rerun_hint, 0,
                        (int)(sizeof hint_cases / sizeof hint_cases[0]));
    tcase_add_test(hints, json_reports_carry_the_hint_as_options);
    suite_add_tcase(s, hints);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(canary_suite(), 1);
}
