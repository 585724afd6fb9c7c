/*
 * os.c: the operating-system services the debug heap uses, in one place.
 *
 * Pages for the checker's own tables come from mmap, never from malloc, so
 * the checker does not depend on the heap it watches. Writes go straight
 * to write(2): error reports must work while the heap is damaged.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <errno.h>
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
    /* Large tables (bucket arrays, record chunks of a big heap) are read at
     * random: huge pages spare the TLB. A hint; failure changes nothing. */
    if (size >= ((size_t)2 << 20))
        (void)madvise(addr, size, MADV_HUGEPAGE);
#endif
    return addr;
}

void ar_heap_os__unmap(void *addr, size_t size)
{
    munmap(addr, size);
}

/* initial-exec: a plain load from the thread pointer, no __tls_get_addr
 * call on every allocation. */
#if defined(__GNUC__)
__attribute__((tls_model("initial-exec")))
#endif
static _Thread_local uint32_t ar_heap_os_thread_id;

uint32_t ar_heap_os__thread_id(void)
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
