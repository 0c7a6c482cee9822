//! `cargo xtask demo`: runs each sample plugin through the host and prints input, output,
//! fuel and latency (first call, and the median of 200 warm calls).

use std::time::{Duration, Instant};

use plinth::{CallContext, InboundMessage, Json, Outcome, Runtime};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn show<T>(title: &str, input: &str, out: &Outcome<T>, shown: String, mut again: impl FnMut() -> Duration) {
    let warm = median((0..200).map(|_| again()).collect());
    println!("== {title}");
    println!("   input:   {input}");
    println!("   output:  {shown}");
    println!(
        "   fuel:    {}   first call: {:.1} µs   warm median (200 calls, fresh instance each): {:.1} µs",
        out.fuel_used,
        out.wall.as_secs_f64() * 1e6,
        warm.as_secs_f64() * 1e6
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests");
    let runtime = Runtime::new()?;

    let tool = runtime.load_file(dir.join("text_classifier.wasm"))?;
    let ctx = CallContext::default();
    let args = r#"{"text":"Buy now! Limited offer!"}"#;
    let out = tool.call_tool("classify", &ctx, args)?;
    show("tool text-classifier/classify", args, &out, out.output.to_string(), || {
        let t = Instant::now();
        tool.call_tool("classify", &ctx, args).expect("call");
        t.elapsed()
    });

    let node = runtime.load_file(dir.join("json_transform.wasm"))?;
    let ctx = CallContext {
        config: Json::parse(r#"{"defaults":{"status":"new"},"pick":["id","email","status"],"rename":{"email":"contact"}}"#)?,
        ..CallContext::default()
    };
    let params = r#"{"id":7,"email":"ada@example.com","internal":true}"#;
    let out = node.run_node("transform", &ctx, params)?;
    show("node json-transform/transform", params, &out, out.output.to_string(), || {
        let t = Instant::now();
        node.run_node("transform", &ctx, params).expect("call");
        t.elapsed()
    });

    let trigger = runtime.load_file(dir.join("interval_trigger.wasm"))?;
    let ctx = CallContext {
        config: Json::parse(r#"{"interval_ms":1000}"#)?,
        data: Json::parse(r#"{"now_ms":10500}"#)?,
        ..CallContext::default()
    };
    let out = trigger.poll_trigger("interval", &ctx, Some("7000"))?;
    let shown = format!(
        "events {:?}, cursor {:?}, next poll in {:?}",
        out.output.events.iter().map(Json::as_str).collect::<Vec<_>>(),
        out.output.cursor,
        out.output.next_poll
    );
    show("trigger interval-trigger/interval (cursor 7000, now 10500)", "cursor=7000", &out, shown, || {
        let t = Instant::now();
        trigger.poll_trigger("interval", &ctx, Some("7000")).expect("call");
        t.elapsed()
    });

    let listener = runtime.load_file(dir.join("chat_listener.wasm"))?;
    let ctx = CallContext { config: Json::parse(r#"{"secret":"s3cret"}"#)?, ..CallContext::default() };
    let body = br#"{"type":"url_verification","challenge":"c-123"}"#.to_vec();
    // HMAC-SHA256("s3cret", body), precomputed for the demo.
    let sig = "sha256=".to_string() + &demo_hmac(b"s3cret", &body);
    let msg = InboundMessage { method: "POST".into(), path: "/hooks/chat".into(), headers: vec![("X-Signature".into(), sig)], body };
    let out = listener.handle_message("chat", &ctx, &msg)?;
    let shown = format!(
        "{} dispatches, reply {:?}",
        out.output.dispatches.len(),
        out.output.reply.as_ref().map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
    );
    show("listener chat-listener/chat (URL verification)", "signed challenge", &out, shown, || {
        let t = Instant::now();
        listener.handle_message("chat", &ctx, &msg).expect("call");
        t.elapsed()
    });
    Ok(())
}

/// HMAC-SHA256 with the `sha2` crate the host already uses (no extra dependency).
fn demo_hmac(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner.iter().copied()).collect();
    hex::encode(Sha256::digest(&outer))
}
