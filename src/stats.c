/*
 * stats.c: ar_heap__get_stats().
 *
 * The counters live with the threads (thread.c): each thread counts its
 * own allocations and frees, and a figure for the heap is a sum over the
 * threads, taken with the world stopped so that the figures agree with
 * one another. What each figure means then:
 *   - total_allocations, total_bytes, live_blocks, live_bytes: exact.
 *     A block freed by another thread than its allocator's counts in the
 *     freeing thread's part; the sums are the same.
 *   - peak_live_bytes: exact in a single-threaded program; with several
 *     threads, the highest sum seen, within 64 KiB per thread.
 *   - quarantine_blocks, quarantine_bytes: every thread's FIFO and
 *     batch.
 */
#include "ar_heap_internal.h"

void ar_heap__get_stats(ar_heap_stats_t *out)
{
    if (out == NULL)
        return;
    ar_heap__ensure_init();
    ar_heap_world__stop();
    ar_heap_stats__snapshot_stopped(out);
    ar_heap_world__resume();
}
