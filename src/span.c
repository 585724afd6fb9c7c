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
 *   meta:  recs[0] recs[1] recs[2] ...  free_stack[]  remote bitmap[]
 *
 * The descriptor starts at one of 64 cache-line offsets into its mapping,
 * in turn (its colour): every mapping starts on a page, and page-aligned
 * descriptors, read on every allocation and free, would all fall in the
 * same sets of the L1 cache (which picks a set by the address bits below
 * the page size) and evict one another once a program uses more size
 * classes than the cache has ways. Its first line holds what any
 * thread's free reads (start, stride, magic, records, owner, class) and
 * is written only when the span is made; the owner's free-stack top and
 * fresh count, written at every allocation, start the next line, and the
 * remote releases' pending flag has a line of its own (256 bytes in all):
 * another thread's free of a block then does not take away the line the
 * owner allocates from.
 *
 * Slots come from the span's free stack (indexes of released slots, last
 * released first: a block freed with the quarantine off is reused while
 * it is still in the cache) or, when it is empty, from the never-used
 * slots at `fresh`. A slot released by a thread that does not own the
 * span sets its bit in the span's remote bitmap (an atomic OR); the owner
 * moves such bits to its free stack when it runs out, and the releasing
 * thread may take them back itself (ar_heap_span__steal) before it makes
 * a new span.
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
 * touched in order. Spans are never given back; their slots are reused.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <errno.h>
#include <string.h>

/* Address space reserved, tried from the largest down. */
#define AR_HEAP_REGION_MAX ((size_t)64 << 30)
#define AR_HEAP_REGION_MIN ((size_t)1 << 30)
/* Under Valgrind, which keeps state for every mapped range. */
#define AR_HEAP_REGION_SMALL ((size_t)4 << 30)
/* The largest slot of a size class; larger blocks get a huge span. */
/* Slots a span holds at least (64 KiB of them at least). */
#define AR_HEAP_SPAN_MIN_SLOTS 16
/* A huge span is reused for a block that needs at least half its units. */

/* The lookup part, read by the inline functions of ar_heap_internal.h. */
ar_heap_region_t ar_heap_region;

static struct {
    size_t unit_count;
    pthread_mutex_t lock;             /* bump, free huge spans, the span list */
    size_t bump;                      /* units handed out so far */
    ar_heap_span_t *huge_free;        /* released huge spans, their pages discarded */
    _Atomic(ar_heap_span_t *) all;    /* every span, newest first */
    uint32_t strides[AR_HEAP_CLASSES];
} region = { 0, PTHREAD_MUTEX_INITIALIZER, 0, NULL, NULL, { 0 } };

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

/* With the lock held: `units` units of address space, committed. */
static uintptr_t ar_heap_span__take_units(size_t units)
{
    if (units > region.unit_count - region.bump)
        return 0;
    uintptr_t start = ar_heap_region.start + (region.bump << AR_HEAP_UNIT_SHIFT);
    if (!ar_heap_os__commit((void *)start, units << AR_HEAP_UNIT_SHIFT))
        return 0;
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

/* Offsets of a span's descriptor in its mapping: 64 lines of a page. */
#define AR_HEAP_SPAN_COLOURS 64u

/* The mapping a descriptor lies in (it starts on a page: the offset is
 * less than the smallest page). */
static void *ar_heap_span__meta_base(ar_heap_span_t *span)
{
    return (void *)((uintptr_t)span & ~(uintptr_t)(AR_HEAP_SPAN_COLOURS * 64 - 1));
}

/* The span descriptor and its arrays, in one mapping. */
static ar_heap_span_t *ar_heap_span__meta(uint32_t slots)
{
    size_t words = ((size_t)slots + 63) / 64;
    size_t bytes = sizeof(ar_heap_span_t) + (size_t)slots * sizeof(ar_heap_rec_t) +
                   words * sizeof(uint64_t) + (size_t)slots * sizeof(void *) +
                   (size_t)slots * sizeof(uint32_t);
    /* Its colour (see the top of this file). */
    static _Atomic unsigned colours;
    size_t colour = (atomic_fetch_add_explicit(&colours, 1, memory_order_relaxed) %
                     AR_HEAP_SPAN_COLOURS) * 64;
    bytes += AR_HEAP_SPAN_COLOURS * 64;
    char *meta = ar_heap_os__map(bytes);
    if (meta == NULL)
        return NULL;
    ar_heap_span_t *span = (ar_heap_span_t *)(void *)(meta + colour);
    span->meta_bytes = bytes;
    span->slots = slots;
    span->recs = (ar_heap_rec_t *)(void *)((char *)span + sizeof *span);
    span->remote = (_Atomic uint64_t *)(void *)(span->recs + slots);
    span->valgrind_users = (void **)(void *)(span->remote + words);
    span->free_stack = (uint32_t *)(void *)(span->valgrind_users + slots);
    return span;
}

static uint64_t ar_heap_span__magic(size_t stride)
{
    /* ceil(2^64 / stride); exact division for offsets below 2^32. */
    return (uint64_t)(((unsigned __int128)1 << 64) / stride) + 1;
}

/* A new span of class `klass` for `self`. */
static ar_heap_span_t *ar_heap_span__new(ar_heap_thread_t *self, unsigned klass)
{
    size_t stride = region.strides[klass];
    size_t bytes = stride * AR_HEAP_SPAN_MIN_SLOTS;
    if (bytes < AR_HEAP_UNIT)
        bytes = AR_HEAP_UNIT;
    size_t units = (bytes + AR_HEAP_UNIT - 1) >> AR_HEAP_UNIT_SHIFT;
    uint32_t slots = (uint32_t)((units << AR_HEAP_UNIT_SHIFT) / stride);
    ar_heap_span_t *span = ar_heap_span__meta(slots);
    if (span == NULL)
        return NULL;
    pthread_mutex_lock(&region.lock);
    uintptr_t start = ar_heap_span__take_units(units);
    if (start == 0) {
        pthread_mutex_unlock(&region.lock);
        ar_heap_os__unmap(ar_heap_span__meta_base(span), span->meta_bytes);
        return NULL;
    }
    span->start = start;
    span->stride = stride;
    span->magic = ar_heap_span__magic(stride);
    span->units = (uint32_t)units;
    span->klass = (uint16_t)klass;
    span->owner = self;
    ar_heap_span__publish(span);
    pthread_mutex_unlock(&region.lock);
    span->next_in_class = self->classes[klass].spans;
    self->classes[klass].spans = span;
    return span;
}

/* A huge span for a slot of `bytes`: a released one of no more than
 * twice the units, else new units. */
static ar_heap_span_t *ar_heap_span__new_huge(ar_heap_thread_t *self, size_t bytes)
{
    if (bytes > ar_heap_region.end - ar_heap_region.start)
        return NULL;
    size_t units = (bytes + AR_HEAP_UNIT - 1) >> AR_HEAP_UNIT_SHIFT;
    if (units > UINT32_MAX)
        return NULL;
    pthread_mutex_lock(&region.lock);
    for (ar_heap_span_t **link = &region.huge_free; *link != NULL; link = &(*link)->next_in_class) {
        ar_heap_span_t *span = *link;
        if (span->units >= units && span->units <= 2 * units) {
            *link = span->next_in_class;
            pthread_mutex_unlock(&region.lock);
            span->next_in_class = NULL;
            span->owner = self;
            span->stride = bytes;
            span->magic = ar_heap_span__magic(bytes);
            span->fresh = 0;
            span->free_top = 0;
            return span;
        }
    }
    ar_heap_span_t *span = ar_heap_span__meta(1);
    uintptr_t start = span != NULL ? ar_heap_span__take_units(units) : 0;
    if (start == 0) {
        pthread_mutex_unlock(&region.lock);
        if (span != NULL)
            ar_heap_os__unmap(ar_heap_span__meta_base(span), span->meta_bytes);
        return NULL;
    }
    span->start = start;
    span->stride = bytes;
    span->magic = ar_heap_span__magic(bytes);
    span->units = (uint32_t)units;
    span->klass = AR_HEAP_CLASSES;
    span->owner = self;
    ar_heap_span__publish(span);
    pthread_mutex_unlock(&region.lock);
    return span;
}

/* ------------------------------------------------------------ slots */

/* A span of a geometric class whose free stack was empty has a released
 * slot: put it on its class's partial list, once (the owner's). The list
 * drops a span lazily, when it is found with none. */
void ar_heap_span__partial(ar_heap_thread_t *self, ar_heap_span_t *span)
{
    if (span->in_partial)
        return;
    span->in_partial = 1;
    span->next_partial = self->refill[span->klass].partial;
    self->refill[span->klass].partial = span;
}

/* Move the slots other threads released to the free stack. */
static void ar_heap_span__collect(ar_heap_span_t *span)
{
    if (atomic_load_explicit(&span->remote_pending, memory_order_relaxed) == 0)
        return;
    if (span->free_top == 0 && span->klass >= AR_HEAP_SPAN_GEOMETRIC)
        ar_heap_span__partial(span->owner, span);
    /* Cleared, then a sequentially consistent fence before the words are
     * read (see ar_heap_span__release_slow): if a release's load of the
     * flag comes after the fence, it reads the clear and sets the flag;
     * if before, its bit was set before the fence and is read below. */
    atomic_store_explicit(&span->remote_pending, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    size_t words = ((size_t)span->slots + 63) / 64;
    for (size_t w = 0; w < words; w++) {
        if (atomic_load_explicit(&span->remote[w], memory_order_relaxed) == 0)
            continue;
        uint64_t bits = atomic_exchange_explicit(&span->remote[w], 0, memory_order_acquire);
        while (bits != 0) {
            unsigned b = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            span->free_stack[span->free_top++] = (uint32_t)(w * 64 + b);
        }
    }
}

/* A released slot of `span` (by this thread, then by others), or
 * UINT32_MAX. */
static uint32_t ar_heap_span__pop_released(ar_heap_span_t *span)
{
    if (span->free_top == 0)
        ar_heap_span__collect(span);
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
 * At most an eighth of a doubling per class up: eight classes is at most
 * twice the size, and never more memory: the slot was touched before.
 * Measured (bench/workloads, peak RSS, debug defaults): `large` 95 to 59
 * MiB, `realloc` 41 to 32 MiB, both faster for the page faults saved.
 * The released slots are found on each class's partial list, so a class
 * of many full spans is not walked at every allocation. */
#define AR_HEAP_SPAN_BORROW 8u

/* A released slot from the partial lists of `klass` and the next
 * AR_HEAP_SPAN_BORROW classes, or UINT32_MAX. */
static uint32_t ar_heap_span__borrow(ar_heap_thread_t *self, unsigned klass,
                                     ar_heap_span_t **where)
{
    for (unsigned c = klass; c <= klass + AR_HEAP_SPAN_BORROW && c < AR_HEAP_CLASSES; c++) {
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

/* A slot another thread released into a span that `self` does not own
 * (its remote bitmap), from the spans `self` last released such slots
 * into, or UINT32_MAX. Bits are claimed one at a time with an atomic AND,
 * so the owner (which collects whole words with an exchange) and any
 * other thread each get a slot at most once. Why: a slot comes back only
 * to its owner, and a thread that frees faster than another takes the
 * other's blocks out of the quarantine; without this it makes new spans
 * while the other's released slots sit unused (doc/arheap.md, "Peak RSS
 * with threads"). Only before a new span: taken before the never-used
 * slots of its own spans, a stolen slot's next free is a release into the
 * other's bitmap, and slots kept changing hands (doc/arheap.md, The
 * backend). */
static uint32_t ar_heap_span__steal(ar_heap_thread_t *self, unsigned klass,
                                    ar_heap_span_t **where)
{
    ar_heap_span_t **foreign = self->refill[klass].foreign;
    while (foreign[0] != NULL) {
        ar_heap_span_t *span = foreign[0];
        if (span->owner != self &&
            atomic_load_explicit(&span->remote_pending, memory_order_relaxed) != 0) {
            size_t words = ((size_t)span->slots + 63) / 64;
            for (size_t w = 0; w < words; w++) {
                uint64_t bits = atomic_load_explicit(&span->remote[w], memory_order_relaxed);
                while (bits != 0) {
                    uint64_t bit = bits & (~bits + 1);
                    uint64_t old = atomic_fetch_and_explicit(&span->remote[w], ~bit,
                                                             memory_order_acquire);
                    if (old & bit) {
                        *where = span;
                        return (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bit));
                    }
                    bits = old & ~bit;
                }
            }
        }
        /* Nothing left there: forget it. */
        memmove(&foreign[0], &foreign[1], (AR_HEAP_FOREIGN - 1) * sizeof foreign[0]);
        foreign[AR_HEAP_FOREIGN - 1] = NULL;
    }
    return UINT32_MAX;
}

/* `self` released a slot into another thread's span: remember the span,
 * first. */
static void ar_heap_span__remember(ar_heap_thread_t *self, ar_heap_span_t *span)
{
    ar_heap_span_t **foreign = self->refill[span->klass].foreign;
    if (foreign[0] == span)
        return;
    unsigned at = 0;
    while (at < AR_HEAP_FOREIGN - 1 && foreign[at] != span)
        at++;
    memmove(&foreign[1], &foreign[0], at * sizeof foreign[0]);
    foreign[0] = span;
}

/* A slot from any span of the class, made current: a released one, or
 * with `fresh` also one never used. */
static uint32_t ar_heap_span__walk(ar_heap_thread_t *self, unsigned klass, int fresh,
                                   ar_heap_span_t **where)
{
    for (ar_heap_span_t *span = self->classes[klass].spans; span != NULL;
         span = span->next_in_class) {
        uint32_t index = fresh ? ar_heap_span__pop(span) : ar_heap_span__pop_released(span);
        if (index != UINT32_MAX) {
            self->classes[klass].current = span;
            *where = span;
            return index;
        }
    }
    return UINT32_MAX;
}

/* The current span of a class has no slot at hand: find one. This
 * thread's released slots come first (the class's partial lists and the
 * next classes', a geometric class; the current span's, its bitmap
 * collected; every span's when the class's hint says other threads
 * released some), then a slot never used of a span it has, then another
 * thread's slot that this thread released (ar_heap_span__steal), and only
 * then a new span. */
static uint32_t ar_heap_span__refill(ar_heap_thread_t *self, unsigned klass,
                                     ar_heap_span_t **where)
{
    uint32_t index;
    int remote = atomic_load_explicit(&self->remote_hint[klass], memory_order_relaxed) != 0;
    if (remote)
        atomic_store_explicit(&self->remote_hint[klass], 0, memory_order_relaxed);
    /* This thread's released slots: the partial lists (a geometric
     * class), the current span's, every span's when other threads have
     * released some. */
    if (klass >= AR_HEAP_SPAN_GEOMETRIC) {
        index = ar_heap_span__borrow(self, klass, where);
        if (index != UINT32_MAX)
            return index;
    }
    ar_heap_span_t *current = self->classes[klass].current;
    if (remote) {
        index = ar_heap_span__walk(self, klass, 0, where);
    } else if (current != NULL) {
        index = ar_heap_span__pop_released(current);
        *where = current;
    } else {
        index = UINT32_MAX;
    }
    if (index != UINT32_MAX)
        return index;
    /* Memory never used: the current span's, else any span's (a released
     * slot of an older span found on the way first). */
    if (current != NULL && current->fresh < current->slots) {
        *where = current;
        return current->fresh++;
    }
    index = ar_heap_span__walk(self, klass, 1, where);
    if (index != UINT32_MAX)
        return index;
    /* Before a new span: another thread's slot, released by this one. */
    index = ar_heap_span__steal(self, klass, where);
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
        span->next_in_class = region.huge_free;
        region.huge_free = span;
        pthread_mutex_unlock(&region.lock);
        return;
    }
    if (span->owner == self) {
        ar_heap_span__push(self, span, index);
        return;
    }
    /* The bit, then the span's flag: written only when it was clear, so
     * that the frees of other threads between two collections read the
     * flag's line and leave it shared. Both sequentially consistent,
     * against the owner's clearing of the flag and fence before it reads
     * the words (ar_heap_span__collect): either this thread sees the flag
     * clear and sets it, or the owner's reading sees the bit. */
    atomic_fetch_or_explicit(&span->remote[index / 64], (uint64_t)1 << (index % 64),
                             memory_order_seq_cst);
    if (atomic_load_explicit(&span->remote_pending, memory_order_seq_cst) == 0 &&
        atomic_exchange_explicit(&span->remote_pending, 1, memory_order_seq_cst) == 0)
        atomic_store_explicit(&span->owner->remote_hint[span->klass], 1, memory_order_relaxed);
    ar_heap_span__remember(self, span);
}
