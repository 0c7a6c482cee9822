//! `plinth mcp`'s transport: one MCP session on stdin/stdout, and, for installed plugins,
//! a reconcile loop that picks up installs and updates made elsewhere and tells the client
//! (`notifications/tools/list_changed`).

use std::time::Duration;

use rmcp::ServiceExt;

use super::ToolServer;
use crate::engine::Runtime;
use crate::registry::Registry;
use crate::registry::state::Home;

/// Where a registry-backed server reloads from, and how often.
pub struct Watch {
    pub runtime: Runtime,
    pub home: Home,
    pub registry: std::sync::Arc<Registry>,
    pub tenant: Option<String>,
    pub every: Duration,
}

/// Serves `server` on stdin/stdout until the client closes its side. With `watch`, the
/// registry is brought in line with the home every `watch.every`, and a changed tool list
/// is announced to the client.
pub async fn serve_stdio(server: ToolServer, watch: Option<Watch>) -> Result<(), std::io::Error> {
    let running = server
        .clone()
        .serve(rmcp::transport::io::stdio_pipes())
        .await
        .map_err(|e| std::io::Error::other(format!("the MCP session did not start: {e}")))?;
    let reloader = watch.map(|w| {
        let peer = running.peer().clone();
        tokio::spawn(async move {
            let mut before = server.fingerprint(w.tenant.as_deref());
            loop {
                tokio::time::sleep(w.every).await;
                let (runtime, home, registry) = (w.runtime.clone(), w.home.clone(), w.registry.clone());
                let report = tokio::task::spawn_blocking(move || registry.refresh(&runtime, &home)).await;
                match report {
                    Ok(Ok(report)) => {
                        for (key, e) in &report.failed {
                            tracing::warn!(plugin = %key, error = %crate::error::chain(e), "plugin not loaded");
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %crate::error::chain(&e), "reload failed"),
                    Err(_) => return,
                }
                let now = server.fingerprint(w.tenant.as_deref());
                if now != before {
                    before = now;
                    if peer.notify_tool_list_changed().await.is_err() {
                        return;
                    }
                }
            }
        })
    });
    let quit = running.waiting().await;
    if let Some(r) = reloader {
        r.abort();
    }
    quit.map(|_| ()).map_err(|e| std::io::Error::other(format!("the MCP session failed: {e}")))
}
