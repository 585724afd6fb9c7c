/*
 * thread.c: each thread's part of the heap, and the gate that stops the
 * world.
 *
 * Why: a heap that takes a lock or writes a shared counter on every
 * malloc and free does not scale with threads: every core waits for the
 * one cache line. Here each thread allocates from spans it owns (span.c),
 * counts in its own counters, numbers its allocations from a range it
 * reserved, and quarantines into its own batch (quarantine.c). Figures for
 * the whole heap are sums over the threads, read with the world stopped.
 *
 * The gate. Whole-heap operations (check_all, the leak report, a
 * checkpoint scan, statistics, fork) must not read a record or a canary
 * while another thread is halfway through writing it. Each operation runs
 * between enter and leave (ar_heap_internal.h), which make the thread's
 * `busy` counter odd, then even again, and look at `stopped`. A thread
 * stopping the world raises `stopped` and then waits for every busy
 * counter to be even: from then on no thread is inside, and one arriving
 * sees `stopped` and waits for the lock the stopper holds. Store busy,
 * load stopped on one side; store stopped, load busy on the other: that
 * needs a full fence on both sides, and the fast path is the side that
 * must not pay. membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) puts the
 * fence on every running thread of the process from the stopper's side,
 * so the fast path needs only a compiler barrier. Where the kernel lacks
 * it, the fast path fences itself (AR_HEAP_GATE_FENCE). `stopped` and that
 * flag are two bits of one word, ar_heap_world_gate: the step-in loads it
 * once and tests it against 0.
 *
 * The other order: a thread that steps in and reads `stopped` as 0 may
 * have read the 0 of a resume whose walk did not wait for it (it was
 * outside then). It must come after that walk, which read the records it
 * is about to write and may have repaired canaries it is about to read:
 * the resume stores 0 with a release, and the step-in loads it with an
 * acquire (the same plain load as a relaxed one on x86-64). A thread that
 * waited for the stopper's lock steps in the same way (one function,
 * ar_heap_thread__step_in): between letting the lock go and stepping in,
 * another stop, walk and resume can pass it by, and only the acquire
 * orders it after them. (It was a relaxed load there once; ThreadSanitizer
 * caught the stress test's leak checks racing with such a thread's frees.)
 *
 * Thread ends. A key destructor passes the thread's batch to the global
 * quarantine, adds its live-bytes delta to the global figure, and leaves
 * its state on the idle list: the next thread to start takes it over,
 * spans, counters and all, so memory stays bounded however many threads
 * come and go. Slots of an idle state's spans freed meanwhile wait in its
 * inbox of returned slots for the next owner; the chunks of other
 * threads' slots it began are sent to their owners (span.c, Returns).
 *
 * fork. The prepare handler stops the world (every other thread outside
 * the heap), the parent resumes it; in the child only the forking thread
 * exists, so every other state becomes idle, its outgoing chunks of
 * returned slots sent to their owners as at a thread's end.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

AR_HEAP_TLS _Thread_local ar_heap_thread_t *ar_heap_thread_self;
_Atomic unsigned ar_heap_world_gate;
_Atomic uint64_t ar_heap_seq_generation;

/* Allocation numbers a thread reserves at once. */
#define AR_HEAP_SEQ_RANGE 1024

static struct {
    pthread_mutex_t lock;      /* held by the thread that stopped the world */
    pthread_mutex_t list_lock; /* the lists below */
    _Atomic(ar_heap_thread_t *) all;
    ar_heap_thread_t *idle;
    pthread_key_t key;
    int key_made;
    int membarrier;            /* 1: membarrier does the fencing */
    _Atomic uint64_t seq_next; /* the first number no thread reserved */
    _Atomic int64_t live;      /* live bytes flushed from the threads' deltas */
    _Atomic int64_t peak;      /* highest sum seen at a flush */
    unsigned saved_depth;      /* the stopper's depth while stopped */
    _Atomic unsigned attached; /* states owned by a live thread (written under list_lock) */
    _Atomic(ar_heap_thread_t *) stopper; /* the state of the thread that holds `lock` */
    _Atomic unsigned late;     /* states with late set */
    int saved_cancel;          /* the stopper's cancel state while stopped */
} world = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0, 1, 0, 0,
            0, 0, NULL, 0, 0 };

/* Set by the thread's key destructor (detach): an operation after it
 * takes a late state. */
static AR_HEAP_TLS _Thread_local int ar_heap_thread_gone;

/* With list_lock held (or alone, in a forked child): one state more or
 * less owned by a live thread. */
static void ar_heap_thread__count_attached(int change)
{
    unsigned n = atomic_load_explicit(&world.attached, memory_order_relaxed);
    atomic_store_explicit(&world.attached, n + (unsigned)change, memory_order_relaxed);
}

unsigned ar_heap_thread__attached(void)
{
    return atomic_load_explicit(&world.attached, memory_order_relaxed);
}

/* ------------------------------------------------------------ threads */

static void ar_heap_thread__detach(void *arg);

/* A fresh state, mapped (never from the heap it belongs to). */
static ar_heap_thread_t *ar_heap_thread__make(void)
{
    ar_heap_thread_t *t = ar_heap_os__map(sizeof *t);
    if (t == NULL) {
        ar_heap_report__warning("out of memory for a thread's heap state; aborting");
        abort();
    }
    ar_heap_quarantine__init_thread(t);
    ar_heap_thread_t *head = atomic_load_explicit(&world.all, memory_order_relaxed);
    t->next = head;
    atomic_store_explicit(&world.all, t, memory_order_release);
    return t;
}

/* Whether the thread of this process with that id has exited. */
static int ar_heap_thread__exited(uint32_t tid)
{
#if defined(__linux__) && defined(SYS_tgkill)
    return syscall(SYS_tgkill, (long)getpid(), (long)tid, 0L) != 0 && errno == ESRCH;
#else
    (void)tid;
    return 0;
#endif
}

/*
 * Late states. glibc frees a thread's last buffers (strerror's for an
 * unknown number, dlerror's) after its key destructors ran, through free:
 * that operation takes a state which no destructor gives back. Left so,
 * each such thread kept a state of about 28 KiB and what it held (3000
 * threads that called strerror: 1.7 MiB to 120 MiB peak RSS). Such a
 * state is marked late, and a thread that needs a state takes the first
 * late one whose thread has exited, after doing for it what its detach
 * would have done. A thread id reused at once only delays that.
 */
static ar_heap_thread_t *ar_heap_thread__reclaim(void)
{
    if (atomic_load_explicit(&world.late, memory_order_relaxed) == 0)
        return NULL;
    for (ar_heap_thread_t *t = atomic_load_explicit(&world.all, memory_order_acquire); t != NULL;
         t = t->next) {
        int one = 1;
        if (atomic_load_explicit(&t->late, memory_order_relaxed) != 1 ||
            !atomic_compare_exchange_strong_explicit(&t->late, &one, 2, memory_order_acquire,
                                                     memory_order_relaxed))
            continue;
        if (!ar_heap_thread__exited(t->tid)) {
            atomic_store_explicit(&t->late, 1, memory_order_release);
            continue;
        }
        /* As its thread: what the operations inside read as theirs. */
        ar_heap_thread_self = t;
        ar_heap_thread__enter_as(t);
        ar_heap_life__thread_ends(t);
        ar_heap_thread__flush_delta(t);
        ar_heap_thread__leave(t);
        ar_heap_thread_self = NULL;
        atomic_store_explicit(&t->late, 0, memory_order_relaxed);
        atomic_fetch_sub_explicit(&world.late, 1, memory_order_relaxed);
        return t; /* still counted attached: the caller takes it over */
    }
    return NULL;
}

/* The calling thread's first operation: take an idle state or make one. */
ar_heap_thread_t *ar_heap_thread__attach(void)
{
    ar_heap_thread_t *t = ar_heap_thread__reclaim();
    pthread_mutex_lock(&world.list_lock);
    if (t == NULL) {
        t = world.idle;
        if (t != NULL)
            world.idle = t->next_idle;
        else
            t = ar_heap_thread__make();
        ar_heap_thread__count_attached(1);
    }
    pthread_mutex_unlock(&world.list_lock);
    t->next_idle = NULL;
    t->attached = 1;
    t->tid = ar_heap_os__thread_id();
    t->stack_lo = UINTPTR_MAX; /* not known: no address lies in [lo, hi) */
    t->stack_hi = 0;
    ar_heap_thread_self = t;
    /* Bounds of the stack for the frame walk; may allocate (os.c), so only
     * with the state in place: the preload library then serves the call
     * from its bootstrap arena. */
    t->depth++;
    uintptr_t lo, hi;
    if (ar_heap_os__stack_bounds(&lo, &hi)) {
        /* The upper bound first: a walk from a signal handler in between
         * sees lo still UINTPTR_MAX, not a real lo under hi 0 (whose
         * hi - 16 would bound nothing). */
        t->stack_hi = hi;
        atomic_signal_fence(memory_order_seq_cst);
        t->stack_lo = lo;
    }
    if (ar_heap_thread_gone) {
        /* Its key destructor ran: another round of them may call it
         * again (detach clears the mark), glibc's last frees will not. */
        atomic_fetch_add_explicit(&world.late, 1, memory_order_relaxed);
        atomic_store_explicit(&t->late, 1, memory_order_release);
    }
    if (world.key_made)
        (void)pthread_setspecific(world.key, t);
    t->depth--;
    return t;
}

/* The thread ends (key destructor): its batch and delta go global, its
 * state becomes idle. An operation after this (another destructor's
 * free) attaches again. */
static void ar_heap_thread__detach(void *arg)
{
    ar_heap_thread_t *t = arg;
    if (t == NULL || t != ar_heap_thread_self)
        return;
    /* A late state given back by its own thread after all: not by
     * another (which holds the mark at 2 only while it finds this thread
     * alive). */
    for (int late = 1; atomic_load_explicit(&t->late, memory_order_relaxed) != 0; late = 1)
        if (atomic_compare_exchange_weak_explicit(&t->late, &late, 0, memory_order_relaxed,
                                                  memory_order_relaxed))
            atomic_fetch_sub_explicit(&world.late, 1, memory_order_relaxed);
    ar_heap_thread__enter();
    ar_heap_life__thread_ends(t);
    ar_heap_thread__flush_delta(t);
    ar_heap_thread__leave(t);
    ar_heap_thread_self = NULL;
    ar_heap_thread_gone = 1;
    pthread_mutex_lock(&world.list_lock);
    t->attached = 0;
    t->next_idle = world.idle;
    world.idle = t;
    ar_heap_thread__count_attached(-1);
    pthread_mutex_unlock(&world.list_lock);
}

void ar_heap_thread__each(void (*fn)(ar_heap_thread_t *thread, void *arg), void *arg)
{
    for (ar_heap_thread_t *t = atomic_load_explicit(&world.all, memory_order_acquire); t != NULL;
         t = t->next)
        fn(t, arg);
}

/* ------------------------------------------------------------ the gate */

/* Arrived while the world is stopped: step out, wait for the stopper's
 * lock, step in again, as enter does (ar_heap_thread__step_in). Between
 * letting the lock go and stepping in, this thread is outside: another
 * thread may stop the world, walk and resume without waiting for it. The
 * step-in's acquire load of `stopped` then reads that resume's 0 and
 * orders this thread after that walk too; the lock only ordered it after
 * the stops before. */
void ar_heap_thread__wait(ar_heap_thread_t *self)
{
    /* The stopper itself goes on: every other thread is outside, and its
     * lock is the one this would wait for. A fork's prepare handler that
     * the program registered before the heap registered its own runs
     * after the heap's, with the world stopped (glibc runs prepare
     * handlers newest first), and may allocate. */
    if (atomic_load_explicit(&world.stopper, memory_order_relaxed) == self)
        return;
    do {
        unsigned b = atomic_load_explicit(&self->busy, memory_order_relaxed);
        atomic_store_explicit(&self->busy, b + 1, memory_order_release);
        pthread_mutex_lock(&world.lock);
        pthread_mutex_unlock(&world.lock);
    } while (ar_heap_thread__step_in(self));
}

static void ar_heap_world__barrier(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    if (world.membarrier &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
        return;
#endif
    atomic_thread_fence(memory_order_seq_cst);
}

void ar_heap_world__stop(void)
{
    ar_heap_thread_t *self = ar_heap_thread_self;
    /* Step out of any operation this thread is in: a second stopper waits
     * for world.lock without holding up the first. */
    unsigned depth = 0;
    if (self != NULL && self->depth > 0) {
        depth = self->depth;
        self->depth = 0;
        unsigned b = atomic_load_explicit(&self->busy, memory_order_relaxed);
        atomic_store_explicit(&self->busy, b + 1, memory_order_release);
    }
    /* The whole stop, its report's writes and waits included, is not
     * cancellable: see ar_heap_os__cancel_off. */
    int cancel = ar_heap_os__cancel_off();
    pthread_mutex_lock(&world.lock);
    world.saved_cancel = cancel;
    world.saved_depth = depth;
    atomic_store_explicit(&world.stopper, self, memory_order_relaxed);
    atomic_fetch_or_explicit(&ar_heap_world_gate, AR_HEAP_GATE_STOPPED,
                             AR_HEAP_TSAN ? memory_order_seq_cst : memory_order_relaxed);
    ar_heap_world__barrier();
    for (ar_heap_thread_t *t = atomic_load_explicit(&world.all, memory_order_acquire); t != NULL;
         t = t->next) {
        if (t == self)
            continue;
        for (unsigned spins = 0;
             atomic_load_explicit(&t->busy, AR_HEAP_TSAN ? memory_order_seq_cst
                                                         : memory_order_acquire) &
             1u;
             spins++)
            if (spins > 64)
                sched_yield();
    }
}

void ar_heap_world__resume(void)
{
    ar_heap_thread_t *self = ar_heap_thread_self;
    unsigned depth = world.saved_depth;
    int cancel = world.saved_cancel;
    atomic_store_explicit(&world.stopper, NULL, memory_order_relaxed);
    atomic_fetch_and_explicit(&ar_heap_world_gate, ~AR_HEAP_GATE_STOPPED, memory_order_release);
    pthread_mutex_unlock(&world.lock);
    ar_heap_os__cancel_back(cancel);
    if (self != NULL && depth > 0) {
        self->depth = 0;
        (void)ar_heap_thread__enter();
        self->depth = depth;
    }
}

/* ------------------------------------------------------------ numbers */

uint64_t ar_heap_thread__refill_seq(ar_heap_thread_t *self)
{
    self->seq_gen = atomic_load_explicit(&ar_heap_seq_generation, memory_order_acquire);
    self->seq_next = atomic_fetch_add_explicit(&world.seq_next, AR_HEAP_SEQ_RANGE,
                                               memory_order_relaxed);
    self->seq_end = self->seq_next + AR_HEAP_SEQ_RANGE;
    return self->seq_next++;
}

/*
 * The mark must be above every number handed out so far and below every
 * number handed out after it. The caller keeps its range when it is the
 * newest one reserved (so that one thread's numbers stay dense: a mark,
 * then one allocation, then a mark moves by one), else takes the newest;
 * every other thread sees the generation move and reserves a new range,
 * above the mark, at its next allocation.
 */
uint64_t ar_heap_thread__mark(void)
{
    ar_heap_thread_t *self = ar_heap_thread__enter();
    uint64_t gen = atomic_fetch_add_explicit(&ar_heap_seq_generation, 1, memory_order_acq_rel) + 1;
    if (self->seq_end == 0 ||
        self->seq_end != atomic_load_explicit(&world.seq_next, memory_order_acquire)) {
        self->seq_next = atomic_fetch_add_explicit(&world.seq_next, AR_HEAP_SEQ_RANGE,
                                                   memory_order_relaxed);
        self->seq_end = self->seq_next + AR_HEAP_SEQ_RANGE;
    }
    self->seq_gen = gen;
    uint64_t mark = self->seq_next - 1;
    ar_heap_thread__leave(self);
    return mark;
}

/*
 * Live bytes and their peak. Each thread keeps the bytes it allocated less
 * those it freed since its last flush (delta) and the highest that delta
 * reached (delta_peak); past 64 KiB either way it adds them to the global
 * figure. The global peak is the highest flushed figure plus a thread's
 * peak delta: exact in a single thread, and within 64 KiB per thread
 * otherwise (statistics read the unflushed deltas too).
 */
void ar_heap_thread__flush_delta(ar_heap_thread_t *self)
{
    int64_t before = atomic_fetch_add_explicit(&world.live, self->delta, memory_order_relaxed);
    int64_t high = before + self->delta_peak;
    int64_t peak = atomic_load_explicit(&world.peak, memory_order_relaxed);
    while (high > peak && !atomic_compare_exchange_weak_explicit(&world.peak, &peak, high,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed)) {
    }
    self->delta = 0;
    self->delta_peak = 0;
}

typedef struct ar_heap_sum_s {
    ar_heap_stats_t *out;
    int64_t unflushed_peak;
} ar_heap_sum_t;

static void ar_heap_thread__add(ar_heap_thread_t *t, void *arg)
{
    ar_heap_sum_t *sum = arg;
    sum->out->total_allocations += t->allocations;
    sum->out->total_bytes += t->allocated_bytes;
    sum->out->live_blocks += t->allocations - t->frees;
    sum->out->live_bytes += t->allocated_bytes - t->freed_bytes;
    sum->unflushed_peak += t->delta_peak;
}

void ar_heap_stats__snapshot_stopped(ar_heap_stats_t *out)
{
    memset(out, 0, sizeof *out);
    ar_heap_sum_t sum = { out, 0 };
    ar_heap_thread__each(ar_heap_thread__add, &sum);
    int64_t peak = atomic_load_explicit(&world.peak, memory_order_relaxed);
    int64_t with = atomic_load_explicit(&world.live, memory_order_relaxed) + sum.unflushed_peak;
    if (with > peak)
        peak = with;
    out->peak_live_bytes = peak > 0 ? (size_t)peak : 0;
    if (out->peak_live_bytes < out->live_bytes)
        out->peak_live_bytes = out->live_bytes;
    ar_heap_quarantine__held(&out->quarantine_blocks, &out->quarantine_bytes);
    out->guarded_blocks = ar_heap_guard__live();
    out->guard_mechanism = ar_heap_guard__mechanism_name(ar_heap_guard__mechanism());
    out->errors_reported = ar_heap_report__errors();
    out->failures_injected = ar_heap_inject__count();
}

/* ------------------------------------------------------------ fork, init */

static void ar_heap_thread__before_fork(void)
{
    /* A state first, so that the stopper is known by it: a thread without
     * one that allocated in a later prepare handler would attach, and
     * wait for the list lock held below. */
    ar_heap_thread__leave(ar_heap_thread__enter());
    ar_heap_world__stop();
    pthread_mutex_lock(&world.list_lock);
}

static void ar_heap_thread__after_fork_parent(void)
{
    pthread_mutex_unlock(&world.list_lock);
    ar_heap_world__resume();
}

/* membarrier for this process, or the fast path fences itself. */
static void ar_heap_thread__register_membarrier(void)
{
    world.membarrier = 0;
#if defined(__linux__) && defined(SYS_membarrier)
    world.membarrier =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
    if (world.membarrier)
        atomic_fetch_and_explicit(&ar_heap_world_gate, ~AR_HEAP_GATE_FENCE, memory_order_relaxed);
    else
        atomic_fetch_or_explicit(&ar_heap_world_gate, AR_HEAP_GATE_FENCE, memory_order_relaxed);
}

static void ar_heap_thread__after_fork_child(void)
{
    ar_heap_thread_t *self = ar_heap_thread_self;
    ar_heap_os__forget_thread_id();
    pthread_mutex_unlock(&world.list_lock);
    /* The only thread: register again (the child is a new process). */
    ar_heap_thread__register_membarrier();
    for (ar_heap_thread_t *t = atomic_load_explicit(&world.all, memory_order_relaxed); t != NULL;
         t = t->next) {
        if (t == self)
            continue;
        atomic_store_explicit(&t->busy, 0, memory_order_relaxed);
        t->depth = 0;
        atomic_store_explicit(&t->late, 0, memory_order_relaxed); /* idle below */
        if (t->attached) {
            /* Its thread is not in the child: the slots of other threads'
             * spans it released go to their owners now, as they would
             * have when it ended (else they wait for the next thread to
             * take this state over). */
            ar_heap_span__return_all(t);
            t->attached = 0;
            t->next_idle = world.idle;
            world.idle = t;
            ar_heap_thread__count_attached(-1);
        }
    }
    atomic_store_explicit(&world.late, 0, memory_order_relaxed);
    if (self != NULL)
        self->tid = ar_heap_os__thread_id();
    ar_heap_world__resume();
    /* Blocks inherited from the parent are not the child's leaks. */
    ar_heap_leaks__forked();
    ar_heap_suppress__forked();
    ar_heap_fault__forked();
    ar_heap_symbol__forked();
}

void ar_heap_thread__init(void)
{
    ar_heap_thread__register_membarrier();
    if (pthread_key_create(&world.key, ar_heap_thread__detach) == 0)
        world.key_made = 1;
    pthread_atfork(ar_heap_thread__before_fork, ar_heap_thread__after_fork_parent,
                   ar_heap_thread__after_fork_child);
    /* A thread that operated before the key existed (the initialising one)
     * is registered now. */
    if (ar_heap_thread_self != NULL && world.key_made)
        (void)pthread_setspecific(world.key, ar_heap_thread_self);
}
