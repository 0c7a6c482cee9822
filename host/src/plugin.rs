//! A loaded plugin: compiled once, inspected once, pre-instantiated once; every call then
//! gets a fresh instance (see [`crate::call`]).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre};
use wasmtime::component::types::ComponentItem;

use crate::api::{self, Exports};
use crate::cache::CacheStatus;
use crate::call::{self, CallState, OutputBudget};
use crate::engine::Runtime;
use crate::error::{InvokeError, LimitsError, LoadError};
use crate::limits::Limits;
use crate::types::{CallContext, Dispatch, HandleResult, InboundMessage, Json, Kind, Outcome, PollResult, Specs};

/// A plugin loaded into a [`Runtime`]. Cheap to clone (shared, immutable); call it from any
/// number of threads at once — each call runs in its own fresh instance.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Loaded>,
    limits: Limits,
}

pub(crate) struct Loaded {
    pub(crate) runtime: Runtime,
    pub(crate) name: String,
    pub(crate) pre: InstancePre<CallState>,
    exports: Exports,
    api_version: &'static str,
    kinds: Vec<Kind>,
    specs: Specs,
    sha256: [u8; 32],
    cache: CacheStatus,
}

impl Plugin {
    pub(crate) fn load(runtime: Runtime, name: &str, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let rt = &runtime.inner;
        check_header(bytes)?;
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let (component, cache) = compile(&runtime, bytes, &sha256)?;
        let (kinds, api_version) = detect(&component, &rt.engine)?;
        let pre = rt
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::UnsatisfiedImport { reason: format!("{e:#}") })?;
        let exports = match api_version {
            api::v0_1_0::VERSION => Exports::V0_1_0(
                api::v0_1_0::Exports::new(&pre, &kinds)
                    .map_err(|e| LoadError::InvalidComponent { reason: format!("{e:#}") })?,
            ),
            other => unreachable!("detect() only returns supported versions, got {other}"),
        };
        let mut loaded = Loaded {
            runtime: runtime.clone(),
            name: name.to_string(),
            pre,
            exports,
            api_version,
            kinds,
            specs: Specs::default(),
            sha256,
            cache,
        };
        // Ask the plugin what it provides, once, under the runtime's default limits.
        let limits = rt.config.default_limits;
        for &kind in &loaded.kinds {
            let specs = call::run(&loaded, &limits, |store, inst| match &loaded.exports {
                Exports::V0_1_0(x) => x.list(kind, store, inst).map(Ok),
            })
            .map_err(|e| LoadError::Listing { kind, source: Box::new(e) })?
            .output;
            match kind {
                Kind::Node => loaded.specs.nodes = specs,
                Kind::Tool => loaded.specs.tools = specs,
                Kind::Trigger => loaded.specs.triggers = specs,
                Kind::Listener => loaded.specs.listeners = specs,
            }
        }
        tracing::info!(plugin = name, api = api_version, kinds = ?loaded.kinds, cache = ?cache, "plugin loaded");
        Ok(Plugin { inner: Arc::new(loaded), limits })
    }

    /// The plugin's name (the file stem, or the name given to [`Runtime::load`]).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The `plinth:plugin` API version the component was built against.
    pub fn api_version(&self) -> &str {
        self.inner.api_version
    }

    /// The kinds the component exports.
    pub fn kinds(&self) -> &[Kind] {
        &self.inner.kinds
    }

    /// What the plugin provides, as it listed at load.
    pub fn specs(&self) -> &Specs {
        &self.inner.specs
    }

    /// sha256 of the component bytes, hex.
    pub fn sha256(&self) -> String {
        hex::encode(self.inner.sha256)
    }

    /// Whether this load compiled the component or read the code cache.
    pub fn cache_status(&self) -> CacheStatus {
        self.inner.cache
    }

    /// The limits calls through this handle run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A handle to the same loaded plugin whose calls run under `limits` (cheap: shares the
    /// compiled code and pre-instantiation).
    pub fn with_limits(&self, limits: Limits) -> Result<Plugin, LimitsError> {
        limits.validate(self.inner.runtime.inner.config.max_memory)?;
        Ok(Plugin { inner: self.inner.clone(), limits })
    }

    fn require(&self, kind: Kind) -> Result<(), InvokeError> {
        if self.inner.kinds.contains(&kind) {
            return Ok(());
        }
        let provides = self.inner.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        Err(InvokeError::KindNotProvided { kind, provides })
    }

    /// Runs node `name` with `params` (JSON text).
    pub fn run_node(&self, name: &str, ctx: &CallContext, params: &str) -> Result<Outcome<Json>, InvokeError> {
        self.require(Kind::Node)?;
        check_input("params", params)?;
        let out = call::run(&self.inner, &self.limits, |store, inst| match &self.inner.exports {
            Exports::V0_1_0(x) => x.run_node(store, inst, name, ctx, params),
        })?;
        self.json_outcome(out)
    }

    /// Calls tool `name` with `arguments` (a JSON object, as text).
    pub fn call_tool(&self, name: &str, ctx: &CallContext, arguments: &str) -> Result<Outcome<Json>, InvokeError> {
        self.require(Kind::Tool)?;
        check_input("arguments", arguments)?;
        let out = call::run(&self.inner, &self.limits, |store, inst| match &self.inner.exports {
            Exports::V0_1_0(x) => x.call_tool(store, inst, name, ctx, arguments),
        })?;
        self.json_outcome(out)
    }

    /// Polls trigger `name`; `cursor` is what the previous poll returned.
    pub fn poll_trigger(&self, name: &str, ctx: &CallContext, cursor: Option<&str>) -> Result<Outcome<PollResult>, InvokeError> {
        self.require(Kind::Trigger)?;
        let out = call::run(&self.inner, &self.limits, |store, inst| match &self.inner.exports {
            Exports::V0_1_0(x) => x.poll_trigger(store, inst, name, ctx, cursor),
        })?;
        let mut budget = OutputBudget::new(self.limits.max_output);
        let raw = out.output;
        budget.charge(raw.cursor.as_ref().map_or(0, String::len))?;
        let events = raw.events.into_iter().map(|e| budget.json(e)).collect::<Result<_, _>>()?;
        let output = PollResult {
            events,
            cursor: raw.cursor,
            next_poll: raw.next_poll_ms.map(std::time::Duration::from_millis),
        };
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs })
    }

    /// Hands `message` to listener `name`.
    pub fn handle_message(&self, name: &str, ctx: &CallContext, message: &InboundMessage) -> Result<Outcome<HandleResult>, InvokeError> {
        self.require(Kind::Listener)?;
        let out = call::run(&self.inner, &self.limits, |store, inst| match &self.inner.exports {
            Exports::V0_1_0(x) => x.handle_message(store, inst, name, ctx, message),
        })?;
        let mut budget = OutputBudget::new(self.limits.max_output);
        let raw = out.output;
        if let Some(reply) = &raw.reply {
            budget.charge(reply.body.len())?;
        }
        let dispatches = raw
            .dispatches
            .into_iter()
            .map(|(event, payload)| Ok(Dispatch { event, payload: budget.json(payload)? }))
            .collect::<Result<_, InvokeError>>()?;
        let output = HandleResult { dispatches, reply: raw.reply };
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs })
    }

    fn json_outcome(&self, out: Outcome<String>) -> Result<Outcome<Json>, InvokeError> {
        let output = OutputBudget::new(self.limits.max_output).json(out.output)?;
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs })
    }
}

fn check_input(what: &str, text: &str) -> Result<(), InvokeError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| InvokeError::InvalidRequest(format!("{what} are not valid JSON: {e}")))
}

/// Tells a component from a core module or random bytes before handing them to the compiler,
/// so the error can say which it is.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(LoadError::InvalidComponent { reason: "the bytes do not start with the wasm magic number".into() });
    }
    // Layer field: 0 for core modules, 1 for components.
    if bytes[6..8] == [0, 0] {
        return Err(LoadError::InvalidComponent {
            reason: "this is a core wasm module, not a component".into(),
        });
    }
    Ok(())
}

fn compile(runtime: &Runtime, bytes: &[u8], sha256: &[u8; 32]) -> Result<(Component, CacheStatus), LoadError> {
    let rt = &runtime.inner;
    if let Some(cache) = &rt.cache {
        if let Some(c) = cache.get(&rt.engine, sha256) {
            return Ok((c, CacheStatus::Hit));
        }
    }
    let component = Component::new(&rt.engine, bytes)
        .map_err(|e| LoadError::InvalidComponent { reason: format!("{e:#}") })?;
    if let Some(cache) = &rt.cache {
        cache.put(sha256, &component);
    }
    Ok((component, CacheStatus::Compiled))
}

/// Finds the plugin interfaces the component exports and the API version they belong to.
fn detect(component: &Component, engine: &wasmtime::Engine) -> Result<(Vec<Kind>, &'static str), LoadError> {
    let ty = component.component_type();
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    let mut version: Option<&'static str> = None;
    let mut unsupported = Vec::new();
    for (name, item) in ty.exports(engine) {
        names.push(name.to_string());
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            continue;
        }
        let Some(rest) = name.strip_prefix(api::PACKAGE).and_then(|r| r.strip_prefix('/')) else { continue };
        let (iface, ver) = rest.split_once('@').unwrap_or((rest, ""));
        let Ok(kind) = iface.parse::<Kind>() else { continue };
        match api::SUPPORTED.iter().find(|v| **v == ver) {
            Some(v) if version.is_none() || version == Some(*v) => {
                version = Some(*v);
                kinds.push(kind);
            }
            Some(v) => {
                return Err(LoadError::InvalidComponent {
                    reason: format!("it mixes plugin API versions {} and {v}", version.unwrap_or_default()),
                });
            }
            None => unsupported.push((name.to_string(), ver.to_string())),
        }
    }
    let supported = api::SUPPORTED.join(", ");
    if let Some(v) = version {
        kinds.sort();
        return Ok((kinds, v));
    }
    if let Some((found, ver)) = unsupported.into_iter().next() {
        return Err(LoadError::UnsupportedApiVersion {
            found,
            version: if ver.is_empty() { "(no version)".into() } else { ver },
            supported,
        });
    }
    let found = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    Err(LoadError::NoPluginExports { found, supported })
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("api_version", &self.inner.api_version)
            .field("kinds", &self.inner.kinds)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
