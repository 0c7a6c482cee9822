//! `--memory`-style sizes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = plinth::parse_size(text);
});
