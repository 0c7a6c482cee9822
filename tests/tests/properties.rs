//! Property tests for every parser of untrusted text: manifests, `plinth.lock`,
//! `plugins.toml`, handler references, host patterns, sizes, and what a legacy module hands
//! back. Each must return a value or a typed error for any input, never panic; where a
//! writer exists, what it writes must parse back to the same value.

mod common;

use plinth::registry::state::{Desired, DesiredPlugin, LockFile, LockedPlugin, PluginType};
use plinth::registry::{Export, Handler, Manifest};
use plinth::{CallContext, HostPattern, InvokeError, Kind, LoadError, parse_size};
use proptest::prelude::*;

/// Text that looks like the format under test often enough to get past the first error:
/// TOML-ish fragments mixed with arbitrary characters.
fn tomlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("name = \"a\"\n".to_string()),
        Just("version = \"0.1.0\"\n".to_string()),
        Just("entry = \"x.wasm\"\n".to_string()),
        Just("api = \"0.1.0\"\n".to_string()),
        Just("[limits]\n".to_string()),
        Just("[provides]\n".to_string()),
        Just("[capabilities]\n".to_string()),
        Just("[[plugin]]\n".to_string()),
        Just("version = 2\n".to_string()),
        Just("version = 1\n".to_string()),
        Just("fuel = 18446744073709551615\n".to_string()),
        Just("tool = [\"classify\"]\n".to_string()),
        Just("exports = [{ kind = \"tool\", name = \"x\" }]\n".to_string()),
        Just("exports = [\"tool x\", \"bogus\"]\n".to_string()),
        "[a-z_]{1,8} = [0-9]{1,20}\n",
        "[a-z_]{1,8} = \"[^\"\\\\]{0,12}\"\n",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_-]{0,20}"
}

/// A valid manifest, written as an author would.
fn manifest_text() -> impl Strategy<Value = String> {
    (
        name(),
        (0u64..20, 0u64..20, 0u64..20),
        "[a-z_]{1,10}\\.wasm",
        prop::collection::vec(name(), 0..3),
        (prop::option::of(1u64..u64::MAX), prop::option::of(1u64..(1 << 40)), prop::option::of(1u64..100_000)),
        any::<String>(),
    )
        .prop_map(|(name, (a, b, c), entry, tools, (fuel, memory, timeout), description)| {
            let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
            let mut text = format!(
                "name = {}\nversion = \"{a}.{b}.{c}\"\nentry = {}\napi = \"0.1.0\"\ndescription = {}\n",
                quote(&name),
                quote(&entry),
                quote(&description)
            );
            text += &format!("[provides]\ntool = [{}]\n[limits]\n", tools.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", "));
            for (key, v) in [("fuel", fuel), ("memory", memory), ("timeout_ms", timeout)] {
                if let Some(v) = v.filter(|v| *v <= i64::MAX as u64) {
                    text += &format!("{key} = {v}\n");
                }
            }
            text
        })
}

/// A valid manifest with lines dropped, repeated, or replaced by other fragments.
fn mutated_manifest() -> impl Strategy<Value = String> {
    (manifest_text(), prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, tomlish()), 1..4)).prop_map(|(text, edits)| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (at, op, fragment) in edits {
            let i = at.index(lines.len().max(1));
            match op {
                0 if !lines.is_empty() => drop(lines.remove(i)),
                1 if !lines.is_empty() => lines.insert(i, lines[i].clone()),
                _ => lines.insert(i.min(lines.len()), fragment),
            }
        }
        lines.join("\n")
    })
}

fn locked() -> impl Strategy<Value = LockedPlugin> {
    let kind = prop_oneof![Just(Kind::Node), Just(Kind::Tool), Just(Kind::Trigger), Just(Kind::Listener)];
    (name(), prop::option::of(name()), (0u64..100, 0u64..100, 0u64..100), "[0-9a-f]{64}", prop::option::of("[0-9a-f]{64}")).prop_flat_map(
        move |(n, tenant, (a, b, c), wasm, manifest)| {
            prop::collection::vec((kind.clone(), name()), 0..4).prop_map(move |exports| LockedPlugin {
                name: n.clone(),
                tenant: tenant.clone(),
                version: format!("{a}.{b}.{c}"),
                wasm_sha256: wasm.clone(),
                manifest_sha256: manifest.clone(),
                api: "0.1.0".into(),
                kinds: exports.iter().map(|(k, _)| *k).collect(),
                exports: exports.iter().map(|(kind, name)| Export { kind: *kind, name: name.clone() }).collect(),
                source: "/plugins/x".into(),
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn manifests_never_panic(text in tomlish(), mutated in mutated_manifest()) {
        let _ = Manifest::parse(&text);
        if let Ok(m) = Manifest::parse(&mutated) {
            let written = toml::to_string(&m).unwrap();
            prop_assert_eq!(Manifest::parse(&written).unwrap(), m);
        }
    }

    #[test]
    fn a_valid_manifest_parses_and_round_trips(text in manifest_text()) {
        let m = Manifest::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        let written = toml::to_string(&m).unwrap();
        prop_assert_eq!(Manifest::parse(&written).unwrap(), m);
    }

    #[test]
    fn locks_never_panic(text in tomlish()) {
        let _ = LockFile::parse(&text);
    }

    #[test]
    fn a_lock_round_trips(plugins in prop::collection::vec(locked(), 0..5)) {
        let lock = LockFile { plugin: plugins, ..LockFile::default() };
        let written = toml::to_string_pretty(&lock).unwrap();
        prop_assert_eq!(LockFile::parse(&written).unwrap(), lock);
    }

    #[test]
    fn plugins_toml_never_panics(text in tomlish()) {
        let _ = toml::from_str::<Desired>(&text);
    }

    #[test]
    fn plugins_toml_round_trips(entries in prop::collection::vec((name(), prop::option::of(name()), any::<bool>(), "[^\u{0}]{0,40}", any::<bool>()), 0..5)) {
        let desired = Desired {
            plugin: entries
                .into_iter()
                .map(|(name, tenant, enabled, source, remote)| DesiredPlugin {
                    name, tenant, source, enabled, grants: Default::default(),
                    plugin_type: if remote { PluginType::Grpc } else { PluginType::Wasm },
                    allow_remote: if remote { vec!["127.0.0.1:*".into()] } else { vec![] },
                    contracts: if remote { None } else { Some(plinth::plugin::ContractsSetting::Each { input: Some(plinth::plugin::ContractMode::Warn), output: None }) }, config: None, description: None, triggers: Default::default(), listeners: Default::default(), created_at: None, updated_at: None,
                })
                .collect(),
        };
        let written = toml::to_string_pretty(&desired).unwrap();
        prop_assert_eq!(toml::from_str::<Desired>(&written).unwrap(), desired);
    }

    #[test]
    fn handler_references_never_panic(text in "(wasm://)?[^@]{0,24}(@[ -~]{0,12})?") {
        if let Ok(h) = Handler::parse(&text) {
            // What parses is a plain name: no scheme, path or version left in it.
            prop_assert!(plinth::registry::check_name("name", &h.name).is_ok(), "{:?}", h);
        }
    }

    #[test]
    fn a_handler_reference_round_trips(n in name(), (a, b, c) in (0u64..50, 0u64..50, 0u64..50), scheme in any::<bool>()) {
        let text = format!("{}{n}@{a}.{b}.{c}", if scheme { "wasm://" } else { "" });
        let h = Handler::parse(&text).unwrap();
        prop_assert_eq!(&h.name, &n);
        prop_assert!(h.version.unwrap().matches(&semver::Version::new(a, b, c)));
    }

    #[test]
    fn host_patterns_never_panic_and_round_trip(text in "(\\*\\.)?[a-zA-Z0-9.\\[\\]:*-]{0,30}") {
        if let Ok(p) = HostPattern::parse(&text) {
            let written = p.to_string();
            prop_assert_eq!(HostPattern::parse(&written).unwrap(), p);
        }
    }

    #[test]
    fn arbitrary_host_patterns_never_panic(text in any::<String>(), host in any::<String>(), port in any::<Option<u16>>()) {
        if let Ok(p) = HostPattern::parse(&text) {
            let _ = p.allows("https", &host, port);
        }
    }

    #[test]
    fn sizes_never_panic(text in any::<String>()) {
        let _ = parse_size(&text);
    }

    #[test]
    fn sizes_scale_by_their_suffix(n in 0u64..(1 << 33), suffix in prop_oneof![Just(""), Just("K"), Just("m"), Just("G")]) {
        let shift = match suffix { "" => 0, "K" => 10, "m" => 20, _ => 30 };
        let parsed = parse_size(&format!("{n}{suffix}"));
        match n.checked_mul(1 << shift) {
            Some(want) => prop_assert_eq!(parsed, Ok(want)),
            None => prop_assert!(parsed.is_err()),
        }
    }
}

/// A legacy module whose `handle` returns `packed` (pointer in the high half, length in
/// the low half) over a memory holding `bytes` at offset 16.
fn legacy_returning(bytes: &[u8], packed: i64) -> String {
    let data: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
            (memory (export "memory") 1)
            (data (i32.const 16) "{data}")
            (func (export "alloc") (param i32) (result i32) i32.const 4096)
            (func (export "dealloc") (param i32 i32))
            (func (export "handle") (param i32 i32) (result i64) i64.const {packed}))"#
    )
}

proptest! {
    // Each case compiles a module: fewer cases, still every branch of the reader.
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn whatever_a_legacy_module_returns_is_an_output_or_a_typed_error(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            // Valid JSON too, so the accepting path is taken.
            "(\\{\"a\":[0-9]{1,5}\\}|\"[a-z]{0,8}\"|[0-9]{1,6})".prop_map(String::into_bytes),
        ],
        ptr in prop_oneof![Just(16i64), any::<i32>().prop_map(i64::from), Just(65_530)],
        len in prop_oneof![Just(None), any::<u32>().prop_map(Some)],
    ) {
        let len = len.map_or(bytes.len() as u64, u64::from);
        let packed = ((ptr as u64) << 32 | len) as i64;
        let wasm = wat::parse_str(legacy_returning(&bytes, packed)).unwrap();
        let p = common::runtime().load("legacy_prop", &wasm).unwrap();
        match p.run_node("legacy_prop", &CallContext::default(), "{}") {
            Ok(out) => {
                // Accepted output is exactly the memory it pointed at.
                let mut image = vec![0u8; 65_536];
                image[16..16 + bytes.len()].copy_from_slice(&bytes);
                let start = usize::try_from(ptr).unwrap();
                prop_assert_eq!(out.output.as_str().as_bytes(), &image[start..start + len as usize]);
            }
            Err(InvokeError::AbiViolation { .. } | InvokeError::InvalidOutput { .. } | InvokeError::OutputTooLarge { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_load_as_anything_but_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..256), magic in any::<bool>()) {
        let mut wasm = if magic { b"\0asm\x01\0\0\0".to_vec() } else { Vec::new() };
        wasm.extend(bytes);
        match common::runtime().load("junk", &wasm) {
            Err(LoadError::InvalidComponent { .. } | LoadError::NoPluginExports { .. } | LoadError::LegacyAbi { .. } | LoadError::LegacyImports { .. }) => {}
            Ok(p) => prop_assert!(false, "loaded {:?}", p.kinds()),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
