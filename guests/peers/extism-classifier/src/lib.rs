//! The text classifier as an Extism plugin: the same logic as every other benchmark row
//! (parse the JSON arguments, classify, serialize), exported the way Extism plugins are.

use extism_pdk::{Error, FnResult, plugin_fn};

#[plugin_fn]
pub fn classify(input: String) -> FnResult<String> {
    let args: serde_json::Value = serde_json::from_str(&input)?;
    let text = args["text"].as_str().ok_or_else(|| Error::msg("`text` (a string) is required"))?;
    let c = classify::classify(text);
    Ok(serde_json::json!({"category": c.category, "confidence": c.confidence, "matched": c.matched}).to_string())
}
