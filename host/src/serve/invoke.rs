//! Invoke over HTTP: `POST /invoke/{plugin}/{export}[?kind=]` and Orch8's remote-plugin
//! form `POST /{plugin}.{export}`, both with Orch8's envelope
//! `{instance_id, block_id, params, context: {data, config}, attempt}`. The response body
//! is the plugin's output JSON; fuel, wall time and pre-warming are in headers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::App;
use super::api::{Caller, QueryResult, json_body, query};
use super::error::ApiError;
use crate::registry::{Key, RegistryError};
use crate::types::{CallContext, Json, Kind};

/// Orch8's step envelope; every field is optional.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Envelope {
    instance_id: String,
    block_id: String,
    params: Option<Value>,
    context: Context,
    attempt: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Context {
    data: Option<Value>,
    config: Option<Value>,
}

impl Envelope {
    /// The call context and input (`params`, default `{}`) it asks for. With `installed`
    /// (a plugin's config), the envelope's `context.config` keys are laid over it here;
    /// without, `context.config` is passed on as it is (a dispatch lays it over each
    /// provider's config).
    pub(crate) fn into_call(self, installed: Option<&Json>, tenant: Option<String>) -> Result<(CallContext, String), ApiError> {
        let json = |v: Option<Value>, default: &str| v.map_or_else(|| default.to_string(), |v| v.to_string());
        // The installed config as it is, unless the envelope lays keys over it (Orch8
        // usually sends `{}`): no parse and re-serialization of the config on every call.
        let config = match (self.context.config, installed) {
            (Some(Value::Object(over)), Some(installed)) if !over.is_empty() => {
                let mut merged = installed.to_value().unwrap_or(Value::Null);
                if let Value::Object(base) = &mut merged {
                    base.extend(over);
                }
                Json::parse(merged.to_string()).map_err(|e| ApiError::internal(e.to_string()))?
            }
            (_, Some(installed)) => installed.clone(),
            (Some(v), None) if !v.is_null() => Json::from(v),
            (_, None) => Json::from(serde_json::json!({})),
        };
        let ctx = CallContext {
            instance_id: self.instance_id,
            step_id: self.block_id,
            attempt: self.attempt.unwrap_or(1),
            tenant,
            config,
            data: Json::parse(json(self.context.data, "null")).map_err(|e| ApiError::internal(e.to_string()))?,
        };
        Ok((ctx, json(self.params, "{}")))
    }
}

#[derive(Deserialize)]
pub(crate) struct KindQuery {
    kind: Option<String>,
}

pub(crate) async fn by_path(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((plugin, export)): Path<(String, String)>,
    q: QueryResult<KindQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(k.parse::<Kind>().map_err(|e| ApiError::bad_request(format!("kind: {e}")))?),
    };
    invoke(app, headers, &plugin, &export, kind, body).await
}

pub(crate) async fn by_target(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(target): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    // Plugin names have no dots, so the first dot ends the plugin's name.
    let (plugin, export) = target
        .split_once('.')
        .ok_or_else(|| ApiError::not_found(format!("`/{target}` is not `/PLUGIN.EXPORT` (Orch8's grpc://host:port/PLUGIN.EXPORT)")))?;
    invoke(app, headers, plugin, export, None, body).await
}

async fn invoke(
    app: Arc<App>,
    headers: HeaderMap,
    plugin: &str,
    export: &str,
    kind: Option<Kind>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = Caller::of(&app, &headers)?;
    let envelope: Envelope = json_body(body, app.config.max_body).await?;
    let installed = match app.registry.resolve(plugin, caller.tenant.as_deref()) {
        Ok(i) => i,
        Err(e @ RegistryError::NotFound { .. }) => return Err(not_running(&app, &caller, plugin, e)),
        Err(e) => return Err(e.into()),
    };
    let p = installed.plugin.clone();
    let (kind, name) = p.pick_export(kind, Some(export))?;
    let (ctx, input) = envelope.into_call(Some(&installed.config), caller.tenant.clone())?;
    let permit = app
        .calls
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy("the server is running as many calls as it allows; retry shortly"))?;
    let call = move || {
        let _permit = permit;
        p.invoke(kind, &name, &ctx, &input).map_err(ApiError::from)
    };
    let out = off_reactor(call).await?;
    let mut response = (StatusCode::OK, out.output.as_str().to_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("x-plinth-fuel", HeaderValue::from(out.fuel_used));
    h.insert("x-plinth-wall-us", HeaderValue::from(out.wall.as_micros() as u64));
    h.insert("x-plinth-prewarmed", HeaderValue::from_static(if out.prewarmed { "true" } else { "false" }));
    h.insert("x-plinth-generation", HeaderValue::from(installed.generation));
    Ok(response)
}

/// Runs a wasm call off the async reactor. On a multi-thread runtime, on this worker thread
/// turned into a blocking thread for its length: `block_in_place` first hands the worker's
/// other tasks (and the I/O driver) to another thread, so the reactor never waits on wasm.
/// It avoids `spawn_blocking`'s two wake-ups per call (the blocking thread's, then the
/// worker's for the result); on this VM the A/B was within run-to-run noise (9a − 2: 245 µs
/// with spawn_blocking in a slow run, 182 and 208 µs with this); where the server's time
/// goes is measured in bench/REPORT.md, rows 9a–9c. The caller bounds the number of calls
/// (a permit); each ends at its own deadline (epoch interruption, bounded host waits).
pub(crate) async fn off_reactor<T: Send + 'static>(call: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(call)
    } else {
        // An embedder's current-thread runtime has no worker to hand over (block_in_place
        // would panic there): use the blocking pool.
        tokio::task::spawn_blocking(call).await.map_err(|e| ApiError::internal(format!("the call's task failed: {e}")))?
    }
}

/// Why `plugin` is not running for `caller`: disabled or missing config (409, with what to
/// do), being installed or failed to load (503), or not installed (404).
fn not_running(app: &App, caller: &Caller, plugin: &str, e: RegistryError) -> ApiError {
    let own = caller.tenant.as_ref().and_then(|t| app.statuses.get(&Key::tenant(t, plugin)));
    let status = own.or_else(|| app.statuses.get(&Key::global(plugin)));
    let unavailable = |code, m: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, m);
    match status {
        Some(s) if s.state == "disabled" => ApiError::new(
            StatusCode::CONFLICT,
            "disabled",
            format!(
                "plugin `{plugin}` is disabled: enable it with PATCH /plugins/{plugin} {{\"enabled\": true}} (or `plinth plugin enable {plugin}`)"
            ),
        ),
        Some(s) if s.state == "missing_config" => ApiError::new(
            StatusCode::CONFLICT,
            "missing_config",
            s.last_error.unwrap_or_else(|| format!("plugin `{plugin}` is missing config")),
        ),
        Some(s) if s.state == "installing" => {
            unavailable("installing", format!("plugin `{plugin}` is being installed; retry when GET /plugins/{plugin} shows running"))
        }
        Some(s) if s.state == "error" => {
            unavailable("plugin_error", format!("plugin `{plugin}` failed to load: {}", s.last_error.unwrap_or_default()))
        }
        _ => e.into(),
    }
}
