// uses_libc.zig: uses_module.zig written by hand with the libc calls and
// the overflow check a careful programmer writes. With -DAR_ZERO_DIFFERENT
// zero_create makes one extra call, which the comparison must see.
const std = @import("std");
const c = @cImport({
    @cInclude("stdlib.h");
    @cInclude("string.h");
    @cInclude("unistd.h");
});

const Agent = extern struct { id: u64, score: u32 };

export fn zero_create() ?*Agent {
    if (@hasDecl(c, "AR_ZERO_DIFFERENT")) _ = c.getpid();
    return @ptrCast(@alignCast(std.c.malloc(@sizeOf(Agent))));
}

export fn zero_alloc(n: usize) ?[*]u32 {
    return @ptrCast(@alignCast(c.calloc(n, @sizeOf(u32))));
}

export fn zero_dupe(str: [*:0]const u8) ?[*:0]u8 {
    return @ptrCast(c.strdup(str));
}

export fn zero_dupe_optional(str: ?[*:0]const u8) ?[*:0]u8 {
    const some = str orelse return null;
    return @ptrCast(c.strdup(some));
}

export fn zero_dupe_bounded(bytes: [*]const u8, n: usize) ?[*:0]u8 {
    return @ptrCast(c.strndup(bytes, n));
}

export fn zero_realloc(agents: ?[*]Agent, n: usize) ?[*]Agent {
    if (n > std.math.maxInt(usize) / @sizeOf(Agent)) {
        std.c._errno().* = @intFromEnum(std.c.E.NOMEM);
        return null;
    }
    return @ptrCast(@alignCast(std.c.realloc(agents, n * @sizeOf(Agent))));
}

export fn zero_free(agent: ?*Agent) void {
    std.c.free(agent);
}

export fn zero_free_const(str: [*:0]const u8) void {
    std.c.free(@constCast(str));
}
