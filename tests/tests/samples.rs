//! Every sample plugin: what it lists, its happy path and its bad input.

mod common;

use common::plugin;
use hmac::{Hmac, Mac};
use plinth::{CallContext, InboundMessage, InvokeError, Json, Kind, PluginError};
use serde_json::json;

fn ctx_with(config: serde_json::Value, data: serde_json::Value) -> CallContext {
    CallContext { config: Json::from(config), data: Json::from(data), ..CallContext::default() }
}

#[test]
fn text_classifier_lists_its_tool_with_a_schema() {
    let p = plugin("text_classifier");
    assert_eq!(p.kinds(), [Kind::Tool]);
    assert_eq!(p.api_version(), "0.1.0");
    let tools = &p.specs().tools;
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "classify");
    assert_eq!(tools[0].input_schema.as_ref().unwrap()["required"], json!(["text"]));
}

#[test]
fn text_classifier_classifies() {
    let p = plugin("text_classifier");
    let cases = [
        ("Buy now! Limited offer!", "spam"),
        ("Your order has shipped, receipt attached", "transactional"),
        ("Lunch tomorrow at noon?", "ham"),
    ];
    for (text, want) in cases {
        let out = p.call_tool("classify", &CallContext::default(), &json!({ "text": text }).to_string()).unwrap();
        assert_eq!(out.output.to_value().unwrap()["category"], want, "{text}");
        assert!(out.fuel_used > 0);
        assert!(!out.wall.is_zero());
    }
}

#[test]
fn text_classifier_rejects_bad_input_and_unknown_names() {
    let p = plugin("text_classifier");
    // The host checks the declared input schema first, and names the rule broken.
    let err = p.call_tool("classify", &CallContext::default(), r#"{"txt":"x"}"#).unwrap_err();
    assert!(matches!(&err, InvokeError::ContractViolation { problems, .. } if problems[0].contains("required")), "{err:?}");
    assert!(!err.retryable());
    // Without that check, the guest's own.
    let own = unchecked("text_classifier");
    let err = own.call_tool("classify", &CallContext::default(), r#"{"txt":"x"}"#).unwrap_err();
    assert!(matches!(&err, InvokeError::Guest(PluginError::InvalidInput(m)) if m.contains("missing field `text`")), "{err:?}");
    // Its typed arguments: a wrong type is named, escapes are decoded before classifying.
    let err = own.call_tool("classify", &CallContext::default(), r#"{"text":["buy now"]}"#).unwrap_err();
    assert!(matches!(&err, InvokeError::Guest(PluginError::InvalidInput(m)) if m.contains("expected a string")), "{err:?}");
    let out = own.call_tool("classify", &CallContext::default(), r#"{"text":"\u0042uy \u006eow"}"#).unwrap();
    assert_eq!(out.output.to_value().unwrap()["matched"], json!(["buy now"]));
    let err = p.call_tool("summarize", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::ExportNotFound { .. }), "{err:?}");
    // Not JSON: refused by the host before any guest code runs.
    let err = p.call_tool("classify", &CallContext::default(), "{text").unwrap_err();
    assert!(matches!(err, InvokeError::InvalidRequest(_)), "{err:?}");
    // Wrong kind.
    let err = p.run_node("classify", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::KindNotProvided { kind: Kind::Node, .. }), "{err:?}");
}

#[test]
fn text_classifier_debug_log_is_captured() {
    let p = plugin("text_classifier");
    let out = p.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap();
    assert!(out.logs.lines.iter().any(|l| l.message.contains("classified 2 bytes as ham")), "{:?}", out.logs);
}

#[test]
fn json_transform_applies_defaults_pick_and_rename() {
    let p = plugin("json_transform");
    assert_eq!(p.kinds(), [Kind::Node]);
    let ctx =
        ctx_with(json!({"defaults": {"status": "new"}, "pick": ["id", "email", "status"], "rename": {"email": "contact"}}), json!(null));
    let out = p.run_node("transform", &ctx, r#"{"id":7,"email":"a@b.c","secret":"x"}"#).unwrap();
    assert_eq!(out.output.to_value().unwrap(), json!({"id": 7, "contact": "a@b.c", "status": "new"}));
}

#[test]
fn json_transform_rejects_non_objects_and_bad_config() {
    let p = plugin("json_transform");
    let err = p.run_node("transform", &CallContext::default(), "[1,2]").unwrap_err();
    assert!(matches!(err, InvokeError::ContractViolation { direction: "input", .. }), "{err:?}");
    let err = unchecked("json_transform").run_node("transform", &CallContext::default(), "[1,2]").unwrap_err();
    assert!(matches!(err, InvokeError::Guest(PluginError::InvalidInput(_))), "{err:?}");
    let ctx = ctx_with(json!({"pick": "id"}), json!(null));
    let err = p.run_node("transform", &ctx, "{}").unwrap_err();
    assert!(matches!(&err, InvokeError::Guest(PluginError::InvalidInput(m)) if m.contains("pick")), "{err:?}");
}

#[test]
fn interval_trigger_emits_due_ticks_from_the_cursor() {
    let p = plugin("interval_trigger");
    assert_eq!(p.kinds(), [Kind::Trigger]);
    let ctx = ctx_with(json!({"interval_ms": 1000, "max_events": 10}), json!({"now_ms": 10_500}));
    // First poll: only the latest tick.
    let first = p.poll_trigger("interval", &ctx, None).unwrap().output;
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].to_value().unwrap()["tick_ms"], 10_000);
    assert_eq!(first.cursor.as_deref(), Some("10000"));
    assert_eq!(first.next_poll, Some(std::time::Duration::from_millis(500)));
    // From an older cursor: the backlog, oldest first.
    let out = p.poll_trigger("interval", &ctx, Some("7000")).unwrap().output;
    let ticks: Vec<_> = out.events.iter().map(|e| e.to_value().unwrap()["tick_ms"].as_u64().unwrap()).collect();
    assert_eq!(ticks, [8000, 9000, 10_000]);
    // Nothing due: no events, cursor unchanged (None keeps the previous one).
    let none = p.poll_trigger("interval", &ctx, Some("10000")).unwrap().output;
    assert!(none.events.is_empty());
    assert_eq!(none.cursor, None);
}

#[test]
fn trigger_events_count_against_the_output_cap() {
    let p = plugin("interval_trigger").with_limits(plinth::Limits { max_output: 64, ..plinth::Limits::default() }).unwrap();
    let ctx = ctx_with(json!({"interval_ms": 1, "max_events": 100}), json!({"now_ms": 1000}));
    let err = p.poll_trigger("interval", &ctx, Some("0")).unwrap_err();
    assert!(matches!(err, InvokeError::OutputTooLarge { limit: 64, .. }), "{err:?}");
}

#[test]
fn interval_trigger_survives_a_cursor_at_the_end_of_time() {
    let p = plugin("interval_trigger");
    let err = p.poll_trigger("interval", &CallContext::default(), Some(&u64::MAX.to_string())).unwrap_err();
    assert!(matches!(err, InvokeError::Guest(PluginError::InvalidInput(_))), "{err:?}");
}

#[test]
fn interval_trigger_rejects_a_bad_cursor() {
    let p = plugin("interval_trigger");
    let err = p.poll_trigger("interval", &CallContext::default(), Some("yesterday")).unwrap_err();
    assert!(matches!(err, InvokeError::Guest(PluginError::InvalidInput(_))), "{err:?}");
}

fn signed(secret: &str, body: &str) -> InboundMessage {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    InboundMessage {
        method: "POST".into(),
        path: "/hooks/chat".into(),
        headers: vec![("X-Signature".into(), sig)],
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn chat_listener_answers_the_challenge() {
    let p = plugin("chat_listener");
    assert_eq!(p.specs().listeners[0].platform.as_deref(), Some("chat"));
    let ctx = ctx_with(json!({"secret": "s3cret"}), json!(null));
    let msg = signed("s3cret", r#"{"type":"url_verification","challenge":"c-123"}"#);
    let out = p.handle_message("chat", &ctx, &msg).unwrap().output;
    assert!(out.dispatches.is_empty());
    let reply = out.reply.expect("reply");
    assert_eq!((reply.status, reply.body.as_slice()), (200, b"c-123".as_slice()));
}

#[test]
fn chat_listener_normalizes_a_message() {
    let p = plugin("chat_listener");
    let ctx = ctx_with(json!({"secret": "s3cret"}), json!(null));
    let msg = signed("s3cret", r#"{"type":"message","channel":"C1","user":"U1","text":"hello","ts":"1.0"}"#);
    let out = p.handle_message("chat", &ctx, &msg).unwrap().output;
    assert_eq!(out.dispatches.len(), 1);
    assert_eq!(out.dispatches[0].event, "message.created");
    assert_eq!(out.dispatches[0].payload.to_value().unwrap(), json!({"channel": "C1", "user": "U1", "text": "hello", "ts": "1.0"}));
    assert!(out.reply.is_none());
}

#[test]
fn chat_listener_refuses_bad_signatures() {
    let p = plugin("chat_listener");
    let ctx = ctx_with(json!({"secret": "s3cret"}), json!(null));
    let forged = signed("not-the-secret", r#"{"type":"message","channel":"C","user":"U","text":"x"}"#);
    let err = p.handle_message("chat", &ctx, &forged).unwrap_err();
    assert!(matches!(&err, InvokeError::Guest(PluginError::InvalidInput(m)) if m.contains("signature")), "{err:?}");
    let mut unsigned = forged.clone();
    unsigned.headers.clear();
    let err = p.handle_message("chat", &ctx, &unsigned).unwrap_err();
    assert!(matches!(&err, InvokeError::Guest(PluginError::InvalidInput(m)) if m.contains("X-Signature")), "{err:?}");
    // No secret configured: the plugin's own (non-retryable) failure.
    let err = p.handle_message("chat", &CallContext::default(), &forged).unwrap_err();
    assert!(matches!(err, InvokeError::Guest(PluginError::Failed { retryable: false, .. })), "{err:?}");
}

#[test]
fn one_sdk_component_can_export_several_kinds() {
    let p = plugin("multi_kind");
    assert_eq!(p.kinds(), [Kind::Node, Kind::Tool]);
    let node = p.run_node("upper", &CallContext::default(), r#"{"text":"ab"}"#).unwrap();
    let tool = p.call_tool("upper", &CallContext::default(), r#"{"text":"ab"}"#).unwrap();
    assert_eq!(node.output.as_str(), r#"{"text":"AB"}"#);
    assert_eq!(tool.output.as_str(), node.output.as_str());
}

/// `name` loaded with the host's contract checks off: what the guest itself does.
fn unchecked(name: &str) -> plinth::Plugin {
    common::runtime()
        .load_file_with(common::guest(name), &plinth::LoadOptions { contracts: plinth::Contracts::OFF, ..Default::default() })
        .unwrap()
}
