// a description without a terminator: a slice is not a C string.
// expect: expected type '[*c]const u8', found '[]const u8'
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    const desc: []const u8 = "counter";
    const p = ar_allocator.create(u32, desc) orelse return;
    ar_allocator.free(p);
}
