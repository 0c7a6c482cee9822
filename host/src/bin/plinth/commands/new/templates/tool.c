// __NAME__: a Plinth tool. `word-count` answers {"words": N} for arguments {"text"}.
//
// `tool_plugin.h` is generated from wit/v0.1.0 when the plugin is built (see the README).
// Ownership follows wit-bindgen's C rules: an export's arguments are its own to free, and
// what it returns must be heap memory (the generated code frees it after the call).

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tool_plugin.h"

static const char INPUT[] =
    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"]}";
static const char OUTPUT[] =
    "{\"type\":\"object\",\"properties\":{\"words\":{\"type\":\"integer\"}},\"required\":[\"words\"]}";

void exports_plinth_plugin_tool_list_tools(exports_plinth_plugin_tool_list_tool_spec_t *ret) {
  exports_plinth_plugin_tool_tool_spec_t *spec = calloc(1, sizeof *spec);
  if (!spec) __builtin_trap();
  tool_plugin_string_dup(&spec->name, "word-count");
  tool_plugin_string_dup(&spec->description, "Count the words of a text (separated by ASCII whitespace).");
  tool_plugin_string_dup(&spec->input_schema, INPUT);
  spec->output_schema.is_some = true;
  tool_plugin_string_dup(&spec->output_schema.val, OUTPUT);
  ret->ptr = spec;
  ret->len = 1;
}

// ASCII whitespace: space, tab, newline, form feed, carriage return.
static bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

bool exports_plinth_plugin_tool_call(tool_plugin_string_t *name, exports_plinth_plugin_tool_call_context_t *ctx,
                                     exports_plinth_plugin_tool_json_t *arguments, exports_plinth_plugin_tool_json_t *ret,
                                     exports_plinth_plugin_tool_plugin_error_t *err) {
  bool ok = false;
  json_buf_t text = {0};
  if (name->len != 10 || memcmp(name->ptr, "word-count", 10) != 0) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_NOT_FOUND;
    tool_plugin_string_dup_n(&err->val.not_found, (const char *)name->ptr, name->len);
  } else if (!json_get_string(arguments->ptr, arguments->len, "text", &text)) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_INVALID_INPUT;
    tool_plugin_string_dup(&err->val.invalid_input, "`text` (a string) is required");
  } else {
    uint64_t words = 0;
    for (size_t i = 0; i < text.len; i++) {
      if (!is_space(text.ptr[i]) && (i == 0 || is_space(text.ptr[i - 1]))) words++;
    }
    json_buf_t out = {0};
    json_str(&out, "{\"words\":");
    json_uint(&out, words);
    json_str(&out, "}");
    ret->ptr = out.ptr;
    ret->len = out.len;
    ok = true;
  }
  free(text.ptr);
  tool_plugin_string_free(name);
  exports_plinth_plugin_tool_call_context_free(ctx);
  exports_plinth_plugin_tool_json_free(arguments);
  return ok;
}
