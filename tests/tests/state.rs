//! Installed-plugin state on disk: install, lock, store, tamper detection, disabled plugins.

mod common;

use std::path::{Path, PathBuf};

use common::{guest, runtime};
use plinth::registry::state::Home;
use plinth::registry::{Key, Registry, RegistryError, install};
use plinth::{CallContext, Grants};

/// A plugin directory: `plinth.toml` + the text classifier's wasm.
pub fn classifier_dir(root: &Path) -> PathBuf {
    let dir = root.join("text-classifier");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(guest("text_classifier"), dir.join("text_classifier.wasm")).unwrap();
    std::fs::write(
        dir.join("plinth.toml"),
        "name = \"text-classifier\"\nversion = \"0.1.0\"\nentry = \"text_classifier.wasm\"\napi = \"0.1.0\"\n[provides]\ntool = [\"classify\"]\n[config]\nthreshold = 0.8\n",
    )
    .unwrap();
    dir
}

#[test]
fn install_two_then_open_and_call_by_handler() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    let (locked, impact) = install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    assert_eq!((locked.name.as_str(), locked.version.as_str(), locked.api.as_str()), ("text-classifier", "0.1.0", "0.1.0"));
    assert_eq!(impact.added, ["tool classify"]);
    assert!(locked.manifest_sha256.is_some());
    // A bare .wasm, for a tenant.
    let (bare, _) = install(runtime(), &home, &guest("json_transform"), Some("acme"), Grants::default()).unwrap();
    assert_eq!((bare.name.as_str(), bare.version.as_str()), ("json_transform", "0.0.0"));
    assert!(home.store_path(&bare.wasm_sha256, "wasm").exists());

    let (registry, report) = Registry::open(runtime(), &home).unwrap();
    assert_eq!(report.loaded.len(), 2, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let tc = registry.resolve("wasm://text-classifier@0.1.0", Some("acme")).unwrap();
    assert_eq!(tc.config.to_value().unwrap()["threshold"], 0.8);
    let out = tc.plugin.call_tool("classify", &CallContext::default(), r#"{"text":"Buy now!"}"#).unwrap();
    assert_eq!(out.output.to_value().unwrap()["category"], "spam");
    assert!(registry.resolve("json_transform", Some("beta")).is_err(), "beta reached acme's plugin");

    // Reinstalling shows the impact; the lock has one entry per plugin.
    let (_, again) = install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    assert_eq!(again.replaced, ["tool classify"]);
    assert_eq!(home.read_lock().unwrap().plugin.len(), 2);
}

#[test]
fn a_conflicting_install_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    let lock_before = std::fs::read(home.lock_path()).unwrap();
    let desired_before = std::fs::read(home.desired_path()).unwrap();
    // The same tool under another name, same scope.
    let err = install(runtime(), &home, &guest("text_classifier"), None, Grants::default()).unwrap_err();
    assert!(matches!(&err, RegistryError::Conflict { existing, .. } if *existing == Key::global("text-classifier")), "{err}");
    assert_eq!(std::fs::read(home.lock_path()).unwrap(), lock_before);
    assert_eq!(std::fs::read(home.desired_path()).unwrap(), desired_before);
}

#[test]
fn a_tampered_store_file_is_refused_and_the_rest_still_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    let (tc, _) = install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    install(runtime(), &home, &guest("json_transform"), None, Grants::default()).unwrap();
    // Replace the stored classifier with another (valid!) plugin.
    std::fs::copy(guest("hostile"), home.store_path(&tc.wasm_sha256, "wasm")).unwrap();
    let (registry, report) = Registry::open(runtime(), &home).unwrap();
    assert_eq!(report.loaded, [Key::global("json_transform")]);
    assert_eq!(report.failed.len(), 1);
    assert!(matches!(&report.failed[0].1, RegistryError::Tampered { .. }), "{:?}", report.failed);
    assert!(registry.resolve("text-classifier", None).is_err(), "a tampered plugin was registered");
}

#[test]
fn disabled_plugins_are_not_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    let lock = home.lock().unwrap();
    let mut desired = home.read_desired().unwrap();
    desired.plugin[0].enabled = false;
    home.write_desired(&desired, &lock).unwrap();
    drop(lock);
    let (registry, report) = Registry::open(runtime(), &home).unwrap();
    assert_eq!(report.disabled, [Key::global("text-classifier")]);
    assert!(registry.list().is_empty());
}
