/*
 * depot.c: sites, descriptions and call stacks, each stored once.
 *
 * Why: a block's record must say where it was allocated and freed, what
 * it is ("agent name") and by which calls. Kept in every record, that is
 * some 200 bytes per block, more than most blocks; and a program has few
 * distinct allocation contexts however many blocks it makes. So a context
 * (file, line, return address, description, call stack) is stored once
 * here and a record keeps its 4-byte id, as AddressSanitizer's stack
 * depot does. Entries are never freed: an id, and every pointer into an
 * entry, stays valid for the life of the process, so a report can hold on
 * to what it read.
 *
 * Storage is one reserved mapping, handed out by an atomic bump; the
 * table of hash chains is another. Inserting is lock-free (a compare-and-
 * swap on the chain's head); two threads inserting the same context at
 * once may both store it, which costs a few bytes, not correctness.
 * Each thread first asks its own small cache (ar_heap_thread_t), which
 * answers a repeated context without touching shared memory. A cache
 * entry keeps the context's pointers (file, pc, line, description) and a
 * 64-bit hash of its frames beyond the first; when the description lies
 * in read-only memory (a string literal, the common case) equal pointers
 * are the same context, else the description's text is compared too. (Two
 * stacks whose frames differ but hash alike, a chance of about 2^-64 per
 * pair, would share an entry.)
 *
 * The cache is 256 pairs of entries; a context may be in either entry of
 * its pair, and a context found in neither goes in first place, the one
 * there moving to second. With one entry per context's hash, two contexts
 * that a program takes in turn and that hashed to one entry evicted each
 * other every time: `bench/workloads strdup` preloaded (stack_depth=6)
 * missed the cache on 100 010 of its 1 000 000 lookups, each one through
 * this file's slow path, about 360 instructions with the hash, the
 * recall and the refill: 5.2% of the run's instructions. With the pairs
 * it misses 5 times, and the run makes 5.5% fewer instructions
 * (Valgrind's callgrind, a build without client requests, `--scale 20`:
 * doc/benchmark-history.md, "Stop 33"). The first entry is asked first,
 * so a context that has its pair to itself costs what it did.
 *
 * The chains hang from two tables. The first entries, those stored in
 * the depot's first AR_HEAP_DEPOT_FIRST_BYTES, go into a table of 1024
 * buckets (4 KiB); the rest into one of 2^20 buckets (4 MiB, reserved, a
 * page charged when first touched). A context's bucket in the large
 * table is anywhere in it, so with one table each new context of a short
 * process touched a page of its own: `bash -c :` preloaded made 49 such
 * page faults, 0.5 to 1 ms of its 7 (bash alone: 4.4 ms). A lookup reads
 * the large table only once the depot has grown past the first bytes,
 * then the first table; a reader that has not yet seen the depot grow may
 * miss an entry of the large table and store the context again, which
 * costs its bytes, as two racing inserts do.
 *
 * Recall. A program of many contexts misses the thread's cache (256 entries
 * at stop 32) most of the time: gcc -O1 -c of 800 functions, preloaded
 * (stack_depth 6), stores 30 500 contexts and made 871 600 lookups past the
 * cache, and each one's first load, the head of its chain in the 4 MiB
 * table, was a miss (82% of the lookup's samples; 5.5% to 6.4% of cc1's). A
 * cache of 1024 entries halved those lookups, of 4096 took them to 158 100,
 * but the cache's entries are 48 bytes (it answers by pointers, with no
 * hashing, for the leaf paths). So a thread that has gone past its cache
 * 1024 times is given a second table of 4096 entries of 16 bytes (64 KiB,
 * mapped, the thread's for good): a context's full 64-bit hash and its id,
 * looked up after the hash is made and before the chains are. Two contexts
 * that hash alike, a chance of about 2^-64 a pair, would share an entry, as
 * two stacks whose frames hash alike already share a cache entry. With it
 * the chains are read 126 700 times on that compile.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <sys/resource.h>
#include "valgrind.h"

#include <string.h>
#include <sys/mman.h>

#define AR_HEAP_DEPOT_BUCKET_BITS 20
#define AR_HEAP_DEPOT_FIRST_BITS 10
#define AR_HEAP_DEPOT_FIRST_BYTES ((size_t)64 << 10)
#define AR_HEAP_DEPOT_BYTES_MAX ((size_t)1 << 32)
#define AR_HEAP_DEPOT_BYTES_MIN ((size_t)16 << 20)
/* The smallest tried when the system refuses the others (a tight
 * address-space limit): a few thousand sites still fit. */
#define AR_HEAP_DEPOT_BYTES_FLOOR ((size_t)1 << 20)
/* Recall: 2^12 entries, made after this many lookups past the cache. */
#define AR_HEAP_DEPOT_RECALL_BITS 12
#define AR_HEAP_DEPOT_RECALL_AFTER 1024u

struct ar_heap_depot_recall_s {
    uint64_t hash; /* the context's full hash (ar_heap_depot__hash) */
    uint32_t id;   /* 0: empty */
    uint32_t unused;
};

char *ar_heap_depot_base;

static struct {
    size_t bytes;
    _Atomic size_t used;
    _Atomic uint32_t *buckets; /* 2^AR_HEAP_DEPOT_BUCKET_BITS chains */
    _Atomic int full_warned;
    _Atomic uint32_t first[1u << AR_HEAP_DEPOT_FIRST_BITS]; /* the first entries' chains */
} depot;

/* The head of the chain of `hash` in the first table or the large one. */
static _Atomic uint32_t *ar_heap_depot__head(uint64_t hash, int first)
{
    return first ? &depot.first[hash >> (64 - AR_HEAP_DEPOT_FIRST_BITS)]
                 : &depot.buckets[hash >> (64 - AR_HEAP_DEPOT_BUCKET_BITS)];
}

/* A read-write mapping that is charged only as it is touched (where the
 * system allows it): the depot's size is a ceiling, not a cost. */
static void *ar_heap_depot__reserve_rw(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void ar_heap_depot__init(int small)
{
    if (ar_heap_depot_base != NULL)
        return;
    depot.buckets = ar_heap_depot__reserve_rw(sizeof(uint32_t) << AR_HEAP_DEPOT_BUCKET_BITS);
    if (depot.buckets == NULL) {
        ar_heap_report__warning("could not reserve address space for the depot of sites and "
                                "call stacks: reports name no sites, descriptions or stacks");
        return;
    }
    size_t most = small ? AR_HEAP_DEPOT_BYTES_MIN * 4 : AR_HEAP_DEPOT_BYTES_MAX;
    /* At most an eighth of an address-space limit (span.c says why). */
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        while (most > AR_HEAP_DEPOT_BYTES_MIN && most > (size_t)(limit.rlim_cur / 8))
            most /= 2;
    for (size_t bytes = most; bytes >= AR_HEAP_DEPOT_BYTES_FLOOR; bytes /= 2) {
        ar_heap_depot_base = ar_heap_depot__reserve_rw(bytes);
        if (ar_heap_depot_base != NULL) {
            depot.bytes = bytes;
            atomic_store_explicit(&depot.used, 8, memory_order_relaxed); /* id 0 is none */
            /* Under Valgrind the unused part is no-access: Memcheck's
             * leak check at the end of every process reads every
             * accessible page, and 64 MiB of them cost each process a
             * third of a second. An entry opens as it is stored. */
            ar_heap_valgrind__close(ar_heap_depot_base, bytes);
            return;
        }
    }
    /* None: every site is then "an unknown site" and every description
     * "(no description)"; said once, and the chains' 4 MiB given back
     * for the heap. Until stop 43 neither: under `ulimit -v 30000` reports
     * named no site without a word, and the chains' mapping, kept, left
     * the heap no room for its first span (every allocation failed). */
    (void)munmap((void *)depot.buckets, sizeof(uint32_t) << AR_HEAP_DEPOT_BUCKET_BITS);
    depot.buckets = NULL;
    ar_heap_report__warning("could not reserve address space for the depot of sites and call "
                            "stacks: reports name no sites, descriptions or stacks");
}


static uint64_t ar_heap_depot__hash(const ar_heap_site_t *site, const char *desc, size_t len,
                                    void *const *frames, size_t depth)
{
    uint64_t h = ar_heap_depot__mix(0x243f6a8885a308d3ULL, (uintptr_t)site->file);
    h = ar_heap_depot__mix(h, (uint64_t)(uint32_t)site->line ^ ((uint64_t)depth << 32));
    h = ar_heap_depot__mix(h, (uintptr_t)site->pc);
    for (size_t i = 0; i < depth; i++)
        h = ar_heap_depot__mix(h, (uintptr_t)frames[i]);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, desc + i, 8);
        h = ar_heap_depot__mix(h, w);
    }
    uint64_t last = len;
    for (; i < len; i++)
        last = (last << 8) | (unsigned char)desc[i];
    return ar_heap_depot__mix(h, last);
}

/* Store a new entry; 0 when the depot is full. */
static uint32_t ar_heap_depot__store(uint64_t hash, const ar_heap_site_t *site, const char *desc,
                                     size_t len, int marked, void *const *frames, size_t depth)
{
    size_t bytes = (sizeof(ar_heap_ctx_t) + depth * sizeof(void *) + len + 1 + 7) & ~(size_t)7;
    size_t at = atomic_fetch_add_explicit(&depot.used, bytes, memory_order_relaxed);
    if (at + bytes > depot.bytes || at / 8 > UINT32_MAX) {
        if (!atomic_exchange_explicit(&depot.full_warned, 1, memory_order_relaxed))
            ar_heap_report__warning("the depot of sites and call stacks is full; new blocks' "
                                    "sites are not kept");
        return 0;
    }
    ar_heap_ctx_t *ctx = (ar_heap_ctx_t *)(void *)(ar_heap_depot_base + at);
    ar_heap_valgrind__open(ctx, bytes);
    ctx->file = site->file;
    ctx->pc = site->pc;
    ctx->line = site->line;
    ctx->hash = hash;
    ctx->depth = (uint16_t)depth;
    ctx->desc_len = (uint16_t)len;
    ctx->marked = (uint32_t)marked;
    if (depth > 0)
        memcpy(ctx->frames, frames, depth * sizeof frames[0]);
    char *text = (char *)(ctx->frames + depth);
    if (len > 0)
        memcpy(text, desc, len); /* desc is NULL for a free's context */
    text[len] = '\0';
    uint32_t id = (uint32_t)(at / 8);
    _Atomic uint32_t *head = ar_heap_depot__head(hash, at < AR_HEAP_DEPOT_FIRST_BYTES);
    uint32_t old = atomic_load_explicit(head, memory_order_relaxed);
    do
        ctx->next = old;
    while (!atomic_compare_exchange_weak_explicit(head, &old, id, memory_order_release,
                                                  memory_order_relaxed));
    return id;
}

/* The id of a context in one chain, or 0. */
static uint32_t ar_heap_depot__find(_Atomic uint32_t *head, uint64_t hash,
                                    const ar_heap_site_t *site, const char *desc,
                                    void *const *frames, size_t depth)
{
    uint32_t id = atomic_load_explicit(head, memory_order_acquire);
    while (id != 0) {
        const ar_heap_ctx_t *ctx = ar_heap_depot__get(id);
        if (ctx->hash == hash && ar_heap_depot__is(ctx, site, desc, frames, depth))
            return id;
        id = ctx->next;
    }
    return 0;
}

/* The recall entry of `hash`, or NULL while the thread has none (made on
 * its AR_HEAP_DEPOT_RECALL_AFTER-th lookup past its cache). */
static struct ar_heap_depot_recall_s *ar_heap_depot__recall(ar_heap_thread_t *self, uint64_t hash)
{
    if (AR_HEAP_UNLIKELY(self->depot_recall == NULL)) {
        if (self->depot_misses == UINT32_MAX || ++self->depot_misses < AR_HEAP_DEPOT_RECALL_AFTER)
            return NULL;
        self->depot_recall =
            ar_heap_os__map(sizeof(struct ar_heap_depot_recall_s) << AR_HEAP_DEPOT_RECALL_BITS);
        if (self->depot_recall == NULL) {
            self->depot_misses = UINT32_MAX; /* no memory: not asked again */
            return NULL;
        }
    }
    return &self->depot_recall[hash >> (64 - AR_HEAP_DEPOT_RECALL_BITS)];
}

uint32_t ar_heap_depot__intern_slow(ar_heap_thread_t *self, unsigned c,
                                    const ar_heap_site_t *site, const char *desc,
                                    void *const *frames, size_t depth)
{
    if (ar_heap_depot_base == NULL)
        return 0;
#if AR_HEAP_PRELOAD
    /* The preload library's cache compares no file, line or call object
     * (AR_HEAP_SITE_SAME_PLACE): right while every site in it is a
     * wrapper's (preload.c, AR_PRELOAD_SITE). A site with any of them
     * would share cache entries with a wrapper's of the same pc, and its
     * blocks' reports would name the wrong file and line. Its first
     * lookup in a thread comes here, unless a wrapper's site of the same
     * pc, description and frames is in the cache: such a site is a
     * defect of this library, stopped at once (tests/preload/sites.sh
     * builds one). The cache's hits do not pay for the compares. */
    if (AR_HEAP_UNLIKELY(site->file != NULL || site->line != 0 || site->call != NULL)) {
        ar_heap_report__warning("internal error: a site of the preload library has a file, a "
                                "line or a call object, which its depot cache does not "
                                "compare; aborting");
        abort();
    }
#endif
    size_t len = desc != NULL ? strnlen(desc, AR_HEAP_DESC_CAPACITY - 1) : 0;
    int marked = len == AR_HEAP_DESC_CAPACITY - 1 && ar_heap_depot__marked_past_cut(desc);
    uint64_t hash = ar_heap_depot__hash(site, desc, len, frames, depth) ^ (uint64_t)marked;
    struct ar_heap_depot_recall_s *recall = ar_heap_depot__recall(self, hash);
    uint32_t id = recall != NULL && recall->hash == hash ? recall->id : 0;
    if (id == 0 &&
        atomic_load_explicit(&depot.used, memory_order_relaxed) > AR_HEAP_DEPOT_FIRST_BYTES)
        id = ar_heap_depot__find(ar_heap_depot__head(hash, 0), hash, site, desc, frames, depth);
    if (id == 0)
        id = ar_heap_depot__find(ar_heap_depot__head(hash, 1), hash, site, desc, frames, depth);
    if (id == 0)
        id = ar_heap_depot__store(hash, site, desc, len, marked, frames, depth);
    if (recall != NULL && id != 0) {
        recall->hash = hash;
        recall->id = id;
    }
    if (id != 0) {
        /* The newest first; the pair's first entry moves to second place. */
        struct ar_heap_depot_memo_s *m = self->depot_cache[c];
        m[1] = m[0];
        m->file = site->file;
        m->pc = site->pc;
        m->desc = desc;
        m->line = site->line;
        m->frames = depth > 1 ? ar_heap_depot__frames_hash(frames, depth) : depth;
        m->fixed = desc == NULL || ar_heap_os__is_readonly(desc);
        m->id = id;
        m->lean = m->fixed && m->frames == 0 ? id : 0;
        if (AR_HEAP_SITE_HAS_CALL(site) && m->lean != 0)
            ar_heap_depot__call_remember(site, id);
    }
    return id;
}

void ar_heap_depot__call_remember(const ar_heap_site_t *site, uint32_t id)
{
    const void *none = NULL;
    ar_heap_call_site_t *call = site->call;
    if (__atomic_load_n(&call->memo_pc, __ATOMIC_RELAXED) == NULL &&
        __atomic_compare_exchange_n(&call->memo_pc, &none, site->pc, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        __atomic_store_n(&call->memo_id, id, __ATOMIC_RELEASE);
}
