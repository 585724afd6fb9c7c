/*
 * check_symbols.c: reports name functions and file:line (option symbolize).
 *
 * Call stacks, sites without file:line and a guard fault's instruction
 * are printed with the function, the source line and the inlined calls
 * the debug information records, read by a child process (libdw, or
 * addr2line); symbolize=0 prints module+offset only. This file is built
 * with -g and frame pointers. The suite skips (77) when the library has
 * no libdw and there is no addr2line on PATH.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ar_heap.h"
#include "ar_test.h"

/* ------------------------------------------------------------ helpers */

/* Under Valgrind (make check-valgrind) the frame-pointer walks, of an
 * allocation's stack and of a fault's, stop after frame #0 in these
 * tests' forked children (a standalone program under Valgrind gets whole
 * fault stacks; why the Check children do not is not yet understood), so
 * callers are asserted natively only; the innermost frame's function and
 * line are asserted under Valgrind too. Under Valgrind, strcpy and memset
 * are Memcheck's replacements, with frames of their own. */
static int whole_stacks(void)
{
    const char *on = getenv("AR_HEAP_TEST_VALGRIND");
    return on == NULL || strcmp(on, "1") != 0;
}

/* "check_symbols.c:<line of note>" */
static const char *here(char *buf, size_t cap, const ar_test_child_t *child, const char *note)
{
    return ar_test__site(buf, cap, __FILE__, ar_test__note_value(child, note));
}

/* Assert some line of the output has "in FUNCTION" followed by
 * "check_symbols.c:LINE" of the note. */
static void expect_frame(const ar_test_child_t *child, const char *function, const char *note)
{
    char in[128], site[128], with_colon[160];
    snprintf(in, sizeof in, " in %s ", function);
    here(site, sizeof site, child, note);
    /* ":LINE" must end there: ":41" is not ":410". */
    snprintf(with_colon, sizeof with_colon, "%s ", site);
    ck_assert_msg(ar_test__output_line_has(child, in, with_colon),
                  "no line with \"%s\" and then \"%s\":\n%s", in, with_colon, child->output);
}

/* The victim's own code, not inlined, with a call after each call so that
 * no call is a tail call (the frame of the caller stays). */
static char *volatile keep;

__attribute__((noinline)) static char *make_block(size_t size)
{
    ar_test__note("make", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(size, "symbolized block");
    keep = p;
    return keep;
}

__attribute__((noinline)) static void drop_block(char *p)
{
    ar_test__note("drop", __LINE__ + 1);
    AR__HEAP__FREE(p);
    keep = NULL;
}

static void body_overflow(void)
{
    (void)ar_heap__set_options("stack_depth=4");
    ar_test__note("caller", __LINE__ + 1);
    char *p = make_block(13);
    p = ar_test__opaque(p);
    p[13] = 0;
    drop_block(p);
    keep = NULL;
}

START_TEST(an_overflow_names_the_allocating_function_and_its_caller)
{
    ar_test_child_t child;
    ar_test__run_child(body_overflow, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "heap-buffer-overflow");
    expect_frame(&child, "make_block", "make");
    if (whole_stacks())
        expect_frame(&child, "body_overflow", "caller");
}
END_TEST

/* An allocation inside a function inlined into its caller: frame #0 names
 * the inlined function at the allocation's line, then the caller at the
 * line of the inlined call. */
static inline __attribute__((always_inline)) char *inlined_alloc(void)
{
    ar_test__note("inner", __LINE__ + 1);
    return AR__HEAP__MALLOC(13, "inlined block");
}

__attribute__((noinline)) static char *outer_alloc(void)
{
    ar_test__note("outer", __LINE__ + 1);
    char *p = inlined_alloc();
    keep = p;
    return keep;
}

static void body_inlined(void)
{
    (void)ar_heap__set_options("stack_depth=2");
    char *p = ar_test__opaque(outer_alloc());
    p[13] = 0;
    drop_block(p);
    keep = NULL;
}

START_TEST(an_inlined_call_is_a_line_of_its_own)
{
    ar_test_child_t child;
    ar_test__run_child(body_inlined, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "heap-buffer-overflow");
    char outer[128];
    here(outer, sizeof outer, &child, "outer");
    /* "#0 0x... in inlined_alloc .../check_symbols.c:N (module+0x...)\n
     *           inlined into outer_alloc .../check_symbols.c:M\n" */
    expect_frame(&child, "inlined_alloc", "inner");
    ck_assert_msg(ar_test__output_line_has(&child, "         inlined into outer_alloc ", outer),
                  "no \"inlined into outer_alloc ... %s\":\n%s", outer, child.output);
}
END_TEST

static void body_overflow_addr2line(void)
{
    (void)ar_heap__set_options("stack_depth=4:symbolizer=addr2line");
    char *p = ar_test__opaque(make_block(13));
    p[13] = 0;
    drop_block(p);
    keep = NULL;
}

START_TEST(addr2line_as_the_symbolizer_names_the_function_and_line)
{
    if (system("addr2line --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "no addr2line on PATH: test not run\n");
        return;
    }
    ar_test_child_t child;
    ar_test__run_child(body_overflow_addr2line, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "heap-buffer-overflow");
    expect_frame(&child, "make_block", "make");
}
END_TEST

static void body_symbolize_off(void)
{
    (void)ar_heap__set_options("stack_depth=4:symbolize=0");
    char *p = ar_test__opaque(make_block(13));
    p[13] = 0;
    drop_block(p);
    keep = NULL;
}

START_TEST(symbolize_0_prints_module_and_offset_only)
{
    ar_test_child_t child;
    ar_test__run_child(body_symbolize_off, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "heap-buffer-overflow");
    /* Frames as "#0 0x... (module+0x...)", no source line in any. */
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "      #0 0x");
    ck_assert_msg(ar_test__output_line_has(&child, "      #0 0x", "+0x"), "%s", child.output);
    ck_assert_msg(!ar_test__output_line_has(&child, "      #", "check_symbols.c:"),
                  "a frame has a source line:\n%s", child.output);
}
END_TEST

/* A use after free in the program's own code, caught by a guard page. */
__attribute__((noinline)) static void scribble(char *p)
{
    ar_test__note("scribble", __LINE__ + 1);
    p[3] = 0;
    keep = NULL;
}

static void body_use_after_free(void)
{
    (void)ar_heap__set_options("guard=1:stack_depth=4");
    char *p = ar_test__opaque(make_block(32));
    drop_block(p);
    ar_test__note("scribbler", __LINE__ + 1);
    scribble(p);
    keep = NULL;
}

START_TEST(a_use_after_free_fault_names_the_function_and_line_of_the_access)
{
    ar_test_child_t child;
    ar_test__run_child(body_use_after_free, &child);
    ck_assert_msg(child.signaled && child.signal == 11, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-use-after-free");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  faulting call stack:\n      #0 0x");
    expect_frame(&child, "scribble", "scribble");
    if (whole_stacks())
        expect_frame(&child, "body_use_after_free", "scribbler");
    /* The block's free stack too. */
    expect_frame(&child, "drop_block", "drop");
}
END_TEST

/* Faults inside libc's string functions, which keep no frame: the report
 * names the function that called them. */
static const char *volatile long_text = "hello, world! and then some more";

__attribute__((noinline)) static void copy_name(char *dst)
{
    ar_test__note("strcpy", __LINE__ + 1);
    strcpy(dst, long_text);
    keep = dst;
}

__attribute__((noinline)) static void clear_name(char *dst, size_t n)
{
    ar_test__note("memset", __LINE__ + 1);
    memset(dst, 0, n);
    keep = dst;
}

static volatile size_t too_many = 64;

static void body_fault_in_strcpy(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "name"));
    copy_name(p);
}

static void body_fault_in_memset(void)
{
    (void)ar_heap__set_options("guard=1:guard_align=1");
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "name"));
    clear_name(p, too_many);
}

START_TEST(a_fault_inside_strcpy_names_the_calling_function)
{
    ar_test_child_t child;
    ar_test__run_child(body_fault_in_strcpy, &child);
    ck_assert_msg(child.signaled && child.signal == 11, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-buffer-overflow");
    if (whole_stacks())
        expect_frame(&child, "copy_name", "strcpy");
}
END_TEST

START_TEST(a_fault_inside_memset_names_the_calling_function)
{
    ar_test_child_t child;
    ar_test__run_child(body_fault_in_memset, &child);
    ck_assert_msg(child.signaled && child.signal == 11, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-buffer-overflow");
    if (whole_stacks())
        expect_frame(&child, "clear_name", "memset");
}
END_TEST

/* A leak through an allocating wrapper: the leak report's site is the
 * wrapper's line, and the stack under it names the wrapper's caller. */
static char report_path[128];

__attribute__((noinline)) static char *leaky_wrapper(void)
{
    ar_test__note("wrapper", __LINE__ + 1);
    char *p = AR__HEAP__STRDUP("leaked", "wrapped copy");
    keep = p;
    return keep;
}

__attribute__((noinline)) static void leaky_caller(void)
{
    ar_test__note("leaker", __LINE__ + 1);
    char *p = leaky_wrapper();
    keep = p;
}

static void body_leak(void)
{
    char opt[256];
    snprintf(opt, sizeof opt, "stack_depth=4:report_path=%s", report_path);
    (void)ar_heap__set_options(opt);
    leaky_caller();
    ar_heap__memory_report();
    /* The report file into the output, for the parent. */
    static char text[32768];
    long n = ar_proc__read_file(report_path, text, sizeof text);
    if (n > 0)
        fwrite(text, 1, (size_t)n, stdout);
    fflush(stdout);
    (void)ar_heap__set_options("leak_report=0");
}

START_TEST(a_leak_through_a_wrapper_names_the_wrapper_and_its_caller)
{
    snprintf(report_path, sizeof report_path, "check_symbols.%ld.report.log", (long)getpid());
    ar_test_child_t child;
    ar_test__run_child(body_leak, &child);
    unlink(report_path);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"wrapped copy\"");
    expect_frame(&child, "leaky_wrapper", "wrapper");
    if (whole_stacks())
        expect_frame(&child, "leaky_caller", "leaker");
}
END_TEST

static void body_json(void)
{
    (void)ar_heap__set_options("report_json=1:stack_depth=4");
    char *p = make_block(8);
    drop_block(p);
    drop_block(p);
}

START_TEST(json_frames_carry_function_file_and_line)
{
    ar_test_child_t child;
    ar_test__run_child(body_json, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "\"error\":\"double-free\"");
    char expect[256];
    snprintf(expect, sizeof expect, "check_symbols.c\",\"line\":%d}",
             ar_test__note_value(&child, "make"));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"allocation_stack\":[{\"pc\":\"0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"function\":\"make_block\",\"file\":\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"free_stack\":[{\"pc\":\"0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"function\":\"drop_block\"");
}
END_TEST

static void body_json_fault(void)
{
    (void)ar_heap__set_options("guard=1:report_json=1");
    char *p = ar_test__opaque(make_block(32));
    drop_block(p);
    scribble(p);
}

START_TEST(json_fault_site_and_stack_name_the_faulting_function_and_line)
{
    ar_test_child_t child;
    ar_test__run_child(body_json_fault, &child);
    ck_assert_msg(child.signaled && child.signal == 11, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"error\":\"heap-use-after-free\"");
    char expect[256];
    /* The site: the faulting instruction (looked up as itself, not as a
     * return address), then the stack, its frame 0 the same. */
    snprintf(expect, sizeof expect, "check_symbols.c\",\"line\":%d,\"thread\":",
             ar_test__note_value(&child, "scribble"));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"function\":\"scribble\"},\"stack\":[{\"pc\":\"0x");
}
END_TEST

#ifdef AR_HEAP_HAVE_LIBDW
/* Whether a file whose path contains `name` is mapped in this process. */
static int mapped(const char *name)
{
    static char maps[1 << 18];
    ck_assert_msg(ar_proc__read_file("/proc/self/maps", maps, sizeof maps) > 0,
                  "no /proc/self/maps");
    return strstr(maps, name) != NULL;
}

/* libdw is loaded by the child that symbolizes a report, never by the
 * process being checked: not at start-up, not after a report. With no
 * PATH, addr2line can not be run: the line is libdw's. */
static void body_libdw_in_the_child_only(void)
{
    (void)ar_heap__set_options("stack_depth=4:on_error=continue");
    setenv("PATH", "", 1);
    printf("[libdw mapped before: %d]\n", mapped("/libdw"));
    fflush(stdout);
    char *p = make_block(13);
    p = ar_test__opaque(p);
    p[13] = 0;
    drop_block(p);
    printf("[libdw mapped after: %d]\n", mapped("/libdw"));
    fflush(stdout);
}

START_TEST(libdw_is_loaded_by_the_symbolizing_child_only)
{
    ar_test_child_t child;
    ar_test__run_child(body_libdw_in_the_child_only, &child);
    ck_assert_msg(child.exited && child.exit_code == 0, "%s", child.output);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-buffer-overflow");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[libdw mapped before: 0]");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[libdw mapped after: 0]");
    expect_frame(&child, "make_block", "make");
}
END_TEST
#endif

/* ------------------------------------------------------------ preloaded */

static char preload_path[PATH_MAX];
static char victim_path[PATH_MAX];
static const char *victim_options;
static const char *victim_scenario;

/* The line of the first line of tests/preload/victim.c holding `marker`. */
static int victim_line(const char *marker)
{
    /* make check sets top_srcdir; make check-valgrind does not: then the
     * source is found beside this file, as the compiler named it (from
     * the build folder, where tests run). */
    const char *top = getenv("top_srcdir");
    char path[PATH_MAX];
    if (top != NULL) {
        snprintf(path, sizeof path, "%s/tests/preload/victim.c", top);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash != NULL ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof path, "%.*s/preload/victim.c", dir, slash != NULL ? __FILE__ : ".");
    }
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    char line[1024];
    int number = 0, found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        number++;
        found = strstr(line, marker) != NULL;
    }
    fclose(f);
    ck_assert_msg(found, "no \"%s\" in %s", marker, path);
    return number;
}

static void body_victim(void)
{
    setenv("LD_PRELOAD", preload_path, 1);
    setenv("AR_HEAP_OPTIONS", victim_options, 1);
    char *argv[3] = { victim_path, (char *)victim_scenario, NULL };
    execv(victim_path, argv);
    printf("[exec failed]\n");
    _exit(127);
}

/* `program` (a path under the build folder) under the preload library. */
static void run_preloaded(ar_test_child_t *child, const char *program, const char *options,
                          const char *scenario)
{
    const char *top = getenv("top_builddir");
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/src/.libs/libarheap-preload.so", top != NULL ? top : ".");
    ck_assert_msg(realpath(buf, preload_path) != NULL, "no preload library at %s", buf);
    snprintf(buf, sizeof buf, "%s/%s", top != NULL ? top : ".", program);
    ck_assert_msg(realpath(buf, victim_path) != NULL, "no program at %s", buf);
    victim_options = options;
    victim_scenario = scenario;
    ar_test__run_child(body_victim, child);
}

static void run_victim(ar_test_child_t *child, const char *options, const char *scenario)
{
    run_preloaded(child, "tests/preload/victim", options, scenario);
}

/* A line with " in FUNCTION " and then "victim.c:LINE ". */
static void expect_victim_frame(const ar_test_child_t *child, const char *function, int line)
{
    char in[128], at[64];
    snprintf(in, sizeof in, " in %s ", function);
    snprintf(at, sizeof at, "victim.c:%d ", line);
    ck_assert_msg(ar_test__output_line_has(child, in, at),
                  "no line with \"%s\" and then \"%s\":\n%s", in, at, child->output);
}

START_TEST(preloaded_an_overflow_names_the_allocating_function_and_line)
{
    ar_test_child_t child;
    run_victim(&child, "", "nested-overflow");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-buffer-overflow");
    expect_victim_frame(&child, "nested_inner", victim_line("char *p = malloc(size);"));
    expect_victim_frame(&child, "nested_middle", victim_line("char *p = nested_inner(size);"));
}
END_TEST

START_TEST(preloaded_a_use_after_free_names_the_function_and_line_of_the_access)
{
    ar_test_child_t child;
    run_victim(&child, "guard=1", "after-free-write");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "heap-use-after-free");
    expect_victim_frame(&child, "touch", victim_line("p[offset] = 0;"));
}
END_TEST

START_TEST(preloaded_a_leak_names_the_allocating_function_and_line)
{
    ar_test_child_t child;
    run_victim(&child, "leak_report=1", "leak");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "77 bytes in 1 block");
    expect_victim_frame(&child, "leak", victim_line("opaque(malloc(77))"));
}
END_TEST

/* addr2line runs without the preload library (else it would be checked,
 * and its own reports would run addr2line, and so on). */
START_TEST(preloaded_addr2line_names_the_allocating_function_and_line)
{
    if (system("addr2line --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "no addr2line on PATH: test not run\n");
        return;
    }
    ar_test_child_t child;
    run_victim(&child, "leak_report=1:symbolizer=addr2line", "leak");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "77 bytes in 1 block");
    ck_assert_msg(!ar_test__output_has(&child, "no answer"), "%s", child.output);
    expect_victim_frame(&child, "leak", victim_line("opaque(malloc(77))"));
}
END_TEST

/* A function name longer than the symbolizer's line buffer (4096 bytes;
 * C++ templates make such names): it is cut, and the frames after it are
 * still named. Until stop 42 the rest of the long line was read as the
 * next line, and the next frame lost its name and line. */
#define LONG_CAT_(a, b) a##b
#define LONG_CAT(a, b) LONG_CAT_(a, b)
#define LONG_TWICE(x) LONG_CAT(x, x)
#define LONG_NAME                                                                                  \
    LONG_CAT(a_long_name_,                                                                         \
             LONG_TWICE(LONG_TWICE(LONG_TWICE(LONG_TWICE(LONG_TWICE(LONG_TWICE(                     \
                 abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz_)))))))

__attribute__((noinline)) char *LONG_NAME(size_t size);
__attribute__((noinline)) char *LONG_NAME(size_t size)
{
    char *p = AR__HEAP__MALLOC(size, "long-named block");
    keep = p;
    return keep;
}

__attribute__((noinline)) static char *long_name_caller(void)
{
    ar_test__note("caller_of_long", __LINE__ + 1);
    char *p = LONG_NAME(13);
    keep = NULL;
    return p;
}

static void body_long_name(void)
{
    (void)ar_heap__set_options("stack_depth=4:symbolizer=addr2line");
    char *p = ar_test__opaque(long_name_caller());
    p[13] = 0;
    drop_block(p);
    keep = NULL;
}

START_TEST(a_name_longer_than_a_line_leaves_the_next_frames_named)
{
    if (system("addr2line --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "no addr2line on PATH: test not run\n");
        return;
    }
    ar_test_child_t child;
    ar_test__run_child(body_long_name, &child);
    ck_assert_msg(child.signaled && child.signal == 6, "the child did not abort:\n%.3000s",
                  child.output);
    ck_assert_msg(ar_test__output_has(&child, " in a_long_name_abcdefghijklmnopqrstuvwxyz"),
                  "the long name is not printed:\n%.3000s", child.output);
    if (!whole_stacks())
        return; /* under Valgrind the walk stops after frame #0 (see whole_stacks) */
    char site[128], with_colon[160];
    here(site, sizeof site, &child, "caller_of_long");
    snprintf(with_colon, sizeof with_colon, "%s ", site);
    /* The output holds names of 6 400 bytes: a message of it whole is
     * more than Check carries, so only its start is shown. */
    ck_assert_msg(ar_test__output_line_has(&child, " in long_name_caller ", with_colon),
                  "the frame after the long name is not named (%s):\n%.3000s", with_colon,
                  child.output);
}
END_TEST

/* The external symbolizer gets none of the program's descriptors but
 * stdin, stdout and stderr, and one that does not answer is killed with
 * the child that ran it when the report gives up on it (20 s). Until
 * stop 42 it got every descriptor the program had open and outlived the
 * process. The stand-in lists its descriptors, writes its pid, then
 * sleeps in its own pid. */
static char stub_dir[64];

static void body_hung_symbolizer(void)
{
    char stub[128], options[256], secret[128];
    snprintf(stub, sizeof stub, "%s/addr2line", stub_dir);
    snprintf(secret, sizeof secret, "%s/secret", stub_dir);
    int fd = open(secret, O_RDWR | O_CREAT, 0600); /* not close-on-exec */
    if (fd < 0)
        _exit(3);
    snprintf(options, sizeof options, "stack_depth=4:symbolizer=%s:leak_report=0", stub);
    (void)ar_heap__set_options(options);
    char *p = ar_test__opaque(make_block(13));
    p[13] = 0;
    drop_block(p);
    keep = NULL;
}

START_TEST(the_symbolizer_gets_no_descriptor_of_the_program_and_dies_when_it_hangs)
{
    if (!whole_stacks())
        return; /* under Valgrind: 20 s and more of a wait, and Valgrind's own descriptors */
    snprintf(stub_dir, sizeof stub_dir, "/tmp/arheap-symbolizer.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(stub_dir));
    char path[128], text[4096];
    snprintf(path, sizeof path, "%s/addr2line", stub_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\nls -l /proc/$$/fd > %s/fds\necho $$ > %s/pid\nexec sleep 60\n",
            stub_dir, stub_dir);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0700), 0);
    ar_test_child_t child;
    ar_test__run_child(body_hung_symbolizer, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "heap-buffer-overflow");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "symbolizer: no answer in 20 seconds");
    snprintf(path, sizeof path, "%s/fds", stub_dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, " 0 -> ") != NULL, "no descriptor list:\n%s", text);
    ck_assert_msg(strstr(text, "/secret") == NULL, "the symbolizer had the program's file:\n%s",
                  text);
    snprintf(path, sizeof path, "%s/pid", stub_dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int pid = 0;
    ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    /* Gone, or a zombie its new parent has yet to reap. */
    char stat[64], state = 'Z';
    snprintf(stat, sizeof stat, "/proc/%d/stat", pid);
    for (int tries = 0; tries < 100; tries++) {
        f = fopen(stat, "r");
        if (f == NULL) {
            state = 'Z';
            break;
        }
        char line[256] = "";
        if (fgets(line, sizeof line, f) != NULL) {
            const char *close = strrchr(line, ')');
            state = close != NULL && close[1] == ' ' ? close[2] : '?';
        }
        fclose(f);
        if (state == 'Z')
            break;
        usleep(20000);
    }
    if (state != 'Z')
        (void)kill(pid, SIGKILL);
    ck_assert_msg(state == 'Z', "the hung symbolizer (pid %d) still runs (state %c)", pid, state);
    unlink(path);
    snprintf(path, sizeof path, "%s/fds", stub_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/addr2line", stub_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/secret", stub_dir);
    unlink(path);
    rmdir(stub_dir);
}
END_TEST

#ifdef AR_HEAP_HAVE_LIBDW
/* tests/preload/large_program: libdw needs more for its debug information
 * than the preload library's 1 MiB arena holds, so its frames are named
 * only when the symbolizing child has a heap of its own. A child that
 * took the arena named neither function nor line ("libdw: Cannot
 * allocate memory", or the function alone), and one that took the
 * checked heap hung. */
START_TEST(preloaded_a_large_programs_frames_are_named_by_a_child_with_a_heap_of_its_own)
{
    ar_test_child_t child;
    run_preloaded(&child, "tests/preload/large_program", "stack_depth=2", NULL);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "arheap: ERROR: double-free");
    ck_assert_msg(ar_test__output_line_has(&child, " in free_twice ", "large_program.c:"),
                  "the free's frame is not named with its file:\n%s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "Cannot allocate memory"), "%s", child.output);
}
END_TEST
#endif

/* ------------------------------------------------------------ suite */

/* libdw in the library, or addr2line on PATH: else nothing to test. */
static int have_a_symbolizer(void)
{
#ifdef AR_HEAP_HAVE_LIBDW
    return 1;
#else
    return system("addr2line --version >/dev/null 2>&1") == 0;
#endif
}

/* A sanitizer build of the library (make check-sanitize): its runtime does
 * not follow the report's symbolizing child onto the child's own stack,
 * and the preloaded victim would be checked by the sanitizer, not arheap. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AR_SYMBOLS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AR_SYMBOLS_SANITIZED 1
#endif
#endif

int main(void)
{
#ifdef AR_SYMBOLS_SANITIZED
    printf("SKIP: a sanitizer build: symbols are tested in the plain builds\n");
    return 77;
#endif
    if (!have_a_symbolizer()) {
        fprintf(stderr, "check_symbols: no libdw and no addr2line: skipped\n");
        return 77;
    }
    Suite *s = suite_create("symbols");
    TCase *tc = tcase_create("linked");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, an_overflow_names_the_allocating_function_and_its_caller);
    tcase_add_test(tc, an_inlined_call_is_a_line_of_its_own);
    tcase_add_test(tc, addr2line_as_the_symbolizer_names_the_function_and_line);
    tcase_add_test(tc, symbolize_0_prints_module_and_offset_only);
    tcase_add_test(tc, a_name_longer_than_a_line_leaves_the_next_frames_named);
    tcase_add_test(tc, the_symbolizer_gets_no_descriptor_of_the_program_and_dies_when_it_hangs);
    tcase_add_test(tc, a_use_after_free_fault_names_the_function_and_line_of_the_access);
    tcase_add_test(tc, a_fault_inside_strcpy_names_the_calling_function);
    tcase_add_test(tc, a_fault_inside_memset_names_the_calling_function);
    tcase_add_test(tc, a_leak_through_a_wrapper_names_the_wrapper_and_its_caller);
    tcase_add_test(tc, json_frames_carry_function_file_and_line);
    tcase_add_test(tc, json_fault_site_and_stack_name_the_faulting_function_and_line);
#ifdef AR_HEAP_HAVE_LIBDW
    tcase_add_test(tc, libdw_is_loaded_by_the_symbolizing_child_only);
#endif
    suite_add_tcase(s, tc);
    TCase *pre = tcase_create("preloaded");
    tcase_set_timeout(pre, 60);
    tcase_add_test(pre, preloaded_an_overflow_names_the_allocating_function_and_line);
    tcase_add_test(pre, preloaded_a_use_after_free_names_the_function_and_line_of_the_access);
    tcase_add_test(pre, preloaded_a_leak_names_the_allocating_function_and_line);
    tcase_add_test(pre, preloaded_addr2line_names_the_allocating_function_and_line);
#ifdef AR_HEAP_HAVE_LIBDW
    tcase_add_test(pre,
                   preloaded_a_large_programs_frames_are_named_by_a_child_with_a_heap_of_its_own);
#endif
    suite_add_tcase(s, pre);
    return ar_test__run_suite(s, 1);
}
