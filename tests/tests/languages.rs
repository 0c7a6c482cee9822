//! The Python, JavaScript and C samples: each implements the text classifier against the
//! same WIT, and each runs through the host with no capabilities granted. They must answer
//! exactly as the Rust sample does, fail bad input with the WIT error, and stop at a fuel cap.
//!
//! These guests are built by `cargo xtask build-guests` when their toolchains are present
//! (`cargo xtask test` installs the toolchains it can; `--require-all` in CI). A guest that
//! could not be built fails its tests; `cargo xtask test` skips them by name instead
//! (`--skip lang_js::`) and names them in its summary, so none of them reports `ok`
//! without having run.

mod common;

use std::sync::OnceLock;

use plinth::{CallContext, InvokeError, Kind, Limits, Plugin, PluginError, Runtime, RuntimeConfig};
use serde_json::{Value, json};

/// One runtime with a code cache under target/, so the 18 MB Python component is compiled
/// once per machine rather than once per test run.
fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-code-cache");
        Runtime::with_config(RuntimeConfig { cache_dir: Some(cache), ..RuntimeConfig::default() }).expect("runtime")
    })
}

fn load(name: &str) -> Plugin {
    static LOADED: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Plugin>>> = OnceLock::new();
    let path = common::foreign_guest(name);
    let mut map = LOADED.get_or_init(Default::default).lock().unwrap();
    map.entry(name.to_string()).or_insert_with(|| runtime().load_file(&path).unwrap_or_else(|e| panic!("loading {name}: {e}"))).clone()
}

/// Arguments as raw JSON text, so escapes, duplicate keys and nesting reach the guests
/// exactly as written.
const CASES: &[&str] = &[
    r#"{"text": "Buy now! Limited offer!"}"#,
    r#"{"text": "Your order has shipped, receipt attached"}"#,
    r#"{"text": "Lunch tomorrow at noon?"}"#,
    r#"{"text": ""}"#,
    r#"{"text": "URGENT!! Your account needs a verification code"}"#,
    r#"{"text": "Invoice and receipt for your order; payment received"}"#,
    r#"{"text": "click here to claim FREE MONEY, winner, act now, cheap discount!!!"}"#,
    r#"{"text": "Caf\u00e9 ORDER \ud83d\ude00 \"quoted\" \\ back\nslash \/ Über-Delivery"}"#,
    r#"{"meta": {"text": "buy now", "list": [1, {"b": "}]\""}, null, true, -1.5e3]}, "text": "order"}"#,
    r#"  {  "text"  :  "Subscription renewed"  ,  "extra" : [ ]  }  "#,
    r#"{"te\u0078t": "password reset"}"#,
];

fn call(p: &Plugin, args: &str) -> Result<Value, InvokeError> {
    p.call_tool("classify", &CallContext::default(), args).map(|out| out.output.to_value().unwrap())
}

fn same_answers_as_rust(name: &str) {
    let p = load(name);
    let rust = common::plugin("text_classifier");
    let long = format!(r#"{{"text": "{}"}}"#, "an order is not spam! ".repeat(2000));
    for args in CASES.iter().copied().chain([long.as_str()]) {
        let want = call(&rust, args).unwrap();
        let got = call(&p, args).unwrap_or_else(|e| panic!("{name} failed on {args}: {e}"));
        assert_eq!(got, want, "{name} on {args}");
    }
    // A repeated key: the interpreters' JSON parsers keep the last value, as the host's own
    // check does; the Rust sample parses into its serde type, which refuses the repeat
    // instead. Neither acts on the first value, so no guest can be handed a value the host's
    // schema check did not see.
    let repeated = r#"{"text": 1, "text": "buy now"}"#;
    assert!(matches!(call(&rust, repeated), Err(InvokeError::Guest(PluginError::InvalidInput(_)))));
    assert_eq!(call(&p, repeated).unwrap(), call(&rust, r#"{"text": "buy now"}"#).unwrap(), "{name} on {repeated}");
    let repeated = r#"{"text": "buy now", "text": "lunch"}"#;
    assert!(matches!(call(&rust, repeated), Err(InvokeError::Guest(PluginError::InvalidInput(m))) if m.contains("duplicate field")));
    assert_eq!(call(&p, repeated).unwrap(), call(&rust, r#"{"text": "lunch"}"#).unwrap(), "{name} on {repeated}");
}

fn lists_classify(name: &str) {
    let p = load(name);
    assert_eq!(p.kinds(), [Kind::Tool]);
    assert_eq!(p.api_version(), "0.1.0");
    let tools = &p.specs().tools;
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0].name, "classify");
    assert_eq!(tools[0].input_schema.as_ref().unwrap()["required"], json!(["text"]));
}

fn rejects_bad_input(name: &str) {
    let p = load(name);
    // The guest's own checks, with the host's contract checks off.
    let own = runtime()
        .load_file_with(common::foreign_guest(name), &plinth::LoadOptions { contracts: plinth::Contracts::OFF, ..Default::default() })
        .unwrap();
    for args in [r#"[1]"#, r#"{"text": 5}"#, r#"{}"#, r#""text""#, "null", r#"{"txt": "x"}"#] {
        let err = call(&own, args).unwrap_err();
        match err {
            InvokeError::Guest(PluginError::InvalidInput(ref m)) => assert!(m.contains("text"), "{m}"),
            ref other => panic!("{name} on {args}: expected invalid input, got {other:?}"),
        }
        assert!(!err.retryable());
        // By default the host checks the declared input schema first: no instance is made.
        let err = call(&p, args).unwrap_err();
        assert!(matches!(err, InvokeError::ContractViolation { direction: "input", .. }), "{name} on {args}: {err:?}");
    }
    // A name the plugin did not list is refused by the host, before any instance is made.
    let err = p.call_tool("summarize", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::ExportNotFound { ref name, .. } if name == "summarize"), "{err:?}");
}

fn logs_through_the_host(name: &str) {
    let p = load(name);
    let out = p.call_tool("classify", &CallContext::default(), r#"{"text":"Buy now! Limited offer!"}"#).unwrap();
    assert!(out.logs.lines.iter().any(|l| l.message == "classified 23 bytes as spam"), "{name}: {:?}", out.logs);
}

fn fuel_cap_stops_it(name: &str) {
    let p = load(name);
    let args = r#"{"text":"Buy now! Limited offer!"}"#;
    // The same call succeeds with the default budget and reports what it used...
    let used = p.call_tool("classify", &CallContext::default(), args).unwrap().fuel_used;
    // ...and stops, as a typed error, when the budget is below that.
    let capped = p.with_limits(Limits { fuel: used / 2, ..*p.limits() }).unwrap();
    let err = capped.call_tool("classify", &CallContext::default(), args).unwrap_err();
    assert!(matches!(err, InvokeError::OutOfFuel { budget } if budget == used / 2), "{name}: {err:?}");
    // The plugin is still usable afterwards: the next call gets a fresh instance.
    assert_eq!(call(&p, args).unwrap()["category"], "spam");
}

macro_rules! language {
    ($lang:ident, $guest:literal) => {
        mod $lang {
            #[test]
            fn same_answers_as_the_rust_sample() {
                super::same_answers_as_rust($guest);
            }
            #[test]
            fn lists_its_tool() {
                super::lists_classify($guest);
            }
            #[test]
            fn rejects_bad_input_and_unknown_names() {
                super::rejects_bad_input($guest);
            }
            #[test]
            fn logs_through_the_host() {
                super::logs_through_the_host($guest);
            }
            #[test]
            fn fuel_cap_stops_it() {
                super::fuel_cap_stops_it($guest);
            }
            #[test]
            fn prewarms() {
                super::prewarms($guest);
            }
        }
    };
}

language!(lang_python, "python_text_classifier");
language!(lang_js, "js_text_classifier");
language!(lang_c, "c_text_classifier");

/// The language runtimes are pre-instantiated like any plugin: a warm instance becomes
/// ready in the background and the next call uses it.
fn prewarms(name: &str) {
    let path = common::foreign_guest(name);
    let opts = plinth::LoadOptions { warm_instances: Some(1), ..Default::default() };
    let p = runtime().load_file_with(&path, &opts).unwrap();
    let start = std::time::Instant::now();
    while p.warm_ready() == 0 {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "{name}: no warm instance after 30 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = p.call_tool("classify", &CallContext::default(), r#"{"text":"order"}"#).unwrap();
    assert!(out.prewarmed, "{name}: the call should have taken the pre-warmed instance");
}

/// An exception nobody catches traps the call, and the error quotes what the QuickJS runtime
/// wrote to stderr about it: the message and the JavaScript stack, not only `unreachable`.
mod lang_js_throws {
    use plinth::{CallContext, InvokeError};

    #[test]
    fn an_uncaught_exception_is_quoted_in_the_trap() {
        let p = super::load("js_throws");
        let err = p.call_tool("throw", &CallContext::default(), "{}").unwrap_err();
        let InvokeError::Trap { message } = &err else { panic!("{err:?}") };
        assert!(message.contains("uncaught in throw"), "{message}");
        assert!(message.contains("app.js"), "the stack should name the file: {message}");
    }
}
