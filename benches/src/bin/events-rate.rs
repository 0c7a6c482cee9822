//! What the trigger and listener runtime costs, for the closing notes and the README:
//! `cargo run --release -p plinth-benches --bin events-rate`. Prints
//! - one trigger poll cycle: the poll (a warm call of the sample interval trigger), the
//!   outbox append of its event (fsynced) and the cursor commit (atomic write, fsynced);
//! - events/s accepted one by one and in batches of 64, and delivered to a file dispatcher;
//! - how long an outbox holding 10,000 undelivered events takes to open after a crash, and
//!   to deliver them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plinth::dispatch::{DispatchError, Dispatcher, Event, FileDispatcher, Outbox, OutboxConfig, Source};
use plinth::registry::Key;
use plinth::schedule::Cursors;
use plinth::{CallContext, Json, Kind, Runtime};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Down;
impl Dispatcher for Down {
    fn dispatch(&self, _: &Event) -> Result<(), DispatchError> {
        Err(DispatchError::retryable("down"))
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = Source { tenant: None, plugin: "ticker".into(), kind: Kind::Trigger, name: "interval".into() };
    let event =
        |n: usize| Event::new(format!("e{n}"), source.clone(), "interval".into(), &Json::parse(format!("{{\"tick_ms\":{n}}}")).unwrap());

    // 1. A poll cycle.
    let runtime = Runtime::new().expect("runtime");
    let plugin = runtime.load_file(plinth_benches::guest("interval_trigger")).expect("load");
    let ctx = CallContext { config: Json::parse(r#"{"interval_ms":1000}"#).unwrap(), ..CallContext::default() };
    let outbox =
        Outbox::open(&dir.path().join("o1"), Arc::new(Down), OutboxConfig { max_pending: usize::MAX, ..OutboxConfig::default() }).unwrap();
    let cursors = Cursors::new(dir.path().join("cursors"));
    let key = Key::global("ticker");
    let (mut poll, mut append, mut commit) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..300 {
        std::thread::sleep(Duration::from_millis(2));
        let t = Instant::now();
        let out = plugin.poll_trigger("interval", &ctx, Some("1000")).expect("poll");
        poll.push(t.elapsed());
        let events: Vec<Event> =
            out.output.events.iter().take(1).map(|e| Event::new(format!("p{i}"), source.clone(), "interval".into(), e)).collect();
        let t = Instant::now();
        outbox.accept(&events).expect("accept");
        append.push(t.elapsed());
        let t = Instant::now();
        cursors.commit(&key, "interval", &i.to_string()).expect("commit");
        commit.push(t.elapsed());
    }
    let (p, a, c) = (median(poll), median(append), median(commit));
    println!("poll cycle (median of 300): poll {p:.2?} + outbox append {a:.2?} + cursor commit {c:.2?} = {:.2?}", p + a + c);
    drop(outbox);

    // 2. Events/s into the outbox and out to a file.
    for batch in [1usize, 64] {
        let n = 6_400;
        let sink = Arc::new(FileDispatcher::open(&dir.path().join(format!("events-{batch}.jsonl"))).unwrap());
        let outbox =
            Outbox::open(&dir.path().join(format!("o-{batch}")), sink, OutboxConfig { max_pending: usize::MAX, ..OutboxConfig::default() })
                .unwrap();
        let all: Vec<Event> = (0..n).map(event).collect();
        let t = Instant::now();
        for chunk in all.chunks(batch) {
            outbox.accept(chunk).unwrap();
        }
        let accepted = t.elapsed();
        assert!(outbox.flush(Duration::from_secs(120)));
        let delivered = t.elapsed();
        println!(
            "{n} events in batches of {batch}: accepted at {:.0}/s, all delivered to the file after {delivered:.2?} ({:.0}/s end to end)",
            n as f64 / accepted.as_secs_f64(),
            n as f64 / delivered.as_secs_f64()
        );
    }

    // 3. Recovery: 10,000 undelivered events, then a crash.
    let o = dir.path().join("o-crash");
    {
        let outbox = Outbox::open(&o, Arc::new(Down), OutboxConfig { max_pending: usize::MAX, ..OutboxConfig::default() }).unwrap();
        let all: Vec<Event> = (0..10_000).map(event).collect();
        for chunk in all.chunks(64) {
            outbox.accept(chunk).unwrap();
        }
    }
    // A torn append, as a kill -9 leaves it.
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(o.join("log.jsonl")).unwrap().write_all(b"{\"id\":\"torn").unwrap();
    let sink = Arc::new(FileDispatcher::open(&dir.path().join("recovered.jsonl")).unwrap());
    let t = Instant::now();
    let outbox = Outbox::open(&o, sink, OutboxConfig::default()).unwrap();
    let opened = t.elapsed();
    assert_eq!(outbox.stats().pending, 10_000);
    assert!(outbox.flush(Duration::from_secs(120)));
    println!("recovery of 10,000 undelivered events: open (torn line cut off) {opened:.2?}, all delivered after {:.2?}", t.elapsed());
}
