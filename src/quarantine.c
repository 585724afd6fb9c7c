/*
 * quarantine.c: freed blocks held back, poisoned, before libc gets them.
 *
 * Why: a write through a pointer to freed memory corrupts whatever libc
 * hands that memory to next, far from the bug. Held in quarantine, a freed
 * block keeps its address out of circulation and its bytes filled with
 * AR_HEAP_FILL_FREED; a changed byte is a write after free, reported when
 * the block leaves the quarantine, at ar_heap__check_all() and at exit.
 * A second free of a held block is a double free with the first free's
 * site, and the address can not have been reused meanwhile.
 *
 * One FIFO for the whole process, oldest first, with its own lock, so the
 * memory held never exceeds quarantine_bytes plus the one block being
 * pushed, and blocks leave in the order they were freed. Lock order: a
 * free holds its block's shard lock when it takes the quarantine lock;
 * blocks taken out are retired afterwards, each under its own shard lock,
 * never while the quarantine lock is held.
 */
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <string.h>

static struct {
    pthread_mutex_t lock;
    ar_heap_record_t *oldest;
    ar_heap_record_t *newest;
    size_t bytes;  /* sum of the held blocks' total sizes */
    size_t blocks; /* held blocks */
    _Atomic size_t hint; /* blocks, readable without the lock */
    unsigned char poison[4096]; /* a page of poison to compare freed blocks with */
} quarantine = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0, { 0 } };

void ar_heap_quarantine__init(void)
{
    memset(quarantine.poison, AR_HEAP_FILL_FREED, sizeof quarantine.poison);
}

void ar_heap_quarantine__lock(void)
{
    pthread_mutex_lock(&quarantine.lock);
}

void ar_heap_quarantine__unlock(void)
{
    pthread_mutex_unlock(&quarantine.lock);
}

void ar_heap_quarantine__held(size_t *blocks, size_t *bytes)
{
    pthread_mutex_lock(&quarantine.lock);
    *blocks = quarantine.blocks;
    *bytes = quarantine.bytes;
    pthread_mutex_unlock(&quarantine.lock);
}

/* Bytes at the start of the next block to leave that are prefetched ahead
 * of its eviction (see take_over). Prefetching all of a 4 KiB block
 * measured no faster: the prefetches then stall on the cache's miss
 * buffers instead of the check. */
#define AR_HEAP_QUARANTINE_PREFETCH_HEAD ((size_t)192)

/* With the lock held: take out the oldest blocks while more than `budget`
 * bytes are held; return them as a qnext list. Then start loading what the
 * next eviction reads (see below). */
static ar_heap_record_t *ar_heap_quarantine__take_over(size_t budget)
{
    ar_heap_record_t *out = NULL;
    ar_heap_record_t **tail = &out;
    /* The newest block stays even when it alone exceeds the budget: held
     * memory is at most the budget plus that one block. */
    while (quarantine.bytes > budget && quarantine.oldest != NULL &&
           (quarantine.oldest != quarantine.newest || budget == 0)) {
        ar_heap_record_t *old = quarantine.oldest;
        quarantine.oldest = old->qnext;
        if (quarantine.oldest == NULL)
            quarantine.newest = NULL;
        quarantine.bytes -= old->total;
        quarantine.blocks--;
        old->qnext = NULL;
        *tail = old;
        tail = &old->qnext;
    }
    atomic_store_explicit(&quarantine.hint, quarantine.blocks, memory_order_relaxed);
    /*
     * The oldest block leaves at the next push or so, thousands of frees
     * after its record and bytes were last touched: they have left the
     * caches. Prefetch them one push ahead, so that the eviction does not
     * wait for them. Its record was prefetched by the previous push, as the
     * successor of the then oldest, so reading its fields here is cheap;
     * prefetch the lines its checks start with (the head canary and the
     * first poison, AR_HEAP_QUARANTINE_PREFETCH_HEAD bytes: the hardware
     * prefetcher follows the poison check's stream from there) and its
     * last line (the tail canary), and the record of its successor, whose hot
     * fields (links to state) may straddle two lines. Prefetches are hints:
     * they change nothing and never fault. (Written here, not in a helper
     * of prefetches alone: GCC takes such a function for pure and drops
     * calls to it.)
     */
    const ar_heap_record_t *next = quarantine.oldest;
    if (next != NULL) {
        const char *base = next->base;
        for (size_t at = 0; at < next->total && at < AR_HEAP_QUARANTINE_PREFETCH_HEAD; at += 64)
            __builtin_prefetch(base + at, 0, 3);
        __builtin_prefetch(base + next->total - 1, 0, 3);
        const char *successor = (const char *)next->qnext;
        if (successor != NULL) {
            __builtin_prefetch(successor, 1, 3);
            __builtin_prefetch(successor + offsetof(ar_heap_record_t, state), 1, 3);
        }
    }
    return out;
}

ar_heap_record_t *ar_heap_quarantine__push(ar_heap_record_t *record, size_t budget)
{
    if (record->flags & AR_HEAP_BLOCK_GUARDED)
        ar_heap_guard__protect(record); /* any touch now faults: nothing to poison */
    else
        memset((void *)record->user, AR_HEAP_FILL_FREED, record->size);
    ar_heap_valgrind__freed(record);
    record->qnext = NULL;
    pthread_mutex_lock(&quarantine.lock);
    if (quarantine.newest != NULL)
        quarantine.newest->qnext = record;
    else
        quarantine.oldest = record;
    quarantine.newest = record;
    quarantine.bytes += record->total;
    quarantine.blocks++;
    ar_heap_record_t *out = ar_heap_quarantine__take_over(budget);
    pthread_mutex_unlock(&quarantine.lock);
    return out;
}

ar_heap_record_t *ar_heap_quarantine__trim(size_t budget)
{
    if (atomic_load_explicit(&quarantine.hint, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&quarantine.lock);
    ar_heap_record_t *out = ar_heap_quarantine__take_over(budget);
    pthread_mutex_unlock(&quarantine.lock);
    return out;
}

int ar_heap_quarantine__check_poison(const ar_heap_record_t *record, ar_heap_damage_t *out)
{
    const unsigned char *user = (const unsigned char *)record->user;
    if (!ar_heap_block__readable(record))
        return 0; /* PROT_NONE: a write after free would have faulted */
    ar_heap_valgrind__open(user, record->size);
    /* Fast path: libc's memcmp against a page of poison, until a chunk
     * differs; the byte loop below then finds the first damaged byte. */
    size_t clean = 0;
    while (clean < record->size) {
        size_t room = sizeof quarantine.poison;
        size_t chunk = record->size - clean < room ? record->size - clean : room;
        if (memcmp(user + clean, quarantine.poison, chunk) != 0)
            break;
        clean += chunk;
    }
    size_t first = record->size;
    size_t damaged = 0;
    for (size_t i = clean; i < record->size; i++) {
        if (user[i] != AR_HEAP_FILL_FREED) {
            if (first == record->size)
                first = i;
            damaged++;
        }
    }
    if (damaged == 0) {
        ar_heap_valgrind__close(user, record->size);
        return 0;
    }
    out->kind = AR_HEAP_ERROR_WRITE_AFTER_FREE;
    out->offset = (long long)first;
    out->damaged = damaged;
    out->dump_offset = (long long)first;
    out->dump_len = 0;
    for (size_t i = first; i < record->size && out->dump_len < sizeof out->found; i++) {
        out->expected[out->dump_len] = AR_HEAP_FILL_FREED;
        out->found[out->dump_len] = user[i];
        out->dump_len++;
    }
    ar_heap_valgrind__close(user, record->size);
    return 1;
}
