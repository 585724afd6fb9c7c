/*
 * reach.c: which live blocks the program can still reach, for the leak
 * report (leaks.c), as LeakSanitizer and Memcheck classify them.
 *
 * Mark: every aligned word of the roots that points into a live block
 * (interior pointers count: anywhere in [user, user + size), or the user
 * address of a 0-byte block) marks that block reachable, and the marked
 * blocks' own words are scanned in turn. The roots:
 *   - the writable PT_LOAD segments of every loaded module (.data, .bss),
 *     except libarheap's own (its tables would make every block
 *     reachable);
 *   - every thread's stack, from its stack pointer to the top of the
 *     stack's mapping, with its registers: the calling thread spills
 *     them into its frame (__builtin_unwind_init); the other threads are
 *     stopped by a real-time signal whose handler stays parked until the
 *     scan is done, and its frame (the kernel's signal frame, with the
 *     saved registers, sits above it) is where the scan of that stack
 *     starts. glibc puts a non-main thread's static TLS and thread
 *     control block at the top of its stack mapping, so that is scanned
 *     with the stack;
 *   - each thread's static TLS and TCB around the address of a
 *     thread-local of this file (the main thread's are in a mapping of
 *     their own): the modules' static TLS sizes plus 2 KiB below it, 4 KiB
 *     above (the TCB), within its mapping;
 *   - blocks that are not leaks whatever points at them, given by the
 *     caller: intentional leaks, and the dynamic loader's own blocks
 *     (ar_heap_reach__by_loader).
 * Every range is clipped to the mappings /proc/self/maps lists as
 * readable, read with read(2) into mapped memory, so that an unmapped or
 * inaccessible root is skipped, never read. arheap's own metadata lives
 * in mappings that are no module's segment and no stack, so it is never a
 * root.
 *
 * Classify: unreached blocks pointed to by no other unreached block are
 * "definitely lost"; the unreached blocks reached from one of them are
 * "indirectly lost", owned by it. A cycle of unreached blocks that nothing
 * else points to gets its earliest block as its definite one.
 *
 * Nothing here allocates from the checked heap; the scratch is mapped.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/futex.h>

/* Threads whose registers and stacks one scan records. */
#define AR_HEAP_REACH_THREADS 1024
/* How long to wait for a signalled thread to park, in milliseconds. */
#define AR_HEAP_REACH_WAIT_MS 2000
/* Around a thread-local's address: the static TLS below it (the loaded
 * modules' PT_TLS segments, summed as the modules are visited, plus
 * this much for glibc's surplus and alignment) and the TCB above it. A
 * wider range takes in what else shares the main thread's TLS mapping
 * (the loader's early allocations), whose stale words hid real leaks. */
#define AR_HEAP_REACH_TLS_SLACK ((uintptr_t)2 << 10)
#define AR_HEAP_REACH_TLS_ABOVE ((uintptr_t)4 << 10)

typedef struct ar_heap_reach_range_s {
    uintptr_t lo, hi;
} ar_heap_reach_range_t;

typedef struct ar_heap_reach_thread_s {
    uintptr_t sp;  /* the handler's frame: the signal frame lies above */
    uintptr_t tls; /* a thread-local's address in that thread */
    uint32_t tid;  /* the thread's id: the threads that did not park are those with none */
    mcontext_t regs;
} ar_heap_reach_thread_t;

/* The stop of the other threads: written by the handler, read by the
 * scanning thread. Static, so that a late handler never touches memory
 * that is gone; part of libarheap's own data, which is never a root. */
static struct {
    _Atomic int release;
    _Atomic int next;
    _Atomic int arrived;
    _Atomic int left;
    ar_heap_reach_thread_t threads[AR_HEAP_REACH_THREADS];
} reach_stop;

static _Thread_local char reach_tls_mark;

/* One scan's state. */
typedef struct ar_heap_reach_scan_s {
    ar_heap_reach_block_t *blocks;
    size_t n;
    uint32_t *order; /* block indexes by user address */
    uint32_t *stack; /* marked, not yet scanned */
    size_t depth;
    uintptr_t lo, hi; /* of all blocks */
    ar_heap_reach_range_t *maps; /* readable mappings, ascending */
    size_t map_count;
    size_t maps_bytes;
    uint8_t state; /* what a mark sets */
    uint32_t owner;
    uintptr_t tls_static; /* bytes of static TLS, summed over the modules */
    uint32_t self_tid;    /* the scanning thread */
    int signalled;        /* other threads sent the signal */
    int parked;           /* of them, those whose parked frames the scan reads */
    int skipped;          /* other threads not sent it: they would keep it */
} ar_heap_reach_scan_t;

/* ------------------------------------------------------------ mappings */

/* Read /proc/self/maps whole into mapped memory; the readable ranges go
 * to scan->maps (mapped too). Returns 0 when it can not be read. */
static int ar_heap_reach__read_maps(ar_heap_reach_scan_t *scan, char **text, size_t *text_size)
{
    /* 64 KiB first (a few hundred mappings), four times more each time
     * it is short: until stop 43 1 MiB first, which a tight address-space
     * limit refused, and the scan did not run. */
    size_t cap = (size_t)64 << 10;
    for (;;) {
        char *buf = ar_heap_os__map(cap);
        if (buf == NULL)
            return 0;
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ar_heap_os__unmap(buf, cap);
            return 0;
        }
        size_t used = 0;
        for (;;) {
            ssize_t got = read(fd, buf + used, cap - 1 - used);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;
            used += (size_t)got;
            if (used == cap - 1)
                break;
        }
        close(fd);
        if (used < cap - 1) {
            buf[used] = '\0';
            *text = buf;
            *text_size = cap;
            break;
        }
        ar_heap_os__unmap(buf, cap);
        cap *= 4;
    }
    size_t lines = 1;
    for (const char *p = *text; *p != '\0'; p++)
        lines += *p == '\n';
    scan->maps_bytes = lines * sizeof *scan->maps;
    scan->maps = ar_heap_os__map(scan->maps_bytes);
    if (scan->maps == NULL)
        return 0;
    for (const char *p = *text; *p != '\0';) {
        ar_heap_os_mapping_t m;
        if (ar_heap_os__parse_mapping(p, &m) && m.perms[0] == 'r' && m.end > m.start) {
            scan->maps[scan->map_count].lo = m.start;
            scan->maps[scan->map_count].hi = m.end;
            scan->map_count++;
        }
        while (*p != '\0' && *p != '\n')
            p++;
        if (*p == '\n')
            p++;
    }
    return 1;
}

/* The first readable mapping that ends above addr (it holds addr, or is
 * the next one after it), as an index; map_count when there is none. */
static size_t ar_heap_reach__map_index(const ar_heap_reach_scan_t *scan, uintptr_t addr)
{
    size_t lo = 0, hi = scan->map_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (scan->maps[mid].hi <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The readable mapping holding addr, or NULL. */
static const ar_heap_reach_range_t *ar_heap_reach__map_of(const ar_heap_reach_scan_t *scan,
                                                          uintptr_t addr)
{
    size_t i = ar_heap_reach__map_index(scan, addr);
    if (i < scan->map_count && scan->maps[i].lo <= addr)
        return &scan->maps[i];
    return NULL;
}

/* ------------------------------------------------------------ marking */

/* The block holding addr, or -1. */
static long ar_heap_reach__block_of(const ar_heap_reach_scan_t *scan, uintptr_t addr)
{
    if (addr < scan->lo || addr >= scan->hi)
        return -1;
    size_t lo = 0, hi = scan->n;
    while (lo < hi) { /* the first block whose user address is above addr */
        size_t mid = lo + (hi - lo) / 2;
        if (scan->blocks[scan->order[mid]].user <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    uint32_t i = scan->order[lo - 1];
    const ar_heap_reach_block_t *b = &scan->blocks[i];
    if (addr - b->user < b->size || addr == b->user)
        return (long)i;
    return -1;
}

/* Scan the words of [lo, hi), which must be readable. The reads are the
 * scan's, not the program's: in a build of the library under
 * AddressSanitizer (make check-sanitize) a word of a global or a stack may
 * lie in one of its redzones, so this function is not instrumented. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize_address)
#define AR_HEAP_REACH_UNCHECKED __attribute__((no_sanitize_address))
#endif
#endif
#ifndef AR_HEAP_REACH_UNCHECKED
#define AR_HEAP_REACH_UNCHECKED
#endif
AR_HEAP_REACH_UNCHECKED static void ar_heap_reach__words(ar_heap_reach_scan_t *scan, uintptr_t lo,
                                                         uintptr_t hi)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (uintptr_t at = lo; at + sizeof(uintptr_t) <= hi; at += sizeof(uintptr_t)) {
        uintptr_t v = *(const volatile uintptr_t *)at;
        if (v < scan->lo || v >= scan->hi)
            continue;
        long i = ar_heap_reach__block_of(scan, v);
        if (i < 0)
            continue;
        ar_heap_reach_block_t *b = &scan->blocks[i];
        if (scan->state == AR_HEAP_REACH_REACHABLE) {
            if (b->kind == AR_HEAP_REACH_REACHABLE)
                continue;
            b->kind = AR_HEAP_REACH_REACHABLE;
        } else {
            /* From an unreached block: claim unreached, unowned ones. */
            if (b->kind != AR_HEAP_REACH_DEFINITE || b->owner != UINT32_MAX ||
                (uint32_t)i == scan->owner)
                continue;
            b->kind = AR_HEAP_REACH_INDIRECT;
            b->owner = scan->owner;
        }
        scan->stack[scan->depth++] = (uint32_t)i;
    }
}

/* Scan [lo, hi) where it is mapped readable. */
static void ar_heap_reach__root(ar_heap_reach_scan_t *scan, uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        size_t i = ar_heap_reach__map_index(scan, lo);
        if (i == scan->map_count)
            return;
        const ar_heap_reach_range_t *m = &scan->maps[i];
        if (m->lo > lo) {
            lo = m->lo; /* skip the gap to the next readable mapping */
            continue;
        }
        uintptr_t end = m->hi < hi ? m->hi : hi;
        ar_heap_reach__words(scan, lo, end);
        lo = end;
    }
}

/* Scan the marked blocks until none is left. */
static void ar_heap_reach__drain(ar_heap_reach_scan_t *scan)
{
    while (scan->depth > 0) {
        const ar_heap_reach_block_t *b = &scan->blocks[scan->stack[--scan->depth]];
        ar_heap_reach__words(scan, b->user, b->user + b->size);
    }
}

/* A stack from sp to the top of its mapping. */
static void ar_heap_reach__stack(ar_heap_reach_scan_t *scan, uintptr_t sp)
{
    const ar_heap_reach_range_t *m = ar_heap_reach__map_of(scan, sp);
    if (m != NULL)
        ar_heap_reach__root(scan, sp, m->hi);
}

/* The whole stack of a thread that did not park (its signals blocked, or
 * slower than the wait): from the low end of its mapping up, the words
 * below its stack pointer included, since where that is is not known;
 * its registers are not seen. Until stop 41 such a stack was not scanned
 * at all, and a block held only in one of its locals was reported
 * definitely lost. */
static void ar_heap_reach__whole_stack(ar_heap_thread_t *t, void *arg)
{
    ar_heap_reach_scan_t *scan = arg;
    if (!t->attached || t->tid == scan->self_tid || t->stack_hi <= t->stack_lo ||
        t->stack_lo == UINTPTR_MAX)
        return;
    for (int i = 0; i < scan->parked; i++)
        if (reach_stop.threads[i].tid == t->tid)
            return; /* scanned from its parked frame */
    const ar_heap_reach_range_t *m = ar_heap_reach__map_of(scan, t->stack_hi - 1);
    if (m != NULL)
        ar_heap_reach__root(scan, t->stack_lo > m->lo ? t->stack_lo : m->lo, m->hi);
}

/* The static TLS and TCB around a thread-local's address. */
static void ar_heap_reach__tls(ar_heap_reach_scan_t *scan, uintptr_t tls, uintptr_t sp)
{
    const ar_heap_reach_range_t *m = ar_heap_reach__map_of(scan, tls);
    if (m == NULL || m == ar_heap_reach__map_of(scan, sp))
        return; /* at the top of the stack's mapping: scanned with it */
    uintptr_t below = scan->tls_static + AR_HEAP_REACH_TLS_SLACK;
    uintptr_t lo = tls > below ? tls - below : 0;
    uintptr_t hi = tls + AR_HEAP_REACH_TLS_ABOVE;
    ar_heap_reach__root(scan, lo < m->lo ? m->lo : lo, hi > m->hi ? m->hi : hi);
}

/* ------------------------------------------------------------ modules */

static int ar_heap_reach__module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    ar_heap_reach_scan_t *scan = arg;
    uintptr_t self = (uintptr_t)&reach_stop;
    int own = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_TLS)
            scan->tls_static += ph->p_memsz + ph->p_align;
        if (ph->p_type == PT_LOAD && self - lo < ph->p_memsz)
            own = 1;
    }
    /* libarheap's own data: its tables. Linked statically into the
     * program, its data is the program's, and is scanned (see the
     * manual). */
    if (own && info->dlpi_name != NULL && strstr(info->dlpi_name, "libarheap") != NULL)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        ar_heap_reach__root(scan, lo, lo + ph->p_memsz);
    }
    return 0;
}

/* ------------------------------------------------------------ the loader's blocks */

/* The dynamic loader's own blocks (link maps, a thread's DTV, dlopen'd
 * modules' TLS blocks) are the runtime's bookkeeping, not the program's:
 * glibc keeps an ended thread's DTV in the TCB of its cached stack, which
 * is no root, and would show as lost. They are roots, as LeakSanitizer
 * treats the loader's allocations. The loader is the module mapped at
 * AT_BASE; its extent is found once. */
static struct {
    uintptr_t lo, hi;
    _Atomic int known;
} reach_loader;

static int ar_heap_reach__loader_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t base = *(const uintptr_t *)arg;
    if (info->dlpi_addr != base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (reach_loader.lo == 0 || lo < reach_loader.lo)
            reach_loader.lo = lo;
        if (lo + ph->p_memsz > reach_loader.hi)
            reach_loader.hi = lo + ph->p_memsz;
    }
    return 1;
}

int ar_heap_reach__by_loader(const void *pc)
{
    if (!atomic_load_explicit(&reach_loader.known, memory_order_acquire)) {
        uintptr_t base = (uintptr_t)getauxval(AT_BASE);
        if (base != 0)
            dl_iterate_phdr(ar_heap_reach__loader_module, &base);
        atomic_store_explicit(&reach_loader.known, 1, memory_order_release);
    }
    uintptr_t a = (uintptr_t)pc;
    return a != 0 && a >= reach_loader.lo && a < reach_loader.hi;
}

/* ------------------------------------------------------------ threads */

#define AR_HEAP_REACH_SIGNAL (SIGRTMAX - 2)

static void ar_heap_reach__park(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)info;
    int saved = errno;
    int i = atomic_fetch_add(&reach_stop.next, 1);
    if (i < AR_HEAP_REACH_THREADS) {
        ar_heap_reach_thread_t *t = &reach_stop.threads[i];
        t->sp = (uintptr_t)__builtin_frame_address(0);
        t->tls = (uintptr_t)&reach_tls_mark;
        t->tid = (uint32_t)syscall(SYS_gettid);
        memcpy(&t->regs, &((const ucontext_t *)context)->uc_mcontext, sizeof t->regs);
    }
    atomic_fetch_add(&reach_stop.arrived, 1);
    while (!atomic_load(&reach_stop.release))
        (void)syscall(SYS_futex, &reach_stop.release, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    atomic_fetch_add(&reach_stop.left, 1);
    errno = saved;
}

static uint64_t ar_heap_reach__ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ar_heap_reach__nap(void)
{
    struct timespec ts = { 0, 200000 };
    nanosleep(&ts, NULL);
}

/* Read /proc/self/task/TID/NAME (TID: `len` digits) into text, NUL
 * ended; 0 when it can not be read. */
static int ar_heap_reach__task_file(const char *tid, size_t len, const char *name, char *text,
                                    size_t cap)
{
    static const char dir[] = "/proc/self/task/";
    char path[sizeof dir + 24 + 16];
    size_t name_len = strlen(name);
    if (len > 24 || name_len > 14)
        return 0;
    memcpy(path, dir, sizeof dir - 1);
    memcpy(path + sizeof dir - 1, tid, len);
    path[sizeof dir - 1 + len] = '/';
    memcpy(path + sizeof dir + len, name, name_len + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t have = 0;
    for (;;) {
        ssize_t got = read(fd, text + have, cap - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || (have += (size_t)got) == cap - 1)
            break;
    }
    close(fd);
    text[have] = '\0';
    return have > 0;
}

/* A hexadecimal number at *at (after blanks and an optional 0x), moved
 * past; -1 digits when there is none or it is longer than 16. */
static int ar_heap_reach__hex(const char **at, uint64_t *value)
{
    const char *p = *at;
    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] == '0' && p[1] == 'x')
        p += 2;
    uint64_t v = 0;
    int digits = 0;
    for (;; p++, digits++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                                         : -1;
        if (d < 0)
            break;
        v = v << 4 | (uint64_t)d;
    }
    *at = p;
    *value = v;
    return digits > 0 && digits <= 16 ? digits : -1;
}

/* Whether the scan's signal is in a signal set of `bytes` bytes at
 * `set` in this process (read with a call that does not fault: the set
 * is another thread's, which may be gone). */
static int ar_heap_reach__set_has(uint64_t set, uint64_t bytes)
{
    uint64_t mask = 0;
    struct iovec local = { &mask, sizeof mask };
    struct iovec remote = { (void *)(uintptr_t)set, sizeof mask };
    if (bytes < sizeof mask ||
        process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof mask)
        return 0;
    return (mask >> (AR_HEAP_REACH_SIGNAL - 1) & 1) != 0;
}

/* Whether thread `tid` (its name in /proc/self/task, `len` digits) would
 * not take the scan's signal as the scan's: it has it blocked (its
 * status's SigBlk), or it waits for it in sigwaitinfo (its syscall file:
 * rt_sigtimedwait with a set that holds it; while there the kernel shows
 * the waited signals unblocked). 0 when neither can be read. Such a
 * thread is not signalled: blocked, it would not park, and the scan
 * would wait for it in vain; waiting, it would take the signal as the
 * program's. Until stop 42 both were signalled. */
static int ar_heap_reach__keeps_signal(const char *tid, size_t len)
{
    char text[4096];
    uint64_t value;
    if (ar_heap_reach__task_file(tid, len, "syscall", text, 256)) {
        const char *at = text;
        uint64_t nr, set, bytes;
        /* "NR ARG1 ARG2 ARG3 ARG4 ..." in hexadecimal, NR in decimal. */
        long n = 0;
        for (; *at >= '0' && *at <= '9'; at++)
            n = n * 10 + (*at - '0');
        nr = (uint64_t)n;
        if (at != text && *at == ' ' && nr == (uint64_t)SYS_rt_sigtimedwait &&
            ar_heap_reach__hex(&at, &set) > 0 && ar_heap_reach__hex(&at, &value) > 0 &&
            ar_heap_reach__hex(&at, &value) > 0 && ar_heap_reach__hex(&at, &bytes) > 0 &&
            ar_heap_reach__set_has(set, bytes))
            return 1;
    }
    if (!ar_heap_reach__task_file(tid, len, "status", text, sizeof text))
        return 0;
    const char *at = strstr(text, "\nSigBlk:");
    if (at == NULL)
        return 0;
    at += sizeof "\nSigBlk:" - 1;
    return ar_heap_reach__hex(&at, &value) > 0 && (value >> (AR_HEAP_REACH_SIGNAL - 1) & 1) != 0;
}

/* Signal every other thread of the process but those that would keep
 * the signal (counted in *skipped); returns how many were. */
struct ar_heap_reach_signalling {
    pid_t pid, self;
    int sent, skipped;
};

static int ar_heap_reach__signal_one(long tid, const char *name, size_t digits, void *arg)
{
    struct ar_heap_reach_signalling *sig = arg;
    if ((pid_t)tid == sig->self)
        return 0;
    if (ar_heap_reach__keeps_signal(name, digits))
        sig->skipped++;
    else if (syscall(SYS_tgkill, sig->pid, (pid_t)tid, AR_HEAP_REACH_SIGNAL) == 0)
        sig->sent++;
    return 0;
}

static int ar_heap_reach__stop_others(char *buf, size_t cap, int *skipped)
{
    atomic_store(&reach_stop.release, 0);
    atomic_store(&reach_stop.next, 0);
    atomic_store(&reach_stop.arrived, 0);
    atomic_store(&reach_stop.left, 0);
    struct ar_heap_reach_signalling sig = { getpid(), (pid_t)syscall(SYS_gettid), 0, 0 };
    if (ar_heap_os__each_number("/proc/self/task", buf, cap, ar_heap_reach__signal_one, &sig) < 0)
        return 0;
    *skipped += sig.skipped;
    uint64_t until = ar_heap_reach__ms() + AR_HEAP_REACH_WAIT_MS;
    while (atomic_load(&reach_stop.arrived) < sig.sent && ar_heap_reach__ms() < until)
        ar_heap_reach__nap();
    return sig.sent;
}

static void ar_heap_reach__resume_others(void)
{
    atomic_store(&reach_stop.release, 1);
    (void)syscall(SYS_futex, &reach_stop.release, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
    int arrived = atomic_load(&reach_stop.arrived);
    uint64_t until = ar_heap_reach__ms() + AR_HEAP_REACH_WAIT_MS;
    while (atomic_load(&reach_stop.left) < arrived && ar_heap_reach__ms() < until)
        ar_heap_reach__nap();
}

/* ------------------------------------------------------------ the scan */

static void ar_heap_reach__sort(ar_heap_reach_scan_t *scan)
{
    /* Heap sort of order[] by user address. */
    uint32_t *o = scan->order;
    size_t n = scan->n;
    const ar_heap_reach_block_t *b = scan->blocks;
    for (size_t pass = 0; pass < 2; pass++) {
        size_t end = n;
        for (size_t k = pass == 0 ? n / 2 : n; pass == 0 ? k-- > 0 : k-- > 1;) {
            size_t root = pass == 0 ? k : 0;
            if (pass == 1) {
                uint32_t t = o[0];
                o[0] = o[k];
                o[k] = t;
                end = k;
            }
            for (;;) {
                size_t c = 2 * root + 1;
                if (c >= end)
                    break;
                if (c + 1 < end && b[o[c]].user < b[o[c + 1]].user)
                    c++;
                if (b[o[root]].user >= b[o[c]].user)
                    break;
                uint32_t t = o[root];
                o[root] = o[c];
                o[c] = t;
                root = c;
            }
        }
    }
}

/* Where the calling thread's stack scan starts (ar_heap_reach__origin):
 * written and read with the world stopped. */
static struct {
    uintptr_t frame;
    uintptr_t regs;
    size_t regs_size;
} reach_origin;

void ar_heap_reach__origin(const void *frame, const void *regs, size_t regs_size)
{
    reach_origin.frame = (uintptr_t)frame;
    reach_origin.regs = (uintptr_t)regs;
    reach_origin.regs_size = regs_size;
}

/* The scan proper, in a frame of its own, below the registers spilled by
 * the caller. */
__attribute__((noinline)) static void ar_heap_reach__mark(ar_heap_reach_scan_t *scan, int parked)
{
    /* Roots: the modules, this thread's stack and TLS, the parked
     * threads' stacks, registers and TLS, then the root blocks. */
    scan->state = AR_HEAP_REACH_REACHABLE;
    dl_iterate_phdr(ar_heap_reach__module, scan);
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (reach_origin.frame != 0 && reach_origin.frame > sp) {
        /* From the leak report's entry up: the frames below it are
         * arheap's own, whose dead slots still hold the user pointers of
         * the allocations made in that stretch of stack before. */
        sp = reach_origin.frame;
        ar_heap_reach__words(scan, reach_origin.regs,
                             reach_origin.regs + reach_origin.regs_size);
    }
    ar_heap_reach__stack(scan, sp);
    ar_heap_reach__tls(scan, (uintptr_t)&reach_tls_mark, sp);
    if (parked > AR_HEAP_REACH_THREADS)
        parked = AR_HEAP_REACH_THREADS;
    for (int i = 0; i < parked; i++) {
        const ar_heap_reach_thread_t *t = &reach_stop.threads[i];
        ar_heap_reach__words(scan, (uintptr_t)&t->regs, (uintptr_t)(&t->regs + 1));
        ar_heap_reach__stack(scan, t->sp);
        ar_heap_reach__tls(scan, t->tls, t->sp);
    }
    scan->parked = parked;
    if (scan->signalled > parked || scan->skipped > 0)
        ar_heap_thread__each(ar_heap_reach__whole_stack, scan);
    for (size_t i = 0; i < scan->n; i++) {
        ar_heap_reach_block_t *b = &scan->blocks[i];
        if (b->root && b->kind != AR_HEAP_REACH_REACHABLE) {
            b->kind = AR_HEAP_REACH_REACHABLE;
            scan->stack[scan->depth++] = (uint32_t)i;
        }
    }
    ar_heap_reach__drain(scan);
}

/* Unreached blocks: definite unless another unreached one points at
 * them; those reached from a definite one are its indirect ones. */
static void ar_heap_reach__classify(ar_heap_reach_scan_t *scan)
{
    /* Which unreached blocks another unreached block points at: mark
     * them INDIRECT with no owner yet, one level only. */
    for (size_t i = 0; i < scan->n; i++) {
        const ar_heap_reach_block_t *b = &scan->blocks[i];
        if (b->kind == AR_HEAP_REACH_REACHABLE)
            continue;
        uintptr_t lo = (b->user + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
        for (uintptr_t at = lo; at + sizeof(uintptr_t) <= b->user + b->size;
             at += sizeof(uintptr_t)) {
            long j = ar_heap_reach__block_of(scan, *(const volatile uintptr_t *)at);
            if (j >= 0 && (size_t)j != i && scan->blocks[j].kind == AR_HEAP_REACH_DEFINITE)
                scan->blocks[j].pointed = 1;
        }
    }
    /* Definite ones (in the caller's order: allocation order) claim what
     * they reach; then cycles nothing points into: their first block is
     * the definite one. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < scan->n; i++) {
            ar_heap_reach_block_t *b = &scan->blocks[i];
            if (b->kind != AR_HEAP_REACH_DEFINITE || b->owner != UINT32_MAX ||
                (round == 0 && b->pointed))
                continue;
            b->owner = (uint32_t)i;
            scan->state = AR_HEAP_REACH_INDIRECT;
            scan->owner = (uint32_t)i;
            scan->stack[scan->depth++] = (uint32_t)i;
            ar_heap_reach__drain(scan);
        }
    }
    for (size_t i = 0; i < scan->n; i++)
        if (scan->blocks[i].kind == AR_HEAP_REACH_DEFINITE)
            scan->blocks[i].owner = (uint32_t)i;
}

int ar_heap_reach__scan(ar_heap_reach_block_t *blocks, size_t n)
{
    ar_heap_reach_scan_t scan;
    memset(&scan, 0, sizeof scan);
    scan.blocks = blocks;
    scan.n = n;
    for (size_t i = 0; i < n; i++) {
        blocks[i].kind = AR_HEAP_REACH_DEFINITE;
        blocks[i].owner = UINT32_MAX;
        blocks[i].pointed = 0;
    }
    if (n == 0)
        return 1;
    size_t index_bytes = 2 * n * sizeof(uint32_t);
    scan.order = ar_heap_os__map(index_bytes);
    if (scan.order == NULL)
        return 0;
    scan.stack = scan.order + n;
    for (size_t i = 0; i < n; i++)
        scan.order[i] = (uint32_t)i;
    ar_heap_reach__sort(&scan);
    scan.lo = blocks[scan.order[0]].user;
    for (size_t i = 0; i < n; i++) {
        uintptr_t end = blocks[i].user + (blocks[i].size > 0 ? blocks[i].size : 1);
        if (end > scan.hi)
            scan.hi = end;
    }

    char *text = NULL;
    size_t text_size = 0;
    int ok = ar_heap_reach__read_maps(&scan, &text, &text_size);
    if (ok) {
        /* The maps text, parsed, serves as the directory buffer. */
        struct sigaction act, old;
        memset(&act, 0, sizeof act);
        act.sa_sigaction = ar_heap_reach__park;
        act.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&act.sa_mask);
        int handled = sigaction(AR_HEAP_REACH_SIGNAL, &act, &old) == 0;
        int parked = 0;
        scan.self_tid = (uint32_t)syscall(SYS_gettid);
        if (handled) {
            scan.signalled = ar_heap_reach__stop_others(text, text_size, &scan.skipped);
            parked = atomic_load(&reach_stop.arrived);
        }
        /* Uninitialised words of the stacks and blocks are read on
         * purpose: not Memcheck's business. */
        if (ar_heap_valgrind__running())
            ar_heap_valgrind__quiet(1);
        __builtin_unwind_init();
        ar_heap_reach__mark(&scan, parked);
        if (handled) {
            ar_heap_reach__resume_others();
            if (parked < scan.signalled) {
                /* A thread that did not park has the signal pending still
                 * (blocked, most likely): ignoring the signal discards it
                 * in every thread, before the program's own disposition
                 * comes back. Until stop 41 it stayed pending, and when
                 * that thread unblocked it, the default action killed the
                 * process. */
                struct sigaction ignore;
                memset(&ignore, 0, sizeof ignore);
                ignore.sa_handler = SIG_IGN;
                (void)sigaction(AR_HEAP_REACH_SIGNAL, &ignore, NULL);
            }
            (void)sigaction(AR_HEAP_REACH_SIGNAL, &old, NULL);
        }
        ar_heap_reach__classify(&scan);
        if (ar_heap_valgrind__running())
            ar_heap_valgrind__quiet(0);
    }
    if (text != NULL)
        ar_heap_os__unmap(text, text_size);
    if (scan.maps != NULL)
        ar_heap_os__unmap(scan.maps, scan.maps_bytes);
    ar_heap_os__unmap(scan.order, index_bytes);
    return ok;
}
