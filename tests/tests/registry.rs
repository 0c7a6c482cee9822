//! The registry: manifests, tenant-first resolution (no tenant reaches another's plugin),
//! conflicts refused atomically, impact, and hot reload with zero failed calls.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{guest, plugin};
use plinth::registry::{Key, Manifest, Registry, RegistryError};
use plinth::{CallContext, Json, Kind, Limits};

fn v(s: &str) -> semver::Version {
    semver::Version::parse(s).unwrap()
}

fn put(r: &Registry, key: Key, version: &str, guest_name: &str) -> Result<(), RegistryError> {
    r.register(key, v(version), plugin(guest_name), Json::from(serde_json::json!({}))).map(|_| ())
}

const MANIFEST: &str = r#"
name = "text-classifier"
version = "0.1.0"
description = "Spam, transactional or ham"
license = "Apache-2.0"
entry = "text_classifier.wasm"
api = "0.1.0"
plinth = ">=0.1, <0.2"

[provides]
tool = ["classify"]

[capabilities]
env = ["API_KEY"]
http = ["api.example.com"]

[limits]
fuel = 5000000
timeout_ms = 250

[config]
threshold = 0.8
"#;

#[test]
fn a_manifest_parses_and_matches_its_component() {
    let m = Manifest::parse(MANIFEST).unwrap();
    assert_eq!(m.name, "text-classifier");
    assert_eq!(m.provides.tool, ["classify"]);
    assert_eq!(m.capabilities.env, ["API_KEY"]);
    assert_eq!(m.capabilities.http[0].to_string(), "api.example.com");
    let limits = m.limits(Limits::default());
    assert_eq!((limits.fuel, limits.timeout), (5_000_000, Duration::from_millis(250)));
    assert_eq!(limits.memory, Limits::default().memory);
    assert_eq!(m.config_json(), serde_json::json!({"threshold": 0.8}));
    // The entry resolves inside the manifest's directory (symlinks followed).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("text_classifier.wasm"), b"x").unwrap();
    let real = dir.path().canonicalize().unwrap().join("text_classifier.wasm");
    assert_eq!(m.entry_path(&dir.path().join("plinth.toml")).unwrap(), real);
    m.check(&plugin("text_classifier")).unwrap();
}

#[test]
fn a_manifest_that_lies_about_its_component_is_refused() {
    let wrong_tool = MANIFEST.replace(r#"tool = ["classify"]"#, r#"tool = ["classify", "summarize"]"#);
    let err = Manifest::parse(&wrong_tool).unwrap().check(&plugin("text_classifier")).unwrap_err();
    assert!(matches!(&err, RegistryError::Incompatible { reason, .. } if reason.contains("summarize")), "{err}");
    let wrong_api = MANIFEST.replace(r#"api = "0.1.0""#, r#"api = "legacy""#);
    let err = Manifest::parse(&wrong_api).unwrap().check(&plugin("text_classifier")).unwrap_err();
    assert!(matches!(&err, RegistryError::Incompatible { reason, .. } if reason.contains("api legacy")), "{err}");
    let future_host = MANIFEST.replace(r#"plinth = ">=0.1, <0.2""#, r#"plinth = ">=9""#);
    let err = Manifest::parse(&future_host).unwrap().check(&plugin("text_classifier")).unwrap_err();
    assert!(matches!(&err, RegistryError::Incompatible { reason, .. } if reason.contains(">=9")), "{err}");
}

#[test]
fn malformed_manifests_are_refused() {
    for (what, text) in [
        ("unknown field", MANIFEST.replace("license", "licence")),
        ("escaping entry", MANIFEST.replace("entry = \"text_classifier.wasm\"", "entry = \"../../x.wasm\"")),
        ("bad name", MANIFEST.replace("name = \"text-classifier\"", "name = \"a b\"")),
        ("bad version", MANIFEST.replace("version = \"0.1.0\"", "version = \"one\"")),
        ("bad host pattern", MANIFEST.replace("api.example.com", "https://api.example.com")),
        ("config schema that is no schema", format!("{MANIFEST}\n[config_schema]\ntype = 5\n")),
    ] {
        assert!(Manifest::parse(&text).is_err(), "{what} accepted");
    }
}

#[test]
fn config_problems_name_where_the_config_fails_its_schema() {
    let schema = "[config_schema]\ntype = \"object\"\nrequired = [\"threshold\"]\n[config_schema.properties.threshold]\ntype = \"number\"\nmaximum = 1\n";
    let m = Manifest::parse(&format!("{MANIFEST}\n{schema}")).unwrap();
    assert!(m.config_problems(&serde_json::json!({"threshold": 0.5})).is_empty());
    let missing = m.config_problems(&serde_json::json!({}));
    assert!(missing.len() == 1 && missing[0].contains("threshold"), "{missing:?}");
    let wrong = m.config_problems(&serde_json::json!({"threshold": 7}));
    assert!(wrong.len() == 1 && wrong[0].starts_with("/threshold"), "{wrong:?}");
    // No schema: any config.
    assert!(Manifest::parse(MANIFEST).unwrap().config_problems(&serde_json::json!({"x": []})).is_empty());
}

#[test]
fn manifest_errors_keep_their_cause_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plinth.toml");
    std::fs::write(&path, MANIFEST.replace("[limits]", "[limits]\nfeul = 1")).unwrap();
    let err = Manifest::from_file(&path).unwrap_err();
    assert!(matches!(&err, RegistryError::Manifest { .. }), "{err:?}");
    // The chain, not one flattened string: manifest → TOML error naming the key.
    let chain: Vec<String> = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source()).map(|e| e.to_string()).collect();
    assert!(chain.len() >= 3, "{chain:?}");
    assert!(chain.last().unwrap().contains("feul"), "{chain:?}");
    // No level repeats the text of the level below it.
    for pair in chain.windows(2) {
        assert!(!pair[0].contains(&pair[1]), "duplicated text in {chain:?}");
    }
    let missing = Manifest::from_file(&dir.path().join("nope.toml")).unwrap_err();
    assert!(std::error::Error::source(&missing).is_some_and(|s| s.source().is_some_and(|io| io.is::<std::io::Error>())), "{missing:?}");
}

#[test]
fn tenants_resolve_their_own_then_global_and_never_anothers() {
    let r = Registry::new();
    put(&r, Key::global("shared"), "1.0.0", "text_classifier").unwrap();
    put(&r, Key::tenant("acme", "shared"), "2.0.0", "json_transform").unwrap();
    put(&r, Key::tenant("acme", "private"), "1.0.0", "interval_trigger").unwrap();

    assert_eq!(r.resolve("shared", Some("acme")).unwrap().key, Key::tenant("acme", "shared"));
    assert_eq!(r.resolve("shared", Some("beta")).unwrap().key, Key::global("shared"));
    assert_eq!(r.resolve("shared", None).unwrap().key, Key::global("shared"));
    // acme's private plugin: invisible to beta and to global callers.
    assert!(r.resolve("private", Some("acme")).is_ok());
    for tenant in [Some("beta"), None] {
        let err = r.resolve("private", tenant).unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    }
    // A tenant name that looks like a path gets nothing either.
    assert!(r.resolve("acme/private", Some("beta")).is_err());
}

#[test]
fn handler_references_and_versions() {
    let r = Registry::new();
    put(&r, Key::global("classifier"), "1.2.3", "text_classifier").unwrap();
    for h in ["classifier", "wasm://classifier", "classifier@1.2.3", "wasm://classifier@^1.2", "classifier@~1.2.0"] {
        assert_eq!(r.resolve(h, None).unwrap().version, v("1.2.3"), "{h}");
    }
    let err = r.resolve("classifier@1.2.4", None).unwrap_err();
    assert!(matches!(err, RegistryError::VersionMismatch { .. }), "{err}");
    for bad in ["", "wasm://", "classifier@not-a-version", "a:b"] {
        assert!(matches!(r.resolve(bad, None), Err(RegistryError::BadHandler { .. })), "{bad}");
    }
}

#[test]
fn the_same_export_in_one_scope_is_refused_naming_both_and_nothing_changes() {
    let r = Registry::new();
    put(&r, Key::global("first"), "1.0.0", "text_classifier").unwrap();
    let err = put(&r, Key::global("second"), "1.0.0", "text_classifier").unwrap_err();
    match &err {
        RegistryError::Conflict { kind: Kind::Tool, export, new, existing } => {
            assert_eq!(export, "classify");
            assert_eq!((&**new, &**existing), (&Key::global("second"), &Key::global("first")));
        }
        other => panic!("expected Conflict, got {other}"),
    }
    assert!(err.to_string().contains("first") && err.to_string().contains("second"));
    assert_eq!(r.list().len(), 1, "a refused plugin must leave no trace");
    // Another tenant may have its own plugin with that export.
    put(&r, Key::tenant("acme", "second"), "1.0.0", "text_classifier").unwrap();
}

#[test]
fn impact_says_what_changes() {
    let r = Registry::new();
    let key = Key::global("p");
    let first = r.impact(&key, &plugin("text_classifier")).unwrap();
    let labels = |e: &[plinth::registry::Export]| e.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!((labels(&first.added), first.needs_restart), (vec!["tool classify".to_string()], false));
    put(&r, key.clone(), "1.0.0", "text_classifier").unwrap();
    let same = r.impact(&key, &plugin("text_classifier")).unwrap();
    assert_eq!(labels(&same.replaced), ["tool classify"]);
    let other = r.impact(&key, &plugin("interval_trigger")).unwrap();
    assert_eq!((labels(&other.added), labels(&other.removed)), (vec!["trigger interval".to_string()], vec!["tool classify".to_string()]));
    assert!(other.needs_restart, "replacing with a trigger needs a restart");
}

#[test]
fn hot_reload_under_load_drops_no_call() {
    let r = Arc::new(Registry::new());
    let rt = common::runtime();
    let load = || rt.load_file(guest("text_classifier")).unwrap();
    r.register(Key::global("c"), v("1.0.0"), load(), Json::from(serde_json::json!({}))).unwrap();

    // A call that resolved before any reload keeps working on its generation.
    let old = r.resolve("c", None).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (r, stop, ok, failed) = (r.clone(), stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let result = r.resolve("c", None).map_err(|e| e.to_string()).and_then(|p| {
                        p.plugin.call_tool("classify", &CallContext::default(), r#"{"text":"Buy now!"}"#).map_err(|e| e.to_string())
                    });
                    match result {
                        Ok(out) if out.output.to_value().unwrap()["category"] == "spam" => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for i in 0..10 {
        let (installed, _) = r.register(Key::global("c"), v(&format!("1.0.{}", i + 1)), load(), Json::from(serde_json::json!({}))).unwrap();
        assert_eq!(installed.generation, i + 2);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "calls failed during reloads");
    assert!(ok.load(Ordering::Relaxed) > 10, "too few calls to prove anything: {}", ok.load(Ordering::Relaxed));
    assert_eq!(r.resolve("c", None).unwrap().generation, 11);
    assert_eq!(r.resolve("c", None).unwrap().version, v("1.0.10"));
    // The old generation is still callable by whoever holds it.
    assert_eq!(old.generation, 1);
    assert!(old.plugin.call_tool("classify", &CallContext::default(), r#"{"text":"x"}"#).is_ok());
}
