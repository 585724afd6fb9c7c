// alloc of a type aligned beyond what malloc promises.
// expect: needs 64-byte alignment; malloc promises
const ar_allocator = @import("ar_allocator");
const Line = struct { bytes: [64]u8 align(64) };
export fn misuse() void {
    const p = ar_allocator.alloc(Line, 4, "cache lines") orelse return;
    ar_allocator.free(p);
}
