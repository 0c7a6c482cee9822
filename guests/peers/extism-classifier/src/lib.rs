//! The text classifier as an Extism plugin: the same logic as every other benchmark row
//! (parse the JSON arguments, classify, serialize), exported the way Extism plugins are.
//! Like Plinth's sample, it parses the arguments into `classify::Args` and serializes the
//! `Classification`, so row 7 runs the same guest work as rows 2–4.

use extism_pdk::{FnResult, plugin_fn};

#[plugin_fn]
pub fn classify(input: String) -> FnResult<String> {
    let args: classify::Args = serde_json::from_str(&input)?;
    Ok(serde_json::to_string(&classify::classify(&args.text))?)
}
