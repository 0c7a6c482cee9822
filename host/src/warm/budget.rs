//! The runtime-wide warm budget, and where it goes: to the plugins calls are made to.
//!
//! Warm instances are capped across the runtime ([`crate::RuntimeConfig::max_warm_instances`]).
//! Before issue 17 the cap went to whichever plugins filled their queues first and stayed
//! there: with 1,000 plugins, the first 8 loaded held all 16 instances whether or not
//! anyone called them, and 1.3 % of Zipf(1.1)-distributed calls took the warm path (the
//! report's "1,000 plugins" section; about 82 % now).
//!
//! Now each queue counts its calls as a *demand* that halves every [`HALF_LIFE`], and a
//! queue that wants an instance while the budget is spent takes one from the holder whose
//! last instance is worth least: a queue holding `k` instances with demand `d` values its
//! `k`-th at `d / k`, and a queue wanting its `k+1`-th offers `d / (k + 1)`. The hottest
//! plugins end up with one instance each, the very hottest with their full target. Demand
//! is counted under the queue's lock a call takes anyway, on a clock the epoch ticker
//! advances (no clock read on the call path); eviction runs on the background thread.

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::Refill;

/// How fast demand is forgotten: a plugin that stops being called loses half its claim on
/// the budget every 10 s. Shorter follows shifts in traffic faster; longer tells apart
/// plugins called a few times a second, which a short window sees as noise.
pub(crate) const HALF_LIFE: Duration = Duration::from_secs(10);

/// The runtime-wide budget: the cap, how many warm instances exist, and the clock demand
/// ages by.
pub(crate) struct Budget {
    pub(crate) cap: usize,
    total: AtomicUsize,
    /// Epoch ticks since the runtime started, bumped by the epoch ticker thread.
    ticks: AtomicU64,
    /// [`HALF_LIFE`] in ticks.
    half_life: f64,
}

impl Budget {
    pub(crate) fn new(cap: usize, tick: Duration) -> Budget {
        let half_life = (HALF_LIFE.as_secs_f64() / tick.as_secs_f64().max(1e-6)).max(1.0);
        Budget { cap, total: AtomicUsize::new(0), ticks: AtomicU64::new(0), half_life }
    }

    /// Called by the epoch ticker once per tick.
    pub(crate) fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn now(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Takes a unit of the budget for an instance about to be made; `false` when spent.
    pub(crate) fn reserve(&self) -> bool {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back `n` units (instances taken by calls, evicted, or dropped with their queue).
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.total.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// A queue's demand: its calls, halving every [`HALF_LIFE`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Demand {
    value: f64,
    /// The tick `value` was last brought up to date at.
    at: u64,
}

impl Demand {
    /// The demand at tick `now`.
    pub(crate) fn at(&self, now: u64, budget: &Budget) -> f64 {
        if now <= self.at || self.value == 0.0 {
            return self.value;
        }
        self.value * 0.5f64.powf((now - self.at) as f64 / budget.half_life)
    }

    /// Counts one call at tick `now`.
    pub(crate) fn count(&mut self, now: u64, budget: &Budget) {
        self.value = self.at(now, budget) + 1.0;
        self.at = now;
    }
}

/// The queues holding warm instances, kept by the background thread (the only one that
/// fills queues, so the only one that adds holders): where an instance can be taken from
/// when the budget is spent. At most `cap` entries hold instances; entries emptied by calls
/// are dropped by the next eviction's look, and plugins dropped since by the next `add`.
#[derive(Default)]
pub(crate) struct Holders {
    queues: Vec<Weak<dyn Refill>>,
}

impl Holders {
    /// Notes that `owner`'s queue holds an instance now (once per queue).
    pub(crate) fn add(&mut self, owner: &Weak<dyn Refill>) {
        // A plugin that was unloaded (a reload's old generation) is let go of here too, so
        // a budget that is never spent does not keep its allocation.
        self.queues.retain(|q| q.strong_count() > 0);
        if !self.queues.iter().any(|q| q.ptr_eq(owner)) {
            self.queues.push(owner.clone());
        }
    }

    /// Takes one instance from the holder (other than `me`) whose last instance is worth
    /// less than `offer`, the least valued first. Returns whether one was taken; the
    /// instance is dropped here, on the background thread.
    pub(crate) fn evict_for(&mut self, me: &Weak<dyn Refill>, offer: f64, budget: &Budget) -> bool {
        if offer <= 0.0 {
            return false;
        }
        let now = budget.now();
        let mut least: Option<(f64, std::sync::Arc<dyn Refill>)> = None;
        self.queues.retain(|weak| {
            let Some(plugin) = weak.upgrade() else { return false };
            let (demand, held) = plugin.queue().demand(now);
            if held == 0 {
                return false;
            }
            if !weak.ptr_eq(me) {
                let worth = demand / held as f64;
                if least.as_ref().is_none_or(|(w, _)| worth < *w) {
                    least = Some((worth, plugin));
                }
            }
            true
        });
        match least {
            Some((worth, victim)) if worth < offer => {
                let evicted = victim.queue().evict();
                if evicted {
                    metrics::counter!(crate::telemetry::WARM_MOVED).increment(1);
                }
                evicted
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_halves_every_half_life() {
        let budget = Budget::new(4, Duration::from_millis(10));
        let mut d = Demand::default();
        for _ in 0..8 {
            d.count(0, &budget);
        }
        assert_eq!(d.at(0, &budget), 8.0);
        // 10 s of 10 ms ticks.
        assert!((d.at(1000, &budget) - 4.0).abs() < 1e-9, "{}", d.at(1000, &budget));
        assert!((d.at(2000, &budget) - 2.0).abs() < 1e-9);
        // A call later adds to what is left.
        d.count(1000, &budget);
        assert!((d.at(1000, &budget) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn the_budget_is_never_overdrawn() {
        let budget = Budget::new(2, Duration::from_millis(10));
        assert!(budget.reserve() && budget.reserve());
        assert!(!budget.reserve(), "a third unit of a budget of 2");
        budget.release(1);
        assert!(budget.reserve());
        assert!(!budget.reserve());
    }
}
