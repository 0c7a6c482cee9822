//! `/mcp`: the installed plugins' tools over MCP's streamable HTTP transport (`rmcp`),
//! behind the server's auth. A tenant token sees that tenant's tools and the global ones;
//! an admin sees the globals, or a tenant's with `X-Tenant-Id`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::api::Caller;
use super::{App, Auth};
use crate::mcp::Scope;

pub(crate) fn router(app: &Arc<App>) -> Router<Arc<App>> {
    let tools = app.tools.clone();
    let mut config = StreamableHttpServerConfig::default();
    config.max_request_body_bytes = app.config.max_body;
    // rmcp checks `Host` against loopback names by default, against DNS rebinding of a
    // local server. Without auth the server only listens on loopback, so that stays; with
    // tokens a rebound page has no token, and clients reach the server by its own name.
    if matches!(app.config.auth, Auth::Tokens(_)) {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(move || Ok(tools.clone()), Arc::new(LocalSessionManager::default()), config);
    Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn_with_state(app.clone(), scope))
}

/// The server's auth in front of MCP: the caller's tenant rides in the request's
/// extensions to the tool server.
async fn scope(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    match Caller::of(&app, request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert(Scope(caller.tenant));
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}
