//! A loaded plugin: compiled once, inspected once, pre-instantiated once; every call then
//! gets a fresh instance (see [`crate::call`]).
//!
//! Two formats load here: components exporting `plinth:plugin` interfaces, and legacy core
//! modules with the `alloc/dealloc/handle` JSON ABI ([`crate::legacy`]), which behave as a
//! plugin with one node.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Module, Store};

use crate::api::{self, Exports};
use crate::cache::CacheStatus;
use crate::call::{self, CallState, OutputBudget};
use crate::caps::grants::Capabilities;
use crate::engine::{LoadOptions, Runtime};
use crate::error::{InvokeError, LimitsError, LoadError, PluginError};
use crate::legacy::{self, LegacyModule};
use crate::limits::Limits;
use crate::types::{CallContext, Dispatch, HandleResult, InboundMessage, Json, Kind, Outcome, PollResult, Spec, Specs};
use crate::warm::WarmQueue;

/// The `api_version()` of a legacy core module.
pub const LEGACY_API: &str = "legacy";

/// What kind of wasm a plugin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A component exporting `plinth:plugin` interfaces.
    Component,
    /// A core module with the legacy `alloc/dealloc/handle` JSON ABI (one node).
    LegacyModule,
}

/// A plugin loaded into a [`Runtime`]. Cheap to clone (shared, immutable); call it from any
/// number of threads at once — each call runs in its own fresh instance.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Loaded>,
    limits: Limits,
}

pub(crate) struct Loaded {
    pub(crate) runtime: Runtime,
    pub(crate) name: Arc<str>,
    pub(crate) caps: Arc<Capabilities>,
    imports: Vec<String>,
    backend: Backend,
    api_version: &'static str,
    kinds: Vec<Kind>,
    specs: Specs,
    sha256: [u8; 32],
    cache: CacheStatus,
    pub(crate) warm: WarmQueue,
}

enum Backend {
    Component { pre: InstancePre<CallState>, exports: Exports },
    Legacy(LegacyModule),
}

/// One instance with its exports looked up, ready to call.
pub(crate) enum Bound {
    Component(api::Bound),
    Legacy(legacy::Bound),
}

impl Loaded {
    /// Instantiates the plugin into `store` (already armed) and binds its exports.
    pub(crate) fn instantiate(&self, store: &mut Store<CallState>) -> wasmtime::Result<Bound> {
        match &self.backend {
            Backend::Component { pre, exports } => {
                let instance = pre.instantiate(&mut *store)?;
                exports.bind(store, &instance).map(Bound::Component)
            }
            Backend::Legacy(module) => module.instantiate(store).map(Bound::Legacy),
        }
    }

    /// Tops the pre-warm queue up (on the warmer thread).
    pub(crate) fn refill_warm(&self) -> crate::warm::Refill {
        let rt = &self.runtime.inner;
        self.warm.refill(
            rt.warm_cap(),
            || rt.has_idle_core(),
            || {
                let limits = self.warm.limits;
                let mut store = call::new_store(self, &limits);
                call::arm(&mut store, self, &limits, std::time::Instant::now())?;
                let bound = self.instantiate(&mut store)?;
                Ok((store, bound))
            },
        )
    }
}

type Call<R> = wasmtime::Result<Result<R, PluginError>>;

impl Plugin {
    pub(crate) fn load(runtime: Runtime, name: &str, bytes: &[u8], options: &LoadOptions) -> Result<Plugin, LoadError> {
        let limits = options.limits.unwrap_or(runtime.inner.config.default_limits);
        limits.validate(runtime.inner.config.max_memory)?;
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        let caps = Arc::new(options.capabilities.clone());
        let target = options.warm_instances.unwrap_or(runtime.inner.config.warm_instances);
        let warm = WarmQueue::new(target, limits, runtime.inner.warm_total.clone());
        let loaded = match check_header(bytes)? {
            Format::Component => load_component(&runtime, name, bytes, sha256, caps, warm)?,
            Format::LegacyModule => load_legacy(&runtime, name, bytes, sha256, caps, warm)?,
        };
        tracing::info!(plugin = name, api = loaded.api_version, kinds = ?loaded.kinds, cache = ?loaded.cache, "plugin loaded");
        let inner = Arc::new(loaded);
        runtime.inner.warmer.request(&inner);
        Ok(Plugin { inner, limits })
    }

    #[cfg(feature = "bench-support")]
    pub(crate) fn loaded(&self) -> &Arc<Loaded> {
        &self.inner
    }

    /// Pre-warmed instances ready right now (see [`LoadOptions::warm_instances`]).
    pub fn warm_ready(&self) -> usize {
        self.inner.warm.len()
    }

    /// What the plugin may use.
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.caps
    }

    /// The interfaces the component imports (empty for legacy modules).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The plugin's name (the file stem, or the name given to [`Runtime::load`]). A legacy
    /// module's single node has this name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Component or legacy core module.
    pub fn format(&self) -> Format {
        match self.inner.backend {
            Backend::Component { .. } => Format::Component,
            Backend::Legacy(_) => Format::LegacyModule,
        }
    }

    /// The `plinth:plugin` API version the component was built against, or
    /// [`LEGACY_API`] for a legacy core module.
    pub fn api_version(&self) -> &str {
        self.inner.api_version
    }

    /// The kinds the plugin provides.
    pub fn kinds(&self) -> &[Kind] {
        &self.inner.kinds
    }

    /// What the plugin provides, as it listed at load.
    pub fn specs(&self) -> &Specs {
        &self.inner.specs
    }

    /// sha256 of the wasm bytes, hex.
    pub fn sha256(&self) -> String {
        hex::encode(self.inner.sha256)
    }

    /// Whether this load compiled the wasm or read the code cache.
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

    /// Runs a component export in a fresh instance.
    fn component<R>(&self, f: impl FnOnce(&api::Bound, &mut Store<CallState>) -> Call<R>) -> Result<Outcome<R>, InvokeError> {
        call::run(&self.inner, &self.limits, |store, bound| match bound {
            Bound::Component(b) => f(b, store),
            Bound::Legacy(_) => Err(wasmtime::format_err!("legacy modules provide nodes only (host bug)")),
        })
    }

    /// Runs node `name` with `params` (JSON text).
    pub fn run_node(&self, name: &str, ctx: &CallContext, params: &str) -> Result<Outcome<Json>, InvokeError> {
        self.require(Kind::Node)?;
        check_input("params", params)?;
        if let Backend::Legacy(_) = &self.inner.backend {
            return self.run_legacy(name, ctx, params);
        }
        let out = self.component(|b, store| match b {
            api::Bound::V0_1_0(b) => b.run_node(store, name, ctx, params),
        })?;
        self.json_outcome(out)
    }

    fn run_legacy(&self, name: &str, ctx: &CallContext, params: &str) -> Result<Outcome<Json>, InvokeError> {
        if name != &*self.inner.name {
            return Err(InvokeError::Guest(PluginError::NotFound(format!(
                "this legacy module provides one node, `{}`, not `{name}`",
                self.inner.name
            ))));
        }
        let input = legacy::envelope(ctx, params);
        let max_output = self.limits.max_output;
        let out = call::run(&self.inner, &self.limits, |store, bound| match bound {
            Bound::Legacy(b) => b.call(store, input.as_bytes(), max_output).map(Ok),
            Bound::Component(_) => Err(wasmtime::format_err!("not a legacy module (host bug)")),
        })?;
        let output = OutputBudget::new(max_output).json_bytes(out.output)?;
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs, prewarmed: out.prewarmed })
    }

    /// Calls tool `name` with `arguments` (a JSON object, as text).
    pub fn call_tool(&self, name: &str, ctx: &CallContext, arguments: &str) -> Result<Outcome<Json>, InvokeError> {
        self.require(Kind::Tool)?;
        check_input("arguments", arguments)?;
        let out = self.component(|b, store| match b {
            api::Bound::V0_1_0(b) => b.call_tool(store, name, ctx, arguments),
        })?;
        self.json_outcome(out)
    }

    /// Polls trigger `name`; `cursor` is what the previous poll returned.
    pub fn poll_trigger(&self, name: &str, ctx: &CallContext, cursor: Option<&str>) -> Result<Outcome<PollResult>, InvokeError> {
        self.require(Kind::Trigger)?;
        let out = self.component(|b, store| match b {
            api::Bound::V0_1_0(b) => b.poll_trigger(store, name, ctx, cursor),
        })?;
        let mut budget = OutputBudget::new(self.limits.max_output);
        let raw = out.output;
        budget.charge(raw.cursor.as_ref().map_or(0, String::len))?;
        let events = raw.events.into_iter().map(|e| budget.json(e)).collect::<Result<_, _>>()?;
        let output = PollResult { events, cursor: raw.cursor, next_poll: raw.next_poll_ms.map(std::time::Duration::from_millis) };
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs, prewarmed: out.prewarmed })
    }

    /// Hands `message` to listener `name`.
    pub fn handle_message(&self, name: &str, ctx: &CallContext, message: &InboundMessage) -> Result<Outcome<HandleResult>, InvokeError> {
        self.require(Kind::Listener)?;
        let out = self.component(|b, store| match b {
            api::Bound::V0_1_0(b) => b.handle_message(store, name, ctx, message),
        })?;
        let mut budget = OutputBudget::new(self.limits.max_output);
        let raw = out.output;
        if let Some(reply) = &raw.reply {
            let headers: usize = reply.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
            budget.charge(reply.body.len() + headers)?;
        }
        let dispatches = raw
            .dispatches
            .into_iter()
            .map(|(event, payload)| {
                budget.charge(event.len())?;
                Ok(Dispatch { event, payload: budget.json(payload)? })
            })
            .collect::<Result<_, InvokeError>>()?;
        let output = HandleResult { dispatches, reply: raw.reply };
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs, prewarmed: out.prewarmed })
    }

    fn json_outcome(&self, out: Outcome<String>) -> Result<Outcome<Json>, InvokeError> {
        let output = OutputBudget::new(self.limits.max_output).json(out.output)?;
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs, prewarmed: out.prewarmed })
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &&*self.inner.name)
            .field("format", &self.format())
            .field("api_version", &self.inner.api_version)
            .field("kinds", &self.inner.kinds)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn check_input(what: &str, text: &str) -> Result<(), InvokeError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| InvokeError::InvalidRequest(format!("{what} are not valid JSON: {e}")))
}

/// Tells a component from a core module (or from random bytes) before compiling.
fn check_header(bytes: &[u8]) -> Result<Format, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::InvalidComponent { reason: "the bytes do not start with the wasm magic number".into() });
    }
    // Bytes 6..8 are the layer: 0 for core modules, 1 for components.
    Ok(if bytes[6..8] == [0, 0] { Format::LegacyModule } else { Format::Component })
}

/// Reads compiled code from the cache, or compiles it (and stores it).
fn compile<T>(
    runtime: &Runtime,
    sha256: &[u8; 32],
    from_cache: impl FnOnce(&std::path::Path) -> wasmtime::Result<T>,
    compile: impl FnOnce() -> Result<T, LoadError>,
    serialize: impl FnOnce(&T) -> wasmtime::Result<Vec<u8>>,
) -> Result<(T, CacheStatus), LoadError> {
    let cache = runtime.inner.cache.as_ref();
    if let Some(hit) = cache.and_then(|c| c.get(sha256, from_cache)) {
        return Ok((hit, CacheStatus::Hit));
    }
    let code = compile()?;
    if let Some(cache) = cache {
        cache.put(sha256, serialize(&code));
    }
    Ok((code, CacheStatus::Compiled))
}

fn load_component(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    sha256: [u8; 32],
    caps: Arc<Capabilities>,
    warm: WarmQueue,
) -> Result<Loaded, LoadError> {
    let rt = &runtime.inner;
    let engine = &rt.engine;
    let (component, cache) = compile(
        runtime,
        &sha256,
        // SAFETY: see `CodeCache::get`: files are written only from `serialize` of this
        // engine configuration and replaced atomically; the directory must be trusted.
        |path| unsafe { Component::deserialize_file(engine, path) },
        || Component::new(engine, bytes).map_err(|e| LoadError::InvalidComponent { reason: format!("{e:#}") }),
        Component::serialize,
    )?;
    let (kinds, api_version) = detect(&component, engine)?;
    let imports: Vec<String> = component.component_type().imports(engine).map(|(n, _)| n.to_string()).collect();
    // Link-time enforcement: HTTP is linked only for plugins granted it.
    if let Some(http) = imports.iter().find(|i| i.starts_with("wasi:http/")) {
        if !caps.has_http() {
            return Err(LoadError::CapabilityNotGranted { interface: http.clone(), capability: "http" });
        }
    }
    let linker = if caps.has_http() { &rt.linker_http } else { &rt.linker };
    let pre = linker.instantiate_pre(&component).map_err(|e| LoadError::UnsatisfiedImport { reason: format!("{e:#}") })?;
    let exports = match api_version {
        api::v0_1_0::VERSION => {
            Exports::V0_1_0(api::v0_1_0::Exports::new(&pre, &kinds).map_err(|e| LoadError::InvalidComponent { reason: format!("{e:#}") })?)
        }
        other => unreachable!("detect() only returns supported versions, got {other}"),
    };
    let mut loaded = Loaded {
        runtime: runtime.clone(),
        name: name.into(),
        caps,
        imports,
        backend: Backend::Component { pre, exports },
        api_version,
        kinds,
        specs: Specs::default(),
        sha256,
        cache,
        // Disabled while listing: nothing may hold a reference to this half-built plugin.
        warm: WarmQueue::new(0, warm.limits, runtime.inner.warm_total.clone()),
    };
    // Ask the plugin what it provides, once, under the runtime's default limits.
    let limits = rt.config.default_limits;
    let plugin = Plugin { inner: Arc::new(loaded), limits };
    let mut specs = Specs::default();
    for &kind in plugin.kinds() {
        let listed = plugin
            .component(|b, store| match b {
                api::Bound::V0_1_0(b) => b.list(kind, store).map(Ok),
            })
            .map_err(|e| LoadError::Listing { kind, source: Box::new(e) })?
            .output;
        match kind {
            Kind::Node => specs.nodes = listed,
            Kind::Tool => specs.tools = listed,
            Kind::Trigger => specs.triggers = listed,
            Kind::Listener => specs.listeners = listed,
        }
    }
    loaded = Arc::into_inner(plugin.inner)
        .ok_or_else(|| LoadError::Runtime("internal: a listing call kept a reference to the plugin".into()))?;
    loaded.specs = specs;
    loaded.warm = warm;
    Ok(loaded)
}

fn load_legacy(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    sha256: [u8; 32],
    caps: Arc<Capabilities>,
    warm: WarmQueue,
) -> Result<Loaded, LoadError> {
    let engine = &runtime.inner.engine;
    let (module, cache) = compile(
        runtime,
        &sha256,
        // SAFETY: as for components above.
        |path| unsafe { Module::deserialize_file(engine, path) },
        || Module::new(engine, bytes).map_err(|e| LoadError::InvalidComponent { reason: format!("invalid core module: {e:#}") }),
        Module::serialize,
    )?;
    let legacy = LegacyModule::new(&module)?;
    let node = Spec {
        name: name.to_string(),
        description: "Legacy core module (alloc/dealloc/handle JSON ABI).".into(),
        input_schema: None,
        output_schema: None,
        platform: None,
    };
    if *caps != Capabilities::none() {
        tracing::warn!(plugin = name, "capabilities given to a legacy module are ignored: it has no imports");
    }
    Ok(Loaded {
        runtime: runtime.clone(),
        name: name.into(),
        caps,
        imports: Vec::new(),
        backend: Backend::Legacy(legacy),
        api_version: LEGACY_API,
        kinds: vec![Kind::Node],
        specs: Specs { nodes: vec![node], ..Specs::default() },
        sha256,
        cache,
        warm,
    })
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
