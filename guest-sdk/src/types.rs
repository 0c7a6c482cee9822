//! The SDK's types: owned, `serde_json`-based, converted to and from the WIT types at the
//! boundary by the export macros.

use serde_json::Value;

use crate::bindings::plinth::plugin::types as wit;

/// Where a call comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// The workflow instance (run) id.
    pub instance_id: String,
    /// The block/step id.
    pub step_id: String,
    /// 1 on the first try.
    pub attempt: u32,
    /// The tenant, in multi-tenant engines.
    pub tenant: Option<String>,
    /// The plugin's configuration (`{}` if none).
    pub config: Value,
    /// The workflow data visible to this step (`null` if none).
    pub data: Value,
}

impl Context {
    /// A config field, if present.
    pub fn config(&self, key: &str) -> Option<&Value> {
        self.config.get(key)
    }
}

#[doc(hidden)]
impl TryFrom<wit::CallContext> for Context {
    type Error = Error;
    fn try_from(c: wit::CallContext) -> Result<Self, Error> {
        Ok(Context {
            instance_id: c.instance_id,
            step_id: c.step_id,
            attempt: c.attempt,
            tenant: c.tenant,
            config: parse("config", &c.config)?,
            data: parse("data", &c.data)?,
        })
    }
}

/// Parses host-sent JSON; malformed input is the caller's fault (`invalid-input`).
#[doc(hidden)]
pub fn parse(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::invalid_input(format!("{what} is not valid JSON: {e}")))
}

/// A plugin error: becomes the WIT `plugin-error` the host sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The input is malformed; retrying will not help.
    InvalidInput(String),
    /// The plugin tried and failed.
    Failed { message: String, retryable: bool, details: Option<Value> },
    /// Nothing by that name.
    NotFound(String),
}

impl Error {
    /// The input is malformed.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }
    /// A permanent failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed { message: message.into(), retryable: false, details: None }
    }
    /// A failure worth retrying later.
    pub fn retryable(message: impl Into<String>) -> Self {
        Error::Failed { message: message.into(), retryable: true, details: None }
    }
    /// Nothing called `name` here.
    pub fn not_found(name: &str) -> Self {
        Error::NotFound(format!("no such name: {name}"))
    }
    /// Adds structured details (to a `Failed` error).
    pub fn with_details(self, value: Value) -> Self {
        match self {
            Error::Failed { message, retryable, .. } => Error::Failed { message, retryable, details: Some(value) },
            other => other,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Failed { message, .. } => write!(f, "failed: {message}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// `?` on JSON (de)serialization: the input did not have the expected shape.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

#[doc(hidden)]
impl From<Error> for wit::PluginError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidInput(m) => wit::PluginError::InvalidInput(m),
            Error::NotFound(m) => wit::PluginError::NotFound(m),
            Error::Failed { message, retryable, details } => {
                wit::PluginError::Failed(wit::Failure { message, retryable, details: details.map(|d| d.to_string()) })
            }
        }
    }
}

/// Describes a node or trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
}

impl Spec {
    pub fn new(name: &str, description: &str) -> Self {
        Spec { name: name.into(), description: description.into(), input_schema: None, output_schema: None }
    }
    /// Sets the JSON Schema of the input.
    pub fn input(mut self, schema: Value) -> Self {
        self.input_schema = Some(schema);
        self
    }
    /// Sets the JSON Schema of the output.
    pub fn output(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }
}

#[doc(hidden)]
impl From<Spec> for wit::Spec {
    fn from(s: Spec) -> Self {
        wit::Spec {
            name: s.name,
            description: s.description,
            input_schema: s.input_schema.map(|v| v.to_string()),
            output_schema: s.output_schema.map(|v| v.to_string()),
        }
    }
}

/// Describes a tool: name, description, JSON Schema of the arguments (as MCP does).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
}

impl ToolSpec {
    pub fn new(name: &str, description: &str, input_schema: Value) -> Self {
        ToolSpec { name: name.into(), description: description.into(), input_schema, output_schema: None }
    }
    /// Sets the JSON Schema of the result.
    pub fn output(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }
}

/// What one trigger poll found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poll {
    /// Events to start workflows with, oldest first.
    pub events: Vec<Value>,
    /// The cursor for the next poll (`None` keeps the previous one).
    pub cursor: Option<String>,
    /// Suggested delay before the next poll, in milliseconds.
    pub next_poll_ms: Option<u64>,
}

/// Describes a listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSpec {
    pub name: String,
    pub platform: String,
    pub description: String,
    pub config_schema: Option<Value>,
}

impl ListenerSpec {
    pub fn new(name: &str, platform: &str, description: &str) -> Self {
        ListenerSpec { name: name.into(), platform: platform.into(), description: description.into(), config_schema: None }
    }
}

/// An inbound message, as the host received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The body parsed as JSON (`invalid-input` if it is not).
    pub fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::invalid_input(format!("body is not JSON: {e}")))
    }
}

/// A normalized event for workflows.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub event: String,
    pub payload: Value,
}

/// An immediate reply to the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What handling one message produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub dispatches: Vec<Dispatch>,
    pub reply: Option<Reply>,
}
