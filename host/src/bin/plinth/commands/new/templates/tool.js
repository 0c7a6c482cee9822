// __NAME__: a Plinth tool. `word-count` answers {"words": N} for arguments {"text"}.

const INPUT = { type: "object", properties: { text: { type: "string" } }, required: ["text"] };
const OUTPUT = { type: "object", properties: { words: { type: "integer" } }, required: ["words"] };

// A thrown object with a `payload` becomes the `err` side of the WIT result.
const fail = (tag, val) => Object.assign(new Error(String(val)), { payload: { tag, val } });

export const tool = {
  listTools() {
    return [{
      name: "word-count",
      description: "Count the words of a text (separated by ASCII whitespace).",
      inputSchema: JSON.stringify(INPUT),
      outputSchema: JSON.stringify(OUTPUT),
    }];
  },

  call(name, ctx, args) {
    if (name !== "word-count") throw fail("not-found", name);
    // The host sends valid JSON in every json slot, but not necessarily an object.
    const text = JSON.parse(args)?.text;
    if (typeof text !== "string") throw fail("invalid-input", "`text` (a string) is required");
    // Words are separated by ASCII whitespace (space, tab, newline, form feed, carriage return).
    return JSON.stringify({ words: (text.match(/[^ \t\n\f\r]+/g) ?? []).length });
  },
};
