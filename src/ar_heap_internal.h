/*
 * ar_heap_internal.h: the one internal header of the debug heap.
 *
 * Public headers live in include/; everything here is private to src/ and
 * named ar_heap_<module>__verb (one module per file):
 *
 *   heap.c      the public entry points: malloc, calloc, realloc, strdup, free
 *   block.c     the block layout (base, head zone, user bytes, tail zone)
 *   tracking.c  records of live and recently freed blocks, sharded hash table
 *   canary.c    the bytes around each block: writing and checking them
 *   guard.c     blocks placed against PROT_NONE guard pages (option guard)
 *   inject.c    allocation failures on purpose (options fail_*), the sweep
 *   checkpoint.c  per-test leak checks (marks in the allocation sequence)
 *   fault.c     the SIGSEGV/SIGBUS handler that reports guard-page faults
 *   quarantine.c  freed blocks held poisoned before their memory is reused
 *   stats.c     counters and their snapshot
 *   options.c   AR_HEAP_OPTIONS parsing, defaults, help
 *   report.c    the allocation-free, stdio-free writer and error reports
 *   leaks.c     the leak report (at exit and on demand)
 *   os.c        the few OS services used: pages, thread ids, raw writes
 *
 * Lock discipline, written down once:
 *   - Each shard of the tracking table has one mutex. An allocation or a
 *     free takes exactly one shard lock, the shard of its user address.
 *   - Whole-heap walks (leak report, interior-pointer search, fork) take
 *     every shard lock in index order 0..N-1 and release them in reverse.
 *     No code path takes a shard lock while holding a higher-numbered one.
 *   - Statistics are atomics or shard-local counters read under the walk
 *     locks; no lock is held while a report is written to stderr, except
 *     by the whole-heap walks.
 *   - Options are written before the first allocation (or by the program
 *     itself, between operations) and read without locks.
 */
#ifndef AR_HEAP_INTERNAL_H
#define AR_HEAP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ar_heap.h"

/* 1 when compiled into the preload library (libarheap-preload.so, see
 * preload.c): arheap is then the process's malloc. */
#ifndef AR_HEAP_PRELOAD
#define AR_HEAP_PRELOAD 0
#endif

/* ------------------------------------------------------------------ records */

/* Bytes of a block's description kept in its record (copied at allocation,
 * so a description may live on the caller's stack). Longer ones are cut. */
#define AR_HEAP_DESC_CAPACITY 64

/* Where a record stands in a block's life. */
typedef enum ar_heap_state_e {
    AR_HEAP_STATE_UNUSED = 0, /* in the record pool */
    AR_HEAP_STATE_LIVE,       /* block allocated, record in the hash table */
    AR_HEAP_STATE_QUARANTINED, /* freed, memory held poisoned; still in the table */
    AR_HEAP_STATE_FREED       /* block returned; record kept in freed history */
} ar_heap_state_t;

/* A source location: file is a string with static storage (__FILE__). */
typedef struct ar_heap_site_s {
    const char *file;
    int line;
    uint32_t thread; /* OS thread id of the caller */
    const void *pc;  /* return address into the caller, or NULL */
} ar_heap_site_t;

/* Frames kept per stack (option stack_depth, at most this). */
#define AR_HEAP_STACK_MAX 8

/* A call stack: return addresses, innermost first. */
typedef struct ar_heap_stack_s {
    size_t depth;
    void *frames[AR_HEAP_STACK_MAX];
} ar_heap_stack_t;

/* The call stacks of one block, kept apart from its record so that records
 * stay small when stacks are off. From a per-shard pool (tracking.c). */
typedef struct ar_heap_frames_s {
    struct ar_heap_frames_s *next; /* pool link */
    void *alloc[AR_HEAP_STACK_MAX];
    void *free[AR_HEAP_STACK_MAX];
} ar_heap_frames_t;

/*
 * ar_heap_record_t: what the checker knows about one block. Records live
 * out of band, in pools of the tracking module, never next to the user's
 * bytes: an underflow can damage a block, not the checker's bookkeeping.
 */
typedef struct ar_heap_record_s {
    /* Hot: read or written by every allocation and free. */
    struct ar_heap_record_s *next; /* hash chain (live, quarantined) or history FIFO */
    uintptr_t user;                /* address handed to the program */
    struct ar_heap_record_s *qnext; /* quarantine FIFO (quarantined) */
    void *base;                    /* address the backend returned */
    size_t size;                   /* bytes the program asked for */
    size_t total;                  /* bytes taken from the backend */
    uint64_t seq;                  /* allocation number, from 1 */
    ar_heap_state_t state;
    uint8_t alloc_depth;           /* frames in frames->alloc (stack_depth) */
    uint8_t free_depth;            /* frames in frames->free */
    uint8_t flags;                 /* AR_HEAP_BLOCK_* of the block's layout */
    ar_heap_site_t alloc_site;
    ar_heap_site_t free_site;      /* valid when state is QUARANTINED or FREED */
    char desc[AR_HEAP_DESC_CAPACITY];
    struct ar_heap_frames_s *frames; /* call stacks, or NULL (stack_depth 0) */
} ar_heap_record_t;

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
    int report_path_set; /* 1 when report_path was given as an option */
    char report_path[AR_HEAP_PATH_CAPACITY];
    size_t freed_history;
    int canary;
    int fill;
    size_t quarantine_bytes;
    size_t check_every;
    int report_json;
    size_t stack_depth;
    int guard;
    int guard_below;
    int guard_align;
    size_t guard_sample;
    size_t guard_min_size;
    size_t guard_max_size;
    size_t guard_max_live;       /* 0: the mapping budget alone */
    size_t fail_nth;
    size_t fail_every;
    size_t fail_random;          /* per million */
    size_t fail_seed;
    char fail_site_file[AR_HEAP_PATH_CAPACITY]; /* option fail_file, or "" */
    int fail_site_line;          /* option fail_line; 0: no site fails */
    int help;
} ar_heap_options_t;

/* The options in force (options.c). */
extern ar_heap_options_t ar_heap_options;

/* Parse "key=value:key=value" into ar_heap_options; warnings name `origin`
 * (e.g. "AR_HEAP_OPTIONS"). Returns the number of problems. */
int ar_heap_options__parse(const char *text, const char *origin);

/* Reset ar_heap_options to the documented defaults. */
void ar_heap_options__reset(void);

/* Print every option, its default and meaning to stderr. */
void ar_heap_options__print_help(void);

/* The report path in force: option, else AGERUN_MEMORY_REPORT, else the
 * default. Empty string: no report file. */
const char *ar_heap_options__report_path(void);

/* ------------------------------------------------------------------ init */

/* Make sure the heap is initialised (options read, fork handlers registered). */
void ar_heap__ensure_init(void);

/* ar_heap__check_all, with `how` ("check", "exit") naming the occasion. */
size_t ar_heap__check_all_for(const char *how);

/* At exit, when the heap was used: the whole-heap check, then the leak
 * report (heap.c explains when it runs). */
void ar_heap__exit_check(void);

/*
 * The entry points' work, for callers that bring their own site (the
 * preload library's malloc family, whose site is its return address).
 * ar_heap__allocate_at: a block of `size` bytes aligned to `align` (0 for
 * the default), filled with AR_HEAP_FILL_NEW when `fill` and the option
 * say so; NULL with errno ENOMEM. ar_heap__release_at: untrack and release
 * `ptr` (not NULL), reporting a bad pointer or damage; 1 when freed.
 * ar_heap__realloc_at: the REALLOC contract.
 */
void *ar_heap__allocate_at(size_t size, size_t align, const ar_heap_site_t *site,
                           const char *desc, int fill);
int ar_heap__release_at(void *ptr, const char *operation, const ar_heap_site_t *site);
void *ar_heap__realloc_at(void *ptr, size_t size, const ar_heap_site_t *site, const char *desc);

/* ------------------------------------------------------------------ block */

/* Debug fill bytes: distinct values, so a hex dump tells at a glance what
 * it shows. Canary bytes are never one of these: they are derived from a
 * per-process secret and each byte's address (canary.c). */
#define AR_HEAP_FILL_NEW 0xbe   /* fresh bytes from MALLOC or REALLOC growth */
#define AR_HEAP_FILL_FREED 0xdf /* bytes of a block in the quarantine */

/* A block's layout flags (record.flags). */
#define AR_HEAP_BLOCK_CANARY 0x1u  /* head and tail zones hold canary bytes */
#define AR_HEAP_BLOCK_GUARDED 0x2u /* in a guard-page slot (guard.c) */
#define AR_HEAP_BLOCK_ALLOWED_LEAK 0x4u /* ar_heap__allow_leak: expected to outlive */
/* Its canaries were found damaged: the damage may reach libc's bookkeeping
 * next to the block, so its memory is never given back (lost on purpose). */
#define AR_HEAP_BLOCK_DAMAGED 0x8u

/* Where a new block lies: base and total cover every byte the checker
 * owns for it (head zone, user bytes, tail zone). */
typedef struct ar_heap_block_s {
    void *base;
    uintptr_t user;
    size_t total;
    uint8_t flags;
} ar_heap_block_t;

/* Obtain memory for a block of `size` user bytes whose address is a
 * multiple of `align` (a power of two; 0 or anything up to max_align_t's
 * alignment means the default): in a guard-page slot when the guard
 * options pick it, else from libc with canaries (options permitting).
 * Returns 0 when the size is too large or memory ran out. */
int ar_heap_block__obtain(size_t size, size_t align, ar_heap_block_t *out);

/* Give a block's memory back: to its guard slot when `flags` (the
 * record's) say AR_HEAP_BLOCK_GUARDED, else to libc. `base` and `total`
 * are the record's (what ar_heap_block__obtain returned). */
void ar_heap_block__release(void *base, size_t total, unsigned flags);

/* Whether the checker may read a block's bytes: not while a guarded
 * block sits in quarantine, its pages then being PROT_NONE. */
static inline int ar_heap_block__readable(const ar_heap_record_t *record)
{
    return !(record->flags & AR_HEAP_BLOCK_GUARDED) || record->state != AR_HEAP_STATE_QUARANTINED;
}

/* ------------------------------------------------------------------ guard */

/* Place a block of `size` bytes in a guard slot, when the guard options
 * select it (size range, sampling) and the mapping budget allows; its
 * address is a multiple of `align` (at most a page) and of guard_align,
 * unless guard_align is 1 and `align` is 0 (byte-exact). Returns
 * 0 when the block is not to be guarded or no slot could be had: the
 * caller then takes it from libc. */
int ar_heap_guard__obtain(size_t size, size_t align, ar_heap_block_t *out);

/* A guarded block enters the quarantine: its pages (record->base,
 * record->total) become PROT_NONE, their memory goes back to the OS, and
 * they cost no kernel mapping any more. */
void ar_heap_guard__protect(const ar_heap_record_t *record);

/* Release the guarded block whose pages are [base, base + total) to its
 * slot, closing those pages as protect does if they are still open. */
void ar_heap_guard__release(void *base, size_t total);

/* What a faulting address hits: the nearest guarded block. */
typedef struct ar_heap_guard_hit_s {
    uintptr_t user; /* the block's user address */
    size_t size;    /* its size */
    int state;      /* an ar_heap_state_t: LIVE, QUARANTINED or FREED */
} ar_heap_guard_hit_t;

/* Find the guarded block nearest to `addr` when addr lies in guard-slot
 * memory; 1 when found. Takes no lock and allocates nothing (it runs in
 * the fault handler). */
int ar_heap_guard__find(uintptr_t addr, ar_heap_guard_hit_t *hit);

/* The slot lock, a leaf: taken last by fork (after the quarantine's). */
void ar_heap_guard__lock(void);
void ar_heap_guard__unlock(void);

/* Guarded blocks live now. */
size_t ar_heap_guard__live(void);

/* ------------------------------------------------------------------ inject */

/* Restart the count of allocations and the fail_random sequence, and note
 * whether any fail_* option is on (after options were set). */
void ar_heap_inject__reset(void);

/* 1 while some fail_* option is on (set by ar_heap_inject__reset). */
extern _Atomic int ar_heap_inject_armed;

/* Count this allocation and say whether it is to fail (some option on). */
int ar_heap_inject__should_fail_slow(const ar_heap_site_t *site);

/* Whether the allocation at `site` is to fail: one load when no fail_*
 * option is on. */
static inline int ar_heap_inject__should_fail(const ar_heap_site_t *site)
{
    return atomic_load_explicit(&ar_heap_inject_armed, memory_order_relaxed) &&
           ar_heap_inject__should_fail_slow(site);
}

/* Failures injected so far. */
size_t ar_heap_inject__count(void);

/* ------------------------------------------------------------------ fault */

/* Install the SIGSEGV and SIGBUS handler (once; guard.c calls it before
 * the first guard slot exists). The previous handlers are kept and get
 * every fault that is not at a guarded block. */
void ar_heap_fault__install(void);

/* ------------------------------------------------------------------ canary */

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

/* Choose the process's canary secret (once, at initialisation). */
void ar_heap_canary__init(void);

/* Write the head and tail canaries of a block. */
void ar_heap_canary__write(const ar_heap_record_t *record);

/* Check the canaries; fill up to `max` damages (tail first, then head)
 * and return how many zones are damaged. */
size_t ar_heap_canary__check(const ar_heap_record_t *record, ar_heap_damage_t *out, size_t max);

/* ------------------------------------------------------------------ quarantine */

/* Prepare the quarantine (once, at initialisation). */
void ar_heap_quarantine__init(void);

/*
 * Poison the user bytes of a freed block and append it to the quarantine,
 * then take out the oldest blocks while more than `budget` bytes are held.
 * Those are returned as a list linked by qnext (NULL when none): they stay
 * chained and QUARANTINED until the caller retires them. Called with the
 * record's shard lock held; takes the quarantine's own lock inside it.
 */
ar_heap_record_t *ar_heap_quarantine__push(ar_heap_record_t *record, size_t budget);

/* Take out the oldest blocks while more than `budget` bytes are held (the
 * budget was lowered); returned as push does. Cheap when nothing is held.
 * Must be called with no shard lock held. */
ar_heap_record_t *ar_heap_quarantine__trim(size_t budget);

/* Blocks and bytes held now. */
void ar_heap_quarantine__held(size_t *blocks, size_t *bytes);

/* The quarantine's lock, taken after every shard lock by whole-heap
 * operations (fork). */
void ar_heap_quarantine__lock(void);
void ar_heap_quarantine__unlock(void);

/* Check that a quarantined block's user bytes still hold the poison. */
int ar_heap_quarantine__check_poison(const ar_heap_record_t *record, ar_heap_damage_t *out);

/* ------------------------------------------------------------------ tracking */

/* Publish a copy of *filled as a live record (its state is set to LIVE),
 * with the allocation's call stack when `stack` has frames, and count it
 * in the statistics. Returns 0 when no record could be had (the
 * checker's own memory is exhausted); nothing is changed then. */
int ar_heap_tracking__insert(const ar_heap_record_t *filled, const ar_heap_stack_t *stack);

/* A damaged block found by a free or a check, with a copy of its record
 * taken under the lock, to be reported once the lock is released. */
typedef struct ar_heap_finding_s {
    ar_heap_record_t record;
    ar_heap_damage_t damage;
    int evicted; /* 1: found as the block left the quarantine */
} ar_heap_finding_t;

#define AR_HEAP_FINDINGS_MAX 4

/* What ar_heap_tracking__free did. */
typedef struct ar_heap_free_result_s {
    int freed;                 /* 1: the block was live and is now freed */
    int quarantined;           /* 1: the address is a block already in quarantine */
    ar_heap_record_t previous; /* that block's record, when quarantined */
    void *release;             /* backend memory to release after reporting, or NULL
                                * (quarantined, or AR_HEAP_BLOCK_DAMAGED and kept) */
    size_t release_total;      /* that block's total, for ar_heap_block__release */
    unsigned release_flags;    /* that block's flags, for ar_heap_block__release */
    size_t finding_count;      /* damaged blocks found (may exceed the array) */
    ar_heap_finding_t findings[AR_HEAP_FINDINGS_MAX];
} ar_heap_free_result_t;

/*
 * Free the live block at `user`: check its canaries, then quarantine it
 * (options permitting) or move its record to the freed history, evicting
 * and checking the oldest quarantined blocks beyond the budget. Damage is returned in *result, not reported: the caller
 * reports it with no lock held.
 */
void ar_heap_tracking__free(uintptr_t user, const ar_heap_site_t *site,
                            const ar_heap_stack_t *stack, ar_heap_free_result_t *result);

/* Check every live and quarantined block; damaged ones are passed to
 * fn after every lock is released. Returns the number of damaged blocks. */
typedef void (*ar_heap_finding_fn)(const ar_heap_finding_t *finding, void *arg);
size_t ar_heap_tracking__check_all(ar_heap_finding_fn fn, void *arg);

/* Copy the live record of `user` to *out; 1 when found. */
int ar_heap_tracking__find_live(uintptr_t user, ar_heap_record_t *out);

/* Copy the most recent freed-history record of `user` to *out; 1 when found. */
int ar_heap_tracking__find_freed(uintptr_t user, ar_heap_record_t *out);

/* For the fault handler: copy the record of `user`, live or quarantined,
 * else the newest freed one; 1 when found. Only tries the shard lock (a
 * bounded number of times) and gives up rather than wait. */
int ar_heap_tracking__find_for_fault(uintptr_t user, ar_heap_record_t *out);

/* Copy the live record whose bytes [user, user+size] contain `addr`. */
int ar_heap_tracking__find_containing(uintptr_t addr, ar_heap_record_t *out);

/* Lock every shard (in order) / unlock them (in reverse). */
void ar_heap_tracking__lock_all(void);
void ar_heap_tracking__unlock_all(void);

/* With every shard locked: call fn on each live record. */
typedef void (*ar_heap_record_fn)(const ar_heap_record_t *record, void *arg);
void ar_heap_tracking__each_live_locked(ar_heap_record_fn fn, void *arg);

/* Shard-local counters summed with every shard locked. */
void ar_heap_tracking__sum_locked(ar_heap_stats_t *out);

/* Initialise the shards. */
void ar_heap_tracking__init(void);

/* Register the fork handlers (once per process: heap.c sees to that). */
void ar_heap_tracking__register_fork_handlers(void);

/* ------------------------------------------------------------------ stats */

/* Count `size` more live bytes; keeps the peak. */
void ar_heap_stats__add_live(size_t size);

/* Count `size` fewer live bytes. */
void ar_heap_stats__sub_live(size_t size);

/* Next allocation sequence number (1, 2, ...). */
uint64_t ar_heap_stats__next_seq(void);

/* The last sequence number handed out (0 before the first allocation). */
uint64_t ar_heap_stats__last_seq(void);

/* With every shard locked: all counters, the peak included, as one
 * consistent snapshot (what ar_heap__get_stats returns). */
void ar_heap_stats__snapshot_locked(ar_heap_stats_t *out);

/* ------------------------------------------------------------------ os */

/* Map `size` bytes of zeroed, readable and writable memory; NULL on failure. */
void *ar_heap_os__map(size_t size);
void ar_heap_os__unmap(void *addr, size_t size);

/* The calling thread's OS id (cached per thread). */
uint32_t ar_heap_os__thread_id(void);

/* In a child after fork: the cached thread id belongs to the parent. */
void ar_heap_os__forget_thread_id(void);

/* write() all of buf to fd, retrying on EINTR and short writes. */
void ar_heap_os__write_all(int fd, const char *buf, size_t len);

/* ------------------------------------------------------------------ stack */

struct ar_heap_out_s;

/* Prepare stack capture (loads the unwinder once, when stacks are on). */
void ar_heap_stack__init(void);

/* Fill *stack with backtrace() frames from the frame of return address
 * `pc` outward, at most stack_depth of them (stack.c). */
void ar_heap_stack__backtrace(ar_heap_stack_t *stack, const void *pc);

/* Capture the stack for a record: nothing but a test of the option on the
 * allocator's fast path when stacks are off. */
static inline void ar_heap_stack__capture(ar_heap_stack_t *stack, const void *pc)
{
    stack->depth = 0;
    if (ar_heap_options.stack_depth != 0)
        ar_heap_stack__backtrace(stack, pc);
}

/* Print a return address as "0xPC in fn (module+0xoffset)", the offset
 * that of the call instruction (fn when dladdr knows it). */
void ar_heap_stack__describe(struct ar_heap_out_s *out, const void *return_address);

/* Print `depth` frames, one "#N 0xPC in fn (module+0xoffset)" line each. */
void ar_heap_stack__print(struct ar_heap_out_s *out, void *const *frames, size_t depth);

/* While on, stack printing names modules from /proc/self/maps with raw
 * system calls instead of dladdr(): what the fault handler needs. */
void ar_heap_stack__signal_safe(int on);

/* Print an instruction address as "0xPC (module+0xoffset)", the module
 * found the signal-safe way. */
void ar_heap_stack__print_pc(struct ar_heap_out_s *out, const void *pc);

/* ------------------------------------------------------------------ report */

/*
 * ar_heap_out_t: a small buffered writer to a file descriptor. It formats
 * decimals, hex and strings itself: no malloc, no stdio, so it works while
 * the program's heap is damaged and from inside the allocator.
 */
typedef struct ar_heap_out_s {
    int fd;       /* -1: into `text` instead (ar_heap_out__init_text) */
    size_t len;
    char buf[512];
    char *text;   /* a caller's buffer, kept NUL-terminated */
    size_t text_size;
    size_t text_len;
} ar_heap_out_t;

void ar_heap_out__init(ar_heap_out_t *out, int fd);
/* A writer into buf[0..size): what does not fit is dropped. */
void ar_heap_out__init_text(ar_heap_out_t *out, char *buf, size_t size);
void ar_heap_out__str(ar_heap_out_t *out, const char *s);
void ar_heap_out__dec(ar_heap_out_t *out, uint64_t value);
void ar_heap_out__signed(ar_heap_out_t *out, long long value);
void ar_heap_out__hex(ar_heap_out_t *out, uintptr_t value);
void ar_heap_out__site(ar_heap_out_t *out, const ar_heap_site_t *site);
void ar_heap_out__flush(ar_heap_out_t *out);

/* Error kinds, named as they appear in reports. */
typedef enum ar_heap_error_e {
    AR_HEAP_ERROR_DOUBLE_FREE,
    AR_HEAP_ERROR_INVALID_FREE,
    AR_HEAP_ERROR_INVALID_ARGUMENT,
    AR_HEAP_ERROR_OVERFLOW,         /* heap-buffer-overflow: tail canary */
    AR_HEAP_ERROR_UNDERFLOW,        /* heap-buffer-underflow: head canary */
    AR_HEAP_ERROR_WRITE_AFTER_FREE, /* poison of a quarantined block */
    AR_HEAP_ERROR_USE_AFTER_FREE    /* a fault on a freed guarded block */
} ar_heap_error_t;

/* Name of an error kind ("double-free", ...). */
const char *ar_heap_report__error_name(ar_heap_error_t kind);

/*
 * Report a pointer handed to free or realloc that is not a live block, and
 * apply the error action. `operation` is "free" or "realloc"; `stack`, the
 * operation's own call stack, may be NULL.
 */
void ar_heap_report__bad_pointer(void *ptr, const char *operation, const ar_heap_site_t *site,
                                 const ar_heap_stack_t *stack);

/* Report a damaged block. `detected` says how it was found ("free",
 * "realloc", "check", "exit", "quarantine eviction"); site is that
 * operation's site (may have a NULL file). Does not apply the action. */
void ar_heap_report__damage(const ar_heap_finding_t *finding, const char *detected,
                            const ar_heap_site_t *site);

/* Report a free of a block that is already in the quarantine. Applies the
 * error action. */
void ar_heap_report__double_free(const ar_heap_record_t *record, const char *operation,
                                 const ar_heap_site_t *site, const ar_heap_stack_t *stack);

/* A fault at a guarded block, as the fault handler saw it. */
typedef struct ar_heap_fault_s {
    ar_heap_error_t kind;   /* OVERFLOW, UNDERFLOW or USE_AFTER_FREE */
    uintptr_t addr;         /* the faulting address */
    int access;             /* 'R' read, 'W' write, 0 unknown */
    const void *pc;         /* the faulting instruction, or NULL */
    uint32_t thread;        /* the faulting thread */
    ar_heap_guard_hit_t hit; /* the block, as its slot knows it */
    const ar_heap_record_t *record; /* its record, or NULL when it was not to be had */
} ar_heap_fault_t;

/* Report a guard-page fault. Async-signal-safe: write(2) only, and call
 * stacks printed without the dynamic loader. Does not apply the action. */
void ar_heap_report__fault(const ar_heap_fault_t *fault);

/* Report STRDUP(NULL) and similar misuse, then apply the error action. */
void ar_heap_report__invalid_argument(const char *what, const ar_heap_site_t *site);

/* Write a one-line warning "arheap: warning: <text>" to stderr. */
void ar_heap_report__warning(const char *text);

/* Say that `found` damaged blocks were found and only `shown` reported. */
void ar_heap_report__unshown(size_t found, size_t shown);

/* Error reports written so far. */
size_t ar_heap_report__errors(void);

/* Apply the configured error action (abort, exit, or return). */
void ar_heap_report__act(void);

/* ------------------------------------------------------------------ leaks */

/* Write the leak report (file and stderr summary). Returns the number of
 * leaked blocks that are not marked intentional. */
size_t ar_heap_leaks__report(void);

/* Whether a live block is left out of leak counts: allowed to leak, or
 * described with AR_HEAP_INTENTIONAL_LEAK_MARKER. */
int ar_heap_leaks__is_intentional(const ar_heap_record_t *record);

/* One leaked block as a report line: "  #seq  N bytes at 0x...  file:line  "desc"  thread T". */
void ar_heap_leaks__block_line(ar_heap_out_t *out, const ar_heap_record_t *record);

/* Set `flag` in the live record of `user`; 1 when it is live. */
int ar_heap_tracking__set_flag(uintptr_t user, uint8_t flag);

/* The exit check's work: the whole-heap check, then the leak report when
 * leak_report is set (ar_heap__exit_check calls it). */
void ar_heap_leaks__at_exit(void);

/* The description marker AgeRun uses for blocks leaked on purpose. */
#define AR_HEAP_INTENTIONAL_LEAK_MARKER "INTENTIONAL_LEAK_FOR_TESTING"

#endif /* AR_HEAP_INTERNAL_H */
