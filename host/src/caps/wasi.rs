//! The deny-all WASI context every call gets unless the operator grants more.

use wasmtime_wasi::p2::pipe::ClosedInputStream;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use super::clocks::CallClock;
use super::logs::LogSink;
use crate::types::LogSource;

/// A WASI p2 context with no preopens, no environment, no arguments, a closed stdin, all
/// sockets and name lookups denied, and stdout/stderr captured into `logs`.
///
/// Every denial is spelled out rather than left to the builder's defaults, so a change of
/// defaults upstream cannot silently grant something.
pub(crate) fn deny_all(logs: &LogSink) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.stdin(ClosedInputStream)
        .stdout(logs.stream(LogSource::Stdout))
        .stderr(logs.stream(LogSource::Stderr))
        .monotonic_clock(CallClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_addr, _use| Box::pin(async { false }));
    b.build()
}
