/*
 * symbol.c: function, file:line and inlined frames for the pcs a report
 * prints (option symbolize, on by default; option symbolizer).
 *
 * A report names code by its pc: the sites of the preload library, the
 * frames of call stacks, the instruction of a guard-page fault. Without
 * help these read "0x55d0c2a1b2d0 (examples/leaky+0x12a4)"; with it
 *
 *     #1 0x55d0c2a1b2d0 in load_config config.c:41 (examples/leaky+0x12a4)
 *
 * and one more line per inlined call the debug information records.
 *
 * Reading debug information allocates, takes locks and may be slow; a
 * report may be written from inside the allocator, with the world
 * stopped, or from the SIGSEGV handler, and in the preload library malloc
 * is arheap itself. So none of it happens in the process being checked:
 *
 *   1. The report opens a session (ar_heap_symbol__begin) and names the
 *      pcs it is about to print (ar_heap_symbol__want). They go into a
 *      table in a MAP_SHARED mapping made for the session.
 *   2. ar_heap_symbol__resolve clones the process (clone(2) without
 *      CLONE_VM, with a stack of its own and no exit signal: no atfork
 *      handler runs, the program's SIGCHLD handler and wait(-1) never see
 *      it). The child has a copy of the address space, so it finds every
 *      module where the parent has it. It reads the debug information
 *      with libdw (configure --with-libdw), or runs an external
 *      symbolizer (addr2line -a -f -i -C -e MODULE ADDRESSES, or
 *      llvm-symbolizer) with posix_spawn and a pipe, as AddressSanitizer
 *      does, and writes the answers into the shared table. In the preload
 *      library the child first switches malloc to a private bump heap of
 *      its own (preload.c), so nothing it does touches the checked heap.
 *   3. The parent waits for the child's end of a pipe to close, at most
 *      AR_HEAP_SYMBOL_TIMEOUT_MS; past that it kills the child, warns, and
 *      symbolizes no more in this process. Whatever the child finished is
 *      used; the rest prints as module+offset.
 *
 * The parent's side is async-signal-safe (clone, poll, read, waitpid,
 * mmap): the fault handler writes the fault's own lines first, then
 * symbolizes. A child that deadlocks on a lock another thread held at the
 * clone, or crashes, costs the wait and the symbols, never the report.
 * One session at a time in the process: a report that finds another one
 * open (another thread's, or its own, nested) prints module+offset.
 */
#define _GNU_SOURCE
#include "ar_heap_internal.h"
#include "valgrind.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef AR_HEAP_HAVE_LIBDW
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#endif

/* Pcs one session resolves; frames (inlined ones counted) and bytes of
 * names it keeps. */
#define AR_HEAP_SYMBOL_PCS 512
#define AR_HEAP_SYMBOL_FRAMES 1024
#define AR_HEAP_SYMBOL_TEXT (96 * 1024)
/* Inlined calls kept per pc. */
#define AR_HEAP_SYMBOL_DEPTH 8
/* How long a report waits for its symbols. */
#define AR_HEAP_SYMBOL_TIMEOUT_MS 20000
/* The child's stack. */
#define AR_HEAP_SYMBOL_STACK ((size_t)8 << 20)

typedef struct ar_heap_symbol_frame_s {
    uint32_t function; /* offsets into text, 0 for unknown */
    uint32_t file;
    int line;
} ar_heap_symbol_frame_t;

typedef struct ar_heap_symbol_pc_s {
    uintptr_t key;    /* the pc looked up (a return address less one) */
    uint32_t first;   /* its frames, innermost first */
    uint32_t count;
} ar_heap_symbol_pc_t;

/* The session's table, in a MAP_SHARED mapping: the parent fills pcs,
 * the child the rest, bumping `done` as each pc is finished. */
typedef struct ar_heap_symbol_table_s {
    _Atomic uint32_t done;
    uint32_t npcs;
    uint32_t nframes;
    uint32_t text_used;
    ar_heap_symbol_pc_t pcs[AR_HEAP_SYMBOL_PCS];
    ar_heap_symbol_frame_t frames[AR_HEAP_SYMBOL_FRAMES];
    char text[AR_HEAP_SYMBOL_TEXT];
} ar_heap_symbol_table_t;

static struct {
    _Atomic int busy;              /* a session is open */
    _Atomic int gave_up;           /* a child timed out: no more tries */
    ar_heap_symbol_table_t *table; /* its table */
    int resolved;                  /* its pcs have been through a child */
    void *child_stack;             /* the stack of the child resolving them */
} symbol;

#if defined(__GNUC__)
__attribute__((tls_model("initial-exec")))
#endif
static _Thread_local int ar_heap_symbol_mine; /* this thread opened the session */

/* ------------------------------------------------------------ the session */

/* A sanitizer build of the library (make check-sanitize): the sanitizer
 * runtimes do not follow the cloned child onto its own stack (ASan warns,
 * TSan counts the child's allocations as calls inside a signal handler),
 * so frames stay module+offset there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AR_HEAP_SYMBOL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AR_HEAP_SYMBOL_SANITIZED 1
#endif
#endif
#ifndef AR_HEAP_SYMBOL_SANITIZED
#define AR_HEAP_SYMBOL_SANITIZED 0
#endif

int ar_heap_symbol__begin(void)
{
    if (AR_HEAP_SYMBOL_SANITIZED || !ar_heap_options.symbolize || atomic_load(&symbol.gave_up))
        return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&symbol.busy, &expected, 1))
        return 0;
    void *table = mmap(NULL, sizeof(ar_heap_symbol_table_t), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED) {
        atomic_store(&symbol.busy, 0);
        return 0;
    }
    symbol.table = table;
    symbol.table->text_used = 1; /* offset 0 means "none" */
    symbol.resolved = 0;
    ar_heap_symbol_mine = 1;
    return 1;
}

/* In a forked child, a session another thread of the parent held has no
 * thread to end it: the child's reports would go without symbols (until
 * stop 42 they did). Its table stays mapped, unused. The forking
 * thread's own session, if it has one, stays. */
void ar_heap_symbol__forked(void)
{
    if (ar_heap_symbol_mine)
        return;
    symbol.table = NULL;
    symbol.resolved = 0;
    atomic_store(&symbol.busy, 0);
}

void ar_heap_symbol__end(void)
{
    if (!ar_heap_symbol_mine)
        return;
    ar_heap_symbol_mine = 0;
    (void)munmap(symbol.table, sizeof(ar_heap_symbol_table_t));
    symbol.table = NULL;
    symbol.resolved = 0;
    atomic_store(&symbol.busy, 0);
}

void ar_heap_symbol__want(const void *pc, int is_return)
{
    if (!ar_heap_symbol_mine || symbol.resolved || pc == NULL)
        return;
    ar_heap_symbol_table_t *t = symbol.table;
    uintptr_t key = (uintptr_t)pc - (is_return ? 1 : 0);
    for (uint32_t i = 0; i < t->npcs; i++)
        if (t->pcs[i].key == key)
            return;
    if (t->npcs < AR_HEAP_SYMBOL_PCS)
        t->pcs[t->npcs++].key = key;
}

void ar_heap_symbol__want_site(const ar_heap_site_t *site)
{
    if (site != NULL && site->file == NULL)
        ar_heap_symbol__want(site->pc, 1);
}

void ar_heap_symbol__want_frames(void *const *frames, size_t depth)
{
    for (size_t i = 0; frames != NULL && i < depth; i++)
        ar_heap_symbol__want(frames[i], 1);
}

void ar_heap_symbol__want_view(const ar_heap_view_t *v)
{
    if (v == NULL)
        return;
    ar_heap_symbol__want_site(&v->alloc_site);
    ar_heap_symbol__want_frames(v->alloc_frames, v->alloc_depth);
    if (v->state == AR_HEAP_STATE_FREED || v->state == AR_HEAP_STATE_QUARANTINED) {
        ar_heap_symbol__want_site(&v->free_site);
        ar_heap_symbol__want_frames(v->free_frames, v->free_depth);
    }
}

/* The resolved entry of a pc, or NULL. */
static const ar_heap_symbol_pc_t *ar_heap_symbol__find(uintptr_t key)
{
    if (!ar_heap_symbol_mine || !symbol.resolved)
        return NULL;
    const ar_heap_symbol_table_t *t = symbol.table;
    uint32_t done = atomic_load_explicit(&t->done, memory_order_acquire);
    if (done > t->npcs)
        done = t->npcs;
    for (uint32_t i = 0; i < done; i++)
        if (t->pcs[i].key == key)
            return t->pcs[i].count > 0 ? &t->pcs[i] : NULL;
    return NULL;
}

static const char *ar_heap_symbol__text(uint32_t offset)
{
    if (offset == 0 || offset >= AR_HEAP_SYMBOL_TEXT)
        return NULL;
    return symbol.table->text + offset;
}

/* " FUNCTION FILE:LINE": what is known of one frame. */
static void ar_heap_symbol__print_frame(ar_heap_out_t *out, const ar_heap_symbol_frame_t *f)
{
    const char *function = ar_heap_symbol__text(f->function);
    const char *file = ar_heap_symbol__text(f->file);
    ar_heap_out__str(out, " ");
    ar_heap_out__str(out, function != NULL ? function : "??");
    if (file != NULL) {
        ar_heap_out__str(out, " ");
        ar_heap_out__str(out, file);
        if (f->line > 0) {
            ar_heap_out__str(out, ":");
            ar_heap_out__dec(out, (uint64_t)f->line);
        }
    }
}

int ar_heap_symbol__print_first(ar_heap_out_t *out, const void *pc, int is_return)
{
    const ar_heap_symbol_pc_t *e = ar_heap_symbol__find((uintptr_t)pc - (is_return ? 1 : 0));
    if (e == NULL)
        return 0;
    ar_heap_out__str(out, " in");
    ar_heap_symbol__print_frame(out, &symbol.table->frames[e->first]);
    return 1;
}

void ar_heap_symbol__print_inlined(ar_heap_out_t *out, const void *pc, int is_return,
                                   const char *indent)
{
    const ar_heap_symbol_pc_t *e = ar_heap_symbol__find((uintptr_t)pc - (is_return ? 1 : 0));
    for (uint32_t i = 1; e != NULL && i < e->count; i++) {
        if (indent != NULL) {
            ar_heap_out__str(out, "\n");
            ar_heap_out__str(out, indent);
            ar_heap_out__str(out, "inlined into");
        } else {
            ar_heap_out__str(out, ", inlined into");
        }
        ar_heap_symbol__print_frame(out, &symbol.table->frames[e->first + i]);
    }
}

int ar_heap_symbol__lookup(const void *pc, int is_return, const char **function,
                           const char **file, int *line)
{
    const ar_heap_symbol_pc_t *e = ar_heap_symbol__find((uintptr_t)pc - (is_return ? 1 : 0));
    if (e == NULL)
        return 0;
    const ar_heap_symbol_frame_t *inner = &symbol.table->frames[e->first];
    *function = ar_heap_symbol__text(inner->function);
    *file = ar_heap_symbol__text(inner->file);
    *line = inner->line;
    return 1;
}

int ar_heap_symbol__frame(const void *pc, int is_return, unsigned index, const char **function,
                          const char **file, int *line)
{
    const ar_heap_symbol_pc_t *e = ar_heap_symbol__find((uintptr_t)pc - (is_return ? 1 : 0));
    if (e == NULL || index >= e->count)
        return 0;
    const ar_heap_symbol_frame_t *f = &symbol.table->frames[e->first + index];
    *function = ar_heap_symbol__text(f->function);
    *file = ar_heap_symbol__text(f->file);
    *line = f->line;
    return 1;
}

/* ------------------------------------------------------------ the child's side */

/* Store a string in the table's text; its offset, 0 when out of room. */
static uint32_t ar_heap_symbol__store(ar_heap_symbol_table_t *t, const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return 0;
    if (t->text_used + len + 1 > AR_HEAP_SYMBOL_TEXT)
        return 0;
    uint32_t at = t->text_used;
    memcpy(t->text + at, s, len);
    t->text[at + len] = '\0';
    t->text_used += (uint32_t)len + 1;
    return at;
}

/* One frame of pc `i` (the child fills pcs in order). */
static void ar_heap_symbol__add_frame(ar_heap_symbol_table_t *t, uint32_t i, const char *function,
                                      const char *file, int line)
{
    ar_heap_symbol_pc_t *e = &t->pcs[i];
    if (t->nframes >= AR_HEAP_SYMBOL_FRAMES || e->count >= AR_HEAP_SYMBOL_DEPTH)
        return;
    if (e->count == 0)
        e->first = t->nframes;
    else if (e->first + e->count != t->nframes)
        return; /* frames of one pc stay together */
    ar_heap_symbol_frame_t *f = &t->frames[t->nframes++];
    f->function = ar_heap_symbol__store(t, function, function != NULL ? strlen(function) : 0);
    f->file = ar_heap_symbol__store(t, file, file != NULL ? strlen(file) : 0);
    f->line = line;
    e->count++;
}

static void ar_heap_symbol__finish(ar_heap_symbol_table_t *t, uint32_t i)
{
    atomic_store_explicit(&t->done, i + 1, memory_order_release);
}

#ifdef AR_HEAP_HAVE_LIBDW
/*
 * libdw is not linked: it is loaded (dlopen) by the symbolizing child,
 * the first time a report wants symbols. Linked, it and the libraries it
 * needs (libelf, libz, liblzma, libbz2) were loaded into every process at
 * start-up, for the few that ever print a report: 1.4 to 1.7 ms of each
 * process's start and 0.7 MiB of its resident memory (doc/arheap.md,
 * "Symbols"). The child has its own copy of the address space, so what
 * the loading does stays there; the loader's lock, held by another
 * thread at the clone, costs the wait, as any lock does (see the top of
 * this file). When it can not be loaded, the child runs addr2line.
 */
#define AR_HEAP_LIBDW_SONAME "libdw.so.1"
#define AR_HEAP_LIBDW_FUNCTIONS(X) \
    X(dwarf_attr) \
    X(dwarf_diename) \
    X(dwarf_filesrc) \
    X(dwarf_formudata) \
    X(dwarf_getscopes) \
    X(dwarf_getscopes_die) \
    X(dwarf_getsrc_die) \
    X(dwarf_getsrcfiles) \
    X(dwarf_haspc) \
    X(dwarf_lineno) \
    X(dwarf_linesrc) \
    X(dwarf_tag) \
    X(dwfl_addrmodule) \
    X(dwfl_begin) \
    X(dwfl_end) \
    X(dwfl_lineinfo) \
    X(dwfl_linux_proc_find_elf) \
    X(dwfl_linux_proc_report) \
    X(dwfl_module_addrdie) \
    X(dwfl_module_addrinfo) \
    X(dwfl_module_getsrc) \
    X(dwfl_module_nextcu) \
    X(dwfl_report_end) \
    X(dwfl_standard_find_debuginfo)

static struct {
#define AR_HEAP_LIBDW_POINTER(f) __typeof__(f) *f;
    AR_HEAP_LIBDW_FUNCTIONS(AR_HEAP_LIBDW_POINTER)
#undef AR_HEAP_LIBDW_POINTER
} ar_heap_dw;

/* Load libdw and find every function used here; 0 when it can not be. */
static int ar_heap_symbol__load_libdw(void)
{
    void *lib = dlopen(AR_HEAP_LIBDW_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return 0;
#define AR_HEAP_LIBDW_FIND(f) \
    if ((*(void **)(void *)&ar_heap_dw.f = dlsym(lib, #f)) == NULL) \
        return 0;
    AR_HEAP_LIBDW_FUNCTIONS(AR_HEAP_LIBDW_FIND)
#undef AR_HEAP_LIBDW_FIND
    return 1;
}

/* The name of the file `index` of the CU of `die` (DW_AT_call_file). */
static const char *ar_heap_symbol__cu_file(Dwarf_Die *cu, Dwarf_Word index)
{
    Dwarf_Files *files;
    size_t nfiles;
    if (cu == NULL || ar_heap_dw.dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || index >= nfiles)
        return NULL;
    return ar_heap_dw.dwarf_filesrc(files, index, NULL, NULL);
}

/*
 * The CU whose code holds pc. libdw finds it through .debug_aranges,
 * which clang does not emit by default (-gdwarf-aranges): without them
 * dwfl_module_addrdie, and dwfl_module_getsrc with it, find nothing, and
 * a clang-built program's frames had no line. Then each CU's ranges are
 * asked in turn.
 */
static Dwarf_Die *ar_heap_symbol__cu_of(Dwfl_Module *mod, Dwarf_Addr pc, Dwarf_Addr *bias)
{
    Dwarf_Die *cu = ar_heap_dw.dwfl_module_addrdie(mod, pc, bias);
    if (cu != NULL)
        return cu;
    Dwarf_Addr b = 0;
    while ((cu = ar_heap_dw.dwfl_module_nextcu(mod, cu, &b)) != NULL) {
        if (ar_heap_dw.dwarf_haspc(cu, pc - b) > 0) {
            *bias = b;
            return cu;
        }
    }
    return NULL;
}

/* Every pc with libdw: the modules as /proc/self/maps has them. */
static int ar_heap_symbol__with_libdw(ar_heap_symbol_table_t *t)
{
    static char *debuginfo_path = NULL;
    if (!ar_heap_symbol__load_libdw())
        return 0;
    Dwfl_Callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.find_elf = ar_heap_dw.dwfl_linux_proc_find_elf;
    callbacks.find_debuginfo = ar_heap_dw.dwfl_standard_find_debuginfo;
    callbacks.debuginfo_path = &debuginfo_path;
    Dwfl *dwfl = ar_heap_dw.dwfl_begin(&callbacks);
    if (dwfl == NULL)
        return 0;
    if (ar_heap_dw.dwfl_linux_proc_report(dwfl, getpid()) != 0 ||
        ar_heap_dw.dwfl_report_end(dwfl, NULL, NULL) != 0) {
        ar_heap_dw.dwfl_end(dwfl);
        return 0;
    }
    for (uint32_t i = 0; i < t->npcs; i++) {
        Dwarf_Addr pc = t->pcs[i].key;
        Dwfl_Module *mod = ar_heap_dw.dwfl_addrmodule(dwfl, pc);
        if (mod == NULL) {
            ar_heap_symbol__finish(t, i);
            continue;
        }
        /* The symbol of the ELF tables, when the pc is inside it. */
        GElf_Off offset = 0;
        GElf_Sym sym;
        const char *elf_name =
            ar_heap_dw.dwfl_module_addrinfo(mod, pc, &offset, &sym, NULL, NULL, NULL);
        if (elf_name != NULL && sym.st_size != 0 && offset >= sym.st_size)
            elf_name = NULL;
        /* The line of the innermost code at pc. */
        const char *file = NULL;
        int line = 0;
        Dwarf_Addr bias = 0;
        Dwarf_Die *cu = ar_heap_symbol__cu_of(mod, pc, &bias);
        Dwfl_Line *dline = ar_heap_dw.dwfl_module_getsrc(mod, pc);
        if (dline != NULL) {
            file = ar_heap_dw.dwfl_lineinfo(dline, NULL, &line, NULL, NULL, NULL);
        } else if (cu != NULL) {
            Dwarf_Line *cu_line = ar_heap_dw.dwarf_getsrc_die(cu, pc - bias);
            if (cu_line != NULL && ar_heap_dw.dwarf_lineno(cu_line, &line) == 0)
                file = ar_heap_dw.dwarf_linesrc(cu_line, NULL, NULL);
        }
        /* The scopes around pc, innermost first: inlined calls, then the
         * function. Each inlined call's DW_AT_call_file/line is the line
         * of the next frame out. */
        Dwarf_Die *found = NULL;
        int nfound = cu != NULL ? ar_heap_dw.dwarf_getscopes(cu, pc - bias, &found) : 0;
        /* dwarf_getscopes continues past an inlined call into the scopes
         * of its abstract definition; the scopes around the call itself,
         * the functions it was inlined into, are those of the innermost
         * function's DIE in the concrete tree. */
        Dwarf_Die *scopes = NULL;
        int nscopes = 0;
        for (int s = 0; s < nfound; s++) {
            int tag = ar_heap_dw.dwarf_tag(&found[s]);
            if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
                nscopes = ar_heap_dw.dwarf_getscopes_die(&found[s], &scopes);
                break;
            }
        }
        free(found);
        int frames = 0;
        for (int s = 0; s < nscopes; s++) {
            int tag = ar_heap_dw.dwarf_tag(&scopes[s]);
            if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
                continue;
            const char *name = ar_heap_dw.dwarf_diename(&scopes[s]);
            ar_heap_symbol__add_frame(t, i, name != NULL ? name : elf_name, file, line);
            frames++;
            if (tag == DW_TAG_subprogram)
                break;
            Dwarf_Attribute attr;
            Dwarf_Word value = 0;
            file = NULL;
            line = 0;
            Dwarf_Attribute *call_file = ar_heap_dw.dwarf_attr(&scopes[s], DW_AT_call_file, &attr);
            if (ar_heap_dw.dwarf_formudata(call_file, &value) == 0)
                file = ar_heap_symbol__cu_file(cu, value);
            Dwarf_Attribute *call_line = ar_heap_dw.dwarf_attr(&scopes[s], DW_AT_call_line, &attr);
            if (ar_heap_dw.dwarf_formudata(call_line, &value) == 0)
                line = (int)value;
        }
        free(scopes);
        if (frames == 0 && (elf_name != NULL || file != NULL))
            ar_heap_symbol__add_frame(t, i, elf_name, file, line);
        ar_heap_symbol__finish(t, i);
    }
    ar_heap_dw.dwfl_end(dwfl);
    return 1;
}
#endif

/* The file that maps `pc`, from /proc/self/maps, into path. */
static int ar_heap_symbol__module_path(uintptr_t pc, char *path, size_t cap)
{
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps == NULL)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        unsigned long start, end;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &at) < 2 || at == 0)
            continue;
        if (pc < start || pc >= end || line[at] != '/')
            continue;
        size_t len = strcspn(line + at, "\n");
        if (len >= cap)
            break;
        memcpy(path, line + at, len);
        path[len] = '\0';
        found = 1;
    }
    fclose(maps);
    return found;
}

/* The address the module's own tables use for pc: pc less the load bias
 * (none for a fixed-address executable), the link map's l_addr, which
 * is also right for a module whose first segment is not at address 0. */
static int ar_heap_symbol__module_address(uintptr_t pc, uintptr_t *address)
{
    Dl_info info;
    struct link_map *module = NULL;
    if (dladdr1((void *)pc, &info, (void **)&module, RTLD_DL_LINKMAP) == 0 || module == NULL)
        return 0;
    *address = pc - (uintptr_t)module->l_addr;
    return 1;
}

/* Run argv with its stdout into a pipe; the read end, or -1. posix_spawn,
 * not fork: fork would run the atfork handlers, arheap's among them, in a
 * child whose copied heap state says a report is in progress. */
static int ar_heap_symbol__start(char *const argv[], pid_t *pid)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    if (posix_spawn_file_actions_init(&actions) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    (void)posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    (void)posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    (void)posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    extern char **environ;
    int failed = posix_spawnp(pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (failed) {
        close(fds[0]);
        return -1;
    }
    return fds[0];
}

/* Strip addr2line's " (discriminator N)" and llvm-symbolizer's ":COLUMN";
 * split "FILE:LINE". */
static void ar_heap_symbol__split_location(char *text, int llvm, const char **file, int *line)
{
    char *disc = strstr(text, " (discriminator");
    if (disc != NULL)
        *disc = '\0';
    char *colon = strrchr(text, ':');
    if (llvm && colon != NULL) {
        *colon = '\0'; /* the column */
        colon = strrchr(text, ':');
    }
    *line = 0;
    *file = NULL;
    if (colon == NULL)
        return;
    *colon = '\0';
    *line = atoi(colon + 1);
    if (strcmp(text, "??") != 0 && text[0] != '\0')
        *file = text;
}

/* The pcs of one module through the external symbolizer. */
static void ar_heap_symbol__external_module(ar_heap_symbol_table_t *t, const char *program,
                                            const char *module, const uint32_t *which,
                                            const uintptr_t *addresses, size_t n)
{
    int llvm = strstr(program, "llvm-symbolizer") != NULL;
    char *argv[AR_HEAP_SYMBOL_PCS + 8];
    char text[AR_HEAP_SYMBOL_PCS][24];
    size_t argc = 0;
    argv[argc++] = (char *)program;
    argv[argc++] = (char *)"-a";
    argv[argc++] = (char *)"-f";
    argv[argc++] = (char *)"-i";
    argv[argc++] = (char *)"-C";
    argv[argc++] = (char *)"-e";
    argv[argc++] = (char *)module;
    for (size_t k = 0; k < n; k++) {
        snprintf(text[k], sizeof text[k], "0x%lx", (unsigned long)addresses[k]);
        argv[argc++] = text[k];
    }
    argv[argc] = NULL;
    pid_t pid;
    int fd = ar_heap_symbol__start(argv, &pid);
    if (fd < 0)
        return;
    FILE *in = fdopen(fd, "r");
    if (in == NULL) {
        close(fd);
        (void)waitpid(pid, NULL, 0);
        return;
    }
    /* Per address: "0xADDRESS", then FUNCTION and LOCATION lines, one pair
     * per inlined call, innermost first (llvm-symbolizer ends with an
     * empty line). */
    char line[4096];
    char function[4096];
    long k = -1;
    int have_function = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        size_t len = strcspn(line, "\n");
        if (line[len] != '\n') {
            /* Longer than the buffer (a C++ name of thousands of bytes):
             * kept cut, the rest of the line read and dropped. Until
             * stop 42 the rest was read as the next line, and every
             * later answer of the module paired a function with the
             * wrong line. */
            char rest[256];
            while (fgets(rest, sizeof rest, in) != NULL && rest[strcspn(rest, "\n")] != '\n')
                ;
        }
        line[len] = '\0';
        if (line[0] == '\0')
            continue;
        if (line[0] == '0' && line[1] == 'x' && !have_function) {
            if (k >= 0 && (size_t)k < n)
                ar_heap_symbol__finish(t, which[k]);
            k++;
            continue;
        }
        if (k < 0 || (size_t)k >= n)
            continue;
        if (!have_function) {
            snprintf(function, sizeof function, "%s", line);
            have_function = 1;
            continue;
        }
        have_function = 0;
        const char *file;
        int number;
        ar_heap_symbol__split_location(line, llvm, &file, &number);
        int known_function = strcmp(function, "??") != 0;
        if (known_function || file != NULL)
            ar_heap_symbol__add_frame(t, which[k], known_function ? function : NULL, file,
                                      number);
    }
    if (k >= 0 && (size_t)k < n)
        ar_heap_symbol__finish(t, which[k]);
    fclose(in);
    (void)waitpid(pid, NULL, 0);
}

/* Every pc through `program` (addr2line or llvm-symbolizer), a module at
 * a time. The child fills pcs in order, so a module's pcs are resolved
 * one after another: the table's pcs are sorted by module first. */
static void ar_heap_symbol__with_program(ar_heap_symbol_table_t *t, const char *program)
{
    static char modules[AR_HEAP_SYMBOL_PCS][512];
    static uintptr_t addresses[AR_HEAP_SYMBOL_PCS];
    static int module_of[AR_HEAP_SYMBOL_PCS];
    static uint32_t which[AR_HEAP_SYMBOL_PCS];
    static uintptr_t group[AR_HEAP_SYMBOL_PCS];
    size_t nmodules = 0;
    uint32_t n = t->npcs;
    for (uint32_t i = 0; i < n; i++) {
        char path[512];
        module_of[i] = -1;
        if (!ar_heap_symbol__module_path(t->pcs[i].key, path, sizeof path) ||
            !ar_heap_symbol__module_address(t->pcs[i].key, &addresses[i]))
            continue;
        size_t m = 0;
        while (m < nmodules && strcmp(modules[m], path) != 0)
            m++;
        if (m == nmodules)
            memcpy(modules[nmodules++], path, sizeof path);
        module_of[i] = (int)m;
    }
    /* Reorder the table's pcs by module, so that each module's answers
     * are finished in table order. */
    ar_heap_symbol_pc_t sorted[AR_HEAP_SYMBOL_PCS];
    uintptr_t sorted_addresses[AR_HEAP_SYMBOL_PCS];
    int sorted_module[AR_HEAP_SYMBOL_PCS];
    uint32_t at = 0;
    for (int m = -1; m < (int)nmodules; m++)
        for (uint32_t i = 0; i < n; i++)
            if (module_of[i] == m) {
                sorted[at] = t->pcs[i];
                sorted_addresses[at] = addresses[i];
                sorted_module[at] = m;
                at++;
            }
    memcpy(t->pcs, sorted, n * sizeof sorted[0]);
    uint32_t i = 0;
    while (i < n && sorted_module[i] < 0)
        ar_heap_symbol__finish(t, i++);
    while (i < n) {
        int m = sorted_module[i];
        size_t count = 0;
        while (i + count < n && sorted_module[i + count] == m) {
            which[count] = i + (uint32_t)count;
            group[count] = sorted_addresses[i + count];
            count++;
        }
        ar_heap_symbol__external_module(t, program, modules[m], which, group, count);
        i += (uint32_t)count;
        ar_heap_symbol__finish(t, i - 1);
    }
}

static int ar_heap_symbol__child(void *arg)
{
    ar_heap_symbol_table_t *t = arg;
    /* Under Valgrind: the stack it runs on, so that Memcheck can walk the
     * stacks of the child's allocations (libdw's, the loader's), match
     * them against its suppressions of glibc's own, and name them. */
    ar_heap_valgrind__stack(symbol.child_stack, AR_HEAP_SYMBOL_STACK);
    /* Die of a fault, not into arheap's handler or the program's. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t all;
    sigemptyset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, NULL);
#if AR_HEAP_PRELOAD
    ar_heap_preload__use_private_heap();
#endif
    /* No network: debuginfod would be asked with DEBUGINFOD_URLS set.
     * The external symbolizer runs without the program's preloads (the
     * preload library itself: addr2line would be checked, and its
     * reports would symbolize with addr2line, and so on). */
    unsetenv("DEBUGINFOD_URLS");
    unsetenv("LD_PRELOAD");
    /* The program run gets none of the program's descriptors (until
     * stop 42 it got them all: its files, its sockets, the write ends of
     * its pipes, whose readers then waited for the symbolizer too), and
     * a process group of its own with this child, so that a hung one
     * dies with it (until stop 42 it outlived the process). */
    (void)ar_heap_os__cloexec_from(3);
    (void)setpgid(0, 0);
    /* A set-user-ID program runs no program found on its caller's PATH
     * (os.c): libdw only. */
    int secure = ar_heap_os__secure();
    const char *program = ar_heap_options.symbolizer;
    if (program[0] != '\0' && !secure) {
        ar_heap_symbol__with_program(t, program);
        _exit(0);
    }
#ifdef AR_HEAP_HAVE_LIBDW
    if (ar_heap_symbol__with_libdw(t))
        _exit(0);
#endif
    if (!secure)
        ar_heap_symbol__with_program(t, "addr2line");
    _exit(0);
}

/* ------------------------------------------------------------ the parent's side */

static long ar_heap_symbol__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ar_heap_symbol__run(ar_heap_symbol_table_t *t);

void ar_heap_symbol__resolve(void)
{
    if (!ar_heap_symbol_mine || symbol.resolved)
        return;
    symbol.resolved = 1;
    ar_heap_symbol_table_t *t = symbol.table;
    if (t->npcs == 0)
        return;
    /* Its poll, read and waitpid are cancellation points (os.c). */
    int cancel = ar_heap_os__cancel_off();
    ar_heap_symbol__run(t);
    ar_heap_os__cancel_back(cancel);
}

/* The child that answers, and the wait for it. */
static void ar_heap_symbol__run(ar_heap_symbol_table_t *t)
{
    int saved_errno = errno;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        errno = saved_errno;
        return;
    }
    void *stack = mmap(NULL, AR_HEAP_SYMBOL_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stack == MAP_FAILED) {
        close(fds[0]);
        close(fds[1]);
        errno = saved_errno;
        return;
    }
    /* No CLONE_VM: a copy of the process. Exit signal 0: no SIGCHLD, and
     * only a wait with __WCLONE or __WALL sees it. The write end of the
     * pipe closes when the child (and whatever it runs) is done. */
    symbol.child_stack = stack;
    pid_t pid = clone(ar_heap_symbol__child, (char *)stack + AR_HEAP_SYMBOL_STACK, 0, t);
    close(fds[1]);
    if (pid > 0) {
        long deadline = ar_heap_symbol__now_ms() + AR_HEAP_SYMBOL_TIMEOUT_MS;
        for (;;) {
            long left = deadline - ar_heap_symbol__now_ms();
            if (left <= 0) {
                /* Hung (a lock another thread held at the clone, say):
                 * this process's later reports do without symbols
                 * rather than wait again. */
                (void)kill(-pid, SIGKILL); /* the child's group: it and what it runs */
                (void)kill(pid, SIGKILL);  /* killed before it made its group */
                atomic_store(&symbol.gave_up, 1);
                ar_heap_report__warning("symbolizer: no answer in 20 seconds; later reports "
                                        "print module+offset");
                break;
            }
            struct pollfd p = { fds[0], POLLIN, 0 };
            int r = poll(&p, 1, (int)left);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                continue;
            char sink[64];
            ssize_t got = read(fds[0], sink, sizeof sink);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
                break; /* the child is gone */
        }
        while (waitpid(pid, NULL, __WCLONE) < 0 && errno == EINTR)
            ;
    }
    close(fds[0]);
    (void)munmap(stack, AR_HEAP_SYMBOL_STACK);
    errno = saved_errno;
}
