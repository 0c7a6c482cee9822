//! The install transaction: check that a plugin loads and matches its manifest, refuse
//! conflicts, confirm the impact, then write the store, the desired state and the lock, in
//! that order (a crash at any point leaves the old state or the new one). Also update,
//! enable/disable and uninstall.

use std::path::{Path, PathBuf};

use super::refresh::{load_installed, load_remote};
use super::state::{self, Home, PluginType};
use super::{Export, Impact, Key, Manifest, RegistryError, check_conflicts, check_name};
use crate::caps::grants::Grants;
use crate::engine::Runtime;
use crate::plugin::REMOTE_API;
use crate::remote::Endpoint;

/// A plugin source read from disk: its manifest (none for a bare `.wasm`), the manifest's
/// bytes, the wasm and the name it installs under.
pub(crate) struct Source {
    pub(crate) manifest: Option<Manifest>,
    manifest_bytes: Option<Vec<u8>>,
    /// Empty for a remote plugin.
    wasm: Vec<u8>,
    pub(crate) name: String,
    /// A remote plugin's endpoint (then there is no wasm and no manifest).
    remote: Option<Endpoint>,
}

/// The name a plugin installs under from `source` (its manifest's, or a bare `.wasm`'s
/// file stem), checked by the naming rule.
pub fn source_name(source: &Path) -> Result<String, RegistryError> {
    read_source(&absolute(source)?).map(|s| s.name)
}

/// Reads `source`: `dir/plinth.toml`, a `plinth.toml` path, or a bare `.wasm` (named after
/// its file stem, which must follow the naming rule, version 0.0.0).
pub(crate) fn read_source(source: &Path) -> Result<Source, RegistryError> {
    let manifest_path = if source.is_dir() {
        Some(source.join("plinth.toml"))
    } else if source.extension().is_some_and(|e| e == "toml") {
        Some(source.to_path_buf())
    } else {
        None
    };
    let read = |path: &Path| std::fs::read(path).map_err(|e| RegistryError::Io { path: path.to_path_buf(), source: e });
    match manifest_path {
        Some(mp) => {
            let bytes = read(&mp)?;
            let m =
                Manifest::parse(&String::from_utf8_lossy(&bytes)).map_err(|source| RegistryError::Manifest { path: mp.clone(), source })?;
            let wasm = read(&m.entry_path(&mp)?)?;
            Ok(Source { name: m.name.clone(), manifest: Some(m), manifest_bytes: Some(bytes), wasm, remote: None })
        }
        None => {
            let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            check_name("the plugin name (from the file name)", &stem).map_err(|reason| RegistryError::BadName {
                reason: format!("{reason}; rename {} or install it from a directory with a plinth.toml that names it", source.display()),
            })?;
            Ok(Source { manifest: None, manifest_bytes: None, wasm: read(source)?, name: stem, remote: None })
        }
    }
}

/// The source as stored in `plugins.toml`: absolute, so `update` works from any directory.
fn absolute(source: &Path) -> Result<PathBuf, RegistryError> {
    std::path::absolute(source).map_err(|e| RegistryError::Io { path: source.to_path_buf(), source: e })
}

/// Checks a tenant against the naming rule.
pub(crate) fn check_tenant(tenant: Option<&str>) -> Result<(), RegistryError> {
    match tenant {
        Some(t) => check_name("tenant", t).map_err(|reason| RegistryError::BadName { reason }),
        None => Ok(()),
    }
}

/// What the operator says about a plugin beside its source: config overrides and a
/// description. `None` keeps what an earlier install recorded.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub config: Option<toml::Table>,
    pub description: Option<String>,
    /// A remote plugin's `allow_remote` patterns.
    pub allow_remote: Option<Vec<String>>,
}

/// Installs (or updates) a plugin from `source` for `tenant` with `grants`: checks it loads
/// and matches its manifest, refuses export conflicts with other installed plugins of the
/// same scope, then writes the store, the desired state and the lock, in that order.
/// Returns the lock entry and the impact.
pub fn install(
    runtime: &Runtime,
    home: &Home,
    source: &Path,
    tenant: Option<&str>,
    grants: Grants,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    install_confirmed(runtime, home, source, tenant, grants, |_| true)
}

/// [`install`], asking `confirm` with the impact before anything is written.
pub fn install_confirmed(
    runtime: &Runtime,
    home: &Home,
    source: &Path,
    tenant: Option<&str>,
    grants: Grants,
    confirm: impl FnOnce(&Impact) -> bool,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    install_with(runtime, home, source, tenant, grants, Meta::default(), confirm)
}

/// [`install_confirmed`] with the operator's [`Meta`], written in the same transaction.
pub fn install_with(
    runtime: &Runtime,
    home: &Home,
    source: &Path,
    tenant: Option<&str>,
    grants: Grants,
    meta: Meta,
    confirm: impl FnOnce(&Impact) -> bool,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    check_tenant(tenant)?;
    let source = absolute(source)?;
    let src = read_source(&source)?;
    transaction(runtime, home, source.to_string_lossy().into_owned(), src, tenant, grants, meta, confirm)
}

/// Installs (or updates) remote plugin `name` at `handler` (`grpc://host:port/Svc.Method`,
/// `grpcs://…`, or `host:port/Svc.Method`) for `tenant`: the same transaction as a wasm
/// install (conflicts refused, desired state then lock), with nothing to store. The
/// endpoint is not contacted (`doctor` checks that it answers).
pub fn install_remote(
    runtime: &Runtime,
    home: &Home,
    name: &str,
    handler: &str,
    tenant: Option<&str>,
    meta: Meta,
    confirm: impl FnOnce(&Impact) -> bool,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    check_tenant(tenant)?;
    check_name("plugin name", name).map_err(|reason| RegistryError::BadName { reason })?;
    let src = remote_source(name, handler)?;
    let text = src.remote.as_ref().map(Endpoint::handler).unwrap_or_default();
    transaction(runtime, home, text, src, tenant, Grants::default(), meta, confirm)
}

fn remote_source(name: &str, handler: &str) -> Result<Source, RegistryError> {
    let endpoint = Endpoint::parse(handler).map_err(|e| RegistryError::BadHandler { handler: handler.to_string(), reason: e.reason })?;
    Ok(Source { manifest: None, manifest_bytes: None, wasm: Vec::new(), name: name.to_string(), remote: Some(endpoint) })
}

/// Loads `src` as `key` would run: its wasm with its manifest, or its endpoint.
pub(crate) fn load_source(
    runtime: &Runtime,
    key: &Key,
    src: &Source,
    grants: &Grants,
    allow_remote: &[String],
    contracts: Option<crate::plugin::ContractsSetting>,
) -> Result<(crate::plugin::Plugin, semver::Version), RegistryError> {
    match &src.remote {
        Some(endpoint) => Ok((load_remote(runtime, key, endpoint, allow_remote)?, semver::Version::new(0, 0, 0))),
        None => load_installed(runtime, key, &src.wasm, src.manifest.as_ref(), grants, contracts).map(|(p, v, _)| (p, v)),
    }
}

/// Updates installed plugin `key` from `source` (default: where it was installed from),
/// with `grants` (default: the grants it has now). Refuses a source whose manifest names
/// another plugin.
pub fn update(
    runtime: &Runtime,
    home: &Home,
    key: &Key,
    source: Option<&Path>,
    grants: Option<Grants>,
    confirm: impl FnOnce(&Impact) -> bool,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    check_tenant(key.tenant.as_deref())?;
    let lock = home.read_lock()?;
    let current = lock.find(key).ok_or_else(|| RegistryError::NotInstalled(key.clone()))?;
    if current.api == REMOTE_API {
        // A remote plugin's source is its endpoint: the new one, or the one it has.
        let handler = source.map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| current.source.clone());
        let src = remote_source(&key.name, &handler)?;
        let text = src.remote.as_ref().map(Endpoint::handler).unwrap_or_default();
        return transaction(runtime, home, text, src, key.tenant.as_deref(), Grants::default(), Meta::default(), confirm);
    }
    let source = absolute(source.unwrap_or(Path::new(&current.source)))?;
    let grants = match grants {
        Some(g) => g,
        None => home.read_desired()?.find(key).map(|d| d.grants.clone()).unwrap_or_default(),
    };
    let src = read_source(&source)?;
    if src.name != key.name {
        return Err(RegistryError::NameMismatch { installed: key.clone(), found: src.name, path: source });
    }
    transaction(runtime, home, source.to_string_lossy().into_owned(), src, key.tenant.as_deref(), grants, Meta::default(), confirm)
}

#[allow(clippy::too_many_arguments)] // one private function, called from three places
fn transaction(
    runtime: &Runtime,
    home: &Home,
    source_text: String,
    src: Source,
    tenant: Option<&str>,
    grants: Grants,
    meta: Meta,
    confirm: impl FnOnce(&Impact) -> bool,
) -> Result<(state::LockedPlugin, Impact), RegistryError> {
    let key = Key { tenant: tenant.map(str::to_string), name: src.name.clone() };
    let plugin_type = if src.remote.is_some() { PluginType::Grpc } else { PluginType::Wasm };
    // Read before the state lock (loading must not hold it); the write under the lock
    // records what this load was checked with.
    let before = home.read_desired()?.find(&key).cloned();
    let old_allow = before.as_ref().map(|d| d.allow_remote.clone()).unwrap_or_default();
    let contracts = before.as_ref().and_then(|d| d.contracts);
    let allow_remote = meta.allow_remote.clone().unwrap_or(old_allow);
    let (plugin, version) = load_source(runtime, &key, &src, &grants, &allow_remote, contracts)?;
    let new_exports = Export::of(&plugin);

    let guard = home.lock()?;
    let mut lock = home.read_lock()?;
    let mut desired = home.read_desired()?;
    let old = lock.find(&key);
    check_conflicts(&key, &new_exports, lock.plugin.iter().map(|p| (p.key(), p.exports.as_slice())))?;
    let mut impact = Impact::between(old.map(|o| o.exports.as_slice()), &new_exports);

    // A remote plugin has nothing in the store; its lock entry hashes its endpoint.
    let wasm_sha256 = if src.remote.is_some() { plugin.sha256() } else { state::sha256_hex(&src.wasm) };
    let manifest_sha256 = src.manifest_bytes.as_deref().map(state::sha256_hex);
    let old_desired = desired.find(&key);
    let intact = |sha: &str, ext: &str| src.remote.is_some() || home.store_get(sha, ext).is_ok();
    impact.unchanged = old.is_some_and(|o| o.wasm_sha256 == wasm_sha256 && o.manifest_sha256 == manifest_sha256 && o.source == source_text)
        && old_desired.is_some_and(|d| {
            d.grants == grants
                && d.plugin_type == plugin_type
                && d.allow_remote == allow_remote
                && d.enabled
                && meta.config.as_ref().is_none_or(|c| d.config.as_ref() == Some(c))
                && meta.description.as_ref().is_none_or(|t| d.description.as_ref() == Some(t))
        })
        && intact(&wasm_sha256, "wasm")
        && manifest_sha256.as_deref().is_none_or(|m| intact(m, "toml"));
    if impact.unchanged {
        let entry = old.cloned().expect("unchanged implies installed");
        return Ok((entry, impact));
    }
    if !confirm(&impact) {
        return Err(RegistryError::Declined);
    }
    // Store first (content-addressed: harmless if the rest never happens; a stored file
    // that no longer matches its hash is rewritten) ...
    if src.remote.is_none() {
        home.store_put(&src.wasm, "wasm", &guard)?;
    }
    if let Some(bytes) = &src.manifest_bytes {
        home.store_put(bytes, "toml", &guard)?;
    }
    fault_point("after-store")?;
    // ... then the desired state (keeping the operator's config overrides) ...
    let config = meta.config.or_else(|| old_desired.and_then(|d| d.config.clone()));
    let description = meta.description.or_else(|| old_desired.and_then(|d| d.description.clone()));
    let now = state::now_rfc3339();
    let created_at = old_desired.and_then(|d| d.created_at.clone()).unwrap_or_else(|| now.clone());
    // An update keeps a disabled plugin disabled; a new install is enabled.
    let enabled = old_desired.is_none_or(|d| d.enabled);
    let triggers = old_desired.map(|d| d.triggers.clone()).unwrap_or_default();
    let listeners = old_desired.map(|d| d.listeners.clone()).unwrap_or_default();
    desired.plugin.retain(|p| p.key() != key);
    desired.plugin.push(state::DesiredPlugin {
        name: key.name.clone(),
        tenant: key.tenant.clone(),
        source: source_text.clone(),
        plugin_type,
        allow_remote,
        contracts,
        enabled,
        grants,
        config,
        description,
        triggers,
        listeners,
        created_at: Some(created_at),
        updated_at: Some(now),
    });
    home.write_desired(&desired, &guard)?;
    fault_point("after-desired")?;
    // ... and the lock last.
    let entry = lock_entry(&key, &version, &plugin, wasm_sha256, manifest_sha256, source_text);
    lock.plugin.retain(|p| p.key() != key);
    lock.plugin.push(entry.clone());
    lock.plugin.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
    home.write_lock(&lock, &guard)?;
    Ok((entry, impact))
}

/// The lock entry of desired plugin `d`, rebuilt from its source (for a lock that was lost):
/// the files are read, loaded with `d`'s grants, stored, and described as `transaction`
/// would. Writes nothing but the content-addressed store.
pub(crate) fn rebuild_entry(
    runtime: &Runtime,
    home: &Home,
    guard: &state::StateLock,
    d: &state::DesiredPlugin,
) -> Result<state::LockedPlugin, RegistryError> {
    if d.plugin_type == PluginType::Grpc {
        let src = remote_source(&d.name, &d.source)?;
        let (plugin, version) = load_source(runtime, &d.key(), &src, &d.grants, &d.allow_remote, d.contracts)?;
        return Ok(lock_entry(&d.key(), &version, &plugin, plugin.sha256(), None, d.source.clone()));
    }
    let source = PathBuf::from(&d.source);
    let src = read_source(&source)?;
    if src.name != d.name {
        return Err(RegistryError::NameMismatch { installed: d.key(), found: src.name, path: source });
    }
    let (plugin, version, _config) = load_installed(runtime, &d.key(), &src.wasm, src.manifest.as_ref(), &d.grants, d.contracts)?;
    let wasm_sha256 = home.store_put(&src.wasm, "wasm", guard)?;
    let manifest_sha256 = src.manifest_bytes.as_deref().map(|b| home.store_put(b, "toml", guard)).transpose()?;
    Ok(lock_entry(&d.key(), &version, &plugin, wasm_sha256, manifest_sha256, d.source.clone()))
}

/// What the lock records of an installed plugin: the one place a lock entry is made.
fn lock_entry(
    key: &Key,
    version: &semver::Version,
    plugin: &crate::plugin::Plugin,
    wasm_sha256: String,
    manifest_sha256: Option<String>,
    source: String,
) -> state::LockedPlugin {
    state::LockedPlugin {
        name: key.name.clone(),
        tenant: key.tenant.clone(),
        version: version.to_string(),
        wasm_sha256,
        manifest_sha256,
        api: plugin.api_version().to_string(),
        kinds: plugin.kinds().to_vec(),
        exports: Export::of(plugin),
        source,
    }
}

/// Test hook (feature `fault-injection`, never in a default build): `PLINTH_FAULT=<point>`
/// makes an install stop at that point as a crash would (with `PLINTH_FAULT_KILL=1` the
/// process really dies there).
#[cfg(feature = "fault-injection")]
pub(crate) fn fault_point(point: &str) -> Result<(), RegistryError> {
    if std::env::var("PLINTH_FAULT").is_ok_and(|v| v == point) {
        if std::env::var_os("PLINTH_FAULT_KILL").is_some() {
            std::process::abort();
        }
        return Err(RegistryError::SimulatedCrash { point: point.to_string() });
    }
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
pub(crate) fn fault_point(_point: &str) -> Result<(), RegistryError> {
    Ok(())
}

/// Enables or disables an installed plugin (desired state only; the lock is unchanged).
pub fn set_enabled(home: &Home, key: &Key, enabled: bool) -> Result<(), RegistryError> {
    edit(home, key, |d| d.enabled = enabled)
}

/// Changes the desired state of installed plugin `key` with `f` (enabled, config,
/// description) and stamps `updated_at`; one atomic write of `plugins.toml`.
pub fn edit(home: &Home, key: &Key, f: impl FnOnce(&mut state::DesiredPlugin)) -> Result<(), RegistryError> {
    let guard = home.lock()?;
    let mut desired = home.read_desired()?;
    let entry = desired.plugin.iter_mut().find(|p| p.key() == *key).ok_or_else(|| RegistryError::NotInstalled(key.clone()))?;
    f(entry);
    entry.updated_at = Some(state::now_rfc3339());
    home.write_desired(&desired, &guard)
}

/// Removes a plugin from the desired state and the lock (the lock first: a crash between
/// the two leaves an entry that doctor reports as desired but not locked).
pub fn uninstall(home: &Home, key: &Key) -> Result<(), RegistryError> {
    let guard = home.lock()?;
    let mut lock = home.read_lock()?;
    let mut desired = home.read_desired()?;
    let before = (lock.plugin.len(), desired.plugin.len());
    lock.plugin.retain(|p| p.key() != *key);
    desired.plugin.retain(|p| p.key() != *key);
    if (lock.plugin.len(), desired.plugin.len()) == before {
        return Err(RegistryError::NotInstalled(key.clone()));
    }
    home.write_lock(&lock, &guard)?;
    home.write_desired(&desired, &guard)
}
