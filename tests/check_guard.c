/*
 * check_guard.c: blocks against PROT_NONE guard pages (option guard=1).
 *
 * A guarded block ends at an inaccessible page (or, with guard_below=1,
 * starts right after one), so an overrun faults at the guilty instruction
 * and the fault handler (src/fault.c) reports it: kind, READ or WRITE,
 * offset, the block, where it was allocated (and freed). A freed guarded
 * block's pages are inaccessible, so any touch after free faults too.
 * Faults that are not arheap's go to the handler the program had, or end
 * the process silently as they would have without arheap. Past the mapping
 * budget new blocks get canaries only, with one warning; a correct
 * program, however it churns the heap, gets no report at all.
 *
 * The suite runs twice: tests/check_guard forces guard_mechanism=mprotect
 * (every kernel), tests/check_guard_madvise (this file with
 * AR_GUARD_MADVISE) forces guard regions, leaves out the tests of the
 * mapping budget and mapping counts, adds one of 100,000 live guarded
 * blocks, and skips (77) on kernels without guard regions.
 *
 * Every test runs its code in a forked child, with its own options, and
 * asserts how the child ended (SIGSEGV, or the exit code) and what it
 * wrote. Bad accesses go through ar_test__opaque() and volatile, so the
 * compiler neither warns about nor removes them. Children note values
 * with ar_test__note (write(2)), which survives a death by signal where
 * stdio buffers would not.
 *
 * "Guarded?" is read from the block's address: with guard_align=1 a
 * guarded block ends exactly on a page boundary. The tests that count use
 * 24-byte blocks: a block from libc ends at base + 16 + 24 with base
 * 16-aligned (src/block.c), never on a page boundary, so the count is exact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

/* What the report says about the access: the CPU tells read from write on
 * x86-64 only (src/fault.c); elsewhere the report says ACCESS. */
#if defined(__x86_64__)
#define ACCESS_NAME(access) ((access) == 'R' ? "READ" : "WRITE")
#else
#define ACCESS_NAME(access) ((void)(access), "ACCESS")
#endif

#define MIB ((size_t)1048576)

/* 1 when built with ThreadSanitizer (gcc defines __SANITIZE_THREAD__,
 * clang answers __has_feature). */
#if defined(__SANITIZE_THREAD__)
#define AR_GUARD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AR_GUARD_TSAN 1
#endif
#endif
#ifndef AR_GUARD_TSAN
#define AR_GUARD_TSAN 0
#endif
/* The same for AddressSanitizer (gcc: __SANITIZE_ADDRESS__). */
#if defined(__SANITIZE_ADDRESS__)
#define AR_GUARD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AR_GUARD_ASAN 1
#endif
#endif
#ifndef AR_GUARD_ASAN
#define AR_GUARD_ASAN 0
#endif

/* As ar_test__skip_under_valgrind (tests/ar_test.c), for a test that a
 * ThreadSanitizer build can not run: returns 1, after printing "SKIP under
 * ThreadSanitizer: <test>: <why>" to stderr, in such a build. */
static int skip_under_tsan(const char *test, const char *why)
{
    if (!AR_GUARD_TSAN)
        return 0;
    fprintf(stderr, "SKIP under ThreadSanitizer: %s: %s\n", test, why);
    return 1;
}

/* The same for a test that neither sanitizer can run. */
static int skip_under_sanitizers(const char *test, const char *why)
{
    if (!AR_GUARD_TSAN && !AR_GUARD_ASAN)
        return 0;
    fprintf(stderr, "SKIP under %s: %s: %s\n",
            AR_GUARD_TSAN ? "ThreadSanitizer" : "AddressSanitizer", test, why);
    return 1;
}

static size_t page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

/* In a child that faults on purpose: should the fault not end it (a
 * handler returning without repair re-faults forever), SIGALRM does,
 * well before the test case's timeout. */
static void watchdog(void)
{
    alarm(10);
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* Apply options built like printf; a child reports a rejected option. */
static void set_options(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void set_options(const char *format, ...)
{
    char options[256];
    va_list ap;
    va_start(ap, format);
    vsnprintf(options, sizeof options, format, ap);
    va_end(ap);
    if (ar_heap__set_options(options) != 0)
        ar_test__note("bad_options", 1);
}

/* 1 when the block [p, p + size) ends exactly on a page boundary. */
static int ends_on_a_page(const char *p, size_t size)
{
    return ((uintptr_t)p + size) % page_size() == 0;
}

/* Read or write one byte at p[offset], as the case says. */
static void touch(char *p, long offset, int access)
{
    volatile char *v = (volatile char *)ar_test__opaque(p);
    if (access == 'W') {
        /* 0: a store that never reads first (so a fault is a WRITE) and
         * never matches a canary byte (canary.c: no key byte is 0). */
        v[offset] = 0;
    } else {
        char c = v[offset];
        ar_test__note("read", (unsigned char)c);
    }
}

static void expect_segv(const ar_test_child_t *child, const char *label)
{
    ck_assert_msg(child->signaled && child->signal == SIGSEGV,
                  "%s: child did not die by SIGSEGV (exited=%d code=%d signaled=%d signal=%d); "
                  "output:\n%.3000s",
                  label, child->exited, child->exit_code, child->signaled, child->signal,
                  child->output);
    ck_assert_msg(!ar_test__output_has(child, "[note bad_options="),
                  "%s: options rejected:\n%.3000s", label, child->output);
}

static void expect_exit(const ar_test_child_t *child, const char *label, int code)
{
    ck_assert_msg(child->exited && child->exit_code == code,
                  "%s: child did not exit %d (exited=%d code=%d signaled=%d signal=%d); "
                  "output:\n%.3000s",
                  label, code, child->exited, child->exit_code, child->signaled, child->signal,
                  child->output);
    ck_assert_msg(!ar_test__output_has(child, "[note bad_options="),
                  "%s: options rejected:\n%.3000s", label, child->output);
}

static void expect_lacks(const ar_test_child_t *child, const char *label, const char *needle)
{
    ck_assert_msg(!ar_test__output_has(child, needle), "%s: output has \"%s\":\n%.3000s", label,
                  needle, child->output);
}

/* "  block: N bytes \"desc\" at 0x" (one byte: "1 byte"). */
static const char *block_line(char *buf, size_t cap, size_t size, const char *desc)
{
    snprintf(buf, cap, "  block: %zu %s \"%s\" at 0x", size, size == 1 ? "byte" : "bytes", desc);
    return buf;
}

/* What a guard-page fault report says: the header, "<ACCESS> at 0x...
 * faulted, offset <offset><detail>", the instruction, the block, its
 * allocation site (noted as "alloc"), the summary; one report only. */
static void expect_fault_report(const ar_test_child_t *child, const char *label, const char *kind,
                                int access, long offset, const char *detail, size_t size,
                                const char *desc)
{
    char buf[256];
    char prefix[32];
    snprintf(buf, sizeof buf, "arheap: ERROR: %s on block 0x", kind);
    ar_test__expect_has(child, label, buf);
    ck_assert_msg(ar_test__output_count(child, "arheap: ERROR:") == 1,
                  "%s: expected exactly one report:\n%.3000s", label, child->output);
    snprintf(prefix, sizeof prefix, "  %s at 0x", ACCESS_NAME(access));
    snprintf(buf, sizeof buf, " faulted, offset %ld%s", offset, detail);
    ck_assert_msg(ar_test__output_line_has(child, prefix, buf),
                  "%s: no line \"%s...%s\" in the output:\n%.3000s", label, prefix, buf,
                  child->output);
    ar_test__expect_has(child, label, "  by the instruction at 0x");
    ar_test__expect_has(child, label, block_line(buf, sizeof buf, size, desc));
    AR_TEST_EXPECT_SITE(child, label, "  allocated at ", "alloc");
    snprintf(buf, sizeof buf, "SUMMARY: arheap: %s (%s) on a %zu-byte block \"%s\" allocated at ",
             kind, ACCESS_NAME(access), size, desc);
    ar_test__expect_has(child, label, buf);
    AR_TEST_EXPECT_SITE(child, label, "SUMMARY: arheap: ", "alloc");
    expect_lacks(child, label, "[note survived=");
}

/* " bytes after the end" detail of an overrun at `offset` of `size` bytes:
 * counted as the report does, 0 for the byte right after the block. */
static const char *overrun_detail(char *buf, size_t cap, long offset, size_t size)
{
    unsigned long past = (unsigned long)offset - size;
    snprintf(buf, cap, ": %lu %s after the end of the block", past, past == 1 ? "byte" : "bytes");
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

static const size_t table_sizes[] = { 1, 13, 16, 4096, MIB };
#define SIZE_COUNT (sizeof table_sizes / sizeof table_sizes[0])
#define TABLE_CASES ((int)(SIZE_COUNT * VIA_COUNT * 2))

/* The case a child runs; set by the parent before the fork. */
static struct {
    size_t size;
    via_t via;
    int access;  /* 'R' or 'W' */
    long offset; /* of the byte touched, relative to the user pointer */
    char options[128];
    char label[160];
} the_case;

/* Case i of a table: size, allocator, then read or write. */
static void choose_case(int i, const char *options, const char *what)
{
    the_case.size = table_sizes[(size_t)i / (VIA_COUNT * 2)];
    the_case.via = (via_t)((i / 2) % VIA_COUNT);
    the_case.access = i % 2 == 0 ? 'W' : 'R';
    snprintf(the_case.options, sizeof the_case.options, "%s", options);
    snprintf(the_case.label, sizeof the_case.label, "%s, %s of a %zu-byte block %s (%s)", what,
             the_case.access == 'W' ? "write" : "read", the_case.size, via_desc[the_case.via],
             options);
}

static char strdup_source[MIB];

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

/* Allocate the case's block, use all of it, then touch the case's byte. */
static void body_touch_case(void)
{
    watchdog();
    set_options("%s", the_case.options);
    char *p = allocate_case();
    if (p == NULL) {
        ar_test__note("allocation_failed", 1);
        return;
    }
    memset(p, 'u', the_case.size); /* every byte of the block is usable */
    ar_test__note("page_end", ends_on_a_page(p, the_case.size));
    touch(p, the_case.offset, the_case.access);
    ar_test__note("survived", 1);
}

/* 1. guard_align=1: the byte right after every block is on the guard page. */
START_TEST(a_one_byte_overrun_faults_at_the_guard_page)
{
    ar_test_child_t child;
    char detail[96];
    choose_case(_i, "guard=1:guard_align=1", "p[size]");
    the_case.offset = (long)the_case.size;
    ar_test__run_child(body_touch_case, &child);
    expect_segv(&child, the_case.label);
    ck_assert_msg(ar_test__note_value(&child, "page_end") == 1,
                  "%s: the block does not end on a page:\n%.3000s", the_case.label, child.output);
    expect_fault_report(&child, the_case.label, "heap-buffer-overflow", the_case.access,
                        the_case.offset,
                        overrun_detail(detail, sizeof detail, the_case.offset, the_case.size),
                        the_case.size, via_desc[the_case.via]);
    expect_lacks(&child, the_case.label, "  freed at ");
}
END_TEST

/* 3. guard_below=1: the byte right before every block is on the guard
 * page, and the block starts on a page. */
static void body_underrun_case(void)
{
    watchdog();
    set_options("%s", the_case.options);
    char *p = allocate_case();
    if (p == NULL) {
        ar_test__note("allocation_failed", 1);
        return;
    }
    memset(p, 'u', the_case.size);
    ar_test__note("page_start", (uintptr_t)p % page_size() == 0);
    touch(p, the_case.offset, the_case.access);
    ar_test__note("survived", 1);
}

START_TEST(with_guard_below_a_one_byte_underrun_faults_and_blocks_start_on_a_page)
{
    ar_test_child_t child;
    choose_case(_i, "guard=1:guard_below=1", "p[-1]");
    the_case.offset = -1;
    ar_test__run_child(body_underrun_case, &child);
    expect_segv(&child, the_case.label);
    ck_assert_msg(ar_test__note_value(&child, "page_start") == 1,
                  "%s: the user pointer is not page-aligned:\n%.3000s", the_case.label,
                  child.output);
    expect_fault_report(&child, the_case.label, "heap-buffer-underflow", the_case.access, -1,
                        ": 1 byte before the start of the block", the_case.size,
                        via_desc[the_case.via]);
}
END_TEST

/* ------------------------------------------------------- single cases */

/* A 13-byte block touched at `touch_at`, with `options`. */
static struct {
    const char *options;
    long touch_at;
    int access;
} single;

static void body_single(void)
{
    watchdog();
    set_options("%s", single.options);
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    memset(p, 'u', 13);
    touch(p, single.touch_at, single.access);
    ar_test__note("survived", 1);
}

START_TEST(an_overrun_deeper_into_the_guard_page_names_its_offset)
{
    ar_test_child_t child;
    single.options = "guard=1:guard_align=1";
    single.touch_at = 13 + 100;
    single.access = 'W';
    ar_test__run_child(body_single, &child);
    expect_segv(&child, "p[113]");
    expect_fault_report(&child, "p[113]", "heap-buffer-overflow", 'W', 113,
                        ": 100 bytes after the end of the block", 13, "thirteen");
}
END_TEST

START_TEST(on_error_exit_makes_a_fault_exit_with_error_exitcode)
{
    ar_test_child_t child;
    single.options = "guard=1:guard_align=1:on_error=exit:error_exitcode=9";
    single.touch_at = 13;
    single.access = 'W';
    ar_test__run_child(body_single, &child);
    expect_exit(&child, "on_error=exit", 9);
    expect_fault_report(&child, "on_error=exit", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
}
END_TEST

START_TEST(on_error_exit_uses_exit_code_23_by_default)
{
    ar_test_child_t child;
    single.options = "guard=1:guard_align=1:on_error=exit";
    single.touch_at = 13;
    single.access = 'R';
    ar_test__run_child(body_single, &child);
    expect_exit(&child, "on_error=exit", 23);
    expect_fault_report(&child, "on_error=exit", "heap-buffer-overflow", 'R', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
}
END_TEST

START_TEST(on_error_continue_still_ends_a_fault_by_sigsegv)
{
    ar_test_child_t child;
    single.options = "guard=1:guard_align=1:on_error=continue";
    single.touch_at = 13;
    single.access = 'W';
    ar_test__run_child(body_single, &child);
    expect_segv(&child, "on_error=continue");
    expect_fault_report(&child, "on_error=continue", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
}
END_TEST

START_TEST(a_fault_report_can_be_json)
{
    ar_test_child_t child;
    single.options = "guard=1:guard_align=1:report_json=1";
    single.touch_at = 13;
    single.access = 'W';
    ar_test__run_child(body_single, &child);
    expect_segv(&child, "report_json=1");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "{\"tool\":\"arheap\",\"error\":\"heap-buffer-overflow\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"found_by\":\"fault\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"size\":13,\"description\":\"thirteen\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"offset\":13,");
#if defined(__x86_64__)
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"operation\":\"write\"");
#endif
    ck_assert_msg(!ar_test__output_has(&child, "arheap: ERROR"),
                  "text report in JSON mode:\n%.3000s", child.output);
}
END_TEST

START_TEST(a_fault_report_prints_the_allocation_stack)
{
    ar_test_child_t child;
    single.options = "guard=1:guard_align=1:stack_depth=4";
    single.touch_at = 13;
    single.access = 'W';
    ar_test__run_child(body_single, &child);
    expect_segv(&child, "stack_depth=4");
    expect_fault_report(&child, "stack_depth=4", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "#0 0x");
}
END_TEST

/* 2. Default alignment (16): the slack after a 13-byte block is canary,
 * not guard page. */
START_TEST(with_default_alignment_the_block_end_is_16_aligned_against_the_guard)
{
    ar_test_child_t child;
    single.options = "guard=1";
    single.touch_at = 16;
    single.access = 'W';
    ar_test__run_child(body_single, &child);
    expect_segv(&child, "p[16] of 13 bytes");
    expect_fault_report(&child, "p[16] of 13 bytes", "heap-buffer-overflow", 'W', 16,
                        ": 3 bytes after the end of the block", 13, "thirteen");
}
END_TEST

static void body_slack_write(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "slack written");
    ar_test__note("slack_end", ends_on_a_page(p, 16));
    touch(p, 15, 'R'); /* reads of the slack do not fault either */
    touch(p, 13, 'W');
    ar_test__note("no_fault", 1);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("survived", 1);
}

START_TEST(a_write_into_the_slack_does_not_fault_and_is_caught_by_the_canary_at_free)
{
    ar_test_child_t child;
    ar_test__run_child(body_slack_write, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    ck_assert_int_eq(ar_test__note_value(&child, "slack_end"), 1);
    ck_assert_int_eq(ar_test__note_value(&child, "no_fault"), 1);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 1);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  1 byte damaged after the end of the block; the first at "
                                      "offset 13 (its bytes are at offsets 0 to 12)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"slack written\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  found by free at ", "free");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    ck_assert(!ar_test__output_has(&child, "faulted"));
    ck_assert(!ar_test__output_has(&child, "[note survived="));
}
END_TEST

/* In guard-after mode the bytes below a block, on its own first page,
 * are head canary; below that page lies the previous slot's guard page.
 * The second block is used: below an arena's first slot there is no slot,
 * only whatever the kernel mapped there. */
static void body_head_zone(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *first = AR__HEAP__MALLOC(13, "first");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "second");
    long below_page = -(long)((uintptr_t)p % page_size()) - 1;
    ar_test__note("below_page", (int)below_page);
    touch(p, -1, 'W'); /* head canary: no fault */
    ar_test__note("no_fault", 1);
    (void)ar_test__opaque(first);
    touch(p, below_page, 'R');
    ar_test__note("survived", 1);
}

START_TEST(below_the_first_page_of_a_guarded_block_is_a_guard_page)
{
    ar_test_child_t child;
    char detail[96];
    ar_test__run_child(body_head_zone, &child);
    expect_segv(&child, "below the first page");
    ck_assert_int_eq(ar_test__note_value(&child, "no_fault"), 1);
    long below = -(long)page_size() + 13 - 1; /* the 13 bytes end on the guard page */
    ck_assert_msg(ar_test__note_value(&child, "below_page") == below, "unexpected offset:\n%.3000s",
                  child.output);
    snprintf(detail, sizeof detail, ": %ld bytes before the start of the block", -below);
    expect_fault_report(&child, "below the first page", "heap-buffer-underflow", 'R', below, detail,
                        13, "second");
}
END_TEST

/* guard_below: an overrun lands in the tail canary. */
static void body_below_overrun(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:guard_below=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "guarded below");
    touch(p, 13, 'W');
    ar_test__note("no_fault", 1);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("survived", 1);
}

START_TEST(with_guard_below_an_overrun_is_caught_by_the_tail_canary)
{
    ar_test_child_t child;
    ar_test__run_child(body_below_overrun, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    ck_assert_int_eq(ar_test__note_value(&child, "no_fault"), 1);
    AR_TEST_ASSERT_OUTPUT_HAS(&child,
                              "the first at offset 13 (its bytes are at offsets 0 to 12)\n");
    AR_TEST_ASSERT_SITE(&child, "  found by free at ", "free");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
}
END_TEST

/* A fault in another thread is reported, naming that thread. */
static void *overrun_thread(void *arg)
{
    char *p = arg;
    ar_test__note("tid", (int)syscall(SYS_gettid));
    touch(p, 13, 'W');
    return NULL;
}

static void body_thread_fault(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:guard_align=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    pthread_t thread;
    pthread_create(&thread, NULL, overrun_thread, p);
    pthread_join(thread, NULL);
    ar_test__note("survived", 1);
}

START_TEST(a_fault_in_another_thread_is_reported_naming_that_thread)
{
    ar_test_child_t child;
    char buf[64];
    ar_test__run_child(body_thread_fault, &child);
    expect_segv(&child, "thread");
    expect_fault_report(&child, "thread", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
    snprintf(buf, sizeof buf, " in thread %d", ar_test__note_value(&child, "tid"));
    ck_assert_msg(ar_test__output_line_has(&child, "  by the instruction at ", buf),
                  "the report does not name thread %d:\n%.3000s",
                  ar_test__note_value(&child, "tid"), child.output);
}
END_TEST

/* Two threads fault at once: one report, whole; the other thread's
 * fault waits for the end the report brings. Until stop 42 both wrote,
 * and the first to finish ended the process in the middle of the
 * other's report (6 runs of 6 lost a SUMMARY). */
static pthread_barrier_t both_ready;

static void *overrun_at_once(void *arg)
{
    char *p = arg;
    pthread_barrier_wait(&both_ready);
    touch(p, 13, 'W');
    return NULL;
}

static void body_two_faults(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:guard_align=1:stack_depth=4");
    char *a = AR__HEAP__MALLOC(13, "first thread's");
    char *b = AR__HEAP__MALLOC(13, "second thread's");
    pthread_barrier_init(&both_ready, NULL, 2);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, overrun_at_once, a);
    pthread_create(&tb, NULL, overrun_at_once, b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ar_test__note("survived", 1);
}

START_TEST(two_threads_faulting_at_once_give_one_whole_report)
{
    for (int run = 0; run < 3; run++) {
        ar_test_child_t child;
        ar_test__run_child(body_two_faults, &child);
        expect_segv(&child, "two faults");
        ck_assert_msg(ar_test__output_count(&child, "arheap: ERROR: ") == 1 &&
                          ar_test__output_count(&child, "SUMMARY: arheap: ") == 1,
                      "run %d: not one whole report:\n%.4000s", run, child.output);
    }
}
END_TEST

/* The block's slot is reused, and its pages opened, while the report of
 * a use after free is written (here: while a slow symbolizer runs): the
 * process still ends by the signal. Until stop 42 the handler only
 * counted on the instruction faulting again; it went through, and the
 * program went on after a reported use after free. */
static char slow_symbolizer_dir[64];

static void *read_after_free(void *arg)
{
    char *p = arg;
    touch(p, 0, 'R');
    ar_test__note("read_returned", 1);
    return NULL;
}

/* The stand-in symbolizer, `addr2line` in a folder of its own: a shell
 * script whose body is `body` (printf-style, the folder as its one %s,
 * used as often as the format names it: up to twice). */
static void make_stand_in(const char *body)
{
    snprintf(slow_symbolizer_dir, sizeof slow_symbolizer_dir, "/tmp/arheap-slow.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(slow_symbolizer_dir));
    char path[128];
    snprintf(path, sizeof path, "%s/addr2line", slow_symbolizer_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\n", f);
    fprintf(f, body, slow_symbolizer_dir, slow_symbolizer_dir);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0700), 0);
}

static void remove_stand_in(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/addr2line", slow_symbolizer_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/fast", slow_symbolizer_dir);
    unlink(path);
    rmdir(slow_symbolizer_dir);
}

/* Another thread reads a freed guarded block; its report waits on the
 * stand-in symbolizer, and 300 ms into that wait this returns the block
 * (the reader thread in *reader). */
static char *report_in_progress(const char *options, const char *desc, pthread_t *reader)
{
    char all[256];
    snprintf(all, sizeof all, "%s:stack_depth=4:symbolizer=%s/addr2line", options,
             slow_symbolizer_dir);
    (void)ar_heap__set_options(all);
    char *p = AR__HEAP__MALLOC(13, desc);
    AR__HEAP__FREE(p);
    pthread_create(reader, NULL, read_after_free, p);
    struct timespec pause = { 0, 300 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    return p;
}

static void body_reused_during_the_report(void)
{
    alarm(20);
    pthread_t reader;
    char *p = report_in_progress("guard=1:guard_align=1:quarantine_bytes=0", "freed, then reused",
                                 &reader);
    char *again = AR__HEAP__MALLOC(13, "the slot's next block");
    ar_test__note("same_slot", again == p);
    pthread_join(reader, NULL);
    ar_test__note("survived", 1);
}

START_TEST(a_slot_reused_during_the_report_does_not_let_the_program_go_on)
{
    if (ar_test__skip_under_asan(__func__, "a sanitizer build runs no symbolizer, so the report does not wait while the slot is reused"))
        return;
    make_stand_in("exec sleep 2\n");
    ar_test_child_t child;
    ar_test__run_child(body_reused_during_the_report, &child);
    remove_stand_in();
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-use-after-free");
    ck_assert_msg(ar_test__note_value(&child, "same_slot") == 1,
                  "the slot was not reused during the report:\n%.3000s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "[note read_returned=1]"),
                  "the read after free went on:\n%.3000s", child.output);
    expect_segv(&child, "reused during the report");
}
END_TEST

/* A child forked while another thread of its parent writes a fault
 * report: its own guard fault is reported (with symbols) and ends it.
 * Until stop 42 the child's fault waited forever for the parent's
 * report to end it, and its reports had no symbols (the parent's
 * thread held the symbol session). The stand-in symbolizer sleeps until
 * the child has made a marker file, then runs addr2line. */
__attribute__((noinline)) static void child_touches_freed(void)
{
    char *p = AR__HEAP__MALLOC(13, "the child's block");
    AR__HEAP__FREE(p);
    touch(p, 0, 'R');
}

static void body_fork_during_a_report(void)
{
    alarm(30);
    pthread_t reader;
    (void)report_in_progress("guard=1", "the parent's block", &reader);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10); /* a hang ends by SIGALRM */
        char marker[128];
        snprintf(marker, sizeof marker, "%s/fast", slow_symbolizer_dir);
        int fd = open(marker, O_WRONLY | O_CREAT, 0600);
        if (fd >= 0)
            close(fd);
        child_touches_freed();
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ar_test__note("child_signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    pthread_join(reader, NULL);
}

START_TEST(a_child_forked_during_a_fault_report_reports_its_own_fault)
{
    if (ar_test__skip_under_asan(__func__, "a sanitizer build runs no symbolizer, so the parent's report does not wait for the fork"))
        return;
    if (system("addr2line --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "no addr2line on PATH: test not run\n");
        return;
    }
    make_stand_in("[ -e %s/fast ] && exec addr2line \"$@\"\nexec sleep 3\n");
    ar_test_child_t child;
    ar_test__run_child(body_fork_during_a_report, &child);
    remove_stand_in();
    ck_assert_msg(ar_test__note_value(&child, "child_signal") == SIGSEGV,
                  "the forked child did not end by its fault (signal %d):\n%.4000s",
                  ar_test__note_value(&child, "child_signal"), child.output);
    ck_assert_msg(ar_test__output_has(&child, " in child_touches_freed "),
                  "the child's report has no symbols:\n%.4000s", child.output);
}
END_TEST

/* A program whose alternate signal stack is 8 KiB (SIGSTKSZ of old, and
 * Rust's), with no memory below it: the fault report, JSON (the deeper
 * one), fits. Until stop 42 the library bound its calls into libc
 * lazily, the handler's first calls went through the loader's resolver,
 * which saves every vector register on the stack, and the report needed
 * 8.6 KiB: the process died of a second fault with no report at all. */
static void body_small_alternate_stack(void)
{
    watchdog();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, page + 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m, page, PROT_NONE) != 0)
        _exit(3);
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = m + page;
    ss.ss_size = 8192;
    if (sigaltstack(&ss, NULL) != 0)
        _exit(4);
    (void)ar_heap__set_options("guard=1:guard_align=1:report_json=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    touch(p, 13, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_fault_report_fits_an_8_kib_alternate_stack)
{
    if (ar_test__skip_under_asan(__func__, "a sanitizer build's frames carry redzones: its report does not fit 8 KiB"))
        return;
    /* The kernel's signal frame alone takes AT_MINSIGSTKSZ: 3.4 KiB here
     * (AVX-512); a CPU whose frame is much larger leaves the report no
     * room on any 8 KiB stack. */
    unsigned long frame = getauxval(AT_MINSIGSTKSZ);
    if (frame > 4096) {
        fprintf(stderr, "%s: the kernel's signal frame is %lu bytes: not run\n", __func__, frame);
        return;
    }
    ar_test_child_t child;
    ar_test__run_child(body_small_alternate_stack, &child);
    expect_segv(&child, "small alternate stack");
    ck_assert_msg(ar_test__output_has(&child, "{\"tool\":\"arheap\",\"error\":\"heap-buffer-overflow\""),
                  "no JSON report:\n%.3000s", child.output);
    ck_assert_msg(ar_test__output_has(&child, "\"description\":\"thirteen\""),
                  "the JSON report is not whole:\n%.3000s", child.output);
}
END_TEST

/* A fault whose signal frame lands on stack pages never touched before:
 * the faulting function's stack pointer goes 256 KiB below anything the
 * child used, to about 1 KiB above a page boundary. Its calls touch that
 * page (and Valgrind maps 128 bytes below the stack pointer as they
 * do), and the signal frame (3 to 4 KiB) reaches the page below it.
 * Natively the kernel grows the stack. Under Valgrind (make
 * check-valgrind) it is the case that matters: until stop 43 arheap's handler was installed with SA_ONSTACK
 * there too, Valgrind then did not grow the main stack for the frame, and
 * the process died of a SIGSEGV with no report. */
static void __attribute__((noinline)) fault_below_fresh_stack(char *p)
{
    char here;
    size_t page = page_size();
    size_t depth = 256 * 1024 + (uintptr_t)&here % page - 1024;
    char *room = __builtin_alloca(depth);
    ar_test__opaque(room);
    touch(p, 13, 'W');
    ar_test__opaque(room);
}

static void body_fresh_stack(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:guard_align=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    fault_below_fresh_stack(p);
    ar_test__note("survived", 1);
}

START_TEST(a_fault_whose_frame_needs_new_stack_pages_is_reported)
{
    ar_test_child_t child;
    ar_test__run_child(body_fresh_stack, &child);
    expect_segv(&child, "fresh stack");
    expect_fault_report(&child, "fresh stack", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
}
END_TEST

#if defined(__x86_64__)
/* The handler put back with signal(), as test frameworks save and
 * restore SIGSEGV around a test: installed without SA_SIGINFO, the
 * kernel fills in no siginfo; the fault is still reported (its address
 * from the context). Until stop 42 it went to the default action with no
 * report. */
static void program_handler(int sig)
{
    (void)sig;
    _exit(7);
}

static void body_handler_put_back(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:guard_align=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    void (*saved)(int) = signal(SIGSEGV, program_handler);
    signal(SIGSEGV, saved);
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    ar_test__note("siginfo", (now.sa_flags & SA_SIGINFO) != 0);
    touch(p, 13, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_handler_put_back_with_signal_still_reports_the_fault)
{
    ar_test_child_t child;
    ar_test__run_child(body_handler_put_back, &child);
    ck_assert_msg(ar_test__note_value(&child, "siginfo") == 0, "%s", child.output);
    expect_segv(&child, "put back");
    expect_fault_report(&child, "put back", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
}
END_TEST

/* Put back with signal(), the handler's siginfo is whatever the stack
 * held where the kernel built its frame: these children fill the stack
 * below them with a byte first, so that the garbage is known. 0xff makes
 * si_code negative (a sent signal's), 0x01 positive (a fault's). Until
 * stop 43 the handler decided from that garbage whether to pass a signal
 * on, ignore it or raise it again (it now makes its siginfo from the
 * context), and let a SIGSEGV with a positive code fault again, which a
 * signal with no faulting instruction never does. */
static void __attribute__((noinline)) fill_stack_below(int byte)
{
    volatile char junk[64 * 1024];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)byte;
}

/* A guarded block (arheap's handler installed), then the handler put
 * back without SA_SIGINFO; kill() and raise() bound now, so that the
 * loader's first-call resolver does not write over the filled stack. */
static char *guarded_then_put_back(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    void (*saved)(int) = signal(SIGSEGV, program_handler);
    signal(SIGSEGV, saved);
    (void)kill(getpid(), 0);
    (void)raise(0);
    return p;
}

static void body_put_back_ignored_real_fault(void)
{
    watchdog();
    signal(SIGSEGV, SIG_IGN);
    (void)guarded_then_put_back();
    char *page = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        _exit(3);
    fill_stack_below(0xff);
    touch(page, 0, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_real_fault_the_program_ignores_ends_the_process_after_a_put_back)
{
    ar_test_child_t child;
    ar_test__run_child(body_put_back_ignored_real_fault, &child);
    expect_segv(&child, "ignored real fault, put back");
    expect_lacks(&child, "ignored real fault, put back", "arheap: ERROR");
}
END_TEST

/* The same with a fault that is not a page fault: a load through a
 * non-canonical address (a general-protection fault, trap 13, which the
 * kernel sends as SI_KERNEL). Until stop 43's last change the context's
 * trap other than 14 read as a sent signal, and it looped. */
static void body_put_back_ignored_general_protection(void)
{
    watchdog();
    signal(SIGSEGV, SIG_IGN);
    (void)guarded_then_put_back();
    volatile char *bad = (volatile char *)(uintptr_t)0xdead000000000000ull;
    ar_test__note("read", *bad);
    ar_test__note("survived", 1);
}

START_TEST(a_general_protection_fault_the_program_ignores_ends_the_process_after_a_put_back)
{
    ar_test_child_t child;
    ar_test__run_child(body_put_back_ignored_general_protection, &child);
    expect_segv(&child, "ignored general-protection fault, put back");
    expect_lacks(&child, "ignored general-protection fault, put back", "arheap: ERROR");
}
END_TEST

static void body_put_back_sent_default(void)
{
    watchdog();
    (void)guarded_then_put_back();
    fill_stack_below(0x01);
    (void)kill(getpid(), SIGSEGV);
    ar_test__note("survived", 1);
}

START_TEST(a_sent_sigsegv_ends_the_process_after_a_put_back)
{
    ar_test_child_t child;
    ar_test__run_child(body_put_back_sent_default, &child);
    expect_segv(&child, "sent SIGSEGV, put back");
    expect_lacks(&child, "sent SIGSEGV, put back", "[note survived=");
}
END_TEST

static void body_put_back_sent_ignored(void)
{
    watchdog();
    signal(SIGSEGV, SIG_IGN);
    char *p = guarded_then_put_back();
    fill_stack_below(0x01);
    (void)raise(SIGSEGV);
    ar_test__note("ignored", 1);
    touch(p, 13, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_sent_sigsegv_the_program_ignores_stays_ignored_after_a_put_back)
{
    ar_test_child_t child;
    ar_test__run_child(body_put_back_sent_ignored, &child);
    ck_assert_msg(ar_test__note_value(&child, "ignored") == 1, "the sent SIGSEGV was not ignored:\n%.3000s",
                  child.output);
    expect_segv(&child, "ignored sent SIGSEGV, put back");
    ck_assert_msg(ar_test__output_has(&child, "arheap: ERROR: heap-buffer-overflow"),
                  "arheap's handler is gone: the overflow after it is not reported:\n%.3000s",
                  child.output);
}
END_TEST

/* The context holds the thread's last trap, which may be an earlier
 * fault: here one that the program's handler repaired. A SIGSEGV the
 * thread then raises must reach that handler as sent (SI_USER), not as a
 * second fault at the first one's address. */
static volatile sig_atomic_t repairing_codes[2];
static void *volatile repairing_addr;
static volatile sig_atomic_t repairing_calls;
static char *repairing_page;

static void repairing_handler(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    int n = repairing_calls;
    if (n < 2)
        repairing_codes[n] = info->si_code;
    if (n == 0)
        repairing_addr = info->si_addr;
    repairing_calls = n + 1;
    if (info->si_code > 0 && mprotect(repairing_page, page_size(), PROT_READ | PROT_WRITE) != 0)
        _exit(5);
}

static void body_put_back_stale_trap(void)
{
    watchdog();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = repairing_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    (void)guarded_then_put_back();
    repairing_page = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (repairing_page == MAP_FAILED)
        _exit(3);
    touch(repairing_page, 0, 'W');
    (void)raise(SIGSEGV);
    ar_test__note("calls", (int)repairing_calls);
    ar_test__note("fault_code", (int)repairing_codes[0]);
    ar_test__note("fault_addr_right", repairing_addr == (void *)repairing_page);
    ar_test__note("sent_code", (int)repairing_codes[1]);
}

START_TEST(a_sent_sigsegv_after_a_repaired_fault_reaches_the_program_as_sent)
{
    ar_test_child_t child;
    ar_test__run_child(body_put_back_stale_trap, &child);
    expect_exit(&child, "stale trap", 0);
    ck_assert_msg(ar_test__note_value(&child, "calls") == 2, "%.3000s", child.output);
    ck_assert_msg(ar_test__note_value(&child, "fault_code") > 0 &&
                      ar_test__note_value(&child, "fault_addr_right") == 1,
                  "the repaired fault did not reach the handler as a fault at its page:\n%.3000s",
                  child.output);
    ck_assert_msg(ar_test__note_value(&child, "sent_code") <= 0,
                  "the raised SIGSEGV reached the handler as a fault:\n%.3000s", child.output);
}
END_TEST

/* The kernel's own SIGSEGV: a signal it can not deliver (the stack
 * pointer is unmapped when SIGUSR1, not on the alternate stack, comes)
 * becomes a SIGSEGV with SI_KERNEL, a positive code, delivered on the
 * alternate stack to arheap's handler. No instruction faults again:
 * until stop 43 the handler went to the default action without raising,
 * and the program went on. */
static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen = 1;
}

static void body_kernel_sigsegv(void)
{
    watchdog();
    static char alternate[64 * 1024];
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = alternate;
    ss.ss_size = sizeof alternate;
    if (sigaltstack(&ss, NULL) != 0)
        _exit(3);
    signal(SIGUSR1, on_usr1);
    (void)ar_heap__set_options("guard=1");
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    ar_test__note("guarded", p != NULL);
    long pid = (long)getpid();
    long tid = (long)syscall(SYS_gettid);
    long r;
    register long bogus __asm__("r8") = 0x10000;
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %%r8, %%rsp\n\t"
                     "syscall\n\t"
                     "mov %%r12, %%rsp"
                     : "=a"(r)
                     : "a"((long)SYS_tgkill), "D"(pid), "S"(tid), "d"((long)SIGUSR1), "r"(bogus)
                     : "r12", "rcx", "r11", "memory");
    ar_test__note("usr1", (int)usr1_seen);
    ar_test__note("survived", 1);
}

START_TEST(the_kernels_own_sigsegv_ends_the_process)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind runs the syscall with its own stack, so the kernel has nothing to refuse"))
        return;
    ar_test_child_t child;
    ar_test__run_child(body_kernel_sigsegv, &child);
    ck_assert_msg(ar_test__note_value(&child, "guarded") == 1, "%.3000s", child.output);
    expect_segv(&child, "the kernel's SIGSEGV");
    expect_lacks(&child, "the kernel's SIGSEGV", "[note survived=");
}
END_TEST
#endif

/* ------------------------------------------------------ use after free */

typedef enum uaf_mode_e {
    UAF_HELD,    /* in quarantine */
    UAF_EVICTED, /* pushed out of a small quarantine */
    UAF_NO_QUARANTINE,
    UAF_MODES
} uaf_mode_t;

static const char *const uaf_mode_name[UAF_MODES] = { "in quarantine", "evicted",
                                                      "quarantine_bytes=0" };

static struct {
    uaf_mode_t mode;
    int access;
    int below;
    char label[128];
} uaf;

#define UAF_CASES ((int)(UAF_MODES * 2 * 2))

static void choose_uaf(int i)
{
    uaf.mode = (uaf_mode_t)(i / 4);
    uaf.access = i % 2 == 0 ? 'W' : 'R';
    uaf.below = (i / 2) % 2;
    snprintf(uaf.label, sizeof uaf.label, "%s after free, block %s%s",
             uaf.access == 'W' ? "write" : "read", uaf_mode_name[uaf.mode],
             uaf.below ? ", guard_below=1" : "");
}

enum { UAF_PUSHERS = 64 };

static void body_uaf(void)
{
    watchdog();
    set_options("guard=1:guard_align=1:guard_below=%d", uaf.below);
    if (uaf.mode == UAF_EVICTED)
        set_options("quarantine_bytes=1");
    else if (uaf.mode == UAF_NO_QUARANTINE)
        set_options("quarantine_bytes=0");
    /* Allocated first, so that no slot is taken after the victim's frees. */
    char *pushers[UAF_PUSHERS];
    for (int i = 0; i < UAF_PUSHERS; i++)
        pushers[i] = AR__HEAP__MALLOC(13, "pusher");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "freed then touched");
    memset(p, 'u', 13);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    ar_test__note("held_before", (int)s.quarantine_blocks);
    if (uaf.mode == UAF_EVICTED) {
        for (int i = 0; i < UAF_PUSHERS; i++)
            AR__HEAP__FREE(pushers[i]);
    }
    ar_heap__get_stats(&s);
    ar_test__note("held_after", (int)s.quarantine_blocks);
    touch(p, 5, uaf.access);
    ar_test__note("survived", 1);
}

/* 4. A touch of a freed guarded block faults: in quarantine, after it left
 * the quarantine, and without a quarantine (its slot stays inaccessible
 * until reused). */
START_TEST(a_touch_after_free_of_a_guarded_block_faults)
{
    ar_test_child_t child;
    choose_uaf(_i);
    ar_test__run_child(body_uaf, &child);
    expect_segv(&child, uaf.label);
    const char *detail = uaf.mode == UAF_HELD
                             ? " of a freed block (in quarantine, its pages inaccessible)"
                             : " of a freed block (no longer in quarantine; its slot is "
                               "inaccessible until reused)";
    expect_fault_report(&child, uaf.label, "heap-use-after-free", uaf.access, 5, detail, 13,
                        "freed then touched");
    AR_TEST_EXPECT_SITE(&child, uaf.label, "  freed at ", "free");
    int held_before = ar_test__note_value(&child, "held_before");
    int held_after = ar_test__note_value(&child, "held_after");
    switch (uaf.mode) {
    case UAF_HELD:
        ck_assert_msg(held_after == 1, "%s: the block is not held:\n%.3000s", uaf.label,
                      child.output);
        break;
    case UAF_EVICTED:
        ck_assert_msg(held_before == 1 && held_after == 1, "%s: quarantine %d then %d:\n%.3000s",
                      uaf.label, held_before, held_after, child.output);
        break;
    default:
        ck_assert_msg(held_after == 0, "%s: a block is held:\n%.3000s", uaf.label, child.output);
        break;
    }
}
END_TEST

static void body_stale_after_realloc(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(32, "moved by realloc");
    ar_test__note("free", __LINE__ + 1);
    char *q = AR__HEAP__REALLOC(p, 64, "moved");
    if (ar_test__opaque(q) == p)
        ar_test__note("not_moved", 1);
    touch(p, 0, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_write_through_a_pointer_stale_after_realloc_faults_naming_the_realloc)
{
    ar_test_child_t child;
    ar_test__run_child(body_stale_after_realloc, &child);
    expect_segv(&child, "stale after realloc");
    expect_fault_report(&child, "stale after realloc", "heap-use-after-free", 'W', 0,
                        " of a freed block (in quarantine, its pages inaccessible)", 32,
                        "moved by realloc");
    AR_TEST_ASSERT_SITE(&child, "  freed at ", "free");
}
END_TEST

/* Without its record (no freed history, no quarantine), the fault is still
 * reported from what the slot knows. */
static const char *without_record_options =
    "guard=1:guard_align=1:quarantine_bytes=0:freed_history=0";

static void body_uaf_without_record(void)
{
    watchdog();
    (void)ar_heap__set_options(without_record_options);
    char *p = AR__HEAP__MALLOC(13, "forgotten");
    AR__HEAP__FREE(p);
    touch(p, 5, 'R');
    ar_test__note("survived", 1);
}

START_TEST(a_touch_after_free_is_reported_even_when_the_record_is_gone)
{
    ar_test_child_t child;
    ar_test__run_child(body_uaf_without_record, &child);
    expect_segv(&child, "no record");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-use-after-free on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, " faulted, offset 5 of a freed block (no longer in "
                                      "quarantine; its slot is inaccessible until reused)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"(record not available)\" at 0x");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 1);
}
END_TEST

/* A guarded block whose canary (its slack before the guard page) was
 * damaged, freed with no quarantine: never reused, but closed and no
 * longer live (until stop 41 it stayed open and live: a use after free
 * unseen, and guard_max_live stopped guarding for good). */
static void body_damaged_without_quarantine(void)
{
    watchdog();
    (void)ar_heap__set_options("guard=1:quarantine_bytes=0:on_error=continue:guard_max_live=4");
    for (int i = 0; i < 8; i++) {
        char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "damaged"));
        p[13] = 'X'; /* the slack: no fault, the tail canary */
        AR__HEAP__FREE(p);
    }
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    ar_test__note("live_after", (int)s.guarded_blocks);
    char *fresh = AR__HEAP__MALLOC(13, "fresh");
    ar_heap__get_stats(&s);
    ar_test__note("fresh_guarded", (int)s.guarded_blocks);
    AR__HEAP__FREE(fresh);
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "damaged, then touched"));
    p[13] = 'X';
    AR__HEAP__FREE(p);
    ar_test__note("touch", 1);
    touch(p, 0, 'R');
    ar_test__note("survived", 1);
}

START_TEST(a_damaged_guarded_block_freed_without_quarantine_is_closed_and_not_live)
{
    ar_test_child_t child;
    ar_test__run_child(body_damaged_without_quarantine, &child);
    expect_segv(&child, "damaged, no quarantine");
    ck_assert_msg(ar_test__note_value(&child, "live_after") == 0 &&
                      ar_test__note_value(&child, "fresh_guarded") == 1,
                  "freed damaged blocks still count live:\n%.3000s", child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: heap-buffer-overflow"), 9);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-use-after-free on block 0x");
    ck_assert_msg(!ar_test__output_has(&child, "guard_max_live"), "%.3000s", child.output);
    ck_assert_msg(ar_test__note_value(&child, "survived") < 0, "%.3000s", child.output);
}
END_TEST

/* The same in JSON: the block's address, size and state, not null (until
 * stop 41 "block" was null there); what only the record knew is null. */
START_TEST(a_json_fault_report_without_the_record_keeps_what_the_slot_knows)
{
    ar_test_child_t child;
    without_record_options =
        "guard=1:guard_align=1:quarantine_bytes=0:freed_history=0:report_json=1";
    ar_test__run_child(body_uaf_without_record, &child);
    expect_segv(&child, "no record, JSON");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "{\"tool\":\"arheap\",\"error\":\"heap-use-after-free\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, ",\"size\":13,\"description\":null,\"allocation\":null,"
                                      "\"allocated_at\":null,\"freed_at\":null}");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"offset\":5,");
    ck_assert_msg(!ar_test__output_has(&child, "\"block\":null"), "block lost:\n%.3000s",
                  child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "{\"tool\":\"arheap\""), 1);
}
END_TEST

/* ------------------------------------------- faults that are not arheap's */

static char *own_page;  /* a PROT_NONE page the test mapped itself */
static char *gone_page; /* a page the test mapped and unmapped: nothing there */

/* Exit codes of the test's handlers: which fault they saw. */
enum {
    SAW_OWN_PAGE = 42,
    SAW_OTHER = 43,
    SAW_PLAIN = 44,
    SAW_UNMAPPED = 46,
    SAW_SENT = 47,
    SAW_NOT_SEGV = 49
};

static void siginfo_handler(int sig, siginfo_t *info, void *context)
{
    (void)context;
    if (sig != SIGSEGV)
        _exit(SAW_NOT_SEGV);
    if (info->si_code <= 0)
        _exit(SAW_SENT);
    if (info->si_addr == (void *)own_page)
        _exit(SAW_OWN_PAGE);
    if (gone_page != NULL && info->si_addr == (void *)gone_page)
        _exit(SAW_UNMAPPED);
    _exit(SAW_OTHER);
}

static void plain_handler(int sig)
{
    _exit(sig == SIGSEGV ? SAW_PLAIN : SAW_NOT_SEGV);
}

static volatile sig_atomic_t fixed;

/* A handler that repairs the fault and returns (as a GC barrier would). */
static void fixing_handler(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    if (info->si_addr != (void *)own_page)
        _exit(SAW_OTHER);
    if (mprotect(own_page, page_size(), PROT_READ | PROT_WRITE) != 0)
        _exit(SAW_OTHER);
    fixed = 1;
}

typedef enum handler_e { HANDLER_NONE, HANDLER_SIGINFO, HANDLER_PLAIN, HANDLER_FIXING } handler_t;
typedef enum fault_e { FAULT_OWN_PAGE, FAULT_UNMAPPED, FAULT_SENT } fault_t;

static struct {
    handler_t handler;
    fault_t fault;
    char label[96];
} foreign;

static void install(handler_t handler)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    switch (handler) {
    case HANDLER_NONE:
        return;
    case HANDLER_SIGINFO:
        sa.sa_sigaction = siginfo_handler;
        sa.sa_flags = SA_SIGINFO;
        break;
    case HANDLER_PLAIN:
        sa.sa_handler = plain_handler;
        break;
    case HANDLER_FIXING:
        sa.sa_sigaction = fixing_handler;
        sa.sa_flags = SA_SIGINFO;
        break;
    }
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        _exit(3);
}

/* Install the case's handler, then make a guarded block (arheap installs
 * its own handler then), then fault outside guard memory. */
static void body_foreign_fault(void)
{
    watchdog();
    own_page = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (own_page == MAP_FAILED)
        _exit(2);
    install(foreign.handler);
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *p = AR__HEAP__MALLOC(24, "guarded");
    memset(p, 'u', 24);
    ar_test__note("guarded", ends_on_a_page(p, 24));
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    ar_test__note("installed", (now.sa_flags & SA_SIGINFO) && now.sa_sigaction != siginfo_handler &&
                                   now.sa_sigaction != fixing_handler);
    switch (foreign.fault) {
    case FAULT_OWN_PAGE:
        ((volatile char *)ar_test__opaque(own_page))[0] = 7;
        ar_test__note("value", ((volatile char *)own_page)[0]);
        break;
    case FAULT_UNMAPPED:
        /* An address with no mapping, as a stray pointer would be; not
         * NULL, whose store UBSan reports as undefined before it faults.
         * Unmapped right before the store: nothing can be mapped there
         * in between (this child has one thread). */
        gone_page = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
        if (gone_page == MAP_FAILED || munmap(gone_page, page_size()) != 0)
            _exit(2);
        ((volatile char *)ar_test__opaque(gone_page))[0] = 7;
        break;
    case FAULT_SENT:
        raise(SIGSEGV);
        break;
    }
    ar_test__note("survived", 1);
    ar_test__note("fixed", fixed);
    AR__HEAP__FREE(p);
}

/* 5. (handler, fault) pairs and what the child must do. */
static const struct {
    handler_t handler;
    fault_t fault;
    int exit_code; /* -1: dies by SIGSEGV */
    const char *label;
} foreign_cases[] = {
    { HANDLER_SIGINFO, FAULT_OWN_PAGE, SAW_OWN_PAGE, "SA_SIGINFO handler, own PROT_NONE page" },
    { HANDLER_SIGINFO, FAULT_UNMAPPED, SAW_UNMAPPED, "SA_SIGINFO handler, unmapped page" },
    { HANDLER_SIGINFO, FAULT_SENT, SAW_SENT, "SA_SIGINFO handler, raise(SIGSEGV)" },
    { HANDLER_PLAIN, FAULT_OWN_PAGE, SAW_PLAIN, "plain handler, own PROT_NONE page" },
    { HANDLER_PLAIN, FAULT_UNMAPPED, SAW_PLAIN, "plain handler, unmapped page" },
    { HANDLER_PLAIN, FAULT_SENT, SAW_PLAIN, "plain handler, raise(SIGSEGV)" },
    { HANDLER_FIXING, FAULT_OWN_PAGE, 0, "handler that repairs the fault and returns" },
    { HANDLER_NONE, FAULT_OWN_PAGE, -1, "no handler, own PROT_NONE page" },
    { HANDLER_NONE, FAULT_UNMAPPED, -1, "no handler, unmapped page" },
    { HANDLER_NONE, FAULT_SENT, -1, "no handler, raise(SIGSEGV)" },
};
#define FOREIGN_CASES ((int)(sizeof foreign_cases / sizeof foreign_cases[0]))

START_TEST(a_fault_that_is_not_arheaps_goes_to_the_previous_handler_or_the_default)
{
    ar_test_child_t child;
    foreign.handler = foreign_cases[_i].handler;
    foreign.fault = foreign_cases[_i].fault;
    const char *label = foreign_cases[_i].label;
    ar_test__run_child(body_foreign_fault, &child);
    if (foreign_cases[_i].exit_code < 0)
        expect_segv(&child, label);
    else
        expect_exit(&child, label, foreign_cases[_i].exit_code);
    ck_assert_msg(ar_test__note_value(&child, "guarded") == 1,
                  "%s: the block is not guarded:\n%.3000s", label, child.output);
    ck_assert_msg(ar_test__note_value(&child, "installed") == 1,
                  "%s: arheap's handler is not installed:\n%.3000s", label, child.output);
    /* Not a word from arheap: no report, no warning. */
    expect_lacks(&child, label, "arheap");
    if (foreign_cases[_i].handler == HANDLER_FIXING) {
        ck_assert_msg(
            ar_test__note_value(&child, "value") == 7 && ar_test__note_value(&child, "fixed") == 1,
            "%s: the program did not go on after the repair:\n%.3000s", label, child.output);
    } else {
        expect_lacks(&child, label, "[note survived=");
    }
}
END_TEST

/* arheap's own faults are still reported when the program has a handler,
 * and the program's handler is not called for them. */
static void body_guard_fault_with_handler(void)
{
    watchdog();
    own_page = NULL;
    install(HANDLER_SIGINFO);
    (void)ar_heap__set_options("guard=1:guard_align=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    touch(p, 13, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_guard_fault_is_reported_even_when_the_program_has_a_handler)
{
    ar_test_child_t child;
    ar_test__run_child(body_guard_fault_with_handler, &child);
    expect_segv(&child, "program handler");
    expect_fault_report(&child, "program handler", "heap-buffer-overflow", 'W', 13,
                        ": 0 bytes after the end of the block", 13, "thirteen");
}
END_TEST

/* The previous handler runs as the kernel would have run it: with its
 * sa_mask blocked, and its signal blocked unless it asked for SA_NODEFER.
 * The handler exits with 50, plus 1 when SIGUSR1 is blocked, plus 2 when
 * SIGSEGV is. */
static void mask_telling_handler(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)info;
    (void)context;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    _exit(50 + sigismember(&now, SIGUSR1) + 2 * sigismember(&now, SIGSEGV));
}

static void mask_telling_plain_handler(int sig)
{
    mask_telling_handler(sig, NULL, NULL);
}

static const struct {
    int siginfo;    /* SA_SIGINFO, or a plain handler */
    int mask_usr1;  /* SIGUSR1 in its sa_mask */
    int nodefer;    /* SA_NODEFER */
    int exit_code;  /* what the handler sees */
    const char *label;
} mask_cases[] = {
    { 1, 1, 0, 53, "SA_SIGINFO handler, sa_mask {SIGUSR1}: SIGUSR1 and SIGSEGV blocked" },
    { 0, 1, 0, 53, "plain handler, sa_mask {SIGUSR1}: SIGUSR1 and SIGSEGV blocked" },
    { 1, 0, 1, 50, "SA_SIGINFO handler, SA_NODEFER: SIGSEGV not blocked" },
    { 0, 0, 0, 52, "plain handler, empty sa_mask: SIGSEGV blocked, SIGUSR1 not" },
};
#define MASK_CASES ((int)(sizeof mask_cases / sizeof mask_cases[0]))
static int mask_case;

static void body_previous_mask(void)
{
    watchdog();
    own_page = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (own_page == MAP_FAILED)
        _exit(2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (mask_cases[mask_case].mask_usr1)
        sigaddset(&sa.sa_mask, SIGUSR1);
    if (mask_cases[mask_case].siginfo) {
        sa.sa_sigaction = mask_telling_handler;
        sa.sa_flags = SA_SIGINFO;
    } else {
        sa.sa_handler = mask_telling_plain_handler;
    }
    if (mask_cases[mask_case].nodefer)
        sa.sa_flags |= SA_NODEFER;
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        _exit(2);
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *p = AR__HEAP__MALLOC(24, "installs the handler");
    ar_test__note("guarded", ends_on_a_page(p, 24));
    ((volatile char *)ar_test__opaque(own_page))[0] = 7;
    ar_test__note("survived", 1);
}

START_TEST(the_previous_handler_runs_with_its_sa_mask_and_sa_nodefer)
{
    if (skip_under_tsan(__func__, "TSan installs the process's signal handlers itself and calls "
                                  "the program's from its own, with SIGUSR1 blocked whatever "
                                  "the handler's sa_mask"))
        return;
    ar_test_child_t child;
    mask_case = _i;
    const char *label = mask_cases[_i].label;
    ar_test__run_child(body_previous_mask, &child);
    expect_exit(&child, label, mask_cases[_i].exit_code);
    ck_assert_msg(ar_test__note_value(&child, "guarded") == 1,
                  "%s: the block is not guarded:\n%.3000s", label, child.output);
    expect_lacks(&child, label, "arheap");
}
END_TEST

/* A previous handler installed with SA_RESETHAND is called for one fault;
 * the next one that is not arheap's takes the default action, as it would
 * have without arheap, while arheap still reports its own. */
static char *second_page; /* another PROT_NONE page of the test's */
static int resethand_then_guard;

static void body_resethand(void)
{
    watchdog();
    own_page = mmap(NULL, 2 * page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (own_page == MAP_FAILED)
        _exit(2);
    second_page = own_page + page_size();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_sigaction = fixing_handler; /* repairs own_page; any other fault: SAW_OTHER */
    sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        _exit(2);
    (void)ar_heap__set_options("guard=1:guard_align=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "thirteen");
    ((volatile char *)ar_test__opaque(own_page))[0] = 7;
    ar_test__note("fixed", fixed);
    if (resethand_then_guard)
        touch(p, 13, 'W');
    else
        ((volatile char *)ar_test__opaque(second_page))[0] = 7;
    ar_test__note("survived", 1);
}

START_TEST(a_previous_handler_with_sa_resethand_is_called_once)
{
    ar_test_child_t child;
    resethand_then_guard = _i;
    const char *label = _i ? "SA_RESETHAND, then a guard-page fault"
                           : "SA_RESETHAND, then another fault of the program's";
    ar_test__run_child(body_resethand, &child);
    expect_segv(&child, label);
    ck_assert_msg(ar_test__note_value(&child, "fixed") == 1,
                  "%s: the handler did not repair the first fault:\n%.3000s", label,
                  child.output);
    expect_lacks(&child, label, "[note survived=");
    if (_i)
        expect_fault_report(&child, label, "heap-buffer-overflow", 'W', 13,
                            ": 0 bytes after the end of the block", 13, "thirteen");
    else
        expect_lacks(&child, label, "arheap");
}
END_TEST

/* ---------------------------------------------- a fault in the handler */

/*
 * A fault inside arheap's handler can not loop, nor reach the program's
 * handler: the thread dies by it at once (src/fault.c, ar_heap_fault_busy).
 * To fault there for real, the allocation's file name is a string in a
 * page of a temporary file, and the file is then truncated: reading the
 * name raises SIGBUS. The report of an overrun reads it (the "allocated
 * at" line) after it wrote what the fault told. The program's own SIGBUS
 * handler, installed before arheap's, would say so and exit 3.
 */
#define HANDLER_MARKER "[the program's SIGBUS handler was called]\n"

static void marker_handler(int sig)
{
    (void)sig;
    (void)!write(STDERR_FILENO, HANDLER_MARKER, sizeof HANDLER_MARKER - 1);
    _exit(3);
}

static void body_fault_in_handler(void)
{
    watchdog();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = marker_handler;
    if (sigaction(SIGBUS, &sa, NULL) != 0)
        _exit(2);
    const size_t page = page_size();
    FILE *file = tmpfile();
    if (file == NULL || ftruncate(fileno(file), (off_t)page) != 0)
        _exit(2);
    char *name = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fileno(file), 0);
    if (name == MAP_FAILED)
        _exit(2);
    strcpy(name, "a_file_that_vanishes.c");
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *p = ar_heap__malloc(13, name, 42, "named from a file");
    ar_test__note("guarded", ends_on_a_page(p, 13));
    struct sigaction now;
    sigaction(SIGBUS, NULL, &now);
    ar_test__note("installed", (now.sa_flags & SA_SIGINFO) && now.sa_handler != marker_handler);
    if (ftruncate(fileno(file), 0) != 0)
        _exit(2);
    touch(p, 13, 'W');
    ar_test__note("survived", 1);
}

START_TEST(a_fault_inside_the_fault_handler_ends_the_process_at_once)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind does not give the program the SIGBUS of "
                                               "a truncated file's page: it ends the process "
                                               "itself, by SIGSEGV (\"Can't extend stack ... "
                                               "during signal delivery\"), so arheap's handler "
                                               "never sees the second fault"))
        return;
    ar_test_child_t child;
    const char *label = "SIGBUS while reporting";
    char buf[96];
    ar_test__run_child(body_fault_in_handler, &child);
    ck_assert_msg(child.signaled && child.signal == SIGBUS,
                  "%s: child did not die by SIGBUS (exited=%d code=%d signaled=%d signal=%d); "
                  "output:\n%.3000s",
                  label, child.exited, child.exit_code, child.signaled, child.signal,
                  child.output);
    ck_assert_msg(ar_test__note_value(&child, "guarded") == 1 &&
                      ar_test__note_value(&child, "installed") == 1,
                  "%s: the block is not guarded, or arheap's handler not installed:\n%.3000s",
                  label, child.output);
    expect_lacks(&child, label, HANDLER_MARKER);
    expect_lacks(&child, label, "[note survived=");
    /* The report's start, once: what the fault told, not the name. */
    ar_test__expect_has(&child, label, "arheap: ERROR: heap-buffer-overflow on block 0x");
    ck_assert_msg(ar_test__output_count(&child, "arheap: ERROR:") == 1,
                  "%s: expected one report's start:\n%.3000s", label, child.output);
    snprintf(buf, sizeof buf, "  %s at 0x", ACCESS_NAME('W'));
    ck_assert_msg(ar_test__output_line_has(&child, buf,
                                           " faulted, offset 13: 0 bytes after the end of the "
                                           "block"),
                  "%s: no access line:\n%.3000s", label, child.output);
    expect_lacks(&child, label, "a_file_that_vanishes.c");
}
END_TEST

/* --------------------------------------------------- the mapping budget */

enum { MANY = 120000, MANY_SIZE = 24, RESUMED = 100 };
static char *many[MANY];

/* The number after "name" in the output; -1 when absent. */
static long output_number(const ar_test_child_t *child, const char *name)
{
    const char *at = strstr(child->output, name);
    return at != NULL ? atol(at + strlen(name)) : -1;
}

/* The most live guarded blocks, as src/guard.c computes it, give or take
 * the mappings the process had (a few dozen). */
static long approximate_budget(void)
{
    char buf[64];
    long max =
        ar_proc__read_file("/proc/sys/vm/max_map_count", buf, sizeof buf) > 0 ? atol(buf) : 65530;
    if (max <= 0)
        max = 65530;
    long reserve = max / 8 > 1024 ? max / 8 : 1024;
    return max > reserve ? (max - reserve) / 2 : 0;
}

/* The options of the many-blocks test: the budget alone, and with a
 * guard_max_live far above it, which must not raise it. */
static const char *const many_options[] = { "guard=1:guard_align=1",
                                            "guard=1:guard_align=1:guard_max_live=100000000" };
#define MANY_CASES ((int)(sizeof many_options / sizeof many_options[0]))
static int many_case;

static void body_many(void)
{
    set_options("%s", many_options[many_case]);
    for (size_t i = 0; i < MANY; i++) {
        many[i] = AR__HEAP__MALLOC(MANY_SIZE, "one of many");
        if (many[i] == NULL) {
            printf("allocation %zu failed\n", i);
            return;
        }
        memset(many[i], (int)(i & 0x7f), MANY_SIZE);
    }
    /* Guarded blocks must be the first ones: guarding stops at the budget. */
    size_t guarded = 0, prefix = 0;
    for (size_t i = 0; i < MANY; i++) {
        if (ends_on_a_page(many[i], MANY_SIZE)) {
            guarded++;
            if (prefix == i)
                prefix = i + 1;
        }
    }
    printf("guarded=%zu\nprefix=%zu\n", guarded, prefix);
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("live=%zu\n", s.live_blocks);
    fflush(stdout);

    /* The first block really is guarded: an overrun faults, in a child. */
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        (void)ar_heap__set_options("on_error=exit:error_exitcode=77");
        touch(many[0], MANY_SIZE, 'W');
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    printf("grandchild=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));

    /* Freeing guarded blocks makes room: new blocks are guarded again. */
    for (size_t i = 0; i < RESUMED; i++)
        AR__HEAP__FREE(many[i]);
    size_t resumed = 0;
    for (size_t i = 0; i < RESUMED; i++) {
        many[i] = AR__HEAP__MALLOC(MANY_SIZE, "after room was made");
        resumed += many[i] != NULL && ends_on_a_page(many[i], MANY_SIZE);
    }
    printf("resumed=%zu\n", resumed);

    for (size_t i = 0; i < MANY; i++)
        AR__HEAP__FREE(many[i]);
    ar_heap__get_stats(&s);
    printf("after_free_live=%zu bytes=%zu\n", s.live_blocks, s.live_bytes);
    printf("damaged=%zu\n", ar_heap__check_all());
}

/* 6. More live guarded blocks than the kernel's mapping limit allows. */
START_TEST(more_than_100000_live_guarded_blocks_degrade_to_canaries_with_one_warning)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind's address-space manager has a fixed table "
                                               "of segments and exits (\"VG_N_SEGMENTS is too "
                                               "low\") long before 100000 guarded blocks"))
        return;
    ar_test_child_t child;
    many_case = _i;
    ar_test__run_child(body_many, &child);
    expect_exit(&child, many_options[_i], 0);
    ck_assert_msg(ar_test__output_count(&child, "arheap: ERROR") == 0, "a report:\n%.3000s",
                  child.output);
    long budget = approximate_budget();
    int warnings = ar_test__output_count(&child, "arheap: warning:");
    if (budget < MANY - 2000) {
        /* The budget is used up: one warning, saying why. */
        ck_assert_msg(warnings == 1 && ar_test__output_count(&child, "mapping budget") == 1,
                      "expected one warning, about the mapping budget; got %d:\n%.3000s", warnings,
                      child.output);
    } else if (budget > MANY + 2000) {
        /* A large vm.max_map_count: every block fits, nothing to say. */
        ck_assert_msg(warnings == 0, "unexpected warning:\n%.3000s", child.output);
    }
    long guarded = output_number(&child, "guarded=");
    long prefix = output_number(&child, "prefix=");
    ck_assert_msg(output_number(&child, "live=") == MANY, "live blocks:\n%.3000s", child.output);
    ck_assert_msg(guarded > 1000 && guarded == prefix,
                  "%ld blocks guarded, the first %ld of them in a row:\n%.3000s", guarded, prefix,
                  child.output);
    if (budget < MANY - 2000)
        ck_assert_msg(guarded < MANY && guarded <= budget && guarded > budget - 4000,
                      "%ld blocks guarded, budget about %ld", guarded, budget);
    else if (budget > MANY + 2000)
        ck_assert_int_eq(guarded, MANY);
    ck_assert_msg(output_number(&child, "grandchild=") == 77,
                  "an overrun of the first block did not fault:\n%.3000s", child.output);
    ck_assert_msg(output_number(&child, "resumed=") == RESUMED,
                  "guarding did not resume after guarded blocks were freed:\n%.3000s",
                  child.output);
    ck_assert_msg(ar_test__output_has(&child, "after_free_live=0 bytes=0\n") &&
                      ar_test__output_has(&child, "damaged=0\n"),
                  "blocks left or damaged:\n%.3000s", child.output);
}
END_TEST

/* guard_max_live caps the live guarded blocks, whatever the host's
 * vm.max_map_count: blocks 1 to CAP are guarded, the next ones get
 * canaries (an overrun of one is still caught, at its free), one warning
 * says so however many follow, and freeing guarded blocks makes room. */
enum { CAP = 100, CAP_EXTRA = 50, CAP_FREED = 10 };

static void body_max_live(void)
{
    watchdog();
    set_options("guard=1:guard_align=1:guard_max_live=%d", CAP);
    static char *blocks[CAP + CAP_EXTRA];
    int guarded = 0, prefix = 0;
    for (int i = 0; i < CAP + CAP_EXTRA; i++) {
        if (i == CAP) {
            ar_test__note("alloc", __LINE__ + 1);
            blocks[i] = AR__HEAP__MALLOC(MANY_SIZE, "over the cap");
        } else {
            blocks[i] = AR__HEAP__MALLOC(MANY_SIZE, "capped");
        }
        memset(blocks[i], 'c', MANY_SIZE);
        int g = ends_on_a_page(blocks[i], MANY_SIZE);
        guarded += g;
        if (g && prefix == i)
            prefix = i + 1;
    }
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    ar_test__note("guarded", guarded);
    ar_test__note("prefix", prefix);
    ar_test__note("stat", (int)s.guarded_blocks);
    /* Freed guarded blocks make room for as many new ones, no more. */
    int resumed = 0;
    for (int i = 0; i < CAP_FREED; i++) {
        AR__HEAP__FREE(blocks[i]);
        blocks[i] = AR__HEAP__MALLOC(MANY_SIZE, "after room was made");
        resumed += ends_on_a_page(blocks[i], MANY_SIZE);
    }
    char *more = AR__HEAP__MALLOC(MANY_SIZE, "over the cap again");
    ar_heap__get_stats(&s);
    ar_test__note("resumed", resumed);
    ar_test__note("more_guarded", ends_on_a_page(more, MANY_SIZE));
    ar_test__note("stat_after", (int)s.guarded_blocks);
    /* Block CAP + 1 is canaried: an overrun does not fault; its free
     * reports it. */
    touch(blocks[CAP], MANY_SIZE, 'W');
    ar_test__note("no_fault", 1);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(blocks[CAP]);
    ar_test__note("survived", 1);
}

START_TEST(guard_max_live_caps_the_live_guarded_blocks_with_one_warning)
{
    ar_test_child_t child;
    ar_test__run_child(body_max_live, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    ck_assert_msg(ar_test__note_value(&child, "guarded") == CAP &&
                      ar_test__note_value(&child, "prefix") == CAP &&
                      ar_test__note_value(&child, "stat") == CAP,
                  "not exactly blocks 1 to %d guarded:\n%.3000s", CAP, child.output);
    ck_assert_msg(ar_test__note_value(&child, "resumed") == CAP_FREED &&
                      ar_test__note_value(&child, "more_guarded") == 0 &&
                      ar_test__note_value(&child, "stat_after") == CAP,
                  "freeing %d guarded blocks did not make room for exactly %d:\n%.3000s",
                  CAP_FREED, CAP_FREED, child.output);
    ck_assert_msg(ar_test__output_count(&child, "arheap: warning:") == 1 &&
                      ar_test__output_has(&child, "arheap: warning: guard pages: guard_max_live "
                                                  "guarded blocks are live; new blocks get "
                                                  "canaries only until guarded blocks are "
                                                  "freed\n"),
                  "expected one warning, about guard_max_live:\n%.3000s", child.output);
    ck_assert_int_eq(ar_test__note_value(&child, "no_fault"), 1);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 1);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  1 byte damaged after the end of the block; the first at "
                                      "offset 24 (its bytes are at offsets 0 to 23)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 24 bytes \"over the cap\" at 0x");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "  found by free at ", "free");
    ck_assert(!ar_test__output_has(&child, "faulted"));
    ck_assert(!ar_test__output_has(&child, "[note survived="));
}
END_TEST

/*
 * The kernel refuses a mapping that the budget allowed: the test itself
 * takes every mapping left (vm.max_map_count less the process's), making
 * every other page of a PROT_NONE range of its own readable, each such
 * page two more mappings, until mprotect fails with ENOMEM. A guarded
 * allocation then gets canaries with the kernel-refused warning, whether
 * the slot's arena exists (its mprotect is refused) or not (the new arena
 * is), the program goes on, and once the test unmaps its range guarding
 * resumes. Past EXHAUST_MOST mappings to take the test skips: a kernel
 * mapping costs some 200 bytes of kernel memory, and millions would take
 * long.
 *
 * At the limit nothing can be mapped, not even by libc's malloc or by
 * arheap's own tables: the work done then is first done once before,
 * unguarded, with quarantine and freed history off, so that libc's heap
 * and arheap's record pools already hold what it takes.
 */
enum { EXHAUST_MOST = 2000000, EXHAUST_CHURN = 200 };

static const struct {
    size_t size; /* of the block the kernel refuses a mapping for */
    const char *label;
} refused_cases[] = {
    { MANY_SIZE, "the slot's arena exists: mprotect is refused" },
    { 10008, "the slot needs a new arena: its mmap is refused" },
};
#define REFUSED_CASES ((int)(sizeof refused_cases / sizeof refused_cases[0]))
static int refused_case;

/* Blocks of 24 to 6168 bytes (one or two pages) allocated, written and
 * freed one at a time: 1 when all were canaried (not guarded). Every size
 * here is 8 more than a multiple of 16: such a block from libc never ends
 * on a page (see the top of this file). */
static int churn_unguarded(void)
{
    int ok = 1;
    for (int i = 0; i < EXHAUST_CHURN; i++) {
        size_t n = (size_t)(i % 7) * 1024 + 24;
        char *q = AR__HEAP__MALLOC(n, "churned");
        ok &= q != NULL && !ends_on_a_page(q, n);
        if (q != NULL)
            memset(q, 'q', n);
        AR__HEAP__FREE(q);
    }
    return ok;
}

static void body_kernel_refuses(void)
{
    alarm(60);
    const size_t size = refused_cases[refused_case].size;
    set_options("guard=1:guard_align=1:quarantine_bytes=0:freed_history=0");
    char *first = AR__HEAP__MALLOC(MANY_SIZE, "first");
    ar_test__note("first_guarded", ends_on_a_page(first, MANY_SIZE));
    /* The work below, once while mappings can be had. */
    set_options("guard=0");
    char *warm = AR__HEAP__MALLOC(size, "warm-up");
    (void)churn_unguarded();
    ar_heap__check_all();
    AR__HEAP__FREE(warm);
    set_options("guard=1");

    char buf[64];
    long max = ar_proc__read_file("/proc/sys/vm/max_map_count", buf, sizeof buf) > 0 ? atol(buf)
                                                                                      : -1;
    long now = ar_proc__count_mappings();
    if (max <= 0 || now <= 0) {
        ar_test__note("unreadable", 1);
        return;
    }
    if (max - now > EXHAUST_MOST) {
        ar_test__note("skip_need", (int)(max - now));
        return;
    }
    const size_t page = page_size();
    size_t pages = 2 * (size_t)(max - now) + 16; /* room for all that is left, and more */
    char *range = mmap(NULL, pages * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
    if (range == MAP_FAILED) {
        ar_test__note("no_range", 1);
        return;
    }
    int error = 0;
    for (size_t i = 1; i + 1 < pages; i += 2) {
        if (mprotect(range + i * page, page, PROT_READ) != 0) {
            error = errno;
            break;
        }
    }
    ar_test__note("enomem", error == ENOMEM);

    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(size, "refused");
    ar_test__note("refused_null", p == NULL);
    if (p == NULL)
        return;
    ar_test__note("refused_guarded", ends_on_a_page(p, size));
    /* The program goes on: the block is usable, more blocks come and go,
     * canaried, nothing is damaged. */
    memset(p, 'r', size);
    ar_test__note("churn_ok", churn_unguarded());
    ar_test__note("damaged", (int)ar_heap__check_all());
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    ar_test__note("stat_refused", (int)s.guarded_blocks);

    if (munmap(range, pages * page) != 0)
        _exit(2);
    char *resumed = AR__HEAP__MALLOC(size, "after the range was unmapped");
    ar_test__note("resumed_guarded", ends_on_a_page(resumed, size));
    ar_heap__get_stats(&s);
    ar_test__note("stat_resumed", (int)s.guarded_blocks);
    AR__HEAP__FREE(resumed);
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(first);
    ar_test__note("done", 1);
}

START_TEST(when_the_kernel_refuses_a_mapping_blocks_get_canaries_until_it_accepts)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind's address-space manager has a fixed table "
                                               "of segments and exits long before the kernel's "
                                               "mapping limit is reached"))
        return;
    if (skip_under_sanitizers(__func__, "the sanitizer's runtime maps memory of its own for "
                                        "the program's allocations, and ends the process "
                                        "(\"Failed to mmap\") when the kernel refuses"))
        return;
    ar_test_child_t *child = malloc(sizeof *child);
    const char *label = refused_cases[_i].label;
    refused_case = _i;
    ar_test__run_child(body_kernel_refuses, child);
    int need = ar_test__note_value(child, "skip_need");
    if (need > 0) {
        fprintf(stderr,
                "SKIP: %s: vm.max_map_count leaves %d mappings to take, more than %d: the "
                "kernel-refused path is not tested on this host\n",
                __func__, need, EXHAUST_MOST);
        free(child);
        return;
    }
    expect_exit(child, label, 0);
    ck_assert_msg(ar_test__note_value(child, "first_guarded") == 1,
                  "%s: the first block is not guarded:\n%.3000s", label, child->output);
    ck_assert_msg(ar_test__note_value(child, "enomem") == 1,
                  "%s: the test could not use up the mappings (mprotect did not fail with "
                  "ENOMEM):\n%.3000s",
                  label, child->output);
    ck_assert_msg(ar_test__note_value(child, "refused_null") == 0 &&
                      ar_test__note_value(child, "refused_guarded") == 0,
                  "%s: the allocation the kernel refused a mapping for is not a canaried "
                  "block:\n%.3000s",
                  label, child->output);
    ck_assert_msg(ar_test__output_count(child, "arheap: warning:") == 1 &&
                      ar_test__output_has(child, "arheap: warning: guard pages: the kernel refused "
                                                 "another mapping (vm.max_map_count); new blocks "
                                                 "get canaries only until guarded blocks are "
                                                 "freed\n"),
                  "%s: expected one warning, the kernel-refused one:\n%.3000s", label,
                  child->output);
    ck_assert_msg(ar_test__note_value(child, "churn_ok") == 1 &&
                      ar_test__note_value(child, "damaged") == 0 &&
                      ar_test__note_value(child, "stat_refused") == 1,
                  "%s: the program did not go on with canaried blocks:\n%.3000s", label,
                  child->output);
    ck_assert_msg(ar_test__note_value(child, "resumed_guarded") == 1 &&
                      ar_test__note_value(child, "stat_resumed") == 2,
                  "%s: guarding did not resume once mappings were available:\n%.3000s", label,
                  child->output);
    ck_assert_int_eq(ar_test__note_value(child, "done"), 1);
    ck_assert_int_eq(ar_test__output_count(child, "arheap: ERROR"), 0);
    free(child);
}
END_TEST

/* ------------------------------------------------------ mapping count */

/*
 * What guarded blocks cost in kernel mappings (/proc/self/maps lines):
 * two per live block, none per freed one, in quarantine or back on its
 * slot's free list. Freed pages merge back into their arena's PROT_NONE
 * mapping (src/guard.c, close); had they been closed with mprotect they
 * would keep two mappings each for good, and the counts below would show
 * it: 2 * COUNTED more after the frees.
 *
 * The blocks cycle through three sizes: one page, two pages, and 70000
 * bytes, whose 18 pages go to slots of 20 (spare PROT_NONE pages that a
 * free must leave alone). One block of each size is allocated and freed
 * first, so that every arena exists before the count starts.
 */
enum { COUNTED = 1500 };
static const size_t counted_sizes[] = { 24, 5000, 70000 };
#define COUNTED_SIZES (sizeof counted_sizes / sizeof counted_sizes[0])

static const struct {
    const char *options;
    const char *label;
} counted_cases[] = {
    { "quarantine_bytes=1073741824", "freed blocks held in quarantine" },
    { "quarantine_bytes=0", "quarantine_bytes=0" },
    { "quarantine_bytes=1073741824:guard_below=1", "held in quarantine, guard_below=1" },
    { "quarantine_bytes=0:guard_below=1", "quarantine_bytes=0, guard_below=1" },
};
#define COUNTED_CASES ((int)(sizeof counted_cases / sizeof counted_cases[0]))
static int counted_case;

static void body_mapping_count(void)
{
    static char *blocks[COUNTED];
    set_options("guard=1:guard_align=1:%s", counted_cases[counted_case].options);
    for (size_t i = 0; i < COUNTED_SIZES; i++)
        AR__HEAP__FREE(AR__HEAP__MALLOC(counted_sizes[i], "creates the arena"));
    long before = ar_proc__count_mappings();
    for (size_t i = 0; i < COUNTED; i++) {
        size_t n = counted_sizes[i % COUNTED_SIZES];
        blocks[i] = AR__HEAP__MALLOC(n, "counted");
        memset(blocks[i], 'c', n);
    }
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("guarded=%zu\n", s.guarded_blocks);
    long all = ar_proc__count_mappings();
    for (size_t i = 0; i < COUNTED; i += 2)
        AR__HEAP__FREE(blocks[i]);
    ar_heap__get_stats(&s);
    printf("guarded_after_half=%zu\n", s.guarded_blocks);
    long half = ar_proc__count_mappings();
    for (size_t i = 1; i < COUNTED; i += 2)
        AR__HEAP__FREE(blocks[i]);
    long none = ar_proc__count_mappings();
    ar_heap__get_stats(&s);
    printf("guarded_after_all=%zu held=%zu\n", s.guarded_blocks, s.quarantine_blocks);
    printf("mappings before=%ld all=%ld half=%ld none=%ld\n", before, all, half, none);
    printf("added all=%ld half=%ld none=%ld\n", all - before, half - before, none - before);
}

/* How far the counts may stray from two per live block: the checker's
 * own tables, and slots already split by the first blocks, take a few.
 * Under Valgrind (make check-valgrind sets AR_HEAP_TEST_VALGRIND=1) the
 * tool's own mappings are in /proc/self/maps too and grow as the test
 * runs, by about a hundred: then a tenth of COUNTED, still far from the
 * 2 * COUNTED that blocks closed with mprotect would leave. */
static long mapping_slack(void)
{
    const char *on = getenv("AR_HEAP_TEST_VALGRIND");
    return on != NULL && strcmp(on, "1") == 0 ? COUNTED / 10 : 8;
}

/* The live blocks' mappings, as the child printed them: "added" counts
 * (mappings more than before the blocks) after all were allocated, after
 * every other one was freed, and after all were freed. */
static void run_mapping_count(int i, ar_test_child_t *child, long added[3])
{
    counted_case = i;
    const char *label = counted_cases[i].label;
    ar_test__run_child(body_mapping_count, child);
    expect_exit(child, label, 0);
    ck_assert_msg(!ar_test__output_has(child, "arheap"), "%s: arheap said something:\n%.3000s",
                  label, child->output);
    char buf[64];
    snprintf(buf, sizeof buf, "guarded=%d\n", COUNTED);
    ar_test__expect_has(child, label, buf);
    snprintf(buf, sizeof buf, "guarded_after_half=%d\n", COUNTED / 2);
    ar_test__expect_has(child, label, buf);
    int held = strstr(counted_cases[i].options, "quarantine_bytes=0") == NULL;
    /* Held: the three arena-making blocks as well. */
    snprintf(buf, sizeof buf, "guarded_after_all=0 held=%d\n",
             held ? COUNTED + (int)COUNTED_SIZES : 0);
    ar_test__expect_has(child, label, buf);
    const char *at = strstr(child->output, "added all=");
    ck_assert_msg(at != NULL && sscanf(at, "added all=%ld half=%ld none=%ld", &added[0],
                                       &added[1], &added[2]) == 3,
                  "%s: no counts:\n%.3000s", label, child->output);
    /* Allocated: two mappings per block, give or take a few. */
    long slack = mapping_slack();
    ck_assert_msg(added[0] >= 2 * COUNTED - slack && added[0] <= 2 * COUNTED + slack,
                  "%s: %ld mappings more for %d live guarded blocks, expected about %d:\n%.3000s",
                  label, added[0], COUNTED, 2 * COUNTED, child->output);
}

/* (a) Freeing every guarded block gives every mapping back. */
START_TEST(freed_guarded_blocks_cost_no_mapping)
{
    ar_test_child_t child;
    long added[3];
    run_mapping_count(_i, &child, added);
    long slack = mapping_slack();
    ck_assert_msg(added[2] >= -slack && added[2] <= slack,
                  "%s: %d guarded blocks allocated then freed left %ld mappings more than "
                  "before them (expected none, give or take a few):\n%.3000s",
                  counted_cases[_i].label, COUNTED, added[2], child.output);
}
END_TEST

/* (b) With every other block freed, mappings are two per LIVE block. */
START_TEST(mappings_are_two_per_live_guarded_block_not_per_block_ever_allocated)
{
    ar_test_child_t child;
    long added[3];
    run_mapping_count(_i, &child, added);
    long live = COUNTED / 2;
    long slack = mapping_slack();
    ck_assert_msg(added[1] >= 2 * live - slack && added[1] <= 2 * live + slack,
                  "%s: with %ld of %d guarded blocks live, %ld mappings more than before them "
                  "(expected about %ld, two per live block):\n%.3000s",
                  counted_cases[_i].label, live, COUNTED, added[1], 2 * live, child.output);
}
END_TEST

/* -------------------------------------------------------- slot reuse */

/* The process's address space now, in KiB (VmSize); -1 if unknown. */
static long address_space_kib(void)
{
    char status[8192];
    if (ar_proc__read_file("/proc/self/status", status, sizeof status) <= 0)
        return -1;
    const char *at = strstr(status, "VmSize:");
    return at != NULL ? atol(at + strlen("VmSize:")) : -1;
}

enum { REUSE_CYCLES = 100000 };

/* A freed slot is the next one taken (last freed first): with
 * quarantine_bytes=0 a block freed and a block of the same page count
 * allocated next share the address (of two freed, the last one's), and
 * churning guarded blocks takes neither mappings nor address space (an
 * arena reserves 64 MiB; without reuse, the 100000 slots below would
 * fill 15 more arenas). */
static void body_slot_reuse(void)
{
    set_options("guard=1:guard_align=1:quarantine_bytes=0");
    char *p = AR__HEAP__MALLOC(100, "freed first");
    AR__HEAP__FREE(p);
    char *q = AR__HEAP__MALLOC(100, "takes its slot");
    printf("same_address=%d\n", q == p);
    /* Two freed: the last freed is taken first. */
    char *r = AR__HEAP__MALLOC(100, "freed second");
    AR__HEAP__FREE(q);
    AR__HEAP__FREE(r);
    char *t = AR__HEAP__MALLOC(100, "takes the last freed slot");
    printf("last_freed_first=%d\n", t == r && r != q);
    AR__HEAP__FREE(t);
    /* Two sizes, two arenas, each made before the counts start. */
    AR__HEAP__FREE(AR__HEAP__MALLOC(5000, "makes the arena"));
    long maps_before = ar_proc__count_mappings();
    long kib_before = address_space_kib();
    int guarded = 0;
    for (int i = 0; i < REUSE_CYCLES; i++) {
        size_t n = i % 2 == 0 ? 100 : 5000;
        char *b = AR__HEAP__MALLOC(n, "churned");
        guarded += ends_on_a_page(b, n);
        b[0] = b[n - 1] = 'x';
        AR__HEAP__FREE(b);
    }
    printf("guarded=%d\n", guarded);
    printf("mappings_added=%ld\n", ar_proc__count_mappings() - maps_before);
    printf("kib_added=%ld\n", address_space_kib() - kib_before);
}

START_TEST(a_freed_guarded_slot_is_reused_and_churn_costs_no_mappings)
{
    ar_test_child_t child;
    ar_test__run_child(body_slot_reuse, &child);
    expect_exit(&child, "slot reuse", 0);
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "arheap said something:\n%.3000s",
                  child.output);
    ck_assert_msg(ar_test__output_has(&child, "same_address=1\n"),
                  "the block allocated after a free did not take the freed slot:\n%.3000s",
                  child.output);
    ck_assert_msg(ar_test__output_has(&child, "last_freed_first=1\n"),
                  "of two freed slots, the last freed was not taken first:\n%.3000s",
                  child.output);
    char buf[32];
    snprintf(buf, sizeof buf, "guarded=%d\n", REUSE_CYCLES);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, buf);
    long maps = output_number(&child, "mappings_added=");
    long kib = output_number(&child, "kib_added=");
    ck_assert_msg(maps >= -4 && maps <= 4,
                  "%d guarded allocations and frees added %ld mappings:\n%.3000s", REUSE_CYCLES,
                  maps, child.output);
    /* Less than one arena (64 MiB) of address space. */
    ck_assert_msg(kib < 64 * 1024,
                  "%d guarded allocations and frees took %ld KiB more address space:\n%.3000s",
                  REUSE_CYCLES, kib, child.output);
}
END_TEST

/* ------------------------------------------------------------ sampling */

enum { SAMPLED = 400 };

static void body_sample(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1:guard_sample=4");
    static char *blocks[SAMPLED];
    size_t guarded = 0, in_pattern = 0;
    for (size_t i = 0; i < SAMPLED; i++)
        blocks[i] = AR__HEAP__MALLOC(MANY_SIZE, "sampled");
    for (size_t i = 0; i < SAMPLED; i++) {
        int g = ends_on_a_page(blocks[i], MANY_SIZE);
        guarded += (size_t)g;
        in_pattern += (size_t)(g == (i % 4 == 0));
    }
    for (size_t i = 0; i < SAMPLED; i++)
        AR__HEAP__FREE(blocks[i]);
    printf("guarded=%zu in_pattern=%zu\n", guarded, in_pattern);
}

/* 7. guard_sample is a counter: exactly blocks 0, 4, 8, ... */
START_TEST(guard_sample_4_guards_exactly_one_block_in_four)
{
    ar_test_child_t child;
    ar_test__run_child(body_sample, &child);
    expect_exit(&child, "guard_sample=4", 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "guarded=100 in_pattern=400\n");
    ck_assert(!ar_test__output_has(&child, "arheap"));
}
END_TEST

/* None a multiple of 16: from libc (base + 16 + n, base 16-aligned) such a
 * block never ends on a page, so "ends on a page" means "guarded". */
static const size_t range_sizes[] = { 1, 99, 100, 150, 200, 201, 4100, MIB + 8 };

static void body_size_range(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1:guard_min_size=100:guard_max_size=200");
    for (size_t i = 0; i < sizeof range_sizes / sizeof range_sizes[0]; i++) {
        char *p = AR__HEAP__MALLOC(range_sizes[i], "sized");
        printf("size %zu guarded=%d\n", range_sizes[i], ends_on_a_page(p, range_sizes[i]));
        AR__HEAP__FREE(p);
    }
}

START_TEST(guard_min_size_and_guard_max_size_select_blocks_by_size)
{
    ar_test_child_t child;
    char buf[64];
    ar_test__run_child(body_size_range, &child);
    expect_exit(&child, "size range", 0);
    for (size_t i = 0; i < sizeof range_sizes / sizeof range_sizes[0]; i++) {
        size_t n = range_sizes[i];
        snprintf(buf, sizeof buf, "size %zu guarded=%d\n", n, n >= 100 && n <= 200);
        AR_TEST_ASSERT_OUTPUT_HAS(&child, buf);
    }
    ck_assert(!ar_test__output_has(&child, "arheap"));
}
END_TEST

/* Sampling counts only the blocks the size range lets through. */
static void body_sample_in_range(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1:guard_min_size=100:guard_sample=2");
    static char *blocks[SAMPLED];
    size_t small_guarded = 0, large_guarded = 0, large_pattern = 0;
    for (size_t i = 0; i < SAMPLED; i++) {
        size_t n = i % 2 == 0 ? 40 : 120; /* 40 and 120: never a page end from libc */
        blocks[i] = AR__HEAP__MALLOC(n, "alternating");
        int g = ends_on_a_page(blocks[i], n);
        if (n == 40) {
            small_guarded += (size_t)g;
        } else {
            large_guarded += (size_t)g;
            large_pattern += (size_t)(g == ((i / 2) % 2 == 0));
        }
    }
    for (size_t i = 0; i < SAMPLED; i++)
        AR__HEAP__FREE(blocks[i]);
    printf("small=%zu large=%zu pattern=%zu\n", small_guarded, large_guarded, large_pattern);
}

START_TEST(guard_sample_counts_only_blocks_of_the_selected_sizes)
{
    ar_test_child_t child;
    ar_test__run_child(body_sample_in_range, &child);
    expect_exit(&child, "sample in range", 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "small=0 large=100 pattern=200\n");
}
END_TEST

static void body_guard_off(void)
{
    size_t guarded = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1) /* the other guard options do nothing while guard is 0 */
            (void)ar_heap__set_options("guard_align=1:guard_sample=1:guard_min_size=0");
        for (size_t i = 0; i < SAMPLED; i++) {
            char *p = AR__HEAP__MALLOC(MANY_SIZE, "unguarded");
            guarded += (size_t)ends_on_a_page(p, MANY_SIZE);
            (void)((volatile char *)ar_test__opaque(p))[MANY_SIZE]; /* tail canary: no fault */
            AR__HEAP__FREE(p);
        }
    }
    printf("guarded=%zu\n", guarded);
}

START_TEST(without_guard_1_no_block_is_guarded)
{
    ar_test_child_t child;
    ar_test__run_child(body_guard_off, &child);
    expect_exit(&child, "guard=0", 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "guarded=0\n");
    ck_assert(!ar_test__output_has(&child, "arheap"));
}
END_TEST

/* ------------------------------------------------------ clean workloads */

static const char *const clean_options[] = {
    "guard=1",
    "guard=1:guard_align=1",
    "guard=1:guard_below=1",
    "guard=1:guard_align=1:quarantine_bytes=0",
    "guard=1:guard_sample=3:check_every=7",
    "guard=1:guard_align=1:stack_depth=4:quarantine_bytes=65536",
};
#define CLEAN_CASES ((int)(sizeof clean_options / sizeof clean_options[0]))
static const char *clean_case;

static int all_bytes_are(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return 0;
    return 1;
}

static void body_clean(void)
{
    set_options("%s", clean_case);
    int ok = 1;
    /* Heavy realloc: grow to 64 KiB and shrink back, three rounds, the
     * contents kept at every step. */
    char *p = NULL;
    size_t have = 0;
    for (int round = 0; round < 3; round++) {
        char c = (char)('a' + round);
        size_t n;
        for (n = 1; n <= 65536; n = n * 3 / 2 + 1) {
            p = AR__HEAP__REALLOC(p, n, "grown");
            ok &= p != NULL && (have == 0 || all_bytes_are(p, have < n ? have : n, c));
            memset(p, c, n);
            have = n;
        }
        for (n = have; n > 0; n = n * 2 / 3) {
            p = AR__HEAP__REALLOC(p, n, "shrunk");
            ok &= p != NULL && all_bytes_are(p, n, c);
            have = n;
        }
        memset(p, (char)('a' + round + 1), have);
        AR__HEAP__FREE(p);
        p = NULL;
        have = 0;
    }
    /* strdup churn, frees in another order than the allocations. */
    static char *strings[512];
    char text[300];
    for (int i = 0; i < 4000; i++) {
        int slot = (i * 7919) % 512;
        size_t len = (size_t)(i * 37) % 290;
        memset(text, 'A' + i % 26, len);
        text[len] = '\0';
        AR__HEAP__FREE(strings[slot]);
        strings[slot] = AR__HEAP__STRDUP(text, "churned string");
        ok &= strings[slot] != NULL && strcmp(strings[slot], text) == 0;
    }
    /* Blocks of every size class, written in full, freed. */
    static const size_t sizes[] = { 0, 1, 15, 16, 17, 4095, 4096, 4097, 70000, 300000 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *q = AR__HEAP__CALLOC(1, sizes[i], "sized");
        ok &= q != NULL && all_bytes_are(q, sizes[i], 0);
        memset(q, 'z', sizes[i]);
        AR__HEAP__FREE(q);
    }
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("live=%zu\n", s.live_blocks);
    printf("damaged=%zu\n", ar_heap__check_all());
    for (int i = 0; i < 512; i++)
        AR__HEAP__FREE(strings[i]);
    ar_heap__get_stats(&s);
    printf("after=%zu\n", s.live_blocks);
    printf("ok=%d\n", ok);
}

/* 8. A correct program under guard=1: no report, no warning, exit 0. */
START_TEST(a_clean_workload_under_guard_reports_nothing)
{
    ar_test_child_t child;
    clean_case = clean_options[_i];
    ar_test__run_child(body_clean, &child);
    expect_exit(&child, clean_case, 0);
    ck_assert_msg(
        ar_test__output_has(&child, "ok=1\n") && ar_test__output_has(&child, "damaged=0\n") &&
            ar_test__output_has(&child, "live=512\n") && ar_test__output_has(&child, "after=0\n"),
        "%s: output:\n%.3000s", clean_case, child.output);
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "%s: arheap said something:\n%.3000s",
                  clean_case, child.output);
}
END_TEST

/* check_all, check_every and the check at exit skip guarded blocks in
 * quarantine: their pages are PROT_NONE (reading them would fault). */
static void body_check_quarantined(void)
{
    (void)ar_heap__set_options("guard=1");
    char *blocks[50];
    for (int i = 0; i < 50; i++) {
        blocks[i] = AR__HEAP__MALLOC((size_t)(i * 97 + 1), "held");
        memset(blocks[i], 'h', (size_t)(i * 97 + 1));
    }
    char *live = AR__HEAP__MALLOC(13, "live");
    for (int i = 0; i < 50; i++)
        AR__HEAP__FREE(blocks[i]);
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    printf("held=%zu\n", s.quarantine_blocks);
    printf("damaged=%zu\n", ar_heap__check_all());
    (void)ar_heap__set_options("check_every=1");
    char *more = AR__HEAP__MALLOC(13, "more");
    AR__HEAP__FREE(more);
    AR__HEAP__FREE(live);
    printf("still here\n");
    /* exit() runs the check at exit with the blocks still held. */
}

START_TEST(check_all_returns_0_with_guarded_blocks_in_quarantine)
{
    ar_test_child_t child;
    ar_test__run_child(body_check_quarantined, &child);
    expect_exit(&child, "check with held blocks", 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "held=50\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "damaged=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "still here\n");
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "arheap said something:\n%.3000s",
                  child.output);
}
END_TEST

/* Four threads allocating and freeing guarded blocks at once. */
enum { THREADS = 4, PER_THREAD = 3000 };

static void *guard_worker(void *arg)
{
    uintptr_t me = (uintptr_t)arg;
    char *mine[16] = { 0 };
    int ok = 1;
    for (int i = 0; i < PER_THREAD; i++) {
        int k = i % 16;
        if (mine[k] != NULL) {
            size_t n = (size_t)((k * 131 + (int)me) % 5000);
            ok &= all_bytes_are(mine[k], n, (char)('A' + me));
            AR__HEAP__FREE(mine[k]);
        }
        size_t n = (size_t)((k * 131 + (int)me) % 5000);
        mine[k] = AR__HEAP__MALLOC(n, "threaded");
        memset(mine[k], (int)('A' + me), n);
    }
    for (int k = 0; k < 16; k++)
        AR__HEAP__FREE(mine[k]);
    return ok ? (void *)1 : NULL;
}

static void body_threads(void)
{
    (void)ar_heap__set_options("guard=1");
    pthread_t threads[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, guard_worker, (void *)i);
    int ok = 1;
    for (int i = 0; i < THREADS; i++) {
        void *result = NULL;
        pthread_join(threads[i], &result);
        ok &= result != NULL;
    }
    printf("ok=%d damaged=%zu\n", ok, ar_heap__check_all());
}

START_TEST(four_threads_churning_guarded_blocks_report_nothing)
{
    ar_test_child_t child;
    ar_test__run_child(body_threads, &child);
    expect_exit(&child, "threads", 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ok=1 damaged=0\n");
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "arheap said something:\n%.3000s",
                  child.output);
}
END_TEST

/* ------------------------------------------------------------- memory */

/* The mapping of /proc/self/maps that holds addr: bounds and permissions. */
typedef struct mapping_s {
    uintptr_t start, end;
    char perms[5];
} mapping_t;

static char maps_text[1 << 20];

static int find_mapping(uintptr_t addr, mapping_t *out)
{
    if (ar_proc__read_file("/proc/self/maps", maps_text, sizeof maps_text) <= 0)
        return 0;
    for (const char *line = maps_text; line != NULL && *line != '\0';) {
        unsigned long start, end;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3 && addr >= start && addr < end) {
            out->start = start;
            out->end = end;
            memcpy(out->perms, perms, sizeof perms);
            return 1;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return 0;
}

static void problem(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    printf("FAIL: ");
    vprintf(format, ap);
    printf("\n");
    va_end(ap);
}

/* Pages resident in [addr, addr + len) (both page-aligned). */
static size_t resident_pages(uintptr_t addr, size_t len)
{
    static unsigned char vec[4096];
    size_t pages = len / page_size();
    if (pages > sizeof vec || mincore((void *)addr, len, vec) != 0)
        return SIZE_MAX;
    size_t n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

static const size_t mem_sizes[] = { 0, 1, 13, 16, 17, 4080, 4095, 4096, 4097, 65537, MIB };
#define MEM_COUNT (sizeof mem_sizes / sizeof mem_sizes[0])
static int mem_below;

/* 9. A guarded block of n bytes is readable and writable over its own
 * pages only: n rounded to the alignment (16, or nothing below), then to
 * pages; one page for 0 bytes. The page past them is the guard (or,
 * below, the page before). Freed, its pages are inaccessible and no
 * longer resident. The statistics count the bytes asked for. */
static void body_memory(void)
{
    set_options("guard=1:guard_below=%d", mem_below);
    const size_t page = page_size();
    char *blocks[MEM_COUNT];
    size_t want_bytes = 0, want_pages = 0;
    for (size_t i = 0; i < MEM_COUNT; i++) {
        size_t n = mem_sizes[i];
        char *p = blocks[i] = AR__HEAP__MALLOC(n, "measured");
        memset(p, 'm', n);
        want_bytes += n;
        size_t span = mem_below ? n : round_up(n, 16); /* bytes from/to the guard */
        size_t pages = round_up(span, page) / page; /* 0 bytes: none */
        want_pages += pages;
        uintptr_t first = mem_below ? (uintptr_t)p : (uintptr_t)p + span - pages * page;
        uintptr_t last = first + pages * page; /* one past the block's pages */
        uintptr_t guard_page = mem_below ? first - page : last;
        if (mem_below ? (uintptr_t)p % page != 0 : ((uintptr_t)p + span) % page != 0)
            problem("size %zu: %p is not against its guard page", n, (void *)p);
        mapping_t m = { 0, 0, "none" };
        if (pages != 0 && (!find_mapping(first, &m) || m.start != first || m.end != last ||
                           strncmp(m.perms, "rw", 2) != 0))
            problem("size %zu: the accessible pages are not exactly the block's %zu page(s) "
                    "[%#lx, %#lx): mapping [%#lx, %#lx) %s",
                    n, pages, (unsigned long)first, (unsigned long)last, (unsigned long)m.start,
                    (unsigned long)m.end, m.perms);
        if (!find_mapping(guard_page, &m) || strncmp(m.perms, "---", 3) != 0)
            problem("size %zu: the guard page is not inaccessible", n);
    }
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    if (s.live_blocks != MEM_COUNT || s.live_bytes != want_bytes)
        problem("live %zu blocks %zu bytes, expected %zu blocks %zu bytes", s.live_blocks,
                s.live_bytes, MEM_COUNT, want_bytes);
    size_t held_before = s.quarantine_bytes;
    for (size_t i = 0; i < MEM_COUNT; i++) {
        size_t n = mem_sizes[i];
        size_t span = mem_below ? n : round_up(n, 16);
        size_t pages = round_up(span, page) / page;
        uintptr_t first =
            mem_below ? (uintptr_t)blocks[i] : (uintptr_t)blocks[i] + span - pages * page;
        AR__HEAP__FREE(blocks[i]);
        mapping_t m = { 0, 0, "none" };
        if (!find_mapping(first, &m) || strncmp(m.perms, "---", 3) != 0)
            problem("size %zu: the pages of the freed block are accessible (%s)", n, m.perms);
        size_t resident = resident_pages(first, pages * page);
        if (resident != 0)
            problem("size %zu: %zu page(s) of the freed block still resident", n, resident);
    }
    ar_heap__get_stats(&s);
    if (s.live_blocks != 0 || s.live_bytes != 0)
        problem("after free: live %zu blocks %zu bytes", s.live_blocks, s.live_bytes);
    /* Each held block counts for its pages and its bookkeeping (a 32-byte
     * record and a 16-byte entry, src/quarantine.c). */
    size_t want_held = want_pages * page + MEM_COUNT * (32 + 16);
    if (s.quarantine_blocks != MEM_COUNT || s.quarantine_bytes - held_before != want_held)
        problem("quarantine holds %zu blocks, %zu bytes; expected %zu blocks, %zu bytes (their "
                "pages and bookkeeping)",
                s.quarantine_blocks, s.quarantine_bytes - held_before, MEM_COUNT, want_held);
    printf("done\n");
}

START_TEST(a_guarded_block_uses_its_own_pages_only)
{
    ar_test_child_t child;
    mem_below = _i;
    const char *label = _i ? "guard_below=1" : "guard after";
    ar_test__run_child(body_memory, &child);
    expect_exit(&child, label, 0);
    ck_assert_msg(ar_test__output_has(&child, "done\n") && !ar_test__output_has(&child, "FAIL"),
                  "%s:\n%.3000s", label, child.output);
    ck_assert_msg(!ar_test__output_has(&child, "arheap"), "%s: arheap said something:\n%.3000s",
                  label, child.output);
}
END_TEST

/* ------------------------------------------- zero-byte blocks, mechanisms */

/* The mechanism this binary tests: check_guard forces mprotect (runs on
 * every kernel), check_guard_madvise (the same source with
 * AR_GUARD_MADVISE) forces guard regions and skips without them. */
#ifdef AR_GUARD_MADVISE
#define GUARD_MECHANISM "madvise"
#define GUARD_MADVISE 1
#else
#define GUARD_MECHANISM "mprotect"
#define GUARD_MADVISE 0
#endif

static int zero_below;

/* Two live zero-byte blocks: distinct, guarded, freeable; then a read of
 * the live one's first byte. */
static void body_zero_byte(void)
{
    watchdog();
    set_options("guard=1:guard_below=%d", zero_below);
    char *gone = AR__HEAP__MALLOC(0, "zero gone");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(0, "zero live");
    char *q = AR__HEAP__MALLOC(0, "zero other");
    ar_test__note("non_null", p != NULL && q != NULL && gone != NULL);
    ar_test__note("distinct", p != q && p != gone && q != gone);
    ar_heap_stats_t st;
    ar_heap__get_stats(&st);
    ar_test__note("guarded", (long)st.guarded_blocks);
    AR__HEAP__FREE(gone);
    AR__HEAP__FREE(q);
    touch(p, 0, 'R');
    ar_test__note("survived", 1);
}

START_TEST(a_zero_byte_guarded_block_has_no_accessible_byte)
{
    if (ar_test__skip_under_valgrind(__func__, "Memcheck's leak check at the fault's "
                                               "termination counts the touched 0-byte block, "
                                               "whose pointer points into a guard page, as "
                                               "definitely lost"))
        return;
    ar_test_child_t child;
    zero_below = _i;
    const char *label = _i ? "0 bytes, guard_below=1" : "0 bytes";
    ar_test__run_child(body_zero_byte, &child);
    expect_segv(&child, label);
    ck_assert_int_eq(ar_test__note_value(&child, "non_null"), 1);
    ck_assert_int_eq(ar_test__note_value(&child, "distinct"), 1);
    ck_assert_int_eq(ar_test__note_value(&child, "guarded"), 3);
    char buf[256];
    ar_test__expect_has(&child, label, "arheap: ERROR: heap-buffer-overflow on block 0x");
    ck_assert_msg(ar_test__output_count(&child, "arheap: ERROR:") == 1,
                  "%s: expected exactly one report:\n%.3000s", label, child.output);
    ar_test__expect_has(&child, label, block_line(buf, sizeof buf, 0, "zero live"));
    ar_test__expect_has(&child, label, "on a 0-byte block \"zero live\" allocated at ");
    AR_TEST_EXPECT_SITE(&child, label, "  allocated at ", "alloc");
}
END_TEST

/* The stats and help=1 name the mechanism in use. */
static void body_mechanism_named(void)
{
    watchdog();
    set_options("guard=1");
    ar_heap_stats_t st;
    ar_heap__get_stats(&st);
    printf("before=%s\n", st.guard_mechanism);
    char *p = AR__HEAP__MALLOC(24, "one");
    ar_heap__get_stats(&st);
    printf("after=%s\n", st.guard_mechanism);
    AR__HEAP__FREE(p);
    fflush(stdout);
}

START_TEST(the_stats_name_the_guard_mechanism_in_use)
{
    ar_test_child_t child;
    ar_test__run_child(body_mechanism_named, &child);
    expect_exit(&child, "mechanism", 0);
    ar_test__expect_has(&child, "mechanism", "before=none\n");
    ar_test__expect_has(&child, "mechanism", "after=" GUARD_MECHANISM "\n");
}
END_TEST

/* A bad guard_mechanism is refused with a message naming the choices,
 * and the mechanism set before stays. */
static void body_bad_mechanism(void)
{
    watchdog();
    ar_test__note("problems", ar_heap__set_options("guard_mechanism=mmap"));
    set_options("guard=1");
    char *p = AR__HEAP__MALLOC(24, "one");
    ar_heap_stats_t st;
    ar_heap__get_stats(&st);
    printf("mechanism=%s\n", st.guard_mechanism);
    fflush(stdout);
    AR__HEAP__FREE(p);
}

START_TEST(a_bad_guard_mechanism_is_refused_naming_the_choices)
{
    ar_test_child_t child;
    ar_test__run_child(body_bad_mechanism, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "child failed:\n%.3000s", child.output);
    ck_assert_int_eq(ar_test__note_value(&child, "problems"), 1);
    ar_test__expect_has(&child, "bad mechanism", "guard_mechanism");
    ar_test__expect_has(&child, "bad mechanism", "takes auto, madvise or mprotect");
    ar_test__expect_has(&child, "bad mechanism", "mechanism=" GUARD_MECHANISM "\n");
}
END_TEST

#ifdef AR_GUARD_MADVISE
/* Guard regions: 100,000 live guarded blocks of 8 B to 4 KiB, no
 * warning, no canary fallback, and no mapping per block. */
#define REGION_COUNT 100000
static void body_many_regions(void)
{
    set_options("guard=1:guard_align=1");
    long maps_before = ar_proc__count_mappings();
    char **blocks = malloc(REGION_COUNT * sizeof *blocks);
    size_t guarded = 0;
    for (size_t i = 0; i < REGION_COUNT; i++) {
        size_t n = 8 + (i * 37) % 4089;
        blocks[i] = AR__HEAP__MALLOC(n, "many");
        blocks[i][0] = 'x';
        guarded += ends_on_a_page(blocks[i], n);
    }
    ar_heap_stats_t st;
    ar_heap__get_stats(&st);
    long maps_after = ar_proc__count_mappings();
    ar_test__note("guarded", (long)guarded);
    ar_test__note("stats_guarded", (long)st.guarded_blocks);
    ar_test__note("few_maps", maps_after - maps_before < 100);
    /* Freeing a few is enough: free is tested elsewhere, and 100,000
     * frees would double the time. */
    for (size_t i = 0; i < 1000; i++)
        AR__HEAP__FREE(blocks[i]);
    ar_test__note("done", 1);
    _exit(0);
}

START_TEST(with_guard_regions_100000_live_guarded_blocks_need_no_mapping_each)
{
    ar_test_child_t child;
    ar_test__run_child(body_many_regions, &child);
    expect_exit(&child, "100000 live", 0);
    ck_assert_int_eq(ar_test__note_value(&child, "guarded"), REGION_COUNT);
    ck_assert_int_eq(ar_test__note_value(&child, "stats_guarded"), REGION_COUNT);
    ck_assert_msg(ar_test__note_value(&child, "few_maps") == 1, "mappings grew:\n%.3000s",
                  child.output);
    ck_assert_int_eq(ar_test__note_value(&child, "done"), 1);
    expect_lacks(&child, "100000 live", "arheap: warning");
}
END_TEST

/* Blocks over 2 MiB keep PROT_NONE arenas under guard regions too, two
 * mappings each: the mapping budget bounds them (until stop 41 nothing
 * did, and vm.max_map_count ran out: the program's own mmap failed). */
static long max_map_count(void)
{
    char text[64];
    return ar_proc__read_file("/proc/sys/vm/max_map_count", text, sizeof text) > 0
               ? atol(text)
               : -1;
}

static void body_large_regions(void)
{
    set_options("guard=1:guard_align=1:fill=0:canary=0");
    long limit = max_map_count();
    size_t count = (size_t)limit / 2 + 1000, guarded = 0;
    char **blocks = malloc(count * sizeof *blocks);
    for (size_t i = 0; i < count; i++) {
        blocks[i] = AR__HEAP__MALLOC(((size_t)2 << 20) + 1, "large");
        if (blocks[i] == NULL)
            break;
        guarded += ends_on_a_page(blocks[i], ((size_t)2 << 20) + 1);
    }
    long maps = ar_proc__count_mappings();
    ar_test__note("some_guarded", guarded > 1000);
    ar_test__note("room_left", maps < limit - 1000);
    /* The program's own mappings still come. */
    int own = 0;
    for (int i = 0; i < 100; i++) {
        void *m = mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        own += m != MAP_FAILED;
    }
    ar_test__note("own_mappings", own);
    _exit(0);
}

START_TEST(with_guard_regions_blocks_over_2_mib_keep_the_mapping_budget)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind's address-space manager has a fixed "
                                               "table of segments and exits long before the "
                                               "kernel's mapping limit is reached"))
        return;
    long limit = max_map_count();
    if (limit <= 0 || limit > 262144) {
        fprintf(stderr, "%s: skipped: vm.max_map_count is %ld; the test fills the default "
                        "(65530) budget\n", __func__, limit);
        return;
    }
    ar_test_child_t child;
    ar_test__run_child(body_large_regions, &child);
    expect_exit(&child, "large blocks", 0);
    ck_assert_int_eq(ar_test__note_value(&child, "some_guarded"), 1);
    ck_assert_msg(ar_test__note_value(&child, "room_left") == 1 &&
                      ar_test__note_value(&child, "own_mappings") == 100,
                  "the mappings ran out:\n%.3000s", child.output);
    ar_test__expect_has(&child, "large blocks",
                        "arheap: warning: guard pages: the mapping budget (vm.max_map_count) is "
                        "used up");
}
END_TEST
#endif

/* ------------------------------------------------------------ suite */

/* ---------------------------------------------------------- regressions */

/* The first guarded block of a fresh process sits in the first slot of
 * its arena; a page-sized block has no head canary, so p[-1] lies below
 * the arena: that page must be inaccessible too, and named. */
static void body_first_slot_underrun(void)
{
    watchdog();
    set_options("guard=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(MIB, "first slot");
    touch(p, -1, 'W');
    ar_test__note("survived", 1);
}

START_TEST(an_underrun_of_an_arenas_first_slot_faults_and_is_named)
{
    ar_test_child_t *child = malloc(sizeof *child);
    ar_test__run_child(body_first_slot_underrun, child);
    expect_segv(child, "first slot");
    expect_fault_report(child, "first slot", "heap-buffer-underflow", 'W', -1,
                        ": 1 byte before the start of the block", MIB, "first slot");
    free(child);
}
END_TEST

/* A sent SIGSEGV that the program ignores stays ignored with guard=1. */
static void body_ignored_sigsegv(void)
{
    watchdog();
    signal(SIGSEGV, SIG_IGN);
    set_options("guard=1");
    char *p = AR__HEAP__MALLOC(24, "installs the handler");
    raise(SIGSEGV);
    AR__HEAP__FREE(p);
    ar_test__note("survived", 1);
}

START_TEST(a_sent_sigsegv_the_program_ignores_stays_ignored)
{
    ar_test_child_t *child = malloc(sizeof *child);
    ar_test__run_child(body_ignored_sigsegv, child);
    expect_exit(child, "ignored", 0);
    ar_test__expect_has(child, "ignored", "[note survived=1]");
    expect_lacks(child, "ignored", "arheap");
    free(child);
}
END_TEST

/* A request no system could back fails as malloc's would (NULL, ENOMEM),
 * without a warning and without ending guarding for later blocks; the
 * mapping-budget warning is still there when the budget runs out. The
 * kernel grants the 64 TiB PROT_NONE reservation and refuses to make it
 * writable (mprotect, ENOMEM): that is the path under test, so the test
 * skips where the reservation itself fails (Valgrind, ThreadSanitizer). */
/* The process's address space (VmSize), in GiB. */
static long address_space_gib(void)
{
    char status[8192];
    if (ar_proc__read_file("/proc/self/status", status, sizeof status) <= 0)
        return -1;
    const char *at = strstr(status, "VmSize:");
    return at != NULL ? atol(at + 7) >> 20 : -1;
}

static void body_huge_request(void)
{
    watchdog();
    set_options("guard=1:guard_align=1");
    AR__HEAP__FREE(AR__HEAP__MALLOC(24, "the heap's own reservations made"));
    long before = address_space_gib();
    errno = 0;
    void *huge = AR__HEAP__MALLOC((size_t)1 << 46, "huge");
    ar_test__note("huge_is_null", huge == NULL);
    ar_test__note("enomem", errno == ENOMEM);
    /* Another size, another arena: refused too, and neither keeps its
     * reservation (until stop 41 each kept its tens of TiB, and the
     * program's own large reservations then failed). */
    void *other = AR__HEAP__MALLOC(((size_t)1 << 45) + ((size_t)1 << 44), "huge too");
    ar_test__note("other_is_null", other == NULL);
    ar_test__note("kept_gib", (int)(address_space_gib() - before));
    char *p = AR__HEAP__MALLOC(24, "after");
    ar_test__note("guarded_after", ends_on_a_page(p, 24));
    AR__HEAP__FREE(p);
    ar_test__note("survived", 1);
}

START_TEST(a_huge_request_fails_like_malloc_and_guarding_goes_on)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind refuses the 64 TiB PROT_NONE reservation "
                                               "the kernel grants, so arheap takes its other "
                                               "documented path (the address-space warning) that "
                                               "this test asserts is not taken"))
        return;
    if (skip_under_tsan(__func__, "TSan's shadow memory takes the address space, so the 64 TiB "
                                  "PROT_NONE reservation fails and arheap takes its other "
                                  "documented path (the address-space warning) that this test "
                                  "asserts is not taken"))
        return;
    ar_test_child_t *child = malloc(sizeof *child);
    ar_test__run_child(body_huge_request, child);
    expect_exit(child, "huge", 0);
    ck_assert_int_eq(ar_test__note_value(child, "huge_is_null"), 1);
    ck_assert_int_eq(ar_test__note_value(child, "enomem"), 1);
    ck_assert_int_eq(ar_test__note_value(child, "other_is_null"), 1);
    ck_assert_msg(ar_test__note_value(child, "kept_gib") < 1, "%.3000s", child->output);
    ck_assert_int_eq(ar_test__note_value(child, "guarded_after"), 1);
    expect_lacks(child, "huge", "arheap: warning");
    free(child);
}
END_TEST

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");

    TCase *faults = tcase_create("overruns and underruns");
    tcase_set_timeout(faults, 60);
    tcase_add_loop_test(faults, a_one_byte_overrun_faults_at_the_guard_page, 0, TABLE_CASES);
    tcase_add_loop_test(faults,
                        with_guard_below_a_one_byte_underrun_faults_and_blocks_start_on_a_page, 0,
                        TABLE_CASES);
    tcase_add_test(faults, an_overrun_deeper_into_the_guard_page_names_its_offset);
    tcase_add_test(faults, on_error_exit_makes_a_fault_exit_with_error_exitcode);
    tcase_add_test(faults, on_error_exit_uses_exit_code_23_by_default);
    tcase_add_test(faults, on_error_continue_still_ends_a_fault_by_sigsegv);
    tcase_add_test(faults, a_fault_report_can_be_json);
    tcase_add_test(faults, a_fault_report_prints_the_allocation_stack);
    tcase_add_test(faults, with_default_alignment_the_block_end_is_16_aligned_against_the_guard);
    tcase_add_test(faults,
                   a_write_into_the_slack_does_not_fault_and_is_caught_by_the_canary_at_free);
    tcase_add_test(faults, below_the_first_page_of_a_guarded_block_is_a_guard_page);
    tcase_add_test(faults, with_guard_below_an_overrun_is_caught_by_the_tail_canary);
    tcase_add_test(faults, a_fault_in_another_thread_is_reported_naming_that_thread);
    tcase_add_test(faults, two_threads_faulting_at_once_give_one_whole_report);
    tcase_add_test(faults, a_slot_reused_during_the_report_does_not_let_the_program_go_on);
    tcase_add_test(faults, a_child_forked_during_a_fault_report_reports_its_own_fault);
    tcase_add_test(faults, a_fault_report_fits_an_8_kib_alternate_stack);
    tcase_add_test(faults, a_fault_whose_frame_needs_new_stack_pages_is_reported);
#if defined(__x86_64__)
    tcase_add_test(faults, a_handler_put_back_with_signal_still_reports_the_fault);
#endif
    suite_add_tcase(s, faults);

    TCase *freed = tcase_create("use after free");
    tcase_set_timeout(freed, 30);
    tcase_add_loop_test(freed, a_touch_after_free_of_a_guarded_block_faults, 0, UAF_CASES);
    tcase_add_test(freed, a_write_through_a_pointer_stale_after_realloc_faults_naming_the_realloc);
    tcase_add_test(freed, a_touch_after_free_is_reported_even_when_the_record_is_gone);
    tcase_add_test(freed, a_json_fault_report_without_the_record_keeps_what_the_slot_knows);
    tcase_add_test(freed, a_damaged_guarded_block_freed_without_quarantine_is_closed_and_not_live);
    suite_add_tcase(s, freed);

    TCase *foreign_tc = tcase_create("faults that are not arheap's");
    tcase_set_timeout(foreign_tc, 30);
    tcase_add_loop_test(foreign_tc,
                        a_fault_that_is_not_arheaps_goes_to_the_previous_handler_or_the_default, 0,
                        FOREIGN_CASES);
    tcase_add_test(foreign_tc, a_guard_fault_is_reported_even_when_the_program_has_a_handler);
    tcase_add_loop_test(foreign_tc, the_previous_handler_runs_with_its_sa_mask_and_sa_nodefer, 0,
                        MASK_CASES);
    tcase_add_loop_test(foreign_tc, a_previous_handler_with_sa_resethand_is_called_once, 0, 2);
#if defined(__x86_64__)
    tcase_add_test(foreign_tc, a_real_fault_the_program_ignores_ends_the_process_after_a_put_back);
    tcase_add_test(foreign_tc,
                   a_general_protection_fault_the_program_ignores_ends_the_process_after_a_put_back);
    tcase_add_test(foreign_tc, a_sent_sigsegv_ends_the_process_after_a_put_back);
    tcase_add_test(foreign_tc, a_sent_sigsegv_the_program_ignores_stays_ignored_after_a_put_back);
    tcase_add_test(foreign_tc, the_kernels_own_sigsegv_ends_the_process);
    tcase_add_test(foreign_tc, a_sent_sigsegv_after_a_repaired_fault_reaches_the_program_as_sent);
#endif
    suite_add_tcase(s, foreign_tc);

    TCase *reentry = tcase_create("a fault in the handler");
    tcase_set_timeout(reentry, 30);
    tcase_add_test(reentry, a_fault_inside_the_fault_handler_ends_the_process_at_once);
    suite_add_tcase(s, reentry);

    TCase *zero = tcase_create("zero-byte blocks and the mechanism");
    tcase_set_timeout(zero, 60);
    tcase_add_loop_test(zero, a_zero_byte_guarded_block_has_no_accessible_byte, 0, 2);
    tcase_add_test(zero, the_stats_name_the_guard_mechanism_in_use);
    tcase_add_test(zero, a_bad_guard_mechanism_is_refused_naming_the_choices);
    suite_add_tcase(s, zero);
#ifdef AR_GUARD_MADVISE
    TCase *scale = tcase_create("guard regions at scale");
    tcase_set_timeout(scale, 240);
    tcase_add_test(scale, with_guard_regions_100000_live_guarded_blocks_need_no_mapping_each);
    tcase_add_test(scale, with_guard_regions_blocks_over_2_mib_keep_the_mapping_budget);
    suite_add_tcase(s, scale);
#endif

    /* The mapping budget, mapping counts and per-block mappings are the
     * mprotect mechanism's. */
    if (!GUARD_MADVISE) {
        TCase *budget = tcase_create("mapping budget");
        tcase_set_timeout(budget, 120);
        tcase_add_loop_test(budget,
                            more_than_100000_live_guarded_blocks_degrade_to_canaries_with_one_warning,
                            0, MANY_CASES);
        tcase_add_test(budget, guard_max_live_caps_the_live_guarded_blocks_with_one_warning);
        tcase_add_loop_test(budget,
                            when_the_kernel_refuses_a_mapping_blocks_get_canaries_until_it_accepts, 0,
                            REFUSED_CASES);
        suite_add_tcase(s, budget);

        TCase *mappings = tcase_create("mapping count");
        tcase_set_timeout(mappings, 60);
        tcase_add_loop_test(mappings, freed_guarded_blocks_cost_no_mapping, 0, COUNTED_CASES);
        tcase_add_loop_test(mappings,
                            mappings_are_two_per_live_guarded_block_not_per_block_ever_allocated, 0,
                            COUNTED_CASES);
        suite_add_tcase(s, mappings);

    }

    TCase *reuse = tcase_create("slot reuse");
    tcase_set_timeout(reuse, 60);
    tcase_add_test(reuse, a_freed_guarded_slot_is_reused_and_churn_costs_no_mappings);
    suite_add_tcase(s, reuse);

    TCase *select = tcase_create("selection");
    tcase_set_timeout(select, 30);
    tcase_add_test(select, guard_sample_4_guards_exactly_one_block_in_four);
    tcase_add_test(select, guard_min_size_and_guard_max_size_select_blocks_by_size);
    tcase_add_test(select, guard_sample_counts_only_blocks_of_the_selected_sizes);
    tcase_add_test(select, without_guard_1_no_block_is_guarded);
    suite_add_tcase(s, select);

    TCase *clean = tcase_create("clean workloads");
    tcase_set_timeout(clean, 60);
    tcase_add_loop_test(clean, a_clean_workload_under_guard_reports_nothing, 0, CLEAN_CASES);
    tcase_add_test(clean, check_all_returns_0_with_guarded_blocks_in_quarantine);
    tcase_add_test(clean, four_threads_churning_guarded_blocks_report_nothing);
    suite_add_tcase(s, clean);

    TCase *regress = tcase_create("regressions");
    tcase_set_timeout(regress, 30);
    tcase_add_test(regress, an_underrun_of_an_arenas_first_slot_faults_and_is_named);
    tcase_add_test(regress, a_sent_sigsegv_the_program_ignores_stays_ignored);
    tcase_add_test(regress, a_huge_request_fails_like_malloc_and_guarding_goes_on);
    suite_add_tcase(s, regress);

    if (!GUARD_MADVISE) {
        TCase *memory = tcase_create("memory");
        tcase_set_timeout(memory, 30);
        tcase_add_loop_test(memory, a_guarded_block_uses_its_own_pages_only, 0, 2);
        suite_add_tcase(s, memory);
    }
    return s;
}

int main(void)
{
    /* Children die by SIGSEGV on purpose: no core files. */
    struct rlimit no_core = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)ar_heap__set_options("leak_report=0:guard_mechanism=" GUARD_MECHANISM);
#ifdef AR_GUARD_MADVISE
    /* The probe arheap makes (src/guard.c): a marker on a fresh page. */
    long page = sysconf(_SC_PAGESIZE);
    void *probe = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    int regions = probe != MAP_FAILED && madvise(probe, (size_t)page, 102 /* GUARD_INSTALL */) == 0;
    if (probe != MAP_FAILED)
        munmap(probe, (size_t)page);
    if (!regions) {
        printf("SKIP: this kernel has no guard regions (MADV_GUARD_INSTALL, Linux 6.13)\n");
        return 77;
    }
#endif
    return ar_test__run_suite(guard_suite(), 1);
}
