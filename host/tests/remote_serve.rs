//! Remote plugins through the registry, the CLI and `plinth serve`: installed, listed,
//! invoked, scoped to tenants, disabled, hot-reloaded to a new endpoint and checked by
//! doctor as wasm plugins are — against the Node `http2` server of tests/peers.

mod serve_support;

use serde_json::{Value, json};
use serve_support::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_cli_invokes_installs_and_doctors_a_remote_plugin() {
    let home = tempfile::tempdir().unwrap();
    let mut node = node_server();
    let handler = format!("grpc://127.0.0.1:{}/Scoring.Score", node.port);

    // By its endpoint: refused until the operator allows the loopback address.
    let refused = plinth(home.path(), &["invoke", &handler, "--params", r#"{"text":"abc"}"#]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--allow-remote 127.0.0.1:"), "{}", stderr(&refused));
    let out = plinth(home.path(), &["invoke", &handler, "--params", r#"{"text":"abc"}"#, "--allow-remote", "127.0.0.1:*"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!((v["served_by"].as_str(), v["score"].as_u64()), (Some("node-http2"), Some(3)));

    // Installed under a name, with its allowance in plugins.toml.
    let out = plinth(home.path(), &["plugin", "install", &handler, "--name", "scoring", "--allow-remote", "127.0.0.1:*", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let toml = std::fs::read_to_string(home.path().join("plugins.toml")).unwrap();
    assert!(toml.contains("plugin_type = \"grpc\"") && toml.contains("127.0.0.1:*"), "{toml}");
    let list = stdout(&plinth(home.path(), &["plugin", "list"]));
    assert!(list.lines().any(|l| l.starts_with("scoring") && l.contains("remote") && l.contains("node scoring")), "{list}");
    let show = stdout(&plinth(home.path(), &["plugin", "show", "scoring"]));
    assert!(show.contains(&handler) && show.contains("grpc"), "{show}");
    let out = plinth(home.path(), &["invoke", "scoring", "--params", r#"{"text":"hello"}"#, "--step-id", "s-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!((v["score"].as_u64(), v["block_id"].as_str()), (Some(5), Some("s-1")));
    let doctor = plinth(home.path(), &["plugin", "doctor"]);
    assert!(doctor.status.success(), "{}{}", stdout(&doctor), stderr(&doctor));

    // A name is required, and grants are for wasm plugins.
    let out = plinth(home.path(), &["plugin", "install", &handler, "--yes"]);
    assert!(!out.status.success() && stderr(&out).contains("--name"), "{}", stderr(&out));
    let out = plinth(home.path(), &["plugin", "install", "grpc://nowhere/S.M", "--name", "bad", "--yes"]);
    assert!(!out.status.success() && stderr(&out).contains("port"), "{}", stderr(&out));

    // An edited endpoint in the lock is refused, as a modified stored wasm is; repair
    // rebuilds the lock from plugins.toml.
    let lock_path = home.path().join("plinth.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    std::fs::write(&lock_path, lock.replace("/Scoring.Score", "/Scoring.Other")).unwrap();
    let out = plinth(home.path(), &["invoke", "scoring"]);
    assert!(!out.status.success() && stderr(&out).contains("was modified"), "{}", stderr(&out));
    let doctor = plinth(home.path(), &["plugin", "doctor"]);
    assert!(!doctor.status.success() && stdout(&doctor).contains("does not load"), "{}", stdout(&doctor));
    std::fs::write(&lock_path, "garbage [").unwrap();
    let out = plinth(home.path(), &["plugin", "doctor", "--repair"]);
    assert!(out.status.success() && stdout(&out).contains("scoring: locked again"), "{}{}", stdout(&out), stderr(&out));
    assert!(plinth(home.path(), &["invoke", "scoring"]).status.success());

    // The service stops: doctor says so and what to do; a call is a retryable failure.
    node.stop();
    let doctor = plinth(home.path(), &["plugin", "doctor"]);
    assert!(!doctor.status.success());
    assert!(stdout(&doctor).contains("does not answer") && stdout(&doctor).contains("plinth plugin update scoring"), "{}", stdout(&doctor));
    let out = plinth(home.path(), &["invoke", "scoring"]);
    assert!(!out.status.success() && stderr(&out).contains("cannot reach the remote plugin"), "{}", stderr(&out));

    // Disabled like any plugin.
    let node = node_server();
    let moved = format!("grpc://127.0.0.1:{}/Scoring.Score", node.port);
    let out = plinth(home.path(), &["plugin", "update", "scoring", &moved, "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(plinth(home.path(), &["plugin", "doctor"]).status.success());
    assert!(plinth(home.path(), &["plugin", "disable", "scoring"]).status.success());
    let out = plinth(home.path(), &["invoke", "scoring"]);
    assert!(!out.status.success() && stderr(&out).contains("disabled"), "{}", stderr(&out));
}

#[test]
fn plinth_serve_fronts_remote_plugins() {
    let home = tempfile::tempdir().unwrap();
    let node = node_server();
    let server = Server::start(home.path(), &["--no-auth", "--allow-remote", "127.0.0.1:*"]);
    let http = h1();
    let create = |tenant: Option<&str>, body: Value| {
        let mut r = http.post(server.url("/plugins")).json(&body);
        if let Some(t) = tenant {
            r = r.header("x-tenant-id", t);
        }
        body_of(r.send().unwrap())
    };
    let source = format!("127.0.0.1:{}/Scoring.Score", node.port);
    let (status, record) = create(Some("acme"), json!({"name": "scoring", "plugin_type": "grpc", "source": source}));
    assert_eq!(status, 201, "{record}");
    assert_eq!(record["plugin_type"], "grpc");
    assert_eq!(record["source"], format!("grpc://{source}"));
    assert_eq!((record["status"].as_str(), record["tenant_id"].as_str()), (Some("running"), Some("acme")));
    assert_eq!(record["exports"], json!([{"kind": "node", "name": "scoring"}]));

    let invoke = |client: &reqwest::blocking::Client, path: &str, tenant: &str| {
        body_of(client.post(server.url(path)).header("x-tenant-id", tenant).body(envelope(r#"{"text":"four"}"#)).send().unwrap())
    };
    let (status, out) = invoke(&http, "/invoke/scoring/scoring", "acme");
    assert_eq!((status.as_u16(), out["score"].as_u64(), out["served_by"].as_str()), (200, Some(4), Some("node-http2")), "{out}");
    // Orch8's own form over h2c: an engine calls a Plinth-fronted remote plugin as it would call the service.
    let (status, out) = invoke(&h2c(), "/scoring.scoring", "acme");
    assert_eq!((status.as_u16(), out["block_id"].as_str()), (200, Some("b-1")), "{out}");
    // Another tenant does not see it.
    let (status, _) = invoke(&http, "/invoke/scoring/scoring", "beta");
    assert_eq!(status, 404);

    // The service's own error status: permanent (422), with Orch8's details.
    let nope = format!("127.0.0.1:{}/Scoring.Nope", node.port);
    assert_eq!(create(None, json!({"name": "nope", "plugin_type": "grpc", "source": nope})).0, 201);
    let (status, e) = body_of(http.post(server.url("/invoke/nope/nope")).body(envelope("{}")).send().unwrap());
    assert_eq!((status.as_u16(), e["code"].as_str(), e["retryable"].as_bool()), (422, Some("remote_rejected"), Some(false)), "{e}");
    assert_eq!(e["details"]["status"], 404, "{e}");

    // The CLI against the server registers one too; an allowance is not the client's to give.
    let out = plinth(
        home.path(),
        &["--server", &server.url, "plugin", "install", &format!("grpc://{source}"), "--name", "via-cli", "--allow-remote", "127.0.0.1:*"],
    );
    assert!(!out.status.success() && stderr(&out).contains("--allow-remote is the server operator's"), "{}", stderr(&out));
    let out = plinth(home.path(), &["--server", &server.url, "plugin", "install", &format!("grpc://{source}"), "--name", "via-cli"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = plinth(home.path(), &["--server", &server.url, "invoke", "via-cli", "--params", r#"{"text":"ab"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(serde_json::from_str::<Value>(stdout(&out).trim()).unwrap()["score"], 2);

    // Bad input is the client's error.
    let (status, e) = create(None, json!({"name": "broken", "plugin_type": "grpc", "source": "no-port/S.M"}));
    assert_eq!((status.as_u16(), e["code"].as_str()), (400, Some("invalid_request")), "{e}");
    let (status, _) = create(None, json!({"name": "other", "plugin_type": "soap", "source": source}));
    assert_eq!(status, 400);

    // PATCH source: a hot reload to a new endpoint.
    let node2 = node_server();
    let patch = |body: Value| body_of(http.patch(server.url("/plugins/scoring")).header("x-tenant-id", "acme").json(&body).send().unwrap());
    let (status, record) = patch(json!({"source": format!("grpc://127.0.0.1:{}/Scoring.Score", node2.port)}));
    assert_eq!(status, 200, "{record}");
    let (_, out) = invoke(&http, "/invoke/scoring/scoring", "acme");
    assert_eq!(out["port"].as_u64(), Some(u64::from(node2.port)), "served by the new endpoint: {out}");

    // Disabled: 409 naming how to enable it.
    let (status, _) = patch(json!({"enabled": false}));
    assert_eq!(status, 200);
    let (status, e) = invoke(&http, "/invoke/scoring/scoring", "acme");
    assert_eq!((status.as_u16(), e["code"].as_str()), (409, Some("disabled")), "{e}");
    assert_eq!(patch(json!({"enabled": true})).0, 200);

    // The service goes away: 503, retryable, with Orch8's details.
    drop(node2);
    let r = http.post(server.url("/invoke/scoring/scoring")).header("x-tenant-id", "acme").body(envelope("{}")).send().unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let (status, e) = body_of(r);
    assert_eq!((status.as_u16(), e["code"].as_str(), e["retryable"].as_bool()), (503, Some("remote_unreachable"), Some(true)), "{e}");
    assert!(e["details"]["status"].is_null() && e["details"]["body"].is_string(), "{e}");

    let r = http.delete(server.url("/plugins/scoring")).header("x-tenant-id", "acme").send().unwrap();
    assert_eq!(r.status(), 204);
}

#[test]
fn a_server_without_allow_remote_refuses_internal_endpoints() {
    let home = tempfile::tempdir().unwrap();
    let node = node_server();
    let server = Server::start(home.path(), &["--no-auth"]);
    let http = h1();
    let body = json!({"name": "scoring", "plugin_type": "grpc", "source": format!("localhost:{}/Scoring.Score", node.port)});
    let (status, _) = body_of(http.post(server.url("/plugins")).json(&body).send().unwrap());
    assert_eq!(status, 201);
    let (status, e) = body_of(http.post(server.url("/invoke/scoring/scoring")).body(envelope("{}")).send().unwrap());
    assert_eq!((status.as_u16(), e["code"].as_str(), e["retryable"].as_bool()), (422, Some("remote_refused"), Some(false)), "{e}");
    assert!(e["error"].as_str().unwrap().contains("--allow-remote"), "{e}");
    // The API cannot grant itself the allowance: the field is unknown.
    let sneaky = json!({"name": "s2", "plugin_type": "grpc", "source": "127.0.0.1:1/S.M", "allow_remote": ["127.0.0.1:*"]});
    let (status, _) = body_of(http.post(server.url("/plugins")).json(&sneaky).send().unwrap());
    assert_eq!(status, 400);
}

fn body_of(r: reqwest::blocking::Response) -> (reqwest::StatusCode, Value) {
    body(r)
}

/// A CA and a `localhost` server certificate it signed, made with the `openssl` tool.
fn test_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=plinth test CA"]].concat());
    run(&[&["req"][..], &ec, &["-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
}

#[test]
fn grpcs_speaks_tls_with_alpn_h2_and_checks_the_certificate() {
    let home = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    test_certificates(certs.path());
    let mut cmd = std::process::Command::new("node");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/peers/node_http2_plugin.mjs"))
        .args(["0", "--tls"])
        .arg(certs.path().join("key.pem"))
        .arg(certs.path().join("cert.pem"));
    let node = Peer::start(cmd);
    let handler = format!("grpcs://localhost:{}/Scoring.Score", node.port);
    let allow = format!("localhost:{}", node.port);
    let invoke = |roots: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_plinth"))
            .args(["invoke", &handler, "--params", r#"{"text":"secure"}"#, "--allow-remote", &allow])
            .env("PLINTH_HOME", home.path())
            .env("SSL_CERT_FILE", roots)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap()
    };
    // Trusting the test CA: the call goes over TLS (the server accepts only ALPN h2).
    let out = invoke(&certs.path().join("ca.pem"));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!((v["tls"].as_bool(), v["score"].as_u64()), (Some(true), Some(6)), "{v}");
    // Trusting another CA only: the server cannot prove it is `localhost`.
    let other = tempfile::tempdir().unwrap();
    test_certificates(other.path());
    let out = invoke(&other.path().join("ca.pem"));
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("cannot reach the remote plugin") && stderr(&out).contains("certificate"), "{}", stderr(&out));
    // No usable roots at all: TLS calls say why; h2c calls are not affected.
    let out = invoke(&certs.path().join("not-there.pem"));
    assert!(!out.status.success() && stderr(&out).contains("root certificates"), "{}", stderr(&out));
    let plain = node_server();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_plinth"))
        .args(["invoke", &format!("grpc://127.0.0.1:{}/Scoring.Score", plain.port), "--allow-remote", "127.0.0.1:*"])
        .env("PLINTH_HOME", home.path())
        .env("SSL_CERT_FILE", certs.path().join("not-there.pem"))
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
