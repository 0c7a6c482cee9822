//! `plinth --server URL`: the plugin commands and `invoke NAME` through a running
//! `plinth serve`, from a client whose own `$PLINTH_HOME` is empty.

mod serve_support;

use std::path::Path;
use std::process::{Command, Output};

use reqwest::StatusCode;
use serve_support::*;

/// `plinth ARGS` as a client on another machine would run it: its own empty home.
fn client(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plinth"));
    cmd.args(args).env("PLINTH_HOME", home).env_remove("PLINTH_SERVER").env_remove("PLINTH_TOKEN").env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run plinth")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_cli_manages_and_invokes_plugins_on_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("server-home");
    let elsewhere = tmp.path().join("client-home");
    let (admin, acme, _) = tokens(&home);
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    // A project directory holds more than the plugin: only the manifest and entry are sent.
    std::fs::create_dir_all(dir.join("target")).unwrap();
    std::fs::write(dir.join("target/big.bin"), vec![0u8; 4 << 20]).unwrap();
    let s = Server::start(&home, &["--max-upload", "2M"]);
    let url = s.url.clone();
    let as_admin = [("PLINTH_SERVER", url.as_str()), ("PLINTH_TOKEN", admin.as_str())];
    let run = |args: &[&str]| client(&elsewhere, &as_admin, args);

    let o = run(&["plugin", "install", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("installed text-classifier 0.1.0"), "{}", text(&o));
    // The server's own CLI sees it; the client's home stays empty.
    assert!(String::from_utf8_lossy(&plinth(&home, &["plugin", "list"]).stdout).contains("text-classifier"));
    assert!(!elsewhere.join("plugins.toml").exists());

    let o = run(&["plugin", "list"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success() && out.contains("STATUS") && out.contains("running") && out.contains("tool classify"), "{}", text(&o));

    // Invoke through the server, the export picked as a local call picks it.
    let o = run(&["invoke", "text-classifier", "--params", SPAM]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["category"], "spam", "{}", text(&o));

    let o = run(&["plugin", "disable", "text-classifier"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("disabled"), "{}", text(&o));
    let o = run(&["invoke", "text-classifier", "--name", "classify", "--params", SPAM]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("disabled"), "{}", text(&o));
    assert!(run(&["plugin", "enable", "text-classifier"]).status.success());

    // Update from where the server installed it, and from a new upload.
    let o = run(&["plugin", "update", "text-classifier"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["plugin", "update", "text-classifier", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["plugin", "show", "text-classifier"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("status:") && out.contains("running") && out.contains("sha256:"), "{}", text(&o));
    let o = run(&["plugin", "doctor"]);
    assert!(o.status.success(), "{}", text(&o));

    // A bare .wasm is uploaded as it is, named after its file.
    let wasm = tmp.path().join("json-transform.wasm");
    std::fs::copy(guest("json_transform"), &wasm).unwrap();
    let o = run(&["plugin", "install", wasm.to_str().unwrap(), "--tenant", "acme"]);
    assert!(o.status.success(), "{}", text(&o));
    // A tenant's token invokes its own plugin, and cannot change the registry.
    let as_acme = [("PLINTH_SERVER", url.as_str()), ("PLINTH_TOKEN", acme.as_str())];
    let o = client(&elsewhere, &as_acme, &["invoke", "json-transform", "--params", r#"{"id":1}"#]);
    assert!(o.status.success(), "{}", text(&o));
    let o = client(&elsewhere, &as_acme, &["plugin", "uninstall", "text-classifier"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("admin"), "{}", text(&o));

    // Flags instead of the environment; a wrong token; a server that is not there.
    let o = client(&elsewhere, &[], &["--server", &url, "--token", &admin, "plugin", "uninstall", "json-transform", "--tenant", "acme"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = client(&elsewhere, &[], &["--server", &url, "--token", "nope", "plugin", "list"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("401"), "{}", text(&o));
    let o = client(&elsewhere, &[], &["--server", "http://127.0.0.1:1", "plugin", "list"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot reach the server"), "{}", text(&o));
    // What only a local run can do is refused with why.
    let o = run(&["invoke", "text-classifier", "--fuel", "10"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["plugin", "install", dir.to_str().unwrap(), "--allow-env", "HOME"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("grants"), "{}", text(&o));
    // Commands on local files run locally, PLINTH_SERVER or not.
    let o = run(&["inspect", wasm.to_str().unwrap()]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("node"), "{}", text(&o));
    let o = run(&["invoke", wasm.to_str().unwrap(), "--params", r#"{"id":1}"#]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("\"id\":1"), "{}", text(&o));

    let o = run(&["plugin", "uninstall", "text-classifier"]);
    assert!(o.status.success(), "{}", text(&o));
    let r = h1().get(s.url("/plugins")).bearer_auth(&admin).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<serde_json::Value>().unwrap(), serde_json::json!([]));
}
