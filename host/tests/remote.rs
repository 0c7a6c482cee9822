//! Remote plugins (`grpc://`, Orch8's JSON over HTTP/2) called through the library, against
//! servers Plinth did not write: a Node.js server on Node's own `http2` module, and a local
//! hyper server (axum) for the fault cases — 5xx, 4xx, slow, huge, reset stream, not JSON.

mod serve_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use plinth::{AllowRemote, CallContext, Endpoint, Format, InvokeError, Json, Kind, Limits, Plugin, RemoteOptions, Runtime, RuntimeConfig};
use serde_json::{Value, json};
use serve_support::node_server;

/// A hyper server (axum, HTTP/1.1 and h2c) with one route per fault; counts requests.
fn fault_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/Fault.ServerError", post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database is down") }))
                .route("/Fault.BadRequest", post(|| async { (StatusCode::BAD_REQUEST, r#"{"error":"text is required"}"#) }))
                .route(
                    "/Fault.Slow",
                    post(|| async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        "{}"
                    }),
                )
                .route("/Fault.Huge", post(|| async { format!("\"{}\"", "x".repeat(4 << 20)) }))
                .route("/Fault.NotJson", post(|| async { "plain words" }))
                .route("/Fault.Ok", post(|| async { r#"{"ok":true}"# }))
                .route(
                    "/Fault.Reset",
                    post(|| async {
                        let parts: Vec<Result<bytes::Bytes, std::io::Error>> =
                            vec![Ok(bytes::Bytes::from_static(b"{\"partial\":")), Err(std::io::Error::other("the server gave up"))];
                        axum::body::Body::from_stream(futures_util::stream::iter(parts))
                    }),
                )
                .layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    next.run(req)
                }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).expect("fault server address"), hits)
}

fn runtime(allow: &[&str]) -> Runtime {
    Runtime::with_config(RuntimeConfig { allow_remote: allow.iter().map(|s| s.to_string()).collect(), ..RuntimeConfig::default() })
        .expect("runtime")
}

fn remote(rt: &Runtime, handler: &str, limits: Option<Limits>) -> Plugin {
    rt.remote("scoring", &Endpoint::parse(handler).expect("endpoint"), &RemoteOptions { limits, ..RemoteOptions::default() })
        .expect("remote plugin")
}

fn call(p: &Plugin, params: &str) -> Result<Value, InvokeError> {
    p.run_node("scoring", &CallContext::default(), params).map(|o| serde_json::from_str(o.output.as_str()).unwrap())
}

#[test]
fn a_node_http2_server_answers_orch8s_envelope() {
    let node = node_server();
    let rt = runtime(&["127.0.0.1:*"]);
    let p = remote(&rt, &format!("grpc://127.0.0.1:{}/Scoring.Score", node.port), None);
    assert_eq!((p.format(), p.kinds(), p.api_version()), (Format::Remote, &[Kind::Node][..], "remote"));
    assert_eq!(p.specs().nodes[0].name, "scoring");
    let ctx = CallContext {
        instance_id: "run-7".into(),
        step_id: "score".into(),
        attempt: 2,
        config: Json::parse(r#"{"model":"small"}"#).unwrap(),
        data: Json::parse("[1,2]").unwrap(),
        ..CallContext::default()
    };
    let out = p.run_node("scoring", &ctx, r#"{"text":"hello"}"#).expect("the call");
    assert_eq!(out.fuel_used, 0);
    let v: Value = serde_json::from_str(out.output.as_str()).unwrap();
    assert_eq!(v["served_by"], "node-http2");
    assert_eq!(v["score"], 5);
    assert_eq!(v["params"], json!({"text": "hello"}));
    assert_eq!((v["instance_id"].as_str(), v["block_id"].as_str(), v["attempt"].as_u64()), (Some("run-7"), Some("score"), Some(2)));
    assert_eq!(v["context"], json!({"data": [1, 2], "config": {"model": "small"}}));
    assert_eq!(v["content_type"], "application/json");

    // Many calls from several threads share the runtime's client (one pooled connection).
    std::thread::scope(|s| {
        for t in 0..4 {
            let p = &p;
            s.spawn(move || {
                for i in 0..25 {
                    let text = "x".repeat(t * 25 + i);
                    let v = call(p, &json!({ "text": text }).to_string()).expect("a concurrent call");
                    assert_eq!(v["score"], t * 25 + i);
                }
            });
        }
    });
    // An unknown method is the server's 404: permanent, with its body in the details.
    let other = remote(&rt, &format!("grpc://127.0.0.1:{}/Scoring.Nope", node.port), None);
    let e = call(&other, "{}").unwrap_err();
    assert!(matches!(e, InvokeError::RemoteStatus { status: 404, .. }) && !e.retryable(), "{e}");
    assert_eq!(e.remote_details().unwrap()["status"], 404);
    // Only nodes: a remote plugin has no tools, triggers or listeners.
    let e = p.call_tool("scoring", &CallContext::default(), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::KindNotProvided { .. }), "{e}");
}

#[test]
fn internal_addresses_are_refused_unless_the_operator_allows_them() {
    let (addr, hits) = fault_server();
    let closed = runtime(&[]);
    for handler in [format!("grpc://127.0.0.1:{}/Fault.Ok", addr.port()), format!("grpc://localhost:{}/Fault.Ok", addr.port())] {
        let e = call(&remote(&closed, &handler, None), "{}").unwrap_err();
        assert!(matches!(e, InvokeError::RemoteRefused { .. }) && !e.retryable(), "{e}");
        assert!(e.to_string().contains("--allow-remote"), "says what to do: {e}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a refused endpoint is never contacted");
    // A pattern for another port does not open this one.
    let other_port = runtime(&["127.0.0.1:1"]);
    assert!(call(&remote(&other_port, &format!("grpc://127.0.0.1:{}/Fault.Ok", addr.port()), None), "{}").is_err());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // The plugin's own allowance works as the runtime's does.
    let endpoint = Endpoint::parse(&format!("grpc://127.0.0.1:{}/Fault.Ok", addr.port())).unwrap();
    let allow = AllowRemote::parse(&[format!("127.0.0.1:{}", addr.port())]).unwrap();
    let p = closed.remote("scoring", &endpoint, &RemoteOptions { allow, ..RemoteOptions::default() }).unwrap();
    assert_eq!(call(&p, "{}").unwrap(), json!({"ok": true}));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn faults_map_onto_invoke_errors_as_orch8_classifies_them() {
    let (addr, _) = fault_server();
    let rt = runtime(&["127.0.0.1:*"]);
    let at = |method: &str, limits: Option<Limits>| remote(&rt, &format!("grpc://127.0.0.1:{}/Fault.{method}", addr.port()), limits);

    let e = call(&at("ServerError", None), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::RemoteStatus { status: 500, .. }) && e.retryable(), "{e}");
    assert_eq!(e.remote_details().unwrap(), json!({"status": 500, "body": "database is down"}));

    let e = call(&at("BadRequest", None), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::RemoteStatus { status: 400, .. }) && !e.retryable(), "{e}");
    assert_eq!(e.remote_details().unwrap()["body"], r#"{"error":"text is required"}"#);

    assert_eq!(call(&at("NotJson", None), "{}").unwrap(), json!({"raw": "plain words"}));

    let small = Limits { max_output: 1 << 20, ..Limits::default() };
    let e = call(&at("Huge", Some(small)), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::OutputTooLarge { limit, .. } if limit == 1 << 20), "{e}");

    let quick = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let start = Instant::now();
    let e = call(&at("Slow", Some(quick)), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::DeadlineExceeded { .. }) && e.retryable(), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3), "the deadline ends the call: {:?}", start.elapsed());

    let e = call(&at("Reset", None), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::RemoteUnreachable { .. }) && e.retryable(), "{e}");

    // Nothing listens on a port just released.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = call(&remote(&rt, &format!("grpc://127.0.0.1:{free}/Svc.M"), None), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::RemoteUnreachable { .. }) && e.retryable(), "{e}");
    assert!(e.remote_details().unwrap()["status"].is_null());

    // The client survives all of that.
    assert_eq!(call(&at("Ok", None), "{}").unwrap(), json!({"ok": true}));
}

#[test]
fn a_fastapi_app_under_hypercorn_answers_over_h2c() {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/fastapi_plugin.py"));
    let peer = serve_support::Peer::start(cmd);
    let rt = runtime(&["127.0.0.1:*"]);
    let p = remote(&rt, &format!("grpc://127.0.0.1:{}/Scoring.Score", peer.port), None);
    let v = call(&p, r#"{"text":"fresh"}"#).expect("the call");
    assert_eq!((v["served_by"].as_str(), v["score"].as_u64()), (Some("fastapi-hypercorn"), Some(5)), "{v}");
    assert_eq!(v["http_version"], "2", "h2c prior knowledge, as Orch8 speaks it");
    assert_eq!(v["context"], json!({"data": null, "config": {}}));
    let e = call(&remote(&rt, &format!("grpc://127.0.0.1:{}/Scoring.Fail", peer.port), None), "{}").unwrap_err();
    assert!(matches!(e, InvokeError::RemoteStatus { status: 503, .. }) && e.retryable(), "{e}");
}
