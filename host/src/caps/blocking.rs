//! Blocking `wasi:io` calls that cannot outlive the call's deadline.
//!
//! Fuel and epochs only interrupt running wasm; a guest blocked inside a host call is out of
//! their reach. Every way a guest can block in WASI 0.2 goes through `wasi:io`: `poll`,
//! `pollable.block`, and the `blocking-*` stream methods (a clock sleep, a stalled HTTP
//! request body, a response that never comes, a FIFO in a granted directory). These replacements run the
//! original implementation under a timeout of the call's remaining time and trap with
//! `Interrupt` — reported as `DeadlineExceeded` — when it runs out.

use std::future::Future;
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource};
use wasmtime::{StoreContextMut, Trap};
use wasmtime_wasi_io::bindings::wasi::io::poll::{Host as _, HostPollable as _};
use wasmtime_wasi_io::bindings::wasi::io::streams::{self, Host as _, HostInputStream as _, HostOutputStream as _};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, StreamResult};

/// The store data the bounded functions need: the call's deadline and its resource table.
/// Implemented by the call's store data (`crate::store::CallState`), which sits above this
/// module.
pub(crate) trait BoundedIo: Send + 'static {
    /// When the call's wall-clock budget ends; `None` for no representable end.
    fn deadline(&self) -> Option<Instant>;
    /// The store's resource table.
    fn table(&mut self) -> &mut wasmtime::component::ResourceTable;
}

/// The WASI io version wasmtime-wasi registers; guests importing any 0.2.x resolve to it.
const POLL: &str = "wasi:io/poll@0.2.12";
const STREAMS: &str = "wasi:io/streams@0.2.12";

/// Slack past the deadline, so the epoch ticker has certainly passed it too.
const SLACK: Duration = Duration::from_millis(20);

/// Runs `fut` until the call's deadline; `Err(Trap::Interrupt)` if it is not done by then.
fn bounded<T>(deadline: Option<Instant>, fut: impl Future<Output = T>) -> wasmtime::Result<T> {
    match deadline {
        None => Ok(wasmtime_wasi::runtime::in_tokio(fut)),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now()) + SLACK;
            wasmtime_wasi::runtime::in_tokio(async { tokio::time::timeout(left, fut).await })
                .map_err(|_| wasmtime::Error::new(Trap::Interrupt))
        }
    }
}

/// Lowers a stream result the way the generated bindings do.
fn stream_result<T>(
    table: &mut wasmtime::component::ResourceTable,
    r: StreamResult<T>,
) -> wasmtime::Result<(Result<T, streams::StreamError>,)> {
    match r {
        Ok(v) => Ok((Ok(v),)),
        Err(e) => Ok((Err(table.convert_stream_error(e)?),)),
    }
}

/// Replaces the blocking `wasi:io` functions in `linker` (after WASI has been added).
pub(crate) fn bound_blocking<T: BoundedIo>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    type Cx<'a, T> = StoreContextMut<'a, T>;
    linker.allow_shadowing(true);

    let mut poll = linker.instance(POLL)?;
    poll.func_wrap("poll", |mut s: Cx<'_, T>, (list,): (Vec<Resource<DynPollable>>,)| {
        let deadline = s.data().deadline();
        let table = s.data_mut().table();
        Ok((bounded(deadline, table.poll(list))??,))
    })?;
    poll.func_wrap("[method]pollable.block", |mut s: Cx<'_, T>, (p,): (Resource<DynPollable>,)| {
        let deadline = s.data().deadline();
        let table = s.data_mut().table();
        bounded(deadline, table.block(p))?
    })?;

    let mut st = linker.instance(STREAMS)?;
    st.func_wrap("[method]input-stream.blocking-read", |mut s: Cx<'_, T>, (r, len): (Resource<DynInputStream>, u64)| {
        let deadline = s.data().deadline();
        let table = s.data_mut().table();
        let out = bounded(deadline, table.blocking_read(r, len))?;
        stream_result(table, out)
    })?;
    st.func_wrap("[method]input-stream.blocking-skip", |mut s: Cx<'_, T>, (r, len): (Resource<DynInputStream>, u64)| {
        let deadline = s.data().deadline();
        let table = s.data_mut().table();
        let out = bounded(deadline, table.blocking_skip(r, len))?;
        stream_result(table, out)
    })?;
    st.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut s: Cx<'_, T>, (w, bytes): (Resource<DynOutputStream>, Vec<u8>)| {
            let deadline = s.data().deadline();
            let table = s.data_mut().table();
            let out = bounded(deadline, table.blocking_write_and_flush(w, bytes))?;
            stream_result(table, out)
        },
    )?;
    st.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut s: Cx<'_, T>, (w, len): (Resource<DynOutputStream>, u64)| {
            let deadline = s.data().deadline();
            let table = s.data_mut().table();
            let out = bounded(deadline, table.blocking_write_zeroes_and_flush(w, len))?;
            stream_result(table, out)
        },
    )?;
    st.func_wrap("[method]output-stream.blocking-flush", |mut s: Cx<'_, T>, (w,): (Resource<DynOutputStream>,)| {
        let deadline = s.data().deadline();
        let table = s.data_mut().table();
        let out = bounded(deadline, table.blocking_flush(w))?;
        stream_result(table, out)
    })?;
    st.func_wrap(
        "[method]output-stream.blocking-splice",
        |mut s: Cx<'_, T>, (w, r, len): (Resource<DynOutputStream>, Resource<DynInputStream>, u64)| {
            let deadline = s.data().deadline();
            let table = s.data_mut().table();
            let out = bounded(deadline, table.blocking_splice(w, r, len))?;
            stream_result(table, out)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
