//! The report's "1,000 plugins" section and part 4's targets.

use std::fmt::Write as _;

use super::traffic::{GAP, Rows, Served, Traffic};
use crate::measure::us;

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn ratio(t: &Traffic, base: &Traffic) -> f64 {
    t.p50.as_secs_f64() / base.p50.as_secs_f64().max(1e-12)
}

fn pct(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// The same traffic before part 4 (a dated A/B, not this run).
const BEFORE: &str = "with this section's traffic 1.3 % of the calls found a warm instance in process and 5.1 % over HTTP, and the in-process Zipf p50 was 2.98× the cold call (75.6 against 25.4 µs; commit 62f7bc0 with this bench, 2026-12-02)";

/// The section.
pub fn section(r: &Rows) -> String {
    let n = r.plugins;
    let mut md = format!(
        "\n## 1,000 plugins (issue 17, part 4)\n\nOrch8's one-plugin-per-tenant pattern: the classifier made into {n} distinct plugins (each with a custom section naming its tenant, so each has its own sha256 and compiled artifact, {} KiB of compiled code each), installed under {n} tenants of one home with `plinth::registry::install`, as `plinth plugin install` does{}. Every start below has a warm code cache, as a restarted server has.\n",
        r.artifact_bytes >> 10,
        match r.installed_in {
            Some(t) => format!(" ({:.0} s for all {n} in this run, mostly compiling)", t.as_secs_f64()),
            None => " (the home is kept under target/bench-fleet/ between runs)".into(),
        }
    );
    md.push_str("\n**The real `plinth serve`** (a process of its own; resident memory from /proc, the anonymous part in brackets: without the clean pages of mapped compiled code, which the kernel can drop and read again). Zipf(1.1) calls over HTTP/1.1 with `X-Tenant-Id`, one keep-alive client, ");
    let _ =
        writeln!(md, "{} µs apart, after a first round of half as many; \"warm\" is the `x-plinth-prewarmed` header.\n", GAP.as_micros());
    md.push_str("| | defaults | pre-warming off |\n|---|---|---|\n");
    let both = |f: &dyn Fn(&Served) -> String| {
        let cell = |s: &Result<Served, String>| s.as_ref().map_or_else(|e| format!("skipped: {e}"), f);
        format!("{} | {}", cell(&r.served), cell(&r.served_cold))
    };
    let mem = |m: (u64, u64)| format!("{} ({})", mib(m.0), mib(m.1));
    let _ = writeln!(md, "| start to ready | {} |", both(&|s| format!("{:.2} s", s.ready.as_secs_f64())));
    let _ = writeln!(md, "| memory at ready | {} |", both(&|s| mem(s.rss_ready)));
    let _ = writeln!(md, "| memory after calling each plugin once | {} |", both(&|s| mem(s.rss_called)));
    let _ = writeln!(md, "| memory after the Zipf traffic | {} |", both(&|s| mem(s.rss_zipf)));
    let _ = writeln!(md, "| each plugin's first call, p50 / p99 | {} |", both(&|s| format!("{} / {}", us(s.first.p50), us(s.first.p99))));
    let _ = writeln!(
        md,
        "| Zipf(1.1) call, p50 / p99 (warm) | {} |",
        both(&|s| format!("{} / {} ({})", us(s.zipf.p50), us(s.zipf.p99), pct(s.zipf.warm_share)))
    );
    if let (Ok(a), Ok(b)) = (&r.served, &r.served_cold) {
        let per = a.rss_zipf.1.saturating_sub(b.rss_zipf.1) / r.in_process.warm_cap.max(1) as u64;
        let _ = writeln!(
            md,
            "\nWhat the warm instances cost: {} KiB of anonymous memory each ({} more with the budget of {} full than with pre-warming off, after the same traffic).",
            per >> 10,
            mib(a.rss_zipf.1.saturating_sub(b.rss_zipf.1)),
            r.in_process.warm_cap
        );
    }
    let p = &r.in_process;
    let _ = writeln!(
        md,
        "\n**In process** (`Registry::open` of the home by a fresh runtime: {:.2} s). Calls {} µs apart (sleeping), the patterns in alternating blocks so a slow phase of the VM hits all alike; {} calls each after a first Zipf round of as many. The baseline is the same classifier alone in a runtime of its own.\n",
        p.open.as_secs_f64(),
        GAP.as_micros(),
        p.calls
    );
    md.push_str("| traffic | p50 | p99 | warm | page faults per call |\n|---|---|---|---|---|\n");
    for (what, t) in [
        ("one plugin alone, pre-warming off (the baseline)", &p.single_cold),
        ("one plugin alone, warm queue of 2", &p.single_warm),
        ("Zipf(1.1) over the fleet", &p.zipf),
        ("Zipf(1.1), back to back (a saturating caller)", &p.zipf_back_to_back),
    ] {
        let _ = writeln!(md, "| {what} | {} | {} | {} | {:.1} |", us(t.p50), us(t.p99), pct(t.warm_share), t.faults);
    }
    let _ = writeln!(
        md,
        "\n**How the warm budget is shared.** Warm instances are capped runtime-wide (`max_warm_instances`, {cap} by default; the cap was 16 before part 4). Until part 4 the cap went to whichever plugins filled their queues first and stayed there: with 1,000 plugins the first 8 loaded held it whether or not anyone called them: {before}. Now each plugin's calls count as a demand that halves every 10 s, and a plugin that wants an instance while the budget is spent takes one from the plugin whose last instance is worth least (demand ÷ instances held): the budget follows the calls. The best any placement could do with {cap} instances, one each on the {cap} most called plugins, is {best} of these calls. A saturating caller gets few warm calls by design: pre-warming runs only while a core is idle, so that it never slows a running call down.",
        cap = p.warm_cap,
        before = BEFORE,
        best = pct(p.budget_share),
    );
    md.push_str(WHY);
    md
}

/// Why a warm call to one plugin of many costs more than to a plugin alone: A/Bs of
/// 2026-12-02 (a scratch binary, n plugins in one runtime, Zipf(1.1) calls 200 µs apart,
/// p50 of 3,000 calls, ≥ 99 % of them warm for n ≤ 100).
const WHY: &str = "\n**Where a fleet's warm call goes** (a dated note: A/Bs of 2026-12-02, not this run; p50 of calls 200 µs apart, nearly all warm). The classifier's warm call took 10.5 µs with 1 plugin, 11.6 µs with 2, 20 µs with 10, 47–52 µs with 100 and 55 µs with 1,000. The guest's size is not what grows: the `echo` guest (a few functions) went from 5.0 µs alone to 35.6 µs among 100. Nor is it mostly compiled code: 100 or 1,000 plugins loaded from the *same* bytes, whose code pages the kernel shares, took 29–30 µs. What is left is most likely the plugin's own state, cold: the warm instance waited for its call while other plugins ran, so its store, instance context, stack and data pages (and the page-table entries that map them) are no longer in any cache, where a single plugin's instance was made a moment before. A check: one plugin alone, its warm queue full, with 64 MiB written between calls (untimed) so that nothing of the last call stays in the caches, took 66 µs for `echo` (10.5 µs without) and 102 µs for the classifier (13.7 µs): a call whose memory is not cached costs that much whoever makes it, and a fleet's traffic leaves each plugin's part of it cold. This machine has no hardware counters to split that between the host's per-plugin structures, the instance and the guest's pages. A plugin's first call or a call past the warm budget also instantiates inline, and the fleet makes that slower too (a pool slot last used by another plugin is remapped).\n";

/// Part 4's targets: (what, measured, met), `None` when not measured.
pub fn targets(r: &Rows) -> Vec<(String, String, Option<bool>)> {
    let mut out = Vec::new();
    let p = &r.in_process;
    match &r.served {
        Ok(s) => {
            out.push((
                "start to ready ≤ 3 s (warm code cache)".into(),
                format!("{:.2} s", s.ready.as_secs_f64()),
                Some(s.ready.as_secs_f64() <= 3.0),
            ));
            let peak = s.rss_ready.0.max(s.rss_called.0).max(s.rss_zipf.0);
            out.push((
                "resident memory ≤ 1 GiB, at ready and after calling each".into(),
                format!("{} at most ({} anonymous)", mib(peak), mib(s.rss_ready.1.max(s.rss_called.1).max(s.rss_zipf.1))),
                Some(peak <= 1 << 30),
            ));
        }
        Err(e) => out.push(("start to ready ≤ 3 s, resident memory ≤ 1 GiB".into(), format!("skipped: {e}"), None)),
    }
    let rz = ratio(&p.zipf, &p.single_cold);
    let over_http = r.served.as_ref().map_or(String::new(), |s| format!("; over HTTP the Zipf p50 is {}", us(s.zipf.p50)));
    out.push((
        "Zipf(1.1) p50 ≤ 1.5× the single-plugin cold call".into(),
        format!("{rz:.2}× in process ({} against {}){over_http}", us(p.zipf.p50), us(p.single_cold.p50)),
        Some(rz <= 1.5),
    ));
    let http_warm = r.served.as_ref().map_or(String::new(), |s| format!(", {} over HTTP", pct(s.zipf.warm_share)));
    out.push((
        "≥ 80 % of Zipf(1.1) calls take the warm path".into(),
        format!("{} in process{http_warm}", pct(p.zipf.warm_share)),
        Some(p.zipf.warm_share >= 0.8 && r.served.as_ref().ok().is_none_or(|s| s.zipf.warm_share >= 0.8)),
    ));
    out
}
