/*
 * fault.c: the SIGSEGV/SIGBUS handler behind guard pages.
 *
 * A touch of a guard page, or of a guarded block's pages while it sits in
 * quarantine, faults at the guilty instruction. This handler finds the
 * guarded block nearest to the faulting address (guard.c), reports the
 * overflow, underflow or use after free with the block's record, and then
 * lets the fault end the process:
 *
 *   - on_error=exit: _exit(error_exitcode) right after the report;
 *   - otherwise (abort, and continue, since a faulting instruction can not
 *     be skipped): the handler resets the signal to its default action,
 *     raises it and returns, and the process dies by SIGSEGV (or SIGBUS)
 *     at that instruction, where a debugger or a core file shows it.
 *
 * One report at a time: a second thread's fault in guard memory waits for
 * the end the first one's report brings.
 *
 * Faults that are not at guarded blocks go to the handler that was
 * installed before arheap's, called as it asked to be: with or without
 * SA_SIGINFO, with its sa_mask blocked and its signal too unless
 * SA_NODEFER, and once only if SA_RESETHAND; or to the default action.
 * A fault inside this handler (the heap's records being damaged, or a
 * block's file name no longer readable, say) can not loop, nor reach the
 * program's handler: a thread that faults while already handling one
 * resets the default action and dies by it. The report writes what the
 * fault itself told before it reads the block's record.
 *
 * Async-signal-safety: the handler allocates nothing and uses no stdio;
 * it reads the slot table and the block's record without locks, and
 * writes the report with write(2), naming modules from /proc/self/maps
 * instead of calling dladdr(). The faulting call stack is walked from the
 * signal's context (stack.c). Symbols (symbol.c) come from a child
 * process, after the lines that say what faulted are written.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static struct {
    pthread_once_t once;
    struct sigaction previous_segv;
    struct sigaction previous_bus;
    /* 1 once a previous handler installed with SA_RESETHAND was called:
     * its signal's next foreign fault takes the default action. */
    _Atomic int reset_segv;
    _Atomic int reset_bus;
    /* The thread writing a fault report (0: none). The report ends the
     * process; another thread's fault meanwhile waits for that end. */
    _Atomic int reporter;
} fault = { PTHREAD_ONCE_INIT };

#if defined(__GNUC__)
__attribute__((tls_model("initial-exec")))
#endif
static _Thread_local int ar_heap_fault_busy;

static void ar_heap_fault__to_default(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(sig, &sa, NULL);
}

/* End by the signal's default action: it is raised again, blocked while
 * the handler runs, and comes as it returns. Until stop 43 only a sent
 * signal was raised, and a real fault was left to fault again; but the
 * kernel's own SIGSEGV for a signal it could not deliver (SI_KERNEL, a
 * positive code) has no instruction to fault again, and the process
 * went on with arheap's handler gone. */
static void ar_heap_fault__die(int sig)
{
    ar_heap_fault__to_default(sig);
    (void)raise(sig);
}

/*
 * Call the previous handler as the kernel would have: with its sa_mask
 * blocked, and its signal too unless it asked for SA_NODEFER (arheap's
 * handler runs with the signal blocked: it is then unblocked); the mask
 * is restored when it returns. pthread_sigmask is async-signal-safe.
 */
static void ar_heap_fault__call(const struct sigaction *previous, int sig, siginfo_t *info,
                                void *context)
{
    sigset_t old, change;
    change = previous->sa_mask;
    if (!(previous->sa_flags & SA_NODEFER))
        sigaddset(&change, sig);
    (void)pthread_sigmask(SIG_BLOCK, &change, &old);
    if (previous->sa_flags & SA_NODEFER) {
        sigemptyset(&change);
        sigaddset(&change, sig);
        (void)pthread_sigmask(SIG_UNBLOCK, &change, NULL);
    }
    if (previous->sa_flags & SA_SIGINFO)
        previous->sa_sigaction(sig, info, context);
    else
        previous->sa_handler(sig);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A fault that is not arheap's: the previous handler's business. */
static void ar_heap_fault__pass_on(int sig, siginfo_t *info, void *context)
{
    const struct sigaction *previous = sig == SIGBUS ? &fault.previous_bus : &fault.previous_segv;
    /* sa_handler and sa_sigaction share their storage: SIG_DFL and
     * SIG_IGN read the same through either. */
    int handler = previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN;
    /* A handler installed with SA_RESETHAND is called once; after that
     * the signal's disposition is the default one, as the kernel would
     * have made it (arheap's handler stays, for guard-page faults). */
    if (handler && (previous->sa_flags & SA_RESETHAND)) {
        _Atomic int *reset = sig == SIGBUS ? &fault.reset_bus : &fault.reset_segv;
        if (atomic_exchange_explicit(reset, 1, memory_order_relaxed))
            handler = 0;
    }
    if (handler) {
        ar_heap_fault__call(previous, sig, info, context);
        return;
    }
    if (previous->sa_handler == SIG_IGN && info != NULL && info->si_code <= 0)
        return; /* a sent signal the program ignores: ignored still */
    /* Default, or an ignored real fault, which could only loop. */
    ar_heap_fault__die(sig);
}

/* What the CPU says about the access: 'R', 'W', or 0 when it does not. */
static int ar_heap_fault__access(const void *context)
{
#if defined(__x86_64__) && defined(REG_ERR)
    const ucontext_t *uc = context;
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 'W' : 'R';
#else
    (void)context;
    return 0;
#endif
}

static const void *ar_heap_fault__pc(const void *context)
{
#if defined(__x86_64__) && defined(REG_RIP)
    const ucontext_t *uc = context;
    return (const void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    const ucontext_t *uc = context;
    return (const void *)uc->uc_mcontext.pc;
#else
    (void)context;
    return NULL;
#endif
}

#if defined(__x86_64__) && defined(REG_CR2) && defined(REG_TRAPNO) && defined(REG_RIP)
/* 1 when the interrupted instruction follows a `syscall` (0f 05): a
 * signal the thread sent itself (raise, kill) comes as that call
 * returns. Code is read within the instruction's own 4 KiB. */
static int ar_heap_fault__after_syscall(const ucontext_t *uc)
{
    uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    if (rip % 4096 < 2)
        return 0;
    const unsigned char *code = (const unsigned char *)rip;
    return code[-2] == 0x0f && code[-1] == 0x05;
}
#endif

/*
 * The siginfo the handler can trust. The kernel's, as a rule; but a
 * program that put arheap's handler back with signal() (old =
 * signal(SIGSEGV, mine); ...; signal(SIGSEGV, old), as test frameworks do
 * around a test) installed it without SA_SIGINFO, and the kernel then
 * fills in no siginfo: `info` points at whatever the stack held. On
 * x86-64 the context holds the thread's last trap: its number (14, a
 * page fault), the faulting address (CR2) and the error code (bit 0: the
 * page was present). One siginfo is made from those into `own`: a
 * fault's, or else a sent signal's (SI_USER). The last trap may be an
 * earlier one (a fault the program's handler repaired), so a signal that
 * comes right after a `syscall` instruction reads as sent, as raise()'s
 * and kill()'s to the thread itself do. Elsewhere NULL: nothing tells;
 * the signal is passed on, and where the program ignores it the process
 * ends by it. Under Valgrind `info` is kept: Valgrind fills it in for
 * every handler, and its context's trap number is not the kernel's (a
 * sent signal read as a page fault). Every decision below reads what
 * this returns. Until stop 42 only the faulting address was read from
 * the context, and the other decisions read the stack's garbage (stop
 * 43: an ignored real fault looped for ever, a sent SIGSEGV was lost).
 */
static siginfo_t *ar_heap_fault__info(int sig, siginfo_t *info, const void *context,
                                      siginfo_t *own)
{
    struct sigaction now;
    if (ar_heap_valgrind__running() || sigaction(sig, NULL, &now) != 0 ||
        (now.sa_flags & SA_SIGINFO))
        return info;
#if defined(__x86_64__) && defined(REG_CR2) && defined(REG_TRAPNO) && defined(REG_RIP)
    const ucontext_t *uc = context;
    memset(own, 0, sizeof *own);
    own->si_signo = sig;
    own->si_code = SI_USER;
    long trap = uc != NULL ? (long)uc->uc_mcontext.gregs[REG_TRAPNO] : 0;
    if (trap != 0 && !ar_heap_fault__after_syscall(uc)) {
        if (trap == 14) {
            own->si_code = sig == SIGBUS ? BUS_ADRERR
                           : (uc->uc_mcontext.gregs[REG_ERR] & 1) ? SEGV_ACCERR : SEGV_MAPERR;
            own->si_addr = (void *)uc->uc_mcontext.gregs[REG_CR2];
        } else {
            /* Another trap (a general-protection fault, 13: a
             * non-canonical address): the kernel's SI_KERNEL, no
             * address. Until stop 43's last change it read as sent, and
             * an ignored one looped. */
            own->si_code = SI_KERNEL;
        }
    }
    return own;
#else
    (void)context;
    (void)own;
    return NULL;
#endif
}

/* The faulting address of a real fault: 0 when the signal was sent. */
static int ar_heap_fault__address(const siginfo_t *info, uintptr_t *addr)
{
    if (info == NULL || info->si_code <= 0)
        return 0;
    *addr = (uintptr_t)info->si_addr;
    return 1;
}

/* This thread becomes the one that writes a fault report. While another
 * thread writes one, which ends the process, this one waits for that,
 * its own fault unreported (until stop 42 both wrote, and the first to
 * finish ended the process in the middle of the other's report). The
 * wait looks again each second: in a child forked meanwhile (from a
 * signal handler of this very thread, say) no report is being written,
 * and the fault is reported there. */
static void ar_heap_fault__become_reporter(void)
{
    int me = (int)ar_heap_os__thread_id();
    for (;;) {
        int none = 0;
        if (atomic_compare_exchange_strong(&fault.reporter, &none, me))
            return;
        struct timespec second = { 1, 0 };
        (void)nanosleep(&second, NULL);
        me = (int)ar_heap_os__thread_id(); /* a forked child's own id */
    }
}

static void ar_heap_fault__handler(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    if (ar_heap_fault_busy) {
        ar_heap_fault__die(sig); /* faulted while reporting: no loop */
        return;
    }
    ar_heap_fault_busy = 1;
    ar_heap_fault_t f;
    uintptr_t addr = 0;
    siginfo_t own;
    info = ar_heap_fault__info(sig, info, context, &own);
    if (!ar_heap_fault__address(info, &addr) ||
        !(ar_heap_guard__nearest(addr, &f.hit) || ar_heap_life__closed_hit(addr, &f.hit))) {
        ar_heap_fault_busy = 0;
        errno = saved_errno;
        ar_heap_fault__pass_on(sig, info, context);
        return;
    }
    ar_heap_fault__become_reporter();
    f.addr = addr;
    f.access = ar_heap_fault__access(context);
    f.pc = ar_heap_fault__pc(context);
    f.depth = ar_heap_stack__from_context(context, f.frames, AR_HEAP_STACK_MAX);
    f.thread = ar_heap_os__thread_id();
    /* The record: read without a lock (index.c), as the slot says now. A
     * block whose free is in progress counts as freed. */
    ar_heap_view_t record;
    ar_heap_index__view(&f.hit.slot, &record);
    f.record = &record;
    if (record.state == AR_HEAP_STATE_UNUSED || (record.flags & AR_HEAP_BLOCK_FORGOTTEN))
        f.record = NULL; /* freed_history=0: what the slot knows is all there is */
    else
        f.hit.state = record.state == AR_HEAP_STATE_FREEING ? (int)AR_HEAP_STATE_QUARANTINED
                                                            : (int)record.state;
    if (f.hit.state != AR_HEAP_STATE_LIVE)
        f.kind = AR_HEAP_ERROR_USE_AFTER_FREE;
    else if (f.addr < f.hit.user)
        f.kind = AR_HEAP_ERROR_UNDERFLOW;
    else
        f.kind = AR_HEAP_ERROR_OVERFLOW;
    ar_heap_report__fault(&f);
    if (ar_heap_options.on_error == AR_HEAP_ACTION_EXIT)
        _exit(ar_heap_options.error_exitcode);
    /* The default action, and the signal raised now: blocked while the
     * handler runs, it comes as the handler returns, with the context of
     * the faulting instruction. Re-faulting is not enough: while the
     * report was written another thread may have reused the block's slot
     * and opened its pages, and the instruction would then go through
     * and the program on (until stop 42 it did). */
    ar_heap_fault__to_default(sig);
    (void)raise(sig);
    errno = saved_errno;
}

/* A child forked while another thread wrote a fault report: that thread
 * is not in the child, and its report will not end the child (until
 * stop 42 the child's first fault waited for it forever). */
void ar_heap_fault__forked(void)
{
    atomic_store(&fault.reporter, 0);
}

/*
 * SA_ONSTACK: on the thread's alternate signal stack where it has one.
 * Not under Valgrind: its signal delivery (3.19) does not grow the main
 * stack for the frame of a handler installed with SA_ONSTACK, even in a
 * thread that has no alternate stack and so takes the frame on its main
 * stack. A fault whose frame reached below the deepest the stack had
 * been then died of a SIGSEGV with no report ("Can't extend stack ...
 * during signal delivery"): in stop 42, four guarded use-after-free
 * cases of check-valgrind, once the libraries were bound at load and no
 * lazy resolver had taken the stack deeper before (stop 43 found why).
 * Under Valgrind every report is then written on the faulting stack.
 */
static void ar_heap_fault__install_once(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ar_heap_fault__handler;
    sa.sa_flags = SA_SIGINFO | (ar_heap_valgrind__running() ? 0 : SA_ONSTACK);
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &fault.previous_segv) != 0 ||
        sigaction(SIGBUS, &sa, &fault.previous_bus) != 0)
        ar_heap_report__warning("guard pages: could not install the SIGSEGV/SIGBUS handler; "
                                "faults will not be reported");
}

void ar_heap_fault__install(void)
{
    pthread_once(&fault.once, ar_heap_fault__install_once);
}
