// ar_allocator.zig: the project's own typed helpers over AR__HEAP__*, in
// the manner of AgeRun's: the macros of ar_heap.h, translated by
// @cImport. zig gets -D__ZIG__, so ar_heap.h gives macros that
// translate-c accepts (their site is "zig", line 0).
const c = @cImport({
    @cInclude("ar_heap.h");
});

pub inline fn create(comptime T: type, desc: [*c]const u8) ?*T {
    return @ptrCast(@alignCast(c.AR__HEAP__MALLOC(@sizeOf(T), desc)));
}

pub inline fn alloc(comptime T: type, n: usize, desc: [*c]const u8) ?[*]T {
    return @ptrCast(@alignCast(c.AR__HEAP__CALLOC(n, @sizeOf(T), desc)));
}

pub inline fn grow(comptime T: type, ptr: ?[*]T, n: usize, desc: [*c]const u8) ?[*]T {
    return @ptrCast(@alignCast(c.AR__HEAP__REALLOC(@as(?*anyopaque, @ptrCast(ptr)), n * @sizeOf(T), desc)));
}

pub inline fn dupe(str: [*c]const u8, desc: [*c]const u8) ?[*:0]u8 {
    return @ptrCast(c.AR__HEAP__STRDUP(str, desc));
}

pub inline fn free(ptr: anytype) void {
    c.AR__HEAP__FREE(@as(?*anyopaque, @ptrCast(@constCast(ptr))));
}
