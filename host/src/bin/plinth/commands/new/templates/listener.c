// __NAME__: a Plinth listener. `webhook` turns each JSON body it receives into one
// `webhook.received` event.
//
// `listener_plugin.h` is generated from wit/v0.1.0 when the plugin is built (see the
// README). Ownership follows wit-bindgen's C rules: an export's arguments are its own to
// free, and what it returns must be heap memory (the generated code frees it after the call).

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "listener_plugin.h"

void exports_plinth_plugin_listener_list_listeners(exports_plinth_plugin_listener_list_listener_spec_t *ret) {
  exports_plinth_plugin_listener_listener_spec_t *spec = calloc(1, sizeof *spec);
  if (!spec) __builtin_trap();
  listener_plugin_string_dup(&spec->name, "webhook");
  listener_plugin_string_dup(&spec->platform, "generic");
  listener_plugin_string_dup(&spec->description, "Dispatch each JSON webhook as an event.");
  ret->ptr = spec;
  ret->len = 1;
}

bool exports_plinth_plugin_listener_handle(listener_plugin_string_t *name, exports_plinth_plugin_listener_call_context_t *ctx,
                                           exports_plinth_plugin_listener_inbound_message_t *message,
                                           exports_plinth_plugin_listener_handle_result_t *ret,
                                           exports_plinth_plugin_listener_plugin_error_t *err) {
  bool ok = false;
  if (name->len != 7 || memcmp(name->ptr, "webhook", 7) != 0) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_NOT_FOUND;
    listener_plugin_string_dup_n(&err->val.not_found, (const char *)name->ptr, name->len);
  } else if (!json_valid(message->body.ptr, message->body.len)) {
    err->tag = PLINTH_PLUGIN_TYPES_PLUGIN_ERROR_INVALID_INPUT;
    listener_plugin_string_dup(&err->val.invalid_input, "the body is not JSON");
  } else {
    exports_plinth_plugin_listener_dispatch_t *d = calloc(1, sizeof *d);
    if (!d) __builtin_trap();
    listener_plugin_string_dup(&d->event, "webhook.received");
    // The body is valid JSON: it is the payload as it came (its bytes move to the result).
    d->payload = (exports_plinth_plugin_listener_json_t){message->body.ptr, message->body.len};
    message->body.ptr = NULL;
    message->body.len = 0;
    ret->dispatches.ptr = d;
    ret->dispatches.len = 1;
    ret->reply.is_some = false;
    ok = true;
  }
  listener_plugin_string_free(name);
  exports_plinth_plugin_listener_call_context_free(ctx);
  exports_plinth_plugin_listener_inbound_message_free(message);
  return ok;
}
