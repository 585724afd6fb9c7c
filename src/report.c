/*
 * report.c: how arheap speaks: error reports, warnings, the error action.
 *
 * Every report goes through ar_heap_out_t, a 512-byte buffer on the
 * caller's stack flushed with write(2). It allocates nothing and calls no
 * stdio, so a report still prints when the program has wrecked its heap or
 * when the report is written from inside the allocator.
 *
 * An error report has the shape users know from AddressSanitizer: a rule,
 * a header line naming the tool, the error kind and the address, the
 * operation and its site, the block with its allocation (and free) site,
 * and a one-line SUMMARY.
 */
#include "ar_heap_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ar_heap_out__init(ar_heap_out_t *out, int fd)
{
    out->fd = fd;
    out->error = 0;
    out->len = 0;
    out->text = NULL;
    out->text_size = 0;
    out->text_len = 0;
}

void ar_heap_out__init_text(ar_heap_out_t *out, char *buf, size_t size)
{
    ar_heap_out__init(out, -1);
    out->text = buf;
    out->text_size = size;
    if (buf != NULL && size > 0)
        buf[0] = '\0';
}

void ar_heap_out__flush(ar_heap_out_t *out)
{
    if (out->fd >= 0) {
        int error = ar_heap_os__write_all(out->fd, out->buf, out->len);
        if (out->error == 0)
            out->error = error;
    } else if (out->text != NULL && out->text_size > 0) {
        size_t room = out->text_size - 1 - out->text_len;
        size_t take = out->len < room ? out->len : room;
        memcpy(out->text + out->text_len, out->buf, take);
        out->text_len += take;
        out->text[out->text_len] = '\0';
    }
    out->len = 0;
}

static void ar_heap_out__bytes(ar_heap_out_t *out, const char *s, size_t n)
{
    while (n > 0) {
        if (out->len == sizeof out->buf)
            ar_heap_out__flush(out);
        size_t room = sizeof out->buf - out->len;
        size_t take = n < room ? n : room;
        memcpy(out->buf + out->len, s, take);
        out->len += take;
        s += take;
        n -= take;
    }
}

void ar_heap_out__str(ar_heap_out_t *out, const char *s)
{
    ar_heap_out__bytes(out, s != NULL ? s : "(null)", strlen(s != NULL ? s : "(null)"));
}

/* A description between the text reports' quotes: a control byte, a
 * quote and a backslash escaped as C writes them (\n, \", \\, \x1b), the
 * rest as it is, so that a description keeps to its line and its quotes
 * (until stop 41 a newline in one started a line of its own, which could
 * read as another block's). */
void ar_heap_out__desc(ar_heap_out_t *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (s == NULL) {
        ar_heap_out__str(out, s);
        return;
    }
    const char *run = s;
    for (;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')
            continue;
        ar_heap_out__bytes(out, run, (size_t)(s - run));
        if (c == '\0')
            return;
        char esc[4] = { '\\', (char)c, 0, 0 };
        size_t n = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\t')
            esc[1] = 't';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c != '"' && c != '\\') {
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            n = 4;
        }
        ar_heap_out__bytes(out, esc, n);
        run = s + 1;
    }
}

void ar_heap_out__dec(ar_heap_out_t *out, uint64_t value)
{
    char digits[24];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    ar_heap_out__bytes(out, digits + i, sizeof digits - i);
}

void ar_heap_out__signed(ar_heap_out_t *out, long long value)
{
    if (value < 0) {
        ar_heap_out__bytes(out, "-", 1);
        ar_heap_out__dec(out, (uint64_t)0 - (uint64_t)value);
    } else {
        ar_heap_out__dec(out, (uint64_t)value);
    }
}

void ar_heap_out__hex(ar_heap_out_t *out, uintptr_t value)
{
    char digits[2 + 2 * sizeof value];
    size_t i = sizeof digits;
    do {
        digits[--i] = "0123456789abcdef"[value & 0xf];
        value >>= 4;
    } while (value != 0);
    digits[--i] = 'x';
    digits[--i] = '0';
    ar_heap_out__bytes(out, digits + i, sizeof digits - i);
}

/* The thread of a site: an entry point's site says 0, the calling
 * thread, whose id is read now (reports are written by the thread whose
 * operation they are about). */
static uint32_t ar_heap_report__thread(const ar_heap_site_t *site)
{
    return site->thread != 0 ? site->thread : ar_heap_os__thread_id();
}

/* "file:line"; for a call that carried no location, its return address
 * ("0xPC in fn (module+0xoffset)"), or "an unknown site" without one. */
void ar_heap_out__site(ar_heap_out_t *out, const ar_heap_site_t *site)
{
    if (site->file == NULL) {
        if (site->pc != NULL)
            ar_heap_stack__describe(out, site->pc);
        else
            ar_heap_out__str(out, "an unknown site");
        return;
    }
    ar_heap_out__str(out, site->file);
    ar_heap_out__str(out, ":");
    ar_heap_out__signed(out, site->line);
}

const char *ar_heap_report__error_name(ar_heap_error_t kind)
{
    switch (kind) {
    case AR_HEAP_ERROR_DOUBLE_FREE:
        return "double-free";
    case AR_HEAP_ERROR_INVALID_FREE:
        return "invalid-free";
    case AR_HEAP_ERROR_INVALID_ARGUMENT:
        return "invalid-argument";
    case AR_HEAP_ERROR_OVERFLOW:
        return "heap-buffer-overflow";
    case AR_HEAP_ERROR_UNDERFLOW:
        return "heap-buffer-underflow";
    /* One bug class, one name, however it was found: a write to a freed
     * block seen in its poison after the fact, or any touch of a freed
     * guarded block at the faulting instruction, is AddressSanitizer's
     * heap-use-after-free (the access, WRITE or READ, goes in the SUMMARY
     * line). */
    case AR_HEAP_ERROR_WRITE_AFTER_FREE:
    case AR_HEAP_ERROR_USE_AFTER_FREE:
        return "heap-use-after-free";
    }
    return "error";
}

/* Error reports written so far (ar_heap_stats_t.errors_reported). */
static _Atomic size_t ar_heap_report_errors;

size_t ar_heap_report__errors(void)
{
    return atomic_load_explicit(&ar_heap_report_errors, memory_order_relaxed);
}

/* An error was reported on this thread since its last error action: the
 * action applies. A thread whose findings were all suppressed (suppress.c)
 * has none pending, and ar_heap_report__act does nothing, as with
 * on_error=continue. */
#if defined(__GNUC__)
__attribute__((tls_model("initial-exec")))
#endif
static _Thread_local int ar_heap_report_pending;

static void ar_heap_report__count(void)
{
    atomic_fetch_add_explicit(&ar_heap_report_errors, 1, memory_order_relaxed);
    ar_heap_report_pending = 1;
}

/* ------------------------------------------------------------ hints */

/*
 * Damage found after the fact (a canary or the poison checked at a free, a
 * reuse, a check or exit) says where the bytes are, not which instruction
 * wrote them. Guard pages stop at that instruction; the hint names the
 * options that would, for the kind found, unless they are in force already
 * (then the block was left to canaries by guard_sample, the size limits or
 * the mapping budget, and rerunning as suggested would change nothing):
 *
 *   heap-buffer-overflow   guard=1:guard_align=1  (the guard page right
 *                          after the last byte, not after the 16-byte slack)
 *   heap-buffer-underflow  guard=1:guard_below=1
 *   heap-use-after-free    guard=1  (a freed block's pages are closed)
 *
 * NULL for other kinds.
 */
static const char *ar_heap_report__hint(ar_heap_error_t kind)
{
    const ar_heap_options_t *o = &ar_heap_options;
    switch (kind) {
    case AR_HEAP_ERROR_OVERFLOW:
        return o->guard && !o->guard_below && o->guard_align == 1 ? NULL : "guard=1:guard_align=1";
    case AR_HEAP_ERROR_UNDERFLOW:
        return o->guard && o->guard_below ? NULL : "guard=1:guard_below=1";
    case AR_HEAP_ERROR_WRITE_AFTER_FREE:
        return o->guard ? NULL : "guard=1";
    default:
        return NULL;
    }
}

/* What the rerun would stop at, for the hint's sentence. */
static const char *ar_heap_report__hint_goal(ar_heap_error_t kind)
{
    return kind == AR_HEAP_ERROR_OVERFLOW    ? "the overflowing instruction"
           : kind == AR_HEAP_ERROR_UNDERFLOW ? "the underflowing instruction"
                                             : "the instruction that writes to the freed block";
}

/*
 * Open a symbol session for one report (symbol.c) and resolve the pcs it
 * will print: the operation's site and stack, the blocks' sites and
 * stacks. Returns 1 when a session is open: the report then ends it with
 * ar_heap_symbol__end() before acting. 0 with symbolize=0, or while
 * another report holds the session; frames then print as module+offset.
 */
static int ar_heap_report__symbols(const ar_heap_site_t *site, const ar_heap_stack_t *stack,
                                   const ar_heap_view_t *a, const ar_heap_view_t *b)
{
    if (!ar_heap_symbol__begin())
        return 0;
    ar_heap_symbol__want_site(site);
    if (stack != NULL)
        ar_heap_symbol__want_frames(stack->frames, stack->depth);
    ar_heap_symbol__want_view(a);
    ar_heap_symbol__want_view(b);
    ar_heap_suppress__want(site, a, b);
    ar_heap_symbol__resolve();
    return 1;
}

static void ar_heap_report__symbols_end(int session)
{
    if (session)
        ar_heap_symbol__end();
}

/* A finding that a suppression pattern matches (suppress.c) is not
 * reported, not counted, and leaves no error action pending; its symbol
 * session is ended here. */
static int ar_heap_report__suppressed(int symbols, ar_heap_error_t kind,
                                      const ar_heap_site_t *site, const ar_heap_stack_t *stack,
                                      const ar_heap_view_t *block)
{
    if (!ar_heap_suppress__error(ar_heap_report__error_name(kind), site, stack, block))
        return 0;
    ar_heap_report__symbols_end(symbols);
    return 1;
}

static const char ar_heap_report_rule[] =
    "=================================================================\n";

/* Rule and header line: "arheap: ERROR: <kind> of 0x... (pid N)". */
static void ar_heap_report__begin(ar_heap_out_t *out, ar_heap_error_t kind, const void *ptr)
{
    ar_heap_out__str(out, ar_heap_report_rule);
    ar_heap_out__str(out, "arheap: ERROR: ");
    ar_heap_out__str(out, ar_heap_report__error_name(kind));
    if (ptr != NULL) {
        ar_heap_out__str(out, kind == AR_HEAP_ERROR_OVERFLOW || kind == AR_HEAP_ERROR_UNDERFLOW ||
                                      kind == AR_HEAP_ERROR_WRITE_AFTER_FREE ||
                                      kind == AR_HEAP_ERROR_USE_AFTER_FREE
                                  ? " on block "
                                  : " of ");
        ar_heap_out__hex(out, (uintptr_t)ptr);
    }
    ar_heap_out__str(out, " (pid ");
    ar_heap_out__dec(out, (uint64_t)getpid());
    ar_heap_out__str(out, ")\n");
}

/* "  <operation> at file:line in thread N" */
static void ar_heap_report__operation(ar_heap_out_t *out, const char *operation,
                                      const ar_heap_site_t *site, const ar_heap_stack_t *stack)
{
    ar_heap_out__str(out, "  ");
    ar_heap_out__str(out, operation);
    ar_heap_out__str(out, " at ");
    ar_heap_out__site(out, site);
    ar_heap_out__str(out, " in thread ");
    ar_heap_out__dec(out, ar_heap_report__thread(site));
    ar_heap_out__str(out, "\n");
    if (stack != NULL)
        ar_heap_stack__print(out, stack->frames, stack->depth);
}

/* The block, where it was allocated, and where it was freed when it was. */
static void ar_heap_report__block(ar_heap_out_t *out, const ar_heap_view_t *record)
{
    ar_heap_out__str(out, "  block: ");
    ar_heap_out__dec(out, record->size);
    ar_heap_out__str(out, record->size == 1 ? " byte \"" : " bytes \"");
    ar_heap_out__desc(out, record->desc);
    ar_heap_out__str(out, "\" at ");
    ar_heap_out__hex(out, record->user);
    ar_heap_out__str(out, "\n  allocated at ");
    ar_heap_out__site(out, &record->alloc_site);
    ar_heap_out__str(out, " (allocation #");
    ar_heap_out__dec(out, record->seq);
    ar_heap_out__str(out, ", thread ");
    ar_heap_out__dec(out, record->alloc_site.thread);
    ar_heap_out__str(out, ")\n");
    ar_heap_stack__print(out, record->alloc_frames, record->alloc_depth);
    if (record->state == AR_HEAP_STATE_FREED || record->state == AR_HEAP_STATE_QUARANTINED) {
        ar_heap_out__str(out, "  freed at ");
        ar_heap_out__site(out, &record->free_site);
        ar_heap_out__str(out, " (thread ");
        ar_heap_out__dec(out, record->free_site.thread);
        ar_heap_out__str(out, ")\n");
        ar_heap_stack__print(out, record->free_frames, record->free_depth);
    }
}

static void ar_heap_report__end(ar_heap_out_t *out, ar_heap_error_t kind,
                                const ar_heap_site_t *site)
{
    ar_heap_out__str(out, "SUMMARY: arheap: ");
    ar_heap_out__str(out, ar_heap_report__error_name(kind));
    ar_heap_out__str(out, " at ");
    ar_heap_out__site(out, site);
    ar_heap_out__str(out, "\n");
    ar_heap_out__str(out, ar_heap_report_rule);
    ar_heap_out__flush(out);
}

/* The closing lines of a report about one block: "SUMMARY: arheap: <kind>
 * [(<access>)] on a N-byte block "desc" allocated at file:line", the rule;
 * then the report is written. */
static void ar_heap_report__block_summary(ar_heap_out_t *out, ar_heap_error_t kind,
                                          const char *access, const ar_heap_view_t *record,
                                          const char *hint)
{
    ar_heap_out__str(out, "SUMMARY: arheap: ");
    ar_heap_out__str(out, ar_heap_report__error_name(kind));
    if (access != NULL) {
        ar_heap_out__str(out, " (");
        ar_heap_out__str(out, access);
        ar_heap_out__str(out, ")");
    }
    ar_heap_out__str(out, " on a ");
    ar_heap_out__dec(out, record->size);
    ar_heap_out__str(out, "-byte block \"");
    ar_heap_out__desc(out, record->desc);
    ar_heap_out__str(out, "\" allocated at ");
    ar_heap_out__site(out, &record->alloc_site);
    ar_heap_out__str(out, "\n");
    if (hint != NULL) {
        ar_heap_out__str(out, "hint: rerun with AR_HEAP_OPTIONS=");
        ar_heap_out__str(out, hint);
        ar_heap_out__str(out, " to stop at ");
        ar_heap_out__str(out, ar_heap_report__hint_goal(kind));
        ar_heap_out__str(out, "\n");
    }
    ar_heap_out__str(out, ar_heap_report_rule);
    ar_heap_out__flush(out);
}

/* ------------------------------------------------------------ JSON */

/* The length of the UTF-8 sequence at s (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF), or 0 when it is not one. */
static size_t ar_heap_out__utf8_length(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80; /* the second byte's range */
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (n == 0 || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* A JSON string: quotes, backslashes and control bytes escaped; UTF-8
 * sequences as they are, and a byte that is not part of one as \u00XX
 * (its value as a code point), so that the line stays valid JSON. */
static void ar_heap_out__json_str(ar_heap_out_t *out, const char *s)
{
    if (s == NULL) {
        ar_heap_out__str(out, "null");
        return;
    }
    ar_heap_out__bytes(out, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        unsigned char c = *p;
        size_t n = c >= 0x80 ? ar_heap_out__utf8_length(p) : 1;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            ar_heap_out__bytes(out, esc, 2);
        } else if (c < 0x20 || n == 0) {
            char esc[6] = { '\\', 'u', '0', '0', "0123456789abcdef"[c >> 4],
                            "0123456789abcdef"[c & 15] };
            ar_heap_out__bytes(out, esc, 6);
            n = 1;
        } else {
            ar_heap_out__bytes(out, (const char *)p, n);
        }
        p += n;
    }
    ar_heap_out__bytes(out, "\"", 1);
}

static void ar_heap_out__json_hex(ar_heap_out_t *out, uintptr_t value)
{
    ar_heap_out__str(out, "\"");
    ar_heap_out__hex(out, value);
    ar_heap_out__str(out, "\"");
}

/* A site; is_return: its pc is a return address (a call's), else the
 * address of an instruction (a fault's). */
static void ar_heap_out__json_site_at(ar_heap_out_t *out, const ar_heap_site_t *site,
                                      int is_return)
{
    if (site == NULL) {
        ar_heap_out__str(out, "null");
        return;
    }
    /* A site without file:line (the preload library's): its pc, and
     * what the debug information says of it. */
    const char *function = NULL, *file = site->file;
    int line = site->file != NULL ? site->line : 0;
    int symbolized = site->file == NULL && site->pc != NULL &&
                     ar_heap_symbol__lookup(site->pc, is_return, &function, &file, &line);
    ar_heap_out__str(out, "{\"file\":");
    ar_heap_out__json_str(out, file);
    ar_heap_out__str(out, ",\"line\":");
    ar_heap_out__signed(out, file != NULL ? line : 0);
    ar_heap_out__str(out, ",\"thread\":");
    ar_heap_out__dec(out, ar_heap_report__thread(site));
    if (site->file == NULL && site->pc != NULL) {
        ar_heap_out__str(out, ",\"pc\":");
        ar_heap_out__json_hex(out, (uintptr_t)site->pc);
        ar_heap_out__str(out, ",\"function\":");
        ar_heap_out__json_str(out, symbolized ? function : NULL);
    }
    ar_heap_out__str(out, "}");
}

static void ar_heap_out__json_site(ar_heap_out_t *out, const ar_heap_site_t *site)
{
    ar_heap_out__json_site_at(out, site, 1);
}

/* A call stack: [{"pc":"0x...","function":...,"file":...,"line":N}, ...],
 * function and file null where the debug information does not say.
 * first_is_pc: frames[0] is a pc (a fault's), not a return address. */
static void ar_heap_out__json_frames(ar_heap_out_t *out, void *const *frames, size_t depth,
                                     int first_is_pc)
{
    ar_heap_out__str(out, "[");
    for (size_t i = 0; i < depth; i++) {
        const char *function = NULL, *file = NULL;
        int line = 0;
        int is_return = !(first_is_pc && i == 0);
        if (!ar_heap_symbol__lookup(frames[i], is_return, &function, &file, &line))
            line = 0;
        ar_heap_out__str(out, i == 0 ? "{\"pc\":" : ",{\"pc\":");
        ar_heap_out__json_hex(out, (uintptr_t)frames[i]);
        ar_heap_out__str(out, ",\"function\":");
        ar_heap_out__json_str(out, function);
        ar_heap_out__str(out, ",\"file\":");
        ar_heap_out__json_str(out, file);
        ar_heap_out__str(out, ",\"line\":");
        ar_heap_out__signed(out, file != NULL ? line : 0);
        ar_heap_out__str(out, "}");
    }
    ar_heap_out__str(out, "]");
}

static void ar_heap_out__json_bytes(ar_heap_out_t *out, const unsigned char *bytes, size_t len)
{
    ar_heap_out__str(out, "\"");
    for (size_t i = 0; i < len; i++) {
        char hex[2] = { "0123456789abcdef"[bytes[i] >> 4], "0123456789abcdef"[bytes[i] & 15] };
        ar_heap_out__bytes(out, hex, 2);
    }
    ar_heap_out__str(out, "\"");
}

/* Everything one error report can say; NULL/0 where it does not apply. */
typedef struct ar_heap_event_s {
    ar_heap_error_t kind;
    const void *address;
    const char *operation;          /* "free", "realloc", "call", or NULL */
    const ar_heap_site_t *site;     /* that operation's site */
    const char *found_by;           /* for damage: "free", "check", ... */
    const char *detail;             /* one sentence, or NULL */
    const ar_heap_view_t *block;  /* the block concerned, or NULL */
    const ar_heap_damage_t *damage; /* for damage kinds */
    const char *hint;               /* options to rerun with, or NULL */
    const ar_heap_stack_t *stack;   /* the operation's call stack, or NULL */
    void *const *fault_frames;      /* a fault's stack (pc first), or NULL */
    size_t fault_depth;
    int offset_only;                /* of damage, the offset alone (a bad pointer's) */
} ar_heap_event_t;

/* One line: a JSON object describing the event. */
static void ar_heap_report__json(const ar_heap_event_t *e)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "{\"tool\":\"arheap\",\"error\":");
    ar_heap_out__json_str(&out, ar_heap_report__error_name(e->kind));
    ar_heap_out__str(&out, ",\"pid\":");
    ar_heap_out__dec(&out, (uint64_t)getpid());
    ar_heap_out__str(&out, ",\"address\":");
    if (e->address != NULL)
        ar_heap_out__json_hex(&out, (uintptr_t)e->address);
    else
        ar_heap_out__str(&out, "null");
    ar_heap_out__str(&out, ",\"operation\":");
    ar_heap_out__json_str(&out, e->operation);
    ar_heap_out__str(&out, ",\"site\":");
    ar_heap_out__json_site_at(&out, e->site, e->fault_frames == NULL);
    if (e->stack != NULL && e->stack->depth > 0) {
        ar_heap_out__str(&out, ",\"stack\":");
        ar_heap_out__json_frames(&out, e->stack->frames, e->stack->depth, 0);
    } else if (e->fault_frames != NULL && e->fault_depth > 0) {
        ar_heap_out__str(&out, ",\"stack\":");
        ar_heap_out__json_frames(&out, e->fault_frames, e->fault_depth, 1);
    }
    ar_heap_out__str(&out, ",\"found_by\":");
    ar_heap_out__json_str(&out, e->found_by);
    ar_heap_out__str(&out, ",\"detail\":");
    ar_heap_out__json_str(&out, e->detail);
    ar_heap_out__str(&out, ",\"block\":");
    if (e->block != NULL) {
        const ar_heap_view_t *r = e->block;
        ar_heap_out__str(&out, "{\"address\":");
        ar_heap_out__json_hex(&out, r->user);
        ar_heap_out__str(&out, ",\"size\":");
        ar_heap_out__dec(&out, r->size);
        ar_heap_out__str(&out, ",\"description\":");
        ar_heap_out__json_str(&out, r->desc);
        /* Allocation numbers start at 1: 0 is a block known only by its
         * slot (a fault's, its record gone), whose sites are not known. */
        int known = r->seq != 0;
        ar_heap_out__str(&out, ",\"allocation\":");
        if (known)
            ar_heap_out__dec(&out, r->seq);
        else
            ar_heap_out__str(&out, "null");
        ar_heap_out__str(&out, ",\"allocated_at\":");
        ar_heap_out__json_site(&out, known ? &r->alloc_site : NULL);
        if (r->alloc_depth > 0) {
            ar_heap_out__str(&out, ",\"allocation_stack\":");
            ar_heap_out__json_frames(&out, r->alloc_frames, r->alloc_depth, 0);
        }
        int freed = r->state == AR_HEAP_STATE_FREED || r->state == AR_HEAP_STATE_QUARANTINED;
        ar_heap_out__str(&out, ",\"freed_at\":");
        ar_heap_out__json_site(&out, freed && known ? &r->free_site : NULL);
        if (freed && r->free_depth > 0) {
            ar_heap_out__str(&out, ",\"free_stack\":");
            ar_heap_out__json_frames(&out, r->free_frames, r->free_depth, 0);
        }
        ar_heap_out__str(&out, "}");
    } else {
        ar_heap_out__str(&out, "null");
    }
    if (e->damage != NULL && e->offset_only) {
        ar_heap_out__str(&out, ",\"offset\":");
        ar_heap_out__signed(&out, e->damage->offset);
    } else if (e->damage != NULL) {
        const ar_heap_damage_t *d = e->damage;
        ar_heap_out__str(&out, ",\"offset\":");
        ar_heap_out__signed(&out, d->offset);
        ar_heap_out__str(&out, ",\"damaged_bytes\":");
        ar_heap_out__dec(&out, d->damaged);
        ar_heap_out__str(&out, ",\"dump_offset\":");
        ar_heap_out__signed(&out, d->dump_offset);
        ar_heap_out__str(&out, ",\"expected\":");
        ar_heap_out__json_bytes(&out, d->expected, d->dump_len);
        ar_heap_out__str(&out, ",\"found\":");
        ar_heap_out__json_bytes(&out, d->found, d->dump_len);
    }
    ar_heap_out__str(&out, ",\"hint\":");
    ar_heap_out__json_str(&out, e->hint);
    ar_heap_out__str(&out, "}\n");
    ar_heap_out__flush(&out);
}

static int ar_heap_report__as_json(void)
{
    return ar_heap_options.report_json;
}

void ar_heap_report__act(void)
{
    if (!ar_heap_report_pending)
        return; /* every finding since the last action was suppressed */
    ar_heap_report_pending = 0;
    switch (ar_heap_options.on_error) {
    case AR_HEAP_ACTION_CONTINUE:
        return;
    case AR_HEAP_ACTION_EXIT:
        _exit(ar_heap_options.error_exitcode);
    case AR_HEAP_ACTION_ABORT:
        break;
    }
    abort();
}

static void ar_heap_report__double_free(const ar_heap_view_t *record, const char *operation,
                                        const ar_heap_site_t *site, const ar_heap_stack_t *stack)
{
    int symbols = ar_heap_report__symbols(site, stack, record, NULL);
    if (ar_heap_report__suppressed(symbols, AR_HEAP_ERROR_DOUBLE_FREE, site, stack, record))
        return;
    ar_heap_report__count();
    if (ar_heap_report__as_json()) {
        ar_heap_event_t e = { AR_HEAP_ERROR_DOUBLE_FREE, (const void *)record->user, operation,
                              site, NULL, NULL, record, NULL, NULL, stack, NULL, 0, 0 };
        ar_heap_report__json(&e);
        ar_heap_report__symbols_end(symbols);
        ar_heap_report__act();
        return;
    }
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_report__begin(&out, AR_HEAP_ERROR_DOUBLE_FREE, (const void *)record->user);
    ar_heap_report__operation(&out, operation, site, stack);
    ar_heap_report__block(&out, record);
    ar_heap_report__end(&out, AR_HEAP_ERROR_DOUBLE_FREE, site);
    ar_heap_report__symbols_end(symbols);
    ar_heap_report__act();
}

/* Up to 16 bytes as "xx xx xx". */
static void ar_heap_report__bytes(ar_heap_out_t *out, const unsigned char *bytes, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char hex[3] = { "0123456789abcdef"[bytes[i] >> 4], "0123456789abcdef"[bytes[i] & 15],
                        ' ' };
        ar_heap_out__bytes(out, hex, i + 1 < len ? 3 : 2);
    }
}

/* The finder's name in JSON ("found_by"). */
static const char *ar_heap_report__finder_name(ar_heap_finder_t finder, const char *operation)
{
    switch (finder) {
    case AR_HEAP_FOUND_BY_FREE:
        return operation;
    case AR_HEAP_FOUND_BY_REUSE:
        return "reuse";
    case AR_HEAP_FOUND_BY_RELEASE:
        return "release";
    case AR_HEAP_FOUND_BY_CHECK:
        return "check";
    case AR_HEAP_FOUND_BY_EXIT:
        return "exit";
    }
    return "check";
}

void ar_heap_report__damage(const ar_heap_finding_t *finding, ar_heap_finder_t finder,
                            const char *operation, const ar_heap_site_t *site)
{
    const ar_heap_view_t *record = &finding->block;
    const ar_heap_damage_t *damage = &finding->damage;
    ar_heap_error_t kind = (ar_heap_error_t)damage->kind;
    int symbols = ar_heap_report__symbols(site, NULL, record, NULL);
    if (ar_heap_report__suppressed(symbols, kind, site, NULL, record))
        return;
    ar_heap_report__count();
    if (ar_heap_report__as_json()) {
        int own_site = site != NULL && (finder == AR_HEAP_FOUND_BY_FREE ||
                                        finder == AR_HEAP_FOUND_BY_REUSE);
        ar_heap_event_t e = { kind, (const void *)record->user, NULL, own_site ? site : NULL,
                              ar_heap_report__finder_name(finder, operation), NULL, record,
                              damage, ar_heap_report__hint(kind), NULL, NULL, 0, 0 };
        ar_heap_report__json(&e);
        ar_heap_report__symbols_end(symbols);
        return;
    }
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_report__begin(&out, kind, (const void *)record->user);

    /* What is damaged, where, relative to the block. */
    ar_heap_out__str(&out, "  ");
    ar_heap_out__dec(&out, damage->damaged);
    ar_heap_out__str(&out, damage->damaged == 1 ? " byte" : " bytes");
    if (kind == AR_HEAP_ERROR_OVERFLOW) {
        ar_heap_out__str(&out, " damaged after the end of the block; the first at offset ");
        ar_heap_out__signed(&out, damage->offset);
        ar_heap_out__str(&out, record->size == 0 ? " (the block has no bytes)\n"
                                                 : " (its bytes are at offsets 0 to ");
        if (record->size != 0) {
            ar_heap_out__dec(&out, record->size - 1);
            ar_heap_out__str(&out, ")\n");
        }
    } else if (kind == AR_HEAP_ERROR_UNDERFLOW) {
        ar_heap_out__str(&out, " damaged before the start of the block; the first at offset ");
        ar_heap_out__signed(&out, damage->offset);
        ar_heap_out__str(&out, "\n");
    } else {
        ar_heap_out__str(&out, " written after the block was freed; the first at offset ");
        ar_heap_out__signed(&out, damage->offset);
        ar_heap_out__str(&out, "\n");
    }

    /* How it was found. */
    ar_heap_out__str(&out, "  found by ");
    switch (finder) {
    case AR_HEAP_FOUND_BY_CHECK:
        ar_heap_out__str(&out, "ar_heap__check_all()\n");
        break;
    case AR_HEAP_FOUND_BY_EXIT:
        ar_heap_out__str(&out, "the check at exit\n");
        break;
    case AR_HEAP_FOUND_BY_RELEASE:
        ar_heap_out__str(&out, "the check as the freed block's memory went back to the "
                               "system\n");
        break;
    case AR_HEAP_FOUND_BY_REUSE:
        ar_heap_out__str(&out, "the check as the freed block's memory was reused, by an "
                               "allocation at ");
        ar_heap_out__site(&out, site);
        ar_heap_out__str(&out, " in thread ");
        ar_heap_out__dec(&out, ar_heap_report__thread(site));
        ar_heap_out__str(&out, "\n");
        break;
    case AR_HEAP_FOUND_BY_FREE:
        ar_heap_out__str(&out, operation);
        ar_heap_out__str(&out, " at ");
        ar_heap_out__site(&out, site);
        ar_heap_out__str(&out, " in thread ");
        ar_heap_out__dec(&out, ar_heap_report__thread(site));
        ar_heap_out__str(&out, "\n");
        break;
    }
    ar_heap_report__block(&out, record);

    /* The damaged bytes, expected against found. */
    ar_heap_out__str(&out, "  bytes from offset ");
    ar_heap_out__signed(&out, damage->dump_offset);
    ar_heap_out__str(&out, ":\n    expected ");
    ar_heap_report__bytes(&out, damage->expected, damage->dump_len);
    ar_heap_out__str(&out, "\n    found    ");
    ar_heap_report__bytes(&out, damage->found, damage->dump_len);
    ar_heap_out__str(&out, "\n");

    ar_heap_report__block_summary(&out, kind,
                                  kind == AR_HEAP_ERROR_WRITE_AFTER_FREE ? "WRITE" : NULL, record,
                                  ar_heap_report__hint(kind));
    ar_heap_report__symbols_end(symbols);
}

/* "READ", "WRITE" or "ACCESS" (when the CPU did not say). */
static const char *ar_heap_report__access_name(int access)
{
    return access == 'R' ? "READ" : access == 'W' ? "WRITE" : "ACCESS";
}

/* The session of a fault report: its stack (a pc, then return
 * addresses) and the block's sites and stacks. */
static int ar_heap_report__fault_symbols(const ar_heap_fault_t *f)
{
    if (!ar_heap_symbol__begin())
        return 0;
    if (f->depth > 0) {
        ar_heap_symbol__want(f->frames[0], 0);
        ar_heap_symbol__want_frames(f->frames + 1, f->depth - 1);
    }
    ar_heap_symbol__want_view(f->record);
    ar_heap_symbol__resolve();
    return 1;
}

void ar_heap_report__fault(const ar_heap_fault_t *f)
{
    ar_heap_report__count();
    ar_heap_stack__signal_safe(1);
    long long offset = f->addr >= f->hit.user ? (long long)(f->addr - f->hit.user)
                                              : -(long long)(f->hit.user - f->addr);
    /* Without a record (freed_history=0 let it go, or the block was
     * forgotten), the slot's knowledge: its address, size and state. Its
     * allocation number 0 says so to the JSON writer. */
    ar_heap_view_t bare;
    const ar_heap_view_t *record = f->record;
    if (record == NULL) {
        memset(&bare, 0, sizeof bare);
        bare.user = f->hit.user;
        bare.size = f->hit.size;
        bare.state = (ar_heap_state_t)f->hit.state;
        record = &bare;
    }
    if (ar_heap_report__as_json()) {
        ar_heap_damage_t d;
        memset(&d, 0, sizeof d);
        d.kind = (int)f->kind;
        d.offset = offset;
        d.dump_offset = offset;
        ar_heap_site_t site = { NULL, 0, f->thread, f->pc, NULL, NULL };
        const char *access = f->access == 'R' ? "read" : f->access == 'W' ? "write" : "access";
        int symbols = ar_heap_report__fault_symbols(f);
        ar_heap_event_t e = { f->kind, (const void *)f->hit.user, access, &site, "fault", NULL,
                              record, &d, NULL, NULL, f->frames, f->depth, 0 };
        ar_heap_report__json(&e);
        ar_heap_report__symbols_end(symbols);
        ar_heap_stack__signal_safe(0);
        return;
    }
    if (record == &bare)
        bare.desc = "(record not available)";
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_report__begin(&out, f->kind, (const void *)f->hit.user);
    ar_heap_out__str(&out, "  ");
    ar_heap_out__str(&out, ar_heap_report__access_name(f->access));
    ar_heap_out__str(&out, " at ");
    ar_heap_out__hex(&out, f->addr);
    ar_heap_out__str(&out, " faulted, offset ");
    ar_heap_out__signed(&out, offset);
    if (f->kind == AR_HEAP_ERROR_OVERFLOW) {
        ar_heap_out__str(&out, ": ");
        uint64_t past = (uint64_t)offset - f->hit.size;
        ar_heap_out__dec(&out, past);
        ar_heap_out__str(&out, past == 1 ? " byte after the end of the block\n"
                                         : " bytes after the end of the block\n");
    } else if (f->kind == AR_HEAP_ERROR_UNDERFLOW) {
        ar_heap_out__str(&out, ": ");
        ar_heap_out__dec(&out, (uint64_t)-offset);
        ar_heap_out__str(&out, -offset == 1 ? " byte before the start of the block\n"
                                            : " bytes before the start of the block\n");
    } else {
        ar_heap_out__str(&out, record->state == AR_HEAP_STATE_QUARANTINED
                                   ? " of a freed block (in quarantine, its pages inaccessible)\n"
                                   : " of a freed block (no longer in quarantine; its slot is "
                                     "inaccessible until reused)\n");
    }
    ar_heap_out__str(&out, "  by the instruction at ");
    ar_heap_stack__print_pc(&out, f->pc);
    ar_heap_out__str(&out, " in thread ");
    ar_heap_out__dec(&out, f->thread);
    ar_heap_out__str(&out, "\n");
    /* Out before the record is read: its site names point into the
     * program's memory, and should reading them fault, the handler dies
     * at once (fault.c); what the fault itself told is then written.
     * Out before the symbols too, which a child process reads: should it
     * hang or die, the report has said what faulted, and where. */
    ar_heap_out__flush(&out);
    int symbols = ar_heap_report__fault_symbols(f);
    /* The stack, its frame #0 the instruction again, now with its
     * function and line when the debug information has them. */
    if (f->depth > 1 || (symbols && f->depth > 0)) {
        ar_heap_out__str(&out, "  faulting call stack:\n");
        ar_heap_stack__print_fault(&out, f->frames, f->depth);
    }
    ar_heap_report__block(&out, record);
    ar_heap_report__block_summary(&out, f->kind, ar_heap_report__access_name(f->access), record,
                                  NULL);
    ar_heap_report__symbols_end(symbols);
    ar_heap_stack__signal_safe(0);
}

void ar_heap_report__bad_pointer(void *ptr, const char *operation, const ar_heap_site_t *site,
                                 const ar_heap_stack_t *stack, const ar_heap_view_t *block,
                                 ar_heap_bad_place_t place)
{
    /* A size query of a freed block frees nothing: it reads a block no
     * longer there, a use after free (until stop 41 it was named a double
     * free). */
    int query = strcmp(operation, "malloc_usable_size") == 0;
    int of_freed = place == AR_HEAP_BAD_FREED || place == AR_HEAP_BAD_INSIDE_FREED;
    if (place == AR_HEAP_BAD_FREED && !query) {
        ar_heap_report__double_free(block, operation, site, stack); /* counts it */
        return;
    }
    ar_heap_error_t kind = query && of_freed ? AR_HEAP_ERROR_USE_AFTER_FREE
                                             : AR_HEAP_ERROR_INVALID_FREE;
    uintptr_t addr = (uintptr_t)ptr;
    /* The pointer's distance from the block's start, negative before it;
     * the text says it in bytes where the block is near, JSON as "offset". */
    long long offset = block == NULL       ? 0
                       : addr >= block->user ? (long long)(addr - block->user)
                                             : -(long long)(block->user - addr);
    int measured = place == AR_HEAP_BAD_INSIDE_LIVE || place == AR_HEAP_BAD_BEFORE_LIVE ||
                   place == AR_HEAP_BAD_INSIDE_FREED;
    const char *where;
    switch (place) {
    case AR_HEAP_BAD_FREED:
        where = "a freed block: its size was asked for after its free";
        break;
    case AR_HEAP_BAD_INSIDE_LIVE:
        where = "inside a live block, not its start";
        break;
    case AR_HEAP_BAD_BEFORE_LIVE:
        where = "before the start of a live block, in its head canary zone";
        break;
    case AR_HEAP_BAD_INSIDE_FREED:
        where = offset >= 0 ? "inside a freed block, not its start"
                            : "before the start of a freed block";
        break;
    default:
        where = "not a block arheap allocated";
        break;
    }
    int symbols = ar_heap_report__symbols(site, stack, block, NULL);
    if (ar_heap_report__suppressed(symbols, kind, site, stack, block))
        return;
    ar_heap_report__count();
    if (ar_heap_report__as_json()) {
        /* The detail: the text's sentence, without the count of bytes
         * (the "offset" field has it). */
        char detail[96];
        ar_heap_out_t d;
        ar_heap_out__init_text(&d, detail, sizeof detail);
        ar_heap_out__str(&d, "the pointer is ");
        ar_heap_out__str(&d, where);
        ar_heap_out__flush(&d);
        ar_heap_damage_t at;
        memset(&at, 0, sizeof at);
        at.offset = offset;
        ar_heap_event_t e = { kind, ptr, operation, site, NULL, detail, block,
                              measured ? &at : NULL, NULL, stack, NULL, 0, 1 };
        ar_heap_report__json(&e);
        ar_heap_report__symbols_end(symbols);
        ar_heap_report__act();
        return;
    }
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_report__begin(&out, kind, ptr);
    ar_heap_out__str(&out, "  the pointer is ");
    if (place == AR_HEAP_BAD_FOREIGN) {
        ar_heap_out__str(&out, "not a block arheap allocated: a stack, global or foreign "
                               "pointer, a block from plain malloc, or a block freed so long "
                               "ago that its record left the freed history");
    } else {
        if (measured) {
            uint64_t distance = (uint64_t)(offset < 0 ? -offset : offset);
            ar_heap_out__dec(&out, distance);
            ar_heap_out__str(&out, distance == 1 ? " byte " : " bytes ");
        }
        ar_heap_out__str(&out, where);
    }
    ar_heap_out__str(&out, "\n");
    ar_heap_report__operation(&out, operation, site, stack);
    if (block != NULL)
        ar_heap_report__block(&out, block);
    ar_heap_report__end(&out, kind, site);
    ar_heap_report__symbols_end(symbols);
    ar_heap_report__act();
}

void ar_heap_report__invalid_argument(const char *what, const ar_heap_site_t *site)
{
    int symbols = ar_heap_report__symbols(site, NULL, NULL, NULL);
    if (ar_heap_report__suppressed(symbols, AR_HEAP_ERROR_INVALID_ARGUMENT, site, NULL, NULL))
        return;
    ar_heap_report__count();
    if (ar_heap_report__as_json()) {
        ar_heap_event_t e = { AR_HEAP_ERROR_INVALID_ARGUMENT, NULL, "call", site, NULL, what, NULL,
                              NULL, NULL, NULL, NULL, 0, 0 };
        ar_heap_report__json(&e);
        ar_heap_report__symbols_end(symbols);
        ar_heap_report__act();
        return;
    }
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_report__begin(&out, AR_HEAP_ERROR_INVALID_ARGUMENT, NULL);
    ar_heap_out__str(&out, "  ");
    ar_heap_out__str(&out, what);
    ar_heap_out__str(&out, "\n");
    ar_heap_report__operation(&out, "call", site, NULL);
    ar_heap_report__end(&out, AR_HEAP_ERROR_INVALID_ARGUMENT, site);
    ar_heap_report__symbols_end(symbols);
    ar_heap_report__act();
}

/*
 * The zone around a block that holds `a` (outside the block's bytes): a
 * guarded block's guard page (outside the pages that hold its bytes), its
 * canaries, or the spare bytes of its slot.
 */
static const char *ar_heap_report__zone(uintptr_t a, const ar_heap_view_t *block)
{
    int canary = (block->flags & AR_HEAP_BLOCK_CANARY) != 0;
    int after = a >= block->user;
    if (block->flags & AR_HEAP_BLOCK_GUARDED) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t first = block->user & ~(page - 1);
        uintptr_t end = (block->user + block->size + page - 1) & ~(page - 1);
        if (a < first || a >= end)
            return "in its guard page";
    } else if (after ? a >= (uintptr_t)block->base + block->total
                     : a < (uintptr_t)block->base) {
        canary = 0;
    }
    if (!canary)
        return "in its slot's spare bytes";
    return after ? "in its tail canary" : "in its head canary";
}

/*
 * What ar_heap__describe says: one line placing the address against the
 * block (inside it at an offset, or so many bytes before or after it, and
 * in which zone), the block's state, then the block lines every report
 * has: size, description, allocation and free sites and stacks.
 */
void ar_heap_report__describe(const void *addr, const ar_heap_view_t *block, int released)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: describe ");
    ar_heap_out__hex(&out, (uintptr_t)addr);
    ar_heap_out__str(&out, ": ");
    if (block == NULL) {
        ar_heap_out__str(&out, "arheap knows nothing of this address: it is in no block's "
                               "memory (a stack, global or foreign address, memory from plain "
                               "malloc, or a block freed so long ago that its slot was "
                               "forgotten)\n");
        ar_heap_out__flush(&out);
        return;
    }
    uintptr_t a = (uintptr_t)addr;
    const char *state;
    switch (block->state) {
    case AR_HEAP_STATE_LIVE:
        state = "a live block";
        break;
    case AR_HEAP_STATE_FREEING:
        state = "a block being freed";
        break;
    default:
        state = (block->flags & AR_HEAP_BLOCK_FORGOTTEN)
                    ? "a freed block whose record was forgotten (freed_history=0)"
                : released ? "a recently freed block, out of the quarantine and not yet reused "
                             "(its record kept by freed_history)"
                           : "a freed block, held in the quarantine";
        break;
    }
    if (a >= block->user && a - block->user < block->size) {
        ar_heap_out__str(&out, "offset ");
        ar_heap_out__dec(&out, a - block->user);
        ar_heap_out__str(&out, " inside ");
        ar_heap_out__str(&out, state);
        ar_heap_out__str(&out, "\n");
    } else if (a >= block->user) {
        uint64_t after = a - block->user - block->size;
        ar_heap_out__dec(&out, after);
        ar_heap_out__str(&out, after == 1 ? " byte after the end of " : " bytes after the end of ");
        ar_heap_out__str(&out, state);
        ar_heap_out__str(&out, " (offset ");
        ar_heap_out__dec(&out, a - block->user);
        ar_heap_out__str(&out, ", ");
        ar_heap_out__str(&out, ar_heap_report__zone(a, block));
        ar_heap_out__str(&out, ")\n");
    } else {
        uint64_t before = block->user - a;
        ar_heap_out__dec(&out, before);
        ar_heap_out__str(&out, before == 1 ? " byte before the start of "
                                           : " bytes before the start of ");
        ar_heap_out__str(&out, state);
        ar_heap_out__str(&out, " (offset -");
        ar_heap_out__dec(&out, before);
        ar_heap_out__str(&out, ", ");
        ar_heap_out__str(&out, ar_heap_report__zone(a, block));
        ar_heap_out__str(&out, ")\n");
    }
    ar_heap_report__block(&out, block);
    ar_heap_out__flush(&out);
}

void ar_heap_report__warning(const char *text)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, text);
    ar_heap_out__str(&out, "\n");
    ar_heap_out__flush(&out);
}

void ar_heap_report__unshown(size_t found, size_t shown)
{
    if (found <= shown)
        return;
    ar_heap_report_pending = 1; /* findings not shown are not suppressed */
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: ");
    ar_heap_out__dec(&out, found - shown);
    ar_heap_out__str(&out, found - shown == 1
                               ? " more damaged block was found than one report holds ("
                               : " more damaged blocks were found than one report holds (");
    ar_heap_out__dec(&out, found);
    ar_heap_out__str(&out, found - shown == 1
                               ? " in all); if still live or held, it is reported by the next "
                                 "ar_heap__check_all()\n"
                               : " in all); those still live or held are reported by the next "
                                 "ar_heap__check_all()\n");
    ar_heap_out__flush(&out);
}
