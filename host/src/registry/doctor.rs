//! `doctor`: check the state without changing it, and name the fix for every problem;
//! `repair`: fix what can be fixed without guessing. Every fix line `doctor` prints is a
//! command that works when pasted, and where the fix is `repair`'s, doctor names
//! `plinth plugin doctor --repair`, so the two always agree.

use super::install::rebuild_entry;
use super::refresh::{load_installed, load_locked_remote, stored_manifest};
use super::state::{Home, LockFile};
use super::{Key, RegistryError};
use crate::engine::Runtime;
use crate::plugin::REMOTE_API;

/// How long doctor waits for a remote plugin's endpoint to accept a connection.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// One problem found by [`doctor`], with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The plugin (`tenant/name`), or the state file the problem is in.
    pub plugin: String,
    pub problem: String,
    /// A command that fixes it.
    pub fix: String,
}

/// The fix that `repair` applies.
const REPAIR: &str = "plinth plugin doctor --repair";

fn tenant_flag(key: &Key) -> String {
    key.tenant.as_ref().map(|t| format!(" --tenant {t}")).unwrap_or_default()
}

/// Checks the state without changing it: the lock itself, every locked plugin's stored
/// files against their hashes, that it loads and matches its manifest, lock ↔ desired
/// consistency, and capabilities asked but not granted.
pub fn doctor(runtime: &Runtime, home: &Home) -> Result<Vec<Problem>, RegistryError> {
    let desired = home.read_desired()?;
    let lock = match home.read_lock() {
        Ok(lock) => lock,
        Err(e @ RegistryError::BadLock { .. }) => {
            let file = home.lock_path().display().to_string();
            return Ok(vec![Problem { plugin: file, problem: e.to_string(), fix: REPAIR.into() }]);
        }
        Err(e) => return Err(e),
    };
    let mut problems = Vec::new();
    let mut add = |key: &Key, problem: String, fix: String| problems.push(Problem { plugin: key.to_string(), problem, fix });
    for locked in &lock.plugin {
        let key = locked.key();
        let t = tenant_flag(&key);
        let update = format!("plinth plugin update {}{t} --yes", key.name);
        let want = desired.find(&key);
        if want.is_none() {
            add(&key, "locked but not in plugins.toml".into(), format!("plinth plugin uninstall {}{t}", key.name));
            continue;
        }
        if locked.api == REMOTE_API {
            // A remote plugin: its entry must load, and its endpoint answer.
            let fix = format!("plinth plugin update {} grpc://HOST:PORT/Svc.Method{t} --yes", key.name);
            match load_locked_remote(runtime, home, &key, locked, want).map(|p| p.probe(PROBE_TIMEOUT)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => add(&key, format!("does not answer: {e}"), format!("start the service at {}, or {fix}", locked.source)),
                Err(e) => add(&key, format!("does not load: {e}"), fix),
            }
            continue;
        }
        let wasm = match home.store_get(&locked.wasm_sha256, "wasm") {
            Ok(w) => w,
            Err(e) => {
                add(&key, e.to_string(), update.clone());
                continue;
            }
        };
        let manifest = match stored_manifest(home, locked) {
            Ok(m) => m,
            Err(e) => {
                add(&key, e.to_string(), update.clone());
                continue;
            }
        };
        let grants = want.map(|d| d.grants.clone()).unwrap_or_default();
        match load_installed(runtime, &key, &wasm, manifest.as_ref(), &grants, want.and_then(|d| d.contracts)) {
            Ok((plugin, _, _)) => {
                for missing in &plugin.capabilities().report.not_granted {
                    add(&key, format!("asks for {missing}, which is not granted"), format!("{update} --allow-… (the grant it needs)"));
                }
            }
            Err(e) => add(&key, format!("does not load: {e}"), update.clone()),
        }
    }
    for d in &desired.plugin {
        if lock.find(&d.key()).is_none() {
            add(&d.key(), "in plugins.toml but not locked (an install did not finish)".into(), REPAIR.into());
        }
    }
    Ok(problems)
}

/// Repairs what [`doctor`] can repair without guessing, and returns what it did:
/// - a lock that cannot be read (empty, truncated, garbage, unknown format) is moved aside
///   (`plinth.lock.bad`) and rebuilt from `plugins.toml`: each plugin from its source, as
///   installed (its files go to the content-addressed store); a plugin whose source is gone
///   or no longer loads is named, with the command that reinstalls it, and left out;
/// - entries of `plugins.toml` that never reached the lock (an install that did not finish)
///   are rolled back, so the state is the last complete one.
pub fn repair(runtime: &Runtime, home: &Home) -> Result<Vec<String>, RegistryError> {
    let guard = home.lock()?;
    let mut desired = home.read_desired()?;
    let mut repaired = Vec::new();
    let lock = match home.read_lock() {
        Ok(lock) => lock,
        Err(RegistryError::BadLock { path, reason }) => {
            let aside = path.with_extension("lock.bad");
            std::fs::rename(&path, &aside).map_err(|e| RegistryError::Io { path: path.clone(), source: e })?;
            let mut lock = LockFile::default();
            for d in &desired.plugin {
                match rebuild_entry(runtime, home, &guard, d) {
                    Ok(entry) => {
                        repaired.push(format!("{}: locked again from {}", d.key(), d.source));
                        lock.plugin.push(entry);
                    }
                    Err(e) => repaired.push(format!(
                        "{}: cannot be recovered ({e}); reinstall it: plinth plugin install SOURCE{} --yes",
                        d.key(),
                        tenant_flag(&d.key())
                    )),
                }
            }
            lock.plugin.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
            home.write_lock(&lock, &guard)?;
            repaired.push(format!("{}: rebuilt ({reason}; the old file is {})", path.display(), aside.display()));
            lock
        }
        Err(e) => return Err(e),
    };
    let before = desired.plugin.len();
    desired.plugin.retain(|d| {
        let locked = lock.find(&d.key()).is_some();
        if !locked {
            repaired.push(format!("{}: rolled back an install that did not finish", d.key()));
        }
        locked
    });
    if desired.plugin.len() != before {
        home.write_desired(&desired, &guard)?;
    }
    Ok(repaired)
}
