/*
 * heap_ops_fuzzer.c: libFuzzer target that drives the debug heap through
 * a sequence of operations, bugs included, and checks every report.
 *
 * The input is a program. Its first byte picks options (fill, JSON
 * reports, call stacks, check_all right after each bug, guard pages
 * for every block or one in 3, or tracking only); every following
 * opcode byte, with the argument bytes it reads, is one operation on a
 * table of slots: MALLOC, CALLOC, REALLOC, STRDUP and FREE of tracked
 * blocks, and deliberate bugs: a write past the end or before the start
 * of a live block (of at most 1 KiB: see LIVE_DAMAGE_MAX), a write to a
 * freed block (its poison, its tail or its
 * head canary; held in the quarantine or already released from it), a
 * second free or a realloc of a freed block, a free of an interior, stack,
 * global or plain-malloc pointer, STRDUP(NULL).
 *
 * Beside the heap the fuzzer keeps a model: each block's size and the
 * bytes it must hold, which canary zones and poison are damaged (at which
 * offset) and not yet reported, the quarantine as src/quarantine.c keeps
 * it in one thread (the thread's batch and the global FIFO, oldest first,
 * each block counting its slot and 52 bytes of bookkeeping), and the
 * freed blocks released from it whose slots no allocation has taken yet.
 * After every operation the heap's statistics must equal the model's
 * (live blocks and bytes, their peak, allocations and bytes allocated,
 * quarantined blocks and, without guard pages, quarantined bytes, failures
 * injected, no guarded block without guard pages) and errors_reported
 * must have grown by exactly the reports the model predicts. Any
 * difference, or a block whose bytes changed, aborts the fuzzer.
 *
 * Every report is also read back and compared, one by one, with what the
 * model predicts, so that a report of the wrong class or about the wrong
 * block, or a false report and a missed one in the same operation, do not
 * cancel out in the count. While an input runs, fd 2 is a memfd (the heap
 * writes its reports to fd 2 only; report_path is the leak report's file,
 * not the errors'); after each operation the harness reads what is new.
 * Each report gives, and the model must agree on: the class, the address,
 * the block named (its address and allocation number, and whether it is
 * shown as freed), the operation (free, realloc, call) or what found the
 * damage (free, realloc, reuse, check), for damage the offset of the
 * first damaged byte, and in JSON (first byte's bit 0x2) whether the site
 * is this file's call or null (ar_heap__check_all). Text reports are read
 * line by line for the same fields. The reports of one operation come in
 * a known order (a reuse's, then a free's; each block's tail canary, head
 * canary, poison); ar_heap__check_all's in any order. Classes:
 * heap-buffer-overflow (a tail canary), heap-buffer-underflow (a head
 * canary), heap-use-after-free (the poison), double-free (a freed block whose
 * record is kept, freed or reallocated again), invalid-free (interior,
 * stack, global, plain-malloc pointer, naming the live block an interior
 * pointer lies in; or a freed block's address once freed_history=0 forgot
 * it), invalid-argument (STRDUP(NULL)). Lines that are no error report
 * (leak listings, the sweep's lines) are dropped where the model expects
 * no report; a line saying that more damaged blocks were found than shown
 * may never come (at most 16 damaged blocks are pending, 48 findings, and
 * ar_heap__check_all shows 64). In text mode a fuzzed description gets no
 * newline, which could forge a report's line.
 *
 * When damage is reported, as the model knows it: a live block's canaries
 * at its free or realloc (its slot is then never reused: no allocation may
 * return its address again); any block's at ar_heap__check_all (live ones,
 * and freed ones, held or released), which repairs what it reports (the
 * harness then checks that every freed block holds its poison again); and
 * a freed block's when its slot is reused (a write into a freed block's
 * poison lands in its first 256 bytes, or anywhere up to its last byte:
 * the committed seeds seed-reuse-big-poison-* damage blocks of 1 to 8 KiB
 * and reuse their slots). Which released slot an
 * allocation takes is not predicted, but with canaries every block of the
 * default alignment starts 16 bytes into its slot, so an allocation that
 * returns the address of a released block took that block's slot: its
 * pending damage, and only that, must be reported right there, found by
 * "reuse" (tail, head, poison), naming the old block. An allocation may
 * never return the address of a live or a held block. The quarantine's
 * budget is 64 MiB, far above what one input can free, until an extended
 * operation (below) sets it to 0, a few blocks' worth (up to 2480 bytes)
 * or 2 to 64 KiB: then each free appends to the thread's batch and, when
 * the batch reaches a sixteenth of the budget, passes it to the FIFO,
 * which releases its oldest blocks while it holds more than the budget
 * less a batch (keeping the newest), but no more bytes than the batch
 * brought (the last block may go past), 256 at a time; with a budget of 0
 * the freed block goes straight back and everything held leaves. A held
 * block counts for the whole slot it took, which may be up to two size
 * classes larger than its extent (borrowed), and its 48 bytes of
 * bookkeeping. Releasing reports nothing. A double free of a
 * released block is still a double free while its slot is not reused,
 * unless freed_history=0 forgot it (an extended operation sets it): a
 * block whose release looks at its record (freed with freed_history=0, or
 * damaged at its free) and released while freed_history=0, or freed with
 * a budget of 0 and freed_history=0. The model sizes a block as
 * src/canary.c lays it out with canaries: extent = 16 + round_up(size +
 * 16, 16); with guard pages the budget stays 64 MiB and released blocks
 * are not followed (a guarded block's slot may be reused at another
 * address). At the input's end everything is checked and freed and the
 * quarantine is emptied by setting its budget to 0, so the next input
 * starts from an empty quarantine and no damage anywhere; then the slots
 * the input released are taken back and freed unpoisoned (see recycle),
 * so that later inputs' checks do not scan them again and again. Damaged
 * blocks pending at once are capped at 16 so that a check_all reports
 * them all.
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
 *   0 and no report for NULL, a freed block, an interior, stack or
 *   global pointer. A description holding INTENTIONAL_LEAK_FOR_TESTING
 *   anywhere (past the 63 bytes the heap keeps too) allows the block as
 *   well.
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
 *   after it. The body's blocks go through the model like any other.
 *   (Skipped while a body's allocation could take the slot of a damaged
 *   freed block: that report would count against its runs.)
 * - with the fail_* options all off, a new quarantine budget (0, a few
 *   blocks' worth, 2 to 64 KiB, or 64 MiB again, as described above) and
 *   freed_history 0 (one time in 4) or 1.
 *
 * Tracking only (first byte's bits 0x30 are 0x20: guard_sample's bit
 * without guard pages): canary=0, fill=0, quarantine_bytes=0 and
 * stack_depth=0, the configuration whose allocations and frees take the
 * leaf paths of src/life.c. A block then starts at its slot's start and
 * its extent is its size to the next multiple of 16; the writes past the
 * end and before the start are left out (nothing is there to find them),
 * and so are writes into a freed block's canary zones; an interior
 * pointer is at most size - 1 bytes in (the end may be the next slot's
 * start, a block of its own). An extended operation may still set a
 * quarantine budget: freed blocks are then poisoned, and a write into
 * their poison is found as with canaries.
 *
 * With guard pages the deliberate writes are left out: they would fault,
 * which is the guard pages' way to report them, and the fault handler
 * (src/fault.c) reports and then lets the process die: a faulting
 * instruction cannot be skipped, whatever on_error says, and the fuzzer
 * would die with it. They are not driven in-process; guard-page faults are
 * covered by tests/check_guard.c, each in a forked child. The frees,
 * reallocs and bad pointers still run here, through guard slots.
 *
 * The heap runs with on_error=continue and leak_report=0. Its reports go
 * to the capture, never to the terminal; the fuzzer's own diagnostics (a
 * mismatch prints the reports expected, those found and the heap's text)
 * and AddressSanitizer's reports go to a copy of stderr taken at start-up.
 */
#define _GNU_SOURCE /* memfd_create */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ar_heap.h"
/* For the quarantine's internal limits (entries per batch, entries taken
 * per call), which the model follows but no document fixes. */
#include "ar_heap_internal.h"

#if defined(__has_include)
#if __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define HAVE_SANITIZER_REPORT_FD 1
#endif
#endif

#define SLOTS 16
/* Freed blocks the model follows: held, and held plus released. */
#define QUARANTINE_MAX 8192
#define FREED_MAX 8192
#define DAMAGED_MAX 16
/* Live blocks damaged on purpose are at most this large: a block whose
 * canaries are damaged at its free keeps its slot, poisoned, for good
 * (src/life.c), and every later ar_heap__check_all scans it, in every
 * later input: large ones would slow the fuzzer down as they pile up. */
#define LIVE_DAMAGE_MAX 1024
#define BIG_BUDGET ((size_t)64 << 20)
/* Backend bytes a block can take beyond its size: canaries and its
 * quarantine bookkeeping, or with guard pages its page rounding and guard
 * page. */
#define BLOCK_OVERHEAD 80
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

/* The heap's block layout with canaries (doc/arheap.md, Block layout): a
 * 16-byte head zone, the user bytes, then a tail zone to the next multiple
 * of 16 past size + 16. In the quarantine a block counts for its extent
 * and its bookkeeping (a 32-byte record, a 16-byte entry and, for a block
 * of a span, its 4-byte place in the span's free stack; a guarded block
 * has none). */
#define CANARY_HEAD 16
#define CANARY_TAIL 16
#define BOOKKEEPING 52
#define BOOKKEEPING_GUARDED 48
/* A thread passes its batch on at a sixteenth of the budget, at most 1 MiB
 * (doc/arheap.md, Quarantine), or when the batch's chunk is full. */
#define BATCH_MAX ((size_t)1 << 20)
#define BATCH_ENTRIES AR_HEAP_QCHUNK_ENTRIES
/* Entries one call takes out of the FIFO; then it is asked again, for the
 * budget itself (src/life.c, release_all). */
#define TAKE_MAX AR_HEAP_QUARANTINE_OUT

/* Reports one operation may write and the harness compares. */
#define REPORTS_MAX 128
#define CAPTURE_MAX ((size_t)1 << 20)

typedef struct block_s {
    unsigned char *p;
    size_t size;
    size_t extent;   /* what it counts for in the quarantine, less bookkeeping: its slot */
    unsigned seed;   /* byte i holds pattern(seed, i) */
    unsigned damage; /* DAMAGE_* not yet reported */
    long long off_head, off_tail, off_poison; /* the damaged byte of each zone */
    ar_heap_mark_t seq; /* its allocation's number: the mark it is counted after */
    int allowed;     /* ar_heap__allow_leak said yes, or its description says so */
    /* Once freed: */
    int poisoned;    /* its bytes hold the poison (freed with a budget) */
    int kept;        /* its canaries were damaged at its free: its slot is never reused */
    int slow;        /* its release reads its record (kept, or freed_history=0 at its free) */
    int forgotten;   /* freed_history=0 forgot it: a free of its address is invalid */
} block_t;

/* A report as the model expects it, or as the heap wrote it. */
typedef struct report_s {
    char kind[32];     /* "heap-buffer-overflow", "double-free", ... */
    uintptr_t addr;    /* the address the report is about; 0: none */
    uintptr_t block;   /* the block it names, 0: none */
    unsigned long long seq; /* that block's allocation number */
    size_t size;       /* that block's size, when its record is known (seq) */
    int freed;         /* the block is shown as freed (its free site) */
    char how[32];      /* operation (free, realloc, call) or found_by (damage) */
    long long offset;  /* first damaged byte, for damage */
    int has_offset;
    int has_site;      /* JSON: "site" is this file's call (not null) */
    int used;          /* matched, while comparing */
} report_t;

static struct {
    int report_fd; /* stderr as it was at start-up */
    int capture_fd; /* a memfd that fd 2 points at while an input runs */
    int saved_fd2;  /* fd 2 as libFuzzer left it, while redirected */
    off_t capture_at; /* captured bytes already read */
    report_t want[REPORTS_MAX]; /* expected from the current operation */
    size_t want_count;
    int json;            /* report_json=1 */
    size_t budget;       /* quarantine_bytes in force */
    int history;         /* freed_history in force (0 or 1) */
    /* The quarantine: held[held_head, held_end) oldest first; the oldest
     * fifo_count are in the global FIFO, the others in the thread's batch. */
    size_t held_head, held_end;
    size_t fifo_count;
    size_t fifo_bytes, batch_bytes; /* what they count for (not with guard pages) */
    size_t released_count;          /* released[0, released_count): no order */
    block_t live[SLOTS];
    int used[SLOTS];
    size_t live_count;
    size_t live_bytes;
    size_t peak_bytes;            /* highest live_bytes in this input */
    size_t total_bytes;           /* bytes allocated in this input */
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
    int tracking; /* no canaries: blocks start at their slot's start, no canary writes */
    const uint8_t *data;
    size_t size;
    size_t at;
    size_t op; /* index of the operation, for diagnostics */
} fz;

/* The freed blocks, beside fz so that resetting fz for each input does
 * not clear them (their counts say what is meaningful). */
static block_t held[QUARANTINE_MAX];
static block_t released[FREED_MAX];

static char global_bytes[32];

/* ---------------------------------------------------------------- captured reports */

/* While an input runs, fd 2 is a memfd: every report the heap writes
 * lands there, and after each operation the harness reads what is new and
 * compares it with what the model expects. */
static char capture_buf[CAPTURE_MAX + 1];
static size_t capture_len; /* bytes of the last read, kept for diagnostics */
static report_t seen[REPORTS_MAX];
static size_t seen_count;

static void stop_capture(void)
{
    if (fz.saved_fd2 >= 0) {
        (void)dup2(fz.saved_fd2, 2);
        close(fz.saved_fd2);
        fz.saved_fd2 = -1;
    }
}

static void start_capture(void)
{
    if (ftruncate(fz.capture_fd, 0) != 0 || lseek(fz.capture_fd, 0, SEEK_SET) != 0)
        abort();
    fz.capture_at = 0;
    capture_len = 0;
    fz.saved_fd2 = dup(2);
    if (fz.saved_fd2 < 0 || dup2(fz.capture_fd, 2) != 2)
        abort();
}

static void print_reports(const char *title, const report_t *r, size_t n)
{
    dprintf(fz.report_fd, "heap_ops_fuzzer: %s (%zu):\n", title, n);
    for (size_t i = 0; i < n; i++)
        dprintf(fz.report_fd,
                "  %s at 0x%jx, block 0x%jx #%llu%s, %s%s, offset %lld%s%s\n", r[i].kind,
                (uintmax_t)r[i].addr, (uintmax_t)r[i].block, r[i].seq,
                r[i].freed ? " (freed)" : "", r[i].how, r[i].how[0] == '\0' ? "(none)" : "",
                r[i].has_offset ? r[i].offset : 0, r[i].has_offset ? "" : " (none)",
                r[i].has_site ? ", with its site" : ", no site");
}

static void fail(const char *what, size_t expected, size_t got_value)
{
    stop_capture();
    dprintf(fz.report_fd, "heap_ops_fuzzer: MODEL MISMATCH at operation %zu: %s: expected %zu, "
                          "got %zu\n", fz.op, what, expected, got_value);
    if (fz.want_count > 0 || seen_count > 0) {
        print_reports("reports expected", fz.want, fz.want_count);
        print_reports("reports found", seen, seen_count);
    }
    if (capture_len > 0)
        dprintf(fz.report_fd, "heap_ops_fuzzer: what the heap wrote:\n%.*s\n", (int)capture_len,
                capture_buf);
    abort();
}

/* What the heap wrote to fd 2 since the last read, NUL-terminated in
 * capture_buf. */
static void read_capture(void)
{
    off_t end = lseek(fz.capture_fd, 0, SEEK_CUR);
    if (end < fz.capture_at)
        fail("captured output's end (then the bytes already read)", (size_t)fz.capture_at,
             (size_t)end);
    size_t n = (size_t)(end - fz.capture_at);
    if (n > CAPTURE_MAX)
        fail("bytes of reports written by one operation (at most, then written)", CAPTURE_MAX, n);
    size_t have = 0;
    while (have < n) {
        ssize_t r = pread(fz.capture_fd, capture_buf + have, n - have, fz.capture_at + (off_t)have);
        if (r <= 0)
            fail("reading the captured reports (bytes, then read)", n, have);
        have += (size_t)r;
    }
    capture_buf[n] = '\0';
    capture_len = n;
    fz.capture_at = end;
}

/* Output that is no error report (a leak listing, the sweep's lines),
 * where none can be: dropped. Descriptions, written raw there, could
 * look like anything. */
static void discard_capture(void)
{
    if (fz.want_count != 0)
        fail("reports expected before output is dropped", 0, fz.want_count);
    read_capture();
}

static void copy_field(char *out, size_t size, const char *from, const char *stop)
{
    size_t n = (size_t)(stop - from);
    if (n >= size)
        n = size - 1;
    memcpy(out, from, n);
    out[n] = '\0';
}

/* The JSON value after "key": in [line, end): a string's text (the values
 * read here hold no escapes), "" for null, an object's or number's text up
 * to the next ',' or '}'. Returns a pointer past it. */
static const char *json_value(const char *line, const char *key, char *out, size_t size)
{
    char needle[40];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *at = strstr(line, needle);
    if (at == NULL)
        fail("a JSON report without a field (line offset)", 0, 0);
    at += strlen(needle);
    if (*at == '"') {
        const char *close = strchr(at + 1, '"');
        if (close == NULL)
            fail("a JSON string without its end", 0, 0);
        copy_field(out, size, at + 1, close);
        return close + 1;
    }
    if (strncmp(at, "null", 4) == 0) {
        out[0] = '\0';
        return at + 4;
    }
    const char *stop = at;
    while (*stop != ',' && *stop != '}' && *stop != '\0')
        stop++;
    copy_field(out, size, at, stop);
    return stop;
}

/* One line of report_json=1: {"tool":"arheap","error":...,"pid":...,
 * "address":...,"operation":...,"site":...,"found_by":...,"detail":...,
 * "block":{"address":...,"size":...,"description":...,"allocation":...,
 * "allocated_at":...,"freed_at":...}|null[,"offset":...]}
 * (src/report.c). The description inside "block" is escaped, so no key
 * can be forged there (a quote in it is always preceded by a backslash);
 * keys are looked for in that order, each after the one before. */
static void parse_json(const char *line, report_t *r)
{
    char text[40];
    const char *at = json_value(line, "error", r->kind, sizeof r->kind);
    at = json_value(at, "address", text, sizeof text);
    r->addr = (uintptr_t)strtoull(text, NULL, 16);
    char operation[32];
    at = json_value(at, "operation", operation, sizeof operation);
    /* The site: null, or this file's call (every call the fuzzer makes
     * names __FILE__, which holds no character JSON escapes). */
    const char *site = strstr(at, "\"site\":");
    if (site == NULL)
        fail("a JSON report without its site", 0, 0);
    site += strlen("\"site\":");
    r->has_site = 0;
    if (strncmp(site, "{\"file\":\"", 9) == 0) {
        size_t n = strlen(__FILE__);
        if (strncmp(site + 9, __FILE__, n) != 0 || site[9 + n] != '"')
            fail("a JSON report's site names another file", 0, 0);
        r->has_site = 1;
    } else if (strncmp(site, "null", 4) != 0) {
        fail("a JSON report's site is neither null nor a site", 0, 0);
    }
    char found_by[32];
    at = json_value(at, "found_by", found_by, sizeof found_by);
    snprintf(r->how, sizeof r->how, "%s", operation[0] != '\0' ? operation : found_by);
    const char *block = strstr(at, "\"block\":");
    if (block == NULL)
        fail("a JSON report without its block", 0, 0);
    r->block = 0;
    r->seq = 0;
    r->freed = 0;
    at = block;
    if (strncmp(block, "\"block\":{", 9) == 0) {
        at = json_value(block, "address", text, sizeof text);
        r->block = (uintptr_t)strtoull(text, NULL, 16);
        at = json_value(at, "size", text, sizeof text);
        r->size = (size_t)strtoull(text, NULL, 10);
        at = json_value(at, "allocation", text, sizeof text);
        r->seq = strtoull(text, NULL, 10);
        at = json_value(at, "freed_at", text, sizeof text);
        r->freed = text[0] != '\0';
    }
    const char *offset = strstr(at, "\"offset\":");
    r->has_offset = offset != NULL;
    r->offset = offset != NULL ? strtoll(offset + 9, NULL, 10) : 0;
}

/* The header of a text report: "arheap: ERROR: <kind>[ of | on block
 * 0x...] (pid N)": its kind and address. The lines after it, up to the
 * SUMMARY line, give the rest (text_line). */
static void parse_text(const char *line, report_t *r)
{
    const char *kind = line + strlen("arheap: ERROR: ");
    const char *stop = strchr(kind, ' ');
    if (stop == NULL)
        fail("a text report's header without its end", 0, 0);
    copy_field(r->kind, sizeof r->kind, kind, stop);
    const char *hex = strstr(stop, "0x");
    const char *pid = strstr(stop, " (pid ");
    r->addr = hex != NULL && (pid == NULL || hex < pid) ? (uintptr_t)strtoull(hex, NULL, 16) : 0;
}

/* The last place needle occurs in text, or NULL. */
static const char *last_of(const char *text, const char *needle)
{
    const char *last = NULL;
    for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
        last = at;
    return last;
}

/* What a text report's "found by" line names, as JSON's found_by would. */
static const char *text_finder(const char *by)
{
    static const struct {
        const char *prefix;
        const char *name;
    } finders[] = {
        { "free at ", "free" },
        { "realloc at ", "realloc" },
        { "the check as the freed block's memory was reused, by an allocation at ", "reuse" },
        { "the check as the freed block's memory went back to the system", "release" },
        { "ar_heap__check_all()", "check" },
        { "the check at exit", "exit" },
    };
    for (size_t i = 0; i < sizeof finders / sizeof finders[0]; i++)
        if (strncmp(by, finders[i].prefix, strlen(finders[i].prefix)) == 0)
            return finders[i].name;
    return "(unknown finder)";
}

/* One line of a text report after its header (src/report.c): the damage
 * line ("  N bytes ...; the first at offset X"), "  found by ...", the
 * operation ("  free at ...", "  realloc at ...", "  call at ..."), the
 * block ("  block: ... at 0x..."; the description, raw, comes before the
 * address, so the last " at 0x" is it), its number ("  allocated at ...
 * (allocation #N, thread T)") and "  freed at ...". Call stacks' lines
 * begin with more spaces. */
static void text_line(const char *line, report_t *r)
{
    if (strncmp(line, "  found by ", 11) == 0) {
        snprintf(r->how, sizeof r->how, "%s", text_finder(line + 11));
    } else if (strncmp(line, "  free at ", 10) == 0) {
        snprintf(r->how, sizeof r->how, "free");
    } else if (strncmp(line, "  realloc at ", 13) == 0) {
        snprintf(r->how, sizeof r->how, "realloc");
    } else if (strncmp(line, "  call at ", 10) == 0) {
        snprintf(r->how, sizeof r->how, "call");
    } else if (line[0] == ' ' && line[1] == ' ' && isdigit((unsigned char)line[2])) {
        const char *first = strstr(line, "; the first at offset ");
        if (first != NULL) {
            r->has_offset = 1;
            r->offset = strtoll(first + strlen("; the first at offset "), NULL, 10);
        }
    } else if (strncmp(line, "  block: ", 9) == 0) {
        const char *at = last_of(line, " at 0x");
        if (at == NULL)
            fail("a text report's block line without its address", 0, 0);
        r->block = (uintptr_t)strtoull(at + 4, NULL, 16);
        r->size = (size_t)strtoull(line + 9, NULL, 10); /* "N bytes" or "1 byte" */
    } else if (strncmp(line, "  allocated at ", 15) == 0) {
        const char *number = last_of(line, "(allocation #");
        if (number == NULL)
            fail("a text report's allocation line without its number", 0, 0);
        r->seq = strtoull(number + strlen("(allocation #"), NULL, 10);
    } else if (strncmp(line, "  freed at ", 11) == 0) {
        r->freed = 1;
    }
}

/* The line that says how many findings a check could not show. */
static const char unshown_text[] = " more damaged blocks were found than one report holds (";

/* Read the reports written since the last call into seen[]; *unshown: a
 * line said that more damaged blocks were found than shown. */
static void collect_reports(int *unshown)
{
    read_capture();
    seen_count = 0;
    *unshown = 0;
    report_t *text_report = NULL; /* a text report whose lines are being read */
    for (char *line = capture_buf; *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        int json_line = strncmp(line, "{\"tool\":\"arheap\"", 16) == 0;
        int header = strncmp(line, "arheap: ERROR: ", 15) == 0;
        if (json_line || header) {
            if (json_line != fz.json)
                fail("a report in the other format (report_json, then JSON)", (size_t)fz.json,
                     (size_t)json_line);
            if (seen_count == REPORTS_MAX)
                fail("reports written by one operation (at most)", REPORTS_MAX, seen_count + 1);
            report_t *r = &seen[seen_count++];
            memset(r, 0, sizeof *r);
            if (json_line) {
                parse_json(line, r);
            } else {
                parse_text(line, r);
                text_report = r;
            }
        } else if (strncmp(line, "SUMMARY: arheap: ", 17) == 0) {
            text_report = NULL;
        } else if (text_report != NULL) {
            text_line(line, text_report);
        } else if (strncmp(line, "arheap: ", 8) == 0 && strstr(line, unshown_text) != NULL) {
            *unshown = 1;
        }
        if (nl != NULL)
            *nl = '\n';
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
}

static int report_matches(const report_t *w, const report_t *g)
{
    return strcmp(w->kind, g->kind) == 0 && w->addr == g->addr && w->block == g->block &&
           w->seq == g->seq && (w->seq == 0 || w->size == g->size) && w->freed == g->freed &&
           strcmp(w->how, g->how) == 0 &&
           w->has_offset == g->has_offset && (!w->has_offset || w->offset == g->offset) &&
           (!fz.json || w->has_site == g->has_site);
}

/* Compare what the heap reported with what the model expects: the same
 * reports, in order (one operation's reports come in a known order), or
 * in any order (check_all walks its spans in no order the model knows). */
static void verify_reports(int any_order)
{
    int unshown;
    collect_reports(&unshown);
    if (seen_count != fz.want_count)
        fail("error reports written (the model's, then the heap's)", fz.want_count, seen_count);
    for (size_t i = 0; i < fz.want_count; i++)
        fz.want[i].used = 0;
    for (size_t i = 0; i < seen_count; i++) {
        size_t j = i;
        if (any_order)
            for (j = 0; j < fz.want_count; j++)
                if (!fz.want[j].used && report_matches(&fz.want[j], &seen[i]))
                    break;
        if (j == fz.want_count || !report_matches(&fz.want[j], &seen[i]))
            fail("a report's class, address, block, size, finder or offset (report)", i, i);
        fz.want[j].used = 1;
    }
    if (unshown)
        fail("a line saying that more damaged blocks were found than shown", 0, 1);
    fz.want_count = 0;
}

/* The model expects a report from the current operation, about addr,
 * naming block b (or none), shown as freed or not, by `how`. */
static void expect(const char *kind, const void *addr, const block_t *b, int freed,
                   const char *how, int has_offset, long long offset)
{
    if (fz.want_count == REPORTS_MAX)
        fail("reports expected from one operation (at most)", REPORTS_MAX, fz.want_count + 1);
    report_t *r = &fz.want[fz.want_count++];
    memset(r, 0, sizeof *r);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    r->addr = (uintptr_t)addr;
    if (b != NULL) {
        r->block = (uintptr_t)b->p;
        r->seq = b->seq;
        r->size = b->size;
        r->freed = freed;
    }
    snprintf(r->how, sizeof r->how, "%s", how);
    r->has_offset = has_offset;
    r->offset = offset;
    r->has_site = strcmp(how, "check") != 0;
    fz.expected_errors++;
}

/* ---------------------------------------------------------------- the model */

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

static size_t held_count(void)
{
    return fz.held_end - fz.held_head;
}

/* The held block i places from the oldest. */
static block_t *held_at(size_t i)
{
    return &held[fz.held_head + i];
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
    size_t peak = fz.base.peak_live_bytes > fz.peak_bytes ? fz.base.peak_live_bytes : fz.peak_bytes;
    if (now.peak_live_bytes != peak)
        fail("peak_live_bytes", peak, now.peak_live_bytes);
    if (now.quarantine_blocks != held_count())
        fail("quarantine_blocks", held_count(), now.quarantine_blocks);
    if (!fz.guard && now.quarantine_bytes != fz.fifo_bytes + fz.batch_bytes)
        fail("quarantine_bytes", fz.fifo_bytes + fz.batch_bytes, now.quarantine_bytes);
    if (!fz.guard && now.guarded_blocks != 0)
        fail("guarded_blocks without guard pages", 0, now.guarded_blocks);
    /* Guarded blocks are live ones: no freed block counts (until stop 42
     * the count was looked at without guard pages only, and a library
     * that counted quarantined guarded blocks passed). Not all live ones
     * need be: the recycling turns guard pages off for its blocks. */
    if (fz.guard && now.guarded_blocks > fz.live_count)
        fail("guarded_blocks, more than the live blocks (live_blocks, then it)", fz.live_count,
             now.guarded_blocks);
    if (now.total_allocations - fz.base.total_allocations != fz.allocations)
        fail("total_allocations", fz.allocations,
             now.total_allocations - fz.base.total_allocations);
    if (now.total_bytes - fz.base.total_bytes != fz.total_bytes)
        fail("total_bytes", fz.total_bytes, now.total_bytes - fz.base.total_bytes);
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

/* Whether desc holds the intentional-leak marker, anywhere: past the
 * DESC_KEPT bytes the heap keeps too (until stop 41 only in those). */
static int desc_allows(const char *desc)
{
    return strstr(desc, INTENTIONAL) != NULL;
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

static void verify_bytes(const unsigned char *p, size_t from, size_t to, unsigned char value,
                         const char *what)
{
    /* Eight bytes at a time, then byte by byte where they differ. */
    uint64_t word = 0x0101010101010101ULL * value;
    size_t i = from;
    for (; i + 8 <= to; i += 8) {
        uint64_t have;
        memcpy(&have, p + i, 8);
        if (have != word)
            break;
    }
    for (; i < to; i++)
        if (p[i] != value)
            fail(what, i, p[i]);
}

static void verify_fill(const unsigned char *p, size_t from, size_t to, unsigned char value)
{
    verify_bytes(p, from, to, value, "a new block's fill (offset, then found)");
}

/* A freed block's bytes still hold the poison. */
static void verify_poison(const block_t *b)
{
    verify_bytes(b->p, 0, b->size, FILL_FREED, "a freed block's poison (offset, then found)");
}

/* The zones of a block in the order a free or a reuse reports them (its
 * canaries, tail then head, then its poison: src/canary.c), and in the
 * order check_all does (poison first), whose reports are compared in any
 * order. */
static const unsigned canaries_first[3] = { DAMAGE_TAIL, DAMAGE_HEAD, DAMAGE_POISON };
static const unsigned poison_first[3] = { DAMAGE_POISON, DAMAGE_TAIL, DAMAGE_HEAD };

/* The reports of block b's damage, found by `how`, in `order`; the block
 * is shown as freed or not. The damage is then no longer pending. */
static void expect_damage(block_t *b, int freed, const char *how, const unsigned order[3])
{
    for (int z = 0; z < 3; z++) {
        if (!(b->damage & order[z]))
            continue;
        if (order[z] == DAMAGE_POISON)
            expect("heap-use-after-free", b->p, b, freed, how, 1, b->off_poison);
        else if (order[z] == DAMAGE_TAIL)
            expect("heap-buffer-overflow", b->p, b, freed, how, 1, b->off_tail);
        else
            expect("heap-buffer-underflow", b->p, b, freed, how, 1, b->off_head);
    }
    if (b->damage != 0) {
        fz.damaged--;
        b->damage = 0;
    }
}

/* The bytes of a block with canaries, from its head zone to the end of
 * its tail zone (doc/arheap.md, Block layout); without canaries (tracking
 * only), its size to the next multiple of 16, and 16 for a block of 0. */
static size_t block_extent(size_t size)
{
    if (fz.tracking)
        return size == 0 ? 16 : (size + 15) / 16 * 16;
    return CANARY_HEAD + (size + CANARY_TAIL + 15) / 16 * 16;
}

/* What a block counts for in the quarantine, less its bookkeeping: the
 * whole slot it took (src/life.c holds a size class's slot whole), at
 * least its extent; a huge block's extent. Which slot an allocation takes
 * is the backend's choice, not predicted here: a class may take a
 * released slot of a larger one (src/span.c, borrowing), so the slot's
 * size is read from the heap's index. With guard pages quarantine_bytes
 * is not compared. */
static size_t held_extent(const unsigned char *p, size_t size)
{
    size_t extent = block_extent(size);
    ar_heap_slot_t slot;
    if (fz.guard)
        return extent;
    if (!ar_heap_index__find((uintptr_t)p, &slot) || slot.span == NULL)
        fail("a block not found in the heap's spans (size)", size, 0);
    if (slot.span->klass == AR_HEAP_CLASSES)
        return extent;
    if (slot.capacity < extent)
        fail("a block's slot smaller than its extent (extent, then slot)", extent,
             slot.capacity);
    return slot.capacity;
}

/* What a held block counts for in quarantine_bytes. */
static size_t entry_bytes(const block_t *b)
{
    return b->extent + (fz.guard ? BOOKKEEPING_GUARDED : BOOKKEEPING);
}

static size_t batch_limit(size_t budget)
{
    return budget / 16 < BATCH_MAX ? budget / 16 : BATCH_MAX;
}

/* Freed block b goes back in circulation (it left the quarantine, or was
 * freed with a budget of 0): its record stays, forgotten when its release
 * looks at it and freed_history is 0. Its slot may be taken by the next
 * allocation of its size class: the model follows it until one returns
 * its address. (With guard pages such blocks are listed, for the recycling
 * at the input's end, but no bug is driven through them: a guarded
 * block's slot may be reused at another address.) */
static void release_block(const block_t *b)
{
    fz.outstanding -= b->size + (fz.guard ? GUARD_OVERHEAD : BLOCK_OVERHEAD);
    if (fz.released_count == FREED_MAX)
        fail("released blocks the model follows (at most)", FREED_MAX, fz.released_count + 1);
    block_t *r = &released[fz.released_count++];
    *r = *b;
    if (r->slow && fz.history == 0)
        r->forgotten = 1;
}

/* The thread's batch joins the FIFO: the bytes it brings. */
static size_t flush_batch(void)
{
    size_t bytes = fz.batch_bytes;
    fz.fifo_count = held_count();
    fz.fifo_bytes += bytes;
    fz.batch_bytes = 0;
    return bytes;
}

/* The FIFO lets its oldest blocks go while it holds more than `target`
 * bytes and `quota` lasts (the last block may go past either; the quota
 * goes down by what each counts for), keeping the newest unless the
 * target is 0; at most TAKE_MAX blocks. 1 when it stopped at TAKE_MAX
 * with quota left: the heap then asks again (src/life.c, release_all). */
static int take(size_t target, size_t *quota)
{
    for (size_t n = 0; fz.fifo_bytes > target && *quota > 0 && fz.fifo_count > 0 &&
                       (fz.fifo_count > 1 || target == 0);
         n++) {
        if (n == TAKE_MAX)
            return 1;
        block_t b = *held_at(0);
        fz.held_head++;
        fz.fifo_count--;
        size_t bytes = entry_bytes(&b);
        fz.fifo_bytes -= bytes;
        *quota -= bytes < *quota ? bytes : *quota;
        release_block(&b);
    }
    return 0;
}

/* The heap counts every lowering of quarantine_bytes, and the thread's
 * next batch that joins the FIFO takes the FIFO down to the target,
 * whatever the batch brought (src/quarantine.c, stop 40). The count
 * outlives an input, as the heap's thread state does: what the heap's
 * budget is and whether a lowering is still unseen are kept outside fz.
 * (Until stop 41 the model knew nothing of it, and two minutes of fuzzing
 * found an input where the heap let a block go that the model held.) */
static size_t heap_budget = BIG_BUDGET;
static int lowering_unseen;

/* ar_heap__set_options set quarantine_bytes to `budget`. */
static void heap_budget_set(size_t budget)
{
    if (budget < heap_budget)
        lowering_unseen = 1;
    heap_budget = budget;
}

/* Freed block b enters the quarantine (src/quarantine.c, one thread): it
 * joins the batch; when the batch reaches its limit (or its chunk is
 * full) the batch joins the FIFO, which lets blocks go down to the budget
 * less a batch, but no more bytes than the batch brought. */
static void quarantine(const block_t *b)
{
    if (fz.held_end == QUARANTINE_MAX) {
        size_t n = held_count();
        if (n == QUARANTINE_MAX)
            fail("quarantine model overflow", QUARANTINE_MAX, n);
        memmove(&held[0], &held[fz.held_head], n * sizeof held[0]);
        fz.held_head = 0;
        fz.held_end = n;
    }
    held[fz.held_end++] = *b;
    fz.batch_bytes += entry_bytes(b);
    size_t limit = batch_limit(fz.budget);
    if (fz.batch_bytes >= limit || held_count() - fz.fifo_count == BATCH_ENTRIES) {
        size_t quota = flush_batch();
        if (lowering_unseen) {
            quota = SIZE_MAX;
            lowering_unseen = 0;
        }
        size_t target = fz.budget > limit ? fz.budget - limit : 0;
        while (take(target, &quota)) {
        }
    }
}

/* A free with a budget of 0 lets everything held go. */
static void drain(void)
{
    if (held_count() == 0)
        return;
    flush_batch();
    size_t quota = SIZE_MAX;
    while (take(0, &quota)) {
    }
}

/* Block b, no longer live, was freed by `how` (free or realloc): its own
 * damage (its canaries) is reported, and then its slot is never reused;
 * it is poisoned and enters the quarantine, or with a budget of 0 goes
 * straight back, unpoisoned, and everything held with it. */
static void model_free(block_t *b, const char *how)
{
    b->kept = b->damage != 0;
    expect_damage(b, 0, how, canaries_first);
    if (fz.budget != 0) {
        b->poisoned = 1;
        b->slow = b->kept || fz.history == 0;
        quarantine(b);
    } else {
        b->poisoned = 0;
        b->slow = 1; /* forgotten at once with freed_history=0 */
        release_block(b);
        drain();
    }
}

/* An allocation returned p. It can not be a live block's address, nor a
 * held one's: the quarantine keeps those slots out of circulation. When p
 * is a released block's address, the allocation took that block's slot
 * (every block of the default alignment starts 16 bytes into its slot with
 * canaries, at its start without), and reported that block's pending
 * damage as it did: tail,
 * head, poison, found by "reuse". The old block is then gone: its record
 * is the new block's. A block damaged at its free is never reused. */
static void claim(const unsigned char *p)
{
    for (int s = 0; s < SLOTS; s++)
        if (fz.used[s] && fz.live[s].p == p)
            fail("an allocation returned a live block's address (slot)", 0, (size_t)s);
    for (size_t i = 0; i < held_count(); i++)
        if (held_at(i)->p == p)
            fail("an allocation returned a held block's address (from the oldest)", 0, i);
    /* From the newest: the slot released last is reused first. */
    for (size_t i = fz.released_count; i-- > 0;) {
        block_t *b = &released[i];
        if (b->p != p)
            continue;
        if (b->kept)
            fail("an allocation reused the slot of a block damaged at its free", 0, 1);
        expect_damage(b, 1, "reuse", canaries_first);
        *b = released[--fz.released_count];
        return;
    }
}

/* Live bytes grew to `bytes`: the peak follows. */
static void note_live(size_t bytes)
{
    if (bytes > fz.peak_bytes)
        fz.peak_bytes = bytes;
}

/* A new block enters slot s: count it, check its fill, give it a pattern.
 * `known` bytes at its start were copied (realloc) or written (calloc,
 * strdup) and have been checked by the caller. The caller claimed p
 * already when `claimed`. */
static void adopt(int s, unsigned char *p, size_t size, size_t known, int filled,
                  const char *desc, int claimed)
{
    block_t *b = &fz.live[s];
    if (p == NULL)
        fail("an allocation returned NULL (size)", size, 0);
    if (!claimed)
        claim(p);
    unsigned seed = b->seed;
    memset(b, 0, sizeof *b);
    b->seed = seed;
    b->p = p;
    b->size = size;
    b->extent = held_extent(p, size);
    b->seq = fz.base_mark + fz.allocations + 1;
    b->allowed = desc_allows(desc);
    if (filled && fz.fill)
        verify_fill(p, known, size, FILL_NEW);
    write_pattern(b, known, size);
    fz.used[s] = 1;
    fz.live_count++;
    fz.live_bytes += size;
    note_live(fz.live_bytes);
    fz.total_bytes += size;
    fz.outstanding += size + (fz.guard ? GUARD_OVERHEAD : BLOCK_OVERHEAD);
    fz.allocations++;
}

/* Slot s's block was freed by `how` (free or realloc). */
static void retire(int s, const char *how)
{
    block_t b = fz.live[s];
    fz.used[s] = 0;
    fz.live_count--;
    fz.live_bytes -= b.size;
    /* A guarded block's pages are PROT_NONE in the quarantine; with a
     * budget of 0 the block is not poisoned. */
    if (!fz.guard && fz.budget != 0)
        verify_poison(&b);
    model_free(&b, how);
}

static void op_free(int s)
{
    if (!fz.used[s])
        return;
    verify_pattern(&fz.live[s], 0, fz.live[s].size);
    AR__HEAP__FREE(fz.live[s].p);
    retire(s, "free");
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
        /* A text report prints the description raw: a newline there
         * could start a line that looks like a report's. (JSON escapes
         * it, and gets every byte.) */
        if (desc_buf[i] == '\n' && !fz.json)
            desc_buf[i] = ' ';
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
        adopt(s, p, size, 0, 1, desc, 0);
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
    adopt(s, p, count * each, 0, 0, desc, 0);
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
    adopt(s, (unsigned char *)copy, len + 1, 0, 0, desc, 0);
}

static void op_realloc(int s, uint8_t op)
{
    size_t size = next_size();
    const char *desc = next_desc(op);
    if (!fz.used[s]) {
        int fails = attempt_fails();
        unsigned char *p = AR__HEAP__REALLOC(NULL, size, desc);
        if (!injected(p, fails))
            adopt(s, p, size, 0, 1, desc, 0);
        return;
    }
    block_t *b = &fz.live[s];
    verify_pattern(b, 0, b->size);
    if (size == 0) { /* frees the block, returns NULL */
        unsigned char *r = AR__HEAP__REALLOC(b->p, 0, desc);
        if (r != NULL)
            fail("REALLOC(p, 0) returned a block", 0, 1);
        retire(s, "realloc");
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
    /* The new block is allocated first (its slot's old block's damage is
     * reported then), and the old block freed after. */
    claim(p);
    note_live(fz.live_bytes + size);
    size_t kept = old.size < size ? old.size : size;
    block_t moved = old;
    moved.p = p;
    verify_pattern(&moved, 0, kept);
    /* The old block is freed by the realloc: model it as a free. */
    retire(s, "realloc");
    fz.live[s].seed = old.seed;
    adopt(s, p, size, kept, 1, desc, 1);
}

/* Block b is about to be damaged on purpose: one more damaged block, when
 * it had no damage yet. */
static void damaging(const block_t *b)
{
    if (b->damage == 0)
        fz.damaged++;
}

/* A write past the end, anywhere in the tail canary (offset size to the
 * extent's end, 16 to 31 bytes: until stop 42 only its first 16, and a
 * check that missed the zone's last word passed). */
static void op_overrun(int s)
{
    block_t *b = &fz.live[s];
    uint8_t k = next_byte();
    if (fz.guard || fz.tracking || !fz.used[s] || b->size > LIVE_DAMAGE_MAX ||
        (b->damage & DAMAGE_TAIL) ||
        (b->damage == 0 && fz.damaged == DAMAGED_MAX))
        return;
    size_t zone = (b->size + CANARY_TAIL + 15) / 16 * 16 - b->size; /* the zone's bytes */
    size_t at = k % zone;
    b->p[b->size + at] ^= 0xff;
    /* One time in two a second byte a little further: the report names
     * the first damaged byte, which a single flip could not tell from the
     * last (until stop 42 one that named the last passed). */
    size_t second = at + 1 + (size_t)(k >> 5) % 4;
    if ((k & 0x10) && second < zone)
        b->p[b->size + second] ^= 0xff;
    damaging(b);
    b->damage |= DAMAGE_TAIL;
    b->off_tail = (long long)(b->size + at);
}

/* A write before the start (offset -1..-16: the head canary). */
static void op_underrun(int s)
{
    uint8_t k = next_byte() % 16;
    block_t *b = &fz.live[s];
    if (fz.guard || fz.tracking || !fz.used[s] || b->size > LIVE_DAMAGE_MAX ||
        (b->damage & DAMAGE_HEAD) ||
        (b->damage == 0 && fz.damaged == DAMAGED_MAX))
        return;
    b->p[-1 - (ptrdiff_t)k] ^= 0xff;
    damaging(b);
    b->damage |= DAMAGE_HEAD;
    b->off_head = -1 - (long long)k;
}

/* The freed block an argument byte names, held (newest first) or
 * released (not with guard pages), or NULL when there is none; *is_held
 * says which. */
static block_t *pick_freed(int *is_held)
{
    uint8_t k = next_byte();
    size_t h = held_count(), n = h + (fz.guard ? 0 : fz.released_count);
    if (n == 0)
        return NULL;
    size_t i = k % n;
    *is_held = i < h;
    return i < h ? held_at(h - 1 - i) : &released[i - h];
}

/* The byte of a freed block's poison that an argument byte names: one of
 * its first 256 bytes, or with `spread`, a point spread over the whole
 * block, its last byte included (255). Before stop 43 only the first 256
 * bytes were ever damaged: in a block over 1 KiB
 * (AR_HEAP_CANARY_SHORT_MAX), whose reuse takes canary.c's fused pass, a
 * pass that checked no more than its first chunks passed, and so did one
 * that skipped the poison check of such blocks whenever no input reused
 * a damaged one. */
static size_t poison_offset(size_t size, uint8_t where, int spread)
{
    if (!spread || size <= 256)
        return where % size;
    return (size - 1) * where / 255;
}

/* A write through a stale pointer to a freed block, held or released (its
 * slot not reused yet): into the poison (op's bit 0x20: anywhere in it,
 * see poison_offset), or past the end into its tail canary, or before the
 * start into its head canary (not without canaries). Not to a block freed
 * with a budget of 0: its bytes hold no poison, and nothing checks them. */
static void op_write_after_free(uint8_t op)
{
    uint8_t where = next_byte();
    int is_held;
    block_t *b = pick_freed(&is_held);
    if (fz.guard || b == NULL || !b->poisoned || (b->damage == 0 && fz.damaged == DAMAGED_MAX))
        return;
    unsigned zone = !(op & 0x40) || fz.tracking ? DAMAGE_POISON
                    : (op & 0x20)                ? DAMAGE_HEAD
                                                 : DAMAGE_TAIL;
    if ((b->damage & zone) || (zone == DAMAGE_POISON && b->size == 0))
        return;
    if (!(b->damage & DAMAGE_POISON))
        verify_poison(b);
    if (zone == DAMAGE_POISON) {
        size_t at = poison_offset(b->size, where, (op & 0x20) != 0);
        b->p[at] ^= 0xff;
        b->off_poison = (long long)at;
    } else if (zone == DAMAGE_TAIL) {
        b->p[b->size + where % 16] ^= 0xff;
        b->off_tail = (long long)(b->size + where % 16);
    } else {
        b->p[-1 - (ptrdiff_t)(where % 16)] ^= 0xff;
        b->off_head = -1 - (long long)(where % 16);
    }
    damaging(b);
    b->damage |= zone;
}

/* A second free, or a realloc, of a freed block: a double free naming it
 * while its record is kept (held, or released and not forgotten), else an
 * invalid free of an address arheap no longer knows. */
static void op_double_free(uint8_t op)
{
    int is_held;
    block_t *b = pick_freed(&is_held);
    if (b == NULL)
        return;
    const char *how = (op & 0x40) ? "realloc" : "free";
    if (op & 0x40) {
        if (AR__HEAP__REALLOC(b->p, 1 + (op & 0x3f), "realloc of a freed block") != NULL)
            fail("REALLOC of a freed block returned a block", 0, 1);
    } else {
        AR__HEAP__FREE(b->p);
    }
    if (is_held || !b->forgotten)
        expect("double-free", b->p, b, 1, how, 0, 0);
    else
        expect("invalid-free", b->p, NULL, 0, how, 0, 0);
}

/*
 * A pointer that is no block's start: an invalid-free of that pointer,
 * naming the live block it lies in (one past the end counts), the freed
 * block whose record is kept, or no block.
 * Every block of a slot starts at the same place, so an interior pointer
 * can never be another block's start.
 */
/* How many addresses past a block's first are inside it for a free: up to
 * its end with canaries (the tail zone follows), one less without (the
 * end may be the next slot's start, a block of its own). */
static size_t interior_span(size_t size)
{
    return fz.tracking && size > 0 ? size - 1 : size;
}

static void op_invalid_free(int s, uint8_t op)
{
    uint8_t k = next_byte();
    char local[16];
    void *plain;
    unsigned char *bad;
    switch (op % 5) {
    case 0: /* interior pointer of a live block, 1..size bytes in */
        if (!fz.used[s] || interior_span(fz.live[s].size) == 0)
            return;
        bad = fz.live[s].p + 1 + k % interior_span(fz.live[s].size);
        AR__HEAP__FREE(bad);
        /* JSON gives the pointer's offset into the block (text: in words). */
        expect("invalid-free", bad, &fz.live[s], 0, "free", fz.json, bad - fz.live[s].p);
        break;
    case 1: /* interior pointer of a freed block, held or released */
    {
        int is_held;
        block_t *b = pick_freed(&is_held);
        if (b == NULL || interior_span(b->size) == 0)
            return;
        bad = b->p + 1 + k % interior_span(b->size);
        AR__HEAP__FREE(bad);
        /* Named by the freed block while its record is kept, as a double
         * free is (until stop 41: no block). */
        int kept = is_held || !b->forgotten;
        expect("invalid-free", bad, kept ? b : NULL, kept, "free", kept && fz.json,
               kept ? bad - b->p : 0);
        break;
    }
    case 2:
        AR__HEAP__FREE(local + k % sizeof local);
        expect("invalid-free", local + k % sizeof local, NULL, 0, "free", 0, 0);
        break;
    case 3:
        AR__HEAP__FREE(global_bytes + k % sizeof global_bytes);
        expect("invalid-free", global_bytes + k % sizeof global_bytes, NULL, 0, "free", 0, 0);
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
        expect("invalid-free", plain, NULL, 0, (op & 0x40) ? "realloc" : "free", 0, 0);
        free(plain); /* ASan reports a double free if arheap freed it */
        break;
    }
}

/* ar_heap__check_all: every pending damage, of live blocks and of freed
 * ones (held or released), is reported, once, in no order the model
 * knows; then it is repaired: every freed block that was poisoned holds
 * its poison again (and its canaries, which the next check would report). */
static void op_check_all(void)
{
    verify_reports(0); /* what the operation before it wrote */
    size_t blocks = fz.damaged;
    size_t found = ar_heap__check_all();
    if (found != blocks)
        fail("ar_heap__check_all's damaged blocks", blocks, found);
    for (int s = 0; s < SLOTS; s++)
        if (fz.used[s])
            expect_damage(&fz.live[s], 0, "check", poison_first);
    for (size_t i = 0; i < held_count(); i++)
        expect_damage(held_at(i), 1, "check", poison_first);
    for (size_t i = 0; i < fz.released_count; i++)
        expect_damage(&released[i], 1, "check", poison_first);
    verify_reports(1);
    if (fz.damaged != 0)
        fail("damaged blocks left after ar_heap__check_all", 0, fz.damaged);
    if (!fz.guard) {
        for (size_t i = 0; i < held_count(); i++)
            if (held_at(i)->poisoned)
                verify_poison(held_at(i));
        for (size_t i = 0; i < fz.released_count; i++)
            if (released[i].poisoned)
                verify_poison(&released[i]);
    }
}

static void op_misc(uint8_t op)
{
    switch ((op / 14) % 4) { /* op % 14 picked this function */
    case 0: /* STRDUP(NULL): invalid-argument, NULL */
        if (AR__HEAP__STRDUP(NULL, "null string") != NULL)
            fail("STRDUP(NULL) returned a block", 0, 1);
        expect("invalid-argument", NULL, NULL, 0, "call", 0, 0);
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
 * no report, for anything else (a freed block among them). */
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
    case 2: { /* a freed block, held or released */
        int is_held;
        block_t *b = pick_freed(&is_held);
        if (b == NULL)
            return;
        ptr = b->p;
        break;
    }
    case 3: /* inside a live block (one past its end only with canaries:
             * without, the end may be the next slot's block) */
        if (!fz.used[s] || interior_span(fz.live[s].size) == 0)
            return;
        ptr = fz.live[s].p + 1 + k % interior_span(fz.live[s].size);
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
    if (got != want) {
        /* What the heap knows of the address, and what the model does. */
        dprintf(fz.report_fd, "heap_ops_fuzzer: allow_leak(%p), case %d; allocations so far %llu\n",
                ptr, how % 6, (unsigned long long)fz.allocations);
        if (how % 6 == 2) {
            for (size_t i = 0; i < held_count(); i++)
                if (held_at(i)->p == ptr)
                    dprintf(fz.report_fd, "heap_ops_fuzzer: held %zu: seq %llu size %zu\n", i,
                            (unsigned long long)held_at(i)->seq, held_at(i)->size);
            for (size_t i = 0; i < fz.released_count; i++)
                if (released[i].p == ptr)
                    dprintf(fz.report_fd, "heap_ops_fuzzer: released %zu: seq %llu size %zu\n", i,
                            (unsigned long long)released[i].seq, released[i].size);
        }
        stop_capture(); /* the description to the real stderr */
        ar_heap__describe(ptr);
        fail("ar_heap__allow_leak's answer", (size_t)want, (size_t)got);
    }
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
        discard_capture(); /* the listing */
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
    ar_heap_mark_t kept_seq[16];
    size_t kept_count;
} sweep_body_t;

/* A block from the body is freed: into the model's quarantine. */
static void sweep_free(unsigned char *p, size_t size, ar_heap_mark_t seq)
{
    block_t h;
    memset(&h, 0, sizeof h);
    h.extent = held_extent(p, size);
    AR__HEAP__FREE(p);
    fz.live_count--;
    fz.live_bytes -= size;
    h.p = p;
    h.size = size;
    h.seq = seq;
    model_free(&h, "free");
}

/* The body's allocations are the model's like any other: counted, their
 * address claimed (no live, held or body block's), numbered. */
static void sweep_body(void *arg)
{
    sweep_body_t *sb = arg;
    unsigned char *got[8];
    ar_heap_mark_t seq[8];
    for (size_t i = 0; i < sb->n; i++) {
        got[i] = AR__HEAP__MALLOC(sb->size, "sweep body");
        if (got[i] == NULL) {
            sb->nulls++;
            if (sb->leaky && i > 0 && sb->kept_count < 16) {
                --i;
                sb->kept[sb->kept_count] = got[i];
                sb->kept_seq[sb->kept_count++] = seq[i];
            }
            for (size_t j = 0; j < i; j++)
                sweep_free(got[j], sb->size, seq[j]);
            return;
        }
        claim(got[i]);
        for (size_t j = 0; j < i; j++)
            if (got[j] == got[i])
                fail("the sweep's body got a live block's address (allocation, then the other)",
                     i, j);
        for (size_t j = 0; j < sb->kept_count; j++)
            if (sb->kept[j] == got[i])
                fail("the sweep's body got the address of a block it forgot (allocation, then "
                     "the forgotten one)", i, j);
        seq[i] = fz.base_mark + fz.allocations + 1;
        fz.allocations++;
        fz.total_bytes += sb->size;
        fz.live_count++;
        fz.live_bytes += sb->size;
        note_live(fz.live_bytes);
        fz.outstanding += sb->size + (fz.guard ? GUARD_OVERHEAD : BLOCK_OVERHEAD);
        sb->allocated++;
    }
    for (size_t j = 0; j < sb->n; j++)
        sweep_free(got[j], sb->size, seq[j]);
}

/* Whether an allocation of the sweep's body could take the slot of a
 * freed block with damage pending: a released one, or a held one that the
 * body's frees could release (any budget but 64 MiB). */
static int sweep_could_reuse_damage(void)
{
    for (size_t i = 0; i < fz.released_count; i++)
        if (released[i].damage != 0)
            return 1;
    if (fz.budget != BIG_BUDGET)
        for (size_t i = 0; i < held_count(); i++)
            if (held_at(i)->damage != 0)
                return 1;
    return 0;
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
        held_count() + 32 > QUARANTINE_MAX ||
        held_count() + fz.released_count + 32 > FREED_MAX || sweep_could_reuse_damage())
        return;
    ar_heap_sweep_t out;
    memset(&out, 0xa5, sizeof out);
    size_t failing = ar_heap__sweep_failures(sweep_body, &sb, (b & 0x40) ? NULL : &out);
    discard_capture(); /* its lines about the leaky runs, with leak listings */
    size_t want_failing = sb.leaky && sb.n >= 2 ? sb.n - 1 : 0;
    fz.injected += sb.nulls;
    fz.attempts = 0;
    /* The forgotten blocks are live until freed here. */
    check_stats();
    for (size_t i = 0; i < sb.kept_count; i++)
        sweep_free(sb.kept[i], sb.size, sb.kept_seq[i]);
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
 * options restarts the heap's count of allocations, and the model's.
 * Turning them all off also sets freed_history (0 one time in 4) and may
 * set a new quarantine budget (not with guard pages, whose blocks' sizes
 * the model does not know): 0, a few blocks' worth, 2 to 64 KiB, or back
 * to 64 MiB. A smaller budget takes effect at the next free. */
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
        if (!fz.guard)
            fz.budget = n % 8 == 0   ? 0
                        : n % 8 == 7 ? BIG_BUDGET
                        : n % 8 == 6 ? (size_t)(1 + (n >> 3)) * 2048
                                     : (size_t)(n >> 3) * 16 * (n % 8);
        fz.history = ((b / 6) & 3) != 3;
        break;
    }
    char options[192];
    snprintf(options, sizeof options,
             "fail_nth=%zu:fail_every=%zu:fail_random=%d:fail_seed=%u:quarantine_bytes=%zu:"
             "freed_history=%d",
             fz.fail_nth, fz.fail_every, fz.fail_random ? 100000 + 50000 * (b >> 5) : 0,
             (unsigned)n, fz.budget, fz.history);
    if (ar_heap__set_options(options) != 0)
        fail("fail_* options refused", 0, 1);
    heap_budget_set(fz.budget);
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
    verify_reports(0);
    check_stats();
}

/*
 * A freed slot keeps its poison, which every ar_heap__check_all checks,
 * until an allocation reuses it: left as they are, the slots one input
 * freed would be checked again by every later input's check_all, and the
 * fuzzer would slow down as the slots pile up. So at its end an input
 * takes back the slots it released: a block of each released block's
 * size, all at once (a size class's last released slot comes first),
 * then frees them with a budget of 0, which leaves no poison. Each
 * allocation is claimed like any other (one that takes a released
 * block's slot reports nothing: no damage is pending) and counted. With
 * guard pages off for it, so that every block takes a slot.
 */
static unsigned char *recycled[FREED_MAX];
static size_t recycled_size[FREED_MAX];
static ar_heap_mark_t recycled_seq[FREED_MAX];

static void recycle(void)
{
    size_t n = fz.released_count;
    if (fz.guard && ar_heap__set_options("guard=0") != 0)
        fail("guard=0 refused", 0, 1);
    for (size_t i = 0; i < n; i++)
        recycled_size[i] = released[n - 1 - i].size;
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = AR__HEAP__MALLOC(recycled_size[i], "recycled");
        if (p == NULL)
            fail("a recycling allocation failed (size)", recycled_size[i], 0);
        claim(p);
        recycled[i] = p;
        recycled_seq[i] = fz.base_mark + fz.allocations + 1;
        fz.allocations++;
        fz.total_bytes += recycled_size[i];
        fz.live_count++;
        fz.live_bytes += recycled_size[i];
        note_live(fz.live_bytes);
        fz.outstanding += recycled_size[i] + BLOCK_OVERHEAD;
    }
    verify_reports(0);
    check_stats();
    /* The released blocks not taken back are no longer followed: the
     * input ends. */
    fz.released_count = 0;
    for (size_t i = 0; i < n; i++) {
        block_t h;
        memset(&h, 0, sizeof h);
        h.extent = held_extent(recycled[i], recycled_size[i]);
        AR__HEAP__FREE(recycled[i]);
        fz.live_count--;
        fz.live_bytes -= recycled_size[i];
        h.p = recycled[i];
        h.size = recycled_size[i];
        h.seq = recycled_seq[i];
        model_free(&h, "free");
    }
    verify_reports(0);
}

/* Free everything and empty the quarantine, then recycle the released
 * slots; nothing may be reported. */
static void cleanup(void)
{
    op_check_all();
    for (int s = 0; s < SLOTS; s++)
        op_free(s);
    check_stats();
    /* Failures off first: the flush below must not be one. */
    (void)ar_heap__set_options("fail_nth=0:fail_every=0:fail_random=0:quarantine_bytes=0");
    heap_budget_set(0);
    fz.fail_nth = 0;
    fz.fail_every = 0;
    fz.fail_random = 0;
    /* A free with a budget of 0 lets everything held go. */
    fz.budget = 0;
    unsigned char *flush = AR__HEAP__MALLOC(1, "flush");
    if (flush == NULL)
        fail("the flush's allocation failed", 1, 0);
    claim(flush);
    size_t flush_extent = held_extent(flush, 1);
    AR__HEAP__FREE(flush);
    fz.allocations++;
    fz.total_bytes += 1;
    note_live(fz.live_bytes + 1);
    block_t flushed;
    memset(&flushed, 0, sizeof flushed);
    flushed.p = flush;
    flushed.size = 1;
    flushed.extent = flush_extent;
    flushed.seq = fz.base_mark + fz.allocations;
    fz.outstanding += 1 + BLOCK_OVERHEAD;
    model_free(&flushed, "free");
    verify_reports(0);
    if (held_count() != 0 || fz.fifo_bytes + fz.batch_bytes != 0)
        fail("blocks held after the flush", 0, held_count());
    recycle();
    fz.outstanding = 0;
    check_stats();
    (void)ar_heap__set_options("quarantine_bytes=67108864:freed_history=1");
    heap_budget_set(BIG_BUDGET);
    fz.budget = BIG_BUDGET;
    fz.history = 1;
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
#ifdef HAVE_SANITIZER_REPORT_FD
    /* AddressSanitizer's reports go there too, not into the capture. */
    __sanitizer_set_report_fd((void *)(intptr_t)fz.report_fd);
#endif
    fz.capture_fd = memfd_create("heap_ops_fuzzer-reports", MFD_CLOEXEC);
    if (fz.capture_fd < 0) {
        FILE *tmp = tmpfile();
        fz.capture_fd = tmp != NULL ? dup(fileno(tmp)) : -1;
        if (fz.capture_fd < 0)
            abort();
    }
    fz.saved_fd2 = -1;
    fz.budget = BIG_BUDGET;
    fz.history = 1;
    if (ar_heap__set_options("on_error=continue:leak_report=0:report_path=:canary=1:"
                             "quarantine_bytes=67108864:freed_history=1:check_every=0:"
                             "guard=0") != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The model starts afresh for every input: all of fz but the
     * descriptors kept for the whole process. (The freed blocks' arrays
     * are outside fz: their counts, now 0, say what they hold.) */
    int report_fd = fz.report_fd, capture_fd = fz.capture_fd;
    memset(&fz, 0, sizeof fz);
    fz.report_fd = report_fd;
    fz.capture_fd = capture_fd;
    fz.saved_fd2 = -1;
    seen_count = 0;
    fz.budget = BIG_BUDGET;
    fz.history = 1;
    fz.data = data;
    fz.size = size;
    uint8_t flags = next_byte();
    fz.fill = !(flags & 0x1);
    fz.check_after_bug = (flags & 0x8) != 0;
    fz.guard = (flags & 0x10) != 0;
    /* Bit 0x20 picks guard_sample with guard pages; without, tracking only. */
    fz.tracking = (flags & 0x30) == 0x20;
    fz.extended = (flags & 0x80) != 0;
    fz.json = (flags & 0x2) != 0;
    if (fz.tracking) {
        fz.fill = 0;
        fz.budget = 0;
    }
    char options[256];
    snprintf(options, sizeof options,
             "fill=%d:report_json=%d:stack_depth=%d:guard=%d:guard_sample=%d:guard_align=%d:"
             "canary=%d:quarantine_bytes=%zu:fail_nth=0:fail_every=0:fail_random=0",
             fz.fill, (flags & 0x2) != 0, (flags & 0x4) && !fz.tracking ? 3 : 0, fz.guard,
             (flags & 0x20) ? 3 : 1, (flags & 0x40) ? 1 : 16, !fz.tracking, fz.budget);
    if (ar_heap__set_options(options) != 0)
        abort();
    heap_budget_set(fz.budget);
    for (int s = 0; s < SLOTS; s++)
        fz.live[s].seed = (unsigned)s * 17u + flags;
    start_capture();
    ar_heap__get_stats(&fz.base);
    fz.base_mark = ar_heap__checkpoint();
    check_stats(); /* the last input left no block live or held */
    while (fz.at < fz.size && held_count() + 64 < QUARANTINE_MAX &&
           held_count() + fz.released_count + 64 < FREED_MAX) {
        run_op();
        fz.op++;
        for (int s = 0; s < SLOTS; s++)
            fz.live[s].seed += fz.used[s] ? 0 : 1; /* vary the next block's bytes */
    }
    cleanup();
    stop_capture();
    return 0;
}
