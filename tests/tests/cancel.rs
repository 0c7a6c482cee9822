//! A caller's cancellation ([`plinth::Cancel`]) ends a running guest at the next epoch
//! tick with `Cancelled`, well before its deadline; a call that watches a switch nobody
//! sets still ends at its own deadline; the plugin serves the next call.

mod common;

use std::time::{Duration, Instant};

use common::plugin;
use plinth::{CallContext, Cancel, InvokeError, Limits};

fn looping(timeout: Duration) -> plinth::Plugin {
    plugin("hostile").with_limits(Limits { timeout, fuel: u64::MAX / 4, ..Limits::default() }).unwrap()
}

#[test]
fn a_cancelled_call_ends_at_the_next_tick_and_the_plugin_serves_the_next_one() {
    let p = looping(Duration::from_secs(60));
    let cancel = Cancel::new();
    let (started, wait) = std::sync::mpsc::channel();
    let worker = {
        let p = p.with_cancel(&cancel);
        std::thread::spawn(move || {
            started.send(()).unwrap();
            let start = Instant::now();
            (p.call_tool("loop", &CallContext::default(), "{}"), start.elapsed())
        })
    };
    wait.recv().unwrap();
    // The switch may be set before the call reaches the guest or while it runs: either way
    // it ends at the next tick (the case of a switch set first is also tested below).
    cancel.cancel();
    let (result, took) = worker.join().unwrap();
    assert!(matches!(result, Err(InvokeError::Cancelled)), "{result:?}");
    assert!(!InvokeError::Cancelled.retryable());
    // Not a benchmark: 60 s is the deadline it would otherwise have run to.
    assert!(took < Duration::from_secs(20), "{took:?}");
    // A switch set before the call: it ends at the first tick.
    let early = p.with_cancel(&cancel).call_tool("loop", &CallContext::default(), "{}");
    assert!(matches!(early, Err(InvokeError::Cancelled)), "{early:?}");
    let out = p.call_tool("counter", &CallContext::default(), "{}").unwrap();
    assert_eq!(out.output.as_str(), "1");
}

#[test]
fn a_call_watching_a_switch_nobody_sets_still_ends_at_its_deadline() {
    let p = looping(Duration::from_millis(300)).with_cancel(&Cancel::new());
    for (tool, args) in [("loop", "{}"), ("sleep", r#"{"secs": 3600}"#)] {
        let start = Instant::now();
        let result = p.call_tool(tool, &CallContext::default(), args);
        let took = start.elapsed();
        assert!(matches!(result, Err(InvokeError::DeadlineExceeded { .. })), "{tool}: {result:?}");
        // Not a benchmark: the bounds are the deadline and ten times it. A guest that spent
        // its time blocked in a host call (sleep) gets no second deadline of compute back.
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{tool}: {took:?}");
    }
}
