//! `plinth.lock` text (both format versions): a lock or a reason, never a panic; a parsed
//! lock written again parses to the same lock.
#![no_main]
use libfuzzer_sys::fuzz_target;
use plinth::registry::state::LockFile;

fuzz_target!(|text: &str| {
    if let Ok(lock) = LockFile::parse(text) {
        let written = toml::to_string_pretty(&lock).expect("a parsed lock serializes");
        assert_eq!(LockFile::parse(&written).expect("what we write parses"), lock);
    }
});
