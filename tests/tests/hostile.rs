//! Hostile guests: each misbehaves one way; the host must return the exact typed error,
//! stay healthy, and keep serving other calls.

mod common;

use std::time::{Duration, Instant};

use common::plugin;
use plinth::{CallContext, InvokeError, Limits, LogSource};
use serde_json::Value;

fn call(name: &str, limits: Limits, args: &str) -> Result<plinth::Outcome<plinth::Json>, InvokeError> {
    plugin("hostile").with_limits(limits).unwrap().call_tool(name, &CallContext::default(), args)
}

/// After any failure the same plugin still serves a normal call.
fn still_healthy() {
    let out = call("counter", Limits::default(), "{}").unwrap();
    assert_eq!(out.output.as_str(), "1");
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let limits = Limits { fuel: 5_000_000, ..Limits::default() };
    let err = call("loop", limits, "{}").unwrap_err();
    assert!(matches!(err, InvokeError::OutOfFuel { budget: 5_000_000 }), "{err:?}");
    assert!(err.is_limit() && !err.retryable());
    still_healthy();
}

#[test]
fn infinite_loop_hits_the_deadline_and_stops_soon_after() {
    // Fuel high enough never to fire first: the wall clock must stop it.
    let limits = Limits { fuel: u64::MAX / 2, timeout: Duration::from_millis(200), ..Limits::default() };
    let p = plugin("hostile").with_limits(limits).unwrap(); // loaded (compiled) before timing
    let start = Instant::now();
    let err = p.call_tool("loop", &CallContext::default(), "{}").unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, InvokeError::DeadlineExceeded { timeout } if timeout == Duration::from_millis(200)), "{err:?}");
    assert!(took >= Duration::from_millis(200), "stopped before the deadline: {took:?}");
    // Generous: the bound is there to catch a deadline that is not enforced, not to time
    // a loaded CI machine.
    assert!(took < Duration::from_secs(3), "deadline enforced too late: {took:?}");
    still_healthy();
}

#[test]
fn sleeping_in_the_host_cannot_outlive_the_deadline() {
    // Epochs only interrupt running wasm; the host bounds sleeps to the deadline.
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let p = plugin("hostile").with_limits(limits).unwrap(); // loaded (compiled) before timing
    let start = Instant::now();
    // 5 s asked: without the bound this test fails (slowly) instead of hanging for long.
    let err = p.call_tool("sleep", &CallContext::default(), r#"{"secs":5}"#).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, InvokeError::DeadlineExceeded { .. }), "{err:?}");
    assert!(took < Duration::from_secs(3), "sleep held the call for {took:?}");
    still_healthy();
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let limits = Limits { memory: 16 << 20, ..Limits::default() };
    let err = call("membomb", limits, "{}").unwrap_err();
    match err {
        InvokeError::MemoryLimit { limit, requested } => {
            assert_eq!(limit, 16 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    still_healthy();
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let err = call("recurse", Limits::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::StackOverflow { .. }), "{err:?}");
    still_healthy();
}

#[test]
fn huge_output_is_refused() {
    let limits = Limits { max_output: 1 << 20, ..Limits::default() };
    let err = call("huge-output", limits, r#"{"mib":2}"#).unwrap_err();
    assert!(matches!(err, InvokeError::OutputTooLarge { size, limit: 1_048_576 } if size > 2 << 20), "{err:?}");
    // Under the cap it passes.
    let ok = call("huge-output", Limits { max_output: 4 << 20, ..Limits::default() }, r#"{"mib":2}"#).unwrap();
    assert_eq!(ok.output.as_str().len(), (2 << 20) + 2);
}

#[test]
fn huge_output_at_default_limits() {
    // 20 MiB against the 16 MiB default output cap.
    let err = call("huge-output", Limits::default(), "{}").unwrap_err();
    assert!(matches!(err, InvokeError::OutputTooLarge { limit, .. } if limit == Limits::DEFAULT_MAX_OUTPUT), "{err:?}");
}

#[test]
fn panic_is_a_trap_that_quotes_the_panic_message() {
    let err = call("panic", Limits::default(), "{}").unwrap_err();
    match &err {
        InvokeError::Trap { message } => {
            assert!(message.contains("panicked"), "{message}");
            assert!(message.contains("hostile guest panicked on purpose"), "{message}");
        }
        other => panic!("expected Trap, got {other:?}"),
    }
    assert!(!err.retryable());
    still_healthy();
}

#[test]
fn invalid_json_output_is_refused_with_a_preview() {
    let err = call("bad-json", Limits::default(), "{}").unwrap_err();
    assert!(matches!(&err, InvokeError::InvalidOutput { preview, .. } if preview.starts_with("this is {not json")), "{err:?}");
}

#[test]
fn files_are_not_reachable() {
    let out = call("read-file", Limits::default(), "{}").unwrap().output.to_value().unwrap();
    for (path, result) in out["files"].as_object().unwrap() {
        assert!(result.as_str().unwrap().starts_with("error"), "{path}: {result}");
    }
    assert_eq!(out["root_entries"], Value::Null);
}

#[test]
fn environment_and_arguments_are_empty() {
    // The host process certainly has variables; the guest must see none of them.
    assert!(std::env::vars().next().is_some());
    let out = call("read-env", Limits::default(), "{}").unwrap().output.to_value().unwrap();
    assert_eq!(out["vars"], serde_json::json!([]));
    assert_eq!(out["home"], Value::Null);
    assert_eq!(out["args"], serde_json::json!([]));
}

#[test]
fn sockets_and_name_lookup_are_denied() {
    // A listener the guest could reach if TCP were allowed, and a name that resolves
    // without any network: only the sandbox can make these fail.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let args = format!(r#"{{"port":{port}}}"#);
    let out = call("open-socket", Limits::default(), &args).unwrap().output.to_value().unwrap();
    for key in ["tcp", "udp"] {
        let result = out[key].as_str().unwrap();
        assert!(result.contains("Permission denied"), "{key}: {result}");
    }
    assert!(out["dns"].as_str().unwrap().starts_with("error"), "dns: {}", out["dns"]);
    assert!(listener.accept().is_err(), "the guest reached the host's listener");
}

#[test]
fn deeply_nested_output_is_valid_json_kept_verbatim() {
    // Valid JSON that `serde_json::Value` cannot hold must not panic anything.
    let out = call("deep-json", Limits::default(), r#"{"depth":1000}"#).unwrap();
    assert_eq!(out.output.as_str().len(), 2000);
    assert!(out.output.to_value().is_err());
}

#[test]
fn every_call_gets_a_fresh_instance() {
    for _ in 0..5 {
        let out = call("counter", Limits::default(), "{}").unwrap();
        assert_eq!(out.output.as_str(), "1", "a global survived from an earlier call");
    }
}

#[test]
fn log_flood_is_capped_and_does_not_fail_the_call() {
    let limits = Limits { max_log: 64 << 10, ..Limits::default() };
    let out = call("log-flood", limits, r#"{"mib":2}"#).unwrap();
    assert_eq!(out.output.as_str(), "\"done\"");
    assert!(out.logs.truncated);
    let bytes: usize = out.logs.lines.iter().map(|l| l.message.len()).sum();
    assert!(bytes <= 64 << 10, "{bytes} bytes kept");
    assert!(out.logs.lines.iter().any(|l| l.source == LogSource::Stdout));
    assert!(out.logs.lines.iter().any(|l| l.source == LogSource::Host));
}
