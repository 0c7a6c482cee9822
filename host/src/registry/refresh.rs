//! Loading installed plugins from the state on disk, and reconciling a running registry
//! with it (`refresh`): what changed is reloaded as a new generation, the rest untouched.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::state::{self, DesiredPlugin, Home, LockedPlugin};
use super::{Discovery, ExportSettings, Installed, Key, Manifest, Registry, RegistryError};
use crate::caps::grants::{Capabilities, Grants};
use crate::engine::{LoadOptions, Runtime};
use crate::plugin::{Contracts, ContractsSetting, Plugin, REMOTE_API};
use crate::remote::{AllowRemote, Endpoint, RemoteOptions};
use crate::types::Json;

/// Everything that defines an installed plugin's behaviour: its wasm, manifest, grants and
/// config. `refresh` reloads a plugin when this changes.
fn fingerprint(locked: &LockedPlugin, desired: Option<&DesiredPlugin>) -> String {
    let desired = desired.map(|d| toml::to_string(d).unwrap_or_default()).unwrap_or_default();
    state::sha256_hex(format!("{}\n{:?}\n{desired}", locked.wasm_sha256, locked.manifest_sha256).as_bytes())
}

/// The manifest a locked plugin was installed with, read back from the store (hash-checked).
pub(crate) fn stored_manifest(home: &Home, locked: &LockedPlugin) -> Result<Option<Manifest>, RegistryError> {
    let Some(sha) = &locked.manifest_sha256 else { return Ok(None) };
    let bytes = home.store_get(sha, "toml")?;
    Manifest::parse(&String::from_utf8_lossy(&bytes))
        .map(Some)
        .map_err(|source| RegistryError::Manifest { path: home.store_path(sha, "toml"), source })
}

/// Loads a plugin as installed: capabilities are the manifest's asks ∩ the grants, limits
/// and config come from the manifest, contract checks from the manifest with the
/// operator's `contracts` laid over them.
pub(crate) fn load_installed(
    runtime: &Runtime,
    key: &Key,
    wasm: &[u8],
    manifest: Option<&Manifest>,
    grants: &Grants,
    contracts: Option<ContractsSetting>,
) -> Result<(Plugin, semver::Version, Json), RegistryError> {
    let asks = manifest.map(|m| m.capabilities.clone()).unwrap_or_default();
    let capabilities = Capabilities::resolve(&asks, grants)?;
    let limits = manifest.map(|m| m.limits(runtime.config().default_limits));
    let mut checks = Contracts::default();
    for setting in [manifest.and_then(|m| m.contracts), contracts].into_iter().flatten() {
        checks = setting.over(checks);
    }
    let options = LoadOptions { limits, capabilities, contracts: checks, ..Default::default() };
    let plugin = runtime
        .load_with(&key.name, wasm, &options)
        .map_err(|source| RegistryError::Load { key: key.clone(), source: Box::new(source) })?;
    if let Some(m) = manifest {
        m.check(&plugin)?;
    }
    let version = manifest.map(|m| m.version.clone()).unwrap_or_else(|| semver::Version::new(0, 0, 0));
    let config = manifest.map(|m| m.config_json()).unwrap_or_else(|| serde_json::json!({}));
    Ok((plugin, version, Json::from(config)))
}

/// A remote plugin as installed: its endpoint, with the runtime's limits and the
/// operator's `allow_remote` patterns.
pub(crate) fn load_remote(runtime: &Runtime, key: &Key, endpoint: &Endpoint, allow_remote: &[String]) -> Result<Plugin, RegistryError> {
    let allow = AllowRemote::parse(allow_remote)?;
    runtime
        .remote(&key.name, endpoint, &RemoteOptions { limits: None, allow })
        .map_err(|source| RegistryError::Load { key: key.clone(), source: Box::new(source) })
}

/// A locked remote plugin: its endpoint, checked against the hash the lock holds of it (an
/// edited `source` is refused, as a modified stored wasm is).
pub(crate) fn load_locked_remote(
    runtime: &Runtime,
    home: &Home,
    key: &Key,
    locked: &LockedPlugin,
    want: Option<&DesiredPlugin>,
) -> Result<Plugin, RegistryError> {
    let bad = |reason: String| RegistryError::BadHandler { handler: locked.source.clone(), reason };
    let endpoint = Endpoint::parse(&locked.source).map_err(|e| bad(e.reason))?;
    let plugin = load_remote(runtime, key, &endpoint, want.map(|d| d.allow_remote.as_slice()).unwrap_or_default())?;
    if plugin.sha256() != locked.wasm_sha256 {
        return Err(RegistryError::Tampered { path: home.lock_path(), expected: locked.wasm_sha256.clone(), actual: plugin.sha256() });
    }
    Ok(plugin)
}

/// Loads locked plugin `locked` as `want` says: a remote plugin from its endpoint (checked
/// against the hash the lock holds of it), a wasm plugin from the store.
fn load_locked(
    runtime: &Runtime,
    home: &Home,
    key: &Key,
    locked: &LockedPlugin,
    want: Option<&DesiredPlugin>,
) -> Result<(Plugin, semver::Version, Json, Option<Manifest>), RegistryError> {
    if locked.api == REMOTE_API {
        let plugin = load_locked_remote(runtime, home, key, locked, want)?;
        return Ok((plugin, semver::Version::new(0, 0, 0), Json::from(&serde_json::json!({})), None));
    }
    let grants = want.map(|d| d.grants.clone()).unwrap_or_default();
    let wasm = home.store_get(&locked.wasm_sha256, "wasm")?;
    let manifest = stored_manifest(home, locked)?;
    let (plugin, version, config) = load_installed(runtime, key, &wasm, manifest.as_ref(), &grants, want.and_then(|d| d.contracts))?;
    Ok((plugin, version, config, manifest))
}

/// The poll interval of each trigger that has one (the operator's, else the manifest's),
/// the operator's listener connections, and the capabilities the manifest says `plugin`
/// implements.
fn settings(manifest: Option<&Manifest>, desired: Option<&DesiredPlugin>, plugin: &Plugin) -> Result<ExportSettings, RegistryError> {
    let connects = desired
        .map(|d| d.listeners.iter().filter_map(|(name, s)| s.connect.clone().map(|url| (name.clone(), url))).collect())
        .unwrap_or_default();
    let capabilities = manifest.map(|m| m.provided(plugin)).transpose()?.unwrap_or_default();
    Ok(ExportSettings { intervals: intervals(manifest, desired), connects, capabilities })
}

fn intervals(manifest: Option<&Manifest>, desired: Option<&DesiredPlugin>) -> BTreeMap<String, std::time::Duration> {
    let mut out = BTreeMap::new();
    let layers = manifest.map(|m| &m.triggers).into_iter().chain(desired.map(|d| &d.triggers));
    for settings in layers {
        for (name, s) in settings {
            if let Some(ms) = s.interval_ms {
                out.insert(name.clone(), std::time::Duration::from_millis(ms));
            }
        }
    }
    out
}

/// The config an installed plugin runs with: the manifest's defaults, overridden key by key
/// by the operator's `config` in `plugins.toml`.
fn merged_config(manifest: Json, overrides: Option<&toml::Table>) -> Json {
    let mut base = manifest.to_value().unwrap_or_else(|_| serde_json::json!({}));
    if let (Some(obj), Some(over)) = (base.as_object_mut(), overrides)
        && let Ok(serde_json::Value::Object(over)) = serde_json::to_value(over)
    {
        obj.extend(over);
    }
    Json::from(base)
}

impl Registry {
    /// Brings a running registry in line with `home` (after `plinth plugin install/update/
    /// disable/uninstall` ran elsewhere): plugins whose locked wasm changed are reloaded
    /// as a new generation (calls already running finish on the old one), new ones are
    /// added, and disabled or uninstalled ones removed. Unchanged plugins are untouched.
    pub fn refresh(&self, runtime: &Runtime, home: &Home) -> Result<Discovery, RegistryError> {
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
                // Enabled means: in plugins.toml with `enabled = true`. A locked plugin that
                // plugins.toml does not name is not run (doctor reports it), the same answer
                // `plinth plugin list` gives.
                if want.is_none_or(|d| !d.enabled) {
                    report.disabled.push(key);
                    continue;
                }
                let print = fingerprint(locked, want);
                let same = self.loaded_from.read().unwrap_or_else(|e| e.into_inner()).get(&key) == Some(&print);
                if same && current.contains_key(&key) {
                    keep.push(key);
                    continue;
                }
                let loaded = (|| {
                    let (plugin, version, config, manifest) = load_locked(runtime, home, &key, locked, want)?;
                    let config = merged_config(config, want.and_then(|d| d.config.as_ref()));
                    if let Some(m) = &manifest {
                        let problems = m.config_problems(&config.to_value().unwrap_or_default());
                        if !problems.is_empty() {
                            return Err(RegistryError::MissingConfig { key: key.clone(), problems });
                        }
                    }
                    let settings = settings(manifest.as_ref(), want, &plugin)?;
                    Ok::<_, RegistryError>((plugin, version, config, settings))
                })();
                match loaded {
                    Ok((plugin, version, config, settings)) => match self.register_with(key.clone(), version, plugin, config, settings) {
                        Ok(_) => {
                            self.loaded_from.write().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), print);
                            report.loaded.push(key.clone());
                            keep.push(key);
                        }
                        Err(e) => report.failed.push((key, e)),
                    },
                    Err(e) => {
                        // Keep serving the current generation, if any: a new wasm that does
                        // not load must not take down the one that works. A config that
                        // fails the schema is the operator's current word, so it stops it.
                        if current.contains_key(&key) && !matches!(e, RegistryError::MissingConfig { .. }) {
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
    pub fn open(runtime: &Runtime, home: &Home) -> Result<(Registry, Discovery), RegistryError> {
        let registry = Registry::new();
        let report = registry.refresh(runtime, home)?;
        Ok((registry, report))
    }
}
