//! The trigger scheduler: polls every trigger export of every plugin in a [`Registry`], per
//! tenant, on its schedule, and keeps the cursors.
//!
//! - **When.** The first poll of a trigger is made when the scheduler first sees it (at
//!   start, or when its plugin is installed or enabled); the next one after the delay the
//!   poll asked for (`next-poll-ms`), else after the trigger's interval (the operator's
//!   `[plugin.triggers.NAME] interval_ms` in plugins.toml, else the manifest's
//!   `[triggers.NAME]`), else after the default interval, never sooner than the
//!   floor, plus up to 10 % jitter so that triggers started together drift apart.
//! - **Cursors.** Each poll gets the last committed cursor; its events go to the
//!   [`Outbox`], and only once the outbox has accepted them (on disk) is the poll's new
//!   cursor committed. A crash between the two replays the poll: events are delivered at
//!   least once, with the same ids, never skipped.
//! - **Failures.** A failed poll is retried after an exponential backoff (capped); a
//!   permanent error, or several failures in a row, puts the trigger in `error` with the
//!   reason, and the other triggers run on. A full outbox pauses the trigger (its cursor is
//!   not committed) until the dispatcher catches up.
//! - **One at a time.** A trigger's next poll is scheduled only when its previous one has
//!   finished; polls run on the scheduler's own threads (never on an async reactor), each
//!   under the plugin's limits like any call.
//! - **Fixture mode.** When the plugin's config holds `test_events` (a list of
//!   `{"data": …}`, one per poll), those are the polls: each runs with its `data`, the
//!   cursor carried and committed and the events dispatched as usual, back to back; then
//!   the trigger stops (until its plugin is disabled and enabled again).
//! - **Reloads.** Each poll resolves the plugin anew, so an update takes effect from the
//!   next poll, after the one in flight; a disabled or uninstalled plugin's triggers stop
//!   and, enabled again, resume from their stored cursors.

mod cursor;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use cursor::Cursors;

use crate::dispatch::{Event, Outbox, OutboxError, Source};
use crate::registry::{Key, Registry};
use crate::telemetry;
use crate::types::{CallContext, Json, Kind};

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Delay between polls when a poll does not ask for one.
    pub default_interval: Duration,
    /// The shortest delay between two polls of one trigger, whatever it asks.
    pub floor: Duration,
    /// Polls that may run at once.
    pub workers: usize,
    /// Backoff after a failed poll: first and largest.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Failures in a row after which a retryable error also counts as `error`.
    pub failures_for_error: u32,
    /// How soon a trigger paused by a full outbox tries again.
    pub full_retry: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            default_interval: Duration::from_secs(60),
            floor: Duration::from_millis(100),
            workers: 2,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            failures_for_error: 3,
            full_retry: Duration::from_secs(1),
        }
    }
}

/// The state of one trigger, as the scheduler last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerStatus {
    pub key: Key,
    pub trigger: String,
    /// `polling` (fine), `paused` (the outbox is full) or `error`.
    pub state: &'static str,
    pub last_error: Option<String>,
    /// Failed polls in a row.
    pub failures: u32,
    /// Polls made and events accepted since the scheduler started.
    pub polls: u64,
    pub events: u64,
    /// The delay before the next poll.
    pub next_in: Duration,
}

type LoopKey = (Key, String);

struct Loop {
    due: Instant,
    running: bool,
    /// Still provided by a loaded plugin (cleared on sync; a running poll's loop is
    /// removed when it ends).
    present: bool,
    /// Fixture mode: the next entry of the plugin's `test_events`, and whether all ran.
    fixture_at: usize,
    done: bool,
    status: TriggerStatus,
}

#[derive(Default)]
struct Sched {
    loops: BTreeMap<LoopKey, Loop>,
    queue: VecDeque<LoopKey>,
    stop: bool,
}

struct Shared {
    registry: Arc<Registry>,
    cursors: Cursors,
    outbox: Arc<Outbox>,
    config: SchedulerConfig,
    state: Mutex<Sched>,
    /// Signalled when work is queued, a poll ends, or on stop.
    changed: Condvar,
}

/// A running scheduler; [`Scheduler::stop`] (or drop) ends it after the polls in flight.
pub struct Scheduler {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Scheduler {
    /// Starts polling the triggers of `registry`'s plugins, keeping cursors in `cursors`
    /// and handing events to `outbox`.
    pub fn start(registry: Arc<Registry>, cursors: Cursors, outbox: Arc<Outbox>, config: SchedulerConfig) -> std::io::Result<Scheduler> {
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared { registry, cursors, outbox, config, state: Mutex::new(Sched::default()), changed: Condvar::new() });
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(std::thread::Builder::new().name("plinth-schedule".into()).spawn(move || s.coordinate())?);
        for i in 0..workers {
            let s = shared.clone();
            threads.push(std::thread::Builder::new().name(format!("plinth-poll-{i}")).spawn(move || s.work())?);
        }
        Ok(Scheduler { shared, threads })
    }

    /// Every trigger the scheduler runs, by plugin and name.
    pub fn statuses(&self) -> Vec<TriggerStatus> {
        let now = Instant::now();
        self.shared
            .lock()
            .loops
            .values()
            .filter(|l| l.present)
            .map(|l| TriggerStatus { next_in: l.due.saturating_duration_since(now), ..l.status.clone() })
            .collect()
    }

    /// The triggers of plugin `key` only (a range of the map, not a copy of every loop).
    pub fn statuses_of(&self, key: &Key) -> Vec<TriggerStatus> {
        let now = Instant::now();
        let start = (key.clone(), String::new());
        self.shared
            .lock()
            .loops
            .range(start..)
            .take_while(|((k, _), _)| k == key)
            .filter(|(_, l)| l.present)
            .map(|(_, l)| TriggerStatus { next_in: l.due.saturating_duration_since(now), ..l.status.clone() })
            .collect()
    }

    /// Stops scheduling and waits for the polls in flight (each ends by its deadline).
    pub fn stop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often the scheduler looks for installed, updated and removed plugins.
const SYNC_EVERY: Duration = Duration::from_millis(250);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sched> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `plinth-schedule` thread: keeps the loops in line with the registry and queues
    /// the due ones for the workers.
    fn coordinate(&self) {
        let mut last_sync: Option<Instant> = None;
        loop {
            if last_sync.is_none_or(|t| t.elapsed() >= SYNC_EVERY) {
                self.sync();
                last_sync = Some(Instant::now());
            }
            let mut state = self.lock();
            if state.stop {
                return;
            }
            let now = Instant::now();
            let mut next = now + SYNC_EVERY;
            let mut queued = false;
            let Sched { loops, queue, .. } = &mut *state;
            for (k, l) in loops.iter_mut() {
                if !l.present || l.running || l.done {
                    continue;
                }
                if l.due <= now {
                    l.running = true;
                    queue.push_back(k.clone());
                    queued = true;
                } else {
                    next = next.min(l.due);
                }
            }
            if queued {
                self.changed.notify_all();
            }
            let wait = next.saturating_duration_since(Instant::now());
            let _ = self.changed.wait_timeout(state, wait);
        }
    }

    /// Adds loops for triggers that appeared, and marks those that went away.
    fn sync(&self) {
        let mut seen: Vec<LoopKey> = Vec::new();
        for installed in self.registry.list() {
            for spec in installed.plugin.specs().of(Kind::Trigger) {
                seen.push((installed.key.clone(), spec.name.clone()));
            }
        }
        let mut state = self.lock();
        let now = Instant::now();
        for k in &seen {
            let l = state.loops.entry(k.clone()).or_insert_with(|| Loop {
                due: now,
                running: false,
                present: true,
                fixture_at: 0,
                done: false,
                status: TriggerStatus {
                    key: k.0.clone(),
                    trigger: k.1.clone(),
                    state: "polling",
                    last_error: None,
                    failures: 0,
                    polls: 0,
                    events: 0,
                    next_in: Duration::ZERO,
                },
            });
            if !l.present {
                // Enabled again: poll at once, from the stored cursor.
                l.present = true;
                l.due = now;
                (l.fixture_at, l.done) = (0, false);
            }
        }
        state.loops.retain(|k, l| {
            l.present = seen.contains(k);
            l.present || l.running
        });
    }

    /// A `plinth-poll-N` thread: runs queued polls one after another.
    fn work(&self) {
        loop {
            let key = {
                let mut state = self.lock();
                loop {
                    if state.stop {
                        return;
                    }
                    if let Some(k) = state.queue.pop_front() {
                        break k;
                    }
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            };
            let fixture_at = self.lock().loops.get(&key).map_or(0, |l| l.fixture_at);
            let outcome = self.poll(&key.0, &key.1, fixture_at);
            let mut state = self.lock();
            if let Some(l) = state.loops.get_mut(&key) {
                l.running = false;
                match &outcome {
                    Polled::Ok { fixture: true, .. } => l.fixture_at += 1,
                    Polled::FixtureDone => l.done = true,
                    _ => {}
                }
                l.due = Instant::now() + self.delay(&outcome, &mut l.status);
                if !l.present {
                    state.loops.remove(&key);
                }
            }
            drop(state);
            self.changed.notify_all();
        }
    }

    /// The delay before the next poll after `outcome`, recorded in `status`.
    fn delay(&self, outcome: &Polled, status: &mut TriggerStatus) -> Duration {
        let c = &self.config;
        match outcome {
            Polled::Ok { events, next, fixture } => {
                status.polls += 1;
                status.events += *events as u64;
                status.state = "polling";
                status.last_error = None;
                status.failures = 0;
                if *fixture {
                    // Fixture entries run back to back.
                    return c.floor;
                }
                jitter(next.unwrap_or(c.default_interval).max(c.floor))
            }
            Polled::Full(why) => {
                status.state = "paused";
                status.last_error = Some(why.clone());
                c.full_retry
            }
            Polled::Failed { why, retryable } => {
                status.polls += 1;
                status.failures += 1;
                status.last_error = Some(why.clone());
                status.state = if !retryable || status.failures >= c.failures_for_error { "error" } else { "polling" };
                let exp = c.first_backoff.saturating_mul(1 << (status.failures - 1).min(16));
                exp.min(c.max_backoff).max(c.floor)
            }
            Polled::Gone | Polled::FixtureDone => c.floor,
        }
    }

    /// One poll of `trigger` of `key`: the plugin's current generation, the stored cursor,
    /// the events into the outbox, then the new cursor committed.
    fn poll(&self, key: &Key, trigger: &str, fixture_at: usize) -> Polled {
        let Some(installed) = self.registry.get(key) else { return Polled::Gone };
        // Fixture mode: the config's `test_events` are the polls, then the trigger stops.
        let fixture = test_events(&installed.config);
        let data = match &fixture {
            Some(entries) => match entries.get(fixture_at) {
                Some(entry) => Json::from(entry.get("data").cloned().unwrap_or(serde_json::Value::Null)),
                None => return Polled::FixtureDone,
            },
            None => Json::from(serde_json::Value::Null),
        };
        let cursor = match self.cursors.get(key, trigger) {
            Ok(c) => c,
            Err(e) => return Polled::failed(format!("cannot read the cursor: {e}"), true),
        };
        let ctx = CallContext { tenant: key.tenant.clone(), config: installed.config.clone(), data, ..CallContext::default() };
        let label = |outcome: &'static str| {
            metrics::counter!(telemetry::POLLS, "plugin" => key.name.clone(), "trigger" => trigger.to_string(), "outcome" => outcome)
                .increment(1)
        };
        let out = match installed.plugin.poll_trigger(trigger, &ctx, cursor.as_deref()) {
            Ok(out) => out.output,
            Err(e) => {
                label("error");
                tracing::warn!(plugin = %key, trigger, error = %crate::error::chain(&e), "trigger poll failed");
                return Polled::failed(crate::error::chain(&e), e.retryable());
            }
        };
        let source = Source { tenant: key.tenant.clone(), plugin: key.name.clone(), kind: Kind::Trigger, name: trigger.to_string() };
        let events: Vec<Event> = out
            .events
            .iter()
            .enumerate()
            .map(|(i, e): (usize, &Json)| Event::new(Event::poll_id(&source, cursor.as_deref(), i), source.clone(), trigger.to_string(), e))
            .collect();
        match self.outbox.accept(&events) {
            Ok(()) => {}
            Err(e @ OutboxError::Full { .. }) => {
                label("outbox_full");
                return Polled::Full(e.to_string());
            }
            Err(e) => {
                label("error");
                return Polled::failed(crate::error::chain(&e), true);
            }
        }
        // A crash here (test-only fault point) replays this poll after the restart.
        if !events.is_empty()
            && let Err(e) = crate::registry::fault_point("poll-accepted")
        {
            return Polled::failed(e.to_string(), true);
        }
        // Accepted: only now may the next poll start after these events.
        if let Some(next) = &out.cursor
            && cursor.as_ref() != Some(next)
            && let Err(e) = self.cursors.commit(key, trigger, next)
        {
            // The events are out; the next poll replays this one (same ids).
            label("error");
            return Polled::failed(format!("cannot commit the cursor: {e}"), true);
        }
        label("ok");
        let next = out.next_poll.or_else(|| installed.settings.intervals.get(trigger).copied());
        Polled::Ok { events: events.len(), next, fixture: fixture.is_some() }
    }
}

/// A plugin config's `test_events` (fixture mode), if it has them.
pub fn test_events(config: &Json) -> Option<Vec<serde_json::Value>> {
    // Most configs have none: no parse for them.
    if !config.as_str().contains("\"test_events\"") {
        return None;
    }
    match config.to_value().ok()?.get_mut("test_events")?.take() {
        serde_json::Value::Array(entries) => Some(entries),
        _ => None,
    }
}

/// What one poll came to.
enum Polled {
    Ok {
        events: usize,
        next: Option<Duration>,
        fixture: bool,
    },
    /// Every fixture entry was polled: the trigger stops.
    FixtureDone,
    /// The outbox is full: nothing committed, try again soon.
    Full(String),
    Failed {
        why: String,
        retryable: bool,
    },
    /// The plugin went away.
    Gone,
}

impl Polled {
    fn failed(why: String, retryable: bool) -> Polled {
        Polled::Failed { why, retryable }
    }
}

/// `d` plus up to 10 % more, so triggers started together drift apart.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(d.as_nanos() as u64);
    let spread = d.as_nanos() as u64 / 10;
    if spread == 0 { d } else { d + Duration::from_nanos(h.finish() % spread) }
}
