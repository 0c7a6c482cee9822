//! The plugin registry (library API): installed plugins by tenant and name, handler
//! references resolved **tenant first, then global, then not found**, registration that is
//! atomic per plugin (all its exports or none), and hot reload by generation.
//!
//! Hot reload: registering a plugin under a key that exists swaps in a new generation.
//! Resolving hands out an `Arc` of the current generation, so a call that resolved before
//! the swap finishes on the old generation while new calls get the new one; the old
//! generation (its compiled code and warm instances) is freed when its last call ends.

pub mod manifest;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::plugin::Plugin;
use crate::types::{Json, Kind};

pub use manifest::Manifest;

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
}

/// What a registration changes, so an operator can see it before applying it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impact {
    /// Exported names that did not exist before (`kind name`).
    pub added: Vec<String>,
    /// Exported names whose implementation changes.
    pub replaced: Vec<String>,
    /// Exported names that go away.
    pub removed: Vec<String>,
    /// Triggers or listeners change: their schedules/connections must be restarted.
    pub needs_restart: bool,
}

/// Registry failures.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("plugin {plugin} is not compatible: {reason}")]
    Incompatible { plugin: String, reason: String },
    #[error("{kind} `{export}` of {new} is already provided by {existing}; rename one or install them for different tenants")]
    Conflict { kind: Kind, export: String, new: Key, existing: Key },
    #[error("no plugin `{name}`{}", tenant.as_ref().map(|t| format!(" for tenant {t} or globally")).unwrap_or_default())]
    NotFound { name: String, tenant: Option<String> },
    #[error("plugin `{name}` is version {found}, not {wanted}")]
    VersionMismatch { name: String, wanted: String, found: semver::Version },
    #[error("bad handler reference `{handler}`: {reason} (use wasm://name, name@version or name)")]
    BadHandler { handler: String, reason: String },
}

/// A parsed handler reference: `wasm://name`, `wasm://name@1.2.0`, `name@^1.2`, `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Handler {
    pub name: String,
    pub version: Option<semver::VersionReq>,
}

impl Handler {
    pub fn parse(text: &str) -> Result<Handler, RegistryError> {
        let bad = |reason: &str| RegistryError::BadHandler { handler: text.to_string(), reason: reason.to_string() };
        let rest = text.strip_prefix("wasm://").unwrap_or(text);
        let (name, version) = match rest.split_once('@') {
            Some((n, v)) => {
                // A bare version means exactly that version.
                let req = match semver::Version::parse(v) {
                    Ok(exact) => semver::VersionReq::parse(&format!("={exact}")),
                    Err(_) => semver::VersionReq::parse(v),
                };
                (n, Some(req.map_err(|_| bad("the version is not semver"))?))
            }
            None => (rest, None),
        };
        if name.is_empty() || name.contains('/') || name.contains(':') {
            return Err(bad("empty or malformed plugin name"));
        }
        Ok(Handler { name: name.to_string(), version })
    }
}

/// Installed plugins. Thread-safe; share it behind an `Arc`.
#[derive(Default)]
pub struct Registry {
    entries: RwLock<BTreeMap<Key, Arc<Installed>>>,
}

fn exports(plugin: &Plugin) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    for &kind in plugin.kinds() {
        for spec in plugin.specs().of(kind) {
            out.push((kind, spec.name.clone()));
        }
    }
    out
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
        let new = exports(plugin);
        // Two plugins of the same scope may not export the same name.
        for (other_key, other) in entries.iter() {
            if other_key == key || other_key.tenant != key.tenant {
                continue;
            }
            let theirs = exports(&other.plugin);
            if let Some((kind, export)) = new.iter().find(|e| theirs.contains(e)) {
                return Err(RegistryError::Conflict { kind: *kind, export: export.clone(), new: key.clone(), existing: other_key.clone() });
            }
        }
        let old = entries.get(key).map(|e| exports(&e.plugin)).unwrap_or_default();
        let label = |(k, n): &(Kind, String)| format!("{k} {n}");
        let restart = |k: &Kind| matches!(k, Kind::Trigger | Kind::Listener);
        let mut impact = Impact::default();
        for e in &new {
            if old.contains(e) {
                impact.replaced.push(label(e));
            } else {
                impact.added.push(label(e));
            }
        }
        for e in &old {
            if !new.contains(e) {
                impact.removed.push(label(e));
            }
        }
        impact.needs_restart = old.iter().chain(&new).any(|(k, _)| restart(k)) && entries.contains_key(key);
        Ok(impact)
    }

    /// Registers `plugin` under `key`, all its exports or none. If `key` exists this is a
    /// hot reload: the new generation serves new calls, calls already running finish on
    /// the old one.
    pub fn register(&self, key: Key, version: semver::Version, plugin: Plugin, config: Json) -> Result<(Arc<Installed>, Impact), RegistryError> {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let impact = Self::impact_in(&entries, &key, &plugin)?;
        let generation = entries.get(&key).map_or(1, |e| e.generation + 1);
        let installed = Arc::new(Installed { key: key.clone(), version, plugin, config, generation });
        entries.insert(key, installed.clone());
        Ok((installed, impact))
    }

    /// Removes `key`; running calls finish on the generation they resolved.
    pub fn unregister(&self, key: &Key) -> Option<Arc<Installed>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(key)
    }

    /// All installed plugins, in key order.
    pub fn list(&self) -> Vec<Arc<Installed>> {
        self.read().values().cloned().collect()
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
        if let Some(req) = &h.version {
            if !req.matches(&found.version) {
                return Err(RegistryError::VersionMismatch { name: h.name, wanted: req.to_string(), found: found.version.clone() });
            }
        }
        Ok(found)
    }
}
