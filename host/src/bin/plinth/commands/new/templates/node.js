// __NAME__: a Plinth node. `greet` answers {"message": "Hello, NAME!"} for params {"name"}.

const INPUT = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };
const OUTPUT = { type: "object", properties: { message: { type: "string" } }, required: ["message"] };

// A thrown object with a `payload` becomes the `err` side of the WIT result.
const fail = (tag, val) => Object.assign(new Error(String(val)), { payload: { tag, val } });

export const node = {
  listNodes() {
    return [{
      name: "greet",
      description: "Greet someone by name.",
      inputSchema: JSON.stringify(INPUT),
      outputSchema: JSON.stringify(OUTPUT),
    }];
  },

  run(name, ctx, params) {
    if (name !== "greet") throw fail("not-found", name);
    // The host sends valid JSON in every json slot, but not necessarily an object.
    const who = JSON.parse(params)?.name;
    if (typeof who !== "string") throw fail("invalid-input", "`name` (a string) is required");
    return JSON.stringify({ message: `Hello, ${who}!` });
  },
};
