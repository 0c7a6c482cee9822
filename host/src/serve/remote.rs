//! Remote plugins in the registry API: `POST /plugins` with `plugin_type: "grpc"` and a
//! `source` that is an endpoint (`host:port/Svc.Method`), not a path on the server.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;

use super::App;
use super::api::{MAX_SOURCE, blocking, installing, installing_json, not_stored};
use super::error::ApiError;
use crate::registry::state::PluginType;
use crate::registry::{Key, Meta};

/// `POST /plugins` of a remote plugin (`plugin_type: "grpc"`, `source: "host:port/Svc.Method"`).
pub(crate) async fn create(app: Arc<App>, key: Key, source: String, meta: Meta) -> Result<Response, ApiError> {
    let handler = self::source(&source)?;
    not_stored(&app, &key).await?;
    let record = installing_json(&key, PluginType::Grpc, &handler, meta.config.as_ref(), meta.description.as_deref());
    let task_app = app.clone();
    let k = key.clone();
    installing(&app, key, "installing", record, async move {
        let app = task_app;
        let _write = app.writes.lock().await;
        not_stored(&app, &k).await?;
        let (store, runtime, key) = (app.store.clone(), app.runtime.clone(), k.clone());
        blocking(move || store.install_remote(&runtime, &key, &handler, meta)).await?;
        app.reconcile().await?;
        Ok(StatusCode::CREATED)
    })
    .await
}

/// A remote plugin's `source`, checked: `host:port/Svc.Method` (or `grpc://…`, `grpcs://…`),
/// as its handler reference.
pub(crate) fn source(source: &str) -> Result<String, ApiError> {
    if source.len() > MAX_SOURCE {
        return Err(ApiError::bad_request(format!("source is {} characters, over the {MAX_SOURCE}-character limit", source.len())));
    }
    crate::remote::Endpoint::parse(source).map(|e| e.handler()).map_err(|e| ApiError::bad_request(e.to_string()))
}
