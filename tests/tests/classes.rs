//! Dispatch classes over installed plugins: scope (a tenant's own providers shadow the
//! global ones of the same name, never another tenant's), singleton's one-or-error, the
//! broadcasts' per-plugin results, a chain's order and its stop at the first error,
//! selection by name and version, concurrency bounded by `max_instances`, and manifests
//! that declare capabilities wrongly.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::guest;
use plinth::registry::state::Home;
use plinth::registry::{CapabilityCall, DispatchClass, DispatchError, Manifest, ManifestError, Registry, RegistryError, Selector};
use plinth::{Grants, InvokeError, Json, Runtime, RuntimeConfig};
use serde_json::{Value, json};

/// A legacy plugin `name` around guest `wasm`, with manifest lines `extra`.
fn plugin_dir(root: &Path, name: &str, version: &str, wasm: &str, extra: &str) -> PathBuf {
    let d = root.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(guest(wasm), d.join("p.wasm")).unwrap();
    let manifest = format!("name = \"{name}\"\nversion = \"{version}\"\nentry = \"p.wasm\"\napi = \"legacy\"\n{extra}\n");
    std::fs::write(d.join("plinth.toml"), manifest).unwrap();
    d
}

/// An echo provider of `notify.send`: returns the envelope it got, config included.
fn echo(root: &Path, name: &str, version: &str, order: i64, channel: &str) -> PathBuf {
    plugin_dir(
        root,
        name,
        version,
        "legacy_echo",
        &format!("[provides]\nnode = [\"{name}\"]\norder = {order}\ncapabilities = [\"notify.send\"]\n[config]\nchannel = \"{channel}\""),
    )
}

/// A provider that loops until its deadline.
fn looping(root: &Path, name: &str, order: i64, timeout_ms: u64) -> PathBuf {
    plugin_dir(
        root,
        name,
        "1.0.0",
        "legacy_loop",
        &format!(
            "[provides]\nnode = [\"{name}\"]\n[provides.capabilities]\n\"notify.send\" = {{ export = \"{name}\", order = {order} }}\n[limits]\ntimeout_ms = {timeout_ms}\nfuel = 1000000000000000"
        ),
    )
}

fn install(runtime: &Runtime, home: &Home, dir: &Path, tenant: Option<&str>) {
    plinth::registry::install(runtime, home, dir, tenant, Grants::default()).unwrap_or_else(|e| panic!("install {}: {e}", dir.display()));
}

fn call<'a>(class: DispatchClass, tenant: Option<&'a str>, input: &'a str) -> CapabilityCall<'a> {
    CapabilityCall::new(class, "notify.send", input).tenant(tenant)
}

fn out(j: &Json) -> Value {
    serde_json::from_str(j.as_str()).unwrap()
}

fn names(d: &plinth::registry::Dispatched) -> Vec<String> {
    d.calls.iter().map(|c| c.provider.key().to_string()).collect()
}

#[test]
fn each_class_calls_the_providers_in_scope_as_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    let runtime = Runtime::new().unwrap();
    install(&runtime, &home, &echo(tmp.path(), "mail", "1.0.0", 20, "mail"), None);
    install(&runtime, &home, &echo(tmp.path(), "sms", "2.1.0", 10, "sms"), None);
    install(&runtime, &home, &looping(tmp.path(), "pager", 15, 300), None);
    // acme's own mail, which shadows the global one for acme only.
    install(&runtime, &home, &echo(tmp.path(), "mail", "1.5.0", 20, "acme-mail"), Some("acme"));
    let (registry, report) = Registry::open(&runtime, &home).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    // Scope and chain order: order, then name; acme's mail instead of the global one.
    let order = |tenant| registry.providers("notify.send", tenant).iter().map(|p| p.key().to_string()).collect::<Vec<_>>();
    assert_eq!(order(None), ["sms", "pager", "mail"]);
    assert_eq!(order(Some("acme")), ["sms", "pager", "acme/mail"]);
    assert_eq!(order(Some("beta")), ["sms", "pager", "mail"], "beta must not see acme's plugin");
    assert_eq!(registry.capabilities(Some("beta")).keys().collect::<Vec<_>>(), ["notify.send"]);

    // broadcast-collect: every provider, each its own result, each with its own config.
    let d = registry.dispatch(&runtime, &call(DispatchClass::BroadcastCollect, Some("acme"), r#"{"text":"hi"}"#)).unwrap();
    assert_eq!(names(&d), ["sms", "pager", "acme/mail"]);
    let mail = out(&d.calls[2].result.as_ref().unwrap().output);
    assert_eq!((mail["context"]["config"]["channel"].as_str(), mail["params"]["text"].as_str()), (Some("acme-mail"), Some("hi")));
    assert!(matches!(d.calls[1].result, Err(InvokeError::DeadlineExceeded { .. })));
    let report = d.to_json(|e| json!({"retryable": e.retryable()}));
    assert_eq!(report["results"]["pager"], json!({"ok": false, "error": {"retryable": true}}), "{report}");
    assert_eq!(report["results"]["sms"]["output"]["context"]["config"]["channel"], "sms", "{report}");
    assert_eq!(report["called"], 3);

    // broadcast-notify: the failures only.
    let d = registry.dispatch(&runtime, &call(DispatchClass::BroadcastNotify, None, "{}")).unwrap();
    let report = d.to_json(|e| json!(e.to_string()));
    assert_eq!(report["failures"].as_object().unwrap().keys().collect::<Vec<_>>(), ["pager"], "{report}");
    assert_eq!(d.failures().count(), 1);

    // singleton: three global candidates is an error naming them; acme's own decides.
    match registry.dispatch(&runtime, &call(DispatchClass::Singleton, None, "{}")) {
        Err(e @ DispatchError::Ambiguous { .. }) => {
            let text = e.to_string();
            assert!(["sms", "pager", "mail"].iter().all(|n| text.contains(n)), "{text}");
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    let d = registry.dispatch(&runtime, &call(DispatchClass::Singleton, Some("acme"), r#"{"n":1}"#)).unwrap();
    assert_eq!(names(&d), ["acme/mail"]);
    assert_eq!(out(d.output().unwrap())["params"], json!({"n": 1}));
    // ... or a selector picks the one, as the error advises.
    let pick = call(DispatchClass::Singleton, None, "{}").selector(Selector { plugin: Some("sms".into()), version: None });
    assert_eq!(names(&registry.dispatch(&runtime, &pick).unwrap()), ["sms"]);

    // chain: sms, then pager, which fails: mail never runs, the error says where.
    match registry.dispatch(&runtime, &call(DispatchClass::Chain, None, "{}")) {
        Err(DispatchError::Failed { provider, step, completed, source, .. }) => {
            assert_eq!((provider.name.as_str(), step), ("pager", 2));
            assert_eq!(completed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["sms"]);
            assert!(source.retryable());
        }
        other => panic!("expected the chain to stop at pager, got {other:?}"),
    }
    // capability: by version requirement, by name; a chain of the picked ones in order,
    // each one's output the next one's input.
    let mut c = call(DispatchClass::Capability, None, "{}");
    c.selector = Selector { plugin: None, version: Some(semver::VersionReq::parse("^2").unwrap()) };
    assert_eq!(names(&registry.dispatch(&runtime, &c).unwrap()), ["sms"]);
    c.selector = Selector { plugin: Some("nope".into()), version: None };
    let e = registry.dispatch(&runtime, &c).unwrap_err();
    assert!(matches!(e, DispatchError::NoProvider { .. }) && e.to_string().contains("plugin nope"), "{e}");

    let tmp2 = tempfile::tempdir().unwrap();
    let home2 = Home::new(tmp2.path().join("home"));
    install(&runtime, &home2, &echo(tmp2.path(), "first", "1.0.0", 1, "one"), None);
    install(&runtime, &home2, &echo(tmp2.path(), "second", "1.0.0", 2, "two"), None);
    // The same order as `first`: the tie goes by name.
    install(&runtime, &home2, &echo(tmp2.path(), "another", "1.0.0", 1, "zero"), None);
    let (chain_registry, _) = Registry::open(&runtime, &home2).unwrap();
    let d = chain_registry.dispatch(&runtime, &call(DispatchClass::Chain, None, r#"{"x":1}"#)).unwrap();
    assert_eq!(names(&d), ["another", "first", "second"]);
    let last = out(d.output().unwrap());
    assert_eq!(last["context"]["config"]["channel"], "two");
    assert_eq!(last["params"]["context"]["config"]["channel"], "one", "second must get first's output: {last}");
    assert_eq!(last["params"]["params"]["context"]["config"]["channel"], "zero", "{last}");
    assert_eq!(last["params"]["params"]["params"], json!({"x": 1}));
    // Nothing failed: broadcast-notify reports nothing.
    let d = chain_registry.dispatch(&runtime, &call(DispatchClass::BroadcastNotify, None, "{}")).unwrap();
    assert_eq!(d.to_json(|_| Value::Null)["failures"], json!({}));
    assert_eq!(d.calls.len(), 3);
    // A discovered directory provides what its manifests declare, as an install does.
    let discovered = Registry::new();
    let found = discovered.discover(&runtime, tmp2.path()).unwrap();
    assert!(found.iter().all(|f| f.outcome.is_ok()), "{found:?}");
    let order: Vec<String> = discovered.providers("notify.send", None).iter().map(|p| p.key().to_string()).collect();
    assert_eq!(order, ["another", "first", "second"]);
    // The caller's config keys are laid over each provider's own.
    let mut c = call(DispatchClass::BroadcastCollect, None, "{}");
    c.context.config = Json::parse(r#"{"channel":"override","extra":true}"#).unwrap();
    let d = chain_registry.dispatch(&runtime, &c).unwrap();
    for r in &d.calls {
        let o = out(&r.result.as_ref().unwrap().output);
        assert_eq!(o["context"]["config"], json!({"channel": "override", "extra": true}));
    }

    // Nobody provides it: a broadcast reaches nobody, the others are errors.
    let mut c = call(DispatchClass::BroadcastCollect, None, "{}");
    c.capability = "audit.write";
    assert_eq!(registry.dispatch(&runtime, &c).unwrap().calls.len(), 0);
    for class in [DispatchClass::Singleton, DispatchClass::Chain, DispatchClass::Capability] {
        c.class = class;
        assert!(matches!(registry.dispatch(&runtime, &c), Err(DispatchError::NoProvider { .. })), "{class}");
    }
    for bad in ["", "../etc/passwd", "a b", &"x".repeat(200)] {
        c.capability = bad;
        assert!(matches!(registry.dispatch(&runtime, &c), Err(DispatchError::BadCapability { .. })), "{bad:?}");
    }
}

#[test]
fn broadcasts_run_providers_at_once_but_never_more_than_max_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::new(tmp.path().join("home"));
    let deadline = Duration::from_millis(1500);
    for (name, order) in [("slow-a", 1), ("slow-b", 2)] {
        let runtime = Runtime::new().unwrap();
        install(&runtime, &home, &looping(tmp.path(), name, order, deadline.as_millis() as u64), None);
    }
    let timed = |runtime: &Runtime, parallelism: Option<usize>| {
        let (registry, _) = Registry::open(runtime, &home).unwrap();
        let mut c = call(DispatchClass::BroadcastNotify, None, "{}");
        c.parallelism = parallelism;
        let start = Instant::now();
        let d = registry.dispatch(runtime, &c).unwrap();
        // Both ran to their deadline (not out of fuel first, which would end them early).
        assert!(d.failures().all(|(_, e)| matches!(e, InvokeError::DeadlineExceeded { .. })), "{:?}", d.calls);
        assert_eq!(d.failures().count(), 2);
        start.elapsed()
    };
    // Each call lasts at least its deadline, so one at a time is at least two of them.
    let wide = Runtime::new().unwrap();
    let one_at_a_time = timed(&wide, Some(1));
    assert!(one_at_a_time >= deadline * 2, "{one_at_a_time:?}");
    let narrow = Runtime::with_config(RuntimeConfig { max_instances: 1, ..RuntimeConfig::default() }).unwrap();
    let capped = timed(&narrow, Some(8));
    assert!(capped >= deadline * 2, "max_instances 1 must run them one at a time: {capped:?}");
    // Both at once: well under two deadlines (not a benchmark: the bound is a whole
    // deadline of slack).
    let both = timed(&wide, None);
    assert!(both < deadline * 2 - Duration::from_millis(400), "{both:?}");
}

fn manifest(provides: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(&format!("name = \"p\"\nversion = \"1.0.0\"\nentry = \"p.wasm\"\napi = \"0.1.0\"\n{provides}\n"))
}

#[test]
fn capability_declarations_that_are_wrong_are_refused_saying_what_to_write() {
    for bad in [r#"capabilities = [""]"#, r#"capabilities = ["../x"]"#, r#"capabilities = ["a b"]"#, r#"capabilities = ["n", "n"]"#] {
        let e = manifest(&format!("[provides]\n{bad}")).unwrap_err();
        assert!(matches!(e, ManifestError::Capability { .. }), "{bad}: {e}");
    }
    let long = format!("[provides]\ncapabilities = [\"{}\"]", "c".repeat(129));
    assert!(matches!(manifest(&long).unwrap_err(), ManifestError::Capability { .. }));
    let e = manifest("[provides]\ncapabilities = 5").unwrap_err();
    assert!(format!("{:?}", e).contains("a list of capability names"), "{e:?}");
    let e = manifest("[provides.capabilities]\n\"x.y\" = { export = \"t\", ordr = 5 }").unwrap_err();
    assert!(matches!(e, ManifestError::Toml(_)) && format!("{e:?}").contains("export"), "a misspelt key must be refused: {e:?}");
    let e = manifest("[provides.capabilities]\n\"x.y\" = { export = \"t\", kind = \"trigger\" }").unwrap_err();
    assert!(e.to_string().contains("only nodes and tools"), "{e}");

    // Against the component: json-transform has one node, `transform`.
    let plugin = common::plugin("json_transform");
    let ok = manifest("[provides]\nnode = [\"transform\"]\ncapabilities = [\"text.prepare\"]").unwrap();
    let provided = ok.provided(&plugin).unwrap();
    assert_eq!(provided["text.prepare"].export, "transform");
    let missing = manifest("[provides.capabilities]\n\"text.prepare\" = \"nope\"").unwrap();
    let e = missing.check(&plugin).unwrap_err();
    assert!(matches!(&e, RegistryError::Incompatible { reason, .. } if reason.contains("`nope`")), "{e}");
    // A bare list with several nodes and tools cannot say which one implements it.
    let multi = common::plugin("multi_kind");
    let e = ok.provided(&multi).unwrap_err();
    assert!(e.to_string().contains("[provides.capabilities]"), "{e}");
}
