// uses_module.zig: every function of ar_allocator.zig, for
// tests/zig/zero_overhead.sh. uses_libc.zig is the same file written by
// hand with the libc calls; in release the two must compile to the same
// machine code.
const ar_allocator = @import("ar_allocator");

const Agent = extern struct { id: u64, score: u32 };

export fn zero_create() ?*Agent {
    return ar_allocator.create(Agent, "agent");
}

export fn zero_alloc(n: usize) ?[*]u32 {
    return ar_allocator.alloc(u32, n, "scores");
}

export fn zero_dupe(str: [*:0]const u8) ?[*:0]u8 {
    return ar_allocator.dupe(str, "name");
}

export fn zero_dupe_optional(str: ?[*:0]const u8) ?[*:0]u8 {
    return ar_allocator.dupe(str, "name");
}

export fn zero_dupe_bounded(bytes: [*]const u8, n: usize) ?[*:0]u8 {
    return ar_allocator.dupe(bytes[0..n], "name");
}

export fn zero_realloc(agents: ?[*]Agent, n: usize) ?[*]Agent {
    return ar_allocator.realloc(Agent, agents, n, "agents");
}

export fn zero_free(agent: ?*Agent) void {
    ar_allocator.free(agent);
}

export fn zero_free_const(str: [*:0]const u8) void {
    ar_allocator.free(str);
}
