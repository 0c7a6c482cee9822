//! `plinth invoke FILE|NAME`: one call, output JSON on stdout.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use plinth::registry::{Handler, Registry, RegistryError};
use plinth::{CallContext, InboundMessage, Json, Kind, Limits, Plugin};
use serde_json::{Value, json};

use super::{home, load, registry_runtime};
use crate::exit::{Failure, registry_failure};
use crate::flags::{CacheArgs, CapArgs, parse_tenant};

/// Call a plugin once and print its output JSON on stdout (logs, fuel and time on stderr).
#[derive(Args)]
pub struct InvokeArgs {
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
    #[command(flatten)]
    caps: CapArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

fn parse_json(what: &str, text: &str) -> Result<Json, Failure> {
    Json::parse(text).map_err(|e| Failure { code: 1, error: anyhow!("--{what} is not valid JSON: {e}") })
}

/// An installed plugin by name or handler reference (when FILE is not a file).
fn installed(handler: &str, tenant: Option<&str>) -> Result<(Plugin, Json), Failure> {
    let home = home()?;
    let (registry, report) = Registry::open(&registry_runtime(&home)?, &home).map_err(registry_failure)?;
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

pub fn run(args: InvokeArgs) -> Result<(), Failure> {
    let by_name = !args.file.is_file() && args.file.extension().is_none_or(|e| e != "wasm");
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
