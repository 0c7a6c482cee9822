//! Capabilities: denied by default, usable only when asked and granted, and no way out of a
//! granted directory. HTTP tests run against a server on 127.0.0.1 started by the test.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{guest, runtime};
use plinth::{
    Asks, CallContext, Capabilities, CapabilityError, EnvGrant, FsAsk, FsGrant, FsMode, Grants, HostPattern, InvokeError, Limits,
    LoadError, LoadOptions, LogSource, Plugin, Stdio,
};
use serde_json::{Value, json};

fn load(name: &str, caps: Capabilities) -> Plugin {
    runtime().load_file_with(guest(name), &LoadOptions { capabilities: caps, ..LoadOptions::default() }).unwrap()
}

fn probe(p: &Plugin, tool: &str, args: Value) -> Value {
    p.call_tool(tool, &CallContext::default(), &args.to_string()).unwrap().output.to_value().unwrap()
}

fn both(asks: Asks, grants: Grants) -> Capabilities {
    Capabilities::resolve(&asks, &grants).unwrap()
}

/// A directory holding `in.txt` and a symlink `escape` pointing at a file outside it.
fn data_dir() -> tempfile::TempDir {
    let outside = tempfile::NamedTempFile::new().unwrap().into_temp_path().keep().unwrap();
    std::fs::write(&outside, "outside secret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("escape")).unwrap();
    dir
}

fn fs_caps(dir: &Path, ask: FsMode, grant: FsMode) -> Capabilities {
    both(
        Asks { fs: vec![FsAsk { guest: "/data".into(), mode: ask }], ..Asks::default() },
        Grants { fs: vec![FsGrant { guest: "/data".into(), host: dir.to_path_buf(), mode: grant }], ..Grants::default() },
    )
}

fn denied(v: &Value) -> bool {
    v.get("error").is_some() && v.get("ok").is_none()
}

#[test]
fn with_no_grants_every_probe_is_denied_and_calls_complete() {
    let p = load("caps_probe", Capabilities::none());
    for path in ["/data/in.txt", "/etc/passwd", "in.txt"] {
        assert!(denied(&probe(&p, "read", json!({ "path": path }))), "{path}");
    }
    assert!(denied(&probe(&p, "write", json!({"path": "/tmp/x", "text": "x"}))));
    assert!(denied(&probe(&p, "list", json!({"path": "/"}))));
    let env = probe(&p, "env", json!({"name": "PATH"}));
    assert_eq!(env, json!({"value": null, "names": []}));
    // HTTP is not even linked: refused at load, naming the interface.
    let err = runtime().load_file(guest("http_probe")).unwrap_err();
    assert!(
        matches!(&err, LoadError::CapabilityNotGranted { interface, capability: "http" } if interface.starts_with("wasi:http/")),
        "{err:?}"
    );
}

#[test]
fn a_read_only_directory_can_be_read_not_written_nor_escaped() {
    let dir = data_dir();
    let p = load("caps_probe", fs_caps(dir.path(), FsMode::Ro, FsMode::Ro));
    assert_eq!(probe(&p, "read", json!({"path": "/data/in.txt"})), json!({"ok": "inside"}));
    assert_eq!(probe(&p, "list", json!({"path": "/data"})), json!({"ok": ["escape", "in.txt"]}));
    assert!(denied(&probe(&p, "write", json!({"path": "/data/new.txt", "text": "x"}))));
    assert!(!dir.path().join("new.txt").exists());
    for escape in ["/data/../../etc/passwd", "/data/escape", "/etc/passwd", "/data/../in.txt"] {
        let v = probe(&p, "read", json!({ "path": escape }));
        assert!(denied(&v), "{escape}: {v}");
    }
}

#[test]
fn a_read_write_directory_takes_writes_inside_only() {
    let dir = data_dir();
    let p = load("caps_probe", fs_caps(dir.path(), FsMode::Rw, FsMode::Rw));
    assert_eq!(probe(&p, "write", json!({"path": "/data/out.txt", "text": "hello"})), json!({"ok": true}));
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "hello");
    // Writing through the symlink or above the directory is refused.
    assert!(denied(&probe(&p, "write", json!({"path": "/data/escape", "text": "pwned"}))));
    assert!(denied(&probe(&p, "write", json!({"path": "/data/../pwned.txt", "text": "x"}))));
    assert!(!dir.path().parent().unwrap().join("pwned.txt").exists());
}

#[test]
fn read_only_wins_when_ask_and_grant_differ() {
    let dir = data_dir();
    let caps = fs_caps(dir.path(), FsMode::Rw, FsMode::Ro);
    assert!(caps.report.not_granted.iter().any(|l| l.contains("write access")), "{:?}", caps.report);
    let p = load("caps_probe", caps);
    assert!(denied(&probe(&p, "write", json!({"path": "/data/out.txt", "text": "x"}))));
}

#[test]
fn only_asked_and_granted_env_vars_are_visible() {
    // CARGO_PKG_NAME is set in the test process by cargo.
    assert!(std::env::var("CARGO_PKG_NAME").is_ok());
    let caps = both(
        Asks { env: vec!["API_KEY".into(), "CARGO_PKG_NAME".into(), "ASKED_ONLY".into()], ..Asks::default() },
        Grants {
            env: vec![
                EnvGrant { name: "API_KEY".into(), value: Some("k-123".into()) },
                EnvGrant { name: "CARGO_PKG_NAME".into(), value: None },
                EnvGrant { name: "PATH".into(), value: None },
            ],
            ..Grants::default()
        },
    );
    assert!(caps.report.not_granted.contains(&"env ASKED_ONLY".to_string()));
    assert!(caps.report.not_asked.contains(&"env PATH".to_string()));
    let p = load("caps_probe", caps);
    let v = probe(&p, "env", json!({"name": "API_KEY"}));
    assert_eq!(v["value"], "k-123");
    let mut names: Vec<String> = serde_json::from_value(v["names"].clone()).unwrap();
    names.sort();
    assert_eq!(names, ["API_KEY", "CARGO_PKG_NAME"]);
    assert_eq!(probe(&p, "env", json!({"name": "CARGO_PKG_NAME"}))["value"], std::env::var("CARGO_PKG_NAME").unwrap());
}

#[test]
fn grants_nobody_asked_for_give_nothing() {
    let dir = data_dir();
    let caps = both(
        Asks::default(),
        Grants { fs: vec![FsGrant { guest: "/data".into(), host: dir.path().into(), mode: FsMode::Rw }], ..Grants::default() },
    );
    assert_eq!(caps.report.not_asked, ["fs /data"]);
    let p = load("caps_probe", caps);
    assert!(denied(&probe(&p, "read", json!({"path": "/data/in.txt"}))));
}

#[test]
fn bad_declarations_are_refused() {
    let asks = Asks { fs: vec![FsAsk { guest: "../../etc".into(), mode: FsMode::Ro }], ..Asks::default() };
    let grants = Grants { fs: vec![FsGrant { guest: "../../etc".into(), host: "/etc".into(), mode: FsMode::Ro }], ..Grants::default() };
    assert!(matches!(Capabilities::resolve(&asks, &grants), Err(CapabilityError::BadGuestPath { .. })));
    let asks = Asks { fs: vec![FsAsk { guest: "/d".into(), mode: FsMode::Ro }], ..Asks::default() };
    let grants =
        Grants { fs: vec![FsGrant { guest: "/d".into(), host: "/definitely/missing".into(), mode: FsMode::Ro }], ..Grants::default() };
    assert!(matches!(Capabilities::resolve(&asks, &grants), Err(CapabilityError::BadHostDir { .. })));
    assert!(HostPattern::parse("https://example.com").is_err());
}

#[test]
fn dropped_stdio_is_not_captured() {
    let caps = both(Asks { stdio: Stdio::Drop, ..Asks::default() }, Grants::default());
    let p = load("hostile", caps);
    let out = p.call_tool("log-flood", &CallContext::default(), r#"{"mib":1}"#).unwrap();
    assert!(!out.logs.lines.iter().any(|l| l.source == LogSource::Stdout), "stdout was kept");
    assert!(out.logs.lines.iter().any(|l| l.source == LogSource::Host), "host.log must still be kept");
}

/// A one-response-per-connection HTTP server on 127.0.0.1; counts connections.
fn serve(body: Vec<u8>, respond: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if !respond {
                    std::thread::sleep(Duration::from_secs(10));
                    return;
                }
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            });
        }
    });
    (port, hits)
}

fn http_caps(grant: &str) -> Capabilities {
    let pattern = HostPattern::parse(grant).unwrap();
    both(Asks { http: vec![pattern.clone()], ..Asks::default() }, Grants { http: vec![pattern], ..Grants::default() })
}

#[test]
fn granted_http_reaches_exactly_the_granted_host() {
    let (port, hits) = serve(b"hello from the test server".to_vec(), true);
    let p = load("http_probe", http_caps(&format!("127.0.0.1:{port}")));
    let ok = probe(&p, "get", json!({"authority": format!("127.0.0.1:{port}"), "path": "/ok"}));
    assert_eq!(ok, json!({"status": 200, "body": "hello from the test server"}));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Same server under another name, and another port: denied before any connection.
    for authority in [format!("localhost:{port}"), format!("127.0.0.1:{}", port.wrapping_add(1))] {
        let out = p.call_tool("get", &CallContext::default(), &json!({ "authority": authority }).to_string()).unwrap();
        let v = out.output.to_value().unwrap();
        assert!(v["error"].as_str().unwrap().contains("HttpRequestDenied"), "{authority}: {v}");
        assert!(out.logs.lines.iter().any(|l| l.message.contains("denied for plugin http_probe")), "denial not logged: {:?}", out.logs);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a denied request reached the server");
}

#[test]
fn http_asked_but_not_granted_is_refused_at_load() {
    let caps = both(Asks { http: vec![HostPattern::parse("api.example.com").unwrap()], ..Asks::default() }, Grants::default());
    assert_eq!(caps.report.not_granted, ["http api.example.com"]);
    let err = runtime().load_file_with(guest("http_probe"), &LoadOptions { capabilities: caps, ..LoadOptions::default() }).unwrap_err();
    assert!(matches!(err, LoadError::CapabilityNotGranted { .. }), "{err:?}");
}

#[test]
fn response_bodies_are_capped() {
    let (port, _) = serve(vec![b'a'; 17 << 20], true);
    let p = load("http_probe", http_caps(&format!("127.0.0.1:{port}")));
    let v = probe(&p, "get", json!({"authority": format!("127.0.0.1:{port}")}));
    assert!(v["error"].as_str().is_some_and(|e| e.contains("response body size exceeds limit")), "{v}");
}

#[test]
fn a_silent_server_cannot_hold_a_call_past_its_deadline() {
    let (port, _) = serve(Vec::new(), false);
    let p = load("http_probe", http_caps(&format!("127.0.0.1:{port}")))
        .with_limits(Limits { timeout: Duration::from_millis(300), ..Limits::default() })
        .unwrap();
    let start = Instant::now();
    let result = p.call_tool("get", &CallContext::default(), &json!({"authority": format!("127.0.0.1:{port}")}).to_string());
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "held for {took:?}");
    // Either the request's own timeout (clamped to the time left) reached the guest, which
    // reported it, or the wait was cut at the deadline; both within the time bound above.
    match result {
        Err(InvokeError::DeadlineExceeded { .. }) => {}
        Ok(out) => assert!(out.output.as_str().contains("Timeout"), "{}", out.output),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_granted_directory_replaced_later_is_not_given_out() {
    let dir = data_dir();
    let parent = tempfile::tempdir().unwrap();
    let granted = parent.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("in.txt"), "original").unwrap();
    let p = load("caps_probe", fs_caps(&granted, FsMode::Ro, FsMode::Ro));
    assert_eq!(probe(&p, "read", json!({"path": "/data/in.txt"})), json!({"ok": "original"}));
    // Swap the granted directory for a symlink to another one.
    std::fs::rename(&granted, parent.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(dir.path(), &granted).unwrap();
    let out = p.call_tool("read", &CallContext::default(), r#"{"path":"/data/in.txt"}"#).unwrap();
    assert!(denied(&out.output.to_value().unwrap()), "{}", out.output);
    assert!(out.logs.lines.iter().any(|l| l.message.contains("replaced since it was granted")), "{:?}", out.logs);
}

#[test]
fn a_file_cannot_be_granted_as_a_directory() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let asks = Asks { fs: vec![FsAsk { guest: "/d".into(), mode: FsMode::Ro }], ..Asks::default() };
    let grants = Grants { fs: vec![FsGrant { guest: "/d".into(), host: file.path().into(), mode: FsMode::Ro }], ..Grants::default() };
    assert!(
        matches!(Capabilities::resolve(&asks, &grants), Err(CapabilityError::BadHostDir { reason, .. }) if reason.contains("not a directory"))
    );
}

#[test]
fn env_values_are_never_printed() {
    let caps = both(
        Asks { env: vec!["API_KEY".into()], ..Asks::default() },
        Grants { env: vec![EnvGrant { name: "API_KEY".into(), value: Some("s3cr3t-value".into()) }], ..Grants::default() },
    );
    assert!(!format!("{caps:?}").contains("s3cr3t-value"));
    assert!(!serde_json::to_string(&caps).unwrap().contains("s3cr3t-value"));
    assert!(serde_json::to_string(&caps).unwrap().contains("API_KEY"));
}

#[test]
fn a_stalled_request_body_cannot_hold_a_call_past_its_deadline() {
    // The guest writes a body for a request it never sends: each write blocks in the host
    // once the buffer is full. Only the host's deadline-bounded wasi:io can stop it.
    let p = load("http_probe", http_caps("127.0.0.1:9"))
        .with_limits(Limits { timeout: Duration::from_millis(300), ..Limits::default() })
        .unwrap();
    let start = Instant::now();
    let err = p.call_tool("stall-body", &CallContext::default(), r#"{"authority":"127.0.0.1:9"}"#).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, InvokeError::DeadlineExceeded { .. }), "{err:?}");
    assert!(took < Duration::from_secs(3), "held for {took:?}");
}
