//! The plugin registry (library API): installed plugins by tenant and name, handler
//! references resolved **tenant first, then global, then not found**, registration that is
//! atomic per plugin (all its exports or none), and hot reload by generation.
//!
//! Hot reload: registering a plugin under a key that exists swaps in a new generation.
//! Resolving hands out an `Arc` of the current generation, so a call that resolved before
//! the swap finishes on the old generation while new calls get the new one; the old
//! generation (its compiled code and warm instances) is freed when its last call ends.

pub mod manifest;
pub mod state;

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

impl Impact {
    /// The change from `old` exports (`None`: not installed yet) to `new`, both as
    /// `kind name` labels.
    fn between(old: Option<&[String]>, new: &[String]) -> Impact {
        let before = old.unwrap_or_default();
        let restart = |e: &String| e.starts_with("trigger ") || e.starts_with("listener ");
        Impact {
            added: new.iter().filter(|e| !before.contains(e)).cloned().collect(),
            replaced: new.iter().filter(|e| before.contains(e)).cloned().collect(),
            removed: before.iter().filter(|e| !new.contains(e)).cloned().collect(),
            needs_restart: old.is_some() && before.iter().chain(new).any(restart),
        }
    }
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
    #[error("plugin state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("{path} was modified (sha256 {actual}, locked {expected}): refusing to run it; reinstall the plugin")]
    Tampered { path: PathBuf, expected: String, actual: String },
    #[error("cannot load {key}: {source}")]
    Load {
        key: Key,
        #[source]
        source: crate::error::LoadError,
    },
    #[error(transparent)]
    Capability(#[from] crate::caps::grants::CapabilityError),
    #[error("not applied: the change was not confirmed (pass --yes to apply without asking)")]
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
    /// For plugins loaded from state: what they were loaded from (see `fingerprint`).
    loaded_from: RwLock<BTreeMap<Key, String>>,
}

/// Everything that defines an installed plugin's behaviour: its wasm, manifest, grants and
/// config. `refresh` reloads a plugin when this changes.
fn fingerprint(locked: &state::LockedPlugin, desired: Option<&state::DesiredPlugin>) -> String {
    let desired = desired.map(|d| toml::to_string(d).unwrap_or_default()).unwrap_or_default();
    state::sha256_hex(format!("{}\n{:?}\n{desired}", locked.wasm_sha256, locked.manifest_sha256).as_bytes())
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
        let old = entries.get(key).map(|e| exports_labels(&e.plugin));
        Ok(Impact::between(old.as_deref(), &exports_labels(plugin)))
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

fn exports_labels(plugin: &Plugin) -> Vec<String> {
    exports(plugin).iter().map(|(k, n)| format!("{k} {n}")).collect()
}

/// Reads the manifest for `source`: `dir/plinth.toml`, a `plinth.toml` path, or `None` for a
/// bare `.wasm`. Returns the manifest (if any), its bytes, and the `.wasm` path.
fn read_source(source: &std::path::Path) -> Result<(Option<Manifest>, Option<Vec<u8>>, PathBuf), RegistryError> {
    let manifest_path = if source.is_dir() {
        Some(source.join("plinth.toml"))
    } else if source.extension().is_some_and(|e| e == "toml") {
        Some(source.to_path_buf())
    } else {
        None
    };
    match manifest_path {
        Some(mp) => {
            let bytes = std::fs::read(&mp).map_err(|e| RegistryError::Manifest { path: mp.clone(), reason: e.to_string() })?;
            let m =
                Manifest::parse(&String::from_utf8_lossy(&bytes)).map_err(|reason| RegistryError::Manifest { path: mp.clone(), reason })?;
            let wasm = m.entry_path(&mp);
            Ok((Some(m), Some(bytes), wasm))
        }
        None => Ok((None, None, source.to_path_buf())),
    }
}

/// The manifest a locked plugin was installed with, read back from the store (hash-checked).
fn stored_manifest(home: &state::Home, locked: &state::LockedPlugin) -> Result<Option<Manifest>, RegistryError> {
    let Some(sha) = &locked.manifest_sha256 else { return Ok(None) };
    let bytes = home.store_get(sha, "toml")?;
    Manifest::parse(&String::from_utf8_lossy(&bytes))
        .map(Some)
        .map_err(|reason| RegistryError::Manifest { path: home.store_path(sha, "toml"), reason })
}

/// Loads a plugin as installed: capabilities are the manifest's asks ∩ the grants, limits
/// and config come from the manifest.
fn load_installed(
    runtime: &crate::engine::Runtime,
    key: &Key,
    wasm: &[u8],
    manifest: Option<&Manifest>,
    grants: &crate::caps::grants::Grants,
) -> Result<(Plugin, semver::Version, Json), RegistryError> {
    let asks = manifest.map(|m| m.capabilities.clone()).unwrap_or_default();
    let capabilities = crate::caps::grants::Capabilities::resolve(&asks, grants)?;
    let limits = manifest.map(|m| m.limits(runtime.config().default_limits));
    let options = crate::engine::LoadOptions { limits, capabilities, ..Default::default() };
    let plugin = runtime.load_with(&key.name, wasm, &options).map_err(|source| RegistryError::Load { key: key.clone(), source })?;
    if let Some(m) = manifest {
        m.check(&plugin)?;
    }
    let version = manifest.map(|m| m.version.clone()).unwrap_or_else(|| semver::Version::new(0, 0, 0));
    let config = manifest.map(|m| m.config_json()).unwrap_or_else(|| serde_json::json!({}));
    Ok((plugin, version, Json::from(config)))
}

/// Installs (or updates) a plugin from `source` for `tenant` with `grants`: checks it loads
/// and matches its manifest, refuses export conflicts with other installed plugins of the
/// same scope, then writes the store, the desired state and the lock, in that order.
/// Returns the lock entry and the impact.
pub fn install(
    runtime: &crate::engine::Runtime,
    home: &state::Home,
    source: &std::path::Path,
    tenant: Option<&str>,
    grants: crate::caps::grants::Grants,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    install_confirmed(runtime, home, source, tenant, grants, |_| true)
}

/// [`install`], asking `confirm` with the impact before anything is written.
pub fn install_confirmed(
    runtime: &crate::engine::Runtime,
    home: &state::Home,
    source: &std::path::Path,
    tenant: Option<&str>,
    grants: crate::caps::grants::Grants,
    confirm: impl FnOnce(&Impact) -> bool,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    let (manifest, manifest_bytes, wasm_path) = read_source(source)?;
    let wasm = std::fs::read(&wasm_path).map_err(|e| RegistryError::State { path: wasm_path.clone(), reason: e.to_string() })?;
    let name = match &manifest {
        Some(m) => m.name.clone(),
        None => wasm_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let key = Key { tenant: tenant.map(str::to_string), name };
    let (plugin, version, _config) = load_installed(runtime, &key, &wasm, manifest.as_ref(), &grants)?;
    let new_exports = exports_labels(&plugin);

    let guard = home.lock()?;
    let mut lock = home.read_lock()?;
    let old = lock.plugin.iter().find(|p| p.name == key.name && p.tenant == key.tenant);
    for other in lock.plugin.iter().filter(|p| p.tenant == key.tenant && p.name != key.name) {
        if let Some(e) = new_exports.iter().find(|e| other.exports.contains(e)) {
            let (kind, export) = e.split_once(' ').unwrap_or(("", e));
            return Err(RegistryError::Conflict {
                kind: kind.parse().unwrap_or(Kind::Node),
                export: export.to_string(),
                new: key,
                existing: Key { tenant: other.tenant.clone(), name: other.name.clone() },
            });
        }
    }
    let impact = Impact::between(old.map(|o| o.exports.as_slice()), &new_exports);

    if !confirm(&impact) {
        return Err(RegistryError::Declined);
    }
    // Store first (content-addressed: harmless if the rest never happens) ...
    let wasm_sha256 = home.store_put(&wasm, "wasm", &guard)?;
    let manifest_sha256 = manifest_bytes.as_deref().map(|b| home.store_put(b, "toml", &guard)).transpose()?;
    fault_point("after-store")?;
    // ... then the desired state ...
    let mut desired = home.read_desired()?;
    let source_text = source.to_string_lossy().into_owned();
    desired.plugin.retain(|p| !(p.name == key.name && p.tenant == key.tenant));
    desired.plugin.push(state::DesiredPlugin {
        name: key.name.clone(),
        tenant: key.tenant.clone(),
        source: source_text.clone(),
        enabled: true,
        grants,
        config: None,
    });
    home.write_desired(&desired, &guard)?;
    fault_point("after-desired")?;
    // ... and the lock last.
    let entry = state::LockedPlugin {
        name: key.name.clone(),
        tenant: key.tenant.clone(),
        version: version.to_string(),
        wasm_sha256,
        manifest_sha256,
        api: plugin.api_version().to_string(),
        kinds: plugin.kinds().to_vec(),
        exports: new_exports,
        source: source_text,
    };
    lock.plugin.retain(|p| !(p.name == key.name && p.tenant == key.tenant));
    lock.plugin.push(entry.clone());
    lock.plugin.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
    home.write_lock(&lock, &guard)?;
    Ok((entry, impact))
}

/// Test hook: `PLINTH_FAULT=<point>` makes an install stop at that point as a crash would
/// (with `PLINTH_FAULT_KILL=1` the process really dies there).
fn fault_point(point: &str) -> Result<(), RegistryError> {
    if std::env::var("PLINTH_FAULT").is_ok_and(|v| v == point) {
        if std::env::var_os("PLINTH_FAULT_KILL").is_some() {
            std::process::abort();
        }
        return Err(RegistryError::State { path: PathBuf::from(point), reason: "simulated crash (PLINTH_FAULT)".into() });
    }
    Ok(())
}

/// The config an installed plugin runs with: the manifest's defaults, overridden key by key
/// by the operator's `config` in `plugins.toml`.
fn merged_config(manifest: Json, overrides: Option<&toml::Table>) -> Json {
    let mut base = manifest.to_value().unwrap_or_else(|_| serde_json::json!({}));
    if let (Some(obj), Some(over)) = (base.as_object_mut(), overrides) {
        if let Ok(serde_json::Value::Object(over)) = serde_json::to_value(over) {
            obj.extend(over);
        }
    }
    Json::from(base)
}

impl Registry {
    /// Brings a running registry in line with `home` (after `plinth plugin install/update/
    /// disable/uninstall` ran elsewhere): plugins whose locked wasm changed are reloaded
    /// as a new generation (calls already running finish on the old one), new ones are
    /// added, and disabled or uninstalled ones removed. Unchanged plugins are untouched.
    pub fn refresh(&self, runtime: &crate::engine::Runtime, home: &state::Home) -> Result<Discovery, RegistryError> {
        let (fresh, mut report) = {
            // Load only what changed: build the target state, reusing current generations.
            let lock = home.read_lock()?;
            let desired = home.read_desired()?;
            let current: BTreeMap<Key, Arc<Installed>> = self.read().clone();
            let mut report = Discovery::default();
            let mut keep = Vec::new();
            for locked in &lock.plugin {
                let key = Key { tenant: locked.tenant.clone(), name: locked.name.clone() };
                let want = desired.plugin.iter().find(|d| d.name == locked.name && d.tenant == locked.tenant);
                if want.is_some_and(|d| !d.enabled) {
                    report.disabled.push(key);
                    continue;
                }
                let print = fingerprint(locked, want);
                let same = self.loaded_from.read().unwrap_or_else(|e| e.into_inner()).get(&key) == Some(&print);
                if same && current.contains_key(&key) {
                    keep.push(key);
                    continue;
                }
                let grants = want.map(|d| d.grants.clone()).unwrap_or_default();
                let loaded = (|| {
                    let wasm = home.store_get(&locked.wasm_sha256, "wasm")?;
                    let manifest = stored_manifest(home, locked)?;
                    let (plugin, version, config) = load_installed(runtime, &key, &wasm, manifest.as_ref(), &grants)?;
                    Ok::<_, RegistryError>((plugin, version, merged_config(config, want.and_then(|d| d.config.as_ref()))))
                })();
                match loaded {
                    Ok((plugin, version, config)) => match self.register(key.clone(), version, plugin, config) {
                        Ok(_) => {
                            self.loaded_from.write().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), print);
                            report.loaded.push(key.clone());
                            keep.push(key);
                        }
                        Err(e) => report.failed.push((key, e)),
                    },
                    Err(e) => {
                        // Keep serving the current generation, if any.
                        if current.contains_key(&key) {
                            keep.push(key.clone());
                        }
                        report.failed.push((key, e));
                    }
                }
            }
            (keep, report)
        };
        self.entries.write().unwrap_or_else(|e| e.into_inner()).retain(|k, _| fresh.contains(k));
        self.loaded_from.write().unwrap_or_else(|e| e.into_inner()).retain(|k, _| fresh.contains(k));
        report.loaded.sort();
        Ok(report)
    }

    /// Loads every enabled plugin of the lock in `home`. A plugin whose stored files do not
    /// match their locked hashes is refused (never run); a plugin that fails to load is
    /// reported and the rest still load.
    pub fn open(runtime: &crate::engine::Runtime, home: &state::Home) -> Result<(Registry, Discovery), RegistryError> {
        let registry = Registry::new();
        let report = registry.refresh(runtime, home)?;
        Ok((registry, report))
    }
}

/// Enables or disables an installed plugin (desired state only; the lock is unchanged).
pub fn set_enabled(home: &state::Home, key: &Key, enabled: bool) -> Result<(), RegistryError> {
    let guard = home.lock()?;
    let mut desired = home.read_desired()?;
    let entry = desired
        .plugin
        .iter_mut()
        .find(|p| p.name == key.name && p.tenant == key.tenant)
        .ok_or_else(|| RegistryError::NotInstalled(key.clone()))?;
    entry.enabled = enabled;
    home.write_desired(&desired, &guard)
}

/// Removes a plugin from the desired state and the lock (the lock first: a crash between
/// the two leaves an entry that doctor reports as desired but not locked).
pub fn uninstall(home: &state::Home, key: &Key) -> Result<(), RegistryError> {
    let guard = home.lock()?;
    let mut lock = home.read_lock()?;
    let mut desired = home.read_desired()?;
    let before = (lock.plugin.len(), desired.plugin.len());
    lock.plugin.retain(|p| !(p.name == key.name && p.tenant == key.tenant));
    desired.plugin.retain(|p| !(p.name == key.name && p.tenant == key.tenant));
    if (lock.plugin.len(), desired.plugin.len()) == before {
        return Err(RegistryError::NotInstalled(key.clone()));
    }
    home.write_lock(&lock, &guard)?;
    home.write_desired(&desired, &guard)
}

/// One problem found by [`doctor`], with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub plugin: String,
    pub problem: String,
    pub fix: String,
}

/// Checks the state without changing it: every locked plugin's stored files against their
/// hashes, that it loads and matches its manifest, lock ↔ desired consistency, and
/// capabilities asked but not granted.
pub fn doctor(runtime: &crate::engine::Runtime, home: &state::Home) -> Result<Vec<Problem>, RegistryError> {
    let lock = home.read_lock()?;
    let desired = home.read_desired()?;
    let mut problems = Vec::new();
    let mut add = |key: &Key, problem: String, fix: String| problems.push(Problem { plugin: key.to_string(), problem, fix });
    for locked in &lock.plugin {
        let key = Key { tenant: locked.tenant.clone(), name: locked.name.clone() };
        let tenant_flag = locked.tenant.as_ref().map(|t| format!(" --tenant {t}")).unwrap_or_default();
        let reinstall = format!("plinth plugin install {}{tenant_flag}", locked.source);
        let want = desired.plugin.iter().find(|d| d.name == locked.name && d.tenant == locked.tenant);
        if want.is_none() {
            add(
                &key,
                "locked but not in plugins.toml".into(),
                format!("{reinstall} (or plinth plugin uninstall {}{tenant_flag})", locked.name),
            );
        }
        let wasm = match home.store_get(&locked.wasm_sha256, "wasm") {
            Ok(w) => w,
            Err(e) => {
                add(&key, e.to_string(), reinstall.clone());
                continue;
            }
        };
        let manifest = match stored_manifest(home, locked) {
            Ok(m) => m,
            Err(e) => {
                add(&key, e.to_string(), reinstall.clone());
                continue;
            }
        };
        let grants = want.map(|d| d.grants.clone()).unwrap_or_default();
        match load_installed(runtime, &key, &wasm, manifest.as_ref(), &grants) {
            Ok((plugin, _, _)) => {
                for missing in &plugin.capabilities().report.not_granted {
                    add(&key, format!("asks for {missing}, which is not granted"), format!("grant it: {reinstall} --allow-…"));
                }
            }
            Err(e) => add(&key, format!("does not load: {e}"), format!("update or reinstall it: {reinstall}")),
        }
    }
    for d in &desired.plugin {
        if !lock.plugin.iter().any(|l| l.name == d.name && l.tenant == d.tenant) {
            let key = Key { tenant: d.tenant.clone(), name: d.name.clone() };
            let tenant_flag = d.tenant.as_ref().map(|t| format!(" --tenant {t}")).unwrap_or_default();
            add(
                &key,
                "in plugins.toml but not locked (an install did not finish)".into(),
                format!("plinth plugin install {}{tenant_flag}", d.source),
            );
        }
    }
    Ok(problems)
}

/// Repairs what [`doctor`] can repair without guessing: entries of `plugins.toml` that never
/// reached the lock (an install that did not finish) are rolled back, so the state is the
/// last complete one. Returns what was repaired.
pub fn repair(home: &state::Home) -> Result<Vec<String>, RegistryError> {
    let guard = home.lock()?;
    let lock = home.read_lock()?;
    let mut desired = home.read_desired()?;
    let mut repaired = Vec::new();
    desired.plugin.retain(|d| {
        let locked = lock.plugin.iter().any(|l| l.name == d.name && l.tenant == d.tenant);
        if !locked {
            repaired.push(format!("{}: rolled back an unfinished install", Key { tenant: d.tenant.clone(), name: d.name.clone() }));
        }
        locked
    });
    if !repaired.is_empty() {
        home.write_desired(&desired, &guard)?;
    }
    Ok(repaired)
}
