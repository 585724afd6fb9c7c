/*
 * guard_cost.c: what a guarded block costs, the table of doc/arheap.md
 * "Costs, measured" (`make bench-guard` runs it; `make bench` too).
 *
 * Each row is one block size, guarded (guard=1) or not (guard=0: canaries
 * only). A child process of its own allocates N blocks of that size in a
 * row (default 20000, --blocks N), all live at once, and reads before and
 * after:
 *
 *   memory per block     VmRSS (/proc/self/status) grown, divided by N:
 *                        the block's pages (arheap fills new bytes, so
 *                        they are touched) and its share of the checker's
 *                        records and tables;
 *   mappings per block   lines of /proc/self/maps grown, divided by N:
 *                        kernel mappings, counted against vm.max_map_count;
 *   after free           the same, once all N are freed again (into the
 *                        quarantine, 16 MiB by default, and out of it):
 *                        what freed guarded blocks still cost;
 *   allocation           the N allocations' time (CLOCK_MONOTONIC) over N.
 *
 * One block of the size is allocated and freed first, so that the guard
 * arena for it exists, as in a program that has been running. A row runs
 * --repeat times (default 3), each in a fresh process, and prints the
 * median of each column. N must stay under the mapping budget (about
 * 28000 live guarded blocks with the default vm.max_map_count), or the
 * blocks past it get canaries and the figures mix the two: the program
 * says so when the guarded_blocks count falls short.
 *
 * Options are set with ar_heap__set_options() before the first
 * allocation, so AR_HEAP_OPTIONS can still change the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ar_heap.h"
#include "../tests/ar_proc.h"

typedef struct row_s {
    size_t size;
    int guard;
} row_t;

static const row_t rows[] = {
    { 16, 1 }, { 100, 1 }, { 4096, 1 }, { 5000, 1 }, { 100, 0 },
};
#define ROW_COUNT (sizeof rows / sizeof rows[0])

/* What one child measured. */
typedef struct result_s {
    double kib_per_block;
    double maps_per_block;
    double maps_left_per_block;
    double us_per_alloc;
    size_t guarded; /* live guarded blocks once all were allocated */
    int ok;
} result_t;

/* VmRSS in KiB; -1 if unknown. */
static long rss_kib(void)
{
    char buf[8192];
    if (ar_proc__read_file("/proc/self/status", buf, sizeof buf) <= 0)
        return -1;
    const char *at = strstr(buf, "VmRSS:");
    return at != NULL ? atol(at + strlen("VmRSS:")) : -1;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* In the child: measure one row; the result goes up the pipe. */
static void measure(const row_t *row, size_t n, int fd)
{
    result_t r;
    memset(&r, 0, sizeof r);
    char options[128];
    snprintf(options, sizeof options, "leak_report=0:guard=%d", row->guard);
    if (ar_heap__set_options(options) != 0)
        _exit(2);
    char **blocks = malloc(n * sizeof *blocks);
    if (blocks == NULL)
        _exit(2);
    AR__HEAP__FREE(AR__HEAP__MALLOC(row->size, "makes the arena"));
    long rss0 = rss_kib(), maps0 = ar_proc__count_mappings();
    double t0 = now_us();
    for (size_t i = 0; i < n; i++)
        blocks[i] = AR__HEAP__MALLOC(row->size, "measured");
    double t1 = now_us();
    long rss1 = rss_kib(), maps1 = ar_proc__count_mappings();
    ar_heap_stats_t s;
    ar_heap__get_stats(&s);
    r.ok = 1;
    for (size_t i = 0; i < n; i++)
        r.ok &= blocks[i] != NULL;
    for (size_t i = 0; i < n; i++)
        AR__HEAP__FREE(blocks[i]);
    long maps2 = ar_proc__count_mappings();
    r.kib_per_block = (double)(rss1 - rss0) / (double)n;
    r.maps_per_block = (double)(maps1 - maps0) / (double)n;
    r.maps_left_per_block = (double)(maps2 - maps0) / (double)n;
    r.us_per_alloc = (t1 - t0) / (double)n;
    r.guarded = s.guarded_blocks;
    r.ok &= rss0 > 0 && maps0 > 0;
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(2);
    _exit(0);
}

static int run_child(const row_t *row, size_t n, result_t *out)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        close(fds[0]);
        measure(row, n, fds[1]);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], out, sizeof *out);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return got == (ssize_t)sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
           out->ok;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--blocks N] [--repeat R]\n", argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    size_t n = 20000, repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = strtoul(argv[++i], NULL, 10);
        else
            usage(argv[0]);
    }
    if (n == 0 || repeat == 0 || repeat > 99)
        usage(argv[0]);
    if (!ar_heap__has_tracking()) {
        printf("guard_cost: the library has no tracked heap (configure --enable-debug-heap)\n");
        return 77;
    }
    char max[32] = "?";
    if (ar_proc__read_file("/proc/sys/vm/max_map_count", max, sizeof max) > 0)
        max[strcspn(max, "\n")] = '\0';
    printf("guard_cost: %zu live blocks per row, median of %zu processes; page %ld B, "
           "vm.max_map_count %s, %ld CPUs\n\n",
           n, repeat, sysconf(_SC_PAGESIZE), max, sysconf(_SC_NPROCESSORS_ONLN));
    printf("| block size | memory per block | mappings per live block | mappings per freed block "
           "| allocation |\n");
    printf("|---|---|---|---|---|\n");
    int failed = 0;
    for (size_t i = 0; i < ROW_COUNT; i++) {
        double kib[99], maps[99], left[99], us[99];
        size_t short_of = 0;
        for (size_t k = 0; k < repeat; k++) {
            result_t r;
            if (!run_child(&rows[i], n, &r)) {
                fprintf(stderr, "guard_cost: the %zu-byte row failed\n", rows[i].size);
                return 1;
            }
            kib[k] = r.kib_per_block;
            maps[k] = r.maps_per_block;
            left[k] = r.maps_left_per_block;
            us[k] = r.us_per_alloc;
            if (rows[i].guard && r.guarded < n)
                short_of = n - r.guarded;
        }
        printf("| %zu B%s | %.1f KiB | %.2f | %.2f | %.2f µs |\n", rows[i].size,
               rows[i].guard ? "" : ", not guarded (canaries)", median(kib, repeat),
               median(maps, repeat), median(left, repeat), median(us, repeat));
        if (short_of != 0) {
            fprintf(stderr,
                    "guard_cost: %zu of the %zu-byte blocks were not guarded (the mapping "
                    "budget): use fewer --blocks\n",
                    short_of, rows[i].size);
            failed = 1;
        }
    }
    return failed;
}
