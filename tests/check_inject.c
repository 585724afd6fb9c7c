/*
 * check_inject.c: allocation failures on purpose (options fail_*) and the
 * sweep that fails each allocation of a body in turn.
 *
 * An injected failure is what libc's would be: NULL, errno ENOMEM, no
 * report, a failed REALLOC leaving the old block as it was. fail_nth,
 * fail_every, fail_random (per million, seeded) and fail_file/fail_line
 * choose which allocation fails, counted from the last time options were
 * set. The sweep must find a leak on an error path, name the failed
 * allocation's number and the leaked block's site, pass the fixed code,
 * count error reports, and give back the fail_* options it suspended;
 * examples/sweep, run as it is shipped, must show it.
 *
 * Options are process-wide, so every test runs its body in a child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

/* "name=<number>" printed by the child; SIZE_MAX when absent. */
static size_t child_number(const ar_test_child_t *child, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    const char *at = strstr(child->output, key);
    return at != NULL ? (size_t)strtoull(at + strlen(key), NULL, 10) : SIZE_MAX;
}

/* The child ended normally and nothing of arheap's was printed. */
static void expect_quiet_exit(const ar_test_child_t *child, const char *label)
{
    ck_assert_msg(child->exited && child->exit_code == 0, "%s: output:\n%s", label,
                  child->output);
    ck_assert_msg(!ar_test__output_has(child, "arheap:"), "%s: arheap reported:\n%s", label,
                  child->output);
}

static void set_options(const char *options)
{
    if (ar_heap__set_options(options) != 0)
        printf("options '%s' were refused\n", options);
}

/* ------------------------------------------------- fail_nth, per macro */

enum { KIND_MALLOC, KIND_CALLOC, KIND_REALLOC, KIND_STRDUP, KIND_STRNDUP, KINDS };
static const char *const kind_names[KINDS] = { "MALLOC", "CALLOC", "REALLOC", "STRDUP",
                                               "strndup" };
static int kind;

/* One allocation of the kind under test; `old` is REALLOC's block. */
static void *allocate_kind(void *old)
{
    switch (kind) {
    case KIND_MALLOC:
        return AR__HEAP__MALLOC(24, "third");
    case KIND_CALLOC:
        return AR__HEAP__CALLOC(3, 8, "third");
    case KIND_REALLOC:
        return AR__HEAP__REALLOC(old, 64, "third");
    case KIND_STRDUP:
        return AR__HEAP__STRDUP("a copy", "third");
    default:
        return ar_heap__strndup("a longer copy", 6, __FILE__, __LINE__, "third");
    }
}

static void body_fail_nth(void)
{
    set_options("on_error=exit:fail_nth=3");
    ar_heap_stats_t before = ar_test__stats();
    char *first = AR__HEAP__MALLOC(16, "first");
    memset(first, 'a', 16);
    char *second = AR__HEAP__MALLOC(16, "second");
    errno = 0;
    void *third = allocate_kind(first);
    int err = errno;
    printf("third=%s errno=%s\n", third == NULL ? "NULL" : "ok",
           err == ENOMEM ? "ENOMEM" : "other");
    /* A failed REALLOC leaves its block live and as it was. */
    int intact = 1;
    for (int i = 0; i < 16; i++)
        intact &= first[i] == 'a';
    printf("intact=%d\n", intact);
    void *fourth = allocate_kind(first);
    printf("fourth=%s\n", fourth == NULL ? "NULL" : "ok");
    if (kind == KIND_REALLOC)
        first = fourth; /* moved: the old block was freed */
    else
        AR__HEAP__FREE(fourth);
    ar_heap_stats_t after = ar_test__stats();
    printf("injected=%zu allocations=%zu errors=%zu\n",
           after.failures_injected - before.failures_injected,
           after.total_allocations - before.total_allocations,
           after.errors_reported - before.errors_reported);
    AR__HEAP__FREE(third);
    AR__HEAP__FREE(first);
    AR__HEAP__FREE(second);
    printf("live=%zu\n", ar_test__stats().live_blocks - before.live_blocks);
}

START_TEST(fail_nth_3_fails_exactly_the_third_allocation)
{
    ar_test_child_t child;
    kind = _i;
    const char *label = kind_names[_i];
    ar_test__run_child(body_fail_nth, &child);
    expect_quiet_exit(&child, label);
    ar_test__expect_has(&child, label, "third=NULL errno=ENOMEM\n");
    ar_test__expect_has(&child, label, "intact=1\n");
    ar_test__expect_has(&child, label, "fourth=ok\n");
    /* The failed call allocated nothing; the three others did. */
    ar_test__expect_has(&child, label, "injected=1 allocations=3 errors=0\n");
    ar_test__expect_has(&child, label, "live=0\n");
}
END_TEST

/* ------------------------------------------------- fail_every, fail_random */

/* n allocations; a '.' for each that succeeded, an 'x' for each that failed. */
static void failure_pattern(char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p = AR__HEAP__MALLOC(8, "patterned");
        out[i] = p == NULL ? 'x' : '.';
        AR__HEAP__FREE(p);
    }
    out[n] = '\0';
}

static void body_fail_every(void)
{
    char pattern[32];
    size_t before = ar_test__stats().failures_injected;
    set_options("fail_every=4");
    failure_pattern(pattern, 20);
    printf("every4=%s injected=%zu\n", pattern, ar_test__stats().failures_injected - before);
    set_options("fail_every=1");
    failure_pattern(pattern, 5);
    printf("every1=%s\n", pattern);
}

START_TEST(fail_every_n_fails_each_nth_allocation)
{
    ar_test_child_t child;
    ar_test__run_child(body_fail_every, &child);
    expect_quiet_exit(&child, "fail_every");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "every4=...x...x...x...x...x injected=5\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "every1=xxxxx\n");
}
END_TEST

enum { RANDOM_RUN = 10000 };
static char random_a[RANDOM_RUN + 1], random_b[RANDOM_RUN + 1], random_c[RANDOM_RUN + 1];

static size_t count_failures(const char *pattern)
{
    size_t n = 0;
    for (; *pattern != '\0'; pattern++)
        n += *pattern == 'x';
    return n;
}

static void body_fail_random(void)
{
    set_options("fail_random=100000:fail_seed=42");
    failure_pattern(random_a, RANDOM_RUN);
    set_options("fail_random=100000:fail_seed=42"); /* restarts the sequence */
    failure_pattern(random_b, RANDOM_RUN);
    set_options("fail_random=100000:fail_seed=43");
    failure_pattern(random_c, RANDOM_RUN);
    printf("seed42=%zu again=%zu same=%d seed43=%zu differs=%d\n", count_failures(random_a),
           count_failures(random_b), strcmp(random_a, random_b) == 0, count_failures(random_c),
           strcmp(random_a, random_c) != 0);
    char edge[101];
    set_options("fail_random=1000000");
    failure_pattern(edge, 100);
    printf("million=%zu\n", count_failures(edge));
    set_options("fail_random=0");
    failure_pattern(edge, 100);
    printf("zero=%zu\n", count_failures(edge));
}

START_TEST(fail_random_with_a_seed_is_reproducible_and_proportional)
{
    ar_test_child_t child;
    ar_test__run_child(body_fail_random, &child);
    expect_quiet_exit(&child, "fail_random");
    size_t a = child_number(&child, "seed42");
    size_t c = child_number(&child, "seed43");
    /* 10% of 10 000: mean 1000, standard deviation 30; 850..1150 is five
     * deviations either side. */
    ck_assert_msg(a >= 850 && a <= 1150, "seed 42 failed %zu of 10000", a);
    ck_assert_msg(c >= 850 && c <= 1150, "seed 43 failed %zu of 10000", c);
    ck_assert_uint_eq(child_number(&child, "again"), a);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, " same=1 ");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, " differs=1\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "million=100\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "zero=0\n");
}
END_TEST

/* Seeds next to each other give unrelated failures: until stop 41 seed
 * 2's were seed 1's, one allocation earlier (the seed only moved the start
 * of one shared sequence). */
static void body_seeds_apart(void)
{
    set_options("fail_random=100000:fail_seed=1");
    failure_pattern(random_a, RANDOM_RUN);
    set_options("fail_random=100000:fail_seed=2");
    failure_pattern(random_b, RANDOM_RUN);
    size_t shifted = 0, failures = 0;
    for (size_t i = 0; i + 1 < RANDOM_RUN; i++) {
        failures += random_b[i] == 'x';
        shifted += random_b[i] == 'x' && random_a[i + 1] == 'x';
    }
    printf("failures=%zu shifted=%zu\n", failures, shifted);
}

START_TEST(seeds_next_to_each_other_fail_unrelated_allocations)
{
    ar_test_child_t child;
    ar_test__run_child(body_seeds_apart, &child);
    expect_quiet_exit(&child, "seeds");
    size_t failures = child_number(&child, "failures");
    size_t shifted = child_number(&child, "shifted");
    /* Unrelated: a tenth of seed 2's failures meet one of seed 1's. */
    ck_assert_msg(failures > 800 && shifted < failures / 2, "failures=%zu shifted=%zu", failures,
                  shifted);
}
END_TEST

/* The count restarts when a fail_* option is given, and only then: a NULL
 * or empty string, or another option, leaves it running (until stop 41
 * each restarted it). */
static void body_count_runs_on(void)
{
    set_options("fail_nth=3");
    void *a = AR__HEAP__MALLOC(8, "first");
    void *b = AR__HEAP__MALLOC(8, "second");
    (void)ar_heap__set_options(NULL);
    (void)ar_heap__set_options("");
    set_options("quarantine_bytes=1048576");
    void *c = AR__HEAP__MALLOC(8, "third");
    printf("third=%s\n", c == NULL ? "failed" : "allocated");
    set_options("fail_nth=3"); /* given again: counted afresh */
    void *d = AR__HEAP__MALLOC(8, "first again");
    void *e = AR__HEAP__MALLOC(8, "second again");
    void *f = AR__HEAP__MALLOC(8, "third again");
    printf("third again=%s\n", f == NULL ? "failed" : "allocated");
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
    AR__HEAP__FREE(c);
    AR__HEAP__FREE(d);
    AR__HEAP__FREE(e);
    AR__HEAP__FREE(f);
}

START_TEST(the_count_restarts_only_when_a_fail_option_is_given)
{
    ar_test_child_t child;
    ar_test__run_child(body_count_runs_on, &child);
    expect_quiet_exit(&child, "count");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "third=failed\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "third again=failed\n");
}
END_TEST

/* ------------------------------------------------- fail_file, fail_line */

static int site_a_line, site_b_line;

/* Five allocations at each of two sites, as "a:<pattern> b:<pattern>". */
static void two_sites(const char *label)
{
    char a[6], b[6];
    for (int i = 0; i < 5; i++) {
        site_a_line = __LINE__ + 1;
        void *p = AR__HEAP__MALLOC(8, "site a");
        site_b_line = __LINE__ + 1;
        void *q = AR__HEAP__MALLOC(8, "site b");
        a[i] = p == NULL ? 'x' : '.';
        b[i] = q == NULL ? 'x' : '.';
        AR__HEAP__FREE(p);
        AR__HEAP__FREE(q);
    }
    a[5] = b[5] = '\0';
    printf("%s a:%s b:%s\n", label, a, b);
}

static void body_fail_site(void)
{
    char opt[512];
    two_sites("warmup");
    const char *base = strrchr(__FILE__, '/');
    base = base != NULL ? base + 1 : __FILE__;
    snprintf(opt, sizeof opt, "fail_file=%s:fail_line=%d", base, site_a_line);
    set_options(opt);
    two_sites("basename");
    snprintf(opt, sizeof opt, "fail_file=%s:fail_line=%d", __FILE__, site_b_line);
    set_options(opt);
    two_sites("as-compiled");
    snprintf(opt, sizeof opt, "fail_file=%s:fail_line=0", base);
    set_options(opt);
    two_sites("line0");
    printf("injected=%zu\n", ar_test__stats().failures_injected);
}

START_TEST(fail_file_and_fail_line_fail_only_that_site)
{
    ar_test_child_t child;
    ar_test__run_child(body_fail_site, &child);
    expect_quiet_exit(&child, "fail_file");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "warmup a:..... b:.....\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "basename a:xxxxx b:.....\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "as-compiled a:..... b:xxxxx\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "line0 a:..... b:.....\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "injected=10\n");
}
END_TEST

/* How a site's file, as the compiler wrote it, matches the option. */
static const struct {
    const char *compiled; /* __FILE__ of the allocation */
    const char *option;   /* fail_file */
    int fails;
} site_cases[] = {
    { "site.c", "site.c", 1 },
    { "src/deep/dir/site.c", "site.c", 1 },
    { "src/deep/dir/site.c", "dir/site.c", 1 },
    { "/abs/src/deep/dir/site.c", "deep/dir/site.c", 1 },
    { "../../src/site.c", "site.c", 1 },
    { "src/deep/dir/site.c", "src/deep/dir/site.c", 1 },
    { "src/deep/dir/site.c", "ir/site.c", 0 },   /* not a whole component */
    { "src/deep/dir/mysite.c", "site.c", 0 },
    { "site.c", "dir/site.c", 0 },
    { "src/site.c.orig", "site.c", 0 },
    /* The examples of ar_heap__sweep_failures(3). */
    { "src/agent.c", "agent.c", 1 },
    { "../../src/agent.c", "agent.c", 1 },
    { "../../src/agent.c", "src/agent.c", 1 },
    { "src/agent.c", "nt.c", 0 },
    { "../../src/agent.c", "nt.c", 0 },
};
#define SITE_CASES ((int)(sizeof site_cases / sizeof site_cases[0]))
static int site_case;

static void body_site_case(void)
{
    char opt[256];
    snprintf(opt, sizeof opt, "fail_file=%s:fail_line=10", site_cases[site_case].option);
    set_options(opt);
    void *same_line = ar_heap__malloc(8, site_cases[site_case].compiled, 10, "at line 10");
    void *other_line = ar_heap__malloc(8, site_cases[site_case].compiled, 11, "at line 11");
    printf("line10=%s line11=%s\n", same_line == NULL ? "NULL" : "ok",
           other_line == NULL ? "NULL" : "ok");
    ar_heap__free(same_line);
    ar_heap__free(other_line);
}

START_TEST(fail_file_matches_the_whole_name_or_its_last_components)
{
    ar_test_child_t child;
    char label[160];
    site_case = _i;
    snprintf(label, sizeof label, "__FILE__ \"%s\", fail_file=%s", site_cases[_i].compiled,
             site_cases[_i].option);
    ar_test__run_child(body_site_case, &child);
    expect_quiet_exit(&child, label);
    ar_test__expect_has(&child, label,
                        site_cases[_i].fails ? "line10=NULL line11=ok\n" : "line10=ok line11=ok\n");
}
END_TEST

/* ------------------------------------------------- from the environment */

#define ENV_CHILD_FLAG "--count-from-the-environment"

/* In a process whose options came from AR_HEAP_OPTIONS only: the count
 * starts with the process. */
static int env_child(void)
{
    char pattern[5];
    failure_pattern(pattern, 4);
    printf("env=%s\n", pattern);
    return 0;
}

static void body_exec_with_env(void)
{
    setenv("AR_HEAP_OPTIONS", "leak_report=0:fail_nth=2", 1);
    /* The path /proc/self/exe names, not the link itself: under Valgrind
     * the link is Valgrind's own tool binary, which refuses to run, while
     * readlink() of it is made to give the program's path. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) {
        perror("readlink /proc/self/exe");
        return;
    }
    self[n] = '\0';
    execl(self, "check_inject", ENV_CHILD_FLAG, (char *)NULL);
    perror("execl");
}

START_TEST(fail_nth_from_ar_heap_options_counts_from_the_start)
{
    ar_test_child_t child;
    ar_test__run_child(body_exec_with_env, &child);
    expect_quiet_exit(&child, "environment");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "env=.x..\n");
}
END_TEST

/* ------------------------------------------------- off */

static void body_off(void)
{
    char pattern[1001];
    failure_pattern(pattern, 1000);
    printf("defaults=%zu\n", count_failures(pattern));
    set_options("fail_every=2:fail_nth=1:fail_random=500000:fail_file=check_inject.c:"
                "fail_line=1");
    set_options("fail_every=0:fail_nth=0:fail_random=0:fail_line=0");
    size_t before = ar_test__stats().failures_injected;
    failure_pattern(pattern, 1000);
    printf("switched_off=%zu injected=%zu\n", count_failures(pattern),
           ar_test__stats().failures_injected - before);
}

START_TEST(with_the_options_off_nothing_fails)
{
    ar_test_child_t child;
    ar_test__run_child(body_off, &child);
    expect_quiet_exit(&child, "off");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "defaults=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "switched_off=0 injected=0\n");
}
END_TEST

/* ------------------------------------------------- the sweep */

/* The agent of an imaginary program: three allocations, and (in the
 * buggy version) an error path that forgets the name. */
typedef struct agent_s {
    char *name;
    int *scores;
} agent_t;

static int agent_name_line;
static int agent_fixed;

static agent_t *agent_create(const char *name)
{
    agent_t *agent = AR__HEAP__MALLOC(sizeof *agent, "agent");
    if (agent == NULL)
        return NULL;
    agent_name_line = __LINE__ + 1;
    agent->name = AR__HEAP__STRDUP(name, "agent name");
    if (agent->name == NULL) {
        AR__HEAP__FREE(agent);
        return NULL;
    }
    agent->scores = AR__HEAP__CALLOC(10, sizeof *agent->scores, "score history");
    if (agent->scores == NULL) {
        if (agent_fixed)
            AR__HEAP__FREE(agent->name);
        AR__HEAP__FREE(agent); /* the bug: agent->name is lost */
        return NULL;
    }
    return agent;
}

static void agent_destroy(agent_t *agent)
{
    AR__HEAP__FREE(agent->scores);
    AR__HEAP__FREE(agent->name);
    AR__HEAP__FREE(agent);
}

static size_t body_nulls; /* allocations the body saw fail, over all runs */

static void agent_body(void *arg)
{
    agent_t *agent = agent_create(arg);
    if (agent == NULL)
        body_nulls++;
    else
        agent_destroy(agent);
}

static void print_sweep(size_t ret, const ar_heap_sweep_t *r)
{
    printf("ret=%zu runs=%zu failing=%zu ", ret, r->runs, r->failing_runs);
    if (r->first_failing == SIZE_MAX)
        printf("first=SIZE_MAX\n");
    else
        printf("first=%zu\n", r->first_failing);
}

static void body_sweep_agent(void)
{
    ar_heap_sweep_t result;
    size_t before = ar_test__stats().failures_injected;
    size_t ret = ar_heap__sweep_failures(agent_body, "alpha", &result);
    ar_test__note("name", agent_name_line);
    print_sweep(ret, &result);
    printf("injected=%zu\n", ar_test__stats().failures_injected - before);
}

static void body_sweep_buggy(void)
{
    agent_fixed = 0;
    body_sweep_agent();
}

static void body_sweep_fixed(void)
{
    agent_fixed = 1;
    body_sweep_agent();
}

START_TEST(the_sweep_finds_a_leak_on_an_error_path)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_buggy, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ret=1 runs=4 failing=1 first=3\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "injected=3\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: sweep: with allocation #3 of the body failing, "
                                      "1 block leaked and 0 errors were reported\n");
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: sweep:"), 1);
    AR_TEST_ASSERT_SITE(&child, "  6 bytes at 0x", "name");
    ck_assert(ar_test__output_line_has(&child, "  6 bytes at 0x", "  \"agent name\"  thread "));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: 1 block (6 bytes) leaked since the checkpoint\n");
}
END_TEST

START_TEST(the_fixed_code_sweeps_clean)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_fixed, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    /* Three allocations: three runs with one failing each, then one
     * without a failure. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ret=0 runs=4 failing=0 first=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "injected=3\n");
    ck_assert_msg(!ar_test__output_has(&child, "arheap: sweep"), "%s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "arheap: ERROR"), "%s", child.output);
}
END_TEST

/* An error path that frees twice: the report is counted, not a leak. */
static void double_free_body(void *arg)
{
    (void)arg;
    char *p = AR__HEAP__MALLOC(8, "first");
    if (p == NULL)
        return;
    char *q = AR__HEAP__MALLOC(8, "second");
    if (q == NULL) {
        AR__HEAP__FREE(p);
        AR__HEAP__FREE(p);
        return;
    }
    AR__HEAP__FREE(q);
    AR__HEAP__FREE(p);
}

static void body_sweep_double_free(void)
{
    set_options("on_error=continue");
    ar_heap_sweep_t result;
    size_t errors = ar_test__stats().errors_reported;
    size_t ret = ar_heap__sweep_failures(double_free_body, NULL, &result);
    print_sweep(ret, &result);
    printf("errors=%zu\n", ar_test__stats().errors_reported - errors);
}

START_TEST(the_sweep_counts_an_error_reported_on_an_error_path)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_double_free, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ret=1 runs=3 failing=1 first=2\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "errors=1\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: double-free of 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: sweep: with allocation #2 of the body failing, "
                                      "0 blocks leaked and 1 error was reported\n");
}
END_TEST

/* A body that leaks only when nothing fails. */
static void leak_on_success_body(void *arg)
{
    (void)arg;
    char *p = AR__HEAP__MALLOC(5, "kept on success");
    (void)ar_test__opaque(p);
}

static void body_sweep_leak_on_success(void)
{
    ar_heap_sweep_t result;
    size_t ret = ar_heap__sweep_failures(leak_on_success_body, NULL, &result);
    print_sweep(ret, &result);
}

START_TEST(a_leak_in_the_run_without_failure_is_first_failing_size_max)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_leak_on_success, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ret=1 runs=2 failing=1 first=SIZE_MAX\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: sweep: with no allocation failing, 1 block "
                                      "leaked and 0 errors were reported\n");
}
END_TEST

static void nothing_body(void *arg)
{
    (void)arg;
}

static void body_sweep_nothing(void)
{
    ar_heap_sweep_t result;
    size_t ret = ar_heap__sweep_failures(nothing_body, NULL, &result);
    print_sweep(ret, &result);
    ret = ar_heap__sweep_failures(nothing_body, NULL, NULL); /* out may be NULL */
    printf("without_out=%zu\n", ret);
}

START_TEST(a_body_that_allocates_nothing_runs_once)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_nothing, &child);
    expect_quiet_exit(&child, "nothing");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ret=0 runs=1 failing=0 first=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "without_out=0\n");
}
END_TEST

static int restore_site_line;

/* The allocation fail_file and fail_line name in the next test. */
static void *restore_site(void)
{
    restore_site_line = __LINE__ + 1;
    return AR__HEAP__MALLOC(8, "the fail_file site");
}

/* Sweep the fixed agent; print what the sweep and the body saw. */
static void sweep_under_options(const char *label)
{
    agent_fixed = 1;
    body_nulls = 0;
    ar_heap_sweep_t result;
    size_t before = ar_test__stats().failures_injected;
    size_t ret = ar_heap__sweep_failures(agent_body, "beta", &result);
    printf("%s: ", label);
    print_sweep(ret, &result);
    printf("%s: nulls=%zu injected=%zu\n", label, body_nulls,
           ar_test__stats().failures_injected - before);
}

/* A body that sets another option between its allocations: the sweep
 * still fails each of them in turn (until stop 41 the option restarted the
 * count, the second allocation never failed alone, and its error path's
 * leak went unseen), and what the body set stands after the sweep (the
 * whole option set was put back). */
static void body_sets_an_option(void *arg)
{
    (void)arg;
    char *a = AR__HEAP__MALLOC(16, "first");
    (void)ar_heap__set_options("on_error=continue");
    char *b = AR__HEAP__MALLOC(16, "second");
    if (b == NULL)
        return; /* the bug: a leaks */
    AR__HEAP__FREE(a);
    AR__HEAP__FREE(b);
}

static void body_sweep_options_in_the_body(void)
{
    ar_heap_sweep_t result;
    size_t ret = ar_heap__sweep_failures(body_sets_an_option, NULL, &result);
    print_sweep(ret, &result);
    char *p = AR__HEAP__MALLOC(8, "freed twice");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p); /* on_error=continue, as the body set it */
    puts("[survived]");
}

START_TEST(a_sweep_body_that_sets_options_is_swept_whole_and_keeps_them)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_options_in_the_body, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "ret=1 runs=3 failing=1 first=2\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[survived]");
}
END_TEST

static void body_sweep_restores(void)
{
    char opt[512];
    AR__HEAP__FREE(restore_site()); /* learn its line */
    /* fail_every=3 would fail the body's third allocation in every run,
     * the last one too: the sweep must suspend it. */
    snprintf(opt, sizeof opt, "fail_every=3:fail_nth=2:fail_file=%s:fail_line=%d", __FILE__,
             restore_site_line);
    set_options(opt);
    sweep_under_options("every");
    /* Counted afresh after the sweep: #1 at the site (fail_file), #2
     * (fail_nth), #3 and #6 (fail_every). */
    char pattern[8];
    void *site = restore_site();
    pattern[0] = site == NULL ? 'x' : '.';
    AR__HEAP__FREE(site);
    failure_pattern(pattern + 1, 5);
    printf("after=%s\n", pattern);

    set_options("fail_every=0:fail_nth=0:fail_line=0:fail_random=1000000:fail_seed=7");
    sweep_under_options("random");
    failure_pattern(pattern, 3);
    printf("random_after=%s\n", pattern);
}

START_TEST(the_sweep_restores_the_fail_options_it_suspended)
{
    ar_test_child_t child;
    ar_test__run_child(body_sweep_restores, &child);
    expect_quiet_exit(&child, "restore");
    /* While the sweep ran, only its own failures: one per run. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "every: ret=0 runs=4 failing=0 first=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "every: nulls=3 injected=3\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "after=xxx..x\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "random: ret=0 runs=4 failing=0 first=0\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "random: nulls=3 injected=3\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "random_after=xxx\n");
}
END_TEST

/* ------------------------------------------------- examples/sweep */

/* The line of examples/sweep.c that holds `needle`: the source is found
 * through $top_srcdir (set by make check), else from this file's name. */
static int example_line(const char *needle)
{
    static char source[16384];
    char path[1024];
    const char *top = getenv("top_srcdir");
    if (top != NULL && *top != '\0') {
        snprintf(path, sizeof path, "%s/examples/sweep.c", top);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash != NULL ? (int)(slash - __FILE__ + 1) : 0;
        snprintf(path, sizeof path, "%.*s../examples/sweep.c", dir, __FILE__);
    }
    long n = ar_proc__read_file(path, source, sizeof source);
    ck_assert_msg(n > 0, "cannot read %s", path);
    const char *at = strstr(source, needle);
    ck_assert_msg(at != NULL, "no \"%s\" in %s", needle, path);
    int line = 1;
    for (const char *c = source; c < at; c++)
        line += *c == '\n';
    return line;
}

static void body_exec_example(void)
{
    /* The example's own options: no report file in the build tree. */
    ar_test__exec_built("examples/sweep", "report_path=");
}

/* The example program, as it is shipped: its buggy sweep finds the leak
 * with the failed allocation's number and the leaked block's site; the
 * fixed sweep is clean; the leaked name is still live at exit, so the
 * program exits 23 (leak_exitcode's default). */
START_TEST(the_example_sweep_finds_the_leak_and_passes_the_fix)
{
    ar_test_child_t child;
    ar_test__run_child(body_exec_example, &child);
    ck_assert_msg(child.exited && child.exit_code == 23, "code %d:\n%s", child.exit_code,
                  child.output);
    const char *finding = strstr(child.output, "arheap: sweep: with allocation #3 of the body "
                                               "failing, 1 block leaked and 0 errors were "
                                               "reported\n");
    const char *buggy = strstr(child.output, "buggy agent_create: 4 runs, 1 with a leak or an "
                                             "error, the first with allocation #3 failing\n");
    const char *fixed = strstr(child.output, "fixed agent_create: 4 runs, 0 with a leak or an "
                                             "error\n");
    ck_assert_msg(finding != NULL && buggy != NULL && fixed != NULL, "%s", child.output);
    /* The finding is the buggy sweep's: printed while it ran, before its
     * summary, and the only one. */
    ck_assert_msg(finding < buggy && buggy < fixed, "out of order:\n%s", child.output);
    ck_assert_int_eq(ar_test__output_count(&child, "arheap: sweep:"), 1);
    char site[64];
    snprintf(site, sizeof site, "sweep.c:%d  \"agent name\"",
             example_line("AR__HEAP__STRDUP(name, \"agent name\")"));
    ck_assert_msg(ar_test__output_line_has(&child, "  #", site), "no block at %s:\n%s", site,
                  child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: 1 block (6 bytes) leaked since the checkpoint\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (6 bytes) not freed, from 1 site");
    ck_assert_msg(!ar_test__output_has(&child, "ERROR"), "%s", child.output);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *inject_suite(void)
{
    Suite *s = suite_create("inject");

    TCase *opts = tcase_create("options");
    tcase_set_timeout(opts, 30);
    tcase_add_loop_test(opts, fail_nth_3_fails_exactly_the_third_allocation, 0, KINDS);
    tcase_add_test(opts, fail_every_n_fails_each_nth_allocation);
    tcase_add_test(opts, fail_random_with_a_seed_is_reproducible_and_proportional);
    tcase_add_test(opts, seeds_next_to_each_other_fail_unrelated_allocations);
    tcase_add_test(opts, the_count_restarts_only_when_a_fail_option_is_given);
    tcase_add_test(opts, fail_file_and_fail_line_fail_only_that_site);
    tcase_add_loop_test(opts, fail_file_matches_the_whole_name_or_its_last_components, 0,
                        SITE_CASES);
    tcase_add_test(opts, fail_nth_from_ar_heap_options_counts_from_the_start);
    tcase_add_test(opts, with_the_options_off_nothing_fails);
    suite_add_tcase(s, opts);

    TCase *sweep = tcase_create("sweep");
    tcase_set_timeout(sweep, 30);
    tcase_add_test(sweep, the_sweep_finds_a_leak_on_an_error_path);
    tcase_add_test(sweep, the_fixed_code_sweeps_clean);
    tcase_add_test(sweep, the_sweep_counts_an_error_reported_on_an_error_path);
    tcase_add_test(sweep, a_leak_in_the_run_without_failure_is_first_failing_size_max);
    tcase_add_test(sweep, a_body_that_allocates_nothing_runs_once);
    tcase_add_test(sweep, the_sweep_restores_the_fail_options_it_suspended);
    tcase_add_test(sweep, a_sweep_body_that_sets_options_is_swept_whole_and_keeps_them);
    tcase_add_test(sweep, the_example_sweep_finds_the_leak_and_passes_the_fix);
    suite_add_tcase(s, sweep);
    return s;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], ENV_CHILD_FLAG) == 0)
        return env_child();
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(inject_suite(), 1);
}
