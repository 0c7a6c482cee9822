//! Shared helpers: where the built guests are, one runtime per test binary, loaded plugins.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use plinth::{Plugin, Runtime};

/// `target/guests/<name>.wasm`, failing with the command to run if it is missing.
pub fn guest(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `cargo xtask build-guests` (or `cargo xtask test`)", p.display());
    p
}

/// One runtime for the whole test binary (as an embedder would have).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new().expect("runtime"))
}

/// The guest `name`, loaded once per test binary.
pub fn plugin(name: &str) -> Plugin {
    static LOADED: OnceLock<Mutex<HashMap<String, Plugin>>> = OnceLock::new();
    let map = LOADED.get_or_init(Default::default);
    if let Some(p) = map.lock().unwrap().get(name) {
        return p.clone();
    }
    let p = runtime().load_file(guest(name)).unwrap_or_else(|e| panic!("loading {name}: {e}"));
    map.lock().unwrap().insert(name.to_string(), p.clone());
    p
}

/// A guest built by a non-Rust toolchain (Python, JavaScript, C). One that is missing fails
/// the test, saying why when `cargo xtask build-guests` recorded a reason in
/// `target/guests/SKIPPED` (no toolchain here); `cargo xtask test` never runs those tests.
pub fn foreign_guest(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests");
    let p = dir.join(format!("{name}.wasm"));
    if p.exists() {
        return p;
    }
    let skipped = std::fs::read_to_string(dir.join("SKIPPED")).unwrap_or_default();
    match skipped.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": "))) {
        Some(reason) => panic!("{name} was not built ({reason}); `cargo xtask test` skips its tests and names them"),
        None => panic!("{} is missing: run `cargo xtask build-guests` (or `cargo xtask test`)", p.display()),
    }
}
