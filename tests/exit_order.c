/*
 * exit_order.c: a program linked with libarheap that frees blocks in the
 * ways a program may before it ends, for check_report's exit-order test.
 * It is built twice: tests/exit_order against the shared library and
 * tests/exit_order_static against the static one, where the library's
 * destructor is one entry of the program's own list.
 *
 * One block is freed by an atexit handler registered before the heap's
 * first use (glibc runs it after every handler registered later), one by
 * an ELF destructor of the program; the 33-byte block is never freed. The
 * exit report must list that block alone.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ar_heap.h"

static void *by_handler;
static void *by_destructor;

static void free_in_handler(void)
{
    AR__HEAP__FREE(by_handler);
}

__attribute__((destructor)) static void free_in_destructor(void)
{
    AR__HEAP__FREE(by_destructor);
}

int main(void)
{
    if (atexit(free_in_handler) != 0)
        return 2;
    by_handler = AR__HEAP__MALLOC(11, "freed by an atexit handler registered first");
    by_destructor = AR__HEAP__MALLOC(22, "freed by a destructor");
    void *leaked = AR__HEAP__MALLOC(33, "never freed");
    (void)leaked;
    puts("[exiting]");
    return 0;
}
