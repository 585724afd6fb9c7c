//! ar_allocator.zig: typed allocation over arheap's tracked heap, for Zig.
//!
//! The Zig side of <ar_allocator.h>: the same blocks, the same reports,
//! with Zig's types instead of byte counts and casts.
//!
//!     const ar_allocator = @import("ar_allocator");
//!
//!     const agent = ar_allocator.create(Agent, "agent") orelse return null;
//!     const scores = ar_allocator.alloc(i32, 10, "score history") orelse return null;
//!     const name = ar_allocator.dupe(argv[1], "agent name") orelse return null;
//!     const more = ar_allocator.realloc(i32, scores, 20, "score history") orelse return null;
//!     ar_allocator.free(more);
//!     ar_allocator.free(name);
//!     ar_allocator.free(agent);
//!
//! Every block comes from arheap's C functions, so C code may free what
//! Zig allocated and the other way round, and blocks show in the one leak
//! report with their description.
//!
//! The mode is that of <arheap/ar_heap.h>: `tracking` below is its
//! AR_HEAP_TRACKING, 1 with a debug-heap library unless AR_HEAP_DISABLE
//! is defined for the @cImport (zig's -DAR_HEAP_DISABLE).
//!
//!   tracking: each call passes the Zig caller's file and line to
//!     ar_heap__malloc(size, file, line, desc) and its siblings. Zig has
//!     no way to hand a function its caller's @src() (an inline
//!     function's @src() names the inline function), so the functions are
//!     real calls in this mode and find the caller's file:line from their
//!     return address in the program's debug information, once per call
//!     site (a cache keeps it); the name is the source path as compiled,
//!     made relative to the working directory when under it. Without
//!     debug information (a stripped program) the site is "zig", line 0.
//!   release: the functions are inline and are the libc calls (malloc,
//!     calloc, strdup, strndup, realloc, free) with the size arithmetic a
//!     careful programmer writes; desc is not used, and a string literal
//!     for it costs nothing (tests/zig/zero_overhead.sh compares the
//!     machine code). Zig evaluates every argument, so a desc computed at
//!     run time is computed in release builds too.
//!
//! Misuse is a compile error naming the function and what it wanted:
//! a zero-bit or comptime-only type, an alignment above malloc's, a
//! string without a terminator or length, a non-pointer, a slice or a
//! function pointer to free, a pointer of another type or a const one to
//! realloc. See ar_allocator.zig(3).
//!
//! Use: the directory of this file is `pkg-config --variable=zigdir
//! arheap`; give it to zig as a module (-Mar_allocator=DIR/ar_allocator.zig)
//! or copy the file beside your sources, and put pkg-config's --cflags
//! where @cImport sees them, so that <arheap/ar_heap.h> is found. Zig 0.14.

const std = @import("std");

const c = @cImport({
    @cInclude("arheap/ar_heap.h");
});

/// True when calls are tracked (AR_HEAP_TRACKING of <arheap/ar_heap.h>).
pub const tracking: bool = c.AR_HEAP_TRACKING != 0;

/// The largest alignment malloc promises (max_align_t's: 16 on x86-64);
/// a type that needs more is refused at compile time.
pub const max_alignment: usize = @max(@alignOf(c_longdouble), @alignOf(c_longlong), @alignOf(f64), @alignOf(usize));

/// create(T, desc): one uninitialised T, or null (errno ENOMEM).
/// Release it with free().
pub const create = if (tracking) Tracked.create else Libc.create;

/// alloc(T, n, desc): n zeroed T, or null (errno ENOMEM) when memory is
/// exhausted or n * @sizeOf(T) overflows usize. Release it with free().
pub const alloc = if (tracking) Tracked.alloc else Libc.alloc;

/// dupe(str, desc): a NUL-terminated copy of a string, or null (errno
/// ENOMEM; null when str is a null optional). str: [*:0]const u8,
/// [:0]const u8, [*c]const u8, a string literal or *const [N:0]u8 (copied
/// up to its NUL), []const u8 or *const [N]u8 (copied up to its length or
/// its first NUL, whichever comes first), const or not, or an optional of
/// any of them.
pub const dupe = if (tracking) Tracked.dupe else Libc.dupe;

/// realloc(T, ptr, n, desc): resize the block at ptr to n T. ptr is a
/// *T, [*]T or [*c]T (optional or not, not const); null allocates. Returns
/// the block, or null with the old block untouched (errno ENOMEM, also
/// when n * @sizeOf(T) overflows usize). n 0 frees the block and returns
/// null, as ar_heap__realloc does.
pub const realloc = if (tracking) Tracked.realloc else Libc.realloc;

/// free(ptr): release a block from any of these functions or from C.
/// ptr: any single, many-item or C pointer, const or not, optional or not;
/// null is a no-op.
pub const free = if (tracking) Tracked.free else Libc.free;

// ------------------------------------------------------------ compile-time checks

/// The element type T of create, alloc and realloc: a runtime type with a
/// size, aligned no more than malloc aligns.
fn checkElement(comptime T: type, comptime func: []const u8) void {
    const name = "ar_allocator." ++ func ++ ": ";
    switch (@typeInfo(T)) {
        .type, .comptime_int, .comptime_float, .enum_literal, .undefined, .null, .noreturn => @compileError(name ++ "`" ++ @typeName(T) ++ "` exists only at compile time; there is nothing to allocate"),
        .@"opaque" => @compileError(name ++ "`" ++ @typeName(T) ++ "` is opaque: its size is unknown; allocate it where its size is known"),
        .@"fn" => @compileError(name ++ "`" ++ @typeName(T) ++ "` is a function type, not data"),
        else => {},
    }
    if (@sizeOf(T) == 0)
        @compileError(name ++ "`" ++ @typeName(T) ++ "` has no size (a zero-bit type); there is nothing to allocate");
    if (@alignOf(T) > max_alignment)
        @compileError(std.fmt.comptimePrint("{s}`{s}` needs {d}-byte alignment; malloc promises {d}", .{ name, @typeName(T), @alignOf(T), max_alignment }));
}

/// Pointer size and sentinel, read so that both spellings of Zig 0.14's
/// std.builtin.Type work (.One and .sentinel in its development builds,
/// .one and .sentinel_ptr in its releases).
fn sizeOf(comptime info: std.builtin.Type.Pointer) PointerSize {
    inline for (@typeInfo(PointerSize).@"enum".fields) |field| {
        if (std.ascii.eqlIgnoreCase(field.name, @tagName(info.size))) return @field(PointerSize, field.name);
    }
    unreachable;
}

const PointerSize = enum { one, many, slice, c };

fn hasSentinel(comptime info: anytype) bool {
    if (@hasField(@TypeOf(info), "sentinel_ptr")) return info.sentinel_ptr != null;
    return info.sentinel != null;
}

/// How dupe copies a string of type S.
const DupeKind = enum { terminated, bounded_array, bounded_slice };

/// Whether S's terminator is a NUL: strdup stops at a NUL, so a string
/// ended by another byte ([:'x']const u8) must be copied by its length
/// or not at all (until stop 41 any terminator went to strdup, which read
/// on past it).
fn nulTerminated(comptime S: type) bool {
    const end = std.meta.sentinel(S) orelse return false;
    return end == 0;
}

fn dupeKind(comptime S: type) DupeKind {
    const wanted = "ar_allocator.dupe needs a string: [*:0]const u8, [:0]const u8, [*c]const u8, " ++
        "[]const u8, a string literal or a pointer to a u8 array (or an optional of one); got `" ++ @typeName(S) ++ "`";
    const info = switch (@typeInfo(S)) {
        .pointer => |p| p,
        else => @compileError(wanted),
    };
    switch (sizeOf(info)) {
        .one => switch (@typeInfo(info.child)) {
            .array => |a| {
                if (a.child != u8) @compileError(wanted);
                return if (nulTerminated(S)) .terminated else .bounded_array;
            },
            else => @compileError(wanted),
        },
        .many => {
            if (info.child != u8) @compileError(wanted);
            if (!hasSentinel(info))
                @compileError("ar_allocator.dupe: `" ++ @typeName(S) ++ "` has neither a terminator nor a length; " ++
                    "use [*:0]const u8, or a slice ([]const u8) of the bytes");
            if (!nulTerminated(S))
                @compileError("ar_allocator.dupe: `" ++ @typeName(S) ++ "` ends with a terminator that is not 0, " ++
                    "and the copy stops at a NUL; use a slice ([]const u8) of the bytes");
            return .terminated;
        },
        .c => {
            if (info.child != u8) @compileError(wanted);
            return .terminated;
        },
        .slice => {
            if (info.child != u8) @compileError(wanted);
            return if (nulTerminated(S)) .terminated else .bounded_slice;
        },
    }
}

/// The check of free's argument type P; returns the function that turns
/// a P into the address C's free takes.
fn freeable(comptime P: type) fn (P) ?*anyopaque {
    const wanted = "ar_allocator.free needs a pointer that create, alloc, dupe, realloc or C returned; got `" ++ @typeName(P) ++ "`";
    const Pointer = switch (@typeInfo(P)) {
        .pointer => P,
        .optional => |o| switch (@typeInfo(o.child)) {
            .pointer => o.child,
            else => @compileError(wanted),
        },
        .null => @compileError("ar_allocator.free(null) frees nothing; pass the pointer to free"),
        else => @compileError(wanted),
    };
    const info = @typeInfo(Pointer).pointer;
    switch (sizeOf(info)) {
        .slice => @compileError("ar_allocator.free takes the pointer of the block, not a slice `" ++ @typeName(P) ++
            "`; pass slice.ptr when the slice starts at the block"),
        .one, .many, .c => {},
    }
    switch (@typeInfo(info.child)) {
        .@"fn" => @compileError("ar_allocator.free: `" ++ @typeName(P) ++ "` points to a function, not to a block"),
        .@"opaque" => {},
        else => if (@sizeOf(info.child) == 0)
            @compileError("ar_allocator.free: `" ++ @typeName(P) ++ "` points to a zero-bit type; no block holds one"),
    }
    return struct {
        fn address(ptr: P) ?*anyopaque {
            const bytes: ?*const anyopaque = @ptrCast(ptr);
            return @constCast(bytes);
        }
    }.address;
}

/// The element type of realloc's ptr, which must be T's.
fn checkResizable(comptime T: type, comptime P: type) void {
    const wanted = "ar_allocator.realloc(" ++ @typeName(T) ++ ", ptr, ...) needs ptr of type [*]" ++ @typeName(T) ++
        ", *" ++ @typeName(T) ++ " or [*c]" ++ @typeName(T) ++ " (optional or not, not const); got `" ++ @typeName(P) ++ "`";
    const Pointer = switch (@typeInfo(P)) {
        .pointer => P,
        .optional => |o| o.child,
        else => @compileError(wanted),
    };
    const info = switch (@typeInfo(Pointer)) {
        .pointer => |p| p,
        else => @compileError(wanted),
    };
    if (sizeOf(info) == .slice or info.child != T or info.is_const or info.is_volatile or hasSentinel(info))
        @compileError(wanted);
}

/// Where realloc's n * @sizeOf(T) would overflow usize: n above this.
fn maxCount(comptime T: type) usize {
    return std.math.maxInt(usize) / @sizeOf(T);
}

fn setOutOfMemory() void {
    std.c._errno().* = @intFromEnum(std.c.E.NOMEM);
}

// ------------------------------------------------------------ release: libc

const Libc = struct {
    inline fn create(comptime T: type, desc: [*c]const u8) ?*T {
        comptime checkElement(T, "create");
        _ = desc;
        return @ptrCast(@alignCast(std.c.malloc(@sizeOf(T))));
    }

    inline fn alloc(comptime T: type, n: usize, desc: [*c]const u8) ?[*]T {
        comptime checkElement(T, "alloc");
        _ = desc;
        return @ptrCast(@alignCast(c.calloc(n, @sizeOf(T))));
    }

    inline fn dupe(str: anytype, desc: [*c]const u8) ?[*:0]u8 {
        _ = desc;
        const S = @TypeOf(str);
        if (@typeInfo(S) == .optional) {
            const some = str orelse return null;
            return Libc.copy(@TypeOf(some), some);
        }
        return Libc.copy(S, str);
    }

    inline fn copy(comptime S: type, str: S) ?[*:0]u8 {
        return switch (comptime dupeKind(S)) {
            .terminated => @ptrCast(c.strdup(@ptrCast(str))),
            .bounded_array => @ptrCast(c.strndup(@ptrCast(str), @typeInfo(@typeInfo(S).pointer.child).array.len)),
            .bounded_slice => @ptrCast(c.strndup(@ptrCast(str.ptr), str.len)),
        };
    }

    inline fn free(ptr: anytype) void {
        const address = comptime freeable(@TypeOf(ptr));
        std.c.free(address(ptr));
    }

    inline fn realloc(comptime T: type, ptr: anytype, n: usize, desc: [*c]const u8) ?[*]T {
        comptime checkElement(T, "realloc");
        comptime checkResizable(T, @TypeOf(ptr));
        _ = desc;
        if (n > comptime maxCount(T)) {
            setOutOfMemory();
            return null;
        }
        return @ptrCast(@alignCast(std.c.realloc(@ptrCast(ptr), n * @sizeOf(T))));
    }
};

// ------------------------------------------------------------ tracking: arheap

const Tracked = struct {
    // Each function is a real call (noinline), so that its return address
    // is in the caller, at the line of the call.

    noinline fn create(comptime T: type, desc: [*c]const u8) ?*T {
        comptime checkElement(T, "create");
        const site = callerSite(@returnAddress());
        return @ptrCast(@alignCast(c.ar_heap__malloc(@sizeOf(T), site.file, site.line, desc)));
    }

    noinline fn alloc(comptime T: type, n: usize, desc: [*c]const u8) ?[*]T {
        comptime checkElement(T, "alloc");
        const site = callerSite(@returnAddress());
        return @ptrCast(@alignCast(c.ar_heap__calloc(n, @sizeOf(T), site.file, site.line, desc)));
    }

    noinline fn dupe(str: anytype, desc: [*c]const u8) ?[*:0]u8 {
        const site = callerSite(@returnAddress());
        const S = @TypeOf(str);
        if (@typeInfo(S) == .optional) {
            const some = str orelse return null;
            return Tracked.copy(@TypeOf(some), some, site, desc);
        }
        return Tracked.copy(S, str, site, desc);
    }

    inline fn copy(comptime S: type, str: S, site: Site, desc: [*c]const u8) ?[*:0]u8 {
        return switch (comptime dupeKind(S)) {
            .terminated => @ptrCast(c.ar_heap__strdup(@ptrCast(str), site.file, site.line, desc)),
            .bounded_array => @ptrCast(c.ar_heap__strndup(@ptrCast(str), @typeInfo(@typeInfo(S).pointer.child).array.len, site.file, site.line, desc)),
            .bounded_slice => @ptrCast(c.ar_heap__strndup(@ptrCast(str.ptr), str.len, site.file, site.line, desc)),
        };
    }

    noinline fn realloc(comptime T: type, ptr: anytype, n: usize, desc: [*c]const u8) ?[*]T {
        comptime checkElement(T, "realloc");
        comptime checkResizable(T, @TypeOf(ptr));
        const site = callerSite(@returnAddress());
        if (n > comptime maxCount(T)) {
            setOutOfMemory();
            return null;
        }
        return @ptrCast(@alignCast(c.ar_heap__realloc(@ptrCast(ptr), n * @sizeOf(T), site.file, site.line, desc)));
    }

    noinline fn free(ptr: anytype) void {
        const address = comptime freeable(@TypeOf(ptr));
        const bytes = address(ptr) orelse return;
        const site = callerSite(@returnAddress());
        c.ar_heap__free_at(bytes, site.file, site.line);
    }
};

// ------------------------------------------------------------ call sites

const Site = struct {
    file: [*:0]const u8,
    line: c_int,
};

/// The site of a program without debug information: AgeRun's name for a
/// Zig caller, as ar_heap.h's site macros use.
const unknown_site: Site = .{ .file = "zig", .line = 0 };

/// Sites found so far, by return address. The names live as long as the
/// process, as a block's file must. Memory from the OS (page_allocator),
/// not from malloc, so that arheap never sees it.
const sites = struct {
    var lock: std.Thread.Mutex = .{};
    var arena = std.heap.ArenaAllocator.init(std.heap.page_allocator);
    var by_address: std.AutoHashMapUnmanaged(usize, Site) = .{};
};

fn callerSite(return_address: usize) Site {
    sites.lock.lock();
    defer sites.lock.unlock();
    if (sites.by_address.get(return_address)) |known| return known;
    // The call instruction is the byte before the return address.
    const site = lookUp(return_address -| 1) orelse unknown_site;
    sites.by_address.put(sites.arena.allocator(), return_address, site) catch {};
    return site;
}

/// The file and line of `address` from the program's DWARF line table.
fn lookUp(address: usize) ?Site {
    const info = std.debug.getSelfDebugInfo() catch return null;
    const module = info.getModuleForAddress(address) catch return null;
    const symbol = module.getSymbolAtAddress(info.allocator, address) catch return null;
    const location = symbol.source_location orelse return null;
    if (location.line == 0 or location.line > std.math.maxInt(c_int)) return null;
    const name = relativeToWorkingDirectory(location.file_name);
    const file = sites.arena.allocator().dupeZ(u8, name) catch return null;
    return .{ .file = file.ptr, .line = @intCast(location.line) };
}

fn relativeToWorkingDirectory(path: []const u8) []const u8 {
    var buffer: [std.fs.max_path_bytes]u8 = undefined;
    const cwd = std.posix.getcwd(&buffer) catch return path;
    if (cwd.len > 1 and path.len > cwd.len + 1 and std.mem.startsWith(u8, path, cwd) and path[cwd.len] == '/')
        return path[cwd.len + 1 ..];
    return path;
}
