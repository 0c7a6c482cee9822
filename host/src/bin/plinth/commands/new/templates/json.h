// json.h: the little JSON a Plinth plugin in C needs, without a library: a byte buffer to
// write JSON into, a validator, and a reader for one top-level string member.
//
// The host sends valid JSON in every `json` slot of the WIT, and checks that what a plugin
// returns in one parses; bytes from elsewhere (a listener's body) need `json_valid` first.
// Nothing here recurses, so a deeply nested input cannot overflow C's stack.

#ifndef PLUGIN_JSON_H
#define PLUGIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// A growing byte buffer. Out of memory traps: an instance lives for one call, so there is
// nothing to recover.
typedef struct {
  uint8_t *ptr;
  size_t len, cap;
} json_buf_t;

static inline void json_put(json_buf_t *b, const void *data, size_t n) {
  if (n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n) {
      if (cap > SIZE_MAX / 2) __builtin_trap();
      cap *= 2;
    }
    b->ptr = realloc(b->ptr, cap);
    if (!b->ptr) __builtin_trap();
    b->cap = cap;
  }
  memcpy(b->ptr + b->len, data, n);
  b->len += n;
}

static inline void json_str(json_buf_t *b, const char *s) { json_put(b, s, strlen(s)); }

static inline void json_uint(json_buf_t *b, uint64_t v) {
  char digits[20];
  size_t i = sizeof digits;
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  json_put(b, digits + i, sizeof digits - i);
}

static inline void json_utf8(json_buf_t *b, uint32_t cp) {
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
  json_put(b, out, n);
}

// Appends the UTF-8 text `s` as a JSON string, quotes included.
static inline void json_quoted(json_buf_t *b, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  json_put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c == '"' || c == '\\') {
      uint8_t esc[2] = {'\\', c};
      json_put(b, esc, 2);
    } else if (c < 0x20) {
      uint8_t esc[6] = {'\\', 'u', '0', '0', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
      json_put(b, esc, 6);
    } else {
      json_put(b, &c, 1);
    }
  }
  json_put(b, "\"", 1);
}

// ---------------------------------------------------------------------------------------
// Reading.

typedef struct {
  const uint8_t *p, *end;
} json_reader_t;

static inline void json_ws(json_reader_t *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static inline bool json_hex4(json_reader_t *r, uint32_t *v) {
  if (r->end - r->p < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; i++, r->p++) {
    uint8_t c = *r->p, d;
    if (c >= '0' && c <= '9') d = (uint8_t)(c - '0');
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (uint8_t)((c | 0x20) - 'a' + 10);
    else return false;
    *v = *v * 16 + d;
  }
  return true;
}

// Reads the string at `r->p` (on its opening quote), checking its escapes and UTF-8 as
// strictly as the host's parser does. Decodes it into `out` unless `out` is NULL.
static inline bool json_string(json_reader_t *r, json_buf_t *out) {
  r->p++;  // opening quote
  while (r->p < r->end) {
    uint8_t c = *r->p;
    if (c == '"') {
      r->p++;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (++r->p >= r->end) return false;
      uint8_t e = *r->p++;
      uint32_t cp;
      switch (e) {
        case '"': case '\\': case '/': cp = e; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
          if (!json_hex4(r, &cp)) return false;
          if (cp >= 0xDC00 && cp < 0xE000) return false;  // a low surrogate alone
          if (cp >= 0xD800 && cp < 0xDC00) {               // a high one: its pair must follow
            uint32_t lo;
            if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') return false;
            r->p += 2;
            if (!json_hex4(r, &lo) || lo < 0xDC00 || lo >= 0xE000) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          break;
        }
        default: return false;
      }
      if (out) json_utf8(out, cp);
      continue;
    }
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)(r->end - r->p) < n) return false;
    uint32_t cp = n == 1 ? c : (uint32_t)(c & (0x7F >> n));
    for (size_t i = 1; i < n; i++) {
      if ((r->p[i] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (r->p[i] & 0x3F);
    }
    bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return false;
    if (out) json_put(out, r->p, n);
    r->p += n;
  }
  return false;
}

static inline bool json_digits(json_reader_t *r) {
  const uint8_t *start = r->p;
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  return r->p > start;
}

// A number, and one the host's parser takes: it reads every number as a double or a
// 64-bit integer, and refuses one whose magnitude is out of a double's range (1e400, or an
// integer of 400 digits). The decimal exponent of the first significant digit is counted
// here; over 308 is refused (a few numbers from 1.8e308 to 9.9e308 pass here and are then
// refused by the host).
static inline bool json_number(json_reader_t *r) {
  long magnitude = -1;  // the power of ten of the first nonzero digit; -1: none yet
  bool significant = false;
  if (r->p < r->end && *r->p == '-') r->p++;
  const uint8_t *start = r->p;
  if (r->p < r->end && *r->p == '0') {
    r->p++;
  } else if (!json_digits(r)) {
    return false;
  } else {
    significant = true;
    magnitude = (long)(r->p - start) - 1;
  }
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    const uint8_t *frac = r->p;
    if (!json_digits(r)) return false;
    for (const uint8_t *d = frac; !significant && d < r->p; d++) {
      if (*d != '0') significant = true, magnitude = -(long)(d - frac) - 1;
    }
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    bool negative = r->p < r->end && *r->p == '-';
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    const uint8_t *exp = r->p;
    if (!json_digits(r)) return false;
    long e = 0;
    for (const uint8_t *d = exp; d < r->p && e < 100000; d++) e = e * 10 + (*d - '0');
    if (significant) magnitude += negative ? -e : e;
  }
  return !significant || magnitude <= 308;
}

static inline bool json_word(json_reader_t *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
  r->p += n;
  return true;
}

// How deep `json_valid` lets arrays and objects nest: as deep as the host's parser
// (serde_json) reads a payload.
#define JSON_MAX_DEPTH 127

// Whether `text` is one JSON value (RFC 8259), whitespace around it allowed.
static inline bool json_valid(const uint8_t *text, size_t len) {
  json_reader_t r = {text, text + len};
  uint8_t open[JSON_MAX_DEPTH];
  size_t depth = 0;
  enum { VALUE, KEY, AFTER } want = VALUE;
  for (;;) {
    json_ws(&r);
    if (want == AFTER && depth == 0) return r.p == r.end;
    if (r.p >= r.end) return false;
    uint8_t c = *r.p;
    if (want == KEY) {
      if (c != '"' || !json_string(&r, NULL)) return false;
      json_ws(&r);
      if (r.p >= r.end || *r.p != ':') return false;
      r.p++;
      want = VALUE;
    } else if (want == VALUE && (c == '{' || c == '[')) {
      if (depth == JSON_MAX_DEPTH) return false;
      open[depth++] = c;
      r.p++;
      json_ws(&r);
      if (r.p < r.end && *r.p == (c == '{' ? '}' : ']')) {
        r.p++;
        depth--;
        want = AFTER;
      } else {
        want = c == '{' ? KEY : VALUE;
      }
    } else if (want == VALUE) {
      bool ok = c == '"'   ? json_string(&r, NULL)
                : c == 't' ? json_word(&r, "true")
                : c == 'f' ? json_word(&r, "false")
                : c == 'n' ? json_word(&r, "null")
                           : json_number(&r);
      if (!ok) return false;
      want = AFTER;
    } else {  // after a value inside an array or object
      uint8_t inner = open[depth - 1];
      if (c == (inner == '{' ? '}' : ']')) {
        r.p++;
        depth--;
      } else if (c == ',') {
        r.p++;
        want = inner == '{' ? KEY : VALUE;
      } else {
        return false;
      }
    }
  }
}

// Skips one value of valid JSON, nested containers included.
static inline void json_skip(json_reader_t *r) {
  size_t depth = 0;
  do {
    json_ws(r);
    if (r->p >= r->end) return;
    uint8_t c = *r->p;
    if (c == '"') {
      json_string(r, NULL);
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

// Finds the member `key` of the object `text` (valid JSON). True, with the decoded UTF-8
// string in `out`, when the (last, as in other parsers) `key` member is a string.
static inline bool json_get_string(const uint8_t *text, size_t len, const char *key, json_buf_t *out) {
  json_reader_t r = {text, text + len};
  size_t key_len = strlen(key);
  json_buf_t name = {0};
  bool found = false;
  json_ws(&r);
  if (r.p >= r.end || *r.p != '{') return false;
  r.p++;
  for (;;) {
    json_ws(&r);
    if (r.p >= r.end || *r.p != '"') break;  // '}'
    name.len = 0;
    if (!json_string(&r, &name)) break;
    json_ws(&r);
    r.p++;  // ':'
    json_ws(&r);
    bool wanted = name.len == key_len && memcmp(name.ptr, key, key_len) == 0;
    if (wanted && r.p < r.end && *r.p == '"') {
      out->len = 0;
      found = json_string(&r, out);
      if (!found) break;
    } else {
      found = wanted ? false : found;
      json_skip(&r);
    }
    json_ws(&r);
    if (r.p < r.end && *r.p == ',') r.p++;
  }
  free(name.ptr);
  return found;
}

#endif
