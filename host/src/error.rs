//! The typed errors of loading a plugin and of calling it.
//!
//! Each variant says what happened and, where the user can act, what to do. Traps are
//! classified by type (`wasmtime::Trap`, the limiter's own error), never by message text.

use std::path::PathBuf;
use std::time::Duration;

use crate::types::Kind;

/// Why a plugin could not be loaded. Apart from [`LoadError::Listing`] (which carries the
/// call error of the plugin's `list-*` function, possibly a busy runtime) the same bytes
/// fail the same way every time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin file {}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component, or one that exceeds what the
    /// runtime's instance pool can hold (the reason names the limit).
    #[error(
        "cannot compile the WebAssembly component: {reason}. Plugins are WASI 0.2 components \
         (Rust: `cargo build --release --target wasm32-wasip2`; other languages: see the README)"
    )]
    InvalidComponent { reason: String },
    /// The component exports none of the plugin interfaces.
    #[error(
        "the component exports no plinth plugin interface (its exports: {found}); a plugin must \
         export at least one of plinth:plugin/{{node,tool,trigger,listener}}@{supported}"
    )]
    NoPluginExports { found: String, supported: String },
    /// The component was built against an API version this host does not serve.
    #[error(
        "the component exports {found}, built against plinth:plugin@{version}, which this host \
         does not support (supported: {supported}); rebuild the plugin against a supported version \
         or upgrade plinth"
    )]
    UnsupportedApiVersion { found: String, version: String, supported: String },
    /// The component imports something Plinth does not provide (or does not grant).
    #[error(
        "the component imports something this host does not provide: {reason}. Plugins may \
         import plinth:plugin/host and WASI 0.2 cli/io/clocks/random/filesystem/sockets \
         (filesystem and sockets are denied unless granted)"
    )]
    UnsatisfiedImport { reason: String },
    /// The component imports an interface that needs a capability it was not granted
    /// (for HTTP: [`Capabilities::http`](crate::Capabilities) host patterns).
    #[error(
        "the component imports {interface}, which needs the `{capability}` capability: the \
         plugin must ask for it and the operator must grant it"
    )]
    CapabilityNotGranted { interface: String, capability: &'static str },
    /// A capability declaration cannot be used (bad pattern, path or directory).
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// The plugin trapped or failed while the host asked it what it provides.
    #[error("the plugin failed while listing its {kind}s")]
    Listing {
        kind: Kind,
        #[source]
        source: Box<InvokeError>,
    },
    /// A legacy core module imports something; legacy modules get no imports at all.
    #[error(
        "the legacy module imports {}; modules with the alloc/dealloc/handle ABI get no \
         imports at all (no WASI, no host functions): remove these imports",
        imports.join(", ")
    )]
    LegacyImports { imports: Vec<String> },
    /// A legacy core module lacks an ABI export or has it with the wrong type.
    #[error(
        "the legacy module's export `{export}` must be `{expected}`, found {found}; the \
         alloc/dealloc/handle ABI needs memory, alloc(i32)->i32, dealloc(i32,i32) and \
         handle(i32,i32)->i64"
    )]
    LegacyAbi { export: String, expected: String, found: String },
    /// The limits asked for are not possible under this runtime's configuration.
    #[error(transparent)]
    Limits(#[from] LimitsError),
    /// The engine, its host functions, its code cache or its threads could not be set up.
    #[error("runtime setup failed: {what}")]
    Runtime {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A JSON Schema the plugin declared for an export does not compile (its contract
    /// checks could not run); turn contracts off for it to load it anyway.
    #[error(
        "the {which} schema of {kind} `{name}` is not a usable JSON Schema: {reason}; fix the plugin's spec, \
         or turn its contract checks off (contracts = \"off\")"
    )]
    BadSchema { kind: Kind, name: String, which: &'static str, reason: String },
    /// A core WebAssembly module that uses the plinth interfaces: built with the plugin SDK
    /// for a target that gives core modules instead of components.
    #[error(
        "this is a core WebAssembly module, not a component, although it uses the plinth plugin \
         interfaces ({evidence}): build it with `cargo build --release --target wasm32-wasip2` \
         (wasm32-unknown-unknown and wasm32-wasip1 give core modules)"
    )]
    CoreModuleNotComponent { evidence: String },
}

/// Limits that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// The runtime's cap is [`RuntimeConfig::max_memory`](crate::RuntimeConfig).
    #[error("memory limit of {asked} bytes exceeds the runtime's hard cap of {cap} bytes; lower the limit")]
    MemoryAboveRuntimeCap { asked: u64, cap: u64 },
    #[error("limit `{name}` must be greater than zero")]
    Zero { name: &'static str },
}

/// An error the plugin itself returned (the WIT `plugin-error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The input was malformed; retrying will not help.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The plugin tried and failed.
    #[error("failed: {message}{}", if *retryable { " (retryable)" } else { "" })]
    Failed { message: String, retryable: bool, details: Option<serde_json::Value> },
    /// The plugin has nothing of that kind by that name.
    #[error("not found: {0}")]
    NotFound(String),
}

/// Why a call did not produce an output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The guest executed more instructions than its fuel budget.
    #[error("out of fuel: the plugin used its whole budget of {budget} fuel; raise the fuel limit if the work is legitimate")]
    OutOfFuel { budget: u64 },
    /// The caller cancelled the call ([`crate::Cancel`]) while it ran.
    #[error("cancelled: the caller stopped the call before it finished")]
    Cancelled,
    /// The wall-clock deadline passed before the guest returned.
    #[error("deadline exceeded: the plugin ran longer than {}ms; raise the timeout if the work is legitimate", timeout.as_millis())]
    DeadlineExceeded { timeout: Duration },
    /// The guest tried to grow a linear memory beyond the cap.
    #[error(
        "memory limit: the plugin tried to grow to {requested} bytes, over its limit of {limit} \
         bytes; raise the memory limit if the work is legitimate"
    )]
    MemoryLimit { limit: u64, requested: u64 },
    /// The guest's call stack grew beyond the engine's maximum (deep or infinite recursion).
    #[error("stack overflow: the plugin exhausted its {max_stack}-byte wasm stack (deep recursion)")]
    StackOverflow { max_stack: usize },
    /// Any other guest fault: a panic (`unreachable`), out-of-bounds access, `exit`, invalid
    /// data handed across the component boundary, ...
    #[error("the plugin trapped: {message}")]
    Trap { message: String },
    /// The guest returned its own error.
    // Not `#[from]`: that would also make it the `source`, and error chains would print the
    // guest's message twice.
    #[error("the plugin returned an error: {0}")]
    Guest(PluginError),
    /// The guest's output was larger than the output cap.
    #[error("output too large: the plugin returned {size} bytes, over the {limit}-byte output limit")]
    OutputTooLarge { size: usize, limit: usize },
    /// The guest returned something that is not valid JSON where JSON is required.
    #[error("the plugin returned invalid JSON ({reason}); output starts with: {preview:?}")]
    InvalidOutput { reason: String, preview: String },
    /// A legacy module broke the alloc/dealloc/handle ABI (a pointer or length that cannot
    /// be used).
    #[error("the legacy module broke the alloc/dealloc/handle ABI: {message}")]
    AbiViolation { message: String },
    /// The caller's input is not valid (e.g. params that are not JSON); not sent to the guest.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The plugin provides this kind but did not list an export by this name (checked
    /// before any instance is made).
    #[error("the plugin has no {kind} named `{name}` (its {kind}s: {available})")]
    ExportNotFound { kind: Kind, name: String, available: String },
    /// The plugin does not provide this kind at all.
    #[error("the plugin provides no {kind}s (it provides: {provides})")]
    KindNotProvided { kind: Kind, provides: String },
    /// The runtime already runs as many calls as it allows
    /// ([`RuntimeConfig::max_instances`](crate::RuntimeConfig)); try again shortly.
    #[error("runtime busy: {max_instances} calls are already running; retry later")]
    Busy { max_instances: u32 },
    /// A failure of the host itself (not caused by the guest's code).
    #[error("host error: {0}")]
    Host(String),
    /// The input or output of a call does not match the export's declared JSON Schema
    /// (a contract check set to `enforce`): permanent. Each problem names where in the
    /// value (a JSON pointer) and the schema's rule.
    #[error("the {direction} of {kind} `{name}` does not match its {direction} schema: {}", problems.join("; "))]
    ContractViolation { kind: Kind, name: String, direction: &'static str, problems: Vec<String> },
    /// A remote plugin answered with an error status: retryable when it is 500 or above,
    /// permanent otherwise (as Orch8 classifies them). `body` is the start of its answer.
    #[error("the remote plugin at {endpoint} answered HTTP {status}: {body}")]
    RemoteStatus { endpoint: String, status: u16, body: String },
    /// A remote plugin could not be reached, or its answer could not be read (retryable).
    #[error("cannot reach the remote plugin at {endpoint}: {reason}")]
    RemoteUnreachable { endpoint: String, reason: String },
    /// A remote plugin's endpoint is an address remote plugins may not reach (an internal
    /// one the operator did not allow); permanent until the operator allows it.
    #[error("the remote plugin at {endpoint} was not called: {reason}")]
    RemoteRefused { endpoint: String, reason: String },
}

impl InvokeError {
    /// Whether the same call may succeed if retried (for an engine's retry policy).
    ///
    /// Limits hit by the guest's own work (fuel, memory, stack), traps and malformed output
    /// are permanent; a busy runtime, a deadline (often load-dependent) and host faults are
    /// retryable; a guest error says for itself. A remote plugin that cannot be reached or
    /// answers ≥ 500 is retryable, another error status or a refused endpoint permanent.
    pub fn retryable(&self) -> bool {
        match self {
            InvokeError::Busy { .. } | InvokeError::DeadlineExceeded { .. } | InvokeError::Host(_) => true,
            InvokeError::Guest(PluginError::Failed { retryable, .. }) => *retryable,
            InvokeError::RemoteUnreachable { .. } => true,
            InvokeError::RemoteStatus { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// A stable name of the failure, the `code` of `plinth serve`'s error body and of
    /// `plinth test` fixtures: `invalid_input`, `not_found`, `failed`, `busy`, `cancelled`,
    /// `deadline_exceeded`, `out_of_fuel`, `memory_limit`, `stack_overflow`,
    /// `output_too_large`, `trap`, `invalid_output`, `abi_violation`, `invalid_request`,
    /// `contract_violation`, `host_error` and the `remote_*` ones. The caller's input
    /// breaking the input schema is `invalid_input`, as the plugin's own refusal is.
    pub fn code(&self) -> &'static str {
        match self {
            InvokeError::Guest(PluginError::InvalidInput(_)) => "invalid_input",
            InvokeError::Guest(PluginError::NotFound(_)) | InvokeError::ExportNotFound { .. } | InvokeError::KindNotProvided { .. } => {
                "not_found"
            }
            InvokeError::Guest(PluginError::Failed { .. }) => "failed",
            InvokeError::Busy { .. } => "busy",
            InvokeError::Cancelled => "cancelled",
            InvokeError::DeadlineExceeded { .. } => "deadline_exceeded",
            InvokeError::Host(_) => "host_error",
            InvokeError::OutOfFuel { .. } => "out_of_fuel",
            InvokeError::MemoryLimit { .. } => "memory_limit",
            InvokeError::StackOverflow { .. } => "stack_overflow",
            InvokeError::OutputTooLarge { .. } => "output_too_large",
            InvokeError::Trap { .. } => "trap",
            InvokeError::InvalidOutput { .. } => "invalid_output",
            InvokeError::AbiViolation { .. } => "abi_violation",
            InvokeError::InvalidRequest(_) => "invalid_request",
            InvokeError::RemoteStatus { status, .. } if *status >= 500 => "remote_unavailable",
            InvokeError::RemoteStatus { .. } => "remote_rejected",
            InvokeError::RemoteUnreachable { .. } => "remote_unreachable",
            InvokeError::RemoteRefused { .. } => "remote_refused",
            InvokeError::ContractViolation { direction: "input", .. } => "invalid_input",
            InvokeError::ContractViolation { .. } => "contract_violation",
        }
    }

    /// Orch8's `details` of a remote plugin's failure: `{status, body}` (`status` is null
    /// when no answer came); `None` for other errors.
    pub fn remote_details(&self) -> Option<serde_json::Value> {
        match self {
            InvokeError::RemoteStatus { status, body, .. } => Some(serde_json::json!({ "status": status, "body": body })),
            InvokeError::RemoteUnreachable { reason, .. } => Some(serde_json::json!({ "status": null, "body": reason })),
            _ => None,
        }
    }

    /// True when the error is one of the resource limits (fuel, deadline, memory, stack,
    /// output size).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            InvokeError::OutOfFuel { .. }
                | InvokeError::DeadlineExceeded { .. }
                | InvokeError::MemoryLimit { .. }
                | InvokeError::StackOverflow { .. }
                | InvokeError::OutputTooLarge { .. }
        )
    }
}

/// A capability declaration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapabilityError {
    #[error("bad host pattern `{pattern}`: {reason} (e.g. api.example.com, *.example.com, 127.0.0.1:8080, host:*)")]
    BadHostPattern { pattern: String, reason: String },
    #[error("guest path `{path}` must be absolute and contain no `.` or `..` (e.g. /data)")]
    BadGuestPath { path: String },
    #[error("granted directory {host} for {guest} cannot be used: {reason}")]
    BadHostDir { guest: String, host: PathBuf, reason: String },
}

/// An error with its causes, as one line (`a: b: c`), for logs and API bodies.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
