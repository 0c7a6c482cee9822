//! Handler references (`wasm://name@1.2`), as a workflow definition gives them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use plinth::registry::{Handler, check_name};

fuzz_target!(|text: &str| {
    if let Ok(h) = Handler::parse(text) {
        assert!(check_name("name", &h.name).is_ok(), "{h:?}");
    }
});
