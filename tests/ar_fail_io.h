/*
 * ar_fail_io.h: failing read() and close() on one file, for tests of the
 * library's I/O error paths (ar_fail_io.c says how).
 */
#ifndef AR_FAIL_IO_H
#define AR_FAIL_IO_H

#include <stddef.h>

/* Reads of the file at `path` return `bytes` bytes in all, then fail with
 * EIO. 0 when the file can not be found (nothing armed). */
int ar_fail_io__read_after(const char *path, size_t bytes);

/* A close of the file at `path` closes it, then fails with EIO. 0 when
 * the file can not be found (nothing armed). */
int ar_fail_io__close(const char *path);

#endif
