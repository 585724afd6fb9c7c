/*
 * ar_test.c: child-process capture and suite running for arheap's tests.
 */
#define _GNU_SOURCE
#include "ar_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ar_heap.h"

void ar_test__run_child(void (*body)(void), ar_test_child_t *out)
{
    int fds[2];
    memset(out, 0, sizeof *out);
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        body();
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    for (;;) {
        size_t room = sizeof out->output - 1 - out->output_len;
        if (room == 0)
            break;
        ssize_t n = read(fds[0], out->output + out->output_len, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out->output_len += (size_t)n;
    }
    out->output[out->output_len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) {
        out->exited = 1;
        out->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        out->signaled = 1;
        out->signal = WTERMSIG(status);
    }
}

int ar_test__output_has(const ar_test_child_t *child, const char *needle)
{
    return strstr(child->output, needle) != NULL;
}

int ar_test__output_count(const ar_test_child_t *child, const char *needle)
{
    int count = 0;
    size_t len = strlen(needle);
    const char *at = child->output;
    if (len == 0)
        return 0;
    while ((at = strstr(at, needle)) != NULL) {
        count++;
        at += len;
    }
    return count;
}

void ar_test__exec_built(const char *program, const char *options)
{
    const char *top = getenv("top_builddir");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", top != NULL ? top : ".", program);
    setenv("AR_HEAP_OPTIONS", options, 1);
    execl(path, path, (char *)NULL);
    printf("[exec %s failed]\n", path);
    fflush(stdout);
    _exit(127);
}

void ar_test__limit_to_own_size(void)
{
    char statm[128] = { 0 };
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0 || read(fd, statm, sizeof statm - 1) <= 0)
        _exit(3);
    close(fd);
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max =
        strtoul(statm, NULL, 10) * (unsigned long)sysconf(_SC_PAGESIZE);
    if (setrlimit(RLIMIT_AS, &limit) != 0)
        _exit(4);
}

ar_heap_stats_t ar_test__stats(void)
{
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    return s;
}

int ar_test__run_suite(Suite *suite, int needs_tracking)
{
    if (needs_tracking && !ar_heap__has_tracking()) {
        printf("SKIP: this suite needs a library built with --enable-debug-heap\n");
        (void)suite;
        return 77;
    }
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

void ar_test__note(const char *name, int value)
{
    char line[128];
    int n = snprintf(line, sizeof line, "[note %s=%d]\n", name, value);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n);
}

int ar_test__note_value(const ar_test_child_t *child, const char *name)
{
    char key[96];
    snprintf(key, sizeof key, "[note %s=", name);
    const char *at = strstr(child->output, key);
    return at != NULL ? atoi(at + strlen(key)) : -1;
}

const char *ar_test__site(char *buf, size_t cap, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    snprintf(buf, cap, "%s:%d", base != NULL ? base + 1 : file, line);
    return buf;
}

int ar_test__output_line_has(const ar_test_child_t *child, const char *prefix,
                             const char *needle)
{
    const char *at = child->output;
    while ((at = strstr(at, prefix)) != NULL) {
        at += strlen(prefix);
        const char *eol = strchr(at, '\n');
        size_t len = eol != NULL ? (size_t)(eol - at) : strlen(at);
        const char *hit = strstr(at, needle);
        if (hit != NULL && (size_t)(hit - at) + strlen(needle) <= len)
            return 1;
    }
    return 0;
}

void ar_test__expect_site(const ar_test_child_t *child, const char *label, const char *prefix,
                          const char *note, const char *file)
{
    char site[256];
    int line = ar_test__note_value(child, note);
    ck_assert_msg(line > 0, "%s%sthe child did not note '%s'; output:\n%s", label,
                  *label ? ": " : "", note, child->output);
    ar_test__site(site, sizeof site, file, line);
    ck_assert_msg(ar_test__output_line_has(child, prefix, site),
                  "%s%sno line \"%s...%s\" in the output:\n%s", label, *label ? ": " : "",
                  prefix, site, child->output);
}

void ar_test__expect_has(const ar_test_child_t *child, const char *label, const char *needle)
{
    ck_assert_msg(ar_test__output_has(child, needle), "%s%soutput lacks \"%s\":\n%s", label,
                  *label ? ": " : "", needle, child->output);
}

static char *volatile ar_test_escape_hatch;

/* 1, after "SKIP under TOOL: test: why" on stderr, when `on`. */
static int ar_test__skip_when(int on, const char *tool, const char *test, const char *why)
{
    if (on)
        fprintf(stderr, "SKIP under %s: %s: %s\n", tool, test, why);
    return on;
}

int ar_test__skip_under_valgrind(const char *test, const char *why)
{
    const char *on = getenv("AR_HEAP_TEST_VALGRIND");
    return ar_test__skip_when(on != NULL && strcmp(on, "1") == 0, "Valgrind", test, why);
}

#if defined(__SANITIZE_ADDRESS__)
#define AR_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AR_TEST_ASAN 1
#endif
#endif
#ifndef AR_TEST_ASAN
#define AR_TEST_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define AR_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AR_TEST_TSAN 1
#endif
#endif
#ifndef AR_TEST_TSAN
#define AR_TEST_TSAN 0
#endif

int ar_test__skip_under_asan(const char *test, const char *why)
{
    return ar_test__skip_when(AR_TEST_ASAN, "AddressSanitizer", test, why);
}

int ar_test__skip_under_tsan(const char *test, const char *why)
{
    return ar_test__skip_when(AR_TEST_TSAN, "ThreadSanitizer", test, why);
}

size_t ar_test__workload(size_t n, size_t divisor)
{
    const char *on = getenv("AR_HEAP_TEST_VALGRIND");
    if (on == NULL || strcmp(on, "1") != 0 || divisor == 0)
        return n;
    return n / divisor > 0 ? n / divisor : 1;
}

char *ar_test__opaque(char *p)
{
    ar_test_escape_hatch = p;
    return ar_test_escape_hatch;
}
