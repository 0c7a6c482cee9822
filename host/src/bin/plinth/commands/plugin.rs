//! `plinth plugin …`: install, update, list, show, enable, disable, uninstall, doctor.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Subcommand;
use plinth::registry::{RegistryError, doctor, install_confirmed, repair, set_enabled, uninstall, update};

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
        /// as an absolute path, so `update` finds it from any directory.
        path: PathBuf,
        /// Install for this tenant only (default: global, visible to every tenant).
        #[arg(long, value_parser = parse_tenant)]
        tenant: Option<String>,
        #[command(flatten)]
        apply: Apply,
    },
    /// Reinstall a plugin from PATH, or from where it was installed from; without --allow-*
    /// flags it keeps the grants it has. Its config overrides and enabled state are kept.
    Update {
        /// The installed plugin's name.
        name: String,
        /// Where to reinstall from (default: where it was installed from). Its manifest
        /// must name the same plugin.
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
        PluginCmd::Install { path, tenant, apply: Apply { grants, yes } } => {
            let runtime = registry_runtime(&home)?;
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
            outln!("  wasm:     sha256 {}", p.wasm_sha256);
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
