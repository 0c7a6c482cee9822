//! Remote plugins: steps that run in a service of their own, called as Orch8 calls its
//! "gRPC plugins" — JSON over HTTP/2, not protobuf. A handler `grpc://host:port/Svc.Method`
//! (h2c, prior knowledge) or `grpcs://…` (TLS, ALPN h2) is a `POST` to
//! `http(s)://host:port/Svc.Method` (the path after the address verbatim, dot included) with
//! `content-type: application/json` and Orch8's envelope; the response body is the step's
//! output, and a 2xx body that is not JSON becomes `{"raw": body}`.
//!
//! Errors are the library's [`InvokeError`]s, retryable as Orch8 has them: a connection or
//! read failure and a status ≥ 500 are retryable, another status ≥ 400 is permanent.
//!
//! The library is synchronous; the HTTP/2 client is async. One client per runtime (made on
//! the first remote call) runs on a thread of its own with a current-thread tokio runtime:
//! a call hands it the request and waits on a channel, so it works from a plain thread and
//! from a tokio worker in `block_in_place` alike, and the client's connections are pooled
//! across calls and threads (HTTP/2 multiplexes the calls of one endpoint on one
//! connection).

pub mod guard;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use guard::AllowRemote;

use crate::error::InvokeError;
use crate::limits::Limits;
use crate::types::Json;

/// How long connecting to a remote plugin may take (Orch8's client waits 5 s); a call's own
/// deadline cuts it shorter.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of an error response's body is kept in the error (and its `details`).
const BODY_PREVIEW: usize = 1024;

/// Where a remote plugin answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// TLS (`grpcs://`) or plain h2c (`grpc://`).
    pub secure: bool,
    /// Host name (lowercased) or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The path after the address, verbatim, with its leading `/` (e.g. `/Svc.Method`).
    pub path: String,
}

/// Why an endpoint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad remote plugin endpoint `{endpoint}`: {reason} (e.g. grpc://127.0.0.1:50051/Scoring.Score or host:port/Svc.Method)")]
pub struct EndpointError {
    pub endpoint: String,
    pub reason: String,
}

impl Endpoint {
    /// Parses a handler reference `grpc://host:port/Svc.Method` or `grpcs://…`, or a
    /// registry `source` of a `grpc` plugin: the same, or without a scheme
    /// (`host:port/Svc.Method`, h2c as in Orch8).
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let bad = |reason: &str| EndpointError { endpoint: text.to_string(), reason: reason.to_string() };
        let (secure, rest) = if let Some(r) = text.strip_prefix("grpcs://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("grpc://") {
            (false, r)
        } else if text.contains("://") {
            return Err(bad("the scheme must be grpc:// (h2c) or grpcs:// (TLS)"));
        } else {
            (false, text)
        };
        let (authority, method) = rest.split_once('/').ok_or_else(|| bad("no `/Svc.Method` after the address"))?;
        if method.is_empty() {
            return Err(bad("the method after the address is empty"));
        }
        if !method.bytes().all(|b| b.is_ascii_graphic() && b != b'#') || method.split('/').any(|s| s == "..") {
            return Err(bad("the method must be printable ASCII without `#` or `..`"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
                h.parse::<std::net::Ipv6Addr>().map_err(|_| bad("not an IPv6 address inside `[…]`"))?;
                (h, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            None => return Err(bad("the address needs a port (host:port)")),
        };
        if host.is_empty() || !(host.contains(':') || host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')) {
            return Err(bad("not a host name or address"));
        }
        Ok(Endpoint { secure, host: host.to_ascii_lowercase(), port, path: format!("/{method}") })
    }

    /// The handler reference: `grpc://host:port/Svc.Method`.
    pub fn handler(&self) -> String {
        format!("{}://{}{}", if self.secure { "grpcs" } else { "grpc" }, self.authority(), self.path)
    }

    /// `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) }
    }

    fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.handler())
    }
}

/// How to register one remote plugin.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
    /// Limits of its calls (the deadline and the output cap apply; fuel and memory do not):
    /// `None` uses the runtime's default limits.
    pub limits: Option<Limits>,
    /// Internal addresses this plugin may reach, on top of the runtime's.
    pub allow: AllowRemote,
}

/// A remote plugin's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub output: Json,
    pub wall: Duration,
}

/// One remote plugin's endpoint and allowance, with what its calls need worked out once at
/// registration (its handler text for errors, its TLS URL) rather than per call.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) endpoint: Endpoint,
    allow: AllowRemote,
    handler: String,
    /// `https://host:port/Svc.Method` (a TLS call connects by name; an h2c call by the
    /// address it vetted, so its URL is made per call).
    tls_url: String,
}

impl Target {
    pub(crate) fn new(endpoint: Endpoint, allow: AllowRemote) -> Target {
        let handler = endpoint.handler();
        let tls_url = format!("https://{}{}", endpoint.authority(), endpoint.path);
        Target { endpoint, allow, handler, tls_url }
    }

    fn unreachable(&self, reason: String) -> InvokeError {
        InvokeError::RemoteUnreachable { endpoint: self.handler.clone(), reason }
    }
}

/// The runtime's remote-plugin client, started on first use.
#[derive(Default)]
pub(crate) struct Remotes {
    client: OnceLock<Result<Client, String>>,
}

impl Remotes {
    /// POSTs `envelope` (JSON text) to `target` and reads the answer, within the call's
    /// deadline and output cap, reaching only what the target's allowance lets it.
    pub(crate) fn call(&self, target: &Arc<Target>, envelope: String, limits: &Limits) -> Result<Answer, InvokeError> {
        let client = self.client.get_or_init(Client::start).as_ref().map_err(|e| InvokeError::Host(e.clone()))?;
        client.call(target, envelope, limits)
    }

    /// Checks that `target` answers: its name resolves to addresses it may reach, and one
    /// of them accepts a connection within `timeout` (no request is sent: a call could
    /// have effects).
    pub(crate) fn probe(&self, target: &Arc<Target>, timeout: Duration) -> Result<(), InvokeError> {
        let client = self.client.get_or_init(Client::start).as_ref().map_err(|e| InvokeError::Host(e.clone()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let target = target.clone();
        client.handle.spawn(async move {
            let work = async {
                let addrs = vetted(&target).await?;
                tokio::net::TcpStream::connect(&addrs[..]).await.map(drop).map_err(|e| target.unreachable(format!("cannot connect: {e}")))
            };
            let result = match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(target.unreachable(format!("no connection within {timeout:?}"))),
            };
            let _ = tx.send(result);
        });
        rx.recv_timeout(timeout + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(InvokeError::Host("the remote-plugin client did not answer; it may have stopped".into())))
    }
}

/// The async half: its own thread and tokio runtime, and one HTTP/2 client per transport.
struct Client {
    handle: tokio::runtime::Handle,
    h2c: reqwest::Client,
    /// An error when the machine's root certificates cannot be used: then only `grpcs://`
    /// calls fail, with that reason, and h2c ones still work.
    tls: Result<reqwest::Client, String>,
    /// Dropped with the client: ends the thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Client {
    fn start() -> Result<Client, String> {
        // reqwest is built with rustls but no default crypto provider (see Cargo.toml).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let build = |b: reqwest::ClientBuilder| {
            b.http2_prior_knowledge()
                .connect_timeout(CONNECT_TIMEOUT)
                .pool_idle_timeout(Duration::from_secs(90))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("plinth/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| crate::error::chain(&e))
        };
        // h2c never does TLS: no root certificates to load (a machine without any must still
        // reach plain endpoints).
        let plain = reqwest::Client::builder().tls_certs_only(std::iter::empty());
        let h2c = build(plain).map_err(|e| format!("cannot build the remote-plugin HTTP client: {e}"))?;
        let tls = build(reqwest::Client::builder().https_only(true)).map_err(|e| {
            format!(
                "cannot make TLS connections ({e}): the machine's root certificates could not be loaded \
                 (install ca-certificates, or point SSL_CERT_FILE at a PEM bundle)"
            )
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("plinth-remote".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot start the remote-plugin client's runtime: {e}")));
                        return;
                    }
                };
                let _ = tx.send(Ok(rt.handle().clone()));
                // Runs the spawned calls until the client is dropped.
                let _ = rt.block_on(stopped);
            })
            .map_err(|e| format!("cannot start the remote-plugin client's thread: {e}"))?;
        let handle = rx.recv().map_err(|_| "the remote-plugin client's thread ended at start".to_string())??;
        Ok(Client { handle, h2c, tls, _stop: stop })
    }

    fn call(&self, target: &Arc<Target>, envelope: String, limits: &Limits) -> Result<Answer, InvokeError> {
        let start = Instant::now();
        let timeout = limits.timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let http = if target.endpoint.secure {
            self.tls.clone().map_err(|reason| InvokeError::RemoteUnreachable { endpoint: target.handler.clone(), reason })?
        } else {
            self.h2c.clone()
        };
        let (target, max_output) = (target.clone(), limits.max_output);
        self.handle.spawn(async move {
            let work = request(&http, &target, envelope, max_output);
            let result = match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(InvokeError::DeadlineExceeded { timeout }),
            };
            let _ = tx.send(result);
        });
        // The task ends by its own timeout; the margin covers a client thread that died.
        let output = match rx.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(r) => r?,
            Err(_) => return Err(InvokeError::Host("the remote-plugin client did not answer; it may have stopped".into())),
        };
        Ok(Answer { output, wall: start.elapsed() })
    }
}

/// Resolves, vets and POSTs; reads at most `max_output` bytes of the answer.
async fn request(http: &reqwest::Client, target: &Target, envelope: String, max_output: usize) -> Result<Json, InvokeError> {
    let endpoint = &target.endpoint;
    let unreachable = |reason: String| target.unreachable(reason);
    let vetted = vetted(target).await?;
    // Plain h2c connects to the address that was vetted, so a name that resolves elsewhere
    // a moment later (DNS rebinding) cannot move the request inside. With TLS the client
    // resolves the name again, and the certificate must match it: a rebound name reaches a
    // server that cannot prove it is that name.
    let url = if endpoint.secure {
        target.tls_url.clone()
    } else {
        let addr = vetted[0];
        format!("http://{addr}{}", endpoint.path)
    };
    let mut response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(envelope)
        .send()
        .await
        .map_err(|e| unreachable(crate::error::chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|e| unreachable(format!("reading the answer failed: {}", crate::error::chain(&e))))?
    {
        if body.len() + chunk.len() > max_output {
            return Err(InvokeError::OutputTooLarge { size: body.len() + chunk.len(), limit: max_output });
        }
        body.extend_from_slice(&chunk);
    }
    if !(200..300).contains(&status) {
        return Err(InvokeError::RemoteStatus { endpoint: target.handler.clone(), status, body: preview(&body) });
    }
    let text = match String::from_utf8(body) {
        Ok(t) => t,
        Err(e) => return Ok(raw(&String::from_utf8_lossy(e.as_bytes()))),
    };
    if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() { Ok(Json::from_checked(text)) } else { Ok(raw(&text)) }
}

/// The addresses `target` resolves to, if its allowance lets it reach all of them (an IP
/// literal resolves without a lookup).
async fn vetted(target: &Target) -> Result<Vec<std::net::SocketAddr>, InvokeError> {
    let endpoint = &target.endpoint;
    let unreachable = |reason: String| target.unreachable(reason);
    let resolved = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port)))
        .await
        .map_err(|_| unreachable(format!("resolving `{}` took longer than {CONNECT_TIMEOUT:?}", endpoint.host)))?
        .map_err(|e| unreachable(format!("cannot resolve `{}`: {e}", endpoint.host)))?
        .collect::<Vec<_>>();
    target
        .allow
        .vet(endpoint.scheme(), &endpoint.host, endpoint.port, &resolved)
        .map_err(|reason| InvokeError::RemoteRefused { endpoint: target.handler.clone(), reason })
}

/// A 2xx body that is not JSON, as Orch8 hands it on: `{"raw": body}`.
fn raw(text: &str) -> Json {
    Json::from_checked(serde_json::json!({ "raw": text }).to_string())
}

/// The start of an error body, cut on a character boundary.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= BODY_PREVIEW {
        return text.into_owned();
    }
    let mut end = BODY_PREVIEW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_orch8_writes_them() {
        let e = Endpoint::parse("grpc://127.0.0.1:50051/Scoring.Score").unwrap();
        assert_eq!((e.secure, e.host.as_str(), e.port, e.path.as_str()), (false, "127.0.0.1", 50051, "/Scoring.Score"));
        assert_eq!(e.handler(), "grpc://127.0.0.1:50051/Scoring.Score");
        assert_eq!(Endpoint::parse("scoring:9000/Svc.Method").unwrap().handler(), "grpc://scoring:9000/Svc.Method");
        let s = Endpoint::parse("grpcs://API.example.com:443/a/b.C").unwrap();
        assert!(s.secure && s.host == "api.example.com" && s.path == "/a/b.C");
        let v6 = Endpoint::parse("grpc://[::1]:7000/S.M").unwrap();
        assert_eq!((v6.host.as_str(), v6.authority()), ("::1", "[::1]:7000".to_string()));
        for bad in [
            "http://x:1/S.M",
            "grpc://x/S.M",
            "grpc://x:0/S.M",
            "grpc://x:99999/S.M",
            "grpc://x:1",
            "grpc://x:1/",
            "grpc://:1/S.M",
            "grpc://x y:1/S.M",
            "grpc://x:1/a/../b",
            "grpc://[nope]:1/S.M",
            "grpc://x:1/S M",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_bodies_are_cut_on_a_character_boundary() {
        let long = "é".repeat(BODY_PREVIEW);
        let p = preview(long.as_bytes());
        assert!(p.len() <= BODY_PREVIEW + "…".len() && p.ends_with('…'));
        assert_eq!(preview(b"short"), "short");
    }
}
