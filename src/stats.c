/*
 * stats.c: the counters behind ar_heap__get_stats().
 *
 * Per-shard counters (blocks, bytes, totals) live in tracking.c under the
 * shard locks. Two figures need one process-wide order and live here as
 * atomics: the allocation sequence number, and live bytes with their peak
 * (a peak is only a peak if every shard's bytes are added in one place).
 */
#include "ar_heap_internal.h"

static struct {
    _Atomic uint64_t seq;
    _Atomic size_t live_bytes;
    _Atomic size_t peak_live_bytes;
} stats;

uint64_t ar_heap_stats__next_seq(void)
{
    return atomic_fetch_add_explicit(&stats.seq, 1, memory_order_relaxed) + 1;
}

uint64_t ar_heap_stats__last_seq(void)
{
    return atomic_load_explicit(&stats.seq, memory_order_relaxed);
}

void ar_heap_stats__add_live(size_t size)
{
    size_t now = atomic_fetch_add_explicit(&stats.live_bytes, size, memory_order_relaxed) + size;
    size_t peak = atomic_load_explicit(&stats.peak_live_bytes, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&stats.peak_live_bytes, &peak, now,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void ar_heap_stats__sub_live(size_t size)
{
    atomic_fetch_sub_explicit(&stats.live_bytes, size, memory_order_relaxed);
}

void ar_heap_stats__snapshot_locked(ar_heap_stats_t *out)
{
    ar_heap_tracking__sum_locked(out);
    out->peak_live_bytes = atomic_load_explicit(&stats.peak_live_bytes, memory_order_relaxed);
    /* Live bytes and the peak are updated under the same shard lock, so
     * with every shard locked the peak is at least the live bytes; the
     * clamp only guards that invariant. */
    if (out->peak_live_bytes < out->live_bytes)
        out->peak_live_bytes = out->live_bytes;
    out->guarded_blocks = ar_heap_guard__live();
    out->errors_reported = ar_heap_report__errors();
    out->failures_injected = ar_heap_inject__count();
}

void ar_heap__get_stats(ar_heap_stats_t *out)
{
    if (out == NULL)
        return;
    ar_heap__ensure_init();
    ar_heap_tracking__lock_all();
    ar_heap_stats__snapshot_locked(out);
    ar_heap_tracking__unlock_all();
}
