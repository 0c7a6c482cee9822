//! The WASI context of a call: deny-all, plus exactly what the plugin was granted.

use wasmtime_wasi::p2::pipe::{ClosedInputStream, SinkOutputStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::grants::{Capabilities, FsMode, Stdio};
use super::logs::LogSink;
use crate::types::{Level, LogSource};

/// A WASI p2 context with no preopens, no environment, no arguments, a closed stdin, all
/// sockets and name lookups denied, and stdout/stderr captured into `logs` — then the
/// granted directories and variables of `caps`, and nothing else.
///
/// Every denial is spelled out rather than left to the builder's defaults, so a change of
/// defaults upstream cannot silently grant something.
pub(crate) fn context(logs: &LogSink, caps: &Capabilities) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.stdin(ClosedInputStream)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_addr, _use| Box::pin(async { false }));
    match caps.stdio {
        Stdio::Keep => b.stdout(logs.stream(LogSource::Stdout)).stderr(logs.stream(LogSource::Stderr)),
        Stdio::Drop => b.stdout(SinkOutputStream).stderr(SinkOutputStream),
    };
    for (name, value) in &caps.env {
        b.env(name, value);
    }
    if !caps.fs.is_empty() {
        // File operations then run on the calling thread instead of a blocking pool; must
        // be set before the preopens, which capture it.
        b.allow_blocking_current_thread(true);
    }
    for dir in &caps.fs {
        let perms = match dir.mode {
            FsMode::Ro => FsPerms::ReadOnly,
            FsMode::Rw => FsPerms::ReadWrite,
        };
        // Same directory as when granted? (Narrows, does not close, the window in which a
        // process with write access to a parent could swap it for something else.)
        match super::grants::identity(&dir.host) {
            Ok(id) if id == dir.identity => {}
            other => {
                let why = match other {
                    Ok(_) => "it was replaced since it was granted".to_string(),
                    Err(e) => e.to_string(),
                };
                logs.host(Level::Warn, format!("granted directory {} for {} is not available: {why}", dir.host.display(), dir.guest));
                continue;
            }
        }
        if let Err(e) = b.preopened_dir(&dir.host, &dir.guest, perms) {
            // The directory existed when granted; it may have gone since. The guest then
            // simply does not see it.
            logs.host(Level::Warn, format!("granted directory {} for {} is unavailable: {e}", dir.host.display(), dir.guest));
        }
    }
    b.build()
}
