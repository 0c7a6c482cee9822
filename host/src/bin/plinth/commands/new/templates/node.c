// __NAME__: a Plinth node. `greet` answers {"message": "Hello, NAME!"} for params {"name"}.
//
// `node_plugin.h` is generated from wit/v0.1.0 when the plugin is built (see the README).
// Ownership follows wit-bindgen's C rules: an export's arguments are its own to free, and
// what it returns must be heap memory (the generated code frees it after the call).

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "node_plugin.h"

static const char INPUT[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}";
static const char OUTPUT[] =
    "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\"}},\"required\":[\"message\"]}";

void exports_plinth_plugin_node_list_nodes(exports_plinth_plugin_node_list_spec_t *ret) {
  exports_plinth_plugin_node_spec_t *spec = calloc(1, sizeof *spec);
  if (!spec) __builtin_trap();
  node_plugin_string_dup(&spec->name, "greet");
  node_plugin_string_dup(&spec->description, "Greet someone by name.");
  spec->input_schema.is_some = true;
  node_plugin_string_dup(&spec->input_schema.val, INPUT);
  spec->output_schema.is_some = true;
  node_plugin_string_dup(&spec->output_schema.val, OUTPUT);
  ret->ptr = spec;
  ret->len = 1;
}

bool exports_plinth_plugin_node_run(node_plugin_string_t *name, exports_plinth_plugin_node_call_context_t *ctx,
                                    exports_plinth_plugin_node_json_t *params, exports_plinth_plugin_node_json_t *ret,
                                    exports_plinth_plugin_node_plugin_error_t *err) {
  bool ok = false;
  json_buf_t who = {0};
  if (name->len != 5 || memcmp(name->ptr, "greet", 5) != 0) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_NOT_FOUND;
    node_plugin_string_dup_n(&err->val.not_found, (const char *)name->ptr, name->len);
  } else if (!json_get_string(params->ptr, params->len, "name", &who)) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_INVALID_INPUT;
    node_plugin_string_dup(&err->val.invalid_input, "`name` (a string) is required");
  } else {
    json_buf_t greeting = {0}, out = {0};
    json_str(&greeting, "Hello, ");
    json_put(&greeting, who.ptr, who.len);
    json_str(&greeting, "!");
    json_str(&out, "{\"message\":");
    json_quoted(&out, greeting.ptr, greeting.len);
    json_str(&out, "}");
    free(greeting.ptr);
    ret->ptr = out.ptr;
    ret->len = out.len;
    ok = true;
  }
  free(who.ptr);
  node_plugin_string_free(name);
  exports_plinth_plugin_node_call_context_free(ctx);
  exports_plinth_plugin_node_json_free(params);
  return ok;
}
