//! Webhooks for listeners: `ANY /hooks/{plugin}/{listener}[/{rest}]`, or with the tenant in
//! the route, `/hooks/t/{tenant}/{plugin}/{listener}[/{rest}]`. The request becomes an
//! `InboundMessage` (method, the path after the listener, headers, the raw body) for the
//! listener's `handle`; its dispatches go to the outbox, and its reply (or `202`) goes back.
//!
//! A webhook carries no admin token: the sender is authenticated by the listener itself
//! (the sample chat listener checks an HMAC of the body). A tenant token, if one is sent,
//! names the tenant. Only listeners of loaded (enabled, running) plugins have a route.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::App;
use super::api::read_body;
use super::error::ApiError;
use crate::dispatch::{Event, OutboxError, Source};
use crate::registry::{Installed, check_name};
use crate::types::{CallContext, InboundMessage, Kind, Reply};

pub(crate) async fn global(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(p): Path<Vec<(String, String)>>,
    body: Body,
) -> Result<Response, ApiError> {
    let get = |name: &str| p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let tenant = match get("tenant") {
        Some(t) => {
            check_name("tenant", &t).map_err(ApiError::bad_request)?;
            Some(t)
        }
        None => token_tenant(&app, &headers)?,
    };
    let (plugin, listener) = (get("plugin").unwrap_or_default(), get("listener").unwrap_or_default());
    let rest = get("rest").unwrap_or_default();
    hook(app, tenant, &plugin, &listener, &rest, method, headers, body).await
}

/// The tenant of the token the request carries, if it carries one (a wrong one is `401`,
/// not a silent fall back to the global scope).
fn token_tenant(app: &App, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if headers.get(axum::http::header::AUTHORIZATION).is_none() {
        return Ok(None);
    }
    Ok(super::api::Caller::of(app, headers)?.tenant)
}

#[allow(clippy::too_many_arguments)] // the parts of one request, taken apart by the router
async fn hook(
    app: Arc<App>,
    tenant: Option<String>,
    plugin: &str,
    listener: &str,
    rest: &str,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let no_route = || ApiError::not_found(format!("no listener `{listener}` of a running plugin `{plugin}` here"));
    let installed = app.registry.resolve(plugin, tenant.as_deref()).map_err(|_| no_route())?;
    if !installed.plugin.specs().of(Kind::Listener).iter().any(|s| s.name == listener) {
        return Err(no_route());
    }
    let Some(outbox) = app.outbox.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_dispatcher",
            "this server has no dispatcher for events: start it with --dispatch-url or --dispatch-file",
        ));
    };
    let body = read_body(body, app.config.max_body).await?;
    let message = InboundMessage {
        method: method.as_str().to_string(),
        path: format!("/{rest}"),
        headers: headers.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect(),
        body: body.to_vec(),
    };
    let permit = app
        .calls
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("the server is running as many calls as it allows; retry shortly"))?;
    let (reply, events) = handle(installed, listener, message, permit).await?;
    // The sender hears `2xx` only once its events are on disk.
    outbox.accept(&events).map_err(|e| match e {
        e @ OutboxError::Full { .. } => ApiError::busy(e.to_string()),
        e => ApiError::internal(crate::error::chain(&e)),
    })?;
    let Some(reply) = reply else { return Ok(StatusCode::ACCEPTED.into_response()) };
    let status =
        StatusCode::from_u16(reply.status).map_err(|_| ApiError::internal(format!("the listener replied with status {}", reply.status)))?;
    // The listener's headers only (no default content type over its own).
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = status;
    for (k, v) in reply.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            response.headers_mut().append(k, v);
        }
    }
    Ok(response)
}

/// One message through listener `name` of `installed`, off the reactor, holding `permit`:
/// the listener's reply, and its dispatches as events (ids no other message's events get).
pub(crate) async fn handle(
    installed: Arc<Installed>,
    name: &str,
    message: InboundMessage,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(Option<Reply>, Vec<Event>), ApiError> {
    let name = name.to_string();
    super::invoke::off_reactor(move || {
        let _permit = permit;
        let key = &installed.key;
        let ctx = CallContext { tenant: key.tenant.clone(), config: installed.config.clone(), ..CallContext::default() };
        let out = installed.plugin.handle_message(&name, &ctx, &message)?;
        let source = Source { tenant: key.tenant.clone(), plugin: key.name.clone(), kind: Kind::Listener, name: name.clone() };
        let received = unique();
        let events = out
            .output
            .dispatches
            .iter()
            .enumerate()
            .map(|(i, d)| Event::new(format!("{received}-{i}"), source.clone(), d.event.clone(), &d.payload))
            .collect();
        Ok((out.output.reply, events))
    })
    .await
}

/// An id no other received message gets: time, process and a counter.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{now:x}-{:x}-{:x}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}
