/*
 * checkpoint.c: per-test leak checks.
 *
 * A test suite asks "did this test leak", not "did the process": a
 * fixture or a library may keep blocks alive for the whole run. A mark is
 * the allocation sequence number at the time it is taken; the blocks a
 * test leaked are the live ones with a larger number, minus those allowed
 * to outlive it. Nothing is kept per mark, so marks cost nothing and may
 * nest.
 *
 * The walk stops the world (one consistent set of blocks) and writes its
 * lines meanwhile, like the leak report.
 */
#include "ar_heap_internal.h"

/* One block to list: where it is, and its allocation number. */
typedef struct ar_heap_since_block_s {
    ar_heap_slot_t slot;
    uint64_t seq;
} ar_heap_since_block_t;

typedef struct ar_heap_since_s {
    ar_heap_mark_t mark;
    size_t count;
    size_t bytes;
    ar_heap_since_block_t *found; /* capacity entries, mapped; NULL: not listed */
    const void **order;           /* of ar_heap_since_block_t, in allocation order */
    size_t capacity;
    ar_heap_out_t *direct;        /* lines written as the walk finds them, or NULL */
} ar_heap_since_t;

ar_heap_mark_t ar_heap__checkpoint(void)
{
    ar_heap__ensure_init();
    return (ar_heap_mark_t)ar_heap_thread__mark();
}

static void ar_heap_checkpoint__visit(const ar_heap_slot_t *slot, void *arg)
{
    ar_heap_since_t *since = arg;
    if (atomic_load_explicit(&slot->rec->state, memory_order_relaxed) != AR_HEAP_STATE_LIVE ||
        slot->rec->seq <= since->mark)
        return;
    ar_heap_view_t view;
    ar_heap_index__view(slot, &view);
    if (ar_heap_leaks__is_intentional(&view))
        return;
    if (since->count < since->capacity) {
        ar_heap_since_block_t *b = &since->found[since->count];
        b->slot = *slot;
        b->seq = view.seq;
        since->order[since->count] = b;
    }
    if (since->direct != NULL)
        ar_heap_leaks__block_line(since->direct, &view);
    since->count++;
    since->bytes += view.size;
}

static int ar_heap_checkpoint__by_seq(const void *a, const void *b)
{
    return ((const ar_heap_since_block_t *)a)->seq < ((const ar_heap_since_block_t *)b)->seq;
}

/* The walk index.c makes goes by address; the blocks are listed in
 * allocation order (until stop 42 they came in the walk's). Without
 * memory for the order (mapped, as the leak report's), in the walk's. */
static void ar_heap_checkpoint__list(ar_heap_since_t *since, ar_heap_out_t *out)
{
    if (since->found != NULL && since->count <= since->capacity) {
        ar_heap_leaks__sort(since->order, since->count, ar_heap_checkpoint__by_seq);
        for (size_t i = 0; i < since->count; i++) {
            ar_heap_view_t view;
            ar_heap_index__view(&((const ar_heap_since_block_t *)since->order[i])->slot, &view);
            ar_heap_leaks__block_line(out, &view);
        }
        return;
    }
    ar_heap_out__str(out, "arheap: (no memory to order the list: in address order)\n");
    ar_heap_since_t again = *since;
    again.count = 0;
    again.capacity = 0;
    again.found = NULL;
    again.direct = out;
    ar_heap_index__each(ar_heap_checkpoint__visit, &again);
}

static size_t ar_heap_checkpoint__scan(ar_heap_mark_t mark, ar_heap_out_t *stream,
                                       ar_heap_out_t *text)
{
    ar_heap__ensure_init();
    ar_heap_since_t since;
    memset(&since, 0, sizeof since);
    since.mark = mark;
    ar_heap_out_t *out = stream != NULL ? stream : text;
    if (stream != NULL) {
        ar_heap_out__str(stream, "arheap: blocks allocated since checkpoint ");
        ar_heap_out__dec(stream, mark);
        ar_heap_out__str(stream, " and still live:\n");
    }
    ar_heap_world__stop();
    size_t bytes = 0;
    if (out != NULL) {
        ar_heap_stats_t stats;
        ar_heap_stats__snapshot_stopped(&stats);
        since.capacity = stats.live_blocks;
        bytes = since.capacity * (sizeof *since.found + sizeof *since.order);
        if (bytes > 0 && (since.found = ar_heap_os__map(bytes)) != NULL)
            since.order = (const void **)(void *)(since.found + since.capacity);
        else
            since.capacity = 0;
    }
    ar_heap_index__each(ar_heap_checkpoint__visit, &since);
    if (out != NULL && since.count > 0)
        ar_heap_checkpoint__list(&since, out);
    ar_heap_world__resume();
    if (since.found != NULL)
        ar_heap_os__unmap(since.found, bytes);
    if (stream != NULL) {
        ar_heap_out__str(stream, "arheap: ");
        ar_heap_out__dec(stream, since.count);
        ar_heap_out__str(stream, since.count == 1 ? " block (" : " blocks (");
        ar_heap_out__dec(stream, since.bytes);
        ar_heap_out__str(stream, " bytes) leaked since the checkpoint\n");
        ar_heap_out__flush(stream);
    }
    if (text != NULL)
        ar_heap_out__flush(text);
    return since.count;
}

size_t ar_heap__leaks_since(ar_heap_mark_t mark, int report)
{
    if (!report)
        return ar_heap_checkpoint__scan(mark, NULL, NULL);
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    return ar_heap_checkpoint__scan(mark, &out, NULL);
}

size_t ar_heap__leaks_since_text(ar_heap_mark_t mark, char *buf, size_t size)
{
    ar_heap_out_t text;
    ar_heap_out__init_text(&text, buf, buf != NULL ? size : 0);
    return ar_heap_checkpoint__scan(mark, NULL, &text);
}

int ar_heap__allow_leak(const void *ptr)
{
    if (ptr == NULL)
        return 0;
    ar_heap__ensure_init();
    return ar_heap_life__set_flag(ptr, AR_HEAP_BLOCK_ALLOWED_LEAK);
}
