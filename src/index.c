/*
 * index.c: from an address to the slot and record of its block, and
 * walks over every record.
 *
 * Why a module of its own: every free, every report and the fault handler
 * ask "what is at this address?"; the answer must cost the same with ten
 * blocks live or ten million, must never touch memory the checker does
 * not own (a pointer handed to free is not dereferenced), and must work
 * without a lock, even in a signal handler. The backend's layout (span.c)
 * makes it arithmetic: the unit table names the span, a multiplication
 * the slot, and the slot's record sits at the same index beside the span.
 * Guarded blocks live in guard.c's arenas and are found there.
 *
 * The index only finds. What a record says, and when it changes, is
 * life.c's business.
 */
#include "ar_heap_internal.h"

#include <string.h>

/* A site from a depot context (file, line, pc) and a thread. */
static void ar_heap_index__site(uint32_t ctx_id, uint32_t thread, ar_heap_site_t *site,
                                void *const **frames, size_t *depth)
{
    const ar_heap_ctx_t *ctx = ar_heap_depot__get(ctx_id);
    site->thread = thread;
    site->frame = NULL;
    if (ctx == NULL) {
        site->file = NULL;
        site->line = 0;
        site->pc = NULL;
        *frames = NULL;
        *depth = 0;
        return;
    }
    site->file = ctx->file;
    site->line = ctx->line;
    site->pc = ctx->pc;
    *frames = ctx->frames;
    *depth = ctx->depth;
}

void ar_heap_index__view(const ar_heap_slot_t *slot, ar_heap_view_t *out)
{
    const ar_heap_rec_t *rec = slot->rec;
    out->state = (ar_heap_state_t)atomic_load_explicit(&rec->state, memory_order_acquire);
    out->flags = rec->flags;
    out->user = ar_heap_index__user(slot);
    out->size = ar_heap_index__size(slot);
    out->seq = rec->seq;
    if (slot->span == NULL) {
        out->base = (void *)slot->base;
        out->total = slot->capacity;
    } else {
        out->base = (void *)slot->base;
        out->total = ar_heap_canary__extent(out->user - slot->base, out->size,
                                            (rec->flags & AR_HEAP_BLOCK_CANARY) != 0);
    }
    ar_heap_index__site(rec->alloc_ctx, rec->alloc_thread, &out->alloc_site, &out->alloc_frames,
                        &out->alloc_depth);
    const ar_heap_ctx_t *ctx = ar_heap_depot__get(rec->alloc_ctx);
    out->desc = ctx != NULL ? ar_heap_depot__desc(ctx) : "(no description)";
    if (ctx != NULL && ctx->marked)
        out->flags |= AR_HEAP_BLOCK_MARKED;
    ar_heap_index__site(rec->free_ctx, rec->free_thread, &out->free_site, &out->free_frames,
                        &out->free_depth);
}

void ar_heap_index__each(ar_heap_slot_fn fn, void *arg)
{
    for (ar_heap_span_t *span = ar_heap_span__first(); span != NULL; span = span->next_all) {
        uint32_t used = span->fresh;
        for (uint32_t i = 0; i < used; i++) {
            ar_heap_rec_t *rec = &span->recs[i];
            if (atomic_load_explicit(&rec->state, memory_order_acquire) == AR_HEAP_STATE_UNUSED)
                continue;
            ar_heap_slot_t slot = { rec, span, i, span->start + (uintptr_t)i * span->stride,
                                    span->stride };
            fn(&slot, arg);
        }
    }
    ar_heap_guard__each(fn, arg);
}

/* ------------------------------------------------------------ describe */

/* Whether a freed block is out of the quarantine. Its record says so
 * when FREED: a release that looks at the record (a guarded or huge
 * block's, a damaged one's, quarantine_bytes=0) and the let-go of an
 * emptied span's memory (life.c) write it. The common release leaves
 * the record QUARANTINED: then the slot is back in circulation when it is
 * on its span's free stack or in a chunk on the way to its owner. The
 * world is stopped, so none of these changes meanwhile. */
static int ar_heap_index__released(const ar_heap_slot_t *slot)
{
    const ar_heap_span_t *span = slot->span;
    if (atomic_load_explicit(&slot->rec->state, memory_order_acquire) == AR_HEAP_STATE_FREED)
        return 1;
    if (span == NULL || span->klass == AR_HEAP_CLASSES)
        return 0;
    for (uint32_t i = 0; i < span->free_top; i++)
        if (span->free_stack[i] == slot->index)
            return 1;
    return ar_heap_span__returning(span, slot->index);
}

/*
 * ar_heap__describe: what arheap knows of an address, for a debugger
 * (`call ar_heap__describe(p)`). The world is stopped while the record is
 * read, so a free or a reuse in another thread can not change it halfway;
 * nothing is allocated and nothing of the program's memory is read (a
 * freed guarded block's pages may be inaccessible): only the checker's
 * own tables. A slot whose record says UNUSED holds no block.
 */
void ar_heap__describe(const void *addr)
{
    ar_heap__ensure_init();
    ar_heap_world__stop();
    ar_heap_slot_t slot;
    ar_heap_view_t view;
    int known = 0, released = 0;
    if (ar_heap_index__find((uintptr_t)addr, &slot) &&
        atomic_load_explicit(&slot.rec->state, memory_order_acquire) != AR_HEAP_STATE_UNUSED) {
        ar_heap_index__view(&slot, &view);
        released = view.state != AR_HEAP_STATE_LIVE && ar_heap_index__released(&slot);
        known = 1;
    }
    ar_heap_report__describe(addr, known ? &view : NULL, released);
    ar_heap_world__resume();
}
