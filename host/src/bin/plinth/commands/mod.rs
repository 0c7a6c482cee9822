//! One module per command, as wasmtime's CLI does; the helpers they share live here.

pub mod dispatch;
pub mod fixture;
pub mod inspect;
pub mod invoke;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod new;
pub mod plugin;
pub mod remote;
#[cfg(feature = "serve")]
pub mod serve;
pub mod test;

use std::path::Path;

use anyhow::anyhow;
use plinth::registry::state::Home;
use plinth::registry::{Impact, Key};
use plinth::{LoadOptions, Plugin, Runtime, RuntimeConfig};

use crate::exit::Failure;
use crate::flags::{CacheArgs, CapArgs};

/// A runtime for loading files, with the code cache under the home unless `--no-cache`.
fn runtime(cache: &CacheArgs) -> Result<Runtime, Failure> {
    let mut config = RuntimeConfig::default();
    if !cache.no_cache {
        config.cache_dir = Home::from_env().map(|h| h.cache_dir());
    }
    Ok(Runtime::with_config(config)?)
}

/// Loads a `.wasm` file with the capabilities given as flags.
fn load(file: &Path, caps: &CapArgs, cache: &CacheArgs) -> Result<Plugin, Failure> {
    let options = LoadOptions { capabilities: caps.capabilities()?, ..LoadOptions::default() };
    let runtime = runtime(cache)?;
    let bytes = std::fs::read(file).map_err(|source| plinth::LoadError::Io { path: file.to_path_buf(), source })?;
    // Compiling a large component (an 18 MB Python one) takes seconds; say so.
    if bytes.len() as u64 > LARGE && !runtime.is_cached(&bytes) {
        let cached = if cache.no_cache { "" } else { "; cached afterwards" };
        eprintln!("compiling {} ({} MB, first load{cached})", file.display(), bytes.len() >> 20);
    }
    let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(runtime.load_with(&name, &bytes, &options)?)
}

/// Components above this size get the "compiling" line.
const LARGE: u64 = 4 << 20;

fn home() -> Result<Home, Failure> {
    Home::from_env().ok_or_else(|| anyhow!("set PLINTH_HOME (or HOME) to locate the plugin state").into())
}

fn registry_runtime(home: &Home) -> Result<Runtime, Failure> {
    registry_runtime_allowing(home, &[])
}

/// [`registry_runtime`] whose remote plugins may also reach `allow_remote` (host patterns).
fn registry_runtime_allowing(home: &Home, allow_remote: &[String]) -> Result<Runtime, Failure> {
    let config = RuntimeConfig { cache_dir: Some(home.cache_dir()), allow_remote: allow_remote.to_vec(), ..RuntimeConfig::default() };
    Ok(Runtime::with_config(config)?)
}

fn key(name: &str, tenant: &Option<String>) -> Key {
    Key { tenant: tenant.clone(), name: name.to_string() }
}

/// Prints the impact and asks (or refuses without a terminal unless --yes).
fn confirm(impact: &Impact, yes: bool) -> bool {
    for a in &impact.added {
        eprintln!("  + {a}  (new)");
    }
    for r in &impact.replaced {
        eprintln!("  ~ {r}  (implementation changes)");
    }
    for r in &impact.removed {
        eprintln!("  - {r}  (removed)");
    }
    if impact.needs_restart {
        eprintln!("  ! triggers or listeners change: restart them after applying");
    }
    if yes {
        return true;
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        eprintln!("refusing to apply without a terminal to confirm on; pass --yes");
        return false;
    }
    eprint!("apply? [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}
