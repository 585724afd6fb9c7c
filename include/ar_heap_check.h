/*
 * ar_heap_check.h: per-test leak checks for Check (libcheck) suites.
 *
 * In a test suite the question is not "did the process leak" but "did
 * this test leak". Two ways to ask it:
 *
 *   1. For every test of a TCase, a checked fixture:
 *
 *          tcase_add_checked_fixture(tc, ar_heap_check__setup,
 *                                    ar_heap_check__teardown);
 *
 *      A test that leaves blocks allocated fails, in fork and no-fork mode,
 *      and its message lists each block: size, address, allocation
 *      file:line, description.
 *
 *   2. Inside one test, around the code of interest:
 *
 *          ar_heap_mark_t mark = ar_heap__checkpoint();
 *          ...
 *          AR__HEAP__ASSERT_NO_LEAKS(mark);
 *
 * Blocks meant to outlive the test (a cache, a singleton) are excused with
 * ar_heap__allow_leak(ptr), or with a description containing
 * INTENTIONAL_LEAK_FOR_TESTING. A REALLOC inside the test counts as a new
 * allocation of the moved block. Against a release library the checks
 * find nothing and never fail.
 *
 * Include after <check.h> is available (this header includes it).
 */
#ifndef AR_HEAP_CHECK_H
#define AR_HEAP_CHECK_H

#include <check.h>
#include <stdio.h>

#include "ar_heap.h"

/* Bytes of block list a failure message holds; longer lists are cut.
 * Check refuses messages of 4096 bytes or more, its own text included. */
#define AR_HEAP_CHECK_MESSAGE_MAX 3072

/*
 * ar_heap_check__assert_no_leaks: fail the running test when blocks
 * allocated since `mark` are still live, listing them. `file` and `line`
 * name the assertion in the message (a line of 0: `file` is a phrase).
 */
static inline void ar_heap_check__assert_no_leaks(ar_heap_mark_t mark, const char *file, int line)
{
    char text[AR_HEAP_CHECK_MESSAGE_MAX];
    size_t leaked = ar_heap__leaks_since_text(mark, text, sizeof text);
    size_t len = 0;
    while (text[len] != '\0')
        len++;
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0'; /* Check ends the message itself */
    if (leaked != 0 && line > 0)
        ck_abort_msg("%s:%d: %zu %s leaked since the checkpoint:\n%s", file, line, leaked,
                     leaked == 1 ? "block" : "blocks", text);
    if (leaked != 0)
        ck_abort_msg("%s: %zu %s leaked:\n%s", file, leaked, leaked == 1 ? "block" : "blocks",
                     text);
}

/*
 * ar_heap_check__leak_message: the failure message of
 * AR__HEAP__ASSERT_NO_LEAKS into msg (size bytes, NUL-terminated; empty
 * when nothing leaked; with size 0 nothing is written and msg may be
 * NULL); returns the number of blocks leaked since mark.
 */
static inline size_t ar_heap_check__leak_message(ar_heap_mark_t mark, const char *file, int line,
                                                 char *msg, size_t size)
{
    char text[AR_HEAP_CHECK_MESSAGE_MAX];
    size_t leaked = ar_heap__leaks_since_text(mark, text, sizeof text);
    size_t len = 0;
    while (text[len] != '\0')
        len++;
    if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0'; /* Check ends the message itself */
    if (size == 0)
        return leaked; /* no room, not even for the NUL: nothing written */
    msg[0] = '\0';
    if (leaked != 0)
        snprintf(msg, size, "%s:%d: %zu %s leaked since the checkpoint:\n%s", file, line, leaked,
                 leaked == 1 ? "block" : "blocks", text);
    return leaked;
}

/*
 * AR__HEAP__ASSERT_NO_LEAKS(mark): the assertion. Check's own assertion is
 * expanded here, at the caller's line, so that Check records the failure
 * at the test's file:line (what its log and an editor jump to), not at a
 * line of this header; the message names that line too.
 */
#define AR__HEAP__ASSERT_NO_LEAKS(mark)                                                            \
    do {                                                                                           \
        char ar_heap_check_msg_[AR_HEAP_CHECK_MESSAGE_MAX + 512];                                  \
        ck_assert_msg(ar_heap_check__leak_message((mark), __FILE__, __LINE__, ar_heap_check_msg_, \
                                                  sizeof ar_heap_check_msg_) == 0,                 \
                      "%s", ar_heap_check_msg_);                                                   \
    } while (0)

/* The fixture's mark, one per including file. */
static inline ar_heap_mark_t *ar_heap_check__fixture_mark(void)
{
    static ar_heap_mark_t mark;
    return &mark;
}

/* ar_heap_check__setup: checked-fixture setup; takes the mark. */
static inline void ar_heap_check__setup(void)
{
    *ar_heap_check__fixture_mark() = ar_heap__checkpoint();
}

/* ar_heap_check__teardown: checked-fixture teardown; fails the test that
 * leaked, listing its blocks. */
static inline void ar_heap_check__teardown(void)
{
    ar_heap_check__assert_no_leaks(*ar_heap_check__fixture_mark(), "arheap: the test", 0);
}

#endif /* AR_HEAP_CHECK_H */
