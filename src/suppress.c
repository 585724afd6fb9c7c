/*
 * suppress.c: suppression files (option suppressions=PATH, repeatable).
 *
 * A suppression file holds one pattern a line, "KIND:PATTERN":
 *
 *     # a third-party library we can not fix
 *     leak:libfoo.so
 *     leak:parse_*
 *     double-free:legacy_free
 *     heap-buffer-overflow:vendor_*.c
 *
 * KIND is "leak" or the bug class an error report prints (double-free,
 * invalid-free, invalid-argument, heap-buffer-overflow,
 * heap-buffer-underflow, heap-use-after-free). PATTERN is a glob ('*' any
 * bytes, '?' one byte) matched whole against each name the finding's
 * frames have: the function (and the functions an inlined call sits in),
 * the source file and "file:line" (the file:line a linked-mode
 * AR__HEAP__* macro recorded needs no symbolizer; the others come from
 * the debug information), and the module (the executable or shared
 * library, by its path). A path also matches by its trailing components:
 * "libfoo.so" and "lib/libfoo.so" both match "/opt/x/lib/libfoo.so".
 *
 * The frames: for a leak, the block's allocation site and stack; for an
 * error, the call's site and stack and the block's allocation and free
 * sites and stacks. The first pattern, in the order loaded, that matches
 * any of them suppresses the finding and counts it.
 *
 * Files are read at option time with open/read into static storage: no
 * heap, checked or not. The storage is bounded (AR_HEAP_SUPPRESS_FILES
 * files, AR_HEAP_SUPPRESS_PATTERNS patterns, lines of at most
 * AR_HEAP_SUPPRESS_LINE - 1 bytes); what does not fit is warned about.
 * A malformed line is a warning naming file:line and the problem, and is
 * skipped; the rest of the file still applies.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define AR_HEAP_SUPPRESS_FILES 16
#define AR_HEAP_SUPPRESS_PATTERNS 256
#define AR_HEAP_SUPPRESS_LINE 512
#define AR_HEAP_SUPPRESS_TEXT (64 * 1024)
/* Names one finding offers the patterns, and bytes for its file:line
 * strings. */
#define AR_HEAP_SUPPRESS_NAMES 512
#define AR_HEAP_SUPPRESS_NAME_TEXT 8192

/* The kinds, index 0 the leaks; the others are the report's names. */
static const char *const ar_heap_suppress_kinds[] = {
    "leak",
    "double-free",
    "invalid-free",
    "invalid-argument",
    "heap-buffer-overflow",
    "heap-buffer-underflow",
    "heap-use-after-free",
};
#define AR_HEAP_SUPPRESS_KINDS (sizeof ar_heap_suppress_kinds / sizeof ar_heap_suppress_kinds[0])

typedef struct ar_heap_suppression_s {
    uint32_t text; /* offset of the pattern in suppress.text */
    uint16_t kind;
    uint16_t file; /* index into suppress.files */
    uint32_t line;
    _Atomic size_t hits;
    _Atomic size_t bytes; /* of the leaks it suppressed */
} ar_heap_suppression_t;

static struct {
    char files[AR_HEAP_SUPPRESS_FILES][AR_HEAP_PATH_CAPACITY];
    unsigned nfiles;
    int files_warned;
    ar_heap_suppression_t patterns[AR_HEAP_SUPPRESS_PATTERNS];
    _Atomic unsigned npatterns; /* published after the pattern is written */
    char text[AR_HEAP_SUPPRESS_TEXT];
    size_t text_used;
    int full; /* a pattern did not fit: no more are taken */
} suppress;

/* ------------------------------------------------------------ loading */

/* "arheap: warning: FILE:LINE: A B C; line skipped" */
static void ar_heap_suppress__warn_line(const char *file, unsigned line, const char *a,
                                        const char *b, const char *c)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, file);
    ar_heap_out__str(&out, ":");
    ar_heap_out__dec(&out, line);
    ar_heap_out__str(&out, ": ");
    ar_heap_out__str(&out, a);
    ar_heap_out__str(&out, b);
    ar_heap_out__str(&out, c);
    ar_heap_out__str(&out, "; line skipped\n");
    ar_heap_out__flush(&out);
}

static int ar_heap_suppress__space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A line read (len bytes of it kept, up to AR_HEAP_SUPPRESS_LINE) ends:
 * without the \r of a CRLF, NUL-terminated, overlong past
 * AR_HEAP_SUPPRESS_LINE - 1 bytes. */
static void ar_heap_suppress__end_line(char *line, size_t *len, int *overlong)
{
    if (*len > 0 && line[*len - 1] == '\r' && !*overlong)
        --*len;
    if (*len > AR_HEAP_SUPPRESS_LINE - 1) {
        *len = AR_HEAP_SUPPRESS_LINE - 1;
        *overlong = 1;
    }
    line[*len] = '\0';
}

/* One line of file `file` (index `fi`), NUL-terminated, without its
 * newline; `overlong`: it did not fit and was cut. */
static void ar_heap_suppress__line(unsigned fi, unsigned number, char *text, int overlong)
{
    const char *file = suppress.files[fi];
    while (ar_heap_suppress__space(*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && ar_heap_suppress__space(text[len - 1]))
        text[--len] = '\0';
    if (overlong) {
        char max[24];
        ar_heap_out_t n;
        ar_heap_out__init_text(&n, max, sizeof max);
        ar_heap_out__dec(&n, AR_HEAP_SUPPRESS_LINE - 1);
        ar_heap_out__flush(&n);
        ar_heap_suppress__warn_line(file, number, "line longer than ", max, " bytes");
        return;
    }
    if (len == 0 || text[0] == '#')
        return;
    char *colon = strchr(text, ':');
    if (colon == NULL) {
        ar_heap_suppress__warn_line(file, number, "no kind: write KIND:PATTERN, as in '",
                                    "leak:parse_*", "'");
        return;
    }
    *colon = '\0';
    size_t kind_len = strlen(text);
    while (kind_len > 0 && ar_heap_suppress__space(text[kind_len - 1]))
        text[--kind_len] = '\0';
    char *pattern = colon + 1;
    while (ar_heap_suppress__space(*pattern))
        pattern++;
    if (kind_len == 0) {
        ar_heap_suppress__warn_line(file, number, "no kind before ':' (", "leak, double-free, "
                                    "invalid-free, invalid-argument, heap-buffer-overflow, "
                                    "heap-buffer-underflow or heap-use-after-free", ")");
        return;
    }
    size_t kind = 0;
    while (kind < AR_HEAP_SUPPRESS_KINDS && strcmp(ar_heap_suppress_kinds[kind], text) != 0)
        kind++;
    if (kind == AR_HEAP_SUPPRESS_KINDS) {
        ar_heap_out_t out;
        ar_heap_out__init(&out, 2);
        ar_heap_out__str(&out, "arheap: warning: ");
        ar_heap_out__str(&out, file);
        ar_heap_out__str(&out, ":");
        ar_heap_out__dec(&out, number);
        ar_heap_out__str(&out, ": unknown kind '");
        ar_heap_out__str(&out, text);
        ar_heap_out__str(&out, "' (kinds: ");
        for (size_t k = 0; k < AR_HEAP_SUPPRESS_KINDS; k++) {
            ar_heap_out__str(&out, k == 0 ? "" : ", ");
            ar_heap_out__str(&out, ar_heap_suppress_kinds[k]);
        }
        ar_heap_out__str(&out, "); line skipped\n");
        ar_heap_out__flush(&out);
        return;
    }
    if (*pattern == '\0') {
        ar_heap_suppress__warn_line(file, number, "empty pattern after '", text, ":'");
        return;
    }
    unsigned n = atomic_load_explicit(&suppress.npatterns, memory_order_relaxed);
    size_t plen = strlen(pattern);
    if (suppress.full || n >= AR_HEAP_SUPPRESS_PATTERNS ||
        suppress.text_used + plen + 1 > AR_HEAP_SUPPRESS_TEXT) {
        /* Once full, full: a shorter pattern that would still fit is
         * ignored too, in this file and the later ones, as the warning
         * says (until stop 42 it was loaded). */
        if (!suppress.full) {
            char max[24];
            ar_heap_out_t m;
            ar_heap_out__init_text(&m, max, sizeof max);
            ar_heap_out__dec(&m, AR_HEAP_SUPPRESS_PATTERNS);
            ar_heap_out__flush(&m);
            ar_heap_suppress__warn_line(file, number, "more than ", max,
                                        " suppression patterns in all (or their text is over "
                                        "64 KiB); this and later patterns are ignored");
        }
        suppress.full = 1;
        return;
    }
    ar_heap_suppression_t *p = &suppress.patterns[n];
    memcpy(suppress.text + suppress.text_used, pattern, plen + 1);
    p->text = (uint32_t)suppress.text_used;
    suppress.text_used += plen + 1;
    p->kind = (uint16_t)kind;
    p->file = (uint16_t)fi;
    p->line = number;
    atomic_store_explicit(&p->hits, 0, memory_order_relaxed);
    atomic_store_explicit(&p->bytes, 0, memory_order_relaxed);
    atomic_store_explicit(&suppress.npatterns, n + 1, memory_order_release);
}

/* "ORIGIN: cannot VERB the suppression file 'PATH' (errno N: what); THEN" */
static void ar_heap_suppress__unread(const char *origin, const char *verb, const char *path,
                                     int err, const char *then)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: ");
    ar_heap_out__str(&out, origin);
    ar_heap_out__str(&out, ": cannot ");
    ar_heap_out__str(&out, verb);
    ar_heap_out__str(&out, " the suppression file '");
    ar_heap_out__str(&out, path);
    ar_heap_out__str(&out, "' (errno ");
    ar_heap_out__dec(&out, (uint64_t)err);
    ar_heap_out__str(&out, ar_heap_os__error_text(err));
    ar_heap_out__str(&out, "); ");
    ar_heap_out__str(&out, then);
    ar_heap_out__str(&out, "\n");
    ar_heap_out__flush(&out);
}

int ar_heap_suppress__load(const char *path, const char *origin)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    for (unsigned i = 0; i < suppress.nfiles; i++)
        if (strcmp(suppress.files[i], path) == 0)
            return 0; /* loaded already (options set again) */
    if (suppress.nfiles >= AR_HEAP_SUPPRESS_FILES) {
        if (!suppress.files_warned) {
            const char *const parts[] = { "arheap: warning: ", origin,
                                          ": more than 16 suppression files; '", path,
                                          "' and later ones are not read\n", NULL };
            ar_heap_out_t out;
            ar_heap_out__init(&out, 2);
            for (size_t i = 0; parts[i] != NULL; i++)
                ar_heap_out__str(&out, parts[i]);
            ar_heap_out__flush(&out);
        }
        suppress.files_warned = 1;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ar_heap_suppress__unread(origin, "open", path, errno, "nothing is suppressed by it");
        return -1;
    }
    unsigned fi = suppress.nfiles++;
    strcpy(suppress.files[fi], path); /* fits: options' values are shorter */
    char chunk[4096];
    /* A byte more than a line: for the \r of a CRLF line, which is not
     * the line's (until stop 42 a line of 511 bytes with CRLF was called
     * too long). */
    char line[AR_HEAP_SUPPRESS_LINE + 1];
    size_t len = 0;
    unsigned number = 1;
    int overlong = 0, error = 0;
    unsigned before = atomic_load_explicit(&suppress.npatterns, memory_order_relaxed);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = errno;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                ar_heap_suppress__end_line(line, &len, &overlong);
                ar_heap_suppress__line(fi, number++, line, overlong);
                len = 0;
                overlong = 0;
            } else if (chunk[i] == '\0') {
                continue; /* a NUL byte: kept out of the text */
            } else if (len < AR_HEAP_SUPPRESS_LINE) {
                line[len++] = chunk[i];
            } else {
                overlong = 1;
            }
        }
    }
    close(fd);
    if (error != 0 && number == 1 && len == 0) {
        /* Nothing read (a directory): not a file of patterns at all. */
        suppress.nfiles--;
        ar_heap_suppress__unread(origin, "read", path, error, "nothing is suppressed by it");
        return -1;
    }
    /* A last line without its newline is a pattern when the file ends
     * there; after a read error it may be cut short, and a pattern cut
     * short can match more than the whole one ("leak:*" of
     * "leak:*_test_only"): it is not used (until stop 41 it was). */
    if ((len > 0 || overlong) && error == 0) {
        ar_heap_suppress__end_line(line, &len, &overlong);
        ar_heap_suppress__line(fi, number, line, overlong);
    }
    if (error != 0) {
        ar_heap_suppress__unread(origin, "read", path, error,
                                 "the patterns before the error are in force, the rest of the "
                                 "file is not read");
        return -1;
    }
    return (int)(atomic_load_explicit(&suppress.npatterns, memory_order_relaxed) - before);
}

int ar_heap_suppress__active(void)
{
    return atomic_load_explicit(&suppress.npatterns, memory_order_acquire) != 0;
}

/* ------------------------------------------------------------ matching */

/* Glob: '*' any bytes (none too), '?' one byte; the whole of s. */
static int ar_heap_suppress__glob(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s != '\0') {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star != NULL) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* A name a finding offers: a function, or a path (which also matches by
 * its trailing components). */
typedef struct ar_heap_suppress_name_s {
    const char *text;
    int is_path;
} ar_heap_suppress_name_t;

typedef struct ar_heap_suppress_names_s {
    ar_heap_suppress_name_t names[AR_HEAP_SUPPRESS_NAMES];
    size_t count;
    char text[AR_HEAP_SUPPRESS_NAME_TEXT];
    size_t text_used;
} ar_heap_suppress_names_t;

static void ar_heap_suppress__add(ar_heap_suppress_names_t *n, const char *text, int is_path)
{
    if (text == NULL || text[0] == '\0' || n->count >= AR_HEAP_SUPPRESS_NAMES)
        return;
    for (size_t i = 0; i < n->count; i++)
        if (n->names[i].text == text)
            return;
    n->names[n->count].text = text;
    n->names[n->count].is_path = is_path;
    n->count++;
}

/* "file:line", kept in the names' own text. */
static void ar_heap_suppress__add_file_line(ar_heap_suppress_names_t *n, const char *file,
                                            int line)
{
    if (file == NULL || line <= 0)
        return;
    /* Written straight into the names' text, whatever the file's length:
     * a name cut short lost its line, and "*x.c:42" stopped matching
     * files of more than about a kilobyte (until stop 40). */
    char digits[24];
    ar_heap_out_t out;
    ar_heap_out__init_text(&out, digits, sizeof digits);
    ar_heap_out__dec(&out, (uint64_t)line);
    ar_heap_out__flush(&out);
    size_t file_len = strlen(file), len = file_len + 1 + strlen(digits);
    if (n->text_used + len + 1 > sizeof n->text)
        return; /* no room: the name is not matched, never a part of it */
    char *at = n->text + n->text_used;
    memcpy(at, file, file_len);
    at[file_len] = ':';
    memcpy(at + file_len + 1, digits, len - file_len);
    n->text_used += len + 1;
    ar_heap_suppress__add(n, at, 1);
}

/* The names of a code address: its functions, files and lines from the
 * report's symbol session (the innermost first, then the functions it
 * is inlined into), and its module. */
static void ar_heap_suppress__add_pc(ar_heap_suppress_names_t *n, const void *pc)
{
    if (pc == NULL)
        return;
    const char *function, *file;
    int line;
    for (unsigned i = 0; ar_heap_symbol__frame(pc, 1, i, &function, &file, &line); i++) {
        ar_heap_suppress__add(n, function, 0);
        ar_heap_suppress__add(n, file, 1);
        ar_heap_suppress__add_file_line(n, file, line);
    }
    Dl_info info;
    if (dladdr((const char *)pc - 1, &info) != 0)
        ar_heap_suppress__add(n, info.dli_fname, 1);
}

static void ar_heap_suppress__add_site(ar_heap_suppress_names_t *n, const ar_heap_site_t *site)
{
    if (site == NULL)
        return;
    if (site->file != NULL) {
        ar_heap_suppress__add(n, site->file, 1);
        ar_heap_suppress__add_file_line(n, site->file, site->line);
    }
    ar_heap_suppress__add_pc(n, site->pc);
}

static void ar_heap_suppress__add_frames(ar_heap_suppress_names_t *n, void *const *frames,
                                         size_t depth)
{
    for (size_t i = 0; frames != NULL && i < depth; i++)
        ar_heap_suppress__add_pc(n, frames[i]);
}

static void ar_heap_suppress__add_view(ar_heap_suppress_names_t *n, const ar_heap_view_t *v)
{
    if (v == NULL)
        return;
    ar_heap_suppress__add_site(n, &v->alloc_site);
    ar_heap_suppress__add_frames(n, v->alloc_frames, v->alloc_depth);
    if (v->state == AR_HEAP_STATE_FREED || v->state == AR_HEAP_STATE_QUARANTINED) {
        ar_heap_suppress__add_site(n, &v->free_site);
        ar_heap_suppress__add_frames(n, v->free_frames, v->free_depth);
    }
}

/* Does the pattern match the name (a path by any trailing components)? */
static int ar_heap_suppress__name_matches(const char *pattern, const ar_heap_suppress_name_t *name)
{
    const char *s = name->text;
    if (ar_heap_suppress__glob(pattern, s))
        return 1;
    if (!name->is_path)
        return 0;
    for (; *s != '\0'; s++)
        if (*s == '/' && s[1] != '\0' && ar_heap_suppress__glob(pattern, s + 1))
            return 1;
    return 0;
}

/* The first pattern of `kind` matching any name, counted with `bytes`;
 * 1 when there is one. */
static int ar_heap_suppress__match(size_t kind, const ar_heap_suppress_names_t *n, size_t bytes)
{
    unsigned count = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < count; i++) {
        ar_heap_suppression_t *p = &suppress.patterns[i];
        if (p->kind != kind)
            continue;
        const char *pattern = suppress.text + p->text;
        for (size_t j = 0; j < n->count; j++) {
            if (ar_heap_suppress__name_matches(pattern, &n->names[j])) {
                atomic_fetch_add_explicit(&p->hits, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&p->bytes, bytes, memory_order_relaxed);
                return 1;
            }
        }
    }
    return 0;
}

/* The kind's index, or AR_HEAP_SUPPRESS_KINDS when no pattern has it. */
static size_t ar_heap_suppress__kind(const char *name)
{
    size_t kind = 0;
    while (kind < AR_HEAP_SUPPRESS_KINDS && strcmp(ar_heap_suppress_kinds[kind], name) != 0)
        kind++;
    return kind;
}

static int ar_heap_suppress__has_kind(size_t kind)
{
    unsigned count = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < count; i++)
        if (suppress.patterns[i].kind == kind)
            return 1;
    return 0;
}

void ar_heap_suppress__want(const ar_heap_site_t *site, const ar_heap_view_t *a,
                            const ar_heap_view_t *b)
{
    if (!ar_heap_suppress__active())
        return;
    const ar_heap_view_t *views[2] = { a, b };
    if (site != NULL)
        ar_heap_symbol__want(site->pc, 1);
    for (size_t i = 0; i < 2; i++) {
        if (views[i] == NULL)
            continue;
        ar_heap_symbol__want(views[i]->alloc_site.pc, 1);
        if (views[i]->state == AR_HEAP_STATE_FREED || views[i]->state == AR_HEAP_STATE_QUARANTINED)
            ar_heap_symbol__want(views[i]->free_site.pc, 1);
    }
}

int ar_heap_suppress__error(const char *kind_name, const ar_heap_site_t *site,
                            const ar_heap_stack_t *stack, const ar_heap_view_t *block)
{
    if (!ar_heap_suppress__active())
        return 0;
    size_t kind = ar_heap_suppress__kind(kind_name);
    if (kind == AR_HEAP_SUPPRESS_KINDS || !ar_heap_suppress__has_kind(kind))
        return 0;
    /* Mapped, not on the stack: the names take 16 KiB, and a report may
     * run on a small thread stack. */
    ar_heap_suppress_names_t *n = ar_heap_os__map(sizeof *n);
    if (n == NULL)
        return 0;
    ar_heap_suppress__add_site(n, site);
    if (stack != NULL)
        ar_heap_suppress__add_frames(n, stack->frames, stack->depth);
    ar_heap_suppress__add_view(n, block);
    int matched = ar_heap_suppress__match(kind, n, 0);
    ar_heap_os__unmap(n, sizeof *n);
    return matched;
}

/*
 * The leak report's state: it runs with the world stopped, one report at
 * a time (world.lock), and matches every leaked block, so its names are
 * static rather than mapped per block; and blocks of one allocation
 * context (site and stack, stored once in the depot: the same frames
 * pointer) get one answer, remembered in a small table keyed by that
 * context, so that 100 000 blocks from a few sites cost a few matches.
 */
#define AR_HEAP_SUPPRESS_MEMO 256

typedef struct ar_heap_suppress_memo_s {
    void *const *frames;
    const char *file;
    const void *pc;
    int line;
    int pattern; /* the matching pattern, -1 for none; 0 in an unused entry */
    int used;
} ar_heap_suppress_memo_t;

static struct {
    ar_heap_suppress_names_t names;
    ar_heap_suppress_memo_t memo[AR_HEAP_SUPPRESS_MEMO];
} leak_state;

/* The first leak: pattern matching the names; -1 for none. */
static int ar_heap_suppress__leak_pattern(const ar_heap_suppress_names_t *n)
{
    unsigned count = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < count; i++) {
        if (suppress.patterns[i].kind != 0)
            continue;
        for (size_t j = 0; j < n->count; j++)
            if (ar_heap_suppress__name_matches(suppress.text + suppress.patterns[i].text,
                                               &n->names[j]))
                return (int)i;
    }
    return -1;
}

/* 1, counting it and its bytes, when a leak: pattern matches the block's
 * allocation site and stack. */
static int ar_heap_suppress__leak(const ar_heap_view_t *block)
{
    const ar_heap_site_t *site = &block->alloc_site;
    uintptr_t h = (uintptr_t)block->alloc_frames ^ (uintptr_t)site->file ^
                  (uintptr_t)site->pc ^ (uintptr_t)site->line;
    h ^= h >> 17;
    h ^= h >> 7;
    ar_heap_suppress_memo_t *m = &leak_state.memo[h % AR_HEAP_SUPPRESS_MEMO];
    if (!(m->used && m->frames == block->alloc_frames && m->file == site->file &&
          m->pc == site->pc && m->line == site->line)) {
        ar_heap_suppress_names_t *n = &leak_state.names;
        n->count = 0;
        n->text_used = 0;
        ar_heap_suppress__add_site(n, site);
        ar_heap_suppress__add_frames(n, block->alloc_frames, block->alloc_depth);
        m->used = 1;
        m->frames = block->alloc_frames;
        m->file = site->file;
        m->pc = site->pc;
        m->line = site->line;
        m->pattern = ar_heap_suppress__leak_pattern(n);
    }
    if (m->pattern < 0)
        return 0;
    ar_heap_suppression_t *p = &suppress.patterns[m->pattern];
    atomic_fetch_add_explicit(&p->hits, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->bytes, block->size, memory_order_relaxed);
    return 1;
}

size_t ar_heap_suppress__leaks(const void **items, size_t count,
                               void (*view)(const void *item, ar_heap_view_t *out),
                               void (*dropped)(const void *item, void *arg), void *arg)
{
    /* The leak counts are the last leak report's; symbols may differ now. */
    unsigned patterns = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < patterns; i++) {
        if (suppress.patterns[i].kind != 0)
            continue;
        atomic_store_explicit(&suppress.patterns[i].hits, 0, memory_order_relaxed);
        atomic_store_explicit(&suppress.patterns[i].bytes, 0, memory_order_relaxed);
    }
    if (items == NULL || count == 0 || !ar_heap_suppress__has_kind(0))
        return count;
    /* Only read below: a process without leak patterns does not touch its
     * pages (16 KiB) at exit. */
    memset(leak_state.memo, 0, sizeof leak_state.memo);
    int symbols = ar_heap_symbol__begin();
    for (size_t i = 0; symbols && i < count; i++) {
        ar_heap_view_t v;
        view(items[i], &v);
        ar_heap_symbol__want(v.alloc_site.pc, 1);
        ar_heap_symbol__want_frames(v.alloc_frames, v.alloc_depth);
    }
    if (symbols)
        ar_heap_symbol__resolve();
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        ar_heap_view_t v;
        view(items[i], &v);
        if (ar_heap_suppress__leak(&v))
            dropped(items[i], arg);
        else
            items[kept++] = items[i];
    }
    if (symbols)
        ar_heap_symbol__end();
    return kept;
}

/* ------------------------------------------------------------ counts */

void ar_heap_suppress__forked(void)
{
    unsigned count = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < count; i++) {
        atomic_store_explicit(&suppress.patterns[i].hits, 0, memory_order_relaxed);
        atomic_store_explicit(&suppress.patterns[i].bytes, 0, memory_order_relaxed);
    }
}

size_t ar_heap_suppress__used(void)
{
    size_t used = 0;
    unsigned count = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < count; i++)
        used += atomic_load_explicit(&suppress.patterns[i].hits, memory_order_relaxed) != 0;
    return used;
}

/*
 * One line per pattern that suppressed something, in the order loaded:
 *   PREFIXsuppressed 3 leaks (96 bytes) by leak:parse_* (tests/x.supp:4)
 *   PREFIXsuppressed 1 double-free report by double-free:legacy_free (x.supp:2)
 */
void ar_heap_suppress__print_usage(ar_heap_out_t *out, const char *prefix)
{
    unsigned count = atomic_load_explicit(&suppress.npatterns, memory_order_acquire);
    for (unsigned i = 0; i < count; i++) {
        const ar_heap_suppression_t *p = &suppress.patterns[i];
        size_t hits = atomic_load_explicit(&p->hits, memory_order_relaxed);
        if (hits == 0)
            continue;
        ar_heap_out__str(out, prefix);
        ar_heap_out__str(out, "suppressed ");
        ar_heap_out__dec(out, hits);
        if (p->kind == 0) {
            ar_heap_out__str(out, hits == 1 ? " leak (" : " leaks (");
            size_t bytes = atomic_load_explicit(&p->bytes, memory_order_relaxed);
            ar_heap_out__dec(out, bytes);
            ar_heap_out__str(out, bytes == 1 ? " byte)" : " bytes)");
        } else {
            ar_heap_out__str(out, " ");
            ar_heap_out__str(out, ar_heap_suppress_kinds[p->kind]);
            ar_heap_out__str(out, hits == 1 ? " report" : " reports");
        }
        ar_heap_out__str(out, " by ");
        ar_heap_out__str(out, ar_heap_suppress_kinds[p->kind]);
        ar_heap_out__str(out, ":");
        ar_heap_out__str(out, suppress.text + p->text);
        ar_heap_out__str(out, " (");
        ar_heap_out__str(out, suppress.files[p->file]);
        ar_heap_out__str(out, ":");
        ar_heap_out__dec(out, p->line);
        ar_heap_out__str(out, ")\n");
    }
}
