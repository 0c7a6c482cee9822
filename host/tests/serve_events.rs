//! Triggers and listeners under `plinth serve`: the sample interval trigger polled on its
//! schedule into a file dispatcher across kill -9 restarts (no event lost, replays with the
//! same ids), the sample chat listener over real webhooks, and a trigger that fails every
//! poll next to one that works.

mod serve_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};
use serve_support::*;

/// The events in a dispatch file (a torn last line, as a crash of the writer leaves, is
/// skipped).
fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn ticker(root: &Path, name: &str, extra: &str) -> PathBuf {
    let d = plugin_dir(root, name, name, "0.1.0", "interval_trigger", "trigger = [\"interval\"]");
    let manifest = d.join("plinth.toml");
    let text = std::fs::read_to_string(&manifest).unwrap() + extra;
    std::fs::write(&manifest, text).unwrap();
    d
}

fn install(home: &Path, dir: &Path, tenant: Option<&str>) {
    let mut args = vec!["plugin", "install", dir.to_str().unwrap(), "--yes"];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let out = plinth(home, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[cfg_attr(not(feature = "fault-injection"), ignore = "needs --features fault-injection (cargo xtask test turns it on)")]
#[test]
fn trigger_events_survive_kill_9_and_replays_keep_their_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    // A tick every 200 ms; the trigger asks to be polled at the next tick.
    install(&home, &ticker(tmp.path(), "ticker", "[config]\ninterval_ms = 200\n"), None);
    let flags = ["--no-auth", "--dispatch-file", file.to_str().unwrap()];
    let count = || events(&file).len();

    // 1. Runs, then kill -9 at an arbitrary moment.
    let mut s = Server::start(&home, &flags);
    wait_for("three events", 30, || (count() >= 3).then_some(()));
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    // 2. Killed between the outbox taking a poll's events and the cursor's commit.
    // 3. Killed in the middle of an append to the outbox (a torn line).
    for point in ["poll-accepted", "outbox-torn"] {
        let mut s = Server::start_with_env(&home, &flags, &[("PLINTH_FAULT", point), ("PLINTH_FAULT_KILL", "1")]);
        let status = wait_for("the fault to kill the server", 30, || s.child.try_wait().unwrap());
        assert!(!status.success(), "{point}: {status:?}");
    }
    // 4. Runs on from the stored cursor.
    let before = count();
    let s = Server::start(&home, &flags);
    wait_for("five more events", 30, || (count() >= before + 5).then_some(()));
    drop(s);

    let all = events(&file);
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &all {
        assert_eq!(e["source"], json!({"tenant": null, "plugin": "ticker", "kind": "trigger", "name": "interval"}), "{e}");
        assert_eq!(e["event"], "interval");
        by_id.entry(e["id"].as_str().unwrap().to_string()).or_default().push(e);
    }
    // A replayed poll repeats its events with the same ids and payloads...
    let repeated: Vec<_> = by_id.values().filter(|v| v.len() > 1).collect();
    let shown: Vec<String> = all.iter().map(|e| format!("{} {}", &e["id"].as_str().unwrap()[..8], e["payload"])).collect();
    assert!(!repeated.is_empty(), "the poll cut off before its commit was not replayed: {shown:#?}");
    for v in &repeated {
        assert!(v.iter().all(|e| e["payload"] == v[0]["payload"]), "one id, two payloads: {v:?}");
    }
    // ...and no tick was lost: from the first to the last, every 200 ms tick is there.
    let mut ticks: Vec<u64> = by_id.values().map(|v| v[0]["payload"]["tick_ms"].as_u64().unwrap()).collect();
    ticks.sort();
    ticks.dedup();
    for w in ticks.windows(2) {
        assert_eq!(w[1] - w[0], 200, "a gap between ticks {} and {}: events were lost", w[0], w[1]);
    }
    // The cursor is the host's, committed under the home.
    let cursor: Value = serde_json::from_slice(&std::fs::read(home.join("cursors/_global/ticker/interval.json")).unwrap()).unwrap();
    let committed: u64 = cursor["cursor"].as_str().unwrap().parse().unwrap();
    assert!(ticks.contains(&committed), "cursor {committed} is not a delivered tick");
}

/// HMAC-SHA256 of `body` keyed with `key`, hex (what the chat listener checks).
fn sign(key: &[u8], body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(body).finalize();
    hex::encode(Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize())
}

#[test]
fn the_chat_listener_answers_webhooks_and_dispatches_signed_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    let dir = plugin_dir(tmp.path(), "chat", "chat", "0.1.0", "chat_listener", "listener = [\"chat\"]");
    let manifest = dir.join("plinth.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap() + "[config]\nsecret = \"s3cret\"\n").unwrap();
    install(&home, &dir, None);
    let s = Server::start(&home, &["--no-auth", "--dispatch-file", file.to_str().unwrap(), "--max-body", "64K"]);
    let post = |path: &str, body: &[u8], signature: Option<String>| {
        let mut r = h1().post(s.url(path)).header("content-type", "application/json").body(body.to_vec());
        if let Some(sig) = signature {
            r = r.header("x-signature", format!("sha256={sig}"));
        }
        r.send().unwrap()
    };

    // The platform's URL check: the challenge comes back as the reply, nothing dispatched.
    let challenge = br#"{"type":"url_verification","challenge":"abc123"}"#;
    let r = post("/hooks/chat/chat", challenge, Some(sign(b"s3cret", challenge)));
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().unwrap(), "abc123");

    // A signed message: 202, and one normalized event reaches the dispatcher.
    let message = br#"{"type":"message","channel":"ops","user":"u1","text":"deploy done","ts":1}"#;
    let r = post("/hooks/chat/chat/events/v1", message, Some(sign(b"s3cret", message)));
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let got = wait_for("the dispatched message", 10, || events(&file).into_iter().next());
    assert_eq!(got["event"], "message.created");
    assert_eq!(got["source"], json!({"tenant": null, "plugin": "chat", "kind": "listener", "name": "chat"}));
    assert_eq!(got["payload"], json!({"channel": "ops", "user": "u1", "text": "deploy done", "ts": 1}));

    // Refused by the listener itself: no signature, a wrong one. Nothing dispatched.
    let (st, v) = body(post("/hooks/chat/chat", message, None));
    assert_eq!((st, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_input")), "{v}");
    let (st, v) = body(post("/hooks/chat/chat", message, Some(sign(b"wrong", message))));
    assert!(st == StatusCode::BAD_REQUEST && v["error"].as_str().unwrap().contains("signature"), "{st} {v}");
    // Oversized, unknown listener, unknown plugin, another tenant's route to a global one.
    let big = vec![b'x'; 65 << 10];
    assert_eq!(post("/hooks/chat/chat", &big, None).status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(post("/hooks/chat/nope", message, None).status(), StatusCode::NOT_FOUND);
    assert_eq!(post("/hooks/nope/chat", message, None).status(), StatusCode::NOT_FOUND);
    let r = post("/hooks/t/acme/chat/chat", message, Some(sign(b"s3cret", message)));
    assert_eq!(r.status(), StatusCode::ACCEPTED, "a tenant's route reaches a global listener");
    assert_eq!(post("/hooks/t/..%2F/chat/chat", message, None).status(), StatusCode::BAD_REQUEST);
    wait_for("the second message", 10, || (events(&file).len() == 2).then_some(()));

    // Fixture mode: the same messages through `plinth listen`, no server, the same events.
    let fixture = tmp.path().join("fixture.json");
    let signed = |b: &[u8]| json!({"method": "POST", "path": "/", "headers": {"x-signature": format!("sha256={}", sign(b"s3cret", b))}, "body": String::from_utf8(b.to_vec()).unwrap()});
    std::fs::write(&fixture, json!([signed(challenge), signed(message), signed(message)]).to_string()).unwrap();
    let out = plinth(&home, &["listen", "chat", "--fixture", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let offline: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let shape = |e: &Value| (e["source"].clone(), e["event"].clone(), e["payload"].clone());
    assert_eq!(offline.iter().map(shape).collect::<Vec<_>>(), events(&file).iter().map(shape).collect::<Vec<_>>());
    assert!(String::from_utf8_lossy(&out.stderr).contains("message 1: reply 200 (6 bytes), 0 dispatch(es)"));
    // A bad message in a fixture is reported, and the exit code says the plugin refused it.
    std::fs::write(&fixture, json!([{"method": "POST", "body": "{}"}]).to_string()).unwrap();
    let out = plinth(&home, &["listen", "chat", "--fixture", fixture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing X-Signature"));

    // A disabled listener has no route.
    assert!(plinth(&home, &["plugin", "disable", "chat"]).status.success());
    wait_for("the route to go", 10, || (post("/hooks/chat/chat", message, None).status() == StatusCode::NOT_FOUND).then_some(()));

    // Without a dispatcher, webhooks are refused rather than dropped.
    assert!(plinth(&home, &["plugin", "enable", "chat"]).status.success());
    drop(s);
    let s = Server::start(&home, &["--no-auth"]);
    let (st, v) = body(h1().post(s.url("/hooks/chat/chat")).body(message.to_vec()).send().unwrap());
    assert_eq!((st, v["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("no_dispatcher")), "{v}");
}

#[test]
fn a_trigger_that_fails_every_poll_is_an_error_and_the_others_run_on() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    install(&home, &ticker(tmp.path(), "ticker", "[config]\ninterval_ms = 100\n"), None);
    // The same trigger with too little fuel for any poll (for another tenant: no conflict).
    install(&home, &ticker(tmp.path(), "starved", "[limits]\nfuel = 1000\n"), Some("acme"));
    let s = Server::start(&home, &["--no-auth", "--dispatch-file", file.to_str().unwrap()]);
    let c = h1();
    let v = wait_for("the starved trigger to be an error", 30, || {
        let (_, v) = body(c.get(s.url("/plugins/starved")).header("x-tenant-id", "acme").send().unwrap());
        (v["status"] == "error").then_some(v)
    });
    let why = v["last_error"].as_str().unwrap();
    assert!(why.contains("trigger `interval` fails") && why.contains("fuel"), "{v}");
    // The backoff is visible: failures counted, the next poll pushed out (1 s, doubling).
    let v = wait_for("a second failure", 30, || {
        let (_, v) = body(c.get(s.url("/plugins/starved")).header("x-tenant-id", "acme").send().unwrap());
        (v["triggers"][0]["failures"].as_u64() >= Some(2)).then_some(v)
    });
    let t = &v["triggers"][0];
    assert_eq!((t["name"].as_str(), t["state"].as_str()), (Some("interval"), Some("error")), "{v}");
    assert!(t["next_poll_in_ms"].as_u64().unwrap() <= 4000 && t["polls"].as_u64() >= Some(2), "{v}");
    // The other trigger keeps producing.
    let n = events(&file).len();
    wait_for("more ticks from the healthy trigger", 10, || (events(&file).len() >= n + 3).then_some(()));
    let (_, v) = body(c.get(s.url("/plugins/ticker")).send().unwrap());
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!((v["triggers"][0]["state"].as_str(), v["triggers"][0]["failures"].as_u64()), (Some("polling"), Some(0)), "{v}");
    assert!(v["triggers"][0]["events"].as_u64() >= Some(3), "{v}");
    assert!(events(&file).iter().all(|e| e["source"]["plugin"] == "ticker"));
    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("plinth_trigger_polls_total{plugin=\"starved\",trigger=\"interval\",outcome=\"error\"}"), "{metrics}");
}

#[test]
fn a_trigger_fixture_runs_its_polls_with_the_cursor_carried_and_stable_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    install(&home, &ticker(tmp.path(), "ticker", "[config]\ninterval_ms = 1000\n"), None);
    let fixture = tmp.path().join("polls.json");
    // First poll: only the latest tick; then the ticks since the cursor; then none.
    std::fs::write(&fixture, r#"[{"data":{"now_ms":5500}},{"data":{"now_ms":7200}},{"data":{"now_ms":7300}}]"#).unwrap();
    let run = || {
        let out = plinth(&home, &["trigger", "run", "ticker", "--fixture", fixture.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let events: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (events, String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (first, log) = run();
    let ticks: Vec<u64> = first.iter().map(|e| e["payload"]["tick_ms"].as_u64().unwrap()).collect();
    assert_eq!(ticks, [5000, 6000, 7000], "{log}");
    assert!(log.contains("poll 3: 0 event(s), cursor 7000"), "{log}");
    let (second, _) = run();
    let ids = |v: &[Value]| v.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&second), "ids are stable for the same polls");
    // A cursor to start from skips what it covers.
    let out = plinth(&home, &["trigger", "run", "ticker", "--fixture", fixture.to_str().unwrap(), "--cursor", "6000"]);
    let n = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(n, 1, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn trigger_intervals_come_from_the_operator_over_the_manifest() {
    use plinth::registry::state::Home;
    use plinth::registry::{Key, Registry, TriggerSettings};
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    install(&home, &ticker(tmp.path(), "ticker", "[triggers.interval]\ninterval_ms = 5000\n"), None);
    let (runtime, home) = (plinth::Runtime::new().unwrap(), Home::new(&home));
    let (registry, _) = Registry::open(&runtime, &home).unwrap();
    let interval = |r: &Registry| r.list()[0].settings.intervals.get("interval").copied();
    assert_eq!(interval(&registry), Some(std::time::Duration::from_millis(5000)));
    plinth::registry::edit(&home, &Key::global("ticker"), |d| {
        d.triggers.insert("interval".into(), TriggerSettings { interval_ms: Some(7000) });
    })
    .unwrap();
    registry.refresh(&runtime, &home).unwrap();
    assert_eq!(interval(&registry), Some(std::time::Duration::from_millis(7000)));
    // plugins.toml says so in the operator's words, and an update keeps it.
    assert!(std::fs::read_to_string(home.root().join("plugins.toml")).unwrap().contains("[plugin.triggers.interval]"));
    let out = plinth(home.root(), &["plugin", "update", "ticker", "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    registry.refresh(&runtime, &home).unwrap();
    assert_eq!(interval(&registry), Some(std::time::Duration::from_millis(7000)));
}

#[test]
fn a_listener_connection_is_held_reconnected_and_its_frames_dispatched() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    // A platform's socket: the first connection gets a URL check (whose answer must come
    // back) and a message, then is dropped without a close frame; the next gets another.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("ws://{}/v1/stream", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let drop_now = std::sync::Arc::new(tokio::sync::Notify::new());
    let drop_first = drop_now.clone();
    rt.spawn(async move {
        let mut n = 0;
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            n += 1;
            let _ = tx.send(format!("connection {n}"));
            let msg =
                |text: &str| Message::text(json!({"type": "message", "channel": "ws", "user": "u", "text": text, "ts": n}).to_string());
            if n == 1 {
                ws.send(Message::text(r#"{"type":"url_verification","challenge":"ping-1"}"#)).await.unwrap();
                if let Some(Ok(Message::Text(answer))) = ws.next().await {
                    let _ = tx.send(format!("answer {answer}"));
                }
                ws.send(msg("first")).await.unwrap();
                drop_first.notified().await;
                drop(ws);
            } else {
                ws.send(msg("second")).await.unwrap();
                while ws.next().await.is_some_and(|f| f.is_ok()) {}
                let _ = tx.send(format!("closed {n}"));
            }
        }
    });
    let dir = plugin_dir(tmp.path(), "chat", "chat", "0.1.0", "chat_listener", "listener = [\"chat\"]");
    install(&home, &dir, None);
    let h = plinth::registry::state::Home::new(&home);
    plinth::registry::edit(&h, &plinth::registry::Key::global("chat"), |d| {
        d.listeners.insert("chat".into(), plinth::registry::ListenerSettings { connect: Some(url.clone()) });
    })
    .unwrap();
    let s = Server::start(&home, &["--no-auth", "--dispatch-file", file.to_str().unwrap()]);
    let seen = |what: &str| rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| panic!("no {what}"));
    assert_eq!(seen("first connection"), "connection 1");
    assert_eq!(seen("answer to the URL check"), "answer ping-1");
    wait_for("the first message", 10, || (events(&file).len() == 1).then_some(()));
    // The platform drops the socket: the server connects again and reads on.
    drop_now.notify_one();
    assert_eq!(seen("a second connection"), "connection 2");
    wait_for("the second message", 10, || (events(&file).len() == 2).then_some(()));
    let texts: Vec<Value> = events(&file).iter().map(|e| e["payload"]["text"].clone()).collect();
    assert_eq!(texts, [json!("first"), json!("second")]);
    assert_eq!(events(&file)[0]["source"], json!({"tenant": null, "plugin": "chat", "kind": "listener", "name": "chat"}));
    // Disabled: the connection is closed, and not made again for three times the first
    // reconnect delay (a window: what is checked is that nothing happens).
    assert!(plinth(&home, &["plugin", "disable", "chat"]).status.success());
    assert_eq!(seen("the connection to close"), "closed 2");
    assert!(rx.recv_timeout(std::time::Duration::from_millis(1500)).is_err(), "a disabled listener's connection was made again");
    drop(s);
}

#[test]
fn webhooks_need_no_token_but_a_wrong_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    let (_, acme, _) = tokens(&home);
    let dir = plugin_dir(tmp.path(), "chat", "chat", "0.1.0", "chat_listener", "listener = [\"chat\"]");
    let manifest = dir.join("plinth.toml");
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap() + "[config]\nsecret = \"k\"\n").unwrap();
    install(&home, &dir, Some("acme"));
    let s = Server::start(&home, &["--dispatch-file", file.to_str().unwrap()]);
    let message = br#"{"type":"message","channel":"c","user":"u","text":"t","ts":1}"#;
    let post = |path: &str, token: Option<&str>| {
        let mut r = h1().post(s.url(path)).header("x-signature", format!("sha256={}", sign(b"k", message))).body(message.to_vec());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap().status()
    };
    // The tenant from the route, or from a tenant token; no token at all is the global
    // scope, where this tenant's listener is not.
    assert_eq!(post("/hooks/t/acme/chat/chat", None), StatusCode::ACCEPTED);
    assert_eq!(post("/hooks/chat/chat", Some(&acme)), StatusCode::ACCEPTED);
    assert_eq!(post("/hooks/chat/chat", None), StatusCode::NOT_FOUND);
    assert_eq!(post("/hooks/t/beta/chat/chat", None), StatusCode::NOT_FOUND);
    assert_eq!(post("/hooks/chat/chat", Some("wrong")), StatusCode::UNAUTHORIZED);
    let got = wait_for("two events", 10, || {
        let e = events(&file);
        (e.len() == 2).then_some(e)
    });
    assert!(got.iter().all(|e| e["source"]["tenant"] == "acme"), "{got:?}");
}

#[test]
fn a_full_outbox_pauses_triggers_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    install(&home, &ticker(tmp.path(), "ticker", "[config]\ninterval_ms = 100\n"), None);
    // An engine that is not there: events pile up in the outbox, three at most.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/events");
    let s = Server::start(&home, &["--no-auth", "--dispatch-url", &url, "--max-pending-events", "3"]);
    let c = h1();
    let v = wait_for("the trigger to pause", 30, || {
        let (_, v) = body(c.get(s.url("/plugins/ticker")).send().unwrap());
        v["last_error"].as_str().is_some_and(|e| e.contains("is paused")).then_some(v)
    });
    assert_eq!(v["status"], "running", "paused is not an error: {v}");
    assert!(v["last_error"].as_str().unwrap().contains("outbox is full"), "{v}");
    let metrics = c.get(s.url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("plinth_triggers{state=\"paused\"} 1"), "{metrics}");
    // Full: a poll's events are taken whole or not at all (usually one tick per poll).
    assert!(metrics.contains("plinth_outbox_pending 3") || metrics.contains("plinth_outbox_pending 2"), "{metrics}");
    // The cursor did not move past what the outbox holds.
    let cursor: Value = serde_json::from_slice(&std::fs::read(home.join("cursors/_global/ticker/interval.json")).unwrap()).unwrap();
    let log = std::fs::read_to_string(home.join("outbox/log.jsonl")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(cursor["cursor"].as_str().unwrap(), last["payload"]["tick_ms"].to_string());
}

#[test]
fn disabled_enabled_and_updated_triggers_resume_from_their_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    install(&home, &ticker(tmp.path(), "ticker", "[config]\ninterval_ms = 100\n"), None);
    let s = Server::start(&home, &["--no-auth", "--dispatch-file", file.to_str().unwrap()]);
    let c = h1();
    let status = || body(c.get(s.url("/plugins/ticker")).send().unwrap()).1["status"].as_str().unwrap_or("").to_string();
    let count = || events(&file).len();
    wait_for("three events", 20, || (count() >= 3).then_some(()));
    // Disabled: the trigger stops; a while later, enabled: the ticks it missed arrive,
    // from the stored cursor (a trigger without its cursor would jump to the latest tick).
    assert!(plinth(&home, &["plugin", "disable", "ticker"]).status.success());
    wait_for("disabled", 20, || (status() == "disabled").then_some(()));
    let cursor = || std::fs::read_to_string(home.join("cursors/_global/ticker/interval.json")).unwrap();
    let after = |ms: u64| {
        let t0 = std::time::Instant::now();
        wait_for("a while", 5, || (t0.elapsed() >= std::time::Duration::from_millis(ms)).then_some(()));
    };
    // A poll that was in flight when it was disabled may still end; then several ticks go
    // by (a window: what is checked is that nothing is polled in it).
    after(300);
    let (kept, stopped_at) = (cursor(), count());
    after(500);
    assert_eq!(cursor(), kept, "a disabled trigger was polled");
    assert_eq!(count(), stopped_at, "events from a disabled trigger");
    assert!(plinth(&home, &["plugin", "enable", "ticker"]).status.success());
    wait_for("the missed ticks", 20, || (count() >= stopped_at + 5).then_some(()));
    // An update mid-run: polled with the new generation from the next poll on.
    let before = count();
    assert!(plinth(&home, &["plugin", "update", "ticker", "--yes"]).status.success());
    wait_for("ticks after the update", 20, || (count() >= before + 3).then_some(()));
    drop(s);
    let mut ticks: Vec<u64> = events(&file).iter().map(|e| e["payload"]["tick_ms"].as_u64().unwrap()).collect();
    ticks.sort();
    ticks.dedup();
    for w in ticks.windows(2) {
        assert_eq!(w[1] - w[0], 100, "a gap between ticks {} and {}", w[0], w[1]);
    }
}

#[test]
fn test_events_in_the_config_run_the_full_path_once_with_no_live_source() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let file = tmp.path().join("events.jsonl");
    let polls = "[config]\ninterval_ms = 1000\n[[config.test_events]]\ndata = { now_ms = 5500 }\n[[config.test_events]]\ndata = { now_ms = 7200 }\n";
    install(&home, &ticker(tmp.path(), "ticker", polls), None);
    let message = r#"{"type":"message","channel":"c","user":"u","text":"from the fixture","ts":1}"#;
    let dir = plugin_dir(tmp.path(), "chat", "chat", "0.1.0", "chat_listener", "listener = [\"chat\"]");
    let manifest = dir.join("plinth.toml");
    let fixture = format!(
        "[config]\nsecret = \"k\"\n[[config.test_events]]\nmethod = \"POST\"\nbody = '{message}'\nheaders = {{ x-signature = \"sha256={}\" }}\n",
        sign(b"k", message.as_bytes())
    );
    std::fs::write(&manifest, std::fs::read_to_string(&manifest).unwrap() + &fixture).unwrap();
    install(&home, &dir, None);
    let s = Server::start(&home, &["--no-auth", "--dispatch-file", file.to_str().unwrap()]);
    let got = wait_for("the fixture's events", 20, || {
        let e = events(&file);
        (e.len() >= 4).then_some(e)
    });
    let ticks: Vec<u64> = got.iter().filter_map(|e| e["payload"]["tick_ms"].as_u64()).collect();
    assert_eq!(ticks, [5000, 6000, 7000], "the fixture's polls, in order, and no live one");
    let texts: Vec<&Value> = got.iter().filter(|e| e["source"]["kind"] == "listener").map(|e| &e["payload"]["text"]).collect();
    assert_eq!(texts, [&json!("from the fixture")]);
    // Then both stop: nothing more comes (a window: what is checked is that nothing happens).
    let t0 = std::time::Instant::now();
    wait_for("a second", 5, || (t0.elapsed() >= std::time::Duration::from_secs(1)).then_some(()));
    assert_eq!(events(&file).len(), 4, "{:?}", events(&file));
    drop(s);
}
