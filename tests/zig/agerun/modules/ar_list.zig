// ar_list.zig: a growing list of owned strings, for C callers.
const ar_allocator = @import("ar_allocator.zig");

const List = extern struct {
    items: ?[*][*c]u8,
    count: usize,
    capacity: usize,
};

export fn ar_list__create() ?*List {
    const list = ar_allocator.create(List, "list") orelse return null;
    list.* = .{ .items = null, .count = 0, .capacity = 0 };
    return list;
}

export fn ar_list__add(list: *List, item: [*c]const u8) c_int {
    if (list.count == list.capacity) {
        const capacity = if (list.capacity == 0) 4 else 2 * list.capacity;
        const items = if (list.items) |old|
            ar_allocator.grow([*c]u8, old, capacity, "list items") orelse return 0
        else
            ar_allocator.alloc([*c]u8, capacity, "list items") orelse return 0;
        list.items = items;
        list.capacity = capacity;
    }
    const copy = ar_allocator.dupe(item, "list item") orelse return 0;
    list.items.?[list.count] = copy;
    list.count += 1;
    return 1;
}

export fn ar_list__count(list: *const List) usize {
    return list.count;
}

export fn ar_list__at(list: *const List, index: usize) [*c]const u8 {
    return if (index < list.count) list.items.?[index] else null;
}

export fn ar_list__destroy(list: ?*List) void {
    const own = list orelse return;
    if (own.items) |items| {
        for (0..own.count) |i| ar_allocator.free(items[i]);
        ar_allocator.free(items);
    }
    ar_allocator.free(own);
}

export fn ar_list__leak_one(item: [*c]const u8) void {
    _ = ar_allocator.dupe(item, "forgotten list item");
}

export fn ar_list__free_twice() void {
    const list = ar_list__create() orelse return;
    ar_allocator.free(list);
    ar_allocator.free(list);
}
