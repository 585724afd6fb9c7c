// free of the literal null.
// expect: ar_allocator.free(null) frees nothing
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    ar_allocator.free(null);
}
