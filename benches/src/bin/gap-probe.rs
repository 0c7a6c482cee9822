//! Where a call after an idle gap loses its time (issue 17, part 2), row by row:
//! `cargo run --release -p plinth-benches --bin gap-probe -- [GAP_MS [CALLS]]`.
//!
//! Rows, measured interleaved, each after the same sleep: `reused` (one instance for all
//! calls), `first` (the first call on a fresh instance made on this thread before the gap),
//! `xfirst` (made on another thread, as the warmer does), `warm` and `cold` (the public call
//! path), `warm-nc` and `warm-in` (warm with contract checks off, and with the input check
//! only), `parse-val` and `in-check` (parsing the input into a `Value`, and the input
//! check, alone). The gap between `first`/`xfirst` and `warm` is what the call path adds around a
//! fresh instance; between `reused` and `first`, what a fresh instance costs after a gap.
//! A second pass counts minor page faults of the calling thread per call.

use std::cell::RefCell;
use std::time::Duration;

use plinth::Runtime;
use plinth_benches::measure::{Row, measure_interleaved, us};
use plinth_benches::*;

/// Minor faults of this thread so far (`/proc/thread-self/stat`, field 10).
fn minflt() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace().nth(7).and_then(|f| f.parse().ok()).unwrap_or(0)
}

/// A warm row: a full queue, the gap, then a call through the public path.
fn warm_row<'a>(n: usize, plugin: &'a plinth::Plugin, sleep: &'a dyn Fn(), args: &'a str) -> Row<'a> {
    Row::new(
        n,
        move || {
            wait_full(plugin, 2);
            sleep()
        },
        move || drop(plinth_call(plugin, args)),
    )
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let gap_ms: u64 = argv.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let n: usize = argv.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let gap = Duration::from_millis(gap_ms);
    let args = args_of_size(100);
    let runtime = Runtime::new().expect("runtime");
    let warm = load(&runtime, "text_classifier", 2);
    let cold = load(&runtime, "text_classifier", 0);
    // The same warm path without the input and output contract checks.
    let options = plinth::LoadOptions { warm_instances: Some(2), contracts: plinth::Contracts::OFF, ..Default::default() };
    let unchecked = runtime.load_file_with(guest("text_classifier"), &options).expect("load");
    let input_only = plinth::Contracts { input: plinth::ContractMode::Enforce, output: plinth::ContractMode::Off };
    let options = plinth::LoadOptions { warm_instances: Some(2), contracts: input_only, ..Default::default() };
    let in_only = runtime.load_file_with(guest("text_classifier"), &options).expect("load");
    let ctx = plinth::CallContext::default();
    let r = RefCell::new(reused(&cold));
    let fresh = RefCell::new(None);
    // A thread that makes instances on request, as the warmer does on its own core.
    let (req_tx, req_rx) = std::sync::mpsc::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let other = cold.clone();
    std::thread::spawn(move || {
        while req_rx.recv().is_ok() {
            if tx.send(reused(&other)).is_err() {
                break;
            }
        }
    });
    let sleep = || {
        if gap_ms > 0 {
            std::thread::sleep(gap)
        }
    };
    let call_fresh = || {
        drop(
            fresh
                .borrow_mut()
                .as_mut()
                .map(|f: &mut plinth::bench_support::ReusedInstance| f.call_tool("classify", &ctx, &args).expect("call")),
        )
    };
    let mut rows = [
        ("reused", Row::new(n, sleep, || drop(r.borrow_mut().call_tool("classify", &ctx, &args).expect("call")))),
        (
            "first",
            Row::new(
                n,
                || {
                    *fresh.borrow_mut() = Some(reused(&cold));
                    sleep()
                },
                call_fresh,
            ),
        ),
        (
            "xfirst",
            Row::new(
                n,
                || {
                    req_tx.send(()).unwrap();
                    *fresh.borrow_mut() = Some(rx.recv().unwrap());
                    sleep()
                },
                call_fresh,
            ),
        ),
        ("warm", warm_row(n, &warm, &sleep, &args)),
        ("warm-nc", warm_row(n, &unchecked, &sleep, &args)),
        ("warm-in", warm_row(n, &in_only, &sleep, &args)),
        ("cold", Row::new(n, sleep, || drop(plinth_call(&cold, &args)))),
        ("parse-val", Row::new(n, sleep, || drop(std::hint::black_box(serde_json::from_str::<serde_json::Value>(&args).expect("json"))))),
        ("in-check", Row::new(n, sleep, || warm.bench_input_check(plinth::Kind::Tool, "classify", &args).expect("valid"))),
    ];
    let stats = measure_interleaved(&mut rows, 30, || {
        wait_full(&warm, 2);
        wait_full(&unchecked, 2);
        wait_full(&in_only, 2)
    });
    // Faults: a short pass per row, the count read around each call.
    let mut faults = Vec::new();
    for (_, row) in rows.iter_mut() {
        let mut total = 0;
        let calls = 30;
        for _ in 0..calls {
            row.prepare_once();
            let before = minflt();
            row.call_once();
            total += minflt() - before;
        }
        faults.push(total as f64 / calls as f64);
    }
    println!("gap {gap_ms} ms, {n} calls per row");
    let base = stats[0].median;
    for (((name, _), s), f) in rows.iter().zip(&stats).zip(&faults) {
        println!(
            "{name:>7}: median {:>9}  p99 {:>9}  {:.2}x reused  {:.1} faults/call",
            us(s.median),
            us(s.p99),
            s.median.as_secs_f64() / base.as_secs_f64(),
            f
        );
    }
}
