//! Dispatch classes over HTTP: `POST /dispatch/{class}/{capability}[?plugin=&version=]`
//! with Orch8's envelope calls the capability's providers in the caller's scope as the
//! class says (see [`crate::registry::DispatchClass`]); `GET /capabilities` lists what is
//! in scope and who provides it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::api::{Caller, QueryResult, json_body, query};
use super::error::ApiError;
use super::invoke::{Envelope, off_reactor};
use crate::registry::{CapabilityCall, DispatchClass, DispatchError, Selector};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectorQuery {
    plugin: Option<String>,
    version: Option<String>,
}

pub(crate) async fn dispatch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((class, capability)): Path<(String, String)>,
    q: QueryResult<SelectorQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    let q = query(q)?;
    let class: DispatchClass = class.parse().map_err(ApiError::bad_request)?;
    crate::registry::check_capability(&capability)
        .map_err(|reason| ApiError::bad_request(format!("`{capability}` is not a capability name: {reason}")))?;
    let version = q
        .version
        .as_deref()
        .map(semver::VersionReq::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("version is not a version requirement (e.g. ^1.2): {e}")))?;
    let selector = Selector { plugin: q.plugin.filter(|p| !p.is_empty()), version };
    let envelope: Envelope = json_body(body, app.config.max_body).await?;
    let (context, input) = envelope.into_call(None, caller.tenant.clone())?;
    if !matches!(context.config.to_value(), Ok(Value::Object(_))) {
        return Err(ApiError::bad_request("context.config must be a JSON object (its keys are laid over each provider's config)"));
    }
    // One permit per provider call that may run at once, as that many single calls would
    // hold, and never more than half the server's slots: a broadcast must not starve the
    // other requests. It runs on as many as it could get, at least one.
    let share = (app.runtime.config().max_instances as usize / 2).max(1);
    let want = if matches!(class, DispatchClass::Singleton | DispatchClass::Chain) {
        1
    } else {
        app.registry.select(&capability, caller.tenant.as_deref(), &selector).len().clamp(1, share)
    };
    let busy = || ApiError::busy("the server is running as many calls as it allows; retry shortly");
    let mut permits = vec![app.calls.clone().try_acquire_owned().map_err(|_| busy())?];
    while permits.len() < want {
        match app.calls.clone().try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    let app2 = app.clone();
    let run = move || {
        let call = CapabilityCall {
            class,
            capability: &capability,
            tenant: caller.tenant.as_deref(),
            selector,
            input: &input,
            context,
            parallelism: Some(permits.len()),
        };
        let done = app2.registry.dispatch(&app2.runtime, &call).map_err(dispatch_error)?;
        drop(permits);
        Ok(done.to_json(|e| {
            let e = ApiError::of_invoke(e);
            let mut body = e.body();
            body["status"] = json!(e.status.as_u16());
            body
        }))
    };
    let report = off_reactor(run).await?;
    Ok((StatusCode::OK, axum::Json(report)).into_response())
}

/// 400 for a bad name, 404 `no_provider`, 409 `ambiguous` naming the candidates; a failed
/// singleton or chain step answers as that call would, saying which provider and step.
fn dispatch_error(e: DispatchError) -> ApiError {
    let message = crate::error::chain(&e);
    match e {
        DispatchError::BadCapability { .. } => ApiError::bad_request(message),
        DispatchError::NoProvider { .. } => ApiError::new(StatusCode::NOT_FOUND, "no_provider", message),
        DispatchError::Ambiguous { candidates, .. } => {
            let mut e = ApiError::new(StatusCode::CONFLICT, "ambiguous", message);
            e.details =
                Some(json!({"candidates": candidates.iter().map(|k| json!({"plugin": k.name, "tenant": k.tenant})).collect::<Vec<_>>()}));
            e
        }
        DispatchError::Failed { provider, step, completed, source, .. } => {
            let mut e = ApiError::of_invoke(&source);
            let names = |ks: &[crate::registry::Key]| ks.iter().map(|k| k.name.clone()).collect::<Vec<_>>();
            e.details = Some(json!({
                "provider": provider.name, "step": step, "completed": names(&completed),
                "cause": e.details.take().unwrap_or(Value::Null),
            }));
            e.message = message;
            e
        }
    }
}

/// `GET /capabilities`: `{"capabilities": {NAME: [{plugin, tenant, version, kind, export,
/// order}]}}` in the caller's scope, each list in chain order.
pub(crate) async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    let caps = app.registry.capabilities(caller.tenant.as_deref());
    let caps: serde_json::Map<String, Value> =
        caps.into_iter().map(|(name, ps)| (name, Value::Array(ps.iter().map(|p| p.to_json()).collect()))).collect();
    Ok(axum::Json(json!({ "capabilities": caps })).into_response())
}
