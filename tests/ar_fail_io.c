/*
 * ar_fail_io.c: read() and close() that fail on purpose, for the error
 * paths a real disk seldom takes (a read that fails part way through a
 * file, a close that reports a write lost on the way: NFS, FUSE).
 *
 * How: a program linked with this file defines read and close itself, and
 * the dynamic linker binds the library's calls to the program's
 * definitions before libc's (the program comes first in the lookup
 * order). Each passes to the system call, except on the one file armed by
 * the test, named by its device and inode: the armed read returns at most
 * `bytes` bytes, then fails with EIO; the armed close closes the file,
 * then says EIO. Nothing else in the process sees a difference.
 */
#define _GNU_SOURCE
#include "ar_fail_io.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct {
    int read_armed, close_armed;
    dev_t dev;
    ino_t ino;
    size_t bytes_left; /* what the armed read still returns */
} fail_io;

static int ar_fail_io__arm(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    fail_io.dev = st.st_dev;
    fail_io.ino = st.st_ino;
    return 1;
}

int ar_fail_io__read_after(const char *path, size_t bytes)
{
    fail_io.bytes_left = bytes;
    fail_io.read_armed = ar_fail_io__arm(path);
    return fail_io.read_armed;
}

int ar_fail_io__close(const char *path)
{
    fail_io.close_armed = ar_fail_io__arm(path);
    return fail_io.close_armed;
}

/* Whether fd is the armed file. */
static int ar_fail_io__is_armed_file(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == fail_io.dev && st.st_ino == fail_io.ino;
}

ssize_t read(int fd, void *buf, size_t count)
{
    if (fail_io.read_armed && ar_fail_io__is_armed_file(fd)) {
        if (fail_io.bytes_left == 0) {
            errno = EIO;
            return -1;
        }
        if (count > fail_io.bytes_left)
            count = fail_io.bytes_left;
        long n = syscall(SYS_read, fd, buf, count);
        if (n > 0)
            fail_io.bytes_left -= (size_t)n;
        return (ssize_t)n;
    }
    return (ssize_t)syscall(SYS_read, fd, buf, count);
}

int close(int fd)
{
    int failing = fail_io.close_armed && ar_fail_io__is_armed_file(fd);
    long r = syscall(SYS_close, fd);
    if (failing && r == 0) {
        errno = EIO;
        return -1;
    }
    return (int)r;
}
