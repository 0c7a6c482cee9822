//! The [`Runtime`]: one wasmtime `Engine` configured for a fresh instance per call, the
//! linker every plugin is pre-instantiated against, the epoch ticker and the code cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::CodeCache;
use crate::call::CallState;
use crate::caps::grants::Capabilities;
use crate::error::LoadError;
use crate::limits::{Limits, MAX_TABLE_ELEMENTS};
use crate::plugin::Plugin;
use crate::warm::Warmer;

/// Settings of a [`Runtime`]. The pooling allocator is sized from these once, so they cannot
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
    /// Cap on pre-warmed instances across all plugins (the effective cap is also at most a
    /// quarter of `max_instances`). Each holds a pool slot reserved for warm instances on top
    /// of `max_instances`. Default 16.
    pub max_warm_instances: usize,
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
            max_warm_instances: 16,
        }
    }
}

/// How to load one plugin.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Limits of its calls; `None` uses the runtime's default limits.
    pub limits: Option<Limits>,
    /// What it may use (the intersection of its asks and the operator's grants, see
    /// [`Capabilities::resolve`]). Default: nothing.
    pub capabilities: Capabilities,
    /// Pre-warmed instances to keep ready; `None` uses `RuntimeConfig::warm_instances`.
    pub warm_instances: Option<usize>,
}

/// Loads plugins and runs their calls. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    /// `linker` plus `wasi:http`, for plugins granted outbound HTTP.
    pub(crate) linker_http: Linker<CallState>,
    pub(crate) config: RuntimeConfig,
    pub(crate) cache: Option<CodeCache>,
    stop_ticker: Arc<AtomicBool>,
    pub(crate) warmer: Warmer,
    pub(crate) warm_total: Arc<AtomicUsize>,
    /// Calls running now (see [`RuntimeInner::has_idle_core`]).
    pub(crate) in_flight: AtomicUsize,
    cores: usize,
}

impl RuntimeInner {
    /// Effective runtime-wide cap on pre-warmed instances.
    pub(crate) fn warm_cap(&self) -> usize {
        warm_cap(&self.config)
    }

    /// Whether a core is free for background pre-warming (fewer calls running than cores
    /// minus one).
    pub(crate) fn has_idle_core(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) + 1 < self.cores
    }
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Core instances a plugin component may hold: a Rust wasip2 component has 3 (main module,
/// shim, fixup); language runtimes more (componentize-py links libc, libpython and its
/// adapters; a QuickJS component from jco has 3 memories). Pool totals are these times
/// `max_instances`, so `max_instances` calls can always run at once whatever the plugins
/// look like. Core instance and table slots are cheap; each memory slot reserves address
/// space (about 4 GiB of it, not memory): 4 per component × 80 slots is 1.3 TiB of the
/// 128 TiB a process has.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;

impl Runtime {
    /// A runtime with the default configuration and no code cache.
    pub fn new() -> Result<Runtime, LoadError> {
        Runtime::with_config(RuntimeConfig::default())
    }

    /// A runtime with `config`.
    pub fn with_config(config: RuntimeConfig) -> Result<Runtime, LoadError> {
        Runtime::build(config, EngineTuning::Plinth)
    }

    pub(crate) fn build(config: RuntimeConfig, tuning: EngineTuning) -> Result<Runtime, LoadError> {
        config.default_limits.validate(config.max_memory)?;
        if config.epoch_tick.is_zero() {
            return Err(LoadError::Runtime("epoch_tick must be greater than zero".into()));
        }
        let engine = Engine::new(&engine_config(&config, tuning))
            .map_err(|e| LoadError::Runtime(format!("cannot create the wasm engine: {e:#}")))?;
        let link = |http| crate::api::linker(&engine, http).map_err(|e| LoadError::Runtime(format!("cannot link host functions: {e:#}")));
        let (linker, linker_http) = (link(false)?, link(true)?);
        let cache = match &config.cache_dir {
            Some(dir) => Some(
                CodeCache::open(dir, &engine).map_err(|e| LoadError::Runtime(format!("cannot open code cache {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        let warmer = Warmer::spawn().map_err(|e| LoadError::Runtime(format!("cannot start the pre-warm thread: {e}")))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(&engine, config.epoch_tick, stop_ticker.clone())
            .map_err(|e| LoadError::Runtime(format!("cannot start the epoch ticker thread: {e}")))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                linker_http,
                config,
                cache,
                stop_ticker,
                warmer,
                warm_total: Arc::new(AtomicUsize::new(0)),
                in_flight: AtomicUsize::new(0),
                cores: std::thread::available_parallelism().map_or(2, |n| n.get()).max(2),
            }),
        })
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Loads a plugin from a file, with no capabilities and the runtime's default limits;
    /// the plugin's name is the file stem.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Plugin, LoadError> {
        self.load_file_with(path, &LoadOptions::default())
    }

    /// Loads a plugin from a file with `options`; the plugin's name is the file stem.
    pub fn load_file_with(&self, path: impl AsRef<Path>, options: &LoadOptions) -> Result<Plugin, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        self.load_with(&name, &bytes, options)
    }

    /// Loads a plugin from wasm bytes (a component, or a legacy core module), with no
    /// capabilities and the runtime's default limits.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, LoadError> {
        self.load_with(name, bytes, &LoadOptions::default())
    }

    /// Loads a plugin from wasm bytes with `options`: validates and compiles (or reads the
    /// code cache), detects the plugin interfaces and API version, checks its imports
    /// against its capabilities, pre-instantiates, and asks the plugin what it provides.
    /// Everything per-load happens here, once.
    pub fn load_with(&self, name: &str, bytes: &[u8], options: &LoadOptions) -> Result<Plugin, LoadError> {
        Plugin::load(self.clone(), name, bytes, options)
    }
}

/// Effective runtime-wide cap on pre-warmed instances: `max_warm_instances`, and at most a
/// quarter of `max_instances`.
fn warm_cap(config: &RuntimeConfig) -> usize {
    config.max_warm_instances.min(config.max_instances as usize / 4)
}

/// The engine settings a runtime is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineTuning {
    /// Plinth's own, below.
    Plinth,
    /// Wasmtime's pooling defaults for slot reset and tables: how the engine was set up
    /// before the per-call work of issue 7 (the benchmark's 3′ row, never used otherwise).
    #[cfg_attr(not(feature = "bench-support"), allow(dead_code))]
    PoolingDefaults,
}

fn engine_config(config: &RuntimeConfig, tuning: EngineTuning) -> Config {
    // Warm instances, and finished calls' stores waiting to be dropped off the call path,
    // get slots of their own on top of `max_instances` for calls.
    let n = config.max_instances.max(1) + warm_cap(config) as u32 + crate::warm::RETIRE_MAX as u32;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * CORE_INSTANCES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .total_memories(n * MEMORIES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .total_tables(n * TABLES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(config.max_memory as usize)
        .table_elements(MAX_TABLE_ELEMENTS)
        // When a store is dropped its slots are reset for the next instance. By default that
        // is `madvise(DONTNEED)`, which makes the kernel interrupt every core running this
        // process (TLB shootdown) and makes the next instance fault its pages back in.
        // Resetting the first MiB of memory (64 KiB of tables) with `memset` — only the
        // pages actually touched, found with PAGEMAP_SCAN on Linux >= 6.7 — avoids both.
        // Measured (bench/REPORT.md): cold call 32 -> 24 µs, 2-thread throughput 0.6x -> 1.7x.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
    if tuning == EngineTuning::PoolingDefaults {
        pool.linear_memory_keep_resident(0).table_keep_resident(0).pagemap_scan(wasmtime::Enabled::No);
    }
    let mut cfg = Config::new();
    cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Copy-on-write data segments: a 4 MiB data segment costs ~1 µs instead of a 4 MiB
        // copy per instance (1.6 ms measured without).
        .memory_init_cow(true)
        // Fill funcref tables at instantiation instead of on first use. Lazy init costs a
        // check on every indirect call plus a code lookup per entry first used, in every
        // fresh instance; language runtimes (CPython, QuickJS) call indirectly all the
        // time. Measured (bench/REPORT.md, guest languages): warm Python 1.6 -> 1.25 ms, a
        // reused QuickJS instance 105 -> 58 µs. The price is paid at instantiation, which
        // pre-warming takes off the call path: a small Rust tool instantiated inline (queue
        // off) is faster lazy, 12.3 against 16.1 µs in a later A/B (`profile-row cold`).
        .table_lazy_init(tuning == EngineTuning::PoolingDefaults)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack);
    cfg
}

/// One thread per runtime advances the engine's epoch; a store's deadline is a number of
/// ticks. It holds only a weak engine reference and ends with the runtime.
fn spawn_ticker(engine: &Engine, tick: Duration, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new().name("plinth-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(tick);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    })?;
    Ok(())
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.inner.config).finish_non_exhaustive()
    }
}
