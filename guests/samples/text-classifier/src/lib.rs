//! Sample tool plugin: `classify` sorts a text into spam, transactional or ham.
//!
//! It uses the SDK's typed entry point: the arguments are parsed straight into
//! `classify::Args` (a serde type whose text is borrowed from the host's JSON when it has no
//! escapes) and the answer is serialized from `classify::Classification`, with no
//! `serde_json::Value` built for either. The types live in the shared `classify` crate
//! (feature `serde`), which the Extism peer and the native benchmark row use too.

use plinth_guest::{Context, Error, Input, Output, Tool, ToolSpec, json};

struct TextClassifier;

impl Tool for TextClassifier {
    fn tools() -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "classify",
                "Classify a message as spam, transactional or ham (keyword based).",
                json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
            )
            .output(json!({
                "type": "object",
                "properties": {
                    "category": {"enum": ["spam", "transactional", "ham"]},
                    "confidence": {"type": "number"},
                    "matched": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["category", "confidence", "matched"]
            })),
        ]
    }

    fn call_typed(name: &str, _ctx: &Context, args: Input<'_>) -> Result<Output, Error> {
        if name != "classify" {
            return Err(Error::not_found(name));
        }
        let args: classify::Args = args.parse()?;
        let c = classify::classify(&args.text);
        plinth_guest::debug!("classified {} bytes as {}", args.text.len(), c.category);
        Output::json(&c)
    }
}

plinth_guest::export_tool!(TextClassifier);
