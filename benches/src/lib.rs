//! Shared pieces of the benchmarks.

use serde_json::{Value, json};

/// The text-classifier tool's work done natively: parse the arguments, classify, serialize.
/// The floor every plugin call is compared with.
pub fn classify_native(args: &str) -> String {
    let v: Value = serde_json::from_str(args).expect("bench input is JSON");
    let text = v["text"].as_str().expect("bench input has text");
    let c = classify::classify(text);
    json!({"category": c.category, "confidence": c.confidence, "matched": c.matched}).to_string()
}

/// A ~100-byte arguments object.
pub const ARGS_100B: &str = r#"{"text":"Buy now! Limited offer on all our products, click here before it is too late"}"#;

/// `target/guests/<name>.wasm`.
pub fn guest(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests").join(format!("{name}.wasm"))
}
