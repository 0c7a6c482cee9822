//! Runs one benchmark row in a loop, for a profiler or a quick A/B:
//! `cargo run --release -p plinth-benches --bin profile-row -- ROW [SECONDS [PAYLOAD_BYTES]]`
//! (`perf record -g -- target/release/profile-row warm 5`). Prints the median, mean and p99
//! of the timed calls. The numbers of record come from criterion and `cargo xtask bench`.
//!
//! Rows: `native`, `warm` (waits, untimed, for a full queue before each call), `warm1` (for
//! one ready instance only), `cold`, `reused`, `legacy`, `engine` (the report's rows), and
//! `first` / `second` / `xfirst`: the first or second call on a fresh instance made (untimed)
//! on this thread, or the first call on one made on another thread — what a pre-warmed
//! instance pays for being built on another core. `serve`, `serve-reqwest`, `serve-h2c`:
//! rows 9c, 9a and 9b. `remote`, `remote-direct`: the Node `http2` server of tests/peers as
//! a remote plugin through Plinth, and called directly by reqwest (h2c). `contract`,
//! `no-contract`: the input check of a call with the classifier's schema, and without.
//! `PROFILE_GUEST=NAME` picks another classifier of `target/guests` for the rows warm, warm1,
//! cold, reused, first, second and xfirst.

use std::time::{Duration, Instant};

use plinth::Runtime;
use plinth_benches::serve::{RawClient, ServeFixture};
use plinth_benches::*;

fn main() {
    let mut argv = std::env::args().skip(1);
    let row = argv.next().unwrap_or_else(|| "warm".into());
    let secs: f64 = argv.next().map(|s| s.parse().unwrap_or_else(|_| usage())).unwrap_or(5.0);
    let size: usize = argv.next().map(|s| s.parse().unwrap_or_else(|_| usage())).unwrap_or(100);
    let args = args_of_size(size);
    let runtime = Runtime::new().expect("runtime");
    // Another classifier (`PROFILE_GUEST=python_text_classifier`) for the rows that call
    // the `classify` tool on a component: warm, warm1, cold, reused, first, second, xfirst.
    let guest_name = std::env::var("PROFILE_GUEST").ok().filter(|g| !g.is_empty()).unwrap_or_else(|| "text_classifier".into());
    let mut prepare: Box<dyn FnMut()> = Box::new(|| {});
    // The Node server of the `remote` rows, stopped when this ends.
    let mut node = None;
    let mut call: Box<dyn FnMut()> = match row.as_str() {
        "native" => Box::new(|| drop(std::hint::black_box(classify_native(&args)))),
        "warm" => {
            let p = load(&runtime, &guest_name, 2);
            let q = p.clone();
            prepare = Box::new(move || wait_full(&q, 2));
            Box::new(move || drop(plinth_call(&p, &args)))
        }
        "warm1" => {
            // Waits for one ready instance only: a refill may still run next to the call.
            let p = load(&runtime, &guest_name, 2);
            let q = p.clone();
            prepare = Box::new(move || wait_warm(&q));
            Box::new(move || drop(plinth_call(&p, &args)))
        }
        "cold" => {
            let p = load(&runtime, &guest_name, 0);
            Box::new(move || drop(plinth_call(&p, &args)))
        }
        "reused" => {
            let p = load(&runtime, &guest_name, 0);
            let mut r = reused(&p);
            Box::new(move || drop(r.call_tool("classify", &Default::default(), &args).expect("call")))
        }
        "first" | "second" => {
            // A fresh instance made (untimed) on this thread; times its first or second call.
            let p = load(&runtime, &guest_name, 0);
            let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
            let (s2, a2, second) = (slot.clone(), args.clone(), row == "second");
            prepare = Box::new(move || {
                let mut r = reused(&p);
                if second {
                    r.call_tool("classify", &Default::default(), &a2).expect("call");
                }
                *s2.borrow_mut() = Some(r);
            });
            Box::new(move || drop(slot.borrow_mut().as_mut().unwrap().call_tool("classify", &Default::default(), &args).expect("call")))
        }
        "xfirst" => {
            // As "first", but the instance is made on another thread (as the warmer does).
            let p = load(&runtime, &guest_name, 0);
            let (req_tx, req_rx) = std::sync::mpsc::channel::<()>();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                while req_rx.recv().is_ok() {
                    if tx.send(reused(&p)).is_err() {
                        break;
                    }
                }
            });
            let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
            let s2 = slot.clone();
            prepare = Box::new(move || {
                req_tx.send(()).unwrap();
                *s2.borrow_mut() = Some(rx.recv().unwrap());
            });
            Box::new(move || drop(slot.borrow_mut().as_mut().unwrap().call_tool("classify", &Default::default(), &args).expect("call")))
        }
        "legacy" => {
            let p = load(&runtime, "legacy_text_classifier", 0);
            Box::new(move || drop(legacy_call(&p, &args)))
        }
        "engine" => {
            let e = EngineStyle::new(&guest("legacy_text_classifier"));
            let env = envelope(&args);
            Box::new(move || drop(e.call(&env)))
        }
        // Rows 9c and 9a: the classifier through `plinth serve` (in this process) from a
        // minimal keep-alive HTTP/1.1 client, or from reqwest.
        "serve" => {
            let fixture = Box::leak(Box::new(ServeFixture::start()));
            let mut client = RawClient::connect(fixture);
            Box::new(move || drop(client.call(&args)))
        }
        "serve-reqwest" | "serve-h2c" => {
            let fixture = Box::leak(Box::new(ServeFixture::start()));
            let client = fixture.client(row == "serve-h2c");
            Box::new(move || drop(client.call(&args)))
        }
        // The input contract check of a warm call (the classifier's schema), and the JSON
        // check a call makes without a schema, alone.
        "contract" | "no-contract" => {
            let contracts = if row == "contract" { plinth::Contracts::default() } else { plinth::Contracts::OFF };
            let options = plinth::LoadOptions { contracts, ..Default::default() };
            let p = runtime.load_file_with(guest("text_classifier"), &options).expect("load");
            Box::new(move || p.bench_input_check(plinth::Kind::Tool, "classify", &args).expect("valid input"))
        }
        // A remote plugin on the Node http2 server, through Plinth and called directly.
        "remote" | "remote-direct" => {
            let peer = node.insert(plinth_benches::remote::NodePeer::start());
            let mut call: Box<dyn FnMut(&str) -> String> = if row == "remote" {
                Box::new(plinth_benches::remote::through_plinth(peer))
            } else {
                Box::new(plinth_benches::remote::direct(peer))
            };
            Box::new(move || drop(call(&args)))
        }
        _ => usage(),
    };
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut times = Vec::new();
    while Instant::now() < end {
        prepare();
        let t = Instant::now();
        call();
        times.push(t.elapsed());
    }
    let total: Duration = times.iter().sum();
    let mean = total / times.len() as u32;
    times.sort();
    let (median, p99) = (times[times.len() / 2], times[times.len() * 99 / 100]);
    let guest = if guest_name == "text_classifier" { String::new() } else { format!(" {guest_name}") };
    println!("{row}{guest} ({size} B): {} calls, median {median:.2?}, mean {mean:.2?}, p99 {p99:.2?}", times.len());
}

fn usage() -> ! {
    eprintln!("usage: profile-row [ROW [SECONDS [PAYLOAD_BYTES]]]");
    eprintln!(
        "rows: native, warm, warm1, cold, reused, first, second, xfirst, legacy, engine, serve, serve-reqwest, serve-h2c, remote, remote-direct"
    );
    std::process::exit(2)
}
