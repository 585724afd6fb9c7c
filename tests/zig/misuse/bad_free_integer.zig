// free of an integer that holds an address.
// expect: ar_allocator.free needs a pointer
const ar_allocator = @import("ar_allocator");
export fn misuse(address: usize) void {
    ar_allocator.free(address);
}
