// Sample tool plugin in C: `classify` sorts a text into spam, transactional or ham.
//
// The same keyword logic as the Rust sample (guests/shared/classify); the integration tests
// check that both give the same answer for the same input. One difference: this version
// lowercases ASCII letters only (C has no Unicode case mapping without a library), which
// cannot change a match since every phrase is ASCII, except for the rare non-ASCII capitals
// whose lowercase is ASCII (the Kelvin sign).
//
// `tool_plugin.h`/`tool_plugin.c` are generated from wit/v0.1.0 by `cargo xtask
// build-guests` (with the wit-bindgen-c crate); see the README for building by hand.
//
// Ownership follows wit-bindgen's C rules: the arguments of an export belong to it (freed
// here), and what it returns must be heap memory (the generated post-return frees it).

#include <stdlib.h>
#include <string.h>

#include "tool_plugin.h"

// Phrases typical of unsolicited advertising.
static const char *const SPAM[] = {
    "buy now", "limited offer", "act now", "click here", "free money", "winner", "you have won",
    "risk-free", "100% free", "urgent", "cheap", "discount", "viagra", "crypto giveaway",
};

// Phrases typical of receipts, notifications and account mail.
static const char *const TRANSACTIONAL[] = {
    "order", "receipt", "invoice", "shipped", "delivery", "password reset", "verification code",
    "your account", "payment received", "confirmation", "subscription renewed",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char INPUT_SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"]}";

// ---------------------------------------------------------------------------------------
// A growing byte buffer (the result JSON, decoded strings). Out of memory traps: a plugin
// instance lives for one call, so there is nothing to recover.

typedef struct {
  uint8_t *ptr;
  size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n) cap *= 2;
    b->ptr = realloc(b->ptr, cap);
    if (!b->ptr) __builtin_trap();
    b->cap = cap;
  }
  memcpy(b->ptr + b->len, data, n);
  b->len += n;
}

static void buf_str(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_uint(buf_t *b, size_t v) {
  char digits[24];
  size_t i = sizeof digits;
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  buf_put(b, digits + i, sizeof digits - i);
}

static void buf_utf8(buf_t *b, uint32_t cp) {
  uint8_t out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (uint8_t)cp, n = 1;
  } else if (cp < 0x800) {
    out[0] = (uint8_t)(0xC0 | cp >> 6), out[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
  } else if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | cp >> 12), out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
  } else {
    out[0] = (uint8_t)(0xF0 | cp >> 18), out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
  }
  buf_put(b, out, n);
}

// ---------------------------------------------------------------------------------------
// Just enough JSON reading to find the top-level "text" member. The host guarantees that
// `arguments` is valid JSON, so the reader does not re-validate; it never recurses, so a
// deeply nested input cannot overflow C's stack.

typedef struct {
  const uint8_t *p, *end;
} reader_t;

static void skip_ws(reader_t *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static uint32_t hex4(reader_t *r) {
  uint32_t v = 0;
  for (int i = 0; i < 4 && r->p < r->end; i++, r->p++) {
    uint8_t c = *r->p;
    v = v * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

// Reads the string at `r->p` (which is on its opening quote). Decodes it into `out` when
// `out` is not NULL, else only skips it.
static void read_string(reader_t *r, buf_t *out) {
  r->p++;  // opening quote
  while (r->p < r->end && *r->p != '"') {
    if (*r->p != '\\') {
      const uint8_t *start = r->p;
      while (r->p < r->end && *r->p != '"' && *r->p != '\\') r->p++;
      if (out) buf_put(out, start, (size_t)(r->p - start));
      continue;
    }
    r->p++;  // backslash
    uint8_t c = *r->p++;
    uint32_t cp = c;
    switch (c) {
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        cp = hex4(r);
        // A surrogate pair is two escapes; valid JSON may also hold a lone surrogate,
        // which becomes U+FFFD as in the other samples' runtimes.
        if (cp >= 0xD800 && cp < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
          reader_t peek = {r->p + 2, r->end};
          uint32_t lo = hex4(&peek);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            r->p = peek.p;
          }
        }
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
        break;
      default: break;  // '"', '\\' and '/' stand for themselves
    }
    if (out) buf_utf8(out, cp);
  }
  r->p++;  // closing quote
}

// Skips one value of any type, nested containers included, without recursion.
static void skip_value(reader_t *r) {
  size_t depth = 0;
  do {
    skip_ws(r);
    if (r->p >= r->end) return;
    uint8_t c = *r->p;
    if (c == '"') {
      read_string(r, NULL);
    } else if (c == '{' || c == '[') {
      depth++, r->p++;
    } else if (c == '}' || c == ']') {
      depth--, r->p++;
    } else if (c == ',' || c == ':') {
      r->p++;
    } else {  // number, true, false, null
      while (r->p < r->end && !strchr(",:]} \t\r\n", *r->p)) r->p++;
    }
  } while (depth > 0);
}

// Finds the top-level "text" member. Returns true and fills `text` when the arguments are
// an object whose (last, as in JSON.parse and serde_json) "text" member is a string.
static bool find_text(const tool_plugin_string_t *json, buf_t *text) {
  reader_t r = {json->ptr, json->ptr + json->len};
  skip_ws(&r);
  if (r.p >= r.end || *r.p != '{') return false;
  r.p++;
  bool found = false;
  buf_t key = {0};
  for (;;) {
    skip_ws(&r);
    if (r.p >= r.end || *r.p != '"') break;  // '}' (or the end)
    key.len = 0;
    read_string(&r, &key);
    skip_ws(&r);
    r.p++;  // ':'
    skip_ws(&r);
    if (key.len == 4 && memcmp(key.ptr, "text", 4) == 0) {
      found = r.p < r.end && *r.p == '"';
      if (found) {
        text->len = 0;
        read_string(&r, text);
      } else {
        skip_value(&r);
      }
    } else {
      skip_value(&r);
    }
    skip_ws(&r);
    if (r.p < r.end && *r.p == ',') r.p++;
  }
  free(key.ptr);
  return found;
}

// ---------------------------------------------------------------------------------------
// The classifier.

static bool contains(const buf_t *hay, const char *needle) {
  size_t n = strlen(needle);
  if (n > hay->len) return false;
  for (size_t i = 0; i + n <= hay->len; i++) {
    if (memcmp(hay->ptr + i, needle, n) == 0) return true;
  }
  return false;
}

// Appends `{"category":…,"confidence":…,"matched":[…]}` for `text` to `out`. Spam wins over
// transactional when both match as often: a phishing mail dressed as a receipt is still spam.
static const char *classify(const buf_t *text, buf_t *out) {
  buf_t lower = {0};
  buf_put(&lower, text->ptr ? (const void *)text->ptr : "", text->len);
  size_t bangs = 0;
  for (size_t i = 0; i < lower.len; i++) {
    if (lower.ptr[i] >= 'A' && lower.ptr[i] <= 'Z') lower.ptr[i] |= 0x20;
    if (lower.ptr[i] == '!') bangs++;
  }
  const char *spam[COUNT(SPAM)], *tx[COUNT(TRANSACTIONAL)];
  size_t n_spam = 0, n_tx = 0;
  for (size_t i = 0; i < COUNT(SPAM); i++)
    if (contains(&lower, SPAM[i])) spam[n_spam++] = SPAM[i];
  for (size_t i = 0; i < COUNT(TRANSACTIONAL); i++)
    if (contains(&lower, TRANSACTIONAL[i])) tx[n_tx++] = TRANSACTIONAL[i];
  free(lower.ptr);

  size_t spam_score = n_spam + (bangs >= 2 ? 1 : 0);
  const char *category, **matched;
  size_t n_matched, score;
  if (spam_score > 0 && spam_score >= n_tx) {
    category = "spam", matched = spam, n_matched = n_spam, score = spam_score;
  } else if (n_tx > 0) {
    category = "transactional", matched = tx, n_matched = n_tx, score = n_tx;
  } else {
    category = "ham", matched = NULL, n_matched = 0, score = 0;
  }
  // 0.6 with no match, else 0.5 + 0.2 per point, at most 0.99: in hundredths, so the
  // number prints exactly (0.6, 0.7, 0.9, 0.99) without printf.
  size_t hundredths = score == 0 ? 60 : (score >= 3 ? 99 : 50 + 20 * score);

  buf_str(out, "{\"category\":\"");
  buf_str(out, category);
  buf_str(out, "\",\"confidence\":0.");
  char digits[2] = {(char)('0' + hundredths / 10), (char)('0' + hundredths % 10)};
  buf_put(out, digits, hundredths % 10 ? 2 : 1);
  buf_str(out, ",\"matched\":[");
  for (size_t i = 0; i < n_matched; i++) {
    if (i) buf_str(out, ",");
    buf_str(out, "\"");
    buf_str(out, matched[i]);  // phrases need no JSON escaping
    buf_str(out, "\"");
  }
  buf_str(out, "]}");
  return category;
}

// ---------------------------------------------------------------------------------------
// The exports of plinth:plugin/tool@0.1.0.

void exports_plinth_plugin_tool_list_tools(exports_plinth_plugin_tool_list_tool_spec_t *ret) {
  exports_plinth_plugin_tool_tool_spec_t *spec = calloc(1, sizeof *spec);
  if (!spec) __builtin_trap();
  tool_plugin_string_dup(&spec->name, "classify");
  tool_plugin_string_dup(&spec->description, "Classify a message as spam, transactional or ham (keyword based).");
  tool_plugin_string_dup(&spec->input_schema, INPUT_SCHEMA);
  spec->output_schema.is_some = false;
  ret->ptr = spec;
  ret->len = 1;
}

bool exports_plinth_plugin_tool_call(tool_plugin_string_t *name, exports_plinth_plugin_tool_call_context_t *ctx,
                                     exports_plinth_plugin_tool_json_t *arguments, exports_plinth_plugin_tool_json_t *ret,
                                     exports_plinth_plugin_tool_plugin_error_t *err) {
  bool ok = false;
  buf_t text = {0};
  if (name->len != 8 || memcmp(name->ptr, "classify", 8) != 0) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_NOT_FOUND;
    tool_plugin_string_dup_n(&err->val.not_found, (const char *)name->ptr, name->len);
  } else if (!find_text(arguments, &text)) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_INVALID_INPUT;
    tool_plugin_string_dup(&err->val.invalid_input, "`text` (a string) is required");
  } else {
    buf_t out = {0};
    const char *category = classify(&text, &out);
    ret->ptr = out.ptr;
    ret->len = out.len;

    buf_t line = {0};
    buf_str(&line, "classified ");
    buf_uint(&line, text.len);
    buf_str(&line, " bytes as ");
    buf_str(&line, category);
    tool_plugin_string_t message = {line.ptr, line.len};
    plinth_plugin_host_log(PLINTH_PLUGIN_TYPES_LEVEL_DEBUG, &message);
    free(line.ptr);
    ok = true;
  }
  free(text.ptr);
  tool_plugin_string_free(name);
  exports_plinth_plugin_tool_call_context_free(ctx);
  exports_plinth_plugin_tool_json_free(arguments);
  return ok;
}
