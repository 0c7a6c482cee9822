"""__NAME__: a Plinth tool. `word-count` answers {"words": N} for arguments {"text"}."""

import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.tool import ToolSpec
from wit_world.imports import types

INPUT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
OUTPUT = {"type": "object", "properties": {"words": {"type": "integer"}}, "required": ["words"]}
# Words are separated by ASCII whitespace (space, tab, newline, form feed, carriage return).
WORD = re.compile(r"[^ \t\n\f\r]+")


class Tool(exports.Tool):
    def list_tools(self) -> list[ToolSpec]:
        return [ToolSpec(name="word-count", description="Count the words of a text (separated by ASCII whitespace).",
                         input_schema=json.dumps(INPUT), output_schema=json.dumps(OUTPUT))]

    def call(self, name: str, ctx: types.CallContext, arguments: str) -> str:
        if name != "word-count":
            raise Err(types.PluginError_NotFound(name))
        # The host sends valid JSON in every json slot, but not necessarily an object.
        args = json.loads(arguments)
        text = args.get("text") if isinstance(args, dict) else None
        if not isinstance(text, str):
            raise Err(types.PluginError_InvalidInput("`text` (a string) is required"))
        return json.dumps({"words": len(WORD.findall(text))})
