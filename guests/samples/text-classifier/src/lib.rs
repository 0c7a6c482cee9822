//! Sample tool plugin: `classify` sorts a text into spam, transactional or ham.
//!
//! It uses the SDK's typed entry point: the arguments are parsed straight into [`Args`]
//! (the text borrowed from the host's JSON when it has no escapes) and the result is
//! serialized from [`Classified`], with no `serde_json::Value` built for either.

use std::borrow::Cow;

use plinth_guest::{Context, Error, Input, Output, Tool, ToolSpec, json};
use serde::{Deserialize, Serialize};

struct TextClassifier;

/// The arguments: `{"text": "..."}`.
#[derive(Deserialize)]
struct Args<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// The result, as the output schema below describes it.
#[derive(Serialize)]
struct Classified {
    category: &'static str,
    confidence: f64,
    matched: Vec<&'static str>,
}

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
        let args: Args = args.parse()?;
        let c = classify::classify(&args.text);
        plinth_guest::debug!("classified {} bytes as {}", args.text.len(), c.category);
        Output::json(&Classified { category: c.category, confidence: c.confidence, matched: c.matched })
    }
}

plinth_guest::export_tool!(TextClassifier);
