//! Flags shared by several commands: capabilities, the code cache, sizes, tenants.

use anyhow::anyhow;
use clap::Args;
use plinth::{Asks, Capabilities, EnvGrant, FsAsk, FsGrant, FsMode, Grants, HostPattern, Stdio};

/// Capabilities. For `invoke`/`inspect` of a bare `.wasm` each flag is both the plugin's ask
/// and the operator's grant; for `plugin install/update` they are the operator's grants only
/// (the manifest holds the asks). Without flags a plugin gets nothing.
#[derive(Args, Default)]
pub struct CapArgs {
    /// Grant a host directory at a guest path: HOST:GUEST[:ro|rw] (default ro). Repeatable.
    #[arg(long, value_name = "HOST:GUEST[:ro|rw]")]
    pub allow_fs: Vec<String>,
    /// Grant an environment variable: NAME (value from this process) or NAME=VALUE. Repeatable.
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub allow_env: Vec<String>,
    /// Grant outbound HTTP(S) to a host: api.example.com, *.example.com, 127.0.0.1:8080,
    /// host:* (any port). Without a port only 80/443. Repeatable.
    #[arg(long, value_name = "HOST")]
    pub allow_http: Vec<String>,
    /// Discard the guest's stdout/stderr instead of keeping them in the logs.
    #[arg(long)]
    pub drop_stdio: bool,
}

impl CapArgs {
    /// The flags as operator grants (for installed plugins, whose manifest holds the asks).
    pub fn grants(&self) -> anyhow::Result<Grants> {
        let caps = self.asks_and_grants()?;
        Ok(caps.1)
    }

    pub fn capabilities(&self) -> anyhow::Result<Capabilities> {
        let (asks, grants) = self.asks_and_grants()?;
        let caps = Capabilities::resolve(&asks, &grants)?;
        for line in &caps.report.not_granted {
            eprintln!("warning: not available: {line}");
        }
        Ok(caps)
    }

    fn asks_and_grants(&self) -> anyhow::Result<(Asks, Grants)> {
        let mut asks = Asks::default();
        let mut grants = Grants::default();
        for spec in &self.allow_fs {
            let (rest, mode) = match spec.rsplit_once(':') {
                Some((rest, "ro")) => (rest, FsMode::Ro),
                Some((rest, "rw")) => (rest, FsMode::Rw),
                _ => (spec.as_str(), FsMode::Ro),
            };
            let (host, guest) =
                rest.rsplit_once(':').ok_or_else(|| anyhow!("--allow-fs {spec}: expected HOST:GUEST[:ro|rw], e.g. ./data:/data:ro"))?;
            asks.fs.push(FsAsk { guest: guest.to_string(), mode });
            grants.fs.push(FsGrant { guest: guest.to_string(), host: host.into(), mode });
        }
        for spec in &self.allow_env {
            let (name, value) = match spec.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (spec.clone(), None),
            };
            asks.env.push(name.clone());
            grants.env.push(EnvGrant { name, value });
        }
        for spec in &self.allow_http {
            let pattern = HostPattern::parse(spec)?;
            asks.http.push(pattern.clone());
            grants.http.push(pattern);
        }
        if self.drop_stdio {
            asks.stdio = Stdio::Drop;
        }
        Ok((asks, grants))
    }
}

#[derive(Args)]
pub struct CacheArgs {
    /// Do not read or write the compiled-code cache ($PLINTH_HOME/cache, default ~/.plinth/cache).
    #[arg(long)]
    pub no_cache: bool,
}

impl CapArgs {
    /// Whether any grant flag was given.
    pub fn any(&self) -> bool {
        !(self.allow_fs.is_empty() && self.allow_env.is_empty() && self.allow_http.is_empty() && !self.drop_stdio)
    }
}

/// Parses a `--tenant` value: the naming rule of plugin names.
pub fn parse_tenant(s: &str) -> Result<String, String> {
    plinth::registry::check_name("tenant", s)?;
    Ok(s.to_string())
}
