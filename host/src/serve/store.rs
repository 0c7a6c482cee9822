//! Where the server's plugin state lives. Handlers see only [`StateStore`]; the embedded
//! default, [`FileStore`], is the `$PLINTH_HOME` the CLI uses (plugins.toml, plinth.lock,
//! store/), so a plugin installed by either shows up in the other. A database backend for
//! several replicas implements the same trait.

use std::path::Path;

use crate::caps::grants::Grants;
use crate::engine::Runtime;
use crate::registry::state::{Home, LockedPlugin, PluginType};
use crate::registry::{self, Discovery, Export, Key, Meta, Registry, RegistryError};
use crate::types::Kind;

/// One installed plugin as the registry API shows it: the desired state joined with the
/// lock.
#[derive(Debug, Clone)]
pub struct PluginRecord {
    pub key: Key,
    /// `wasm` or `grpc` (a remote plugin).
    pub plugin_type: PluginType,
    pub source: String,
    pub enabled: bool,
    pub config: serde_json::Value,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    /// From the lock; absent when the install did not finish.
    pub locked: Option<Locked>,
}

/// What the lock says about an installed plugin.
#[derive(Debug, Clone)]
pub struct Locked {
    pub version: String,
    pub sha256: String,
    pub kinds: Vec<Kind>,
    pub exports: Vec<Export>,
}

impl From<&LockedPlugin> for Locked {
    fn from(l: &LockedPlugin) -> Self {
        Locked { version: l.version.clone(), sha256: l.wasm_sha256.clone(), kinds: l.kinds.clone(), exports: l.exports.clone() }
    }
}

/// A change to an installed plugin's desired state (PATCH without a new source).
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub enabled: Option<bool>,
    pub config: Option<toml::Table>,
    pub description: Option<String>,
}

/// The plugin state the server reads and writes. Methods block (file or database I/O, and
/// installs compile the plugin): the server calls them on its blocking pool.
pub trait StateStore: Send + Sync + 'static {
    /// Every installed plugin, all tenants.
    fn list(&self) -> Result<Vec<PluginRecord>, RegistryError>;
    /// Installs from `source` (a path on the server) for `key.tenant`; the name comes from
    /// the source and must be `key.name`.
    fn install(&self, runtime: &Runtime, key: &Key, source: &Path, meta: Meta) -> Result<(), RegistryError>;
    /// Registers remote plugin `key` at `handler` (`grpc://host:port/Svc.Method`).
    fn install_remote(&self, runtime: &Runtime, key: &Key, handler: &str, meta: Meta) -> Result<(), RegistryError>;
    /// Reinstalls `key` from `source` (hot reload: running calls finish on the old code);
    /// for a remote plugin, `source` is its new endpoint.
    fn update(&self, runtime: &Runtime, key: &Key, source: &Path) -> Result<(), RegistryError>;
    fn edit(&self, key: &Key, edit: Edit) -> Result<(), RegistryError>;
    fn uninstall(&self, key: &Key) -> Result<(), RegistryError>;
    /// Brings `registry` in line with the stored state.
    fn reconcile(&self, runtime: &Runtime, registry: &Registry) -> Result<Discovery, RegistryError>;
}

/// The files of a `$PLINTH_HOME`.
pub struct FileStore {
    home: Home,
}

impl FileStore {
    pub fn new(home: Home) -> FileStore {
        FileStore { home }
    }
    pub fn home(&self) -> &Home {
        &self.home
    }
}

impl StateStore for FileStore {
    fn list(&self) -> Result<Vec<PluginRecord>, RegistryError> {
        let desired = self.home.read_desired()?;
        let lock = self.home.read_lock()?;
        Ok(desired
            .plugin
            .iter()
            .map(|d| PluginRecord {
                key: d.key(),
                plugin_type: d.plugin_type,
                source: d.source.clone(),
                enabled: d.enabled,
                config: d.config.as_ref().and_then(|c| serde_json::to_value(c).ok()).unwrap_or_else(|| serde_json::json!({})),
                description: d.description.clone().unwrap_or_default(),
                created_at: d.created_at.clone().unwrap_or_default(),
                updated_at: d.updated_at.clone().unwrap_or_default(),
                locked: lock.find(&d.key()).map(Locked::from),
            })
            .collect())
    }

    fn install(&self, runtime: &Runtime, key: &Key, source: &Path, meta: Meta) -> Result<(), RegistryError> {
        let found = registry::source_name(source)?;
        if found != key.name {
            return Err(RegistryError::NameMismatch { installed: key.clone(), found, path: source.to_path_buf() });
        }
        registry::install_with(runtime, &self.home, source, key.tenant.as_deref(), Grants::default(), meta, |_| true).map(|_| ())
    }

    fn install_remote(&self, runtime: &Runtime, key: &Key, handler: &str, meta: Meta) -> Result<(), RegistryError> {
        registry::install_remote(runtime, &self.home, &key.name, handler, key.tenant.as_deref(), meta, |_| true).map(|_| ())
    }

    fn update(&self, runtime: &Runtime, key: &Key, source: &Path) -> Result<(), RegistryError> {
        registry::update(runtime, &self.home, key, Some(source), None, |_| true).map(|_| ())
    }

    fn edit(&self, key: &Key, edit: Edit) -> Result<(), RegistryError> {
        registry::edit(&self.home, key, |d| {
            if let Some(e) = edit.enabled {
                d.enabled = e;
            }
            if let Some(c) = edit.config {
                d.config = Some(c);
            }
            if let Some(t) = edit.description {
                d.description = Some(t);
            }
        })
    }

    fn uninstall(&self, key: &Key) -> Result<(), RegistryError> {
        registry::uninstall(&self.home, key)
    }

    fn reconcile(&self, runtime: &Runtime, registry: &Registry) -> Result<Discovery, RegistryError> {
        registry.refresh(runtime, &self.home)
    }
}
