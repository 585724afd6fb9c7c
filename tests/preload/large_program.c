/*
 * large_program.c: a program of ten thousand functions, built with debug
 * information and without arheap, for check_symbols. Preloaded, its
 * double free is reported, and the report's frames are named by a child
 * process whose libdw needs more memory for this program's debug
 * information than the preload library's bootstrap arena holds (1 MiB,
 * where 3 000 one-line functions still fitted): the child must allocate
 * from a heap of its own (preload.c, "private heap"), not from the
 * arena, and not from the checked heap it was forked from, whose locks
 * may be held.
 *
 * Without optimisation (with gcc, the pragma: a target's flags come
 * before the builder's -O2) it compiles in seconds.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O0")
#endif
#include <stdlib.h>

#define ONE(n)                                                                                     \
    int large_f##n(int x);                                                                         \
    __attribute__((noinline)) int large_f##n(int x) { return x * (n + 1) + (n); }
#define TEN(m)                                                                                     \
    ONE(m##0) ONE(m##1) ONE(m##2) ONE(m##3) ONE(m##4) ONE(m##5) ONE(m##6) ONE(m##7) ONE(m##8)     \
    ONE(m##9)
#define HUNDRED(m)                                                                                 \
    TEN(m##0) TEN(m##1) TEN(m##2) TEN(m##3) TEN(m##4) TEN(m##5) TEN(m##6) TEN(m##7) TEN(m##8)     \
    TEN(m##9)
#define THOUSAND(m)                                                                                \
    HUNDRED(m##0) HUNDRED(m##1) HUNDRED(m##2) HUNDRED(m##3) HUNDRED(m##4) HUNDRED(m##5)           \
    HUNDRED(m##6) HUNDRED(m##7) HUNDRED(m##8) HUNDRED(m##9)
#define TEN_THOUSAND(m)                                                                            \
    THOUSAND(m##0) THOUSAND(m##1) THOUSAND(m##2) THOUSAND(m##3) THOUSAND(m##4) THOUSAND(m##5)     \
    THOUSAND(m##6) THOUSAND(m##7) THOUSAND(m##8) THOUSAND(m##9)

TEN_THOUSAND(1)

/* The block's address through a volatile: the compiler can not pair the
 * frees with the malloc and drop them. */
static void *volatile last;

__attribute__((noinline)) static void free_twice(void)
{
    last = malloc(16);
    free(last);
    free(last);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1000) /* never: the functions are the program's, called or not */
        return large_f10000(argc) + large_f19999(argc);
    free_twice();
    return 0;
}
