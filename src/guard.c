/*
 * guard.c: blocks placed against PROT_NONE guard pages (option guard=1).
 *
 * Why: canaries are checked after the fact and can not see reads. A block
 * whose end touches an inaccessible page makes an overrun read or write
 * fault at the guilty instruction (fault.c reports it), and a freed block
 * whose pages are made inaccessible does the same for any touch after free.
 *
 * Slots. Guarded blocks live in slots carved from arenas: large ranges of
 * address space reserved PROT_NONE once and never unmapped, with one more
 * PROT_NONE page at each end. All slots of an
 * arena have the same size, `pages` data pages plus one guard page, so the
 * slot of an address is one division; a block of n pages goes to an arena
 * whose slots have n pages (rounded up beyond 16 pages, a quarter of a
 * power of two at most). Freed slots are reused, last freed first, so
 * arenas are not reserved per block: a block's pages are made accessible
 * with mprotect, and closed with a PROT_NONE mmap over them when freed.
 *
 *   guard after (default)           guard_below=1
 *   slot: [spare..][data pages][G]  slot: [G][data pages][spare..]
 *
 * Only the pages the block spans are made readable and writable; spare
 * pages of a rounded-up slot stay PROT_NONE, so they fault as well.
 *
 * - Guard after: the block ends at the guard page, rounded to guard_align
 *   (16 by default, keeping max_align_t alignment; 1 places it
 *   byte-exactly, so a one-byte overrun faults). The head zone runs from
 *   the start of the block's first page to the block (0 to a page less
 *   one byte: below that page lies a spare page or the previous slot's
 *   guard page, which fault), the tail zone over the 0 to guard_align-1
 *   bytes of slack: both canary when canary=1.
 * - Guard below: the block starts on the page after the guard page; the
 *   tail zone runs from its end to the end of its last page.
 *
 * Memory per guarded block: its pages (its size rounded up to the
 * alignment, then to pages; one page for a zero-byte block) are the only
 * memory it uses; the guard page and spare pages cost address space
 * only. Freed (into the quarantine, or straight back to its slot), a
 * guarded block's pages are replaced by a fresh PROT_NONE mapping (close,
 * below): their memory goes back to the system, any touch faults, there
 * is nothing to poison, and the range merges back into the arena's
 * mapping.
 *
 * The mapping budget. Each live guarded block splits its arena's mapping
 * in the kernel: two more entries counted against vm.max_map_count
 * (65530 by default), past which mprotect fails and Electric Fence-like
 * tools abort; a freed one costs none (see close). At the first guarded
 * block this file reads the limit and the mappings already in use, keeps
 * an eighth of the limit (at least 1024) for the program, and guards at
 * most half of the rest live at once; option guard_max_live lowers that
 * limit. Beyond it, and whenever the kernel refuses anyway, new blocks
 * get canaries only, with one warning; guarding resumes as guarded blocks
 * are freed.
 *
 * Two mechanisms (option guard_mechanism, fixed at the first guarded
 * block). mprotect, above: PROT_NONE arenas split per live block. madvise
 * (Linux 6.13 guard regions): an arena is one MAP_NORESERVE read-write
 * mapping whose pages carry guard markers (MADV_GUARD_INSTALL), installed
 * 2 MiB of fresh slots at a time in take_slot; a block removes the markers
 * of its pages (MADV_GUARD_REMOVE), and its free puts them back, which
 * drops the pages. No mapping is split, so no budget applies. Slots over
 * 2 MiB keep mprotect arenas (arena->regions says which an arena is).
 * A zero-byte block's slot is its guard page alone and the block points
 * at it: no accessible byte, no system call, under both mechanisms.
 *
 * The fault handler reads arenas and slots without locks: arenas are
 * published with a release store of their count and never change shape;
 * a slot's fields are single words, read racily only to name a block.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Lightweight guard regions (Linux 6.13); older headers lack the names. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

/* Arenas at most (the table is static: the fault handler reads it). */
#define AR_HEAP_GUARD_ARENAS 4096
/* Address space reserved per arena, at least (it holds at least 8 slots). */
#define AR_HEAP_GUARD_ARENA_BYTES ((size_t)64 << 20)
/* Address space reserved per arena with guard regions: MAP_NORESERVE,
 * so it costs no commit charge, only page tables where markers are. */
#define AR_HEAP_GUARD_REGION_ARENA_BYTES ((size_t)256 << 20)
/* Guard markers are installed over fresh slots this many bytes at a time
 * (one madvise), as the slots are first handed out. */
#define AR_HEAP_GUARD_REGION_CHUNK ((size_t)2 << 20)
/* Slots per arena at least, unless one slot alone is larger than that. */
#define AR_HEAP_GUARD_ARENA_MIN_SLOTS 8

typedef enum ar_heap_slot_state_e {
    AR_HEAP_SLOT_UNUSED = 0, /* never handed out */
    AR_HEAP_SLOT_LIVE,
    AR_HEAP_SLOT_QUARANTINED, /* PROT_NONE, its block in quarantine */
    AR_HEAP_SLOT_FREE         /* PROT_NONE, on the free list; user/size kept for reports */
} ar_heap_slot_state_t;

typedef struct ar_heap_guard_slot_s {
    ar_heap_rec_t rec;      /* the block's record (index.c finds it here) */
    _Atomic uintptr_t user; /* the block (the last one, once freed) */
    _Atomic size_t size;
    uintptr_t data;         /* its pages */
    size_t data_bytes;
    struct ar_heap_guard_arena_s *arena;
    _Atomic int state;       /* ar_heap_slot_state_t */
    _Atomic int below;       /* 1: guard page before the data */
    _Atomic int unclosed;    /* 1: its pages could not be closed; never reused */
    uint32_t next_free;      /* index + 1 of the next free slot; 0 ends the list */
} ar_heap_guard_slot_t;

typedef struct ar_heap_guard_arena_s {
    uintptr_t start;      /* first byte of the reserved range */
    size_t pages;         /* data pages per slot */
    size_t slot_bytes;    /* (pages + 1) * page size */
    size_t slot_count;
    ar_heap_guard_slot_t *slots;
    /* Under guard.lock: */
    size_t used;          /* slots handed out at least once (the rest UNUSED) */
    size_t marked;        /* guard regions: slots [0, marked) carry guard markers */
    int regions;          /* 1: guard markers (madvise); 0: PROT_NONE mappings (mprotect) */
    int below;            /* 1: the slots' guard page comes first (guard_below) */
    uint32_t free_head;   /* index + 1 of the most recently freed slot */
    _Atomic int retired;  /* 1: its one slot was refused, its reservation unmapped */
} ar_heap_guard_arena_t;

static struct {
    pthread_mutex_t lock;
    size_t page;                 /* page size, 0 until the first guarded block */
    _Atomic int mechanism;       /* AR_HEAP_GUARD_MECH_*, set with page */
    _Atomic size_t arena_count;  /* published arenas */
    ar_heap_guard_arena_t arenas[AR_HEAP_GUARD_ARENAS];
    _Atomic size_t live;         /* guarded blocks live now */
    size_t limit;                /* most live guarded blocks (the mapping budget) */
    size_t max_maps;             /* vm.max_map_count as read */
    _Atomic size_t sampled;      /* blocks eligible for a guard so far */
    int warned[4];               /* each AR_HEAP_GUARD_WARN_* written once */
    /* Live blocks in arenas of PROT_NONE mappings, two mappings each, and
     * the most of them: the mapping budget. With guard regions (limit
     * SIZE_MAX) the slots over 2 MiB are still such; until stop 41 nothing
     * bounded them there, and 31 600 live blocks of 2 MiB used up
     * vm.max_map_count: the program's own mmap, pthread_create and fopen
     * failed. */
    _Atomic size_t mapped;
    size_t mapped_limit;
} guard = { PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, { { 0 } }, 0, 0, 0, 0, { 0, 0, 0, 0 }, 0, 0 };

/* A guarded block more (+1) or less (-1) live in `arena`. */
static void ar_heap_guard__count_live(const ar_heap_guard_arena_t *arena, int change)
{
    atomic_fetch_add_explicit(&guard.live, (size_t)(long)change, memory_order_relaxed);
    if (!arena->regions)
        atomic_fetch_add_explicit(&guard.mapped, (size_t)(long)change, memory_order_relaxed);
}

/* Whether this kernel has lightweight guard regions: a guard marker
 * installed on a page of a fresh mapping, then removed. Cached. */
static _Atomic int ar_heap_guard_probed; /* 0 not yet, 1 no, 2 yes */

int ar_heap_guard__regions_supported(void)
{
    int known = atomic_load_explicit(&ar_heap_guard_probed, memory_order_relaxed);
    if (known != 0)
        return known == 2;
    long page_value = sysconf(_SC_PAGESIZE);
    size_t page = page_value > 0 ? (size_t)page_value : 4096;
    int yes = 0;
    void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        yes = madvise(p, page, MADV_GUARD_INSTALL) == 0 &&
              madvise(p, page, MADV_GUARD_REMOVE) == 0;
        munmap(p, 2 * page);
    }
    atomic_store_explicit(&ar_heap_guard_probed, yes ? 2 : 1, memory_order_relaxed);
    return yes;
}

int ar_heap_guard__mechanism(void)
{
    return atomic_load_explicit(&guard.mechanism, memory_order_relaxed);
}

const char *ar_heap_guard__mechanism_name(int mechanism)
{
    switch (mechanism) {
    case AR_HEAP_GUARD_MECH_MADVISE:
        return "madvise";
    case AR_HEAP_GUARD_MECH_MPROTECT:
        return "mprotect";
    default:
        return "none";
    }
}

/* The mechanism guard_mechanism picks on this kernel. */
int ar_heap_guard__mechanism_chosen(void)
{
    if (ar_heap_options.guard_mechanism == AR_HEAP_GUARD_MECH_MPROTECT)
        return AR_HEAP_GUARD_MECH_MPROTECT;
    return ar_heap_guard__regions_supported() ? AR_HEAP_GUARD_MECH_MADVISE
                                              : AR_HEAP_GUARD_MECH_MPROTECT;
}


/* The one-time warnings: the mapping budget is used up; a mapping call
 * failed for another reason; a freed block's pages could not be closed. */
enum {
    AR_HEAP_GUARD_WARN_BUDGET,
    AR_HEAP_GUARD_WARN_SYSTEM,
    AR_HEAP_GUARD_WARN_CLOSE,
    AR_HEAP_GUARD_WARN_MECHANISM /* guard_mechanism=madvise, and the kernel lacks it */
};

/* Read a small decimal file such as /proc/sys/vm/max_map_count; 0 if not. */
static size_t ar_heap_guard__read_number(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    size_t value = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        value = value * 10 + (size_t)(buf[i] - '0');
    return value;
}

static int ar_heap_guard__count_one(const ar_heap_os_mapping_t *m, void *arg)
{
    (void)m;
    ++*(size_t *)arg;
    return 0;
}

/* Mappings the process has now: lines of /proc/self/maps. */
static size_t ar_heap_guard__count_mappings(void)
{
    size_t lines = 0;
    (void)ar_heap_os__each_mapping(ar_heap_guard__count_one, &lines);
    return lines;
}

/* With the lock held, once: page size, mapping budget, fault handler. */
static void ar_heap_guard__init_locked(void)
{
    if (guard.page != 0)
        return;
    long page = sysconf(_SC_PAGESIZE);
    guard.page = page > 0 ? (size_t)page : 4096;
    int mechanism = ar_heap_guard__mechanism_chosen();
    atomic_store_explicit(&guard.mechanism, mechanism, memory_order_relaxed);

    size_t max = ar_heap_guard__read_number("/proc/sys/vm/max_map_count");
    if (max == 0)
        max = 65530; /* Linux's default, when the limit can not be read */
    size_t reserve = max / 8 > 1024 ? max / 8 : 1024;
    size_t used = ar_heap_guard__count_mappings();
    guard.max_maps = max;
    guard.limit = max > reserve + used ? (max - reserve - used) / 2 : 0;
    guard.mapped_limit = guard.limit;
    if (mechanism == AR_HEAP_GUARD_MECH_MADVISE)
        guard.limit = SIZE_MAX; /* guard markers split no mapping */
    ar_heap_fault__install();
}

/* Data pages of the slots a block of `pages` pages goes to. */
static size_t ar_heap_guard__class_pages(size_t pages)
{
    if (pages <= 16)
        return pages;
    size_t step = 1;
    while ((pages >> 2) >= step * 2)
        step *= 2;
    return (pages + step - 1) / step * step;
}

/* Bytes of a slot of `pages` data pages: those and its guard page. */
static size_t ar_heap_guard__slot_bytes(size_t pages)
{
    return pages == 0 ? guard.page /* zero-byte blocks: the guard page alone */
                      : (pages + 1) * guard.page;
}

/* Whether slots of that many bytes carry guard markers (madvise) rather
 * than PROT_NONE mappings: all slots up to a chunk under guard regions.
 * Larger slots (blocks over 2 MiB, few) keep the mprotect arenas: their
 * pages are then charged when made writable, so an absurd request fails
 * as malloc's would, and the markers of a huge slot are not installed
 * page by page. */
static int ar_heap_guard__in_regions(size_t slot_bytes)
{
    return atomic_load_explicit(&guard.mechanism, memory_order_relaxed) ==
               AR_HEAP_GUARD_MECH_MADVISE &&
           slot_bytes <= AR_HEAP_GUARD_REGION_CHUNK;
}

/* With the lock held: a new arena for slots of `pages` data pages, their
 * guard page first (`below`) or last. The reservation has one more
 * PROT_NONE page at each end, so that the first slot's block has an
 * inaccessible page below it and the last slot's one above it, whatever
 * the kernel maps next to the arena. An arena's slots all put their guard
 * on one side: a guard-below slot followed by a guard-after one would
 * lay their two blocks' pages side by side, with no guard between them
 * (until stop 41 the side was not part of an arena's key, and a program
 * that switched EF_PROTECT_BELOW between allocations got such pairs). */
static ar_heap_guard_arena_t *ar_heap_guard__new_arena(size_t pages, int below)
{
    size_t count = atomic_load_explicit(&guard.arena_count, memory_order_relaxed);
    if (count == AR_HEAP_GUARD_ARENAS) {
        errno = ENOSPC;
        return NULL;
    }
    size_t slot_bytes = ar_heap_guard__slot_bytes(pages);
    int regions = ar_heap_guard__in_regions(slot_bytes);
    size_t arena_bytes = regions ? AR_HEAP_GUARD_REGION_ARENA_BYTES : AR_HEAP_GUARD_ARENA_BYTES;
    size_t slots = arena_bytes / slot_bytes;
    if (slots < AR_HEAP_GUARD_ARENA_MIN_SLOTS)
        slots = slot_bytes > arena_bytes ? 1 : AR_HEAP_GUARD_ARENA_MIN_SLOTS;
    if (slot_bytes > (SIZE_MAX - 2 * guard.page) / slots) {
        errno = EOVERFLOW;
        return NULL;
    }
    size_t reserved = slot_bytes * slots + 2 * guard.page;
    /* Not MAP_NORESERVE: PROT_NONE pages are not charged anyway, and the
     * pages a block makes writable must be, so that mprotect refuses a
     * block larger than the system could ever back (as malloc would)
     * instead of the OOM killer ending the process at the fill. */
    void *start;
    if (regions) {
        /* Guard regions: one read-write mapping, never split; guard
         * markers make its pages fault. MAP_NORESERVE: only the pages a
         * block touches cost memory. The margins get markers now, the
         * slots as they are first handed out (take_slot). */
        start = mmap(NULL, reserved, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (start == MAP_FAILED)
            return NULL;
        if (madvise(start, guard.page, MADV_GUARD_INSTALL) != 0 ||
            madvise((char *)start + reserved - guard.page, guard.page, MADV_GUARD_INSTALL) != 0) {
            int error = errno;
            munmap(start, reserved);
            errno = error;
            return NULL;
        }
        /* Under Valgrind, pages with markers are no-access to Memcheck,
         * as PROT_NONE pages are: its leak check reads every accessible
         * page, and a marker page costs it a fault and a recovery (8 s
         * for two small arenas, against 0.6 s for the run itself). The
         * whole arena starts so; a slot's pages open as they are handed
         * out. */
        ar_heap_valgrind__close(start, reserved);
    } else {
        start = mmap(NULL, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (start == MAP_FAILED)
            return NULL;
    }
    ar_heap_guard_slot_t *table = ar_heap_os__map(slots * sizeof *table);
    if (table == NULL) {
        int error = errno;
        munmap(start, reserved);
        errno = error;
        return NULL;
    }
    ar_heap_guard_arena_t *arena = &guard.arenas[count];
    arena->start = (uintptr_t)start + guard.page;
    arena->pages = pages;
    arena->slot_bytes = slot_bytes;
    arena->slot_count = slots;
    arena->slots = table;
    arena->used = 0;
    arena->marked = regions ? 0 : slots;
    arena->regions = regions;
    arena->below = below;
    arena->free_head = 0;
    atomic_store_explicit(&arena->retired, 0, memory_order_relaxed);
    atomic_store_explicit(&guard.arena_count, count + 1, memory_order_release);
    return arena;
}

/* With the lock held: a slot of `pages` data pages, its guard on the
 * `below` side; its arena in *where. SIZE_MAX when none can be had, with
 * errno set (new_arena). */
static size_t ar_heap_guard__take_slot(size_t pages, int below, ar_heap_guard_arena_t **where)
{
    size_t count = atomic_load_explicit(&guard.arena_count, memory_order_relaxed);
    ar_heap_guard_arena_t *fresh = NULL;
    for (size_t i = count; i-- > 0;) {
        ar_heap_guard_arena_t *arena = &guard.arenas[i];
        if (arena->pages != pages || arena->below != below ||
            atomic_load_explicit(&arena->retired, memory_order_relaxed))
            continue;
        if (arena->free_head != 0) {
            size_t index = arena->free_head - 1;
            arena->free_head = arena->slots[index].next_free;
            *where = arena;
            return index;
        }
        if (fresh == NULL && arena->used < arena->slot_count)
            fresh = arena;
    }
    if (fresh == NULL)
        fresh = ar_heap_guard__new_arena(pages, below);
    if (fresh == NULL)
        return SIZE_MAX;
    if (fresh->used == fresh->marked) {
        /* Guard regions: mark the next chunk of fresh slots, every page,
         * in one call; a block then removes the markers of its pages. */
        size_t chunk = AR_HEAP_GUARD_REGION_CHUNK / fresh->slot_bytes;
        if (chunk == 0)
            chunk = 1;
        if (chunk > fresh->slot_count - fresh->marked)
            chunk = fresh->slot_count - fresh->marked;
        if (madvise((void *)(fresh->start + fresh->marked * fresh->slot_bytes),
                    chunk * fresh->slot_bytes, MADV_GUARD_INSTALL) != 0)
            return SIZE_MAX;
        fresh->marked += chunk;
    }
    *where = fresh;
    return fresh->used++;
}

/* With the lock held: put a slot on its arena's free list. */
static void ar_heap_guard__put_slot(ar_heap_guard_arena_t *arena, size_t index)
{
    arena->slots[index].next_free = arena->free_head;
    arena->free_head = (uint32_t)(index + 1);
}

/* Warn once per kind that blocks are not guarded, saying why. */
static void ar_heap_guard__warn_degraded(int kind, const char *why)
{
    pthread_mutex_lock(&guard.lock);
    int first = !guard.warned[kind];
    guard.warned[kind] = 1;
    pthread_mutex_unlock(&guard.lock);
    if (first)
        ar_heap_report__warning(why);
}

/*
 * After a mapping call failed with ENOMEM: 1 when the process is at
 * vm.max_map_count (the kernel refused another mapping), 0 when memory or
 * address space ran out. Telling them apart reads /proc/self/maps, which
 * takes time in proportion to the mappings; once the limit's warning is
 * out this answers 1 without reading: at the limit every guarded
 * allocation comes here and must stay cheap, and the answer then only
 * picks a warning already written.
 */
static int ar_heap_guard__at_map_limit(void)
{
    pthread_mutex_lock(&guard.lock);
    int warned = guard.warned[AR_HEAP_GUARD_WARN_BUDGET];
    pthread_mutex_unlock(&guard.lock);
    return warned || ar_heap_guard__count_mappings() + 2 >= guard.max_maps;
}

#define AR_HEAP_GUARD_REFUSED_TEXT                                                                 \
    "guard pages: the kernel refused another mapping (vm.max_map_count); new blocks get "         \
    "canaries only until guarded blocks are freed"

/* Whether the guard options pick a block of `size` bytes. */
static int ar_heap_guard__selected(size_t size)
{
    if (size < ar_heap_options.guard_min_size)
        return 0;
    if (ar_heap_options.guard_max_size != 0 && size > ar_heap_options.guard_max_size)
        return 0;
    size_t every = ar_heap_options.guard_sample;
    if (every > 1 && atomic_fetch_add_explicit(&guard.sampled, 1, memory_order_relaxed) % every != 0)
        return 0;
    return 1;
}

int ar_heap_guard__obtain(size_t size, size_t want_align, ar_heap_guarded_t *out)
{
    if (!ar_heap_guard__selected(size))
        return 0;
    if (ar_heap_options.guard_mechanism == AR_HEAP_GUARD_MECH_MADVISE &&
        !ar_heap_guard__regions_supported())
        ar_heap_guard__warn_degraded(AR_HEAP_GUARD_WARN_MECHANISM,
                                     "guard pages: guard_mechanism=madvise, but this kernel has "
                                     "no guard regions (MADV_GUARD_INSTALL, Linux 6.13); using "
                                     "mprotect");
    pthread_mutex_lock(&guard.lock);
    ar_heap_guard__init_locked();
    const size_t page = guard.page;
    if (want_align > page) {
        /* Slots start on pages: such a block goes to libc (canaries). */
        pthread_mutex_unlock(&guard.lock);
        return 0;
    }
    int below = ar_heap_options.guard_below;
    size_t align = ar_heap_options.guard_align > 0 ? (size_t)ar_heap_options.guard_align : 1;
#if AR_HEAP_PRELOAD
    ar_heap_preload__guard_placement(&below, &align); /* EF_PROTECT_BELOW, EF_ALIGNMENT */
#endif
    /* The block's own alignment (posix_memalign and its siblings) holds
     * whatever the placement asks: an EF_ALIGNMENT the program set to a
     * number that is not a power of two takes their least common
     * multiple (want_align is a power of two). */
    if (want_align > 1 && align % want_align != 0) {
        size_t low = align & (~align + 1); /* the largest power of two dividing align */
        align = align / (low < want_align ? low : want_align) * want_align;
    }
    /* Bytes from the block's first page to the guard (guard after) or
     * from the guard to the block's end (guard below). */
    size_t rounded = below ? size : (size + align - 1) / align * align;
    if (rounded > SIZE_MAX - page) {
        pthread_mutex_unlock(&guard.lock);
        return 0;
    }
    /* A zero-byte block has no page: it points at its slot's guard page,
     * so that any access faults and each live one is unique. */
    size_t pages = (rounded + page - 1) / page;
    size_t class_pages = ar_heap_guard__class_pages(pages);
    /* The mapping budget, or guard_max_live when that is lower. */
    size_t cap = ar_heap_options.guard_max_live;
    int capped = cap != 0 && cap < guard.limit;
    int at_cap = atomic_load_explicit(&guard.live, memory_order_relaxed) >=
                 (capped ? cap : guard.limit);
    if (at_cap || (!ar_heap_guard__in_regions(ar_heap_guard__slot_bytes(class_pages)) &&
                   atomic_load_explicit(&guard.mapped, memory_order_relaxed) >=
                       guard.mapped_limit)) {
        pthread_mutex_unlock(&guard.lock);
        ar_heap_guard__warn_degraded(
            AR_HEAP_GUARD_WARN_BUDGET,
            at_cap && capped
                ? "guard pages: guard_max_live guarded blocks are live; new blocks get canaries "
                  "only until guarded blocks are freed"
                : "guard pages: the mapping budget (vm.max_map_count) is used up; new blocks "
                  "get canaries only until guarded blocks are freed");
        return 0;
    }
    ar_heap_guard_arena_t *arena = NULL;
    size_t index = ar_heap_guard__take_slot(class_pages, below, &arena);
    if (index == SIZE_MAX) {
        int error = errno;
        pthread_mutex_unlock(&guard.lock);
        /* A new arena was refused. At the mapping limit, as a refused
         * mprotect below. Else no address space for this size (a huge
         * request, or the arena table is full): this block goes to libc,
         * which refuses it too when it is absurd; later blocks are still
         * guarded. */
        if (error == ENOMEM && ar_heap_guard__at_map_limit())
            ar_heap_guard__warn_degraded(AR_HEAP_GUARD_WARN_BUDGET, AR_HEAP_GUARD_REFUSED_TEXT);
        else
            ar_heap_guard__warn_degraded(AR_HEAP_GUARD_WARN_SYSTEM,
                                         "guard pages: could not reserve address space for a "
                                         "guard slot; such blocks get canaries only");
        return 0;
    }
    ar_heap_guard__count_live(arena, 1);
    pthread_mutex_unlock(&guard.lock);

    uintptr_t slot = arena->start + index * arena->slot_bytes;
    uintptr_t data; /* first byte of the block's pages */
    uintptr_t user;
    int regions = arena->regions;
    if (pages == 0) {
        data = slot;
        user = slot;
    } else if (below) {
        data = slot + page;
        user = data;
    } else {
        uintptr_t guard_page = slot + arena->pages * page;
        data = guard_page - pages * page;
        user = guard_page - rounded;
    }
    int opened = pages == 0 ||
                 (regions ? madvise((void *)data, pages * page, MADV_GUARD_REMOVE)
                          : mprotect((void *)data, pages * page, PROT_READ | PROT_WRITE)) == 0;
    if (opened && regions && pages > 0)
        ar_heap_valgrind__open((void *)data, pages * page); /* as mprotect's are */
    if (!opened) {
        int error = errno;
        pthread_mutex_lock(&guard.lock);
        if (arena->slot_count == 1 && !regions) {
            /* An arena of one slot (a block larger than an arena) whose
             * pages the system would not back: such a size is seldom
             * asked for again, and its reservation (terabytes, when the
             * request was absurd) goes back now. The entry stays, retired:
             * the fault handler reads the table without the lock. Until
             * stop 41 it kept its reservation, and a few absurd requests
             * left the program no room for its own. */
            atomic_store_explicit(&arena->retired, 1, memory_order_release);
            munmap((void *)(arena->start - page), arena->slot_bytes + 2 * page);
        } else {
            ar_heap_guard__put_slot(arena, index);
        }
        pthread_mutex_unlock(&guard.lock);
        ar_heap_guard__count_live(arena, -1);
        /* ENOMEM is the mapping limit, or no memory for a block this
         * large: the count of mappings tells which. Without memory the
         * block goes to libc, which decides; nothing to warn about. */
        if (error != ENOMEM || regions)
            ar_heap_guard__warn_degraded(AR_HEAP_GUARD_WARN_SYSTEM,
                                         regions ? "guard pages: removing guard markers failed; "
                                                   "such blocks get canaries only"
                                                 : "guard pages: mprotect failed; such blocks "
                                                   "get canaries only");
        else if (ar_heap_guard__at_map_limit())
            ar_heap_guard__warn_degraded(AR_HEAP_GUARD_WARN_BUDGET, AR_HEAP_GUARD_REFUSED_TEXT);
        return 0;
    }
    ar_heap_guard_slot_t *s = &arena->slots[index];
    s->data = data;
    s->data_bytes = pages * page;
    s->arena = arena;
    atomic_store_explicit(&s->user, user, memory_order_relaxed);
    atomic_store_explicit(&s->size, size, memory_order_relaxed);
    atomic_store_explicit(&s->below, below, memory_order_relaxed);
    atomic_store_explicit(&s->state, AR_HEAP_SLOT_LIVE, memory_order_release);
    out->base = (void *)data;
    out->user = user;
    out->total = pages * page;
    out->rec = &s->rec;
    out->slot = s;
    return 1;
}

/* The arena and slot index of an address in guard memory; NULL if none.
 * With `margins`, the PROT_NONE page at each end of an arena counts as
 * its first or last slot's (for the fault handler). */
static ar_heap_guard_arena_t *ar_heap_guard__locate(uintptr_t addr, size_t *index, int margins)
{
    size_t count = atomic_load_explicit(&guard.arena_count, memory_order_acquire);
    size_t margin = margins ? guard.page : 0;
    for (size_t i = 0; i < count; i++) {
        ar_heap_guard_arena_t *arena = &guard.arenas[i];
        if (atomic_load_explicit(&arena->retired, memory_order_acquire))
            continue; /* its range may be anyone's now */
        size_t span = arena->slot_count * arena->slot_bytes;
        if (addr + margin >= arena->start && addr - arena->start + margin < span + 2 * margin) {
            if (addr < arena->start)
                *index = 0;
            else if (addr - arena->start >= span)
                *index = arena->slot_count - 1;
            else
                *index = (addr - arena->start) / arena->slot_bytes;
            return arena;
        }
    }
    return NULL;
}

/*
 * Make a block's pages [base, base + total) inaccessible and give their
 * memory back. They are exactly the pages obtain made readable and
 * writable, so they are one kernel mapping of their own. A fresh
 * PROT_NONE mapping put in their place drops the pages and their commit
 * charge, and the kernel merges it with the arena's PROT_NONE mapping on
 * either side: a closed slot costs no mapping. mprotect back to PROT_NONE
 * would not do: the mapping keeps the VM_ACCOUNT flag that making it
 * writable set (the arena is not MAP_NORESERVE, see new_arena), differs
 * from its neighbours for good and stays two more entries against
 * vm.max_map_count, for every slot ever used.
 *
 * Should that mmap fail, mprotect and madvise close the pages without the
 * merge. Returns 0 when neither worked, after a one-time warning: the
 * pages may then still be accessible, or (had the kernel dropped them
 * before failing) no longer mapped at all; the caller never reuses such a
 * slot.
 */
static int ar_heap_guard__close(const ar_heap_guard_arena_t *arena, void *base, size_t total)
{
    if (total == 0)
        return 1; /* a zero-byte block: nothing was ever accessible */
    if (arena->regions) {
        /* Guard markers: the pages are dropped (their memory goes back)
         * and fault from now on; the mapping is not split. */
        if (madvise(base, total, MADV_GUARD_INSTALL) == 0) {
            ar_heap_valgrind__close(base, total); /* see new_arena */
            return 1;
        }
        /* Else PROT_NONE below still makes them fault, but a slot that
         * removing markers can not reopen is not reused. */
        if (mprotect(base, total, PROT_NONE) == 0) {
            (void)madvise(base, total, MADV_DONTNEED);
            return 0;
        }
    } else if (mmap(base, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
               base) {
        return 1;
    } else if (mprotect(base, total, PROT_NONE) == 0) {
        (void)madvise(base, total, MADV_DONTNEED);
        return 1;
    }
    ar_heap_guard__warn_degraded(AR_HEAP_GUARD_WARN_CLOSE,
                                 "guard pages: could not make a freed block's pages "
                                 "inaccessible (mmap and mprotect failed); a use after free of "
                                 "such a block goes unseen, and its slot is not reused");
    return 0;
}

void ar_heap_guard__protect(void *slot)
{
    ar_heap_guard_slot_t *s = slot;
    if (!ar_heap_guard__close(s->arena, (void *)s->data, s->data_bytes))
        atomic_store_explicit(&s->unclosed, 1, memory_order_relaxed);
    atomic_store_explicit(&s->state, AR_HEAP_SLOT_QUARANTINED, memory_order_release);
    ar_heap_guard__count_live(s->arena, -1);
}

/* A damaged guarded block, freed: never reused (the program still writes
 * out of bounds through it), but closed and no longer live, as the
 * quarantine would have left it (until stop 41, freed with
 * quarantine_bytes=0 it stayed open, a use after free unseen, and counted
 * live for good: guard_max_live then stopped guarding). */
void ar_heap_guard__retire(void *slot)
{
    ar_heap_guard_slot_t *s = slot;
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == AR_HEAP_SLOT_LIVE)
        ar_heap_guard__protect(slot);
}

void ar_heap_guard__release(void *slot)
{
    ar_heap_guard_slot_t *s = slot;
    ar_heap_guard_arena_t *arena = s->arena;
    if (atomic_load_explicit(&s->state, memory_order_relaxed) == AR_HEAP_SLOT_LIVE) {
        /* Freed without quarantine: close its pages now. */
        if (!ar_heap_guard__close(s->arena, (void *)s->data, s->data_bytes))
            atomic_store_explicit(&s->unclosed, 1, memory_order_relaxed);
        ar_heap_guard__count_live(arena, -1);
    }
    atomic_store_explicit(&s->state, AR_HEAP_SLOT_FREE, memory_order_release);
    if (atomic_load_explicit(&s->unclosed, memory_order_relaxed))
        return; /* never reused: see close */
    pthread_mutex_lock(&guard.lock);
    ar_heap_guard__put_slot(arena, (size_t)(s - arena->slots));
    pthread_mutex_unlock(&guard.lock);
}

/* A slot handle for index.c. */
static void ar_heap_guard__handle(ar_heap_guard_slot_t *s, ar_heap_slot_t *out)
{
    out->rec = &s->rec;
    out->span = NULL;
    out->index = 0;
    out->base = s->data;
    out->capacity = s->data_bytes;
}

int ar_heap_guard__find(uintptr_t addr, ar_heap_slot_t *out)
{
    if (atomic_load_explicit(&guard.arena_count, memory_order_acquire) == 0)
        return 0;
    size_t index;
    ar_heap_guard_arena_t *arena = ar_heap_guard__locate(addr, &index, 0);
    if (arena == NULL)
        return 0;
    ar_heap_guard_slot_t *s = &arena->slots[index];
    if (atomic_load_explicit(&s->state, memory_order_acquire) == AR_HEAP_SLOT_UNUSED)
        return 0;
    ar_heap_guard__handle(s, out);
    return 1;
}

/* The guard slot a handle's record belongs to. */
static const ar_heap_guard_slot_t *ar_heap_guard__of(const ar_heap_slot_t *slot)
{
    return (const ar_heap_guard_slot_t *)(const void *)((const char *)slot->rec -
                                                        offsetof(ar_heap_guard_slot_t, rec));
}

uintptr_t ar_heap_guard__user(const ar_heap_slot_t *slot)
{
    return atomic_load_explicit(&ar_heap_guard__of(slot)->user, memory_order_relaxed);
}

size_t ar_heap_guard__size(const ar_heap_slot_t *slot)
{
    return atomic_load_explicit(&ar_heap_guard__of(slot)->size, memory_order_relaxed);
}

void ar_heap_guard__each(ar_heap_slot_fn fn, void *arg)
{
    size_t count = atomic_load_explicit(&guard.arena_count, memory_order_acquire);
    for (size_t a = 0; a < count; a++) {
        ar_heap_guard_arena_t *arena = &guard.arenas[a];
        for (size_t i = 0; i < arena->used; i++) {
            ar_heap_guard_slot_t *s = &arena->slots[i];
            if (atomic_load_explicit(&s->rec.state, memory_order_acquire) == AR_HEAP_STATE_UNUSED)
                continue;
            ar_heap_slot_t slot;
            ar_heap_guard__handle(s, &slot);
            fn(&slot, arg);
        }
    }
}

/* Distance from addr to the bytes [user, user + size): 0 inside. */
static uintptr_t ar_heap_guard__distance(uintptr_t addr, uintptr_t user, size_t size)
{
    if (addr < user)
        return user - addr;
    if (addr - user < size || (size == 0 && addr == user))
        return 0;
    return addr - (user + size) + 1;
}

int ar_heap_guard__nearest(uintptr_t addr, ar_heap_guard_hit_t *hit)
{
    size_t index;
    ar_heap_guard_arena_t *arena = ar_heap_guard__locate(addr, &index, 1);
    if (arena == NULL)
        return 0;
    /* The slot's own block, or its neighbour's when that is nearer: an
     * overrun of one slot's block can reach the next slot's guard page. */
    int found = 0;
    uintptr_t best = UINTPTR_MAX;
    for (size_t i = index == 0 ? 0 : index - 1; i <= index + 1 && i < arena->slot_count; i++) {
        const ar_heap_guard_slot_t *s = &arena->slots[i];
        int state = atomic_load_explicit(&s->state, memory_order_acquire);
        if (state == AR_HEAP_SLOT_UNUSED)
            continue;
        uintptr_t user = atomic_load_explicit(&s->user, memory_order_relaxed);
        size_t size = atomic_load_explicit(&s->size, memory_order_relaxed);
        uintptr_t d = ar_heap_guard__distance(addr, user, size);
        if (d < best || (d == best && i == index)) {
            best = d;
            hit->user = user;
            hit->size = size;
            hit->state = state == AR_HEAP_SLOT_LIVE          ? AR_HEAP_STATE_LIVE
                         : state == AR_HEAP_SLOT_QUARANTINED ? AR_HEAP_STATE_QUARANTINED
                                                             : AR_HEAP_STATE_FREED;
            ar_heap_guard__handle((ar_heap_guard_slot_t *)s, &hit->slot);
            found = 1;
        }
    }
    return found;
}

size_t ar_heap_guard__live(void)
{
    return atomic_load_explicit(&guard.live, memory_order_relaxed);
}
