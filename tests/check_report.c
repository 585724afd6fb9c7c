/*
 * check_report.c: the leak report says which blocks leaked and where.
 *
 * Every test writes its report to a file of its own (report_path) and
 * reads it back, or captures a child's stderr for the summary.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_fail_io.h"
#include "ar_heap.h"
#include "ar_test.h"

static char report[65536];
static char report_path[256];

/* A report path unique to this test process. */
static void use_report_file(void)
{
    char opt[320];
    snprintf(report_path, sizeof report_path, "check_report.%ld.report.log", (long)getpid());
    snprintf(opt, sizeof opt, "report_path=%s", report_path);
    ck_assert_int_eq(ar_heap__set_options(opt), 0);
}

static void read_report(void)
{
    long n = ar_proc__read_file(report_path, report, sizeof report);
    ck_assert_msg(n >= 0, "no report file %s", report_path);
    unlink(report_path);
}

/* The first report line that holds `prefix` and then, later on the same
 * line, `needle`; NULL when there is none. */
static const char *report_line(const char *prefix, const char *needle)
{
    const char *at = report;
    while ((at = strstr(at, prefix)) != NULL) {
        const char *rest = at + strlen(prefix);
        const char *eol = strchr(rest, '\n');
        const char *hit = strstr(rest, needle);
        if (hit != NULL && (eol == NULL || hit <= eol))
            return at;
        at += strlen(prefix);
    }
    return NULL;
}

#define ASSERT_REPORT_HAS(needle) \
    ck_assert_msg(strstr(report, (needle)) != NULL, "report lacks \"%s\":\n%s", (needle), report)

START_TEST(a_clean_run_reports_no_leaks)
{
    use_report_file();
    void *p = AR__HEAP__MALLOC(10, "freed");
    AR__HEAP__FREE(p);
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("No memory leaks detected.");
    ASSERT_REPORT_HAS("live blocks:           0\n");
    ASSERT_REPORT_HAS("total allocations:     1\n");
}
END_TEST

START_TEST(each_leaked_block_is_listed_with_site_size_description_and_number)
{
    use_report_file();
    void *freed = AR__HEAP__MALLOC(1, "freed first");
    int line = __LINE__ + 1;
    void *leak = AR__HEAP__MALLOC(77, "agent name");
    AR__HEAP__FREE(freed);
    ar_heap__memory_report();
    read_report();
    char expect[256];
    snprintf(expect, sizeof expect, "  #2  77 bytes at %p  ", leak);
    ASSERT_REPORT_HAS(expect);
    char site[128];
    snprintf(expect, sizeof expect, "%s  \"agent name\"  thread ",
             ar_test__site(site, sizeof site, __FILE__, line));
    ASSERT_REPORT_HAS(expect);
    ASSERT_REPORT_HAS("leaks:                 1 block, 77 bytes from 1 site\n");
    AR__HEAP__FREE(leak);
}
END_TEST

/* ------------------------------------------------------------ reachability */

/* Held where the scan must find it, cleared through volatile so that no
 * dead copy is left in a register or stack slot of ours. */
static void *volatile reach_global;
static _Thread_local void *volatile reach_tls;

__attribute__((noinline)) static void *reach_alloc(size_t n, const char *desc)
{
    void *p = AR__HEAP__MALLOC(n, desc);
    memset(p, 0, n);
    return p;
}

/* Burn the stack below us, so that no stale copy survives in it. A store
 * at a time through the volatile array: a memset of it (the volatile cast
 * away) is a dead store that clang removes, and the stale copies stayed. */
__attribute__((noinline)) static void reach_scrub(void)
{
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0;
}

START_TEST(reach_a_block_held_in_a_global_is_still_reachable_not_lost)
{
    if (ar_test__skip_under_valgrind(__func__, "under Memcheck a stale copy of the lost pointer stays in this test's frame (see doc/arheap.md Reachability)"))
        return;
    use_report_file();
    reach_global = reach_alloc(40, "held");
    void *volatile lost = reach_alloc(24, "lost");
    lost = NULL;
    (void)lost;
    reach_scrub();
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("definitely lost:       1 block, 24 bytes\n");
    ASSERT_REPORT_HAS("indirectly lost:       0 blocks, 0 bytes\n");
    ASSERT_REPORT_HAS("still reachable:       1 block, 40 bytes (counted as leaks");
    /* Linked mode: still reachable blocks are leaks too (AgeRun). */
    ASSERT_REPORT_HAS("\nActual memory leaks: 2 (64 bytes)\n");
}
END_TEST

START_TEST(reach_a_block_held_in_tls_is_still_reachable)
{
    use_report_file();
    reach_tls = reach_alloc(48, "tls");
    reach_scrub();
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("definitely lost:       0 blocks, 0 bytes\n");
    ASSERT_REPORT_HAS("still reachable:       1 block, 48 bytes");
}
END_TEST

static pthread_mutex_t reach_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reach_cond = PTHREAD_COND_INITIALIZER;
static int reach_ready;

static void *reach_holder(void *arg)
{
    (void)arg;
    void *volatile mine = reach_alloc(56, "thread stack");
    pthread_mutex_lock(&reach_lock);
    reach_ready = 1;
    pthread_cond_broadcast(&reach_cond);
    pthread_mutex_unlock(&reach_lock);
    for (;;)
        pause(); /* blocked, holding `mine` on its stack */
    return (void *)mine;
}

START_TEST(reach_a_block_on_a_blocked_threads_stack_is_still_reachable)
{
    if (ar_test__skip_under_valgrind(__func__, "under Memcheck a stale copy of the lost pointer stays in this test's frame (see doc/arheap.md Reachability)"))
        return;
    use_report_file();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, reach_holder, NULL), 0);
    pthread_mutex_lock(&reach_lock);
    while (!reach_ready)
        pthread_cond_wait(&reach_cond, &reach_lock);
    pthread_mutex_unlock(&reach_lock);
    void *volatile lost = reach_alloc(8, "lost");
    lost = NULL;
    (void)lost;
    reach_scrub();
    ar_heap__memory_report();
    read_report();
    /* The thread's own bookkeeping (its stack, TLS) may hold blocks of
     * libc's; the test's two are told apart by size. */
    ASSERT_REPORT_HAS("definitely lost:       1 block, 8 bytes\n");
    ck_assert_msg(strstr(report, "56 bytes at") != NULL, "%s", report);
}
END_TEST

/* A thread with every signal blocked does not park for the scan: its
 * stack is scanned whole, and the signal it never took is discarded
 * before the program's disposition comes back. Until stop 41 its block
 * was reported definitely lost, and the process died of the signal when
 * the thread unblocked it. */
static int blocked_stage; /* 1: holding, signals blocked; 2: report done; 3: unblocked */

static void blocked_stage_set(int stage)
{
    pthread_mutex_lock(&reach_lock);
    blocked_stage = stage;
    pthread_cond_broadcast(&reach_cond);
    pthread_mutex_unlock(&reach_lock);
}

static void blocked_stage_wait(int stage)
{
    pthread_mutex_lock(&reach_lock);
    while (blocked_stage < stage)
        pthread_cond_wait(&reach_cond, &reach_lock);
    pthread_mutex_unlock(&reach_lock);
}

static void *reach_blocked_holder(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    void *volatile mine = reach_alloc(72, "blocked thread's stack");
    blocked_stage_set(1);
    blocked_stage_wait(2);
    pthread_sigmask(SIG_UNBLOCK, &all, NULL); /* a pending signal would come now */
    blocked_stage_set(3);
    return (void *)mine;
}

START_TEST(reach_a_thread_with_signals_blocked_is_scanned_whole_and_survives)
{
    if (ar_test__skip_under_valgrind(__func__, "under Memcheck a stale copy of the lost pointer stays in this test's frame (see doc/arheap.md Reachability)"))
        return;
    use_report_file();
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, reach_blocked_holder, NULL), 0);
    blocked_stage_wait(1);
    void *volatile lost = reach_alloc(8, "lost");
    lost = NULL;
    (void)lost;
    reach_scrub();
    ar_heap__memory_report();
    blocked_stage_set(2);
    void *held = NULL;
    ck_assert_int_eq(pthread_join(t, &held), 0); /* it unblocked, and lives */
    read_report();
    ASSERT_REPORT_HAS("definitely lost:       1 block, 8 bytes\n");
    ck_assert_msg(strstr(report, "72 bytes at") != NULL, "%s", report);
    AR__HEAP__FREE(held);
}
END_TEST

/* A thread that waits for signals in sigwaitinfo (every signal blocked,
 * as sigwaitinfo wants them) is not sent the scan's: it would take it as
 * one of the program's, and the scan would wait for it in vain. Until
 * stop 42 it received it. */
static volatile sig_atomic_t waiter_got;

static void *reach_signal_waiter(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    void *volatile mine = reach_alloc(56, "signal waiter's stack");
    blocked_stage_set(1);
    siginfo_t info;
    int sig;
    do
        sig = sigwaitinfo(&all, &info);
    while (sig < 0 && errno == EINTR);
    waiter_got = sig;
    return (void *)mine;
}

START_TEST(reach_a_thread_in_sigwaitinfo_is_not_sent_the_scans_signal)
{
    if (ar_test__skip_under_valgrind(__func__, "Valgrind delivers signals itself"))
        return;
    use_report_file();
    blocked_stage = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, reach_signal_waiter, NULL), 0);
    blocked_stage_wait(1);
    struct timespec pause = { 0, 50 * 1000 * 1000 }; /* into sigwaitinfo */
    nanosleep(&pause, NULL);
    ar_heap__memory_report();
    ck_assert_int_eq(pthread_kill(t, SIGUSR1), 0);
    void *held = NULL;
    ck_assert_int_eq(pthread_join(t, &held), 0);
    ck_assert_msg(waiter_got == SIGUSR1, "the waiting thread received signal %d, not SIGUSR1 (%d)",
                  (int)waiter_got, SIGUSR1);
    read_report();
    ASSERT_REPORT_HAS("definitely lost:       0 blocks, 0 bytes\n");
    ck_assert_msg(strstr(report, "56 bytes at") != NULL, "%s", report);
    AR__HEAP__FREE(held);
}
END_TEST

/* A list of three blocks whose head pointer is gone: the head is lost,
 * the two it reaches are indirectly lost, listed under it. */
typedef struct reach_node_s {
    struct reach_node_s *next;
    char pad[24];
} reach_node_t;

__attribute__((noinline)) static void reach_make_lost_list(void)
{
    reach_node_t *tail = reach_alloc(sizeof *tail, "list tail");
    reach_node_t *middle = reach_alloc(sizeof *middle, "list middle");
    reach_node_t *head = reach_alloc(sizeof *head, "list head");
    middle->next = tail;
    head->next = middle;
}

START_TEST(reach_a_lost_lists_tail_is_indirectly_lost_under_its_head)
{
    if (ar_test__skip_under_valgrind(__func__, "under Memcheck a stale copy of the lost pointer stays in this test's frame (see doc/arheap.md Reachability)"))
        return;
    if (ar_test__skip_under_asan(__func__, "built by clang (as make check-sanitize does) the scan finds the lost list still reachable, as under Memcheck: a copy of its pointer survives the scrub (doc/testing.md)"))
        return;
    use_report_file();
    reach_make_lost_list();
    reach_scrub();
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("definitely lost:       1 block, 32 bytes\n");
    ASSERT_REPORT_HAS("indirectly lost:       2 blocks, 64 bytes\n");
    ASSERT_REPORT_HAS("still reachable:       0 blocks, 0 bytes");
}
END_TEST

START_TEST(reach_leak_scan_0_counts_every_live_block_as_a_leak)
{
    use_report_file();
    ar_heap__set_options("leak_scan=0");
    reach_global = reach_alloc(40, "held");
    ar_heap__memory_report();
    read_report();
    ck_assert_msg(strstr(report, "definitely lost:") == NULL, "%s", report);
    ASSERT_REPORT_HAS("leaks:                 1 block, 40 bytes from 1 site\n");
}
END_TEST

START_TEST(reach_an_unmapped_root_range_does_not_fault)
{
    use_report_file();
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    ck_assert(m != MAP_FAILED);
    ck_assert_int_eq(munmap(m + page, (size_t)page), 0);
    ck_assert_int_eq(mprotect(m + 2 * page, (size_t)page, PROT_NONE), 0);
    reach_global = m + page; /* a pointer into the hole: never a root range */
    reach_tls = reach_alloc(8, "held");
    ar_heap__memory_report();
    read_report();
    /* The scan ran over the holes (their pages are not read). */
    ASSERT_REPORT_HAS("still reachable:       1 block, 8 bytes");
}
END_TEST

START_TEST(leak_sites_are_grouped_with_counts_and_bytes_largest_first)
{
    use_report_file();
    void *small[3];
    int small_line = __LINE__ + 2;
    for (int i = 0; i < 3; i++)
        small[i] = AR__HEAP__MALLOC(10, "small");
    int big_line = __LINE__ + 1;
    void *big = AR__HEAP__MALLOC(100, "big");
    ar_heap__memory_report();
    read_report();
    char site[128], expect[256];
    snprintf(expect, sizeof expect, "%s  \"big\"\n",
             ar_test__site(site, sizeof site, __FILE__, big_line));
    const char *big_at = report_line("\n         100        1  ", expect);
    ck_assert_msg(big_at != NULL, "no big site line \"%s\":\n%s", expect, report);
    snprintf(expect, sizeof expect, "%s  \"small\"\n",
             ar_test__site(site, sizeof site, __FILE__, small_line));
    const char *small_at = report_line("\n          30        3  ", expect);
    ck_assert_msg(small_at != NULL, "no small site line \"%s\":\n%s", expect, report);
    ck_assert_msg(big_at < small_at, "the larger site is not first:\n%s", report);
    ASSERT_REPORT_HAS("leaks:                 4 blocks, 130 bytes from 2 sites\n");
    for (int i = 0; i < 3; i++)
        AR__HEAP__FREE(small[i]);
    AR__HEAP__FREE(big);
}
END_TEST

START_TEST(leaked_blocks_are_listed_in_allocation_order)
{
    use_report_file();
    void *a = AR__HEAP__MALLOC(1, "first leak");
    void *b = AR__HEAP__MALLOC(2, "second leak");
    void *c = AR__HEAP__MALLOC(3, "third leak");
    ar_heap__memory_report();
    read_report();
    const char *pa = strstr(report, "\"first leak\"  thread");
    const char *pb = strstr(report, "\"second leak\"  thread");
    const char *pc = strstr(report, "\"third leak\"  thread");
    ck_assert(pa != NULL && pb != NULL && pc != NULL);
    ck_assert(pa < pb && pb < pc);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    AR__HEAP__FREE(c);
}
END_TEST

START_TEST(intentional_leaks_are_listed_apart_and_not_counted)
{
    use_report_file();
    void *meant = AR__HEAP__MALLOC(40, "INTENTIONAL_LEAK_FOR_TESTING fixture");
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("leaks:                 0 blocks, 0 bytes from 0 sites\n");
    ASSERT_REPORT_HAS("intentional leaks:     1 block, 40 bytes\n");
    ASSERT_REPORT_HAS("Intentional leaks (INTENTIONAL_LEAK_FOR_TESTING), expected:\n");
    ASSERT_REPORT_HAS("\"INTENTIONAL_LEAK_FOR_TESTING fixture\"");
    ck_assert(strstr(report, "Leak sites") == NULL);
    AR__HEAP__FREE(meant);
}
END_TEST

/* AgeRun's build scripts read "Actual memory leaks: N (B bytes)", or else
 * "No memory leaks detected", from each report; a report with neither is
 * taken for a leaking one. */
START_TEST(a_clean_report_has_the_lines_agerun_reads)
{
    use_report_file();
    void *p = AR__HEAP__MALLOC(10, "freed");
    AR__HEAP__FREE(p);
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("\nActual memory leaks: 0 (0 bytes)\n");
    ASSERT_REPORT_HAS("\nIntentional test leaks: 0 (0 bytes)\n");
    ASSERT_REPORT_HAS("\nNo memory leaks detected.\n");
}
END_TEST

START_TEST(a_leaking_report_counts_actual_leaks_for_agerun)
{
    use_report_file();
    void *a = AR__HEAP__MALLOC(77, "agent name");
    void *b = AR__HEAP__MALLOC(1, "flag");
    void *meant = AR__HEAP__MALLOC(40, "INTENTIONAL_LEAK_FOR_TESTING fixture");
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("\nActual memory leaks: 2 (78 bytes)\n");
    ASSERT_REPORT_HAS("\nIntentional test leaks: 1 (40 bytes)\n");
    ck_assert_msg(strstr(report, "No memory leaks detected") == NULL, "%s", report);
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    AR__HEAP__FREE(meant);
}
END_TEST

/* A run whose only live blocks are intentional: AgeRun's scripts must read
 * 0 actual leaks, as from AgeRun's own heap. */
START_TEST(intentional_leaks_alone_are_zero_actual_leaks_for_agerun)
{
    use_report_file();
    void *meant = AR__HEAP__MALLOC(40, "INTENTIONAL_LEAK_FOR_TESTING fixture");
    void *allowed = AR__HEAP__MALLOC(8, "kept on purpose");
    ck_assert_int_eq(ar_heap__allow_leak(allowed), 1);
    ar_heap__memory_report();
    read_report();
    ASSERT_REPORT_HAS("\nActual memory leaks: 0 (0 bytes)\n");
    ASSERT_REPORT_HAS("\nIntentional test leaks: 2 (48 bytes)\n");
    AR__HEAP__FREE(meant);
    AR__HEAP__FREE(allowed);
}
END_TEST

static void body_summary(void)
{
    ar_test__note("leak", __LINE__ + 1);
    void *p = AR__HEAP__MALLOC(48, "summarised");
    (void)p;
    ar_heap__memory_report();
    unlink(report_path);
}

START_TEST(stderr_summary_names_the_leak_site_and_the_report_file)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_summary, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (48 bytes) not freed, from 1 site");
    AR_TEST_ASSERT_SITE(&child, "arheap:   ", "leak");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, ": 48 bytes in 1 block (\"summarised\")\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: full report in check_report.");
}
END_TEST

static void body_clean_is_quiet(void)
{
    void *p = AR__HEAP__MALLOC(48, "freed");
    AR__HEAP__FREE(p);
    ar_heap__memory_report();
    unlink(report_path);
}

START_TEST(a_clean_run_prints_nothing_on_stderr)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_clean_is_quiet, &child);
    ck_assert(child.exited && child.exit_code == 0);
    ck_assert_msg(child.output_len == 0, "unexpected output:\n%s", child.output);
}
END_TEST

static void body_leak_at_exit(void)
{
    (void)ar_heap__set_options("leak_report=1:leak_exitcode=3");
    void *p = AR__HEAP__MALLOC(9, "left at exit");
    (void)p;
    exit(0);
}

START_TEST(leak_exitcode_makes_a_leaking_process_fail_and_writes_the_report)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_leak_at_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 3, "code %d, output:\n%s",
                  child.exit_code, child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (9 bytes)");
    read_report();
    ASSERT_REPORT_HAS("\"left at exit\"");
}
END_TEST

static void body_no_leak_at_exit(void)
{
    (void)ar_heap__set_options("leak_report=1:leak_exitcode=3");
    void *p = AR__HEAP__MALLOC(9, "freed before exit");
    AR__HEAP__FREE(p);
    exit(0);
}

START_TEST(leak_exitcode_leaves_a_clean_process_alone)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_no_leak_at_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    unlink(report_path);
}
END_TEST

static void body_intentional_at_exit(void)
{
    (void)ar_heap__set_options("leak_report=1:leak_exitcode=3");
    void *p = AR__HEAP__MALLOC(9, "INTENTIONAL_LEAK_FOR_TESTING");
    (void)p;
    exit(0);
}

START_TEST(intentional_leaks_do_not_trigger_leak_exitcode)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_intentional_at_exit, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "output:\n%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: no leaks\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: also 1 intentional leak (expected)");
    ck_assert(!ar_test__output_has(&child, "LEAK"));
    unlink(report_path);
}
END_TEST

/* The default: a process that leaks exits 23, as under LeakSanitizer. */
static void body_leak_at_exit_default(void)
{
    (void)ar_heap__set_options("leak_report=1");
    void *p = AR__HEAP__MALLOC(9, "left at exit");
    (void)ar_test__opaque(p);
    exit(0);
}

START_TEST(a_leaking_process_exits_23_by_default)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_leak_at_exit_default, &child);
    ck_assert_msg(child.exited && child.exit_code == 23, "code %d, output:\n%s",
                  child.exit_code, child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (9 bytes)");
    unlink(report_path);
}
END_TEST

/* It replaces a failing status too: a destructor can not see it. */
static void body_leak_at_exit_failing(void)
{
    (void)ar_heap__set_options("leak_report=1");
    void *p = AR__HEAP__MALLOC(9, "left at exit");
    (void)ar_test__opaque(p);
    exit(4);
}

START_TEST(a_leaking_process_exits_23_whatever_its_own_status)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_leak_at_exit_failing, &child);
    ck_assert_msg(child.exited && child.exit_code == 23, "code %d, output:\n%s",
                  child.exit_code, child.output);
    unlink(report_path);
}
END_TEST

/* Leaks at exit with no address space left (RLIMIT_AS at the process's
 * own size): the report can not map what it needs to list the blocks or
 * to scan them, and says so on stderr, where the program's output is
 * (until stop 43 the first was said in the report file only, the second
 * nowhere, and reachable blocks read as leaks). */
static void *kept_at_exit[100];

static void body_leak_at_exit_without_memory(void)
{
    (void)ar_heap__set_options("leak_report=1:leak_exitcode=0:report_path=");
    for (int i = 0; i < 100; i++)
        kept_at_exit[i] = AR__HEAP__MALLOC(64, "kept in a global");
    ar_test__limit_to_own_size();
    exit(0);
}

START_TEST(a_leak_report_short_of_memory_says_what_it_could_not_do)
{
    if (ar_test__skip_under_valgrind(__func__, "an address-space limit is Valgrind's own too") ||
        ar_test__skip_under_asan(__func__, "AddressSanitizer maps memory at exit"))
        return;
    ar_test_child_t child;
    ar_test__run_child(body_leak_at_exit_without_memory, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    ck_assert_msg(ar_test__output_has(&child, "arheap: LEAK"), "%s", child.output);
    ck_assert_msg(ar_test__output_has(&child, "no memory to list the leaked blocks") ||
                      ar_test__output_has(&child, "no memory for the reachability scan"),
                  "the report's loss is not said:\n%.3000s", child.output);
}
END_TEST

static void body_leak_exitcode_zero(void)
{
    (void)ar_heap__set_options("leak_report=1:leak_exitcode=0");
    void *p = AR__HEAP__MALLOC(9, "left at exit");
    (void)ar_test__opaque(p);
    exit(0);
}

START_TEST(leak_exitcode_0_keeps_the_status_and_still_reports)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_leak_exitcode_zero, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "code %d, output:\n%s",
                  child.exit_code, child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (9 bytes)");
    unlink(report_path);
}
END_TEST

static void body_leak_report_off(void)
{
    (void)ar_heap__set_options("leak_report=0");
    void *p = AR__HEAP__MALLOC(9, "left at exit");
    (void)ar_test__opaque(p);
    exit(0);
}

START_TEST(leak_report_0_keeps_the_status)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_leak_report_off, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "code %d, output:\n%s",
                  child.exit_code, child.output);
    ck_assert_msg(child.output_len == 0, "output:\n%s", child.output);
}
END_TEST

/* A forked child (Check's fork mode runs each test in one) inherits its
 * parent's live blocks: they are listed, but only the blocks the child
 * allocated itself decide its status. */
static char *parent_block;

static void body_forked_child_exits(void)
{
    (void)ar_heap__set_options("leak_report=1");
    exit(0);
}

static void body_forked_child_leaks(void)
{
    (void)ar_heap__set_options("leak_report=1");
    void *p = AR__HEAP__MALLOC(5, "the child's own");
    (void)ar_test__opaque(p);
    exit(0);
}

START_TEST(a_forked_child_fails_only_for_its_own_leaks)
{
    ar_test_child_t child;
    use_report_file();
    parent_block = AR__HEAP__MALLOC(17, "the parent's fixture");
    ar_test__run_child(body_forked_child_exits, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "code %d, output:\n%s",
                  child.exit_code, child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "(\"the parent's fixture\")");
    ar_test__run_child(body_forked_child_leaks, &child);
    ck_assert_msg(child.exited && child.exit_code == 23, "code %d, output:\n%s",
                  child.exit_code, child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 2 blocks (22 bytes)");
    AR__HEAP__FREE(parent_block);
    unlink(report_path);
}
END_TEST

static void body_report_at_exit_file(void)
{
    (void)ar_heap__set_options("leak_report=1:leak_exitcode=0");
    void *p = AR__HEAP__MALLOC(21, "exit report");
    (void)p;
    exit(0);
}

START_TEST(the_report_file_is_written_at_exit)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_report_at_exit_file, &child);
    ck_assert(child.exited && child.exit_code == 0);
    read_report();
    ASSERT_REPORT_HAS("  #1  21 bytes at 0x");
    ASSERT_REPORT_HAS("\"exit report\"");
}
END_TEST

static void body_agerun_env(void)
{
    /* No report_path option: AGERUN_MEMORY_REPORT decides. */
    setenv("AGERUN_MEMORY_REPORT", report_path, 1);
    void *p = AR__HEAP__MALLOC(5, "agerun env");
    (void)p;
    ar_heap__memory_report();
}

START_TEST(agerun_memory_report_names_the_report_file)
{
    ar_test_child_t child;
    snprintf(report_path, sizeof report_path, "check_report.agerun.%ld.report.log",
             (long)getpid());
    ar_test__run_child(body_agerun_env, &child);
    ck_assert(child.exited && child.exit_code == 0);
    read_report();
    ASSERT_REPORT_HAS("\"agerun env\"");
}
END_TEST

static void body_unwritable(void)
{
    (void)ar_heap__set_options("report_path=no-such-directory/report.log");
    void *p = AR__HEAP__MALLOC(6, "nowhere to go");
    (void)p;
    ar_heap__memory_report();
}

START_TEST(an_unwritable_report_path_falls_back_to_stderr_and_says_so)
{
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_unwritable, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: cannot write the report file "
                                      "'no-such-directory/report.log'");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "' (errno 2: no such directory); writing the report to "
                                      "stderr instead");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap memory report (pid ");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"nowhere to go\"  thread");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: full report in stderr (above)");
}
END_TEST

/* AgeRun's words on stderr, which its log check looks for ("Warning: N
 * memory leaks? detected"), and a report file readable by its owner only,
 * as AgeRun's heap leaves it (until stop 41: neither; the file was 0644). */
static void body_agerun_words(void)
{
    umask(022);
    void *p = AR__HEAP__MALLOC(6, "kept for the words");
    (void)p;
    ar_heap__memory_report();
    struct stat st;
    if (stat(report_path, &st) == 0)
        printf("[mode=%o]\n", (unsigned)(st.st_mode & 0777));
    fflush(stdout);
}

START_TEST(a_leak_report_says_agerun_s_words_and_keeps_its_file_private)
{
    ar_test_child_t child;
    use_report_file();
    unlink(report_path);
    ar_test__run_child(body_agerun_words, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "Warning: 1 memory leak detected (6 bytes). See ");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[mode=600]\n");
    read_report();
}
END_TEST

/* A report file that opens but takes no bytes (/dev/full: every write
 * fails with ENOSPC): the report is not lost, and the summary does not
 * send the reader to the file (until stop 40 it said "full report in
 * /dev/full"). */
static void body_full_device(void)
{
    (void)ar_heap__set_options("report_path=/dev/full");
    void *p = AR__HEAP__MALLOC(6, "no room for it");
    (void)p;
    ar_heap__memory_report();
}

START_TEST(a_report_file_that_takes_no_bytes_falls_back_to_stderr_and_says_so)
{
    if (access("/dev/full", W_OK) != 0)
        return; /* no such device here: nothing to test */
    ar_test_child_t child;
    use_report_file();
    ar_test__run_child(body_full_device, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: cannot write the report file "
                                      "'/dev/full' (errno 28: no space left on the device); "
                                      "writing the report to stderr instead");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap memory report (pid ");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"no room for it\"  thread");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: full report in stderr (above)");
    ck_assert_msg(!ar_test__output_has(&child, "full report in /dev/full"), "output:\n%s",
                  child.output);
}
END_TEST

/* A report file whose close fails (NFS says there that a write was
 * lost; ar_fail_io.c makes it fail here): the file can not be trusted, so
 * the report goes to stderr as for a failed write. */
static void body_close_fails(void)
{
    (void)ar_heap__set_options("report_path=close-fails.report.log");
    FILE *f = fopen("close-fails.report.log", "w");
    if (f == NULL || fclose(f) != 0 || !ar_fail_io__close("close-fails.report.log"))
        puts("not armed");
    void *p = AR__HEAP__MALLOC(6, "closed badly");
    (void)p;
    ar_heap__memory_report();
    unlink("close-fails.report.log");
}

START_TEST(a_report_file_whose_close_fails_falls_back_to_stderr_and_says_so)
{
    ar_test_child_t child;
    ar_test__run_child(body_close_fails, &child);
    ck_assert(child.exited && child.exit_code == 0);
    ck_assert_msg(!ar_test__output_has(&child, "not armed"), "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: warning: cannot write the report file "
                                      "'close-fails.report.log' (errno 5: input/output "
                                      "error); writing the report to stderr instead");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"closed badly\"  thread");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: full report in stderr (above)");
}
END_TEST

/* ------------------------------------------------------------ exit order */

/* tests/exit_order, linked with the shared and with the static library:
 * the exit report comes after every atexit handler and destructor. */
static const char *const exit_order_programs[] = { "tests/exit_order",
                                                   "tests/exit_order_static" };
static const char *exit_order_program;

static void body_exec_exit_order(void)
{
    ar_test__exec_built(exit_order_program, "leak_report=1:leak_exitcode=3:report_path=");
}

START_TEST(the_exit_report_comes_after_every_handler_and_destructor)
{
    ar_test_child_t child;
    exit_order_program = exit_order_programs[_i];
    ar_test__run_child(body_exec_exit_order, &child);
    ck_assert_msg(child.exited && child.exit_code == 3, "%s: code %d, output:\n%s",
                  exit_order_program, child.exit_code, child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[exiting]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (33 bytes) not freed, from 1 site");
    ck_assert_msg(ar_test__output_line_has(&child, "exit_order.c:", ": 33 bytes in 1 block "
                                                                      "(\"never freed\")"),
                  "%s: the leak is not listed at its site:\n%s", exit_order_program,
                  child.output);
    ck_assert_msg(!ar_test__output_has(&child, "freed by"), "%s:\n%s", exit_order_program,
                  child.output);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("leaks");
    tcase_add_test(tc, a_clean_run_reports_no_leaks);
    tcase_add_test(tc, each_leaked_block_is_listed_with_site_size_description_and_number);
    tcase_add_test(tc, leak_sites_are_grouped_with_counts_and_bytes_largest_first);
    tcase_add_test(tc, reach_a_block_held_in_a_global_is_still_reachable_not_lost);
    tcase_add_test(tc, reach_a_block_held_in_tls_is_still_reachable);
    tcase_add_test(tc, reach_a_block_on_a_blocked_threads_stack_is_still_reachable);
    tcase_add_test(tc, reach_a_thread_with_signals_blocked_is_scanned_whole_and_survives);
    tcase_add_test(tc, reach_a_thread_in_sigwaitinfo_is_not_sent_the_scans_signal);
    tcase_add_test(tc, reach_a_lost_lists_tail_is_indirectly_lost_under_its_head);
    tcase_add_test(tc, reach_leak_scan_0_counts_every_live_block_as_a_leak);
    tcase_add_test(tc, reach_an_unmapped_root_range_does_not_fault);
    tcase_add_test(tc, leaked_blocks_are_listed_in_allocation_order);
    tcase_add_test(tc, intentional_leaks_are_listed_apart_and_not_counted);
    tcase_add_test(tc, a_clean_report_has_the_lines_agerun_reads);
    tcase_add_test(tc, a_leaking_report_counts_actual_leaks_for_agerun);
    tcase_add_test(tc, intentional_leaks_alone_are_zero_actual_leaks_for_agerun);
    tcase_add_test(tc, stderr_summary_names_the_leak_site_and_the_report_file);
    tcase_add_test(tc, a_clean_run_prints_nothing_on_stderr);
    tcase_add_test(tc, leak_exitcode_makes_a_leaking_process_fail_and_writes_the_report);
    tcase_add_test(tc, leak_exitcode_leaves_a_clean_process_alone);
    tcase_add_test(tc, intentional_leaks_do_not_trigger_leak_exitcode);
    tcase_add_test(tc, a_leaking_process_exits_23_by_default);
    tcase_add_test(tc, a_leaking_process_exits_23_whatever_its_own_status);
    tcase_add_test(tc, leak_exitcode_0_keeps_the_status_and_still_reports);
    tcase_add_test(tc, a_leak_report_short_of_memory_says_what_it_could_not_do);
    tcase_add_test(tc, leak_report_0_keeps_the_status);
    tcase_add_test(tc, a_forked_child_fails_only_for_its_own_leaks);
    tcase_add_test(tc, the_report_file_is_written_at_exit);
    tcase_add_test(tc, agerun_memory_report_names_the_report_file);
    tcase_add_test(tc, an_unwritable_report_path_falls_back_to_stderr_and_says_so);
    tcase_add_test(tc, a_report_file_that_takes_no_bytes_falls_back_to_stderr_and_says_so);
    tcase_add_test(tc, a_report_file_whose_close_fails_falls_back_to_stderr_and_says_so);
    tcase_add_test(tc, a_leak_report_says_agerun_s_words_and_keeps_its_file_private);
    tcase_add_loop_test(tc, the_exit_report_comes_after_every_handler_and_destructor, 0,
                        (int)(sizeof exit_order_programs / sizeof exit_order_programs[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(report_suite(), 1);
}
