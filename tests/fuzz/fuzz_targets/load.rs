//! Arbitrary bytes as a plugin: a component, a legacy core module, or a typed load error.
//! Loading never runs guest code except the plugin's own `list-*` calls, which run under
//! the default limits like any call.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use plinth::{Runtime, RuntimeConfig};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::with_config(RuntimeConfig { cache_dir: None, ..RuntimeConfig::default() }).expect("runtime"))
}

fuzz_target!(|bytes: &[u8]| {
    let _ = runtime().load("fuzz", bytes);
});
