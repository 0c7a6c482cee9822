//! `plinth new` → build → `plinth test` → `plinth plugin install`, for every kind, in Rust
//! (the one language `plinth new` generates so far): the generated project builds outside
//! this repository's workspaces and its fixture cases pass through the real host; a case
//! that is made wrong fails with the reason; a broken case file is refused by name.

mod serve_support;

use std::path::Path;
use std::process::Command;

use serve_support::plinth;

/// Builds the project in `dir` into the guests' target directory (shared, so the SDK and its
/// dependencies are compiled once), then puts the wasm where the manifest's entry says.
fn build(dir: &Path, krate: &str) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/target");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&shared)
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo build of the new project failed: {}", String::from_utf8_lossy(&out.stderr));
    let built = shared.join("wasm32-wasip2/release").join(format!("{krate}.wasm"));
    let entry = dir.join("target/wasm32-wasip2/release");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::copy(&built, entry.join(format!("{krate}.wasm"))).unwrap();
}

#[test]
fn every_kind_in_rust_is_generated_built_tested_and_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    for (kind, passes) in [("node", 2), ("tool", 2), ("trigger", 3), ("listener", 2)] {
        let name = format!("demo-{kind}");
        let dir = tmp.path().join(&name);
        let out = plinth(&home, &["new", &name, "--kind", kind, "--lang", "rust", "--dir", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for f in ["Cargo.toml", "src/lib.rs", "plinth.toml", "README.md", "wit/v0.1.0/worlds.wit"] {
            assert!(dir.join(f).is_file(), "{f} missing");
        }
        build(&dir, &name.replace('-', "_"));
        let out = plinth(&home, &["test", dir.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("{passes} passed, 0 failed")), "{stdout}");
        let out = plinth(&home, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The installed node answers as its fixture says.
    let out = plinth(&home, &["invoke", "demo-node", "--params", r#"{"name":"Ada"}"#]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"{"message":"Hello, Ada!"}"#);

    // A wrong expectation fails, saying what came instead; a broken case file is refused.
    let dir = tmp.path().join("demo-node");
    std::fs::write(
        dir.join("tests/wrong.json"),
        r#"{"export": "greet", "input": {"name": "Bo"}, "expect": {"output": {"message": "Hi"}}}"#,
    )
    .unwrap();
    // `includes` that is not there, and an error expected where an output comes.
    std::fs::write(
        dir.join("tests/wrong-more.json"),
        r#"[{"export": "greet", "input": {"name": "Bo"}, "expect": {"includes": {"extra": 1}}},
            {"export": "greet", "input": {"name": "Bo"}, "expect": {"error": "failed"}}]"#,
    )
    .unwrap();
    let out = plinth(&home, &["test", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("FAIL  wrong:") && stdout.contains("Hello, Bo!") && stdout.contains("2 passed, 3 failed"), "{stdout}");
    assert!(
        stdout.contains("FAIL  wrong-more#1")
            && stdout.contains("FAIL  wrong-more#2: node greet")
            && stdout.contains("expected error failed"),
        "{stdout}"
    );
    let out = plinth(&home, &["test", dir.to_str().unwrap(), "--filter", "greets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed, 0 failed"));
    std::fs::write(dir.join("tests/broken.json"), "{\"export\": ").unwrap();
    let out = plinth(&home, &["test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.json is not a fixture case"));

    // Refused before anything is written.
    let out = plinth(&home, &["new", "demo-node", "--kind", "node", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "an existing project must not be overwritten");
    for bad in ["bad.name", "../up", "fn", "9lives", ""] {
        let out = plinth(&home, &["new", bad, "--kind", "node", "--dir", tmp.path().join("x").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    assert!(!tmp.path().join("x").exists());
    let out = plinth(&home, &["new", "py", "--kind", "node", "--lang", "python", "--dir", tmp.path().join("py").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!tmp.path().join("py").exists());
}
