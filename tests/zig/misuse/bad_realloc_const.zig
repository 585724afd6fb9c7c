// realloc through a const pointer.
// expect: ar_allocator.realloc(u8, ptr, ...) needs ptr of type [*]u8
const ar_allocator = @import("ar_allocator");
export fn misuse(bytes: [*]const u8) void {
    const more = ar_allocator.realloc(u8, bytes, 8, "bytes") orelse return;
    ar_allocator.free(more);
}
