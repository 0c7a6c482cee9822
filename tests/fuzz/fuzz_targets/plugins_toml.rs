//! `plugins.toml`, the operator's desired state.
#![no_main]
use libfuzzer_sys::fuzz_target;
use plinth::registry::state::Desired;

fuzz_target!(|text: &str| {
    if let Ok(d) = toml::from_str::<Desired>(text) {
        let written = toml::to_string_pretty(&d).expect("parsed state serializes");
        assert_eq!(toml::from_str::<Desired>(&written).expect("what we write parses"), d);
    }
});
