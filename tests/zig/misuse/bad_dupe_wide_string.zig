// dupe of a string of u16: not bytes.
// expect: ar_allocator.dupe needs a string
const ar_allocator = @import("ar_allocator");
export fn misuse(wide: [*:0]const u16) void {
    const copy = ar_allocator.dupe(wide, "copy") orelse return;
    ar_allocator.free(copy);
}
