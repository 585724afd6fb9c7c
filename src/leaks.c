/*
 * leaks.c: the leak report, at exit and on demand.
 *
 * Two outputs. The report file (report_path, else AGERUN_MEMORY_REPORT,
 * else heap_memory_report.log) holds everything: the counters, the leak
 * sites grouped by file:line with their counts and bytes, largest first,
 * and every leaked block in allocation order. stderr gets a short summary,
 * and only when blocks are still live (leaked or intentional), so a clean
 * run stays quiet.
 *
 * Blocks whose description contains INTENTIONAL_LEAK_FOR_TESTING (AgeRun's
 * convention), or that were passed to ar_heap__allow_leak(), are listed
 * apart and do not count as leaks.
 *
 * The report stops the world while it runs (thread.c), so the set of
 * blocks it describes is one consistent snapshot. Its scratch arrays are mapped from
 * the OS; it writes with write(2), like every arheap report.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <pthread.h>

#include <ucontext.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How many sites the stderr summary names before "and N more". */
#define AR_HEAP_SUMMARY_SITES 5

/* One live block, as the scan found it. */
typedef struct ar_heap_leak_s {
    ar_heap_slot_t slot;
    const ar_heap_ctx_t *ctx; /* its allocation context, or NULL */
    uint64_t seq;
    uint64_t group_seq; /* an indirect block: its definite block's seq; else seq */
    uintptr_t user;
    size_t size;
    int kind; /* AR_HEAP_REACH_*; DEFINITE without the scan */
} ar_heap_leak_t;

typedef struct ar_heap_leak_site_s {
    const ar_heap_leak_t *first; /* earliest block of the site */
    size_t blocks;
    size_t bytes;
} ar_heap_leak_site_t;

typedef struct ar_heap_leak_scan_s {
    ar_heap_leak_t *found; /* capacity entries, mapped */
    /* Arrays of const ar_heap_leak_t *, typed const void * so that one
     * pointer sort serves every array. */
    const void **records; /* live, not intentional */
    const void **intentional;
    size_t count;
    size_t own_count; /* of those, allocated by this process since its fork */
    size_t intentional_count;
    size_t bytes;
    size_t intentional_bytes;
    size_t capacity;
    int scanned;             /* the reachability scan ran */
    size_t kind_count[3];    /* blocks of each AR_HEAP_REACH_* kind */
    size_t kind_bytes[3];
} ar_heap_leak_scan_t;

/*
 * The allocation mark taken in a forked child as it starts (0 in a process
 * that was not forked, or was exec'd since). The blocks a child inherits
 * are its parent's to free; a test framework that runs each test in a
 * forked child (Check's fork mode) would otherwise see every test fail
 * with leak_exitcode because of a fixture its parent allocated. The
 * report still lists every live block; the exit status counts the child's
 * own.
 */
static struct {
    uint64_t fork_mark;
} leaks_state;

void ar_heap_leaks__forked(void)
{
    leaks_state.fork_mark = ar_heap_thread__mark();
}

int ar_heap_leaks__is_intentional(const ar_heap_view_t *block)
{
    return (block->flags & (AR_HEAP_BLOCK_ALLOWED_LEAK | AR_HEAP_BLOCK_MARKED)) ||
           strstr(block->desc, AR_HEAP_INTENTIONAL_LEAK_MARKER) != NULL;
}

static void ar_heap_leaks__collect(const ar_heap_slot_t *slot, void *arg)
{
    ar_heap_leak_scan_t *scan = arg;
    if (atomic_load_explicit(&slot->rec->state, memory_order_relaxed) != AR_HEAP_STATE_LIVE)
        return;
    ar_heap_view_t view;
    ar_heap_index__view(slot, &view);
    size_t at = scan->count + scan->intentional_count;
    const ar_heap_leak_t *leak = NULL;
    if (at < scan->capacity) {
        ar_heap_leak_t *l = &scan->found[at];
        l->slot = *slot;
        l->ctx = ar_heap_depot__get(slot->rec->alloc_ctx);
        l->seq = view.seq;
        l->group_seq = view.seq;
        l->user = view.user;
        l->size = view.size;
        l->kind = AR_HEAP_REACH_DEFINITE;
        leak = l;
    }
    if (ar_heap_leaks__is_intentional(&view)) {
        if (leak != NULL)
            scan->intentional[scan->intentional_count] = leak;
        scan->intentional_count++;
        scan->intentional_bytes += view.size;
    } else {
        if (leak != NULL)
            scan->records[scan->count] = leak;
        scan->count++;
        if (view.seq > leaks_state.fork_mark)
            scan->own_count++;
        scan->bytes += view.size;
    }
}

/*
 * The reachability scan (reach.c) over every block found, intentional ones
 * as roots; then scan->records keeps the blocks that count as leaks:
 * definitely and indirectly lost ones, and still reachable ones with
 * leak_reachable. Without memory for it, every block stays a leak.
 */
static void ar_heap_leaks__classify(ar_heap_leak_scan_t *scan)
{
    size_t total = scan->count + scan->intentional_count;
    if (total == 0 || total > scan->capacity)
        return;
    size_t bytes = total * sizeof(ar_heap_reach_block_t);
    ar_heap_reach_block_t *blocks = ar_heap_os__map(bytes);
    if (blocks == NULL)
        return;
    for (size_t i = 0; i < total; i++) {
        blocks[i].user = scan->found[i].user;
        blocks[i].size = scan->found[i].size;
        blocks[i].root = 0;
    }
    for (size_t i = 0; i < scan->intentional_count; i++)
        blocks[(const ar_heap_leak_t *)scan->intentional[i] - scan->found].root = 1;
    for (size_t i = 0; i < total; i++) {
        const ar_heap_ctx_t *ctx = scan->found[i].ctx;
        if (ctx != NULL && ar_heap_reach__by_loader(ctx->pc != NULL   ? ctx->pc
                                                    : ctx->depth > 0 ? ctx->frames[0]
                                                                     : NULL))
            blocks[i].root = 1; /* the loader's bookkeeping */
    }
    int scanned = ar_heap_reach__scan(blocks, total);
    ar_heap_reach__origin(NULL, NULL, 0);
    if (scanned) {
        scan->scanned = 1;
        for (size_t i = 0; i < total; i++) {
            ar_heap_leak_t *l = &scan->found[i];
            l->kind = blocks[i].kind;
            if (l->kind == AR_HEAP_REACH_INDIRECT && blocks[i].owner < total)
                l->group_seq = scan->found[blocks[i].owner].seq;
        }
    }
    ar_heap_os__unmap(blocks, bytes);
    if (!scan->scanned)
        return;
    size_t kept = 0, count = scan->count;
    scan->count = 0;
    scan->bytes = 0;
    scan->own_count = 0;
    for (size_t i = 0; i < count; i++) {
        const ar_heap_leak_t *l = scan->records[i];
        scan->kind_count[l->kind]++;
        scan->kind_bytes[l->kind] += l->size;
        if (l->kind == AR_HEAP_REACH_REACHABLE && !ar_heap_options.leak_reachable)
            continue;
        scan->records[kept++] = l;
        scan->count++;
        scan->bytes += l->size;
        if (l->seq > leaks_state.fork_mark)
            scan->own_count++;
    }
}

/* What a site or block line says of its kind, after the scan. */
static const char *ar_heap_leaks__kind_label(int kind)
{
    if (ar_heap_options.leak_reachable)
        return "";
    return kind == AR_HEAP_REACH_INDIRECT    ? "  indirectly lost"
           : kind == AR_HEAP_REACH_REACHABLE ? "  still reachable"
                                             : "";
}

/* The view of a scanned block, for printing. */
static void ar_heap_leaks__view(const void *leak, ar_heap_view_t *out)
{
    ar_heap_index__view(&((const ar_heap_leak_t *)leak)->slot, out);
}

/* A leak a suppression took (suppress.c): out of the figures. */
static void ar_heap_leaks__suppressed(const void *leak, void *arg)
{
    ar_heap_leak_scan_t *scan = arg;
    const ar_heap_leak_t *l = leak;
    scan->bytes -= l->size;
    if (l->seq > leaks_state.fork_mark)
        scan->own_count--;
    if (scan->scanned) {
        scan->kind_count[l->kind]--;
        scan->kind_bytes[l->kind] -= l->size;
    }
}

/* ------------------------------------------------------------ sorting */

/* A heap sort over an array of pointers: in place, no allocation. */
static void ar_heap_leaks__sift(const void **items, size_t root, size_t n, ar_heap_before_fn before)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && before(items[child], items[child + 1]))
            child++;
        if (!before(items[root], items[child]))
            return;
        const void *t = items[root];
        items[root] = items[child];
        items[child] = t;
        root = child;
    }
}

/* Sort so that before(items[i], items[j]) holds for i < j where it can. */
void ar_heap_leaks__sort(const void **items, size_t n, ar_heap_before_fn before)
{
    for (size_t i = n / 2; i-- > 0;)
        ar_heap_leaks__sift(items, i, n, before);
    for (size_t end = n; end-- > 1;) {
        const void *t = items[0];
        items[0] = items[end];
        items[end] = t;
        ar_heap_leaks__sift(items, 0, end, before);
    }
}

static int ar_heap_leaks__by_seq(const void *a, const void *b)
{
    return ((const ar_heap_leak_t *)a)->seq < ((const ar_heap_leak_t *)b)->seq;
}

/* The leaked blocks' list: still-reachable ones last; the others in
 * allocation order, each indirect block right after its definite one. */
static int ar_heap_leaks__by_group(const void *a, const void *b)
{
    const ar_heap_leak_t *ra = a, *rb = b;
    int la = ra->kind == AR_HEAP_REACH_REACHABLE, lb = rb->kind == AR_HEAP_REACH_REACHABLE;
    if (la != lb)
        return la < lb;
    if (ra->group_seq != rb->group_seq)
        return ra->group_seq < rb->group_seq;
    if (ra->kind != rb->kind)
        return ra->kind < rb->kind;
    return ra->seq < rb->seq;
}

/* Sites compare by file and line; a site without a file (ar_heap__free,
 * the preload library) by its return address. */
static int ar_heap_leaks__site_order(const ar_heap_leak_t *a, const ar_heap_leak_t *b)
{
    static const ar_heap_ctx_t none;
    /* Kinds apart, unless still-reachable blocks are leaks too
     * (leak_reachable=1, linked mode: AgeRun's sites stay as they were). */
    if (!ar_heap_options.leak_reachable && a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    const ar_heap_ctx_t *sa = a->ctx != NULL ? a->ctx : &none;
    const ar_heap_ctx_t *sb = b->ctx != NULL ? b->ctx : &none;
    int c = strcmp(sa->file != NULL ? sa->file : "", sb->file != NULL ? sb->file : "");
    if (c != 0)
        return c;
    if (sa->line != sb->line)
        return sa->line < sb->line ? -1 : 1;
    if (sa->file == NULL && sa->pc != sb->pc)
        return (uintptr_t)sa->pc < (uintptr_t)sb->pc ? -1 : 1;
    /* The whole call stack (stack_depth): one wrapper called from two
     * places makes two sites. */
    if (sa->depth != sb->depth)
        return sa->depth < sb->depth ? -1 : 1;
    for (size_t i = 0; i < sa->depth; i++)
        if (sa->frames[i] != sb->frames[i])
            return (uintptr_t)sa->frames[i] < (uintptr_t)sb->frames[i] ? -1 : 1;
    return 0;
}

static int ar_heap_leaks__same_site(const ar_heap_leak_t *a, const ar_heap_leak_t *b)
{
    return ar_heap_leaks__site_order(a, b) == 0;
}

static int ar_heap_leaks__by_site(const void *a, const void *b)
{
    const ar_heap_leak_t *ra = a, *rb = b;
    int c = ar_heap_leaks__site_order(ra, rb);
    if (c != 0)
        return c < 0;
    return ra->seq < rb->seq;
}

static int ar_heap_leaks__largest_first(const void *a, const void *b)
{
    const ar_heap_leak_site_t *sa = a, *sb = b;
    if (sa->bytes != sb->bytes)
        return sa->bytes > sb->bytes;
    if (sa->blocks != sb->blocks)
        return sa->blocks > sb->blocks;
    return sa->first->seq < sb->first->seq;
}

/* ------------------------------------------------------------ writing */

/* Pad to `width` columns after writing `used` of them. */
static void ar_heap_leaks__pad(ar_heap_out_t *out, size_t used, size_t width)
{
    while (used++ < width)
        ar_heap_out__str(out, " ");
}

static size_t ar_heap_leaks__digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static void ar_heap_leaks__count(ar_heap_out_t *out, size_t n, const char *one, const char *many)
{
    ar_heap_out__dec(out, n);
    ar_heap_out__str(out, n == 1 ? one : many);
}

void ar_heap_leaks__block_line(ar_heap_out_t *out, const ar_heap_view_t *r)
{
    ar_heap_out__str(out, "  #");
    ar_heap_out__dec(out, r->seq);
    ar_heap_out__str(out, "  ");
    ar_heap_leaks__count(out, r->size, " byte at ", " bytes at ");
    ar_heap_out__hex(out, r->user);
    ar_heap_out__str(out, "  ");
    ar_heap_out__site(out, &r->alloc_site);
    ar_heap_out__str(out, "  \"");
    ar_heap_out__desc(out, r->desc);
    ar_heap_out__str(out, "\"  thread ");
    ar_heap_out__dec(out, r->alloc_site.thread);
    ar_heap_out__str(out, "\n");
}

static void ar_heap_leaks__site_line(ar_heap_out_t *out, const ar_heap_leak_site_t *site)
{
    ar_heap_view_t first;
    ar_heap_leaks__view(site->first, &first);
    ar_heap_out__str(out, "  ");
    ar_heap_leaks__pad(out, ar_heap_leaks__digits(site->bytes), 10);
    ar_heap_out__dec(out, site->bytes);
    ar_heap_leaks__pad(out, ar_heap_leaks__digits(site->blocks), 9);
    ar_heap_out__dec(out, site->blocks);
    ar_heap_out__str(out, "  ");
    ar_heap_out__site(out, &first.alloc_site);
    ar_heap_out__str(out, "  \"");
    ar_heap_out__desc(out, first.desc);
    ar_heap_out__str(out, "\"");
    ar_heap_out__str(out, ar_heap_leaks__kind_label(site->first->kind));
    ar_heap_out__str(out, "\n");
    /* With stack_depth, the call stack of the site's first block: the
     * callers of an allocating wrapper. */
    ar_heap_stack__print(out, first.alloc_frames, first.alloc_depth);
}

/* One block line of a scanned block. */
static void ar_heap_leaks__leak_line(ar_heap_out_t *out, const void *leak)
{
    ar_heap_view_t view;
    ar_heap_leaks__view(leak, &view);
    if (((const ar_heap_leak_t *)leak)->kind == AR_HEAP_REACH_INDIRECT)
        ar_heap_out__str(out, "    indirectly lost:");
    ar_heap_leaks__block_line(out, &view);
}

static void ar_heap_leaks__figure(ar_heap_out_t *out, const char *label, uint64_t value)
{
    ar_heap_out__str(out, label);
    ar_heap_out__dec(out, value);
    ar_heap_out__str(out, "\n");
}

/* The two lines AgeRun's build scripts read, in the words of AgeRun's own
 * heap: they take a report with neither "Actual memory leaks: N (B bytes)"
 * nor "No memory leaks detected" for a leaking one. "bytes" stays plural,
 * as there, so that the figures are always the same words of the line. */
static void ar_heap_leaks__agerun_lines(ar_heap_out_t *out, const ar_heap_leak_scan_t *scan)
{
    ar_heap_out__str(out, "Intentional test leaks: ");
    ar_heap_out__dec(out, scan->intentional_count);
    ar_heap_out__str(out, " (");
    ar_heap_out__dec(out, scan->intentional_bytes);
    ar_heap_out__str(out, " bytes)\nActual memory leaks: ");
    ar_heap_out__dec(out, scan->count);
    ar_heap_out__str(out, " (");
    ar_heap_out__dec(out, scan->bytes);
    ar_heap_out__str(out, " bytes)\n");
}

static void ar_heap_leaks__write_file(ar_heap_out_t *out, const ar_heap_stats_t *stats,
                                      const ar_heap_leak_scan_t *scan,
                                      const void *const *sites, size_t site_count, int listed)
{
    ar_heap_out__str(out, "arheap memory report (pid ");
    ar_heap_out__dec(out, (uint64_t)getpid());
    ar_heap_out__str(out, ")\n=================================================================\n");
    ar_heap_leaks__figure(out, "total allocations:     ", stats->total_allocations);
    ar_heap_leaks__figure(out, "total bytes allocated: ", stats->total_bytes);
    ar_heap_leaks__figure(out, "live blocks:           ", stats->live_blocks);
    ar_heap_leaks__figure(out, "live bytes:            ", stats->live_bytes);
    ar_heap_leaks__figure(out, "peak live bytes:       ", stats->peak_live_bytes);
    ar_heap_out__str(out, "leaks:                 ");
    ar_heap_leaks__count(out, scan->count, " block, ", " blocks, ");
    ar_heap_leaks__count(out, scan->bytes, " byte", " bytes");
    ar_heap_out__str(out, " from ");
    ar_heap_leaks__count(out, site_count, " site\n", " sites\n");
    ar_heap_out__str(out, "intentional leaks:     ");
    ar_heap_leaks__count(out, scan->intentional_count, " block, ", " blocks, ");
    ar_heap_leaks__count(out, scan->intentional_bytes, " byte\n", " bytes\n");
    if (scan->scanned) {
        static const char *const labels[3] = { "definitely lost:       ",
                                               "indirectly lost:       ",
                                               "still reachable:       " };
        for (int k = 0; k < 3; k++) {
            ar_heap_out__str(out, labels[k]);
            ar_heap_leaks__count(out, scan->kind_count[k], " block, ", " blocks, ");
            ar_heap_leaks__count(out, scan->kind_bytes[k], " byte", " bytes");
            if (k == AR_HEAP_REACH_REACHABLE)
                ar_heap_out__str(out, ar_heap_options.leak_reachable
                                          ? " (counted as leaks: leak_reachable=1)"
                                          : " (not leaks, not listed: leak_reachable=0)");
            ar_heap_out__str(out, "\n");
        }
    }
    ar_heap_leaks__agerun_lines(out, scan);

    if (ar_heap_suppress__used() > 0) {
        ar_heap_out__str(out, "\nSuppressions used:\n");
        ar_heap_suppress__print_usage(out, "  ");
    }
    if (scan->count == 0 && scan->intentional_count == 0) {
        ar_heap_out__str(out, "\nNo memory leaks detected.\n");
        return;
    }
    if (!listed) {
        ar_heap_out__str(out, "\n(no memory to list the blocks: only the figures above)\n");
        return;
    }
    if (scan->count > 0) {
        ar_heap_out__str(out, "\nLeak sites, largest first:\n");
        ar_heap_out__str(out, "       bytes   blocks  site  \"description\"\n");
        for (size_t i = 0; i < site_count; i++)
            ar_heap_leaks__site_line(out, sites[i]);
        ar_heap_out__str(out, "\nLeaked blocks, in allocation order");
        ar_heap_out__str(out, scan->scanned ? " (indirectly lost ones under the definitely lost "
                                              "one that holds them):\n"
                                            : ":\n");
        int reachable = 0;
        for (size_t i = 0; i < scan->count; i++) {
            const ar_heap_leak_t *l = scan->records[i];
            if (l->kind == AR_HEAP_REACH_REACHABLE && !reachable &&
                !ar_heap_options.leak_reachable) {
                reachable = 1;
                ar_heap_out__str(out, "\nStill reachable blocks, in allocation order:\n");
            }
            ar_heap_leaks__leak_line(out, l);
        }
    }
    if (scan->intentional_count > 0) {
        ar_heap_out__str(out, "\nIntentional leaks (" AR_HEAP_INTENTIONAL_LEAK_MARKER
                              "), expected:\n");
        for (size_t i = 0; i < scan->intentional_count; i++)
            ar_heap_leaks__leak_line(out, scan->intentional[i]);
    }
}

static void ar_heap_leaks__write_summary(const ar_heap_leak_scan_t *scan,
                                         const void *const *sites, size_t site_count,
                                         const char *where, int listed, int stacks)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    if (scan->count > 0) {
        ar_heap_out__str(&out, "arheap: LEAK: ");
        ar_heap_leaks__count(&out, scan->count, " block (", " blocks (");
        ar_heap_leaks__count(&out, scan->bytes, " byte)", " bytes)");
        ar_heap_out__str(&out, " not freed, from ");
        ar_heap_leaks__count(&out, site_count, " site", " sites");
        ar_heap_out__str(&out, listed ? ", largest first:\n" : "\n");
        if (scan->scanned) {
            ar_heap_out__str(&out, "arheap:   ");
            ar_heap_out__dec(&out, scan->kind_count[AR_HEAP_REACH_DEFINITE]);
            ar_heap_out__str(&out, " definitely lost, ");
            ar_heap_out__dec(&out, scan->kind_count[AR_HEAP_REACH_INDIRECT]);
            ar_heap_out__str(&out, " indirectly lost, ");
            ar_heap_out__dec(&out, scan->kind_count[AR_HEAP_REACH_REACHABLE]);
            ar_heap_out__str(&out, ar_heap_options.leak_reachable
                                       ? " still reachable\n"
                                       : " still reachable (not leaks)\n");
        }
    } else {
        ar_heap_out__str(&out, "arheap: no leaks\n");
    }
    size_t shown = site_count < AR_HEAP_SUMMARY_SITES ? site_count : AR_HEAP_SUMMARY_SITES;
    for (size_t i = 0; listed && i < shown; i++) {
        const ar_heap_leak_site_t *site = sites[i];
        ar_heap_view_t first;
        ar_heap_leaks__view(site->first, &first);
        ar_heap_out__str(&out, "arheap:   ");
        ar_heap_out__site(&out, &first.alloc_site);
        ar_heap_out__str(&out, ": ");
        ar_heap_leaks__count(&out, site->bytes, " byte in ", " bytes in ");
        ar_heap_leaks__count(&out, site->blocks, " block (\"", " blocks (\"");
        ar_heap_out__desc(&out, first.desc);
        ar_heap_out__str(&out, "\")");
        ar_heap_out__str(&out, ar_heap_leaks__kind_label(site->first->kind));
        ar_heap_out__str(&out, "\n");
        /* No report file: the site's call stack here. */
        if (stacks)
            ar_heap_stack__print(&out, first.alloc_frames, first.alloc_depth);
    }
    if (listed && site_count > shown) {
        ar_heap_out__str(&out, "arheap:   and ");
        ar_heap_leaks__count(&out, site_count - shown, " more site\n", " more sites\n");
    }
    if (scan->intentional_count > 0) {
        ar_heap_out__str(&out, "arheap: also ");
        ar_heap_leaks__count(&out, scan->intentional_count, " intentional leak",
                             " intentional leaks");
        ar_heap_out__str(&out, " (expected)\n");
    }
#if !AR_HEAP_PRELOAD
    if (scan->count > 0) {
        /* AgeRun's own heap's words, which its log check looks for
         * (scripts/check_logs.py: "Warning: N memory leaks detected"). */
        ar_heap_out__str(&out, "Warning: ");
        ar_heap_leaks__count(&out, scan->count, " memory leak detected (",
                             " memory leaks detected (");
        ar_heap_leaks__count(&out, scan->bytes, " byte). See ", " bytes). See ");
        ar_heap_out__str(&out, where != NULL ? where : "stderr");
        ar_heap_out__str(&out, " for details.\n");
    }
#endif
    if (where != NULL) {
        ar_heap_out__str(&out, "arheap: full report in ");
        ar_heap_out__str(&out, where);
        ar_heap_out__str(&out, "\n");
    } else {
        ar_heap_out__str(&out, "arheap: no report file (report_path is empty; "
                               "AR_HEAP_OPTIONS=report_path=FILE writes one)\n");
    }
    ar_heap_out__flush(&out);
}

/* The report file could not be opened or written (err: its errno, -1 for
 * a write that wrote nothing): said on stderr, where the report goes. */
static void ar_heap_leaks__file_failed(const char *path, int err)
{
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_out__str(&out, "arheap: warning: cannot write the report file '");
    ar_heap_out__str(&out, path);
    ar_heap_out__str(&out, "' (");
    if (err > 0) {
        ar_heap_out__str(&out, "errno ");
        ar_heap_out__dec(&out, (uint64_t)err);
    } else {
        ar_heap_out__str(&out, "a write wrote nothing");
    }
    /* The file is created: what is missing is its directory. */
    ar_heap_out__str(&out, err == ENOENT ? ": no such directory" : ar_heap_os__error_text(err));
    ar_heap_out__str(&out, "); writing the report to stderr instead\n");
    ar_heap_out__flush(&out);
}

/* Open the report file; on failure say so and return 2 (stderr). */
static int ar_heap_leaks__open(const char *path, const char **where)
{
    *where = path;
    if (path[0] == '\0' || ar_heap_os__secure()) {
        /* No file in a set-user-ID program (os.c says why). */
        *where = NULL; /* said as such (ar_heap_leaks__write_summary) */
        return -1;
    }
    /* Readable by its owner only, as AgeRun's heap leaves its report
     * (descriptions and file names are the program's business; until
     * stop 41 it was 0644). A file there already keeps its mode. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    ar_heap_leaks__file_failed(path, errno);
    *where = "stderr (above)";
    return 2;
}

/* The scan and report; returns the leaks, and in *own those this process
 * allocated since it was forked (all of them when it was not). */
__attribute__((noinline)) static size_t ar_heap_leaks__report_own(size_t *own)
{
    ar_heap__ensure_init();
    ar_heap_world__stop();
    /* The reachability scan reads this thread's stack from this frame up,
     * with the caller's registers as they are here: the callee-saved
     * ones, the only registers in which a caller's value lives across a
     * call. The others hold what the library's own calls left in them (a
     * copy of the user pointer of an earlier allocation, in stop 37's
     * build under AddressSanitizer: a lost block reported as still
     * reachable, tests/check_report). Elsewhere, the whole context. */
    ucontext_t regs;
    (void)getcontext(&regs);
#if defined(__x86_64__) && defined(REG_RBX)
    const greg_t *g = regs.uc_mcontext.gregs;
    uintptr_t saved[] = { (uintptr_t)g[REG_RBX], (uintptr_t)g[REG_RBP], (uintptr_t)g[REG_R12],
                          (uintptr_t)g[REG_R13], (uintptr_t)g[REG_R14], (uintptr_t)g[REG_R15] };
    ar_heap_reach__origin(__builtin_frame_address(0), saved, sizeof saved);
#elif defined(__aarch64__)
    ar_heap_reach__origin(__builtin_frame_address(0), &regs.uc_mcontext.regs[19],
                          11 * sizeof regs.uc_mcontext.regs[0]); /* x19 to x29 */
#else
    ar_heap_reach__origin(__builtin_frame_address(0), &regs, sizeof regs);
#endif

    ar_heap_stats_t stats;
    ar_heap_stats__snapshot_stopped(&stats);

    /* Scratch: the scanned blocks, two arrays of pointers to them, and
     * the sites, all mapped. */
    size_t n = stats.live_blocks;
    size_t bytes =
        n * (sizeof(ar_heap_leak_t) + 2 * sizeof(void *) + sizeof(ar_heap_leak_site_t)) + 1;
    char *scratch = n > 0 ? ar_heap_os__map(bytes) : NULL;
    int listed = n == 0 || scratch != NULL;

    ar_heap_leak_scan_t scan;
    memset(&scan, 0, sizeof scan);
    if (scratch != NULL) {
        scan.found = (ar_heap_leak_t *)(void *)scratch;
        scan.records = (const void **)(void *)(scan.found + n);
        scan.intentional = scan.records + n;
        scan.capacity = n;
    }
    ar_heap_index__each(ar_heap_leaks__collect, &scan);
    if (listed && ar_heap_options.leak_scan)
        ar_heap_leaks__classify(&scan);
    /* What memory kept from the report, said where the program's output
     * goes too (until stop 43 only the report file said the first, and
     * nothing the second: reachable blocks then read as leaks). */
    if (!listed)
        ar_heap_report__warning("no memory to list the leaked blocks: the leak report gives "
                                "only its figures");
    else if (ar_heap_options.leak_scan && scan.count + scan.intentional_count > 0 &&
             !scan.scanned)
        ar_heap_report__warning("no memory for the reachability scan: every live block is "
                                "counted as a leak, reachable or not");
    scan.count = ar_heap_suppress__leaks(listed ? scan.records : NULL, scan.count,
                                         ar_heap_leaks__view, ar_heap_leaks__suppressed, &scan);

    /* Sites: sort a copy by site, fold runs, then order by bytes. The
     * intentional array's slots past its count hold the copy. */
    ar_heap_leak_site_t *sites = NULL;
    const void **order = NULL; /* of const ar_heap_leak_site_t * */
    size_t site_count = 0;
    if (listed && scan.count > 0) {
        sites = (ar_heap_leak_site_t *)(scan.intentional + n);
        const void **by_site = scan.intentional + scan.intentional_count;
        memcpy(by_site, scan.records, scan.count * sizeof *by_site);
        ar_heap_leaks__sort(by_site, scan.count, ar_heap_leaks__by_site);
        for (size_t i = 0; i < scan.count; i++) {
            const ar_heap_leak_t *r = by_site[i];
            if (site_count == 0 || !ar_heap_leaks__same_site(sites[site_count - 1].first, r)) {
                sites[site_count].first = r;
                sites[site_count].blocks = 0;
                sites[site_count].bytes = 0;
                site_count++;
            }
            sites[site_count - 1].blocks++;
            sites[site_count - 1].bytes += r->size;
        }
        /* Order the sites largest first, in by_site's slots (no longer
         * needed, and there are at least as many as sites). */
        order = by_site;
        for (size_t i = 0; i < site_count; i++)
            order[i] = &sites[i];
        ar_heap_leaks__sort(order, site_count, ar_heap_leaks__largest_first);
    }
    if (listed) {
        ar_heap_leaks__sort(scan.records, scan.count,
                            scan.scanned && !ar_heap_options.leak_reachable
                                ? ar_heap_leaks__by_group
                                : ar_heap_leaks__by_seq);
        ar_heap_leaks__sort(scan.intentional, scan.intentional_count, ar_heap_leaks__by_seq);
    }

    /* Symbols for the sites without file:line (the preload library's)
     * and the stacks of the blocks listed: one child for the report. */
    int symbols = 0;
    if (listed && (scan.count > 0 || scan.intentional_count > 0) &&
        (symbols = ar_heap_symbol__begin()) != 0) {
        for (size_t i = 0; i < site_count; i++) {
            ar_heap_view_t first;
            ar_heap_leaks__view(((const ar_heap_leak_site_t *)order[i])->first, &first);
            ar_heap_symbol__want_site(&first.alloc_site);
            ar_heap_symbol__want_frames(first.alloc_frames, first.alloc_depth);
        }
        for (size_t i = 0; i < scan.count; i++) {
            ar_heap_view_t view;
            ar_heap_leaks__view(scan.records[i], &view);
            ar_heap_symbol__want_site(&view.alloc_site);
        }
        for (size_t i = 0; i < scan.intentional_count; i++) {
            ar_heap_view_t view;
            ar_heap_leaks__view(scan.intentional[i], &view);
            ar_heap_symbol__want_site(&view.alloc_site);
        }
        ar_heap_symbol__resolve();
    }

    const char *where;
    int fd = ar_heap_leaks__open(ar_heap_options__report_path(), &where);
    if (fd >= 0) {
        ar_heap_out_t out;
        ar_heap_out__init(&out, fd);
        ar_heap_leaks__write_file(&out, &stats, &scan, order, site_count, listed);
        ar_heap_out__flush(&out);
        if (fd != 2 && close(fd) != 0 && out.error == 0)
            out.error = errno;
        if (fd != 2 && out.error != 0) {
            /* Opened but not written (a full disk, /dev/full): the report
             * is not lost, it goes where an unopened file's goes. */
            ar_heap_leaks__file_failed(where, out.error);
            where = "stderr (above)";
            ar_heap_out__init(&out, 2);
            ar_heap_leaks__write_file(&out, &stats, &scan, order, site_count, listed);
            ar_heap_out__flush(&out);
        }
    }
    if (scan.count > 0 || scan.intentional_count > 0)
        ar_heap_leaks__write_summary(&scan, order, site_count, where, listed, fd < 0);

    if (symbols)
        ar_heap_symbol__end();
    if (scratch != NULL)
        ar_heap_os__unmap(scratch, bytes);
    ar_heap_world__resume();
    *own = scan.own_count;
    return scan.count;
}

size_t ar_heap_leaks__report(void)
{
    size_t own;
    return ar_heap_leaks__report_own(&own);
}

void ar_heap__memory_report(void)
{
    (void)ar_heap_leaks__report();
    /* Its writes are no cancellation points (os.c): a cancel asked for
     * meanwhile acts here, with nothing of arheap's held. */
    pthread_testcancel();
}

/*
 * At exit: the whole-heap check, then the leak report, then the leak exit
 * status. Like LeakSanitizer, a process that leaks exits with
 * leak_exitcode (23 by default) whatever status it was exiting with: a
 * destructor can not learn that status (glibc does not pass it on), and a
 * test binary that leaks must fail even when its tests passed. _exit
 * from here skips nothing of the program's: every atexit handler and
 * destructor that could free a block has run (heap.c), and stdio is
 * flushed first. leak_exitcode=0, or leak_report=0, leaves the status
 * alone.
 */
void ar_heap_leaks__at_exit(void)
{
    /* Damage first: a leak report of a corrupted heap is the lesser news. */
    (void)ar_heap_life__check_all("exit");
    size_t own = 0;
    if (ar_heap_options.leak_report)
        (void)ar_heap_leaks__report_own(&own);
    ar_heap_out_t out;
    ar_heap_out__init(&out, 2);
    ar_heap_suppress__print_usage(&out, "arheap: "); /* what suppressions hid */
    ar_heap_out__flush(&out);
    if (own > 0 && ar_heap_options.leak_exitcode != 0) {
        fflush(NULL);
        _exit(ar_heap_options.leak_exitcode);
    }
}
