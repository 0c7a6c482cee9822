//! Sleeps that cannot outlive the call's deadline.
//!
//! Fuel and epochs only interrupt running wasm. A guest blocked in a host call would hold
//! its thread past the deadline. In a deny-all context the only blocking call is waiting on
//! a clock (`thread::sleep`, `wasi:io/poll` on a timer); granted HTTP is bounded in
//! `caps::http`. So the host's
//! `subscribe-duration` / `subscribe-instant` are replaced by versions that wake no later
//! than just after the call's deadline; the guest then resumes, and the epoch deadline traps
//! it with `DeadlineExceeded` at once.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::HostMonotonicClock;
use wasmtime_wasi::p2::{DynPollable, Pollable};

use crate::call::CallState;

/// The WASI clocks version wasmtime-wasi registers; guests importing any 0.2.x resolve to it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Slack past the deadline, so the epoch ticker has certainly passed it when the guest wakes.
const SLACK: Duration = Duration::from_millis(20);

static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The monotonic clock guests see: nanoseconds since a process-wide origin, so
/// `subscribe-instant` below can turn an instant back into a duration.
pub(crate) struct CallClock;

impl HostMonotonicClock for CallClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        ORIGIN.elapsed().as_nanos() as u64
    }
}

/// A timer pollable.
struct Sleep(tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

fn sleep(mut store: StoreContextMut<'_, CallState>, asked: Duration) -> wasmtime::Result<(Resource<DynPollable>,)> {
    let left = match store.data().deadline {
        Some(deadline) => deadline.saturating_duration_since(Instant::now()) + SLACK,
        None => asked,
    };
    let now = tokio::time::Instant::now();
    let wake = now.checked_add(asked.min(left)).unwrap_or(now + SLACK);
    let table = store.data_mut().table();
    let timer = table.push(Sleep(wake))?;
    Ok((wasmtime_wasi::p2::subscribe(table, timer)?,))
}

/// Replaces the clock subscriptions in `linker` (after WASI has been added).
pub(crate) fn bound_sleeps(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |store, (nanos,): (u64,)| sleep(store, Duration::from_nanos(nanos)))?;
    clock.func_wrap("subscribe-instant", |store, (when,): (u64,)| {
        sleep(store, Duration::from_nanos(when.saturating_sub(CallClock.now())))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
