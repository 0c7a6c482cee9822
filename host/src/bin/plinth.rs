//! `plinth`: inspect and invoke plugin components from the command line.
//!
//! Exit codes (stable, documented in the README):
//! 0 success · 1 host error (unreadable file, bad flag value) · 2 usage ·
//! 3 the plugin returned an error · 4 a limit was hit (fuel, deadline, memory, stack, output) ·
//! 5 the plugin trapped, returned invalid output or broke the legacy ABI ·
//! 6 invalid or incompatible component or module ·
//! 7 runtime busy.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use plinth::{
    Asks, CallContext, Capabilities, EnvGrant, Format, FsAsk, FsGrant, FsMode, Grants, HostPattern, InboundMessage, InvokeError,
    Json, Kind, Limits, LoadError, LoadOptions, Plugin, Runtime, RuntimeConfig, Stdio,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "plinth", version, about = "Run WebAssembly plugin components: a fresh, capped instance per call.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what a component provides: kinds, API version and the specs it lists.
    Inspect {
        /// The component (.wasm).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        caps: CapArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Call a plugin once and print its output JSON on stdout (logs, fuel and time on stderr).
    Invoke(InvokeArgs),
}

/// Capabilities for a bare `.wasm`: each flag is both the plugin's ask and the operator's
/// grant. Without flags the plugin gets nothing.
#[derive(Args, Default)]
struct CapArgs {
    /// Grant a host directory at a guest path: HOST:GUEST[:ro|rw] (default ro). Repeatable.
    #[arg(long, value_name = "HOST:GUEST[:ro|rw]")]
    allow_fs: Vec<String>,
    /// Grant an environment variable: NAME (value from this process) or NAME=VALUE. Repeatable.
    #[arg(long, value_name = "NAME[=VALUE]")]
    allow_env: Vec<String>,
    /// Grant outbound HTTP(S) to a host: api.example.com, *.example.com, 127.0.0.1:8080,
    /// host:* (any port). Without a port only 80/443. Repeatable.
    #[arg(long, value_name = "HOST")]
    allow_http: Vec<String>,
    /// Discard the guest's stdout/stderr instead of keeping them in the logs.
    #[arg(long)]
    drop_stdio: bool,
}

impl CapArgs {
    fn capabilities(&self) -> anyhow::Result<Capabilities> {
        let mut asks = Asks::default();
        let mut grants = Grants::default();
        for spec in &self.allow_fs {
            let (rest, mode) = match spec.rsplit_once(':') {
                Some((rest, "ro")) => (rest, FsMode::Ro),
                Some((rest, "rw")) => (rest, FsMode::Rw),
                _ => (spec.as_str(), FsMode::Ro),
            };
            let (host, guest) = rest
                .rsplit_once(':')
                .ok_or_else(|| anyhow!("--allow-fs {spec}: expected HOST:GUEST[:ro|rw], e.g. ./data:/data:ro"))?;
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
        let caps = Capabilities::resolve(&asks, &grants)?;
        for line in &caps.report.not_granted {
            eprintln!("warning: not available: {line}");
        }
        Ok(caps)
    }
}

#[derive(Args)]
struct CacheArgs {
    /// Do not read or write the compiled-code cache ($PLINTH_HOME/cache, default ~/.plinth/cache).
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct InvokeArgs {
    /// The component (.wasm).
    file: PathBuf,
    /// node, tool, trigger or listener; may be omitted when the plugin provides one kind.
    #[arg(long)]
    kind: Option<Kind>,
    /// Which node/tool/trigger/listener; may be omitted when the kind has exactly one.
    #[arg(long)]
    name: Option<String>,
    /// Input JSON: node params, tool arguments, or for a listener the inbound message
    /// `{"method","path","headers":{..},"body":"text"}`. Default `{}`.
    #[arg(long, conflicts_with = "params_file")]
    params: Option<String>,
    /// Read the input JSON from a file (`-` for stdin).
    #[arg(long)]
    params_file: Option<PathBuf>,
    /// Trigger cursor from a previous poll.
    #[arg(long)]
    cursor: Option<String>,
    /// Plugin config JSON (the call context's `config`). Default `{}`.
    #[arg(long)]
    config: Option<String>,
    /// Workflow data JSON (the call context's `data`). Default `null`.
    #[arg(long)]
    data: Option<String>,
    /// Tenant of the call context.
    #[arg(long)]
    tenant: Option<String>,
    /// Fuel budget (default 1000000000).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory cap in bytes; K, M and G suffixes are binary (default 64M).
    #[arg(long, value_parser = parse_bytes)]
    memory: Option<u64>,
    /// Wall-clock deadline in milliseconds (default 5000).
    #[arg(long)]
    timeout: Option<u64>,
    /// Output cap in bytes; K, M and G suffixes are binary (default 16M).
    #[arg(long, value_parser = parse_bytes)]
    max_output: Option<u64>,
    #[command(flatten)]
    caps: CapArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

/// Parses `1048576`, `512K`, `64M` or `1G`.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 10),
        Some((i, 'M' | 'm')) => (&s[..i], 20),
        Some((i, 'G' | 'g')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a size (e.g. 1048576, 512K, 64M, 1G)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("`{s}` is too large"))
}

/// A failure, with the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: 1, error }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        let code = match &e {
            LoadError::Io { .. } | LoadError::Runtime(_) | LoadError::Limits(_) => 1,
            // The plugin failed while listing what it provides: exit as that call failed.
            LoadError::Listing { source, .. } => invoke_exit_code(source),
            _ => 6,
        };
        Failure { code, error: e.into() }
    }
}

fn invoke_exit_code(e: &InvokeError) -> u8 {
    match e {
        InvokeError::Guest(_) => 3,
        e if e.is_limit() => 4,
        InvokeError::Trap { .. } | InvokeError::InvalidOutput { .. } | InvokeError::AbiViolation { .. } => 5,
        InvokeError::Busy { .. } => 7,
        _ => 1,
    }
}

impl From<InvokeError> for Failure {
    fn from(e: InvokeError) -> Self {
        Failure { code: invoke_exit_code(&e), error: e.into() }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,plinth::guest=trace"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Inspect { file, json, caps, cache } => inspect(&file, json, &caps, &cache),
        Command::Invoke(args) => invoke(args),
    }
}

fn runtime(cache: &CacheArgs) -> Result<Runtime, Failure> {
    let mut config = RuntimeConfig::default();
    if !cache.no_cache {
        config.cache_dir = plinth_home().map(|h| h.join("cache"));
    }
    Ok(Runtime::with_config(config)?)
}

fn plinth_home() -> Option<PathBuf> {
    std::env::var_os("PLINTH_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".plinth")))
}

fn load(file: &PathBuf, caps: &CapArgs, cache: &CacheArgs) -> Result<Plugin, Failure> {
    let options = LoadOptions { capabilities: caps.capabilities()?, ..LoadOptions::default() };
    Ok(runtime(cache)?.load_file_with(file, &options)?)
}

fn inspect(file: &PathBuf, as_json: bool, caps: &CapArgs, cache: &CacheArgs) -> Result<(), Failure> {
    let plugin = load(file, caps, cache)?;
    if as_json {
        let v = json!({
            "name": plugin.name(),
            "format": plugin.format(),
            "api_version": plugin.api_version(),
            "sha256": plugin.sha256(),
            "kinds": plugin.kinds(),
            "specs": plugin.specs(),
            "imports": plugin.imports(),
            "capabilities": plugin.capabilities(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("serializable"));
        return Ok(());
    }
    println!("{}", file.display());
    match plugin.format() {
        Format::Component => println!("  api:    plinth:plugin@{}", plugin.api_version()),
        Format::LegacyModule => println!("  api:    legacy core module (alloc/dealloc/handle JSON ABI)"),
    }
    println!("  sha256: {}", plugin.sha256());
    println!("  kinds:  {}", plugin.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "));
    let imports: Vec<&str> = plugin.imports().iter().map(String::as_str).filter(|i| !i.starts_with("plinth:")).collect();
    if !imports.is_empty() {
        println!("  imports: {}", imports.join(", "));
    }
    let c = plugin.capabilities();
    let fs: Vec<String> = c.fs.iter().map(|p| format!("{} -> {} ({:?})", p.guest, p.host.display(), p.mode)).collect();
    let env: Vec<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
    let http: Vec<String> = c.http_granted.iter().map(|h| h.to_string()).collect();
    println!(
        "  capabilities: fs [{}], env [{}], http [{}]{}",
        fs.join(", "),
        env.join(", "),
        http.join(", "),
        if c.stdio == Stdio::Drop { ", stdio dropped" } else { "" }
    );
    for line in &c.report.not_granted {
        println!("  asked but not granted: {line}");
    }
    for kind in plugin.kinds() {
        for spec in plugin.specs().of(*kind) {
            let platform = spec.platform.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default();
            println!("  {kind} {}{platform} — {}", spec.name, spec.description);
            if let Some(s) = &spec.input_schema {
                println!("      input:  {s}");
            }
            if let Some(s) = &spec.output_schema {
                println!("      output: {s}");
            }
        }
    }
    Ok(())
}

fn parse_json(what: &str, text: &str) -> Result<Json, Failure> {
    Json::parse(text).map_err(|e| Failure { code: 1, error: anyhow!("--{what} is not valid JSON: {e}") })
}

fn invoke(args: InvokeArgs) -> Result<(), Failure> {
    let plugin = load(&args.file, &args.caps, &args.cache)?;
    let kind = match args.kind {
        Some(k) => k,
        None => match plugin.kinds() {
            [k] => *k,
            ks => {
                let ks = ks.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
                return Err(anyhow!("the plugin provides several kinds ({ks}); pick one with --kind").into());
            }
        },
    };
    if !plugin.kinds().contains(&kind) {
        let provides = plugin.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        return Err(anyhow!("the plugin provides no {kind}s (it provides: {provides})").into());
    }
    let name = match args.name.clone() {
        Some(n) => n,
        None => match plugin.specs().of(kind) {
            [one] => one.name.clone(),
            specs => {
                let names = specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
                return Err(anyhow!("pick a {kind} with --name (available: {names})").into());
            }
        },
    };
    let plugin = with_limits(plugin, &args)?;
    let params = read_params(&args)?;
    let mut ctx = CallContext { tenant: args.tenant.clone(), ..CallContext::default() };
    if let Some(c) = &args.config {
        ctx.config = parse_json("config", c)?;
    }
    if let Some(d) = &args.data {
        ctx.data = parse_json("data", d)?;
    }

    // The guest's JSON is printed verbatim (key order, number spelling), spliced into the
    // trigger/listener envelopes without a round trip through `serde_json::Value`.
    let str_json = |s: &str| Value::from(s).to_string();
    let (output, fuel, wall) = match kind {
        Kind::Node => {
            let out = plugin.run_node(&name, &ctx, &params)?;
            (out.output.as_str().to_string(), out.fuel_used, out.wall)
        }
        Kind::Tool => {
            let out = plugin.call_tool(&name, &ctx, &params)?;
            (out.output.as_str().to_string(), out.fuel_used, out.wall)
        }
        Kind::Trigger => {
            let out = plugin.poll_trigger(&name, &ctx, args.cursor.as_deref())?;
            let r = out.output;
            let events = r.events.iter().map(Json::as_str).collect::<Vec<_>>().join(",");
            let cursor = r.cursor.as_deref().map_or("null".to_string(), str_json);
            let next = r.next_poll.map_or("null".to_string(), |d| d.as_millis().to_string());
            let v = format!(r#"{{"events":[{events}],"cursor":{cursor},"next_poll_ms":{next}}}"#);
            (v, out.fuel_used, out.wall)
        }
        Kind::Listener => {
            let message = inbound_message(&params)?;
            let out = plugin.handle_message(&name, &ctx, &message)?;
            let r = out.output;
            let dispatches = r
                .dispatches
                .iter()
                .map(|d| format!(r#"{{"event":{},"payload":{}}}"#, str_json(&d.event), d.payload.as_str()))
                .collect::<Vec<_>>()
                .join(",");
            let reply = r.reply.map_or("null".to_string(), |r| {
                json!({"status": r.status, "headers": r.headers, "body": String::from_utf8_lossy(&r.body)}).to_string()
            });
            (format!(r#"{{"dispatches":[{dispatches}],"reply":{reply}}}"#), out.fuel_used, out.wall)
        }
    };
    println!("{output}");
    eprintln!("{kind} {name}: {fuel} fuel, {:.3} ms", wall.as_secs_f64() * 1e3);
    Ok(())
}

fn with_limits(plugin: Plugin, args: &InvokeArgs) -> Result<Plugin, Failure> {
    let mut limits: Limits = *plugin.limits();
    if let Some(f) = args.fuel {
        limits.fuel = f;
    }
    if let Some(m) = args.memory {
        limits.memory = m;
    }
    if let Some(t) = args.timeout {
        limits.timeout = Duration::from_millis(t);
    }
    if let Some(o) = args.max_output {
        limits.max_output = usize::try_from(o).unwrap_or(usize::MAX);
    }
    plugin.with_limits(limits).map_err(|e| Failure { code: 1, error: e.into() })
}

fn read_params(args: &InvokeArgs) -> Result<String, Failure> {
    let text = match (&args.params, &args.params_file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) if f.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).context("cannot read params from stdin")?
        }
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) => "{}".to_string(),
    };
    parse_json("params", &text)?;
    Ok(text)
}

/// Builds a listener message from `{"method","path","headers":{..} | [[k,v]..],"body":"text"}`.
fn inbound_message(params: &str) -> anyhow::Result<InboundMessage> {
    let v: Value = serde_json::from_str(params).map_err(|e| anyhow!("params: {e}"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let headers = match v.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(anyhow!("headers must be an object or a list of [name, value] pairs")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => bail!("headers must be an object or a list of [name, value] pairs"),
    };
    let body = match v.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    Ok(InboundMessage { method: text("method"), path: text("path"), headers, body })
}
