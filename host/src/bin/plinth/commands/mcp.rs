//! `plinth mcp [FILE.wasm | NAME]…`: the tools of plugins served to an MCP client on
//! stdin/stdout (logs on stderr).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use plinth::Json;
use plinth::mcp::{ToolServer, Tools, Watch, serve_stdio};
use plinth::registry::Registry;

use super::{home, load, registry_runtime};
use crate::exit::{Failure, registry_failure};
use crate::flags::{CacheArgs, CapArgs, parse_tenant};

/// Serve plugins' tools over MCP on stdio.
#[derive(Args)]
pub struct McpArgs {
    /// Components (.wasm) to serve as they are, or installed plugins by name; none: every
    /// enabled tool of the installed plugins in scope. Not both kinds at once.
    plugins: Vec<PathBuf>,
    /// Whose installed plugins: the tenant's own, then the global ones.
    #[arg(long, value_parser = parse_tenant)]
    tenant: Option<String>,
    /// How often to pick up installs and updates made elsewhere, milliseconds.
    #[arg(long, default_value_t = 1_000)]
    reconcile_ms: u64,
    #[command(flatten)]
    caps: CapArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

fn is_file(p: &std::path::Path) -> bool {
    p.is_file() || p.extension().is_some_and(|e| e == "wasm")
}

pub fn run(args: McpArgs) -> Result<(), Failure> {
    let files: Vec<&PathBuf> = args.plugins.iter().filter(|p| is_file(p)).collect();
    let (server, watch) = if files.is_empty() {
        let home = home()?;
        let runtime = registry_runtime(&home)?;
        let (registry, report) = Registry::open(&runtime, &home).map_err(registry_failure)?;
        for (key, e) in &report.failed {
            eprintln!("warning: {key} is not loaded, so its tools are not served: {}", plinth::error::chain(e));
        }
        let registry = Arc::new(registry);
        let only = (!args.plugins.is_empty()).then(|| args.plugins.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>());
        if let Some(names) = &only {
            let scope = registry.in_scope(args.tenant.as_deref());
            if let Some(missing) = names.iter().find(|n| !scope.iter().any(|i| &i.key.name == *n)) {
                return Err(Failure { code: 3, error: anyhow!("no installed plugin `{missing}` in scope (see `plinth plugin list`)") });
            }
        }
        let tools = Tools::Registry { registry: registry.clone(), tenant: args.tenant.clone(), only };
        let watch = Watch { runtime, home, registry, tenant: args.tenant.clone(), every: Duration::from_millis(args.reconcile_ms.max(10)) };
        (ToolServer::new(tools), Some(watch))
    } else {
        if files.len() != args.plugins.len() {
            return Err(Failure { code: 2, error: anyhow!("give either .wasm files or installed plugins' names, not both") });
        }
        let mut plugins = Vec::new();
        for f in files {
            plugins.push((load(f, &args.caps, &args.cache)?, Json::from(serde_json::json!({}))));
        }
        (ToolServer::new(Tools::Plugins(Arc::new(plugins))), None)
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(serve_stdio(server, watch)).map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
