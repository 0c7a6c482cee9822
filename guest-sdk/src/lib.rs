//! # plinth-guest — write Plinth plugins in Rust
//!
//! Implement one trait per kind ([`Tool`], [`Node`], [`Trigger`], [`Listener`]) and export
//! it with the matching macro. Input arrives as [`serde_json::Value`], output leaves as one,
//! and `?` works on errors; tools and nodes can instead parse their input straight into their
//! own serde types ([`Tool::call_typed`], [`Node::run_typed`]), which skips building a
//! `Value` for the input and the output on every call. Build with `cargo build --release --target wasm32-wasip2`.
//!
//! ```ignore
//! use plinth_guest::{json, Context, Error, Tool, ToolSpec, Value};
//!
//! struct Echo;
//!
//! impl Tool for Echo {
//!     fn tools() -> Vec<ToolSpec> {
//!         vec![ToolSpec::new("echo", "Returns its arguments", json!({"type": "object"}))]
//!     }
//!     fn call(name: &str, _ctx: &Context, args: Value) -> Result<Value, Error> {
//!         plinth_guest::info!("{name} called");
//!         Ok(args)
//!     }
//! }
//!
//! plinth_guest::export_tool!(Echo);
//! ```
//!
//! A component may export several kinds: call several export macros in one crate.

// Lets the SDK name itself `::plinth_guest` like the plugins expanding its macros do.
extern crate self as plinth_guest;

mod export;
mod typed;
mod types;

pub use serde_json::{self, Value, json};
pub use typed::{Input, Output};
pub use types::{Context, Dispatch, Error, ListenerSpec, Message, Poll, Reply, Response, Spec, ToolSpec};

/// The generated bindings of the shared types and the host import (`plinth:plugin@0.1.0`).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.1.0",
        world: "plinth:plugin/imports@0.1.0",
        runtime_path: "::plinth_guest::__private::wit_bindgen::rt",
    });
}

include!(concat!(env!("OUT_DIR"), "/generate.rs"));

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Severity of a log line.
pub use bindings::plinth::plugin::types::Level;

/// Sends one line to the host's log for this call (see [`info!`] and friends).
pub fn log(level: Level, message: &str) {
    bindings::plinth::plugin::host::log(level, message);
}

/// A workflow node. Implement [`Node::run`] (params as a [`Value`]) or [`Node::run_typed`]
/// (params parsed into your own type); the export calls `run_typed`, which by default parses
/// a `Value` and calls `run`.
pub trait Node {
    /// The nodes this plugin provides.
    fn nodes() -> Vec<Spec>;
    /// Runs node `name` with its parameters. Unless `run_typed` is implemented instead,
    /// every node is "not found".
    fn run(name: &str, ctx: &Context, params: Value) -> Result<Value, Error> {
        let _ = (ctx, params);
        Err(Error::not_found(name))
    }
    /// Runs node `name` with its parameters as JSON text: `params.parse::<MyParams>()?`,
    /// then `Output::json(&my_result)`.
    fn run_typed(name: &str, ctx: &Context, params: Input<'_>) -> Result<Output, Error> {
        Self::run(name, ctx, params.value()?).map(Output::from)
    }
}

/// An agent tool. Implement [`Tool::call`] (arguments as a [`Value`]) or [`Tool::call_typed`]
/// (arguments parsed into your own type); the export calls `call_typed`, which by default
/// parses a `Value` and calls `call`.
///
/// ```ignore
/// use plinth_guest::{Context, Error, Input, Output, Tool, ToolSpec, json};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Args<'a> {
///     #[serde(borrow)]
///     text: std::borrow::Cow<'a, str>,
/// }
/// #[derive(Serialize)]
/// struct Count { words: usize }
///
/// struct Words;
///
/// impl Tool for Words {
///     fn tools() -> Vec<ToolSpec> {
///         vec![ToolSpec::new("count", "Counts words", json!({"type": "object"}))]
///     }
///     fn call_typed(name: &str, _ctx: &Context, args: Input<'_>) -> Result<Output, Error> {
///         match name {
///             "count" => {
///                 let args: Args = args.parse()?;
///                 Output::json(&Count { words: args.text.split_whitespace().count() })
///             }
///             other => Err(Error::not_found(other)),
///         }
///     }
/// }
/// ```
pub trait Tool {
    /// The tools this plugin provides.
    fn tools() -> Vec<ToolSpec>;
    /// Calls tool `name` with its arguments. Unless `call_typed` is implemented instead,
    /// every tool is "not found".
    fn call(name: &str, ctx: &Context, args: Value) -> Result<Value, Error> {
        let _ = (ctx, args);
        Err(Error::not_found(name))
    }
    /// Calls tool `name` with its arguments as JSON text: `args.parse::<MyArgs>()?`, then
    /// `Output::json(&my_result)`.
    fn call_typed(name: &str, ctx: &Context, args: Input<'_>) -> Result<Output, Error> {
        Self::call(name, ctx, args.value()?).map(Output::from)
    }
}

/// A polling trigger. The host keeps the cursor between polls.
pub trait Trigger {
    /// The triggers this plugin provides.
    fn triggers() -> Vec<Spec>;
    /// Polls trigger `name`; `cursor` is what the previous poll returned.
    fn poll(name: &str, ctx: &Context, cursor: Option<String>) -> Result<Poll, Error>;
}

/// A listener: verifies and normalizes messages the host received.
pub trait Listener {
    /// The listeners this plugin provides.
    fn listeners() -> Vec<ListenerSpec>;
    /// Handles one inbound message for listener `name`.
    fn handle(name: &str, ctx: &Context, message: Message) -> Result<Response, Error>;
}

/// Logs at `trace` level through the host: `trace!("x = {}", x)`.
#[macro_export]
macro_rules! trace { ($($t:tt)*) => { $crate::log($crate::Level::Trace, &::std::format!($($t)*)) } }
/// Logs at `debug` level through the host.
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log($crate::Level::Debug, &::std::format!($($t)*)) } }
/// Logs at `info` level through the host.
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log($crate::Level::Info, &::std::format!($($t)*)) } }
/// Logs at `warn` level through the host.
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log($crate::Level::Warn, &::std::format!($($t)*)) } }
/// Logs at `error` level through the host.
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log($crate::Level::Error, &::std::format!($($t)*)) } }
