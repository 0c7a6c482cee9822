//! `plinth.toml`, the manifest beside a plugin's `.wasm`: what the plugin is, what it
//! provides, what API and host it needs, what it asks for, its default limits and config.
//!
//! ```toml
//! name = "text-classifier"
//! version = "0.1.0"
//! description = "Spam / transactional / ham"
//! license = "Apache-2.0"
//! entry = "text_classifier.wasm"
//! api = "0.1.0"              # plinth:plugin version, or "legacy"
//! plinth = ">=0.1, <0.2"     # host versions it works with
//!
//! [provides]
//! tool = ["classify"]
//! order = 10                 # its place in a `chain` dispatch (lower first; default 0)
//!
//! [provides.capabilities]    # extension points it implements, each by one node or tool
//! "text.classify" = "classify"
//! # or, with the plugin's only node or tool: capabilities = ["text.classify"]
//!
//! [capabilities]             # asks; the operator grants
//! env = ["API_KEY"]
//! http = ["api.example.com"]
//!
//! [limits]
//! fuel = 1000000000
//! memory = 67108864
//! timeout_ms = 5000
//!
//! [config]                   # default plugin config (the call context's `config`)
//! threshold = 0.8
//!
//! [config_schema]            # a JSON Schema the merged config must satisfy
//! type = "object"
//! required = ["threshold"]
//!
//! [triggers.new-mail]        # a trigger's poll interval when a poll does not ask for one
//! interval_ms = 30000
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::caps::grants::Asks;
use crate::limits::Limits;
use crate::plugin::Plugin;
use crate::types::Kind;

use super::RegistryError;

/// Longest version string a manifest may give, in bytes.
pub const MAX_VERSION_LEN: usize = 64;

/// What is wrong with a manifest (its path is in [`RegistryError::Manifest`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    #[error("not a valid plinth.toml")]
    Toml(#[from] toml::de::Error),
    #[error("{0}")]
    Name(String),
    #[error("version is {len} bytes long, over the {MAX_VERSION_LEN}-byte limit")]
    VersionTooLong { len: usize },
    #[error("entry `{entry}` must be a path inside the plugin directory")]
    EntryOutside { entry: String },
    #[error("cannot resolve entry `{entry}` ({})", path.display())]
    EntryMissing {
        entry: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("entry `{entry}` resolves to {}, outside the plugin directory", resolved.display())]
    EntryEscapes { entry: String, resolved: PathBuf },
    #[error("config_schema is not a valid JSON Schema: {reason}")]
    ConfigSchema { reason: String },
    #[error("capability `{name}`: {reason}")]
    Capability { name: String, reason: String },
}

/// Names the plugin says it provides, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    #[serde(default)]
    pub node: Vec<String>,
    #[serde(default)]
    pub tool: Vec<String>,
    #[serde(default)]
    pub trigger: Vec<String>,
    #[serde(default)]
    pub listener: Vec<String>,
    /// The capabilities (extension points such as `notify.send`) it implements, each by
    /// one of its nodes or tools: what the registry's dispatch classes select on.
    #[serde(default)]
    pub capabilities: CapabilityDecls,
    /// Its place among the providers of a capability in a `chain` dispatch, lower first
    /// (default 0; ties go by plugin name). An entry's own `order` wins.
    #[serde(default)]
    pub order: Option<i64>,
}

/// `[provides] capabilities`: a list of names, each implemented by the plugin's only node
/// or tool, or a table mapping each name to the export that implements it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a list of capability names, or a table of capability = \"export\" or { export, kind, order }")]
pub enum CapabilityDecls {
    Names(Vec<String>),
    Map(std::collections::BTreeMap<String, CapabilityDecl>),
}

impl Default for CapabilityDecls {
    fn default() -> Self {
        CapabilityDecls::Names(Vec::new())
    }
}

/// What implements one capability: an export's name, or `{ export, kind, order }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "an export name, or { export = \"NAME\", kind = \"node\"|\"tool\", order = N }")]
pub enum CapabilityDecl {
    Export(String),
    Full(ProvidedBy),
}

/// `{ export, kind, order }` of a capability: the export, its kind when the name is both a
/// node and a tool, its own chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidedBy {
    pub export: String,
    #[serde(default)]
    pub kind: Option<Kind>,
    #[serde(default)]
    pub order: Option<i64>,
}

/// Longest capability name, in bytes.
pub const MAX_CAPABILITY_LEN: usize = 128;

/// A capability name: 1 to 128 ASCII letters, digits, `.`, `_` or `-`, starting with a
/// letter or digit (`notify.send`, `text-enrich`).
pub fn check_capability(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_CAPABILITY_LEN {
        return Err(format!("must be 1 to {MAX_CAPABILITY_LEN} bytes long"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.chars().all(ok_char) {
        return Err("use ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit".into());
    }
    Ok(())
}

/// A capability as the registry runs it: which export implements it, and its chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provided {
    pub kind: Kind,
    pub export: String,
    pub order: i64,
}

impl Provides {
    pub fn of(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Node => &self.node,
            Kind::Tool => &self.tool,
            Kind::Trigger => &self.trigger,
            Kind::Listener => &self.listener,
        }
    }
}

/// Default limits (unset ones come from the runtime).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    pub fuel: Option<u64>,
    /// Bytes.
    pub memory: Option<u64>,
    pub timeout_ms: Option<u64>,
}

/// How a trigger is scheduled (`[triggers.NAME]` in the manifest, or the operator's
/// `[plugin.triggers.NAME]` in plugins.toml, which wins).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSettings {
    /// Delay between polls when a poll does not ask for one, milliseconds.
    pub interval_ms: Option<u64>,
}

/// A connection the host holds for a listener (the operator's `[plugin.listeners.NAME]`
/// in plugins.toml): each frame received on it is a message for the listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSettings {
    /// A WebSocket URL (`ws://` or `wss://`) to connect to.
    pub connect: Option<String>,
}

/// A parsed `plinth.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: Option<String>,
    /// The `.wasm`, relative to the manifest.
    pub entry: String,
    /// The `plinth:plugin` API version the plugin targets, or `legacy`.
    pub api: String,
    /// Host versions the plugin works with.
    #[serde(default)]
    pub plinth: Option<semver::VersionReq>,
    #[serde(default)]
    pub provides: Provides,
    #[serde(default)]
    pub capabilities: Asks,
    #[serde(default)]
    pub limits: ManifestLimits,
    #[serde(default)]
    pub config: toml::Table,
    /// A JSON Schema (written as TOML) that the config a plugin runs with, the defaults
    /// above merged with the operator's, must satisfy; a plugin whose config does not is not
    /// run (status `missing_config` in `plinth serve`).
    #[serde(default)]
    pub config_schema: Option<toml::Table>,
    /// Per trigger: how often to poll it when it does not say.
    #[serde(default)]
    pub triggers: std::collections::BTreeMap<String, TriggerSettings>,
    /// Contract checks of its declared schemas (`"off" | "warn" | "enforce"`, or
    /// `{input, output}`); the operator's setting in plugins.toml is laid over it.
    #[serde(default)]
    pub contracts: Option<crate::plugin::ContractsSetting>,
}

impl Manifest {
    /// Reads and parses `path`.
    pub fn from_file(path: &Path) -> Result<Manifest, RegistryError> {
        let bad = |source| RegistryError::Manifest { path: path.to_path_buf(), source };
        let text = std::fs::read_to_string(path).map_err(|e| bad(ManifestError::Read(e)))?;
        Manifest::parse(&text).map_err(bad)
    }

    /// Parses manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(text)?;
        super::check_name("name", &m.name).map_err(ManifestError::Name)?;
        let len = m.version.to_string().len();
        if len > MAX_VERSION_LEN {
            return Err(ManifestError::VersionTooLong { len });
        }
        if m.entry.contains("..") || Path::new(&m.entry).is_absolute() {
            return Err(ManifestError::EntryOutside { entry: m.entry });
        }
        m.config_validator()?;
        m.check_capability_names()?;
        Ok(m)
    }

    fn check_capability_names(&self) -> Result<(), ManifestError> {
        let names: Vec<&String> = match &self.provides.capabilities {
            CapabilityDecls::Names(n) => n.iter().collect(),
            CapabilityDecls::Map(m) => m.keys().collect(),
        };
        for (i, name) in names.iter().enumerate() {
            check_capability(name).map_err(|reason| ManifestError::Capability { name: name.to_string(), reason })?;
            if names[..i].contains(name) {
                return Err(ManifestError::Capability { name: name.to_string(), reason: "is listed twice".into() });
            }
        }
        if let CapabilityDecls::Map(m) = &self.provides.capabilities {
            for (name, decl) in m {
                if let CapabilityDecl::Full(ProvidedBy { kind: Some(k @ (Kind::Trigger | Kind::Listener)), .. }) = decl {
                    let reason = format!("a {k} cannot implement a capability: only nodes and tools are called with an input");
                    return Err(ManifestError::Capability { name: name.clone(), reason });
                }
            }
        }
        Ok(())
    }

    /// The capabilities the plugin implements, each resolved to the node or tool of
    /// `plugin` that implements it. A name that is not one of its nodes or tools, a name
    /// that is both, or a bare list when the plugin has several nodes and tools is refused
    /// with what to write instead.
    pub fn provided(&self, plugin: &Plugin) -> Result<std::collections::BTreeMap<String, Provided>, RegistryError> {
        let bad = |reason: String| RegistryError::Incompatible { plugin: self.name.clone(), reason };
        let callable: Vec<(Kind, &str)> =
            [Kind::Node, Kind::Tool].into_iter().flat_map(|k| plugin.specs().of(k).iter().map(move |s| (k, s.name.as_str()))).collect();
        let default_order = self.provides.order.unwrap_or(0);
        let mut out = std::collections::BTreeMap::new();
        match &self.provides.capabilities {
            CapabilityDecls::Names(names) if names.is_empty() => {}
            CapabilityDecls::Names(names) => {
                let [(kind, export)] = callable.as_slice() else {
                    let list = callable.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
                    return Err(bad(format!(
                        "capabilities {names:?} need the export that implements each (it has {}): write [provides.capabilities] \"{}\" = \"EXPORT\"",
                        if list.is_empty() { "no node or tool".to_string() } else { list },
                        names[0]
                    )));
                };
                for name in names {
                    out.insert(name.clone(), Provided { kind: *kind, export: export.to_string(), order: default_order });
                }
            }
            CapabilityDecls::Map(map) => {
                for (name, decl) in map {
                    let (export, kind, order) = match decl {
                        CapabilityDecl::Export(e) => (e, None, None),
                        CapabilityDecl::Full(ProvidedBy { export, kind, order }) => (export, *kind, *order),
                    };
                    let matching: Vec<Kind> =
                        callable.iter().filter(|(k, n)| *n == export && kind.is_none_or(|want| want == *k)).map(|(k, _)| *k).collect();
                    let kind = match matching.as_slice() {
                        [k] => *k,
                        [] => return Err(bad(format!("capability `{name}` names `{export}`, which is not one of its nodes or tools"))),
                        _ => {
                            return Err(bad(format!(
                                "capability `{name}`: `{export}` is both a node and a tool; say which with {{ export = \"{export}\", kind = \"node\" }}"
                            )));
                        }
                    };
                    out.insert(name.clone(), Provided { kind, export: export.clone(), order: order.unwrap_or(default_order) });
                }
            }
        }
        Ok(out)
    }

    /// The entry `.wasm` for a manifest at `manifest_path`, with symlinks resolved; an entry
    /// that resolves outside the manifest's directory (a symlink pointing out) is refused.
    pub fn entry_path(&self, manifest_path: &Path) -> Result<PathBuf, RegistryError> {
        let dir = manifest_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let entry = dir.join(&self.entry);
        let bad = |source| RegistryError::Manifest { path: manifest_path.to_path_buf(), source };
        let missing = |path: &Path| {
            let (entry, path) = (self.entry.clone(), path.to_path_buf());
            move |source| bad(ManifestError::EntryMissing { entry, path, source })
        };
        let real_dir = dir.canonicalize().map_err(missing(dir))?;
        let real = entry.canonicalize().map_err(missing(&entry))?;
        if !real.starts_with(&real_dir) {
            return Err(bad(ManifestError::EntryEscapes { entry: self.entry.clone(), resolved: real }));
        }
        Ok(real)
    }

    /// `runtime_defaults` overridden by the manifest's limits.
    pub fn limits(&self, runtime_defaults: Limits) -> Limits {
        Limits {
            fuel: self.limits.fuel.unwrap_or(runtime_defaults.fuel),
            memory: self.limits.memory.unwrap_or(runtime_defaults.memory),
            timeout: self.limits.timeout_ms.map(Duration::from_millis).unwrap_or(runtime_defaults.timeout),
            ..runtime_defaults
        }
    }

    /// The default config as JSON.
    pub fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or(serde_json::Value::Null)
    }

    /// The compiled `config_schema`, if any. Schemas are local: a `$ref` to another
    /// document is refused (no file or network reads on behalf of a plugin).
    fn config_validator(&self) -> Result<Option<jsonschema::Validator>, ManifestError> {
        let Some(schema) = &self.config_schema else { return Ok(None) };
        let schema = serde_json::to_value(schema).map_err(|e| ManifestError::ConfigSchema { reason: e.to_string() })?;
        jsonschema::validator_for(&schema).map(Some).map_err(|e| ManifestError::ConfigSchema { reason: e.to_string() })
    }

    /// What is wrong with `config` by the manifest's `config_schema`: one line per problem,
    /// each naming where (`/threshold: ...`); empty when it conforms or there is no schema.
    pub fn config_problems(&self, config: &serde_json::Value) -> Vec<String> {
        match self.config_validator() {
            Ok(Some(v)) => v
                .iter_errors(config)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => vec![e.to_string()],
        }
    }

    /// Checks the manifest against the loaded component: API version, host version, and
    /// that it really provides everything the manifest says.
    pub fn check(&self, plugin: &Plugin) -> Result<(), RegistryError> {
        let bad = |reason: String| RegistryError::Incompatible { plugin: self.name.clone(), reason };
        if plugin.api_version() != self.api {
            return Err(bad(format!("the manifest says api {} but the component is built for {}", self.api, plugin.api_version())));
        }
        if let Some(req) = &self.plinth {
            let host = semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("crate version is semver");
            if !req.matches(&host) {
                return Err(bad(format!("it needs plinth {req}, this host is {host}")));
            }
        }
        for kind in Kind::ALL {
            for name in self.provides.of(kind) {
                if !plugin.specs().of(kind).iter().any(|s| &s.name == name) {
                    return Err(bad(format!("the manifest lists {kind} `{name}`, which the component does not provide")));
                }
            }
        }
        self.provided(plugin)?;
        Ok(())
    }
}
