//! `plinth serve`, tested as a deployment: the real binary on 127.0.0.1 (port 0), a real
//! HTTP client (reqwest over HTTP/1.1, and with HTTP/2 prior knowledge as Orch8's client
//! speaks it), the real `$PLINTH_HOME` shared with the CLI. Every wait is for a state, with
//! a deadline.

mod serve_support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use serve_support::*;

#[test]
fn the_registry_api_creates_reads_patches_and_deletes_over_http1() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let s = Server::start(&home, &["--no-auth"]);
    let c = h1();
    let (st, v) = body(c.get(s.url("/health")).send().unwrap());
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, _) = body(c.get(s.url("/ready")).send().unwrap());
    assert_eq!(st, StatusCode::OK);

    let create = json!({"name": "text-classifier", "plugin_type": "wasm", "source": dir, "tenant_id": "", "config": {"threshold": 0.5}, "description": "spam or ham"});
    let (st, v) = body(c.post(s.url("/plugins")).json(&create).send().unwrap());
    assert_eq!(st, StatusCode::CREATED, "{v}");
    for field in [
        "name",
        "plugin_type",
        "source",
        "tenant_id",
        "enabled",
        "config",
        "description",
        "created_at",
        "updated_at",
        "version",
        "sha256",
        "kinds",
        "exports",
        "status",
        "last_error",
    ] {
        assert!(v.get(field).is_some(), "no `{field}` in {v}");
    }
    assert_eq!(v["enabled"], true);
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(v["config"]["threshold"], 0.5);
    assert_eq!(v["version"], "0.1.0");
    assert_eq!(v["exports"], json!([{"kind": "tool", "name": "classify"}]));

    // Again: a conflict, naming how to change it instead.
    let (st, v) = body(c.post(s.url("/plugins")).json(&create).send().unwrap());
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "conflict");

    let (st, v) = body(c.get(s.url("/plugins")).send().unwrap());
    assert_eq!((st, v.as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{v}");

    let (st, v) =
        body(c.patch(s.url("/plugins/text-classifier")).json(&json!({"description": "new words", "enabled": false})).send().unwrap());
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["description"].as_str(), v["enabled"].as_bool(), v["status"].as_str()),
        (Some("new words"), Some(false), Some("disabled"))
    );
    // A disabled plugin is refused with how to enable it.
    let (st, v) = body(c.post(s.url("/invoke/text-classifier/classify")).body(envelope(SPAM)).send().unwrap());
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("\"enabled\": true"), "{v}");
    // A new source does not re-enable a disabled plugin.
    let (st, v) = body(c.patch(s.url("/plugins/text-classifier")).json(&json!({"source": dir})).send().unwrap());
    assert_eq!((st, v["enabled"].as_bool(), v["status"].as_str()), (StatusCode::OK, Some(false), Some("disabled")), "{v}");
    let (st, _) = body(c.patch(s.url("/plugins/text-classifier")).json(&json!({"enabled": true})).send().unwrap());
    assert_eq!(st, StatusCode::OK);
    // With authentication off, a web page of another origin, or a request addressed to
    // another host name (DNS rebinding), is refused.
    let r = c
        .post(s.url("/plugins"))
        .header("origin", "http://evil.example")
        .header("content-type", "text/plain")
        .body(create.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.get(s.url("/plugins")).header("host", "evil.example:8790").send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.get(s.url("/plugins")).header("origin", "http://localhost:3000").send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (st, v) = body(c.post(s.url("/invoke/text-classifier/classify")).body(envelope(SPAM)).send().unwrap());
    assert_eq!((st, v["category"].as_str()), (StatusCode::OK, Some("spam")), "{v}");

    // The CLI sees what the API installed.
    let out = plinth(&home, &["plugin", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("text-classifier"), "{}", String::from_utf8_lossy(&out.stdout));

    let st = c.delete(s.url("/plugins/text-classifier")).send().unwrap().status();
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(c.get(s.url("/plugins/text-classifier")).send().unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.delete(s.url("/plugins/text-classifier")).send().unwrap().status(), StatusCode::NOT_FOUND);
    let (st, v) = body(c.post(s.url("/invoke/text-classifier/classify")).body(envelope(SPAM)).send().unwrap());
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
}

#[test]
fn plugins_installed_by_the_cli_are_served_in_both_forms_over_http1_and_h2c() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let s = Server::start(&home, &["--no-auth"]);
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let out = plinth(&home, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = h1();
    // Picked up by the reconcile loop, without a restart.
    wait_for("the CLI's install served", 10, || {
        let r = c.post(s.url("/invoke/text-classifier/classify")).body(envelope(SPAM)).send().ok()?;
        (r.status() == StatusCode::OK).then_some(())
    });
    for (client, version) in [(h1(), reqwest::Version::HTTP_11), (h2c(), reqwest::Version::HTTP_2)] {
        for path in ["/invoke/text-classifier/classify", "/text-classifier.classify"] {
            let r = client.post(s.url(path)).header("content-type", "application/json").body(envelope(SPAM)).send().unwrap();
            assert_eq!(r.version(), version);
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let fuel: u64 = r.headers()["x-plinth-fuel"].to_str().unwrap().parse().unwrap();
            assert!(fuel > 0);
            assert!(r.headers().contains_key("x-plinth-wall-us"));
            let v: Value = r.json().unwrap();
            assert_eq!(v["category"], "spam", "{path}: {v}");
        }
    }
    // Orch8's form with a name the plugin does not list, and a path that is no target.
    let (st, v) = body(h2c().post(s.url("/text-classifier.nope")).body(envelope(SPAM)).send().unwrap());
    assert_eq!((st, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{v}");
    assert_eq!(h1().post(s.url("/no-dot-here")).body("{}").send().unwrap().status(), StatusCode::NOT_FOUND);
}

#[test]
fn call_failures_map_to_the_status_codes_orch8_retries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let hostile = plugin_dir(tmp.path(), "hostile", "hostile", "0.1.0", "hostile", "[limits]\nfuel = 50000000\ntimeout_ms = 300");
    let tc = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    for d in [&hostile, &tc] {
        let out = plinth(&home, &["plugin", "install", d.to_str().unwrap(), "--yes"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let s = Server::start(&home, &["--no-auth"]);
    let c = h1();
    let call = |plugin: &str, export: &str, params: &str| {
        body(c.post(s.url(&format!("/invoke/{plugin}/{export}"))).body(envelope(params)).send().unwrap())
    };
    let (st, v) = call("text-classifier", "classify", r#"{"nope":1}"#);
    assert_eq!((st, v["code"].as_str(), v["retryable"].as_bool()), (StatusCode::BAD_REQUEST, Some("invalid_input"), Some(false)), "{v}");
    // Fuel: permanent. (The manifest's budget; `loop` spins forever.)
    let r = c.post(s.url("/invoke/hostile/loop")).body(envelope("{}")).send().unwrap();
    assert!(r.headers().get("retry-after").is_none());
    let (st, v) = body(r);
    assert_eq!((st, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("out_of_fuel")), "{v}");
    // Blocked in the host past the deadline: retryable, with Retry-After.
    let r = c.post(s.url("/invoke/hostile/sleep")).body(envelope(r#"{"secs":30}"#)).send().unwrap();
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()), Some("1".into()));
    let (st, v) = body(r);
    assert_eq!(
        (st, v["code"].as_str(), v["retryable"].as_bool()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("deadline_exceeded"), Some(true)),
        "{v}"
    );
    let (st, v) = call("hostile", "panic", "{}");
    assert_eq!((st, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("trap")), "{v}");
    let (st, v) = call("hostile", "bad-json", "{}");
    assert_eq!((st, v["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_output")), "{v}");
    // After all that, it still serves.
    let (st, v) = call("text-classifier", "classify", SPAM);
    assert_eq!((st, v["category"].as_str()), (StatusCode::OK, Some("spam")));
}

#[test]
fn a_tenant_token_reaches_its_own_plugins_and_the_globals_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (admin, acme, beta) = tokens(&home);
    // Only hashes are stored.
    let stored = std::fs::read_to_string(home.join("tokens.toml")).unwrap();
    assert!(!stored.contains(&admin) && !stored.contains(&acme), "a token is stored in clear");
    let s = Server::start(&home, &[]);
    let c = h1();
    let as_ = |token: &str| format!("Bearer {token}");
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let json_dir = plugin_dir(tmp.path(), "jt", "json-transform", "0.1.0", "json_transform", "node = [\"transform\"]");
    for (name, src, tenant) in [("text-classifier", &dir, "beta"), ("json-transform", &json_dir, "")] {
        let (st, v) = body(
            c.post(s.url("/plugins"))
                .header("authorization", as_(&admin))
                .json(&json!({"name": name, "source": src, "tenant_id": tenant}))
                .send()
                .unwrap(),
        );
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    // acme sees the global one only.
    let (st, v) = body(c.get(s.url("/plugins")).header("authorization", as_(&acme)).send().unwrap());
    assert_eq!(st, StatusCode::OK);
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["json-transform"], "{v}");
    let (st, _) = body(c.get(s.url("/plugins?tenant_id=beta")).header("authorization", as_(&acme)).send().unwrap());
    assert_eq!(st, StatusCode::FORBIDDEN);
    // ... cannot read, invoke, patch or delete beta's ...
    assert_eq!(
        c.get(s.url("/plugins/text-classifier")).header("authorization", as_(&acme)).send().unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let r = c.post(s.url("/text-classifier.classify")).header("authorization", as_(&acme)).body(envelope(SPAM)).send().unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .post(s.url("/text-classifier.classify"))
        .header("authorization", as_(&acme))
        .header("x-tenant-id", "beta")
        .body(envelope(SPAM))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.patch(s.url("/plugins/text-classifier")).header("authorization", as_(&acme)).json(&json!({"enabled": false})).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.delete(s.url("/plugins/text-classifier")).header("authorization", as_(&acme)).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // ... nor write globals.
    let r = c.post(s.url("/plugins")).header("authorization", as_(&acme)).json(&json!({"name": "x", "source": dir})).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // beta reaches its own, and the global one.
    let r = c.post(s.url("/text-classifier.classify")).header("authorization", as_(&beta)).body(envelope(SPAM)).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.post(s.url("/json-transform.transform")).header("authorization", as_(&acme)).body(envelope(r#"{"a":1}"#)).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // An admin writing for one tenant with a body naming another is refused.
    let r = c
        .post(s.url("/plugins"))
        .header("authorization", as_(&admin))
        .header("x-tenant-id", "acme")
        .json(&json!({"name": "text-classifier", "source": dir, "tenant_id": "beta"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[test]
fn hostile_requests_get_clear_errors_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (admin, _, _) = tokens(&home);
    let s = Server::start(&home, &["--max-body", "64K", "--header-timeout-ms", "300"]);
    let c = h1();
    let auth = format!("Bearer {admin}");
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    // No token, a wrong token, a malformed header.
    for value in [None, Some("Bearer plinth_0000"), Some("Basic abc"), Some(auth.trim_start_matches("Bearer "))] {
        let mut r = c.get(s.url("/plugins"));
        if let Some(v) = value {
            r = r.header("authorization", v);
        }
        let (st, v) = body(r.send().unwrap());
        assert_eq!((st, v["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{value:?}: {v}");
    }
    // A fresh connection per case: one refused before its body was read is closed.
    let post = |b: String| {
        body(h1().post(s.url("/plugins")).header("authorization", &auth).header("content-type", "application/json").body(b).send().unwrap())
    };
    let cases: Vec<(String, StatusCode)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST),
        (json!({"name": "a", "source": dir, "colour": "red"}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "../../etc", "source": dir}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "a..b", "source": dir}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(300), "source": dir}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "a", "source": "/".repeat(3000)}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "a", "source": "/nonexistent/x.wasm"}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "a", "source": dir, "plugin_type": "docker"}).to_string(), StatusCode::BAD_REQUEST),
        (json!({"name": "a", "source": dir, "tenant_id": "../x"}).to_string(), StatusCode::BAD_REQUEST),
        // A directory with no plinth.toml: the source's fault, not the server's.
        (json!({"name": "a", "source": tmp.path()}).to_string(), StatusCode::BAD_REQUEST),
        // The directory's manifest names another plugin.
        (json!({"name": "a", "source": dir}).to_string(), StatusCode::BAD_REQUEST),
        (format!(r#"{{"name":"a","source":"{}","description":"{}"}}"#, dir.display(), "x".repeat(70_000)), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (b, want) in cases {
        let (st, v) = post(b.clone());
        assert_eq!(st, want, "{}: {v}", &b[..b.len().min(120)]);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()) && v["code"].is_string(), "{v}");
    }
    // A traversal in the path of a read finds nothing.
    let st = c.get(s.url("/plugins/..%2F..%2Fetc")).header("authorization", &auth).send().unwrap().status();
    assert!(st == StatusCode::NOT_FOUND || st == StatusCode::BAD_REQUEST, "{st}");
    // Nothing was installed.
    let (_, v) = body(c.get(s.url("/plugins")).header("authorization", &auth).send().unwrap());
    assert_eq!(v, json!([]));

    // A client that sends half its headers and stops is cut off after the header timeout.
    let mut slow = std::net::TcpStream::connect(s.addr()).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(start.elapsed() < Duration::from_secs(4), "the slow connection was held for {:?}", start.elapsed());
    // So is one that connects and says nothing (hyper itself would wait for an HTTP/2
    // preface forever).
    let mut silent = std::net::TcpStream::connect(s.addr()).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let _ = silent.read_to_end(&mut Vec::new());
    assert!(start.elapsed() < Duration::from_secs(4), "the silent connection was held for {:?}", start.elapsed());
    // And the server keeps serving.
    assert_eq!(c.get(s.url("/health")).send().unwrap().status(), StatusCode::OK);
}

#[test]
fn two_clients_see_no_failed_call_while_the_plugin_is_patched_five_times() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let versions: Vec<PathBuf> = (1..=6)
        .map(|i| {
            plugin_dir(tmp.path(), &format!("v{i}"), "text-classifier", &format!("0.{i}.0"), "text_classifier", "tool = [\"classify\"]")
        })
        .collect();
    let s = Server::start(&home, &["--no-auth"]);
    let (st, v) = body(h1().post(s.url("/plugins")).json(&json!({"name": "text-classifier", "source": versions[0]})).send().unwrap());
    assert_eq!(st, StatusCode::CREATED, "{v}");
    const CALLS: usize = 5_000;
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let c = if i == 0 { h1() } else { h2c() };
                    let (mut failed, mut last_generation) = (Vec::new(), 0u64);
                    for _ in 0..CALLS {
                        let r = c.post(s.url("/text-classifier.classify")).body(envelope(SPAM)).send().unwrap();
                        let generation: u64 = r.headers().get("x-plinth-generation").map_or(0, |g| g.to_str().unwrap().parse().unwrap());
                        let status = r.status();
                        let v: Value = r.json().unwrap_or(Value::Null);
                        if status != StatusCode::OK || v["category"] != "spam" {
                            failed.push(format!("{status} {v}"));
                        }
                        // Each client sees generations in order: never an old one after a new one.
                        assert!(generation >= last_generation, "generation {generation} after {last_generation}");
                        last_generation = generation;
                    }
                    (failed, last_generation)
                })
            })
            .collect();
        let c = h1();
        for v in &versions[1..] {
            let (st, body) = body(c.patch(s.url("/plugins/text-classifier")).json(&json!({"source": v})).send().unwrap());
            assert_eq!(st, StatusCode::OK, "{body}");
            std::thread::sleep(Duration::from_millis(50)); // spread the reloads over the run
        }
        workers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>()
    });
    for (failed, last_generation) in &results {
        assert!(failed.is_empty(), "{} failed calls, first: {}", failed.len(), failed[0]);
        // The reloads really happened under the clients: they ended on a later generation.
        assert!(*last_generation > 1, "a client never saw a reloaded generation");
    }
    let (_, v) = body(h1().get(s.url("/plugins/text-classifier")).send().unwrap());
    assert_eq!(v["version"], "0.6.0", "{v}");
}

#[test]
fn a_restarted_server_serves_what_was_registered_and_sigterm_exits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = plugin_dir(tmp.path(), "jt", "json-transform", "0.1.0", "json_transform", "node = [\"transform\"]");
    let config = json!({"defaults": {"status": "new"}});
    {
        let s = Server::start(&home, &["--no-auth"]);
        let (st, v) =
            body(h1().post(s.url("/plugins")).json(&json!({"name": "json-transform", "source": dir, "config": config})).send().unwrap());
        assert_eq!(st, StatusCode::CREATED, "{v}");
        // SIGTERM: stop accepting, finish, exit 0.
        let mut s = s;
        Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap();
        let status = wait_for("exit after SIGTERM", 15, || s.child.try_wait().unwrap());
        assert!(status.success(), "{status:?}");
    }
    let s = Server::start(&home, &["--no-auth"]);
    let (st, v) = body(h1().get(s.url("/plugins/json-transform")).send().unwrap());
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("running")), "{v}");
    assert_eq!(v["config"], config);
    // The operator's config reaches the call.
    let (st, v) = body(h1().post(s.url("/json-transform.transform")).body(envelope(r#"{"id":1}"#)).send().unwrap());
    assert_eq!((st, v), (StatusCode::OK, json!({"id": 1, "status": "new"})));
    // The envelope's context.config is laid over the installed config, key by key.
    let over = r#"{"params":{"id":1},"context":{"config":{"defaults":{"status":"old"}}}}"#;
    let (st, v) = body(h1().post(s.url("/json-transform.transform")).body(over).send().unwrap());
    assert_eq!((st, v), (StatusCode::OK, json!({"id": 1, "status": "old"})));
}

#[cfg_attr(not(feature = "fault-injection"), ignore = "needs --features fault-injection (cargo xtask test turns it on)")]
#[test]
fn a_server_killed_in_the_middle_of_a_post_leaves_no_half_installed_plugin() {
    for point in ["after-store", "after-desired"] {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
        let mut s = Server::start_with_env(&home, &["--no-auth"], &[("PLINTH_FAULT", point), ("PLINTH_FAULT_KILL", "1")]);
        let r = h1().post(s.url("/plugins")).json(&json!({"name": "text-classifier", "source": dir})).send();
        assert!(r.is_err() || r.unwrap().status().is_server_error(), "{point}: the POST should have died with the server");
        let status = wait_for("the killed server to exit", 10, || s.child.try_wait().unwrap());
        assert!(!status.success(), "{point}: {status:?}");
        // Restarted: the plugin is not served half-installed; doctor passes or names the fix,
        // and the fix works.
        let s2 = Server::start(&home, &["--no-auth"]);
        let r = h1().post(s2.url("/text-classifier.classify")).body(envelope(SPAM)).send().unwrap();
        assert_ne!(r.status(), StatusCode::OK, "{point}: a half-installed plugin was served");
        drop(s2);
        let doctor = plinth(&home, &["plugin", "doctor"]);
        if !doctor.status.success() {
            let repaired = plinth(&home, &["plugin", "doctor", "--repair"]);
            assert!(repaired.status.success(), "{point}: {}", String::from_utf8_lossy(&repaired.stdout));
        }
        drop(s);
    }
}

#[test]
fn metrics_count_calls_by_plugin_kind_and_outcome_and_each_request_carries_an_id() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (admin, acme, _) = tokens(&home);
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let out = plinth(&home, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    assert!(out.status.success());
    let s = Server::start(&home, &["--log-format", "json"]);
    let c = h1();
    let call = |params: &str| {
        c.post(s.url("/text-classifier.classify")).header("authorization", format!("Bearer {acme}")).body(envelope(params)).send().unwrap()
    };
    for _ in 0..3 {
        assert_eq!(call(SPAM).status(), StatusCode::OK);
    }
    assert_eq!(call(r#"{"nope":1}"#).status(), StatusCode::BAD_REQUEST);
    // Tenant tokens do not read metrics (the series name every plugin); admins do.
    assert_eq!(c.get(s.url("/metrics")).header("authorization", format!("Bearer {acme}")).send().unwrap().status(), StatusCode::FORBIDDEN);
    let r = c.get(s.url("/metrics")).header("authorization", format!("Bearer {admin}")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().unwrap();
    for line in [
        r#"plinth_calls_total{plugin="text-classifier",kind="tool",outcome="ok"} 3"#,
        // Refused by the host's contract check of the input schema, before any instance.
        r#"plinth_calls_total{plugin="text-classifier",kind="tool",outcome="invalid_request"} 1"#,
        r#"plinth_plugins{status="running"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    for series in ["plinth_call_duration_seconds_bucket{", "plinth_call_fuel_bucket{", "plinth_instantiations_total{mode="] {
        assert!(text.contains(series), "no {series} in:\n{text}");
    }
    // The client's request id is echoed; without one, the server makes one.
    let r = c.get(s.url("/health")).header("x-request-id", "req-42").send().unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-42");
    let r = c.get(s.url("/health")).send().unwrap();
    assert!(r.headers()["x-request-id"].to_str().unwrap().starts_with("plinth-"));
}

#[test]
fn the_warm_instance_flags_size_pre_warming() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let out = plinth(&home, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let prewarmed = |s: &Server| {
        let r = h1().post(s.url("/invoke/text-classifier/classify")).body(envelope(SPAM)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.headers()["x-plinth-prewarmed"] == "true"
    };
    // With the defaults, calls find warm instances.
    let s = Server::start(&home, &["--no-auth"]);
    wait_for("a pre-warmed call", 10, || prewarmed(&s).then_some(()));
    drop(s);
    // Pre-warming off per plugin, or a budget of 0: every call instantiates inline, however
    // long the server has had to warm up.
    for flags in [["--warm-instances", "0"], ["--max-warm-instances", "0"]] {
        let s = Server::start(&home, &["--no-auth", flags[0], flags[1]]);
        for _ in 0..5 {
            assert!(!prewarmed(&s), "{flags:?}: a call ran pre-warmed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A value that is no number is refused before anything starts.
    let out = Command::new(env!("CARGO_BIN_EXE_plinth")).args(["serve", "--no-auth", "--max-warm-instances", "many"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-warm-instances"), "{}", String::from_utf8_lossy(&out.stderr));
    // So is a pool the address space cannot hold, naming the settings to lower.
    let out = Command::new(env!("CARGO_BIN_EXE_plinth"))
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--max-warm-instances", "100000", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("max_warm_instances (100000)") && err.contains("lower one of them"), "{err}");
}
