/*
 * os.c: the operating-system services the debug heap uses, in one place.
 *
 * Memory for blocks and for the checker's own tables comes from mmap,
 * never from malloc, so the checker does not depend on the heap it
 * watches. Writes go straight to write(2): error reports must work while
 * the heap is damaged.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

void *ar_heap_os__map(size_t size)
{
    void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addr == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    /* Large tables are read at random: huge pages spare the TLB. A hint;
     * failure changes nothing. */
    if (size >= ((size_t)2 << 20))
        (void)madvise(addr, size, MADV_HUGEPAGE);
#endif
    return addr;
}

void ar_heap_os__unmap(void *addr, size_t size)
{
    munmap(addr, size);
}

void *ar_heap_os__reserve(size_t size)
{
    void *addr = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return addr == MAP_FAILED ? NULL : addr;
}

/* Committed in address order, neighbouring commits merge into one kernel
 * mapping: the region costs a handful of mappings however many spans it
 * holds. Charged to the commit limit (no MAP_NORESERVE), so that memory
 * running out is an ENOMEM here rather than the OOM killer later. */
int ar_heap_os__commit(void *addr, size_t size)
{
    return mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                0) == addr;
}

void ar_heap_os__discard(void *addr, size_t size)
{
    (void)madvise(addr, size, MADV_DONTNEED);
}

/* A new PROT_NONE mapping in place: the pages are gone and any access
 * faults; the region's reservation stays whole. */
int ar_heap_os__close(void *addr, size_t size)
{
    return mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                -1, 0) == addr;
}

/* initial-exec: a plain load from the thread pointer, no __tls_get_addr
 * call on every allocation. */
AR_HEAP_TLS _Thread_local uint32_t ar_heap_os_thread_id;

uint32_t ar_heap_os__thread_id_slow(void)
{
    if (ar_heap_os_thread_id == 0) {
#if defined(__linux__) && defined(SYS_gettid)
        ar_heap_os_thread_id = (uint32_t)syscall(SYS_gettid);
#else
        static _Atomic uint32_t next = 1;
        ar_heap_os_thread_id = atomic_fetch_add(&next, 1);
#endif
    }
    return ar_heap_os_thread_id;
}

void ar_heap_os__forget_thread_id(void)
{
    ar_heap_os_thread_id = 0;
}

const char *ar_heap_os__error_text(int err)
{
    return err == ENOENT   ? ": no such file or directory"
           : err == EACCES ? ": permission denied"
           : err == EROFS  ? ": read-only file system"
           : err == EISDIR ? ": is a directory"
           : err == ENOSPC ? ": no space left on the device"
           : err == EIO    ? ": input/output error"
                           : "";
}

/*
 * Cancellation off, for arheap's own blocking calls: write, read, open,
 * waitpid and nanosleep are cancellation points, and a thread cancelled
 * inside one would unwind out of arheap with a lock held or its gate
 * counter busy, and every later whole-heap operation (statistics, a
 * check, fork, the exit report) would wait for it for ever. Until stop 41
 * a thread cancelled while a report was written hung the process so.
 * Returns the state to give back to ar_heap_os__cancel_back.
 */
int ar_heap_os__cancel_off(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    (void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

void ar_heap_os__cancel_back(int old)
{
    int ignored;
    (void)pthread_setcancelstate(old, &ignored);
}

int ar_heap_os__write_all(int fd, const char *buf, size_t len)
{
    int cancel = ar_heap_os__cancel_off();
    int result = 0;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            result = n < 0 ? errno : -1;
            break;
        }
        buf += n;
        len -= (size_t)n;
    }
    ar_heap_os__cancel_back(cancel);
    return result;
}

/*
 * The lines of /proc/self/maps, parsed, in address order, read with
 * open and read into the caller's buffers (chunk, and line for one line):
 * no allocation, no stdio, safe in a signal handler. A line longer than
 * `line` keeps its first bytes (its name cut).
 */
int ar_heap_os__each_mapping_in(char *chunk, size_t chunk_cap, char *line, size_t line_cap,
                                int (*fn)(const ar_heap_os_mapping_t *m, void *arg), void *arg)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    int result = 0;
    while (result == 0 && ((n = read(fd, chunk, chunk_cap)) > 0 || (n < 0 && errno == EINTR))) {
        for (ssize_t i = 0; i < n && result == 0; i++) {
            if (chunk[i] != '\n') {
                if (len < line_cap - 1)
                    line[len++] = chunk[i];
                continue;
            }
            line[len] = '\0';
            /* A file deleted since it was mapped (a program that
             * replaced or removed itself): the kernel adds " (deleted)"
             * to its path, which is not the path's (until stop 42 it was
             * printed as part of the module's name). */
            static const char deleted[] = " (deleted)";
            if (len >= sizeof deleted - 1 &&
                memcmp(line + len - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0)
                line[len - (sizeof deleted - 1)] = '\0';
            len = 0;
            ar_heap_os_mapping_t m;
            if (ar_heap_os__parse_mapping(line, &m))
                result = fn(&m, arg);
        }
    }
    close(fd);
    return result == 0 && n < 0 ? -1 : result; /* a read that failed: not the whole list */
}

/* The same with buffers on the stack (1.5 KiB; lines of up to 511 bytes). */
int ar_heap_os__each_mapping(int (*fn)(const ar_heap_os_mapping_t *m, void *arg), void *arg)
{
    char chunk[1024];
    char line[512];
    return ar_heap_os__each_mapping_in(chunk, sizeof chunk, line, sizeof line, fn, arg);
}

/* Hex digits at *p, *p moved past them. */
static uintptr_t ar_heap_os__hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* "start-end perms offset dev inode [name]": 0 when the line is not one.
 * The name runs to the line's end: its NUL, or in a text of many lines
 * its newline (the caller then reads the name no further). */
int ar_heap_os__parse_mapping(const char *line, ar_heap_os_mapping_t *m)
{
    const char *p = line;
    m->start = ar_heap_os__hex(&p);
    if (*p++ != '-')
        return 0;
    m->end = ar_heap_os__hex(&p);
    if (*p++ != ' ')
        return 0;
    for (int i = 0; i < 4; i++) {
        if (p[i] == '\0' || p[i] == '\n')
            return 0;
        m->perms[i] = p[i];
    }
    m->perms[4] = '\0';
    p += 4;
    while (*p == ' ')
        p++;
    m->offset = ar_heap_os__hex(&p);
    while (*p == ' ')
        p++;
    uintptr_t major = ar_heap_os__hex(&p); /* dev: "major:minor", hexadecimal */
    m->dev = major << 32;
    if (*p == ':') {
        p++;
        m->dev |= ar_heap_os__hex(&p);
    }
    while (*p != ' ' && *p != '\0' && *p != '\n')
        p++;
    while (*p == ' ')
        p++;
    m->inode = 0; /* decimal */
    for (; *p >= '0' && *p <= '9'; p++)
        m->inode = m->inode * 10 + (uintptr_t)(*p - '0');
    while (*p != ' ' && *p != '\0' && *p != '\n')
        p++;
    while (*p == ' ')
        p++;
    m->name = p;
    return 1;
}

/* The main thread's stack without stdio: the [stack] mapping the
 * caller's frame is in. Its end is the top (glibc's pthread_getattr_np
 * ends at the page above __libc_stack_end, below the arguments and the
 * environment; the walk reads no higher than the last frame, so either
 * bounds it). The bottom is glibc's: as far down as RLIMIT_STACK lets the
 * stack grow, not past the mapping below. */
struct ar_heap_os_stack_find {
    uintptr_t addr;     /* an address on the stack */
    uintptr_t below;    /* the end of the mapping before the one found */
    uintptr_t top;      /* the end of the stack's mapping; 0: not found */
};

static int ar_heap_os__find_stack(const ar_heap_os_mapping_t *m, void *arg)
{
    struct ar_heap_os_stack_find *f = arg;
    if (f->addr >= m->end) {
        f->below = m->end;
        return 0;
    }
    if (f->addr >= m->start && strcmp(m->name, "[stack]") == 0)
        f->top = m->end;
    return 1;
}

static int ar_heap_os__main_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    struct ar_heap_os_stack_find f = { (uintptr_t)__builtin_frame_address(0), 0, 0 };
    struct rlimit limit;
    if (ar_heap_os__each_mapping(ar_heap_os__find_stack, &f) != 1 || f.top == 0 ||
        getrlimit(RLIMIT_STACK, &limit) != 0)
        return 0;
    uintptr_t room = f.top - f.below;
    long page = sysconf(_SC_PAGESIZE);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t)room)
        room = (uintptr_t)limit.rlim_cur & ~(uintptr_t)(page > 0 ? page - 1 : 4095);
    *lo = f.top - room;
    *hi = f.top;
    return 1;
}

/*
 * A thread's stack from pthread_getattr_np, cheap for the threads glibc
 * made, which may allocate (the preload library serves such calls from
 * its bootstrap arena). For the main thread glibc reads /proc/self/maps
 * with stdio and sscanf: that put about 260 KiB of the C library's pages
 * and its heap into a program that never used them (peak RSS of one
 * tracked allocation, medians of 25 runs: 1736 KiB before, 1476 after;
 * doc/arheap.md, "Call stacks"). So the thread whose id is the process's
 * reads the maps itself: the main thread, or a fork's child from another
 * thread, which finds its stack is not [stack] and asks glibc.
 */
int ar_heap_os__stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
#if defined(__linux__)
    if ((uint32_t)getpid() == ar_heap_os__thread_id() && ar_heap_os__main_stack_bounds(lo, hi))
        return 1;
#endif
#if defined(__GLIBC__)
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return 0;
    void *addr = NULL;
    size_t size = 0;
    int ok = pthread_attr_getstack(&attr, &addr, &size) == 0 && addr != NULL;
    pthread_attr_destroy(&attr);
    if (!ok)
        return 0;
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
    return 1;
#else
    (void)lo;
    (void)hi;
    return 0;
#endif
}

/*
 * Read-only segments of the modules loaded at start (the program and its
 * libraries), where string literals live: a description there can not
 * change, so the depot's thread caches need not compare its text
 * (depot.c). Modules loaded later are not noted; their descriptions are
 * compared, which is correct, only slower. Noted once, at initialisation;
 * read without a lock afterwards.
 */
#define AR_HEAP_OS_READONLY_MAX 128

static struct {
    size_t count;
    uintptr_t start[AR_HEAP_OS_READONLY_MAX];
    uintptr_t end[AR_HEAP_OS_READONLY_MAX];
} readonly;

static int ar_heap_os__note_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) || readonly.count == AR_HEAP_OS_READONLY_MAX)
            continue;
        readonly.start[readonly.count] = info->dlpi_addr + ph->p_vaddr;
        readonly.end[readonly.count] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        readonly.count++;
    }
    return 0;
}

void ar_heap_os__note_readonly(void)
{
    if (readonly.count == 0)
        (void)dl_iterate_phdr(ar_heap_os__note_module, NULL);
}

int ar_heap_os__is_readonly(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < readonly.count; i++)
        if (a >= readonly.start[i] && a < readonly.end[i])
            return 1;
    return 0;
}

/*
 * A set-user-ID or set-group-ID program (AT_SECURE: the kernel says the
 * process runs with privileges its caller does not have). Its caller
 * chooses the environment and the working directory, so nothing of the
 * environment is read (AR_HEAP_OPTIONS could name any file as the report
 * file, and it would be created or truncated with the program's
 * privileges), no report file is written (a report file name in a
 * directory the caller chose could be a link to any file), and no
 * symbolizer is run (found on the caller's PATH). Until stop 41 all three
 * were done.
 */
int ar_heap_os__secure(void)
{
    static _Atomic int secure = -1;
    int known = atomic_load_explicit(&secure, memory_order_relaxed);
    if (known < 0) {
        known = getauxval(AT_SECURE) != 0;
        atomic_store_explicit(&secure, known, memory_order_relaxed);
    }
    return known;
}

/* getenv, but nothing in a set-user-ID or set-group-ID program. */
const char *ar_heap_os__getenv(const char *name)
{
    return ar_heap_os__secure() ? NULL : getenv(name);
}

/* The entries of directory `path` whose names are numbers (the
 * descriptors of /proc/self/fd, the threads of /proc/self/task), read
 * with getdents64 into buf (cap bytes, the caller's: no allocation, safe
 * where malloc is not): fn(number, name, its digits, arg) for each, until
 * it returns non-zero. Returns -1 when the directory can not be opened,
 * else 0. */
int ar_heap_os__each_number(const char *path, char *buf, size_t cap,
                            int (*fn)(long number, const char *name, size_t digits, void *arg),
                            void *arg)
{
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    int stop = 0;
    long got;
    while (!stop && (got = syscall(SYS_getdents64, dir, buf, cap)) > 0) {
        for (long at = 0; at < got && !stop;) {
            const struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (const void *)(buf + at);
            at += d->reclen;
            const char *c = d->name;
            if (*c < '0' || *c > '9')
                continue;
            long number = 0;
            for (; *c >= '0' && *c <= '9'; c++)
                number = number * 10 + (*c - '0');
            stop = fn(number, d->name, (size_t)(c - d->name), arg);
        }
    }
    close(dir);
    return 0;
}

static int ar_heap_os__mark_cloexec(long fd, const char *name, size_t digits, void *arg)
{
    (void)name;
    (void)digits;
    if (fd >= *(const int *)arg)
        (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* the directory's own: closes anyway */
    return 0;
}

/* Mark every descriptor from `low` on close-on-exec, so that a program
 * run next gets none of them: close_range (Linux 5.11), else each one
 * /proc/self/fd names. Returns 0 when neither could be done. */
int ar_heap_os__cloexec_from(int low)
{
#if defined(SYS_close_range)
    if (syscall(SYS_close_range, (unsigned)low, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) == 0)
        return 1;
#endif
    char buf[2048];
    return ar_heap_os__each_number("/proc/self/fd", buf, sizeof buf, ar_heap_os__mark_cloexec,
                                   &low) == 0;
}
