//! On-disk cache of compiled components, keyed by the component's sha256 and the engine's
//! compatibility hash (wasmtime version, CPU features, fuel/epoch settings), so a second
//! load skips compilation and a changed engine never reads stale code.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Whether a load compiled the component or read it from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Compiled now (and stored, when a cache is configured).
    Compiled,
    /// Read from the code cache.
    Hit,
}

pub(crate) struct CodeCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into sha256: a hasher whose output is stable across Rust releases,
/// unlike `DefaultHasher`.
struct StableHasher(Sha256);

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    }
}

impl CodeCache {
    pub(crate) fn open(root: &Path, engine: &Engine) -> std::io::Result<CodeCache> {
        let mut h = StableHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(&h.0.finalize()[..8]);
        let dir = root.join(engine_key);
        std::fs::create_dir_all(&dir)?;
        Ok(CodeCache { dir })
    }

    fn path(&self, digest: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.cwasm", hex::encode(digest)))
    }

    /// Whether compiled code for `digest` is cached.
    pub(crate) fn contains(&self, digest: &[u8; 32]) -> bool {
        self.path(digest).exists()
    }

    /// The cached compiled component for `digest`, if a usable one exists.
    #[allow(unsafe_code)]
    pub(crate) fn component(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        // SAFETY: `deserialize_file` runs the file's contents as native code, so it must
        // hold code that `Component::serialize` wrote for an engine of this configuration.
        // That holds under this cache's trusted-directory rule: files in `dir` are written
        // only by `put` below, from `serialize` of this engine (the directory name is the
        // engine's compatibility hash), and replaced atomically (rename), so no reader sees
        // a partial file; the directory must not be writable by anyone untrusted
        // (`RuntimeConfig::cache_dir` says so). wasmtime checks the header and the engine
        // compatibility itself and refuses a mismatch with an error, not UB.
        self.get(digest, |path| unsafe { Component::deserialize_file(engine, path) })
    }

    /// The cached compiled core module for `digest` (legacy plugins), if a usable one
    /// exists.
    #[allow(unsafe_code)]
    pub(crate) fn module(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Module> {
        // SAFETY: as for `component` above: the same trusted-directory rule, with files
        // written by `Module::serialize` of this engine.
        self.get(digest, |path| unsafe { Module::deserialize_file(engine, path) })
    }

    /// Returns the cached compiled code for `digest`, if a usable one exists; an unusable
    /// file is removed so the next load writes a good one.
    fn get<T>(&self, digest: &[u8; 32], load: impl FnOnce(&Path) -> wasmtime::Result<T>) -> Option<T> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        match load(&path) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached code");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores serialized compiled code under `digest`. Failures are logged: the cache is an
    /// optimization.
    pub(crate) fn put(&self, digest: &[u8; 32], serialized: wasmtime::Result<Vec<u8>>) {
        let path = self.path(digest);
        let result = serialized.map_err(|e| std::io::Error::other(e.to_string())).and_then(|bytes| {
            let (tmp, mut file) = tempfile_in(&self.dir)?;
            let written = file.write_all(&bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&tmp, &path));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot write compiled code to the cache");
        }
    }
}

/// A uniquely named temporary file in `dir` (same filesystem, so `rename` is atomic).
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = format!(".tmp-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    Ok((path, file))
}
