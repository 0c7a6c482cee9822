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

fn has_cwasm(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() { has_cwasm(&p) } else { p.extension().is_some_and(|x| x == "cwasm") }
    })
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
    assert!(has_cwasm(&home.path().join("cache")), "no compiled code was cached");
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
    let out = plinth(
        &home,
        &["invoke", trigger.to_str().unwrap(), "--config", r#"{"interval_ms":1000}"#, "--data", r#"{"now_ms":5000}"#, "--cursor", "3000"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cursor"], "5000");
    assert_eq!(v["events"].as_array().unwrap().len(), 2);

    // An unsigned webhook: the listener's own invalid-input error, exit code 3.
    let listener = guest("chat_listener");
    let out = plinth(
        &home,
        &[
            "invoke",
            listener.to_str().unwrap(),
            "--config",
            r#"{"secret":"s"}"#,
            "--params",
            r#"{"method":"POST","headers":{},"body":"{}"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("X-Signature"), "{}", text(&out.stderr));
}

#[test]
fn each_hostile_guest_gets_its_typed_error_and_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let f = guest("hostile");
    let f = f.to_str().unwrap();
    // The library says which limit; the CLI adds which flag raises it.
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["--name", "loop", "--fuel", "100000000000", "--timeout", "200"],
            4,
            "deadline exceeded: the plugin ran longer than 200ms; raise the timeout if the work is legitimate; pass --timeout MS",
        ),
        (&["--name", "loop", "--fuel", "1000000"], 4, "if the work is legitimate; pass --fuel N"),
        (&["--name", "membomb", "--memory", "16M"], 4, "if the work is legitimate; pass --memory SIZE"),
        (&["--name", "recurse"], 4, "stack overflow"),
        (&["--name", "huge-output", "--max-output", "1M", "--params", r#"{"mib":2}"#], 4, "output too large"),
        (&["--name", "panic"], 5, "panicked"),
        (&["--name", "bad-json"], 5, "invalid JSON"),
        (&["--name", "no-such-tool"], 3, "has no tool named `no-such-tool`"),
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
    assert!(text(&out.stderr).contains("cannot compile the WebAssembly component"));

    let out = plinth(&home, &["invoke", "/nonexistent/plugin.wasm"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let f = guest("text_classifier");
    let f = f.to_str().unwrap();
    let out = plinth(&home, &["invoke", f, "--params", "{not json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--params is not valid JSON"));

    // A bad value of a known flag is 1, as the README's table says; usage errors are 2.
    let bad_values: &[&[&str]] = &[
        &["--memory", "lots"],
        &["--memory", "99999999999G"],
        &["--timeout", "soon"],
        &["--max-output", "1Q"],
        &["--tenant", "../x"],
        &["--tenant", ""],
        &["--timeout", "0"],
        &["--allow-http", "http://x/"],
        &["--config", "[1"],
    ];
    for args in bad_values {
        let mut all = vec!["invoke", f];
        all.extend_from_slice(args);
        let out = plinth(&home, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}: {}", text(&out.stderr));
    }
    for args in [&["invoke", f, "--bogus"][..], &["invoke"], &["frobnicate"]] {
        let out = plinth(&home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn legacy_modules_run_through_the_same_cli() {
    let home = tempfile::tempdir().unwrap();
    let legacy = guest("legacy_text_classifier");
    let component = guest("text_classifier");
    let params = r#"{"text":"Buy now! Limited offer!"}"#;
    let a = plinth(&home, &["invoke", legacy.to_str().unwrap(), "--params", params]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    let b = plinth(&home, &["invoke", component.to_str().unwrap(), "--params", params]);
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&a.stdout).unwrap(), serde_json::from_slice(&b.stdout).unwrap());
    assert_eq!(a["category"], "spam");
    assert_eq!(a["category"], b["category"]);

    let cases: &[(&str, i32, &str)] = &[
        ("legacy_bad_pointer", 5, "broke the alloc/dealloc/handle ABI"),
        ("legacy_negative_pointer", 5, "negative pointer"),
        ("legacy_huge_length", 4, "output too large"),
        ("legacy_alloc_trap", 5, "trapped"),
        ("legacy_non_json", 5, "invalid JSON"),
        ("legacy_imports_env", 6, "env::log_message"),
    ];
    for (name, code, needle) in cases {
        let f = guest(name);
        let out = plinth(&home, &["invoke", f.to_str().unwrap(), "--no-cache"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: expected `{needle}` in {stderr}");
    }
}

#[test]
fn guest_json_is_printed_verbatim() {
    let home = tempfile::tempdir().unwrap();
    let f = guest("hostile");
    let out = plinth(&home, &["invoke", f.to_str().unwrap(), "--name", "deep-json", "--params", r#"{"depth":300}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{}{}", "[".repeat(300), "]".repeat(300)));
}

#[test]
fn params_file_and_header_lists() {
    let home = tempfile::tempdir().unwrap();
    let params = home.path().join("params.json");
    std::fs::write(&params, r#"{"text":"Your receipt"}"#).unwrap();
    let f = guest("text_classifier");
    let out = plinth(&home, &["invoke", f.to_str().unwrap(), "--params-file", params.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("transactional"));

    // Headers as [name, value] pairs reach the listener (wrong signature: its own error).
    let l = guest("chat_listener");
    let msg = r#"{"headers":[["X-Signature","sha256=00"]],"body":"{}"}"#;
    let out = plinth(&home, &["invoke", l.to_str().unwrap(), "--config", r#"{"secret":"s"}"#, "--params", msg]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("signature mismatch"), "{}", text(&out.stderr));
    let bad = r#"{"headers":"X-Signature: x"}"#;
    let out = plinth(&home, &["invoke", l.to_str().unwrap(), "--params", bad]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("headers must be"), "{}", text(&out.stderr));

    // Asking for a kind the plugin does not provide.
    let out = plinth(&home, &["invoke", f.to_str().unwrap(), "--kind", "node"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("provides no nodes"), "{}", text(&out.stderr));
}

#[test]
fn capability_flags_grant_exactly_what_they_name() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in.txt"), "granted").unwrap();
    let probe = guest("caps_probe");
    let probe = probe.to_str().unwrap();
    let fs = format!("{}:/data:ro", data.path().display());

    let out = plinth(&home, &["invoke", probe, "--name", "read", "--params", r#"{"path":"/data/in.txt"}"#]);
    assert!(text(&out.stdout).contains(r#""error""#), "readable without a grant: {}", text(&out.stdout));
    let out = plinth(&home, &["invoke", probe, "--name", "read", "--allow-fs", &fs, "--params", r#"{"path":"/data/in.txt"}"#]);
    assert_eq!(text(&out.stdout).trim(), r#"{"ok":"granted"}"#, "{}", text(&out.stderr));
    let out = plinth(&home, &["invoke", probe, "--name", "env", "--allow-env", "TOKEN=t0k", "--params", r#"{"name":"TOKEN"}"#]);
    assert!(text(&out.stdout).contains(r#""value":"t0k""#), "{}", text(&out.stdout));

    // HTTP: refused at load without a grant; inspect shows the grant with one.
    let http = guest("http_probe");
    let out = plinth(&home, &["invoke", http.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("wasi:http"), "{}", text(&out.stderr));
    let out = plinth(&home, &["inspect", http.to_str().unwrap(), "--allow-http", "api.example.com"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("http [api.example.com]"), "{}", text(&out.stdout));

    let out = plinth(&home, &["invoke", probe, "--allow-fs", "no-guest-path"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("HOST:GUEST"), "{}", text(&out.stderr));
}

#[test]
fn inspect_json_never_prints_env_values() {
    let home = tempfile::tempdir().unwrap();
    let probe = guest("caps_probe");
    let out = plinth(&home, &["inspect", probe.to_str().unwrap(), "--json", "--allow-env", "API_KEY=top-secret-123"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("API_KEY"));
    assert!(!text(&out.stdout).contains("top-secret-123"), "{}", text(&out.stdout));
    let out = plinth(&home, &["invoke", probe.to_str().unwrap(), "--allow-http", "https://x.com"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("bad host pattern"), "{}", text(&out.stderr));
}

/// `plinth` with PLINTH_HOME set and stdin not a terminal.
fn plinth_in(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plinth"))
        .args(args)
        .env("PLINTH_HOME", home)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run plinth")
}

#[test]
fn managing_plugins_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = tmp.path().join("text-classifier");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(guest("text_classifier"), dir.join("text_classifier.wasm")).unwrap();
    std::fs::write(
        dir.join("plinth.toml"),
        "name = \"text-classifier\"\nversion = \"0.1.0\"\nentry = \"text_classifier.wasm\"\napi = \"0.1.0\"\n[provides]\ntool = [\"classify\"]\n",
    )
    .unwrap();
    let dir_s = dir.to_str().unwrap();
    let run = |args: &[&str]| plinth_in(&home, args);
    let ok = |out: &Output| assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));

    // Without a terminal and without --yes nothing is applied.
    let out = run(&["plugin", "install", dir_s]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("+ tool classify"), "impact not shown: {}", text(&out.stderr));
    ok(&run(&["plugin", "list"]));
    assert!(!text(&run(&["plugin", "list"]).stdout).contains("text-classifier"));

    ok(&run(&["plugin", "install", dir_s, "--yes"]));
    ok(&run(&["plugin", "install", guest("json_transform").to_str().unwrap(), "--yes", "--tenant", "acme"]));
    let list = text(&run(&["plugin", "list"]).stdout);
    assert!(list.contains("text-classifier") && list.contains("json_transform") && list.contains("acme"), "{list}");
    let show = text(&run(&["plugin", "show", "text-classifier"]).stdout);
    assert!(show.contains("version:  0.1.0") && show.contains("tool classify"), "{show}");

    // Invoke by handler reference.
    let out = run(&["invoke", "wasm://text-classifier", "--params", r#"{"text":"Buy now! Limited offer!"}"#]);
    ok(&out);
    assert!(text(&out.stdout).contains(r#""category":"spam""#));
    // acme's plugin: reachable for acme only.
    ok(&run(&["invoke", "json_transform", "--tenant", "acme", "--params", "{}"]));
    assert_ne!(run(&["invoke", "json_transform", "--params", "{}"]).status.code(), Some(0));

    // Disable: invoke fails saying so; enable: it works again.
    ok(&run(&["plugin", "disable", "text-classifier"]));
    let out = run(&["invoke", "text-classifier", "--params", r#"{"text":"x"}"#]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("disabled"), "{}", text(&out.stderr));
    ok(&run(&["plugin", "enable", "text-classifier"]));
    ok(&run(&["invoke", "text-classifier", "--params", r#"{"text":"x"}"#]));

    // Updating to the very same files changes nothing, and says so.
    let out = run(&["plugin", "update", "text-classifier", "--yes"]);
    ok(&out);
    assert!(text(&out.stdout).contains("nothing changed"), "{}", text(&out.stdout));

    // Doctor is happy, then finds a tampered store file and names it.
    ok(&run(&["plugin", "doctor"]));
    let lock = std::fs::read_to_string(home.join("plinth.lock")).unwrap();
    let sha = lock.split("wasm_sha256 = \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    std::fs::write(home.join("store").join(format!("{sha}.wasm")), b"tampered").unwrap();
    let out = run(&["plugin", "doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(&sha) && text(&out.stdout).contains("fix:"), "{}", text(&out.stdout));

    // Uninstall.
    ok(&run(&["plugin", "uninstall", "json_transform", "--tenant", "acme"]));
    assert!(!text(&run(&["plugin", "list"]).stdout).contains("json_transform"));
    assert_eq!(run(&["plugin", "uninstall", "json_transform", "--tenant", "acme"]).status.code(), Some(1));
}

#[test]
#[cfg_attr(not(feature = "fault-injection"), ignore = "needs the crash points of feature `fault-injection`: run `cargo xtask test`")]
fn a_killed_install_leaves_state_doctor_accepts_or_repairs() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let tc = guest("text_classifier");
    let tc = tc.to_str().unwrap();
    assert_eq!(plinth_in(&home, &["plugin", "install", guest("json_transform").to_str().unwrap(), "--yes"]).status.code(), Some(0));
    for point in ["after-store", "after-desired"] {
        let out = Command::new(env!("CARGO_BIN_EXE_plinth"))
            .args(["plugin", "install", tc, "--yes"])
            .env("PLINTH_HOME", &home)
            .env("PLINTH_FAULT", point)
            .env("PLINTH_FAULT_KILL", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), None, "the install was not killed at {point}");
        let doctor = plinth_in(&home, &["plugin", "doctor"]);
        let report = text(&doctor.stdout);
        match point {
            // Only content-addressed store files were written: nothing to report.
            "after-store" => assert_eq!(doctor.status.code(), Some(0), "{report}"),
            // plugins.toml names a plugin the lock does not have: reported with its fix.
            _ => {
                assert_eq!(doctor.status.code(), Some(1), "{report}");
                assert!(report.contains("not locked") && report.contains("fix: plinth plugin doctor --repair"), "{report}");
            }
        }
        // The lock is intact: the installed plugin still runs.
        assert_eq!(plinth_in(&home, &["invoke", "json_transform", "--params", "{}"]).status.code(), Some(0));
    }
    // `doctor --repair` (the printed fix) rolls the unfinished install back; installing
    // again then completes it.
    let repaired = plinth_in(&home, &["plugin", "doctor", "--repair"]);
    assert_eq!(repaired.status.code(), Some(0), "{}", text(&repaired.stdout));
    assert!(text(&repaired.stdout).contains("rolled back"), "{}", text(&repaired.stdout));
    assert_eq!(plinth_in(&home, &["plugin", "install", tc, "--yes"]).status.code(), Some(0));
    assert_eq!(plinth_in(&home, &["plugin", "doctor"]).status.code(), Some(0));
}

#[test]
fn concurrent_installs_both_land() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let spawn = |g: &str| {
        Command::new(env!("CARGO_BIN_EXE_plinth"))
            .args(["plugin", "install", guest(g).to_str().unwrap(), "--yes"])
            .env("PLINTH_HOME", &home)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("json_transform"), spawn("interval_trigger"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let list = text(&plinth_in(&home, &["plugin", "list"]).stdout);
    assert!(list.contains("json_transform") && list.contains("interval_trigger"), "{list}");
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `plinth inspect … | head -0`: the reader is gone long before plinth writes (it compiles
    // the component first), so the write always meets a closed pipe.
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_plinth"))
        .args(["inspect", guest("text_classifier").to_str().unwrap(), "--no-cache"])
        .env("PLINTH_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}
