"""__NAME__: a Plinth trigger. `tick` emits one event {"n": N} per poll; the cursor is the
last N, kept by the host between polls."""

import json
from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.trigger import PollResult
from wit_world.imports import types


class Trigger(exports.Trigger):
    def list_triggers(self) -> list[types.Spec]:
        return [types.Spec(name="tick", description="Emit one numbered event per poll.",
                           input_schema=None, output_schema=None)]

    def poll(self, name: str, ctx: types.CallContext, cursor: Optional[str]) -> PollResult:
        if name != "tick":
            raise Err(types.PluginError_NotFound(name))
        if cursor is None:
            last = 0
        elif 1 <= len(cursor) <= 19 and cursor.isascii() and cursor.isdigit():  # fits a u64, +1 too
            last = int(cursor)
        else:
            raise Err(types.PluginError_InvalidInput(f"cursor `{cursor}` is not a count"))
        n = last + 1
        return PollResult(events=[json.dumps({"n": n})], cursor=str(n), next_poll_ms=1000)
