//! `plinth dispatch CLASS CAPABILITY`: call the installed providers of a capability as a
//! dispatch class says; the report JSON on stdout.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use plinth::error::chain;
use plinth::registry::{CapabilityCall, DispatchClass, DispatchError, Registry, Selector};
use plinth::{CallContext, InvokeError};
use reqwest::Method;
use serde_json::{Value, json};

use super::remote::Remote;
use super::{home, registry_runtime_allowing};
use crate::exit::{Failure, invoke_exit_code, registry_failure};
use crate::flags::parse_tenant;

/// Call every provider of a capability as a dispatch class says and print the report.
#[derive(Args)]
pub struct DispatchArgs {
    /// singleton, broadcast-collect, broadcast-notify, chain or capability.
    class: DispatchClass,
    /// The capability, as plugins list it under [provides] capabilities (notify.send).
    capability: String,
    /// Input JSON of every provider (in a chain, of the first). Default `{}`.
    #[arg(long, conflicts_with = "params_file")]
    params: Option<String>,
    /// Read the input JSON from a file (`-` for stdin).
    #[arg(long)]
    params_file: Option<PathBuf>,
    /// Only this plugin's provider.
    #[arg(long)]
    plugin: Option<String>,
    /// Only providers whose version matches (^1.2, >=2).
    #[arg(long, value_parser = semver::VersionReq::parse)]
    version: Option<semver::VersionReq>,
    /// Whose scope: the tenant's own plugins, then the global ones.
    #[arg(long, value_parser = parse_tenant)]
    tenant: Option<String>,
    /// Config keys laid over each provider's own config (JSON object).
    #[arg(long)]
    config: Option<String>,
    /// Workflow data JSON (the call context's `data`). Default `null`.
    #[arg(long)]
    data: Option<String>,
    /// Workflow instance id of the call context.
    #[arg(long, default_value = "")]
    instance_id: String,
    /// Step id of the call context (Orch8's `block_id`).
    #[arg(long, default_value = "")]
    step_id: String,
    /// Let remote providers reach this internal address (host pattern). Repeatable.
    #[arg(long, value_name = "PATTERN")]
    allow_remote: Vec<String>,
}

fn json_flag(what: &str, text: &Option<String>, default: &str) -> Result<Value, Failure> {
    serde_json::from_str(text.as_deref().unwrap_or(default))
        .map_err(|e| Failure { code: 1, error: anyhow!("--{what} is not valid JSON: {e}") })
}

fn params(args: &DispatchArgs) -> Result<String, Failure> {
    let text = match &args.params_file {
        Some(f) if f.as_os_str() == "-" => std::io::read_to_string(std::io::stdin()).map_err(|e| anyhow!("--params-file -: {e}"))?,
        Some(f) => std::fs::read_to_string(f).map_err(|e| anyhow!("--params-file {}: cannot read it: {e}", f.display()))?,
        None => args.params.clone().unwrap_or_else(|| "{}".into()),
    };
    serde_json::from_str::<Value>(&text).map_err(|e| Failure { code: 1, error: anyhow!("the input is not valid JSON: {e}") })?;
    Ok(text)
}

/// `--config`: an object whose keys are laid over each provider's config.
fn config(args: &DispatchArgs) -> Result<Value, Failure> {
    match json_flag("config", &args.config, "{}")? {
        v @ Value::Object(_) => Ok(v),
        _ => Err(Failure { code: 1, error: anyhow!("--config must be a JSON object (its keys are laid over each provider's config)") }),
    }
}

/// Exit 0 when every call succeeded; else the exit code of the failure of the first
/// plugin by name (locally and through a server alike), after the report was printed.
fn finish(report: &Value, mut failures: Vec<(String, String, u8)>) -> Result<(), Failure> {
    outln!("{report}");
    failures.sort();
    let Some((_, _, code)) = failures.first() else { return Ok(()) };
    let list = failures.iter().map(|(p, why, _)| format!("{p}: {why}")).collect::<Vec<_>>().join("; ");
    Err(Failure { code: *code, error: anyhow!("{} of {} providers failed: {list}", failures.len(), report["called"]) })
}

pub fn run(args: DispatchArgs) -> Result<(), Failure> {
    let input = params(&args)?;
    let home = home()?;
    let runtime = registry_runtime_allowing(&home, &args.allow_remote)?;
    let (registry, report) = Registry::open(&runtime, &home).map_err(registry_failure)?;
    for (key, e) in &report.failed {
        eprintln!("warning: {key} is not loaded, so it provides nothing: {}", chain(e));
    }
    let context = CallContext {
        instance_id: args.instance_id.clone(),
        step_id: args.step_id.clone(),
        config: plinth::Json::from(config(&args)?),
        data: plinth::Json::from(json_flag("data", &args.data, "null")?),
        ..CallContext::default()
    };
    let call = CapabilityCall::new(args.class, &args.capability, &input)
        .tenant(args.tenant.as_deref())
        .selector(Selector { plugin: args.plugin.clone(), version: args.version.clone() })
        .context(context);
    // A singleton's or a chain step's failure exits as that call would; no provider, or
    // several for a singleton, is 3 (as an export that is not there); a name that cannot
    // be a capability is a bad argument, 1.
    let done = registry.dispatch(&runtime, &call).map_err(|e| {
        let code = match &e {
            DispatchError::Failed { source, .. } => invoke_exit_code(source),
            DispatchError::BadCapability { .. } => 1,
            _ => 3,
        };
        Failure { code, error: e.into() }
    })?;
    let error = |e: &InvokeError| json!({"error": chain(e), "retryable": e.retryable()});
    let failures = done.failures().map(|(p, e)| (p.key().name.clone(), chain(e), invoke_exit_code(e))).collect();
    finish(&done.to_json(error), failures)
}

/// `plinth --server URL dispatch …`: the same dispatch made by the server
/// (`POST /dispatch/CLASS/CAPABILITY` with Orch8's envelope), its report printed.
pub fn run_remote(args: DispatchArgs, remote: &Remote) -> Result<(), Failure> {
    if !args.allow_remote.is_empty() {
        return Err(Failure { code: 2, error: anyhow!("not with --server: --allow-remote is the server operator's") });
    }
    let envelope = json!({
        "instance_id": args.instance_id,
        "block_id": args.step_id,
        "params": serde_json::from_str::<Value>(&params(&args)?).unwrap_or(Value::Null),
        "context": {"data": json_flag("data", &args.data, "null")?, "config": config(&args)?},
    });
    let query: Vec<String> = [("plugin", args.plugin.clone()), ("version", args.version.as_ref().map(|v| v.to_string()))]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", percent(&v))))
        .collect();
    let mut path = format!("/dispatch/{}/{}", args.class, percent(&args.capability));
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let report = remote.send(remote.request(Method::POST, &path, args.tenant.as_deref()).json(&envelope))?.body;
    let entries = match args.class {
        DispatchClass::BroadcastNotify => report["failures"].as_object().cloned().unwrap_or_default(),
        _ => report["results"]
            .as_object()
            .map(|r| r.iter().filter(|(_, v)| v["ok"] == false).map(|(k, v)| (k.clone(), v["error"].clone())).collect())
            .unwrap_or_default(),
    };
    let failures = entries
        .iter()
        .map(|(plugin, e)| {
            let status = e["status"].as_u64().and_then(|s| reqwest::StatusCode::from_u16(s as u16).ok()).unwrap_or_default();
            (
                plugin.clone(),
                e["error"].as_str().unwrap_or_default().to_string(),
                super::remote::exit_code(status, e["code"].as_str().unwrap_or("")),
            )
        })
        .collect();
    finish(&report, failures)
}

/// `text` with everything but RFC 3986's unreserved characters percent-encoded.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}
