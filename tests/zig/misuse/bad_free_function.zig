// free of a function pointer.
// expect: points to a function, not to a block
const ar_allocator = @import("ar_allocator");
fn callback() callconv(.C) void {}
export fn misuse() void {
    const f: *const fn () callconv(.C) void = &callback;
    ar_allocator.free(f);
}
