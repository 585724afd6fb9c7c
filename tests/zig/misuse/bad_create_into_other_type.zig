// the result of create(u32) kept as a *u64: the compiler's own error.
// expect: expected type '*u64', found '*u32'
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    const p: *u64 = ar_allocator.create(u32, "counter") orelse return;
    ar_allocator.free(p);
}
