// dupe of an integer.
// expect: ar_allocator.dupe needs a string
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    const copy = ar_allocator.dupe(@as(usize, 42), "copy") orelse return;
    ar_allocator.free(copy);
}
