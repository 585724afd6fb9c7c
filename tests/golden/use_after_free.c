/* use_after_free.c: heap-use-after-free, found in a freed block's poison.
 *
 * use-after-free: a session's first byte is written through a stale
 * pointer after the free; ar_heap__check_all() finds it (linked), or the
 * check at exit (plain: the program can not call arheap).
 *
 * use-after-free-reuse: an entry of a freed cache block is cleared; with
 * a quarantine too small to hold two blocks (quarantine_bytes=1), the
 * next free pushes it out, and the next allocation of its size takes its
 * memory and finds the damage. */
#include "golden.h"

static char *session_open(void)
{
    return golden_opaque(G_MALLOC(32, "session"));
}

static void session_close(char *session)
{
    G_FREE(session);
}

void golden_use_after_free(void)
{
    char *session = session_open();
    session_close(session);
    ((char *)golden_stale())[0] = 'G';
    G_CHECK_ALL();
}

void golden_use_after_free_reuse(void)
{
    long *entry = golden_opaque(G_MALLOC(4 * sizeof(long), "cache entry"));
    long *other = G_MALLOC(4 * sizeof(long), "other entry");
    G_FREE(entry);
    ((long *)golden_stale())[2] = 0;
    G_FREE(other);
    long *next = G_MALLOC(4 * sizeof(long), "next entry");
    G_FREE(next);
}
