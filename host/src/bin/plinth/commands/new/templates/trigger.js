// __NAME__: a Plinth trigger. `tick` emits one event {"n": N} per poll; the cursor is the
// last N, kept by the host between polls.

// A thrown object with a `payload` becomes the `err` side of the WIT result.
const fail = (tag, val) => Object.assign(new Error(String(val)), { payload: { tag, val } });

export const trigger = {
  listTriggers() {
    return [{ name: "tick", description: "Emit one numbered event per poll.", inputSchema: undefined, outputSchema: undefined }];
  },

  // `cursor` is null on the first poll. A count is 1 to 19 digits (it fits a u64, +1 too),
  // and a BigInt so that it never rounds.
  poll(name, ctx, cursor) {
    if (name !== "tick") throw fail("not-found", name);
    if (cursor != null && !/^[0-9]{1,19}$/.test(cursor)) throw fail("invalid-input", `cursor \`${cursor}\` is not a count`);
    const n = (cursor == null ? 0n : BigInt(cursor)) + 1n;
    return { events: [`{"n":${n}}`], cursor: String(n), nextPollMs: 1000 };
  },
};
