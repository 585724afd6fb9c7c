/* guard.c: the faults of guard pages (run with guard=1): a write and a
 * read one byte past a 13-byte block (guard_align=1), a write one byte
 * before a block (guard_below=1), and a write and a read of a freed
 * block. The process dies of SIGSEGV at the access. */
#include "golden.h"

static volatile char golden_sink;

static char *make_block(void)
{
    return golden_opaque(G_MALLOC(13, "thirteen bytes"));
}

static void poke(char *p, long offset)
{
    ((char *)golden_opaque(p))[offset] = 'x';
}

static void peek(char *p, long offset)
{
    golden_sink = ((char *)golden_opaque(p))[offset];
}

void golden_guard_overflow_write(void)
{
    char *block = make_block();
    poke(block, 13);
    G_FREE(block);
}

void golden_guard_overflow_read(void)
{
    char *block = make_block();
    peek(block, 13);
    G_FREE(block);
}

void golden_guard_underflow_write(void)
{
    char *block = make_block();
    poke(block, -1);
    G_FREE(block);
}

void golden_guard_use_after_free_write(void)
{
    char *block = make_block();
    G_FREE(block);
    poke(golden_stale(), 5);
}

void golden_guard_use_after_free_read(void)
{
    char *block = make_block();
    G_FREE(block);
    peek(golden_stale(), 5);
}
