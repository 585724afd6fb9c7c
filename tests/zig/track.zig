// track.zig: Zig code for tests/zig/tracking.sh, built against the
// library under test. Each scenario is an exported function that
// track_main.c runs by name. The "site:" comments mark the lines the
// reports must name; tracking.sh finds them with grep.
const std = @import("std");
const ar_allocator = @import("ar_allocator");

const Agent = struct { id: u64, name: ?[*:0]u8 };

/// Every function once, the blocks freed but four left to leak.
export fn track_leaks() c_int {
    const agent = ar_allocator.create(Agent, "leaked agent") orelse return 1; // site:create
    const scores = ar_allocator.alloc(u32, 6, "leaked scores") orelse return 1; // site:alloc
    const name = ar_allocator.dupe("leaked name", "leaked name") orelse return 1; // site:dupe
    const items = ar_allocator.alloc(u16, 2, "items") orelse return 1;
    const grown = ar_allocator.realloc(u16, items, 50, "leaked items") orelse return 1; // site:realloc
    const freed = ar_allocator.create(Agent, "freed agent") orelse return 1;
    ar_allocator.free(freed);
    for (scores[0..6]) |score| if (score != 0) return 2; // alloc zeroes
    if (!std.mem.eql(u8, std.mem.span(name), "leaked name")) return 3;
    agent.* = .{ .id = 7, .name = name };
    grown[49] = 1;
    const kept = ar_allocator.dupe("kept", "INTENTIONAL_LEAK_FOR_TESTING kept") orelse return 1;
    _ = kept;
    return 0;
}

/// Every function, every block freed, from Zig and across to C.
export fn track_clean(from_c: ?*anyopaque) ?*anyopaque {
    const agent = ar_allocator.create(Agent, "agent") orelse return null;
    const items = ar_allocator.alloc(u64, 4, "items") orelse return null;
    const more = ar_allocator.realloc(u64, items, 8, "items") orelse return null;
    const slice: []const u8 = "bounded";
    const copy = ar_allocator.dupe(slice, "copy") orelse return null;
    if (std.mem.len(copy) != 7) return null;
    // Ended by 'x', not by a NUL: copied by its length, 2 bytes.
    const ended_by_x = [_:'x']u8{ 'a', 'b' };
    const x_slice: [:'x']const u8 = &ended_by_x;
    const x_copy = ar_allocator.dupe(x_slice, "x copy") orelse return null;
    if (std.mem.len(x_copy) != 2) return null;
    ar_allocator.free(x_copy);
    ar_allocator.free(more);
    ar_allocator.free(@as(?[*:0]const u8, copy));
    ar_allocator.free(from_c); // a C block, freed by Zig
    return agent; // a Zig block, for C to free
}

/// A terminating 0 written past the end of a 13-byte block (an off-by-one
/// string copy; 0 is never a canary byte), found at its free.
export fn track_overflow() c_int {
    const greeting = ar_allocator.alloc(u8, 13, "greeting") orelse return 1; // site:overflow-alloc
    @memcpy(greeting[0..14], "hello, world!\x00");
    ar_allocator.free(greeting); // site:overflow-free
    return 0;
}

/// The same block freed twice.
export fn track_double_free() c_int {
    const agent = ar_allocator.create(Agent, "twice freed agent") orelse return 1; // site:double-alloc
    ar_allocator.free(agent); // site:double-first
    ar_allocator.free(agent); // site:double-second
    return 0;
}
