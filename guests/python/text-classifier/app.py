"""Sample tool plugin in Python: `classify` sorts a text into spam, transactional or ham.

The same keyword logic as the Rust sample (guests/shared/classify); the integration tests
check that both give the same answer for the same input.

Build (from the repository root):
    componentize-py -d wit/v0.1.0 -w tool-plugin componentize app \
        -p guests/python/text-classifier -o target/guests/python_text_classifier.wasm
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.tool import ToolSpec
from wit_world.imports import host, types

# Phrases typical of unsolicited advertising.
SPAM = (
    "buy now", "limited offer", "act now", "click here", "free money", "winner", "you have won",
    "risk-free", "100% free", "urgent", "cheap", "discount", "viagra", "crypto giveaway",
)

# Phrases typical of receipts, notifications and account mail.
TRANSACTIONAL = (
    "order", "receipt", "invoice", "shipped", "delivery", "password reset", "verification code",
    "your account", "payment received", "confirmation", "subscription renewed",
)

INPUT_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def classify(text: str) -> dict:
    """Spam wins over transactional when both match as often: a phishing mail dressed as a
    receipt is still spam."""
    lower = text.lower()
    spam = [p for p in SPAM if p in lower]
    tx = [p for p in TRANSACTIONAL if p in lower]
    spam_score = len(spam) + (1 if text.count("!") >= 2 else 0)
    if spam_score > 0 and spam_score >= len(tx):
        category, matched, score = "spam", spam, spam_score
    elif tx:
        category, matched, score = "transactional", tx, len(tx)
    else:
        category, matched, score = "ham", [], 0
    confidence = 0.6 if score == 0 else min(0.5 + 0.2 * score, 0.99)
    return {"category": category, "confidence": confidence, "matched": matched}


class Tool(exports.Tool):
    def list_tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="classify",
                description="Classify a message as spam, transactional or ham (keyword based).",
                input_schema=json.dumps(INPUT_SCHEMA),
                output_schema=None,
            )
        ]

    def call(self, name: str, ctx: types.CallContext, arguments: str) -> str:
        if name != "classify":
            raise Err(types.PluginError_NotFound(name))
        # The host only ever sends valid JSON, but not necessarily an object.
        args = json.loads(arguments)
        text = args.get("text") if isinstance(args, dict) else None
        if not isinstance(text, str):
            raise Err(types.PluginError_InvalidInput("`text` (a string) is required"))
        result = classify(text)
        host.log(types.Level.DEBUG, f"classified {len(text.encode())} bytes as {result['category']}")
        return json.dumps(result)
