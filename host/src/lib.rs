//! # Plinth
//!
//! A WebAssembly component-model runtime for workflow-engine plugins (nodes, agent tools,
//! triggers, listeners). A plugin is loaded once; **every call gets a fresh instance** with
//! a fuel budget, a memory cap, a wall-clock deadline, caps on output and log size, and no
//! ambient capabilities (no files, environment, sockets or HTTP).
//!
//! ```no_run
//! use plinth::{CallContext, Runtime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new()?;
//! let plugin = runtime.load_file("target/guests/text_classifier.wasm")?;
//! let out = plugin.call_tool("classify", &CallContext::default(), r#"{"text":"Buy now!"}"#)?;
//! println!("{} ({} fuel, {:?})", out.output, out.fuel_used, out.wall);
//! # Ok(()) }
//! ```
//!
//! Layers: [`engine`] (the runtime and its pooling engine), [`limits`], [`caps`] (what a
//! call may touch: grants, WASI, HTTP, deadline-bounded blocking), [`plugin`] (load once),
//! `call` (per call), `warm` (pre-warmed instances), `legacy` (the alloc/dealloc/handle
//! adapter), `api` (one module per WIT version), [`registry`] (manifests, installed plugins,
//! tenants, hot reload, on-disk state), [`error`].

mod api;
#[cfg(feature = "bench-support")]
#[doc(hidden)]
pub mod bench_support;
pub mod cache;
mod call;
pub mod caps;
pub mod engine;
pub mod error;
mod legacy;
pub mod limits;
pub mod plugin;
pub mod registry;
pub mod types;
mod warm;

/// The README's Rust examples, compiled as doctests so they cannot drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use api::SUPPORTED as SUPPORTED_API_VERSIONS;
pub use cache::CacheStatus;
pub use caps::grants::{
    Asks, Capabilities, CapabilityError, CapabilityReport, EnvGrant, FsAsk, FsGrant, FsMode, Grants, HostPattern, Stdio,
};
pub use engine::{LoadOptions, Runtime, RuntimeConfig};
pub use error::{InvokeError, LimitsError, LoadError, PluginError};
pub use limits::Limits;
pub use plugin::{Format, LEGACY_API, Plugin};
pub use types::{
    CallContext, Dispatch, HandleResult, InboundMessage, Json, Kind, Level, LogLine, LogSource, Logs, Outcome, PollResult, Reply, Spec,
    Specs,
};
