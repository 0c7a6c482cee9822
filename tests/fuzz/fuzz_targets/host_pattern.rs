//! HTTP grant patterns, and matching any host against them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use plinth::HostPattern;

fuzz_target!(|input: (&str, &str, Option<u16>)| {
    let (pattern, host, port) = input;
    if let Ok(p) = HostPattern::parse(pattern) {
        assert_eq!(HostPattern::parse(&p.to_string()).expect("what we write parses"), p);
        let _ = p.allows("https", host, port);
    }
});
