//! Calls after an idle gap (issue 17, part 2). The main table's rows are back-to-back calls;
//! a workflow engine's steps arrive with gaps. Each gap's rows (native, warm, cold, reused)
//! are measured interleaved, the gap spent before every call, untimed. A second set spends
//! 10 ms spinning instead of sleeping: the calling core stays awake, so what the sleeping
//! rows lose beyond it is the core's wake-up (a halted vCPU, a deep C-state), and what both
//! lose is caches and TLBs other work evicted.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use plinth::Plugin;
use plinth::bench_support::ReusedInstance;

use crate::measure::{Row, Stat, measure_interleaved, us};

/// How a gap is spent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    Sleep(u64),
    Spin(u64),
}

impl Gap {
    fn spend(self) {
        match self {
            Gap::Sleep(0) | Gap::Spin(0) => {}
            Gap::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Gap::Spin(ms) => {
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
        }
    }

    /// How the report names the gap.
    pub fn label(self) -> String {
        match self {
            Gap::Sleep(0) => "0 (back to back)".into(),
            Gap::Sleep(ms) => format!("{ms} ms"),
            Gap::Spin(ms) => format!("{ms} ms, spinning"),
        }
    }

    fn ms(self) -> u64 {
        match self {
            Gap::Sleep(ms) | Gap::Spin(ms) => ms,
        }
    }
}

/// One gap's medians and p99s.
pub struct GapRow {
    pub gap: Gap,
    pub native: Stat,
    pub warm: Stat,
    pub cold: Stat,
    pub reused: Stat,
}

/// The gaps measured, in order.
pub const GAPS: [Gap; 5] = [Gap::Sleep(0), Gap::Sleep(1), Gap::Sleep(10), Gap::Sleep(100), Gap::Spin(10)];

/// Calls per row for a gap: about 1.5 s (quick) or 4 s of gaps per row, at least 30.
fn count(gap: Gap, quick: bool) -> usize {
    match (gap.ms(), quick) {
        (0, true) => 2_000,
        (0, false) => 5_000,
        (ms, quick) => ((if quick { 1_500 } else { 4_000 }) / ms).max(30) as usize,
    }
}

/// Measures every gap of [`GAPS`]. `native` is the plain function; `warm` has a queue of 2
/// (refilled before each gap starts, so the gap is idle), `cold` none.
pub fn measure(quick: bool, native: &dyn Fn(), warm: &Plugin, cold: &Plugin, reused: &mut ReusedInstance, args: &str) -> Vec<GapRow> {
    let ctx = plinth::CallContext::default();
    let mut out = Vec::new();
    for gap in GAPS {
        let n = count(gap, quick);
        let reused = std::cell::RefCell::new(&mut *reused);
        let mut rows = [
            ("native", Row::new(n, || gap.spend(), native)),
            (
                "warm",
                Row::new(
                    n,
                    || {
                        crate::wait_full(warm, 2);
                        gap.spend();
                    },
                    || drop(crate::plinth_call(warm, args)),
                ),
            ),
            ("cold", Row::new(n, || gap.spend(), || drop(crate::plinth_call(cold, args)))),
            ("reused", Row::new(n, || gap.spend(), || drop(reused.borrow_mut().call_tool("classify", &ctx, args).expect("call")))),
        ];
        let s = measure_interleaved(&mut rows, 30, || crate::wait_full(warm, 2));
        out.push(GapRow { gap, native: s[0], warm: s[1], cold: s[2], reused: s[3] });
    }
    out
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

/// The report's section.
pub fn section(rows: &[GapRow]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\n## Calls after an idle gap (issue 17, part 2)\n\nEach gap's four rows are measured interleaved; the gap is spent before every call, untimed (sleeping, or spinning on the calling core). The warm row's queue is full before the gap starts. Medians, p99 in brackets.\n\n| gap | native | warm | cold | reused | warm ÷ reused | reused vs back to back |\n|---|---|---|---|---|---|---|"
    );
    let base = rows.first().map(|r| r.reused.median).unwrap_or_default();
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {} ({}) | {} ({}) | {} ({}) | {:.2}× | {:.1}× |",
            r.gap.label(),
            us(r.native.median),
            us(r.native.p99),
            us(r.warm.median),
            us(r.warm.p99),
            us(r.cold.median),
            us(r.cold.p99),
            us(r.reused.median),
            us(r.reused.p99),
            ratio(r.warm.median, r.reused.median),
            ratio(r.reused.median, base),
        );
    }
    md
}
