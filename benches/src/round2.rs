//! The targets of issue 17 (performance, round 2), each judged on this run's numbers: the
//! report says met or missed with the measured ratio, or why a part was not measured.

use std::fmt::Write as _;

use crate::idle::{Gap, GapRow};
use crate::langs::Lang;
use crate::measure::Stat;
use crate::peers::PeerRow;

/// What the targets are judged on, all from one run.
pub struct Inputs<'a> {
    /// Row 1 (the native floor, `serde_json::Value` in and out) and row 1b (the same with
    /// the sample's serde types).
    pub native: Stat,
    pub native_typed: Stat,
    /// Row 4: one instance reused.
    pub reused: Stat,
    pub idle: &'a [GapRow],
    pub langs: &'a [Lang],
    pub peers: &'a [PeerRow],
}

fn ratio(a: Stat, b: Stat) -> f64 {
    a.median.as_secs_f64() / b.median.as_secs_f64()
}

fn status(ok: bool) -> &'static str {
    if ok { "met" } else { "missed" }
}

/// The "Targets (issue 17)" section.
pub fn section(i: &Inputs) -> String {
    let mut md = String::from("\n## Targets (issue 17)\n\n| part | target | measured | status |\n|---|---|---|---|\n");
    for (label, max) in [("Python", 3.0), ("JavaScript", 1.3), ("Rust", 2.0)] {
        let what = format!("{label} warm call ≤ {max}× its reused instance");
        match i.langs.iter().find(|l| l.label() == label) {
            Some(Lang::Measured { warm, reused, .. }) => {
                let r = ratio(*warm, *reused);
                let _ = writeln!(md, "| 1 | {what} | {r:.2}× (guest languages table) | {} |", status(r <= max));
            }
            Some(Lang::Skipped { reason, .. }) => {
                let _ = writeln!(md, "| 1 | {what} | not built: {reason} | not measured |");
            }
            None => {
                let _ = writeln!(md, "| 1 | {what} | not in this run | not measured |");
            }
        }
    }
    let gaps: Vec<(&GapRow, f64)> =
        i.idle.iter().filter(|g| matches!(g.gap, Gap::Sleep(ms) if ms >= 1)).map(|g| (g, ratio(g.warm, g.reused))).collect();
    if let Some((worst, r)) = gaps.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        let all: Vec<String> = gaps.iter().map(|(g, r)| format!("{} {r:.2}×", g.gap.label())).collect();
        let _ = writeln!(
            md,
            "| 2 | warm ≤ 1.3× reused after every idle gap ≥ 1 ms | worst {r:.2}× at {} ({}) | {} |",
            worst.gap.label(),
            all.join(", "),
            status(*r <= 1.3)
        );
    }
    for (what, measured, ok) in crate::peers::targets(i.peers) {
        let _ = writeln!(md, "| 3 | {what} | {measured} | {} |", ok.map_or("not measured", status));
    }
    let _ = writeln!(
        md,
        "| 4 | 1,000 plugins: ready ≤ 3 s, RSS ≤ 1 GiB, Zipf p50 ≤ 1.5× cold, ≥ 80 % warm | the 1,000-plugin section is not built yet | not measured |"
    );
    let (r, typed) = (ratio(i.reused, i.native), ratio(i.reused, i.native_typed));
    let _ = writeln!(
        md,
        "| 5 | reused (row 4) ≤ 2.5× native (row 1) | {r:.2}× (against the typed native row 1b: {typed:.2}×) | {} |",
        status(r <= 2.5)
    );
    md
}
