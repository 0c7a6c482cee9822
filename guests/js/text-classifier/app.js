// Sample tool plugin in JavaScript: `classify` sorts a text into spam, transactional or ham.
//
// The same keyword logic as the Rust sample (guests/shared/classify); the integration tests
// check that both give the same answer for the same input.
//
// Build (from guests/js, after `npm install --no-save`):
//   npx jco componentize "$PWD/text-classifier/app.js" --wit "$PWD/../../wit/v0.1.0" \
//     --world-name tool-plugin --backend quickjs --backend-qjs-disable-async \
//     --backend-qjs-stub-wasi -o "$PWD/../../target/guests/js_text_classifier.wasm"

import { log } from "plinth:plugin/host@0.1.0";

// Phrases typical of unsolicited advertising.
const SPAM = [
  "buy now", "limited offer", "act now", "click here", "free money", "winner", "you have won",
  "risk-free", "100% free", "urgent", "cheap", "discount", "viagra", "crypto giveaway",
];

// Phrases typical of receipts, notifications and account mail.
const TRANSACTIONAL = [
  "order", "receipt", "invoice", "shipped", "delivery", "password reset", "verification code",
  "your account", "payment received", "confirmation", "subscription renewed",
];

const INPUT_SCHEMA = { type: "object", properties: { text: { type: "string" } }, required: ["text"] };

// Spam wins over transactional when both match as often: a phishing mail dressed as a
// receipt is still spam.
function classify(text) {
  const lower = text.toLowerCase();
  const spam = SPAM.filter((p) => lower.includes(p));
  const tx = TRANSACTIONAL.filter((p) => lower.includes(p));
  const spamScore = spam.length + (text.split("!").length - 1 >= 2 ? 1 : 0);
  let category, matched, score;
  if (spamScore > 0 && spamScore >= tx.length) {
    [category, matched, score] = ["spam", spam, spamScore];
  } else if (tx.length > 0) {
    [category, matched, score] = ["transactional", tx, tx.length];
  } else {
    [category, matched, score] = ["ham", [], 0];
  }
  const confidence = score === 0 ? 0.6 : Math.min(0.5 + 0.2 * score, 0.99);
  return { category, confidence, matched };
}

// QuickJS has no TextEncoder: count UTF-8 bytes by hand (for the log line).
function utf8Length(s) {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

// A thrown `{ payload }` becomes the `err` side of the WIT result.
class PluginError extends Error {
  constructor(tag, val) {
    super(typeof val === "string" ? val : tag);
    this.payload = { tag, val };
  }
}

export const tool = {
  listTools() {
    return [{
      name: "classify",
      description: "Classify a message as spam, transactional or ham (keyword based).",
      inputSchema: JSON.stringify(INPUT_SCHEMA),
      outputSchema: undefined,
    }];
  },

  call(name, ctx, args) {
    if (name !== "classify") {
      throw new PluginError("not-found", name);
    }
    // The host only ever sends valid JSON, but not necessarily an object.
    const parsed = JSON.parse(args);
    const text = parsed !== null && typeof parsed === "object" ? parsed.text : undefined;
    if (typeof text !== "string") {
      throw new PluginError("invalid-input", "`text` (a string) is required");
    }
    const result = classify(text);
    log("debug", `classified ${utf8Length(text)} bytes as ${result.category}`);
    return JSON.stringify(result);
  },
};
