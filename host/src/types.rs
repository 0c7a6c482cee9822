//! Plinth's public data types, independent of any one WIT version: each `api::v*` module
//! converts its generated bindings into these, so embedders see one set of types whatever
//! API version a plugin was built against.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The four kinds of plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Node,
    Tool,
    Trigger,
    Listener,
}

impl Kind {
    /// All kinds, in a stable order.
    pub const ALL: [Kind; 4] = [Kind::Node, Kind::Tool, Kind::Trigger, Kind::Listener];

    /// The WIT interface name of this kind (`node`, `tool`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Tool => "tool",
            Kind::Trigger => "trigger",
            Kind::Listener => "listener",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown kind `{s}` (expected node, tool, trigger or listener)"))
    }
}

/// JSON text that has been checked to parse. Cheap to clone from a `&str` once; sent to the
/// guest as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Json(String);

impl Json {
    /// Checks that `text` is JSON and keeps it as is.
    pub fn parse(text: impl Into<String>) -> Result<Json, serde_json::Error> {
        let text = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Json(text))
    }

    /// Wraps text the caller has already checked.
    pub(crate) fn from_checked(text: String) -> Json {
        Json(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the text into a `serde_json::Value`. Fails only for JSON that is valid but
    /// that `serde_json::Value` cannot hold: nesting deeper than 128 levels, or a number out
    /// of `f64` range (`1e400`). The text itself is always available with [`Json::as_str`].
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl From<&serde_json::Value> for Json {
    fn from(v: &serde_json::Value) -> Json {
        Json(v.to_string())
    }
}

impl From<serde_json::Value> for Json {
    fn from(v: serde_json::Value) -> Json {
        Json(v.to_string())
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a call comes from; sent to the guest with every call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallContext {
    /// The workflow instance (run) id.
    pub instance_id: String,
    /// The block/step id within the workflow.
    pub step_id: String,
    /// 1 on the first try.
    pub attempt: u32,
    /// The tenant, in multi-tenant engines.
    pub tenant: Option<String>,
    /// The plugin's configuration (default `{}`).
    pub config: Json,
    /// The workflow data visible to the step (default `null`).
    pub data: Json,
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext {
            instance_id: String::new(),
            step_id: String::new(),
            attempt: 1,
            tenant: None,
            config: Json("{}".into()),
            data: Json("null".into()),
        }
    }
}

/// A node, trigger or listener description (as listed by the plugin).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the input, if the plugin gave one.
    pub input_schema: Option<serde_json::Value>,
    /// JSON Schema of the output, if the plugin gave one.
    pub output_schema: Option<serde_json::Value>,
    /// For listeners: the platform they understand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// Everything a plugin said it provides, read once at load time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Specs {
    pub nodes: Vec<Spec>,
    pub tools: Vec<Spec>,
    pub triggers: Vec<Spec>,
    pub listeners: Vec<Spec>,
}

impl Specs {
    /// The specs of one kind.
    pub fn of(&self, kind: Kind) -> &[Spec] {
        match kind {
            Kind::Node => &self.nodes,
            Kind::Tool => &self.tools,
            Kind::Trigger => &self.triggers,
            Kind::Listener => &self.listeners,
        }
    }
}

/// What one trigger poll returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollResult {
    /// Events, oldest first.
    pub events: Vec<Json>,
    /// The cursor for the next poll; `None` keeps the previous one.
    pub cursor: Option<String>,
    /// Suggested delay before the next poll.
    pub next_poll: Option<Duration>,
}

/// An inbound message for a listener (a webhook request, a queue message, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: Vec<u8>,
}

/// A normalized event produced by a listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dispatch {
    pub event: String,
    pub payload: Json,
}

/// An immediate reply to the sender of an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a listener made of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandleResult {
    pub dispatches: Vec<Dispatch>,
    pub reply: Option<Reply>,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a captured log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// `host.log` from the plugin.
    Host,
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr (Rust panics print here).
    Stderr,
}

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub source: LogSource,
    pub level: Level,
    pub message: String,
}

/// The logs of one call, bounded by [`crate::Limits::max_log`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Logs {
    pub lines: Vec<LogLine>,
    /// True when the guest wrote more than the cap and the rest was dropped.
    pub truncated: bool,
}

/// The result of a successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<T> {
    /// What the plugin returned.
    pub output: T,
    /// Fuel the call consumed (instantiation included).
    pub fuel_used: u64,
    /// Wall time of the call (instantiation included).
    pub wall: Duration,
    /// Captured logs.
    pub logs: Logs,
    /// Whether the call ran on a pre-warmed instance (instantiated before the call arrived,
    /// never used by another call) rather than one instantiated inline.
    pub prewarmed: bool,
}

impl<T> Outcome<T> {
    /// The same call's outcome with its output converted by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        Outcome { output: f(self.output), fuel_used: self.fuel_used, wall: self.wall, logs: self.logs, prewarmed: self.prewarmed }
    }
}

/// A caller's "stop": set it and a call made through [`crate::Plugin::with_cancel`] ends
/// at the runtime's next epoch tick (10 ms by default) with
/// [`crate::InvokeError::Cancelled`]. Cheap to clone; every clone is the same switch. A
/// guest blocked in a host call (a sleep, an HTTP request) is ended by its deadline.
#[derive(Debug, Clone, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the calls watching this switch to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}
