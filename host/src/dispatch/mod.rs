//! Where the events of triggers and listeners go. A [`Dispatcher`] hands an event to the
//! engine that runs workflows (an embedder implements it; [`FileDispatcher`] writes JSON
//! lines; `plinth serve` also POSTs them to a URL). In front of it sits the [`Outbox`]: an
//! event is *accepted* once it is on disk there, and delivered from there in order, retried
//! until the dispatcher takes it, across restarts and crashes. A trigger's cursor is
//! committed only after its poll's events were accepted, so a crash replays a poll rather
//! than skipping one; each event's [`Event::id`] is stable across that replay, for the
//! engine to de-duplicate.

mod file;
#[cfg(feature = "serve")]
mod http;
mod outbox;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use file::FileDispatcher;
#[cfg(feature = "serve")]
pub use http::HttpDispatcher;
pub use outbox::{Outbox, OutboxConfig, OutboxError, OutboxStats};

use crate::types::{Json, Kind};

/// One event for the engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Stable for the same event: a replayed poll gives its events the same ids.
    pub id: String,
    pub source: Source,
    /// The event's type: a listener's dispatch names it; a trigger's events are named after
    /// the trigger.
    pub event: String,
    /// The event's JSON, as the plugin wrote it.
    pub payload: Box<RawValue>,
    /// When the host received it (RFC 3339).
    pub received_at: String,
}

/// Which plugin export an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub tenant: Option<String>,
    pub plugin: String,
    pub kind: Kind,
    pub name: String,
}

impl Event {
    /// An event of `source` with the given stable `id`.
    pub fn new(id: String, source: Source, event: String, payload: &Json) -> Event {
        let payload = RawValue::from_string(payload.as_str().to_string())
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"));
        Event { id, source, event, payload, received_at: now_rfc3339() }
    }

    /// The id of the `index`-th event of a poll of `source` made with cursor `cursor`: the
    /// same poll replayed after a crash gives the same ids.
    pub fn poll_id(source: &Source, cursor: Option<&str>, index: usize) -> String {
        let key = format!(
            "{}\n{}\n{}\n{}\n{}",
            source.tenant.as_deref().unwrap_or(""),
            source.plugin,
            source.name,
            cursor.map_or_else(|| "-".to_string(), |c| format!("+{c}")),
            index
        );
        crate::registry::state::sha256_hex(key.as_bytes())[..32].to_string()
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Why a dispatcher did not take an event.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DispatchError {
    pub message: String,
    /// Worth retrying (the engine is down or busy); `false` when the engine refused the
    /// event itself: it is then set aside in the outbox's dead letters, not retried forever.
    pub retryable: bool,
}

impl DispatchError {
    pub fn retryable(message: impl Into<String>) -> DispatchError {
        DispatchError { message: message.into(), retryable: true }
    }
    pub fn permanent(message: impl Into<String>) -> DispatchError {
        DispatchError { message: message.into(), retryable: false }
    }
}

/// Hands events to the engine. Called from the outbox's delivery thread, in order; an
/// error leaves the event (and the ones after it) in the outbox.
pub trait Dispatcher: Send + Sync + 'static {
    fn dispatch(&self, event: &Event) -> Result<(), DispatchError>;

    /// Several events at once, in order (the outbox hands over up to 64 at a time); a
    /// dispatcher that can take a batch in one write or request overrides it. Returns how
    /// many were taken before the error, if any.
    fn dispatch_batch(&self, events: &[Event]) -> (usize, Option<DispatchError>) {
        for (i, e) in events.iter().enumerate() {
            if let Err(err) = self.dispatch(e) {
                return (i, Some(err));
            }
        }
        (events.len(), None)
    }
}
