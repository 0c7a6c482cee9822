//! The outbox: events accepted but not yet taken by the dispatcher, on disk under the home
//! (`outbox/log.jsonl`, one event per line, and `outbox/delivered`, the byte offset up to
//! which the dispatcher took them). Appends are fsynced before `accept` returns; a delivery
//! thread hands events to the dispatcher in order, in batches, and records the new offset
//! after each batch. A crash can therefore repeat the last batch (at-least-once, with the
//! same ids) but never lose an accepted event; an append torn by a crash is cut off at the
//! next open (its poll had not been committed, so it is replayed). The outbox is bounded:
//! when `max_pending` events wait, `accept` refuses and triggers pause until it drains.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::{Dispatcher, Event};
use crate::telemetry;

/// Outbox settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Events that may wait for the dispatcher; beyond it, `accept` refuses (an empty
    /// outbox takes a batch of any size).
    pub max_pending: usize,
    /// Events handed to the dispatcher at once.
    pub batch: usize,
    /// First and largest wait before retrying a dispatcher that failed.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { max_pending: 10_000, batch: 64, first_backoff: Duration::from_millis(200), max_backoff: Duration::from_secs(30) }
    }
}

/// Why the outbox did not accept events.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    #[error(
        "the outbox is full ({pending} events wait, the limit is {limit}): the dispatcher is not taking events{}; new events wait until it does",
        last_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
    )]
    Full { pending: usize, limit: usize, last_error: Option<String> },
    #[error("cannot read or write the outbox at {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the outbox is stopped")]
    Stopped,
}

/// What the outbox holds and has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: usize,
    pub delivered: u64,
    pub dead: u64,
    /// The dispatcher's last error, while it keeps failing.
    pub last_error: Option<String>,
}

struct State {
    log: File,
    /// Bytes in the log.
    len: u64,
    /// Bytes of the log the dispatcher has taken.
    delivered: u64,
    stats: OutboxStats,
    stop: bool,
}

struct Shared {
    dir: PathBuf,
    config: OutboxConfig,
    sink: Arc<dyn Dispatcher>,
    state: Mutex<State>,
    /// Signalled on append, delivery and stop.
    changed: Condvar,
}

/// A durable, ordered, bounded queue in front of a [`Dispatcher`].
pub struct Outbox {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io { path: path.to_path_buf(), source }
}

impl Outbox {
    /// Opens the outbox in `dir` (created if missing), cuts off an append a crash tore, and
    /// starts delivering what it holds to `sink`.
    pub fn open(dir: &Path, sink: Arc<dyn Dispatcher>, config: OutboxConfig) -> Result<Outbox, OutboxError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let log_path = dir.join("log.jsonl");
        let mut log = OpenOptions::new().create(true).read(true).append(true).open(&log_path).map_err(io(&log_path))?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes).map_err(io(&log_path))?;
        // Everything after the last newline is an append cut off by a crash.
        let len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if len < bytes.len() {
            tracing::warn!(path = %log_path.display(), bytes = bytes.len() - len, "cut off an outbox append torn by a crash");
            log.set_len(len as u64).map_err(io(&log_path))?;
            log.sync_all().map_err(io(&log_path))?;
        }
        let delivered = read_offset(&dir.join("delivered"))?.min(len as u64);
        let pending = bytes[delivered as usize..len].iter().filter(|&&b| b == b'\n').count();
        metrics::gauge!(telemetry::OUTBOX_PENDING).set(pending as f64);
        let state = State { log, len: len as u64, delivered, stats: OutboxStats { pending, ..OutboxStats::default() }, stop: false };
        let shared = Arc::new(Shared { dir: dir.to_path_buf(), config, sink, state: Mutex::new(state), changed: Condvar::new() });
        let worker = shared.clone();
        let thread = std::thread::Builder::new().name("plinth-outbox".into()).spawn(move || worker.deliver()).map_err(io(dir))?;
        Ok(Outbox { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Appends `events` durably (fsynced) and returns; they are delivered in order after
    /// the events accepted before them. All or none: refused whole when they do not fit.
    pub fn accept(&self, events: &[Event]) -> Result<(), OutboxError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for e in events {
            text.push_str(
                &serde_json::to_string(e)
                    .map_err(|e| OutboxError::Io { path: self.shared.dir.clone(), source: std::io::Error::other(e) })?,
            );
            text.push('\n');
        }
        let mut state = self.shared.lock();
        if state.stop {
            return Err(OutboxError::Stopped);
        }
        let limit = self.shared.config.max_pending;
        // An empty outbox takes any batch: a poll with more events than the bound would
        // otherwise never be accepted (and its trigger never move on).
        if state.stats.pending > 0 && state.stats.pending + events.len() > limit {
            return Err(OutboxError::Full { pending: state.stats.pending, limit, last_error: state.stats.last_error.clone() });
        }
        let path = self.shared.dir.join("log.jsonl");
        let appended = append(&mut state.log, text.as_bytes()).and_then(|()| state.log.sync_data());
        if let Err(e) = appended {
            // Whatever part was written is cut off again: the log stays a list of whole lines.
            let _ = state.log.set_len(state.len);
            return Err(OutboxError::Io { path, source: e });
        }
        state.len += text.len() as u64;
        state.stats.pending += events.len();
        metrics::gauge!(telemetry::OUTBOX_PENDING).set(state.stats.pending as f64);
        drop(state);
        self.shared.changed.notify_all();
        Ok(())
    }

    pub fn stats(&self) -> OutboxStats {
        self.shared.lock().stats.clone()
    }

    /// Waits until every accepted event was taken (or set aside), for at most `timeout`;
    /// `false` if some still wait.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.stats.pending > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Stops delivering after the batch in flight; what is left stays on disk for the next
    /// open.
    pub fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `bytes` at the end of the log. With fault injection, in two halves with a fault
/// point between them: a kill there leaves a torn line, as a crash mid-write would.
fn append(log: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        let (a, b) = bytes.split_at(bytes.len() / 2);
        log.write_all(a)?;
        crate::registry::fault_point("outbox-torn").map_err(std::io::Error::other)?;
        log.write_all(b)
    }
    #[cfg(not(feature = "fault-injection"))]
    log.write_all(bytes)
}

fn read_offset(path: &Path) -> Result<u64, OutboxError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(OutboxError::Io { path: path.to_path_buf(), source: e }),
    }
}

fn write_offset(dir: &Path, offset: u64) -> Result<(), OutboxError> {
    let path = dir.join("delivered");
    crate::registry::state::atomic_write(&path, offset.to_string().as_bytes())
        .map_err(|e| OutboxError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) })
}

/// An event read back from the log, or the line that did not parse.
enum Line {
    Event(Event),
    Bad(String),
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delivery loop (the `plinth-outbox` thread).
    fn deliver(&self) {
        let log_path = self.dir.join("log.jsonl");
        let mut backoff = self.config.first_backoff;
        loop {
            let (offset, end) = {
                let mut state = self.lock();
                while state.stats.pending == 0 && !state.stop {
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                if state.stop {
                    return;
                }
                (state.delivered, state.len)
            };
            let lines = match read_lines(&log_path, offset, end, self.config.batch) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(path = %log_path.display(), error = %e, "cannot read the outbox; retrying");
                    self.pause(&mut backoff);
                    continue;
                }
            };
            if lines.is_empty() {
                // Counted as pending but not readable as whole lines: wait, do not spin.
                tracing::error!(path = %log_path.display(), offset, end, "the outbox has pending events it cannot read; retrying");
                self.pause(&mut backoff);
                continue;
            }
            let events: Vec<Event> = lines.iter().map_while(|(l, _)| if let Line::Event(e) = l { Some(e.clone()) } else { None }).collect();
            let (taken, error) = if events.is_empty() { (0, None) } else { self.sink.dispatch_batch(&events) };
            let mut consumed: u64 = lines[..taken].iter().map(|(_, n)| n).sum();
            let mut dead = 0;
            let failure = match (&error, lines.get(taken)) {
                // A line that does not parse, or an event the dispatcher refuses for good:
                // set aside, so the events after it are not held up forever.
                (None, Some((Line::Bad(text), n))) => {
                    self.dead_letter(text, "not an event");
                    consumed += n;
                    dead = 1;
                    None
                }
                (Some(e), Some((Line::Event(ev), n))) if !e.retryable => {
                    self.dead_letter(&serde_json::to_string(ev).unwrap_or_default(), &e.message);
                    consumed += n;
                    dead = 1;
                    None
                }
                (Some(e), _) => Some(e.message.clone()),
                (None, _) => None,
            };
            {
                let mut state = self.lock();
                state.delivered += consumed;
                state.stats.pending -= taken + dead;
                state.stats.delivered += taken as u64;
                state.stats.dead += dead as u64;
                state.stats.last_error = failure.clone();
                if state.delivered == state.len && state.len > 0 {
                    // All taken: start the log afresh (the offset file follows; at open an
                    // offset past the end counts as the end).
                    if state.log.set_len(0).is_ok() {
                        state.len = 0;
                        state.delivered = 0;
                    }
                }
                if let Err(e) = write_offset(&self.dir, state.delivered) {
                    tracing::error!(error = %e, "cannot record the outbox's delivered offset; events may be delivered again");
                }
                metrics::gauge!(telemetry::OUTBOX_PENDING).set(state.stats.pending as f64);
            }
            metrics::counter!(telemetry::EVENTS_DELIVERED).increment(taken as u64);
            metrics::counter!(telemetry::EVENTS_DEAD).increment(dead as u64);
            self.changed.notify_all();
            match failure {
                Some(message) => {
                    tracing::warn!(error = %message, retry_in = ?backoff, "the dispatcher did not take events; retrying");
                    self.pause(&mut backoff);
                }
                None => backoff = self.config.first_backoff,
            }
        }
    }

    /// Waits `backoff` (or until stopped) and doubles it, up to the cap.
    fn pause(&self, backoff: &mut Duration) {
        let state = self.lock();
        if !state.stop {
            let _ = self.changed.wait_timeout_while(state, *backoff, |s| !s.stop);
        }
        *backoff = (*backoff * 2).min(self.config.max_backoff);
    }

    fn dead_letter(&self, line: &str, why: &str) {
        let path = self.dir.join("dead.jsonl");
        tracing::error!(path = %path.display(), reason = why, "an event was refused for good; set aside in the dead letters");
        let record = serde_json::json!({"reason": why, "event": line});
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{record}\n").as_bytes()).and_then(|()| f.sync_data()));
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "cannot write the dead letters");
        }
    }
}

/// Up to `max` lines of the log between `offset` and `end`, each with its length in bytes.
fn read_lines(path: &Path, offset: u64, end: u64, max: usize) -> std::io::Result<Vec<(Line, u64)>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file.take(end - offset));
    let mut out = Vec::new();
    let mut line = String::new();
    while out.len() < max {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        let parsed = match serde_json::from_str::<Event>(line.trim_end()) {
            Ok(e) => Line::Event(e),
            Err(_) => Line::Bad(line.trim_end().to_string()),
        };
        out.push((parsed, n as u64));
    }
    Ok(out)
}
