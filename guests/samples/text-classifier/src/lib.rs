//! Sample tool plugin: `classify` sorts a text into spam, transactional or ham.

use plinth_guest::{Context, Error, Tool, ToolSpec, Value, json};

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

    fn call(name: &str, _ctx: &Context, args: Value) -> Result<Value, Error> {
        if name != "classify" {
            return Err(Error::not_found(name));
        }
        let text = args["text"].as_str().ok_or_else(|| Error::invalid_input("`text` (a string) is required"))?;
        let c = classify::classify(text);
        plinth_guest::debug!("classified {} bytes as {}", text.len(), c.category);
        Ok(json!({"category": c.category, "confidence": c.confidence, "matched": c.matched}))
    }
}

plinth_guest::export_tool!(TextClassifier);
