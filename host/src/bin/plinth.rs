//! `plinth`: inspect and invoke plugin components from the command line.
//!
//! Exit codes (stable, documented in the README):
//! 0 success · 1 host error (unreadable file, bad flag value) · 2 usage ·
//! 3 the plugin returned an error · 4 a limit was hit (fuel, deadline, memory, stack, output) ·
//! 5 the plugin trapped, returned invalid output or broke the legacy ABI ·
//! 6 invalid or incompatible component or module ·
//! 7 runtime busy · 8 a plugin change was not confirmed (pass --yes).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use plinth::registry::state::Home;
use plinth::registry::{Handler, Impact, Key, Registry, RegistryError, doctor, install_confirmed, repair, set_enabled, uninstall};
use plinth::{
    Asks, CallContext, Capabilities, EnvGrant, Format, FsAsk, FsGrant, FsMode, Grants, HostPattern, InboundMessage, InvokeError, Json,
    Kind, Limits, LoadError, LoadOptions, Plugin, Runtime, RuntimeConfig, Stdio,
};
use serde_json::{Value, json};

/// `println!` that ends the program quietly when stdout is closed (`plinth … | head`)
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

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
    /// Manage installed plugins under $PLINTH_HOME (default ~/.plinth).
    #[command(subcommand)]
    Plugin(PluginCmd),
}

#[derive(Subcommand)]
enum PluginCmd {
    /// Install a plugin: a directory with plinth.toml, a plinth.toml, or a bare .wasm. The
    /// --allow-* flags are the operator's grants (the manifest holds the plugin's asks).
    Install {
        path: PathBuf,
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        grants: CapArgs,
        /// Apply without asking (required without a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Reinstall a plugin from PATH, or from where it was installed from.
    Update {
        name: String,
        path: Option<PathBuf>,
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        grants: CapArgs,
        #[arg(long)]
        yes: bool,
    },
    /// List installed plugins.
    List,
    /// Show one installed plugin.
    Show {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Enable an installed plugin.
    Enable {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Disable an installed plugin (it stays installed; calls to it fail).
    Disable {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove an installed plugin.
    Uninstall {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Check every installed plugin and the state files; exit 1 on any problem.
    Doctor {
        /// First roll back installs that did not finish (entries never locked).
        #[arg(long)]
        repair: bool,
    },
}

/// Capabilities. For `invoke`/`inspect` of a bare `.wasm` each flag is both the plugin's ask
/// and the operator's grant; for `plugin install/update` they are the operator's grants only
/// (the manifest holds the asks). Without flags a plugin gets nothing.
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
    /// The flags as operator grants (for installed plugins, whose manifest holds the asks).
    fn grants(&self) -> anyhow::Result<Grants> {
        let caps = self.asks_and_grants()?;
        Ok(caps.1)
    }

    fn capabilities(&self) -> anyhow::Result<Capabilities> {
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
struct CacheArgs {
    /// Do not read or write the compiled-code cache ($PLINTH_HOME/cache, default ~/.plinth/cache).
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args)]
struct InvokeArgs {
    /// A component or legacy module (.wasm), or an installed plugin's name or handler
    /// reference (name, name@version, wasm://name).
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
        Command::Plugin(cmd) => plugin_cmd(cmd),
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
    std::env::var_os("PLINTH_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".plinth")))
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
        outln!("{}", serde_json::to_string_pretty(&v).expect("serializable"));
        return Ok(());
    }
    outln!("{}", file.display());
    match plugin.format() {
        Format::Component => outln!("  api:    plinth:plugin@{}", plugin.api_version()),
        Format::LegacyModule => outln!("  api:    legacy core module (alloc/dealloc/handle JSON ABI)"),
    }
    outln!("  sha256: {}", plugin.sha256());
    outln!("  kinds:  {}", plugin.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "));
    let imports: Vec<&str> = plugin.imports().iter().map(String::as_str).filter(|i| !i.starts_with("plinth:")).collect();
    if !imports.is_empty() {
        outln!("  imports: {}", imports.join(", "));
    }
    let c = plugin.capabilities();
    let fs: Vec<String> = c.fs.iter().map(|p| format!("{} -> {} ({:?})", p.guest, p.host.display(), p.mode)).collect();
    let env: Vec<&str> = c.env.iter().map(|(k, _)| k.as_str()).collect();
    let http: Vec<String> = c.http_granted.iter().map(|h| h.to_string()).collect();
    outln!(
        "  capabilities: fs [{}], env [{}], http [{}]{}",
        fs.join(", "),
        env.join(", "),
        http.join(", "),
        if c.stdio == Stdio::Drop { ", stdio dropped" } else { "" }
    );
    for line in &c.report.not_granted {
        outln!("  asked but not granted: {line}");
    }
    for kind in plugin.kinds() {
        for spec in plugin.specs().of(*kind) {
            let platform = spec.platform.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default();
            outln!("  {kind} {}{platform} — {}", spec.name, spec.description);
            if let Some(s) = &spec.input_schema {
                outln!("      input:  {s}");
            }
            if let Some(s) = &spec.output_schema {
                outln!("      output: {s}");
            }
        }
    }
    Ok(())
}

fn parse_json(what: &str, text: &str) -> Result<Json, Failure> {
    Json::parse(text).map_err(|e| Failure { code: 1, error: anyhow!("--{what} is not valid JSON: {e}") })
}

/// An installed plugin by name or handler reference (when FILE is not a file).
fn installed(handler: &str, tenant: Option<&str>) -> Result<(Plugin, Json), Failure> {
    let home = home()?;
    let (registry, _report) = Registry::open(&registry_runtime(&home)?, &home).map_err(anyhow::Error::from)?;
    match registry.resolve(handler, tenant) {
        Ok(found) => Ok((found.plugin.clone(), found.config.clone())),
        Err(e @ RegistryError::NotFound { .. }) => {
            let name = Handler::parse(handler).map(|h| h.name).unwrap_or_default();
            let desired = home.read_desired().map_err(anyhow::Error::from)?;
            let disabled =
                desired.plugin.iter().any(|d| d.name == name && !d.enabled && (d.tenant.is_none() || d.tenant.as_deref() == tenant));
            if disabled {
                return Err(anyhow!("plugin `{name}` is disabled: enable it with `plinth plugin enable {name}`").into());
            }
            Err(anyhow::Error::from(e).into())
        }
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
}

fn invoke(args: InvokeArgs) -> Result<(), Failure> {
    let by_name = !args.file.exists() && !args.file.extension().is_some_and(|e| e == "wasm");
    let (plugin, installed_config) = if by_name {
        let (p, config) = installed(&args.file.to_string_lossy(), args.tenant.as_deref())?;
        (p, Some(config))
    } else {
        (load(&args.file, &args.caps, &args.cache)?, None)
    };
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
    if let Some(config) = installed_config {
        ctx.config = config;
    }
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
    outln!("{output}");
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
        (None, Some(f)) if f.as_os_str() == "-" => std::io::read_to_string(std::io::stdin()).context("cannot read params from stdin")?,
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

fn home() -> Result<Home, Failure> {
    Home::from_env().ok_or_else(|| anyhow!("set PLINTH_HOME (or HOME) to locate the plugin state").into())
}

fn registry_runtime(home: &Home) -> Result<Runtime, Failure> {
    let config = RuntimeConfig { cache_dir: Some(home.cache_dir()), ..RuntimeConfig::default() };
    Ok(Runtime::with_config(config)?)
}

fn key(name: &str, tenant: &Option<String>) -> Key {
    Key { tenant: tenant.clone(), name: name.to_string() }
}

/// Prints the impact and asks (or refuses without a terminal unless --yes).
fn confirm(impact: &Impact, yes: bool) -> bool {
    for a in &impact.added {
        eprintln!("  + {a}  (new)");
    }
    for r in &impact.replaced {
        eprintln!("  ~ {r}  (implementation changes)");
    }
    for r in &impact.removed {
        eprintln!("  - {r}  (removed)");
    }
    if impact.needs_restart {
        eprintln!("  ! triggers or listeners change: restart them after applying");
    }
    if yes {
        return true;
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        eprintln!("refusing to apply without a terminal to confirm on; pass --yes");
        return false;
    }
    eprint!("apply? [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

fn registry_failure(e: RegistryError) -> Failure {
    let code = match &e {
        RegistryError::Declined => 8,
        RegistryError::Load { source: LoadError::Io { .. } | LoadError::Runtime(_) | LoadError::Limits(_), .. } => 1,
        RegistryError::Load { .. } => 6,
        RegistryError::Incompatible { .. } | RegistryError::Conflict { .. } | RegistryError::Manifest { .. } => 6,
        _ => 1,
    };
    Failure { code, error: e.into() }
}

fn plugin_cmd(cmd: PluginCmd) -> Result<(), Failure> {
    let home = home()?;
    match cmd {
        PluginCmd::Install { path, tenant, grants, yes } => {
            let runtime = registry_runtime(&home)?;
            eprintln!("installing {}:", path.display());
            let (locked, _) = install_confirmed(&runtime, &home, &path, tenant.as_deref(), grants.grants()?, |i| confirm(i, yes))
                .map_err(registry_failure)?;
            outln!("installed {} {} ({})", key(&locked.name, &locked.tenant), locked.version, locked.exports.join(", "));
        }
        PluginCmd::Update { name, path, tenant, grants, yes } => {
            let lock = home.read_lock().map_err(registry_failure)?;
            let current = lock
                .plugin
                .iter()
                .find(|p| p.name == name && p.tenant == tenant)
                .ok_or_else(|| registry_failure(RegistryError::NotInstalled(key(&name, &tenant))))?;
            let source = path.unwrap_or_else(|| PathBuf::from(&current.source));
            let desired = home.read_desired().map_err(registry_failure)?;
            let kept = desired.plugin.iter().find(|d| d.name == name && d.tenant == tenant).map(|d| d.grants.clone()).unwrap_or_default();
            let grants = if grants.allow_fs.is_empty() && grants.allow_env.is_empty() && grants.allow_http.is_empty() {
                kept
            } else {
                grants.grants()?
            };
            let runtime = registry_runtime(&home)?;
            eprintln!("updating {} from {}:", key(&name, &tenant), source.display());
            let (locked, _) =
                install_confirmed(&runtime, &home, &source, tenant.as_deref(), grants, |i| confirm(i, yes)).map_err(registry_failure)?;
            outln!("updated {} to {}", key(&locked.name, &locked.tenant), locked.version);
        }
        PluginCmd::List => {
            let lock = home.read_lock().map_err(registry_failure)?;
            let desired = home.read_desired().map_err(registry_failure)?;
            outln!("{:<24} {:<10} {:<10} {:<8} {:<8} EXPORTS", "NAME", "TENANT", "VERSION", "ENABLED", "API");
            for p in &lock.plugin {
                let enabled = desired.plugin.iter().find(|d| d.name == p.name && d.tenant == p.tenant).is_some_and(|d| d.enabled);
                outln!(
                    "{:<24} {:<10} {:<10} {:<8} {:<8} {}",
                    p.name,
                    p.tenant.as_deref().unwrap_or("-"),
                    p.version,
                    if enabled { "yes" } else { "no" },
                    p.api,
                    p.exports.join(", ")
                );
            }
        }
        PluginCmd::Show { name, tenant } => {
            let lock = home.read_lock().map_err(registry_failure)?;
            let p = lock
                .plugin
                .iter()
                .find(|p| p.name == name && p.tenant == tenant)
                .ok_or_else(|| registry_failure(RegistryError::NotInstalled(key(&name, &tenant))))?;
            let desired = home.read_desired().map_err(registry_failure)?;
            let d = desired.plugin.iter().find(|d| d.name == name && d.tenant == tenant);
            outln!("{}", key(&p.name, &p.tenant));
            outln!("  version:  {}", p.version);
            outln!("  enabled:  {}", d.is_some_and(|d| d.enabled));
            outln!("  api:      {}", p.api);
            outln!("  exports:  {}", p.exports.join(", "));
            outln!("  source:   {}", p.source);
            outln!("  wasm:     sha256 {}", p.wasm_sha256);
            if let Some(m) = &p.manifest_sha256 {
                outln!("  manifest: sha256 {m}");
            }
            if let Some(d) = d {
                let g = &d.grants;
                let fs: Vec<String> = g.fs.iter().map(|f| format!("{} -> {}", f.guest, f.host.display())).collect();
                let env: Vec<&str> = g.env.iter().map(|e| e.name.as_str()).collect();
                let http: Vec<String> = g.http.iter().map(|h| h.to_string()).collect();
                outln!("  grants:   fs [{}], env [{}], http [{}]", fs.join(", "), env.join(", "), http.join(", "));
            }
        }
        PluginCmd::Enable { name, tenant } => {
            set_enabled(&home, &key(&name, &tenant), true).map_err(registry_failure)?;
            outln!("enabled {}", key(&name, &tenant));
        }
        PluginCmd::Disable { name, tenant } => {
            set_enabled(&home, &key(&name, &tenant), false).map_err(registry_failure)?;
            outln!("disabled {}", key(&name, &tenant));
        }
        PluginCmd::Uninstall { name, tenant } => {
            uninstall(&home, &key(&name, &tenant)).map_err(registry_failure)?;
            outln!("uninstalled {}", key(&name, &tenant));
        }
        PluginCmd::Doctor { repair: fix } => {
            if fix {
                for line in repair(&home).map_err(registry_failure)? {
                    outln!("repaired {line}");
                }
            }
            let runtime = registry_runtime(&home)?;
            let problems = doctor(&runtime, &home).map_err(registry_failure)?;
            if problems.is_empty() {
                outln!("ok: no problems found in {}", home.root().display());
                return Ok(());
            }
            for p in &problems {
                outln!("{}: {} — fix: {}", p.plugin, p.problem, p.fix);
            }
            return Err(Failure { code: 1, error: anyhow!("{} problem(s) found", problems.len()) });
        }
    }
    Ok(())
}
