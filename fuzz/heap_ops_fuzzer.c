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
 * Extended operations (first byte's bit 0x80: opcodes are then taken
 * modulo 16, not 14, and 14 and 15 are these):
 * - ar_heap__checkpoint: a mark must be the number of the last allocation
 *   (the model counts them from the input's start); the input keeps up to
 *   8 marks. ar_heap__leaks_since (with or without its stderr listing) of
 *   one of them, of 0 or of a mark past every allocation must equal the
 *   model: the live blocks allocated after the mark (REALLOC's new block
 *   counts as allocated when it is made), less those allowed to leak.
 *   ar_heap__leaks_since_text must give the same count, list each counted
 *   block (its number, size and address) and no other live block, and into
 *   a buffer of 0 to 129 bytes write a NUL-terminated prefix of the same
 *   text and nothing past the buffer.
 * - ar_heap__allow_leak: 1 for a live block, which then leaves every
 *   count until it is freed or reallocated (the new block is not allowed);
 *   0 and no report for NULL, a quarantined block, an interior, stack or
 *   global pointer. A description holding INTENTIONAL_LEAK_FOR_TESTING in
 *   its first 63 bytes allows the block as well.
 * - fail_nth, fail_every, fail_random (set with ar_heap__set_options, which
 *   restarts the heap's count of allocations): the model counts tracked
 *   allocations the same way (MALLOC, CALLOC, STRDUP, REALLOC to a
 *   non-zero size of NULL or of a live block, and MALLOC of sizes no heap
 *   can give; not CALLOC's overflow, REALLOC to 0 or of a pointer that is
 *   not live), and the one that fail_nth or fail_every names must return
 *   NULL with errno ENOMEM, with no report, no allocation counted, and a
 *   failed REALLOC's block left as it was; with fail_random any of them
 *   may fail so. failures_injected must equal the failures seen.
 * - ar_heap__sweep_failures on a body of 0 to 6 allocations that frees
 *   them (or, leaky, forgets one when an allocation fails): n + 1 runs, n
 *   failures injected, no report, and for the leaky body n - 1 failing
 *   runs, the first at allocation 2; the model's fail_* options come back
 *   after it.
 *
 * With guard pages the deliberate writes are left out (they would fault,
 * which is the guard pages' way to report them, not this fuzzer's): the
 * frees, reallocs and bad pointers still run, through guard slots.
 *
 * The heap runs with on_error=continue and leak_report=0. Run with
 * -close_fd_mask=2 to keep arheap's reports off the terminal: the
 * fuzzer's own diagnostics go to a copy of stderr taken at start-up.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ar_heap.h"

/* LeakSanitizer (the fuzzer runs under AddressSanitizer) */
#if defined(__has_include)
#if __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN_INTERFACE 1
#endif
#endif

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

/* Per-test leak checks: marks kept by the model, the description that
 * allows a block to leak, and the text buffer's size. */
#define MARKS 8
#define INTENTIONAL "INTENTIONAL_LEAK_FOR_TESTING"
#define DESC_KEPT 63 /* bytes of a description the heap keeps */
#define LEAK_TEXT_MAX 16384

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
    ar_heap_mark_t seq; /* its allocation's number: the mark it is counted after */
    int allowed;     /* ar_heap__allow_leak said yes, or its description says so */
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
    /* Per-test leak checks (the extended operations). */
    ar_heap_mark_t base_mark;     /* ar_heap__checkpoint at the input's start */
    ar_heap_mark_t marks[MARKS];  /* marks taken, a ring */
    size_t mark_count;
    /* Injected failures: the fail_* options the model set, the tracked
     * allocations made since (the heap counts them the same way), and the
     * failures seen. */
    size_t fail_nth;
    size_t fail_every;
    int fail_random;
    size_t attempts;
    size_t injected;
    int extended; /* flags bit 0x80: opcodes modulo 16, with the operations below */
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
    if (now.failures_injected - fz.base.failures_injected != fz.injected)
        fail("failures_injected", fz.injected, now.failures_injected - fz.base.failures_injected);
}

/* A tracked allocation is about to be made (MALLOC, CALLOC, STRDUP,
 * REALLOC(NULL) or REALLOC's new block): 1 when fail_nth or fail_every
 * says that it fails. */
static int attempt_fails(void)
{
    fz.attempts++;
    return (fz.fail_nth != 0 && fz.attempts == fz.fail_nth) ||
           (fz.fail_every != 0 && fz.attempts % fz.fail_every == 0);
}

/* After the attempt: 1 when p is an injected failure (NULL with ENOMEM,
 * counted), which `fails` demands and fail_random allows; 0 when p is to
 * be adopted. Nothing is reported for an injected failure. */
static int injected(const void *p, int fails)
{
    if (p != NULL) {
        if (fails)
            fail("an allocation that fail_nth or fail_every fails returned a block", 0, 1);
        return 0;
    }
    if (!fails && !fz.fail_random)
        return 0; /* adopt() reports the NULL */
    if (errno != ENOMEM)
        fail("an injected failure's errno (ENOMEM, then errno)", ENOMEM, (size_t)errno);
    fz.injected++;
    return 1;
}

/* Whether the heap, keeping the first DESC_KEPT bytes of desc, sees the
 * intentional-leak marker in it. */
static int desc_allows(const char *desc)
{
    char kept[DESC_KEPT + 1];
    size_t len = strnlen(desc, DESC_KEPT);
    memcpy(kept, desc, len);
    kept[len] = '\0';
    return strstr(kept, INTENTIONAL) != NULL;
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
static void adopt(int s, unsigned char *p, size_t size, size_t known, int filled,
                  const char *desc)
{
    block_t *b = &fz.live[s];
    if (p == NULL)
        fail("an allocation returned NULL (size)", size, 0);
    b->p = p;
    b->size = size;
    b->damage = 0;
    b->seq = fz.base_mark + fz.allocations + 1;
    b->allowed = desc_allows(desc);
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
    int fails = attempt_fails();
    unsigned char *p = AR__HEAP__MALLOC(size, desc);
    if (!injected(p, fails))
        adopt(s, p, size, 0, 1, desc);
}

static void op_calloc(int s, uint8_t op)
{
    op_free(s);
    size_t count = next_byte() % 17;
    size_t each = next_size() % 64;
    const char *desc = next_desc(op);
    int fails = attempt_fails();
    unsigned char *p = AR__HEAP__CALLOC(count, each, desc);
    if (injected(p, fails))
        return;
    if (p != NULL)
        verify_fill(p, 0, count * each, 0);
    adopt(s, p, count * each, 0, 0, desc);
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
    int fails = attempt_fails();
    char *copy = AR__HEAP__STRDUP(text, desc);
    if (injected(copy, fails))
        return;
    if (copy != NULL && memcmp(copy, text, len + 1) != 0)
        fail("STRDUP copied wrongly (length)", len, strlen(copy));
    /* The copy holds text, which is the pattern's bytes with bit 0 set:
     * rewrite the pattern over all of it, NUL included. */
    adopt(s, (unsigned char *)copy, len + 1, 0, 0, desc);
}

static void op_realloc(int s, uint8_t op)
{
    size_t size = next_size();
    const char *desc = next_desc(op);
    if (!fz.used[s]) {
        int fails = attempt_fails();
        unsigned char *p = AR__HEAP__REALLOC(NULL, size, desc);
        if (!injected(p, fails))
            adopt(s, p, size, 0, 1, desc);
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
    int fails = attempt_fails();
    unsigned char *p = AR__HEAP__REALLOC(b->p, size, desc);
    if (injected(p, fails)) {
        /* A failed REALLOC leaves the block as it was: live, its bytes,
         * its damage and its allowance. */
        verify_pattern(b, 0, b->size);
        return;
    }
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
    adopt(s, p, size, kept, 1, desc);
}

/* Block b is about to be damaged on purpose. arheap never gives a block
 * whose canaries or poison it found damaged back to libc (tracking.c):
 * LeakSanitizer would report its backend memory, allocated with the
 * fuzzer's malloc, as a leak at the end of the input (libFuzzer's
 * -detect_leaks, on by default). That memory is kept on purpose: tell
 * LeakSanitizer so (an interior pointer names the chunk). */
static void damaging(const block_t *b)
{
    fz.damaged++;
#ifdef HAVE_LSAN_INTERFACE
    __lsan_ignore_object(b->p);
#endif
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
        damaging(b);
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
        damaging(b);
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
        damaging(b);
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
    case 1: { /* sizes no heap can give: NULL, no report (an allocation all the same) */
        int fails = attempt_fails();
        errno = 0;
        if (AR__HEAP__MALLOC(SIZE_MAX - (op & 0x3f), "too large") != NULL)
            fail("MALLOC(SIZE_MAX) returned a block", 0, 1);
        if (errno != ENOMEM)
            fail("MALLOC(SIZE_MAX)'s errno (ENOMEM, then errno)", ENOMEM, (size_t)errno);
        if (fails)
            fz.injected++;
        /* With fail_random on, it may have been injected or refused: the
         * heap's count says which, and the model follows it. */
        else if (fz.fail_random) {
            ar_heap_stats_t now;
            ar_heap__get_stats(&now);
            size_t counted = now.failures_injected - fz.base.failures_injected;
            if (counted != fz.injected && counted != fz.injected + 1)
                fail("failures_injected after one refused MALLOC", fz.injected + 1, counted);
            fz.injected = counted;
        }
        break;
    }
    case 2:
        if (AR__HEAP__CALLOC(SIZE_MAX / 2 + 1 + (op & 0x3f), 2, "overflowing") != NULL)
            fail("CALLOC overflow returned a block", 0, 1);
        break;
    default:
        AR__HEAP__FREE(NULL);
        break;
    }
}

/* ---------------------------------------------------------------- extended operations */

/* What ar_heap__leaks_since(mark) must say: live blocks allocated after
 * the mark, less those allowed to leak. */
static size_t model_leaks_since(ar_heap_mark_t mark)
{
    size_t n = 0;
    for (int s = 0; s < SLOTS; s++)
        n += fz.used[s] && fz.live[s].seq > mark && !fz.live[s].allowed;
    return n;
}

/* A mark an argument byte picks: one the input took, or 0 (every block),
 * or one past every allocation so far (no block). */
static ar_heap_mark_t pick_mark(void)
{
    uint8_t k = next_byte();
    if (k == 255 || (fz.mark_count == 0 && (k & 1)))
        return fz.base_mark + fz.allocations + 1 + k;
    if (k == 254 || fz.mark_count == 0)
        return 0;
    size_t have = fz.mark_count < MARKS ? fz.mark_count : MARKS;
    return fz.marks[(fz.mark_count - 1 - k % have) % MARKS];
}

static char leak_text[LEAK_TEXT_MAX];
static char leak_short[LEAK_TEXT_MAX];

/* leaks_since_text: the count, and a line for each counted block, found
 * by its number, size and address (a description may hold anything, a
 * newline included); none for a block not counted. Then the same into a
 * buffer of a fuzzed size: a NUL-terminated prefix, nothing written past
 * the size. */
static void check_leak_text(ar_heap_mark_t mark, size_t want)
{
    size_t got = ar_heap__leaks_since_text(mark, leak_text, sizeof leak_text);
    if (got != want)
        fail("leaks_since_text's count", want, got);
    size_t len = strnlen(leak_text, sizeof leak_text);
    if (len >= sizeof leak_text - 1)
        fail("leaks_since_text filled a 16 KiB buffer (length)", 0, len);
    for (int s = 0; s < SLOTS; s++) {
        if (!fz.used[s])
            continue;
        const block_t *b = &fz.live[s];
        char needle[96];
        snprintf(needle, sizeof needle, "  #%llu  %zu %s at 0x%jx  ", (unsigned long long)b->seq,
                 b->size, b->size == 1 ? "byte" : "bytes", (uintmax_t)(uintptr_t)b->p);
        int listed = strstr(leak_text, needle) != NULL;
        int counted = b->seq > mark && !b->allowed;
        if (listed != counted)
            fail("leaks_since_text lists a block (slot, then listed)", (size_t)s,
                 (size_t)listed);
    }
    size_t size = next_byte() % 130;
    memset(leak_short, 'X', size + 8);
    got = ar_heap__leaks_since_text(mark, size == 0 ? NULL : leak_short, size);
    if (got != want)
        fail("leaks_since_text's count into a small buffer", want, got);
    if (size != 0) {
        size_t short_len = strnlen(leak_short, size);
        if (short_len == size)
            fail("leaks_since_text left no NUL (size)", size, short_len);
        size_t expect_len = len < size - 1 ? len : size - 1;
        if (short_len != expect_len || memcmp(leak_short, leak_text, short_len) != 0)
            fail("leaks_since_text's prefix (length, then found)", expect_len, short_len);
    }
    for (size_t i = size; i < size + 8; i++)
        if (leak_short[i] != 'X')
            fail("leaks_since_text wrote past its buffer (size, then offset)", size, i);
}

/* allow_leak: 1 for a live block, which then leaves every count; 0, and
 * no report, for anything else. */
static void op_allow_leak(int s, uint8_t how)
{
    uint8_t k = next_byte();
    char local[16];
    const void *ptr;
    int want = 0;
    switch (how % 6) {
    case 0:
    case 1:
        ptr = fz.used[s] ? (const void *)fz.live[s].p : NULL;
        want = fz.used[s];
        break;
    case 2: { /* a freed block, in the quarantine */
        block_t *b = pick_held();
        if (b == NULL)
            return;
        ptr = b->p;
        break;
    }
    case 3: /* inside a live block */
        if (!fz.used[s] || fz.live[s].size == 0)
            return;
        ptr = fz.live[s].p + 1 + k % fz.live[s].size;
        break;
    case 4:
        ptr = (k & 1) ? (const void *)(local + k % sizeof local)
                      : (const void *)(global_bytes + k % sizeof global_bytes);
        break;
    default:
        ptr = NULL;
        break;
    }
    int got = ar_heap__allow_leak(ptr);
    if (got != want)
        fail("ar_heap__allow_leak's answer", (size_t)want, (size_t)got);
    if (want)
        fz.live[s].allowed = 1;
}

/* Opcode 14 (extended): checkpoint, leaks_since, leaks_since_text,
 * allow_leak. */
static void op_leaks(int s)
{
    uint8_t sub = next_byte();
    switch (sub % 4) {
    case 0: { /* a mark is the number of the last allocation */
        ar_heap_mark_t mark = ar_heap__checkpoint();
        if (mark != fz.base_mark + fz.allocations)
            fail("ar_heap__checkpoint (allocations since the input's start)", fz.allocations,
                 (size_t)(mark - fz.base_mark));
        fz.marks[fz.mark_count++ % MARKS] = mark;
        break;
    }
    case 1: { /* with report: the listing goes to stderr, and is no error */
        ar_heap_mark_t mark = pick_mark();
        size_t want = model_leaks_since(mark);
        size_t got = ar_heap__leaks_since(mark, (sub & 0x10) != 0);
        if (got != want)
            fail("ar_heap__leaks_since", want, got);
        break;
    }
    case 2: {
        ar_heap_mark_t mark = pick_mark();
        check_leak_text(mark, model_leaks_since(mark));
        break;
    }
    default:
        op_allow_leak(s, sub >> 2);
        break;
    }
}

/* ar_heap__sweep_failures on a body that allocates n blocks of one size
 * and frees them; a leaky body, when an allocation fails, forgets the
 * block it made just before. */
typedef struct sweep_body_s {
    size_t n;
    size_t size;
    int leaky;
    size_t allocated;     /* blocks the body got, in every run */
    size_t nulls;         /* allocations that failed */
    unsigned char *kept[16]; /* blocks the leaky body forgot */
    size_t kept_count;
} sweep_body_t;

/* A block from the body is freed: into the model's quarantine. */
static void sweep_free(unsigned char *p, size_t size)
{
    AR__HEAP__FREE(p);
    if (fz.held_count == QUARANTINE_MAX)
        fail("quarantine model overflow", QUARANTINE_MAX, fz.held_count);
    block_t *h = &fz.held[fz.held_count++];
    memset(h, 0, sizeof *h);
    h->p = p;
    h->size = size;
}

static void sweep_body(void *arg)
{
    sweep_body_t *sb = arg;
    unsigned char *got[8];
    for (size_t i = 0; i < sb->n; i++) {
        got[i] = AR__HEAP__MALLOC(sb->size, "sweep body");
        if (got[i] == NULL) {
            sb->nulls++;
            if (sb->leaky && i > 0 && sb->kept_count < 16)
                sb->kept[sb->kept_count++] = got[--i];
            for (size_t j = 0; j < i; j++)
                sweep_free(got[j], sb->size);
            return;
        }
        sb->allocated++;
    }
    for (size_t j = 0; j < sb->n; j++)
        sweep_free(got[j], sb->size);
}

/* The sweep fails the body's 1st, 2nd ... nth allocation, then runs it
 * once with none failing: n + 1 runs, n failures injected, no report.
 * A leaky body leaks from the run that fails its 2nd allocation on. The
 * fail_* options the model set are suspended and then restored, and the
 * heap's count of allocations restarts. */
static void op_sweep(uint8_t b)
{
    sweep_body_t sb;
    memset(&sb, 0, sizeof sb);
    sb.n = next_byte() % 7;
    sb.size = next_byte() % 64;
    sb.leaky = (b & 0x20) != 0;
    if (fz.outstanding + 16 * (sb.size + GUARD_OVERHEAD) > HELD_MAX ||
        fz.held_count + 32 > QUARANTINE_MAX)
        return;
    ar_heap_sweep_t out;
    memset(&out, 0xa5, sizeof out);
    size_t failing = ar_heap__sweep_failures(sweep_body, &sb, (b & 0x40) ? NULL : &out);
    size_t want_failing = sb.leaky && sb.n >= 2 ? sb.n - 1 : 0;
    fz.allocations += sb.allocated;
    fz.injected += sb.nulls;
    fz.outstanding += sb.allocated * (sb.size + (fz.guard ? GUARD_OVERHEAD : BLOCK_OVERHEAD));
    fz.attempts = 0;
    /* The forgotten blocks are live until freed here. */
    fz.live_count += sb.kept_count;
    fz.live_bytes += sb.kept_count * sb.size;
    check_stats();
    for (size_t i = 0; i < sb.kept_count; i++) {
        sweep_free(sb.kept[i], sb.size);
        fz.live_count--;
        fz.live_bytes -= sb.size;
    }
    if (sb.nulls != sb.n)
        fail("sweep: allocations failed (the body's allocations, then failed)", sb.n, sb.nulls);
    /* Run i gets i - 1 blocks, the last run n. */
    if (sb.allocated != sb.n * (sb.n + 1) / 2)
        fail("sweep: allocations the body got", sb.n * (sb.n + 1) / 2, sb.allocated);
    if (failing != want_failing)
        fail("ar_heap__sweep_failures' failing runs", want_failing, failing);
    if (!(b & 0x40)) {
        if (out.runs != sb.n + 1)
            fail("sweep: runs", sb.n + 1, out.runs);
        if (out.failing_runs != want_failing)
            fail("sweep: failing_runs", want_failing, out.failing_runs);
        if (out.first_failing != (want_failing ? 2 : 0))
            fail("sweep: first_failing", want_failing ? 2 : 0, out.first_failing);
    }
}

/* Opcode 15 (extended): set the fail_* options. fail_nth and fail_every
 * say which allocations fail, and the model checks each; with fail_random
 * any allocation may fail, and the model counts the NULLs. Setting
 * options restarts the heap's count of allocations, and the model's. */
static void op_inject(void)
{
    uint8_t b = next_byte();
    if (b % 6 == 5) {
        op_sweep(b);
        return;
    }
    uint8_t n = next_byte();
    fz.fail_nth = 0;
    fz.fail_every = 0;
    fz.fail_random = 0;
    switch (b % 6) {
    case 0:
    case 1:
        fz.fail_nth = 1 + n % 8;
        break;
    case 2:
        fz.fail_every = 2 + n % 7;
        break;
    case 3:
        fz.fail_nth = 1 + n % 4;
        fz.fail_random = 1;
        break;
    default: /* all off */
        break;
    }
    char options[128];
    snprintf(options, sizeof options, "fail_nth=%zu:fail_every=%zu:fail_random=%d:fail_seed=%u",
             fz.fail_nth, fz.fail_every, fz.fail_random ? 100000 + 50000 * (b >> 5) : 0,
             (unsigned)n);
    if (ar_heap__set_options(options) != 0)
        fail("fail_* options refused", 0, 1);
    fz.attempts = 0;
}

static void run_op(void)
{
    uint8_t op = next_byte();
    int s = (int)(next_byte() % SLOTS);
    int bug = 0;
    switch (fz.extended ? op % 16 : op % 14) {
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
    case 13:
        op_misc(op);
        break;
    case 14:
        op_leaks(s);
        break;
    default:
        op_inject();
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
    /* Failures off first: the flush below must not be one. */
    (void)ar_heap__set_options("fail_nth=0:fail_every=0:fail_random=0:quarantine_bytes=0");
    fz.fail_nth = 0;
    fz.fail_every = 0;
    fz.fail_random = 0;
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
    fz.mark_count = 0;
    fz.fail_nth = 0;
    fz.fail_every = 0;
    fz.fail_random = 0;
    fz.attempts = 0;
    fz.injected = 0;
    fz.data = data;
    fz.size = size;
    fz.at = 0;
    fz.op = 0;
    uint8_t flags = next_byte();
    fz.fill = !(flags & 0x1);
    fz.check_after_bug = (flags & 0x8) != 0;
    fz.guard = (flags & 0x10) != 0;
    fz.extended = (flags & 0x80) != 0;
    char options[192];
    snprintf(options, sizeof options,
             "fill=%d:report_json=%d:stack_depth=%d:guard=%d:guard_sample=%d:guard_align=%d:"
             "fail_nth=0:fail_every=0:fail_random=0",
             fz.fill, (flags & 0x2) != 0, (flags & 0x4) ? 3 : 0, fz.guard, (flags & 0x20) ? 3 : 1,
             (flags & 0x40) ? 1 : 16);
    if (ar_heap__set_options(options) != 0)
        abort();
    for (int s = 0; s < SLOTS; s++)
        fz.live[s].seed = (unsigned)s * 17u + flags;
    ar_heap__get_stats(&fz.base);
    fz.base_mark = ar_heap__checkpoint();
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
