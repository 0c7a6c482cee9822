//! Plugin state on disk under `$PLINTH_HOME` (default `~/.plinth`):
//!
//! ```text
//! plugins.toml   desired state: which plugins, from where, enabled, tenant, grants, config
//! plinth.lock    resolved state: version, sha256 of wasm and manifest, API, kinds, exports
//! store/         content-addressed copies: <sha256>.wasm, <sha256>.toml
//! cache/         compiled code
//! .lock          held while a command changes state (concurrent CLI runs wait)
//! ```
//!
//! Every file write is atomic (temporary file, fsync, rename, fsync of the directory), and an
//! install writes the store first, then the desired state, then the lock — so a crash at any
//! point leaves a lock that is either the old one or the new one, never half of either.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::caps::grants::Grants;
use crate::types::Kind;

use super::{Export, Key, RegistryError};

/// The `plinth.lock` format this host writes. Version 1 (exports as `"kind name"` strings)
/// is still read.
pub const LOCK_VERSION: u32 = 2;

/// One plugin in `plugins.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredPlugin {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Where it was installed from (a directory with `plinth.toml`, or a `.wasm`); for a
    /// remote plugin, its endpoint (`grpc://host:port/Svc.Method`).
    pub source: String,
    /// `wasm` (the default, not written) or `grpc`: a remote plugin, Orch8's `plugin_type`.
    #[serde(default, skip_serializing_if = "PluginType::is_wasm")]
    pub plugin_type: PluginType,
    /// Internal addresses a remote plugin may reach (host patterns, e.g. `127.0.0.1:*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_remote: Vec<String>,
    /// The operator's contract checks, over the manifest's (`"off"`, or `{input, output}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contracts: Option<crate::plugin::ContractsSetting>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub grants: Grants,
    /// Operator overrides of the manifest's default config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<toml::Table>,
    /// The operator's description (Orch8's registry field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The operator's trigger settings (`[plugin.triggers.NAME] interval_ms`), over the
    /// manifest's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub triggers: std::collections::BTreeMap<String, super::manifest::TriggerSettings>,
    /// The operator's listener connections (`[plugin.listeners.NAME] connect = "ws://…"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub listeners: std::collections::BTreeMap<String, super::manifest::ListenerSettings>,
    /// When it was first installed, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When its desired state last changed, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// What a plugin is: wasm run here, or a remote service (Orch8's `plugin_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginType {
    #[default]
    Wasm,
    /// A remote plugin: JSON over HTTP/2 (Orch8 calls it gRPC).
    Grpc,
}

impl PluginType {
    fn is_wasm(&self) -> bool {
        *self == PluginType::Wasm
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            PluginType::Wasm => "wasm",
            PluginType::Grpc => "grpc",
        }
    }
}

/// Now, as the RFC 3339 UTC timestamps of [`DesiredPlugin`].
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn yes() -> bool {
    true
}

impl DesiredPlugin {
    pub fn key(&self) -> Key {
        Key { tenant: self.tenant.clone(), name: self.name.clone() }
    }
}

/// `plugins.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    #[serde(default)]
    pub plugin: Vec<DesiredPlugin>,
}

/// One plugin in `plinth.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub version: String,
    pub wasm_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    pub api: String,
    pub kinds: Vec<Kind>,
    /// Everything it exports.
    pub exports: Vec<Export>,
    pub source: String,
}

impl LockedPlugin {
    pub fn key(&self) -> Key {
        Key { tenant: self.tenant.clone(), name: self.name.clone() }
    }
}

/// A version-1 lock entry: exports were `"kind name"` strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockedPluginV1 {
    name: String,
    #[serde(default)]
    tenant: Option<String>,
    version: String,
    wasm_sha256: String,
    #[serde(default)]
    manifest_sha256: Option<String>,
    api: String,
    kinds: Vec<Kind>,
    exports: Vec<String>,
    source: String,
}

#[derive(Deserialize)]
struct LockFileV1 {
    #[serde(default)]
    plugin: Vec<LockedPluginV1>,
}

impl LockFileV1 {
    fn upgrade(self) -> Result<LockFile, String> {
        let plugin = self
            .plugin
            .into_iter()
            .map(|p| {
                let exports = p
                    .exports
                    .iter()
                    .map(|label| {
                        let (kind, name) = label.split_once(' ').ok_or_else(|| format!("export `{label}` is not `kind name`"))?;
                        Ok(Export { kind: kind.parse()?, name: name.to_string() })
                    })
                    .collect::<Result<_, String>>()?;
                Ok(LockedPlugin {
                    name: p.name,
                    tenant: p.tenant,
                    version: p.version,
                    wasm_sha256: p.wasm_sha256,
                    manifest_sha256: p.manifest_sha256,
                    api: p.api,
                    kinds: p.kinds,
                    exports,
                    source: p.source,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(LockFile { version: LOCK_VERSION, plugin })
    }
}

/// `plinth.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    #[serde(default)]
    pub plugin: Vec<LockedPlugin>,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile { version: LOCK_VERSION, plugin: Vec::new() }
    }
}

impl LockFile {
    /// Parses lock text: a format version this host knows, and entries it can read.
    pub fn parse(text: &str) -> Result<LockFile, String> {
        if text.trim().is_empty() {
            return Err("the file is empty (truncated?)".into());
        }
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        match table.get("version") {
            Some(toml::Value::Integer(1)) => {
                let v1: LockFileV1 = toml::from_str(text).map_err(|e| e.to_string())?;
                v1.upgrade()
            }
            Some(toml::Value::Integer(v)) if *v == i64::from(LOCK_VERSION) => toml::from_str(text).map_err(|e| e.to_string()),
            Some(other) => {
                Err(format!("its format version {other} is not one this plinth reads (1 or {LOCK_VERSION}); a newer plinth wrote it?"))
            }
            None => Err("it has no format `version`".into()),
        }
    }

    /// The entry of `key`, if locked.
    pub fn find(&self, key: &Key) -> Option<&LockedPlugin> {
        self.plugin.iter().find(|p| p.name == key.name && p.tenant == key.tenant)
    }
}

impl Desired {
    /// The entry of `key`, if desired.
    pub fn find(&self, key: &Key) -> Option<&DesiredPlugin> {
        self.plugin.iter().find(|p| p.name == key.name && p.tenant == key.tenant)
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

/// Held while a command changes state; released on drop.
pub struct StateLock {
    _file: File,
}

fn io_err(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Io { path: path.to_path_buf(), source }
}

/// Serializing our own state types cannot fail short of a bug; reported as an I/O error on
/// the file being written rather than a panic.
fn ser_err(path: &Path, e: toml::ser::Error) -> RegistryError {
    io_err(path, std::io::Error::other(e))
}

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io_err(path, e))
}

/// sha256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// `$PLINTH_HOME`, else `~/.plinth`.
    pub fn from_env() -> Option<Home> {
        std::env::var_os("PLINTH_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".plinth")))
            .map(Home::new)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn desired_path(&self) -> PathBuf {
        self.root.join("plugins.toml")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("plinth.lock")
    }
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// Takes the state lock, waiting for any other command that holds it.
    pub fn lock(&self) -> Result<StateLock, RegistryError> {
        std::fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        let path = self.root.join(".lock");
        let f = File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| io_err(&path, e))?;
        f.lock().map_err(|e| io_err(&path, e))?;
        Ok(StateLock { _file: f })
    }

    fn read_toml<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T, RegistryError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|source| RegistryError::BadState { path: path.to_path_buf(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(io_err(path, e)),
        }
    }

    pub fn read_desired(&self) -> Result<Desired, RegistryError> {
        Self::read_toml(&self.desired_path())
    }
    pub fn write_desired(&self, d: &Desired, _lock: &StateLock) -> Result<(), RegistryError> {
        let text = toml::to_string_pretty(d).map_err(|e| ser_err(&self.desired_path(), e))?;
        atomic_write(&self.desired_path(), text.as_bytes())
    }
    /// Reads `plinth.lock` (none yet: an empty lock). A lock that cannot be read is
    /// [`RegistryError::BadLock`]: nothing runs from it until it is rebuilt.
    pub fn read_lock(&self) -> Result<LockFile, RegistryError> {
        let path = self.lock_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => LockFile::parse(&text).map_err(|reason| RegistryError::BadLock { path, reason }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(RegistryError::BadLock { path, reason: "it is not UTF-8 text".into() })
            }
            Err(e) => Err(io_err(&path, e)),
        }
    }
    pub fn write_lock(&self, l: &LockFile, _lock: &StateLock) -> Result<(), RegistryError> {
        let text = toml::to_string_pretty(l).map_err(|e| ser_err(&self.lock_path(), e))?;
        atomic_write(&self.lock_path(), text.as_bytes())
    }

    /// The stored copy of content `sha256` with extension `ext`.
    pub fn store_path(&self, sha256: &str, ext: &str) -> PathBuf {
        self.store_dir().join(format!("{sha256}.{ext}"))
    }

    /// Stores `bytes` under their hash (idempotent); returns the hash. A stored file that
    /// no longer has its hash (modified, truncated) is rewritten.
    pub fn store_put(&self, bytes: &[u8], ext: &str, _lock: &StateLock) -> Result<String, RegistryError> {
        let sha = sha256_hex(bytes);
        let path = self.store_path(&sha, ext);
        let intact = std::fs::read(&path).is_ok_and(|stored| sha256_hex(&stored) == sha);
        if !intact {
            atomic_write(&path, bytes)?;
        }
        Ok(sha)
    }

    /// Reads a stored file and checks it still has the hash it is stored under.
    pub fn store_get(&self, sha256: &str, ext: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.store_path(sha256, ext);
        let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        let actual = sha256_hex(&bytes);
        if actual != sha256 {
            return Err(RegistryError::Tampered { path, expected: sha256.to_string(), actual });
        }
        Ok(bytes)
    }
}
