/*
 * span.c: where blocks' memory comes from, and how a block's record is
 * found from its address.
 *
 * Why not libc's malloc underneath: a checker on top of libc must keep
 * its own index from addresses to records (a hash table: a lookup, a lock
 * and a cache miss per free), cannot choose which freed memory comes back
 * next, and pays libc's work as well as its own. Here the backend is
 * arheap's own, laid out so that the record of any address is found by
 * arithmetic and every thread allocates without a lock.
 *
 * The region. One large range of address space is reserved at start
 * (PROT_NONE, no memory) and cut into 64 KiB units. A table beside it,
 * one pointer per unit, names the span that covers each unit; it is
 * written once per span, under the region lock, and read without one.
 *
 *   region: |span A (class 48 B)|span B (class 4 KiB)      |span C (huge)|...
 *   units:  |  A |  A  |  A  |  A  | B | B | B | ...     | C | C | C ...
 *
 * Spans. A span is a run of equal slots of one size class, owned by the
 * thread that made it: only the owner allocates from it, so allocation
 * needs no lock. A slot's index is (address - start) / stride, done as one
 * multiplication (span.magic); its record is recs[index], in a mapping of
 * the span's own, out of reach of the program's writes:
 *
 *   span:  start                                      start + slots*stride
 *          |slot 0      |slot 1      |slot 2      | ... 
 *          |H|user |T.. |H|user   |T.|            |
 *   meta:  recs[0] recs[1] recs[2] ...  free_stack[]
 *
 * Descriptors are packed end to end with their arrays, so they start on
 * any of the 64 cache lines of a page (their colour), and two made one
 * after the other never on the same: page-aligned descriptors, read on
 * every allocation and free, would all fall in the same sets of the L1
 * cache (which picks a set by the address bits below the page size) and
 * evict one another once a program uses more size classes than the
 * cache has ways. Its first line holds what any
 * thread's free reads (start, stride, magic, records, owner, class) and
 * is written only when the span is made; the owner's free-stack top and
 * fresh count, written at every allocation, start the next line: another
 * thread's free of a block does not take away the line the owner
 * allocates from.
 *
 * Slots come from the span's free stack (indexes of released slots, last
 * released first: a block freed with the quarantine off is reused while
 * it is still in the cache) or, when it is empty, from the never-used
 * slots at `fresh`. A slot released by a thread that does not own the
 * span goes back to the owner in a chunk of such slots (Returns, below);
 * until the chunk is full the releasing thread may take the slot back
 * itself before it makes a new span.
 *
 * Size classes: slot strides of 16 to 1024 bytes in steps of 16, then
 * eight per doubling up to 1 MiB (at most 12.5% of a slot unused, and
 * never touched: the tail canary ends 16 to 31 bytes past the block).
 * Larger blocks get a huge span of their own, whose memory goes back to
 * the system when the block is released; its units are kept for the next
 * huge block of no more than twice the size.
 *
 * Memory: a span's pages are committed when it is made (one mmap over
 * reserved address space; neighbouring spans merge into one kernel
 * mapping), but a page costs memory only once touched, and slots are
 * touched in order. Spans keep their address range; their slots are
 * reused, and the memory of a span that holds no block goes back to the
 * system once a thread has more than 4 MiB of such spans (Emptied spans,
 * below).
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

/* Address space reserved, tried from the largest down: at most a quarter
 * of an address-space limit (RLIMIT_AS, `ulimit -v`), which a reservation
 * counts against however little of it is touched. Until stop 41 the
 * smallest tried was 1 GiB and the limit was not asked: under
 * `ulimit -v 900000` every allocation failed. */
#define AR_HEAP_REGION_MAX ((size_t)64 << 30)
#define AR_HEAP_REGION_MIN ((size_t)16 << 20)
/* Under Valgrind, which keeps state for every mapped range. */
#define AR_HEAP_REGION_SMALL ((size_t)4 << 30)
/* Slots a span holds at least (64 KiB of them at least), where the
 * region is large enough: no class span is over this part of it
 * (ar_heap_span__new). */
#define AR_HEAP_SPAN_MIN_SLOTS 16
#define AR_HEAP_SPAN_REGION_SHARE 64

/* The lookup part, read by the inline functions of ar_heap_internal.h. */
ar_heap_region_t ar_heap_region;

static struct {
    size_t unit_count;
    pthread_mutex_t lock;             /* bump, free huge spans, the span list */
    size_t bump;                      /* units handed out so far */
    size_t committed;                 /* units committed so far (>= bump) */
    ar_heap_span_t *huge_free;        /* released huge spans, their pages discarded */
    ar_heap_span_t *huge_spare;       /* descriptors over no unit (Huge spans) */
    _Atomic(ar_heap_span_t *) all;    /* every span, newest first */
    uint32_t strides[AR_HEAP_CLASSES];
} region = { 0, PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, NULL, NULL, { 0 } };

/* ------------------------------------------------------------ classes */

static size_t ar_heap_span__class_stride(unsigned klass)
{
    if (klass < 64)
        return ((size_t)klass + 1) * 16;
    unsigned b = (klass - 64) / 8 + 10;
    unsigned sub = (klass - 64) % 8;
    return ((size_t)8 + sub + 1) << (b - 3);
}

void ar_heap_span__init(int small)
{
    if (ar_heap_region.start != 0)
        return;
    for (unsigned c = 0; c < AR_HEAP_CLASSES; c++)
        region.strides[c] = (uint32_t)ar_heap_span__class_stride(c);
    size_t most = small ? AR_HEAP_REGION_SMALL : AR_HEAP_REGION_MAX;
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        while (most > AR_HEAP_REGION_MIN && most > (size_t)(limit.rlim_cur / 4))
            most /= 2;
    for (size_t bytes = most; bytes >= AR_HEAP_REGION_MIN; bytes /= 2) {
        /* One unit more, to align the start to a unit. */
        void *raw = ar_heap_os__reserve(bytes + AR_HEAP_UNIT);
        if (raw == NULL)
            continue;
        size_t count = bytes >> AR_HEAP_UNIT_SHIFT;
        void *table = ar_heap_os__reserve(count * sizeof(void *));
        if (table == NULL || !ar_heap_os__commit(table, count * sizeof(void *))) {
            ar_heap_os__unmap(raw, bytes + AR_HEAP_UNIT);
            continue;
        }
        ar_heap_region.units = table;
        region.unit_count = count;
        ar_heap_region.start = ((uintptr_t)raw + AR_HEAP_UNIT - 1) & ~(uintptr_t)(AR_HEAP_UNIT - 1);
        ar_heap_region.end = ar_heap_region.start + bytes;
        return;
    }
    ar_heap_report__warning("could not reserve address space for the heap; every "
                            "allocation will fail");
}

ar_heap_span_t *ar_heap_span__first(void)
{
    return atomic_load_explicit(&region.all, memory_order_acquire);
}

/* ------------------------------------------------------------ making spans */

/* Units committed at once, at least: a span of a small class takes one,
 * and a commit is a system call (`bash -c :` preloaded made 20 of them,
 * one for each size class it used). Committed memory is charged to the
 * commit limit, not to the resident set, until it is touched. */
#define AR_HEAP_COMMIT_AHEAD 16u

/* With the lock held: `units` units of address space, committed. */
static uintptr_t ar_heap_span__take_units(size_t units)
{
    if (units > region.unit_count - region.bump)
        return 0;
    uintptr_t start = ar_heap_region.start + (region.bump << AR_HEAP_UNIT_SHIFT);
    if (region.bump + units > region.committed) {
        size_t need = region.bump + units - region.committed;
        size_t ahead = need > AR_HEAP_COMMIT_AHEAD ? need : AR_HEAP_COMMIT_AHEAD;
        if (ahead > region.unit_count - region.committed)
            ahead = region.unit_count - region.committed;
        uintptr_t at = ar_heap_region.start + (region.committed << AR_HEAP_UNIT_SHIFT);
        /* Near the commit limit: no more than the span needs. */
        if (!ar_heap_os__commit((void *)at, ahead << AR_HEAP_UNIT_SHIFT)) {
            ahead = need;
            if (!ar_heap_os__commit((void *)at, need << AR_HEAP_UNIT_SHIFT))
                return 0;
        }
        region.committed += ahead;
    }
    region.bump += units;
    return start;
}

/* With the lock held: publish a span over its units and in the list. */
static void ar_heap_span__publish(ar_heap_span_t *span)
{
    size_t first = (span->start - ar_heap_region.start) >> AR_HEAP_UNIT_SHIFT;
    for (size_t u = 0; u < span->units; u++)
        atomic_store_explicit(&ar_heap_region.units[first + u], span, memory_order_release);
    span->next_all = atomic_load_explicit(&region.all, memory_order_relaxed);
    atomic_store_explicit(&region.all, span, memory_order_release);
}

/* Span metadata (the descriptor, its records and free stack, and under
 * Valgrind its array of users) is packed end to end, under the region
 * lock, in mappings of AR_HEAP_META_CHUNK bytes (or one meta's size),
 * never given back: a page costs memory only once touched, and a span's
 * records are touched in order. One mapping per span cost each span its
 * partly used first and last pages: 2 MiB of `small`'s peak RSS. */
#define AR_HEAP_META_CHUNK ((size_t)1 << 20)

static struct {
    char *next, *end;     /* the room left in the current mapping */
    char *last;           /* the last meta handed out (undone on failure) */
    unsigned last_colour; /* the last descriptor's line in its page */
    _Atomic int warned;   /* a refused mapping said once */
} meta_arena;

/* The line of its page a descriptor starts on (its colour). */
static inline unsigned ar_heap_span__colour(const void *at)
{
    return (unsigned)((uintptr_t)at >> 6) & 63u;
}

/* With the region lock held: a span descriptor and its arrays. Two
 * descriptors made one after the other never share a colour (see the
 * top of this file): a descriptor that would is moved one line on. */
static ar_heap_span_t *ar_heap_span__meta(uint32_t slots)
{
    size_t bytes = sizeof(ar_heap_span_t) + (size_t)slots * sizeof(ar_heap_rec_t) +
                   (size_t)slots * sizeof(uint32_t);
    int valgrind = ar_heap_valgrind__running();
    if (valgrind)
        bytes = (bytes + 7) / 8 * 8 + (size_t)slots * sizeof(void *);
    bytes = (bytes + 63) / 64 * 64;
    if ((size_t)(meta_arena.end - meta_arena.next) < bytes + 64) {
        size_t size = bytes + 64 > AR_HEAP_META_CHUNK ? bytes + 64 : AR_HEAP_META_CHUNK;
        char *chunk = ar_heap_os__map(size);
        if (chunk == NULL && size > bytes + 64) {
            /* A tight address-space limit: this span's own size only. */
            size = bytes + 64;
            chunk = ar_heap_os__map(size);
        }
        if (chunk == NULL) {
            /* Said once: until stop 43 every allocation failed here in
             * silence (`ulimit -v 25000`). */
            if (!atomic_exchange_explicit(&meta_arena.warned, 1, memory_order_relaxed))
                ar_heap_report__warning("could not map memory for the heap's bookkeeping: "
                                        "allocations fail with ENOMEM");
            return NULL;
        }
        meta_arena.next = chunk;
        meta_arena.end = chunk + size;
    }
    char *at = meta_arena.next;
    if (ar_heap_span__colour(at) == meta_arena.last_colour)
        at += 64;
    meta_arena.last = meta_arena.next;
    meta_arena.last_colour = ar_heap_span__colour(at);
    meta_arena.next = at + bytes;
    ar_heap_span_t *span = (ar_heap_span_t *)(void *)at;
    span->slots = slots;
    span->recs = (ar_heap_rec_t *)(void *)((char *)span + sizeof *span);
    span->free_stack = (uint32_t *)(void *)(span->recs + slots);
    span->valgrind_users =
        valgrind ? (void **)(void *)(((uintptr_t)(span->free_stack + slots) + 7) & ~(uintptr_t)7)
                 : NULL;
    return span;
}

/* With the region lock held: the span just made is not used after all. */
static void ar_heap_span__meta_undo(ar_heap_span_t *span)
{
    memset(span, 0, sizeof *span); /* the arrays were not written: fresh, as expected */
    meta_arena.next = meta_arena.last;
}

static uint64_t ar_heap_span__magic(size_t stride)
{
    /* ceil(2^64 / stride); exact division for offsets below 2^32. */
    return (uint64_t)(((unsigned __int128)1 << 64) / stride) + 1;
}

/* With the region lock held: a span of `slots` slots of `stride` bytes,
 * class `klass`, over `units` new units, owned by `self` and published;
 * NULL when metadata or address space ran out (nothing is kept). */
static uintptr_t ar_heap_span__units_from_huge(size_t units);

static ar_heap_span_t *ar_heap_span__make(ar_heap_thread_t *self, size_t units, uint32_t slots,
                                          size_t stride, unsigned klass)
{
    ar_heap_span_t *span = ar_heap_span__meta(slots);
    uintptr_t start = span != NULL ? ar_heap_span__take_units(units) : 0;
    if (span != NULL && start == 0)
        start = ar_heap_span__units_from_huge(units);
    if (start == 0) {
        if (span != NULL)
            ar_heap_span__meta_undo(span);
        return NULL;
    }
    span->start = start;
    span->stride = stride;
    span->magic = ar_heap_span__magic(stride);
    span->units = (uint32_t)units;
    span->klass = (uint16_t)klass;
    span->owner = self;
    ar_heap_span__publish(span);
    return span;
}

/* A new span of class `klass` for `self`. */
static ar_heap_span_t *ar_heap_span__new(ar_heap_thread_t *self, unsigned klass)
{
    size_t stride = region.strides[klass];
    size_t bytes = stride * AR_HEAP_SPAN_MIN_SLOTS;
    /* In a small region (an address-space limit: a quarter of it), no
     * span over a 64th of the region, at least one slot: a span keeps
     * its units for good, and until stop 43 the classes of 64 KiB to 1
     * MiB, at 16 slots each (16 MiB near 1 MiB), took a 128 MiB region
     * whole as one block grew through them, with one slot in each used.
     * In the usual 64 GiB region the cap (1 GiB) is never reached. */
    size_t cap = (region.unit_count << AR_HEAP_UNIT_SHIFT) / AR_HEAP_SPAN_REGION_SHARE;
    if (bytes > cap)
        bytes = cap > stride ? cap / stride * stride : stride;
    if (bytes < AR_HEAP_UNIT)
        bytes = AR_HEAP_UNIT;
    size_t units = (bytes + AR_HEAP_UNIT - 1) >> AR_HEAP_UNIT_SHIFT;
    uint32_t slots = (uint32_t)((units << AR_HEAP_UNIT_SHIFT) / stride);
    pthread_mutex_lock(&region.lock);
    ar_heap_span_t *span = ar_heap_span__make(self, units, slots, stride, klass);
    pthread_mutex_unlock(&region.lock);
    if (span == NULL)
        return NULL;
    span->next_unfinished = self->refill[klass].unfinished;
    span->in_unfinished = 1;
    self->refill[klass].unfinished = span;
    return span;
}

/*
 * Huge spans. A block over AR_HEAP_CLASS_MAX has a span of its own, whole
 * units. Released (out of the quarantine), its units wait on the
 * region's list for the next huge block, its record kept for reports
 * until then. A huge block takes the released span that fits best, and
 * one larger than it needs is split: the rest is a released span of its
 * own. When none fits, the released spans that touch are made one, and
 * those at the top of the units handed out give them back to the bump
 * (the size classes take them too); only then are new units taken.
 * Until stop 42 a released span served only a block of half its units
 * to all of them, and was never joined, split or given back: a buffer
 * grown by realloc took new address space at every step, and with a
 * 4 GB address-space limit a growth to 32 MiB failed with nothing else
 * live (tests/check_quarantine; the preload victim's small-address-space).
 * A descriptor joined into another or given back is kept, over no unit,
 * for the next huge span (a descriptor stays on the list of all spans for
 * good: walks see it with no slot in use). A span joined into another
 * loses its record, as a reused one does.
 */

static inline size_t ar_heap_span__unit_of(uintptr_t addr)
{
    return (addr - ar_heap_region.start) >> AR_HEAP_UNIT_SHIFT;
}

/* With the lock held: units [first, first + count) name `span` (NULL:
 * none). */
static void ar_heap_span__name_units(ar_heap_span_t *span, size_t first, size_t count)
{
    for (size_t u = 0; u < count; u++)
        atomic_store_explicit(&ar_heap_region.units[first + u], span, memory_order_release);
}

/* With the lock held: a descriptor over no unit any more, kept. */
static void ar_heap_span__retire(ar_heap_span_t *span)
{
    span->fresh = 0; /* walks: no slot in use */
    span->units = 0;
    span->in_huge_free = 0;
    span->recs[0].flags = 0;
    atomic_store_explicit(&span->recs[0].state, AR_HEAP_STATE_UNUSED, memory_order_release);
    span->next_in_class = region.huge_spare;
    region.huge_spare = span;
}

/* With the lock held: a released huge span of `units` units at `start`,
 * with no record, on the list; 0 when no descriptor could be had. */
static int ar_heap_span__free_huge_at(uintptr_t start, size_t units)
{
    ar_heap_span_t *span = region.huge_spare;
    int spare = span != NULL;
    if (spare)
        region.huge_spare = span->next_in_class;
    else if ((span = ar_heap_span__meta(1)) == NULL)
        return 0;
    span->start = start;
    span->stride = units << AR_HEAP_UNIT_SHIFT;
    span->magic = ar_heap_span__magic(span->stride);
    span->units = (uint32_t)units;
    span->klass = AR_HEAP_CLASSES;
    span->owner = NULL;
    span->fresh = 0;
    span->free_top = 0;
    span->in_huge_free = 1;
    span->next_in_class = region.huge_free;
    region.huge_free = span;
    if (spare)
        ar_heap_span__name_units(span, ar_heap_span__unit_of(start), units);
    else
        ar_heap_span__publish(span);
    return 1;
}

/* With the lock held: unlink a released huge span from the list. */
static void ar_heap_span__unlist_huge(ar_heap_span_t *span)
{
    for (ar_heap_span_t **link = &region.huge_free; *link != NULL; link = &(*link)->next_in_class)
        if (*link == span) {
            *link = span->next_in_class;
            span->next_in_class = NULL;
            span->in_huge_free = 0;
            return;
        }
}

/* With the lock held: released huge spans that touch made one, and
 * those that end at the bump given back to it. Whether any was. */
static int ar_heap_span__join_huge(void)
{
    int changed = 0;
    ar_heap_span_t *span = region.huge_free;
    while (span != NULL) {
        size_t first = ar_heap_span__unit_of(span->start);
        size_t end = first + span->units;
        if (end == region.bump) {
            ar_heap_span__unlist_huge(span);
            ar_heap_span__name_units(NULL, first, span->units);
            region.bump = first;
            ar_heap_span__retire(span);
            changed = 1;
            span = region.huge_free; /* another may end at the bump now */
            continue;
        }
        ar_heap_span_t *next = atomic_load_explicit(&ar_heap_region.units[end],
                                                    memory_order_relaxed);
        if (next != NULL && next->in_huge_free &&
            (size_t)span->units + next->units <= UINT32_MAX) {
            ar_heap_span__unlist_huge(next);
            ar_heap_span__name_units(span, end, next->units);
            span->units += next->units;
            ar_heap_span__retire(next);
            changed = 1;
            continue; /* this one may touch the next one now */
        }
        span = span->next_in_class;
    }
    return changed;
}

/* With the lock held: the released huge span that fits `units` best, off
 * the list, split to `units` when larger; NULL when none fits. */
static ar_heap_span_t *ar_heap_span__take_huge(size_t units)
{
    ar_heap_span_t *best = NULL;
    for (ar_heap_span_t *span = region.huge_free; span != NULL; span = span->next_in_class)
        if (span->units >= units && (best == NULL || span->units < best->units))
            best = span;
    if (best == NULL)
        return NULL;
    ar_heap_span__unlist_huge(best);
    if (best->units > units &&
        ar_heap_span__free_huge_at(best->start + (units << AR_HEAP_UNIT_SHIFT),
                                   best->units - units))
        best->units = (uint32_t)units; /* else it serves whole */
    return best;
}

/* With the lock held: `units` units for a new span when the bump has no
 * more: from released huge spans, joined (those at the top give theirs
 * back to the bump) or split; 0 when they have none either. Until
 * stop 42 the units of released huge spans served huge blocks only, and
 * once a huge block had taken the region's last units every small
 * allocation failed, with nothing live. */
static uintptr_t ar_heap_span__units_from_huge(size_t units)
{
    if (!ar_heap_span__join_huge() && region.huge_free == NULL)
        return 0;
    uintptr_t start = ar_heap_span__take_units(units);
    if (start != 0)
        return start;
    ar_heap_span_t *huge = ar_heap_span__take_huge(units);
    if (huge == NULL)
        return 0;
    if (huge->units != units) { /* no descriptor for the rest: back whole */
        huge->in_huge_free = 1;
        huge->next_in_class = region.huge_free;
        region.huge_free = huge;
        return 0;
    }
    start = huge->start;
    ar_heap_span__retire(huge); /* the new span names the units */
    return start;
}

/* A huge span for a slot of `bytes`. */
static ar_heap_span_t *ar_heap_span__new_huge(ar_heap_thread_t *self, size_t bytes)
{
    if (bytes > ar_heap_region.end - ar_heap_region.start)
        return NULL;
    size_t units = (bytes + AR_HEAP_UNIT - 1) >> AR_HEAP_UNIT_SHIFT;
    if (units > UINT32_MAX)
        return NULL;
    pthread_mutex_lock(&region.lock);
    ar_heap_span_t *span = ar_heap_span__take_huge(units);
    if (span == NULL && ar_heap_span__join_huge())
        span = ar_heap_span__take_huge(units);
    if (span != NULL) {
        /* Written under the lock, as a new span's are: a report or a
         * walk that takes it reads the new owner and stride whole. */
        span->owner = self;
        span->stride = bytes;
        span->magic = ar_heap_span__magic(bytes);
        span->fresh = 0;
        span->free_top = 0;
        pthread_mutex_unlock(&region.lock);
        return span;
    }
    uintptr_t start = ar_heap_span__take_units(units);
    if (start != 0 && region.huge_spare != NULL) {
        span = region.huge_spare;
        region.huge_spare = span->next_in_class;
        span->next_in_class = NULL;
        span->start = start;
        span->stride = bytes;
        span->magic = ar_heap_span__magic(bytes);
        span->units = (uint32_t)units;
        span->owner = self;
        span->fresh = 0;
        span->free_top = 0;
        ar_heap_span__name_units(span, ar_heap_span__unit_of(start), units);
    } else if (start != 0) {
        region.bump -= units; /* make takes them again */
        span = ar_heap_span__make(self, units, 1, bytes, AR_HEAP_CLASSES);
    }
    pthread_mutex_unlock(&region.lock);
    return span;
}

/* ------------------------------------------------------------ slots */

/* A released slot of `span`, or UINT32_MAX. */
static uint32_t ar_heap_span__pop_released(ar_heap_span_t *span)
{
    return span->free_top > 0 ? span->free_stack[--span->free_top] : UINT32_MAX;
}

/* A slot index of `span`, or UINT32_MAX when it has none: a released
 * one before one never used. */
static uint32_t ar_heap_span__pop(ar_heap_span_t *span)
{
    uint32_t index = ar_heap_span__pop_released(span);
    if (index == UINT32_MAX && span->fresh < span->slots)
        index = span->fresh++;
    return index;
}

/* The geometric classes (AR_HEAP_SPAN_GEOMETRIC up: slots of more than
 * 1 KiB) hold blocks a program writes in full. Such a class takes a
 * released slot of its own or, failing that, borrows one from the next
 * larger classes, before it touches a slot never used, so that a program
 * churning blocks of many sizes keeps about as much resident as it uses
 * (as a coalescing allocator would), not a slot per size it ever had.
 * At most an eighth of a doubling per class up: 24 classes is at most
 * eight times the size, and never more memory: the slot was touched
 * before, and the block leaves it when freed. Measured (bench/workloads,
 * peak RSS, debug defaults): eight classes up, `large` 95 to 59 MiB,
 * `realloc` 41 to 32 MiB, both faster for the page faults saved; 24
 * instead of 8 (stop 25), `large` 54.4 to 52.2 MiB, `realloc` 27.7 to
 * 27.3, time the same (a slot of one of 32 classes between 64 KiB and
 * 1 MiB waited for a block of at least half its size).
 *
 * The classes of 16-byte steps borrow from the next two (at most 32
 * bytes more): the quarantine hands slots back in batches whose mix of
 * sizes is that of the frees a megabyte ago, so each class has, in turn,
 * more released slots than it needs or none; without the borrowing every
 * class touches memory for its own peak, and the sum of the classes'
 * peaks is more than the peak of their sum. Measured with the defaults,
 * peak RSS: `small` 27.4 to 27.0 MiB, `strdup` 24.4 to 24.2 (3 runs in
 * turn; with the older spans first, ar_heap_span__obtain, 28.6 to 27.0
 * and 25.3 to 24.3; time within the noise, doc/benchmark-history.md,
 * "Stop 23"). A borrowed slot does not become its borrower's current
 * span: that stays a span of the borrower's own class.
 *
 * The released slots are found on each class's partial list, so a class
 * of many full spans is not walked at every allocation. */
#define AR_HEAP_SPAN_BORROW 24u /* classes up: at most eight times the size */
#define AR_HEAP_SPAN_BORROW_SMALL 2u

/* A released slot from the partial lists of `klass` and the next
 * AR_HEAP_SPAN_BORROW classes (a geometric class) or
 * AR_HEAP_SPAN_BORROW_SMALL (a class of 16-byte steps), or UINT32_MAX. */
static uint32_t ar_heap_span__borrow(ar_heap_thread_t *self, unsigned klass,
                                     ar_heap_span_t **where)
{
    unsigned last = klass + AR_HEAP_SPAN_BORROW;
    if (klass < AR_HEAP_SPAN_GEOMETRIC) {
        last = klass + AR_HEAP_SPAN_BORROW_SMALL;
        if (last >= AR_HEAP_SPAN_GEOMETRIC)
            last = AR_HEAP_SPAN_GEOMETRIC - 1;
    }
    for (unsigned c = klass; c <= last && c < AR_HEAP_CLASSES; c++) {
        ar_heap_span_t **head = &self->refill[c].partial;
        while (*head != NULL) {
            ar_heap_span_t *span = *head;
            if (span->free_top > 0) {
                *where = span;
                return span->free_stack[--span->free_top];
            }
            *head = span->next_partial;
            span->next_partial = NULL;
            span->in_partial = 0;
        }
    }
    return UINT32_MAX;
}

/* ------------------------------------------------------------ emptied spans */

/*
 * Emptied spans. A span whose every touched slot has been released again
 * holds no block, only memory, and programs work in phases: a compiler
 * parses, then optimises, and the slots one phase released wait for
 * blocks of their size while the next phase's sizes take new memory
 * (gcc -O1 -c preloaded: 16 MiB of released slots at the end of cc1,
 * 14 of them in spans holding no block, doc/benchmark-history.md,
 * Stop 25). So a span that empties joins its owner's list of emptied
 * spans, and while those count for more than AR_HEAP_SPAN_KEEP_EMPTY
 * bytes the oldest is let go, unless it has been used again since or is
 * its class's current span: life.c checks what its freed blocks left
 * (their poison and canaries will not be there when the slots are used
 * again) and marks their records FREED, its touched pages go back to the
 * system, and its slots count as never used (their records stay until a
 * slot holds a new block, so a second free of one of its blocks is still
 * a double free).
 * The spans a phase keeps reusing empty and fill again within the
 * allowance, so their memory stays (a page fault costs some microseconds
 * on the development machine). A class's current span stays even when
 * its class is no longer used (at most one span a class and thread):
 * letting it go when it came up a second time made bench/workloads
 * large, where a class holds one or two blocks at a time, 2.1 times as
 * long with tracking only (1.3 when it went only if its class had not
 * allocated from it since; doc/benchmark-history.md, Stop 26).
 */
#define AR_HEAP_SPAN_KEEP_EMPTY ((size_t)4 << 20)

/* Let go of the oldest emptied span of `self`'s list. */
static void ar_heap_span__let_go_oldest(ar_heap_thread_t *self)
{
    ar_heap_span_t *span = self->empty_oldest;
    self->empty_oldest = span->next_empty;
    if (self->empty_oldest == NULL)
        self->empty_newest = NULL;
    span->next_empty = NULL;
    span->in_empty = 0;
    self->empty_bytes -= span->empty_bytes;
    if (span->fresh == 0 || span->free_top != span->fresh ||
        self->classes[span->klass].current == span)
        return;
    ar_heap_life__letting_go(span);
    size_t bytes = ((size_t)span->fresh * span->stride + 4095) & ~(size_t)4095;
    ar_heap_os__discard((void *)span->start, bytes);
    span->fresh = 0;
    span->free_top = 0;
    if (!span->in_unfinished) {
        span->in_unfinished = 1;
        span->next_unfinished = self->refill[span->klass].unfinished;
        self->refill[span->klass].unfinished = span;
    }
}

void ar_heap_span__emptied(ar_heap_thread_t *self, ar_heap_span_t *span)
{
    if (span->in_empty || span->klass == AR_HEAP_CLASSES)
        return;
    span->in_empty = 1;
    span->empty_bytes = (uint32_t)((size_t)span->fresh * span->stride);
    span->next_empty = NULL;
    if (self->empty_newest != NULL)
        self->empty_newest->next_empty = span;
    else
        self->empty_oldest = span;
    self->empty_newest = span;
    self->empty_bytes += span->empty_bytes;
    while (self->empty_bytes > AR_HEAP_SPAN_KEEP_EMPTY)
        ar_heap_span__let_go_oldest(self);
}

/* ------------------------------------------------------------ returns */

/*
 * Returns. A slot comes back only to the thread that owns its span: only
 * the owner allocates from a span, without a lock. A thread that releases
 * a slot of another thread's span (a block handed between threads, or a
 * block of another thread's the quarantine hands back: a thread takes
 * out its own blocks, another's only when it holds less than half its
 * share or that thread has stopped freeing) appends it to a chunk it
 * fills alone for that owner, and when the chunk is full pushes it whole
 * onto the owner's inbox with one compare-and-swap, then sets the
 * owner's hint of each size class the chunk holds. The owner
 * takes its whole inbox with one exchange when a class runs out of
 * released slots, and puts each slot on its span's free stack.
 *
 * Why chunks: a slot released one at a time into the owner's span (an
 * atomic OR into a bitmap word, a pending flag, a hint, and the owner's
 * walk of the class's spans to collect them, as before) cost the defaults
 * a fifth of their time with two threads (bench/workloads threads 2: the
 * flag's and the bitmap's lines moved between the threads at every
 * collection). A chunk moves once, for 250 slots.
 *
 * A thread fills chunks for AR_HEAP_RETURN_WAYS owners at once, the one
 * it used last first; a slot for another owner pushes the oldest chunk
 * out, however full (with 4 ways and 8 threads, chunks went out part
 * full, and peak RSS was 65 to 80 MiB against 52). A thread that ends
 * pushes every chunk it began.
 *
 * Taking back. A thread that frees another's blocks and allocates would
 * grow while those slots wait for their owner (and with one quarantine
 * for every thread, a thread that runs ahead of another hands the other's
 * slots back to it while it touches new memory itself:
 * doc/benchmark-history.md, "Peak RSS with threads"). So before it makes
 * a new span, a thread takes slots of the class it needs from the chunks
 * it is filling, then from the inbox of an owner it last sent chunks to
 * that has not taken its inbox since this thread last looked, or whose
 * inbox holds AR_HEAP_TAKE_BACKLOG chunks or more (an owner that runs
 * needs its slots; with 8 threads on 2 cores, taking the whole inbox of
 * every owner made them grow instead, and took 1.5 times as long): at
 * most AR_HEAP_TAKE_SLOTS slots of the class from any of its chunks, kept
 * in this thread's chunk for that owner (where they go back to it in time
 * if unused); the rest goes back. Such a slot's block, freed, is a
 * release into its owner's span again.
 *
 * Chunks are 4 KiB; a thread keeps up to 16 empty ones (those it emptied
 * as an owner serve it as a sender), the rest are in a pool under a leaf
 * lock.
 */
#define AR_HEAP_RCHUNK_BYTES ((size_t)4096)
#define AR_HEAP_RCHUNK_POOL_MAP ((size_t)64 << 10) /* mapped at once */
#define AR_HEAP_RCHUNK_KEEP 16u                   /* empty ones a thread keeps */

typedef struct {
    ar_heap_span_t *span;
    uint32_t index;
    uint32_t klass; /* the span's, kept here for the taking back */
} ar_heap_rslot_t;

typedef struct ar_heap_rchunk_s {
    struct ar_heap_rchunk_s *next;  /* in an inbox or the pool */
    ar_heap_thread_t *owner;        /* whose spans its slots are of */
    uint32_t count;
    uint64_t classes[(AR_HEAP_CLASSES + 63) / 64]; /* the classes of its slots */
    ar_heap_rslot_t slots[];
} ar_heap_rchunk_t;

#define AR_HEAP_RCHUNK_SLOTS \
    ((AR_HEAP_RCHUNK_BYTES - sizeof(ar_heap_rchunk_t)) / sizeof(ar_heap_rslot_t))

static struct {
    pthread_mutex_t lock;
    ar_heap_rchunk_t *spare;
} returns = { PTHREAD_MUTEX_INITIALIZER, NULL };

static inline int ar_heap_span__chunk_has(const ar_heap_rchunk_t *chunk, unsigned klass)
{
    return (chunk->classes[klass / 64] >> (klass % 64)) & 1;
}

/* An empty chunk for `owner`, or NULL when no memory: one `self` kept,
 * else one of the pool. */
static ar_heap_rchunk_t *ar_heap_span__chunk(ar_heap_thread_t *self, ar_heap_thread_t *owner)
{
    ar_heap_rchunk_t *chunk = self->spare_chunks;
    if (chunk != NULL) {
        self->spare_chunks = chunk->next;
        self->spare_count--;
    } else {
        pthread_mutex_lock(&returns.lock);
        if (returns.spare == NULL) {
            char *map = ar_heap_os__map(AR_HEAP_RCHUNK_POOL_MAP);
            for (size_t at = 0; map != NULL && at < AR_HEAP_RCHUNK_POOL_MAP;
                 at += AR_HEAP_RCHUNK_BYTES) {
                ar_heap_rchunk_t *fresh = (ar_heap_rchunk_t *)(void *)(map + at);
                fresh->next = returns.spare;
                returns.spare = fresh;
            }
        }
        chunk = returns.spare;
        if (chunk != NULL)
            returns.spare = chunk->next;
        pthread_mutex_unlock(&returns.lock);
    }
    if (chunk != NULL) {
        chunk->next = NULL;
        chunk->owner = owner;
        chunk->count = 0;
        memset(chunk->classes, 0, sizeof chunk->classes);
    }
    return chunk;
}

/* An emptied chunk: kept by `self` (up to AR_HEAP_RCHUNK_KEEP), else
 * given to the pool. Most threads both send and receive chunks, so the
 * pool's lock is rarely taken. */
static void ar_heap_span__chunk_spare(ar_heap_thread_t *self, ar_heap_rchunk_t *chunk)
{
    if (self->spare_count < AR_HEAP_RCHUNK_KEEP) {
        chunk->next = self->spare_chunks;
        self->spare_chunks = chunk;
        self->spare_count++;
        return;
    }
    pthread_mutex_lock(&returns.lock);
    chunk->next = returns.spare;
    returns.spare = chunk;
    pthread_mutex_unlock(&returns.lock);
}

/* Push a chunk onto its owner's inbox, then set the owner's hints. The
 * hint is stored with release after the push: an owner that reads it set
 * and then fences (acquire) takes an inbox that holds the chunk. */
static void ar_heap_span__push_chunk(ar_heap_rchunk_t *chunk)
{
    /* Read before the push: once pushed, the chunk is the owner's (it may
     * be emptied and reused at once). */
    ar_heap_thread_t *owner = chunk->owner;
    uint64_t classes[sizeof chunk->classes / sizeof chunk->classes[0]];
    memcpy(classes, chunk->classes, sizeof classes);
    chunk->next = atomic_load_explicit(&owner->returned, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&owner->returned, &chunk->next, chunk,
                                                  memory_order_release, memory_order_relaxed)) {
    }
    atomic_fetch_add_explicit(&owner->returned_chunks, 1, memory_order_relaxed);
    /* The push above, then the hints' loads; the owner (ar_heap_span__refill)
     * stores a hint's 0, then loads the inbox. Both fences are sequentially
     * consistent so that one of the two sees the other's write: either the
     * owner finds this chunk or this thread sees the 0 and sets the hint
     * again. With weaker ones both could read the old values (a store may
     * wait in its core's store buffer past a later load), and the hint would
     * stay 0 while the inbox holds the class's slots: the leaf allocation
     * would then take slots never used before them. */
    atomic_thread_fence(memory_order_seq_cst);
    for (size_t w = 0; w < sizeof classes / sizeof classes[0]; w++) {
        for (uint64_t bits = classes[w]; bits != 0; bits &= bits - 1) {
            size_t klass = w * 64 + (size_t)__builtin_ctzll(bits);
            if (atomic_load_explicit(&owner->remote_hint[klass], memory_order_relaxed) == 0)
                atomic_store_explicit(&owner->remote_hint[klass], 1, memory_order_release);
        }
    }
}

/* Push the chunk in `way` of this thread's outgoing ones, close the gap,
 * and remember its owner. */
static void ar_heap_span__send(ar_heap_thread_t *self, unsigned way)
{
    ar_heap_rchunk_t *chunk = self->outgoing[way];
    for (; way < AR_HEAP_RETURN_WAYS - 1; way++)
        self->outgoing[way] = self->outgoing[way + 1];
    self->outgoing[AR_HEAP_RETURN_WAYS - 1] = NULL;
    unsigned at = 0;
    while (at < AR_HEAP_RETURN_WAYS - 1 && self->sent_to[at] != chunk->owner)
        at++;
    unsigned seen = self->sent_to[at] == chunk->owner
                        ? self->sent_seen[at]
                        : atomic_load_explicit(&chunk->owner->inboxes_taken, memory_order_relaxed);
    for (; at > 0; at--) {
        self->sent_to[at] = self->sent_to[at - 1];
        self->sent_seen[at] = self->sent_seen[at - 1];
    }
    self->sent_to[0] = chunk->owner;
    self->sent_seen[0] = seen;
    ar_heap_span__push_chunk(chunk);
}

/* This thread's chunk for `owner`, with room for a slot, made the first
 * of its outgoing ones; NULL when no memory. */
static ar_heap_rchunk_t *ar_heap_span__outgoing(ar_heap_thread_t *self, ar_heap_thread_t *owner)
{
    ar_heap_rchunk_t **outgoing = self->outgoing;
    if (AR_HEAP_LIKELY(outgoing[0] != NULL && outgoing[0]->owner == owner &&
                       outgoing[0]->count < AR_HEAP_RCHUNK_SLOTS))
        return outgoing[0]; /* the common case: the same owner as last time */
    unsigned way = 0;
    while (way < AR_HEAP_RETURN_WAYS && outgoing[way] != NULL && outgoing[way]->owner != owner)
        way++;
    if (way < AR_HEAP_RETURN_WAYS && outgoing[way] != NULL &&
        outgoing[way]->count == AR_HEAP_RCHUNK_SLOTS) {
        /* Filled by taking back (ar_heap_span__take_inbox). */
        ar_heap_span__send(self, way);
        while (way < AR_HEAP_RETURN_WAYS && outgoing[way] != NULL)
            way++;
    }
    ar_heap_rchunk_t *chunk;
    if (way < AR_HEAP_RETURN_WAYS && outgoing[way] != NULL) {
        chunk = outgoing[way];
    } else {
        if (way == AR_HEAP_RETURN_WAYS)
            ar_heap_span__send(self, --way); /* the oldest makes room */
        chunk = ar_heap_span__chunk(self, owner);
        if (chunk == NULL)
            return NULL;
    }
    for (; way > 0; way--)
        outgoing[way] = outgoing[way - 1];
    outgoing[0] = chunk;
    return chunk;
}

/* Append a slot to a chunk that has room. */
static inline void ar_heap_span__chunk_add(ar_heap_rchunk_t *chunk, const ar_heap_rslot_t *slot)
{
    chunk->slots[chunk->count++] = *slot;
    chunk->classes[slot->klass / 64] |= (uint64_t)1 << (slot->klass % 64);
}

/* A slot of another thread's span released by `self`: into the chunk for
 * its owner. 0 when no chunk could be had. */
static int ar_heap_span__return(ar_heap_thread_t *self, ar_heap_span_t *span, uint32_t index)
{
    ar_heap_rchunk_t *chunk = ar_heap_span__outgoing(self, span->owner);
    if (chunk == NULL)
        return 0;
    ar_heap_rslot_t slot = { span, index, span->klass };
    ar_heap_span__chunk_add(chunk, &slot);
    if (chunk->count == AR_HEAP_RCHUNK_SLOTS)
        ar_heap_span__send(self, 0);
    return 1;
}

void ar_heap_span__return_all(ar_heap_thread_t *self)
{
    while (self->outgoing[0] != NULL)
        ar_heap_span__send(self, 0);
}

/* Take this thread's inbox: every returned slot onto its span's free
 * stack (and so the span on its class's partial list). */
static void ar_heap_span__take_returned(ar_heap_thread_t *self)
{
    ar_heap_rchunk_t *chunk = atomic_exchange_explicit(&self->returned, NULL, memory_order_acquire);
    if (chunk == NULL)
        return;
    atomic_store_explicit(&self->returned_chunks, 0, memory_order_relaxed);
    atomic_store_explicit(&self->inboxes_taken,
                          atomic_load_explicit(&self->inboxes_taken, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    while (chunk != NULL) {
        ar_heap_rchunk_t *next = chunk->next;
        for (uint32_t i = 0; i < chunk->count; i++)
            ar_heap_span__push(self, chunk->slots[i].span, chunk->slots[i].index);
        ar_heap_span__chunk_spare(self, chunk);
        chunk = next;
    }
}

/* A slot of class `klass` from the chunks `self` is filling, or
 * UINT32_MAX. */
static uint32_t ar_heap_span__take_outgoing(ar_heap_thread_t *self, unsigned klass,
                                            ar_heap_span_t **where)
{
    for (unsigned way = 0; way < AR_HEAP_RETURN_WAYS && self->outgoing[way] != NULL; way++) {
        ar_heap_rchunk_t *chunk = self->outgoing[way];
        if (!ar_heap_span__chunk_has(chunk, klass))
            continue;
        for (uint32_t i = chunk->count; i-- > 0;) {
            if (chunk->slots[i].klass != klass)
                continue;
            *where = chunk->slots[i].span;
            uint32_t index = chunk->slots[i].index;
            chunk->slots[i] = chunk->slots[--chunk->count];
            return index;
        }
        /* None left of the class. */
        chunk->classes[klass / 64] &= ~((uint64_t)1 << (klass % 64));
    }
    return UINT32_MAX;
}

/* What one taking back moves at most. */
#define AR_HEAP_TAKE_SLOTS 64u
/* An owner whose inbox holds this many chunks (about 4000 slots) is taken
 * back from even while it runs: it has not kept up with what comes back
 * to it. With 8 threads on the 2 cores each runs for a slice at a time,
 * takes its inbox then, and the others' slots waited for it while they
 * made new spans: bench/workloads threads 8, peak RSS 56.4 to 49.8 MiB
 * and 56.6 to 51.2 in two alternating runs (threads 4: 40.5 to 37.2 and
 * 41.2 to 39.7), for 1.08 and 1.04 times the time (the slots taken back
 * are another thread's, colder, and go back to it when freed); 8 and 32
 * chunks gave the same within the noise. Taking back from every owner
 * that has slots of the class: 48.1 MiB, 1.10 times the time. */
#define AR_HEAP_TAKE_BACKLOG 16u

/* Take `owner`'s inbox, move slots of `klass` to this thread's chunk for
 * the owner, and put the rest back. Every chunk is looked at until enough
 * moved, those without the class by their class bits alone (one line
 * each): the inbox of an owner that sits idle grows by every chunk the
 * others return to it, and its newest chunks soon hold none of a class
 * they were taken from (bench/workloads threads 2, when one thread has
 * finished and the other runs on: 220 chunks of 44 000 slots waited
 * while the running thread made 100 new spans, its first four chunks
 * looked at). The list goes back whole with one compare-and-swap when
 * the inbox is still empty (a push meanwhile: its end is found first).
 * Returns whether any moved. */
static int ar_heap_span__take_inbox(ar_heap_thread_t *self, ar_heap_thread_t *owner,
                                    unsigned klass)
{
    ar_heap_rchunk_t *list = atomic_exchange_explicit(&owner->returned, NULL, memory_order_acquire);
    if (list == NULL)
        return 0;
    ar_heap_rchunk_t *mine = ar_heap_span__outgoing(self, owner);
    unsigned moved = 0;
    /* The chunks looked at, emptied ones dropped; `link` ends the kept. */
    ar_heap_rchunk_t **link = &list;
    while (*link != NULL && mine != NULL && moved < AR_HEAP_TAKE_SLOTS &&
           mine->count < AR_HEAP_RCHUNK_SLOTS) {
        ar_heap_rchunk_t *chunk = *link;
        if (ar_heap_span__chunk_has(chunk, klass)) {
            uint32_t kept = 0;
            int left = 0; /* slots of the class kept */
            for (uint32_t i = 0; i < chunk->count; i++) {
                if (chunk->slots[i].klass != klass) {
                    chunk->slots[kept++] = chunk->slots[i];
                } else if (mine->count < AR_HEAP_RCHUNK_SLOTS && moved < AR_HEAP_TAKE_SLOTS) {
                    ar_heap_span__chunk_add(mine, &chunk->slots[i]);
                    moved++;
                } else {
                    chunk->slots[kept++] = chunk->slots[i];
                    left = 1;
                }
            }
            chunk->count = kept;
            if (!left)
                chunk->classes[klass / 64] &= ~((uint64_t)1 << (klass % 64));
        }
        if (chunk->count == 0) {
            *link = chunk->next;
            ar_heap_span__chunk_spare(self, chunk);
        } else {
            link = &chunk->next;
        }
    }
    if (list != NULL) {
        ar_heap_rchunk_t *expected = NULL;
        if (!atomic_compare_exchange_strong_explicit(&owner->returned, &expected, list,
                                                     memory_order_release, memory_order_relaxed)) {
            ar_heap_rchunk_t *last = list;
            while (last->next != NULL)
                last = last->next;
            last->next = expected;
            while (!atomic_compare_exchange_weak_explicit(&owner->returned, &last->next, list,
                                                          memory_order_release,
                                                          memory_order_relaxed)) {
            }
        }
    }
    return moved > 0;
}

/* Before a new span: a slot of `klass` of another thread's span, released
 * by this thread and not used by its owner yet (Taking back, above), or
 * UINT32_MAX. */
static uint32_t ar_heap_span__take_back(ar_heap_thread_t *self, unsigned klass,
                                        ar_heap_span_t **where)
{
    uint32_t index = ar_heap_span__take_outgoing(self, klass, where);
    for (unsigned at = 0; index == UINT32_MAX && at < AR_HEAP_RETURN_WAYS; at++) {
        ar_heap_thread_t *owner = self->sent_to[at];
        if (owner == NULL)
            break;
        if (owner == self ||
            atomic_load_explicit(&owner->remote_hint[klass], memory_order_relaxed) == 0)
            continue;
        unsigned taken = atomic_load_explicit(&owner->inboxes_taken, memory_order_relaxed);
        if (taken != self->sent_seen[at] &&
            atomic_load_explicit(&owner->returned_chunks, memory_order_relaxed) <
                AR_HEAP_TAKE_BACKLOG) {
            /* It took its inbox since this thread last looked: it runs,
             * and needs its slots. */
            self->sent_seen[at] = taken;
            continue;
        }
        if (ar_heap_span__take_inbox(self, owner, klass))
            index = ar_heap_span__take_outgoing(self, klass, where);
    }
    return index;
}

/* Whether a chunk holds the slot. */
static int ar_heap_span__chunk_holds(const ar_heap_rchunk_t *chunk, const ar_heap_span_t *span,
                                     uint32_t index)
{
    for (uint32_t i = 0; i < chunk->count; i++)
        if (chunk->slots[i].span == span && chunk->slots[i].index == index)
            return 1;
    return 0;
}

typedef struct {
    const ar_heap_span_t *span;
    uint32_t index;
    int found;
} ar_heap_span_search_t;

static void ar_heap_span__search_thread(ar_heap_thread_t *t, void *arg)
{
    ar_heap_span_search_t *search = arg;
    for (unsigned way = 0; way < AR_HEAP_RETURN_WAYS && t->outgoing[way] != NULL; way++)
        search->found |= ar_heap_span__chunk_holds(t->outgoing[way], search->span, search->index);
    if (t == search->span->owner)
        for (const ar_heap_rchunk_t *chunk =
                 atomic_load_explicit(&t->returned, memory_order_acquire);
             chunk != NULL; chunk = chunk->next)
            search->found |= ar_heap_span__chunk_holds(chunk, search->span, search->index);
}

int ar_heap_span__returning(const ar_heap_span_t *span, uint32_t index)
{
    ar_heap_span_search_t search = { span, index, 0 };
    ar_heap_thread__each(ar_heap_span__search_thread, &search);
    return search.found;
}

/* A slot never used of a span of the class, made current, or UINT32_MAX.
 * The class's list of such spans drops a span lazily, when it is found
 * with none: each span is looked at once after its last one. */
static uint32_t ar_heap_span__unfinished(ar_heap_thread_t *self, unsigned klass,
                                         ar_heap_span_t **where)
{
    ar_heap_span_t **head = &self->refill[klass].unfinished;
    while (*head != NULL) {
        ar_heap_span_t *span = *head;
        if (span->fresh < span->slots) {
            self->classes[klass].current = span;
            *where = span;
            return span->fresh++;
        }
        *head = span->next_unfinished;
        span->next_unfinished = NULL;
        span->in_unfinished = 0;
    }
    return UINT32_MAX;
}

/* The current span of a class has no slot at hand: find one. Slots
 * other threads returned first join their spans' free stacks (the inbox
 * is taken whole); then a released slot (the current span's, else the
 * class's partial list, and a geometric class's the next classes'), then
 * a slot never used of a span it has, then a slot of another thread's
 * span that this thread released (ar_heap_span__take_back), and only
 * then a new span. */
static uint32_t ar_heap_span__refill(ar_heap_thread_t *self, unsigned klass,
                                     ar_heap_span_t **where)
{
    uint32_t index;
    if (atomic_load_explicit(&self->remote_hint[klass], memory_order_relaxed) != 0) {
        atomic_store_explicit(&self->remote_hint[klass], 0, memory_order_relaxed);
        /* Acquire: pairs with the release store of the hint; sequentially
         * consistent: pairs with the fence after the push of a chunk
         * (ar_heap_span__push_chunk says why). */
        atomic_thread_fence(memory_order_seq_cst);
    }
    if (atomic_load_explicit(&self->returned, memory_order_relaxed) != NULL)
        ar_heap_span__take_returned(self);
    ar_heap_span_t *current = self->classes[klass].current;
    if (klass < AR_HEAP_SPAN_GEOMETRIC && current != NULL && current->free_top > 0) {
        *where = current;
        return ar_heap_span__pop_released(current);
    }
    index = ar_heap_span__borrow(self, klass, where);
    if (index != UINT32_MAX) {
        if (klass < AR_HEAP_SPAN_GEOMETRIC && (*where)->klass == klass)
            self->classes[klass].current = *where;
        return index;
    }
    /* Memory never used: the current span's, else another span's. */
    if (current != NULL && current->fresh < current->slots) {
        *where = current;
        return current->fresh++;
    }
    index = ar_heap_span__unfinished(self, klass, where);
    if (index != UINT32_MAX)
        return index;
    /* Before a new span: another thread's slot, released by this one. */
    index = ar_heap_span__take_back(self, klass, where);
    if (index != UINT32_MAX)
        return index;
    ar_heap_span_t *span = ar_heap_span__new(self, klass);
    if (span == NULL)
        return UINT32_MAX;
    self->classes[klass].current = span;
    *where = span;
    return ar_heap_span__pop(span);
}

int ar_heap_span__obtain_slow(ar_heap_thread_t *self, size_t bytes, ar_heap_slot_t *out)
{
    ar_heap_span_t *span;
    uint32_t index;
    if (AR_HEAP_LIKELY(bytes <= AR_HEAP_CLASS_MAX)) {
        index = ar_heap_span__refill(self, ar_heap_span__class(bytes), &span);
        if (index == UINT32_MAX)
            return 0;
    } else {
        span = ar_heap_span__new_huge(self, bytes);
        if (span == NULL)
            return 0;
        index = 0;
        span->fresh = 1;
    }
    ar_heap_span__slot(span, index, out);
    return 1;
}

void ar_heap_span__release_slow(ar_heap_thread_t *self, ar_heap_span_t *span, uint32_t index)
{
    if (span->klass == AR_HEAP_CLASSES) {
        /* A huge block: its memory goes back now; its units wait for the
         * next huge block. The record stays for double-free reports until
         * the span is reused. */
        ar_heap_os__discard((void *)span->start, (size_t)span->units << AR_HEAP_UNIT_SHIFT);
        pthread_mutex_lock(&region.lock);
        span->in_huge_free = 1;
        span->next_in_class = region.huge_free;
        region.huge_free = span;
        pthread_mutex_unlock(&region.lock);
        return;
    }
    if (span->owner == self)
        ar_heap_span__push(self, span, index);
    else if (!ar_heap_span__return(self, span, index))
        return; /* no chunk to be had: the slot stays out of use */
}
