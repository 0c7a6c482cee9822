//! Exit codes (stable, documented in the README) and how errors map onto them:
//! 0 success · 1 host error (unreadable file, bad flag value) · 2 usage ·
//! 3 the plugin returned an error, or has no export of that name ·
//! 4 a limit was hit (fuel, deadline, memory, stack, output) ·
//! 5 the plugin trapped, returned invalid output or broke the legacy ABI ·
//! 6 invalid or incompatible component or module ·
//! 7 runtime busy · 8 a plugin change was not confirmed (pass --yes).

use plinth::registry::RegistryError;
use plinth::{InvokeError, LimitsError, LoadError};

/// A failure, with the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: 1, error }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        let code = match &e {
            LoadError::Io { .. } | LoadError::Runtime { .. } | LoadError::Limits(_) => 1,
            // The plugin failed while listing what it provides: exit as that call failed.
            LoadError::Listing { source, .. } => invoke_exit_code(source),
            _ => 6,
        };
        let fix = load_fix(&e);
        Failure { code, error: with_fix(e.into(), fix) }
    }
}

/// The library's errors say what happened and what to change; which flag or manifest key
/// changes it is the CLI's to say.
fn with_fix(error: anyhow::Error, fix: Option<&str>) -> anyhow::Error {
    match fix {
        Some(fix) => anyhow::anyhow!("{error:#}; {fix}"),
        None => error,
    }
}

fn load_fix(e: &LoadError) -> Option<&'static str> {
    match e {
        LoadError::CapabilityNotGranted { capability: "http", .. } => Some(
            "for a file, grant hosts with --allow-http HOST; an installed plugin must list them under \
             [capabilities] http in its plinth.toml",
        ),
        LoadError::Limits(LimitsError::MemoryAboveRuntimeCap { .. }) => Some("lower --memory or the manifest's [limits] memory"),
        LoadError::Listing { source, .. } => invoke_fix(source),
        _ => None,
    }
}

fn invoke_fix(e: &InvokeError) -> Option<&'static str> {
    match e {
        InvokeError::OutOfFuel { .. } => Some("pass --fuel N, or set [limits] fuel in the plugin's plinth.toml"),
        InvokeError::DeadlineExceeded { .. } => Some("pass --timeout MS, or set [limits] timeout_ms in the plugin's plinth.toml"),
        InvokeError::MemoryLimit { .. } => Some("pass --memory SIZE, or set [limits] memory in the plugin's plinth.toml"),
        _ => None,
    }
}

pub fn invoke_exit_code(e: &InvokeError) -> u8 {
    match e {
        InvokeError::Guest(_) | InvokeError::ExportNotFound { .. } | InvokeError::RemoteStatus { .. } => 3,
        InvokeError::ContractViolation { direction: "input", .. } => 3,
        InvokeError::ContractViolation { .. } => 5,
        e if e.is_limit() => 4,
        InvokeError::Trap { .. } | InvokeError::InvalidOutput { .. } | InvokeError::AbiViolation { .. } => 5,
        InvokeError::Busy { .. } => 7,
        _ => 1,
    }
}

impl From<InvokeError> for Failure {
    fn from(e: InvokeError) -> Self {
        let fix = invoke_fix(&e);
        Failure { code: invoke_exit_code(&e), error: with_fix(e.into(), fix) }
    }
}

pub fn registry_failure(e: RegistryError) -> Failure {
    let code = match &e {
        RegistryError::Declined => 8,
        RegistryError::Load { source, .. } => match **source {
            LoadError::Io { .. } | LoadError::Runtime { .. } | LoadError::Limits(_) => 1,
            _ => 6,
        },
        RegistryError::Incompatible { .. } | RegistryError::Conflict { .. } | RegistryError::Manifest { .. } => 6,
        _ => 1,
    };
    let fix = match &e {
        RegistryError::Declined => Some("pass --yes to apply without asking"),
        RegistryError::Load { source, .. } => load_fix(source),
        RegistryError::BadLock { .. } => Some("rebuild it with `plinth plugin doctor --repair`"),
        RegistryError::Tampered { .. } => {
            Some("restore it from its source with `plinth plugin update NAME --yes` (`plinth plugin doctor` prints the exact command)")
        }
        _ => None,
    };
    Failure { code, error: with_fix(e.into(), fix) }
}
