//! Hooks for the benchmarks only (not a supported API): one instance reused across calls,
//! the reference that per-call isolation is measured against. Plinth itself never reuses
//! an instance.

use std::time::Instant;

use wasmtime::Store;

use crate::instance::Ready;
use crate::plugin::Plugin;
use crate::store::{self, CallState};
use crate::types::CallContext;

/// One instance of a plugin, kept and called again and again.
pub struct ReusedInstance {
    plugin: Plugin,
    store: Store<CallState>,
    ready: Ready,
}

impl ReusedInstance {
    /// Instantiates `plugin` once.
    pub fn new(plugin: &Plugin) -> wasmtime::Result<ReusedInstance> {
        let (store, ready) = plugin.runner().fresh(&plugin.target(), plugin.limits(), Instant::now())?;
        Ok(ReusedInstance { plugin: plugin.clone(), store, ready })
    }

    /// Calls tool `name` on the same instance (re-arming fuel and deadline each time).
    pub fn call_tool(&mut self, name: &str, ctx: &CallContext, args: &str) -> wasmtime::Result<String> {
        let limits = *self.plugin.limits();
        store::arm(&mut self.store, self.plugin.runner().config.epoch_tick, &limits, Instant::now())?;
        let out = self.ready.component()?.call_tool(&mut self.store, name, ctx, args)?.map_err(|e| wasmtime::format_err!("{e}"));
        // Hand the call's logs over as a real call does; left in the store they would pile
        // up, and arming (which counts them against the log budget) would slow down call
        // after call.
        drop(self.store.data().logs.take());
        out
    }
}

/// A runtime whose engine uses wasmtime's pooling defaults for slot reset and tables, as
/// Plinth's engine did before the per-call work of issue 7. Load a plugin in it and call
/// [`baseline_call`] for the benchmark's "before" row.
pub fn baseline_runtime() -> Result<crate::Runtime, crate::LoadError> {
    crate::Runtime::build(crate::RuntimeConfig::default(), crate::engine::EngineTuning::PoolingDefaults)
}

/// The per-call path as it was before pre-warming and lazy WASI (kept so the report can
/// compare against it in the same run): a fresh store with an eagerly built WASI context,
/// inline instantiation, exports looked up for this call. With a plugin from
/// [`baseline_runtime`] this is the whole "before" path.
pub fn baseline_call(plugin: &Plugin, name: &str, ctx: &CallContext, args: &str) -> wasmtime::Result<String> {
    use wasmtime_wasi::WasiView;
    let target = plugin.target();
    let limits = *plugin.limits();
    let runner = plugin.runner();
    let mut store = store::new_store(&runner.engine, target.capabilities, target.name, &limits);
    let _ = store.data_mut().ctx(); // builds the deny-all WASI context, as every call used to
    store::arm(&mut store, runner.config.epoch_tick, &limits, Instant::now())?;
    let ready = target.backend.instantiate(&mut store)?;
    ready.component()?.call_tool(&mut store, name, ctx, args)?.map_err(|e| wasmtime::format_err!("{e}"))
}
