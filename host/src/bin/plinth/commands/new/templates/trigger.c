// __NAME__: a Plinth trigger. `tick` emits one event {"n": N} per poll; the cursor is the
// last N, kept by the host between polls.
//
// `trigger_plugin.h` is generated from wit/v0.1.0 when the plugin is built (see the README).
// Ownership follows wit-bindgen's C rules: an export's arguments are its own to free, and
// what it returns must be heap memory (the generated code frees it after the call).

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "trigger_plugin.h"

void exports_plinth_plugin_trigger_list_triggers(exports_plinth_plugin_trigger_list_spec_t *ret) {
  exports_plinth_plugin_trigger_spec_t *spec = calloc(1, sizeof *spec);
  if (!spec) __builtin_trap();
  trigger_plugin_string_dup(&spec->name, "tick");
  trigger_plugin_string_dup(&spec->description, "Emit one numbered event per poll.");
  ret->ptr = spec;
  ret->len = 1;
}

// The count in `cursor`: 1 to 19 ASCII digits (so that it fits a u64 with room for +1).
static bool parse_count(const trigger_plugin_string_t *cursor, uint64_t *n) {
  if (cursor->len == 0 || cursor->len > 19) return false;
  *n = 0;
  for (size_t i = 0; i < cursor->len; i++) {
    if (cursor->ptr[i] < '0' || cursor->ptr[i] > '9') return false;
    *n = *n * 10 + (uint64_t)(cursor->ptr[i] - '0');
  }
  return true;
}

// `maybe_cursor` is NULL on the first poll.
bool exports_plinth_plugin_trigger_poll(trigger_plugin_string_t *name, exports_plinth_plugin_trigger_call_context_t *ctx,
                                        trigger_plugin_string_t *maybe_cursor, exports_plinth_plugin_trigger_poll_result_t *ret,
                                        exports_plinth_plugin_trigger_plugin_error_t *err) {
  bool ok = false;
  uint64_t last = 0;
  if (name->len != 4 || memcmp(name->ptr, "tick", 4) != 0) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_NOT_FOUND;
    trigger_plugin_string_dup_n(&err->val.not_found, (const char *)name->ptr, name->len);
  } else if (maybe_cursor && !parse_count(maybe_cursor, &last)) {
    json_buf_t message = {0};
    json_str(&message, "cursor `");
    json_put(&message, maybe_cursor->ptr, maybe_cursor->len);
    json_str(&message, "` is not a count");
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_INVALID_INPUT;
    err->val.invalid_input = (trigger_plugin_string_t){message.ptr, message.len};
  } else {
    uint64_t n = last + 1;
    json_buf_t event = {0}, cursor = {0};
    json_str(&event, "{\"n\":");
    json_uint(&event, n);
    json_str(&event, "}");
    json_uint(&cursor, n);
    ret->events.ptr = malloc(sizeof *ret->events.ptr);
    if (!ret->events.ptr) __builtin_trap();
    ret->events.ptr[0] = (exports_plinth_plugin_trigger_json_t){event.ptr, event.len};
    ret->events.len = 1;
    ret->cursor.is_some = true;
    ret->cursor.val = (trigger_plugin_string_t){cursor.ptr, cursor.len};
    ret->next_poll_ms.is_some = true;
    ret->next_poll_ms.val = 1000;
    ok = true;
  }
  trigger_plugin_string_free(name);
  if (maybe_cursor) trigger_plugin_string_free(maybe_cursor);
  exports_plinth_plugin_trigger_call_context_free(ctx);
  return ok;
}
