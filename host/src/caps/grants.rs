//! Two keys: the plugin **asks** (its manifest, or the CLI for a bare `.wasm`), the operator
//! **grants**. A capability is usable only when it is both asked and granted; everything
//! else is denied. [`Capabilities::resolve`] intersects the two and reports the mismatches.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::error::CapabilityError;

/// Read-only or read-write access to a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsMode {
    Ro,
    Rw,
}

/// Whether the guest's stdout/stderr are kept in the call's logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stdio {
    /// Captured into the call's logs (bounded by `max_log`).
    #[default]
    Keep,
    /// Discarded.
    Drop,
}

/// A directory the plugin asks for, by the path it will see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsAsk {
    /// Absolute path inside the guest, e.g. `/data`.
    pub guest: String,
    pub mode: FsMode,
}

/// What a plugin asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Asks {
    #[serde(default)]
    pub fs: Vec<FsAsk>,
    /// Names of environment variables.
    #[serde(default)]
    pub env: Vec<String>,
    /// Hosts for outbound HTTP(S).
    #[serde(default)]
    pub http: Vec<HostPattern>,
    #[serde(default)]
    pub stdio: Stdio,
}

/// An operator's grant of a host directory at a guest path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsGrant {
    pub guest: String,
    pub host: PathBuf,
    pub mode: FsMode,
}

/// An operator's grant of one environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvGrant {
    pub name: String,
    /// The value to give; `None` takes it from the host's environment at resolve time.
    #[serde(default)]
    pub value: Option<String>,
}

/// What an operator grants one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    #[serde(default)]
    pub fs: Vec<FsGrant>,
    #[serde(default)]
    pub env: Vec<EnvGrant>,
    #[serde(default)]
    pub http: Vec<HostPattern>,
}

/// Which ports a host pattern allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// Only the scheme's default port (80 for http, 443 for https).
    Default,
    /// Exactly this port.
    Port(u16),
    /// Any port (`host:*`).
    Any,
}

/// An allowed HTTP destination: `api.example.com`, `*.example.com` (subdomains, not the
/// apex), `127.0.0.1:8080`, `example.com:*`. Without a port, only the scheme's default port
/// is allowed. Names compare case-insensitively; IPv6 literals go in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// Lowercase host, without the `*.` of a wildcard.
    host: String,
    wildcard: bool,
    ports: Ports,
}

impl HostPattern {
    /// Parses a pattern.
    pub fn parse(text: &str) -> Result<HostPattern, CapabilityError> {
        let bad = |why: &str| CapabilityError::BadHostPattern { pattern: text.to_string(), reason: why.to_string() };
        if text.contains("://") || text.contains('/') {
            return Err(bad("give a host (and port), not a URL"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (format!("[{h}]"), after.strip_prefix(':'))
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (text.to_string(), None),
            }
        };
        let ports = match port {
            None => Ports::Default,
            Some("*") => Ports::Any,
            Some(p) => Ports::Port(p.parse().map_err(|_| bad("the port must be a number or `*`"))?),
        };
        let host = host.to_ascii_lowercase();
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(h) => (true, h.to_string()),
            None => (false, host),
        };
        if port.is_none() && text.starts_with('[') && !text.ends_with(']') {
            return Err(bad("unexpected text after `]`"));
        }
        if host.is_empty() || host.contains('*') {
            return Err(bad("`*` is only allowed as a leading `*.`"));
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c)) {
            return Err(bad("not a host name"));
        }
        Ok(HostPattern { host, wildcard, ports })
    }

    /// Whether a request to `host:port` over `scheme` (`http`/`https`) matches.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let default = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        let port = port.unwrap_or(default);
        let port_ok = match self.ports {
            Ports::Default => port == default,
            Ports::Port(p) => port == p,
            Ports::Any => true,
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.len() > self.host.len() + 1 && host.ends_with(&self.host) && host[..host.len() - self.host.len()].ends_with('.')
        } else {
            host == self.host
        };
        port_ok && host_ok
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        match self.ports {
            Ports::Default => Ok(()),
            Ports::Port(p) => write!(f, ":{p}"),
            Ports::Any => f.write_str(":*"),
        }
    }
}

impl Serialize for HostPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostPattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A directory the guest will see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preopen {
    pub guest: String,
    /// Canonical host path (symlinks resolved when granted).
    pub host: PathBuf,
    pub mode: FsMode,
    /// Device and inode of the directory when it was granted: a call whose directory is no
    /// longer the same one (renamed away and replaced, e.g. by a symlink) does not get it.
    #[serde(skip)]
    pub(crate) identity: (u64, u64),
}

/// Device and inode of `path` (following symlinks).
pub(crate) fn identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Asks and grants that did not meet, for `inspect`/`doctor` to show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapabilityReport {
    /// Asked but not granted (the plugin may fail when it tries to use them).
    pub not_granted: Vec<String>,
    /// Granted but not asked (ignored).
    pub not_asked: Vec<String>,
}

/// What one plugin may use: the intersection of its asks and the operator's grants.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub fs: Vec<Preopen>,
    /// Variable names and values. Values are secrets (API keys): `Debug` and `Serialize`
    /// show the names only.
    #[serde(serialize_with = "names_only")]
    pub env: Vec<(String, String)>,
    /// A request must match one of these (asked) ...
    pub http_asked: Vec<HostPattern>,
    /// ... and one of these (granted).
    pub http_granted: Vec<HostPattern>,
    pub stdio: Stdio,
    pub report: CapabilityReport,
}

fn names_only<S: serde::Serializer>(env: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(env.iter().map(|(k, _)| k))
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("fs", &self.fs)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("http_asked", &self.http_asked)
            .field("http_granted", &self.http_granted)
            .field("stdio", &self.stdio)
            .field("report", &self.report)
            .finish()
    }
}

/// Checks a guest path: `/` or absolute with only plain segments (no empty, `.` or `..`
/// ones). Checked on the string: `Path::components` would silently drop an inner `.`.
fn check_guest_path(path: &str) -> Result<(), CapabilityError> {
    let ok = path == "/" || path.strip_prefix('/').is_some_and(|rest| rest.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
    if ok { Ok(()) } else { Err(CapabilityError::BadGuestPath { path: path.to_string() }) }
}

impl Capabilities {
    /// Nothing at all: the default of every plugin.
    pub fn none() -> Capabilities {
        Capabilities::default()
    }

    /// Whether outbound HTTP is possible at all.
    pub fn has_http(&self) -> bool {
        !self.http_asked.is_empty() && !self.http_granted.is_empty()
    }

    /// Whether a request to `host:port` over `scheme` is both asked and granted.
    pub fn allows_http(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.http_asked.iter().any(|p| p.allows(scheme, host, port)) && self.http_granted.iter().any(|p| p.allows(scheme, host, port))
    }

    /// Intersects `asks` and `grants`. Grants nobody asked for are ignored (and reported);
    /// asks nobody granted are reported. Granted host directories must exist.
    pub fn resolve(asks: &Asks, grants: &Grants) -> Result<Capabilities, CapabilityError> {
        let mut caps = Capabilities { stdio: asks.stdio, ..Capabilities::default() };
        let report = &mut caps.report;

        for ask in &asks.fs {
            check_guest_path(&ask.guest)?;
            match grants.fs.iter().find(|g| g.guest == ask.guest) {
                Some(grant) => {
                    let host = std::fs::canonicalize(&grant.host).map_err(|e| CapabilityError::BadHostDir {
                        guest: grant.guest.clone(),
                        host: grant.host.clone(),
                        reason: e.to_string(),
                    })?;
                    if !host.is_dir() {
                        return Err(CapabilityError::BadHostDir {
                            guest: grant.guest.clone(),
                            host: grant.host.clone(),
                            reason: "not a directory".into(),
                        });
                    }
                    let identity = identity(&host).map_err(|e| CapabilityError::BadHostDir {
                        guest: grant.guest.clone(),
                        host: grant.host.clone(),
                        reason: e.to_string(),
                    })?;
                    let mode = if ask.mode == FsMode::Rw && grant.mode == FsMode::Rw { FsMode::Rw } else { FsMode::Ro };
                    if ask.mode == FsMode::Rw && mode == FsMode::Ro {
                        report.not_granted.push(format!("fs {} (write access: granted read-only)", ask.guest));
                    }
                    caps.fs.push(Preopen { guest: ask.guest.clone(), host, mode, identity });
                }
                None => report.not_granted.push(format!("fs {}", ask.guest)),
            }
        }
        for grant in &grants.fs {
            check_guest_path(&grant.guest)?;
            if !asks.fs.iter().any(|a| a.guest == grant.guest) {
                report.not_asked.push(format!("fs {}", grant.guest));
            }
        }

        for name in &asks.env {
            match grants.env.iter().find(|g| &g.name == name) {
                Some(grant) => match grant.value.clone().or_else(|| std::env::var(name).ok()) {
                    Some(value) => caps.env.push((name.clone(), value)),
                    None => report.not_granted.push(format!("env {name} (granted, but not set on the host)")),
                },
                None => report.not_granted.push(format!("env {name}")),
            }
        }
        for grant in &grants.env {
            if !asks.env.contains(&grant.name) {
                report.not_asked.push(format!("env {}", grant.name));
            }
        }

        caps.http_asked = asks.http.clone();
        caps.http_granted = grants.http.clone();
        for ask in &asks.http {
            // An ask counts as granted when a grant is identical or, for an exact host,
            // covers it.
            let covered = grants.http.iter().any(|g| {
                g == ask
                    || (!ask.wildcard && ask.ports != Ports::Any && {
                        let port = match ask.ports {
                            Ports::Port(p) => Some(p),
                            _ => None,
                        };
                        g.allows("https", &ask.host, port.or(Some(443))) || g.allows("http", &ask.host, port.or(Some(80)))
                    })
            });
            if !covered {
                report.not_granted.push(format!("http {ask}"));
            }
        }
        for grant in &grants.http {
            if !asks.http.iter().any(|a| a == grant || grant.allows("https", &a.host, None) || a.allows("https", &grant.host, None)) {
                report.not_asked.push(format!("http {grant}"));
            }
        }
        for line in &caps.report.not_asked {
            tracing::warn!("capability granted but not asked for, ignored: {line}");
        }
        Ok(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap()
    }

    #[test]
    fn host_patterns() {
        assert!(p("api.example.com").allows("https", "API.example.com", None));
        assert!(p("api.example.com").allows("http", "api.example.com", Some(80)));
        assert!(!p("api.example.com").allows("https", "api.example.com", Some(8443)));
        assert!(!p("api.example.com").allows("https", "evil-api.example.com", None));
        assert!(p("*.example.com").allows("https", "a.b.example.com", None));
        assert!(!p("*.example.com").allows("https", "example.com", None));
        assert!(!p("*.example.com").allows("https", "badexample.com", None));
        assert!(p("127.0.0.1:8080").allows("http", "127.0.0.1", Some(8080)));
        assert!(!p("127.0.0.1:8080").allows("http", "127.0.0.1", Some(8081)));
        assert!(p("localhost:*").allows("http", "localhost", Some(1234)));
        assert!(p("[::1]:80").allows("http", "[::1]", Some(80)));
        assert!(!p("example.com").allows("ftp", "example.com", None));
        for bad in ["https://x.com", "x.com/a", "*", "a.*.com", "x.com:port", "", "ex ample.com"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(p("*.Example.com:*").to_string(), "*.example.com:*");
    }

    #[test]
    fn guest_paths_must_be_absolute_and_normal() {
        for bad in ["data", "../../etc", "/data/../etc", "/data/./x", "", "//x", "/data/"] {
            assert!(check_guest_path(bad).is_err(), "{bad}");
        }
        assert!(check_guest_path("/data/in").is_ok());
        assert!(check_guest_path("/").is_ok());
    }

    #[test]
    fn two_keys() {
        let dir = std::env::temp_dir();
        let asks = Asks {
            fs: vec![FsAsk { guest: "/data".into(), mode: FsMode::Rw }, FsAsk { guest: "/other".into(), mode: FsMode::Ro }],
            env: vec!["A".into(), "B".into()],
            http: vec![p("api.example.com")],
            stdio: Stdio::Drop,
        };
        let grants = Grants {
            fs: vec![
                FsGrant { guest: "/data".into(), host: dir.clone(), mode: FsMode::Ro },
                FsGrant { guest: "/unasked".into(), host: dir.clone(), mode: FsMode::Rw },
            ],
            env: vec![EnvGrant { name: "A".into(), value: Some("1".into()) }, EnvGrant { name: "C".into(), value: Some("3".into()) }],
            http: vec![p("*.example.com")],
        };
        let caps = Capabilities::resolve(&asks, &grants).unwrap();
        assert_eq!(caps.fs.len(), 1);
        assert_eq!(caps.fs[0].mode, FsMode::Ro, "read-only wins");
        assert_eq!(caps.env, [("A".to_string(), "1".to_string())]);
        assert!(caps.allows_http("https", "api.example.com", None));
        assert!(!caps.allows_http("https", "www.example.com", None), "granted but not asked");
        assert_eq!(caps.stdio, Stdio::Drop);
        assert!(caps.report.not_granted.contains(&"fs /other".to_string()));
        assert!(caps.report.not_granted.iter().any(|l| l.starts_with("fs /data (write")));
        assert!(caps.report.not_granted.contains(&"env B".to_string()));
        assert!(caps.report.not_asked.contains(&"fs /unasked".to_string()));
        assert!(caps.report.not_asked.contains(&"env C".to_string()));
        assert!(caps.report.not_granted.is_empty() || !caps.report.not_granted.iter().any(|l| l.starts_with("http")));
    }

    #[test]
    fn a_missing_host_dir_is_an_error() {
        let asks = Asks { fs: vec![FsAsk { guest: "/d".into(), mode: FsMode::Ro }], ..Asks::default() };
        let grants =
            Grants { fs: vec![FsGrant { guest: "/d".into(), host: "/no/such/dir".into(), mode: FsMode::Ro }], ..Grants::default() };
        assert!(matches!(Capabilities::resolve(&asks, &grants), Err(CapabilityError::BadHostDir { .. })));
    }
}
