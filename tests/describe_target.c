/*
 * describe_target.c: a program for tests/describe_gdb.sh to stop in gdb
 * and call ar_heap__describe() on, while a second thread allocates and
 * frees.
 */
#include <pthread.h>
#include <stdio.h>

#include "ar_heap.h"

static volatile int churning = 1;
static int not_a_block;

static void *churn(void *arg)
{
    (void)arg;
    while (churning) {
        char *q = AR__HEAP__MALLOC(32, "churn");
        AR__HEAP__FREE(q);
    }
    return NULL;
}

/* The breakpoint: p is a live 13-byte block, f a freed one. */
void describe_target_stop(char *p, char *f, int *other);
__attribute__((noinline)) void describe_target_stop(char *p, char *f, int *other)
{
    __asm__ volatile("" : : "r"(p), "r"(f), "r"(other) : "memory");
}

int main(void)
{
    (void)ar_heap__set_options("leak_report=0");
    pthread_t thread;
    if (pthread_create(&thread, NULL, churn, NULL) != 0)
        return 2;
    char *p = AR__HEAP__MALLOC(13, "greeting");
    char *f = AR__HEAP__MALLOC(24, "session");
    AR__HEAP__FREE(f);
    describe_target_stop(p, f, &not_a_block);
    churning = 0;
    pthread_join(thread, NULL);
    AR__HEAP__FREE(p);
    puts("[done]");
    return 0;
}
