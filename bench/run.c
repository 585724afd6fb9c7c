/*
 * run.c: the driver of `make bench`. It runs bench/workloads under every
 * allocator the benchmark compares, and unmodified programs of the
 * machine plain and under the preload library, each run a process of its
 * own, and prints the tables and targets of doc/arheap.md "Benchmark".
 *
 * The variants (columns)
 *   glibc     bench/workloads: the workloads on glibc's malloc, -O2.
 *   floor     bench/workloads_floor: glibc plus exactly the fill, poison
 *             and poison-check passes of arheap's debug defaults (see
 *             bench/workloads.c); single-threaded workloads only.
 *   asan      bench/workloads_asan: the glibc source built with
 *             -fsanitize=address, run with ASAN_OPTIONS=detect_leaks=0:
 *             the arheap variants run with leak_report=0 too, and a leak
 *             check at exit would fall outside the timed part anyway.
 *             Everything else is ASan's default (its 256 MiB quarantine,
 *             its fill of new blocks). "-" when the compiler could not
 *             build it.
 *   tracking  bench/workloads_arheap (the AR__HEAP__* macros, linked with
 *             libarheap) with
 *             AR_HEAP_OPTIONS=canary=0:fill=0:quarantine_bytes=0:leak_report=0.
 *   defaults  the same binary with AR_HEAP_OPTIONS=leak_report=0: the debug
 *             defaults (canaries, fill, 16 MiB quarantine).
 *   preload   bench/workloads (the glibc binary) under
 *             LD_PRELOAD=libarheap-preload.so, its default options.
 *   reference threads rows only: the glibc binary under a production
 *             allocator, LD_PRELOAD=libmimalloc.so.2 (Debian's
 *             libmimalloc2.0) unless --reference SO names another, or
 *             "none". Not a target: how far this workload scales on this
 *             machine under an allocator built for threads, so that the
 *             speedups of the other columns can be read against it. A
 *             library that can not be preloaded (not installed) gets no
 *             column and a note; each run must say that malloc came from
 *             it (workloads' malloc= field), or a note says otherwise.
 *   Every other AR_HEAP_OPTIONS, ASAN_OPTIONS and LD_PRELOAD of the
 *   caller's environment is removed from the runs, and every run gets
 *   LC_ALL=C (sort's speed depends on the locale).
 *
 * Method
 *   For each row (a workload, a thread count, a program) the variants run
 *   in turn, glibc, floor, asan, tracking, defaults, preload, then again,
 *   --repeat R times (default 3, or the environment's BENCH_REPEAT), so
 *   that a slow spell of the machine touches every variant alike; each
 *   figure is the median of its R runs (mean of the middle two for even
 *   R) and each ratio is a median over the median of glibc's runs. A
 *   workload's time is the timed part it reports itself (ns=); a
 *   program's is the wall time of the whole process, from fork to wait4.
 *   Peak RSS is ru_maxrss from wait4() (the largest over the R runs): the
 *   process's high-water resident set, a program's children included.
 *   Noise: the targets' figures are ratios of medians, and beside each
 *   one whose round-by-round ratios (a variant's run of round i over the
 *   other variant's run of round i, close in time) fall on both sides of
 *   its bound, that range is printed in brackets and the verdict says it
 *   rests on noise. The notes give each row's slowest glibc run over its
 *   fastest (glibc's code does not change from run to run, so what moves
 *   it is the machine), and call the run quiet when that is at most
 *   QUIET_SPREAD (1.10x) in every row: the targets are to hold
 *   "on a quiet machine", and this is how a run says whether it was on one.
 *   Time limit (--limit S, default 20 s, or BENCH_LIMIT): a workload is
 *   told to stop its timed part after S seconds (--deadline-ms) and then
 *   reports the operations it did; its figure is that run's time per
 *   operation (threads: its throughput), marked "*", and the variant is
 *   not run again in that row, so a very slow allocator costs one limit
 *   per row, not R, and still has a figure. The workloads are in their
 *   steady state after a few thousand steps, so such a rate stands for
 *   the whole run's. (Ratios are therefore ratios of time per operation;
 *   every complete run of a row does the same operations, so for them it
 *   is the ratio of times.) A program can not stop early: one that goes
 *   on past S is killed with its process group, shown as ">limit" and
 *   not run again in its row; a workload that has not ended 60 s after
 *   its deadline is killed the same way. Every variant's checksum
 *   must equal glibc's (the same work was done) and each run must say it
 *   ran the layer it was meant to (tracking on, preload mapped), or a
 *   note says otherwise.
 *   --threads-only runs the threads rows alone (T = 1, 2, 4, 8, then
 *   powers of two to the core count and the count itself): what a
 *   machine lent for a few minutes to measure the scaling target has
 *   time for. A target with no row to judge says "not run".
 *
 * Programs (plain and preload only: ASan needs a program built with it,
 *   and these are the machine's own binaries)
 *   sort      sort of a generated file of random lines (24 MiB).
 *   python3   a generated script building dicts, lists and strings.
 *   gcc       gcc -O1 -c of a generated C file of many functions.
 *   A program that is not installed is skipped with a note. Inputs are
 *   generated once per run of this driver in a temporary directory,
 *   removed at the end. Each program's output (stdout) under preload
 *   must hash the same as plain, or a note says so.
 *
 * --quick (or BENCH_QUICK=1): one run per variant, a tenth of the
 * workloads' steps and of the programs' inputs, threads 1 and 2 only:
 * a smoke test of the whole chain, not figures to quote.
 *
 * Usage: run --bindir DIR [--preload SO] [--reference SO|none] [--repeat R] [--limit S]
 *            [--quick]
 * Exit: 0 whether targets are met or not (the bench reports); 1 when a
 * run could not be made or gave no figure; 2 on a usage error.
 */
#define _GNU_SOURCE /* mkdtemp, setenv, sigtimedwait, wait4, sched_getaffinity */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

#define MAX_REPEAT 25u
#define DEFAULT_REPEAT 3u
#define DEFAULT_LIMIT_S 20.0
#define QUICK_SCALE 10u /* percent of the workloads' steps and programs' inputs */
#define MAX_ROWS 32u
#define OUT_BYTES 1024u
#define NOTE_BYTES 240u
/* A workload stops its timed part at the limit; it is killed only this
 * long after it (its untimed setup and teardown, under a slow allocator). */
#define WORKLOAD_GRACE_S 60.0
#define MAX_NOTES 64u

/* arheap's default quarantine budget, for the peak RSS target. */
#define QUARANTINE_MIB 16.0

/* Targets of issue 10 (reported, never enforced). */
#define TARGET_DEFAULTS_VS_ASAN 0.5
#define TARGET_DEFAULTS_VS_FLOOR 1.2
#define TARGET_TRACKING_VS_GLIBC 1.5
#define TARGET_PRELOAD_VS_DEFAULTS 1.25
#define TARGET_SPEEDUP_8 5.0
#define TARGET_SPEEDUP_2 1.7
#define TARGET_RSS_FACTOR 1.15
/* A run is quiet when glibc's slowest run of every row is within this
 * factor of its fastest. */
#define QUIET_SPREAD 1.10

enum variant { V_GLIBC, V_FLOOR, V_ASAN, V_TRACKING, V_DEFAULTS, V_PRELOAD, V_REFERENCE, V_COUNT };

static const char *const variant_name[V_COUNT] = {"glibc",    "floor",    "asan",     "tracking",
                                                  "defaults", "preload",  "reference"};

/* The reference allocator preloaded by default (package libmimalloc2.0). */
#define DEFAULT_REFERENCE "libmimalloc.so.2"

#define TRACKING_OPTIONS "canary=0:fill=0:quarantine_bytes=0:leak_report=0"
#define DEFAULTS_OPTIONS "leak_report=0"
#define ASAN_OPTIONS_USED "detect_leaks=0"

enum row_kind { ROW_WORKLOAD, ROW_THREADS, ROW_PROGRAM };

/* One variant's runs in one row. */
enum cell_state { CELL_NONE, CELL_OK, CELL_LIMIT, CELL_FAILED };

struct cell {
    enum cell_state state;
    int partial; /* its run stopped at the deadline: one sample, a rate */
    unsigned runs;
    double seconds[MAX_REPEAT];
    double ops[MAX_REPEAT];
    double rss_mib; /* largest over the runs */
};

struct row {
    enum row_kind kind;
    char name[32];
    unsigned threads;
    char *argv[16]; /* programs: the command line; workloads: built per variant */
    int present;    /* programs: installed */
    uint64_t checksum;
    int have_checksum;
    struct cell cell[V_COUNT];
};

static struct {
    const char *bindir;
    const char *preload;
    const char *reference; /* the reference column's library, or NULL: none */
    unsigned repeat;
    double limit_s;
    int quick;
    int threads_only; /* --threads-only: the threads rows alone */
    unsigned scale;
    long cores;
    char workdir[256];
    char note[MAX_NOTES][NOTE_BYTES];
    unsigned notes;
    struct row row[MAX_ROWS];
    unsigned rows;
    char bin[V_COUNT][512]; /* binary of each workload variant; "" none */
    sigset_t chld;
    char load_start[64]; /* /proc/loadavg, for judging the noise */
    char load_end[64];
} run;

/* ------------------------------------------------------------ utilities */

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    if (run.notes == MAX_NOTES) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(run.note[run.notes++], NOTE_BYTES, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, unsigned count)
{
    double sorted[MAX_REPEAT];
    memcpy(sorted, v, count * sizeof *v);
    qsort(sorted, count, sizeof *sorted, compare_doubles);
    return count % 2u ? sorted[count / 2u] : (sorted[count / 2u - 1u] + sorted[count / 2u]) / 2.0;
}

static int executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The full path of a program found in PATH, or NULL. */
static char *find_program(const char *name, const char *preferred)
{
    static char found[4][512];
    static unsigned next;
    char *slot = found[next++ % 4u];
    if (preferred != NULL && executable(preferred)) {
        snprintf(slot, sizeof found[0], "%s", preferred);
        return slot;
    }
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len < 400) {
            snprintf(slot, sizeof found[0], "%.*s/%s", (int)len, path, name);
            if (executable(slot)) {
                return slot;
            }
        }
        path = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

/* FNV-1a of a file's bytes (0 when it can not be read). */
static uint64_t hash_file(const char *path)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    unsigned char buf[65536];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++) {
            h = (h ^ buf[i]) * UINT64_C(0x100000001b3);
        }
    }
    fclose(f);
    return h;
}

/* The first three fields of /proc/loadavg into buf ("?" when absent). */
static const char *load_average(char *buf, size_t size)
{
    double a, b, c;
    FILE *f = fopen("/proc/loadavg", "r");
    snprintf(buf, size, "?");
    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) {
            snprintf(buf, size, "%.2f %.2f %.2f", a, b, c);
        }
        fclose(f);
    }
    return buf;
}

/* The processor's model name, from /proc/cpuinfo, into buf ("?" when
 * absent): ratios to ASan's and to the floor's differ from one processor
 * to another (doc/arheap.md, "Where it stands"), so a run says which. */
static const char *cpu_model(char *buf, size_t size)
{
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(buf, size, "?");
    if (f == NULL)
        return buf;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *colon = strchr(line, ':');
        if (colon == NULL)
            break;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        size_t n = strcspn(colon, "\n");
        snprintf(buf, size, "%.*s", (int)n, colon);
        break;
    }
    fclose(f);
    return buf;
}

/* ----------------------------------------------------------- one process */

enum spawn_status { SPAWN_OK, SPAWN_LIMIT, SPAWN_FAILED };

struct spawned {
    enum spawn_status status;
    double wall_s;
    double rss_mib;
    char out[OUT_BYTES]; /* stdout (workloads) */
    char err[NOTE_BYTES]; /* start of stderr, for a note on failure */
};

/* The environment of a variant's runs (applied in the child). */
static void child_environment(enum variant v)
{
    unsetenv("AR_HEAP_OPTIONS");
    unsetenv("ASAN_OPTIONS");
    unsetenv("LD_PRELOAD");
    setenv("LC_ALL", "C", 1);
    switch (v) {
    case V_ASAN:
        setenv("ASAN_OPTIONS", ASAN_OPTIONS_USED, 1);
        break;
    case V_TRACKING:
        setenv("AR_HEAP_OPTIONS", TRACKING_OPTIONS, 1);
        break;
    case V_DEFAULTS:
        setenv("AR_HEAP_OPTIONS", DEFAULTS_OPTIONS, 1);
        break;
    case V_PRELOAD:
        setenv("LD_PRELOAD", run.preload, 1);
        break;
    case V_REFERENCE:
        setenv("LD_PRELOAD", run.reference, 1);
        break;
    default:
        break;
    }
}

static void read_fd(int fd, char *buf, size_t size)
{
    size_t used = 0;
    ssize_t n;
    while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        used += (size_t)n;
    }
    buf[used] = '\0';
}

/*
 * Run argv[0] (a path) with the variant's environment, in `dir` when not
 * NULL, stdout to `out_path` (NULL: captured into result->out), stderr
 * captured. Killed (with its process group) past the limit. SIGCHLD is
 * blocked in this process (main), so sigtimedwait can wait for the child
 * with a timeout; the child gets the mask back before exec.
 */
static void spawn(char *const argv[], enum variant v, const char *dir, const char *out_path,
                  double limit_s, struct spawned *result)
{
    int out_pipe[2];
    FILE *err_file = tmpfile();
    memset(result, 0, sizeof *result);
    result->status = SPAWN_FAILED;
    if (err_file == NULL || pipe(out_pipe) != 0) {
        snprintf(result->err, sizeof result->err, "pipe or tmpfile: %s", strerror(errno));
        if (err_file != NULL) {
            fclose(err_file);
        }
        return;
    }
    double start = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(result->err, sizeof result->err, "fork: %s", strerror(errno));
        close(out_pipe[0]);
        close(out_pipe[1]);
        fclose(err_file);
        return;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        setpgid(0, 0);
        if (out_path != NULL) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
                _exit(126);
            }
            close(fd);
        } else if (dup2(out_pipe[1], STDOUT_FILENO) < 0) {
            _exit(126);
        }
        close(out_pipe[0]);
        close(out_pipe[1]);
        if (dup2(fileno(err_file), STDERR_FILENO) < 0) {
            _exit(126);
        }
        if (dir != NULL && chdir(dir) != 0) {
            _exit(126);
        }
        child_environment(v);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out_pipe[1]);

    struct rusage usage;
    int status = 0;
    int limited = 0;
    for (;;) {
        pid_t done = wait4(pid, &status, WNOHANG, &usage);
        if (done == pid) {
            break;
        }
        if (done < 0 && errno != EINTR) {
            snprintf(result->err, sizeof result->err, "wait4: %s", strerror(errno));
            break;
        }
        double left = limit_s - (now_s() - start);
        if (left <= 0.0) {
            limited = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
            }
            break;
        }
        struct timespec wait = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        (void)sigtimedwait(&run.chld, NULL, &wait);
    }
    result->wall_s = now_s() - start;
    read_fd(out_pipe[0], result->out, sizeof result->out);
    close(out_pipe[0]);
    rewind(err_file);
    size_t n = fread(result->err, 1, sizeof result->err - 1, err_file);
    result->err[n] = '\0';
    for (char *c = result->err; *c != '\0'; c++) {
        if (*c == '\n') {
            *c = ' ';
        }
    }
    fclose(err_file);
    if (limited) {
        /* Children of the program killed with it may linger unreaped by
         * us; they are the process group's and were killed too. */
        result->status = SPAWN_LIMIT;
        return;
    }
    result->rss_mib = (double)usage.ru_maxrss / 1024.0; /* KiB on Linux */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        result->status = SPAWN_OK;
    } else if (result->err[0] == '\0') {
        if (WIFSIGNALED(status)) {
            snprintf(result->err, sizeof result->err, "killed by signal %d", WTERMSIG(status));
        } else {
            snprintf(result->err, sizeof result->err, "exit status %d", WEXITSTATUS(status));
        }
    }
}

/* ----------------------------------------------------------------- rows */

static struct row *add_row(enum row_kind kind, const char *name, unsigned threads)
{
    struct row *r = &run.row[run.rows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->threads = threads;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->present = 1;
    return r;
}

/* Whether a variant has a column in a row. */
static int applies(const struct row *r, enum variant v)
{
    switch (r->kind) {
    case ROW_WORKLOAD:
        if (v == V_REFERENCE) {
            return 0;
        }
        break;
    case ROW_THREADS:
        if (v == V_FLOOR) {
            return 0;
        }
        break;
    case ROW_PROGRAM:
        if (v != V_GLIBC && v != V_PRELOAD) {
            return 0;
        }
        return r->present && (v != V_PRELOAD || run.preload != NULL);
    }
    if (v == V_PRELOAD) {
        return run.preload != NULL && run.bin[V_GLIBC][0] != '\0';
    }
    if (v == V_REFERENCE) {
        return run.reference != NULL && run.bin[V_GLIBC][0] != '\0';
    }
    return run.bin[v][0] != '\0';
}

static uint64_t field(const char *out, const char *key, int base)
{
    const char *at = strstr(out, key);
    return at != NULL ? strtoull(at + strlen(key), NULL, base) : 0;
}

/* Whether a workload's output says malloc came from the library `lib`
 * (its malloc= field: the file name of the mapping that holds malloc's
 * code, which may be the file a soname link names: libmimalloc.so.2.0
 * for libmimalloc.so.2). */
static int malloc_from(const char *out, const char *lib)
{
    const char *at = strstr(out, "malloc=");
    const char *base = strrchr(lib, '/');
    base = base != NULL ? base + 1 : lib;
    if (at == NULL) {
        return 0;
    }
    at += strlen("malloc=");
    size_t len = strcspn(at, " \n");
    const char *name = at;
    for (const char *p = at; p < at + len; p++) {
        if (*p == '/') {
            name = p + 1;
        }
    }
    return (size_t)(at + len - name) >= strlen(base) && strncmp(name, base, strlen(base)) == 0;
}

/* One run of one variant in one row; fills the cell. */
static void run_cell(struct row *r, enum variant v)
{
    struct cell *c = &r->cell[v];
    struct spawned s;
    char scale[16];
    char threads[16];
    char deadline[24];
    char out_path[300];

    if (c->state == CELL_LIMIT || c->state == CELL_FAILED || c->partial) {
        return;
    }
    if (r->kind == ROW_PROGRAM) {
        snprintf(out_path, sizeof out_path, "%s/%s.%s.out", run.workdir, r->name, variant_name[v]);
        spawn(r->argv, v, run.workdir, out_path, run.limit_s, &s);
    } else {
        char *argv[8];
        int n = 0;
        snprintf(scale, sizeof scale, "%u", run.scale);
        snprintf(threads, sizeof threads, "%u", r->threads);
        snprintf(deadline, sizeof deadline, "%.0f", run.limit_s * 1e3);
        argv[n++] = run.bin[v == V_PRELOAD || v == V_REFERENCE ? V_GLIBC : v];
        argv[n++] = r->kind == ROW_THREADS ? "threads" : r->name;
        if (r->kind == ROW_THREADS) {
            argv[n++] = threads;
        }
        argv[n++] = "--scale";
        argv[n++] = scale;
        argv[n++] = "--deadline-ms";
        argv[n++] = deadline;
        argv[n] = NULL;
        spawn(argv, v, NULL, NULL, run.limit_s + WORKLOAD_GRACE_S, &s);
    }
    if (s.status == SPAWN_LIMIT) {
        c->state = CELL_LIMIT;
        return;
    }
    if (s.status != SPAWN_OK) {
        c->state = CELL_FAILED;
        note("%s, %s: the run failed: %.150s", r->name, variant_name[v], s.err);
        return;
    }
    double seconds = s.wall_s;
    double ops = 0;
    if (r->kind == ROW_PROGRAM) {
        uint64_t h = hash_file(out_path);
        if (v == V_GLIBC) {
            r->checksum = h;
            r->have_checksum = 1;
        } else if (r->have_checksum && h != r->checksum) {
            note("%s: its output under preload differs from its plain output", r->name);
        }
    } else {
        uint64_t ns = field(s.out, "ns=", 10);
        uint64_t sum = field(s.out, "checksum=", 16);
        if (ns == 0) {
            c->state = CELL_FAILED;
            note("%s, %s: no figure in its output: %.150s", r->name, variant_name[v], s.out);
            return;
        }
        seconds = (double)ns / 1e9;
        ops = (double)field(s.out, "ops=", 10);
        c->partial = strstr(s.out, "partial=1") != NULL;
        /* A run stopped at its deadline did less work: no checksum. */
        if (!c->partial && v == V_GLIBC && !r->have_checksum) {
            r->checksum = sum;
            r->have_checksum = 1;
        } else if (!c->partial && r->have_checksum && sum != r->checksum) {
            note("%s, %s: checksum %" PRIx64 ", glibc's %" PRIx64 ": not the same work",
                 r->name, variant_name[v], sum, r->checksum);
        }
        if ((v == V_TRACKING || v == V_DEFAULTS) && strstr(s.out, "tracking=1") == NULL &&
            c->runs == 0) {
            note("%s, %s: the AR__HEAP__ macros do not track (a release library?): "
                 "the column measures libc", r->name, variant_name[v]);
        }
        if (v == V_PRELOAD && strstr(s.out, "preload=1") == NULL && c->runs == 0) {
            note("%s, preload: libarheap-preload was not mapped in the process", r->name);
        }
        if (v == V_REFERENCE && !malloc_from(s.out, run.reference) && c->runs == 0) {
            note("%s, reference: malloc did not come from %s", r->name, run.reference);
        }
    }
    c->seconds[c->runs] = seconds;
    c->ops[c->runs] = ops;
    c->runs++;
    if (s.rss_mib > c->rss_mib) {
        c->rss_mib = s.rss_mib;
    }
    c->state = CELL_OK;
}

static void run_row(struct row *r)
{
    double start = now_s();
    for (unsigned rep = 0; rep < run.repeat; rep++) {
        for (int v = 0; v < V_COUNT; v++) {
            if (applies(r, (enum variant)v)) {
                run_cell(r, (enum variant)v);
            }
        }
    }
    fprintf(stderr, "bench: %s done in %.0f s\n", r->name, now_s() - start);
}

/* ------------------------------------------------------------- programs */

static int write_file(const char *name, const char *text, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", run.workdir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    size_t n = fwrite(text, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* sort's input: lines of a hex key, a few words and a number. */
#define SORT_BYTES ((size_t)24 << 20)
static int make_sort_input(size_t bytes)
{
    char path[300];
    uint64_t rng = 42;
    size_t written = 0;
    snprintf(path, sizeof path, "%s/sort.txt", run.workdir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    while (written < bytes) {
        uint64_t r = next_random(&rng);
        char word[3][16];
        for (int w = 0; w < 3; w++) {
            uint64_t x = next_random(&rng);
            int len = 2 + (int)(x % 10u);
            for (int i = 0; i < len; i++) {
                word[w][i] = (char)('a' + (x >> (8 + i * 5)) % 26u);
            }
            word[w][len] = '\0';
        }
        int n = fprintf(f, "%08" PRIx32 " %s %s %s %" PRIu64 "\n", (uint32_t)r, word[0], word[1],
                        word[2], (r >> 32) % 100000u);
        if (n < 0) {
            fclose(f);
            return -1;
        }
        written += (size_t)n;
    }
    return fclose(f);
}

static const char python_script[] =
    "# Generated by bench/run: dicts, lists and strings, as a script does.\n"
    "import sys, collections\n"
    "n = int(sys.argv[1])\n"
    "table = {}\n"
    "order = collections.deque()\n"
    "total = 0\n"
    "for i in range(n):\n"
    "    key = 'k%d-%s' % (i * 7919 % 50021, 'x' * (i % 17))\n"
    "    row = {'id': i, 'name': key.upper(), 'tags': [str(j) * (j % 5 + 1) for j in "
    "range(i % 11)]}\n"
    "    table[key] = row\n"
    "    order.append(key)\n"
    "    if len(order) > 30000:\n"
    "        table.pop(order.popleft(), None)\n"
    "    total += len(','.join(row['tags'])) + len(row['name'])\n"
    "text = ' '.join(sorted(table))\n"
    "words = text.split()\n"
    "print(total, len(table), len(words), sum(len(w) for w in words))\n";
#define PYTHON_N 100000u

/* A C file of many small functions, calling each other. */
#define GCC_FUNCTIONS 250u
static int make_c_file(unsigned functions)
{
    char path[300];
    snprintf(path, sizeof path, "%s/big.c", run.workdir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "/* Generated by bench/run. */\nstruct pair { int a; long b; };\n");
    for (unsigned i = 0; i < functions; i++) {
        fprintf(f,
                "int f%u(const int *v, int n, struct pair *p)\n{\n"
                "    int s = %u;\n"
                "    for (int i = 0; i < n; i++) {\n"
                "        switch ((v[i] + %u) %% 5) {\n"
                "        case 0: s += v[i] * %u; break;\n"
                "        case 1: s ^= v[i] << (i & 7); break;\n"
                "        case 2: p->b += s - v[i]; break;\n"
                "        case 3: s = s * 31 + %u; break;\n"
                "        default: p->a -= s / (v[i] | 1); break;\n"
                "        }\n"
                "    }\n",
                i, i, i % 97u, i % 13u + 2u, i);
        if (i > 0) {
            fprintf(f, "    if (n > 1 && s %% 3 == 0)\n        s += f%u(v + 1, n - 1, p);\n", i / 2u);
        }
        fprintf(f, "    return s + p->a;\n}\n\n");
    }
    return fclose(f);
}

static void add_programs(void)
{
    unsigned pct = run.scale;
    static char python_arg[32];
    char *sort_bin = find_program("sort", NULL);
    char *python_bin = find_program("python3", "/usr/bin/python3");
    char *gcc_bin = find_program("gcc", NULL);
    struct row *r;

    r = add_row(ROW_PROGRAM, "sort", 1);
    if (sort_bin == NULL || make_sort_input(SORT_BYTES / 100u * pct) != 0) {
        r->present = 0;
        note("sort: %s; skipped", sort_bin == NULL ? "not installed" : "no input file");
    } else {
        r->argv[0] = strdup(sort_bin);
        r->argv[1] = "sort.txt";
    }

    r = add_row(ROW_PROGRAM, "python3", 1);
    snprintf(python_arg, sizeof python_arg, "%u", PYTHON_N / 100u * pct);
    if (python_bin == NULL || write_file("alloc.py", python_script, sizeof python_script - 1u) != 0) {
        r->present = 0;
        note("python3: %s; skipped", python_bin == NULL ? "not installed" : "no script");
    } else {
        r->argv[0] = strdup(python_bin);
        r->argv[1] = "alloc.py";
        r->argv[2] = python_arg;
    }

    r = add_row(ROW_PROGRAM, "gcc -c", 1);
    if (gcc_bin == NULL || make_c_file(GCC_FUNCTIONS / 100u * pct) != 0) {
        r->present = 0;
        note("gcc: %s; skipped", gcc_bin == NULL ? "not installed" : "no input file");
    } else {
        r->argv[0] = strdup(gcc_bin);
        r->argv[1] = "-O1";
        r->argv[2] = "-c";
        r->argv[3] = "big.c";
        r->argv[4] = "-o";
        r->argv[5] = "big.o";
    }
}

static void remove_workdir(void)
{
    static const char *const files[] = {"sort.txt", "alloc.py", "big.c", "big.o"};
    char path[300];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", run.workdir, files[i]);
        unlink(path);
    }
    for (unsigned i = 0; i < run.rows; i++) {
        for (int v = 0; v < V_COUNT; v++) {
            snprintf(path, sizeof path, "%s/%s.%s.out", run.workdir, run.row[i].name,
                     variant_name[v]);
            unlink(path);
        }
    }
    rmdir(run.workdir);
}

/* --------------------------------------------------------------- output */

/* A run's time per operation (programs: per run), in seconds. */
static double run_per_op(const struct cell *c, unsigned i)
{
    return c->ops[i] > 0 ? c->seconds[i] / c->ops[i] : c->seconds[i];
}

/* A cell's median time in seconds; < 0 when it has none. */
static double cell_seconds(const struct cell *c)
{
    return c->state == CELL_OK ? median(c->seconds, c->runs) : -1.0;
}

/* A cell's median time per operation (programs: per run), in seconds. */
static double cell_per_op(const struct cell *c)
{
    double v[MAX_REPEAT];
    if (c->state != CELL_OK) {
        return -1.0;
    }
    for (unsigned i = 0; i < c->runs; i++) {
        v[i] = run_per_op(c, i);
    }
    return median(v, c->runs);
}

/* The i-th value of a series into its range so far (the first sets it). */
static void widen(double x, unsigned i, double *lo, double *hi)
{
    if (i == 0 || x < *lo) {
        *lo = x;
    }
    if (i == 0 || x > *hi) {
        *hi = x;
    }
}

/*
 * The round-by-round range of a ratio: variant v's run of round i over
 * base's run of the same round, for every round both ran in full (the
 * variants of a round run one after the other, so the two runs of a pair
 * saw the machine alike). Sets *lo and *hi and returns the number of
 * pairs; 0 (and nothing set) when fewer than two.
 */
static unsigned ratio_range(const struct cell *v, const struct cell *base, double *lo, double *hi)
{
    if (v->state != CELL_OK || base->state != CELL_OK || v->partial || base->partial) {
        return 0;
    }
    unsigned n = v->runs < base->runs ? v->runs : base->runs;
    if (n < 2) {
        return 0;
    }
    for (unsigned i = 0; i < n; i++) {
        double b = run_per_op(base, i);
        double f = b > 0 ? run_per_op(v, i) / b : -1.0;
        if (f < 0) {
            return 0;
        }
        widen(f, i, lo, hi);
    }
    return n;
}

/* How far apart one variant's own runs of a row were: its slowest over
 * its fastest time per operation; < 0 when it has fewer than two. */
static double run_spread(const struct cell *c)
{
    if (c->state != CELL_OK || c->partial || c->runs < 2) {
        return -1.0;
    }
    double lo = 0, hi = 0;
    for (unsigned i = 0; i < c->runs; i++) {
        widen(run_per_op(c, i), i, &lo, &hi);
    }
    return lo > 0 ? hi / lo : -1.0;
}

/* Million operations per second (threads rows). */
static double cell_mops(const struct cell *c)
{
    if (c->state != CELL_OK) {
        return -1.0;
    }
    double rate[MAX_REPEAT];
    for (unsigned i = 0; i < c->runs; i++) {
        rate[i] = c->ops[i] / c->seconds[i] / 1e6;
    }
    return median(rate, c->runs);
}

/* A ratio of two cells' times as text: "2.31x", ">12.0x" when the
 * numerator ran past the limit, "-" when there is none. */
static void ratio_text(char *buf, size_t size, const struct row *r, enum variant v,
                       enum variant base)
{
    const struct cell *c = &r->cell[v];
    double b = cell_per_op(&r->cell[base]);
    if (!applies(r, v) || b <= 0) {
        snprintf(buf, size, "-");
    } else if (c->state == CELL_LIMIT && r->kind == ROW_PROGRAM) {
        snprintf(buf, size, ">%.1fx", run.limit_s / b);
    } else if (c->state == CELL_LIMIT) {
        snprintf(buf, size, ">limit");
    } else if (c->state == CELL_FAILED) {
        snprintf(buf, size, "failed");
    } else {
        snprintf(buf, size, "%.2fx%s", cell_per_op(c) / b, c->partial ? "*" : "");
    }
}

static void rss_text(char *buf, size_t size, const struct row *r, enum variant v)
{
    const struct cell *c = &r->cell[v];
    if (!applies(r, v)) {
        snprintf(buf, size, "-");
    } else if (c->state == CELL_OK) {
        snprintf(buf, size, "%.1f%s", c->rss_mib, c->partial ? "*" : "");
    } else {
        snprintf(buf, size, "%s", c->state == CELL_LIMIT ? ">limit" : "failed");
    }
}

static void print_workload_table(void)
{
    char cellbuf[32];
    printf("Single-threaded workloads: glibc's time (median, ms) and each variant's time "
           "as a ratio to it\n\n");
    printf("| workload | glibc (ms) | floor | asan | tracking | defaults | preload |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind != ROW_WORKLOAD) {
            continue;
        }
        double g = cell_seconds(&r->cell[V_GLIBC]);
        if (g > 0) {
            printf("| %s | %.1f |", r->name, g * 1e3);
        } else {
            printf("| %s | - |", r->name);
        }
        for (int v = V_FLOOR; v < V_REFERENCE; v++) { /* no reference column here */
            ratio_text(cellbuf, sizeof cellbuf, r, (enum variant)v, V_GLIBC);
            printf(" %s |", cellbuf);
        }
        printf("\n");
    }
    printf("\n");
}

static void print_rss_table(void)
{
    char cellbuf[32];
    printf("Peak RSS (MiB, ru_maxrss, the largest of the runs)\n\n");
    int columns = run.reference != NULL ? V_COUNT : V_REFERENCE;
    printf("| run | glibc | floor | asan | tracking | defaults | preload |%s\n",
           run.reference != NULL ? " reference |" : "");
    printf("|---|---|---|---|---|---|---|%s\n", run.reference != NULL ? "---|" : "");
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind == ROW_PROGRAM && !r->present) {
            continue;
        }
        if (r->kind == ROW_THREADS) {
            printf("| threads T=%u |", r->threads);
        } else {
            printf("| %s |", r->name);
        }
        for (int v = 0; v < columns; v++) {
            rss_text(cellbuf, sizeof cellbuf, r, (enum variant)v);
            printf(" %s |", cellbuf);
        }
        printf("\n");
    }
    printf("\n");
}

static const struct row *threads_row(unsigned t)
{
    for (unsigned i = 0; i < run.rows; i++) {
        if (run.row[i].kind == ROW_THREADS && run.row[i].threads == t) {
            return &run.row[i];
        }
    }
    return NULL;
}

/* Speedup of a variant at T threads over its own T=1 figure; < 0 none. */
static double speedup(unsigned t, enum variant v)
{
    const struct row *one = threads_row(1);
    const struct row *r = threads_row(t);
    if (one == NULL || r == NULL) {
        return -1.0;
    }
    double a = cell_mops(&one->cell[v]);
    double b = cell_mops(&r->cell[v]);
    return a > 0 && b > 0 ? b / a : -1.0;
}

static void print_threads_table(void)
{
    static const enum variant cols[] = {V_GLIBC,    V_ASAN,    V_TRACKING,
                                        V_DEFAULTS, V_PRELOAD, V_REFERENCE};
    size_t ncols = sizeof cols / sizeof cols[0] - (run.reference == NULL);
    printf("Threads: total million heap operations per second (median), and in brackets "
           "the speedup over the same variant at T=1 (this machine: %ld cores)\n\n",
           run.cores);
    printf("| T | glibc | asan | tracking | defaults | preload |%s\n",
           run.reference != NULL ? " reference |" : "");
    printf("|---|---|---|---|---|---|%s\n", run.reference != NULL ? "---|" : "");
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind != ROW_THREADS) {
            continue;
        }
        printf("| %u |", r->threads);
        for (size_t k = 0; k < ncols; k++) {
            const struct cell *c = &r->cell[cols[k]];
            if (!applies(r, cols[k])) {
                printf(" - |");
            } else if (c->state == CELL_LIMIT) {
                printf(" >limit |");
            } else if (c->state != CELL_OK) {
                printf(" failed |");
            } else {
                double s = speedup(r->threads, cols[k]);
                printf(" %.2f%s (%.2fx) |", cell_mops(c), c->partial ? "*" : "", s);
            }
        }
        printf("\n");
    }
    if (run.reference != NULL) {
        printf("\nreference: the glibc binary under LD_PRELOAD=%s, an allocator built for "
               "threads: how far this workload scales on this machine (not a target)\n",
               run.reference);
    }
    printf("\n");
}

static void print_programs_table(void)
{
    char cellbuf[32];
    printf("Unmodified programs: wall time of the whole process (median, s), plain and "
           "under LD_PRELOAD=libarheap-preload.so (ASan needs a program built with it: "
           "not possible for these)\n\n");
    printf("| program | plain (s) | preload (s) | preload/plain | plain RSS (MiB) | "
           "preload RSS (MiB) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind != ROW_PROGRAM) {
            continue;
        }
        if (!r->present) {
            printf("| %s | not installed | | | | |\n", r->name);
            continue;
        }
        double g = cell_seconds(&r->cell[V_GLIBC]);
        double p = cell_seconds(&r->cell[V_PRELOAD]);
        printf("| %s |", r->name);
        if (g > 0) {
            printf(" %.2f |", g);
        } else {
            printf(" %s |", r->cell[V_GLIBC].state == CELL_LIMIT ? ">limit" : "failed");
        }
        if (p > 0) {
            printf(" %.2f |", p);
        } else if (!applies(r, V_PRELOAD)) {
            printf(" - |");
        } else {
            printf(" %s |", r->cell[V_PRELOAD].state == CELL_LIMIT ? ">limit" : "failed");
        }
        ratio_text(cellbuf, sizeof cellbuf, r, V_PRELOAD, V_GLIBC);
        printf(" %s |", cellbuf);
        rss_text(cellbuf, sizeof cellbuf, r, V_GLIBC);
        printf(" %s |", cellbuf);
        rss_text(cellbuf, sizeof cellbuf, r, V_PRELOAD);
        printf(" %s |\n", cellbuf);
    }
    printf("\n");
}

/* ------------------------------------------------------------- targets */

/*
 * A target over several rows: each row gives a figure (a ratio, lower is
 * better) against a bound. The verdict: met when every figure is known
 * and within; NOT met when one is known (or bounded below, past the time
 * limit) to be beyond; else unknown.
 */
struct verdict {
    int rows; /* figures given, known or not */
    int beyond;
    int beyond_firm; /* beyond, and so in every round (or no rounds to tell) */
    int noisy;       /* figures whose rounds fall on both sides of the bound */
    int unknown;
    double worst;
    char worst_row[40];
    char list[600];
    char word[160];
};

/*
 * A figure: its row's median ratio, and the range of its round-by-round
 * ratios (range[0] to range[1]; NULL: none, as for peak RSS). Where that
 * range spans the bound, the figure is followed by it in brackets and
 * counted as noisy: some rounds of the run met the bound and some did
 * not, so the verdict on it is the machine's as much as the code's.
 */
static void verdict_add(struct verdict *vd, const char *row, double figure, int lower_bound,
                        double bound, const double *range)
{
    size_t used = strlen(vd->list);
    vd->rows++;
    if (figure < 0) {
        vd->unknown = 1;
        snprintf(vd->list + used, sizeof vd->list - used, "%s%s -", used ? ", " : "", row);
        return;
    }
    int spans = range != NULL && !lower_bound && range[0] <= bound && range[1] > bound;
    snprintf(vd->list + used, sizeof vd->list - used, "%s%s %s%.2f", used ? ", " : "", row,
             lower_bound ? ">" : "", figure);
    if (spans) {
        used = strlen(vd->list);
        snprintf(vd->list + used, sizeof vd->list - used, " [%.2f-%.2f]", range[0], range[1]);
        vd->noisy++;
    }
    if (figure > bound) {
        vd->beyond = 1;
        if (!spans) {
            vd->beyond_firm = 1;
        }
    } else if (lower_bound) {
        vd->unknown = 1;
    }
    if (figure > vd->worst) {
        vd->worst = figure;
        snprintf(vd->worst_row, sizeof vd->worst_row, "%s", row);
    }
}

/* The verdict in words; a verdict that rests on a noisy figure says so. */
static const char *verdict_word(struct verdict *vd)
{
    if (vd->rows == 0)
        return "not run (no row it applies to)";
    const char *word = vd->beyond ? "NOT met" : vd->unknown ? "unknown" : "met";
    if (vd->beyond && !vd->beyond_firm) {
        snprintf(vd->word, sizeof vd->word,
                 "%s, within this run's noise (each figure beyond the bound was within it "
                 "in some rounds)",
                 word);
    } else if (!vd->beyond && vd->noisy > 0) {
        snprintf(vd->word, sizeof vd->word,
                 "%s, within this run's noise (%d figure%s beyond the bound in some rounds)", word,
                 vd->noisy, vd->noisy == 1 ? "" : "s");
    } else {
        snprintf(vd->word, sizeof vd->word, "%s", word);
    }
    return vd->word;
}

/* The round-by-round range of v over base in a row, into range[2]:
 * range, or NULL when there are not two full rounds of both. */
static const double *row_range(const struct row *r, enum variant v, enum variant base,
                               double range[2])
{
    if (!applies(r, v) || !applies(r, base)) {
        return NULL;
    }
    return ratio_range(&r->cell[v], &r->cell[base], &range[0], &range[1]) ? range : NULL;
}

/* The time ratio of variant v to variant base in a row (threads rows:
 * inverse throughput); *lower set when v ran past the limit. < 0: none. */
static double row_ratio(const struct row *r, enum variant v, enum variant base, int *lower)
{
    *lower = 0;
    if (!applies(r, v) || !applies(r, base)) {
        return -1.0;
    }
    double b = cell_per_op(&r->cell[base]);
    if (b <= 0) {
        return -1.0;
    }
    if (r->cell[v].state == CELL_LIMIT) {
        /* Only programs end so (workloads stop at the deadline): the
         * ratio is at least the limit over the base's time. */
        *lower = 1;
        return r->kind == ROW_PROGRAM ? run.limit_s / b : -1.0;
    }
    double s = cell_per_op(&r->cell[v]);
    return s > 0 ? s / b : -1.0;
}

static void row_label(char *buf, size_t size, const struct row *r)
{
    if (r->kind == ROW_THREADS) {
        snprintf(buf, size, "T=%u", r->threads);
    } else {
        snprintf(buf, size, "%s", r->name);
    }
}

static void print_targets(void)
{
    struct verdict vd;
    char label[40];
    int lower;

    printf("Targets (issue 10; ratios of medians from this run):\n");

    /* 1. defaults <= asan / 2 on every single-threaded workload. */
    memset(&vd, 0, sizeof vd);
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind != ROW_WORKLOAD) {
            continue;
        }
        int lower_asan;
        double d = row_ratio(r, V_DEFAULTS, V_GLIBC, &lower);
        double a = row_ratio(r, V_ASAN, V_GLIBC, &lower_asan);
        /* defaults / asan: a lower bound when defaults ran past the limit;
         * unknown when asan did (its ratio is then only bounded below). */
        double f = d > 0 && a > 0 && !lower_asan ? d / a : -1.0;
        double range[2];
        verdict_add(&vd, r->name, f, lower, TARGET_DEFAULTS_VS_ASAN,
                    f > 0 ? row_range(r, V_DEFAULTS, V_ASAN, range) : NULL);
    }
    printf("- defaults (linked) at most %.2f of ASan's ratio on every single-threaded "
           "workload: defaults/asan %s: %s\n",
           TARGET_DEFAULTS_VS_ASAN, vd.list, verdict_word(&vd));

    /* 2. defaults <= 1.2 x floor on large. */
    memset(&vd, 0, sizeof vd);
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind == ROW_WORKLOAD && strcmp(r->name, "large") == 0) {
            double range[2];
            verdict_add(&vd, r->name, row_ratio(r, V_DEFAULTS, V_FLOOR, &lower), lower,
                        TARGET_DEFAULTS_VS_FLOOR, row_range(r, V_DEFAULTS, V_FLOOR, range));
        }
    }
    printf("- defaults (linked) within %.2fx of the memory-pass floor on large-block churn: "
           "defaults/floor %s: %s\n",
           TARGET_DEFAULTS_VS_FLOOR, vd.list, verdict_word(&vd));

    /* 3. tracking within 1.5x of glibc on every workload. */
    memset(&vd, 0, sizeof vd);
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind == ROW_PROGRAM) {
            continue;
        }
        row_label(label, sizeof label, r);
        double range[2];
        verdict_add(&vd, label, row_ratio(r, V_TRACKING, V_GLIBC, &lower), lower,
                    TARGET_TRACKING_VS_GLIBC, row_range(r, V_TRACKING, V_GLIBC, range));
    }
    printf("- tracking only within %.2fx of glibc on every workload: tracking/glibc %s: %s\n",
           TARGET_TRACKING_VS_GLIBC, vd.list, verdict_word(&vd));

    /* 4. preload within 1.25x of defaults linked. */
    memset(&vd, 0, sizeof vd);
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind == ROW_PROGRAM) {
            continue;
        }
        row_label(label, sizeof label, r);
        double f = row_ratio(r, V_PRELOAD, V_DEFAULTS, &lower);
        if (r->cell[V_DEFAULTS].state == CELL_LIMIT) {
            f = -1.0;
        }
        double range[2];
        verdict_add(&vd, label, f, lower, TARGET_PRELOAD_VS_DEFAULTS,
                    f > 0 ? row_range(r, V_PRELOAD, V_DEFAULTS, range) : NULL);
    }
    printf("- defaults preloaded within %.2fx of defaults linked: preload/defaults %s: %s\n",
           TARGET_PRELOAD_VS_DEFAULTS, vd.list, verdict_word(&vd));

    /* 5, 6. thread scaling. */
    static const enum variant scaled[] = {V_TRACKING, V_DEFAULTS};
    static const struct {
        unsigned t;
        double target;
    } scaling[] = {{8u, TARGET_SPEEDUP_8}, {2u, TARGET_SPEEDUP_2}};
    for (size_t k = 0; k < sizeof scaling / sizeof scaling[0]; k++) {
        unsigned t = scaling[k].t;
        char list[200] = "";
        int beyond = 0;
        int unknown = 0;
        for (size_t j = 0; j < sizeof scaled / sizeof scaled[0]; j++) {
            double s = speedup(t, scaled[j]);
            size_t used = strlen(list);
            if (s < 0) {
                unknown = 1;
                snprintf(list + used, sizeof list - used, "%s%s -", used ? ", " : "",
                         variant_name[scaled[j]]);
            } else {
                beyond |= s < scaling[k].target;
                snprintf(list + used, sizeof list - used, "%s%s %.2fx", used ? ", " : "",
                         variant_name[scaled[j]], s);
            }
        }
        double ref = run.reference != NULL ? speedup(t, V_REFERENCE) : -1.0;
        if (ref > 0) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, " (reference %.2fx)", ref);
        }
        if (run.cores < (long)t) {
            printf("- %u threads at least %.1fx the 1-thread throughput (tracking, defaults): "
                   "%s: not measurable here (%ld cores)\n",
                   t, scaling[k].target, list, run.cores);
        } else {
            printf("- %u threads at least %.1fx the 1-thread throughput (tracking, defaults): "
                   "%s: %s\n",
                   t, scaling[k].target, list, beyond ? "NOT met" : unknown ? "unknown" : "met");
        }
    }

    /* 7. peak RSS <= glibc * 1.15 + quarantine budget. The floor's line
     * is context, not a target: glibc with nothing but a FIFO of freed
     * blocks under the same budget, against the same allowance. */
    static const enum variant rss_variants[] = {V_DEFAULTS, V_PRELOAD, V_FLOOR};
    for (size_t j = 0; j < sizeof rss_variants / sizeof rss_variants[0]; j++) {
        enum variant v = rss_variants[j];
        memset(&vd, 0, sizeof vd);
        for (unsigned i = 0; i < run.rows; i++) {
            const struct row *r = &run.row[i];
            if (!applies(r, v) || !applies(r, V_GLIBC)) {
                continue;
            }
            row_label(label, sizeof label, r);
            const struct cell *g = &r->cell[V_GLIBC];
            const struct cell *c = &r->cell[v];
            if (g->state != CELL_OK || c->state != CELL_OK) {
                verdict_add(&vd, label, -1.0, 0, 0, NULL);
                continue;
            }
            double allowed = g->rss_mib * TARGET_RSS_FACTOR + QUARANTINE_MIB;
            verdict_add(&vd, label, c->rss_mib / allowed, 0, 1.0, NULL);
        }
        if (v == V_FLOOR) {
            if (vd.rows == 0)
                continue;
            printf("  (for comparison, not a target: the memory-pass floor against the same "
                   "allowance: RSS/allowed %s)\n",
                   vd.list);
            continue;
        }
        printf("- %s peak RSS at most glibc's x %.2f + %.0f MiB (the quarantine budget): "
               "RSS/allowed %s: %s\n",
               variant_name[v], TARGET_RSS_FACTOR, QUARANTINE_MIB, vd.list, verdict_word(&vd));
    }
    printf("\n");
}

/*
 * How noisy the run was: each row's slowest glibc run over its fastest
 * (glibc's code is the same in every run, so what moves it is the
 * machine), and what the brackets in the targets mean.
 */
static void print_noise(void)
{
    char list[600] = "";
    double worst = 0;
    for (unsigned i = 0; i < run.rows; i++) {
        const struct row *r = &run.row[i];
        if (r->kind == ROW_PROGRAM || !applies(r, V_GLIBC)) {
            continue;
        }
        double spread = run_spread(&r->cell[V_GLIBC]);
        if (spread < 0) {
            continue;
        }
        char label[40];
        row_label(label, sizeof label, r);
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s %.2fx", used ? ", " : "", label, spread);
        if (spread > worst) {
            worst = spread;
        }
    }
    if (list[0] == '\0') {
        printf("- this run's noise: not known (fewer than two runs of glibc in every row)\n");
        return;
    }
    printf("- this run's noise, glibc's slowest run over its fastest in each row: %s (%s: at "
           "most %.2fx in every row is what this driver calls quiet); a target's figure "
           "followed by [lo-hi] is a ratio whose round-by-round values (each variant's run over "
           "the other's run of the same round) fall on both sides of the bound\n",
           list, worst <= QUIET_SPREAD ? "quiet" : "NOT quiet", QUIET_SPREAD);
}

/* ----------------------------------------------------------------- main */

/* The reference column runs only when a short run under the library
 * says malloc came from it (an LD_PRELOAD the dynamic linker can not
 * load is skipped with a warning, and the program runs on glibc). */
static void reference_probe(const char *lib)
{
    char *argv[] = {run.bin[V_GLIBC], "threads", "1", "--scale", "1", NULL};
    struct spawned s;
    run.reference = lib;
    spawn(argv, V_REFERENCE, NULL, NULL, 60.0, &s);
    if (s.status != SPAWN_OK || !malloc_from(s.out, lib)) {
        note("reference: %s could not be preloaded (for mimalloc: Debian's libmimalloc2.0; "
             "--reference SO names another): '-'",
             lib);
        run.reference = NULL;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: run --bindir DIR [--preload SO] [--reference SO|none] [--repeat R]\n"
                    "           [--limit S] [--quick] [--threads-only]\n"
                    "  DIR holds workloads, workloads_floor, workloads_arheap and (if built)\n"
                    "  workloads_asan; --preload names libarheap-preload.so, --reference the\n"
                    "  allocator of the threads rows' reference column (default %s).\n"
                    "  --threads-only runs the threads rows alone (T = 1, 2, 4, 8 and on to the\n"
                    "  machine's cores), for a machine lent for the scaling target.\n"
                    "  Environment: BENCH_REPEAT, BENCH_LIMIT, BENCH_QUICK=1 (the flags win).\n",
            DEFAULT_REFERENCE);
    return EXIT_USAGE;
}

static int parse_repeat(const char *text, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v == 0 || v > MAX_REPEAT) {
        fprintf(stderr, "run: a repeat count is 1 to %u, not '%s'\n", MAX_REPEAT, text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_limit(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(v >= 1.0 && v <= 3600.0)) {
        fprintf(stderr, "run: a time limit is 1 to 3600 seconds, not '%s'\n", text);
        return -1;
    }
    *out = v;
    return 0;
}

/* The CPUs this process may run on (taskset, a cgroup's cpuset), not the
 * machine's: until stop 42 the machine's, and a run pinned to one CPU
 * judged the scaling targets as if it had two. */
static long usable_cores(void)
{
    cpu_set_t usable;
    long cores = sched_getaffinity(0, sizeof usable, &usable) == 0
                     ? (long)CPU_COUNT(&usable)
                     : sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores;
}

int main(int argc, char **argv)
{
    const char *env;
    const char *reference = DEFAULT_REFERENCE;
    int repeat_given = 0;
    double start = now_s();

    run.repeat = DEFAULT_REPEAT;
    run.limit_s = DEFAULT_LIMIT_S;
    env = getenv("BENCH_QUICK");
    run.quick = env != NULL && *env != '\0' && strcmp(env, "0") != 0;
    if ((env = getenv("BENCH_REPEAT")) != NULL && *env != '\0') {
        if (parse_repeat(env, &run.repeat) != 0) {
            return EXIT_USAGE;
        }
        repeat_given = 1;
    }
    if ((env = getenv("BENCH_LIMIT")) != NULL && *env != '\0' && parse_limit(env, &run.limit_s) != 0) {
        return EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bindir") == 0 && i + 1 < argc) {
            run.bindir = argv[++i];
        } else if (strcmp(argv[i], "--preload") == 0 && i + 1 < argc) {
            run.preload = argv[++i];
        } else if (strcmp(argv[i], "--reference") == 0 && i + 1 < argc) {
            reference = argv[++i];
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            if (parse_repeat(argv[++i], &run.repeat) != 0) {
                return EXIT_USAGE;
            }
            repeat_given = 1;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (parse_limit(argv[++i], &run.limit_s) != 0) {
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--quick") == 0) {
            run.quick = 1;
        } else if (strcmp(argv[i], "--threads-only") == 0) {
            run.threads_only = 1;
        } else {
            return usage();
        }
    }
    if (run.bindir == NULL) {
        return usage();
    }
    if (run.quick && !repeat_given) {
        run.repeat = 1;
    }
    run.scale = run.quick ? QUICK_SCALE : 100u;
    run.cores = usable_cores();

    static const char *const binaries[V_COUNT] = {"workloads",        "workloads_floor",
                                                  "workloads_asan",   "workloads_arheap",
                                                  "workloads_arheap", "",
                                                  ""};
    for (int v = 0; v < V_COUNT; v++) {
        if (binaries[v][0] == '\0') {
            continue;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/%s", run.bindir, binaries[v]);
        if (executable(path)) {
            snprintf(run.bin[v], sizeof run.bin[v], "%s", path);
        } else if (v == V_ASAN) {
            note("asan: no %s (the compiler can not build with -fsanitize=address?): '-'", path);
        } else {
            fprintf(stderr, "run: no %s; build it first (make bench)\n", path);
            return EXIT_FAILED;
        }
    }
    if (run.preload != NULL) {
        char *abs = realpath(run.preload, NULL);
        if (abs == NULL) {
            note("preload: no library at %s: '-'", run.preload);
            run.preload = NULL;
        } else {
            run.preload = abs; /* programs run in another directory */
        }
    } else {
        note("preload: no library given (a release build has none): '-'");
    }

    sigemptyset(&run.chld);
    sigaddset(&run.chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &run.chld, NULL);
    if (strcmp(reference, "none") != 0) {
        reference_probe(reference);
    }

    const char *tmp = getenv("TMPDIR");
    snprintf(run.workdir, sizeof run.workdir, "%s/arheap-bench.XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(run.workdir) == NULL) {
        fprintf(stderr, "run: mkdtemp %s: %s\n", run.workdir, strerror(errno));
        return EXIT_FAILED;
    }

    load_average(run.load_start, sizeof run.load_start);

    char model[128];
    printf("arheap benchmark (bench/run): %u run%s of each variant, alternating, medians; "
           "%s; %ld cores (%s); time limit %.0f s a run\n",
           run.repeat, run.repeat == 1 ? "" : "s",
           run.quick ? "QUICK mode (a tenth of the work: a smoke test, not figures)"
                     : "full workloads",
           run.cores, cpu_model(model, sizeof model), run.limit_s);
    printf("  glibc    %s\n", run.bin[V_GLIBC]);
    printf("  floor    %s (glibc + fill, poison, poison check)\n", run.bin[V_FLOOR]);
    printf("  asan     %s ASAN_OPTIONS=%s\n", run.bin[V_ASAN][0] ? run.bin[V_ASAN] : "-",
           ASAN_OPTIONS_USED);
    printf("  tracking %s AR_HEAP_OPTIONS=%s\n", run.bin[V_TRACKING], TRACKING_OPTIONS);
    printf("  defaults %s AR_HEAP_OPTIONS=%s\n", run.bin[V_DEFAULTS], DEFAULTS_OPTIONS);
    printf("  preload  %s under LD_PRELOAD=%s\n", run.bin[V_GLIBC],
           run.preload != NULL ? run.preload : "-");
    printf("  reference %s under LD_PRELOAD=%s (threads rows)\n\n", run.bin[V_GLIBC],
           run.reference != NULL ? run.reference : "-");
    fflush(stdout);

    static const char *const workloads[] = {"small", "strdup", "realloc", "large"};
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0] && !run.threads_only; i++) {
        run_row(add_row(ROW_WORKLOAD, workloads[i], 1));
    }
    unsigned max_t = run.quick ? 2u : 8u;
    if (!run.quick && run.cores > 8) {
        max_t = (unsigned)(run.cores > 1024 ? 1024 : run.cores);
    }
    for (unsigned t = 1; t <= max_t; t = t * 2u > max_t && t < max_t ? max_t : t * 2u) {
        struct row *r = add_row(ROW_THREADS, "threads", t);
        snprintf(r->name, sizeof r->name, "threads T=%u", t);
        run_row(r);
    }
    if (!run.threads_only)
        add_programs();
    for (unsigned i = 0; i < run.rows; i++) {
        if (run.row[i].kind == ROW_PROGRAM && run.row[i].present) {
            run_row(&run.row[i]);
        }
    }
    remove_workdir();

    if (!run.threads_only)
        print_workload_table();
    print_threads_table();
    if (!run.threads_only)
        print_programs_table();
    print_rss_table();
    print_targets();

    unsigned failed = 0;
    for (unsigned i = 0; i < run.rows; i++) {
        for (int v = 0; v < V_COUNT; v++) {
            failed += run.row[i].cell[v].state == CELL_FAILED;
        }
    }
    printf("Notes:\n");
    printf("- ratios are a variant's median time per operation over glibc's in the same row "
           "(the same operations in every complete run); *: the run reached the %.0f s limit, "
           "its timed part stopped there and the figure is its rate over the operations it "
           "did (one run, not repeated in that row); >limit or >Nx: a program killed at the "
           "limit\n",
           run.limit_s);
    printf("- load average (1, 5, 15 min) at the start: %s; at the end: %s\n", run.load_start,
           load_average(run.load_end, sizeof run.load_end));
    print_noise();
    printf("- peak RSS targets: defaults' and preload's ru_maxrss at most glibc's x %.2f "
           "+ %.0f MiB\n",
           TARGET_RSS_FACTOR, QUARANTINE_MIB);
    for (unsigned i = 0; i < run.notes; i++) {
        printf("- %s\n", run.note[i]);
    }
    printf("\nbench/run: %.0f s in all\n", now_s() - start);
    return failed ? EXIT_FAILED : 0;
}
