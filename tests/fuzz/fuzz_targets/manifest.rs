//! `plinth.toml` text: parses or fails with a typed error; what parses writes back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use plinth::registry::Manifest;

fuzz_target!(|text: &str| {
    if let Ok(m) = Manifest::parse(text) {
        let written = toml::to_string(&m).expect("a parsed manifest serializes");
        assert_eq!(Manifest::parse(&written).expect("what we write parses"), m);
    }
});
