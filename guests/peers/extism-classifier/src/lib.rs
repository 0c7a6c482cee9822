//! The text classifier as an Extism plugin: the same logic as every other benchmark row
//! (parse the JSON arguments, classify, serialize), exported the way Extism plugins are.
//! Like Plinth's sample, it parses the arguments into a serde type and serializes its
//! result from one, so row 7 runs the same guest work as rows 2–4.

use std::borrow::Cow;

use extism_pdk::{FnResult, plugin_fn};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Args<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct Classified {
    category: &'static str,
    confidence: f64,
    matched: Vec<&'static str>,
}

#[plugin_fn]
pub fn classify(input: String) -> FnResult<String> {
    let args: Args = serde_json::from_str(&input)?;
    let c = classify::classify(&args.text);
    Ok(serde_json::to_string(&Classified { category: c.category, confidence: c.confidence, matched: c.matched })?)
}
