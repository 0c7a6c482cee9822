//! Per-call log capture: `host.log`, stdout and stderr share one byte budget.
//!
//! The sink never blocks or fails the guest: past the budget, bytes are dropped and the logs
//! are marked truncated. (wasmtime's `MemoryOutputPipe` closes the stream when full, which
//! makes Rust's `println!` panic; a chatty plugin should lose log lines, not its call.)

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

use crate::types::{Level, LogLine, LogSource, Logs};

/// Longest partial stdout/stderr line kept before it is flushed as a line of its own.
const MAX_LINE: usize = 8 << 10;

/// What each line costs on top of its text, so a flood of empty lines is bounded too.
const LINE_OVERHEAD: usize = 32;

#[derive(Default)]
struct Inner {
    logs: Logs,
    left: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// The shared log buffer of one call.
#[derive(Clone)]
pub(crate) struct LogSink(Arc<Mutex<Inner>>);

impl LogSink {
    pub(crate) fn new(budget: usize) -> Self {
        LogSink(Arc::new(Mutex::new(Inner { left: budget, ..Inner::default() })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere mid-push; the data is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the byte budget for what is logged from now on (a pre-warmed store gets its
    /// call's budget when the call starts).
    pub(crate) fn set_budget(&self, budget: usize) {
        let mut inner = self.lock();
        let used: usize = inner.logs.lines.iter().map(|l| l.message.len() + LINE_OVERHEAD).sum();
        inner.left = budget.saturating_sub(used);
    }

    /// Records one `host.log` line.
    pub(crate) fn host(&self, level: Level, message: String) {
        self.lock().push(LogSource::Host, level, message);
    }

    /// A stream for the guest's stdout or stderr.
    pub(crate) fn stream(&self, source: LogSource) -> CaptureStream {
        CaptureStream { sink: self.clone(), source }
    }

    /// Takes the logs, flushing unterminated stdout/stderr lines.
    pub(crate) fn take(&self) -> Logs {
        let mut inner = self.lock();
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let rest = std::mem::take(inner.partial(source));
            if !rest.is_empty() {
                inner.push_bytes(source, &rest);
            }
        }
        std::mem::take(&mut inner.logs)
    }

    /// The last `max` bytes of stderr captured so far (for explaining panics).
    pub(crate) fn stderr_tail(&self, max: usize) -> String {
        let inner = self.lock();
        let mut text: String =
            inner.logs.lines.iter().filter(|l| l.source == LogSource::Stderr).map(|l| l.message.as_str()).collect::<Vec<_>>().join("\n");
        text.push_str(&String::from_utf8_lossy(&inner.stderr));
        let trimmed = text.trim();
        if trimmed.len() <= max {
            return trimmed.to_string();
        }
        let mut start = trimmed.len() - max;
        while !trimmed.is_char_boundary(start) {
            start += 1;
        }
        format!("…{}", &trimmed[start..])
    }
}

impl Inner {
    fn partial(&mut self, source: LogSource) -> &mut Vec<u8> {
        match source {
            LogSource::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        }
    }

    fn push(&mut self, source: LogSource, level: Level, mut message: String) {
        if self.logs.truncated {
            return;
        }
        if message.len() + LINE_OVERHEAD > self.left {
            let mut cut = self.left.saturating_sub(LINE_OVERHEAD);
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            self.logs.truncated = true;
            self.left = 0;
            if message.is_empty() {
                return;
            }
        } else {
            self.left -= message.len() + LINE_OVERHEAD;
        }
        self.logs.lines.push(LogLine { source, level, message });
    }

    fn push_bytes(&mut self, source: LogSource, bytes: &[u8]) {
        let level = if source == LogSource::Stderr { Level::Warn } else { Level::Info };
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches('\r');
        if !text.trim().is_empty() {
            self.push(source, level, text.to_string());
        }
    }

    /// Appends raw stdout/stderr bytes, emitting one log line per newline.
    fn write(&mut self, source: LogSource, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.logs.truncated {
                return;
            }
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let mut line = std::mem::take(self.partial(source));
                    line.extend_from_slice(&bytes[..i]);
                    self.push_bytes(source, &line);
                    bytes = &bytes[i + 1..];
                }
                None => {
                    let partial = self.partial(source);
                    let room = MAX_LINE.saturating_sub(partial.len());
                    let take = room.min(bytes.len());
                    partial.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if partial.len() >= MAX_LINE {
                        let line = std::mem::take(partial);
                        self.push_bytes(source, &line);
                    }
                }
            }
        }
    }
}

/// A WASI output stream that appends to a [`LogSink`].
#[derive(Clone)]
pub(crate) struct CaptureStream {
    sink: LogSink,
    source: LogSource,
}

/// How much the guest may write per `check-write` permit.
const PERMIT: usize = 64 << 10;

#[wasmtime_wasi::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.sink.lock().write(self.source, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(PERMIT)
    }
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.sink.lock().write(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_flushes_the_rest() {
        let sink = LogSink::new(4 * (LINE_OVERHEAD + 8));
        sink.lock().write(LogSource::Stdout, b"one\ntw");
        sink.lock().write(LogSource::Stdout, b"o\nthree");
        sink.host(Level::Error, "boom".into());
        let logs = sink.take();
        let msgs: Vec<_> = logs.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(msgs, ["one", "two", "boom", "three"]);
        assert!(!logs.truncated);
    }

    #[test]
    fn budget_truncates_and_marks() {
        let sink = LogSink::new(10 + 2 * LINE_OVERHEAD);
        sink.host(Level::Info, "12345678".into());
        sink.host(Level::Info, "abcdef".into());
        sink.host(Level::Info, "never".into());
        let logs = sink.take();
        assert_eq!(logs.lines.len(), 2);
        assert_eq!(logs.lines[1].message, "ab");
        assert!(logs.truncated);
    }

    #[test]
    fn truncation_respects_utf8() {
        let sink = LogSink::new(3 + LINE_OVERHEAD);
        sink.host(Level::Info, "ééé".into());
        let logs = sink.take();
        assert_eq!(logs.lines[0].message, "é");
    }

    #[test]
    fn empty_lines_are_charged_too() {
        let sink = LogSink::new(100 * LINE_OVERHEAD);
        for _ in 0..1_000_000 {
            sink.host(Level::Info, String::new());
        }
        let logs = sink.take();
        assert!(logs.truncated);
        assert_eq!(logs.lines.len(), 100);
    }
}
