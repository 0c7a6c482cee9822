//! The guest-languages table (issue 6): the same text classifier in Rust, Python,
//! JavaScript and C, loaded, instantiated and called through one runtime.

use std::time::{Duration, Instant};

use plinth::{CallContext, Runtime};

use crate::measure::{Stat, measure};
use crate::*;

/// One row of the guest-languages table.
pub enum Lang {
    Measured {
        label: &'static str,
        name: &'static str,
        compile: Duration,
        cached: Duration,
        cold: Stat,
        warm: Stat,
        reused: Stat,
        fuel: u64,
    },
    Skipped {
        label: &'static str,
        reason: String,
    },
}

impl Lang {
    /// The language's name in the table.
    pub fn label(&self) -> &'static str {
        match self {
            Lang::Measured { label, .. } | Lang::Skipped { label, .. } => label,
        }
    }
}

/// Loads and calls the text classifier in each guest language through `cached` (a runtime
/// with a fresh code cache), `n` calls per path.
pub fn languages(cached: &Runtime, n: usize) -> Vec<Lang> {
    let args = args_of_size(100);
    let want: serde_json::Value = serde_json::from_str(&classify_native(&args)).expect("json");
    let skipped = std::fs::read_to_string(guest_dir().join("SKIPPED")).unwrap_or_default();
    let mut out = Vec::new();
    for (label, name) in [
        ("Rust", "text_classifier"),
        ("Python", "python_text_classifier"),
        ("JavaScript", "js_text_classifier"),
        ("C", "c_text_classifier"),
    ] {
        if !guest_dir().join(format!("{name}.wasm")).exists() {
            let reason = skipped
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
                .unwrap_or("run `cargo xtask build-guests`");
            out.push(Lang::Skipped { label, reason: reason.to_string() });
            continue;
        }
        // The Rust guest was compiled into this cache above; time a compile of our own.
        let compile = if name == "text_classifier" {
            let t = Instant::now();
            drop(load(&Runtime::new().expect("runtime"), name, 0));
            t.elapsed()
        } else {
            let t = Instant::now();
            drop(load(cached, name, 0));
            t.elapsed()
        };
        let hit = measure(5, || {}, || drop(load(cached, name, 0)));
        let cold = load(cached, name, 0);
        let warm = load(cached, name, 2);
        let got: serde_json::Value = serde_json::from_str(&plinth_call(&cold, &args)).expect("json");
        assert_eq!(got, want, "{label} answers like the native classifier");
        let fuel = cold.call_tool("classify", &CallContext::default(), &args).expect("call").fuel_used;
        let c = measure(n, || {}, || drop(plinth_call(&cold, &args)));
        let w = measure(n, || wait_full(&warm, 2), || drop(plinth_call(&warm, &args)));
        let mut r = reused(&cold);
        let ru = measure(n, || {}, || drop(r.call_tool("classify", &CallContext::default(), &args).expect("call")));
        out.push(Lang::Measured { label, name, compile, cached: hit.median, cold: c, warm: w, reused: ru, fuel });
    }
    out
}
