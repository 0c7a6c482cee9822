//! Loading: what is refused and why, limits validation, and the code cache.

mod common;

use common::guest;
use plinth::{CacheStatus, CallContext, Limits, LimitsError, LoadError, Runtime, RuntimeConfig};

fn load_wat(wat: &str) -> Result<plinth::Plugin, LoadError> {
    let bytes = wat::parse_str(wat).expect("test WAT parses");
    common::runtime().load("test", &bytes)
}

#[test]
fn garbage_is_not_a_component() {
    let err = common::runtime().load("junk", b"definitely not wasm").unwrap_err();
    assert!(matches!(err, LoadError::InvalidComponent { .. }), "{err:?}");
    let err = common::runtime().load("empty", b"").unwrap_err();
    assert!(matches!(err, LoadError::InvalidComponent { .. }), "{err:?}");
}

#[test]
fn a_core_module_without_the_legacy_abi_is_refused_naming_what_is_missing() {
    // Core modules go to the legacy adapter, which names the first missing ABI export.
    let err = load_wat("(module)").unwrap_err();
    assert!(matches!(&err, LoadError::LegacyAbi { export, found, .. } if export == "memory" && found == "nothing"), "{err:?}");
}

#[test]
fn an_sdk_plugin_built_as_a_core_module_gets_the_build_target_hint() {
    // The echo fixture built with `--target wasm32-unknown-unknown`: a core module whose
    // exports are named after plinth:plugin/tool.
    let err = common::runtime().load_file(common::guest("core_echo")).unwrap_err();
    assert!(matches!(&err, LoadError::CoreModuleNotComponent { evidence } if evidence.contains("plinth:plugin/tool")), "{err:?}");
    assert!(err.to_string().contains("--target wasm32-wasip2"), "{err}");
}

#[test]
fn a_corrupt_component_is_invalid() {
    let mut bytes = std::fs::read(guest("text_classifier")).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    let err = common::runtime().load("half", &bytes).unwrap_err();
    assert!(matches!(err, LoadError::InvalidComponent { .. }), "{err:?}");
}

#[test]
fn a_component_without_plugin_exports_is_refused() {
    let err = load_wat("(component (core module $m) (core instance (instantiate $m)))").unwrap_err();
    assert!(matches!(err, LoadError::NoPluginExports { .. }), "{err:?}");
    assert!(err.to_string().contains("0.1.0"));
}

#[test]
fn an_unsupported_api_version_is_refused_naming_both() {
    let err = load_wat(r#"(component (instance $i) (export "plinth:plugin/tool@9.0.0" (instance $i)))"#).unwrap_err();
    match &err {
        LoadError::UnsupportedApiVersion { found, version, supported } => {
            assert_eq!(found, "plinth:plugin/tool@9.0.0");
            assert_eq!(version, "9.0.0");
            assert!(supported.contains("0.1.0"));
        }
        other => panic!("expected UnsupportedApiVersion, got {other:?}"),
    }
}

#[test]
fn an_import_the_host_does_not_provide_is_refused_at_load() {
    let err = load_wat(
        r#"(component
             (import "acme:secrets/vault@1.0.0" (instance (export "get" (func))))
             (instance $i)
             (export "plinth:plugin/tool@0.1.0" (instance $i)))"#,
    )
    .unwrap_err();
    assert!(matches!(&err, LoadError::UnsatisfiedImport { reason } if reason.contains("acme:secrets/vault")), "{err:?}");
}

#[test]
fn limits_above_the_runtime_cap_are_refused() {
    let p = common::plugin("text_classifier");
    let cap = common::runtime().config().max_memory;
    let err = p.with_limits(Limits { memory: cap + 1, ..Limits::default() }).unwrap_err();
    assert_eq!(err, LimitsError::MemoryAboveRuntimeCap { asked: cap + 1, cap });
    let err = p.with_limits(Limits { fuel: 0, ..Limits::default() }).unwrap_err();
    assert_eq!(err, LimitsError::Zero { name: "fuel" });
}

#[test]
fn memory_below_the_initial_size_fails_at_instantiation_as_a_memory_limit() {
    let p = common::plugin("text_classifier").with_limits(Limits { memory: 64 << 10, ..Limits::default() }).unwrap();
    let err = p.call_tool("classify", &CallContext::default(), r#"{"text":"x"}"#).unwrap_err();
    assert!(matches!(err, plinth::InvokeError::MemoryLimit { limit: 65536, .. }), "{err:?}");
}

#[test]
fn the_code_cache_skips_compilation_and_survives_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::with_config(RuntimeConfig { cache_dir: Some(dir.path().to_path_buf()), ..RuntimeConfig::default() }).unwrap();
    let file = guest("json_transform");
    let first = rt.load_file(&file).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Compiled);
    let second = rt.load_file(&file).unwrap();
    assert_eq!(second.cache_status(), CacheStatus::Hit);
    assert_eq!(second.run_node("transform", &CallContext::default(), r#"{"a":1}"#).unwrap().output.as_str(), r#"{"a":1}"#);

    // Replace the cached artifact with garbage (as a disk error would): the next load
    // notices, recompiles and rewrites it.
    let cached: Vec<_> = walk(dir.path()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "cwasm")).collect();
    assert_eq!(cached.len(), 1);
    std::fs::remove_file(&cached[0]).unwrap();
    std::fs::write(&cached[0], b"garbage").unwrap();
    let third = rt.load_file(&file).unwrap();
    assert_eq!(third.cache_status(), CacheStatus::Compiled);
    assert_eq!(rt.load_file(&file).unwrap().cache_status(), CacheStatus::Hit);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn an_interface_export_of_the_wrong_shape_is_invalid() {
    // Named like the tool interface, but it exports no functions.
    let err = load_wat(r#"(component (instance $i) (export "plinth:plugin/tool@0.1.0" (instance $i)))"#).unwrap_err();
    assert!(matches!(&err, LoadError::InvalidComponent { reason } if reason.contains("list-tools")), "{err:?}");
}

#[test]
fn a_plugin_failing_to_list_is_refused_with_the_cause() {
    let rt = Runtime::with_config(RuntimeConfig { default_limits: Limits { fuel: 10, ..Limits::default() }, ..RuntimeConfig::default() })
        .unwrap();
    let err = rt.load_file(guest("text_classifier")).unwrap_err();
    match &err {
        LoadError::Listing { kind, source } => {
            assert_eq!(*kind, plinth::Kind::Tool);
            assert!(matches!(**source, plinth::InvokeError::OutOfFuel { budget: 10 }), "{source:?}");
        }
        other => panic!("expected Listing, got {other:?}"),
    }
}

#[test]
fn zero_limits_and_bad_runtime_settings_are_refused() {
    let p = common::plugin("text_classifier");
    assert_eq!(p.with_limits(Limits { memory: 0, ..Limits::default() }).unwrap_err(), LimitsError::Zero { name: "memory" });
    let zero = std::time::Duration::ZERO;
    assert_eq!(p.with_limits(Limits { timeout: zero, ..Limits::default() }).unwrap_err(), LimitsError::Zero { name: "timeout" });
    let err =
        Runtime::with_config(RuntimeConfig { default_limits: Limits { memory: 2 << 30, ..Limits::default() }, ..RuntimeConfig::default() })
            .unwrap_err();
    assert!(matches!(err, LoadError::Limits(LimitsError::MemoryAboveRuntimeCap { .. })), "{err:?}");
    let err = Runtime::with_config(RuntimeConfig { epoch_tick: zero, ..RuntimeConfig::default() }).unwrap_err();
    assert!(matches!(err, LoadError::Runtime { .. }), "{err:?}");
}

#[test]
fn a_timeout_too_large_to_represent_does_not_panic() {
    let p = common::plugin("text_classifier").with_limits(Limits { timeout: std::time::Duration::MAX, ..Limits::default() }).unwrap();
    let out = p.call_tool("classify", &CallContext::default(), r#"{"text":"hi"}"#).unwrap();
    assert_eq!(out.output.to_value().unwrap()["category"], "ham");
}

/// The library's messages say what happened and what to change, in its own terms: which
/// CLI flag or which embedder setting changes it is for the CLI (or the embedder's docs)
/// to say.
#[test]
fn library_messages_name_no_cli_flag_and_no_embedder_setting() {
    use plinth::InvokeError;
    use plinth::registry::RegistryError;
    let errors: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(InvokeError::OutOfFuel { budget: 1 }),
        Box::new(InvokeError::DeadlineExceeded { timeout: std::time::Duration::from_millis(5) }),
        Box::new(InvokeError::MemoryLimit { limit: 1, requested: 2 }),
        Box::new(InvokeError::Busy { max_instances: 4 }),
        Box::new(LimitsError::MemoryAboveRuntimeCap { asked: 2, cap: 1 }),
        Box::new(LoadError::CapabilityNotGranted { interface: "wasi:http/outgoing-handler".into(), capability: "http" }),
        Box::new(RegistryError::Declined),
    ];
    for e in errors {
        let m = e.to_string();
        assert!(!m.contains("--") && !m.contains("RuntimeConfig"), "{m}");
    }
}
