/*
 * life.c: a block's whole life, in one file.
 *
 *   allocate:  a slot (span.c, or guard.c) -> its memory checked and laid
 *              out (canary.c) -> its record written -> LIVE
 *   free:      found (index.c) -> claimed LIVE -> FREEING (one atomic
 *              compare-and-swap: a second free of the block fails it) ->
 *              canaries checked -> poisoned (or its guard pages closed) ->
 *              QUARANTINED in the thread's batch (quarantine.c), or FREED
 *              and its slot released at once when the quarantine is off
 *   release:   a slot the quarantine hands back -> FREED -> its span's
 *              free stack (span.c). Its record stays until the slot is
 *              reused: a later free of the address is a double free with
 *              both sites.
 *   reuse:     the freed block's poison and canaries checked in the same
 *              pass that lays out the new one (canary.c).
 *
 * With tracking only (no canary, fill, quarantine or call stack) allocate
 * and free first try leaf versions of the common case, which hand it
 * whatever they can not finish ("tracking only", below).
 *
 * Nothing here takes a lock on the way: the slot comes from the thread's
 * own span, the record is the slot's, the counters the thread's, the
 * quarantine batch the thread's. A report is written from here with what
 * the record said, and the error action applied once per operation.
 *
 * The world (thread.c) is stopped only by check_all; every other walk
 * lives in its own module (leaks.c, checkpoint.c).
 *
 * The public allocation entry points (ar_heap__malloc and its siblings)
 * are at the end of this file, so that a free reads from the program's
 * call to the slot's release here, in one file.
 */
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

/* Above this a block goes to a huge span of its own (see span.c). */
#define AR_HEAP_LIFE_ALIGN_MAX ((size_t)4096)
#define AR_HEAP_LIFE_HUGE ((size_t)1 << 20)

/* ------------------------------------------------------------ helpers */

/* The layout of the block a slot's record describes. */
static inline void ar_heap_life__layout(const ar_heap_slot_t *slot, ar_heap_layout_t *out)
{
    uintptr_t user = ar_heap_index__user(slot);
    out->base = slot->base;
    out->offset = user - slot->base;
    out->size = ar_heap_index__size(slot);
    out->canary = (slot->rec->flags & AR_HEAP_BLOCK_CANARY) != 0;
    out->extent = slot->span == NULL ? slot->capacity
                                     : ar_heap_canary__extent(out->offset, out->size, out->canary);
}

/* Every check_every operations, check the whole heap (0: never). */
static void ar_heap_life__count_operation(void)
{
    static _Atomic size_t operations;
    size_t every = ar_heap_options.check_every;
    if (every != 0 &&
        (atomic_fetch_add_explicit(&operations, 1, memory_order_relaxed) + 1) % every == 0)
        (void)ar_heap_life__check_all("check");
}

/* Report damages of one block, found as `finder` says. */
static void ar_heap_life__report_damage(const ar_heap_view_t *block, const ar_heap_damage_t *d,
                                        size_t n, ar_heap_finder_t finder, const char *operation,
                                        const ar_heap_site_t *site)
{
    for (size_t i = 0; i < n; i++) {
        ar_heap_finding_t finding;
        finding.block = *block;
        finding.damage = d[i];
        ar_heap_report__damage(&finding, finder, operation, site);
    }
}

/* ------------------------------------------------------------ the common case */

/*
 * Most allocations and frees take the common case: a small block of the
 * default alignment, its slot from (or back to) the thread's current span,
 * none of guard pages, check_every, allow_malloc_0=0, injected failures or
 * Valgrind in play.
 * That case is written out below as straight-line code; everything else,
 * and every error, takes the general path further down, which handles
 * every case (the common one too) and shares the out-of-line helpers.
 */
/* Which paths the options allow. Atomic (relaxed: a plain load on the
 * machines arheap runs on) because the first operations of two threads
 * may race: one reads them on its fast path while the other, inside the
 * initialiser, writes them; the one that reads them early finds no
 * thread state yet and takes the general path, which waits for the
 * initialiser (ThreadSanitizer, check_quarantine's threaded cases). */
static _Atomic int ar_heap_life_fast;
static _Atomic int ar_heap_life_lean; /* tracking only: see the leaf paths below */

/* The description of a block allocated without one. */
static const char ar_heap_life_no_desc[] = "(no description)";

void ar_heap_life__options_changed(void)
{
    int fast = !ar_heap_options.guard && ar_heap_options.check_every == 0 &&
               ar_heap_options.allow_malloc_0 &&
               !atomic_load_explicit(&ar_heap_inject_armed, memory_order_relaxed) &&
               !ar_heap_valgrind__running();
    int lean = fast && !ar_heap_options.canary && !ar_heap_options.fill &&
               ar_heap_options.quarantine_bytes == 0 && ar_heap_options.stack_depth == 0 &&
               ar_heap_options.freed_history != 0;
    atomic_store_explicit(&ar_heap_life_fast, fast, memory_order_relaxed);
    atomic_store_explicit(&ar_heap_life_lean, lean, memory_order_relaxed);
    unsigned depth = (unsigned)ar_heap_options.stack_depth; /* at most AR_HEAP_STACK_MAX */
    if (depth > 0 && (ar_heap_options.stack_exact || ar_heap_valgrind__running()))
        depth += AR_HEAP_STACK_SLOW;
    atomic_store_explicit(&ar_heap_stack_mode, depth, memory_order_relaxed);
}

/* The largest block of the common case: its extent fits a size class. */
#define AR_HEAP_LIFE_FAST_MAX (AR_HEAP_CLASS_MAX - 2 * AR_HEAP_HEAD - 16)

/* The fill byte of an allocation, or -1 for none. */
static inline int ar_heap_life__fill_byte(int fill)
{
    return fill == AR_HEAP_FILL_ZERO                           ? 0
           : fill == AR_HEAP_FILL_MARK && ar_heap_options.fill ? AR_HEAP_FILL_NEW
                                                               : -1;
}

/* Bytes of a new block that get `byte`: all of them, but at most
 * fill_max of the 0xbe mark (a huge buffer the program uses a little of
 * is not written whole: its untouched pages stay unmapped). */
static inline size_t ar_heap_life__fill_len(int byte, size_t size)
{
    size_t max = ar_heap_options.fill_max;
    return byte == AR_HEAP_FILL_NEW && size > max ? max : size;
}

/* Write a new block's record, LIVE last. A huge block's offset and size
 * are its span's (`huge`). */
static inline void ar_heap_life__write_record(const ar_heap_thread_t *self, ar_heap_rec_t *rec,
                                              size_t offset, size_t size, int huge,
                                              uint8_t flags, uint32_t ctx, uint64_t seq)
{
    rec->offset = huge ? 0 : (uint16_t)offset;
    rec->size = !huge && size < AR_HEAP_SIZE_ELSEWHERE ? (uint32_t)size : AR_HEAP_SIZE_ELSEWHERE;
    rec->flags = flags;
    rec->seq = seq;
    rec->alloc_ctx = ctx;
    rec->free_ctx = 0;
    rec->alloc_thread = self->tid;
    rec->free_thread = 0;
    atomic_store_explicit(&rec->state, AR_HEAP_STATE_LIVE, memory_order_release);
}

/* The same with the next allocation number, and the block counted. */
static inline void ar_heap_life__publish(ar_heap_thread_t *self, ar_heap_rec_t *rec,
                                         size_t offset, size_t size, int huge, uint8_t flags,
                                         uint32_t ctx)
{
    ar_heap_life__write_record(self, rec, offset, size, huge, flags, ctx,
                               ar_heap_thread__next_seq(self));
    ar_heap_thread__count_alloc(self, size);
}

/* The general reuse: what the short one does not do (below). */
__attribute__((noinline)) static void ar_heap_life__reuse_fused(const ar_heap_slot_t *slot,
                                                              const ar_heap_layout_t *old,
                                                              const ar_heap_layout_t *fresh,
                                                              int byte,
                                                              const ar_heap_site_t *site)
{
    ar_heap_damage_t damage[3];
    size_t len = ar_heap_life__fill_len(byte, fresh->size);
    size_t n = ar_heap_canary__reuse(old, fresh, len == fresh->size ? byte : -1, damage);
    if (len != fresh->size)
        memset((void *)(fresh->base + fresh->offset), byte, len);
    if (n > 0) {
        ar_heap_view_t view;
        ar_heap_index__view(slot, &view);
        ar_heap_life__report_damage(&view, damage, n, AR_HEAP_FOUND_BY_REUSE, "allocation", site);
        ar_heap_report__act();
    }
}

/* A freed block's slot is reused: check what it left and lay out the new
 * block (`byte`: its fill, or -1); report damage. A small block after a
 * small one, undamaged, filled whole, here with no call (canary.c's short
 * reuse: two calls and their frames were 60 instructions of each reuse);
 * anything else in one fused pass (canary.c), which describes damage. */
__attribute__((always_inline)) static inline void
ar_heap_life__reuse(const ar_heap_slot_t *slot, const ar_heap_layout_t *fresh, int byte,
                    const ar_heap_site_t *site)
{
    ar_heap_layout_t old;
    ar_heap_life__layout(slot, &old);
    if (ar_heap_life__fill_len(byte, fresh->size) != fresh->size ||
        !ar_heap_canary__reuse_short(&old, fresh, byte))
        ar_heap_life__reuse_fused(slot, &old, fresh, byte, site);
}

/* The common allocation, from a span of its class; NULL when no memory
 * could be had. */
static inline void *ar_heap_life__allocate_in(ar_heap_thread_t *self,
                                              const ar_heap_layout_t *fresh,
                                              const ar_heap_site_t *site, const char *desc,
                                              int fill)
{
    ar_heap_thread__enter_as(self);
    ar_heap_slot_t slot;
    if (AR_HEAP_UNLIKELY(!ar_heap_span__obtain(self, fresh->extent, &slot))) {
        ar_heap_thread__leave(self);
        return NULL; /* no memory: the general path says so */
    }
    ar_heap_layout_t b = *fresh;
    b.base = slot.base;
    uintptr_t user = b.base + b.offset;
    int byte = ar_heap_life__fill_byte(fill);
    if (AR_HEAP_UNLIKELY(slot.rec->flags & AR_HEAP_BLOCK_POISONED)) {
        ar_heap_life__reuse(&slot, &b, byte, site);
    } else {
        if (b.canary)
            ar_heap_canary__write_block(b.base, b.offset, b.size, b.extent, 1);
        if (byte >= 0)
            memset((void *)user, byte, ar_heap_life__fill_len(byte, b.size));
    }
    void *frames[AR_HEAP_STACK_MAX];
    size_t depth = ar_heap_stack__capture(self, site, frames);
    uint32_t ctx = ar_heap_depot__intern(self, site, desc != NULL ? desc : ar_heap_life_no_desc,
                                         frames, depth);
    ar_heap_life__publish(self, slot.rec, b.offset, b.size, 0,
                          b.canary ? AR_HEAP_BLOCK_CANARY : 0, ctx);
    ar_heap_thread__leave(self);
    return (void *)user;
}

/* ------------------------------------------------------------ tracking only */

/*
 * Tracking only (canary=0, fill=0, quarantine_bytes=0, stack_depth=0, and
 * the common case's conditions): a block's life is its record and its
 * slot, nothing in its memory. Allocation and free are then written as
 * leaf code that makes no call, so they keep no frame and save no
 * register. Whatever they can not finish that way they leave untouched,
 * before the block's state changes, to the common case below, which does
 * everything: a calloc (zeroed before the block is live); a slot that is
 * neither on top of the current span's free stack nor, when that is
 * empty, the span's next slot never used (as ar_heap_span__obtain takes
 * them) nor, failing that, the top of the first span of a small class's
 * partial list while no slot other threads returned waits (the refill's
 * first choice), or one whose memory is poisoned (checked at its reuse);
 * a context not in the thread's depot cache; the allocation numbers of
 * the thread's range used up; the thread's live-bytes part due to be
 * published; a span that empties with the free (one that joins its
 * class's partial list joins it here); another thread's span; a huge
 * block; a pointer that is not a block's (or a block with canaries, from
 * before the options changed); a lowered quarantine that still holds
 * blocks; the world stopped; and any failed claim (a double free), which
 * the common case reports. What they write is what the common case
 * writes.
 */

/* A tracking-only allocation, entered; NULL when it is not done here. */
__attribute__((always_inline)) static inline void *
ar_heap_life__allocate_lean(ar_heap_thread_t *self, size_t size, uint32_t ctx)
{
    if (AR_HEAP_UNLIKELY(ctx == 0))
        return NULL;
    ar_heap_span_t *span;
    unsigned klass = ar_heap_span__class(ar_heap_canary__extent(0, size, 0));
    uint32_t index = ar_heap_span__peek(self, klass, &span);
    if (AR_HEAP_UNLIKELY(index == UINT32_MAX) ||
        AR_HEAP_UNLIKELY(span->recs[index].flags & AR_HEAP_BLOCK_POISONED) ||
        AR_HEAP_UNLIKELY(!ar_heap_thread__seq_ready(self)) ||
        AR_HEAP_UNLIKELY(!ar_heap_thread__delta_room(self, (int64_t)size)))
        return NULL;
    ar_heap_span__take(self, klass, span, index);
    ar_heap_life__write_record(self, &span->recs[index], 0, size, 0, 0, ctx, self->seq_next++);
    (void)ar_heap_thread__add_alloc(self, size); /* not due: delta_room said so */
    return (void *)(span->start + (uintptr_t)index * span->stride);
}

/* A tracking-only free: 1 when done here; 0 when not (nothing done). */
__attribute__((always_inline)) static inline int
ar_heap_life__free_lean(ar_heap_thread_t *self, void *ptr, uint32_t ctx)
{
    ar_heap_span_t *span = ar_heap_span__at((uintptr_t)ptr);
    if (AR_HEAP_UNLIKELY(span == NULL || span->klass == AR_HEAP_CLASSES || span->owner != self))
        return 0;
    uint64_t index =
        (uint64_t)(((unsigned __int128)((uintptr_t)ptr - span->start) * span->magic) >> 64);
    if (AR_HEAP_UNLIKELY(index >= span->slots ||
                         span->start + (uintptr_t)index * span->stride != (uintptr_t)ptr) ||
        AR_HEAP_UNLIKELY(!ar_heap_thread__try_enter(self)))
        return 0;
    ar_heap_rec_t *rec = &span->recs[index];
    /* The record is read after the claim only (another thread may be
     * writing it: a free of the same block, or, for a stale pointer, the
     * allocation of a slot it took back), but for its offset, which the
     * common case reads before the claim too: a block with canaries (a
     * damaged one among them) has an offset of 16. The live-bytes room is
     * judged by the slot's size, which bounds the block's. */
    uint8_t live = AR_HEAP_STATE_LIVE;
    if (AR_HEAP_UNLIKELY(ctx == 0 || rec->offset != 0 || !ar_heap_span__push_keeps(span) ||
                         ar_heap_quarantine__holds(self) ||
                         !ar_heap_thread__delta_room(self, -(int64_t)span->stride)) ||
        AR_HEAP_UNLIKELY(!atomic_compare_exchange_strong_explicit(
            &rec->state, &live, AR_HEAP_STATE_FREEING, memory_order_acquire,
            memory_order_relaxed))) {
        ar_heap_thread__leave(self);
        return 0;
    }
    size_t size = rec->size;
    rec->free_ctx = ctx;
    rec->free_thread = self->tid;
    (void)ar_heap_thread__add_free(self, size); /* not due: delta_room said so */
    rec->flags &= (uint8_t)~AR_HEAP_BLOCK_POISONED;
    atomic_store_explicit(&rec->state, AR_HEAP_STATE_FREED, memory_order_release);
    ar_heap_span__push_slot(self, span, (uint32_t)index);
    ar_heap_thread__leave(self);
    return 1;
}

/* ------------------------------------------------------------ allocate */

/* A slot for a block of `size` bytes aligned to `align`, and the block's
 * layout in it; 0 when no memory. */
static int ar_heap_life__place(ar_heap_thread_t *self, size_t size, size_t align,
                               ar_heap_slot_t *slot, ar_heap_layout_t *fresh, void **guard_slot)
{
    int canary = ar_heap_options.canary != 0;
    *guard_slot = NULL;
    if (ar_heap_options.guard) {
        ar_heap_guarded_t g;
        if (ar_heap_guard__obtain(size, align, &g)) {
            slot->rec = g.rec;
            slot->span = NULL;
            slot->index = 0;
            slot->base = (uintptr_t)g.base;
            slot->capacity = g.total;
            fresh->base = slot->base;
            fresh->offset = g.user - slot->base;
            fresh->size = size;
            fresh->extent = g.total;
            fresh->canary = canary;
            *guard_slot = g.slot;
            return 1;
        }
    }
    size_t head = canary ? AR_HEAP_HEAD : 0;
    size_t need = ar_heap_canary__extent(head, size, canary);
    if (align > 16)
        need += align;
    if (align > AR_HEAP_LIFE_ALIGN_MAX && need <= AR_HEAP_LIFE_HUGE)
        need = AR_HEAP_LIFE_HUGE + 1; /* a huge span: 64 KiB aligned */
    if (!ar_heap_span__obtain(self, need, slot))
        return 0;
    size_t offset = head;
    if (align > 16)
        offset = ((slot->base + head + align - 1) & ~(uintptr_t)(align - 1)) - slot->base;
    fresh->base = slot->base;
    fresh->offset = offset;
    fresh->size = size;
    fresh->extent = ar_heap_canary__extent(offset, size, canary);
    fresh->canary = canary;
    return 1;
}

static void *ar_heap_life__allocate_general(size_t size, size_t align,
                                            const ar_heap_site_t *site, const char *desc,
                                            int fill);
static void ar_heap_life__drain(ar_heap_thread_t *self);

/* The common case, and the general path when it does not apply. */
__attribute__((noinline)) static void *
ar_heap_life__allocate_common(size_t size, size_t align, const ar_heap_site_t *site,
                              const char *desc, int fill)
{
    ar_heap_thread_t *self = ar_heap_thread_self;
    if (AR_HEAP_LIKELY(self != NULL &&
                       atomic_load_explicit(&ar_heap_life_fast, memory_order_relaxed) &&
                       align == 0 &&
                       size <= AR_HEAP_LIFE_FAST_MAX)) {
        int canary = ar_heap_options.canary != 0;
        size_t offset = canary ? AR_HEAP_HEAD : 0;
        ar_heap_layout_t fresh = { 0, offset, size, ar_heap_canary__extent(offset, size, canary),
                                   canary };
        void *user = ar_heap_life__allocate_in(self, &fresh, site, desc, fill);
        if (AR_HEAP_LIKELY(user != NULL))
            return user;
    }
    return ar_heap_life__allocate_general(size, align, site, desc, fill);
}

/* The leaf path, tried: 1 with the block in *user, or 0 when it is not
 * done here (a 0 the compiler sees where the path is not taken, so the
 * caller goes straight to the common case). Its
 * context's id comes from the macro call's object when `by_call` (`call`,
 * with the return address it is for: ar_heap_depot__call_id_at, and then
 * no site is read), else from the thread's cache (`site`, `desc`).
 * by_call is a constant at each use, so the other way folds away (a test
 * of `call` itself was not: the compiler can not know it is not NULL, and
 * it cost tracking 2.5 instructions an operation). */
__attribute__((always_inline)) static inline int
ar_heap_life__allocate_leaf(size_t size, size_t align, const ar_heap_site_t *site,
                            const char *desc, int fill, int by_call,
                            const ar_heap_call_site_t *call, const void *pc, void **user)
{
    /* Not a calloc: the common case zeroes a block before it is live (a
     * leak scan in another thread never reads what the slot held before),
     * which takes a call. */
    if (atomic_load_explicit(&ar_heap_life_lean, memory_order_relaxed) && align == 0 &&
        size <= AR_HEAP_LIFE_FAST_MAX && fill != AR_HEAP_FILL_ZERO) {
        ar_heap_thread_t *self = ar_heap_thread_self;
        if (AR_HEAP_LIKELY(self != NULL) && AR_HEAP_LIKELY(ar_heap_thread__try_enter(self))) {
            uint32_t ctx =
                by_call
                    ? ar_heap_depot__call_id_at(call, pc)
                    : ar_heap_depot__cached(self, site, desc != NULL ? desc : ar_heap_life_no_desc);
            *user = ar_heap_life__allocate_lean(self, size, ctx);
            ar_heap_thread__leave(self);
            return *user != NULL;
        }
    }
    return 0;
}

/* The allocation, inline where the site is made (the public entry points
 * at the end of this file); ar_heap_life__allocate for the others. */
__attribute__((always_inline)) static inline void *
ar_heap_life__allocate_inline(size_t size, size_t align, const ar_heap_site_t *site,
                              const char *desc, int fill)
{
    void *user;
    if (AR_HEAP_LIKELY(ar_heap_life__allocate_leaf(size, align, site, desc, fill, 0, NULL, NULL,
                                                   &user)))
        return user;
    return ar_heap_life__allocate_common(size, align, site, desc, fill);
}

void *ar_heap_life__allocate(size_t size, size_t align, const ar_heap_site_t *site,
                             const char *desc, int fill)
{
    return ar_heap_life__allocate_inline(size, align, site, desc, fill);
}

/* Every case (a function of its own: the fast path above keeps a small
 * frame). */
__attribute__((noinline)) static void *
ar_heap_life__allocate_general(size_t size, size_t align, const ar_heap_site_t *site,
                               const char *desc, int fill)
{
    /* errno is kept by a successful allocation, as glibc keeps it: the
     * mappings tried on the way may fail (a guard arena under an
     * address-space limit, whose block then gets canaries; until stop 43
     * such a block came with errno ENOMEM). */
    int saved_errno = errno;
    ar_heap__ensure_init();
    ar_heap_life__count_operation();
    if (AR_HEAP_UNLIKELY(size == 0 && !ar_heap_options.allow_malloc_0))
        /* Reported, then on_error applies; with continue the block is made. */
        ar_heap_report__invalid_argument("an allocation of 0 bytes (allow_malloc_0=0, as "
                                         "Electric Fence's EF_ALLOW_MALLOC_0=0)",
                                         site);
    if (ar_heap_inject__should_fail(site) || size > (size_t)PTRDIFF_MAX / 2 ||
        align > (size_t)PTRDIFF_MAX / 4) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_thread_t *self = ar_heap_thread__enter();
    void *frames[AR_HEAP_STACK_MAX];
    size_t depth = ar_heap_stack__capture(self, site, frames);
    uint32_t ctx = ar_heap_depot__intern(self, site, desc != NULL ? desc : ar_heap_life_no_desc,
                                         frames, depth);
    ar_heap_slot_t slot;
    ar_heap_layout_t fresh;
    void *guard_slot;
    int placed = ar_heap_life__place(self, size, align, &slot, &fresh, &guard_slot);
    if (!placed && ar_heap_quarantine__holds(self) &&
        size <= ar_heap_region.end - ar_heap_region.start) {
        /* Out of memory or of the heap's address space: what the
         * quarantine holds goes back before the allocation fails (its
         * blocks' reuse still checks their poison). Until stop 42 the
         * allocation failed while the quarantine held a block as large
         * (a buffer grown by realloc under `ulimit -v 4000000` failed
         * at 32 MiB; tests/check_quarantine). Not for a request larger
         * than the whole region, which nothing could serve: a program
         * that probes with malloc(1 << 42) keeps its quarantine. */
        ar_heap_life__drain(self);
        placed = ar_heap_life__place(self, size, align, &slot, &fresh, &guard_slot);
    }
    if (!placed) {
        ar_heap_thread__leave(self);
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_rec_t *rec = slot.rec;
    uintptr_t user = fresh.base + fresh.offset;
    int byte = ar_heap_life__fill_byte(fill);
    ar_heap_valgrind__open((void *)slot.base, slot.capacity);
    int huge = slot.span != NULL && slot.span->klass == AR_HEAP_CLASSES;
    if (rec->flags & AR_HEAP_BLOCK_POISONED) {
        /* A freed block's slot: its poison and canaries are checked in the
         * pass that lays out the new block. */
        ar_heap_life__reuse(&slot, &fresh, byte, site);
    } else {
        ar_heap_canary__write(&fresh);
        /* A huge span's memory is new from the system, or was given back
         * when its last block left (span.c): calloc's zeros are there
         * already, and its pages stay unmapped until the program uses
         * them, as glibc's calloc of a new mapping leaves them. */
        if (byte > 0 || (byte == 0 && !huge))
            memset((void *)user, byte, ar_heap_life__fill_len(byte, size));
    }
    if (huge) {
        slot.span->huge_size = size;
        slot.span->huge_offset = fresh.offset;
    }
    ar_heap_life__publish(self, rec, fresh.offset, size, huge,
                          (uint8_t)((fresh.canary ? AR_HEAP_BLOCK_CANARY : 0) |
                                    (guard_slot != NULL ? AR_HEAP_BLOCK_GUARDED : 0)),
                          ctx);
    if (ar_heap_valgrind__running() && slot.span != NULL)
        slot.span->valgrind_users[slot.index] = (void *)user;
    ar_heap_valgrind__close((void *)slot.base, slot.capacity);
    ar_heap_valgrind__allocated((void *)fresh.base, fresh.extent, user, size, fresh.canary);
    if (fill == AR_HEAP_FILL_ZERO)
        ar_heap_valgrind__defined((void *)user, size);
    ar_heap_thread__leave(self);
    errno = saved_errno;
    return (void *)user;
}

/* ------------------------------------------------------------ release */

/* A released slot's memory goes back to the system: the poison of the
 * block that held it (and its canaries) are checked now, since they will
 * not be there when the slot is used again. */
static void ar_heap_life__check_going(ar_heap_span_t *span, uint32_t index)
{
    ar_heap_slot_t slot;
    ar_heap_span__slot(span, index, &slot);
    ar_heap_layout_t b;
    ar_heap_life__layout(&slot, &b);
    ar_heap_damage_t damage[3];
    ar_heap_valgrind__open((void *)b.base, b.extent);
    size_t n = ar_heap_canary__check_poison(&b, &damage[0]);
    n += ar_heap_canary__check(&b, &damage[n], 2);
    ar_heap_valgrind__close((void *)b.base, b.extent);
    if (n > 0) {
        ar_heap_view_t view;
        ar_heap_index__view(&slot, &view);
        ar_heap_life__report_damage(&view, damage, n, AR_HEAP_FOUND_BY_RELEASE, "release", NULL);
        ar_heap_report__act();
    }
    slot.rec->flags &= (uint8_t)~AR_HEAP_BLOCK_POISONED;
}

void ar_heap_life__letting_go(ar_heap_span_t *span)
{
    for (uint32_t i = 0; i < span->fresh; i++) {
        ar_heap_rec_t *rec = &span->recs[i];
        if (rec->flags & AR_HEAP_BLOCK_POISONED)
            ar_heap_life__check_going(span, i);
        /* Released since: a stale QUARANTINED (the common release leaves
         * it) is said as it is. */
        if (atomic_load_explicit(&rec->state, memory_order_relaxed) == AR_HEAP_STATE_QUARANTINED)
            atomic_store_explicit(&rec->state, AR_HEAP_STATE_FREED, memory_order_release);
    }
}

static void ar_heap_life__release_slow(ar_heap_thread_t *self, const ar_heap_qentry_t *e);

/* A freed block comes back: FREED (or forgotten, freed_history=0), and its
 * slot in circulation, unless its canaries were damaged. Inline: the
 * common case's call, made for every block the quarantine lets go, was
 * half of its instructions. */
static inline void ar_heap_life__release(ar_heap_thread_t *self, const ar_heap_qentry_t *e)
{
    if (AR_HEAP_LIKELY(e->index < AR_HEAP_QENTRY_SLOW)) {
        /* The common case touches no record: the block stays QUARANTINED
         * in its record until its slot is reused (every walk and report
         * treats that as freed). */
        ar_heap_span__release(self, e->owner, e->index);
        return;
    }
    ar_heap_life__release_slow(self, e);
}

/* The rest: the entry's record is looked at (SLOW). */
__attribute__((noinline)) static void ar_heap_life__release_slow(ar_heap_thread_t *self,
                                                               const ar_heap_qentry_t *e)
{
    ar_heap_rec_t *rec;
    ar_heap_span_t *span = NULL;
    uint32_t index = e->index & ~AR_HEAP_QENTRY_SLOW;
    if (e->index == UINT32_MAX) {
        rec = (ar_heap_rec_t *)e->owner; /* the record opens the guard slot */
    } else {
        span = e->owner;
        rec = &span->recs[index];
        if (span->klass == AR_HEAP_CLASSES && (rec->flags & AR_HEAP_BLOCK_POISONED))
            /* A huge block's memory goes back to the system now. */
            ar_heap_life__check_going(span, 0);
        if (rec->flags & AR_HEAP_BLOCK_CLOSED) {
            /* Open again for the next huge block (the span discards it). */
            if (!ar_heap_os__commit((void *)span->start, (size_t)span->units
                                                             << AR_HEAP_UNIT_SHIFT))
                return; /* no mapping to be had: the span stays out of use */
            rec->flags &= (uint8_t)~AR_HEAP_BLOCK_CLOSED;
        }
    }
    int keep = (rec->flags & AR_HEAP_BLOCK_DAMAGED) != 0;
    if (ar_heap_options.freed_history == 0)
        rec->flags |= AR_HEAP_BLOCK_FORGOTTEN;
    atomic_store_explicit(&rec->state, AR_HEAP_STATE_FREED, memory_order_release);
    if (keep) {
        /* The program still writes out of bounds through it: not reused. */
        if (span == NULL)
            ar_heap_guard__retire(e->owner);
        return;
    }
    if (span == NULL)
        ar_heap_guard__release(e->owner);
    else
        ar_heap_span__release(self, span, index);
}

/* What a huge or guarded block counts for in the quarantine: its extent
 * and bookkeeping, at most 4 GiB less a byte (ar_heap_qentry_t). */
static inline uint32_t ar_heap_life__entry_bytes(size_t bytes)
{
    return bytes < UINT32_MAX ? (uint32_t)bytes : UINT32_MAX;
}

/* The quarantine entry of a freed block; SLOW when its release must look
 * at its record (damaged, to be forgotten, huge, or guarded). */
static inline ar_heap_qentry_t ar_heap_life__entry(const ar_heap_slot_t *slot, size_t extent,
                                                   int damaged)
{
    ar_heap_qentry_t entry;
    if (slot->span == NULL) {
        entry.owner = slot->rec; /* a guarded block's record opens its guard slot */
        entry.index = UINT32_MAX;
        entry.bytes = ar_heap_life__entry_bytes(extent + AR_HEAP_QUARANTINE_BOOKKEEPING);
    } else {
        entry.owner = slot->span;
        entry.index = slot->index;
        if (AR_HEAP_UNLIKELY(damaged || ar_heap_options.freed_history == 0 ||
                             slot->span->klass == AR_HEAP_CLASSES))
            entry.index |= AR_HEAP_QENTRY_SLOW;
        /* A slot of a size class is held whole, whatever part of it the
         * block used (its class rounds up, or it was borrowed from a
         * larger one): at most AR_HEAP_CLASS_MAX, so its count needs no
         * encoding. A huge block counts its extent. */
        if (AR_HEAP_LIKELY(slot->span->klass != AR_HEAP_CLASSES))
            entry.bytes = (uint32_t)(slot->capacity + AR_HEAP_QUARANTINE_SPAN_BOOKKEEPING);
        else
            entry.bytes = ar_heap_life__entry_bytes(extent + AR_HEAP_QUARANTINE_SPAN_BOOKKEEPING);
    }
    return entry;
}

/* Release what the quarantine handed back, asking again while it has more
 * (to the same target: a flush takes the FIFOs down to the budget less
 * the batch limit, not to the budget). */
static void ar_heap_life__release_all(ar_heap_thread_t *self, ar_heap_qout_t *out)
{
    for (;;) {
        for (size_t i = 0; i < out->count; i++)
            ar_heap_life__release(self, &out->entries[i]);
        if (!out->more)
            return;
        ar_heap_quarantine__more(self, out);
    }
}

/* A thread ends: its quarantine batch joins its FIFO (held there for the
 * state's next thread, taken out by others as it ages), and the slots of
 * other threads' spans it released go back to their owners. */
void ar_heap_life__thread_ends(ar_heap_thread_t *self)
{
    ar_heap_qout_t out;
    ar_heap_quarantine__flush(self, ar_heap_options.quarantine_bytes, &out);
    ar_heap_life__release_all(self, &out);
    ar_heap_span__return_all(self);
}

/* ------------------------------------------------------------ free */

/* A block's canaries were found damaged as it is freed: report it with
 * the block as it was, and mark it (its slot is never reused). Returns
 * the number of damaged zones. */
static size_t ar_heap_life__damaged_at_free(const ar_heap_slot_t *slot, const ar_heap_layout_t *b,
                                            const char *operation, const ar_heap_site_t *site)
{
    ar_heap_damage_t damage[2];
    size_t damaged = ar_heap_canary__check(b, damage, 2);
    if (damaged > 0) {
        ar_heap_view_t view;
        ar_heap_index__view(slot, &view);
        view.state = AR_HEAP_STATE_LIVE;
        ar_heap_life__report_damage(&view, damage, damaged, AR_HEAP_FOUND_BY_FREE, operation,
                                    site);
        ar_heap_canary__write(b); /* reported now, not again later */
        slot->rec->flags |= AR_HEAP_BLOCK_DAMAGED;
    }
    return damaged;
}

/* Where a block was freed. Inlined in both frees: as a call, with a
 * frame of its own for the stack buffer, it cost the common free about
 * 30 of its 230 instructions. */
__attribute__((always_inline)) static inline void
ar_heap_life__note_free(ar_heap_thread_t *self, ar_heap_rec_t *rec, size_t size,
                        const ar_heap_site_t *site)
{
    void *frames[AR_HEAP_STACK_MAX];
    size_t depth = ar_heap_stack__capture(self, site, frames);
    rec->free_ctx = ar_heap_depot__intern(self, site, NULL, frames, depth);
    rec->free_thread = self->tid;
    ar_heap_thread__count_free(self, size);
}

/* Into the quarantine, with whatever that hands back released. */
static void ar_heap_life__quarantine(ar_heap_thread_t *self, const ar_heap_qentry_t *entry,
                                     size_t budget)
{
    ar_heap_qout_t out;
    ar_heap_quarantine__push(self, entry, budget, &out);
    ar_heap_life__release_all(self, &out);
}

/* The quarantine's budget was lowered to 0: let go of what it holds. */
static void ar_heap_life__drain(ar_heap_thread_t *self)
{
    ar_heap_qout_t out;
    ar_heap_quarantine__trim(self, 0, &out);
    ar_heap_life__release_all(self, &out);
}

/* The common free: a small block of a span, found and claimed. */
static inline int ar_heap_life__free_in(ar_heap_thread_t *self, ar_heap_slot_t *slot,
                                        const char *operation, const ar_heap_site_t *site)
{
    ar_heap_rec_t *rec = slot->rec;
    ar_heap_layout_t b;
    ar_heap_life__layout(slot, &b);
    size_t damaged = 0;
    if (b.canary && AR_HEAP_UNLIKELY(!ar_heap_canary__intact_slot(b.base, b.offset, b.size,
                                                                  b.extent)))
        damaged = ar_heap_life__damaged_at_free(slot, &b, operation, site);
    ar_heap_life__note_free(self, rec, b.size, site);
    size_t budget = ar_heap_options.quarantine_bytes;
    if (budget > 0) {
        memset((void *)(b.base + b.offset), AR_HEAP_FILL_FREED, b.size);
        rec->flags |= AR_HEAP_BLOCK_POISONED;
        atomic_store_explicit(&rec->state, AR_HEAP_STATE_QUARANTINED, memory_order_release);
        ar_heap_qentry_t entry = ar_heap_life__entry(slot, b.extent, damaged > 0);
        if (AR_HEAP_UNLIKELY(!ar_heap_quarantine__append(self, &entry, budget)))
            ar_heap_life__quarantine(self, &entry, budget);
    } else {
        rec->flags &= (uint8_t)~AR_HEAP_BLOCK_POISONED;
        if (AR_HEAP_UNLIKELY(ar_heap_options.freed_history == 0))
            rec->flags |= AR_HEAP_BLOCK_FORGOTTEN;
        uint8_t flags = rec->flags;
        atomic_store_explicit(&rec->state, AR_HEAP_STATE_FREED, memory_order_release);
        if (AR_HEAP_LIKELY(!(flags & AR_HEAP_BLOCK_DAMAGED)))
            ar_heap_span__release(self, slot->span, slot->index);
        if (AR_HEAP_UNLIKELY(ar_heap_quarantine__holds(self)))
            ar_heap_life__drain(self);
    }
    if (AR_HEAP_UNLIKELY(damaged > 0))
        ar_heap_report__act();
    return 1;
}

/* Free the block of `slot`, whose user address is ptr: every case. */
static int ar_heap_life__free_slot(ar_heap_thread_t *self, ar_heap_slot_t *slot, void *ptr,
                                   const char *operation, const ar_heap_site_t *site)
{
    ar_heap_rec_t *rec = slot->rec;
    uint8_t live = AR_HEAP_STATE_LIVE;
    if (!atomic_compare_exchange_strong_explicit(&rec->state, &live, AR_HEAP_STATE_FREEING,
                                                 memory_order_acquire, memory_order_relaxed)) {
        ar_heap_life__bad_pointer(ptr, operation, site);
        return 0;
    }
    ar_heap_layout_t b;
    ar_heap_life__layout(slot, &b);

    /* Its canaries: damage is reported now, with the block as it was. */
    size_t damaged = 0;
    if (b.canary) {
        /* Left open after: the poison is written next, and freeing the
         * block tells Memcheck all of it is no-access. */
        ar_heap_valgrind__open((void *)b.base, b.extent);
        damaged = ar_heap_life__damaged_at_free(slot, &b, operation, site);
    }
    ar_heap_life__note_free(self, rec, b.size, site);
    if (ar_heap_valgrind__running() && slot->span != NULL)
        slot->span->valgrind_users[slot->index] = NULL;

    size_t budget = ar_heap_options.quarantine_bytes;
    int guarded = slot->span == NULL;
    if (budget > 0) {
        /* Into the quarantine: poisoned, or its pages closed. */
        if (guarded) {
            ar_heap_guard__protect(rec); /* a guarded block's record opens its guard slot */
        } else if (slot->span->klass == AR_HEAP_CLASSES) {
            /* A huge block (a span of its own): its pages are closed, not
             * poisoned. Two system calls instead of two passes over
             * megabytes; its memory goes back at once; a use after free
             * faults at the instruction (fault.c reports it). */
            ar_heap_fault__install();
            if (ar_heap_os__close((void *)slot->span->start,
                                  (size_t)slot->span->units << AR_HEAP_UNIT_SHIFT))
                rec->flags |= AR_HEAP_BLOCK_CLOSED;
            else {
                memset((void *)(b.base + b.offset), AR_HEAP_FILL_FREED, b.size);
                rec->flags |= AR_HEAP_BLOCK_POISONED;
            }
        } else {
            memset((void *)(b.base + b.offset), AR_HEAP_FILL_FREED, b.size);
            rec->flags |= AR_HEAP_BLOCK_POISONED;
        }
        ar_heap_valgrind__freed(b.base + b.offset, (void *)b.base, b.extent, b.canary);
        atomic_store_explicit(&rec->state, AR_HEAP_STATE_QUARANTINED, memory_order_release);
        ar_heap_qentry_t entry = ar_heap_life__entry(slot, b.extent, damaged > 0);
        ar_heap_life__quarantine(self, &entry, budget);
    } else {
        /* Straight back; and whatever a lowered budget still holds. */
        rec->flags &= (uint8_t)~AR_HEAP_BLOCK_POISONED;
        ar_heap_valgrind__freed(b.base + b.offset, (void *)b.base, b.extent, b.canary);
        ar_heap_qentry_t entry = ar_heap_life__entry(slot, 0, 1);
        ar_heap_life__release(self, &entry);
        if (ar_heap_quarantine__holds(self))
            ar_heap_life__drain(self);
    }
    if (damaged > 0)
        ar_heap_report__act();
    return 1;
}

static int ar_heap_life__free_general(void *ptr, const char *operation,
                                      const ar_heap_site_t *site);

/* The common case, and the general path when it does not apply. */
__attribute__((noinline)) static int
ar_heap_life__free_common(void *ptr, const char *operation, const ar_heap_site_t *site)
{
    ar_heap_thread_t *self = ar_heap_thread_self;
    ar_heap_slot_t slot;
    if (AR_HEAP_LIKELY(self != NULL &&
                       atomic_load_explicit(&ar_heap_life_fast, memory_order_relaxed))) {
        ar_heap_span_t *span = ar_heap_span__at((uintptr_t)ptr);
        if (AR_HEAP_LIKELY(span != NULL && span->klass != AR_HEAP_CLASSES)) {
            uint64_t index =
                (uint64_t)(((unsigned __int128)((uintptr_t)ptr - span->start) * span->magic) >> 64);
            if (AR_HEAP_LIKELY(index < span->slots)) {
                ar_heap_span__slot(span, (uint32_t)index, &slot);
                /* The block's first line, for its head canary and poison:
                 * the load of the record below and the claim (a locked
                 * instruction, which waits for the record and holds back
                 * every later load) would otherwise put the two misses of
                 * a long-lived block one after the other. Pinned, 9 rounds
                 * in turn, medians, defaults: `strdup` 4% faster, `threads`
                 * T=1 2%; the slot's last line as well gained nothing. */
                __builtin_prefetch((const char *)slot.base, 1, 3);
                uint8_t live = AR_HEAP_STATE_LIVE;
                ar_heap_thread__enter_as(self);
                if (AR_HEAP_LIKELY(slot.base + slot.rec->offset == (uintptr_t)ptr) &&
                    AR_HEAP_LIKELY(atomic_compare_exchange_strong_explicit(
                        &slot.rec->state, &live, AR_HEAP_STATE_FREEING, memory_order_acquire,
                        memory_order_relaxed))) {
                    int freed = ar_heap_life__free_in(self, &slot, operation, site);
                    ar_heap_thread__leave(self);
                    return freed;
                }
                ar_heap_thread__leave(self);
            }
        }
    }
    return ar_heap_life__free_general(ptr, operation, site);
}

/* The free's leaf path, tried: 1 when done here. The context's id as for
 * the allocation (ar_heap_life__allocate_leaf). */
__attribute__((always_inline)) static inline int
ar_heap_life__free_leaf(void *ptr, const ar_heap_site_t *site, int by_call,
                        const ar_heap_call_site_t *call, const void *pc)
{
    if (!atomic_load_explicit(&ar_heap_life_lean, memory_order_relaxed))
        return 0;
    ar_heap_thread_t *self = ar_heap_thread_self;
    return AR_HEAP_LIKELY(self != NULL) &&
           ar_heap_life__free_lean(self, ptr,
                                   by_call ? ar_heap_depot__call_id_at(call, pc)
                                           : ar_heap_depot__cached(self, site, NULL));
}

/* The free, inline where the site is made (the public entry points at the
 * end of this file); ar_heap_life__free for the others. */
__attribute__((always_inline)) static inline int
ar_heap_life__free_inline(void *ptr, const char *operation, const ar_heap_site_t *site)
{
    if (AR_HEAP_LIKELY(ar_heap_life__free_leaf(ptr, site, 0, NULL, NULL)))
        return 1;
    return ar_heap_life__free_common(ptr, operation, site);
}

int ar_heap_life__free(void *ptr, const char *operation, const ar_heap_site_t *site)
{
    return ar_heap_life__free_inline(ptr, operation, site);
}

/* Every case (a function of its own: the fast path above keeps a small
 * frame). */
__attribute__((noinline)) static int ar_heap_life__free_general(void *ptr, const char *operation,
                                                                const ar_heap_site_t *site)
{
    ar_heap__ensure_init();
    ar_heap_life__count_operation();
    ar_heap_thread_t *self = ar_heap_thread__enter();
    ar_heap_slot_t slot;
    int freed = 0;
    if (ar_heap_index__find((uintptr_t)ptr, &slot) &&
        ar_heap_index__user(&slot) == (uintptr_t)ptr)
        freed = ar_heap_life__free_slot(self, &slot, ptr, operation, site);
    else
        ar_heap_life__bad_pointer(ptr, operation, site);
    ar_heap_thread__leave(self);
    return freed;
}

/* ------------------------------------------------------------ realloc */

void *ar_heap_life__realloc(void *ptr, size_t size, const ar_heap_site_t *site, const char *desc)
{
    if (ptr == NULL)
        return ar_heap_life__allocate(size, 0, site, desc, AR_HEAP_FILL_MARK);
    if (size == 0) {
        (void)ar_heap_life__free(ptr, "realloc", site);
        return NULL;
    }
    ar_heap__ensure_init();
    ar_heap_thread_t *self = ar_heap_thread__enter();
    ar_heap_slot_t slot;
    if (!ar_heap_index__find((uintptr_t)ptr, &slot) ||
        ar_heap_index__user(&slot) != (uintptr_t)ptr ||
        atomic_load_explicit(&slot.rec->state, memory_order_acquire) != AR_HEAP_STATE_LIVE) {
        ar_heap_life__bad_pointer(ptr, "realloc", site);
        ar_heap_thread__leave(self);
        return NULL;
    }
    size_t old_size = ar_heap_index__size(&slot);
    /* Always move: a stale pointer to the old block is then a pointer to
     * freed memory, which later checks can see. */
    void *fresh = ar_heap_life__allocate(size, 0, site, desc, AR_HEAP_FILL_NONE);
    if (fresh == NULL) {
        ar_heap_thread__leave(self);
        return NULL;
    }
    memcpy(fresh, ptr, old_size < size ? old_size : size);
    size_t fill_to = ar_heap_life__fill_len(AR_HEAP_FILL_NEW, size);
    if (fill_to > old_size && ar_heap_options.fill) {
        memset((char *)fresh + old_size, AR_HEAP_FILL_NEW, fill_to - old_size);
        ar_heap_valgrind__undefined((char *)fresh + old_size, fill_to - old_size);
    }
    /* Should another thread have freed the old block meanwhile (a race in
     * the program), the free reports it and the new block still stands.
     * The free is an operation of its own for check_every, as documented
     * (until stop 41 a realloc counted once). */
    ar_heap_life__count_operation();
    (void)ar_heap_life__free_slot(self, &slot, ptr, "realloc", site);
    ar_heap_thread__leave(self);
    return fresh;
}

/* ------------------------------------------------------------ bad pointers */

/* The view of a block, once no free of it is in progress. A free that
 * lost the claim to another thread's free of the same block finds it
 * FREEING: that free writes the block's free site and then leaves FREEING
 * with a release store; the view read after an acquire load that sees it
 * gone has the site whole (read before, it races the writes:
 * ThreadSanitizer caught check_threads' two threads freeing the same
 * blocks doing that). Bounded: a free that does not end (its thread
 * stopped in a debugger) leaves the view as it is. */
static void ar_heap_life__settled_view(const ar_heap_slot_t *slot, ar_heap_view_t *view)
{
    for (unsigned spins = 0; spins < 1000; spins++) {
        if (atomic_load_explicit(&slot->rec->state, memory_order_acquire) !=
            AR_HEAP_STATE_FREEING)
            break;
        sched_yield();
    }
    ar_heap_index__view(slot, view);
}

void ar_heap_life__bad_pointer(void *ptr, const char *operation, const ar_heap_site_t *site)
{
    ar_heap__ensure_init();
    ar_heap_thread_t *self = ar_heap_thread__enter();
    ar_heap_stack_t stack;
    stack.depth = ar_heap_stack__capture(self, site, stack.frames);
    ar_heap_slot_t slot;
    ar_heap_view_t view;
    ar_heap_bad_place_t place = AR_HEAP_BAD_FOREIGN;
    if (ar_heap_index__find((uintptr_t)ptr, &slot)) {
        ar_heap_life__settled_view(&slot, &view);
        uintptr_t addr = (uintptr_t)ptr, base = (uintptr_t)view.base;
        /* [base, user + size]: the head zone, the block's bytes, and one
         * past the end, since such a pointer can only have come from this
         * block. Until stop 41 a pointer into a head zone or inside a
         * freed block was told "not a block arheap allocated". */
        int near = addr >= base && addr <= view.user + view.size;
        int freed = view.state != AR_HEAP_STATE_LIVE && view.state != AR_HEAP_STATE_UNUSED &&
                    !(view.flags & AR_HEAP_BLOCK_FORGOTTEN);
        if (freed && addr == view.user)
            place = AR_HEAP_BAD_FREED;
        else if (freed && near)
            place = AR_HEAP_BAD_INSIDE_FREED;
        else if (view.state == AR_HEAP_STATE_LIVE && near)
            place = addr >= view.user ? AR_HEAP_BAD_INSIDE_LIVE : AR_HEAP_BAD_BEFORE_LIVE;
    }
    ar_heap_thread__leave(self);
    ar_heap_report__bad_pointer(ptr, operation, site, &stack,
                                place != AR_HEAP_BAD_FOREIGN ? &view : NULL, place);
}

/* ------------------------------------------------------------ queries */

int ar_heap_life__find_live(const void *ptr, ar_heap_view_t *out)
{
    ar_heap_slot_t slot;
    if (!ar_heap_index__find((uintptr_t)ptr, &slot) ||
        ar_heap_index__user(&slot) != (uintptr_t)ptr ||
        atomic_load_explicit(&slot.rec->state, memory_order_acquire) != AR_HEAP_STATE_LIVE)
        return 0;
    ar_heap_index__view(&slot, out);
    return 1;
}

int ar_heap_life__set_flag(const void *ptr, uint8_t flag)
{
    ar_heap__ensure_init();
    ar_heap_thread_t *self = ar_heap_thread__enter();
    ar_heap_slot_t slot;
    int live = ar_heap_index__find((uintptr_t)ptr, &slot) &&
               ar_heap_index__user(&slot) == (uintptr_t)ptr &&
               atomic_load_explicit(&slot.rec->state, memory_order_acquire) == AR_HEAP_STATE_LIVE;
    if (live)
        slot.rec->flags |= flag;
    ar_heap_thread__leave(self);
    return live;
}

/* ------------------------------------------------------------ check_all */

/* Findings kept by one check_all; more are counted, not shown. */
#define AR_HEAP_CHECK_SHOWN 64
/* Where the system refuses those (a tight address-space limit), a few
 * kept here, for one check at a time: until stop 43 such a check showed
 * none, repaired none, and said "1 more damaged block was found than one
 * report holds". */
#define AR_HEAP_CHECK_SPARE 4
static ar_heap_finding_t ar_heap_check_spare[AR_HEAP_CHECK_SPARE];
static _Atomic int ar_heap_check_spare_taken;

typedef struct ar_heap_check_s {
    ar_heap_finding_t *shown; /* `capacity` slots, mapped or the spare ones */
    size_t capacity;
    size_t count;             /* damaged blocks found */
    size_t kept;              /* findings stored */
    size_t unshown;           /* damaged blocks left for a later check */
} ar_heap_check_t;

/* Check one block. Damage that fits in the report is noted and repaired
 * (canaries rewritten, poison restored), so each write is reported once;
 * damage beyond what one check reports is left for the next check. */
static void ar_heap_life__check_one(const ar_heap_slot_t *slot, void *arg)
{
    ar_heap_check_t *check = arg;
    ar_heap_rec_t *rec = slot->rec;
    ar_heap_state_t state =
        (ar_heap_state_t)atomic_load_explicit(&rec->state, memory_order_acquire);
    int poisoned = (rec->flags & AR_HEAP_BLOCK_POISONED) &&
                   (state == AR_HEAP_STATE_QUARANTINED || state == AR_HEAP_STATE_FREED);
    if (state != AR_HEAP_STATE_LIVE && !poisoned)
        return; /* never used, forgotten, or a guarded block's closed pages */
    ar_heap_layout_t b;
    ar_heap_life__layout(slot, &b);
    ar_heap_damage_t damage[3];
    size_t n = 0;
    /* Memcheck: a live block's user bytes keep their state (only its zones
     * are opened); a freed block is no-access through and through. */
    uintptr_t user = b.base + b.offset;
    if (state == AR_HEAP_STATE_LIVE) {
        ar_heap_valgrind__open((void *)b.base, b.offset);
        ar_heap_valgrind__open((void *)(user + b.size), b.extent - b.offset - b.size);
    } else {
        ar_heap_valgrind__open((void *)b.base, b.extent);
    }
    if (poisoned && ar_heap_canary__check_poison(&b, &damage[n]))
        n++;
    size_t canaries = ar_heap_canary__check(&b, &damage[n], 2);
    if (canaries > 0 && state == AR_HEAP_STATE_LIVE)
        rec->flags |= AR_HEAP_BLOCK_DAMAGED;
    n += canaries;
    if (n > 0) {
        check->count++;
        if (check->shown == NULL || check->kept + n > check->capacity) {
            check->unshown++;
        } else {
            ar_heap_view_t view;
            ar_heap_index__view(slot, &view);
            for (size_t i = 0; i < n; i++) {
                check->shown[check->kept].block = view;
                check->shown[check->kept].damage = damage[i];
                check->kept++;
            }
            ar_heap_canary__write(&b);
            if (poisoned)
                memset((void *)user, AR_HEAP_FILL_FREED, b.size);
        }
    }
    if (state == AR_HEAP_STATE_LIVE) {
        ar_heap_valgrind__close((void *)b.base, b.offset);
        ar_heap_valgrind__close((void *)(user + b.size), b.extent - b.offset - b.size);
    } else {
        ar_heap_valgrind__close((void *)b.base, b.extent);
    }
}

size_t ar_heap_life__check_all(const char *how)
{
    ar_heap__ensure_init();
    ar_heap_check_t check = { NULL, AR_HEAP_CHECK_SHOWN, 0, 0, 0 };
    size_t bytes = AR_HEAP_CHECK_SHOWN * sizeof(ar_heap_finding_t);
    check.shown = ar_heap_os__map(bytes);
    int spare = 0;
    if (check.shown == NULL &&
        !atomic_exchange_explicit(&ar_heap_check_spare_taken, 1, memory_order_acquire)) {
        spare = 1;
        check.shown = ar_heap_check_spare;
        check.capacity = AR_HEAP_CHECK_SPARE;
    }
    ar_heap_world__stop();
    ar_heap_index__each(ar_heap_life__check_one, &check);
    ar_heap_world__resume();
    int at_exit = strcmp(how, "exit") == 0;
    for (size_t i = 0; i < check.kept; i++)
        ar_heap_report__damage(&check.shown[i],
                               at_exit ? AR_HEAP_FOUND_BY_EXIT : AR_HEAP_FOUND_BY_CHECK, NULL,
                               NULL);
    ar_heap_report__unshown(check.count, check.count - check.unshown);
    if (spare)
        atomic_store_explicit(&ar_heap_check_spare_taken, 0, memory_order_release);
    else if (check.shown != NULL)
        ar_heap_os__unmap(check.shown, bytes);
    if (check.count > 0) {
        /* At exit the program was ending normally: what it printed is
         * flushed before the error action ends it sooner. */
        if (at_exit)
            fflush(NULL);
        ar_heap_report__act();
    }
    return check.count;
}

/* ------------------------------------------------------- closed pages */

int ar_heap_life__closed_hit(uintptr_t addr, ar_heap_guard_hit_t *hit)
{
    ar_heap_span_t *span = ar_heap_span__at(addr);
    if (span == NULL || span->klass != AR_HEAP_CLASSES)
        return 0;
    ar_heap_slot_t slot;
    ar_heap_span__slot(span, 0, &slot);
    if (!(slot.rec->flags & AR_HEAP_BLOCK_CLOSED))
        return 0;
    hit->user = ar_heap_index__user(&slot);
    hit->size = ar_heap_index__size(&slot);
    hit->state = AR_HEAP_STATE_QUARANTINED;
    hit->slot = slot;
    return 1;
}

/* ------------------------------------------------------------ the public entry points */

/* Not in the preload library, which exports only the C library's names
 * (preload.c): there every site is a wrapper's, with no file, line or
 * call object, and the thread's depot cache leaves them out of its
 * compares (ar_heap_depot__memo_is). */
#if !AR_HEAP_PRELOAD

/*
 * ar_heap__malloc and its siblings (ar_heap.h): each takes its call's site
 * (file and line from the macro, its own return address and frame, where
 * a call stack starts) and starts the block's life above. They are here,
 * not in heap.c, so that malloc and free compile the allocation and the
 * free inline: the tracking-only leaf paths then read the site from
 * registers and make no call at all. Counted (callgrind, --scale 10):
 * tracking only, `small` 160.0 M to 149.0 M instructions (-6.9%),
 * `strdup` 118.1 M to 114.4 M (-3.2%, its free); the defaults `small`
 * +0.3%, `strdup` -0.5% (doc/benchmark-history.md, "Stop 35"). The string
 * copies call the function: inline there, the defaults' `strdup` made
 * 1.7% more (registers saved for the leaf path before its first test).
 * calloc and realloc, which the leaf paths do not finish, call it too.
 */

/* The site of a call: file and line from the macro, the calling thread
 * (0: a report reads its id), and the entry point's return address into
 * the caller and its own frame (where the call stack starts). */
#define AR_HEAP_SITE(file, line)                                                                   \
    {                                                                                              \
        (file), (line), 0, __builtin_return_address(0), __builtin_frame_address(0), NULL           \
    }

/* The site of a macro call that has its own object (ar_heap_call_site_t):
 * its context's id is then remembered there (ar_heap_depot__call_id). */
#define AR_HEAP_SITE_CALL(call)                                                                    \
    {                                                                                              \
        (call)->file, (call)->line, 0, __builtin_return_address(0), __builtin_frame_address(0),    \
            (call)                                                                                 \
    }

void *ar_heap__malloc(size_t size, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = AR_HEAP_SITE(file, line);
    return ar_heap_life__allocate_inline(size, 0, &site, desc, AR_HEAP_FILL_MARK);
}

void *ar_heap__calloc(size_t count, size_t size, const char *file, int line, const char *desc)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_site_t site = AR_HEAP_SITE(file, line);
    return ar_heap_life__allocate(count * size, 0, &site, desc, AR_HEAP_FILL_ZERO);
}

/* A tracked copy of the first `len` bytes of str, NUL-terminated. */
static char *ar_heap__copy_string(const char *str, size_t len, const ar_heap_site_t *site,
                                  const char *desc)
{
    char *copy = ar_heap_life__allocate(len + 1, 0, site, desc, AR_HEAP_FILL_NONE);
    return ar_heap_life__copy_into(copy, str, len);
}

/* STRDUP(NULL) and STRNDUP(NULL, n): reported; NULL with EINVAL. */
static char *ar_heap__null_string(const char *what, const ar_heap_site_t *site)
{
    ar_heap__ensure_init();
    ar_heap_report__invalid_argument(what, site);
    errno = EINVAL;
    return NULL;
}

char *ar_heap__strdup(const char *str, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = AR_HEAP_SITE(file, line);
    if (str == NULL)
        return ar_heap__null_string("STRDUP was given a NULL string", &site);
    return ar_heap__copy_string(str, strlen(str), &site, desc);
}

char *ar_heap__strndup(const char *str, size_t n, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = AR_HEAP_SITE(file, line);
    if (str == NULL)
        return ar_heap__null_string("STRNDUP was given a NULL string", &site);
    const char *end = memchr(str, '\0', n);
    return ar_heap__copy_string(str, end != NULL ? (size_t)(end - str) : n, &site, desc);
}

void ar_heap__free_at(void *ptr, const char *file, int line)
{
    if (ptr == NULL)
        return;
    ar_heap_site_t site = AR_HEAP_SITE(file, line);
    (void)ar_heap_life__free_inline(ptr, "free", &site);
}

void ar_heap__free(void *ptr)
{
    if (ptr == NULL)
        return;
    ar_heap_site_t site = AR_HEAP_SITE(NULL, 0);
    (void)ar_heap_life__free_inline(ptr, "free", &site);
}

void *ar_heap__realloc(void *ptr, size_t size, const char *file, int line, const char *desc)
{
    ar_heap_site_t site = AR_HEAP_SITE(file, line);
    return ar_heap_life__realloc(ptr, size, &site, desc);
}

/* The calls of the macros that have their own object: the same, with the
 * site's file, line and description from it. */

void *ar_heap__malloc_site(size_t size, ar_heap_call_site_t *call)
{
    void *user;
    if (AR_HEAP_LIKELY(ar_heap_life__allocate_leaf(size, 0, NULL, NULL, AR_HEAP_FILL_MARK, 1, call,
                                                   __builtin_return_address(0), &user)))
        return user;
    ar_heap_site_t site = AR_HEAP_SITE_CALL(call);
    return ar_heap_life__allocate_common(size, 0, &site, call->desc, AR_HEAP_FILL_MARK);
}

void *ar_heap__calloc_site(size_t count, size_t size, ar_heap_call_site_t *call)
{
    if (size != 0 && count > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    ar_heap_site_t site = AR_HEAP_SITE_CALL(call);
    return ar_heap_life__allocate(count * size, 0, &site, call->desc, AR_HEAP_FILL_ZERO);
}

void *ar_heap__realloc_site(void *ptr, size_t size, ar_heap_call_site_t *call)
{
    ar_heap_site_t site = AR_HEAP_SITE_CALL(call);
    return ar_heap_life__realloc(ptr, size, &site, call->desc);
}

char *ar_heap__strdup_site(const char *str, ar_heap_call_site_t *call)
{
    if (AR_HEAP_UNLIKELY(str == NULL)) {
        ar_heap_site_t site = AR_HEAP_SITE_CALL(call);
        return ar_heap__null_string("STRDUP was given a NULL string", &site);
    }
    size_t len = strlen(str);
    void *copy;
    if (AR_HEAP_UNLIKELY(!ar_heap_life__allocate_leaf(len + 1, 0, NULL, NULL, AR_HEAP_FILL_NONE, 1,
                                                      call, __builtin_return_address(0), &copy))) {
        ar_heap_site_t site = AR_HEAP_SITE_CALL(call);
        copy = ar_heap_life__allocate_common(len + 1, 0, &site, call->desc, AR_HEAP_FILL_NONE);
    }
    return ar_heap_life__copy_into(copy, str, len);
}

void ar_heap__free_site(void *ptr, ar_heap_call_site_t *call)
{
    if (ptr == NULL)
        return;
    if (AR_HEAP_LIKELY(ar_heap_life__free_leaf(ptr, NULL, 1, call, __builtin_return_address(0))))
        return;
    ar_heap_site_t site = AR_HEAP_SITE_CALL(call);
    (void)ar_heap_life__free_common(ptr, "free", &site);
}
#endif /* !AR_HEAP_PRELOAD */
