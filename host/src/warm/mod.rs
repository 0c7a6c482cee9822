//! Pre-warmed fresh instances: per plugin, a few instances that have been instantiated (and
//! their exports bound) but never called. A call takes one, arms it with its own fuel,
//! deadline and caps, runs, and drops it (or leaves it to the background thread to drop, see
//! below); a background thread refills the queue. Every call
//! still gets an instance no other call has touched — instantiation just moves off the
//! call's critical path. With the queue empty (or disabled), calls instantiate inline.
//!
//! Cost: each warm instance holds one pool slot (the pool is sized `max_instances` plus the
//! warm cap plus [`RETIRE_MAX`], so warm instances never take a slot from a call; the cap is
//! `RuntimeConfig::max_warm_instances`) and the memory its instantiation touched (for a
//! Rust component, its data segments and first stack pages; copy-on-write, so typically
//! well under 1 MiB).
//!
//! A warm instance was instantiated before its call, under the plugin's load-time limits:
//! the call's fuel and deadline then cover the call only, and anything the guest printed
//! while instantiating appears in that call's logs.
//!
//! The same background thread also drops finished calls' stores when a core is idle
//! ([`Warmer::finish`]): dropping a store resets its pool slot (5–12 µs measured for a Rust
//! tool), work the caller need not wait for. It never wakes up for that alone: waking a
//! parked thread costs the caller more than the drop (see [`LINGER`]).
//!
//! Likewise it runs [`Job`]s: work a call need not wait for because it cannot change the
//! call's outcome ([`Warmer::defer`]; a contract check that only warns).

mod budget;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;

use crate::instance::Ready;
use crate::limits::Limits;
use crate::store::CallState;

pub(crate) use budget::Budget;
use budget::Demand;
pub(crate) use budget::Holders;

/// What the background thread refills: a plugin's warm queue and the means to make its
/// instances. Implemented by the loaded plugin (which sits above this module); the thread
/// holds it weakly, so a plugin dropped by its users is not kept alive by a pending refill.
pub(crate) trait Refill: Send + Sync {
    /// Tops the queue up (see [`WarmQueue::refill`]), taking budget from `holders` if it
    /// is spent and this queue's demand is worth more.
    fn refill(&self, holders: &mut Holders) -> Filled;
    /// The plugin's queue.
    fn queue(&self) -> &WarmQueue;
}

/// How long (in 1 ms steps) a refill waits for an idle core before giving up.
const IDLE_WAIT_STEPS: u32 = 20;

/// What a queue's lock guards: the ready instances, and the demand calls add to as they
/// take one (one lock per call for both).
#[derive(Default)]
struct Slots {
    ready: Vec<(Store<CallState>, Ready)>,
    demand: Demand,
}

/// One plugin's queue.
pub(crate) struct WarmQueue {
    slots: Mutex<Slots>,
    /// How many instances to keep ready; 0 disables pre-warming.
    pub(crate) target: usize,
    /// The limits warm instances are created under (the plugin's load-time limits).
    pub(crate) limits: Limits,
    refill_asked: AtomicBool,
    /// The runtime-wide budget (shared with every queue).
    budget: Arc<Budget>,
    /// The plugin this queue belongs to, for the background thread.
    owner: Weak<dyn Refill>,
}

impl WarmQueue {
    pub(crate) fn new(target: usize, limits: Limits, budget: Arc<Budget>, owner: Weak<dyn Refill>) -> Self {
        WarmQueue { slots: Mutex::default(), target, limits, refill_asked: AtomicBool::new(false), budget, owner }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Instances ready now.
    pub(crate) fn len(&self) -> usize {
        self.lock().ready.len()
    }

    /// Its demand at tick `now`, and how many instances it holds.
    fn demand(&self, now: u64) -> (f64, usize) {
        let slots = self.lock();
        (slots.demand.at(now, &self.budget), slots.ready.len())
    }

    /// Gives one ready instance back to the budget (dropped here, outside the lock).
    /// `false` if none was left.
    fn evict(&self) -> bool {
        let taken = self.lock().ready.pop();
        let evicted = taken.is_some();
        if evicted {
            self.budget.release(1);
        }
        drop(taken);
        evicted
    }

    /// Takes a ready instance, if there is one that suits `limits` (a warm instance was
    /// created under the plugin's memory limit, so a call with a smaller one instantiates
    /// inline instead).
    pub(crate) fn take(&self, limits: &Limits) -> Option<(Store<CallState>, Ready)> {
        if self.target == 0 || limits.memory < self.limits.memory {
            return None;
        }
        let now = self.budget.now();
        let taken = {
            let mut slots = self.lock();
            slots.demand.count(now, &self.budget);
            slots.ready.pop()
        };
        if taken.is_some() {
            self.budget.release(1);
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
    /// and calls instantiate inline. When the runtime-wide budget is spent, an instance is
    /// taken from a queue whose demand is worth less (see [`budget`]), or the refill stops.
    ///
    /// Returns [`Filled::Busy`] when it stopped for want of an idle core (the warmer retries
    /// later), else [`Filled::Done`].
    pub(crate) fn refill(
        &self,
        holders: &mut Holders,
        idle: impl Fn() -> bool,
        mut make: impl FnMut() -> wasmtime::Result<(Store<CallState>, Ready)>,
    ) -> Filled {
        self.refill_asked.store(false, Ordering::Release);
        // Each round makes an instance or evicts one for it; bounded so that instances
        // calls keep taking cannot keep this thread here.
        for _ in 0..self.target.saturating_mul(4) {
            let (demand, held) = self.demand(self.budget.now());
            if held >= self.target {
                break;
            }
            // Wait a little for an idle core, then give up for now.
            let mut waited = 0;
            while !idle() {
                if waited >= IDLE_WAIT_STEPS {
                    return Filled::Busy;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
                waited += 1;
            }
            if !self.budget.reserve() {
                // Spent: the next instance is worth `demand / (held + 1)` to this queue.
                if holders.evict_for(&self.owner, demand / (held + 1) as f64, &self.budget) {
                    continue;
                }
                // Nothing worth less: this queue asks again on its next call.
                return Filled::Done;
            }
            match make() {
                Ok(ready) => {
                    self.lock().ready.push(ready);
                    holders.add(&self.owner);
                }
                Err(e) => {
                    self.budget.release(1);
                    tracing::debug!(error = %e, "pre-warming an instance failed; calls instantiate inline");
                    return Filled::Done;
                }
            }
        }
        Filled::Done
    }
}

/// How a refill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filled {
    /// Full, or stopped for a reason a retry would not fix.
    Done,
    /// Stopped because no core was idle: worth retrying once calls quiet down.
    Busy,
}

/// How long the warmer waits before retrying refills that found no idle core.
const RETRY_BUSY: Duration = Duration::from_millis(50);

/// How long the background thread stays awake after its last piece of work, looking for
/// more every [`POLL`]. While it is awake a call hands it work with a mutex push, no system
/// call; waking a parked thread (a futex wake that interrupts an idle core) cost the caller
/// about 7 µs on the 2-core VM of bench/REPORT.md — more than the refill request or the
/// store drop it hands over. Calls closer together than this never pay for a wake-up.
const LINGER: Duration = Duration::from_millis(20);

/// How often the awake background thread looks for work. Bounds how long a finished call's
/// store waits to be dropped and a refill to start; costs the idle core a wake-up per poll,
/// for [`LINGER`] after the last call.
const POLL: Duration = Duration::from_micros(200);

/// Finished calls' stores that may wait for the background thread to drop them. Each holds
/// its pool slot until then, so the pool has this many slots on top of `max_instances` and
/// the warm cap (a call never finds the pool full because of them).
pub(crate) const RETIRE_MAX: usize = 2;

/// Work a call hands to the background thread (see [`Warmer::defer`]).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Jobs that may wait for the background thread; past this, calls run theirs inline, so a
/// flood of calls cannot pile up work (and the outputs a job holds) faster than it is done.
pub(crate) const JOBS_MAX: usize = 64;

/// How long dropping the runtime waits for jobs the background thread is running, so
/// that a short-lived process (`plinth invoke`) still prints what they log.
const JOBS_DRAIN: Duration = Duration::from_secs(2);

impl Drop for WarmQueue {
    fn drop(&mut self) {
        let n = self.lock().ready.len();
        self.budget.release(n);
    }
}

/// Work handed to the background thread.
#[derive(Default)]
struct Pending {
    /// Plugins whose queue wants topping up.
    refills: Vec<Weak<dyn Refill>>,
    /// Finished calls' stores, to drop.
    retired: Vec<Store<CallState>>,
    /// Deferred work, run in order.
    jobs: Vec<Job>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// The thread is parked (not polling): handing it work needs an `unpark`.
    parked: AtomicBool,
    stop: AtomicBool,
    /// Jobs the thread has taken and not finished (set under the `pending` lock).
    running_jobs: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The runtime's one background thread: refills pre-warm queues and drops finished calls'
/// stores.
pub(crate) struct Warmer {
    shared: Arc<Shared>,
    thread: std::thread::Thread,
}

impl Warmer {
    pub(crate) fn spawn() -> std::io::Result<Warmer> {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            running_jobs: AtomicUsize::new(0),
        });
        let worker = shared.clone();
        let handle = std::thread::Builder::new().name("plinth-warm".into()).spawn(move || work(&worker))?;
        Ok(Warmer { shared, thread: handle.thread().clone() })
    }

    /// Asks for `queue` to be refilled.
    pub(crate) fn request(&self, queue: &WarmQueue) {
        if queue.wants_refill() {
            self.shared.lock().refills.push(queue.owner.clone());
            self.wake();
        }
    }

    /// Ends a call of the plugin that owns `queue`: drops `store` — on the background thread when a core is
    /// idle (`idle`), the thread is awake or being woken anyway, and fewer than
    /// [`RETIRE_MAX`] stores wait; else here — and asks for a refill.
    pub(crate) fn finish(&self, queue: &WarmQueue, store: Store<CallState>, idle: bool) {
        let refill = queue.wants_refill();
        if !refill && (!idle || self.shared.parked.load(Ordering::SeqCst)) {
            // Nothing to hand over: under load (no idle core) every call ends here, without
            // touching the shared lock.
            drop(store);
            return;
        }
        let mut pending = self.shared.lock();
        if refill {
            pending.refills.push(queue.owner.clone());
        }
        let awake = refill || !self.shared.parked.load(Ordering::SeqCst);
        let inline = if idle && awake && pending.retired.len() < RETIRE_MAX {
            pending.retired.push(store);
            None
        } else {
            Some(store)
        };
        drop(pending);
        if refill {
            self.wake();
        }
        drop(inline);
    }

    /// Hands `job` to the background thread when a core is idle (`idle`), the thread is
    /// awake or being woken anyway (a refill is pending), and fewer than [`JOBS_MAX`] wait;
    /// else gives it back, for the caller to run. Never wakes the thread for a job alone:
    /// that costs the caller more than the jobs this is for (see [`LINGER`]).
    pub(crate) fn defer(&self, job: Job, idle: bool) -> Result<(), Job> {
        if !idle {
            return Err(job);
        }
        let mut pending = self.shared.lock();
        // Read under the lock: see `wake` for why a job pushed here is always seen.
        let awake = !self.shared.parked.load(Ordering::SeqCst) || !pending.refills.is_empty();
        if !awake || pending.jobs.len() >= JOBS_MAX || self.shared.stop.load(Ordering::SeqCst) {
            return Err(job);
        }
        pending.jobs.push(job);
        Ok(())
    }

    /// Unparks the thread if it is parked. Pairs with the check in [`work`]: the thread
    /// sets `parked` before its last look at the pending work, a caller pushes work before
    /// reading `parked`, so one of the two always sees the other.
    fn wake(&self) {
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

impl Drop for Warmer {
    /// Stops the thread, and sees the jobs handed to it done: those it has not taken run
    /// here, those it is running are waited for (up to [`JOBS_DRAIN`]; not when this drop
    /// runs on that thread itself, as when its refill held a plugin's last handle).
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        let jobs = std::mem::take(&mut self.shared.lock().jobs);
        jobs.into_iter().for_each(run_job);
        if std::thread::current().id() != self.thread.id() {
            let until = Instant::now() + JOBS_DRAIN;
            while self.shared.running_jobs.load(Ordering::SeqCst) > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

/// Runs a job; one that panics is contained, so the thread goes on refilling.
fn run_job(job: Job) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
}

/// The background thread's loop.
fn work(shared: &Shared) {
    // Plugins whose refill found no idle core, retried every RETRY_BUSY: without this, a
    // plugin loaded (or called) while other calls kept the cores busy would stay cold until
    // its own next call.
    let mut busy: Vec<Weak<dyn Refill>> = Vec::new();
    let mut last_retry = Instant::now();
    let mut last_work = Instant::now();
    let mut taken = Pending::default();
    let mut holders = Holders::default();
    while !shared.stop.load(Ordering::SeqCst) {
        {
            let mut pending = shared.lock();
            std::mem::swap(&mut *pending, &mut taken);
            shared.running_jobs.store(taken.jobs.len(), Ordering::SeqCst);
        }
        let worked = !taken.refills.is_empty() || !taken.retired.is_empty() || !taken.jobs.is_empty();
        // Drops first: that frees pool slots for the refills.
        taken.retired.clear();
        // Then jobs (a deferred check's warning should not wait behind refills).
        taken.jobs.drain(..).for_each(run_job);
        shared.running_jobs.store(0, Ordering::SeqCst);
        if !busy.is_empty() && last_retry.elapsed() >= RETRY_BUSY {
            taken.refills.append(&mut busy);
            last_retry = Instant::now();
        }
        for weak in taken.refills.drain(..) {
            let Some(plugin) = weak.upgrade() else { continue };
            if plugin.refill(&mut holders) == Filled::Busy && !busy.iter().any(|b| b.ptr_eq(&weak)) {
                busy.push(weak);
            }
        }
        if worked {
            last_work = Instant::now();
        }
        if last_work.elapsed() < LINGER {
            std::thread::park_timeout(POLL);
        } else if !busy.is_empty() {
            std::thread::park_timeout(RETRY_BUSY.saturating_sub(last_retry.elapsed()).max(POLL));
        } else {
            shared.parked.store(true, Ordering::SeqCst);
            let empty = {
                let p = shared.lock();
                p.refills.is_empty() && p.retired.is_empty() && p.jobs.is_empty()
            };
            if empty && !shared.stop.load(Ordering::SeqCst) {
                std::thread::park();
            }
            shared.parked.store(false, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Waits (up to 5 s) for `cond`.
    fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn counting(n: &Arc<AtomicU32>) -> Job {
        let n = n.clone();
        Box::new(move || {
            n.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Makes the thread "being woken": a refill (of a plugin already gone) is pending.
    fn pending_refill(warmer: &Warmer) {
        warmer.shared.lock().refills.push(Weak::<Dummy>::new());
    }

    #[test]
    fn jobs_ride_along_with_a_wake_up_and_come_back_otherwise() {
        let warmer = Warmer::spawn().unwrap();
        let ran = Arc::new(AtomicU32::new(0));
        assert!(warmer.defer(counting(&ran), false).is_err(), "no idle core: the caller runs it");
        wait_for("the thread to park", || warmer.shared.parked.load(Ordering::SeqCst));
        assert!(warmer.defer(counting(&ran), true).is_err(), "a parked thread is not woken for a job alone");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a job given back is not run by the thread");
        // A refill is pending: the job goes with it. A hostile job's panic is contained.
        pending_refill(&warmer);
        assert!(warmer.defer(Box::new(|| panic!("a hostile job")), true).is_ok());
        assert!(warmer.defer(counting(&ran), true).is_ok());
        warmer.wake();
        wait_for("the job after the panicking one", || ran.load(Ordering::SeqCst) == 1);
        // And the thread still serves later work.
        wait_for("the thread to park again", || warmer.shared.parked.load(Ordering::SeqCst));
        pending_refill(&warmer);
        assert!(warmer.defer(counting(&ran), true).is_ok());
        warmer.wake();
        wait_for("a later job", || ran.load(Ordering::SeqCst) == 2);
    }

    #[test]
    fn at_most_jobs_max_wait() {
        let warmer = Warmer::spawn().unwrap();
        let ran = Arc::new(AtomicU32::new(0));
        wait_for("the thread to park", || warmer.shared.parked.load(Ordering::SeqCst));
        pending_refill(&warmer);
        let taken = (0..JOBS_MAX + 5).filter(|_| warmer.defer(counting(&ran), true).is_ok()).count();
        assert_eq!(taken, JOBS_MAX);
        warmer.wake();
        wait_for("the jobs taken to run", || ran.load(Ordering::SeqCst) == JOBS_MAX as u32);
    }

    #[test]
    fn dropping_the_warmer_sees_its_jobs_done() {
        let warmer = Warmer::spawn().unwrap();
        let ran = Arc::new(AtomicU32::new(0));
        let slow = {
            let ran = ran.clone();
            Box::new(move || {
                std::thread::sleep(Duration::from_millis(50));
                ran.fetch_add(1, Ordering::SeqCst);
            })
        };
        pending_refill(&warmer);
        assert!(warmer.defer(slow, true).is_ok());
        for _ in 0..3 {
            let _ = warmer.defer(counting(&ran), true).map_err(|job| job());
        }
        drop(warmer);
        assert_eq!(ran.load(Ordering::SeqCst), 4, "every job ran before the drop returned");
    }

    /// A refill target that is never alive (what a dropped plugin leaves behind).
    struct Dummy(WarmQueue);
    impl Refill for Dummy {
        fn refill(&self, _: &mut Holders) -> Filled {
            Filled::Done
        }
        fn queue(&self) -> &WarmQueue {
            &self.0
        }
    }
}
