// __NAME__: a Plinth listener. `webhook` turns each JSON body it receives into one
// `webhook.received` event, whose payload is the body as it came.

// A thrown object with a `payload` becomes the `err` side of the WIT result.
const fail = (tag, val) => Object.assign(new Error(String(val)), { payload: { tag, val } });

// QuickJS has no TextDecoder. Bytes become one char each; ASCII is then already right, and
// anything else is decoded as UTF-8 (`escape` percent-encodes the chars over 0x7f, and
// decodeURIComponent throws a URIError on a malformed sequence).
function utf8(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return /[^\x00-\x7f]/.test(text) ? decodeURIComponent(escape(text)) : text;
}

// The host reads a payload with serde_json, which takes at most 127 levels of nesting. The
// check comes first because QuickJS's parser recurses once per level and would exhaust the
// wasm stack on a body nested thousands deep. One pass, strings skipped.
const MAX_DEPTH = 127;
function depth(text) {
  let level = 0, deepest = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next char
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++level);
    else if (c === 0x5d || c === 0x7d) level--;
  }
  return deepest;
}

// What JSON.parse takes but the host refuses: numbers out of a double's range (which
// would become Infinity) and lone surrogates ("\ud800").
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/;
function strict(key, value) {
  if (typeof value === "number" && !Number.isFinite(value)) throw new Error("a number is out of range");
  if ((typeof value === "string" && LONE_SURROGATE.test(value)) || LONE_SURROGATE.test(key)) throw new Error("a lone surrogate");
  return value;
}

export const listener = {
  listListeners() {
    return [{ name: "webhook", platform: "generic", description: "Dispatch each JSON webhook as an event.", configSchema: undefined }];
  },

  // `message.body` is a Uint8Array; a reply (undefined: none) answers the sender at once.
  handle(name, ctx, message) {
    if (name !== "webhook") throw fail("not-found", name);
    let text;
    try {
      text = utf8(message.body);
      if (depth(text) > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
      JSON.parse(text, strict);
    } catch (e) {
      throw fail("invalid-input", `the body is not JSON: ${e.message}`);
    }
    // The text itself, not JSON.stringify of what was parsed: that would round integers
    // over 2^53 and turn 1.0 into 1.
    return { dispatches: [{ event: "webhook.received", payload: text }], reply: undefined };
  },
};
