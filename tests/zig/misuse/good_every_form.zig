// The control: every form ar_allocator.zig accepts, used as documented.
// Must compile in both modes, as misuse snippets must not.
const std = @import("std");
const ar_allocator = @import("ar_allocator");

const Agent = struct { id: u64, name: ?[*:0]u8 };
const Handle = opaque {};

export fn control(c_string: [*c]const u8, handle: ?*Handle) c_int {
    const agent: *Agent = ar_allocator.create(Agent, "agent") orelse return 1;
    defer ar_allocator.free(agent);
    const scores: [*]i32 = ar_allocator.alloc(i32, 10, "scores") orelse return 1;
    const grown: [*]i32 = ar_allocator.realloc(i32, scores, 20, "scores") orelse return 1;
    defer ar_allocator.free(grown);
    const maybe: ?*Agent = ar_allocator.create(Agent, null);
    ar_allocator.free(maybe);
    const one = ar_allocator.realloc(Agent, @as(?*Agent, null), 1, "agent") orelse return 1;
    ar_allocator.free(@as(*const Agent, @ptrCast(one)));

    // dupe: every string type.
    const literal: ?[*:0]u8 = ar_allocator.dupe("literal", "literal");
    const terminated: [*:0]const u8 = "terminated";
    const sentinel_slice: [:0]const u8 = "sentinel slice";
    const slice: []const u8 = "slice";
    var array: [6]u8 = "array!".*;
    const optional: ?[*:0]const u8 = null;
    const ended_by_x = [_:'x']u8{ 'a', 'b' };
    const x_slice: [:'x']const u8 = &ended_by_x;
    const copies = [_]?[*:0]u8{
        literal,
        ar_allocator.dupe(terminated, "terminated"),
        ar_allocator.dupe(sentinel_slice, "sentinel slice"),
        ar_allocator.dupe(slice, "slice"),
        ar_allocator.dupe(&array, "array"),
        ar_allocator.dupe(array[0..3], "array part"),
        ar_allocator.dupe(c_string, "C string"),
        ar_allocator.dupe(optional, "optional"),
        ar_allocator.dupe(x_slice, "slice ended by x: by its length"),
        ar_allocator.dupe(&ended_by_x, "array ended by x: by its length"),
    };
    for (copies) |copy| ar_allocator.free(copy);

    // free: C, const, many-item and opaque pointers.
    const c_block: [*c]u8 = @ptrCast(ar_allocator.alloc(u8, 4, "bytes") orelse return 1);
    ar_allocator.free(c_block);
    const const_block: [*]const u8 = ar_allocator.alloc(u8, 4, "bytes") orelse return 1;
    ar_allocator.free(const_block);
    ar_allocator.free(handle);
    return if (ar_allocator.tracking) 1 else 0;
}
