// dupe of a many-item pointer: no terminator, no length.
// expect: has neither a terminator nor a length
const ar_allocator = @import("ar_allocator");
export fn misuse(bytes: [*]const u8) void {
    const copy = ar_allocator.dupe(bytes, "copy") orelse return;
    ar_allocator.free(copy);
}
