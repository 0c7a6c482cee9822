//! `plinth test [DIR]`: a plugin project's fixture cases (`tests/*.json`) run through the
//! real host — load as an install would (manifest checked), a fresh instance per case with
//! the manifest's limits or the case's own — one line per case and `N passed, M failed`.
//!
//! A case file holds one case or a list of them:
//!
//! ```json
//! {"name": "greets", "export": "greet", "kind": "node", "input": {"name": "Ada"},
//!  "config": {}, "data": null, "tenant": null,
//!  "expect": {"output": {"message": "Hello, Ada!"}},
//!  "limits": {"fuel": 1000000, "timeout_ms": 500, "memory": "16M"}}
//! ```
//!
//! `expect` is one of `{"output": V}` (equal), `{"includes": V}` (V's keys, recursively,
//! with equal values) or `{"error": CODE}` (`InvokeError::code`: `invalid_input`,
//! `failed`, `deadline_exceeded`, `out_of_fuel`, ...).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use plinth::registry::Manifest;
use plinth::registry::discover::check_dir;
use plinth::{CallContext, Json, Kind, Plugin};
use serde::Deserialize;
use serde_json::Value;

use super::runtime;
use crate::exit::{Failure, registry_failure};
use crate::flags::CacheArgs;

/// Run a plugin's fixture cases (tests/*.json) through the host.
#[derive(Args)]
pub struct TestArgs {
    /// The plugin directory, with its plinth.toml and tests/ (default: here).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Only the cases whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    name: Option<String>,
    export: String,
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default = "empty_object")]
    input: Value,
    /// Laid key by key over the manifest's config.
    #[serde(default)]
    config: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    tenant: Option<String>,
    expect: Expect,
    #[serde(default)]
    limits: CaseLimits,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Expect {
    Output(Value),
    Includes(Value),
    Error(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CaseLimits {
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
    /// Bytes, or `512K`, `64M`.
    memory: Option<Value>,
}

/// The cases of `dir/tests`, in file name order, each named (file stem, and `#N` in a list).
fn cases(dir: &Path) -> Result<Vec<(String, Case)>, Failure> {
    let tests = dir.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tests)
        .map_err(|e| anyhow!("cannot read {}: {e} (write fixture cases as tests/NAME.json)", tests.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&f).map_err(|e| anyhow!("cannot read {}: {e}", f.display()))?;
        let bad = |e: serde_json::Error| Failure { code: 1, error: anyhow!("{} is not a fixture case: {e}", f.display()) };
        match serde_json::from_str::<Value>(&text).map_err(bad)? {
            Value::Array(list) => {
                for (i, v) in list.into_iter().enumerate() {
                    let case: Case = serde_json::from_value(v).map_err(bad)?;
                    out.push((case.name.clone().unwrap_or_else(|| format!("{stem}#{}", i + 1)), case));
                }
            }
            v => {
                let case: Case = serde_json::from_value(v).map_err(bad)?;
                out.push((case.name.clone().unwrap_or(stem), case));
            }
        }
    }
    Ok(out)
}

/// Whether `got` has everything `want` has: objects key by key (recursively), anything
/// else equal.
fn includes(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w.iter().all(|(k, v)| g.get(k).is_some_and(|gv| includes(gv, v))),
        _ => got == want,
    }
}

/// Runs one case: `Ok(detail)` when it passed, `Err(why)` when it did not.
fn run_case(plugin: &Plugin, base_config: &Value, case: &Case) -> Result<String, String> {
    let (kind, name) = plugin.pick_export(case.kind, Some(&case.export)).map_err(|e| plinth::error::chain(&e))?;
    let mut limits = *plugin.limits();
    if let Some(f) = case.limits.fuel {
        limits.fuel = f;
    }
    if let Some(t) = case.limits.timeout_ms {
        limits.timeout = Duration::from_millis(t);
    }
    match &case.limits.memory {
        None => {}
        Some(Value::Number(n)) => limits.memory = n.as_u64().ok_or("limits.memory must be a whole number of bytes")?,
        Some(Value::String(s)) => limits.memory = plinth::parse_size(s)?,
        Some(_) => return Err("limits.memory must be bytes or a size like \"64M\"".into()),
    }
    let plugin = plugin.with_limits(limits).map_err(|e| e.to_string())?;
    let mut config = base_config.clone();
    if let (Value::Object(base), Some(over)) = (&mut config, &case.config) {
        base.extend(over.clone());
    }
    let ctx = CallContext {
        tenant: case.tenant.clone(),
        step_id: format!("test:{}", case.export),
        config: Json::from(config),
        data: Json::from(case.data.clone()),
        ..CallContext::default()
    };
    let started = std::time::Instant::now();
    let out = plugin.invoke(kind, &name, &ctx, &case.input.to_string());
    let took = format!("{kind} {name}, {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
    let got = match &out {
        Ok(o) => Ok(serde_json::from_str::<Value>(o.output.as_str()).map_err(|e| format!("{took}: the output is not JSON: {e}"))?),
        Err(e) => Err(e),
    };
    match (&case.expect, got) {
        (Expect::Output(want), Ok(got)) if &got == want => Ok(took),
        (Expect::Includes(want), Ok(got)) if includes(&got, want) => Ok(took),
        (Expect::Error(want), Err(e)) if e.code() == want.as_str() => Ok(took),
        (Expect::Output(want) | Expect::Includes(want), Ok(got)) => Err(format!("{took}: expected output {want}, got {got}")),
        (Expect::Output(_) | Expect::Includes(_), Err(e)) => Err(format!("{took}: failed with {}: {}", e.code(), plinth::error::chain(&e))),
        (Expect::Error(want), Ok(got)) => Err(format!("{took}: expected error {want}, got output {got}")),
        (Expect::Error(want), Err(e)) => Err(format!("{took}: expected error {want}, got {}: {}", e.code(), plinth::error::chain(&e))),
    }
}

pub fn run(args: TestArgs) -> Result<(), Failure> {
    let runtime = runtime(&args.cache)?;
    let (plugin, found) = check_dir(&runtime, &args.dir).map_err(registry_failure)?;
    let manifest = Manifest::from_file(&args.dir.join("plinth.toml")).map_err(registry_failure)?;
    let config = manifest.config_json();
    let mut cases = cases(&args.dir)?;
    if let Some(f) = &args.filter {
        cases.retain(|(name, _)| name.contains(f.as_str()));
    }
    if cases.is_empty() {
        return Err(
            anyhow!("no fixture cases in {} (write tests/NAME.json; see `plinth test --help`)", args.dir.join("tests").display()).into()
        );
    }
    eprintln!("testing {} {} ({} cases)", found.name, found.version, cases.len());
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in &cases {
        match run_case(&plugin, &config, case) {
            Ok(detail) => {
                passed += 1;
                outln!("ok    {name} ({detail})");
            }
            Err(why) => {
                failed += 1;
                outln!("FAIL  {name}: {why}");
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 {
        return Err(Failure { code: 1, error: anyhow!("{failed} of {} fixture cases failed", cases.len()) });
    }
    Ok(())
}
