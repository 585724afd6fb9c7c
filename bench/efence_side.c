/*
 * efence_side.c: arheap's guard pages beside Electric Fence and DUMA, part
 * of `make bench` (doc/arheap.md "Guard pages beside Electric Fence and
 * DUMA"). One binary, built on glibc's malloc alone, is both the driver
 * and the worker it runs, in a process of its own per run, under:
 *
 *   glibc     no preload: the reference the ratios divide by
 *   arheap    LD_PRELOAD=libarheap-preload.so AR_HEAP_OPTIONS=guard=1
 *   efence    LD_PRELOAD=libefence.so.0 EF_DISABLE_BANNER=1 (Debian's
 *             electric-fence package; "-" when it is not installed)
 *   duma      LD_PRELOAD=libduma.so.0 DUMA_DISABLE_BANNER=1 (package duma)
 *
 * Rows
 *   churn N   N live blocks of 16 to 256 bytes, then OPS times: free a
 *             random one and allocate a block of a random size in its place,
 *             writing its first and last byte. Time per operation of the
 *             timed part (the replacements), as the worker measures it; a
 *             worker stops its timed part after 20 s (5 s quick) and reports
 *             the replacements it made, so Electric Fence's and DUMA's
 *             figures are rates over that part, as bench/run's are.
 *   live 1M   1,000,000 blocks of 8 B to 4 KiB (uniform), each written at
 *             both ends, all live at once: blocks made before the run
 *             ended (Electric Fence and DUMA abort near vm.max_map_count / 2,
 *             about 32,000) and time per allocation.
 *
 * Peak RSS per live block: (ru_maxrss of the run - ru_maxrss of the same
 * variant's worker that allocates nothing) / live blocks. Under arheap a
 * run whose stderr holds "guard pages:" (a warning that new blocks got
 * canaries only, past the mapping budget) is marked "(not all guarded)".
 * Each figure is the median of --repeat runs (default 3; 1 with --quick,
 * which also cuts OPS and the 1M row by ten). A run past --limit seconds
 * (default 120) is killed and shown as ">limit".
 *
 * Usage: efence_side [--preload SO] [--efence SO] [--duma SO] [--repeat R]
 *                    [--limit S] [--quick]
 *        efence_side --worker churn LIVE OPS DEADLINE_MS | --worker live COUNT
 * Exit: 0 whether targets are met or not; 2 on a usage error.
 */
#define _GNU_SOURCE /* wait4 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ worker */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A line on stdout at once (the worker may die by abort just after). */
static void say(const char *fmt, unsigned long long a, unsigned long long b)
{
    char line[128];
    int n = snprintf(line, sizeof line, fmt, a, b);
    if (n > 0 && write(1, line, (size_t)n) < 0)
        _exit(3);
}

static char *fresh(size_t size, uint64_t *sum)
{
    char *p = malloc(size);
    if (p == NULL)
        return NULL;
    p[0] = (char)size;
    p[size - 1] = (char)(size >> 3);
    *sum += (unsigned char)p[0];
    return p;
}

static int worker_churn(size_t live, size_t ops, uint64_t deadline_ms)
{
    char **blocks = calloc(live, sizeof *blocks);
    uint64_t sum = 0;
    for (size_t i = 0; i < live; i++)
        if ((blocks[i] = fresh(16 + rng() % 241, &sum)) == NULL)
            return 1;
    uint64_t start = now_ns();
    uint64_t stop = start + deadline_ms * 1000000u;
    size_t done = 0;
    for (; done < ops; done++) {
        if (done % 256 == 0 && done > 0 && now_ns() >= stop)
            break; /* a slow allocator: the rate so far stands for the run */
        size_t i = rng() % live;
        free(blocks[i]);
        if ((blocks[i] = fresh(16 + rng() % 241, &sum)) == NULL)
            return 1;
    }
    uint64_t ns = now_ns() - start;
    say("ns=%llu ops=%llu\n", (unsigned long long)ns, (unsigned long long)done);
    for (size_t i = 0; i < live; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}

static int worker_live(size_t count)
{
    char **blocks = calloc(count + 1, sizeof *blocks);
    uint64_t sum = 0;
    uint64_t start = now_ns();
    for (size_t i = 0; i < count; i++) {
        if ((blocks[i] = fresh(8 + rng() % 4089, &sum)) == NULL) {
            say("failed=%llu%.0llu\n", (unsigned long long)i, 0);
            return 1;
        }
        if ((i + 1) % 1024 == 0)
            say("progress=%llu%.0llu\n", (unsigned long long)(i + 1), 0);
    }
    uint64_t ns = now_ns() - start;
    say("ns=%llu done=%llu\n", (unsigned long long)ns, (unsigned long long)count);
    return 0; /* the blocks stay live to the end */
}

/* ------------------------------------------------------------ driver */

enum { V_GLIBC, V_ARHEAP, V_EFENCE, V_DUMA, V_COUNT };
static const char *const variant_name[V_COUNT] = { "glibc", "arheap guard=1", "Electric Fence",
                                                   "DUMA" };
static const char *library[V_COUNT];
static char self_path[4096];
static int limit_s = 120;

typedef struct result_s {
    int ok;           /* the worker printed its figure */
    int killed;       /* past the limit */
    int unguarded;    /* arheap warned that blocks got canaries only */
    double ns;        /* timed part */
    unsigned long long done; /* live row: blocks made; churn: replacements timed */
    long maxrss_kib;
} result_t;

/* Run the worker with `args` under variant v; fill *r. */
static void run_worker(int v, char *const args[], result_t *r)
{
    memset(r, 0, sizeof *r);
    int out[2];
    char errpath[] = "/tmp/efence_side_XXXXXX";
    int errfd = mkstemp(errpath);
    if (pipe(out) != 0 || errfd < 0) {
        perror("efence_side");
        exit(1);
    }
    unlink(errpath);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        dup2(out[1], 1);
        dup2(errfd, 2);
        close(out[0]);
        unsetenv("AR_HEAP_OPTIONS");
        unsetenv("LD_PRELOAD");
        for (char **e = environ; *e != NULL;) {
            if (strncmp(*e, "EF_", 3) == 0 || strncmp(*e, "DUMA_", 5) == 0) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
            } else {
                e++;
            }
        }
        if (v != V_GLIBC)
            setenv("LD_PRELOAD", library[v], 1);
        if (v == V_ARHEAP)
            setenv("AR_HEAP_OPTIONS", "guard=1:leak_report=0", 1);
        if (v == V_EFENCE)
            setenv("EF_DISABLE_BANNER", "1", 1);
        if (v == V_DUMA)
            setenv("DUMA_DISABLE_BANNER", "1", 1);
        execv(self_path, args);
        _exit(127);
    }
    close(out[1]);
    char buf[65536];
    size_t len = 0;
    uint64_t deadline = now_ns() + (uint64_t)limit_s * 1000000000u;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= deadline) {
            kill(-pid, SIGKILL);
            r->killed = 1;
            break;
        }
        struct pollfd p = { out[0], POLLIN, 0 };
        int ms = (int)((deadline - t) / 1000000u) + 1;
        if (poll(&p, 1, ms > 1000 ? 1000 : ms) <= 0)
            continue;
        char chunk[4096];
        ssize_t n = read(out[0], chunk, sizeof chunk);
        if (n <= 0)
            break;
        /* Keep the tail: the last lines say the most. */
        if (len + (size_t)n >= sizeof buf) {
            memmove(buf, buf + len / 2, len - len / 2);
            len -= len / 2;
        }
        memcpy(buf + len, chunk, (size_t)n);
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(out[0]);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
        ;
    r->maxrss_kib = ru.ru_maxrss;
    const char *ns = strstr(buf, "ns=");
    if (ns != NULL && !r->killed) {
        r->ok = 1;
        r->ns = strtod(ns + 3, NULL);
        const char *done = strstr(buf, "done=");
        if (done != NULL)
            r->done = strtoull(done + 5, NULL, 10);
        const char *ops = strstr(buf, "ops=");
        if (ops != NULL)
            r->done = strtoull(ops + 4, NULL, 10);
    } else {
        const char *last = NULL;
        for (const char *p = buf; (p = strstr(p, "progress=")) != NULL; p++)
            last = p;
        if (last != NULL)
            r->done = strtoull(last + 9, NULL, 10);
    }
    lseek(errfd, 0, SEEK_SET);
    char err[8192];
    ssize_t n = read(errfd, err, sizeof err - 1);
    err[n > 0 ? n : 0] = '\0';
    r->unguarded = strstr(err, "guard pages:") != NULL;
    close(errfd);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of `repeat` runs (ns, RSS the largest); a run that failed
 * ends the repeats (its figure is the failure). */
static void run_median(int v, char *const args[], int repeat, result_t *out)
{
    double ns[16];
    long rss = 0;
    int n = 0;
    for (int i = 0; i < repeat && i < 16; i++) {
        run_worker(v, args, out);
        if (out->maxrss_kib > rss)
            rss = out->maxrss_kib;
        if (!out->ok)
            break;
        ns[n++] = out->done > 0 ? out->ns / (double)out->done : out->ns;
    }
    if (out->ok && n > 0) {
        qsort(ns, (size_t)n, sizeof ns[0], cmp_double);
        out->ns = n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2; /* per op */
    }
    out->maxrss_kib = rss;
}

static void time_cell(char *cell, size_t size, const result_t *r, const result_t *glibc)
{
    if (r->killed)
        snprintf(cell, size, ">limit (%llu made)", r->done);
    else if (!r->ok)
        snprintf(cell, size, "failed after %llu", r->done);
    else if (glibc->ok && glibc->ns > 0 && r != glibc)
        snprintf(cell, size, "%.2f µs (%.0fx)", r->ns / 1000, r->ns / glibc->ns);
    else
        snprintf(cell, size, "%.3f µs", r->ns / 1000);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--worker") == 0) {
        if (strcmp(argv[2], "churn") == 0 && argc == 6)
            return worker_churn(strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
                                strtoull(argv[5], NULL, 10));
        if (strcmp(argv[2], "live") == 0 && argc == 4)
            return worker_live(strtoull(argv[3], NULL, 10));
        return 2;
    }
    int repeat = 3, quick = 0;
    library[V_EFENCE] = "libefence.so.0";
    library[V_DUMA] = "libduma.so.0";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preload") == 0 && i + 1 < argc)
            library[V_ARHEAP] = argv[++i];
        else if (strcmp(argv[i], "--efence") == 0 && i + 1 < argc)
            library[V_EFENCE] = argv[++i];
        else if (strcmp(argv[i], "--duma") == 0 && i + 1 < argc)
            library[V_DUMA] = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit_s = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else {
            fprintf(stderr, "usage: efence_side [--preload SO] [--efence SO] [--duma SO] "
                            "[--repeat R] [--limit S] [--quick]\n");
            return 2;
        }
    }
    if (quick)
        repeat = 1;
    if (repeat < 1 || repeat > 15 || limit_s < 1) {
        fprintf(stderr, "efence_side: --repeat takes 1 to 15, --limit at least 1\n");
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        return 1;
    self_path[n] = '\0';

    /* Which variants can run: a library the dynamic linker can load. */
    int have[V_COUNT] = { 1, 0, 0, 0 };
    for (int v = V_ARHEAP; v < V_COUNT; v++) {
        if (library[v] == NULL)
            continue;
        char *args[] = { self_path, "--worker", "live", "0", NULL };
        result_t r;
        run_worker(v, args, &r);
        have[v] = r.ok;
        if (!have[v])
            printf("note: %s: %s could not be preloaded: '-'\n", variant_name[v], library[v]);
    }
    /* The baseline RSS of each variant: a worker that allocates nothing. */
    long base[V_COUNT] = { 0 };
    for (int v = 0; v < V_COUNT; v++) {
        if (!have[v])
            continue;
        char *args[] = { self_path, "--worker", "live", "0", NULL };
        result_t r;
        run_worker(v, args, &r);
        base[v] = r.maxrss_kib;
    }

    size_t ops = quick ? 10000 : 100000;
    size_t million = quick ? 100000 : 1000000;
    printf("efence_side: guard pages beside Electric Fence and DUMA; median of %d run(s), "
           "limit %d s a run, %ld CPUs\n\n",
           repeat, limit_s, sysconf(_SC_NPROCESSORS_ONLN));
    printf("| row | glibc | arheap guard=1 | Electric Fence | DUMA | arheap/EF | arheap/DUMA |\n");
    printf("|---|---|---|---|---|---|---|\n");
    struct {
        const char *label;
        const char *mode;
        size_t live;
    } rows[] = {
        { "churn, 1,000 live, time per op", "churn", 1000 },
        { "churn, 10,000 live, time per op", "churn", 10000 },
        { NULL, "live", million },
    };
    double arheap_over_ef[3] = { 0 };
    result_t last_live[V_COUNT];
    memset(last_live, 0, sizeof last_live);
    for (size_t row = 0; row < sizeof rows / sizeof rows[0]; row++) {
        char live_text[32], ops_text[32], deadline_text[32];
        snprintf(live_text, sizeof live_text, "%zu", rows[row].live);
        snprintf(ops_text, sizeof ops_text, "%zu", ops);
        snprintf(deadline_text, sizeof deadline_text, "%d", quick ? 5000 : 20000);
        char *churn_args[] = { self_path, "--worker", "churn", live_text, ops_text,
                               deadline_text, NULL };
        char *live_args[] = { self_path, "--worker", "live", live_text, NULL };
        char *const *args = strcmp(rows[row].mode, "churn") == 0 ? churn_args : live_args;
        result_t r[V_COUNT];
        char cell[V_COUNT][96];
        for (int v = 0; v < V_COUNT; v++) {
            memset(&r[v], 0, sizeof r[v]);
            if (!have[v]) {
                snprintf(cell[v], sizeof cell[v], "-");
                continue;
            }
            run_median(v, args, repeat, &r[v]);
        }
        for (int v = 0; v < V_COUNT; v++) {
            if (!have[v])
                continue;
            time_cell(cell[v], sizeof cell[v], &r[v], &r[V_GLIBC]);
            if (v == V_ARHEAP && r[v].unguarded)
                strncat(cell[v], " (not all guarded)", sizeof cell[v] - strlen(cell[v]) - 1);
        }
        char ratio[2][32] = { "-", "-" };
        for (int k = 0; k < 2; k++) {
            const result_t *other = &r[k == 0 ? V_EFENCE : V_DUMA];
            if (have[V_ARHEAP] && have[k == 0 ? V_EFENCE : V_DUMA] && r[V_ARHEAP].ok &&
                other->ok && other->ns > 0) {
                snprintf(ratio[k], sizeof ratio[k], "%.2f", r[V_ARHEAP].ns / other->ns);
                if (k == 0)
                    arheap_over_ef[row] = r[V_ARHEAP].ns / other->ns;
            }
        }
        char label[96];
        if (rows[row].label != NULL)
            snprintf(label, sizeof label, "%s", rows[row].label);
        else
            snprintf(label, sizeof label, "%zu live of 8 B to 4 KiB, time per allocation",
                     rows[row].live);
        printf("| %s | %s | %s | %s | %s | %s | %s |\n", label, cell[0], cell[1], cell[2],
               cell[3], ratio[0], ratio[1]);
        /* Peak RSS per live block, over the variant's baseline. */
        char rss[V_COUNT][48];
        for (int v = 0; v < V_COUNT; v++) {
            size_t live = strcmp(rows[row].mode, "churn") == 0 ? rows[row].live
                          : r[v].ok                          ? rows[row].live
                                                             : (size_t)r[v].done;
            if (!have[v] || live == 0)
                snprintf(rss[v], sizeof rss[v], "-");
            else
                snprintf(rss[v], sizeof rss[v], "%.2f KiB",
                         (double)(r[v].maxrss_kib - base[v]) / (double)live);
        }
        printf("| %s: peak RSS per live block | %s | %s | %s | %s | | |\n",
               strcmp(rows[row].mode, "churn") == 0 ? "churn" : "live", rss[0], rss[1], rss[2],
               rss[3]);
        if (strcmp(rows[row].mode, "live") == 0)
            memcpy(last_live, r, sizeof r);
    }

    printf("\nTargets (issue 12):\n");
    for (int row = 0; row < 2; row++) {
        if (arheap_over_ef[row] > 0)
            printf("- churn with %s live: arheap guard=1 at most 1/6 of Electric Fence's time: "
                   "%.2f: %s\n",
                   row == 0 ? "1,000" : "10,000", arheap_over_ef[row],
                   arheap_over_ef[row] <= 1.0 / 6 ? "met" : "NOT met");
        else
            printf("- churn with %s live: no ratio to Electric Fence ('-')\n",
                   row == 0 ? "1,000" : "10,000");
    }
    const result_t *a = &last_live[V_ARHEAP];
    if (have[V_ARHEAP]) {
        printf("- %zu live blocks, every one guarded, to completion: %s\n", million,
               a->ok && !a->unguarded ? "met"
               : a->ok                ? "NOT met (blocks past the mapping budget got canaries)"
                                      : "NOT met (the run did not complete)");
        double per_block = a->ok ? (double)(a->maxrss_kib - base[V_ARHEAP]) / (double)million : 0;
        /* Blocks of 8 B to 4 KiB round up to one 4 KiB page each. */
        if (a->ok && !a->unguarded)
            printf("- peak RSS per live guarded block at most 4 KiB + 10%% (4.40 KiB): %.2f "
                   "KiB: %s\n",
                   per_block, per_block <= 4.4 ? "met" : "NOT met");
        else
            printf("- peak RSS per live guarded block at most 4 KiB + 10%%: not measured (not "
                   "every block was guarded)\n");
    }
    return 0;
}
