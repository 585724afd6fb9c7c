/*
 * stack.c: call stacks at allocation and at free (option stack_depth).
 *
 * A file:line names the call of AR__HEAP__MALLOC; when the same helper
 * allocates for many callers, the stack says which caller it was. Frames
 * are captured with backtrace() into the block's record (at most
 * AR_HEAP_STACK_MAX each) and printed as
 *
 *     #1 0x55d0c2a1b2d0 in load_config (examples/leaky+0x12a4)
 *
 * "module+offset" is what addr2line wants: addr2line -e MODULE OFFSET.
 * The function name comes from dladdr() and is there only for exported
 * symbols (link with -rdynamic to get them all).
 *
 * backtrace() may load libgcc's unwinder, which allocates, on its first
 * call; ar_heap_stack__init makes that first call at initialisation, so
 * no later capture allocates.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <dlfcn.h>
#include <string.h>
#if defined(HAVE_EXECINFO_H) || defined(__GLIBC__)
#include <execinfo.h>
#define AR_HEAP_HAVE_BACKTRACE 1
#endif

void ar_heap_stack__init(void)
{
#ifdef AR_HEAP_HAVE_BACKTRACE
    void *frames[2];
    if (ar_heap_options.stack_depth > 0)
        (void)backtrace(frames, 2);
#endif
}

/* Frames of arheap's own to look through for the caller's frame. */
#define AR_HEAP_STACK_SKIP 8

/* The stack starts at the caller's frame, the one whose return address is
 * `pc` (taken by the public entry point with __builtin_return_address):
 * counting arheap's own frames would break with inlining and tail calls. */
void ar_heap_stack__backtrace(ar_heap_stack_t *stack, const void *pc)
{
    stack->depth = 0;
#ifdef AR_HEAP_HAVE_BACKTRACE
    size_t want = ar_heap_options.stack_depth;
    if (want > AR_HEAP_STACK_MAX)
        want = AR_HEAP_STACK_MAX;
    void *frames[AR_HEAP_STACK_MAX + AR_HEAP_STACK_SKIP];
    int got = backtrace(frames, (int)(want + AR_HEAP_STACK_SKIP));
    int start = 0;
    while (start < got && frames[start] != pc)
        start++;
    if (start == got)
        start = 0; /* not found: keep everything rather than nothing */
    for (int i = start; i < got && stack->depth < want; i++)
        stack->frames[stack->depth++] = frames[i];
#endif
}

void ar_heap_stack__print(ar_heap_out_t *out, void *const *frames, size_t depth)
{
    for (size_t i = 0; i < depth; i++) {
        uintptr_t pc = (uintptr_t)frames[i];
        ar_heap_out__str(out, "      #");
        ar_heap_out__dec(out, i);
        ar_heap_out__str(out, " ");
        ar_heap_out__hex(out, pc);
        Dl_info info;
        if (dladdr(frames[i], &info) != 0 && info.dli_fname != NULL) {
            if (info.dli_sname != NULL) {
                ar_heap_out__str(out, " in ");
                ar_heap_out__str(out, info.dli_sname);
            }
            ar_heap_out__str(out, " (");
            ar_heap_out__str(out, info.dli_fname);
            ar_heap_out__str(out, "+");
            /* Return addresses point after the call: step back one byte so
             * addr2line names the line of the call itself. */
            ar_heap_out__hex(out, pc - 1 - (uintptr_t)info.dli_fbase);
            ar_heap_out__str(out, ")");
        }
        ar_heap_out__str(out, "\n");
    }
}
