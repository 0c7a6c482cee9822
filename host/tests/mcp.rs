//! Tools over MCP with a client Plinth did not write: the official Python SDK (`mcp` from
//! PyPI, installed by `.ci/run`) drives `plinth mcp` over stdio and `plinth serve`'s `/mcp`
//! over streamable HTTP, in the current revision (`server/discover`) and the previous
//! handshake: the classifier and a hostile tool (a loop: `isError` within its deadline, the
//! server keeps serving), an unknown tool (-32602), input against the schema, a client's
//! cancellation ending the guest, names two plugins share, and a plugin installed
//! mid-session announced with `tools/list_changed`.

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use serve_support::{Server, guest, h1, plinth, tokens, wait_for};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/mcp_client.py");

/// A plugin directory `src-NAME` around guest `wasm`, with manifest lines `lines` after its
/// `[provides]` table.
fn plugin_dir(root: &Path, name: &str, wasm: &str, lines: &str) -> PathBuf {
    serve_support::plugin_dir(root, &format!("src-{name}"), name, "1.0.0", wasm, lines)
}

/// The classifier and `hostile` (500 ms deadline) for everyone; acme's `slowpoke`, the same
/// hostile tools with a 30 s deadline, so acme sees every hostile name twice.
fn setup(root: &Path, home: &Path) {
    let installs = [
        (plugin_dir(root, "text-classifier", "text_classifier", "tool = [\"classify\"]"), None),
        (plugin_dir(root, "hostile", "hostile", "[limits]\ntimeout_ms = 500\nfuel = 1000000000000000"), None),
        (plugin_dir(root, "slowpoke", "hostile", "[limits]\ntimeout_ms = 30000\nfuel = 1000000000000000"), Some("acme")),
    ];
    for (dir, tenant) in installs {
        let mut args = vec!["plugin", "install", dir.to_str().unwrap(), "--yes"];
        args.extend(tenant.iter().flat_map(|t| ["--tenant", *t]));
        let out = plinth(home, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Runs the Python client with `args`; its one JSON report.
fn client(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(CLIENT).args(args).env("PLINTH_HOME", home).env("RUST_LOG", "warn,plinth=info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'mcp'"),
        "the Python MCP SDK is missing: pip install -r tests/peers/requirements.txt ({stderr})"
    );
    assert!(out.status.success(), "the MCP client failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not a report ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// What every scenario shows, whatever the transport and revision.
fn check_scenario(r: &Value) {
    let tools = r["tools"].as_object().unwrap();
    assert!(tools["classify"]["title"].is_null(), "{r}");
    assert!(tools["classify"]["output_schema"].as_bool().unwrap(), "the classifier declares an object output: {r}");
    for shared in ["hostile.loop", "slowpoke.loop"] {
        assert!(tools[shared]["title"].as_str().unwrap().contains("prefixed"), "{r}");
    }
    assert!(!tools.contains_key("loop"), "a name two plugins export is prefixed: {r}");
    assert_eq!(r["classify"]["structured"]["category"], "spam", "{r}");
    let text: Value = serde_json::from_str(r["classify"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, r["classify"]["structured"], "the text block is the same JSON");
    assert_eq!(r["loop"]["is_error"], true, "{r}");
    assert!(r["loop"]["text"].as_str().unwrap().starts_with("deadline exceeded"), "{r}");
    assert!(r["loop"]["seconds"].as_f64().unwrap() < 10.0, "{r}");
    assert_eq!(r["unknown"]["protocol_error"], -32602, "{r}");
    assert_eq!(r["bad_input"]["is_error"], true, "{r}");
    assert!(r["bad_input"]["text"].as_str().unwrap().contains("input schema"), "{r}");
    assert!(r["cancel"]["is_error"].is_null(), "the client gave up on it: {r}");
    assert_eq!(r["after"]["structured"]["category"], "spam", "the server keeps serving: {r}");
}

fn python_mcp() {
    let ok = Command::new("python3").args(["-c", "import mcp"]).status().is_ok_and(|s| s.success());
    assert!(ok, "python3 with the `mcp` package is needed: pip install -r tests/peers/requirements.txt");
}

#[test]
fn plinth_mcp_over_stdio_serves_lists_calls_cancels_and_reloads() {
    python_mcp();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    setup(tmp.path(), &home);
    let bin = env!("CARGO_BIN_EXE_plinth");
    let echo = plugin_dir(tmp.path(), "echo-tool", "echo", "");
    let echo2 = plugin_dir(&tmp.path().join("second"), "echo-tool-2", "echo", "");
    // Each revision sees a plugin installed mid-session: the handshake one by a
    // notification to the peer, the current one through its subscriptions/listen.
    for (mode, install) in [("auto", &echo), ("legacy", &echo2)] {
        let errlog = tmp.path().join(format!("mcp-{mode}.log"));
        // The second echo goes to acme: globally its `echo` would conflict with the first.
        let mut env = vec![("INSTALL_DIR", install.to_str().unwrap())];
        if mode == "legacy" {
            env.push(("INSTALL_TENANT", "acme"));
        }
        let args = ["stdio", mode, errlog.to_str().unwrap(), bin, "mcp", "--tenant", "acme", "--reconcile-ms", "200"];
        let r = client(&home, &env, &args);
        let revision = r["protocol_version"].as_str().unwrap();
        assert_eq!(revision >= "2026-07-28", mode == "auto", "{mode} negotiated {revision}");
        check_scenario(&r);
        // The cancelled call ended in the guest, long before its 30 s deadline.
        wait_for("the cancelled call to end", 10, || {
            std::fs::read_to_string(&errlog).ok().filter(|t| t.contains("tool=slowpoke.loop error=cancelled"))
        });
        assert_eq!((r["install_exit"].as_i64(), r["list_changed"].as_bool()), (Some(0), Some(true)), "{mode}: {r}");
        let after: Vec<&str> = r["tools_after"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        if mode == "auto" {
            assert!(after.contains(&"echo"), "{r}");
            assert_eq!(r["echo"]["structured"]["said"], "hi", "{r}");
        } else {
            // The second echo plugin makes `echo` a shared name: both are prefixed.
            assert!(after.contains(&"echo-tool.echo") && after.contains(&"echo-tool-2.echo") && !after.contains(&"echo"), "{r}");
        }
    }
    // Files given as they are: their tools only, unprefixed.
    let r = client(
        &home,
        &[("SCENARIO", "list")],
        &["stdio", "auto", tmp.path().join("f.log").to_str().unwrap(), bin, "mcp", guest("text_classifier").to_str().unwrap()],
    );
    assert_eq!(r["tools"].as_object().unwrap().keys().collect::<Vec<_>>(), ["classify"], "{r}");
    // Two files with the same stem are two plugins of one name: prefixing cannot tell them
    // apart, so neither is served (a call must never reach a plugin its caller did not mean).
    let twin = tmp.path().join("twin");
    std::fs::create_dir_all(&twin).unwrap();
    std::fs::copy(guest("text_classifier"), twin.join("text_classifier.wasm")).unwrap();
    let r = client(
        &home,
        &[("SCENARIO", "list"), ("CALL", "text_classifier.classify")],
        &[
            "stdio",
            "legacy",
            tmp.path().join("t.log").to_str().unwrap(),
            bin,
            "mcp",
            guest("text_classifier").to_str().unwrap(),
            twin.join("text_classifier.wasm").to_str().unwrap(),
        ],
    );
    assert!(r["tools"].as_object().unwrap().is_empty(), "{r}");
    assert_eq!(r["call"]["protocol_error"], -32602, "{r}");
    // Usage errors exit before any session starts.
    let out = plinth(&home, &["mcp", "no-such-plugin"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let out = plinth(&home, &["mcp", "text-classifier", guest("echo").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_servers_mcp_endpoint_is_behind_its_auth_and_scoped_by_tenant() {
    python_mcp();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (admin, acme, beta) = tokens(&home);
    setup(tmp.path(), &home);
    let s = Server::start(&home, &["--max-body", "4K"]);
    let url = s.url("/mcp");
    let cancelled = || {
        let text = h1().get(s.url("/metrics")).bearer_auth(&admin).send().ok()?.text().ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("plinth_calls_total") && l.contains(r#"plugin="slowpoke""#) && l.contains(r#"outcome="cancelled""#))?;
        line.rsplit(' ').next()?.parse::<f64>().ok()
    };
    for (n, mode) in ["auto", "legacy"].into_iter().enumerate() {
        let r = client(&home, &[], &["http", mode, &url, &acme]);
        check_scenario(&r);
        // The cancelled call ended in the guest: one more call with outcome "cancelled".
        wait_for(&format!("{mode}: the cancelled call in /metrics"), 10, || cancelled().filter(|c| *c >= (n + 1) as f64));
    }
    // An admin without X-Tenant-Id sees the global tools only: nothing to prefix; with it,
    // that tenant's.
    let r = client(&home, &[("SCENARIO", "list")], &["http", "auto", &url, &admin]);
    let tools = r["tools"].as_object().unwrap();
    assert!(tools.contains_key("loop") && !tools.keys().any(|k| k.starts_with("slowpoke.")), "{r}");
    let r = client(&home, &[("SCENARIO", "list"), ("TENANT", "acme")], &["http", "auto", &url, &admin]);
    assert!(r["tools"].as_object().unwrap().contains_key("slowpoke.loop"), "{r}");
    // beta neither sees nor reaches acme's plugin.
    let r = client(&home, &[("SCENARIO", "list"), ("CALL", "slowpoke.counter")], &["http", "legacy", &url, &beta]);
    assert!(!r["tools"].as_object().unwrap().keys().any(|k| k.starts_with("slowpoke")), "{r}");
    assert_eq!(r["call"]["protocol_error"], -32602, "{r}");
    // Hostile requests: no token, a bad token, an oversized body.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let post = |token: Option<&str>, body: String| {
        let mut r = h1().post(&url).header("content-type", "application/json").header("accept", "application/json, text/event-stream");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.body(body).send().unwrap().status()
    };
    assert_eq!(post(None, init.into()), StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some("not-a-token"), init.into()), StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some(&acme), format!("{{\"pad\":\"{}\"}}", "x".repeat(8 << 10))), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(post(Some(&acme), "{not json".into()).as_u16() / 100, 4);
    let other = h1()
        .post(&url)
        .bearer_auth(&acme)
        .header("x-tenant-id", "beta")
        .header("content-type", "application/json")
        .body(init)
        .send()
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN, "a tenant token cannot act for another tenant");
    assert_eq!(h1().get(s.url("/health")).send().unwrap().status(), StatusCode::OK);
}
