//! Discovering a directory of plugins: every folder with a `plinth.toml` under it, each
//! read, loaded and checked against its manifest on its own, so one broken plugin never
//! stops the others (dagstack's `registry.discover(path)`, Stepyard's discovery report).

use std::path::{Path, PathBuf};

use super::install::{load_source, read_source};
use super::{Export, Key, Registry, RegistryError};
use crate::engine::Runtime;
use crate::types::Json;

/// How deep under the directory plugin folders are looked for.
const MAX_DEPTH: usize = 4;

/// Folders never looked into: build outputs and package caches hold copies, hidden ones
/// tools' state.
const SKIP: &[&str] = &["target", "node_modules", "__pycache__"];

/// One plugin folder and what came of it.
#[derive(Debug)]
pub struct Found {
    pub dir: PathBuf,
    pub outcome: Result<FoundPlugin, RegistryError>,
}

/// A plugin that loads and matches its manifest.
#[derive(Debug, Clone)]
pub struct FoundPlugin {
    pub name: String,
    pub version: semver::Version,
    pub exports: Vec<Export>,
}

/// The plugin folders under `dir` (those with a `plinth.toml`), sorted; symbolic links,
/// hidden folders and build outputs are not followed.
pub fn plugin_dirs(dir: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let io = |path: &Path, e: std::io::Error| RegistryError::Io { path: path.to_path_buf(), source: e };
    if !dir.is_dir() {
        return Err(io(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory")));
    }
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        if d.join("plinth.toml").is_file() {
            out.push(d);
            continue;
        }
        if depth == MAX_DEPTH {
            continue;
        }
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            // The top directory must be readable; a subfolder that is not is skipped.
            Err(e) if d == dir => return Err(io(&d, e)),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && !name.starts_with('.') && !SKIP.contains(&name.as_str()) {
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and loads the plugin in folder `dir` as an install would, without installing it.
pub fn check_dir(runtime: &Runtime, dir: &Path) -> Result<(crate::plugin::Plugin, FoundPlugin), RegistryError> {
    check_source(runtime, &read_source(dir)?)
}

fn check_source(runtime: &Runtime, src: &super::install::Source) -> Result<(crate::plugin::Plugin, FoundPlugin), RegistryError> {
    let key = Key::global(&src.name);
    let (plugin, version) = load_source(runtime, &key, src, &Default::default(), &[], None)?;
    let found = FoundPlugin { name: src.name.clone(), version, exports: Export::of(&plugin) };
    Ok((plugin, found))
}

impl Registry {
    /// Walks `dir` for plugin folders and registers, as global plugins, each one that
    /// loads and matches its manifest; each folder's outcome is reported, and one that fails
    /// (a bad manifest, a missing entry, an export another plugin has) leaves the others
    /// registered. Only `dir` itself failing to be read is an error.
    pub fn discover(&self, runtime: &Runtime, dir: &Path) -> Result<Vec<Found>, RegistryError> {
        Ok(plugin_dirs(dir)?
            .into_iter()
            .map(|d| {
                let outcome = read_source(&d).and_then(|src| {
                    let (plugin, found) = check_source(runtime, &src)?;
                    // What an install would run it with: the manifest's config and the
                    // capabilities it implements.
                    let manifest = src.manifest.as_ref();
                    let config = Json::from(manifest.map(|m| m.config_json()).unwrap_or_else(|| serde_json::json!({})));
                    let capabilities = manifest.map(|m| m.provided(&plugin)).transpose()?.unwrap_or_default();
                    let settings = super::ExportSettings { capabilities, ..Default::default() };
                    self.register_with(Key::global(&found.name), found.version.clone(), plugin, config, settings)?;
                    Ok(found)
                });
                Found { dir: d, outcome }
            })
            .collect())
    }
}
