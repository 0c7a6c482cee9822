//! 1,000 plugins (issue 17, part 4): Orch8's one-plugin-per-tenant pattern. The classifier is
//! made into `n` distinct plugins — each with a custom section naming its tenant, so each
//! has its own sha256 and compiles to its own artifact — and installed under `n` tenants of
//! one home, through the same `plinth::registry::install` the CLI runs.
//!
//! Installing compiles every variant (about 0.1 s each here), so the home is kept under
//! `target/bench-fleet/` and reused while the classifier and the count stay the same: the
//! report measures a start with a warm code cache, which is what a restarted server has.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::home_runtime;
use plinth::registry::state::Home;

mod report;
mod traffic;

pub use report::{section, targets};
pub use traffic::{InProcess, Rows, Served, Traffic, measure, measure_in_process, measure_served};

/// The plugin name every tenant installs (one per tenant, as in Orch8's pattern).
pub const PLUGIN: &str = "text_classifier";

/// A home with `n` tenants' plugins installed.
pub struct Fleet {
    pub home: PathBuf,
    pub tenants: Vec<String>,
    /// How long installing took, when this run installed them (`None`: reused).
    pub installed_in: Option<Duration>,
}

/// Tenant `i`'s name.
pub fn tenant(i: usize) -> String {
    format!("tenant-{i:04}")
}

/// `component` with a custom section `plinth-bench-tenant` holding `tenant` appended: a
/// custom section (id 0) is valid at the end of a component as of a module, and changes
/// nothing the component does.
pub fn variant(component: &[u8], tenant: &str) -> Vec<u8> {
    let name = b"plinth-bench-tenant";
    let mut payload = Vec::new();
    leb128(&mut payload, name.len() as u64);
    payload.extend_from_slice(name);
    payload.extend_from_slice(tenant.as_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb128(&mut out, payload.len() as u64);
    out.extend_from_slice(&payload);
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The fleet of `n` plugins, installed now unless `target/bench-fleet/` holds it for this
/// classifier already.
pub fn fleet(n: usize) -> Fleet {
    let component = std::fs::read(crate::guest(PLUGIN)).expect("classifier");
    let id = format!("{}-{n}", &plinth::registry::state::sha256_hex(&component)[..12]);
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fleet");
    let root = base.join(&id);
    let home_dir = root.join("home");
    let done = root.join("installed");
    let tenants: Vec<String> = (0..n).map(tenant).collect();
    if done.exists() {
        return Fleet { home: home_dir, tenants, installed_in: None };
    }
    // Another classifier's fleet is of no use any more.
    let _ = std::fs::remove_dir_all(&base);
    let sources = root.join("sources");
    let home = Home::new(&home_dir);
    let runtime = home_runtime(&home);
    let started = Instant::now();
    for t in &tenants {
        let dir = sources.join(t);
        std::fs::create_dir_all(&dir).expect("sources dir");
        let path = dir.join(format!("{PLUGIN}.wasm"));
        std::fs::write(&path, variant(&component, t)).expect("write variant");
        plinth::registry::install(&runtime, &home, &path, Some(t), Default::default()).expect("install a variant");
    }
    let took = started.elapsed();
    std::fs::write(&done, format!("{n} plugins installed in {took:?}\n")).expect("mark installed");
    Fleet { home: home_dir, tenants, installed_in: Some(took) }
}

/// Zipf(`s`) over ranks `0..n`: rank k is drawn with weight 1/(k+1)^s. Deterministic (a
/// fixed-seed xorshift), so runs draw the same sequence.
pub struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    pub fn new(n: usize, s: f64, seed: u64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 0..n {
            sum += 1.0 / ((k + 1) as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf, state: seed.max(1) }
    }

    fn next_f64(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next rank.
    pub fn draw(&mut self) -> usize {
        let u = self.next_f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }

    /// The share of draws that fall on the `k` most popular ranks.
    pub fn top_share(&self, k: usize) -> f64 {
        if k == 0 { 0.0 } else { self.cdf[(k - 1).min(self.cdf.len() - 1)] }
    }

    /// A fixed shuffle of `0..n` (rank → tenant), so popularity does not follow the order
    /// plugins were installed or loaded in.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next_f64() * (i + 1) as f64) as usize;
            p.swap(i, j.min(i));
        }
        p
    }
}

/// A process's resident memory, from /proc (Linux): all of it (`VmRSS`), and the
/// anonymous part (`RssAnon`: heap, stacks, wasm memories) without the clean pages of
/// mapped files (compiled code the kernel can drop and read again), in bytes.
pub fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// The size of one plugin's compiled artifact in the fleet's code cache (0 if none).
pub fn artifact_bytes(fleet: &Fleet) -> u64 {
    let cache = Home::new(&fleet.home).cache_dir();
    let files = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|engine| std::fs::read_dir(engine.path()).into_iter().flatten().flatten());
    files.filter(|f| f.path().extension().is_some_and(|e| e == "cwasm")).find_map(|f| f.metadata().ok()).map_or(0, |m| m.len())
}
