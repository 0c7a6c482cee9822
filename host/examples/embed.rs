//! Embedding Plinth: load a plugin once, call it many times (the README's example).
//!
//! Run after `cargo xtask build-guests`:
//! `cargo run -p plinth --example embed`

use plinth::{CallContext, InvokeError, Limits, Runtime};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One runtime per process: it owns the engine, the instance pool and the epoch ticker.
    let runtime = Runtime::new()?;
    // Load once: compile, detect exports, pre-instantiate, read the tool list.
    let plugin = runtime.load_file("target/guests/text_classifier.wasm")?;
    for spec in &plugin.specs().tools {
        println!("tool {}: {}", spec.name, spec.description);
    }

    // Each call gets a fresh instance with the plugin's limits.
    let ctx = CallContext { instance_id: "run-42".into(), step_id: "classify".into(), ..CallContext::default() };
    let out = plugin.call_tool("classify", &ctx, r#"{"text":"Your order has shipped"}"#)?;
    println!("{} ({} fuel, {:?})", out.output, out.fuel_used, out.wall);

    // Tighter limits for one call: a cheap handle sharing the compiled code.
    let strict = plugin.with_limits(Limits { fuel: 1_000, timeout: Duration::from_millis(100), ..Limits::default() })?;
    match strict.call_tool("classify", &ctx, r#"{"text":"hello"}"#) {
        Err(e @ InvokeError::OutOfFuel { .. }) => println!("as expected: {e} (retryable: {})", e.retryable()),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
