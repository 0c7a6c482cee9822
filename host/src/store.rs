//! The store of one call: its data ([`CallState`]), the WASI and HTTP views over it, how a
//! store is made ([`new_store`]) and how it is armed with a call's limits ([`arm`]).
//!
//! Everything that holds or builds a `Store<CallState>` (the bindings, the legacy adapter,
//! instances, the warm queue, the call) sits above this module; this module only uses the
//! capabilities and limits below it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::caps::blocking::BoundedIo;
use crate::caps::grants::Capabilities;
use crate::caps::http::HttpState;
use crate::caps::logs::LogSink;
use crate::limits::{Limiter, Limits};

/// The data of one call's store. Dropped with the store when the call ends.
pub(crate) struct CallState {
    /// Built on the first WASI call only: plugins that never touch WASI (legacy modules,
    /// components that do not print) do not pay for a context.
    wasi: Option<WasiCtx>,
    /// Built on the first `wasi:http` call (only plugins granted HTTP are linked to it).
    http: Option<HttpState>,
    capabilities: Arc<Capabilities>,
    plugin: Arc<str>,
    table: ResourceTable,
    limiter: Limiter,
    pub(crate) logs: LogSink,
    /// When the call's wall-clock budget ends (bounds blocking host calls, see `caps::blocking`);
    /// `None` for a timeout too large to represent.
    deadline: Option<Instant>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| crate::caps::wasi::context(&self.logs, &self.capabilities));
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl wasmtime_wasi_http::WasiHttpView for CallState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        let (capabilities, plugin, deadline, logs) = (&self.capabilities, &self.plugin, self.deadline, &self.logs);
        let http = self.http.get_or_insert_with(|| HttpState::new(capabilities.clone(), plugin.clone(), deadline, logs.clone()));
        wasmtime_wasi_http::WasiHttpCtxView { ctx: &mut http.ctx, table: &mut self.table, hooks: &mut http.policy }
    }
}

impl BoundedIo for CallState {
    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

/// A fresh store for one call of plugin `plugin` with `capabilities` (not yet armed: see
/// [`arm`]).
pub(crate) fn new_store(engine: &Engine, capabilities: &Arc<Capabilities>, plugin: &Arc<str>, limits: &Limits) -> Store<CallState> {
    let state = CallState {
        wasi: None,
        http: None,
        capabilities: capabilities.clone(),
        plugin: plugin.clone(),
        table: ResourceTable::new(),
        limiter: Limiter::new(limits.memory),
        logs: LogSink::new(limits.max_log),
        deadline: None,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store
}

/// Makes a store armed by [`arm`] also stop when `cancel` is set: its epoch deadline becomes
/// one tick, renewed by a callback that ends the call with [`Cancelled`] once the switch is
/// set, and with the deadline's own trap once the call's wall-clock deadline has passed
/// (by the clock, not by counting callbacks: a guest that spent ticks blocked in a host
/// call gets no extra time back). Only calls that can be cancelled pay for a callback each
/// tick.
pub(crate) fn watch_cancel(store: &mut Store<CallState>, cancel: &crate::types::Cancel, epoch_tick: Duration, limits: &Limits) {
    // A timeout too large to represent as an instant: the tick count stands in for it.
    let mut left = deadline_ticks(epoch_tick, limits);
    let cancel = cancel.clone();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| {
        if cancel.is_cancelled() {
            return Err(wasmtime::Error::new(Cancelled));
        }
        left = left.saturating_sub(1);
        let past = ctx.data().deadline.map_or(left == 0, |d| Instant::now() >= d);
        Ok(if past { wasmtime::UpdateDeadline::Interrupt } else { wasmtime::UpdateDeadline::Continue(1) })
    });
}

/// Raised inside a store whose call was cancelled (see [`watch_cancel`]).
#[derive(Debug)]
pub(crate) struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// The epoch deadline of a call under `limits`, in ticks of `epoch_tick`.
fn deadline_ticks(epoch_tick: Duration, limits: &Limits) -> u64 {
    let tick = epoch_tick.as_nanos().max(1);
    // wasmtime adds this to the current epoch, so keep far from overflow: 2^62 ticks is
    // still longer than any process lives.
    u64::try_from(limits.timeout.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).min(1 << 62) + 1
}

/// Sets a store's limits for a call starting at `start`: fuel, epoch deadline (in ticks of
/// `epoch_tick`), memory and log limits. Must run before any guest code (instantiation
/// included): a store with no fuel or no deadline traps at once.
pub(crate) fn arm(store: &mut Store<CallState>, epoch_tick: Duration, limits: &Limits, start: Instant) -> wasmtime::Result<()> {
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(deadline_ticks(epoch_tick, limits));
    let state = store.data_mut();
    state.deadline = start.checked_add(limits.timeout);
    state.limiter = Limiter::new(limits.memory);
    state.logs.set_budget(limits.max_log);
    Ok(())
}
