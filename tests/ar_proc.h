/*
 * ar_proc.h: reading the kernel's view of the process, for the tests and
 * the benchmarks (tests/ar_test.h includes it; bench/guard_cost.c too).
 *
 * One copy of each reader, written with open/read only: no allocation,
 * so a reading does not change the heap it is measuring. src/guard.c has
 * its own count of mappings: the library can not call test code, and the
 * tests measure the library from outside.
 */
#ifndef AR_PROC_H
#define AR_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

/* Read a whole (small) file into buf, NUL-terminated; returns its length
 * (at most cap - 1 bytes are read) or -1. */
static inline long ar_proc__read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (long)len;
}

/* The process's kernel mappings now: lines of /proc/self/maps (read in
 * pieces, so any number of them); -1 if it can not be read. */
static inline long ar_proc__count_mappings(void)
{
    char buf[8192];
    long lines = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

#endif
