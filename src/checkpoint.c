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

typedef struct ar_heap_since_s {
    ar_heap_mark_t mark;
    size_t count;
    size_t bytes;
    ar_heap_out_t *stream; /* stderr lines, or NULL */
    ar_heap_out_t *text;   /* a caller's buffer, or NULL */
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
    since->count++;
    since->bytes += view.size;
    if (since->stream != NULL)
        ar_heap_leaks__block_line(since->stream, &view);
    if (since->text != NULL)
        ar_heap_leaks__block_line(since->text, &view);
}

static size_t ar_heap_checkpoint__scan(ar_heap_mark_t mark, ar_heap_out_t *stream,
                                       ar_heap_out_t *text)
{
    ar_heap__ensure_init();
    ar_heap_since_t since = { mark, 0, 0, stream, text };
    if (stream != NULL) {
        ar_heap_out__str(stream, "arheap: blocks allocated since checkpoint ");
        ar_heap_out__dec(stream, mark);
        ar_heap_out__str(stream, " and still live:\n");
    }
    ar_heap_world__stop();
    ar_heap_index__each(ar_heap_checkpoint__visit, &since);
    ar_heap_world__resume();
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
