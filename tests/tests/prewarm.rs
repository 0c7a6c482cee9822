//! The pre-warm queue: instances instantiated ahead of calls, each used by one call only.

mod common;

use std::time::{Duration, Instant};

use common::guest;
use plinth::{CallContext, Limits, LoadOptions, Plugin, Runtime, RuntimeConfig};

fn wait_ready(p: &Plugin, n: usize) {
    let start = Instant::now();
    while p.warm_ready() < n {
        assert!(start.elapsed() < Duration::from_secs(10), "queue never reached {n} (has {})", p.warm_ready());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits, with a deadline, until `cond` holds.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}: not reached within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks, throughout `window`, that `cond` keeps holding: for what must *not* happen
/// (the warmer filling a queue it should leave empty), which no state can signal.
fn holds_for(window: Duration, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < window {
        assert!(cond(), "{what}: violated after {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn load(rt: &Runtime, name: &str, warm: Option<usize>) -> Plugin {
    rt.load_file_with(guest(name), &LoadOptions { warm_instances: warm, ..LoadOptions::default() }).unwrap()
}

#[test]
fn warm_instances_are_used_once_and_refilled() {
    let rt = Runtime::new().unwrap();
    let p = load(&rt, "hostile", Some(2));
    wait_ready(&p, 2);
    let out = p.call_tool("counter", &CallContext::default(), "{}").unwrap();
    assert!(out.prewarmed, "a ready instance was not used");
    assert_eq!(out.output.as_str(), "1");
    wait_ready(&p, 2);
    // Many calls, warm or inline: every one sees a fresh instance.
    for _ in 0..20 {
        assert_eq!(p.call_tool("counter", &CallContext::default(), "{}").unwrap().output.as_str(), "1");
    }
}

#[test]
fn zero_disables_pre_warming() {
    let rt = Runtime::new().unwrap();
    let p = load(&rt, "text_classifier", Some(0));
    holds_for(Duration::from_millis(200), "no warm instance", || p.warm_ready() == 0);
    let out = p.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap();
    assert!(!out.prewarmed);
}

#[test]
fn a_call_with_a_smaller_memory_limit_instantiates_inline() {
    let rt = Runtime::new().unwrap();
    let p = load(&rt, "text_classifier", Some(1));
    wait_ready(&p, 1);
    let small = p.with_limits(Limits { memory: 32 << 20, ..Limits::default() }).unwrap();
    let out = small.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap();
    assert!(!out.prewarmed, "a warm instance built under a larger memory cap was used");
    assert_eq!(p.warm_ready(), 1);
    // A warm call still gets its own limits: a tiny fuel budget stops it.
    let strict = p.with_limits(Limits { fuel: 1_000, ..Limits::default() }).unwrap();
    let err = strict.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap_err();
    assert!(matches!(err, plinth::InvokeError::OutOfFuel { budget: 1_000 }), "{err:?}");
}

#[test]
fn warm_instances_are_capped_runtime_wide() {
    let rt = Runtime::with_config(RuntimeConfig { max_warm_instances: 2, ..RuntimeConfig::default() }).unwrap();
    let a = load(&rt, "text_classifier", Some(2));
    let b = load(&rt, "json_transform", Some(2));
    let total = || a.warm_ready() + b.warm_ready();
    wait_for("the runtime-wide cap of 2 filled", || total() == 2);
    holds_for(Duration::from_millis(200), "at most 2 warm instances", || total() <= 2);
    // Calls still work, the cap leaves slots for them, and refills keep to it.
    for _ in 0..5 {
        a.call_tool("classify", &CallContext::default(), r#"{"text":"x"}"#).unwrap();
        b.run_node("transform", &CallContext::default(), "{}").unwrap();
        assert!(total() <= 2, "{} + {}", a.warm_ready(), b.warm_ready());
    }
}

#[test]
fn legacy_modules_are_pre_warmed_too() {
    let rt = Runtime::new().unwrap();
    let p = load(&rt, "legacy_text_classifier", Some(1));
    wait_ready(&p, 1);
    let out = p.run_node("legacy_text_classifier", &CallContext::default(), r#"{"text":"Buy now!"}"#).unwrap();
    assert!(out.prewarmed);
    assert_eq!(out.output.to_value().unwrap()["category"], "spam");
}

#[test]
fn dropping_a_plugin_releases_its_warm_instances() {
    let rt = Runtime::with_config(RuntimeConfig { max_warm_instances: 2, ..RuntimeConfig::default() }).unwrap();
    let a = load(&rt, "text_classifier", Some(2));
    wait_ready(&a, 2);
    drop(a);
    // The runtime-wide cap (2) is free again for another plugin.
    let b = load(&rt, "json_transform", Some(2));
    wait_ready(&b, 2);
}

#[test]
fn an_empty_queue_recovers_once_the_cap_frees_up() {
    // Cap of 1 warm instance runtime-wide: b's refill gives up while a holds it.
    let rt = Runtime::with_config(RuntimeConfig { max_warm_instances: 1, ..RuntimeConfig::default() }).unwrap();
    let a = load(&rt, "text_classifier", Some(1));
    wait_ready(&a, 1);
    let b = load(&rt, "json_transform", Some(1));
    holds_for(Duration::from_millis(200), "b stays empty while a holds the cap", || b.warm_ready() == 0);
    drop(a);
    // The next call (inline) asks again, and the queue fills.
    b.run_node("transform", &CallContext::default(), "{}").unwrap();
    wait_ready(&b, 1);
}

#[test]
fn the_warm_budget_moves_to_the_plugin_that_is_called() {
    // A budget of 2: `idle` takes it at load; nobody calls it. `busy` is called, and the
    // budget moves to it, never exceeding 2 on the way.
    let rt = Runtime::with_config(RuntimeConfig { max_warm_instances: 2, ..RuntimeConfig::default() }).unwrap();
    let idle = load(&rt, "text_classifier", Some(2));
    wait_ready(&idle, 2);
    let busy = load(&rt, "json_transform", Some(2));
    holds_for(Duration::from_millis(100), "an uncalled plugin takes nothing from another", || busy.warm_ready() == 0);
    let total = || idle.warm_ready() + busy.warm_ready();
    for _ in 0..10 {
        busy.run_node("transform", &CallContext::default(), "{}").unwrap();
        assert!(total() <= 2, "{} + {}", idle.warm_ready(), busy.warm_ready());
    }
    wait_for("the called plugin holding the whole budget", || busy.warm_ready() == 2 && idle.warm_ready() == 0);
    let out = busy.run_node("transform", &CallContext::default(), "{}").unwrap();
    assert!(out.prewarmed, "the moved budget is used");
    // The instance `idle` gave up is not missed: its next call instantiates inline.
    let out = idle.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap();
    assert!(!out.prewarmed);
}

#[test]
fn a_plugin_called_more_keeps_its_warm_instances() {
    let rt = Runtime::with_config(RuntimeConfig { max_warm_instances: 2, ..RuntimeConfig::default() }).unwrap();
    let hot = load(&rt, "text_classifier", Some(2));
    for _ in 0..50 {
        wait_ready(&hot, 2);
        hot.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap();
    }
    wait_ready(&hot, 2);
    // A few calls of another plugin are worth less than the second instance of one called
    // 50 times (its demand halves every 10 s): nothing moves.
    let rare = load(&rt, "json_transform", Some(2));
    for _ in 0..3 {
        rare.run_node("transform", &CallContext::default(), "{}").unwrap();
    }
    holds_for(Duration::from_millis(200), "the hot plugin keeps its budget", || hot.warm_ready() == 2 && rare.warm_ready() == 0);
    // Once the other is called more, it gets a share.
    for _ in 0..60 {
        rare.run_node("transform", &CallContext::default(), "{}").unwrap();
    }
    wait_for("the budget shared", || rare.warm_ready() >= 1);
    assert!(hot.warm_ready() + rare.warm_ready() <= 2);
}

#[test]
fn a_pool_larger_than_the_address_space_allows_is_refused_with_the_settings_named() {
    let err = Runtime::with_config(RuntimeConfig { max_warm_instances: 100_000, ..RuntimeConfig::default() }).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("max_warm_instances (100000)") && text.contains("lower one of them"), "{text}");
    let err = Runtime::with_config(RuntimeConfig { max_instances: 5_000, ..RuntimeConfig::default() }).unwrap_err();
    assert!(err.to_string().contains("max_instances (5000)"), "{err}");
}

#[test]
fn warm_instances_never_take_a_slot_from_a_call() {
    // 4 call slots, a warm instance in a slot of its own on top: 4 concurrent calls all get
    // a slot.
    let rt = Runtime::with_config(RuntimeConfig { max_instances: 4, ..RuntimeConfig::default() }).unwrap();
    let p = load(&rt, "hostile", Some(1))
        .with_limits(Limits { fuel: u64::MAX / 2, timeout: Duration::from_millis(300), ..Limits::default() })
        .unwrap();
    wait_ready(&p, 1);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| p.call_tool("loop", &CallContext::default(), "{}"))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert!(matches!(r, Err(plinth::InvokeError::DeadlineExceeded { .. })), "{r:?}");
    }
}

#[test]
fn a_plugin_loaded_while_the_cores_are_busy_is_warmed_once_they_are_free() {
    // Two cores, whatever the machine has: one running call leaves none idle for warming.
    let rt = Runtime::with_config(RuntimeConfig { cores: Some(2), ..RuntimeConfig::default() }).unwrap();
    let sleeper = load(&rt, "hostile", Some(0));
    let busy = sleeper.with_limits(Limits { timeout: Duration::from_millis(1500), ..*sleeper.limits() }).unwrap();
    std::thread::scope(|s| {
        // A call that blocks for 1.5 s: no core counts as idle meanwhile, so the refill
        // asked for at load gives up. Nothing calls the new plugin afterwards; the warmer
        // must come back to it by itself.
        let running = s.spawn(|| busy.call_tool("sleep", &CallContext::default(), r#"{"secs":3600}"#));
        wait_for("the sleeping call running", || rt.calls_in_flight() == 1);
        let p = load(&rt, "text_classifier", Some(1));
        // Read in this order: if the sleeping call still runs after `ready` was read, it ran
        // all along, and no core was idle for a refill. (A slow load can outlast it.)
        let ready = p.warm_ready();
        if rt.calls_in_flight() == 1 {
            assert_eq!(ready, 0, "warmed although no core was idle");
        }
        assert!(running.join().unwrap().is_err(), "the sleep is cut at its deadline");
        wait_ready(&p, 1);
    });
}

#[test]
fn stores_left_to_drop_in_the_background_never_take_a_slot_from_a_call() {
    // A finished call's store may wait for the background thread to drop it, holding its
    // pool slot meanwhile. Quick warm calls leave such stores (the thread is awake for the
    // refills); 4 calls started right after must still all get a slot.
    let rt = Runtime::with_config(RuntimeConfig { max_instances: 4, ..RuntimeConfig::default() }).unwrap();
    let p = load(&rt, "hostile", Some(1));
    let looping = p.with_limits(Limits { fuel: u64::MAX / 2, timeout: Duration::from_millis(100), ..Limits::default() }).unwrap();
    for _ in 0..10 {
        wait_ready(&p, 1);
        for _ in 0..3 {
            p.call_tool("counter", &CallContext::default(), "{}").unwrap();
        }
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| looping.call_tool("loop", &CallContext::default(), "{}"))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            assert!(matches!(r, Err(plinth::InvokeError::DeadlineExceeded { .. })), "{r:?}");
        }
    }
}
