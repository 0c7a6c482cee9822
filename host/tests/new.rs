//! `plinth new` → build → `plinth test` → `plinth plugin install`, for every kind in every
//! language: each generated project builds outside this repository's workspaces with the
//! command its README gives, and its fixture cases pass through the real host. Every
//! language's template also meets the same extra cases (escapes, nesting, cursors that are
//! not counts, bodies that are not JSON), so the four templates behave alike. A case that is
//! made wrong fails with the reason; a broken case file is refused by name.
//!
//! The Python, JavaScript and C tests sit in `lang_python::`, `lang_js::` and `lang_c::`:
//! `cargo xtask test` skips them by those names when it could not install a toolchain.

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serve_support::plinth;

const KINDS: [(&str, usize); 4] = [("node", 2), ("tool", 2), ("trigger", 3), ("listener", 2)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The build commands of the project's README: the lines of its `sh` block after the
/// one-time setup (`# …once`) and before `plinth test`.
fn readme_build(dir: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("README has an sh block");
    block
        .lines()
        .take_while(|l| !l.starts_with("plinth test"))
        .filter(|l| !l.contains("once"))
        .map(|l| l.split("  #").next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs the README's build commands in `dir`, with `path` in front of PATH and `env` set.
fn build(dir: &Path, path: &[PathBuf], env: &[(&str, &Path)]) {
    let commands = readme_build(dir);
    assert!(!commands.is_empty(), "no build command in {}/README.md", dir.display());
    let mut search: Vec<PathBuf> = path.to_vec();
    search.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    for command in commands {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &command]).current_dir(dir).env("PATH", std::env::join_paths(&search).unwrap()).env_remove("RUSTFLAGS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run sh");
        assert!(
            out.status.success(),
            "`{command}` in {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Cases every language's template must pass beyond its own, written next to them.
fn extra_cases(kind: &str) -> (String, usize) {
    let (cases, n) = match kind {
        "node" => (
            r#"[{"export": "greet", "input": {"skip": {"name": ["x", {"name": 1}]}, "name": "Zoë \"Q\"\n\u00e9\ud83d\ude00"},
                 "expect": {"output": {"message": "Hello, Zoë \"Q\"\n\u00e9\ud83d\ude00!"}}},
                {"export": "greet", "input": {"name": 5}, "expect": {"error": "invalid_input"}},
                {"export": "greet", "input": [], "expect": {"error": "invalid_input"}}]"#,
            3,
        ),
        "tool" => (
            r#"[{"export": "word-count", "input": {"text": " a\tb\nc  d "}, "expect": {"output": {"words": 4}}},
                {"export": "word-count", "input": {"text": ""}, "expect": {"output": {"words": 0}}},
                {"export": "word-count", "input": {"text": "a\u00a0b a\u000bb a\fb"}, "expect": {"output": {"words": 4}}}]"#,
            3,
        ),
        "trigger" => (
            r#"[{"export": "tick", "input": {"cursor": ""}, "expect": {"error": "invalid_input"}},
                {"export": "tick", "input": {"cursor": "-1"}, "expect": {"error": "invalid_input"}},
                {"export": "tick", "input": {"cursor": "+5"}, "expect": {"error": "invalid_input"}},
                {"export": "tick", "input": {"cursor": "12345678901234567890"}, "expect": {"error": "invalid_input"}},
                {"export": "tick", "input": {"cursor": "9999999999999999998"},
                 "expect": {"includes": {"events": [{"n": 9999999999999999999}], "cursor": "9999999999999999999"}}},
                {"export": "tick", "input": {"cursor": "9"}, "expect": {"includes": {"events": [{"n": 10}], "cursor": "10"}}}]"#,
            6,
        ),
        _ => (
            r#"[{"export": "webhook", "input": {"body": " {\"x\": [true, false, null, -1.25, 2.5e-1, \"\\u00e9\"], \"y\": {}} "},
                 "expect": {"output": {"dispatches": [{"event": "webhook.received", "payload": {"x": [true, false, null, -1.25, 0.25, "é"], "y": {}}}], "reply": null}}},
                {"export": "webhook", "input": {"body": "[1, 2"}, "expect": {"error": "invalid_input"}},
                {"export": "webhook", "input": {"body": "{\"a\": NaN}"}, "expect": {"error": "invalid_input"}},
                {"export": "webhook", "input": {"body": "{\"a\": 1} x"}, "expect": {"error": "invalid_input"}},
                {"export": "webhook", "input": {"body": ""}, "expect": {"error": "invalid_input"}},
                {"export": "webhook", "input": {"body": "{\"big\": 9007199254740993, \"f\": 1.0}"},
                 "expect": {"output": {"dispatches": [{"event": "webhook.received", "payload": {"big": 9007199254740993, "f": 1.0}}], "reply": null}}},
                {"export": "webhook", "input": {"body": "[1e400]"}, "expect": {"error": "invalid_input"}},
                {"export": "webhook", "input": {"body": "{\"a\": \"\\ud800\"}"}, "expect": {"error": "invalid_input"}}]"#,
            8,
        ),
    };
    let mut cases: Vec<serde_json::Value> = serde_json::from_str(cases).unwrap();
    let mut n = n;
    if kind == "listener" {
        // The host reads a payload with serde_json, which takes 127 levels of nesting: so
        // does every template. Far deeper is refused too, where an interpreter's recursive
        // parser would have exhausted the wasm stack; and so is an integer of 400 digits.
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let body = |b: String| serde_json::json!({"export": "webhook", "input": {"body": b}, "expect": {"error": "invalid_input"}});
        // (124: `plinth test` reads the whole output, whose payload sits 3 levels down.)
        cases.push(serde_json::json!({"export": "webhook", "input": {"body": nested(124)}, "expect": {"includes": {"reply": null}}}));
        cases.push(body(nested(128)));
        cases.push(body(nested(10_000)));
        cases.push(body(format!("[{}]", "9".repeat(400))));
        n += 4;
    }
    (serde_json::Value::Array(cases).to_string(), n)
}

/// `plinth new` of every kind in `lang` under `tmp`, each built by `build_one`, tested (its
/// own cases and the extra ones) and installed into `home`.
fn every_kind(lang: &str, tmp: &Path, home: &Path, build_one: impl Fn(&Path, &str)) {
    for (kind, own) in KINDS {
        let name = format!("{lang}-{kind}");
        let dir = tmp.join(&name);
        let out = plinth(home, &["new", &name, "--kind", kind, "--lang", lang, "--dir", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for f in ["plinth.toml", "README.md", "wit/v0.1.0/worlds.wit", ".gitignore"] {
            assert!(dir.join(f).is_file(), "{name}: {f} missing");
        }
        build_one(&dir, &name);
        let (extra, more) = extra_cases(kind);
        std::fs::write(dir.join("tests/extra.json"), extra).unwrap();
        let out = plinth(home, &["test", dir.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("\n{} passed, 0 failed", own + more)), "{name}:\n{stdout}");
        let out = plinth(home, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The installed node answers as its fixture says.
    let out = plinth(home, &["invoke", &format!("{lang}-node"), "--params", r#"{"name":"Ada"}"#]);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(answer, serde_json::json!({"message": "Hello, Ada!"}), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_kind_in_rust_is_generated_built_tested_and_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    // The guests' target directory, shared so the SDK and its dependencies compile once; the
    // wasm is then put where the manifest's entry says.
    let shared = root().join("guests/target");
    every_kind("rust", tmp.path(), &home, |dir, name| {
        build(dir, &[], &[("CARGO_TARGET_DIR", &shared)]);
        let file = format!("{}.wasm", name.replace('-', "_"));
        let entry = dir.join("target/wasm32-wasip2/release");
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::copy(shared.join("wasm32-wasip2/release").join(&file), entry.join(&file)).unwrap();
    });
    let cargo = std::fs::read_to_string(tmp.path().join("rust-node/Cargo.toml")).unwrap();
    assert!(cargo.contains("[workspace]") && cargo.contains("guest-sdk"), "{cargo}");

    // A wrong expectation fails, saying what came instead; a broken case file is refused.
    let dir = tmp.path().join("rust-node");
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
    assert!(stdout.contains("FAIL  wrong:") && stdout.contains("Hello, Bo!") && stdout.contains("5 passed, 3 failed"), "{stdout}");
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
    let out = plinth(&home, &["new", "rust-node", "--kind", "node", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "an existing project must not be overwritten");
    for bad in ["bad.name", "../up", "fn", "9lives", ""] {
        let out = plinth(&home, &["new", bad, "--kind", "node", "--dir", tmp.path().join("x").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
    let out = plinth(&home, &["new", "x", "--kind", "node", "--lang", "cobol", "--dir", tmp.path().join("x").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a bad value of a known flag");
    assert!(!tmp.path().join("x").exists());
}

mod lang_python {
    use super::*;

    /// componentize-py as `cargo xtask test` set it up (a virtualenv under target/), else PATH's.
    #[test]
    fn every_kind_is_generated_built_tested_and_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = root().join("target/toolchains/python/bin");
        every_kind("python", tmp.path(), &tmp.path().join("home"), |dir, _| build(dir, std::slice::from_ref(&venv), &[]));
        let pins = std::fs::read_to_string(tmp.path().join("python-node/requirements.txt")).unwrap();
        assert!(pins.starts_with("componentize-py=="), "{pins}");
    }
}

mod lang_js {
    use super::*;

    /// jco from guests/js (installed from its lockfile) stands in for the project's own
    /// `npm install` of the same pinned versions.
    #[test]
    fn every_kind_is_generated_built_tested_and_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let modules = root().join("guests/js/node_modules");
        assert!(modules.join(".bin/jco").exists(), "jco is not installed: npm install --no-save --prefix guests/js");
        every_kind("js", tmp.path(), &tmp.path().join("home"), |dir, _| {
            std::os::unix::fs::symlink(&modules, dir.join("node_modules")).unwrap();
            build(dir, &[], &[]);
        });
        let package: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(tmp.path().join("js-node/package.json")).unwrap()).unwrap();
        assert!(package["devDependencies"]["@bytecodealliance/jco"].is_string(), "{package}");
    }
}

mod lang_c {
    use super::*;

    /// `build.sh` runs this checkout's `cargo xtask build-c`, as a user's would.
    #[test]
    fn every_kind_is_generated_built_tested_and_installed() {
        let tmp = tempfile::tempdir().unwrap();
        every_kind("c", tmp.path(), &tmp.path().join("home"), |dir, _| build(dir, &[], &[]));
    }
}
