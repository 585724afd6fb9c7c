/*
 * stack.c: call stacks at allocation and at free (option stack_depth).
 *
 * A file:line names the call of AR__HEAP__MALLOC; when the same helper
 * allocates for many callers, the stack says which caller it was. The
 * preload library's sites have no file:line at all, so there the stack
 * is the site.
 *
 * Capture must cost tens of nanoseconds, so that stacks can stay on: a
 * frame-pointer walk, as sanitizers do. Each public entry point passes
 * its own frame (__builtin_frame_address) and return address; the walk
 * follows the saved frame pointers from there, and stops at the first
 * one that is not between the walking function's own frame and the top
 * of the thread's stack (memory that is mapped), not aligned, or not
 * above the last, so code built without frame pointers ends the walk
 * rather than sending it astray: such a stack has its first frame (the return
 * address, always right) and maybe fewer than asked. The library itself
 * is built with frame pointers. Option stack_exact=1 captures with
 * glibc's backtrace() instead: DWARF unwinding, right through code
 * without frame pointers, at some microseconds a capture.
 *
 * Frames are printed as
 *
 *     #1 0x55d0c2a1b2d0 in load_config config.c:41 (examples/leaky+0x12a4)
 *
 * with the function, file:line and inlined calls that symbol.c read from
 * the debug information for the report; without them (symbolize=0, no
 * debug information, or another report holding the symbol session), the
 * function name comes from dladdr() and is there only for exported
 * symbols (link with -rdynamic to get them all). "module+offset" is what
 * addr2line wants: addr2line -e MODULE OFFSET.
 *
 * backtrace() may load libgcc's unwinder, which allocates, on its first
 * call; ar_heap_stack__init makes that first call at initialisation when
 * stack_exact is on, so no later capture allocates.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#if defined(HAVE_EXECINFO_H) || defined(__GLIBC__)
#include <execinfo.h>
#define AR_HEAP_HAVE_BACKTRACE 1
#endif

void ar_heap_stack__init(void)
{
#ifdef AR_HEAP_HAVE_BACKTRACE
    void *frames[2];
    if (ar_heap_options.stack_depth > 0 && ar_heap_options.stack_exact)
        (void)backtrace(frames, 2);
#endif
}

_Atomic unsigned ar_heap_stack_mode;

/* Frames of arheap's own that backtrace() may report before the caller's. */
#define AR_HEAP_STACK_SKIP 8

/* backtrace() from the frame whose return address is the site's pc. Not
 * inlined into the walk (ar_heap_internal.h): its buffer and its call
 * would make every capture save six registers and open a 200-byte frame. */
size_t ar_heap_stack__capture_exact(const ar_heap_site_t *site, void **out, size_t want)
{
    size_t depth = 0;
#ifdef AR_HEAP_HAVE_BACKTRACE
    void *frames[AR_HEAP_STACK_MAX + AR_HEAP_STACK_SKIP];
    int got = backtrace(frames, (int)(want + AR_HEAP_STACK_SKIP));
    int start = 0;
    while (start < got && frames[start] != site->pc)
        start++;
    if (start == got)
        start = 0; /* not found: keep everything rather than nothing */
    for (int i = start; i < got && depth < want; i++)
        out[depth++] = frames[i];
#else
    (void)site;
    (void)out;
    (void)want;
#endif
    return depth;
}

/*
 * The fault's stack, from the registers the signal saved. The faulting
 * instruction's pc is frame 0. Its function may keep no frame: libc's
 * string functions are built without frame pointers and push nothing, so
 * at the fault the return address into their caller is still at the top
 * of the stack, and the frame-pointer register still holds the caller's
 * frame. So the word at the stack pointer (x86_64) or the link register
 * (aarch64) is taken as frame 1 when it is a return address: it points
 * into an executable mapping, right after a call instruction (x86_64).
 * Then the walk of ar_heap_stack__capture: from the frame-pointer
 * register, every frame between the interrupted stack pointer and the
 * top of the thread's stack, aligned, each above the last. Without the
 * thread's stack bounds (a thread that never called arheap before) the
 * stack is the pc alone. A caller built without frame pointers ends the
 * walk early; the report then has fewer frames, never wrong ones from a
 * stray pointer.
 */
#if defined(__x86_64__) || defined(__aarch64__)
/* Whether [addr, addr + len) lies in one mapping, executable when perm is
 * 'x', readable when 'r', from /proc/self/maps (open/read only:
 * signal-safe). */
struct ar_heap_stack_span {
    uintptr_t addr;
    size_t len;
    char perm;
    int found;
};

static int ar_heap_stack__span_in(const ar_heap_os_mapping_t *m, void *arg)
{
    struct ar_heap_stack_span *s = arg;
    if (s->addr >= m->end)
        return 0;
    s->found = s->addr >= m->start && s->addr + s->len <= m->end &&
               (s->perm != 'x' || m->perms[2] == 'x') && (s->perm != 'r' || m->perms[0] == 'r');
    return 1;
}

static int ar_heap_stack__mapped(uintptr_t addr, size_t len, char perm)
{
    struct ar_heap_stack_span s = { addr, len, perm, 0 };
    (void)ar_heap_os__each_mapping(ar_heap_stack__span_in, &s);
    return s.found;
}
#endif

#if defined(__x86_64__)
/* Whether the instruction before `ret` is a call: e8 rel32, or ff /2
 * (call through a register or memory: 2, 3, 6 or 7 bytes). */
static int ar_heap_stack__after_call(uintptr_t ret)
{
    if (!ar_heap_stack__mapped(ret - 7, 7, 'x'))
        return 0;
    const unsigned char *code = (const unsigned char *)ret;
    if (code[-5] == 0xe8)
        return 1;
    static const int back[] = { 2, 3, 6, 7 };
    for (size_t i = 0; i < sizeof back / sizeof back[0]; i++)
        if (code[-back[i]] == 0xff && ((code[-back[i] + 1] >> 3) & 7) == 2)
            return 1;
    return 0;
}

/*
 * The function the call before `ret` called, when that call is direct (e8
 * rel32); a PLT entry (jmp *GOT(%rip), after endbr64 and bnd prefixes or
 * not) is followed to the function the GOT names. 0 when it cannot be
 * told: an indirect call, code or a GOT slot not mapped.
 */
static uintptr_t ar_heap_stack__call_target(uintptr_t ret)
{
    const unsigned char *code = (const unsigned char *)ret;
    if (code[-5] != 0xe8)
        return 0;
    int32_t rel;
    memcpy(&rel, code - 4, sizeof rel);
    uintptr_t target = ret + (uintptr_t)(intptr_t)rel;
    if (!ar_heap_stack__mapped(target, 16, 'x'))
        return 0;
    const unsigned char *t = (const unsigned char *)target;
    size_t i = 0;
    if (t[0] == 0xf3 && t[1] == 0x0f && t[2] == 0x1e && t[3] == 0xfa)
        i = 4; /* endbr64 */
    if (t[i] == 0xf2)
        i++; /* bnd */
    if (t[i] != 0xff || t[i + 1] != 0x25)
        return target; /* a function, not a PLT entry */
    int32_t disp;
    memcpy(&disp, t + i + 2, sizeof disp);
    uintptr_t slot = target + i + 6 + (uintptr_t)(intptr_t)disp;
    if ((slot & 7) != 0 || !ar_heap_stack__mapped(slot, 8, 'r'))
        return 0;
    uintptr_t function;
    memcpy(&function, (const void *)slot, sizeof function);
    return function;
}

/*
 * Whether `candidate`, the word at the stack pointer of a fault at `pc`,
 * is the return address of the call into the faulting function. It is
 * when that function pushed nothing (a leaf such as libc's strcpy); when
 * it made a frame of its own, the word is whatever the slot held, often
 * the return address of an earlier call made by the same caller (a free
 * just before the faulting line), which would add a frame that is not on
 * the stack. A direct call tells its target: the faulting pc can not lie
 * before the function called, nor can the function the frame-pointer
 * chain's first return address called (the faulting function, when it
 * made a frame) lie between that target and the pc.
 */
static int ar_heap_stack__called_faulting(uintptr_t candidate, uintptr_t pc, uintptr_t walked)
{
    uintptr_t target = ar_heap_stack__call_target(candidate);
    if (target == 0)
        return 1; /* an indirect call: no telling */
    if (pc < target)
        return 0;
    if (walked >= 4096 && ar_heap_stack__after_call(walked)) {
        uintptr_t own = ar_heap_stack__call_target(walked);
        if (own > target && own <= pc)
            return 0;
    }
    return 1;
}
#endif

/* A word of a stack as the walks read it where Memcheck may know it as
 * undefined (the top of a stack, or the slots of a frame that a function
 * without a frame pointer never wrote, are often slots nobody wrote): the
 * copy is declared defined, since a walk only compares it. The word at an
 * interrupted stack pointer may lie in an AddressSanitizer redzone of the
 * interrupted frame (an ASan build of the library, make check-sanitize):
 * the read is the walk's, not the program's. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize_address)
#define AR_HEAP_STACK_UNCHECKED __attribute__((no_sanitize_address, noinline))
#endif
#endif
#ifndef AR_HEAP_STACK_UNCHECKED
#define AR_HEAP_STACK_UNCHECKED
#endif
AR_HEAP_STACK_UNCHECKED static uintptr_t ar_heap_stack__word(uintptr_t addr)
{
    uintptr_t word = *(const uintptr_t *)addr;
    ar_heap_valgrind__defined(&word, sizeof word);
    return word;
}

/* The capture's walk with words read by ar_heap_stack__word (under
 * Valgrind), or backtrace() (stack_exact). */
size_t ar_heap_stack__capture_slow(ar_heap_thread_t *self, const ar_heap_site_t *site,
                                   void **frames, size_t want)
{
    if (ar_heap_options.stack_exact)
        return ar_heap_stack__capture_exact(site, frames, want);
    return ar_heap_stack__walk(self, site, frames, want, ar_heap_stack__word);
}

size_t ar_heap_stack__from_context(const void *context, void **frames, size_t want)
{
    size_t n = 0;
    if (want == 0 || context == NULL)
        return 0;
#if (defined(__x86_64__) && defined(REG_RIP)) || defined(__aarch64__)
    const ucontext_t *uc = context;
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
#else
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.sp;
    uintptr_t fp = (uintptr_t)uc->uc_mcontext.regs[29];
    uintptr_t lr = (uintptr_t)uc->uc_mcontext.regs[30];
#endif
    frames[n++] = (void *)pc;
    ar_heap_thread_t *self = ar_heap_thread_self;
    if (self == NULL || self->stack_hi < sp + 16 || sp < self->stack_lo)
        return n; /* bounds unknown, or not on the thread's stack */
    uintptr_t lo = sp, hi = self->stack_hi;
    /* The return address the caller's call pushed, when the faulting
     * function has pushed nothing since (x86_64); the link register
     * (aarch64). */
    uintptr_t caller = 0;
#if defined(__x86_64__)
    if ((sp & 7) == 0) {
        uintptr_t top = ar_heap_stack__word(sp);
        if (top >= 4096 && ar_heap_stack__after_call(top))
            caller = top;
    }
#else
    if (lr >= 4096 && (lr & 3) == 0 && ar_heap_stack__mapped(lr - 4, 4, 'x'))
        caller = lr;
#endif
    uintptr_t first_walked = 0;
    if (fp >= lo && fp <= hi - 16 && (fp & 7) == 0)
        first_walked = ar_heap_stack__word(fp + 8);
#if defined(__x86_64__)
    if (caller != 0 && !ar_heap_stack__called_faulting(caller, pc, first_walked))
        caller = 0;
#endif
    if (caller != 0 && caller != first_walked && n < want)
        frames[n++] = (void *)caller;
    while (n < want) {
        if (fp < lo || fp > hi - 16 || (fp & 7) != 0)
            break;
        uintptr_t ret = ar_heap_stack__word(fp + 8);
        if (ret < 4096)
            break;
        frames[n++] = (void *)ret;
        uintptr_t next = ar_heap_stack__word(fp);
        if (next <= fp)
            break;
        fp = next;
    }
#else
    (void)context;
#endif
    return n;
}

#if defined(__GNUC__)
__attribute__((tls_model("initial-exec")))
#endif
static _Thread_local int ar_heap_stack_signal_safe;

void ar_heap_stack__signal_safe(int on)
{
    ar_heap_stack_signal_safe = on;
}

/* " (module+0xoffset)" for the pc in a mapping of a file. */
struct ar_heap_stack_module {
    ar_heap_out_t *out;
    uintptr_t pc;
    uintptr_t header;       /* where the last file's offset 0 is mapped, readable */
    uintptr_t header_end;
    uintptr_t header_dev, header_inode; /* that file */
};

/*
 * The address pc has in its module's own tables (what addr2line takes):
 * from the ELF program headers, mapped with the file's first page, the
 * load segment that holds pc's file offset. A file offset is that
 * address only where a segment's address equals its offset: not in a
 * fixed-address executable (text at 0x401000, offset 0x1000), nor in
 * lld's layouts (until stop 42 the file offset was printed, and
 * addr2line named nothing there). The file offset when the headers are
 * not at hand.
 */
static uintptr_t ar_heap_stack__module_address(const struct ar_heap_stack_module *want,
                                               const ar_heap_os_mapping_t *m)
{
    uintptr_t file_offset = m->offset + (want->pc - m->start);
    if (want->header == 0 || want->header_inode != m->inode || want->header_dev != m->dev ||
        want->header_end - want->header < sizeof(ElfW(Ehdr)))
        return file_offset;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)want->header;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phoff > want->header_end - want->header ||
        (uintptr_t)eh->e_phnum * sizeof(ElfW(Phdr)) >
            want->header_end - want->header - eh->e_phoff)
        return file_offset;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(want->header + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && file_offset >= ph[i].p_offset &&
            file_offset - ph[i].p_offset < ph[i].p_filesz)
            return ph[i].p_vaddr + (file_offset - ph[i].p_offset);
    return file_offset;
}

static int ar_heap_stack__module_in(const ar_heap_os_mapping_t *m, void *arg)
{
    struct ar_heap_stack_module *want = arg;
    if (m->offset == 0 && m->inode != 0 && m->perms[0] == 'r') {
        want->header = m->start;
        want->header_end = m->end;
        want->header_inode = m->inode;
        want->header_dev = m->dev;
    }
    if (want->pc >= m->end)
        return 0;
    if (want->pc >= m->start && m->name[0] == '/') { /* not anonymous, [stack], [vdso]... */
        ar_heap_out__str(want->out, " (");
        ar_heap_out__str(want->out, m->name);
        ar_heap_out__str(want->out, "+");
        ar_heap_out__hex(want->out, ar_heap_stack__module_address(want, m));
        ar_heap_out__str(want->out, ")");
    }
    return 1;
}

/* " (module+0xoffset)" for pc, found in /proc/self/maps with open/read
 * only: safe in a signal handler. Writes nothing when not found. Only a
 * fault report asks (signal-safe mode), one at a time (fault.c): its
 * buffers are static, not on the (perhaps alternate) stack, and its
 * lines may be 4 KiB (until stop 42 the stack's 512 bytes cut a module
 * path past about 440). */
static void ar_heap_stack__module_from_maps(ar_heap_out_t *out, uintptr_t pc)
{
    static char chunk[1024];
    static char line[4096];
    struct ar_heap_stack_module want = { out, pc, 0, 0, 0, 0 };
    (void)ar_heap_os__each_mapping_in(chunk, sizeof chunk, line, sizeof line,
                                      ar_heap_stack__module_in, &want);
}

void ar_heap_stack__print_pc(ar_heap_out_t *out, const void *pc)
{
    ar_heap_out__hex(out, (uintptr_t)pc);
    int symbolized = ar_heap_symbol__print_first(out, pc, 0);
    ar_heap_stack__module_from_maps(out, (uintptr_t)pc);
    if (symbolized)
        ar_heap_symbol__print_inlined(out, pc, 0, NULL);
}

/*
 * "0xPC[ in FUNCTION FILE:LINE] (module+0xoffset)" for a code address
 * (is_return: a return address, which points after its call: the call's
 * line is looked up one byte back); then the inlined calls around it, on
 * lines of their own after `indent`, or on the same line when indent is
 * NULL. Without symbols, dladdr's name of an exported function.
 */
static void ar_heap_stack__describe_in(ar_heap_out_t *out, const void *address, int is_return,
                                       const char *indent)
{
    uintptr_t pc = (uintptr_t)address;
    uintptr_t lookup = pc - (is_return ? 1 : 0);
    ar_heap_out__hex(out, pc);
    int symbolized = ar_heap_symbol__print_first(out, address, is_return);
    Dl_info info;
    struct link_map *module = NULL;
    /* Return addresses point after the call: the call's own byte is one
     * back, and so is its function (a call to a function that does not
     * return can be a function's last instruction, its return address
     * the next function's first: until stop 42 dladdr was asked of it,
     * and named that next function). */
    if (ar_heap_stack_signal_safe) {
        ar_heap_stack__module_from_maps(out, lookup);
    } else if (dladdr1((const void *)lookup, &info, (void **)&module, RTLD_DL_LINKMAP) != 0 &&
               info.dli_fname != NULL) {
        if (info.dli_sname != NULL && !symbolized) {
            ar_heap_out__str(out, " in ");
            ar_heap_out__str(out, info.dli_sname);
        }
        ar_heap_out__str(out, " (");
        ar_heap_out__str(out, info.dli_fname);
        ar_heap_out__str(out, "+");
        /* The address in the module's own tables, what addr2line takes:
         * less the load bias (none in a fixed-address executable; until
         * stop 42 the distance from the module's first byte was printed,
         * which is that only when its first segment is at address 0). */
        ar_heap_out__hex(out, lookup - (module != NULL ? (uintptr_t)module->l_addr
                                                       : (uintptr_t)info.dli_fbase));
        ar_heap_out__str(out, ")");
    }
    if (symbolized)
        ar_heap_symbol__print_inlined(out, address, is_return, indent);
}

void ar_heap_stack__describe(ar_heap_out_t *out, const void *return_address)
{
    ar_heap_stack__describe_in(out, return_address, 1, NULL);
}

static void ar_heap_stack__print_from(ar_heap_out_t *out, void *const *frames, size_t depth,
                                      int first_is_pc)
{
    for (size_t i = 0; i < depth; i++) {
        ar_heap_out__str(out, "      #");
        ar_heap_out__dec(out, i);
        ar_heap_out__str(out, " ");
        ar_heap_stack__describe_in(out, frames[i], !(first_is_pc && i == 0), "         ");
        ar_heap_out__str(out, "\n");
    }
}

void ar_heap_stack__print(ar_heap_out_t *out, void *const *frames, size_t depth)
{
    ar_heap_stack__print_from(out, frames, depth, 0);
}

void ar_heap_stack__print_fault(ar_heap_out_t *out, void *const *frames, size_t depth)
{
    ar_heap_stack__print_from(out, frames, depth, 1);
}
