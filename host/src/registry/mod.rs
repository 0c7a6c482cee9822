//! The plugin registry (library API): installed plugins by tenant and name, handler
//! references resolved **tenant first, then global, then not found**, registration that is
//! atomic per plugin (all its exports or none), and hot reload by generation.
//!
//! Hot reload: registering a plugin under a key that exists swaps in a new generation.
//! Resolving hands out an `Arc` of the current generation, so a call that resolved before
//! the swap finishes on the old generation while new calls get the new one; the old
//! generation (its compiled code and warm instances) is freed when its last call ends.

mod classes;
pub mod discover;
mod doctor;
mod handler;
mod install;
pub mod manifest;
mod name;
mod refresh;
pub mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::plugin::Plugin;
use crate::types::{Json, Kind};

pub use classes::{CapabilityCall, DispatchClass, DispatchError, Dispatched, Provider, ProviderCall, Selector};
pub use discover::{Found, FoundPlugin};
pub use doctor::{Problem, doctor, repair};
pub use handler::Handler;
pub(crate) use install::fault_point;
pub use install::{Meta, edit, install, install_confirmed, install_remote, install_with, set_enabled, source_name, uninstall, update};
pub use manifest::{ListenerSettings, Manifest, ManifestError, Provided, TriggerSettings, check_capability};
pub use name::{MAX_NAME_LEN, check_name};

/// Where an installed plugin lives: a tenant's own, or global (`tenant: None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub tenant: Option<String>,
    pub name: String,
}

impl Key {
    pub fn global(name: &str) -> Key {
        Key { tenant: None, name: name.to_string() }
    }
    pub fn tenant(tenant: &str, name: &str) -> Key {
        Key { tenant: Some(tenant.to_string()), name: name.to_string() }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tenant {
            Some(t) => write!(f, "{t}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One generation of an installed plugin.
#[derive(Debug)]
pub struct Installed {
    pub key: Key,
    pub version: semver::Version,
    pub plugin: Plugin,
    /// The plugin's config (manifest default merged with operator overrides).
    pub config: Json,
    /// 1 for the first registration under this key, +1 on each hot reload.
    pub generation: u64,
    /// How the host runs this plugin's triggers and listeners.
    pub settings: ExportSettings,
}

/// How the host runs a plugin's triggers and listeners, from its manifest and the
/// operator's plugins.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSettings {
    /// Poll intervals of the triggers that have one set (the operator's over the
    /// manifest's); the scheduler uses them when a poll does not ask for a delay.
    pub intervals: BTreeMap<String, std::time::Duration>,
    /// Per listener, the WebSocket URL the host connects to for it.
    pub connects: BTreeMap<String, String>,
    /// The capabilities it implements (its manifest's `[provides] capabilities`), each by
    /// one node or tool: what [`Registry::dispatch`] selects on.
    pub capabilities: BTreeMap<String, manifest::Provided>,
}

/// One thing a plugin exports: a node, tool, trigger or listener by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    pub kind: Kind,
    pub name: String,
}

impl Export {
    /// Everything `plugin` exports, in kind order and then as it listed them.
    pub fn of(plugin: &Plugin) -> Vec<Export> {
        plugin.kinds().iter().flat_map(|&kind| plugin.specs().of(kind).iter().map(move |s| Export { kind, name: s.name.clone() })).collect()
    }
}

impl fmt::Display for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// What a registration changes, so an operator can see it before applying it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impact {
    /// Exports that did not exist before.
    pub added: Vec<Export>,
    /// Exports whose implementation changes.
    pub replaced: Vec<Export>,
    /// Exports that go away.
    pub removed: Vec<Export>,
    /// Triggers or listeners change: their schedules/connections must be restarted.
    pub needs_restart: bool,
    /// The same files, source and grants are installed already: nothing was written.
    pub unchanged: bool,
}

impl Impact {
    /// The change from `old` exports (`None`: not installed yet) to `new`.
    pub(crate) fn between(old: Option<&[Export]>, new: &[Export]) -> Impact {
        let before = old.unwrap_or_default();
        let restart = |e: &Export| matches!(e.kind, Kind::Trigger | Kind::Listener);
        Impact {
            added: new.iter().filter(|e| !before.contains(e)).cloned().collect(),
            replaced: new.iter().filter(|e| before.contains(e)).cloned().collect(),
            removed: before.iter().filter(|e| !new.contains(e)).cloned().collect(),
            needs_restart: old.is_some() && before.iter().chain(new).any(restart),
            unchanged: false,
        }
    }
}

/// The one conflict rule: two plugins of the same scope (the same tenant, or both global)
/// may not export the same kind and name. `others` are the other installed plugins with
/// their exports.
pub(crate) fn check_conflicts<'a>(
    key: &Key,
    new: &[Export],
    others: impl IntoIterator<Item = (Key, &'a [Export])>,
) -> Result<(), RegistryError> {
    for (other, theirs) in others {
        if other == *key || other.tenant != key.tenant {
            continue;
        }
        if let Some(e) = new.iter().find(|e| theirs.contains(e)) {
            return Err(RegistryError::Conflict {
                kind: e.kind,
                export: e.name.clone(),
                new: Box::new(key.clone()),
                existing: Box::new(other),
            });
        }
    }
    Ok(())
}

/// Registry failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("invalid manifest {}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: manifest::ManifestError,
    },
    #[error("plugin {plugin} is not compatible: {reason}")]
    Incompatible { plugin: String, reason: String },
    #[error("{kind} `{export}` of {new} is already provided by {existing}; rename one or install them for different tenants")]
    Conflict { kind: Kind, export: String, new: Box<Key>, existing: Box<Key> },
    #[error("no plugin `{name}`{}", tenant.as_ref().map(|t| format!(" for tenant {t} or globally")).unwrap_or_default())]
    NotFound { name: String, tenant: Option<String> },
    #[error("plugin `{name}` is version {found}, not {wanted}")]
    VersionMismatch { name: String, wanted: String, found: semver::Version },
    #[error("bad handler reference `{handler}`: {reason} (use wasm://name, name@version or name)")]
    BadHandler { handler: String, reason: String },
    /// `plugins.toml` is not valid: it is the operator's file, so it is never rewritten
    /// for them.
    #[error("{} is not valid; fix or remove the entry it names", path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{reason}")]
    BadName { reason: String },
    #[error("{} names plugin `{found}`, but the plugin being updated is `{installed}`; install it as a plugin of its own instead", path.display())]
    NameMismatch { installed: Key, found: String, path: PathBuf },
    #[error("simulated crash at `{point}` (PLINTH_FAULT)")]
    SimulatedCrash { point: String },
    #[error("{} cannot be read: {reason}; nothing runs from it until it is rebuilt from plugins.toml and the store", path.display())]
    BadLock { path: PathBuf, reason: String },
    #[error(
        "{path} was modified (sha256 {actual}, locked {expected}): refusing to run it; restore it from its source (update or reinstall the plugin)"
    )]
    Tampered { path: PathBuf, expected: String, actual: String },
    /// The config the plugin would run with fails its manifest's `config_schema`.
    #[error("plugin {key} is missing config: {}; set it in the plugin's config (plugins.toml, or PATCH its config)", problems.join("; "))]
    MissingConfig { key: Key, problems: Vec<String> },
    #[error("cannot load {key}")]
    Load {
        key: Key,
        #[source]
        source: Box<crate::error::LoadError>,
    },
    #[error(transparent)]
    Capability(#[from] crate::caps::grants::CapabilityError),
    /// The confirmation callback of an install or update said no.
    #[error("not applied: the change was not confirmed")]
    Declined,
    #[error("plugin `{0}` is not installed")]
    NotInstalled(Key),
}

/// What [`Registry::open`] loaded and what it could not.
#[derive(Debug, Default)]
pub struct Discovery {
    pub loaded: Vec<Key>,
    /// Plugins that failed to load; the others were loaded anyway.
    pub failed: Vec<(Key, RegistryError)>,
    /// Installed but disabled.
    pub disabled: Vec<Key>,
}

/// Installed plugins. Thread-safe; share it behind an `Arc`.
#[derive(Default)]
pub struct Registry {
    entries: RwLock<BTreeMap<Key, Arc<Installed>>>,
    /// For plugins loaded from state: what they were loaded from (see `fingerprint`).
    loaded_from: RwLock<BTreeMap<Key, String>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Key, Arc<Installed>>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// What registering `plugin` under `key` would change, or the conflict that refuses it.
    pub fn impact(&self, key: &Key, plugin: &Plugin) -> Result<Impact, RegistryError> {
        Self::impact_in(&self.read(), key, plugin)
    }

    fn impact_in(entries: &BTreeMap<Key, Arc<Installed>>, key: &Key, plugin: &Plugin) -> Result<Impact, RegistryError> {
        let new = Export::of(plugin);
        let others: Vec<(Key, Vec<Export>)> = entries.iter().map(|(k, e)| (k.clone(), Export::of(&e.plugin))).collect();
        check_conflicts(key, &new, others.iter().map(|(k, e)| (k.clone(), e.as_slice())))?;
        let old = entries.get(key).map(|e| Export::of(&e.plugin));
        Ok(Impact::between(old.as_deref(), &new))
    }

    /// Registers `plugin` under `key`, all its exports or none. If `key` exists this is a
    /// hot reload: the new generation serves new calls, calls already running finish on
    /// the old one.
    pub fn register(
        &self,
        key: Key,
        version: semver::Version,
        plugin: Plugin,
        config: Json,
    ) -> Result<(Arc<Installed>, Impact), RegistryError> {
        self.register_with(key, version, plugin, config, ExportSettings::default())
    }

    /// [`Registry::register`] with the settings of its triggers and listeners.
    pub fn register_with(
        &self,
        key: Key,
        version: semver::Version,
        plugin: Plugin,
        config: Json,
        settings: ExportSettings,
    ) -> Result<(Arc<Installed>, Impact), RegistryError> {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let impact = Self::impact_in(&entries, &key, &plugin)?;
        let generation = entries.get(&key).map_or(1, |e| e.generation + 1);
        let installed = Arc::new(Installed { key: key.clone(), version, plugin, config, generation, settings });
        entries.insert(key, installed.clone());
        Ok((installed, impact))
    }

    /// Removes `key`; running calls finish on the generation they resolved.
    pub fn unregister(&self, key: &Key) -> Option<Arc<Installed>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(key)
    }

    /// The current generation of exactly `key` (no fallback to the global plugin).
    pub fn get(&self, key: &Key) -> Option<Arc<Installed>> {
        self.read().get(key).cloned()
    }

    /// All installed plugins, in key order.
    pub fn list(&self) -> Vec<Arc<Installed>> {
        self.read().values().cloned().collect()
    }

    /// The plugins `tenant` sees: its own, then the global ones it has no plugin of the
    /// same name for (the handler rule, per name); a tenant never sees another's. Without a
    /// tenant, the global ones.
    pub fn in_scope(&self, tenant: Option<&str>) -> Vec<Arc<Installed>> {
        let entries = self.read();
        let own: Vec<Arc<Installed>> =
            entries.values().filter(|i| i.key.tenant.is_some() && i.key.tenant.as_deref() == tenant).cloned().collect();
        let shadowed = |name: &str| own.iter().any(|i| i.key.name == name);
        let global: Vec<Arc<Installed>> = entries.values().filter(|i| i.key.tenant.is_none() && !shadowed(&i.key.name)).cloned().collect();
        own.into_iter().chain(global).collect()
    }

    /// Resolves a handler reference for `tenant`: the tenant's own plugin of that name
    /// first, then the global one, then not found. A tenant never reaches another
    /// tenant's plugin.
    pub fn resolve(&self, handler: &str, tenant: Option<&str>) -> Result<Arc<Installed>, RegistryError> {
        let h = Handler::parse(handler)?;
        let entries = self.read();
        let own = tenant.and_then(|t| entries.get(&Key::tenant(t, &h.name)));
        let found = own.or_else(|| entries.get(&Key::global(&h.name))).cloned();
        drop(entries);
        let found = found.ok_or_else(|| RegistryError::NotFound { name: h.name.clone(), tenant: tenant.map(str::to_string) })?;
        if let Some(req) = &h.version
            && !req.matches(&found.version)
        {
            return Err(RegistryError::VersionMismatch { name: h.name, wanted: req.to_string(), found: found.version.clone() });
        }
        Ok(found)
    }
}
