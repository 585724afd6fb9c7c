/*
 * start_cost.c: a program linked with libarheap whose one allocation is
 * three calls deep in main, for check_describe's test of what starting
 * the checker takes from the process. Built with frame pointers.
 *
 * It prints the bytes glibc's own heap holds after the checker started
 * (mallinfo2, before this program's first use of stdio): the checker
 * reads the main thread's stack bounds itself, so nothing should have
 * touched that heap (glibc's pthread_getattr_np reads /proc/self/maps
 * through stdio, which allocates its buffers there). Then the block's
 * description, whose allocation stack the frame walk took within those
 * bounds: each of the three functions and main is a frame.
 */
#include <malloc.h>
#include <stdio.h>

#include "ar_heap.h"

__attribute__((noinline)) static void *third(void)
{
    void *p = AR__HEAP__MALLOC(24, "three calls deep");
    __asm__ volatile("" ::: "memory"); /* not a tail call */
    return p;
}

__attribute__((noinline)) static void *second(void)
{
    void *p = third();
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) static void *first(void)
{
    void *p = second();
    __asm__ volatile("" ::: "memory");
    return p;
}

int main(void)
{
    void *block = first();
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 info = mallinfo2();
    printf("[glibc heap: %zu bytes]\n", info.arena + info.hblkhd);
#else
    puts("[glibc heap: not known here]");
#endif
    fflush(stdout);
    ar_heap__describe(block);
    AR__HEAP__FREE(block);
    return 0;
}
