/*
 * check_bad_input.c: bad input to every entry point, and the checker after
 * it: reported (or quietly refused) as documented, and intact afterwards.
 *
 * Each test runs the bad input in a forked child and asserts how the child
 * ended, the exact text it wrote, and that the checker still works: the
 * statistics say what the child did and nothing more, later allocations,
 * reallocations and frees work, ar_heap__check_all() finds nothing, and
 * the leak report lists exactly the blocks left live (prove_intact()).
 *
 * Already covered elsewhere, not repeated here:
 *   free(NULL) leaves the counters alone     check_tracking:free_of_null_does_nothing
 *   free of a stack pointer (abort)          check_bad_free:stack_pointer_free_is_an_invalid_free
 *   free of a global (abort)                 check_bad_free:global_pointer_free_is_an_invalid_free
 *   free of an interior pointer              check_bad_free:interior_pointer_free_names_the_offset_and_the_owning_block,
 *                                            check_bad_free:interior_pointer_free_leaves_the_block_live,
 *                                            check_bad_free:realloc_of_an_interior_pointer_is_reported_and_returns_null
 *   free of a plain malloc block             check_bad_free:free_of_a_plain_malloc_block_is_reported_and_never_reaches_libc
 *   STRDUP(NULL): report, NULL and EINVAL    check_bad_free:strdup_of_null_is_an_invalid_argument_error,
 *                                            check_bad_free:strdup_of_null_with_continue_returns_null_and_einval
 *   REALLOC of a quarantined block (abort)   check_bad_free:realloc_of_a_freed_block_is_a_double_free_with_the_realloc_site
 *   MALLOC of SIZE_MAX, SIZE_MAX-1, SIZE_MAX-64, PTRDIFF_MAX+1
 *                                            check_tracking:malloc_near_size_max_returns_null_with_enomem
 *   MALLOC(0), CALLOC(0, n) with allow_malloc_0=0
 *                                            allow_malloc_0_0_reports_an_allocation_of_0_bytes_at_its_call (here)
 *   CALLOC(SIZE_MAX/2, 3)                    check_tracking:calloc_overflow_returns_null_with_enomem_and_tracks_nothing
 *   REALLOC(p, SIZE_MAX-8) keeps p           check_tracking:realloc_failure_leaves_the_old_block_live_and_intact
 *   an unknown key; on_error=explode (env)   check_options:an_unknown_key_is_warned_about_by_name_and_the_rest_still_applies,
 *                                            check_options:a_malformed_value_is_warned_about_and_the_default_kept
 *   problem counts; garbage never crashes    check_options:set_options_returns_the_number_of_problems,
 *                                            check_options:malformed_option_strings_never_crash
 *   report_path in a missing directory, on demand
 *                                            check_report:an_unwritable_report_path_falls_back_to_stderr_and_says_so
 *   ar_heap__check_all() with two damaged blocks
 *                                            check_canary:check_all_returns_the_number_of_damaged_blocks_and_reports_each
 * What this file adds: the state after each bad input (above, the tests
 * mostly assert the report alone), garbage addresses that must never be
 * dereferenced, sizes that reach libc's malloc, CALLOC products that wrap
 * to small numbers, every kind of malformed option value with its exact
 * warning and the previous value kept, other ways a report file cannot be
 * written (a directory, a read-only directory, a file as a directory, a
 * name too long, at exit), fork() while threads allocate, and errors found
 * in a heap that is already damaged.
 *
 * Under AddressSanitizer and ThreadSanitizer the two tests that damage
 * glibc's own chunk metadata are left out: the sanitizer's allocator then
 * stands in for glibc's, so there is no such metadata to damage (the
 * control case survives), and ASan and TSan rightly report the test's
 * writes to freed or redzone memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

/* 1 when a sanitizer's allocator stands in for glibc's malloc. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AR_BAD_INPUT_SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AR_BAD_INPUT_SANITIZER_MALLOC 1
#endif
#endif
#ifndef AR_BAD_INPUT_SANITIZER_MALLOC
#define AR_BAD_INPUT_SANITIZER_MALLOC 0
#endif

/* ------------------------------------------------------------ helpers */

/* printf straight to fd 1, unbuffered: the line survives an abort(). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)!write(STDOUT_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Hide a size from the compiler, which would refuse constant sizes it can
 * prove too large (alloc_size), and from its constant folding. */
static size_t opaque_size(size_t v)
{
    volatile size_t hidden = v;
    return hidden;
}

static void *opaque_ptr(void *p)
{
    return ar_test__opaque(p);
}

/* "[state live=L bytes=B allocs=A errors=E]": what the parent compares. */
static void say_state(const char *name)
{
    ar_heap_stats_t s = ar_test__stats();
    say("[%s live=%zu bytes=%zu allocs=%zu errors=%zu]\n", name, s.live_blocks, s.live_bytes,
        s.total_allocations, s.errors_reported);
}

/* The bystander: one block allocated before the bad input, which must
 * stay live and intact through it. */
#define BYSTANDER_SIZE 24
static char *bystander;

static void make_bystander(void)
{
    bystander = AR__HEAP__MALLOC(BYSTANDER_SIZE, "bystander");
    memset(bystander, 'b', BYSTANDER_SIZE);
}

/*
 * After the bad input: the checker still allocates, reallocates, copies
 * and frees; finds no damage; and its leak report names exactly the
 * bystander and the one copy made here (2 blocks, 24 + 12 bytes), the
 * summary going to stderr (report_path is empty in these children).
 */
static void prove_intact(void)
{
    say_state("after");
    int bystander_ok = 1;
    for (size_t i = 0; i < BYSTANDER_SIZE; i++)
        bystander_ok &= bystander[i] == 'b';
    char *fresh = AR__HEAP__MALLOC(40, "fresh after bad input");
    memset(fresh, 'f', 40);
    char *grown = AR__HEAP__REALLOC(fresh, 80, "grown after bad input");
    int grown_ok = grown != NULL && grown[39] == 'f';
    AR__HEAP__FREE(grown);
    char *copy = AR__HEAP__STRDUP("still works", "copy after bad input");
    say("[intact bystander=%d grown=%d copy=%s check_all=%zu]\n", bystander_ok, grown_ok,
        copy != NULL ? copy : "(null)", ar_heap__check_all());
    (void)ar_heap__set_options("report_path=");
    ar_heap__memory_report();
}

/* The parent's side of prove_intact(): `after` is the state line the child
 * must have printed. */
static void expect_intact(const ar_test_child_t *child, const char *label, const char *after)
{
    ar_test__expect_has(child, label, after);
    ar_test__expect_has(child, label,
                        "[intact bystander=1 grown=1 copy=still works check_all=0]\n");
    ar_test__expect_has(child, label,
                        "arheap: LEAK: 2 blocks (36 bytes) not freed, from 2 sites");
    ar_test__expect_has(child, label, ": 24 bytes in 1 block (\"bystander\")\n");
    ar_test__expect_has(child, label, ": 12 bytes in 1 block (\"copy after bad input\")\n");
}

static void expect_exit_0(const ar_test_child_t *child, const char *label)
{
    ck_assert_msg(child->exited && child->exit_code == 0,
                  "%s: child did not exit 0 (exited=%d code=%d signaled=%d signal=%d); "
                  "output:\n%s",
                  label, child->exited, child->exit_code, child->signaled, child->signal,
                  child->output);
}

static void expect_abort(const ar_test_child_t *child, const char *label)
{
    ck_assert_msg(child->signaled && child->signal == SIGABRT,
                  "%s: child did not abort (exited=%d code=%d signaled=%d signal=%d); "
                  "output:\n%s",
                  label, child->exited, child->exit_code, child->signaled, child->signal,
                  child->output);
}

static void expect_lacks(const ar_test_child_t *child, const char *label, const char *needle)
{
    ck_assert_msg(!ar_test__output_has(child, needle), "%s: output has \"%s\":\n%s", label,
                  needle, child->output);
}

/* The value the child printed as "[name=<text>]", copied to buf. */
static const char *said(const ar_test_child_t *child, const char *name, char *buf, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "[%s=", name);
    const char *at = strstr(child->output, key);
    ck_assert_msg(at != NULL, "the child did not say %s; output:\n%s", name, child->output);
    at += strlen(key);
    size_t len = strcspn(at, "]");
    ck_assert(len < cap);
    memcpy(buf, at, len);
    buf[len] = '\0';
    return buf;
}

/* ------------------------------------------------------------ free(NULL) */

static void body_free_null(void)
{
    /* Before the heap's first use: FREE(NULL) must not start it, so the
     * options below are still read afterwards. */
    AR__HEAP__FREE(NULL);
    ar_heap__free(NULL);
    setenv("AR_HEAP_OPTIONS", "on_error=continue:report_path=", 1);
    make_bystander();
    say_state("before");
    AR__HEAP__FREE(NULL);
    ar_heap__free(NULL);
    AR__HEAP__FREE(opaque_ptr(NULL));
    prove_intact();
}

START_TEST(free_of_null_is_a_no_op_with_no_report_before_and_after_the_first_use)
{
    ar_test_child_t child;
    ar_test__run_child(body_free_null, &child);
    expect_exit_0(&child, "free(NULL)");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[before live=1 bytes=24 allocs=1 errors=0]\n");
    expect_intact(&child, "free(NULL)", "[after live=1 bytes=24 allocs=1 errors=0]\n");
    expect_lacks(&child, "free(NULL)", "arheap: ERROR");
    expect_lacks(&child, "free(NULL)", "arheap: warning");
}
END_TEST

/* ------------------------------------------------- pointers never allocated */

static int a_global_array[8];
static const char a_literal[] = "a string in read-only data";

enum foreign_kind {
    FOREIGN_STACK,
    FOREIGN_GLOBAL,
    FOREIGN_LITERAL,
    FOREIGN_SMALL,      /* (void *)0x10 */
    FOREIGN_ALL_ONES,   /* (void *)-1 */
    FOREIGN_UNMAPPED,   /* a page that was mapped and is not any more */
    FOREIGN_PROT_NONE,  /* a page that faults when read */
    FOREIGN_KINDS
};

static const char *const foreign_names[FOREIGN_KINDS] = {
    "stack", "global", "string literal", "(void *)0x10", "(void *)-1", "unmapped page",
    "PROT_NONE page + 8",
};

static int foreign_kind;   /* set by the parent before the fork */
static int foreign_abort;  /* 1: default action (abort); 0: on_error=continue */

static void *foreign_pointer(int kind, char *on_stack)
{
    long page = sysconf(_SC_PAGESIZE);
    void *mapped;
    switch (kind) {
    case FOREIGN_STACK:
        return on_stack;
    case FOREIGN_GLOBAL:
        return &a_global_array[3];
    case FOREIGN_LITERAL:
        return (void *)(uintptr_t)a_literal;
    case FOREIGN_SMALL:
        return (void *)(uintptr_t)0x10;
    case FOREIGN_ALL_ONES:
        return (void *)UINTPTR_MAX;
    case FOREIGN_UNMAPPED:
        mapped = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapped == MAP_FAILED || munmap(mapped, (size_t)page) != 0)
            _exit(3);
        return mapped;
    case FOREIGN_PROT_NONE:
        mapped = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapped == MAP_FAILED)
            _exit(3);
        return (char *)mapped + 8;
    }
    return NULL;
}

static void body_foreign(void)
{
    char on_stack[32];
    memset(on_stack, 's', sizeof on_stack);
    (void)ar_heap__set_options(foreign_abort ? "report_path=" : "on_error=continue:report_path=");
    make_bystander();
    void *bad = opaque_ptr(foreign_pointer(foreign_kind, on_stack));
    say("[ptr=%p]\n", bad);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(bad);
    say_state("freed");
    ar_test__note("realloc", __LINE__ + 1);
    void *moved = AR__HEAP__REALLOC(bad, 32, "from a foreign pointer");
    say("[realloc=%s]\n", moved == NULL ? "null" : "block");
    prove_intact();
}

START_TEST(foreign_pointers_are_invalid_frees_never_dereferenced_and_change_nothing)
{
    ar_test_child_t child;
    char label[96], ptr[64], header[128];
    foreign_kind = _i;
    foreign_abort = 0;
    snprintf(label, sizeof label, "%s, on_error=continue", foreign_names[_i]);
    ar_test__run_child(body_foreign, &child);
    expect_exit_0(&child, label);
    snprintf(header, sizeof header, "arheap: ERROR: invalid-free of %s (pid ",
             said(&child, "ptr", ptr, sizeof ptr));
    ck_assert_msg(ar_test__output_count(&child, header) == 2, "%s: not two reports \"%s\":\n%s",
                  label, header, child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 2);
    ck_assert_int_eq(ar_test__output_count(&child, "  the pointer is not a block arheap "
                                                   "allocated"), 2);
    AR_TEST_EXPECT_SITE(&child, label, "  free at ", "free");
    AR_TEST_EXPECT_SITE(&child, label, "  realloc at ", "realloc");
    AR_TEST_EXPECT_SITE(&child, label, "SUMMARY: arheap: invalid-free at ", "free");
    /* The free changed nothing but the error count; the realloc allocated
     * nothing and returned NULL. */
    ar_test__expect_has(&child, label, "[freed live=1 bytes=24 allocs=1 errors=1]\n");
    ar_test__expect_has(&child, label, "[realloc=null]\n");
    expect_intact(&child, label, "[after live=1 bytes=24 allocs=1 errors=2]\n");
}
END_TEST

START_TEST(foreign_pointers_abort_with_a_full_report_not_a_crash)
{
    ar_test_child_t child;
    char label[96], ptr[64], header[128];
    foreign_kind = _i;
    foreign_abort = 1;
    snprintf(label, sizeof label, "%s, on_error=abort", foreign_names[_i]);
    ar_test__run_child(body_foreign, &child);
    expect_abort(&child, label);
    snprintf(header, sizeof header, "arheap: ERROR: invalid-free of %s (pid ",
             said(&child, "ptr", ptr, sizeof ptr));
    ar_test__expect_has(&child, label, header);
    AR_TEST_EXPECT_SITE(&child, label, "SUMMARY: arheap: invalid-free at ", "free");
    ar_test__expect_has(&child, label, "\n=================================================="
                                       "===============\n");
    expect_lacks(&child, label, "[freed ");
}
END_TEST

/* ---------------------------------------------------------- STRDUP(NULL) */

static void body_strdup_null_state(void)
{
    (void)ar_heap__set_options("on_error=continue:report_path=");
    make_bystander();
    for (int i = 0; i < 3; i++) {
        errno = 0;
        char *none = AR__HEAP__STRDUP(opaque_ptr(NULL), "never");
        say("[strdup %d=%s %s]\n", i, none == NULL ? "null" : "block",
            errno == EINVAL ? "EINVAL" : "other errno");
    }
    prove_intact();
}

START_TEST(strdup_of_null_allocates_nothing_and_counts_one_error_per_call)
{
    ar_test_child_t child;
    ar_test__run_child(body_strdup_null_state, &child);
    expect_exit_0(&child, "STRDUP(NULL)");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: invalid-argument (pid "), 3);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 3);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[strdup 2=null EINVAL]\n");
    expect_intact(&child, "STRDUP(NULL)", "[after live=1 bytes=24 allocs=1 errors=3]\n");
}
END_TEST

/* ------------------------------------------------- REALLOC of freed blocks */

typedef struct freed_realloc_case_s {
    const char *label;
    const char *options; /* where the freed block's record is */
    size_t size;         /* 0: REALLOC(p, 0), which frees */
} freed_realloc_case_t;

static const freed_realloc_case_t freed_realloc_cases[] = {
    { "held in the quarantine, size 32", "on_error=continue:report_path=", 32 },
    { "held in the quarantine, size 0", "on_error=continue:report_path=", 0 },
    { "in the freed history, size 32", "on_error=continue:report_path=:quarantine_bytes=0", 32 },
    { "in the freed history, size 0", "on_error=continue:report_path=:quarantine_bytes=0", 0 },
};

static const freed_realloc_case_t *freed_realloc_case;

static void body_realloc_freed(void)
{
    (void)ar_heap__set_options(freed_realloc_case->options);
    make_bystander();
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(16, "freed then reallocated");
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("realloc", __LINE__ + 1);
    char *q = AR__HEAP__REALLOC(p, freed_realloc_case->size, "regrown");
    say("[realloc=%s]\n", q == NULL ? "null" : "block");
    prove_intact();
}

START_TEST(realloc_of_a_freed_block_returns_null_names_the_double_free_and_allocates_nothing)
{
    ar_test_child_t child;
    const char *label = freed_realloc_cases[_i].label;
    freed_realloc_case = &freed_realloc_cases[_i];
    ar_test__run_child(body_realloc_freed, &child);
    expect_exit_0(&child, label);
    ck_assert_msg(ar_test__output_count(&child, "arheap: ERROR: double-free of 0x") == 1,
                  "%s: not one double-free report:\n%s", label, child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 1);
    ar_test__expect_has(&child, label, "  block: 16 bytes \"freed then reallocated\"");
    AR_TEST_EXPECT_SITE(&child, label, "  allocated at ", "alloc");
    AR_TEST_EXPECT_SITE(&child, label, "  freed at ", "free");
    AR_TEST_EXPECT_SITE(&child, label, "  realloc at ", "realloc");
    ar_test__expect_has(&child, label, "[realloc=null]\n");
    /* allocs=2: the bystander and the freed block; the realloc made none. */
    ar_test__expect_has(&child, label, "[after live=1 bytes=24 allocs=2 errors=");
}
END_TEST

/* One report, one error counted: errors_reported is what a fuzzer running
 * with on_error=continue counts (see check_stats). */
START_TEST(a_double_free_named_from_any_record_counts_one_error)
{
    ar_test_child_t child;
    const char *label = freed_realloc_cases[_i].label;
    freed_realloc_case = &freed_realloc_cases[_i];
    ar_test__run_child(body_realloc_freed, &child);
    expect_exit_0(&child, label);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR:"), 1);
    expect_intact(&child, label, "[after live=1 bytes=24 allocs=2 errors=1]\n");
}
END_TEST

/* --------------------------------------------------------- huge sizes */

enum huge_op { HUGE_MALLOC, HUGE_CALLOC, HUGE_REALLOC_NULL, HUGE_REALLOC };

typedef struct huge_case_s {
    const char *label;
    enum huge_op op;
    size_t a, b; /* size; or count and size for CALLOC */
} huge_case_t;

#define PTRDIFF_SIZE ((size_t)PTRDIFF_MAX)

static const huge_case_t huge_cases[] = {
    /* Past arheap's own limit (PTRDIFF_MAX less its zones): refused
     * before libc is asked. */
    { "MALLOC(PTRDIFF_MAX)", HUGE_MALLOC, PTRDIFF_SIZE, 0 },
    { "MALLOC(SIZE_MAX - 15)", HUGE_MALLOC, SIZE_MAX - 15, 0 },
    /* Within it: libc's malloc is asked, and refuses. */
    { "MALLOC(PTRDIFF_MAX - 64)", HUGE_MALLOC, PTRDIFF_SIZE - 64, 0 },
    { "MALLOC(PTRDIFF_MAX / 2)", HUGE_MALLOC, PTRDIFF_SIZE / 2, 0 },
    { "CALLOC(1, SIZE_MAX)", HUGE_CALLOC, 1, SIZE_MAX },
    { "CALLOC(SIZE_MAX, 1)", HUGE_CALLOC, SIZE_MAX, 1 },
    { "CALLOC(1, PTRDIFF_MAX - 64)", HUGE_CALLOC, 1, PTRDIFF_SIZE - 64 },
    /* Products that wrap: to 16 bytes, to 0 bytes, to SIZE_MAX - 1. */
    { "CALLOC(SIZE_MAX / 16 + 2, 16)", HUGE_CALLOC, SIZE_MAX / 16 + 2, 16 },
    { "CALLOC(2^32, 2^32)", HUGE_CALLOC, (size_t)1 << 32, (size_t)1 << 32 },
    { "CALLOC(SIZE_MAX, SIZE_MAX)", HUGE_CALLOC, SIZE_MAX, SIZE_MAX },
    { "CALLOC(3, SIZE_MAX / 3 + 1)", HUGE_CALLOC, 3, SIZE_MAX / 3 + 1 },
    { "REALLOC(NULL, SIZE_MAX)", HUGE_REALLOC_NULL, SIZE_MAX, 0 },
    { "REALLOC(NULL, PTRDIFF_MAX - 64)", HUGE_REALLOC_NULL, PTRDIFF_SIZE - 64, 0 },
    { "REALLOC(p, PTRDIFF_MAX - 64)", HUGE_REALLOC, PTRDIFF_SIZE - 64, 0 },
    { "REALLOC(p, PTRDIFF_MAX / 2)", HUGE_REALLOC, PTRDIFF_SIZE / 2, 0 },
    { "REALLOC(p, SIZE_MAX)", HUGE_REALLOC, SIZE_MAX, 0 },
};

static const huge_case_t *huge_case;

static void body_huge(void)
{
    /* The default action: anything reported would abort the child. */
    (void)ar_heap__set_options("report_path=");
    make_bystander();
    char *kept = AR__HEAP__STRDUP("kept through a failed realloc", "realloc target");
    say_state("before");
    void *result = NULL;
    errno = 0;
    switch (huge_case->op) {
    case HUGE_MALLOC:
        result = AR__HEAP__MALLOC(opaque_size(huge_case->a), "huge");
        break;
    case HUGE_CALLOC:
        result = AR__HEAP__CALLOC(opaque_size(huge_case->a), opaque_size(huge_case->b), "huge");
        break;
    case HUGE_REALLOC_NULL:
        result = AR__HEAP__REALLOC(opaque_ptr(NULL), opaque_size(huge_case->a), "huge");
        break;
    case HUGE_REALLOC:
        result = AR__HEAP__REALLOC(kept, opaque_size(huge_case->a), "huge");
        break;
    }
    int saved = errno;
    say("[result=%s errno=%s kept=%s]\n", result == NULL ? "null" : "block",
        saved == ENOMEM ? "ENOMEM" : "other", kept);
    say_state("refused");
    AR__HEAP__FREE(kept);
    prove_intact();
}

START_TEST(sizes_near_size_max_return_null_with_enomem_and_report_nothing)
{
    ar_test_child_t child;
    const char *label = huge_cases[_i].label;
    huge_case = &huge_cases[_i];
    ar_test__run_child(body_huge, &child);
    expect_exit_0(&child, label);
    ar_test__expect_has(&child, label,
                        "[result=null errno=ENOMEM kept=kept through a failed realloc]\n");
    /* Nothing allocated, nothing counted: the same state as before. */
    ar_test__expect_has(&child, label, "[before live=2 bytes=54 allocs=2 errors=0]\n");
    ar_test__expect_has(&child, label, "[refused live=2 bytes=54 allocs=2 errors=0]\n");
    expect_intact(&child, label, "[after live=1 bytes=24 allocs=2 errors=0]\n");
    expect_lacks(&child, label, "arheap: ERROR");
    expect_lacks(&child, label, "arheap: warning");
}
END_TEST

static void body_calloc_zero(void)
{
    (void)ar_heap__set_options("report_path=");
    make_bystander();
    void *a = AR__HEAP__CALLOC(opaque_size(0), opaque_size(SIZE_MAX), "zero by huge");
    void *b = AR__HEAP__CALLOC(opaque_size(SIZE_MAX), opaque_size(0), "huge by zero");
    say("[a=%s b=%s distinct=%d]\n", a != NULL ? "block" : "null", b != NULL ? "block" : "null",
        a != b);
    say_state("zero");
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    prove_intact();
}

START_TEST(calloc_with_a_zero_factor_is_a_zero_byte_block_not_an_overflow)
{
    ar_test_child_t child;
    ar_test__run_child(body_calloc_zero, &child);
    expect_exit_0(&child, "CALLOC(0, SIZE_MAX)");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[a=block b=block distinct=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[zero live=3 bytes=24 allocs=3 errors=0]\n");
    expect_intact(&child, "CALLOC(0, SIZE_MAX)", "[after live=1 bytes=24 allocs=3 errors=0]\n");
    expect_lacks(&child, "CALLOC(0, SIZE_MAX)", "arheap: ERROR");
}
END_TEST

/* allow_malloc_0=0 (Electric Fence's EF_ALLOW_MALLOC_0=0): an allocation
 * of 0 bytes is an invalid-argument error at its call; with continue the
 * block is made; MALLOC(1) and CALLOC(0, n) are told apart. */
static int malloc_0_continue;

static void body_malloc_0(void)
{
    (void)ar_heap__set_options(malloc_0_continue ? "allow_malloc_0=0:on_error=continue:report_path="
                                                 : "allow_malloc_0=0:report_path=");
    void *one = AR__HEAP__MALLOC(opaque_size(1), "one byte");
    say("[one byte made]\n");
    void *zero = AR__HEAP__MALLOC(opaque_size(0), "zero bytes");
    void *zero_calloc = AR__HEAP__CALLOC(opaque_size(0), opaque_size(8), "zero by eight");
    say("[zero=%s calloc=%s]\n", zero != NULL ? "block" : "null",
        zero_calloc != NULL ? "block" : "null");
    say_state("zero");
    AR__HEAP__FREE(one);
    AR__HEAP__FREE(zero);
    AR__HEAP__FREE(zero_calloc);
}

START_TEST(allow_malloc_0_0_reports_an_allocation_of_0_bytes_at_its_call)
{
    ar_test_child_t child;
    malloc_0_continue = 0;
    ar_test__run_child(body_malloc_0, &child);
    ck_assert_msg(child.signaled && child.signal == SIGABRT, "expected SIGABRT:\n%s",
                  child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[one byte made]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: invalid-argument");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  an allocation of 0 bytes (allow_malloc_0=0, as Electric "
                                      "Fence's EF_ALLOW_MALLOC_0=0)\n");
    ck_assert_msg(ar_test__output_line_has(&child, "  call at ", "check_bad_input.c:"),
                  "the call is not named:\n%s", child.output);
    expect_lacks(&child, "allow_malloc_0=0", "[zero=");

    malloc_0_continue = 1;
    ar_test__run_child(body_malloc_0, &child);
    expect_exit_0(&child, "allow_malloc_0=0:on_error=continue");
    ck_assert_msg(ar_test__output_count(&child, "arheap: ERROR: invalid-argument") == 2,
                  "expected two reports (MALLOC(0), CALLOC(0, 8)):\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[zero=block calloc=block]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[zero live=3 bytes=1 allocs=3 errors=2]\n");
}
END_TEST

/* ------------------------------------------------------------- options */

/*
 * One option of each kind is first set to a value that is not its default,
 * then given malformed values one at a time (values with white space, a
 * separator, are in quoted_values_keep_their_spaces below): each must be
 * warned about,
 * naming the option and the value, counted as one problem, and leave the
 * value set before in force. The probes at the end show the values.
 */
typedef struct bad_value_s {
    const char *option;
    const char *value;
    const char *expectation; /* the warning's text between the name and "; got" */
} bad_value_t;

#define EXPECT_ACTION "takes abort, exit or continue"
#define EXPECT_EXITCODE "takes a whole number from 1 to 255"
#define EXPECT_LEAKCODE "takes a whole number from 0 to 255"
#define EXPECT_BOOL "takes 0 or 1 (or true/false, yes/no)"
#if SIZE_MAX == UINT64_MAX
#define EXPECT_SIZE "takes a whole number from 0 to 18446744073709551615"
#else
#define EXPECT_SIZE "takes a whole number from 0 to 4294967295"
#endif
#define EXPECT_ALIGN "takes a power of two from 1 to 4096"
#define EXPECT_SYMBOLIZER                                                                          \
    "names addr2line or llvm-symbolizer (a path to an executable file, or a name on PATH)"
#define EXPECT_ALIGN_RANGE "takes a whole number from 1 to 4096"

static const bad_value_t bad_values[] = {
    { "on_error", "", EXPECT_ACTION },
    { "on_error", "ABORT", EXPECT_ACTION },
    { "on_error", "continue=1", EXPECT_ACTION },
    { "on_error", "ab", EXPECT_ACTION },
    { "error_exitcode", "", EXPECT_EXITCODE },
    { "error_exitcode", "0", EXPECT_EXITCODE },
    { "error_exitcode", "256", EXPECT_EXITCODE },
    { "error_exitcode", "-1", EXPECT_EXITCODE },
    { "error_exitcode", "+5", EXPECT_EXITCODE },
    { "error_exitcode", "0x10", EXPECT_EXITCODE },
    { "error_exitcode", "4.2", EXPECT_EXITCODE },
    { "error_exitcode", "18446744073709551657", EXPECT_EXITCODE },
    { "leak_exitcode", "-0", EXPECT_LEAKCODE },
    { "leak_exitcode", "1000", EXPECT_LEAKCODE },
    { "report_json", "", EXPECT_BOOL },
    { "report_json", "2", EXPECT_BOOL },
    { "report_json", "-1", EXPECT_BOOL },
    { "report_json", "on", EXPECT_BOOL },
    { "report_json", "TRUE", EXPECT_BOOL },
    { "quarantine_bytes", "", EXPECT_SIZE },
    { "quarantine_bytes", "-1", EXPECT_SIZE },
    { "quarantine_bytes", "12x", EXPECT_SIZE },
    { "quarantine_bytes", "0x100", EXPECT_SIZE },
    { "quarantine_bytes", "1e6", EXPECT_SIZE },
    { "quarantine_bytes", "18446744073709551616", EXPECT_SIZE }, /* SIZE_MAX + 1 */
    { "quarantine_bytes", "99999999999999999999999999999", EXPECT_SIZE },
    { "guard_align", "96", EXPECT_ALIGN },
    { "guard_align", "3", EXPECT_ALIGN },
    { "guard_align", "0", EXPECT_ALIGN_RANGE },
    { "guard_align", "8192", EXPECT_ALIGN_RANGE },
    { "symbolizer", "no-such-addr2line", EXPECT_SYMBOLIZER },
    { "symbolizer", "objdump", EXPECT_SYMBOLIZER },
};

#define BAD_VALUE_COUNT (sizeof bad_values / sizeof bad_values[0])

static char option_report[128];

static void body_bad_values(void)
{
    char pair[256];
    snprintf(pair, sizeof pair,
             "on_error=exit:error_exitcode=42:leak_exitcode=7:report_json=1:"
             "quarantine_bytes=0:report_path=%s",
             option_report);
    if (ar_heap__set_options(pair) != 0)
        _exit(3);
    for (size_t i = 0; i < BAD_VALUE_COUNT; i++) {
        snprintf(pair, sizeof pair, "%s=%s", bad_values[i].option, bad_values[i].value);
        say("[problems %zu=%d]\n", i, ar_heap__set_options(pair));
    }
    /* report_path: a value too long for it, then a long unknown value. */
    static char long_pair[100032];
    memcpy(long_pair, "report_path=", 12);
    memset(long_pair + 12, 'p', 1024);
    long_pair[12 + 1024] = '\0';
    say("[problems path 1024=%d]\n", ar_heap__set_options(long_pair));
    memset(long_pair + 12, 'p', 100000);
    long_pair[12 + 100000] = '\0';
    say("[problems path 100000=%d]\n", ar_heap__set_options(long_pair));
    /* Probes. quarantine_bytes=0: a freed block is not held. */
    char *p = AR__HEAP__MALLOC(8, "probe");
    AR__HEAP__FREE(p);
    say("[held=%zu]\n", ar_test__stats().quarantine_blocks);
    /* report_path: the report goes to the file set first. */
    ar_heap__memory_report();
    /* report_json=1, on_error=exit, error_exitcode=42. */
    AR__HEAP__FREE(p);
    say("[survived]\n");
}

START_TEST(malformed_values_of_every_kind_are_warned_about_and_the_previous_value_kept)
{
    ar_test_child_t child;
    char expect[512], report[4096];
    snprintf(option_report, sizeof option_report, "check_bad_input.%ld.report.log",
             (long)getpid());
    ar_test__run_child(body_bad_values, &child);
    ck_assert_msg(child.exited && child.exit_code == 42, "error_exitcode not kept:\n%s",
                  child.output);
    for (size_t i = 0; i < BAD_VALUE_COUNT; i++) {
        snprintf(expect, sizeof expect,
                 "arheap: warning: ar_heap__set_options: option '%s' %s; got '%s' (ignored)\n",
                 bad_values[i].option, bad_values[i].expectation, bad_values[i].value);
        AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
        snprintf(expect, sizeof expect, "[problems %zu=1]\n", i);
        AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
    }
    ck_assert_int_eq(ar_test__output_count(&child, "option 'report_path' has a value that is "
                                                   "too long\n"), 2);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[problems path 1024=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[problems path 100000=1]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: warning: "), (int)BAD_VALUE_COUNT + 2);
    /* The values set first are all still in force. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[held=0]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "{\"tool\":\"arheap\",\"error\":\"double-free\"");
    ck_assert(!ar_test__output_has(&child, "[survived]"));
    ck_assert_msg(ar_proc__read_file(option_report, report, sizeof report) > 0,
                  "no report in %s; output:\n%s", option_report, child.output);
    unlink(option_report);
    ck_assert_msg(strstr(report, "No memory leaks detected.") != NULL, "report:\n%s", report);
}
END_TEST

static void body_bad_pairs(void)
{
    static char text[100100];
    (void)ar_heap__set_options("on_error=continue:report_path=");
    /* Empty pairs are not problems. */
    say("[empty=%d]\n", ar_heap__set_options(":::"));
    say("[empty around=%d]\n", ar_heap__set_options("::leak_exitcode=0::"));
    /* A pair with no key. */
    say("[no key=%d]\n", ar_heap__set_options("=1"));
    say("[only equals=%d]\n", ar_heap__set_options("=="));
    /* Keys of 63, 64 and 100 000 bytes, all unknown. */
    memset(text, 'k', 63);
    strcpy(text + 63, "=1");
    say("[key 63=%d]\n", ar_heap__set_options(text));
    memset(text, 'k', 64);
    strcpy(text + 64, "=1");
    say("[key 64=%d]\n", ar_heap__set_options(text));
    memset(text, 'k', 100000);
    strcpy(text + 100000, "=1");
    say("[key 100000=%d]\n", ar_heap__set_options(text));
    /* An unknown key with a 100 000-byte value. */
    memcpy(text, "colour=", 7);
    memset(text + 7, 'v', 100000);
    text[100007] = '\0';
    say("[unknown long value=%d]\n", ar_heap__set_options(text));
    /* 200 pairs, every one a problem, in one string (each warning is a
     * line of ~90 bytes; the child's captured output holds 64 KiB). */
    text[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(text, "x=1:");
    say("[two hundred=%d]\n", ar_heap__set_options(text));
    make_bystander();
    prove_intact();
}

START_TEST(empty_and_malformed_pairs_and_long_keys_are_warned_about_once_each)
{
    ar_test_child_t child;
    char key[80];
    ar_test__run_child(body_bad_pairs, &child);
    expect_exit_0(&child, "bad pairs");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[empty=0]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[empty around=0]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[no key=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[only equals=1]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: warning: ar_heap__set_options: "
                                                   "unknown option '' ignored"), 2);
    memset(key, 'k', 63);
    key[63] = '\0';
    AR_TEST_ASSERT_OUTPUT_HAS(&child, key);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[key 63=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[key 64=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[key 100000=1]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: warning: ar_heap__set_options: "
                                                   "unknown option (a key of more than 63 "
                                                   "bytes)\n"), 2);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[unknown long value=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "unknown option 'colour' ignored");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[two hundred=200]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "unknown option 'x' ignored"), 200);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: warning: "), 206);
    expect_intact(&child, "bad pairs", "[after live=1 bytes=24 allocs=1 errors=0]\n");
}
END_TEST

static void body_env_bad_values(void)
{
    /* Set from code before the first use, then malformed in the
     * environment: the value from code stays. */
    (void)ar_heap__set_options("on_error=exit:error_exitcode=42:leak_report=0");
    setenv("AR_HEAP_OPTIONS", "error_exitcode=999:on_error=maybe:leak_report=2:nokey", 1);
    char *p = AR__HEAP__MALLOC(8, "env probe");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(malformed_environment_values_leave_the_values_set_from_code)
{
    ar_test_child_t child;
    ar_test__run_child(body_env_bad_values, &child);
    ck_assert_msg(child.exited && child.exit_code == 42, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: AR_HEAP_OPTIONS: option 'error_exitcode' "
                                      "takes a whole number from 1 to 255; got '999' (ignored)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: AR_HEAP_OPTIONS: option 'on_error' takes "
                                      "abort, exit or continue; got 'maybe' (ignored)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: AR_HEAP_OPTIONS: option 'leak_report' "
                                      "takes 0 or 1 (or true/false, yes/no); got '2' (ignored)\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: AR_HEAP_OPTIONS: unknown option 'nokey' "
                                      "ignored");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: double-free");
    /* leak_report=0 kept: no report at exit. */
    ck_assert(!ar_test__output_has(&child, "arheap: LEAK"));
}
END_TEST

/* -------------------------------------------------- unwritable report paths */

enum report_path_kind {
    PATH_DIRECTORY,  /* EISDIR */
    PATH_READ_ONLY,  /* EACCES: a directory the process may not write */
    PATH_NOT_DIR,    /* ENOTDIR: a regular file used as a directory */
    PATH_TOO_LONG,   /* ENAMETOOLONG: a 1023-byte name */
    PATH_MISSING_ABS, /* ENOENT: /nonexistent/dir/x.log */
    PATH_KINDS
};

static const char *const report_path_names[PATH_KINDS] = {
    "a directory", "a read-only directory", "a file as a directory", "a 1023-byte name",
    "/nonexistent/dir/x.log",
};

static int report_path_kind;
static char report_path[1100];  /* the path the child is given */
static char read_only_dir[64];  /* made by the parent for PATH_READ_ONLY */

static void body_unwritable(void)
{
    char opt[1200];
    if (report_path_kind == PATH_READ_ONLY && geteuid() == 0) {
        /* root writes anywhere: become nobody to be refused. */
        if (setgid(65534) != 0 || setuid(65534) != 0) {
            say("[cannot drop root]\n");
            return;
        }
    }
    (void)ar_heap__set_options("on_error=continue");
    snprintf(opt, sizeof opt, "report_path=%s", report_path);
    if (ar_heap__set_options(opt) != 0)
        _exit(3);
    make_bystander();
    char *leak = AR__HEAP__MALLOC(77, "leaked with nowhere to write");
    (void)leak;
    ar_heap__memory_report();
    ar_heap__memory_report(); /* and again: the fallback is not a one-off */
    say_state("after");
}

START_TEST(an_unwritable_report_path_falls_back_to_stderr_naming_the_reason)
{
    static const char *const reasons[PATH_KINDS] = {
        "' (errno 21: is a directory); ", "' (errno 13: permission denied); ", "' (errno 20); ",
        "' (errno 36); ", "' (errno 2: no such directory); ",
    };
    ar_test_child_t child;
    char expect[1400];
    const char *label = report_path_names[_i];
    report_path_kind = _i;
    switch (_i) {
    case PATH_DIRECTORY:
        strcpy(report_path, ".");
        break;
    case PATH_READ_ONLY:
        strcpy(read_only_dir, "/tmp/arheap-read-only-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(read_only_dir));
        ck_assert_int_eq(chmod(read_only_dir, 0555), 0);
        snprintf(report_path, sizeof report_path, "%s/x.log", read_only_dir);
        break;
    case PATH_NOT_DIR:
        strcpy(report_path, "/dev/null/x.log");
        break;
    case PATH_TOO_LONG:
        memset(report_path, 'n', 1023);
        report_path[1023] = '\0';
        break;
    case PATH_MISSING_ABS:
        strcpy(report_path, "/nonexistent/dir/x.log");
        break;
    }
    ar_test__run_child(body_unwritable, &child);
    if (_i == PATH_READ_ONLY)
        rmdir(read_only_dir);
    expect_exit_0(&child, label);
    ck_assert_msg(!ar_test__output_has(&child, "[cannot drop root]"),
                  "%s: could not become nobody to test a read-only directory", label);
    snprintf(expect, sizeof expect, "arheap: warning: cannot write the report file '%s%s"
             "writing the report to stderr instead\n", report_path, reasons[_i]);
    ck_assert_msg(ar_test__output_count(&child, expect) == 2, "%s: not twice \"%s\":\n%s", label,
                  expect, child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap memory report (pid "), 2);
    ck_assert_int_eq(ar_test__output_count(&child, "\"leaked with nowhere to write\"  thread "),
                     2);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: full report in stderr (above)\n"), 2);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: LEAK: 2 blocks (101 bytes) not "
                                                   "freed, from 2 sites"), 2);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[after live=2 bytes=101 allocs=2 errors=0]\n");
    expect_lacks(&child, label, "arheap: ERROR");
}
END_TEST

static void body_unwritable_at_exit(void)
{
    (void)ar_heap__set_options("report_path=/nonexistent/dir/x.log:leak_report=1:"
                               "leak_exitcode=9");
    char *leak = AR__HEAP__MALLOC(55, "leaked at exit");
    (void)leak;
    exit(0);
}

START_TEST(the_report_at_exit_falls_back_to_stderr_and_keeps_the_leak_exit_code)
{
    ar_test_child_t child;
    ar_test__run_child(body_unwritable_at_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 9, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: cannot write the report file "
                                      "'/nonexistent/dir/x.log' (errno 2: no such directory); "
                                      "writing the report to stderr instead\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap memory report (pid ");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  #1  55 bytes at 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (55 bytes) not freed, from 1 site");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: full report in stderr (above)\n");
}
END_TEST

/* ------------------------------------------------ fork while threads work */

/*
 * FORK_THREADS workers allocate and free while the main thread forks
 * FORK_ROUNDS times. The work is bounded and paced by rounds, so that each
 * fork is taken while every worker is in its loop whatever the scheduler
 * (Valgrind runs one thread at a time and can leave the forking thread
 * waiting for seconds behind workers that never block): in each round a
 * worker does FORK_BURST operations back to back, then one a millisecond,
 * at most FORK_TRICKLE of them, until the round's child has been checked;
 * the main thread forks once every worker is FORK_BURST / 4 operations
 * into the round. At most FORK_ROUNDS * (FORK_BURST + FORK_TRICKLE)
 * operations a worker. The child reads, in its copy of the memory, which
 * workers were in their round's loop at the fork (all must be) and which
 * were inside an arheap call (a figure, not asserted).
 */
enum { FORK_THREADS = 3, FORK_ROUNDS = 12, FORK_KEEP = 32, FORK_BURST = 400, FORK_TRICKLE = 2000 };

static atomic_int fork_taken;                  /* rounds done; FORK_ROUNDS stops the workers */
static atomic_int fork_round_of[FORK_THREADS]; /* the round each worker is in */
static atomic_int fork_ops_of[FORK_THREADS];   /* its operations in that round */
static atomic_int fork_busy[FORK_THREADS];     /* 1 while it is in the round's loop */
static atomic_int fork_inside[FORK_THREADS];   /* 1 while it is in an arheap call */
static atomic_long fork_total_ops;
static const char *fork_options;

static void *fork_worker(void *arg)
{
    size_t me = (size_t)(uintptr_t)arg;
    uint64_t rng = (uint64_t)me * 0x9e3779b97f4a7c15ULL + 1;
    void *kept[FORK_KEEP] = { 0 };
    for (int round = 0; round < FORK_ROUNDS; round++) {
        atomic_store(&fork_ops_of[me], 0);
        atomic_store(&fork_round_of[me], round);
        atomic_store(&fork_busy[me], 1);
        for (int n = 0; n < FORK_BURST + FORK_TRICKLE && atomic_load(&fork_taken) == round; n++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            size_t slot = (size_t)(rng % FORK_KEEP);
            atomic_store(&fork_inside[me], 1);
            if (kept[slot] != NULL) {
                AR__HEAP__FREE(kept[slot]);
                kept[slot] = NULL;
            } else if (rng & 0x100) {
                kept[slot] = AR__HEAP__MALLOC(1 + (size_t)((rng >> 20) % 300), "worker block");
            } else {
                kept[slot] = AR__HEAP__STRDUP("a worker's string", "worker string");
            }
            atomic_store(&fork_inside[me], 0);
            atomic_fetch_add(&fork_ops_of[me], 1);
            atomic_fetch_add(&fork_total_ops, 1);
            if (n >= FORK_BURST)
                usleep(1000);
        }
        atomic_store(&fork_busy[me], 0);
        while (atomic_load(&fork_taken) == round)
            usleep(1000);
    }
    for (size_t i = 0; i < FORK_KEEP; i++)
        AR__HEAP__FREE(kept[i]);
    return NULL;
}

/* In the child of fork(), the only thread: say what the workers were
 * doing at the fork, then allocate, free, report a leak and a double
 * free. alarm() turns a deadlock into SIGALRM. */
static void body_fork_child(void)
{
    alarm(20);
    int busy = 0, inside = 0;
    for (size_t i = 0; i < FORK_THREADS; i++) {
        busy += atomic_load(&fork_busy[i]);
        inside += atomic_load(&fork_inside[i]);
    }
    say("[busy=%d][inside=%d]\n", busy, inside);
    ar_heap_stats_t before = ar_test__stats();
    char *leak = AR__HEAP__MALLOC(100000, "fork child leak");
    char *twice = AR__HEAP__MALLOC(10, "fork child block");
    ar_heap_stats_t during = ar_test__stats();
    say("[counts %s]\n", during.live_blocks == before.live_blocks + 2 &&
                                 during.live_bytes == before.live_bytes + 100010
                             ? "agree"
                             : "disagree");
    say("[pid=%ld]\n", (long)getpid());
    (void)leak;
    ar_heap__memory_report();
    ar_test__note("first", __LINE__ + 1);
    AR__HEAP__FREE(twice);
    ar_test__note("second", __LINE__ + 1);
    AR__HEAP__FREE(twice);
    say("[survived]\n");
}

static ar_test_child_t fork_grandchild;

/* Wait until every worker is FORK_BURST / 4 operations into `round`;
 * 0 when that takes more than 20 s. */
static int fork_workers_started(int round)
{
    for (int waited = 0; waited < 200000; waited++) {
        int ready = 0;
        for (size_t i = 0; i < FORK_THREADS; i++)
            ready += atomic_load(&fork_round_of[i]) == round &&
                     atomic_load(&fork_ops_of[i]) >= FORK_BURST / 4;
        if (ready == FORK_THREADS)
            return 1;
        usleep(100);
    }
    return 0;
}

static void body_fork_with_threads(void)
{
    (void)ar_heap__set_options(fork_options);
    for (size_t i = 0; i < FORK_THREADS; i++)
        atomic_store(&fork_round_of[i], -1);
    pthread_t threads[FORK_THREADS];
    for (size_t i = 0; i < FORK_THREADS; i++)
        if (pthread_create(&threads[i], NULL, fork_worker, (void *)(uintptr_t)i) != 0)
            _exit(3);
    char site[64], line[160], pid[32], busy[16], inside[16];
    int inside_total = 0;
    for (int round = 0; round < FORK_ROUNDS; round++) {
        if (!fork_workers_started(round)) {
            say("[round %d: FAIL the workers did not start the round]\n", round);
            break;
        }
        ar_test__run_child(body_fork_child, &fork_grandchild);
        const ar_test_child_t *g = &fork_grandchild;
        const char *problem = NULL;
        if (g->signaled && g->signal == SIGALRM)
            problem = "deadlock (SIGALRM)";
        else if (!(g->signaled && g->signal == SIGABRT))
            problem = "did not abort";
        else if (!ar_test__output_has(g, "[busy=") ||
                 atoi(said(g, "busy", busy, sizeof busy)) != FORK_THREADS)
            problem = "the fork was not taken while every worker was working";
        else if (!ar_test__output_has(g, "[counts agree]"))
            problem = "counts disagree";
        else if (!ar_test__output_has(g, "arheap: LEAK: ") ||
                 !ar_test__output_has(g, ": 100000 bytes in 1 block (\"fork child leak\")"))
            problem = "no leak report of the child's block";
        else if (!ar_test__output_has(g, "arheap: ERROR: double-free of 0x") ||
                 !ar_test__output_has(g, "  block: 10 bytes \"fork child block\""))
            problem = "no double-free report";
        else if (ar_test__output_has(g, "[survived]"))
            problem = "survived the double free";
        if (problem == NULL) {
            ar_test__site(site, sizeof site, __FILE__, ar_test__note_value(g, "second"));
            snprintf(line, sizeof line, "%s in thread %s", site, said(g, "pid", pid, sizeof pid));
            if (!ar_test__output_line_has(g, "  free at ", line))
                problem = "the report does not name the child's own thread and site";
        }
        atomic_store(&fork_taken, round + 1);
        if (problem != NULL) {
            say("[round %d: FAIL %s]\n", round, problem);
            (void)!write(STDOUT_FILENO, g->output, g->output_len);
            break;
        }
        inside_total += atoi(said(g, "inside", inside, sizeof inside));
        say("[round %d: ok]\n", round);
    }
    atomic_store(&fork_taken, FORK_ROUNDS);
    for (size_t i = 0; i < FORK_THREADS; i++)
        pthread_join(threads[i], NULL);
    (void)ar_heap__set_options("report_path=");
    say("[worker operations %ld, workers inside a call at the forks %d]\n",
        atomic_load(&fork_total_ops), inside_total);
    say_state("joined");
}

static const char *const fork_option_sets[] = {
    "leak_report=0:report_path=",
    "leak_report=0:report_path=:stack_depth=4:quarantine_bytes=65536:guard=1:guard_sample=4",
};

START_TEST(a_child_forked_while_threads_allocate_can_allocate_free_and_report)
{
    ar_test_child_t child;
    fork_options = fork_option_sets[_i];
    ar_test__run_child(body_fork_with_threads, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "options %s:\n%s", fork_options,
                  child.output);
    ck_assert_msg(!ar_test__output_has(&child, "FAIL"), "options %s:\n%s", fork_options,
                  child.output);
    ck_assert_msg(ar_test__output_count(&child, ": ok]") == FORK_ROUNDS, "options %s:\n%s",
                  fork_options, child.output);
    /* The workers freed all they kept: nothing live, nothing reported. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[joined live=0 bytes=0 allocs=");
    ck_assert_msg(ar_test__output_has(&child, " errors=0]\n"), "output:\n%s", child.output);
}
END_TEST

/* --------------------------------------------- errors in a damaged heap */

/* Write one byte of a block's canary zone from outside the compiler's
 * view, as a buggy program does. */
static void damage(char *p, long offset)
{
    char *q = ar_test__opaque(p);
    q[offset] ^= 0x5a;
}

enum { DAMAGED_LIVE = 24, DAMAGED_FREED = 8 };

static void body_many_damaged(void)
{
    (void)ar_heap__set_options("on_error=continue:report_path=");
    make_bystander();
    char *live[DAMAGED_LIVE];
    for (int i = 0; i < DAMAGED_LIVE; i++) {
        live[i] = AR__HEAP__MALLOC(13 + (size_t)i, "damaged live");
        damage(live[i], i % 2 == 0 ? 13 + i : -1 - (i % 16));
    }
    for (int i = 0; i < DAMAGED_FREED; i++) {
        char *f = AR__HEAP__MALLOC(32, "damaged freed");
        AR__HEAP__FREE(f);
        damage(f, i); /* a write after free, into the quarantine's poison */
    }
    say("[check_all=%zu]\n", ar_heap__check_all());
    say("[check_again=%zu]\n", ar_heap__check_all());
    for (int i = 0; i < DAMAGED_LIVE; i++)
        AR__HEAP__FREE(live[i]);
    say_state("freed");
    prove_intact();
}

START_TEST(many_damaged_blocks_at_once_are_each_reported_once_and_the_heap_goes_on)
{
    ar_test_child_t child;
    ar_test__run_child(body_many_damaged, &child);
    expect_exit_0(&child, "many damaged");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[check_all=32]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[check_again=0]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: heap-buffer-overflow"), 12);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: heap-buffer-underflow"), 12);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: heap-use-after-free"), 8);
    ck_assert_int_eq(ar_test__output_count(&child, "SUMMARY: arheap: "), 32);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[freed live=1 bytes=24 allocs=33 errors=32]\n");
    expect_intact(&child, "many damaged", "[after live=1 bytes=24 allocs=33 errors=32]\n");
}
END_TEST

enum { EVICTED_DAMAGED = 10 };

static void body_eviction_overflow(void)
{
    /* Room for the ten 64-byte blocks (144 bytes each with canaries and
     * bookkeeping); the 4 KiB block freed last pushes all of them out at
     * once. Their memory is then free but not reused: their poison waits
     * for the next check or the reuse of their memory, whichever comes
     * first. */
    (void)ar_heap__set_options("on_error=continue:report_path=:quarantine_bytes=2048");
    make_bystander();
    for (int i = 0; i < EVICTED_DAMAGED; i++) {
        char *f = AR__HEAP__MALLOC(64, "written after free");
        AR__HEAP__FREE(f);
        damage(f, 5);
    }
    char *big = AR__HEAP__MALLOC(4096, "pushes the quarantine out");
    AR__HEAP__FREE(big);
    say("[evicted errors=%zu]\n", ar_test__stats().errors_reported);
    say("[check_all=%zu]\n", ar_heap__check_all());
    say("[check_again=%zu]\n", ar_heap__check_all());
    prove_intact();
}

START_TEST(damaged_blocks_that_left_the_quarantine_are_found_by_the_next_check)
{
    ar_test_child_t child;
    ar_test__run_child(body_eviction_overflow, &child);
    expect_exit_0(&child, "eviction");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[evicted errors=0]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[check_all=10]\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: heap-use-after-free"), 10);
    ck_assert_int_eq(ar_test__output_count(&child, "  found by ar_heap__check_all()\n"), 10);
    /* The check restored their poison: nothing is left to find, and
     * their reuse (prove_intact allocates) finds nothing either. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[check_again=0]\n");
    expect_intact(&child, "eviction", "[after live=1 bytes=24 allocs=12 errors=10]");
}
END_TEST

#if !AR_BAD_INPUT_SANITIZER_MALLOC
/*
 * glibc's own metadata trashed: a freed 40-byte chunk's tcache link is
 * overwritten, so the next-but-one malloc(40) makes glibc abort
 * ("malloc(): unaligned tcache chunk detected"); the control case shows
 * that. arheap's reports allocate nothing, so an error found after the
 * trashing is still reported in full, as are the check and the leak
 * report. (arheap's own blocks come from another size class.)
 */
static int trash_control;

enum { TRASH_DRAIN = 64 };
static void *trash_drained[TRASH_DRAIN];

static void trash_libc_heap(void)
{
    /* Empty glibc's cache of 40-byte chunks first. Whatever ran before
     * (paths in the environment, Check's own strings) may have left its
     * tcache bin full, and then a and b would go to a fastbin behind it and
     * the next two malloc(40) would never reach the trashed link. The
     * drained chunks stay allocated: giving them back would refill the bin. */
    for (int i = 0; i < TRASH_DRAIN; i++)
        trash_drained[i] = ar_test__opaque(malloc(40));
    /* Both through the escape hatch: a malloc/free pair the compiler can
     * see through may be deleted, and with only one chunk cached glibc's
     * count says the bin is empty before the trashed link is read. */
    char *a = ar_test__opaque(malloc(40));
    char *b = ar_test__opaque(malloc(40));
    char *stale = ar_test__opaque(a); /* the compiler cannot see it is a */
    free(b);
    free(a);
    memset(stale, 0x41, 16); /* tcache next and key */
}

static void body_trashed_heap(void)
{
    (void)ar_heap__set_options("report_path=");
    make_bystander();
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(13, "freed twice in a trashed heap");
    trash_libc_heap();
    if (trash_control) {
        void *x = malloc(40);
        void *y = malloc(40);
        say("[control survived %p %p]\n", x, y);
        return;
    }
    say("[check_all=%zu]\n", ar_heap__check_all());
    ar_heap__memory_report();
    AR__HEAP__FREE(p);
    ar_test__note("second", __LINE__ + 1);
    AR__HEAP__FREE(p);
    say("[survived]\n");
}

START_TEST(an_error_is_reported_in_full_after_libcs_heap_metadata_is_trashed)
{
    if (ar_test__skip_under_valgrind(__func__, "Memcheck replaces glibc's malloc: there is no "
                                               "tcache to trash, and the control run, which must "
                                               "crash, survives"))
        return;
    ar_test_child_t child;
    trash_control = 1;
    ar_test__run_child(body_trashed_heap, &child);
    ck_assert_msg(child.signaled && !ar_test__output_has(&child, "[control survived"),
                  "the control survived: the trashing does not damage glibc's heap:\n%s",
                  child.output);
    trash_control = 0;
    ar_test__run_child(body_trashed_heap, &child);
    expect_abort(&child, "trashed heap");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[check_all=0]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 2 blocks (37 bytes) not freed, from 2 "
                                      "sites");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: double-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 13 bytes \"freed twice in a trashed heap\"");
    AR_TEST_ASSERT_SITE(&child, "  allocated at ", "alloc");
    AR_TEST_ASSERT_SITE(&child, "SUMMARY: arheap: double-free at ", "second");
    ck_assert(!ar_test__output_has(&child, "[survived]"));
}
END_TEST

/*
 * An overflow that runs on past the tail canary into the next chunk's
 * header, found by a free with no quarantine: arheap must report it
 * before it hands the block back to libc, whose free() then sees the
 * damaged header and aborts on its own ("free(): invalid next size").
 */
static void body_overflow_into_libc(void)
{
    (void)ar_heap__set_options("report_path=:quarantine_bytes=0");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(2000, "overflows into libc's next chunk");
    char *next = malloc(3000);
    /* The block's memory from libc is 2032 bytes (16 head, 2000, 16
     * tail): user offsets 2016..2023 are the next chunk's prev_size,
     * 2024..2031 its size. */
    memset(ar_test__opaque(p) + 2000, 0x61, 32);
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    free(next);
    say("[survived]\n");
}

START_TEST(an_overflow_into_libcs_next_chunk_is_reported_before_libc_sees_it)
{
    ar_test_child_t child;
    ar_test__run_child(body_overflow_into_libc, &child);
    expect_abort(&child, "overflow into libc");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: heap-buffer-overflow on block 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 2000 bytes \"overflows into libc's next chunk\"");
    AR_TEST_ASSERT_SITE(&child, "  found by free at ", "free");
}
END_TEST

/* An overflow with the quarantine on and on_error=continue: the free
 * reports it and repairs the canaries, but libc's header of the next
 * chunk stays damaged; when the block later leaves the quarantine it must
 * still not be given back. The overflow clears the next chunk's
 * PREV_INUSE bit (its size field, user offsets 2024..2031, as above) and
 * leaves the size itself valid, so libc works on as long as it is not
 * handed the block: free() of it aborts with "double free or corruption
 * (!prev)". `next` stays allocated for the same reason. */
static void body_overflow_into_libc_then_evicted(void)
{
    (void)ar_heap__set_options("report_path=:on_error=continue:quarantine_bytes=4096");
    char *p = AR__HEAP__MALLOC(2000, "overflows into libc's next chunk");
    char *next = malloc(3000);
    unsigned char *overflow = (unsigned char *)ar_test__opaque(p) + 2000;
    uint64_t size_field;
    memcpy(&size_field, overflow + 24, sizeof size_field);
    memset(overflow, 0x61, 24);
    size_field &= ~(uint64_t)1;
    memcpy(overflow + 24, &size_field, sizeof size_field);
    AR__HEAP__FREE(p);
    for (int i = 0; i < 8; i++) /* 8 x 2 KiB: pushes the block out of 4 KiB */
        AR__HEAP__FREE(AR__HEAP__MALLOC(2000, "pushes it out"));
    ar_heap_stats_t stats;
    ar_heap__get_stats(&stats);
    ar_test__note("held", (int)stats.quarantine_blocks);
    ar_test__note("next", next != NULL);
    say("[survived]\n");
}

START_TEST(a_block_overflowed_into_libc_is_kept_when_it_leaves_the_quarantine)
{
    if (ar_test__skip_under_valgrind(__func__, "Memcheck replaces glibc's malloc: there is no "
                                               "chunk header after the block to damage"))
        return;
    ar_test_child_t child;
    ar_test__run_child(body_overflow_into_libc_then_evicted, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "child did not exit 0:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[survived]");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: ERROR: heap-buffer-overflow"), 1);
    ck_assert_int_lt(ar_test__note_value(&child, "held"), 8);
}
END_TEST
#endif /* !AR_BAD_INPUT_SANITIZER_MALLOC */

/* ------------------------------------------------------------- suite */

static Suite *bad_input_suite(void)
{
    Suite *s = suite_create("bad_input");
    TCase *frees = tcase_create("frees");
    tcase_add_test(frees, free_of_null_is_a_no_op_with_no_report_before_and_after_the_first_use);
    tcase_add_loop_test(frees, foreign_pointers_are_invalid_frees_never_dereferenced_and_change_nothing,
                        0, FOREIGN_KINDS);
    tcase_add_loop_test(frees, foreign_pointers_abort_with_a_full_report_not_a_crash, 0,
                        FOREIGN_KINDS);
    tcase_add_test(frees, strdup_of_null_allocates_nothing_and_counts_one_error_per_call);
    tcase_add_loop_test(frees,
                        realloc_of_a_freed_block_returns_null_names_the_double_free_and_allocates_nothing,
                        0, (int)(sizeof freed_realloc_cases / sizeof freed_realloc_cases[0]));
    tcase_add_loop_test(frees, a_double_free_named_from_any_record_counts_one_error, 0,
                        (int)(sizeof freed_realloc_cases / sizeof freed_realloc_cases[0]));
    suite_add_tcase(s, frees);

    TCase *sizes = tcase_create("sizes");
    tcase_add_loop_test(sizes, sizes_near_size_max_return_null_with_enomem_and_report_nothing, 0,
                        (int)(sizeof huge_cases / sizeof huge_cases[0]));
    tcase_add_test(sizes, calloc_with_a_zero_factor_is_a_zero_byte_block_not_an_overflow);
    tcase_add_test(sizes, allow_malloc_0_0_reports_an_allocation_of_0_bytes_at_its_call);
    suite_add_tcase(s, sizes);

    TCase *options = tcase_create("options");
    tcase_add_test(options,
                   malformed_values_of_every_kind_are_warned_about_and_the_previous_value_kept);
    tcase_add_test(options, empty_and_malformed_pairs_and_long_keys_are_warned_about_once_each);
    tcase_add_test(options, malformed_environment_values_leave_the_values_set_from_code);
    tcase_add_loop_test(options, an_unwritable_report_path_falls_back_to_stderr_naming_the_reason,
                        0, PATH_KINDS);
    tcase_add_test(options, the_report_at_exit_falls_back_to_stderr_and_keeps_the_leak_exit_code);
    suite_add_tcase(s, options);

    TCase *fork_case = tcase_create("fork");
    tcase_set_timeout(fork_case, 60);
    tcase_add_loop_test(fork_case, a_child_forked_while_threads_allocate_can_allocate_free_and_report,
                        0, (int)(sizeof fork_option_sets / sizeof fork_option_sets[0]));
    suite_add_tcase(s, fork_case);

    TCase *damaged = tcase_create("damaged heap");
    tcase_add_test(damaged,
                   many_damaged_blocks_at_once_are_each_reported_once_and_the_heap_goes_on);
    tcase_add_test(damaged, damaged_blocks_that_left_the_quarantine_are_found_by_the_next_check);
#if !AR_BAD_INPUT_SANITIZER_MALLOC
    tcase_add_test(damaged, an_error_is_reported_in_full_after_libcs_heap_metadata_is_trashed);
    tcase_add_test(damaged, an_overflow_into_libcs_next_chunk_is_reported_before_libc_sees_it);
    tcase_add_test(damaged, a_block_overflowed_into_libc_is_kept_when_it_leaves_the_quarantine);
#endif
    suite_add_tcase(s, damaged);
    return s;
}

int main(void)
{
    /* Children set their own options; none may inherit the caller's. */
    unsetenv("AR_HEAP_OPTIONS");
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(bad_input_suite(), 1);
}
