//! The fleet's traffic: in process through the registry, and over HTTP to the real
//! `plinth serve`.

use std::path::Path;
use std::time::{Duration, Instant};

use plinth::Runtime;
use plinth::registry::state::Home;

use super::{Fleet, PLUGIN, Zipf, rss_of};
use crate::home_runtime;

/// Calls of one traffic pattern: p50, p99, and the share that took a pre-warmed instance.
#[derive(Clone, Copy, Debug)]
pub struct Traffic {
    pub p50: Duration,
    pub p99: Duration,
    pub warm_share: f64,
    /// Minor page faults on the calling thread per call.
    pub faults: f64,
}

/// Minor page faults of the calling thread so far (Linux; 0 elsewhere).
pub fn thread_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Field 10 (minflt), counted after the command name's closing parenthesis.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok()).unwrap_or(0)
}

/// What the in-process half measures.
pub struct InProcess {
    /// `Registry::open` of the whole home, warm code cache.
    pub open: Duration,
    /// Calls arrive [`GAP`] apart (an engine's steps, not a saturating loop), to:
    /// one plugin loaded alone with pre-warming off (instantiated inline), the baseline of
    /// the Zipf target;
    pub single_cold: Traffic,
    /// the same plugin with its default warm queue;
    pub single_warm: Traffic,
    /// a plugin of the fleet drawn from Zipf(1.1).
    pub zipf: Traffic,
    /// The same Zipf draws back to back from one thread: a saturating caller, which leaves
    /// the background thread no idle core to pre-warm on.
    pub zipf_back_to_back: Traffic,
    pub calls: usize,
    /// The share of calls falling on as many plugins as the warm budget has instances (one
    /// each), the best any placement of the budget could do.
    pub budget_share: f64,
    pub warm_cap: usize,
}

/// The pause between two calls of the fleet's traffic (untimed, sleeping): an engine calling
/// steps as they come, up to ~4,000 a second from one thread, rather than a saturating
/// loop, which leaves the background thread no idle core to pre-warm on. (Spinning
/// through the gap instead left the background thread without a core often enough that
/// fewer than half of the calls found a warm instance, single plugin or fleet.)
pub const GAP: Duration = Duration::from_micros(200);

fn pause(gap: Duration) {
    if !gap.is_zero() {
        std::thread::sleep(gap);
    }
}

/// Collects one traffic pattern's calls.
#[derive(Default)]
struct Tally {
    times: Vec<Duration>,
    warm: usize,
    faults: u64,
}

impl Tally {
    /// `calls` timed calls of `call` (which returns whether it ran pre-warmed), `gap` apart.
    fn run(&mut self, calls: usize, gap: Duration, mut call: impl FnMut() -> bool) {
        for _ in 0..calls {
            pause(gap);
            let before = thread_faults();
            let t = Instant::now();
            let prewarmed = call();
            self.times.push(t.elapsed());
            self.warm += usize::from(prewarmed);
            self.faults += thread_faults() - before;
        }
    }

    fn stats(mut self) -> Traffic {
        let n = self.times.len().max(1);
        self.times.sort();
        let at = |q: f64| self.times.get(((n as f64 * q) as usize).min(n - 1)).copied().unwrap_or_default();
        Traffic { p50: at(0.5), p99: at(0.99), warm_share: self.warm as f64 / n as f64, faults: self.faults as f64 / n as f64 }
    }
}

/// The in-process half: the fleet opened by a fresh runtime of the home, then Zipf traffic
/// against it, then the single-plugin baseline.
pub fn measure_in_process(fleet: &Fleet, quick: bool, args: &str, want: &str) -> InProcess {
    let home = Home::new(&fleet.home);
    let runtime = home_runtime(&home);
    let started = Instant::now();
    let (registry, report) = plinth::registry::Registry::open(&runtime, &home).expect("open the fleet");
    let open = started.elapsed();
    assert_eq!(report.loaded.len(), fleet.tenants.len(), "every plugin loads: {:?}", report.failed);
    let n = fleet.tenants.len();
    let mut zipf = Zipf::new(n, 1.1, 0x5eed);
    let perm = zipf.permutation(n);
    let ctx = plinth::CallContext::default();
    let calls = if quick { 5_000 } else { 20_000 };
    let mut zipf_call = || {
        let tenant = &fleet.tenants[perm[zipf.draw()]];
        let installed = registry.resolve(PLUGIN, Some(tenant)).expect("resolve");
        let out = installed.plugin.call_tool("classify", &ctx, args).expect("call");
        assert_eq!(out.output.as_str(), want);
        out.prewarmed
    };
    // The baseline: the same classifier, alone in a runtime of its own, pre-warming off
    // (cold) and on (warm).
    let single_rt = Runtime::new().expect("runtime");
    let cold = crate::load(&single_rt, PLUGIN, 0);
    let warm = crate::load(&single_rt, PLUGIN, 2);
    let single = |p: &plinth::Plugin| p.call_tool("classify", &ctx, args).expect("call").prewarmed;
    // A first round lets the budget move to where the traffic is.
    Tally::default().run(calls, GAP, &mut zipf_call);
    // Then blocks of each pattern in turn, so a slow phase of the VM hits all alike.
    let (mut z, mut zb, mut c, mut w) = (Tally::default(), Tally::default(), Tally::default(), Tally::default());
    let block = calls / 10;
    for _ in 0..10 {
        z.run(block, GAP, &mut zipf_call);
        c.run(block, GAP, || single(&cold));
        w.run(block, GAP, || single(&warm));
    }
    // Back to back last: it drains the warm queues the others rely on.
    zb.run(calls, Duration::ZERO, &mut zipf_call);
    let warm_cap = runtime.config().max_warm_instances;
    drop(registry);
    InProcess {
        open,
        single_cold: c.stats(),
        single_warm: w.stats(),
        zipf: z.stats(),
        zipf_back_to_back: zb.stats(),
        calls,
        budget_share: Zipf::new(n, 1.1, 1).top_share(warm_cap),
        warm_cap,
    }
}

/// What the server half measures: the real `plinth serve` on the fleet's home.
pub struct Served {
    /// The flags it ran with beyond the defaults.
    pub flags: &'static [&'static str],
    /// From spawning the process to `GET /ready` answering 200.
    pub ready: Duration,
    /// The server's resident memory (all, anonymous; see [`rss_of`]) once ready, after
    /// every plugin was called once, and after the Zipf traffic.
    pub rss_ready: (u64, u64),
    pub rss_called: (u64, u64),
    pub rss_zipf: (u64, u64),
    /// Each plugin's first call, in install order, back to back.
    pub first: Traffic,
    /// Zipf(1.1) calls over HTTP/1.1 ([`GAP`] apart); `warm_share` from the
    /// `x-plinth-prewarmed` header.
    pub zipf: Traffic,
}

/// A keep-alive HTTP/1.1 client of the server.
struct Http {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
}

impl Http {
    fn new(port: u16) -> Http {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().http1_only().build().expect("client");
        Http { rt, http, base: format!("http://127.0.0.1:{port}") }
    }

    fn ready(&self) -> bool {
        self.rt.block_on(async { self.http.get(format!("{}/ready", self.base)).send().await.is_ok_and(|r| r.status().is_success()) })
    }

    /// One invoke of `tenant`'s classifier; whether it ran pre-warmed.
    fn invoke(&self, tenant: &str, body: &str, want: &serde_json::Value) -> bool {
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}/invoke/{PLUGIN}/classify", self.base))
                .header("x-tenant-id", tenant)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("send");
            assert!(r.status().is_success(), "{tenant}: {}", r.status());
            let prewarmed = r.headers().get("x-plinth-prewarmed").is_some_and(|v| v == "true");
            let got: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("JSON output");
            assert_eq!(&got, want, "{tenant}'s output");
            prewarmed
        })
    }
}

/// The server half: `plinth` (`bin`) serving the fleet's home with `flags`, warm code cache.
pub fn measure_served(
    fleet: &Fleet,
    bin: &Path,
    flags: &'static [&'static str],
    quick: bool,
    args: &str,
    want: &str,
) -> Result<Served, String> {
    let want: serde_json::Value = serde_json::from_str(want).expect("JSON");
    let body = crate::orch8_envelope(args);
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["serve", "--no-auth", "--listen", "127.0.0.1:0"]).args(flags).arg("--home").arg(&fleet.home);
    let started = Instant::now();
    let server = crate::peers::PeerProcess::spawn(cmd, "plinth serve", |line| {
        line.strip_prefix("listening on http://")?.rsplit_once(':')?.1.parse().ok()
    })?;
    let http = Http::new(server.port);
    while !http.ready() {
        if started.elapsed() > Duration::from_secs(120) {
            return Err("plinth serve was not ready within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let ready = started.elapsed();
    let rss = || rss_of(server.pid());
    let rss_ready = rss();
    let mut first = Tally::default();
    for t in &fleet.tenants {
        first.run(1, Duration::ZERO, || http.invoke(t, &body, &want));
    }
    let rss_called = rss();
    let n = fleet.tenants.len();
    let mut zipf = Zipf::new(n, 1.1, 0x5eed);
    let perm = zipf.permutation(n);
    let calls = if quick { 5_000 } else { 20_000 };
    let mut call = || http.invoke(&fleet.tenants[perm[zipf.draw()]], &body, &want);
    // A first round lets the budget move to where the traffic is.
    Tally::default().run(calls / 2, GAP, &mut call);
    let mut z = Tally::default();
    z.run(calls, GAP, &mut call);
    Ok(Served { flags, ready, rss_ready, rss_called, rss_zipf: rss(), first: first.stats(), zipf: z.stats() })
}

/// Everything the "1,000 plugins" section shows.
pub struct Rows {
    pub plugins: usize,
    /// How long installing took when this run installed the fleet.
    pub installed_in: Option<Duration>,
    /// The size of one plugin's compiled artifact in the code cache.
    pub artifact_bytes: u64,
    pub in_process: InProcess,
    /// `plinth serve` with its defaults, and with pre-warming off (what the warm instances
    /// cost in memory); each `Err` says why it was skipped.
    pub served: Result<Served, String>,
    pub served_cold: Result<Served, String>,
}

/// The flags of the server without warm instances.
pub const NO_WARM: &[&str] = &["--warm-instances", "0", "--max-warm-instances", "0"];

/// Measures the fleet of `n` plugins: in process, then over HTTP with `bin` (`None`: the
/// server rows are skipped, saying how to get them).
pub fn measure(n: usize, bin: Option<&Path>, quick: bool, args: &str, want: &str) -> Rows {
    let fleet = super::fleet(n);
    let in_process = measure_in_process(&fleet, quick, args, want);
    let (served, served_cold) = match bin {
        Some(bin) => (measure_served(&fleet, bin, &[], quick, args, want), measure_served(&fleet, bin, NO_WARM, quick, args, want)),
        None => {
            let why = "no plinth binary (PLINTH_BIN; `cargo xtask bench` builds one)".to_string();
            (Err(why.clone()), Err(why))
        }
    };
    Rows { plugins: n, installed_in: fleet.installed_in, artifact_bytes: super::artifact_bytes(&fleet), in_process, served, served_cold }
}
