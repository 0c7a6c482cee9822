//! Trigger cursors, kept by the host between polls (a trigger's instance lives one call):
//! one file per (tenant, plugin, trigger) under `$PLINTH_HOME/cursors/`, written
//! atomically, so a reader sees the last committed cursor or the one before, never half.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::registry::{Key, check_name};

#[derive(Serialize, Deserialize)]
struct Stored {
    trigger: String,
    cursor: String,
    committed_at: String,
}

/// The cursors of every trigger, in a directory.
#[derive(Debug, Clone)]
pub struct Cursors {
    dir: PathBuf,
}

impl Cursors {
    pub fn new(dir: impl Into<PathBuf>) -> Cursors {
        Cursors { dir: dir.into() }
    }

    /// The file of `trigger` of plugin `key`. Plugin and tenant names are safe path parts
    /// (checked at install); a trigger name is the guest's, so one that is not is hashed.
    fn path(&self, key: &Key, trigger: &str) -> PathBuf {
        let file = if check_name("trigger", trigger).is_ok() {
            format!("{trigger}.json")
        } else {
            format!("h-{}.json", &crate::registry::state::sha256_hex(trigger.as_bytes())[..32])
        };
        self.dir.join(key.tenant.as_deref().unwrap_or("_global")).join(&key.name).join(file)
    }

    /// The last committed cursor, `None` before the first commit.
    pub fn get(&self, key: &Key, trigger: &str) -> std::io::Result<Option<String>> {
        let path = self.path(key, trigger);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: Stored = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
                Ok(Some(stored.cursor))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Commits `cursor` for `trigger` of `key`.
    pub fn commit(&self, key: &Key, trigger: &str, cursor: &str) -> std::io::Result<()> {
        let path = self.path(key, trigger);
        let stored =
            Stored { trigger: trigger.to_string(), cursor: cursor.to_string(), committed_at: crate::registry::state::now_rfc3339() };
        let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
        crate::registry::state::atomic_write(&path, &bytes).map_err(|e| std::io::Error::other(e.to_string()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
