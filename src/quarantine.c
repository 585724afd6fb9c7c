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
 * Each shard of the tracking table has its own FIFO (oldest first) and a
 * share of the byte budget (option quarantine_bytes), so a free takes one
 * lock, as it does without quarantine. Memory held never exceeds the budget
 * plus one block per shard. The FIFO functions run under the shard's lock.
 */
#include "ar_heap_internal.h"

#include <string.h>

/* A page of poison to compare freed blocks with (set at initialisation). */
static unsigned char poison[4096];

void ar_heap_quarantine__init(void)
{
    memset(poison, AR_HEAP_FILL_FREED, sizeof poison);
}

void ar_heap_quarantine__push(ar_heap_quarantine_t *q, ar_heap_record_t *record)
{
    memset((void *)record->user, AR_HEAP_FILL_FREED, record->size);
    record->qnext = NULL;
    if (q->newest != NULL)
        q->newest->qnext = record;
    else
        q->oldest = record;
    q->newest = record;
    q->bytes += record->total;
    q->blocks++;
}

ar_heap_record_t *ar_heap_quarantine__pop_over(ar_heap_quarantine_t *q, size_t budget)
{
    if (q->bytes <= budget || q->oldest == NULL)
        return NULL;
    ar_heap_record_t *record = q->oldest;
    q->oldest = record->qnext;
    if (q->oldest == NULL)
        q->newest = NULL;
    q->bytes -= record->total;
    q->blocks--;
    record->qnext = NULL;
    return record;
}

int ar_heap_quarantine__check_poison(const ar_heap_record_t *record, ar_heap_damage_t *out)
{
    const unsigned char *user = (const unsigned char *)record->user;
    /* Fast path: libc's memcmp against a page of poison, until a chunk
     * differs; the byte loop below then finds the first damaged byte. */
    size_t clean = 0;
    while (clean < record->size) {
        size_t chunk = record->size - clean < sizeof poison ? record->size - clean : sizeof poison;
        if (memcmp(user + clean, poison, chunk) != 0)
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
    if (damaged == 0)
        return 0;
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
    return 1;
}
