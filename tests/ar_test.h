/*
 * ar_test.h: helpers shared by arheap's Check suites.
 *
 * Detection tests run the faulty code in a child process so the parent can
 * assert on how the child ended (exit code or signal) and on every byte it
 * wrote to stderr. Check's own fork mode already isolates each test; this
 * second fork is what lets one test see both the status and the report.
 */
#ifndef AR_TEST_H
#define AR_TEST_H

#include <check.h>
#include <stddef.h>

#include "ar_heap.h"

#define AR_TEST_OUTPUT_MAX 65536

typedef struct ar_test_child_s {
    int exited;                     /* 1 when the child called exit/_exit */
    int exit_code;                  /* its exit code when exited */
    int signaled;                   /* 1 when a signal ended the child */
    int signal;                     /* that signal */
    size_t output_len;              /* bytes captured */
    char output[AR_TEST_OUTPUT_MAX]; /* stderr and stdout, NUL-terminated */
} ar_test_child_t;

/* Run body() in a forked child with stdout and stderr captured into out.
 * The child exits 0 when body returns. */
void ar_test__run_child(void (*body)(void), ar_test_child_t *out);

/* 1 when the captured output contains needle. */
int ar_test__output_has(const ar_test_child_t *child, const char *needle);

/* Count of non-overlapping occurrences of needle in the captured output. */
int ar_test__output_count(const ar_test_child_t *child, const char *needle);

/* Assert the child aborted and its output contains needle. */
#define AR_TEST_ASSERT_ABORTED_WITH(child, needle) do { \
        ck_assert_msg((child)->signaled && (child)->signal == 6, \
                      "child did not abort (exited=%d code=%d signaled=%d signal=%d); output:\n%s", \
                      (child)->exited, (child)->exit_code, (child)->signaled, (child)->signal, \
                      (child)->output); \
        ck_assert_msg(ar_test__output_has((child), (needle)), \
                      "output lacks \"%s\":\n%s", (needle), (child)->output); \
    } while (0)

/* Assert the output contains needle, showing the output when it does not. */
#define AR_TEST_ASSERT_OUTPUT_HAS(child, needle) \
    ck_assert_msg(ar_test__output_has((child), (needle)), \
                  "output lacks \"%s\":\n%s", (needle), (child)->output)

/*
 * Notes let a child tell the parent a number, usually a source line:
 * the child calls ar_test__note("alloc", __LINE__ + 1) just before the line
 * of interest; the parent reads it back with ar_test__note_value() and
 * builds "file.c:<line>" to look for in the report.
 */
void ar_test__note(const char *name, int value);
int ar_test__note_value(const ar_test_child_t *child, const char *name);

/* 1 when some line of the output contains `prefix` followed, later on the
 * same line, by `needle`. */
int ar_test__output_line_has(const ar_test_child_t *child, const char *prefix,
                             const char *needle);

/* Assert that a line starting with `prefix` names this file at the line
 * the child noted as `note`. The EXPECT form starts a failure message
 * with `label`, for table-driven tests that name their case. */
#define AR_TEST_ASSERT_SITE(child, prefix, note) \
    ar_test__expect_site((child), "", (prefix), (note), __FILE__)
#define AR_TEST_EXPECT_SITE(child, label, prefix, note) \
    ar_test__expect_site((child), (label), (prefix), (note), __FILE__)
void ar_test__expect_site(const ar_test_child_t *child, const char *label, const char *prefix,
                          const char *note, const char *file);

/* Assert the output contains needle; a failure starts with `label`. */
void ar_test__expect_has(const ar_test_child_t *child, const char *label, const char *needle);

/* "<basename of file>:<line>" into buf (for site assertions). */
const char *ar_test__site(char *buf, size_t cap, const char *file, int line);

/*
 * Hide a pointer from the compiler: alloc_size lets it warn about, or
 * drop, the out-of-bounds accesses tests make on purpose. A volatile local
 * is not enough (gcc 12 -O2 still sees that the block never escapes and
 * deletes a store made just before exit()); storing the pointer in a
 * global makes the block escape, so every store through it must happen.
 */
char *ar_test__opaque(char *p);

/* Reading files and /proc without allocating: ar_proc__read_file,
 * ar_proc__count_mappings. */
#include "ar_proc.h"

/*
 * For a child body: run the program `program` of the build tree (a path
 * below $top_builddir, which make check sets; "." without it), with no
 * arguments and AR_HEAP_OPTIONS set to `options`. Does not return: when
 * the exec fails it prints "[exec PATH failed]" and exits 127.
 */
void ar_test__exec_built(const char *program, const char *options)
    __attribute__((noreturn));

/*
 * For the few tests that Valgrind can not run (make check-valgrind sets
 * AR_HEAP_TEST_VALGRIND=1): returns 1, after printing "SKIP under
 * Valgrind: <test>: <why>" to stderr, when the suite runs under Valgrind,
 * and the test then returns. Every caller says why in `why`.
 */
/* In a child: RLIMIT_AS set to the process's own size (from
 * /proc/self/statm), so that no new mapping is granted; _exit(3 or 4)
 * when it can not be set. */
void ar_test__limit_to_own_size(void);

int ar_test__skip_under_valgrind(const char *test, const char *why);

/*
 * The same for a build under AddressSanitizer (make check-sanitize; gcc's
 * __SANITIZE_ADDRESS__ or clang's address_sanitizer feature): returns 1,
 * after printing "SKIP under AddressSanitizer: <test>: <why>" to stderr.
 */
int ar_test__skip_under_asan(const char *test, const char *why);

/*
 * The same for a build under ThreadSanitizer (make check-sanitize-tsan;
 * gcc's __SANITIZE_THREAD__ or clang's thread_sanitizer feature):
 * returns 1, after printing "SKIP under ThreadSanitizer: <test>: <why>".
 */
int ar_test__skip_under_tsan(const char *test, const char *why);

/*
 * A workload's size for this run: `n` natively, `n / divisor` (at least 1)
 * under Valgrind (AR_HEAP_TEST_VALGRIND=1), where Memcheck runs a
 * program's threads one at a time and 20 to 50 times slower. For stress
 * loops whose assertions hold at any size; say in the test what shrinks.
 */
size_t ar_test__workload(size_t n, size_t divisor);

/* The heap's statistics now (ar_heap__get_stats), as a value. */
ar_heap_stats_t ar_test__stats(void);

/* Run the suite and return the process exit status for automake:
 * 0 all passed, 1 failures, 77 (skip) when needs_tracking is set and the
 * library was built without the debug heap. */
int ar_test__run_suite(Suite *suite, int needs_tracking);

#endif /* AR_TEST_H */
