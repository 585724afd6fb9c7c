/*
 * quarantine.c: the order in which freed blocks' slots come back.
 *
 * Why: a write through a pointer to freed memory corrupts whatever the
 * allocator hands that memory to next, far from the bug. Held in
 * quarantine, a freed block keeps its address out of circulation and its
 * bytes poisoned (life.c writes the poison, canary.c checks it when the
 * slot is reused); a second free of a held block is a double free with
 * the first free's site, and the address can not have been reused.
 *
 * This module only keeps the order: blocks leave oldest first once more
 * than quarantine_bytes are held. It never touches a block's memory or
 * record: what it hands back, life.c puts back in circulation.
 *
 * Per-thread batches. A free appends its block to its thread's batch, a
 * chunk of entries, with no lock. The batches of all threads together
 * hold at most the batch limit, a sixteenth of the budget (at most 1
 * MiB): with T threads each batch is passed on at 1/T of it (T rounded
 * up to a power of two, read when the batch is begun). A full batch is
 * appended whole to the global FIFO of chunks under the global lock, and
 * the oldest entries are taken out until the global FIFO holds at most
 * the budget less the batch limit. So the lock is taken once per batch
 * of frees, and the quarantine holds at most the budget plus one block,
 * whatever the budget and however many threads free (with a small budget
 * a batch is one block, and the FIFO is exact: a block larger than the
 * budget is held alone until the next free). Until every thread has begun
 * a batch since the last one started, an older batch may still be sized
 * for fewer threads. When each batch had the whole limit, 8 threads held
 * up to 7 MiB beyond the budget (bench/workloads threads 8: doc/arheap.md,
 * "Stop 23").
 */
#include "ar_heap_internal.h"

#include <string.h>

/* A thread's batch is at least the limit over this many (64) threads. */
#define AR_HEAP_QBATCH_SHIFT_MAX 6u


static struct {
    pthread_mutex_t lock;
    ar_heap_qchunk_t *oldest, *newest;
    size_t bytes, blocks;       /* held in the FIFO */
    ar_heap_qchunk_t *spare;    /* emptied chunks */
} quarantine = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, NULL };

/* Blocks in the FIFO, readable without the lock (ar_heap_quarantine__holds). */
_Atomic size_t ar_heap_quarantine_hint;

/* With the lock held: an empty chunk. */
static ar_heap_qchunk_t *ar_heap_quarantine__chunk_locked(void)
{
    ar_heap_qchunk_t *chunk = quarantine.spare;
    if (chunk != NULL)
        quarantine.spare = chunk->next;
    else
        chunk = ar_heap_os__map(AR_HEAP_QCHUNK_BYTES);
    if (chunk != NULL) {
        chunk->next = NULL;
        chunk->head = chunk->count = 0;
        chunk->bytes = 0;
    }
    return chunk;
}

/* With the lock held: take out the oldest entries while more than
 * `target` bytes are held, keeping the newest one unless the target is
 * 0; as many as out holds. */
static void ar_heap_quarantine__take_locked(size_t target, ar_heap_qout_t *out)
{
    out->count = 0;
    out->more = 0;
    out->target = target;
    while (quarantine.bytes > target && quarantine.oldest != NULL &&
           (quarantine.blocks > 1 || target == 0)) {
        if (out->count == AR_HEAP_QUARANTINE_OUT) {
            out->more = 1;
            break;
        }
        ar_heap_qchunk_t *chunk = quarantine.oldest;
        ar_heap_qentry_t *e = &chunk->entries[chunk->head++];
        out->entries[out->count++] = *e;
        chunk->bytes -= e->bytes;
        quarantine.bytes -= e->bytes;
        quarantine.blocks--;
        if (chunk->head == chunk->count) {
            quarantine.oldest = chunk->next;
            if (quarantine.oldest == NULL)
                quarantine.newest = NULL;
            chunk->next = quarantine.spare;
            quarantine.spare = chunk;
        }
    }
    atomic_store_explicit(&ar_heap_quarantine_hint, quarantine.blocks, memory_order_relaxed);
}

/* With the lock held: the thread's batch joins the FIFO. */
static void ar_heap_quarantine__append_locked(ar_heap_thread_t *self)
{
    ar_heap_qchunk_t *batch = self->batch;
    if (batch == NULL || batch->head == batch->count)
        return;
    self->batch = NULL;
    self->batch_bytes = 0;
    if (quarantine.newest != NULL)
        quarantine.newest->next = batch;
    else
        quarantine.oldest = batch;
    quarantine.newest = batch;
    quarantine.bytes += batch->bytes;
    quarantine.blocks += batch->count - batch->head;
}

void ar_heap_quarantine__flush(ar_heap_thread_t *self, size_t budget, ar_heap_qout_t *out)
{
    size_t limit = ar_heap_quarantine__batch_limit(budget);
    pthread_mutex_lock(&quarantine.lock);
    ar_heap_quarantine__append_locked(self);
    ar_heap_quarantine__take_locked(budget > limit ? budget - limit : 0, out);
    pthread_mutex_unlock(&quarantine.lock);
}

void ar_heap_quarantine__push(ar_heap_thread_t *self, const ar_heap_qentry_t *entry,
                              size_t budget, ar_heap_qout_t *out)
{
    out->count = 0;
    out->more = 0;
    ar_heap_qchunk_t *batch = self->batch;
    if (AR_HEAP_UNLIKELY(batch == NULL)) {
        pthread_mutex_lock(&quarantine.lock);
        batch = ar_heap_quarantine__chunk_locked();
        pthread_mutex_unlock(&quarantine.lock);
        if (batch == NULL) {
            /* No memory for the entry: the block is released at once. */
            out->count = 1;
            out->entries[0] = *entry;
            return;
        }
        self->batch = batch;
        self->batch_bytes = 0;
        unsigned threads = ar_heap_thread__attached(), shift = 0;
        while (shift < AR_HEAP_QBATCH_SHIFT_MAX && (1u << shift) < threads)
            shift++;
        self->batch_shift = shift;
    }
    batch->entries[batch->count++] = *entry;
    batch->bytes += entry->bytes;
    self->batch_bytes += entry->bytes;
    if (self->batch_bytes >= ar_heap_quarantine__thread_limit(self, budget) ||
        batch->count == AR_HEAP_QCHUNK_ENTRIES)
        ar_heap_quarantine__flush(self, budget, out);
}

void ar_heap_quarantine__trim(ar_heap_thread_t *self, size_t budget, ar_heap_qout_t *out)
{
    out->count = 0;
    out->more = 0;
    if (!ar_heap_quarantine__holds(self))
        return;
    pthread_mutex_lock(&quarantine.lock);
    ar_heap_quarantine__append_locked(self);
    ar_heap_quarantine__take_locked(budget, out);
    pthread_mutex_unlock(&quarantine.lock);
}

typedef struct ar_heap_held_s {
    size_t blocks, bytes;
} ar_heap_held_t;

static void ar_heap_quarantine__add_batch(ar_heap_thread_t *t, void *arg)
{
    ar_heap_held_t *held = arg;
    if (t->batch != NULL) {
        held->blocks += t->batch->count - t->batch->head;
        held->bytes += t->batch->bytes;
    }
}

void ar_heap_quarantine__held(size_t *blocks, size_t *bytes)
{
    ar_heap_held_t held = { 0, 0 };
    pthread_mutex_lock(&quarantine.lock);
    held.blocks = quarantine.blocks;
    held.bytes = quarantine.bytes;
    pthread_mutex_unlock(&quarantine.lock);
    ar_heap_thread__each(ar_heap_quarantine__add_batch, &held);
    *blocks = held.blocks;
    *bytes = held.bytes;
}
