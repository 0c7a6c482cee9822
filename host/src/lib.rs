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
//! Layers, bottom to top; each uses only layers below it (a test in `tests/` reads the
//! `crate::` paths of every module and fails on an edge that points up):
//! - [`types`], [`error`], [`limits`], [`config`], `output`, [`cache`]: data, typed errors,
//!   per-call limits, runtime settings, output checks, the code cache;
//! - [`caps`]: what a call may touch (grants, WASI, HTTP, logs, deadline-bounded blocking);
//! - `store`: the per-call store data and how a store is made and armed;
//! - `api` (one module per WIT version), `legacy` (the alloc/dealloc/handle adapter) and
//!   [`remote`] (plugins that are services: Orch8's `grpc://`, JSON over HTTP/2);
//! - `instance`: a plugin's code ready to instantiate, and one instance of it;
//! - `warm`: pre-warmed instances and the background thread;
//! - `call`: one invocation, instance to outcome or typed error;
//! - [`plugin`]: load once, call many times;
//! - [`engine`]: the [`Runtime`];
//! - [`registry`]: manifests, installed plugins, tenants, hot reload, on-disk state;
//! - [`dispatch`]: where trigger and listener events go (the durable outbox, dispatchers);
//! - [`schedule`]: the trigger scheduler (polls on schedule, keeps cursors).

#![deny(unsafe_code)]

mod api;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench_support;
pub mod cache;
mod call;
pub mod caps;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod error;
mod instance;
mod legacy;
pub mod limits;
#[cfg(feature = "mcp")]
pub mod mcp;
mod output;
pub mod plugin;
pub mod registry;
pub mod remote;
pub mod schedule;
#[cfg(feature = "serve")]
pub mod serve;
mod store;
pub mod telemetry;
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
pub use engine::{LoadOptions, MAX_POOL_SLOTS, Runtime, RuntimeConfig};
pub use error::{InvokeError, LimitsError, LoadError, PluginError};
pub use limits::{Limits, parse_size};
pub use plugin::{ContractMode, Contracts, ContractsSetting, Format, LEGACY_API, Plugin, REMOTE_API};
pub use remote::{AllowRemote, Endpoint, RemoteOptions};
pub use types::{
    CallContext, Cancel, Dispatch, HandleResult, InboundMessage, Json, Kind, Level, LogLine, LogSource, Logs, Outcome, PollResult, Reply,
    Spec, Specs,
};
