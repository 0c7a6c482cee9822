//! The outbox in front of a dispatcher: ordered delivery that waits out an engine that is
//! down, dead letters for events it refuses, a bound, a torn append cut off at reopen, and
//! an HTTP engine (a real axum server on 127.0.0.1) that is down, then up.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plinth::dispatch::{DispatchError, Dispatcher, Event, HttpDispatcher, Outbox, OutboxConfig, OutboxError, Source};
use plinth::{Json, Kind};

fn event(n: usize) -> Event {
    let source = Source { tenant: None, plugin: "p".into(), kind: Kind::Trigger, name: "t".into() };
    Event::new(format!("e{n}"), source, "t".into(), &Json::parse(format!("{{\"n\":{n}}}")).unwrap())
}

fn fast() -> OutboxConfig {
    OutboxConfig { first_backoff: Duration::from_millis(10), max_backoff: Duration::from_millis(50), ..OutboxConfig::default() }
}

/// Takes events while `up`; refuses for good the ids in `refuse`.
#[derive(Default)]
struct Engine {
    up: AtomicBool,
    got: Mutex<Vec<String>>,
    refuse: Vec<String>,
    calls: AtomicUsize,
}

impl Dispatcher for Engine {
    fn dispatch(&self, e: &Event) -> Result<(), DispatchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse.contains(&e.id) {
            return Err(DispatchError::permanent("no such workflow"));
        }
        if !self.up.load(Ordering::SeqCst) {
            return Err(DispatchError::retryable("engine down"));
        }
        self.got.lock().unwrap().push(e.id.clone());
        Ok(())
    }
}

/// Waits for `f`, for at most 10 s.
fn until(what: &str, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("e{n}")).collect()
}

#[test]
fn events_wait_for_a_down_engine_and_arrive_in_order_once_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::default());
    let outbox = Outbox::open(dir.path(), engine.clone(), fast()).unwrap();
    for n in 0..10 {
        outbox.accept(&[event(n)]).unwrap();
    }
    until("retries", || engine.calls.load(Ordering::SeqCst) > 2);
    assert_eq!(outbox.stats().pending, 10);
    assert!(outbox.stats().last_error.unwrap().contains("engine down"));
    engine.up.store(true, Ordering::SeqCst);
    assert!(outbox.flush(Duration::from_secs(10)));
    assert_eq!(*engine.got.lock().unwrap(), ids(0..10));
    assert_eq!(outbox.stats().delivered, 10);
}

#[test]
fn a_refused_event_is_set_aside_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine { refuse: vec!["e1".into()], up: AtomicBool::new(true), ..Engine::default() });
    let outbox = Outbox::open(dir.path(), engine.clone(), fast()).unwrap();
    outbox.accept(&[event(0), event(1), event(2)]).unwrap();
    assert!(outbox.flush(Duration::from_secs(10)));
    assert_eq!(*engine.got.lock().unwrap(), vec!["e0".to_string(), "e2".to_string()]);
    assert_eq!(outbox.stats().dead, 1);
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    assert!(dead.contains("no such workflow") && dead.contains("\\\"e1\\\""), "{dead}");
}

#[test]
fn a_full_outbox_refuses_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::default());
    let outbox = Outbox::open(dir.path(), engine, OutboxConfig { max_pending: 3, ..fast() }).unwrap();
    outbox.accept(&[event(0), event(1)]).unwrap();
    until("the first delivery attempt", || outbox.stats().last_error.is_some());
    let err = outbox.accept(&[event(2), event(3)]).unwrap_err();
    assert!(matches!(err, OutboxError::Full { pending: 2, limit: 3, .. }), "{err}");
    assert!(err.to_string().contains("engine down"), "{err}");
    outbox.accept(&[event(2)]).unwrap();
    // An empty outbox takes a batch larger than its bound (else that poll never could be).
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path(), Arc::new(Engine::default()), OutboxConfig { max_pending: 3, ..fast() }).unwrap();
    outbox.accept(&(0..5).map(event).collect::<Vec<_>>()).unwrap();
    assert!(matches!(outbox.accept(&[event(5)]), Err(OutboxError::Full { pending: 5, .. })));
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log.jsonl")).unwrap_or_default()
}

#[test]
fn undelivered_events_survive_a_restart_and_a_torn_append_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::default());
    let outbox = Outbox::open(dir.path(), engine, fast()).unwrap();
    outbox.accept(&[event(0), event(1)]).unwrap();
    outbox.stop();
    drop(outbox);
    // A crash in the middle of the next append leaves half a line.
    let whole = log(dir.path());
    std::fs::write(dir.path().join("log.jsonl"), format!("{whole}{{\"id\":\"e2\",\"sour")).unwrap();
    let engine = Arc::new(Engine { up: AtomicBool::new(true), ..Engine::default() });
    let outbox = Outbox::open(dir.path(), engine.clone(), fast()).unwrap();
    assert!(outbox.flush(Duration::from_secs(10)));
    assert_eq!(*engine.got.lock().unwrap(), ids(0..2));
    // Delivered and taken: the log starts afresh.
    assert_eq!(log(dir.path()), "");
    outbox.accept(&[event(3)]).unwrap();
    assert!(outbox.flush(Duration::from_secs(10)));
    assert_eq!(*engine.got.lock().unwrap(), vec!["e0".to_string(), "e1".to_string(), "e3".to_string()]);
}

#[test]
fn an_http_engine_that_is_down_then_up_gets_every_event_in_order() {
    // A free port, with nothing listening on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/events");
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path(), Arc::new(HttpDispatcher::new(&url).unwrap()), fast()).unwrap();
    for n in 0..20 {
        outbox.accept(&[event(n)]).unwrap();
    }
    until("a failed delivery", || outbox.stats().last_error.is_some());
    assert!(outbox.stats().last_error.unwrap().contains("cannot reach"), "{:?}", outbox.stats());
    // The engine comes up: answers 503 to its first request (retried), refuses `e5` with
    // 422 (set aside as a dead letter, not retried), and takes the rest.
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused_once = Arc::new(AtomicBool::new(false));
    let (g, r) = (got.clone(), refused_once.clone());
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |axum::Json(e): axum::Json<serde_json::Value>| {
            let (g, r) = (g.clone(), r.clone());
            async move {
                if !r.swap(true, Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                if e["id"] == "e5" {
                    return axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                }
                g.lock().unwrap().push(e["id"].as_str().unwrap().to_string());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    assert!(outbox.flush(Duration::from_secs(20)), "{:?}", outbox.stats());
    let want: Vec<String> = ids(0..20).into_iter().filter(|id| id != "e5").collect();
    assert_eq!(*got.lock().unwrap(), want);
    assert_eq!((outbox.stats().delivered, outbox.stats().dead), (19, 1));
    let dead = std::fs::read_to_string(dir.path().join("dead.jsonl")).unwrap();
    assert!(dead.contains("422"), "{dead}");
}
