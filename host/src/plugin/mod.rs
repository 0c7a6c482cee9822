//! A loaded plugin: compiled once, inspected once, pre-instantiated once ([`load`]);
//! every call then gets a fresh instance (see [`crate::call`]).
//!
//! Two formats load here: components exporting `plinth:plugin` interfaces, and legacy core
//! modules with the `alloc/dealloc/handle` JSON ABI ([`crate::legacy`]), which behave as a
//! plugin with one node.

pub mod contracts;
mod dispatch;
pub(crate) mod load;
pub(crate) mod remote;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;

use crate::api::{self, Call};
use crate::cache::CacheStatus;
use crate::call::{self, Runner, Target};
use crate::caps::grants::Capabilities;
use crate::error::{InvokeError, LimitsError};
use crate::instance::Backend;
use crate::legacy;
use crate::limits::Limits;
use crate::output::OutputBudget;
use crate::store::CallState;
use crate::telemetry;
use crate::types::{CallContext, Dispatch, HandleResult, InboundMessage, Json, Kind, Outcome, PollResult, Specs};
use crate::warm::{Filled, Holders, Refill, WarmQueue};
use contracts::Checks;
pub use contracts::{ContractMode, Contracts, ContractsSetting};

/// The `api_version()` of a legacy core module.
pub const LEGACY_API: &str = "legacy";

/// The `api_version()` of a remote plugin (`grpc://`, Orch8's JSON over HTTP/2).
pub const REMOTE_API: &str = "remote";

/// What kind of wasm a plugin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A component exporting `plinth:plugin` interfaces.
    Component,
    /// A core module with the legacy `alloc/dealloc/handle` JSON ABI (one node).
    LegacyModule,
    /// Not wasm: a service called over HTTP/2 with Orch8's envelope (one node).
    Remote,
}

/// How to load one plugin.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Limits of its calls; `None` uses the runtime's default limits.
    pub limits: Option<Limits>,
    /// What it may use (the intersection of its asks and the operator's grants, see
    /// [`Capabilities::resolve`]). Default: nothing.
    pub capabilities: Capabilities,
    /// Pre-warmed instances to keep ready; `None` uses `RuntimeConfig::warm_instances`.
    pub warm_instances: Option<usize>,
    /// What its declared JSON Schemas are used for (default: input enforced, output
    /// warned about; see [`contracts`]).
    pub contracts: Contracts,
}

/// A plugin loaded into a [`crate::Runtime`]. Cheap to clone (shared, immutable); call it
/// from any number of threads at once — each call runs in its own fresh instance.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Loaded>,
    limits: Limits,
    /// Set by [`Plugin::with_cancel`]: the switch its calls watch.
    cancel: Option<crate::types::Cancel>,
}

/// The shared part of a [`Plugin`].
pub(crate) struct Loaded {
    runner: Arc<Runner>,
    name: Arc<str>,
    capabilities: Arc<Capabilities>,
    imports: Vec<String>,
    code: Code,
    api_version: &'static str,
    kinds: Vec<Kind>,
    specs: Specs,
    sha256: [u8; 32],
    cache: CacheStatus,
    warm: WarmQueue,
    /// Its nodes' and tools' schemas, compiled at load (shared with output checks that run
    /// after their call, see [`Plugin::check_output`]).
    checks: Arc<Checks>,
}

/// What runs a plugin's calls.
pub(crate) enum Code {
    /// Its wasm, ready to instantiate.
    Wasm(Backend),
    /// A service it calls over HTTP/2 (no wasm, no instance, no warm queue).
    Remote(remote::Remote),
}

impl Loaded {
    /// The wasm of a wasm plugin (`None` for a remote one).
    fn target(&self) -> Option<Target<'_>> {
        match &self.code {
            Code::Wasm(backend) => Some(Target { name: &self.name, capabilities: &self.capabilities, backend, warm: Some(&self.warm) }),
            Code::Remote(_) => None,
        }
    }
}

impl Refill for Loaded {
    fn refill(&self, holders: &mut Holders) -> Filled {
        let runner = &self.runner;
        let Some(target) = self.target() else { return Filled::Done };
        let target = Target { warm: None, ..target };
        self.warm.refill(holders, || runner.has_idle_core(), || runner.fresh(&target, &self.warm.limits, Instant::now()))
    }

    fn queue(&self) -> &WarmQueue {
        &self.warm
    }
}

impl Plugin {
    #[cfg(feature = "bench")]
    pub(crate) fn runner(&self) -> &Runner {
        &self.inner.runner
    }

    #[cfg(feature = "bench")]
    pub(crate) fn target(&self) -> Target<'_> {
        Target { warm: None, ..self.inner.target().expect("benchmarks load wasm plugins") }
    }

    /// The input contract check alone (what it adds to a call), for the benchmarks.
    #[cfg(feature = "bench")]
    #[doc(hidden)]
    pub fn bench_input_check(&self, kind: Kind, name: &str, text: &str) -> Result<(), InvokeError> {
        self.inner.checks.input(kind, name, "input", text)
    }

    /// Pre-warmed instances ready right now (see [`LoadOptions::warm_instances`]).
    pub fn warm_ready(&self) -> usize {
        self.inner.warm.len()
    }

    /// What the plugin may use.
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.capabilities
    }

    /// The interfaces the component imports (empty for legacy modules).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The plugin's name (the file stem, or the name given to [`crate::Runtime::load`]). A
    /// legacy module's single node has this name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Component, legacy core module, or remote plugin.
    pub fn format(&self) -> Format {
        match &self.inner.code {
            Code::Wasm(Backend::Component { .. }) => Format::Component,
            Code::Wasm(Backend::Legacy(_)) => Format::LegacyModule,
            Code::Remote(_) => Format::Remote,
        }
    }

    /// A remote plugin's endpoint (`None` for a wasm plugin).
    pub fn endpoint(&self) -> Option<&crate::remote::Endpoint> {
        match &self.inner.code {
            Code::Remote(r) => Some(r.endpoint()),
            Code::Wasm(_) => None,
        }
    }

    /// Checks that a remote plugin's endpoint accepts connections within `timeout` (and is
    /// one it may reach); a wasm plugin has nothing to check. Sends no request.
    pub fn probe(&self, timeout: std::time::Duration) -> Result<(), InvokeError> {
        match &self.inner.code {
            Code::Remote(r) => r.probe(timeout),
            Code::Wasm(_) => Ok(()),
        }
    }

    /// The `plinth:plugin` API version the component was built against, [`LEGACY_API`] for
    /// a legacy core module, [`REMOTE_API`] for a remote plugin.
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

    /// sha256 of the wasm bytes (of a remote plugin: of its handler reference), hex.
    pub fn sha256(&self) -> String {
        hex::encode(self.inner.sha256)
    }

    /// Whether this load compiled the wasm or read the code cache (a remote plugin:
    /// [`CacheStatus::Hit`], nothing was compiled).
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
        limits.validate(self.inner.runner.config.max_memory)?;
        Ok(Plugin { inner: self.inner.clone(), limits, cancel: self.cancel.clone() })
    }

    /// This plugin (a cheap clone) whose calls end, at the runtime's next epoch tick, with
    /// [`InvokeError::Cancelled`] once `cancel` is set: how a caller that gave up (an MCP
    /// client's cancellation, a closed connection) stops the guest's work. A remote
    /// plugin's call is not cut short; it ends at its deadline.
    pub fn with_cancel(&self, cancel: &crate::types::Cancel) -> Plugin {
        Plugin { inner: self.inner.clone(), limits: self.limits, cancel: Some(cancel.clone()) }
    }

    /// Checks that the plugin provides `kind` and listed `name` among its exports of that
    /// kind, before any instance is made: a guest that ignores the name it is called with
    /// must not answer for a name it never offered.
    fn require(&self, kind: Kind, name: &str) -> Result<(), InvokeError> {
        if !self.inner.kinds.contains(&kind) {
            let provides = self.inner.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
            return Err(InvokeError::KindNotProvided { kind, provides });
        }
        let listed = self.inner.specs.of(kind);
        if listed.iter().any(|s| s.name == name) {
            return Ok(());
        }
        let available = listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        Err(InvokeError::ExportNotFound { kind, name: name.to_string(), available })
    }

    /// The wasm of this plugin; a remote plugin has none (it provides nodes only, and
    /// `require` stops every other kind before this).
    fn wasm(&self) -> Result<Target<'_>, InvokeError> {
        self.inner.target().ok_or_else(|| InvokeError::Host(format!("plugin `{}` is remote: it has no wasm to run", self.inner.name)))
    }

    /// Runs a component export in a fresh instance.
    fn component<R>(&self, f: impl FnOnce(&api::Bound, &mut Store<CallState>) -> Call<R>) -> Result<Outcome<R>, InvokeError> {
        call::run(&self.inner.runner, &self.wasm()?, &self.limits, self.cancel.as_ref(), |store, ready| f(ready.component()?, store))
    }

    /// Runs `call` and records it ([`crate::telemetry`]): outcome, wall time, fuel.
    fn metered<T>(&self, kind: Kind, call: impl FnOnce() -> Result<Outcome<T>, InvokeError>) -> Result<Outcome<T>, InvokeError> {
        let start = Instant::now();
        let result = call();
        telemetry::call(&self.inner.name, kind, result.as_ref().map(|o| (o.fuel_used, o.prewarmed)), start.elapsed());
        result
    }

    /// Runs node `name` with `params` (JSON text).
    pub fn run_node(&self, name: &str, ctx: &CallContext, params: &str) -> Result<Outcome<Json>, InvokeError> {
        self.metered(Kind::Node, || self.node(name, ctx, params))
    }

    fn node(&self, name: &str, ctx: &CallContext, params: &str) -> Result<Outcome<Json>, InvokeError> {
        self.require(Kind::Node, name)?;
        self.inner.checks.input(Kind::Node, name, "params", params)?;
        match &self.inner.code {
            Code::Wasm(Backend::Legacy(_)) => return self.run_legacy(ctx, params),
            Code::Remote(r) => return r.call(ctx, params, &self.limits),
            Code::Wasm(Backend::Component { .. }) => {}
        }
        let out = self.component(|b, store| b.run_node(store, name, ctx, params))?;
        let out = self.json_outcome(out)?;
        self.check_output(Kind::Node, name, &out.output)?;
        Ok(out)
    }

    /// The legacy module's one node (its name was checked by `require`).
    fn run_legacy(&self, ctx: &CallContext, params: &str) -> Result<Outcome<Json>, InvokeError> {
        let input = legacy::envelope(ctx, params);
        let max_output = self.limits.max_output;
        let out = call::run(&self.inner.runner, &self.wasm()?, &self.limits, self.cancel.as_ref(), |store, ready| {
            ready.legacy()?.call(store, input.as_bytes(), max_output).map(Ok)
        })?;
        let output = OutputBudget::new(max_output).json_bytes(out.output)?;
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs, prewarmed: out.prewarmed })
    }

    /// Calls tool `name` with `arguments` (a JSON object, as text).
    pub fn call_tool(&self, name: &str, ctx: &CallContext, arguments: &str) -> Result<Outcome<Json>, InvokeError> {
        self.metered(Kind::Tool, || self.tool(name, ctx, arguments))
    }

    fn tool(&self, name: &str, ctx: &CallContext, arguments: &str) -> Result<Outcome<Json>, InvokeError> {
        self.require(Kind::Tool, name)?;
        self.inner.checks.input(Kind::Tool, name, "arguments", arguments)?;
        let out = self.component(|b, store| b.call_tool(store, name, ctx, arguments))?;
        let out = self.json_outcome(out)?;
        self.check_output(Kind::Tool, name, &out.output)?;
        Ok(out)
    }

    /// Polls trigger `name`; `cursor` is what the previous poll returned.
    pub fn poll_trigger(&self, name: &str, ctx: &CallContext, cursor: Option<&str>) -> Result<Outcome<PollResult>, InvokeError> {
        self.metered(Kind::Trigger, || self.trigger(name, ctx, cursor))
    }

    fn trigger(&self, name: &str, ctx: &CallContext, cursor: Option<&str>) -> Result<Outcome<PollResult>, InvokeError> {
        self.require(Kind::Trigger, name)?;
        let out = self.component(|b, store| b.poll_trigger(store, name, ctx, cursor))?;
        let mut budget = OutputBudget::new(self.limits.max_output);
        let raw = out.output;
        budget.charge(raw.cursor.as_ref().map_or(0, String::len))?;
        let events = raw.events.into_iter().map(|e| budget.json(e)).collect::<Result<_, _>>()?;
        let output = PollResult { events, cursor: raw.cursor, next_poll: raw.next_poll_ms.map(std::time::Duration::from_millis) };
        Ok(Outcome { output, fuel_used: out.fuel_used, wall: out.wall, logs: out.logs, prewarmed: out.prewarmed })
    }

    /// Hands `message` to listener `name`.
    pub fn handle_message(&self, name: &str, ctx: &CallContext, message: &InboundMessage) -> Result<Outcome<HandleResult>, InvokeError> {
        self.metered(Kind::Listener, || self.listener(name, ctx, message))
    }

    fn listener(&self, name: &str, ctx: &CallContext, message: &InboundMessage) -> Result<Outcome<HandleResult>, InvokeError> {
        self.require(Kind::Listener, name)?;
        let out = self.component(|b, store| b.handle_message(store, name, ctx, message))?;
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

    /// Checks export `kind name`'s output against its schema. A check that can only warn
    /// (the default policy) runs on the background thread when a core is idle: it cannot
    /// change the outcome, and on the call's path it cost a warm call 1.4 µs back to back
    /// and about 15 µs after a 10 ms idle gap (parsing the output again and walking the
    /// schema on cold caches; `gap-probe` of benches, 2026-12-02). Its warning keeps the
    /// call's span (the request id).
    fn check_output(&self, kind: Kind, name: &str, output: &Json) -> Result<(), InvokeError> {
        let checks = &self.inner.checks;
        if !checks.output_only_warns(kind, name) {
            return checks.output(kind, name, output.as_str());
        }
        let (checks, name, text, span) = (checks.clone(), name.to_string(), output.as_str().to_string(), tracing::Span::current());
        let job: crate::warm::Job = Box::new(move || {
            let _span = span.enter();
            let _ = checks.output(kind, &name, &text);
        });
        let runner = &self.inner.runner;
        if let Err(job) = runner.warmer.defer(job, runner.has_idle_core()) {
            job();
        }
        Ok(())
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
