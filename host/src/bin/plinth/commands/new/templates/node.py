"""__NAME__: a Plinth node. `greet` answers {"message": "Hello, NAME!"} for params {"name"}."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

INPUT = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
OUTPUT = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}


class Node(exports.Node):
    def list_nodes(self) -> list[types.Spec]:
        return [types.Spec(name="greet", description="Greet someone by name.",
                           input_schema=json.dumps(INPUT), output_schema=json.dumps(OUTPUT))]

    def run(self, name: str, ctx: types.CallContext, params: str) -> str:
        if name != "greet":
            raise Err(types.PluginError_NotFound(name))
        # The host sends valid JSON in every json slot, but not necessarily an object.
        args = json.loads(params)
        who = args.get("name") if isinstance(args, dict) else None
        if not isinstance(who, str):
            raise Err(types.PluginError_InvalidInput("`name` (a string) is required"))
        return json.dumps({"message": f"Hello, {who}!"})
