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
 * up to a power of two, read when the batch is begun). When each batch
 * had the whole limit, 8 threads held up to 7 MiB beyond the budget
 * (bench/workloads threads 8: doc/benchmark-history.md, "Stop 23").
 *
 * Per-thread FIFOs. A full batch joins its thread's own FIFO of chunks,
 * as a chunk of its own (the batch of a thread that ends after a few
 * frees goes into the FIFO's newest chunk instead),
 * under that FIFO's lock, stamped with a global count of the batches
 * that joined before it; the bytes held in every FIFO together are one
 * counter. While that is more than the budget less the batch limit, the
 * thread whose batch joined takes out as many bytes as the batch brought
 * (no more: so no thread takes out another's share for it), chunk by
 * chunk, oldest first, from its own FIFO, except in two cases:
 *   - while its FIFO holds less than half its share (the budget less the
 *     batch limit, over T), the oldest chunk of all, whoever's: a thread
 *     that starts freeing when others hold the budget gets a window;
 *   - when a thread is stale, the stalest thread's: no batch joined its
 *     FIFO while the batch count moved on 16 times the batches held (16
 *     turns of the quarantine). A thread that stopped freeing, or frees
 *     far less than the others, has its blocks taken out by them.
 * When the budget was lowered since that thread's last batch, it takes
 * them down to the target instead, whoever's blocks they are.
 * So the quarantine holds at most the budget plus one block (after a
 * lowering: plus the batches other threads began before it, until they
 * pass them on), whatever the budget and however many threads free (with a small budget a batch
 * is one block; a block larger than the budget is held alone until the
 * next free); threads that free each take out their own blocks, whose
 * slots they own, with no other thread's lock or lines.
 *
 * Why a thread's share stays with it. A slot comes back only to the
 * thread that owns its span. When a thread takes out another's blocks,
 * their slots go to that thread, which may not be running, while the
 * taker's own blocks stay held and it touches new memory for its next
 * allocations. Until stop 30 a thread took another's oldest chunk
 * whenever it had waited twice as long as its own oldest; with 8 threads
 * on 2 cores a thread off the CPU for a few slices fell twice behind, and
 * the threads took each other's blocks out 63 000 times in a run against
 * 17 000 of their own. Peak RSS, bench/workloads threads, defaults, 5
 * rounds in turn, medians: T=2 23.1 to 21.1 MiB, T=4 29.8 to 24.5, T=8
 * 36.4 to 30.1, and T=8 took 0.61 times as long (doc/benchmark-history.md,
 * "Stop 30"). A stale limit of 4 turns, not 16, left T=8 at 33.5 MiB:
 * threads that had finished their steps and waited were taken from.
 *
 * What that changes against one global FIFO (before stop 24): a block
 * leaves after at least the frees of half its thread's share (a thread
 * of T that frees alike: the same as one FIFO), and a thread's blocks
 * are held for as long as it passes on a batch at least once in 16
 * turns, however much faster the others free. With one FIFO, every flush
 * took the global lock, and a thread took out the oldest blocks of
 * whichever thread freed them: at T=8 on the 2-core machine the threads
 * workload ran 1.2 times as long (doc/benchmark-history.md, "Stop 24").
 *
 * Locks: each FIFO's lock and the lock of the spare chunks are leaves; a
 * thread takes its own FIFO's lock once per batch, another's only to take
 * entries out of it.
 */
#include "ar_heap_internal.h"

#include <string.h>

/* A batch of at most this many blocks joins its FIFO's newest chunk
 * when that has room (ar_heap_quarantine__pass_on). */
#define AR_HEAP_QUARANTINE_COALESCE 64u

/* A thread's batch is at least the limit over this many (64) threads. */
#define AR_HEAP_QBATCH_SHIFT_MAX 6u

/* A thread whose FIFO no batch joined while the clock advanced by this
 * many times the batches held is stale: the others take its blocks out. */
#define AR_HEAP_QUARANTINE_STALE_TURNS 16u

/* Emptied chunks, for the next batches. */
static struct {
    pthread_mutex_t lock;
    ar_heap_qchunk_t *spare;
} quarantine = { PTHREAD_MUTEX_INITIALIZER, NULL };

/* Blocks in every FIFO, readable without a lock (ar_heap_quarantine__holds). */
_Atomic size_t ar_heap_quarantine_hint;
/* Batches in every FIFO: the clock's count of one turn of the quarantine. */
static _Atomic size_t ar_heap_quarantine_batches;
/* Bytes in every FIFO. */
static _Atomic size_t ar_heap_quarantine_bytes;

/* The order in which batches joined the FIFOs. */
static _Atomic uint64_t ar_heap_quarantine_clock;
/* How many times the budget was lowered (written only then). */
static _Atomic unsigned ar_heap_quarantine_lowerings;

void ar_heap_quarantine__init_thread(ar_heap_thread_t *t)
{
    pthread_mutex_init(&t->fifo.lock, NULL);
    atomic_init(&t->fifo.oldest_stamp, UINT64_MAX);
    atomic_init(&t->fifo.newest_stamp, UINT64_MAX);
}

/* An empty chunk. */
static ar_heap_qchunk_t *ar_heap_quarantine__chunk(void)
{
    pthread_mutex_lock(&quarantine.lock);
    ar_heap_qchunk_t *chunk = quarantine.spare;
    if (chunk != NULL)
        quarantine.spare = chunk->next;
    pthread_mutex_unlock(&quarantine.lock);
    if (chunk == NULL)
        chunk = ar_heap_os__map(AR_HEAP_QCHUNK_BYTES);
    if (chunk != NULL) {
        chunk->next = NULL;
        chunk->head = chunk->count = 0;
        chunk->bytes = 0;
    }
    return chunk;
}

/* An emptied chunk back to the spares. */
static void ar_heap_quarantine__spare(ar_heap_qchunk_t *chunk)
{
    pthread_mutex_lock(&quarantine.lock);
    chunk->next = quarantine.spare;
    quarantine.spare = chunk;
    pthread_mutex_unlock(&quarantine.lock);
}

/* The thread's batch joins its FIFO: the bytes it brings. With `join`,
 * a batch of a few blocks goes into the FIFO's newest chunk. */
static size_t ar_heap_quarantine__pass_on(ar_heap_thread_t *self, int join)
{
    ar_heap_qchunk_t *batch = self->batch;
    if (batch == NULL || batch->head == batch->count)
        return 0;
    self->batch = NULL;
    self->batch_bytes = 0;
    size_t blocks = batch->count - batch->head, bytes = batch->bytes;
    pthread_mutex_lock(&self->fifo.lock);
    uint64_t stamp = atomic_fetch_add_explicit(&ar_heap_quarantine_clock, 1, memory_order_relaxed);
    ar_heap_qchunk_t *newest = self->fifo.newest, *spare = NULL;
    if (join && newest != NULL && blocks <= AR_HEAP_QUARANTINE_COALESCE &&
        blocks <= AR_HEAP_QCHUNK_ENTRIES - newest->count) {
        /* A thread that ends after a few frees: its batch joins the
         * newest chunk, and its own goes back to the spares. A chunk for
         * each, whose first page its header and entries touch, was 4 KiB
         * that the budget did not count (6000 threads that each freed a
         * 1000-byte block: 34 MiB of peak RSS). Its entries take the
         * chunk's stamp: they may leave a little sooner. */
        memcpy(&newest->entries[newest->count], &batch->entries[batch->head],
               blocks * sizeof batch->entries[0]);
        newest->count += (uint32_t)blocks;
        newest->batches++;
        newest->bytes += bytes;
        spare = batch;
    } else {
        batch->stamp = stamp;
        batch->batches = 1;
        if (newest != NULL) {
            newest->next = batch;
        } else {
            self->fifo.oldest = batch;
            atomic_store_explicit(&self->fifo.oldest_stamp, stamp, memory_order_relaxed);
        }
        self->fifo.newest = batch;
    }
    atomic_fetch_add_explicit(&ar_heap_quarantine_batches, 1, memory_order_relaxed);
    atomic_store_explicit(&self->fifo.newest_stamp, stamp, memory_order_relaxed);
    self->fifo.blocks += blocks;
    atomic_store_explicit(&self->fifo.bytes,
                          atomic_load_explicit(&self->fifo.bytes, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
    atomic_fetch_add_explicit(&ar_heap_quarantine_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&ar_heap_quarantine_hint, blocks, memory_order_relaxed);
    pthread_mutex_unlock(&self->fifo.lock);
    if (spare != NULL)
        ar_heap_quarantine__spare(spare);
    return bytes;
}

/* Take entries of `t`'s oldest chunk into out until they come to `want`
 * bytes (the last one may go past), out is full, or `blocks` entries
 * were taken; the bytes taken. */
static size_t ar_heap_quarantine__take_from(ar_heap_thread_t *t, size_t want, size_t blocks,
                                            ar_heap_qout_t *out)
{
    ar_heap_qchunk_t *emptied = NULL;
    size_t bytes = 0, taken = 0;
    pthread_mutex_lock(&t->fifo.lock);
    ar_heap_qchunk_t *chunk = t->fifo.oldest;
    while (chunk != NULL && out->count < AR_HEAP_QUARANTINE_OUT && bytes < want &&
           taken < blocks) {
        ar_heap_qentry_t *e = &chunk->entries[chunk->head++];
        out->entries[out->count++] = *e;
        chunk->bytes -= e->bytes;
        bytes += e->bytes;
        taken++;
        if (chunk->head == chunk->count) {
            t->fifo.oldest = chunk->next;
            if (t->fifo.oldest == NULL)
                t->fifo.newest = NULL;
            atomic_store_explicit(&t->fifo.oldest_stamp,
                                  t->fifo.oldest != NULL ? t->fifo.oldest->stamp : UINT64_MAX,
                                  memory_order_relaxed);
            emptied = chunk;
            atomic_fetch_sub_explicit(&ar_heap_quarantine_batches, chunk->batches,
                                      memory_order_relaxed);
            chunk = NULL;
        }
    }
    t->fifo.blocks -= taken;
    atomic_store_explicit(&t->fifo.bytes,
                          atomic_load_explicit(&t->fifo.bytes, memory_order_relaxed) - bytes,
                          memory_order_relaxed);
    atomic_fetch_sub_explicit(&ar_heap_quarantine_bytes, bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&ar_heap_quarantine_hint, taken, memory_order_relaxed);
    pthread_mutex_unlock(&t->fifo.lock);
    if (emptied != NULL)
        ar_heap_quarantine__spare(emptied);
    return bytes;
}

/* A racy look at every FIFO: the one whose oldest chunk joined first,
 * and the one that has gone longest without a batch joining it. */
typedef struct ar_heap_qlook_s {
    ar_heap_thread_t *oldest;
    uint64_t oldest_stamp;
    ar_heap_thread_t *stalest;
    uint64_t stalest_stamp;
} ar_heap_qlook_t;

static void ar_heap_quarantine__look(ar_heap_thread_t *t, void *arg)
{
    ar_heap_qlook_t *o = arg;
    uint64_t stamp = atomic_load_explicit(&t->fifo.oldest_stamp, memory_order_relaxed);
    if (stamp == UINT64_MAX)
        return;
    if (stamp < o->oldest_stamp) {
        o->oldest = t;
        o->oldest_stamp = stamp;
    }
    uint64_t newest = atomic_load_explicit(&t->fifo.newest_stamp, memory_order_relaxed);
    if (newest < o->stalest_stamp) {
        o->stalest = t;
        o->stalest_stamp = newest;
    }
}

/* Take out entries, chunk by chunk, while the FIFOs hold more than out's
 * target (keeping the newest block unless the target is 0), at most
 * out's quota. From which FIFO (the header comment says why):
 *   - a stale thread's (no batch joined while the quarantine turned over
 *     AR_HEAP_QUARANTINE_STALE_TURNS times), the stalest, oldest first;
 *   - else, while this thread's FIFO is empty or holds less than half its
 *     share of the target (the target over T, T as for its batch), the
 *     oldest chunk of all, whoever's;
 *   - else this thread's own.
 * Two threads that look at once may both take out what is over: the
 * quarantine then holds a little less for a moment, never more. */
static void ar_heap_quarantine__take(ar_heap_thread_t *self, ar_heap_qout_t *out)
{
    out->count = 0;
    out->more = 0;
    unsigned fruitless = 0; /* passes that found a chunk taken meanwhile */
    while (out->count < AR_HEAP_QUARANTINE_OUT && out->quota > 0 && fruitless < 4) {
        size_t held = atomic_load_explicit(&ar_heap_quarantine_bytes, memory_order_relaxed);
        size_t blocks = atomic_load_explicit(&ar_heap_quarantine_hint, memory_order_relaxed);
        if (held <= out->target || blocks == 0 || (blocks == 1 && out->target != 0))
            return;
        ar_heap_qlook_t o = { NULL, UINT64_MAX, NULL, UINT64_MAX };
        ar_heap_thread__each(ar_heap_quarantine__look, &o);
        if (o.oldest == NULL)
            return; /* every FIFO looked empty: taken meanwhile */
        uint64_t now = atomic_load_explicit(&ar_heap_quarantine_clock, memory_order_relaxed);
        uint64_t turn = atomic_load_explicit(&ar_heap_quarantine_batches, memory_order_relaxed);
        size_t mine = atomic_load_explicit(&self->fifo.bytes, memory_order_relaxed);
        ar_heap_thread_t *from = self;
        if (o.stalest != self && o.stalest_stamp < now &&
            now - o.stalest_stamp > AR_HEAP_QUARANTINE_STALE_TURNS * turn)
            from = o.stalest;
        else if (mine == 0 || mine < out->target >> (self->batch_shift + 1))
            from = o.oldest;
        size_t want = held - out->target < out->quota ? held - out->target : out->quota;
        size_t bytes = ar_heap_quarantine__take_from(from, want,
                                                     out->target == 0 ? blocks : blocks - 1, out);
        out->quota -= bytes < out->quota ? bytes : out->quota;
        fruitless = bytes == 0 ? fruitless + 1 : 0;
    }
    out->more = out->count == AR_HEAP_QUARANTINE_OUT && out->quota > 0;
}

static void ar_heap_quarantine__pass(ar_heap_thread_t *self, size_t budget, int join,
                                     ar_heap_qout_t *out)
{
    size_t limit = ar_heap_quarantine__batch_limit(budget);
    out->target = budget > limit ? budget - limit : 0;
    out->quota = ar_heap_quarantine__pass_on(self, join);
    /* The budget was lowered since this thread's last batch: this one
     * takes the FIFOs down to the target, not only by what it brought. */
    unsigned lowered = atomic_load_explicit(&ar_heap_quarantine_lowerings, memory_order_relaxed);
    if (AR_HEAP_UNLIKELY(lowered != self->lowered_seen)) {
        self->lowered_seen = lowered;
        out->quota = SIZE_MAX;
    }
    ar_heap_quarantine__take(self, out);
}

void ar_heap_quarantine__flush(ar_heap_thread_t *self, size_t budget, ar_heap_qout_t *out)
{
    ar_heap_quarantine__pass(self, budget, 1, out);
}

void ar_heap_quarantine__lowered(void)
{
    atomic_fetch_add_explicit(&ar_heap_quarantine_lowerings, 1, memory_order_relaxed);
}

void ar_heap_quarantine__push(ar_heap_thread_t *self, const ar_heap_qentry_t *entry,
                              size_t budget, ar_heap_qout_t *out)
{
    out->count = 0;
    out->more = 0;
    ar_heap_qchunk_t *batch = self->batch;
    if (AR_HEAP_UNLIKELY(batch == NULL)) {
        batch = ar_heap_quarantine__chunk();
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
        ar_heap_quarantine__pass(self, budget, 0, out);
}

void ar_heap_quarantine__trim(ar_heap_thread_t *self, size_t budget, ar_heap_qout_t *out)
{
    out->count = 0;
    out->more = 0;
    if (!ar_heap_quarantine__holds(self))
        return;
    ar_heap_quarantine__pass_on(self, 1);
    out->target = budget;
    out->quota = SIZE_MAX;
    ar_heap_quarantine__take(self, out);
}

void ar_heap_quarantine__more(ar_heap_thread_t *self, ar_heap_qout_t *out)
{
    ar_heap_quarantine__take(self, out);
}

typedef struct ar_heap_held_s {
    size_t blocks, bytes;
} ar_heap_held_t;

static void ar_heap_quarantine__add_thread(ar_heap_thread_t *t, void *arg)
{
    ar_heap_held_t *held = arg;
    pthread_mutex_lock(&t->fifo.lock);
    held->blocks += t->fifo.blocks;
    held->bytes += atomic_load_explicit(&t->fifo.bytes, memory_order_relaxed);
    pthread_mutex_unlock(&t->fifo.lock);
    if (t->batch != NULL) {
        held->blocks += t->batch->count - t->batch->head;
        held->bytes += t->batch->bytes;
    }
}

void ar_heap_quarantine__held(size_t *blocks, size_t *bytes)
{
    ar_heap_held_t held = { 0, 0 };
    ar_heap_thread__each(ar_heap_quarantine__add_thread, &held);
    *blocks = held.blocks;
    *bytes = held.bytes;
}
