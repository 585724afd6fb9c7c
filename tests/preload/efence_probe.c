/*
 * efence_probe.c: what an Electric Fence user's program sees, built
 * without arheap and run by check_preload under the preload library (or
 * by hand under libefence.so or libduma.so, which it also passes).
 *
 * Each probe reads one byte and says whether that faulted: the program
 * catches SIGSEGV and SIGBUS itself and jumps back with siglongjmp, so one
 * process answers every probe. It installs its handler after its first
 * allocation, so that it replaces the one the checker installs there.
 *
 *   efence_probe env      probes of blocks placed as the environment says
 *   efence_probe globals  assigns EF_PROTECT_BELOW and EF_ALIGNMENT between
 *                         allocations, as Electric Fence's own test does
 *   efence_probe alternating  switches EF_PROTECT_BELOW at every page-sized
 *                         block: no block's pages touch another's
 *   efence_probe reuse    frees 300 blocks of 64 KiB, allocates 300 more and
 *                         counts the addresses given out again
 *   efence_probe zero     malloc(0)
 *   efence_probe fill     the first byte of a block nobody wrote
 *   efence_probe slack    a write one byte past a 13-byte block, then
 *                         another allocation, then the free
 *
 * Output: one line per probe, "[NAME: fault]" or "[NAME: no fault]", then
 * "[done]".
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Electric Fence's globals: weak, so that the program links alone; the
 * library preloaded defines them. */
extern int EF_PROTECT_BELOW __attribute__((weak));
extern int EF_ALIGNMENT __attribute__((weak));

static sigjmp_buf probe_jump;
static volatile sig_atomic_t probing;

static void on_fault(int sig)
{
    if (probing) {
        probing = 0;
        siglongjmp(probe_jump, 1);
    }
    signal(sig, SIG_DFL); /* a fault outside a probe: die by it */
}

static void catch_faults(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

/* Whether reading the byte at p faults. */
static int faults(const char *p)
{
    if (sigsetjmp(probe_jump, 1) != 0)
        return 1;
    probing = 1;
    char c = *(const volatile char *)p;
    probing = 0;
    (void)c;
    return 0;
}

/* Read the byte at p; print whether that faulted. */
static void probe(const char *name, const char *p)
{
    printf("[%s: %s]\n", name, faults(p) ? "fault" : "no fault");
    fflush(stdout);
}

static int env_probes(void)
{
    free(malloc(1));
    catch_faults();
    char *p = malloc(13);
    memset(p, 'x', 13);
    probe("first", p);
    probe("last", p + 12);
    probe("over 1", p + 13);
    probe("over 4", p + 16);
    probe("under 1", p - 1);
    free(p);
    probe("after free", p);
    return 0;
}

static int global_probes(void)
{
    if (&EF_PROTECT_BELOW == NULL || &EF_ALIGNMENT == NULL) {
        printf("[no EF_PROTECT_BELOW and EF_ALIGNMENT in the process]\n");
        return 77;
    }
    EF_PROTECT_BELOW = 0;
    EF_ALIGNMENT = 0;
    char *above = malloc(13);
    catch_faults();
    probe("above last", above + 12);
    probe("above over 1", above + 13);

    EF_PROTECT_BELOW = 1;
    char *below = malloc(13);
    probe("below first", below);
    probe("below last", below + 12);
    probe("below under 1", below - 1);

    EF_PROTECT_BELOW = 0;
    EF_ALIGNMENT = 16;
    char *aligned = malloc(13);
    printf("[aligned to 16: %s]\n", (uintptr_t)aligned % 16 == 0 ? "yes" : "no");
    probe("aligned slack", aligned + 15);
    probe("aligned over 4", aligned + 16);

    EF_ALIGNMENT = 0;
    char *exact = malloc(1);
    probe("exact over 1", exact + 1);

    /* Electric Fence takes any number: a block that asks for an alignment
     * of its own keeps it under one that is not a power of two. */
    EF_ALIGNMENT = 96;
    int kept = 1;
    for (size_t size = 1; size <= 200; size += 13) {
        void *m = NULL;
        if (posix_memalign(&m, 64, size) != 0 || (uintptr_t)m % 64 != 0)
            kept = 0;
        free(m);
    }
    printf("[memalign 64 under 96: %s]\n", kept ? "aligned" : "misaligned");
    EF_ALIGNMENT = 0;

    free(above);
    probe("above after free", above);
    free(below);
    free(aligned);
    free(exact);
    return 0;
}

/* EF_PROTECT_BELOW switched at every allocation of a page-sized block:
 * every block must still have a guard page on its side and its other
 * neighbour must not be another block's page (until stop 41 a guard-below
 * slot and a guard-after one shared an arena, and their pages touched). */
static int alternating(void)
{
    if (&EF_PROTECT_BELOW == NULL || &EF_ALIGNMENT == NULL) {
        printf("[no EF_PROTECT_BELOW and EF_ALIGNMENT in the process]\n");
        return 77;
    }
    enum { BLOCKS = 32, SIZE = 4096 };
    static char *blocks[BLOCKS];
    EF_ALIGNMENT = 0;
    for (int i = 0; i < BLOCKS; i++) {
        EF_PROTECT_BELOW = i % 2;
        blocks[i] = malloc(SIZE);
        memset(blocks[i], 'b', SIZE);
    }
    EF_PROTECT_BELOW = 0;
    catch_faults();
    int unguarded = 0;
    for (int i = 0; i < BLOCKS; i++) {
        /* Past the end of a guard-below block, before the start of a
         * guard-after one: another block's page, or a fault. */
        const char *beyond = i % 2 ? blocks[i] + SIZE : blocks[i] - 1;
        if (!faults(beyond))
            for (int j = 0; j < BLOCKS; j++)
                if (beyond >= blocks[j] && beyond < blocks[j] + SIZE)
                    unguarded++;
    }
    printf("[blocks touching another block: %d]\n", unguarded);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    return 0;
}

static int reuse(void)
{
    enum { N = 300, SIZE = 65536 };
    static char *old[N], *fresh[N];
    int again = 0;
    for (int i = 0; i < N; i++)
        old[i] = malloc(SIZE);
    for (int i = 0; i < N; i++)
        free(old[i]);
    for (int i = 0; i < N; i++) {
        fresh[i] = malloc(SIZE);
        for (int j = 0; j < N; j++)
            again += fresh[i] == old[j];
    }
    for (int i = 0; i < N; i++)
        free(fresh[i]); /* no leak for the report at exit */
    printf("[reused: %s]\n", again > 0 ? "yes" : "no");
    return 0;
}

/* The first byte of a new block nobody wrote, in hex. */
static int fill(void)
{
    free(malloc(1));
    unsigned char *p = malloc(64);
    printf("[fill: %02x]\n", p[0]);
    free(p);
    return 0;
}

/* One byte written past the end of a 13-byte block, into the slack
 * before its guard page (no fault at 16-byte alignment), then another
 * allocation, then the free: which of them finds it? */
static int slack(void)
{
    printf("[slack]\n"); /* stdout's buffer is allocated now, not after the write */
    fflush(stdout);
    volatile size_t size = 13; /* the compiler must not see the overflow */
    char *p = malloc(size);
    p[size] = 0;
    printf("[written past the end]\n");
    fflush(stdout);
    char *q = malloc(8);
    printf("[after the next malloc]\n");
    fflush(stdout);
    free(q);
    free(p);
    return 0;
}

static int zero(void)
{
    char *p = malloc(0);
    printf("[malloc(0) returned %s]\n", p != NULL ? "a block" : "NULL");
    free(p);
    return 0;
}

/* A block whose only pointer is dropped: a leak for the report at exit. */
static char *volatile leak_last;

static int leak(void)
{
    leak_last = malloc(48);
    leak_last = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    int status = 2;
    if (argc == 2 && strcmp(argv[1], "env") == 0)
        status = env_probes();
    else if (argc == 2 && strcmp(argv[1], "globals") == 0)
        status = global_probes();
    else if (argc == 2 && strcmp(argv[1], "alternating") == 0)
        status = alternating();
    else if (argc == 2 && strcmp(argv[1], "reuse") == 0)
        status = reuse();
    else if (argc == 2 && strcmp(argv[1], "zero") == 0)
        status = zero();
    else if (argc == 2 && strcmp(argv[1], "fill") == 0)
        status = fill();
    else if (argc == 2 && strcmp(argv[1], "slack") == 0)
        status = slack();
    else if (argc == 2 && strcmp(argv[1], "leak") == 0)
        status = leak();
    else
        fprintf(stderr, "usage: efence_probe env|globals|alternating|reuse|zero|fill|slack|leak\n");
    if (status == 0)
        printf("[done]\n");
    return status;
}
