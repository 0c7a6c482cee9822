//! Dispatch classes through `plinth dispatch` (local and `--server`) and through
//! `POST /dispatch/{class}/{capability}` of a real `plinth serve`, over HTTP/1.1 and h2c,
//! with tenant tokens, and with hostile requests.

mod serve_support;

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use serve_support::{Server, body, envelope, guest, h1, h2c, plinth, tokens};

/// A legacy plugin directory providing `notify.send`.
fn provider(root: &Path, name: &str, wasm: &str, lines: &str) -> PathBuf {
    let d = root.join(format!("src-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(guest(wasm), d.join("p.wasm")).unwrap();
    let manifest = format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\nentry = \"p.wasm\"\napi = \"legacy\"\n[provides]\nnode = [\"{name}\"]\ncapabilities = [\"notify.send\"]\n{lines}\n"
    );
    std::fs::write(d.join("plinth.toml"), manifest).unwrap();
    d
}

fn run(home: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = plinth(home, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Global sms (order 10), pager (loops past its 300 ms deadline, order 15) and mail
/// (order 20); acme's own mail.
fn setup(root: &Path, home: &Path) {
    let installs = [
        (provider(root, "sms", "legacy_echo", "order = 10\n[config]\nchannel = \"sms\""), None),
        (provider(root, "pager", "legacy_loop", "order = 15\n[limits]\ntimeout_ms = 300"), None),
        (provider(root, "mail", "legacy_echo", "order = 20\n[config]\nchannel = \"mail\""), None),
        (provider(&root.join("acme"), "mail", "legacy_echo", "order = 20\n[config]\nchannel = \"acme-mail\""), Some("acme")),
    ];
    for (dir, tenant) in installs {
        let mut args = vec!["plugin", "install", dir.to_str().unwrap(), "--yes"];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        let (code, _, err) = run(home, &args);
        assert_eq!(code, 0, "{err}");
    }
}

#[test]
fn plinth_dispatch_prints_the_report_and_exits_as_the_failed_call_would() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    setup(tmp.path(), &home);
    let (code, report, err) = run(&home, &["dispatch", "broadcast-collect", "notify.send", "--params", r#"{"text":"hi"}"#]);
    assert_eq!(code, 4, "the pager's deadline is a limit: {err}");
    assert!(err.contains("1 of 3 providers failed") && err.contains("pager"), "{err}");
    assert_eq!(report["results"]["sms"]["output"]["params"]["text"], "hi", "{report}");
    assert_eq!(report["results"]["pager"]["ok"], false);
    let (code, report, err) = run(&home, &["dispatch", "singleton", "notify.send", "--tenant", "acme"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["output"]["context"]["config"]["channel"], "acme-mail", "{report}");
    let (code, _, err) = run(&home, &["dispatch", "singleton", "notify.send"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("3 providers") && err.contains("sms, pager, mail"), "{err}");
    let (code, _, err) = run(&home, &["dispatch", "chain", "notify.send"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("pager failed as step 2 of the chain"), "{err}");
    let (code, report, err) = run(&home, &["dispatch", "capability", "notify.send", "--plugin", "sms"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["results"].as_object().unwrap().keys().collect::<Vec<_>>(), ["sms"]);
    // Bad input: a class that does not exist, a version that is not one, JSON that is not.
    assert_eq!(run(&home, &["dispatch", "fanout", "notify.send"]).0, 1);
    assert_eq!(run(&home, &["dispatch", "capability", "notify.send", "--version", "one"]).0, 1);
    assert_eq!(run(&home, &["dispatch", "singleton", "notify.send", "--params", "{nope"]).0, 1);
    assert_eq!(run(&home, &["dispatch", "broadcast-collect", "notify.send", "--config", "[1]"]).0, 1);
    let (code, _, err) = run(&home, &["dispatch", "singleton", "../../etc"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a capability name"), "{err}");
}

#[test]
fn the_server_dispatches_in_the_callers_scope_and_refuses_hostile_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (admin, acme, beta) = tokens(&home);
    setup(tmp.path(), &home);
    let s = Server::start(&home, &["--max-body", "4K"]);
    let bearer = |t: &str| format!("Bearer {t}");
    for c in [h1(), h2c()] {
        let post = |path: &str, token: &str, body: String| {
            body_of(c.post(s.url(path)).header("authorization", bearer(token)).header("content-type", "application/json").body(body))
        };
        // Each tenant its own mail; another tenant's never.
        let (st, v) = post("/dispatch/broadcast-collect/notify.send", &acme, envelope(r#"{"text":"hi"}"#));
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["results"]["mail"]["output"]["context"]["config"]["channel"], "acme-mail", "{v}");
        assert_eq!(v["results"]["pager"]["error"]["code"], "deadline_exceeded", "{v}");
        assert_eq!(v["results"]["pager"]["error"]["status"], 503);
        let (_, v) = post("/dispatch/broadcast-notify/notify.send", &beta, envelope("{}"));
        assert_eq!(v["failures"].as_object().unwrap().keys().collect::<Vec<_>>(), ["pager"], "{v}");
        let (st, v) = post("/dispatch/capability/notify.send?plugin=mail", &beta, envelope("{}"));
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["results"]["mail"]["output"]["context"]["config"]["channel"], "mail", "beta must get the global mail: {v}");
        // singleton: ambiguous for the globals, acme's own decides for acme.
        let (st, v) = post("/dispatch/singleton/notify.send", &admin, envelope("{}"));
        assert_eq!((st, v["code"].as_str()), (StatusCode::CONFLICT, Some("ambiguous")), "{v}");
        assert_eq!(v["details"]["candidates"].as_array().unwrap().len(), 3, "{v}");
        let (st, v) = post("/dispatch/singleton/notify.send", &acme, envelope(r#"{"n":1}"#));
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!((v["provider"]["plugin"].as_str(), v["provider"]["tenant"].as_str()), (Some("mail"), Some("acme")), "{v}");
        // A chain stops at its failing step, retryable as that call is.
        let r = c.post(s.url("/dispatch/chain/notify.send")).header("authorization", bearer(&admin)).body(envelope("{}")).send().unwrap();
        assert!(r.headers().contains_key("retry-after"));
        let (st, v) = body(r);
        assert_eq!((st, v["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("deadline_exceeded")), "{v}");
        assert_eq!((v["details"]["provider"].as_str(), v["details"]["step"].as_u64()), (Some("pager"), Some(2)), "{v}");
        assert_eq!(v["details"]["completed"], json!(["sms"]));
        // What is in scope, and who provides it.
        let (st, v) = body_of(c.get(s.url("/capabilities")).header("authorization", bearer(&acme)));
        assert_eq!(st, StatusCode::OK);
        let providers: Vec<(&str, Option<&str>)> = v["capabilities"]["notify.send"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["plugin"].as_str().unwrap(), p["tenant"].as_str()))
            .collect();
        assert_eq!(providers, [("sms", None), ("pager", None), ("mail", Some("acme"))], "{v}");

        // Hostile requests: each a clear 4xx, and the server keeps serving.
        let (st, _) = body_of(c.post(s.url("/dispatch/broadcast-collect/notify.send")).body(envelope("{}")));
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let (st, _) = body_of(
            c.post(s.url("/dispatch/broadcast-collect/notify.send"))
                .header("authorization", bearer(&acme))
                .header("x-tenant-id", "beta")
                .body(envelope("{}")),
        );
        assert_eq!(st, StatusCode::FORBIDDEN, "a tenant token cannot act for another tenant");
        for (path, want) in [
            ("/dispatch/fanout/notify.send", StatusCode::BAD_REQUEST),
            ("/dispatch/singleton/no%20such", StatusCode::BAD_REQUEST),
            ("/dispatch/singleton/..%2F..%2Fetc", StatusCode::BAD_REQUEST),
            ("/dispatch/capability/notify.send?version=one", StatusCode::BAD_REQUEST),
            ("/dispatch/capability/notify.send?color=red", StatusCode::BAD_REQUEST),
            ("/dispatch/singleton/audit.write", StatusCode::NOT_FOUND),
        ] {
            let (st, v) = post(path, &admin, envelope("{}"));
            assert_eq!(st, want, "{path}: {v}");
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}: {v}");
        }
        // An empty selector selects nothing out.
        let (st, v) = post("/dispatch/capability/notify.send?plugin=", &admin, envelope("{}"));
        assert_eq!((st, v["called"].as_u64()), (StatusCode::OK, Some(3)), "{v}");
        let (st, _) = post("/dispatch/broadcast-collect/notify.send", &admin, "{not json".into());
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let (st, _) = post("/dispatch/broadcast-collect/notify.send", &admin, r#"{"context":{"config":[1]}}"#.into());
        assert_eq!(st, StatusCode::BAD_REQUEST);
        // No token is 401 before anything else is looked at.
        let (st, _) = body_of(c.post(s.url("/dispatch/capability/notify.send?color=red")).body(envelope("{}")));
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        let big = envelope(&format!(r#"{{"text":"{}"}}"#, "x".repeat(8 << 10)));
        let (st, _) = post("/dispatch/broadcast-collect/notify.send", &admin, big);
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert_eq!(h1().get(s.url("/health")).send().unwrap().status(), StatusCode::OK);

    // The CLI against the server: the same report, the same exit codes.
    let remote = |args: &[&str]| {
        let mut all = vec!["--server", &s.url, "--token", &beta];
        all.extend_from_slice(args);
        run(tmp.path(), &all)
    };
    let (code, v, err) = remote(&["dispatch", "capability", "notify.send", "--plugin", "sms", "--params", r#"{"a":1}"#]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["results"]["sms"]["output"]["params"], json!({"a": 1}), "{v}");
    let (code, v, err) = remote(&["dispatch", "broadcast-notify", "notify.send"]);
    assert_eq!(code, 4, "{err}");
    assert!(v["failures"]["pager"].is_object(), "{v}");
    let (code, _, err) = remote(&["dispatch", "singleton", "notify.send"]);
    assert_eq!(code, 3, "{err}");
}

fn body_of(r: reqwest::blocking::RequestBuilder) -> (StatusCode, Value) {
    body(r.send().unwrap())
}
