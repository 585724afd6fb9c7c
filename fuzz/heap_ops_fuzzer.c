/*
 * heap_ops_fuzzer.c: libFuzzer target that drives the debug heap through
 * a sequence of operations, bugs included, and checks every report.
 *
 * The input is a program. Its first byte picks options (fill, JSON
 * reports, call stacks, check_all right after each bug, guard pages
 * for every block or one in 3); every following
 * opcode byte, with the argument bytes it reads, is one operation on a
 * table of slots: MALLOC, CALLOC, REALLOC, STRDUP and FREE of tracked
 * blocks, and deliberate bugs: a write past the end or before the start
 * of a live block, a write to a block in the quarantine (its bytes or its
 * tail canary), a second free or a realloc of a quarantined block, a free
 * of an interior, stack, global or plain-malloc pointer, STRDUP(NULL).
 *
 * Beside the heap the fuzzer keeps a model: each block's size and the
 * bytes it must hold, which canary zones and poison are damaged and not
 * yet reported, and what is in the quarantine. After every operation the
 * heap's statistics must equal the model's (live blocks and bytes,
 * quarantined blocks, allocations) and errors_reported must have grown by
 * exactly the reports the model predicts: no false report, no missed one.
 * Any difference, or a block whose bytes changed, aborts the fuzzer.
 *
 * When damage is reported, as the model knows it: at the damaged block's
 * free or realloc (live blocks), at ar_heap__check_all (every block), and
 * at eviction from the quarantine. The quarantine's budget (64 MiB) is
 * far above what one input can free, so nothing is evicted while an input
 * runs; at its end everything is checked and freed and the quarantine is
 * emptied by setting its budget to 0, so the next input starts from an
 * empty heap. Damaged blocks pending at once are capped at 16 so that a
 * check_all reports them all (it shows up to 64 findings, at most 3 a
 * block).
 *
 * With guard pages the deliberate writes are left out (they would fault,
 * which is the guard pages' way to report them, not this fuzzer's): the
 * frees, reallocs and bad pointers still run, through guard slots.
 *
 * The heap runs with on_error=continue and leak_report=0. Run with
 * -close_fd_mask=2 to keep arheap's reports off the terminal: the
 * fuzzer's own diagnostics go to a copy of stderr taken at start-up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"

#define SLOTS 16
#define QUARANTINE_MAX 8192
#define DAMAGED_MAX 16
#define BIG_BUDGET ((size_t)64 << 20)
/* Backend bytes a block can take beyond its size: canaries, or with
 * guard pages its page rounding and guard page. */
#define BLOCK_OVERHEAD 48
#define GUARD_OVERHEAD 8192
/* What one input may have live and quarantined at once (upper bound). */
#define HELD_MAX ((size_t)16 << 20)

#define FILL_NEW 0xbe
#define FILL_FREED 0xdf

/* Damage not yet reported, per canary zone or poison. */
#define DAMAGE_HEAD 0x1u
#define DAMAGE_TAIL 0x2u
#define DAMAGE_POISON 0x4u

typedef struct block_s {
    unsigned char *p;
    size_t size;
    unsigned seed;   /* byte i holds pattern(seed, i) */
    unsigned damage; /* DAMAGE_* not yet reported */
} block_t;

static struct {
    int report_fd; /* stderr as it was at start-up */
    block_t live[SLOTS];
    int used[SLOTS];
    block_t held[QUARANTINE_MAX]; /* model of the quarantine, oldest first */
    size_t held_count;
    size_t live_count;
    size_t live_bytes;
    size_t outstanding;           /* live and held backend bytes, upper bound */
    size_t damaged;               /* blocks with damage not yet reported */
    size_t expected_errors;
    size_t allocations;
    ar_heap_stats_t base; /* the heap's counters at the input's start */
    int fill;
    int check_after_bug;
    int guard; /* guard pages on: no deliberate writes, freed blocks unreadable */
    const uint8_t *data;
    size_t size;
    size_t at;
    size_t op; /* index of the operation, for diagnostics */
} fz;

static char global_bytes[32];

static void fail(const char *what, size_t expected, size_t got)
{
    dprintf(fz.report_fd, "heap_ops_fuzzer: MODEL MISMATCH at operation %zu: %s: expected %zu, "
                          "got %zu\n", fz.op, what, expected, got);
    abort();
}

static uint8_t next_byte(void)
{
    return fz.at < fz.size ? fz.data[fz.at++] : 0;
}

static unsigned char pattern(unsigned seed, size_t i)
{
    return (unsigned char)((seed * 131u + i * 7u + (i >> 8)) & 0xffu);
}

/* A size, mostly small: 0..255; one byte in 16 asks for up to 64 KiB. */
static size_t next_size(void)
{
    uint8_t b = next_byte();
    if (b >= 240) {
        size_t big = (size_t)(b - 240) * 4096 + (size_t)next_byte() * 16;
        if (fz.outstanding + big + GUARD_OVERHEAD <= HELD_MAX)
            return big;
        return b;
    }
    return b;
}

static void check_stats(void)
{
    ar_heap_stats_t now;
    ar_heap__get_stats(&now);
    if (now.errors_reported - fz.base.errors_reported != fz.expected_errors)
        fail("errors_reported", fz.expected_errors, now.errors_reported - fz.base.errors_reported);
    if (now.live_blocks != fz.live_count)
        fail("live_blocks", fz.live_count, now.live_blocks);
    if (now.live_bytes != fz.live_bytes)
        fail("live_bytes", fz.live_bytes, now.live_bytes);
    if (now.quarantine_blocks != fz.held_count)
        fail("quarantine_blocks", fz.held_count, now.quarantine_blocks);
    if (now.total_allocations - fz.base.total_allocations != fz.allocations)
        fail("total_allocations", fz.allocations,
             now.total_allocations - fz.base.total_allocations);
}

static void verify_pattern(const block_t *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (b->p[i] != pattern(b->seed, i))
            fail("a block's byte changed (offset, then found)", i, b->p[i]);
}

static void write_pattern(const block_t *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        b->p[i] = pattern(b->seed, i);
}

static void verify_fill(const unsigned char *p, size_t from, size_t to, unsigned char value)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != value)
            fail("a new block's fill (offset, then found)", i, p[i]);
}

/* Damage zones a block reports when checked: one report each. */
static size_t damage_reports(unsigned damage)
{
    return (size_t)((damage & DAMAGE_HEAD) != 0) + ((damage & DAMAGE_TAIL) != 0) +
           ((damage & DAMAGE_POISON) != 0);
}

/* A block's pending damage is reported now (free, realloc or check). */
static void damage_reported(block_t *b)
{
    if (b->damage != 0) {
        fz.expected_errors += damage_reports(b->damage);
        fz.damaged--;
        b->damage = 0;
    }
}

/* A new block enters slot s: count it, check its fill, give it a pattern.
 * `known` bytes at its start were copied (realloc) or written (calloc,
 * strdup) and have been checked by the caller. */
static void adopt(int s, unsigned char *p, size_t size, size_t known, int filled)
{
    block_t *b = &fz.live[s];
    if (p == NULL)
        fail("an allocation returned NULL (size)", size, 0);
    b->p = p;
    b->size = size;
    b->damage = 0;
    if (filled && fz.fill)
        verify_fill(p, known, size, FILL_NEW);
    write_pattern(b, known, size);
    fz.used[s] = 1;
    fz.live_count++;
    fz.live_bytes += size;
    fz.outstanding += size + (fz.guard ? GUARD_OVERHEAD : BLOCK_OVERHEAD);
    fz.allocations++;
}

/* Slot s's block was freed (free or realloc): into the model's quarantine. */
static void retire(int s)
{
    block_t *b = &fz.live[s];
    damage_reported(b);
    if (!fz.guard) /* a guarded block's pages are PROT_NONE in the quarantine */
        verify_fill(b->p, 0, b->size, FILL_FREED);
    fz.used[s] = 0;
    fz.live_count--;
    fz.live_bytes -= b->size;
    if (fz.held_count == QUARANTINE_MAX)
        fail("quarantine model overflow", QUARANTINE_MAX, fz.held_count);
    fz.held[fz.held_count++] = *b;
}

static void op_free(int s)
{
    if (!fz.used[s])
        return;
    verify_pattern(&fz.live[s], 0, fz.live[s].size);
    AR__HEAP__FREE(fz.live[s].p);
    retire(s);
}

static char desc_buf[96];

/* A description: usually fixed, sometimes bytes of the input (up to 80,
 * so that cutting at 63 and escaping for JSON both get exercised). */
static const char *next_desc(uint8_t op)
{
    if (!(op & 0x80))
        return "fuzzed block";
    size_t len = next_byte() % 81;
    size_t i = 0;
    for (; i < len && fz.at < fz.size; i++) {
        desc_buf[i] = (char)next_byte();
        if (desc_buf[i] == '\0')
            break;
    }
    desc_buf[i] = '\0';
    return desc_buf;
}

static void op_malloc(int s, uint8_t op)
{
    op_free(s);
    size_t size = next_size();
    const char *desc = next_desc(op);
    adopt(s, AR__HEAP__MALLOC(size, desc), size, 0, 1);
}

static void op_calloc(int s, uint8_t op)
{
    op_free(s);
    size_t count = next_byte() % 17;
    size_t each = next_size() % 64;
    const char *desc = next_desc(op);
    unsigned char *p = AR__HEAP__CALLOC(count, each, desc);
    if (p != NULL)
        verify_fill(p, 0, count * each, 0);
    adopt(s, p, count * each, 0, 0);
}

static void op_strdup(int s, uint8_t op)
{
    op_free(s);
    char text[256];
    size_t len = next_byte();
    for (size_t i = 0; i < len; i++)
        text[i] = (char)(pattern(fz.live[s].seed, i) | 1); /* never NUL */
    text[len] = '\0';
    const char *desc = next_desc(op);
    char *copy = AR__HEAP__STRDUP(text, desc);
    if (copy != NULL && memcmp(copy, text, len + 1) != 0)
        fail("STRDUP copied wrongly (length)", len, strlen(copy));
    /* The copy holds text, which is the pattern's bytes with bit 0 set:
     * rewrite the pattern over all of it, NUL included. */
    adopt(s, (unsigned char *)copy, len + 1, 0, 0);
}

static void op_realloc(int s, uint8_t op)
{
    size_t size = next_size();
    const char *desc = next_desc(op);
    if (!fz.used[s]) {
        adopt(s, AR__HEAP__REALLOC(NULL, size, desc), size, 0, 1);
        return;
    }
    block_t *b = &fz.live[s];
    verify_pattern(b, 0, b->size);
    if (size == 0) { /* frees the block, returns NULL */
        unsigned char *r = AR__HEAP__REALLOC(b->p, 0, desc);
        if (r != NULL)
            fail("REALLOC(p, 0) returned a block", 0, 1);
        retire(s);
        return;
    }
    block_t old = *b;
    unsigned char *p = AR__HEAP__REALLOC(b->p, size, desc);
    if (p == NULL)
        fail("REALLOC returned NULL (size)", size, 0);
    if (p == old.p)
        fail("REALLOC did not move the block", 1, 0);
    size_t kept = old.size < size ? old.size : size;
    block_t moved = old;
    moved.p = p;
    verify_pattern(&moved, 0, kept);
    /* The old block is freed by the realloc: model it as a free. */
    retire(s);
    fz.live[s].seed = old.seed;
    adopt(s, p, size, kept, 1);
}

/* A write past the end (offset size..size+15: the tail canary). */
static void op_overrun(int s)
{
    uint8_t k = next_byte() % 16;
    block_t *b = &fz.live[s];
    if (fz.guard || !fz.used[s] || (b->damage & DAMAGE_TAIL) ||
        (b->damage == 0 && fz.damaged == DAMAGED_MAX))
        return;
    b->p[b->size + k] ^= 0xff;
    if (b->damage == 0)
        fz.damaged++;
    b->damage |= DAMAGE_TAIL;
}

/* A write before the start (offset -1..-16: the head canary). */
static void op_underrun(int s)
{
    uint8_t k = next_byte() % 16;
    block_t *b = &fz.live[s];
    if (fz.guard || !fz.used[s] || (b->damage & DAMAGE_HEAD) ||
        (b->damage == 0 && fz.damaged == DAMAGED_MAX))
        return;
    b->p[-1 - (ptrdiff_t)k] ^= 0xff;
    if (b->damage == 0)
        fz.damaged++;
    b->damage |= DAMAGE_HEAD;
}

/* The held block an argument byte names, or NULL when none is held. */
static block_t *pick_held(void)
{
    uint8_t k = next_byte();
    if (fz.held_count == 0)
        return NULL;
    return &fz.held[fz.held_count - 1 - k % fz.held_count];
}

/* A write through a stale pointer: into the poison, or past the end into
 * the tail canary of the freed block. */
static void op_write_after_free(uint8_t op)
{
    uint8_t where = next_byte();
    block_t *b = pick_held();
    if (fz.guard || b == NULL || (b->damage == 0 && fz.damaged == DAMAGED_MAX))
        return;
    unsigned zone = (op & 0x40) ? DAMAGE_TAIL : DAMAGE_POISON;
    if ((b->damage & zone) || (zone == DAMAGE_POISON && b->size == 0))
        return;
    if (zone == DAMAGE_POISON) {
        if (b->damage == 0)
            verify_fill(b->p, 0, b->size, FILL_FREED);
        b->p[where % b->size] ^= 0xff;
    } else {
        b->p[b->size + where % 16] ^= 0xff;
    }
    if (b->damage == 0)
        fz.damaged++;
    b->damage |= zone;
}

static void op_double_free(uint8_t op)
{
    block_t *b = pick_held();
    if (b == NULL)
        return;
    if (op & 0x40) {
        if (AR__HEAP__REALLOC(b->p, 1 + (op & 0x3f), "realloc of a freed block") != NULL)
            fail("REALLOC of a freed block returned a block", 0, 1);
    } else {
        AR__HEAP__FREE(b->p);
    }
    fz.expected_errors++;
}

static void op_invalid_free(int s, uint8_t op)
{
    uint8_t k = next_byte();
    char local[16];
    void *plain;
    switch (op % 5) {
    case 0: /* interior pointer of a live block, 1..size bytes in */
        if (!fz.used[s] || fz.live[s].size == 0)
            return;
        AR__HEAP__FREE(fz.live[s].p + 1 + k % fz.live[s].size);
        break;
    case 1: /* interior pointer of a quarantined block */
    {
        block_t *b = pick_held();
        if (b == NULL || b->size == 0)
            return;
        AR__HEAP__FREE(b->p + 1 + k % b->size);
        break;
    }
    case 2:
        AR__HEAP__FREE(local + k % sizeof local);
        break;
    case 3:
        AR__HEAP__FREE(global_bytes + k % sizeof global_bytes);
        break;
    default: /* a block from plain malloc: must not reach libc's free */
        plain = malloc(1 + k);
        if (plain == NULL)
            return;
        if (op & 0x40) {
            if (AR__HEAP__REALLOC(plain, 8, "realloc of a foreign block") != NULL)
                fail("REALLOC of a foreign block returned a block", 0, 1);
        } else {
            AR__HEAP__FREE(plain);
        }
        free(plain); /* ASan reports a double free if arheap freed it */
        break;
    }
    fz.expected_errors++;
}

/* ar_heap__check_all: every pending damage is reported, once. */
static void op_check_all(void)
{
    size_t blocks = fz.damaged;
    size_t reports = 0;
    for (int s = 0; s < SLOTS; s++)
        if (fz.used[s])
            reports += damage_reports(fz.live[s].damage);
    for (size_t i = 0; i < fz.held_count; i++)
        reports += damage_reports(fz.held[i].damage);
    size_t found = ar_heap__check_all();
    if (found != blocks)
        fail("ar_heap__check_all's damaged blocks", blocks, found);
    fz.expected_errors += reports;
    for (int s = 0; s < SLOTS; s++)
        if (fz.used[s])
            fz.live[s].damage = 0;
    for (size_t i = 0; i < fz.held_count; i++)
        fz.held[i].damage = 0;
    fz.damaged = 0;
}

static void op_misc(uint8_t op)
{
    switch ((op / 14) % 4) { /* op % 14 picked this function */
    case 0: /* STRDUP(NULL): invalid-argument, NULL */
        if (AR__HEAP__STRDUP(NULL, "null string") != NULL)
            fail("STRDUP(NULL) returned a block", 0, 1);
        fz.expected_errors++;
        break;
    case 1: /* sizes no heap can give: NULL, no report */
        if (AR__HEAP__MALLOC(SIZE_MAX - (op & 0x3f), "too large") != NULL)
            fail("MALLOC(SIZE_MAX) returned a block", 0, 1);
        break;
    case 2:
        if (AR__HEAP__CALLOC(SIZE_MAX / 2 + 1 + (op & 0x3f), 2, "overflowing") != NULL)
            fail("CALLOC overflow returned a block", 0, 1);
        break;
    default:
        AR__HEAP__FREE(NULL);
        break;
    }
}

static void run_op(void)
{
    uint8_t op = next_byte();
    int s = (int)(next_byte() % SLOTS);
    int bug = 0;
    switch (op % 14) {
    case 0:
    case 1:
        op_malloc(s, op);
        break;
    case 2:
        op_calloc(s, op);
        break;
    case 3:
    case 4:
        op_realloc(s, op);
        break;
    case 5:
        op_strdup(s, op);
        break;
    case 6:
    case 7:
        op_free(s);
        break;
    case 8:
        op_overrun(s);
        bug = 1;
        break;
    case 9:
        op_underrun(s);
        bug = 1;
        break;
    case 10:
        op_write_after_free(op);
        bug = 1;
        break;
    case 11:
        if (op & 0x80)
            op_double_free(op);
        else
            op_invalid_free(s, op);
        break;
    case 12:
        op_check_all();
        break;
    default:
        op_misc(op);
        break;
    }
    if (bug && fz.check_after_bug)
        op_check_all();
    check_stats();
}

/* Free everything and empty the quarantine; nothing may be reported. */
static void cleanup(void)
{
    op_check_all();
    for (int s = 0; s < SLOTS; s++)
        op_free(s);
    check_stats();
    (void)ar_heap__set_options("quarantine_bytes=0");
    /* A free with a budget of 0 empties the quarantine, checking each block. */
    void *flush = AR__HEAP__MALLOC(1, "flush");
    AR__HEAP__FREE(flush);
    fz.allocations++;
    fz.held_count = 0;
    fz.outstanding = 0;
    check_stats();
    (void)ar_heap__set_options("quarantine_bytes=67108864");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Taken before libFuzzer's -close_fd_mask=2 sends fd 2 to /dev/null. */
    fz.report_fd = dup(2);
    if (fz.report_fd < 0)
        fz.report_fd = 2;
    if (ar_heap__set_options("on_error=continue:leak_report=0:report_path=:canary=1:"
                             "quarantine_bytes=67108864:check_every=0:guard=0") != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&fz.live, 0, sizeof fz.live);
    memset(&fz.used, 0, sizeof fz.used);
    fz.held_count = 0;
    fz.live_count = 0;
    fz.live_bytes = 0;
    fz.outstanding = 0;
    fz.damaged = 0;
    fz.expected_errors = 0;
    fz.allocations = 0;
    fz.data = data;
    fz.size = size;
    fz.at = 0;
    fz.op = 0;
    uint8_t flags = next_byte();
    fz.fill = !(flags & 0x1);
    fz.check_after_bug = (flags & 0x8) != 0;
    fz.guard = (flags & 0x10) != 0;
    char options[128];
    snprintf(options, sizeof options,
             "fill=%d:report_json=%d:stack_depth=%d:guard=%d:guard_sample=%d:guard_align=%d",
             fz.fill, (flags & 0x2) != 0, (flags & 0x4) ? 3 : 0, fz.guard, (flags & 0x20) ? 3 : 1,
             (flags & 0x40) ? 1 : 16);
    if (ar_heap__set_options(options) != 0)
        abort();
    for (int s = 0; s < SLOTS; s++)
        fz.live[s].seed = (unsigned)s * 17u + flags;
    ar_heap__get_stats(&fz.base);
    check_stats(); /* the last input left no block live or held */
    while (fz.at < fz.size && fz.held_count + 2 < QUARANTINE_MAX) {
        run_op();
        fz.op++;
        for (int s = 0; s < SLOTS; s++)
            fz.live[s].seed += fz.used[s] ? 0 : 1; /* vary the next block's bytes */
    }
    cleanup();
    return 0;
}
