//! What the server tests share: the real `plinth serve` binary on 127.0.0.1 (port 0),
//! real HTTP clients (reqwest over HTTP/1.1 and h2c prior knowledge), waits for a state.
// Each test binary uses a part of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::Value;

pub fn guest(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `cargo xtask build-guests`", p.display());
    p
}

pub fn plinth(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_plinth")).args(args).env("PLINTH_HOME", home).env("RUST_LOG", "warn").output().expect("run plinth")
}

/// A plugin directory named `name`, version `version`, around a copy of guest `wasm`.
pub fn plugin_dir(root: &Path, dir: &str, name: &str, version: &str, wasm: &str, provides: &str) -> PathBuf {
    let d = root.join(dir);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(guest(wasm), d.join("p.wasm")).unwrap();
    std::fs::write(
        d.join("plinth.toml"),
        format!("name = \"{name}\"\nversion = \"{version}\"\nentry = \"p.wasm\"\napi = \"0.1.0\"\n[provides]\n{provides}\n"),
    )
    .unwrap();
    d
}

/// A running `plinth serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(home: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(home, extra, &[])
    }

    pub fn start_with_env(home: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plinth"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--reconcile-ms", "200"]);
        // Installs answer when done (201), however slow a busy CI machine compiles; the
        // tests of the 202 path set their own wait.
        if !extra.contains(&"--install-wait-ms") {
            cmd.args(["--install-wait-ms", "600000"]);
        }
        cmd.args(extra).env("PLINTH_HOME", home).env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start plinth serve");
        // The first stdout line is `listening on http://ADDR`, printed once it is bound
        // and has loaded the installed plugins.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();
        Server { child, url }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// reqwest is built with rustls but no crypto provider (the tree has ring, via
/// wasmtime-wasi-http): one must be installed before a client is built.
fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn h1() -> Client {
    tls();
    Client::builder().http1_only().timeout(Duration::from_secs(30)).build().unwrap()
}

pub fn h2c() -> Client {
    tls();
    Client::builder().http2_prior_knowledge().timeout(Duration::from_secs(30)).build().unwrap()
}

pub fn body(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().unwrap();
    let value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => Value::String(text),
    };
    (status, value)
}

/// Waits until `f` returns `Some`, for at most `secs` seconds.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub const SPAM: &str = r#"{"text":"Buy now! Limited offer!"}"#;

pub fn envelope(params: &str) -> String {
    format!(r#"{{"instance_id":"i-1","block_id":"b-1","params":{params},"context":{{"data":null,"config":{{}}}},"attempt":1}}"#)
}

/// Creates an admin token and tokens for tenants `acme` and `beta`.
pub fn tokens(home: &Path) -> (String, String, String) {
    let make = |args: &[&str]| {
        let out = plinth(home, args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    (make(&["token", "--admin"]), make(&["token", "--tenant", "acme"]), make(&["token", "--tenant", "beta"]))
}

/// A child process (a peer server) killed when dropped.
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Starts `cmd`, which prints `PORT <n>` once it listens; waits for that line (30 s).
    pub fn start(mut cmd: Command) -> Peer {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start the peer server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("PORT ") {
                    let _ = tx.send(p.trim().parse::<u16>().expect("a port"));
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(30)).expect("the peer server printed its port within 30 s");
        Peer { child, port }
    }

    /// Stops it (the port then refuses connections).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Orch8-shaped remote plugin on Node's own `http2` module (tests/peers).
pub fn node_server() -> Peer {
    let mut cmd = Command::new("node");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/node_http2_plugin.mjs"));
    Peer::start(cmd)
}
