//! Pre-warmed fresh instances: per plugin, a few instances that have been instantiated (and
//! their exports bound) but never called. A call takes one, arms it with its own fuel,
//! deadline and caps, runs, and drops it; a background thread refills the queue. Every call
//! still gets an instance no other call has touched — instantiation just moves off the
//! call's critical path. With the queue empty (or disabled), calls instantiate inline.
//!
//! Cost: each warm instance holds one pool slot (the pool is sized `max_instances` plus the
//! warm cap, so warm instances never take a slot from a call; the cap is
//! `RuntimeConfig::max_warm_instances`) and the memory its instantiation touched (for a
//! Rust component, its data segments and first stack pages; copy-on-write, so typically
//! well under 1 MiB).
//!
//! A warm instance was instantiated before its call, under the plugin's load-time limits:
//! the call's fuel and deadline then cover the call only, and anything the guest printed
//! while instantiating appears in that call's logs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Weak};

use wasmtime::Store;

use crate::call::CallState;
use crate::limits::Limits;
use crate::plugin::{Bound, Loaded};

/// How long (in 1 ms steps) a refill waits for an idle core before giving up.
const IDLE_WAIT_STEPS: u32 = 20;

/// One plugin's queue.
pub(crate) struct WarmQueue {
    slots: Mutex<Vec<(Store<CallState>, Bound)>>,
    /// How many instances to keep ready; 0 disables pre-warming.
    pub(crate) target: usize,
    /// The limits warm instances are created under (the plugin's load-time limits).
    pub(crate) limits: Limits,
    refill_asked: AtomicBool,
    /// Warm instances held across the runtime (shared with every queue).
    total: Arc<AtomicUsize>,
}

impl WarmQueue {
    pub(crate) fn new(target: usize, limits: Limits, total: Arc<AtomicUsize>) -> Self {
        WarmQueue { slots: Mutex::new(Vec::new()), target, limits, refill_asked: AtomicBool::new(false), total }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Store<CallState>, Bound)>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Instances ready now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Takes a ready instance, if there is one that suits `limits` (a warm instance was
    /// created under the plugin's memory limit, so a call with a smaller one instantiates
    /// inline instead).
    pub(crate) fn take(&self, limits: &Limits) -> Option<(Store<CallState>, Bound)> {
        if self.target == 0 || limits.memory < self.limits.memory {
            return None;
        }
        let taken = self.lock().pop();
        if taken.is_some() {
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
        taken
    }

    /// Whether a refill should be requested now (only one request outstanding at a time).
    pub(crate) fn wants_refill(&self) -> bool {
        self.target > 0 && !self.refill_asked.swap(true, Ordering::AcqRel)
    }

    /// Fills the queue up to its target (called on the warmer thread), instantiating only
    /// while `idle()` says a core is free: instantiation maps and unmaps pool memory, which
    /// interrupts every core running this process (TLB shootdowns), so refilling next to a
    /// running call would slow that call down. Under sustained load the queue stays empty
    /// and calls instantiate inline.
    ///
    /// Returns [`Refill::Busy`] when it stopped for want of an idle core (the warmer retries
    /// later), else [`Refill::Done`].
    pub(crate) fn refill(&self, cap: usize, idle: impl Fn() -> bool, mut make: impl FnMut() -> wasmtime::Result<(Store<CallState>, Bound)>) -> Refill {
        self.refill_asked.store(false, Ordering::Release);
        while self.len() < self.target {
            // Wait a little for an idle core, then give up for now.
            let mut waited = 0;
            while !idle() {
                if waited >= IDLE_WAIT_STEPS {
                    return Refill::Busy;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
                waited += 1;
            }
            // The runtime-wide cap frees up only when a call takes a warm instance, and
            // that call asks for a refill itself.
            if self.total.fetch_add(1, Ordering::AcqRel) >= cap {
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Refill::Done;
            }
            match make() {
                Ok(ready) => self.lock().push(ready),
                Err(e) => {
                    self.total.fetch_sub(1, Ordering::AcqRel);
                    tracing::debug!(error = %e, "pre-warming an instance failed; calls instantiate inline");
                    return Refill::Done;
                }
            }
        }
        Refill::Done
    }
}

/// How a refill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refill {
    /// Full, or stopped for a reason a retry would not fix.
    Done,
    /// Stopped because no core was idle: worth retrying once calls quiet down.
    Busy,
}

/// How long the warmer waits before retrying refills that found no idle core.
const RETRY_BUSY: std::time::Duration = std::time::Duration::from_millis(50);

impl Drop for WarmQueue {
    fn drop(&mut self) {
        let n = self.lock().len();
        self.total.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The runtime's one background thread that refills queues.
pub(crate) struct Warmer {
    tx: Mutex<Sender<Weak<Loaded>>>,
}

impl Warmer {
    pub(crate) fn spawn() -> std::io::Result<Warmer> {
        let (tx, rx): (Sender<Weak<Loaded>>, Receiver<Weak<Loaded>>) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("plinth-warm".into()).spawn(move || {
            // Plugins whose refill found no idle core. Retried every RETRY_BUSY while
            // nothing else arrives: without this, a plugin loaded (or called) while other
            // calls kept the cores busy would stay cold until its own next call.
            let mut busy: Vec<Weak<Loaded>> = Vec::new();
            loop {
                let next = if busy.is_empty() {
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                } else {
                    rx.recv_timeout(RETRY_BUSY)
                };
                let batch = match next {
                    Ok(plugin) => vec![plugin],
                    Err(RecvTimeoutError::Timeout) => std::mem::take(&mut busy),
                    // The runtime (the only sender) is gone.
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                for weak in batch {
                    let Some(plugin) = weak.upgrade() else { continue };
                    if plugin.refill_warm() == Refill::Busy && !busy.iter().any(|b| b.ptr_eq(&weak)) {
                        busy.push(weak);
                    }
                }
            }
        })?;
        Ok(Warmer { tx: Mutex::new(tx) })
    }

    /// Asks for `plugin`'s queue to be refilled.
    pub(crate) fn request(&self, plugin: &Arc<Loaded>) {
        if plugin.warm.wants_refill() {
            let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            let _ = tx.send(Arc::downgrade(plugin));
        }
    }
}
