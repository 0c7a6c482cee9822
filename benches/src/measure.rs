//! How the report measures: call by call (true median and p99), rows interleaved so drift
//! of a shared VM hits every row alike, and throughput in alternating short runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub struct Stat {
    pub median: Duration,
    pub p99: Duration,
}

pub fn measure(n: usize, mut prepare: impl FnMut(), mut call: impl FnMut()) -> Stat {
    // Warm up caches and branch predictors first.
    for _ in 0..(n / 10).max(3) {
        prepare();
        call();
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        prepare();
        let t = Instant::now();
        call();
        times.push(t.elapsed());
    }
    times.sort();
    Stat { median: times[n / 2], p99: times[(n * 99 / 100).min(n - 1)] }
}

/// One row of the main table: `prepare` runs untimed before each timed `call`.
pub struct Row<'a> {
    n: usize,
    prepare: Box<dyn FnMut() + 'a>,
    call: Box<dyn FnMut() + 'a>,
}

impl<'a> Row<'a> {
    pub fn new(n: usize, prepare: impl FnMut() + 'a, call: impl FnMut() + 'a) -> Row<'a> {
        Row { n, prepare: Box::new(prepare), call: Box::new(call) }
    }

    /// Runs the row's untimed preparation once (for a probe that measures its own way).
    pub fn prepare_once(&mut self) {
        (self.prepare)()
    }

    /// Runs the row's call once.
    pub fn call_once(&mut self) {
        (self.call)()
    }
}

/// Measures every row in `rounds` rounds, each running a block of every row in turn (calls
/// back to back within a block, as in a loop). A slow phase of this shared VM then hits
/// every row alike instead of whichever ran at that moment, so ratios between rows hold
/// even when absolute numbers drift between runs. `settle` runs after every block and waits
/// for background work the block started (pre-warm refills), which would otherwise slow
/// the next row down.
pub fn measure_interleaved(rows: &mut [(&str, Row)], rounds: usize, mut settle: impl FnMut()) -> Vec<Stat> {
    let mut times: Vec<Vec<Duration>> = rows.iter().map(|(_, r)| Vec::with_capacity(r.n)).collect();
    // One untimed block first: caches, branch predictors, pool slots.
    for (_, r) in rows.iter_mut() {
        for _ in 0..(r.n / 10).max(3) {
            (r.prepare)();
            (r.call)();
        }
    }
    for round in 0..rounds {
        for (i, (_, r)) in rows.iter_mut().enumerate() {
            let block = r.n / rounds + usize::from(round < r.n % rounds);
            for _ in 0..block {
                (r.prepare)();
                let t = Instant::now();
                (r.call)();
                times[i].push(t.elapsed());
            }
            // Background work a row started (pre-warm refills) must not run into the next.
            settle();
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            let n = t.len();
            Stat { median: t[n / 2], p99: t[(n * 99 / 100).min(n - 1)] }
        })
        .collect()
}

/// Runs of each thread count in the throughput section.
pub const TPUT_ROUNDS: usize = 5;

pub fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Calls per second over `dur` with `threads` threads, each running `call`.
pub fn throughput(threads: usize, dur: Duration, call: impl Fn() + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    call();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
    });
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// A duration in microseconds, one decimal, as the report's tables print them.
pub fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
