//! Contract checks through the registry, the CLI and `plinth serve`: the classifier's
//! declared input schema enforced by default, turned off by the operator, set by the
//! manifest; a violation names the pointer and the rule.

mod serve_support;

use serde_json::Value;
use serve_support::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_declared_input_schema_is_enforced_unless_the_operator_turns_it_off() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = plugin_dir(tmp.path(), "tc", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let out = plinth(&home, &["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Enforced by default: the host's check, exit code 3, the pointer and the rule named.
    let out = plinth(&home, &["invoke", "text-classifier", "--params", r#"{"txt":"x"}"#]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("does not match its input schema") && e.contains("at /:") && e.contains("rule /required"), "{e}");
    let out = plinth(&home, &["invoke", "text-classifier", "--params", r#"{"text":7}"#]);
    assert!(stderr(&out).contains("at /text:") && stderr(&out).contains("/properties/text/type"), "{}", stderr(&out));
    assert!(plinth(&home, &["invoke", "text-classifier", "--params", r#"{"text":"hi"}"#]).status.success());

    // Through the server: 400, as the plugin's own invalid-input, with the problems.
    let server = Server::start(&home, &["--no-auth"]);
    let (status, v) = body(h1().post(server.url("/invoke/text-classifier/classify")).body(envelope(r#"{"txt":"x"}"#)).send().unwrap());
    assert_eq!((status.as_u16(), v["code"].as_str()), (400, Some("invalid_input")), "{v}");
    assert_eq!(v["details"]["contract"], "input");
    assert!(v["details"]["problems"][0].as_str().unwrap().contains("required"), "{v}");
    drop(server);

    // The operator turns the checks off: the guest's own check answers.
    let desired = home.join("plugins.toml");
    let text = std::fs::read_to_string(&desired).unwrap();
    std::fs::write(&desired, text.replace("enabled = true", "enabled = true\ncontracts = \"off\"")).unwrap();
    let out = plinth(&home, &["invoke", "text-classifier", "--params", r#"{"txt":"x"}"#]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("invalid input") && !stderr(&out).contains("schema"), "{}", stderr(&out));
}

#[test]
fn the_manifest_sets_the_checks_and_a_bad_setting_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let warn = plugin_dir(tmp.path(), "warn", "text-classifier", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let manifest = warn.join("plinth.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("api = \"0.1.0\"\n", "api = \"0.1.0\"\ncontracts = { input = \"warn\" }\n")).unwrap();
    assert!(plinth(&home, &["plugin", "install", warn.to_str().unwrap(), "--yes"]).status.success());
    // Warned about (in the log), and the call goes on to the guest, which refuses it itself.
    let out = plinth(&home, &["invoke", "text-classifier", "--params", r#"{"txt":"x"}"#]);
    let e = stderr(&out);
    assert!(e.contains("does not match its contract") && e.contains("invalid input"), "{e}");

    let bad = plugin_dir(tmp.path(), "bad", "other", "0.1.0", "text_classifier", "tool = [\"classify\"]");
    let manifest = bad.join("plinth.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("api = \"0.1.0\"\n", "api = \"0.1.0\"\ncontracts = \"strict\"\n")).unwrap();
    let out = plinth(&home, &["plugin", "install", bad.to_str().unwrap(), "--yes"]);
    assert!(!out.status.success() && stderr(&out).contains("contracts"), "{}", stderr(&out));
    let listed: Value = Value::String(String::from_utf8_lossy(&plinth(&home, &["plugin", "list"]).stdout).into_owned());
    assert!(!listed.as_str().unwrap().contains("other"), "{listed}");
}
