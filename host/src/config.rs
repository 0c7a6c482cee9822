//! The settings of a runtime, fixed when it is built.

use std::path::PathBuf;
use std::time::Duration;

use crate::limits::Limits;

/// Settings of a [`crate::Runtime`]. The pooling allocator is sized from these once, so they cannot
/// change after the runtime is built.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// How many calls may run at once across all plugins of this runtime (the pool has a
    /// slot for each, plus slots for warm instances and stores waiting to be dropped).
    /// Beyond it a call fails fast with [`crate::InvokeError::Busy`]. Default 64.
    pub max_instances: u32,
    /// Hard cap on any linear memory, in bytes: per-plugin and per-call memory limits may
    /// not exceed it. Default 1 GiB.
    pub max_memory: u64,
    /// Limits used when a plugin or call does not set its own.
    pub default_limits: Limits,
    /// Where compiled code is cached (keyed by the component's sha256 and the engine's
    /// compatibility hash). `None` compiles on every load. The directory must not be
    /// writable by untrusted parties: cached code is loaded as native code.
    pub cache_dir: Option<PathBuf>,
    /// Period of the epoch ticker that enforces deadlines. Default 10 ms.
    pub epoch_tick: Duration,
    /// Maximum wasm stack per call, in bytes (deeper recursion traps). Default 512 KiB.
    /// Calls run on the caller's thread, which needs this much stack to spare.
    pub max_wasm_stack: usize,
    /// Pre-warmed instances kept ready per plugin (default 2; 0 disables). Overridable per
    /// plugin with [`LoadOptions::warm_instances`].
    pub warm_instances: usize,
    /// Cap on pre-warmed instances across all plugins. Each holds a pool slot reserved for
    /// warm instances on top of `max_instances`, and the memory its instantiation touched
    /// (30–53 KiB for the Rust classifier). When the cap is reached, instances move to the
    /// plugins that are called most (see `warm::budget`). Default 256: with 1,000 plugins
    /// under Zipf(1.1) traffic, about 82 % of calls then find a warm instance (bench/REPORT.md).
    /// `max_instances + max_warm_instances + 2` may not exceed [`crate::MAX_POOL_SLOTS`].
    pub max_warm_instances: usize,
    /// Cores the runtime may assume it has, for background work: pre-warming and dropping
    /// finished stores happen only while fewer calls run than cores minus one. `None` (the
    /// default) uses the machine's count; set it lower when the process is given fewer
    /// cores than the machine has (a container's CPU quota).
    pub cores: Option<usize>,
    /// Internal addresses every remote plugin may reach, as host patterns (`127.0.0.1:*`,
    /// `scoring.internal:9000`); by default remote plugins reach public addresses only (see
    /// [`crate::remote::guard`]). Checked when the runtime is built.
    pub allow_remote: Vec<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 64,
            max_memory: 1 << 30,
            default_limits: Limits::default(),
            cache_dir: None,
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 512 << 10,
            warm_instances: 2,
            max_warm_instances: 256,
            cores: None,
            allow_remote: Vec::new(),
        }
    }
}

impl RuntimeConfig {
    /// Runtime-wide cap on pre-warmed instances.
    pub(crate) fn warm_cap(&self) -> usize {
        self.max_warm_instances
    }
}
