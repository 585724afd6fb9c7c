// create of an opaque type: its size is unknown.
// expect: is opaque: its size is unknown
const ar_allocator = @import("ar_allocator");
const Handle = opaque {};
export fn misuse() void {
    const p = ar_allocator.create(Handle, "handle") orelse return;
    ar_allocator.free(p);
}
