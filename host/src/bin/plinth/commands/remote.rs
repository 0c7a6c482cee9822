//! `plinth --server URL …`: the plugin commands and `invoke NAME` against a running
//! `plinth serve`, through its HTTP API instead of a local `$PLINTH_HOME` (what Orcheo
//! calls targeting the stack runtime).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::exit::Failure;

/// How long a command waits for a server-side install that answered `202`.
const INSTALL_DEADLINE: Duration = Duration::from_secs(600);

/// A server, and the token to present to it.
pub struct Remote {
    base: String,
    token: Option<String>,
    client: Client,
}

/// A server's answer: status, headers, body as JSON (or the text, as a JSON string).
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Remote {
    pub fn new(url: &str, token: Option<String>) -> Result<Remote, Failure> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(anyhow!("--server `{url}` is not an http:// or https:// URL").into());
        }
        // reqwest has rustls without a provider (host/Cargo.toml): ring, the one in the tree.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Orch8's client timeouts: 5 s to connect, calls bounded by the server's deadline.
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| anyhow!("cannot make an HTTP client: {e}"))?;
        Ok(Remote { base, token, client })
    }

    /// A request to `path` in `tenant`'s scope (`X-Tenant-Id`), with the token.
    pub fn request(&self, method: Method, path: &str, tenant: Option<&str>) -> RequestBuilder {
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some(t) = tenant {
            r = r.header("x-tenant-id", t);
        }
        r
    }

    /// Sends `request`; a non-2xx answer is a failure with the server's message and an
    /// exit code from its error code.
    pub fn send(&self, request: RequestBuilder) -> Result<Answer, Failure> {
        let answer = read(request.send().map_err(|e| self.unreachable(e))?)?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        let message = answer.body["error"].as_str().map(str::to_string).unwrap_or_else(|| answer.body.to_string());
        let code = answer.body["code"].as_str().unwrap_or("");
        Err(Failure { code: exit_code(answer.status, code), error: anyhow!("{} ({}): {message}", self.base, answer.status) })
    }

    fn unreachable(&self, e: reqwest::Error) -> Failure {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        anyhow!("cannot reach the server at {}: {text} (is `plinth serve` running there?)", self.base).into()
    }

    /// Waits while `name`'s status is `installing` or `restarting` (after a `202`), then
    /// returns its record; a background install that failed is a failure with its reason.
    pub fn settled(&self, name: &str, tenant: Option<&str>) -> Result<Value, Failure> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            let record = self.send(self.request(Method::GET, &format!("/plugins/{name}"), tenant))?.body;
            match record["status"].as_str() {
                Some("installing" | "restarting") if start.elapsed() < INSTALL_DEADLINE => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                Some("installing" | "restarting") => {
                    return Err(
                        anyhow!("{name} is still being installed after {} s; see GET /plugins/{name}", INSTALL_DEADLINE.as_secs()).into()
                    );
                }
                Some("error") => {
                    let why = record["last_error"].as_str().unwrap_or("no reason given");
                    return Err(Failure { code: 6, error: anyhow!("the server could not install {name}: {why}") });
                }
                _ => return Ok(record),
            }
        }
    }
}

fn read(r: Response) -> Result<Answer, Failure> {
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().map_err(|e| anyhow!("cannot read the server's answer: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer { status, headers, body })
}

/// The README's exit codes for a server's error code (see `serve/error.rs`).
pub fn exit_code(status: reqwest::StatusCode, code: &str) -> u8 {
    match code {
        "no_provider" | "ambiguous" => 3,
        "failed" | "invalid_input" => 3,
        "out_of_fuel" | "memory_limit" | "stack_overflow" | "output_too_large" | "deadline_exceeded" => 4,
        "trap" | "invalid_output" | "abi_violation" => 5,
        "invalid_plugin" => 6,
        "busy" => 7,
        "not_found" if status == reqwest::StatusCode::NOT_FOUND => 3,
        _ => 1,
    }
}

/// The body of `PUT /plugins/{name}/package` for `path`: a `.wasm` as it is, a plugin
/// directory (or its plinth.toml) as a .tar.gz of the directory. Returns the plugin's name,
/// the content type and the bytes.
pub fn package(path: &Path) -> Result<(String, &'static str, Vec<u8>), Failure> {
    let name = plinth::registry::source_name(path).map_err(crate::exit::registry_failure)?;
    let is_wasm = path.is_file() && path.extension().is_some_and(|e| e == "wasm");
    if is_wasm {
        let bytes = std::fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        return Ok((name, "application/wasm", bytes));
    }
    // What an install reads of a directory: its manifest and the entry it names (not a
    // project's sources or build outputs).
    let manifest_path = if path.is_dir() { path.join("plinth.toml") } else { path.to_path_buf() };
    let manifest = plinth::registry::Manifest::from_file(&manifest_path).map_err(crate::exit::registry_failure)?;
    let entry = manifest.entry_path(&manifest_path).map_err(crate::exit::registry_failure)?;
    let pack = || -> std::io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
        tar.append_path_with_name(&manifest_path, "plinth.toml")?;
        // The entry as the manifest spells it (it may sit in a subdirectory); a symlink is
        // stored as the file it points at (the server refuses links).
        tar.append_path_with_name(&entry, &manifest.entry)?;
        tar.into_inner()?.finish()
    };
    let bytes = pack().map_err(|e| anyhow!("cannot pack {}: {e}", manifest_path.display()))?;
    Ok((name, "application/gzip", bytes))
}

/// The hex sha256 of `bytes` (sent so the server checks what it received).
pub fn sha256(bytes: &[u8]) -> String {
    plinth::registry::state::sha256_hex(bytes)
}
