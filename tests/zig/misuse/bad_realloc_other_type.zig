// realloc of an i32 array as u32.
// expect: ar_allocator.realloc(u32, ptr, ...) needs ptr of type [*]u32
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    const items = ar_allocator.alloc(i32, 4, "items") orelse return;
    const more = ar_allocator.realloc(u32, items, 8, "items") orelse return;
    ar_allocator.free(more);
}
