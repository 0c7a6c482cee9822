"""__NAME__: a Plinth listener. `webhook` turns each JSON body it receives into one
`webhook.received` event, whose payload is the body as it came."""

import json
import math
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.listener import Dispatch, HandleResult, InboundMessage, ListenerSpec
from wit_world.imports import types

# The host reads a payload with serde_json, which takes at most 127 levels of nesting. The
# check comes first because Python's parser recurses once per level and would exhaust the
# wasm stack on a body nested thousands deep. One pass over the chars that matter.
MAX_DEPTH = 127
SPECIAL = re.compile(r'[\\"\[\]{}]')


def depth(text: str) -> int:
    level = deepest = 0
    in_string = False
    escaped = -1  # the index of a char a backslash escapes
    for m in SPECIAL.finditer(text):
        i, c = m.start(), m.group()
        if i == escaped:
            continue
        if in_string:
            if c == "\\":
                escaped = i + 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            level += 1
            deepest = max(deepest, level)
        else:  # "]" or "}"
            level -= 1
    return deepest


# What Python's json reads but the host refuses: NaN and Infinity, and numbers out of a
# double's range (1e400 would become inf).
def no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def finite(digits: str) -> float:
    value = float(digits)
    if math.isinf(value):
        raise ValueError(f"{digits[:20]}… is out of range")
    return value


def integer(digits: str) -> int:
    finite(digits)  # the host reads an integer too large for a u64 as a double
    return int(digits)


class Listener(exports.Listener):
    def list_listeners(self) -> list[ListenerSpec]:
        return [ListenerSpec(name="webhook", platform="generic",
                             description="Dispatch each JSON webhook as an event.", config_schema=None)]

    def handle(self, name: str, ctx: types.CallContext, message: InboundMessage) -> HandleResult:
        if name != "webhook":
            raise Err(types.PluginError_NotFound(name))
        try:
            text = message.body.decode("utf-8")
            if depth(text) > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            value = json.loads(text, parse_constant=no_constant, parse_float=finite, parse_int=integer)
            # A lone surrogate ("\ud800") parses, but is not UTF-8: this encoding refuses it.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except ValueError as e:  # not UTF-8, too deep, or not JSON
            raise Err(types.PluginError_InvalidInput(f"the body is not JSON: {e}"))
        # The text itself is the payload: it is JSON as it came.
        return HandleResult(dispatches=[Dispatch(event="webhook.received", payload=text)], reply=None)
