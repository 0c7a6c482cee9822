//! The [`Runtime`]: one wasmtime `Engine` configured for a fresh instance per call, the
//! linker every plugin is pre-instantiated against, the epoch ticker and the code cache.

use std::path::Path;

use sha2::Digest as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::CodeCache;
use crate::call::Runner;
pub use crate::config::RuntimeConfig;
use crate::error::LoadError;
use crate::limits::MAX_TABLE_ELEMENTS;
pub use crate::plugin::LoadOptions;
use crate::plugin::Plugin;
use crate::plugin::load::Loader;
use crate::remote::{AllowRemote, Endpoint, RemoteOptions, Remotes};
use crate::store::CallState;
use crate::warm::{Budget, Warmer};

/// Loads plugins and runs their calls. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    /// What calls share; every loaded plugin holds it too.
    runner: Arc<Runner>,
    linker: Linker<CallState>,
    /// `linker` plus `wasi:http`, for plugins granted outbound HTTP.
    linker_http: Linker<CallState>,
    cache: Option<CodeCache>,
    /// The remote-plugin client, started on the first remote call.
    remotes: Arc<Remotes>,
    /// Internal addresses every remote plugin may reach (`RuntimeConfig::allow_remote`).
    allow_remote: AllowRemote,
}

/// Core instances a plugin component may hold: a Rust wasip2 component has 3 (main module,
/// shim, fixup); language runtimes more (componentize-py links libc, libpython and its
/// adapters; a QuickJS component from jco has 3 memories). Pool totals are these times
/// `max_instances`, so `max_instances` calls can always run at once whatever the plugins
/// look like. Core instance and table slots are cheap; each memory slot reserves address
/// space (about 4 GiB of it, not memory): 4 per component × the default 322 slots (64
/// calls, 256 warm, 2 retiring) is 5 TiB of the 128 TiB a process has, which is why
/// [`MAX_POOL_SLOTS`] bounds them.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;

/// Most pool slots (`max_instances` + `max_warm_instances` + 2) a runtime may ask for: at
/// about 16 GiB of address space each, 4,096 take half of what a process has, leaving room
/// for a second runtime and everything else.
pub const MAX_POOL_SLOTS: u64 = 4096;

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
        let allow_remote = AllowRemote::parse(&config.allow_remote)?;
        let slots = u64::from(config.max_instances.max(1)) + config.warm_cap() as u64 + crate::warm::RETIRE_MAX as u64;
        if slots > MAX_POOL_SLOTS {
            return Err(LoadError::Runtime {
                what: format!(
                    "max_instances ({}) + max_warm_instances ({}) asks for {slots} pool slots, more than the {MAX_POOL_SLOTS} the address space allows: lower one of them",
                    config.max_instances, config.max_warm_instances
                ),
                source: None,
            });
        }
        if config.epoch_tick.is_zero() {
            return Err(LoadError::Runtime { what: "epoch_tick must be greater than zero".into(), source: None });
        }
        let setup = |what: String| move |e: Box<dyn std::error::Error + Send + Sync>| LoadError::Runtime { what, source: Some(e) };
        let engine = Engine::new(&engine_config(&config, tuning)).map_err(|e| setup("cannot create the wasm engine".into())(e.into()))?;
        let link = |http| crate::api::linker(&engine, http).map_err(|e| setup("cannot link host functions".into())(e.into()));
        let (linker, linker_http) = (link(false)?, link(true)?);
        let cache = match &config.cache_dir {
            Some(dir) => {
                Some(CodeCache::open(dir, &engine).map_err(|e| setup(format!("cannot open code cache {}", dir.display()))(e.into()))?)
            }
            None => None,
        };
        let warmer = Warmer::spawn().map_err(|e| setup("cannot start the pre-warm thread".into())(e.into()))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let budget = Arc::new(Budget::new(config.warm_cap(), config.epoch_tick));
        spawn_ticker(&engine, config.epoch_tick, budget.clone(), stop_ticker.clone())
            .map_err(|e| setup("cannot start the epoch ticker thread".into())(e.into()))?;
        let cores = config.cores.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let runner = Arc::new(Runner::new(engine, config, warmer, budget, cores, stop_ticker));
        let remotes = Arc::new(Remotes::default());
        Ok(Runtime { inner: Arc::new(RuntimeInner { runner, linker, linker_http, cache, remotes, allow_remote }) })
    }

    /// How many calls are running right now, across all plugins (for status pages and
    /// metrics; pre-warming counts none).
    pub fn calls_in_flight(&self) -> usize {
        self.inner.runner.in_flight()
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.runner.config
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

    /// Whether the code cache holds compiled code for `bytes` (a load of them then takes
    /// milliseconds instead of compiling, which for a large component takes seconds).
    pub fn is_cached(&self, bytes: &[u8]) -> bool {
        self.inner.cache.as_ref().is_some_and(|c| c.contains(&sha2::Sha256::digest(bytes).into()))
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
        let inner = &*self.inner;
        let loader = Loader { runner: &inner.runner, linker: &inner.linker, linker_http: &inner.linker_http, cache: inner.cache.as_ref() };
        loader.load(name, bytes, options)
    }
}

impl Runtime {
    /// Registers a remote plugin: one node named `name` whose calls are POSTed to `endpoint`
    /// (Orch8's `grpc://` wire format, see [`crate::remote`]). Nothing is contacted until
    /// the first call; internal addresses are reachable only when `options` or the runtime
    /// allow them.
    pub fn remote(&self, name: &str, endpoint: &Endpoint, options: &RemoteOptions) -> Result<Plugin, LoadError> {
        let inner = &*self.inner;
        let allow = inner.allow_remote.union(&options.allow);
        let remote = crate::plugin::remote::Remote::new(endpoint.clone(), allow, inner.remotes.clone());
        crate::plugin::load::remote(&inner.runner, name, remote, options.limits)
    }
}

/// The engine settings a runtime is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineTuning {
    /// Plinth's own, below.
    Plinth,
    /// Wasmtime's pooling defaults for slot reset and tables: how the engine was set up
    /// before the per-call work of issue 7 (the benchmark's 3′ row, never used otherwise).
    #[cfg(feature = "bench")]
    PoolingDefaults,
}

impl EngineTuning {
    fn pooling_defaults(self) -> bool {
        match self {
            EngineTuning::Plinth => false,
            #[cfg(feature = "bench")]
            EngineTuning::PoolingDefaults => true,
        }
    }
}

fn engine_config(config: &RuntimeConfig, tuning: EngineTuning) -> Config {
    // Warm instances, and finished calls' stores waiting to be dropped off the call path,
    // get slots of their own on top of `max_instances` for calls.
    let n = config.max_instances.max(1) + config.warm_cap() as u32 + crate::warm::RETIRE_MAX as u32;
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
    if tuning.pooling_defaults() {
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
        .table_lazy_init(tuning.pooling_defaults())
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack);
    cfg
}

/// One thread per runtime advances the engine's epoch (a store's deadline is a number of
/// ticks) and the warm budget's clock (demand ages by it). It holds only a weak engine
/// reference and ends with the runtime.
fn spawn_ticker(engine: &Engine, tick: Duration, budget: Arc<Budget>, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new().name("plinth-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(tick);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match weak.upgrade() {
                Some(engine) => {
                    engine.increment_epoch();
                    budget.tick();
                }
                None => break,
            }
        }
    })?;
    Ok(())
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.inner.runner.config).finish_non_exhaustive()
    }
}
