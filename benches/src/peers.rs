//! Issue 17, part 3: the classifier through `plinth serve` against what users run instead,
//! in one interleaved run: a Noxus-style FastAPI plugin process under uvicorn (Python) and
//! an Orch8-style Node `http2` service (JavaScript), each running its language's guest code
//! (benches/peers/), and the in-process warm call. Every HTTP row is called by the same
//! keep-alive reqwest client, HTTP/1.1 or h2c as the service speaks, one client (and one
//! connection) per calling thread, with 1 and then 2 calling threads.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plinth::Plugin;
use serde_json::Value;

use crate::serve::ServeFixture;

/// A service process (a peer of benches/peers, or `plinth serve`), killed when dropped.
pub struct PeerProcess {
    child: Child,
    pub port: u16,
}

impl PeerProcess {
    /// Starts `program script` (a script of benches/peers) and waits for its
    /// `prefix`PORT line, as [`PeerProcess::spawn`].
    pub fn start(program: &str, script: &str, prefix: &'static str) -> Result<PeerProcess, String> {
        let mut cmd = Command::new(program);
        cmd.arg(format!("{}/peers/{script}", env!("CARGO_MANIFEST_DIR")));
        PeerProcess::spawn(cmd, &format!("{program} {script}"), move |line| line.strip_prefix(prefix)?.parse().ok())
    }

    /// Starts `cmd` and waits (up to 60 s) for a stdout line that `port` reads a port from;
    /// on failure, the reason (the last line of the process's stderr, or what was missing).
    /// Stdout is drained on a thread of its own after that and stderr goes to a file, so a
    /// chatty process never blocks on a full pipe.
    pub fn spawn(mut cmd: Command, what: &str, port: impl Fn(&str) -> Option<u16> + Send + 'static) -> Result<PeerProcess, String> {
        let stderr = tempfile::tempfile().map_err(|e| format!("cannot make a file for {what}'s stderr: {e}"))?;
        let mut err_file = stderr.try_clone().map_err(|e| e.to_string())?;
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().map_err(|e| format!("cannot run `{what}`: {e}"))?;
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(port) = port(line.trim()) {
                    let _ = tx.send(port);
                    sent = true;
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(port) => Ok(PeerProcess { child, port }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let mut err = String::new();
                use std::io::Seek;
                let _ = err_file.seek(std::io::SeekFrom::Start(0)).and_then(|_| err_file.read_to_string(&mut err));
                let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no port announced within 60 s").trim().to_string();
                Err(format!("`{what}` did not start: {last}"))
            }
        }
    }

    /// The process id (for its resident set).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive reqwest client on a current-thread runtime of its own.
pub struct Client {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    /// Builds the request body around the arguments.
    body: fn(&str) -> String,
    /// Picks the classifier's output out of the answer.
    output: fn(&str) -> Value,
}

impl Client {
    fn new(url: String, h2c: bool, body: fn(&str) -> String, output: fn(&str) -> Value) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
        let builder = reqwest::Client::builder();
        let http = if h2c { builder.http2_prior_knowledge() } else { builder.http1_only() }.build().expect("client");
        Client { rt, http, url, body, output }
    }

    /// One call; returns the answer's body.
    pub fn call(&self, args: &str) -> String {
        let body = (self.body)(args);
        self.rt.block_on(async {
            let r = self.http.post(&self.url).header("content-type", "application/json").body(body).send().await.expect("send");
            assert!(r.status().is_success(), "{}: {}", self.url, r.status());
            r.text().await.expect("body")
        })
    }
}

fn noxus(args: &str) -> String {
    format!(r#"{{"ctx":{{}},"inputs":{args},"config":{{}}}}"#)
}

fn as_is(answer: &str) -> Value {
    serde_json::from_str(answer).expect("JSON answer")
}

fn noxus_outputs(answer: &str) -> Value {
    let v: Value = serde_json::from_str(answer).expect("JSON answer");
    assert_eq!(v["success"], true, "{answer}");
    v["outputs"].clone()
}

/// A row: a client per calling thread, or the in-process call.
enum Target<'a> {
    Http(Box<[Client; 2]>),
    InProcess(&'a Plugin),
}

/// One row's numbers for 1 and 2 calling threads.
pub struct PeerRow {
    pub label: &'static str,
    /// Why the service could not be started (`None`: it was measured).
    pub skipped: Option<String>,
    /// (p50, p99, calls/s) with 1 and with 2 calling threads.
    pub by_threads: [(Duration, Duration, f64); 2],
}

/// Runs every row: `rounds` rounds, each giving every row a slice of `slice` with 1 thread
/// and then with 2, so a slow phase of the VM hits every row alike.
pub fn measure(quick: bool, served: &ServeFixture, warm: &Plugin, args: &str, want: &Value) -> Vec<PeerRow> {
    let (rounds, slice) = if quick { (6, Duration::from_millis(250)) } else { (10, Duration::from_millis(600)) };
    let fastapi = PeerProcess::start("python3", "noxus_classifier.py", "PLUGIN_PORT:");
    let node = PeerProcess::start("node", "orch8_classifier.mjs", "PORT ");
    let serve_url = format!("{}/text_classifier.classify", served.url);
    let pair = |url: &str, h2c: bool, body: fn(&str) -> String, output: fn(&str) -> Value| {
        Box::new([Client::new(url.into(), h2c, body, output), Client::new(url.into(), h2c, body, output)])
    };
    let mut rows: Vec<(&'static str, Result<Target, String>)> = vec![
        ("(a) plinth serve, HTTP/1.1", Ok(Target::Http(pair(&serve_url, false, crate::orch8_envelope, as_is)))),
        ("(a) plinth serve, h2c", Ok(Target::Http(pair(&serve_url, true, crate::orch8_envelope, as_is)))),
        (
            "(b) FastAPI + uvicorn (Noxus-style), HTTP/1.1",
            fastapi
                .as_ref()
                .map_err(Clone::clone)
                .map(|p| Target::Http(pair(&format!("http://127.0.0.1:{}/nodes/classify/execute", p.port), false, noxus, noxus_outputs))),
        ),
        (
            "(c) Node http2 (Orch8-style), h2c",
            node.as_ref().map_err(Clone::clone).map(|p| {
                Target::Http(pair(&format!("http://127.0.0.1:{}/TextClassifier.Classify", p.port), true, crate::orch8_envelope, as_is))
            }),
        ),
        ("(d) in-process Plinth (queue of 2, back to back)", Ok(Target::InProcess(warm))),
    ];
    // Every service must give the classifier's answer.
    for (label, target) in &rows {
        if let Ok(Target::Http(clients)) = target {
            for c in clients.iter() {
                assert_eq!(&(c.output)(&c.call(args)), want, "{label}");
            }
        }
    }
    let mut times: Vec<[Vec<Duration>; 2]> = rows.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    let mut spent: Vec<[(u64, Duration); 2]> = rows.iter().map(|_| [(0, Duration::ZERO); 2]).collect();
    for round in 0..=rounds {
        for (i, (_, target)) in rows.iter_mut().enumerate() {
            let Ok(target) = target else { continue };
            for threads in 1..=2 {
                let (lat, elapsed) = run(target, threads, slice, args);
                // Round 0 warms every row up (connections, caches) and is not kept.
                if round > 0 {
                    spent[i][threads - 1].0 += lat.len() as u64;
                    spent[i][threads - 1].1 += elapsed;
                    times[i][threads - 1].extend(lat);
                }
            }
        }
    }
    rows.into_iter()
        .zip(times.into_iter().zip(spent))
        .map(|((label, target), (mut t, s))| {
            let mut by_threads = [(Duration::ZERO, Duration::ZERO, 0.0); 2];
            if target.is_ok() {
                for k in 0..2 {
                    t[k].sort();
                    let n = t[k].len();
                    by_threads[k] = (t[k][n / 2], t[k][(n * 99 / 100).min(n - 1)], s[k].0 as f64 / s[k].1.as_secs_f64());
                }
            }
            PeerRow { label, skipped: target.err(), by_threads }
        })
        .collect()
}

/// `threads` threads call `target` back to back for `slice`; every call timed.
fn run(target: &Target, threads: usize, slice: Duration, args: &str) -> (Vec<Duration>, Duration) {
    let all = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            let all = &all;
            s.spawn(move || {
                let mut mine = Vec::with_capacity(4096);
                let until = Instant::now() + slice;
                while Instant::now() < until {
                    let t = Instant::now();
                    match target {
                        Target::Http(clients) => drop(clients[k].call(args)),
                        Target::InProcess(p) => drop(crate::plinth_call(p, args)),
                    }
                    mine.push(t.elapsed());
                }
                all.lock().unwrap().extend(mine);
            });
        }
    });
    let elapsed = start.elapsed();
    (all.into_inner().unwrap(), elapsed)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// The section's table.
pub fn section(rows: &[PeerRow]) -> String {
    use std::fmt::Write as _;
    let mut md = String::from(
        "\n## The server path against its peers (issue 17, part 3)\n\nThe classifier, 100 B input, through `plinth serve` (a fresh instance per request) and through the services users run instead, each with its language's guest code (benches/peers/): a Noxus-style FastAPI plugin process under uvicorn, and an Orch8-style Node `http2` service. Every HTTP row is called by the same keep-alive reqwest client, one connection per calling thread; the rows take turns in short slices, with 1 and then 2 calling threads. Medians and p99 of every call; calls/s over the row's slices. The calling threads share the 2 cores with the server, and each sends its next request when the last is answered, so calls/s is about threads ÷ latency: a measure of latency under load, not of how much more a server takes with more clients.\n\n| row | 1 thread p50 | p99 | calls/s | 2 threads p50 | p99 | calls/s |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        match &r.skipped {
            Some(reason) => {
                let _ = writeln!(md, "| {} | skipped: {reason} | | | | | |", r.label);
            }
            None => {
                let [(a, b, c), (d, e, f)] = r.by_threads;
                let _ = writeln!(md, "| {} | {} | {} | {c:.0} | {} | {} | {f:.0} |", r.label, us(a), us(b), us(d), us(e));
            }
        }
    }
    md.push_str(
        "\nWhere `plinth serve` loses to Node is the hand-off of each wasm call off the async worker (`block_in_place`), which the server does so that no wasm call ever holds up the reactor. An experiment (2026-12-02, `server-peers`, one run each, p50 and calls/s with 2 client threads) ran the call on the worker instead: HTTP/1.1 217 µs / 7,721 calls/s and h2c 265 µs / 5,671, against 257 µs / 5,110 and 342 µs / 4,177 handed off with `block_in_place` and 269 µs / 5,816 and 314 µs / 4,541 with `spawn_blocking`. It cannot be kept: wasmtime-wasi's synchronous host functions `block_on` the ambient tokio runtime, which panics on a worker thread (the server test of a guest that sleeps caught it). Getting that saving means running calls as futures (wasmtime's async support, host functions that yield), a change of the call path, not of the server.\n",
    );
    md
}

/// Part 3's targets: (what, measured, met), `None` when a peer was not measured. Each peer
/// is compared with `plinth serve` over the protocol it speaks itself (FastAPI under uvicorn
/// is HTTP/1.1, Node's `http2` h2c), through the same client.
pub fn targets(rows: &[PeerRow]) -> Vec<(String, String, Option<bool>)> {
    let row = |prefix: &str| rows.iter().find(|r| r.label.starts_with(prefix)).expect("every row is listed");
    let (h1, h2c, fastapi, node) = (row("(a) plinth serve, HTTP/1.1"), row("(a) plinth serve, h2c"), row("(b)"), row("(c)"));
    let mut out = Vec::new();
    for (ours, peer, name) in [(h1, fastapi, "FastAPI (b), both HTTP/1.1"), (h2c, node, "Node http2 (c), both h2c")] {
        let what = format!("plinth serve p50 below {name}, 1 and 2 client threads");
        if let Some(reason) = &peer.skipped {
            out.push((what, format!("not measured: {reason}"), None));
            continue;
        }
        let ok = (0..2).all(|k| ours.by_threads[k].0 < peer.by_threads[k].0);
        let measured = (0..2)
            .map(|k| {
                format!("{} vs {} ({} thread{})", us(ours.by_threads[k].0), us(peer.by_threads[k].0), k + 1, if k == 0 { "" } else { "s" })
            })
            .collect::<Vec<_>>()
            .join("; ");
        out.push((what, measured, Some(ok)));
    }
    let what = "plinth serve ≥ 3× FastAPI's calls/s, both HTTP/1.1, 2 client threads".to_string();
    match &fastapi.skipped {
        Some(reason) => out.push((what, format!("not measured: {reason}"), None)),
        None => {
            let (ours, theirs) = (h1.by_threads[1].2, fastapi.by_threads[1].2);
            out.push((what, format!("{:.2}× ({ours:.0} vs {theirs:.0} calls/s)", ours / theirs), Some(ours >= 3.0 * theirs)));
        }
    }
    out
}
