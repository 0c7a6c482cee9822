//! One invocation: a fresh instance (pre-warmed, or instantiated here), armed with the
//! call's caps before the call's guest code runs, the export call, then the outcome or a
//! classified error. This is the per-call path; everything that can be done once per load
//! is done in [`crate::plugin`].

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::caps::grants::Capabilities;
use crate::caps::http::HttpState;
use crate::caps::logs::LogSink;
use crate::error::{InvokeError, PluginError};
use crate::legacy::{AbiViolation, OutputOverCap};
use crate::limits::{Limiter, Limits, MemoryLimitHit};
use crate::plugin::{Bound, Loaded};
use crate::types::{Json, Level, LogSource, Logs, Outcome};

/// The data of one call's store. Dropped with the store when the call ends.
pub(crate) struct CallState {
    /// Built on the first WASI call only: plugins that never touch WASI (legacy modules,
    /// components that do not print) do not pay for a context.
    wasi: Option<WasiCtx>,
    /// Built on the first `wasi:http` call (only plugins granted HTTP are linked to it).
    http: Option<HttpState>,
    caps: Arc<Capabilities>,
    plugin: Arc<str>,
    table: ResourceTable,
    limiter: Limiter,
    pub(crate) logs: LogSink,
    /// When the call's wall-clock budget ends (bounds blocking host calls, see `caps::blocking`);
    /// `None` for a timeout too large to represent.
    pub(crate) deadline: Option<Instant>,
}

impl CallState {
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| crate::caps::wasi::context(&self.logs, &self.caps));
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl wasmtime_wasi_http::WasiHttpView for CallState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        let (caps, plugin, deadline, logs) = (&self.caps, &self.plugin, self.deadline, &self.logs);
        let http = self.http.get_or_insert_with(|| HttpState::new(caps.clone(), plugin.clone(), deadline, logs.clone()));
        wasmtime_wasi_http::WasiHttpCtxView { ctx: &mut http.ctx, table: &mut self.table, hooks: &mut http.policy }
    }
}

/// How much of the guest's stderr a trap message quotes (Rust panics print there).
const STDERR_IN_TRAP: usize = 600;

/// A fresh store for one call of `plugin` (not yet armed: see [`arm`]).
pub(crate) fn new_store(plugin: &Loaded, limits: &Limits) -> Store<CallState> {
    let state = CallState {
        wasi: None,
        http: None,
        caps: plugin.caps.clone(),
        plugin: plugin.name.clone(),
        table: ResourceTable::new(),
        limiter: Limiter::new(limits.memory),
        logs: LogSink::new(limits.max_log),
        deadline: None,
    };
    let mut store = Store::new(&plugin.runtime.inner.engine, state);
    store.limiter(|s| &mut s.limiter);
    store
}

/// Sets a store's caps for a call starting at `start`: fuel, epoch deadline, memory and log
/// limits. Must run before any guest code (instantiation included): a store with no fuel or
/// no deadline traps at once.
pub(crate) fn arm(store: &mut Store<CallState>, plugin: &Loaded, limits: &Limits, start: Instant) -> wasmtime::Result<()> {
    store.set_fuel(limits.fuel)?;
    let tick = plugin.runtime.inner.config.epoch_tick.as_nanos().max(1);
    // wasmtime adds this to the current epoch, so keep far from overflow: 2^62 ticks is
    // still longer than any process lives.
    let ticks = u64::try_from(limits.timeout.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).min(1 << 62) + 1;
    store.set_epoch_deadline(ticks);
    let state = store.data_mut();
    state.deadline = start.checked_add(limits.timeout);
    state.limiter = Limiter::new(limits.memory);
    state.logs.set_budget(limits.max_log);
    Ok(())
}

/// Runs `f` on an instance of `plugin` that no other call has touched — a pre-warmed one
/// when ready, else one instantiated here — under `limits`.
pub(crate) fn run<R>(
    plugin: &Arc<Loaded>,
    limits: &Limits,
    f: impl FnOnce(&mut Store<CallState>, &Bound) -> wasmtime::Result<Result<R, PluginError>>,
) -> Result<Outcome<R>, InvokeError> {
    let start = Instant::now();
    let runtime = &plugin.runtime.inner;
    // `max_instances` bounds running calls here rather than through the pool's size: the
    // pool also holds warm instances and stores waiting to be dropped (see `engine_config`).
    let running = InFlight::enter(&runtime.in_flight);
    if running.before >= runtime.config.max_instances.max(1) as usize {
        return Err(InvokeError::Busy { max_instances: runtime.config.max_instances });
    }
    let (mut store, warm) = match plugin.warm.take(limits) {
        Some((store, bound)) => (store, Some(bound)),
        None => (new_store(plugin, limits), None),
    };
    arm(&mut store, plugin, limits, start).map_err(host)?;
    let logs = store.data().logs.clone();

    let prewarmed = warm.is_some();
    let result = match warm {
        Some(bound) => f(&mut store, &bound),
        None => plugin.instantiate(&mut store).and_then(|bound| f(&mut store, &bound)),
    };
    let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
    let wall = start.elapsed();

    let outcome = match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(guest)) => Err(InvokeError::Guest(guest)),
        Err(e) => Err(classify(&e, limits, runtime.config.max_instances, runtime.config.max_wasm_stack, &logs)),
    };
    drop(running);
    // Drop the store (off this thread when a core is idle) and top the queue up (a no-op
    // when pre-warming is off or a request is pending), once this call no longer counts as
    // running: the refill waits for an idle core, and asking at the start made it give up
    // behind any call longer than its wait (a 20 ms Python call). Also on the inline path:
    // a refill that gave up earlier (pool full, busy) retries.
    runtime.warmer.finish(plugin, store, runtime.has_idle_core());
    let logs = logs.take();
    emit(&plugin.name, &logs);
    match &outcome {
        Ok(_) => tracing::debug!(plugin = %plugin.name, fuel_used, wall_us = wall.as_micros() as u64, "call finished"),
        Err(e) => tracing::debug!(plugin = %plugin.name, fuel_used, wall_us = wall.as_micros() as u64, error = %e, "call failed"),
    }
    outcome.map(|output| Outcome { output, fuel_used, wall, logs, prewarmed })
}

/// Counts a running call for as long as it lives.
struct InFlight<'a> {
    count: &'a std::sync::atomic::AtomicUsize,
    /// Calls running when this one entered.
    before: usize,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        let before = count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlight { count, before }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn host(e: wasmtime::Error) -> InvokeError {
    InvokeError::Host(format!("{e:#}"))
}

/// Tells the failure kinds apart by type, never by message text.
fn classify(e: &wasmtime::Error, limits: &Limits, max_instances: u32, max_stack: usize, logs: &LogSink) -> InvokeError {
    if let Some(hit) = e.downcast_ref::<MemoryLimitHit>() {
        return InvokeError::MemoryLimit { limit: hit.limit, requested: hit.requested };
    }
    if let Some(v) = e.downcast_ref::<AbiViolation>() {
        return InvokeError::AbiViolation { message: v.0.clone() };
    }
    if let Some(o) = e.downcast_ref::<OutputOverCap>() {
        return InvokeError::OutputTooLarge { size: o.size, limit: o.limit };
    }
    if e.is::<wasmtime::PoolConcurrencyLimitError>() {
        return InvokeError::Busy { max_instances };
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match *trap {
            Trap::OutOfFuel => InvokeError::OutOfFuel { budget: limits.fuel },
            Trap::Interrupt => InvokeError::DeadlineExceeded { timeout: limits.timeout },
            Trap::StackOverflow => InvokeError::StackOverflow { max_stack },
            other => {
                let what = if other == Trap::UnreachableCodeReached {
                    "the guest panicked or aborted (wasm `unreachable`)".to_string()
                } else {
                    other.to_string()
                };
                let stderr = logs.stderr_tail(STDERR_IN_TRAP);
                let message = if stderr.is_empty() { what } else { format!("{what}; guest stderr: {stderr}") };
                InvokeError::Trap { message }
            }
        };
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return InvokeError::Trap { message: format!("the guest called exit({})", exit.0) };
    }
    // Everything else raised while instantiating or running the guest is the guest's doing:
    // invalid UTF-8 or out-of-bounds pointers handed across the boundary, a full resource
    // table, a start function failing. Not retryable.
    InvokeError::Trap { message: format!("{e:#}") }
}

/// Emits captured guest logs through `tracing` (target `plinth::guest`).
fn emit(plugin: &str, logs: &Logs) {
    for line in &logs.lines {
        let source = match line.source {
            LogSource::Host => "log",
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
        };
        let msg = &line.message;
        match line.level {
            Level::Trace => tracing::trace!(target: "plinth::guest", plugin, source, "{msg}"),
            Level::Debug => tracing::debug!(target: "plinth::guest", plugin, source, "{msg}"),
            Level::Info => tracing::info!(target: "plinth::guest", plugin, source, "{msg}"),
            Level::Warn => tracing::warn!(target: "plinth::guest", plugin, source, "{msg}"),
            Level::Error => tracing::error!(target: "plinth::guest", plugin, source, "{msg}"),
        }
    }
    if logs.truncated {
        tracing::warn!(target: "plinth::guest", plugin, "log cap reached; later guest output was dropped");
    }
}

/// Counts output bytes against the output cap across the parts of one result.
pub(crate) struct OutputBudget {
    used: usize,
    limit: usize,
}

impl OutputBudget {
    pub(crate) fn new(limit: usize) -> Self {
        OutputBudget { used: 0, limit }
    }

    /// Charges `len` bytes.
    pub(crate) fn charge(&mut self, len: usize) -> Result<(), InvokeError> {
        self.used = self.used.saturating_add(len);
        if self.used > self.limit {
            return Err(InvokeError::OutputTooLarge { size: self.used, limit: self.limit });
        }
        Ok(())
    }

    /// Charges `bytes` and checks they are UTF-8 JSON.
    pub(crate) fn json_bytes(&mut self, bytes: Vec<u8>) -> Result<Json, InvokeError> {
        match String::from_utf8(bytes) {
            Ok(text) => self.json(text),
            Err(e) => Err(InvokeError::InvalidOutput {
                reason: format!("not UTF-8: {}", e.utf8_error()),
                preview: preview(&String::from_utf8_lossy(e.as_bytes())),
            }),
        }
    }

    /// Charges `text` and checks it is JSON.
    pub(crate) fn json(&mut self, text: String) -> Result<Json, InvokeError> {
        self.charge(text.len())?;
        match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            Ok(_) => Ok(Json::from_checked(text)),
            Err(e) => Err(InvokeError::InvalidOutput { reason: e.to_string(), preview: preview(&text) }),
        }
    }
}

/// The first characters of `text`, for error messages.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
