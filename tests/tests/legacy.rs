//! Legacy `alloc/dealloc/handle` core modules: same API, same caps, every guest-controlled
//! number checked.

mod common;

use std::time::Duration;

use common::{guest, plugin};
use plinth::{CallContext, Format, InvokeError, Json, Kind, Limits, LoadError};
use serde_json::json;

fn load_wat(wat: &str) -> Result<plinth::Plugin, LoadError> {
    common::runtime().load("inline", &wat::parse_str(wat).expect("test WAT parses"))
}

#[test]
fn legacy_classifier_loads_as_a_one_node_plugin() {
    let p = plugin("legacy_text_classifier");
    assert_eq!(p.format(), Format::LegacyModule);
    assert_eq!(p.api_version(), plinth::LEGACY_API);
    assert_eq!(p.kinds(), [Kind::Node]);
    assert_eq!(p.specs().nodes.len(), 1);
    assert_eq!(p.specs().nodes[0].name, "legacy_text_classifier");
}

#[test]
fn legacy_and_component_classifiers_agree() {
    let legacy = plugin("legacy_text_classifier");
    let component = plugin("text_classifier");
    let ctx = CallContext::default();
    for text in ["Buy now! Limited offer!", "Your invoice and receipt", "are we still on for friday?", "URGENT!! winner"] {
        let args = json!({ "text": text }).to_string();
        let a = legacy.run_node("legacy_text_classifier", &ctx, &args).unwrap().output.to_value().unwrap();
        let b = component.call_tool("classify", &ctx, &args).unwrap().output.to_value().unwrap();
        assert_eq!(a, b, "{text}");
    }
}

#[test]
fn the_envelope_is_exactly_what_those_engines_send() {
    let p = plugin("legacy_echo");
    let ctx = CallContext {
        instance_id: "wf-1".into(),
        step_id: "block-7".into(),
        attempt: 2,
        tenant: Some("acme".into()),
        config: Json::parse(r#"{"mode":"strict"}"#).unwrap(),
        data: Json::parse(r#"{"order":42}"#).unwrap(),
    };
    let out = p.run_node("legacy_echo", &ctx, r#"{"text":"hi"}"#).unwrap().output.to_value().unwrap();
    assert_eq!(
        out,
        json!({"instance_id": "wf-1", "block_id": "block-7", "params": {"text": "hi"},
               "context": {"data": {"order": 42}, "config": {"mode": "strict"}}, "attempt": 2})
    );
}

#[test]
fn a_wrong_node_name_is_not_found() {
    let err = plugin("legacy_echo").run_node("other", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::ExportNotFound { .. }), "{err:?}");
    let err = plugin("legacy_echo").call_tool("x", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::KindNotProvided { kind: Kind::Tool, .. }), "{err:?}");
}

fn run(name: &str, limits: Limits) -> Result<plinth::Outcome<Json>, InvokeError> {
    plugin(name).with_limits(limits).unwrap().run_node(name, &CallContext::default(), r#"{"a":1}"#)
}

#[test]
fn an_output_pointer_past_memory_is_an_abi_violation() {
    let err = run("legacy_bad_pointer", Limits::default()).unwrap_err();
    assert!(matches!(&err, InvokeError::AbiViolation { message } if message.contains("past the end")), "{err:?}");
}

#[test]
fn a_huge_output_length_is_refused_before_any_copy() {
    let err = run("legacy_huge_length", Limits::default()).unwrap_err();
    assert!(matches!(err, InvokeError::OutputTooLarge { size: 0x7fff_ffff, .. }), "{err:?}");
    // With an output cap above it, the length still runs past the guest's memory.
    let err = run("legacy_huge_length", Limits { max_output: usize::MAX, ..Limits::default() }).unwrap_err();
    assert!(matches!(&err, InvokeError::AbiViolation { message } if message.contains("past the end")), "{err:?}");
}

#[test]
fn a_negative_alloc_pointer_is_an_abi_violation() {
    let err = run("legacy_negative_pointer", Limits::default()).unwrap_err();
    assert!(matches!(&err, InvokeError::AbiViolation { message } if message.contains("negative pointer (-8)")), "{err:?}");
}

#[test]
fn an_endless_handle_hits_fuel_or_deadline() {
    let err = run("legacy_loop", Limits { fuel: 1_000_000, ..Limits::default() }).unwrap_err();
    assert!(matches!(err, InvokeError::OutOfFuel { budget: 1_000_000 }), "{err:?}");
    let limits = Limits { fuel: u64::MAX / 2, timeout: Duration::from_millis(200), ..Limits::default() };
    let err = run("legacy_loop", limits).unwrap_err();
    assert!(matches!(err, InvokeError::DeadlineExceeded { .. }), "{err:?}");
}

#[test]
fn a_trapping_alloc_is_a_trap() {
    let err = run("legacy_alloc_trap", Limits::default()).unwrap_err();
    assert!(matches!(err, InvokeError::Trap { .. }), "{err:?}");
}

#[test]
fn non_json_output_is_refused_with_a_preview() {
    let err = run("legacy_non_json", Limits::default()).unwrap_err();
    assert!(matches!(&err, InvokeError::InvalidOutput { preview, .. } if preview == "<html>not json</html>"), "{err:?}");
}

#[test]
fn non_utf8_output_is_refused() {
    let p = load_wat(
        r#"(module (memory (export "memory") 1) (data (i32.const 16) "\ff\fe")
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "dealloc") (param i32 i32))
             (func (export "handle") (param i32 i32) (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 2))))"#,
    )
    .unwrap();
    let err = p.run_node("inline", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(&err, InvokeError::InvalidOutput { reason, .. } if reason.contains("UTF-8")), "{err:?}");
}

#[test]
fn imports_are_refused_at_load_naming_each() {
    let err = common::runtime().load_file(guest("legacy_imports_env")).unwrap_err();
    match &err {
        LoadError::LegacyImports { imports } => assert_eq!(imports, &["env::log_message (func (param i32 i32))"]),
        other => panic!("expected LegacyImports, got {other:?}"),
    }
}

#[test]
fn a_failing_dealloc_is_logged_not_fatal() {
    let out = run("legacy_dealloc_trap", Limits::default()).unwrap();
    assert_eq!(out.output.to_value().unwrap()["params"], json!({"a": 1}));
    let warnings: Vec<_> = out.logs.lines.iter().filter(|l| l.message.contains("dealloc")).collect();
    assert_eq!(warnings.len(), 2, "{:?}", out.logs);
}

#[test]
fn missing_or_mistyped_exports_name_the_export_and_signature() {
    let err = load_wat(
        r#"(module (memory (export "memory") 1)
             (func (export "alloc") (param i32) (result i32) (i32.const 0))
             (func (export "dealloc") (param i32 i32)))"#,
    )
    .unwrap_err();
    assert!(matches!(&err, LoadError::LegacyAbi { export, found, .. } if export == "handle" && found == "nothing"), "{err:?}");
    let err = load_wat(
        r#"(module (memory (export "memory") 1)
             (func (export "alloc") (param i32) (result i32) (i32.const 0))
             (func (export "dealloc") (param i32 i32))
             (func (export "handle") (param i32 i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap_err();
    match &err {
        LoadError::LegacyAbi { export, expected, found } => {
            assert_eq!(export, "handle");
            assert_eq!(expected, "func (param i32 i32) (result i64)");
            assert_eq!(found, "func (param i32 i32) (result i32)");
        }
        other => panic!("expected LegacyAbi, got {other:?}"),
    }
    let err = load_wat(r#"(module (func (export "alloc") (param i32) (result i32) (i32.const 0)))"#).unwrap_err();
    assert!(matches!(&err, LoadError::LegacyAbi { export, .. } if export == "memory"), "{err:?}");
}

#[test]
fn the_memory_cap_applies_to_legacy_modules() {
    // alloc grows memory by 256 pages (16 MiB) per call of its own.
    let p = load_wat(
        r#"(module (memory (export "memory") 1)
             (func (export "alloc") (param i32) (result i32)
               (if (i32.lt_s (memory.grow (i32.const 256)) (i32.const 0)) (then (unreachable)))
               (i32.const 1024))
             (func (export "dealloc") (param i32 i32))
             (func (export "handle") (param i32 i32) (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    let err = p
        .with_limits(Limits { memory: 8 << 20, ..Limits::default() })
        .unwrap()
        .run_node("inline", &CallContext::default(), "{}")
        .unwrap_err();
    assert!(matches!(err, InvokeError::MemoryLimit { limit, .. } if limit == 8 << 20), "{err:?}");
}

#[test]
fn every_legacy_call_gets_a_fresh_instance() {
    // handle counts calls in a global and returns "1" on its first call, "2" after.
    let p = load_wat(
        r#"(module (memory (export "memory") 1) (data (i32.const 16) "12")
             (global $n (mut i32) (i32.const 0))
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "dealloc") (param i32 i32))
             (func (export "handle") (param i32 i32) (result i64)
               (global.set $n (i32.add (global.get $n) (i32.const 1)))
               (i64.or (i64.shl (i64.extend_i32_u (i32.add (i32.const 15) (select (i32.const 1) (i32.const 2) (i32.eq (global.get $n) (i32.const 1))))) (i64.const 32))
                       (i64.const 1))))"#,
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(p.run_node("inline", &CallContext::default(), "{}").unwrap().output.as_str(), "1");
    }
}

#[test]
fn legacy_calls_from_many_threads() {
    let p = plugin("legacy_text_classifier");
    std::thread::scope(|s| {
        for _ in 0..4 {
            let p = p.clone();
            s.spawn(move || {
                for _ in 0..25 {
                    let out = p.run_node("legacy_text_classifier", &CallContext::default(), r#"{"text":"Buy now!"}"#).unwrap();
                    assert_eq!(out.output.to_value().unwrap()["category"], "spam");
                }
            });
        }
    });
}
