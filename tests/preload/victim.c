/*
 * victim.c: an ordinary program that knows nothing of arheap, for the
 * preload suite (check_preload.c) to run under LD_PRELOAD. It is built
 * without arheap's headers or library: every allocation it makes is a
 * plain malloc-family call, as in any unmodified program.
 *
 *     victim SCENARIO [ARG]
 *     victim library-destructor MODULE
 *
 * Each scenario prints what it did on stdout ("[...]" lines) so the suite
 * can tell how far it got; the bugs are deliberate.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

/* The compiler must not see through these pointers: it would drop or
 * warn about the out-of-bounds accesses made on purpose. */
static char *volatile escape;

static char *opaque(void *p)
{
    escape = p;
    return escape;
}

/* The last pointer given to opaque(), as the compiler can not know it:
 * for uses after free that it would otherwise warn about. */
static char *stale(void)
{
    return escape;
}

static void say(const char *text)
{
    fputs(text, stdout);
    fflush(stdout);
}

/* ------------------------------------------------------------ deliberate bugs */

/* Touch byte `offset` of a `size`-byte block, reading or writing, before
 * or after freeing it. "[survived]" says the touch went unnoticed (for
 * now: without guard pages a bad write is found at the free or at exit). */
static int touch(size_t size, long offset, int write, int after_free)
{
    char *p = opaque(malloc(size));
    say("[allocated]\n");
    if (after_free) {
        free(p);
        say("[freed]\n");
        p = stale();
    }
    if (write) {
        /* 0: no canary byte is ever 0, so the write always changes one
         * (a byte such as 'x' equals the canary there one run in 255). */
        p[offset] = 0;
    } else {
        volatile char c = p[offset];
        (void)c;
    }
    say("[survived]\n");
    if (!after_free)
        free(p);
    return 0;
}

static int overrun_write(void) { return touch(13, 13, 1, 0); }
static int overrun_read(void) { return touch(13, 13, 0, 0); }
static int underrun_write(void) { return touch(24, -1, 1, 0); }
static int underrun_read(void) { return touch(24, -1, 0, 0); }
static int after_free_read(void) { return touch(40, 8, 0, 1); }
static int after_free_write(void) { return touch(40, 8, 1, 1); }

/* strdup is the preload library's own: the block is "strdup", its site
 * this call. */
static int strdup_overflow(void)
{
    char *s = opaque(strdup("hello"));
    s[6] = 0; /* one past the terminating NUL; never a canary byte's value */
    say("[written]\n");
    free(s);
    say("[survived]\n");
    return 0;
}

/* wcsdup is glibc's, which allocates through the replaced malloc. */
static int wcsdup_overflow(void)
{
    char *s = opaque(wcsdup(L"hello"));
    s[6 * sizeof(wchar_t)] = 0; /* one past the terminating L'\0' */
    say("[written]\n");
    free(s);
    say("[survived]\n");
    return 0;
}

/* strdup(NULL): glibc's faults in strlen; the preload library reports. */
static int strdup_null(void)
{
    char *s = strdup(opaque(NULL));
    printf("[null=%d errno=%s]\n", s == NULL, errno == EINVAL ? "EINVAL" : "other");
    fflush(stdout);
    return 0;
}

/* Three of the victim's own frames between main and malloc, for the
 * frame-pointer walk (the victim is built with frame pointers). */
__attribute__((noinline)) static char *nested_inner(size_t size)
{
    char *p = malloc(size);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
    return p;
}

__attribute__((noinline)) static char *nested_middle(size_t size)
{
    char *p = nested_inner(size);
    __asm__ volatile("" ::: "memory");
    return p;
}

static int nested_overflow(void)
{
    char *p = opaque(nested_middle(13));
    p[13] = 0;
    free(p);
    say("[survived]\n");
    return 0;
}

/* malloc called with the frame pointer register holding `fake`, as code
 * built without frame pointers may leave it (a counter, a pointer, any
 * value): the stack walk must stop, not fault. x86-64 only. */
#if defined(__x86_64__)
__attribute__((noinline)) static void *malloc_with_frame_pointer(uintptr_t fake)
{
    void *p;
    __asm__ volatile("mov %%rsp, %%rbx\n\t"
                     "mov %%rbp, %%r12\n\t"
                     "sub $128, %%rsp\n\t" /* past the red zone */
                     "and $-16, %%rsp\n\t"
                     "mov %[fake], %%rbp\n\t"
                     "mov $100, %%edi\n\t"
                     "call malloc@PLT\n\t"
                     "mov %%r12, %%rbp\n\t"
                     "mov %%rbx, %%rsp\n\t"
                     : "=a"(p)
                     : [fake] "r"(fake)
                     : "rbx", "r12", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
                       "memory", "cc");
    return p;
}
#endif

static int wild_frame_pointers(void)
{
#if defined(__x86_64__)
    char here;
    static char global;
    const uintptr_t fakes[] = {
        UINTPTR_MAX - 15,                /* wraps when 16 is added */
        (uintptr_t)&here - (64u << 20),  /* in the stack's reach, below what is mapped */
        (uintptr_t)&here - 4096 * 3 + 1, /* unaligned */
        (uintptr_t)&global,              /* not on the stack */
        0,
    };
    for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; i++)
        free(malloc_with_frame_pointer(fakes[i]));
#endif
    say("[frames ok]\n");
    return 0;
}

static int double_free(void)
{
    char *p = opaque(malloc(16));
    free(p);
    say("[freed once]\n");
    free(stale());
    say("[survived]\n");
    return 0;
}

static int invalid_free(void)
{
    char local[32];
    say("[freeing a stack address]\n");
    free(opaque(local + 8));
    say("[survived]\n");
    return 0;
}

static int usable_size_of_stack(void)
{
    char local[32];
    size_t n = malloc_usable_size(opaque(local));
    printf("[usable=%zu]\n", n);
    return 0;
}

static int usable_size_after_free(void)
{
    char *p = opaque(malloc(24));
    free(p);
    size_t n = malloc_usable_size(opaque(p));
    printf("[usable=%zu]\n", n);
    return 0;
}

/* Two bytes of a freed 116-byte block written, at offsets 0 and 100;
 * its slot then taken by a 64-byte-aligned block, whose head zone is
 * longer: both bytes are counted. */
static int write_after_free_aligned_reuse(void)
{
    char *p = opaque(malloc(116));
    free(p);
    p[0] = 0x11;
    p[100] = 0x22;
    free(opaque(malloc(8))); /* quarantine_bytes=1: p leaves the quarantine */
    void *q = NULL;
    if (posix_memalign(&q, 64, 50) != 0)
        return 1;
    free(q);
    say("[survived]\n");
    return 0;
}

static int leak(void)
{
    char *p = opaque(malloc(77));
    memset(p, 1, 77);
    escape = NULL; /* the last pointer gone: unreachable, a definite leak */
    p = NULL;
    say("[leaking 77 bytes]\n");
    return 0;
}

/* ------------------------------------------------------------ contracts */

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        printf("[FAILED %s]\n", what);
        failures++;
    }
}

static int aligned(const void *p, size_t align)
{
    return ((uintptr_t)p & (align - 1)) == 0;
}

/* Sizes the compiler must not see: it refuses absurd constant sizes. */
static volatile size_t half_of_everything = SIZE_MAX / 2;
static volatile size_t nearly_everything = SIZE_MAX - 4096;
/* Alignments the compiler must not see: clang refuses constant ones that
 * are not powers of two, which are what these calls are about. */
static volatile size_t align_3 = 3;
static volatile size_t align_24 = 24;

/* A block allocated before main, by a constructor (glibc passes it the
 * program's arguments): not for "atfork", whose fork handlers must be
 * registered before the process's first allocation. */
static char *early_block;

__attribute__((constructor)) static void allocate_early(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc >= 2 && strcmp(argv[1], "atfork") == 0)
        return;
    early_block = malloc(33);
}

/* Set by "alignment exact": blocks are placed byte-exactly (guard_align=1),
 * so plain malloc is not expected to keep max_align_t's alignment; the
 * aligned entry points still must keep theirs. */
static int byte_exact;

static int alignment(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t align = sizeof(void *); align <= 65536; align *= 2) {
        void *p = (void *)0x1;
        int rc = posix_memalign(&p, align, 100);
        expect(rc == 0 && p != NULL && aligned(p, align), "posix_memalign aligns");
        if (rc == 0) {
            memset(p, 0x5a, 100);
            expect(malloc_usable_size(p) == 100, "usable size of an aligned block");
            free(p);
        }
    }
    void *untouched = (void *)0x1234;
    expect(posix_memalign(&untouched, align_3, 10) == EINVAL && untouched == (void *)0x1234,
           "posix_memalign refuses alignment 3, leaving *memptr");
    expect(posix_memalign(&untouched, 0, 10) == EINVAL, "posix_memalign refuses alignment 0");
    expect(posix_memalign(&untouched, sizeof(void *) / 2, 10) == EINVAL,
           "posix_memalign refuses an alignment below sizeof(void *)");
    errno = 0;
    expect(posix_memalign(&untouched, 64, nearly_everything) == ENOMEM &&
               untouched == (void *)0x1234 && errno == 0,
           "posix_memalign: ENOMEM returned, errno and *memptr untouched");
    char *a = aligned_alloc(64, 100);
    expect(a != NULL && aligned(a, 64), "aligned_alloc(64)");
    free(a);
    errno = 0;
    expect(aligned_alloc(align_3, 10) == NULL && errno == EINVAL, "aligned_alloc refuses alignment 3");
    char *m = memalign(align_24, 10);
    expect(m != NULL && aligned(m, 32), "memalign rounds 24 up to 32");
    free(m);
    char *v = valloc(10);
    expect(v != NULL && aligned(v, page), "valloc is page-aligned");
    free(v);
    char *pv = pvalloc(1);
    expect(pv != NULL && aligned(pv, page) && malloc_usable_size(pv) == page,
           "pvalloc rounds up to a page");
    memset(pv, 1, page);
    free(pv);
    char *p13 = malloc(13);
    expect(p13 != NULL && (byte_exact || aligned(p13, _Alignof(max_align_t))),
           "malloc keeps max_align_t");
    expect(malloc_usable_size(p13) == 13, "malloc_usable_size is the size asked for");
    expect(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) is 0");
    free(p13);
    errno = 0;
    expect(calloc(half_of_everything, 3) == NULL && errno == ENOMEM, "calloc overflow: ENOMEM");
    errno = 0;
    expect(reallocarray(NULL, half_of_everything, 3) == NULL && errno == ENOMEM,
           "reallocarray overflow: ENOMEM");
    errno = 0;
    expect(malloc(nearly_everything) == NULL && errno == ENOMEM, "malloc(SIZE_MAX - 4096): ENOMEM");
    errno = 12345;
    char *keep = malloc(10);
    expect(keep != NULL && errno == 12345, "a successful malloc leaves errno alone");
    errno = 23456;
    free(keep);
    expect(errno == 23456, "a free leaves errno alone");
    int *z = calloc(100, sizeof *z);
    int zero = 1;
    for (int i = 0; i < 100; i++)
        zero &= z[i] == 0;
    expect(z != NULL && zero, "calloc zeroes");
    free(z);
    char *r = realloc(NULL, 5);
    memcpy(r, "abcd", 5);
    r = realloc(r, 5000);
    expect(r != NULL && strcmp(r, "abcd") == 0, "realloc keeps the bytes");
    expect(realloc(r, 0) == NULL, "realloc(p, 0) frees and returns NULL");
    /* glibc's own allocating functions come through the replaced malloc:
     * the usable size is exactly what they asked for. */
    char *d = strdup("abc");
    expect(malloc_usable_size(d) == 4, "strdup's block is tracked");
    free(d);
    char *nd = strndup("abcdef", 2);
    expect(malloc_usable_size(nd) == 3 && strcmp(nd, "ab") == 0, "strndup's block is tracked");
    free(nd);
    char *as = NULL;
    expect(asprintf(&as, "%d", 12345) == 5 && malloc_usable_size(as) >= 6,
           "asprintf's block is tracked");
    free(as);
    expect(early_block != NULL && malloc_usable_size(early_block) == 33,
           "a constructor's block is tracked");
    free(early_block);
    printf("[alignment %s]\n", failures == 0 ? "ok" : "FAILED");
    return failures != 0;
}

/* ------------------------------------------------------------ threads, fork, dlsym */

enum { THREADS = 4, PER_THREAD = 20000 };

static void *handoff[THREADS];

static void *worker(void *arg)
{
    size_t id = (size_t)arg;
    unsigned seed = (unsigned)id * 7919u + 1;
    char *mine[64] = { 0 };
    for (int i = 0; i < PER_THREAD; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t slot = (seed >> 8) % 64;
        free(mine[slot]);
        mine[slot] = malloc((seed >> 16) % 300 + 1);
        mine[slot][0] = (char)i;
    }
    for (int i = 0; i < 64; i++)
        free(mine[i]);
    handoff[id] = malloc(100); /* freed by the main thread */
    return NULL;
}

static int run_threads(void)
{
    pthread_t t[THREADS];
    for (size_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 2;
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < THREADS; i++)
        free(handoff[i]);
    return 0;
}

static int threads(void)
{
    int rc = run_threads();
    printf("[threads %s]\n", rc == 0 ? "ok" : "FAILED");
    return rc;
}

static _Atomic int stop_workers;

static void *busy(void *arg)
{
    (void)arg;
    while (!stop_workers) {
        char *p = malloc(64);
        char *s = strdup("busy");
        free(p);
        free(s);
    }
    return NULL;
}

/* Forks made by the fork scenario: 20, or the scenario's argument (guard
 * mode makes every busy allocation two system calls, and a fork copies
 * their work: fewer forks there keep the case within its time). */
static int fork_rounds = 20;

static int fork_while_allocating(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, busy, NULL);
    int ok = 1;
    for (int round = 0; round < fork_rounds; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* The child: one thread, a consistent heap. */
            char *p = malloc(100);
            char *s = strdup("child");
            free(p);
            free(s);
            _exit(run_threads());
        }
        int status = 0;
        waitpid(pid, &status, 0);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    stop_workers = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("[fork %s]\n", ok ? "ok" : "FAILED");
    return !ok;
}

/* Fork handlers registered before the program's first allocation (the
 * checker registers its own at that allocation, so they run after its
 * prepare handler and before its parent and child handlers), each of
 * which allocates; a thread forks that has not used the heap either. */
static volatile int atfork_prepared, atfork_in_parent;

static void atfork_prepare(void)
{
    char *p = malloc(32);
    atfork_prepared = p != NULL;
    free(p);
}

static void atfork_parent(void)
{
    char *p = strdup("parent");
    atfork_in_parent = p != NULL;
    free(p);
}

static void atfork_child(void)
{
    char *p = malloc(64);
    if (p == NULL)
        _exit(4);
    free(p);
}

static void *fork_from_thread(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);
    return (void *)(intptr_t)(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int fork_handlers_allocating(void)
{
    if (pthread_atfork(atfork_prepare, atfork_parent, atfork_child) != 0)
        return 1;
    char *block = malloc(16);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int status = 0;
    waitpid(pid, &status, 0);
    int ok = block != NULL && atfork_prepared && atfork_in_parent && WIFEXITED(status) &&
             WEXITSTATUS(status) == 0;
    free(block);
    pthread_t thread;
    void *forked = NULL;
    ok &= pthread_create(&thread, NULL, fork_from_thread, NULL) == 0 &&
          pthread_join(thread, &forked) == 0 && forked != NULL;
    printf("[atfork %s]\n", ok ? "ok" : "FAILED");
    return !ok;
}

/* Threads whose last free comes after their key destructors: glibc frees
 * strerror's buffer for an unknown number in its thread cleanup. Each
 * such thread took a heap state no destructor gave back (28 KiB and what
 * it held: 2000 threads grew the peak RSS by 80 MiB). */
static void *unknown_error(void *arg)
{
    volatile const char *text = strerror(9999 + (int)(intptr_t)arg);
    (void)text;
    return NULL;
}

static long resident_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int late_frees(void)
{
    long before = 0;
    for (int i = 0; i < 2000; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, unknown_error, (void *)(intptr_t)i) != 0 ||
            pthread_join(thread, NULL) != 0)
            return 1;
        if (i == 199)
            before = resident_kib();
    }
    long grown = resident_kib() - before;
    printf("[late frees: %ld KiB more after 1800 threads]\n", grown);
    printf("[late frees %s]\n", before > 0 && grown < 8192 ? "ok" : "FAILED");
    return !(before > 0 && grown < 8192);
}

/* A signal handler that frees (not async-signal-safe, but done), sent
 * again and again while the thread mallocs and frees: a free that
 * interrupts one is deferred to the end of the interrupted call. Until
 * stop 41 it ran on the interrupted call's half-updated state. */
enum { HANDLER_POOL = 20000 };
static void *handler_pool[HANDLER_POOL];
static volatile sig_atomic_t handler_next;
static volatile int handler_done;
static pthread_t handler_target;

static void freeing_handler(int sig)
{
    (void)sig;
    if (handler_next < HANDLER_POOL)
        free(handler_pool[handler_next++]);
}

static void *handler_signaller(void *arg)
{
    (void)arg;
    while (!handler_done) {
        pthread_kill(handler_target, SIGUSR1);
        struct timespec pause = { 0, 20000 };
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static int handler_frees(void)
{
    alarm(30); /* a hang ends the run */
    for (int i = 0; i < HANDLER_POOL; i++)
        handler_pool[i] = malloc(24 + (size_t)(i % 100));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = freeing_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    handler_target = pthread_self();
    pthread_t signaller;
    if (pthread_create(&signaller, NULL, handler_signaller, NULL) != 0)
        return 1;
    for (long i = 0; i < 20000000 && handler_next < HANDLER_POOL; i++) {
        char *p = malloc(16 + (size_t)(i % 300));
        memset(p, 2, 16);
        free(opaque(p));
    }
    handler_done = 1;
    pthread_join(signaller, NULL);
    signal(SIGUSR1, SIG_IGN);
    int freed = (int)handler_next;
    while (handler_next < HANDLER_POOL)
        free(handler_pool[handler_next++]);
    printf("[handler frees ok: %s]\n", freed > 1000 ? "many" : "few");
    return 0;
}

/* Under an address-space limit of 900 MB (`ulimit -v 900000`), set here
 * before this program runs itself again: the heap takes a part of it,
 * and the program's own allocations and mappings come. Until stop 41 the
 * heap wanted 1 GiB at least, and every malloc failed. */
static int small_address_space(const char *self, int child)
{
    if (!child) {
        struct rlimit limit = { 900000 * 1024UL, 900000 * 1024UL };
        if (setrlimit(RLIMIT_AS, &limit) != 0)
            return 1;
        execl(self, self, "small-address-space", "child", (char *)NULL);
        return 1;
    }
    int ok_first = 1;
    /* The heap's first call tries reservations from the largest down,
     * which the limit refuses: a successful malloc still leaves errno
     * alone (until stop 43 it left ENOMEM). */
    errno = 12345;
    char *small = malloc(100);
    if (errno != 12345) {
        printf("[the first malloc changed errno to %d]\n", errno);
        ok_first = 0;
    }
    char *large = malloc((size_t)64 << 20);
    void *own = mmap(NULL, (size_t)100 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = ok_first && small != NULL && large != NULL && own != MAP_FAILED;
    if (ok) {
        memset(small, 1, 100);
        large[((size_t)64 << 20) - 1] = 1;
        munmap(own, (size_t)100 << 20);
    }
    free(small);
    free(large);
    /* Huge blocks each larger than the last, and one grown by realloc, 1
     * MiB a step: the region (a quarter of the limit) takes them all,
     * the sum of their sizes many times over, and small blocks after.
     * Until stop 42 a released huge span served only a block of half
     * its units to all of them: the growth failed at 17 MiB here. */
    for (size_t mib = 2; ok && mib <= 40; mib++) {
        char *p = malloc(mib << 20);
        if (p == NULL) {
            printf("[larger and larger: failed at %zu MiB]\n", mib);
            ok = 0;
        }
        free(p);
    }
    char *buf = NULL;
    for (size_t mib = 2; ok && mib <= 24; mib++) {
        char *next = realloc(buf, mib << 20);
        if (next == NULL) {
            printf("[realloc growth: failed at %zu MiB]\n", mib);
            ok = 0;
            break;
        }
        buf = next;
        buf[(mib << 20) - 1] = 1;
    }
    free(buf);
    /* A block the quarantine holds is in the way of a larger one: it
     * goes back before the allocation fails (until stop 42 it failed). */
    if (ok) {
        char *held = malloc((size_t)60 << 20);
        if (held != NULL)
            held[0] = 1;
        free(held);
        char *larger = malloc((size_t)100 << 20);
        if (larger == NULL) {
            printf("[past a held block: failed]\n");
            ok = 0;
        }
        free(larger);
    }
    /* The largest huge block the region has room for, freed and pushed
     * out of the quarantine: small blocks of a class with no span yet
     * take its units (until stop 42 they failed). */
    if (ok) {
        char *most = NULL;
        for (size_t mib = 256; most == NULL && mib > 2; mib--)
            most = malloc(mib << 20);
        free(most);
        free(malloc(16)); /* the next free: `most` leaves the quarantine */
    }
    for (int i = 0; ok && i < 64; i++) {
        char *p = malloc(100000);
        if (p == NULL) {
            printf("[small blocks after: failed at %d]\n", i);
            ok = 0;
        }
        free(p);
    }
    /* One block grown by realloc 64 KiB a step to 8 MiB, through every
     * size class of 64 KiB to 1 MiB: each new class's span is capped to a
     * 64th of the region. Until stop 43 a span held 16 slots whatever the
     * region's size (16 MiB near the 1 MiB class), spans keep their
     * address space, and the growth failed below 1 MiB here with nothing
     * else live. */
    char *grown = NULL;
    for (size_t kib = 64; ok && kib <= 8192; kib += 64) {
        char *next = realloc(grown, kib << 10);
        if (next == NULL) {
            printf("[realloc growth by 64 KiB: failed at %zu KiB]\n", kib);
            ok = 0;
            break;
        }
        grown = next;
        grown[(kib << 10) - 1] = 1;
    }
    free(grown);
    printf("[small address space: %s]\n", ok ? "ok" : "FAILED");
    return !ok;
}

static int dynamic_loading(void)
{
    void *libm = dlopen("libm.so.6", RTLD_NOW);
    if (libm == NULL) {
        printf("[dlopen failed: %s]\n", dlerror());
        return 1;
    }
    double (*cosine)(double) = (double (*)(double))dlsym(libm, "cos");
    void *missing = dlsym(libm, "no_such_symbol_anywhere");
    const char *error = dlerror(); /* glibc allocates the message */
    int ok = cosine != NULL && cosine(0.0) == 1.0 && missing == NULL && error != NULL;
    dlclose(libm);
    printf("[dlsym %s]\n", ok ? "ok" : "FAILED");
    return !ok;
}

/* ------------------------------------------------------------ exit order */

/* glibc's registration of an exit handler for an object; with a null
 * handle the handler belongs to no object. */
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso_handle);

/* Said with write(2): stdio would allocate stdout's buffer, which libc
 * never frees, and the exit-order tests count every block left. */
static void say_raw(const char *text)
{
    ssize_t n = write(STDOUT_FILENO, text, strlen(text));
    (void)n;
}

static char *kept[6];

static void free_some_at_exit(void)
{
    free(kept[4]);
    free(kept[1]);
}

static void free_more_at_exit(void)
{
    free(kept[0]);
    free(kept[5]);
}

/* "free-after-exit-check": a 47-byte block freed by an exit handler that
 * the program's destructor registers, which glibc runs after every
 * destructor, and so after the preload library's exit check. */
static char *freed_last;

static void free_after_the_check(void *unused)
{
    (void)unused;
    free(freed_last);
    say_raw("[freed after the check]\n");
}

__attribute__((destructor)) static void free_rest_in_destructor(void)
{
    if (kept[2] != NULL) {
        free(kept[3]);
        free(kept[2]);
    }
    if (freed_last != NULL)
        __cxa_atexit(free_after_the_check, NULL, NULL);
}

/* Six blocks: four freed by atexit handlers, two by the destructor. The
 * constructor's 33-byte block (early_block) is never freed. */
static int exit_order(void)
{
    for (int i = 0; i < 6; i++)
        kept[i] = malloc((size_t)(i + 1) * 10);
    atexit(free_some_at_exit);
    atexit(free_more_at_exit);
    say_raw("[exiting]\n");
    return 0;
}

static int free_after_exit_check(void)
{
    freed_last = malloc(47);
    say_raw("[exiting]\n");
    return 0;
}

/* "library-destructor MODULE": a library loaded at run time whose
 * destructor frees the block its constructor allocated (exit_module.c).
 * It is never closed: its destructor runs at exit, after the preload
 * library's. */
static int library_destructor(const char *path)
{
    void *module = dlopen(path, RTLD_NOW);
    if (module == NULL) {
        printf("[dlopen failed: %s]\n", dlerror());
        return 1;
    }
    void *(*block)(void) = (void *(*)(void))dlsym(module, "exit_module_block");
    void *b = block != NULL ? block() : NULL;
    printf("[module block: %zu bytes]\n", b != NULL ? malloc_usable_size(b) : 0);
    fflush(stdout);
    return b == NULL;
}

/* ------------------------------------------------------------ injected failures */

/* "fail-nth": twenty mallocs in a row, for the options fail_*. Says which
 * returned NULL (1-based) and with which errno, or that none did, and
 * where the malloc call is. Said with write(2) and snprintf, which do not
 * allocate: stdio would, and shift the count. */
static int fail_nth(void)
{
    char line[96];
    void *blocks[20];
    int failed = 0;
    for (int i = 0; i < 20; i++) {
        errno = 0;
        int at = __LINE__ + 1;
        blocks[i] = malloc(16);
        if (i == 0) {
            snprintf(line, sizeof line, "[the malloc is at victim.c:%d]\n", at);
            say_raw(line);
        }
        if (blocks[i] == NULL) {
            snprintf(line, sizeof line, "[malloc %d of 20: NULL, errno %s]\n", i + 1,
                     errno == ENOMEM ? "ENOMEM" : "not ENOMEM");
            say_raw(line);
            failed++;
        }
    }
    for (int i = 0; i < 20; i++)
        free(blocks[i]);
    if (failed == 0)
        say_raw("[no malloc failed]\n");
    return 0;
}

/* ------------------------------------------------------------ signals */

/* A signal handler that sets errno and allocates, run again and again
 * while the program's own malloc and free run: each of those must leave
 * the program's errno as it was, wherever the signal lands in them. */
static pthread_t signal_target;
static volatile sig_atomic_t signal_stop;
static volatile long signals_taken;
static long signal_rounds = 1000000;

static void errno_handler(int sig)
{
    (void)sig;
    int outer_errno = errno;
    errno = 77;
    void *volatile block = malloc(8); /* not opaque(): the program's own pointer */
    free(block);
    signals_taken++;
    errno = outer_errno;
}

static void *signal_sender(void *arg)
{
    (void)arg;
    while (!signal_stop)
        pthread_kill(signal_target, SIGUSR1);
    return NULL;
}

static int signal_errno(void)
{
    long rounds = signal_rounds;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = errno_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGUSR1, &action, NULL) != 0)
        return 1;
    signal_target = pthread_self();
    free(malloc(1)); /* the thread's state made before the signals */
    pthread_t sender;
    if (pthread_create(&sender, NULL, signal_sender, NULL) != 0)
        return 1;
    long changed_by_malloc = 0, changed_by_free = 0;
    /* The rounds asked for, and then on until the sender has landed 1 000
     * signals, for at most 30 s: on a machine whose cores are busy with
     * other work the sender may not run for a while (13 signals in 400 000
     * rounds while a CI ran beside it), and a run with few signals tests
     * nothing. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < rounds || signals_taken < 1000; i++) {
        if (i >= rounds && (i & 4095) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec > 30)
                break;
        }
        errno = 5;
        char *p = opaque(malloc(32));
        changed_by_malloc += *(int volatile *)&errno != 5;
        errno = 5;
        free(p);
        changed_by_free += *(int volatile *)&errno != 5;
    }
    signal_stop = 1;
    pthread_join(sender, NULL);
    char line[128];
    if (changed_by_malloc + changed_by_free != 0)
        snprintf(line, sizeof line, "[errno changed: by %ld mallocs, %ld frees]\n",
                 changed_by_malloc, changed_by_free);
    else if (signals_taken < 100)
        snprintf(line, sizeof line, "[only %ld signals]\n", (long)signals_taken);
    else
        snprintf(line, sizeof line, "[errno kept through the signals]\n");
    say(line);
    return 0;
}

/* ------------------------------------------------------------ stress */

/* Random malloc/calloc/realloc/free with `live` blocks held, each filled
 * with a pattern of its own and checked before it is resized or freed. */
static int stress(long live, long operations)
{
    char **blocks = calloc((size_t)live, sizeof *blocks);
    size_t *sizes = calloc((size_t)live, sizeof *sizes);
    unsigned long seed = 12345;
    long bad = 0;
    for (long op = 0; op < operations; op++) {
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        size_t i = (size_t)((seed >> 33) % (unsigned long)live);
        size_t size = (size_t)((seed >> 13) % 2000);
        char *b = blocks[i];
        for (size_t k = 0; b != NULL && k < sizes[i]; k++)
            bad += b[k] != (char)(i + k);
        switch ((seed >> 60) & 3) {
        case 0:
            free(b);
            blocks[i] = malloc(size);
            break;
        case 1:
            free(b);
            blocks[i] = calloc(1, size);
            break;
        case 2:
            blocks[i] = realloc(b, size);
            if (size == 0 && blocks[i] == NULL) {
                sizes[i] = 0;
                continue;
            }
            break;
        default:
            free(b);
            blocks[i] = NULL;
            sizes[i] = 0;
            continue;
        }
        if (blocks[i] == NULL && size != 0) {
            printf("[out of memory at %ld]\n", op);
            return 1;
        }
        sizes[i] = size;
        for (size_t k = 0; k < size; k++)
            blocks[i][k] = (char)(i + k);
    }
    for (long i = 0; i < live; i++)
        free(blocks[i]);
    free(blocks);
    free(sizes);
    printf("[stress %s: %ld operations, %ld live, %ld bad bytes]\n", bad == 0 ? "ok" : "FAILED",
           operations, live, bad);
    return bad != 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        { "overrun-write", overrun_write },     { "overrun-read", overrun_read },
        { "underrun-write", underrun_write },   { "underrun-read", underrun_read },
        { "after-free-read", after_free_read }, { "after-free-write", after_free_write },
        { "strdup-overflow", strdup_overflow }, { "double-free", double_free },
        { "wcsdup-overflow", wcsdup_overflow }, { "strdup-null", strdup_null },
        { "invalid-free", invalid_free },       { "usable-size-of-stack", usable_size_of_stack },
        { "usable-size-after-free", usable_size_after_free },
        { "write-after-free-aligned-reuse", write_after_free_aligned_reuse },
        { "leak", leak },                       { "alignment", alignment },
        { "threads", threads },                 { "fork", fork_while_allocating },
        { "dlsym", dynamic_loading },           { "exit-order", exit_order },
        { "free-after-exit-check", free_after_exit_check },
        { "fail-nth", fail_nth },               { "nested-overflow", nested_overflow },
        { "atfork", fork_handlers_allocating }, { "late-frees", late_frees },
        { "handler-frees", handler_frees },
        { "wild-frame-pointers", wild_frame_pointers }, { "signal-errno", signal_errno },
    };
    byte_exact = argc > 2 && strcmp(argv[2], "exact") == 0;
    if (argc > 2 && strcmp(argv[1], "signal-errno") == 0 && atol(argv[2]) > 0)
        signal_rounds = atol(argv[2]);
    if (argc > 2 && strcmp(argv[1], "fork") == 0 && atoi(argv[2]) > 0)
        fork_rounds = atoi(argv[2]);
    if (argc == 3 && strcmp(argv[1], "library-destructor") == 0)
        return library_destructor(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "small-address-space") == 0)
        return small_address_space(argv[0], argc > 2);
    if (argc >= 2 && strcmp(argv[1], "stress") == 0)
        return stress(argc > 2 ? atol(argv[2]) : 5000, argc > 3 ? atol(argv[3]) : 200000);
    for (size_t i = 0; argc >= 2 && i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            return scenarios[i].run();
    fprintf(stderr, "usage: victim SCENARIO (see victim.c)\n");
    return 2;
}
