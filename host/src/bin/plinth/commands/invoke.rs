//! `plinth invoke FILE|NAME`: one call, output JSON on stdout.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use plinth::registry::{Handler, Registry, RegistryError};
use plinth::{CallContext, InvokeError, Json, Kind, Limits, Plugin};
use serde_json::json;

use reqwest::Method;
use serde_json::Value;

use super::remote::Remote;
use super::{home, load, registry_runtime_allowing};
use crate::exit::{Failure, registry_failure};
use crate::flags::{CacheArgs, CapArgs, parse_tenant};

/// Call a plugin once and print its output JSON on stdout (logs, fuel and time on stderr).
#[derive(Args)]
pub struct InvokeArgs {
    /// A component or legacy module (.wasm), an installed plugin's name or handler
    /// reference (name, name@version, wasm://name), or a remote plugin's endpoint
    /// (grpc://host:port/Svc.Method, grpcs://…).
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
    /// Tenant: the call context's `tenant`, and for an installed plugin the scope it is
    /// resolved in (the tenant's own plugin first, then a global one).
    #[arg(long, value_parser = parse_tenant)]
    tenant: Option<String>,
    /// Workflow instance id of the call context (`instance_id`). Default empty.
    #[arg(long, default_value = "")]
    instance_id: String,
    /// Step id of the call context (`step_id`, Orch8's `block_id`). Default empty.
    #[arg(long, default_value = "")]
    step_id: String,
    /// Fuel budget (default 1000000000).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory cap in bytes; K, M and G suffixes are binary (default 64M).
    #[arg(long, value_parser = plinth::parse_size)]
    memory: Option<u64>,
    /// Wall-clock deadline in milliseconds (default 5000).
    #[arg(long)]
    timeout: Option<u64>,
    /// Output cap in bytes; K, M and G suffixes are binary (default 16M).
    #[arg(long, value_parser = plinth::parse_size)]
    max_output: Option<u64>,
    /// Let remote plugins reach this internal address (loopback, private, link-local,
    /// metadata), as a host pattern: 127.0.0.1:*, localhost:50051. Repeatable. Public
    /// addresses need no allowance.
    #[arg(long, value_name = "PATTERN")]
    allow_remote: Vec<String>,
    #[command(flatten)]
    caps: CapArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

fn parse_json(what: &str, text: &str) -> Result<Json, Failure> {
    Json::parse(text).map_err(|e| Failure { code: 1, error: anyhow!("--{what} is not valid JSON: {e}") })
}

/// An installed plugin by name or handler reference (when FILE is not a file).
pub(super) fn installed(handler: &str, tenant: Option<&str>, allow_remote: &[String]) -> Result<(Plugin, Json), Failure> {
    let home = home()?;
    let (registry, report) = Registry::open(&registry_runtime_allowing(&home, allow_remote)?, &home).map_err(registry_failure)?;
    match registry.resolve(handler, tenant) {
        Ok(found) => Ok((found.plugin.clone(), found.config.clone())),
        Err(e @ RegistryError::NotFound { .. }) => {
            let name = Handler::parse(handler).map(|h| h.name).unwrap_or_default();
            // Installed but refused at load (a stored file modified, a plugin that no longer
            // loads): say that, with its fix, rather than "no plugin".
            let scope = |k: &plinth::registry::Key| k.name == name && (k.tenant.is_none() || k.tenant.as_deref() == tenant);
            let failed = report.failed.into_iter().filter(|(k, _)| scope(k)).max_by_key(|(k, _)| k.tenant.is_some());
            if let Some((_, error)) = failed {
                return Err(registry_failure(error));
            }
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

impl InvokeArgs {
    /// Whether FILE is a component on this machine or a remote endpoint (else an
    /// installed plugin's name).
    pub fn is_local_file(&self) -> bool {
        self.is_endpoint() || self.file.is_file() || self.file.extension().is_some_and(|e| e == "wasm")
    }

    fn is_endpoint(&self) -> bool {
        let f = self.file.to_string_lossy();
        f.starts_with("grpc://") || f.starts_with("grpcs://")
    }
}

/// The name a remote plugin called by its endpoint has (its one node's).
const REMOTE_NODE: &str = "remote";

/// A remote plugin called by its endpoint, allowed what `--allow-remote` allows.
fn endpoint_plugin(args: &InvokeArgs) -> Result<Plugin, Failure> {
    let endpoint = plinth::Endpoint::parse(&args.file.to_string_lossy()).map_err(|e| Failure { code: 2, error: e.into() })?;
    let runtime = plinth::Runtime::with_config(plinth::RuntimeConfig { allow_remote: args.allow_remote.clone(), ..Default::default() })?;
    Ok(runtime.remote(REMOTE_NODE, &endpoint, &plinth::RemoteOptions::default())?)
}

pub fn run(args: InvokeArgs) -> Result<(), Failure> {
    let by_name = !args.is_local_file();
    let (plugin, installed_config) = if args.is_endpoint() {
        (endpoint_plugin(&args)?, None)
    } else if by_name {
        let (p, config) = installed(&args.file.to_string_lossy(), args.tenant.as_deref(), &args.allow_remote)?;
        (p, Some(config))
    } else {
        (load(&args.file, &args.caps, &args.cache)?, None)
    };
    let (kind, name) = plugin.pick_export(args.kind, args.name.as_deref()).map_err(|e| match e {
        InvokeError::InvalidRequest(m) => Failure::from(anyhow!("{m} (--kind, --name)")),
        e => Failure::from(e),
    })?;
    let plugin = with_limits(plugin, &args)?;
    let params = read_params(&args)?;
    let mut ctx = CallContext {
        tenant: args.tenant.clone(),
        instance_id: args.instance_id.clone(),
        step_id: args.step_id.clone(),
        ..CallContext::default()
    };
    if let Some(config) = installed_config {
        ctx.config = config;
    }
    if let Some(c) = &args.config {
        ctx.config = parse_json("config", c)?;
    }
    if let Some(d) = &args.data {
        ctx.data = parse_json("data", d)?;
    }

    let input = match kind {
        Kind::Trigger => json!({ "cursor": args.cursor }).to_string(),
        _ => params,
    };
    // The guest's JSON is printed verbatim (key order, number spelling).
    let out = plugin.invoke(kind, &name, &ctx, &input)?;
    let (output, fuel, wall) = (out.output.as_str(), out.fuel_used, out.wall);
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
    let (flag, text) = match (&args.params, &args.params_file) {
        (Some(p), _) => ("--params", p.clone()),
        (None, Some(f)) if f.as_os_str() == "-" => {
            ("--params-file -", std::io::read_to_string(std::io::stdin()).context("--params-file -: cannot read stdin")?)
        }
        (None, Some(f)) => {
            ("--params-file", std::fs::read_to_string(f).with_context(|| format!("--params-file {}: cannot read it", f.display()))?)
        }
        (None, None) => ("--params", "{}".to_string()),
    };
    Json::parse(&text).map_err(|e| Failure { code: 1, error: anyhow!("{flag} is not valid JSON: {e}") })?;
    Ok(text)
}

/// `plinth --server URL invoke NAME`: the call made by the server (`POST /invoke/NAME/EXPORT`
/// with Orch8's envelope), its output printed as a local call's is.
pub fn run_remote(args: InvokeArgs, remote: &Remote) -> Result<(), Failure> {
    let local_only = [
        (
            args.fuel.is_some() || args.memory.is_some() || args.timeout.is_some() || args.max_output.is_some(),
            "--fuel/--memory/--timeout/--max-output: limits are the server's (its plugins' manifests and [limits])",
        ),
        (args.caps.any() || !args.allow_remote.is_empty(), "--allow-*: grants are the server operator's"),
    ];
    if let Some((_, why)) = local_only.iter().find(|(given, _)| *given) {
        return Err(Failure { code: 2, error: anyhow!("not with --server: {why}") });
    }
    let handler = args.file.to_string_lossy().into_owned();
    let name = Handler::parse(&handler).map_err(registry_failure)?.name;
    let tenant = args.tenant.as_deref();
    let export = match &args.name {
        Some(n) => n.clone(),
        None => {
            // The one export (of --kind), as a local call picks it.
            let record = remote.send(remote.request(Method::GET, &format!("/plugins/{name}"), tenant))?.body;
            let exports: Vec<&Value> = record["exports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| args.kind.is_none_or(|k| e["kind"].as_str() == Some(k.as_str())))
                .collect();
            match exports.as_slice() {
                [one] => one["name"].as_str().unwrap_or_default().to_string(),
                [] => {
                    return Err(Failure {
                        code: 3,
                        error: anyhow!(
                            "{name} has no export{} on the server",
                            args.kind.map(|k| format!(" of kind {k}")).unwrap_or_default()
                        ),
                    });
                }
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .map(|e| format!("{} {}", e["kind"].as_str().unwrap_or("?"), e["name"].as_str().unwrap_or("?")))
                        .collect();
                    return Err(anyhow!("{name} has several exports ({}): pick one with --name (and --kind)", names.join(", ")).into());
                }
            }
        }
    };
    let params = read_params(&args)?;
    let params: Value = if args.kind == Some(Kind::Trigger) {
        json!({ "cursor": args.cursor })
    } else {
        serde_json::from_str(&params).map_err(|e| anyhow!("--params: {e}"))?
    };
    let parse = |what: &str, text: &Option<String>| -> Result<Value, Failure> {
        text.as_deref().map_or(Ok(Value::Null), |t| {
            serde_json::from_str(t).map_err(|e| Failure { code: 1, error: anyhow!("--{what} is not valid JSON: {e}") })
        })
    };
    let envelope = json!({
        "instance_id": args.instance_id,
        "block_id": args.step_id,
        "params": params,
        "context": {"data": parse("data", &args.data)?, "config": parse("config", &args.config)?},
        "attempt": 1,
    });
    let mut path = format!("/invoke/{name}/{export}");
    if let Some(k) = args.kind {
        path.push_str(&format!("?kind={k}"));
    }
    let answer = remote.send(remote.request(Method::POST, &path, tenant).json(&envelope))?;
    // The output as the server sent it (the guest's JSON, verbatim).
    match &answer.body {
        Value::String(text) => outln!("{text}"),
        v => outln!("{v}"),
    }
    let header = |h: &str| answer.headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
    let wall_ms = header("x-plinth-wall-us").parse::<f64>().map(|us| format!("{:.3}", us / 1e3)).unwrap_or_else(|_| "?".into());
    eprintln!("{export} on the server: {} fuel, {wall_ms} ms", header("x-plinth-fuel"));
    Ok(())
}
