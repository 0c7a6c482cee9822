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

use super::RegistryError;

/// One plugin in `plugins.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesiredPlugin {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Where it was installed from (a directory with `plinth.toml`, or a `.wasm`).
    pub source: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub grants: Grants,
    /// Operator overrides of the manifest's default config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<toml::Table>,
}

fn yes() -> bool {
    true
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
    /// `kind name` of everything it exports.
    pub exports: Vec<String>,
    pub source: String,
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
        LockFile { version: 1, plugin: Vec::new() }
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

fn io_err(path: &Path, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::State { path: path.to_path_buf(), reason: e.to_string() }
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
            Ok(text) => toml::from_str(&text).map_err(|e| io_err(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(io_err(path, e)),
        }
    }

    pub fn read_desired(&self) -> Result<Desired, RegistryError> {
        Self::read_toml(&self.desired_path())
    }
    pub fn write_desired(&self, d: &Desired, _lock: &StateLock) -> Result<(), RegistryError> {
        let text = toml::to_string_pretty(d).map_err(|e| io_err(&self.desired_path(), e))?;
        atomic_write(&self.desired_path(), text.as_bytes())
    }
    pub fn read_lock(&self) -> Result<LockFile, RegistryError> {
        Self::read_toml(&self.lock_path())
    }
    pub fn write_lock(&self, l: &LockFile, _lock: &StateLock) -> Result<(), RegistryError> {
        let text = toml::to_string_pretty(l).map_err(|e| io_err(&self.lock_path(), e))?;
        atomic_write(&self.lock_path(), text.as_bytes())
    }

    /// The stored copy of content `sha256` with extension `ext`.
    pub fn store_path(&self, sha256: &str, ext: &str) -> PathBuf {
        self.store_dir().join(format!("{sha256}.{ext}"))
    }

    /// Stores `bytes` under their hash (idempotent); returns the hash.
    pub fn store_put(&self, bytes: &[u8], ext: &str, _lock: &StateLock) -> Result<String, RegistryError> {
        let sha = sha256_hex(bytes);
        let path = self.store_path(&sha, ext);
        if !path.exists() {
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
