/*
 * ar_heap_internal.h: the one internal header of the debug heap.
 *
 * Public headers live in include/; everything here is private to src/ and
 * named ar_heap_<module>__verb (one module per file). How a block lives,
 * and which file owns each part of it:
 *
 *   heap.c        the public entry points; initialisation; the exit check
 *   life.c        a block's whole life: allocate, free, realloc, check.
 *                 Live -> quarantined -> released is decided here and only
 *                 here; a free reads top to bottom in this one file
 *   span.c        the backend: size classes, spans of equal slots owned by
 *                 one thread, a slot's record found by address arithmetic
 *   index.c       finding: address -> slot and record; walks; views
 *   thread.c      per-thread state: the allocation caches, counters,
 *                 sequence numbers; the gate that stops the world
 *   quarantine.c  the order in which freed slots come back (per-thread
 *                 batches and FIFOs, one budget)
 *   canary.c      the bytes around each block, the poison of freed ones
 *   depot.c       sites, descriptions and call stacks, stored once each
 *   stack.c       capturing (frame-pointer walk) and printing call stacks
 *   symbol.c      function, file:line and inlined frames of pcs, read in a
 *                 child process (libdw, or addr2line/llvm-symbolizer)
 *   guard.c       blocks placed against PROT_NONE guard pages
 *   fault.c       the SIGSEGV/SIGBUS handler behind guard pages
 *   report.c      the allocation-free, stdio-free writer and every report
 *   leaks.c       the leak report;  checkpoint.c  per-test leak checks
 *   inject.c      allocation failures on purpose;  options.c  options
 *   stats.c       counters summed from the threads;  os.c  OS services
 *
 * Lock discipline, written down once (thread.c implements it):
 *   - The allocation and free fast paths take no lock and write no cache
 *     line that another thread writes in the common case: each thread
 *     allocates from spans it owns, counts in its own counters and
 *     quarantines into its own batch.
 *   - Every heap operation runs inside the thread's gate (enter/leave): a
 *     counter of its own that is odd while the thread is inside. A
 *     whole-heap operation (check_all, the leak report, a checkpoint scan,
 *     statistics, fork) stops the world: it takes world.lock, raises
 *     world.stopped, and waits until no other thread is inside; threads
 *     arriving meanwhile wait on world.lock. While stopped, the stopping
 *     thread alone reads and writes every record. A thread steps in one
 *     way only (ar_heap_thread__step_in), whose acquire load of the flag
 *     orders it after every stop it did not hold up.
 *   - Leaf locks, each taken for a few instructions and never while
 *     another is held: a thread's quarantine FIFO's lock (by the thread
 *     once per batch of frees; by another thread taking entries out of
 *     it), the quarantine's spare chunks' lock, the region lock (new
 *     spans), the guard slots' lock, the thread list's lock (a thread's
 *     first and last operation), the pool of return chunks' lock (when a
 *     thread has no empty chunk of its own).
 *   - A slot released by a thread that does not own its span goes back
 *     to its owner in a chunk of such slots (span.c, "Returns"): the
 *     releasing thread fills the chunk alone and hands it over with one
 *     compare-and-swap; the owner takes its whole inbox with one exchange.
 *   - Options are written by ar_heap__set_options and the sweep, which
 *     programs call between operations; the heap only reads them.
 */
#ifndef AR_HEAP_INTERNAL_H
#define AR_HEAP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 1 when compiled into the preload library (libarheap-preload.so, see
 * preload.c): arheap is then the process's malloc. */
#ifndef AR_HEAP_PRELOAD
#define AR_HEAP_PRELOAD 0
#endif

/* The library is built with -fvisibility=hidden: calls between its files
 * are direct calls, not through the PLT, and can be inlined. The public
 * API of ar_heap.h is exported from libarheap.so; the preload library
 * exports only the C library's names (preload.c). */
#if !AR_HEAP_PRELOAD && defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
#include "ar_heap.h"
#if !AR_HEAP_PRELOAD && defined(__GNUC__)
#pragma GCC visibility pop
#endif

/* 1 when built with ThreadSanitizer. */
#if defined(__SANITIZE_THREAD__)
#define AR_HEAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AR_HEAP_TSAN 1
#endif
#endif
#ifndef AR_HEAP_TSAN
#define AR_HEAP_TSAN 0
#endif

#define AR_HEAP_LIKELY(x) __builtin_expect(!!(x), 1)
#define AR_HEAP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#if defined(__GNUC__)
#define AR_HEAP_TLS __attribute__((tls_model("initial-exec")))
#else
#define AR_HEAP_TLS
#endif

/* ------------------------------------------------------------------ records */

/* Bytes of a block's description kept (copied at allocation, so a
 * description may live on the caller's stack). Longer ones are cut. */
#define AR_HEAP_DESC_CAPACITY 64

/* Where a block stands in its life (ar_heap_rec_t.state). */
typedef enum ar_heap_state_e {
    AR_HEAP_STATE_UNUSED = 0,  /* the slot never held a block, or its record was forgotten */
    AR_HEAP_STATE_LIVE,        /* allocated */
    AR_HEAP_STATE_FREEING,     /* a free has claimed it and is in progress */
    AR_HEAP_STATE_QUARANTINED, /* freed, held poisoned; its slot is not reused */
    AR_HEAP_STATE_FREED        /* freed and its slot back in circulation: the record
                                * stays until the slot is reused */
} ar_heap_state_t;

/* A block's flags (ar_heap_rec_t.flags). */
#define AR_HEAP_BLOCK_CANARY 0x1u       /* head and tail zones hold canary bytes */
#define AR_HEAP_BLOCK_GUARDED 0x2u      /* in a guard-page slot (guard.c) */
#define AR_HEAP_BLOCK_ALLOWED_LEAK 0x4u /* ar_heap__allow_leak: expected to outlive */
/* Its canaries were found damaged: its slot is never reused. */
#define AR_HEAP_BLOCK_DAMAGED 0x8u
/* Its user bytes hold the freed poison: checked when the slot is reused. */
#define AR_HEAP_BLOCK_POISONED 0x10u
/* Freed with freed_history=0: a later free of its address is not named a
 * double free. */
#define AR_HEAP_BLOCK_FORGOTTEN 0x20u
/* A huge block in the quarantine whose pages are closed (PROT_NONE) instead
 * of poisoned: nothing reads them until it is released (life.c). */
#define AR_HEAP_BLOCK_CLOSED 0x40u
/* In a view only (index.c), never in a record: the block's description
 * holds the intentional-leak marker past the bytes the depot keeps. */
#define AR_HEAP_BLOCK_MARKED 0x80u

/*
 * ar_heap_rec_t: what the checker keeps of one slot's block, 32 bytes, in
 * an array beside its span (never next to the user's bytes: an underflow
 * can damage a block, not the checker's bookkeeping). Sites, descriptions
 * and call stacks are depot ids (depot.c), stored once however many blocks
 * share them. The record of a freed block stays until its slot holds a
 * new block, which is what names a second free a double free.
 */
typedef struct ar_heap_rec_s {
    _Atomic uint8_t state;  /* ar_heap_state_t */
    uint8_t flags;          /* AR_HEAP_BLOCK_* */
    uint16_t offset;        /* user address - slot base */
    uint32_t size;          /* bytes asked for; AR_HEAP_SIZE_ELSEWHERE: see the span */
    uint64_t seq;           /* allocation number, from 1 */
    uint32_t alloc_ctx;     /* depot id of the allocation's site, description, stack */
    uint32_t free_ctx;      /* depot id of the free's site and stack; 0 while live */
    uint32_t alloc_thread;  /* OS thread ids */
    uint32_t free_thread;
} ar_heap_rec_t;

_Static_assert(sizeof(ar_heap_rec_t) == 32, "a record is 32 bytes");

#define AR_HEAP_SIZE_ELSEWHERE UINT32_MAX

/* A source location: file is a string with static storage (__FILE__). */
typedef struct ar_heap_site_s {
    const char *file;
    int line;
    uint32_t thread;   /* OS thread id, or 0: the calling thread's (an entry
                        * point's site; a report reads the id then, so that
                        * the fast paths do not) */
    const void *pc;    /* return address into the caller, or NULL */
    const void *frame; /* the entry point's frame, where a stack walk starts, or NULL */
    ar_heap_call_site_t *call; /* the macro call's own object (file, line and
                                * description from it), or NULL */
} ar_heap_site_t;

/* Frames kept per stack (option stack_depth, at most this). */
#define AR_HEAP_STACK_MAX 16

/* A call stack: return addresses, innermost first. */
typedef struct ar_heap_stack_s {
    size_t depth;
    void *frames[AR_HEAP_STACK_MAX];
} ar_heap_stack_t;

/*
 * ar_heap_view_t: everything the checker knows of one block, copied out
 * of its record and the depot for a report or a walk. The strings and
 * frames point into the depot, which is never freed: a view stays valid.
 */
typedef struct ar_heap_view_s {
    uintptr_t user;  /* address handed to the program */
    size_t size;     /* bytes the program asked for */
    void *base;      /* first byte of the block's zones */
    size_t total;    /* bytes from base to the end of its tail zone */
    uint64_t seq;
    ar_heap_state_t state;
    uint8_t flags;
    ar_heap_site_t alloc_site;
    ar_heap_site_t free_site; /* meaningful when state is QUARANTINED or FREED */
    const char *desc;
    void *const *alloc_frames;
    size_t alloc_depth;
    void *const *free_frames;
    size_t free_depth;
} ar_heap_view_t;

/* ------------------------------------------------------------------ options */

typedef enum ar_heap_action_e {
    AR_HEAP_ACTION_ABORT = 0, /* report, then abort() (SIGABRT) */
    AR_HEAP_ACTION_EXIT,      /* report, then _exit(error_exitcode) */
    AR_HEAP_ACTION_CONTINUE   /* report and carry on; the bad call is a no-op */
} ar_heap_action_t;

#define AR_HEAP_PATH_CAPACITY 1024

typedef struct ar_heap_options_s {
    ar_heap_action_t on_error;
    int error_exitcode;
    int leak_exitcode;
    int leak_report;
    int leak_scan;      /* classify by reachability (reach.c) */
    int leak_reachable; /* still-reachable blocks are leaks */
    int report_path_set; /* 1 when report_path was given as an option */
    char report_path[AR_HEAP_PATH_CAPACITY];
    size_t freed_history;
    int canary;
    int fill;
    size_t fill_max;
    size_t quarantine_bytes;
    size_t check_every;
    int report_json;
    size_t stack_depth;
    int stack_exact;             /* backtrace() instead of the frame-pointer walk */
    int symbolize;               /* function, file:line of pcs in reports (symbol.c) */
    char symbolizer[AR_HEAP_PATH_CAPACITY]; /* external symbolizer, or "": libdw/addr2line */
    int guard;
    int guard_given;             /* 1 when AR_HEAP_OPTIONS or set_options named guard */
    int guard_below;
    int guard_align;
    size_t guard_sample;
    size_t guard_min_size;
    size_t guard_max_size;
    size_t guard_max_live;       /* 0: the mapping budget alone */
    int guard_mechanism;         /* AR_HEAP_GUARD_MECH_*: AUTO, MADVISE or MPROTECT */
    size_t fail_nth;
    size_t fail_every;
    size_t fail_random;          /* per million */
    size_t fail_seed;
    char fail_site_file[AR_HEAP_PATH_CAPACITY]; /* option fail_file, or "" */
    int fail_site_line;          /* option fail_line; 0: no site fails */
    int allow_malloc_0;          /* 0: an allocation of 0 bytes is reported */
    int help;
} ar_heap_options_t;

/* The options in force (options.c). */
extern ar_heap_options_t ar_heap_options;

/* Whether a fail_* option was given since the last call (and clear it). */
int ar_heap_options__take_fail_given(void);
int ar_heap_options__parse(const char *text, const char *origin);
void ar_heap_options__reset(void);
/* The preload library: Electric Fence's and DUMA's environment variables
 * (EF_*, DUMA_*) as options, applied before AR_HEAP_OPTIONS. */
void ar_heap_options__from_efence(void);
void ar_heap_options__print_help(void);
const char *ar_heap_options__report_path(void);

/* ------------------------------------------------------------------ init */

/* Make sure the heap is initialised (options read, fork handlers registered). */
extern _Atomic int ar_heap_ready;
void ar_heap__init(void);
static inline void ar_heap__ensure_init(void)
{
    if (AR_HEAP_UNLIKELY(!atomic_load_explicit(&ar_heap_ready, memory_order_acquire)))
        ar_heap__init();
}

/* At exit, when the heap was used: the whole-heap check, then the leak
 * report (heap.c explains when it runs). */
void ar_heap__exit_check(void);

/* ------------------------------------------------------------------ thread */

/* Size classes of span.c (a slot's stride picks one). */
#define AR_HEAP_CLASSES 144
/* Owners a thread fills return chunks for at once (span.c, Returns). */
#define AR_HEAP_RETURN_WAYS 8

/* A thread's cache of depot lookups: 2^BITS pairs of entries (depot.c). */
#define AR_HEAP_DEPOT_CACHE_BITS 8
#define AR_HEAP_DEPOT_CACHE (1u << AR_HEAP_DEPOT_CACHE_BITS)

struct ar_heap_span_s;
struct ar_heap_qchunk_s;
struct ar_heap_rchunk_s;

/*
 * ar_heap_thread_t: one thread's part of the heap. Written by its thread
 * only (the world stopped, by the stopping thread), except `busy`, read by
 * a thread stopping the world. Never freed: a thread that ends leaves its
 * state to the next thread that starts (spans, batch and counters too).
 */
typedef struct ar_heap_thread_s {
    _Alignas(64) _Atomic unsigned busy; /* odd while inside a heap operation */
    unsigned depth;                     /* nesting of enter/leave */
    uint32_t tid;
    int attached;                       /* 1 while a live thread owns this state */
    _Atomic int late;                   /* 1: taken after its thread's key destructor
                                         * ran, given back by the thread that finds it
                                         * exited (thread.c); 2 while that one does */
    struct ar_heap_thread_s *next;      /* every state ever made */
    struct ar_heap_thread_s *next_idle; /* states of ended threads */
    uintptr_t stack_lo, stack_hi;       /* the thread's stack, for the frame walk;
                                         * UINTPTR_MAX and 0 when not known */

    /* Allocation numbers: [seq_next, seq_end) reserved from the global
     * counter; seq_gen the checkpoint generation they were taken in. */
    uint64_t seq_next, seq_end, seq_gen;

    /* Counters of this thread's operations; sums are the statistics. */
    size_t allocations, allocated_bytes, frees, freed_bytes;
    int64_t delta, delta_peak; /* live bytes not yet added to the global figure */

    /* The quarantine batch being filled (quarantine.c), and its share of
     * the batch limit: the limit >> batch_shift. */
    struct ar_heap_qchunk_s *batch;
    size_t batch_bytes;
    unsigned batch_shift;
    unsigned lowered_seen; /* the quarantine's lowerings this thread has seen */
    /* Its FIFO of full batches, under its lock, which another thread
     * takes too, to take entries out (quarantine.c); bytes and the oldest
     * chunk's stamp are read without it. */
    struct {
        pthread_mutex_t lock;
        struct ar_heap_qchunk_s *oldest, *newest;
        size_t blocks;
        _Atomic size_t bytes;
        _Atomic uint64_t oldest_stamp; /* UINT64_MAX when empty */
        _Atomic uint64_t newest_stamp; /* the last batch's to join */
    } fifo;

    /* Spans whose every slot was released, the oldest first, and the
     * bytes they had touched (span.c, Emptied spans). */
    struct ar_heap_span_s *empty_oldest, *empty_newest;
    size_t empty_bytes;

    /* Per size class: the span allocated from, read by every allocation
     * (eight classes a cache line). */
    struct {
        struct ar_heap_span_s *current;
    } classes[AR_HEAP_CLASSES];

    /* Per size class, read only when the current span has no slot at hand
     * (span.c), so kept apart from the above: the spans that have had
     * released slots since they were last found without any, and the
     * spans that had slots never used when last looked at. */
    struct {
        struct ar_heap_span_s *partial;
        struct ar_heap_span_s *unfinished;
    } refill[AR_HEAP_CLASSES];

    /* Slots of other threads' spans this thread released, a chunk per
     * owner on the way to it (span.c, Returns); NULL entries last. */
    struct ar_heap_rchunk_s *outgoing[AR_HEAP_RETURN_WAYS];
    /* The owners this thread last sent chunks to, the latest first. */
    struct ar_heap_thread_s *sent_to[AR_HEAP_RETURN_WAYS];
    /* Each one's count of inboxes taken, when this thread last looked. */
    unsigned sent_seen[AR_HEAP_RETURN_WAYS];
    /* Empty return chunks kept for this thread's next ones. */
    struct ar_heap_rchunk_s *spare_chunks;
    unsigned spare_count;

    /* Recent depot lookups: the context's pointers (site, description) and
     * a hash of its frames beyond the first, the id found, and whether the
     * description lies in read-only memory (then the pointers identify
     * it; else its text is compared). */
    struct ar_heap_depot_memo_s {
        const char *file;
        const void *pc;
        const char *desc;
        uint64_t frames;
        int line;
        uint32_t fixed;
        uint32_t id;
        uint32_t lean; /* id where the leaf paths may answer with it (fixed,
                        * no frames), else 0; 0 in an empty entry */
    } depot_cache[AR_HEAP_DEPOT_CACHE][2]; /* pairs: the newest entry first */
    /* Behind it, once the thread has missed it often (depot.c, "Recall"):
     * contexts by their full hash. NULL until then. */
    struct ar_heap_depot_recall_s *depot_recall;
    uint32_t depot_misses;

    /* Written by other threads, once per chunk of slots they return, so
     * on lines of their own: the chunks returned to this thread (its
     * inbox, a stack the owner empties with one exchange), and per size
     * class a hint that a returned chunk holds slots of the class, set
     * after the chunk is pushed and cleared by this thread before it
     * takes the inbox. This thread reads the hint before it takes a slot
     * never used (span.c), and the hint and the inbox before its leaf
     * allocation takes the first span of a partial list (life.c). */
    _Alignas(64) _Atomic(struct ar_heap_rchunk_s *) returned;
    /* Bumped by this thread each time it takes its inbox: another thread
     * takes back from the inbox only while this has not moved since it
     * last looked, or while the inbox holds many chunks (span.c, Taking
     * back). */
    _Atomic unsigned inboxes_taken;
    /* Chunks pushed since this thread last took its inbox (a count the
     * pushers add to and this thread zeroes; chunks others take back from
     * are not taken off it). */
    _Atomic unsigned returned_chunks;
    _Atomic uint8_t remote_hint[AR_HEAP_CLASSES];
} ar_heap_thread_t;

/* The calling thread's state, or NULL before its first operation. */
extern AR_HEAP_TLS _Thread_local ar_heap_thread_t *ar_heap_thread_self;

/* The gate a thread steps in by: 0, or AR_HEAP_GATE_STOPPED while a
 * thread stops the world, or AR_HEAP_GATE_FENCE for good when the fast
 * path must fence itself (no membarrier system call). One word, so the
 * step-in looks at one flag when neither is set. */
extern _Atomic unsigned ar_heap_world_gate;
#define AR_HEAP_GATE_STOPPED 1u
#define AR_HEAP_GATE_FENCE 2u

ar_heap_thread_t *ar_heap_thread__attach(void);
void ar_heap_thread__wait(ar_heap_thread_t *self);
/* How many threads own a state now (a racy figure, for sizing). */
unsigned ar_heap_thread__attached(void);

/*
 * Step in: make `busy` odd, then look at the gate's `stopped` bit; nonzero
 * when the world is stopped (the caller must wait, ar_heap_thread__wait). The only way in,
 * for the fast path and for a thread that waited alike (thread.c explains
 * the gate). Two orders matter:
 *
 *  - busy's store before stopped's load, against the stopper's store of
 *    stopped before its load of busy: membarrier puts the stopper's fence
 *    on this thread; without it this thread fences itself (the gate's
 *    FENCE bit, seen on the first load, sends it to fence and load again).
 *  - stopped's load is an acquire. The 0 it reads may be the one a
 *    resume wrote, after a walk that did not wait for this thread (it was
 *    outside then, busy even): the walk's reads and writes (check_all
 *    repairs canaries) must happen before what this thread does next.
 *    The resume's clearing of the bit is a release; a relaxed load here would order
 *    nothing (ThreadSanitizer reports the walk and this thread's next
 *    write to a record as a data race, and a weakly ordered processor may
 *    serve this thread's loads of records before the flag's). On x86-64
 *    an acquire load is the same plain load as a relaxed one.
 */
static inline int ar_heap_thread__step_in(ar_heap_thread_t *self)
{
    unsigned b = atomic_load_explicit(&self->busy, memory_order_relaxed);
#if AR_HEAP_TSAN
    /* ThreadSanitizer knows nothing of membarrier: sequentially
     * consistent operations say the same thing in its terms. */
    atomic_store_explicit(&self->busy, b + 1, memory_order_seq_cst);
    return (atomic_load_explicit(&ar_heap_world_gate, memory_order_seq_cst) &
            AR_HEAP_GATE_STOPPED) != 0;
#else
    atomic_store_explicit(&self->busy, b + 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    unsigned gate = atomic_load_explicit(&ar_heap_world_gate, memory_order_acquire);
    if (AR_HEAP_LIKELY(gate == 0))
        return 0;
    if (gate & AR_HEAP_GATE_FENCE) {
        /* The load above may have been served before the store to busy
         * was seen: fence, and load again. */
        atomic_thread_fence(memory_order_seq_cst);
        gate = atomic_load_explicit(&ar_heap_world_gate, memory_order_acquire);
    }
    return (gate & AR_HEAP_GATE_STOPPED) != 0;
#endif
}

/* Enter a heap operation as `self`, the calling thread's state (the fast
 * paths have it already). Cheap: two stores to the thread's own line and
 * a load of a read-mostly word. */
static inline void ar_heap_thread__enter_as(ar_heap_thread_t *self)
{
    if (self->depth++ == 0 && AR_HEAP_UNLIKELY(ar_heap_thread__step_in(self)))
        ar_heap_thread__wait(self);
}

/* Enter a heap operation: the thread's state, made on first use. */
static inline ar_heap_thread_t *ar_heap_thread__enter(void)
{
    ar_heap_thread_t *self = ar_heap_thread_self;
    if (AR_HEAP_UNLIKELY(self == NULL))
        self = ar_heap_thread__attach();
    ar_heap_thread__enter_as(self);
    return self;
}

/* Leave it. */
static inline void ar_heap_thread__leave(ar_heap_thread_t *self)
{
    if (--self->depth == 0) {
        unsigned b = atomic_load_explicit(&self->busy, memory_order_relaxed);
        atomic_store_explicit(&self->busy, b + 1, memory_order_release);
    }
}

/* Enter from outside any operation, without waiting: 1 when entered; 0,
 * with nothing entered, when the thread is inside one already or the
 * world is stopped (the caller then takes a path that can wait). No call:
 * for the leaf paths (life.c, tracking only). */
static inline int ar_heap_thread__try_enter(ar_heap_thread_t *self)
{
    if (self->depth != 0)
        return 0;
    self->depth = 1;
    if (AR_HEAP_LIKELY(!ar_heap_thread__step_in(self)))
        return 1;
    ar_heap_thread__leave(self);
    return 0;
}

/* Stop every other thread at the gate (and any new one); resume them. May
 * be called from inside an operation. */
void ar_heap_world__stop(void);
void ar_heap_world__resume(void);

/* Call fn on every thread state ever made (the world stopped, or for
 * racy reads). */
void ar_heap_thread__each(void (*fn)(ar_heap_thread_t *thread, void *arg), void *arg);

/* The next allocation number of this thread (1, 2, ... in one thread;
 * unique, and increasing per thread, across threads). */
uint64_t ar_heap_thread__refill_seq(ar_heap_thread_t *self);
/* Whether the thread's range holds the next number (else a refill). */
static inline int ar_heap_thread__seq_ready(const ar_heap_thread_t *self)
{
    extern _Atomic uint64_t ar_heap_seq_generation;
    return self->seq_next != self->seq_end &&
           self->seq_gen == atomic_load_explicit(&ar_heap_seq_generation, memory_order_relaxed);
}
static inline uint64_t ar_heap_thread__next_seq(ar_heap_thread_t *self)
{
    if (AR_HEAP_UNLIKELY(!ar_heap_thread__seq_ready(self)))
        return ar_heap_thread__refill_seq(self);
    return self->seq_next++;
}

/* A mark for checkpoints: every allocation made after it (in a thread
 * that synchronised with the caller) has a larger number. */
uint64_t ar_heap_thread__mark(void);

/* Live bytes: count `size` more (or fewer) in this thread's part, which
 * is published (flush_delta) once it reaches AR_HEAP_DELTA_FLUSH either
 * way. The add_ functions count and say whether it is due; the count_
 * functions publish it then. */
void ar_heap_thread__flush_delta(ar_heap_thread_t *self);
#define AR_HEAP_DELTA_FLUSH ((int64_t)1 << 16)
/* Whether a change of `change` bytes leaves the part short of publishing. */
static inline int ar_heap_thread__delta_room(const ar_heap_thread_t *self, int64_t change)
{
    int64_t after = self->delta + change;
    return after < AR_HEAP_DELTA_FLUSH && after > -AR_HEAP_DELTA_FLUSH;
}
static inline int ar_heap_thread__add_alloc(ar_heap_thread_t *self, size_t size)
{
    self->allocations++;
    self->allocated_bytes += size;
    self->delta += (int64_t)size;
    if (self->delta > self->delta_peak) {
        self->delta_peak = self->delta;
        return self->delta >= AR_HEAP_DELTA_FLUSH;
    }
    return 0;
}
static inline int ar_heap_thread__add_free(ar_heap_thread_t *self, size_t size)
{
    self->frees++;
    self->freed_bytes += size;
    self->delta -= (int64_t)size;
    return self->delta <= -AR_HEAP_DELTA_FLUSH;
}
static inline void ar_heap_thread__count_alloc(ar_heap_thread_t *self, size_t size)
{
    if (AR_HEAP_UNLIKELY(ar_heap_thread__add_alloc(self, size)))
        ar_heap_thread__flush_delta(self);
}
static inline void ar_heap_thread__count_free(ar_heap_thread_t *self, size_t size)
{
    if (AR_HEAP_UNLIKELY(ar_heap_thread__add_free(self, size)))
        ar_heap_thread__flush_delta(self);
}

/* Register the fork handlers, membarrier, the thread-exit key (once). */
void ar_heap_thread__init(void);

/* ------------------------------------------------------------------ span */

/* Where a slot is: what the index finds and the backend hands out. */
typedef struct ar_heap_slot_s {
    ar_heap_rec_t *rec;
    struct ar_heap_span_s *span; /* NULL for a guarded block */
    uint32_t index;              /* in its span */
    uintptr_t base;              /* first byte of the slot */
    size_t capacity;             /* bytes of the slot (a guarded block: its pages) */
} ar_heap_slot_t;

/*
 * ar_heap_span_t: a run of equal slots of one size class, owned by one
 * thread, which alone allocates from it; or one huge slot. Records and
 * the free stack live in a mapping of their own.
 */
typedef struct ar_heap_span_s {
    /* Written when the span is made, then only read: by every thread that
     * frees one of its blocks. */
    _Alignas(64) uintptr_t start; /* the first slot */
    size_t stride;           /* bytes per slot */
    uint64_t magic;          /* 2^64 / stride, rounded up: index = offset * magic >> 64 */
    ar_heap_rec_t *recs;
    uint32_t *free_stack;
    ar_heap_thread_t *owner;
    uint32_t slots;
    uint16_t klass;          /* size class, or AR_HEAP_CLASSES for a huge span */
    /* Written by the owner: from a line of their own on, so that another
     * thread's free (which reads the fields above) does not take the line
     * the owner's every allocation writes. */
    _Alignas(64) uint32_t fresh; /* slots from here on were never used (owner) */
    uint32_t free_top;       /* slot indexes on free_stack (owner) */
    uint8_t in_partial;      /* on its class's partial list (owner) */
    uint8_t in_unfinished;   /* on its class's list of spans with fresh slots (owner) */
    uint8_t in_empty;        /* on the owner's list of emptied spans (span.c, Emptied spans) */
    uint8_t in_huge_free;    /* a released huge span, on the region's list (region lock) */
    uint32_t units;          /* 64 KiB units covered */
    uint32_t empty_bytes;    /* what it counts for on that list */
    struct ar_heap_span_s *next_empty;    /* the owner's emptied spans, oldest first */
    struct ar_heap_span_s *next_in_class; /* released huge spans */
    struct ar_heap_span_s *next_partial;  /* the owner's partial list */
    struct ar_heap_span_s *next_unfinished; /* the owner's spans with fresh slots */
    struct ar_heap_span_s *next_all;      /* every span, for walks */
    void **valgrind_users;   /* under Valgrind (else NULL): each live block's address (life.c) */
    size_t huge_size;        /* a huge span's block: bytes asked for, offset of user */
    size_t huge_offset;
} ar_heap_span_t;

/* The layout the comment above promises: a remote free's reads in the
 * first line, the owner's writes from the second on. */
_Static_assert(offsetof(ar_heap_span_t, klass) + sizeof(uint16_t) <= 64 &&
                   offsetof(ar_heap_span_t, owner) < 64,
               "the fields other threads read fit the descriptor's first line");
_Static_assert(offsetof(ar_heap_span_t, fresh) >= 64 && offsetof(ar_heap_span_t, free_top) >= 64,
               "the owner's fields start on the descriptor's second line");

/* The region (span.c): one reserved range cut into 64 KiB units, and a
 * table naming the span of each unit. Read without a lock. */
#define AR_HEAP_UNIT_SHIFT 16
#define AR_HEAP_UNIT ((size_t)1 << AR_HEAP_UNIT_SHIFT)
/* The largest slot of a size class; larger blocks get a huge span. */
#define AR_HEAP_CLASS_MAX ((size_t)1 << 20)
/* The geometric classes (slots of more than 1 KiB): a slot released in
 * one of them is reused, by its class or one of the next 24, before a
 * slot never used is touched (span.c, ar_heap_span__refill). */
#define AR_HEAP_SPAN_GEOMETRIC 64u

typedef struct ar_heap_region_s {
    uintptr_t start, end;
    _Atomic(ar_heap_span_t *) *units;
} ar_heap_region_t;
extern ar_heap_region_t ar_heap_region;

/* Reserve the region (once); `small` under Valgrind. */
void ar_heap_span__init(int small);

/* The first span (walks follow next_all); published with a release store. */
ar_heap_span_t *ar_heap_span__first(void);

/* The size class of a slot of at least `bytes` (16 <= bytes <= CLASS_MAX):
 * strides of 16 to 1024 in steps of 16, then eight per doubling. */
static inline unsigned ar_heap_span__class(size_t bytes)
{
    if (bytes <= 1024)
        return (unsigned)((bytes + 15) >> 4) - 1;
    size_t v = bytes - 1;
    unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)v); /* 10..19 */
    unsigned sub = (unsigned)(v >> (b - 3)) & 7u;
    return 64u + (b - 10u) * 8u + sub;
}

static inline void ar_heap_span__slot(ar_heap_span_t *span, uint32_t index, ar_heap_slot_t *out)
{
    out->span = span;
    out->index = index;
    out->rec = &span->recs[index];
    out->base = span->start + (uintptr_t)index * span->stride;
    out->capacity = span->stride;
}

int ar_heap_span__obtain_slow(ar_heap_thread_t *self, size_t bytes, ar_heap_slot_t *out);
void ar_heap_span__release_slow(ar_heap_thread_t *self, ar_heap_span_t *span, uint32_t index);
/* Hand every chunk of slots this thread has begun for other threads to
 * its owner (the thread ends). */
void ar_heap_span__return_all(ar_heap_thread_t *self);
/* Whether a slot is in a chunk on the way to its owner (the world
 * stopped). */
int ar_heap_span__returning(const ar_heap_span_t *span, uint32_t index);

/* Whether the class's current span hands out a slot never used: while
 * the heap grows, a fifth of the allocations (bench/workloads.c small).
 * Not while other threads have released slots of the class, nor while the
 * class's partial list names spans that may have released slots (the
 * refill takes those first, and drops the spans whose stacks are empty),
 * nor in a geometric class before its released slots
 * (ar_heap_span__refill). */
static inline int ar_heap_span__fresh_first(ar_heap_thread_t *self, unsigned klass,
                                            const ar_heap_span_t *span)
{
    return klass < AR_HEAP_SPAN_GEOMETRIC && span->fresh < span->slots &&
           self->refill[klass].partial == NULL &&
           atomic_load_explicit(&self->remote_hint[klass], memory_order_relaxed) == 0;
}

/* The slot on top of a span's free stack (free_top > 0). */
static inline uint32_t ar_heap_span__top(const ar_heap_span_t *span)
{
    return span->free_stack[span->free_top - 1];
}

/* How much of the next slot the common path's allocation loads ahead:
 * the whole slot, up to this. With the quarantine on, a released slot
 * comes back after megabytes of other frees, out of the caches, and its
 * reuse reads and writes all of it in one pass (the poison check and the
 * fill). Two lines ahead, as before stop 30, left the rest to the
 * hardware's prefetcher, which starts after the first misses: loading
 * up to 512 bytes, bench/workloads pinned to one core, 7 rounds in turn,
 * medians, defaults: `small` 5.33x to 4.66x glibc, `threads` T=1 8.49x to
 * 6.35x, `strdup` 4.92x to 4.67x (doc/benchmark-history.md, "Stop 30").
 * The tracking-only leaf path reuses slots the program freed a moment
 * ago, still in the cache, and keeps the two lines. */
#define AR_HEAP_PREFETCH_REUSE 512u
#define AR_HEAP_PREFETCH_LEAN 128u

/* Take it off (the owner). The class's next allocation takes the slot
 * below: with the quarantine on, its memory is cold. Start loading its
 * first `reach` bytes and its record now (hints; never fault). */
static inline uint32_t ar_heap_span__take_top(ar_heap_span_t *span, size_t reach)
{
    uint32_t top = --span->free_top;
    if (top > 0) {
        uint32_t next = span->free_stack[top - 1];
        const char *base = (const char *)(span->start + (uintptr_t)next * span->stride);
        size_t bytes = span->stride < reach ? span->stride : reach;
        for (size_t at = 0; at < bytes; at += 64)
            __builtin_prefetch(base + at, 1, 3);
        __builtin_prefetch(&span->recs[next], 1, 3);
    }
    return span->free_stack[top];
}

/* The slot a class of `self` hands out next without the slow path, not
 * taken: the top of its current span's free stack, else that span's next
 * slot never used (ar_heap_span__obtain's two ways), else the top of the
 * first span of its partial list (the refill's first choice when no slot
 * came back from another thread; that span becomes the current one);
 * UINT32_MAX when there is none. *where is the span. */
static inline uint32_t ar_heap_span__peek(ar_heap_thread_t *self, unsigned klass,
                                          ar_heap_span_t **where)
{
    ar_heap_span_t *span = self->classes[klass].current;
    *where = span;
    if (span == NULL)
        return UINT32_MAX;
    if (span->free_top > 0)
        return ar_heap_span__top(span);
    if (ar_heap_span__fresh_first(self, klass, span))
        return span->fresh;
    /* The refill's first choice (ar_heap_span__refill) when no slot came
     * back from another thread: the first span of a small class's partial
     * list, which then becomes its current span. */
    ar_heap_span_t *next = self->refill[klass].partial;
    if (klass < AR_HEAP_SPAN_GEOMETRIC && next != NULL && next->free_top > 0 &&
        atomic_load_explicit(&self->remote_hint[klass], memory_order_relaxed) == 0 &&
        atomic_load_explicit(&self->returned, memory_order_relaxed) == NULL) {
        *where = next;
        return ar_heap_span__top(next);
    }
    return UINT32_MAX;
}

/* Take the slot ar_heap_span__peek named from `span` (a released slot is
 * never at or past `fresh`). */
static inline void ar_heap_span__take(ar_heap_thread_t *self, unsigned klass,
                                      ar_heap_span_t *span, uint32_t index)
{
    if (index == span->fresh) {
        span->fresh++;
        return;
    }
    self->classes[klass].current = span;
    (void)ar_heap_span__take_top(span, AR_HEAP_PREFETCH_LEAN);
}

/* A span whose free stack was empty has a released slot: put it on its
 * class's partial list, once (the owner's). The list drops a span lazily,
 * when it is found with none. A class that runs out of slots in its
 * current span finds released ones there, not by reading every span's
 * descriptor (a cache miss each: with the defaults' quarantine a class
 * has tens of spans). */
static inline void ar_heap_span__partial(ar_heap_thread_t *self, ar_heap_span_t *span)
{
    if (span->in_partial)
        return;
    span->in_partial = 1;
    span->next_partial = self->refill[span->klass].partial;
    self->refill[span->klass].partial = span;
}

/* Whether the owner's push of a slot leaves its span holding a block (an
 * emptied span has more to do: ar_heap_span__emptied). */
static inline int ar_heap_span__push_keeps(const ar_heap_span_t *span)
{
    return span->free_top + 1 < span->fresh;
}

/* The owner puts a slot on its span's free stack, and the span on its
 * class's partial list when the stack was empty: all of a push but an
 * emptied span's step (ar_heap_span__push; the leaf free, when
 * ar_heap_span__push_keeps said there is none). */
static inline void ar_heap_span__push_slot(ar_heap_thread_t *self, ar_heap_span_t *span,
                                           uint32_t index)
{
    if (AR_HEAP_UNLIKELY(span->free_top == 0))
        ar_heap_span__partial(self, span);
    span->free_stack[span->free_top++] = index;
}

/* A slot of at least `bytes` (16 <= bytes) for this thread; 0 when memory
 * ran out. The common cases: the last slot its current span released,
 * else its next slot never used. */
__attribute__((always_inline)) static inline int
ar_heap_span__obtain(ar_heap_thread_t *self, size_t bytes, ar_heap_slot_t *out)
{
    if (AR_HEAP_LIKELY(bytes <= AR_HEAP_CLASS_MAX)) {
        unsigned klass = ar_heap_span__class(bytes);
        ar_heap_span_t *span = self->classes[klass].current;
        if (AR_HEAP_LIKELY(span != NULL && span->free_top > 0)) {
            ar_heap_span__slot(span, ar_heap_span__take_top(span, AR_HEAP_PREFETCH_REUSE), out);
            return 1;
        }
        if (AR_HEAP_LIKELY(span != NULL && ar_heap_span__fresh_first(self, klass, span))) {
            ar_heap_span__slot(span, span->fresh++, out);
            return 1;
        }
    }
    return ar_heap_span__obtain_slow(self, bytes, out);
}

void ar_heap_span__emptied(ar_heap_thread_t *self, ar_heap_span_t *span);

/* The owner puts a slot on its span's free stack (the span joins its
 * class's partial list when the stack was empty and it is not on it, and
 * the owner's list of emptied spans when that was its last slot in use). */
static inline void ar_heap_span__push(ar_heap_thread_t *self, ar_heap_span_t *span,
                                      uint32_t index)
{
    ar_heap_span__push_slot(self, span, index);
    if (AR_HEAP_UNLIKELY(span->free_top == span->fresh))
        ar_heap_span__emptied(self, span);
}

/* Put a slot back in circulation: on its owner's free stack, or in a
 * chunk on the way to its owner when another thread owns it. */
static inline void ar_heap_span__release(ar_heap_thread_t *self, ar_heap_span_t *span,
                                         uint32_t index)
{
    if (AR_HEAP_LIKELY(span->owner == self && span->klass != AR_HEAP_CLASSES)) {
        ar_heap_span__push(self, span, index);
        return;
    }
    ar_heap_span__release_slow(self, span, index);
}

/* The span whose units hold `addr`, or NULL (lock-free, never faults). */
static inline ar_heap_span_t *ar_heap_span__at(uintptr_t addr)
{
    if (addr - ar_heap_region.start >= ar_heap_region.end - ar_heap_region.start)
        return NULL;
    return atomic_load_explicit(
        &ar_heap_region.units[(addr - ar_heap_region.start) >> AR_HEAP_UNIT_SHIFT],
        memory_order_acquire);
}

/* ------------------------------------------------------------------ index */

int ar_heap_guard__find(uintptr_t addr, ar_heap_slot_t *out);
uintptr_t ar_heap_guard__user(const ar_heap_slot_t *slot);
size_t ar_heap_guard__size(const ar_heap_slot_t *slot);

/* The slot whose bytes contain `addr`; 0 when no slab, huge or guarded
 * slot does. Lock-free; reads only the checker's own tables. The slot's
 * index is one multiplication (span.magic), its record beside the span. */
static inline int ar_heap_index__find(uintptr_t addr, ar_heap_slot_t *out)
{
    ar_heap_span_t *span = ar_heap_span__at(addr);
    if (AR_HEAP_UNLIKELY(span == NULL))
        return ar_heap_guard__find(addr, out);
    uintptr_t offset = addr - span->start;
    uint64_t index;
    if (AR_HEAP_UNLIKELY(span->klass == AR_HEAP_CLASSES))
        index = offset < span->stride ? 0 : UINT64_MAX;
    else
        index = (uint64_t)(((unsigned __int128)offset * span->magic) >> 64);
    if (index >= span->slots)
        return 0;
    ar_heap_span__slot(span, (uint32_t)index, out);
    return 1;
}

/* The block's user address and size, from its record and slot. */
static inline uintptr_t ar_heap_index__user(const ar_heap_slot_t *slot)
{
    if (AR_HEAP_UNLIKELY(slot->span == NULL))
        return ar_heap_guard__user(slot);
    if (AR_HEAP_UNLIKELY(slot->span->klass == AR_HEAP_CLASSES))
        return slot->base + slot->span->huge_offset;
    return slot->base + slot->rec->offset;
}

static inline size_t ar_heap_index__size(const ar_heap_slot_t *slot)
{
    uint32_t size = slot->rec->size;
    if (AR_HEAP_LIKELY(size != AR_HEAP_SIZE_ELSEWHERE))
        return size;
    return slot->span == NULL ? ar_heap_guard__size(slot) : slot->span->huge_size;
}

/* A view of the slot's block (its record as it is now). */
void ar_heap_index__view(const ar_heap_slot_t *slot, ar_heap_view_t *out);

/* Call fn on every slot that holds or held a block (state not UNUSED):
 * slab and huge spans, then guard slots. The world must be stopped. */
typedef void (*ar_heap_slot_fn)(const ar_heap_slot_t *slot, void *arg);
void ar_heap_index__each(ar_heap_slot_fn fn, void *arg);

/* ------------------------------------------------------------------ depot */

/* What an id stands for. */
typedef struct ar_heap_ctx_s {
    const char *file;
    const void *pc;
    int line;
    uint32_t next;     /* hash chain */
    uint64_t hash;
    uint16_t depth;
    uint16_t desc_len;
    uint32_t marked;   /* 1: the marker is in the description past its cut */
    void *frames[];    /* depth frames, then desc_len bytes and a NUL */
} ar_heap_ctx_t;

/* A block whose description holds this is an intentional leak (leaks.c). */
#define AR_HEAP_INTENTIONAL_LEAK_MARKER "INTENTIONAL_LEAK_FOR_TESTING"

/* Whether a description of at least AR_HEAP_DESC_CAPACITY - 1 bytes,
 * which the depot cuts there, holds the marker past the cut or across
 * it (the kept text is searched by leaks.c; until stop 41 the cut took a
 * marker past it off, and the block counted as a leak). Only for a
 * description cut, on the depot's slow path. */
static inline int ar_heap_depot__marked_past_cut(const char *desc)
{
    const size_t cut = AR_HEAP_DESC_CAPACITY - 1;
    const size_t m = sizeof AR_HEAP_INTENTIONAL_LEAK_MARKER - 1;
    return desc[cut] != '\0' && strstr(desc + cut - (m - 1), AR_HEAP_INTENTIONAL_LEAK_MARKER);
}

extern char *ar_heap_depot_base;

static inline const ar_heap_ctx_t *ar_heap_depot__get(uint32_t id)
{
    if (id == 0 || ar_heap_depot_base == NULL)
        return NULL;
    return (const ar_heap_ctx_t *)(const void *)(ar_heap_depot_base + (size_t)id * 8);
}

static inline const char *ar_heap_depot__desc(const ar_heap_ctx_t *ctx)
{
    return (const char *)(ctx->frames + ctx->depth);
}

uint32_t ar_heap_depot__intern_slow(ar_heap_thread_t *self, unsigned cache_slot,
                                    const ar_heap_site_t *site, const char *desc,
                                    void *const *frames, size_t depth);

static inline uint64_t ar_heap_depot__mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

/* A hash of a stack's frames beyond the first (the first is the site's pc). */
static inline uint64_t ar_heap_depot__frames_hash(void *const *frames, size_t depth)
{
    uint64_t h = depth;
    for (size_t i = 1; i < depth; i++)
        h = ar_heap_depot__mix(h, (uintptr_t)frames[i]);
    return h;
}

/* What the thread's cache compares of a site. In the preload library
 * every site is one of its wrappers': no file, no line and no call object
 * (life.c leaves the entry points that take them out of it), so there
 * these tests fold away. Counted, the preload's `small`: with the test of
 * a call object 532.9 instructions an operation, without it 527.9 (stop
 * 37); with the compares of file and line and the line's part of the
 * pair's hash 517.4, without them 508.4 (doc/benchmark-history.md, "Stop
 * 38"). */
#if AR_HEAP_PRELOAD
#define AR_HEAP_SITE_HAS_CALL(site) ((void)(site), 0)
#define AR_HEAP_SITE_SAME_PLACE(m, site) ((void)(m), (void)(site), 1)
#define AR_HEAP_SITE_LINE_KEY(site) ((void)(site), (uint64_t)0)
#else
#define AR_HEAP_SITE_HAS_CALL(site) ((site)->call != NULL)
#define AR_HEAP_SITE_SAME_PLACE(m, site) ((m)->file == (site)->file && (m)->line == (site)->line)
#define AR_HEAP_SITE_LINE_KEY(site) ((uint64_t)(unsigned)(site)->line << 40)
#endif

/* Which pair of entries of the thread's cache a context may be in. */
static inline unsigned ar_heap_depot__cache_slot(const ar_heap_site_t *site, const char *desc,
                                                 uint64_t frames)
{
    /* Sites of one function lie a few bytes and lines apart: xor-ing them
     * as they are makes the low bits collide. The line goes above a
     * code address's bits that vary, and a multiply brings every bit to
     * the top ones, which pick the pair. */
    uint64_t k = (uint64_t)(uintptr_t)site->pc ^ AR_HEAP_SITE_LINE_KEY(site) ^
                 (uint64_t)(uintptr_t)desc ^ frames;
    return (unsigned)((k * 0x9e3779b97f4a7c15ULL) >> (64 - AR_HEAP_DEPOT_CACHE_BITS));
}

/* Whether an entry of the thread's cache holds a context of these
 * pointers and frames hash (the description's text not compared). */
static inline int ar_heap_depot__memo_is(const struct ar_heap_depot_memo_s *m,
                                         const ar_heap_site_t *site, const char *desc,
                                         uint64_t fh)
{
    return m->id != 0 && m->pc == site->pc && AR_HEAP_SITE_SAME_PLACE(m, site) &&
           m->desc == desc && m->frames == fh;
}

/* Whether an entry is this context: its fields, its frames, the text of
 * its description (cut where it was cut). */
static inline int ar_heap_depot__is(const ar_heap_ctx_t *ctx, const ar_heap_site_t *site,
                                    const char *desc, void *const *frames, size_t depth)
{
    if (ctx->file != site->file || ctx->line != site->line || ctx->pc != site->pc ||
        ctx->depth != depth)
        return 0;
    for (size_t i = 0; i < depth; i++)
        if (ctx->frames[i] != frames[i])
            return 0;
    const char *text = ar_heap_depot__desc(ctx);
    size_t len = ctx->desc_len;
    if (desc == NULL)
        return len == 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != desc[i])
            return 0;
    return desc[len] == '\0' ||
           (len == AR_HEAP_DESC_CAPACITY - 1 &&
            ctx->marked == (uint32_t)ar_heap_depot__marked_past_cut(desc));
}

/* Whether a cache entry holds this context: its pointers and frames hash,
 * and, unless its description is read-only, the stored text. */
static inline int ar_heap_depot__memo_holds(const struct ar_heap_depot_memo_s *m,
                                            const ar_heap_site_t *site, const char *desc,
                                            void *const *frames, size_t depth, uint64_t fh)
{
    return ar_heap_depot__memo_is(m, site, desc, fh) &&
           (AR_HEAP_LIKELY(m->fixed) ||
            ar_heap_depot__is(ar_heap_depot__get(m->id), site, desc, frames, depth));
}

/*
 * A macro call's memo (ar_heap_call_site_t): the id of its context of no
 * frames, once the first of the call's lookups that found the context
 * through the thread's cache or the depot has written it there
 * (ar_heap_depot__intern_slow), for the return address it was made from:
 * the same call in a function inlined into several callers shares the one
 * static object, and each caller is a context of its own. 0 when there is
 * none for this site. The pc is written once, with a compare-and-swap,
 * and the id after it with a release store; a reader sees either no id or
 * the id of the pc it reads. Measured (callgrind, tracking only, stop 37):
 * see doc/benchmark-history.md, "Stop 37".
 */
static inline uint32_t ar_heap_depot__call_id_at(const ar_heap_call_site_t *call, const void *pc)
{
    uint32_t id = __atomic_load_n(&call->memo_id, __ATOMIC_ACQUIRE);
    return id != 0 && call->memo_pc == pc ? id : 0;
}

static inline uint32_t ar_heap_depot__call_id(const ar_heap_site_t *site)
{
    return ar_heap_depot__call_id_at(site->call, site->pc);
}

/* Remember `id` in the site's call (when it has one and none is there). */
void ar_heap_depot__call_remember(const ar_heap_site_t *site, uint32_t id);

/* Store a context (site, description, stack) once; its id (0: none could
 * be stored). `desc` may be NULL. A repeated context is answered by the
 * thread's cache without touching shared memory: by its pointers when its
 * description is read-only (a string literal can not change), else after
 * comparing the description's text. */
__attribute__((always_inline)) static inline uint32_t
ar_heap_depot__intern(ar_heap_thread_t *self, const ar_heap_site_t *site, const char *desc,
                      void *const *frames, size_t depth)
{
    if (AR_HEAP_SITE_HAS_CALL(site) && depth == 0) {
        uint32_t id = ar_heap_depot__call_id(site);
        if (AR_HEAP_LIKELY(id != 0))
            return id;
    }
    uint64_t fh = depth > 1 ? ar_heap_depot__frames_hash(frames, depth) : depth;
    unsigned c = ar_heap_depot__cache_slot(site, desc, fh);
    const struct ar_heap_depot_memo_s *m = self->depot_cache[c];
    if (AR_HEAP_LIKELY(ar_heap_depot__memo_holds(m, site, desc, frames, depth, fh)) ||
        ar_heap_depot__memo_holds(++m, site, desc, frames, depth, fh)) /* the older entry */
        return m->id;
    return ar_heap_depot__intern_slow(self, c, site, desc, frames, depth);
}

/* A context of no frames (stack_depth=0) whose description is read-only
 * or NULL, answered by the thread's cache: its id, or 0 (then
 * ar_heap_depot__intern, which asks both entries of the pair). No call.
 * The entry asked is the pair's first unless that one's pc is not the
 * site's: one compare picks it, with no branch. Asking only the first
 * sent every operation of a context held second (two hot sites of one
 * pair, which the code's layout decides) to the common case: `strdup`,
 * tracking only, 5% more instructions in one build of the same source
 * than in another (stop 35). Asking the second after a miss of the first
 * cost every hit of the first 2 instructions (the compiler laid the
 * first's hit out of line); the pick costs none there. The answer is the
 * entry's `lean` field, set by depot.c where the read-only and no-frames
 * conditions hold: one load instead of three tests. */
static inline uint32_t ar_heap_depot__cached(const ar_heap_thread_t *self,
                                             const ar_heap_site_t *site, const char *desc)
{
    if (AR_HEAP_SITE_HAS_CALL(site)) {
        uint32_t id = ar_heap_depot__call_id(site);
        if (AR_HEAP_LIKELY(id != 0))
            return id;
    }
    const struct ar_heap_depot_memo_s *m =
        self->depot_cache[ar_heap_depot__cache_slot(site, desc, 0)];
    m += m->pc != site->pc;
    return m->pc == site->pc && AR_HEAP_SITE_SAME_PLACE(m, site) && m->desc == desc
               ? m->lean
               : 0;
}

/* Reserve the depot (once); `small` under Valgrind. */
void ar_heap_depot__init(int small);

/* ------------------------------------------------------------------ canary */

/* Debug fill bytes: distinct values, so a hex dump tells at a glance what
 * it shows. Canary bytes are never one of these (canary.c). */
#define AR_HEAP_FILL_NEW 0xbe   /* fresh bytes from MALLOC or REALLOC growth */
#define AR_HEAP_FILL_FREED 0xdf /* bytes of a freed block */

/* Bytes before the user's bytes, with canaries; minimum tail canary. */
#define AR_HEAP_HEAD ((size_t)16)
#define AR_HEAP_TAIL ((size_t)16)

/* The layout of one block in its slot. */
typedef struct ar_heap_layout_s {
    uintptr_t base;   /* first byte of the head zone */
    size_t offset;    /* user - base */
    size_t size;      /* user bytes */
    size_t extent;    /* base to the end of the tail zone */
    int canary;       /* zones hold canaries */
} ar_heap_layout_t;

/* Bytes from a block's base to the end of its tail zone, for a block of
 * `size` bytes at `offset` with canaries: the tail zone reaches the next
 * multiple of 16 after size + 16. Without canaries, size rounded to 16. */
static inline size_t ar_heap_canary__extent(size_t offset, size_t size, int canary)
{
    if (!canary)
        return offset + (size == 0 ? 16 : (size + 15) / 16 * 16);
    return offset + (size + AR_HEAP_TAIL + 15) / 16 * 16;
}

/* What a check found wrong with one block: the first damaged zone. */
typedef struct ar_heap_damage_s {
    int kind;                   /* an ar_heap_error_t */
    long long offset;           /* first damaged byte, relative to the user pointer */
    size_t damaged;             /* damaged bytes in that zone */
    long long dump_offset;      /* offset of dump[0] */
    size_t dump_len;            /* bytes in the dumps (at most 16) */
    unsigned char expected[16];
    unsigned char found[16];
} ar_heap_damage_t;

void ar_heap_canary__init(void);

/* The per-process secret the canary bytes derive from (canary.c). */
extern uint64_t ar_heap_canary_secret;

#define AR_HEAP_POISON_WORD 0xdfdfdfdfdfdfdfdfULL

/* The block's key: every byte odd (so never 0 nor 0xbe), and a byte that
 * came out 0xdf made 0xdd; all without a branch. The bytes of x that are
 * 0 are the poison's: x - 0x01.. & ~x marks them, and no other byte, since
 * the borrow of a 0 byte marks the next one only when that one is 0 or 1
 * in x, and an x byte of 1 is a key byte of 0xde, even. (An exact test
 * of every byte, as before stop 34, took 4 instructions more a key.) */
static inline uint64_t ar_heap_canary__key(uintptr_t base)
{
    uint64_t z = (ar_heap_canary_secret ^ (uint64_t)base) * 0x9e3779b97f4a7c15ULL;
    z ^= z >> 32;
    z *= 0xd6e8feb86659fd93ULL;
    z ^= z >> 29;
    z |= 0x0101010101010101ULL;
    uint64_t x = z ^ AR_HEAP_POISON_WORD;
    uint64_t is_poison = (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
    return z ^ (is_poison >> 6);
}

/* The eight canary bytes from address p on, as one word. */
static inline uint64_t ar_heap_canary__word(uint64_t key, uintptr_t p)
{
    unsigned shift = (unsigned)(p & 7) * 8;
    return (key >> shift) | (key << ((64u - shift) & 63u)); /* a rotation: no branch */
}

static inline unsigned char ar_heap_canary__byte(uint64_t key, uintptr_t p)
{
    return (unsigned char)(key >> ((p & 7) * 8));
}

static inline uint64_t ar_heap_canary__load(uintptr_t p)
{
    uint64_t w;
    memcpy(&w, (const void *)p, 8);
    return w;
}

static inline void ar_heap_canary__store(uintptr_t p, uint64_t w)
{
    memcpy((void *)p, &w, 8);
}

/*
 * Canary zones of 16 to 32 bytes, which every block of the common case
 * has (a head of 16, a tail of 16 to 31), are written and checked as two
 * sixteen-byte halves that overlap as much as the length asks, without a
 * loop: the pattern repeats every 8 bytes, so 16 bytes from q are
 * word(q) twice. The loops below, whose trip counts follow the block's
 * size, mispredicted a branch or two per zone: with the quarantine off,
 * canaries cost 12.4 ns an operation on `threads` T=1 (warm memory,
 * pinned), more than the rest of the common path (see
 * doc/benchmark-history.md, "Stop 31").
 */
#define AR_HEAP_CANARY_SHORT(from, to) ((to) - (from) - 16u <= 16u)

/*
 * A zone's first and last sixteen bytes as words. Where the caller knows
 * an end to be a multiple of 8 (`from_even`, `to_even`: constants at every
 * call), its word is the key itself, unrotated. Every end of a span slot's
 * zones is, but the tail's start: the slot's base, the user address and
 * the extent are multiples of 16 (span.c's strides, the head of 16). Of
 * the four rotations of a block's check, three are then not made.
 */
#define AR_HEAP_CANARY_FIRST(key, from, from_even) \
    ((from_even) ? (key) : ar_heap_canary__word((key), (from)))
#define AR_HEAP_CANARY_LAST(key, to, to_even) \
    ((to_even) ? (key) : ar_heap_canary__word((key), (to) - 16))

/* Write canary bytes over [from, to), whose ends are multiples of 8 where
 * from_even and to_even say so. */
static inline void ar_heap_canary__fill_as(uintptr_t from, uintptr_t to, uint64_t key,
                                           int from_even, int to_even)
{
    if (AR_HEAP_LIKELY(AR_HEAP_CANARY_SHORT(from, to))) {
        uint64_t a = AR_HEAP_CANARY_FIRST(key, from, from_even);
        uint64_t b = AR_HEAP_CANARY_LAST(key, to, to_even);
        ar_heap_canary__store(from, a);
        ar_heap_canary__store(from + 8, a);
        ar_heap_canary__store(to - 16, b);
        ar_heap_canary__store(to - 8, b);
        return;
    }
    if (to - from < 8) {
        for (uintptr_t p = from; p < to; p++)
            *(unsigned char *)p = ar_heap_canary__byte(key, p);
        return;
    }
    uintptr_t p = from;
    uint64_t word = ar_heap_canary__word(key, from); /* the same every 8 bytes */
    for (; p + 8 <= to; p += 8)
        ar_heap_canary__store(p, word);
    if (p < to)
        ar_heap_canary__store(to - 8, ar_heap_canary__word(key, to - 8));
}

/* Write canary bytes over [from, to). */
static inline void ar_heap_canary__fill(uintptr_t from, uintptr_t to, uint64_t key)
{
    ar_heap_canary__fill_as(from, to, key, 0, 0);
}

/* Whether [from, to) holds its canary bytes (ends as in fill_as). */
static inline int ar_heap_canary__intact_as(uintptr_t from, uintptr_t to, uint64_t key,
                                            int from_even, int to_even)
{
    if (AR_HEAP_LIKELY(AR_HEAP_CANARY_SHORT(from, to))) {
        uint64_t a = AR_HEAP_CANARY_FIRST(key, from, from_even);
        uint64_t b = AR_HEAP_CANARY_LAST(key, to, to_even);
        return ((ar_heap_canary__load(from) ^ a) | (ar_heap_canary__load(from + 8) ^ a) |
                (ar_heap_canary__load(to - 16) ^ b) | (ar_heap_canary__load(to - 8) ^ b)) == 0;
    }
    if (to - from < 8) {
        for (uintptr_t p = from; p < to; p++)
            if (*(const unsigned char *)p != ar_heap_canary__byte(key, p))
                return 0;
        return 1;
    }
    uint64_t diff = 0;
    uintptr_t p = from;
    uint64_t word = ar_heap_canary__word(key, from); /* the same every 8 bytes */
    for (; p + 8 <= to; p += 8)
        diff |= ar_heap_canary__load(p) ^ word;
    if (p < to)
        diff |= ar_heap_canary__load(to - 8) ^ ar_heap_canary__word(key, to - 8);
    return diff == 0;
}

/* Whether [from, to) holds its canary bytes. */
static inline int ar_heap_canary__intact(uintptr_t from, uintptr_t to, uint64_t key)
{
    return ar_heap_canary__intact_as(from, to, key, 0, 0);
}

/* Whether the head and tail zones of a span slot's block hold their
 * canary bytes (base, offset and extent multiples of 16). */
static inline int ar_heap_canary__intact_slot(uintptr_t base, size_t offset, size_t size,
                                              size_t extent)
{
    uint64_t key = ar_heap_canary__key(base);
    uintptr_t user = base + offset;
    return ar_heap_canary__intact_as(base, user, key, 1, 1) &&
           ar_heap_canary__intact_as(user + size, base + extent, key, 0, 1);
}

/* Write a block's head and tail canaries; `slot`: a span slot's block, as
 * for intact_slot (a constant at every call). */
static inline void ar_heap_canary__write_block(uintptr_t base, size_t offset, size_t size,
                                               size_t extent, int slot)
{
    uint64_t key = ar_heap_canary__key(base);
    uintptr_t user = base + offset;
    ar_heap_canary__fill_as(base, user, key, slot, slot);
    ar_heap_canary__fill_as(user + size, base + extent, key, 0, slot);
}


/* Write the head and tail canaries of a block. */
void ar_heap_canary__write(const ar_heap_layout_t *block);

/* Check the canaries; fill up to `max` damages (tail first, then head);
 * return how many zones are damaged. */
size_t ar_heap_canary__check(const ar_heap_layout_t *block, ar_heap_damage_t *out, size_t max);

/* Check that a block's user bytes still hold the poison; 1 and *out when
 * not. */
int ar_heap_canary__check_poison(const ar_heap_layout_t *block, ar_heap_damage_t *out);

#if defined(__GNUC__)
/* Sixteen bytes as two words: the compilers make vector loads, compares
 * and stores of them (SSE2, in every x86-64) where eight-byte ones took
 * twice the instructions. The check-and-fill of a reused slot, with them,
 * pinned, 7 rounds in turn, medians, defaults: `large` 2.39x to 1.85x
 * glibc and 2.45x to 2.00x (two runs), `realloc` 2.07x to 1.90x and 2.27x
 * to 2.05x, `small` and `strdup` within the noise (doc/benchmark-history.md,
 * "Stop 30"). */
typedef uint64_t ar_heap_canary_v2 __attribute__((vector_size(16)));

static inline ar_heap_canary_v2 ar_heap_canary__load16(uintptr_t p)
{
    ar_heap_canary_v2 v;
    memcpy(&v, (const void *)p, sizeof v);
    return v;
}

/*
 * Runs of 8 to AR_HEAP_CANARY_SHORT_MAX bytes (a small block's user
 * bytes) are checked for the poison sixteen bytes at a time, the last
 * vector overlapping: one loop, whose exit is the one branch that follows
 * the length (the reuse of small blocks, below).
 */
#define AR_HEAP_CANARY_SHORT_MAX 1024u

/* Whether [from, to) (8 bytes or more) holds the poison. */
static inline int ar_heap_canary__poisoned_short(uintptr_t from, uintptr_t to)
{
    const ar_heap_canary_v2 poison = { AR_HEAP_POISON_WORD, AR_HEAP_POISON_WORD };
    if (to - from < 16)
        return ((ar_heap_canary__load(from) ^ AR_HEAP_POISON_WORD) |
                (ar_heap_canary__load(to - 8) ^ AR_HEAP_POISON_WORD)) == 0;
    ar_heap_canary_v2 diff = { 0, 0 };
    for (uintptr_t p = from; p + 16 < to; p += 16)
        diff |= ar_heap_canary__load16(p) ^ poison;
    diff |= ar_heap_canary__load16(to - 16) ^ poison;
    return (diff[0] | diff[1]) == 0;
}

/*
 * Small blocks (8 to AR_HEAP_CANARY_SHORT_MAX bytes, old and new, at the
 * same place in the slot, both with canaries or both without) are reused
 * in two short passes instead of the fused one: the old bytes checked,
 * with one loop whose exit follows the size, then the new ones written by
 * one memset. The fused pass went through three loops and two memsets
 * whose counts all follow the sizes, and mispredicted their ends; a small
 * block is in the L1 cache after the first pass. (The fill was a loop of
 * sixteen-byte stores like the check's until stop 34: the C library's
 * memset, with the machine's widest vectors, makes fewer instructions,
 * callgrind, defaults, `small` 0.9% and `threads` T=1 1.8% fewer in all,
 * and was no slower, timed.) 1 when done (nothing was damaged); 0 when
 * the general path must do it: damage of any kind, found before anything
 * was written (then ar_heap_canary__reuse). Inline, so that the
 * allocation makes no call for it (life.c's reuse). Without the
 * compilers' vectors, never done here.
 */
__attribute__((always_inline)) static inline int
ar_heap_canary__reuse_short(const ar_heap_layout_t *old, const ar_heap_layout_t *fresh, int fill)
{
    if (old->canary != fresh->canary || old->base != fresh->base ||
        old->offset != fresh->offset || old->size - 8 > AR_HEAP_CANARY_SHORT_MAX - 8 ||
        fresh->size - 8 > AR_HEAP_CANARY_SHORT_MAX - 8)
        return 0;
    uint64_t key = old->canary ? ar_heap_canary__key(old->base) : 0;
    uintptr_t user = old->base + old->offset;
    uintptr_t old_end = user + old->size, new_end = user + fresh->size;
    /* A span slot's zones: their ends multiples of 8 but the tail's start. */
    if ((old->canary && (!ar_heap_canary__intact_as(old->base, user, key, 1, 1) ||
                         !ar_heap_canary__intact_as(old_end, old->base + old->extent, key, 0, 1))) ||
        !ar_heap_canary__poisoned_short(user, old_end))
        return 0;
    if (fill >= 0)
        memset((void *)user, fill, fresh->size);
    /* The head is the old one, intact, at the same place. */
    if (fresh->canary)
        ar_heap_canary__fill_as(new_end, fresh->base + fresh->extent, key, 0, 1);
    return 1;
}
#else
static inline int ar_heap_canary__reuse_short(const ar_heap_layout_t *old,
                                              const ar_heap_layout_t *fresh, int fill)
{
    (void)old;
    (void)fresh;
    (void)fill;
    return 0;
}
#endif

/*
 * A slot is reused: check what the freed block `old` left (its canaries and
 * poison) and lay out `fresh` (canaries; user bytes filled with `fill`
 * unless fill < 0) in one pass over the bytes they share; for whatever
 * ar_heap_canary__reuse_short, which the caller asks first, did not do. Damages of the
 * old block go to out (up to 3); returns how many. Both are blocks of one
 * span slot (its base, their offsets and extents multiples of 16).
 */
size_t ar_heap_canary__reuse(const ar_heap_layout_t *old, const ar_heap_layout_t *fresh,
                             int fill, ar_heap_damage_t *out);

/* ------------------------------------------------------------------ quarantine */

/* One freed block held: its slot, and the bytes it counts for. */
typedef struct ar_heap_qentry_s {
    void *owner;    /* its span, or for a guarded block its guard slot */
    uint32_t index; /* slot index in the span, with AR_HEAP_QENTRY_SLOW when its
                     * release must look at its record; UINT32_MAX: guarded */
    uint32_t bytes; /* what it counts for (its slot or extent), at most 4 GiB
                     * less a byte: a wider count would cost every taken
                     * entry its decoding (stop 40: 2.8 instructions an
                     * operation of bench/workloads small, defaults) */
} ar_heap_qentry_t;

#define AR_HEAP_QENTRY_SLOW 0x80000000u

/* What a held block costs beside its memory (a size class's whole slot,
 * a huge or guarded block's extent): its record and its entry, and for a
 * block of a span its slot's place in the span's free stack. The
 * quarantine counts it, so that quarantine_bytes bounds the memory the
 * quarantine costs, bookkeeping included. (Without the free stack's 4
 * bytes the quarantine's peak RSS grew 1.024 to 1.031 times as fast as its
 * budget, bench/workloads small and threads 1, 4 to 32 MiB; with them
 * 1.000 to 1.008: doc/benchmark-history.md, "Stop 35".) */
#define AR_HEAP_QUARANTINE_BOOKKEEPING (sizeof(ar_heap_rec_t) + sizeof(ar_heap_qentry_t))
#define AR_HEAP_QUARANTINE_SPAN_BOOKKEEPING (AR_HEAP_QUARANTINE_BOOKKEEPING + sizeof(uint32_t))

/* Entries handed back by one quarantine operation, released by the caller. */
#define AR_HEAP_QUARANTINE_OUT 256
typedef struct ar_heap_qout_s {
    size_t count;
    int more;      /* 1: call ar_heap_quarantine__more */
    size_t target; /* the bytes the operation takes the FIFOs down to */
    size_t quota;  /* the bytes it may still take out */
    ar_heap_qentry_t entries[AR_HEAP_QUARANTINE_OUT];
} ar_heap_qout_t;

/* A batch: a chunk of entries (a thread's FIFO is a list of them). */
#define AR_HEAP_QCHUNK_BYTES ((size_t)64 << 10)
#define AR_HEAP_QBATCH_MAX ((size_t)1 << 20)

typedef struct ar_heap_qchunk_s {
    struct ar_heap_qchunk_s *next;
    uint32_t head;   /* first entry still held */
    uint32_t count;  /* entries written */
    uint32_t batches; /* batches whose entries it holds (quarantine.c) */
    size_t bytes;    /* bytes of entries [head, count) */
    uint64_t stamp;  /* when it joined its thread's FIFO: the global order */
    ar_heap_qentry_t entries[];
} ar_heap_qchunk_t;

#define AR_HEAP_QCHUNK_ENTRIES \
    ((AR_HEAP_QCHUNK_BYTES - sizeof(ar_heap_qchunk_t)) / sizeof(ar_heap_qentry_t))

/* What every thread's batches hold together at most: the FIFOs keep the
 * budget less this. */
static inline size_t ar_heap_quarantine__batch_limit(size_t budget)
{
    size_t limit = budget / 16;
    return limit < AR_HEAP_QBATCH_MAX ? limit : AR_HEAP_QBATCH_MAX;
}

/* The bytes this thread gathers before it passes its batch on: its share
 * of the batch limit (quarantine.c). */
static inline size_t ar_heap_quarantine__thread_limit(const ar_heap_thread_t *self, size_t budget)
{
    return ar_heap_quarantine__batch_limit(budget) >> self->batch_shift;
}

/* Append a freed block to this thread's batch when that needs nothing
 * else (the batch exists, has room, and stays below its limit): 1 when
 * done, 0 when ar_heap_quarantine__push must do it. */
static inline int ar_heap_quarantine__append(ar_heap_thread_t *self, const ar_heap_qentry_t *entry,
                                             size_t budget)
{
    ar_heap_qchunk_t *batch = self->batch;
    if (batch == NULL || batch->count + 1 >= AR_HEAP_QCHUNK_ENTRIES ||
        self->batch_bytes + entry->bytes >= ar_heap_quarantine__thread_limit(self, budget))
        return 0;
    batch->entries[batch->count++] = *entry;
    batch->bytes += entry->bytes;
    self->batch_bytes += entry->bytes;
    return 1;
}

/* Append a freed block to this thread's batch; when the batch is full,
 * pass it to the thread's FIFO and take old entries out while more than
 * `budget` bytes are held (quarantine.c says which). */
void ar_heap_quarantine__push(ar_heap_thread_t *self, const ar_heap_qentry_t *entry,
                              size_t budget, ar_heap_qout_t *out);

/* Whether anything is held, in any FIFO or this thread's batch: a racy
 * hint, exact for this thread's part. */
extern _Atomic size_t ar_heap_quarantine_hint;
static inline int ar_heap_quarantine__holds(const ar_heap_thread_t *self)
{
    return atomic_load_explicit(&ar_heap_quarantine_hint, memory_order_relaxed) != 0 ||
           self->batch_bytes != 0;
}

/* Take out the oldest entries while more than `budget` bytes are held
 * (the budget was lowered). */
void ar_heap_quarantine__trim(ar_heap_thread_t *self, size_t budget, ar_heap_qout_t *out);

/* An operation said more: go on taking out, to the target and within
 * the quota it left in out. */
void ar_heap_quarantine__more(ar_heap_thread_t *self, ar_heap_qout_t *out);

/* Pass a thread's batch to its FIFO (it ends): a small one joins the
 * FIFO's newest chunk. */
void ar_heap_quarantine__flush(ar_heap_thread_t *self, size_t budget, ar_heap_qout_t *out);

/* The budget was lowered (ar_heap__set_options): each thread's next
 * batch takes the quarantine down to it, not only by what it brought. */
void ar_heap_quarantine__lowered(void);

/* Blocks and bytes held (the world stopped for an exact figure). */
void ar_heap_quarantine__held(size_t *blocks, size_t *bytes);

/* A new thread state's FIFO (thread.c). */
void ar_heap_quarantine__init_thread(ar_heap_thread_t *t);

/* ------------------------------------------------------------------ guard */

/* A block placed in a guard slot: where it is. */
typedef struct ar_heap_guarded_s {
    void *base;      /* the block's pages */
    size_t total;
    uintptr_t user;
    ar_heap_rec_t *rec;
    void *slot;      /* the guard slot, for release */
} ar_heap_guarded_t;

/* Place a block of `size` bytes in a guard slot, when the guard options
 * select it and the mapping budget allows; 0 when not guarded. */
int ar_heap_guard__obtain(size_t size, size_t align, ar_heap_guarded_t *out);

/* A guarded block is freed: its pages become PROT_NONE and go back to
 * the OS. */
void ar_heap_guard__protect(void *slot);

/* Release a guarded block's slot (closing its pages if still open). */
void ar_heap_guard__retire(void *slot);
void ar_heap_guard__release(void *slot);

/* ar_heap_guard__find: the guard slot whose pages hold `addr` (its record
 * and block); 0 when addr is not in guard memory. Lock-free.
 * ar_heap_guard__user, __size: a guarded slot's block (declared with the
 * index, which calls them). */

/* What a faulting address hits: the nearest guarded block. */
typedef struct ar_heap_guard_hit_s {
    uintptr_t user;
    size_t size;
    int state; /* an ar_heap_state_t: LIVE, QUARANTINED or FREED */
    ar_heap_slot_t slot;
} ar_heap_guard_hit_t;

/* Find the guarded block nearest to `addr` (fault handler). */
int ar_heap_guard__nearest(uintptr_t addr, ar_heap_guard_hit_t *hit);

/* A huge block in the quarantine whose closed pages hold `addr` (fault
 * handler; life.c). */
int ar_heap_life__closed_hit(uintptr_t addr, ar_heap_guard_hit_t *hit);

/* Walk every guard slot that held a block. */
void ar_heap_guard__each(ar_heap_slot_fn fn, void *arg);

size_t ar_heap_guard__live(void);

/* Guard mechanisms (option guard_mechanism; guard.c). */
enum {
    AR_HEAP_GUARD_MECH_AUTO = 0, /* option: madvise where the kernel has it */
    AR_HEAP_GUARD_MECH_MPROTECT, /* arenas of PROT_NONE mappings, split per block */
    AR_HEAP_GUARD_MECH_MADVISE   /* guard markers (MADV_GUARD_INSTALL, Linux 6.13) */
};
/* Whether the kernel has lightweight guard regions (probed once). */
int ar_heap_guard__regions_supported(void);
/* The mechanism in use: AR_HEAP_GUARD_MECH_AUTO until the first guarded
 * block; then MPROTECT or MADVISE, for the life of the process. */
int ar_heap_guard__mechanism(void);
/* The mechanism the option picks on this kernel. */
int ar_heap_guard__mechanism_chosen(void);
/* "madvise", "mprotect", or "none" (AUTO). */
const char *ar_heap_guard__mechanism_name(int mechanism);

/* ------------------------------------------------------------------ inject */

void ar_heap_inject__rearm(void);
void ar_heap_inject__reset(void);
extern _Atomic int ar_heap_inject_armed;
int ar_heap_inject__should_fail_slow(const ar_heap_site_t *site);
static inline int ar_heap_inject__should_fail(const ar_heap_site_t *site)
{
    return atomic_load_explicit(&ar_heap_inject_armed, memory_order_relaxed) &&
           ar_heap_inject__should_fail_slow(site);
}
size_t ar_heap_inject__count(void);

/* ------------------------------------------------------------------ fault */

void ar_heap_fault__install(void);
/* A forked child starts (thread.c): no report of the parent's is being
 * written in it. */
void ar_heap_fault__forked(void);

/* ------------------------------------------------------------------ life */

/*
 * The entry points' work, for callers that bring their own site (the
 * preload library's malloc family, whose site is its return address).
 * ar_heap_life__allocate: a block of `size` bytes aligned to `align` (0 for
 * the default); `fill` is AR_HEAP_FILL_NEW's use (1), zero (2, calloc) or
 * none (0: the caller writes every byte); NULL with errno ENOMEM.
 * ar_heap_life__free: free `ptr` (not NULL), reporting a bad pointer or
 * damage; 1 when freed. ar_heap_life__realloc: the REALLOC contract.
 */
/* Options changed (init, ar_heap__set_options, a sweep): whether the
 * common case's straight-line code may serve the next calls. */
void ar_heap_life__options_changed(void);

#define AR_HEAP_FILL_NONE 0
#define AR_HEAP_FILL_MARK 1
#define AR_HEAP_FILL_ZERO 2
void *ar_heap_life__allocate(size_t size, size_t align, const ar_heap_site_t *site,
                             const char *desc, int fill);
int ar_heap_life__free(void *ptr, const char *operation, const ar_heap_site_t *site);
void *ar_heap_life__realloc(void *ptr, size_t size, const ar_heap_site_t *site, const char *desc);

/* A string copy's bytes: the first `len` bytes of str and a NUL into
 * `copy`, a block of len + 1 bytes allocated with AR_HEAP_FILL_NONE (or
 * NULL, passed on). STRDUP and STRNDUP (life.c) and the preload's strdup
 * and strndup. */
static inline char *ar_heap_life__copy_into(char *copy, const char *str, size_t len)
{
    if (copy != NULL) {
        memcpy(copy, str, len);
        copy[len] = '\0';
    }
    return copy;
}

/* The live block at exactly `ptr`: its view; 0 when ptr is no live block. */
int ar_heap_life__find_live(const void *ptr, ar_heap_view_t *out);

/* Report `ptr` handed to `operation` as no live block (double or invalid). */
void ar_heap_life__bad_pointer(void *ptr, const char *operation, const ar_heap_site_t *site);

/* Check every block (live, quarantined, freed and poisoned); report what
 * is damaged; `how` names the occasion ("check", "exit"). */
size_t ar_heap_life__check_all(const char *how);

/* A thread ends (thread.c): its quarantine batch goes global. */
void ar_heap_life__thread_ends(ar_heap_thread_t *self);

/* The memory of `span`, whose every slot is released, is about to go back
 * to the system (span.c, Emptied spans): check the poison and canaries of
 * the blocks that held them (they will not be there when the slots are
 * used again), report what is damaged, and mark each record FREED. */
void ar_heap_life__letting_go(ar_heap_span_t *span);

/* Set `flag` on the live block at `ptr`; 1 when it is live. */
int ar_heap_life__set_flag(const void *ptr, uint8_t flag);

/* ------------------------------------------------------------------ os */

void *ar_heap_os__map(size_t size);
void ar_heap_os__unmap(void *addr, size_t size);
/* Reserve address space (PROT_NONE, no memory); NULL on failure. */
void *ar_heap_os__reserve(size_t size);
/* Make reserved pages readable and writable (committed); 0 on failure. */
int ar_heap_os__commit(void *addr, size_t size);
/* Give pages' memory back; they read zero afterwards. */
void ar_heap_os__discard(void *addr, size_t size);
/* Discard and close (PROT_NONE) whole pages of the region; 0 on failure. */
int ar_heap_os__close(void *addr, size_t size);
/* The calling thread's OS id, cached per thread. */
extern AR_HEAP_TLS _Thread_local uint32_t ar_heap_os_thread_id;
uint32_t ar_heap_os__thread_id_slow(void);
static inline uint32_t ar_heap_os__thread_id(void)
{
    uint32_t id = ar_heap_os_thread_id;
    return AR_HEAP_LIKELY(id != 0) ? id : ar_heap_os__thread_id_slow();
}
void ar_heap_os__forget_thread_id(void);
/* ": what" for the errno values a file's open, read or write meets
 * (ENOENT as "no such file or directory"), else "". */
const char *ar_heap_os__error_text(int err);
int ar_heap_os__secure(void);
/* Every descriptor from `low` on close-on-exec; 0 when that failed. */
int ar_heap_os__cloexec_from(int low);
/* fn for each entry of directory `path` whose name is a number, read into
 * the caller's buf (no allocation), until fn returns non-zero; -1 when the
 * directory can not be opened. */
int ar_heap_os__each_number(const char *path, char *buf, size_t cap,
                            int (*fn)(long number, const char *name, size_t digits, void *arg),
                            void *arg);
int ar_heap_os__cancel_off(void);
void ar_heap_os__cancel_back(int old);
const char *ar_heap_os__getenv(const char *name);
/* Write all of buf; 0, or the errno of the write that failed (-1 for a
 * write of nothing). */
int ar_heap_os__write_all(int fd, const char *buf, size_t len);
/* Note the read-only segments of the modules loaded now (at start). */
void ar_heap_os__note_readonly(void);
/* Whether p lies in a read-only segment noted at start. */
int ar_heap_os__is_readonly(const void *p);
/* The calling thread's stack bounds; 0 when not known. */
int ar_heap_os__stack_bounds(uintptr_t *lo, uintptr_t *hi);
/* One line of /proc/self/maps. */
typedef struct ar_heap_os_mapping_s {
    uintptr_t start, end;
    uintptr_t offset;  /* in the file mapped */
    uintptr_t dev;     /* the file's device, major << 32 | minor */
    uintptr_t inode;   /* of the file mapped (0: anonymous) */
    char perms[5];     /* "r-xp" */
    const char *name;  /* a path, "[stack]", "[vdso]"...; "" when anonymous
                        * (each_mapping; parse_mapping: up to the newline) */
} ar_heap_os_mapping_t;
/* Parse one line; 0 when it is not a mapping's. */
int ar_heap_os__parse_mapping(const char *line, ar_heap_os_mapping_t *m);
/* fn on each mapping in address order until it returns non-zero (a
 * positive value), which is returned; 0 after the last, -1 when the maps
 * can not be read whole. No allocation, no stdio: safe in a signal
 * handler. */
int ar_heap_os__each_mapping(int (*fn)(const ar_heap_os_mapping_t *m, void *arg), void *arg);
/* The same into the caller's buffers (a fault report's, static: os.c). */
int ar_heap_os__each_mapping_in(char *chunk, size_t chunk_cap, char *line, size_t line_cap,
                                int (*fn)(const ar_heap_os_mapping_t *m, void *arg), void *arg);

/* ------------------------------------------------------------------ stack */

struct ar_heap_out_s;

void ar_heap_stack__init(void);

/* Up to `want` frames from the site's pc outward by backtrace()
 * (stack_exact; stack.c). */
size_t ar_heap_stack__capture_exact(const ar_heap_site_t *site, void **frames, size_t want);

/* A word of a stack as the walk below reads it: as it is, or, under
 * Valgrind, a copy declared defined (stack.c), since the walk only
 * compares it and the slots of a frame nobody wrote are undefined to
 * Memcheck (a caller built without frame pointers leads the walk into
 * them). */
typedef uintptr_t (*ar_heap_stack_read_t)(uintptr_t addr);

static inline uintptr_t ar_heap_stack__read(uintptr_t addr)
{
    return *(const uintptr_t *)addr;
}

/* How a capture goes, derived from the options with their other derived
 * flags (ar_heap_life__options_changed), so that a capture reads one word:
 * 0, none (stack_depth=0); 1 to AR_HEAP_STACK_MAX, the inline walk of that
 * many frames; that many plus AR_HEAP_STACK_SLOW, the out-of-line capture
 * (stack_exact, or the program runs under Valgrind). Counted, the
 * preload's `small`, with the walk's one bound below: 528.4 to 525.9
 * instructions an operation (doc/benchmark-history.md, "Stop 38"). */
#define AR_HEAP_STACK_SLOW 0x100u
extern _Atomic unsigned ar_heap_stack_mode;

/* The capture when ar_heap_stack_mode says so (stack.c). */
size_t ar_heap_stack__capture_slow(ar_heap_thread_t *self, const ar_heap_site_t *site,
                                   void **frames, size_t want);

/*
 * The frame-pointer walk of a capture: the site's pc, then the return
 * addresses from the entry point's frame outward. Frames lie between the
 * current frame and the top of the thread's stack, all of it mapped;
 * below it (the main thread's stack bounds reach down to the rlimit, not
 * yet mapped) a stray frame pointer would fault. Each frame is checked to
 * lie there, aligned, above the last; a caller built without frame
 * pointers ends the walk early, with fewer frames, never wrong ones.
 */
__attribute__((always_inline)) static inline size_t
ar_heap_stack__walk(const ar_heap_thread_t *self, const ar_heap_site_t *site, void **frames,
                    size_t want, ar_heap_stack_read_t read)
{
    if (site->pc == NULL)
        return 0;
    frames[0] = (void *)site->pc;
    /* Bounds unknown: stack_lo is UINTPTR_MAX (thread.c), no fp is above. */
    uintptr_t lo = (uintptr_t)__builtin_frame_address(0), top = self->stack_hi - 16;
    if (lo < self->stack_lo)
        lo = self->stack_lo;
    uintptr_t fp = (uintptr_t)site->frame;
    if (fp < lo || fp > top || (fp & 7) != 0)
        return 1; /* bounds unknown, or no frame of the entry point */
    /* The entry point's frame: [0] the caller's saved frame pointer,
     * [1] the return address into the caller (the site's pc). Each next
     * frame lies above the last, so above `lo` too: one bound to check. */
    size_t n = 1;
    while (n < want) {
        uintptr_t next = read(fp);
        if (next <= fp || next > top || (next & 7) != 0)
            break;
        uintptr_t ret = read(next + sizeof(uintptr_t));
        if (ret < 4096)
            break;
        frames[n++] = (void *)ret;
        fp = next;
    }
    return n;
}

/*
 * Capture up to stack_depth frames from the caller at `site` outward
 * (the walk above). Inline in the common paths: as a call it took a
 * fifth of its instructions in saving registers and moving arguments
 * (stop 34).
 */
static inline size_t ar_heap_stack__capture(ar_heap_thread_t *self, const ar_heap_site_t *site,
                                            void **frames)
{
    unsigned mode = atomic_load_explicit(&ar_heap_stack_mode, memory_order_relaxed);
    if (mode == 0)
        return 0;
    if (AR_HEAP_UNLIKELY(mode > AR_HEAP_STACK_MAX))
        return ar_heap_stack__capture_slow(self, site, frames, mode - AR_HEAP_STACK_SLOW);
    return ar_heap_stack__walk(self, site, frames, mode, ar_heap_stack__read);
}

void ar_heap_stack__describe(struct ar_heap_out_s *out, const void *return_address);
void ar_heap_stack__print(struct ar_heap_out_s *out, void *const *frames, size_t depth);
void ar_heap_stack__signal_safe(int on);
void ar_heap_stack__print_pc(struct ar_heap_out_s *out, const void *pc);
/* The call stack of a fault, from the signal's context: the faulting pc
 * first, then return addresses, found by a bounded frame-pointer walk of
 * the interrupted stack (and, where the pc's function keeps no frame, the
 * return address its caller pushed). */
size_t ar_heap_stack__from_context(const void *context, void **frames, size_t want);
/* Print frames of which the first is a pc (a fault's), not a return address. */
void ar_heap_stack__print_fault(struct ar_heap_out_s *out, void *const *frames, size_t depth);

/* ------------------------------------------------------------------ symbol */

/* A session of one report: open it, name the pcs the report will print,
 * resolve them (a child process reads the debug information), print, end.
 * begin returns 0 when symbolize=0 or another session is open; every other
 * call is then a no-op, and frames print as module+offset. */
int ar_heap_symbol__begin(void);
void ar_heap_symbol__want(const void *pc, int is_return);
void ar_heap_symbol__want_site(const ar_heap_site_t *site);
void ar_heap_symbol__want_frames(void *const *frames, size_t depth);
void ar_heap_symbol__want_view(const ar_heap_view_t *view);
void ar_heap_symbol__resolve(void);
void ar_heap_symbol__end(void);
/* " in FUNCTION FILE:LINE" of the innermost frame of a resolved pc
 * (is_return: a return address, looked up one byte back); 0, writing
 * nothing, when the pc has no symbols. */
int ar_heap_symbol__print_first(struct ar_heap_out_s *out, const void *pc, int is_return);
/* Per inlined call around it, "inlined into FUNCTION FILE:LINE": on a new
 * line after `indent`, or after ", " when indent is NULL. */
void ar_heap_symbol__print_inlined(struct ar_heap_out_s *out, const void *pc, int is_return,
                                   const char *indent);
/* The innermost frame's function, file (NULL when unknown) and line. */
int ar_heap_symbol__lookup(const void *pc, int is_return, const char **function,
                           const char **file, int *line);
/* Frame `index` of a resolved pc: 0 the innermost, then the functions it
 * is inlined into; 0 past the last (or without symbols). */
int ar_heap_symbol__frame(const void *pc, int is_return, unsigned index, const char **function,
                          const char **file, int *line);
#if AR_HEAP_PRELOAD
/* preload.c: every allocation of this process from a private heap (the
 * symbolizer's child). */
void ar_heap_preload__use_private_heap(void);
/* preload.c: Electric Fence's globals EF_PROTECT_BELOW and EF_ALIGNMENT,
 * when the program has set them (not -1), over the guard options; read at
 * each guarded allocation (guard.c). */
void ar_heap_preload__guard_placement(int *below, size_t *align);
#endif

/* ------------------------------------------------------------------ report */

typedef struct ar_heap_out_s {
    int fd;       /* -1: into `text` instead (ar_heap_out__init_text) */
    int error;    /* the errno of the first write to fd that failed, else 0 */
    size_t len;
    char buf[512];
    char *text;
    size_t text_size;
    size_t text_len;
} ar_heap_out_t;

void ar_heap_out__init(ar_heap_out_t *out, int fd);
void ar_heap_out__init_text(ar_heap_out_t *out, char *buf, size_t size);
void ar_heap_out__str(ar_heap_out_t *out, const char *s);
void ar_heap_out__desc(ar_heap_out_t *out, const char *s);
void ar_heap_out__dec(ar_heap_out_t *out, uint64_t value);
void ar_heap_out__signed(ar_heap_out_t *out, long long value);
void ar_heap_out__hex(ar_heap_out_t *out, uintptr_t value);
void ar_heap_out__site(ar_heap_out_t *out, const ar_heap_site_t *site);
void ar_heap_out__flush(ar_heap_out_t *out);

typedef enum ar_heap_error_e {
    AR_HEAP_ERROR_DOUBLE_FREE,
    AR_HEAP_ERROR_INVALID_FREE,
    AR_HEAP_ERROR_INVALID_ARGUMENT,
    AR_HEAP_ERROR_OVERFLOW,         /* heap-buffer-overflow: tail canary */
    AR_HEAP_ERROR_UNDERFLOW,        /* heap-buffer-underflow: head canary */
    AR_HEAP_ERROR_WRITE_AFTER_FREE, /* poison of a freed block */
    AR_HEAP_ERROR_USE_AFTER_FREE    /* a fault on a freed guarded block */
} ar_heap_error_t;

const char *ar_heap_report__error_name(ar_heap_error_t kind);

/* A damaged block found by a free, a reuse or a check. */
typedef struct ar_heap_finding_s {
    ar_heap_view_t block;
    ar_heap_damage_t damage;
} ar_heap_finding_t;

/* How damage was found. */
typedef enum ar_heap_finder_e {
    AR_HEAP_FOUND_BY_FREE,    /* the block's own free or realloc (site) */
    AR_HEAP_FOUND_BY_REUSE,   /* its slot was reused by an allocation (site) */
    AR_HEAP_FOUND_BY_RELEASE, /* its memory went back to the system (a huge block) */
    AR_HEAP_FOUND_BY_CHECK,   /* ar_heap__check_all() */
    AR_HEAP_FOUND_BY_EXIT     /* the check at exit */
} ar_heap_finder_t;

/* Where a pointer handed to free (realloc, malloc_usable_size) that is no
 * live block lies, relative to the block it was found near. */
typedef enum ar_heap_bad_place_e {
    AR_HEAP_BAD_FOREIGN,      /* no block of arheap's near it */
    AR_HEAP_BAD_FREED,        /* the start of a freed block: a double free */
    AR_HEAP_BAD_INSIDE_LIVE,  /* inside a live block, past its start */
    AR_HEAP_BAD_BEFORE_LIVE,  /* in a live block's head zone, before its start */
    AR_HEAP_BAD_INSIDE_FREED, /* inside or before a freed block, not its start */
} ar_heap_bad_place_t;

/* Report a pointer handed to `operation` that is not a live block, at
 * `place` relative to `block` (NULL for AR_HEAP_BAD_FOREIGN). Applies the
 * action. */
void ar_heap_report__bad_pointer(void *ptr, const char *operation, const ar_heap_site_t *site,
                                 const ar_heap_stack_t *stack, const ar_heap_view_t *block,
                                 ar_heap_bad_place_t place);

/* Report damage; does not apply the action. `operation` names the call at
 * `site` for FOUND_BY_FREE ("free", "realloc"). */
void ar_heap_report__damage(const ar_heap_finding_t *finding, ar_heap_finder_t finder,
                            const char *operation, const ar_heap_site_t *site);

typedef struct ar_heap_fault_s {
    ar_heap_error_t kind;
    uintptr_t addr;
    int access;
    const void *pc;
    uint32_t thread;
    ar_heap_guard_hit_t hit;
    const ar_heap_view_t *record; /* the block, or NULL */
    size_t depth;                 /* the faulting stack: pc first, then */
    void *frames[AR_HEAP_STACK_MAX]; /* return addresses */
} ar_heap_fault_t;

void ar_heap_report__fault(const ar_heap_fault_t *fault);
void ar_heap_report__invalid_argument(const char *what, const ar_heap_site_t *site);
void ar_heap_report__warning(const char *text);
/* ar_heap__describe's text: `block` the record whose slot holds addr, or
 * NULL when none does; `released` 1 when a freed block's slot is back in
 * circulation. */
void ar_heap_report__describe(const void *addr, const ar_heap_view_t *block, int released);
void ar_heap_report__unshown(size_t found, size_t shown);
size_t ar_heap_report__errors(void);
void ar_heap_report__act(void);

/* ------------------------------------------------------------------ leaks */

size_t ar_heap_leaks__report(void);
int ar_heap_leaks__is_intentional(const ar_heap_view_t *block);

/* ------------------------------------------------------------------ reach */

/* What the reachability scan (reach.c) says of a live block. */
enum {
    AR_HEAP_REACH_DEFINITE = 0, /* unreachable: definitely lost */
    AR_HEAP_REACH_INDIRECT = 1, /* reachable only from a definitely lost block */
    AR_HEAP_REACH_REACHABLE = 2 /* reachable from the roots */
};

typedef struct ar_heap_reach_block_s {
    uintptr_t user;
    size_t size;
    uint32_t owner;  /* out: an indirect block's definite block (its index) */
    uint8_t kind;    /* out: AR_HEAP_REACH_* */
    uint8_t root;    /* in: a root whatever points at it (an intentional leak) */
    uint8_t pointed; /* scratch */
} ar_heap_reach_block_t;

/* Classify n live blocks (the world stopped; the other threads are
 * stopped for the scan). Returns 0 when the scan could not run (no
 * memory, no /proc): every block is then left DEFINITE. */
int ar_heap_reach__scan(ar_heap_reach_block_t *blocks, size_t n);
/* Whether pc (a block's allocating call) lies in the dynamic loader: its
 * blocks are roots (the runtime's bookkeeping, as an ended thread's DTV). */
int ar_heap_reach__by_loader(const void *pc);
/* The calling thread's stack is scanned from `frame` (the leak report's
 * entry) up, not from the scan's own frame, with the registers saved at
 * that entry (regs_size bytes); frame NULL: from the scan's frame. */
void ar_heap_reach__origin(const void *frame, const void *regs, size_t regs_size);
void ar_heap_leaks__block_line(ar_heap_out_t *out, const ar_heap_view_t *block);
/* Sort an array of pointers in place, with no allocation, so that
 * before(items[i], items[j]) holds for i < j where it can (a heap sort;
 * the leak report's and the checkpoint's lists). */
typedef int (*ar_heap_before_fn)(const void *a, const void *b);
void ar_heap_leaks__sort(const void **items, size_t n, ar_heap_before_fn before);
void ar_heap_leaks__at_exit(void);
/* A forked child starts (thread.c's fork handler): note its mark. */
void ar_heap_leaks__forked(void);


/* ------------------------------------------------------------------ stats */

/* All counters as one snapshot; the world must be stopped. */
void ar_heap_stats__snapshot_stopped(ar_heap_stats_t *out);

/* ------------------------------------------------------------------ suppress */

/* suppress.c: suppression files (option suppressions=PATH). */
/* Read a file of KIND:PATTERN lines (a path loaded already is skipped);
 * warnings name `origin` or file:line. The patterns added, -1 when the
 * file could not be read. */
int ar_heap_suppress__load(const char *path, const char *origin);
/* 1 when some pattern is loaded. */
int ar_heap_suppress__active(void);
/* In a report's symbol session, before it resolves: the site pcs of the
 * call and the blocks, which frames printing does not want (a site with
 * file:line prints no symbols) but function patterns need. */
void ar_heap_suppress__want(const ar_heap_site_t *site, const ar_heap_view_t *a,
                            const ar_heap_view_t *b);
/* 1, counting it, when a pattern of the error kind `kind_name` (as the
 * report prints it) matches the call's site and stack or the block's
 * allocation and free sites and stacks. Needs the report's symbols
 * resolved for function and source patterns. */
int ar_heap_suppress__error(const char *kind_name, const ar_heap_site_t *site,
                            const ar_heap_stack_t *stack, const ar_heap_view_t *block);
/* The leak report's filter, with the world stopped (its scratch is
 * static): the leak counts start again from 0; the symbols of the
 * blocks' allocation sites and stacks are read (a session of its own);
 * each of `count` items (leaks.c's records, seen through `view`) that a
 * leak: pattern matches is counted with its bytes, passed to `dropped`
 * and taken out of the array, the others keeping their order. Returns
 * the items left. items NULL (no array to filter): the counts start
 * again, and count is returned. */
size_t ar_heap_suppress__leaks(const void **items, size_t count,
                               void (*view)(const void *item, ar_heap_view_t *out),
                               void (*dropped)(const void *item, void *arg), void *arg);
/* In a forked child: the counts start again. */
void ar_heap_suppress__forked(void);
/* A forked child starts: a symbol session another thread of the parent
 * held is not the child's (symbol.c). */
void ar_heap_symbol__forked(void);
/* Patterns that suppressed something. */
size_t ar_heap_suppress__used(void);
/* "PREFIXsuppressed N ... by KIND:PATTERN (FILE:LINE)" for each of them. */
void ar_heap_suppress__print_usage(ar_heap_out_t *out, const char *prefix);

#endif /* AR_HEAP_INTERNAL_H */
