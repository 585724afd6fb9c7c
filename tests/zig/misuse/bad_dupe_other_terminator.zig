// dupe of a many-item pointer ended by 'x', not by a NUL: the copy, made
// by strdup, would read on past the 'x'.
// expect: ends with a terminator that is not 0
const ar_allocator = @import("ar_allocator");
export fn misuse(bytes: [*:'x']const u8) void {
    const copy = ar_allocator.dupe(bytes, "copy") orelse return;
    ar_allocator.free(copy);
}
