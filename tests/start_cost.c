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
 *
 * With AR_START_COST_ERRNO set it says whether the first allocation kept
 * errno.
 *
 * With AR_START_COST_FORK_FROM_THREAD set, a thread that never used the
 * heap forks, and the child (whose one thread it is: its id is the
 * process's, but its stack is not the [stack] mapping) makes the block
 * and describes it: the bounds then come from glibc, and the walk still
 * reaches the thread's start function.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void *fork_from_thread(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        void *block = first();
        ar_heap__describe(block);
        AR__HEAP__FREE(block);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return (void *)1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? NULL : (void *)1;
}

int main(void)
{
    if (getenv("AR_START_COST_FORK_FROM_THREAD") != NULL) {
        pthread_t thread;
        void *failed = (void *)1;
        if (pthread_create(&thread, NULL, fork_from_thread, NULL) != 0 ||
            pthread_join(thread, &failed) != 0)
            return 2;
        return failed == NULL ? 0 : 1;
    }
    /* AR_START_COST_ERRNO: the first call starts the checker, whose
     * mappings may be refused on the way (check_describe runs this under
     * an address-space limit): a successful allocation keeps errno. */
    int watch_errno = getenv("AR_START_COST_ERRNO") != NULL;
    errno = 12345;
    void *block = first();
    if (watch_errno) {
        if (errno == 12345)
            printf("[first allocation: errno kept]\n");
        else
            printf("[first allocation: errno %d]\n", errno);
    }
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
