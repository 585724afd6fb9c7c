/*
 * suid.c: a program that tests/secure.sh installs set-user-ID root and
 * runs as another user. It says whether the kernel runs it in secure
 * mode (AT_SECURE), then leaks one block, so that the exit report has
 * something to write.
 */
#include <stdio.h>
#include <sys/auxv.h>

#include "ar_heap.h"

int main(void)
{
    printf("[secure=%d]\n", getauxval(AT_SECURE) != 0);
    fflush(stdout);
    char *kept = AR__HEAP__MALLOC(40, "leaked by the set-user-ID program");
    kept[0] = 'k';
    return 0;
}
