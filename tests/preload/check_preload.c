/*
 * check_preload.c: libarheap-preload.so under an unmodified program.
 *
 * Each test runs tests/preload/victim (built without arheap) in a child
 * with LD_PRELOAD naming the preload library and AR_HEAP_OPTIONS set, and
 * asserts on how it ended and on what it printed. The guard-page tests are
 * in the spirit of Electric Fence's own: one byte past the end faults with
 * byte-exact placement, one byte before the start faults with the guard
 * below, any touch of a freed block faults, and a random stress with
 * thousands of live blocks runs clean in every placement. The Electric
 * Fence and DUMA tests run tests/preload/efence_probe, a program of theirs
 * that catches its own faults, with their variables and globals.
 */
#define _GNU_SOURCE
#include "../ar_test.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char preload_path[PATH_MAX];
static char victim_path[PATH_MAX];
static char module_path[PATH_MAX];

/* What the next child runs. */
static const char *run_options;
static const char *run_args[4];

/* Paths from the build tree (top_builddir is set by make check). */
static void find_paths(void)
{
    const char *top = getenv("top_builddir");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/src/.libs/libarheap-preload.so", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, preload_path) != NULL, "no preload library at %s", buf);
    snprintf(buf, sizeof buf, "%s/tests/preload/victim", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, victim_path) != NULL, "no victim program at %s", buf);
    snprintf(buf, sizeof buf, "%s/tests/preload/.libs/exit_module.so", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, module_path) != NULL, "no exit module at %s", buf);
}

/* Take Electric Fence's and DUMA's variables out of the environment: the
 * preload library reads them (the caller's shell may have some). */
static void clear_efence_variables(void)
{
    extern char **environ;
    for (size_t i = 0; environ[i] != NULL;) {
        if (strncmp(environ[i], "EF_", 3) == 0 || strncmp(environ[i], "DUMA_", 5) == 0) {
            char name[128];
            size_t n = strcspn(environ[i], "=");
            snprintf(name, sizeof name, "%.*s", (int)n, environ[i]);
            unsetenv(name);
        } else {
            i++;
        }
    }
}

static void body_exec_victim(void)
{
    clear_efence_variables();
    setenv("LD_PRELOAD", preload_path, 1);
    setenv("AR_HEAP_OPTIONS", run_options, 1);
    char *argv[6] = { victim_path, NULL };
    for (int i = 0; i < 4 && run_args[i] != NULL; i++)
        argv[i + 1] = (char *)run_args[i];
    execv(victim_path, argv);
    printf("[exec failed]\n");
    _exit(127);
}

/* Run `victim scenario [arg]` under the preload library with `options`. */
static void run(ar_test_child_t *child, const char *options, const char *scenario,
                const char *arg)
{
    find_paths();
    run_options = options;
    run_args[0] = scenario;
    run_args[1] = arg;
    run_args[2] = NULL;
    ar_test__run_child(body_exec_victim, child);
}

static void expect_signal(const ar_test_child_t *child, int sig, const char *label)
{
    ck_assert_msg(child->signaled && child->signal == sig,
                  "%s: expected signal %d (exited=%d code=%d signaled=%d signal=%d):\n%s", label,
                  sig, child->exited, child->exit_code, child->signaled, child->signal,
                  child->output);
}

static void expect_clean_exit(const ar_test_child_t *child, const char *label)
{
    ck_assert_msg(child->exited && child->exit_code == 0,
                  "%s: expected exit 0 (exited=%d code=%d signaled=%d signal=%d):\n%s", label,
                  child->exited, child->exit_code, child->signaled, child->signal, child->output);
    ck_assert_msg(!ar_test__output_has(child, "arheap:"), "%s: arheap said something:\n%s",
                  label, child->output);
}

/* ------------------------------------------------------------ guard pages (EF-style) */

/* One scenario under guard pages: which placement, what must be said. */
typedef struct fault_case_s {
    const char *options;
    const char *scenario;
    const char *kind;   /* the error line */
    const char *access; /* "READ at" / "WRITE at" */
    const char *offset; /* the offset phrase */
} fault_case_t;

static const fault_case_t fault_cases[] = {
    { "guard=1:guard_align=1", "overrun-write", "arheap: ERROR: heap-buffer-overflow",
      "WRITE at", "offset 13: 0 bytes after the end of the block" },
    { "guard=1:guard_align=1", "overrun-read", "arheap: ERROR: heap-buffer-overflow", "READ at",
      "offset 13: 0 bytes after the end of the block" },
    { "guard=1:guard_below=1", "underrun-write", "arheap: ERROR: heap-buffer-underflow",
      "WRITE at", "offset -1" },
    { "guard=1:guard_below=1", "underrun-read", "arheap: ERROR: heap-buffer-underflow", "READ at",
      "offset -1" },
    { "guard=1", "after-free-read", "arheap: ERROR: heap-use-after-free", "READ at", "offset 8" },
    { "guard=1", "after-free-write", "arheap: ERROR: heap-use-after-free", "WRITE at",
      "offset 8" },
    { "guard=1:guard_below=1", "after-free-write", "arheap: ERROR: heap-use-after-free",
      "WRITE at", "offset 8" },
};

START_TEST(a_guarded_touch_out_of_bounds_faults_at_the_instruction)
{
    const fault_case_t *c = &fault_cases[_i];
    char label[128];
    snprintf(label, sizeof label, "%s %s", c->options, c->scenario);
    ar_test_child_t child;
    run(&child, c->options, c->scenario, NULL);
    expect_signal(&child, SIGSEGV, label);
    ar_test__expect_has(&child, label, c->kind);
    ck_assert_msg(ar_test__output_line_has(&child, c->access, c->offset),
                  "%s: no \"%s ... %s\" line:\n%s", label, c->access, c->offset, child.output);
    /* The faulting instruction and the allocation are the victim's code. */
    ck_assert_msg(ar_test__output_line_has(&child, "  by the instruction at 0x", "victim+0x"),
                  "%s: the instruction is not named in the victim:\n%s", label, child.output);
    ck_assert_msg(ar_test__output_line_has(&child, "  allocated at 0x", "victim+0x"),
                  "%s: the allocation site is not the victim's call:\n%s", label, child.output);
    ck_assert_msg(!ar_test__output_has(&child, "[survived]"), "%s: the program went on:\n%s",
                  label, child.output);
    if (strncmp(c->scenario, "after-free", 10) == 0)
        ck_assert_msg(ar_test__output_line_has(&child, "  freed at 0x", "victim+0x"),
                      "%s: the free site is missing:\n%s", label, child.output);
}
END_TEST

/* ------------------------------------------------------------ Electric Fence and DUMA users */

static char probe_path[PATH_MAX];

/* What the next probe runs: variables "NAME=VALUE" (NULL ends), options
 * (NULL: no AR_HEAP_OPTIONS at all), and the probe's mode. */
static const char *const *probe_env;
static const char *probe_options;
static const char *probe_mode;

static void body_exec_probe(void)
{
    clear_efence_variables();
    setenv("LD_PRELOAD", preload_path, 1);
    if (probe_options != NULL)
        setenv("AR_HEAP_OPTIONS", probe_options, 1);
    else
        unsetenv("AR_HEAP_OPTIONS");
    for (size_t i = 0; probe_env[i] != NULL; i++)
        putenv((char *)probe_env[i]);
    char *argv[3] = { probe_path, (char *)probe_mode, NULL };
    execv(probe_path, argv);
    printf("[exec failed]\n");
    _exit(127);
}

#define AR_PROBE_LINES 8

typedef struct probe_case_s {
    const char *label;
    const char *env[4];
    const char *options;
    const char *mode;
    const char *lines[AR_PROBE_LINES]; /* each printed, whole */
} probe_case_t;

/* What tests/preload/efence_probe prints under each setting; each case
 * was checked against libefence.so and libduma.so where they have it. */
static const probe_case_t probe_cases[] = {
    { "no variable: no guard pages", { NULL }, NULL, "env",
      { "[over 1: no fault]", "[over 4: no fault]", "[after free: no fault]" } },
    { "EF_PROTECT_BELOW=1", { "EF_PROTECT_BELOW=1", NULL }, NULL, "env",
      { "[first: no fault]", "[last: no fault]", "[under 1: fault]", "[over 4: no fault]",
        "[after free: fault]" } },
    { "EF_PROTECT_BELOW=0", { "EF_PROTECT_BELOW=0", NULL }, NULL, "env",
      { "[under 1: no fault]", "[over 1: no fault]", "[over 4: fault]", "[after free: fault]" } },
    { "EF_ALIGNMENT=0 is byte-exact", { "EF_ALIGNMENT=0", NULL }, NULL, "env",
      { "[last: no fault]", "[over 1: fault]", "[under 1: no fault]", "[after free: fault]" } },
    { "EF_ALIGNMENT=4", { "EF_ALIGNMENT=4", NULL }, NULL, "env",
      { "[last: no fault]", "[over 1: no fault]", "[over 4: fault]" } },
    { "EF_DISABLE_BANNER alone implies guard=1", { "EF_DISABLE_BANNER=1", NULL }, NULL, "env",
      { "[over 1: no fault]", "[over 4: fault]", "[after free: fault]" } },
    { "DUMA_PROTECT_BELOW=1", { "DUMA_PROTECT_BELOW=1", NULL }, NULL, "env",
      { "[under 1: fault]", "[over 4: no fault]", "[after free: fault]" } },
    { "DUMA_ALIGNMENT=1", { "DUMA_ALIGNMENT=1", NULL }, NULL, "env",
      { "[over 1: fault]", "[under 1: no fault]" } },
    { "EF_ wins over DUMA_", { "DUMA_PROTECT_BELOW=1", "EF_PROTECT_BELOW=0", NULL }, NULL, "env",
      { "[under 1: no fault]", "[over 4: fault]" } },
    { "EF_ALIGNMENT wins over DUMA_ALIGNMENT", { "DUMA_ALIGNMENT=16", "EF_ALIGNMENT=0", NULL },
      NULL, "env", { "[over 1: fault]" } },
    { "AR_HEAP_OPTIONS wins over EF_PROTECT_BELOW", { "EF_PROTECT_BELOW=1", NULL },
      "guard_below=0", "env", { "[under 1: no fault]", "[over 4: fault]" } },
    { "AR_HEAP_OPTIONS wins over EF_ALIGNMENT", { "EF_ALIGNMENT=0", NULL }, "guard_align=16",
      "env", { "[over 1: no fault]", "[over 4: fault]" } },
    { "AR_HEAP_OPTIONS guard=0 wins over the implied guard=1",
      { "EF_ALIGNMENT=0", "EF_PROTECT_BELOW=1", NULL }, "guard=0", "env",
      { "[over 1: no fault]", "[under 1: no fault]", "[after free: no fault]" } },
    { "a bad value is ignored, the variable still implies guard=1", { "EF_ALIGNMENT=word", NULL },
      NULL, "env",
      { "arheap: warning: EF_ALIGNMENT: takes a whole number; got 'word' (ignored)",
        "[over 1: no fault]", "[over 4: fault]" } },
    { "a value past a long is ignored, its range named",
      { "EF_ALIGNMENT=99999999999999999999", NULL }, NULL, "env",
      { "arheap: warning: EF_ALIGNMENT: takes a whole number from -9223372036854775807 to "
        "9223372036854775807; got '99999999999999999999' (ignored)",
        "[over 1: no fault]", "[over 4: fault]" } },
    { "an alignment beyond a page is ignored", { "EF_ALIGNMENT=8192", NULL }, NULL, "env",
      { "arheap: warning: EF_ALIGNMENT: option 'guard_align' takes a whole number from 1 to 4096; "
        "got '8192' (ignored)",
        "[over 4: fault]" } },
    { "an alignment that is not a power of two is ignored", { "EF_ALIGNMENT=96", NULL }, NULL,
      "env",
      { "arheap: warning: EF_ALIGNMENT: option 'guard_align' takes a power of two from 1 to "
        "4096; got '96' (ignored)",
        "[over 4: fault]" } },
    { "a refused guard value gives nothing: the globals still turn guard pages on", { NULL },
      "guard=banana", "globals",
      { "arheap: warning: AR_HEAP_OPTIONS: option 'guard' takes 0 or 1 (or true/false, yes/no); "
        "got 'banana' (ignored)",
        "[above over 1: fault]", "[below under 1: fault]", "[done]" } },
    { "a negative alignment is ignored", { "EF_ALIGNMENT=-4", NULL }, NULL, "env",
      { "arheap: warning: EF_ALIGNMENT: takes 0 (byte-exact) or a positive alignment; got a "
        "negative number (ignored)",
        "[over 1: no fault]", "[over 4: fault]" } },
    { "DUMA_MALLOC_0_STRATEGY=1 is not supported", { "DUMA_MALLOC_0_STRATEGY=1", NULL }, NULL,
      "zero",
      { "arheap: warning: DUMA_MALLOC_0_STRATEGY: only strategies 0 (report) and 3 (a unique "
        "pointer) are supported; a 0-byte allocation returns a unique pointer (ignored)",
        "[malloc(0) returned a block]", "[done]" } },
    { "the globals steer each allocation", { NULL }, NULL, "globals",
      { "[above last: no fault]", "[above over 1: fault]", "[below first: no fault]",
        "[below last: no fault]", "[below under 1: fault]", "[aligned to 16: yes]",
        "[aligned slack: no fault]", "[aligned over 4: fault]" } },
    { "the globals: byte-exact, an alignment of its own, after free", { NULL }, NULL, "globals",
      { "[exact over 1: fault]", "[memalign 64 under 96: aligned]", "[above after free: fault]",
        "[done]" } },
    { "the globals switched at every block: no two blocks touch", { NULL }, NULL, "alternating",
      { "[blocks touching another block: 0]", "[done]" } },
    { "the globals under EF_ variables", { "EF_PROTECT_BELOW=1", "EF_ALIGNMENT=64", NULL }, NULL,
      "globals", { "[above over 1: fault]", "[below under 1: fault]", "[aligned over 4: fault]" } },
    { "AR_HEAP_OPTIONS guard=0 wins over the globals", { NULL }, "guard=0", "globals",
      { "[above over 1: no fault]", "[below under 1: no fault]", "[exact over 1: no fault]",
        "[done]" } },
    { "EF_PROTECT_FREE=1: freed memory is never reused", { "EF_PROTECT_FREE=1", NULL }, NULL,
      "reuse", { "[reused: no]", "[done]" } },
    { "EF_PROTECT_FREE=0 keeps the bounded quarantine", { "EF_PROTECT_FREE=0", NULL }, NULL,
      "reuse", { "[reused: yes]", "[done]" } },
    { "DUMA_PROTECT_FREE=-1: freed memory is never reused", { "DUMA_PROTECT_FREE=-1", NULL },
      NULL, "reuse", { "[reused: no]", "[done]" } },
    { "DUMA_PROTECT_FREE=64: 64 KiB held", { "DUMA_PROTECT_FREE=64", NULL }, NULL, "reuse",
      { "[reused: yes]", "[done]" } },
    { "AR_HEAP_OPTIONS wins over EF_PROTECT_FREE", { "EF_PROTECT_FREE=1", NULL },
      "quarantine_bytes=1048576", "reuse", { "[reused: yes]", "[done]" } },
    { "EF_ALLOW_MALLOC_0=1", { "EF_ALLOW_MALLOC_0=1", NULL }, NULL, "zero",
      { "[malloc(0) returned a block]", "[done]" } },
    { "no EF_ALLOW_MALLOC_0: malloc(0) is allowed", { "EF_PROTECT_BELOW=0", NULL }, NULL, "zero",
      { "[malloc(0) returned a block]", "[done]" } },
    { "DUMA_MALLOC_0_STRATEGY=3", { "DUMA_MALLOC_0_STRATEGY=3", NULL }, NULL, "zero",
      { "[malloc(0) returned a block]", "[done]" } },
    { "on_error=continue after EF_ALLOW_MALLOC_0=0", { "EF_ALLOW_MALLOC_0=0", NULL },
      "on_error=continue", "zero",
      { "arheap: ERROR: invalid-argument", "[malloc(0) returned a block]", "[done]" } },
    { "EF_FILL=-1: no fill", { "EF_FILL=-1", NULL }, NULL, "fill", { "[fill: 00]", "[done]" } },
    { "DUMA_FILL=-1: no fill", { "DUMA_FILL=-1", NULL }, NULL, "fill", { "[fill: 00]", "[done]" } },
    { "EF_FILL=190: arheap's own byte", { "EF_FILL=190", NULL }, NULL, "fill",
      { "[fill: be]", "[done]" } },
    { "EF_FILL with another byte: a warning, 0xbe", { "EF_FILL=7", NULL }, NULL, "fill",
      { "arheap: warning: EF_FILL: arheap fills new blocks with 0xbe (190), not another byte; "
        "-1 turns the fill off",
        "[fill: be]", "[done]" } },
    { "DUMA_REPORT_ALL_LEAKS=1: the leak report", { "DUMA_REPORT_ALL_LEAKS=1", NULL }, NULL,
      "leak", { "arheap: LEAK: 1 block (48 bytes) not freed", "[done]" } },
    { "DUMA_REPORT_ALL_LEAKS=0: no leak report", { "DUMA_REPORT_ALL_LEAKS=0", NULL }, NULL,
      "leak", { "[done]" } },
};

START_TEST(an_electric_fence_users_settings_apply)
{
    const probe_case_t *c = &probe_cases[_i];
    find_paths();
    const char *top = getenv("top_builddir");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/tests/preload/efence_probe", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, probe_path) != NULL, "no probe program at %s", buf);
    probe_env = c->env;
    probe_options = c->options;
    probe_mode = c->mode;
    ar_test_child_t child;
    ar_test__run_child(body_exec_probe, &child);
    ck_assert_msg(child.exited && child.exit_code == 0,
                  "%s: expected exit 0 (exited=%d code=%d signaled=%d signal=%d):\n%s", c->label,
                  child.exited, child.exit_code, child.signaled, child.signal, child.output);
    for (size_t i = 0; i < AR_PROBE_LINES && c->lines[i] != NULL; i++)
        ar_test__expect_has(&child, c->label, c->lines[i]);
    if (strncmp(c->lines[0], "arheap:", 7) != 0 && strstr(c->label, "continue") == NULL)
        ck_assert_msg(!ar_test__output_has(&child, "arheap:"), "%s: arheap said something:\n%s",
                      c->label, child.output);
}
END_TEST

/* DUMA_CHECK_FREQ=1 (check_every=1): a write into the slack after a block
 * is found by the next allocation's check, before the program goes on;
 * without it, by the free. */
START_TEST(duma_check_freq_checks_the_heap_at_every_operation)
{
    find_paths();
    const char *top = getenv("top_builddir");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/tests/preload/efence_probe", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, probe_path) != NULL, "no probe program at %s", buf);
    static const char *const every[] = { "DUMA_CHECK_FREQ=1", NULL };
    static const char *const never[] = { "DUMA_CHECK_FREQ=0", NULL };
    probe_options = NULL;
    probe_mode = "slack";
    for (int k = 0; k < 2; k++) {
        probe_env = k == 0 ? every : never;
        ar_test_child_t child;
        ar_test__run_child(body_exec_probe, &child);
        const char *label = probe_env[0];
        expect_signal(&child, SIGABRT, label);
        ar_test__expect_has(&child, label, "[written past the end]");
        ar_test__expect_has(&child, label, "arheap: ERROR: heap-buffer-overflow");
        if (k == 0)
            ck_assert_msg(!ar_test__output_has(&child, "[after the next malloc]"),
                          "%s: the damage was not found before the program went on:\n%s",
                          label, child.output);
        else
            ar_test__expect_has(&child, label, "[after the next malloc]");
    }
}
END_TEST

/* EF_ALLOW_MALLOC_0=0 (and DUMA's two ways of saying it): malloc(0) is
 * reported at its call, and the program stops there. */
static const char *const malloc_0_traps[][2] = {
    { "EF_ALLOW_MALLOC_0=0", NULL },
    { "DUMA_ALLOW_MALLOC_0=0", NULL },
    { "DUMA_MALLOC_0_STRATEGY=0", NULL },
};

START_TEST(malloc_0_is_reported_when_an_electric_fence_user_asks)
{
    find_paths();
    const char *top = getenv("top_builddir");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/tests/preload/efence_probe", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, probe_path) != NULL, "no probe program at %s", buf);
    probe_env = malloc_0_traps[_i];
    probe_options = NULL;
    probe_mode = "zero";
    ar_test_child_t child;
    ar_test__run_child(body_exec_probe, &child);
    const char *label = malloc_0_traps[_i][0];
    expect_signal(&child, SIGABRT, label);
    ar_test__expect_has(&child, label, "arheap: ERROR: invalid-argument");
    ar_test__expect_has(&child, label,
                        "  an allocation of 0 bytes (allow_malloc_0=0, as Electric Fence's "
                        "EF_ALLOW_MALLOC_0=0)\n");
    ck_assert_msg(ar_test__output_line_has(&child, "  call at 0x", "efence_probe+0x"),
                  "%s: the call is not named in the program:\n%s", label, child.output);
    ck_assert_msg(!ar_test__output_has(&child, "[malloc(0) returned"),
                  "%s: the program went on:\n%s", label, child.output);
}
END_TEST

/* ------------------------------------------------------------ reports */

/* A line of the report: `prefix` and, later on the same line, `needle`. */
typedef struct report_line_s {
    const char *prefix;
    const char *needle;
} report_line_t;

/* One bug found without a fault: how the program ends (a signal, or exit
 * 0 with on_error=continue), what it printed, which report lines. */
typedef struct report_case_s {
    const char *label;
    const char *options;
    const char *scenario;
    int signal;          /* 0: exits 0 */
    const char *said;    /* must appear, or NULL */
    const char *unsaid;  /* must not appear, or NULL */
    const char *kind;
    report_line_t lines[3];
} report_case_t;

static const report_case_t report_cases[] = {
    /* With the default 16-byte alignment the byte past a 13-byte block is
     * slack, covered by the tail canary: caught at free, not by a fault. */
    { "slack in guard mode", "guard=1", "overrun-write", SIGABRT, "[survived]\n", NULL,
      "arheap: ERROR: heap-buffer-overflow",
      { { "  found by free at 0x", "victim+0x" } } },
    { "canary", "", "overrun-write", SIGABRT, "  block: 13 bytes \"malloc\"", NULL,
      "arheap: ERROR: heap-buffer-overflow",
      { { "  allocated at 0x", "victim+0x" }, { "  found by free at 0x", "victim+0x" } } },
    /* glibc's wcsdup allocates through the replaced malloc: its block is
     * checked, and the stack leads from libc back to the program: libc is
     * built without frame pointers, so that takes stack_exact=1. */
    { "libc's wcsdup", "stack_exact=1", "wcsdup-overflow", SIGABRT,
      "  block: 24 bytes \"malloc\"", NULL, "arheap: ERROR: heap-buffer-overflow",
      { { "  allocated at 0x", "libc.so" }, { "      #1 0x", "victim+0x" } } },
    /* Without it, the block is still reported, with libc's frame. */
    { "libc's wcsdup, frame walk", "", "wcsdup-overflow", SIGABRT,
      "  block: 24 bytes \"malloc\"", NULL, "arheap: ERROR: heap-buffer-overflow",
      { { "  allocated at 0x", "libc.so" }, { "      #0 0x", "libc.so" } } },
    /* strdup is the preload library's own: the block is named for it and
     * its site is the program's call, with the default frame walk. */
    { "strdup", "", "strdup-overflow", SIGABRT, "  block: 6 bytes \"strdup\"", NULL,
      "arheap: ERROR: heap-buffer-overflow",
      { { "  allocated at 0x", "victim+0x" }, { "      #0 0x", "victim+0x" },
        { "  found by free at 0x", "victim+0x" } } },
    { "strdup of NULL", "on_error=continue", "strdup-null", 0, "[null=1 errno=EINVAL]\n",
      NULL, "arheap: ERROR: invalid-argument",
      { { "  strdup was given a NULL string", "" }, { "  call at 0x", "victim+0x" } } },
    /* The default frame-pointer walk follows the program's own frames. */
    { "nested calls, frame walk", "", "nested-overflow", SIGABRT, NULL, "[survived]",
      "arheap: ERROR: heap-buffer-overflow",
      { { "      #0 0x", "victim+0x" }, { "      #1 0x", "victim+0x" },
        { "      #2 0x", "victim+0x" } } },
    { "double free", "", "double-free", SIGABRT, NULL, "[survived]",
      "arheap: ERROR: double-free",
      { { "  free at 0x", "victim+0x" }, { "  freed at 0x", "victim+0x" } } },
    /* Reported, and not passed to libc (which would abort). */
    { "free of a stack address", "on_error=continue", "invalid-free", 0, "[survived]\n", NULL,
      "arheap: ERROR: invalid-free", { { "  free at 0x", "victim+0x" } } },
    { "malloc_usable_size of a stack address", "on_error=continue", "usable-size-of-stack", 0,
      "[usable=0]\n", NULL, "arheap: ERROR: invalid-free",
      { { "malloc_usable_size at 0x", "victim+0x" } } },
    /* Both damaged bytes counted when the reusing block starts later. */
    { "write after free, reused by an aligned block", "quarantine_bytes=1:on_error=continue",
      "write-after-free-aligned-reuse", 0, "[survived]\n", NULL,
      "arheap: ERROR: heap-use-after-free",
      { { "  2 bytes written after the block was freed; the first at offset 0", "" } } },
    /* A size query frees nothing: a use after free, not a double free. */
    { "malloc_usable_size of a freed block", "on_error=continue", "usable-size-after-free", 0,
      "[usable=0]\n", "arheap: ERROR: double-free", "arheap: ERROR: heap-use-after-free",
      { { "  the pointer is a freed block: its size was asked for after its free", "" },
        { "malloc_usable_size at 0x", "victim+0x" },
        { "  freed at 0x", "victim+0x" } } },
};

START_TEST(a_bug_is_reported_with_its_sites_in_the_program)
{
    const report_case_t *c = &report_cases[_i];
    ar_test_child_t child;
    run(&child, c->options, c->scenario, NULL);
    if (c->signal != 0)
        expect_signal(&child, c->signal, c->label);
    else
        ck_assert_msg(child.exited && child.exit_code == 0, "%s: did not exit 0:\n%s", c->label,
                      child.output);
    ar_test__expect_has(&child, c->label, c->kind);
    if (c->said != NULL)
        ar_test__expect_has(&child, c->label, c->said);
    if (c->unsaid != NULL)
        ck_assert_msg(!ar_test__output_has(&child, c->unsaid), "%s: \"%s\" was printed:\n%s",
                      c->label, c->unsaid, child.output);
    for (int i = 0; i < 3 && c->lines[i].prefix != NULL; i++)
        ck_assert_msg(ar_test__output_line_has(&child, c->lines[i].prefix, c->lines[i].needle),
                      "%s: no line \"%s ... %s\":\n%s", c->label, c->lines[i].prefix,
                      c->lines[i].needle, child.output);
}
END_TEST

/* Without symbols (symbolize=0; check_symbols tests them), frames are
 * named from the dynamic symbol table (dladdr): libc's exported functions
 * are, the victim's static functions are not (it is not linked with
 * -rdynamic) and show as victim+0xOFFSET. A libc may name wcsdup's block
 * by an alias (__wcsdup). */
static int names_wcsdup(const ar_test_child_t *child, const char *prefix)
{
    return ar_test__output_line_has(child, prefix, " in __wcsdup (") ||
           ar_test__output_line_has(child, prefix, " in wcsdup (");
}

START_TEST(a_frame_in_libc_is_named_in_the_stack)
{
    ar_test_child_t child;
    run(&child, "stack_exact=1:symbolize=0", "wcsdup-overflow", NULL);
    expect_signal(&child, SIGABRT, "wcsdup-overflow");
    ck_assert_msg(names_wcsdup(&child, "  allocated at 0x"),
                  "the allocation site is not named wcsdup:\n%s", child.output);
    ck_assert_msg(names_wcsdup(&child, "      #0 0x"),
                  "the stack's first frame is not named wcsdup:\n%s", child.output);
    ck_assert_msg(ar_test__output_line_has(&child, "      #1 0x", "victim+0x"),
                  "the second frame is not the victim's call:\n%s", child.output);
    ck_assert_msg(ar_test__output_line_has(&child, "      #", " in __libc_start_main (/"),
                  "__libc_start_main is not named in the stack:\n%s", child.output);
}
END_TEST

/* ------------------------------------------------------------ leaks */

/* Preloaded, the leak report is on by default and lists the blocks the
 * program can no longer reach; the status stays the program's. */
START_TEST(leaks_are_reported_by_default)
{
    ar_test_child_t child;
    run(&child, "", "leak", NULL);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[leaking 77 bytes]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (77 bytes) not freed");
    ck_assert_msg(ar_test__output_line_has(&child, "victim+0x", ": 77 bytes in 1 block"),
                  "the 77-byte leak is not listed at its site:\n%s", child.output);
}
END_TEST

/* leak_report=0 turns it off. */
START_TEST(leak_report_0_says_nothing_of_leaks)
{
    ar_test_child_t child;
    run(&child, "leak_report=0", "leak", NULL);
    expect_clean_exit(&child, "leak_report=0");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[leaking 77 bytes]\n");
}
END_TEST

START_TEST(leak_report_1_lists_the_programs_leak_with_its_site)
{
    ar_test_child_t child;
    run(&child, "leak_report=1", "leak", NULL);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    ck_assert_msg(ar_test__output_line_has(&child, "victim+0x", ": 77 bytes in 1 block"),
                  "the 77-byte leak is not listed at its site:\n%s", child.output);
}
END_TEST

/* Preloaded, the leak report informs and the status is the program's,
 * unless leak_exitcode is asked for by name. */
START_TEST(leak_exitcode_applies_when_asked_for_by_name)
{
    ar_test_child_t child;
    run(&child, "leak_report=1:leak_exitcode=23", "leak", NULL);
    ck_assert_msg(child.exited && child.exit_code == 23, "code %d: %s", child.exit_code,
                  child.output);
}
END_TEST

/* ------------------------------------------------------------ injected failures */

/* victim fail-nth under `options`: which of its twenty mallocs returned
 * NULL with ENOMEM (1-based; 0: none did), after asserting that it went
 * on to the end, exactly one failed at most, and arheap said nothing. */
static int failing_malloc(const char *options, ar_test_child_t *child)
{
    run(child, options, "fail-nth", NULL);
    expect_clean_exit(child, options);
    int n = 0;
    const char *at = strstr(child->output, "[malloc ");
    if (at == NULL) {
        ar_test__expect_has(child, options, "[no malloc failed]\n");
        return 0;
    }
    ck_assert_msg(sscanf(at, "[malloc %d of 20: NULL, errno ENOMEM]", &n) == 1,
                  "%s: not an ENOMEM failure:\n%s", options, child->output);
    ck_assert_msg(ar_test__output_count(child, "[malloc ") == 1, "%s: more than one failed:\n%s",
                  options, child->output);
    return n;
}

/* fail_nth counts the tracked allocations of the whole process from the
 * first, libc's and constructors' included, so the victim can not know
 * which of its own is the Nth: moving N by 3 moves its failure by 3. */
START_TEST(fail_nth_fails_the_nth_allocation_of_the_program)
{
    ar_test_child_t child;
    ck_assert_int_eq(failing_malloc("", &child), 0);
    int at5 = failing_malloc("fail_nth=5", &child);
    ck_assert_msg(at5 >= 1 && at5 <= 5, "fail_nth=5 failed malloc %d of the loop", at5);
    int at8 = failing_malloc("fail_nth=8", &child);
    ck_assert_msg(at8 == at5 + 3, "fail_nth=5 failed malloc %d, fail_nth=8 malloc %d", at5, at8);
}
END_TEST

/* The calls carry no file and line: no site matches fail_file and
 * fail_line, not even the malloc's own. */
START_TEST(fail_file_and_fail_line_match_no_site)
{
    ar_test_child_t child;
    run(&child, "", "fail-nth", NULL);
    int line = 0;
    const char *at = strstr(child.output, "[the malloc is at victim.c:");
    ck_assert_msg(at != NULL && sscanf(at, "[the malloc is at victim.c:%d]", &line) == 1,
                  "%s", child.output);
    char options[96];
    snprintf(options, sizeof options, "fail_file=victim.c:fail_line=%d", line);
    ck_assert_int_eq(failing_malloc(options, &child), 0);
}
END_TEST

/* ------------------------------------------------------------ exit order */

/*
 * The exit check runs after the last free: victim exit-order frees four
 * blocks in atexit handlers and two in its destructor, and leaves only
 * its constructor's 33-byte block (its output is not buffered by stdio,
 * so libc leaves nothing of its own). The report counts that one block.
 */
START_TEST(the_exit_report_lists_no_block_freed_by_a_handler_or_a_destructor)
{
    ar_test_child_t child;
    run(&child, "leak_report=1:leak_reachable=1", "exit-order", NULL);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[exiting]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 1 block (33 bytes) not freed, from 1 site");
    ck_assert_msg(ar_test__output_line_has(&child, "victim+0x", ": 33 bytes in 1 block"),
                  "the constructor's block is not listed at its site:\n%s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "ERROR"), "%s", child.output);
}
END_TEST

/* A library loaded after the preload library is finalised after it: its
 * destructor's free still comes before the check. Its 12345-byte block
 * would be the largest leak, the first line of the summary. */
START_TEST(a_librarys_destructor_frees_before_the_exit_check)
{
    ar_test_child_t child;
    find_paths();
    run(&child, "leak_report=1:leak_reachable=1", "library-destructor", module_path);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[module block: 12345 bytes]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: ");
    ck_assert_msg(!ar_test__output_has(&child, "12345 bytes in"),
                  "the block the library frees in its destructor is listed:\n%s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "exit_module"), "%s", child.output);
}
END_TEST

/* An exit handler registered by a destructor runs after the check: its
 * block is listed (it was live), and its free is an ordinary free, not a
 * report (on_error=abort is the default). */
START_TEST(a_block_freed_after_the_exit_check_is_freed_quietly)
{
    ar_test_child_t child;
    run(&child, "leak_report=1:leak_reachable=1", "free-after-exit-check", NULL);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: LEAK: 2 blocks (80 bytes) not freed, from 2 sites");
    ck_assert_msg(ar_test__output_line_has(&child, "victim+0x", ": 47 bytes in 1 block"),
                  "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[freed after the check]\n");
    ck_assert_msg(!ar_test__output_has(&child, "ERROR"), "%s", child.output);
}
END_TEST

/* ------------------------------------------------------------ contracts */

typedef struct clean_case_s {
    const char *options;
    const char *scenario;
    const char *arg;
    const char *said; /* what the program prints when everything held */
} clean_case_t;

static const clean_case_t clean_cases[] = {
    { "", "alignment", NULL, "[alignment ok]\n" },
    { "guard=1", "alignment", NULL, "[alignment ok]\n" },
    { "guard=1:guard_below=1", "alignment", NULL, "[alignment ok]\n" },
    { "guard=1:guard_align=1", "alignment", "exact", "[alignment ok]\n" },
    { "", "threads", NULL, "[threads ok]\n" },
    { "guard=1", "threads", NULL, "[threads ok]\n" },
    { "", "fork", NULL, "[fork ok]\n" },
    { "guard=1", "fork", "5", "[fork ok]\n" },
    /* Fork handlers that allocate, registered before the heap's own. */
    { "", "atfork", NULL, "[atfork ok]\n" },
    /* Frees after a thread's key destructors, 2000 threads. */
    { "", "late-frees", NULL, "[late frees ok]\n" },
    { "", "small-address-space", NULL, "[small address space: ok]\n" },
    /* A small quarantine: its FIFO is worked on at most frees, where a
     * handler's free did the damage (a hang or a crash, every run). */
    { "leak_report=0:quarantine_bytes=65536", "handler-frees", NULL,
      "[handler frees ok: many]\n" },
    { "", "dlsym", NULL, "[dlsym ok]\n" },
    { "guard=1", "dlsym", NULL, "[dlsym ok]\n" },
    { "", "exit-order", NULL, "[exiting]\n" },
    { "guard=1", "exit-order", NULL, "[exiting]\n" },
    { "stack_depth=0", "threads", NULL, "[threads ok]\n" },
    { "quarantine_bytes=0:canary=0", "alignment", NULL, "[alignment ok]\n" },
    /* The frame-pointer walk meets frame pointers that are not ones. */
    { "stack_depth=16", "wild-frame-pointers", NULL, "[frames ok]\n" },
};

START_TEST(the_programs_contracts_hold)
{
    const clean_case_t *c = &clean_cases[_i];
    char label[128];
    snprintf(label, sizeof label, "'%s' %s", c->options, c->scenario);
    ar_test_child_t child;
    run(&child, c->options, c->scenario, c->arg);
    expect_clean_exit(&child, label);
    ar_test__expect_has(&child, label, c->said);
}
END_TEST

/* A signal handler's malloc, anywhere in the program's malloc or free,
 * does not change the errno they leave: with the defaults (400 000
 * rounds) and with tracking only (a million; the victim's default). */
static const char *const signal_errno_cases[][2] = {
    { "", "400000" },
    { "canary=0:fill=0:quarantine_bytes=0:stack_depth=0", NULL },
};

START_TEST(a_signal_handlers_malloc_leaves_the_interrupted_calls_errno_alone)
{
    if (ar_test__skip_under_valgrind(__func__, "Memcheck runs one thread at a time: the thread "
                                               "that sends the signals got 17 in a million rounds"))
        return;
    const char *options = signal_errno_cases[_i][0];
    ar_test_child_t child;
    run(&child, options, "signal-errno", signal_errno_cases[_i][1]);
    expect_clean_exit(&child, options);
    ar_test__expect_has(&child, options, "[errno kept through the signals]\n");
}
END_TEST

static const char *const stress_options[] = {
    "",
    "guard=1",
    "guard=1:guard_align=1",
    "guard=1:guard_below=1",
    "guard=1:guard_sample=8",
};

/* 5000 live blocks, 100 000 random malloc/calloc/realloc/free, each
 * block's bytes checked before it changes. */
START_TEST(a_random_stress_with_thousands_of_live_blocks_runs_clean)
{
    ar_test_child_t child;
    run(&child, stress_options[_i], "stress", "5000");
    expect_clean_exit(&child, stress_options[_i]);
    ar_test__expect_has(&child, stress_options[_i],
                        "[stress ok: 200000 operations, 5000 live, 0 bad bytes]\n");
}
END_TEST

START_TEST(options_reach_the_preload_library)
{
    ar_test_child_t child;
    run(&child, "help=1", "threads", NULL);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap options");
    AR_TEST_ASSERT_OUTPUT_HAS(&child,
                              "the preload library's defaults differ: "
                              "leak_reachable=0:leak_exitcode=0");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "it also reads Electric Fence's and DUMA's variables (EF_*, "
                                      "DUMA_*; any of them implies guard=1), under "
                                      "AR_HEAP_OPTIONS\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[threads ok]\n");
}
END_TEST

static Suite *preload_suite(void)
{
    Suite *s = suite_create("preload");
    TCase *guard = tcase_create("guard pages");
    tcase_set_timeout(guard, 60);
    tcase_add_loop_test(guard, a_guarded_touch_out_of_bounds_faults_at_the_instruction, 0,
                        (int)(sizeof fault_cases / sizeof fault_cases[0]));
    suite_add_tcase(s, guard);
    TCase *efence = tcase_create("Electric Fence and DUMA users");
    tcase_set_timeout(efence, 60);
    tcase_add_loop_test(efence, an_electric_fence_users_settings_apply, 0,
                        (int)(sizeof probe_cases / sizeof probe_cases[0]));
    tcase_add_test(efence, duma_check_freq_checks_the_heap_at_every_operation);
    tcase_add_loop_test(efence, malloc_0_is_reported_when_an_electric_fence_user_asks, 0,
                        (int)(sizeof malloc_0_traps / sizeof malloc_0_traps[0]));
    suite_add_tcase(s, efence);
    TCase *reports = tcase_create("reports");
    tcase_add_loop_test(reports, a_bug_is_reported_with_its_sites_in_the_program, 0,
                        (int)(sizeof report_cases / sizeof report_cases[0]));
    tcase_add_test(reports, a_frame_in_libc_is_named_in_the_stack);
    tcase_add_test(reports, leaks_are_reported_by_default);
    tcase_add_test(reports, leak_report_0_says_nothing_of_leaks);
    tcase_add_test(reports, leak_report_1_lists_the_programs_leak_with_its_site);
    tcase_add_test(reports, leak_exitcode_applies_when_asked_for_by_name);
    tcase_add_test(reports, options_reach_the_preload_library);
    suite_add_tcase(s, reports);
    TCase *inject = tcase_create("injected failures");
    tcase_add_test(inject, fail_nth_fails_the_nth_allocation_of_the_program);
    tcase_add_test(inject, fail_file_and_fail_line_match_no_site);
    suite_add_tcase(s, inject);
    TCase *exits = tcase_create("exit order");
    tcase_add_test(exits, the_exit_report_lists_no_block_freed_by_a_handler_or_a_destructor);
    tcase_add_test(exits, a_librarys_destructor_frees_before_the_exit_check);
    tcase_add_test(exits, a_block_freed_after_the_exit_check_is_freed_quietly);
    suite_add_tcase(s, exits);
    TCase *contracts = tcase_create("contracts");
    tcase_set_timeout(contracts, 120);
    tcase_add_loop_test(contracts, the_programs_contracts_hold, 0,
                        (int)(sizeof clean_cases / sizeof clean_cases[0]));
    tcase_add_loop_test(contracts, a_signal_handlers_malloc_leaves_the_interrupted_calls_errno_alone,
                        0, (int)(sizeof signal_errno_cases / sizeof signal_errno_cases[0]));
    tcase_add_loop_test(contracts, a_random_stress_with_thousands_of_live_blocks_runs_clean, 0,
                        (int)(sizeof stress_options / sizeof stress_options[0]));
    suite_add_tcase(s, contracts);
    return s;
}

/* A sanitizer's runtime replaces malloc itself and must be loaded first:
 * a sanitized preload library can not be preloaded into a plain program. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AR_PRELOAD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AR_PRELOAD_SANITIZED 1
#endif
#endif

int main(void)
{
#ifdef AR_PRELOAD_SANITIZED
    printf("SKIP: a sanitizer build: its runtime, not arheap, must own malloc\n");
    return 77;
#endif
    return ar_test__run_suite(preload_suite(), 1);
}
