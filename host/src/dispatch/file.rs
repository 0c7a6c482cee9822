//! A dispatcher that appends events to a file, one JSON object per line, fsynced before it
//! says it took them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{DispatchError, Dispatcher, Event};

/// Appends each event to a JSON-lines file.
pub struct FileDispatcher {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileDispatcher {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<FileDispatcher> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileDispatcher { path: path.to_path_buf(), file: Mutex::new(file) })
    }
}

impl Dispatcher for FileDispatcher {
    fn dispatch(&self, event: &Event) -> Result<(), DispatchError> {
        match self.dispatch_batch(std::slice::from_ref(event)) {
            (_, Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    fn dispatch_batch(&self, events: &[Event]) -> (usize, Option<DispatchError>) {
        let mut text = String::new();
        for e in events {
            text.push_str(&serde_json::to_string(e).unwrap_or_default());
            text.push('\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // One write and one fsync for the batch: a crash loses none of what was reported
        // taken (a torn last line can be left, which a reader skips).
        match file.write_all(text.as_bytes()).and_then(|()| file.sync_data()) {
            Ok(()) => (events.len(), None),
            Err(e) => (0, Some(DispatchError::retryable(format!("cannot write {}: {e}", self.path.display())))),
        }
    }
}
