//! The numbers the runtime reports, through the `metrics` facade: an embedder installs
//! whatever recorder it uses (Prometheus, StatsD, …) and gets the same series `plinth
//! serve` exposes at `/metrics`; with no recorder installed, each call costs a few
//! relaxed loads. All names start with `plinth_`, and are named here only.

use std::time::Duration;

use crate::error::InvokeError;
use crate::types::Kind;

/// Calls finished, by `plugin`, `kind` and `outcome`.
pub const CALLS: &str = "plinth_calls_total";
/// Wall time of a call in seconds (instantiation included), by `plugin` and `kind`.
pub const CALL_SECONDS: &str = "plinth_call_duration_seconds";
/// Fuel a successful call used, by `plugin` and `kind`.
pub const CALL_FUEL: &str = "plinth_call_fuel";
/// Instances a call ran on, by `mode`: `warm` (pre-instantiated) or `inline`.
pub const INSTANTIATIONS: &str = "plinth_instantiations_total";
/// Warm instances given up by a plugin so that one called more can have the budget.
pub const WARM_MOVED: &str = "plinth_warm_instances_moved_total";
/// Calls refused because the runtime ran as many as it allows.
pub const BUSY: &str = "plinth_busy_rejections_total";

/// Events in the outbox not yet taken by the dispatcher.
pub const OUTBOX_PENDING: &str = "plinth_outbox_pending";
/// Events the dispatcher took.
pub const EVENTS_DELIVERED: &str = "plinth_events_delivered_total";
/// Events the dispatcher refused for good, set aside in the outbox's dead letters.
pub const EVENTS_DEAD: &str = "plinth_events_dead_total";
/// Triggers the scheduler runs, by `state`: `polling`, `paused` (the outbox is full) or
/// `error`.
pub const TRIGGERS: &str = "plinth_triggers";
/// Trigger polls, by `plugin`, `trigger` and `outcome` (`ok`, `error`, `outbox_full`).
pub const POLLS: &str = "plinth_trigger_polls_total";

/// The `outcome` label of a call's error.
pub fn outcome(e: &InvokeError) -> &'static str {
    match e {
        InvokeError::Guest(_) => "plugin_error",
        e if e.is_limit() => "limit",
        InvokeError::Trap { .. } => "trap",
        InvokeError::InvalidOutput { .. } | InvokeError::AbiViolation { .. } => "invalid_output",
        InvokeError::Busy { .. } => "busy",
        InvokeError::Cancelled => "cancelled",
        InvokeError::ContractViolation { direction: "input", .. } => "invalid_request",
        InvokeError::ContractViolation { .. } => "invalid_output",
        InvokeError::RemoteStatus { .. } | InvokeError::RemoteUnreachable { .. } | InvokeError::RemoteRefused { .. } => "remote_error",
        InvokeError::InvalidRequest(_) | InvokeError::ExportNotFound { .. } | InvokeError::KindNotProvided { .. } => "invalid_request",
        _ => "host_error",
    }
}

/// Records one finished call: `Ok((fuel, prewarmed))` or the error it ended with.
pub(crate) fn call(plugin: &str, kind: Kind, result: Result<(u64, bool), &InvokeError>, elapsed: Duration) {
    let (plugin, kind) = (plugin.to_string(), kind.as_str());
    let label = match result {
        Ok(_) => "ok",
        Err(e) => outcome(e),
    };
    metrics::counter!(CALLS, "plugin" => plugin.clone(), "kind" => kind, "outcome" => label).increment(1);
    if let Err(InvokeError::Busy { .. }) = result {
        metrics::counter!(BUSY).increment(1);
        return;
    }
    metrics::histogram!(CALL_SECONDS, "plugin" => plugin.clone(), "kind" => kind).record(elapsed.as_secs_f64());
    if let Ok((fuel, prewarmed)) = result {
        metrics::histogram!(CALL_FUEL, "plugin" => plugin, "kind" => kind).record(fuel as f64);
        metrics::counter!(INSTANTIATIONS, "mode" => if prewarmed { "warm" } else { "inline" }).increment(1);
    }
}
