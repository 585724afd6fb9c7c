/*
 * prog.c: frames printed as MODULE+OFFSET (symbolize=0) for
 * tests/module_offset.sh, which builds it position-independent and not,
 * and asks addr2line what each offset names.
 *
 *     prog fault    a guarded block overrun: the fault report's frames
 *                   (read from /proc/self/maps, as a signal handler may)
 *     prog free     a double free: the report's frames (dladdr)
 *     prog fault-unlinked
 *                   the fault, after the program removed its own file
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"

static char *volatile keep;

__attribute__((noinline)) static char *make_block(void)
{
    char *p = AR__HEAP__MALLOC(13, "block");
    keep = p;
    return keep;
}

__attribute__((noinline)) static void overflow_here(char *p)
{
    p[13] = 1;
    keep = NULL;
}

__attribute__((noinline)) static void free_twice(char *p)
{
    AR__HEAP__FREE(p);
    AR__HEAP__FREE(p);
    keep = NULL;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "fault-unlinked") == 0) {
        /* The program's file removed while it runs: /proc/self/maps says
         * "PATH (deleted)"; the report names PATH. */
        if (unlink(argv[0]) != 0)
            return 2;
        ar_heap__set_options("guard=1:guard_align=1:stack_depth=4:symbolize=0:leak_report=0");
        overflow_here(make_block());
    } else if (argc == 2 && strcmp(argv[1], "fault") == 0) {
        ar_heap__set_options("guard=1:guard_align=1:stack_depth=4:symbolize=0:leak_report=0");
        overflow_here(make_block());
    } else if (argc == 2 && strcmp(argv[1], "free") == 0) {
        ar_heap__set_options("stack_depth=4:symbolize=0:leak_report=0:on_error=exit");
        free_twice(make_block());
    } else {
        fprintf(stderr, "usage: prog fault|fault-unlinked|free\n");
        return 2;
    }
    return 0;
}
