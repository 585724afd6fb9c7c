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
#include <link.h>
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

void ar_heap_os__write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* pthread_getattr_np may allocate (the main thread's bounds come from
 * /proc/self/maps): called once per thread, from inside the heap, where
 * the preload library serves such calls from its bootstrap arena. */
int ar_heap_os__stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
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
