//! Discovering a directory of plugins: each folder with a plinth.toml checked on its own,
//! broken ones reported with the reason while the rest load (library and CLI).

mod serve_support;

use plinth::registry::{Key, Registry};
use serve_support::*;

/// A tree with two good plugins (one nested), three broken ones and two that are skipped.
fn tree(root: &std::path::Path) {
    plugin_dir(root, "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    plugin_dir(root, "team/nodes/transform", "json-transform", "0.2.0", "json_transform", "node = [\"transform\"]");
    // Not TOML.
    let bad = root.join("bad-manifest");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("plinth.toml"), "name = [").unwrap();
    // Its entry is missing.
    let gone = plugin_dir(root, "no-entry", "no-entry", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    std::fs::remove_file(gone.join("p.wasm")).unwrap();
    // The manifest promises an export the wasm does not have.
    plugin_dir(root, "liar", "liar", "0.1.0", "text_classifier", "tool = [\"summarize\"]");
    // Never looked into.
    plugin_dir(root, ".hidden", "hidden", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    plugin_dir(root, "tc/target/copy", "copy", "0.1.0", "text_classifier", "tool = [\"classify\"]");
}

#[test]
fn the_registry_discovers_what_loads_and_reports_what_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let runtime = plinth::Runtime::new().unwrap();
    let registry = Registry::new();
    let found = registry.discover(&runtime, tmp.path()).unwrap();
    let dirs: Vec<String> = found.iter().map(|f| f.dir.strip_prefix(tmp.path()).unwrap().display().to_string()).collect();
    assert_eq!(dirs, ["bad-manifest", "liar", "no-entry", "tc", "team/nodes/transform"]);
    let ok: Vec<&str> = found.iter().filter_map(|f| f.outcome.as_ref().ok()).map(|p| p.name.as_str()).collect();
    assert_eq!(ok, ["text-classifier", "json-transform"]);
    let why = |d: &str| plinth::error::chain(found.iter().find(|f| f.dir.ends_with(d)).unwrap().outcome.as_ref().unwrap_err());
    assert!(why("bad-manifest").contains("plinth.toml"), "{}", why("bad-manifest"));
    assert!(why("no-entry").contains("p.wasm"), "{}", why("no-entry"));
    assert!(why("liar").contains("summarize"), "{}", why("liar"));
    // Registered, and callable.
    let tc = registry.resolve("text-classifier", None).unwrap();
    assert!(tc.plugin.call_tool("classify", &Default::default(), SPAM).is_ok());
    assert!(registry.get(&Key::global("json-transform")).is_some());
    assert!(registry.get(&Key::global("liar")).is_none());
    // A directory that is not there is the one error.
    assert!(registry.discover(&runtime, &tmp.path().join("nowhere")).is_err());
}

#[test]
fn plinth_plugin_discover_reports_each_folder_and_installs_what_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("plugins");
    tree(&root);
    let home = tmp.path().join("home");
    let out = plinth(&home, &["plugin", "discover", root.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), 2, "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("error ")).count(), 3, "{text}");
    assert!(text.contains("text-classifier 0.1.0 (tool classify)"), "{text}");
    assert!(!text.contains("hidden") && !text.contains("copy"), "{text}");
    // Nothing installed without --install.
    assert!(
        !home.join("plinth.lock").exists()
            || std::fs::read_to_string(home.join("plinth.lock")).unwrap().lines().all(|l| !l.contains("name"))
    );

    let out = plinth(&home, &["plugin", "discover", root.to_str().unwrap(), "--install", "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().filter(|l| l.contains("installed ")).count(), 2, "{text}");
    let list = String::from_utf8_lossy(&plinth(&home, &["plugin", "list"]).stdout).into_owned();
    assert!(list.contains("text-classifier") && list.contains("json-transform") && !list.contains("liar"), "{list}");
    assert!(plinth(&home, &["invoke", "text-classifier", "--params", SPAM]).status.success());
}
