/*
 * check_formats.c: the machine-readable report and call stacks.
 *
 * report_json=1 turns each error into one JSON object on one line;
 * stack_depth=N adds the call stacks of the allocation and the free, each
 * frame as module+offset that addr2line resolves to the source line.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ar_heap.h"
#include "ar_test.h"

static void body_json_double_free(void)
{
    (void)ar_heap__set_options("report_json=1");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(8, "say \"hi\"\\now");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(json_reports_a_double_free_as_one_line_with_the_block_and_its_sites)
{
    ar_test_child_t child;
    ar_test__run_child(body_json_double_free, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "{\"tool\":\"arheap\",\"error\":\"double-free\",\"pid\":");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"operation\":\"free\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"size\":8,\"description\":\"say \\\"hi\\\"\\\\now\"");
    char expect[128];
    snprintf(expect, sizeof expect, "check_formats.c\",\"line\":%d,",
             ar_test__note_value(&child, "alloc"));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"freed_at\":{\"file\":");
    /* One line, no text report. */
    ck_assert(!ar_test__output_has(&child, "SUMMARY"));
    const char *json = strstr(child.output, "{\"tool\"");
    ck_assert_ptr_nonnull(json);
    const char *end = strchr(json, '\n');
    ck_assert_ptr_nonnull(end);
    ck_assert_int_eq(end[-1], '}');
}
END_TEST

/* A description that is not all UTF-8: a Latin-1 byte, a real UTF-8
 * sequence, an encoded surrogate (not allowed in UTF-8) and a stray
 * continuation byte. The line stays valid JSON: the sequence as it is,
 * every other byte above 0x7f as \u00XX (until stop 40 they were copied
 * as they were, and a JSON parser refused the line). */
static void body_json_not_utf8(void)
{
    (void)ar_heap__set_options("report_json=1:on_error=continue");
    char *p = AR__HEAP__MALLOC(8, "caf\xe9 \xc3\xa9 \xed\xa0\x80 \xbf!");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(json_strings_stay_valid_utf8)
{
    ar_test_child_t child;
    ar_test__run_child(body_json_not_utf8, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"description\":\"caf\\u00e9 \xc3\xa9 "
                                      "\\u00ed\\u00a0\\u0080 \\u00bf!\"");
}
END_TEST

/* The text reports: a description's control bytes, quotes and
 * backslashes escaped, so that it keeps to its line and its quotes (until
 * stop 41 this one wrote a line that read as a second leaked block). */
static void body_text_odd_description(void)
{
    (void)ar_heap__set_options("on_error=continue");
    char *p = AR__HEAP__MALLOC(8, "two\n#2  8 bytes at 0x0  fake.c:1 \"forged\"\x1b[2J \\ end");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
    char *q = AR__HEAP__MALLOC(5, "tab\there");
    char text[512];
    printf("[leaks=%zu]\n", ar_heap__leaks_since_text(0, text, sizeof text));
    printf("[text=%s]\n", text);
    AR__HEAP__FREE(q);
}

START_TEST(text_reports_escape_a_description_s_control_bytes_and_quotes)
{
    ar_test_child_t child;
    ar_test__run_child(body_text_odd_description, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "  block: 8 bytes \"two\\n#2  8 bytes at 0x0  fake.c:1 "
                                      "\\\"forged\\\"\\x1b[2J \\\\ end\" at 0x");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "[leaks=1]\n");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"tab\\there\"  thread ");
    ck_assert_msg(!ar_test__output_has(&child, "\x1b"), "%s", child.output);
    ck_assert_msg(!ar_test__output_has(&child, "\n#2  8 bytes"), "%s", child.output);
}
END_TEST

static void body_json_overflow(void)
{
    (void)ar_heap__set_options("report_json=1:on_error=continue");
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "json overflow"));
    p[13] = 0;
    AR__HEAP__FREE(p);
}

START_TEST(json_reports_damage_with_offset_and_bytes)
{
    ar_test_child_t child;
    ar_test__run_child(body_json_overflow, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"error\":\"heap-buffer-overflow\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"found_by\":\"free\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"offset\":13,\"damaged_bytes\":1,\"dump_offset\":13,");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, ",\"found\":\"00");
    ck_assert_int_eq(ar_test__output_count(&child, "{\"tool\":\"arheap\""), 1);
}
END_TEST

/* A write after free found as the freed block's slot is reused: found_by
 * "reuse", and the site is the allocation that reused it. */
static void body_json_reuse(void)
{
    (void)ar_heap__set_options("report_json=1:on_error=continue:quarantine_bytes=1");
    char *p = ar_test__opaque(AR__HEAP__MALLOC(13, "json reuse"));
    AR__HEAP__FREE(p);
    p[2] = 7;                                         /* after free */
    AR__HEAP__FREE(AR__HEAP__MALLOC(13, "pushes it out")); /* it leaves the quarantine */
    ar_test__note("reuse", __LINE__ + 1);
    char *q = AR__HEAP__MALLOC(13, "takes its slot");
    AR__HEAP__FREE(q);
}

START_TEST(json_reports_a_write_found_at_reuse_with_the_reusing_site)
{
    ar_test_child_t child;
    ar_test__run_child(body_json_reuse, &child);
    ck_assert(child.exited && child.exit_code == 0);
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"error\":\"heap-use-after-free\"");
    AR_TEST_ASSERT_OUTPUT_HAS(&child, "\"found_by\":\"reuse\"");
    char expect[128];
    snprintf(expect, sizeof expect, "\"site\":{\"file\":\"%s\",\"line\":%d,", __FILE__,
             ar_test__note_value(&child, "reuse"));
    AR_TEST_ASSERT_OUTPUT_HAS(&child, expect);
    ck_assert_int_eq(ar_test__output_count(&child, "{\"tool\":\"arheap\""), 1);
}
END_TEST

static void body_stacks(void)
{
    (void)ar_heap__set_options("stack_depth=4");
    ar_test__note("alloc", __LINE__ + 1);
    char *p = AR__HEAP__MALLOC(8, "with stacks");
    ar_test__note("free", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("again", __LINE__ + 1);
    AR__HEAP__FREE(p);
    ar_test__note("not a tail call", 0); /* keeps this frame on the stack */
}

/* The "module+0xoffset" of the first frame printed after `prefix`. */
static int first_frame(const ar_test_child_t *child, const char *prefix, char *module,
                       size_t cap, unsigned long *offset)
{
    const char *at = strstr(child->output, prefix);
    if (at == NULL)
        return 0;
    at = strstr(at, "      #0 0x");
    if (at == NULL)
        return 0;
    const char *open = strchr(at, '(');
    const char *plus = open != NULL ? strstr(open, "+0x") : NULL;
    if (plus == NULL || (size_t)(plus - open - 1) >= cap)
        return 0;
    memcpy(module, open + 1, (size_t)(plus - open - 1));
    module[plus - open - 1] = '\0';
    *offset = strtoul(plus + 1, NULL, 16);
    return 1;
}

/* addr2line's answer for module+offset, into buf. */
static int resolve(const char *module, unsigned long offset, char *buf, size_t cap)
{
    char command[1024];
    snprintf(command, sizeof command, "addr2line -e '%s' 0x%lx 2>/dev/null", module, offset);
    FILE *pipe = popen(command, "r");
    if (pipe == NULL)
        return 0;
    int ok = fgets(buf, (int)cap, pipe) != NULL;
    pclose(pipe);
    return ok;
}

START_TEST(stacks_are_printed_as_module_offset_that_addr2line_resolves)
{
    ar_test_child_t child;
    ar_test__run_child(body_stacks, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free");
    char module[512], where[512], site[64];
    unsigned long offset = 0;
    ck_assert_msg(first_frame(&child, "  allocated at ", module, sizeof module, &offset),
                  "no allocation frame:\n%s", child.output);
    if (system("addr2line --version >/dev/null 2>&1") != 0)
        return; /* frames printed; no addr2line here to resolve them */
    ck_assert_msg(resolve(module, offset, where, sizeof where), "addr2line failed");
    ar_test__site(site, sizeof site, __FILE__, ar_test__note_value(&child, "alloc"));
    ck_assert_msg(strstr(where, site) != NULL, "frame resolves to %s, not %s", where, site);
    ck_assert_msg(first_frame(&child, "  freed at ", module, sizeof module, &offset),
                  "no free frame:\n%s", child.output);
    ck_assert_msg(resolve(module, offset, where, sizeof where), "addr2line failed");
    ar_test__site(site, sizeof site, __FILE__, ar_test__note_value(&child, "free"));
    ck_assert_msg(strstr(where, site) != NULL, "frame resolves to %s, not %s", where, site);
    /* The failing call's own stack, under "free at". */
    ck_assert_msg(first_frame(&child, "  free at ", module, sizeof module, &offset),
                  "no frame for the second free:\n%s", child.output);
    ck_assert_msg(resolve(module, offset, where, sizeof where), "addr2line failed");
    ar_test__site(site, sizeof site, __FILE__, ar_test__note_value(&child, "again"));
    ck_assert_msg(strstr(where, site) != NULL, "frame resolves to %s, not %s", where, site);
}
END_TEST

static void body_no_stacks(void)
{
    char *p = AR__HEAP__MALLOC(8, "no stacks");
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
}

START_TEST(without_stack_depth_no_frames_are_printed)
{
    ar_test_child_t child;
    ar_test__run_child(body_no_stacks, &child);
    AR_TEST_ASSERT_ABORTED_WITH(&child, "arheap: ERROR: double-free");
    ck_assert(!ar_test__output_has(&child, "      #0 "));
}
END_TEST

static Suite *formats_suite(void)
{
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("reports");
    tcase_add_test(tc, json_reports_a_double_free_as_one_line_with_the_block_and_its_sites);
    tcase_add_test(tc, json_reports_damage_with_offset_and_bytes);
    tcase_add_test(tc, json_strings_stay_valid_utf8);
    tcase_add_test(tc, text_reports_escape_a_description_s_control_bytes_and_quotes);
    tcase_add_test(tc, json_reports_a_write_found_at_reuse_with_the_reusing_site);
    tcase_add_test(tc, stacks_are_printed_as_module_offset_that_addr2line_resolves);
    tcase_add_test(tc, without_stack_depth_no_frames_are_printed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    return ar_test__run_suite(formats_suite(), 1);
}
