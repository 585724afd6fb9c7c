// create of a zero-bit type: nothing to allocate.
// expect: ar_allocator.create: `bad_create_zero_bit.Empty` has no size (a zero-bit type)
const ar_allocator = @import("ar_allocator");
const Empty = struct {};
export fn misuse() void {
    const p = ar_allocator.create(Empty, "nothing") orelse return;
    _ = p;
}
