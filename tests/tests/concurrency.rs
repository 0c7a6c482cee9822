//! One loaded plugin called from many threads at once, and the pool running out.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::guest;
use plinth::{CallContext, InvokeError, Limits, Runtime, RuntimeConfig};
use serde_json::json;

#[test]
fn many_threads_many_calls_all_correct() {
    let plugin = common::plugin("text_classifier");
    let texts = [("Buy now! Limited offer!", "spam"), ("Your invoice is attached", "transactional"), ("hi mom", "ham")];
    std::thread::scope(|s| {
        for t in 0..4 {
            let plugin = plugin.clone();
            s.spawn(move || {
                for i in 0..50 {
                    let (text, want) = texts[(t + i) % texts.len()];
                    let out = plugin.call_tool("classify", &CallContext::default(), &json!({ "text": text }).to_string()).unwrap();
                    assert_eq!(out.output.to_value().unwrap()["category"], want);
                }
            });
        }
    });
}

#[test]
fn a_full_pool_reports_busy_and_recovers() {
    let rt = Runtime::with_config(RuntimeConfig { max_instances: 1, ..RuntimeConfig::default() }).unwrap();
    let hostile = rt.load_file(guest("hostile")).unwrap();
    let looping = hostile.with_limits(Limits { fuel: u64::MAX / 2, timeout: Duration::from_millis(1500), ..Limits::default() }).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let holder = std::thread::spawn(move || {
        let r = looping.call_tool("loop", &CallContext::default(), "{}");
        flag.store(true, Ordering::SeqCst);
        r
    });
    // While the loop holds the only slot, other calls fail fast with Busy.
    let mut saw_busy = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(10));
        match hostile.call_tool("counter", &CallContext::default(), "{}") {
            Err(InvokeError::Busy { max_instances: 1 }) => {
                saw_busy = true;
                break;
            }
            Ok(_) if !done.load(Ordering::SeqCst) => continue, // the loop has not started yet
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_busy, "never saw Busy while the only slot was taken");
    let held = holder.join().unwrap();
    assert!(matches!(held, Err(InvokeError::DeadlineExceeded { .. })), "{held:?}");
    // The slot came back.
    assert_eq!(hostile.call_tool("counter", &CallContext::default(), "{}").unwrap().output.as_str(), "1");
}
