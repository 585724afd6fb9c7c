// create of a type that exists only at compile time.
// expect: ar_allocator.create: `comptime_int` exists only at compile time
const ar_allocator = @import("ar_allocator");
export fn misuse() void {
    const p = ar_allocator.create(comptime_int, "number") orelse return;
    _ = p;
}
