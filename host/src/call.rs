//! One invocation: a fresh instance (pre-warmed, or instantiated here), armed with the
//! call's limits before the call's guest code runs, the export call, then the outcome or a
//! classified error. This is the per-call path; everything that can be done once per load
//! is done in [`crate::plugin`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use wasmtime::{Engine, Store, Trap};

use crate::caps::grants::Capabilities;
use crate::caps::logs::LogSink;
use crate::config::RuntimeConfig;
use crate::error::{InvokeError, PluginError};
use crate::instance::{Backend, Ready};
use crate::legacy::{AbiViolation, OutputOverLimit};
use crate::limits::{Limits, MemoryLimitHit};
use crate::store::{self, CallState};
use crate::types::{Level, LogSource, Logs, Outcome};
use crate::warm::{Budget, WarmQueue, Warmer};

/// How much of the guest's stderr a trap message quotes (Rust panics print there).
const STDERR_IN_TRAP: usize = 600;

/// What every call of a runtime shares: the engine, the settings, the count of running
/// calls and the background thread. Owned by the runtime and by every plugin loaded into
/// it (a plugin outlives the `Runtime` handle it was loaded with); dropping the last owner
/// stops the epoch ticker and the background thread.
pub(crate) struct Runner {
    pub(crate) engine: Engine,
    pub(crate) config: RuntimeConfig,
    pub(crate) warmer: Warmer,
    /// Warm instances held across the runtime (shared with every queue).
    /// The runtime-wide warm budget, shared with every plugin's queue.
    pub(crate) budget: Arc<Budget>,
    /// Calls running now (see [`Runner::has_idle_core`]).
    in_flight: AtomicUsize,
    cores: usize,
    /// Set when the runner is dropped; the epoch ticker thread watches it.
    stop_ticker: Arc<AtomicBool>,
}

impl Runner {
    /// `cores` is how many cores the background thread may assume (the machine's, unless a
    /// test injects another number).
    pub(crate) fn new(
        engine: Engine,
        config: RuntimeConfig,
        warmer: Warmer,
        budget: Arc<Budget>,
        cores: usize,
        stop_ticker: Arc<AtomicBool>,
    ) -> Runner {
        Runner { engine, config, warmer, budget, in_flight: AtomicUsize::new(0), cores: cores.max(2), stop_ticker }
    }

    /// Calls running right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether a core is free for background pre-warming (fewer calls running than cores
    /// minus one).
    pub(crate) fn has_idle_core(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) + 1 < self.cores
    }

    /// A fresh store for a call of `target`, armed with `limits` for a call starting at
    /// `start`, and a never-used instance in it.
    pub(crate) fn fresh(&self, target: &Target<'_>, limits: &Limits, start: Instant) -> wasmtime::Result<(Store<CallState>, Ready)> {
        let mut store = store::new_store(&self.engine, target.capabilities, target.name, limits);
        store::arm(&mut store, self.config.epoch_tick, limits, start)?;
        let ready = target.backend.instantiate(&mut store)?;
        Ok((store, ready))
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// The plugin a call runs: what it instantiates and under which name and capabilities.
pub(crate) struct Target<'a> {
    pub(crate) name: &'a Arc<str>,
    pub(crate) capabilities: &'a Arc<Capabilities>,
    pub(crate) backend: &'a Backend,
    /// Its warm queue; `None` while the plugin is still being loaded (listing its specs).
    pub(crate) warm: Option<&'a WarmQueue>,
}

/// Runs `f` on an instance of `target` that no other call has touched — a pre-warmed one
/// when ready, else one instantiated here — under `limits`.
pub(crate) fn run<R>(
    runner: &Runner,
    target: &Target<'_>,
    limits: &Limits,
    cancel: Option<&crate::types::Cancel>,
    f: impl FnOnce(&mut Store<CallState>, &Ready) -> wasmtime::Result<Result<R, PluginError>>,
) -> Result<Outcome<R>, InvokeError> {
    let start = Instant::now();
    let config = &runner.config;
    // `max_instances` bounds running calls here rather than through the pool's size: the
    // pool also holds warm instances and stores waiting to be dropped (see `engine_config`).
    let running = InFlight::enter(&runner.in_flight);
    if running.before >= config.max_instances.max(1) as usize {
        return Err(InvokeError::Busy { max_instances: config.max_instances });
    }
    let warm = target.warm.and_then(|q| q.take(limits));
    let prewarmed = warm.is_some();
    let (store, result) = match warm {
        Some((mut store, ready)) => match store::arm(&mut store, config.epoch_tick, limits, start) {
            Ok(()) => {
                if let Some(c) = cancel {
                    store::watch_cancel(&mut store, c, config.epoch_tick, limits);
                }
                let result = f(&mut store, &ready);
                (store, result)
            }
            Err(e) => return Err(host(e)),
        },
        None => {
            let mut store = store::new_store(&runner.engine, target.capabilities, target.name, limits);
            store::arm(&mut store, config.epoch_tick, limits, start).map_err(host)?;
            if let Some(c) = cancel {
                store::watch_cancel(&mut store, c, config.epoch_tick, limits);
            }
            let result = target.backend.instantiate(&mut store).and_then(|ready| f(&mut store, &ready));
            (store, result)
        }
    };
    let logs = store.data().logs.clone();
    let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
    let wall = start.elapsed();

    let outcome = match result {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(guest)) => Err(InvokeError::Guest(guest)),
        Err(e) => Err(classify(&e, limits, config.max_instances, config.max_wasm_stack, &logs)),
    };
    drop(running);
    // Drop the store (off this thread when a core is idle) and top the queue up (a no-op
    // when pre-warming is off or a request is pending), once this call no longer counts as
    // running: the refill waits for an idle core, and asking at the start made it give up
    // behind any call longer than its wait (a 20 ms Python call). Also on the inline path:
    // a refill that gave up earlier (pool full, busy) retries.
    match target.warm {
        Some(queue) => runner.warmer.finish(queue, store, runner.has_idle_core()),
        None => drop(store),
    }
    let logs = logs.take();
    emit(target.name, &logs);
    match &outcome {
        Ok(_) => tracing::debug!(plugin = %target.name, fuel_used, wall_us = wall.as_micros() as u64, "call finished"),
        Err(e) => tracing::debug!(plugin = %target.name, fuel_used, wall_us = wall.as_micros() as u64, error = %e, "call failed"),
    }
    outcome.map(|output| Outcome { output, fuel_used, wall, logs, prewarmed })
}

/// Counts a running call for as long as it lives.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    /// Calls running when this one entered.
    before: usize,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let before = count.fetch_add(1, Ordering::AcqRel);
        InFlight { count, before }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
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
    if let Some(o) = e.downcast_ref::<OutputOverLimit>() {
        return InvokeError::OutputTooLarge { size: o.size, limit: o.limit };
    }
    if e.is::<store::Cancelled>() {
        return InvokeError::Cancelled;
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
