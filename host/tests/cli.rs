//! The `plinth` binary: output, exit codes, and every hostile guest through the CLI.
//! Needs the guests built (`cargo xtask build-guests`; `cargo xtask test` does it).

use std::path::PathBuf;
use std::process::{Command, Output};

fn guest(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `cargo xtask build-guests`", p.display());
    p
}

fn plinth(home: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plinth"))
        .args(args)
        .env("PLINTH_HOME", home.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run plinth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn invoke_prints_the_output_json_and_stats() {
    let home = tempfile::tempdir().unwrap();
    let f = guest("text_classifier");
    let f = f.to_str().unwrap();
    let out = plinth(&home, &["invoke", f, "--kind", "tool", "--name", "classify", "--params", r#"{"text":"Buy now! Limited offer!"}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["category"], "spam");
    assert!(text(&out.stderr).contains("fuel"), "{}", text(&out.stderr));
    // Kind and name can be omitted when there is only one; the cache was written.
    let out = plinth(&home, &["invoke", f, "--params", r#"{"text":"see you"}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(r#""category":"ham""#));
    assert!(std::fs::read_dir(home.path().join("cache")).unwrap().next().is_some(), "cache was not written");
}

#[test]
fn inspect_json_lists_kinds_and_specs() {
    let home = tempfile::tempdir().unwrap();
    let out = plinth(&home, &["inspect", guest("interval_trigger").to_str().unwrap(), "--json", "--no-cache"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kinds"], serde_json::json!(["trigger"]));
    assert_eq!(v["api_version"], "0.1.0");
    assert_eq!(v["specs"]["triggers"][0]["name"], "interval");
    assert!(!home.path().join("cache").exists(), "--no-cache wrote a cache");
}

#[test]
fn listener_and_trigger_through_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let trigger = guest("interval_trigger");
    let out = plinth(&home, &[
        "invoke", trigger.to_str().unwrap(),
        "--config", r#"{"interval_ms":1000}"#, "--data", r#"{"now_ms":5000}"#, "--cursor", "3000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cursor"], "5000");
    assert_eq!(v["events"].as_array().unwrap().len(), 2);

    // An unsigned webhook: the listener's own invalid-input error, exit code 3.
    let listener = guest("chat_listener");
    let out = plinth(&home, &[
        "invoke", listener.to_str().unwrap(), "--config", r#"{"secret":"s"}"#,
        "--params", r#"{"method":"POST","headers":{},"body":"{}"}"#,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("X-Signature"), "{}", text(&out.stderr));
}

#[test]
fn each_hostile_guest_gets_its_typed_error_and_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let f = guest("hostile");
    let f = f.to_str().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--name", "loop", "--fuel", "100000000000", "--timeout", "200"], 4, "deadline exceeded"),
        (&["--name", "loop", "--fuel", "1000000"], 4, "out of fuel"),
        (&["--name", "membomb", "--memory", "16M"], 4, "memory limit"),
        (&["--name", "recurse"], 4, "stack overflow"),
        (&["--name", "huge-output", "--max-output", "1M", "--params", r#"{"mib":2}"#], 4, "output too large"),
        (&["--name", "panic"], 5, "panicked"),
        (&["--name", "bad-json"], 5, "invalid JSON"),
        (&["--name", "no-such-tool"], 3, "not found"),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["invoke", f, "--no-cache"];
        all.extend_from_slice(args);
        let out = plinth(&home, &all);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: expected `{needle}` in {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: printed output on failure");
    }
}

#[test]
fn bad_files_and_flags_have_their_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let junk = home.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let out = plinth(&home, &["invoke", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a valid WebAssembly component"));

    let out = plinth(&home, &["invoke", "/nonexistent/plugin.wasm"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let f = guest("text_classifier");
    let f = f.to_str().unwrap();
    let out = plinth(&home, &["invoke", f, "--params", "{not json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--params is not valid JSON"));

    let out = plinth(&home, &["invoke", f, "--memory", "lots"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
