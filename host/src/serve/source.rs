//! What the `source` of `POST /plugins` and `PATCH /plugins/{name}` names: for a wasm
//! plugin, a path on the server (a `.wasm`, a plugin directory, or its `plinth.toml`); for a
//! remote plugin (`plugin_type: "grpc"`), an endpoint `host:port/Svc.Method`. Checked
//! before any write, so a bad source is the request's fault (400), not the server's.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;

use super::error::ApiError;
use super::store::StateStore;
use crate::engine::Runtime;
use crate::registry::state::PluginType;
use crate::registry::{Key, Meta, RegistryError};

/// The longest `source` accepted (Orch8's limit).
const MAX_SOURCE: usize = 2048;

/// A checked source.
pub(crate) enum Source {
    Path(PathBuf),
    /// A remote plugin's handler reference, `grpc://host:port/Svc.Method`.
    Remote(String),
}

impl Source {
    /// Checks `text` as the source of a plugin of `plugin_type`.
    pub(crate) async fn check(plugin_type: PluginType, text: &str) -> Result<Source, ApiError> {
        if text.len() > MAX_SOURCE {
            return Err(ApiError::bad_request(format!("source is {} characters, over the {MAX_SOURCE}-character limit", text.len())));
        }
        match plugin_type {
            PluginType::Grpc => {
                crate::remote::Endpoint::parse(text).map(|e| Source::Remote(e.handler())).map_err(|e| ApiError::bad_request(e.to_string()))
            }
            PluginType::Wasm => {
                let path = PathBuf::from(text);
                if !path.exists() {
                    return Err(ApiError::bad_request(format!(
                        "source `{text}` does not exist on the server (a .wasm, a plugin directory or its plinth.toml)"
                    )));
                }
                readable(&path).await?;
                Ok(Source::Path(path))
            }
        }
    }

    /// As the record shows it.
    pub(crate) fn text(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Remote(h) => h.clone(),
        }
    }

    /// Installs `key` from this source (blocking: a wasm install compiles).
    pub(crate) fn install(&self, store: &dyn StateStore, runtime: &Runtime, key: &Key, meta: Meta) -> Result<(), RegistryError> {
        match self {
            Source::Path(p) => store.install(runtime, key, p, meta),
            Source::Remote(h) => store.install_remote(runtime, key, h, meta),
        }
    }

    /// Reinstalls `key` from this source (a remote plugin's endpoint goes as its path).
    pub(crate) fn update(&self, store: &dyn StateStore, runtime: &Runtime, key: &Key) -> Result<(), RegistryError> {
        match self {
            Source::Path(p) => store.update(runtime, key, p),
            Source::Remote(h) => store.update(runtime, key, Path::new(h)),
        }
    }
}

/// Checks that `source` can be read as a plugin (its manifest, or the `.wasm`).
async fn readable(source: &Path) -> Result<(), ApiError> {
    let path = source.to_path_buf();
    let checked = tokio::task::spawn_blocking(move || crate::registry::source_name(&path))
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?;
    match checked {
        Ok(_) => Ok(()),
        Err(e @ RegistryError::Io { .. }) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_source", super::error::chain(&e))),
        Err(e) => Err(e.into()),
    }
}
