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
    assert_eq!(impact.added.iter().map(ToString::to_string).collect::<Vec<_>>(), ["tool classify"]);
    assert!(!impact.unchanged);
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
    assert_eq!(again.replaced.iter().map(ToString::to_string).collect::<Vec<_>>(), ["tool classify"]);
    assert!(again.unchanged, "the same files, source and grants: nothing to write");
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
    assert!(matches!(&err, RegistryError::Conflict { existing, .. } if **existing == Key::global("text-classifier")), "{err}");
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

/// The same component with a custom section appended: different bytes, same behaviour.
fn variant(n: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(guest("text_classifier")).unwrap();
    bytes.extend_from_slice(&[0x00, 0x05, 0x03, b'g', b'e', b'n', n]);
    bytes
}

#[test]
fn updates_hot_reload_under_load_with_no_failed_call() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    let dir = classifier_dir(tmp.path());
    install(runtime(), &home, &dir, None, Grants::default()).unwrap();
    let (registry, _) = Registry::open(runtime(), &home).unwrap();
    let registry = Arc::new(registry);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (r, stop, ok, failed) = (registry.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let res = r
                        .resolve("text-classifier", None)
                        .ok()
                        .and_then(|p| p.plugin.call_tool("classify", &CallContext::default(), r#"{"text":"Buy now!"}"#).ok());
                    match res {
                        Some(out) if out.output.to_value().unwrap()["category"] == "spam" => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for n in 1..=5u8 {
        std::fs::write(dir.join("text_classifier.wasm"), variant(n)).unwrap();
        install(runtime(), &home, &dir, None, Grants::default()).unwrap();
        let report = registry.refresh(runtime(), &home).unwrap();
        assert_eq!(report.loaded, [Key::global("text-classifier")], "{report:?}");
        assert_eq!(registry.resolve("text-classifier", None).unwrap().generation, u64::from(n) + 1);
    }
    // Nothing changed: nothing reloads.
    assert!(registry.refresh(runtime(), &home).unwrap().loaded.is_empty());
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 5);
    // Uninstalled elsewhere: refresh removes it.
    plinth::registry::uninstall(&home, &Key::global("text-classifier")).unwrap();
    registry.refresh(runtime(), &home).unwrap();
    assert!(registry.list().is_empty());
}

#[test]
fn operator_config_overrides_the_manifest_default() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    let lock = home.lock().unwrap();
    let mut desired = home.read_desired().unwrap();
    desired.plugin[0].config = Some(toml::from_str("threshold = 0.5\nmode = \"strict\"").unwrap());
    home.write_desired(&desired, &lock).unwrap();
    drop(lock);
    let (registry, _) = Registry::open(runtime(), &home).unwrap();
    let config = registry.resolve("text-classifier", None).unwrap().config.to_value().unwrap();
    assert_eq!(config, serde_json::json!({"threshold": 0.5, "mode": "strict"}));
}

#[test]
fn doctor_names_a_tampered_manifest_and_its_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    let (locked, _) = install(runtime(), &home, &classifier_dir(tmp.path()), None, Grants::default()).unwrap();
    assert!(plinth::registry::doctor(runtime(), &home).unwrap().is_empty());
    let sha = locked.manifest_sha256.unwrap();
    std::fs::write(home.store_path(&sha, "toml"), "name = \"evil\"").unwrap();
    let problems = plinth::registry::doctor(runtime(), &home).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].problem.contains(&sha) && problems[0].fix == "plinth plugin update text-classifier --yes", "{problems:?}");
    // And it is refused at load.
    let (_, report) = Registry::open(runtime(), &home).unwrap();
    assert!(matches!(report.failed[0].1, RegistryError::Tampered { .. }), "{report:?}");
}
