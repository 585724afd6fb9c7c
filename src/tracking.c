/*
 * tracking.c: the records of live and recently freed blocks.
 *
 * Why: every free must be checked against the set of live blocks without
 * touching memory the checker does not own, and that check must cost the
 * same with ten blocks live or ten million. (AgeRun's first heap searched
 * a linked list on every free.)
 *
 * How: the table is split into AR_HEAP_SHARDS shards chosen by a hash of
 * the user address. Each shard has its own mutex, a chained hash table of
 * live records (grown by doubling, so O(1) expected per operation), a pool
 * of spare records, and a FIFO of recently freed records that lets a second
 * free be named a double free with both sites. Records and bucket arrays
 * are mapped from the OS, never taken from malloc: the checker does not
 * depend on the heap it checks.
 *
 * Lookups compare addresses only; a pointer handed to free is never
 * dereferenced unless it is found live in the table. (It may be prefetched
 * before: a prefetch is a hint that never faults and changes nothing.)
 */
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <string.h>

#define AR_HEAP_SHARD_BITS 6
#define AR_HEAP_SHARDS (1u << AR_HEAP_SHARD_BITS)
#define AR_HEAP_INITIAL_BUCKETS 512u
/* Record chunks start small and double, up to 2 MiB, so a small program
 * maps little and a large heap's records sit in few (huge) pages. */
#define AR_HEAP_POOL_CHUNK_MIN ((size_t)64 * 1024)
#define AR_HEAP_POOL_CHUNK_MAX ((size_t)2 * 1024 * 1024)

typedef struct ar_heap_shard_s {
    _Alignas(64) pthread_mutex_t lock;
    ar_heap_record_t **buckets;     /* chains of live records */
    size_t bucket_count;            /* a power of two, or 0 before first use */
    size_t chained;                 /* records in the chains: live + quarantined */
    size_t live_blocks;
    size_t live_bytes;
    size_t total_allocations;
    size_t total_bytes;
    ar_heap_record_t *pool;         /* spare records, linked by next */
    ar_heap_frames_t *frames_pool;  /* spare call-stack slots */
    size_t pool_chunk;              /* bytes of the next chunk to map */
    ar_heap_record_t *history_head; /* oldest freed record */
    ar_heap_record_t *history_tail; /* newest freed record */
    size_t history_count;
} ar_heap_shard_t;

static struct {
    ar_heap_shard_t shards[AR_HEAP_SHARDS];
} tracking;

/* A 64-bit mix of the address (the splitmix64 finaliser): low bits pick
 * the shard, the next bits the bucket. */
static uint64_t ar_heap_tracking__hash(uintptr_t user)
{
    uint64_t h = (uint64_t)user;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

static ar_heap_shard_t *ar_heap_tracking__shard(uint64_t hash)
{
    return &tracking.shards[hash & (AR_HEAP_SHARDS - 1)];
}

static size_t ar_heap_tracking__bucket(const ar_heap_shard_t *shard, uint64_t hash)
{
    return (size_t)(hash >> AR_HEAP_SHARD_BITS) & (shard->bucket_count - 1);
}

/* fork: every shard lock, then the quarantine's, then the guard slots',
 * so the child inherits consistent tables. */
static void ar_heap_tracking__before_fork(void)
{
    ar_heap_tracking__lock_all();
    ar_heap_quarantine__lock();
    ar_heap_guard__lock();
}

static void ar_heap_tracking__after_fork_parent(void)
{
    ar_heap_guard__unlock();
    ar_heap_quarantine__unlock();
    ar_heap_tracking__unlock_all();
}

static void ar_heap_tracking__after_fork_child(void)
{
    ar_heap_os__forget_thread_id();
    ar_heap_tracking__after_fork_parent();
}

void ar_heap_tracking__init(void)
{
    for (unsigned i = 0; i < AR_HEAP_SHARDS; i++)
        pthread_mutex_init(&tracking.shards[i].lock, NULL);
}

void ar_heap_tracking__register_fork_handlers(void)
{
    pthread_atfork(ar_heap_tracking__before_fork, ar_heap_tracking__after_fork_parent,
                   ar_heap_tracking__after_fork_child);
}

void ar_heap_tracking__lock_all(void)
{
    for (unsigned i = 0; i < AR_HEAP_SHARDS; i++)
        pthread_mutex_lock(&tracking.shards[i].lock);
}

void ar_heap_tracking__unlock_all(void)
{
    for (unsigned i = AR_HEAP_SHARDS; i-- > 0;)
        pthread_mutex_unlock(&tracking.shards[i].lock);
}


/* Replace the bucket array with one of `count` buckets (a power of two).
 * Returns 0 when the OS refuses the memory; the old array stays usable. */
static int ar_heap_tracking__rehash(ar_heap_shard_t *shard, size_t count)
{
    ar_heap_record_t **fresh = ar_heap_os__map(count * sizeof *fresh);
    if (fresh == NULL)
        return 0;
    ar_heap_record_t **old = shard->buckets;
    size_t old_count = shard->bucket_count;
    shard->buckets = fresh;
    shard->bucket_count = count;
    for (size_t i = 0; i < old_count; i++) {
        ar_heap_record_t *record = old[i];
        while (record != NULL) {
            ar_heap_record_t *next = record->next;
            size_t b = ar_heap_tracking__bucket(shard, ar_heap_tracking__hash(record->user));
            record->next = fresh[b];
            fresh[b] = record;
            record = next;
        }
    }
    if (old != NULL)
        ar_heap_os__unmap(old, old_count * sizeof *old);
    return 1;
}

/* Take a spare record, mapping a new chunk of them when the pool is empty. */
static ar_heap_record_t *ar_heap_tracking__take_spare(ar_heap_shard_t *shard)
{
    if (shard->pool == NULL) {
        size_t bytes = shard->pool_chunk != 0 ? shard->pool_chunk : AR_HEAP_POOL_CHUNK_MIN;
        ar_heap_record_t *chunk = ar_heap_os__map(bytes);
        if (chunk == NULL)
            return NULL;
        if (bytes < AR_HEAP_POOL_CHUNK_MAX)
            shard->pool_chunk = bytes * 2;
        size_t n = bytes / sizeof *chunk;
        /* Linked so that records are taken in address order. */
        for (size_t i = n; i-- > 0;) {
            chunk[i].next = shard->pool;
            shard->pool = &chunk[i];
        }
    }
    ar_heap_record_t *record = shard->pool;
    shard->pool = record->next;
    return record;
}

/* A call-stack slot, or NULL when none can be had (stacks are then lost,
 * not the block). */
static ar_heap_frames_t *ar_heap_tracking__take_frames(ar_heap_shard_t *shard)
{
    if (shard->frames_pool == NULL) {
        ar_heap_frames_t *chunk = ar_heap_os__map(AR_HEAP_POOL_CHUNK_MIN);
        if (chunk == NULL)
            return NULL;
        for (size_t i = AR_HEAP_POOL_CHUNK_MIN / sizeof *chunk; i-- > 0;) {
            chunk[i].next = shard->frames_pool;
            shard->frames_pool = &chunk[i];
        }
    }
    ar_heap_frames_t *frames = shard->frames_pool;
    shard->frames_pool = frames->next;
    return frames;
}

/*
 * A record going back to the pool gives back its call-stack slot. (A copy
 * of the record taken for a report may still point at the slot; it is
 * reused only after thousands more frees, and its memory stays mapped.)
 */
static void ar_heap_tracking__give_spare(ar_heap_shard_t *shard, ar_heap_record_t *record)
{
    if (record->frames != NULL) {
        record->frames->next = shard->frames_pool;
        shard->frames_pool = record->frames;
        record->frames = NULL;
    }
    record->state = AR_HEAP_STATE_UNUSED;
    record->next = shard->pool;
    shard->pool = record;
}

int ar_heap_tracking__insert(const ar_heap_record_t *filled, const ar_heap_stack_t *stack)
{
    uint64_t hash = ar_heap_tracking__hash(filled->user);
    ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
    pthread_mutex_lock(&shard->lock);
    if (shard->bucket_count == 0 && !ar_heap_tracking__rehash(shard, AR_HEAP_INITIAL_BUCKETS)) {
        pthread_mutex_unlock(&shard->lock);
        return 0;
    }
    /* Keep the load factor at most 1; a failed growth only costs speed. */
    if (shard->chained >= shard->bucket_count)
        (void)ar_heap_tracking__rehash(shard, shard->bucket_count * 2);
    ar_heap_record_t *record = ar_heap_tracking__take_spare(shard);
    if (record == NULL) {
        pthread_mutex_unlock(&shard->lock);
        return 0;
    }
    *record = *filled;
    record->state = AR_HEAP_STATE_LIVE;
    if (stack->depth > 0 && (record->frames = ar_heap_tracking__take_frames(shard)) != NULL) {
        record->alloc_depth = (uint8_t)stack->depth;
        memcpy(record->frames->alloc, stack->frames, stack->depth * sizeof stack->frames[0]);
    }
    size_t b = ar_heap_tracking__bucket(shard, hash);
    record->next = shard->buckets[b];
    shard->buckets[b] = record;
    shard->chained++;
    shard->live_blocks++;
    shard->live_bytes += record->size;
    shard->total_allocations++;
    shard->total_bytes += record->size;
    ar_heap_stats__add_live(record->size);
    pthread_mutex_unlock(&shard->lock);
    return 1;
}

/* Append a freed record to the shard's history, evicting the oldest ones
 * beyond the shard's share of the freed_history option. */
static void ar_heap_tracking__remember(ar_heap_shard_t *shard, ar_heap_record_t *record)
{
    size_t capacity = (ar_heap_options.freed_history + AR_HEAP_SHARDS - 1) / AR_HEAP_SHARDS;
    record->next = NULL;
    if (shard->history_tail != NULL)
        shard->history_tail->next = record;
    else
        shard->history_head = record;
    shard->history_tail = record;
    shard->history_count++;
    while (shard->history_count > capacity) {
        ar_heap_record_t *oldest = shard->history_head;
        shard->history_head = oldest->next;
        if (shard->history_head == NULL)
            shard->history_tail = NULL;
        shard->history_count--;
        ar_heap_tracking__give_spare(shard, oldest);
    }
}

/* The link that points at the chained record of `user`, or at NULL. */
static ar_heap_record_t **ar_heap_tracking__link(ar_heap_shard_t *shard, uint64_t hash,
                                                 uintptr_t user)
{
    ar_heap_record_t **link = &shard->buckets[ar_heap_tracking__bucket(shard, hash)];
    while (*link != NULL && (*link)->user != user)
        link = &(*link)->next;
    return link;
}

/* Note a damaged block in the result, copying its record. */
static void ar_heap_tracking__note(ar_heap_free_result_t *result, const ar_heap_record_t *record,
                                   const ar_heap_damage_t *damage, int evicted)
{
    if (result->finding_count < AR_HEAP_FINDINGS_MAX) {
        result->findings[result->finding_count].record = *record;
        result->findings[result->finding_count].damage = *damage;
        result->findings[result->finding_count].evicted = evicted;
    }
    result->finding_count++;
}

/* Unchain the record at *link and keep it in the freed history. */
static void ar_heap_tracking__retire(ar_heap_shard_t *shard, ar_heap_record_t **link)
{
    ar_heap_record_t *record = *link;
    *link = record->next;
    shard->chained--;
    record->state = AR_HEAP_STATE_FREED;
    ar_heap_tracking__remember(shard, record);
}

/* Retire blocks that left the quarantine (a qnext list): under each one's
 * shard lock, check its poison and canaries, move its record to the freed
 * history and release its memory. */
static void ar_heap_tracking__evict(ar_heap_record_t *list, ar_heap_free_result_t *result)
{
    while (list != NULL) {
        ar_heap_record_t *old = list;
        list = old->qnext;
        uint64_t hash = ar_heap_tracking__hash(old->user);
        ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
        pthread_mutex_lock(&shard->lock);
        /* The block's bucket is cold; load it while the poison is checked,
         * not after, when the record is unchained. */
        __builtin_prefetch(&shard->buckets[ar_heap_tracking__bucket(shard, hash)], 0, 3);
        ar_heap_damage_t damage[2];
        if (ar_heap_quarantine__check_poison(old, &damage[0]))
            ar_heap_tracking__note(result, old, &damage[0], 1);
        size_t n = ar_heap_canary__check(old, damage, 2);
        for (size_t i = 0; i < n; i++)
            ar_heap_tracking__note(result, old, &damage[i], 1);
        void *base = old->base;
        size_t total = old->total;
        unsigned flags = old->flags;
        if (n > 0)
            old->flags |= AR_HEAP_BLOCK_DAMAGED;
        int keep = (old->flags & AR_HEAP_BLOCK_DAMAGED) != 0;
        ar_heap_tracking__retire(shard, ar_heap_tracking__link(shard, hash, old->user));
        pthread_mutex_unlock(&shard->lock);
        if (!keep)
            ar_heap_block__release(base, total, flags);
    }
}

void ar_heap_tracking__free(uintptr_t user, const ar_heap_site_t *site,
                            const ar_heap_stack_t *stack, ar_heap_free_result_t *result)
{
    result->freed = 0;
    result->quarantined = 0;
    result->release = NULL;
    result->finding_count = 0;
    /* On a large heap the block's memory is cold, and what comes next
     * reads the bytes just before `user`: the head canary, or libc's
     * chunk header when free() releases the block. Start loading them now
     * so that the wait overlaps the table's (also cold) lookup: the line of
     * user - 24 (the chunk header of a block with canaries) and of user - 1
     * (the head canary, or the header of a block without). */
    __builtin_prefetch((const void *)(user - 24), 0, 3);
    __builtin_prefetch((const void *)(user - 1), 0, 3);
    uint64_t hash = ar_heap_tracking__hash(user);
    ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
    pthread_mutex_lock(&shard->lock);
    if (shard->bucket_count == 0) {
        pthread_mutex_unlock(&shard->lock);
        return;
    }
    ar_heap_record_t **link = ar_heap_tracking__link(shard, hash, user);
    ar_heap_record_t *record = *link;
    if (record == NULL) {
        pthread_mutex_unlock(&shard->lock);
        return;
    }
    if (record->state == AR_HEAP_STATE_QUARANTINED) {
        result->quarantined = 1;
        result->previous = *record;
        pthread_mutex_unlock(&shard->lock);
        return;
    }
    ar_heap_damage_t damage[2];
    size_t n = ar_heap_canary__check(record, damage, 2);
    for (size_t i = 0; i < n; i++)
        ar_heap_tracking__note(result, record, &damage[i], 0);
    if (n > 0) {
        ar_heap_canary__write(record); /* reported now, not again later */
        record->flags |= AR_HEAP_BLOCK_DAMAGED;
    }
    shard->live_blocks--;
    shard->live_bytes -= record->size;
    ar_heap_stats__sub_live(record->size);
    record->free_site = *site;
    if (stack->depth > 0 && record->frames == NULL)
        record->frames = ar_heap_tracking__take_frames(shard);
    if (stack->depth > 0 && record->frames != NULL) {
        record->free_depth = (uint8_t)stack->depth;
        memcpy(record->frames->free, stack->frames, stack->depth * sizeof stack->frames[0]);
    }
    result->freed = 1;
    ar_heap_record_t *evicted = NULL;
    if (ar_heap_options.quarantine_bytes > 0) {
        record->state = AR_HEAP_STATE_QUARANTINED;
        evicted = ar_heap_quarantine__push(record, ar_heap_options.quarantine_bytes);
    } else {
        /* The caller releases after reporting; a damaged block never. */
        result->release = (record->flags & AR_HEAP_BLOCK_DAMAGED) ? NULL : record->base;
        result->release_total = record->total;
        result->release_flags = record->flags;
        ar_heap_valgrind__freed(record);
        ar_heap_tracking__retire(shard, link);
    }
    pthread_mutex_unlock(&shard->lock);
    if (ar_heap_options.quarantine_bytes == 0)
        evicted = ar_heap_quarantine__trim(0); /* the budget was lowered to 0 */
    ar_heap_tracking__evict(evicted, result);
}

int ar_heap_tracking__find_live(uintptr_t user, ar_heap_record_t *out)
{
    uint64_t hash = ar_heap_tracking__hash(user);
    ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
    int found = 0;
    pthread_mutex_lock(&shard->lock);
    if (shard->bucket_count != 0) {
        const ar_heap_record_t *record = *ar_heap_tracking__link(shard, hash, user);
        if (record != NULL && record->state == AR_HEAP_STATE_LIVE) {
            *out = *record;
            found = 1;
        }
    }
    pthread_mutex_unlock(&shard->lock);
    return found;
}

/* With the shard locked: the newest freed-history record of `user`.
 * The FIFO runs oldest to newest, so the last match wins. */
static int ar_heap_tracking__newest_freed_locked(const ar_heap_shard_t *shard, uintptr_t user,
                                                 ar_heap_record_t *out)
{
    int found = 0;
    for (const ar_heap_record_t *r = shard->history_head; r != NULL; r = r->next) {
        if (r->user == user) {
            *out = *r;
            found = 1;
        }
    }
    return found;
}

int ar_heap_tracking__set_flag(uintptr_t user, uint8_t flag)
{
    uint64_t hash = ar_heap_tracking__hash(user);
    ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
    int found = 0;
    pthread_mutex_lock(&shard->lock);
    if (shard->bucket_count != 0) {
        ar_heap_record_t *record = *ar_heap_tracking__link(shard, hash, user);
        if (record != NULL && record->state == AR_HEAP_STATE_LIVE) {
            record->flags |= flag;
            found = 1;
        }
    }
    pthread_mutex_unlock(&shard->lock);
    return found;
}

int ar_heap_tracking__find_freed(uintptr_t user, ar_heap_record_t *out)
{
    uint64_t hash = ar_heap_tracking__hash(user);
    ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
    int found = 0;
    pthread_mutex_lock(&shard->lock);
    if (shard->bucket_count != 0) {
        const ar_heap_record_t *held = *ar_heap_tracking__link(shard, hash, user);
        if (held != NULL && held->state == AR_HEAP_STATE_QUARANTINED) {
            *out = *held;
            found = 1;
        }
    }
    if (!found)
        found = ar_heap_tracking__newest_freed_locked(shard, user, out);
    pthread_mutex_unlock(&shard->lock);
    return found;
}

/* Tries of the shard lock from the fault handler before giving up. */
#define AR_HEAP_FAULT_LOCK_TRIES 100000

int ar_heap_tracking__find_for_fault(uintptr_t user, ar_heap_record_t *out)
{
    uint64_t hash = ar_heap_tracking__hash(user);
    ar_heap_shard_t *shard = ar_heap_tracking__shard(hash);
    int locked = 0;
    for (unsigned i = 0; i < AR_HEAP_FAULT_LOCK_TRIES && !locked; i++)
        locked = pthread_mutex_trylock(&shard->lock) == 0;
    if (!locked)
        return 0; /* held by this very thread, or for too long: report without it */
    int found = 0;
    if (shard->bucket_count != 0) {
        const ar_heap_record_t *chained = *ar_heap_tracking__link(shard, hash, user);
        if (chained != NULL) {
            *out = *chained;
            found = 1;
        }
    }
    if (!found)
        found = ar_heap_tracking__newest_freed_locked(shard, user, out);
    pthread_mutex_unlock(&shard->lock);
    return found;
}

typedef struct ar_heap_containing_s {
    uintptr_t addr;
    int found;
    ar_heap_record_t *out;
} ar_heap_containing_t;

static void ar_heap_tracking__match_containing(const ar_heap_record_t *record, void *arg)
{
    ar_heap_containing_t *search = arg;
    /* [user, user + size]: one past the end counts as inside, since such a
     * pointer can only have come from this block. */
    if (!search->found && search->addr >= record->user &&
        search->addr - record->user <= record->size) {
        *search->out = *record;
        search->found = 1;
    }
}

int ar_heap_tracking__find_containing(uintptr_t addr, ar_heap_record_t *out)
{
    ar_heap_containing_t search = { addr, 0, out };
    ar_heap_tracking__lock_all();
    ar_heap_tracking__each_live_locked(ar_heap_tracking__match_containing, &search);
    ar_heap_tracking__unlock_all();
    return search.found;
}

void ar_heap_tracking__each_live_locked(ar_heap_record_fn fn, void *arg)
{
    for (unsigned s = 0; s < AR_HEAP_SHARDS; s++) {
        const ar_heap_shard_t *shard = &tracking.shards[s];
        for (size_t b = 0; b < shard->bucket_count; b++)
            for (const ar_heap_record_t *r = shard->buckets[b]; r != NULL; r = r->next)
                if (r->state == AR_HEAP_STATE_LIVE)
                    fn(r, arg);
    }
}

void ar_heap_tracking__sum_locked(ar_heap_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned s = 0; s < AR_HEAP_SHARDS; s++) {
        const ar_heap_shard_t *shard = &tracking.shards[s];
        out->total_allocations += shard->total_allocations;
        out->live_blocks += shard->live_blocks;
        out->live_bytes += shard->live_bytes;
        out->total_bytes += shard->total_bytes;
    }
    ar_heap_quarantine__held(&out->quarantine_blocks, &out->quarantine_bytes);
}

/* Findings kept by one check_all; more are counted, not shown. */
#define AR_HEAP_CHECK_SHOWN 64

typedef struct ar_heap_check_s {
    ar_heap_finding_t *shown; /* AR_HEAP_CHECK_SHOWN slots, mapped */
    size_t count;             /* damaged blocks found */
    size_t kept;              /* findings stored */
    size_t unshown;           /* damaged blocks left for a later check */
} ar_heap_check_t;

/* Check one block. Damage that fits in the report is noted and repaired
 * (canaries rewritten, poison restored), so each write is reported once;
 * damage beyond what one check reports is left for the next check. */
static void ar_heap_tracking__check_one(ar_heap_record_t *record, ar_heap_check_t *check)
{
    ar_heap_damage_t damage[3];
    size_t n = 0;
    if (record->state == AR_HEAP_STATE_QUARANTINED &&
        ar_heap_quarantine__check_poison(record, &damage[n]))
        n++;
    size_t canaries = ar_heap_canary__check(record, &damage[n], 2);
    if (canaries > 0)
        record->flags |= AR_HEAP_BLOCK_DAMAGED;
    n += canaries;
    if (n == 0)
        return;
    check->count++;
    if (check->shown == NULL || check->kept + n > AR_HEAP_CHECK_SHOWN) {
        check->unshown++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        check->shown[check->kept].record = *record;
        check->shown[check->kept].damage = damage[i];
        check->shown[check->kept].evicted = 0;
        check->kept++;
    }
    ar_heap_canary__write(record);
    if (record->state == AR_HEAP_STATE_QUARANTINED) {
        ar_heap_valgrind__open((void *)record->user, record->size);
        memset((void *)record->user, AR_HEAP_FILL_FREED, record->size);
        ar_heap_valgrind__close((void *)record->user, record->size);
    }
}

size_t ar_heap_tracking__check_all(ar_heap_finding_fn fn, void *arg)
{
    ar_heap_check_t check = { NULL, 0, 0, 0 };
    size_t bytes = AR_HEAP_CHECK_SHOWN * sizeof(ar_heap_finding_t);
    check.shown = ar_heap_os__map(bytes);
    ar_heap_tracking__lock_all();
    for (unsigned s = 0; s < AR_HEAP_SHARDS; s++) {
        const ar_heap_shard_t *shard = &tracking.shards[s];
        for (size_t b = 0; b < shard->bucket_count; b++)
            for (ar_heap_record_t *r = shard->buckets[b]; r != NULL; r = r->next)
                ar_heap_tracking__check_one(r, &check);
    }
    ar_heap_tracking__unlock_all();
    for (size_t i = 0; i < check.kept; i++)
        fn(&check.shown[i], arg);
    ar_heap_report__unshown(check.count, check.count - check.unshown);
    if (check.shown != NULL)
        ar_heap_os__unmap(check.shown, bytes);
    return check.count;
}
