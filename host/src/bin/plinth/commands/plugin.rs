//! `plinth plugin …`: install, update, list, show, enable, disable, uninstall, discover, doctor.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Subcommand;
use plinth::registry::discover::{check_dir, plugin_dirs};
use plinth::registry::{Meta, RegistryError, doctor, install_confirmed, install_remote, repair, set_enabled, uninstall, update};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::remote::{self, Remote};
use super::{confirm, home, key, registry_runtime};
use crate::exit::{Failure, registry_failure};
use crate::flags::{CapArgs, parse_tenant};

/// Manage installed plugins under $PLINTH_HOME (default ~/.plinth).
#[derive(Subcommand)]
pub enum PluginCmd {
    /// Install a plugin: a directory with plinth.toml, a plinth.toml, or a bare .wasm (named
    /// after its file, version 0.0.0). The --allow-* flags are the operator's grants (the
    /// manifest holds the plugin's asks).
    Install {
        /// A plugin directory (with plinth.toml), a plinth.toml, or a .wasm file. Stored
        /// as an absolute path, so `update` finds it from any directory. Or a remote
        /// plugin's endpoint, grpc://host:port/Svc.Method (h2c) or grpcs://… (TLS), with
        /// --name.
        path: PathBuf,
        /// Install for this tenant only (default: global, visible to every tenant).
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<String>,
        /// A remote plugin's name (required with grpc://…; a wasm plugin's comes from its
        /// manifest or file).
        #[arg(long)]
        name: Option<String>,
        /// Let this remote plugin reach an internal address (loopback, private, link-local,
        /// metadata), as a host pattern: 127.0.0.1:*, scoring.internal:50051. Repeatable.
        #[arg(long, value_name = "PATTERN")]
        allow_remote: Vec<String>,
        #[command(flatten)]
        apply: Apply,
    },
    /// Reinstall a plugin from PATH, or from where it was installed from; without --allow-*
    /// flags it keeps the grants it has. Its config overrides and enabled state are kept.
    /// A remote plugin moves to the endpoint given (grpc://host:port/Svc.Method).
    Update {
        /// The installed plugin's name.
        name: String,
        /// Where to reinstall from (default: where it was installed from). Its manifest
        /// must name the same plugin. For a remote plugin, its new endpoint.
        path: Option<PathBuf>,
        /// The tenant the plugin was installed for (default: the global one).
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<String>,
        #[command(flatten)]
        apply: Apply,
    },
    /// List installed plugins of every tenant, with their state.
    List,
    /// Show one installed plugin.
    Show(Installed),
    /// Enable an installed plugin.
    Enable(Installed),
    /// Disable an installed plugin (it stays installed; calls to it fail).
    Disable(Installed),
    /// Remove an installed plugin.
    Uninstall(Installed),
    /// Find the plugin folders (with a plinth.toml) under DIR and check that each loads and
    /// matches its manifest; a broken one never stops the others. Exit 1 if any fails.
    Discover {
        /// The directory to walk (hidden folders, target/ and node_modules/ are skipped).
        dir: PathBuf,
        /// Install every plugin that loads (each asks, unless --yes).
        #[arg(long)]
        install: bool,
        /// With --install: install for this tenant only.
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<String>,
        /// With --install: apply without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Check every installed plugin and the state files; exit 1 on any problem.
    Doctor {
        /// First repair what can be repaired: roll back installs that did not finish, and
        /// rebuild an unreadable plinth.lock from plugins.toml and the store.
        #[arg(long)]
        repair: bool,
    },
}

/// What `install` and `update` share: the operator's grants and the confirmation.
#[derive(clap::Args)]
pub struct Apply {
    #[command(flatten)]
    grants: CapArgs,
    /// Apply without asking (required without a terminal).
    #[arg(long)]
    yes: bool,
}

/// An installed plugin, by name and tenant.
#[derive(clap::Args)]
pub struct Installed {
    /// The installed plugin's name (as `plinth plugin list` shows it).
    name: String,
    /// The tenant the plugin was installed for (default: the global one).
    #[arg(long, value_parser = parse_tenant)]
    tenant: Option<String>,
}

impl Installed {
    fn key(&self) -> plinth::registry::Key {
        key(&self.name, &self.tenant)
    }
}

pub fn run(cmd: PluginCmd) -> Result<(), Failure> {
    let home = home()?;
    match cmd {
        PluginCmd::Install { path, tenant, name, allow_remote, apply: Apply { grants, yes } } => {
            let runtime = registry_runtime(&home)?;
            if let Some(handler) = endpoint(&path) {
                let name = remote_name(name, &grants)?;
                let meta = Meta { allow_remote: Some(allow_remote), ..Meta::default() };
                let (locked, impact) = install_remote(&runtime, &home, &name, &handler, tenant.as_deref(), meta, |i| confirm(i, yes))
                    .map_err(registry_failure)?;
                let k = key(&locked.name, &locked.tenant);
                let verb = if impact.unchanged { "is already installed: nothing changed" } else { "installed" };
                outln!("{k} {verb} (remote plugin at {})", locked.source);
                return Ok(());
            }
            if name.is_some() || !allow_remote.is_empty() {
                return Err(Failure {
                    code: 2,
                    error: anyhow!("--name and --allow-remote are for remote plugins (grpc://host:port/Svc.Method)"),
                });
            }
            eprintln!("installing {}:", path.display());
            let (locked, impact) = install_confirmed(&runtime, &home, &path, tenant.as_deref(), grants.grants()?, |i| confirm(i, yes))
                .map_err(registry_failure)?;
            let exports = locked.exports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let k = key(&locked.name, &locked.tenant);
            if impact.unchanged {
                outln!("{k} {} is already installed from {}: nothing changed ({exports})", locked.version, locked.source);
            } else {
                outln!("installed {k} {} ({exports})", locked.version);
            }
        }
        PluginCmd::Update { name, path, tenant, apply: Apply { grants, yes } } => {
            let runtime = registry_runtime(&home)?;
            let k = key(&name, &tenant);
            let grants = if grants.any() { Some(grants.grants()?) } else { None };
            eprintln!("updating {k}:");
            let (locked, impact) = update(&runtime, &home, &k, path.as_deref(), grants, |i| confirm(i, yes)).map_err(registry_failure)?;
            if impact.unchanged {
                outln!("{k} {} is already installed from {}: nothing changed", locked.version, locked.source);
            } else {
                outln!("updated {k} to {}", locked.version);
            }
        }
        PluginCmd::List => {
            let lock = home.read_lock().map_err(registry_failure)?;
            let desired = home.read_desired().map_err(registry_failure)?;
            outln!("{:<24} {:<10} {:<10} {:<8} {:<8} EXPORTS", "NAME", "TENANT", "VERSION", "ENABLED", "API");
            for p in &lock.plugin {
                let enabled = desired.find(&p.key()).is_some_and(|d| d.enabled);
                outln!(
                    "{:<24} {:<10} {:<10} {:<8} {:<8} {}",
                    p.name,
                    p.tenant.as_deref().unwrap_or("-"),
                    p.version,
                    if enabled { "yes" } else { "no" },
                    p.api,
                    p.exports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                );
            }
        }
        PluginCmd::Show(which) => {
            let k = which.key();
            let lock = home.read_lock().map_err(registry_failure)?;
            let p = lock.find(&k).ok_or_else(|| registry_failure(RegistryError::NotInstalled(k.clone())))?;
            let desired = home.read_desired().map_err(registry_failure)?;
            let d = desired.find(&k);
            outln!("{}", key(&p.name, &p.tenant));
            outln!("  version:  {}", p.version);
            outln!("  enabled:  {}", d.is_some_and(|d| d.enabled));
            outln!("  api:      {}", p.api);
            outln!("  exports:  {}", p.exports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
            outln!("  source:   {}", p.source);
            if p.api == plinth::REMOTE_API {
                outln!("  type:     grpc (remote plugin, JSON over HTTP/2)");
                if let Some(d) = d.filter(|d| !d.allow_remote.is_empty()) {
                    outln!("  allowed:  {}", d.allow_remote.join(", "));
                }
            } else {
                outln!("  wasm:     sha256 {}", p.wasm_sha256);
            }
            if let Some(m) = &p.manifest_sha256 {
                outln!("  manifest: sha256 {m}");
            }
            if let Some(d) = d {
                let g = &d.grants;
                let fs: Vec<String> = g.fs.iter().map(|f| format!("{} -> {}", f.guest, f.host.display())).collect();
                let env: Vec<&str> = g.env.iter().map(|e| e.name.as_str()).collect();
                let http: Vec<String> = g.http.iter().map(|h| h.to_string()).collect();
                outln!("  grants:   fs [{}], env [{}], http [{}]", fs.join(", "), env.join(", "), http.join(", "));
            }
        }
        PluginCmd::Enable(which) => {
            let k = which.key();
            set_enabled(&home, &k, true).map_err(registry_failure)?;
            outln!("enabled {k}");
        }
        PluginCmd::Disable(which) => {
            let k = which.key();
            set_enabled(&home, &k, false).map_err(registry_failure)?;
            outln!("disabled {k}");
        }
        PluginCmd::Uninstall(which) => {
            let k = which.key();
            uninstall(&home, &k).map_err(registry_failure)?;
            outln!("uninstalled {k}");
        }
        PluginCmd::Discover { dir, install, tenant, yes } => {
            let runtime = registry_runtime(&home)?;
            let mut failed = 0;
            for folder in plugin_dirs(&dir).map_err(registry_failure)? {
                let shown = folder.display();
                match check_dir(&runtime, &folder) {
                    Ok((_, found)) => {
                        let exports = found.exports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                        outln!("ok     {} {} ({exports})  {shown}", found.name, found.version);
                        if install {
                            let grants = plinth::Grants::default();
                            match install_confirmed(&runtime, &home, &folder, tenant.as_deref(), grants, |i| confirm(i, yes)) {
                                Ok((locked, _)) => outln!("       installed {}", key(&locked.name, &locked.tenant)),
                                Err(e) => {
                                    failed += 1;
                                    outln!("       not installed: {}", plinth::error::chain(&e));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        outln!("error  {shown}: {}", plinth::error::chain(&e));
                    }
                }
            }
            if failed > 0 {
                return Err(Failure {
                    code: 1,
                    error: anyhow!("{failed} plugin folder(s) under {} did not load or install", dir.display()),
                });
            }
        }
        PluginCmd::Doctor { repair: fix } => {
            let runtime = registry_runtime(&home)?;
            if fix {
                for line in repair(&runtime, &home).map_err(registry_failure)? {
                    outln!("repaired {line}");
                }
            }
            let problems = doctor(&runtime, &home).map_err(registry_failure)?;
            if problems.is_empty() {
                outln!("ok: no problems found in {}", home.root().display());
                return Ok(());
            }
            for p in &problems {
                outln!("{}: {} — fix: {}", p.plugin, p.problem, p.fix);
            }
            return Err(Failure { code: 1, error: anyhow!("{} problem(s) found", problems.len()) });
        }
    }
    Ok(())
}

/// A remote plugin's endpoint, when PATH is one (`grpc://…`, `grpcs://…`).
fn endpoint(path: &std::path::Path) -> Option<String> {
    let text = path.to_string_lossy();
    (text.starts_with("grpc://") || text.starts_with("grpcs://")).then(|| text.into_owned())
}

/// The `--name` a remote install needs; grants are for wasm plugins.
fn remote_name(name: Option<String>, grants: &CapArgs) -> Result<String, Failure> {
    if grants.any() {
        return Err(Failure {
            code: 2,
            error: anyhow!("--allow-fs/env/http/stdio grant capabilities to wasm plugins; a remote plugin has none"),
        });
    }
    name.ok_or_else(|| Failure { code: 2, error: anyhow!("a remote plugin needs a name: --name NAME") })
}

/// The same commands against a running `plinth serve` (`--server URL`).
pub fn run_remote(cmd: PluginCmd, remote: &Remote) -> Result<(), Failure> {
    let path_of = |name: &str| format!("/plugins/{name}");
    match cmd {
        PluginCmd::Install { path, tenant, name, allow_remote, apply } if endpoint(&path).is_some() => {
            let name = remote_name(name, &apply.grants)?;
            if !allow_remote.is_empty() {
                return Err(Failure {
                    code: 2,
                    error: anyhow!(
                        "not with --server: --allow-remote is the server operator's (`plinth serve --allow-remote`, or plugins.toml)"
                    ),
                });
            }
            let body = json!({"name": name, "plugin_type": "grpc", "source": path.to_string_lossy(), "tenant_id": tenant.clone().unwrap_or_default()});
            let answer = remote.send(remote.request(Method::POST, "/plugins", tenant.as_deref()).json(&body))?;
            let record = if answer.status == StatusCode::ACCEPTED { remote.settled(&name, tenant.as_deref())? } else { answer.body };
            outln!(
                "installed {} (remote plugin at {}) on the server: {}",
                key(&name, &tenant),
                record["source"].as_str().unwrap_or("?"),
                status(&record)
            );
        }
        PluginCmd::Install { path, tenant, apply, .. } | PluginCmd::Update { path: Some(path), tenant, apply, .. } => {
            no_grants(&apply)?;
            let (name, content_type, bytes) = remote::package(&path)?;
            eprintln!("uploading {} ({} KiB) as {name}:", path.display(), bytes.len() >> 10);
            let sha = remote::sha256(&bytes);
            let request = remote
                .request(Method::PUT, &format!("/plugins/{name}/package"), tenant.as_deref())
                .header("content-type", content_type)
                .header("x-plinth-sha256", sha)
                .body(bytes);
            let answer = remote.send(request)?;
            let record = if answer.status == StatusCode::ACCEPTED { remote.settled(&name, tenant.as_deref())? } else { answer.body };
            let verb = if record["created_at"] == record["updated_at"] { "installed" } else { "updated" };
            outln!(
                "{verb} {} {} ({}) on the server: {}",
                key(&name, &tenant),
                record["version"].as_str().unwrap_or("?"),
                exports(&record),
                status(&record)
            );
        }
        PluginCmd::Update { name, path: None, tenant, apply } => {
            no_grants(&apply)?;
            // From where the server installed it from.
            let record = remote.send(remote.request(Method::GET, &path_of(&name), tenant.as_deref()))?.body;
            let source = record["source"].as_str().ok_or_else(|| anyhow!("the server gave no source for {name}"))?.to_string();
            let patch = remote.request(Method::PATCH, &path_of(&name), tenant.as_deref()).json(&json!({"source": source}));
            let answer = remote.send(patch)?;
            let record = if answer.status == StatusCode::ACCEPTED { remote.settled(&name, tenant.as_deref())? } else { answer.body };
            outln!("updated {} to {} on the server: {}", key(&name, &tenant), record["version"].as_str().unwrap_or("?"), status(&record));
        }
        PluginCmd::List => {
            let list = remote.send(remote.request(Method::GET, "/plugins", None))?.body;
            outln!("{:<24} {:<10} {:<10} {:<8} {:<15} EXPORTS", "NAME", "TENANT", "VERSION", "ENABLED", "STATUS");
            for p in list.as_array().into_iter().flatten() {
                let tenant = p["tenant_id"].as_str().filter(|t| !t.is_empty()).unwrap_or("-");
                outln!(
                    "{:<24} {:<10} {:<10} {:<8} {:<15} {}",
                    p["name"].as_str().unwrap_or("?"),
                    tenant,
                    p["version"].as_str().unwrap_or("-"),
                    if p["enabled"] == true { "yes" } else { "no" },
                    p["status"].as_str().unwrap_or("?"),
                    exports(p)
                );
            }
        }
        PluginCmd::Show(which) => {
            let p = remote.send(remote.request(Method::GET, &path_of(&which.name), which.tenant.as_deref()))?.body;
            outln!("{}", which.key());
            for field in ["version", "status", "last_error", "enabled", "source", "sha256", "description", "created_at", "updated_at"] {
                match &p[field] {
                    Value::Null => {}
                    Value::String(s) if s.is_empty() => {}
                    Value::String(s) => outln!("  {:<12}{s}", format!("{field}:")),
                    v => outln!("  {:<12}{v}", format!("{field}:")),
                }
            }
            outln!("  {:<12}{}", "exports:", exports(&p));
            outln!("  {:<12}{}", "config:", p["config"]);
        }
        PluginCmd::Enable(which) => set_remote(remote, &which, true)?,
        PluginCmd::Disable(which) => set_remote(remote, &which, false)?,
        PluginCmd::Uninstall(which) => {
            remote.send(remote.request(Method::DELETE, &path_of(&which.name), which.tenant.as_deref()))?;
            outln!("uninstalled {} from the server", which.key());
        }
        PluginCmd::Discover { .. } => {
            return Err(Failure {
                code: 2,
                error: anyhow!(
                    "discover reads a local directory: run it without --server, then `plinth --server URL plugin install DIR` for each"
                ),
            });
        }
        PluginCmd::Doctor { repair } => {
            if repair {
                return Err(anyhow!("--repair works on a local home: run `plinth plugin doctor --repair` on the server's machine").into());
            }
            // The server reconciles and reports: every plugin not running or disabled.
            let list = remote.send(remote.request(Method::GET, "/plugins", None))?.body;
            let mut problems = 0;
            for p in list.as_array().into_iter().flatten() {
                let status = p["status"].as_str().unwrap_or("?");
                if !matches!(status, "running" | "disabled") {
                    problems += 1;
                    outln!("{}: {status}: {}", p["name"].as_str().unwrap_or("?"), p["last_error"].as_str().unwrap_or("no reason given"));
                }
            }
            if problems > 0 {
                return Err(Failure { code: 1, error: anyhow!("{problems} problem(s) found") });
            }
            outln!("ok: every plugin on the server is running or disabled");
        }
    }
    Ok(())
}

fn set_remote(remote: &Remote, which: &Installed, enabled: bool) -> Result<(), Failure> {
    let patch =
        remote.request(Method::PATCH, &format!("/plugins/{}", which.name), which.tenant.as_deref()).json(&json!({"enabled": enabled}));
    let record = remote.send(patch)?.body;
    outln!("{} {} on the server: {}", if enabled { "enabled" } else { "disabled" }, which.key(), status(&record));
    Ok(())
}

/// Grants are the server operator's (in its plugins.toml), not a client's to send.
fn no_grants(apply: &Apply) -> Result<(), Failure> {
    if apply.grants.any() {
        return Err(anyhow!("--allow-* grants cannot be sent to a server: the server's operator grants them in its plugins.toml").into());
    }
    Ok(())
}

fn exports(record: &Value) -> String {
    let list = record["exports"].as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|e| format!("{} {}", e["kind"].as_str().unwrap_or("?"), e["name"].as_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn status(record: &Value) -> String {
    match (record["status"].as_str(), record["last_error"].as_str()) {
        (Some(s), Some(e)) => format!("{s} ({e})"),
        (Some(s), None) => s.to_string(),
        _ => "?".into(),
    }
}
