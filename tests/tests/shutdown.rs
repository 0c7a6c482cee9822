//! A dropped runtime ends its background threads (the refill/drop thread and the epoch
//! ticker), also when its last call handed a store to the background thread. One test in
//! its own binary: it counts the process's threads by name, so nothing else may run here.

mod common;

use std::time::{Duration, Instant};

use common::guest;
use plinth::{CallContext, LoadOptions, Runtime};

/// Threads of this process whose name starts with `prefix` (Linux: /proc/self/task).
fn threads(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok()).filter(|comm| comm.trim().starts_with(prefix)).count()
}

// Counts threads through /proc: Linux only, and not compiled (so not reported `ok`) elsewhere.
#[cfg(target_os = "linux")]
#[test]
fn dropped_runtimes_end_their_background_threads() {
    for _ in 0..5 {
        let rt = Runtime::new().unwrap();
        let p = rt.load_file_with(guest("text_classifier"), &LoadOptions { warm_instances: Some(2), ..Default::default() }).unwrap();
        // Warm calls leave the background thread awake with work handed over.
        for _ in 0..5 {
            p.call_tool("classify", &CallContext::default(), r#"{"text":"Buy now!"}"#).unwrap();
        }
        assert!(threads("plinth-warm") >= 1 && threads("plinth-epoch") >= 1);
        drop(p);
        drop(rt);
    }
    let start = Instant::now();
    while threads("plinth-warm") + threads("plinth-epoch") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "background threads still running 5 s after their runtimes were dropped: {} refill, {} epoch",
            threads("plinth-warm"),
            threads("plinth-epoch")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
