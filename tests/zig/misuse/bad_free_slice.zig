// free of a slice: the block is its pointer.
// expect: ar_allocator.free takes the pointer of the block, not a slice
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    const items = ar_allocator.alloc(u32, 8, "items") orelse return;
    const slice: []u32 = items[0..8];
    ar_allocator.free(slice);
}
