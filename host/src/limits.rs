//! Per-call resource limits and the store limiter that enforces the memory cap.

use std::time::Duration;

use crate::error::LimitsError;

/// The caps every call runs under. Set per runtime (defaults), per plugin
/// ([`crate::Plugin::with_limits`]) or per call (a cheap clone with other limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel budget: roughly one unit per wasm instruction. Default 1e9 (about a second of
    /// straight-line guest work on a current core). Covers instantiation too when the call
    /// instantiates inline; a pre-warmed instance was instantiated before the call.
    pub fuel: u64,
    /// Cap on each linear memory of the instance, in bytes. Default 64 MiB.
    pub memory: u64,
    /// Wall-clock deadline of one call (including inline instantiation). Default 5 s.
    /// Enforced by the runtime's epoch ticker, so it is accurate to about one tick (10 ms by
    /// default).
    pub timeout: Duration,
    /// Cap on the output the guest returns, in bytes. Default 16 MiB.
    pub max_output: usize,
    /// Cap on captured logs (`host.log` plus stdout/stderr) per call, in bytes; the rest is
    /// dropped and the logs are marked truncated. Default 256 KiB.
    pub max_log: usize,
}

impl Limits {
    /// Default fuel budget.
    pub const DEFAULT_FUEL: u64 = 1_000_000_000;
    /// Default memory cap (64 MiB).
    pub const DEFAULT_MEMORY: u64 = 64 << 20;
    /// Default deadline (5 s).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default output cap (16 MiB).
    pub const DEFAULT_MAX_OUTPUT: usize = 16 << 20;
    /// Default log cap (256 KiB).
    pub const DEFAULT_MAX_LOG: usize = 256 << 10;

    /// Checks that every limit is usable under a runtime whose memory hard cap is
    /// `memory_cap` bytes.
    pub(crate) fn validate(&self, memory_cap: u64) -> Result<(), LimitsError> {
        if self.fuel == 0 {
            return Err(LimitsError::Zero { name: "fuel" });
        }
        if self.memory == 0 {
            return Err(LimitsError::Zero { name: "memory" });
        }
        if self.timeout.is_zero() {
            return Err(LimitsError::Zero { name: "timeout" });
        }
        if self.memory > memory_cap {
            return Err(LimitsError::MemoryAboveRuntimeCap { asked: self.memory, cap: memory_cap });
        }
        Ok(())
    }
}

/// Parses a byte size as operators write it: `1048576`, `512K`, `64M` or `1G` (binary
/// suffixes, either case). The reason in the error quotes the text and an example.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        _ => (text, 0),
    };
    // `u64::from_str` takes a leading `+`; a size does not.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a size (e.g. 1048576, 512K, 64M, 1G)"));
    }
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is too large"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Self::DEFAULT_FUEL,
            memory: Self::DEFAULT_MEMORY,
            timeout: Self::DEFAULT_TIMEOUT,
            max_output: Self::DEFAULT_MAX_OUTPUT,
            max_log: Self::DEFAULT_MAX_LOG,
        }
    }
}

/// Returned by the limiter when a guest asks for more memory than its cap. Its own type, so
/// a memory-limit failure is told apart from every other trap by `downcast_ref`.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (requested {requested} bytes)")]
pub(crate) struct MemoryLimitHit {
    pub limit: u64,
    pub requested: u64,
}

/// Table elements a guest may grow to. Generous: tables hold function references, and
/// large runtimes (Python, JS) have tens of thousands of functions.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The `ResourceLimiter` of a call's store.
pub(crate) struct Limiter {
    memory: u64,
}

impl Limiter {
    pub(crate) fn new(memory: u64) -> Self {
        Limiter { memory }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory {
            // An error (not `Ok(false)`) so the guest traps right here with a cause we can
            // name, instead of seeing `memory.grow` fail and aborting with a generic trap.
            return Err(wasmtime::Error::new(MemoryLimitHit { limit: self.memory, requested: desired as u64 }));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
