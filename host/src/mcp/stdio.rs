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
            let mut last_trouble = String::new();
            loop {
                tokio::time::sleep(w.every).await;
                let (runtime, home, registry) = (w.runtime.clone(), w.home.clone(), w.registry.clone());
                let report = tokio::task::spawn_blocking(move || registry.refresh(&runtime, &home)).await;
                // A reload that fails is said once per change of its reason, and the next
                // one is tried anyway: a broken state must not end hot reload.
                let trouble = match report {
                    Ok(Ok(report)) => {
                        report.failed.iter().map(|(k, e)| format!("{k}: {}", crate::error::chain(e))).collect::<Vec<_>>().join("; ")
                    }
                    Ok(Err(e)) => crate::error::chain(&e),
                    Err(e) => format!("the reload task failed: {e}"),
                };
                if trouble != last_trouble {
                    if !trouble.is_empty() {
                        tracing::warn!(problem = %trouble, "reload: not everything loaded");
                    }
                    last_trouble = trouble;
                }
                let now = server.fingerprint(w.tenant.as_deref());
                if now != before {
                    before = now;
                    server.announce();
                    // Sessions of the handshake revisions have no subscription: tell the peer.
                    let _ = peer.notify_tool_list_changed().await;
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
