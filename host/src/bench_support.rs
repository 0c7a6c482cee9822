//! Hooks for the benchmarks only (not a supported API): one instance reused across calls,
//! the reference that per-call isolation is measured against. Plinth itself never reuses
//! an instance.

use std::time::Instant;

use wasmtime::Store;

use crate::call::{self, CallState};
use crate::plugin::{Bound, Plugin};
use crate::types::CallContext;

/// One instance of a plugin, kept and called again and again.
pub struct ReusedInstance {
    plugin: Plugin,
    store: Store<CallState>,
    bound: Bound,
}

impl ReusedInstance {
    /// Instantiates `plugin` once.
    pub fn new(plugin: &Plugin) -> wasmtime::Result<ReusedInstance> {
        let loaded = plugin.loaded();
        let limits = *plugin.limits();
        let mut store = call::new_store(loaded, &limits);
        call::arm(&mut store, loaded, &limits, Instant::now())?;
        let bound = loaded.instantiate(&mut store)?;
        Ok(ReusedInstance { plugin: plugin.clone(), store, bound })
    }

    /// Calls tool `name` on the same instance (re-arming fuel and deadline each time).
    pub fn call_tool(&mut self, name: &str, ctx: &CallContext, args: &str) -> wasmtime::Result<String> {
        let limits = *self.plugin.limits();
        call::arm(&mut self.store, self.plugin.loaded(), &limits, Instant::now())?;
        let out = match &self.bound {
            Bound::Component(crate::api::Bound::V0_1_0(b)) => {
                b.call_tool(&mut self.store, name, ctx, args)?.map_err(|e| wasmtime::format_err!("{e}"))
            }
            Bound::Legacy(_) => wasmtime::bail!("not a component"),
        };
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
    let loaded = plugin.loaded();
    let limits = *plugin.limits();
    let mut store = call::new_store(loaded, &limits);
    let _ = store.data_mut().ctx(); // builds the deny-all WASI context, as every call used to
    call::arm(&mut store, loaded, &limits, Instant::now())?;
    let bound = loaded.instantiate(&mut store)?;
    match &bound {
        Bound::Component(crate::api::Bound::V0_1_0(b)) => {
            b.call_tool(&mut store, name, ctx, args)?.map_err(|e| wasmtime::format_err!("{e}"))
        }
        Bound::Legacy(_) => wasmtime::bail!("not a component"),
    }
}
