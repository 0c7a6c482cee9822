//! A plugin's lifecycle through the `plinth` binary when the state goes bad, as a new
//! operator would meet it: each bad state gets a message that names it and a fix that
//! works when pasted. Needs the guests built (`cargo xtask test` does it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn guest(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `cargo xtask build-guests`", p.display());
    p
}

fn plinth(home: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plinth"))
        .args(args)
        .current_dir(cwd)
        .env("PLINTH_HOME", home)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run plinth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn all(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[track_caller]
fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", all(out));
}

/// A plugin directory `dir/NAME` with a manifest for the text classifier; `extra` is
/// appended to the manifest.
fn plugin_dir(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(guest("text_classifier"), d.join("tc.wasm")).unwrap();
    std::fs::write(
        d.join("plinth.toml"),
        format!(
            "name = \"{name}\"\nversion = \"0.1.0\"\nentry = \"tc.wasm\"\napi = \"0.1.0\"\n\n[provides]\ntool = [\"classify\"]\n{extra}"
        ),
    )
    .unwrap();
    d
}

/// The fix lines `plinth plugin doctor` printed.
fn fixes(doctor: &Output) -> Vec<String> {
    text(&doctor.stdout).lines().filter_map(|l| l.split_once(" — fix: ").map(|(_, f)| f.to_string())).collect()
}

/// Runs a fix line as pasted (`plinth …`, words split on spaces).
fn paste(home: &Path, cwd: &Path, fix: &str) -> Output {
    let words: Vec<&str> = fix.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"plinth"), "not a command: {fix}");
    plinth(home, cwd, &words[1..])
}

const CALL: &[&str] = &["invoke", "tc", "--params", r#"{"text":"Buy now!"}"#];

#[test]
fn a_modified_store_file_is_named_and_the_printed_fix_restores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    let src = plugin_dir(tmp.path(), "tc", "");
    ok(&plinth(&home, cwd, &["plugin", "install", src.to_str().unwrap(), "--yes"]));
    ok(&plinth(&home, cwd, CALL));

    let lock = std::fs::read_to_string(home.join("plinth.lock")).unwrap();
    let sha = lock.split("wasm_sha256 = \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let stored = home.join("store").join(format!("{sha}.wasm"));
    std::fs::write(&stored, b"tampered").unwrap();

    // Invoke says the file was modified and is refused, with the fix; not "no plugin".
    let out = plinth(&home, cwd, CALL);
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(err.contains("was modified") && err.contains("refusing") && err.contains("plinth plugin update"), "{err}");
    assert!(!err.contains("no plugin"), "{err}");

    // Doctor names it; its fix, pasted, rewrites the store file; doctor is then happy.
    let doctor = plinth(&home, cwd, &["plugin", "doctor"]);
    assert_eq!(doctor.status.code(), Some(1), "{}", all(&doctor));
    let fixes = fixes(&doctor);
    assert_eq!(fixes.len(), 1, "{}", all(&doctor));
    ok(&paste(&home, cwd, &fixes[0]));
    assert_ne!(std::fs::read(&stored).unwrap(), b"tampered");
    ok(&plinth(&home, cwd, &["plugin", "doctor"]));
    ok(&plinth(&home, cwd, CALL));

    // Reinstalling also rewrites a modified store file.
    std::fs::write(&stored, b"tampered again").unwrap();
    ok(&plinth(&home, cwd, &["plugin", "install", src.to_str().unwrap(), "--yes"]));
    ok(&plinth(&home, cwd, CALL));
}

#[test]
fn a_broken_lock_is_named_and_doctor_repair_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    let src = plugin_dir(tmp.path(), "tc", "");
    ok(&plinth(&home, cwd, &["plugin", "install", src.to_str().unwrap(), "--yes"]));
    ok(&plinth(&home, cwd, &["plugin", "install", guest("json_transform").to_str().unwrap(), "--tenant", "acme", "--yes"]));
    let good = std::fs::read_to_string(home.join("plinth.lock")).unwrap();

    for broken in ["", "version = 2\n[[plugin]]\nname = ", "\u{0}\u{1}garbage", "version = 9\n"] {
        std::fs::write(home.join("plinth.lock"), broken).unwrap();
        for args in [&["plugin", "list"][..], CALL] {
            let out = plinth(&home, cwd, args);
            assert_eq!(out.status.code(), Some(1), "{args:?} on {broken:?}: {}", all(&out));
            let err = text(&out.stderr);
            assert!(err.contains("plinth.lock") && err.contains("plinth plugin doctor --repair"), "{args:?} on {broken:?}: {err}");
        }
        if broken.starts_with("version = 9") {
            let err = text(&plinth(&home, cwd, &["plugin", "list"]).stderr);
            assert!(err.contains("format version 9"), "{err}");
        }
        let doctor = plinth(&home, cwd, &["plugin", "doctor"]);
        assert_eq!(doctor.status.code(), Some(1));
        assert_eq!(fixes(&doctor), ["plinth plugin doctor --repair"], "{}", all(&doctor));
        let repaired = paste(&home, cwd, "plinth plugin doctor --repair");
        ok(&repaired);
        assert!(text(&repaired.stdout).contains("rebuilt"), "{}", all(&repaired));
        ok(&plinth(&home, cwd, &["plugin", "doctor"]));
        ok(&plinth(&home, cwd, CALL));
        ok(&plinth(&home, cwd, &["invoke", "json_transform", "--tenant", "acme", "--params", "{}"]));
        assert_eq!(
            std::fs::read_to_string(home.join("plinth.lock")).unwrap(),
            good,
            "the rebuilt lock differs from the one installs wrote"
        );
    }

    // A plugin whose source is gone cannot be rebuilt: repair says so, by name, with the
    // command that reinstalls it.
    std::fs::remove_dir_all(&src).unwrap();
    std::fs::write(home.join("plinth.lock"), "").unwrap();
    let repaired = plinth(&home, cwd, &["plugin", "doctor", "--repair"]);
    let out = text(&repaired.stdout);
    assert!(out.contains("tc: cannot be recovered") && out.contains("plinth plugin install"), "{}", all(&repaired));
    ok(&plinth(&home, cwd, &["invoke", "json_transform", "--tenant", "acme", "--params", "{}"]));
}

#[test]
fn update_refuses_a_source_that_names_another_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    let a = plugin_dir(tmp.path(), "alpha", "");
    let b = plugin_dir(tmp.path(), "beta", "");
    ok(&plinth(&home, cwd, &["plugin", "install", a.to_str().unwrap(), "--yes"]));
    let out = plinth(&home, cwd, &["plugin", "update", "alpha", b.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(text(&out.stderr).contains("names plugin `beta`"), "{}", all(&out));
    let list = text(&plinth(&home, cwd, &["plugin", "list"]).stdout);
    assert!(list.contains("alpha") && !list.contains("beta"), "{list}");
}

#[test]
fn unknown_keys_in_manifest_tables_are_refused_with_the_valid_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    for (table, extra, valid) in [
        ("limits", "[limits]\ntimeout = 5000\n", "timeout_ms"),
        ("limits", "[limits]\nfeul = 1000\n", "fuel"),
        ("provides", "[capabilities]\nenv = []\n[provides.x]\n", "tool"),
        ("capabilities", "[capabilities]\nnetwork = true\n", "http"),
    ] {
        let dir = plugin_dir(&tmp.path().join(table).join(valid), "tc", extra);
        let out = plinth(&home, cwd, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(6), "{extra}: {}", all(&out));
        let err = text(&out.stderr);
        assert!(err.contains("unknown field") && err.contains(valid), "{extra}: {err}");
    }
}

#[test]
fn names_and_tenants_follow_one_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    for file in ["..wasm", "my plugin.v2.wasm", "a.b.wasm"] {
        let f = tmp.path().join(file);
        std::fs::copy(guest("text_classifier"), &f).unwrap();
        let out = plinth(&home, cwd, &["plugin", "install", f.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", all(&out));
        assert!(text(&out.stderr).contains("rename"), "{file}: {}", all(&out));
    }
    let long = "x".repeat(129);
    for tenant in ["../../x", "", "a b", long.as_str()] {
        for args in [
            vec!["plugin", "install", guest("json_transform").to_str().unwrap().to_string().leak(), "--tenant", tenant, "--yes"],
            vec!["invoke", "json_transform", "--tenant", tenant],
            vec!["plugin", "show", "json_transform", "--tenant", tenant],
        ] {
            let out = plinth(&home, cwd, &args);
            // A bad value of a known flag: exit 1 (the README's table).
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", all(&out));
            assert!(text(&out.stderr).contains("tenant"), "{args:?}: {}", all(&out));
        }
    }
    assert!(!home.join("plinth.lock").exists() || !std::fs::read_to_string(home.join("plinth.lock")).unwrap().contains("name"));
    // A manifest name is held to the same rule.
    let dir = plugin_dir(tmp.path(), "bad.name", "");
    let out = plinth(&home, cwd, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", all(&out));
}

#[test]
fn a_relative_source_is_stored_absolute_so_update_works_from_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    plugin_dir(&work, "tc", "");
    ok(&plinth(&home, &work, &["plugin", "install", "tc", "--yes"]));
    let show = text(&plinth(&home, tmp.path(), &["plugin", "show", "tc"]).stdout);
    let source = show.lines().find_map(|l| l.trim().strip_prefix("source:")).unwrap().trim().to_string();
    assert!(Path::new(&source).is_absolute(), "{show}");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    ok(&plinth(&home, &elsewhere, &["plugin", "update", "tc", "--yes"]));
}

#[test]
fn enabled_has_one_source_of_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    let src = plugin_dir(tmp.path(), "tc", "");
    ok(&plinth(&home, cwd, &["plugin", "install", src.to_str().unwrap(), "--yes"]));
    std::fs::write(home.join("plugins.toml"), "").unwrap();
    let list = text(&plinth(&home, cwd, &["plugin", "list"]).stdout);
    let row = list.lines().find(|l| l.starts_with("tc ")).unwrap();
    assert!(row.contains(" no "), "{list}");
    let out = plinth(&home, cwd, CALL);
    assert_ne!(out.status.code(), Some(0), "list says not enabled, yet invoke ran it: {}", all(&out));
}

#[test]
fn a_symlinked_entry_cannot_escape_the_plugin_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    let dir = plugin_dir(tmp.path(), "tc", "");
    std::fs::remove_file(dir.join("tc.wasm")).unwrap();
    let outside = tmp.path().join("outside.wasm");
    std::fs::copy(guest("text_classifier"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("tc.wasm")).unwrap();
    let out = plinth(&home, cwd, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", all(&out));
    assert!(text(&out.stderr).contains("outside the plugin directory"), "{}", all(&out));
}

#[test]
fn errors_name_the_flag_and_say_each_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, cwd) = (tmp.path().join("home"), tmp.path());
    let f = guest("text_classifier");
    let out = plinth(&home, cwd, &["invoke", f.to_str().unwrap(), "--params-file", "/nonexistent/params.json"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--params-file"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    std::fs::write(tmp.path().join("p.json"), "{nope").unwrap();
    let out = plinth(&home, cwd, &["invoke", f.to_str().unwrap(), "--params-file", "p.json"]);
    assert!(text(&out.stderr).contains("--params-file is not valid JSON"), "{}", all(&out));
    // No colour codes when stderr is not a terminal.
    let out = plinth(&home, cwd, &["invoke", guest("hostile").to_str().unwrap(), "--name", "log-flood", "--params", "{}"]);
    assert!(!text(&out.stderr).contains('\u{1b}'), "{}", all(&out));
    // A missing source is said once.
    let out = plinth(&home, cwd, &["plugin", "install", "/nonexistent/x.wasm", "--yes"]);
    assert_eq!(text(&out.stderr).matches("No such file or directory").count(), 1, "{}", all(&out));
}
