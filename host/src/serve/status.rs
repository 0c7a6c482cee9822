//! Each plugin's status as `GET /plugins` reports it, and its transitions, which are counted
//! in `plinth_plugins{status}` and, with `--status-webhook`, posted to the operator.
//!
//! Two sources make a status. The *settled* one comes from the last reconcile: `running`,
//! `disabled`, `missing_config` or `error`. A *transient* one is set by a registry write
//! while it works (`installing`, `restarting`, `uninstalling`) and overrides the settled
//! one until the write ends; a background install that failed leaves a transient `error`
//! (the plugin is not in the state, so nothing else would show why) until the name is
//! written again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::registry::{Discovery, Key, RegistryError};

/// A plugin's state as the server last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub state: &'static str,
    pub last_error: Option<String>,
}

impl Status {
    pub(crate) const fn of(state: &'static str) -> Status {
        Status { state, last_error: None }
    }
}

/// Every state a plugin can be reported in.
pub(crate) const STATES: [&str; 7] = ["installing", "running", "missing_config", "disabled", "restarting", "error", "uninstalling"];

/// A write in progress (or a background install that failed).
struct Transient {
    status: Status,
    /// What `GET` shows for a plugin that is not in the state yet (an install).
    record: Option<Value>,
}

#[derive(Default)]
struct Inner {
    settled: HashMap<Key, Status>,
    transient: HashMap<Key, Transient>,
    /// Running plugins whose triggers fail (shown as `error`) or are paused (still
    /// `running`, with the reason in `last_error`).
    triggers: HashMap<Key, TriggerTrouble>,
}

/// What is wrong with a running plugin's triggers.
#[derive(Debug, Clone)]
pub(crate) struct TriggerTrouble {
    pub error: bool,
    pub why: String,
}

impl Inner {
    fn effective(&self, key: &Key) -> Option<Status> {
        if let Some(t) = self.transient.get(key) {
            return Some(t.status.clone());
        }
        let settled = self.settled.get(key)?;
        match self.triggers.get(key) {
            Some(t) if settled.state == "running" => {
                Some(Status { state: if t.error { "error" } else { "running" }, last_error: Some(t.why.clone()) })
            }
            _ => Some(settled.clone()),
        }
    }
}

/// One change of a plugin's status, as the webhook receives it.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub key: Key,
    pub previous: Option<&'static str>,
    /// `None`: the plugin is gone (`removed`: uninstalled, or an install that failed).
    pub status: Option<Status>,
    /// Why it is gone, when an install failed.
    pub reason: Option<String>,
}

impl Transition {
    fn json(&self) -> Value {
        json!({
            "name": self.key.name,
            "tenant_id": self.key.tenant.clone().unwrap_or_default(),
            "status": self.status.as_ref().map_or("removed", |s| s.state),
            "previous": self.previous,
            "last_error": self.status.as_ref().map_or(self.reason.clone(), |s| s.last_error.clone()),
            "at": crate::registry::state::now_rfc3339(),
        })
    }
}

/// The statuses of all plugins.
pub(crate) struct Statuses {
    inner: Mutex<Inner>,
    hook: Option<mpsc::Sender<Transition>>,
}

impl Statuses {
    pub(crate) fn new(hook: Option<mpsc::Sender<Transition>>) -> Statuses {
        Statuses { inner: Mutex::new(Inner::default()), hook }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The status of `key`, if the server knows one.
    pub(crate) fn get(&self, key: &Key) -> Option<Status> {
        self.lock().effective(key)
    }

    /// The status a write in progress gives `key`, if any.
    pub(crate) fn transient(&self, key: &Key) -> Option<Status> {
        self.lock().transient.get(key).map(|t| t.status.clone())
    }

    /// Plugins that only a transient status knows of (installs not in the state yet), with
    /// the record to show for each (its status filled in).
    pub(crate) fn pending(&self) -> Vec<(Key, Value, Status)> {
        self.lock()
            .transient
            .iter()
            .filter_map(|(k, t)| {
                let mut record = t.record.clone()?;
                record["status"] = json!(t.status.state);
                record["last_error"] = json!(t.status.last_error);
                Some((k.clone(), record, t.status.clone()))
            })
            .collect()
    }

    /// Records what a reconcile found: `loaded` are the keys the registry now serves.
    pub(crate) fn settle(&self, loaded: impl IntoIterator<Item = Key>, report: &Discovery) {
        let mut settled = HashMap::new();
        for key in loaded {
            settled.insert(key, Status::of("running"));
        }
        for key in &report.disabled {
            settled.insert(key.clone(), Status::of("disabled"));
        }
        for (key, e) in &report.failed {
            let state = if matches!(e, RegistryError::MissingConfig { .. }) { "missing_config" } else { "error" };
            settled.insert(key.clone(), Status { state, last_error: Some(super::error::chain(e)) });
        }
        self.change(|inner| inner.settled = settled);
    }

    /// Records which running plugins' triggers fail (from the scheduler).
    pub(crate) fn triggers(&self, troubled: HashMap<Key, TriggerTrouble>) {
        self.change(|inner| inner.triggers = troubled);
    }

    /// Marks `key` as being written (`installing`, `restarting`, `uninstalling`); `record`
    /// is what to show while it is not in the state. `false` (and nothing changed) when
    /// another write of `key` is in progress.
    pub(crate) fn begin(&self, key: &Key, state: &'static str, record: Option<Value>) -> bool {
        let mut begun = false;
        self.change(|inner| {
            if inner.transient.get(key).is_none_or(|t| t.status.state == "error") {
                inner.transient.insert(key.clone(), Transient { status: Status::of(state), record });
                begun = true;
            }
        });
        begun
    }

    /// Ends the write of `key`: its settled status shows again.
    pub(crate) fn end(&self, key: &Key) {
        self.change(|inner| {
            inner.transient.remove(key);
        });
    }

    /// Ends a background install of `key` that failed: it shows as `error` with `why`.
    pub(crate) fn failed(&self, key: &Key, why: String) {
        self.change(|inner| {
            if let Some(t) = inner.transient.get_mut(key) {
                t.status = Status { state: "error", last_error: Some(why) };
            }
        });
    }

    /// Ends a write of `key` that failed while its client waited (the client has the
    /// error): the transition says why.
    pub(crate) fn abandon(&self, key: &Key, why: String) {
        self.change_with(Some(why), |inner| {
            inner.transient.remove(key);
        });
    }

    /// Applies `f`, then reports every plugin whose status it changed.
    fn change(&self, f: impl FnOnce(&mut Inner)) {
        self.change_with(None, f)
    }

    /// As `change`; `reason` goes with a plugin that is gone.
    fn change_with(&self, reason: Option<String>, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.lock();
        let before: HashMap<Key, Status> =
            inner.settled.keys().chain(inner.transient.keys()).filter_map(|k| inner.effective(k).map(|s| (k.clone(), s))).collect();
        f(&mut inner);
        let mut changes = Vec::new();
        for key in before.keys().chain(inner.settled.keys()).chain(inner.transient.keys()) {
            let (old, new) = (before.get(key), inner.effective(key));
            if old != new.as_ref() && !changes.iter().any(|t: &Transition| &t.key == key) {
                let reason = if new.is_none() { reason.clone() } else { None };
                changes.push(Transition { key: key.clone(), previous: old.map(|s| s.state), status: new, reason });
            }
        }
        let counts: Vec<(&'static str, usize)> = STATES
            .iter()
            .map(|&state| {
                let keys = inner.settled.keys().chain(inner.transient.keys().filter(|k| !inner.settled.contains_key(*k)));
                (state, keys.filter(|k| inner.effective(k).is_some_and(|s| s.state == state)).count())
            })
            .collect();
        drop(inner);
        super::observe::plugins_by_status(&counts);
        for t in changes {
            tracing::info!(plugin = %t.key, status = t.status.as_ref().map_or("removed", |s| s.state), previous = ?t.previous, "status");
            if let Some(hook) = &self.hook
                && let Err(mpsc::error::TrySendError::Full(t)) = hook.try_send(t)
            {
                // The webhook is behind: a transition is dropped rather than a write held.
                tracing::warn!(plugin = %t.key, "status webhook queue is full; transition not sent");
            }
        }
    }
}

/// Attempts per transition, and the first and largest wait between them.
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Transitions waiting for the webhook at most; more are dropped (and logged).
pub(crate) const QUEUE: usize = 1024;

/// Posts each transition to `url` as JSON, in order, retrying a failed post (connection
/// error or non-2xx) with exponential backoff. Runs on its own task: a slow or dead webhook
/// delays only later transitions, never a call or a write.
pub(crate) async fn deliver(url: String, mut queue: mpsc::Receiver<Transition>) {
    // reqwest is built without a default crypto provider; ring is the one in the tree.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %super::error::chain(&e), "cannot make the status webhook's HTTP client; no transitions will be sent");
            return;
        }
    };
    while let Some(t) = queue.recv().await {
        let body = t.json();
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match client.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => tracing::warn!(%url, status = r.status().as_u16(), attempt, "status webhook refused a transition"),
                Err(e) => tracing::warn!(%url, error = %super::error::chain(&e), attempt, "status webhook unreachable"),
            }
            if attempt == ATTEMPTS {
                tracing::error!(%url, plugin = %t.key, "status webhook: transition dropped after {ATTEMPTS} attempts");
            } else {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }
}
