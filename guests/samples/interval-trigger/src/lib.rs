//! Sample trigger plugin: `interval` emits one event per tick of a fixed interval (aligned to
//! the Unix epoch) that fell due since the cursor. The cursor is the time of the last
//! emitted tick, kept by the host between polls.
//!
//! Config: `{"interval_ms": 60000, "max_events": 100}`. The current time comes from the
//! clock, or from `data.now_ms` when present (deterministic tests and replays).

use plinth_guest::{Context, Error, Poll, Spec, Trigger, Value, json};

struct IntervalTrigger;

fn now_ms(ctx: &Context) -> u64 {
    if let Some(now) = ctx.data.get("now_ms").and_then(Value::as_u64) {
        return now;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Trigger for IntervalTrigger {
    fn triggers() -> Vec<Spec> {
        vec![Spec::new("interval", "Emit one event per elapsed interval since the last poll.").input(
            json!({"type": "object", "properties": {
                "interval_ms": {"type": "integer", "minimum": 1},
                "max_events": {"type": "integer", "minimum": 1}}}),
        )]
    }

    fn poll(name: &str, ctx: &Context, cursor: Option<String>) -> Result<Poll, Error> {
        if name != "interval" {
            return Err(Error::not_found(name));
        }
        let interval = ctx.config("interval_ms").and_then(Value::as_u64).unwrap_or(60_000);
        if interval == 0 {
            return Err(Error::invalid_input("config.interval_ms must be at least 1"));
        }
        let max = ctx.config("max_events").and_then(Value::as_u64).unwrap_or(100).max(1);
        let now = now_ms(ctx);
        let latest = now / interval * interval;
        let first = match cursor.as_deref() {
            // First poll: only the most recent tick, no backlog.
            None => latest,
            Some(c) => {
                let last: u64 = c.parse().map_err(|_| Error::invalid_input(format!("cursor `{c}` is not a tick time")))?;
                last.checked_add(interval).ok_or_else(|| Error::invalid_input(format!("cursor `{c}` is too large")))?
            }
        };
        let mut events = Vec::new();
        let mut t = first;
        while t <= latest && (events.len() as u64) < max {
            events.push(json!({"tick_ms": t, "seq": t / interval}));
            match t.checked_add(interval) {
                Some(next) => t = next,
                None => break,
            }
        }
        let last_emitted = events.last().and_then(|e| e["tick_ms"].as_u64());
        let next_due = last_emitted.map_or(Some(first), |l| l.checked_add(interval)).unwrap_or(u64::MAX);
        Ok(Poll { events, cursor: last_emitted.map(|t| t.to_string()), next_poll_ms: Some(next_due.saturating_sub(now)) })
    }
}

plinth_guest::export_trigger!(IntervalTrigger);
